//! List commands (redis `t_list.c`), without the blocking forms (BLPOP, BRPOP, BLMOVE,
//! BRPOPLPUSH, BLMPOP).
//!
//! Argument checks run in redis's order, which decides which error a client sees when several
//! apply (LINDEX looks the key up before parsing the index, LRANGE parses first...). A list
//! emptied by a command is deleted. Propagation: verbatim when something changed, except LMPOP,
//! which is propagated as `LPOP`/`RPOP key <count popped>`.

use bytes::Bytes;

use super::access::{get_list, get_list_mut, list_or_create};
use super::args::{is, parse_int};
use super::errors::{self, CmdError};
use super::spec::{Group, Spec, DENYOOM, FAST, READONLY, WRITE};
use super::Ctx;
use crate::protocol::Reply;

pub const COMMANDS: &[Spec] = &[
    Spec::new("lpush", -3, WRITE | DENYOOM | FAST, Group::List, lpush).keys(1, 1, 1),
    Spec::new("rpush", -3, WRITE | DENYOOM | FAST, Group::List, rpush).keys(1, 1, 1),
    Spec::new("lpushx", -3, WRITE | DENYOOM | FAST, Group::List, lpushx).keys(1, 1, 1),
    Spec::new("rpushx", -3, WRITE | DENYOOM | FAST, Group::List, rpushx).keys(1, 1, 1),
    Spec::new("lpop", -2, WRITE | FAST, Group::List, lpop).keys(1, 1, 1),
    Spec::new("rpop", -2, WRITE | FAST, Group::List, rpop).keys(1, 1, 1),
    Spec::new("llen", 2, READONLY | FAST, Group::List, llen).keys(1, 1, 1),
    Spec::new("lrange", 4, READONLY, Group::List, lrange).keys(1, 1, 1),
    Spec::new("lindex", 3, READONLY, Group::List, lindex).keys(1, 1, 1),
    Spec::new("lset", 4, WRITE | DENYOOM, Group::List, lset).keys(1, 1, 1),
    Spec::new("linsert", 5, WRITE | DENYOOM, Group::List, linsert).keys(1, 1, 1),
    Spec::new("lrem", 4, WRITE, Group::List, lrem).keys(1, 1, 1),
    Spec::new("ltrim", 4, WRITE, Group::List, ltrim).keys(1, 1, 1),
    Spec::new("lpos", -3, READONLY, Group::List, lpos).keys(1, 1, 1),
    Spec::new("lmove", 5, WRITE | DENYOOM, Group::List, lmove).keys(1, 2, 1),
    Spec::new("rpoplpush", 3, WRITE | DENYOOM, Group::List, rpoplpush).keys(1, 2, 1),
    Spec::new("lmpop", -4, WRITE, Group::List, lmpop).keys_with(0, 0, 0, lmpop_keys),
];

const RANK_ZERO: CmdError = CmdError::fixed(
    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use \
     negative to start from the end of the list",
);
const COUNT_NEGATIVE: CmdError = CmdError::fixed("ERR COUNT can't be negative");
const MAXLEN_NEGATIVE: CmdError = CmdError::fixed("ERR MAXLEN can't be negative");
const NUMKEYS: CmdError = CmdError::fixed("ERR numkeys should be greater than 0");
const COUNT_POSITIVE: CmdError = CmdError::fixed("ERR count should be greater than 0");

/// Which end of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Left,
    Right,
}

/// `LEFT` / `RIGHT` (any case), else a syntax error.
fn parse_end(b: &[u8]) -> Result<End, CmdError> {
    if is(b, "left") {
        Ok(End::Left)
    } else if is(b, "right") {
        Ok(End::Right)
    } else {
        Err(errors::SYNTAX)
    }
}

/// A count that must be a non-negative integer; any failure is `err` (redis
/// `getPositiveLongFromObjectOrReply` with a message).
fn parse_non_negative(b: &[u8], err: CmdError) -> Result<i64, CmdError> {
    match crate::util::parse_i64(b) {
        Some(n) if n >= 0 => Ok(n),
        _ => Err(err),
    }
}

