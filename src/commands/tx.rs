//! Transactions (redis `multi.c`): MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! Queued commands run under EXEC with every shard they need locked for the whole block, so
//! the transaction is atomic; their effects are wrapped in MULTI/EXEC for replicas.

use std::sync::atomic::Ordering;

use super::errors::{self, CmdError};
use super::spec::{Group, Spec, ALLOW_BUSY, FAST, LOADING, NOSCRIPT, SKIP_SLOWLOG, STALE};
use super::Ctx;
use crate::protocol::Reply;
use crate::server::dispatch;

const TX: u32 = NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY;

pub const COMMANDS: &[Spec] = &[
    Spec::new("multi", 1, TX, Group::Transactions, multi),
    Spec::new(
        "exec",
        1,
        NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG,
        Group::Transactions,
        exec,
    ),
    Spec::new("discard", 1, TX, Group::Transactions, discard),
    Spec::new("watch", -2, TX, Group::Transactions, watch).keys(1, -1, 1),
    Spec::new("unwatch", 1, TX, Group::Transactions, unwatch),
];

fn multi(cx: &mut Ctx) -> Result<Reply, CmdError> {
    if cx.client.multi.is_some() {
        return Err(CmdError::err("MULTI calls can not be nested"));
    }
    dispatch::begin_multi(cx.client);
    Ok(Reply::OK)
}

fn exec(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let Some(multi) = cx.client.multi.take() else {
        return Err(CmdError::err("EXEC without MULTI"));
    };
    if multi.error {
        dispatch::end_multi(cx.server, cx.client);
        return Err(errors::EXECABORT);
    }
    let (watched, id) = (&cx.client.watched, cx.client.id());
    let db = &*cx.db;
    if cx.client.shared.dirty_cas.load(Ordering::Relaxed)
        || cx
            .server
            .watches
            .any_expired_since(watched, id, |d, k| db.peek_expired_in(d, k))
    {
        dispatch::end_multi(cx.server, cx.client);
        return Ok(Reply::NilArray);
    }
    // Unwatch before running, as redis does: the block's own writes must not abort it.
    dispatch::end_multi(cx.server, cx.client);
    let mut replies = Vec::with_capacity(multi.queued.len());
    cx.client.in_exec = true;
    // The client shows as in MULTI until the queue ran (redis clears CLIENT_MULTI after).
    let view = crate::commands::admin::client::queue_view(&multi.queued);
    cx.client.exec_view = Some((cx.argv.to_vec(), view));
    cx.client.shared.in_multi.store(true, Ordering::Relaxed);
    for argv in &multi.queued {
        replies.push(dispatch::call_in_exec(cx, argv));
    }
    cx.client.shared.in_multi.store(false, Ordering::Relaxed);
    cx.client.exec_view = None;
    cx.client.in_exec = false;
    Ok(Reply::Array(replies))
}

fn discard(cx: &mut Ctx) -> Result<Reply, CmdError> {
    if cx.client.multi.is_none() {
        return Err(CmdError::err("DISCARD without MULTI"));
    }
    dispatch::end_multi(cx.server, cx.client);
    Ok(Reply::OK)
}

fn watch(cx: &mut Ctx) -> Result<Reply, CmdError> {
    if cx.client.multi.is_some() {
        return Err(CmdError::err("WATCH inside MULTI is not allowed"));
    }
    let db = cx.client.db;
    for key in &cx.argv[1..] {
        if cx.client.watched.iter().any(|(d, k)| *d == db && k == key) {
            continue;
        }
        let expired = cx.db.peek_expired_in(db, key);
        cx.server
            .watches
            .watch(db, key.clone(), &cx.client.shared, expired);
        cx.client.watched.push((db, key.clone()));
    }
    Ok(Reply::OK)
}

fn unwatch(cx: &mut Ctx) -> Result<Reply, CmdError> {
    dispatch::unwatch_all(cx.server, cx.client);
    Ok(Reply::OK)
}
