//! INFO, with redis 7.0's sections and field names; every figure is measured, none is a
//! constant standing in for a real value (fields for features Tandem lacks, such as AOF,
//! report their idle state, as Redis does when they are off).

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::errors::CmdError;
use super::spec::{Group, Spec, LOADING, STALE};
use super::{Ctx, REGISTRY};
use crate::protocol::Reply;
use crate::replication::master::{self, ReplicaState};
use crate::replication::replica::LinkState;
use crate::server::{Server, REDIS_VERSION};

pub const COMMANDS: &[Spec] = &[Spec::new("info", -1, LOADING | STALE, Group::Server, info)];

const DEFAULT: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "module_list",
    "errorstats",
    "cluster",
    "keyspace",
];
const ALL_EXTRA: &[&str] = &["commandstats", "latencystats"];

fn info(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let mut wanted: Vec<String> = Vec::new();
    for a in &cx.argv[1..] {
        let s = String::from_utf8_lossy(a).to_ascii_lowercase();
        match s.as_str() {
            "default" => wanted.extend(DEFAULT.iter().map(|x| x.to_string())),
            "all" | "everything" => {
                wanted.extend(DEFAULT.iter().map(|x| x.to_string()));
                wanted.extend(ALL_EXTRA.iter().map(|x| x.to_string()));
            }
            _ => wanted.push(s),
        }
    }
    if wanted.is_empty() {
        wanted.extend(DEFAULT.iter().map(|x| x.to_string()));
    }
    Ok(Reply::Verbatim(render(cx.server, &wanted).into()))
}

/// Writes one INFO section.
type Section = fn(&Server, &mut String);

/// Renders the requested sections in redis's fixed order.
pub fn render(server: &Server, wanted: &[String]) -> String {
    let has = |s: &str| wanted.iter().any(|w| w == s);
    let order: &[(&str, Section)] = &[
        ("server", server_section),
        ("clients", clients_section),
        ("memory", memory_section),
        ("persistence", persistence_section),
        ("stats", stats_section),
        ("replication", replication_section),
        ("cpu", cpu_section),
        ("module_list", modules_section),
        ("commandstats", commandstats_section),
        ("errorstats", errorstats_section),
        ("latencystats", latencystats_section),
        ("cluster", cluster_section),
        ("keyspace", keyspace_section),
    ];
    let mut out = String::new();
    for (name, f) in order {
        let wanted_here = has(name) || (*name == "module_list" && has("modules"));
        if wanted_here {
            if !out.is_empty() {
                out.push_str("\r\n");
            }
            f(server, &mut out);
        }
    }
    out
}

fn line(out: &mut String, k: &str, v: impl std::fmt::Display) {
    let _ = write!(out, "{k}:{v}\r\n");
}

/// Bytes as redis `bytesToHuman`.
pub fn human(n: u64) -> String {
    let n = n as f64;
    if n < 1024.0 {
        format!("{}B", n as u64)
    } else if n < 1024.0 * 1024.0 {
        format!("{:.2}K", n / 1024.0)
    } else if n < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", n / (1024.0 * 1024.0))
    } else if n < 1024.0f64.powi(4) {
        format!("{:.2}G", n / 1024.0f64.powi(3))
    } else {
        format!("{:.2}T", n / 1024.0f64.powi(4))
    }
}

fn uname() -> String {
    let u = nix::sys::utsname::uname();
    match u {
        Ok(u) => format!(
            "{} {} {}",
            u.sysname().to_string_lossy(),
            u.release().to_string_lossy(),
            u.machine().to_string_lossy()
        ),
        Err(_) => "Linux".into(),
    }
}

