//! FAILOVER, the coordinated failover of redis 6.2+ (`replication.c`: `failoverCommand`,
//! `updateFailoverStatus`, `abortFailover`, and the `PSYNC ... FAILOVER` branch of
//! `syncCommand`).
//!
//! The master pauses writes, waits until a replica acknowledged its whole stream, then turns
//! itself into a replica of that replica and, in the handshake, sends
//! `PSYNC <replid> <offset+1> FAILOVER`. The target, still a replica of ours with the same
//! replid, promotes itself (as `REPLICAOF NO ONE`) and answers that PSYNC normally, so the old
//! master continues from it (normally `+CONTINUE`). The pause ends when the PSYNC is accepted;
//! if the target refuses it, the old master becomes a master again.
//!
//! This module owns the failover state and the target-side promotion. It does not touch sockets:
//! the handshake (`replica`) and the PSYNC handler (`commands::replication`) call in here. Writes
//! are paused through the CLIENT PAUSE machinery (`commands::admin::pause`), on their own account.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::master::{self, ReplicaHandle, ReplicaState};
use crate::commands::admin::pause;
use crate::server::Server;

/// Where a coordinated failover stands (redis `failover_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum State {
    /// No failover.
    #[default]
    None,
    /// Writes paused; waiting until the target's ACK reaches our offset, or the timeout.
    WaitForSync,
    /// Demoted to a replica of the target; our handshake sends `PSYNC ... FAILOVER`.
    InProgress,
}

impl State {
    /// As INFO `master_failover_state` shows it.
    pub fn name(self) -> &'static str {
        match self {
            State::None => "no-failover",
            State::WaitForSync => "waiting-for-sync",
            State::InProgress => "failover-in-progress",
        }
    }
}

/// Why FAILOVER, or a `PSYNC ... FAILOVER`, was refused (each text follows `ERR `).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FailoverError {
    #[error("FAILOVER already in progress.")]
    AlreadyInProgress,
    #[error("FAILOVER is not valid when server is a replica.")]
    IsReplica,
    #[error("FAILOVER requires connected replicas.")]
    NoReplicas,
    #[error("FAILOVER with force option requires both a timeout and target HOST and IP.")]
    ForceNeedsTimeoutAndTarget,
    #[error("FAILOVER target HOST and PORT is not a replica.")]
    NotAReplica,
    #[error("FAILOVER target replica is not online.")]
    TargetNotOnline,
    #[error("PSYNC FAILOVER can't be sent to a master.")]
    PsyncToMaster,
    #[error("PSYNC FAILOVER replid must match my replid.")]
    PsyncReplidMismatch,
}

/// A parsed `FAILOVER [TO host port [FORCE]] [TIMEOUT ms]`.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub target: Option<(String, i64)>,
    pub force: bool,
    /// 0: wait for the target as long as it takes.
    pub timeout_ms: i64,
}

#[derive(Debug, Default)]
struct Inner {
    state: State,
    /// `TO host port`, or the first replica found in sync when no target was given.
    target: Option<(String, u16)>,
    force: bool,
    /// Unix ms when waiting for the target ends; 0 without TIMEOUT.
    end_ms: i64,
}

/// The failover state of one server.
#[derive(Default)]
pub struct Failover {
    inner: Mutex<Inner>,
}

impl Failover {
    pub fn state(&self) -> State {
        self.inner.lock().state
    }
}

/// How often the waiting master compares the target's ACK with its offset.
const WATCH_PERIOD: Duration = Duration::from_millis(10);
/// Reconnect pace of a link while failing over (redis runs its replication cron at 10 Hz then).
const FAILOVER_RECONNECT_DELAY: Duration = Duration::from_millis(100);
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// Whether a failover is under way (either state): REPLICAOF and SYNC/PSYNC are refused.
pub fn is_active(server: &Server) -> bool {
    server.repl.failover.state() != State::None
}

