//! Sorted set values, in Redis's two encodings:
//! - `listpack`: one packed buffer of entries ordered by (score, member), searched linearly, while
//!   the set has at most `zset-max-listpack-entries` members of at most `zset-max-listpack-value`
//!   bytes (each entry: the score as a varint when integral, else 8 bytes of double, then the
//!   member length as LEB128 and the member bytes);
//! - `skiplist`: a member → score map plus an order-statistics index (`index::OrderIndex`), so
//!   lookups, ranks, inserts and removals are O(log n).
//!
//! Conversion is one-way (listpack → skiplist), when an add crosses a threshold, as in Redis.
//! Like Redis's listpack, which stores integral scores as integers, the listpack form keeps no
//! negative zero: `-0` is stored as `0`.

mod index;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

pub use index::cmp_key;
use index::{Node, OrderIndex};

use super::hash::LISTPACK_SAFETY_BYTES;
use super::limits::EncodingLimits;
use super::packed::Packed;
use super::varint;

type Dict = HashMap<Arc<[u8]>, f64, foldhash::fast::RandomState>;

/// The packed small form.
#[derive(Debug, Clone, Default)]
pub struct Listpack {
    buf: Packed,
    /// Number of entries.
    len: u32,
}

/// The large form: member → score, and the (score, member) order.
#[derive(Debug, Clone, Default)]
pub struct Skiplist {
    dict: Dict,
    order: OrderIndex,
}

#[derive(Debug, Clone)]
pub enum ZSet {
    Listpack(Listpack),
    Skiplist(Box<Skiplist>),
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet::Listpack(Listpack::default())
    }
}

// ---------------------------------------------------------------------------------------------
// Listpack

/// Integral scores below 2^53 in magnitude are stored as a zigzag varint shifted left by one
/// (an even header); anything else as the header 1 followed by the 8 bytes of the double.
const RAW_SCORE: u64 = 1;
const EXACT_INT: f64 = (1u64 << 53) as f64;

fn score_header(score: f64) -> u64 {
    if score.fract() == 0.0 && score.abs() < EXACT_INT {
        let n = score as i64;
        (((n << 1) ^ (n >> 63)) as u64) << 1
    } else {
        RAW_SCORE
    }
}

/// Decodes the entry at `off`: (score, member, offset of the next entry).
fn entry_at(buf: &[u8], off: usize) -> Option<(f64, &[u8], usize)> {
    let (header, mut p) = varint::read(buf, off)?;
    let score = if header == RAW_SCORE {
        let bytes: [u8; 8] = buf.get(p..p.checked_add(8)?)?.try_into().ok()?;
        p += 8;
        f64::from_le_bytes(bytes)
    } else {
        let zz = header >> 1;
        (((zz >> 1) as i64) ^ -((zz & 1) as i64)) as f64
    };
    let (len, p) = varint::read(buf, p)?;
    let end = p.checked_add(usize::try_from(len).ok()?)?;
    let member = buf.get(p..end)?;
    Some((score, member, end))
}

/// Writes one entry at the start of `out` (at least `entry_size` long); returns its size.
/// Negative zero is stored as zero, as Redis's listpack stores integral scores as integers.
fn encode_entry(out: &mut [u8], score: f64, member: &[u8]) -> usize {
    let header = score_header(score);
    let mut p = varint::write(out, header);
    if header == RAW_SCORE {
        out[p..p + 8].copy_from_slice(&score.to_le_bytes());
        p += 8;
    }
    p += varint::write(&mut out[p..], member.len() as u64);
    out[p..p + member.len()].copy_from_slice(member);
    p + member.len()
}

fn entry_size(score: f64, member_len: usize) -> usize {
    let header = score_header(score);
    let score_len = varint::len(header) + if header == RAW_SCORE { 8 } else { 0 };
    score_len + varint::len(member_len as u64) + member_len
}

/// Forward iterator over a listpack: (byte offset, score, member).
#[derive(Clone)]
pub struct LpIter<'a> {
    buf: &'a [u8],
    off: usize,
}

impl<'a> Iterator for LpIter<'a> {
    type Item = (usize, f64, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let at = self.off;
        let (score, member, next) = entry_at(self.buf, at)?;
        self.off = next;
        Some((at, score, member))
    }
}

