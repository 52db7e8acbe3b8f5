//! Sorted set commands (redis `t_zset.c`). This file holds the command table, the number and
//! range parsers shared by the family, and the single-member commands; `range` has the ZRANGE
//! family and the range removals, `setops` ZUNION/ZINTER/ZDIFF, `pop` the pops, ZRANDMEMBER and
//! ZSCAN.

pub(crate) mod pop;
mod range;
mod setops;

use bytes::Bytes;

use super::access::{get_zset, get_zset_mut};
use super::errors::{self, CmdError};
use super::spec::{Group, Spec, DENYOOM, FAST, READONLY, WRITE};
use super::Ctx;
use crate::keyspace::zset::ZSet;
use crate::keyspace::Value;
use crate::protocol::encode::Resp;
use crate::protocol::Reply;

pub const COMMANDS: &[Spec] = &[
    Spec::new("zadd", -4, WRITE | DENYOOM | FAST, Group::SortedSet, zadd).keys(1, 1, 1),
    Spec::new(
        "zincrby",
        4,
        WRITE | DENYOOM | FAST,
        Group::SortedSet,
        zincrby,
    )
    .keys(1, 1, 1),
    Spec::new("zrem", -3, WRITE | FAST, Group::SortedSet, zrem).keys(1, 1, 1),
    Spec::new("zcard", 2, READONLY | FAST, Group::SortedSet, zcard).keys(1, 1, 1),
    Spec::new("zscore", 3, READONLY | FAST, Group::SortedSet, zscore).keys(1, 1, 1),
    Spec::new("zmscore", -3, READONLY | FAST, Group::SortedSet, zmscore).keys(1, 1, 1),
    Spec::new("zrank", 3, READONLY | FAST, Group::SortedSet, zrank).keys(1, 1, 1),
    Spec::new("zrevrank", 3, READONLY | FAST, Group::SortedSet, zrevrank).keys(1, 1, 1),
    Spec::new(
        "zcount",
        4,
        READONLY | FAST,
        Group::SortedSet,
        range::zcount,
    )
    .keys(1, 1, 1),
    Spec::new(
        "zlexcount",
        4,
        READONLY | FAST,
        Group::SortedSet,
        range::zlexcount,
    )
    .keys(1, 1, 1),
    Spec::new("zrange", -4, READONLY, Group::SortedSet, range::zrange).keys(1, 1, 1),
    Spec::new(
        "zrangestore",
        -5,
        WRITE | DENYOOM,
        Group::SortedSet,
        range::zrangestore,
    )
    .keys(1, 2, 1),
    Spec::new(
        "zrangebyscore",
        -4,
        READONLY,
        Group::SortedSet,
        range::zrangebyscore,
    )
    .keys(1, 1, 1),
    Spec::new(
        "zrevrangebyscore",
        -4,
        READONLY,
        Group::SortedSet,
        range::zrevrangebyscore,
    )
    .keys(1, 1, 1),
    Spec::new(
        "zrangebylex",
        -4,
        READONLY,
        Group::SortedSet,
        range::zrangebylex,
    )
    .keys(1, 1, 1),
    Spec::new(
        "zrevrangebylex",
        -4,
        READONLY,
        Group::SortedSet,
        range::zrevrangebylex,
    )
    .keys(1, 1, 1),
    Spec::new(
        "zrevrange",
        -4,
        READONLY,
        Group::SortedSet,
        range::zrevrange,
    )
    .keys(1, 1, 1),
    Spec::new(
        "zremrangebyrank",
        4,
        WRITE,
        Group::SortedSet,
        range::zremrangebyrank,
    )
    .keys(1, 1, 1),
    Spec::new(
        "zremrangebyscore",
        4,
        WRITE,
        Group::SortedSet,
        range::zremrangebyscore,
    )
    .keys(1, 1, 1),
    Spec::new(
        "zremrangebylex",
        4,
        WRITE,
        Group::SortedSet,
        range::zremrangebylex,
    )
    .keys(1, 1, 1),
    Spec::new(
        "zunionstore",
        -4,
        WRITE | DENYOOM,
        Group::SortedSet,
        setops::zunionstore,
    )
    .keys_with(1, 1, 1, store_keys),
    Spec::new(
        "zinterstore",
        -4,
        WRITE | DENYOOM,
        Group::SortedSet,
        setops::zinterstore,
    )
    .keys_with(1, 1, 1, store_keys),
    Spec::new(
        "zdiffstore",
        -4,
        WRITE | DENYOOM,
        Group::SortedSet,
        setops::zdiffstore,
    )
    .keys_with(1, 1, 1, store_keys),
    Spec::new("zunion", -3, READONLY, Group::SortedSet, setops::zunion).keys_with(
        0,
        0,
        0,
        numkeys_at_1,
    ),
    Spec::new("zinter", -3, READONLY, Group::SortedSet, setops::zinter).keys_with(
        0,
        0,
        0,
        numkeys_at_1,
    ),
    Spec::new(
        "zintercard",
        -3,
        READONLY,
        Group::SortedSet,
        setops::zintercard,
    )
    .keys_with(0, 0, 0, numkeys_at_1),
    Spec::new("zdiff", -3, READONLY, Group::SortedSet, setops::zdiff).keys_with(
        0,
        0,
        0,
        numkeys_at_1,
    ),
    Spec::new("zpopmin", -2, WRITE | FAST, Group::SortedSet, pop::zpopmin).keys(1, 1, 1),
    Spec::new("zpopmax", -2, WRITE | FAST, Group::SortedSet, pop::zpopmax).keys(1, 1, 1),
    Spec::new("zmpop", -4, WRITE, Group::SortedSet, pop::zmpop).keys_with(0, 0, 0, numkeys_at_1),
    Spec::new(
        "zrandmember",
        -2,
        READONLY,
        Group::SortedSet,
        pop::zrandmember,
    )
    .keys(1, 1, 1),
    Spec::new("zscan", -3, READONLY, Group::SortedSet, pop::zscan).keys(1, 1, 1),
];

