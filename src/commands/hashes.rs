//! Hash commands (redis `t_hash.c`), and the cursor/option parsing HSCAN shares with SSCAN.

use bytes::Bytes;
use rand::Rng;

use super::access::{get_hash, get_hash_mut, hash_or_create};
use super::args::parse_int;
use super::args::parse_scan_cursor;
use super::errors::{self, CmdError};
use super::longdouble;
use super::spec::{Group, Spec, DENYOOM, FAST, READONLY, WRITE};
use super::Ctx;
use crate::protocol::encode::Resp;
use crate::protocol::Reply;

pub const COMMANDS: &[Spec] = &[
    Spec::new("hset", -4, WRITE | DENYOOM | FAST, Group::Hash, hset).keys(1, 1, 1),
    Spec::new("hsetnx", 4, WRITE | DENYOOM | FAST, Group::Hash, hsetnx).keys(1, 1, 1),
    Spec::new("hget", 3, READONLY | FAST, Group::Hash, hget).keys(1, 1, 1),
    Spec::new("hmset", -4, WRITE | DENYOOM | FAST, Group::Hash, hmset).keys(1, 1, 1),
    Spec::new("hmget", -3, READONLY | FAST, Group::Hash, hmget).keys(1, 1, 1),
    Spec::new("hdel", -3, WRITE | FAST, Group::Hash, hdel).keys(1, 1, 1),
    Spec::new("hlen", 2, READONLY | FAST, Group::Hash, hlen).keys(1, 1, 1),
    Spec::new("hstrlen", 3, READONLY | FAST, Group::Hash, hstrlen).keys(1, 1, 1),
    Spec::new("hexists", 3, READONLY | FAST, Group::Hash, hexists).keys(1, 1, 1),
    Spec::new("hkeys", 2, READONLY, Group::Hash, hkeys).keys(1, 1, 1),
    Spec::new("hvals", 2, READONLY, Group::Hash, hvals).keys(1, 1, 1),
    Spec::new("hgetall", 2, READONLY, Group::Hash, hgetall).keys(1, 1, 1),
    Spec::new("hincrby", 4, WRITE | DENYOOM | FAST, Group::Hash, hincrby).keys(1, 1, 1),
    Spec::new(
        "hincrbyfloat",
        4,
        WRITE | DENYOOM | FAST,
        Group::Hash,
        hincrbyfloat,
    )
    .keys(1, 1, 1),
    Spec::new("hscan", -3, READONLY, Group::Hash, hscan).keys(1, 1, 1),
    Spec::new("hrandfield", -2, READONLY, Group::Hash, hrandfield).keys(1, 1, 1),
];

/// Most elements a random-sampling reply with repetitions (negative count) may hold. Redis
/// tries to build any size and is killed for lack of memory on absurd counts; we refuse them.
pub(super) const MAX_SAMPLES: u64 = 1 << 22;

fn bulk(b: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(b))
}

/// HSET/HMSET: field value pairs after the key; an odd count is an arity error.
fn hset_generic(cx: &mut Ctx, name: &str) -> Result<i64, CmdError> {
    let argv = cx.argv;
    if argv.len() % 2 == 1 {
        return Err(CmdError::wrong_arity(name));
    }
    let limits = cx.db.limits();
    let h = hash_or_create(cx.db, &argv[1])?;
    let mut created = 0;
    for pair in argv[2..].chunks_exact(2) {
        if h.insert(&pair[0], &pair[1], &limits) {
            created += 1;
        }
    }
    cx.propagate();
    Ok(created)
}

fn hset(cx: &mut Ctx) -> Result<Reply, CmdError> {
    hset_generic(cx, "hset").map(Reply::Int)
}

fn hmset(cx: &mut Ctx) -> Result<Reply, CmdError> {
    hset_generic(cx, "hmset").map(|_| Reply::OK)
}

fn hsetnx(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    if get_hash_mut(cx.db, &argv[1])?.is_some_and(|h| h.contains(&argv[2])) {
        return Ok(Reply::Int(0));
    }
    let limits = cx.db.limits();
    hash_or_create(cx.db, &argv[1])?.insert(&argv[2], &argv[3], &limits);
    cx.propagate();
    Ok(Reply::Int(1))
}

