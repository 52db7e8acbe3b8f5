//! LEB128 numbers, as the packed encodings store lengths and scores (listpack hashes and
//! sorted sets, list nodes, `Packed` headers): seven bits per byte, low bits first, the high
//! bit set on every byte but the last.

/// Bytes of the LEB128 form of `n`.
pub fn len(mut n: u64) -> usize {
    let mut l = 1;
    while n >= 0x80 {
        l += 1;
        n >>= 7;
    }
    l
}

/// Writes `n` at the start of `out` (at least `len(n)` long); returns the bytes written.
pub fn write(out: &mut [u8], mut n: u64) -> usize {
    let mut p = 0;
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out[p] = b;
            return p + 1;
        }
        out[p] = b | 0x80;
        p += 1;
    }
}

/// Reads the number at `p`: (value, offset after it); None when `buf` ends first or the
/// number does not fit 64 bits.
pub fn read(buf: &[u8], mut p: usize) -> Option<(u64, usize)> {
    let mut v: u64 = 0;
    let mut shift = 0;
    loop {
        let b = *buf.get(p)?;
        p += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some((v, p));
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}
