//! Ordered maps and sets keyed by stream ID for the pending entries lists: sorted vectors of
//! up to `CHUNK` entries, kept in a B-tree by a lower bound of their IDs. Redis keeps a PEL in
//! a radix tree (about 25 bytes per key for stream IDs); a `BTreeMap` slot per entry cost 2-3
//! times that, mostly in half-empty leaves (a B-tree node splits in the middle even when keys
//! arrive in order, which is how XREADGROUP fills a PEL). Here an entry costs its own size:
//! in-order inserts fill each chunk before the next begins, others split a full chunk in two.
//!
//! A chunk's key is at most its first ID and above the previous chunk's IDs, so removing an
//! entry never re-keys a chunk; only an insert below every key does.

use std::collections::btree_map;
use std::collections::BTreeMap;
use std::ops::{Bound, RangeBounds};

use super::StreamId;

/// Entries per chunk (a chunk of NACKs is 2,560 bytes, of IDs 1,024: jemalloc size classes).
const CHUNK: usize = 64;

type Chunks<V> = BTreeMap<StreamId, Vec<(StreamId, V)>>;

#[derive(Debug, Clone)]
pub struct IdMap<V> {
    chunks: Chunks<V>,
    len: usize,
}

impl<V> Default for IdMap<V> {
    fn default() -> Self {
        IdMap {
            chunks: BTreeMap::new(),
            len: 0,
        }
    }
}

impl<V: PartialEq> PartialEq for IdMap<V> {
    /// Same entries, however chunked.
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl<V: Eq> Eq for IdMap<V> {}

impl<V> IdMap<V> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn get(&self, id: &StreamId) -> Option<&V> {
        let (_, chunk) = self.chunks.range(..=*id).next_back()?;
        let i = chunk.binary_search_by(|e| e.0.cmp(id)).ok()?;
        Some(&chunk[i].1)
    }

    pub fn get_mut(&mut self, id: &StreamId) -> Option<&mut V> {
        let (_, chunk) = self.chunks.range_mut(..=*id).next_back()?;
        let i = chunk.binary_search_by(|e| e.0.cmp(id)).ok()?;
        Some(&mut chunk[i].1)
    }

    pub fn contains_key(&self, id: &StreamId) -> bool {
        self.get(id).is_some()
    }

    /// Sets `id` to `v`; the previous value, if any.
    pub fn insert(&mut self, id: StreamId, v: V) -> Option<V> {
        let chunk = chunk_for(&mut self.chunks, id);
        match chunk.binary_search_by(|e| e.0.cmp(&id)) {
            Ok(i) => Some(std::mem::replace(&mut chunk[i].1, v)),
            Err(i) => {
                chunk.insert(i, (id, v));
                self.len += 1;
                None
            }
        }
    }

    /// The value of `id`, made by `make` if there was none (then `true`).
    pub fn get_or_insert_with(&mut self, id: StreamId, make: impl FnOnce() -> V) -> (&mut V, bool) {
        let chunk = chunk_for(&mut self.chunks, id);
        match chunk.binary_search_by(|e| e.0.cmp(&id)) {
            Ok(i) => (&mut chunk[i].1, false),
            Err(i) => {
                chunk.insert(i, (id, make()));
                self.len += 1;
                (&mut chunk[i].1, true)
            }
        }
    }

    /// Removes `id`; its value, if it was there.
    pub fn remove(&mut self, id: &StreamId) -> Option<V> {
        let (&key, chunk) = self.chunks.range_mut(..=*id).next_back()?;
        let i = chunk.binary_search_by(|e| e.0.cmp(id)).ok()?;
        let (_, v) = chunk.remove(i);
        self.len -= 1;
        if chunk.is_empty() {
            self.chunks.remove(&key);
        } else if chunk.len() <= CHUNK / 4 {
            self.compact(key);
        }
        Some(v)
    }

    /// A chunk that shrank to a quarter: merged with a neighbour if both fit in half a
    /// chunk, and its spare room given back past three quarters of it.
    fn compact(&mut self, key: StreamId) {
        let Some(len) = self.chunks.get(&key).map(Vec::len) else {
            return;
        };
        let next = self
            .chunks
            .range((Bound::Excluded(key), Bound::Unbounded))
            .next()
            .map(|(k, c)| (*k, c.len()));
        let prev = self
            .chunks
            .range(..key)
            .next_back()
            .map(|(k, c)| (*k, c.len()));
        let key = match (next, prev) {
            (Some((next, n)), _) if len + n <= CHUNK / 2 => {
                let tail = self.chunks.remove(&next).unwrap_or_default();
                self.chunks.entry(key).or_default().extend(tail);
                key
            }
            (_, Some((prev, n))) if len + n <= CHUNK / 2 => {
                let tail = self.chunks.remove(&key).unwrap_or_default();
                self.chunks.entry(prev).or_default().extend(tail);
                prev
            }
            _ => key,
        };
        if let Some(chunk) = self.chunks.get_mut(&key) {
            if chunk.len() * 4 <= chunk.capacity() && chunk.capacity() > 8 {
                chunk.shrink_to(chunk.len() * 2);
            }
        }
    }

