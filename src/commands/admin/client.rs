//! CLIENT ID | INFO | LIST | KILL | SETNAME | GETNAME | PAUSE | UNPAUSE | NO-EVICT | REPLY |
//! TRACKING | CACHING | GETREDIR | TRACKINGINFO | UNBLOCK | HELP (redis `networking.c`
//! `clientCommand`); the tracking subcommands are in `tracking.rs`.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use super::super::args::is;
use super::super::errors::{self, CmdError};
use super::super::server_cmds::container;
use super::super::spec::{Group, Spec, ADMIN, LOADING, NOSCRIPT, STALE};
use super::super::Ctx;
use super::tracking;
use crate::protocol::Reply;
use crate::server::client::{Client, ClientShared, ReplyMode};

const C: u32 = NOSCRIPT | LOADING | STALE;
const A: u32 = ADMIN | NOSCRIPT | LOADING | STALE;

pub const CLIENT: Spec = Spec::new("client", -2, 0, Group::Connection, container).subs(SUBS);

const SUBS: &[Spec] = &[
    Spec::new("client|id", 2, C, Group::Connection, id),
    Spec::new("client|info", 2, C, Group::Connection, info),
    Spec::new("client|list", -2, A, Group::Connection, list),
    Spec::new("client|kill", -3, A, Group::Connection, kill),
    Spec::new("client|setname", 3, C, Group::Connection, setname),
    Spec::new("client|getname", 2, C, Group::Connection, getname),
    Spec::new("client|pause", -3, A, Group::Connection, pause),
    Spec::new("client|unpause", 2, A, Group::Connection, unpause),
    Spec::new("client|no-evict", 3, A, Group::Connection, no_evict),
    Spec::new("client|reply", 3, C, Group::Connection, reply),
    Spec::new(
        "client|tracking",
        -3,
        C,
        Group::Connection,
        tracking::tracking,
    ),
    Spec::new("client|caching", 3, C, Group::Connection, tracking::caching),
    Spec::new(
        "client|getredir",
        2,
        C,
        Group::Connection,
        tracking::getredir,
    ),
    Spec::new(
        "client|trackinginfo",
        2,
        C,
        Group::Connection,
        tracking::trackinginfo,
    ),
    Spec::new("client|unblock", -3, A, Group::Connection, unblock),
    Spec::new("client|help", 2, LOADING | STALE, Group::Connection, help),
];

const HELP: &[&str] = &[
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
];

fn help(_cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(super::help_reply("CLIENT", HELP))
}

fn id(cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(Reply::Int(cx.client.id() as i64))
}

/// Client classes of CLIENT LIST TYPE / CLIENT KILL TYPE (redis `getClientType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientType {
    Normal,
    Replica,
    Pubsub,
    Master,
}

fn type_by_name(name: &[u8]) -> Result<ClientType, CmdError> {
    let t = if is(name, "normal") {
        ClientType::Normal
    } else if is(name, "slave") || is(name, "replica") {
        ClientType::Replica
    } else if is(name, "pubsub") {
        ClientType::Pubsub
    } else if is(name, "master") {
        ClientType::Master
    } else {
        return Err(CmdError::err(format_args!(
            "Unknown client type '{}'",
            String::from_utf8_lossy(name)
        )));
    };
    Ok(t)
}

fn type_of(c: &ClientShared) -> ClientType {
    if c.is_master.load(Ordering::Relaxed) {
        ClientType::Master
    } else if c.is_replica.load(Ordering::Relaxed) && !c.is_monitor.load(Ordering::Relaxed) {
        ClientType::Replica
    } else if c.in_pubsub() {
        ClientType::Pubsub
    } else {
        ClientType::Normal
    }
}

