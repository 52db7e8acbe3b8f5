//! The score order of a large sorted set: a sequence of sorted chunks of at most `MAX_CHUNK`
//! nodes, with a Fenwick tree over the chunk lengths. Finding a node by key or by rank, and
//! inserting or removing one, cost O(log n) comparisons plus a shift inside one chunk; this is
//! the role Redis's skiplist plays (rank = summed spans), with less memory per member and no
//! pointer chasing between nodes.
//!
//! Invariants: no chunk is empty; nodes are strictly increasing by (score, member) across the
//! whole sequence; `tree` always describes the current chunk lengths; `len` is their sum.

use std::cmp::Ordering;
use std::sync::Arc;

/// A chunk is split in two when it grows past this many nodes.
const MAX_CHUNK: usize = 128;
/// A chunk that shrinks below this is merged with a neighbour when the result fits.
const MIN_CHUNK: usize = MAX_CHUNK / 4;

/// One member with its score. The member bytes are shared with the member → score map.
#[derive(Debug, Clone)]
pub struct Node {
    pub score: f64,
    pub member: Arc<[u8]>,
}

/// Redis's order: by score, then by member bytes (`sdscmp`). Scores are never NaN.
pub fn cmp_key(score_a: f64, member_a: &[u8], score_b: f64, member_b: &[u8]) -> Ordering {
    if score_a < score_b {
        Ordering::Less
    } else if score_a > score_b {
        Ordering::Greater
    } else {
        member_a.cmp(member_b)
    }
}

impl Node {
    fn cmp_to(&self, score: f64, member: &[u8]) -> Ordering {
        cmp_key(self.score, &self.member, score, member)
    }
}

#[derive(Debug, Clone, Default)]
pub struct OrderIndex {
    chunks: Vec<Vec<Node>>,
    /// Fenwick tree (1-based in spirit, stored 0-based) over `chunks[i].len()`.
    tree: Vec<usize>,
    len: usize,
}

impl OrderIndex {
    pub fn len(&self) -> usize {
        self.len
    }

    /// Builds an index from nodes already sorted by (score, member) without duplicates.
    pub fn from_sorted(nodes: Vec<Node>) -> OrderIndex {
        let len = nodes.len();
        let mut chunks = Vec::with_capacity(len.div_ceil(MAX_CHUNK / 2).max(1));
        let mut it = nodes.into_iter().peekable();
        while it.peek().is_some() {
            let chunk: Vec<Node> = it.by_ref().take(MAX_CHUNK / 2 + MAX_CHUNK / 4).collect();
            chunks.push(chunk);
        }
        let mut idx = OrderIndex {
            chunks,
            tree: Vec::new(),
            len,
        };
        idx.rebuild();
        idx
    }

    fn rebuild(&mut self) {
        let n = self.chunks.len();
        self.tree.clear();
        self.tree.extend(self.chunks.iter().map(Vec::len));
        for i in 0..n {
            let parent = i | (i + 1);
            if parent < n {
                self.tree[parent] += self.tree[i];
            }
        }
    }

    fn tree_add(&mut self, mut i: usize, delta: isize) {
        while i < self.tree.len() {
            self.tree[i] = self.tree[i].wrapping_add_signed(delta);
            i |= i + 1;
        }
    }

    /// Number of nodes in chunks `0..ci`.
    fn prefix(&self, ci: usize) -> usize {
        let mut sum = 0;
        let mut i = ci;
        while i > 0 {
            sum += self.tree[i - 1];
            i &= i - 1;
        }
        sum
    }

    /// (chunk, offset) of the node at `rank`; `rank < len`.
    fn locate(&self, rank: usize) -> Option<(usize, usize)> {
        if rank >= self.len {
            return None;
        }
        let n = self.tree.len();
        let mut pos = 0; // number of chunks skipped
        let mut rem = rank;
        let mut step = n.next_power_of_two();
        while step > 0 {
            let next = pos + step;
            if next <= n && self.tree[next - 1] <= rem {
                pos = next;
                rem -= self.tree[next - 1];
            }
            step >>= 1;
        }
        let chunk = self.chunks.get(pos)?;
        (rem < chunk.len()).then_some((pos, rem))
    }

    /// The chunk that holds, or would hold, `(score, member)`: the first whose last node is
    /// not below it, else the last chunk.
    fn chunk_for(&self, score: f64, member: &[u8]) -> usize {
        let ci = self
            .chunks
            .partition_point(|c| c.last().is_some_and(|n| n.cmp_to(score, member).is_lt()));
        ci.min(self.chunks.len().saturating_sub(1))
    }

