//! Zipmap parsing (redis 7.0 `zipmap.c`), RDB type 9: hashes saved by Redis 2.4 and older.
//!
//! ```text
//! <zmlen: pair count, 254 = count unknown> { <len> field <len> <free u8> value <free bytes> } 0xFF
//! <len>: one byte 0..=253, or 254 followed by a u32 LE
//! ```
//! Parsing is `zipmapValidateIntegrity(deep=1)`: every pair inside the blob, at least one
//! pair, the count matched unless it is 254.

use super::listpack::{capped, err, offset, PackError};

const BIGLEN: u8 = 254;
const END: u8 = 0xFF;

/// A (field, value) pair, borrowed from the blob.
pub type Pair<'a> = (&'a [u8], &'a [u8]);

/// Parses and fully validates a zipmap, returning its pairs in order.
pub fn pairs(zm: &[u8]) -> Result<Vec<Pair<'_>>, PackError> {
    let size = zm.len();
    if size < 2 {
        return err(0, "zipmap shorter than its header");
    }
    if zm[size - 1] != END {
        return err(size - 1, "zipmap does not end with 0xFF");
    }
    // Everything must lie in [2, size - 1] (`OUT_OF_RANGE` in `zipmapValidateIntegrity`).
    let last = size - 1;
    let checked = |p: usize, len: u64, pos: usize, reason: &'static str| {
        offset(p, len)
            .filter(|&q| (2..=last).contains(&q))
            .ok_or(PackError { pos, reason })
    };
    // The length at `p`, known to be in range with its encoding: one byte, or (first byte
    // 254 or 255, as in Redis) a u32 LE after it.
    let len_at = |p: usize| -> u64 {
        if zm[p] < BIGLEN {
            u64::from(zm[p])
        } else {
            u64::from(u32::from_le_bytes([
                zm[p + 1],
                zm[p + 2],
                zm[p + 3],
                zm[p + 4],
            ]))
        }
    };
    let size_at = |p: usize| if zm[p] < BIGLEN { 1 } else { 5 };
    let mut out = Vec::with_capacity(capped(usize::from(zm[0])));
    let mut p: usize = 1;
    while zm[p] != END {
        const FIELD: &str = "zipmap field reaches past the end";
        const VALUE: &str = "zipmap value reaches past the end";
        let field_start = checked(p, size_at(p), p, FIELD)?;
        let q = checked(field_start, len_at(p), p, FIELD)?;
        let free_at = checked(q, size_at(q), q, VALUE)?;
        let value_start = free_at + 1;
        let value_end = offset(value_start, len_at(q)).ok_or(PackError {
            pos: q,
            reason: VALUE,
        })?;
        let next = checked(value_end, u64::from(zm[free_at]), q, VALUE)?;
        out.push((&zm[field_start..q], &zm[value_start..value_end]));
        p = next;
    }
    if out.is_empty() {
        return err(0, "empty zipmap");
    }
    if zm[0] != BIGLEN && usize::from(zm[0]) != out.len() {
        return err(0, "zipmap pair count does not match its pairs");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example from the top of zipmap.c: "foo" => "bar", "hello" => "world".
    const EXAMPLE: &[u8] = b"\x02\x03foo\x03\x00bar\x05hello\x05\x00world\xff";

    #[test]
    fn example_from_zipmap_c() {
        assert_eq!(
            pairs(EXAMPLE),
            Ok(vec![
                (&b"foo"[..], &b"bar"[..]),
                (&b"hello"[..], &b"world"[..])
            ])
        );
    }

    #[test]
    fn free_bytes_long_lengths_and_unknown_count() {
        let mut zm = vec![254u8];
        zm.extend_from_slice(b"\x01k\x02\x03vv\0\0\0"); // 3 free bytes after "vv"
        zm.push(254);
        zm.extend_from_slice(&300u32.to_le_bytes());
        zm.extend_from_slice(&[b'f'; 300]);
        zm.extend_from_slice(b"\x00\x00"); // empty value, no free
        zm.push(END);
        let got = pairs(&zm).unwrap();
        assert_eq!(got[0], (&b"k"[..], &b"vv"[..]));
        assert_eq!(got[1], (&[b'f'; 300][..], &b""[..]));
    }

    #[test]
    fn rejects_bad_zipmaps() {
        assert!(pairs(b"\x00\xff").is_err()); // empty
        assert!(pairs(b"\xff").is_err());
        let mut bad = EXAMPLE.to_vec();
        bad[0] = 3; // count
        assert!(pairs(&bad).is_err());
        let mut bad = EXAMPLE.to_vec();
        bad[6] = 30; // free bytes past the end
        assert!(pairs(&bad).is_err());
        let mut bad = EXAMPLE.to_vec();
        bad[1] = 200; // field past the end
        assert!(pairs(&bad).is_err());
        let mut bad = EXAMPLE.to_vec();
        bad.pop();
        assert!(pairs(&bad).is_err());
        assert!(pairs(b"\x01\xfe\xff\xff\xff\xff\xff").is_err());
    }
}
