//! `Table`: one database's keys in one shard, with their expiry times.
//!
//! Entries sit at dense positions `0..len` (SCAN cursors, RANDOMKEY, eviction sampling and the
//! snapshot walk index them) of a vector kept in segments ([`SegVec`]: a growth copies one
//! segment, never the whole shard); removal is a swap-remove (the last entry moves into the
//! hole). A hashbrown table of `u32` positions finds them: five bytes per bucket (an
//! `IndexMap`'s index takes nine), and each entry keeps 32 bits of its key's hash in its own
//! padding, so a growth rehashes from the entries without reading the keys, and a probe compares
//! the stored hash before the key bytes.
//!
//! The expiry times are not a second map with a second copy of every key, as Redis's `expires`
//! dict is: the keys that have one are listed in `volatile` as (position, time), and such an
//! entry holds its index in that list. Active expiry and the volatile eviction policies sample
//! `volatile` uniformly, as Redis samples its `expires` dict.

use std::hash::BuildHasher;
use std::sync::LazyLock;

use hashbrown::HashTable;

use super::compact::Compact;
use super::segvec::SegVec;
use super::value::Entry;

/// `Entry::vol` of an entry without an expiry time.
pub(super) const NO_EXPIRE: u32 = u32::MAX;

/// Bytes of one slot of the entry vector: the key and the entry.
const SLOT: usize = std::mem::size_of::<Slot>();

/// The hash of keys inside tables: seeded once per process (never unseeded: hash flooding),
/// and not the shard router's, whose low bits are the same for every key of a shard.
pub(super) static HASHER: LazyLock<foldhash::fast::FixedState> =
    LazyLock::new(|| foldhash::fast::FixedState::with_seed(rand::random()));

fn hash_of(key: &[u8]) -> u32 {
    let h = HASHER.hash_one(key);
    (h ^ (h >> 32)) as u32
}

/// The 64-bit hash hashbrown wants from a stored 32-bit one: its low bits pick the bucket and
/// its top seven bits are the control tag, both from the 32 bits.
fn wide(h: u32) -> u64 {
    (u64::from(h) << 32) | u64::from(h)
}

/// One key with an expiry time: where its entry is, and when it expires (absolute, ms).
#[derive(Debug, Clone, Copy)]
struct Volatile {
    pos: u32,
    when: i64,
}

#[derive(Debug)]
struct Slot {
    key: Compact,
    entry: Entry,
}

// A key's slot: the key (16), the value (24), the access clock, the snapshot epoch, the
// volatile record's index and the hash (4 each).
const _: () = assert!(SLOT == 56);

#[derive(Debug, Default)]
pub struct Table {
    index: HashTable<u32>,
    slots: SegVec<Slot>,
    volatile: Vec<Volatile>,
}

impl Table {
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Number of keys with an expiry time.
    pub fn volatile_len(&self) -> usize {
        self.volatile.len()
    }

