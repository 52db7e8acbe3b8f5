//! `maxmemory`: key eviction by `maxmemory-policy` (redis `evict.c`), run by the dispatcher
//! before every command; one that may grow memory (DENYOOM, EXEC of such, or anything queued
//! in MULTI) is refused when memory stays over the limit.
//!
//! Used memory is jemalloc's allocated bytes minus the replication backlog (redis
//! `freeMemoryGetNotCountedMemory`), re-read at most once a millisecond; each eviction lowers
//! the cached figure by redis's size of the evicted key (`MEMORY USAGE`), so a burst of writes
//! does not evict on a stale reading. Candidates are sampled as redis does: `maxmemory-samples`
//! keys per database (from all keys or only those with a TTL), kept in a pool of the 16 best
//! (longest idle, least frequently used, or nearest expiry), the best evicted first; the random
//! policies pick any key. An evicted key is deleted through a `Db` over its locked shard (so a
//! snapshot in progress captures it first) and propagated as `DEL` (`UNLINK` with
//! `lazyfree-lazy-eviction`), counted in `evicted_keys`, and notified as `evicted`.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use bytes::Bytes;
use rand::Rng;

use super::client::Client;
use super::Server;
use crate::commands::errors::{self, CmdError};
use crate::commands::spec::Spec;
use crate::config::MaxmemoryPolicy;
use crate::keyspace::{Db, ExpireMode, SHARDS};

/// redis `EVPOOL_SIZE`.
const POOL_SIZE: usize = 16;
/// Keys evicted per call at most; the next command continues (redis bounds each call in time).
const MAX_KEYS_PER_CALL: usize = 10_000;
/// How long a used-memory reading is reused (jemalloc's stats refresh is not free).
const MEASURE_EVERY_US: i64 = 1000;

/// Process-wide (jemalloc's figure is per process): time of the last reading, its value, and
/// the change counter then.
static MEASURED_AT_US: AtomicI64 = AtomicI64::new(0);
static MEASURED: AtomicU64 = AtomicU64::new(0);
static MEASURED_DIRTY: AtomicU64 = AtomicU64::new(0);

/// A reading is reused for a while, but not past a write: the command after one that grew
/// the dataset sees the growth, as in Redis.
fn used_memory(server: &Server) -> u64 {
    let now = crate::util::now_us();
    let dirty = server.stats.dirty.load(Ordering::Relaxed);
    if now - MEASURED_AT_US.load(Ordering::Relaxed) < MEASURE_EVERY_US
        && MEASURED_DIRTY.load(Ordering::Relaxed) == dirty
    {
        return MEASURED.load(Ordering::Relaxed);
    }
    let used = super::memory::used_memory();
    MEASURED.store(used, Ordering::Relaxed);
    MEASURED_AT_US.store(now, Ordering::Relaxed);
    MEASURED_DIRTY.store(dirty, Ordering::Relaxed);
    used
}

/// Memory counted against `maxmemory` (redis `getMaxmemoryState`).
fn counted_memory(server: &Server) -> u64 {
    used_memory(server).saturating_sub(server.repl.stream.memory())
}

/// The dispatcher's OOM check (redis `processCommand`): evicts if needed, and refuses the
/// command with `-OOM` when memory is still above `maxmemory`.
pub fn check_oom(
    server: &Server,
    client: &Client,
    cmd: &Spec,
    denyoom: bool,
) -> Result<(), CmdError> {
    if client.is_master_link || crate::commands::admin::hot_config(server).maxmemory == 0 {
        return Ok(());
    }
    // Every command evicts (a read too); only those that may grow memory are refused.
    let fits = perform_evictions(server);
    let queued =
        client.multi.is_some() && !matches!(cmd.name, "exec" | "discard" | "quit" | "reset");
    if fits || !(denyoom || queued) {
        Ok(())
    } else {
        Err(errors::OOM)
    }
}

/// What eviction may do now, from the config.
struct Settings {
    maxmemory: u64,
    policy: MaxmemoryPolicy,
    samples: usize,
    lazy: bool,
    list_fill: i64,
    access: crate::keyspace::Access,
}

fn settings(server: &Server) -> Option<Settings> {
    let c = server.config.read();
    if c.maxmemory == 0 {
        return None;
    }
    // A replica leaves eviction to its master (replica-ignore-maxmemory, default yes).
    if server.is_replica() && c.get("replica-ignore-maxmemory").as_deref() != Some("no") {
        return None;
    }
    Some(Settings {
        maxmemory: c.maxmemory,
        policy: c.maxmemory_policy,
        samples: (c.maxmemory_samples as usize).max(1),
        lazy: c.lazyfree_lazy_eviction,
        list_fill: c.list_max_listpack_size,
        access: server.keyspace.access.load(),
    })
}

/// redis `performEvictions`: evicts until memory is under `maxmemory`. Returns false when it
/// cannot get there (noeviction, or nothing left to evict).
pub fn perform_evictions(server: &Server) -> bool {
    let Some(st) = settings(server) else {
        return true;
    };
    let used = counted_memory(server);
    if used <= st.maxmemory {
        return true;
    }
    if st.policy == MaxmemoryPolicy::NoEviction {
        return false;
    }
    let to_free = used - st.maxmemory;
    let mut freed = 0u64;
    let mut attempts = 0usize;
    while freed < to_free {
        attempts += 1;
        if attempts > MAX_KEYS_PER_CALL {
            return true;
        }
        let Some((shard, db, key)) = pick(server, &st) else {
            return false;
        };
        if let Some(size) = evict_key(server, &st, shard, db, &key) {
            freed += size;
            let _ = MEASURED.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |m| {
                Some(m.saturating_sub(size))
            });
        }
    }
    true
}

