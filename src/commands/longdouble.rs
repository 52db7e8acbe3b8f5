//! The x87 80-bit `long double` arithmetic of redis's INCRBYFLOAT and HINCRBYFLOAT, in software
//! and exact: operands are read as glibc's `strtold` reads them (redis `string2ld`: decimal or
//! hexadecimal, `inf`/`infinity`, no NaN, no blanks), the sum is rounded to a 64-bit mantissa
//! (round half to even, as the FPU does), and the result is printed as `%.17Lf` with redis's
//! trimming of trailing zeros (`ld2string(..., LD_STR_HUMAN)`).
//!
//! Values are `mant × 2^exp` with `mant < 2^64`; big integers carry the exact intermediate
//! values (a long double spans 2^-16445 .. 2^16384, so they stay below ~35,000 bits).

use std::cmp::Ordering;

/// Longest text `string2ld` accepts (`MAX_LONG_DOUBLE_CHARS`, buffer including the NUL).
pub const MAX_CHARS: usize = 5 * 1024;

/// Smallest exponent of a long double's lowest mantissa bit (denormal range).
const MIN_EXP: i64 = -16445;
/// A finite value is below 2^MAX_BITS.
const MAX_BITS: i64 = 16384;

// ---------------------------------------------------------------------------------------------
// Unsigned big integers: little-endian u32 limbs, no trailing zero limb.

#[derive(Debug, Clone, PartialEq, Eq)]
struct Big(Vec<u32>);

