//! The keyspace: `databases` logical databases split into shards by key hash.
//!
//! A shard holds the entries of its keys for every database, so one lock covers a key in all
//! databases (MOVE, COPY ... DB). Commands lock the shards of their keys in ascending order
//! (no deadlock), or all shards for whole-keyspace commands; no process-wide lock is taken on
//! the GET/SET path. Growth of a table only ever rehashes one shard.
//!
//! Knows data, not sockets: nothing here imports `server` or `commands`.

pub mod access;
pub mod compact;
pub mod db;
pub mod dense;
pub mod hash;
pub mod limits;
pub mod list;
pub mod packed;
mod segvec;
pub mod set;
pub mod stream;
pub mod table;
pub mod value;
pub mod varint;
pub mod zset;

use std::hash::BuildHasher;

use parking_lot::{Mutex, MutexGuard};
use smallvec::SmallVec;

pub use access::{Access, SharedAccess};
pub use compact::Compact;
pub use db::{Db, Effect, ExpireMode, KeyProbe};
pub use limits::{EncodingLimits, SharedLimits};
pub use table::Table;
pub use value::{Entry, Kind, Str, Value};

pub type Map<K, V> = indexmap::IndexMap<K, V, foldhash::fast::RandomState>;

/// Number of shards; a power of two. A table grows (rehashes) one shard's keys of one database
/// at a time while the command that grew it waits: with 256 shards, 5M keys in one database
/// make ~20k keys per table, a sub-millisecond rehash (64 shards made ~78k and worst SETs of
/// 11 ms beside Redis's 7.7 ms in `bench/compare.py --only growth`). Commands that lock every
/// shard (SCAN, KEYS, FLUSHALL) take 256 uncontended locks.
pub const SHARDS: usize = 256;

/// All databases' entries for the keys that hash to this shard.
#[derive(Debug)]
pub struct Shard {
    pub tables: Box<[Table]>,
}

/// An in-progress point-in-time snapshot, as writers see it (fork-less copy-on-write).
///
/// Starting a snapshot bumps the keyspace epoch while every shard is locked; entries stamped
/// with an older epoch belong to the snapshot and are not saved yet. Whoever touches such an
/// entry first stamps it: the snapshot walk writes it out, or a writer about to change, move or
/// delete it encodes its old contents into `pending` first. So the snapshot is exactly the
/// dataset at the start, and the extra memory is only what writers captured ahead of the walk.
pub struct Capture {
    pub epoch: u32,
    /// Encoded entries captured by writers, per database.
    pub pending: Mutex<Vec<Vec<u8>>>,
    /// Entries written into `pending` so far (the walk's `rdb-key-save-delay` counts them).
    pub captured: std::sync::atomic::AtomicU64,
    /// Encodes one entry (key, value, expiry) in the snapshot's format.
    pub encode: fn(&mut Vec<u8>, &[u8], &Value, Option<i64>),
    /// Set when the whole dataset was replaced under the snapshot (a full sync of ours): the
    /// instant it was fixing no longer exists, so the walk gives up (Redis kills its child).
    pub aborted: std::sync::atomic::AtomicBool,
    /// Set by the walk while a shard it needs stays held (a long script): the holder then
    /// captures that shard's entries itself (`persistence::snapshot::lend`).
    pub lend_wanted: std::sync::atomic::AtomicBool,
    /// Per shard, where the holder's captures got to, (database, index); None once every
    /// entry of the shard is captured or saved.
    pub lend: Mutex<Vec<Option<(usize, usize)>>>,
}

/// The whole dataset.
pub struct Keyspace {
    shards: Box<[Mutex<Shard>]>,
    ndbs: usize,
    router: foldhash::fast::FixedState,
    pub limits: SharedLimits,
    /// How entries' access clocks are kept (LRU or LFU).
    pub access: SharedAccess,
    epoch: std::sync::atomic::AtomicU32,
    capture_on: std::sync::atomic::AtomicBool,
    capture: parking_lot::RwLock<Option<std::sync::Arc<Capture>>>,
}