/// Whether this node, demoted by FAILOVER, must send `PSYNC ... FAILOVER` to its new master.
pub fn in_progress(server: &Server) -> bool {
    server.repl.failover.state() == State::InProgress
}

/// How long the replica link waits before reconnecting.
pub fn reconnect_delay(server: &Server) -> Duration {
    if is_active(server) {
        FAILOVER_RECONNECT_DELAY
    } else {
        RECONNECT_DELAY
    }
}

/// Whether the periodic stream `ping` is skipped: during a FAILOVER with a TIMEOUT, as redis
/// skips it for a "manual failover in progress" while clients are paused.
pub fn suppresses_ping(server: &Server) -> bool {
    let f = server.repl.failover.inner.lock();
    f.state != State::None && f.end_ms != 0
}

/// The replica `host`:`port` names among `replicas`: its announced or peer ip (ignoring case)
/// and its listening port (redis `findReplica`).
fn find_replica<'a>(
    replicas: &'a [Arc<ReplicaHandle>],
    host: &str,
    port: i64,
) -> Option<&'a Arc<ReplicaHandle>> {
    replicas
        .iter()
        .find(|r| r.ip.eq_ignore_ascii_case(host) && i64::from(r.port) == port)
}

/// FAILOVER: checks the request against our state, pauses writes and starts waiting for the
/// target (state `waiting-for-sync`). The caller replies `+OK`; the rest happens in the
/// background.
pub fn start(server: &Server, req: Request) -> Result<(), FailoverError> {
    let mut f = server.repl.failover.inner.lock();
    if f.state != State::None {
        return Err(FailoverError::AlreadyInProgress);
    }
    if server.is_replica() {
        return Err(FailoverError::IsReplica);
    }
    let replicas = master::replicas(server);
    if replicas.is_empty() {
        return Err(FailoverError::NoReplicas);
    }
    if req.force && (req.timeout_ms == 0 || req.target.is_none()) {
        return Err(FailoverError::ForceNeedsTimeoutAndTarget);
    }
    let target = match &req.target {
        Some((host, port)) => {
            let r = find_replica(&replicas, host, *port).ok_or(FailoverError::NotAReplica)?;
            if r.state() != ReplicaState::Online {
                return Err(FailoverError::TargetNotOnline);
            }
            tracing::info!("FAILOVER requested to {host}:{port}.");
            Some((host.clone(), r.port))
        }
        None => {
            tracing::info!("FAILOVER requested to any replica.");
            None
        }
    };
    *f = Inner {
        state: State::WaitForSync,
        target,
        force: req.force,
        end_ms: if req.timeout_ms > 0 {
            crate::util::now_ms().saturating_add(req.timeout_ms)
        } else {
            0
        },
    };
    pause::failover_pause(server, true);
    drop(f);
    if let Some(me) = server.arc() {
        tokio::spawn(watch(me));
    }
    Ok(())
}

/// Follows a failover while it waits for the target.
async fn watch(server: Arc<Server>) {
    let mut tick = tokio::time::interval(WATCH_PERIOD);
    loop {
        tick.tick().await;
        if server.is_shutting_down() || !update(&server) {
            return;
        }
    }
}

