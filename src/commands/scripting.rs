//! Scripts (redis `eval.c`): EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT.
//!
//! A script may touch keys it did not declare (Redis standalone allows it), so these commands
//! lock every shard: the script is atomic against every other client.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::args::is;
use super::errors::CmdError;
use super::spec::{
    Group, Spec, ALLOW_BUSY, ALL_KEYS, LOADING, MAY_REPLICATE, NOSCRIPT, READONLY, SKIP_MONITOR,
    STALE,
};
use super::Ctx;
use crate::protocol::Reply;
use crate::scripting::ldb;
use crate::scripting::run::{self, Invocation};
use crate::server::dispatch;

const EVAL: u32 = NOSCRIPT | SKIP_MONITOR | MAY_REPLICATE | STALE | ALL_KEYS;
const EVAL_RO: u32 = NOSCRIPT | SKIP_MONITOR | STALE | READONLY | ALL_KEYS;

pub const COMMANDS: &[Spec] = &[
    Spec::new("eval", -3, EVAL, Group::Scripting, eval).keys_with(0, 0, 0, numkeys_keys),
    Spec::new("evalsha", -3, EVAL, Group::Scripting, evalsha).keys_with(0, 0, 0, numkeys_keys),
    Spec::new("eval_ro", -3, EVAL_RO, Group::Scripting, eval_ro).keys_with(0, 0, 0, numkeys_keys),
    Spec::new("evalsha_ro", -3, EVAL_RO, Group::Scripting, evalsha_ro).keys_with(
        0,
        0,
        0,
        numkeys_keys,
    ),
    Spec::new("script", -2, 0, Group::Scripting, script_container).subs(&[
        Spec::new("script|debug", 3, NOSCRIPT, Group::Scripting, script_debug),
        Spec::new(
            "script|exists",
            -3,
            NOSCRIPT,
            Group::Scripting,
            script_exists,
        ),
        Spec::new("script|flush", -2, NOSCRIPT, Group::Scripting, script_flush),
        Spec::new(
            "script|help",
            2,
            LOADING | STALE,
            Group::Scripting,
            script_help,
        ),
        Spec::new(
            "script|kill",
            2,
            NOSCRIPT | ALLOW_BUSY,
            Group::Scripting,
            script_kill,
        ),
        Spec::new(
            "script|load",
            3,
            NOSCRIPT | STALE,
            Group::Scripting,
            script_load,
        ),
    ]),
];

/// `script numkeys key ... arg ...`: the keys (EVAL, FCALL and their variants).
pub fn numkeys_keys(argv: &[Bytes]) -> Vec<usize> {
    super::zsets::numkeys_keys(argv, 3)
}

/// Whether a command runs a script or function (they take their flags from it).
pub fn runs_script(name: &str) -> bool {
    matches!(
        name,
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
    )
}

fn script_container(_cx: &mut Ctx) -> Result<Reply, CmdError> {
    Err(CmdError::err("unknown subcommand"))
}

fn eval(cx: &mut Ctx) -> Result<Reply, CmdError> {
    eval_or_debug(cx, false)
}

fn evalsha(cx: &mut Ctx) -> Result<Reply, CmdError> {
    eval_generic(cx, true, false)
}

fn eval_ro(cx: &mut Ctx) -> Result<Reply, CmdError> {
    eval_or_debug(cx, true)
}

fn evalsha_ro(cx: &mut Ctx) -> Result<Reply, CmdError> {
    eval_generic(cx, true, true)
}

/// EVAL, or a debugging session after SCRIPT DEBUG (redis `evalGenericCommandWithDebugging`).
fn eval_or_debug(cx: &mut Ctx, read_only: bool) -> Result<Reply, CmdError> {
    match cx.client.lua_debug {
        ldb::Mode::Off => eval_generic(cx, false, read_only),
        ldb::Mode::Yes => {
            dispatch::feed_monitors(cx.server, cx.client, cx.argv, None);
            ldb::fork::eval(cx)
        }
        ldb::Mode::Sync | ldb::Mode::Forked => debug_session(cx, read_only),
    }
}

/// Runs EVAL in a debugging session on this server; the connection closes after its reply.
fn debug_session(cx: &mut Ctx, read_only: bool) -> Result<Reply, CmdError> {
    let server = cx.server;
    let forked = cx.client.lua_debug == ldb::Mode::Forked;
    if !forked {
        tracing::warn!("Redis synchronous debugging eval session started");
    }
    let watched = server
        .scripting
        .fork_parent
        .lock()
        .clone()
        .unwrap_or_else(|| server.me.clone());
    let session = ldb::Session::start(
        cx.client.debug_fd(),
        cx.arg(1),
        server.hot.busy_reply_threshold.load(Ordering::Relaxed),
        watched,
    )
    .map_err(|e| CmdError::err(format_args!("can't run EVAL in debugging mode: {e}")))?;
    let shared = {
        let mut guard = server.scripting.vm()?;
        let Some(vm) = guard.as_mut() else {
            return Err(CmdError::err("Lua is not available"));
        };
        *vm.ldb.lock() = Some(session);
        vm.ldb.clone()
    };
    let reply = eval_generic(cx, false, read_only);
    if let Some(session) = shared.lock().take() {
        session.end();
    }
    if !forked {
        tracing::warn!("Redis synchronous debugging eval session ended");
    }
    cx.client.close_after_reply = true;
    reply
}