    /// The smallest ID.
    pub fn first_key(&self) -> Option<&StreamId> {
        self.chunks.first_key_value()?.1.first().map(|e| &e.0)
    }

    /// The largest ID.
    pub fn last_key(&self) -> Option<&StreamId> {
        self.chunks.last_key_value()?.1.last().map(|e| &e.0)
    }

    /// Entries in ID order.
    pub fn iter(&self) -> Iter<'_, V> {
        Iter {
            inner: self.chunks.values().flatten(),
        }
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &StreamId> + '_ {
        self.iter().map(|(k, _)| k)
    }

    /// Entries with IDs in `bounds`, in order.
    pub fn range(&self, bounds: impl RangeBounds<StreamId>) -> Range<'_, V> {
        let start = bounds.start_bound().cloned();
        let from = match start {
            Bound::Included(id) | Bound::Excluded(id) => {
                self.chunks.range(..=id).next_back().map(|(k, _)| *k)
            }
            Bound::Unbounded => None,
        };
        let chunks = match from {
            Some(k) => self.chunks.range(k..),
            None => self.chunks.range(..),
        };
        let values: ChunkValues<'_, V> = chunks.map(|(_, c)| c);
        Range {
            inner: values.flatten(),
            start,
            end: bounds.end_bound().cloned(),
            done: false,
        }
    }
}

/// The chunk `id` belongs in, with room for it unless it is there already: the first
/// chunk is re-keyed when `id` is below every key; a full chunk splits in two, except the
/// last one when `id` goes after its end (entries arriving in order fill whole chunks).
fn chunk_for<V>(chunks: &mut Chunks<V>, id: StreamId) -> &mut Vec<(StreamId, V)> {
    let key = match chunks.range(..=id).next_back() {
        Some((k, _)) => *k,
        None => {
            let first = chunks.pop_first().map(|(_, c)| c).unwrap_or_default();
            chunks.insert(id, first);
            id
        }
    };
    let last = chunks.last_key_value().map(|(k, _)| *k) == Some(key);
    let chunk = chunks.entry(key).or_default();
    if chunk.len() < CHUNK {
        return chunks.entry(key).or_default();
    }
    let Err(at) = chunk.binary_search_by(|e| e.0.cmp(&id)) else {
        return chunks.entry(key).or_default();
    };
    if at == chunk.len() && last {
        return chunks.entry(id).or_insert_with(|| Vec::with_capacity(4));
    }
    let right = chunk.split_off(CHUNK / 2);
    let right_key = right[0].0;
    chunks.insert(right_key, right);
    chunks
        .entry(if id > right_key { right_key } else { key })
        .or_default()
}

impl<'a, V> IntoIterator for &'a IdMap<V> {
    type Item = (&'a StreamId, &'a V);
    type IntoIter = Iter<'a, V>;

    fn into_iter(self) -> Iter<'a, V> {
        self.iter()
    }
}

pub struct Iter<'a, V> {
    inner: std::iter::Flatten<btree_map::Values<'a, StreamId, Vec<(StreamId, V)>>>,
}

impl<'a, V> Iterator for Iter<'a, V> {
    type Item = (&'a StreamId, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next().map(|(k, v)| (k, v))
    }
}

impl<V> DoubleEndedIterator for Iter<'_, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.inner.next_back().map(|(k, v)| (k, v))
    }
}

type ChunkValues<'a, V> = std::iter::Map<
    btree_map::Range<'a, StreamId, Vec<(StreamId, V)>>,
    fn((&'a StreamId, &'a Vec<(StreamId, V)>)) -> &'a Vec<(StreamId, V)>,
>;

pub struct Range<'a, V> {
    inner: std::iter::Flatten<ChunkValues<'a, V>>,
    start: Bound<StreamId>,
    end: Bound<StreamId>,
    done: bool,
}

