//! The libraries Redis bundles into its Lua state besides Lua's own: `cjson`, `cmsgpack`,
//! `struct` and `bit`, each a global table (redis `deps/lua/src/lua_*.c`).
//!
//! Redis's versions are C functions that raise errors as plain Lua strings (`luaL_error`,
//! `luaL_argerror`), prefixed with the caller's position (`user_script:1: ...`), so a script's
//! `pcall` gets that string. An mlua callback can only raise a userdata, so each library
//! function is a tiny C closure ([`raise_trampoline`], the one piece of raw Lua API here) around
//! its Rust implementation: the Rust side returns `(FAIL, message, with_position)` instead of
//! raising, and the C closure raises the message as a Lua string, as Redis's C code does. Being a
//! C function, it keeps what Lua knows about its caller even in a tail call (`return
//! cjson.decode(x)`), which a Lua wrapper would lose (the position and the name in "bad argument
//! #1 to 'decode'").

mod bit;
mod cjson;
mod cmsgpack;
mod structlib;

use std::os::raw::c_int;

use mlua::{ffi, Function, Lua, MultiValue, Table, Value};

/// Lua 5.1's `LUAI_MAXCSTACK`: a C function may hold at most this many stack slots
/// (`lua_checkstack` fails beyond it).
pub(crate) const MAX_C_STACK: usize = 8000;

/// Installs the bundled libraries as globals of `lua`.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    let ctx = Exporter {
        fail: lua.create_table()?,
        spread: lua.create_table()?,
        // Taken now: scripts later see a sandboxed globals table.
        next: lua.globals().raw_get("next")?,
    };
    let globals = lua.globals();
    globals.set("cjson", cjson::module(lua, &ctx)?)?;
    globals.set("struct", structlib::module(lua, &ctx)?)?;
    globals.set("cmsgpack", cmsgpack::module(lua, &ctx)?)?;
    globals.set("bit", bit::module(lua, &ctx)?)?;
    Ok(())
}

/// Why a library function failed; turned into the Lua error string Redis's C code raises.
#[derive(Debug)]
pub(crate) enum LibError {
    /// `luaL_argerror(L, narg, msg)`: "bad argument #narg to 'name' (msg)".
    Arg(i32, String),
    /// `luaL_error`: the message, prefixed with the caller's position.
    Msg(String),
    /// An error raised inside Lua itself (no position prefix).
    Raw(String),
    /// A failure of mlua itself (memory), passed on as is.
    Lua(mlua::Error),
}

impl From<mlua::Error> for LibError {
    fn from(e: mlua::Error) -> Self {
        LibError::Lua(e)
    }
}

pub(crate) type LibResult<T> = Result<T, LibError>;

/// Builds library functions with the raising closure described in the module doc.
#[derive(Clone)]
pub(crate) struct Exporter {
    /// First result of an implementation that failed.
    fail: Table,
    /// First result of an implementation returning many values in a table.
    spread: Table,
    /// The base library's `next`.
    pub(crate) next: Function,
}

/// Argument and result lists longer than this travel in a table between the C closure and the
/// Rust side: a C function may take or return nearly `MAX_C_STACK` values (`cmsgpack.pack(
/// unpack(t))`, `cmsgpack.unpack`), more than mlua's reference stack can hold at once.
const SPREAD_OVER: usize = 32;

/// What an implementation returns: a short list of values, or `n` values in `table[1..n]`.
pub(crate) enum Ret {
    List(MultiValue),
    Spread(Table, usize),
}

