//! XGROUP (CREATE, SETID, DESTROY, CREATECONSUMER, DELCONSUMER, HELP), XACK, XPENDING.

use bytes::Bytes;

use super::{id_reply, parse_bound, parse_id, parse_strict_id};
use crate::commands::access::{get_stream, get_stream_mut, stream_or_create};
use crate::commands::admin::{help_reply, subcommand_syntax_error};
use crate::commands::errors::{self, CmdError};
use crate::commands::Ctx;
use crate::config::notify::STREAM;
use crate::keyspace::stream::{Group, StreamId, INVALID_READ};
use crate::protocol::Reply;

pub fn xgroup_help(_cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(help_reply(
        "XGROUP",
        &[
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
        ],
    ))
}

fn nogroup_for_key(group: &[u8], key: &[u8]) -> CmdError {
    CmdError::new(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        String::from_utf8_lossy(group),
        String::from_utf8_lossy(key)
    ))
}

/// redis `xgroupCommand` (the dispatcher already checked the subcommand's arity).
pub fn xgroup(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let sub = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
    let (create, setid) = (sub == "create", sub == "setid");
    let mut mkstream = false;
    let mut entries_read = INVALID_READ;
    let mut i = 5;
    while i < argv.len() {
        if create && argv[i].eq_ignore_ascii_case(b"mkstream") {
            mkstream = true;
            i += 1;
        } else if (create || setid)
            && argv[i].eq_ignore_ascii_case(b"entriesread")
            && i + 1 < argv.len()
        {
            entries_read = crate::util::parse_i64(&argv[i + 1]).ok_or(errors::NOT_INTEGER)?;
            if entries_read < 0 && entries_read != INVALID_READ {
                return Err(CmdError::err(
                    "value for ENTRIESREAD must be positive or -1",
                ));
            }
            i += 2;
        } else {
            return Err(subcommand_syntax_error(cx));
        }
    }
    let key = &argv[2];
    let name = &argv[3];
    let exists = get_stream_mut(cx.db, key)?.is_some();
    if !mkstream {
        let Some(s) = get_stream_mut(cx.db, key)? else {
            return Err(CmdError::err("The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically."));
        };
        if !s.groups.contains_key(name)
            && matches!(sub.as_str(), "setid" | "createconsumer" | "delconsumer")
        {
            return Err(nogroup_for_key(name, key));
        }
    }
    let now = cx.db.now_ms;
    match sub.as_str() {
        "create" if argv.len() <= 8 => {
            let id = if &argv[4][..] == b"$" {
                None
            } else {
                Some(parse_strict_id(&argv[4])?)
            };
            let s = stream_or_create(cx.db, key)?;
            let id = id.unwrap_or(s.last_id);
            if s.groups.contains_key(name) {
                return Err(CmdError::fixed(
                    "BUSYGROUP Consumer Group name already exists",
                ));
            }
            // A copy: the argument would keep its request's read buffer alive.
            s.groups
                .insert(Bytes::copy_from_slice(name), Group::new(id, entries_read));
            if !exists {
                cx.db.touch(key);
            }
            cx.db.event(STREAM, "xgroup-create", key);
            cx.propagate();
            Ok(Reply::OK)
        }
        "setid" if argv.len() == 5 || argv.len() == 7 => {
            let id = if &argv[4][..] == b"$" {
                None
            } else {
                Some(parse_id(&argv[4], 0)?)
            };
            let Some(s) = get_stream_mut(cx.db, key)? else {
                return Err(nogroup_for_key(name, key));
            };
            let last = s.last_id;
            if let Some(g) = s.groups.get_mut(name) {
                g.last_id = id.unwrap_or(last);
                g.entries_read = entries_read;
            }
            cx.db.event(STREAM, "xgroup-setid", key);
            cx.propagate();
            Ok(Reply::OK)
        }
        "destroy" if argv.len() == 4 => {
            let gone = get_stream_mut(cx.db, key)?.and_then(|s| s.groups.remove(name));
            if gone.is_none() {
                return Ok(Reply::Int(0));
            }
            cx.db.event(STREAM, "xgroup-destroy", key);
            cx.propagate();
            Ok(Reply::Int(1))
        }
        "createconsumer" if argv.len() == 5 => {
            let created = get_stream_mut(cx.db, key)?
                .and_then(|s| s.groups.get_mut(name))
                .is_some_and(|g| g.create_consumer(&argv[4], now));
            if created {
                cx.db.event(STREAM, "xgroup-createconsumer", key);
                cx.propagate();
            }
            Ok(Reply::Int(i64::from(created)))
        }
        "delconsumer" if argv.len() == 5 => {
            let pending = get_stream_mut(cx.db, key)?
                .and_then(|s| s.groups.get_mut(name))
                .and_then(|g| g.delete_consumer(&argv[4]));
            let Some(pending) = pending else {
                return Ok(Reply::Int(0));
            };
            cx.db.event(STREAM, "xgroup-delconsumer", key);
            cx.propagate();
            Ok(Reply::Int(pending as i64))
        }
        _ => Err(subcommand_syntax_error(cx)),
    }
}

