//! Intset parsing (redis 7.0 `intset.c`), RDB type 11.
//!
//! ```text
//! <encoding u32 LE: 2, 4 or 8 bytes per element> <length u32 LE> { <signed int LE> }
//! ```
//! Parsing is `intsetValidateIntegrity(deep=1)`: a known width, the size exactly
//! header + length * width, at least one element, strictly ascending (so no duplicates).

use super::listpack::{capped, err, PackError};

const HEADER_SIZE: usize = 8;

/// Parses and fully validates an intset, returning its values in ascending order.
pub fn values(is: &[u8]) -> Result<Vec<i64>, PackError> {
    if is.len() < HEADER_SIZE {
        return err(0, "intset shorter than its header");
    }
    let word = |at: usize| u32::from_le_bytes([is[at], is[at + 1], is[at + 2], is[at + 3]]);
    let width = match word(0) {
        2 => 2,
        4 => 4,
        8 => 8,
        _ => return err(0, "invalid intset encoding"),
    };
    let count = usize::try_from(word(4)).unwrap_or(usize::MAX);
    let body = is.len() - HEADER_SIZE;
    if count.checked_mul(width) != Some(body) {
        return err(4, "intset length does not match its size");
    }
    if count == 0 {
        return err(4, "empty intset");
    }
    let mut out: Vec<i64> = Vec::with_capacity(capped(count));
    for (i, chunk) in is[HEADER_SIZE..].chunks_exact(width).enumerate() {
        let v = match *chunk {
            [a, b] => i64::from(i16::from_le_bytes([a, b])),
            [a, b, c, d] => i64::from(i32::from_le_bytes([a, b, c, d])),
            [a, b, c, d, e, f, g, h] => i64::from_le_bytes([a, b, c, d, e, f, g, h]),
            _ => return err(HEADER_SIZE + i * width, "invalid intset element"),
        };
        if out.last().is_some_and(|&prev| v <= prev) {
            return err(
                HEADER_SIZE + i * width,
                "intset elements out of order or duplicated",
            );
        }
        out.push(v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(width: u32, vals: &[i64]) -> Vec<u8> {
        let mut out = width.to_le_bytes().to_vec();
        out.extend_from_slice(&(vals.len() as u32).to_le_bytes());
        for v in vals {
            out.extend_from_slice(&v.to_le_bytes()[..width as usize]);
        }
        out
    }

    #[test]
    fn each_width() {
        assert_eq!(
            values(&build(2, &[-32768, -1, 0, 32767])),
            Ok(vec![-32768, -1, 0, 32767])
        );
        assert_eq!(
            values(&build(4, &[i64::from(i32::MIN), 7])),
            Ok(vec![i64::from(i32::MIN), 7])
        );
        assert_eq!(
            values(&build(8, &[i64::MIN, i64::MAX])),
            Ok(vec![i64::MIN, i64::MAX])
        );
    }

    #[test]
    fn rejects_bad_intsets() {
        assert!(values(&build(2, &[])).is_err()); // empty
        assert!(values(&build(3, &[1])).is_err()); // width
        assert!(values(&build(2, &[2, 1])).is_err()); // order
        assert!(values(&build(2, &[1, 1])).is_err()); // duplicate
        let mut short = build(4, &[1, 2]);
        short.pop();
        assert!(values(&short).is_err());
        let mut long = build(4, &[1, 2]);
        long.push(0);
        assert!(values(&long).is_err());
        assert!(values(&[2, 0, 0]).is_err());
        // a huge declared length must not allocate or overflow
        let mut huge = build(8, &[1]);
        huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(values(&huge).is_err());
    }
}