impl Exporter {
    /// Sets `table[name]` to a Lua function running `f` on the call's arguments.
    pub(crate) fn export<F>(&self, lua: &Lua, table: &Table, name: &str, f: F) -> mlua::Result<()>
    where
        F: Fn(&Lua, Args) -> LibResult<Ret> + Send + 'static,
    {
        let fail = self.fail.clone();
        let spread = self.spread.clone();
        let imp = lua.create_function(move |lua, args: MultiValue| {
            let args = match (args.front(), args.get(1), args.get(2)) {
                (Some(Value::Table(m)), Some(Value::Table(t)), Some(n))
                    if args.len() == 3 && *m == spread =>
                {
                    let n = match n {
                        Value::Integer(i) => *i as usize,
                        _ => 0,
                    };
                    Args::Spread(t.clone(), n)
                }
                _ => Args::List(args.into_iter().collect()),
            };
            let spread_out = |t: Table, n: usize| {
                Ok(MultiValue::from_iter([
                    Value::Table(spread.clone()),
                    Value::Table(t),
                    Value::Integer(n as i64),
                ]))
            };
            match f(lua, args) {
                Ok(Ret::Spread(t, n)) => spread_out(t, n),
                Ok(Ret::List(v)) if v.len() > SPREAD_OVER => {
                    let n = v.len();
                    let t = lua.create_table_with_capacity(n, 0)?;
                    for (i, x) in v.into_iter().enumerate() {
                        t.raw_set(i as i64 + 1, x)?;
                    }
                    spread_out(t, n)
                }
                Ok(Ret::List(v)) => Ok(v),
                Err(err) => {
                    let (msg, with_position) = match err {
                        LibError::Arg(narg, msg) => (arg_error_text(lua, narg, &msg), true),
                        LibError::Msg(msg) => (msg, true),
                        LibError::Raw(msg) => (msg, false),
                        LibError::Lua(e) => return Err(e),
                    };
                    Ok(MultiValue::from_iter([
                        Value::Table(fail.clone()),
                        Value::String(lua.create_string(msg)?),
                        Value::Boolean(with_position),
                    ]))
                }
            }
        })?;
        // SAFETY: `exec_raw` runs the closure in a protected call with `imp` and the two
        // sentinels pushed; `lua_pushcclosure` pops exactly those three as upvalues and pushes
        // the closure.
        let func: Function = unsafe {
            lua.exec_raw((imp, self.fail.clone(), self.spread.clone()), |state| {
                ffi::lua_pushcclosure(state, raise_trampoline, 3);
            })?
        };
        table.raw_set(name, func)
    }
}

/// The C closure around a Rust implementation (upvalue 1) that raises its failures as Lua
/// strings: it calls the implementation with its own arguments and returns its results, unless
/// they are `(FAIL, message, with_position)` (FAIL being upvalue 2), in which case it raises
/// `message`, prefixed with the caller's position when asked (`luaL_error`'s `luaL_where(L, 1)`),
/// or `(SPREAD, table, n)` (upvalue 3), in which case it returns `table[1..n]`. Many arguments
/// are passed the same way, as `(SPREAD, table, n)`.
unsafe extern "C-unwind" fn raise_trampoline(state: *mut ffi::lua_State) -> c_int {
    // No Rust value with a destructor lives in this frame: Lua errors may jump over it.
    let nargs = ffi::lua_gettop(state);
    // Lua's own `lua_checkstack`: mlua's `luaL_checkstack` asks for 20 extra slots.
    if ffi::lua_checkstack(state, 4) == 0 {
        return ffi::luaL_error(state, c"stack overflow".as_ptr());
    }
    ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
    ffi::lua_insert(state, 1);
    if nargs as usize > SPREAD_OVER {
        // impl, args... -> impl, SPREAD, table, n
        ffi::lua_createtable(state, nargs, 0);
        for i in 1..=nargs {
            ffi::lua_pushvalue(state, i + 1);
            ffi::lua_rawseti(state, -2, i as _);
        }
        ffi::lua_replace(state, 2);
        ffi::lua_settop(state, 2);
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(3));
        ffi::lua_insert(state, 2);
        ffi::lua_pushinteger(state, nargs as _);
        ffi::lua_call(state, 3, ffi::LUA_MULTRET);
    } else {
        ffi::lua_call(state, nargs, ffi::LUA_MULTRET);
    }
    let nresults = ffi::lua_gettop(state);
    if nresults == 3 && ffi::lua_rawequal(state, 1, ffi::lua_upvalueindex(2)) != 0 {
        if ffi::lua_toboolean(state, 3) != 0 {
            ffi::luaL_where(state, 1);
            ffi::lua_pushvalue(state, 2);
            ffi::lua_concat(state, 2);
        } else {
            ffi::lua_pushvalue(state, 2);
        }
        ffi::lua_error(state);
    }
    if nresults == 3 && ffi::lua_rawequal(state, 1, ffi::lua_upvalueindex(3)) != 0 {
        let n = ffi::lua_tointeger(state, 3) as c_int;
        ffi::lua_pushvalue(state, 2);
        ffi::lua_replace(state, 1);
        ffi::lua_settop(state, 1);
        if ffi::lua_checkstack(state, n) == 0 {
            return ffi::luaL_error(state, c"stack overflow (too many results)".as_ptr());
        }
        for i in 1..=n {
            ffi::lua_rawgeti(state, 1, i as _);
        }
        ffi::lua_remove(state, 1);
        return n;
    }
    nresults
}

