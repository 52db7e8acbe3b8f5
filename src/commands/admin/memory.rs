//! MEMORY USAGE | STATS | DOCTOR | MALLOC-STATS | PURGE | HELP (redis `object.c`).
//!
//! MEMORY USAGE answers what redis-server 7.0 would allocate for the same key and value
//! (redis `objectComputeSize` with jemalloc's size classes, listpack/intset byte layouts and
//! dict overheads), not Tandem's own footprint: tools size their datasets against Redis's
//! figures, and Tandem's representation is smaller.

use std::sync::atomic::Ordering;

use super::super::args::is;
use super::super::errors::{self, CmdError};
use super::super::server_cmds::container;
use super::super::spec::{Group, Spec, LOADING, READONLY, STALE};
use super::super::Ctx;
use crate::keyspace::{Str, Value};
use crate::protocol::Reply;
use crate::util::jemalloc_size;

pub const MEMORY: Spec = Spec::new("memory", -2, 0, Group::Server, container).subs(SUBS);

const SUBS: &[Spec] = &[
    Spec::new("memory|usage", -3, READONLY, Group::Server, usage).keys(2, 2, 1),
    Spec::new("memory|stats", 2, 0, Group::Server, stats),
    Spec::new("memory|doctor", 2, 0, Group::Server, doctor),
    Spec::new("memory|malloc-stats", 2, 0, Group::Server, malloc_stats),
    Spec::new("memory|purge", 2, 0, Group::Server, purge),
    Spec::new("memory|help", 2, LOADING | STALE, Group::Server, help),
];

const HELP: &[&str] = &[
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
];

fn help(_cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(super::help_reply("MEMORY", HELP))
}

/// redis `OBJ_COMPUTE_SIZE_DEF_SAMPLES`.
const DEFAULT_SAMPLES: usize = 5;

/// MEMORY USAGE key [SAMPLES count].
fn usage(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let mut samples = DEFAULT_SAMPLES;
    let mut i = 3;
    while i < argv.len() {
        if is(&argv[i], "samples") && i + 1 < argv.len() {
            let n = super::super::args::parse_int(&argv[i + 1])?;
            if n < 0 {
                return Err(errors::SYNTAX);
            }
            samples = if n == 0 { usize::MAX } else { n as usize };
            i += 2;
        } else {
            return Err(errors::SYNTAX);
        }
    }
    let key = &argv[2];
    let limits = cx.db.limits();
    let Some(v) = cx.db.get_no_touch(key) else {
        return Ok(Reply::Nil);
    };
    let size =
        value_size(v, samples, limits.list_max_listpack_size) + sds_alloc(key.len()) + DICT_ENTRY;
    Ok(Reply::Int(size as i64))
}

/// Redis's size of a whole keyspace entry (key, value, dict entry) with default sampling: what
/// evicting it frees in Redis's accounting.
pub fn entry_size(key: &[u8], v: &Value, list_fill: i64) -> usize {
    value_size(v, DEFAULT_SAMPLES, list_fill) + sds_alloc(key.len()) + DICT_ENTRY
}

// Sizes of redis structures on a 64-bit build.
const ROBJ: usize = 16;
const DICT_ENTRY: usize = 24;
const DICT: usize = 56;
const QUICKLIST: usize = 40;
const QUICKLIST_NODE: usize = 40;
const ZSET: usize = 16;
const ZSKIPLIST: usize = 32;
/// `zslCreateNode(ZSKIPLIST_MAXLEVEL)`: 24 bytes + 32 levels of 16.
const ZSL_HEADER: usize = 24 + 32 * 16;

/// Allocation of an sds string of `len` bytes created exactly (redis `sdsnewlen`).
fn sds_alloc(len: usize) -> usize {
    let hdr = if len < 1 << 5 {
        1
    } else if len < 1 << 8 {
        3
    } else if len < 1 << 16 {
        5
    } else if len < 1 << 32 {
        9
    } else {
        17
    };
    jemalloc_size(hdr + len + 1)
}

