//! The HyperLogLog string layout of redis `hyperloglog.c`, byte for byte, so that an HLL read
//! with GET from one server and written with SET to the other keeps its estimate.
//!
//! A 16-byte header (`HYLL`, encoding, 3 zero bytes, cached cardinality little endian whose top
//! bit marks it stale) is followed by the registers: 16384 six-bit counters packed from the
//! least significant bit (dense, always 12288 bytes), or run-length opcodes (sparse):
//! `00xxxxxx` ZERO (1..64 zero registers), `01xxxxxx yyyyyyyy` XZERO (1..16384 zero
//! registers), `1vvvvvxx` VAL (1..4 registers of value 1..32). Functions here work on the
//! whole string (header included) and never panic on a corrupted one: reading past the end
//! yields 0, as redis reads the string's terminating NUL.

/// Header length.
pub const HDR: usize = 16;
/// Register count (redis `HLL_REGISTERS`, P = 14).
pub const REGISTERS: usize = 1 << 14;
const P: u32 = 14;
/// Hash bits left after the register index (redis `HLL_Q`).
const Q: usize = 64 - P as usize;
const REGISTER_MAX: u8 = 63;
/// Length of a dense HLL string.
pub const DENSE_SIZE: usize = HDR + (REGISTERS * 6).div_ceil(8);
pub const DENSE: u8 = 0;
pub const SPARSE: u8 = 1;
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;
const XZERO_MAX_LEN: usize = 16384;
/// 0.5 / ln(2).
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// The representation is not a valid HLL (redis answers `-INVALIDOBJ`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupt;

/// MurmurHash2, 64-bit version, as redis uses it (little-endian words on every host).
pub fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut k = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        for (i, &b) in rest.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element hashes to and the length of its `000..1` pattern (1..=Q+1).
pub fn pattern(ele: &[u8]) -> (usize, u8) {
    let hash = murmur64a(ele, 0xadc8_3b19);
    let index = (hash as usize) & (REGISTERS - 1);
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

fn byte_at(p: &[u8], i: usize) -> u8 {
    p.get(i).copied().unwrap_or(0)
}

/// Dense register `i` of `regs` (the bytes after the header).
pub fn dense_get(regs: &[u8], i: usize) -> u8 {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let b0 = u16::from(byte_at(regs, byte));
    let b1 = u16::from(byte_at(regs, byte + 1));
    (((b0 >> fb) | (b1 << (8 - fb))) & u16::from(REGISTER_MAX)) as u8
}

/// Sets dense register `i` to `val` (at most 63).
pub fn dense_set(regs: &mut [u8], i: usize, val: u8) {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let v = u16::from(val);
    let max = u16::from(REGISTER_MAX);
    if let Some(b) = regs.get_mut(byte) {
        *b = ((u16::from(*b) & !(max << fb)) | (v << fb)) as u8;
    }
    if let Some(b) = regs.get_mut(byte + 1) {
        *b = ((u16::from(*b) & !(max >> (8 - fb))) | (v >> (8 - fb))) as u8;
    }
}

/// Raises dense register `i` to `count`; true if it changed.
fn dense_raise(regs: &mut [u8], i: usize, count: u8) -> bool {
    if count > dense_get(regs, i) {
        dense_set(regs, i, count);
        true
    } else {
        false
    }
}

/// One sparse opcode at `p`: (registers covered, bytes, value).
fn opcode(s: &[u8], p: usize) -> (usize, usize, u8) {
    let op = byte_at(s, p);
    if op & 0xc0 == 0 {
        (usize::from(op & 0x3f) + 1, 1, 0)
    } else if op & 0x80 == 0 {
        let len = (usize::from(op & 0x3f) << 8 | usize::from(byte_at(s, p + 1))) + 1;
        (len, 2, 0)
    } else {
        (usize::from(op & 3) + 1, 1, ((op >> 2) & 0x1f) + 1)
    }
}

fn is_val(op: u8) -> bool {
    op & 0x80 != 0
}

fn val_op(val: u8, len: usize) -> u8 {
    ((val - 1) << 2 | (len as u8 - 1)) | 0x80
}

/// A ZERO or XZERO opcode for `len` zero registers, appended to `out`.
fn push_zeros(out: &mut Vec<u8>, len: usize) {
    if len > ZERO_MAX_LEN {
        let l = len - 1;
        out.push((l >> 8) as u8 | 0x40);
        out.push((l & 0xff) as u8);
    } else {
        out.push((len - 1) as u8);
    }
}

/// A new empty HLL, sparse (redis `createHLLObject`).
pub fn new_sparse() -> Vec<u8> {
    let mut v = Vec::with_capacity(HDR + 2);
    v.extend_from_slice(b"HYLL");
    v.push(SPARSE);
    v.resize(HDR, 0);
    let mut left = REGISTERS;
    while left > 0 {
        let n = left.min(XZERO_MAX_LEN);
        push_zeros(&mut v, n);
        left -= n;
    }
    v
}

/// Whether a string passes redis `isHLLObjectOrReply`'s checks (magic, known encoding, dense
/// length). The sparse body is only checked when it is used.
pub fn looks_valid(s: &[u8]) -> bool {
    s.len() >= HDR
        && &s[..4] == b"HYLL"
        && s[4] <= SPARSE
        && (s[4] != DENSE || s.len() == DENSE_SIZE)
}

pub fn encoding(s: &[u8]) -> u8 {
    s[4]
}

/// The cached cardinality, when it is valid.
pub fn cached(s: &[u8]) -> Option<u64> {
    let card = u64::from_le_bytes(s[8..16].try_into().ok()?);
    (s[15] & 0x80 == 0).then_some(card)
}

pub fn set_cached(s: &mut [u8], card: u64) {
    s[8..16].copy_from_slice(&card.to_le_bytes());
}

pub fn invalidate(s: &mut [u8]) {
    s[15] |= 0x80;
}

/// Converts a sparse HLL to dense in place (redis `hllSparseToDense`); the header, cached
/// cardinality included, is kept.
pub fn to_dense(s: &mut Vec<u8>) -> Result<(), Corrupt> {
    if s[4] == DENSE {
        return Ok(());
    }
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..HDR].copy_from_slice(&s[..HDR]);
    dense[4] = DENSE;
    let regs = &mut dense[HDR..];
    let mut idx = 0usize;
    let mut p = HDR;
    while p < s.len() {
        let (run, oplen, val) = opcode(s, p);
        if val > 0 {
            if run + idx > REGISTERS {
                break;
            }
            for i in idx..idx + run {
                dense_set(regs, i, val);
            }
        }
        idx += run;
        p += oplen;
    }
    if idx != REGISTERS {
        return Err(Corrupt);
    }
    *s = dense;
    Ok(())
}

