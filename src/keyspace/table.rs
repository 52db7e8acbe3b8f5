//! `Table`: one database's keys in one shard, with their expiry times.
//!
//! Entries sit in an `IndexMap` at dense positions `0..len` (SCAN cursors, RANDOMKEY, eviction
//! sampling and the snapshot walk index them); removal is `swap_remove` (the last entry moves
//! into the hole). The expiry times are not a second map with a second copy of every key, as
//! Redis's `expires` dict is: the keys that have one are listed in `volatile` as (position,
//! time), and such an entry holds its index in that list. Active expiry and the volatile
//! eviction policies sample `volatile` uniformly, as Redis samples its `expires` dict.

use super::compact::Compact;
use super::value::Entry;
use super::Map;

/// `Entry::vol` of an entry without an expiry time.
pub(super) const NO_EXPIRE: u32 = u32::MAX;

/// Bytes of one `IndexMap` entry: the stored hash, the key, the entry.
const BUCKET: usize =
    std::mem::size_of::<usize>() + std::mem::size_of::<Compact>() + std::mem::size_of::<Entry>();

/// One key with an expiry time: where its entry is, and when it expires (absolute, ms).
#[derive(Debug, Clone, Copy)]
struct Volatile {
    pos: u32,
    when: i64,
}

#[derive(Debug, Default)]
pub struct Table {
    map: Map<Compact, Entry>,
    volatile: Vec<Volatile>,
}

