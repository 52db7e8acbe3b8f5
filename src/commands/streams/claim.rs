//! XCLAIM and XAUTOCLAIM: moving pending entries to another consumer. Each change is
//! propagated as the idempotent XCLAIM Redis emits (entries deleted meanwhile are dropped
//! from the PEL, and that too goes out as an XCLAIM, which drops them on the replica).

use bytes::Bytes;

use super::read::{setid_effect, xclaim_effect};
use super::{entry_by_id, id_reply, parse_bound, parse_strict_id};
use crate::commands::access::get_stream;
use crate::commands::errors::{self, CmdError};
use crate::commands::Ctx;
use crate::config::notify::STREAM;
use crate::keyspace::stream::{Group, Nack, Stream, StreamId};
use crate::keyspace::Value;
use crate::protocol::Reply;

fn nogroup(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::new(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ))
}

/// Runs `f` on the stream at `key` with group `g` taken out of it (so both can be used).
fn with_group<R>(cx: &mut Ctx, f: impl FnOnce(&Stream, &mut Group) -> R) -> Option<R> {
    let (key, g) = (&cx.argv[1], &cx.argv[2]);
    let Some(Value::Stream(s)) = cx.db.get_mut(key) else {
        return None;
    };
    let (name, mut group) = s.groups.remove_entry(g)?;
    let r = f(s, &mut group);
    s.groups.insert(name, group);
    Some(r)
}

/// Makes `name` the consumer (creating it: `created`), marking it seen.
fn consumer(group: &mut Group, name: &Bytes, now: i64, created: &mut bool) {
    if !group.touch_consumer(name, now) {
        group.create_consumer(name, now);
        *created = true;
    }
}

/// Gives entry `id` to the claiming consumer `name`, which is looked up (or created) on the
/// first claim of the command only (`seen`), as XCLAIM and XAUTOCLAIM do.
fn claim_for<'g>(
    group: &'g mut Group,
    id: StreamId,
    name: &Bytes,
    now: i64,
    seen: &mut bool,
    created: &mut bool,
) -> &'g mut Nack {
    if !*seen {
        consumer(group, name, now, created);
        *seen = true;
    }
    group.assign(id, name, now)
}

pub fn xclaim(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let (key, gname, cname) = (&argv[1], &argv[2], &argv[3]);
    let has_group = get_stream(cx.db, key)?.is_some_and(|s| s.groups.contains_key(gname));
    if !has_group {
        return Err(nogroup(key, gname));
    }
    let min_idle =
        super::int_arg(&argv[4], "ERR Invalid min-idle-time argument for XCLAIM")?.max(0);
    let mut ids = Vec::new();
    let mut j = 5;
    while j < argv.len() {
        match parse_strict_id(&argv[j]) {
            Ok(id) => ids.push((id, argv[j].clone())),
            Err(_) => break,
        }
        j += 1;
    }
    let now = crate::util::now_ms();
    let (mut force, mut justid) = (false, false);
    let mut time: Option<i64> = None;
    let mut retry: Option<i64> = None;
    let mut last_id = StreamId::MIN;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        let opt = &argv[j];
        let is = |w: &str| opt.eq_ignore_ascii_case(w.as_bytes());
        if is("force") {
            force = true;
        } else if is("justid") {
            justid = true;
        } else if is("idle") && more > 0 {
            j += 1;
            let idle = super::int_arg(&argv[j], "ERR Invalid IDLE option argument for XCLAIM")?;
            time = Some(now - idle);
        } else if is("time") && more > 0 {
            j += 1;
            time = Some(super::int_arg(
                &argv[j],
                "ERR Invalid TIME option argument for XCLAIM",
            )?);
        } else if is("retrycount") && more > 0 {
            j += 1;
            retry = Some(super::int_arg(
                &argv[j],
                "ERR Invalid RETRYCOUNT option argument for XCLAIM",
            )?);
        } else if is("lastid") && more > 0 {
            j += 1;
            last_id = parse_strict_id(&argv[j])?;
        } else {
            return Err(CmdError::err(format_args!(
                "Unrecognized XCLAIM option '{}'",
                String::from_utf8_lossy(opt)
            )));
        }
        j += 1;
    }
    let delivery = match time {
        Some(t) if t >= 0 && t <= now => t,
        _ => now,
    };
    let mut effects: Vec<Vec<Bytes>> = Vec::new();
    let mut created = false;
    let reply = with_group(cx, |s, group| {
        let mut propagate_last = false;
        if last_id > group.last_id {
            group.last_id = last_id;
            propagate_last = true;
        }
        let mut out = Vec::new();
        let mut have_consumer = false;
        for (id, raw) in &ids {
            let id = *id;
            let pending = group.pel.get(&id).cloned();
            if !s.exists(id) {
                if let Some(n) = pending {
                    effects.push(xclaim_raw(
                        key,
                        gname,
                        &n.consumer,
                        raw,
                        n.delivery_time,
                        n.delivery_count,
                        group.last_id,
                    ));
                    propagate_last = false;
                    group.ack(id);
                }
                continue;
            }
            let fresh = pending.is_none();
            if fresh && !force {
                continue;
            }
            if let Some(n) = &pending {
                if min_idle != 0 && now - n.delivery_time < min_idle {
                    continue;
                }
            }
            let nack = claim_for(group, id, cname, now, &mut have_consumer, &mut created);
            nack.delivery_time = delivery;
            match retry {
                Some(r) if r >= 0 => nack.delivery_count = r as u64,
                _ if !justid => nack.delivery_count += 1,
                _ => {}
            }
            let (t, c) = (nack.delivery_time, nack.delivery_count);
            out.push(if justid {
                id_reply(id)
            } else {
                entry_by_id(s, id).unwrap_or(Reply::NilArray)
            });
            effects.push(xclaim_raw(key, gname, cname, raw, t, c, group.last_id));
            propagate_last = false;
        }
        if propagate_last {
            effects.push(setid_effect(key, gname, group));
        }
        Reply::Array(out)
    })
    .unwrap_or(Reply::Array(Vec::new()));
    if created {
        cx.db.event(STREAM, "xgroup-createconsumer", key);
    }
    for e in effects {
        cx.propagate_as(e);
    }
    Ok(reply)
}

