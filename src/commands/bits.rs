//! Bitmap commands (redis `bitops.c`: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD,
//! BITFIELD_RO) and LCS (redis `t_string.c`).
//!
//! Bits are numbered from the most significant bit of the first byte; bytes past the end of a
//! string read as zero. A string written by these commands is stored `raw` (redis
//! `dbUnshareStringValue`), even when nothing changed. Keyword arguments are compared as redis's
//! `strcasecmp` does, up to the first NUL byte.
//!
//! This file holds the command table, the shared argument parsing and keyspace access, and the
//! simple commands; `field.rs` is BITFIELD, `lcs.rs` LCS, `ops.rs` the pure bit helpers. Depends
//! on `keyspace` only through `Db` and `Str`.

mod field;
mod lcs;
pub mod ops;

use bytes::Bytes;

use super::access::{get_str_mut, get_string};
use super::args::parse_int;
use super::errors::{self, CmdError};
use super::spec::{Group, Spec, DENYOOM, FAST, READONLY, WRITE};
use super::Ctx;
use crate::keyspace::{Db, Str, Value};
use crate::protocol::Reply;
use field::{bitfield, bitfield_ro};
use lcs::lcs;
use ops::{bitop_apply, count_bits, find_bit, get_unsigned, BitOp};

pub const COMMANDS: &[Spec] = &[
    Spec::new("setbit", 4, WRITE | DENYOOM, Group::Bitmap, setbit).keys(1, 1, 1),
    Spec::new("getbit", 3, READONLY | FAST, Group::Bitmap, getbit).keys(1, 1, 1),
    Spec::new("bitcount", -2, READONLY, Group::Bitmap, bitcount).keys(1, 1, 1),
    Spec::new("bitpos", -3, READONLY, Group::Bitmap, bitpos).keys(1, 1, 1),
    Spec::new("bitop", -4, WRITE | DENYOOM, Group::Bitmap, bitop).keys(2, -1, 1),
    Spec::new("bitfield", -2, WRITE | DENYOOM, Group::Bitmap, bitfield).keys(1, 1, 1),
    Spec::new(
        "bitfield_ro",
        -2,
        READONLY | FAST,
        Group::Bitmap,
        bitfield_ro,
    )
    .keys(1, 1, 1),
    Spec::new("lcs", -3, READONLY, Group::String, lcs).keys(1, 2, 1),
];

const BIT_VALUE: CmdError = CmdError::fixed("ERR bit is not an integer or out of range");
const BIT_ARGUMENT: CmdError = CmdError::fixed("ERR The bit argument must be 1 or 0.");
const BITOP_NOT_ARITY: CmdError =
    CmdError::fixed("ERR BITOP NOT must be called with a single source key.");

/// Largest string (bytes) a bit command may grow for the master link, which skips the
/// `proto-max-bulk-len` check as redis's `mustObeyClient` does: a sanity bound, not a redis rule.
const MASTER_MAX_BYTES: i64 = 1 << 32;

// ---------------------------------------------------------------------------------------------
// Argument parsing

/// redis `strcasecmp(arg, word) == 0`: the argument up to its first NUL byte equals `word`,
/// ignoring ASCII case.
fn c_eq(arg: &[u8], word: &str) -> bool {
    let end = memchr::memchr(0, arg).unwrap_or(arg.len());
    arg[..end].eq_ignore_ascii_case(word.as_bytes())
}

/// The byte count a bit offset must stay under (`proto-max-bulk-len`).
fn offset_limit(cx: &Ctx) -> i64 {
    if cx.client.is_master_link {
        MASTER_MAX_BYTES
    } else {
        cx.server.config.read().proto_max_bulk_len
    }
}

/// redis `getBitOffsetFromArgument`. With `hash_bits`, `#N` means `N * bits` (BITFIELD); the
/// product wraps as it does in redis. The offset's byte must be below `limit`.
fn parse_offset(arg: &[u8], hash_bits: Option<u32>, limit: i64) -> Result<u64, CmdError> {
    let (digits, mul) = match (arg.first(), hash_bits) {
        (Some(b'#'), Some(bits)) if bits > 0 => (&arg[1..], i64::from(bits)),
        _ => (arg, 1),
    };
    let n = crate::util::parse_i64(digits)
        .ok_or(errors::BIT_OFFSET)?
        .wrapping_mul(mul);
    if n < 0 || (n >> 3) >= limit {
        return Err(errors::BIT_OFFSET);
    }
    Ok(n as u64)
}

