//! Set commands (redis `t_set.c`).
//!
//! Result sets of SUNION/SDIFF (and of every *STORE) are built as Redis builds them: an empty
//! intset that members are added to, so they get Redis's encoding (intset when all members are
//! integers and few) and therefore Redis's reply order (ascending for an intset). SINTER replies
//! in the order of its smallest input, as Redis does.

use bytes::Bytes;
use rand::Rng;

use super::access::{get_set, get_set_mut, set_or_create};
use super::args::parse_scan_cursor;
use super::errors::{self, CmdError};
use super::hashes::{
    distinct_positions, parse_random_count, samples_allowed, scan_reply, ScanOptions,
};
use super::spec::{Group, Spec, DENYOOM, FAST, READONLY, WRITE};
use super::Ctx;
use crate::keyspace::set::{Member, Set};
use crate::keyspace::{Db, EncodingLimits, Value};
use crate::protocol::Reply;

pub const COMMANDS: &[Spec] = &[
    Spec::new("sadd", -3, WRITE | DENYOOM | FAST, Group::Set, sadd).keys(1, 1, 1),
    Spec::new("srem", -3, WRITE | FAST, Group::Set, srem).keys(1, 1, 1),
    Spec::new("smembers", 2, READONLY, Group::Set, smembers).keys(1, 1, 1),
    Spec::new("sismember", 3, READONLY | FAST, Group::Set, sismember).keys(1, 1, 1),
    Spec::new("smismember", -3, READONLY | FAST, Group::Set, smismember).keys(1, 1, 1),
    Spec::new("scard", 2, READONLY | FAST, Group::Set, scard).keys(1, 1, 1),
    Spec::new("spop", -2, WRITE | FAST, Group::Set, spop).keys(1, 1, 1),
    Spec::new("srandmember", -2, READONLY, Group::Set, srandmember).keys(1, 1, 1),
    Spec::new("smove", 4, WRITE | FAST, Group::Set, smove).keys(1, 2, 1),
    Spec::new("sinter", -2, READONLY, Group::Set, sinter).keys(1, -1, 1),
    Spec::new("sintercard", -3, READONLY, Group::Set, sintercard).keys_with(
        0,
        0,
        0,
        sintercard_keys,
    ),
    Spec::new("sinterstore", -3, WRITE | DENYOOM, Group::Set, sinterstore).keys(1, -1, 1),
    Spec::new("sunion", -2, READONLY, Group::Set, sunion).keys(1, -1, 1),
    Spec::new("sunionstore", -3, WRITE | DENYOOM, Group::Set, sunionstore).keys(1, -1, 1),
    Spec::new("sdiff", -2, READONLY, Group::Set, sdiff).keys(1, -1, 1),
    Spec::new("sdiffstore", -3, WRITE | DENYOOM, Group::Set, sdiffstore).keys(1, -1, 1),
    Spec::new("sscan", -3, READONLY, Group::Set, sscan).keys(1, 1, 1),
];

fn member_reply(m: Member<'_>) -> Reply {
    Reply::Bulk(m.to_bytes())
}

fn set_reply(s: &Set) -> Reply {
    Reply::Set(s.iter().map(member_reply).collect())
}

fn sadd(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let limits = cx.db.limits();
    let s = set_or_create(cx.db, &argv[1])?;
    let added = argv[2..].iter().filter(|m| s.insert(m, &limits)).count();
    if added > 0 {
        cx.propagate();
    }
    Ok(Reply::Int(added as i64))
}

fn srem(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let Some(s) = get_set_mut(cx.db, &argv[1])? else {
        return Ok(Reply::Int(0));
    };
    let mut removed = 0;
    for m in &argv[2..] {
        if s.remove(m) {
            removed += 1;
            if s.is_empty() {
                break;
            }
        }
    }
    if removed > 0 {
        cx.db.remove_if_empty(&argv[1]);
        cx.propagate();
    }
    Ok(Reply::Int(removed))
}

fn smembers(cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(get_set(cx.db, &cx.argv[1])?.map_or(Reply::Set(Vec::new()), set_reply))
}

fn sismember(cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(Reply::Int(
        get_set(cx.db, &cx.argv[1])?.is_some_and(|s| s.contains(&cx.argv[2])) as i64,
    ))
}

