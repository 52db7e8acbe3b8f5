//! XADD, XTRIM, XDEL, XSETID, and the plain reads XRANGE, XREVRANGE, XLEN.

use bytes::Bytes;

use super::{entry_reply, id_reply, parse_bound, parse_strict_id};
use crate::commands::access::{get_stream, get_stream_mut, stream_or_create};
use crate::commands::errors::{self, CmdError};
use crate::commands::Ctx;
use crate::config::notify::STREAM;
use crate::keyspace::stream::{AddError, NodeLimits, Stream, StreamId, Trim};
use crate::protocol::Reply;

/// XADD / XTRIM options (redis `streamAddTrimArgs`).
struct TrimArgs {
    how: Option<Trim>,
    approx: bool,
    limit: u64,
    /// Position of the MAXLEN / MINID value (rewritten after an approximate trim).
    arg_at: usize,
    /// XADD: the explicit ID and whether its sequence was given.
    id: Option<(StreamId, bool)>,
    nomkstream: bool,
    /// XADD: position of the ID.
    id_at: usize,
}

const BOTH: &str = "syntax error, MAXLEN and MINID options at the same time are not compatible";

/// redis `streamParseAddOrTrimArgsOrReply`.
fn parse_trim_args(cx: &Ctx, xadd: bool) -> Result<TrimArgs, CmdError> {
    let argv = cx.argv;
    let mut a = TrimArgs {
        how: None,
        approx: false,
        limit: 0,
        arg_at: 0,
        id: None,
        nomkstream: false,
        id_at: argv.len(),
    };
    let mut limit_given = false;
    let mut i = 2;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        let opt = &argv[i];
        let is = |w: &str| opt.eq_ignore_ascii_case(w.as_bytes());
        if xadd && &opt[..] == b"*" {
            break;
        } else if (is("maxlen") || is("minid")) && more > 0 {
            if a.how.is_some() {
                return Err(CmdError::err(BOTH));
            }
            a.approx = false;
            let next = &argv[i + 1][..];
            if more >= 2 && next == b"~" {
                a.approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            let raw = &argv[i + 1];
            a.how = Some(if is("maxlen") {
                let n = crate::util::parse_i64(raw).ok_or(errors::NOT_INTEGER)?;
                if n < 0 {
                    return Err(CmdError::err("The MAXLEN argument must be >= 0."));
                }
                Trim::MaxLen(n as u64)
            } else {
                Trim::MinId(parse_strict_id(raw)?)
            });
            i += 1;
            a.arg_at = i;
        } else if is("limit") && more > 0 {
            let n = crate::util::parse_i64(&argv[i + 1]).ok_or(errors::NOT_INTEGER)?;
            if n < 0 {
                return Err(CmdError::err("The LIMIT argument must be >= 0."));
            }
            a.limit = n as u64;
            limit_given = true;
            i += 1;
        } else if xadd && is("nomkstream") {
            a.nomkstream = true;
        } else if xadd {
            a.id = Some(super::parse_id_full(opt, 0, true, true)?);
            break;
        } else {
            return Err(errors::SYNTAX);
        }
        i += 1;
    }
    a.id_at = i;
    if a.limit != 0 && a.how.is_none() {
        return Err(CmdError::err(
            "syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && a.how.is_none() {
        return Err(CmdError::err(
            "syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    if cx.client.is_master_link {
        // Trims from the master or the AOF were rewritten to be exact: no cap.
        a.limit = 0;
    } else if limit_given {
        if !a.approx {
            return Err(CmdError::err(
                "syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
    } else if a.approx {
        let per_node = cx.server.config.read().stream_node_max_entries;
        let limit = per_node.saturating_mul(100);
        a.limit = if limit <= 0 {
            10_000
        } else {
            limit.min(1_000_000) as u64
        };
    } else {
        a.limit = 0;
    }
    Ok(a)
}

/// After an approximate trim, the argv to propagate says exactly where it stopped (redis
/// `streamRewriteTrimArgument`): `= <length>` or `= <first ID, tombstones included>`.
fn rewrite_trim(argv: &mut [Bytes], a: &TrimArgs, s: &Stream) {
    argv[a.arg_at - 1] = Bytes::from_static(b"=");
    argv[a.arg_at] = match a.how {
        Some(Trim::MaxLen(_)) => super::bulk_i64(s.len() as i64),
        _ => s.edge_id(true, false).to_bytes(),
    };
}

/// `stream-node-max-bytes` / `-entries`, read when a node may close (as HLL reads
/// `hll-sparse-max-bytes`).
fn node_limits(cx: &Ctx) -> NodeLimits {
    let c = cx.server.config.read();
    NodeLimits {
        max_bytes: c.stream_node_max_bytes as usize,
        max_entries: c.stream_node_max_entries,
    }
}

pub fn xadd(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let a = parse_trim_args(cx, true)?;
    let argv = cx.argv;
    let fields_at = a.id_at + 1;
    if argv.len() < fields_at + 2 || (argv.len() - fields_at) % 2 == 1 {
        return Err(CmdError::wrong_arity("xadd"));
    }
    if let Some((id, true)) = a.id {
        if id.is_zero() {
            return Err(CmdError::err(
                "The ID specified in XADD must be greater than 0-0",
            ));
        }
    }
    let limits = node_limits(cx);
    let now = cx.db.now_ms.max(0) as u64;
    let key = &argv[1];
    if a.nomkstream && get_stream_mut(cx.db, key)?.is_none() {
        return Ok(Reply::Nil);
    }
    let s = stream_or_create(cx.db, key)?;
    if s.last_id == StreamId::MAX {
        return Err(CmdError::err(
            "The stream has exhausted the last possible ID, unable to add more items",
        ));
    }
    let id = match s.add(&argv[fields_at..], a.id, now, limits) {
        Ok(id) => id,
        Err(AddError::NotGreater) => {
            return Err(CmdError::err(
                "The ID specified in XADD is equal or smaller than the target stream top item",
            ))
        }
        Err(AddError::TooLarge) => {
            return Err(CmdError::err("Elements are too large to be stored"))
        }
    };
    let mut trimmed = 0;
    let mut prop = argv.to_vec();
    if let Some(how) = a.how {
        trimmed = s.trim(how, a.approx, a.limit);
        if a.approx {
            rewrite_trim(&mut prop, &a, s);
        }
    }
    if !matches!(a.id, Some((_, true))) {
        prop[a.id_at] = id.to_bytes();
    }
    cx.db.touch(key);
    cx.db.event(STREAM, "xadd", key);
    if trimmed > 0 {
        cx.db.event(STREAM, "xtrim", key);
    }
    cx.propagate_as(prop);
    Ok(id_reply(id))
}

pub fn xtrim(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let a = parse_trim_args(cx, false)?;
    let key = &cx.argv[1];
    let Some(s) = get_stream_mut(cx.db, key)? else {
        return Ok(Reply::Int(0));
    };
    let Some(how) = a.how else {
        return Ok(Reply::Int(0));
    };
    let deleted = s.trim(how, a.approx, a.limit);
    if deleted > 0 {
        let mut prop = cx.argv.to_vec();
        if a.approx {
            rewrite_trim(&mut prop, &a, s);
        }
        cx.db.event(STREAM, "xtrim", key);
        cx.db.touch(key);
        cx.propagate_as(prop);
    }
    Ok(Reply::Int(deleted as i64))
}

fn xrange_generic(cx: &mut Ctx, rev: bool) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let (start_raw, end_raw) = if rev {
        (&argv[3], &argv[2])
    } else {
        (&argv[2], &argv[3])
    };
    let start = parse_bound(start_raw, 0, true)?;
    let end = parse_bound(end_raw, u64::MAX, false)?;
    let mut count: i64 = -1;
    let mut j = 4;
    while j < argv.len() {
        if argv[j].eq_ignore_ascii_case(b"count") && j + 1 < argv.len() {
            count = crate::util::parse_i64(&argv[j + 1])
                .ok_or(errors::NOT_INTEGER)?
                .max(0);
            j += 2;
        } else {
            return Err(errors::SYNTAX);
        }
    }
    let Some(s) = get_stream(cx.db, &argv[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    if count == 0 {
        return Ok(Reply::NilArray);
    }
    let limit = if count < 0 {
        usize::MAX
    } else {
        count as usize
    };
    Ok(Reply::Array(
        s.range(start, end, rev)
            .take(limit)
            .map(|it| entry_reply(&it))
            .collect(),
    ))
}

pub fn xrange(cx: &mut Ctx) -> Result<Reply, CmdError> {
    xrange_generic(cx, false)
}

pub fn xrevrange(cx: &mut Ctx) -> Result<Reply, CmdError> {
    xrange_generic(cx, true)
}

pub fn xlen(cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(Reply::Int(
        get_stream(cx.db, &cx.argv[1])?.map_or(0, |s| s.len() as i64),
    ))
}

pub fn xdel(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let key = &cx.argv[1];
    if get_stream_mut(cx.db, key)?.is_none() {
        return Ok(Reply::Int(0));
    }
    let ids = cx.argv[2..]
        .iter()
        .map(|raw| parse_strict_id(raw))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(s) = get_stream_mut(cx.db, key)? else {
        return Ok(Reply::Int(0));
    };
    let deleted = s.delete_ids(&ids);
    if deleted > 0 {
        cx.db.touch(key);
        cx.db.event(STREAM, "xdel", key);
        cx.propagate();
    }
    Ok(Reply::Int(deleted as i64))
}

pub fn xsetid(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let id = parse_strict_id(&argv[2])?;
    let mut entries_added: i64 = -1;
    let mut max_deleted = StreamId::MIN;
    let mut i = 3;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        if argv[i].eq_ignore_ascii_case(b"entriesadded") && more > 0 {
            entries_added = crate::util::parse_i64(&argv[i + 1]).ok_or(errors::NOT_INTEGER)?;
            if entries_added < 0 {
                return Err(CmdError::err("entries_added must be positive"));
            }
        } else if argv[i].eq_ignore_ascii_case(b"maxdeletedid") && more > 0 {
            max_deleted = parse_strict_id(&argv[i + 1])?;
            if id < max_deleted {
                return Err(CmdError::err(
                    "The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
        } else {
            return Err(errors::SYNTAX);
        }
        i += 2;
    }
    let key = &argv[1];
    let Some(s) = get_stream_mut(cx.db, key)? else {
        return Err(errors::NO_SUCH_KEY);
    };
    if !s.is_empty() {
        if id < s.last_valid_id() {
            return Err(CmdError::err(
                "The ID specified in XSETID is smaller than the target stream top item",
            ));
        }
        if entries_added != -1 && s.len() > entries_added as u64 {
            return Err(CmdError::err(
                "The entries_added specified in XSETID is smaller than the target stream length",
            ));
        }
    }
    s.last_id = id;
    if entries_added != -1 {
        s.entries_added = entries_added as u64;
    }
    if !max_deleted.is_zero() {
        s.max_deleted = max_deleted;
    }
    cx.db.event(STREAM, "xsetid", key);
    cx.propagate();
    Ok(Reply::OK)
}