impl Listpack {
    fn iter(&self) -> LpIter<'_> {
        LpIter {
            buf: &self.buf,
            off: 0,
        }
    }

    fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether an entry of `more` bytes keeps the buffer under `LISTPACK_SAFETY_BYTES`.
    fn safe_to_add(&self, more: usize) -> bool {
        self.buf.len() + more <= LISTPACK_SAFETY_BYTES
    }

    /// (offset, score) of `member`.
    fn find(&self, member: &[u8]) -> Option<(usize, f64)> {
        self.iter()
            .find(|(_, _, m)| *m == member)
            .map(|(off, s, _)| (off, s))
    }

    /// Inserts `member` at its place in (score, member) order; it must not be present.
    fn insert(&mut self, score: f64, member: &[u8]) {
        let at = self
            .iter()
            .find(|(_, s, m)| cmp_key(*s, m, score, member).is_gt())
            .map_or(self.buf.len(), |(off, _, _)| off);
        self.buf
            .splice_with(at..at, entry_size(score, member.len()), |gap| {
                encode_entry(gap, score, member);
            });
        self.len += 1;
    }

    fn remove_at(&mut self, off: usize) {
        if let Some((_, _, next)) = entry_at(&self.buf, off) {
            self.buf.remove(off..next);
            self.len -= 1;
        }
    }

    /// Removes the entries of ranks `start..end`; returns how many were removed.
    fn remove_ranks(&mut self, start: usize, end: usize) -> usize {
        let end = end.min(self.len());
        if start >= end {
            return 0;
        }
        let mut from = None;
        let mut to = self.buf.len();
        for (i, (off, _, _)) in self.iter().enumerate() {
            if i == start {
                from = Some(off);
            }
            if i == end {
                to = off;
                break;
            }
        }
        let Some(from) = from else { return 0 };
        let n = end - start;
        self.buf.remove(from..to);
        self.len -= n as u32;
        n
    }

    /// Byte offsets of every entry, for walking backwards.
    fn offsets(&self) -> Vec<usize> {
        self.iter().map(|(off, _, _)| off).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Skiplist

impl Skiplist {
    fn insert_new(&mut self, score: f64, member: &[u8]) {
        let member: Arc<[u8]> = Arc::from(member);
        self.dict.insert(member.clone(), score);
        self.order.insert(Node { score, member });
    }

    fn set(&mut self, member: &[u8], score: f64) -> Option<f64> {
        match self.dict.get_mut(member) {
            Some(cur) => {
                let old = *cur;
                if old != score {
                    *cur = score;
                    if let Some(mut node) = self.order.remove(old, member) {
                        node.score = score;
                        self.order.insert(node);
                    }
                }
                Some(old)
            }
            None => {
                self.insert_new(score, member);
                None
            }
        }
    }

    fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let score = self.dict.remove(member)?;
        self.order.remove(score, member);
        self.shrink();
        Some(score)
    }

    fn shrink(&mut self) {
        // Redis resizes its dict when it is under 10% full (htNeedsResize).
        if self.dict.capacity() > 64 && self.dict.len() * 10 < self.dict.capacity() {
            self.dict.shrink_to_fit();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ZSet

/// An entry seen while walking: (member, score).
pub type Item<'a> = (&'a [u8], f64);

impl ZSet {
    /// An empty set in the encoding Redis gives a new key that receives `first_member`
    /// (ZADD, ZINCRBY): skiplist when listpacks are disabled or the member is too long.
    pub fn for_first_member(first_member: &[u8], limits: &EncodingLimits) -> ZSet {
        if limits.zset_max_listpack_entries == 0
            || first_member.len() > limits.zset_max_listpack_value
        {
            ZSet::Skiplist(Box::default())
        } else {
            ZSet::default()
        }
    }

    /// Builds a set from (member, score) pairs, in the encoding Redis gives a computed result
    /// (ZUNIONSTORE, ZRANGESTORE, RDB load ...): listpack when it fits. Pairs already sorted by
    /// (score, member) cost O(n); others are sorted first. A member given twice keeps the score
    /// that sorts first. Scores must not be NaN.
    pub fn from_sorted(mut items: Vec<(Bytes, f64)>, limits: &EncodingLimits) -> ZSet {
        if !items.is_sorted_by(|a, b| cmp_key(a.1, &a.0, b.1, &b.0).is_le()) {
            items.sort_by(|a, b| cmp_key(a.1, &a.0, b.1, &b.0));
        }
        let mut dict = Dict::with_capacity_and_hasher(items.len(), Default::default());
        let mut nodes = Vec::with_capacity(items.len());
        for (m, score) in &items {
            let member: Arc<[u8]> = Arc::from(&m[..]);
            if dict.contains_key(&member) {
                continue;
            }
            dict.insert(member.clone(), *score);
            nodes.push(Node {
                score: *score,
                member,
            });
        }
        let size: usize = nodes
            .iter()
            .map(|n| entry_size(n.score, n.member.len()))
            .sum();
        let fits = nodes.len() <= limits.zset_max_listpack_entries
            && size <= LISTPACK_SAFETY_BYTES
            && nodes
                .iter()
                .all(|n| n.member.len() <= limits.zset_max_listpack_value);
        if !fits {
            return ZSet::Skiplist(Box::new(Skiplist {
                dict,
                order: OrderIndex::from_sorted(nodes),
            }));
        }
        let mut buf = Packed::new();
        buf.splice_with(0..0, size, |out| {
            let mut p = 0;
            for n in &nodes {
                p += encode_entry(&mut out[p..], n.score, &n.member);
            }
        });
        ZSet::Listpack(Listpack {
            buf,
            len: nodes.len() as u32,
        })
    }

    pub fn len(&self) -> usize {
        match self {
            ZSet::Listpack(lp) => lp.len(),
            ZSet::Skiplist(sl) => sl.order.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            ZSet::Listpack(_) => "listpack",
            ZSet::Skiplist(_) => "skiplist",
        }
    }

    pub fn is_listpack(&self) -> bool {
        matches!(self, ZSet::Listpack(_))
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Listpack(lp) => lp.find(member).map(|(_, s)| s),
            ZSet::Skiplist(sl) => sl.dict.get(member).copied(),
        }
    }

    /// 0-based rank of `member` in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match self {
            ZSet::Listpack(lp) => lp.iter().position(|(_, _, m)| m == member),
            ZSet::Skiplist(sl) => {
                let score = *sl.dict.get(member)?;
                sl.order.rank(score, member)
            }
        }
    }

    /// Converts to the skiplist encoding (one-way).
    fn convert(&mut self) {
        if let ZSet::Listpack(lp) = self {
            let mut dict = Dict::with_capacity_and_hasher(lp.len() + 1, Default::default());
            let mut nodes = Vec::with_capacity(lp.len() + 1);
            for (_, score, m) in lp.iter() {
                let member: Arc<[u8]> = Arc::from(m);
                dict.insert(member.clone(), score);
                nodes.push(Node { score, member });
            }
            *self = ZSet::Skiplist(Box::new(Skiplist {
                dict,
                order: OrderIndex::from_sorted(nodes),
            }));
        }
    }

    /// Sets the score of `member`, adding it if missing (converting to skiplist first when
    /// the new member crosses a threshold, as redis `zsetAdd`). Returns the previous score.
    pub fn insert(&mut self, member: &[u8], score: f64, limits: &EncodingLimits) -> Option<f64> {
        match self {
            ZSet::Listpack(lp) => match lp.find(member) {
                Some((off, old)) => {
                    if old != score {
                        lp.remove_at(off);
                        lp.insert(score, member);
                    }
                    return Some(old);
                }
                None => {
                    if lp.len() < limits.zset_max_listpack_entries
                        && member.len() <= limits.zset_max_listpack_value
                        && lp.safe_to_add(entry_size(score, member.len()))
                    {
                        lp.insert(score, member);
                        return None;
                    }
                }
            },
            ZSet::Skiplist(sl) => return sl.set(member, score),
        }
        self.convert();
        match self {
            ZSet::Skiplist(sl) => sl.set(member, score),
            ZSet::Listpack(_) => None,
        }
    }

    /// Removes `member`; returns its score if it was present.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Listpack(lp) => {
                let (off, score) = lp.find(member)?;
                lp.remove_at(off);
                Some(score)
            }
            ZSet::Skiplist(sl) => sl.remove(member),
        }
    }

    /// The entry of 0-based ascending rank `rank`.
    pub fn get(&self, rank: usize) -> Option<Item<'_>> {
        match self {
            ZSet::Listpack(lp) => lp.iter().nth(rank).map(|(_, s, m)| (m, s)),
            ZSet::Skiplist(sl) => sl.order.get(rank).map(|n| (&n.member[..], n.score)),
        }
    }

    /// Entries from rank `start` (ascending rank), walking up, or down when `rev`.
    pub fn iter_from(&self, start: usize, rev: bool) -> Iter<'_> {
        match self {
            ZSet::Listpack(lp) => {
                if rev {
                    let mut offs = if start < lp.len() {
                        lp.offsets()
                    } else {
                        Vec::new()
                    };
                    offs.truncate(start.saturating_add(1));
                    Iter::LpRev(&lp.buf, offs)
                } else {
                    let mut it = lp.iter();
                    if start > 0 {
                        it.nth(start - 1);
                    }
                    Iter::Lp(it)
                }
            }
            ZSet::Skiplist(sl) => Iter::Sl(sl.order.iter_from(start, rev)),
        }
    }

    /// All entries in ascending order.
    pub fn iter(&self) -> Iter<'_> {
        self.iter_from(0, false)
    }

    /// All entries in descending order.
    pub fn iter_desc(&self) -> Iter<'_> {
        self.iter_from(self.len().saturating_sub(1), true)
    }

    /// Rank of the first entry (from the lowest) for which `pred` holds. Listpack: a linear
    /// scan, as redis `zzlFirstInRange`; skiplist: a search that assumes `pred` is monotone
    /// (false, then true), as the skiplist descent does.
    pub fn first_where(&self, mut pred: impl FnMut(Item<'_>) -> bool) -> Option<usize> {
        match self {
            ZSet::Listpack(lp) => lp.iter().position(|(_, s, m)| pred((m, s))),
            ZSet::Skiplist(sl) => {
                let r = sl.order.partition_point(|n| !pred((&n.member, n.score)));
                (r < sl.order.len()).then_some(r)
            }
        }
    }

    /// Rank of the first entry from the highest for which `pred` holds (listpack: linear scan
    /// from the end; skiplist: assumes `pred` is true, then false).
    pub fn last_where(&self, mut pred: impl FnMut(Item<'_>) -> bool) -> Option<usize> {
        match self {
            ZSet::Listpack(lp) => {
                let all: Vec<(f64, &[u8])> = lp.iter().map(|(_, s, m)| (s, m)).collect();
                all.iter().rposition(|(s, m)| pred((m, *s)))
            }
            ZSet::Skiplist(sl) => {
                let r = sl.order.partition_point(|n| pred((&n.member, n.score)));
                r.checked_sub(1)
            }
        }
    }

    /// Removes the entries of ranks `start..=end` (clamped); returns how many were removed.
    pub fn remove_range(&mut self, start: usize, end: usize) -> usize {
        if start > end || start >= self.len() {
            return 0;
        }
        let end = end.min(self.len() - 1);
        match self {
            ZSet::Listpack(lp) => lp.remove_ranks(start, end + 1),
            ZSet::Skiplist(sl) => {
                let removed = sl.order.remove_range(start, end + 1);
                for n in &removed {
                    sl.dict.remove(&n.member[..]);
                }
                sl.shrink();
                removed.len()
            }
        }
    }

    /// Removes and returns the lowest (or, with `max`, the highest) entry.
    pub fn pop(&mut self, max: bool) -> Option<(Bytes, f64)> {
        let len = self.len();
        if len == 0 {
            return None;
        }
        let rank = if max { len - 1 } else { 0 };
        match self {
            ZSet::Listpack(lp) => {
                let (off, score, m) = lp.iter().nth(rank)?;
                let member = Bytes::copy_from_slice(m);
                lp.remove_at(off);
                Some((member, score))
            }
            ZSet::Skiplist(sl) => {
                let node = sl.order.remove_at(rank)?;
                sl.dict.remove(&node.member[..]);
                sl.shrink();
                Some((Bytes::copy_from_slice(&node.member), node.score))
            }
        }
    }

    /// Approximate heap bytes used (MEMORY USAGE).
    pub fn heap_size(&self) -> usize {
        match self {
            ZSet::Listpack(lp) => lp.buf.heap_bytes(),
            ZSet::Skiplist(sl) => {
                let members: usize = sl.dict.keys().map(|m| m.len() + 16).sum();
                sl.dict.capacity() * (16 + 8 + 1) + sl.order.len() * 24 + members
            }
        }
    }
}

/// Walks a sorted set: (member, score).
pub enum Iter<'a> {
    Lp(LpIter<'a>),
    LpRev(&'a [u8], Vec<usize>),
    Sl(index::Iter<'a>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = Item<'a>;

    fn next(&mut self) -> Option<Item<'a>> {
        match self {
            Iter::Lp(it) => it.next().map(|(_, s, m)| (m, s)),
            Iter::LpRev(buf, offs) => {
                let off = offs.pop()?;
                entry_at(buf, off).map(|(s, m, _)| (m, s))
            }
            Iter::Sl(it) => it.next().map(|n| (&n.member[..], n.score)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(entries: usize, value: usize) -> EncodingLimits {
        EncodingLimits {
            zset_max_listpack_entries: entries,
            zset_max_listpack_value: value,
            ..EncodingLimits::default()
        }
    }

    fn items(z: &ZSet) -> Vec<(Vec<u8>, f64)> {
        z.iter().map(|(m, s)| (m.to_vec(), s)).collect()
    }

    #[test]
    fn listpack_order_and_updates() {
        let l = limits(128, 64);
        let mut z = ZSet::default();
        assert_eq!(z.insert(b"b", 2.0, &l), None);
        assert_eq!(z.insert(b"a", 2.0, &l), None);
        assert_eq!(z.insert(b"c", 1.0, &l), None);
        assert_eq!(z.insert(b"c", 3.0, &l), Some(1.0));
        assert_eq!(
            items(&z),
            vec![
                (b"a".to_vec(), 2.0),
                (b"b".to_vec(), 2.0),
                (b"c".to_vec(), 3.0)
            ]
        );
        assert_eq!(z.rank(b"c"), Some(2));
        assert_eq!(z.score(b"zz"), None);
        assert_eq!(z.encoding(), "listpack");
        let rev: Vec<_> = z.iter_desc().map(|(m, _)| m.to_vec()).collect();
        assert_eq!(rev, vec![b"c".to_vec(), b"b".to_vec(), b"a".to_vec()]);
        let from1: Vec<_> = z.iter_from(1, false).map(|(m, _)| m.to_vec()).collect();
        assert_eq!(from1, vec![b"b".to_vec(), b"c".to_vec()]);
        assert_eq!(z.iter_from(3, true).count(), 0);
        assert_eq!(z.iter_from(3, false).count(), 0);
        assert_eq!(z.remove(b"b"), Some(2.0));
        assert_eq!(z.len(), 2);
        assert_eq!(z.pop(true), Some((Bytes::from_static(b"c"), 3.0)));
        assert_eq!(z.pop(false), Some((Bytes::from_static(b"a"), 2.0)));
        assert!(z.is_empty());
        assert_eq!(z.pop(false), None);
    }

    #[test]
    fn scores_round_trip_in_listpack() {
        let l = limits(1000, 64);
        let mut z = ZSet::default();
        let scores = [
            0.0,
            1.0,
            -1.0,
            63.0,
            -64.0,
            1e15,
            -9007199254740991.0,
            9007199254740992.0,
            1.5,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE / 4.0,
            -1e300,
        ];
        for (i, s) in scores.iter().enumerate() {
            z.insert(format!("m{i}").as_bytes(), *s, &l);
        }
        for (i, s) in scores.iter().enumerate() {
            assert_eq!(z.score(format!("m{i}").as_bytes()), Some(*s));
        }
        let ZSet::Listpack(lp) = &z else {
            panic!("listpack expected")
        };
        let computed: usize = lp.iter().map(|(_, s, m)| entry_size(s, m.len())).sum();
        assert_eq!(computed, lp.buf.len());
    }

    #[test]
    fn from_sorted_repairs_order_and_duplicates() {
        let l = limits(128, 64);
        let b = |s: &'static str| Bytes::from_static(s.as_bytes());
        let pairs = vec![(b("b"), -0.0), (b("a"), 0.0), (b("c"), -1.0), (b("a"), 5.0)];
        for lim in [l, limits(0, 0)] {
            let z = ZSet::from_sorted(pairs.clone(), &lim);
            let got: Vec<_> = z.iter().map(|(m, _)| m.to_vec()).collect();
            assert_eq!(got, vec![b"c".to_vec(), b"a".to_vec(), b"b".to_vec()]);
            assert_eq!(z.len(), 3);
            assert_eq!(z.score(b"a"), Some(0.0));
            assert_eq!(z.rank(b"b"), Some(2));
        }
    }

    #[test]
    fn long_members_use_multibyte_lengths() {
        let l = limits(128, 100_000);
        let mut z = ZSet::default();
        let long = vec![b'x'; 70_000];
        z.insert(&long, 1.0, &l);
        z.insert(b"a", 2.0, &l);
        assert_eq!(z.score(&long), Some(1.0));
        assert_eq!(z.get(1), Some((&b"a"[..], 2.0)));
        assert_eq!(z.remove_range(0, 0), 1);
        assert_eq!(z.len(), 1);
    }

    #[test]
    fn negative_zero_is_flattened_in_listpack_only() {
        let l = limits(128, 64);
        let mut z = ZSet::default();
        z.insert(b"a", -0.0, &l);
        assert!(z.score(b"a").is_some_and(|s| s.is_sign_positive()));
        let mut big = ZSet::for_first_member(&[b'x'; 100], &l);
        big.insert(b"a", -0.0, &l);
        assert!(big.score(b"a").is_some_and(|s| s.is_sign_negative()));
    }

    #[test]
    fn converts_on_thresholds() {
        let l = limits(3, 5);
        let mut z = ZSet::default();
        for (i, m) in [b"a", b"b", b"c"].iter().enumerate() {
            z.insert(*m, i as f64, &l);
        }
        assert_eq!(z.encoding(), "listpack");
        z.insert(b"d", 0.5, &l);
        assert_eq!(z.encoding(), "skiplist");
        assert_eq!(z.rank(b"d"), Some(1));
        let mut y = ZSet::default();
        y.insert(b"abcdef", 1.0, &l);
        assert_eq!(y.encoding(), "skiplist");
        let r = ZSet::from_sorted(vec![(Bytes::from_static(b"x"), 1.0)], &l);
        assert_eq!(r.encoding(), "listpack");
        let r = ZSet::from_sorted(vec![(Bytes::from_static(b"xxxxxx"), 1.0)], &l);
        assert_eq!(r.encoding(), "skiplist");
    }

    #[test]
    fn skiplist_matches_listpack() {
        let small = limits(100_000, 1000);
        let big = limits(0, 0);
        let mut a = ZSet::default();
        let mut b = ZSet::for_first_member(b"", &big);
        let mut x: u64 = 7;
        for i in 0..3000u64 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            let m = format!("k{}", (x >> 40) % 500);
            let s = ((x >> 20) % 50) as f64;
            if i % 4 == 3 {
                assert_eq!(a.remove(m.as_bytes()), b.remove(m.as_bytes()));
            } else {
                assert_eq!(
                    a.insert(m.as_bytes(), s, &small),
                    b.insert(m.as_bytes(), s, &big)
                );
            }
        }
        assert_eq!(b.encoding(), "skiplist");
        assert_eq!(items(&a), items(&b));
        for r in [0, 5, a.len() / 2, a.len() - 1] {
            let fa: Vec<_> = a.iter_from(r, true).map(|(m, s)| (m.to_vec(), s)).collect();
            let fb: Vec<_> = b.iter_from(r, true).map(|(m, s)| (m.to_vec(), s)).collect();
            assert_eq!(fa, fb);
            assert_eq!(a.get(r), b.get(r));
            let (m, _) = a.get(r).unwrap_or((b"", 0.0));
            assert_eq!(a.rank(m), b.rank(m));
        }
        assert_eq!(
            a.first_where(|(_, s)| s >= 10.0),
            b.first_where(|(_, s)| s >= 10.0)
        );
        assert_eq!(
            a.last_where(|(_, s)| s <= 10.0),
            b.last_where(|(_, s)| s <= 10.0)
        );
        assert_eq!(a.remove_range(3, 40), b.remove_range(3, 40));
        assert_eq!(items(&a), items(&b));
        while let Some(p) = a.pop(true) {
            assert_eq!(Some(p), b.pop(true));
        }
        assert!(b.is_empty());
    }
}
