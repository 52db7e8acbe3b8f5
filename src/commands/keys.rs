//! Generic keyspace commands (redis `db.c`, `expire.c`, `object.c`, `sort.c`): DEL UNLINK
//! EXISTS TYPE KEYS SCAN RANDOMKEY RENAME RENAMENX COPY MOVE TOUCH, the expiry commands
//! (`keys/expire.rs`), OBJECT (`keys/object.rs`), SCAN's cursor (`keys/scan.rs`) and SORT
//! (`keys/sort.rs`).
//!
//! Lookups follow redis's flavours: read lookups (`get`: hit/miss stats, access clock refreshed),
//! `LOOKUP_NOTOUCH` reads (`get_no_touch`: EXISTS, TYPE, TTL, OBJECT) and write lookups
//! (`get_mut`: no stats). Every one applies lazy expiry, so an expired key is deleted (and `DEL`
//! propagated) on a master before the command sees it.

mod expire;
mod object;
mod scan;
mod sort;

use bytes::Bytes;

use super::args::parse_int;
use super::errors::{self, CmdError};
use super::spec::{Group, Spec, ALL_KEYS, DENYOOM, FAST, READONLY, TOUCHES_ARBITRARY_KEYS, WRITE};
use super::Ctx;
use crate::protocol::Reply;

pub const COMMANDS: &[Spec] = &[
    Spec::new("del", -2, WRITE, Group::Generic, del).keys(1, -1, 1),
    Spec::new("unlink", -2, WRITE | FAST, Group::Generic, unlink).keys(1, -1, 1),
    Spec::new("exists", -2, READONLY | FAST, Group::Generic, exists).keys(1, -1, 1),
    Spec::new("type", 2, READONLY | FAST, Group::Generic, type_cmd).keys(1, 1, 1),
    Spec::new("touch", -2, READONLY | FAST, Group::Generic, touch).keys(1, -1, 1),
    Spec::new("keys", 2, READONLY | ALL_KEYS, Group::Generic, keys),
    Spec::new(
        "scan",
        -2,
        READONLY | ALL_KEYS | TOUCHES_ARBITRARY_KEYS,
        Group::Generic,
        scan::scan,
    ),
    Spec::new(
        "randomkey",
        1,
        READONLY | ALL_KEYS | TOUCHES_ARBITRARY_KEYS,
        Group::Generic,
        randomkey,
    ),
    Spec::new("rename", 3, WRITE, Group::Generic, rename).keys(1, 2, 1),
    Spec::new("renamenx", 3, WRITE | FAST, Group::Generic, renamenx).keys(1, 2, 1),
    Spec::new("copy", -3, WRITE | DENYOOM, Group::Generic, copy).keys(1, 2, 1),
    Spec::new("move", 3, WRITE | FAST, Group::Generic, move_cmd).keys(1, 1, 1),
    Spec::new("expire", -3, WRITE | FAST, Group::Generic, expire::expire).keys(1, 1, 1),
    Spec::new("pexpire", -3, WRITE | FAST, Group::Generic, expire::pexpire).keys(1, 1, 1),
    Spec::new(
        "expireat",
        -3,
        WRITE | FAST,
        Group::Generic,
        expire::expireat,
    )
    .keys(1, 1, 1),
    Spec::new(
        "pexpireat",
        -3,
        WRITE | FAST,
        Group::Generic,
        expire::pexpireat,
    )
    .keys(1, 1, 1),
    Spec::new("ttl", 2, READONLY | FAST, Group::Generic, expire::ttl).keys(1, 1, 1),
    Spec::new("pttl", 2, READONLY | FAST, Group::Generic, expire::pttl).keys(1, 1, 1),
    Spec::new(
        "expiretime",
        2,
        READONLY | FAST,
        Group::Generic,
        expire::expiretime,
    )
    .keys(1, 1, 1),
    Spec::new(
        "pexpiretime",
        2,
        READONLY | FAST,
        Group::Generic,
        expire::pexpiretime,
    )
    .keys(1, 1, 1),
    Spec::new("persist", 2, WRITE | FAST, Group::Generic, expire::persist).keys(1, 1, 1),
    object::OBJECT,
    // SORT's BY and GET patterns name keys that are only known while it runs, so it locks
    // every shard; the declared positions (key, STORE destination) are what COMMAND reports.
    Spec::new(
        "sort",
        -2,
        WRITE | DENYOOM | ALL_KEYS,
        Group::Generic,
        sort::sort,
    )
    .keys_with(1, 1, 1, sort::sort_keys),
    Spec::new(
        "sort_ro",
        -2,
        READONLY | ALL_KEYS,
        Group::Generic,
        sort::sort_ro,
    )
    .keys_with(1, 1, 1, sort::sort_ro_keys),
];

