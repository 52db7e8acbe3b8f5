//! `cmsgpack`: lua-cmsgpack 0.4.0 as Redis bundles it (redis `deps/lua/src/lua_cmsgpack.c`):
//! `pack` (each argument encoded, concatenated), `unpack`, `unpack_one`, `unpack_limit`.

use mlua::{Lua, Table, Value};

use super::{c_double_to_i64, one, Args, Exporter, LibError, LibResult, Ret, MAX_C_STACK};

/// Tables nested deeper than this encode as nil (`LUACMSGPACK_MAX_NESTING`).
const MAX_NESTING: usize = 16;

/// `cmsgpack` module table.
pub(crate) fn module(lua: &Lua, ex: &Exporter) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    ex.export(lua, &t, "pack", pack)?;
    ex.export(lua, &t, "unpack", |lua, a| {
        let top = a.len();
        unpack_full(lua, &a, 0, 0, top)
    })?;
    ex.export(lua, &t, "unpack_one", |lua, a| {
        let offset = a.opt_integer(lua, 2, 0)?;
        unpack_full(lua, &a, 1, offset, 1)
    })?;
    ex.export(lua, &t, "unpack_limit", |lua, a| {
        let limit = a.check_integer(lua, 2)?;
        let offset = a.opt_integer(lua, 3, 0)?;
        unpack_full(lua, &a, limit, offset, 1)
    })?;
    t.raw_set("_NAME", "cmsgpack")?;
    t.raw_set("_VERSION", "lua-cmsgpack 0.4.0")?;
    t.raw_set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    t.raw_set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    Ok(t)
}

/// `mp_pack`.
fn pack(lua: &Lua, a: Args) -> LibResult<Ret> {
    let nargs = a.len();
    if nargs == 0 {
        return Err(LibError::Arg(0, "MessagePack pack needs input.".into()));
    }
    // `lua_checkstack(L, nargs)` with the arguments already on the stack.
    if nargs * 2 > MAX_C_STACK {
        return Err(LibError::Arg(
            0,
            "Too many arguments for MessagePack pack.".into(),
        ));
    }
    let mut out = Vec::new();
    for i in 1..=nargs {
        // Each argument is copied to the top, above the encodings of the previous ones.
        let top = nargs + i - 1;
        check_stack(top, 1, "in function mp_check")?;
        encode(lua, &mut out, &a.get(i), 0, top + 1)?;
    }
    Ok(one(Value::String(lua.create_string(&out)?)))
}

/// `luaL_checkstack(L, n, what)` for a C function using `top` stack slots.
fn check_stack(top: usize, n: usize, what: &str) -> LibResult<()> {
    if top + n > MAX_C_STACK {
        return Err(LibError::Msg(format!("stack overflow ({what})")));
    }
    Ok(())
}

/// `mp_encode_lua_type`: `v`, at nesting `level`, sits at stack height `top`.
fn encode(lua: &Lua, out: &mut Vec<u8>, v: &Value, level: usize, top: usize) -> LibResult<()> {
    match v {
        Value::String(s) => encode_bytes(out, &s.as_bytes()),
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(i) => encode_number(out, *i as f64),
        Value::Number(n) => encode_number(out, *n),
        Value::Table(t) if level < MAX_NESTING => {
            encode_table(lua, out, &super::see_through(lua, t), level, top)?
        }
        _ => out.push(0xc0),
    }
    Ok(())
}

