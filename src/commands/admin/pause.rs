//! CLIENT PAUSE: a server-wide pause until a deadline, of every command (ALL) or of those that
//! may change the dataset or replicate (WRITE), as redis `pauseClients` / `blockPostponeClient`.
//!
//! The connection asks [`must_wait`] before processing each request (cheap: one atomic load when
//! no server in the process is paused), and awaits [`wait`] when it must: the request then runs
//! once the pause ends or is lifted by CLIENT UNPAUSE. Replica links are never paused.
//!
//! FAILOVER pauses writes on its own account (redis `PAUSE_DURING_FAILOVER`): CLIENT UNPAUSE
//! does not lift that pause, and the end of the failover does not lift a CLIENT PAUSE.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::sync::Notify;

use crate::commands::spec;
use crate::server::client::{Client, ClientShared, Push};
use crate::server::{dispatch, Server};

/// Pause modes, ordered by strictness (redis `pause_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    Off = 0,
    Write = 1,
    All = 2,
}

/// One server's pause.
#[derive(Default)]
pub struct PauseState {
    mode: AtomicU8,
    until_ms: AtomicI64,
    /// Writes paused by a FAILOVER until it ends.
    failover: AtomicBool,
    lifted: Notify,
}

/// Set while any server of this process may be paused: the fast path of [`must_wait`].
static ANY_PAUSED: AtomicBool = AtomicBool::new(false);

impl PauseState {
    /// The mode in force now: the stricter of CLIENT PAUSE's and FAILOVER's.
    pub fn mode_now(&self) -> Mode {
        let by_command = self.command_mode_now();
        if self.failover.load(Ordering::Acquire) {
            by_command.max(Mode::Write)
        } else {
            by_command
        }
    }

    /// The mode CLIENT PAUSE set (Off once its deadline passed).
    fn command_mode_now(&self) -> Mode {
        let m = self.mode.load(Ordering::Acquire);
        if m == Mode::Off as u8 || crate::util::now_ms() >= self.until_ms.load(Ordering::Acquire) {
            return Mode::Off;
        }
        if m == Mode::All as u8 {
            Mode::All
        } else {
            Mode::Write
        }
    }
}

/// Pauses clients until `until_ms`. An active pause is never relaxed: the stricter mode and the
/// later deadline win, as in redis `pauseClients`.
pub fn pause(server: &Server, until_ms: i64, mode: Mode) {
    let st = &super::state(server).pause;
    // Under the registry lock, so `clear_flag_if_idle` cannot miss this pause.
    let _all = super::STATES.lock();
    let active = st.command_mode_now() != Mode::Off;
    let (old_mode, old_until) = if active {
        (
            st.mode.load(Ordering::Acquire),
            st.until_ms.load(Ordering::Acquire),
        )
    } else {
        (Mode::Off as u8, i64::MIN)
    };
    st.until_ms
        .store(until_ms.max(old_until), Ordering::Release);
    st.mode.store((mode as u8).max(old_mode), Ordering::Release);
    ANY_PAUSED.store(true, Ordering::Release);
}

/// Clears the process-wide flag once no server is paused, so the per-request check is one
/// atomic load again.
fn clear_flag_if_idle() {
    let all = super::STATES.lock();
    if all.iter().all(|(_, s)| s.pause.mode_now() == Mode::Off) {
        ANY_PAUSED.store(false, Ordering::Release);
    }
}

/// Lifts the pause (CLIENT UNPAUSE) and wakes every waiting client.
pub fn unpause(server: &Server) {
    let st = &super::state(server).pause;
    st.mode.store(Mode::Off as u8, Ordering::Release);
    st.lifted.notify_waiters();
}

/// Pauses writes for a FAILOVER (`on`), or lifts that pause and wakes the waiting clients.
pub fn failover_pause(server: &Server, on: bool) {
    let st = &super::state(server).pause;
    let _all = super::STATES.lock();
    st.failover.store(on, Ordering::Release);
    if on {
        ANY_PAUSED.store(true, Ordering::Release);
    } else {
        st.lifted.notify_waiters();
    }
}