fn server_section(s: &Server, out: &mut String) {
    out.push_str("# Server\r\n");
    let cfg = s.config.read();
    line(out, "redis_version", REDIS_VERSION);
    line(out, "redis_git_sha1", "00000000");
    line(out, "redis_git_dirty", 0);
    line(
        out,
        "redis_build_id",
        concat!("tandem-", env!("CARGO_PKG_VERSION")),
    );
    line(
        out,
        "redis_mode",
        if crate::sentinel::mode() {
            "sentinel"
        } else {
            "standalone"
        },
    );
    line(out, "os", uname());
    line(out, "arch_bits", 64);
    line(out, "monotonic_clock", "POSIX clock_gettime");
    line(out, "multiplexing_api", "epoll");
    line(out, "atomicvar_api", "c11-builtin");
    line(out, "gcc_version", "0.0.0");
    line(out, "process_id", std::process::id());
    line(out, "process_supervised", "no");
    line(out, "run_id", &s.run_id);
    let port = if cfg.port != 0 {
        cfg.port
    } else {
        cfg.tls_port
    };
    line(out, "tcp_port", port);
    line(out, "server_time_usec", crate::util::now_us());
    line(out, "uptime_in_seconds", s.uptime_secs());
    line(out, "uptime_in_days", s.uptime_secs() / 86400);
    line(out, "hz", cfg.hz);
    line(out, "configured_hz", cfg.hz);
    line(
        out,
        "lru_clock",
        (crate::util::now_ms() / 1000) & ((1 << 24) - 1),
    );
    line(out, "executable", &s.executable);
    let cf = cfg.config_file().map(|p| {
        std::fs::canonicalize(p)
            .unwrap_or_else(|_| p.to_path_buf())
            .display()
            .to_string()
    });
    line(out, "config_file", cf.unwrap_or_default());
    line(out, "io_threads_active", 0);
    if s.shutdown.initiated() {
        line(
            out,
            "shutdown_in_milliseconds",
            s.shutdown.in_milliseconds(),
        );
    }
}

fn clients_section(s: &Server, out: &mut String) {
    out.push_str("# Clients\r\n");
    let clients = s.clients.lock();
    let normal = clients
        .values()
        .filter(|c| !c.is_replica.load(Ordering::Relaxed) && !c.is_master.load(Ordering::Relaxed))
        .count();
    line(out, "connected_clients", normal);
    line(out, "cluster_connections", 0);
    line(out, "maxclients", s.config.read().maxclients);
    // The largest buffers among the clients connected now.
    let (max_in, max_out) = clients.values().fold((0, 0), |(i, o), c| {
        let (_, omem, qbuf) = crate::commands::admin::client::memory_usage(c);
        (i.max(qbuf), o.max(omem))
    });
    line(out, "client_recent_max_input_buffer", max_in);
    line(out, "client_recent_max_output_buffer", max_out);
    line(out, "blocked_clients", s.blocking.count());
    line(out, "tracking_clients", s.tracking.counts().0);
    line(out, "clients_in_timeout_table", s.blocking.with_timeout());
}