/// `luaL_argerror`'s text, naming the function as its caller called it (level 1 is the C
/// closure the user's code called).
fn arg_error_text(lua: &Lua, narg: i32, msg: &str) -> String {
    let (name, what) = lua
        .inspect_stack(1, |d| {
            let n = d.names();
            (n.name.map(|s| s.into_owned()), n.name_what)
        })
        .unwrap_or((None, None));
    let mut narg = narg;
    if what == Some("method") {
        narg -= 1;
        if narg == 0 {
            return format!(
                "calling '{}' on bad self ({msg})",
                name.as_deref().unwrap_or("?")
            );
        }
    }
    format!(
        "bad argument #{narg} to '{}' ({msg})",
        name.as_deref().unwrap_or("?")
    )
}

/// The arguments of one call, with the `luaL_check*` family over them (1-based indexes).
pub(crate) enum Args {
    List(Vec<Value>),
    /// Many arguments: `table[1..n]`.
    Spread(Table, usize),
}

impl Args {
    /// Pushes a value above the arguments, as some C functions do on their stack.
    pub(crate) fn push(&mut self, v: Value) {
        match self {
            Args::List(vals) => vals.push(v),
            Args::Spread(t, n) => {
                *n += 1;
                let _ = t.raw_set(*n as i64, v);
            }
        }
    }

    /// `lua_gettop`.
    pub(crate) fn len(&self) -> usize {
        match self {
            Args::List(vals) => vals.len(),
            Args::Spread(_, n) => *n,
        }
    }

    /// The argument at `i` (1-based); `Nil` when absent.
    pub(crate) fn get(&self, i: usize) -> Value {
        match self {
            Args::List(vals) => vals.get(i.wrapping_sub(1)).cloned().unwrap_or(Value::Nil),
            Args::Spread(t, n) if i >= 1 && i <= *n => t.raw_get(i as i64).unwrap_or(Value::Nil),
            Args::Spread(..) => Value::Nil,
        }
    }

    /// `lua_isnone`.
    pub(crate) fn is_none(&self, i: usize) -> bool {
        i == 0 || i > self.len()
    }

    /// `lua_isnoneornil`.
    pub(crate) fn is_none_or_nil(&self, i: usize) -> bool {
        matches!(self.get(i), Value::Nil)
    }

    /// `luaL_typename`: "no value" for an absent argument.
    pub(crate) fn type_name(&self, i: usize) -> &'static str {
        if self.is_none(i) {
            "no value"
        } else {
            lua_type_name(&self.get(i))
        }
    }

    fn type_error(&self, i: usize, expected: &str) -> LibError {
        LibError::Arg(
            i as i32,
            format!("{expected} expected, got {}", self.type_name(i)),
        )
    }

    /// `lua_tonumber`: numbers and numeric strings, else `None`.
    pub(crate) fn to_number(&self, lua: &Lua, i: usize) -> LibResult<Option<f64>> {
        to_number(lua, &self.get(i))
    }

    /// `luaL_checknumber`.
    pub(crate) fn check_number(&self, lua: &Lua, i: usize) -> LibResult<f64> {
        match self.to_number(lua, i)? {
            Some(n) => Ok(n),
            None => Err(self.type_error(i, "number")),
        }
    }

    /// `luaL_checkinteger` (a C cast of the number to a 64-bit integer).
    pub(crate) fn check_integer(&self, lua: &Lua, i: usize) -> LibResult<i64> {
        self.check_number(lua, i).map(c_double_to_i64)
    }

    /// `luaL_optinteger`.
    pub(crate) fn opt_integer(&self, lua: &Lua, i: usize, default: i64) -> LibResult<i64> {
        if self.is_none_or_nil(i) {
            Ok(default)
        } else {
            self.check_integer(lua, i)
        }
    }

    /// `luaL_checklstring`: strings, and numbers converted with `%.14g`.
    pub(crate) fn check_bytes(&self, lua: &Lua, i: usize) -> LibResult<Vec<u8>> {
        match &self.get(i) {
            Value::String(s) => Ok(s.as_bytes().to_vec()),
            v @ (Value::Integer(_) | Value::Number(_)) => match lua.coerce_string(v.clone())? {
                Some(s) => Ok(s.as_bytes().to_vec()),
                None => Err(self.type_error(i, "string")),
            },
            _ => Err(self.type_error(i, "string")),
        }
    }
}

