//! String commands (redis `t_string.c`).

use bytes::Bytes;

use super::access::{get_str_mut, get_string};
use super::args::{is, parse_int};
use super::errors::{self, CmdError};
use super::spec::{Group, Spec, DENYOOM, FAST, READONLY, WRITE};
use super::Ctx;
use crate::keyspace::{Str, Value};
use crate::protocol::Reply;

pub const COMMANDS: &[Spec] = &[
    Spec::new("get", 2, READONLY | FAST, Group::String, get).keys(1, 1, 1),
    Spec::new("set", -3, WRITE | DENYOOM, Group::String, set).keys(1, 1, 1),
    Spec::new("setnx", 3, WRITE | DENYOOM | FAST, Group::String, setnx).keys(1, 1, 1),
    Spec::new("setex", 4, WRITE | DENYOOM, Group::String, setex).keys(1, 1, 1),
    Spec::new("psetex", 4, WRITE | DENYOOM, Group::String, psetex).keys(1, 1, 1),
    Spec::new("getset", 3, WRITE | DENYOOM | FAST, Group::String, getset).keys(1, 1, 1),
    Spec::new("getdel", 2, WRITE | FAST, Group::String, getdel).keys(1, 1, 1),
    Spec::new("getex", -2, WRITE | FAST, Group::String, getex).keys(1, 1, 1),
    Spec::new("mget", -2, READONLY | FAST, Group::String, mget).keys(1, -1, 1),
    Spec::new("mset", -3, WRITE | DENYOOM, Group::String, mset).keys(1, -1, 2),
    Spec::new("msetnx", -3, WRITE | DENYOOM, Group::String, msetnx).keys(1, -1, 2),
    Spec::new("append", 3, WRITE | DENYOOM | FAST, Group::String, append).keys(1, 1, 1),
    Spec::new("strlen", 2, READONLY | FAST, Group::String, strlen).keys(1, 1, 1),
    Spec::new("incr", 2, WRITE | DENYOOM | FAST, Group::String, incr).keys(1, 1, 1),
    Spec::new("decr", 2, WRITE | DENYOOM | FAST, Group::String, decr).keys(1, 1, 1),
    Spec::new("incrby", 3, WRITE | DENYOOM | FAST, Group::String, incrby).keys(1, 1, 1),
    Spec::new("decrby", 3, WRITE | DENYOOM | FAST, Group::String, decrby).keys(1, 1, 1),
    Spec::new(
        "incrbyfloat",
        3,
        WRITE | DENYOOM | FAST,
        Group::String,
        incrbyfloat,
    )
    .keys(1, 1, 1),
    Spec::new("getrange", 4, READONLY, Group::String, getrange).keys(1, 1, 1),
    Spec::new("substr", 4, READONLY, Group::String, getrange).keys(1, 1, 1),
    Spec::new("setrange", 4, WRITE | DENYOOM, Group::String, setrange).keys(1, 1, 1),
];

fn get(cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(get_string(cx.db, &cx.argv[1])?.map_or(Reply::Nil, Reply::Bulk))
}

/// Expiry options shared by SET and GETEX.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExpireArg {
    None,
    KeepTtl,
    Persist,
    /// Absolute time in ms.
    At(i64),
}

/// Converts an EX/PX/EXAT/PXAT argument to an absolute ms time with redis's checks.
fn absolute_ms(cx: &Ctx, unit: &str, raw: &[u8], cmd: &str) -> Result<i64, CmdError> {
    let n = parse_int(raw)?;
    let invalid = || CmdError::err(format_args!("invalid expire time in '{cmd}' command"));
    if n <= 0 {
        return Err(invalid());
    }
    let seconds = unit == "EX" || unit == "EXAT";
    if seconds && n > i64::MAX / 1000 {
        return Err(invalid());
    }
    let mut ms = if seconds { n * 1000 } else { n };
    if unit == "EX" || unit == "PX" {
        if ms > i64::MAX - cx.db.now_ms {
            return Err(invalid());
        }
        ms += cx.db.now_ms;
    }
    Ok(ms)
}

fn pxat_argv(key: &Bytes, value: Bytes, at: i64) -> Vec<Bytes> {
    vec![
        Bytes::from_static(b"SET"),
        key.clone(),
        value,
        Bytes::from_static(b"PXAT"),
        Bytes::from(at.to_string()),
    ]
}