/// The number of keys of `script numkeys ...`, checked against the arguments.
pub fn parse_numkeys(argv: &[Bytes]) -> Result<usize, CmdError> {
    let n = super::args::parse_int(&argv[2])?;
    if n > argv.len() as i64 - 3 {
        return Err(CmdError::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    if n < 0 {
        return Err(CmdError::err("Number of keys can't be negative"));
    }
    Ok(n as usize)
}

/// redis `evalGenericCommand`.
fn eval_generic(cx: &mut Ctx, by_sha: bool, read_only: bool) -> Result<Reply, CmdError> {
    // EVAL shows in MONITOR before the commands it runs.
    dispatch::feed_monitors(cx.server, cx.client, cx.argv, None);
    let body = cx.arg(1).clone();
    if by_sha && body.len() != 40 {
        return Err(NOSCRIPT_ERR);
    }
    if by_sha && cx.client.lua_debug != ldb::Mode::Off {
        return Err(CmdError::err(
            "Please use EVAL instead of EVALSHA for debugging",
        ));
    }
    let numkeys = parse_numkeys(cx.argv)?;
    let sha = if by_sha {
        String::from_utf8_lossy(&body).to_ascii_lowercase()
    } else {
        crate::scripting::sha1hex(&body)
    };
    let server = cx.server;
    let mut guard = server.scripting.vm()?;
    let Some(vm) = guard.as_mut() else {
        return Err(CmdError::err("Lua is not available"));
    };
    let (func, flags) = vm
        .script(&sha, (!by_sha).then_some(&body))
        .map_err(CmdError::new)?;
    let argv = cx.argv;
    let inv = Invocation {
        name: &sha,
        flags,
        read_only,
        is_eval: true,
        keys: &argv[3..3 + numkeys],
        args: &argv[3 + numkeys..],
    };
    run::run(cx, vm, &func, &inv)
}

const NOSCRIPT_ERR: CmdError = CmdError::fixed("NOSCRIPT No matching script. Please use EVAL.");

fn script_help(_cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(super::admin::help_reply(
        "SCRIPT",
        &[
            "DEBUG (YES|SYNC|NO)",
            "    Set the debug mode for subsequent scripts executed.",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
        ],
    ))
}

fn script_flush(cx: &mut Ctx) -> Result<Reply, CmdError> {
    match cx.argv.len() {
        2 => {}
        3 if is(&cx.argv[2], "sync") || is(&cx.argv[2], "async") => {}
        _ => return Err(CmdError::err("SCRIPT FLUSH only support SYNC|ASYNC option")),
    }
    cx.server.scripting.reset();
    Ok(Reply::OK)
}

fn script_exists(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let s = &cx.server.scripting;
    Ok(Reply::Array(
        cx.argv[2..]
            .iter()
            .map(|sha| Reply::Int(s.exists(sha) as i64))
            .collect(),
    ))
}

fn script_load(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let body = cx.arg(2).clone();
    let sha = crate::scripting::sha1hex(&body);
    let mut guard = cx.server.scripting.vm()?;
    let Some(vm) = guard.as_mut() else {
        return Err(CmdError::err("Lua is not available"));
    };
    vm.script(&sha, Some(&body)).map_err(CmdError::new)?;
    Ok(Reply::Bulk(Bytes::from(sha)))
}

fn script_kill(cx: &mut Ctx) -> Result<Reply, CmdError> {
    kill(cx, true)
}

/// SCRIPT KILL and FUNCTION KILL (redis `scriptKill`).
pub fn kill(cx: &mut Ctx, eval: bool) -> Result<Reply, CmdError> {
    let state = &cx.server.scripting.running;
    if !state.is_active() {
        return Err(CmdError::fixed(
            "NOTBUSY No scripts in execution right now.",
        ));
    }
    if state.from_master.load(Ordering::Relaxed) {
        return Err(CmdError::fixed("UNKILLABLE The busy script was sent by a master instance in the context of replication and cannot be killed."));
    }
    if state.wrote.load(Ordering::Relaxed) {
        return Err(CmdError::fixed("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command."));
    }
    let running_eval = state.is_eval.load(Ordering::Relaxed);
    if eval != running_eval {
        return Err(crate::scripting::busy_error(state));
    }
    state.kill.store(true, Ordering::Relaxed);
    Ok(Reply::OK)
}

fn script_debug(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let mode = cx.arg(2);
    cx.client.lua_debug = if is(mode, "no") {
        ldb::Mode::Off
    } else if is(mode, "yes") {
        ldb::Mode::Yes
    } else if is(mode, "sync") {
        ldb::Mode::Sync
    } else {
        return Err(CmdError::err("Use SCRIPT DEBUG YES/SYNC/NO"));
    };
    Ok(Reply::OK)
}
