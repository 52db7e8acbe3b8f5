//! Functions (redis `functions.c`, `function_lua.c`): libraries loaded with FUNCTION LOAD on
//! their own Lua state, the functions they register, and the library set's changes (load,
//! delete, flush, restore with its policies).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use indexmap::IndexMap;
use mlua::{Function, HookTriggers, Lua, MultiValue, Table, Value, VmState};
use parking_lot::Mutex;

use super::vm::{self, Vm};
use super::{flags, Rand48};

/// How long FUNCTION LOAD may run a library's code (redis LOAD_TIMEOUT_MS).
const LOAD_TIMEOUT_MS: u128 = 500;

pub struct FunctionInfo {
    pub name: String,
    pub desc: Option<Bytes>,
    pub flags: u32,
    pub func: Function,
}

pub struct Library {
    pub name: String,
    /// The whole payload, shebang included (FUNCTION LIST WITHCODE, DUMP, RDB).
    pub code: Bytes,
    pub functions: Vec<FunctionInfo>,
}

/// Libraries by name, and the library of each function (names compared case-insensitively,
/// as Redis's function dictionary does).
#[derive(Default)]
pub struct Libraries {
    pub libs: IndexMap<String, Library>,
    by_function: HashMap<String, String>,
}

impl Libraries {
    pub fn function(&self, name: &[u8]) -> Option<&FunctionInfo> {
        let key = String::from_utf8_lossy(name).to_ascii_lowercase();
        let lib = self.by_function.get(&key)?;
        self.libs
            .get(lib)?
            .functions
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(&key))
    }

    pub fn function_count(&self) -> usize {
        self.by_function.len()
    }

    fn link(&mut self, lib: Library) {
        for f in &lib.functions {
            self.by_function
                .insert(f.name.to_ascii_lowercase(), lib.name.clone());
        }
        self.libs.insert(lib.name.clone(), lib);
    }

    fn unlink(&mut self, name: &str) -> Option<Library> {
        let lib = self.libs.shift_remove(name)?;
        for f in &lib.functions {
            self.by_function.remove(&f.name.to_ascii_lowercase());
        }
        Some(lib)
    }

    /// The first function of `lib` whose name another library already uses.
    fn clash<'a>(&self, lib: &'a Library) -> Option<&'a str> {
        lib.functions
            .iter()
            .find(|f| self.by_function.contains_key(&f.name.to_ascii_lowercase()))
            .map(|f| f.name.as_str())
    }

    /// Adds `other`'s libraries (FUNCTION RESTORE APPEND/REPLACE, redis `libraryJoin`):
    /// all or nothing.
    pub fn join(&mut self, other: Libraries, replace: bool) -> Result<(), String> {
        let mut replaced = Vec::new();
        for name in other.libs.keys() {
            if self.libs.contains_key(name) {
                if !replace {
                    self.relink(replaced);
                    return Err(format!("ERR Library {name} already exists"));
                }
                if let Some(old) = self.unlink(name) {
                    replaced.push(old);
                }
            }
        }
        for lib in other.libs.values() {
            if let Some(f) = self.clash(lib) {
                let err = format!("ERR Function {f} already exists");
                self.relink(replaced);
                return Err(err);
            }
        }
        for (_, lib) in other.libs {
            self.link(lib);
        }
        Ok(())
    }

    fn relink(&mut self, libs: Vec<Library>) {
        for lib in libs {
            self.link(lib);
        }
    }
}

/// Deletes library `name` (FUNCTION DELETE).
pub fn remove(libs: &mut Libraries, name: &str) -> bool {
    libs.unlink(name).is_some()
}

/// The functions' Lua state.
pub struct FnVm {
    pub vm: Vm,
    /// The globals of library code, and the metatable whose `__index` is swapped.
    env: Table,
    env_meta: Table,
    /// The real table behind `redis` while a library loads.
    load_redis: Table,
    load_api: Table,
    register_outside: Function,
    pub libraries: Libraries,
}

