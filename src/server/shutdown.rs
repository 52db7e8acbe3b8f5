//! The shutdown sequence of Redis 7.0 (`prepareForShutdown`, `finishShutdown`,
//! `abortShutdown`): SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT], SIGTERM and SIGINT (with
//! `shutdown-on-sigterm` / `shutdown-on-sigint`).
//!
//! Unless NOW, a master whose replicas have not acknowledged its whole stream pauses writes,
//! asks them for an ACK and waits up to `shutdown-timeout` seconds (the cron checks); then the
//! lagging ones are logged, the AOF is flushed and fsynced, and the final RDB is saved when
//! save points exist (or SAVE). A failed save stops the shutdown unless FORCE: the server goes
//! on, writes resume, and the SHUTDOWN caller gets `-ERR Errors trying to SHUTDOWN. Check
//! logs.`. Only then does the server stop (`Server::request_shutdown`).

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::Server;

pub const SAVE: u8 = 1;
pub const NOSAVE: u8 = 2;
pub const NOW: u8 = 4;
pub const FORCE: u8 = 8;

/// Where a shutdown stands.
#[derive(Default)]
pub struct ShutdownState {
    /// Unix ms until which replicas are waited for; 0 when no shutdown is initiated.
    deadline_ms: AtomicI64,
    flags: AtomicU8,
    /// A signal asked for a shutdown the cron has not started yet.
    asap: AtomicBool,
    signal: AtomicI32,
    /// Bumped when a shutdown is cancelled: blocked SHUTDOWN callers then get their error.
    generation: AtomicU64,
    /// The flags the final steps ran with, once they succeeded (the exit path reads them).
    done: AtomicBool,
    /// One shutdown step at a time (command, cron, abort).
    step: Mutex<()>,
}

/// What SHUTDOWN's caller gets.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The server is stopping: no reply, the connection closes.
    Exiting,
    /// Waiting for replicas: the caller blocks until the exit or a cancellation.
    Waiting,
    /// It failed (logged): the caller gets the error.
    Failed,
}

