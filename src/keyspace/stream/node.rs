//! One stream node: a listpack holding a master entry and the entries delta-encoded against
//! it (redis `t_stream.c`, "master entry"):
//!
//! ```text
//! master: count | deleted | num-fields | field_1 .. field_N | 0
//! entry:  flags | ms-diff | seq-diff | num-fields | field_1 | value_1 .. | lp-count
//!         (SAMEFIELDS flag: the fields are the master's, only the values are stored)
//!         flags | ms-diff | seq-diff | value_1 .. value_N | lp-count
//! ```
//! `count` counts live entries, `deleted` entries flagged DELETED (tombstones). The node's key
//! in the stream is the master ID, the ID of the first entry added to it.

use super::lp;
use super::StreamId;
use crate::persistence::rdb::listpack::Entry;

pub const FLAG_DELETED: i64 = 1;
pub const FLAG_SAMEFIELDS: i64 = 2;

/// The master entry of a node.
pub struct Master {
    pub count: i64,
    pub deleted: i64,
    pub nfields: usize,
    /// Position of the first master field.
    pub fields_at: Option<usize>,
    /// Position of the first entry's flags.
    pub entries_at: Option<usize>,
}

/// Reads the master entry.
pub fn master(node: &[u8]) -> Option<Master> {
    let (count, p) = lp::get_int(node, lp::first(node)?)?;
    let (deleted, p) = lp::get_int(node, p?)?;
    let (nfields, mut p) = lp::get_int(node, p?)?;
    let nfields = usize::try_from(nfields).ok()?;
    let fields_at = p;
    for _ in 0..nfields {
        p = lp::next(node, p?);
    }
    // The zero terminator.
    let entries_at = lp::next(node, p?);
    Some(Master {
        count,
        deleted,
        nfields,
        fields_at,
        entries_at,
    })
}

/// A new node whose master fields are the fields of `pairs` (field, value, field, value ...),
/// holding that first entry with master ID `id`.
pub fn create(pairs: &[bytes::Bytes]) -> Vec<u8> {
    let mut node = lp::new();
    lp::append_int(&mut node, 1);
    lp::append_int(&mut node, 0);
    lp::append_int(&mut node, (pairs.len() / 2) as i64);
    for f in pairs.iter().step_by(2) {
        lp::append(&mut node, f);
    }
    lp::append_int(&mut node, 0);
    push_entry(&mut node, FLAG_SAMEFIELDS, StreamId::MIN, pairs);
    node
}

/// Whether `pairs` has exactly the master's fields, in order.
pub fn same_fields(node: &[u8], m: &Master, pairs: &[bytes::Bytes]) -> bool {
    if pairs.len() / 2 != m.nfields {
        return false;
    }
    let mut p = m.fields_at;
    for f in pairs.iter().step_by(2) {
        let Some((e, next)) = p.and_then(|p| lp::get(node, p)) else {
            return false;
        };
        if !entry_eq(e, f) {
            return false;
        }
        p = next;
    }
    true
}

fn entry_eq(e: Entry<'_>, b: &[u8]) -> bool {
    match e {
        Entry::Str(s) => s == b,
        Entry::Int(i) => itoa::Buffer::new().format(i).as_bytes() == b,
    }
}

/// Appends one entry whose ID is `delta` from the master ID, and bumps nothing: the caller
/// updates the master's count.
pub fn push_entry(node: &mut Vec<u8>, flags: i64, delta: StreamId, pairs: &[bytes::Bytes]) {
    let n = pairs.len() / 2;
    let same = flags & FLAG_SAMEFIELDS != 0;
    lp::append_int(node, flags);
    lp::append_int(node, delta.ms as i64);
    lp::append_int(node, delta.seq as i64);
    if !same {
        lp::append_int(node, n as i64);
    }
    for pair in pairs.chunks(2) {
        if !same {
            lp::append(node, &pair[0]);
        }
        lp::append(node, &pair[1]);
    }
    let lp_count = if same { n + 3 } else { 2 * n + 4 };
    lp::append_int(node, lp_count as i64);
}

/// Sets the master's live and deleted counts.
pub fn set_counts(node: &mut Vec<u8>, count: i64, deleted: i64) {
    let Some(p) = lp::first(node) else { return };
    lp::replace_int(node, p, count);
    if let Some(p) = lp::next(node, p) {
        lp::replace_int(node, p, deleted);
    }
}

/// One entry of a node, tombstones included.
#[derive(Clone, Copy)]
pub struct Item<'a> {
    pub id: StreamId,
    pub flags: i64,
    /// Position of the flags element (to flag the entry deleted).
    pub flags_at: usize,
    pub nfields: usize,
    node: &'a [u8],
    master_fields: Option<usize>,
    /// Position of the first field (or value, with SAMEFIELDS).
    data_at: Option<usize>,
}

