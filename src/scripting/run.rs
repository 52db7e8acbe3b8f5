//! Running a script or function for EVAL/FCALL (redis `scriptPrepareForRun`, `luaCallFunction`,
//! `scriptCall`): the refusals before it starts, the callbacks `redis.call` and friends use
//! while it runs, and the reply it ends with.

use std::cell::RefCell;
use std::sync::atomic::{AtomicPtr, Ordering};

use bytes::Bytes;
use mlua::{Function, HookTriggers, Lua, MultiValue, Table, Value, VmState};

use super::flags;
use super::vm::{self, Vm};
use crate::commands::errors::{self, CmdError};
use crate::commands::spec::{self, Spec};
use crate::commands::{Ctx, REGISTRY};
use crate::protocol::encode::Resp;
use crate::protocol::Reply;
use crate::server::dispatch;

/// How a script is being run.
pub struct Invocation<'a> {
    /// The SHA of an EVAL script or the name of a function (in error texts and logs).
    pub name: &'a str,
    pub flags: u32,
    /// EVAL_RO, EVALSHA_RO, FCALL_RO.
    pub read_only: bool,
    /// EVAL (KEYS/ARGV globals) rather than FCALL (arguments of the function).
    pub is_eval: bool,
    pub keys: &'a [Bytes],
    pub args: &'a [Bytes],
}

/// What the callbacks of a running script share.
struct Run<'c, 'a, 'k> {
    cx: &'c mut Ctx<'a, 'k>,
    db: usize,
    opts: &'c vm::RunOptions,
    ldb: &'c super::ldb::Shared,
    read_only: bool,
    allow_oom: bool,
    pre_oom: bool,
    from_master: bool,
    /// The commands this run has looked up, by the name it called them with.
    names: Vec<(Bytes, usize, &'static Spec)>,
}

/// The refusals of redis `scriptPrepareForRun`.
fn prepare(cx: &Ctx, inv: &Invocation) -> Result<(), CmdError> {
    let server = cx.server;
    let from_master = cx.client.is_master_link;
    let hot = &server.hot;
    let stale = server.is_replica()
        && server.repl.link.state() != crate::replication::replica::LinkState::Connected
        && !hot.replica_serve_stale_data.load(Ordering::Relaxed);
    if inv.flags & flags::EVAL_COMPAT != 0 {
        if stale {
            return Err(errors::MASTERDOWN);
        }
        return Ok(());
    }
    if stale && inv.flags & flags::ALLOW_STALE == 0 {
        return Err(CmdError::fixed("MASTERDOWN Link with MASTER is down, replica-serve-stale-data is set to 'no' and 'allow-stale' flag is not set on the script."));
    }
    if inv.flags & flags::NO_WRITES == 0 {
        if server.is_replica() && hot.replica_read_only.load(Ordering::Relaxed) && !from_master {
            return Err(CmdError::fixed(
                "READONLY Can not run script with write flag on readonly replica",
            ));
        }
        if dispatch::disk_error(server) && !from_master {
            return Err(CmdError::fixed("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Writable scripts are blocked. Use 'no-writes' flag for read only scripts."));
        }
        if let Some(e) = dispatch::aof_error(server).filter(|_| !from_master) {
            return Err(e);
        }
        if inv.read_only {
            return Err(CmdError::err(
                "Can not execute a script with write flag using *_ro command.",
            ));
        }
        if !server.is_replica() && !dispatch::enough_good_replicas(server) {
            return Err(errors::NOREPLICAS);
        }
    }
    if cx.client.script_oom && inv.flags & (flags::ALLOW_OOM | flags::NO_WRITES) == 0 {
        return Err(CmdError::fixed(
            "OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'",
        ));
    }
    Ok(())
}

