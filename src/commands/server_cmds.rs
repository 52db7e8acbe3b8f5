//! Connection and server commands: PING ECHO QUIT RESET HELLO AUTH SELECT DBSIZE FLUSHDB
//! FLUSHALL SWAPDB TIME SHUTDOWN MONITOR.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::args::{is, parse_int};
use super::errors::{self, CmdError};
use super::spec::{
    Group, Spec, ADMIN, ALLOW_BUSY, ALL_KEYS, FAST, LOADING, NOSCRIPT, NO_AUTH, NO_MULTI, READONLY,
    SKIP_MONITOR, SKIP_SLOWLOG, STALE, WRITE,
};
use super::Ctx;
use crate::protocol::encode::Resp;
use crate::protocol::Reply;
use crate::server::{dispatch, REDIS_VERSION};

const CONN: u32 = NOSCRIPT | LOADING | STALE | FAST;

pub const COMMANDS: &[Spec] = &[
    Spec::new("ping", -1, FAST, Group::Connection, ping),
    Spec::new("echo", 2, FAST | LOADING | STALE, Group::Connection, echo),
    Spec::new(
        "quit",
        -1,
        ALLOW_BUSY | NOSCRIPT | LOADING | STALE | FAST | NO_AUTH,
        Group::Connection,
        quit,
    ),
    Spec::new(
        "reset",
        1,
        CONN | NO_AUTH | ALLOW_BUSY,
        Group::Connection,
        reset,
    ),
    Spec::new(
        "hello",
        -1,
        CONN | NO_AUTH | ALLOW_BUSY,
        Group::Connection,
        hello,
    ),
    Spec::new(
        "auth",
        -2,
        CONN | NO_AUTH | ALLOW_BUSY,
        Group::Connection,
        auth,
    ),
    Spec::new(
        "select",
        2,
        LOADING | STALE | FAST,
        Group::Connection,
        select,
    ),
    Spec::new(
        "dbsize",
        1,
        READONLY | FAST | ALL_KEYS,
        Group::Server,
        dbsize,
    ),
    Spec::new("flushdb", -1, WRITE | ALL_KEYS, Group::Server, flushdb),
    Spec::new("flushall", -1, WRITE | ALL_KEYS, Group::Server, flushall),
    Spec::new("swapdb", 3, WRITE | FAST | ALL_KEYS, Group::Server, swapdb),
    Spec::new("time", 1, LOADING | STALE | FAST, Group::Server, time),
    Spec::new(
        "shutdown",
        -1,
        ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY,
        Group::Server,
        shutdown,
    ),
    Spec::new(
        "monitor",
        1,
        ADMIN | NOSCRIPT | LOADING | STALE | SKIP_MONITOR | SKIP_SLOWLOG,
        Group::Server,
        monitor,
    ),
];

/// Handler of a container command reached without a subcommand (never with arity ≥ 2).
pub fn container(cx: &mut Ctx) -> Result<Reply, CmdError> {
    Err(CmdError::wrong_arity(
        &String::from_utf8_lossy(&cx.argv[0]).to_ascii_lowercase(),
    ))
}

fn ping(cx: &mut Ctx) -> Result<Reply, CmdError> {
    if cx.argv.len() > 2 {
        return Err(CmdError::wrong_arity("ping"));
    }
    if cx.client.in_pubsub() && cx.client.resp == Resp::V2 {
        let msg = cx.argv.get(1).cloned().unwrap_or_default();
        return Ok(Reply::Array(vec![
            Reply::bulk(Bytes::from_static(b"pong")),
            Reply::Bulk(msg),
        ]));
    }
    Ok(match cx.argv.get(1) {
        Some(m) => Reply::Bulk(m.clone()),
        None => Reply::status("PONG"),
    })
}

fn echo(cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(Reply::Bulk(cx.argv[1].clone()))
}

fn quit(cx: &mut Ctx) -> Result<Reply, CmdError> {
    cx.client.close_after_reply = true;
    Ok(Reply::OK)
}

fn reset(cx: &mut Ctx) -> Result<Reply, CmdError> {
    dispatch::end_multi(cx.server, cx.client);
    super::pubsub::unsubscribe_all(cx);
    cx.server.tracking.disable(cx.client.id());
    cx.server.monitors.remove(cx.client.id());
    cx.client.shared.is_monitor.store(false, Ordering::Relaxed);
    cx.client.select(0);
    cx.db.index = 0;
    cx.client.resp = Resp::V2;
    cx.client.shared.resp.store(2, Ordering::Relaxed);
    *cx.client.shared.name.lock() = None;
    cx.client.reply_mode = crate::server::client::ReplyMode::On;
    cx.client.authenticated = cx.server.acl.default_logs_in();
    cx.client.set_user(Some(cx.server.acl.default.clone()));
    Ok(Reply::status("RESET"))
}

