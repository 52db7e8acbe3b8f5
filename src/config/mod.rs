//! Server configuration: redis.conf parsing, the directive table, CONFIG GET/SET/REWRITE.
//!
//! Behaves as redis-server 7.0.15 (`config.c`): same syntax (`sdssplitargs` quoting, memory
//! units, includes, `--directive value` command-line options), same directive names, aliases,
//! defaults, bounds and error texts, same CONFIG SET atomicity and CONFIG REWRITE output.
//!
//! - `table`: every directive Redis knows, with its kind, default and flags.
//! - `value`: reading and writing one directive (CONFIG GET strings, validation, specials).
//! - `parse`: the file syntax, the loader (includes, fatal errors) and the command line.
//! - `rewrite`: CONFIG REWRITE.
//!
//! Directives Tandem implements live in typed public fields (read them on hot paths); the rest
//! are stored so CONFIG GET/SET/REWRITE still work, and are listed by
//! [`Config::unimplemented_seen`] when a config file mentions them.
//!
//! Depends on nothing else in the crate except `crate::util`.

mod checks;
pub mod parse;
mod rewrite;
pub mod sha256;
mod special;
pub use special::format_percentile;
mod table;
mod value;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use table::{Directive, Kind, TABLE};

pub use value::memtoull;
use value::{Gv, SetCtx};

/// Whether the directive (name or alias, any case) holds a secret that CONFIG SET must hide from
/// the slowlog and MONITOR (redis `SENSITIVE_CONFIG`).
pub fn is_sensitive(name: &str) -> bool {
    table::lookup(name).is_some_and(|(i, _)| TABLE[i].has(table::SENSITIVE))
}

/// The version Tandem reports wherever Redis prints its own.
pub const REDIS_VERSION: &str = "7.0.15";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug = 0,
    Verbose = 1,
    Notice = 2,
    Warning = 3,
}

impl LogLevel {
    pub fn name(&self) -> &'static str {
        table::enum_name(checks::LOGLEVELS, *self as u32)
    }

    fn from_value(v: u32) -> LogLevel {
        match v {
            0 => LogLevel::Debug,
            1 => LogLevel::Verbose,
            3 => LogLevel::Warning,
            _ => LogLevel::Notice,
        }
    }
}

/// `maxmemory-policy`; discriminants follow redis's `maxmemory_policy_enum` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxmemoryPolicy {
    VolatileLru = 0,
    VolatileLfu = 1,
    VolatileRandom = 2,
    VolatileTtl = 3,
    AllkeysLru = 4,
    AllkeysLfu = 5,
    AllkeysRandom = 6,
    NoEviction = 7,
}

impl MaxmemoryPolicy {
    pub fn name(&self) -> &'static str {
        table::enum_name(checks::MAXMEMORY_POLICIES, *self as u32)
    }

    /// Only keys with a TTL may be evicted.
    pub fn is_volatile(&self) -> bool {
        matches!(
            self,
            MaxmemoryPolicy::VolatileLru
                | MaxmemoryPolicy::VolatileLfu
                | MaxmemoryPolicy::VolatileRandom
                | MaxmemoryPolicy::VolatileTtl
        )
    }

    /// An LFU policy: access clocks hold frequency counters instead of access times.
    pub fn is_lfu(&self) -> bool {
        matches!(
            self,
            MaxmemoryPolicy::VolatileLfu | MaxmemoryPolicy::AllkeysLfu
        )
    }

    fn from_value(v: u32) -> MaxmemoryPolicy {
        match v {
            0 => MaxmemoryPolicy::VolatileLru,
            1 => MaxmemoryPolicy::VolatileLfu,
            2 => MaxmemoryPolicy::VolatileRandom,
            3 => MaxmemoryPolicy::VolatileTtl,
            4 => MaxmemoryPolicy::AllkeysLru,
            5 => MaxmemoryPolicy::AllkeysLfu,
            6 => MaxmemoryPolicy::AllkeysRandom,
            _ => MaxmemoryPolicy::NoEviction,
        }
    }
}

/// One class of `client-output-buffer-limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObufLimit {
    pub hard_bytes: u64,
    pub soft_bytes: u64,
    pub soft_seconds: u64,
}

