//! Hash values, in Redis's two encodings:
//! - `listpack`: one packed buffer (`Packed`) of field/value pairs in insertion order (each
//!   string stored as its LEB128 length then its bytes), searched linearly, while the hash has at
//!   most `hash-max-listpack-entries` pairs and no field or value longer than
//!   `hash-max-listpack-value`;
//! - `hashtable`: a `DenseMap` of `Compact` fields and values (up to 15 bytes inline, longer ones
//!   in one exact-size allocation), in insertion order until a removal; its order is only ever
//!   exposed where Redis's order is unspecified.
//!
//! Conversion is one-way (listpack → hashtable), as in Redis. Removal from the table is
//! `swap_remove`, which moves only the last entry: `scan` relies on that (see there).

use bytes::Bytes;

use super::compact::Compact;
use super::dense::DenseMap;
use super::limits::EncodingLimits;
use super::packed::Packed;
use super::varint;

/// The table form: field → value.
pub type Table = DenseMap<Compact>;

// ---------------------------------------------------------------------------------------------
// Packed strings (shared with nothing else: the format is private to this file)

/// Writes `s` as its LEB128 length then its bytes at the start of `out` (at least
/// `encoded_len(s)` long); returns the bytes written.
fn put_str(out: &mut [u8], s: &[u8]) -> usize {
    let p = varint::write(out, s.len() as u64);
    out[p..p + s.len()].copy_from_slice(s);
    p + s.len()
}

/// Decodes the string at `off`: (bytes, offset after it).
fn get_str(buf: &[u8], off: usize) -> Option<(&[u8], usize)> {
    let (len, p) = varint::read(buf, off)?;
    let end = p.checked_add(usize::try_from(len).ok()?)?;
    Some((buf.get(p..end)?, end))
}

fn encoded_len(s: &[u8]) -> usize {
    varint::len(s.len() as u64) + s.len()
}

/// The packed small form: `len` pairs, field then value, in insertion order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listpack {
    buf: Packed,
    /// Number of pairs.
    len: u32,
}

/// Size above which a listpack converts to a table whatever the limits say (redis
/// `LISTPACK_MAX_SAFETY_SIZE`, checked by `lpSafeToAdd`).
pub const LISTPACK_SAFETY_BYTES: usize = 1 << 30;

/// Where one pair lives in the buffer.
#[derive(Debug, Clone, Copy)]
struct PairPos {
    start: usize,
    value_start: usize,
    end: usize,
}

impl Listpack {
    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether adding `more` encoded bytes keeps the buffer under `LISTPACK_SAFETY_BYTES`.
    fn safe_to_add(&self, more: usize) -> bool {
        self.buf.len() + more <= LISTPACK_SAFETY_BYTES
    }

    pub fn iter(&self) -> ListpackIter<'_> {
        ListpackIter {
            buf: &self.buf,
            off: 0,
        }
    }

    fn find(&self, field: &[u8]) -> Option<PairPos> {
        let mut off = 0;
        while off < self.buf.len() {
            let (f, value_start) = get_str(&self.buf, off)?;
            let (_, end) = get_str(&self.buf, value_start)?;
            if f == field {
                return Some(PairPos {
                    start: off,
                    value_start,
                    end,
                });
            }
            off = end;
        }
        None
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        let pos = self.find(field)?;
        get_str(&self.buf, pos.value_start).map(|(v, _)| v)
    }

    /// Appends a pair whose field is known to be absent.
    fn push(&mut self, field: &[u8], value: &[u8]) {
        let end = self.buf.len();
        self.buf
            .splice_with(end..end, encoded_len(field) + encoded_len(value), |gap| {
                let n = put_str(gap, field);
                put_str(&mut gap[n..], value);
            });
        self.len += 1;
    }

    fn replace_value(&mut self, pos: PairPos, value: &[u8]) {
        self.buf
            .splice_with(pos.value_start..pos.end, encoded_len(value), |gap| {
                put_str(gap, value);
            });
    }

    fn remove(&mut self, field: &[u8]) -> bool {
        match self.find(field) {
            Some(pos) => {
                self.buf.remove(pos.start..pos.end);
                self.len -= 1;
                true
            }
            None => false,
        }
    }

    /// Bytes held on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.buf.heap_bytes()
    }
}

