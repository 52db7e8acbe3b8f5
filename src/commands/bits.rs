//! Bitmap commands (redis `bitops.c`: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD,
//! BITFIELD_RO) and LCS (redis `t_string.c`).
//!
//! Bits are numbered from the most significant bit of the first byte; bytes past the end of a
//! string read as zero. A string written by these commands is stored `raw` (redis
//! `dbUnshareStringValue`), even when nothing changed. Keyword arguments are compared as redis's
//! `strcasecmp` does, up to the first NUL byte.
//!
//! Depends on `keyspace` only through `Db` and `Str`; the bit helpers are pure functions.

use bytes::Bytes;

use super::access::{get_str_mut, get_string};
use super::args::parse_int;
use super::errors::{self, CmdError};
use super::spec::{Group, Spec, DENYOOM, FAST, READONLY, WRITE};
use super::Ctx;
use crate::keyspace::{Db, Str, Value};
use crate::protocol::Reply;

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
const BITFIELD_TYPE: CmdError = CmdError::fixed(
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
);
const OVERFLOW_TYPE: CmdError = CmdError::fixed("ERR Invalid OVERFLOW type specified");
const BITFIELD_RO_WRITE: CmdError =
    CmdError::fixed("ERR BITFIELD_RO only supports the GET subcommand");
const LCS_TYPE: CmdError = CmdError::fixed("ERR The specified keys must contain string values");
const LCS_LEN_AND_IDX: CmdError =
    CmdError::fixed("ERR If you want both the length and indexes, please just use IDX.");
