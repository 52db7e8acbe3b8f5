//! Set values, in Redis 7.0's two encodings:
//! - `intset`: a sorted packed buffer (`Packed`) of integers, while every member is an integer in canonical form
//!   (redis `string2ll`) and the set has at most `set-max-intset-entries` members (capped at 2^30
//!   as in redis `setTypeAdd`); iteration is ascending, as Redis's;
//! - `hashtable`: a `DenseMap` of members to `()`, in insertion order until a removal; its order
//!   is only ever exposed where Redis's order is unspecified.
//!
//! Conversion is one-way (intset → hashtable). Removal from the table is `swap_remove`, which
//! moves only the last member: `scan` relies on that (see `hash::scan_window`).

use bytes::Bytes;

use super::compact::Compact;
use super::dense::DenseMap;
use super::hash::scan_window;
use super::limits::EncodingLimits;
use super::packed::Packed;

pub type Members = DenseMap<()>;

/// Redis caps the intset size whatever `set-max-intset-entries` says.
const INTSET_HARD_LIMIT: usize = 1 << 30;

/// Redis's `intset`: sorted integers packed at the narrowest width (2, 4 or 8 bytes,
/// little-endian) that holds them all; the width only grows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Intset {
    data: Packed,
    /// Bytes per element: 2, 4 or 8 (0 while empty and never written).
    width: u8,
}

fn width_of(v: i64) -> u8 {
    if i16::try_from(v).is_ok() {
        2
    } else if i32::try_from(v).is_ok() {
        4
    } else {
        8
    }
}

impl Intset {
    fn width(&self) -> u8 {
        self.width
    }

    pub fn len(&self) -> usize {
        match self.width() {
            0 => 0,
            w => self.data.len() / w as usize,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, i: usize) -> Option<i64> {
        let w = self.width() as usize;
        let b = self.data.get(i.checked_mul(w)?..(i + 1).checked_mul(w)?)?;
        Some(match w {
            2 => i64::from(i16::from_le_bytes([b[0], b[1]])),
            4 => i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            _ => i64::from_le_bytes(b.try_into().ok()?),
        })
    }

    /// `Ok(position)` if present, else `Err(insertion position)`.
    pub fn search(&self, v: i64) -> Result<usize, usize> {
        if width_of(v) > self.width() {
            // Outside the range of every stored value: before or after all of them.
            return Err(if v < 0 { 0 } else { self.len() });
        }
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.get(mid).map(|x| x.cmp(&v)) {
                Some(std::cmp::Ordering::Less) => lo = mid + 1,
                Some(std::cmp::Ordering::Greater) => hi = mid,
                _ => return Ok(mid),
            }
        }
        Err(lo)
    }

    pub fn contains(&self, v: i64) -> bool {
        self.search(v).is_ok()
    }

    fn encode(v: i64, w: u8) -> ([u8; 8], usize) {
        let mut out = [0u8; 8];
        match w {
            2 => out[..2].copy_from_slice(&(v as i16).to_le_bytes()),
            4 => out[..4].copy_from_slice(&(v as i32).to_le_bytes()),
            _ => out.copy_from_slice(&v.to_le_bytes()),
        }
        (out, w as usize)
    }

    /// Inserts `v` at `pos` (from `search`), widening every element first if needed. The
    /// buffer grows to the exact size, as redis's intset does.
    pub fn insert(&mut self, pos: usize, v: i64) {
        let need = width_of(v);
        if need > self.width() {
            let mut data = Vec::with_capacity((self.len() + 1) * need as usize);
            for x in self.iter() {
                let (b, n) = Self::encode(x, need);
                data.extend_from_slice(&b[..n]);
            }
            self.data = Packed::from_slice(&data);
            self.width = need;
        }
        let (b, n) = Self::encode(v, self.width());
        let at = pos * n;
        self.data.splice(at..at, &b[..n]);
    }

    pub fn remove(&mut self, pos: usize) -> Option<i64> {
        let v = self.get(pos)?;
        let w = self.width() as usize;
        self.data.remove(pos * w..(pos + 1) * w);
        Some(v)
    }

    /// Keeps the elements whose position is not marked in `drop`.
    pub fn remove_marked(&mut self, drop: &[bool]) {
        let w = self.width() as usize;
        if w == 0 {
            return;
        }
        let mut out = Vec::with_capacity(self.data.len());
        for (i, chunk) in self.data.chunks_exact(w).enumerate() {
            if !drop.get(i).copied().unwrap_or(false) {
                out.extend_from_slice(chunk);
            }
        }
        self.data = Packed::from_slice(&out);
    }