/// `client-output-buffer-limit` for the three classes Redis knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOutputBufferLimits {
    pub normal: ObufLimit,
    pub replica: ObufLimit,
    pub pubsub: ObufLimit,
}

impl ClientOutputBufferLimits {
    pub const DEFAULT: ClientOutputBufferLimits = ClientOutputBufferLimits {
        normal: ObufLimit {
            hard_bytes: 0,
            soft_bytes: 0,
            soft_seconds: 0,
        },
        replica: ObufLimit {
            hard_bytes: 256 << 20,
            soft_bytes: 64 << 20,
            soft_seconds: 60,
        },
        pubsub: ObufLimit {
            hard_bytes: 32 << 20,
            soft_bytes: 8 << 20,
            soft_seconds: 60,
        },
    };
}

/// Keyspace notification classes (redis `NOTIFY_*`), as parsed from `notify-keyspace-events`.
pub mod notify {
    pub const KEYSPACE: u32 = 1 << 0;
    pub const KEYEVENT: u32 = 1 << 1;
    pub const GENERIC: u32 = 1 << 2;
    pub const STRING: u32 = 1 << 3;
    pub const LIST: u32 = 1 << 4;
    pub const SET: u32 = 1 << 5;
    pub const HASH: u32 = 1 << 6;
    pub const ZSET: u32 = 1 << 7;
    pub const EXPIRED: u32 = 1 << 8;
    pub const EVICTED: u32 = 1 << 9;
    pub const STREAM: u32 = 1 << 10;
    pub const KEY_MISS: u32 = 1 << 11;
    pub const LOADED: u32 = 1 << 12;
    pub const MODULE: u32 = 1 << 13;
    pub const NEW: u32 = 1 << 14;
    /// What the `A` class stands for.
    pub const ALL: u32 =
        GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;
}

/// Why the configuration could not be loaded. `Display` is exactly what redis-server prints
/// (including the trailing newline), so the binary should `eprint!` it and exit with status 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// redis `loadServerConfigFromString` `loaderr:`; `line` and `text` are absent for the
    /// checks made after the last line (log file, cluster + replicaof).
    #[error("{}", fatal_text(*.line, .text.as_deref(), .reason))]
    Fatal {
        line: Option<usize>,
        text: Option<String>,
        reason: String,
    },
    /// A config file (or an include) could not be opened.
    #[error("Fatal error, can't open config file '{path}': {reason}\n")]
    CannotOpen { path: String, reason: String },
}

/// One `sentinel <args...>` line of the config file.
#[derive(Clone, Debug)]
pub struct SentinelLine {
    pub linenum: usize,
    pub line: String,
    /// The arguments after `sentinel`.
    pub argv: Vec<Vec<u8>>,
}

/// One line of the sentinel's state for CONFIG REWRITE (redis `rewriteConfigRewriteLine` on
/// a `sentinel <option>` name): `line` None only marks the option as rewritten.
#[derive(Clone, Debug)]
pub struct SentinelRewrite {
    pub option: String,
    pub line: Option<String>,
    pub force: bool,
}

fn fatal_text(line: Option<usize>, text: Option<&str>, reason: &str) -> String {
    let mut s = format!("\n*** FATAL CONFIG FILE ERROR (Redis {REDIS_VERSION}) ***\n");
    if let (Some(line), Some(text)) = (line, text) {
        s.push_str(&format!(
            "Reading the configuration file, at line {line}\n>>> '{text}'\n"
        ));
    }
    s.push_str(reason);
    s.push('\n');
    s
}

