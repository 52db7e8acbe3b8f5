//! ZPOPMIN, ZPOPMAX, ZMPOP (redis `genericZpopCommand`), ZRANDMEMBER and ZSCAN.

use bytes::Bytes;
use rand::seq::index::sample;
use rand::Rng;

use super::super::access::{get_zset, get_zset_mut};
use super::super::args::parse_int;
use super::super::errors::{self, CmdError};
use super::super::Ctx;
use super::{resp3, scored_reply};
use crate::keyspace::Value;
use crate::protocol::Reply;

// ---------------------------------------------------------------------------------------------
// Pops

/// Pops up to `count` members of `key` (lowest first, or highest with `max`). The caller has
/// checked that the key holds a non-empty sorted set.
fn pop_from(cx: &mut Ctx, key: &[u8], max: bool, count: usize) -> Vec<(Bytes, f64)> {
    let mut out = Vec::new();
    if let Ok(Some(z)) = get_zset_mut(cx.db, key) {
        let n = count.min(z.len());
        out.reserve(n);
        for _ in 0..n {
            match z.pop(max) {
                Some(p) => out.push(p),
                None => break,
            }
        }
    }
    cx.db.remove_if_empty(key);
    out
}

fn zpop(cx: &mut Ctx, max: bool) -> Result<Reply, CmdError> {
    if cx.argv.len() > 3 {
        return Err(errors::SYNTAX);
    }
    let count = match cx.argv.get(2) {
        Some(c) => Some(
            parse_int(c)
                .ok()
                .filter(|c| *c >= 0)
                .ok_or(errors::NEGATIVE_COUNT)?,
        ),
        None => None,
    };
    let key = &cx.argv[1];
    if get_zset_mut(cx.db, key)?.is_none() || count == Some(0) {
        return Ok(Reply::Array(Vec::new()));
    }
    let popped = pop_from(cx, key, max, count.unwrap_or(1) as usize);
    if !popped.is_empty() {
        cx.propagate();
    }
    let nested = resp3(cx) && count.is_some();
    if nested {
        return Ok(scored_reply(popped, true, true));
    }
    let mut out = Vec::with_capacity(popped.len() * 2);
    for (m, s) in popped {
        out.push(Reply::Bulk(m));
        out.push(Reply::Double(s));
    }
    Ok(Reply::Array(out))
}

pub(super) fn zpopmin(cx: &mut Ctx) -> Result<Reply, CmdError> {
    zpop(cx, false)
}

pub(super) fn zpopmax(cx: &mut Ctx) -> Result<Reply, CmdError> {
    zpop(cx, true)
}

/// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]: pops from the first non-empty key and
/// propagates as `ZPOPMIN|ZPOPMAX key n`.
pub(super) fn zmpop(cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(zmpop_at(cx, 1)?.unwrap_or(Reply::NilArray))
}

/// ZMPOP's work with `numkeys` at `argv[base]` (BZMPOP has its timeout before it): the reply,
/// or `None` when no key holds a sorted set.
pub(crate) fn zmpop_at(cx: &mut Ctx, base: usize) -> Result<Option<Reply>, CmdError> {
    let argv = cx.argv;
    let numkeys = parse_int(&argv[base])
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| CmdError::err("numkeys should be greater than 0"))?;
    let where_idx = match (numkeys as u64).checked_add(base as u64 + 1) {
        Some(w) if w < argv.len() as u64 => w as usize,
        _ => return Err(errors::SYNTAX),
    };
    let max = if argv[where_idx].eq_ignore_ascii_case(b"min") {
        false
    } else if argv[where_idx].eq_ignore_ascii_case(b"max") {
        true
    } else {
        return Err(errors::SYNTAX);
    };
    let mut count: Option<i64> = None;
    let mut j = where_idx + 1;
    while j < argv.len() {
        if count.is_none() && argv[j].eq_ignore_ascii_case(b"count") && j + 1 < argv.len() {
            count = Some(
                parse_int(&argv[j + 1])
                    .ok()
                    .filter(|c| *c >= 1)
                    .ok_or_else(|| CmdError::err("count should be greater than 0"))?,
            );
            j += 2;
        } else {
            return Err(errors::SYNTAX);
        }
    }
    let count = count.unwrap_or(1) as usize;
    for key in &argv[base + 1..where_idx] {
        if get_zset_mut(cx.db, key)?.is_none() {
            continue;
        }
        let popped = pop_from(cx, key, max, count);
        cx.propagate_as(vec![
            Bytes::from_static(if max { b"ZPOPMAX" } else { b"ZPOPMIN" }),
            key.clone(),
            Bytes::from(popped.len().to_string()),
        ]);
        // Always [member, score] pairs, in RESP2 too.
        return Ok(Some(Reply::Array(vec![
            Reply::Bulk(key.clone()),
            scored_reply(popped, true, true),
        ])));
    }
    Ok(None)
}

// ---------------------------------------------------------------------------------------------
// ZRANDMEMBER

/// Members a count may ask for when repeats are allowed; beyond, Redis would build a reply of
/// that many elements (and stall): Tandem refuses instead.
const MAX_RANDOM_REPLY: u64 = 1 << 24;
const OUT_OF_RANGE: &str = "value is out of range";