    /// Inserts a node; the caller guarantees that its member is not present.
    pub fn insert(&mut self, node: Node) {
        if self.chunks.is_empty() {
            self.chunks.push(vec![node]);
            self.len = 1;
            self.rebuild();
            return;
        }
        let ci = self.chunk_for(node.score, &node.member);
        let chunk = &mut self.chunks[ci];
        let pos = chunk.partition_point(|n| n.cmp_to(node.score, &node.member).is_lt());
        chunk.insert(pos, node);
        self.len += 1;
        if chunk.len() > MAX_CHUNK {
            let mut right = chunk.split_off(chunk.len() / 2);
            // Both halves keep room to grow to a full chunk, and no more.
            chunk.shrink_to(MAX_CHUNK + 1);
            right.reserve_exact(MAX_CHUNK + 1 - right.len());
            self.chunks.insert(ci + 1, right);
            self.rebuild();
        } else {
            self.tree_add(ci, 1);
        }
    }

    /// Removes the node `(score, member)`; returns it if it was present.
    pub fn remove(&mut self, score: f64, member: &[u8]) -> Option<Node> {
        if self.chunks.is_empty() {
            return None;
        }
        let ci = self.chunk_for(score, member);
        let chunk = &self.chunks[ci];
        let pos = chunk.partition_point(|n| n.cmp_to(score, member).is_lt());
        if !chunk
            .get(pos)
            .is_some_and(|n| n.cmp_to(score, member).is_eq())
        {
            return None;
        }
        Some(self.remove_located(ci, pos))
    }

    /// Removes and returns the node at `rank`.
    pub fn remove_at(&mut self, rank: usize) -> Option<Node> {
        let (ci, off) = self.locate(rank)?;
        Some(self.remove_located(ci, off))
    }

    fn remove_located(&mut self, ci: usize, off: usize) -> Node {
        let node = self.chunks[ci].remove(off);
        self.len -= 1;
        if !self.rebalance(ci) {
            self.tree_add(ci, -1);
        }
        node
    }

    /// Drops chunk `ci` if empty or merges it into a neighbour if small. Returns true if the
    /// chunk layout changed (the tree was then rebuilt).
    fn rebalance(&mut self, ci: usize) -> bool {
        let len = self.chunks[ci].len();
        if len == 0 {
            self.chunks.remove(ci);
            self.rebuild();
            return true;
        }
        if len >= MIN_CHUNK {
            return false;
        }
        if ci + 1 < self.chunks.len() && len + self.chunks[ci + 1].len() <= MAX_CHUNK {
            let next = self.chunks.remove(ci + 1);
            self.chunks[ci].extend(next);
        } else if ci > 0 && len + self.chunks[ci - 1].len() <= MAX_CHUNK {
            let cur = self.chunks.remove(ci);
            self.chunks[ci - 1].extend(cur);
        } else {
            return false;
        }
        self.rebuild();
        true
    }

    /// Removes the nodes of ranks `start..end` and returns them in order.
    pub fn remove_range(&mut self, start: usize, end: usize) -> Vec<Node> {
        let end = end.min(self.len);
        if start >= end {
            return Vec::new();
        }
        let Some((mut ci, mut off)) = self.locate(start) else {
            return Vec::new();
        };
        let first = ci;
        let mut left = end - start;
        let mut out = Vec::with_capacity(left);
        while left > 0 && ci < self.chunks.len() {
            let chunk = &mut self.chunks[ci];
            let take = left.min(chunk.len() - off);
            out.extend(chunk.drain(off..off + take));
            left -= take;
            if chunk.is_empty() {
                self.chunks.remove(ci);
            } else {
                ci += 1;
            }
            off = 0;
        }
        self.len -= out.len();
        // At most the first touched chunk and its successor are partial now.
        for c in [first + 1, first] {
            if c < self.chunks.len() {
                self.rebalance_quiet(c);
            }
        }
        self.rebuild();
        out
    }

    /// `rebalance` without rebuilding the tree (the caller rebuilds).
    fn rebalance_quiet(&mut self, ci: usize) {
        let len = self.chunks[ci].len();
        if len >= MIN_CHUNK {
            return;
        }
        if ci + 1 < self.chunks.len() && len + self.chunks[ci + 1].len() <= MAX_CHUNK {
            let next = self.chunks.remove(ci + 1);
            self.chunks[ci].extend(next);
        } else if ci > 0 && len + self.chunks[ci - 1].len() <= MAX_CHUNK {
            let cur = self.chunks.remove(ci);
            self.chunks[ci - 1].extend(cur);
        }
    }

    /// 0-based rank of `(score, member)`, if present.
    pub fn rank(&self, score: f64, member: &[u8]) -> Option<usize> {
        if self.chunks.is_empty() {
            return None;
        }
        let ci = self.chunk_for(score, member);
        let chunk = &self.chunks[ci];
        let pos = chunk.partition_point(|n| n.cmp_to(score, member).is_lt());
        chunk
            .get(pos)
            .filter(|n| n.cmp_to(score, member).is_eq())
            .map(|_| self.prefix(ci) + pos)
    }

