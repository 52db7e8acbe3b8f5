//! SORT and SORT_RO (redis `sort.c`): sort a list, set or sorted set numerically or
//! lexicographically, optionally by external keys (`BY pattern`), projecting external keys
//! (`GET pattern`), with LIMIT, and storing the result as a list (`STORE`, SORT only).
//!
//! Behaviour kept from redis 7.0 because it is visible:
//! - a sorted set is converted to the skiplist encoding by any SORT of it;
//! - numeric scores are read as C `strtod` reads them (leading spaces, hex, `inf`; an underflow,
//!   overflow, NaN or trailing byte fails the whole command with "One or more scores can't be
//!   converted into double");
//! - `BY` with a pattern without `*` means "don't sort"; a set is then still sorted (ALPHA)
//!   when the result is stored, so replicas compute the same list;
//! - equal numeric scores are ordered by the elements' bytes; the sort is stable otherwise, as
//!   glibc's merge-sort `qsort` is.
//!
//! Patterns: `#` is the element itself; otherwise the first `*` is replaced by the element and a
//! `->field` after it reads a hash field. Lookups are read lookups of the current database (the
//! command holds every shard: the keys are only known while it runs).

use std::cmp::Ordering;

use bytes::Bytes;

use super::super::args::parse_int;
use super::super::errors::{self, CmdError};
use super::super::Ctx;
use crate::keyspace::list::List;
use crate::keyspace::zset::ZSet;
use crate::keyspace::{EncodingLimits, Value};
use crate::protocol::Reply;

/// Key positions of SORT: the sorted key and the STORE destination, if any (redis
/// `sortGetKeys`: LIMIT's and GET/BY's arguments are skipped; of several STOREs the last one
/// is the destination, as SORT itself takes it).
pub(super) fn sort_keys(argv: &[Bytes]) -> Vec<usize> {
    let mut store = None;
    let mut i = 2;
    while i < argv.len() {
        let a = &argv[i];
        if a.eq_ignore_ascii_case(b"limit") {
            i += 2;
        } else if a.eq_ignore_ascii_case(b"get") || a.eq_ignore_ascii_case(b"by") {
            i += 1;
        } else if a.eq_ignore_ascii_case(b"store") && i + 1 < argv.len() {
            store = Some(i + 1);
        }
        i += 1;
    }
    let mut out = vec![1];
    out.extend(store);
    out
}

/// Key positions of SORT_RO: the sorted key (movable like SORT's, for its patterns).
pub(super) fn sort_ro_keys(_argv: &[Bytes]) -> Vec<usize> {
    vec![1]
}

pub(super) fn sort(cx: &mut Ctx) -> Result<Reply, CmdError> {
    sort_generic(cx, false)
}

pub(super) fn sort_ro(cx: &mut Ctx) -> Result<Reply, CmdError> {
    sort_generic(cx, true)
}

#[derive(Default)]
struct Options {
    desc: bool,
    alpha: bool,
    limit_start: i64,
    limit_count: i64,
    store: Option<Bytes>,
    by: Option<Bytes>,
    dontsort: bool,
    gets: Vec<Bytes>,
}

/// The C string view of an argument (redis applies `strchr`/`strstr` to patterns).
fn c_str(b: &[u8]) -> &[u8] {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    &b[..end]
}

/// redis `ACLUserCheckCmdWithUnrestrictedKeyAccess`: BY and GET read keys no key spec names,
/// so they need read access to every key.
fn may_read_any_key(cx: &Ctx) -> bool {
    match (
        &cx.client.user,
        crate::commands::REGISTRY.lookup(&cx.argv[0]),
    ) {
        (Some(u), Some((_, spec))) if !u.unrestricted() => {
            crate::acl::may_read_any_key(&u.get(), spec, cx.argv)
        }
        _ => true,
    }
}

fn parse_options(argv: &[Bytes], readonly: bool, full_access: bool) -> Result<Options, CmdError> {
    let mut o = Options {
        limit_count: -1,
        ..Options::default()
    };
    let mut j = 2;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        let a = &argv[j];
        if a.eq_ignore_ascii_case(b"asc") {
            o.desc = false;
        } else if a.eq_ignore_ascii_case(b"desc") {
            o.desc = true;
        } else if a.eq_ignore_ascii_case(b"alpha") {
            o.alpha = true;
        } else if a.eq_ignore_ascii_case(b"limit") && left >= 2 {
            o.limit_start = parse_int(&argv[j + 1])?;
            o.limit_count = parse_int(&argv[j + 2])?;
            j += 2;
        } else if !readonly && a.eq_ignore_ascii_case(b"store") && left >= 1 {
            o.store = Some(argv[j + 1].clone());
            j += 1;
        } else if a.eq_ignore_ascii_case(b"by") && left >= 1 {
            let p = &argv[j + 1];
            o.dontsort = !c_str(p).contains(&b'*');
            if !o.dontsort && !full_access {
                return Err(CmdError::err(
                    "BY option of SORT denied due to insufficient ACL permissions.",
                ));
            }
            o.by = Some(p.clone());
            j += 1;
        } else if a.eq_ignore_ascii_case(b"get") && left >= 1 {
            if !full_access {
                return Err(CmdError::err(
                    "GET option of SORT denied due to insufficient ACL permissions.",
                ));
            }
            o.gets.push(argv[j + 1].clone());
            j += 1;
        } else {
            return Err(errors::SYNTAX);
        }
        j += 1;
    }
    Ok(o)
}

