//! ZUNION, ZINTER, ZDIFF, their STORE forms and ZINTERCARD (redis
//! `zunionInterDiffGenericCommand`). Plain sets are accepted as inputs, every member scoring 1.
//!
//! Inputs are looked up once each, in argument order (hits, misses and the WRONGTYPE check, as
//! Redis does before reading any option); the computation then reads one input at a time, so a
//! small input intersected with a large one costs lookups in the large one, not a copy of it.

use std::collections::HashMap;

use bytes::Bytes;

use super::super::args::parse_int;
use super::super::errors::{self, CmdError};
use super::super::Ctx;
use super::{parse_score, resp3, scored_reply};
use crate::keyspace::zset::{cmp_key, ZSet};
use crate::keyspace::Value;
use crate::protocol::Reply;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

/// redis `zunionInterAggregate`.
fn aggregate(target: &mut f64, val: f64, agg: Aggregate) {
    match agg {
        Aggregate::Sum => {
            *target += val;
            // The sum of +inf and -inf is NaN: Redis turns it into 0.
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if val < *target {
                *target = val;
            }
        }
        Aggregate::Max => {
            if val > *target {
                *target = val;
            }
        }
    }
}

/// One input: its argv position, size (0 when missing) and weight.
struct Source {
    pos: usize,
    len: usize,
    weight: f64,
}

/// Reads every member of an input (a sorted set, or a set scoring 1).
fn load(cx: &mut Ctx, key: &[u8]) -> Vec<(Bytes, f64)> {
    match cx.db.get_mut(key) {
        Some(Value::ZSet(z)) => z
            .iter()
            .map(|(m, s)| (Bytes::copy_from_slice(m), s))
            .collect(),
        Some(Value::Set(s)) => s.members().into_iter().map(|m| (m, 1.0)).collect(),
        _ => Vec::new(),
    }
}

/// Keeps the members of `items` that `key` holds, passing each with its score there to `f`.
fn filter_in(
    cx: &mut Ctx,
    key: &[u8],
    items: &mut Vec<(Bytes, f64)>,
    mut f: impl FnMut(&mut f64, f64),
) {
    match cx.db.get_mut(key) {
        Some(Value::ZSet(z)) => items.retain_mut(|(m, acc)| match z.score(m) {
            Some(s) => {
                f(acc, s);
                true
            }
            None => false,
        }),
        Some(Value::Set(set)) => items.retain_mut(|(m, acc)| {
            if set.contains(m) {
                f(acc, 1.0);
                true
            } else {
                false
            }
        }),
        _ => items.clear(),
    }
}

/// Removes from `items` the members that `key` holds.
fn filter_out(cx: &mut Ctx, key: &[u8], items: &mut Vec<(Bytes, f64)>) {
    match cx.db.get_mut(key) {
        Some(Value::ZSet(z)) => items.retain(|(m, _)| z.score(m).is_none()),
        Some(Value::Set(set)) => items.retain(|(m, _)| !set.contains(m)),
        _ => {}
    }
}

fn weighted(score: f64, weight: f64) -> f64 {
    let v = score * weight;
    if v.is_nan() {
        0.0
    } else {
        v
    }
}