/// Bytes of one listpack entry holding `s` (redis `lpEncodeGetType` + backlen).
fn lp_entry_len(s: &[u8]) -> usize {
    let body = match (s.len() <= 20).then(|| crate::util::parse_i64(s)).flatten() {
        Some(v) if (0..=127).contains(&v) => 1,
        Some(v) if (-4096..=4095).contains(&v) => 2,
        Some(v) if (-32768..=32767).contains(&v) => 3,
        Some(v) if (-8_388_608..=8_388_607).contains(&v) => 4,
        Some(v) if i32::try_from(v).is_ok() => 5,
        Some(_) => 9,
        None if s.len() < 64 => 1 + s.len(),
        None if s.len() < 4096 => 2 + s.len(),
        None => 5 + s.len(),
    };
    let backlen = match body {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    };
    body + backlen
}

/// Listpack header (total bytes + count) and end byte.
const LP_OVERHEAD: usize = 6 + 1;

fn int_bytes(i: i64) -> Vec<u8> {
    itoa::Buffer::new().format(i).as_bytes().to_vec()
}

/// Buckets of a dict holding `n` entries grown one insert at a time.
fn dict_slots(n: usize) -> usize {
    n.next_power_of_two().max(4)
}

/// Average of `f` over the first `samples` items, times `len` (redis's sampling estimate).
fn sampled<I: Iterator<Item = usize>>(items: I, samples: usize, len: usize) -> usize {
    let mut n = 0usize;
    let mut sum = 0usize;
    for s in items.take(samples) {
        sum += s;
        n += 1;
    }
    if n == 0 {
        0
    } else {
        (sum as f64 / n as f64 * len as f64) as usize
    }
}

/// redis `objectComputeSize` for `v`.
fn value_size(v: &Value, samples: usize, list_fill: i64) -> usize {
    match v {
        // Shared integers cost the same as any other: redis counts `sizeof(robj)`.
        Value::Str(Str::Int(_)) => ROBJ,
        Value::Str(s) if s.encoding() == "embstr" => jemalloc_size(ROBJ + 3 + s.len() + 1),
        // Grown in place (APPEND, SETRANGE, SETBIT): redis's sdsMakeRoomFor doubles the
        // allocation below 1 MB, and adds 1 MB above.
        Value::Str(s @ Str::Raw { .. }) => {
            let len = s.len();
            let greedy = if len < 1 << 20 {
                len * 2
            } else {
                len + (1 << 20)
            };
            ROBJ + sds_alloc(greedy)
        }
        Value::Str(s) => ROBJ + sds_alloc(s.len()),
        Value::List(l) => {
            // Nodes as redis `_quicklistNodeAllowInsert` fills them: by size for a negative
            // fill (4 kB .. 64 kB), by count (within 8 kB) for a positive one.
            let size_limit: Option<usize> = match list_fill {
                -1 => Some(4096),
                -2 => Some(8192),
                -3 => Some(16384),
                -4 => Some(32768),
                f if f <= -5 => Some(65536),
                _ => None,
            };
            let mut nodes: Vec<usize> = Vec::new();
            let (mut bytes, mut count) = (LP_OVERHEAD, 0usize);
            for e in l.iter() {
                let new_sz = bytes + e.len() + 8;
                let fits = match size_limit {
                    Some(limit) => new_sz <= limit,
                    None => new_sz <= 8192 && (count as i64) < list_fill,
                };
                if count > 0 && !fits {
                    nodes.push(bytes);
                    bytes = LP_OVERHEAD;
                    count = 0;
                }
                bytes += lp_entry_len(e);
                count += 1;
            }
            if count > 0 {
                nodes.push(bytes);
            }
            let n = nodes.len();
            ROBJ + QUICKLIST
                + sampled(
                    nodes.into_iter().map(|b| QUICKLIST_NODE + jemalloc_size(b)),
                    samples,
                    n,
                )
        }
        Value::Set(s) => match s.encoding() {
            "intset" => {
                let members: Vec<i64> = s
                    .iter()
                    .map(|m| match m {
                        crate::keyspace::set::Member::Int(i) => i,
                        crate::keyspace::set::Member::Bytes(b) => {
                            crate::util::parse_i64(b).unwrap_or(0)
                        }
                    })
                    .collect();
                let width = members
                    .iter()
                    .map(|&i| {
                        if i16::try_from(i).is_ok() {
                            2
                        } else if i32::try_from(i).is_ok() {
                            4
                        } else {
                            8
                        }
                    })
                    .max()
                    .unwrap_or(2);
                ROBJ + jemalloc_size(8 + members.len() * width)
            }
            _ => {
                let n = s.len();
                ROBJ + DICT
                    + 8 * dict_slots(n)
                    + sampled(
                        s.iter().map(|m| DICT_ENTRY + sds_alloc(member_len(m))),
                        samples,
                        n,
                    )
            }
        },
        Value::Hash(h) => {
            if h.encoding() == "listpack" {
                let bytes: usize = LP_OVERHEAD
                    + h.iter()
                        .map(|(f, v)| lp_entry_len(f) + lp_entry_len(v))
                        .sum::<usize>();
                ROBJ + jemalloc_size(bytes)
            } else {
                let n = h.len();
                ROBJ + DICT
                    + 8 * dict_slots(n)
                    + sampled(
                        h.iter()
                            .map(|(f, v)| DICT_ENTRY + sds_alloc(f.len()) + sds_alloc(v.len())),
                        samples,
                        n,
                    )
            }
        }
        Value::ZSet(z) => {
            if z.encoding() == "listpack" {
                let bytes: usize = LP_OVERHEAD
                    + z.iter()
                        .map(|(m, s)| {
                            lp_entry_len(m) + lp_entry_len(crate::util::format_g(s, 17).as_bytes())
                        })
                        .sum::<usize>();
                ROBJ + jemalloc_size(bytes)
            } else {
                let n = z.len();
                // A node has on average 4/3 levels (ZSKIPLIST_P = 0.25): 24 + 16 * 4/3 bytes.
                let node =
                    jemalloc_size(24 + 16) + (jemalloc_size(24 + 32) - jemalloc_size(24 + 16)) / 3;
                ROBJ + ZSET
                    + ZSKIPLIST
                    + DICT
                    + 8 * dict_slots(n)
                    + jemalloc_size(ZSL_HEADER)
                    + sampled(
                        z.iter()
                            .map(|(m, _)| sds_alloc(m.len()) + DICT_ENTRY + node),
                        samples,
                        n,
                    )
            }
        }
        Value::Stream(st) => stream_size(st, samples),
    }
}