/// Runs `func` for the command in `cx` and returns the command's reply.
pub fn run(cx: &mut Ctx, vm: &Vm, func: &Function, inv: &Invocation) -> Result<Reply, CmdError> {
    prepare(cx, inv)?;
    let lua = &vm.lua;
    let compat = inv.flags & flags::EVAL_COMPAT != 0;
    let read_only = inv.read_only || (!compat && inv.flags & flags::NO_WRITES != 0);
    let server = cx.server;
    let state = &server.scripting.running;
    let from_master = cx.client.is_master_link;
    state.begin(inv.is_eval, from_master);
    {
        let mut name = state.name.lock();
        name.clear();
        name.push_str(inv.name);
    }
    if !inv.is_eval {
        *state.command.lock() = cx.argv.to_vec();
    }
    state.threshold.store(
        server.hot.busy_reply_threshold.load(Ordering::Relaxed),
        Ordering::Relaxed,
    );
    state
        .next_hand_off
        .store(HAND_OFF_AFTER_MS, Ordering::Relaxed);
    let saved = (cx.client.db, cx.client.resp, cx.client.in_exec, cx.db.index);
    let debugging = vm.ldb.lock().is_some();
    if debugging {
        state.debugging.store(true, Ordering::Relaxed);
        super::ldb::install_hook(lua, &vm.ldb, &vm.redis);
    }
    vm.options.resp3.store(false, Ordering::Relaxed);
    vm.options.repl.store(3, Ordering::Relaxed);
    let run = RefCell::new(Run {
        db: cx.client.db,
        pre_oom: cx.client.script_oom,
        cx,
        opts: &vm.options,
        ldb: &vm.ldb,
        read_only,
        allow_oom: !compat && inv.flags & flags::ALLOW_OOM != 0,
        from_master,
        names: Vec::new(),
    });
    let outcome = call_in_scope(vm, func, inv, &run);
    if debugging || state.kill.load(Ordering::Relaxed) {
        // The debugger's hook, or the kill's that fails every line, gives way to the usual one.
        vm.install_run_hook();
    }
    let run = run.into_inner();
    let resp3 = vm.options.resp3.load(Ordering::Relaxed);
    let cx = run.cx;
    cx.client.db = saved.0;
    cx.client.resp = saved.1;
    cx.client.in_exec = saved.2;
    cx.client.in_script = false;
    cx.db.index = saved.3;
    let r = Ordering::Relaxed;
    state.last_scripts.store(vm.scripts.len() as u64, r);
    state.last_scripts_mem.store(vm.scripts_mem as u64, r);
    state.last_lua_mem.store(lua.used_memory() as u64, r);
    state.end();
    if vm.runs.fetch_add(1, Ordering::Relaxed) % 50 == 49 {
        let _ = lua.gc_step_kbytes(50);
    }
    // An error the script returns or fails with is an error reply of EVAL/FCALL, counted in
    // the error stats unless it is a command's error counted already.
    match outcome {
        Ok((true, v)) => match super::convert::lua_to_reply(&v, resp3) {
            Reply::Error(text) => {
                cx.client.error_counted = counted(&v);
                Err(CmdError::new(text))
            }
            reply => Ok(reply),
        },
        Ok((false, v)) => {
            cx.client.error_counted = counted(&v);
            Err(error_reply(&v, inv.name))
        }
        Err(e) => Err(CmdError::new(vm::text_of(&e))),
    }
}

/// Whether an error table is marked as counted in the error stats already.
fn counted(v: &Value) -> bool {
    match v {
        Value::Table(t) => matches!(
            t.raw_get::<Value>("ignore_error_stats_update"),
            Ok(Value::Boolean(true))
        ),
        _ => false,
    }
}

/// Sets KEYS/ARGV or the function's arguments, points the callbacks at this run and calls
/// the script through the error handler. Returns (succeeded, value).
fn call_in_scope(
    vm: &Vm,
    func: &Function,
    inv: &Invocation,
    run: &RefCell<Run>,
) -> mlua::Result<(bool, Value)> {
    let lua = &vm.lua;
    let keys = strings_table(lua, inv.keys)?;
    let args = strings_table(lua, inv.args)?;
    let _current = Current::enter(&vm.current, run);
    let b = &vm.bridge;
    b.raw_set("exec", true)?;
    let result: mlua::Result<MultiValue> = if inv.is_eval {
        vm.globals.raw_set("KEYS", keys)?;
        vm.globals.raw_set("ARGV", args)?;
        vm.runner.call(func.clone())
    } else {
        vm.runner.call((func.clone(), keys, args))
    };
    b.raw_set("exec", Value::Nil)?;
    let mut values = result?.into_iter();
    let ok = matches!(values.next(), Some(Value::Boolean(true)));
    Ok((ok, values.next().unwrap_or(Value::Nil)))
}