/// Raises sparse register `index` to `count` (redis `hllSparseSet`): splits the opcode that
/// covers it, merges equal neighbouring VALs, and promotes to dense when the value does not fit
/// a VAL or the string would grow past `max_bytes`. Ok(true) when the register changed.
fn sparse_set(s: &mut Vec<u8>, index: usize, count: u8, max_bytes: u64) -> Result<bool, Corrupt> {
    if count > VAL_MAX_VALUE {
        return promote(s, index, count);
    }
    // Room for the worst split (XZERO into XZERO-VAL-XZERO, 3 more bytes), grown as redis's
    // `sdsMakeRoomFor` grows a small string (to twice the needed length), so a sparse HLL
    // carries the same spare bytes as in redis.
    if s.capacity() - s.len() < 3 {
        s.reserve_exact((s.len() + 3) * 2 - s.len());
    }
    // Step 1: the opcode covering `index`.
    let end = s.len();
    let mut p = HDR;
    let mut first = 0usize;
    let mut prev = None;
    let mut span = 0usize;
    let mut oplen = 1;
    while p < end {
        let (run, len, _) = opcode(s, p);
        span = run;
        oplen = len;
        if index < first + span {
            break;
        }
        prev = Some(p);
        p += oplen;
        first += span;
    }
    if span == 0 || p >= end {
        return Err(Corrupt);
    }
    let next = Some(p + oplen).filter(|&n| n < end);
    let op = s[p];
    let (_, _, curval) = opcode(s, p);
    let is_xzero = !is_val(op) && op & 0x40 != 0;
    let is_zero = !is_val(op) && !is_xzero;

    // Step 2: trivial updates in place.
    let mut trivial = false;
    if is_val(op) {
        if curval >= count {
            return Ok(false);
        }
        if span == 1 {
            s[p] = val_op(count, 1);
            trivial = true;
        }
    }
    if is_zero && span == 1 {
        s[p] = val_op(count, 1);
        trivial = true;
    }
    if !trivial {
        // The general case: the opcode becomes up to three.
        let last = first + span - 1;
        let mut seq = Vec::with_capacity(5);
        if is_val(op) {
            if index != first {
                seq.push(val_op(curval, index - first));
            }
            seq.push(val_op(count, 1));
            if index != last {
                seq.push(val_op(curval, last - index));
            }
        } else {
            if index != first {
                push_zeros(&mut seq, index - first);
            }
            seq.push(val_op(count, 1));
            if index != last {
                push_zeros(&mut seq, last - index);
            }
        }
        // Step 3: replace the old opcode.
        let old_len = if is_xzero { 2 } else { 1 };
        let new_len = (end + seq.len()).saturating_sub(old_len);
        if seq.len() > old_len && new_len as u64 > max_bytes {
            return promote(s, index, count);
        }
        s.splice(p..next.unwrap_or(end), seq);
        s.truncate(new_len);
    }

    // Step 4: merge adjacent VALs of equal value, scanning up to 5 opcodes from `prev`.
    let mut p = prev.unwrap_or(HDR);
    let mut scan = 5;
    while p < s.len() && scan > 0 {
        scan -= 1;
        let op = s[p];
        if !is_val(op) {
            p += if op & 0x40 != 0 { 2 } else { 1 };
            continue;
        }
        if p + 1 < s.len() && is_val(s[p + 1]) {
            let (l1, _, v1) = opcode(s, p);
            let (l2, _, v2) = opcode(s, p + 1);
            if v1 == v2 && l1 + l2 <= VAL_MAX_LEN {
                s[p + 1] = val_op(v1, l1 + l2);
                s.remove(p);
                continue;
            }
        }
        p += 1;
    }
    invalidate(s);
    Ok(true)
}

