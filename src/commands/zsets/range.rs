//! ZRANGE and its older forms (BYSCORE, BYLEX, REV, LIMIT), ZRANGESTORE, ZCOUNT, ZLEXCOUNT and
//! the range removals (redis `zrangeGenericCommand`, `zremrangeGenericCommand`).
//!
//! Bounds are found as Redis finds them: first the whole-range tests of `zslIsInRange`, then the
//! first (or last) member in range, then a walk that stops at the first member out of range.

use std::cmp::Ordering;

use bytes::Bytes;

use super::super::access::{get_zset, get_zset_mut};
use super::super::args::parse_int;
use super::super::errors::{self, CmdError};
use super::super::Ctx;
use super::{resp3, scored_reply, strtod};
use crate::keyspace::zset::ZSet;
use crate::keyspace::Value;
use crate::protocol::Reply;

const NOT_FLOAT_RANGE: &str = "min or max is not a float";
const NOT_LEX_RANGE: &str = "min or max not valid string range item";

// ---------------------------------------------------------------------------------------------
// Score ranges

#[derive(Debug, Clone, Copy)]
pub(super) struct ScoreRange {
    min: f64,
    max: f64,
    minex: bool,
    maxex: bool,
}

/// One bound as redis `zslParseRange`: optional `(`, then strtod up to the end (or a NUL).
fn parse_score_bound(b: &[u8]) -> Option<(f64, bool)> {
    let (ex, body) = match b.first() {
        Some(b'(') => (true, &b[1..]),
        _ => (false, b),
    };
    let (v, n, _) = strtod(body);
    let cstr_len = memchr::memchr(0, body).unwrap_or(body.len());
    (n == cstr_len && !v.is_nan()).then_some((v, ex))
}

impl ScoreRange {
    pub(super) fn parse(min: &[u8], max: &[u8]) -> Result<ScoreRange, CmdError> {
        let err = || CmdError::err(NOT_FLOAT_RANGE);
        let (min, minex) = parse_score_bound(min).ok_or_else(err)?;
        let (max, maxex) = parse_score_bound(max).ok_or_else(err)?;
        Ok(ScoreRange {
            min,
            max,
            minex,
            maxex,
        })
    }

    fn gte_min(&self, v: f64) -> bool {
        if self.minex {
            v > self.min
        } else {
            v >= self.min
        }
    }

    fn lte_max(&self, v: f64) -> bool {
        if self.maxex {
            v < self.max
        } else {
            v <= self.max
        }
    }

    /// `zslIsInRange`: the range is not empty and overlaps the set's scores.
    fn overlaps(&self, z: &ZSet) -> bool {
        if self.min > self.max || (self.min == self.max && (self.minex || self.maxex)) {
            return false;
        }
        let (Some((_, hi)), Some((_, lo))) = (z.get(z.len().wrapping_sub(1)), z.get(0)) else {
            return false;
        };
        self.gte_min(hi) && self.lte_max(lo)
    }

    /// Rank of the lowest member in range.
    fn first(&self, z: &ZSet) -> Option<usize> {
        if !self.overlaps(z) {
            return None;
        }
        let r = z.first_where(|(_, s)| self.gte_min(s))?;
        z.get(r).filter(|(_, s)| self.lte_max(*s)).map(|_| r)
    }

    /// Rank of the highest member in range.
    fn last(&self, z: &ZSet) -> Option<usize> {
        if !self.overlaps(z) {
            return None;
        }
        let r = z.last_where(|(_, s)| self.lte_max(s))?;
        z.get(r).filter(|(_, s)| self.gte_min(*s)).map(|_| r)
    }
}

// ---------------------------------------------------------------------------------------------
// Lex ranges

#[derive(Debug, Clone)]
enum LexItem {
    /// `-`
    Min,
    /// `+`
    Max,
    Str(Bytes),
}