impl ShutdownState {
    pub fn initiated(&self) -> bool {
        self.deadline_ms.load(Ordering::Acquire) != 0
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Whether the final steps ran (the exit path must not save again).
    pub fn finished(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// INFO's `shutdown_in_milliseconds`: time left to wait for replicas.
    pub fn in_milliseconds(&self) -> i64 {
        let d = self.deadline_ms.load(Ordering::Acquire);
        if d == 0 {
            0
        } else {
            (d - crate::util::now_ms()).max(0)
        }
    }

    /// A signal asked for a shutdown that has not started yet.
    pub fn pending(&self) -> bool {
        self.asap.load(Ordering::Acquire)
    }

    /// A signal handler's request (SIGTERM = 15, SIGINT = 2); the cron acts on it.
    pub fn signal(&self, sig: i32) {
        self.signal.store(sig, Ordering::Release);
        self.asap.store(true, Ordering::Release);
    }
}

/// Whether every replica acknowledged the whole stream (redis `isReadyToShutdown`).
fn replicas_in_sync(server: &Server) -> bool {
    let offset = server.repl.master_repl_offset();
    crate::replication::master::replicas(server)
        .iter()
        .all(|r| r.ack_offset.load(Ordering::Acquire) == offset)
}

/// Starts a shutdown (redis `prepareForShutdown`).
pub fn prepare(server: &Arc<Server>, mut flags: u8) -> Outcome {
    let st = &server.shutdown;
    let _step = st.step.lock();
    if st.initiated() {
        return Outcome::Waiting;
    }
    if server.persist.loading.load(Ordering::Acquire) {
        flags = (flags & !SAVE) | NOSAVE;
    }
    st.flags.store(flags, Ordering::Release);
    tracing::warn!("User requested shutdown...");
    let timeout = server.config.read().get("shutdown-timeout");
    let timeout: i64 = timeout.and_then(|t| t.parse().ok()).unwrap_or(10);
    if flags & NOW == 0 && timeout != 0 && !replicas_in_sync(server) {
        st.deadline_ms
            .store(crate::util::now_ms() + timeout * 1000, Ordering::Release);
        if !crate::commands::admin::pause::writes_paused(server) {
            server.repl.stream.feed_control(&[
                bytes::Bytes::from_static(b"REPLCONF"),
                bytes::Bytes::from_static(b"GETACK"),
                bytes::Bytes::from_static(b"*"),
            ]);
        }
        crate::commands::admin::pause::failover_pause(server, true);
        tracing::info!("Waiting for replicas before shutting down.");
        return Outcome::Waiting;
    }
    if finish(server, flags) {
        Outcome::Exiting
    } else {
        Outcome::Failed
    }
}

/// SHUTDOWN ABORT (redis `abortShutdown`): false when nothing was in progress.
pub fn abort(server: &Server) -> bool {
    let st = &server.shutdown;
    let _step = st.step.lock();
    if st.initiated() {
        cancel(server);
    } else if !st.asap.swap(false, Ordering::AcqRel) {
        return false;
    }
    tracing::info!("Shutdown manually aborted.");
    true
}

fn cancel(server: &Server) {
    let st = &server.shutdown;
    st.asap.store(false, Ordering::Release);
    st.flags.store(0, Ordering::Release);
    st.deadline_ms.store(0, Ordering::Release);
    st.signal.store(0, Ordering::Release);
    st.generation.fetch_add(1, Ordering::AcqRel);
    crate::commands::admin::pause::failover_pause(server, false);
}

/// The cron's part: a signal's shutdown starts here, and a waiting one ends once the
/// replicas caught up or the time is up.
pub fn cron(server: &Arc<Server>) {
    let st = &server.shutdown;
    // `asap` stays set until the server exits or the shutdown is cancelled: a second SIGINT
    // meanwhile means "now".
    if st.asap.load(Ordering::Acquire) && !st.initiated() {
        let name = match st.signal.load(Ordering::Acquire) {
            2 => "shutdown-on-sigint",
            _ => "shutdown-on-sigterm",
        };
        let flags = parse_flags(&server.config.read().get(name).unwrap_or_default());
        let _ = prepare(server, flags);
    } else if st.initiated()
        && (crate::util::now_ms() >= st.deadline_ms.load(Ordering::Acquire)
            || replicas_in_sync(server))
    {
        let _step = st.step.lock();
        if st.initiated() {
            let flags = st.flags.load(Ordering::Acquire);
            finish(server, flags);
        }
    }
}

/// `shutdown-on-sig*`'s value as flags ("default" is none).
fn parse_flags(v: &str) -> u8 {
    v.split_whitespace()
        .map(|w| match w.to_ascii_lowercase().as_str() {
            "save" => SAVE,
            "nosave" => NOSAVE,
            "now" => NOW,
            "force" => FORCE,
            _ => 0,
        })
        .fold(0, |a, b| a | b)
}

/// The final steps (redis `finishShutdown`). True when the server may exit (it is told to);
/// false when it goes on (logged, shutdown cancelled).
fn finish(server: &Arc<Server>, flags: u8) -> bool {
    let force = flags & FORCE != 0;
    // Clients are still served meanwhile (Redis is not, it is busy here): writes wait, so
    // nothing is acknowledged after the final save's instant.
    crate::commands::admin::pause::failover_pause(server, true);
    let offset = server.repl.master_repl_offset();
    let replicas = crate::replication::master::replicas(server);
    let mut lagging = 0;
    let now_s = crate::util::now_ms() / 1000;
    for r in &replicas {
        let acked = r.ack_offset.load(Ordering::Acquire);
        if acked != offset {
            lagging += 1;
            let online = r.state() == crate::replication::master::ReplicaState::Online;
            let lag = if online {
                now_s - r.last_ack_ms.load(Ordering::Acquire) / 1000
            } else {
                0
            };
            tracing::warn!(
                "Lagging replica {} reported offset {} behind master, lag={lag}, state={}.",
                r.name(),
                offset.saturating_sub(acked),
                r.state().name()
            );
        }
    }
    if !replicas.is_empty() {
        tracing::info!(
            "{} of {} replicas are in sync when shutting down.",
            replicas.len() - lagging,
            replicas.len()
        );
    }
    if server
        .persist
        .child
        .pid(crate::persistence::child::Kind::Rdb)
        .is_some()
    {
        // Killed quietly, its temp file removed; its walk gives up as it notices.
        tracing::warn!("There is a child saving an .rdb. Killing it!");
        server
            .persist
            .child
            .kill(crate::persistence::child::Kind::Rdb);
    }
    let aof = &server.aof;
    if aof.stats.rewrite_in_progress.load(Ordering::Acquire) {
        if aof.settled_state() == crate::persistence::aof::WAIT_REWRITE {
            if force {
                tracing::warn!("Writing initial AOF. Exit anyway.");
            } else {
                tracing::warn!("Writing initial AOF, can't exit.");
                return failed(server);
            }
        }
        tracing::warn!("There is a child rewriting the AOF. Killing it!");
        crate::persistence::aof::rewrite::kill(server);
    }
    if aof.is_on() {
        tracing::info!("Calling fsync() on the AOF file.");
        aof.shutdown();
    }
    let points = !server.config.read().save.is_empty();
    if (points && flags & NOSAVE == 0) || flags & SAVE != 0 {
        // A running snapshot (BGSAVE, a replica's sync) is waited for, bounded.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        crate::util::blocking(|| {
            while server.snapshot_slot.is_busy() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        });
        tracing::info!("Saving the final RDB snapshot before exiting.");
        if let Err(e) = crate::util::blocking(|| crate::persistence::save::save_blocking(server)) {
            tracing::warn!("{e}");
            if force {
                tracing::warn!("Error trying to save the DB. Exit anyway.");
            } else {
                tracing::warn!("Error trying to save the DB, can't exit.");
                return failed(server);
            }
        }
    }
    server.shutdown.done.store(true, Ordering::Release);
    server.request_shutdown();
    true
}

fn failed(server: &Server) -> bool {
    tracing::warn!("Errors trying to shut down the server. Check the logs for more information.");
    cancel(server);
    false
}