    pub fn iter(&self) -> IntsetIter<'_> {
        IntsetIter { set: self, pos: 0 }
    }

    pub fn heap_bytes(&self) -> usize {
        self.data.heap_bytes()
    }
}

/// Iterates an intset in ascending order.
pub struct IntsetIter<'a> {
    set: &'a Intset,
    pos: usize,
}

impl Iterator for IntsetIter<'_> {
    type Item = i64;

    fn next(&mut self) -> Option<i64> {
        let v = self.set.get(self.pos)?;
        self.pos += 1;
        Some(v)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.set.len().saturating_sub(self.pos);
        (n, Some(n))
    }
}

#[derive(Debug, Clone)]
pub enum Set {
    Intset(Intset),
    /// Boxed: a `Value` stays as small as its smallest encodings need.
    Table(Box<Members>),
}

impl Default for Set {
    fn default() -> Self {
        Set::Intset(Intset::default())
    }
}

/// A member as stored: an integer of an intset or the bytes of a table member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl Member<'_> {
    pub fn to_bytes(self) -> Bytes {
        match self {
            Member::Int(i) => Bytes::copy_from_slice(itoa::Buffer::new().format(i).as_bytes()),
            Member::Bytes(b) => Bytes::copy_from_slice(b),
        }
    }
}

/// Iterates a set's members (intset: ascending).
pub enum Iter<'a> {
    Intset(IntsetIter<'a>),
    Table(std::slice::Iter<'a, (Compact, ())>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = Member<'a>;

    fn next(&mut self) -> Option<Member<'a>> {
        match self {
            Iter::Intset(it) => it.next().map(Member::Int),
            Iter::Table(it) => it.next().map(|(b, _)| Member::Bytes(b)),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Iter::Intset(it) => it.size_hint(),
            Iter::Table(it) => it.size_hint(),
        }
    }
}

impl Set {
    pub fn len(&self) -> usize {
        match self {
            Set::Intset(v) => v.len(),
            Set::Table(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Set::Intset(_) => "intset",
            Set::Table(_) => "hashtable",
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match self {
            Set::Intset(v) => match crate::util::parse_i64(member) {
                Some(i) => v.contains(i),
                None => false,
            },
            Set::Table(m) => m.contains_key(member),
        }
    }

    /// Membership of a member taken from another set.
    pub fn contains_member(&self, member: Member<'_>) -> bool {
        match (self, member) {
            (Set::Intset(v), Member::Int(i)) => v.contains(i),
            (Set::Table(m), Member::Int(i)) => {
                m.contains_key(itoa::Buffer::new().format(i).as_bytes())
            }
            (_, Member::Bytes(b)) => self.contains(b),
        }
    }

    /// Adds a member; returns true if it was new (redis `setTypeAdd`).
    pub fn insert(&mut self, member: &[u8], limits: &EncodingLimits) -> bool {
        match crate::util::parse_i64(member) {
            Some(i) => self.insert_int(i, limits),
            None => {
                self.convert();
                match self {
                    Set::Table(m) => m.insert(member, ()).is_none(),
                    Set::Intset(_) => false,
                }
            }
        }
    }

    /// Adds a member taken from another set.
    pub fn insert_member(&mut self, member: Member<'_>, limits: &EncodingLimits) -> bool {
        match member {
            Member::Int(i) => self.insert_int(i, limits),
            Member::Bytes(b) => self.insert(b, limits),
        }
    }

    fn insert_int(&mut self, i: i64, limits: &EncodingLimits) -> bool {
        match self {
            Set::Intset(v) => match v.search(i) {
                Ok(_) => false,
                // An intset's buffer holds at most `packed::MAX_LEN` bytes (4 GB): only a
                // `set-max-intset-entries` above 2^29 lets a set reach that.
                Err(pos) if (v.len() + 1) * 8 <= super::packed::MAX_LEN => {
                    v.insert(pos, i);
                    if v.len() > limits.set_max_intset_entries.min(INTSET_HARD_LIMIT) {
                        self.convert();
                    }
                    true
                }
                Err(_) => {
                    self.convert();
                    self.insert_int(i, limits)
                }
            },
            Set::Table(m) => m
                .insert(itoa::Buffer::new().format(i).as_bytes(), ())
                .is_none(),
        }
    }

    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            Set::Intset(v) => match crate::util::parse_i64(member) {
                Some(i) => match v.search(i) {
                    Ok(pos) => {
                        v.remove(pos);
                        true
                    }
                    Err(_) => false,
                },
                None => false,
            },
            Set::Table(m) => m.swap_remove(member).is_some(),
        }
    }