/// `xclaim_effect` with the ID as the client wrote it (Redis propagates `argv[j]`).
#[allow(clippy::too_many_arguments)]
fn xclaim_raw(
    key: &Bytes,
    g: &Bytes,
    c: &Bytes,
    raw: &Bytes,
    time: i64,
    count: u64,
    last: StreamId,
) -> Vec<Bytes> {
    let mut e = xclaim_effect(key, g, c, StreamId::MIN, time, count, last);
    e[5] = raw.clone();
    e
}

pub fn xautoclaim(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let (key, gname, cname) = (&argv[1], &argv[2], &argv[3]);
    let min_idle = super::int_arg(
        &argv[4],
        "ERR Invalid min-idle-time argument for XAUTOCLAIM",
    )?
    .max(0);
    let start = parse_bound(&argv[5], 0, true)?;
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        if argv[j].eq_ignore_ascii_case(b"count") && more > 0 {
            const MAX: i64 = i64::MAX / 16;
            count = crate::util::parse_i64(&argv[j + 1])
                .filter(|c| (1..=MAX).contains(c))
                .ok_or(CmdError::fixed("ERR COUNT must be > 0"))?;
            j += 1;
        } else if argv[j].eq_ignore_ascii_case(b"justid") {
            justid = true;
        } else {
            return Err(errors::SYNTAX);
        }
        j += 1;
    }
    let has_group = get_stream(cx.db, key)?.is_some_and(|s| s.groups.contains_key(gname));
    if !has_group {
        return Err(nogroup(key, gname));
    }
    let now = crate::util::now_ms();
    let mut effects: Vec<Vec<Bytes>> = Vec::new();
    let mut created = false;
    let reply = with_group(cx, |s, group| {
        let mut attempts = count * 10;
        let mut claimed = Vec::new();
        let mut deleted = Vec::new();
        let mut cursor_from = std::ops::Bound::Included(start);
        let mut have_consumer = false;
        while attempts > 0 && count > 0 {
            attempts -= 1;
            let Some((&id, n)) = group
                .pel
                .range((cursor_from, std::ops::Bound::Unbounded))
                .next()
            else {
                break;
            };
            cursor_from = std::ops::Bound::Excluded(id);
            if !s.exists(id) {
                effects.push(xclaim_effect(
                    key,
                    gname,
                    &n.consumer,
                    id,
                    n.delivery_time,
                    n.delivery_count,
                    group.last_id,
                ));
                group.ack(id);
                deleted.push(id_reply(id));
                count -= 1;
                continue;
            }
            if min_idle != 0 && now - n.delivery_time < min_idle {
                continue;
            }
            let nack = claim_for(group, id, cname, now, &mut have_consumer, &mut created);
            nack.delivery_time = now;
            if !justid {
                nack.delivery_count += 1;
            }
            let (t, c) = (nack.delivery_time, nack.delivery_count);
            claimed.push(if justid {
                id_reply(id)
            } else {
                entry_by_id(s, id).unwrap_or(Reply::NilArray)
            });
            count -= 1;
            effects.push(xclaim_effect(key, gname, cname, id, t, c, group.last_id));
        }
        let next = group
            .pel
            .range((cursor_from, std::ops::Bound::Unbounded))
            .next()
            .map_or(StreamId::MIN, |(id, _)| *id);
        Reply::Array(vec![
            id_reply(next),
            Reply::Array(claimed),
            Reply::Array(deleted),
        ])
    })
    .unwrap_or(Reply::Array(Vec::new()));
    if created {
        cx.db.event(STREAM, "xgroup-createconsumer", key);
    }
    for e in effects {
        cx.propagate_as(e);
    }
    Ok(reply)
}
