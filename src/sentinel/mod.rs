//! Tandem's Sentinel: `tandem-server sentinel.conf --sentinel`, or the binary run under a
//! name ending in `-sentinel`. Wire-compatible with Redis Sentinel 7.0: the same hello
//! messages, SENTINEL commands, events and failover, so Tandem and Redis sentinels can share
//! one quorum.
//!
//! The process is a Tandem server with a restricted command table (`commands.rs`); the
//! sentinel's state is one [`State`] behind a mutex, driven by a timer task (`timer.rs`, about
//! every 100 ms as Redis's `sentinelTimer`) and by the replies arriving on the links to the
//! monitored instances (`link.rs`).

pub mod commands;
pub mod config;
pub mod events;
pub mod failover;
pub mod link;
pub mod monitor;
pub mod safety;
pub mod scripts;
pub mod settings;
pub mod state;
pub mod timer;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::Mutex;

use crate::server::Server;
pub use state::State;

static MODE: AtomicBool = AtomicBool::new(false);
static STATE: OnceLock<Mutex<State>> = OnceLock::new();
static SERVER: OnceLock<Weak<Server>> = OnceLock::new();

/// The default port of a sentinel (redis `REDIS_SENTINEL_PORT`).
pub const DEFAULT_PORT: u16 = 26379;
pub const HELLO_CHANNEL: &str = "__sentinel__:hello";

/// Whether this process runs as a sentinel (set once at startup, before the config loads).
pub fn mode() -> bool {
    MODE.load(Ordering::Relaxed)
}

/// redis `checkForSentinelMode`: the program name, or `--sentinel` among the arguments.
pub fn detect(argv0: &str, args: &[String]) -> bool {
    let name = std::path::Path::new(argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.ends_with("-sentinel")
        || name.contains("redis-sentinel")
        || args.iter().any(|a| a == "--sentinel")
}

pub fn set_mode(on: bool) {
    MODE.store(on, Ordering::Relaxed);
}

/// The sentinel's state (created empty on first use).
pub fn state() -> &'static Mutex<State> {
    STATE.get_or_init(|| Mutex::new(State::default()))
}

/// The server this sentinel runs in, for publishing events and rewriting the config.
pub fn server() -> Option<Arc<Server>> {
    SERVER.get().and_then(Weak::upgrade)
}

/// Before the server starts: the config file must be writable (the sentinel keeps its state
/// there), the `sentinel` lines are applied, and nothing is saved as a dataset.
pub fn prepare(cfg: &mut crate::config::Config) -> Result<(), u8> {
    let Some(path) = cfg.config_file().map(|p| p.to_path_buf()) else {
        tracing::warn!("Sentinel needs config file on disk to save state. Exiting...");
        return Err(1);
    };
    if let Err(e) = nix::unistd::access(&path, nix::unistd::AccessFlags::W_OK) {
        tracing::warn!(
            "Sentinel config file {} is not writable: {}. Exiting...",
            path.display(),
            e.desc()
        );
        return Err(1);
    }
    cfg.save.clear();
    let mut st = state().lock();
    if let Err(e) = config::load(cfg, &mut st) {
        eprint!("{e}");
        return Err(1);
    }
    Ok(())
}

/// Starts the sentinel once the server listens: myid, +monitor events, the timer.
pub fn start(server: &Arc<Server>) {
    let _ = SERVER.set(Arc::downgrade(server));
    {
        let mut st = state().lock();
        // TILT measures the time between timer ticks: the first tick is measured from now.
        st.g.previous_time = mstime();
        if st.g.myid.is_empty() {
            st.g.myid = crate::server::random_hex(40);
            config::flush(&st);
        }
        tracing::warn!("Sentinel ID is {}", st.g.myid);
        let names: Vec<String> = st.masters.keys().cloned().collect();
        for n in names {
            if let Some(m) = st.masters.get(&n) {
                let msg = format!(
                    "{} quorum {}",
                    events::ident(&st.g, &m.inst, None),
                    m.quorum
                );
                events::emit(&st.g, events::Level::Warning, "+monitor", Some(m), &msg);
            }
        }
    }
    timer::spawn(server.clone());
}

/// Milliseconds since the epoch (redis `mstime`).
pub fn mstime() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