/// SET and GETEX options, parsed as redis `parseExtendedStringArgumentsOrReply`: conflicting
/// options are a syntax error (the same unit twice is allowed, the last wins), and the expire
/// value is only parsed once the whole line is known to be well formed.
struct ExtOpts {
    nx: bool,
    xx: bool,
    get: bool,
    expire: ExpireArg,
}

fn parse_ext(cx: &Ctx, start: usize, is_set: bool) -> Result<ExtOpts, CmdError> {
    let argv = cx.argv;
    let (mut nx, mut xx, mut get, mut keepttl, mut persist) = (false, false, false, false, false);
    let mut unit: Option<String> = None;
    let mut raw: Option<&Bytes> = None;
    let mut i = start;
    while i < argv.len() {
        let upper = String::from_utf8_lossy(&argv[i]).to_ascii_uppercase();
        let next = argv.get(i + 1);
        match upper.as_str() {
            "NX" if is_set && !xx => nx = true,
            "XX" if is_set && !nx => xx = true,
            "GET" if is_set => get = true,
            "KEEPTTL" if is_set && unit.is_none() => keepttl = true,
            "PERSIST" if !is_set && unit.is_none() => persist = true,
            "EX" | "PX" | "EXAT" | "PXAT"
                if !keepttl
                    && !persist
                    && unit.as_ref().is_none_or(|u| *u == upper)
                    && next.is_some() =>
            {
                unit = Some(upper);
                raw = next;
                i += 1;
            }
            _ => return Err(errors::SYNTAX),
        }
        i += 1;
    }
    let cmd = if is_set { "set" } else { "getex" };
    let expire = match (unit, raw) {
        (Some(u), Some(r)) => ExpireArg::At(absolute_ms(cx, &u, r, cmd)?),
        _ if keepttl => ExpireArg::KeepTtl,
        _ if persist => ExpireArg::Persist,
        _ => ExpireArg::None,
    };
    Ok(ExtOpts {
        nx,
        xx,
        get,
        expire,
    })
}

fn set(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let ExtOpts {
        nx,
        xx,
        get,
        expire,
    } = parse_ext(cx, 3, true)?;
    let key = &argv[1];
    let old = if get { get_string(cx.db, key)? } else { None };
    let exists = if nx || xx {
        cx.db.exists(key)
    } else {
        cx.db.expire_before_write(key);
        false
    };
    if (nx && exists) || (xx && !exists) {
        return Ok(if get {
            old.map_or(Reply::Nil, Reply::Bulk)
        } else {
            Reply::Nil
        });
    }
    let value = Value::Str(Str::from_bytes(&argv[2]));
    match expire {
        ExpireArg::KeepTtl => cx.db.set_keep_ttl(key, value),
        _ => cx.db.set(key, value),
    }
    match expire {
        ExpireArg::At(at) => {
            cx.db.set_expire(key, at);
            cx.propagate_as(pxat_argv(key, argv[2].clone(), at));
        }
        _ if get => {
            let filtered = argv.iter().filter(|a| !is(a, "get")).cloned().collect();
            cx.propagate_as(filtered);
        }
        _ => cx.propagate(),
    }
    Ok(if get {
        old.map_or(Reply::Nil, Reply::Bulk)
    } else {
        Reply::OK
    })
}

fn setnx(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let key = &cx.argv[1];
    if cx.db.exists(key) {
        return Ok(Reply::Int(0));
    }
    cx.db.set(key, Value::Str(Str::from_bytes(&cx.argv[2])));
    cx.propagate();
    Ok(Reply::Int(1))
}

fn setex_generic(cx: &mut Ctx, unit: &str) -> Result<Reply, CmdError> {
    let name = if unit == "EX" { "setex" } else { "psetex" };
    let at = absolute_ms(cx, unit, &cx.argv[2], name)?;
    let key = cx.argv[1].clone();
    cx.db.set(&key, Value::Str(Str::from_bytes(&cx.argv[3])));
    cx.db.set_expire(&key, at);
    cx.propagate_as(pxat_argv(&key, cx.argv[3].clone(), at));
    Ok(Reply::OK)
}

fn setex(cx: &mut Ctx) -> Result<Reply, CmdError> {
    setex_generic(cx, "EX")
}

fn psetex(cx: &mut Ctx) -> Result<Reply, CmdError> {
    setex_generic(cx, "PX")
}

fn getset(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let key = &cx.argv[1];
    let old = get_string(cx.db, key)?;
    cx.db.set(key, Value::Str(Str::from_bytes(&cx.argv[2])));
    cx.propagate_as(vec![
        Bytes::from_static(b"SET"),
        key.clone(),
        cx.argv[2].clone(),
    ]);
    Ok(old.map_or(Reply::Nil, Reply::Bulk))
}

