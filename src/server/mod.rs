//! The server: shared state, the listener, connections, and command dispatch.

pub mod blocking;
pub mod client;
pub mod client_mem;
pub mod connection;
pub mod crash;
pub mod dispatch;
pub mod evict;
pub mod expire;
pub mod freeze;
pub mod histogram;
pub mod lazyfree;
pub mod listener;
pub mod logging;
pub mod memory;
pub mod notify;
pub mod oom;
pub mod order;
pub mod output;
pub mod proctitle;
pub mod pubsub;
pub mod querybuf;
pub mod rename;
pub mod shutdown;
pub mod slowlog;
pub mod startup;
pub mod stats;
pub mod tls;
pub mod tracking;
pub mod watch;
pub mod watchdog;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Mutex, RwLock};
use tokio::sync::watch as tokio_watch;

use crate::config::Config;
use crate::keyspace::{EncodingLimits, Keyspace};
use client::ClientShared;

pub use listener::run;

/// Version reported to clients (INFO redis_version, HELLO): Redis's, for compatibility.
pub const REDIS_VERSION: &str = "7.0.15";

/// State shared by every connection and background task.
pub struct Server {
    /// This server itself, for tasks that must own a reference.
    pub me: std::sync::Weak<Server>,
    /// Whether we replicate from a master (mirrors `replicaof`, read on every write).
    pub role_replica: AtomicBool,
    pub keyspace: Keyspace,
    /// Settings every command reads, mirrored from `config` by `config_changed`.
    pub hot: HotConfig,
    pub repl: crate::replication::Replication,
    pub snapshot_slot: crate::persistence::snapshot::SnapshotSlot,
    pub persist: crate::persistence::PersistState,
    pub aof: crate::persistence::aof::Aof,
    pub config: RwLock<Config>,
    pub stats: stats::Stats,
    pub clients: Mutex<BTreeMap<u64, Arc<ClientShared>>>,
    pub next_client_id: AtomicU64,
    pub pubsub: pubsub::PubSub,
    pub watches: watch::Watches,
    /// CLIENT TRACKING's table and settings.
    pub tracking: tracking::Tracking,
    /// Client eviction (`maxmemory-clients`).
    pub client_mem: client_mem::ClientMemory,
    pub slowlog: slowlog::Slowlog,
    /// Large values and emptied databases freed in the background.
    pub lazyfree: lazyfree::LazyFree,
    pub monitors: Monitors,
    pub started: Instant,
    /// `used_memory` once the server was initialized, before any data loaded (INFO
    /// `used_memory_startup`, MEMORY STATS `startup.allocated`; redis `initial_memory_usage`).
    pub startup_memory: AtomicU64,
    pub run_id: String,
    /// Set to true to stop the server (SHUTDOWN, signals).
    pub shutdown_tx: tokio_watch::Sender<bool>,
    pub active_expire_enabled: AtomicBool,
    /// DEBUG PAUSE-CRON: the cron's ticks are skipped.
    pub cron_paused: AtomicBool,
    /// DEBUG SLEEP's stop of the whole server.
    pub freeze: freeze::Freeze,
    /// Clients blocked in BLPOP, WAIT ... and the keys they wait on.
    pub blocking: blocking::Blocking,
    pub scripting: crate::scripting::Scripting,
    /// ACL users and the ACL log.
    pub acl: crate::acl::Acl,
    /// `rename-command`; None when nothing is renamed.
    pub renames: Option<rename::Renames>,
    /// DEBUG SET-SKIP-CHECKSUM-VALIDATION: RESTORE payloads and RDB files are loaded without
    /// checking their CRC64.
    pub skip_checksum_validation: AtomicBool,
    /// MIGRATE's cached connections to its targets.
    pub migrate_sockets: crate::commands::migrate::SocketCache,
    /// The shutdown sequence (SHUTDOWN, signals).
    pub shutdown: shutdown::ShutdownState,
    pub tcp_port: std::sync::atomic::AtomicU16,
    /// The listening sockets of `port` and `tls-port` (CONFIG SET closes them at once).
    pub listening: listener::Open,
    /// The TLS contexts (`tls-*` directives).
    pub tls: tls::TlsState,
    pub config_file: Option<std::path::PathBuf>,
    pub executable: String,
}

