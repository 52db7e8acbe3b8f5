//! The stream type (redis `t_stream.c`, `stream.h`): entries in nodes (listpacks holding a
//! master entry and delta-encoded entries, `node.rs`) kept in an ordered map by master ID, as
//! Redis keeps them in a radix tree; nodes close at `stream-node-max-bytes` /
//! `stream-node-max-entries`, so trimming with `~`, XINFO and the RDB encoding see the same
//! nodes Redis would have. Deletion flags entries (tombstones) and drops a node once it has no
//! live entry. Consumer groups are in `group.rs`.

pub mod group;
pub mod idmap;
pub mod lp;
pub mod node;

use std::collections::BTreeMap;

use bytes::Bytes;

pub use group::{Consumer, ConsumerName, Group, Nack};

/// A stream entry ID: milliseconds and sequence, ordered as a 128-bit number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The next ID (`streamIncrID`); None past the maximum.
    pub fn incr(self) -> Option<StreamId> {
        if self.seq == u64::MAX {
            if self.ms == u64::MAX {
                return None;
            }
            return Some(StreamId::new(self.ms + 1, 0));
        }
        Some(StreamId::new(self.ms, self.seq + 1))
    }

    /// The previous ID (`streamDecrID`); None before 0-0.
    pub fn decr(self) -> Option<StreamId> {
        if self.seq == 0 {
            if self.ms == 0 {
                return None;
            }
            return Some(StreamId::new(self.ms - 1, u64::MAX));
        }
        Some(StreamId::new(self.ms, self.seq - 1))
    }

    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    /// `<ms>-<seq>`.
    pub fn to_bytes(self) -> Bytes {
        let mut b = itoa::Buffer::new();
        let mut out = Vec::with_capacity(42);
        out.extend_from_slice(b.format(self.ms).as_bytes());
        out.push(b'-');
        out.extend_from_slice(b.format(self.seq).as_bytes());
        Bytes::from(out)
    }

    /// The 128-bit big-endian form (radix tree keys, RDB PELs).
    pub fn encode(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.ms.to_be_bytes());
        out[8..].copy_from_slice(&self.seq.to_be_bytes());
        out
    }

    pub fn decode(b: &[u8]) -> Option<StreamId> {
        let ms = u64::from_be_bytes(b.get(..8)?.try_into().ok()?);
        let seq = u64::from_be_bytes(b.get(8..16)?.try_into().ok()?);
        Some(StreamId::new(ms, seq))
    }

    /// `self - base`, component-wise with wrap-around (the delta stored in a node).
    fn delta_from(self, base: StreamId) -> StreamId {
        StreamId::new(
            self.ms.wrapping_sub(base.ms),
            self.seq.wrapping_sub(base.seq),
        )
    }
}

/// `entries_read` of a group whose counter is unknown (`SCG_INVALID_ENTRIES_READ`).
pub const INVALID_READ: i64 = -1;

/// Largest node (and largest entry) a stream accepts (`STREAM_LISTPACK_MAX_SIZE`).
const MAX_NODE_BYTES: usize = 1 << 30;

/// Why XADD could not add.
#[derive(Debug, PartialEq, Eq)]
pub enum AddError {
    /// The ID is not greater than the last one (or the sequence would overflow).
    NotGreater,
    /// The entry is too large for a node.
    TooLarge,
}

/// How to trim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

/// Node size limits, from `stream-node-max-bytes` and `stream-node-max-entries`.
#[derive(Debug, Clone, Copy)]
pub struct NodeLimits {
    pub max_bytes: usize,
    pub max_entries: i64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stream {
    /// Nodes by master ID.
    nodes: BTreeMap<StreamId, Vec<u8>>,
    pub length: u64,
    pub last_id: StreamId,
    /// The first live entry's ID (0-0 when empty).
    pub first_id: StreamId,
    pub max_deleted: StreamId,
    pub entries_added: u64,
    pub groups: BTreeMap<Bytes, Group>,
}

/// The entries of a range, in order or reversed.
pub struct Range<'a> {
    nodes: std::collections::btree_map::Range<'a, StreamId, Vec<u8>>,
    rev: bool,
    start: StreamId,
    end: StreamId,
    tombstones: bool,
    fwd: Option<node::Items<'a>>,
    back: Vec<node::Item<'a>>,
    done: bool,
}