impl Table {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Number of keys with an expiry time.
    pub fn volatile_len(&self) -> usize {
        self.volatile.len()
    }

    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        self.map.get(key)
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.map.get_mut(key)
    }

    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.map.contains_key(key)
    }

    pub fn get_index_of(&self, key: &[u8]) -> Option<usize> {
        self.map.get_index_of(key)
    }

    pub fn get_index(&self, i: usize) -> Option<(&Compact, &Entry)> {
        self.map.get_index(i)
    }

    pub fn get_index_mut(&mut self, i: usize) -> Option<(&Compact, &mut Entry)> {
        self.map.get_index_mut(i)
    }

    /// Entry `i` with its expiry time, for a walk that also needs the time (the snapshot).
    pub fn get_index_full(&mut self, i: usize) -> Option<(&Compact, &mut Entry, Option<i64>)> {
        let (k, e) = self.map.get_index_mut(i)?;
        let when = self.volatile.get(e.vol as usize).map(|v| v.when);
        Some((k, e, when))
    }

    /// The expiry time of an entry of this table.
    pub fn expire_of(&self, e: &Entry) -> Option<i64> {
        self.volatile.get(e.vol as usize).map(|v| v.when)
    }

    /// The expiry time of `key`, if it exists and has one.
    pub fn expire_at(&self, key: &[u8]) -> Option<i64> {
        self.expire_of(self.map.get(key)?)
    }

    /// Whether `key` has an expiry time that is `<= now`: a key with no expiry costs no lookup
    /// while the table has no volatile key at all.
    pub fn expired(&self, key: &[u8], now: i64) -> bool {
        !self.volatile.is_empty() && self.expire_at(key).is_some_and(|when| when <= now)
    }

    /// Volatile key number `i` (0..`volatile_len`) and its expiry time: uniform sampling.
    pub fn volatile_at(&self, i: usize) -> Option<(&Compact, i64)> {
        let v = self.volatile.get(i)?;
        let (k, _) = self.map.get_index(v.pos as usize)?;
        Some((k, v.when))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Compact, &Entry)> {
        self.map.iter()
    }

    /// Every entry with its expiry time.
    pub fn iter_full(&self) -> impl Iterator<Item = (&Compact, &Entry, Option<i64>)> {
        self.map
            .iter()
            .map(|(k, e)| (k, e, self.volatile.get(e.vol as usize).map(|v| v.when)))
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Entry> {
        self.map.values_mut()
    }

    pub fn keys(&self) -> impl Iterator<Item = &Compact> {
        self.map.keys()
    }

    /// Takes the table apart: every entry with its expiry time.
    pub fn into_entries(self) -> impl Iterator<Item = (Compact, Entry, Option<i64>)> {
        let volatile = self.volatile;
        self.map.into_iter().map(move |(k, mut e)| {
            let when = volatile.get(e.vol as usize).map(|v| v.when);
            e.vol = NO_EXPIRE;
            (k, e, when)
        })
    }

    pub fn reserve(&mut self, keys: usize, expires: usize) {
        self.map.reserve(keys.saturating_sub(self.map.len()));
        self.volatile
            .reserve(expires.saturating_sub(self.volatile.len()));
    }

    /// Stores `entry` under `key` with expiry time `expire` (replacing any entry there).
    /// Returns the entry's position.
    pub fn insert(&mut self, key: Compact, mut entry: Entry, expire: Option<i64>) -> usize {
        self.make_room();
        entry.vol = NO_EXPIRE;
        let (i, old) = self.map.insert_full(key, entry);
        if let Some(old) = old {
            self.map[i].vol = old.vol;
        }
        self.set_expire_index(i, expire);
        i
    }

    /// Before an insertion into a full table: grows the entry vector to the next jemalloc size
    /// class that holds an eighth more entries (size classes are four per doubling), filled to
    /// its end. `IndexMap` alone would grow it to the hash index's capacity, doubling it, so
    /// that a table was 72% full on average (a 10,000-key database: 224 slots of 88 bytes for
    /// 156 keys per shard); this keeps it about 90% full (Redis allocates a `dictEntry` per
    /// key). Each growth copies the vector unless jemalloc extends it in place: about eight
    /// copies of an entry over its life. The hash index still doubles (8 bytes per slot).
    fn make_room(&mut self) {
        let len = self.map.len();
        if len < self.map.capacity() {
            return;
        }
        let want = (len + len / 8).max(len + 4) * BUCKET;
        let cap = crate::util::jemalloc_size(want) / BUCKET;
        self.map.reserve_exact(cap - len);
    }

    /// Sets (Some) or removes (None) the expiry time of entry `i`. Returns the one it had.
    pub fn set_expire_index(&mut self, i: usize, expire: Option<i64>) -> Option<i64> {
        let (_, e) = self.map.get_index_mut(i)?;
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
        let i = self.map.get_index_of(key)?;
        self.set_expire_index(i, expire)
    }

    /// After `volatile.swap_remove(vol)`: the record moved into `vol` (if any) is pointed to
    /// by its entry.
    fn repoint_volatile(&mut self, vol: usize) {
        if let Some(v) = self.volatile.get(vol) {
            if let Some((_, e)) = self.map.get_index_mut(v.pos as usize) {
                e.vol = vol as u32;
            }
        }
    }

    /// Removes `key` with its expiry time; the last entry moves into its position.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let (i, _, mut e) = self.map.swap_remove_full(key)?;
        // The entry that was last is at `i` now: its volatile record follows it.
        if let Some((_, moved)) = self.map.get_index(i) {
            if let Some(v) = self.volatile.get_mut(moved.vol as usize) {
                v.pos = i as u32;
            }
        }
        let vol = e.vol as usize;
        if vol < self.volatile.len() {
            self.volatile.swap_remove(vol);
            self.repoint_volatile(vol);
        }
        e.vol = NO_EXPIRE;
        self.release_room();
        Some(e)
    }

    /// After a removal: a table left empty gives its allocations back, and one less than an
    /// eighth full shrinks to twice its keys, as Redis shrinks a dict under a tenth full. The
    /// room of evicted keys must be freed too, or memory can stay above `maxmemory` with no
    /// key left to evict. Positions do not change.
    fn release_room(&mut self) {
        let (len, cap) = (self.map.len(), self.map.capacity());
        if len == 0 {
            if cap > 0 {
                *self = Table::default();
            }
        } else if cap >= 64 && len * 8 < cap {
            self.map.shrink_to(len * 2);
            self.volatile.shrink_to(self.volatile.len() * 2);
        }
    }

    /// Finds `key`, or stores `entry` under it (without expiry time), with one hash and probe.
    /// Returns the entry's position, and `entry` back if the key existed (nothing changed).
    pub fn find_or_insert(&mut self, key: &[u8], mut entry: Entry) -> (usize, Option<Entry>) {
        use indexmap::map::raw_entry_v1::{RawEntryApiV1, RawEntryMut};
        self.make_room();
        match self.map.raw_entry_mut_v1().from_key(key) {
            RawEntryMut::Occupied(o) => (o.index(), Some(entry)),
            RawEntryMut::Vacant(v) => {
                let i = v.index();
                entry.vol = NO_EXPIRE;
                v.insert(Compact::new(key), entry);
                (i, None)
            }
        }
    }

    /// Entry `i` (from `find_or_insert` or `get_index_of`); panics if out of range.
    pub fn at_mut(&mut self, i: usize) -> &mut Entry {
        &mut self.map[i]
    }

    /// Checks that every volatile record and entry point at each other (tests).
    #[cfg(test)]
    fn check(&self) {
        for (vi, v) in self.volatile.iter().enumerate() {
            assert_eq!(self.map[v.pos as usize].vol as usize, vi);
        }
        let n = self.map.values().filter(|e| e.vol != NO_EXPIRE).count();
        assert_eq!(n, self.volatile.len());
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
        let mut t = Table::default();
        let mut model = std::collections::HashMap::new();
        let mut rng = 12345u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for _ in 0..20_000 {
            let k = format!("k{}", next() % 300).into_bytes();
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
            t.check();
        }
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