impl Server {
    pub fn new(config: Config) -> Arc<Server> {
        let ks = Keyspace::new(config.databases);
        ks.limits.store(&limits_of(&config));
        ks.access.store(access_of(&config));
        let (shutdown_tx, _) = tokio_watch::channel(false);
        let port = config.port;
        let config_file = config.config_file().map(|p| p.to_path_buf());
        let replica = config.replicaof.is_some();
        let hot = HotConfig::default();
        hot.load(&config);
        let renames = rename::Renames::build(&config.rename_commands).unwrap_or_default();
        Arc::new_cyclic(|me| Server {
            me: me.clone(),
            role_replica: AtomicBool::new(replica),
            keyspace: ks,
            repl: crate::replication::Replication::default(),
            snapshot_slot: Default::default(),
            persist: Default::default(),
            aof: Default::default(),
            config: RwLock::new(config),
            stats: stats::Stats::default(),
            clients: Mutex::new(BTreeMap::new()),
            // Ids 1 and 2 are taken in Redis by the clients of its Lua and function engines.
            next_client_id: AtomicU64::new(3),
            pubsub: pubsub::PubSub::default(),
            watches: watch::Watches::default(),
            tracking: tracking::Tracking::default(),
            client_mem: client_mem::ClientMemory::default(),
            slowlog: slowlog::Slowlog::default(),
            lazyfree: Default::default(),
            monitors: Monitors::default(),
            hot,
            started: Instant::now(),
            startup_memory: AtomicU64::new(0),
            run_id: random_hex(40),
            shutdown_tx,
            active_expire_enabled: AtomicBool::new(true),
            cron_paused: AtomicBool::new(false),
            freeze: freeze::Freeze::default(),
            blocking: Default::default(),
            scripting: Default::default(),
            acl: Default::default(),
            renames,
            skip_checksum_validation: AtomicBool::new(false),
            migrate_sockets: Default::default(),
            shutdown: Default::default(),
            tcp_port: std::sync::atomic::AtomicU16::new(port),
            listening: Default::default(),
            tls: Default::default(),
            config_file,
            executable: std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        })
    }

    /// Re-reads the values cached outside the config (encoding limits) after CONFIG SET.
    pub fn config_changed(&self) {
        let cfg = self.config.read();
        self.hot.load(&cfg);
        self.aof.configure(&cfg);
        crate::commands::REGISTRY
            .latency
            .set_enabled(cfg.latency_tracking);
        crash::configure(cfg.get("crash-log-enabled").as_deref() != Some("no"));
        memory::set_background_thread(cfg.get("jemalloc-bg-thread").as_deref() != Some("no"));
        let _ = oom::apply(&cfg, self.is_replica());
        self.keyspace.limits.store(&limits_of(&cfg));
        self.keyspace.access.store(access_of(&cfg));
        let max_keys = cfg
            .get("tracking-table-max-keys")
            .and_then(|v| v.parse().ok());
        self.tracking.set_max_keys(max_keys.unwrap_or(1_000_000));
        self.client_mem
            .configure(cfg.get("maxmemory-clients").as_deref(), cfg.maxmemory);
        let l = cfg.client_output_buffer_limit.replica;
        self.repl.stream.set_limits(
            cfg.repl_backlog_size,
            (l.hard_bytes, l.soft_bytes, l.soft_seconds),
        );
        let (period, hz) = (cfg.watchdog_period, u64::from(cfg.hz));
        drop(cfg);
        // CONFIG GET shows the period raised to its minimum, as in Redis.
        let applied = watchdog::configure(period, hz);
        if applied != period {
            self.config.write().watchdog_period = applied;
        }
    }

    pub fn request_shutdown(&self) {
        self.listening.close_all();
        let _ = self.shutdown_tx.send(true);
    }

    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown_tx.borrow()
    }

    pub fn uptime_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    pub fn connected_clients(&self) -> usize {
        self.clients.lock().len()
    }

    /// Appends a command's effects to the AOF and the replication stream (wrapped in MULTI/EXEC
    /// when there are several). Called with the command's shards still locked.
    pub fn replication_feed(&self, effects: &[crate::keyspace::Effect]) {
        // The AOF takes what a replica applies from its master too.
        self.aof.feed(effects);
        // A replica's own writes (replica-read-only no) stay local: its stream is its master's.
        if !self.is_replica() {
            self.repl.stream.feed(effects);
        }
    }

    /// Whether this server is currently a replica (replicaof set).
    pub fn is_replica(&self) -> bool {
        self.role_replica.load(Ordering::Acquire)
    }

    /// An owned reference to this server (for spawned tasks).
    pub fn arc(&self) -> Option<Arc<Server>> {
        self.me.upgrade()
    }

    pub fn port(&self) -> u16 {
        self.tcp_port.load(Ordering::Relaxed)
    }
}