fn memory_section(s: &Server, out: &mut String) {
    out.push_str("# Memory\r\n");
    // Clients first, outside the config lock below.
    let (mut replicas, mut normal) = (0, 0);
    for c in s.clients.lock().values() {
        let (total, _, _) = crate::commands::admin::client::memory_usage(c);
        if crate::server::output::class(c) == crate::server::output::Class::Replica {
            replicas += total;
        } else if !c.is_master.load(Ordering::Relaxed) {
            normal += total;
        }
    }
    let used = crate::server::memory::used_memory();
    let mem = crate::server::memory::Figures::read();
    let peak = s
        .stats
        .peak_memory
        .fetch_max(used, Ordering::Relaxed)
        .max(used);
    let repl = s.repl.stream.memory();
    let cfg = s.config.read();
    line(out, "used_memory", used);
    line(out, "used_memory_human", human(used));
    line(out, "used_memory_rss", mem.rss);
    line(out, "used_memory_rss_human", human(mem.rss));
    line(out, "used_memory_peak", peak);
    line(out, "used_memory_peak_human", human(peak));
    line(
        out,
        "used_memory_peak_perc",
        format!("{:.2}%", used as f64 * 100.0 / peak.max(1) as f64),
    );
    line(out, "used_memory_overhead", repl);
    line(
        out,
        "used_memory_startup",
        s.startup_memory.load(Ordering::Relaxed),
    );
    line(out, "used_memory_dataset", used.saturating_sub(repl));
    line(
        out,
        "used_memory_dataset_perc",
        format!(
            "{:.2}%",
            used.saturating_sub(repl) as f64 * 100.0 / used.max(1) as f64
        ),
    );
    line(out, "allocator_allocated", mem.allocated);
    line(out, "allocator_active", mem.active);
    line(out, "allocator_resident", mem.resident);
    let total = nix::sys::sysinfo::sysinfo()
        .map(|i| i.ram_total())
        .unwrap_or(0);
    line(out, "total_system_memory", total);
    line(out, "total_system_memory_human", human(total));
    let sc = &s.scripting;
    let (scripts, scripts_mem, lua_mem) = sc.memory();
    let (vm_functions, functions_mem) = sc.functions_memory();
    line(out, "used_memory_lua", lua_mem);
    line(out, "used_memory_vm_eval", lua_mem);
    line(out, "used_memory_lua_human", human(lua_mem as u64));
    line(out, "used_memory_scripts_eval", scripts_mem);
    line(out, "number_of_cached_scripts", scripts);
    line(
        out,
        "number_of_functions",
        sc.function_count.load(Ordering::Relaxed),
    );
    line(
        out,
        "number_of_libraries",
        sc.library_count.load(Ordering::Relaxed),
    );
    line(out, "used_memory_vm_functions", vm_functions);
    line(out, "used_memory_vm_total", lua_mem + vm_functions);
    line(
        out,
        "used_memory_vm_total_human",
        human((lua_mem + vm_functions) as u64),
    );
    line(out, "used_memory_functions", functions_mem);
    line(out, "used_memory_scripts", scripts_mem + functions_mem);
    line(
        out,
        "used_memory_scripts_human",
        human((scripts_mem + functions_mem) as u64),
    );
    line(out, "maxmemory", cfg.maxmemory);
    line(out, "maxmemory_human", human(cfg.maxmemory));
    line(out, "maxmemory_policy", cfg.maxmemory_policy.name());
    use crate::server::memory::ratio;
    let ratio_line = |out: &mut String, k: &str, a: u64, b: u64| {
        line(out, k, format!("{:.2}", ratio(a, b)));
        line(out, &k.replace("ratio", "bytes"), a as i64 - b as i64);
    };
    ratio_line(out, "allocator_frag_ratio", mem.active, mem.allocated);
    ratio_line(out, "allocator_rss_ratio", mem.resident, mem.active);
    ratio_line(out, "rss_overhead_ratio", mem.rss, mem.resident);
    ratio_line(out, "mem_fragmentation_ratio", mem.rss, used);
    // What eviction leaves out of used memory (the replication buffers, `evict.rs`).
    line(out, "mem_not_counted_for_evict", repl);
    line(out, "mem_replication_backlog", repl);
    line(out, "mem_total_replication_buffers", repl);
    line(out, "mem_clients_slaves", replicas);
    line(out, "mem_clients_normal", normal);
    line(out, "mem_cluster_links", 0);
    line(out, "mem_aof_buffer", s.aof.buffered());
    line(
        out,
        "mem_allocator",
        crate::server::memory::allocator_name(),
    );
    // No active defragmentation in this build (`activedefrag` cannot be enabled).
    line(out, "active_defrag_running", 0);
    line(out, "lazyfree_pending_objects", s.lazyfree.pending());
    line(out, "lazyfreed_objects", s.lazyfree.freed());
}