/// Converts a possibly negative index to a position, None when outside the list.
fn position(index: i64, len: usize) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let i = if index < 0 { len + index } else { index };
    if (0..len).contains(&i) {
        usize::try_from(i).ok()
    } else {
        None
    }
}

fn bulks(items: Vec<Bytes>) -> Reply {
    Reply::Array(items.into_iter().map(Reply::Bulk).collect())
}

fn len_reply(len: usize) -> Reply {
    Reply::Int(i64::try_from(len).unwrap_or(i64::MAX))
}

/// LPUSH / RPUSH / LPUSHX / RPUSHX: pushes every element in argument order; the X forms do
/// nothing on a missing key. Replies with the new length.
fn push(cx: &mut Ctx, end: End, only_existing: bool) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let key = &argv[1];
    let list = if only_existing {
        match get_list_mut(cx.db, key)? {
            Some(l) => l,
            None => return Ok(Reply::Int(0)),
        }
    } else {
        list_or_create(cx.db, key)?
    };
    for v in &argv[2..] {
        match end {
            End::Left => list.push_front(v),
            End::Right => list.push_back(v),
        }
    }
    let len = list.len();
    cx.propagate();
    Ok(len_reply(len))
}

fn lpush(cx: &mut Ctx) -> Result<Reply, CmdError> {
    push(cx, End::Left, false)
}

fn rpush(cx: &mut Ctx) -> Result<Reply, CmdError> {
    push(cx, End::Right, false)
}

fn lpushx(cx: &mut Ctx) -> Result<Reply, CmdError> {
    push(cx, End::Left, true)
}

fn rpushx(cx: &mut Ctx) -> Result<Reply, CmdError> {
    push(cx, End::Right, true)
}

/// LPOP / RPOP key [count]: without a count, one bulk (nil when missing); with a count, an
/// array in pop order (nil array when missing, empty array for a count of 0).
fn pop(cx: &mut Ctx, end: End) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    if argv.len() > 3 {
        let name = if end == End::Left { "lpop" } else { "rpop" };
        return Err(CmdError::wrong_arity(name));
    }
    let count = match argv.get(2) {
        Some(c) => Some(parse_non_negative(c, errors::NEGATIVE_COUNT)?),
        None => None,
    };
    let key = &argv[1];
    let Some(list) = get_list_mut(cx.db, key)? else {
        return Ok(if count.is_some() {
            Reply::NilArray
        } else {
            Reply::Nil
        });
    };
    let reply = match count {
        None => {
            let v = match end {
                End::Left => list.pop_front(),
                End::Right => list.pop_back(),
            };
            v.map_or(Reply::Nil, Reply::Bulk)
        }
        Some(0) => return Ok(Reply::Array(Vec::new())),
        Some(n) => {
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            bulks(list.pop_many(n, end == End::Left))
        }
    };
    if list.is_empty() {
        cx.db.remove_if_empty(key);
    }
    cx.propagate();
    Ok(reply)
}

fn lpop(cx: &mut Ctx) -> Result<Reply, CmdError> {
    pop(cx, End::Left)
}

fn rpop(cx: &mut Ctx) -> Result<Reply, CmdError> {
    pop(cx, End::Right)
}

fn llen(cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(len_reply(
        get_list(cx.db, &cx.argv[1])?.map_or(0, |l| l.len()),
    ))
}

/// Clamps `start..=end` (negative = from the tail) to the list as redis `addListRangeReply`;
/// None when the range is empty.
fn clamp_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let llen = i64::try_from(len).ok()?;
    let mut start = if start < 0 { llen + start } else { start };
    let mut end = if end < 0 { llen + end } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= llen {
        return None;
    }
    if end >= llen {
        end = llen - 1;
    }
    Some((usize::try_from(start).ok()?, usize::try_from(end).ok()?))
}