/// Logs the client in as `user` (redis `ACLAuthenticateUser`); a failure is logged in the
/// ACL log under the name given.
fn authenticate(cx: &mut Ctx, user: &Bytes, pass: &[u8]) -> Result<(), CmdError> {
    match cx.server.acl.authenticate(user, pass) {
        Some(h) => {
            cx.client.set_user(Some(h));
            cx.client.authenticated = true;
            Ok(())
        }
        None => {
            let context = if cx.client.multi.is_some() {
                crate::acl::log::Context::Multi
            } else {
                crate::acl::log::Context::Toplevel
            };
            crate::acl::clients::log(
                cx.server,
                cx.client,
                cx.argv,
                crate::acl::log::Reason::Auth,
                context,
                cx.argv[0].clone(),
                Some(user.clone()),
            );
            Err(CmdError::fixed(
                "WRONGPASS invalid username-password pair or user is disabled.",
            ))
        }
    }
}

fn auth(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let (user, pass) = match cx.argv.len() {
        2 => (Bytes::from_static(b"default"), cx.argv[1].clone()),
        3 => (cx.argv[1].clone(), cx.argv[2].clone()),
        _ => return Err(errors::SYNTAX),
    };
    if cx.argv.len() == 2 && cx.server.acl.default.get().nopass {
        return Err(CmdError::err(
            "AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        ));
    }
    authenticate(cx, &user, &pass)?;
    Ok(Reply::OK)
}

fn hello(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let mut proto = None;
    let mut i = 1;
    if argv.len() >= 2 {
        let v = crate::util::parse_i64(&argv[1])
            .ok_or_else(|| CmdError::err("Protocol version is not an integer or out of range"))?;
        if !(2..=3).contains(&v) {
            return Err(CmdError::fixed("NOPROTO unsupported protocol version"));
        }
        proto = Some(v);
        i = 2;
    }
    let mut setname = None;
    while i < argv.len() {
        let more = argv.len() - i - 1;
        if is(&argv[i], "auth") && more >= 2 {
            authenticate(cx, &argv[i + 1], &argv[i + 2])?;
            i += 3;
        } else if is(&argv[i], "setname") && more >= 1 {
            setname = Some(argv[i + 1].clone());
            i += 2;
        } else {
            return Err(CmdError::err(format_args!(
                "Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&argv[i])
            )));
        }
    }
    if !cx.client.authenticated {
        return Err(CmdError::fixed("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"));
    }
    if let Some(name) = setname {
        if name.iter().any(|&c| c <= b' ' || c > b'~') {
            return Err(CmdError::err(
                "Client names cannot contain spaces, newlines or special characters.",
            ));
        }
        // A copy: a slice would keep the whole read buffer it came in allocated.
        *cx.client.shared.name.lock() = if name.is_empty() {
            None
        } else {
            Some(Bytes::copy_from_slice(&name))
        };
    }
    if let Some(v) = proto {
        cx.client.resp = if v == 3 { Resp::V3 } else { Resp::V2 };
        cx.client.shared.resp.store(v as usize, Ordering::Relaxed);
    }
    let proto_now = if cx.client.resp == Resp::V3 { 3 } else { 2 };
    let role = if cx.server.is_replica() {
        "replica"
    } else {
        "master"
    };
    Ok(Reply::Map(vec![
        (Reply::bulk_str("server"), Reply::bulk_str("redis")),
        (Reply::bulk_str("version"), Reply::bulk_str(REDIS_VERSION)),
        (Reply::bulk_str("proto"), Reply::Int(proto_now)),
        (Reply::bulk_str("id"), Reply::Int(cx.client.id() as i64)),
        (Reply::bulk_str("mode"), Reply::bulk_str("standalone")),
        (Reply::bulk_str("role"), Reply::bulk_str(role)),
        (Reply::bulk_str("modules"), Reply::Array(vec![])),
    ]))
}

/// Parses a database index argument.
pub fn db_index(cx: &Ctx, raw: &[u8]) -> Result<usize, CmdError> {
    let n = parse_int(raw)?;
    if n < 0 || n as usize >= cx.db.databases() {
        return Err(errors::DB_INDEX);
    }
    Ok(n as usize)
}

fn select(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let n = db_index(cx, &cx.argv[1])?;
    cx.client.select(n);
    cx.db.index = n;
    Ok(Reply::OK)
}

fn dbsize(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let db = cx.db.index;
    Ok(Reply::Int(cx.db.len_in(db) as i64))
}

/// FLUSHDB/FLUSHALL's optional ASYNC|SYNC argument: whether to free the data in the
/// background (without one, `lazyfree-lazy-user-flush` decides).
fn flush_async(cx: &Ctx) -> Result<bool, CmdError> {
    match cx.argv.len() {
        1 => Ok(cx
            .server
            .config
            .read()
            .get("lazyfree-lazy-user-flush")
            .as_deref()
            == Some("yes")),
        2 if is(&cx.argv[1], "async") => Ok(true),
        2 if is(&cx.argv[1], "sync") => Ok(false),
        _ => Err(errors::SYNTAX),
    }
}

/// Empties database `db`, freeing its data here or in the background.
fn flush_db(cx: &mut Ctx, db: usize, lazy: bool) {
    cx.server.watches.before_db_change(db, None, &*cx.db);
    let old = cx.db.clear_db(db);
    if lazy {
        let keys = old.iter().map(|t| t.len() as u64).sum();
        cx.server.lazyfree.free_tables(old, keys);
    }
}

fn flushdb(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let lazy = flush_async(cx)?;
    let db = cx.db.index;
    flush_db(cx, db, lazy);
    cx.propagate();
    Ok(Reply::OK)
}

fn flushall(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let lazy = flush_async(cx)?;
    // redis `flushAllDataAndResetRDB` kills a running RDB child: the snapshot would be of
    // data that no longer exists.
    cx.db.abort_snapshot();
    for db in 0..cx.db.databases() {
        flush_db(cx, db, lazy);
    }
    cx.propagate();
    // With save points, the empty dataset is saved at once: nothing counts as changed since,
    // this FLUSHALL included (its effects are published after it returns).
    if !cx.server.config.read().save.is_empty() && cx.db.locked.holds_all() {
        let dirty = cx.server.stats.dirty.load(Ordering::Relaxed) + cx.db.effects.len() as u64;
        let _ = crate::persistence::save::save_locked(cx.server, &mut cx.db.locked, dirty);
    }
    Ok(Reply::OK)
}

fn swapdb(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let a = crate::util::parse_i64(&cx.argv[1])
        .ok_or_else(|| CmdError::err("invalid first DB index"))?;
    let b = crate::util::parse_i64(&cx.argv[2])
        .ok_or_else(|| CmdError::err("invalid second DB index"))?;
    let n = cx.db.databases() as i64;
    if a < 0 || a >= n || b < 0 || b >= n {
        return Err(errors::DB_INDEX);
    }
    if a != b {
        let (a, b) = (a as usize, b as usize);
        cx.server.watches.before_db_change(a, Some(b), &*cx.db);
        cx.server.watches.before_db_change(b, Some(a), &*cx.db);
        cx.db.swap_dbs(a, b);
    }
    cx.propagate();
    Ok(Reply::OK)
}

fn time(_cx: &mut Ctx) -> Result<Reply, CmdError> {
    let us = crate::util::now_us();
    Ok(Reply::Array(vec![
        Reply::bulk_int(us / 1_000_000),
        Reply::bulk_int(us % 1_000_000),
    ]))
}

fn shutdown(cx: &mut Ctx) -> Result<Reply, CmdError> {
    for a in &cx.argv[1..] {
        if !["nosave", "save", "now", "force", "abort"]
            .iter()
            .any(|w| is(a, w))
        {
            return Err(errors::SYNTAX);
        }
    }
    use crate::server::shutdown::{self, Outcome};
    let has = |w: &str| cx.argv[1..].iter().any(|a| is(a, w));
    // redis `shutdownCommand`: SAVE with NOSAVE, or ABORT with anything else, is a syntax error.
    if (has("save") && has("nosave")) || (has("abort") && cx.argv.len() > 2) {
        return Err(errors::SYNTAX);
    }
    if has("abort") {
        return if shutdown::abort(cx.server) {
            Ok(Reply::OK)
        } else {
            Err(CmdError::err("No shutdown in progress."))
        };
    }
    let flags = [
        ("save", shutdown::SAVE),
        ("nosave", shutdown::NOSAVE),
        ("now", shutdown::NOW),
        ("force", shutdown::FORCE),
    ]
    .iter()
    .filter(|(w, _)| has(w))
    .fold(0, |a, (_, f)| a | f);
    let server = cx.server.arc().ok_or_else(|| CmdError::new("ERR"))?;
    match shutdown::prepare(&server, flags) {
        Outcome::Exiting => {
            cx.client.close_after_reply = true;
            Ok(Reply::None)
        }
        Outcome::Waiting => {
            let waiter = crate::server::blocking::shutdown_waiter(cx.server, cx.client);
            cx.client.blocked = Some(crate::server::client::Blocked::Shutdown {
                generation: cx.server.shutdown.generation(),
                waiter,
            });
            Ok(Reply::None)
        }
        Outcome::Failed => Err(CmdError::err("Errors trying to SHUTDOWN. Check logs.")),
    }
}

fn monitor(cx: &mut Ctx) -> Result<Reply, CmdError> {
    if cx.client.shared.is_monitor.swap(true, Ordering::Relaxed) {
        return Ok(Reply::OK);
    }
    cx.server.monitors.add(cx.client.shared.clone());
    Ok(Reply::OK)
}