/// `lua_tonumber` of one value.
pub(crate) fn to_number(lua: &Lua, v: &Value) -> LibResult<Option<f64>> {
    Ok(match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        Value::String(_) => lua.coerce_number(v.clone())?,
        _ => None,
    })
}

/// Lua 5.1's `lua_typename` of a value.
/// Registry name of the sandbox's map from each protected table's proxy to the table.
pub(crate) const BACKING: &str = "tandem.sandbox.backing";

/// The table a proxy of the sandbox shows (library tables, `_G`), or `t` itself: code that
/// walks a table raw sees what Redis's read-only tables hold.
pub(crate) fn see_through(lua: &Lua, t: &Table) -> Table {
    if t.metatable().is_none() {
        return t.clone();
    }
    lua.named_registry_value::<Table>(BACKING)
        .and_then(|b| b.raw_get::<Option<Table>>(t.clone()))
        .ok()
        .flatten()
        .unwrap_or_else(|| t.clone())
}

pub(crate) fn lua_type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Boolean(_) => "boolean",
        Value::LightUserData(_) | Value::UserData(_) => "userdata",
        Value::Integer(_) | Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Table(_) => "table",
        Value::Function(_) => "function",
        Value::Thread(_) => "thread",
        _ => "userdata",
    }
}

/// A C `(int64_t)d` on x86-64: out-of-range values and NaN give `INT64_MIN`.
pub(crate) fn c_double_to_i64(d: f64) -> i64 {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if (-LIMIT..LIMIT).contains(&d) {
        d as i64
    } else {
        i64::MIN
    }
}

/// A C `(int)d` on x86-64: values whose integer part is out of range, and NaN, give `INT_MIN`.
pub(crate) fn c_double_to_i32(d: f64) -> i32 {
    let t = d.trunc();
    if (-2_147_483_648.0..2_147_483_648.0).contains(&t) {
        t as i32
    } else {
        i32::MIN
    }
}

/// One Lua value as a result.
pub(crate) fn one(v: Value) -> Ret {
    Ret::List(MultiValue::from_iter([v]))
}

/// Several Lua values as a result.
pub(crate) fn list<const N: usize>(v: [Value; N]) -> Ret {
    Ret::List(MultiValue::from_iter(v))
}

#[cfg(test)]
pub(crate) mod test_support {
    use mlua::{Lua, Value};

    /// A fresh Lua state with the libraries registered.
    fn lua() -> Lua {
        let lua = Lua::new();
        if let Err(e) = super::register(&lua) {
            panic!("register failed: {e}");
        }
        lua
    }

    /// What `redis-cli` prints for a script's return value: strings as they are, numbers as
    /// the integers Redis turns them into, nil and false as an empty line; newlines as `\n`.
    fn printed(v: &Value) -> String {
        let s = match v {
            Value::String(s) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
            Value::Integer(i) => i.to_string(),
            Value::Number(n) => super::c_double_to_i64(*n).to_string(),
            Value::Boolean(true) => "1".to_string(),
            Value::Nil | Value::Boolean(false) => String::new(),
            other => format!("{other:?}"),
        };
        s.replace('\n', "\\n")
    }

    /// Runs each script in a fresh state (as after `SCRIPT FLUSH`) as `@user_script`, and
    /// checks what it returns against what real Redis returned; lists every mismatch.
    pub(crate) fn run_cases(cases: &[(&str, &str)]) {
        let mut bad = Vec::new();
        for (script, expected) in cases {
            let lua = lua();
            let got = match lua.load(*script).set_name("@user_script").eval::<Value>() {
                Ok(v) => printed(&v),
                Err(e) => format!("ERR {e}"),
            };
            if got != *expected {
                bad.push(format!("{script}\n  redis: {expected}\n  ours:  {got}"));
            }
        }
        assert!(
            bad.is_empty(),
            "{} mismatches:\n{}",
            bad.len(),
            bad.join("\n")
        );
    }
}