pub fn xack(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let has_group = get_stream(cx.db, &argv[1])?.is_some_and(|s| s.groups.contains_key(&argv[2]));
    if !has_group {
        return Ok(Reply::Int(0));
    }
    let ids = argv[3..]
        .iter()
        .map(|raw| parse_strict_id(raw))
        .collect::<Result<Vec<_>, _>>()?;
    let acked = match get_stream_mut(cx.db, &argv[1])?.and_then(|s| s.groups.get_mut(&argv[2])) {
        Some(g) => ids.iter().filter(|&&id| g.ack(id)).count(),
        None => 0,
    };
    if acked > 0 {
        cx.propagate();
    }
    Ok(Reply::Int(acked as i64))
}

pub fn xpending(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let argc = argv.len();
    if argc != 3 && !(6..=9).contains(&argc) {
        return Err(errors::SYNTAX);
    }
    let mut range = None;
    if argc >= 6 {
        let mut at = 3;
        let mut min_idle = 0;
        if argv[3].eq_ignore_ascii_case(b"idle") {
            min_idle = crate::util::parse_i64(&argv[4]).ok_or(errors::NOT_INTEGER)?;
            if argc < 8 {
                return Err(errors::SYNTAX);
            }
            at += 2;
        }
        let count = crate::util::parse_i64(&argv[at + 2])
            .ok_or(errors::NOT_INTEGER)?
            .max(0);
        let start = parse_bound(&argv[at], 0, true)?;
        let end = parse_bound(&argv[at + 1], u64::MAX, false)?;
        range = Some((start, end, count, min_idle, argv.get(at + 3).cloned()));
    }
    let (key, name) = (&argv[1], &argv[2]);
    let Some(g) = get_stream(cx.db, key)?.and_then(|s| s.groups.get(name)) else {
        return Err(CmdError::new(format!(
            "NOGROUP No such key '{}' or consumer group '{}'",
            String::from_utf8_lossy(key),
            String::from_utf8_lossy(name)
        )));
    };
    let Some((start, end, mut count, min_idle, consumer)) = range else {
        return Ok(summary(g));
    };
    let now = crate::util::now_ms();
    let ids: Box<dyn Iterator<Item = StreamId> + '_> = match &consumer {
        Some(c) => match g.consumers.get(c) {
            Some(c) => Box::new(c.pel.range(start..).copied()),
            None => return Ok(Reply::Array(Vec::new())),
        },
        None => Box::new(g.pel.range(start..).map(|(id, _)| *id)),
    };
    let mut out = Vec::new();
    for id in ids {
        if count == 0 || id > end {
            break;
        }
        let Some(nack) = g.pel.get(&id) else { continue };
        let idle = now - nack.delivery_time;
        if min_idle != 0 && idle < min_idle {
            continue;
        }
        count -= 1;
        out.push(Reply::Array(vec![
            id_reply(id),
            Reply::Bulk(Bytes::clone(&nack.consumer)),
            Reply::Int(idle.max(0)),
            Reply::Int(nack.delivery_count as i64),
        ]));
    }
    Ok(Reply::Array(out))
}

/// XPENDING key group: count, smallest and largest pending IDs, and per consumer its count.
fn summary(g: &Group) -> Reply {
    let (Some(first), Some(last)) = (g.pel.first_key(), g.pel.last_key()) else {
        return Reply::Array(vec![Reply::Int(0), Reply::Nil, Reply::Nil, Reply::NilArray]);
    };
    let consumers = g
        .consumers
        .iter()
        .filter(|(_, c)| !c.pel.is_empty())
        .map(|(n, c)| {
            Reply::Array(vec![
                Reply::Bulk(n.clone()),
                Reply::Bulk(Bytes::from(c.pel.len().to_string())),
            ])
        })
        .collect();
    Reply::Array(vec![
        Reply::Int(g.pel.len() as i64),
        id_reply(*first),
        id_reply(*last),
        Reply::Array(consumers),
    ])
}
