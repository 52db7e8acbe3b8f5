//! Pure bit helpers of the bitmap commands (redis `bitops.c` low-level functions): counting,
//! searching, reading and writing bit fields, BITFIELD overflow rules, BITOP. No keyspace here.
//!
//! Bits are numbered from the most significant bit of the first byte. Readers treat bytes past
//! the end of a slice as zero; writers drop bits past the end. Nothing here panics on any input.

/// Number of set bits in `p`: 32 bytes a step into four independent counters (as redis's
/// `redisPopcount`), so the additions do not wait on each other.
pub fn popcount(p: &[u8]) -> u64 {
    let mut chunks = p.chunks_exact(32);
    let mut n = [0u64; 4];
    for c in &mut chunks {
        for (k, acc) in n.iter_mut().enumerate() {
            let mut w = [0u8; 8];
            w.copy_from_slice(&c[k * 8..k * 8 + 8]);
            *acc += u64::from(u64::from_ne_bytes(w).count_ones());
        }
    }
    let tail: u64 = chunks
        .remainder()
        .iter()
        .map(|b| u64::from(b.count_ones()))
        .sum();
    n.iter().sum::<u64>() + tail
}

/// Mask of the bits of a byte at and after bit `i` (0 = most significant).
fn from_bit(i: u64) -> u8 {
    0xff >> (i & 7)
}

/// Mask of the bits of a byte up to and including bit `i`.
fn to_bit(i: u64) -> u8 {
    0xff << (7 - (i & 7))
}

/// Set bits in the bit range `[sb, eb]` of `p`; the range must lie inside `p`.
pub fn count_bits(p: &[u8], sb: u64, eb: u64) -> u64 {
    if sb > eb {
        return 0;
    }
    let (first, last) = ((sb >> 3) as usize, (eb >> 3) as usize);
    let Some(bytes) = p.get(first..=last) else {
        return 0;
    };
    let outside =
        (bytes[0] & !from_bit(sb)).count_ones() + (bytes[last - first] & !to_bit(eb)).count_ones();
    popcount(bytes) - u64::from(outside)
}

/// Position of the first bit equal to `bit` in the bit range `[sb, eb]` of `p`, if any.
pub fn find_bit(p: &[u8], bit: bool, sb: u64, eb: u64) -> Option<u64> {
    if sb > eb {
        return None;
    }
    let (first, last) = ((sb >> 3) as usize, (eb >> 3) as usize);
    let bytes = p.get(first..=last)?;
    let skip = if bit { 0x00 } else { 0xff };
    // Looks for set bits in `b` (inverted when searching zeros), within `mask`.
    let hit = |i: usize, b: u8, mask: u8| {
        let x = (if bit { b } else { !b }) & mask;
        (x != 0).then(|| (first + i) as u64 * 8 + u64::from(x.leading_zeros()))
    };
    let n = bytes.len();
    let first_mask = from_bit(sb) & if n == 1 { to_bit(eb) } else { 0xff };
    if let Some(pos) = hit(0, bytes[0], first_mask) {
        return Some(pos);
    }
    if n == 1 {
        return None;
    }
    let middle = &bytes[1..n - 1];
    if let Some(i) = middle.iter().position(|&b| b != skip) {
        return hit(i + 1, middle[i], 0xff);
    }
    hit(n - 1, bytes[n - 1], to_bit(eb))
}

/// Reads `bits` bits at bit `offset` as an unsigned number; bits past the end of `p` are zero.
pub fn get_unsigned(p: &[u8], offset: u64, bits: u32) -> u64 {
    let bits = bits.min(64);
    let mut value: u64 = 0;
    for j in 0..u64::from(bits) {
        let Some(at) = offset.checked_add(j) else {
            value <<= 1;
            continue;
        };
        let byte = usize::try_from(at >> 3)
            .ok()
            .and_then(|i| p.get(i))
            .copied()
            .unwrap_or(0);
        value = (value << 1) | u64::from((byte >> (7 - (at & 7))) & 1);
    }
    value
}

/// Reads `bits` bits at bit `offset` as a two's complement number.
pub fn get_signed(p: &[u8], offset: u64, bits: u32) -> i64 {
    let value = get_unsigned(p, offset, bits);
    if (1..64).contains(&bits) && value & (1 << (bits - 1)) != 0 {
        (value | (u64::MAX << bits)) as i64
    } else {
        value as i64
    }
}

