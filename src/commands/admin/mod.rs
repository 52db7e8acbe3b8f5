//! Administrative commands: CONFIG, CLIENT, ACL, COMMAND, SLOWLOG, LATENCY and MEMORY (redis
//! `config.c`, `networking.c`, `acl.c`, `server.c`, `slowlog.c`, `latency.c`, `object.c`).
//!
//! Also owns the server-wide state these commands manage that the `Server` struct does not
//! hold: the client pause (`pause`) and the latency monitor (`latency`), kept per server in
//! [`state`].

pub mod acl;
pub mod client;
pub mod command;
pub mod config;
pub mod latency;
pub mod memory;
pub mod pause;
pub mod slowlog;
pub mod table;
pub mod tracking;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::LazyLock;

use parking_lot::Mutex;

use super::spec::Spec;
use crate::protocol::Reply;
use crate::server::Server;

pub const COMMANDS: &[Spec] = &[
    config::CONFIG,
    client::CLIENT,
    acl::ACL,
    command::COMMAND,
    slowlog::SLOWLOG,
    latency::LATENCY,
    memory::MEMORY,
];

/// State of one server kept outside `Server`: the client pause and the latency monitor.
#[derive(Default)]
pub struct AdminState {
    pub pause: pause::PauseState,
    pub latency: latency::LatencyMonitor,
}

/// Every server's state in this process, by run id (tests run several servers in one process).
static STATES: LazyLock<Mutex<Vec<(String, &'static AdminState)>>> =
    LazyLock::new(|| Mutex::new(Vec::new()));

/// The admin state of `server`, created on first use. Not for the per-command hot path: callers
/// check a cheap flag first (see `pause::must_wait`, `latency::record`).
pub fn state(server: &Server) -> &'static AdminState {
    let mut all = STATES.lock();
    if let Some((_, s)) = all.iter().find(|(id, _)| *id == server.run_id) {
        return s;
    }
    // One small allocation per server started in this process, kept for its lifetime.
    let s: &'static AdminState = Box::leak(Box::default());
    all.push((server.run_id.clone(), s));
    s
}

/// A HELP reply as redis `addReplyHelp`: the usage line, the lines given, then HELP itself.
pub fn help_reply(name: &str, lines: &[&'static str]) -> Reply {
    let mut v = Vec::with_capacity(lines.len() + 3);
    v.push(Reply::Status(
        format!("{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:").into(),
    ));
    v.extend(lines.iter().map(|l| Reply::status(l)));
    v.push(Reply::status("HELP"));
    v.push(Reply::status("    Prints this help."));
    Reply::Array(v)
}

/// redis `addReplySubcommandSyntaxError`.
pub fn subcommand_syntax_error(cx: &super::Ctx) -> super::CmdError {
    let sub = cx
        .argv
        .get(1)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    let name = String::from_utf8_lossy(&cx.argv[0]).to_ascii_uppercase();
    super::CmdError::err(format_args!(
        "unknown subcommand or wrong number of arguments for '{sub}'. Try {name} HELP."
    ))
}

/// Config values read on every write (maxmemory for the OOM check, the keyspace notification
/// classes), cached outside the config lock: one server's values, tagged by an id derived from
/// its random run id, behind a sequence lock. Only CONFIG SET changes them after startup, and it
/// calls [`invalidate_hot_config`].
struct HotCache {
    /// Even when stable; odd while being written.
    seq: AtomicU64,
    owner: AtomicU64,
    maxmemory: AtomicU64,
    notify: AtomicU32,
}

static HOT: HotCache = HotCache {
    seq: AtomicU64::new(0),
    owner: AtomicU64::new(0),
    maxmemory: AtomicU64::new(0),
    notify: AtomicU32::new(0),
};

/// The hot config values of one server.
#[derive(Debug, Clone, Copy)]
pub struct HotConfig {
    pub maxmemory: u64,
    pub notify_flags: u32,
}

fn owner_tag(server: &Server) -> u64 {
    let id = server.run_id.as_bytes();
    let mut b = [0u8; 8];
    let n = id.len().min(8);
    b[..n].copy_from_slice(&id[..n]);
    // Never 0, which marks an empty cache.
    (u64::from_le_bytes(b) ^ (server as *const Server as u64)) | 1
}

/// `maxmemory` and `notify-keyspace-events` of `server` without taking the config lock.
pub fn hot_config(server: &Server) -> HotConfig {
    let tag = owner_tag(server);
    let s1 = HOT.seq.load(Ordering::Acquire);
    if s1 % 2 == 0 && HOT.owner.load(Ordering::Acquire) == tag {
        let v = HotConfig {
            maxmemory: HOT.maxmemory.load(Ordering::Acquire),
            notify_flags: HOT.notify.load(Ordering::Acquire),
        };
        if HOT.seq.load(Ordering::Acquire) == s1 {
            return v;
        }
    }
    let v = {
        let c = server.config.read();
        HotConfig {
            maxmemory: c.maxmemory,
            notify_flags: c.notify_keyspace_events_flags,
        }
    };
    // Publish unless another writer is busy (the next call retries).
    if HOT
        .seq
        .compare_exchange(s1 & !1, (s1 & !1) + 1, Ordering::AcqRel, Ordering::Relaxed)
        .is_ok()
    {
        HOT.owner.store(tag, Ordering::Release);
        HOT.maxmemory.store(v.maxmemory, Ordering::Release);
        HOT.notify.store(v.notify_flags, Ordering::Release);
        HOT.seq.store((s1 & !1) + 2, Ordering::Release);
    }
    v
}

/// Forgets the cached values (after CONFIG SET).
pub fn invalidate_hot_config() {
    loop {
        let s = HOT.seq.load(Ordering::Acquire);
        if s % 2 == 0
            && HOT
                .seq
                .compare_exchange(s, s + 1, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            HOT.owner.store(0, Ordering::Release);
            HOT.seq.store(s + 2, Ordering::Release);
            return;
        }
        std::hint::spin_loop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn hot_config_follows_config_set() {
        let a = Server::new(Config::default());
        let b = Server::new(Config::default());
        b.config.write().set("maxmemory", "1000").expect("set");
        assert_eq!(hot_config(&a).maxmemory, 0);
        assert_eq!(hot_config(&b).maxmemory, 1000);
        assert_eq!(hot_config(&a).maxmemory, 0);
        a.config
            .write()
            .set("notify-keyspace-events", "KEA")
            .expect("set");
        invalidate_hot_config();
        assert_ne!(hot_config(&a).notify_flags, 0);
        assert_eq!(hot_config(&b).notify_flags, 0);
    }
}
