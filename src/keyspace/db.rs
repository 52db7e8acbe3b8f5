//! `Db`: a command's view of the keyspace through the shards it locked, positioned on the
//! client's selected database. Applies lazy expiry and records the command's effects (the
//! commands to propagate) in the order they happened.

use bytes::Bytes;

use std::sync::Arc;

use super::access::Access;
use super::value::{Entry, Value};
use super::{Capture, Compact, EncodingLimits, Locked, Table};

/// What to do with a key whose expiry time has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpireMode {
    /// A master deletes it and propagates `DEL`.
    Delete,
    /// A replica answers as if it were missing but keeps it until its master deletes it.
    Hide,
    /// Commands applied from the master see every key as present.
    Ignore,
}

/// One write to propagate (and count as a change): argv in database `db`, to the AOF and/or
/// the replicas (`target`, redis `PROPAGATE_AOF` / `PROPAGATE_REPL`).
#[derive(Debug, Clone, PartialEq)]
pub struct Effect {
    pub db: usize,
    pub argv: Vec<Bytes>,
    pub target: u8,
    /// The deletion of an expired key (no client's doing, for CLIENT TRACKING's NOLOOP).
    pub expired: bool,
    /// Whether the keys of `argv` count as modified (WATCH, tracking, blocked clients). False
    /// when the command's real changes were recorded with `Db::touch` instead.
    pub touches: bool,
}

impl Effect {
    pub const AOF: u8 = 1;
    pub const REPLICAS: u8 = 2;
    pub const ALL: u8 = 3;

    /// An effect for both the AOF and the replicas.
    pub fn new(db: usize, argv: Vec<Bytes>) -> Effect {
        Effect {
            db,
            argv,
            target: Effect::ALL,
            expired: false,
            touches: true,
        }
    }
}

/// Counters a command's lookups produce; folded into server stats by the dispatcher.
#[derive(Debug, Default, Clone, Copy)]
pub struct LookupStats {
    pub hits: u64,
    pub misses: u64,
    pub expired: u64,
}

pub struct Db<'a> {
    pub locked: Locked<'a>,
    /// The selected database.
    pub index: usize,
    pub now_ms: i64,
    pub expire_mode: ExpireMode,
    pub effects: Vec<Effect>,
    pub stats: LookupStats,
    /// Keys modified (for WATCH and keyspace notifications): (db, key).
    pub touched: Vec<(usize, Bytes)>,
    /// Whole databases modified (FLUSHDB, SWAPDB): WATCHers of any key there are dirtied.
    pub touched_dbs: Vec<usize>,
    /// How many of `effects` and `touched` CLIENT TRACKING has seen (it sees each command's
    /// changes when the command ends, inside a transaction or a script too).
    pub tracked: (usize, usize),
    /// How access clocks are kept (LRU seconds or LFU counters), read once per command.
    pub access: Access,
    /// Record the keys this command creates in `created` (only while `new` keyspace events
    /// are enabled: it costs a copy of each new key).
    pub record_new: bool,
    /// Keys created (db, key), for the `new` keyspace event.
    pub created: Vec<(usize, Bytes)>,
    /// Keyspace events a command reports itself (db, class, event, key), for the commands
    /// whose events depend on what they did (streams); published after the command.
    pub events: Vec<(usize, u32, &'static str, Bytes)>,
    /// Epoch stamped on entries this command creates.
    epoch: u32,
    /// The snapshot being taken, if any: old contents are captured before they change.
    capture: Option<Arc<Capture>>,
}