/// Iterates a listpack's pairs in order.
pub struct ListpackIter<'a> {
    buf: &'a [u8],
    off: usize,
}

impl<'a> Iterator for ListpackIter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let (f, p) = get_str(self.buf, self.off)?;
        let (v, end) = get_str(self.buf, p)?;
        self.off = end;
        Some((f, v))
    }
}

// ---------------------------------------------------------------------------------------------
// Hash

#[derive(Debug, Clone)]
pub enum Hash {
    Listpack(Listpack),
    /// Boxed: a `Value` stays as small as its smallest encodings need.
    Table(Box<Table>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Listpack(Listpack::default())
    }
}

/// Iterates a hash's pairs (listpack: insertion order; table: unspecified, stable between writes).
pub enum Iter<'a> {
    Listpack(ListpackIter<'a>),
    Table(std::slice::Iter<'a, (Compact, Compact)>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Listpack(it) => it.next(),
            Iter::Table(it) => it.next().map(|(f, v)| (&f[..], &v[..])),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Iter::Listpack(_) => (0, None),
            Iter::Table(it) => it.size_hint(),
        }
    }
}

/// One call's worth of a cursor scan.
#[derive(Debug, Default)]
pub struct ScanPage {
    /// The cursor to return to the client (0 = the scan is complete).
    pub cursor: u64,
    pub pairs: Vec<(Bytes, Bytes)>,
}

impl Hash {
    pub fn len(&self) -> usize {
        match self {
            Hash::Listpack(l) => l.len(),
            Hash::Table(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Hash::Listpack(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            Hash::Listpack(l) => l.get(field),
            Hash::Table(m) => m.get(field).map(|v| &v[..]),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        match self {
            Hash::Listpack(l) => l.find(field).is_some(),
            Hash::Table(m) => m.contains_key(field),
        }
    }

    /// Sets a field; returns true if it was new. Converts to a table when the field or the value
    /// is longer than `hash-max-listpack-value`, or when a new field would exceed
    /// `hash-max-listpack-entries` (redis `hashTypeTryConversion` + `hashTypeSet`).
    pub fn insert(
        &mut self,
        field: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        limits: &EncodingLimits,
    ) -> bool {
        let (field, value) = (field.as_ref(), value.as_ref());
        if let Hash::Listpack(l) = self {
            if field.len() > limits.hash_max_listpack_value
                || value.len() > limits.hash_max_listpack_value
                || !l.safe_to_add(encoded_len(field) + encoded_len(value))
            {
                self.convert();
            } else if let Some(pos) = l.find(field) {
                l.replace_value(pos, value);
                return false;
            } else if l.len() < limits.hash_max_listpack_entries {
                l.push(field, value);
                return true;
            } else {
                self.convert();
            }
        }
        match self {
            Hash::Table(m) => match m.get_mut(field) {
                Some(v) => {
                    *v = value.into();
                    false
                }
                None => {
                    m.push(field.into(), value.into());
                    true
                }
            },
            Hash::Listpack(_) => false,
        }
    }

    /// Removes a field; true if it existed.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Listpack(l) => l.remove(field),
            Hash::Table(m) => m.swap_remove(field).is_some(),
        }
    }

    /// Iterates fields and values (listpack: insertion order).
    pub fn iter(&self) -> Iter<'_> {
        match self {
            Hash::Listpack(l) => Iter::Listpack(l.iter()),
            Hash::Table(m) => Iter::Table(m.iter()),
        }
    }