/// redis `lookupKeyByPattern`: the string value (or hash field) that `pattern` names for
/// element `elem`; None when missing, of another type, or when the pattern has no `*`.
fn lookup_by_pattern(cx: &mut Ctx, pattern: &[u8], elem: &Bytes) -> Option<Bytes> {
    let cpat = c_str(pattern);
    if cpat == b"#" {
        return Some(elem.clone());
    }
    let star = cpat.iter().position(|&c| c == b'*')?;
    let field_at = cpat[star + 1..]
        .windows(2)
        .position(|w| w == b"->")
        .map(|i| star + 1 + i)
        .filter(|&f| f + 2 < cpat.len());
    let key_end = field_at.unwrap_or(pattern.len());
    let mut key = Vec::with_capacity(key_end + elem.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(&pattern[star + 1..key_end]);
    match (cx.db.get(&key)?, field_at) {
        (Value::Str(s), None) => Some(s.to_bytes()),
        (Value::Hash(h), Some(f)) => h.get(&pattern[f + 2..]).map(Bytes::copy_from_slice),
        _ => None,
    }
}

/// One element to sort with what it sorts by.
struct Item {
    elem: Bytes,
    score: f64,
    cmp: Option<Bytes>,
}

/// The elements of the value to sort and the output range, as redis loads its vector: the
/// whole value, or only the LIMIT range when nothing is sorted (list / sorted set, "dontsort").
/// Returns (items, start, end) with `end < start` for an empty output.
fn load(cx: &mut Ctx, o: &mut Options) -> Result<(Vec<Item>, i64, i64), CmdError> {
    let key = &cx.argv[1];
    let item = |elem: Bytes| Item {
        elem,
        score: 0.0,
        cmp: None,
    };
    // Any SORT of a sorted set leaves it in the skiplist encoding.
    if let Some(Value::ZSet(z)) = cx.db.get_mut(key) {
        if z.is_listpack() {
            let limits = EncodingLimits {
                zset_max_listpack_entries: 0,
                ..EncodingLimits::default()
            };
            let items = z
                .iter()
                .map(|(m, s)| (Bytes::copy_from_slice(m), s))
                .collect();
            *z = ZSet::from_sorted(items, &limits);
        }
    }
    let value = cx.db.get(key);
    let len = match value {
        None => 0,
        Some(Value::List(l)) => l.len(),
        Some(Value::Set(s)) => s.len(),
        Some(Value::ZSet(z)) => z.len(),
        Some(_) => return Err(errors::WRONGTYPE),
    } as i64;
    if o.dontsort
        && matches!(value, Some(Value::Set(_)))
        && (o.store.is_some() || cx.client.in_script)
    {
        // A stored unsorted set is sorted anyway (ALPHA), so that replicas agree; so is one
        // a script sees, so that its effects do not depend on the set's order.
        o.dontsort = false;
        o.alpha = true;
        o.by = None;
    }
    let dontsort = o.dontsort;
    let mut start = o.limit_start.max(0);
    let mut end = if o.limit_count < 0 {
        len - 1
    } else {
        start.saturating_add(o.limit_count) - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    end = end.min(len - 1);
    let ranged = dontsort && (start != 0 || end != len - 1);
    let take = if ranged {
        (end - start + 1).max(0)
    } else {
        len
    } as usize;
    let skip = if ranged { start.max(0) as usize } else { 0 };
    let items: Vec<Item> = match value {
        None => Vec::new(),
        Some(Value::List(l)) if dontsort => {
            if end >= start {
                let bytes = |e: &[u8]| item(Bytes::copy_from_slice(e));
                let v = if o.desc {
                    l.iter().rev().skip(skip).take(take).map(bytes).collect()
                } else {
                    l.iter().skip(skip).take(take).map(bytes).collect()
                };
                end -= start;
                start = 0;
                v
            } else {
                Vec::new()
            }
        }
        Some(Value::List(l)) => l.iter().map(|e| item(Bytes::copy_from_slice(e))).collect(),
        Some(Value::Set(s)) => s.members().into_iter().map(item).collect(),
        Some(Value::ZSet(z)) if dontsort => {
            let first = if o.desc {
                z.len().saturating_sub(1 + skip)
            } else {
                skip
            };
            let v = if take == 0 {
                Vec::new()
            } else {
                z.iter_from(first, o.desc)
                    .take(take)
                    .map(|(m, _)| item(Bytes::copy_from_slice(m)))
                    .collect()
            };
            end -= start;
            start = 0;
            v
        }
        Some(Value::ZSet(z)) => z
            .iter()
            .map(|(m, _)| item(Bytes::copy_from_slice(m)))
            .collect(),
        Some(_) => return Err(errors::WRONGTYPE),
    };
    Ok((items, start, end))
}

fn sort_generic(cx: &mut Ctx, readonly: bool) -> Result<Reply, CmdError> {
    let mut o = parse_options(cx.argv, readonly, may_read_any_key(cx))?;
    let (mut items, start, end) = load(cx, &mut o)?;

    let mut conversion_error = false;
    if !o.dontsort {
        for it in items.iter_mut() {
            let by = match &o.by {
                Some(p) => match lookup_by_pattern(cx, p, &it.elem) {
                    Some(v) => v,
                    None => continue,
                },
                None => it.elem.clone(),
            };
            if o.alpha {
                if o.by.is_some() {
                    it.cmp = Some(by);
                }
            } else {
                match strtod(&by) {
                    Some(d) => it.score = d,
                    None => conversion_error = true,
                }
            }
        }
        let (alpha, by, store, desc) = (o.alpha, o.by.is_some(), o.store.is_some(), o.desc);
        items.sort_by(|a, b| {
            let c = compare(a, b, alpha, by, store);
            if desc {
                c.reverse()
            } else {
                c
            }
        });
    }

    let n = if end >= start {
        (end - start + 1) as usize
    } else {
        0
    };
    let outputlen = if o.gets.is_empty() {
        n
    } else {
        o.gets.len().saturating_mul(n)
    };
    if conversion_error {
        return Err(CmdError::err(
            "One or more scores can't be converted into double",
        ));
    }
    let range = if n == 0 {
        &items[0..0]
    } else {
        let s = start as usize;
        &items[s.min(items.len())..(s + n).min(items.len())]
    };
    let Some(store) = o.store.clone() else {
        let mut out =
            Vec::with_capacity(outputlen.min(range.len().saturating_mul(o.gets.len().max(1))));
        for it in range {
            if o.gets.is_empty() {
                out.push(Reply::Bulk(it.elem.clone()));
            }
            for g in &o.gets {
                out.push(lookup_by_pattern(cx, g, &it.elem).map_or(Reply::Nil, Reply::Bulk));
            }
        }
        return Ok(Reply::Array(out));
    };
    let mut list = List::new();
    for it in range {
        if o.gets.is_empty() {
            list.push_back(&it.elem);
        }
        for g in &o.gets {
            list.push_back(lookup_by_pattern(cx, g, &it.elem).unwrap_or_default());
        }
    }
    if !list.is_empty() {
        cx.db.set(&store, Value::List(list));
        cx.db.touch(&store);
        cx.propagate();
    } else if cx.db.remove(&store).is_some() {
        cx.db.touch(&store);
        cx.propagate();
    }
    Ok(Reply::Int(outputlen as i64))
}

/// redis `sortCompare` (before DESC is applied).
fn compare(a: &Item, b: &Item, alpha: bool, by: bool, store: bool) -> Ordering {
    if !alpha {
        return a
            .score
            .partial_cmp(&b.score)
            .unwrap_or(Ordering::Equal)
            .then_with(|| a.elem.as_ref().cmp(b.elem.as_ref()));
    }
    if by {
        return match (&a.cmp, &b.cmp) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) if store => x.as_ref().cmp(y.as_ref()),
            (Some(x), Some(y)) => c_str(x).cmp(c_str(y)),
        };
    }
    if store {
        a.elem.as_ref().cmp(b.elem.as_ref())
    } else {
        // strcoll in the C/C.UTF-8 locale: byte order of the C strings.
        c_str(&a.elem).cmp(c_str(&b.elem))
    }
}