/// The flags field in redis `catClientInfoString` order.
fn flags(c: &ClientShared, t: &crate::server::tracking::Settings) -> String {
    let mut f = String::new();
    let monitor = c.is_monitor.load(Ordering::Relaxed);
    if monitor {
        f.push('O');
    } else if c.is_replica.load(Ordering::Relaxed) {
        f.push('S');
    }
    if c.is_master.load(Ordering::Relaxed) {
        f.push('M');
    }
    if c.in_pubsub() {
        f.push('P');
    }
    if c.in_multi.load(Ordering::Relaxed) {
        f.push('x');
    }
    if c.is_blocked.load(Ordering::Relaxed) {
        f.push('b');
    }
    tracking::flag_letters(t, &mut f);
    if c.dirty_cas.load(Ordering::Relaxed) {
        f.push('d');
    }
    if !c.laddr.contains(':') {
        f.push('U');
    }
    if c.no_evict.load(Ordering::Relaxed) {
        f.push('e');
    }
    if f.is_empty() {
        f.push('N');
    }
    f
}

/// What only the connection itself knows, for its own line.
struct Own<'a> {
    argv: &'a [Bytes],
    multi: Option<(usize, usize)>,
}

/// Redis's allocation for an idle query buffer (PROTO_IOBUF_LEN plus sds overhead), shown as
/// qbuf-free for the client running CLIENT LIST / INFO.
const QBUF_ALLOC: usize = 20474;
/// Redis's fixed per-client memory (the client struct, its reply buffer ...), for tot-mem.
const CLIENT_BASE_MEM: usize = 1856;
const REPLY_BUF: usize = 16 * 1024 + 4 * 1024;

/// One line of CLIENT LIST, in redis 7.0.15's field order, without the trailing newline.
fn info_line(
    c: &ClientShared,
    own: Option<&Own>,
    now_ms: i64,
    t: &crate::server::tracking::Settings,
) -> String {
    let name = c.name.lock().clone().unwrap_or_default();
    let age = c.created.elapsed().as_secs();
    let idle = (now_ms - c.last_interaction.load(Ordering::Relaxed)).max(0) / 1000;
    let sub = c.sub_count.load(Ordering::Relaxed);
    let psub = c.psub_count.load(Ordering::Relaxed);
    let (multi, multi_mem) = match own.and_then(|o| o.multi) {
        Some((n, mem)) => (n as i64, mem),
        None if c.in_multi.load(Ordering::Relaxed) && own.is_none() => (0, 0),
        None => (-1, 0),
    };
    let (qbuf, qbuf_free, argv_mem, tot_mem) = match own {
        Some(o) => {
            let qbuf = resp_len(o.argv);
            let argv_mem: usize = o.argv.iter().map(|a| a.len()).sum();
            let free = QBUF_ALLOC.saturating_sub(qbuf);
            (
                qbuf,
                free,
                argv_mem,
                CLIENT_BASE_MEM + REPLY_BUF + argv_mem + multi_mem,
            )
        }
        None => {
            let len = c.qbuf_len.load(Ordering::Relaxed);
            let cap = c.qbuf_cap.load(Ordering::Relaxed);
            (
                len,
                cap.saturating_sub(len),
                0,
                CLIENT_BASE_MEM
                    + cap
                    + multi_mem
                    + c.own_mem.load(Ordering::Relaxed)
                    + c.obuf.slack.load(Ordering::Relaxed),
            )
        }
    };
    let rbs = c.obuf.rbs.load(Ordering::Relaxed);
    let (obl, oll, omem) = match c.repl_reader.lock().as_ref() {
        // A replica's output is the part of the shared stream it has not been sent yet.
        Some(r) => (0, 0, r.lag() as usize),
        None => crate::server::output::layout(c.obuf.pending(), rbs),
    };
    let tot_mem = tot_mem + omem;
    let cmd = *c.last_cmd.lock();
    let mut s = String::with_capacity(300);
    let _ = write!(
        s,
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free={} argv-mem={} multi-mem={} rbs={} rbp={} obl={} oll={} omem={} tot-mem={} events=r cmd={} user={} redir={} resp={}",
        c.id,
        c.addr,
        c.laddr,
        c.fd,
        String::from_utf8_lossy(&name),
        age,
        idle,
        flags(c, t),
        c.db.load(Ordering::Relaxed),
        sub,
        psub,
        c.ssub_count.load(Ordering::Relaxed),
        multi,
        qbuf,
        qbuf_free,
        argv_mem,
        multi_mem,
        rbs,
        c.obuf.rbp.load(Ordering::Relaxed),
        obl,
        oll,
        omem,
        tot_mem,
        cmd,
        c.user_name(),
        tracking::redirect_of(t),
        c.resp.load(Ordering::Relaxed),
    );
    s
}

