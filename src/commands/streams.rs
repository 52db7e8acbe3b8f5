//! Stream commands (redis `t_stream.c`): XADD, XRANGE, XREVRANGE, XLEN, XDEL, XTRIM, XSETID
//! (`streams/write.rs`), XREAD and XREADGROUP (`streams/read.rs`), XGROUP, XACK, XPENDING
//! (`streams/groups.rs`), XCLAIM, XAUTOCLAIM (`streams/claim.rs`), XINFO (`streams/info.rs`).
//!
//! Like Redis, commands that change consumer groups propagate their effects rather than
//! themselves: a read through a group as one `XCLAIM ... FORCE JUSTID LASTID` per delivered
//! entry (or `XGROUP SETID` with NOACK), XADD with the ID it generated, `~` trimming as the
//! exact trim it did. The keyspace events are recorded as the command acts (`Db::event`).

mod claim;
mod groups;
mod info;
mod read;
mod write;

pub use read::single_key_form;

use bytes::Bytes;

use super::errors::CmdError;
use super::spec::{Group, Spec, BLOCKING, DENYOOM, FAST, LOADING, READONLY, STALE, WRITE};
use crate::keyspace::stream::node::Item;
use crate::keyspace::stream::{Stream, StreamId};
use crate::protocol::Reply;

pub const COMMANDS: &[Spec] = &[
    Spec::new(
        "xadd",
        -5,
        WRITE | DENYOOM | FAST,
        Group::Stream,
        write::xadd,
    )
    .keys(1, 1, 1),
    Spec::new("xrange", -4, READONLY, Group::Stream, write::xrange).keys(1, 1, 1),
    Spec::new("xrevrange", -4, READONLY, Group::Stream, write::xrevrange).keys(1, 1, 1),
    Spec::new("xlen", 2, READONLY | FAST, Group::Stream, write::xlen).keys(1, 1, 1),
    Spec::new("xdel", -3, WRITE | FAST, Group::Stream, write::xdel).keys(1, 1, 1),
    Spec::new("xtrim", -4, WRITE, Group::Stream, write::xtrim).keys(1, 1, 1),
    Spec::new(
        "xsetid",
        -3,
        WRITE | DENYOOM | FAST,
        Group::Stream,
        write::xsetid,
    )
    .keys(1, 1, 1),
    Spec::new("xread", -4, READONLY | BLOCKING, Group::Stream, read::xread).keys_with(
        0,
        0,
        0,
        read::stream_keys,
    ),
    Spec::new(
        "xreadgroup",
        -7,
        WRITE | BLOCKING,
        Group::Stream,
        read::xreadgroup,
    )
    .keys_with(0, 0, 0, read::stream_keys),
    Spec::new("xack", -4, WRITE | FAST, Group::Stream, groups::xack).keys(1, 1, 1),
    Spec::new("xpending", -3, READONLY, Group::Stream, groups::xpending).keys(1, 1, 1),
    Spec::new("xclaim", -6, WRITE | FAST, Group::Stream, claim::xclaim).keys(1, 1, 1),
    Spec::new(
        "xautoclaim",
        -6,
        WRITE | FAST,
        Group::Stream,
        claim::xautoclaim,
    )
    .keys(1, 1, 1),
    Spec::new(
        "xgroup",
        -2,
        0,
        Group::Stream,
        super::server_cmds::container,
    )
    .subs(XGROUP_SUBS),
    Spec::new("xinfo", -2, 0, Group::Stream, super::server_cmds::container).subs(XINFO_SUBS),
];

const XGROUP_SUBS: &[Spec] = &[
    Spec::new(
        "xgroup|create",
        -5,
        WRITE | DENYOOM,
        Group::Stream,
        groups::xgroup,
    )
    .keys(2, 2, 1),
    Spec::new(
        "xgroup|createconsumer",
        5,
        WRITE | DENYOOM,
        Group::Stream,
        groups::xgroup,
    )
    .keys(2, 2, 1),
    Spec::new(
        "xgroup|delconsumer",
        5,
        WRITE,
        Group::Stream,
        groups::xgroup,
    )
    .keys(2, 2, 1),
    Spec::new("xgroup|destroy", 4, WRITE, Group::Stream, groups::xgroup).keys(2, 2, 1),
    Spec::new("xgroup|setid", -5, WRITE, Group::Stream, groups::xgroup).keys(2, 2, 1),
    Spec::new(
        "xgroup|help",
        2,
        LOADING | STALE,
        Group::Stream,
        groups::xgroup_help,
    ),
];

const XINFO_SUBS: &[Spec] = &[
    Spec::new("xinfo|stream", -3, READONLY, Group::Stream, info::xinfo).keys(2, 2, 1),
    Spec::new("xinfo|groups", 3, READONLY, Group::Stream, info::xinfo).keys(2, 2, 1),
    Spec::new("xinfo|consumers", 4, READONLY, Group::Stream, info::xinfo).keys(2, 2, 1),
    Spec::new(
        "xinfo|help",
        2,
        LOADING | STALE,
        Group::Stream,
        info::xinfo_help,
    ),
];