/// Converts to dense, then sets the register (the tail of redis `hllSparseSet`).
fn promote(s: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Corrupt> {
    to_dense(s)?;
    dense_raise(&mut s[HDR..], index, count);
    Ok(true)
}

/// Raises register `index` to `count` in either encoding; Ok(true) when it changed.
pub fn set_register(
    s: &mut Vec<u8>,
    index: usize,
    count: u8,
    max_bytes: u64,
) -> Result<bool, Corrupt> {
    match s[4] {
        DENSE => Ok(dense_raise(&mut s[HDR..], index, count)),
        SPARSE => sparse_set(s, index, count, max_bytes),
        _ => Err(Corrupt),
    }
}

/// Adds an element (redis `hllAdd`); Ok(true) when a register changed.
pub fn add(s: &mut Vec<u8>, ele: &[u8], max_bytes: u64) -> Result<bool, Corrupt> {
    let (index, count) = pattern(ele);
    set_register(s, index, count, max_bytes)
}

/// Folds an HLL into `max` (one byte per register): `max[i] = MAX(max[i], reg[i])`.
pub fn merge_into(max: &mut [u8; REGISTERS], s: &[u8]) -> Result<(), Corrupt> {
    if s[4] == DENSE {
        let regs = &s[HDR..];
        for (i, m) in max.iter_mut().enumerate() {
            *m = (*m).max(dense_get(regs, i));
        }
        return Ok(());
    }
    let mut i = 0usize;
    let mut p = HDR;
    while p < s.len() {
        let (run, oplen, val) = opcode(s, p);
        if val > 0 {
            if run + i > REGISTERS {
                break;
            }
            for m in &mut max[i..i + run] {
                *m = (*m).max(val);
            }
        }
        i += run;
        p += oplen;
    }
    if i != REGISTERS {
        return Err(Corrupt);
    }
    Ok(())
}

/// The estimate of an HLL string (redis `hllCount`); a sparse body that does not cover
/// exactly the 16384 registers is corrupt.
pub fn count(s: &[u8]) -> Result<u64, Corrupt> {
    let mut histo = [0u64; 64];
    if s[4] == DENSE {
        let regs = &s[HDR..];
        for i in 0..REGISTERS {
            histo[usize::from(dense_get(regs, i))] += 1;
        }
    } else {
        let mut idx = 0u64;
        let mut p = HDR;
        while p < s.len() {
            let (run, oplen, val) = opcode(s, p);
            idx += run as u64;
            histo[usize::from(val)] += run as u64;
            p += oplen;
        }
        if idx != REGISTERS as u64 {
            return Err(Corrupt);
        }
    }
    Ok(estimate(&histo))
}

/// The estimate of plain registers, one byte each (PFCOUNT of several keys).
pub fn count_raw(regs: &[u8; REGISTERS]) -> u64 {
    let mut histo = [0u64; 64];
    for &r in regs.iter() {
        histo[usize::from(r & 63)] += 1;
    }
    estimate(&histo)
}

/// Ertl's improved estimator over the register histogram ("New cardinality estimation
/// algorithms for HyperLogLog sketches", as redis computes it).
fn estimate(histo: &[u64; 64]) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - histo[Q + 1] as f64) / m);
    for j in (1..=Q).rev() {
        z += histo[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(histo[0] as f64 / m);
    (ALPHA_INF * m * m / z).round() as u64
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let prev = z;
        z += x * y;
        y += y;
        if prev == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let prev = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if prev == z {
            return z / 3.0;
        }
    }
}