/// Shards locked for one command, in ascending index order.
pub struct Locked<'a> {
    pub(crate) guards: SmallVec<[(usize, MutexGuard<'a, Shard>); 2]>,
    pub(crate) ks: &'a Keyspace,
}

impl Keyspace {
    pub fn new(ndbs: usize) -> Keyspace {
        let ndbs = ndbs.max(1);
        let shards = (0..SHARDS)
            .map(|_| {
                Mutex::new(Shard {
                    tables: (0..ndbs).map(|_| Table::default()).collect(),
                })
            })
            .collect();
        Keyspace {
            shards,
            ndbs,
            router: foldhash::fast::FixedState::with_seed(rand::random()),
            limits: SharedLimits::default(),
            access: SharedAccess::default(),
            epoch: std::sync::atomic::AtomicU32::new(1),
            capture_on: std::sync::atomic::AtomicBool::new(false),
            capture: parking_lot::RwLock::new(None),
        }
    }

    pub fn databases(&self) -> usize {
        self.ndbs
    }

    pub fn shard_of(&self, key: &[u8]) -> usize {
        (self.router.hash_one(key) as usize) & (SHARDS - 1)
    }

    /// Locks the shards of `keys` in ascending order (each once).
    pub fn lock_keys<'a, I, K>(&'a self, keys: I) -> Locked<'a>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<[u8]>,
    {
        let mut idx: SmallVec<[usize; 4]> = keys
            .into_iter()
            .map(|k| self.shard_of(k.as_ref()))
            .collect();
        idx.sort_unstable();
        idx.dedup();
        Locked {
            guards: idx
                .into_iter()
                .map(|i| (i, self.shards[i].lock()))
                .collect(),
            ks: self,
        }
    }

    /// Locks the given shard indices in ascending order (each once).
    pub fn lock_shards(&self, idx: impl IntoIterator<Item = usize>) -> Locked<'_> {
        let mut idx: SmallVec<[usize; 4]> = idx.into_iter().collect();
        if let [i] = idx[..] {
            return self.lock_shard(i);
        }
        idx.sort_unstable();
        idx.dedup();
        Locked {
            guards: idx
                .into_iter()
                .map(|i| (i, self.shards[i & (SHARDS - 1)].lock()))
                .collect(),
            ks: self,
        }
    }

    /// Locks every shard, in order.
    pub fn lock_all(&self) -> Locked<'_> {
        Locked {
            guards: self
                .shards
                .iter()
                .enumerate()
                .map(|(i, m)| (i, m.lock()))
                .collect(),
            ks: self,
        }
    }

    /// Locks one shard by index (background tasks walk shards one at a time).
    pub fn lock_shard(&self, i: usize) -> Locked<'_> {
        let mut guards = SmallVec::new();
        guards.push((i, self.shards[i % SHARDS].lock()));
        Locked { guards, ks: self }
    }

    /// `lock_shard`, giving up after `wait`: None if another holder kept the shard.
    pub fn try_lock_shard_for(&self, i: usize, wait: std::time::Duration) -> Option<Locked<'_>> {
        let mut guards = SmallVec::new();
        guards.push((i, self.shards[i % SHARDS].try_lock_for(wait)?));
        Some(Locked { guards, ks: self })
    }

    /// The current epoch (stamped on new entries) and the active capture, if any.
    /// Read after the command's shards are locked, so it is consistent with `begin_capture`.
    pub fn capture_state(&self) -> (u32, Option<std::sync::Arc<Capture>>) {
        use std::sync::atomic::Ordering;
        let epoch = self.epoch.load(Ordering::Acquire);
        if self.capture_on.load(Ordering::Acquire) {
            (epoch, self.capture.read().clone())
        } else {
            (epoch, None)
        }
    }

    /// Starts capturing for a snapshot. Must be called with every shard locked (`all`), so the
    /// snapshot is one instant of the whole dataset. Returns the snapshot's epoch.
    pub fn begin_capture(
        &self,
        all: &Locked<'_>,
        encode: fn(&mut Vec<u8>, &[u8], &Value, Option<i64>),
    ) -> std::sync::Arc<Capture> {
        use std::sync::atomic::Ordering;
        debug_assert!(all.holds_all());
        let epoch = self.epoch.fetch_add(1, Ordering::AcqRel) + 1;
        let cap = std::sync::Arc::new(Capture {
            epoch,
            pending: Mutex::new(vec![Vec::new(); self.ndbs]),
            captured: std::sync::atomic::AtomicU64::new(0),
            encode,
            aborted: std::sync::atomic::AtomicBool::new(false),
            lend_wanted: std::sync::atomic::AtomicBool::new(false),
            lend: Mutex::new(vec![Some((0, 0)); SHARDS]),
        });
        *self.capture.write() = Some(cap.clone());
        self.capture_on.store(true, Ordering::Release);
        cap
    }

    /// Stops capturing (the snapshot walk is over, or was abandoned).
    pub fn end_capture(&self) {
        use std::sync::atomic::Ordering;
        self.capture_on.store(false, Ordering::Release);
        *self.capture.write() = None;
    }

    /// Replaces the whole dataset (a loaded RDB) in one step under every shard lock.
    /// `tables[shard][db]`, built with this keyspace's `shard_of`. Returns the replaced
    /// tables, for the caller to free outside the locks (see `util::drop_in_background`).
    #[must_use = "the old dataset should be freed off the client path"]
    pub fn install(&self, tables: Vec<Vec<Table>>) -> Vec<Box<[Table]>> {
        let prepared = self.stamp(tables);
        let mut all = self.lock_all();
        self.swap_in(&mut all, prepared)
    }

    /// `install` for a caller already holding every shard (`all`): DEBUG RELOAD, DEBUG
    /// LOADAOF. Unlike `install`, a running snapshot goes on with the dataset it fixed, as
    /// Redis's BGSAVE child keeps its copy: the entries it has not saved yet are captured
    /// into it first (the walk skips the new ones, stamped after its instant).
    #[must_use = "the old dataset should be freed off the client path"]
    pub fn install_locked(
        &self,
        all: &mut Locked<'_>,
        tables: Vec<Vec<Table>>,
    ) -> Vec<Box<[Table]>> {
        debug_assert!(all.holds_all());
        let prepared = self.stamp(tables);
        if let (_, Some(cap)) = self.capture_state() {
            for shard in all.shards_mut() {
                for (db, t) in shard.tables.iter_mut().enumerate() {
                    for i in 0..t.len() {
                        db::capture_index(&cap, db, t, i);
                    }
                }
            }
            let mut prepared = prepared;
            for (shard, new) in all.shards_mut().zip(prepared.iter_mut()) {
                std::mem::swap(&mut shard.tables, new);
            }
            return prepared;
        }
        self.swap_in(all, prepared)
    }

    /// Stamps new tables with the current epoch: no snapshot begun before owns them.
    fn stamp(&self, tables: Vec<Vec<Table>>) -> Vec<Box<[Table]>> {
        let epoch = self.epoch.load(std::sync::atomic::Ordering::Acquire);
        tables
            .into_iter()
            .map(|new| {
                let mut new: Box<[Table]> = new.into_boxed_slice();
                for t in new.iter_mut() {
                    for e in t.values_mut() {
                        e.ver = epoch;
                    }
                }
                new
            })
            .collect()
    }

    fn swap_in(&self, all: &mut Locked<'_>, mut prepared: Vec<Box<[Table]>>) -> Vec<Box<[Table]>> {
        // A snapshot in progress was fixing the instant being thrown away. (Entries were
        // stamped with the epoch read before: a snapshot begun since is aborted here too.)
        if let (_, Some(cap)) = self.capture_state() {
            cap.aborted
                .store(true, std::sync::atomic::Ordering::Release);
        }
        for (shard, new) in all.shards_mut().zip(prepared.iter_mut()) {
            std::mem::swap(&mut shard.tables, new);
        }
        prepared
    }

    /// Empty tables for every shard and database, shaped for `install`.
    pub fn empty_tables(&self) -> Vec<Vec<Table>> {
        (0..SHARDS)
            .map(|_| (0..self.ndbs).map(|_| Table::default()).collect())
            .collect()
    }

    /// Number of keys in database `db` (locks shards one at a time).
    pub fn dbsize(&self, db: usize) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().tables.get(db).map_or(0, |t| t.len()))
            .sum()
    }

    /// (keys, keys with expiry) per database, for INFO keyspace.
    pub fn db_counts(&self) -> Vec<(usize, usize)> {
        let mut out = vec![(0, 0); self.ndbs];
        for s in self.shards.iter() {
            let g = s.lock();
            for (i, t) in g.tables.iter().enumerate() {
                out[i].0 += t.len();
                out[i].1 += t.volatile_len();
            }
        }
        out
    }
}

