//! `SegVec`: a vector stored in segments of [`SEG`] elements, for a table's entries.
//!
//! A plain vector grows by copying all it holds into a new allocation: for a shard of 20,000
//! keys, a megabyte copied into fresh pages (about 260 page faults) inside one command, while
//! every other client of the shard waits. Here only the last segment grows, by size classes of
//! an eighth as the table's vector did (so a small table wastes little), and a full one is
//! left where it is: a growth copies at most one segment (56 KB of table entries), and new
//! memory is touched as keys arrive instead of all at once.
//!
//! Positions stay dense (`0..len`): every segment before the one being filled is full, so
//! position `i` is element `i % SEG` of segment `i / SEG`. Segments after the one being filled
//! are empty, with room reserved ([`SegVec::reserve_exact`]) or left by removals until
//! [`SegVec::shrink_to`].

use std::ops::{Index, IndexMut};

/// Elements per segment (a power of two).
const SEG_BITS: u32 = 10;
pub(super) const SEG: usize = 1 << SEG_BITS;
const MASK: usize = SEG - 1;

#[derive(Debug)]
pub(super) struct SegVec<T> {
    segs: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for SegVec<T> {
    fn default() -> Self {
        SegVec {
            segs: Vec::new(),
            len: 0,
        }
    }
}

/// The capacity a full segment holding `n` elements grows to: the next jemalloc size class
/// with an eighth more room (one more element at least), at most [`SEG`].
fn grown<T>(n: usize) -> usize {
    let size = std::mem::size_of::<T>().max(1);
    let want = (n + n / 8).max(n + 1) * size;
    (crate::util::jemalloc_size(want) / size).clamp(n + 1, SEG)
}

impl<T> SegVec<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Elements that fit without allocating. The segments before the one being filled are
    /// full (their capacity is exactly [`SEG`]): only the rest are visited, so this stays cheap
    /// for a table of many segments (it is asked after every removal).
    pub fn capacity(&self) -> usize {
        let full = (self.len >> SEG_BITS).min(self.segs.len());
        full * SEG + self.segs[full..].iter().map(Vec::capacity).sum::<usize>()
    }

    pub fn get(&self, i: usize) -> Option<&T> {
        if i < self.len {
            Some(&self.segs[i >> SEG_BITS][i & MASK])
        } else {
            None
        }
    }

    pub fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        if i < self.len {
            Some(&mut self.segs[i >> SEG_BITS][i & MASK])
        } else {
            None
        }
    }

    /// Appends `v` at position `len`, growing only the segment it goes into.
    pub fn push(&mut self, v: T) {
        let s = self.len >> SEG_BITS;
        if s == self.segs.len() {
            self.segs.push(Vec::new());
        }
        let seg = &mut self.segs[s];
        if seg.len() == seg.capacity() {
            let cap = grown::<T>(seg.len());
            seg.reserve_exact(cap - seg.len());
        }
        seg.push(v);
        self.len += 1;
    }

    pub fn pop(&mut self) -> Option<T> {
        let last = self.len.checked_sub(1)?;
        let v = self.segs[last >> SEG_BITS].pop();
        self.len = last;
        v
    }

    /// Removes element `i`, the last one taking its place; panics if out of range, as
    /// `Vec::swap_remove` does.
    pub fn swap_remove(&mut self, i: usize) -> T {
        assert!(i < self.len, "swap_remove index {i} out of {}", self.len);
        let Some(last) = self.pop() else {
            unreachable!("a SegVec of positive length pops")
        };
        if i == self.len {
            last
        } else {
            std::mem::replace(&mut self[i], last)
        }
    }

    /// Makes room for `more` elements beyond `len`: segments filled to [`SEG`] as they will be
    /// (a bulk load allocates each once).
    pub fn reserve_exact(&mut self, more: usize) {
        let mut need = self.len + more;
        let mut s = 0;
        while need > 0 {
            let want = need.min(SEG);
            if s == self.segs.len() {
                self.segs.push(Vec::new());
            }
            let seg = &mut self.segs[s];
            if seg.capacity() < want {
                seg.reserve_exact(want - seg.len());
            }
            need -= want;
            s += 1;
        }
    }

    /// Gives back the room beyond `min(len, at_least)` elements: segments past it are freed,
    /// and the last one kept is shrunk to what it must hold.
    pub fn shrink_to(&mut self, at_least: usize) {
        let keep = at_least.max(self.len);
        let segs = keep.div_ceil(SEG);
        self.segs.truncate(segs);
        if let Some(last) = self.segs.last_mut() {
            last.shrink_to(keep - (segs - 1) * SEG);
        }
        if self.segs.is_empty() {
            self.segs = Vec::new();
        } else {
            self.segs.shrink_to_fit();
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.segs.iter().flat_map(|s| s.iter())
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.segs.iter_mut().flat_map(|s| s.iter_mut())
    }
}