impl FnVm {
    pub fn new(rand: Arc<Mutex<Rand48>>, state: Arc<super::RunState>) -> mlua::Result<FnVm> {
        let vm = Vm::new(rand, state)?;
        // Libraries have no error handler among their globals, unlike scripts.
        vm.globals
            .raw_set("__redis__err__handler", mlua::Value::Nil)?;
        let lua = &vm.lua;
        let setup: Function = lua
            .load(include_str!("functions.lua"))
            .set_name("=functions")
            .set_environment(vm.globals.clone())
            .into_function()?;
        let (env, env_meta, load_redis, load_api): (Table, Table, Table, Table) =
            setup.call((lua.globals(), vm.redis.clone()))?;
        let register_outside = lua.create_function(|lua, _: MultiValue| -> mlua::Result<()> {
            Err(vm::raise(
                lua,
                "ERR redis.register_function can only be called on FUNCTION LOAD command",
            ))
        })?;
        load_redis.raw_set("register_function", register_outside.clone())?;
        Ok(FnVm {
            vm,
            env,
            env_meta,
            load_redis,
            load_api,
            register_outside,
            libraries: Libraries::default(),
        })
    }

    /// Compiles and runs a library's code, collecting the functions it registers (redis
    /// `functionsCreateWithLibraryCtx` up to linking). `timeout` bounds the run (none for
    /// the master's stream and loading).
    pub fn create(&self, code: &Bytes, timeout: bool) -> Result<Library, String> {
        let (name, body_at) = metadata(code)?;
        if !valid_name(name.as_bytes()) {
            return Err(BAD_NAME.into());
        }
        let lua = &self.vm.lua;
        let chunk = lua
            .load(&code[body_at..])
            .set_name("@user_function")
            .set_mode(mlua::ChunkMode::Text)
            .set_environment(self.env.clone())
            .into_function()
            .map_err(|e| {
                let text = match e {
                    mlua::Error::SyntaxError { message, .. } => message,
                    other => other.to_string(),
                };
                format!("ERR Error compiling function: {text}")
            })?;
        let registered: RefCell<Vec<FunctionInfo>> = RefCell::new(Vec::new());
        let outcome = self.with_load_api(|| {
            lua.scope(|scope| {
                let register = scope.create_function(|lua, args: MultiValue| {
                    let f = register_args(lua, args)?;
                    let mut list = registered.borrow_mut();
                    if !valid_name(f.name.as_bytes()) {
                        return Err(vm::raise(lua, &format!("ERR {BAD_NAME_TEXT}")));
                    }
                    if list.iter().any(|g| g.name == f.name) {
                        return Err(vm::raise(lua, "ERR Function already exists in the library"));
                    }
                    list.push(f);
                    Ok(())
                })?;
                self.load_redis.raw_set("register_function", register)?;
                if timeout {
                    let start = Instant::now();
                    lua.set_hook(
                        HookTriggers::new().every_nth_instruction(100_000),
                        move |lua, _| {
                            if start.elapsed().as_millis() > LOAD_TIMEOUT_MS {
                                let _ = lua.set_hook(HookTriggers::EVERY_LINE, |lua, _| {
                                    Err(vm::raise(lua, "ERR FUNCTION LOAD timeout"))
                                });
                                return Err(vm::raise(lua, "ERR FUNCTION LOAD timeout"));
                            }
                            Ok(VmState::Continue)
                        },
                    )?;
                }
                let r: mlua::Result<MultiValue> = self.vm.runner.call(chunk.clone());
                self.vm.install_run_hook();
                self.load_redis
                    .raw_set("register_function", self.register_outside.clone())?;
                let mut values = r?.into_iter();
                match values.next() {
                    Some(Value::Boolean(true)) => Ok(None),
                    _ => Ok(Some(values.next().unwrap_or(Value::Nil))),
                }
            })
        });
        match outcome {
            Ok(None) => {}
            Ok(Some(err)) => {
                return Err(format!(
                    "ERR Error registering functions: {}",
                    load_error_text(&err)
                ))
            }
            Err(e) => {
                return Err(format!(
                    "ERR Error registering functions: {}",
                    vm::text_of(&e)
                ))
            }
        }
        let functions = registered.into_inner();
        if functions.is_empty() {
            return Err("ERR No functions registered".into());
        }
        Ok(Library {
            name,
            code: code.clone(),
            functions,
        })
    }