/// redis `sdscmplex`: `-` and `+` are below and above every string.
fn cmplex(a: &LexItem, b: &LexItem) -> Ordering {
    use LexItem::{Max, Min, Str};
    match (a, b) {
        (Min, Min) | (Max, Max) => Ordering::Equal,
        (Min, _) | (_, Max) => Ordering::Less,
        (Max, _) | (_, Min) => Ordering::Greater,
        (Str(x), Str(y)) => x.cmp(y),
    }
}

fn cmp_member(m: &[u8], bound: &LexItem) -> Ordering {
    match bound {
        LexItem::Min => Ordering::Greater,
        LexItem::Max => Ordering::Less,
        LexItem::Str(s) => m.cmp(s),
    }
}

#[derive(Debug, Clone)]
pub(super) struct LexRange {
    min: LexItem,
    max: LexItem,
    minex: bool,
    maxex: bool,
}

/// One item as redis `zslParseLexRangeItem`: `+`, `-`, `(str` or `[str`.
fn parse_lex_item(b: &Bytes) -> Option<(LexItem, bool)> {
    let alone = b.len() == 1 || b.get(1) == Some(&0);
    match b.first() {
        Some(b'+') if alone => Some((LexItem::Max, true)),
        Some(b'-') if alone => Some((LexItem::Min, true)),
        Some(b'(') => Some((LexItem::Str(b.slice(1..)), true)),
        Some(b'[') => Some((LexItem::Str(b.slice(1..)), false)),
        _ => None,
    }
}

impl LexRange {
    pub(super) fn parse(min: &Bytes, max: &Bytes) -> Result<LexRange, CmdError> {
        let err = || CmdError::err(NOT_LEX_RANGE);
        let (min, minex) = parse_lex_item(min).ok_or_else(err)?;
        let (max, maxex) = parse_lex_item(max).ok_or_else(err)?;
        Ok(LexRange {
            min,
            max,
            minex,
            maxex,
        })
    }

    fn gte_min(&self, m: &[u8]) -> bool {
        let c = cmp_member(m, &self.min);
        if self.minex {
            c.is_gt()
        } else {
            c.is_ge()
        }
    }

    fn lte_max(&self, m: &[u8]) -> bool {
        let c = cmp_member(m, &self.max);
        if self.maxex {
            c.is_lt()
        } else {
            c.is_le()
        }
    }

    /// `zslIsInLexRange`.
    fn overlaps(&self, z: &ZSet) -> bool {
        let c = cmplex(&self.min, &self.max);
        if c.is_gt() || (c.is_eq() && (self.minex || self.maxex)) {
            return false;
        }
        let (Some((hi, _)), Some((lo, _))) = (z.get(z.len().wrapping_sub(1)), z.get(0)) else {
            return false;
        };
        self.gte_min(hi) && self.lte_max(lo)
    }

    fn first(&self, z: &ZSet) -> Option<usize> {
        if !self.overlaps(z) {
            return None;
        }
        let r = z.first_where(|(m, _)| self.gte_min(m))?;
        z.get(r).filter(|(m, _)| self.lte_max(m)).map(|_| r)
    }

    fn last(&self, z: &ZSet) -> Option<usize> {
        if !self.overlaps(z) {
            return None;
        }
        let r = z.last_where(|(m, _)| self.lte_max(m))?;
        z.get(r).filter(|(m, _)| self.gte_min(m)).map(|_| r)
    }
}

// ---------------------------------------------------------------------------------------------
// Collecting a range

