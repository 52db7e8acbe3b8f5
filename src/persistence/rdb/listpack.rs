//! Listpack parsing (redis 7.0 `listpack.c`), plus the entry and error types shared by the
//! other packed-blob parsers (`ziplist`, `zipmap`, `intset`).
//!
//! ```text
//! <total-bytes u32 LE> <num-elements u16 LE; 65535 = unknown> { <entry> } 0xFF
//! entry: <encoding + data> <backlen: size of encoding + data, 1-5 bytes, read right to left>
//!   0xxxxxxx                 7-bit unsigned int
//!   10xxxxxx <data>          string, 6-bit length
//!   110xxxxx yyyyyyyy        13-bit signed int
//!   1110xxxx yyyyyyyy <data> string, 12-bit length
//!   11110000 <u32 LE> <data> string, 32-bit length
//!   0xF1 / 0xF2 / 0xF3 / 0xF4 + 2 / 3 / 4 / 8 bytes LE: signed 16/24/32/64-bit int
//! ```
//! Parsing is the deep validation of `lpValidateIntegrity` (every entry checked, the header
//! count matched): a blob is untrusted bytes from a file or a RESTORE payload. Depends only
//! on `bytes`; knows nothing of RDB framing.

use bytes::Bytes;

const HEADER_SIZE: usize = 6;
const EOF: u8 = 0xFF;
const NUMELE_UNKNOWN: u16 = u16::MAX;

/// One element of a packed blob: ziplists and listpacks store integers in binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry<'a> {
    Str(&'a [u8]),
    Int(i64),
}

impl Entry<'_> {
    /// The element as Redis returns it: integers in decimal.
    pub fn to_bytes(&self) -> Bytes {
        match self {
            Entry::Str(s) => Bytes::copy_from_slice(s),
            Entry::Int(i) => Bytes::from(i.to_string()),
        }
    }
}

/// Why a packed blob was rejected, and at which byte of the blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackError {
    pub pos: usize,
    pub reason: &'static str,
}

pub(crate) fn err<T>(pos: usize, reason: &'static str) -> Result<T, PackError> {
    Err(PackError { pos, reason })
}

/// Caps a count read from untrusted bytes before it sizes an allocation.
pub(crate) fn capped(count: usize) -> usize {
    count.min(1024)
}

/// `pos + len` as an index, if it is one (lengths come from untrusted headers).
pub(crate) fn offset(pos: usize, len: u64) -> Option<usize> {
    pos.checked_add(usize::try_from(len).ok()?)
}

/// `lpEncodeBacklen(NULL, l)`: bytes needed for the back-length of an entry of `l` bytes.
/// The bounds are Redis's own (16383 takes 3 bytes), so a Redis blob validates here.
pub(crate) fn backlen_size(l: u64) -> u64 {
    if l <= 127 {
        1
    } else if l < 16383 {
        2
    } else if l < 2_097_151 {
        3
    } else if l < 268_435_455 {
        4
    } else {
        5
    }
}

/// `lpDecodeBacklen`: reads the back-length ending at `lp[last]`, right to left. `None` when
/// it runs past the start of the blob or over 5 bytes.
fn decode_backlen(lp: &[u8], last: usize) -> Option<u64> {
    let mut val: u64 = 0;
    let mut shift = 0;
    let mut i = last;
    loop {
        let b = *lp.get(i)?;
        val |= u64::from(b & 127) << shift;
        if b & 128 == 0 {
            return Some(val);
        }
        shift += 7;
        if shift > 28 {
            return None;
        }
        i = i.checked_sub(1)?;
    }
}

/// `lpCurrentEncodedSizeBytes`: bytes of the encoding header, 0 for an invalid encoding.
fn header_size(b: u8) -> usize {
    match b {
        // 7-bit int, 6-bit string, 13-bit int; 16 to 64-bit ints
        0x00..=0xDF | 0xF1..=0xF4 => 1,
        0xE0..=0xEF => 2,
        0xF0 => 5,
        _ => 0,
    }
}

fn le_uint(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .rev()
        .fold(0, |acc, &b| (acc << 8) | u64::from(b))
}

/// Sign-extends the low `bits` bits of `v` (two's complement), as `lpGet` does.
fn sign_extend(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    i64::from_le_bytes((v << shift).to_le_bytes()) >> shift
}

