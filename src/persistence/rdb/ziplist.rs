//! Ziplist parsing (redis 7.0 `ziplist.c`), for RDB types written before 7.0: list ziplist
//! (10), zset ziplist (12), hash ziplist (13) and the nodes of a quicklist (14).
//!
//! ```text
//! <zlbytes u32 LE> <zltail u32 LE: offset of the last entry> <zllen u16 LE; 65535 = unknown>
//! { <prevlen: 1 byte < 254, or 0xFE + u32 LE> <encoding> <data> } 0xFF
//!   00pppppp                 string, 6-bit length
//!   01pppppp qqqqqqqq        string, 14-bit length (big endian)
//!   10xxxxxx <u32 BE>        string, 32-bit length (big endian)
//!   0xC0 / 0xD0 / 0xE0 / 0xF0 / 0xFE + 2 / 4 / 8 / 3 / 1 bytes LE: signed int 16/32/64/24/8
//!   0xF1..=0xFD              immediate 0..=12 (low nibble - 1)
//! ```
//! Parsing is `ziplistValidateIntegrity(deep=1)`: every entry inside the blob, each prevlen
//! equal to the previous entry's size, zltail at the last entry, the count matched.

use super::listpack::{capped, err, offset, Entry, PackError};

const HEADER_SIZE: usize = 10;
const END: u8 = 0xFF;
const BIG_PREVLEN: u8 = 254;

/// `zipEncodingLenSize`: bytes of the encoding header, `None` for an invalid encoding.
fn encoding_size(b: u8) -> Option<usize> {
    match b {
        0x00..=0x3F | 0xC0 | 0xD0 | 0xE0 | 0xF0 | 0xFE | 0xF1..=0xFD => Some(1),
        0x40..=0x7F => Some(2),
        0x80..=0xBF => Some(5),
        _ => None,
    }
}

fn le_int(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .rev()
        .fold(0, |acc, &b| (acc << 8) | u64::from(b))
}