impl<'a, V> Iterator for Range<'a, V> {
    type Item = (&'a StreamId, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let (k, v) = self.inner.next()?;
            let before = match self.start {
                Bound::Included(s) => *k < s,
                Bound::Excluded(s) => *k <= s,
                Bound::Unbounded => false,
            };
            if before {
                continue;
            }
            let after = match self.end {
                Bound::Included(e) => *k > e,
                Bound::Excluded(e) => *k >= e,
                Bound::Unbounded => false,
            };
            if after {
                self.done = true;
                return None;
            }
            return Some((k, v));
        }
        None
    }
}

/// A set of stream IDs (a consumer's PEL).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdSet(IdMap<()>);

impl IdSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, id: &StreamId) -> bool {
        self.0.contains_key(id)
    }

    /// Adds `id`; false if it was there.
    pub fn insert(&mut self, id: StreamId) -> bool {
        self.0.insert(id, ()).is_none()
    }

    /// Removes `id`; false if it was not there.
    pub fn remove(&mut self, id: &StreamId) -> bool {
        self.0.remove(id).is_some()
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &StreamId> + '_ {
        self.0.keys()
    }

    pub fn range(
        &self,
        bounds: impl RangeBounds<StreamId>,
    ) -> impl Iterator<Item = &StreamId> + '_ {
        self.0.range(bounds).map(|(k, _)| k)
    }
}

impl<'a> IntoIterator for &'a IdSet {
    type Item = &'a StreamId;
    type IntoIter = std::iter::Map<Iter<'a, ()>, fn((&'a StreamId, &'a ())) -> &'a StreamId>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, _)| k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn id(n: u64) -> StreamId {
        StreamId::new(n / 7, n % 7)
    }

    /// Random inserts, removes and lookups agree with a BTreeMap, and chunks keep their shape.
    #[test]
    fn matches_btreemap() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(14);
        for round in 0..40 {
            let span = [50u64, 300, 5000][round % 3];
            let mut m: IdMap<u64> = IdMap::new();
            let mut b: BTreeMap<StreamId, u64> = BTreeMap::new();
            for step in 0..4000u64 {
                let k = id(if round % 4 == 0 {
                    step
                } else {
                    rng.random_range(0..span)
                });
                match rng.random_range(0..10) {
                    0..=5 => assert_eq!(m.insert(k, step), b.insert(k, step)),
                    6..=7 => assert_eq!(m.remove(&k), b.remove(&k)),
                    8 => {
                        let (v, fresh) = m.get_or_insert_with(k, || step);
                        assert_eq!(fresh, !b.contains_key(&k));
                        assert_eq!(*v, *b.entry(k).or_insert(step));
                    }
                    _ => assert_eq!(m.get(&k), b.get(&k)),
                }
                assert_eq!(m.len(), b.len());
            }
            assert!(m
                .iter()
                .map(|(k, v)| (*k, *v))
                .eq(b.iter().map(|(k, v)| (*k, *v))));
            assert!(m.iter().rev().map(|(k, _)| *k).eq(b.keys().rev().copied()));
            assert_eq!(m.first_key(), b.keys().next());
            assert_eq!(m.last_key(), b.keys().next_back());
            let (lo, hi) = (id(span / 3), id(span / 2));
            assert!(m
                .range(lo..)
                .map(|(k, _)| *k)
                .eq(b.range(lo..).map(|(k, _)| *k)));
            assert!(m
                .range((Bound::Excluded(lo), Bound::Included(hi)))
                .map(|(k, _)| *k)
                .eq(b
                    .range((Bound::Excluded(lo), Bound::Included(hi)))
                    .map(|(k, _)| *k)));
            let mut prev: Option<StreamId> = None;
            for (key, chunk) in &m.chunks {
                assert!(!chunk.is_empty() && chunk.len() <= CHUNK);
                assert!(*key <= chunk[0].0);
                assert!(prev.is_none_or(|p| p < *key));
                prev = chunk.last().map(|e| e.0);
            }
        }
    }

    /// IDs added in order fill whole chunks.
    #[test]
    fn in_order_fills_chunks() {
        let mut s = IdSet::new();
        for n in 0..10 * CHUNK as u64 {
            assert!(s.insert(id(n)));
        }
        assert_eq!(s.0.chunks.len(), 10);
        assert!(s.0.chunks.values().all(|c| c.len() == CHUNK));
        assert!(!s.insert(id(3)));
        assert!(s.remove(&id(3)));
        assert!(!s.contains(&id(3)));
        assert_eq!(s.len(), 10 * CHUNK - 1);
    }
}