/// Decodes the entry at `p` whose header is known to be in bounds: returns the element and
/// the size of encoding + data (without the back-length).
pub(crate) fn decode_entry(lp: &[u8], p: usize) -> Option<(Entry<'_>, u64)> {
    let b = lp[p];
    let byte = |i: usize| lp.get(p + i).copied();
    let int = |n: usize| lp.get(p + 1..p + 1 + n).map(le_uint);
    let string = |start: usize, len: u64| {
        let start = p + start;
        lp.get(start..offset(start, len)?).map(Entry::Str)
    };
    Some(match b {
        0x00..=0x7F => (Entry::Int(i64::from(b)), 1),
        0x80..=0xBF => {
            let len = u64::from(b & 0x3F);
            (string(1, len)?, 1 + len)
        }
        0xC0..=0xDF => {
            let v = (u64::from(b & 0x1F) << 8) | u64::from(byte(1)?);
            (Entry::Int(sign_extend(v, 13)), 2)
        }
        0xE0..=0xEF => {
            let len = (u64::from(b & 0x0F) << 8) | u64::from(byte(1)?);
            (string(2, len)?, 2 + len)
        }
        0xF0 => {
            let len = int(4)?;
            (string(5, len)?, 5 + len)
        }
        0xF1 => (Entry::Int(sign_extend(int(2)?, 16)), 3),
        0xF2 => (Entry::Int(sign_extend(int(3)?, 24)), 4),
        0xF3 => (Entry::Int(sign_extend(int(4)?, 32)), 5),
        0xF4 => (Entry::Int(sign_extend(int(8)?, 64)), 9),
        _ => return None,
    })
}

/// Parses and fully validates a listpack, returning its elements in order.
///
/// Checks what `lpValidateIntegrity(deep=1)` checks: header size and total-bytes field, the
/// final 0xFF, each entry inside the blob with a back-length that matches it, and the
/// element count unless the header says "unknown". Like Redis, iteration stops at the first
/// 0xFF where an entry would start, which must be the last byte.
pub fn entries(lp: &[u8]) -> Result<Vec<Entry<'_>>, PackError> {
    let out = entries_any_count(lp)?;
    let numele = u16::from_le_bytes([lp[4], lp[5]]);
    if numele != NUMELE_UNKNOWN && usize::from(numele) != out.len() {
        return err(4, "listpack element count does not match its entries");
    }
    Ok(out)
}

