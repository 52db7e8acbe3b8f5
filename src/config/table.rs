//! Every directive Redis 7.0.15 knows (redis `static_configs[]` in `config.c`, checked against
//! `CONFIG GET *` of Debian's redis-server 7.0.15, a TLS-enabled build without active defrag).
//!
//! Each row says how the directive is parsed (its [`Kind`]), whether CONFIG SET may change it
//! ([`IMMUTABLE`], [`PROTECTED`]), and where its value lives ([`Slot`]): directives Tandem
//! implements are stored in typed `Config` fields, the others in a generic per-row store so that
//! CONFIG GET/SET/REWRITE still behave as in Redis.

use super::checks::*;
use super::{Config, LogLevel, MaxmemoryPolicy};

/// CONFIG SET refuses the directive ("can't set immutable config").
pub const IMMUTABLE: u8 = 1;
/// CONFIG SET needs `enable-protected-configs` ("can't set protected config").
pub const PROTECTED: u8 = 2;
/// Left out of CONFIG GET patterns; an exact name still works.
pub const HIDDEN: u8 = 4;
/// Takes any number of arguments in the file; CONFIG SET splits its value on single spaces.
pub const MULTI_ARG: u8 = 8;
/// CONFIG SET refuses it while a dataset is being loaded (`-LOADING`).
pub const DENY_LOADING: u8 = 16;
/// Its value is a secret: CONFIG SET's argument is hidden from the slowlog and MONITOR
/// (redis `SENSITIVE_CONFIG`).
pub const SENSITIVE: u8 = 32;

/// How a number is read and shown (redis `MEMORY_CONFIG`, `PERCENT_CONFIG`, `OCTAL_CONFIG`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Plain,
    Memory,
    MemoryOrPercent,
    Octal,
}

/// The C type behind a number: unsigned ones are bound-checked as unsigned (redis
/// `numericBoundaryCheck`), memory values are shown unsigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumType {
    Int,
    UInt,
    Long,
    ULong,
    LongLong,
    ULongLong,
    SizeT,
    SSizeT,
    TimeT,
    OffT,
}

impl NumType {
    pub fn is_unsigned(self) -> bool {
        matches!(self, NumType::ULongLong | NumType::UInt | NumType::SizeT)
    }
}

#[derive(Debug, Clone, Copy)]
pub struct NumSpec {
    pub min: i64,
    pub max: i64,
    pub default: i64,
    pub ty: NumType,
    pub unit: Unit,
}

/// Directives with their own syntax (redis `createSpecialConfig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    Dir,
    Save,
    ClientOutputBufferLimit,
    OomScoreAdjValues,
    NotifyKeyspaceEvents,
    Bind,
    ReplicaOf,
    LatencyTrackingInfoPercentiles,
}

pub type StrCheck = fn(&str) -> Result<(), &'static str>;
pub type NumCheck = fn(u32) -> Result<(), &'static str>;

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Bool {
        default: bool,
        /// Only `activedefrag` has one: this build cannot enable it.
        refuse_yes: Option<&'static str>,
    },
    Num(NumSpec),
    Enum {
        values: &'static [(&'static str, u32)],
        default: u32,
        check: Option<NumCheck>,
    },
    Str {
        default: Option<&'static str>,
        empty_is_null: bool,
        check: Option<StrCheck>,
    },
    Special(Special),
}

/// Where the value lives. Typed slots read and write `Config` fields, so the typed fields and
/// CONFIG GET/SET always agree.
#[derive(Clone, Copy)]
pub enum Slot {
    Generic,
    Bool(fn(&Config) -> bool, fn(&mut Config, bool)),
    Num(fn(&Config) -> i64, fn(&mut Config, i64)),
    Enum(fn(&Config) -> u32, fn(&mut Config, u32)),
    Str(
        fn(&Config) -> Option<String>,
        fn(&mut Config, Option<String>),
    ),
    Special,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Slot::Generic => "Generic",
            Slot::Bool(..) => "Bool",
            Slot::Num(..) => "Num",
            Slot::Enum(..) => "Enum",
            Slot::Str(..) => "Str",
            Slot::Special => "Special",
        })
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Directive {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    pub flags: u8,
    pub kind: Kind,
    /// Whether Tandem acts on the value (otherwise it is only stored and reported).
    pub implemented: bool,
    pub slot: Slot,
}