impl Big {
    fn from_u64(v: u64) -> Big {
        let mut b = Big(vec![v as u32, (v >> 32) as u32]);
        b.trim();
        b
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    fn bits(&self) -> i64 {
        match self.0.last() {
            None => 0,
            Some(&top) => (self.0.len() as i64 - 1) * 32 + (32 - i64::from(top.leading_zeros())),
        }
    }

    fn bit(&self, i: i64) -> bool {
        if i < 0 {
            return false;
        }
        let (limb, off) = ((i / 32) as usize, i % 32);
        self.0.get(limb).is_some_and(|l| (l >> off) & 1 == 1)
    }

    /// Whether any of the bits below `n` is set.
    fn any_below(&self, n: i64) -> bool {
        if n <= 0 {
            return false;
        }
        let full = (n / 32) as usize;
        if self.0.iter().take(full).any(|&l| l != 0) {
            return true;
        }
        let rest = n % 32;
        rest > 0
            && self
                .0
                .get(full)
                .is_some_and(|&l| l & ((1u32 << rest) - 1) != 0)
    }

    fn mul_small(&mut self, m: u32) {
        let mut carry = 0u64;
        for l in self.0.iter_mut() {
            let v = u64::from(*l) * u64::from(m) + carry;
            *l = v as u32;
            carry = v >> 32;
        }
        if carry > 0 {
            self.0.push(carry as u32);
        }
        self.trim();
    }

    fn add_small(&mut self, a: u32) {
        let mut carry = u64::from(a);
        for l in self.0.iter_mut() {
            if carry == 0 {
                break;
            }
            let v = u64::from(*l) + carry;
            *l = v as u32;
            carry = v >> 32;
        }
        if carry > 0 {
            self.0.push(carry as u32);
        }
    }

    fn pow10(k: u32) -> Big {
        let mut b = Big::from_u64(1);
        let mut k = k;
        while k >= 9 {
            b.mul_small(1_000_000_000);
            k -= 9;
        }
        b.mul_small(10u32.pow(k));
        b
    }

    fn shl(&self, n: i64) -> Big {
        if self.is_zero() || n <= 0 {
            return self.clone();
        }
        let (limbs, off) = ((n / 32) as usize, (n % 32) as u32);
        let mut out = vec![0u32; limbs];
        if off == 0 {
            out.extend_from_slice(&self.0);
        } else {
            let mut carry = 0u32;
            for &l in &self.0 {
                out.push((l << off) | carry);
                carry = l >> (32 - off);
            }
            out.push(carry);
        }
        let mut b = Big(out);
        b.trim();
        b
    }

    fn shr(&self, n: i64) -> Big {
        if n <= 0 {
            return self.clone();
        }
        let (limbs, off) = ((n / 32) as usize, (n % 32) as u32);
        if limbs >= self.0.len() {
            return Big(Vec::new());
        }
        let src = &self.0[limbs..];
        let mut out = Vec::with_capacity(src.len());
        for (i, &l) in src.iter().enumerate() {
            let hi = if off == 0 {
                0
            } else {
                src.get(i + 1).map_or(0, |&h| h << (32 - off))
            };
            out.push((l >> off) | hi);
        }
        let mut b = Big(out);
        b.trim();
        b
    }

    fn cmp(&self, o: &Big) -> Ordering {
        self.0
            .len()
            .cmp(&o.0.len())
            .then_with(|| self.0.iter().rev().cmp(o.0.iter().rev()))
    }

    /// `self - o`, with `self >= o`.
    fn sub(&self, o: &Big) -> Big {
        let mut out = Vec::with_capacity(self.0.len());
        let mut borrow = 0i64;
        for (i, &l) in self.0.iter().enumerate() {
            let v = i64::from(l) - i64::from(o.0.get(i).copied().unwrap_or(0)) - borrow;
            if v < 0 {
                out.push((v + (1i64 << 32)) as u32);
                borrow = 1;
            } else {
                out.push(v as u32);
                borrow = 0;
            }
        }
        let mut b = Big(out);
        b.trim();
        b
    }

    fn add(&self, o: &Big) -> Big {
        let n = self.0.len().max(o.0.len());
        let mut out = Vec::with_capacity(n + 1);
        let mut carry = 0u64;
        for i in 0..n {
            let v = u64::from(self.0.get(i).copied().unwrap_or(0))
                + u64::from(o.0.get(i).copied().unwrap_or(0))
                + carry;
            out.push(v as u32);
            carry = v >> 32;
        }
        if carry > 0 {
            out.push(carry as u32);
        }
        let mut b = Big(out);
        b.trim();
        b
    }

    /// (quotient, remainder is non-zero) of `self / d`, for a quotient of a few dozen bits.
    fn div_sticky(&self, d: &Big) -> (Big, bool) {
        let mut rem = self.clone();
        let mut q = Big(Vec::new());
        let mut shift = self.bits() - d.bits();
        if shift < 0 {
            return (q, !rem.is_zero());
        }
        let mut ds = d.shl(shift);
        while shift >= 0 {
            q = q.shl(1);
            if rem.cmp(&ds) != Ordering::Less {
                rem = rem.sub(&ds);
                q.add_small(1);
            }
            ds = ds.shr(1);
            shift -= 1;
        }
        (q, !rem.is_zero())
    }

    /// Divides in place by `d`, returning the remainder.
    fn div_small(&mut self, d: u32) -> u32 {
        let mut rem = 0u64;
        for l in self.0.iter_mut().rev() {
            let cur = (rem << 32) | u64::from(*l);
            *l = (cur / u64::from(d)) as u32;
            rem = cur % u64::from(d);
        }
        self.trim();
        rem as u32
    }

    fn to_decimal(&self) -> String {
        if self.is_zero() {
            return "0".to_string();
        }
        let mut n = self.clone();
        let mut chunks = Vec::new();
        while !n.is_zero() {
            chunks.push(n.div_small(1_000_000_000));
        }
        let mut s = String::with_capacity(chunks.len() * 9);
        for (i, c) in chunks.iter().rev().enumerate() {
            if i == 0 {
                s.push_str(&c.to_string());
            } else {
                s.push_str(&format!("{c:09}"));
            }
        }
        s
    }
}

// ---------------------------------------------------------------------------------------------
// Long doubles

/// A long double: finite `±mant × 2^exp`, or an infinity. (NaN never survives parsing; a sum
/// that would be NaN is reported as `None` by `add`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ld {
    Finite { neg: bool, mant: u64, exp: i64 },
    Inf { neg: bool },
}

impl Ld {
    pub fn is_finite(self) -> bool {
        matches!(self, Ld::Finite { .. })
    }

    fn zero(neg: bool) -> Ld {
        Ld::Finite {
            neg,
            mant: 0,
            exp: 0,
        }
    }
}