/// `entries` without the element count check: a stream node is validated entry by entry
/// (`streamValidateListpackIntegrity`) but its header count is never compared, by Redis
/// either, nor used.
pub fn entries_any_count(lp: &[u8]) -> Result<Vec<Entry<'_>>, PackError> {
    let size = lp.len();
    if size < HEADER_SIZE + 1 {
        return err(0, "listpack shorter than its header");
    }
    if usize::try_from(le_uint(&lp[0..4])) != Ok(size) {
        return err(0, "listpack total-bytes field does not match its size");
    }
    if lp[size - 1] != EOF {
        return err(size - 1, "listpack does not end with 0xFF");
    }
    let numele = u16::from_le_bytes([lp[4], lp[5]]);
    let mut out = Vec::with_capacity(capped(usize::from(numele)));
    // An entry may not reach past the terminator (`OUT_OF_RANGE` in `lpValidateNext`).
    let last = size - 1;
    let mut p = HEADER_SIZE;
    while lp[p] != EOF {
        let lenbytes = header_size(lp[p]);
        if lenbytes == 0 {
            return err(p, "invalid listpack entry encoding");
        }
        if p + lenbytes > last {
            return err(p, "listpack entry header reaches past the end");
        }
        let past_end = PackError {
            pos: p,
            reason: "listpack entry reaches past the end",
        };
        let (entry, encoded) = decode_entry(lp, p).ok_or(past_end)?;
        let back = backlen_size(encoded);
        let total = encoded + back;
        let next = offset(p, total).filter(|&n| n <= last).ok_or(past_end)?;
        match decode_backlen(lp, next - 1) {
            Some(prev) if prev + back == total => {}
            _ => {
                return err(
                    next - 1,
                    "listpack entry back-length does not match the entry",
                )
            }
        }
        out.push(entry);
        p = next;
    }
    // The first 0xFF where an entry would start must be the terminator itself.
    if p != last {
        return err(p, "listpack terminator before its end");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a listpack from encoded entries (encoding + data), adding back-lengths.
    fn lp(raw_entries: &[&[u8]], count: u16) -> Vec<u8> {
        let mut body = Vec::new();
        for e in raw_entries {
            body.extend_from_slice(e);
            let l = e.len() as u64;
            // lpEncodeBacklen, 1 and 2 byte forms are enough here
            if l <= 127 {
                body.push(l as u8);
            } else {
                body.push((l >> 7) as u8);
                body.push((l & 127) as u8 | 128);
            }
        }
        let total = (HEADER_SIZE + body.len() + 1) as u32;
        let mut out = total.to_le_bytes().to_vec();
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&body);
        out.push(EOF);
        out
    }

    #[test]
    fn empty_listpack() {
        assert_eq!(entries(&[7, 0, 0, 0, 0, 0, 0xFF]), Ok(vec![]));
    }

    #[test]
    fn every_encoding() {
        let big = vec![b'z'; 4096];
        let mut e32 = vec![0xF0];
        e32.extend_from_slice(&4096u32.to_le_bytes());
        e32.extend_from_slice(&big);
        let mut e12 = vec![0xE0 | 0x0F, 0xFF];
        e12.extend_from_slice(&[b'y'; 4095]);
        let raw: Vec<&[u8]> = vec![
            &[0x05],                                                 // 7-bit 5
            &[0x7F],                                                 // 127
            &[0x83, b'a', b'b', b'c'],                               // "abc"
            &[0x80],                                                 // ""
            &[0xC0 | 0x0F, 0xFF],                                    // 13-bit 4095
            &[0xC0 | 0x10, 0x00],                                    // 13-bit -4096
            &[0xDF, 0xFF],                                           // 13-bit -1
            &[0xF1, 0x00, 0x80],                                     // i16 -32768
            &[0xF2, 0xFF, 0xFF, 0x7F],                               // i24 8388607
            &[0xF2, 0x00, 0x00, 0x80],                               // i24 -8388608
            &[0xF3, 0x00, 0x00, 0x00, 0x80],                         // i32 min
            &[0xF4, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F], // i64 max
            &e12,
            &e32,
        ];
        let blob = lp(&raw, raw.len() as u16);
        let got = entries(&blob).unwrap();
        assert_eq!(
            got[..12],
            [
                Entry::Int(5),
                Entry::Int(127),
                Entry::Str(b"abc"),
                Entry::Str(b""),
                Entry::Int(4095),
                Entry::Int(-4096),
                Entry::Int(-1),
                Entry::Int(-32768),
                Entry::Int(8_388_607),
                Entry::Int(-8_388_608),
                Entry::Int(i64::from(i32::MIN)),
                Entry::Int(i64::MAX),
            ]
        );
        assert_eq!(got[12], Entry::Str(&[b'y'; 4095]));
        assert_eq!(got[13], Entry::Str(&big));
        // unknown count is accepted
        let blob = lp(&raw, u16::MAX);
        assert_eq!(entries(&blob).unwrap().len(), raw.len());
    }

    #[test]
    fn rejects_bad_headers_and_entries() {
        let good = lp(&[&[0x83, b'a', b'b', b'c']], 1);
        assert!(entries(&good).is_ok());
        assert!(entries(&good[..6]).is_err());
        let mut wrong_total = good.clone();
        wrong_total[0] += 1;
        assert!(entries(&wrong_total).is_err());
        let mut no_eof = good.clone();
        *no_eof.last_mut().unwrap() = 0;
        assert!(entries(&no_eof).is_err());
        let mut wrong_count = good.clone();
        wrong_count[4] = 2;
        assert!(entries(&wrong_count).is_err());
        assert_eq!(entries_any_count(&wrong_count), entries(&good));
        let mut bad_backlen = good.clone();
        bad_backlen[10] = 3;
        assert!(entries(&bad_backlen).is_err());
        let mut bad_enc = good.clone();
        bad_enc[6] = 0xF5;
        assert!(entries(&bad_enc).is_err());
        // a string longer than the blob
        let long = lp(&[&[0xBF, b'a']], 1);
        assert!(entries(&long).is_err());
        let huge = lp(&[&[0xF0, 0xFF, 0xFF, 0xFF, 0xFF]], 1);
        assert!(entries(&huge).is_err());
    }
}
