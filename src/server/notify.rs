//! Keyspace notifications (redis `notify.c`): when `notify-keyspace-events` enables a class,
//! a change to a key is published on `__keyspace@<db>__:<key>` (message: the event) and
//! `__keyevent@<db>__:<event>` (message: the key).
//!
//! [`notify`] publishes one event. [`after_command`] derives the events of a command that ran
//! (the dispatcher calls it while the command's shards are still locked, once per command, and
//! once per queued command inside EXEC) from its name, its arguments and the effects it
//! recorded, with redis's event names and order. Eviction (`evict`) and active expiry publish
//! `evicted` and `expired` themselves. `new` comes from the keys `Db` saw created (recorded
//! only while that class is on). Not derived: `keymiss` events.

use bytes::Bytes;

use super::Server;
use crate::config::notify::*;
use crate::keyspace::Db;

/// Publishes `event` about `key` of database `db` if `class` is enabled; cheap when
/// notifications are off (no config lock).
pub fn notify(server: &Server, class: u32, event: &str, key: &[u8], db: usize) {
    let flags = crate::commands::admin::hot_config(server).notify_flags;
    publish(server, flags, class, event, key, db);
}

fn publish(server: &Server, flags: u32, class: u32, event: &str, key: &[u8], db: usize) {
    if flags & class == 0 || flags & (KEYSPACE | KEYEVENT) == 0 {
        return;
    }
    if flags & KEYSPACE != 0 {
        let mut ch = Vec::with_capacity(16 + key.len());
        ch.extend_from_slice(b"__keyspace@");
        ch.extend_from_slice(itoa::Buffer::new().format(db).as_bytes());
        ch.extend_from_slice(b"__:");
        ch.extend_from_slice(key);
        server.pubsub.publish(
            server,
            &Bytes::from(ch),
            &Bytes::copy_from_slice(event.as_bytes()),
        );
    }
    if flags & KEYEVENT != 0 {
        let mut ch = Vec::with_capacity(16 + event.len());
        ch.extend_from_slice(b"__keyevent@");
        ch.extend_from_slice(itoa::Buffer::new().format(db).as_bytes());
        ch.extend_from_slice(b"__:");
        ch.extend_from_slice(event.as_bytes());
        server
            .pubsub
            .publish(server, &Bytes::from(ch), &Bytes::copy_from_slice(key));
    }
}

/// Whether `argv[i]` equals `word`, ignoring ASCII case.
fn arg_is(argv: &[Bytes], i: usize, word: &str) -> bool {
    argv.get(i)
        .is_some_and(|a| a.eq_ignore_ascii_case(word.as_bytes()))
}

fn any_arg(argv: &[Bytes], from: usize, words: &[&str]) -> bool {
    argv.iter()
        .skip(from)
        .any(|a| words.iter().any(|w| a.eq_ignore_ascii_case(w.as_bytes())))
}