fn lrange(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let start = parse_int(&argv[2])?;
    let end = parse_int(&argv[3])?;
    let Some(list) = get_list(cx.db, &argv[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    Ok(match clamp_range(start, end, list.len()) {
        Some((s, e)) => bulks(list.range_bytes(s, e, false)),
        None => Reply::Array(Vec::new()),
    })
}

fn lindex(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let Some(list) = get_list(cx.db, &argv[1])? else {
        return Ok(Reply::Nil);
    };
    let index = parse_int(&argv[2])?;
    Ok(position(index, list.len())
        .and_then(|i| list.get(i))
        .map_or(Reply::Nil, |v| Reply::Bulk(Bytes::copy_from_slice(v))))
}

fn lset(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let Some(list) = get_list_mut(cx.db, &argv[1])? else {
        return Err(errors::NO_SUCH_KEY);
    };
    let index = parse_int(&argv[2])?;
    let Some(i) = position(index, list.len()) else {
        return Err(errors::OUT_OF_RANGE);
    };
    list.set(i, &argv[3]);
    cx.propagate();
    Ok(Reply::OK)
}

/// LINSERT key BEFORE|AFTER pivot element: inserts next to the first pivot from the head.
/// Replies with the new length, -1 without a pivot, 0 without a key.
fn linsert(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let after = if is(&argv[2], "after") {
        true
    } else if is(&argv[2], "before") {
        false
    } else {
        return Err(errors::SYNTAX);
    };
    let Some(list) = get_list_mut(cx.db, &argv[1])? else {
        return Ok(Reply::Int(0));
    };
    let pivot = &argv[3][..];
    let Some(pos) = list.iter().position(|e| e == pivot) else {
        return Ok(Reply::Int(-1));
    };
    list.insert(if after { pos + 1 } else { pos }, &argv[4]);
    let len = list.len();
    cx.propagate();
    Ok(len_reply(len))
}

/// LREM key count element: count > 0 removes that many from the head, < 0 from the tail,
/// 0 all of them.
fn lrem(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let count = parse_int(&argv[2])?;
    let key = &argv[1];
    let Some(list) = get_list_mut(cx.db, key)? else {
        return Ok(Reply::Int(0));
    };
    let limit = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
    let removed = list.remove(&argv[3], limit, count < 0);
    if removed > 0 {
        cx.db.remove_if_empty(key);
        cx.propagate();
    }
    Ok(len_reply(removed))
}

/// LTRIM key start stop. Redis signals the key as modified (WATCH) even when nothing was
/// trimmed, but only propagates when elements were removed.
fn ltrim(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let start = parse_int(&argv[2])?;
    let end = parse_int(&argv[3])?;
    let key = &argv[1];
    let Some(list) = get_list_mut(cx.db, key)? else {
        return Ok(Reply::OK);
    };
    let len = list.len();
    let (ltrim, rtrim) = match clamp_range(start, end, len) {
        Some((s, e)) => (s, len - e - 1),
        None => (len, 0),
    };
    list.trim_front(ltrim);
    list.trim_back(rtrim);
    if ltrim + rtrim > 0 {
        cx.db.remove_if_empty(key);
        cx.propagate();
    } else {
        cx.db.touch(key);
    }
    Ok(Reply::OK)
}

/// LPOS key element [RANK rank] [COUNT num] [MAXLEN len]. Mirrors redis's arithmetic exactly,
/// including RANK -9223372036854775808 (which negates to itself there: every match counts and
/// COUNT never stops the scan).
fn lpos(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let (mut rank, mut count, mut maxlen) = (1i64, None::<i64>, 0i64);
    let mut j = 3;
    while j < argv.len() {
        let more = j + 1 < argv.len();
        let opt = &argv[j];
        if is(opt, "rank") && more {
            j += 1;
            rank = parse_int(&argv[j])?;
            if rank == 0 {
                return Err(RANK_ZERO);
            }
        } else if is(opt, "count") && more {
            j += 1;
            count = Some(parse_non_negative(&argv[j], COUNT_NEGATIVE)?);
        } else if is(opt, "maxlen") && more {
            j += 1;
            maxlen = parse_non_negative(&argv[j], MAXLEN_NEGATIVE)?;
        } else {
            return Err(errors::SYNTAX);
        }
        j += 1;
    }
    let from_tail = rank < 0;
    if from_tail {
        rank = rank.wrapping_neg();
    }
    let Some(list) = get_list(cx.db, &argv[1])? else {
        return Ok(if count.is_some() {
            Reply::Array(Vec::new())
        } else {
            Reply::Nil
        });
    };
    let ele = &argv[2][..];
    let llen = len_as_i64(list.len());
    let search = Search {
        ele,
        rank,
        count,
        maxlen,
        llen,
        from_tail,
    };
    let (found, first) = if from_tail {
        search.run(list.iter().rev())
    } else {
        search.run(list.iter())
    };
    Ok(match count {
        Some(_) => Reply::Array(found.into_iter().map(Reply::Int).collect()),
        None => first.map_or(Reply::Nil, Reply::Int),
    })
}

fn len_as_i64(len: usize) -> i64 {
    i64::try_from(len).unwrap_or(i64::MAX)
}

/// The scan of LPOS (redis `lposCommand`'s loop).
struct Search<'a> {
    ele: &'a [u8],
    rank: i64,
    count: Option<i64>,
    maxlen: i64,
    llen: i64,
    from_tail: bool,
}

impl Search<'_> {
    /// Returns (matches listed when COUNT was given, the match without COUNT).
    fn run<'l>(&self, it: impl Iterator<Item = &'l [u8]>) -> (Vec<i64>, Option<i64>) {
        let mut matches = 0i64;
        let mut out = Vec::new();
        for (index, e) in it.enumerate() {
            let index = len_as_i64(index);
            if self.maxlen != 0 && index >= self.maxlen {
                break;
            }
            if e != self.ele {
                continue;
            }
            matches += 1;
            let at = if self.from_tail {
                self.llen - index - 1
            } else {
                index
            };
            if matches >= self.rank {
                match self.count {
                    Some(count) => {
                        out.push(at);
                        if count != 0 && matches.wrapping_sub(self.rank).wrapping_add(1) >= count {
                            break;
                        }
                    }
                    None => return (out, Some(at)),
                }
            }
        }
        (out, None)
    }
}