fn persistence_section(s: &Server, out: &mut String) {
    out.push_str("# Persistence\r\n");
    let p = &s.persist;
    let now_s = crate::util::now_ms() / 1000;
    let in_progress = p.bgsave_in_progress.load(Ordering::Acquire);
    line(out, "loading", u8::from(p.loading.load(Ordering::Acquire)));
    line(
        out,
        "async_loading",
        u8::from(p.async_loading.load(Ordering::Acquire)),
    );
    // The running snapshot stands for Redis's child: its captured bytes for the child's
    // copy-on-write pages (never lower, so the current size is its peak too).
    let (keys_total, keys_done, cow) = s.snapshot_slot.progress();
    line(out, "current_cow_peak", cow);
    line(out, "current_cow_size", cow);
    line(out, "current_cow_size_age", 0);
    let perc = if keys_total == 0 {
        0.0
    } else {
        keys_done as f64 * 100.0 / keys_total as f64
    };
    line(out, "current_fork_perc", format!("{perc:.2}"));
    line(out, "current_save_keys_processed", keys_done);
    line(out, "current_save_keys_total", keys_total);
    let dirty = s
        .stats
        .dirty
        .load(Ordering::Relaxed)
        .saturating_sub(p.dirty_at_save.load(Ordering::Relaxed));
    line(out, "rdb_changes_since_last_save", dirty);
    line(out, "rdb_bgsave_in_progress", u8::from(in_progress));
    line(
        out,
        "rdb_last_save_time",
        p.last_save_time.load(Ordering::Relaxed),
    );
    line(
        out,
        "rdb_last_bgsave_status",
        if p.last_bgsave_ok.load(Ordering::Relaxed) {
            "ok"
        } else {
            "err"
        },
    );
    line(
        out,
        "rdb_last_bgsave_time_sec",
        p.last_bgsave_time_sec.load(Ordering::Relaxed),
    );
    let current = if in_progress {
        now_s - p.bgsave_started_ms.load(Ordering::Relaxed) / 1000
    } else {
        -1
    };
    line(out, "rdb_current_bgsave_time_sec", current);
    line(out, "rdb_saves", p.rdb_saves.load(Ordering::Relaxed));
    line(
        out,
        "rdb_last_cow_size",
        p.last_cow_size.load(Ordering::Relaxed),
    );
    line(
        out,
        "rdb_last_load_keys_expired",
        p.last_load_expired.load(Ordering::Relaxed),
    );
    line(
        out,
        "rdb_last_load_keys_loaded",
        p.last_load_keys.load(Ordering::Relaxed),
    );
    aof_fields(out, s, now_s);
    if p.loading.load(Ordering::Acquire) {
        let lp = &p.load_progress;
        let start = lp.start_s.load(Ordering::Relaxed);
        let total = lp.total_bytes.load(Ordering::Relaxed);
        let loaded = lp.loaded_bytes.load(Ordering::Relaxed).min(total);
        let elapsed = now_s - start;
        // Redis's estimate: time so far, scaled by what is left.
        let eta = if elapsed == 0 {
            1
        } else {
            elapsed * (total - loaded) as i64 / (loaded as i64 + 1)
        };
        line(out, "loading_start_time", start);
        line(out, "loading_total_bytes", total);
        line(
            out,
            "loading_rdb_used_mem",
            lp.rdb_used_mem.load(Ordering::Relaxed),
        );
        line(out, "loading_loaded_bytes", loaded);
        line(
            out,
            "loading_loaded_perc",
            format!("{:.2}", loaded as f64 / (total as f64 + 1.0) * 100.0),
        );
        line(out, "loading_eta_seconds", eta);
    }
}