fn encode_bytes(out: &mut Vec<u8>, s: &[u8]) {
    let len = s.len();
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

/// A number is an integer when a C cast to `int64_t` keeps it, else a float when a C `float`
/// keeps it, else a double.
fn encode_number(out: &mut Vec<u8>, n: f64) {
    if !n.is_infinite() && c_double_to_i64(n) as f64 == n {
        encode_int(out, c_double_to_i64(n));
    } else if f64::from(n as f32) == n {
        out.push(0xca);
        out.extend_from_slice(&(n as f32).to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// `table_is_an_array`: every key a positive number that a C `int` holds exactly, and keys
/// 1..n all present.
fn is_array(t: &Table) -> LibResult<bool> {
    let mut count: i64 = 0;
    let mut max: i64 = 0;
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        let n = match k {
            Value::Integer(i) => i as f64,
            Value::Number(n) => n,
            _ => return Ok(false),
        };
        if n <= 0.0 || n.is_nan() || n.is_infinite() || n.trunc() != n || n > f64::from(i32::MAX) {
            return Ok(false);
        }
        max = max.max(n as i64);
        count += 1;
    }
    Ok(max == count)
}

fn encode_table(
    lua: &Lua,
    out: &mut Vec<u8>,
    t: &Table,
    level: usize,
    top: usize,
) -> LibResult<()> {
    check_stack(top, 2, "in function table_is_an_array")?;
    if is_array(t)? {
        let len = t.raw_len();
        encode_header(out, len as u64, 0x90, 0xdc, 0xdd);
        check_stack(top, 1, "in function mp_encode_lua_table_as_array")?;
        for j in 1..=len {
            // `lua_gettable`: metamethods apply.
            let v: Value = t.get(j)?;
            encode(lua, out, &v, level + 1, top + 1)?;
        }
    } else {
        check_stack(top, 3, "in function mp_encode_lua_table_as_map")?;
        let len = t.pairs::<Value, Value>().count();
        encode_header(out, len as u64, 0x80, 0xde, 0xdf);
        for pair in t.pairs::<Value, Value>() {
            let (k, v) = pair?;
            // Stack: .., key, value, copy of the key.
            encode(lua, out, &k, level + 1, top + 3)?;
            encode(lua, out, &v, level + 1, top + 2)?;
        }
    }
    Ok(())
}

/// An array or map header: `fix` form below 16 entries, else 16- or 32-bit length.
fn encode_header(out: &mut Vec<u8>, n: u64, fix: u8, b16: u8, b32: u8) {
    if n <= 15 {
        out.push(fix | n as u8);
    } else if n <= 0xffff {
        out.push(b16);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(b32);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

/// Why decoding stopped (`MP_CUR_ERROR_*`), or a Lua-level error.
enum DecodeError {
    Eof,
    BadFormat,
    Lib(LibError),
}

impl From<mlua::Error> for DecodeError {
    fn from(e: mlua::Error) -> Self {
        DecodeError::Lib(LibError::Lua(e))
    }
}

/// What a value's first bytes say it is.
enum Item {
    Value(Value),
    Array(usize),
    Map(usize),
}

/// A table being filled: an array with its next index and the entries left, or a map with the
/// pairs left and whether its pending key is read.
enum Open {
    Array { next: i64, left: usize },
    Map { left: usize, have_key: bool },
}

/// The input being decoded and the Lua stack slots the C decoder would be using.
struct Cursor<'a> {
    lua: &'a Lua,
    data: &'a [u8],
    pos: usize,
    top: usize,
    /// The open tables by depth, and the pending map keys, kept in Lua (nesting may go
    /// thousands deep, more than mlua's reference stack holds).
    tables: Table,
    keys: Table,
}

const TOO_MANY: &str = "too many return values at once; use unpack_one or unpack_limit instead.";

impl Cursor<'_> {
    fn need(&self, n: usize) -> Result<(), DecodeError> {
        if self.data.len() - self.pos < n {
            Err(DecodeError::Eof)
        } else {
            Ok(())
        }
    }

    fn byte(&self, i: usize) -> u8 {
        self.data.get(self.pos + i).copied().unwrap_or(0)
    }

    fn be(&self, from: usize, n: usize) -> u64 {
        (0..n).fold(0u64, |acc, i| (acc << 8) | u64::from(self.byte(from + i)))
    }

    /// `luaL_checkstack(L, 1, msg)` against the C function's stack limit.
    fn check_stack(&self, msg: &str) -> Result<(), DecodeError> {
        if self.top + 1 > MAX_C_STACK {
            return Err(DecodeError::Lib(LibError::Msg(format!(
                "stack overflow ({msg})"
            ))));
        }
        Ok(())
    }

    fn string(&mut self, skip: usize, len: usize) -> Result<Item, DecodeError> {
        self.need(skip + len)?;
        let s = self
            .lua
            .create_string(&self.data[self.pos + skip..self.pos + skip + len])?;
        self.pos += skip + len;
        Ok(Item::Value(Value::String(s)))
    }

    /// The start of one value (`mp_decode_to_lua_type`'s switch): a complete value, or the
    /// size of an array or map whose entries follow.
    fn item(&mut self) -> Result<Item, DecodeError> {
        self.need(1)?;
        self.check_stack(TOO_MANY)?;
        let c = self.byte(0);
        let (v, used) = match c {
            0xcc => {
                self.need(2)?;
                (int(i64::from(self.byte(1))), 2)
            }
            0xd0 => {
                self.need(2)?;
                (int(i64::from(self.byte(1) as i8)), 2)
            }
            0xcd => {
                self.need(3)?;
                (int(self.be(1, 2) as i64), 3)
            }
            0xd1 => {
                self.need(3)?;
                (int(i64::from(self.be(1, 2) as u16 as i16)), 3)
            }
            0xce => {
                self.need(5)?;
                (int(self.be(1, 4) as i64), 5)
            }
            0xd2 => {
                self.need(5)?;
                (int(i64::from(self.be(1, 4) as u32 as i32)), 5)
            }
            // A uint 64 goes through lua_Integer: above 2^63 it wraps negative.
            0xcf | 0xd3 => {
                self.need(9)?;
                (int(self.be(1, 8) as i64), 9)
            }
            0xc0 => (Value::Nil, 1),
            0xc3 => (Value::Boolean(true), 1),
            0xc2 => (Value::Boolean(false), 1),
            0xca => {
                self.need(5)?;
                let f = f32::from_bits(self.be(1, 4) as u32);
                (Value::Number(f64::from(f)), 5)
            }
            0xcb => {
                self.need(9)?;
                (Value::Number(f64::from_bits(self.be(1, 8))), 9)
            }
            0xd9 => {
                self.need(2)?;
                let len = usize::from(self.byte(1));
                return self.string(2, len);
            }
            0xda => {
                self.need(3)?;
                let len = self.be(1, 2) as usize;
                return self.string(3, len);
            }
            0xdb => {
                self.need(5)?;
                let len = self.be(1, 4) as usize;
                self.pos += 5;
                return self.string(0, len);
            }
            0xdc | 0xde => {
                self.need(3)?;
                let len = self.be(1, 2) as usize;
                self.pos += 3;
                return Ok(if c == 0xdc {
                    Item::Array(len)
                } else {
                    Item::Map(len)
                });
            }
            0xdd | 0xdf => {
                self.need(5)?;
                let len = self.be(1, 4) as usize;
                self.pos += 5;
                return Ok(if c == 0xdd {
                    Item::Array(len)
                } else {
                    Item::Map(len)
                });
            }
            _ if c & 0x80 == 0 => (int(i64::from(c)), 1),
            _ if c & 0xe0 == 0xe0 => (int(i64::from(c as i8)), 1),
            _ if c & 0xe0 == 0xa0 => return self.string(1, usize::from(c & 0x1f)),
            _ if c & 0xf0 == 0x90 => {
                self.pos += 1;
                return Ok(Item::Array(usize::from(c & 0xf)));
            }
            _ if c & 0xf0 == 0x80 => {
                self.pos += 1;
                return Ok(Item::Map(usize::from(c & 0xf)));
            }
            _ => return Err(DecodeError::BadFormat),
        };
        self.pos += used;
        Ok(Item::Value(v))
    }

    /// One complete value (`mp_decode_to_lua_type` with its recursion into arrays and maps,
    /// here with an explicit stack). `self.top` counts the stack slots below the value.
    fn value(&mut self) -> Result<Value, DecodeError> {
        let mut open: Vec<Open> = Vec::new();
        // The innermost open table and, when it is a map, its pending key (the others wait in
        // Lua).
        let mut cur: Option<Table> = None;
        let mut key = Value::Nil;
        loop {
            let mut v = match self.item()? {
                Item::Value(v) => v,
                Item::Array(len) => {
                    let t = self.lua.create_table()?;
                    self.top += 1;
                    self.check_stack("in function mp_decode_to_lua_array")?;
                    if len > 0 {
                        // A map waiting for this table as a value keeps its key in Lua.
                        if let Some(Open::Map { have_key: true, .. }) = open.last() {
                            let k = std::mem::replace(&mut key, Value::Nil);
                            self.keys.raw_set(open.len() as i64, k)?;
                        }
                        self.tables.raw_set(open.len() as i64 + 1, t.clone())?;
                        cur = Some(t);
                        open.push(Open::Array { next: 1, left: len });
                        // The index sits below the element.
                        self.top += 1;
                        continue;
                    }
                    self.top -= 1;
                    Value::Table(t)
                }
                Item::Map(len) => {
                    let t = self.lua.create_table()?;
                    self.top += 1;
                    if len > 0 {
                        // A map waiting for this table as a value keeps its key in Lua.
                        if let Some(Open::Map { have_key: true, .. }) = open.last() {
                            let k = std::mem::replace(&mut key, Value::Nil);
                            self.keys.raw_set(open.len() as i64, k)?;
                        }
                        self.tables.raw_set(open.len() as i64 + 1, t.clone())?;
                        cur = Some(t);
                        open.push(Open::Map {
                            left: len,
                            have_key: false,
                        });
                        continue;
                    }
                    self.top -= 1;
                    Value::Table(t)
                }
            };
            // Store the value in its table; tables that are complete become values in turn.
            loop {
                let depth = open.len() as i64;
                match open.last_mut() {
                    None => return Ok(v),
                    Some(Open::Array { next, left }) => {
                        // Always set while a table is open.
                        let Some(t) = &cur else { return Ok(Value::Nil) };
                        t.raw_set(*next, v)?;
                        *next += 1;
                        *left -= 1;
                        if *left > 0 {
                            break;
                        }
                        // The last index is popped, then the table is the value.
                        self.top -= 2;
                    }
                    Some(Open::Map { left, have_key }) => {
                        if !*have_key {
                            key = v;
                            *have_key = true;
                            self.top += 1;
                            break;
                        }
                        let key = std::mem::replace(&mut key, Value::Nil);
                        // `lua_settable` with a nil or NaN key raises inside the C function.
                        match &key {
                            Value::Nil => {
                                return Err(DecodeError::Lib(LibError::Raw(
                                    "table index is nil".into(),
                                )))
                            }
                            Value::Number(n) if n.is_nan() => {
                                return Err(DecodeError::Lib(LibError::Raw(
                                    "table index is NaN".into(),
                                )))
                            }
                            _ => {}
                        }
                        // Always set while a table is open.
                        let Some(t) = &cur else { return Ok(Value::Nil) };
                        t.raw_set(key, v)?;
                        self.top -= 1;
                        *have_key = false;
                        *left -= 1;
                        if *left > 0 {
                            break;
                        }
                        self.top -= 1;
                    }
                }
                open.pop();
                v = cur.take().map_or(Value::Nil, Value::Table);
                self.tables.raw_set(depth, Value::Nil)?;
                if depth > 1 {
                    cur = Some(self.tables.raw_get(depth - 1)?);
                }
                if let Some(Open::Map { have_key: true, .. }) = open.last() {
                    key = self.keys.raw_get(depth - 1)?;
                }
            }
        }
    }
}

/// A `lua_pushinteger` of a 64-bit integer: Lua 5.1 holds it as a double.
fn int(n: i64) -> Value {
    Value::Number(n as f64)
}

/// `mp_unpack_full`: `limit` values from `offset` (0 and 0: all of them, without the offset
/// result). `top` is the C function's stack height on entry.
fn unpack_full(lua: &Lua, a: &Args, limit: i64, offset: i64, top: usize) -> LibResult<Ret> {
    let data = a.check_bytes(lua, 1)?;
    let len = data.len();
    let decode_all = limit == 0 && offset == 0;
    if offset < 0 || limit < 0 {
        return Err(LibError::Msg(format!(
            "Invalid request to unpack with offset of {} and limit of {}.",
            offset as i32, len as i32
        )));
    }
    if offset as u64 > len as u64 {
        return Err(LibError::Msg(format!(
            "Start offset {} greater than input length {}.",
            offset as i32, len as i32
        )));
    }
    let limit = if decode_all {
        i64::from(i32::MAX)
    } else {
        limit
    };
    let mut c = Cursor {
        lua,
        data: &data,
        pos: offset as usize,
        top,
        tables: lua.create_table()?,
        keys: lua.create_table()?,
    };
    // The results; the next offset goes first when asked for.
    let out = lua.create_table()?;
    let first = if decode_all { 1 } else { 2 };
    let mut count: i64 = 0;
    while c.pos < len && count < limit {
        match c.value() {
            Ok(v) => out.raw_set(first + count, v)?,
            Err(DecodeError::Eof) => return Err(LibError::Msg("Missing bytes in input.".into())),
            Err(DecodeError::BadFormat) => {
                return Err(LibError::Msg("Bad data format in input.".into()))
            }
            Err(DecodeError::Lib(e)) => return Err(e),
        }
        count += 1;
        c.top += 1;
    }
    if decode_all {
        return Ok(Ret::Spread(out, count as usize));
    }
    if c.top + 1 > MAX_C_STACK {
        return Err(LibError::Msg(
            "stack overflow (in function mp_unpack_full)".into(),
        ));
    }
    let next = if c.pos == len { -1 } else { c.pos as i64 };
    out.raw_set(1, next)?;
    Ok(Ret::Spread(out, count as usize + 1))
}

#[cfg(test)]
mod tests {
    use crate::scripting::libs::test_support::run_cases;

    /// Each script was run with `redis-cli eval <script> 0` against redis-server 7.0.15 (after
    /// `SCRIPT FLUSH`, so settings start at their defaults); the second string is what it
    /// printed (a newline in the reply shown as `\n`).
    const REDIS_CASES: &[(&str, &str)] = &[
        // Maps whose values are tables (empty ones too), and tables as map keys.
        (
            r##"local t = cmsgpack.unpack(cmsgpack.pack({a={}, b={1, {}}, c={d={}, e={f={}}}})) return type(t.a) .. #t.b .. type(t.b[2]) .. type(t.c.d) .. type(t.c.e.f)"##,
            r##"table2tabletabletable"##,
        ),
        (
            r##"local t = cmsgpack.unpack('\130\161a\144\161b\128') return type(t.a) .. type(t.b)"##,
            r##"tabletable"##,
        ),
        (
            r##"local t = cmsgpack.unpack('\129\161k\145\129\161j\144') return type(t.k[1].j)"##,
            r##"table"##,
        ),
        (
            r##"local t = cmsgpack.unpack('\129\129\1\2\3') for k, v in pairs(t) do return type(k) .. k[1] .. v end"##,
            r##"table23"##,
        ),
        (
            r##"local t = cmsgpack.unpack('\130\129\1\2\3\161a\145\146\1\129\161b\2') local n = 0 for k, v in pairs(t) do n = n + 1 end return n .. t.a[1][2].b"##,
            r##"22"##,
        ),
        (
            r##"local t = cmsgpack.unpack('\131\161a\129\161b\129\161c\1\161d\145\145\2\161e\3') return t.a.b.c .. t.d[1][1] .. t.e"##,
            r##"123"##,
        ),
        (
            r##"local ok, e = pcall(cmsgpack.unpack, '\130\161a\129\192\1\161b\2') return e"##,
            r##"table index is nil"##,
        ),
        (
            r##"local ok, e = pcall(cmsgpack.unpack, '\130\161a\145\203\127\248\0\0\0\0\0\1') return tostring(e)"##,
            r##"Missing bytes in input."##,
        ),
        (
            r##"local ok, e = pcall(cmsgpack.unpack, '\129\203\127\248\0\0\0\0\0\1\1') return e"##,
            r##"table index is NaN"##,
        ),
        (
            r##"local t = cmsgpack.unpack(cmsgpack.pack({x={y={z={1,2,{w=3}}}}, v={4}})) return t.x.y.z[3].w .. t.v[1]"##,
            r##"34"##,
        ),
        (
            r##"local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end return hex(cmsgpack.pack(1, -1, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649))"##,
            r##"01ff7fcc80ccffcd0100cdffffce00010000ceffffffffcf0000000100000000e0d0dfd080d1ff7fd18000d2ffff7fffd280000000d3ffffffff7fffffff"##,
        ),
        (
            r##"local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end return hex(cmsgpack.pack(0.5, 0.1, 1/0, -1/0, 0/0, -0, 2^63, -2^63, 2^64, 1e300))"##,
            r##"ca3f000000cb3fb999999999999aca7f800000caff800000cbfff800000000000000ca5f000000d38000000000000000ca5f800000cb7e37e43c8800759c"##,
        ),
        (
            r##"local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end return hex(cmsgpack.pack('', 'abc', string.rep('x', 31), string.rep('y', 32)):sub(1, 20))"##,
            r##"a0a3616263bf7878787878787878787878787878"##,
        ),
        (
            r##"local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end return hex(cmsgpack.pack(string.rep('x', 255)):sub(1,6)) .. hex(cmsgpack.pack(string.rep('x', 256)):sub(1,6)) .. hex(cmsgpack.pack(string.rep('x', 65536)):sub(1,6))"##,
            r##"d9ff78787878da0100787878db0001000078"##,
        ),
        (
            r##"local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end local t = {} for i=1,16 do t[i]=i end local m = {} for i=1,16 do m['k'..i]=i end return hex(cmsgpack.pack(t)):sub(1,10) .. ' ' .. #cmsgpack.pack(m)"##,
            r##"dc00100102 74"##,
        ),
        (
            r##"local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end local t = {} t[1] = t return hex(cmsgpack.pack(t))"##,
            r##"91919191919191919191919191919191c0"##,
        ),
        (
            r##"local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end local t = {} t.a = t return hex(cmsgpack.pack(t))"##,
            r##"81a16181a16181a16181a16181a16181a16181a16181a16181a16181a16181a16181a16181a16181a16181a16181a161c0"##,
        ),
        (
            r##"local ok, e = pcall(cmsgpack.pack) return e"##,
            r##"bad argument #0 to '?' (MessagePack pack needs input.)"##,
        ),
        (
            r##"local ok, e = pcall(function() return cmsgpack.pack() end) return e"##,
            r##"user_script:1: bad argument #0 to 'pack' (MessagePack pack needs input.)"##,
        ),
        (
            r##"local a = {cmsgpack.unpack(cmsgpack.pack(1, 'two', 3.5, true, {4, 5}, {x=6}))} return tostring(#a) .. a[2] .. a[3] .. tostring(a[4]) .. a[5][2] .. a[6].x"##,
            r##"6two3.5true56"##,
        ),
        (
            r##"return table.concat({cmsgpack.unpack(cmsgpack.pack(1,2,3))}, ',')"##,
            r##"1,2,3"##,
        ),
        (
            r##"return table.concat({cmsgpack.unpack_one(cmsgpack.pack(1,2,3))}, ',')"##,
            r##"1,1"##,
        ),
        (
            r##"return table.concat({cmsgpack.unpack_one(cmsgpack.pack(1,2,3), 1)}, ',')"##,
            r##"2,2"##,
        ),
        (
            r##"return table.concat({cmsgpack.unpack_one(cmsgpack.pack(1,2,3), 2)}, ',')"##,
            r##"-1,3"##,
        ),
        (
            r##"return table.concat({cmsgpack.unpack_limit(cmsgpack.pack(1,2,3), 2)}, ',')"##,
            r##"2,1,2"##,
        ),
        (
            r##"return table.concat({cmsgpack.unpack_limit(cmsgpack.pack(1,2,3), 2, 1)}, ',')"##,
            r##"-1,2,3"##,
        ),
        (
            r##"return table.concat({cmsgpack.unpack_limit(cmsgpack.pack(1,2,3), 0)}, ',')"##,
            r##"1,2,3"##,
        ),
        (
            r##"return table.concat({cmsgpack.unpack_limit(cmsgpack.pack(1,2,3), 0, 1)}, ',')"##,
            r##"1"##,
        ),
        (
            r##"local ok, e = pcall(cmsgpack.unpack_one, cmsgpack.pack(1,2,3), 4) return e"##,
            r##"Start offset 4 greater than input length 3."##,
        ),
        (
            r##"local ok, e = pcall(cmsgpack.unpack_one, cmsgpack.pack(1,2,3), -1) return e"##,
            r##"Invalid request to unpack with offset of -1 and limit of 3."##,
        ),
        (
            r##"local ok, e = pcall(cmsgpack.unpack_limit, cmsgpack.pack(1,2,3), -1) return e"##,
            r##"Invalid request to unpack with offset of 0 and limit of 3."##,
        ),
        (
            r##"local ok, e = pcall(cmsgpack.unpack_limit, cmsgpack.pack(1,2,3)) return e"##,
            r##"bad argument #2 to '?' (number expected, got no value)"##,
        ),
        (
            r##"local ok, e = pcall(cmsgpack.unpack, '\205\1') return e"##,
            r##"Missing bytes in input."##,
        ),
        (
            r##"local ok, e = pcall(cmsgpack.unpack, '\193') return e"##,
            r##"Bad data format in input."##,
        ),
        (
            r##"local ok, e = pcall(cmsgpack.unpack, '\196\1a') return e"##,
            r##"Bad data format in input."##,
        ),
        (
            r##"local ok, e = pcall(cmsgpack.unpack, '\129\192\1') return e"##,
            r##"table index is nil"##,
        ),
        (
            r##"local ok, e = pcall(cmsgpack.unpack) return e"##,
            r##"bad argument #1 to '?' (string expected, got no value)"##,
        ),
        (
            r##"local ok, e = pcall(cmsgpack.unpack, {}) return e"##,
            r##"bad argument #1 to '?' (string expected, got table)"##,
        ),
        (r##"return select('#', cmsgpack.unpack(''))"##, r##"0"##),
        (
            r##"return tostring(cmsgpack.unpack('\207\255\255\255\255\255\255\255\255'))"##,
            r##"-1"##,
        ),
        (
            r##"return tostring(cmsgpack.unpack('\211\255\255\255\255\255\255\255\254'))"##,
            r##"-2"##,
        ),
        (
            r##"return tostring(cmsgpack.unpack('\209\255\254')) .. tostring(cmsgpack.unpack('\210\255\255\255\254')) .. tostring(cmsgpack.unpack('\208\254'))"##,
            r##"-2-2-2"##,
        ),
        (
            r##"return tostring(cmsgpack.unpack('\202\63\192\0\0')) .. ' ' .. tostring(cmsgpack.unpack('\203\63\185\153\153\153\153\153\154'))"##,
            r##"1.5 0.1"##,
        ),
        (
            r##"local t = cmsgpack.unpack('\147\192\2\192') return tostring(#t) .. tostring(t[1]) .. tostring(t[2])"##,
            r##"0nil2"##,
        ),
        (
            r##"local ok, e = pcall(cmsgpack.unpack, string.rep('\145', 5000) .. '\1') return e"##,
            r##"stack overflow (in function mp_decode_to_lua_array)"##,
        ),
        (
            r##"local ok, e = pcall(cmsgpack.unpack, string.rep('\1', 8000)) return e"##,
            r##"stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)"##,
        ),
        (
            r##"return select('#', cmsgpack.unpack(string.rep('\1', 7990)))"##,
            r##"7990"##,
        ),
        (
            r##"return cmsgpack._NAME .. cmsgpack._VERSION .. cmsgpack._COPYRIGHT .. cmsgpack._DESCRIPTION"##,
            r##"cmsgpacklua-cmsgpack 0.4.0Copyright (C) 2012, Salvatore SanfilippoMessagePack C implementation for Lua"##,
        ),
        (
            r##"return table.concat({cmsgpack.unpack_one('', 0)}, ',')"##,
            r##"-1"##,
        ),
        (
            r##"local ok, e = pcall(cmsgpack.unpack, '\147\1') return e"##,
            r##"Missing bytes in input."##,
        ),
        (
            r##"return cmsgpack.unpack(cmsgpack.pack(123))"##,
            r##"123"##,
        ),
        (
            r##"return type(cmsgpack.unpack(cmsgpack.pack(-1.5)))"##,
            r##"number"##,
        ),
        (
            r##"local ok, e = pcall(cmsgpack.unpack_limit, '\1', 'x') return e"##,
            r##"bad argument #2 to '?' (number expected, got string)"##,
        ),
        (
            r##"local ok, e = pcall(cmsgpack.unpack, string.rep('\129\1', 5000) .. '\1') return tostring(e)"##,
            r##"stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)"##,
        ),
        (
            r##"local ok, e = pcall(cmsgpack.unpack, string.rep('\145', 4000) .. '\1') return tostring(e)"##,
            r##"stack overflow (in function mp_decode_to_lua_array)"##,
        ),
        (
            r##"local t = {} for i=1,20000 do t['k'..i] = i end return #cmsgpack.pack(t)"##,
            r##"188515"##,
        ),
        (
            r##"local t = {} for i=1,20000 do t['k'..i] = {i} end local u = cmsgpack.unpack(cmsgpack.pack(t)) return u.k777[1]"##,
            r##"777"##,
        ),
        (
            r##"local t = {} for i=1,4000 do t[i] = 's' .. i end return #cmsgpack.pack(unpack(t))"##,
            r##"22893"##,
        ),
        (
            r##"local t = {} for i=1,3999 do t[i] = 's' .. i end t[4000] = {a=1} local ok, e = pcall(cmsgpack.pack, unpack(t)) return e"##,
            r##"stack overflow (in function table_is_an_array)"##,
        ),
        (
            r##"local t = {} for i=1,3999 do t[i] = 's' .. i end t[4000] = {1} local ok, e = pcall(cmsgpack.pack, unpack(t)) return e"##,
            r##"stack overflow (in function table_is_an_array)"##,
        ),
        (
            r##"local t = {} for i=1,3998 do t[i] = 's' .. i end t[3999] = {a={b=1}} local ok, e = pcall(cmsgpack.pack, unpack(t)) return #e"##,
            r##"55"##,
        ),
    ];

    #[test]
    fn behaves_like_redis() {
        run_cases(REDIS_CASES);
    }
}
