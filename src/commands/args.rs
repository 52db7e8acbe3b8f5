//! `Args`: a cursor over a command's arguments (after the name) that yields Redis's exact
//! errors for bad numbers and missing arguments.

use bytes::Bytes;

use super::errors::{self, CmdError};

pub struct Args<'a> {
    argv: &'a [Bytes],
    pos: usize,
}

impl<'a> Args<'a> {
    /// A cursor positioned after the command name.
    pub fn new(argv: &'a [Bytes]) -> Args<'a> {
        Args { argv, pos: 1 }
    }

    /// A cursor positioned at `pos`.
    pub fn at(argv: &'a [Bytes], pos: usize) -> Args<'a> {
        Args { argv, pos }
    }

    pub fn remaining(&self) -> usize {
        self.argv.len().saturating_sub(self.pos)
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    /// The next argument, or a syntax error.
    pub fn bytes(&mut self) -> Result<Bytes, CmdError> {
        let b = self.argv.get(self.pos).cloned().ok_or(errors::SYNTAX)?;
        self.pos += 1;
        Ok(b)
    }

    /// The next argument without consuming it.
    pub fn peek(&self) -> Option<&'a Bytes> {
        self.argv.get(self.pos)
    }

    /// The rest of the arguments.
    pub fn rest(&mut self) -> &'a [Bytes] {
        let r = &self.argv[self.pos.min(self.argv.len())..];
        self.pos = self.argv.len();
        r
    }

    pub fn int(&mut self) -> Result<i64, CmdError> {
        let b = self.bytes()?;
        parse_int(&b)
    }

    pub fn float(&mut self) -> Result<f64, CmdError> {
        let b = self.bytes()?;
        parse_float(&b)
    }

    /// Consumes the next argument if it equals `word` (case-insensitive).
    pub fn eat(&mut self, word: &str) -> bool {
        match self.peek() {
            Some(b) if b.eq_ignore_ascii_case(word.as_bytes()) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    /// The next argument uppercased, for keyword matching.
    pub fn keyword(&mut self) -> Result<String, CmdError> {
        let b = self.bytes()?;
        Ok(String::from_utf8_lossy(&b).to_ascii_uppercase())
    }

    /// Fails with a syntax error if arguments remain.
    pub fn finish(&self) -> Result<(), CmdError> {
        if self.remaining() > 0 {
            Err(errors::SYNTAX)
        } else {
            Ok(())
        }
    }
}

/// An integer argument (`ERR value is not an integer or out of range`).
pub fn parse_int(b: &[u8]) -> Result<i64, CmdError> {
    crate::util::parse_i64(b).ok_or(errors::NOT_INTEGER)
}

/// A float argument (`ERR value is not a valid float`).
pub fn parse_float(b: &[u8]) -> Result<f64, CmdError> {
    crate::util::parse_f64(b).ok_or(errors::NOT_FLOAT)
}

/// Whether `b` equals `word` ignoring ASCII case.
pub fn is(b: &[u8], word: &str) -> bool {
    b.eq_ignore_ascii_case(word.as_bytes())
}

/// A SCAN-family cursor as redis's `parseScanCursorOrReply` reads it with `strtoul`: the text
/// ends at a NUL byte (so "" is 0), no leading blank, an optional sign (a minus wraps modulo
/// 2^64), decimal digits and nothing else, no overflow. `None` is `ERR invalid cursor`.
pub fn scan_cursor(raw: &[u8]) -> Option<u64> {
    let s = &raw[..memchr::memchr(0, raw).unwrap_or(raw.len())];
    if s.is_empty() {
        return Some(0);
    }
    signed_u64_wrapping(s)
}

/// C's `strtoull` body: an optional sign, decimal digits and nothing else, no overflow; a minus
/// wraps modulo 2^64.
pub fn signed_u64_wrapping(s: &[u8]) -> Option<u64> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// `scan_cursor` with its error reply.
pub fn parse_scan_cursor(raw: &[u8]) -> Result<u64, CmdError> {
    scan_cursor(raw).ok_or_else(|| CmdError::err("invalid cursor"))
}

#[cfg(test)]
mod tests {
    use super::scan_cursor;

    #[test]
    fn cursors_follow_strtoul() {
        assert_eq!(scan_cursor(b"0"), Some(0));
        assert_eq!(scan_cursor(b""), Some(0));
        assert_eq!(scan_cursor(b"+5"), Some(5));
        assert_eq!(scan_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(scan_cursor(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(scan_cursor(b"18446744073709551616"), None);
        assert_eq!(scan_cursor(b" 1"), None);
        assert_eq!(scan_cursor(b"12\0zz"), Some(12));
    }
}
