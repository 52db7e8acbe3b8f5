//! Replication, as redis `replication.c`: the shared stream and backlog (`stream`), the
//! replication ids (PSYNC2), the master side (`master`: SYNC/PSYNC, feeding replicas) and the
//! replica side (`replica`: the link to our master, handshake, sync, applying the stream), and
//! the coordinated FAILOVER between a master and one of its replicas (`failover`).

pub mod failover;
mod inbound;
pub mod master;
pub mod replica;
pub mod stream;
mod sync_load;
mod transport;
pub mod writable;

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// The replication ids of the history this node serves (redis `replid`, `replid2`,
/// `second_replid_offset`).
#[derive(Debug, Clone)]
pub struct ReplIds {
    pub replid: String,
    pub replid2: String,
    /// First offset not valid for `replid2`; -1 when there is none.
    pub second_offset: i64,
}

pub const NULL_REPLID: &str = "0000000000000000000000000000000000000000";

impl ReplIds {
    pub fn fresh() -> ReplIds {
        ReplIds {
            replid: crate::server::random_hex(40),
            replid2: NULL_REPLID.to_string(),
            second_offset: -1,
        }
    }

    /// A new history starts (promotion): the current id becomes the secondary one, valid up to
    /// `offset + 1` (redis `shiftReplicationId`).
    pub fn shift(&mut self, offset: u64) {
        self.replid2 = std::mem::replace(&mut self.replid, crate::server::random_hex(40));
        self.second_offset = offset as i64 + 1;
    }

    pub fn clear_secondary(&mut self) {
        self.replid2 = NULL_REPLID.to_string();
        self.second_offset = -1;
    }
}

/// Replication state shared by the whole server.
pub struct Replication {
    pub stream: stream::Stream,
    pub ids: Mutex<ReplIds>,
    pub sync_full: AtomicU64,
    pub sync_partial_ok: AtomicU64,
    pub sync_partial_err: AtomicU64,
    /// Replicas attached to this node (any state).
    pub replicas: Mutex<Vec<std::sync::Arc<master::ReplicaHandle>>>,
    pub sync_queue: master::SyncQueue,
    /// The link to our master, when we are a replica.
    pub link: replica::LinkInfo,
    /// Since when (ms) no replica has been attached: `repl-backlog-ttl` counts from here.
    pub no_replicas_since_ms: std::sync::atomic::AtomicI64,
    /// A coordinated FAILOVER under way, if any.
    pub failover: failover::Failover,
    /// Keys a writable replica's clients gave a TTL.
    pub local_keys_with_expire: writable::LocalKeysWithExpire,
}

impl Default for Replication {
    fn default() -> Self {
        Replication {
            stream: stream::Stream::default(),
            ids: Mutex::new(ReplIds::fresh()),
            sync_full: AtomicU64::new(0),
            sync_partial_ok: AtomicU64::new(0),
            sync_partial_err: AtomicU64::new(0),
            replicas: Mutex::new(Vec::new()),
            sync_queue: master::SyncQueue::default(),
            link: replica::LinkInfo::default(),
            no_replicas_since_ms: std::sync::atomic::AtomicI64::new(crate::util::now_ms()),
            failover: failover::Failover::default(),
            local_keys_with_expire: writable::LocalKeysWithExpire::default(),
        }
    }
}

impl Replication {
    pub fn master_repl_offset(&self) -> u64 {
        self.stream.end()
    }