/// redis's estimate of a radix tree of stream IDs (`streamRadixTreeMemoryUsage`): the keys,
/// and per node its header plus 30 words.
fn rax_size(keys: usize, nodes: usize) -> usize {
    keys * 16 + nodes * (4 + 8 * 30)
}

/// redis `objectComputeSize` for a stream: the tree, the first `samples` nodes' allocations
/// averaged over all but the last, the last one's, and the groups' PELs and consumers.
fn stream_size(st: &crate::keyspace::stream::Stream, samples: usize) -> usize {
    use crate::keyspace::stream::rax_nodes;
    let mut size = ROBJ + 80 + rax_size(st.node_count(), st.rax_nodes());
    let caps: Vec<usize> = st
        .node_capacities()
        .take(samples.max(1))
        .map(jemalloc_size)
        .collect();
    let n = st.node_count();
    if n <= caps.len() {
        size += caps.iter().sum::<usize>();
    } else if !caps.is_empty() {
        size += caps.iter().sum::<usize>() / caps.len() * (n - 1);
        size += st.node_capacities().last().map_or(0, jemalloc_size);
    }
    for g in st.groups.values() {
        size += 40 + rax_size(g.pel.len(), rax_nodes(g.pel.keys().copied())) + 24 * g.pel.len();
        for (name, c) in &g.consumers {
            size += 24 + name.len() + rax_size(c.pel.len(), rax_nodes(c.pel.iter().copied()));
        }
    }
    size
}

fn member_len(m: crate::keyspace::set::Member<'_>) -> usize {
    match m {
        crate::keyspace::set::Member::Int(i) => int_bytes(i).len(),
        crate::keyspace::set::Member::Bytes(b) => b.len(),
    }
}