/// A client's memory as INFO counts it: (total, output buffer, query buffer) bytes, the total
/// being what CLIENT LIST shows as `tot-mem` to other clients.
pub fn memory_usage(c: &ClientShared) -> (usize, usize, usize) {
    memory_usage_building(c, 0)
}

/// [`memory_usage`] with `building` bytes of replies its task did not count as pending yet.
pub fn memory_usage_building(c: &ClientShared, building: usize) -> (usize, usize, usize) {
    let qbuf = c.qbuf_cap.load(Ordering::Relaxed);
    let omem = match c.repl_reader.lock().as_ref() {
        Some(r) => r.lag() as usize,
        None => {
            let pending = c.obuf.pending() + building;
            crate::server::output::layout(pending, c.obuf.rbs.load(Ordering::Relaxed)).2
        }
    };
    let own = c.own_mem.load(Ordering::Relaxed);
    let slack = c.obuf.slack.load(Ordering::Relaxed);
    (CLIENT_BASE_MEM + qbuf + omem + own + slack, omem, qbuf)
}

/// A client's CLIENT LIST line, as Redis's log lines about a client show it.
pub fn describe(c: &ClientShared) -> String {
    // Without the server at hand, shown as not tracking.
    info_line(c, None, crate::util::now_ms(), &Default::default())
}

/// Bytes of `argv` as a RESP multibulk (the query buffer of the running command).
fn resp_len(argv: &[Bytes]) -> usize {
    let digits = |n: usize| n.to_string().len();
    let mut n = 1 + digits(argv.len()) + 2;
    for a in argv {
        n += 1 + digits(a.len()) + 2 + a.len() + 2;
    }
    n
}

fn own<'a>(cx: &'a Ctx) -> Own<'a> {
    own_of(cx.client, cx.argv)
}

/// What `c` running `argv` shows of itself: inside EXEC, EXEC's argv and the transaction.
fn own_of<'a>(c: &'a Client, argv: &'a [Bytes]) -> Own<'a> {
    match &c.exec_view {
        Some((exec_argv, multi)) => Own {
            argv: exec_argv,
            multi: Some(*multi),
        },
        None => Own {
            argv,
            multi: c.multi.as_ref().map(|m| queue_view(&m.queued)),
        },
    }
}

/// CLIENT LIST's `multi` and `multi-mem` of a transaction's queue (redis counts each
/// argument's bytes plus a pointer).
pub fn queue_view(queued: &[Vec<Bytes>]) -> (usize, usize) {
    let mem = queued
        .iter()
        .map(|q| q.iter().map(|a| a.len() + 8).sum::<usize>())
        .sum();
    (queued.len(), mem)
}

/// A CLIENT LIST / INFO text: a verbatim string in RESP3.
fn text_reply(s: String) -> Reply {
    Reply::Verbatim(Bytes::from(s))
}

fn info(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let mut s = describe_running(cx.server, cx.client, cx.argv);
    s.push('\n');
    Ok(text_reply(s))
}

/// The CLIENT INFO line of `c` while it runs `argv` (its query buffer and `argv-mem`), as the
/// ACL LOG records it for a refused command (redis `catClientInfoString` of the running client).
pub fn describe_running(server: &crate::server::Server, c: &Client, argv: &[Bytes]) -> String {
    let me = own_of(c, argv);
    let t = server.tracking.settings(c.id());
    info_line(&c.shared, Some(&me), crate::util::now_ms(), &t)
}

