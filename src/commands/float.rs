//! INCRBYFLOAT / HINCRBYFLOAT arithmetic. Redis parses with `strtold`, adds in `long double`
//! and prints with `%.17Lf` (trailing zeros removed), so results such as `1000.03000000000000003`
//! show the extended precision. Rust has no long double; `native/ldouble.c` does exactly that.

use super::errors::{self, CmdError};

extern "C" {
    fn tandem_ld_add(a: *const u8, alen: usize, b: *const u8, blen: usize, out: *mut u8, outlen: usize) -> std::ffi::c_long;
}

/// Why an addition failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddError {
    /// The current value is not a float.
    Current,
    /// The increment is not a float.
    Increment,
    /// NaN or infinity.
    NotFinite,
}

/// `current + incr` as redis prints it.
pub fn add_raw(current: &[u8], incr: &[u8]) -> Result<String, AddError> {
    let mut out = vec![0u8; 6000];
    // SAFETY: both inputs are valid for their lengths (the C side copies at most len bytes and
    // rejects lengths ≥ 5 KiB), and `out` is valid for `out.len()` bytes, which snprintf bounds.
    let n = unsafe {
        tandem_ld_add(current.as_ptr(), current.len(), incr.as_ptr(), incr.len(), out.as_mut_ptr(), out.len())
    };
    match n {
        -1 => Err(AddError::Current),
        -2 => Err(AddError::Increment),
        n if n < 0 => Err(AddError::NotFinite),
        n => {
            out.truncate(n as usize);
            Ok(String::from_utf8_lossy(&out).into_owned())
        }
    }
}

/// INCRBYFLOAT's arithmetic with its error texts.
pub fn add(current: &[u8], incr: &[u8]) -> Result<String, CmdError> {
    add_raw(current, incr).map_err(|e| match e {
        AddError::Current | AddError::Increment => errors::NOT_FLOAT,
        AddError::NotFinite => CmdError::err("increment would produce NaN or Infinity"),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn long_double_results_as_redis_prints_them() {
        assert_eq!(super::add(b"10.50", b"0.1").unwrap(), "10.6");
        assert_eq!(super::add(b"0.1", b"0.2").unwrap(), "0.3");
        assert_eq!(super::add(b"5.0e3", b"2.0e3").unwrap(), "7000");
        assert_eq!(super::add(b"1000", b"3.0e-2").unwrap(), "1000.03000000000000003");
        assert_eq!(super::add(b"3", b"-3").unwrap(), "0");
        assert!(super::add(b"abc", b"1").is_err());
        assert!(super::add(b"1", b" 1").is_err());
        assert!(super::add(b"1e4932", b"1e4932").is_err());
    }
}
