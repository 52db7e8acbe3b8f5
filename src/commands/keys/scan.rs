//! SCAN cursor [MATCH pattern] [COUNT count] [TYPE type] (redis `scanGenericCommand`).
//!
//! # The cursor
//! A database is spread over `SHARDS` tables (one per shard), each a vector of entries at
//! positions `0..len` (see `keyspace::table`). The cursor is a position in that space:
//!
//! ```text
//!   bits 63..56: zero    bits 55..48: shard s    bits 47..0: p
//!   p = 0  -> shard s not started: begin at its end (its length at that moment)
//!   p > 0  -> positions p-1, p-2, ..., 0 of shard s remain to be visited
//! ```
//!
//! Cursor 0 is therefore "shard 0, not started", and a scan ends when every shard is done
//! (the reply cursor is then 0; a stop between shards yields `s << 48`, never 0).
//!
//! Each shard is walked from its last position down to 0. The tables change only by appending
//! (inserts), by `swap_remove` (the last entry moves into the removed slot) and by
//! order-preserving compaction; every one of those moves an entry, if at all, to a lower
//! position or from the visited region into another place. So an entry that is present for the
//! whole scan and sits below the cursor stays below it until visited: it is returned at least
//! once (an entry moved out of the visited region may be returned twice; keys added during the
//! scan may or may not be). A cursor beyond a shard's current length is clamped to it; a cursor
//! naming no shard ends the scan.
//!
//! COUNT bounds the work of one call: at most COUNT entries are visited (plus skipping empty
//! shards). MATCH, TYPE and expiry are applied to the visited keys afterwards, as in redis, so a
//! call may return fewer keys than COUNT, even none, with a non-zero cursor.

use bytes::Bytes;

use super::super::args::parse_int;
use super::super::errors::{self, CmdError};
use super::super::Ctx;
use crate::keyspace::SHARDS;
use crate::protocol::Reply;

const POS_BITS: u32 = 48;
const POS_MASK: u64 = (1 << POS_BITS) - 1;

/// Where the next call resumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cursor {
    shard: usize,
    /// None = the shard is not started; Some(p) = positions below p remain.
    pos: Option<usize>,
}

impl Cursor {
    /// None if the value names no shard (the scan is over).
    fn decode(v: u64) -> Option<Cursor> {
        let shard = usize::try_from(v >> POS_BITS).ok()?;
        if shard >= SHARDS {
            return None;
        }
        let p = v & POS_MASK;
        Some(Cursor {
            shard,
            pos: if p == 0 {
                None
            } else {
                Some(usize::try_from(p).unwrap_or(usize::MAX))
            },
        })
    }

    fn encode(self) -> u64 {
        ((self.shard as u64) << POS_BITS) | self.pos.map_or(0, |p| p as u64 & POS_MASK)
    }
}

/// Visits up to `count` entries of database `db` from `cursor`; returns the keys visited and
/// the cursor to reply (0 when the scan is complete).
fn visit(cx: &mut Ctx, db: usize, cursor: u64, count: usize) -> (Vec<Bytes>, u64) {
    let Some(mut cur) = Cursor::decode(cursor) else {
        return (Vec::new(), 0);
    };
    let mut keys = Vec::with_capacity(count.min(1024));
    let lens: Vec<usize> = cx
        .db
        .locked
        .shards_mut()
        .map(|s| s.tables.get(db).map_or(0, |t| t.len()))
        .collect();
    if lens.len() != SHARDS {
        // Not every shard is locked: cannot happen for an ALL_KEYS command.
        return (keys, 0);
    }
    for (i, shard) in cx.db.locked.shards_mut().enumerate().skip(cur.shard) {
        let Some(t) = shard.tables.get(db) else {
            break;
        };
        let mut p = cur.pos.map_or(lens[i], |p| p.min(lens[i]));
        while p > 0 && keys.len() < count {
            p -= 1;
            if let Some((k, _)) = t.get_index(p) {
                keys.push(Bytes::copy_from_slice(k));
            }
        }
        if keys.len() >= count {
            let next = if p > 0 {
                Cursor {
                    shard: i,
                    pos: Some(p),
                }
                .encode()
            } else if lens[i + 1..].iter().any(|&l| l > 0) {
                Cursor {
                    shard: i + 1,
                    pos: None,
                }
                .encode()
            } else {
                0
            };
            return (keys, next);
        }
        cur.pos = None;
    }
    (keys, 0)
}

pub(super) fn scan(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let cursor = crate::commands::args::parse_scan_cursor(&argv[1])?;
    let mut count = 10usize;
    let mut pattern: Option<&Bytes> = None;
    let mut type_name: Option<&Bytes> = None;
    let mut i = 2;
    while i < argv.len() {
        let has_value = i + 1 < argv.len();
        let opt = &argv[i];
        if opt.eq_ignore_ascii_case(b"count") && has_value {
            let n = parse_int(&argv[i + 1])?;
            if n < 1 {
                return Err(errors::SYNTAX);
            }
            count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if opt.eq_ignore_ascii_case(b"match") && has_value {
            // "*" matches everything: the same as no pattern.
            pattern = Some(&argv[i + 1]).filter(|p| p.as_ref() != b"*");
        } else if opt.eq_ignore_ascii_case(b"type") && has_value {
            type_name = Some(&argv[i + 1]);
        } else {
            return Err(errors::SYNTAX);
        }
        i += 2;
    }

    let db = cx.db.index;
    let (visited, next) = visit(cx, db, cursor, count);
    let mut out = Vec::with_capacity(visited.len());
    for key in visited {
        if pattern.is_some_and(|p| !crate::util::glob_match(p, &key, false)) {
            continue;
        }
        if let Some(t) = type_name {
            let name = cx
                .db
                .get_no_touch_in(db, &key)
                .map_or("none", |v| v.kind().name());
            if !t.eq_ignore_ascii_case(name.as_bytes()) {
                continue;
            }
        }
        if !cx.db.exists_in(db, &key) {
            continue;
        }
        out.push(Reply::Bulk(key));
    }
    Ok(Reply::Array(vec![
        Reply::Bulk(Bytes::from(next.to_string())),
        Reply::Array(out),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip() {
        for c in [
            Cursor {
                shard: 0,
                pos: Some(3),
            },
            Cursor {
                shard: 5,
                pos: None,
            },
            Cursor {
                shard: SHARDS - 1,
                pos: Some(1 << 40),
            },
        ] {
            assert_eq!(Cursor::decode(c.encode()), Some(c));
        }
        assert_eq!(
            Cursor::decode(0),
            Some(Cursor {
                shard: 0,
                pos: None
            })
        );
        assert_eq!(Cursor::decode(u64::MAX), None);
    }
}