/// Every client, in id (connection) order.
fn all_clients(cx: &Ctx) -> Vec<Arc<ClientShared>> {
    cx.server.clients.lock().values().cloned().collect()
}

fn list(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let now = crate::util::now_ms();
    let me = own(cx);
    let my_id = cx.client.id();
    let tracking_of = |c: &ClientShared| cx.server.tracking.settings(c.id);
    let line = |c: &ClientShared| {
        if c.id == my_id {
            info_line(c, Some(&me), now, &tracking_of(c))
        } else {
            info_line(c, None, now, &tracking_of(c))
        }
    };
    let mut out = String::new();
    if argv.len() == 4 && is(&argv[2], "type") {
        let t = type_by_name(&argv[3])?;
        for c in all_clients(cx) {
            if type_of(&c) == t {
                out.push_str(&line(&c));
                out.push('\n');
            }
        }
    } else if argv.len() > 3 && is(&argv[2], "id") {
        let mut ids = Vec::with_capacity(argv.len() - 3);
        for a in &argv[3..] {
            ids.push(crate::util::parse_i64(a).ok_or_else(|| CmdError::err("Invalid client ID"))?);
        }
        let clients = cx.server.clients.lock().clone();
        for id in ids {
            if let Some(c) = u64::try_from(id).ok().and_then(|id| clients.get(&id)) {
                out.push_str(&line(c));
                out.push('\n');
            }
        }
    } else if argv.len() != 2 {
        return Err(errors::SYNTAX);
    } else {
        for c in all_clients(cx) {
            out.push_str(&line(&c));
            out.push('\n');
        }
    }
    Ok(text_reply(out))
}

/// CLIENT KILL addr | CLIENT KILL [ID id] [TYPE type] [ADDR addr] [LADDR addr] [USER name]
/// [SKIPME yes|no]: the old form answers OK or an error, the new one the number killed.
fn kill(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let mut addr: Option<&[u8]> = None;
    let mut laddr: Option<&[u8]> = None;
    let mut ctype: Option<ClientType> = None;
    let mut id: u64 = 0;
    let mut user = None;
    let mut skipme = true;
    let old_form = argv.len() == 3;
    if old_form {
        addr = Some(&argv[2]);
        skipme = false;
    } else {
        let mut i = 2;
        while i < argv.len() {
            let more = i + 1 < argv.len();
            let opt = &argv[i];
            if !more {
                return Err(errors::SYNTAX);
            }
            let val = &argv[i + 1];
            if is(opt, "id") {
                id = crate::util::parse_i64(val)
                    .filter(|&v| v >= 1)
                    .ok_or_else(|| CmdError::err("client-id should be greater than 0"))?
                    as u64;
            } else if is(opt, "type") {
                ctype = Some(type_by_name(val)?);
            } else if is(opt, "addr") {
                addr = Some(val);
            } else if is(opt, "laddr") {
                laddr = Some(val);
            } else if is(opt, "user") {
                user = Some(cx.server.acl.user(val).ok_or_else(|| {
                    CmdError::err(format_args!(
                        "No such user '{}'",
                        String::from_utf8_lossy(val)
                    ))
                })?);
            } else if is(opt, "skipme") {
                if is(val, "yes") {
                    skipme = true;
                } else if is(val, "no") {
                    skipme = false;
                } else {
                    return Err(errors::SYNTAX);
                }
            } else {
                return Err(errors::SYNTAX);
            }
            i += 2;
        }
    }
    let my_id = cx.client.id();
    let mut killed = 0i64;
    for c in all_clients(cx) {
        if addr.is_some_and(|a| a != c.addr.as_bytes())
            || laddr.is_some_and(|a| a != c.laddr.as_bytes())
            || ctype.is_some_and(|t| t != type_of(&c))
            || (id != 0 && c.id != id)
            || user.as_ref().is_some_and(|u| !c.is_user(u))
            || (c.id == my_id && skipme)
        {
            continue;
        }
        if c.id == my_id {
            cx.client.close_after_reply = true;
        } else {
            crate::server::connection::kill(cx.server, c.id);
        }
        killed += 1;
    }
    if old_form {
        if killed == 0 {
            Err(CmdError::err("No such client"))
        } else {
            Ok(Reply::OK)
        }
    } else {
        Ok(Reply::Int(killed))
    }
}