// ---------------------------------------------------------------------------------------------
// Key positions of the numkeys commands

/// Positions `first..first+numkeys` where numkeys is argv[first - 1]; nothing if it is not a
/// positive count that fits in argv (the handler then fails before touching any key).
pub(crate) fn numkeys_keys(argv: &[Bytes], first: usize) -> Vec<usize> {
    let Some(n) = argv.get(first - 1).and_then(|b| crate::util::parse_i64(b)) else {
        return Vec::new();
    };
    if n < 1 || n as u64 > (argv.len().saturating_sub(first)) as u64 {
        return Vec::new();
    }
    (first..first + n as usize).collect()
}

/// ZUNION, ZINTER, ZINTERCARD, ZDIFF, ZMPOP: `numkeys key [key ...]`.
fn numkeys_at_1(argv: &[Bytes]) -> Vec<usize> {
    numkeys_keys(argv, 2)
}

/// The STORE forms: `destination numkeys key [key ...]`.
fn store_keys(argv: &[Bytes]) -> Vec<usize> {
    let mut keys = vec![1];
    keys.extend(numkeys_keys(argv, 3));
    keys
}

// ---------------------------------------------------------------------------------------------
// Numbers as C's strtod reads them

fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn starts_with_ci(s: &[u8], word: &[u8]) -> bool {
    s.len() >= word.len() && s[..word.len()].eq_ignore_ascii_case(word)
}

/// `x * 2^e` without intermediate overflow.
fn ldexp(mut x: f64, mut e: i64) -> f64 {
    while e > 1000 && x.is_finite() && x != 0.0 {
        x *= 2f64.powi(1000);
        e -= 1000;
    }
    while e < -1000 && x.is_finite() && x != 0.0 {
        x *= 2f64.powi(-1000);
        e += 1000;
    }
    x * 2f64.powi(e.clamp(-1100, 1100) as i32)
}

/// Digits after `0x`: (value, bytes used, range error), or None without a hex digit.
fn strtod_hex(s: &[u8]) -> Option<(f64, usize, bool)> {
    let mut i = 0;
    let mut mant: u64 = 0;
    let mut exp: i64 = 0;
    let mut digits = 0;
    let mut sticky = false;
    let mut nonzero = false;
    let mut seen_point = false;
    while i < s.len() {
        let c = s[i];
        if c == b'.' && !seen_point {
            seen_point = true;
            i += 1;
            continue;
        }
        let Some(d) = (c as char).to_digit(16) else {
            break;
        };
        digits += 1;
        nonzero |= d != 0;
        if mant < (1 << 60) {
            mant = mant * 16 + u64::from(d);
            if seen_point {
                exp -= 4;
            }
        } else {
            sticky |= d != 0;
            if !seen_point {
                exp += 4;
            }
        }
        i += 1;
    }
    if digits == 0 {
        return None;
    }
    if i < s.len() && (s[i] | 0x20) == b'p' {
        let mut j = i + 1;
        let neg = match s.get(j) {
            Some(b'-') => {
                j += 1;
                true
            }
            Some(b'+') => {
                j += 1;
                false
            }
            _ => false,
        };
        let start = j;
        let mut e: i64 = 0;
        while j < s.len() && s[j].is_ascii_digit() {
            e = (e * 10 + i64::from(s[j] - b'0')).min(1 << 40);
            j += 1;
        }
        if j > start {
            exp += if neg { -e } else { e };
            i = j;
        }
    }
    if sticky {
        mant |= 1;
    }
    let v = ldexp(mant as f64, exp);
    let erange = v.is_infinite() || (v == 0.0 && nonzero);
    Some((v, i, erange))
}