fn smismember(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let s = get_set(cx.db, &cx.argv[1])?;
    Ok(Reply::Array(
        cx.argv[2..]
            .iter()
            .map(|m| Reply::Int(s.is_some_and(|s| s.contains(m)) as i64))
            .collect(),
    ))
}

fn scard(cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(Reply::Int(
        get_set(cx.db, &cx.argv[1])?.map_or(0, |s| s.len() as i64),
    ))
}

// ---------------------------------------------------------------------------------------------
// SPOP / SRANDMEMBER

/// SPOP's count argument (redis `getPositiveLongFromObjectOrReply`).
fn parse_pop_count(raw: &[u8]) -> Result<usize, CmdError> {
    crate::util::parse_i64(raw)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or(errors::NEGATIVE_COUNT)
}

fn srem_argv(key: &Bytes, member: Bytes) -> Vec<Bytes> {
    vec![Bytes::from_static(b"SREM"), key.clone(), member]
}

/// A copy of `s` built as redis's union of one set: an intset when every member fits one.
fn union_of_one(s: &Set, limits: &EncodingLimits) -> Set {
    let mut out = Set::default();
    for m in s.iter() {
        out.insert_member(m, limits);
    }
    out
}

fn spop(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    match argv.len() {
        2 => {}
        3 => return spop_count(cx),
        _ => return Err(errors::SYNTAX),
    }
    let key = &argv[1];
    let Some(s) = get_set_mut(cx.db, key)? else {
        return Ok(Reply::Nil);
    };
    let i = rand::rng().random_range(0..s.len().max(1));
    let Some(member) = s.take_index(i) else {
        return Ok(Reply::Nil);
    };
    cx.db.remove_if_empty(key);
    cx.propagate_as(srem_argv(key, member.clone()));
    Ok(Reply::Bulk(member))
}

/// How much bigger than the remaining part the popped part must be for SPOP to rebuild the set
/// from the members that stay (redis `SPOP_MOVE_STRATEGY_MUL`).
const SPOP_MOVE_STRATEGY_MUL: usize = 5;

/// SPOP key count (redis `spopWithCountCommand`): the whole set (propagated as DEL) when count
/// covers it, else `count` members each propagated as an SREM.
fn spop_count(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let key = &argv[1];
    let count = parse_pop_count(&argv[2])?;
    let limits = cx.db.limits();
    let Some(s) = get_set_mut(cx.db, key)? else {
        return Ok(Reply::Set(Vec::new()));
    };
    if count == 0 {
        return Ok(Reply::Set(Vec::new()));
    }
    let size = s.len();
    if count >= size {
        let reply = set_reply(&union_of_one(s, &limits));
        cx.db.remove(key);
        cx.propagate_as(vec![Bytes::from_static(b"DEL"), key.clone()]);
        return Ok(reply);
    }
    let remaining = size - count;
    let popped: Vec<Bytes> = if remaining * SPOP_MOVE_STRATEGY_MUL > count {
        s.take_random(count)
    } else {
        // Keep `remaining` random members in a new set; the old one's other members are popped
        // in its iteration order.
        let keep = distinct_positions(size, remaining);
        let mut kept = Set::default();
        let mut popped = Vec::with_capacity(count);
        let mut next_keep = keep.iter().peekable();
        for (i, m) in s.iter().enumerate() {
            if next_keep.peek() == Some(&&i) {
                next_keep.next();
                kept.insert_member(m, &limits);
            } else {
                popped.push(m.to_bytes());
            }
        }
        *s = kept;
        popped
    };
    for m in &popped {
        cx.propagate_as(srem_argv(key, m.clone()));
    }
    Ok(Reply::Set(popped.into_iter().map(Reply::Bulk).collect()))
}