/// Publishes the events of command `name` (`argv` as the client sent it), which recorded
/// `db.effects[from..]` and lazily expired `db.stats.expired - expired_before` keys. `db` is the
/// command's view, still locked; it is only peeked at (no lookup side effects).
pub fn after_command(
    server: &Server,
    name: &str,
    argv: &[Bytes],
    db: &mut Db<'_>,
    from: usize,
    expired_before: u64,
) {
    let recorded = std::mem::take(&mut db.events);
    if (db.effects.len() <= from && recorded.is_empty()) || name == "exec" {
        return;
    }
    let db = &*db;
    let flags = crate::commands::admin::hot_config(server).notify_flags;
    if flags & (KEYSPACE | KEYEVENT) == 0 {
        return;
    }
    // `new` fires when the key is added, before the command's own event (redis `dbAdd`).
    for (d, k) in &db.created {
        publish(server, flags, NEW, "new", k, *d);
    }
    for (d, class, event, k) in &recorded {
        publish(server, flags, *class, event, k, *d);
    }
    if db.effects.len() <= from {
        return;
    }
    let effects = &db.effects[from..];
    // Lazy expiry records `DEL key` before the command's own effects.
    let expired = (db.stats.expired - expired_before) as usize;
    let mut expired_keys: Vec<(usize, &Bytes)> = Vec::new();
    for e in effects.iter().take(expired) {
        if e.argv.len() == 2 && &e.argv[0][..] == b"DEL" {
            publish(server, flags, EXPIRED, "expired", &e.argv[1], e.db);
            expired_keys.push((e.db, &e.argv[1]));
        }
    }
    if effects.len() <= expired_keys.len() {
        return;
    }
    let own = &effects[expired_keys.len()..];
    let dbi = own.first().map_or(db.index, |e| e.db);
    let ev = |class: u32, event: &str, key: &[u8]| publish(server, flags, class, event, key, dbi);
    let gone = |key: &[u8]| db.peek_in(dbi, key).is_none();
    // The "del" a command emits when it leaves a collection empty.
    let del_if_gone = |key: &[u8]| {
        if gone(key) {
            ev(GENERIC, "del", key);
        }
    };
    let key1 = || argv.get(1).map(|k| &k[..]).unwrap_or_default();
    match name {
        "set" => {
            ev(STRING, "set", key1());
            if any_arg(argv, 3, &["ex", "px", "exat", "pxat"]) {
                ev(GENERIC, "expire", key1());
            }
        }
        "setnx" | "getset" => ev(STRING, "set", key1()),
        "setex" | "psetex" => {
            ev(STRING, "set", key1());
            ev(GENERIC, "expire", key1());
        }
        "mset" | "msetnx" => {
            for k in argv.iter().skip(1).step_by(2) {
                ev(STRING, "set", k);
            }
        }
        "append" | "setrange" | "incrbyfloat" | "setbit" => ev(STRING, name, key1()),
        "incr" | "decr" | "incrby" | "decrby" => ev(STRING, "incrby", key1()),
        "bitfield" => ev(STRING, "setbit", key1()),
        "pfadd" | "pfmerge" => ev(STRING, "pfadd", key1()),
        "bitop" => {
            let dst = argv.get(2).map(|k| &k[..]).unwrap_or_default();
            if gone(dst) {
                ev(GENERIC, "del", dst);
            } else {
                ev(STRING, "set", dst);
            }
        }
        "getdel" => ev(GENERIC, "del", key1()),
        "getex" => {
            if gone(key1()) {
                ev(GENERIC, "del", key1());
            } else if any_arg(argv, 2, &["persist"]) {
                ev(GENERIC, "persist", key1());
            } else {
                ev(GENERIC, "expire", key1());
            }
        }
        "del" | "unlink" => {
            for k in &argv[1..] {
                let removed = db.touched.iter().any(|(d, t)| *d == dbi && t == k)
                    && !expired_keys.iter().any(|(d, t)| *d == dbi && *t == k);
                if removed {
                    ev(GENERIC, "del", k);
                }
            }
        }
        "expire" | "pexpire" | "expireat" | "pexpireat" => {
            if gone(key1()) {
                ev(GENERIC, "del", key1());
            } else {
                ev(GENERIC, "expire", key1());
            }
        }
        "persist" => ev(GENERIC, "persist", key1()),
        "rename" | "renamenx" => {
            ev(GENERIC, "rename_from", key1());
            ev(GENERIC, "rename_to", &argv[2]);
        }
        "move" => {
            let to = argv
                .get(2)
                .and_then(|d| crate::util::parse_i64(d))
                .map_or(dbi, |d| d as usize);
            publish(server, flags, GENERIC, "move_from", key1(), dbi);
            publish(server, flags, GENERIC, "move_to", key1(), to);
        }
        "copy" => {
            let mut to = dbi;
            for i in 3..argv.len() {
                if arg_is(argv, i, "db") {
                    if let Some(d) = argv.get(i + 1).and_then(|d| crate::util::parse_i64(d)) {
                        to = d as usize;
                    }
                }
            }
            publish(server, flags, GENERIC, "copy_to", &argv[2], to);
        }
        "restore" => ev(GENERIC, "restore", key1()),
        "sort" => {
            if let Some(i) = (2..argv.len()).find(|&i| arg_is(argv, i, "store")) {
                if let Some(dst) = argv.get(i + 1) {
                    if gone(dst) {
                        ev(GENERIC, "del", dst);
                    } else {
                        ev(LIST, "sortstore", dst);
                    }
                }
            }
        }
        "lpush" | "lpushx" => ev(LIST, "lpush", key1()),
        "rpush" | "rpushx" => ev(LIST, "rpush", key1()),
        "linsert" | "lset" => ev(LIST, name, key1()),
        "ltrim" | "lrem" | "lpop" | "rpop" => {
            ev(LIST, name, key1());
            del_if_gone(key1());
        }
        "rpoplpush" | "lmove" => {
            let (from_left, to_left) = if name == "rpoplpush" {
                (false, true)
            } else {
                (arg_is(argv, 3, "left"), arg_is(argv, 4, "left"))
            };
            ev(LIST, if to_left { "lpush" } else { "rpush" }, &argv[2]);
            ev(LIST, if from_left { "lpop" } else { "rpop" }, key1());
            del_if_gone(key1());
        }
        "lmpop" => {
            let left = any_arg(argv, 2, &["left"]);
            for e in own {
                if let Some(k) = e.argv.get(1) {
                    ev(LIST, if left { "lpop" } else { "rpop" }, k);
                    del_if_gone(k);
                }
            }
        }
        "hset" | "hmset" | "hsetnx" => ev(HASH, "hset", key1()),
        "hincrby" | "hincrbyfloat" => ev(HASH, name, key1()),
        "hdel" => {
            ev(HASH, "hdel", key1());
            del_if_gone(key1());
        }
        "sadd" => ev(SET, "sadd", key1()),
        "srem" | "spop" => {
            ev(SET, name, key1());
            del_if_gone(key1());
        }
        "smove" => {
            ev(SET, "srem", key1());
            del_if_gone(key1());
            // An untouched effect: the destination already held the member.
            if own.iter().all(|e| e.touches) {
                ev(SET, "sadd", &argv[2]);
            }
        }
        "sinterstore" | "sunionstore" | "sdiffstore" => store_event(&ev, &gone, SET, name, key1()),
        "zunionstore" | "zinterstore" | "zdiffstore" | "zrangestore" => {
            store_event(&ev, &gone, ZSET, name, key1())
        }
        "zadd" => ev(
            ZSET,
            if any_arg(argv, 2, &["incr"]) {
                "zincr"
            } else {
                "zadd"
            },
            key1(),
        ),
        "zincrby" => ev(ZSET, "zincr", key1()),
        "geoadd" => ev(ZSET, "zadd", key1()),
        "georadius" | "georadiusbymember" | "geosearchstore" => {
            if let Some((dst, event)) = crate::commands::geo::store_key(name, argv) {
                store_event(&ev, &gone, ZSET, event, dst);
            }
        }
        "zrem" | "zremrangebyscore" | "zremrangebyrank" | "zremrangebylex" | "zpopmin"
        | "zpopmax" => {
            ev(ZSET, name, key1());
            del_if_gone(key1());
        }
        "zmpop" => {
            let max = any_arg(argv, 2, &["max"]);
            for e in own {
                if let Some(k) = e.argv.get(1) {
                    ev(ZSET, if max { "zpopmax" } else { "zpopmin" }, k);
                    del_if_gone(k);
                }
            }
        }
        _ => {}
    }
}

/// A *STORE command: its event on the destination, or `del` when the result was empty.
fn store_event(
    ev: &impl Fn(u32, &str, &[u8]),
    gone: &impl Fn(&[u8]) -> bool,
    class: u32,
    name: &str,
    dst: &[u8],
) {
    if gone(dst) {
        ev(GENERIC, "del", dst);
    } else {
        ev(class, name, dst);
    }
}
