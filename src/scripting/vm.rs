//! The Lua state: created once with Redis's libraries and sandbox (redis `scriptingInit`),
//! the script cache (SHA1 → compiled function), and the error handler that locates errors.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use mlua::{ChunkMode, Function, Lua, LuaOptions, MultiValue, StdLib, Table, Value, Variadic};
use parking_lot::Mutex;

use super::{flags, Rand48};

/// Chunk names of our own Lua code: frames there are never blamed for an error.
pub(crate) const SANDBOX_CHUNK: &str = "=sandbox";

/// A cached script (redis `luaScript`).
pub struct Script {
    pub body: Bytes,
    /// Shebang flags (`flags::*`), `EVAL_COMPAT` without a shebang.
    pub flags: u32,
    /// The compiled function, held in the Lua registry: an mlua `Function` handle takes a
    /// slot of a stack limited to 8,000, which 8,000 cached scripts exhausted (a panic).
    pub func: mlua::RegistryKey,
}

/// What a running script chose with redis.setresp and redis.set_repl.
#[derive(Default)]
pub struct RunOptions {
    pub resp3: std::sync::atomic::AtomicBool,
    /// 1 AOF, 2 replicas.
    pub repl: std::sync::atomic::AtomicU8,
}

pub struct Vm {
    pub lua: Lua,
    /// The running script as other clients see it (shared with the other Lua state).
    pub state: Arc<super::RunState>,
    pub options: Arc<RunOptions>,
    /// Scripts run since the last incremental GC step (Redis steps every 50 runs).
    pub runs: std::sync::atomic::AtomicU32,
    /// The real globals table (scripts see a read-only proxy of it).
    pub globals: Table,
    /// Filled with the run's callbacks while a script runs, empty otherwise.
    pub bridge: Table,
    /// `xpcall` with arguments and the error handler.
    pub runner: Function,
    /// The real `redis` table: `call` and `pcall` are set in it for each run.
    pub redis: Table,
    /// The run `redis.call`/`redis.pcall` serve, null outside a run (see `run::Current`).
    pub current: Arc<std::sync::atomic::AtomicPtr<()>>,
    pub scripts: HashMap<String, Script>,
    /// Bytes of cached scripts' bodies and names (INFO used_memory_scripts).
    pub scripts_mem: usize,
    /// The debugging session of the running script (SCRIPT DEBUG), if any.
    pub ldb: super::ldb::Shared,
}