impl<'a> Locked<'a> {
    pub fn keyspace(&self) -> &'a Keyspace {
        self.ks
    }

    /// Whether every shard is held.
    pub fn holds_all(&self) -> bool {
        self.guards.len() == SHARDS
    }

    /// The shard holding `key`. Commands declare their keys, so it is always locked; a missing
    /// declaration is a bug caught by tests (debug builds panic, release builds lock it late).
    pub(crate) fn shard_mut(&mut self, key: &[u8]) -> &mut Shard {
        let pos = self.position(key);
        &mut self.guards[pos].1
    }

    /// Where the shard of `key` is in `guards` (see `shard_mut`): one hash of the key, for an
    /// operation that reaches the key's table several times.
    pub(crate) fn position(&mut self, key: &[u8]) -> usize {
        let i = self.ks.shard_of(key);
        let pos = match self.guards.binary_search_by_key(&i, |(j, _)| *j) {
            Ok(pos) => pos,
            Err(pos) => {
                debug_assert!(
                    false,
                    "shard of key {:?} not locked",
                    String::from_utf8_lossy(key)
                );
                self.guards.insert(pos, (i, self.ks.shards[i].lock()));
                pos
            }
        };
        pos
    }

    /// The indices of the shards held, ascending.
    pub fn held(&self) -> Vec<usize> {
        self.guards.iter().map(|(i, _)| *i).collect()
    }

    /// Adds the shards `idx` not held yet, without waiting for any: true when all are held
    /// now. Out-of-order acquisition cannot deadlock because it never waits; on false the
    /// caller releases everything and locks the full set in order.
    pub fn try_extend(&mut self, idx: &[usize]) -> bool {
        for &i in idx {
            let i = i & (SHARDS - 1);
            if let Err(pos) = self.guards.binary_search_by_key(&i, |(j, _)| *j) {
                match self.ks.shards[i].try_lock() {
                    Some(g) => self.guards.insert(pos, (i, g)),
                    None => return false,
                }
            }
        }
        true
    }

    pub fn shards_mut(&mut self) -> impl Iterator<Item = &mut Shard> + use<'_, 'a> {
        self.guards.iter_mut().map(|(_, g)| &mut **g)
    }
}
