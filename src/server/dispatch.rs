//! Dispatch: the generic checks of redis `processCommand`, in its order (lookup, arity, auth,
//! MULTI queueing, pub/sub context), then `call`: lock the command's shards, run the handler,
//! and publish its effects (replication stream, WATCH, change count) before the locks drop, so
//! the stream is a linearization of what clients saw.

use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;

use super::client::{Client, Multi, Push};
use super::Server;
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
    let Some((mut id, mut spec)) = REGISTRY.lookup(&argv[0]) else {
        return Err(CmdError::unknown_command(argv));
    };
    if !spec.subcommands.is_empty() && argv.len() >= 2 {
        match REGISTRY.lookup_sub(spec, &argv[1]) {
            Some((sid, sub)) => {
                id = sid;
                spec = sub;
            }
            None => return Err(CmdError::unknown_subcommand(&argv[1], spec.name)),
        }
    }
    if !spec.arity_ok(argv.len()) {
        return Err(CmdError::wrong_arity(spec.name));
    }
    Ok((id, spec))
}

/// Processes one request from a client and returns its reply.
pub fn process(server: &Server, client: &mut Client, argv: &[Bytes]) -> Reply {
    let resolved = resolve(argv);
    let (id, spec) = match resolved {
        Ok(r) => r,
        Err(e) => {
            if let Some(m) = client.multi.as_mut() {
                m.error = true;
            }
            // A rejected EXEC discards the transaction (redis `execCommandAbort`).
            if argv[0].eq_ignore_ascii_case(b"exec") {
                end_multi(server, client);
                let text = e.0.strip_prefix("ERR ").unwrap_or(&e.0).to_string();
                return error_reply(
                    server,
                    CmdError::new(format!(
                        "EXECABORT Transaction discarded because of: {text}"
                    )),
                );
            }
            return error_reply(server, e);
        }
    };
    *client.shared.last_cmd.lock() = spec.name;
    if !client.authenticated && !spec.has(spec::NO_AUTH) {
        REGISTRY.reject(id);
        return error_reply(server, errors::NOAUTH);
    }
    if let Err(e) = super::evict::check_oom(server, client, spec) {
        if let Some(m) = client.multi.as_mut() {
            m.error = true;
        }
        REGISTRY.reject(id);
        return error_reply(server, e);
    }
    // Loading a dataset (startup, or a replica's disk-based full sync): redis `processCommand`.
    if server.persist.loading.load(Ordering::Relaxed) && !spec.has(spec::LOADING) {
        REGISTRY.reject(id);
        return error_reply(server, errors::LOADING);
    }
    let base = base_name(spec.name);
    if client.multi.is_some() && !runs_inside_multi(base) {
        if spec.has(spec::NO_MULTI) {
            if let Some(m) = client.multi.as_mut() {
                m.error = true;
            }
            REGISTRY.reject(id);
            return error_reply(
                server,
                CmdError::err("Command not allowed inside a transaction"),
            );
        }
        if let Some(m) = client.multi.as_mut() {
            m.queued.push(argv.to_vec());
        }
        return Reply::status("QUEUED");
    }
    if client.in_pubsub()
        && client.resp == crate::protocol::encode::Resp::V2
        && !allowed_in_pubsub(base)
    {
        REGISTRY.reject(id);
        return error_reply(
            server,
            CmdError::err(format_args!(
                "Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                spec.name
            )),
        );
    }
    if let Some(e) = replication_checks(server, client, spec) {
        REGISTRY.reject(id);
        return error_reply(server, e);
    }
    call(server, client, id, spec, argv)
}

/// The replication-related refusals of redis `processCommand`: MASTERDOWN for stale data,
/// READONLY on replicas, NOREPLICAS under min-replicas-to-write, MISCONF after a failed save.
fn replication_checks(server: &Server, client: &Client, spec: &Spec) -> Option<CmdError> {
    if client.is_master_link {
        return None;
    }
    let write = spec.has(spec::WRITE);
    let hot = &server.hot;
    let relaxed = Ordering::Relaxed;
    if server.is_replica() {
        if !hot.replica_serve_stale_data.load(relaxed)
            && !spec.has(spec::STALE)
            && server.repl.link.state() != crate::replication::replica::LinkState::Connected
        {
            return Some(errors::MASTERDOWN);
        }
        if write && hot.replica_read_only.load(relaxed) {
            return Some(errors::READONLY);
        }
        return None;
    }
    if !write {
        return None;
    }
    if hot.stop_writes_on_bgsave_error.load(relaxed) && !server.persist.last_bgsave_ok.load(relaxed)
    {
        return Some(CmdError::fixed("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error."));
    }
    let (min_write, max_lag) = (
        hot.min_replicas_to_write.load(relaxed),
        hot.min_replicas_max_lag.load(relaxed),
    );
    if min_write > 0 && max_lag > 0 {
        let now = crate::util::now_ms();
        let good = crate::replication::master::replicas(server)
            .iter()
            .filter(|r| {
                r.state() == crate::replication::master::ReplicaState::Online
                    && (now - r.last_ack_ms.load(Ordering::Acquire)) / 1000 <= max_lag as i64
            })
            .count() as u64;
        if good < min_write {
            return Some(errors::NOREPLICAS);
        }
    }
    None
}

fn base_name(name: &str) -> &str {
    name.split('|').next().unwrap_or(name)
}

/// Counts an error reply in errorstats and wraps it.
pub fn error_reply(server: &Server, e: CmdError) -> Reply {
    server.stats.count_error(&e.0);
    Reply::Error(e.0)
}

