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
use crate::server::blocking::{Waiter, Want};
use crate::server::client::Blocked;
use std::sync::Arc;

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
    Spec::new("blmpop", -5, WRITE | BLOCKING, Group::List, blmpop).keys_with(0, 0, 0, numkeys_at_2),
    Spec::new("bzmpop", -5, WRITE | BLOCKING, Group::SortedSet, bzmpop).keys_with(
        0,
        0,
        0,
        numkeys_at_2,
    ),
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
    // Milliseconds rounded up first, as redis: -0.0001 s is 0 ms, which blocks forever.
    let ms = (secs * 1000.0).ceil();
    if ms < 0.0 {
        return Err(CmdError::err("timeout is negative"));
    }
    Ok(ms as u64)
}

/// Parks the command: registers the client as waiting on the command's keys (the shards are
/// still locked, so no write can come between "nothing there" and "waiting"). Where redis
/// never blocks (inside MULTI/EXEC, from the master link) the timeout reply comes at once.
fn block(cx: &mut Ctx, timeout_ms: u64, timeout_reply: Reply) -> Result<Reply, CmdError> {
    block_as(cx, timeout_ms, timeout_reply, cx.argv.to_vec())
}

/// `block`, remembering `argv` as the command to run when a key becomes ready (XREAD keeps
/// the IDs `$` stood for).
pub(crate) fn block_as(
    cx: &mut Ctx,
    timeout_ms: u64,
    timeout_reply: Reply,
    argv: Vec<Bytes>,
) -> Result<Reply, CmdError> {
    if cx.client.serving_blocked {
        // Re-run for a waiter whose key became ready, and still nothing to take.
        cx.client.would_block = true;
        return Ok(Reply::None);
    }
    if cx.client.in_exec || cx.client.multi.is_some() || cx.client.is_master_link {
        return Ok(timeout_reply);
    }
    let (id, spec) = crate::server::dispatch::resolve(&argv)?;
    let keys = spec
        .key_positions(&argv)
        .into_iter()
        .map(|p| argv[p].clone())
        .collect();
    let want = match spec.group {
        Group::SortedSet => Want::ZSet,
        Group::Stream => Want::Stream,
        _ => Want::List,
    };
    let w = Arc::new(Waiter::new(
        cx.client.shared.clone(),
        id,
        cx.client.db,
        keys,
        argv,
        cx.client.resp,
        Some(want),
        timeout_ms,
        timeout_reply,
    ));
    cx.server.blocking.register(w.clone());
    cx.client.blocked = Some(Blocked::Keys(w));
    Ok(Reply::None)
}

/// The form of blocking command `argv` that waits on `key` alone: what runs when `key`
/// becomes ready (redis serves a waiter from the key that became ready, not from the first of
/// its keys that has data).
pub fn single_key_form(argv: &[Bytes], key: &Bytes) -> Vec<Bytes> {
    let name = argv[0].to_ascii_lowercase();
    match name.as_slice() {
        b"blpop" | b"brpop" | b"bzpopmin" | b"bzpopmax" => {
            vec![argv[0].clone(), key.clone(), argv[argv.len() - 1].clone()]
        }
        b"blmpop" | b"bzmpop" => {
            // name timeout numkeys key... where [COUNT n]
            let numkeys = crate::util::parse_i64(&argv[2])
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(0);
            let rest = 3usize.saturating_add(numkeys).min(argv.len());
            let mut out = vec![
                argv[0].clone(),
                argv[1].clone(),
                Bytes::from_static(b"1"),
                key.clone(),
            ];
            out.extend_from_slice(&argv[rest..]);
            out
        }
        b"xread" | b"xreadgroup" => crate::commands::streams::single_key_form(argv, key),
        _ => argv.to_vec(),
    }
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

/// BLMPOP and BZMPOP: `timeout numkeys key [key ...] ...`.
fn numkeys_at_2(argv: &[Bytes]) -> Vec<usize> {
    super::zsets::numkeys_keys(argv, 3)
}

/// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]: LMPOP, or block.
fn blmpop(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let timeout = parse_timeout(&cx.argv[1])?;
    match super::lists::lmpop_at(cx, 2)? {
        Some(r) => Ok(r),
        None => block(cx, timeout, Reply::NilArray),
    }
}

/// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]: ZMPOP, or block.
fn bzmpop(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let timeout = parse_timeout(&cx.argv[1])?;
    match super::zsets::pop::zmpop_at(cx, 2)? {
        Some(r) => Ok(r),
        None => block(cx, timeout, Reply::NilArray),
    }
}