#[derive(Debug, Clone)]
enum RangeSpec {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

/// Members of ranks `start..=end` (negative counts from the end), walking down when `rev`.
fn by_rank(z: &ZSet, start: i64, end: i64, rev: bool) -> Vec<(Bytes, f64)> {
    let len = z.len() as i64;
    let mut start = if start < 0 { len + start } else { start };
    let mut end = if end < 0 { len + end } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= len {
        return Vec::new();
    }
    if end >= len {
        end = len - 1;
    }
    let n = (end - start + 1) as usize;
    let from = if rev { len - 1 - start } else { start } as usize;
    z.iter_from(from, rev)
        .take(n)
        .map(|(m, s)| (Bytes::copy_from_slice(m), s))
        .collect()
}

/// Walks from `from` (towards lower ranks when `rev`), skipping `offset` members, taking at most
/// `limit` (negative: no limit) while `keep` holds. A negative offset yields nothing, as Redis's
/// `while (offset--)` walks off the end.
fn walk(
    z: &ZSet,
    from: Option<usize>,
    offset: i64,
    limit: i64,
    rev: bool,
    keep: impl Fn(&[u8], f64) -> bool,
) -> Vec<(Bytes, f64)> {
    let Some(from) = from else {
        return Vec::new();
    };
    if offset < 0 || limit == 0 {
        return Vec::new();
    }
    let offset = offset as u64;
    let start = if rev {
        match (from as u64).checked_sub(offset) {
            Some(s) => s as usize,
            None => return Vec::new(),
        }
    } else {
        match (from as u64).checked_add(offset) {
            Some(s) if s < z.len() as u64 => s as usize,
            _ => return Vec::new(),
        }
    };
    let max = if limit < 0 {
        usize::MAX
    } else {
        limit as usize
    };
    z.iter_from(start, rev)
        .take(max)
        .take_while(|(m, s)| keep(m, *s))
        .map(|(m, s)| (Bytes::copy_from_slice(m), s))
        .collect()
}

fn collect(z: &ZSet, spec: &RangeSpec, offset: i64, limit: i64, rev: bool) -> Vec<(Bytes, f64)> {
    match spec {
        RangeSpec::Rank(start, end) => by_rank(z, *start, *end, rev),
        RangeSpec::Score(r) => {
            if offset > 0 && offset as u64 >= z.len() as u64 {
                return Vec::new();
            }
            if rev {
                walk(z, r.last(z), offset, limit, true, |_, s| r.gte_min(s))
            } else {
                walk(z, r.first(z), offset, limit, false, |_, s| r.lte_max(s))
            }
        }
        RangeSpec::Lex(r) => {
            if rev {
                walk(z, r.last(z), offset, limit, true, |m, _| r.gte_min(m))
            } else {
                walk(z, r.first(z), offset, limit, false, |m, _| r.lte_max(m))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ZRANGE and friends

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Auto,
    Rank,
    Score,
    Lex,
}

/// What a ZRANGE-like command asked for.
struct Request {
    spec: RangeSpec,
    rev: bool,
    withscores: bool,
    offset: i64,
    limit: i64,
}

/// redis `zrangeGenericCommand`'s argument handling: options from `first + 3`, then the
/// rank/score/lex bounds (swapped for the REV score and lex forms).
fn parse_request(
    argv: &[Bytes],
    first: usize,
    store: bool,
    mut kind: Kind,
    rev: Option<bool>,
) -> Result<Request, CmdError> {
    let mut dir = rev;
    let (mut withscores, mut offset, mut limit) = (false, 0i64, -1i64);
    let mut j = first + 3;
    while j < argv.len() {
        let a = &argv[j];
        let left = argv.len() - j - 1;
        if !store && a.eq_ignore_ascii_case(b"withscores") {
            withscores = true;
        } else if a.eq_ignore_ascii_case(b"limit") && left >= 2 {
            offset = parse_int(&argv[j + 1])?;
            limit = parse_int(&argv[j + 2])?;
            j += 2;
        } else if dir.is_none() && a.eq_ignore_ascii_case(b"rev") {
            dir = Some(true);
        } else if kind == Kind::Auto && a.eq_ignore_ascii_case(b"bylex") {
            kind = Kind::Lex;
        } else if kind == Kind::Auto && a.eq_ignore_ascii_case(b"byscore") {
            kind = Kind::Score;
        } else {
            return Err(errors::SYNTAX);
        }
        j += 1;
    }
    let rev = dir.unwrap_or(false);
    if kind == Kind::Auto {
        kind = Kind::Rank;
    }
    if limit != -1 && kind == Kind::Rank {
        return Err(CmdError::err(
            "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && kind == Kind::Lex {
        return Err(CmdError::err(
            "syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    let (mut lo, mut hi) = (&argv[first + 1], &argv[first + 2]);
    if rev && kind != Kind::Rank {
        std::mem::swap(&mut lo, &mut hi);
    }
    let spec = match kind {
        Kind::Score => RangeSpec::Score(ScoreRange::parse(lo, hi)?),
        Kind::Lex => RangeSpec::Lex(LexRange::parse(lo, hi)?),
        _ => RangeSpec::Rank(parse_int(lo)?, parse_int(hi)?),
    };
    Ok(Request {
        spec,
        rev,
        withscores,
        offset,
        limit,
    })
}

fn range_reply(cx: &mut Ctx, kind: Kind, rev: Option<bool>) -> Result<Reply, CmdError> {
    let req = parse_request(cx.argv, 1, false, kind, rev)?;
    let resp3 = resp3(cx);
    let Some(z) = get_zset(cx.db, &cx.argv[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let items = collect(z, &req.spec, req.offset, req.limit, req.rev);
    Ok(scored_reply(items, req.withscores, resp3))
}

pub(super) fn zrange(cx: &mut Ctx) -> Result<Reply, CmdError> {
    range_reply(cx, Kind::Auto, None)
}

pub(super) fn zrevrange(cx: &mut Ctx) -> Result<Reply, CmdError> {
    range_reply(cx, Kind::Rank, Some(true))
}

pub(super) fn zrangebyscore(cx: &mut Ctx) -> Result<Reply, CmdError> {
    range_reply(cx, Kind::Score, Some(false))
}

pub(super) fn zrevrangebyscore(cx: &mut Ctx) -> Result<Reply, CmdError> {
    range_reply(cx, Kind::Score, Some(true))
}

pub(super) fn zrangebylex(cx: &mut Ctx) -> Result<Reply, CmdError> {
    range_reply(cx, Kind::Lex, Some(false))
}

pub(super) fn zrevrangebylex(cx: &mut Ctx) -> Result<Reply, CmdError> {
    range_reply(cx, Kind::Lex, Some(true))
}

/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]: stores the range
/// (deleting dst when it is empty) and replies with its size.
pub(super) fn zrangestore(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let req = parse_request(cx.argv, 2, true, Kind::Auto, None)?;
    let items = match get_zset(cx.db, &cx.argv[2])? {
        Some(z) => collect(z, &req.spec, req.offset, req.limit, req.rev),
        None => Vec::new(),
    };
    let dst = &cx.argv[1];
    if items.is_empty() {
        if cx.db.remove(dst).is_some() {
            cx.propagate();
        }
        return Ok(Reply::Int(0));
    }
    let mut items = items;
    if req.rev {
        items.reverse();
    }
    let n = items.len() as i64;
    let limits = cx.db.limits();
    cx.db
        .set(dst, Value::ZSet(ZSet::from_sorted(items, &limits)));
    cx.propagate();
    Ok(Reply::Int(n))
}

// ---------------------------------------------------------------------------------------------
// ZCOUNT, ZLEXCOUNT

pub(super) fn zcount(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let r = ScoreRange::parse(&cx.argv[2], &cx.argv[3])?;
    let Some(z) = get_zset(cx.db, &cx.argv[1])? else {
        return Ok(Reply::Int(0));
    };
    let count = match (r.first(z), r.last(z)) {
        (Some(a), Some(b)) if b >= a => b - a + 1,
        _ => 0,
    };
    Ok(Reply::Int(count as i64))
}

pub(super) fn zlexcount(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let r = LexRange::parse(&cx.argv[2], &cx.argv[3])?;
    let Some(z) = get_zset(cx.db, &cx.argv[1])? else {
        return Ok(Reply::Int(0));
    };
    let count = match r.first(z) {
        None => 0,
        // The listpack walk stops at the first member past max, as redis does.
        Some(a) if z.is_listpack() => z
            .iter_from(a, false)
            .take_while(|(m, _)| r.lte_max(m))
            .count(),
        Some(a) => match r.last(z) {
            Some(b) if b >= a => b - a + 1,
            _ => 0,
        },
    };
    Ok(Reply::Int(count as i64))
}

// ---------------------------------------------------------------------------------------------
// ZREMRANGEBYRANK, ZREMRANGEBYSCORE, ZREMRANGEBYLEX

fn remove_ranks(
    cx: &mut Ctx,
    pick: impl Fn(&ZSet) -> Option<(usize, usize)>,
) -> Result<Reply, CmdError> {
    let key = &cx.argv[1];
    let Some(z) = get_zset_mut(cx.db, key)? else {
        return Ok(Reply::Int(0));
    };
    let removed = match pick(z) {
        Some((start, end)) => z.remove_range(start, end),
        None => 0,
    };
    cx.db.remove_if_empty(key);
    if removed > 0 {
        cx.propagate();
    }
    Ok(Reply::Int(removed as i64))
}

/// (first, last) ranks from `first` while `keep` holds.
fn span_from(
    z: &ZSet,
    first: Option<usize>,
    keep: impl Fn(&[u8], f64) -> bool,
) -> Option<(usize, usize)> {
    let a = first?;
    let n = z
        .iter_from(a, false)
        .take_while(|(m, s)| keep(m, *s))
        .count();
    (n > 0).then(|| (a, a + n - 1))
}

pub(super) fn zremrangebyrank(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let start = parse_int(&cx.argv[2])?;
    let end = parse_int(&cx.argv[3])?;
    remove_ranks(cx, |z| {
        let len = z.len() as i64;
        let mut start = if start < 0 { len + start } else { start };
        let mut end = if end < 0 { len + end } else { end };
        if start < 0 {
            start = 0;
        }
        if start > end || start >= len {
            return None;
        }
        if end >= len {
            end = len - 1;
        }
        Some((start as usize, end as usize))
    })
}

pub(super) fn zremrangebyscore(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let r = ScoreRange::parse(&cx.argv[2], &cx.argv[3])?;
    remove_ranks(cx, |z| span_from(z, r.first(z), |_, s| r.lte_max(s)))
}

pub(super) fn zremrangebylex(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let r = LexRange::parse(&cx.argv[2], &cx.argv[3])?;
    remove_ranks(cx, |z| span_from(z, r.first(z), |m, _| r.lte_max(m)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_bounds() {
        assert_eq!(parse_score_bound(b"(1.5"), Some((1.5, true)));
        assert_eq!(parse_score_bound(b""), Some((0.0, false)));
        assert_eq!(parse_score_bound(b"("), Some((0.0, true)));
        assert_eq!(parse_score_bound(b" 1"), Some((1.0, false)));
        assert_eq!(parse_score_bound(b"1e999"), Some((f64::INFINITY, false)));
        assert_eq!(parse_score_bound(b"1 "), None);
        assert_eq!(parse_score_bound(b" "), None);
        assert_eq!(parse_score_bound(b"nan"), None);
        assert_eq!(parse_score_bound(b"(nan"), None);
        assert_eq!(parse_score_bound(b"x"), None);
    }

    #[test]
    fn lex_items() {
        let b = |s: &'static [u8]| Bytes::from_static(s);
        assert!(matches!(
            parse_lex_item(&b(b"+")),
            Some((LexItem::Max, true))
        ));
        assert!(matches!(
            parse_lex_item(&b(b"-")),
            Some((LexItem::Min, true))
        ));
        assert!(matches!(
            parse_lex_item(&b(b"+\0x")),
            Some((LexItem::Max, true))
        ));
        assert!(parse_lex_item(&b(b"+a")).is_none());
        assert!(parse_lex_item(&b(b"")).is_none());
        assert!(parse_lex_item(&b(b"a")).is_none());
        assert!(matches!(parse_lex_item(&b(b"(")), Some((LexItem::Str(s), true)) if s.is_empty()));
        assert_eq!(cmplex(&LexItem::Min, &LexItem::Min), Ordering::Equal);
        assert_eq!(
            cmplex(&LexItem::Max, &LexItem::Str(b(b"z"))),
            Ordering::Greater
        );
    }
}