    pub fn get(&self, rank: usize) -> Option<&Node> {
        let (ci, off) = self.locate(rank)?;
        self.chunks.get(ci)?.get(off)
    }

    /// Number of leading nodes for which `pred` holds (`pred` must hold on a prefix).
    pub fn partition_point(&self, mut pred: impl FnMut(&Node) -> bool) -> usize {
        let ci = self
            .chunks
            .partition_point(|c| c.last().is_some_and(&mut pred));
        match self.chunks.get(ci) {
            None => self.len,
            Some(chunk) => self.prefix(ci) + chunk.partition_point(pred),
        }
    }

    /// Nodes from rank `start` towards the end (or towards the start if `rev`).
    pub fn iter_from(&self, start: usize, rev: bool) -> Iter<'_> {
        let pos = self.locate(start);
        Iter {
            idx: self,
            pos,
            rev,
        }
    }
}

pub struct Iter<'a> {
    idx: &'a OrderIndex,
    pos: Option<(usize, usize)>,
    rev: bool,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a Node;

    fn next(&mut self) -> Option<&'a Node> {
        let (ci, off) = self.pos?;
        let chunks = &self.idx.chunks;
        let node = chunks.get(ci)?.get(off)?;
        self.pos = if self.rev {
            if off > 0 {
                Some((ci, off - 1))
            } else if ci > 0 {
                Some((ci - 1, chunks[ci - 1].len().saturating_sub(1)))
            } else {
                None
            }
        } else if off + 1 < chunks[ci].len() {
            Some((ci, off + 1))
        } else if ci + 1 < chunks.len() {
            Some((ci + 1, 0))
        } else {
            None
        };
        Some(node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(score: f64, m: &str) -> Node {
        Node {
            score,
            member: Arc::from(m.as_bytes()),
        }
    }

    fn check(idx: &OrderIndex) {
        let all: Vec<&Node> = idx.iter_from(0, false).collect();
        assert_eq!(all.len(), idx.len());
        for w in all.windows(2) {
            assert!(w[0].cmp_to(w[1].score, &w[1].member).is_lt());
        }
        for (r, n) in all.iter().enumerate() {
            assert_eq!(idx.rank(n.score, &n.member), Some(r));
            assert_eq!(idx.get(r).map(|x| x.score), Some(n.score));
        }
        assert!(idx
            .chunks
            .iter()
            .all(|c| !c.is_empty() && c.len() <= MAX_CHUNK));
    }

    #[test]
    fn insert_remove_rank() {
        let mut idx = OrderIndex::default();
        let mut model: Vec<(i64, String)> = Vec::new();
        let mut x: u64 = 12345;
        for step in 0..6000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let score = ((x >> 33) % 300) as i64;
            let m = format!("m{}", (x >> 20) % 2000);
            let present = model.iter().position(|(_, mm)| *mm == m);
            if step % 3 == 2 {
                if let Some(p) = present {
                    let (s, mm) = model.remove(p);
                    assert!(idx.remove(s as f64, mm.as_bytes()).is_some());
                }
            } else if present.is_none() {
                idx.insert(node(score as f64, &m));
                model.push((score, m));
            }
            if step % 500 == 0 {
                check(&idx);
            }
        }
        model.sort();
        check(&idx);
        let got: Vec<(i64, String)> = idx
            .iter_from(0, false)
            .map(|n| {
                (
                    n.score as i64,
                    String::from_utf8_lossy(&n.member).into_owned(),
                )
            })
            .collect();
        assert_eq!(got, model);
        let back: Vec<_> = idx
            .iter_from(idx.len() - 1, true)
            .map(|n| n.score)
            .collect();
        assert_eq!(back.len(), idx.len());
        assert!(back.windows(2).all(|w| w[0] >= w[1]));
        // partition points
        let pp = idx.partition_point(|n| n.score < 100.0);
        assert_eq!(pp, model.iter().filter(|(s, _)| *s < 100).count());
        // remove a range
        let before = idx.len();
        let removed = idx.remove_range(10, 700);
        assert_eq!(removed.len(), 690);
        assert_eq!(idx.len(), before - 690);
        check(&idx);
        while idx.len() > 0 {
            let n = idx.len();
            idx.remove_at(n / 2);
        }
        assert!(idx.chunks.is_empty());
        assert_eq!(idx.remove_at(0).map(|n| n.score), None);
    }

    #[test]
    fn from_sorted_builds_valid_chunks() {
        let nodes: Vec<Node> = (0..1000).map(|i| node(i as f64, "x")).collect();
        let idx = OrderIndex::from_sorted(nodes);
        assert_eq!(idx.len(), 1000);
        assert_eq!(idx.get(999).map(|n| n.score), Some(999.0));
        assert_eq!(idx.rank(500.0, b"x"), Some(500));
        assert_eq!(idx.rank(500.5, b"x"), None);
    }
}
