//! XREAD and XREADGROUP (redis `xreadCommand`), their blocking, and the delivery of entries
//! to a consumer group (`streamReplyWithRange` with a group, and its history form).
//!
//! A blocked reader is remembered as `XREAD COUNT n STREAMS key... id...` (`$` replaced by
//! the ID it stood for, COUNT defaulting to 1000 as Redis's `xread_count`), or the same with
//! `GROUP g c` and `>`. When one of its keys is written the waiter runs that command for the
//! key alone with `serving_blocked` set, and `serve_blocked` applies Redis's rules for blocked
//! stream clients: served only once the stream's last ID passes the one waited for (the
//! group's last delivered ID for `>`), failing with `-NOGROUP` once the group is gone and
//! with `-UNBLOCKED` once the key is no longer a stream.

use bytes::Bytes;

use super::{entry_by_id, entry_reply, id_reply, parse_strict_id};
use crate::commands::errors::{self, CmdError};
use crate::commands::Ctx;
use crate::config::notify::STREAM;
use crate::keyspace::stream::{Group, Stream, StreamId, INVALID_READ};
use crate::keyspace::Value;
use crate::protocol::encode::Resp;
use crate::protocol::Reply;

/// `COUNT` of a blocked reader that gave none (redis `XREAD_BLOCKED_DEFAULT_COUNT`).
const BLOCKED_DEFAULT_COUNT: i64 = 1000;

/// Where STREAMS is (redis `xreadGetKeys`): the options before it are skipped by shape.
fn streams_pos(argv: &[Bytes]) -> Option<usize> {
    let mut i = 1;
    while i < argv.len() {
        let a = &argv[i];
        if a.eq_ignore_ascii_case(b"block") || a.eq_ignore_ascii_case(b"count") {
            i += 1;
        } else if a.eq_ignore_ascii_case(b"group") {
            i += 2;
        } else if a.eq_ignore_ascii_case(b"noack") {
        } else if a.eq_ignore_ascii_case(b"streams") {
            return Some(i);
        } else {
            return None;
        }
        i += 1;
    }
    None
}

/// Key positions of XREAD / XREADGROUP.
pub fn stream_keys(argv: &[Bytes]) -> Vec<usize> {
    let Some(pos) = streams_pos(argv) else {
        return Vec::new();
    };
    let num = argv.len() - pos - 1;
    if num == 0 || num % 2 != 0 {
        return Vec::new();
    }
    (pos + 1..pos + 1 + num / 2).collect()
}

/// The form of a remembered blocked reader that reads `key` alone (its first ID for it).
pub fn single_key_form(argv: &[Bytes], key: &Bytes) -> Vec<Bytes> {
    let keys = stream_keys(argv);
    let (Some(&first), Some(i)) = (keys.first(), keys.iter().position(|&p| argv[p] == *key)) else {
        return argv.to_vec();
    };
    let mut out = argv[..first].to_vec();
    out.push(key.clone());
    out.push(argv[keys[i] + keys.len()].clone());
    out
}

struct ReadArgs {
    timeout_ms: Option<u64>,
    count: i64,
    group: Option<(Bytes, Bytes)>,
    noack: bool,
    streams_at: usize,
    n: usize,
}