impl<'a> Db<'a> {
    pub fn new(locked: Locked<'a>, index: usize, now_ms: i64, expire_mode: ExpireMode) -> Db<'a> {
        let (epoch, capture) = locked.ks.capture_state();
        let access = locked.ks.access.load();
        Db {
            epoch,
            capture,
            locked,
            index,
            now_ms,
            expire_mode,
            effects: Vec::new(),
            stats: LookupStats::default(),
            touched: Vec::new(),
            touched_dbs: Vec::new(),
            tracked: (0, 0),
            access,
            record_new: false,
            created: Vec::new(),
            events: Vec::new(),
        }
    }

    pub fn databases(&self) -> usize {
        self.locked.ks.databases()
    }

    pub fn limits(&self) -> EncodingLimits {
        self.locked.ks.limits.load()
    }

    fn table(&mut self, db: usize, key: &[u8]) -> &mut Table {
        &mut self.locked.shard_mut(key).tables[db]
    }

    /// Table `db` of the shard at `pos` (from `Locked::position`).
    fn table_at(&mut self, pos: usize, db: usize) -> &mut Table {
        &mut self.locked.guards[pos].1.tables[db]
    }

    /// Whether `key` (its shard at `pos`) has an expiry time that has passed: the cheap test
    /// before `expire_if_needed`, which is true only when this is.
    fn expired_at(&mut self, pos: usize, db: usize, key: &[u8]) -> bool {
        let now = self.now_ms;
        self.table_at(pos, db).expired(key, now)
    }

    /// Before `key` of database `db` changes or is deleted: if a snapshot is being taken and
    /// has not saved this entry yet, save its current contents now.
    fn capture_key(&mut self, db: usize, key: &[u8]) {
        let Some(cap) = self.capture.clone() else {
            return;
        };
        let t = self.table(db, key);
        let Some(i) = t.get_index_of(key) else {
            return;
        };
        capture_index(&cap, db, t, i);
    }

    /// Before a `swap_remove` in the table of `key`: the last entry moves into the hole, possibly
    /// behind the snapshot walk's cursor, so it is saved first.
    fn capture_last(&mut self, db: usize, key: &[u8]) {
        let Some(cap) = self.capture.clone() else {
            return;
        };
        let t = self.table(db, key);
        if let Some(i) = t.len().checked_sub(1) {
            capture_index(&cap, db, t, i);
        }
    }

    /// Stops the snapshot being taken, if any (FLUSHALL kills Redis's BGSAVE child): its walk
    /// gives up, and nothing more is captured for it.
    pub fn abort_snapshot(&mut self) {
        if let Some(cap) = self.capture.take() {
            cap.aborted
                .store(true, std::sync::atomic::Ordering::Release);
        }
    }

    /// Before a whole database is emptied or swapped: save every entry not saved yet.
    fn capture_db(&mut self, db: usize) {
        let Some(cap) = self.capture.clone() else {
            return;
        };
        for shard in self.locked.shards_mut() {
            let t = &mut shard.tables[db];
            for i in 0..t.len() {
                capture_index(&cap, db, t, i);
            }
        }
    }

    /// Records an effect to propagate (argv as given) in the current database.
    pub fn propagate(&mut self, argv: Vec<Bytes>) {
        self.propagate_to(argv, Effect::ALL);
    }

    /// `propagate` to the AOF or the replicas only (`Effect::AOF`, `Effect::REPLICAS`).
    pub fn propagate_to(&mut self, argv: Vec<Bytes>, target: u8) {
        self.effects.push(Effect {
            db: self.index,
            argv,
            target,
            expired: false,
            touches: true,
        });
    }

    /// `propagate` of a command whose keys did not all change: the caller `touch`es the ones
    /// that did (SMOVE to a set that already holds the member modifies only its source).
    pub fn propagate_untouched(&mut self, argv: Vec<Bytes>) {
        self.effects.push(Effect {
            touches: false,
            ..Effect::new(self.index, argv)
        });
    }

    /// Records keyspace event `event` of class `class` about `key` of the current database.
    pub fn event(&mut self, class: u32, event: &'static str, key: &[u8]) {
        self.events
            .push((self.index, class, event, Bytes::copy_from_slice(key)));
    }

    /// Marks `key` of the current database as modified (WATCH).
    pub fn touch(&mut self, key: &[u8]) {
        self.touched.push((self.index, Bytes::copy_from_slice(key)));
    }

    /// Expiry check of one key of database `db`: removes it (master) and records `DEL`.
    /// Returns true if the key must be treated as missing.
    fn expire_if_needed(&mut self, db: usize, key: &[u8]) -> bool {
        let now = self.now_ms;
        let mode = self.expire_mode;
        let t = self.table(db, key);
        if t.volatile_len() == 0 {
            return false;
        }
        let Some(when) = t.expire_at(key) else {
            return false;
        };
        if when > now {
            return false;
        }
        match mode {
            ExpireMode::Ignore => false,
            ExpireMode::Hide => true,
            ExpireMode::Delete => {
                self.capture_key(db, key);
                self.capture_last(db, key);
                self.table(db, key).remove(key);
                self.stats.expired += 1;
                let k = Bytes::copy_from_slice(key);
                self.effects.push(Effect {
                    expired: true,
                    ..Effect::new(db, vec![Bytes::from_static(b"DEL"), k.clone()])
                });
                self.touched.push((db, k));
                true
            }
        }
    }

    /// Read lookup in database `db` (counts keyspace hits and misses, refreshes the LRU clock).
    pub fn get_in(&mut self, db: usize, key: &[u8]) -> Option<&Value> {
        let pos = self.locked.position(key);
        if self.expired_at(pos, db, key) && self.expire_if_needed(db, key) {
            self.stats.misses += 1;
            return None;
        }
        let (access, now) = (self.access, self.now_ms);
        let stats = &mut self.stats;
        match self.locked.guards[pos].1.tables[db].get_mut(key) {
            Some(e) => {
                e.lru = access.touched(e.lru, now);
                stats.hits += 1;
                Some(&e.value)
            }
            None => {
                stats.misses += 1;
                None
            }
        }
    }

    /// Read lookup in the selected database.
    pub fn get(&mut self, key: &[u8]) -> Option<&Value> {
        self.get_in(self.index, key)
    }

    /// Write lookup in database `db`: no hit/miss counting.
    pub fn get_mut_in(&mut self, db: usize, key: &[u8]) -> Option<&mut Value> {
        let pos = self.locked.position(key);
        if self.expired_at(pos, db, key) && self.expire_if_needed(db, key) {
            return None;
        }
        let (access, now) = (self.access, self.now_ms);
        let t = &mut self.locked.guards[pos].1.tables[db];
        let i = t.get_index_of(key)?;
        if let Some(cap) = &self.capture {
            capture_index(cap, db, t, i);
        }
        let e = t.at_mut(i);
        e.lru = access.touched(e.lru, now);
        Some(&mut e.value)
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Value> {
        self.get_mut_in(self.index, key)
    }

    /// Existence check (lazy expiry applies, no stats).
    pub fn exists_in(&mut self, db: usize, key: &[u8]) -> bool {
        let pos = self.locked.position(key);
        if self.expired_at(pos, db, key) && self.expire_if_needed(db, key) {
            return false;
        }
        self.table_at(pos, db).contains_key(key)
    }

    pub fn exists(&mut self, key: &[u8]) -> bool {
        self.exists_in(self.index, key)
    }

    /// The expiry check of a write that does not care whether `key` exists (plain SET): an
    /// expired key is deleted and its DEL recorded first, as Redis's lookupKeyWrite does,
    /// without a lookup in the main table.
    pub fn expire_before_write(&mut self, key: &[u8]) {
        self.expire_if_needed(self.index, key);
    }

    /// Stores `value` under `key` in database `db`, dropping any expiry unless `keep_ttl`.
    pub fn set_in(&mut self, db: usize, key: &[u8], value: Value, keep_ttl: bool) {
        self.capture_key(db, key);
        let epoch = self.epoch;
        let (access, clock) = (self.access, self.access.fresh(self.now_ms));
        let t = self.table(db, key);
        // One hash and probe for both outcomes.
        let created = match t.find_or_insert(key, Entry::new(value, clock, epoch)) {
            (i, Some(new)) => {
                let e = t.at_mut(i);
                e.value = new.value;
                // Redis `dbSetValue`: an overwritten key keeps its LFU counter.
                if !access.lfu {
                    e.lru = clock;
                }
                if !keep_ttl {
                    t.set_expire_index(i, None);
                }
                false
            }
            (_, None) => true,
        };
        if created && self.record_new {
            self.created.push((db, Bytes::copy_from_slice(key)));
        }
    }

    pub fn set(&mut self, key: &[u8], value: Value) {
        self.set_in(self.index, key, value, false);
    }

    pub fn set_keep_ttl(&mut self, key: &[u8], value: Value) {
        self.set_in(self.index, key, value, true);
    }

    /// Returns the value under `key`, creating it with `make` if missing (or expired).
    pub fn get_or_insert_with(&mut self, key: &[u8], make: impl FnOnce() -> Value) -> &mut Value {
        let db = self.index;
        let pos = self.locked.position(key);
        let gone = self.expired_at(pos, db, key) && self.expire_if_needed(db, key);
        let clock = self.access.fresh(self.now_ms);
        let epoch = self.epoch;
        let t = &mut self.locked.guards[pos].1.tables[db];
        let found = if gone { None } else { t.get_index_of(key) };
        let i = match found {
            Some(i) => {
                if let Some(cap) = &self.capture {
                    capture_index(cap, db, t, i);
                }
                i
            }
            None => {
                if self.record_new {
                    self.created.push((db, Bytes::copy_from_slice(key)));
                }
                t.insert(Compact::new(key), Entry::new(make(), clock, epoch), None)
            }
        };
        &mut t.at_mut(i).value
    }

    /// Removes `key` from database `db` with its expiry; returns the value if it existed.
    pub fn remove_in(&mut self, db: usize, key: &[u8]) -> Option<Value> {
        if self.expire_if_needed(db, key) {
            return None;
        }
        self.capture_key(db, key);
        self.capture_last(db, key);
        self.table(db, key).remove(key).map(|e| e.value)
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Value> {
        self.remove_in(self.index, key)
    }

    /// Deletes `key` if it holds an empty collection (after a pop or remove). Returns true if deleted.
    pub fn remove_if_empty(&mut self, key: &[u8]) -> bool {
        let db = self.index;
        self.capture_key(db, key);
        if self
            .table(db, key)
            .get(key)
            .is_some_and(|e| e.value.is_empty_collection())
        {
            self.capture_last(db, key);
        }
        let t = self.table(db, key);
        if t.get(key).is_some_and(|e| e.value.is_empty_collection()) {
            t.remove(key);
            true
        } else {
            false
        }
    }

    /// Absolute expiry time (ms) of `key` in database `db`, if it has one and exists.
    pub fn expire_at_in(&mut self, db: usize, key: &[u8]) -> Option<i64> {
        if !self.exists_in(db, key) {
            return None;
        }
        self.table(db, key).expire_at(key)
    }

    pub fn expire_at(&mut self, key: &[u8]) -> Option<i64> {
        self.expire_at_in(self.index, key)
    }

    /// Sets the absolute expiry of an existing key in database `db`.
    pub fn set_expire_in(&mut self, db: usize, key: &[u8], at_ms: i64) {
        self.capture_key(db, key);
        self.table(db, key).set_expire(key, Some(at_ms));
    }

    pub fn set_expire(&mut self, key: &[u8], at_ms: i64) {
        self.set_expire_in(self.index, key, at_ms);
    }

    /// Removes the expiry of `key`; true if it had one.
    pub fn persist(&mut self, key: &[u8]) -> bool {
        let db = self.index;
        if !self.exists_in(db, key) {
            return false;
        }
        self.capture_key(db, key);
        self.table(db, key).set_expire(key, None).is_some()
    }

    /// The LRU/LFU clock of an entry (OBJECT IDLETIME / FREQ), without refreshing it.
    pub fn entry_clock(&mut self, key: &[u8]) -> Option<u32> {
        let db = self.index;
        if self.expire_if_needed(db, key) {
            return None;
        }
        self.table(db, key).get(key).map(|e| e.lru)
    }

    /// Sets the LRU/LFU clock of an existing key (RESTORE IDLETIME / FREQ).
    pub fn set_entry_clock(&mut self, key: &[u8], lru: u32) {
        let db = self.index;
        if let Some(e) = self.table(db, key).get_mut(key) {
            e.lru = lru;
        }
    }

    /// Number of keys in database `db` among the locked shards (all shards for DBSIZE).
    pub fn len_in(&mut self, db: usize) -> usize {
        self.locked.shards_mut().map(|s| s.tables[db].len()).sum()
    }

    /// Calls `f` for every live key of database `db` in the locked shards (KEYS, SCAN).
    /// Expired keys are skipped (and deleted on a master, as KEYS does in Redis).
    pub fn for_each_key(&mut self, db: usize, mut f: impl FnMut(&[u8], &Value)) {
        let now = self.now_ms;
        let mut expired = Vec::new();
        for shard in self.locked.shards_mut() {
            let t = &shard.tables[db];
            for (k, e, when) in t.iter_full() {
                if when.is_some_and(|w| w <= now) {
                    expired.push(k.clone());
                    continue;
                }
                f(k, &e.value);
            }
        }
        for k in expired {
            self.expire_if_needed(db, &k);
        }
    }

    /// Empties database `db` in the locked shards (all shards for FLUSHDB); returns its old
    /// tables, for the caller to free (here, or in the background for FLUSHDB ASYNC).
    #[must_use = "the old tables should be freed as the caller decides"]
    pub fn clear_db(&mut self, db: usize) -> Vec<Table> {
        self.capture_db(db);
        let old = self
            .locked
            .shards_mut()
            .map(|shard| std::mem::take(&mut shard.tables[db]))
            .collect();
        self.touched_dbs.push(db);
        old
    }

    /// Swaps two databases in every locked shard (SWAPDB locks all shards).
    pub fn swap_dbs(&mut self, a: usize, b: usize) {
        self.capture_db(a);
        self.capture_db(b);
        for shard in self.locked.shards_mut() {
            shard.tables.swap(a, b);
        }
        self.touched_dbs.push(a);
        self.touched_dbs.push(b);
    }

    /// A uniformly chosen shard, then a uniformly chosen key of it (RANDOMKEY); expired keys
    /// found are deleted and the draw retried a bounded number of times.
    pub fn random_key(&mut self, db: usize) -> Option<Bytes> {
        use rand::Rng;
        let mut rng = rand::rng();
        for _ in 0..100 {
            let sizes: Vec<usize> = self
                .locked
                .shards_mut()
                .map(|s| s.tables[db].len())
                .collect();
            let total: usize = sizes.iter().sum();
            if total == 0 {
                return None;
            }
            let mut pick = rng.random_range(0..total);
            let mut chosen = None;
            for (i, shard) in self.locked.shards_mut().enumerate() {
                if pick < sizes[i] {
                    chosen = shard.tables[db]
                        .get_index(pick)
                        .map(|(k, _)| Bytes::copy_from_slice(k));
                    break;
                }
                pick -= sizes[i];
            }
            let key = chosen?;
            if self.exists_in(db, &key) {
                return Some(key);
            }
        }
        None
    }
}

impl Db<'_> {
    /// Read lookup in database `db` that counts keyspace hits and misses but leaves the access
    /// clock alone (redis `LOOKUP_NOTOUCH`: EXISTS, TYPE, TTL, OBJECT).
    pub fn get_no_touch_in(&mut self, db: usize, key: &[u8]) -> Option<&Value> {
        if self.expire_if_needed(db, key) {
            self.stats.misses += 1;
            return None;
        }
        let stats = &mut self.stats;
        match self.locked.shard_mut(key).tables[db].get(key) {
            Some(e) => {
                stats.hits += 1;
                Some(&e.value)
            }
            None => {
                stats.misses += 1;
                None
            }
        }
    }

    /// `get_no_touch_in` on the selected database.
    pub fn get_no_touch(&mut self, key: &[u8]) -> Option<&Value> {
        self.get_no_touch_in(self.index, key)
    }
}

/// Removes `key` from `t` (database `db`) outside a `Db` (active expiry). A snapshot in progress
/// (`cap`) first saves the entry and the last one, which `swap_remove` moves into its place,
/// possibly behind the walk's cursor.
pub fn remove_captured(
    cap: Option<&Capture>,
    db: usize,
    t: &mut Table,
    key: &[u8],
) -> Option<Entry> {
    if let Some(cap) = cap {
        if let Some(i) = t.get_index_of(key) {
            capture_index(cap, db, t, i);
            capture_index(cap, db, t, t.len() - 1);
        }
    }
    t.remove(key)
}

/// Saves entry `i` of `t` (database `db`) into the capture if the snapshot has not saved it.
pub fn capture_index(cap: &Capture, db: usize, t: &mut Table, i: usize) {
    let Some((k, e, expire)) = t.get_index_full(i) else {
        return;
    };
    if e.ver >= cap.epoch {
        return;
    }
    e.ver = cap.epoch;
    let mut pending = cap.pending.lock();
    if let Some(buf) = pending.get_mut(db) {
        (cap.encode)(buf, k, &e.value, expire);
        cap.captured
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Db<'_> {
    /// The value under `key` of database `db` with no lookup side effects (no expiry, no stats,
    /// no access clock), through a shared borrow: for a command that already looked each of its
    /// keys up (expiry, stats, type check) and then needs several values at once (SINTER,
    /// SUNION, SDIFF ...). None if the key is missing or its shard is not locked.
    pub fn peek_in(&self, db: usize, key: &[u8]) -> Option<&Value> {
        self.peek_table(db, key)?.get(key).map(|e| &e.value)
    }

    /// Whether `key` of database `db` is in its table but past its expiry time (redis
    /// `keyIsExpired`), without side effects.
    pub fn peek_expired_in(&self, db: usize, key: &[u8]) -> bool {
        self.peek_table(db, key)
            .is_some_and(|t| t.expired(key, self.now_ms))
    }

    fn peek_table(&self, db: usize, key: &[u8]) -> Option<&Table> {
        let i = self.locked.ks.shard_of(key);
        let pos = self
            .locked
            .guards
            .binary_search_by_key(&i, |(j, _)| *j)
            .ok()?;
        self.locked.guards[pos].1.tables.get(db)
    }
}

/// What a whole-database change can ask about a key (WATCH bookkeeping around FLUSHDB and
/// SWAPDB): is it in the table, and is it there but logically expired.
pub trait KeyProbe {
    fn exists(&self, db: usize, key: &[u8]) -> bool;
    fn is_expired(&self, db: usize, key: &[u8]) -> bool;
}

impl KeyProbe for Db<'_> {
    fn exists(&self, db: usize, key: &[u8]) -> bool {
        self.peek_in(db, key).is_some()
    }

    fn is_expired(&self, db: usize, key: &[u8]) -> bool {
        self.peek_expired_in(db, key)
    }
}