/// One step of `waiting-for-sync` (redis `updateFailoverStatus`): past the timeout, fail over
/// anyway with FORCE, else abort; when the target (or, without TO, any replica) acknowledged
/// our whole stream, demote to a replica of it (`failover-in-progress`). Returns whether we
/// are still waiting.
fn update(server: &Server) -> bool {
    // With every shard locked no command is between changing data and feeding the stream, so
    // the offset compared below is the one the target must reach.
    let _all = server.keyspace.lock_all();
    let mut f = server.repl.failover.inner.lock();
    if f.state != State::WaitForSync {
        return false;
    }
    if f.end_ms != 0 && crate::util::now_ms() >= f.end_ms {
        match f.target.clone() {
            Some((host, port)) if f.force => {
                tracing::info!("FAILOVER to {host}:{port} time out exceeded, failing over.");
                f.state = State::InProgress;
                super::demote(server, host, port);
            }
            _ => abort_locked(server, &mut f, "Replica never caught up before timeout"),
        }
        return false;
    }
    let offset = server.repl.master_repl_offset();
    let replicas = master::replicas(server);
    let synced =
        |r: &&Arc<ReplicaHandle>| r.ack_offset.load(std::sync::atomic::Ordering::Acquire) == offset;
    let found = match &f.target {
        Some((host, port)) => find_replica(&replicas, host, i64::from(*port)).filter(synced),
        None => replicas.iter().find(synced),
    };
    let Some(r) = found else {
        return true;
    };
    let (host, port) = f
        .target
        .get_or_insert_with(|| (r.ip.clone(), r.port))
        .clone();
    tracing::info!("Failover target {host}:{port} is synced, failing over.");
    f.state = State::InProgress;
    super::demote(server, host, port);
    false
}

/// FAILOVER ABORT and every failure (redis `abortFailover`): logs why, becomes a master
/// again if we had already demoted, and lifts the pause. No-op without a failover.
pub fn abort(server: &Server, reason: &str) {
    let mut f = server.repl.failover.inner.lock();
    abort_locked(server, &mut f, reason);
}

fn abort_locked(server: &Server, f: &mut Inner, reason: &str) {
    match (f.state, &f.target) {
        (State::None, _) => return,
        (_, Some((host, port))) => {
            tracing::info!("FAILOVER to {host}:{port} aborted: {reason}");
        }
        (_, None) => tracing::info!("FAILOVER to any replica aborted: {reason}"),
    }
    if f.state == State::InProgress {
        super::promote(server);
    }
    clear_locked(server, f);
}

fn clear_locked(server: &Server, f: &mut Inner) {
    *f = Inner::default();
    pause::failover_pause(server, false);
}

/// The demoted master got its answer to `PSYNC ... FAILOVER` (`None`: no answer at all).
/// `+FULLRESYNC` or `+CONTINUE` end the failover (the pause is lifted); anything else aborts
/// it, making us a master again.
pub fn psync_replied(server: &Server, reply: Option<&str>) {
    let mut f = server.repl.failover.inner.lock();
    if f.state != State::InProgress {
        return;
    }
    let accepted =
        reply.is_some_and(|r| r.starts_with("+FULLRESYNC") || r.starts_with("+CONTINUE"));
    if accepted {
        clear_locked(server, &mut f);
        return;
    }
    // The link stops here (we are a master again): say what the target answered, as the
    // handshake would have.
    match reply {
        Some(r) if r.starts_with("-NOMASTERLINK") || r.starts_with("-LOADING") => {
            tracing::info!("Master is currently unable to PSYNC but should be in the future: {r}");
        }
        Some(r) if r.starts_with("-ERR") => {
            tracing::info!("Master does not support PSYNC or is in error state (reply: {r})");
        }
        Some(r) => tracing::warn!("Unexpected reply to PSYNC from master: {r}"),
        None => {}
    }
    abort_locked(server, &mut f, "Failover target rejected psync request");
}

/// The target side of `PSYNC <replid> <offset> FAILOVER`, from `requester` (its client
/// description): a replica whose replid is `replid` promotes itself, keeping its data, before
/// the PSYNC is answered as usual.
pub fn take_over(server: &Server, replid: &str, requester: &str) -> Result<(), FailoverError> {
    tracing::warn!("Failover request received for replid {replid}.");
    if !server.is_replica() {
        return Err(FailoverError::PsyncToMaster);
    }
    if !server.repl.ids.lock().replid.eq_ignore_ascii_case(replid) {
        return Err(FailoverError::PsyncReplidMismatch);
    }
    super::promote(server);
    tracing::info!("MASTER MODE enabled (failover request from '{requester}')");
    Ok(())
}
