//! List values. Redis 7.0 stores every list as a quicklist of listpacks, so OBJECT ENCODING
//! always answers `quicklist`.
//!
//! The layout follows the same idea: a deque of nodes, each a packed byte buffer of about
//! [`NODE_BYTES`] holding its elements back to back as
//! `[len as LEB128][bytes][len as LEB128, bytes reversed]`. The trailing copy of the length
//! lets a node be walked from either end (listpack's `backlen`), and a short element costs two
//! bytes of overhead instead of a pointer and a heap block. A node's live bytes are
//! `buf[head..]`: popping from the front only moves `head`, and pushing to the front writes
//! into the room before it, so both ends are amortized O(1). Nodes are never empty.
//!
//! This module knows bytes, not commands: it must not depend on `commands` or `server`.

use std::collections::VecDeque;
use std::ops::{Index, IndexMut};

use bytes::Bytes;

/// Target size of a node's live bytes (redis `list-max-listpack-size -2`, 8 KB). A node holding
/// a single larger element is allowed.
pub const NODE_BYTES: usize = 8192;

/// 16 bytes, so that a `Value` is 24: the element count lives in the node of a one-node
/// list and beside the deque of a longer one (see `Spine`).
#[derive(Debug, Clone, Default)]
pub struct List {
    nodes: Spine,
}

const _: () = assert!(std::mem::size_of::<List>() == 16);

#[derive(Debug, Clone, Default)]
struct Node {
    buf: Vec<u8>,
    /// Offset of the first live byte of `buf`. Only moved past small elements (a node holding
    /// a huge element drains instead), so it stays far below `u32::MAX`.
    head: u32,
    /// Number of elements (never 0 for a node inside a list; at most NODE_BYTES / 2).
    count: u32,
}

/// The deque of nodes. Most lists are short: their only node is boxed on its own (inline, it
/// would make every `Value` 16 bytes larger); a second node moves them to a boxed `VecDeque`
/// (O(1) at both ends) beside the list's element count. A one-node list's count is its node's.
#[derive(Debug, Clone, Default)]
enum Spine {
    #[default]
    Empty,
    One(Box<Node>),
    Many(Box<Many>),
}

#[derive(Debug, Clone, Default)]
struct Many {
    d: VecDeque<Node>,
    /// Elements in all the nodes.
    len: usize,
}

impl std::ops::Deref for Many {
    type Target = VecDeque<Node>;

    fn deref(&self) -> &VecDeque<Node> {
        &self.d
    }
}

impl std::ops::DerefMut for Many {
    fn deref_mut(&mut self) -> &mut VecDeque<Node> {
        &mut self.d
    }
}

impl Spine {
    /// Elements in the list.
    fn elements(&self) -> usize {
        match self {
            Spine::Empty => 0,
            Spine::One(n) => n.count as usize,
            Spine::Many(m) => m.len,
        }
    }

    /// Records `k` elements added to (or, negative, removed from) the nodes. A one-node list
    /// counts them in its node, which the caller updates.
    fn count_elements(&mut self, k: isize) {
        if let Spine::Many(m) = self {
            m.len = m.len.wrapping_add_signed(k);
        }
    }

    fn len(&self) -> usize {
        match self {
            Spine::Empty => 0,
            Spine::One(_) => 1,
            Spine::Many(d) => d.len(),
        }
    }

    fn get(&self, i: usize) -> Option<&Node> {
        match self {
            Spine::Empty => None,
            Spine::One(n) => (i == 0).then_some(&**n),
            Spine::Many(d) => d.get(i),
        }
    }

    fn get_mut(&mut self, i: usize) -> Option<&mut Node> {
        match self {
            Spine::Empty => None,
            Spine::One(n) => (i == 0).then_some(&mut **n),
            Spine::Many(d) => d.get_mut(i),
        }
    }

    fn front(&self) -> Option<&Node> {
        self.get(0)
    }

    fn back(&self) -> Option<&Node> {
        self.get(self.len().checked_sub(1)?)
    }

    fn front_mut(&mut self) -> Option<&mut Node> {
        self.get_mut(0)
    }

    fn back_mut(&mut self) -> Option<&mut Node> {
        let last = self.len().checked_sub(1)?;
        self.get_mut(last)
    }