fn getdel(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let key = &cx.argv[1];
    let Some(old) = get_string(cx.db, key)? else {
        return Ok(Reply::Nil);
    };
    cx.db.remove(key);
    cx.propagate_as(vec![Bytes::from_static(b"DEL"), key.clone()]);
    Ok(Reply::Bulk(old))
}

fn getex(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let expire = parse_ext(cx, 2, false)?.expire;
    let key = &argv[1];
    let Some(value) = get_string(cx.db, key)? else {
        return Ok(Reply::Nil);
    };
    match expire {
        ExpireArg::At(at) if at <= cx.db.now_ms => {
            cx.db.remove(key);
            cx.propagate_as(vec![Bytes::from_static(b"DEL"), key.clone()]);
        }
        ExpireArg::At(at) => {
            cx.db.set_expire(key, at);
            cx.propagate_as(vec![
                Bytes::from_static(b"PEXPIREAT"),
                key.clone(),
                Bytes::from(at.to_string()),
            ]);
        }
        ExpireArg::Persist if cx.db.persist(key) => {
            cx.propagate_as(vec![Bytes::from_static(b"PERSIST"), key.clone()]);
        }
        _ => {}
    }
    Ok(Reply::Bulk(value))
}

fn mget(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let mut out = Vec::with_capacity(cx.argv.len() - 1);
    for key in &cx.argv[1..] {
        out.push(match cx.db.get(key) {
            Some(Value::Str(s)) => Reply::Bulk(s.to_bytes()),
            _ => Reply::Nil,
        });
    }
    Ok(Reply::Array(out))
}

fn mset(cx: &mut Ctx) -> Result<Reply, CmdError> {
    if cx.argv.len() % 2 == 0 {
        return Err(CmdError::wrong_arity("mset"));
    }
    for pair in cx.argv[1..].chunks(2) {
        cx.db.set(&pair[0], Value::Str(Str::from_bytes(&pair[1])));
    }
    cx.propagate();
    Ok(Reply::OK)
}

fn msetnx(cx: &mut Ctx) -> Result<Reply, CmdError> {
    if cx.argv.len() % 2 == 0 {
        return Err(CmdError::wrong_arity("msetnx"));
    }
    let argv = cx.argv;
    if argv[1..].chunks(2).any(|p| cx.db.exists(&p[0])) {
        return Ok(Reply::Int(0));
    }
    for pair in argv[1..].chunks(2) {
        cx.db.set(&pair[0], Value::Str(Str::from_bytes(&pair[1])));
    }
    cx.propagate();
    Ok(Reply::Int(1))
}

/// Largest string a command may build (`proto-max-bulk-len`).
fn check_size(cx: &Ctx, size: usize) -> Result<(), CmdError> {
    let max = cx.server.config.read().proto_max_bulk_len;
    if i64::try_from(size).map_or(true, |size| size > max) {
        Err(errors::STRING_TOO_LONG)
    } else {
        Ok(())
    }
}

fn append(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let key = cx.argv[1].clone();
    let extra = cx.argv[2].clone();
    let current_len = match get_str_mut(cx.db, &key)? {
        Some(s) => s.len(),
        None => {
            cx.db.set(&key, Value::Str(Str::from_bytes(&extra)));
            cx.propagate();
            return Ok(Reply::Int(extra.len() as i64));
        }
    };
    check_size(cx, current_len + extra.len())?;
    let s = get_str_mut(cx.db, &key)?.ok_or(errors::NO_SUCH_KEY)?;
    let len = s.with_raw(|data| {
        crate::keyspace::value::make_room(data, extra.len());
        data.extend_from_slice(&extra);
        data.len()
    });
    cx.propagate();
    Ok(Reply::Int(len as i64))
}

fn strlen(cx: &mut Ctx) -> Result<Reply, CmdError> {
    match cx.db.get(&cx.argv[1]) {
        None => Ok(Reply::Int(0)),
        Some(Value::Str(s)) => Ok(Reply::Int(s.len() as i64)),
        Some(_) => Err(errors::WRONGTYPE),
    }
}