/// Rounds `±n × 2^exp` (plus a sticky bit below it) to a long double, half to even; gives an
/// infinity past the largest finite value.
fn round(neg: bool, n: &Big, exp: i64, sticky: bool) -> Ld {
    if n.is_zero() {
        return Ld::zero(neg);
    }
    let len = n.bits();
    // Exponent of the lowest kept bit: 64 significant bits, but never below the denormal floor.
    let target = (exp + len - 64).max(MIN_EXP);
    let shift = target - exp;
    let (mant, e) = if shift <= 0 {
        // Exact: fits in 64 bits (shift < 0 only when n is short).
        (u64_of(n), exp)
    } else {
        let mut m = n.shr(shift);
        let half = n.bit(shift - 1);
        let below = sticky || n.any_below(shift - 1);
        if half && (below || m.bit(0)) {
            m.add_small(1);
        }
        let mut e = target;
        if m.bits() > 64 {
            m = m.shr(1);
            e += 1;
        }
        (u64_of(&m), e)
    };
    if mant == 0 {
        return Ld::zero(neg);
    }
    let top = e + (64 - i64::from(mant.leading_zeros()));
    if top > MAX_BITS {
        return Ld::Inf { neg };
    }
    Ld::Finite { neg, mant, exp: e }
}

fn u64_of(n: &Big) -> u64 {
    u64::from(n.0.first().copied().unwrap_or(0))
        | (u64::from(n.0.get(1).copied().unwrap_or(0)) << 32)
}