    /// Runs `f` on the nodes as a `VecDeque` (moving an inline node there first).
    /// A spine that becomes `Many` here counts the elements of its nodes after `f` (a node
    /// split by `f` has moved some of its count into the new one).
    fn with_many<R>(&mut self, f: impl FnOnce(&mut VecDeque<Node>) -> R) -> R {
        let (mut m, fresh) = match std::mem::take(self) {
            Spine::Many(m) => (m, false),
            Spine::One(n) => {
                let mut d = VecDeque::with_capacity(2);
                d.push_back(*n);
                (Box::new(Many { d, len: 0 }), true)
            }
            Spine::Empty => (Box::default(), true),
        };
        let r = f(&mut m.d);
        if fresh {
            m.len = m.d.iter().map(|n| n.count as usize).sum();
        }
        *self = Spine::Many(m);
        r
    }

    fn push_back(&mut self, n: Node) {
        match self {
            Spine::Empty => *self = Spine::One(Box::new(n)),
            _ => self.with_many(|d| d.push_back(n)),
        }
    }

    fn push_front(&mut self, n: Node) {
        match self {
            Spine::Empty => *self = Spine::One(Box::new(n)),
            _ => self.with_many(|d| d.push_front(n)),
        }
    }

    fn insert(&mut self, i: usize, n: Node) {
        match self {
            Spine::Empty => *self = Spine::One(Box::new(n)),
            _ => self.with_many(|d| d.insert(i, n)),
        }
    }

    fn remove(&mut self, i: usize) -> Option<Node> {
        match self {
            Spine::Empty => None,
            Spine::One(_) if i == 0 => match std::mem::take(self) {
                Spine::One(n) => Some(*n),
                _ => None,
            },
            Spine::One(_) => None,
            Spine::Many(d) => d.remove(i),
        }
    }

    fn pop_front(&mut self) -> Option<Node> {
        self.remove(0)
    }

    fn pop_back(&mut self) -> Option<Node> {
        let last = self.len().checked_sub(1)?;
        self.remove(last)
    }

    /// Drops the first `k` nodes.
    fn drain_front(&mut self, k: usize) {
        match self {
            Spine::Many(d) => {
                let k = k.min(d.len());
                d.drain(..k);
            }
            _ if k > 0 => *self = Spine::Empty,
            _ => {}
        }
    }

    /// Drops the last `k` nodes.
    fn drain_back(&mut self, k: usize) {
        match self {
            Spine::Many(d) => {
                let keep = d.len().saturating_sub(k);
                d.truncate(keep);
            }
            _ if k > 0 => *self = Spine::Empty,
            _ => {}
        }
    }

    fn retain(&mut self, f: impl FnMut(&Node) -> bool) {
        match self {
            Spine::Empty => {}
            Spine::One(n) => {
                let mut f = f;
                if !f(n) {
                    *self = Spine::Empty;
                }
            }
            Spine::Many(d) => d.retain(f),
        }
    }

    fn iter(&self) -> impl DoubleEndedIterator<Item = &Node> {
        (0..self.len()).filter_map(move |i| self.get(i))
    }

    /// Heap bytes of the spine itself (not of the nodes' buffers).
    fn heap_bytes(&self) -> usize {
        match self {
            Spine::Many(d) => {
                std::mem::size_of::<Many>() + d.capacity() * std::mem::size_of::<Node>()
            }
            Spine::One(_) => std::mem::size_of::<Node>(),
            Spine::Empty => 0,
        }
    }
}

impl Index<usize> for Spine {
    type Output = Node;

    fn index(&self, i: usize) -> &Node {
        match self.get(i) {
            Some(n) => n,
            None => panic!("list node {i} out of range"),
        }
    }
}

impl IndexMut<usize> for Spine {
    fn index_mut(&mut self, i: usize) -> &mut Node {
        match self.get_mut(i) {
            Some(n) => n,
            None => panic!("list node {i} out of range"),
        }
    }
}

/// Bytes of the LEB128 form of `n`.
fn varint_len(n: usize) -> usize {
    super::varint::len(n as u64)
}

/// Writes the LEB128 form of `n` into `out`; returns its length.
fn varint_write(n: usize, out: &mut [u8; 10]) -> usize {
    super::varint::write(out, n as u64)
}

/// Encoded size of an element of `n` bytes.
fn entry_len(n: usize) -> usize {
    2 * varint_len(n) + n
}