impl<'a> Item<'a> {
    pub fn deleted(&self) -> bool {
        self.flags & FLAG_DELETED != 0
    }

    /// The entry's field/value pairs.
    pub fn pairs(&self) -> Pairs<'a> {
        Pairs {
            node: self.node,
            same: self.flags & FLAG_SAMEFIELDS != 0,
            master: self.master_fields,
            at: self.data_at,
            left: self.nfields,
        }
    }
}

/// Field/value pairs of one entry.
pub struct Pairs<'a> {
    node: &'a [u8],
    same: bool,
    master: Option<usize>,
    at: Option<usize>,
    left: usize,
}

impl<'a> Iterator for Pairs<'a> {
    type Item = (Entry<'a>, Entry<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let field = if self.same {
            let (f, next) = lp::get(self.node, self.master?)?;
            self.master = next;
            f
        } else {
            let (f, next) = lp::get(self.node, self.at?)?;
            self.at = next;
            f
        };
        let (v, next) = lp::get(self.node, self.at?)?;
        self.at = next;
        Some((field, v))
    }
}

/// The entries of a node in order, tombstones included.
pub struct Items<'a> {
    node: &'a [u8],
    master_id: StreamId,
    master_fields: Option<usize>,
    master_nfields: usize,
    at: Option<usize>,
}

pub fn items(node: &[u8], master_id: StreamId) -> Items<'_> {
    let m = master(node);
    Items {
        node,
        master_id,
        master_fields: m.as_ref().and_then(|m| m.fields_at),
        master_nfields: m.as_ref().map_or(0, |m| m.nfields),
        at: m.and_then(|m| m.entries_at),
    }
}

impl<'a> Iterator for Items<'a> {
    type Item = Item<'a>;

    fn next(&mut self) -> Option<Item<'a>> {
        let node = self.node;
        let flags_at = self.at.take()?;
        let (flags, p) = lp::get_int(node, flags_at)?;
        let (ms, p) = lp::get_int(node, p?)?;
        let (seq, mut p) = lp::get_int(node, p?)?;
        let same = flags & FLAG_SAMEFIELDS != 0;
        let nfields = if same {
            self.master_nfields
        } else {
            let (n, next) = lp::get_int(node, p?)?;
            p = next;
            usize::try_from(n).ok()?
        };
        let data_at = p;
        let skip = if same { nfields } else { 2 * nfields };
        for _ in 0..skip {
            p = lp::next(node, p?);
        }
        // p is at lp-count; the next entry follows it.
        self.at = p.and_then(|p| lp::next(node, p));
        Some(Item {
            id: StreamId {
                ms: self.master_id.ms.wrapping_add(ms as u64),
                seq: self.master_id.seq.wrapping_add(seq as u64),
            },
            flags,
            flags_at,
            nfields,
            node,
            master_fields: self.master_fields,
            data_at,
        })
    }
}

/// Checks a node loaded from outside the way `streamValidateListpackIntegrity` does (deep):
/// master entry, then `count + deleted` well-formed entries and nothing after them. The
/// listpack itself must have been validated already.
pub fn valid(node: &[u8]) -> bool {
    let Some(m) = master(node) else { return false };
    let Some(zero_at) = (match m.fields_at {
        Some(mut p) => {
            let mut ok = true;
            for _ in 0..m.nfields {
                match lp::next(node, p) {
                    Some(n) => p = n,
                    None => ok = false,
                }
            }
            ok.then_some(p)
        }
        None => None,
    }) else {
        return false;
    };
    if !matches!(lp::get_int(node, zero_at), Some((0, _))) || m.count < 0 || m.deleted < 0 {
        return false;
    }
    let total = m.count.saturating_add(m.deleted);
    let mut at = m.entries_at;
    for _ in 0..total {
        let Some(p) = at else { return false };
        let Some((flags, Some(p))) = lp::get_int(node, p) else {
            return false;
        };
        let Some((_, Some(p))) = lp::get_int(node, p) else {
            return false;
        };
        let Some((_, Some(mut p))) = lp::get_int(node, p) else {
            return false;
        };
        let (fields, extra) = if flags & FLAG_SAMEFIELDS != 0 {
            (m.nfields as i64, 3)
        } else {
            let Some((n, Some(next))) = lp::get_int(node, p) else {
                return false;
            };
            if n < 0 {
                return false;
            }
            p = next;
            for _ in 0..n {
                match lp::next(node, p) {
                    Some(next) => p = next,
                    None => return false,
                }
            }
            (n, 3 + n + 1)
        };
        for _ in 0..fields {
            match lp::next(node, p) {
                Some(next) => p = next,
                None => return false,
            }
        }
        match lp::get_int(node, p) {
            Some((c, next)) if c == fields + extra => at = next,
            _ => return false,
        }
    }
    at.is_none()
}