fn srandmember(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    match argv.len() {
        2 => {
            let Some(s) = get_set(cx.db, &argv[1])? else {
                return Ok(Reply::Nil);
            };
            let i = rand::rng().random_range(0..s.len().max(1));
            return Ok(s.get_index(i).map_or(Reply::Nil, member_reply));
        }
        3 => {}
        _ => return Err(errors::SYNTAX),
    }
    let l = parse_random_count(&argv[2])?;
    // "$0\r\n\r\n" per member at least.
    let samples = samples_allowed(cx, l.unsigned_abs(), 6);
    let Some(s) = get_set(cx.db, &argv[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    if l == 0 {
        return Ok(Reply::Array(Vec::new()));
    }
    let size = s.len();
    let count = l.unsigned_abs();
    let out: Vec<Reply> = if l < 0 || count == 1 {
        let n = samples?;
        let mut rng = rand::rng();
        (0..n)
            .filter_map(|_| s.get_index(rng.random_range(0..size.max(1))))
            .map(member_reply)
            .collect()
    } else if count >= size as u64 {
        s.iter().map(member_reply).collect()
    } else {
        distinct_positions(size, count as usize)
            .into_iter()
            .filter_map(|i| s.get_index(i))
            .map(member_reply)
            .collect()
    };
    Ok(Reply::Array(out))
}

// ---------------------------------------------------------------------------------------------
// SMOVE

fn smove(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let (src, dst, member) = (&argv[1], &argv[2], &argv[3]);
    match cx.db.get_mut(src) {
        None => return Ok(Reply::Int(0)),
        Some(Value::Set(_)) => {}
        Some(_) => return Err(errors::WRONGTYPE),
    }
    if let Some(v) = cx.db.get_mut(dst) {
        if !matches!(v, Value::Set(_)) {
            return Err(errors::WRONGTYPE);
        }
    }
    let Some(s) = get_set_mut(cx.db, src)? else {
        return Ok(Reply::Int(0));
    };
    if src == dst {
        return Ok(Reply::Int(s.contains(member) as i64));
    }
    if !s.remove(member) {
        return Ok(Reply::Int(0));
    }
    cx.db.remove_if_empty(src);
    let limits = cx.db.limits();
    if set_or_create(cx.db, dst)?.insert(member, &limits) {
        cx.propagate();
    } else {
        // The destination already held the member: only the source changed.
        cx.db.touch(src);
        cx.db.propagate_untouched(argv.to_vec());
    }
    Ok(Reply::Int(1))
}

// ---------------------------------------------------------------------------------------------
// SINTER / SUNION / SDIFF and their STORE and CARD forms

/// Read lookups of every key (expiry, stats) with the type check: WRONGTYPE on any key that
/// holds another type, even after a missing one, as redis 7.0 checks every key. Returns whether
/// each key is present (an expired key on a replica is reported missing but stays stored).
fn check_sets(db: &mut Db<'_>, keys: &[Bytes]) -> Result<Vec<bool>, CmdError> {
    keys.iter()
        .map(|k| match db.get(k) {
            None => Ok(false),
            Some(Value::Set(_)) => Ok(true),
            Some(_) => Err(errors::WRONGTYPE),
        })
        .collect()
}

/// The sets under `keys` (None for a missing key), after `check_sets`.
fn peek_sets<'d>(db: &'d Db<'_>, keys: &[Bytes], present: &[bool]) -> Vec<Option<&'d Set>> {
    keys.iter()
        .zip(present)
        .map(|(k, &here)| match db.peek_in(db.index, k) {
            Some(Value::Set(s)) if here => Some(s),
            _ => None,
        })
        .collect()
}

/// What an intersection produces.
enum InterOut {
    /// Members in the order of the smallest set (SINTER).
    Members(Vec<Bytes>),
    /// A new set (SINTERSTORE).
    Store(Set),
    /// The cardinality, counted up to `limit` (0 = no limit) (SINTERCARD).
    Card(usize),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum InterMode {
    Members,
    Store,
    Card { limit: usize },
}

/// The intersection of the sets under `keys` (redis `sinterGenericCommand`).
fn intersect(db: &mut Db<'_>, keys: &[Bytes], mode: InterMode) -> Result<InterOut, CmdError> {
    let present = check_sets(db, keys)?;
    let limits = db.limits();
    let found = peek_sets(db, keys, &present);
    let mut sets: Vec<&Set> = Vec::with_capacity(found.len());
    for s in found {
        match s {
            Some(s) => sets.push(s),
            None => {
                return Ok(match mode {
                    InterMode::Members => InterOut::Members(Vec::new()),
                    InterMode::Store => InterOut::Store(Set::default()),
                    InterMode::Card { .. } => InterOut::Card(0),
                })
            }
        }
    }
    // Smallest first (a stable sort, as glibc's qsort is for these arrays).
    sets.sort_by_key(|s| s.len());
    let (first, rest) = match sets.split_first() {
        Some(x) => x,
        None => return Ok(InterOut::Card(0)),
    };
    let in_all = |m: Member<'_>| {
        rest.iter()
            .all(|s| std::ptr::eq(*s, *first) || s.contains_member(m))
    };
    Ok(match mode {
        InterMode::Members => InterOut::Members(
            first
                .iter()
                .filter(|m| in_all(*m))
                .map(Member::to_bytes)
                .collect(),
        ),
        InterMode::Store => {
            let mut out = Set::default();
            for m in first.iter().filter(|m| in_all(*m)) {
                out.insert_member(m, &limits);
            }
            InterOut::Store(out)
        }
        InterMode::Card { limit } => {
            let mut n = 0;
            for m in first.iter() {
                if in_all(m) {
                    n += 1;
                    if limit != 0 && n >= limit {
                        break;
                    }
                }
            }
            InterOut::Card(n)
        }
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Diff,
}

/// The union or difference of the sets under `keys` (redis `sunionDiffGenericCommand`),
/// including its choice of difference algorithm, which decides the result's encoding.
fn union_diff(db: &mut Db<'_>, keys: &[Bytes], op: SetOp) -> Result<Set, CmdError> {
    let present = check_sets(db, keys)?;
    let limits = db.limits();
    let mut sets = peek_sets(db, keys, &present);
    let mut out = Set::default();
    let first = sets.first().copied().flatten();
    let same_set = first.is_some_and(|f| {
        sets.iter()
            .skip(1)
            .any(|s| s.is_some_and(|s| std::ptr::eq(s, f)))
    });
    match (op, first) {
        (SetOp::Union, _) => {
            for s in sets.iter().flatten() {
                for m in s.iter() {
                    out.insert_member(m, &limits);
                }
            }
        }
        (SetOp::Diff, None) => {}
        (SetOp::Diff, Some(_)) if same_set => {}
        (SetOp::Diff, Some(first)) => {
            let present = sets.iter().flatten().count();
            let algo_one_work = (first.len() * present) / 2;
            let algo_two_work: usize = sets.iter().flatten().map(|s| s.len()).sum();
            if algo_one_work <= algo_two_work {
                // Algorithm 1: members of the first set found in no other, biggest others first.
                sets[1..].sort_by_key(|s| std::cmp::Reverse(s.map_or(0, |s| s.len())));
                for m in first.iter() {
                    if !sets[1..].iter().flatten().any(|s| s.contains_member(m)) {
                        out.insert_member(m, &limits);
                    }
                }
            } else {
                // Algorithm 2: the first set, minus every member of the others.
                for m in first.iter() {
                    out.insert_member(m, &limits);
                }
                for s in sets[1..].iter().flatten() {
                    if out.is_empty() {
                        break;
                    }
                    for m in s.iter() {
                        out.remove_member(m);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Stores a result set under `dst` (dropping its TTL), or deletes `dst` when the result is
/// empty; propagates the command verbatim when something changed. Replies the cardinality.
fn store(cx: &mut Ctx, dst: &Bytes, result: Set) -> Reply {
    let n = result.len();
    if n > 0 {
        cx.db.set(dst, Value::Set(result));
        cx.propagate();
    } else if cx.db.remove(dst).is_some() {
        cx.propagate();
    }
    Reply::Int(n as i64)
}

fn sinter(cx: &mut Ctx) -> Result<Reply, CmdError> {
    match intersect(cx.db, &cx.argv[1..], InterMode::Members)? {
        InterOut::Members(v) => Ok(Reply::Set(v.into_iter().map(Reply::Bulk).collect())),
        _ => Ok(Reply::Set(Vec::new())),
    }
}

fn sinterstore(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let result = match intersect(cx.db, &cx.argv[2..], InterMode::Store)? {
        InterOut::Store(s) => s,
        _ => Set::default(),
    };
    Ok(store(cx, &cx.argv[1], result))
}

/// SINTERCARD numkeys: an integer in [1, LONG_MAX] with redis's message.
fn parse_numkeys(raw: &[u8]) -> Result<usize, CmdError> {
    crate::util::parse_i64(raw)
        .filter(|&n| n >= 1)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| CmdError::err("numkeys should be greater than 0"))
}

fn sintercard_keys(argv: &[Bytes]) -> Vec<usize> {
    match argv.get(1).map(|b| parse_numkeys(b)) {
        Some(Ok(n)) if n <= argv.len().saturating_sub(2) => (2..2 + n).collect(),
        _ => Vec::new(),
    }
}

fn sintercard(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let numkeys = parse_numkeys(&argv[1])?;
    if numkeys > argv.len() - 2 {
        return Err(CmdError::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    let mut limit = 0usize;
    let mut i = 2 + numkeys;
    while i < argv.len() {
        if argv[i].eq_ignore_ascii_case(b"limit") && i + 1 < argv.len() {
            limit = crate::util::parse_i64(&argv[i + 1])
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| CmdError::err("LIMIT can't be negative"))?;
            i += 2;
        } else {
            return Err(errors::SYNTAX);
        }
    }
    match intersect(cx.db, &argv[2..2 + numkeys], InterMode::Card { limit })? {
        InterOut::Card(n) => Ok(Reply::Int(n as i64)),
        _ => Ok(Reply::Int(0)),
    }
}

fn sunion(cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(set_reply(&union_diff(cx.db, &cx.argv[1..], SetOp::Union)?))
}

fn sunionstore(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let result = union_diff(cx.db, &cx.argv[2..], SetOp::Union)?;
    Ok(store(cx, &cx.argv[1], result))
}

fn sdiff(cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(set_reply(&union_diff(cx.db, &cx.argv[1..], SetOp::Diff)?))
}

fn sdiffstore(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let result = union_diff(cx.db, &cx.argv[2..], SetOp::Diff)?;
    Ok(store(cx, &cx.argv[1], result))
}

fn sscan(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let cursor = parse_scan_cursor(&argv[2])?;
    let Some(s) = get_set(cx.db, &argv[1])? else {
        return Ok(scan_reply(0, Vec::new()));
    };
    let opts = ScanOptions::parse(&argv[3..])?;
    let (next, members) = s.scan(cursor, opts.count);
    let items = members
        .into_iter()
        .filter(|m| opts.matches(m))
        .map(Reply::Bulk)
        .collect();
    Ok(scan_reply(next, items))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        assert_eq!(parse_pop_count(b"3"), Ok(3));
        assert_eq!(parse_pop_count(b"-1"), Err(errors::NEGATIVE_COUNT));
        assert_eq!(parse_pop_count(b"x"), Err(errors::NEGATIVE_COUNT));
        assert!(parse_numkeys(b"0").is_err());
        assert!(parse_numkeys(b"99999999999999999999").is_err());
        assert_eq!(parse_numkeys(b"2"), Ok(2));
    }

    #[test]
    fn sintercard_key_positions() {
        let argv = |v: &[&str]| {
            v.iter()
                .map(|s| Bytes::from(s.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            sintercard_keys(&argv(&["sintercard", "2", "a", "b"])),
            vec![2, 3]
        );
        assert_eq!(
            sintercard_keys(&argv(&["sintercard", "1", "a", "limit", "1"])),
            vec![2]
        );
        assert!(sintercard_keys(&argv(&["sintercard", "3", "a", "b"])).is_empty());
        assert!(sintercard_keys(&argv(&["sintercard", "x", "a"])).is_empty());
    }

    #[test]
    fn union_of_one_gets_redis_encoding() {
        let l = EncodingLimits::default();
        let mut s = Set::default();
        s.insert(b"x", &l);
        for m in ["3", "1", "2"] {
            s.insert(m.as_bytes(), &l);
        }
        s.remove(b"x");
        assert_eq!(s.encoding(), "hashtable");
        let u = union_of_one(&s, &l);
        assert_eq!(u.encoding(), "intset");
        assert_eq!(u.members(), vec!["1", "2", "3"]);
    }
}