/// Decimal digits with optional fraction and exponent: (value, bytes used, range error).
fn strtod_dec(s: &[u8]) -> Option<(f64, usize, bool)> {
    let mut i = 0;
    let mut digits = 0;
    let mut nonzero = false;
    while i < s.len() && s[i].is_ascii_digit() {
        nonzero |= s[i] != b'0';
        digits += 1;
        i += 1;
    }
    if i < s.len() && s[i] == b'.' {
        i += 1;
        while i < s.len() && s[i].is_ascii_digit() {
            nonzero |= s[i] != b'0';
            digits += 1;
            i += 1;
        }
    }
    if digits == 0 {
        return None;
    }
    if i < s.len() && (s[i] | 0x20) == b'e' {
        let mut j = i + 1;
        if matches!(s.get(j), Some(b'-' | b'+')) {
            j += 1;
        }
        let start = j;
        while j < s.len() && s[j].is_ascii_digit() {
            j += 1;
        }
        if j > start {
            i = j;
        }
    }
    let text = std::str::from_utf8(&s[..i]).ok()?;
    let v: f64 = text.parse().ok()?;
    let erange = v.is_infinite() || (v == 0.0 && nonzero);
    Some((v, i, erange))
}

/// C `strtod` on the bytes before the first NUL: (value, bytes consumed, ERANGE). Consumed is
/// 0 when nothing was converted (strtod then points back at the start).
pub(crate) fn strtod(s: &[u8]) -> (f64, usize, bool) {
    let s = &s[..memchr::memchr(0, s).unwrap_or(s.len())];
    let mut i = 0;
    while i < s.len() && is_c_space(s[i]) {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let rest = &s[i..];
    let sign = |v: f64| if neg { -v } else { v };
    if starts_with_ci(rest, b"inf") {
        let n = if starts_with_ci(rest, b"infinity") {
            8
        } else {
            3
        };
        return (sign(f64::INFINITY), i + n, false);
    }
    if starts_with_ci(rest, b"nan") {
        let mut n = 3;
        if rest.get(3) == Some(&b'(') {
            let body = &rest[4..];
            let k = body
                .iter()
                .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
                .unwrap_or(body.len());
            if body.get(k) == Some(&b')') {
                n = 4 + k + 1;
            }
        }
        return (f64::NAN, i + n, false);
    }
    if rest.len() > 2 && rest[0] == b'0' && (rest[1] | 0x20) == b'x' {
        if let Some((v, n, erange)) = strtod_hex(&rest[2..]) {
            return (sign(v), i + 2 + n, erange);
        }
    }
    match strtod_dec(rest) {
        Some((v, n, erange)) => (sign(v), i + n, erange),
        None => (0.0, 0, false),
    }
}

/// A score, increment or weight as redis `getDoubleFromObject` reads it: the whole argument,
/// no leading blank, no overflow to ±inf or underflow to 0, never NaN.
pub(crate) fn parse_score(b: &[u8]) -> Option<f64> {
    if b.is_empty() || is_c_space(b[0]) {
        return None;
    }
    let (v, n, erange) = strtod(b);
    if n != b.len() || v.is_nan() || (erange && (v.is_infinite() || v == 0.0)) {
        return None;
    }
    Some(v)
}

// ---------------------------------------------------------------------------------------------
// Replies

fn resp3(cx: &Ctx) -> bool {
    cx.client.resp == Resp::V3
}

/// Members, with their scores if asked: RESP2 flat, RESP3 [member, score] pairs.
fn scored_reply(items: Vec<(Bytes, f64)>, withscores: bool, resp3: bool) -> Reply {
    if !withscores {
        return Reply::Array(items.into_iter().map(|(m, _)| Reply::Bulk(m)).collect());
    }
    if resp3 {
        return Reply::Array(
            items
                .into_iter()
                .map(|(m, s)| Reply::Array(vec![Reply::Bulk(m), Reply::Double(s)]))
                .collect(),
        );
    }
    let mut out = Vec::with_capacity(items.len() * 2);
    for (m, s) in items {
        out.push(Reply::Bulk(m));
        out.push(Reply::Double(s));
    }
    Reply::Array(out)
}

// ---------------------------------------------------------------------------------------------
// ZADD, ZINCRBY

const NAN_RESULT: &str = "resulting score is not a number (NaN)";

pub(crate) fn zadd(cx: &mut Ctx) -> Result<Reply, CmdError> {
    zadd_generic(cx, false)
}

fn zincrby(cx: &mut Ctx) -> Result<Reply, CmdError> {
    zadd_generic(cx, true)
}

/// ZADD and ZINCRBY (which is ZADD with INCR forced on: its options are parsed the same way,
/// so `ZINCRBY key nx member` is a syntax error, as in Redis).
fn zadd_generic(cx: &mut Ctx, mut incr: bool) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let (mut nx, mut xx, mut gt, mut lt, mut ch) = (false, false, false, false, false);
    let mut idx = 2;
    while idx < argv.len() {
        let opt = &argv[idx];
        if opt.eq_ignore_ascii_case(b"nx") {
            nx = true;
        } else if opt.eq_ignore_ascii_case(b"xx") {
            xx = true;
        } else if opt.eq_ignore_ascii_case(b"ch") {
            ch = true;
        } else if opt.eq_ignore_ascii_case(b"incr") {
            incr = true;
        } else if opt.eq_ignore_ascii_case(b"gt") {
            gt = true;
        } else if opt.eq_ignore_ascii_case(b"lt") {
            lt = true;
        } else {
            break;
        }
        idx += 1;
    }
    let elements = argv.len() - idx;
    if elements % 2 != 0 || elements == 0 {
        return Err(errors::SYNTAX);
    }
    let elements = elements / 2;
    if nx && xx {
        return Err(CmdError::err(
            "XX and NX options at the same time are not compatible",
        ));
    }
    if (nx && (gt || lt)) || (gt && lt) {
        return Err(CmdError::err(
            "GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if incr && elements > 1 {
        return Err(CmdError::err(
            "INCR option supports a single increment-element pair",
        ));
    }
    let scores = argv[idx..]
        .iter()
        .step_by(2)
        .map(|s| parse_score(s).ok_or(errors::NOT_FLOAT))
        .collect::<Result<Vec<f64>, CmdError>>()?;
    let key = &argv[1];
    let limits = cx.db.limits();
    if get_zset_mut(cx.db, key)?.is_none() {
        if xx {
            return Ok(if incr { Reply::Nil } else { Reply::Int(0) });
        }
        let z = ZSet::for_first_member(&argv[idx + 1], &limits);
        cx.db.set(key, Value::ZSet(z));
    }
    let Some(z) = get_zset_mut(cx.db, key)? else {
        return Ok(Reply::Int(0));
    };
    let (mut added, mut updated, mut processed) = (0i64, 0i64, 0i64);
    let mut result = 0.0;
    let mut nan = false;
    for (j, &given) in scores.iter().enumerate() {
        let member = &argv[idx + 1 + 2 * j];
        let mut score = given;
        match z.score(member) {
            Some(cur) => {
                if nx {
                    continue;
                }
                if incr {
                    score += cur;
                    if score.is_nan() {
                        nan = true;
                        break;
                    }
                }
                if (lt && score >= cur) || (gt && score <= cur) {
                    continue;
                }
                result = score;
                processed += 1;
                if score != cur {
                    z.insert(member, score, &limits);
                    updated += 1;
                }
            }
            None => {
                if xx {
                    continue;
                }
                z.insert(member, score, &limits);
                result = score;
                added += 1;
                processed += 1;
            }
        }
    }
    cx.db.remove_if_empty(key);
    if added + updated > 0 {
        cx.propagate();
    }
    if nan {
        return Err(CmdError::err(NAN_RESULT));
    }
    Ok(if incr {
        if processed > 0 {
            Reply::Double(result)
        } else {
            Reply::Nil
        }
    } else {
        Reply::Int(if ch { added + updated } else { added })
    })
}

// ---------------------------------------------------------------------------------------------
// ZREM, ZCARD, ZSCORE, ZMSCORE, ZRANK, ZREVRANK

fn zrem(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let key = &cx.argv[1];
    let Some(z) = get_zset_mut(cx.db, key)? else {
        return Ok(Reply::Int(0));
    };
    let mut deleted = 0;
    for member in &cx.argv[2..] {
        if z.remove(member).is_some() {
            deleted += 1;
        }
        if z.is_empty() {
            break;
        }
    }
    cx.db.remove_if_empty(key);
    if deleted > 0 {
        cx.propagate();
    }
    Ok(Reply::Int(deleted))
}

fn zcard(cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(Reply::Int(
        get_zset(cx.db, &cx.argv[1])?.map_or(0, |z| z.len() as i64),
    ))
}

fn zscore(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let score = get_zset(cx.db, &cx.argv[1])?.and_then(|z| z.score(&cx.argv[2]));
    Ok(score.map_or(Reply::Nil, Reply::Double))
}

fn zmscore(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let z = get_zset(cx.db, &cx.argv[1])?;
    Ok(Reply::Array(
        cx.argv[2..]
            .iter()
            .map(|m| z.and_then(|z| z.score(m)).map_or(Reply::Nil, Reply::Double))
            .collect(),
    ))
}

fn zrank_generic(cx: &mut Ctx, rev: bool) -> Result<Reply, CmdError> {
    let Some(z) = get_zset(cx.db, &cx.argv[1])? else {
        return Ok(Reply::Nil);
    };
    Ok(match z.rank(&cx.argv[2]) {
        Some(r) if rev => Reply::Int((z.len() - 1 - r) as i64),
        Some(r) => Reply::Int(r as i64),
        None => Reply::Nil,
    })
}

fn zrank(cx: &mut Ctx) -> Result<Reply, CmdError> {
    zrank_generic(cx, false)
}

fn zrevrank(cx: &mut Ctx) -> Result<Reply, CmdError> {
    zrank_generic(cx, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtod_like_c() {
        assert_eq!(strtod(b"1.5"), (1.5, 3, false));
        assert_eq!(strtod(b"  -2e3x"), (-2000.0, 6, false));
        assert_eq!(strtod(b"0x10"), (16.0, 4, false));
        assert_eq!(strtod(b"0x1p-2"), (0.25, 6, false));
        assert_eq!(strtod(b"0x"), (0.0, 1, false));
        assert_eq!(strtod(b"1e"), (1.0, 1, false));
        assert_eq!(strtod(b"abc"), (0.0, 0, false));
        assert_eq!(strtod(b""), (0.0, 0, false));
        assert_eq!(strtod(b"infinityx").1, 8);
        assert_eq!(strtod(b"-inf").0, f64::NEG_INFINITY);
        assert!(strtod(b"nan").0.is_nan());
        assert_eq!(strtod(b"1e400"), (f64::INFINITY, 5, true));
        assert_eq!(strtod(b"1e-400"), (0.0, 6, true));
        assert_eq!(strtod(b"5\0junk"), (5.0, 1, false));
        assert_eq!(strtod(b".5"), (0.5, 2, false));
        assert_eq!(strtod(b"1."), (1.0, 2, false));
    }

    #[test]
    fn scores_as_redis_accepts_them() {
        assert_eq!(parse_score(b"1.1"), Some(1.1));
        assert_eq!(parse_score(b"+inf"), Some(f64::INFINITY));
        assert_eq!(parse_score(b"-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_score(b"0x10"), Some(16.0));
        assert_eq!(parse_score(b"4e-320").map(|v| v > 0.0), Some(true));
        for bad in [
            &b""[..],
            b" 1",
            b"1 ",
            b"nan",
            b"1e400",
            b"1e-400",
            b"abc",
            b"1\x00",
            b"--1",
        ] {
            assert_eq!(parse_score(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn numkeys_positions() {
        let argv: Vec<Bytes> = ["zunion", "2", "a", "b", "WEIGHTS"]
            .iter()
            .map(|s| Bytes::from(s.to_string()))
            .collect();
        assert_eq!(numkeys_at_1(&argv), vec![2, 3]);
        let argv: Vec<Bytes> = ["zunionstore", "d", "3", "a", "b"]
            .iter()
            .map(|s| Bytes::from(s.to_string()))
            .collect();
        assert_eq!(store_keys(&argv), vec![1]);
        let argv: Vec<Bytes> = ["zmpop", "-1", "a"]
            .iter()
            .map(|s| Bytes::from(s.to_string()))
            .collect();
        assert!(numkeys_at_1(&argv).is_empty());
    }
}