/// Appends the encoded element to `out`.
fn encode_entry(out: &mut Vec<u8>, data: &[u8]) {
    let mut tmp = [0u8; 10];
    let hl = varint_write(data.len(), &mut tmp);
    out.extend_from_slice(&tmp[..hl]);
    out.extend_from_slice(data);
    out.extend(tmp[..hl].iter().rev());
}

/// Writes the encoded element into `out`, which is exactly `entry_len(data.len())` long.
fn encode_entry_into(out: &mut [u8], data: &[u8]) {
    let mut tmp = [0u8; 10];
    let hl = varint_write(data.len(), &mut tmp);
    let n = data.len();
    out[..hl].copy_from_slice(&tmp[..hl]);
    out[hl..hl + n].copy_from_slice(data);
    for (i, b) in tmp[..hl].iter().rev().enumerate() {
        out[hl + n + i] = *b;
    }
}

impl Node {
    fn head(&self) -> usize {
        self.head as usize
    }

    fn count(&self) -> usize {
        self.count as usize
    }

    /// Makes `off` (an element boundary inside the live bytes) the first live byte.
    fn set_head(&mut self, off: usize) {
        match u32::try_from(off) {
            Ok(h) if off <= 2 * NODE_BYTES => self.head = h,
            _ => {
                self.buf.drain(self.head()..off);
            }
        }
    }

    fn live(&self) -> usize {
        self.buf.len() - self.head()
    }

    /// The element starting at `off`: (data start, data length, offset of the next element).
    fn entry_at(&self, off: usize) -> (usize, usize, usize) {
        let mut n = 0usize;
        let mut shift = 0;
        let mut p = off;
        loop {
            let b = self.buf[p];
            p += 1;
            n |= ((b & 0x7f) as usize) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        let hl = p - off;
        (p, n, p + n + hl)
    }

    /// The element ending at `end`: (element start, data start, data length).
    fn entry_before(&self, end: usize) -> (usize, usize, usize) {
        let mut n = 0usize;
        let mut shift = 0;
        let mut p = end;
        loop {
            p -= 1;
            let b = self.buf[p];
            n |= ((b & 0x7f) as usize) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        let hl = end - p;
        let data = p - n;
        (data - hl, data, n)
    }

    /// Byte offset of element `k` (`k == count` gives the end of the buffer).
    fn offset_of(&self, k: usize) -> usize {
        let count = self.count();
        if k <= count / 2 {
            let mut off = self.head();
            for _ in 0..k {
                off = self.entry_at(off).2;
            }
            off
        } else {
            let mut end = self.buf.len();
            for _ in k..count {
                end = self.entry_before(end).0;
            }
            end
        }
    }

    /// Whether an element of `n` bytes may be added without growing past the node target.
    fn fits(&self, n: usize) -> bool {
        self.count == 0 || self.live() + entry_len(n) <= NODE_BYTES
    }

    /// Moves the live bytes to the start of the buffer.
    fn compact(&mut self) {
        if self.head > 0 {
            self.buf.drain(..self.head());
            self.head = 0;
        }
    }

    /// Drops spare room (for a node that no longer sits at a growing end).
    fn shrink(&mut self) {
        self.compact();
        self.buf.shrink_to_fit();
    }

    fn push_back(&mut self, data: &[u8]) {
        let need = entry_len(data.len());
        if self.head > 0 && self.buf.len() + need > self.buf.capacity() {
            self.compact();
        }
        encode_entry(&mut self.buf, data);
        self.count += 1;
    }

    fn push_front(&mut self, data: &[u8]) {
        if self.count == 0 {
            self.buf.clear();
            self.head = 0;
            return self.push_back(data);
        }
        // The node is not empty, so `fits` bounded `need` and `live` by NODE_BYTES.
        let need = entry_len(data.len());
        if self.head() < need {
            let live = self.live();
            // Room for this element and, while the node stays within its target, about as
            // much again as it holds: pushes to the front stay amortized O(1).
            let room = need.max(live.min(NODE_BYTES.saturating_sub(live + need)) + need);
            let mut nb = Vec::with_capacity(room + live);
            nb.resize(room, 0);
            nb.extend_from_slice(&self.buf[self.head()..]);
            self.buf = nb;
            self.set_head(room);
        }
        let start = self.head() - need;
        encode_entry_into(&mut self.buf[start..start + need], data);
        self.set_head(start);
        self.count += 1;
    }

    fn pop_front(&mut self) -> Bytes {
        let (d, n, next) = self.entry_at(self.head());
        let v = Bytes::copy_from_slice(&self.buf[d..d + n]);
        self.count -= 1;
        if self.count == 0 {
            self.buf.clear();
            self.head = 0;
            return v;
        }
        self.set_head(next);
        if self.head() > NODE_BYTES / 2 && self.head() > self.live() {
            self.compact();
        }
        v
    }

    fn pop_back(&mut self) -> Bytes {
        let (start, d, n) = self.entry_before(self.buf.len());
        let v = Bytes::copy_from_slice(&self.buf[d..d + n]);
        self.buf.truncate(start);
        self.count -= 1;
        v
    }

    /// Drops the first `k` elements (`k < count`).
    fn drop_front(&mut self, k: usize) {
        let off = self.offset_of(k);
        self.buf.drain(self.head()..off);
        self.count -= k as u32;
        self.shrink();
    }

    /// Drops the last `k` elements (`k < count`).
    fn drop_back(&mut self, k: usize) {
        let off = self.offset_of(self.count() - k);
        self.buf.truncate(off);
        self.count -= k as u32;
        self.shrink();
    }

    /// Replaces the bytes `range` of `buf` with the encoded element.
    fn splice_entry(&mut self, range: std::ops::Range<usize>, data: &[u8]) {
        let mut enc = Vec::with_capacity(entry_len(data.len()));
        encode_entry(&mut enc, data);
        self.buf.splice(range, enc);
    }

    /// Removes the byte spans (ascending, disjoint, each a whole element) from the buffer.
    fn remove_spans(&mut self, spans: &[(usize, usize)]) {
        let len = self.buf.len();
        let mut w = spans.first().map_or(len, |s| s.0);
        let mut r = w;
        for &(s, e) in spans {
            self.buf.copy_within(r..s, w);
            w += s - r;
            r = e;
        }
        self.buf.copy_within(r..len, w);
        w += len - r;
        self.buf.truncate(w);
        self.count -= spans.len() as u32;
    }

    /// Splits off the second half of the elements into a new node.
    fn split(&mut self) -> Node {
        let mid = self.offset_of(self.count() / 2);
        let tail = Node {
            buf: self.buf[mid..].to_vec(),
            head: 0,
            count: self.count - self.count / 2,
        };
        self.buf.truncate(mid);
        self.count /= 2;
        self.shrink();
        tail
    }
}

impl List {
    pub fn new() -> List {
        List::default()
    }

    /// A list holding `items` in order (RDB loading, tests).
    pub fn from_items<I, T>(items: I) -> List
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        let mut l = List::new();
        for i in items {
            l.push_back(i);
        }
        l
    }

    pub fn len(&self) -> usize {
        self.nodes.elements()
    }

    /// Number of nodes (each one allocation).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// Approximate heap bytes held (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        self.nodes.heap_bytes() + self.nodes.iter().map(|n| n.buf.capacity()).sum::<usize>()
    }

