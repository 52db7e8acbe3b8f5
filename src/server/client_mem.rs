//! Client eviction (redis `maxmemory-clients`): when the memory of all normal and pub/sub
//! clients together reaches the limit, the biggest clients are closed until it is under again.
//!
//! Each client's memory is what CLIENT LIST shows as `tot-mem` (query buffer, pending output,
//! the client's fixed part) plus what only its own task knows (queued MULTI commands, WATCHed
//! keys, subscriptions, tracking prefixes), measured when it changes: after a read, after a
//! command, when output is pushed to it. The sum is kept incrementally, as Redis keeps
//! `stat_clients_type_memory`, and checked before each command and after each batch (redis
//! `evictClients` in `processCommand` and `beforeSleep`). The master link, replicas and
//! clients with CLIENT NO-EVICT are counted in the sum (the latter two as Redis does for
//! normal clients) but never evicted.
//!
//! Nothing of this runs while `maxmemory-clients` is 0: each path first reads one atomic.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::client::{Client, ClientShared, Push};
use super::Server;

/// Redis's smallest effective limit: below it nobody could talk to the server at all.
const MIN_LIMIT: usize = 128 * 1024;
/// redis `sizeof(listNode) + sizeof(watchedKey)` per WATCHed key.
const WATCHED_KEY: usize = 24 + 32;
/// redis `sizeof(multiCmd)` per queued command.
const MULTI_CMD: usize = 24;
/// redis `sizeof(dictEntry)`, `sizeof(dictEntry*)` and `sizeof(listNode)`.
const DICT_ENTRY: usize = 24;
const DICT_SLOT: usize = 8;
const LIST_NODE: usize = 24;
/// redis `sizeof(raxNode) * sizeof(raxNode*)` per tracking prefix (Redis counts rax nodes).
const PREFIX_NODE: usize = 4 * 8;

/// The clients' memory sum and the eviction limit.
#[derive(Debug, Default)]
pub struct ClientMemory {
    /// The limit in bytes; 0 = no client eviction.
    limit: AtomicUsize,
    /// The last measured memory of every normal and pub/sub client.
    total: AtomicUsize,
    /// Clients evicted (INFO `evicted_clients`).
    pub evicted: AtomicU64,
    /// The memory of evicted clients whose tasks have not freed their buffers yet.
    releasing: AtomicUsize,
    /// One eviction pass at a time.
    evicting: Mutex<()>,
}

impl ClientMemory {
    /// Takes `maxmemory-clients` (bytes, or `N%` of `maxmemory`) from the config.
    pub fn configure(&self, setting: Option<&str>, maxmemory: u64) {
        let limit = match setting.map(str::trim) {
            Some(p) if p.ends_with('%') => {
                let pct: f64 = p.trim_end_matches('%').parse().unwrap_or(0.0);
                if maxmemory == 0 {
                    0
                } else {
                    (maxmemory as f64 * pct / 100.0) as usize
                }
            }
            Some(b) => b.parse().unwrap_or(0),
            None => 0,
        };
        let limit = if limit == 0 { 0 } else { limit.max(MIN_LIMIT) };
        self.limit.store(limit, Ordering::Relaxed);
    }

    pub fn enabled(&self) -> bool {
        self.limit.load(Ordering::Relaxed) != 0
    }

    /// Measures `c` again and adjusts the sum. `own` is the part only its task knows (see
    /// [`own_memory`]), None to keep the last one.
    pub fn update(&self, c: &ClientShared, own: Option<usize>) {
        self.update_building(c, own, 0);
    }

    /// [`update`](Self::update) of a client whose task holds `building` more bytes of replies
    /// than it counted as pending yet (a batch still running: Redis counts each command's
    /// output growth before the next command runs).
    fn update_building(&self, c: &ClientShared, own: Option<usize>, building: usize) {
        if let Some(own) = own {
            c.own_mem.store(own, Ordering::Relaxed);
        }
        if c.obuf.closing() || !counted(c) {
            self.forget(c);
            return;
        }
        let (mem, _, _) = crate::commands::admin::client::memory_usage_building(c, building);
        let old = c.mem.swap(mem, Ordering::Relaxed);
        if mem >= old {
            self.total.fetch_add(mem - old, Ordering::Relaxed);
        } else {
            self.total.fetch_sub(old - mem, Ordering::Relaxed);
        }
        // Closed meanwhile (its task forgot it already): not counted again.
        if c.obuf.closing() {
            self.forget(c);
        }
    }

    /// An evicted client's task freed its buffers (see [`ClientMemory::releasing`]).
    pub fn released(&self, c: &ClientShared) {
        let mem = c.evicted_mem.swap(0, Ordering::Relaxed);
        self.releasing.fetch_sub(mem, Ordering::Relaxed);
    }