/// The run `redis.call`/`redis.pcall` serve (`Vm::current`): set for exactly the length of a
/// run, null otherwise. The callbacks are created once with the Lua state instead of for each
/// run: a script run then leaves no closures behind for the GC.
struct Current<'p>(&'p AtomicPtr<()>);

impl<'p> Current<'p> {
    fn enter(slot: &'p AtomicPtr<()>, run: &RefCell<Run>) -> Current<'p> {
        slot.store(run as *const RefCell<Run> as *mut (), Ordering::Release);
        Current(slot)
    }
}

impl Drop for Current<'_> {
    fn drop(&mut self) {
        self.0.store(std::ptr::null_mut(), Ordering::Release);
    }
}

/// `redis.call` (`raise`) or `redis.pcall` of the Lua state whose run slot is `current`.
pub fn call_from_lua(
    lua: &Lua,
    current: &AtomicPtr<()>,
    args: MultiValue,
    raise: bool,
) -> mlua::Result<Value> {
    let p = current.load(Ordering::Acquire);
    if p.is_null() {
        return Err(vm::raise(
            lua,
            "ERR redis.call/pcall can only be called inside a script invocation",
        ));
    }
    // SAFETY: `Current::enter` stores a pointer to the `RefCell<Run>` of the run in progress
    // and clears it when `call_in_scope` returns, before that value goes away; callbacks run
    // only while the script runs, on the thread running it (the Lua state is used by one
    // thread at a time, under its mutex), so the pointer is live whenever it is non-null here.
    let run = unsafe { &*(p as *const RefCell<Run>) };
    exec(lua, run, args, raise)
}

/// `redis.acl_check_cmd`: whether the script's caller may run the command (redis
/// `luaRedisAclCheckCmdPermissionsCommand`).
pub fn acl_check_from_lua(
    lua: &Lua,
    current: &AtomicPtr<()>,
    args: MultiValue,
) -> mlua::Result<bool> {
    let p = current.load(Ordering::Acquire);
    if p.is_null() {
        return Err(vm::raise(
            lua,
            "ERR redis.acl_check_cmd can only be called inside a script invocation",
        ));
    }
    let argv = to_argv(lua, args)?;
    // redis `lookupCommand`: the subcommand of a container, arity unchecked.
    let spec = REGISTRY.lookup(&argv[0]).and_then(|(_, spec)| {
        match (spec.subcommands.is_empty(), argv.get(1)) {
            (false, Some(sub)) => REGISTRY.lookup_sub(spec, sub).map(|(_, s)| s),
            _ => Some(spec),
        }
    });
    let Some(spec) = spec else {
        return Err(vm::raise(
            lua,
            "ERR Invalid command passed to redis.acl_check_cmd()",
        ));
    };
    // SAFETY: as in `call_from_lua`: the pointer is live while it is non-null.
    let run = unsafe { &*(p as *const RefCell<Run>) };
    let r = run.borrow();
    Ok(crate::acl::clients::check_client(r.cx.client, spec, &argv).is_ok())
}

fn strings_table(lua: &Lua, items: &[Bytes]) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, s) in items.iter().enumerate() {
        t.raw_set(i + 1, lua.create_string(s)?)?;
    }
    Ok(t)
}

/// How long a script runs before its worker thread hands its other tasks (and the polling
/// of sockets) to another thread, and how often it tries again.
const HAND_OFF_AFTER_MS: i64 = 20;
const HAND_OFF_EVERY_MS: i64 = 200;