/// Pops from `src`'s `from` end and pushes onto `dst`'s `to` end (redis
/// `lmoveGenericCommand`): nil when `src` is missing; `WRONGTYPE` from `dst` before any change.
fn lmove_generic(cx: &mut Ctx, from: End, to: End) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let (src, dst) = (&argv[1], &argv[2]);
    match get_list_mut(cx.db, src)? {
        Some(l) if !l.is_empty() => {}
        _ => return Ok(Reply::Nil),
    }
    get_list_mut(cx.db, dst)?;
    let value = match get_list_mut(cx.db, src)? {
        Some(l) => match from {
            End::Left => l.pop_front(),
            End::Right => l.pop_back(),
        },
        None => None,
    };
    let Some(value) = value else {
        return Ok(Reply::Nil);
    };
    let target = list_or_create(cx.db, dst)?;
    match to {
        End::Left => target.push_front(&value),
        End::Right => target.push_back(&value),
    }
    cx.db.remove_if_empty(src);
    cx.db.touch(dst);
    cx.propagate();
    Ok(Reply::Bulk(value))
}

fn lmove(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let from = parse_end(&cx.argv[3])?;
    let to = parse_end(&cx.argv[4])?;
    lmove_generic(cx, from, to)
}

fn rpoplpush(cx: &mut Ctx) -> Result<Reply, CmdError> {
    lmove_generic(cx, End::Right, End::Left)
}

/// LMPOP's keys: `numkeys` keys after it, none when numkeys is not a usable count (redis
/// `lmpopGetKeys`; the command then fails before touching any key).
fn lmpop_keys(argv: &[Bytes]) -> Vec<usize> {
    let n = argv
        .get(1)
        .and_then(|b| crate::util::parse_i64(b))
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0);
    if n == 0 || n > argv.len().saturating_sub(2) {
        return Vec::new();
    }
    (2..2 + n).collect()
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]: pops from the first non-empty list.
/// Replies `[key, [elements]]`, or a nil array when every list is empty.
fn lmpop(cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(lmpop_at(cx, 1)?.unwrap_or(Reply::NilArray))
}