    pub fn push_back(&mut self, v: impl AsRef<[u8]>) {
        let v = v.as_ref();
        if !self.nodes.back().is_some_and(|n| n.fits(v.len())) {
            if let Some(last) = self.nodes.back_mut() {
                last.shrink();
            }
            self.nodes.push_back(Node::default());
        }
        if let Some(n) = self.nodes.back_mut() {
            n.push_back(v);
            self.nodes.count_elements(1);
        }
    }

    pub fn push_front(&mut self, v: impl AsRef<[u8]>) {
        let v = v.as_ref();
        if !self.nodes.front().is_some_and(|n| n.fits(v.len())) {
            if let Some(first) = self.nodes.front_mut() {
                first.shrink();
            }
            self.nodes.push_front(Node::default());
        }
        if let Some(n) = self.nodes.front_mut() {
            n.push_front(v);
            self.nodes.count_elements(1);
        }
    }

    pub fn pop_front(&mut self) -> Option<Bytes> {
        let node = self.nodes.front_mut()?;
        let v = node.pop_front();
        if node.count == 0 {
            self.nodes.pop_front();
        }
        self.nodes.count_elements(-1);
        Some(v)
    }

    pub fn pop_back(&mut self) -> Option<Bytes> {
        let node = self.nodes.back_mut()?;
        let v = node.pop_back();
        if node.count == 0 {
            self.nodes.pop_back();
        }
        self.nodes.count_elements(-1);
        Some(v)
    }