/// `b"DEL"`, the form of a deletion in the replication stream.
fn del_argv(key: &Bytes) -> Vec<Bytes> {
    vec![Bytes::from_static(b"DEL"), key.clone()]
}

/// DEL and UNLINK: the number of keys removed; propagated verbatim when any was.
fn del(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let lazy = cx
        .server
        .hot
        .lazyfree_lazy_user_del
        .load(std::sync::atomic::Ordering::Relaxed);
    del_generic(cx, lazy)
}

fn unlink(cx: &mut Ctx) -> Result<Reply, CmdError> {
    del_generic(cx, true)
}

/// DEL and UNLINK (redis `delGenericCommand`): `lazy` frees large values in the background.
fn del_generic(cx: &mut Ctx, lazy: bool) -> Result<Reply, CmdError> {
    let mut removed = 0;
    for key in &cx.argv[1..] {
        if let Some(v) = cx.db.remove(key) {
            if lazy {
                cx.server.lazyfree.free_value(v);
            }
            cx.db.touch(key);
            removed += 1;
        }
    }
    if removed > 0 {
        cx.propagate();
    }
    Ok(Reply::Int(removed))
}

/// EXISTS counts a key once per time it is named.
fn exists(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let mut n = 0;
    for key in &cx.argv[1..] {
        if cx.db.get_no_touch(key).is_some() {
            n += 1;
        }
    }
    Ok(Reply::Int(n))
}

fn type_cmd(cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(Reply::status(
        cx.db
            .get_no_touch(&cx.argv[1])
            .map_or("none", |v| v.kind().name()),
    ))
}

/// TOUCH: a read lookup of each key (refreshing its access clock); counts the existing ones.
fn touch(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let mut n = 0;
    for key in &cx.argv[1..] {
        if cx.db.get(key).is_some() {
            n += 1;
        }
    }
    Ok(Reply::Int(n))
}

/// KEYS pattern. As in redis 7.0, logically expired keys are skipped but not deleted.
fn keys(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let pattern = &cx.argv[1];
    let all = pattern.as_ref() == b"*";
    let db = cx.db.index;
    let now = cx.db.now_ms;
    let mut out = Vec::new();
    for shard in cx.db.locked.shards_mut() {
        let t = &shard.tables[db];
        for (key, _, expire) in t.iter_full() {
            if !all && !crate::util::glob_match(pattern, key, false) {
                continue;
            }
            if expire.is_some_and(|when| when < now) {
                continue;
            }
            out.push(Reply::Bulk(Bytes::copy_from_slice(key)));
        }
    }
    Ok(Reply::Array(out))
}

fn randomkey(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let db = cx.db.index;
    Ok(cx.db.random_key(db).map_or(Reply::Nil, Reply::Bulk))
}

fn rename(cx: &mut Ctx) -> Result<Reply, CmdError> {
    rename_generic(cx, false)
}

fn renamenx(cx: &mut Ctx) -> Result<Reply, CmdError> {
    rename_generic(cx, true)
}

