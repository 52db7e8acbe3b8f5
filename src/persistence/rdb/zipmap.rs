//! Zipmap parsing (redis 7.0 `zipmap.c`), RDB type 9: hashes saved by Redis 2.4 and older.
//!
//! ```text
//! <zmlen: pair count, 254 = count unknown> { <len> field <len> <free u8> value <free bytes> } 0xFF
//! <len>: one byte 0..=253, or 254 followed by a u32 LE
//! ```
//! Parsing is `zipmapValidateIntegrity(deep=1)`: every pair inside the blob, at least one
//! pair, the count matched unless it is 254.

use super::listpack::{capped, err, PackError};

const BIGLEN: u8 = 254;
const END: u8 = 0xFF;

/// Parses and fully validates a zipmap, returning its (field, value) pairs in order.
pub fn pairs(zm: &[u8]) -> Result<Vec<(&[u8], &[u8])>, PackError> {
    let size = zm.len();
    if size < 2 {
        return err(0, "zipmap shorter than its header");
    }
    if zm[size - 1] != END {
        return err(size - 1, "zipmap does not end with 0xFF");
    }
    // Everything must lie in [2, size - 1] (`OUT_OF_RANGE` in `zipmapValidateIntegrity`).
    let last = (size - 1) as u64;
    let in_range = |p: u64| (2..=last).contains(&p);
    // Reads the length at `p` (known to be in range with its encoding), returning it and
    // the size of its encoding. A first byte of 254 or 255 means 5 bytes, as in Redis.
    let len_at = |p: usize| -> Option<(u64, u64)> {
        if zm[p] < BIGLEN {
            Some((u64::from(zm[p]), 1))
        } else {
            let b = zm.get(p + 1..p + 5)?;
            Some((u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])), 5))
        }
    };
    let mut out = Vec::with_capacity(capped(usize::from(zm[0])));
    let mut p: usize = 1;
    while zm[p] != END {
        let s = if zm[p] < BIGLEN { 1 } else { 5 };
        if !in_range((p + s) as u64) {
            return err(p, "zipmap field length reaches past the end");
        }
        let (l, s) = len_at(p).ok_or(PackError { pos: p, reason: "zipmap field length reaches past the end" })?;
        let field_start = p as u64 + s;
        let field_end = field_start + l;
        if !in_range(field_end) {
            return err(p, "zipmap field reaches past the end");
        }
        let q = field_end as usize;
        let vs = if zm[q] < BIGLEN { 1 } else { 5 };
        if !in_range((q + vs) as u64) {
            return err(q, "zipmap value length reaches past the end");
        }
        let (vl, vs) = len_at(q).ok_or(PackError { pos: q, reason: "zipmap value length reaches past the end" })?;
        let free_at = q + vs as usize;
        let free = u64::from(zm[free_at]);
        let value_start = free_at as u64 + 1;
        let next = value_start + vl + free;
        if !in_range(next) {
            return err(q, "zipmap value reaches past the end");
        }
        let field = &zm[field_start as usize..q];
        let value = &zm[value_start as usize..(value_start + vl) as usize];
        out.push((field, value));
        p = next as usize;
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
            Ok(vec![(&b"foo"[..], &b"bar"[..]), (&b"hello"[..], &b"world"[..])])
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