/// A score as C `strtod` reads a whole string: Some only if every byte (up to a NUL) was used
/// and the value is neither NaN nor out of range (glibc's ERANGE: overflow or underflow).
fn strtod(raw: &[u8]) -> Option<f64> {
    let s = c_str(raw);
    if s.is_empty() {
        // No conversion, but the end pointer is already at the NUL: 0, no error.
        return Some(0.0);
    }
    let s = &s[s
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
        .unwrap_or(s.len())..];
    let (neg, body) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let v = if lower == b"inf" || lower == b"infinity" {
        f64::INFINITY
    } else if lower.starts_with(b"nan") {
        return None;
    } else if lower.starts_with(b"0x") {
        parse_hex(&lower[2..])?
    } else {
        parse_decimal(body)?
    };
    Some(if neg { -v } else { v })
}

/// `digits[.digits][e[+-]digits]` with at least one mantissa digit; range errors are None.
fn parse_decimal(b: &[u8]) -> Option<f64> {
    let mut i = 0;
    let digits = |i: &mut usize| {
        let s = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - s
    };
    let mut mantissa = digits(&mut i);
    if i < b.len() && b[i] == b'.' {
        i += 1;
        mantissa += digits(&mut i);
    }
    if mantissa == 0 {
        return None;
    }
    let mant_end = i;
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut k = i + 1;
        if k < b.len() && (b[k] == b'+' || b[k] == b'-') {
            k += 1;
        }
        if digits(&mut k) > 0 {
            i = k;
        }
    }
    if i != b.len() {
        return None;
    }
    let v: f64 = std::str::from_utf8(b).ok()?.parse().ok()?;
    let nonzero = b[..mant_end].iter().any(|c| matches!(c, b'1'..=b'9'));
    in_range(v, nonzero)
}