    /// The pairs at the given positions (listpack: positions in insertion order; table: indices
    /// of the table). Positions out of range are skipped. Used by HRANDFIELD.
    pub fn pairs_at(&self, positions: &[usize]) -> Vec<(&[u8], &[u8])> {
        match self {
            Hash::Table(m) => positions
                .iter()
                .filter_map(|&i| m.get_index(i).map(|(f, v)| (&f[..], &v[..])))
                .collect(),
            Hash::Listpack(l) => {
                let all: Vec<(&[u8], &[u8])> = l.iter().collect();
                positions
                    .iter()
                    .filter_map(|&i| all.get(i).copied())
                    .collect()
            }
        }
    }

    /// One step of HSCAN. A listpack is returned whole with cursor 0, as Redis does. A table is
    /// walked from its last index down to 0 and the cursor is (next index to visit + 1): since
    /// removal moves only the last entry into the hole (`swap_remove`) and insertion appends,
    /// an entry present during the whole scan is always at an index not yet visited until it is
    /// returned, so Redis's guarantee (every such element is returned at least once) holds.
    /// Cursor values differ from Redis's (which are reversed-bit bucket indices).
    pub fn scan(&self, cursor: u64, count: usize) -> ScanPage {
        match self {
            Hash::Listpack(l) => ScanPage {
                cursor: 0,
                pairs: l
                    .iter()
                    .map(|(f, v)| (Bytes::copy_from_slice(f), Bytes::copy_from_slice(v)))
                    .collect(),
            },
            Hash::Table(m) => {
                let (next, range) = scan_window(m.len(), cursor, count);
                let pairs = range
                    .rev()
                    .filter_map(|i| m.get_index(i))
                    .map(|(f, v)| (Bytes::copy_from_slice(f), Bytes::copy_from_slice(v)))
                    .collect();
                ScanPage {
                    cursor: next,
                    pairs,
                }
            }
        }
    }

    /// Approximate bytes held on the heap (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Hash::Listpack(l) => l.heap_bytes(),
            Hash::Table(m) => {
                m.heap_bytes() + m.iter().map(|(f, v)| f.len() + v.len()).sum::<usize>()
            }
        }
    }

    fn convert(&mut self) {
        if let Hash::Listpack(l) = self {
            let mut m = Table::with_capacity(l.len() + 1);
            for (f, v) in l.iter() {
                m.push(f.into(), v.into());
            }
            *self = Hash::Table(Box::new(m));
        }
    }
}

