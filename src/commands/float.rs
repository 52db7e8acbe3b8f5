//! INCRBYFLOAT / HINCRBYFLOAT arithmetic. Redis parses with `strtold`, adds in x87 `long
//! double` and prints with `%.17Lf` (trailing zeros removed), so results such as
//! `1000.03000000000000003` show the extended precision; `longdouble` reproduces that exactly.

use super::errors::{self, CmdError};
use super::longdouble;

/// INCRBYFLOAT's arithmetic with its error texts: `current + incr` as redis prints it.
pub fn add(current: &[u8], incr: &[u8]) -> Result<String, CmdError> {
    let a = longdouble::parse(current).ok_or(errors::NOT_FLOAT)?;
    let b = longdouble::parse(incr).ok_or(errors::NOT_FLOAT)?;
    let sum = longdouble::add(a, b)
        .filter(|v| v.is_finite())
        .ok_or_else(|| CmdError::err("increment would produce NaN or Infinity"))?;
    Ok(longdouble::to_human(sum))
}

#[cfg(test)]
mod tests {
    #[test]
    fn long_double_results_as_redis_prints_them() {
        assert_eq!(super::add(b"10.50", b"0.1").unwrap(), "10.6");
        assert_eq!(super::add(b"0.1", b"0.2").unwrap(), "0.3");
        assert_eq!(super::add(b"5.0e3", b"2.0e3").unwrap(), "7000");
        assert_eq!(
            super::add(b"1000", b"3.0e-2").unwrap(),
            "1000.03000000000000003"
        );
        assert_eq!(super::add(b"3", b"-3").unwrap(), "0");
        assert!(super::add(b"abc", b"1").is_err());
        assert!(super::add(b"1", b" 1").is_err());
        assert!(super::add(b"1e4932", b"1e4932").is_err());
    }
}