/// redis `validateClientName`: printable ASCII without spaces.
fn setname(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let name = &cx.argv[2];
    if name.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(CmdError::err(
            "Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    // A copy: a slice would keep the whole read buffer it came in allocated.
    *cx.client.shared.name.lock() = if name.is_empty() {
        None
    } else {
        Some(Bytes::copy_from_slice(name))
    };
    Ok(Reply::OK)
}

fn getname(cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(cx
        .client
        .shared
        .name
        .lock()
        .clone()
        .map_or(Reply::Nil, Reply::Bulk))
}

/// CLIENT PAUSE timeout [WRITE|ALL].
fn pause(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    if argv.len() > 4 {
        return Err(super::subcommand_syntax_error(cx));
    }
    let mut mode = super::pause::Mode::All;
    if argv.len() == 4 {
        if is(&argv[3], "write") {
            mode = super::pause::Mode::Write;
        } else if !is(&argv[3], "all") {
            return Err(CmdError::err("CLIENT PAUSE mode must be WRITE or ALL"));
        }
    }
    let timeout = crate::util::parse_i64(&argv[2]).ok_or(errors::TIMEOUT_NOT_INTEGER)?;
    if timeout < 0 {
        return Err(errors::TIMEOUT_NEGATIVE);
    }
    // As redis: a deadline that overflows wraps into the past, which pauses nothing.
    let until = crate::util::now_ms().wrapping_add(timeout);
    super::pause::pause(cx.server, until, mode);
    Ok(Reply::OK)
}

fn unpause(cx: &mut Ctx) -> Result<Reply, CmdError> {
    super::pause::unpause(cx.server);
    Ok(Reply::OK)
}

fn no_evict(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let v = &cx.argv[2];
    let on = if is(v, "on") {
        true
    } else if is(v, "off") {
        false
    } else {
        return Err(errors::SYNTAX);
    };
    cx.client.shared.no_evict.store(on, Ordering::Relaxed);
    Ok(Reply::OK)
}

/// CLIENT REPLY ON answers OK; OFF and SKIP answer nothing (SKIP also hides the next reply).
fn reply(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let v = &cx.argv[2];
    if is(v, "on") {
        cx.client.reply_mode = ReplyMode::On;
        Ok(Reply::OK)
    } else if is(v, "off") {
        cx.client.reply_mode = ReplyMode::Off;
        Ok(Reply::None)
    } else if is(v, "skip") {
        if cx.client.reply_mode != ReplyMode::Off {
            cx.client.reply_mode = ReplyMode::Skip;
        }
        Ok(Reply::None)
    } else {
        Err(errors::SYNTAX)
    }
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: ends a blocked command of client `id` (a blocking pop
/// or WAIT) with its timeout reply or an `-UNBLOCKED` error. 1 if that client was blocked.
fn unblock(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    if argv.len() > 4 {
        return Err(super::subcommand_syntax_error(cx));
    }
    let id = crate::util::parse_i64(&argv[2]).ok_or(errors::NOT_INTEGER)?;
    let mut error = false;
    if argv.len() == 4 {
        if is(&argv[3], "error") {
            error = true;
        } else if !is(&argv[3], "timeout") {
            return Err(CmdError::err(
                "CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            ));
        }
    }
    let done = u64::try_from(id).is_ok_and(|id| cx.server.blocking.unblock(id, error));
    Ok(Reply::Int(i64::from(done)))
}