/// Reads a number as redis `string2ld` (glibc `strtold` over the whole text, leading blanks
/// refused, NaN refused, and overflow or underflow to zero refused). None if invalid.
pub fn parse(s: &[u8]) -> Option<Ld> {
    if s.is_empty() || s.len() >= MAX_CHARS || s[0].is_ascii_whitespace() {
        return None;
    }
    let (neg, body) = match s[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    if lower == b"inf" || lower == b"infinity" {
        return Some(Ld::Inf { neg });
    }
    if lower.len() > 2 && lower.starts_with(b"0x") {
        return parse_hex(neg, &lower[2..]);
    }
    parse_decimal(neg, &lower)
}

/// Splits `digits[.digits]` off the front; returns (all digits, digits after the point, rest).
fn mantissa_digits(b: &[u8], hex: bool) -> Option<(Vec<u8>, usize, &[u8])> {
    let is_digit = |c: u8| {
        if hex {
            c.is_ascii_hexdigit()
        } else {
            c.is_ascii_digit()
        }
    };
    let mut digits = Vec::new();
    let mut frac = 0;
    let mut i = 0;
    while i < b.len() && is_digit(b[i]) {
        digits.push(b[i]);
        i += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && is_digit(b[i]) {
            digits.push(b[i]);
            frac += 1;
            i += 1;
        }
    }
    if digits.is_empty() {
        return None;
    }
    Some((digits, frac, &b[i..]))
}

/// An exponent `[+-]digits` that must end the text; saturates far beyond any long double.
fn exponent(b: &[u8]) -> Option<i64> {
    let (neg, d) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    if d.is_empty() || !d.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: i64 = 0;
    for &c in d {
        v = (v * 10 + i64::from(c - b'0')).min(1_000_000_000);
    }
    Some(if neg { -v } else { v })
}

fn parse_decimal(neg: bool, b: &[u8]) -> Option<Ld> {
    let (digits, frac, rest) = mantissa_digits(b, false)?;
    let e10 = match rest {
        [] => 0,
        [b'e', tail @ ..] => exponent(tail)?,
        _ => return None,
    };
    let first = digits.iter().position(|&c| c != b'0');
    let Some(first) = first else {
        return Some(Ld::zero(neg));
    };
    let digits = &digits[first..];
    let mut n = Big(Vec::new());
    for chunk in digits.chunks(9) {
        let mut v = 0u32;
        for &c in chunk {
            v = v * 10 + u32::from(c - b'0');
        }
        n.mul_small(10u32.pow(chunk.len() as u32));
        n.add_small(v);
    }
    // value = n × 10^e
    let e = e10 - frac as i64;
    let magnitude = e + digits.len() as i64; // value < 10^magnitude
    if magnitude > 4934 {
        return None; // overflow: strtold gives HUGE_VALL with ERANGE
    }
    if magnitude < -4952 {
        return None; // underflow to zero with ERANGE
    }
    let v = if e >= 0 {
        let mut big = n;
        let p = Big::pow10(e as u32);
        big = mul(&big, &p);
        round(neg, &big, 0, false)
    } else {
        let d = Big::pow10((-e) as u32);
        // Enough quotient bits for 64 significant bits plus rounding.
        let shift = (d.bits() - n.bits() + 66).max(0);
        let (q, sticky) = n.shl(shift).div_sticky(&d);
        round(neg, &q, -shift, sticky)
    };
    match v {
        Ld::Inf { .. } => None,
        Ld::Finite { mant: 0, .. } => None,
        v => Some(v),
    }
}

fn parse_hex(neg: bool, b: &[u8]) -> Option<Ld> {
    let (digits, frac, rest) = mantissa_digits(b, true)?;
    let e2 = match rest {
        [] => 0,
        [b'p', tail @ ..] => exponent(tail)?,
        _ => return None,
    };
    let mut n = Big(Vec::new());
    let mut count = 0;
    for &c in digits.iter().skip_while(|&&c| c == b'0') {
        n.mul_small(16);
        n.add_small(u32::from((c as char).to_digit(16).unwrap_or(0) as u8));
        count += 1;
        if count > MAX_CHARS {
            return None;
        }
    }
    if n.is_zero() {
        return Some(Ld::zero(neg));
    }
    let exp = e2 - 4 * frac as i64;
    if exp + n.bits() > MAX_BITS + 64 || exp + n.bits() < MIN_EXP - 64 {
        return None;
    }
    match round(neg, &n, exp, false) {
        Ld::Inf { .. } | Ld::Finite { mant: 0, .. } => None,
        v => Some(v),
    }
}

fn mul(a: &Big, b: &Big) -> Big {
    if a.is_zero() || b.is_zero() {
        return Big(Vec::new());
    }
    let mut out = vec![0u32; a.0.len() + b.0.len()];
    for (i, &x) in a.0.iter().enumerate() {
        let mut carry = 0u64;
        for (j, &y) in b.0.iter().enumerate() {
            let v = u64::from(out[i + j]) + u64::from(x) * u64::from(y) + carry;
            out[i + j] = v as u32;
            carry = v >> 32;
        }
        let mut k = i + b.0.len();
        while carry > 0 {
            let v = u64::from(out[k]) + carry;
            out[k] = v as u32;
            carry = v >> 32;
            k += 1;
        }
    }
    let mut r = Big(out);
    r.trim();
    r
}

/// `a + b` rounded as the FPU rounds it; None for NaN (opposite infinities).
pub fn add(a: Ld, b: Ld) -> Option<Ld> {
    match (a, b) {
        (Ld::Inf { neg: x }, Ld::Inf { neg: y }) if x != y => None,
        (Ld::Inf { neg }, _) | (_, Ld::Inf { neg }) => Some(Ld::Inf { neg }),
        (
            Ld::Finite {
                neg: na,
                mant: ma,
                exp: ea,
            },
            Ld::Finite {
                neg: nb,
                mant: mb,
                exp: eb,
            },
        ) => {
            if ma == 0 && mb == 0 {
                // +0 + -0 = +0 in round-to-nearest; -0 + -0 = -0.
                return Some(Ld::zero(na && nb));
            }
            if ma == 0 {
                return Some(b);
            }
            if mb == 0 {
                return Some(a);
            }
            let e = ea.min(eb);
            let x = Big::from_u64(ma).shl(ea - e);
            let y = Big::from_u64(mb).shl(eb - e);
            if na == nb {
                return Some(round(na, &x.add(&y), e, false));
            }
            Some(match x.cmp(&y) {
                Ordering::Equal => Ld::zero(false),
                Ordering::Greater => round(na, &x.sub(&y), e, false),
                Ordering::Less => round(nb, &y.sub(&x), e, false),
            })
        }
    }
}

/// `%.17Lf` of a finite value (glibc: exact, round half to even).
pub fn format_fixed17(v: Ld) -> String {
    let (neg, mant, exp) = match v {
        Ld::Finite { neg, mant, exp } => (neg, mant, exp),
        Ld::Inf { neg } => return if neg { "-inf".into() } else { "inf".into() },
    };
    const SCALE: u32 = 17;
    let mut n = Big::from_u64(mant);
    // q = round(mant × 2^exp × 10^17)
    n = mul(&n, &Big::pow10(SCALE));
    let q = if exp >= 0 {
        n.shl(exp)
    } else {
        let s = -exp;
        let mut q = n.shr(s);
        let half = n.bit(s - 1);
        if half && (n.any_below(s - 1) || q.bit(0)) {
            q.add_small(1);
        }
        q
    };
    let digits = q.to_decimal();
    let (int, frac) = if digits.len() > SCALE as usize {
        digits.split_at(digits.len() - SCALE as usize)
    } else {
        ("", digits.as_str())
    };
    let mut out = String::with_capacity(digits.len() + 3);
    if neg {
        out.push('-');
    }
    out.push_str(if int.is_empty() { "0" } else { int });
    out.push('.');
    for _ in frac.len()..SCALE as usize {
        out.push('0');
    }
    out.push_str(frac);
    out
}

/// redis `ld2string(..., LD_STR_HUMAN)`: `%.17Lf` without trailing zeros (nor a trailing
/// point), and `-0` printed as `0`.
pub fn to_human(v: Ld) -> String {
    let mut s = format_fixed17(v);
    if s.contains('.') {
        let trimmed = s.trim_end_matches('0').trim_end_matches('.').len();
        s.truncate(trimmed);
    }
    if s == "-0" {
        s = "0".to_string();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(s: &str) -> String {
        format_fixed17(parse(s.as_bytes()).unwrap())
    }

    fn sum(a: &str, b: &str) -> String {
        to_human(add(parse(a.as_bytes()).unwrap(), parse(b.as_bytes()).unwrap()).unwrap())
    }

    #[test]
    fn parse_and_print_like_glibc() {
        // Expected texts are bash's `printf '%.17Lf'` (glibc strtold + printf, x87 long double).
        assert_eq!(fmt("0.1"), "0.10000000000000000");
        assert_eq!(fmt("100.03"), "100.03000000000000000");
        assert_eq!(fmt("0x10"), "16.00000000000000000");
        assert_eq!(fmt("2.5e-3"), "0.00250000000000000");
        assert_eq!(fmt("-0"), "-0.00000000000000000");
        assert_eq!(fmt("1e-20"), "0.00000000000000000");
        assert_eq!(
            fmt("1e100"),
            "9999999999999999999669353532207342619498699019828496079271391541752018669482644324418977840117055488.00000000000000000"
        );
        assert_eq!(fmt("0x1.8p1"), "3.00000000000000000");
        assert_eq!(fmt(".5"), "0.50000000000000000");
        assert_eq!(fmt("5."), "5.00000000000000000");
    }

    #[test]
    fn refuses_what_string2ld_refuses() {
        for bad in [
            "",
            " 1",
            "1 ",
            "abc",
            "nan",
            "-nan",
            "1e",
            "1e+",
            "0x",
            "1..2",
            "e5",
            ".",
            "1e5000",
            "1e-5000",
            "0x1p99999",
            "1_0",
        ] {
            assert!(parse(bad.as_bytes()).is_none(), "{bad:?} accepted");
        }
        assert_eq!(parse(b"inf"), Some(Ld::Inf { neg: false }));
        assert_eq!(parse(b"-Infinity"), Some(Ld::Inf { neg: true }));
        assert!(parse(b"0e999999999999").is_some());
        assert!(parse(b"1e4932").is_some());
    }

    #[test]
    fn sums_like_redis() {
        // Expected texts are redis-server 7.0.15's INCRBYFLOAT/HINCRBYFLOAT replies.
        assert_eq!(sum("100", "3.0e-2"), "100.03");
        assert_eq!(sum("1000", "2.5e-3"), "1000.0025");
        assert_eq!(sum("10.50", "0.1"), "10.6");
        assert_eq!(sum("0.1", "0.2"), "0.3");
        assert_eq!(sum("9223372036854775807", "0x10"), "9223372036854775823");
        assert_eq!(sum("10000000003", "-1e10"), "3");
        assert_eq!(sum("3", "-3"), "0");
        assert_eq!(sum("-0", "-0"), "0");
        assert_eq!(sum("5.0e3", "2.0e3"), "7000");
        assert_eq!(sum("1000", "3.0e-2"), "1000.03000000000000003");
        assert_eq!(
            sum("10000000003", "0.0000001"),
            "10000000003.00000009965151548"
        );
        assert_eq!(
            sum("10000000003.00000009965151548", "-1e10"),
            "3.00000009965151548"
        );
        assert_eq!(
            sum("3.00000009965151548", "1.23456789012345678"),
            "4.23456798977497226"
        );
    }

    #[test]
    fn overflow_and_nan() {
        let big = parse(b"1e4932").unwrap();
        assert!(!add(big, big).unwrap().is_finite());
        assert!(add(Ld::Inf { neg: false }, Ld::Inf { neg: true }).is_none());
    }
}