/// RENAME / RENAMENX: the value moves with its expiry; an existing destination is replaced
/// (RENAME) or left alone (RENAMENX replies 0). Renaming a key to itself only checks that it
/// exists.
fn rename_generic(cx: &mut Ctx, nx: bool) -> Result<Reply, CmdError> {
    let (src, dst) = (&cx.argv[1], &cx.argv[2]);
    if cx.db.get_mut(src).is_none() {
        return Err(errors::NO_SUCH_KEY);
    }
    let done = |nx: bool, ok: bool| match (nx, ok) {
        (true, ok) => Reply::Int(i64::from(ok)),
        (false, _) => Reply::OK,
    };
    if src == dst {
        return Ok(done(nx, false));
    }
    let expire = cx.db.expire_at(src);
    if nx && cx.db.get_mut(dst).is_some() {
        return Ok(Reply::Int(0));
    }
    let Some(value) = cx.db.remove(src) else {
        return Err(errors::NO_SUCH_KEY);
    };
    cx.db.set(dst, value);
    if let Some(at) = expire {
        cx.db.set_expire(dst, at);
    }
    cx.db.touch(src);
    cx.db.touch(dst);
    cx.propagate();
    Ok(done(nx, true))
}

/// A database number as redis's `getIntFromObjectOrReply` then `selectDb` check it.
fn db_arg(cx: &Ctx, raw: &[u8]) -> Result<usize, CmdError> {
    let n = parse_int(raw)?;
    let n = i32::try_from(n).map_err(|_| {
        CmdError::err("value is out of range, value must between -2147483648 and 2147483647")
    })?;
    usize::try_from(n)
        .ok()
        .filter(|&d| d < cx.db.databases())
        .ok_or(errors::DB_INDEX)
}

/// COPY source destination [DB n] [REPLACE]: 1 if copied (with the source's expiry).
fn copy(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let src_db = cx.db.index;
    let mut dst_db = src_db;
    let mut replace = false;
    let mut i = 3;
    while i < argv.len() {
        if argv[i].eq_ignore_ascii_case(b"replace") {
            replace = true;
        } else if argv[i].eq_ignore_ascii_case(b"db") && i + 1 < argv.len() {
            dst_db = db_arg(cx, &argv[i + 1])?;
            i += 1;
        } else {
            return Err(errors::SYNTAX);
        }
        i += 1;
    }
    let (src, dst) = (&argv[1], &argv[2]);
    if src_db == dst_db && src == dst {
        return Err(errors::SAME_OBJECT);
    }
    let Some(value) = cx.db.get(src).cloned() else {
        return Ok(Reply::Int(0));
    };
    let expire = cx.db.expire_at(src);
    if cx.db.get_mut_in(dst_db, dst).is_some() {
        if !replace {
            return Ok(Reply::Int(0));
        }
        cx.db.remove_in(dst_db, dst);
    }
    cx.db.set_in(dst_db, dst, value, false);
    if let Some(at) = expire {
        cx.db.set_expire_in(dst_db, dst, at);
    }
    cx.db.touched.push((dst_db, dst.clone()));
    cx.propagate();
    Ok(Reply::Int(1))
}

/// MOVE key db: 1 if the key moved (with its expiry) to a database where it did not exist.
fn move_cmd(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let key = &cx.argv[1];
    let src_db = cx.db.index;
    let dst_db = db_arg(cx, &cx.argv[2])?;
    if dst_db == src_db {
        return Err(errors::SAME_OBJECT);
    }
    if cx.db.get_mut(key).is_none() {
        return Ok(Reply::Int(0));
    }
    let expire = cx.db.expire_at(key);
    if cx.db.get_mut_in(dst_db, key).is_some() {
        return Ok(Reply::Int(0));
    }
    let Some(value) = cx.db.remove(key) else {
        return Ok(Reply::Int(0));
    };
    cx.db.set_in(dst_db, key, value, false);
    if let Some(at) = expire {
        cx.db.set_expire_in(dst_db, key, at);
    }
    cx.db.touch(key);
    cx.db.touched.push((dst_db, key.clone()));
    cx.propagate();
    Ok(Reply::Int(1))
}