/// A candidate: (score, shard, db, key); higher scores are evicted first.
type Candidate = (u64, usize, usize, Bytes);

/// Chooses the next key to evict under the policy, or None if there is none.
fn pick(server: &Server, st: &Settings) -> Option<(usize, usize, Bytes)> {
    let volatile = st.policy.is_volatile();
    let random = matches!(
        st.policy,
        MaxmemoryPolicy::AllkeysRandom | MaxmemoryPolicy::VolatileRandom
    );
    let ndbs = server.keyspace.databases();
    let mut rng = rand::rng();
    let now_ms = crate::util::now_ms();
    let mut pool: Vec<Candidate> = Vec::with_capacity(POOL_SIZE + 1);
    for db in 0..ndbs {
        // Shards in a random rotation, so every shard is sampled over time.
        let start = rng.random_range(0..SHARDS);
        let mut sampled = 0;
        for n in 0..SHARDS {
            if sampled >= st.samples {
                break;
            }
            let s = (start + n) % SHARDS;
            let mut locked = server.keyspace.lock_shard(s);
            let Some(shard) = locked.shards_mut().next() else {
                continue;
            };
            let t = &shard.tables[db];
            let len = if volatile { t.volatile_len() } else { t.len() };
            if len == 0 {
                continue;
            }
            let take = if random {
                1
            } else {
                (st.samples - sampled).min(len)
            };
            for _ in 0..take {
                let i = rng.random_range(0..len);
                let (key, expire_at) = if volatile {
                    match t.volatile_at(i) {
                        Some((k, when)) => (Bytes::copy_from_slice(k), when),
                        None => continue,
                    }
                } else {
                    match t.get_index(i) {
                        Some((k, _)) => (Bytes::copy_from_slice(k), 0),
                        None => continue,
                    }
                };
                let Some(entry) = t.get(&key) else {
                    continue;
                };
                let score = score(st.policy, &st.access, entry.lru, expire_at, now_ms);
                sampled += 1;
                if random {
                    return Some((s, db, key));
                }
                if !pool.iter().any(|c| c.2 == db && c.3 == key) {
                    pool.push((score, s, db, key));
                }
            }
        }
    }
    pool.sort_by_key(|c| std::cmp::Reverse(c.0));
    pool.truncate(POOL_SIZE);
    pool.into_iter().next().map(|(_, s, db, k)| (s, db, k))
}

/// How good a candidate is (redis's pool "idle" score).
fn score(
    policy: MaxmemoryPolicy,
    access: &crate::keyspace::Access,
    lru: u32,
    expire_at: i64,
    now_ms: i64,
) -> u64 {
    match policy {
        MaxmemoryPolicy::AllkeysLru | MaxmemoryPolicy::VolatileLru => {
            let now = (now_ms / 1000) as u32;
            u64::from(now.wrapping_sub(lru))
        }
        MaxmemoryPolicy::AllkeysLfu | MaxmemoryPolicy::VolatileLfu => {
            255 - u64::from(access.counter(lru, now_ms))
        }
        MaxmemoryPolicy::VolatileTtl => u64::MAX - expire_at.max(0) as u64,
        _ => 0,
    }
}

/// Deletes `key` of database `db` (in shard `shard`) and publishes the deletion. Returns
/// redis's size of what was freed, or None if the key is gone.
fn evict_key(server: &Server, st: &Settings, shard: usize, db: usize, key: &Bytes) -> Option<u64> {
    let locked = server.keyspace.lock_shard(shard);
    let mut view = Db::new(locked, db, crate::util::now_ms(), ExpireMode::Delete);
    let value = view.remove_in(db, key);
    let size = value
        .as_ref()
        .map(|v| crate::commands::admin::memory::entry_size(key, v, st.list_fill) as u64);
    if value.is_some() {
        let cmd: &'static [u8] = if st.lazy { b"UNLINK" } else { b"DEL" };
        view.propagate(vec![Bytes::from_static(cmd), key.clone()]);
    }
    if !view.effects.is_empty() {
        let touched: Vec<(usize, Bytes)> = view
            .effects
            .iter()
            .filter_map(|e| e.argv.get(1).map(|k| (e.db, k.clone())))
            .collect();
        server.watches.touch(&touched, |_, _| false);
        server
            .tracking
            .keys_deleted(server, touched.into_iter().map(|(_, k)| k));
        server.replication_feed(&view.effects);
    }
    super::stats::Stats::add(&server.stats.expired_keys, view.stats.expired);
    drop(view);
    drop(value);
    if size.is_some() {
        server.stats.evicted_keys.fetch_add(1, Ordering::Relaxed);
        super::notify::notify(server, crate::config::notify::EVICTED, "evicted", key, db);
    }
    size
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_order_candidates() {
        let now = 1_000_000_000;
        let a = crate::keyspace::Access::default();
        // LRU: the longer idle, the better.
        assert!(
            score(MaxmemoryPolicy::AllkeysLru, &a, 10, 0, now)
                > score(MaxmemoryPolicy::AllkeysLru, &a, 900_000, 0, now)
        );
        // TTL: the sooner it expires, the better.
        assert!(
            score(MaxmemoryPolicy::VolatileTtl, &a, 0, 5, now)
                > score(MaxmemoryPolicy::VolatileTtl, &a, 0, 50, now)
        );
    }
}