    pub fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// CONFIG RESETSTAT's share: the sync counters.
    pub fn reset_stats(&self) {
        for c in [
            &self.sync_full,
            &self.sync_partial_ok,
            &self.sync_partial_err,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }
}

/// Closes every attached replica's connection (they reconnect and PSYNC again): after a full
/// sync of our own, or a change of replication id.
pub fn disconnect_replicas(server: &crate::server::Server) {
    let ids: Vec<u64> = server
        .repl
        .replicas
        .lock()
        .iter()
        .map(|r| r.client_id)
        .collect();
    for id in ids {
        crate::server::connection::kill(server, id);
    }
}

/// `REPLICAOF NO ONE`: become a master keeping the data; the current history id becomes the
/// secondary one so replicas of our old master can continue from us (PSYNC2).
pub fn promote(server: &crate::server::Server) {
    replica::stop_link(server);
    server.repl.link.fence_epoch.store(0, Ordering::Release);
    server.config.write().replicaof = None;
    server.role_replica.store(false, Ordering::Release);
    crate::server::logging::set_role(b'M');
    let _ = crate::server::oom::apply(&server.config.read(), false);
    let offset = server.repl.master_repl_offset();
    {
        let mut ids = server.repl.ids.lock();
        let old = ids.replid.clone();
        ids.shift(offset);
        tracing::info!(
            "Setting secondary replication ID to {old}, valid up to offset: {}. New replication ID is {}",
            offset + 1,
            ids.replid
        );
    }
    *server.repl.link.cached.lock() = None;
    if !server.repl.stream.is_active() {
        server.repl.stream.activate(offset);
    }
    server.repl.stream.reset_db();
    disconnect_replicas(server);
}

/// `REPLICAOF host port`: follow a (new) master. A master demoted this way offers its own
/// history for a partial resync. Clients blocked in BLPOP, WAIT ... get `-UNBLOCKED` and are
/// closed, as redis `replicationSetMaster` does: left blocked, they would be served by the new
/// master's stream and pop what the master keeps (a failover's desync, redis issue #2473).
pub fn demote(server: &crate::server::Server, host: String, port: u16) {
    let was_master = !server.is_replica();
    // Asked for by name: this master's full sync is accepted whatever it replaces, and a
    // sentinel's fence is lifted.
    server.repl.link.requested.store(true, Ordering::Release);
    server.repl.link.fence_epoch.store(0, Ordering::Release);
    server.config.write().replicaof = Some((host.clone(), port));
    server.role_replica.store(true, Ordering::Release);
    server.blocking.unblock_all_for_role_change();
    crate::server::logging::set_role(b'S');
    let _ = crate::server::oom::apply(&server.config.read(), true);
    if was_master {
        let replid = server.repl.ids.lock().replid.clone();
        let offset = server.repl.master_repl_offset();
        if server.repl.stream.is_active() {
            tracing::info!(
                "Before turning into a replica, using my own master parameters to synthesize a cached master: I may be able to synchronize with the new master with just a partial transfer."
            );
            // Our stream's next write starts with a SELECT (see `promote`), so the new
            // master's does too: database 0 until then, as redis synthesizes it.
            *server.repl.link.cached.lock() = Some(replica::CachedMaster::new(replid, offset, 0));
        }
    }
    if let Some(me) = server.arc() {
        replica::start_link(&me, host, port);
    }
}

/// Frees the backlog of a master that has had no replica for `repl-backlog-ttl` seconds, as
/// redis `replicationCron` does. Nobody can continue that history any more, so a new
/// replication id starts (and the secondary one is forgotten). Replicas keep their backlog:
/// they may be promoted. Called once a second.
pub fn backlog_ttl_cron(server: &crate::server::Server) {
    let now = crate::util::now_ms();
    if !server.repl.replicas.lock().is_empty() {
        server
            .repl
            .no_replicas_since_ms
            .store(now, Ordering::Release);
        return;
    }
    let ttl = server.config.read().repl_backlog_ttl;
    if ttl == 0 || server.is_replica() || !server.repl.stream.is_active() {
        return;
    }
    let idle_secs = (now - server.repl.no_replicas_since_ms.load(Ordering::Acquire)) / 1000;
    if idle_secs <= ttl as i64 {
        return;
    }
    {
        let mut ids = server.repl.ids.lock();
        ids.replid = crate::server::random_hex(40);
        ids.clear_secondary();
    }
    server.repl.stream.deactivate();
    tracing::info!("Replication backlog freed after {ttl} seconds without connected replicas.");
}