/// The whole server configuration. Typed public fields hold the directives Tandem implements;
/// they are written only through the directive table (load, [`Config::set`]), so they always
/// agree with [`Config::get`].
#[derive(Debug, Clone)]
pub struct Config {
    pub port: u16,
    /// TLS (redis `redisTLSContextConfig` and friends; `server::tls` builds the contexts).
    pub tls_port: u16,
    pub tls_cert_file: Option<String>,
    pub tls_key_file: Option<String>,
    pub tls_key_file_pass: Option<String>,
    pub tls_client_cert_file: Option<String>,
    pub tls_client_key_file: Option<String>,
    pub tls_client_key_file_pass: Option<String>,
    pub tls_dh_params_file: Option<String>,
    pub tls_ca_cert_file: Option<String>,
    pub tls_ca_cert_dir: Option<String>,
    pub tls_protocols: Option<String>,
    pub tls_ciphers: Option<String>,
    pub tls_ciphersuites: Option<String>,
    /// 0 no, 1 yes, 2 optional (`TLS_AUTH_CLIENTS`).
    pub tls_auth_clients: u32,
    pub tls_replication: bool,
    pub tls_cluster: bool,
    pub tls_prefer_server_ciphers: bool,
    pub tls_session_caching: bool,
    pub tls_session_cache_size: u64,
    pub tls_session_cache_timeout: u64,
    pub bind: Vec<String>,
    pub protected_mode: bool,
    pub tcp_backlog: u32,
    /// Client idle timeout in seconds (0 = never).
    pub timeout: u64,
    pub tcp_keepalive: u64,
    pub unixsocket: Option<String>,
    pub unixsocketperm: u32,
    pub daemonize: bool,
    pub pidfile: Option<String>,
    pub loglevel: LogLevel,
    pub logfile: String,
    pub databases: usize,
    pub always_show_logo: bool,
    /// Save points as (seconds, changes).
    pub save: Vec<(u64, u64)>,
    /// The absolute working directory (Redis `chdir`s into `dir`).
    pub dir: String,
    pub dbfilename: String,
    pub rdbcompression: bool,
    pub rdbchecksum: bool,
    pub rdb_del_sync_files: bool,
    pub stop_writes_on_bgsave_error: bool,
    pub requirepass: Option<String>,
    pub maxclients: u64,
    pub maxmemory: u64,
    pub maxmemory_policy: MaxmemoryPolicy,
    pub maxmemory_samples: u32,
    pub lfu_log_factor: u32,
    pub lfu_decay_time: u32,
    /// `sanitize-dump-payload`: 0 no, 1 yes, 2 clients (redis `SANITIZE_DUMP_*`).
    pub sanitize_dump_payload: u32,
    /// Already clamped to 1..=500 as Redis does.
    pub hz: u32,
    /// `watchdog-period` in ms, 0 off (raised to two cron periods once applied).
    pub watchdog_period: u64,
    pub proto_max_bulk_len: i64,
    /// Largest sparse HyperLogLog (bytes) before it turns dense.
    pub hll_sparse_max_bytes: u64,
    pub stream_node_max_bytes: u64,
    pub stream_node_max_entries: i64,
    pub client_query_buffer_limit: u64,
    /// Normalized as CONFIG GET shows it (`KEA` becomes `AKE`).
    pub notify_keyspace_events: String,
    /// The classes as [`notify`] bits (keeps `n`, which the normalized string hides under `A`).
    pub notify_keyspace_events_flags: u32,
    pub slowlog_log_slower_than: i64,
    pub slowlog_max_len: u64,
    pub latency_monitor_threshold: u64,
    /// Per-command latency histograms (INFO latencystats, LATENCY HISTOGRAM).
    pub latency_tracking: bool,
    pub hash_max_listpack_entries: u64,
    pub hash_max_listpack_value: u64,
    pub set_max_intset_entries: u64,
    pub zset_max_listpack_entries: u64,
    pub zset_max_listpack_value: u64,
    pub list_max_listpack_size: i64,
    pub list_compress_depth: u64,
    /// "no", "yes" or "local".
    pub enable_debug_command: String,
    pub replicaof: Option<(String, u16)>,
    pub masterauth: Option<String>,
    pub masteruser: Option<String>,
    pub replica_read_only: bool,
    pub replica_serve_stale_data: bool,
    pub repl_backlog_size: u64,
    pub repl_backlog_ttl: u64,
    pub repl_timeout: u64,
    pub repl_ping_replica_period: u64,
    pub repl_diskless_sync: bool,
    pub repl_diskless_sync_delay: u64,
    pub repl_diskless_sync_max_replicas: u64,
    /// "disabled", "on-empty-db" or "swapdb".
    pub repl_diskless_load: String,
    /// Test hooks (hidden): microseconds slept per key saved / loaded; negative N sleeps 1 us
    /// once in N keys on average (redis `debugDelay`).
    pub rdb_key_save_delay: i64,
    pub key_load_delay: i64,
    pub min_replicas_to_write: u64,
    pub min_replicas_max_lag: u64,
    pub replica_priority: u64,
    /// Whether Sentinel lists this replica (INFO `replica_announced`).
    pub replica_announced: bool,
    /// Tandem's `replica-refuse-rollback`: refuse a full sync that would move this replica
    /// back in (or off) the history it holds, unless REPLICAOF asked for the master.
    pub replica_refuse_rollback: bool,
    pub replica_announce_ip: Option<String>,
    pub replica_announce_port: u16,
    pub client_output_buffer_limit: ClientOutputBufferLimits,
    pub lazyfree_lazy_user_del: bool,
    pub lazyfree_lazy_expire: bool,
    pub lazyfree_lazy_eviction: bool,
    pub appendonly: bool,
    /// 0 no, 1 always, 2 everysec (`APPENDFSYNC`).
    pub appendfsync: u32,
    pub appendfilename: String,
    pub appenddirname: String,
    pub aof_use_rdb_preamble: bool,
    pub aof_load_truncated: bool,
    pub aof_timestamp_enabled: bool,
    pub aof_rewrite_incremental_fsync: bool,
    pub no_appendfsync_on_rewrite: bool,
    pub aof_disable_auto_gc: bool,
    pub auto_aof_rewrite_percentage: u64,
    pub auto_aof_rewrite_min_size: u64,
    /// `rename-command` lines (from, to), in file order (see `server::rename`).
    pub rename_commands: Vec<(String, String)>,
    /// `sentinel ...` lines (sentinel mode only), for the sentinel to apply once loaded.
    pub sentinel_lines: Vec<SentinelLine>,
    /// `user` directives: the name, then the rules (selectors merged), in file order.
    pub users: Vec<Vec<bytes::Bytes>>,
    /// The `user` lines CONFIG REWRITE writes (every ACL user), set just before a rewrite;
    /// None writes the default user from `requirepass`.
    pub acl_user_lines: Option<Vec<String>>,

