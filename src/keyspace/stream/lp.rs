//! The listpack operations a stream node needs (redis `listpack.c`): append at the tail,
//! read an element, step forward, replace an integer in place. The encodings are the ones
//! the RDB writer and parser use (`persistence::rdb::pack` / `listpack`), so a node is byte
//! for byte the listpack Redis would hold and is saved as it is.

use crate::persistence::rdb::listpack::{backlen_size, decode_entry, Entry};
use crate::persistence::rdb::pack::{lp_entry, lp_int};

const HEADER: usize = 6;
const EOF: u8 = 0xFF;

/// An empty listpack.
pub fn new() -> Vec<u8> {
    let mut lp = vec![0u8; HEADER];
    lp.push(EOF);
    set_total(&mut lp);
    lp
}

fn set_total(lp: &mut [u8]) {
    let total = lp.len() as u32;
    lp[0..4].copy_from_slice(&total.to_le_bytes());
}

/// One more element in the header count, which saturates at 65535 ("unknown"), as Redis's.
fn bump_count(lp: &mut [u8]) {
    let n = u16::from_le_bytes([lp[4], lp[5]]);
    if n != u16::MAX {
        lp[4..6].copy_from_slice(&(n + 1).to_le_bytes());
    }
}

/// Appends a string element (stored as an integer when it is one, as `lpAppend`).
pub fn append(lp: &mut Vec<u8>, ele: &[u8]) {
    lp.pop();
    lp_entry(lp, ele);
    lp.push(EOF);
    bump_count(lp);
    set_total(lp);
}

/// Appends an integer element (`lpAppendInteger`).
pub fn append_int(lp: &mut Vec<u8>, v: i64) {
    lp.pop();
    lp_int(lp, v);
    lp.push(EOF);
    bump_count(lp);
    set_total(lp);
}

/// Position of the first element, if any.
pub fn first(lp: &[u8]) -> Option<usize> {
    (lp.get(HEADER).copied()? != EOF).then_some(HEADER)
}

/// The element at `p` and the position of the next one (None at the end).
pub fn get(lp: &[u8], p: usize) -> Option<(Entry<'_>, Option<usize>)> {
    let (e, len) = decode_entry(lp, p)?;
    let next = p + (len + backlen_size(len)) as usize;
    let more = *lp.get(next)? != EOF;
    Some((e, more.then_some(next)))
}

/// The element at `p` as an integer (strings holding a number are read as one, as
/// `lpGetInteger`); 0 when it is neither.
pub fn get_int(lp: &[u8], p: usize) -> Option<(i64, Option<usize>)> {
    let (e, next) = get(lp, p)?;
    let v = match e {
        Entry::Int(i) => i,
        Entry::Str(s) => crate::util::parse_i64(s)?,
    };
    Some((v, next))
}

/// Position after the element at `p` (None at the end).
pub fn next(lp: &[u8], p: usize) -> Option<usize> {
    get(lp, p)?.1
}

/// Replaces the integer at `p` with `v`, moving the tail when the encoding changes size.
pub fn replace_int(lp: &mut Vec<u8>, p: usize, v: i64) {
    let Some((_, len)) = decode_entry(lp, p) else {
        return;
    };
    let old = (len + backlen_size(len)) as usize;
    let mut enc = Vec::with_capacity(11);
    lp_int(&mut enc, v);
    lp.splice(p..p + old, enc);
    set_total(lp);
}

/// Bytes of the listpack (`lpBytes`).
pub fn bytes(lp: &[u8]) -> usize {
    lp.len()
}
