//! INCRBYFLOAT / HINCRBYFLOAT arithmetic. Redis adds in `long double` and prints with `%.17Lf`
//! (trailing zeros removed), so `0.1 + 0.2` reads back as `0.3`. Plain decimal operands are
//! added exactly here and rounded to 17 decimals, which is what that yields for them; operands
//! with exponents or more digits fall back to `f64`.

use super::errors::{self, CmdError};

/// Decimal number: value = mantissa / 10^scale.
#[derive(Debug, Clone, Copy)]
struct Decimal {
    mantissa: i128,
    scale: u32,
}

const MAX_SCALE: u32 = 17;

fn parse_decimal(s: &[u8]) -> Option<Decimal> {
    let (neg, body) = match s.first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let mut parts = body.splitn(2, |&c| c == b'.');
    let int = parts.next()?;
    let frac = parts.next().unwrap_or(b"");
    if (int.is_empty() && frac.is_empty()) || int.len() > 19 || frac.len() > MAX_SCALE as usize {
        return None;
    }
    if !int.iter().chain(frac.iter()).all(u8::is_ascii_digit) {
        return None;
    }
    let mut m: i128 = 0;
    for &c in int.iter().chain(frac.iter()) {
        m = m * 10 + i128::from(c - b'0');
    }
    Some(Decimal {
        mantissa: if neg { -m } else { m },
        scale: frac.len() as u32,
    })
}

fn format_decimal(d: Decimal) -> String {
    let neg = d.mantissa < 0;
    let digits = d.mantissa.unsigned_abs().to_string();
    let scale = d.scale as usize;
    let (int, frac) = if digits.len() > scale {
        (
            digits[..digits.len() - scale].to_string(),
            digits[digits.len() - scale..].to_string(),
        )
    } else {
        (
            "0".to_string(),
            format!("{}{}", "0".repeat(scale - digits.len()), digits),
        )
    };
    let frac = frac.trim_end_matches('0');
    let mut out = String::new();
    if neg && (int != "0" || !frac.is_empty()) {
        out.push('-');
    }
    out.push_str(&int);
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// Parses a float operand as redis `getLongDoubleFromObject` accepts it.
fn parse_operand(s: &[u8]) -> Result<f64, CmdError> {
    crate::util::parse_f64(s).ok_or(errors::NOT_FLOAT)
}

/// `current + incr` as redis prints it; errors as redis words them.
pub fn add(current: &[u8], incr: &[u8]) -> Result<String, CmdError> {
    let a = parse_operand(current)?;
    let b = parse_operand(incr)?;
    let sum = a + b;
    if sum.is_nan() || sum.is_infinite() {
        return Err(CmdError::err("increment would produce NaN or Infinity"));
    }
    if let (Some(x), Some(y)) = (parse_decimal(current), parse_decimal(incr)) {
        let scale = x.scale.max(y.scale);
        let xm = x.mantissa * 10i128.pow(scale - x.scale);
        let ym = y.mantissa * 10i128.pow(scale - y.scale);
        if let Some(m) = xm.checked_add(ym) {
            // Beyond ~19 significant digits a long double no longer holds the exact sum.
            if m.unsigned_abs() < 10u128.pow(19) {
                return Ok(format_decimal(Decimal { mantissa: m, scale }));
            }
        }
    }
    let text = format!("{sum:.17}");
    let trimmed = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    Ok(if trimmed == "-0" {
        "0".to_string()
    } else {
        trimmed.to_string()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn long_double_like_results() {
        assert_eq!(super::add(b"10.50", b"0.1").unwrap(), "10.6");
        assert_eq!(super::add(b"0.1", b"0.2").unwrap(), "0.3");
        assert_eq!(super::add(b"5.0e3", b"2.0e3").unwrap(), "7000");
        assert_eq!(super::add(b"3", b"-3").unwrap(), "0");
        assert!(super::add(b"abc", b"1").is_err());
    }
}