    oom_score_adj_values: [i64; 3],
    latency_tracking_info_percentiles: Vec<f64>,
    /// Values of the directives Tandem does not implement, by table row.
    generic: Vec<Gv>,
    config_file: Option<PathBuf>,
    unimplemented: Vec<String>,
}

impl Config {
    /// All defaults, as redis-server without a config file (`dir` is the current directory).
    #[allow(clippy::should_implement_trait)]
    pub fn default() -> Config {
        let dir = std::env::current_dir()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut c = Config {
            port: 0,
            tls_port: 0,
            tls_cert_file: None,
            tls_key_file: None,
            tls_key_file_pass: None,
            tls_client_cert_file: None,
            tls_client_key_file: None,
            tls_client_key_file_pass: None,
            tls_dh_params_file: None,
            tls_ca_cert_file: None,
            tls_ca_cert_dir: None,
            tls_protocols: None,
            tls_ciphers: None,
            tls_ciphersuites: None,
            tls_auth_clients: 1,
            tls_replication: false,
            tls_cluster: false,
            tls_prefer_server_ciphers: false,
            tls_session_caching: true,
            tls_session_cache_size: 0,
            tls_session_cache_timeout: 0,
            bind: Vec::new(),
            protected_mode: false,
            tcp_backlog: 0,
            timeout: 0,
            tcp_keepalive: 0,
            unixsocket: None,
            unixsocketperm: 0,
            daemonize: false,
            pidfile: None,
            loglevel: LogLevel::Notice,
            logfile: String::new(),
            databases: 0,
            always_show_logo: false,
            save: vec![(3600, 1), (300, 100), (60, 10000)],
            dir,
            dbfilename: String::new(),
            rdbcompression: false,
            rdbchecksum: false,
            rdb_del_sync_files: false,
            stop_writes_on_bgsave_error: false,
            requirepass: None,
            maxclients: 0,
            maxmemory: 0,
            maxmemory_policy: MaxmemoryPolicy::NoEviction,
            maxmemory_samples: 0,
            lfu_log_factor: 0,
            lfu_decay_time: 0,
            sanitize_dump_payload: 0,
            hz: 0,
            watchdog_period: 0,
            proto_max_bulk_len: 0,
            hll_sparse_max_bytes: 0,
            stream_node_max_bytes: 0,
            stream_node_max_entries: 0,
            client_query_buffer_limit: 0,
            notify_keyspace_events: String::new(),
            notify_keyspace_events_flags: 0,
            slowlog_log_slower_than: 0,
            slowlog_max_len: 0,
            latency_monitor_threshold: 0,
            latency_tracking: true,
            hash_max_listpack_entries: 0,
            hash_max_listpack_value: 0,
            set_max_intset_entries: 0,
            zset_max_listpack_entries: 0,
            zset_max_listpack_value: 0,
            list_max_listpack_size: 0,
            list_compress_depth: 0,
            enable_debug_command: String::new(),
            replicaof: None,
            masterauth: None,
            masteruser: None,
            replica_read_only: false,
            replica_serve_stale_data: false,
            repl_backlog_size: 0,
            repl_backlog_ttl: 0,
            repl_timeout: 0,
            repl_ping_replica_period: 0,
            repl_diskless_sync: false,
            repl_diskless_sync_delay: 0,
            repl_diskless_sync_max_replicas: 0,
            repl_diskless_load: String::new(),
            rdb_key_save_delay: 0,
            key_load_delay: 0,
            min_replicas_to_write: 0,
            min_replicas_max_lag: 0,
            replica_priority: 0,
            replica_announced: true,
            replica_refuse_rollback: false,
            replica_announce_ip: None,
            replica_announce_port: 0,
            client_output_buffer_limit: ClientOutputBufferLimits::DEFAULT,
            lazyfree_lazy_user_del: false,
            lazyfree_lazy_expire: false,
            lazyfree_lazy_eviction: false,
            appendonly: false,
            appendfsync: 2,
            appendfilename: String::new(),
            appenddirname: String::new(),
            aof_use_rdb_preamble: true,
            aof_load_truncated: true,
            aof_timestamp_enabled: false,
            aof_rewrite_incremental_fsync: true,
            no_appendfsync_on_rewrite: false,
            aof_disable_auto_gc: false,
            auto_aof_rewrite_percentage: 100,
            auto_aof_rewrite_min_size: 64 << 20,
            rename_commands: Vec::new(),
            users: Vec::new(),
            acl_user_lines: None,
            oom_score_adj_values: [0, 200, 800],
            latency_tracking_info_percentiles: vec![50.0, 99.0, 99.9],
            generic: vec![Gv::Unused; TABLE.len()],
            sentinel_lines: Vec::new(),
            config_file: None,
            unimplemented: Vec::new(),
        };
        for i in 0..TABLE.len() {
            c.reset_to_default(i);
        }
        c.bind = vec!["*".into(), "-::*".into()];
        c
    }