/// The hook of every run, each 100000 instructions (redis `luaMaskCountHook`): notices a
/// script running past busy-reply-threshold and a SCRIPT KILL, and keeps the rest of the
/// server served while a script runs long.
pub fn on_hook(
    lua: &Lua,
    state: &super::RunState,
    current: &AtomicPtr<()>,
) -> mlua::Result<VmState> {
    if !state.is_active() {
        return Ok(VmState::Continue);
    }
    lend_to_snapshot(current);
    let elapsed = state.elapsed_ms();
    if elapsed >= state.next_hand_off.load(Ordering::Relaxed) {
        // A long script: let another thread take this worker's queue and poll the sockets
        // (the short sleep gives the runtime time to move them).
        state
            .next_hand_off
            .store(elapsed + HAND_OFF_EVERY_MS, Ordering::Relaxed);
        crate::util::blocking(|| std::thread::sleep(std::time::Duration::from_millis(1)));
    }
    let threshold = state.threshold.load(Ordering::Relaxed);
    if threshold > 0 && !state.timed_out.load(Ordering::Relaxed) && elapsed >= threshold {
        let is_eval = state.is_eval.load(Ordering::Relaxed);
        tracing::warn!(
            "Slow script detected: still in execution after {elapsed} milliseconds. You can try killing the script using the {} command. Script name is: {}.",
            if is_eval { "SCRIPT KILL" } else { "FUNCTION KILL" },
            state.name.lock()
        );
        state.timed_out.store(true, Ordering::Relaxed);
    }
    if state.kill.load(Ordering::Relaxed) {
        tracing::warn!("Lua script killed by user with SCRIPT KILL.");
        // From now on every line fails, so a pcall cannot swallow the kill.
        let _ = lua.set_hook(HookTriggers::EVERY_LINE, |lua, _| {
            Err(vm::raise(
                lua,
                "ERR Script killed by user with SCRIPT KILL...",
            ))
        });
        return Err(vm::raise(
            lua,
            "ERR Script killed by user with SCRIPT KILL...",
        ));
    }
    Ok(VmState::Continue)
}

/// Lets a snapshot waiting for the shards this run holds capture them (see
/// `snapshot::lend`): the hook runs between Lua instructions, outside any `redis.call`.
fn lend_to_snapshot(current: &AtomicPtr<()>) {
    let p = current.load(Ordering::Acquire);
    if p.is_null() {
        return;
    }
    // SAFETY: as in `call_from_lua`: the pointer is live while it is non-null, and the hook
    // runs on the thread running the script.
    let run = unsafe { &*(p as *const RefCell<Run>) };
    let Ok(mut run) = run.try_borrow_mut() else {
        return;
    };
    let server = run.cx.server;
    crate::persistence::snapshot::lend(server, &mut run.cx.db.locked);
}

/// The error reply of a failed script: the error table's text, and where it happened.
fn error_reply(v: &Value, name: &str) -> CmdError {
    let Value::Table(t) = v else {
        return CmdError::err(format_args!(
            "Error running script {name}, execution failure"
        ));
    };
    let text = |k: &str| -> Option<String> {
        match t.raw_get::<Value>(k).ok()? {
            Value::String(s) => Some(s.to_string_lossy()),
            Value::Integer(n) => Some(n.to_string()),
            Value::Number(n) => Some(crate::util::format_g(n, 14)),
            _ => None,
        }
    };
    let mut msg = text("err").unwrap_or_else(|| "ERR unknown error".into());
    if let (Some(source), Some(line)) = (text("source"), text("line")) {
        msg.push_str(&format!(" script: {name}, on {source}:{line}."));
    }
    CmdError::new(msg)
}