fn stats_section(s: &Server, out: &mut String) {
    use crate::server::stats::Stats as St;
    out.push_str("# Stats\r\n");
    let st = &s.stats;
    line(
        out,
        "total_connections_received",
        St::get(&st.total_connections_received),
    );
    line(
        out,
        "total_commands_processed",
        st.total_commands_processed.get(),
    );
    line(out, "instantaneous_ops_per_sec", st.ops_per_sec());
    line(out, "total_net_input_bytes", st.net_input_bytes.get());
    line(out, "total_net_output_bytes", st.net_output_bytes.get());
    line(
        out,
        "total_net_repl_input_bytes",
        s.repl.link.read_offset.load(Ordering::Relaxed),
    );
    line(out, "total_net_repl_output_bytes", 0);
    line(out, "instantaneous_input_kbps", "0.00");
    line(out, "instantaneous_output_kbps", "0.00");
    line(out, "instantaneous_input_repl_kbps", "0.00");
    line(out, "instantaneous_output_repl_kbps", "0.00");
    line(
        out,
        "rejected_connections",
        St::get(&st.rejected_connections),
    );
    line(out, "sync_full", St::get(&s.repl.sync_full));
    line(out, "sync_partial_ok", St::get(&s.repl.sync_partial_ok));
    line(out, "sync_partial_err", St::get(&s.repl.sync_partial_err));
    line(out, "expired_keys", St::get(&st.expired_keys));
    line(out, "expired_stale_perc", "0.00");
    line(out, "expired_time_cap_reached_count", 0);
    line(out, "expire_cycle_cpu_milliseconds", 0);
    line(out, "evicted_keys", St::get(&st.evicted_keys));
    line(
        out,
        "evicted_clients",
        s.client_mem.evicted.load(Ordering::Relaxed),
    );
    line(out, "total_eviction_exceeded_time", 0);
    line(out, "current_eviction_exceeded_time", 0);
    line(out, "keyspace_hits", st.keyspace_hits.get());
    line(out, "keyspace_misses", st.keyspace_misses.get());
    line(
        out,
        "pubsub_channels",
        s.pubsub.channel_count(crate::server::pubsub::Space::Global),
    );
    line(out, "pubsub_patterns", s.pubsub.numpat());
    line(
        out,
        "pubsubshard_channels",
        s.pubsub.channel_count(crate::server::pubsub::Space::Shard),
    );
    // No fork here: these count the snapshots that stand in for Redis's forks (BGSAVE, AOF
    // rewrites, full syncs), and how long the last one held every shard to fix its instant.
    line(
        out,
        "latest_fork_usec",
        s.snapshot_slot.latest_begin_us.load(Ordering::Relaxed),
    );
    line(
        out,
        "total_forks",
        s.snapshot_slot.started.load(Ordering::Relaxed),
    );
    line(out, "migrate_cached_sockets", s.migrate_sockets.len());
    line(out, "slave_expires_tracked_keys", 0);
    for k in [
        "active_defrag_hits",
        "active_defrag_misses",
        "active_defrag_key_hits",
        "active_defrag_key_misses",
        "total_active_defrag_time",
        "current_active_defrag_time",
    ] {
        line(out, k, 0);
    }
    let (_, keys, items, prefixes) = s.tracking.counts();
    line(out, "tracking_total_keys", keys);
    line(out, "tracking_total_items", items);
    line(out, "tracking_total_prefixes", prefixes);
    line(out, "unexpected_error_replies", 0);
    line(out, "total_error_replies", St::get(&st.total_error_replies));
    line(out, "dump_payload_sanitizations", 0);
    line(
        out,
        "total_reads_processed",
        st.total_commands_processed.get(),
    );
    line(
        out,
        "total_writes_processed",
        st.total_commands_processed.get(),
    );
    line(out, "io_threaded_reads_processed", 0);
    line(out, "io_threaded_writes_processed", 0);
    line(out, "reply_buffer_shrinks", 0);
    line(out, "reply_buffer_expands", 0);
}