/// The index window of one scan step over a table of `len` entries walked from the top:
/// returns (cursor to return, indices to visit). See [`Hash::scan`].
pub fn scan_window(len: usize, cursor: u64, count: usize) -> (u64, std::ops::Range<usize>) {
    if len == 0 {
        return (0, 0..0);
    }
    // Cursor 0 starts at the top; otherwise it is (next index + 1), clamped to the table.
    let top = if cursor == 0 {
        len
    } else {
        usize::try_from(cursor).unwrap_or(usize::MAX).min(len)
    };
    let count = count.max(1);
    let bottom = top.saturating_sub(count);
    let next = if bottom == 0 { 0 } else { bottom as u64 };
    (next, bottom..top)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(entries: usize, value: usize) -> EncodingLimits {
        EncodingLimits {
            hash_max_listpack_entries: entries,
            hash_max_listpack_value: value,
            ..EncodingLimits::default()
        }
    }

    #[test]
    fn listpack_keeps_insertion_order_and_updates_in_place() {
        let l = EncodingLimits::default();
        let mut h = Hash::default();
        assert!(h.insert(b"b", b"1", &l));
        assert!(h.insert(b"a", b"2", &l));
        assert!(h.insert(b"c", b"3", &l));
        assert!(!h.insert(b"a", b"a much longer value than before", &l));
        assert_eq!(h.encoding(), "listpack");
        let pairs: Vec<_> = h.iter().collect();
        assert_eq!(
            pairs,
            vec![
                (&b"b"[..], &b"1"[..]),
                (&b"a"[..], &b"a much longer value than before"[..]),
                (&b"c"[..], &b"3"[..])
            ]
        );
        assert!(h.remove(b"b"));
        assert!(!h.remove(b"b"));
        assert_eq!(h.get(b"a"), Some(&b"a much longer value than before"[..]));
        assert_eq!(h.get(b"c"), Some(&b"3"[..]));
        assert_eq!(h.len(), 2);
        assert!(h.insert(b"", b"", &l));
        assert_eq!(h.get(b""), Some(&b""[..]));
    }

    #[test]
    fn long_strings_use_multibyte_lengths() {
        let l = limits(128, 100_000);
        let mut h = Hash::default();
        let big = vec![b'x'; 20_000];
        assert!(h.insert(&big[..], &big[..300], &l));
        assert!(h.insert(b"k", &big[..], &l));
        assert_eq!(h.get(&big), Some(&big[..300]));
        assert_eq!(h.get(b"k"), Some(&big[..]));
        assert!(!h.insert(b"k", b"v", &l));
        assert_eq!(h.get(b"k"), Some(&b"v"[..]));
        assert_eq!(h.encoding(), "listpack");
    }

    #[test]
    fn converts_at_redis_thresholds() {
        let l = limits(2, 4);
        let mut h = Hash::default();
        h.insert(b"a", b"1", &l);
        h.insert(b"b", b"1", &l);
        assert_eq!(h.encoding(), "listpack");
        h.insert(b"b", b"2", &l);
        assert_eq!(h.encoding(), "listpack");
        h.insert(b"c", b"1", &l);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.len(), 3);

        let mut h = Hash::default();
        h.insert(b"a", b"1234", &l);
        assert_eq!(h.encoding(), "listpack");
        h.insert(b"a", b"12345", &l);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(b"a"), Some(&b"12345"[..]));
        // One-way: shrinking back does not convert.
        h.remove(b"a");
        h.insert(b"a", b"1", &l);
        assert_eq!(h.encoding(), "hashtable");

        let mut h = Hash::default();
        h.insert(b"abcde", b"1", &l);
        assert_eq!(h.encoding(), "hashtable");

        let mut h = Hash::default();
        h.insert(b"a", b"1", &limits(0, 64));
        assert_eq!(h.encoding(), "hashtable");
    }

    #[test]
    fn table_scan_returns_every_stable_element_despite_removals() {
        let l = limits(0, 64);
        let mut h = Hash::default();
        for i in 0..100 {
            h.insert(format!("f{i}"), b"v", &l);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut step = 0;
        loop {
            let page = h.scan(cursor, 7);
            for (f, _) in page.pairs {
                seen.insert(f);
            }
            // Remove a few fields, some already returned, some not, and add new ones.
            step += 1;
            h.remove(format!("f{}", step * 3).as_bytes());
            h.insert(format!("new{step}"), b"v", &l);
            cursor = page.cursor;
            if cursor == 0 {
                break;
            }
        }
        for i in 0..100 {
            let removed = (1..=step).any(|s| s * 3 == i);
            if !removed {
                assert!(seen.contains(format!("f{i}").as_bytes()), "f{i} missed");
            }
        }
    }

    #[test]
    fn scan_window_edges() {
        assert_eq!(scan_window(0, 0, 10), (0, 0..0));
        assert_eq!(scan_window(5, 0, 10), (0, 0..5));
        assert_eq!(scan_window(25, 0, 10), (15, 15..25));
        assert_eq!(scan_window(25, 15, 10), (5, 5..15));
        assert_eq!(scan_window(25, 5, 10), (0, 0..5));
        // A stale cursor past the end is clamped.
        assert_eq!(scan_window(3, u64::MAX, 10), (0, 0..3));
        assert_eq!(scan_window(3, 2, 0), (1, 1..2));
    }

    #[test]
    fn pairs_at_positions() {
        let l = EncodingLimits::default();
        let mut h = Hash::default();
        h.insert(b"a", b"1", &l);
        h.insert(b"b", b"2", &l);
        assert_eq!(
            h.pairs_at(&[1, 0, 5]),
            vec![(&b"b"[..], &b"2"[..]), (&b"a"[..], &b"1"[..])]
        );
    }
}