/// Lua arguments → a command's argv (redis `luaArgsToRedisArgv`). The arguments share one
/// buffer: two allocations for the whole argv instead of one per argument (and another when a
/// command clones an argument to propagate it).
pub fn to_argv(lua: &Lua, args: MultiValue) -> mlua::Result<Vec<Bytes>> {
    if args.is_empty() {
        return Err(vm::raise(
            lua,
            "ERR Please specify at least one argument for this redis lib call",
        ));
    }
    let mut buf = bytes::BytesMut::with_capacity(64);
    let mut ends = Vec::with_capacity(args.len());
    for a in args {
        match a {
            Value::String(s) => buf.extend_from_slice(&s.as_bytes()),
            Value::Integer(n) => {
                buf.extend_from_slice(crate::util::format_g(n as f64, 17).as_bytes())
            }
            Value::Number(n) => buf.extend_from_slice(crate::util::format_g(n, 17).as_bytes()),
            _ => {
                return Err(vm::raise(
                    lua,
                    "ERR Lua redis lib command arguments must be strings or integers",
                ))
            }
        }
        ends.push(buf.len());
    }
    let mut rest = buf.freeze();
    let mut start = 0;
    let mut argv = Vec::with_capacity(ends.len());
    for end in ends {
        argv.push(rest.split_to(end - start));
        start = end;
    }
    Ok(argv)
}

/// `redis.call` (`raise`: an error reply is raised) and `redis.pcall` (it is returned as an
/// error table): runs one command (redis `luaRedisGenericCommand`).
fn exec(lua: &Lua, run: &RefCell<Run>, args: MultiValue, raise: bool) -> mlua::Result<Value> {
    // `counted`: the error is in the error stats already (a refused or failed command), so
    // the script's reply with it is not counted again (redis `ignore_error_stats_update`).
    let fail = |text: &str, counted: bool| -> mlua::Result<Value> {
        if raise && counted {
            Err(vm::raise_counted(text))
        } else if raise {
            Err(vm::raise(lua, text))
        } else {
            let t = vm::error_table(lua, &format!("-{text}"))?;
            if counted {
                t.raw_set("ignore_error_stats_update", true)?;
            }
            Ok(Value::Table(t))
        }
    };
    let ldb = run.borrow().ldb;
    let argv = match to_argv(lua, args) {
        Ok(a) => a,
        Err(e) => {
            let text = vm::text_of(&e);
            super::ldb::log_error(ldb, pushed_error(&text).as_bytes());
            return fail(&text, false);
        }
    };
    super::ldb::log_command(ldb, &argv);
    let mut guard = run.borrow_mut();
    let r = &mut *guard;
    let (id, spec) = match check(r, &argv) {
        Ok(found) => found,
        Err((id, e)) => {
            let server = r.cx.server;
            server.stats.count_error(&e.0);
            if let Some(id) = id {
                REGISTRY.reject(id);
            }
            drop(guard);
            super::ldb::log_error(ldb, pushed_error(&e.0).as_bytes());
            return fail(&e.0, true);
        }
    };
    if spec.has(spec::WRITE) {
        r.cx.server
            .scripting
            .running
            .wrote
            .store(true, Ordering::Relaxed);
    }
    let cx = &mut *r.cx;
    cx.client.db = r.db;
    cx.db.index = r.db;
    let resp3 = r.opts.resp3.load(Ordering::Relaxed);
    cx.client.resp = if resp3 { Resp::V3 } else { Resp::V2 };
    cx.client.in_exec = true;
    cx.client.in_script = true;
    let effects_before = cx.db.effects.len();
    let reply = dispatch::call_nested(cx, id, spec, &argv, true);
    // redis.set_repl: REPL_AOF (1) and REPL_REPLICA (2) are the effects' targets.
    let repl = r.opts.repl.load(Ordering::Relaxed);
    if repl != crate::keyspace::Effect::ALL {
        let effects = &mut r.cx.db.effects;
        for e in &mut effects[effects_before..] {
            e.target &= repl;
        }
        // None of the earlier effects has an empty target: this drops only REPL_NONE's.
        effects.retain(|e| e.target != 0);
    }
    r.db = r.cx.db.index;
    drop(guard);
    let logged = super::ldb::stepping(ldb).then(|| {
        let mut out = bytes::BytesMut::new();
        crate::protocol::encode::encode(&reply, cx_resp(resp3), &mut out);
        out
    });
    let result = match reply {
        Reply::Error(text) => {
            super::ldb::log_error(ldb, format!("-{text}").as_bytes());
            fail(&text, true)
        }
        reply => super::convert::reply_to_lua(lua, reply, resp3),
    };
    if let Some(out) = logged {
        super::ldb::log_reply(ldb, &out);
    }
    result
}