const LCS_TOO_LONG: CmdError = CmdError::fixed("ERR String too long for LCS");
const LCS_OVER_LIMIT: CmdError =
    CmdError::fixed("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
const LCS_NO_MEMORY: CmdError =
    CmdError::fixed("ERR Insufficient memory, failed allocating transient memory for LCS");

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

/// A BITFIELD type: `i1`..`i64` or `u1`..`u63` (redis `getBitfieldTypeFromArgument`, which reads
/// the width up to the first NUL byte). Returns (signed, bits).
fn parse_type(arg: &[u8]) -> Result<(bool, u32), CmdError> {
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(BITFIELD_TYPE),
    };
    let rest = &arg[1..];
    let end = memchr::memchr(0, rest).unwrap_or(rest.len());
    let bits = crate::util::parse_i64(&rest[..end]).ok_or(BITFIELD_TYPE)?;
    let max = if signed { 64 } else { 63 };
    if !(1..=max).contains(&bits) {
        return Err(BITFIELD_TYPE);
    }
    Ok((signed, bits as u32))
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
// Bit helpers (pure)

/// Number of set bits in `p`.
pub fn popcount(p: &[u8]) -> u64 {
    let mut chunks = p.chunks_exact(8);
    let mut n: u64 = 0;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        n += u64::from(u64::from_ne_bytes(w).count_ones());
    }
    n + chunks
        .remainder()
        .iter()
        .map(|b| u64::from(b.count_ones()))
        .sum::<u64>()
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
        Some(Value::Str(Str::Bytes { data, .. })) => Ok(Some(f(data))),
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
        Some(s) => {
            let mut v = match std::mem::replace(s, Str::Int(0)) {
                Str::Int(i) => itoa::Buffer::new().format(i).as_bytes().to_vec(),
                Str::Bytes { data, .. } => Vec::from(data),
            };
            let grew = v.len() < need;
            if grew {
                v.resize(need, 0);
            }
            let r = f(&mut v, grew);
            *s = Str::raw(v);
            Ok(r)
        }
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
        let byte = (offset >> 3) as usize;
        let mask = 1u8 << (7 - (offset & 7));
        let old = p[byte] & mask != 0;
        if on {
            p[byte] |= mask;
        } else {
            p[byte] &= !mask;
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

// ---------------------------------------------------------------------------------------------
// BITFIELD, BITFIELD_RO

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldOpKind {
    Get,
    Set,
    IncrBy,
}

#[derive(Debug, Clone, Copy)]
struct FieldOp {
    kind: FieldOpKind,
    offset: u64,
    /// SET value or INCRBY increment.
    value: i64,
    overflow: Overflow,
    signed: bool,
    bits: u32,
}

/// Parses BITFIELD's operations (every argument is checked before anything runs). Returns the
/// operations and the highest bit a SET/INCRBY touches, `None` when there is no write.
fn parse_bitfield(argv: &[Bytes], limit: i64) -> Result<(Vec<FieldOp>, Option<u64>), CmdError> {
    let mut ops = Vec::new();
    let mut highest: Option<u64> = None;
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < argv.len() {
        let remaining = argv.len() - j - 1;
        let sub = &argv[j];
        let kind = if c_eq(sub, "get") && remaining >= 2 {
            FieldOpKind::Get
        } else if c_eq(sub, "set") && remaining >= 3 {
            FieldOpKind::Set
        } else if c_eq(sub, "incrby") && remaining >= 3 {
            FieldOpKind::IncrBy
        } else if c_eq(sub, "overflow") && remaining >= 1 {
            let name = &argv[j + 1];
            overflow = if c_eq(name, "wrap") {
                Overflow::Wrap
            } else if c_eq(name, "sat") {
                Overflow::Sat
            } else if c_eq(name, "fail") {
                Overflow::Fail
            } else {
                return Err(OVERFLOW_TYPE);
            };
            j += 2;
            continue;
        } else {
            return Err(errors::SYNTAX);
        };
        let (signed, bits) = parse_type(&argv[j + 1])?;
        let offset = parse_offset(&argv[j + 2], Some(bits), limit)?;
        let mut value = 0;
        if kind != FieldOpKind::Get {
            let last = offset + u64::from(bits) - 1;
            highest = Some(highest.map_or(last, |h| h.max(last)));
            value = parse_int(&argv[j + 3])?;
        }
        ops.push(FieldOp {
            kind,
            offset,
            value,
            overflow,
            signed,
            bits,
        });
        j += if kind == FieldOpKind::Get { 3 } else { 4 };
    }
    Ok((ops, highest))
}

/// Runs one SET or INCRBY on `p`: the reply (`None` = overflow under FAIL, nothing written) and
/// whether the stored bits changed.
fn field_write(p: &mut [u8], op: &FieldOp) -> (Option<i64>, bool) {
    let incr = op.kind == FieldOpKind::IncrBy;
    if op.signed {
        let old = get_signed(p, op.offset, op.bits);
        let (value, delta) = if incr { (old, op.value) } else { (op.value, 0) };
        let over = signed_overflow(value, delta, op.bits, op.overflow);
        if over.is_some() && op.overflow == Overflow::Fail {
            return (None, false);
        }
        let new = over.unwrap_or(value.wrapping_add(delta));
        set_unsigned(p, op.offset, op.bits, new as u64);
        (Some(if incr { new } else { old }), old != new)
    } else {
        let old = get_unsigned(p, op.offset, op.bits);
        let (value, delta) = if incr {
            (old, op.value)
        } else {
            (op.value as u64, 0)
        };
        let over = unsigned_overflow(value, delta, op.bits, op.overflow);
        if over.is_some() && op.overflow == Overflow::Fail {
            return (None, false);
        }
        let new = over.unwrap_or(value.wrapping_add(delta as u64));
        set_unsigned(p, op.offset, op.bits, new);
        (Some(if incr { new } else { old } as i64), old != new)
    }
}

fn field_get(p: &[u8], op: &FieldOp) -> i64 {
    if op.signed {
        get_signed(p, op.offset, op.bits)
    } else {
        get_unsigned(p, op.offset, op.bits) as i64
    }
}

/// BITFIELD and BITFIELD_RO (redis `bitfieldGeneric`). A write creates or pads the string up to
/// the highest bit written before any operation runs (even if they all fail); the command
/// propagates only if some operation changed the bits or the string grew.
fn bitfield_generic(cx: &mut Ctx, read_only: bool) -> Result<Reply, CmdError> {
    let (ops, highest) = parse_bitfield(cx.argv, offset_limit(cx))?;
    let key = &cx.argv[1];
    let Some(maxbit) = highest else {
        let replies = read_str(cx.db, key, |p| {
            ops.iter()
                .map(|op| Reply::Int(field_get(p, op)))
                .collect::<Vec<_>>()
        })?;
        let replies = replies.unwrap_or_else(|| {
            ops.iter()
                .map(|op| Reply::Int(field_get(&[], op)))
                .collect()
        });
        return Ok(Reply::Array(replies));
    };
    if read_only {
        return Err(BITFIELD_RO_WRITE);
    }
    let (replies, changed) = write_bits(cx.db, key, maxbit, |p, grew| {
        let mut changed = false;
        let replies = ops
            .iter()
            .map(|op| {
                if op.kind == FieldOpKind::Get {
                    return Reply::Int(field_get(p, op));
                }
                let (reply, diff) = field_write(p, op);
                changed |= reply.is_some() && (grew || diff);
                reply.map_or(Reply::Nil, Reply::Int)
            })
            .collect::<Vec<_>>();
        (replies, changed)
    })?;
    if changed {
        cx.propagate();
    }
    Ok(Reply::Array(replies))
}

fn bitfield(cx: &mut Ctx) -> Result<Reply, CmdError> {
    bitfield_generic(cx, false)
}

fn bitfield_ro(cx: &mut Ctx) -> Result<Reply, CmdError> {
    bitfield_generic(cx, true)
}

// ---------------------------------------------------------------------------------------------
// LCS

/// One matching range of LCS IDX: (a start, a end, b start, b end), inclusive.
pub type LcsRange = (u32, u32, u32, u32);

/// The longest common subsequence of `a` and `b` as redis computes it (same table, same
/// tie-break walking back from the end): its bytes and the matching ranges, last first.
/// `limit` bounds the table's size in bytes (`proto-max-bulk-len`).
pub fn lcs_compute(a: &[u8], b: &[u8], limit: i64) -> Result<(Vec<u8>, Vec<LcsRange>), CmdError> {
    if a.len() >= u32::MAX as usize - 1 || b.len() >= u32::MAX as usize - 1 {
        return Err(LCS_TOO_LONG);
    }
    let (alen, blen) = (a.len(), b.len());
    let cells = (alen as u64 + 1) * (blen as u64 + 1);
    let table_bytes = cells.checked_mul(4).ok_or(LCS_NO_MEMORY)?;
    if table_bytes > limit.max(0) as u64 {
        return Err(LCS_OVER_LIMIT);
    }
    let cells = usize::try_from(cells).map_err(|_| LCS_NO_MEMORY)?;
    let mut table: Vec<u32> = Vec::new();
    table.try_reserve_exact(cells).map_err(|_| LCS_NO_MEMORY)?;
    table.resize(cells, 0);
    let w = blen + 1;
    for i in 1..=alen {
        for j in 1..=blen {
            table[i * w + j] = if a[i - 1] == b[j - 1] {
                table[(i - 1) * w + j - 1] + 1
            } else {
                table[(i - 1) * w + j].max(table[i * w + j - 1])
            };
        }
    }
    let mut idx = table[alen * w + blen] as usize;
    let mut result = vec![0u8; idx];
    let mut ranges = Vec::new();
    // The range being extended backwards: (a start, a end, b start, b end).
    let mut current: Option<LcsRange> = None;
    let (mut i, mut j) = (alen, blen);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result[idx - 1] = a[i - 1];
            let (ai, bj) = ((i - 1) as u32, (j - 1) as u32);
            current = match current {
                None => Some((ai, ai, bj, bj)),
                Some((s, e, bs, be)) if s == ai + 1 && bs == bj + 1 => Some((ai, e, bj, be)),
                Some(r) => {
                    emit = true;
                    Some(r)
                }
            };
            if current.is_some_and(|(s, _, bs, _)| s == 0 || bs == 0) {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if table[(i - 1) * w + j] > table[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            emit = current.is_some();
        }
        if emit {
            if let Some(r) = current.take() {
                ranges.push(r);
            }
        }
    }
    Ok((result, ranges))
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]. Missing keys are empty strings.
fn lcs(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    // Both keys are looked up before either is type-checked, as in redis.
    let a = get_string(cx.db, &argv[1]).map_err(|_| LCS_TYPE);
    let b = get_string(cx.db, &argv[2]).map_err(|_| LCS_TYPE);
    let (a, b) = (a?.unwrap_or_default(), b?.unwrap_or_default());
    let (mut len, mut idx, mut with_len) = (false, false, false);
    let mut min_len: i64 = 0;
    let mut j = 3;
    while j < argv.len() {
        let opt = &argv[j];
        if c_eq(opt, "idx") {
            idx = true;
        } else if c_eq(opt, "len") {
            len = true;
        } else if c_eq(opt, "withmatchlen") {
            with_len = true;
        } else if c_eq(opt, "minmatchlen") && j + 1 < argv.len() {
            min_len = parse_int(&argv[j + 1])?.max(0);
            j += 1;
        } else {
            return Err(errors::SYNTAX);
        }
        j += 1;
    }
    if len && idx {
        return Err(LCS_LEN_AND_IDX);
    }
    let limit = cx.server.config.read().proto_max_bulk_len;
    let (result, ranges) = lcs_compute(&a, &b, limit)?;
    if idx {
        let matches = ranges
            .into_iter()
            .filter(|&(s, e, _, _)| i64::from(e - s + 1) >= min_len)
            .map(|(s, e, bs, be)| {
                let mut m = vec![
                    Reply::Array(vec![Reply::Int(s.into()), Reply::Int(e.into())]),
                    Reply::Array(vec![Reply::Int(bs.into()), Reply::Int(be.into())]),
                ];
                if with_len {
                    m.push(Reply::Int(i64::from(e - s + 1)));
                }
                Reply::Array(m)
            })
            .collect();
        return Ok(Reply::Map(vec![
            (Reply::bulk_str("matches"), Reply::Array(matches)),
            (Reply::bulk_str("len"), Reply::Int(result.len() as i64)),
        ]));
    }
    if len {
        return Ok(Reply::Int(result.len() as i64));
    }
    Ok(Reply::Bulk(Bytes::from(result)))
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
    fn types() {
        assert_eq!(parse_type(b"i64"), Ok((true, 64)));
        assert_eq!(parse_type(b"u63"), Ok((false, 63)));
        assert_eq!(parse_type(b"u1"), Ok((false, 1)));
        assert_eq!(parse_type(b"i8\0junk"), Ok((true, 8)));
        for bad in [
            &b"u64"[..],
            b"i65",
            b"i0",
            b"I8",
            b"i",
            b"",
            b"i08",
            b"x8",
            b"i-1",
        ] {
            assert_eq!(parse_type(bad), Err(BITFIELD_TYPE), "{bad:?}");
        }
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

    #[test]
    fn counting() {
        let p = b"foobar";
        assert_eq!(popcount(p), 26);
        assert_eq!(popcount(&[0xff; 17]), 136);
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

    #[test]
    fn lcs_matches_redis() {
        let (s, ranges) = lcs_compute(b"ohmytext", b"mynewtext", 1 << 20).unwrap_or_default();
        assert_eq!(s, b"mytext");
        assert_eq!(ranges, vec![(4, 7, 5, 8), (2, 3, 0, 1)]);
        let (s, ranges) = lcs_compute(b"", b"abc", 1 << 20).unwrap_or_default();
        assert!(s.is_empty() && ranges.is_empty());
        assert_eq!(
            lcs_compute(&[b'a'; 100], &[b'a'; 100], 1000),
            Err(LCS_OVER_LIMIT)
        );
    }
}