/// MEMORY STATS, with redis 7.0's fields; Tandem has no Lua, AOF or cluster, so those are 0.
fn stats(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let s = cx.server;
    let used = crate::server::memory::used_memory();
    let mem = crate::server::memory::Figures::read();
    let peak = s
        .stats
        .peak_memory
        .fetch_max(used, Ordering::Relaxed)
        .max(used);
    let backlog = s.repl.stream.memory();
    let counts = s.keyspace.db_counts();
    let keys: usize = counts.iter().map(|c| c.0).sum();
    let clients = s.clients.lock();
    let replicas = clients
        .values()
        .filter(|c| c.is_replica.load(Ordering::Relaxed))
        .count() as u64;
    let normal = clients.len() as u64 - replicas;
    drop(clients);
    let clients_normal = normal * 22_272;
    let clients_slaves = replicas * 22_272;
    let mut fields: Vec<(Reply, Reply)> = Vec::new();
    let mut kv = |k: &str, v: Reply| fields.push((Reply::bulk_str(k), v));
    let overhead_db: Vec<(usize, u64, u64)> = counts
        .iter()
        .enumerate()
        .filter(|(_, c)| c.0 > 0)
        .map(|(i, c)| {
            let main = (c.0 * DICT_ENTRY + dict_slots(c.0) * 8 + DICT) as u64;
            let exp = if c.1 > 0 {
                (c.1 * DICT_ENTRY + dict_slots(c.1) * 8 + DICT) as u64
            } else {
                0
            };
            (i, main, exp)
        })
        .collect();
    let startup = s.startup_memory.load(Ordering::Relaxed).min(used);
    let overhead: u64 = startup
        + backlog
        + clients_normal
        + clients_slaves
        + overhead_db.iter().map(|d| d.1 + d.2).sum::<u64>();
    let dataset = used.saturating_sub(overhead);
    let net = used.saturating_sub(startup);
    kv("peak.allocated", Reply::Int(peak as i64));
    kv("total.allocated", Reply::Int(used as i64));
    kv("startup.allocated", Reply::Int(startup as i64));
    kv("replication.backlog", Reply::Int(backlog as i64));
    kv("clients.slaves", Reply::Int(clients_slaves as i64));
    kv("clients.normal", Reply::Int(clients_normal as i64));
    kv("cluster.links", Reply::Int(0));
    kv("aof.buffer", Reply::Int(0));
    kv("lua.caches", Reply::Int(0));
    kv("functions.caches", Reply::Int(0));
    for (i, main, exp) in &overhead_db {
        fields.push((
            Reply::bulk(format!("db.{i}").into_bytes()),
            Reply::Map(vec![
                (
                    Reply::bulk_str("overhead.hashtable.main"),
                    Reply::Int(*main as i64),
                ),
                (
                    Reply::bulk_str("overhead.hashtable.expires"),
                    Reply::Int(*exp as i64),
                ),
                (
                    Reply::bulk_str("overhead.hashtable.slot-to-keys"),
                    Reply::Int(0),
                ),
            ]),
        ));
    }
    let mut kv = |k: &str, v: Reply| fields.push((Reply::bulk_str(k), v));
    kv("overhead.total", Reply::Int(overhead as i64));
    kv("keys.count", Reply::Int(keys as i64));
    kv(
        "keys.bytes-per-key",
        Reply::Int(if keys > 0 {
            (net / keys as u64) as i64
        } else {
            0
        }),
    );
    kv("dataset.bytes", Reply::Int(dataset as i64));
    let pct = |a: u64, b: u64| {
        if b > 0 {
            a as f64 * 100.0 / b as f64
        } else {
            0.0
        }
    };
    kv(
        "dataset.percentage",
        Reply::Double(pct(dataset, net) as f32 as f64),
    );
    kv(
        "peak.percentage",
        Reply::Double(pct(used, peak) as f32 as f64),
    );
    use crate::server::memory::ratio;
    kv("allocator.allocated", Reply::Int(mem.allocated as i64));
    kv("allocator.active", Reply::Int(mem.active as i64));
    kv("allocator.resident", Reply::Int(mem.resident as i64));
    let mut pair = |k: &str, a: u64, b: u64| {
        fields.push((
            Reply::bulk_str(&format!("{k}.ratio")),
            Reply::Double(ratio(a, b)),
        ));
        fields.push((
            Reply::bulk_str(&format!("{k}.bytes")),
            Reply::Int(a as i64 - b as i64),
        ));
    };
    pair("allocator-fragmentation", mem.active, mem.allocated);
    pair("allocator-rss", mem.resident, mem.active);
    pair("rss-overhead", mem.rss, mem.resident);
    let mut kv = |k: &str, v: Reply| fields.push((Reply::bulk_str(k), v));
    kv("fragmentation", Reply::Double(ratio(mem.rss, used)));
    kv(
        "fragmentation.bytes",
        Reply::Int(mem.rss as i64 - used as i64),
    );
    Ok(Reply::Map(fields))
}