/// `# Replication`, field for field as redis 7.0 (shared/REPLICATION-SPEC.md §6).
pub fn replication_section(s: &Server, out: &mut String) {
    out.push_str("# Replication\r\n");
    let cfg = s.config.read();
    let replicas = master::replicas(s);
    let now = crate::util::now_ms();
    if let Some((host, port)) = &cfg.replicaof {
        let link = &s.repl.link;
        let state = link.state();
        line(out, "role", "slave");
        line(out, "master_host", host);
        line(out, "master_port", port);
        line(
            out,
            "master_link_status",
            if state == LinkState::Connected {
                "up"
            } else {
                "down"
            },
        );
        let last_io = if state == LinkState::Connected {
            (now - link.last_io_ms.load(Ordering::Acquire)) / 1000
        } else {
            -1
        };
        line(out, "master_last_io_seconds_ago", last_io);
        line(
            out,
            "master_sync_in_progress",
            u8::from(state == LinkState::Sync),
        );
        // Redis shows its master client's offset, else its cached master's (kept across a
        // link drop, or synthesized by a demoted master), else 1; a full sync discards the
        // cached master. Sentinel promotes the replica showing the highest.
        let (read, applied) = match state {
            LinkState::Connected => (
                link.read_offset.load(Ordering::Acquire),
                link.applied_offset.load(Ordering::Acquire),
            ),
            LinkState::Sync => (1, 1),
            _ => {
                let off = link.cached.lock().as_ref().map_or(1, |c| c.offset);
                (off, off)
            }
        };
        line(out, "slave_read_repl_offset", read);
        line(out, "slave_repl_offset", applied);
        if state == LinkState::Sync {
            let total = link.sync_total.load(Ordering::Acquire);
            let read = link.sync_read.load(Ordering::Acquire);
            line(out, "master_sync_total_bytes", total);
            line(out, "master_sync_read_bytes", read);
            line(
                out,
                "master_sync_left_bytes",
                if total < 0 { -1 } else { total - read as i64 },
            );
            let perc = if total <= 0 {
                -0.0
            } else {
                read as f64 * 100.0 / total as f64
            };
            line(out, "master_sync_perc", format!("{perc:.2}"));
            line(
                out,
                "master_sync_last_io_seconds_ago",
                (now - link.sync_last_io_ms.load(Ordering::Acquire)) / 1000,
            );
        }
        if state != LinkState::Connected {
            let since = link.down_since_ms.load(Ordering::Acquire);
            line(
                out,
                "master_link_down_since_seconds",
                if since == 0 { -1 } else { (now - since) / 1000 },
            );
        }
        // Tandem's (issue #13), only while a sentinel's fence holds the link down.
        let fence = link.fence_epoch.load(Ordering::Acquire);
        if fence != 0 {
            line(out, "master_link_fenced_epoch", fence);
        }
        line(out, "slave_priority", cfg.replica_priority);
        line(out, "slave_read_only", u8::from(cfg.replica_read_only));
        line(out, "replica_announced", u8::from(cfg.replica_announced));
    } else {
        line(out, "role", "master");
    }
    line(out, "connected_slaves", replicas.len());
    if cfg.min_replicas_to_write > 0 && cfg.min_replicas_max_lag > 0 && cfg.replicaof.is_none() {
        let good = replicas
            .iter()
            .filter(|r| {
                r.state() == ReplicaState::Online
                    && (now - r.last_ack_ms.load(Ordering::Acquire)) / 1000
                        <= cfg.min_replicas_max_lag as i64
            })
            .count();
        line(out, "min_slaves_good_slaves", good);
    }
    for (i, r) in replicas.iter().enumerate() {
        let state = r.state();
        let lag = if state == ReplicaState::Online {
            (now - r.last_ack_ms.load(Ordering::Acquire)) / 1000
        } else {
            0
        };
        let _ = write!(
            out,
            "slave{i}:ip={},port={},state={},offset={},lag={}\r\n",
            r.ip,
            r.port,
            state.name(),
            r.ack_offset.load(Ordering::Acquire),
            lag
        );
    }
    line(out, "master_failover_state", s.repl.failover.state().name());
    let ids = s.repl.ids.lock().clone();
    line(out, "master_replid", &ids.replid);
    line(out, "master_replid2", &ids.replid2);
    line(out, "master_repl_offset", s.repl.master_repl_offset());
    line(out, "second_repl_offset", ids.second_offset);
    let (first, hist) = s.repl.stream.backlog_window();
    line(
        out,
        "repl_backlog_active",
        u8::from(s.repl.stream.is_active()),
    );
    line(out, "repl_backlog_size", cfg.repl_backlog_size);
    line(out, "repl_backlog_first_byte_offset", first);
    line(out, "repl_backlog_histlen", hist);
}

fn cpu_section(_s: &Server, out: &mut String) {
    out.push_str("# CPU\r\n");
    let (user, sys) = crate::server::memory::cpu_times();
    line(out, "used_cpu_sys", format!("{sys:.6}"));
    line(out, "used_cpu_user", format!("{user:.6}"));
    line(out, "used_cpu_sys_children", "0.000000");
    line(out, "used_cpu_user_children", "0.000000");
    line(out, "used_cpu_sys_main_thread", format!("{sys:.6}"));
    line(out, "used_cpu_user_main_thread", format!("{user:.6}"));
}

fn modules_section(_s: &Server, out: &mut String) {
    out.push_str("# Modules\r\n");
}

fn commandstats_section(_s: &Server, out: &mut String) {
    out.push_str("# Commandstats\r\n");
    for (i, spec) in REGISTRY.all.iter().enumerate() {
        let c = &REGISTRY.counters[i];
        let (calls, usec) = REGISTRY.calls_of(i);
        let rejected = c.rejected.load(Ordering::Relaxed);
        let failed = c.failed.load(Ordering::Relaxed);
        if calls == 0 && rejected == 0 && failed == 0 {
            continue;
        }
        let per = if calls > 0 {
            usec as f64 / calls as f64
        } else {
            0.0
        };
        let _ = write!(
            out,
            "cmdstat_{}:calls={calls},usec={usec},usec_per_call={per:.2},rejected_calls={rejected},failed_calls={failed}\r\n",
            spec.name
        );
    }
}