/// The hex digits after `0x`: `h[.h][p[+-]d]`.
fn parse_hex(b: &[u8]) -> Option<f64> {
    let mut v = 0f64;
    let mut exp: i64 = 0;
    let mut i = 0;
    let mut n = 0;
    let mut seen_dot = false;
    while i < b.len() {
        let c = b[i];
        if c == b'.' && !seen_dot {
            seen_dot = true;
        } else if let Some(d) = (c as char).to_digit(16) {
            v = v * 16.0 + f64::from(d);
            n += 1;
            if seen_dot {
                exp -= 4;
            }
        } else {
            break;
        }
        i += 1;
    }
    if n == 0 {
        return None;
    }
    if i < b.len() && b[i] == b'p' {
        let mut k = i + 1;
        let neg = k < b.len() && b[k] == b'-';
        if k < b.len() && (b[k] == b'+' || b[k] == b'-') {
            k += 1;
        }
        let s = k;
        let mut e: i64 = 0;
        while k < b.len() && b[k].is_ascii_digit() {
            e = (e * 10 + i64::from(b[k] - b'0')).min(1 << 20);
            k += 1;
        }
        if k > s {
            exp += if neg { -e } else { e };
            i = k;
        }
    }
    if i != b.len() {
        return None;
    }
    let nonzero = v != 0.0;
    in_range(v * 2f64.powi(exp.clamp(-4000, 4000) as i32), nonzero)
}

/// glibc sets ERANGE for an infinite result and for a subnormal or zero result of a non-zero
/// input.
fn in_range(v: f64, nonzero_input: bool) -> Option<f64> {
    if v.is_infinite() || v.is_nan() {
        return None;
    }
    if nonzero_input && v.abs() < f64::MIN_POSITIVE {
        return None;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtod_like_glibc() {
        let ok: &[(&str, f64)] = &[
            (" 1", 1.0),
            ("0x10", 16.0),
            ("", 0.0),
            ("inf", f64::INFINITY),
            ("-Infinity", f64::NEG_INFINITY),
            ("  -2.5e3", -2500.0),
            ("+7", 7.0),
            (".5", 0.5),
            ("5.", 5.0),
            ("1e308", 1e308),
            ("0x1p3", 8.0),
            ("0.0", 0.0),
            ("0e-999", 0.0),
        ];
        for (s, want) in ok {
            assert_eq!(strtod(s.as_bytes()), Some(*want), "{s:?}");
        }
        for bad in [
            "1e-310", "2e308", "1e", "   ", "0x1p", "infx", "-nan", "nan", "1 ", "1_0", "abc", ".",
            "-", "0x", "1e-400",
        ] {
            assert_eq!(strtod(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn store_positions() {
        let argv: Vec<Bytes> = ["sort", "k", "store", "d", "by", "store"]
            .iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect();
        assert_eq!(sort_keys(&argv), vec![1, 3]);
        let argv: Vec<Bytes> = [
            "sort", "abc", "store", "invalid", "store", "x", "store", "def",
        ]
        .iter()
        .map(|s| Bytes::copy_from_slice(s.as_bytes()))
        .collect();
        assert_eq!(sort_keys(&argv), vec![1, 7]);
    }
}