fn hget(cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(get_hash(cx.db, &cx.argv[1])?
        .and_then(|h| h.get(&cx.argv[2]))
        .map_or(Reply::Nil, bulk))
}

fn hmget(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let h = get_hash(cx.db, &cx.argv[1])?;
    Ok(Reply::Array(
        cx.argv[2..]
            .iter()
            .map(|f| h.and_then(|h| h.get(f)).map_or(Reply::Nil, bulk))
            .collect(),
    ))
}

fn hdel(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let Some(h) = get_hash_mut(cx.db, &argv[1])? else {
        return Ok(Reply::Int(0));
    };
    let mut deleted = 0;
    for f in &argv[2..] {
        if h.remove(f) {
            deleted += 1;
            if h.is_empty() {
                break;
            }
        }
    }
    if deleted > 0 {
        cx.db.remove_if_empty(&argv[1]);
        cx.propagate();
    }
    Ok(Reply::Int(deleted))
}

fn hlen(cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(Reply::Int(
        get_hash(cx.db, &cx.argv[1])?.map_or(0, |h| h.len() as i64),
    ))
}

fn hstrlen(cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(Reply::Int(
        get_hash(cx.db, &cx.argv[1])?
            .and_then(|h| h.get(&cx.argv[2]))
            .map_or(0, |v| v.len() as i64),
    ))
}

fn hexists(cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(Reply::Int(
        get_hash(cx.db, &cx.argv[1])?.is_some_and(|h| h.contains(&cx.argv[2])) as i64,
    ))
}

fn hkeys(cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(Reply::Array(
        get_hash(cx.db, &cx.argv[1])?
            .map_or_else(Vec::new, |h| h.iter().map(|(f, _)| bulk(f)).collect()),
    ))
}

fn hvals(cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(Reply::Array(
        get_hash(cx.db, &cx.argv[1])?
            .map_or_else(Vec::new, |h| h.iter().map(|(_, v)| bulk(v)).collect()),
    ))
}

fn hgetall(cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(Reply::Map(
        get_hash(cx.db, &cx.argv[1])?.map_or_else(Vec::new, |h| {
            h.iter().map(|(f, v)| (bulk(f), bulk(v))).collect()
        }),
    ))
}

fn hincrby(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let incr = parse_int(&argv[3])?;
    let current = match get_hash_mut(cx.db, &argv[1])?.and_then(|h| h.get(&argv[2])) {
        None => 0,
        Some(v) => crate::util::parse_i64(v)
            .ok_or_else(|| CmdError::err("hash value is not an integer"))?,
    };
    let new = current.checked_add(incr).ok_or(errors::OVERFLOW)?;
    let limits = cx.db.limits();
    let text = itoa::Buffer::new().format(new).as_bytes().to_vec();
    hash_or_create(cx.db, &argv[1])?.insert(&argv[2], &text, &limits);
    cx.propagate();
    Ok(Reply::Int(new))
}

/// HINCRBYFLOAT: x87 long double arithmetic and printing, exactly as redis does it
/// (`longdouble`); propagated as `HSET key field <result>`.
fn hincrbyfloat(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let incr = longdouble::parse(&argv[3]).ok_or(errors::NOT_FLOAT)?;
    if !incr.is_finite() {
        return Err(CmdError::err("value is NaN or Infinity"));
    }
    let current = match get_hash_mut(cx.db, &argv[1])?.and_then(|h| h.get(&argv[2])) {
        None => longdouble::Ld::Finite {
            neg: false,
            mant: 0,
            exp: 0,
        },
        Some(v) => {
            longdouble::parse(v).ok_or_else(|| CmdError::err("hash value is not a float"))?
        }
    };
    let sum = longdouble::add(current, incr)
        .filter(|v| v.is_finite())
        .ok_or_else(|| CmdError::err("increment would produce NaN or Infinity"))?;
    let text = Bytes::from(longdouble::to_human(sum));
    let limits = cx.db.limits();
    hash_or_create(cx.db, &argv[1])?.insert(&argv[2], &text, &limits);
    cx.propagate_as(vec![
        Bytes::from_static(b"HSET"),
        argv[1].clone(),
        argv[2].clone(),
        text.clone(),
    ]);
    Ok(Reply::Bulk(text))
}

// ---------------------------------------------------------------------------------------------
// HSCAN / SSCAN