impl<'a> Iterator for Range<'a> {
    type Item = node::Item<'a>;

    fn next(&mut self) -> Option<node::Item<'a>> {
        while !self.done {
            if !self.rev {
                if let Some(items) = &mut self.fwd {
                    for it in items.by_ref() {
                        if it.id < self.start || (!self.tombstones && it.deleted()) {
                            continue;
                        }
                        if it.id > self.end {
                            self.done = true;
                            return None;
                        }
                        return Some(it);
                    }
                }
                let (k, n) = self.nodes.next()?;
                self.fwd = Some(node::items(n, *k));
            } else {
                while let Some(it) = self.back.pop() {
                    if it.id > self.end || (!self.tombstones && it.deleted()) {
                        continue;
                    }
                    if it.id < self.start {
                        self.done = true;
                        return None;
                    }
                    return Some(it);
                }
                let (k, n) = self.nodes.next_back()?;
                self.back = node::items(n, *k).collect();
            }
        }
        None
    }
}

impl Stream {
    /// Live entries.
    pub fn len(&self) -> u64 {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Number of nodes (XINFO `radix-tree-keys`).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The nodes, by master ID (RDB).
    pub fn nodes(&self) -> impl Iterator<Item = (&StreamId, &Vec<u8>)> {
        self.nodes.iter()
    }

    /// Adds a node read from an RDB file (already validated). False if the key was taken.
    pub fn insert_node(&mut self, master: StreamId, node: Vec<u8>) -> bool {
        if self.nodes.contains_key(&master) {
            return false;
        }
        self.nodes.insert(master, node);
        true
    }

    /// Entries between `start` and `end` inclusive, skipping tombstones.
    pub fn range(&self, start: StreamId, end: StreamId, rev: bool) -> Range<'_> {
        self.range_with(start, end, rev, false)
    }