    /// (node index, byte offset) of element `i` (`i < len`), walking from the nearer end.
    fn locate(&self, i: usize) -> Option<(usize, usize)> {
        let len = self.len();
        if i >= len {
            return None;
        }
        if i < len / 2 {
            let mut i = i;
            for (ni, n) in self.nodes.iter().enumerate() {
                let c = n.count();
                if i < c {
                    return Some((ni, n.offset_of(i)));
                }
                i -= c;
            }
        } else {
            let mut r = len - 1 - i;
            for ni in (0..self.nodes.len()).rev() {
                let n = &self.nodes[ni];
                let c = n.count();
                if r < c {
                    return Some((ni, n.offset_of(c - 1 - r)));
                }
                r -= c;
            }
        }
        None
    }

    /// Element `i` (0 = head).
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let (ni, off) = self.locate(i)?;
        let n = &self.nodes[ni];
        let (d, len, _) = n.entry_at(off);
        Some(&n.buf[d..d + len])
    }

    /// Replaces element `i`; false if out of range.
    pub fn set(&mut self, i: usize, v: impl AsRef<[u8]>) -> bool {
        let Some((ni, off)) = self.locate(i) else {
            return false;
        };
        let n = &mut self.nodes[ni];
        let (_, _, next) = n.entry_at(off);
        n.splice_entry(off..next, v.as_ref());
        self.split_if_large(ni);
        true
    }

    /// Inserts `v` so that it becomes element `i` (`i <= len`; larger appends).
    pub fn insert(&mut self, i: usize, v: impl AsRef<[u8]>) {
        let v = v.as_ref();
        if i == 0 {
            return self.push_front(v);
        }
        let Some((ni, off)) = self.locate(i) else {
            return self.push_back(v);
        };
        let n = &mut self.nodes[ni];
        n.splice_entry(off..off, v);
        n.count += 1;
        self.nodes.count_elements(1);
        self.split_if_large(ni);
    }

    fn split_if_large(&mut self, ni: usize) {
        let n = &mut self.nodes[ni];
        if n.live() > NODE_BYTES && n.count > 1 {
            let tail = n.split();
            self.nodes.insert(ni + 1, tail);
        }
    }

    /// Removes the first `n` elements.
    pub fn trim_front(&mut self, n: usize) {
        let mut n = n.min(self.len());
        self.nodes.count_elements(-(n as isize));
        let mut whole = 0;
        while let Some(node) = self.nodes.get(whole) {
            if node.count() > n {
                break;
            }
            n -= node.count();
            whole += 1;
        }
        self.nodes.drain_front(whole);
        if n > 0 {
            if let Some(node) = self.nodes.front_mut() {
                node.drop_front(n);
            }
        }
    }

    /// Removes the last `n` elements.
    pub fn trim_back(&mut self, n: usize) {
        let mut n = n.min(self.len());
        self.nodes.count_elements(-(n as isize));
        let mut whole = 0;
        while let Some(node) = self
            .nodes
            .len()
            .checked_sub(whole + 1)
            .and_then(|i| self.nodes.get(i))
        {
            if node.count() > n {
                break;
            }
            n -= node.count();
            whole += 1;
        }
        self.nodes.drain_back(whole);
        if n > 0 {
            if let Some(node) = self.nodes.back_mut() {
                node.drop_back(n);
            }
        }
    }

    /// Removes elements equal to `v`: at most `limit` of them (0 = all), scanning from the
    /// tail when `from_tail`. Returns how many were removed.
    pub fn remove(&mut self, v: &[u8], limit: usize, from_tail: bool) -> usize {
        let mut removed = 0;
        let mut spans = Vec::new();
        let order: Vec<usize> = if from_tail {
            (0..self.nodes.len()).rev().collect()
        } else {
            (0..self.nodes.len()).collect()
        };
        for ni in order {
            if limit != 0 && removed == limit {
                break;
            }
            let n = &mut self.nodes[ni];
            spans.clear();
            if from_tail {
                let mut end = n.buf.len();
                while end > n.head() && (limit == 0 || removed < limit) {
                    let (start, d, len) = n.entry_before(end);
                    if &n.buf[d..d + len] == v {
                        spans.push((start, end));
                        removed += 1;
                    }
                    end = start;
                }
                spans.reverse();
            } else {
                let mut off = n.head();
                while off < n.buf.len() && (limit == 0 || removed < limit) {
                    let (d, len, next) = n.entry_at(off);
                    if &n.buf[d..d + len] == v {
                        spans.push((off, next));
                        removed += 1;
                    }
                    off = next;
                }
            }
            if !spans.is_empty() {
                n.remove_spans(&spans);
            }
        }
        if removed > 0 {
            self.nodes.count_elements(-(removed as isize));
            self.nodes.retain(|n| n.count > 0);
            self.merge_small_nodes();
        }
        removed
    }

    /// Joins neighbouring nodes whose elements fit in one node (after removals in the middle).
    fn merge_small_nodes(&mut self) {
        let mut i = 0;
        while i + 1 < self.nodes.len() {
            let (a, b) = (&self.nodes[i], &self.nodes[i + 1]);
            if a.live() + b.live() <= NODE_BYTES / 2 {
                if let Some(b) = self.nodes.remove(i + 1) {
                    let a = &mut self.nodes[i];
                    a.compact();
                    a.buf.extend_from_slice(&b.buf[b.head()..]);
                    a.count += b.count;
                }
            } else {
                i += 1;
            }
        }
    }

    /// All elements, head to tail (double-ended).
    pub fn iter(&self) -> Iter<'_> {
        match (self.nodes.front(), self.nodes.back()) {
            (Some(f), Some(b)) => Iter {
                nodes: &self.nodes,
                front: (0, f.head()),
                back: (self.nodes.len() - 1, b.buf.len()),
                remaining: self.len(),
            },
            _ => Iter {
                nodes: &self.nodes,
                front: (0, 0),
                back: (0, 0),
                remaining: 0,
            },
        }
    }

    /// Elements `start..=end` (both `< len`, `start <= end`; otherwise empty), double-ended.
    pub fn range(&self, start: usize, end: usize) -> Iter<'_> {
        match (self.locate(start), self.locate(end)) {
            (Some(front), Some((bn, boff))) if start <= end => Iter {
                nodes: &self.nodes,
                front,
                back: (bn, self.nodes[bn].entry_at(boff).2),
                remaining: end - start + 1,
            },
            _ => Iter {
                nodes: &self.nodes,
                front: (0, 0),
                back: (0, 0),
                remaining: 0,
            },
        }
    }

    /// Copies of elements `start..=end` (tail to head when `reverse`), all slices of one buffer.
    pub fn range_bytes(&self, start: usize, end: usize, reverse: bool) -> Vec<Bytes> {
        let it = self.range(start, end);
        if reverse {
            collect_bytes(it.rev())
        } else {
            collect_bytes(it)
        }
    }

    /// Removes up to `n` elements from the head (or tail) and returns them in pop order.
    pub fn pop_many(&mut self, n: usize, from_front: bool) -> Vec<Bytes> {
        let len = self.len();
        let n = n.min(len);
        if n == 0 {
            return Vec::new();
        }
        if from_front {
            let out = self.range_bytes(0, n - 1, false);
            self.trim_front(n);
            out
        } else {
            let out = self.range_bytes(len - n, len - 1, true);
            self.trim_back(n);
            out
        }
    }
}