/// Writes the low `bits` bits of `value` at bit `offset`; bits past the end of `p` are dropped.
pub fn set_unsigned(p: &mut [u8], offset: u64, bits: u32, value: u64) {
    let bits = bits.min(64);
    for j in 0..u64::from(bits) {
        let on = (value >> (u64::from(bits) - 1 - j)) & 1 == 1;
        let Some(at) = offset.checked_add(j) else {
            break;
        };
        let Some(byte) = usize::try_from(at >> 3).ok().and_then(|i| p.get_mut(i)) else {
            continue;
        };
        let mask = 1u8 << (7 - (at & 7));
        if on {
            *byte |= mask;
        } else {
            *byte &= !mask;
        }
    }
}

/// BITFIELD overflow behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// redis `checkUnsignedBitfieldOverflow`: whether `value + incr` fits in `bits` unsigned bits.
/// `None` when it fits, else the value to store under `Wrap`/`Sat` (unused under `Fail`).
pub fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> Option<u64> {
    let bits = bits.clamp(1, 64);
    let max = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let max_incr = max.wrapping_sub(value) as i64;
    let min_incr = value.wrapping_neg() as i64;
    let wrapped = || {
        let mask = if bits == 64 { 0 } else { u64::MAX << bits };
        value.wrapping_add(incr as u64) & !mask
    };
    if value > max || (incr > 0 && incr > max_incr) {
        Some(if ow == Overflow::Sat { max } else { wrapped() })
    } else if incr < 0 && incr < min_incr {
        Some(if ow == Overflow::Sat { 0 } else { wrapped() })
    } else {
        None
    }
}