    /// Runs `f` with library globals reading from the load-time API.
    fn with_load_api<R>(&self, f: impl FnOnce() -> R) -> R {
        let _ = self.env_meta.raw_set("__index", self.load_api.clone());
        let r = f();
        let _ = self.env_meta.raw_set("__index", self.vm.lua.globals());
        r
    }

    /// FUNCTION LOAD: creates the library and links it, replacing one of the same name when
    /// `replace`. Returns its name.
    pub fn load(&mut self, code: &Bytes, replace: bool, timeout: bool) -> Result<String, String> {
        let (name, _) = metadata(code)?;
        if !valid_name(name.as_bytes()) {
            return Err(BAD_NAME.into());
        }
        if self.libraries.libs.contains_key(&name) && !replace {
            return Err(format!("ERR Library '{name}' already exists"));
        }
        let lib = self.create(code, timeout)?;
        let old = self.libraries.unlink(&name);
        if let Some(f) = self.libraries.clash(&lib) {
            let err = format!("ERR Function {f} already exists");
            if let Some(old) = old {
                self.libraries.link(old);
            }
            return Err(err);
        }
        self.libraries.link(lib);
        Ok(name)
    }

    /// Libraries built from codes into a set of their own (FUNCTION RESTORE), without
    /// touching the loaded ones.
    pub fn create_set(&self, codes: &[Bytes]) -> Result<Libraries, String> {
        let mut set = Libraries::default();
        for code in codes {
            let lib = self.create(code, false)?;
            if set.libs.contains_key(&lib.name) {
                return Err(format!("ERR Library '{}' already exists", lib.name));
            }
            if let Some(f) = set.clash(&lib) {
                return Err(format!("ERR Function {f} already exists"));
            }
            set.link(lib);
        }
        Ok(set)
    }
}

const BAD_NAME_TEXT: &str = "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";
const BAD_NAME: &str = "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

/// Names of libraries and functions: letters, digits and underscores, at least one.
fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_')
}

/// The library name and where the code starts (at the shebang's newline, so lines count
/// from the shebang as in Redis) (redis `functionExtractLibMetaData`).
fn metadata(code: &[u8]) -> Result<(String, usize), String> {
    if !code.starts_with(b"#!") {
        return Err("ERR Missing library metadata".into());
    }
    let Some(end) = memchr::memchr(b'\n', code) else {
        return Err("ERR Invalid library metadata".into());
    };
    let parts = match crate::config::parse::split_args(&code[..end]) {
        Some(p) if !p.is_empty() => p,
        _ => return Err("ERR Invalid library metadata".into()),
    };
    let engine = String::from_utf8_lossy(parts[0].get(2..).unwrap_or_default()).into_owned();
    let mut name = None;
    for part in &parts[1..] {
        if part.len() >= 5 && part[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err(
                    "ERR Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(String::from_utf8_lossy(&part[5..]).into_owned());
            continue;
        }
        return Err(format!(
            "ERR Invalid metadata value given: {}",
            String::from_utf8_lossy(part)
        ));
    }
    let Some(name) = name else {
        return Err("ERR Library name was not given".into());
    };
    if !valid_name(name.as_bytes()) {
        return Err(BAD_NAME.into());
    }
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(format!("ERR Engine '{engine}' not found"));
    }
    Ok((name, end))
}