/// Redis's index normalization for BITCOUNT/BITPOS ranges over `total` units: negative
/// indexes count from the end, both ends are clamped. `None` is the empty range.
pub fn resolve_range(mut start: i64, mut end: i64, total: i64) -> Option<(u64, u64)> {
    if start < 0 {
        start += total;
    }
    if end < 0 {
        end += total;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= total {
        end = total - 1;
    }
    if start > end {
        return None;
    }
    Some((start as u64, end as u64))
}

// ---------------------------------------------------------------------------------------------
// Keyspace access

/// Runs `f` on the bytes of the string at `key` (integers rendered in decimal), without copying.
/// `Ok(None)` when the key is missing.
fn read_str<R>(
    db: &mut Db<'_>,
    key: &[u8],
    f: impl FnOnce(&[u8]) -> R,
) -> Result<Option<R>, CmdError> {
    match db.get(key) {
        None => Ok(None),
        Some(Value::Str(Str::Int(i))) => {
            let mut buf = itoa::Buffer::new();
            Ok(Some(f(buf.format(*i).as_bytes())))
        }
        Some(Value::Str(s)) => Ok(Some(f(s.bytes().unwrap_or_default()))),
        Some(_) => Err(errors::WRONGTYPE),
    }
}

/// redis `lookupStringForBitCommand`: runs `f` on the string at `key`, created or zero-padded so
/// that bit `maxbit` exists, and stores the result back as a `raw` string (TTL kept). `f` is told
/// whether the string was created or grown.
fn write_bits<R>(
    db: &mut Db<'_>,
    key: &[u8],
    maxbit: u64,
    f: impl FnOnce(&mut [u8], bool) -> R,
) -> Result<R, CmdError> {
    let need = usize::try_from(maxbit >> 3)
        .ok()
        .and_then(|b| b.checked_add(1))
        .ok_or(errors::STRING_TOO_LONG)?;
    match get_str_mut(db, key)? {
        Some(s) => Ok(s.with_raw(|v| {
            let grew = v.len() < need;
            if grew {
                crate::keyspace::value::make_room(v, need - v.len());
                v.resize(need, 0);
            }
            f(v, grew)
        })),
        None => {
            let mut v = vec![0u8; need];
            let r = f(&mut v, true);
            db.set(key, Value::Str(Str::raw(v)));
            Ok(r)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP

/// SETBIT key offset value: replies the bit's old value; propagates only when the string was
/// created, grew, or the bit changed (redis 7.0 counts nothing else as a change).
fn setbit(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let offset = parse_offset(&cx.argv[2], None, offset_limit(cx))?;
    let on = crate::util::parse_i64(&cx.argv[3]).ok_or(BIT_VALUE)?;
    if on & !1 != 0 {
        return Err(BIT_VALUE);
    }
    let on = on == 1;
    let (old, changed) = write_bits(cx.db, &cx.argv[1], offset, |p, grew| {
        // `write_bits` made the byte exist.
        let Some(byte) = p.get_mut((offset >> 3) as usize) else {
            return (false, false);
        };
        let mask = 1u8 << (7 - (offset & 7));
        let old = *byte & mask != 0;
        if on {
            *byte |= mask;
        } else {
            *byte &= !mask;
        }
        (old, grew || old != on)
    })?;
    if changed {
        cx.propagate();
    }
    Ok(Reply::Int(i64::from(old)))
}

fn getbit(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let offset = parse_offset(&cx.argv[2], None, offset_limit(cx))?;
    let bit = read_str(cx.db, &cx.argv[1], |p| get_unsigned(p, offset, 1))?;
    Ok(Reply::Int(bit.unwrap_or(0) as i64))
}

/// Parses a BIT|BYTE unit argument: true for BIT.
fn parse_unit(arg: &[u8]) -> Result<bool, CmdError> {
    if c_eq(arg, "bit") {
        Ok(true)
    } else if c_eq(arg, "byte") {
        Ok(false)
    } else {
        Err(errors::SYNTAX)
    }
}

/// BITCOUNT key [start end [BYTE|BIT]]. As in redis 7.0, a missing key answers 0 before the
/// arguments are looked at.
fn bitcount(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let Some(s) = get_string(cx.db, &cx.argv[1])? else {
        return Ok(Reply::Int(0));
    };
    let argv = cx.argv;
    let len = s.len() as i64;
    let (sb, eb) = match argv.len() {
        2 if len == 0 => return Ok(Reply::Int(0)),
        2 => (0, len as u64 * 8 - 1),
        4 | 5 => {
            let start = parse_int(&argv[2])?;
            let end = parse_int(&argv[3])?;
            if start < 0 && end < 0 && start > end {
                return Ok(Reply::Int(0));
            }
            let is_bit = argv.len() == 5 && parse_unit(&argv[4])?;
            let total = if is_bit { len * 8 } else { len };
            match resolve_range(start, end, total) {
                None => return Ok(Reply::Int(0)),
                Some((a, b)) if is_bit => (a, b),
                Some((a, b)) => (a * 8, b * 8 + 7),
            }
        }
        _ => return Err(errors::SYNTAX),
    };
    Ok(Reply::Int(count_bits(&s, sb, eb) as i64))
}

/// BITPOS key bit [start [end [BYTE|BIT]]]. Without an explicit end, a search for 0 in a string
/// of ones answers the first bit past the string (it is zero padded); with one it answers -1.
fn bitpos(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let bit = parse_int(&argv[2])?;
    if bit != 0 && bit != 1 {
        return Err(BIT_ARGUMENT);
    }
    let bit = bit == 1;
    let Some(s) = get_string(cx.db, &argv[1])? else {
        return Ok(Reply::Int(if bit { -1 } else { 0 }));
    };
    let len = s.len() as i64;
    let mut end_given = false;
    let range = match argv.len() {
        3 => resolve_range(0, len - 1, len).map(|(a, b)| (a * 8, b * 8 + 7)),
        4..=6 => {
            let start = parse_int(&argv[3])?;
            let is_bit = argv.len() == 6 && parse_unit(&argv[5])?;
            let end = if argv.len() >= 5 {
                end_given = true;
                parse_int(&argv[4])?
            } else {
                -1
            };
            let total = if is_bit { len * 8 } else { len };
            match resolve_range(start, end, total) {
                Some((a, b)) if !is_bit => Some((a * 8, b * 8 + 7)),
                r => r,
            }
        }
        _ => return Err(errors::SYNTAX),
    };
    let Some((sb, eb)) = range else {
        return Ok(Reply::Int(-1));
    };
    Ok(Reply::Int(match find_bit(&s, bit, sb, eb) {
        Some(pos) => pos as i64,
        None if bit || end_given => -1,
        None => len * 8,
    }))
}

/// BITOP op dest key [key ...]: stores the result as a raw string (dropping any TTL), or deletes
/// `dest` when every source is empty or missing. Replies the result's length.
fn bitop(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let name = &argv[1];
    let op = if c_eq(name, "and") {
        BitOp::And
    } else if c_eq(name, "or") {
        BitOp::Or
    } else if c_eq(name, "xor") {
        BitOp::Xor
    } else if c_eq(name, "not") {
        BitOp::Not
    } else {
        return Err(errors::SYNTAX);
    };
    if op == BitOp::Not && argv.len() != 4 {
        return Err(BITOP_NOT_ARITY);
    }
    let mut srcs: Vec<Bytes> = Vec::with_capacity(argv.len() - 3);
    for key in &argv[3..] {
        srcs.push(get_string(cx.db, key)?.unwrap_or_default());
    }
    let views: Vec<&[u8]> = srcs.iter().map(|s| &s[..]).collect();
    let res = bitop_apply(op, &views);
    let len = res.len() as i64;
    let dest = &argv[2];
    if len > 0 {
        // redis `setKey` looks the key up for writing first: an expired one is deleted (and a
        // DEL propagated) before the new value lands.
        cx.db.exists(dest);
        cx.db.set(dest, Value::Str(Str::raw(res)));
    } else if cx.db.remove(dest).is_none() {
        return Ok(Reply::Int(0));
    }
    cx.db.touch(dest);
    cx.propagate();
    Ok(Reply::Int(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyword_compare_stops_at_nul() {
        assert!(c_eq(b"AND", "and"));
        assert!(c_eq(b"and\0xyz", "and"));
        assert!(!c_eq(b"andx", "and"));
        assert!(!c_eq(b"", "and"));
    }

    #[test]
    fn offsets() {
        let lim = 512 << 20;
        assert_eq!(parse_offset(b"0", None, lim), Ok(0));
        assert_eq!(parse_offset(b"4294967295", None, lim), Ok(4_294_967_295));
        assert!(parse_offset(b"4294967296", None, lim).is_err());
        assert!(parse_offset(b"-1", None, lim).is_err());
        assert!(parse_offset(b"#1", None, lim).is_err());
        assert_eq!(parse_offset(b"#3", Some(8), lim), Ok(24));
        assert!(parse_offset(b"#", Some(8), lim).is_err());
        assert!(parse_offset(b"#-1", Some(8), lim).is_err());
        // #2^58 * 64 wraps to 0, as in redis.
        assert_eq!(parse_offset(b"#288230376151711744", Some(64), lim), Ok(0));
        assert!(parse_offset(b"#144115188075855872", Some(64), lim).is_err());
    }

    #[test]
    fn ranges() {
        assert_eq!(resolve_range(0, -1, 6), Some((0, 5)));
        assert_eq!(resolve_range(-100, -50, 6), Some((0, 0)));
        assert_eq!(resolve_range(2, 100, 6), Some((2, 5)));
        assert_eq!(resolve_range(7, 9, 6), None);
        assert_eq!(resolve_range(0, 0, 0), None);
        assert_eq!(resolve_range(i64::MIN, i64::MAX, 48), Some((0, 47)));
    }
}