fn limits_of(c: &Config) -> EncodingLimits {
    EncodingLimits {
        hash_max_listpack_entries: c.hash_max_listpack_entries as usize,
        hash_max_listpack_value: c.hash_max_listpack_value as usize,
        set_max_intset_entries: c.set_max_intset_entries as usize,
        zset_max_listpack_entries: c.zset_max_listpack_entries as usize,
        zset_max_listpack_value: c.zset_max_listpack_value as usize,
        list_max_listpack_size: c.list_max_listpack_size,
    }
}

fn access_of(c: &Config) -> crate::keyspace::Access {
    crate::keyspace::Access {
        lfu: c.maxmemory_policy.is_lfu(),
        log_factor: c.lfu_log_factor,
        decay_time: c.lfu_decay_time,
    }
}

/// `n` random lowercase hex characters (run ids, replication ids).
pub fn random_hex(n: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from(b"0123456789abcdef"[rng.random_range(0..16)]))
        .collect()
}

/// The MONITOR clients. Every command checks for them: `is_empty` is one atomic load, so the
/// list's lock is only taken while someone monitors.
#[derive(Default)]
pub struct Monitors {
    list: Mutex<Vec<Arc<ClientShared>>>,
    count: std::sync::atomic::AtomicUsize,
}

impl Monitors {
    pub fn add(&self, c: Arc<ClientShared>) {
        let mut l = self.list.lock();
        l.push(c);
        self.count.store(l.len(), Ordering::Release);
    }

    pub fn remove(&self, id: u64) {
        let mut l = self.list.lock();
        l.retain(|m| m.id != id);
        self.count.store(l.len(), Ordering::Release);
    }

    pub fn is_empty(&self) -> bool {
        self.count.load(Ordering::Acquire) == 0
    }

    pub fn lock(&self) -> parking_lot::MutexGuard<'_, Vec<Arc<ClientShared>>> {
        self.list.lock()
    }
}

/// The settings the command path reads on every command, as plain atomics: reading them
/// through the config's lock made every command write to the lock's shared cache line.
#[derive(Default)]
pub struct HotConfig {
    pub slowlog_log_slower_than: std::sync::atomic::AtomicI64,
    pub slowlog_max_len: std::sync::atomic::AtomicUsize,
    pub latency_monitor_threshold: AtomicU64,
    pub replica_serve_stale_data: AtomicBool,
    pub replica_read_only: AtomicBool,
    /// `stop-writes-on-bgsave-error yes` and save points configured.
    pub stop_writes_on_bgsave_error: AtomicBool,
    pub min_replicas_to_write: AtomicU64,
    pub min_replicas_max_lag: AtomicU64,
    pub busy_reply_threshold: std::sync::atomic::AtomicI64,
    pub lazyfree_lazy_user_del: AtomicBool,
    /// `client-output-buffer-limit`.
    pub obuf: output::Limits,
}

impl HotConfig {
    fn load(&self, c: &Config) {
        let r = Ordering::Relaxed;
        self.slowlog_log_slower_than
            .store(c.slowlog_log_slower_than, r);
        self.slowlog_max_len.store(c.slowlog_max_len as usize, r);
        self.latency_monitor_threshold
            .store(c.latency_monitor_threshold, r);
        self.replica_serve_stale_data
            .store(c.replica_serve_stale_data, r);
        self.replica_read_only.store(c.replica_read_only, r);
        self.stop_writes_on_bgsave_error
            .store(c.stop_writes_on_bgsave_error && !c.save.is_empty(), r);
        self.min_replicas_to_write.store(c.min_replicas_to_write, r);
        self.min_replicas_max_lag.store(c.min_replicas_max_lag, r);
        let busy = c.get("busy-reply-threshold").and_then(|v| v.parse().ok());
        self.busy_reply_threshold.store(busy.unwrap_or(5000), r);
        self.lazyfree_lazy_user_del
            .store(c.lazyfree_lazy_user_del, r);
        self.obuf.load(&c.client_output_buffer_limit);
    }
}