/// The text a failed library run reports (redis `luaExtractErrorInformation` of a load).
fn load_error_text(v: &Value) -> String {
    match v {
        Value::Table(t) => match t.raw_get::<Value>("err") {
            Ok(Value::String(s)) => s.to_string_lossy(),
            _ => "ERR unknown error".into(),
        },
        Value::String(s) => format!("ERR {}", s.to_string_lossy()),
        Value::Error(e) => vm::text_of(e),
        _ => "ERR unknown error".into(),
    }
}

/// The arguments of `redis.register_function`: `(name, callback)` or a table of named ones.
fn register_args(lua: &Lua, args: MultiValue) -> mlua::Result<FunctionInfo> {
    let fail = |text: &str| vm::raise(lua, &format!("ERR {text}"));
    let args: Vec<Value> = args.into_iter().collect();
    match args.len() {
        1 => {
            let Value::Table(t) = &args[0] else {
                return Err(fail("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments)."));
            };
            let (mut name, mut desc, mut func, mut fl) = (None, None, None, 0);
            for pair in t.pairs::<Value, Value>() {
                let (k, v) = pair?;
                let key =
                    match &k {
                        Value::String(s) => s.to_string_lossy(),
                        Value::Integer(n) => n.to_string(),
                        Value::Number(n) => n.to_string(),
                        _ => return Err(fail(
                            "named argument key given to redis.register_function is not a string",
                        )),
                    };
                match key.to_ascii_lowercase().as_str() {
                    "function_name" => match string_of(lua, &v) {
                        Some(s) => name = Some(s),
                        None => return Err(fail("function_name argument given to redis.register_function must be a string")),
                    },
                    "description" => match string_of(lua, &v) {
                        Some(s) => desc = Some(Bytes::from(s.into_bytes())),
                        None => return Err(fail("description argument given to redis.register_function must be a string")),
                    },
                    "callback" => match v {
                        Value::Function(f) => func = Some(f),
                        _ => return Err(fail("callback argument given to redis.register_function must be a function")),
                    },
                    "flags" => {
                        let Value::Table(list) = v else {
                            return Err(fail("flags argument to redis.register_function must be a table representing function flags"));
                        };
                        fl = read_flags(lua, &list).ok_or_else(|| fail("unknown flag given"))?;
                    }
                    _ => return Err(fail("unknown argument given to redis.register_function")),
                }
            }
            let Some(name) = name else {
                return Err(fail(
                    "redis.register_function must get a function name argument",
                ));
            };
            let Some(func) = func else {
                return Err(fail("redis.register_function must get a callback argument"));
            };
            Ok(FunctionInfo {
                name,
                desc,
                flags: fl,
                func,
            })
        }
        2 => {
            let Some(name) = string_of(lua, &args[0]) else {
                return Err(fail(
                    "first argument to redis.register_function must be a string",
                ));
            };
            let Value::Function(func) = &args[1] else {
                return Err(fail(
                    "second argument to redis.register_function must be a function",
                ));
            };
            Ok(FunctionInfo {
                name,
                desc: None,
                flags: 0,
                func: func.clone(),
            })
        }
        _ => Err(fail("wrong number of arguments to redis.register_function")),
    }
}

/// A Lua string or number as text (`lua_isstring`).
fn string_of(lua: &Lua, v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.to_string_lossy()),
        Value::Integer(_) | Value::Number(_) => lua
            .coerce_string(v.clone())
            .ok()
            .flatten()
            .map(|s| s.to_string_lossy()),
        _ => None,
    }
}

fn read_flags(lua: &Lua, list: &Table) -> Option<u32> {
    let mut out = 0;
    for i in 1.. {
        let v: Value = list.raw_get(i).ok()?;
        if v.is_nil() {
            break;
        }
        let name = string_of(lua, &v)?;
        out |= flags::NAMES
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(&name))?
            .0;
    }
    Some(out)
}
