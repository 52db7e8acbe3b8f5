//! Set values, in Redis 7.0's two encodings:
//! - `intset`: a sorted vector of integers, while every member is an integer in canonical form
//!   (redis `string2ll`) and the set has at most `set-max-intset-entries` members (capped at 2^30
//!   as in redis `setTypeAdd`); iteration is ascending, as Redis's;
//! - `hashtable`: an insertion-ordered table (`IndexSet`), whose order is only ever exposed where
//!   Redis's order is unspecified.
//!
//! Conversion is one-way (intset → hashtable). Removal from the table is `swap_remove`, which
//! moves only the last member: `scan` relies on that (see `hash::scan_window`).

use bytes::Bytes;
use indexmap::IndexSet;

use super::hash::scan_window;
use super::limits::EncodingLimits;

pub type Members = IndexSet<Box<[u8]>, foldhash::fast::RandomState>;

/// Redis caps the intset size whatever `set-max-intset-entries` says.
const INTSET_HARD_LIMIT: usize = 1 << 30;

#[derive(Debug, Clone)]
pub enum Set {
    Intset(Vec<i64>),
    /// Boxed: a `Value` stays as small as its smallest encodings need.
    Table(Box<Members>),
}

impl Default for Set {
    fn default() -> Self {
        Set::Intset(Vec::new())
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
    Intset(std::slice::Iter<'a, i64>),
    Table(indexmap::set::Iter<'a, Box<[u8]>>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = Member<'a>;

    fn next(&mut self) -> Option<Member<'a>> {
        match self {
            Iter::Intset(it) => it.next().map(|i| Member::Int(*i)),
            Iter::Table(it) => it.next().map(|b| Member::Bytes(b)),
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
                Some(i) => v.binary_search(&i).is_ok(),
                None => false,
            },
            Set::Table(m) => m.contains(member),
        }
    }

    /// Membership of a member taken from another set.
    pub fn contains_member(&self, member: Member<'_>) -> bool {
        match (self, member) {
            (Set::Intset(v), Member::Int(i)) => v.binary_search(&i).is_ok(),
            (Set::Table(m), Member::Int(i)) => m.contains(itoa::Buffer::new().format(i).as_bytes()),
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
                    Set::Table(m) => m.insert(member.into()),
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
            Set::Intset(v) => match v.binary_search(&i) {
                Ok(_) => false,
                Err(pos) => {
                    v.reserve_exact(1);
                    v.insert(pos, i);
                    if v.len() > limits.set_max_intset_entries.min(INTSET_HARD_LIMIT) {
                        self.convert();
                    }
                    true
                }
            },
            Set::Table(m) => m.insert(itoa::Buffer::new().format(i).as_bytes().into()),
        }
    }

    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            Set::Intset(v) => match crate::util::parse_i64(member) {
                Some(i) => match v.binary_search(&i) {
                    Ok(pos) => {
                        v.remove(pos);
                        true
                    }
                    Err(_) => false,
                },
                None => false,
            },
            Set::Table(m) => m.swap_remove(member),
        }
    }

    /// Removes a member taken from another set (or from this one).
    pub fn remove_member(&mut self, member: Member<'_>) -> bool {
        match (&mut *self, member) {
            (Set::Intset(v), Member::Int(i)) => match v.binary_search(&i) {
                Ok(pos) => {
                    v.remove(pos);
                    true
                }
                Err(_) => false,
            },
            (Set::Table(m), Member::Int(i)) => {
                m.swap_remove(itoa::Buffer::new().format(i).as_bytes())
            }
            (_, Member::Bytes(b)) => self.remove(b),
        }
    }

    /// The member at position `i` (intset: rank; table: index), for random picks.
    pub fn get_index(&self, i: usize) -> Option<Member<'_>> {
        match self {
            Set::Intset(v) => v.get(i).map(|x| Member::Int(*x)),
            Set::Table(m) => m.get_index(i).map(|b| Member::Bytes(b)),
        }
    }

    /// Removes and returns the member at position `i` (see `get_index`).
    pub fn take_index(&mut self, i: usize) -> Option<Bytes> {
        match self {
            Set::Intset(v) => {
                if i < v.len() {
                    Some(Member::Int(v.remove(i)).to_bytes())
                } else {
                    None
                }
            }
            Set::Table(m) => m.swap_remove_index(i).map(|b| Bytes::from(b.into_vec())),
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
                let mut i = 0;
                v.retain(|_| {
                    i += 1;
                    !drop[i - 1]
                });
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
                    .map(|b| Bytes::copy_from_slice(b))
                    .collect();
                (next, out)
            }
        }
    }

    /// Approximate bytes held on the heap (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Set::Intset(v) => v.capacity() * 8,
            Set::Table(m) => {
                m.capacity() * (std::mem::size_of::<Box<[u8]>>() + 16)
                    + m.iter().map(|b| b.len()).sum::<usize>()
            }
        }
    }

    fn convert(&mut self) {
        if let Set::Intset(v) = self {
            let mut m = Members::with_capacity_and_hasher(v.len() + 1, Default::default());
            let mut buf = itoa::Buffer::new();
            for i in v.iter() {
                m.insert(buf.format(*i).as_bytes().into());
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
#[cfg(test)]
mod size_probe {
    #[test]
    fn print_sizes() {
        eprintln!(
            "SIZES value={} str={} list={} hash={} set={} zset={} members={} table={}",
            std::mem::size_of::<crate::keyspace::Value>(),
            std::mem::size_of::<crate::keyspace::Str>(),
            std::mem::size_of::<crate::keyspace::list::List>(),
            std::mem::size_of::<crate::keyspace::hash::Hash>(),
            std::mem::size_of::<super::Set>(),
            std::mem::size_of::<crate::keyspace::zset::ZSet>(),
            std::mem::size_of::<super::Members>(),
            std::mem::size_of::<crate::keyspace::hash::Table>(),
        );
    }
}
