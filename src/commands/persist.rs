//! Persistence commands: SAVE, BGSAVE [SCHEDULE], BGREWRITEAOF, LASTSAVE.

use std::sync::atomic::Ordering;

use super::args::is;
use super::errors::{self, CmdError};
use super::spec::{Group, Spec, ADMIN, FAST, LOADING, NOSCRIPT, NO_ASYNC_LOADING, NO_MULTI, STALE};
use super::Ctx;
use crate::persistence::save;
use crate::protocol::Reply;

pub const COMMANDS: &[Spec] = &[
    Spec::new(
        "save",
        1,
        ADMIN | NOSCRIPT | NO_MULTI | NO_ASYNC_LOADING,
        Group::Server,
        save_cmd,
    ),
    Spec::new(
        "bgsave",
        -1,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING,
        Group::Server,
        bgsave,
    ),
    Spec::new(
        "bgrewriteaof",
        1,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING,
        Group::Server,
        bgrewriteaof,
    ),
    Spec::new(
        "lastsave",
        1,
        LOADING | STALE | FAST,
        Group::Server,
        lastsave,
    ),
];

fn in_progress() -> CmdError {
    CmdError::err("Background save already in progress")
}

fn save_cmd(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let server = cx.server.arc().ok_or_else(in_progress)?;
    if cx.server.persist.bgsave_in_progress.load(Ordering::Acquire) {
        return Err(in_progress());
    }
    save::save_blocking(&server).map_err(|e| {
        if e.contains("in progress") {
            in_progress()
        } else {
            CmdError::new("ERR")
        }
    })?;
    Ok(Reply::OK)
}

fn bgsave(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let schedule = match cx.argv.len() {
        1 => false,
        2 if is(&cx.argv[1], "schedule") => true,
        _ => return Err(errors::SYNTAX),
    };
    let server = cx.server.arc().ok_or_else(in_progress)?;
    if cx.server.persist.bgsave_in_progress.load(Ordering::Acquire)
        || cx.server.snapshot_slot.is_busy()
    {
        if schedule {
            cx.server.persist.scheduled.store(true, Ordering::Release);
            return Ok(Reply::status("Background saving scheduled"));
        }
        return Err(in_progress());
    }
    match save::bgsave(&server) {
        Ok(()) => Ok(Reply::status("Background saving started")),
        Err(save::SaveError::InProgress) if schedule => {
            cx.server.persist.scheduled.store(true, Ordering::Release);
            Ok(Reply::status("Background saving scheduled"))
        }
        Err(save::SaveError::InProgress) => Err(in_progress()),
        Err(save::SaveError::Spawn) => Err(CmdError::err("Background saving failed")),
    }
}

fn lastsave(cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(Reply::Int(
        cx.server.persist.last_save_time.load(Ordering::Relaxed),
    ))
}

/// BGREWRITEAOF (redis `bgrewriteaofCommand`): now, or once the running snapshot (or the
/// transaction) is over.
fn bgrewriteaof(cx: &mut Ctx) -> Result<Reply, CmdError> {
    use crate::persistence::aof::rewrite;
    let aof = &cx.server.aof;
    if aof.stats.rewrite_in_progress.load(Ordering::Acquire) {
        return Err(CmdError::err(
            "Background append only file rewriting already in progress",
        ));
    }
    let scheduled = || {
        aof.stats.rewrite_scheduled.store(true, Ordering::Relaxed);
        // Asked for by hand: the limit on retries after failures does not apply.
        aof.stats.consecutive_failures.store(0, Ordering::Relaxed);
        Ok(Reply::status(
            "Background append only file rewriting scheduled",
        ))
    };
    if cx.server.snapshot_slot.is_busy() || cx.client.in_exec {
        return scheduled();
    }
    let server = cx.server.arc().ok_or_else(in_progress)?;
    match rewrite::start(&server) {
        Ok(()) => Ok(Reply::status(
            "Background append only file rewriting started",
        )),
        Err(rewrite::StartError::Busy) => scheduled(),
        Err(rewrite::StartError::InProgress) => Err(CmdError::err(
            "Background append only file rewriting already in progress",
        )),
        Err(rewrite::StartError::Failed) => Err(CmdError::err(
            "Can't execute an AOF background rewriting. Please check the server logs for more information.",
        )),
    }
}