impl Vm {
    pub fn new(rand: Arc<Mutex<Rand48>>, state: Arc<super::RunState>) -> mlua::Result<Vm> {
        let lua = Lua::new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH,
            LuaOptions::default(),
        )?;
        let globals = lua.globals();
        let redis = lua.create_table()?;
        register_api(&lua, &redis)?;
        let current = Arc::new(std::sync::atomic::AtomicPtr::new(std::ptr::null_mut()));
        let c = current.clone();
        redis.raw_set(
            "call",
            lua.create_function(move |lua, args: MultiValue| {
                super::run::call_from_lua(lua, &c, args, true)
            })?,
        )?;
        let c = current.clone();
        redis.raw_set(
            "pcall",
            lua.create_function(move |lua, args: MultiValue| {
                super::run::call_from_lua(lua, &c, args, false)
            })?,
        )?;
        let c = current.clone();
        redis.raw_set(
            "acl_check_cmd",
            lua.create_function(move |lua, argv: MultiValue| {
                super::run::acl_check_from_lua(lua, &c, argv)
            })?,
        )?;
        globals.raw_set("redis", redis.clone())?;
        super::libs::register(&lua)?;
        let bridge = lua.create_table()?;
        let options = Arc::new(RunOptions::default());
        let o = options.clone();
        bridge.raw_set(
            "setresp",
            lua.create_function(move |_, v: i64| {
                o.resp3.store(v == 3, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            })?,
        )?;
        let o = options.clone();
        bridge.raw_set(
            "set_repl",
            lua.create_function(move |_, v: i64| {
                o.repl.store(v as u8, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            })?,
        )?;

        let ldb = super::ldb::Shared::default();
        let l = ldb.clone();
        bridge.raw_set(
            "breakpoint",
            lua.create_function(move |_, ()| Ok(super::ldb::breakpoint(&l)))?,
        )?;
        let l = ldb.clone();
        bridge.raw_set(
            "debug",
            lua.create_function(move |_, args: MultiValue| {
                super::ldb::debug(&l, &args);
                Ok(())
            })?,
        )?;
        let rust = lua.create_table()?;
        let r = rand.clone();
        rust.raw_set(
            "rand",
            lua.create_function(move |_, ()| Ok(r.lock().next_f64()))?,
        )?;
        rust.raw_set(
            "srand",
            lua.create_function(move |_, seed: f64| {
                rand.lock().seed(seed as i64 as i32);
                Ok(())
            })?,
        )?;
        rust.raw_set(
            "errtext",
            lua.create_function(|_, v: Value| {
                Ok(match v {
                    Value::Error(e) => Some(text_of(&e)),
                    _ => None,
                })
            })?,
        )?;
        let sandbox: Function = lua
            .load(include_str!("sandbox.lua"))
            .set_name(SANDBOX_CHUNK)
            .into_function()?;
        let proxy: Table = sandbox.call((globals.clone(), bridge.clone(), rust.clone()))?;
        lua.set_globals(proxy.clone())?;
        let backing: Table = rust.raw_get("backing")?;
        lua.set_named_registry_value(super::libs::BACKING, backing)?;
        let handler = lua.create_function(error_handler)?;
        // Redis's error handler is a global function of scripts (not of function libraries,
        // which have globals of their own).
        globals.raw_set("__redis__err__handler", handler.clone())?;
        let runner: Function = lua
            .load(
                "local handler = ...\n\
                 return function(f, ...)\n\
                   local n = select('#', ...)\n\
                   if n == 0 then return xpcall(f, handler) end\n\
                   local args = {...}\n\
                   return xpcall(function() return f(unpack(args, 1, n)) end, handler)\n\
                 end",
            )
            .set_name(SANDBOX_CHUNK)
            .set_environment(globals.clone())
            .call(handler)?;
        let vm = Vm {
            lua,
            state,
            options,
            runs: Default::default(),
            globals,
            bridge,
            runner,
            redis,
            current,
            scripts: HashMap::new(),
            scripts_mem: 0,
            ldb,
        };
        vm.install_run_hook();
        // mlua sets up its callback machinery on the first call into Rust, using Lua stack
        // slots; done here, a first redis.call with thousands of arguments (close to Lua's
        // 8000-slot limit, which Redis accepts) does not run out of slots.
        vm.lua.scope(|scope| {
            let probe = scope.create_function(|_, args: MultiValue| Ok(args.len()))?;
            probe.call::<usize>(())
        })?;
        Ok(vm)
    }

    /// Installs the hook every run goes through (see `run::on_hook`).
    pub fn install_run_hook(&self) {
        let state = self.state.clone();
        let current = self.current.clone();
        let _ = self.lua.set_hook(
            mlua::HookTriggers::new().every_nth_instruction(100_000),
            move |lua, _| super::run::on_hook(lua, &state, &current),
        );
    }

    /// Compiles user code as a function of the sandbox (`@user_script`, `@user_function`).
    pub fn compile(&self, code: &[u8], chunk: &str) -> Result<Function, String> {
        let env: Table = self.lua.globals();
        self.lua
            .load(code)
            .set_name(chunk)
            .set_mode(ChunkMode::Text)
            .set_environment(env)
            .into_function()
            .map_err(|e| match e {
                mlua::Error::SyntaxError { message, .. } => message,
                other => other.to_string(),
            })
    }

    /// The cached script `sha`, compiling and caching `body` if given and not there yet
    /// (redis `luaCreateFunction`). Errors are the reply text.
    /// Answers the compiled function and the script's flags.
    pub fn script(&mut self, sha: &str, body: Option<&Bytes>) -> Result<(Function, u32), String> {
        if !self.scripts.contains_key(sha) {
            let Some(body) = body else {
                return Err("NOSCRIPT No matching script. Please use EVAL.".into());
            };
            let (flags, shebang_len) = flags::from_shebang(body)?;
            let func = self
                .compile(&body[shebang_len..], "@user_script")
                .map_err(|e| format!("ERR Error compiling script (new function): {e}"))?;
            let func = self
                .lua
                .create_registry_value(func)
                .map_err(|e| format!("ERR Error compiling script (new function): {e}"))?;
            self.scripts_mem += sha.len() + body.len();
            self.scripts.insert(
                sha.to_string(),
                Script {
                    // A copy: the argument is a slice of the client's read buffer, which a
                    // cached script would keep alive.
                    body: Bytes::copy_from_slice(body),
                    flags,
                    func,
                },
            );
        }
        let script = self.scripts.get(sha).ok_or_else(String::new)?;
        let func = self
            .lua
            .registry_value(&script.func)
            .map_err(|e| format!("ERR {e}"))?;
        Ok((func, script.flags))
    }
}

/// Where an error happened: the first frame above the handler that is user code (redis's
/// `__redis__err__handler` looks at level 2, or 3 when level 2 is a C function; our own
/// wrappers such as `redis.call` are Lua code, so they are skipped too).
fn error_handler(lua: &Lua, err: Value) -> mlua::Result<Table> {
    let t = match err {
        Value::Table(t) => t,
        Value::Error(e) => {
            let t = lua.create_table()?;
            t.raw_set("err", text_of(&e))?;
            if is_counted(&e) {
                t.raw_set("ignore_error_stats_update", true)?;
            }
            t
        }
        other => {
            let text = match &other {
                Value::String(s) => s.to_string_lossy(),
                Value::Number(n) => crate::util::format_g(*n, 14),
                Value::Integer(n) => n.to_string(),
                Value::UserData(_) => other.to_string().unwrap_or_default(),
                Value::Nil => "nil".to_string(),
                v => v.to_string().unwrap_or_default(),
            };
            let t = lua.create_table()?;
            t.raw_set("err", format!("ERR {text}"))?;
            t
        }
    };
    for level in 1..12 {
        let frame = lua.inspect_stack(level, |d| {
            let s = d.source();
            (
                s.what,
                s.source.map(|c| c.into_owned()).unwrap_or_default(),
                d.current_line().map_or(-1, |n| n as i64),
            )
        });
        let Some((what, source, line)) = frame else {
            break;
        };
        if what == "C" || what == "tail" || source == SANDBOX_CHUNK || source == "=(tail call)" {
            continue;
        }
        t.raw_set("source", source)?;
        t.raw_set("line", line)?;
        break;
    }
    Ok(t)
}

/// The parts of the `redis` table that need no running script (the rest is in sandbox.lua).
fn register_api(lua: &Lua, redis: &Table) -> mlua::Result<()> {
    redis.raw_set(
        "sha1hex",
        lua.create_function(|lua, args: Variadic<Value>| {
            if args.len() != 1 {
                return Err(raise(lua, "ERR wrong number of arguments"));
            }
            let bytes = match &args[0] {
                Value::String(s) => s.as_bytes().to_vec(),
                Value::Number(_) | Value::Integer(_) => lua
                    .coerce_string(args[0].clone())?
                    .map(|s| s.as_bytes().to_vec())
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            Ok(super::sha1hex(&bytes))
        })?,
    )?;
    redis.raw_set(
        "error_reply",
        lua.create_function(|lua, args: Variadic<Value>| match args.first() {
            Some(Value::String(s)) if args.len() == 1 => {
                let text = s.to_string_lossy();
                let text = text.strip_prefix('-').unwrap_or(&text);
                error_table(lua, &format!("-{text}"))
            }
            _ => error_table(lua, "-ERR wrong number or type of arguments"),
        })?,
    )?;
    redis.raw_set(
        "status_reply",
        lua.create_function(|lua, args: Variadic<Value>| match args.first() {
            Some(Value::String(s)) if args.len() == 1 => {
                let t = lua.create_table()?;
                t.raw_set("ok", s.clone())?;
                Ok(t)
            }
            _ => error_table(lua, "-ERR wrong number or type of arguments"),
        })?,
    )?;
    redis.raw_set("log", lua.create_function(log)?)?;
    for (name, level) in [
        ("LOG_DEBUG", 0),
        ("LOG_VERBOSE", 1),
        ("LOG_NOTICE", 2),
        ("LOG_WARNING", 3),
    ] {
        redis.raw_set(name, level)?;
    }
    for (name, v) in [
        ("REPL_NONE", 0),
        ("REPL_AOF", 1),
        ("REPL_SLAVE", 2),
        ("REPL_REPLICA", 2),
        ("REPL_ALL", 3),
    ] {
        redis.raw_set(name, v)?;
    }
    redis.raw_set("REDIS_VERSION_NUM", super::VERSION_NUM)?;
    redis.raw_set("REDIS_VERSION", crate::server::REDIS_VERSION)?;
    Ok(())
}

/// `redis.log(level, ...)` into the server log.
fn log(lua: &Lua, args: Variadic<Value>) -> mlua::Result<()> {
    if args.len() < 2 {
        return Err(raise(
            lua,
            "ERR redis.log() requires two arguments or more.",
        ));
    }
    let level = match &args[0] {
        Value::Integer(n) => *n as f64,
        Value::Number(n) => *n,
        Value::String(s) => match s.to_str().ok().and_then(|s| s.trim().parse::<f64>().ok()) {
            Some(n) => n,
            None => {
                return Err(raise(
                    lua,
                    "ERR First argument must be a number (log level).",
                ))
            }
        },
        _ => {
            return Err(raise(
                lua,
                "ERR First argument must be a number (log level).",
            ))
        }
    } as i64;
    if !(0..=3).contains(&level) {
        return Err(raise(lua, "ERR Invalid debug level."));
    }
    let mut text = String::new();
    for (i, a) in args.iter().skip(1).enumerate() {
        let piece = match a {
            Value::String(s) => s.to_string_lossy(),
            Value::Integer(_) | Value::Number(_) => lua
                .coerce_string(a.clone())?
                .map(|s| s.to_string_lossy())
                .unwrap_or_default(),
            _ => continue,
        };
        if i > 0 {
            text.push(' ');
        }
        text.push_str(&piece);
    }
    match level {
        0 => tracing::trace!("{text}"),
        1 => tracing::debug!("{text}"),
        2 => tracing::info!("{text}"),
        _ => tracing::warn!("{text}"),
    }
    Ok(())
}

/// An error table `{err = "CODE message"}` from a reply text, as redis `luaPushErrorBuff`.
pub fn error_table(lua: &Lua, text: &str) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("err", error_text(text))?;
    Ok(t)
}

/// `-CODE msg` → `CODE msg`; `-msg` or `msg` → `ERR msg`; trailing CR/LF trimmed.
pub fn error_text(text: &str) -> String {
    let (code, msg) = match text.strip_prefix('-') {
        Some(rest) => match rest.split_once(' ') {
            Some((code, msg)) => (code, msg),
            None => ("ERR", rest),
        },
        None => ("ERR", text),
    };
    format!("{code} {}", msg.trim_matches(['\r', '\n']))
}

/// A Lua error for a Redis error text (`ERR ...`), raised from Rust; the error handler turns it
/// into an error table.
pub fn raise(_lua: &Lua, text: &str) -> mlua::Error {
    mlua::Error::external(TableError(text.to_string()))
}

/// `raise` for the error of a command run by `redis.call`, counted in the error stats
/// already: the script's error reply is not counted again.
pub fn raise_counted(text: &str) -> mlua::Error {
    mlua::Error::external(CountedError(text.to_string()))
}

fn is_counted(e: &mlua::Error) -> bool {
    match e {
        mlua::Error::CallbackError { cause, .. } => is_counted(cause),
        mlua::Error::ExternalError(inner) => inner.downcast_ref::<CountedError>().is_some(),
        _ => false,
    }
}

/// The error text a Rust error stands for: its `TableError`, or `ERR <description>`.
pub fn text_of(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => text_of(cause),
        mlua::Error::ExternalError(inner) => match inner.downcast_ref::<TableError>() {
            Some(t) => t.0.clone(),
            None => match inner.downcast_ref::<CountedError>() {
                Some(t) => t.0.clone(),
                None => format!("ERR {inner}"),
            },
        },
        mlua::Error::RuntimeError(s) => format!("ERR {s}"),
        other => format!("ERR {other}"),
    }
}

/// An error text carried through Lua as a Rust error.
#[derive(Debug)]
pub struct TableError(pub String);

impl std::fmt::Display for TableError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TableError {}

/// A `TableError` whose error is counted in the error stats already.
#[derive(Debug)]
pub struct CountedError(pub String);

impl std::fmt::Display for CountedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CountedError {}