    /// Memory of evicted clients that their tasks are about to free: Redis frees an evicted
    /// client at once (`freeClient`), so key eviction, which runs next, never counts it.
    pub fn releasing(&self) -> usize {
        self.releasing.load(Ordering::Relaxed)
    }

    /// Takes a closing client out of the sum.
    pub fn forget(&self, c: &ClientShared) {
        let old = c.mem.swap(0, Ordering::Relaxed);
        self.total.fetch_sub(old, Ordering::Relaxed);
    }

    /// Measures every client again (the limit changed, or the cron).
    pub fn update_all(&self, server: &Server) {
        if !self.enabled() {
            return;
        }
        let clients: Vec<Arc<ClientShared>> = server.clients.lock().values().cloned().collect();
        for c in &clients {
            self.update(c, None);
        }
    }

    /// Closes the biggest evictable clients while the sum is at or over the limit (redis
    /// `evictClients`).
    pub fn evict(&self, server: &Server) {
        let limit = self.limit.load(Ordering::Relaxed);
        if limit == 0 || self.total.load(Ordering::Relaxed) < limit {
            return;
        }
        let _one = self.evicting.lock();
        let mut candidates: Vec<(usize, Arc<ClientShared>)> = server
            .clients
            .lock()
            .values()
            .filter(|c| evictable(c))
            .map(|c| (c.mem.load(Ordering::Relaxed), c.clone()))
            .collect();
        candidates.sort_by_key(|(mem, _)| std::cmp::Reverse(*mem));
        let mut candidates = candidates.into_iter();
        while self.total.load(Ordering::Relaxed) >= limit {
            let Some((_, c)) = candidates.next() else {
                tracing::warn!("Over client maxmemory after evicting all evictable clients");
                return;
            };
            if !c.obuf.begin_close() {
                continue;
            }
            let line = crate::commands::admin::client::describe(&c);
            tracing::info!("Evicting client: {line}");
            // Unlinked now, as redis `freeClient` does: whoever lists the clients next (the
            // CLIENT LIST right after the CONFIG SET that lowered the limit) no longer finds
            // it, though its task closes the socket a moment later.
            server.clients.lock().remove(&c.id);
            let mem = c.mem.load(Ordering::Relaxed);
            c.evicted_mem.store(mem, Ordering::Relaxed);
            self.releasing.fetch_add(mem, Ordering::Relaxed);
            self.forget(&c);
            self.evicted.fetch_add(1, Ordering::Relaxed);
            c.send(Push::Kill);
        }
    }

    /// After output was queued or moved for `c` outside a command: measures it and evicts if
    /// need be. Returns whether the client is now to be closed.
    pub fn after_output(&self, server: &Server, c: &ClientShared) -> bool {
        if !self.enabled() {
            return false;
        }
        self.update(c, None);
        self.evict(server);
        c.obuf.closing()
    }

    /// After a command or a batch of `client`: measures it and evicts if need be. `building`:
    /// bytes of the batch's replies not counted as pending output yet. Returns whether the
    /// client itself is now to be closed.
    pub fn after_command(&self, server: &Server, client: &Client, building: usize) -> bool {
        if !self.enabled() {
            return false;
        }
        self.update_building(&client.shared, Some(own_memory(server, client)), building);
        self.evict(server);
        client.shared.obuf.closing()
    }
}

/// Counted in the sum: normal and pub/sub clients (redis `getClientType`), the master link
/// excepted.
fn counted(c: &ClientShared) -> bool {
    let replica = c.is_replica.load(Ordering::Relaxed) && !c.is_monitor.load(Ordering::Relaxed);
    !replica && !c.is_master.load(Ordering::Relaxed)
}

/// May be evicted (redis `clientEvictionAllowed`).
fn evictable(c: &ClientShared) -> bool {
    counted(c) && !c.no_evict.load(Ordering::Relaxed) && !c.obuf.closing()
}

/// The memory of a client that other tasks cannot see: its queued MULTI commands and WATCHed
/// keys (redis `multiStateMemOverhead`), its subscriptions (`pubsubMemOverhead`: the client's
/// own tables, not the channel names) and its tracking prefixes.
pub fn own_memory(server: &Server, client: &Client) -> usize {
    let mut mem = client.watched.len() * WATCHED_KEY;
    if let Some(m) = &client.multi {
        let args: usize = m
            .queued
            .iter()
            .map(|q| q.iter().map(|a| a.len()).sum::<usize>())
            .sum();
        mem += args + m.queued.capacity() * MULTI_CMD;
    }
    let dict = |n: usize| {
        if n == 0 {
            0
        } else {
            n * DICT_ENTRY + n.next_power_of_two().max(4) * DICT_SLOT
        }
    };
    mem += client.psubs.len() * LIST_NODE + dict(client.subs.len()) + dict(client.ssubs.len());
    mem + server.tracking.prefix_count(client.id()) * PREFIX_NODE
}