/// LMPOP's work with `numkeys` at `argv[base]` (BLMPOP has its timeout before it): the reply,
/// or `None` when every list is empty. Propagates `LPOP|RPOP key n`.
pub(crate) fn lmpop_at(cx: &mut Ctx, base: usize) -> Result<Option<Reply>, CmdError> {
    let argv = cx.argv;
    let numkeys = match crate::util::parse_i64(&argv[base]) {
        Some(n) if n >= 1 => usize::try_from(n).unwrap_or(usize::MAX),
        _ => return Err(NUMKEYS),
    };
    // The direction sits right after the keys.
    let where_idx = numkeys.saturating_add(base + 1);
    if where_idx >= argv.len() {
        return Err(errors::SYNTAX);
    }
    let end = parse_end(&argv[where_idx])?;
    let mut count = None;
    let mut j = where_idx + 1;
    while j < argv.len() {
        if count.is_none() && is(&argv[j], "count") && j + 1 < argv.len() {
            j += 1;
            count = match crate::util::parse_i64(&argv[j]) {
                Some(n) if n >= 1 => Some(n),
                _ => return Err(COUNT_POSITIVE),
            };
        } else {
            return Err(errors::SYNTAX);
        }
        j += 1;
    }
    let count = usize::try_from(count.unwrap_or(1)).unwrap_or(usize::MAX);
    for key in &argv[base + 1..where_idx] {
        let Some(list) = get_list_mut(cx.db, key)? else {
            continue;
        };
        if list.is_empty() {
            continue;
        }
        let items = list.pop_many(count, end == End::Left);
        let popped = items.len();
        cx.db.remove_if_empty(key);
        let name: &'static [u8] = if end == End::Left { b"LPOP" } else { b"RPOP" };
        cx.propagate_as(vec![
            Bytes::from_static(name),
            key.clone(),
            Bytes::copy_from_slice(itoa::Buffer::new().format(popped).as_bytes()),
        ]);
        return Ok(Some(Reply::Array(vec![
            Reply::Bulk(key.clone()),
            bulks(items),
        ])));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<Bytes> {
        s.split(' ')
            .map(|p| Bytes::copy_from_slice(p.as_bytes()))
            .collect()
    }

    #[test]
    fn clamp_range_matches_redis() {
        assert_eq!(clamp_range(0, -1, 5), Some((0, 4)));
        assert_eq!(clamp_range(-100, 100, 5), Some((0, 4)));
        assert_eq!(clamp_range(2, 1, 5), None);
        assert_eq!(clamp_range(5, 10, 5), None);
        assert_eq!(clamp_range(-1, -2, 5), None);
        assert_eq!(clamp_range(i64::MIN, i64::MAX, 5), Some((0, 4)));
        assert_eq!(clamp_range(0, -1, 0), None);
    }

    #[test]
    fn position_bounds() {
        assert_eq!(position(0, 3), Some(0));
        assert_eq!(position(-1, 3), Some(2));
        assert_eq!(position(-3, 3), Some(0));
        assert_eq!(position(-4, 3), None);
        assert_eq!(position(3, 3), None);
        assert_eq!(position(i64::MIN, 3), None);
        assert_eq!(position(i64::MAX, 3), None);
    }

    #[test]
    fn lmpop_key_positions() {
        assert_eq!(lmpop_keys(&argv("lmpop 2 a b left")), vec![2, 3]);
        assert_eq!(lmpop_keys(&argv("lmpop 1 a left count 2")), vec![2]);
        assert!(lmpop_keys(&argv("lmpop 0 a left")).is_empty());
        assert!(lmpop_keys(&argv("lmpop -1 a left")).is_empty());
        assert!(lmpop_keys(&argv("lmpop x a left")).is_empty());
        assert!(lmpop_keys(&argv("lmpop 9223372036854775807 a left")).is_empty());
        assert!(lmpop_keys(&argv("lmpop 5 a left")).is_empty());
    }

    #[test]
    fn lpos_search_rank_min_counts_every_match() {
        let items: Vec<&[u8]> = vec![b"a", b"b", b"a", b"a"];
        let s = Search {
            ele: b"a",
            rank: i64::MIN,
            count: Some(1),
            maxlen: 0,
            llen: 4,
            from_tail: true,
        };
        assert_eq!(s.run(items.iter().rev().copied()).0, vec![3, 2, 0]);
        let s = Search {
            rank: 2,
            count: None,
            from_tail: false,
            ..s
        };
        assert_eq!(s.run(items.iter().copied()).1, Some(2));
    }
}