/// redis `checkSignedBitfieldOverflow`, same contract as [`unsigned_overflow`].
pub fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> Option<i64> {
    let bits = bits.clamp(1, 64);
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
    let min_incr = min.wrapping_sub(value);
    let wrapped = || {
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & (1 << (bits - 1)) != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    let small = bits != 64;
    if value > max || (small && incr > max_incr) || (value >= 0 && incr > 0 && incr > max_incr) {
        Some(if ow == Overflow::Sat { max } else { wrapped() })
    } else if value < min
        || (small && incr < min_incr)
        || (value < 0 && incr < 0 && incr < min_incr)
    {
        Some(if ow == Overflow::Sat { min } else { wrapped() })
    } else {
        None
    }
}

/// BITOP operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// The BITOP result over `srcs` (missing keys are empty strings): as long as the longest
/// source, shorter sources zero-padded.
pub fn bitop_apply(op: BitOp, srcs: &[&[u8]]) -> Vec<u8> {
    let maxlen = srcs.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut res = vec![0u8; maxlen];
    let Some((first, rest)) = srcs.split_first() else {
        return res;
    };
    res[..first.len()].copy_from_slice(first);
    match op {
        BitOp::Not => res.iter_mut().for_each(|b| *b = !*b),
        BitOp::And => {
            for s in rest {
                res.iter_mut().zip(s.iter()).for_each(|(r, b)| *r &= b);
                res[s.len()..].fill(0);
            }
        }
        BitOp::Or => {
            for s in rest {
                res.iter_mut().zip(s.iter()).for_each(|(r, b)| *r |= b);
            }
        }
        BitOp::Xor => {
            for s in rest {
                res.iter_mut().zip(s.iter()).for_each(|(r, b)| *r ^= b);
            }
        }
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting() {
        let p = b"foobar";
        assert_eq!(popcount(p), 26);
        assert_eq!(popcount(&[0xff; 17]), 136);
        assert_eq!(popcount(&[0x81; 100]), 200);
        assert_eq!(count_bits(p, 0, 47), 26);
        assert_eq!(count_bits(p, 5, 30), 17);
        assert_eq!(count_bits(&[0xff], 3, 3), 1);
        assert_eq!(count_bits(&[0xff, 0xff], 7, 8), 2);
        assert_eq!(count_bits(&[0x0f], 0, 3), 0);
    }

    #[test]
    fn searching() {
        let ff = [0xffu8, 0xff];
        assert_eq!(find_bit(&ff, false, 0, 15), None);
        assert_eq!(find_bit(&ff, true, 3, 15), Some(3));
        let p = [0x00u8, 0x00, 0x01, 0x00];
        assert_eq!(find_bit(&p, true, 0, 31), Some(23));
        assert_eq!(find_bit(&p, true, 0, 22), None);
        assert_eq!(find_bit(&p, true, 23, 23), Some(23));
        assert_eq!(find_bit(&p, false, 0, 31), Some(0));
        assert_eq!(find_bit(&[0xfe], false, 0, 6), None);
        assert_eq!(find_bit(&[0xfe], false, 0, 7), Some(7));
        assert_eq!(find_bit(b"foobar", true, 7, 15), Some(9));
    }

    #[test]
    fn fields() {
        let mut p = [0u8; 3];
        set_unsigned(&mut p, 7, 5, 23);
        assert_eq!(p, [0b0000_0001, 0b0111_0000, 0]);
        assert_eq!(get_unsigned(&p, 7, 5), 23);
        assert_eq!(get_signed(&p, 7, 5), -9);
        set_unsigned(&mut p, 20, 8, 0xff); // partly past the end: dropped, no panic
        assert_eq!(p[2], 0x0f);
        assert_eq!(get_unsigned(&p, 20, 8), 0xf0);
        assert_eq!(get_unsigned(&p, u64::MAX - 3, 64), 0);
        let mut q = [0u8; 8];
        set_unsigned(&mut q, 0, 64, i64::MIN as u64);
        assert_eq!(get_signed(&q, 0, 64), i64::MIN);
    }

    #[test]
    fn overflow_unsigned() {
        use Overflow::*;
        assert_eq!(unsigned_overflow(250, 10, 8, Wrap), Some(4));
        assert_eq!(unsigned_overflow(250, 10, 8, Sat), Some(255));
        assert_eq!(unsigned_overflow(250, 5, 8, Wrap), None);
        assert_eq!(unsigned_overflow(5, -10, 8, Wrap), Some(251));
        assert_eq!(unsigned_overflow(5, -10, 8, Sat), Some(0));
        assert_eq!(unsigned_overflow(u64::MAX, 0, 8, Wrap), Some(255)); // SET u8 -1
        assert_eq!(unsigned_overflow(300, 0, 8, Sat), Some(255));
        assert_eq!(unsigned_overflow(0, i64::MAX, 63, Wrap), None);
        assert_eq!(unsigned_overflow(1, i64::MAX, 63, Wrap), Some(0));
    }

    #[test]
    fn overflow_signed() {
        use Overflow::*;
        assert_eq!(signed_overflow(120, 10, 8, Wrap), Some(-126));
        assert_eq!(signed_overflow(120, 10, 8, Sat), Some(127));
        assert_eq!(signed_overflow(-120, -10, 8, Wrap), Some(126));
        assert_eq!(signed_overflow(-120, -10, 8, Sat), Some(-128));
        assert_eq!(signed_overflow(200, 0, 8, Wrap), Some(-56));
        assert_eq!(signed_overflow(i64::MAX, 1, 64, Wrap), Some(i64::MIN));
        assert_eq!(signed_overflow(i64::MAX, 1, 64, Sat), Some(i64::MAX));
        assert_eq!(signed_overflow(i64::MIN, -1, 64, Sat), Some(i64::MIN));
        assert_eq!(signed_overflow(i64::MIN, i64::MAX, 64, Wrap), None);
        assert_eq!(signed_overflow(-1, i64::MIN, 64, Wrap), Some(i64::MAX));
        assert_eq!(signed_overflow(0, i64::MIN, 8, Sat), Some(-128));
    }

    #[test]
    fn bitops() {
        let a: &[u8] = b"\xff\x0f";
        let b: &[u8] = b"\xf0";
        assert_eq!(bitop_apply(BitOp::And, &[a, b]), vec![0xf0, 0x00]);
        assert_eq!(bitop_apply(BitOp::Or, &[b, a]), vec![0xff, 0x0f]);
        assert_eq!(bitop_apply(BitOp::Xor, &[a, b]), vec![0x0f, 0x0f]);
        assert_eq!(bitop_apply(BitOp::Not, &[a]), vec![0x00, 0xf0]);
        assert_eq!(bitop_apply(BitOp::And, &[&[], &[]]), Vec::<u8>::new());
        assert_eq!(bitop_apply(BitOp::And, &[b"", b"\xff"]), vec![0]);
    }
}
