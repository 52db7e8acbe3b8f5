//! OBJECT ENCODING | FREQ | IDLETIME | REFCOUNT | HELP (redis `object.c`).
//!
//! Every lookup here is a `LOOKUP_NOTOUCH` read: inspecting a key never refreshes its access
//! clock, so `OBJECT IDLETIME` after `OBJECT ENCODING` still reports the real idle time.

use super::super::errors::CmdError;
use super::super::server_cmds::container;
use super::super::spec::{Group, Spec, LOADING, READONLY, STALE};
use super::super::Ctx;
use crate::config::MaxmemoryPolicy;
use crate::keyspace::{Access, Str, Value};
use crate::protocol::Reply;

pub(super) const OBJECT: Spec = Spec::new("object", -2, 0, Group::Generic, container).subs(SUBS);

const SUBS: &[Spec] = &[
    Spec::new("object|help", 2, LOADING | STALE, Group::Generic, help),
    Spec::new("object|encoding", 3, READONLY, Group::Generic, encoding).keys(2, 2, 1),
    Spec::new("object|freq", 3, READONLY, Group::Generic, freq).keys(2, 2, 1),
    Spec::new("object|idletime", 3, READONLY, Group::Generic, idletime).keys(2, 2, 1),
    Spec::new("object|refcount", 3, READONLY, Group::Generic, refcount).keys(2, 2, 1),
];

const HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
];

/// Integers below this are redis's shared objects (`OBJ_SHARED_INTEGERS`).
const SHARED_INTEGERS: i64 = 10_000;
/// The refcount redis reports for shared objects (`OBJ_SHARED_REFCOUNT` = INT_MAX).
const SHARED_REFCOUNT: i64 = i32::MAX as i64;
fn help(_cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(Reply::Array(
        HELP.iter().map(|l| Reply::status(l)).collect(),
    ))
}

fn lfu_policy(cx: &Ctx) -> bool {
    cx.db.access.lfu
}

fn encoding(cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(cx
        .db
        .get_no_touch(&cx.argv[2])
        .map_or(Reply::Nil, |v| Reply::bulk_str(v.encoding())))
}

/// Shared integers (0..10000 when maxmemory does not use an LRU/LFU policy) report INT_MAX,
/// everything else 1.
fn refcount(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let shared_ints = {
        let c = cx.server.config.read();
        c.maxmemory == 0
            || !matches!(
                c.maxmemory_policy,
                MaxmemoryPolicy::AllkeysLru
                    | MaxmemoryPolicy::VolatileLru
                    | MaxmemoryPolicy::AllkeysLfu
                    | MaxmemoryPolicy::VolatileLfu
            )
    };
    let Some(v) = cx.db.get_no_touch(&cx.argv[2]) else {
        return Ok(Reply::Nil);
    };
    Ok(Reply::Int(match v {
        Value::Str(Str::Int(i)) if shared_ints && (0..SHARED_INTEGERS).contains(i) => {
            SHARED_REFCOUNT
        }
        _ => 1,
    }))
}

/// Seconds since the key was last accessed (its LRU clock).
fn idletime(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let key = &cx.argv[2];
    if cx.db.get_no_touch(key).is_none() {
        return Ok(Reply::Nil);
    }
    if lfu_policy(cx) {
        return Err(CmdError::err("An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
    }
    let now = cx.db.now_ms;
    let clock = cx.db.entry_clock(key).unwrap_or(cx.db.access.fresh(now));
    Ok(Reply::Int(i64::from(Access::idle_secs(clock, now))))
}

/// The LFU counter, decayed as redis `LFUDecrAndReturn` does. Under an LFU policy the entry's
/// clock holds redis's layout: 16 bits of access time in minutes, then an 8-bit log counter.
fn freq(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let key = &cx.argv[2];
    if cx.db.get_no_touch(key).is_none() {
        return Ok(Reply::Nil);
    }
    if !lfu_policy(cx) {
        return Err(CmdError::err("An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
    }
    let now = cx.db.now_ms;
    let lru = cx.db.entry_clock(key).unwrap_or(cx.db.access.fresh(now));
    Ok(Reply::Int(i64::from(cx.db.access.counter(lru, now))))
}