pub(super) fn zrandmember(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let resp3 = resp3(cx);
    if argv.len() == 2 {
        let Some(z) = get_zset(cx.db, &argv[1])? else {
            return Ok(Reply::Nil);
        };
        let i = rand::rng().random_range(0..z.len().max(1));
        return Ok(z
            .get(i)
            .map_or(Reply::Nil, |(m, _)| Reply::Bulk(Bytes::copy_from_slice(m))));
    }
    let l = parse_int(&argv[2])?;
    if l == i64::MIN {
        return Err(CmdError::err(format_args!(
            "value is out of range, value must between {} and {}",
            -i64::MAX,
            i64::MAX
        )));
    }
    if argv.len() > 4 || (argv.len() == 4 && !argv[3].eq_ignore_ascii_case(b"withscores")) {
        return Err(errors::SYNTAX);
    }
    let withscores = argv.len() == 4;
    if withscores && !(i64::MIN / 2..=i64::MAX / 2).contains(&l) {
        return Err(CmdError::err(OUT_OF_RANGE));
    }
    let Some(z) = get_zset(cx.db, &argv[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let size = z.len();
    let count = l.unsigned_abs();
    if count == 0 || size == 0 {
        return Ok(Reply::Array(Vec::new()));
    }
    let owned = |(m, s): (&[u8], f64)| (Bytes::copy_from_slice(m), s);
    let mut rng = rand::rng();
    let items: Vec<(Bytes, f64)> = if l < 0 || count == 1 {
        if count > MAX_RANDOM_REPLY {
            return Err(CmdError::err(OUT_OF_RANGE));
        }
        if z.is_listpack() {
            let all: Vec<(&[u8], f64)> = z.iter().collect();
            (0..count)
                .map(|_| owned(all[rng.random_range(0..all.len())]))
                .collect()
        } else {
            (0..count)
                .filter_map(|_| z.get(rng.random_range(0..size)).map(owned))
                .collect()
        }
    } else if count >= size as u64 {
        // The whole set, walked from the highest member as redis's iterator does.
        z.iter_desc().map(owned).collect()
    } else {
        let picked = sample(&mut rng, size, count as usize);
        picked
            .into_iter()
            .filter_map(|i| z.get(i).map(owned))
            .collect()
    };
    Ok(scored_reply(items, withscores, resp3))
}

// ---------------------------------------------------------------------------------------------
// ZSCAN

/// A score as a listpack stores it: integral values (within ±2^62) as integers, so ZSCAN
/// prints `100000000000000000` where the skiplist form prints `1e+17`.
fn listpack_score_text(s: f64) -> String {
    const LIM: f64 = (i64::MAX / 2) as f64;
    if (-LIM..=LIM).contains(&s) && s == (s as i64) as f64 {
        itoa::Buffer::new().format(s as i64).to_string()
    } else {
        crate::util::format_double(s)
    }
}

pub(super) fn zscan(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let cursor = crate::commands::args::parse_scan_cursor(&argv[2])?;
    let empty = || {
        Reply::Array(vec![
            Reply::Bulk(Bytes::from_static(b"0")),
            Reply::Array(Vec::new()),
        ])
    };
    if get_zset(cx.db, &argv[1])?.is_none() {
        return Ok(empty());
    }
    let mut count: i64 = 10;
    let mut pattern: Option<&Bytes> = None;
    let mut i = 3;
    while i < argv.len() {
        let left = argv.len() - i;
        if argv[i].eq_ignore_ascii_case(b"count") && left >= 2 {
            count = parse_int(&argv[i + 1])?;
            if count < 1 {
                return Err(errors::SYNTAX);
            }
            i += 2;
        } else if argv[i].eq_ignore_ascii_case(b"match") && left >= 2 {
            pattern = Some(&argv[i + 1]).filter(|p| p.as_ref() != b"*");
            i += 2;
        } else {
            return Err(errors::SYNTAX);
        }
    }
    let Some(Value::ZSet(z)) = cx.db.get_mut(&argv[1]) else {
        return Ok(empty());
    };
    let listpack = z.is_listpack();
    // A listpack is returned whole; a skiplist is walked in score order, the cursor being the
    // rank to resume at.
    let (start, take) = if listpack {
        (0, usize::MAX)
    } else {
        (cursor.min(usize::MAX as u64) as usize, count as usize)
    };
    let mut next = 0u64;
    let mut out = Vec::new();
    let mut seen = 0usize;
    if start < z.len() {
        for (m, s) in z.iter_from(start, false).take(take) {
            seen += 1;
            if pattern.is_some_and(|p| !crate::util::glob_match(p, m, false)) {
                continue;
            }
            let score = if listpack {
                listpack_score_text(s)
            } else {
                crate::util::format_double(s)
            };
            out.push(Reply::Bulk(Bytes::copy_from_slice(m)));
            out.push(Reply::Bulk(Bytes::from(score)));
        }
        if !listpack && start + seen < z.len() {
            next = (start + seen) as u64;
        }
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
    fn listpack_scores_print_as_integers() {
        assert_eq!(listpack_score_text(1e17), "100000000000000000");
        assert_eq!(listpack_score_text(1.5), "1.5");
        assert_eq!(listpack_score_text(1e300), "1.0000000000000001e+300");
        assert_eq!(listpack_score_text(f64::INFINITY), "inf");
        assert_eq!(listpack_score_text(-3.0), "-3");
    }
}
