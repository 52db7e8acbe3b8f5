//! Dispatch: the generic checks of redis `processCommand`, in its order (lookup, arity, auth,
//! MULTI queueing, pub/sub context), then `call`: lock the command's shards, run the handler,
//! and publish its effects (replication stream, WATCH, change count) before the locks drop, so
//! the stream is a linearization of what clients saw.

use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;

use super::client::{Blocked, Client, ClientShared, Multi};
use super::rename::Name;
use super::Server;
use crate::acl::clients as acl;
use crate::acl::log::Context;
use crate::commands::errors::{self, CmdError};
use crate::commands::spec::{self, Spec};
use crate::commands::{Ctx, REGISTRY};
use crate::keyspace::{Db, ExpireMode};
use crate::protocol::Reply;

/// Commands that run immediately inside MULTI instead of being queued.
fn runs_inside_multi(name: &str) -> bool {
    matches!(
        name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

/// Commands allowed in a RESP2 subscriber context.
pub fn allowed_in_pubsub(name: &str) -> bool {
    matches!(
        name,
        "subscribe"
            | "ssubscribe"
            | "unsubscribe"
            | "sunsubscribe"
            | "psubscribe"
            | "punsubscribe"
            | "ping"
            | "quit"
            | "reset"
    )
}

/// Resolves a command (and its subcommand) and checks arity.
/// Returns the registry id and spec, or the error to reply.
pub fn resolve(argv: &[Bytes]) -> Result<(usize, &'static Spec), CmdError> {
    lookup(argv).map_err(|(_, e)| e)
}

/// [`resolve`], keeping the id of a command that was found but called with the wrong arity
/// (its `rejected_calls` counts that).
pub fn lookup(argv: &[Bytes]) -> Result<(usize, &'static Spec), (Option<usize>, CmdError)> {
    let Some((mut id, mut spec)) = REGISTRY.lookup(&argv[0]) else {
        return Err((None, CmdError::unknown_command(argv)));
    };
    if !spec.subcommands.is_empty() && argv.len() >= 2 {
        match REGISTRY.lookup_sub(spec, &argv[1]) {
            Some((sid, sub)) => {
                id = sid;
                spec = sub;
            }
            None => return Err((Some(id), CmdError::unknown_subcommand(&argv[1], spec.name))),
        }
    }
    if !spec.arity_ok(argv.len()) {
        return Err((Some(id), CmdError::wrong_arity(spec.name)));
    }
    Ok((id, spec))
}

/// What a command is, for the checks before it runs. EXEC takes on the flags of the commands
/// it queued: it writes if any of them writes, may run stale only if all of them may
/// (redis `mstate.cmd_flags` / `cmd_inv_flags`).
struct Traits {
    /// The command's flags (a script's come from its shebang).
    flags: u32,
    write: bool,
    denyoom: bool,
    deny_stale: bool,
    deny_loading: bool,
    deny_async_loading: bool,
}

impl Traits {
    fn of(server: &Server, spec: &Spec, client: &Client, argv: &[Bytes]) -> Traits {
        let (or, inv) = match (&client.multi, spec.name) {
            (Some(m), "exec") => (m.flags, m.inv_flags),
            _ => (0, 0),
        };
        let flags = if spec.group == spec::Group::Scripting {
            crate::scripting::command_flags(server, spec, argv)
        } else {
            spec.flags
        };
        let has = |f: u32| flags & f != 0 || or & f != 0;
        Traits {
            flags,
            write: has(spec::WRITE),
            denyoom: has(spec::DENYOOM),
            deny_stale: flags & spec::STALE == 0 || inv & spec::STALE != 0,
            deny_loading: !spec.has(spec::LOADING) || inv & spec::LOADING != 0,
            deny_async_loading: has(spec::NO_ASYNC_LOADING),
        }
    }
}

/// Refuses a command before it runs (redis `rejectCommand`): a transaction being queued is
/// flagged so its EXEC fails; a refused EXEC discards the transaction with `-EXECABORT`.
fn reject(server: &Server, client: &mut Client, id: Option<usize>, e: CmdError) -> Reply {
    if let Some(id) = id {
        REGISTRY.reject(id);
    }
    let is_exec = id.is_some_and(|id| REGISTRY.all[id].name == "exec");
    if is_exec {
        end_multi(server, client);
        let text = e.0.strip_prefix("ERR ").unwrap_or(&e.0).to_string();
        return error_reply(
            server,
            CmdError::new(format!(
                "EXECABORT Transaction discarded because of: {text}"
            )),
        );
    }
    if let Some(m) = client.multi.as_mut() {
        m.error = true;
    }
    error_reply(server, e)
}

/// Processes one request from a client and returns its reply: the checks of redis
/// `processCommand`, in its order, then the command runs or is queued inside MULTI.
pub fn process(server: &Server, client: &mut Client, argv: &[Bytes]) -> Reply {
    let id = client.id();
    let _running = super::tracking::Scope::enter(super::tracking::Running {
        client: Some(id),
        in_call: false,
        by: Some(id),
    });
    let reply = check_and_run(server, client, argv);
    // CLIENT CACHING applies to the next command, or to the whole transaction (redis
    // `resetClient`).
    if server.tracking.engaged() && client.multi.is_none() && !is_client_command(argv) {
        server.tracking.clear_caching(id);
    }
    reply
}

fn is_client_command(argv: &[Bytes]) -> bool {
    argv[0].eq_ignore_ascii_case(b"client")
}

fn check_and_run(server: &Server, client: &mut Client, argv: &[Bytes]) -> Reply {
    // A script runs with every shard locked: wait for it (Redis reads nothing meanwhile),
    // until it ends or runs past busy-reply-threshold. The master's stream waits it out.
    let running = &server.scripting.running;
    let busy = running.is_active()
        && running.wait(if client.is_master_link {
            i64::MAX
        } else {
            server
                .hot
                .busy_reply_threshold
                .load(Ordering::Relaxed)
                .max(0)
        });
    let renamed;
    let argv = match server.renames.as_ref().map(|r| r.map(&argv[0])) {
        None | Some(Name::Same) => argv,
        Some(Name::To(own)) => {
            renamed = [&[Bytes::from_static(own.as_bytes())], &argv[1..]].concat();
            &renamed[..]
        }
        Some(Name::Gone) => {
            return reject(server, client, None, CmdError::unknown_command(argv));
        }
    };
    let (id, spec) = match lookup(argv) {
        Ok(r) => r,
        Err((id, e)) => return reject(server, client, id, e),
    };
    *client.shared.last_cmd.lock() = spec.name;
    if !client.authenticated && !spec.has(spec::NO_AUTH) && !server.acl.default_logs_in() {
        return reject(server, client, Some(id), errors::NOAUTH);
    }
    let base = base_name(spec.name);
    if client.multi.is_some() && spec.has(spec::NO_MULTI) {
        return reject(
            server,
            client,
            Some(id),
            CmdError::err("Command not allowed inside a transaction"),
        );
    }
    if let Err(denied) = acl::check_client(client, spec, argv) {
        let context = if client.multi.is_some() {
            Context::Multi
        } else {
            Context::Toplevel
        };
        acl::log_denial(server, client, spec, (argv, argv), denied, context);
        return reject(server, client, Some(id), acl::noperm(spec, denied.0));
    }
    let traits = Traits::of(server, spec, client, argv);
    if let Err(e) = super::evict::check_oom(server, client, spec, traits.denyoom) {
        return reject(server, client, Some(id), e);
    }
    if server.tracking.engaged() {
        server.tracking.limit(server);
    }
    if !busy && crate::commands::scripting::runs_script(spec.name) {
        // Whether memory is over maxmemory as the script starts (redis
        // `pre_command_oom_state`): its first denyoom command is refused then.
        client.script_oom = crate::commands::admin::hot_config(server).maxmemory != 0
            && !client.is_master_link
            && !super::evict::perform_evictions(server);
    }
    if let Some(e) = replication_checks(server, client, spec, &traits) {
        return reject(server, client, Some(id), e);
    }
    if busy && running.is_active() && !spec.has(spec::ALLOW_BUSY) {
        return reject(
            server,
            client,
            Some(id),
            crate::scripting::busy_error(running),
        );
    }
    if client.multi.is_some() && !runs_inside_multi(base) {
        if let Some(m) = client.multi.as_mut() {
            m.flags |= traits.flags;
            m.inv_flags |= !traits.flags;
            m.queued.push(argv.to_vec());
        }
        return Reply::status("QUEUED");
    }
    call(server, client, id, spec, argv)
}

/// The refusals of redis `processCommand` between OOM and running: MISCONF after a failed
/// save, NOREPLICAS under min-replicas-to-write, READONLY on replicas, the RESP2 pub/sub
/// context, MASTERDOWN for stale data, LOADING.
fn replication_checks(
    server: &Server,
    client: &Client,
    spec: &Spec,
    traits: &Traits,
) -> Option<CmdError> {
    let hot = &server.hot;
    let relaxed = Ordering::Relaxed;
    let obey = client.is_master_link;
    let replica = server.is_replica();
    if !obey && (traits.write || spec.name == "ping") {
        if disk_error(server) {
            return Some(MISCONF);
        }
        if let Some(e) = aof_error(server) {
            return Some(e);
        }
    }
    if traits.write && !replica && !obey && !enough_good_replicas(server) {
        return Some(errors::NOREPLICAS);
    }
    if replica && !obey && traits.write && hot.replica_read_only.load(relaxed) {
        return Some(errors::READONLY);
    }
    if client.in_pubsub()
        && client.resp == crate::protocol::encode::Resp::V2
        && !allowed_in_pubsub(base_name(spec.name))
    {
        return Some(CmdError::err(format_args!(
            "Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            spec.name
        )));
    }
    if replica
        && !obey
        && traits.deny_stale
        && !hot.replica_serve_stale_data.load(relaxed)
        && server.repl.link.state() != crate::replication::replica::LinkState::Connected
    {
        return Some(errors::MASTERDOWN);
    }
    // Loading a dataset (startup, or a replica's disk-based full sync).
    if server.persist.loading.load(relaxed) && traits.deny_loading {
        return Some(errors::LOADING);
    }
    // Loading a master's snapshot beside the live dataset (`repl-diskless-load swapdb`).
    if server.persist.async_loading.load(relaxed) && traits.deny_async_loading {
        return Some(errors::LOADING);
    }
    None
}

pub const MISCONF: CmdError = CmdError::fixed("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.");

/// Writes are refused while the AOF cannot be written (redis `DISK_ERROR_TYPE_AOF`): the
/// error names the failure.
pub fn aof_error(server: &Server) -> Option<CmdError> {
    let st = &server.aof.stats;
    if !server.aof.is_on() || st.last_write_ok.load(Ordering::Relaxed) {
        return None;
    }
    Some(CmdError::new(format!(
        "MISCONF Errors writing to the AOF file: {}",
        crate::persistence::aof::strerror(st.last_write_errno.load(Ordering::Relaxed))
    )))
}

/// Whether writes are refused because the last background save failed (redis
/// `writeCommandsDeniedByDiskError`).
pub fn disk_error(server: &Server) -> bool {
    let relaxed = Ordering::Relaxed;
    server.hot.stop_writes_on_bgsave_error.load(relaxed)
        && !server.persist.last_bgsave_ok.load(relaxed)
        && !server.config.read().save.is_empty()
}

/// Whether min-replicas-to-write is met (redis `checkGoodReplicasStatus`).
pub fn enough_good_replicas(server: &Server) -> bool {
    let relaxed = Ordering::Relaxed;
    let (min_write, max_lag) = (
        server.hot.min_replicas_to_write.load(relaxed),
        server.hot.min_replicas_max_lag.load(relaxed),
    );
    if min_write == 0 || max_lag == 0 {
        return true;
    }
    let now = crate::util::now_ms();
    let good = crate::replication::master::replicas(server)
        .iter()
        .filter(|r| {
            r.state() == crate::replication::master::ReplicaState::Online
                && (now - r.last_ack_ms.load(Ordering::Acquire)) / 1000 <= max_lag as i64
        })
        .count() as u64;
    good >= min_write
}

fn base_name(name: &str) -> &str {
    match name.bytes().position(|b| b == b'|') {
        Some(i) => &name[..i],
        None => name,
    }
}

/// Counts an error reply in errorstats and wraps it.
pub fn error_reply(server: &Server, e: CmdError) -> Reply {
    server.stats.count_error(&e.0);
    Reply::Error(e.0)
}

/// The shards a command needs: its keys, or everything.
fn lock_set(
    server: &Server,
    spec: &Spec,
    argv: &[Bytes],
    client: &Client,
) -> Option<spec::KeyPositions> {
    let ks = &server.keyspace;
    if spec.has(spec::ALL_KEYS) {
        return None;
    }
    if spec.name == "exec" {
        // EXEC locks the union of what its queued commands need, for the whole transaction,
        // and its WATCHed keys (to see whether one expired since).
        let mut positions_keys: Vec<Bytes> =
            client.watched.iter().map(|(_, k)| k.clone()).collect();
        if let Some(m) = &client.multi {
            for q in &m.queued {
                match resolve(q) {
                    Ok((_, s)) if s.has(spec::ALL_KEYS) => return None,
                    Ok((_, s)) => {
                        for p in s.key_positions(q) {
                            positions_keys.push(q[p].clone());
                        }
                    }
                    Err(_) => {}
                }
            }
        }
        return Some(positions_keys.iter().map(|k| ks.shard_of(k)).collect());
    }
    let mut shards = spec.key_positions(argv);
    for p in shards.iter_mut() {
        *p = ks.shard_of(&argv[*p]);
    }
    Some(shards)
}

/// Runs a resolved command: locks, executes, publishes effects, records stats.
pub fn call(
    server: &Server,
    client: &mut Client,
    id: usize,
    spec: &'static Spec,
    argv: &[Bytes],
) -> Reply {
    let me = client.id();
    let script = crate::commands::scripting::runs_script(spec.name);
    let _running = super::tracking::Scope::enter(super::tracking::Running {
        client: Some(me),
        in_call: true,
        by: (!script).then_some(me),
    });
    let locked = match lock_set(server, spec, argv, client) {
        None => server.keyspace.lock_all(),
        Some(shards) => server.keyspace.lock_shards(shards),
    };
    let mode = expire_mode(server, client.is_master_link);
    let start = Instant::now();
    let now_ms = client
        .clock
        .map_or_else(crate::util::now_ms, |c| c.ms_at(start));
    let mut db = Db::new(locked, client.db, now_ms, mode);
    db.record_new =
        crate::commands::admin::hot_config(server).notify_flags & crate::config::notify::NEW != 0;
    let result = {
        let _watched = super::watchdog::watch();
        let mut cx = Ctx {
            argv,
            db: &mut db,
            client,
            server,
        };
        (spec.handler)(&mut cx)
    };
    let usec = start.elapsed().as_micros() as u64;
    if let Some(Blocked::Keys(w)) = &client.blocked {
        w.add_usec(usec);
    }
    if server.tracking.engaged() {
        track_changes(server, &mut db);
        if reads_keys(spec) {
            remember_keys(server, me, spec, argv);
        }
    }
    if mode == ExpireMode::Hide && server.is_replica() && !db.effects.is_empty() {
        let written = effect_keys(&db.effects);
        crate::replication::writable::remember(server, &mut db, written);
    }
    super::notify::after_command(server, spec.name, argv, &mut db, 0, 0);
    let wrap = !spec.has(spec::TOUCHES_ARBITRARY_KEYS);
    let ready = publish_effects(server, &mut db, wrap);
    let served = if ready.is_empty() {
        drop(db);
        Vec::new()
    } else {
        super::blocking::serve_ready(server, db, ready)
    };
    // A command that blocked is counted when it ends (redis `updateStatsOnUnblock`).
    if client.blocked.is_none() {
        REGISTRY.count(id, usec, result.is_err());
    }
    client.woff = server.repl.stream.end();
    after_call(server, client, spec, argv, usec, None);
    super::blocking::log_served(server, &served);
    match result {
        Ok(r) => r,
        Err(e) if std::mem::take(&mut client.error_counted) => Reply::Error(e.0),
        Err(e) => error_reply(server, e),
    }
}

/// Runs one queued command inside EXEC with the transaction's locks, unless the ACL rules
/// changed since it was queued.
pub fn call_in_exec(cx: &mut Ctx<'_, '_>, argv: &[Bytes]) -> Reply {
    match resolve(argv) {
        Ok((id, spec)) => match acl::check_client(cx.client, spec, argv) {
            Ok(()) => call_nested(cx, id, spec, argv, false),
            Err(denied) => {
                let running = (argv, cx.argv);
                acl::log_denial(cx.server, cx.client, spec, running, denied, Context::Multi);
                error_reply(cx.server, acl::noperm_in_exec(denied.0))
            }
        },
        Err(e) => error_reply(cx.server, e),
    }
}

/// Runs a command inside another one (EXEC, a script) with the locks the outer one holds.
/// MONITOR shows a script's commands as coming from `lua`.
pub fn call_nested(
    cx: &mut Ctx<'_, '_>,
    id: usize,
    spec: &'static Spec,
    argv: &[Bytes],
    from_script: bool,
) -> Reply {
    let (effects_before, expired_before) = (cx.db.effects.len(), cx.db.stats.expired);
    let start = Instant::now();
    let result = {
        let mut sub = Ctx {
            argv,
            db: &mut *cx.db,
            client: &mut *cx.client,
            server: cx.server,
        };
        (spec.handler)(&mut sub)
    };
    let usec = start.elapsed().as_micros() as u64;
    if cx.server.tracking.engaged() {
        track_changes(cx.server, cx.db);
        if reads_keys(spec) {
            // A script's reads make its caller track the keys the script declared.
            let outer = if from_script {
                resolve(cx.argv).ok()
            } else {
                None
            };
            match outer {
                Some((_, script)) => remember_keys(cx.server, cx.client.id(), script, cx.argv),
                None if !from_script => remember_keys(cx.server, cx.client.id(), spec, argv),
                None => {}
            }
        }
    }
    super::notify::after_command(
        cx.server,
        spec.name,
        argv,
        cx.db,
        effects_before,
        expired_before,
    );
    REGISTRY.count(id, usec, result.is_err());
    // Each queued command is logged and monitored as itself (EXEC skips the slowlog).
    let label = from_script.then_some("lua");
    after_call(cx.server, cx.client, spec, argv, usec, label);
    match result {
        Ok(r) => r,
        Err(e) if std::mem::take(&mut cx.client.error_counted) => Reply::Error(e.0),
        Err(e) => error_reply(cx.server, e),
    }
}

/// Whether a command's keys are remembered for a tracking client: read-only commands, but
/// not the read-only script commands (a script's own reads decide, redis `call`).
fn reads_keys(spec: &Spec) -> bool {
    spec.has(spec::READONLY) && !matches!(spec.name, "eval_ro" | "evalsha_ro" | "fcall_ro")
}

fn remember_keys(server: &Server, client: u64, spec: &Spec, argv: &[Bytes]) {
    if spec.has(spec::PUBSUB) {
        return;
    }
    let positions = spec.key_positions(argv);
    if !positions.is_empty() {
        server
            .tracking
            .remember(client, positions.iter().filter_map(|&p| argv.get(p)));
    }
}

/// How a command treats keys whose time has passed. Replicas never expire keys themselves:
/// they hide expired keys from their clients and apply their master's stream as if nothing
/// had expired. While writes are paused (CLIENT PAUSE WRITE, FAILOVER) a master hides expired
/// keys without deleting them, as redis `expireIfNeeded` does: a DEL now would move the
/// replication offset a failover is waiting on.
pub fn expire_mode(server: &Server, from_master: bool) -> ExpireMode {
    if from_master {
        ExpireMode::Ignore
    } else if server.is_replica() || crate::commands::admin::pause::writes_paused(server) {
        ExpireMode::Hide
    } else {
        ExpireMode::Delete
    }
}

/// Publishes what a command changed: stats, WATCH invalidation, the replication stream, and
/// clears them from `db` (which may serve more commands). Returns the keys it changed that
/// blocked clients wait on, to serve before the command's reply goes out. `wrap`: several
/// effects go out as one MULTI/EXEC transaction.
pub fn publish_effects(server: &Server, db: &mut Db<'_>, wrap: bool) -> Vec<(usize, Bytes)> {
    let ready = publish_and_keep(server, db, wrap);
    db.effects.clear();
    db.touched.clear();
    db.tracked = (0, 0);
    db.created.clear();
    db.events.clear();
    db.stats = Default::default();
    ready
}

fn publish_and_keep(server: &Server, db: &mut Db<'_>, wrap: bool) -> Vec<(usize, Bytes)> {
    let st = &server.stats;
    st.keyspace_hits.add(db.stats.hits);
    st.keyspace_misses.add(db.stats.misses);
    super::stats::Stats::add(&st.expired_keys, db.stats.expired);
    let watching = server.watches.any();
    let blocked = server.blocking.any();
    let mut changed = Vec::new();
    if (watching || blocked) && !db.effects.is_empty() {
        changed = effect_keys(&db.effects);
    }
    if watching && !(db.touched.is_empty() && changed.is_empty()) {
        // Each modified key once: a key touched twice would look changed again.
        let mut keys = db.touched.clone();
        for k in &changed {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
        server
            .watches
            .touch(&keys, |d, k| db.peek_in(d, k).is_some());
    }
    if server.tracking.engaged() {
        track_changes(server, db);
    }
    let mut ready = Vec::new();
    if blocked && !(changed.is_empty() && db.touched_dbs.is_empty()) {
        ready = server.blocking.ready_among(&changed, &db.touched_dbs);
    }
    db.touched_dbs.clear();
    if db.effects.is_empty() {
        return ready;
    }
    st.dirty
        .fetch_add(db.effects.len() as u64, Ordering::Relaxed);
    if wrap {
        server.replication_feed(&db.effects);
    } else {
        for e in &db.effects {
            server.replication_feed(std::slice::from_ref(e));
        }
    }
    ready
}

/// Tells CLIENT TRACKING what changed since it last looked, in the order it happened: the
/// keys of the effects (a flush is every key), then keys modified without an effect of their
/// own. Called as each command ends, before its reads are remembered, as Redis invalidates a
/// key when it changes.
pub fn track_changes(server: &Server, db: &mut Db<'_>) {
    let (from_effects, from_touched) = db.tracked;
    db.tracked = (db.effects.len(), db.touched.len());
    // A script's redis.set_repl may have dropped effects since: nothing is seen twice.
    let effects = db.effects.get(from_effects..).unwrap_or_default();
    let touched = db.touched.get(from_touched..).unwrap_or_default();
    if effects.is_empty() && touched.is_empty() {
        return;
    }
    server
        .tracking
        .modified(server, &tracking_changes(effects, touched));
}

fn tracking_changes(
    effects: &[crate::keyspace::Effect],
    touched: &[(usize, Bytes)],
) -> Vec<super::tracking::Change> {
    use super::tracking::Change;
    let by = super::tracking::running().by;
    let mut out = Vec::new();
    let mut seen: std::collections::HashSet<&[u8]> = std::collections::HashSet::new();
    for e in effects {
        let Ok((_, spec)) = resolve(&e.argv) else {
            continue;
        };
        if matches!(spec.name, "flushdb" | "flushall") {
            out.push(Change::Flush);
            continue;
        }
        if spec.has(spec::PUBSUB) || !e.touches {
            continue;
        }
        for p in spec.key_positions(&e.argv) {
            let key = e.argv[p].clone();
            seen.insert(&e.argv[p]);
            let by = if e.expired { None } else { by };
            out.push(Change::Key { key, by });
        }
    }
    for (_, k) in touched {
        if seen.insert(k) {
            out.push(Change::Key { key: k.clone(), by });
        }
    }
    out
}

/// The keys the effects modify: the keys of the commands they propagate, with their database.
fn effect_keys(effects: &[crate::keyspace::Effect]) -> Vec<(usize, Bytes)> {
    effects
        .iter()
        .filter(|e| e.touches)
        .filter_map(|e| resolve(&e.argv).ok().map(|(_, spec)| (e, spec)))
        .flat_map(|(e, spec)| {
            spec.key_positions(&e.argv)
                .into_iter()
                .map(move |p| (e.db, e.argv[p].clone()))
        })
        .collect()
}

/// Slowlog and MONITOR, after the locks are released.
fn after_call(
    server: &Server,
    client: &Client,
    spec: &Spec,
    argv: &[Bytes],
    usec: u64,
    monitor_as: Option<&str>,
) {
    server.stats.total_commands_processed.add(1);
    let latency_threshold = server.hot.latency_monitor_threshold.load(Ordering::Relaxed);
    crate::commands::admin::latency::record(server, spec.has(spec::FAST), usec, latency_threshold);
    // A command that blocked is logged when it is served (redis `updateStatsOnUnblock`).
    if client.blocked.is_none() {
        log_slow(server, &client.shared, spec, argv, usec);
    }
    if !spec.has(spec::SKIP_MONITOR) {
        let redacted = redact(spec.name, argv);
        let argv = redacted.as_deref().unwrap_or(argv);
        feed_monitors(server, client, argv, monitor_as);
    }
}

/// Adds the command to the slowlog if it ran for at least `slowlog-log-slower-than`
/// microseconds (redis `slowlogPushCurrentCommand`), its secrets redacted.
pub fn log_slow(server: &Server, shared: &ClientShared, spec: &Spec, argv: &[Bytes], usec: u64) {
    let hot = &server.hot;
    let threshold = hot.slowlog_log_slower_than.load(Ordering::Relaxed);
    if threshold < 0 || (usec as i64) < threshold || spec.has(spec::SKIP_SLOWLOG) {
        return;
    }
    let redacted = redact(spec.name, argv);
    let argv = redacted.as_deref().unwrap_or(argv);
    let name = shared
        .name
        .lock()
        .clone()
        .map(|n| String::from_utf8_lossy(&n).into_owned());
    server.slowlog.record(
        argv,
        usec as i64,
        &shared.addr,
        name.as_deref().unwrap_or(""),
        hot.slowlog_max_len.load(Ordering::Relaxed),
    );
}

/// The arguments the slowlog and MONITOR must not show, replaced by "(redacted)" (redis
/// `redactClientCommandArgument`): AUTH's, ACL SETUSER's rules, HELLO's AUTH user and
/// password, MIGRATE's AUTH password and AUTH2 user and password, CONFIG SET's values of
/// sensitive directives. None when nothing is hidden.
fn redact(name: &str, argv: &[Bytes]) -> Option<Vec<Bytes>> {
    if !matches!(
        name,
        "auth" | "acl|setuser" | "hello" | "migrate" | "config|set"
    ) {
        return None;
    }
    let hidden = Bytes::from_static(b"(redacted)");
    let mut out = argv.to_vec();
    match name {
        "auth" => out[1..].fill(hidden),
        "acl|setuser" => out[2..].fill(hidden),
        "config|set" => {
            // Redis redacts only when the pairs are complete (odd counts are a syntax error).
            if argv.len() % 2 != 0 {
                return None;
            }
            let mut any = false;
            for pair in out[2..].chunks_exact_mut(2) {
                if std::str::from_utf8(&pair[0]).is_ok_and(crate::config::is_sensitive) {
                    pair[1] = hidden.clone();
                    any = true;
                }
            }
            if !any {
                return None;
            }
        }
        "hello" | "migrate" => {
            // Options from HELLO's argv[2] / MIGRATE's argv[6]; the arguments each skips.
            let (mut j, auth2) = if name == "hello" { (2, 0) } else { (6, 2) };
            let mut any = false;
            while j < argv.len() {
                let a = &argv[j];
                if name == "hello" && a.eq_ignore_ascii_case(b"setname") {
                    j += 2;
                    continue;
                }
                if a.eq_ignore_ascii_case(b"keys") {
                    break;
                }
                let n = if name == "hello" && a.eq_ignore_ascii_case(b"auth") {
                    2
                } else if a.eq_ignore_ascii_case(b"auth") {
                    1
                } else if a.eq_ignore_ascii_case(b"auth2") {
                    auth2
                } else {
                    0
                };
                if n > 0 && j + n < argv.len() {
                    out[j + 1..=j + n].fill(hidden.clone());
                    any = true;
                    j += n;
                }
                j += 1;
            }
            if !any {
                return None;
            }
        }
        _ => return None,
    }
    Some(out)
}

/// Sends a command to MONITOR clients in redis's line format.
pub fn feed_monitors(server: &Server, client: &Client, argv: &[Bytes], addr: Option<&str>) {
    if server.monitors.is_empty() {
        return;
    }
    let monitors = server.monitors.lock();
    if monitors.is_empty() {
        return;
    }
    let now = crate::util::now_us();
    let mut line = format!(
        "{}.{:06} [{} {}]",
        now / 1_000_000,
        now % 1_000_000,
        client.db,
        addr.unwrap_or(&client.shared.addr)
    );
    for a in argv {
        line.push(' ');
        line.push_str(&crate::util::repr(a));
    }
    let mut enc = super::pubsub::Encoded::new(Reply::Status(line.into()));
    for m in monitors.iter() {
        if m.id != client.id() {
            m.push(server, enc.get(m));
        }
    }
}

/// Starts a MULTI block.
pub fn begin_multi(client: &mut Client) {
    client.multi = Some(Multi::default());
    client.shared.in_multi.store(true, Ordering::Relaxed);
}

/// Ends a MULTI block and forgets WATCHed keys.
pub fn end_multi(server: &Server, client: &mut Client) {
    client.multi = None;
    client.shared.in_multi.store(false, Ordering::Relaxed);
    unwatch_all(server, client);
}

pub fn unwatch_all(server: &Server, client: &mut Client) {
    let keys = std::mem::take(&mut client.watched);
    server.watches.unwatch_all(&keys, client.id());
    client.shared.dirty_cas.store(false, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::redact;
    use bytes::Bytes;

    fn argv(words: &[&str]) -> Vec<Bytes> {
        words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    #[test]
    fn redacts_secrets_only() {
        let r = |name, words: &[&str]| redact(name, &argv(words)).map(|v| v[1..].to_vec());
        assert_eq!(r("auth", &["auth", "pw"]), Some(argv(&["(redacted)"])));
        assert_eq!(
            r(
                "hello",
                &["hello", "3", "SETNAME", "auth", "AUTH", "u", "p"]
            ),
            Some(argv(&[
                "3",
                "SETNAME",
                "auth",
                "AUTH",
                "(redacted)",
                "(redacted)"
            ]))
        );
        assert_eq!(r("hello", &["hello", "3"]), None);
        assert_eq!(
            r(
                "config|set",
                &["config", "set", "maxmemory", "1", "MasterAuth", "pw"]
            ),
            Some(argv(&["set", "maxmemory", "1", "MasterAuth", "(redacted)"]))
        );
        assert_eq!(r("config|set", &["config", "set", "maxmemory", "1"]), None);
        assert_eq!(r("config|set", &["config", "set", "requirepass"]), None);
        assert_eq!(
            r(
                "migrate",
                &["migrate", "h", "1", "k", "0", "5", "AUTH2", "u", "p"]
            ),
            Some(argv(&[
                "h",
                "1",
                "k",
                "0",
                "5",
                "AUTH2",
                "(redacted)",
                "(redacted)"
            ]))
        );
        assert_eq!(
            r(
                "migrate",
                &["migrate", "h", "1", "", "0", "5", "KEYS", "auth", "x"]
            ),
            None
        );
        assert_eq!(r("get", &["get", "k"]), None);
    }
}
