//! Blocking pops: BLPOP BRPOP BRPOPLPUSH BLMOVE BZPOPMIN BZPOPMAX. When data is there they act
//! at once and propagate the non-blocking form (LPOP, RPOPLPUSH, LMOVE, ZPOPMIN ...); otherwise
//! the connection parks the command and retries it whenever the dataset changes, until its
//! timeout. Inside MULTI, or from the master link, they never block (the timeout reply).

use bytes::Bytes;

use super::access::{get_list_mut, get_zset_mut, list_or_create};
use super::errors::CmdError;
use super::spec::{Group, Spec, BLOCKING, DENYOOM, FAST, NOSCRIPT, WRITE};
use super::Ctx;
use crate::protocol::Reply;
use crate::server::client::Blocked;

pub const COMMANDS: &[Spec] = &[
    Spec::new("blpop", -3, WRITE | NOSCRIPT | BLOCKING, Group::List, blpop).keys(1, -2, 1),
    Spec::new("brpop", -3, WRITE | NOSCRIPT | BLOCKING, Group::List, brpop).keys(1, -2, 1),
    Spec::new(
        "brpoplpush",
        4,
        WRITE | DENYOOM | NOSCRIPT | BLOCKING,
        Group::List,
        brpoplpush,
    )
    .keys(1, 2, 1),
    Spec::new(
        "blmove",
        6,
        WRITE | DENYOOM | NOSCRIPT | BLOCKING,
        Group::List,
        blmove,
    )
    .keys(1, 2, 1),
    Spec::new(
        "bzpopmin",
        -3,
        WRITE | NOSCRIPT | FAST | BLOCKING,
        Group::SortedSet,
        bzpopmin,
    )
    .keys(1, -2, 1),
    Spec::new(
        "bzpopmax",
        -3,
        WRITE | NOSCRIPT | FAST | BLOCKING,
        Group::SortedSet,
        bzpopmax,
    )
    .keys(1, -2, 1),
];

/// A timeout in seconds (decimals allowed); 0 blocks forever. Returns milliseconds.
fn parse_timeout(raw: &[u8]) -> Result<u64, CmdError> {
    let secs = crate::util::parse_f64(raw)
        .filter(|s| s.is_finite())
        .ok_or_else(|| CmdError::err("timeout is not a float or out of range"))?;
    if secs < 0.0 {
        return Err(CmdError::err("timeout is negative"));
    }
    Ok((secs * 1000.0).ceil() as u64)
}

/// Parks the command (or answers its timeout reply where Redis never blocks).
fn block(cx: &mut Ctx, timeout_ms: u64, timeout_reply: Reply) -> Result<Reply, CmdError> {
    if cx.client.in_exec || cx.client.multi.is_some() || cx.client.is_master_link {
        return Ok(timeout_reply);
    }
    cx.client.blocked = Some(Blocked::Retry {
        argv: cx.argv.to_vec(),
        timeout_ms,
        timeout_reply,
    });
    Ok(Reply::None)
}

fn bpop(cx: &mut Ctx, left: bool) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let timeout = parse_timeout(&argv[argv.len() - 1])?;
    for key in &argv[1..argv.len() - 1] {
        let popped = match get_list_mut(cx.db, key)? {
            Some(l) if !l.is_empty() => {
                if left {
                    l.pop_front()
                } else {
                    l.pop_back()
                }
            }
            _ => None,
        };
        if let Some(v) = popped {
            cx.db.remove_if_empty(key);
            let name: &'static [u8] = if left { b"LPOP" } else { b"RPOP" };
            cx.propagate_as(vec![Bytes::from_static(name), key.clone()]);
            return Ok(Reply::Array(vec![Reply::Bulk(key.clone()), Reply::Bulk(v)]));
        }
    }
    block(cx, timeout, Reply::NilArray)
}

fn blpop(cx: &mut Ctx) -> Result<Reply, CmdError> {
    bpop(cx, true)
}

fn brpop(cx: &mut Ctx) -> Result<Reply, CmdError> {
    bpop(cx, false)
}

/// Moves one element; `None` when `src` is empty or missing.
fn move_one(
    cx: &mut Ctx,
    src: &Bytes,
    dst: &Bytes,
    from_left: bool,
    to_left: bool,
) -> Result<Option<Bytes>, CmdError> {
    match get_list_mut(cx.db, src)? {
        Some(l) if !l.is_empty() => {}
        _ => return Ok(None),
    }
    get_list_mut(cx.db, dst)?;
    let v = match get_list_mut(cx.db, src)? {
        Some(l) if from_left => l.pop_front(),
        Some(l) => l.pop_back(),
        None => None,
    };
    let Some(v) = v else { return Ok(None) };
    let target = list_or_create(cx.db, dst)?;
    if to_left {
        target.push_front(&v);
    } else {
        target.push_back(&v);
    }
    cx.db.remove_if_empty(src);
    cx.db.touch(dst);
    Ok(Some(v))
}

fn side(raw: &[u8]) -> Result<bool, CmdError> {
    if raw.eq_ignore_ascii_case(b"left") {
        Ok(true)
    } else if raw.eq_ignore_ascii_case(b"right") {
        Ok(false)
    } else {
        Err(super::errors::SYNTAX)
    }
}

fn brpoplpush(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let timeout = parse_timeout(&argv[3])?;
    if let Some(v) = move_one(cx, &argv[1], &argv[2], false, true)? {
        cx.propagate_as(vec![
            Bytes::from_static(b"RPOPLPUSH"),
            argv[1].clone(),
            argv[2].clone(),
        ]);
        return Ok(Reply::Bulk(v));
    }
    block(cx, timeout, Reply::Nil)
}

fn blmove(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let from = side(&argv[3])?;
    let to = side(&argv[4])?;
    let timeout = parse_timeout(&argv[5])?;
    if let Some(v) = move_one(cx, &argv[1], &argv[2], from, to)? {
        cx.propagate_as(vec![
            Bytes::from_static(b"LMOVE"),
            argv[1].clone(),
            argv[2].clone(),
            argv[3].clone(),
            argv[4].clone(),
        ]);
        return Ok(Reply::Bulk(v));
    }
    block(cx, timeout, Reply::Nil)
}

fn bzpop(cx: &mut Ctx, max: bool) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let timeout = parse_timeout(&argv[argv.len() - 1])?;
    for key in &argv[1..argv.len() - 1] {
        let popped = match get_zset_mut(cx.db, key)? {
            Some(z) if !z.is_empty() => z.pop(max),
            _ => None,
        };
        if let Some((member, score)) = popped {
            cx.db.remove_if_empty(key);
            let name: &'static [u8] = if max { b"ZPOPMAX" } else { b"ZPOPMIN" };
            cx.propagate_as(vec![Bytes::from_static(name), key.clone()]);
            return Ok(Reply::Array(vec![
                Reply::Bulk(key.clone()),
                Reply::Bulk(member),
                Reply::Double(score),
            ]));
        }
    }
    block(cx, timeout, Reply::NilArray)
}

fn bzpopmin(cx: &mut Ctx) -> Result<Reply, CmdError> {
    bzpop(cx, false)
}

fn bzpopmax(cx: &mut Ctx) -> Result<Reply, CmdError> {
    bzpop(cx, true)
}