    /// Where `key` is, given its hash.
    fn find(&self, h: u32, key: &[u8]) -> Option<usize> {
        let slots = &self.slots;
        self.index
            .find(wide(h), |&i| {
                let s = &slots[i as usize];
                s.entry.hash == h && s.key.as_bytes() == key
            })
            .map(|&i| i as usize)
    }

    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        let i = self.get_index_of(key)?;
        Some(&self.slots[i].entry)
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let i = self.get_index_of(key)?;
        Some(&mut self.slots[i].entry)
    }

    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.get_index_of(key).is_some()
    }

    pub fn get_index_of(&self, key: &[u8]) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        self.find(hash_of(key), key)
    }

    pub fn get_index(&self, i: usize) -> Option<(&Compact, &Entry)> {
        self.slots.get(i).map(|s| (&s.key, &s.entry))
    }

    pub fn get_index_mut(&mut self, i: usize) -> Option<(&Compact, &mut Entry)> {
        self.slots.get_mut(i).map(|s| (&s.key, &mut s.entry))
    }

    /// Entry `i` with its expiry time, for a walk that also needs the time (the snapshot).
    pub fn get_index_full(&mut self, i: usize) -> Option<(&Compact, &mut Entry, Option<i64>)> {
        let s = self.slots.get_mut(i)?;
        let when = self.volatile.get(s.entry.vol as usize).map(|v| v.when);
        Some((&s.key, &mut s.entry, when))
    }

    /// The expiry time of an entry of this table.
    pub fn expire_of(&self, e: &Entry) -> Option<i64> {
        self.volatile.get(e.vol as usize).map(|v| v.when)
    }

    /// The expiry time of `key`, if it exists and has one.
    pub fn expire_at(&self, key: &[u8]) -> Option<i64> {
        self.expire_of(self.get(key)?)
    }

    /// Whether `key` has an expiry time that is `<= now`: a key with no expiry costs no lookup
    /// while the table has no volatile key at all.
    pub fn expired(&self, key: &[u8], now: i64) -> bool {
        !self.volatile.is_empty() && self.expire_at(key).is_some_and(|when| when <= now)
    }

    /// Volatile key number `i` (0..`volatile_len`) and its expiry time: uniform sampling.
    pub fn volatile_at(&self, i: usize) -> Option<(&Compact, i64)> {
        let v = self.volatile.get(i)?;
        let s = self.slots.get(v.pos as usize)?;
        Some((&s.key, v.when))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Compact, &Entry)> {
        self.slots.iter().map(|s| (&s.key, &s.entry))
    }

    /// Every entry with its expiry time.
    pub fn iter_full(&self) -> impl Iterator<Item = (&Compact, &Entry, Option<i64>)> {
        self.slots
            .iter()
            .map(|s| (&s.key, &s.entry, self.expire_of(&s.entry)))
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Entry> {
        self.slots.iter_mut().map(|s| &mut s.entry)
    }

    pub fn keys(&self) -> impl Iterator<Item = &Compact> {
        self.slots.iter().map(|s| &s.key)
    }

    /// Takes the table apart: every entry with its expiry time.
    pub fn into_entries(self) -> impl Iterator<Item = (Compact, Entry, Option<i64>)> {
        let volatile = self.volatile;
        self.slots.into_iter().map(move |Slot { key, mut entry }| {
            let when = volatile.get(entry.vol as usize).map(|v| v.when);
            entry.vol = NO_EXPIRE;
            (key, entry, when)
        })
    }

    pub fn reserve(&mut self, keys: usize, expires: usize) {
        let more = keys.saturating_sub(self.slots.len());
        self.slots.reserve_exact(more);
        let slots = &self.slots;
        self.index
            .reserve(more, |&i| wide(slots[i as usize].entry.hash));
        self.volatile
            .reserve(expires.saturating_sub(self.volatile.len()));
    }

    /// Appends a new key (known to be absent) with hash `h`; returns its position. The entry
    /// vector's last segment grows to the next jemalloc size class with an eighth more room
    /// (size classes are four per doubling), filled to its end: doubling would leave a table
    /// 72% full on average (a 10,000-key database: 224 slots for 156 keys per shard); this
    /// keeps it about 90% full (Redis allocates a `dictEntry` per key). Small tables grow a
    /// slot at a time: a database of a few hundred keys has one or two per table, and four
    /// empty slots each would cost more than the keys. The index still doubles (five bytes
    /// per bucket).
    fn push(&mut self, h: u32, key: Compact, mut entry: Entry) -> usize {
        let i = self.slots.len();
        entry.hash = h;
        entry.vol = NO_EXPIRE;
        self.slots.push(Slot { key, entry });
        let slots = &self.slots;
        self.index
            .insert_unique(wide(h), i as u32, |&j| wide(slots[j as usize].entry.hash));
        i
    }

    /// Stores `entry` under `key` with expiry time `expire` (replacing any entry there).
    /// Returns the entry's position.
    pub fn insert(&mut self, key: Compact, mut entry: Entry, expire: Option<i64>) -> usize {
        let h = hash_of(&key);
        let i = match self.find(h, &key) {
            Some(i) => {
                let old = &mut self.slots[i].entry;
                entry.hash = h;
                entry.vol = old.vol;
                *old = entry;
                i
            }
            None => self.push(h, key, entry),
        };
        self.set_expire_index(i, expire);
        i
    }

    /// Sets (Some) or removes (None) the expiry time of entry `i`. Returns the one it had.
    pub fn set_expire_index(&mut self, i: usize, expire: Option<i64>) -> Option<i64> {
        let e = &mut self.slots.get_mut(i)?.entry;
        let vol = e.vol as usize;
        match (self.volatile.get_mut(vol), expire) {
            (Some(v), Some(when)) => Some(std::mem::replace(&mut v.when, when)),
            (Some(_), None) => {
                e.vol = NO_EXPIRE;
                let old = self.volatile.swap_remove(vol);
                self.repoint_volatile(vol);
                Some(old.when)
            }
            (None, Some(when)) => {
                e.vol = self.volatile.len() as u32;
                self.volatile.push(Volatile {
                    pos: i as u32,
                    when,
                });
                None
            }
            (None, None) => None,
        }
    }

    /// Sets or removes the expiry time of `key` if it exists. Returns the one it had.
    pub fn set_expire(&mut self, key: &[u8], expire: Option<i64>) -> Option<i64> {
        let i = self.get_index_of(key)?;
        self.set_expire_index(i, expire)
    }

    /// After `volatile.swap_remove(vol)`: the record moved into `vol` (if any) is pointed to
    /// by its entry.
    fn repoint_volatile(&mut self, vol: usize) {
        if let Some(v) = self.volatile.get(vol) {
            if let Some(s) = self.slots.get_mut(v.pos as usize) {
                s.entry.vol = vol as u32;
            }
        }
    }

    /// Removes `key` with its expiry time; the last entry moves into its position.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        if self.slots.is_empty() {
            return None;
        }
        let h = hash_of(key);
        let slots = &self.slots;
        let found = self.index.find_entry(wide(h), |&i| {
            let s = &slots[i as usize];
            s.entry.hash == h && s.key.as_bytes() == key
        });
        let (i, _) = found.ok()?.remove();
        let i = i as usize;
        let last = self.slots.len() - 1;
        if i != last {
            // The last entry moves into `i`: its index bucket and volatile record follow it.
            let moved = self.slots[last].entry.hash;
            if let Ok(b) = self.index.find_entry(wide(moved), |&j| j as usize == last) {
                *b.into_mut() = i as u32;
            }
        }
        let Slot { mut entry, .. } = self.slots.swap_remove(i);
        if let Some(s) = self.slots.get(i) {
            if let Some(v) = self.volatile.get_mut(s.entry.vol as usize) {
                v.pos = i as u32;
            }
        }
        let vol = entry.vol as usize;
        if vol < self.volatile.len() {
            self.volatile.swap_remove(vol);
            self.repoint_volatile(vol);
        }
        entry.vol = NO_EXPIRE;
        self.release_room();
        Some(entry)
    }

    /// After a removal: a table left empty gives its allocations back, a small one (under 64
    /// slots) keeps at most a quarter more slots than keys, and a larger one less than an
    /// eighth full shrinks to twice its keys, as Redis shrinks a dict under a tenth full. The
    /// room of evicted keys must be freed too, or memory can stay above `maxmemory` with no
    /// key left to evict: with a few keys per table (a small database spread over 256 shards)
    /// and keys and values inline, removing a key would otherwise free nothing at all, where
    /// Redis frees its dictEntry, robj and key. Positions do not change.
    fn release_room(&mut self) {
        let (len, cap) = (self.slots.len(), self.slots.capacity());
        if len == 0 {
            if cap > 0 || self.index.capacity() > 0 {
                *self = Table::default();
            }
        } else if cap < 64 {
            if cap > len + len / 4 + 1 {
                self.slots.shrink_to(len + len / 4);
                let slots = &self.slots;
                self.index
                    .shrink_to(len, |&i| wide(slots[i as usize].entry.hash));
            }
        } else if len * 8 < cap {
            self.slots.shrink_to(len * 2);
            let slots = &self.slots;
            self.index
                .shrink_to(len * 2, |&i| wide(slots[i as usize].entry.hash));
            self.volatile.shrink_to(self.volatile.len() * 2);
        }
    }

    /// Finds `key`, or stores `entry` under it (without expiry time), with one hash and probe.
    /// Returns the entry's position, and `entry` back if the key existed (nothing changed).
    pub fn find_or_insert(&mut self, key: &[u8], entry: Entry) -> (usize, Option<Entry>) {
        let h = hash_of(key);
        match self.find(h, key) {
            Some(i) => (i, Some(entry)),
            None => (self.push(h, Compact::new(key), entry), None),
        }
    }

    /// Entry `i` (from `find_or_insert` or `get_index_of`); panics if out of range.
    pub fn at_mut(&mut self, i: usize) -> &mut Entry {
        &mut self.slots[i].entry
    }

    /// Checks that every volatile record and entry point at each other (tests).
    #[cfg(test)]
    fn check(&self) {
        for (vi, v) in self.volatile.iter().enumerate() {
            assert_eq!(self.slots[v.pos as usize].entry.vol as usize, vi);
        }
        let n = self
            .slots
            .iter()
            .filter(|s| s.entry.vol != NO_EXPIRE)
            .count();
        assert_eq!(n, self.volatile.len());
        assert_eq!(self.index.len(), self.slots.len());
        for (i, s) in self.slots.iter().enumerate() {
            assert_eq!(s.entry.hash, hash_of(&s.key));
            assert_eq!(self.get_index_of(&s.key), Some(i));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::value::{Str, Value};

    fn entry() -> Entry {
        Entry::new(Value::Str(Str::Int(1)), 0, 0)
    }

    #[test]
    fn expiry_follows_entries_through_removals() {
        follows_a_model(300, 20_000, 1);
    }

    /// Several segments of the entry vector: positions, the index and the volatile records
    /// stay consistent as keys move across segment boundaries.
    #[test]
    fn entries_spanning_segments_stay_consistent() {
        follows_a_model(3 * super::super::segvec::SEG as u64, 40_000, 2_000);
    }

    /// Random inserts, removals, expiry changes and lookups over `keys` key names, checked
    /// against a map (the whole table every `check_every` steps).
    fn follows_a_model(keys: u64, steps: usize, check_every: usize) {
        let mut t = Table::default();
        let mut model = std::collections::HashMap::new();
        let mut rng = 12345u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for step in 0..steps {
            let k = format!("k{}", next() % keys).into_bytes();
            match next() % 5 {
                0 | 1 => {
                    let exp = (next() % 2 == 0).then(|| (next() % 1000) as i64);
                    t.insert(Compact::new(&k), entry(), exp);
                    model.insert(k, exp);
                }
                2 => {
                    assert_eq!(t.remove(&k).is_some(), model.remove(&k).is_some());
                }
                3 => {
                    let exp = (next() % 2 == 0).then(|| (next() % 1000) as i64);
                    let had = t.set_expire(&k, exp);
                    if let Some(m) = model.get_mut(&k) {
                        assert_eq!(had, std::mem::replace(m, exp));
                    } else {
                        assert_eq!(had, None);
                    }
                }
                _ => {
                    let (i, _) = t.find_or_insert(&k, entry());
                    assert_eq!(&t.get_index(i).map(|(k, _)| k.to_vec()), &Some(k.clone()));
                    model.entry(k).or_insert(None);
                }
            }
            if step % check_every == 0 {
                t.check();
            }
        }
        t.check();
        assert_eq!(t.len(), model.len());
        for (k, exp) in &model {
            assert_eq!(t.expire_at(k), *exp);
        }
        let n = model.values().filter(|e| e.is_some()).count();
        assert_eq!(t.volatile_len(), n);
        for i in 0..n {
            let (k, when) = t
                .volatile_at(i)
                .map(|(k, w)| (k.to_vec(), w))
                .unwrap_or_default();
            assert_eq!(model[&k], Some(when));
        }
    }
}