    /// Loads the configuration from the command line (arguments after the program name):
    /// `[configfile|-] [--directive value ...]`, as redis-server `main()` does. Side effects
    /// as in Redis: `dir` changes the working directory, and the log file is opened (created)
    /// once to check it can be written.
    pub fn load(args: &[String]) -> Result<Config, ConfigError> {
        let cmdline = parse::command_line(args);
        let mut cfg = Config::default();
        if crate::sentinel::mode() {
            // redis `initSentinelConfig`: a sentinel must be reachable, on its own port.
            cfg.port = crate::sentinel::DEFAULT_PORT;
            cfg.protected_mode = false;
        }
        let mut ctx = SetCtx::loading(true);
        let mut text = Vec::new();
        if let Some(file) = &cmdline.config_file {
            let abs = parse::absolute_path(file);
            parse::read_config_source(&abs.to_string_lossy(), &ctx.cwd, &mut text)?;
            cfg.config_file = Some(abs);
        }
        if cmdline.from_stdin {
            use std::io::Read;
            // As fgets() on a closed or failing stdin: whatever was read is used.
            let _ = std::io::stdin().read_to_end(&mut text);
        }
        text.push(b'\n');
        text.extend_from_slice(&cmdline.options);
        parse::load_string(&mut cfg, &text, &mut ctx)?;
        if !cfg.logfile.is_empty() {
            if let Err(e) = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&cfg.logfile)
            {
                return Err(ConfigError::Fatal {
                    line: None,
                    text: None,
                    reason: format!("Can't open the log file: {}", value::strerror(&e)),
                });
            }
        }
        Ok(cfg)
    }

    /// Parses config text as a file's content, for tests and tools: no working-directory
    /// change (`dir` is checked and recorded, and relative includes follow it), no log-file
    /// check, no config file (CONFIG REWRITE is refused).
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(text: &str) -> Result<Config, ConfigError> {
        let mut cfg = Config::default();
        let mut ctx = SetCtx::loading(false);
        parse::load_string(&mut cfg, text.as_bytes(), &mut ctx)?;
        Ok(cfg)
    }

    /// The CONFIG GET value of one directive (name or alias, any case; hidden ones too).
    pub fn get(&self, name: &str) -> Option<String> {
        table::lookup(name).map(|(i, _)| self.value_of(i))
    }

    /// CONFIG GET with one argument: an exact name is answered under the name as typed;
    /// a glob pattern (`*`, `?`, `[`) matches names and aliases case-insensitively, leaving
    /// hidden directives out. Sorted by name (Redis's order is its hash table's).
    pub fn get_matching(&self, pattern: &str) -> Vec<(String, String)> {
        self.get_matching_many(&[pattern])
    }

    /// CONFIG GET with several arguments: the union of their matches, each directive name
    /// once (compared case-insensitively, as Redis does).
    pub fn get_matching_many<S: AsRef<str>>(&self, patterns: &[S]) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let seen = |out: &Vec<(String, String)>, k: &str| {
            out.iter().any(|(n, _)| n.eq_ignore_ascii_case(k))
        };
        for p in patterns {
            let p = p.as_ref();
            if !p.contains(['[', '*', '?']) {
                if seen(&out, p) {
                    continue;
                }
                if let Some(v) = self.get(p) {
                    out.push((p.to_string(), v));
                }
                continue;
            }
            for (i, d) in TABLE.iter().enumerate() {
                if d.has(table::HIDDEN) {
                    continue;
                }
                for key in std::iter::once(d.name).chain(d.alias) {
                    if !seen(&out, key)
                        && crate::util::glob_match(p.as_bytes(), key.as_bytes(), true)
                    {
                        out.push((key.to_string(), self.value_of(i)));
                    }
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// CONFIG SET of one directive; see [`Config::set_many`].
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        self.set_many(&[(name.to_string(), value.to_string())])
    }

    /// CONFIG SET name value [name value ...], all or nothing, with Redis's error lines
    /// (without the leading '-'). Protected directives (`dir`, `dbfilename`) are refused
    /// unless `enable-protected-configs` is `yes`, or `local` (this call assumes a local
    /// client; use [`Config::set_many_from`] to pass the real client locality), as in Redis.
    /// Setting `dir` changes the process working directory, as in Redis.
    pub fn set_many(&mut self, pairs: &[(String, String)]) -> Result<(), String> {
        self.set_many_from(pairs, true, false)
    }

    /// [`Config::set_many`] for a client that is (or is not) local (loopback or unix socket),
    /// which decides `enable-protected-configs local`, while a dataset is `loading` or not
    /// (directives that would disturb the load are then refused with `-LOADING`).
    pub fn set_many_from(
        &mut self,
        pairs: &[(String, String)],
        client_is_local: bool,
        loading: bool,
    ) -> Result<(), String> {
        let mut rows: Vec<(usize, bool)> = Vec::with_capacity(pairs.len());
        let mut unknown: Option<&str> = None;
        let mut failed: Option<(&str, &str)> = None;
        let mut deny_loading = false;
        let protected_ok = self.protected_allowed(client_is_local);
        for (name, _) in pairs {
            let Some(found) = table::lookup(name) else {
                if unknown.is_none() && failed.is_none() {
                    unknown = Some(name);
                }
                continue;
            };
            if unknown.is_some() || failed.is_some() {
                continue;
            }
            let d = &TABLE[found.0];
            if d.has(table::IMMUTABLE) || (d.has(table::PROTECTED) && !protected_ok) {
                let why = if d.has(table::IMMUTABLE) {
                    "can't set immutable config"
                } else {
                    "can't set protected config"
                };
                failed = Some((name, why));
                continue;
            }
            if loading && d.has(table::DENY_LOADING) {
                deny_loading = true;
                failed = Some((name, ""));
                continue;
            }
            if rows.contains(&found) {
                failed = Some((name, "duplicate parameter"));
                continue;
            }
            rows.push(found);
        }
        if deny_loading {
            // Before any other error, as redis gives it (clients may handle it apart).
            return Err(crate::commands::errors::LOADING.0.to_string());
        }
        if let Some(name) = unknown {
            return Err(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
            ));
        }
        if let Some((name, why)) = failed {
            return Err(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"
            ));
        }
        let mut next = self.clone();
        let mut ctx = SetCtx::config_set();
        for ((index, alias), (_, val)) in rows.iter().zip(pairs) {
            let args = value::split_set_value(&TABLE[*index], val);
            if let Err(why) = next.apply(*index, &args, &mut ctx) {
                if next.dir != self.dir {
                    // Undo the chdir of an earlier `dir` in this command.
                    let _ = std::env::set_current_dir(&self.dir);
                }
                return Err(format!(
                    "ERR CONFIG SET failed (possibly related to argument '{}') - {why}",
                    table::registered_name(*index, *alias)
                ));
            }
        }
        *self = next;
        Ok(())
    }

    /// The absolute path of the config file given on the command line, if any.
    pub fn config_file(&self) -> Option<&Path> {
        self.config_file.as_deref()
    }

    /// CONFIG REWRITE; errors are Redis's lines without the leading '-'.
    pub fn rewrite(&self) -> Result<(), String> {
        rewrite::rewrite(self)
    }

    /// The sentinel's config flush: CONFIG REWRITE with the sentinel's state as its
    /// `sentinel ...` lines.
    pub fn rewrite_sentinel(&self, lines: &[SentinelRewrite]) -> Result<(), String> {
        rewrite::rewrite_sentinel(self, lines)
    }

    /// DEBUG CONFIG-REWRITE-FORCE-ALL: CONFIG REWRITE writing defaults too.
    pub fn rewrite_force_all(&self) -> Result<(), String> {
        rewrite::rewrite_force_all(self)
    }

    /// Canonical names of directives that the loaded configuration mentioned but Tandem does
    /// not act on yet, in order of first appearance (also `loadmodule` and module options).
    pub fn unimplemented_seen(&self) -> &[String] {
        &self.unimplemented
    }

    /// The part of [`Config::unimplemented_seen`] that matters: directives whose value is not
    /// the default, plus `loadmodule` and module options.
    pub fn unimplemented_non_default(&self) -> Vec<String> {
        let defaults = Config::default();
        self.unimplemented
            .iter()
            .filter(|name| match table::lookup(name) {
                Some((i, _)) => self.value_of(i) != defaults.value_of(i),
                None => true,
            })
            .cloned()
            .collect()
    }

    /// Whether `enable-protected-configs` lets this client change `dir` and `dbfilename`.
    pub fn protected_allowed(&self, client_is_local: bool) -> bool {
        self.protected_action_allowed("enable-protected-configs", client_is_local)
    }

    /// Whether DEBUG may run for this client (`enable-debug-command`).
    pub fn debug_command_allowed(&self, client_is_local: bool) -> bool {
        self.protected_action_allowed("enable-debug-command", client_is_local)
    }

    /// Whether MODULE LOAD/LOADEX/UNLOAD may run for this client (`enable-module-command`).
    pub fn module_command_allowed(&self, client_is_local: bool) -> bool {
        self.protected_action_allowed("enable-module-command", client_is_local)
    }

    fn protected_action_allowed(&self, name: &str, client_is_local: bool) -> bool {
        match self.get(name).as_deref() {
            Some("yes") => true,
            Some("local") => client_is_local,
            _ => false,
        }
    }

    fn note_unimplemented(&mut self, name: &str) {
        if !self.unimplemented.iter().any(|n| n == name) {
            self.unimplemented.push(name.to_string());
        }
    }
}