/// PFDEBUG DECODE's text of a sparse body (`z:N`, `Z:N`, `v:V,N`, space separated).
pub fn decode(s: &[u8]) -> String {
    let mut out = String::new();
    let mut p = HDR;
    while p < s.len() {
        let op = s[p];
        let (run, oplen, val) = opcode(s, p);
        if is_val(op) {
            out.push_str(&format!("v:{val},{run} "));
        } else if oplen == 2 {
            out.push_str(&format!("Z:{run} "));
        } else {
            out.push_str(&format!("z:{run} "));
        }
        p += oplen;
    }
    out.truncate(out.trim_end_matches(' ').len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_sparse_is_two_xzero_bytes() {
        let s = new_sparse();
        assert_eq!(&s[HDR..], &[0x7f, 0xff]);
        assert_eq!(count(&s), Ok(0));
        assert_eq!(decode(&s), "Z:16384");
    }

    #[test]
    fn dense_registers_round_trip() {
        let mut regs = vec![0u8; DENSE_SIZE - HDR];
        for i in 0..REGISTERS {
            dense_set(&mut regs, i, (i % 64) as u8);
        }
        for i in 0..REGISTERS {
            assert_eq!(dense_get(&regs, i), (i % 64) as u8);
        }
    }

    #[test]
    fn sparse_and_dense_agree() {
        let mut sp = new_sparse();
        let mut de = new_sparse();
        to_dense(&mut de).unwrap();
        for n in 0..2000u32 {
            let e = n.to_string();
            add(&mut sp, e.as_bytes(), 3000).unwrap();
            add(&mut de, e.as_bytes(), 3000).unwrap();
            assert_eq!(count(&sp).unwrap(), count(&de).unwrap());
        }
    }

    #[test]
    fn hostile_strings_never_panic() {
        let mut seed = 12345u64;
        for _ in 0..2000 {
            let mut s = new_sparse();
            for n in 0..50u32 {
                let _ = add(&mut s, &n.to_le_bytes(), 3000);
            }
            for _ in 0..3 {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                let pos = (seed >> 33) as usize % s.len();
                s[pos] = (seed >> 20) as u8;
            }
            exercise(s);
        }
        // Sparse bodies of random bytes.
        for len in 0..300 {
            let mut s = new_sparse();
            s.truncate(HDR);
            for _ in 0..len {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                s.push((seed >> 33) as u8);
            }
            exercise(s);
        }
    }

    /// Everything the commands do with a string that passed the header checks.
    fn exercise(mut s: Vec<u8>) {
        if !looks_valid(&s) {
            return;
        }
        let _ = count(&s);
        let _ = decode(&s);
        let mut m = [0u8; REGISTERS];
        let _ = merge_into(&mut m, &s);
        for (i, &v) in m.iter().enumerate().filter(|(_, &v)| v > 0).take(50) {
            let _ = set_register(&mut s, i, v, 3000);
        }
        for n in 0..20u32 {
            let _ = add(&mut s, &n.to_be_bytes(), 40);
        }
        let _ = to_dense(&mut s);
        let _ = count(&s);
    }
}