/// Parses and fully validates a ziplist, returning its elements in order.
pub fn entries(zl: &[u8]) -> Result<Vec<Entry<'_>>, PackError> {
    let size = zl.len();
    if size < HEADER_SIZE + 1 {
        return err(0, "ziplist shorter than its header");
    }
    if usize::try_from(le_int(&zl[0..4])) != Ok(size) {
        return err(0, "ziplist zlbytes field does not match its size");
    }
    if zl[size - 1] != END {
        return err(size - 1, "ziplist does not end with 0xFF");
    }
    let last = size - 1;
    let Some(tail) = usize::try_from(le_int(&zl[4..8]))
        .ok()
        .filter(|&t| t <= last)
    else {
        return err(4, "ziplist tail offset is past the end");
    };
    let header_count = u16::from_le_bytes([zl[8], zl[9]]);
    // Entries must lie in [HEADER_SIZE, size - 1] (`OUT_OF_RANGE` in `zipEntrySafe`).
    let mut out = Vec::with_capacity(capped(usize::from(header_count)));
    let mut p = HEADER_SIZE;
    let mut prev: Option<usize> = None;
    let mut prev_raw_size: u64 = 0;
    while zl[p] != END {
        let prevlen_size = if zl[p] < BIG_PREVLEN { 1 } else { 5 };
        if p + prevlen_size > last {
            return err(p, "ziplist entry prevlen reaches past the end");
        }
        let enc_pos = p + prevlen_size;
        let enc = zl[enc_pos];
        let Some(lensize) = encoding_size(enc) else {
            return err(enc_pos, "invalid ziplist entry encoding");
        };
        if enc_pos + lensize > last {
            return err(p, "ziplist entry header reaches past the end");
        }
        let prevlen = if prevlen_size == 1 {
            u64::from(zl[p])
        } else {
            le_int(&zl[p + 1..p + 5])
        };
        let data = enc_pos + lensize;
        let (len, is_str) = match enc {
            0x00..=0x3F => (u64::from(enc & 0x3F), true),
            0x40..=0x7F => (
                (u64::from(enc & 0x3F) << 8) | u64::from(zl[enc_pos + 1]),
                true,
            ),
            0x80..=0xBF => {
                let be = &zl[enc_pos + 1..enc_pos + 5];
                (be.iter().fold(0, |acc, &b| (acc << 8) | u64::from(b)), true)
            }
            0xFE => (1, false),
            0xC0 => (2, false),
            0xF0 => (3, false),
            0xD0 => (4, false),
            0xE0 => (8, false),
            _ => (0, false), // immediate 0..=12
        };
        let Some(next) = offset(data, len).filter(|&n| n <= last) else {
            return err(p, "ziplist entry reaches past the end");
        };
        if usize::try_from(prevlen).map_or(true, |l| l > p - HEADER_SIZE) {
            return err(p, "ziplist entry prevlen points before the first entry");
        }
        if prevlen != prev_raw_size {
            return err(p, "ziplist entry prevlen does not match the previous entry");
        }
        let body = &zl[data..next];
        let entry = if is_str {
            Entry::Str(body)
        } else {
            Entry::Int(match enc {
                0xFE => i64::from(i8::from_le_bytes([body[0]])),
                0xC0 => i64::from(i16::from_le_bytes([body[0], body[1]])),
                0xF0 => i64::from(i32::from_le_bytes([0, body[0], body[1], body[2]]) >> 8),
                0xD0 => i64::from(i32::from_le_bytes([body[0], body[1], body[2], body[3]])),
                0xE0 => i64::from_le_bytes(body.try_into().unwrap_or([0; 8])), // 8 bytes
                imm => i64::from(imm & 0x0F) - 1,
            })
        };
        out.push(entry);
        prev_raw_size = u64::try_from(next - p).unwrap_or(u64::MAX);
        prev = Some(p);
        p = next;
    }
    if p != size - 1 {
        return err(p, "ziplist ends before its last byte");
    }
    if let Some(prev) = prev {
        if prev != tail {
            return err(4, "ziplist tail offset does not point at the last entry");
        }
    }
    if header_count != u16::MAX && usize::from(header_count) != out.len() {
        return err(8, "ziplist entry count does not match its entries");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example from the top of ziplist.c: the elements "2" and "5".
    const TWO_FIVE: [u8; 15] = [
        0x0f, 0, 0, 0, 0x0c, 0, 0, 0, 0x02, 0, 0x00, 0xf3, 0x02, 0xf6, 0xff,
    ];

    #[test]
    fn example_from_ziplist_c() {
        assert_eq!(entries(&TWO_FIVE), Ok(vec![Entry::Int(2), Entry::Int(5)]));
    }

    /// ziplist.c's second example: "Hello World" appended after "5".
    #[test]
    fn hello_world_appended() {
        let mut zl = TWO_FIVE[..14].to_vec();
        zl.extend_from_slice(&[0x02, 0x0b]);
        zl.extend_from_slice(b"Hello World");
        zl.push(0xff);
        let len = zl.len() as u32;
        zl[0..4].copy_from_slice(&len.to_le_bytes());
        zl[4..8].copy_from_slice(&14u32.to_le_bytes());
        zl[8] = 3;
        assert_eq!(
            entries(&zl),
            Ok(vec![
                Entry::Int(2),
                Entry::Int(5),
                Entry::Str(b"Hello World")
            ])
        );
    }

    fn build(raw: &[Vec<u8>]) -> Vec<u8> {
        let mut body = Vec::new();
        let mut prevlen = 0usize;
        let mut tail = HEADER_SIZE;
        for e in raw {
            tail = HEADER_SIZE + body.len();
            if prevlen < 254 {
                body.push(prevlen as u8);
            } else {
                body.push(0xFE);
                body.extend_from_slice(&(prevlen as u32).to_le_bytes());
            }
            body.extend_from_slice(e);
            prevlen = HEADER_SIZE + body.len() - tail;
        }
        let mut out = ((HEADER_SIZE + body.len() + 1) as u32)
            .to_le_bytes()
            .to_vec();
        out.extend_from_slice(&(tail as u32).to_le_bytes());
        out.extend_from_slice(&(raw.len() as u16).to_le_bytes());
        out.extend_from_slice(&body);
        out.push(END);
        out
    }

    #[test]
    fn every_encoding_and_big_prevlen() {
        let s300 = vec![b's'; 300];
        let mut e14 = vec![0x40 | 1, 44];
        e14.extend_from_slice(&s300);
        let s16k = vec![b'w'; 16384];
        let mut e32 = vec![0x80, 0, 0, 0x40, 0];
        e32.extend_from_slice(&s16k);
        let raw = vec![
            vec![0x03, b'a', b'b', b'c'],
            vec![0xF1],
            vec![0xFD],
            vec![0xFE, 0x80],
            vec![0xC0, 0x00, 0x80],
            vec![0xF0, 0xFF, 0xFF, 0x7F],
            vec![0xF0, 0x00, 0x00, 0x80],
            vec![0xD0, 0xFF, 0xFF, 0xFF, 0xFF],
            vec![0xE0, 0, 0, 0, 0, 0, 0, 0, 0x80],
            e14,
            vec![0x00], // after a 300-byte entry: 5-byte prevlen
            e32,
        ];
        let zl = build(&raw);
        let got = entries(&zl).unwrap();
        assert_eq!(
            got[..9],
            [
                Entry::Str(b"abc"),
                Entry::Int(0),
                Entry::Int(12),
                Entry::Int(-128),
                Entry::Int(-32768),
                Entry::Int(8_388_607),
                Entry::Int(-8_388_608),
                Entry::Int(-1),
                Entry::Int(i64::MIN),
            ]
        );
        assert_eq!(got[9], Entry::Str(&s300));
        assert_eq!(got[10], Entry::Str(b""));
        assert_eq!(got[11], Entry::Str(&s16k));
    }

    #[test]
    fn rejects_inconsistent_ziplists() {
        assert_eq!(entries(&[11, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0xff]), Ok(vec![]));
        let mut bad = TWO_FIVE;
        bad[12] = 0x03; // wrong prevlen
        assert!(entries(&bad).is_err());
        let mut bad = TWO_FIVE;
        bad[4] = 0x0a; // tail at the first entry
        assert!(entries(&bad).is_err());
        let mut bad = TWO_FIVE;
        bad[8] = 3; // count
        assert!(entries(&bad).is_err());
        let mut bad = TWO_FIVE;
        bad[8] = 0xff;
        bad[9] = 0xff; // unknown count is fine
        assert!(entries(&bad).is_ok());
        let mut bad = TWO_FIVE;
        bad[13] = 0xc1; // invalid encoding
        assert!(entries(&bad).is_err());
        let mut bad = TWO_FIVE;
        bad[13] = 0x3f; // string longer than the blob
        assert!(entries(&bad).is_err());
        let mut bad = TWO_FIVE;
        bad[0] = 0x10;
        assert!(entries(&bad).is_err());
        assert!(entries(&TWO_FIVE[..10]).is_err());
    }
}