    /// Removes a member taken from another set (or from this one).
    pub fn remove_member(&mut self, member: Member<'_>) -> bool {
        match (&mut *self, member) {
            (Set::Intset(v), Member::Int(i)) => match v.search(i) {
                Ok(pos) => {
                    v.remove(pos);
                    true
                }
                Err(_) => false,
            },
            (Set::Table(m), Member::Int(i)) => m
                .swap_remove(itoa::Buffer::new().format(i).as_bytes())
                .is_some(),
            (_, Member::Bytes(b)) => self.remove(b),
        }
    }

    /// The member at position `i` (intset: rank; table: index), for random picks.
    pub fn get_index(&self, i: usize) -> Option<Member<'_>> {
        match self {
            Set::Intset(v) => v.get(i).map(Member::Int),
            Set::Table(m) => m.get_index(i).map(|(b, _)| Member::Bytes(b)),
        }
    }

    /// Removes and returns the member at position `i` (see `get_index`).
    pub fn take_index(&mut self, i: usize) -> Option<Bytes> {
        match self {
            Set::Intset(v) => v.remove(i).map(|x| Member::Int(x).to_bytes()),
            Set::Table(m) => m
                .swap_remove_index(i)
                .map(|(b, _)| Bytes::from(b.into_vec())),
        }
    }

    /// Removes `count` distinct members chosen at random and returns them in the order drawn
    /// (SPOP with a count smaller than the set). O(len + count).
    pub fn take_random(&mut self, count: usize) -> Vec<Bytes> {
        let count = count.min(self.len());
        let mut rng = rand::rng();
        let picks = rand::seq::index::sample(&mut rng, self.len(), count).into_vec();
        let out: Vec<Bytes> = picks
            .iter()
            .filter_map(|&i| self.get_index(i).map(Member::to_bytes))
            .collect();
        match self {
            Set::Intset(v) => {
                let mut drop = vec![false; v.len()];
                for &i in &picks {
                    drop[i] = true;
                }
                v.remove_marked(&drop);
            }
            Set::Table(m) => {
                for b in &out {
                    m.swap_remove(&b[..]);
                }
            }
        }
        out
    }

    pub fn iter(&self) -> Iter<'_> {
        match self {
            Set::Intset(v) => Iter::Intset(v.iter()),
            Set::Table(m) => Iter::Table(m.iter()),
        }
    }

    /// All members (intset: ascending order).
    pub fn members(&self) -> Vec<Bytes> {
        self.iter().map(Member::to_bytes).collect()
    }

    /// One step of SSCAN: an intset is returned whole with cursor 0 (as Redis does); a table is
    /// walked by index from the top, see `hash::Hash::scan`. Returns (cursor, members).
    pub fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<Bytes>) {
        match self {
            Set::Intset(_) => (0, self.members()),
            Set::Table(m) => {
                let (next, range) = scan_window(m.len(), cursor, count);
                let out = range
                    .rev()
                    .filter_map(|i| m.get_index(i))
                    .map(|(b, _)| Bytes::copy_from_slice(b))
                    .collect();
                (next, out)
            }
        }
    }

    /// Approximate bytes held on the heap (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Set::Intset(v) => v.heap_bytes(),
            Set::Table(m) => m.heap_bytes() + m.iter().map(|(b, _)| b.len()).sum::<usize>(),
        }
    }

    fn convert(&mut self) {
        if let Set::Intset(v) = self {
            let mut m = Members::with_capacity(v.len() + 1);
            let mut buf = itoa::Buffer::new();
            for i in v.iter() {
                m.push(buf.format(i).as_bytes().into(), ());
            }
            *self = Set::Table(Box::new(m));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(n: usize) -> EncodingLimits {
        EncodingLimits {
            set_max_intset_entries: n,
            ..EncodingLimits::default()
        }
    }

    #[test]
    fn intset_is_sorted_and_converts_on_non_integers() {
        let l = EncodingLimits::default();
        let mut s = Set::default();
        for m in ["3", "-1", "2", "3"] {
            s.insert(m.as_bytes(), &l);
        }
        assert_eq!(s.encoding(), "intset");
        assert_eq!(s.members(), vec!["-1", "2", "3"]);
        assert!(s.contains(b"2"));
        assert!(!s.contains(b"02"));
        assert!(!s.insert(b"2", &l));
        assert!(s.insert(b"02", &l));
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.contains(b"2") && s.contains(b"02"));
        assert!(s.contains_member(Member::Int(-1)));
        assert!(s.remove(b"2"));
        assert!(!s.remove(b"2"));
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn intset_limit_matches_redis() {
        let l = limits(3);
        let mut s = Set::default();
        for m in ["1", "2", "3"] {
            s.insert(m.as_bytes(), &l);
        }
        assert_eq!(s.encoding(), "intset");
        s.insert(b"4", &l);
        assert_eq!(s.encoding(), "hashtable");
        // Integers beyond i64 are strings.
        let mut s = Set::default();
        s.insert(b"9223372036854775808", &EncodingLimits::default());
        assert_eq!(s.encoding(), "hashtable");
        let mut s = Set::default();
        s.insert(b"-9223372036854775808", &EncodingLimits::default());
        assert_eq!(s.encoding(), "intset");
    }

    #[test]
    fn member_ops_across_encodings() {
        let l = EncodingLimits::default();
        let mut t = Set::default();
        t.insert(b"x", &l);
        t.insert(b"7", &l);
        assert!(t.contains_member(Member::Int(7)));
        assert!(t.remove_member(Member::Int(7)));
        assert!(!t.contains(b"7"));
        let mut i = Set::default();
        assert!(i.insert_member(Member::Bytes(b"5"), &l));
        assert_eq!(i.encoding(), "intset");
        assert!(i.insert_member(Member::Bytes(b"y"), &l));
        assert_eq!(i.encoding(), "hashtable");
        assert_eq!(i.take_index(5), None);
        let before = i.len();
        assert!(i.take_index(0).is_some());
        assert_eq!(i.len(), before - 1);
    }

    #[test]
    fn intset_widens_and_stays_sorted() {
        let mut v = Intset::default();
        let vals = [5i64, -3, 40_000, -40_000, 1 << 40, i64::MIN, i64::MAX, 0, 7];
        for x in vals {
            if let Err(pos) = v.search(x) {
                v.insert(pos, x);
            }
            assert!(v.contains(x));
        }
        let got: Vec<i64> = v.iter().collect();
        let mut want = vals.to_vec();
        want.sort_unstable();
        assert_eq!(got, want);
        assert!(v.heap_bytes() >= v.len() * 8);
        assert!(!v.contains(6) && !v.contains(1 << 41));
        assert_eq!(v.remove(0), Some(i64::MIN));
        assert_eq!(v.get(0), Some(-40_000));
        v.remove_marked(&[true, false, true]);
        assert_eq!(
            v.iter().collect::<Vec<_>>(),
            vec![-3, 5, 7, 40_000, 1 << 40, i64::MAX]
        );
        let mut small = Intset::default();
        for x in [3i64, 1, 2] {
            if let Err(pos) = small.search(x) {
                small.insert(pos, x);
            }
        }
        // Three 2-byte elements after their one-byte length, in an exact-size block.
        assert_eq!(small.heap_bytes(), crate::util::jemalloc_size(1 + 6));
        assert_eq!(small.search(100_000), Err(3));
        assert_eq!(small.search(-100_000), Err(0));
    }

    #[test]
    fn stays_small_inline() {
        // Every key's `Value` is as large as its largest variant: keep sets out of the way.
        assert!(std::mem::size_of::<Set>() <= 16);
        assert!(std::mem::size_of::<crate::keyspace::hash::Hash>() <= 16);
        assert!(std::mem::size_of::<crate::keyspace::zset::ZSet>() <= 16);
    }

    #[test]
    fn take_random_removes_what_it_returns() {
        let l = EncodingLimits::default();
        for members in [&["1", "2", "3", "4", "5"][..], &["a", "b", "c", "d", "e"]] {
            let mut s = Set::default();
            for m in members {
                s.insert(m.as_bytes(), &l);
            }
            let got = s.take_random(3);
            assert_eq!(got.len(), 3);
            assert_eq!(s.len(), 2);
            for g in &got {
                assert!(!s.contains(g));
                assert!(members.contains(&std::str::from_utf8(g).unwrap()));
            }
            assert_eq!(s.take_random(10).len(), 2);
            assert!(s.is_empty());
        }
    }

    #[test]
    fn scan_covers_table() {
        let l = limits(0);
        let mut s = Set::default();
        for n in 0..50 {
            s.insert(format!("m{n}").as_bytes(), &l);
        }
        let mut seen = Vec::new();
        let mut cursor = 0;
        loop {
            let (next, page) = s.scan(cursor, 8);
            seen.extend(page);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 50);
    }
}