/// MATCH and COUNT of HSCAN/SSCAN/ZSCAN (redis `scanGenericCommand` on an object).
pub(super) struct ScanOptions<'a> {
    pub count: usize,
    /// None when absent or `*`.
    pub pattern: Option<&'a [u8]>,
}

impl ScanOptions<'_> {
    pub fn parse(opts: &[Bytes]) -> Result<ScanOptions<'_>, CmdError> {
        let mut out = ScanOptions {
            count: 10,
            pattern: None,
        };
        let mut i = 0;
        while i < opts.len() {
            let has_value = i + 1 < opts.len();
            let opt = &opts[i];
            if opt.eq_ignore_ascii_case(b"count") && has_value {
                let n = parse_int(&opts[i + 1])?;
                if n < 1 {
                    return Err(errors::SYNTAX);
                }
                out.count = usize::try_from(n).unwrap_or(usize::MAX);
            } else if opt.eq_ignore_ascii_case(b"match") && has_value {
                let p = &opts[i + 1][..];
                out.pattern = if p == b"*" { None } else { Some(p) };
            } else {
                return Err(errors::SYNTAX);
            }
            i += 2;
        }
        Ok(out)
    }

    pub fn matches(&self, s: &[u8]) -> bool {
        self.pattern
            .is_none_or(|p| crate::util::glob_match(p, s, false))
    }
}

/// The `[cursor, [elements]]` reply of the *SCAN commands.
pub(super) fn scan_reply(cursor: u64, items: Vec<Reply>) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(cursor.to_string())),
        Reply::Array(items),
    ])
}

fn hscan(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let cursor = parse_scan_cursor(&argv[2])?;
    let Some(h) = get_hash(cx.db, &argv[1])? else {
        return Ok(scan_reply(0, Vec::new()));
    };
    let opts = ScanOptions::parse(&argv[3..])?;
    let page = h.scan(cursor, opts.count);
    let mut items = Vec::with_capacity(page.pairs.len() * 2);
    for (f, v) in page.pairs {
        if opts.matches(&f) {
            items.push(Reply::Bulk(f));
            items.push(Reply::Bulk(v));
        }
    }
    Ok(scan_reply(page.cursor, items))
}

// ---------------------------------------------------------------------------------------------
// HRANDFIELD