/// The shared body. `numkeys_at` is the argv index of numkeys; `store` names the destination
/// argument; `card` is ZINTERCARD.
fn generic(
    cx: &mut Ctx,
    numkeys_at: usize,
    store: bool,
    op: Op,
    card: bool,
) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let setnum = parse_int(&argv[numkeys_at])?;
    if setnum < 1 {
        let name = String::from_utf8_lossy(&argv[0]).to_ascii_lowercase();
        return Err(CmdError::err(format_args!(
            "at least 1 input key is needed for '{name}' command"
        )));
    }
    if setnum as u64 > (argv.len() - numkeys_at - 1) as u64 {
        return Err(errors::SYNTAX);
    }
    let setnum = setnum as usize;
    let mut src = Vec::with_capacity(setnum);
    for (pos, key) in argv.iter().enumerate().skip(numkeys_at + 1).take(setnum) {
        let len = match cx.db.get(key) {
            None => 0,
            Some(Value::ZSet(z)) => z.len(),
            Some(Value::Set(s)) => s.len(),
            Some(_) => return Err(errors::WRONGTYPE),
        };
        src.push(Source {
            pos,
            len,
            weight: 1.0,
        });
    }

    let mut agg = Aggregate::Sum;
    let mut withscores = false;
    let mut limit: i64 = 0;
    let mut j = numkeys_at + 1 + setnum;
    while j < argv.len() {
        let remaining = argv.len() - j;
        let a = &argv[j];
        if op != Op::Diff && !card && remaining > setnum && a.eq_ignore_ascii_case(b"weights") {
            j += 1;
            for s in src.iter_mut() {
                s.weight = parse_score(&argv[j])
                    .ok_or_else(|| CmdError::err("weight value is not a float"))?;
                j += 1;
            }
        } else if op != Op::Diff && !card && remaining >= 2 && a.eq_ignore_ascii_case(b"aggregate")
        {
            let v = &argv[j + 1];
            agg = if v.eq_ignore_ascii_case(b"sum") {
                Aggregate::Sum
            } else if v.eq_ignore_ascii_case(b"min") {
                Aggregate::Min
            } else if v.eq_ignore_ascii_case(b"max") {
                Aggregate::Max
            } else {
                return Err(errors::SYNTAX);
            };
            j += 2;
        } else if !store && !card && a.eq_ignore_ascii_case(b"withscores") {
            withscores = true;
            j += 1;
        } else if card && remaining >= 2 && a.eq_ignore_ascii_case(b"limit") {
            limit = parse_int(&argv[j + 1])
                .ok()
                .filter(|l| *l >= 0)
                .ok_or_else(|| CmdError::err("LIMIT can't be negative"))?;
            j += 2;
        } else {
            return Err(errors::SYNTAX);
        }
    }

    if op != Op::Diff {
        // Smallest first (a stable sort, as glibc's qsort merge sort is for these sizes).
        src.sort_by_key(|s| s.len);
    }

    let mut result: Vec<(Bytes, f64)> = match op {
        Op::Inter => {
            let mut items = Vec::new();
            if src[0].len > 0 {
                items = load(cx, &argv[src[0].pos]);
                let w0 = src[0].weight;
                for it in items.iter_mut() {
                    it.1 = weighted(it.1, w0);
                }
                for s in &src[1..] {
                    if items.is_empty() {
                        break;
                    }
                    let w = s.weight;
                    filter_in(cx, &argv[s.pos], &mut items, |acc, v| {
                        aggregate(acc, v * w, agg)
                    });
                }
            }
            if card {
                let n = items.len() as i64;
                let n = if limit > 0 { n.min(limit) } else { n };
                return Ok(Reply::Int(n));
            }
            items
        }
        Op::Union => {
            let mut acc: HashMap<Bytes, f64, foldhash::fast::RandomState> = HashMap::default();
            for s in &src {
                if s.len == 0 {
                    continue;
                }
                for (m, score) in load(cx, &argv[s.pos]) {
                    let v = weighted(score, s.weight);
                    match acc.get_mut(&m) {
                        Some(t) => aggregate(t, v, agg),
                        None => {
                            acc.insert(m, v);
                        }
                    }
                }
            }
            acc.into_iter().collect()
        }
        Op::Diff => {
            let mut items = if src[0].len > 0 {
                load(cx, &argv[src[0].pos])
            } else {
                Vec::new()
            };
            for s in &src[1..] {
                if items.is_empty() {
                    break;
                }
                filter_out(cx, &argv[s.pos], &mut items);
            }
            items
        }
    };
    result.sort_by(|a, b| cmp_key(a.1, &a.0, b.1, &b.0));

    if !store {
        let resp3 = resp3(cx);
        return Ok(scored_reply(result, withscores, resp3));
    }
    let dst = &argv[1];
    if result.is_empty() {
        if cx.db.remove(dst).is_some() {
            cx.propagate();
        }
        return Ok(Reply::Int(0));
    }
    let n = result.len() as i64;
    let limits = cx.db.limits();
    cx.db
        .set(dst, Value::ZSet(ZSet::from_sorted(result, &limits)));
    cx.propagate();
    Ok(Reply::Int(n))
}

pub(super) fn zunionstore(cx: &mut Ctx) -> Result<Reply, CmdError> {
    generic(cx, 2, true, Op::Union, false)
}

pub(super) fn zinterstore(cx: &mut Ctx) -> Result<Reply, CmdError> {
    generic(cx, 2, true, Op::Inter, false)
}

pub(super) fn zdiffstore(cx: &mut Ctx) -> Result<Reply, CmdError> {
    generic(cx, 2, true, Op::Diff, false)
}

pub(super) fn zunion(cx: &mut Ctx) -> Result<Reply, CmdError> {
    generic(cx, 1, false, Op::Union, false)
}

pub(super) fn zinter(cx: &mut Ctx) -> Result<Reply, CmdError> {
    generic(cx, 1, false, Op::Inter, false)
}

pub(super) fn zintercard(cx: &mut Ctx) -> Result<Reply, CmdError> {
    generic(cx, 1, false, Op::Inter, true)
}

pub(super) fn zdiff(cx: &mut Ctx) -> Result<Reply, CmdError> {
    generic(cx, 1, false, Op::Diff, false)
}