/// Whether writes are paused now, by CLIENT PAUSE or by a FAILOVER (redis
/// `checkClientPauseTimeoutAndReturnIfPaused`): active expiry and GETACK wait meanwhile.
pub fn writes_paused(server: &Server) -> bool {
    ANY_PAUSED.load(Ordering::Acquire) && super::state(server).pause.mode_now() != Mode::Off
}

/// Whether `argv` from `client` must wait for the pause to end before it is processed.
/// Requests that the dispatcher refuses before redis's pause check (unknown command, arity,
/// authentication, RESP2 pub/sub context, read-only replica, NO_MULTI in MULTI) never wait.
pub fn must_wait(server: &Server, client: &Client, argv: &[Bytes]) -> bool {
    if !ANY_PAUSED.load(Ordering::Acquire) {
        return false;
    }
    let mode = super::state(server).pause.mode_now();
    if mode == Mode::Off {
        clear_flag_if_idle();
        return false;
    }
    if client.shared.is_replica.load(Ordering::Relaxed) {
        return false;
    }
    let Ok((_, cmd)) = dispatch::resolve(argv) else {
        return false;
    };
    if !client.authenticated && !cmd.has(spec::NO_AUTH) {
        return false;
    }
    if client.multi.is_some() && cmd.has(spec::NO_MULTI) {
        return false;
    }
    if client.in_pubsub()
        && client.resp == crate::protocol::encode::Resp::V2
        && !crate::server::dispatch::allowed_in_pubsub(cmd.name)
    {
        return false;
    }
    if mode == Mode::All {
        return true;
    }
    // A script's shebang flags replace its command's (redis `getCommandFlags`): a
    // `no-writes` script is not paused by CLIENT PAUSE WRITE.
    let flags = |s: &spec::Spec, argv: &[Bytes]| {
        if s.group == spec::Group::Scripting {
            crate::scripting::command_flags(server, s, argv)
        } else {
            s.flags
        }
    };
    let replicating = |f: u32| f & (spec::WRITE | spec::MAY_REPLICATE) != 0;
    let own = flags(cmd, argv);
    if replicating(own) {
        return !(own & spec::WRITE != 0
            && !client.is_master_link
            && server.is_replica()
            && server.config.read().replica_read_only);
    }
    if cmd.name == "exec" {
        if let Some(m) = &client.multi {
            return m
                .queued
                .iter()
                .any(|q| dispatch::resolve(q).is_ok_and(|(_, s)| replicating(flags(s, q))));
        }
    }
    false
}

/// Waits until the pause ends. Pub/sub messages that arrive meanwhile are collected in
/// `out`. Returns false if the client was killed (or its channel closed) while waiting.
pub async fn wait(
    server: &Server,
    client: &ClientShared,
    rx: &mut crate::server::client::Pushes,
    out: &mut BytesMut,
) -> bool {
    let st = &super::state(server).pause;
    loop {
        if st.mode_now() == Mode::Off || server.is_shutting_down() {
            return true;
        }
        tokio::select! {
            _ = nap(server) => {}
            p = rx.recv() => match p {
                Push::Bytes(b) => crate::server::output::take_push(client, &b, out),
                Push::Resize => {}
                Push::Kill => return false,
            },
        }
    }
}

/// Waits until the pause is lifted or its deadline may have come (at most 100 ms): the caller
/// then checks again whether it must wait.
pub async fn nap(server: &Server) {
    let st = &super::state(server).pause;
    // A FAILOVER pause has no deadline: it ends with a notification.
    let left = if st.failover.load(Ordering::Acquire) {
        i64::MAX
    } else {
        st.until_ms.load(Ordering::Acquire) - crate::util::now_ms()
    };
    let nap = Duration::from_millis(left.clamp(1, 100) as u64);
    tokio::select! {
        _ = st.lifted.notified() => {}
        _ = tokio::time::sleep(nap) => {}
    }
}