/// The count of HRANDFIELD/SRANDMEMBER: an integer in [-LONG_MAX, LONG_MAX].
pub(super) fn parse_random_count(raw: &[u8]) -> Result<i64, CmdError> {
    let n = parse_int(raw)?;
    if n == i64::MIN {
        return Err(CmdError::err(
            "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    Ok(n)
}

/// Checks a sample count with repetitions against `MAX_SAMPLES`.
pub(super) fn check_samples(n: u64) -> Result<usize, CmdError> {
    if n > MAX_SAMPLES {
        return Err(CmdError::err("value is out of range"));
    }
    Ok(n as usize)
}

/// How many samples with repetitions a reply holds: `n`, or past `MAX_SAMPLES`, as many as
/// take the client over its output buffer hard limit when it has one (Redis stops such a
/// reply mid-run when the client is scheduled to be closed; the client sees none of it).
/// `min_elem` is a lower bound of one sample's encoded size.
pub(super) fn samples_allowed(cx: &Ctx, n: u64, min_elem: usize) -> Result<usize, CmdError> {
    match (
        check_samples(n),
        crate::server::output::reply_budget(cx.server, &cx.client.shared),
    ) {
        (Err(_), Some(budget)) => Ok(budget / min_elem.max(1) + 1),
        (r, _) => r,
    }
}

/// `count` distinct positions in `0..len`, ascending (count < len).
pub(super) fn distinct_positions(len: usize, count: usize) -> Vec<usize> {
    let mut rng = rand::rng();
    let mut v = rand::seq::index::sample(&mut rng, len, count).into_vec();
    v.sort_unstable();
    v
}

fn hrandfield(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    if argv.len() == 2 {
        let Some(h) = get_hash(cx.db, &argv[1])? else {
            return Ok(Reply::Nil);
        };
        let i = rand::rng().random_range(0..h.len().max(1));
        return Ok(h
            .pairs_at(&[i])
            .first()
            .map_or(Reply::Nil, |(f, _)| bulk(f)));
    }
    let l = parse_random_count(&argv[2])?;
    let with_values = match argv.len() {
        3 => false,
        4 if argv[3].eq_ignore_ascii_case(b"withvalues") => true,
        _ => return Err(errors::SYNTAX),
    };
    if with_values && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
        return Err(CmdError::err("value is out of range"));
    }
    let resp3 = cx.client.resp == Resp::V3;
    // "$0\r\n\r\n" per field and per value at least.
    let samples = samples_allowed(cx, l.unsigned_abs(), if with_values { 12 } else { 6 });
    let Some(h) = get_hash(cx.db, &argv[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    if l == 0 {
        return Ok(Reply::Array(Vec::new()));
    }
    let size = h.len();
    let count = l.unsigned_abs();
    let pairs: Vec<(&[u8], &[u8])> = if l < 0 || count == 1 {
        // Sampling with repetitions, in random order.
        let n = samples?;
        let mut rng = rand::rng();
        let positions: Vec<usize> = (0..n).map(|_| rng.random_range(0..size.max(1))).collect();
        h.pairs_at(&positions)
    } else if count >= size as u64 {
        h.iter().collect()
    } else {
        // Distinct fields; a listpack yields them in its own order, as redis's
        // `lpRandomPairsUnique` does.
        let positions = distinct_positions(size, count as usize);
        h.pairs_at(&positions)
    };
    Ok(Reply::Array(random_pairs_reply(&pairs, with_values, resp3)))
}

fn random_pairs_reply(pairs: &[(&[u8], &[u8])], with_values: bool, resp3: bool) -> Vec<Reply> {
    let mut out = Vec::with_capacity(pairs.len() * if with_values && !resp3 { 2 } else { 1 });
    for (f, v) in pairs {
        match (with_values, resp3) {
            (false, _) => out.push(bulk(f)),
            (true, false) => {
                out.push(bulk(f));
                out.push(bulk(v));
            }
            (true, true) => out.push(Reply::Array(vec![bulk(f), bulk(v)])),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_parsing_follows_strtoul() {
        assert_eq!(parse_scan_cursor(b"0"), Ok(0));
        assert_eq!(parse_scan_cursor(b""), Ok(0));
        assert_eq!(parse_scan_cursor(b"+7"), Ok(7));
        assert_eq!(parse_scan_cursor(b"-1"), Ok(u64::MAX));
        assert_eq!(parse_scan_cursor(b"18446744073709551615"), Ok(u64::MAX));
        assert!(parse_scan_cursor(b"18446744073709551616").is_err());
        assert!(parse_scan_cursor(b" 1").is_err());
        assert!(parse_scan_cursor(b"1x").is_err());
        assert!(parse_scan_cursor(b"-").is_err());
        assert_eq!(parse_scan_cursor(b"12\0zz"), Ok(12));
    }

    #[test]
    fn scan_options() {
        let args = |v: &[&str]| {
            v.iter()
                .map(|s| Bytes::from(s.to_string()))
                .collect::<Vec<_>>()
        };
        let a = args(&["count", "5", "MATCH", "a*"]);
        let o = ScanOptions::parse(&a).unwrap();
        assert_eq!(o.count, 5);
        assert!(o.matches(b"ab") && !o.matches(b"b"));
        let a = args(&["match", "*"]);
        assert!(ScanOptions::parse(&a).unwrap().pattern.is_none());
        for bad in [
            &["count", "0"][..],
            &["count"],
            &["type", "hash"],
            &["novalues"],
        ] {
            assert_eq!(ScanOptions::parse(&args(bad)).err(), Some(errors::SYNTAX));
        }
        assert_eq!(
            ScanOptions::parse(&args(&["count", "x"])).err(),
            Some(errors::NOT_INTEGER)
        );
    }

    #[test]
    fn random_count_bounds() {
        assert!(parse_random_count(b"-9223372036854775808").is_err());
        assert_eq!(parse_random_count(b"-9223372036854775807"), Ok(-i64::MAX));
        assert!(check_samples(u64::MAX).is_err());
        assert_eq!(check_samples(3), Ok(3));
        let p = distinct_positions(10, 4);
        assert_eq!(p.len(), 4);
        assert!(p.windows(2).all(|w| w[0] < w[1]) && p.iter().all(|&i| i < 10));
    }
}