fn incr_generic(cx: &mut Ctx, by: i64) -> Result<Reply, CmdError> {
    let key = cx.argv[1].clone();
    let current = match get_str_mut(cx.db, &key)? {
        None => 0,
        Some(Str::Int(i)) => *i,
        Some(s) => {
            let b = s.to_bytes();
            if b.len() > 20 {
                return Err(errors::NOT_INTEGER);
            }
            crate::util::parse_i64(&b).ok_or(errors::NOT_INTEGER)?
        }
    };
    let new = current.checked_add(by).ok_or(errors::OVERFLOW)?;
    match get_str_mut(cx.db, &key)? {
        Some(s) => *s = Str::Int(new),
        None => cx.db.set(&key, Value::Str(Str::Int(new))),
    }
    cx.propagate();
    Ok(Reply::Int(new))
}

fn incr(cx: &mut Ctx) -> Result<Reply, CmdError> {
    incr_generic(cx, 1)
}

fn decr(cx: &mut Ctx) -> Result<Reply, CmdError> {
    incr_generic(cx, -1)
}

fn incrby(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let by = parse_int(&cx.argv[2])?;
    incr_generic(cx, by)
}

fn decrby(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let by = parse_int(&cx.argv[2])?;
    if by == i64::MIN {
        return Err(CmdError::err("decrement would overflow"));
    }
    incr_generic(cx, -by)
}

fn incrbyfloat(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let key = cx.argv[1].clone();
    let current = match get_string(cx.db, &key)? {
        None => Bytes::from_static(b"0"),
        Some(b) => b,
    };
    let text = super::float::add(&current, &cx.argv[2])?;
    let value = Bytes::from(text);
    // Redis stores the result as a string object, never int-encoded.
    cx.db.set_keep_ttl(&key, Value::Str(Str::plain(&value)));
    cx.propagate_as(vec![
        Bytes::from_static(b"SET"),
        key,
        value.clone(),
        Bytes::from_static(b"KEEPTTL"),
    ]);
    Ok(Reply::Bulk(value))
}

/// Resolves redis's (start, end) range rules over a length; None = empty.
pub fn clamp_range(start: i64, end: i64, len: i64) -> Option<(usize, usize)> {
    let mut s = if start < 0 { len + start } else { start };
    let mut e = if end < 0 { len + end } else { end };
    if s < 0 {
        s = 0;
    }
    if e < 0 {
        e = 0;
    }
    if e >= len {
        e = len - 1;
    }
    if s > e || len == 0 {
        return None;
    }
    Some((s as usize, e as usize))
}

fn getrange(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let start = parse_int(&cx.argv[2])?;
    let end = parse_int(&cx.argv[3])?;
    let Some(s) = get_string(cx.db, &cx.argv[1])? else {
        return Ok(Reply::bulk(Bytes::new()));
    };
    // Redis: a negative start past a negative end on an empty result short-circuits.
    if start < 0 && end < 0 && start > end {
        return Ok(Reply::bulk(Bytes::new()));
    }
    Ok(match clamp_range(start, end, s.len() as i64) {
        Some((a, b)) => Reply::Bulk(s.slice(a..=b)),
        None => Reply::bulk(Bytes::new()),
    })
}

fn setrange(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let key = cx.argv[1].clone();
    let offset = parse_int(&cx.argv[2])?;
    if offset < 0 {
        return Err(CmdError::err("offset is out of range"));
    }
    let value = cx.argv[3].clone();
    let current = get_str_mut(cx.db, &key)?.map(|s| s.len());
    let Some(current_len) = current else {
        if value.is_empty() {
            return Ok(Reply::Int(0));
        }
        check_size(cx, offset as usize + value.len())?;
        // Exactly its length, as Redis allocates a new string (a pushed-to Vec would double).
        let mut data = Vec::with_capacity(offset as usize + value.len());
        data.resize(offset as usize, 0);
        data.extend_from_slice(&value);
        let len = data.len();
        cx.db.set(&key, Value::Str(Str::raw(data)));
        cx.propagate();
        return Ok(Reply::Int(len as i64));
    };
    if value.is_empty() {
        return Ok(Reply::Int(current_len as i64));
    }
    check_size(cx, offset as usize + value.len())?;
    let end = offset as usize + value.len();
    let s = get_str_mut(cx.db, &key)?.ok_or(errors::NO_SUCH_KEY)?;
    let len = s.with_raw(|data| {
        if data.len() < end {
            crate::keyspace::value::make_room(data, end - data.len());
            data.resize(end, 0);
        }
        data[offset as usize..end].copy_from_slice(&value);
        data.len()
    });
    cx.propagate();
    Ok(Reply::Int(len as i64))
}