impl Directive {
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

const INT_MAX: i64 = i32::MAX as i64;
const INT_MIN: i64 = i32::MIN as i64;
const UINT_MAX: i64 = u32::MAX as i64;
const LONG_MAX: i64 = i64::MAX;
/// `ULLONG_MAX` as the bit pattern Redis keeps in a `long long` bound.
const ULLONG_MAX: i64 = -1;
const MB: i64 = 1024 * 1024;

// Row builders. `g` = generic storage, `t` = typed field.
macro_rules! alias {
    () => {
        None
    };
    ($a:literal) => {
        Some($a)
    };
}

macro_rules! bool_g {
    ($name:literal $(/ $alias:literal)?, $flags:expr, $def:expr) => {
        Directive { name: $name, alias: alias!($($alias)?), flags: $flags,
            kind: Kind::Bool { default: $def, refuse_yes: None }, implemented: false, slot: Slot::Generic }
    };
}
macro_rules! bool_t {
    ($name:literal $(/ $alias:literal)?, $flags:expr, $def:expr, $field:ident) => {
        Directive { name: $name, alias: alias!($($alias)?), flags: $flags,
            kind: Kind::Bool { default: $def, refuse_yes: None }, implemented: true,
            slot: Slot::Bool(|c| c.$field, |c, v| c.$field = v) }
    };
}
macro_rules! num_g {
    ($name:literal $(/ $alias:literal)?, $flags:expr, $min:expr, $max:expr, $def:expr, $ty:ident, $unit:ident) => {
        Directive { name: $name, alias: alias!($($alias)?), flags: $flags,
            kind: Kind::Num(NumSpec { min: $min, max: $max, default: $def, ty: NumType::$ty, unit: Unit::$unit }),
            implemented: false, slot: Slot::Generic }
    };
}
macro_rules! num_t {
    ($name:literal $(/ $alias:literal)?, $flags:expr, $min:expr, $max:expr, $def:expr, $ty:ident, $unit:ident, $field:ident: $fty:ty) => {
        Directive { name: $name, alias: alias!($($alias)?), flags: $flags,
            kind: Kind::Num(NumSpec { min: $min, max: $max, default: $def, ty: NumType::$ty, unit: Unit::$unit }),
            implemented: true, slot: Slot::Num(|c| c.$field as i64, |c, v| c.$field = v as $fty) }
    };
}
macro_rules! enum_g {
    ($name:literal, $flags:expr, $values:expr, $def:expr) => {
        Directive {
            name: $name,
            alias: None,
            flags: $flags,
            kind: Kind::Enum {
                values: $values,
                default: $def,
                check: None,
            },
            implemented: false,
            slot: Slot::Generic,
        }
    };
}
macro_rules! str_g {
    ($name:literal $(/ $alias:literal)?, $flags:expr, $null:expr, $def:expr, $check:expr) => {
        Directive { name: $name, alias: alias!($($alias)?), flags: $flags,
            kind: Kind::Str { default: $def, empty_is_null: $null, check: $check }, implemented: false, slot: Slot::Generic }
    };
}
macro_rules! str_t {
    ($name:literal $(/ $alias:literal)?, $flags:expr, $null:expr, $def:expr, $check:expr, $field:ident) => {
        Directive { name: $name, alias: alias!($($alias)?), flags: $flags,
            kind: Kind::Str { default: $def, empty_is_null: $null, check: $check }, implemented: true,
            slot: Slot::Str(|c| c.$field.clone(), |c, v| c.$field = v) }
    };
}
macro_rules! str_req {
    ($name:literal, $flags:expr, $def:expr, $check:expr, $field:ident) => {
        Directive {
            name: $name,
            alias: None,
            flags: $flags,
            kind: Kind::Str {
                default: Some($def),
                empty_is_null: false,
                check: $check,
            },
            implemented: true,
            slot: Slot::Str(
                |c| Some(c.$field.clone()),
                |c, v| c.$field = v.unwrap_or_default(),
            ),
        }
    };
}
macro_rules! special {
    ($name:literal $(/ $alias:literal)?, $flags:expr, $sp:ident, $implemented:expr) => {
        Directive { name: $name, alias: alias!($($alias)?), flags: $flags,
            kind: Kind::Special(Special::$sp), implemented: $implemented, slot: Slot::Special }
    };
}

const M: u8 = 0; // modifiable
const I: u8 = IMMUTABLE;
const NULL: bool = true; // empty string means unset
const KEEP: bool = false; // empty string is a value

#[rustfmt::skip]
pub static TABLE: &[Directive] = &[
    // Bool configs
    bool_t!("rdbchecksum", I, true, rdbchecksum),
    bool_t!("daemonize", I, false, daemonize),
    bool_g!("io-threads-do-reads", I, false),
    bool_t!("always-show-logo", I, false, always_show_logo),
    bool_t!("protected-mode", M, true, protected_mode),
    bool_t!("rdbcompression", M, true, rdbcompression),
    bool_t!("rdb-del-sync-files", M, false, rdb_del_sync_files),
    bool_g!("activerehashing", M, true),
    bool_t!("stop-writes-on-bgsave-error", M, true, stop_writes_on_bgsave_error),
    bool_g!("set-proc-title", I, true),
    bool_g!("dynamic-hz", M, true),
    bool_t!("lazyfree-lazy-eviction", M, false, lazyfree_lazy_eviction),
    bool_t!("lazyfree-lazy-expire", M, false, lazyfree_lazy_expire),
    bool_g!("lazyfree-lazy-server-del", M, false),
    bool_t!("lazyfree-lazy-user-del", M, false, lazyfree_lazy_user_del),
    bool_g!("lazyfree-lazy-user-flush", M, false),
    bool_g!("repl-disable-tcp-nodelay", M, false),
    bool_t!("repl-diskless-sync", M, true, repl_diskless_sync),
    bool_t!("aof-rewrite-incremental-fsync", M, true, aof_rewrite_incremental_fsync),
    bool_t!("no-appendfsync-on-rewrite", M, false, no_appendfsync_on_rewrite),
    bool_g!("cluster-require-full-coverage", M, true),
    bool_g!("rdb-save-incremental-fsync", M, true),
    bool_t!("aof-load-truncated", M, true, aof_load_truncated),
    bool_t!("aof-use-rdb-preamble", M, true, aof_use_rdb_preamble),
    bool_t!("aof-timestamp-enabled", M, false, aof_timestamp_enabled),
    bool_g!("cluster-replica-no-failover" / "cluster-slave-no-failover", M, false),
    bool_g!("replica-lazy-flush" / "slave-lazy-flush", M, false),
    bool_t!("replica-serve-stale-data" / "slave-serve-stale-data", M, true, replica_serve_stale_data),
    bool_t!("replica-read-only" / "slave-read-only", M, true, replica_read_only),
    bool_g!("replica-ignore-maxmemory" / "slave-ignore-maxmemory", M, true),
    bool_g!("jemalloc-bg-thread", M, true),
    Directive {
        name: "activedefrag",
        alias: None,
        flags: M,
        kind: Kind::Bool {
            default: false,
            refuse_yes: Some(DEFRAG_UNSUPPORTED),
        },
        implemented: false,
        slot: Slot::Generic,
    },
    bool_g!("syslog-enabled", I, false),
    bool_g!("cluster-enabled", I, false),
    bool_t!("appendonly", DENY_LOADING, false, appendonly),
    bool_g!("cluster-allow-reads-when-down", M, false),
    bool_g!("cluster-allow-pubsubshard-when-down", M, true),
    bool_g!("crash-log-enabled", M, true),
    bool_g!("crash-memcheck-enabled", M, true),
    bool_g!("use-exit-on-panic", HIDDEN, false),
    bool_g!("disable-thp", I, true),
    bool_g!("cluster-allow-replica-migration", M, true),
    bool_t!("replica-announced", M, true, replica_announced),
    // Tandem's own (issue #13): a replica does not replace the history it holds by a full
    // sync its master offers on its own (see replication::replica::refusal). Hidden, so
    // CONFIG GET * stays Redis's.
    bool_t!("replica-refuse-rollback", HIDDEN, false, replica_refuse_rollback),
    bool_t!("latency-tracking", M, true, latency_tracking),
    bool_t!("aof-disable-auto-gc", M, false, aof_disable_auto_gc),
    bool_g!("replica-ignore-disk-write-errors", M, false),
    // String configs
    str_g!("aclfile", I, KEEP, Some(""), None),
    str_t!("unixsocket", I, NULL, None, None, unixsocket),
    str_t!("pidfile", I, NULL, None, None, pidfile),
    str_t!("replica-announce-ip" / "slave-announce-ip", M, NULL, None, None, replica_announce_ip),
    str_t!("masteruser", M | SENSITIVE, NULL, None, None, masteruser),
    str_g!("cluster-announce-ip", M, NULL, None, None),
    str_g!("cluster-config-file", I, KEEP, Some("nodes.conf"), None),
    str_g!("cluster-announce-hostname", M, NULL, None, Some(check_hostname)),
    str_g!("syslog-ident", I, KEEP, Some("redis"), None),
    str_req!("dbfilename", PROTECTED, "dump.rdb", Some(check_dbfilename), dbfilename),
    str_req!("appendfilename", I, "appendonly.aof", Some(check_appendfilename), appendfilename),
    str_req!("appenddirname", I, "appendonlydir", Some(check_appenddirname), appenddirname),
    str_g!("server_cpulist", I, NULL, None, None),
    str_g!("bio_cpulist", I, NULL, None, None),
    str_g!("aof_rewrite_cpulist", I, NULL, None, None),
    str_g!("bgsave_cpulist", I, NULL, None, None),
    str_g!("ignore-warnings", M, KEEP, Some(""), None),
    str_g!("proc-title-template", M, KEEP, Some("{title} {listen-addr} {server-mode}"), Some(check_proc_title_template)),
    str_g!("bind-source-addr", M, NULL, None, None),
    str_req!("logfile", I, "", None, logfile),
    str_t!("masterauth", M | SENSITIVE, NULL, None, None, masterauth),
    str_t!("requirepass", M | SENSITIVE, NULL, None, None, requirepass),
    // Enum configs
    enum_g!("supervised", I, SUPERVISED, 0),
    enum_g!("syslog-facility", I, SYSLOG_FACILITIES, 128),
    Directive {
        name: "repl-diskless-load",
        alias: None,
        flags: DENY_LOADING,
        kind: Kind::Enum {
            values: REPL_DISKLESS_LOAD,
            default: 0,
            check: None,
        },
        implemented: true,
        slot: Slot::Enum(
            |c| enum_value(REPL_DISKLESS_LOAD, &c.repl_diskless_load),
            |c, v| c.repl_diskless_load = enum_name(REPL_DISKLESS_LOAD, v).to_string(),
        ),
    },
    Directive {
        name: "loglevel",
        alias: None,
        flags: M,
        kind: Kind::Enum {
            values: LOGLEVELS,
            default: 2,
            check: None,
        },
        implemented: true,
        slot: Slot::Enum(
            |c| c.loglevel as u32,
            |c, v| c.loglevel = LogLevel::from_value(v),
        ),
    },
    Directive {
        name: "maxmemory-policy",
        alias: None,
        flags: M,
        kind: Kind::Enum {
            values: MAXMEMORY_POLICIES,
            default: 7,
            check: None,
        },
        implemented: true,
        slot: Slot::Enum(
            |c| c.maxmemory_policy as u32,
            |c, v| c.maxmemory_policy = MaxmemoryPolicy::from_value(v),
        ),
    },
    Directive {
        name: "appendfsync",
        alias: None,
        flags: M,
        kind: Kind::Enum {
            values: APPENDFSYNC,
            default: 2,
            check: None,
        },
        implemented: true,
        slot: Slot::Enum(|c| c.appendfsync, |c, v| c.appendfsync = v),
    },
    enum_g!("oom-score-adj", M, OOM_SCORE_ADJ, 0),
    enum_g!("acl-pubsub-default", M, ACL_PUBSUB_DEFAULT, 0),
    Directive {
        name: "sanitize-dump-payload",
        alias: None,
        flags: M,
        kind: Kind::Enum {
            values: SANITIZE_DUMP_PAYLOAD,
            default: 0,
            check: None,
        },
        implemented: true,
        slot: Slot::Enum(
            |c| c.sanitize_dump_payload,
            |c, v| c.sanitize_dump_payload = v,
        ),
    },
    enum_g!("enable-protected-configs", I, PROTECTED_ACTION, 0),
    Directive {
        name: "enable-debug-command",
        alias: None,
        flags: I,
        kind: Kind::Enum {
            values: PROTECTED_ACTION,
            default: 0,
            check: None,
        },
        implemented: true,
        slot: Slot::Enum(
            |c| enum_value(PROTECTED_ACTION, &c.enable_debug_command),
            |c, v| c.enable_debug_command = enum_name(PROTECTED_ACTION, v).to_string(),
        ),
    },
    enum_g!("enable-module-command", I, PROTECTED_ACTION, 0),
    enum_g!("cluster-preferred-endpoint-type", M, ENDPOINT_TYPE, 0),
    enum_g!("propagation-error-behavior", M, PROPAGATION_ERROR, 0),
    Directive {
        name: "shutdown-on-sigint",
        alias: None,
        flags: MULTI_ARG,
        kind: Kind::Enum {
            values: SHUTDOWN_ON_SIG,
            default: 0,
            check: Some(check_shutdown_flags),
        },
        implemented: false,
        slot: Slot::Generic,
    },
    Directive {
        name: "shutdown-on-sigterm",
        alias: None,
        flags: MULTI_ARG,
        kind: Kind::Enum {
            values: SHUTDOWN_ON_SIG,
            default: 0,
            check: Some(check_shutdown_flags),
        },
        implemented: false,
        slot: Slot::Generic,
    },
    // Integer configs
    num_t!("databases", I, 1, INT_MAX, 16, Int, Plain, databases: usize),
    num_t!("port", M, 0, 65535, 6379, Int, Plain, port: u16),
    num_g!("io-threads", I, 1, 128, 1, Int, Plain),
    num_t!("auto-aof-rewrite-percentage", M, 0, INT_MAX, 100, Int, Plain, auto_aof_rewrite_percentage: u64),
    num_g!("cluster-replica-validity-factor" / "cluster-slave-validity-factor", M, 0, INT_MAX, 10, Int, Plain),
    num_t!("list-max-listpack-size" / "list-max-ziplist-size", M, INT_MIN, INT_MAX, -2, Int, Plain, list_max_listpack_size: i64),
    num_t!("tcp-keepalive", M, 0, INT_MAX, 300, Int, Plain, tcp_keepalive: u64),
    num_g!("cluster-migration-barrier", M, 0, INT_MAX, 1, Int, Plain),
    num_g!("active-defrag-cycle-min", M, 1, 99, 1, Int, Plain),
    num_g!("active-defrag-cycle-max", M, 1, 99, 25, Int, Plain),
    num_g!("active-defrag-threshold-lower", M, 0, 1000, 10, Int, Plain),
    num_g!("active-defrag-threshold-upper", M, 0, 1000, 100, Int, Plain),
    num_t!("lfu-log-factor", M, 0, INT_MAX, 10, Int, Plain, lfu_log_factor: u32),
    num_t!("lfu-decay-time", M, 0, INT_MAX, 1, Int, Plain, lfu_decay_time: u32),
    num_t!("replica-priority" / "slave-priority", M, 0, INT_MAX, 100, Int, Plain, replica_priority: u64),
    num_t!("repl-diskless-sync-delay", M, 0, INT_MAX, 5, Int, Plain, repl_diskless_sync_delay: u64),
    num_t!("maxmemory-samples", M, 1, INT_MAX, 5, Int, Plain, maxmemory_samples: u32),
    num_g!("maxmemory-eviction-tenacity", M, 0, 100, 10, Int, Plain),
    num_t!("timeout", M, 0, INT_MAX, 0, Int, Plain, timeout: u64),
    num_t!("replica-announce-port" / "slave-announce-port", M, 0, 65535, 0, Int, Plain, replica_announce_port: u16),
    num_t!("tcp-backlog", I, 0, INT_MAX, 511, Int, Plain, tcp_backlog: u32),
    num_g!("cluster-port", I, 0, 65535, 0, Int, Plain),
    num_g!("cluster-announce-bus-port", M, 0, 65535, 0, Int, Plain),
    num_g!("cluster-announce-port", M, 0, 65535, 0, Int, Plain),
    num_g!("cluster-announce-tls-port", M, 0, 65535, 0, Int, Plain),
    num_t!("repl-timeout", M, 1, INT_MAX, 60, Int, Plain, repl_timeout: u64),
    num_t!("repl-ping-replica-period" / "repl-ping-slave-period", M, 1, INT_MAX, 10, Int, Plain, repl_ping_replica_period: u64),
    num_t!("list-compress-depth", M, 0, INT_MAX, 0, Int, Plain, list_compress_depth: u64),
    num_t!("rdb-key-save-delay", HIDDEN, INT_MIN, INT_MAX, 0, Int, Plain, rdb_key_save_delay: i64),
    num_t!("key-load-delay", HIDDEN, INT_MIN, INT_MAX, 0, Int, Plain, key_load_delay: i64),
    num_g!("active-expire-effort", M, 1, 10, 1, Int, Plain),
    num_t!("hz", M, 0, INT_MAX, 10, Int, Plain, hz: u32),
    num_t!("min-replicas-to-write" / "min-slaves-to-write", M, 0, INT_MAX, 0, Int, Plain, min_replicas_to_write: u64),
    num_t!("min-replicas-max-lag" / "min-slaves-max-lag", M, 0, INT_MAX, 10, Int, Plain, min_replicas_max_lag: u64),
    num_t!("watchdog-period", HIDDEN, 0, INT_MAX, 0, Int, Plain, watchdog_period: u64),
    num_g!("shutdown-timeout", M, 0, INT_MAX, 10, Int, Plain),
    num_t!("repl-diskless-sync-max-replicas", M, 0, INT_MAX, 0, Int, Plain, repl_diskless_sync_max_replicas: u64),
    // Unsigned int configs
    num_t!("maxclients", M, 1, UINT_MAX, 10000, UInt, Plain, maxclients: u64),
    num_t!("unixsocketperm", I, 0, 0o777, 0, UInt, Octal, unixsocketperm: u32),
    num_g!("socket-mark-id", I, 0, UINT_MAX, 0, UInt, Plain),
    // Unsigned long configs
    num_g!("active-defrag-max-scan-fields", M, 1, LONG_MAX, 1000, ULong, Plain),
    num_t!("slowlog-max-len", M, 0, LONG_MAX, 128, ULong, Plain, slowlog_max_len: u64),
    num_g!("acllog-max-len", M, 0, LONG_MAX, 128, ULong, Plain),
    // Long long configs
    num_g!("busy-reply-threshold" / "lua-time-limit", M, 0, LONG_MAX, 5000, LongLong, Plain),
    num_g!("cluster-node-timeout", M, 0, i64::MAX, 15000, LongLong, Plain),
    num_t!("slowlog-log-slower-than", M, -1, i64::MAX, 10000, LongLong, Plain, slowlog_log_slower_than: i64),
    num_t!("latency-monitor-threshold", M, 0, i64::MAX, 0, LongLong, Plain, latency_monitor_threshold: u64),
    num_t!("proto-max-bulk-len", M, MB, LONG_MAX, 512 * MB, LongLong, Memory, proto_max_bulk_len: i64),
    num_t!("stream-node-max-entries", M, 0, i64::MAX, 100, LongLong, Plain, stream_node_max_entries: i64),
    num_t!("repl-backlog-size", M, 1, i64::MAX, MB, LongLong, Memory, repl_backlog_size: u64),
    // Unsigned long long configs
    num_t!("maxmemory", M, 0, ULLONG_MAX, 0, ULongLong, Memory, maxmemory: u64),
    num_g!("cluster-link-sendbuf-limit", M, 0, ULLONG_MAX, 0, ULongLong, Memory),
    // Size_t configs
    num_t!("hash-max-listpack-entries" / "hash-max-ziplist-entries", M, 0, LONG_MAX, 512, SizeT, Plain, hash_max_listpack_entries: u64),
    num_t!("set-max-intset-entries", M, 0, LONG_MAX, 512, SizeT, Plain, set_max_intset_entries: u64),
    num_t!("zset-max-listpack-entries" / "zset-max-ziplist-entries", M, 0, LONG_MAX, 128, SizeT, Plain, zset_max_listpack_entries: u64),
    num_g!("active-defrag-ignore-bytes", M, 1, i64::MAX, 100 * MB, SizeT, Memory),
    num_t!("hash-max-listpack-value" / "hash-max-ziplist-value", M, 0, LONG_MAX, 64, SizeT, Memory, hash_max_listpack_value: u64),
    num_t!("stream-node-max-bytes", M, 0, LONG_MAX, 4096, SizeT, Memory, stream_node_max_bytes: u64),
    num_t!("zset-max-listpack-value" / "zset-max-ziplist-value", M, 0, LONG_MAX, 64, SizeT, Memory, zset_max_listpack_value: u64),
    num_t!("hll-sparse-max-bytes", M, 0, LONG_MAX, 3000, SizeT, Memory, hll_sparse_max_bytes: u64),
    num_g!("tracking-table-max-keys", M, 0, LONG_MAX, 1_000_000, SizeT, Plain),
    num_t!("client-query-buffer-limit", M, MB, LONG_MAX, 1024 * MB, SizeT, Memory, client_query_buffer_limit: u64),
    num_g!("maxmemory-clients", M, -100, i64::MAX, 0, SSizeT, MemoryOrPercent),
    // Other numeric configs
    num_t!("repl-backlog-ttl", M, 0, LONG_MAX, 3600, TimeT, Plain, repl_backlog_ttl: u64),
    num_t!("auto-aof-rewrite-min-size", M, 0, i64::MAX, 64 * MB, OffT, Memory, auto_aof_rewrite_min_size: u64),
    num_g!("loading-process-events-interval-bytes", HIDDEN, 1024, INT_MAX, 2 * MB, OffT, Plain),
    // TLS configs (Debian builds with TLS)
    num_t!("tls-port", M, 0, 65535, 0, Int, Plain, tls_port: u16),
    num_t!("tls-session-cache-size", M, 0, INT_MAX, 20 * 1024, Int, Plain, tls_session_cache_size: u64),
    num_t!("tls-session-cache-timeout", M, 0, INT_MAX, 300, Int, Plain, tls_session_cache_timeout: u64),
    bool_t!("tls-cluster", M, false, tls_cluster),
    bool_t!("tls-replication", M, false, tls_replication),
    Directive {
        name: "tls-auth-clients",
        alias: None,
        flags: M,
        kind: Kind::Enum { values: TLS_AUTH_CLIENTS, default: 1, check: None },
        implemented: true,
        slot: Slot::Enum(|c| c.tls_auth_clients, |c, v| c.tls_auth_clients = v),
    },
    bool_t!("tls-prefer-server-ciphers", M, false, tls_prefer_server_ciphers),
    bool_t!("tls-session-caching", M, true, tls_session_caching),
    str_t!("tls-cert-file", M, NULL, None, None, tls_cert_file),
    str_t!("tls-key-file", M, NULL, None, None, tls_key_file),
    str_t!("tls-key-file-pass", M, NULL, None, None, tls_key_file_pass),
    str_t!("tls-client-cert-file", M, NULL, None, None, tls_client_cert_file),
    str_t!("tls-client-key-file", M, NULL, None, None, tls_client_key_file),
    str_t!("tls-client-key-file-pass", M, NULL, None, None, tls_client_key_file_pass),
    str_t!("tls-dh-params-file", M, NULL, None, None, tls_dh_params_file),
    str_t!("tls-ca-cert-file", M, NULL, None, None, tls_ca_cert_file),
    str_t!("tls-ca-cert-dir", M, NULL, None, None, tls_ca_cert_dir),
    str_t!("tls-protocols", M, NULL, None, None, tls_protocols),
    str_t!("tls-ciphers", M, NULL, None, None, tls_ciphers),
    str_t!("tls-ciphersuites", M, NULL, None, None, tls_ciphersuites),
    // Special configs
    special!("dir", PROTECTED | DENY_LOADING, Dir, true),
    special!("save", MULTI_ARG, Save, true),
    special!("client-output-buffer-limit", MULTI_ARG, ClientOutputBufferLimit, true),
    special!("oom-score-adj-values", MULTI_ARG, OomScoreAdjValues, false),
    special!("notify-keyspace-events", M, NotifyKeyspaceEvents, true),
    special!("bind", MULTI_ARG, Bind, true),
    special!("replicaof" / "slaveof", IMMUTABLE | MULTI_ARG, ReplicaOf, true),
    special!("latency-tracking-info-percentiles", MULTI_ARG, LatencyTrackingInfoPercentiles, false),
];

/// Value of `name` in an enum list (the first match), or the first entry's value.
pub fn enum_value(values: &[(&str, u32)], name: &str) -> u32 {
    values
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map_or(values[0].1, |&(_, v)| v)
}

/// Name of the first entry with value `v` (redis `configEnumGetName`), or "unknown".
pub fn enum_name(values: &[(&'static str, u32)], v: u32) -> &'static str {
    values
        .iter()
        .find(|&&(_, x)| x == v)
        .map_or("unknown", |&(n, _)| n)
}

/// Finds a directive by name or alias, ignoring case. Returns the row index and whether the
/// alias matched (Redis registers aliases as separate entries, which matters for error texts
/// and duplicate detection in CONFIG SET).
pub fn lookup(name: &str) -> Option<(usize, bool)> {
    TABLE.iter().enumerate().find_map(|(i, d)| {
        if d.name.eq_ignore_ascii_case(name) {
            Some((i, false))
        } else if d.alias.is_some_and(|a| a.eq_ignore_ascii_case(name)) {
            Some((i, true))
        } else {
            None
        }
    })
}

/// The name a lookup result is registered under.
pub fn registered_name(index: usize, alias: bool) -> &'static str {
    let d = &TABLE[index];
    match (alias, d.alias) {
        (true, Some(a)) => a,
        _ => d.name,
    }
}
