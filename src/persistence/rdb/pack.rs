//! Writers for Redis's packed encodings, byte for byte as Redis 7.0 builds them, so DUMP
//! payloads and RDB files of small values are identical to Redis's:
//!
//! ```text
//! listpack: <total bytes u32 LE> <count u16 LE> { <entry> <backlen> } 0xFF
//!   entry:  0xxxxxxx (uint7) | 110xxxxx x (int13) | F1..F4 + 2/3/4/8 bytes LE (int16..int64)
//!           10llllll data (str < 64) | 1110llll llllllll data (< 4096) | F0 <u32 LE len> data
//!   backlen: the entry's length, 7 bits per byte, high bit set on all but the first written
//! intset:   <encoding u32 LE: 2|4|8> <length u32 LE> <sorted values LE>
//! ```

/// Appends one listpack entry (integers are stored as integers, as `lpAppend` does).
pub(crate) fn lp_entry(out: &mut Vec<u8>, ele: &[u8]) {
    let as_int = if ele.len() <= 20 {
        crate::util::parse_i64(ele)
    } else {
        None
    };
    match as_int {
        Some(v) => lp_int(out, v),
        None => lp_str(out, ele),
    }
}

/// Appends one listpack integer entry in its smallest encoding (`lpAppendInteger`).
pub(crate) fn lp_int(out: &mut Vec<u8>, v: i64) {
    let start = out.len();
    if (0..=127).contains(&v) {
        out.push(v as u8);
    } else if (-4096..=4095).contains(&v) {
        let uv = if v < 0 {
            ((1i64 << 13) + v) as u64
        } else {
            v as u64
        };
        out.push(0xC0 | (uv >> 8) as u8);
        out.push((uv & 0xFF) as u8);
    } else if i16::try_from(v).is_ok() {
        out.push(0xF1);
        out.extend_from_slice(&(v as i16).to_le_bytes());
    } else if (-(1i64 << 23)..(1i64 << 23)).contains(&v) {
        out.push(0xF2);
        out.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
    } else if i32::try_from(v).is_ok() {
        out.push(0xF3);
        out.extend_from_slice(&(v as i32).to_le_bytes());
    } else {
        out.push(0xF4);
        out.extend_from_slice(&v.to_le_bytes());
    }
    lp_backlen(out, start);
}

/// Appends one listpack string entry.
fn lp_str(out: &mut Vec<u8>, ele: &[u8]) {
    let start = out.len();
    if ele.len() < 64 {
        out.push(0x80 | ele.len() as u8);
    } else if ele.len() < 4096 {
        out.push(0xE0 | (ele.len() >> 8) as u8);
        out.push((ele.len() & 0xFF) as u8);
    } else {
        out.push(0xF0);
        out.extend_from_slice(&(ele.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(ele);
    lp_backlen(out, start);
}

/// Appends the back-length of the entry written from `start` (redis `lpEncodeBacklen`).
fn lp_backlen(out: &mut Vec<u8>, start: usize) {
    let l = (out.len() - start) as u64;
    if l <= 127 {
        out.push(l as u8);
    } else if l < 16383 {
        out.extend_from_slice(&[(l >> 7) as u8, ((l & 127) | 128) as u8]);
    } else if l < 2_097_151 {
        out.extend_from_slice(&[
            (l >> 14) as u8,
            (((l >> 7) & 127) | 128) as u8,
            ((l & 127) | 128) as u8,
        ]);
    } else if l < 268_435_455 {
        out.extend_from_slice(&[
            (l >> 21) as u8,
            (((l >> 14) & 127) | 128) as u8,
            (((l >> 7) & 127) | 128) as u8,
            ((l & 127) | 128) as u8,
        ]);
    } else {
        out.extend_from_slice(&[
            (l >> 28) as u8,
            (((l >> 21) & 127) | 128) as u8,
            (((l >> 14) & 127) | 128) as u8,
            (((l >> 7) & 127) | 128) as u8,
            ((l & 127) | 128) as u8,
        ]);
    }
}

/// Builds a listpack from elements.
pub fn listpack<'a>(elements: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = vec![0u8; 6];
    let mut count: usize = 0;
    for e in elements {
        lp_entry(&mut out, e);
        count += 1;
    }
    out.push(0xFF);
    let total = out.len() as u32;
    out[0..4].copy_from_slice(&total.to_le_bytes());
    let n = if count < 65535 { count as u16 } else { 65535 };
    out[4..6].copy_from_slice(&n.to_le_bytes());
    out
}

/// Builds an intset from sorted values, in the smallest width that holds them all.
pub fn intset(values: &[i64]) -> Vec<u8> {
    let width: u32 = if values.iter().all(|v| i16::try_from(*v).is_ok()) {
        2
    } else if values.iter().all(|v| i32::try_from(*v).is_ok()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + values.len() * width as usize);
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&(values.len() as u32).to_le_bytes());
    for v in values {
        match width {
            2 => out.extend_from_slice(&(*v as i16).to_le_bytes()),
            4 => out.extend_from_slice(&(*v as i32).to_le_bytes()),
            _ => out.extend_from_slice(&v.to_le_bytes()),
        }
    }
    out
}

/// A score as redis `d2string` writes it into a sorted set's listpack.
pub fn score_text(score: f64) -> String {
    if score == 0.0 {
        return if score.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    if score.is_finite()
        && score > -4_503_599_627_370_495.0
        && score < 4_503_599_627_370_496.0
        && score == (score as i64) as f64
    {
        return (score as i64).to_string();
    }
    crate::util::format_double(score)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_redis_dump_bytes() {
        // From DUMP on redis-server 7.0.15 (hash f=v, zset a=1 b=2, set 1 2 3).
        assert_eq!(
            listpack([&b"f"[..], b"v"]),
            b"\r\x00\x00\x00\x02\x00\x81f\x02\x81v\x02\xff"
        );
        let z = listpack([&b"a"[..], b"1", b"b", b"2"]);
        assert_eq!(
            z,
            b"\x11\x00\x00\x00\x04\x00\x81a\x02\x01\x01\x81b\x02\x02\x01\xff"
        );
        assert_eq!(
            intset(&[1, 2, 3]),
            b"\x02\x00\x00\x00\x03\x00\x00\x00\x01\x00\x02\x00\x03\x00"
        );
        assert_eq!(score_text(1.0), "1");
        assert_eq!(score_text(1.5), "1.5");
        assert_eq!(score_text(f64::INFINITY), "inf");
    }
}