    fn range_with(&self, start: StreamId, end: StreamId, rev: bool, tombstones: bool) -> Range<'_> {
        let nodes = if rev {
            self.nodes.range(..=end)
        } else {
            match self.nodes.range(..=start).next_back() {
                Some((k, _)) => self.nodes.range(*k..),
                None => self.nodes.range(..),
            }
        };
        Range {
            nodes,
            rev,
            start,
            end,
            tombstones,
            fwd: None,
            back: Vec::new(),
            done: false,
        }
    }

    /// Whether a live entry has this ID.
    pub fn exists(&self, id: StreamId) -> bool {
        self.range(id, id, false).next().is_some()
    }

    /// The first or last entry ID (`streamGetEdgeID`); MAX (first) or MIN (last) if none.
    pub fn edge_id(&self, first: bool, skip_tombstones: bool) -> StreamId {
        match self
            .range_with(StreamId::MIN, StreamId::MAX, !first, !skip_tombstones)
            .next()
        {
            Some(it) => it.id,
            None if first => StreamId::MAX,
            None => StreamId::MIN,
        }
    }

    /// The last live entry's ID (`streamLastValidID`), 0-0 when empty.
    pub fn last_valid_id(&self) -> StreamId {
        self.range(StreamId::MIN, StreamId::MAX, true)
            .next()
            .map_or(StreamId::MIN, |it| it.id)
    }

    /// Adds an entry (`streamAppendItem`). `given` is an explicit ID and whether its sequence
    /// was given (`<ms>-*` lets the stream pick it); None generates one from `now_ms`.
    pub fn add(
        &mut self,
        pairs: &[Bytes],
        given: Option<(StreamId, bool)>,
        now_ms: u64,
        limits: NodeLimits,
    ) -> Result<StreamId, AddError> {
        let last = self.last_id;
        let id = match given {
            Some((id, true)) => id,
            Some((id, false)) if id.ms == last.ms => {
                if last.seq == u64::MAX {
                    // Redis fails here without setting errno, and reports the error below.
                    return Err(AddError::TooLarge);
                }
                StreamId::new(last.ms, last.seq + 1)
            }
            Some((id, false)) => id,
            None if now_ms > last.ms => StreamId::new(now_ms, 0),
            None => last.incr().unwrap_or(StreamId::MIN),
        };
        if id <= last {
            return Err(AddError::NotGreater);
        }
        let total: usize = pairs.iter().map(|p| p.len()).sum();
        if total > MAX_NODE_BYTES {
            return Err(AddError::TooLarge);
        }
        let max_bytes = if limits.max_bytes == 0 || limits.max_bytes > MAX_NODE_BYTES {
            MAX_NODE_BYTES
        } else {
            limits.max_bytes
        };
        let mut tail = self.nodes.last_entry();
        if let Some(t) = &mut tail {
            let n = t.get();
            let full = lp::bytes(n) + total >= max_bytes
                || (limits.max_entries != 0
                    && node::master(n).is_some_and(|m| m.count + m.deleted >= limits.max_entries));
            if full {
                t.get_mut().shrink_to_fit();
                tail = None;
            }
        }
        match tail {
            None => {
                self.nodes.insert(id, node::create(pairs));
            }
            Some(mut t) => {
                let master_id = *t.key();
                let n = t.get_mut();
                let Some(m) = node::master(n) else {
                    return Err(AddError::TooLarge);
                };
                let flags = if node::same_fields(n, &m, pairs) {
                    node::FLAG_SAMEFIELDS
                } else {
                    0
                };
                node::set_counts(n, m.count + 1, m.deleted);
                node::push_entry(n, flags, id.delta_from(master_id), pairs);
            }
        }
        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
        if self.length == 1 {
            self.first_id = id;
        }
        Ok(id)
    }

    /// Flags the live entry `id` deleted (`streamDeleteItem`); false if there is none. Does
    /// not update `first_id` / `max_deleted` (XDEL does).
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some((&master_id, n)) = self.nodes.range(..=id).next_back() else {
            return false;
        };
        let Some(flags_at) = node::items(n, master_id)
            .find(|it| it.id == id && !it.deleted())
            .map(|it| (it.flags_at, it.flags))
        else {
            return false;
        };
        let Some(m) = node::master(n) else {
            return false;
        };
        if m.count == 1 {
            self.nodes.remove(&master_id);
        } else if let Some(n) = self.nodes.get_mut(&master_id) {
            lp::replace_int(n, flags_at.0, flags_at.1 | node::FLAG_DELETED);
            node::set_counts(n, m.count - 1, m.deleted + 1);
        }
        self.length -= 1;
        true
    }

    /// XDEL: deletes the given entries, keeping `first_id` and `max_deleted` up to date.
    pub fn delete_ids(&mut self, ids: &[StreamId]) -> u64 {
        let mut deleted = 0;
        let mut first_gone = false;
        for &id in ids {
            if self.delete(id) {
                first_gone |= id == self.first_id;
                if id > self.max_deleted {
                    self.max_deleted = id;
                }
                deleted += 1;
            }
        }
        if deleted > 0 {
            if self.length == 0 {
                self.first_id = StreamId::MIN;
            } else if first_gone {
                self.first_id = self.edge_id(true, true);
            }
        }
        deleted
    }

    /// Trims from the head (`streamTrim`): whole nodes, then (unless `approx`) entries of the
    /// first node that must go. `limit` caps the entries removed (0: no cap). Returns how many
    /// entries were removed.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: u64) -> u64 {
        let mut deleted: u64 = 0;
        loop {
            if let Trim::MaxLen(max) = how {
                if self.length <= max {
                    break;
                }
            }
            let Some(mut first) = self.nodes.first_entry() else {
                break;
            };
            let master_id = *first.key();
            let Some(m) = node::master(first.get()) else {
                break;
            };
            let entries = m.count as u64;
            if limit != 0 && deleted + entries > limit {
                break;
            }
            let remove_node = match how {
                Trim::MaxLen(max) => self.length - entries >= max,
                Trim::MinId(min) => node::items(first.get(), master_id)
                    .last()
                    .is_some_and(|it| it.id < min),
            };
            if remove_node {
                first.remove();
                self.length -= entries;
                deleted += entries;
                continue;
            }
            if approx {
                break;
            }
            // Flag the entries of this node that must go.
            let doomed: Vec<(usize, i64)> = {
                let mut out = Vec::new();
                let mut length = self.length;
                for it in node::items(first.get(), master_id) {
                    let stop = match how {
                        Trim::MaxLen(max) => length <= max,
                        Trim::MinId(min) => it.id >= min,
                    };
                    if stop {
                        break;
                    }
                    if !it.deleted() {
                        out.push((it.flags_at, it.flags));
                        length -= 1;
                    }
                }
                out
            };
            let n = first.get_mut();
            // Flags are one-byte integers before and after: positions do not move.
            for &(at, flags) in &doomed {
                lp::replace_int(n, at, flags | node::FLAG_DELETED);
            }
            let gone = doomed.len() as i64;
            node::set_counts(n, m.count - gone, m.deleted + gone);
            self.length -= gone as u64;
            deleted += gone as u64;
            break;
        }
        if self.length == 0 {
            self.first_id = StreamId::MIN;
        } else if deleted > 0 {
            self.first_id = self.edge_id(true, true);
        }
        deleted
    }

    /// Whether `start..=end` (None: open) may hold a tombstone (`streamRangeHasTombstones`).
    pub fn range_has_tombstones(&self, start: Option<StreamId>, end: Option<StreamId>) -> bool {
        if self.length == 0 || self.max_deleted.is_zero() || self.first_id > self.max_deleted {
            return false;
        }
        let start = start.unwrap_or(StreamId::MIN);
        let end = end.unwrap_or(StreamId::MAX);
        start <= self.max_deleted && self.max_deleted <= end
    }

    /// The number of entries added before `id` (its logical read counter), if it can be
    /// known (`streamEstimateDistanceFromFirstEverEntry`); `INVALID_READ` otherwise.
    pub fn estimate_distance(&self, id: StreamId) -> i64 {
        if self.entries_added == 0 {
            return 0;
        }
        if self.length == 0 && id <= self.last_id {
            return self.entries_added as i64;
        }
        if id == self.last_id {
            return self.entries_added as i64;
        }
        if id > self.last_id {
            return INVALID_READ;
        }
        if self.max_deleted.is_zero() || self.max_deleted < self.first_id {
            if id < self.first_id {
                return (self.entries_added - self.length) as i64;
            }
            if id == self.first_id {
                return (self.entries_added - self.length + 1) as i64;
            }
        }
        INVALID_READ
    }

    /// A group's lag (`streamReplyWithCGLag`): None when it cannot be known.
    pub fn lag(&self, g: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != INVALID_READ && !self.range_has_tombstones(Some(g.last_id), None) {
            return Some(self.entries_added as i64 - g.entries_read);
        }
        let read = self.estimate_distance(g.last_id);
        (read != INVALID_READ).then(|| self.entries_added as i64 - read)
    }

    /// Nodes of the radix tree Redis would hold for the node keys (XINFO `radix-tree-nodes`).
    pub fn rax_nodes(&self) -> usize {
        rax_nodes(self.nodes.keys().copied())
    }

    /// Allocated bytes of each node's listpack, in order (MEMORY USAGE samples them).
    pub fn node_capacities(&self) -> impl Iterator<Item = usize> + '_ {
        self.nodes.values().map(|n| n.capacity())
    }
}

/// The number of nodes of the radix tree Redis builds for these IDs as keys (sorted): the
/// root, one node per key, per branching prefix and per child of a branching prefix.
pub fn rax_nodes(ids: impl Iterator<Item = StreamId>) -> usize {
    let keys: Vec<[u8; 16]> = ids.map(StreamId::encode).collect();
    if keys.is_empty() {
        return 1;
    }
    let mut prefixes: std::collections::HashSet<&[u8]> = std::collections::HashSet::new();
    prefixes.insert(&[]);
    for k in &keys {
        prefixes.insert(&k[..]);
    }
    for w in keys.windows(2) {
        let lcp = w[0].iter().zip(&w[1]).take_while(|(a, b)| a == b).count();
        prefixes.insert(&w[0][..lcp]);
        prefixes.insert(&w[0][..lcp + 1]);
        prefixes.insert(&w[1][..lcp + 1]);
    }
    prefixes.len()
}