impl<T> IntoIterator for SegVec<T> {
    type Item = T;
    type IntoIter = std::iter::Flatten<std::vec::IntoIter<Vec<T>>>;

    fn into_iter(self) -> Self::IntoIter {
        self.segs.into_iter().flatten()
    }
}

impl<T> Index<usize> for SegVec<T> {
    type Output = T;

    fn index(&self, i: usize) -> &T {
        assert!(i < self.len, "index {i} out of {}", self.len);
        &self.segs[i >> SEG_BITS][i & MASK]
    }
}

impl<T> IndexMut<usize> for SegVec<T> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        assert!(i < self.len, "index {i} out of {}", self.len);
        &mut self.segs[i >> SEG_BITS][i & MASK]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_a_vector_across_segments() {
        let mut v = SegVec::default();
        let mut model = Vec::new();
        // A linear congruential generator (Knuth's MMIX constants), high bits taken.
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            rng = rng
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            rng >> 33
        };
        for step in 0..60_000u64 {
            // Grows to about 4 segments, then shrinks back to 0 and grows again.
            let grow = (step / 15_000) % 2 == 0;
            match next() % 10 {
                0..=5 if grow => {
                    v.push(step);
                    model.push(step);
                }
                0..=1 => {
                    v.push(step);
                    model.push(step);
                }
                6 => {
                    assert_eq!(v.pop(), model.pop());
                }
                7 if !model.is_empty() => {
                    let i = (next() % model.len() as u64) as usize;
                    assert_eq!(v.swap_remove(i), model.swap_remove(i));
                }
                8 => {
                    let n = v.len();
                    v.shrink_to(n + (next() % 3000) as usize);
                    assert!(v.capacity() >= n);
                }
                9 => v.reserve_exact((next() % 2000) as usize),
                _ => {
                    let n = v.len();
                    v.shrink_to(0);
                    assert!(v.capacity() < n + SEG);
                }
            }
            assert_eq!(v.len(), model.len());
            if step % 997 == 0 {
                assert!(v.iter().eq(model.iter()));
                for (i, x) in model.iter().enumerate() {
                    assert_eq!(v.get(i), Some(x));
                    assert_eq!(v[i], *x);
                }
                assert_eq!(v.get(model.len()), None);
                let all: usize = v.segs.iter().map(Vec::capacity).sum();
                assert_eq!(v.capacity(), all);
            }
        }
        for x in v.iter_mut() {
            *x += 1;
        }
        let all: Vec<u64> = v.into_iter().collect();
        let want: Vec<u64> = model.iter().map(|x| x + 1).collect();
        assert_eq!(all, want);
    }

    #[test]
    fn a_growth_copies_one_segment_at_most() {
        let mut v = SegVec::default();
        for i in 0..(3 * SEG + 5) {
            v.push(i);
        }
        // Full segments keep exactly their elements; only the last has slack.
        assert_eq!(v.segs.len(), 4);
        assert!(v.segs[..3]
            .iter()
            .all(|s| s.len() == SEG && s.capacity() == SEG));
        assert!(v.segs[3].capacity() < SEG);
        let all: usize = v.segs.iter().map(Vec::capacity).sum();
        assert_eq!(v.capacity(), all);
        let before = v.segs[0].as_ptr();
        for i in 0..SEG {
            v.push(i);
        }
        assert_eq!(v.segs[0].as_ptr(), before, "a full segment never moves");
    }
}