pub(crate) const INVALID_ID: CmdError =
    CmdError::fixed("ERR Invalid stream ID specified as stream command argument");

/// C's `strtoull` on the whole text (leading blanks, a sign, digits, nothing after; a minus
/// wraps), behind redis `string2ull`'s strict path for plain non-negative numbers.
fn string2ull(s: &[u8]) -> Option<u64> {
    if let Some(v) = crate::util::parse_i64(s) {
        return u64::try_from(v).ok();
    }
    let s = match s
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
    {
        Some(i) => &s[i..],
        None => return None,
    };
    super::args::signed_u64_wrapping(s)
}

/// redis `streamGenericParseIDOrReply`: `-`, `+` (unless `strict`), `<ms>` (sequence
/// `missing_seq`), `<ms>-<seq>`, and with `auto_seq` `<ms>-*`. Returns the ID and whether
/// the sequence was given.
fn parse_id_full(
    raw: &[u8],
    missing_seq: u64,
    strict: bool,
    auto_seq: bool,
) -> Result<(StreamId, bool), CmdError> {
    if raw.len() > 127 {
        return Err(INVALID_ID);
    }
    // The text is a C string: it ends at a NUL byte.
    let buf = &raw[..memchr::memchr(0, raw).unwrap_or(raw.len())];
    if strict && (buf == b"-" || buf == b"+") {
        return Err(INVALID_ID);
    }
    if buf == b"-" {
        return Ok((StreamId::MIN, true));
    }
    if buf == b"+" {
        return Ok((StreamId::MAX, true));
    }
    let (ms_part, seq_part) = match memchr::memchr(b'-', buf) {
        Some(i) => (&buf[..i], Some(&buf[i + 1..])),
        None => (buf, None),
    };
    let ms = string2ull(ms_part).ok_or(INVALID_ID)?;
    match seq_part {
        Some(b"*") if auto_seq => Ok((StreamId::new(ms, 0), false)),
        Some(seq) => Ok((StreamId::new(ms, string2ull(seq).ok_or(INVALID_ID)?), true)),
        None => Ok((StreamId::new(ms, missing_seq), true)),
    }
}

/// An ID where `-` and `+` are accepted.
pub(crate) fn parse_id(raw: &[u8], missing_seq: u64) -> Result<StreamId, CmdError> {
    Ok(parse_id_full(raw, missing_seq, false, false)?.0)
}

/// An ID where `-` and `+` are not accepted (`streamParseStrictIDOrReply`).
pub(crate) fn parse_strict_id(raw: &[u8]) -> Result<StreamId, CmdError> {
    Ok(parse_id_full(raw, 0, true, false)?.0)
}

/// A range bound (`streamParseIntervalIDOrReply`): `(` makes it exclusive, so it moves to the
/// next ID (`next`) or the previous one.
pub(crate) fn parse_bound(raw: &[u8], missing_seq: u64, start: bool) -> Result<StreamId, CmdError> {
    if raw.len() > 1 && raw[0] == b'(' {
        let id = parse_id_full(&raw[1..], missing_seq, true, false)?.0;
        let moved = if start { id.incr() } else { id.decr() };
        return moved.ok_or_else(|| {
            CmdError::err(if start {
                "invalid start ID for the interval"
            } else {
                "invalid end ID for the interval"
            })
        });
    }
    parse_id(raw, missing_seq)
}

/// One entry as replies show it: `[id, [field, value, ...]]`.
pub(crate) fn entry_reply(it: &Item<'_>) -> Reply {
    let mut fv = Vec::with_capacity(it.nfields * 2);
    for (f, v) in it.pairs() {
        fv.push(Reply::Bulk(f.to_bytes()));
        fv.push(Reply::Bulk(v.to_bytes()));
    }
    Reply::Array(vec![Reply::Bulk(it.id.to_bytes()), Reply::Array(fv)])
}

/// The entry `id` as a reply, if it is live.
pub(crate) fn entry_by_id(s: &Stream, id: StreamId) -> Option<Reply> {
    s.range(id, id, false).next().map(|it| entry_reply(&it))
}

pub(crate) fn id_reply(id: StreamId) -> Reply {
    Reply::Bulk(id.to_bytes())
}

/// An integer argument with a custom error text (redis `getLongLongFromObjectOrReply`).
pub(crate) fn int_arg(raw: &[u8], err: &'static str) -> Result<i64, CmdError> {
    crate::util::parse_i64(raw).ok_or(CmdError::fixed(err))
}

pub(crate) fn bulk_i64(v: i64) -> Bytes {
    Bytes::from(itoa::Buffer::new().format(v).to_owned())
}