/// The shards a command needs: its keys, or everything.
fn lock_set(server: &Server, spec: &Spec, argv: &[Bytes], client: &Client) -> Option<Vec<usize>> {
    let ks = &server.keyspace;
    if spec.has(spec::ALL_KEYS) {
        return None;
    }
    if spec.name == "exec" {
        // EXEC locks the union of what its queued commands need, for the whole transaction.
        let mut positions_keys = Vec::new();
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
    Some(
        spec.key_positions(argv)
            .into_iter()
            .map(|p| ks.shard_of(&argv[p]))
            .collect(),
    )
}

/// Runs a resolved command: locks, executes, publishes effects, records stats.
pub fn call(
    server: &Server,
    client: &mut Client,
    id: usize,
    spec: &'static Spec,
    argv: &[Bytes],
) -> Reply {
    let locked = match lock_set(server, spec, argv, client) {
        None => server.keyspace.lock_all(),
        Some(shards) => server.keyspace.lock_shards(shards),
    };
    // Replicas never expire keys themselves: they hide expired keys from their clients and
    // apply their master's stream as if nothing had expired.
    // While writes are paused (CLIENT PAUSE WRITE, FAILOVER) a master hides expired keys
    // without deleting them, as redis `expireIfNeeded` does: a DEL now would move the
    // replication offset a failover is waiting on.
    let mode = if client.is_master_link {
        ExpireMode::Ignore
    } else if server.is_replica() || crate::commands::admin::pause::writes_paused(server) {
        ExpireMode::Hide
    } else {
        ExpireMode::Delete
    };
    let mut db = Db::new(locked, client.db, crate::util::now_ms(), mode);
    let start = Instant::now();
    let result = {
        let mut cx = Ctx {
            argv,
            db: &mut db,
            client,
            server,
        };
        (spec.handler)(&mut cx)
    };
    let usec = start.elapsed().as_micros() as u64;
    super::notify::after_command(server, spec.name, argv, &db, 0, 0);
    publish_effects(server, &mut db);
    drop(db);
    REGISTRY.count(id, usec, result.is_err());
    client.woff = server.repl.stream.end();
    after_call(server, client, spec, argv, usec);
    match result {
        Ok(r) => r,
        Err(e) => error_reply(server, e),
    }
}

/// Runs one queued command inside EXEC with the transaction's locks.
pub fn call_in_exec(cx: &mut Ctx<'_, '_>, argv: &[Bytes]) -> Reply {
    let (id, spec) = match resolve(argv) {
        Ok(r) => r,
        Err(e) => return error_reply(cx.server, e),
    };
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
    super::notify::after_command(
        cx.server,
        spec.name,
        argv,
        cx.db,
        effects_before,
        expired_before,
    );
    REGISTRY.count(id, usec, result.is_err());
    match result {
        Ok(r) => r,
        Err(e) => error_reply(cx.server, e),
    }
}

/// Publishes what a command changed: stats, WATCH invalidation, the replication stream.
fn publish_effects(server: &Server, db: &mut Db<'_>) {
    let st = &server.stats;
    st.keyspace_hits.add(db.stats.hits);
    st.keyspace_misses.add(db.stats.misses);
    super::stats::Stats::add(&st.expired_keys, db.stats.expired);
    if !db.touched.is_empty() {
        server.watches.touch(&db.touched);
    }
    for d in db.touched_dbs.drain(..) {
        server.watches.touch_db(Some(d));
    }
    if db.effects.is_empty() {
        return;
    }
    st.dirty
        .fetch_add(db.effects.len() as u64, Ordering::Relaxed);
    if server.blocked_clients.load(Ordering::Relaxed) > 0 {
        server.changes.send_modify(|v| *v += 1);
    }
    if server.watches.any() {
        // The keys an effect modifies are the keys of the command it propagates.
        let keys: Vec<(usize, Bytes)> = db
            .effects
            .iter()
            .filter_map(|e| resolve(&e.argv).ok().map(|(_, spec)| (e, spec)))
            .flat_map(|(e, spec)| {
                spec.key_positions(&e.argv)
                    .into_iter()
                    .map(move |p| (e.db, e.argv[p].clone()))
            })
            .collect();
        server.watches.touch(&keys);
    }
    server.replication_feed(&db.effects);
}

/// Slowlog and MONITOR, after the locks are released.
fn after_call(server: &Server, client: &Client, spec: &Spec, argv: &[Bytes], usec: u64) {
    server.stats.total_commands_processed.add(1);
    let hot = &server.hot;
    let (threshold, max_len, latency_threshold) = (
        hot.slowlog_log_slower_than.load(Ordering::Relaxed),
        hot.slowlog_max_len.load(Ordering::Relaxed),
        hot.latency_monitor_threshold.load(Ordering::Relaxed),
    );
    crate::commands::admin::latency::record(server, spec.has(spec::FAST), usec, latency_threshold);
    if threshold >= 0 && usec as i64 >= threshold && !spec.has(spec::SKIP_SLOWLOG) {
        let name = client
            .shared
            .name
            .lock()
            .clone()
            .map(|n| String::from_utf8_lossy(&n).into_owned());
        server.slowlog.record(
            argv,
            usec as i64,
            &client.shared.addr,
            name.as_deref().unwrap_or(""),
            max_len,
        );
    }
    if !spec.has(spec::SKIP_MONITOR) {
        feed_monitors(server, client, argv);
    }
}

/// Sends a command to MONITOR clients in redis's line format.
pub fn feed_monitors(server: &Server, client: &Client, argv: &[Bytes]) {
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
        client.shared.addr
    );
    for a in argv {
        line.push(' ');
        line.push_str(&crate::util::repr(a));
    }
    for m in monitors.iter() {
        if m.id != client.id() {
            m.send(Push::Reply(Reply::Status(line.clone().into())));
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