/// Copies the items into one shared buffer and returns a slice of it per item.
fn collect_bytes<'a>(it: impl Iterator<Item = &'a [u8]>) -> Vec<Bytes> {
    let mut buf = Vec::new();
    let mut ends = Vec::with_capacity(it.size_hint().0);
    for e in it {
        buf.extend_from_slice(e);
        ends.push(buf.len());
    }
    let all = Bytes::from(buf);
    let mut start = 0;
    ends.into_iter()
        .map(|end| {
            let b = all.slice(start..end);
            start = end;
            b
        })
        .collect()
}

/// Iterator over list elements as byte slices.
pub struct Iter<'a> {
    nodes: &'a Spine,
    /// Node index and byte offset of the next element from the front.
    front: (usize, usize),
    /// Node index and byte offset just past the next element from the back.
    back: (usize, usize),
    remaining: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.remaining == 0 {
            return None;
        }
        let mut node = self.nodes.get(self.front.0)?;
        while self.front.1 >= node.buf.len() {
            self.front.0 += 1;
            node = self.nodes.get(self.front.0)?;
            self.front.1 = node.head();
        }
        let (d, n, next) = node.entry_at(self.front.1);
        self.front.1 = next;
        self.remaining -= 1;
        Some(&node.buf[d..d + n])
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        let mut node = self.nodes.get(self.back.0)?;
        while self.back.1 <= node.head() {
            self.back.0 = self.back.0.checked_sub(1)?;
            node = self.nodes.get(self.back.0)?;
            self.back.1 = node.buf.len();
        }
        let (start, d, n) = node.entry_before(self.back.1);
        self.back.1 = start;
        self.remaining -= 1;
        Some(&node.buf[d..d + n])
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl PartialEq for List {
    fn eq(&self, other: &List) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn check(l: &List, model: &VecDeque<Vec<u8>>) {
        assert_eq!(l.len(), model.len());
        assert!(l.nodes.iter().all(|n| n.count > 0));
        assert_eq!(
            l.nodes.iter().map(|n| n.count()).sum::<usize>(),
            model.len()
        );
        let fwd: Vec<&[u8]> = l.iter().collect();
        let want: Vec<&[u8]> = model.iter().map(|v| &v[..]).collect();
        assert_eq!(fwd, want);
        let mut back: Vec<&[u8]> = l.iter().rev().collect();
        back.reverse();
        assert_eq!(back, want);
    }

    fn value(rng: &mut impl Rng, small: bool) -> Vec<u8> {
        if small {
            let len = rng.random_range(0..4);
            return (0..len).map(|_| rng.random_range(b'a'..=b'b')).collect();
        }
        let len = match rng.random_range(0..20) {
            0 => 0,
            1 => 127,
            2 => 128,
            3 => rng.random_range(100..20_000),
            4 => 16_384,
            _ => rng.random_range(1..12),
        };
        (0..len).map(|_| rng.random_range(b'a'..=b'c')).collect()
    }

    #[test]
    fn varint_roundtrip() {
        for n in [
            0usize,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            1 << 21,
            usize::MAX >> 1,
        ] {
            let mut tmp = [0u8; 10];
            let l = varint_write(n, &mut tmp);
            assert_eq!(l, varint_len(n));
        }
        let mut l = List::new();
        for n in [0usize, 127, 128, 16_383, 16_384, 70_000] {
            l.push_back(vec![b'x'; n]);
        }
        let lens: Vec<usize> = l.iter().map(|e| e.len()).collect();
        assert_eq!(lens, vec![0, 127, 128, 16_383, 16_384, 70_000]);
        let lens: Vec<usize> = l.iter().rev().map(|e| e.len()).collect();
        assert_eq!(lens, vec![70_000, 16_384, 16_383, 128, 127, 0]);
    }

    #[test]
    fn basic_ops() {
        let mut l = List::from_items(["a", "b", "c"]);
        l.push_front("z");
        assert_eq!(l.get(0), Some(&b"z"[..]));
        assert_eq!(l.get(3), Some(&b"c"[..]));
        assert_eq!(l.get(4), None);
        assert!(l.set(1, "A"));
        assert!(!l.set(4, "x"));
        l.insert(2, "m");
        let all: Vec<&[u8]> = l.iter().collect();
        assert_eq!(all, vec![&b"z"[..], b"A", b"m", b"b", b"c"]);
        assert_eq!(
            l.range_bytes(1, 3, true),
            vec![Bytes::from("b"), Bytes::from("m"), Bytes::from("A")]
        );
        assert_eq!(
            l.pop_many(2, false),
            vec![Bytes::from("c"), Bytes::from("b")]
        );
        assert_eq!(l.pop_many(10, true).len(), 3);
        assert!(l.is_empty());
        assert_eq!(l.pop_front(), None);
        assert_eq!(l.pop_back(), None);
        assert_eq!(l.iter().count(), 0);
        assert_eq!(l.range(0, 0).count(), 0);
    }

    #[test]
    fn many_small_elements_span_nodes() {
        let mut l = List::new();
        let mut model = VecDeque::new();
        for i in 0..20_000u32 {
            let v = i.to_string().into_bytes();
            if i % 3 == 0 {
                l.push_front(&v);
                model.push_front(v);
            } else {
                l.push_back(&v);
                model.push_back(v);
            }
        }
        assert!(l.nodes.len() > 10);
        check(&l, &model);
        for i in [0, 1, 9_999, 10_000, 19_999] {
            assert_eq!(l.get(i), Some(&model[i][..]));
        }
        let r: Vec<&[u8]> = l.range(5_000, 5_100).collect();
        let want: Vec<&[u8]> = model.range(5_000..=5_100).map(|v| &v[..]).collect();
        assert_eq!(r, want);
        // Memory: packed, not one heap block per element.
        assert!(l.heap_bytes() < 20_000 * 16);
    }

    #[test]
    fn random_against_model() {
        for seed in 0..40u64 {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            // Odd seeds: many tiny elements, so lists span many nodes and the middle
            // operations (insert, set, remove) split and merge nodes.
            let small = seed % 2 == 1;
            let ops = if small { 1500 } else { 600 };
            let mut l = List::new();
            let mut model: VecDeque<Vec<u8>> = VecDeque::new();
            let mut max_nodes = 0;
            for step in 0..ops {
                let op = rng.random_range(0..13);
                match op {
                    0..=2 => {
                        for _ in 0..if small { rng.random_range(1..40) } else { 1 } {
                            let v = value(&mut rng, small);
                            l.push_back(&v);
                            model.push_back(v);
                        }
                    }
                    3..=5 => {
                        for _ in 0..if small { rng.random_range(1..40) } else { 1 } {
                            let v = value(&mut rng, small);
                            l.push_front(&v);
                            model.push_front(v);
                        }
                    }
                    6 => assert_eq!(l.pop_front().map(|b| b.to_vec()), model.pop_front()),
                    7 => assert_eq!(l.pop_back().map(|b| b.to_vec()), model.pop_back()),
                    8 if !model.is_empty() => {
                        let i = rng.random_range(0..model.len());
                        let v = value(&mut rng, small);
                        assert!(l.set(i, &v));
                        model[i] = v;
                    }
                    9 => {
                        let i = rng.random_range(0..=model.len());
                        let v = value(&mut rng, small);
                        l.insert(i, &v);
                        model.insert(i, v);
                    }
                    10 => {
                        let v = value(&mut rng, small);
                        let limit = if small && rng.random_bool(0.8) {
                            rng.random_range(1..6)
                        } else {
                            rng.random_range(0..3)
                        };
                        let from_tail = rng.random_bool(0.5);
                        let mut want = 0;
                        if from_tail {
                            let mut i = model.len();
                            while i > 0 && (limit == 0 || want < limit) {
                                i -= 1;
                                if model[i] == v {
                                    model.remove(i);
                                    want += 1;
                                }
                            }
                        } else {
                            let mut i = 0;
                            while i < model.len() && (limit == 0 || want < limit) {
                                if model[i] == v {
                                    model.remove(i);
                                    want += 1;
                                } else {
                                    i += 1;
                                }
                            }
                        }
                        assert_eq!(l.remove(&v, limit, from_tail), want);
                    }
                    11 => {
                        let most = if small { 10 } else { model.len() / 3 + 1 };
                        let a = rng.random_range(0..=most);
                        let b = rng.random_range(0..=most);
                        l.trim_front(a);
                        l.trim_back(b);
                        for _ in 0..a.min(model.len()) {
                            model.pop_front();
                        }
                        for _ in 0..b.min(model.len()) {
                            model.pop_back();
                        }
                    }
                    _ => {
                        let most = if small { 10 } else { model.len() + 2 };
                        let n = rng.random_range(0..most);
                        let front = rng.random_bool(0.5);
                        let got = l.pop_many(n, front);
                        let want: Vec<Vec<u8>> = (0..n.min(model.len()))
                            .filter_map(|_| {
                                if front {
                                    model.pop_front()
                                } else {
                                    model.pop_back()
                                }
                            })
                            .collect();
                        let got: Vec<Vec<u8>> = got.iter().map(|b| b.to_vec()).collect();
                        assert_eq!(got, want);
                    }
                }
                if small && step % 16 != 0 {
                    assert_eq!(l.len(), model.len());
                } else {
                    check(&l, &model);
                }
                max_nodes = max_nodes.max(l.nodes.len());
                if !model.is_empty() {
                    let i = rng.random_range(0..model.len());
                    assert_eq!(l.get(i), Some(&model[i][..]));
                    let j = rng.random_range(i..model.len());
                    let r: Vec<&[u8]> = l.range(i, j).rev().collect();
                    let want: Vec<&[u8]> = model.range(i..=j).rev().map(|v| &v[..]).collect();
                    assert_eq!(r, want);
                }
            }
            check(&l, &model);
            assert!(
                !small || max_nodes >= 4,
                "seed {seed}: {max_nodes} nodes at most"
            );
        }
    }
}