fn errorstats_section(s: &Server, out: &mut String) {
    out.push_str("# Errorstats\r\n");
    let errors = s.stats.errors.lock();
    let mut names: Vec<_> = errors.iter().collect();
    names.sort();
    for (code, n) in names {
        let _ = write!(out, "errorstat_{code}:count={n}\r\n");
    }
}

fn latencystats_section(s: &Server, out: &mut String) {
    out.push_str("# Latencystats\r\n");
    let cfg = s.config.read();
    if !cfg.latency_tracking {
        return;
    }
    for (i, spec) in REGISTRY.all.iter().enumerate() {
        let Some(h) = REGISTRY.latency.snapshot(i) else {
            continue;
        };
        let _ = write!(out, "latency_percentiles_usec_{}:", spec.name);
        for (j, &p) in cfg.latency_percentiles().iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            let usec = h.value_at_percentile(p) as f64 / 1000.0;
            let _ = write!(out, "p{}={usec:.3}", crate::config::format_percentile(p));
        }
        out.push_str("\r\n");
    }
}

fn cluster_section(_s: &Server, out: &mut String) {
    out.push_str("# Cluster\r\n");
    line(out, "cluster_enabled", 0);
}

fn keyspace_section(s: &Server, out: &mut String) {
    out.push_str("# Keyspace\r\n");
    for (i, (keys, expires)) in s.keyspace.db_counts().into_iter().enumerate() {
        if keys > 0 {
            let _ = write!(out, "db{i}:keys={keys},expires={expires},avg_ttl=0\r\n");
        }
    }
}

/// INFO persistence's `aof_*` fields (the size fields only while the AOF is on).
fn aof_fields(out: &mut String, s: &crate::server::Server, now_s: i64) {
    let aof = &s.aof;
    let st = &aof.stats;
    let ok = |b: bool| if b { "ok" } else { "err" };
    let rewriting = st.rewrite_in_progress.load(Ordering::Acquire);
    let scheduled = u8::from(st.rewrite_scheduled.load(Ordering::Relaxed));
    line(out, "aof_enabled", u8::from(aof.is_on()));
    line(out, "aof_rewrite_in_progress", u8::from(rewriting));
    line(out, "aof_rewrite_scheduled", scheduled);
    line(
        out,
        "aof_last_rewrite_time_sec",
        st.last_rewrite_time_sec.load(Ordering::Relaxed),
    );
    let current = if rewriting {
        now_s - st.rewrite_started_ms.load(Ordering::Relaxed) / 1000
    } else {
        -1
    };
    line(out, "aof_current_rewrite_time_sec", current);
    line(
        out,
        "aof_last_bgrewrite_status",
        ok(st.last_rewrite_ok.load(Ordering::Relaxed)),
    );
    line(out, "aof_rewrites", st.rewrites.load(Ordering::Relaxed));
    line(
        out,
        "aof_rewrites_consecutive_failures",
        st.consecutive_failures.load(Ordering::Relaxed),
    );
    line(
        out,
        "aof_last_write_status",
        ok(st.last_write_ok.load(Ordering::Relaxed)),
    );
    line(
        out,
        "aof_last_cow_size",
        st.last_cow_size.load(Ordering::Relaxed),
    );
    line(out, "module_fork_in_progress", 0);
    line(out, "module_fork_last_cow_size", 0);
    if aof.is_on() {
        line(
            out,
            "aof_current_size",
            st.current_size.load(Ordering::Relaxed),
        );
        line(out, "aof_base_size", st.base_size.load(Ordering::Relaxed));
        line(out, "aof_pending_rewrite", scheduled);
        line(out, "aof_buffer_length", aof.buffered());
        line(
            out,
            "aof_pending_bio_fsync",
            u8::from(st.fsync_in_progress.load(Ordering::Relaxed)),
        );
        line(
            out,
            "aof_delayed_fsync",
            st.delayed_fsync.load(Ordering::Relaxed),
        );
    }
}