fn parse(cx: &Ctx, xreadgroup: bool) -> Result<ReadArgs, CmdError> {
    let argv = cx.argv;
    let mut a = ReadArgs {
        timeout_ms: None,
        count: 0,
        group: None,
        noack: false,
        streams_at: 0,
        n: 0,
    };
    let mut i = 1;
    while i < argv.len() {
        let more = argv.len() - i - 1;
        let o = &argv[i];
        let is = |w: &str| o.eq_ignore_ascii_case(w.as_bytes());
        if is("block") && more > 0 {
            if cx.client.in_script {
                return Err(CmdError::err(format_args!(
                    "{} command is not allowed with BLOCK option from scripts",
                    String::from_utf8_lossy(&argv[0])
                )));
            }
            i += 1;
            let t = crate::util::parse_i64(&argv[i]).ok_or(errors::TIMEOUT_NOT_INTEGER)?;
            if t < 0 {
                return Err(errors::TIMEOUT_NEGATIVE);
            }
            a.timeout_ms = Some(t as u64);
        } else if is("count") && more > 0 {
            i += 1;
            a.count = crate::util::parse_i64(&argv[i])
                .ok_or(errors::NOT_INTEGER)?
                .max(0);
        } else if is("streams") && more > 0 {
            a.streams_at = i + 1;
            let rest = argv.len() - a.streams_at;
            if rest % 2 != 0 {
                return Err(CmdError::err(
                    "Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
                ));
            }
            a.n = rest / 2;
            break;
        } else if is("group") && more >= 2 {
            if !xreadgroup {
                return Err(CmdError::err(
                    "The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            a.group = Some((argv[i + 1].clone(), argv[i + 2].clone()));
            i += 2;
        } else if is("noack") {
            if !xreadgroup {
                return Err(CmdError::err(
                    "The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            a.noack = true;
        } else {
            return Err(errors::SYNTAX);
        }
        i += 1;
    }
    if a.streams_at == 0 {
        return Err(errors::SYNTAX);
    }
    if xreadgroup && a.group.is_none() {
        return Err(CmdError::err("Missing GROUP option for XREADGROUP"));
    }
    Ok(a)
}

pub fn xread(cx: &mut Ctx) -> Result<Reply, CmdError> {
    xread_generic(cx, false)
}

pub fn xreadgroup(cx: &mut Ctx) -> Result<Reply, CmdError> {
    xread_generic(cx, true)
}

fn nogroup(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::new(format!(
        "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ))
}

/// The reply holding each served key's entries: an array of pairs in RESP2, a map in RESP3.
fn keyed_reply(resp: Resp, served: Vec<(Bytes, Reply)>) -> Reply {
    match resp {
        Resp::V2 => Reply::Array(
            served
                .into_iter()
                .map(|(k, v)| Reply::Array(vec![Reply::Bulk(k), v]))
                .collect(),
        ),
        _ => Reply::Map(
            served
                .into_iter()
                .map(|(k, v)| (Reply::Bulk(k), v))
                .collect(),
        ),
    }
}

fn xread_generic(cx: &mut Ctx, xreadgroup: bool) -> Result<Reply, CmdError> {
    let a = parse(cx, xreadgroup)?;
    if cx.client.serving_blocked {
        return serve_blocked(cx, &a);
    }
    let argv = cx.argv;
    let keys = &argv[a.streams_at..a.streams_at + a.n];
    let raw_ids = &argv[a.streams_at + a.n..];
    // IDs to read after; MAX stands for ">".
    let mut ids = Vec::with_capacity(a.n);
    for (key, raw) in keys.iter().zip(raw_ids) {
        let s = match cx.db.get(key) {
            None => None,
            Some(Value::Stream(s)) => Some(s),
            Some(_) => return Err(errors::WRONGTYPE),
        };
        if let Some((g, _)) = &a.group {
            if !s.is_some_and(|s| s.groups.contains_key(g)) {
                return Err(nogroup(key, g));
            }
        }
        ids.push(if &raw[..] == b"$" {
            if xreadgroup {
                return Err(CmdError::err("The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set."));
            }
            s.map_or(StreamId::MIN, |s| s.last_id)
        } else if &raw[..] == b">" {
            if !xreadgroup {
                return Err(CmdError::err("The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option."));
            }
            StreamId::MAX
        } else {
            parse_strict_id(raw)?
        });
    }
    let mut served = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let gt = ids[i];
        let Some(Value::Stream(s)) = cx.db.get(key) else {
            continue;
        };
        let from = match &a.group {
            Some((g, _)) => {
                let last = s.groups.get(g).map_or(StreamId::MIN, |g| g.last_id);
                if gt != StreamId::MAX {
                    Some((gt, true))
                } else if !s.is_empty() && s.last_valid_id() > last {
                    Some((last, false))
                } else {
                    None
                }
            }
            None => (!s.is_empty() && s.last_valid_id() > gt).then_some((gt, false)),
        };
        let Some((after, history)) = from else {
            continue;
        };
        let entries = match &a.group {
            None => {
                let start = after.incr().unwrap_or(StreamId::MIN);
                let limit = if a.count == 0 {
                    usize::MAX
                } else {
                    a.count as usize
                };
                Reply::Array(
                    s.range(start, StreamId::MAX, false)
                        .take(limit)
                        .map(|it| entry_reply(&it))
                        .collect(),
                )
            }
            Some((g, c)) => deliver(cx, key, g, c, after, a.count, a.noack, history),
        };
        served.push((key.clone(), entries));
    }
    if !served.is_empty() {
        return Ok(keyed_reply(cx.client.resp, served));
    }
    let Some(timeout) = a.timeout_ms else {
        return Ok(Reply::NilArray);
    };
    // Remember what `$` stood for, and the count a blocked reader gets.
    let mut remembered: Vec<Bytes> = vec![argv[0].clone()];
    if let Some((g, c)) = &a.group {
        remembered.extend([Bytes::from_static(b"GROUP"), g.clone(), c.clone()]);
    }
    let count = if a.count == 0 {
        BLOCKED_DEFAULT_COUNT
    } else {
        a.count
    };
    remembered.extend([Bytes::from_static(b"COUNT"), super::bulk_i64(count)]);
    if a.noack {
        remembered.push(Bytes::from_static(b"NOACK"));
    }
    remembered.push(Bytes::from_static(b"STREAMS"));
    remembered.extend(keys.iter().cloned());
    for (id, raw) in ids.iter().zip(raw_ids) {
        remembered.push(if &raw[..] == b">" {
            raw.clone()
        } else {
            id.to_bytes()
        });
    }
    crate::commands::blocking::block_as(cx, timeout, Reply::NilArray, remembered)
}

/// A blocked reader's turn (its single-key form), by Redis's rules for blocked streams.
fn serve_blocked(cx: &mut Ctx, a: &ReadArgs) -> Result<Reply, CmdError> {
    let key = &cx.argv[a.streams_at];
    let raw = &cx.argv[a.streams_at + 1];
    let s = match cx.db.get_no_touch(key) {
        Some(Value::Stream(s)) => s,
        _ if a.group.is_some() => {
            return Err(CmdError::fixed("UNBLOCKED the stream key no longer exists"))
        }
        _ => {
            cx.client.would_block = true;
            return Ok(Reply::None);
        }
    };
    let gt = match &a.group {
        Some((g, _)) => match s.groups.get(g) {
            Some(g) => g.last_id,
            None => {
                return Err(CmdError::fixed(
                    "NOGROUP the consumer group this client was blocked on no longer exists",
                ))
            }
        },
        None => parse_strict_id(raw)?,
    };
    if s.last_id <= gt {
        cx.client.would_block = true;
        return Ok(Reply::None);
    }
    let entries = match &a.group {
        None => Reply::Array(
            s.range(gt.incr().unwrap_or(StreamId::MIN), StreamId::MAX, false)
                .take(a.count.max(1) as usize)
                .map(|it| entry_reply(&it))
                .collect(),
        ),
        Some((g, c)) => deliver(cx, key, g, c, gt, a.count, a.noack, false),
    };
    Ok(keyed_reply(cx.client.resp, vec![(key.clone(), entries)]))
}

/// Delivers entries after `after` to consumer `c` of group `g` (creating the consumer), or
/// with `history` its own pending entries from `after` on. Records the PEL changes and
/// propagates them as Redis does.
#[allow(clippy::too_many_arguments)]
fn deliver(
    cx: &mut Ctx,
    key: &Bytes,
    g: &Bytes,
    c: &Bytes,
    after: StreamId,
    count: i64,
    noack: bool,
    history: bool,
) -> Reply {
    let now = cx.db.now_ms;
    let limit = if count == 0 {
        usize::MAX
    } else {
        count as usize
    };
    let Some(Value::Stream(s)) = cx.db.get_mut(key) else {
        return Reply::Array(Vec::new());
    };
    let Some((name, mut group)) = s.groups.remove_entry(g) else {
        return Reply::Array(Vec::new());
    };
    let mut effects: Vec<Vec<Bytes>> = Vec::new();
    let mut created = false;
    if !group.touch_consumer(c, now) {
        group.create_consumer(c, now);
        created = true;
        if noack {
            effects.push(vec![
                Bytes::from_static(b"XGROUP"),
                Bytes::from_static(b"CREATECONSUMER"),
                key.clone(),
                g.clone(),
                c.clone(),
            ]);
        }
    }
    let reply = if history {
        history_reply(s, &mut group, c, after, limit, now)
    } else {
        new_entries(
            s,
            &mut group,
            (key, g, c),
            after,
            limit,
            noack,
            now,
            &mut effects,
        )
    };
    s.groups.insert(name, group);
    if created {
        cx.db.event(STREAM, "xgroup-createconsumer", key);
    }
    for e in effects {
        cx.propagate_as(e);
    }
    reply
}

/// `streamReplyWithRangeFromConsumerPEL`: the consumer's pending entries after `after`,
/// deleted ones as `[id, nil]`; each one served counts as a delivery.
fn history_reply(
    s: &Stream,
    group: &mut Group,
    c: &Bytes,
    after: StreamId,
    limit: usize,
    now: i64,
) -> Reply {
    // Entries after `after`, as for new entries (an overflow wraps to 0-0, as Redis's).
    let start = after.incr().unwrap_or(StreamId::MIN);
    let ids: Vec<StreamId> = group
        .consumers
        .get(c)
        .map(|cons| cons.pel.range(start..).take(limit).copied().collect())
        .unwrap_or_default();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        match entry_by_id(s, id) {
            Some(e) => {
                out.push(e);
                if let Some(n) = group.pel.get_mut(&id) {
                    n.delivery_time = now;
                    n.delivery_count += 1;
                }
            }
            None => out.push(Reply::Array(vec![id_reply(id), Reply::NilArray])),
        }
    }
    Reply::Array(out)
}

/// `streamReplyWithRange` with a group: entries after `after`, advancing the group's last ID
/// and read counter, each one pending for the consumer (unless NOACK) and propagated as
/// XCLAIM; with NOACK the new last ID is propagated as XGROUP SETID.
#[allow(clippy::too_many_arguments)]
fn new_entries(
    s: &Stream,
    group: &mut Group,
    (key, g, c): (&Bytes, &Bytes, &Bytes),
    after: StreamId,
    limit: usize,
    noack: bool,
    now: i64,
    effects: &mut Vec<Vec<Bytes>>,
) -> Reply {
    let start = after.incr().unwrap_or(StreamId::MIN);
    let mut out = Vec::new();
    let mut moved = false;
    for it in s.range(start, StreamId::MAX, false).take(limit) {
        if it.id > group.last_id {
            if group.entries_read != INVALID_READ && !s.range_has_tombstones(Some(it.id), None) {
                group.entries_read += 1;
            } else if s.entries_added > 0 {
                group.entries_read = s.estimate_distance(it.id);
            }
            group.last_id = it.id;
            moved = true;
        }
        out.push(entry_reply(&it));
        if !noack {
            let nack = group.assign(it.id, c, now);
            nack.delivery_time = now;
            nack.delivery_count = 1;
            let (time, count) = (nack.delivery_time, nack.delivery_count);
            effects.push(xclaim_effect(key, g, c, it.id, time, count, group.last_id));
        }
    }
    if noack && moved {
        effects.push(setid_effect(key, g, group));
    }
    Reply::Array(out)
}

/// The XCLAIM that recreates one NACK on a replica (redis `streamPropagateXCLAIM`).
pub(super) fn xclaim_effect(
    key: &Bytes,
    g: &Bytes,
    c: &Bytes,
    id: StreamId,
    time: i64,
    count: u64,
    last_id: StreamId,
) -> Vec<Bytes> {
    vec![
        Bytes::from_static(b"XCLAIM"),
        key.clone(),
        g.clone(),
        c.clone(),
        Bytes::from_static(b"0"),
        id.to_bytes(),
        Bytes::from_static(b"TIME"),
        super::bulk_i64(time),
        Bytes::from_static(b"RETRYCOUNT"),
        super::bulk_i64(count as i64),
        Bytes::from_static(b"FORCE"),
        Bytes::from_static(b"JUSTID"),
        Bytes::from_static(b"LASTID"),
        last_id.to_bytes(),
    ]
}

/// `XGROUP SETID key group last-id ENTRIESREAD n` (redis `streamPropagateGroupID`).
pub(super) fn setid_effect(key: &Bytes, g: &Bytes, group: &Group) -> Vec<Bytes> {
    vec![
        Bytes::from_static(b"XGROUP"),
        Bytes::from_static(b"SETID"),
        key.clone(),
        g.clone(),
        group.last_id.to_bytes(),
        Bytes::from_static(b"ENTRIESREAD"),
        super::bulk_i64(group.entries_read),
    ]
}
