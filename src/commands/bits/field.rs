//! BITFIELD and BITFIELD_RO (redis `bitfieldGeneric`).

use bytes::Bytes;

use super::ops::{
    get_signed, get_unsigned, set_unsigned, signed_overflow, unsigned_overflow, Overflow,
};
use super::{c_eq, offset_limit, parse_offset, read_str, write_bits};
use crate::commands::args::parse_int;
use crate::commands::errors::{self, CmdError};
use crate::commands::Ctx;
use crate::protocol::Reply;

const BITFIELD_TYPE: CmdError = CmdError::fixed(
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
);
const OVERFLOW_TYPE: CmdError = CmdError::fixed("ERR Invalid OVERFLOW type specified");
const BITFIELD_RO_WRITE: CmdError =
    CmdError::fixed("ERR BITFIELD_RO only supports the GET subcommand");

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

pub(super) fn bitfield(cx: &mut Ctx) -> Result<Reply, CmdError> {
    bitfield_generic(cx, false)
}

pub(super) fn bitfield_ro(cx: &mut Ctx) -> Result<Reply, CmdError> {
    bitfield_generic(cx, true)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn parse(line: &str) -> Result<(Vec<FieldOp>, Option<u64>), CmdError> {
        let argv: Vec<Bytes> = line
            .split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        parse_bitfield(&argv, 512 << 20)
    }

    #[test]
    fn argument_errors() {
        let offset = Err(errors::BIT_OFFSET);
        assert_eq!(parse("bitfield k GET i8 0 GET").err(), Some(errors::SYNTAX));
        assert_eq!(parse("bitfield k SET i8 0").err(), Some(errors::SYNTAX));
        assert_eq!(parse("bitfield k OVERFLOW").err(), Some(errors::SYNTAX));
        assert_eq!(parse("bitfield k OVERFLOW bad").err(), Some(OVERFLOW_TYPE));
        assert_eq!(parse("bitfield k SET x 0 1").err(), Some(BITFIELD_TYPE));
        assert_eq!(parse("bitfield k SET i8 x 1").map(|_| ()), offset);
        assert_eq!(parse("bitfield k GET i8 #-1").map(|_| ()), offset);
        assert_eq!(parse("bitfield k GET i8 4294967296").map(|_| ()), offset);
        assert_eq!(
            parse("bitfield k SET i8 0 x").err(),
            Some(errors::NOT_INTEGER)
        );
        // Every argument is checked before anything runs.
        assert_eq!(
            parse("bitfield k SET i8 0 1 OVERFLOW bogus").err(),
            Some(OVERFLOW_TYPE)
        );
    }

    #[test]
    fn highest_written_bit() {
        let (ops, highest) = parse("bitfield k GET u8 100 SET i5 #2 1 OVERFLOW SAT INCRBY u3 3 1")
            .unwrap_or_default();
        assert_eq!(ops.len(), 3);
        assert_eq!(highest, Some(14));
        assert_eq!(ops[2].overflow, Overflow::Sat);
        assert_eq!(parse("bitfield k GET u8 100").map(|(_, h)| h), Ok(None));
    }
}