fn cx_resp(resp3: bool) -> Resp {
    if resp3 {
        Resp::V3
    } else {
        Resp::V2
    }
}

/// An error text as Redis's scripts push it, and log it in a debugging session: its own
/// errors without the `ERR ` code, shared error replies whole.
fn pushed_error(text: &str) -> String {
    match text.strip_prefix("ERR ") {
        Some(rest) => rest.to_string(),
        None => format!("-{text}\r\n"),
    }
}

/// The command `name` calls, from the names a run has called before (a script calls a few
/// commands many times) or from the registry.
fn lookup(
    names: &mut Vec<(Bytes, usize, &'static Spec)>,
    name: &Bytes,
) -> Option<(usize, &'static Spec)> {
    if let Some((_, id, spec)) = names.iter().find(|(n, _, _)| n == name) {
        return Some((*id, spec));
    }
    let found = REGISTRY.lookup(name)?;
    if names.len() < 8 {
        names.push((name.clone(), found.0, found.1));
    }
    Some(found)
}

/// The checks of redis `scriptCall` before a command runs from a script.
fn check(r: &mut Run, argv: &[Bytes]) -> Result<(usize, &'static Spec), (Option<usize>, CmdError)> {
    let unknown = || {
        (
            None,
            CmdError::err("Unknown Redis command called from script"),
        )
    };
    let Some((mut id, mut spec)) = lookup(&mut r.names, &argv[0]) else {
        return Err(unknown());
    };
    if !spec.subcommands.is_empty() && argv.len() >= 2 {
        match REGISTRY.lookup_sub(spec, &argv[1]) {
            Some(found) => (id, spec) = found,
            None => return Err(unknown()),
        }
    }
    let fail = |text: CmdError| Err((Some(id), text));
    if !spec.arity_ok(argv.len()) {
        return fail(CmdError::err(
            "Wrong number of args calling Redis command from script",
        ));
    }
    if spec.has(spec::NOSCRIPT) && !r.cx.server.scripting.allow_noscript.load(Ordering::Relaxed) {
        return fail(CmdError::err(
            "This Redis command is not allowed from script",
        ));
    }
    let server = r.cx.server;
    let hot = &server.hot;
    if server.is_replica()
        && server.repl.link.state() != crate::replication::replica::LinkState::Connected
        && !hot.replica_serve_stale_data.load(Ordering::Relaxed)
        && !spec.has(spec::STALE)
    {
        return fail(CmdError::err(
            "Can not execute the command on a stale replica",
        ));
    }
    if let Err(denied) = crate::acl::clients::check_client(r.cx.client, spec, argv) {
        use crate::acl::clients as acl;
        acl::log_denial(
            server,
            r.cx.client,
            spec,
            (argv, r.cx.argv),
            denied,
            crate::acl::log::Context::Lua,
        );
        return fail(CmdError::err(format_args!(
            "The user executing the script {}",
            acl::script_message(denied.0)
        )));
    }
    if r.read_only && spec.flags & (spec::WRITE | spec::MAY_REPLICATE) != 0 {
        return fail(CmdError::err(
            "Write commands are not allowed from read-only scripts.",
        ));
    }
    let wrote = server.scripting.running.wrote.load(Ordering::Relaxed);
    if spec.has(spec::WRITE) && !wrote {
        if server.is_replica() && hot.replica_read_only.load(Ordering::Relaxed) && !r.from_master {
            return fail(CmdError::fixed(
                "READONLY You can't write against a read only replica.",
            ));
        }
        if dispatch::disk_error(server) {
            return fail(dispatch::MISCONF);
        }
        if let Some(e) = dispatch::aof_error(server) {
            return fail(e);
        }
        if !server.is_replica() && !dispatch::enough_good_replicas(server) {
            return fail(errors::NOREPLICAS);
        }
    }
    if !r.allow_oom && !r.from_master && !wrote && r.pre_oom && spec.has(spec::DENYOOM) {
        return fail(errors::OOM);
    }
    Ok((id, spec))
}
