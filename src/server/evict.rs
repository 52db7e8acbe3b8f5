//! `maxmemory`: key eviction by `maxmemory-policy` (redis `evict.c`), run by the dispatcher
//! before every command; one that may grow memory (DENYOOM, EXEC of such, or anything queued
//! in MULTI) is refused when memory stays over the limit.
//!
//! Used memory is what the process has allocated at this instant, summed from every thread's
//! jemalloc counters (see [`used_memory`]), minus the replication backlog (redis
//! `freeMemoryGetNotCountedMemory`) and minus output queued for other connections that they
//! have not written yet (Redis writes it before its next command). An eviction loop stops once redis's sizes of the evicted keys (`MEMORY USAGE`) cover the part
//! of the excess that loops running on other threads do not cover already, and the frees
//! show in the next command's figure. Candidates are sampled as redis does: `maxmemory-samples`
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
/// How often the live figure is reconciled with jemalloc's totals (its stats refresh merges
/// every arena: tens of microseconds, too slow for every command; between reconciliations
/// only threads that never registered go unseen).
const RECONCILE_EVERY_US: i64 = 100_000;
static RECONCILED_AT_US: AtomicI64 = AtomicI64::new(0);

/// Used memory as Redis's counter shows it at this instant ([`memory::live_allocated`]: every
/// thread's allocation counters, so a buffer freed on another thread counts as freed at once,
/// as in Redis, where nothing runs beside the command).
///
/// [`memory::live_allocated`]: super::memory::live_allocated
fn used_memory() -> u64 {
    let now = crate::util::now_us();
    let at = RECONCILED_AT_US.load(Ordering::Acquire);
    if now - at >= RECONCILE_EVERY_US
        && RECONCILED_AT_US
            .compare_exchange(at, now, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    {
        super::memory::reconcile_live();
    }
    super::memory::live_allocated()
}

/// Memory counted against `maxmemory` (redis `getMaxmemoryState`): not the replication
/// buffer, not output queued for connections that have not taken it yet, not the buffers
/// of evicted clients that their tasks are freeing (Redis freed them before this ran), and
/// not the old copy of an output buffer being moved (see [`super::output::moving`]).
fn counted_memory(server: &Server) -> u64 {
    used_memory()
        .saturating_sub(server.repl.stream.memory())
        .saturating_sub(super::client::in_transit() as u64)
        .saturating_sub(server.client_mem.releasing() as u64)
        .saturating_sub(super::output::moving() as u64)
}

/// Bytes that eviction loops running now set out to free (see [`Pledge`]).
static PLEDGED: AtomicU64 = AtomicU64::new(0);

/// What one eviction loop set out to free. Loops on other threads count it as already freed,
/// so two commands that find memory over the limit at once evict its excess once between
/// them, not once each (Redis runs one command at a time). Withdrawn when the loop ends,
/// after its thread reported what it freed.
struct Pledge(u64);

impl Pledge {
    /// The part of `excess` that no running loop covers yet, pledged; None if all of it is.
    fn take(excess: u64) -> Option<Pledge> {
        let mut cur = PLEDGED.load(Ordering::Acquire);
        loop {
            if excess <= cur {
                return None;
            }
            let mine = excess - cur;
            match PLEDGED.compare_exchange_weak(
                cur,
                cur + mine,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(Pledge(mine)),
                Err(now) => cur = now,
            }
        }
    }
}

impl Drop for Pledge {
    fn drop(&mut self) {
        PLEDGED.fetch_sub(self.0, Ordering::AcqRel);
    }
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
    /// [`CONFIG_GEN`] when these were read.
    gen: u64,
}

impl Settings {
    fn stale(&self) -> bool {
        CONFIG_GEN.load(Ordering::Acquire) != self.gen
    }
}

/// Bumped by every CONFIG SET (see [`config_changed`]).
static CONFIG_GEN: AtomicU64 = AtomicU64::new(0);

/// A CONFIG SET happened: an eviction loop running on the settings it read before stops
/// before its next key (another thread's loop could otherwise evict, under the old policy, a
/// key written after the change: in Redis nothing runs beside a command).
pub fn config_changed() {
    CONFIG_GEN.fetch_add(1, Ordering::AcqRel);
}

fn settings(server: &Server) -> Option<Settings> {
    // Read before the config, so that a change made meanwhile shows as a newer generation.
    let gen = CONFIG_GEN.load(Ordering::Acquire);
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
        gen,
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
    // What loops running on other threads will free is as good as freed.
    let Some(pledge) = Pledge::take(used - st.maxmemory) else {
        return true;
    };
    let to_free = pledge.0;
    let mut freed = 0u64;
    let mut attempts = 0usize;
    while freed < to_free {
        attempts += 1;
        if attempts > MAX_KEYS_PER_CALL {
            return true;
        }
        let Some((shard, db, key)) = pick(server, &st) else {
            // No key left to evict: what the evictions freed (a table's room goes with its
            // last keys, more than their sizes say) may be enough after all.
            return counted_memory(server) <= st.maxmemory;
        };
        match evict_key(server, &st, shard, db, &key) {
            Some(size) => freed += size,
            // The settings changed: the next command evicts under the new ones.
            None if st.stale() => return true,
            None => {}
        }
    }
    true
}

/// A candidate: (score, shard, db, key); higher scores are evicted first.
type Candidate = (u64, usize, usize, Bytes);

/// How long the list of databases that have keys is reused by [`pick`].
const OCCUPIED_EVERY_MS: i64 = 100;

/// Databases 0..64 that had keys (bit `db`) and keys with an expiry time at the last count,
/// and when that was: [`pick`] skips the others without visiting the shards of each (Redis
/// skips an empty database by its dict's size; a shard count here needs every shard's lock).
static OCCUPIED_AT_MS: AtomicI64 = AtomicI64::new(0);
static OCCUPIED: AtomicU64 = AtomicU64::new(u64::MAX);
static OCCUPIED_VOLATILE: AtomicU64 = AtomicU64::new(u64::MAX);

/// Recounts which databases have keys (one lock of each shard).
fn count_occupied(server: &Server, now_ms: i64) {
    let (mut keys, mut volatile) = (0u64, 0u64);
    for (db, (n, v)) in server.keyspace.db_counts().into_iter().enumerate().take(64) {
        keys |= u64::from(n > 0) << db;
        volatile |= u64::from(v > 0) << db;
    }
    OCCUPIED.store(keys, Ordering::Relaxed);
    OCCUPIED_VOLATILE.store(volatile, Ordering::Relaxed);
    OCCUPIED_AT_MS.store(now_ms, Ordering::Relaxed);
}

/// Chooses the next key to evict under the policy, or None if there is none. The databases
/// sampled are those that had keys at the last count; when none of them has a key left, the
/// count is renewed and the sampling repeated once (a database filled since is not missed).
fn pick(server: &Server, st: &Settings) -> Option<(usize, usize, Bytes)> {
    let now_ms = crate::util::now_ms();
    if now_ms.saturating_sub(OCCUPIED_AT_MS.load(Ordering::Relaxed)) >= OCCUPIED_EVERY_MS {
        count_occupied(server, now_ms);
    }
    pick_among(server, st, now_ms).or_else(|| {
        count_occupied(server, now_ms);
        pick_among(server, st, now_ms)
    })
}

fn pick_among(server: &Server, st: &Settings, now_ms: i64) -> Option<(usize, usize, Bytes)> {
    let volatile = st.policy.is_volatile();
    let random = matches!(
        st.policy,
        MaxmemoryPolicy::AllkeysRandom | MaxmemoryPolicy::VolatileRandom
    );
    let occupied = if volatile {
        OCCUPIED_VOLATILE.load(Ordering::Relaxed)
    } else {
        OCCUPIED.load(Ordering::Relaxed)
    };
    let ndbs = server.keyspace.databases();
    let mut rng = rand::rng();
    let mut pool: Vec<Candidate> = Vec::with_capacity(POOL_SIZE + 1);
    for db in 0..ndbs {
        if db < 64 && occupied & (1 << db) == 0 {
            continue;
        }
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
    // Checked under the shard's lock: a key written after a CONFIG SET can only have been
    // picked after it, and is then never evicted under the settings from before.
    if st.stale() {
        return None;
    }
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