/// MEMORY DOCTOR: redis `getMemoryDoctorReport`; below 5 MB it declines, as Redis does.
fn doctor(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let used = crate::server::memory::used_memory();
    let _ = cx;
    let text = if used < 1024 * 1024 * 5 {
        "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n"
    } else {
        "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n"
    };
    Ok(Reply::Verbatim(text.into()))
}

extern "C" {
    /// jemalloc's statistics printer, as linked by `tikv-jemallocator` (prefixed symbols).
    #[link_name = "_rjem_malloc_stats_print"]
    fn je_malloc_stats_print(
        write_cb: Option<unsafe extern "C" fn(*mut std::ffi::c_void, *const std::ffi::c_char)>,
        cbopaque: *mut std::ffi::c_void,
        opts: *const std::ffi::c_char,
    );
}

unsafe extern "C" fn collect_stats(opaque: *mut std::ffi::c_void, msg: *const std::ffi::c_char) {
    if opaque.is_null() || msg.is_null() {
        return;
    }
    // SAFETY: `opaque` is the `String` passed by `malloc_stats` for the duration of the call,
    // and jemalloc hands us a NUL-terminated string.
    let out = unsafe { &mut *(opaque as *mut String) };
    let s = unsafe { std::ffi::CStr::from_ptr(msg) };
    out.push_str(&s.to_string_lossy());
}

/// MEMORY MALLOC-STATS: jemalloc's own report, as Redis prints it.
fn malloc_stats(_cx: &mut Ctx) -> Result<Reply, CmdError> {
    let mut out = String::new();
    // SAFETY: the callback only appends to `out`, which outlives the call; null options.
    unsafe {
        je_malloc_stats_print(
            Some(collect_stats),
            &mut out as *mut String as *mut std::ffi::c_void,
            std::ptr::null(),
        );
    }
    Ok(Reply::Verbatim(out.into()))
}

/// MEMORY PURGE: asks jemalloc to return dirty pages of every arena (redis `jemalloc_purge`).
fn purge(_cx: &mut Ctx) -> Result<Reply, CmdError> {
    let _ = tikv_jemalloc_ctl::epoch::advance();
    // "arena.<MALLCTL_ARENAS_ALL>.purge"; failure is not reported, as in Redis.
    let name = b"arena.4096.purge\0";
    // SAFETY: a valid NUL-terminated mallctl name of a void operation.
    let _ = unsafe { tikv_jemalloc_ctl::raw::write(name, ()) };
    Ok(Reply::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jemalloc_classes() {
        assert_eq!(jemalloc_size(1), 8);
        assert_eq!(jemalloc_size(9), 16);
        assert_eq!(jemalloc_size(19), 32);
        assert_eq!(jemalloc_size(38), 48);
        assert_eq!(jemalloc_size(108), 112);
        assert_eq!(jemalloc_size(129), 160);
        assert_eq!(jemalloc_size(257), 320);
        assert_eq!(jemalloc_size(536), 640);
    }

    #[test]
    fn strings_as_redis_counts_them() {
        // MEMORY USAGE of `SET k v` on redis 7.0.15, minus the key sds and dict entry.
        let s = |v: &[u8]| value_size(&Value::Str(Str::from_bytes(v)), 5, -2);
        assert_eq!(s(b"1") + sds_alloc(1) + DICT_ENTRY, 48);
        assert_eq!(s(b"bar") + sds_alloc(1) + DICT_ENTRY, 64);
        assert_eq!(s(&[b'x'; 23]) + sds_alloc(17) + DICT_ENTRY, 104);
        assert_eq!(s(&[b'x'; 104]) + sds_alloc(34) + DICT_ENTRY, 200);
    }
}
