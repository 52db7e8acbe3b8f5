//! `cjson`: lua-cjson 2.1.0 as Redis bundles it (redis `deps/lua/src/lua_cjson.c`): JSON
//! encode/decode, `cjson.null`, the configuration functions and `cjson.new()`. Each module table
//! has its own configuration, shared by its functions.

mod decode;
mod encode;

use std::sync::{Arc, Mutex, MutexGuard};

use mlua::{Lua, Table, Value};

use super::{list, one, Args, Exporter, LibError, LibResult};

/// One module table's settings (`json_config_t`).
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) sparse_convert: i32,
    pub(crate) sparse_ratio: i32,
    pub(crate) sparse_safe: i32,
    pub(crate) encode_max_depth: i32,
    /// 0 off, 1 on, 2 "null".
    pub(crate) encode_invalid_numbers: i32,
    pub(crate) encode_number_precision: i32,
    pub(crate) encode_keep_buffer: i32,
    pub(crate) decode_invalid_numbers: i32,
    pub(crate) decode_max_depth: i32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sparse_convert: 0,
            sparse_ratio: 2,
            sparse_safe: 10,
            encode_max_depth: 1000,
            encode_invalid_numbers: 0,
            encode_number_precision: 14,
            encode_keep_buffer: 1,
            decode_invalid_numbers: 1,
            decode_max_depth: 1000,
        }
    }
}

type Shared = Arc<Mutex<Config>>;

fn lock(cfg: &Shared) -> MutexGuard<'_, Config> {
    cfg.lock().unwrap_or_else(|e| e.into_inner())
}

/// A new `cjson` module table with default settings (`lua_cjson_new`).
pub(crate) fn module(lua: &Lua, ex: &Exporter) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let cfg: Shared = Arc::new(Mutex::new(Config::default()));

    let c = cfg.clone();
    let next = ex.next.clone();
    ex.export(lua, &t, "encode", move |lua, a| {
        let cfg = lock(&c).clone();
        encode::encode(lua, &cfg, &next, a)
    })?;
    let c = cfg.clone();
    ex.export(lua, &t, "decode", move |lua, a| {
        let cfg = lock(&c).clone();
        decode::decode(lua, &cfg, a)
    })?;
    let c = cfg.clone();
    ex.export(lua, &t, "encode_sparse_array", move |lua, a| {
        arg_init(&a, 3)?;
        let mut cfg = lock(&c);
        let convert = enum_option(lua, &a, 1, &mut cfg.sparse_convert, BOOL_OPTIONS)?;
        let ratio = integer_option(lua, &a, 2, &mut cfg.sparse_ratio, 0, i32::MAX)?;
        let safe = integer_option(lua, &a, 3, &mut cfg.sparse_safe, 0, i32::MAX)?;
        Ok(list([convert, ratio, safe]))
    })?;
    let c = cfg.clone();
    ex.export(lua, &t, "encode_max_depth", move |lua, a| {
        arg_init(&a, 1)?;
        let mut cfg = lock(&c);
        integer_option(lua, &a, 1, &mut cfg.encode_max_depth, 1, i32::MAX).map(one)
    })?;
    let c = cfg.clone();
    ex.export(lua, &t, "decode_max_depth", move |lua, a| {
        arg_init(&a, 1)?;
        let mut cfg = lock(&c);
        integer_option(lua, &a, 1, &mut cfg.decode_max_depth, 1, i32::MAX).map(one)
    })?;
    let c = cfg.clone();
    ex.export(lua, &t, "encode_number_precision", move |lua, a| {
        arg_init(&a, 1)?;
        let mut cfg = lock(&c);
        integer_option(lua, &a, 1, &mut cfg.encode_number_precision, 1, 14).map(one)
    })?;
    let c = cfg.clone();
    ex.export(lua, &t, "encode_keep_buffer", move |lua, a| {
        arg_init(&a, 1)?;
        let mut cfg = lock(&c);
        enum_option(lua, &a, 1, &mut cfg.encode_keep_buffer, BOOL_OPTIONS).map(one)
    })?;
    let c = cfg.clone();
    ex.export(lua, &t, "encode_invalid_numbers", move |lua, a| {
        arg_init(&a, 1)?;
        let mut cfg = lock(&c);
        let opts: &[&str] = &["off", "on", "null"];
        enum_option(lua, &a, 1, &mut cfg.encode_invalid_numbers, opts).map(one)
    })?;
    let c = cfg;
    ex.export(lua, &t, "decode_invalid_numbers", move |lua, a| {
        arg_init(&a, 1)?;
        let mut cfg = lock(&c);
        enum_option(lua, &a, 1, &mut cfg.decode_invalid_numbers, BOOL_OPTIONS).map(one)
    })?;
    let ex2 = ex.clone();
    ex.export(lua, &t, "new", move |lua, _a| {
        module(lua, &ex2)
            .map(|t| one(Value::Table(t)))
            .map_err(LibError::Lua)
    })?;
    t.raw_set("null", Value::NULL)?;
    t.raw_set("_NAME", "cjson")?;
    t.raw_set("_VERSION", "2.1.0")?;
    Ok(t)
}

const BOOL_OPTIONS: &[&str] = &["off", "on"];

/// `json_arg_init`: at most `n` arguments.
fn arg_init(a: &Args, n: usize) -> LibResult<()> {
    if a.len() > n {
        return Err(LibError::Arg(
            n as i32 + 1,
            "found too many arguments".into(),
        ));
    }
    Ok(())
}

/// `json_integer_option`: sets `*setting` from argument `i` when given (range-checked, the
/// error always naming argument 1 as lua-cjson does) and returns the setting.
fn integer_option(
    lua: &Lua,
    a: &Args,
    i: usize,
    setting: &mut i32,
    min: i32,
    max: i32,
) -> LibResult<Value> {
    if !a.is_none_or_nil(i) {
        // `int value = luaL_checkinteger(...)`: the 64-bit integer truncated to an int.
        let value = a.check_integer(lua, i)? as i32;
        if !(min <= value && value <= max) {
            return Err(LibError::Arg(
                1,
                format!("expected integer between {min} and {max}"),
            ));
        }
        *setting = value;
    }
    Ok(Value::Integer(i64::from(*setting)))
}

/// `json_enum_option` with `bool_true` 1: a boolean or one of `options` by name; returns a
/// boolean for settings 0 and 1, else the option's name.
fn enum_option(
    lua: &Lua,
    a: &Args,
    i: usize,
    setting: &mut i32,
    options: &[&str],
) -> LibResult<Value> {
    match a.get(i) {
        Value::Nil => {}
        Value::Boolean(b) => *setting = i32::from(b),
        _ => {
            let name = a.check_bytes(lua, i)?;
            match options.iter().position(|o| o.as_bytes() == name.as_slice()) {
                Some(pos) => *setting = pos as i32,
                None => {
                    return Err(LibError::Arg(
                        i as i32,
                        format!("invalid option '{}'", String::from_utf8_lossy(&name)),
                    ))
                }
            }
        }
    }
    Ok(if *setting == 0 || *setting == 1 {
        Value::Boolean(*setting == 1)
    } else {
        match options.get(*setting as usize) {
            Some(name) => Value::String(lua.create_string(name)?),
            None => Value::Nil,
        }
    })
}

#[cfg(test)]
mod tests {
    use crate::scripting::libs::test_support::run_cases;

    /// Each script was run with `redis-cli eval <script> 0` against redis-server 7.0.15 (after
    /// `SCRIPT FLUSH`, so settings start at their defaults); the second string is what it
    /// printed (a newline in the reply shown as `\n`).
    const REDIS_CASES: &[(&str, &str)] = &[
        // Objects side by side at the same depth (each walked from its own first key).
        (
            r##"return cjson.encode({a={x=1},b={y=2}})"##,
            r##"{"a":{"x":1},"b":{"y":2}}"##,
        ),
        (
            r##"return cjson.encode({{a=1},{b=2},{c={d=1}},{e=2}})"##,
            r##"[{"a":1},{"b":2},{"c":{"d":1}},{"e":2}]"##,
        ),
        (
            r##"return cjson.encode({k={{p={q=1}},{r={s=2}}},z={t=3}})"##,
            r##"{"k":[{"p":{"q":1}},{"r":{"s":2}}],"z":{"t":3}}"##,
        ),
        (r##"return cjson.encode({1,2,3})"##, r##"[1,2,3]"##),
        (r##"return cjson.encode({})"##, r##"{}"##),
        (r##"return cjson.encode({a=1})"##, r##"{"a":1}"##),
        (
            r##"local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end return hex(cjson.encode("a/b\"c\\d\1\8\9\10\11\12\13\31\127\128\255"))"##,
            r##"22615c2f625c22635c5c645c75303030315c625c745c6e5c75303030625c665c725c75303031665c753030376680ff22"##,
        ),
        (r##"return cjson.encode(1/3)"##, r##"0.33333333333333"##),
        (
            r##"return cjson.encode(123456789012345678)"##,
            r##"1.2345678901235e+17"##,
        ),
        (r##"return cjson.encode(0.1)"##, r##"0.1"##),
        (r##"return cjson.encode(-0)"##, r##"-0"##),
        (r##"return cjson.encode(1e300)"##, r##"1e+300"##),
        (r##"return cjson.encode(1e-7)"##, r##"1e-07"##),
        (r##"return cjson.encode(100)"##, r##"100"##),
        (r##"return cjson.encode(nil)"##, r##"null"##),
        (r##"return cjson.encode(cjson.null)"##, r##"null"##),
        (r##"return cjson.encode(true)"##, r##"true"##),
        (
            r##"return cjson.encode({true,false})"##,
            r##"[true,false]"##,
        ),
        (
            r##"return cjson.encode({[1]=1,[2]=2,[4]=4})"##,
            r##"[1,2,null,4]"##,
        ),
        (
            r##"local ok, e = pcall(function() return cjson.encode({[1]=1,[20]=2}) end) return e"##,
            r##"user_script:1: Cannot serialise table: excessively sparse array"##,
        ),
        (
            r##"local ok, e = pcall(function() return cjson.encode({[1]=1,[11]=2}) end) return e"##,
            r##"user_script:1: Cannot serialise table: excessively sparse array"##,
        ),
        (
            r##"return cjson.encode({[1]=1,[10]=2})"##,
            r##"[1,null,null,null,null,null,null,null,null,2]"##,
        ),
        (r##"return cjson.encode({[0]=1})"##, r##"{"0":1}"##),
        (r##"return cjson.encode({[-1]=1})"##, r##"{"-1":1}"##),
        (r##"return cjson.encode({[1.5]=1})"##, r##"{"1.5":1}"##),
        (
            r##"return cjson.encode({[1]=1, a=2})"##,
            r##"{"1":1,"a":2}"##,
        ),
        (r##"return cjson.encode({{{}}})"##, r##"[[{}]]"##),
        (
            r##"local ok, e = pcall(cjson.encode, 1/0) return e"##,
            r##"Cannot serialise number: must not be NaN or Inf"##,
        ),
        (
            r##"local ok, e = pcall(cjson.encode, -1/0) return e"##,
            r##"Cannot serialise number: must not be NaN or Inf"##,
        ),
        (
            r##"local ok, e = pcall(cjson.encode, 0/0) return e"##,
            r##"Cannot serialise number: must not be NaN or Inf"##,
        ),
        (
            r##"local ok, e = pcall(cjson.encode, {[true]=1}) return e"##,
            r##"Cannot serialise boolean: table key must be a number or string"##,
        ),
        (
            r##"local ok, e = pcall(cjson.encode, tostring) return e"##,
            r##"Cannot serialise function: type not supported"##,
        ),
        (
            r##"local ok, e = pcall(cjson.encode, coroutine.create(function() end)) return e"##,
            r##"Cannot serialise thread: type not supported"##,
        ),
        (
            r##"local ok, e = pcall(function() return cjson.encode() end) return e"##,
            r##"user_script:1: bad argument #1 to 'encode' (expected 1 argument)"##,
        ),
        (
            r##"local ok, e = pcall(function() return cjson.encode(1,2) end) return e"##,
            r##"user_script:1: bad argument #1 to 'encode' (expected 1 argument)"##,
        ),
        (
            r##"local ok, e = pcall(cjson.encode, {[1]=1,[100]=2}) return e"##,
            r##"Cannot serialise table: excessively sparse array"##,
        ),
        (
            r##"local t = {} local c = t for i=1,1000 do c[1] = {} c = c[1] end local ok, e = pcall(cjson.encode, t) return e"##,
            r##"Cannot serialise, excessive nesting (1001)"##,
        ),
        (
            r##"local t = {} local c = t for i=1,999 do c[1] = {} c = c[1] end local ok, e = pcall(cjson.encode, t) return #e"##,
            r##"2000"##,
        ),
        (
            r##"local t = {} t[1] = t local ok, e = pcall(cjson.encode, t) return e"##,
            r##"Cannot serialise, excessive nesting (1001)"##,
        ),
        (r##"return cjson.encode({[1e20]=1})"##, r##"{"1e+20":1}"##),
        (
            r##"return cjson.encode({[2^31]=1})"##,
            r##"{"2147483648":1}"##,
        ),
        (r##"return cjson.encode({[2^31]=1, [1]=2})"##, r##"[2]"##),
        (
            r##"return cjson.encode(cjson.decode('[1,2,3,{"a":[true,false,null]}]'))"##,
            r##"[1,2,3,{"a":[true,false,null]}]"##,
        ),
        (r##"return type(cjson.decode('null'))"##, r##"userdata"##),
        (
            r##"return tostring(cjson.decode('null') == cjson.null)"##,
            r##"true"##,
        ),
        (
            r##"local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end return hex(cjson.decode('"a\\u00e9\\ud83d\\ude00\\/\\b\\f\\n\\r\\t\\"\\\\"'))"##,
            r##"61c3a9f09f98802f080c0a0d09225c"##,
        ),
        (r##"return tostring(cjson.decode(' 12.5e1 '))"##, r##"125"##),
        (r##"return tostring(cjson.decode('-0'))"##, r##"-0"##),
        (r##"return tostring(cjson.decode('0x10'))"##, r##"16"##),
        (
            r##"return tostring(cjson.decode('-Infinity'))"##,
            r##"-inf"##,
        ),
        (r##"return tostring(cjson.decode('Infinity'))"##, r##"inf"##),
        (r##"return tostring(cjson.decode('NaN'))"##, r##"nan"##),
        (r##"return tostring(cjson.decode('nan'))"##, r##"nan"##),
        (r##"return tostring(cjson.decode('+5'))"##, r##"5"##),
        (r##"return tostring(cjson.decode('01'))"##, r##"1"##),
        (r##"return tostring(cjson.decode('1.'))"##, r##"1"##),
        (
            r##"return tostring(cjson.decode('[1]\0junk')[1])"##,
            r##"1"##,
        ),
        (
            r##"local ok, e = pcall(cjson.decode, '{') return e"##,
            r##"Expected object key string but found T_END at character 2"##,
        ),
        (
            r##"local ok, e = pcall(cjson.decode, '') return e"##,
            r##"Expected value but found T_END at character 1"##,
        ),
        (
            r##"local ok, e = pcall(cjson.decode, ' ') return e"##,
            r##"Expected value but found T_END at character 2"##,
        ),
        (
            r##"local ok, e = pcall(cjson.decode, '[1,]') return e"##,
            r##"Expected value but found T_ARR_END at character 4"##,
        ),
        (
            r##"local ok, e = pcall(cjson.decode, '{1:2}') return e"##,
            r##"Expected object key string but found T_NUMBER at character 2"##,
        ),
        (
            r##"local ok, e = pcall(cjson.decode, '{"a" 2}') return e"##,
            r##"Expected colon but found T_NUMBER at character 6"##,
        ),
        (
            r##"local ok, e = pcall(cjson.decode, '{"a":2 "b"}') return e"##,
            r##"Expected comma or object end but found T_STRING at character 8"##,
        ),
        (
            r##"local ok, e = pcall(cjson.decode, '[1 2]') return e"##,
            r##"Expected comma or array end but found T_NUMBER at character 4"##,
        ),
        (
            r##"local ok, e = pcall(cjson.decode, '[1] 2') return e"##,
            r##"Expected the end but found T_NUMBER at character 5"##,
        ),
        (
            r##"local ok, e = pcall(cjson.decode, 'x') return e"##,
            r##"Expected value but found invalid token at character 1"##,
        ),
        (
            r##"local ok, e = pcall(cjson.decode, 'tru') return e"##,
            r##"Expected value but found invalid token at character 1"##,
        ),
        (
            r##"local ok, e = pcall(cjson.decode, 'nul') return e"##,
            r##"Expected value but found invalid token at character 1"##,
        ),
        (
            r##"local ok, e = pcall(cjson.decode, '"abc') return e"##,
            r##"Expected value but found unexpected end of string at character 5"##,
        ),
        (
            r##"local ok, e = pcall(cjson.decode, '"a\\x"') return e"##,
            r##"Expected value but found invalid escape code at character 3"##,
        ),
        (
            r##"local ok, e = pcall(cjson.decode, '"a\\u12"') return e"##,
            r##"Expected value but found invalid unicode escape code at character 3"##,
        ),
        (
            r##"local ok, e = pcall(cjson.decode, '"a\\ud800"') return e"##,
            r##"Expected value but found invalid unicode escape code at character 3"##,
        ),
        (
            r##"local ok, e = pcall(cjson.decode, '"a\\udc00"') return e"##,
            r##"Expected value but found invalid unicode escape code at character 3"##,
        ),
        (
            r##"local ok, e = pcall(cjson.decode, '-') return e"##,
            r##"Expected value but found invalid number at character 1"##,
        ),
        (
            r##"local ok, e = pcall(cjson.decode, '-a') return e"##,
            r##"Expected value but found invalid number at character 1"##,
        ),
        (
            r##"local ok, e = pcall(cjson.decode, '.5') return e"##,
            r##"Expected value but found invalid token at character 1"##,
        ),
        (
            r##"local ok, e = pcall(cjson.decode, 'a\0') return e"##,
            r##"JSON parser does not support UTF-16 or UTF-32"##,
        ),
        (
            r##"local ok, e = pcall(cjson.decode, '\0a') return e"##,
            r##"JSON parser does not support UTF-16 or UTF-32"##,
        ),
        (
            r##"local ok, e = pcall(cjson.decode, string.rep('[', 1001)) return e"##,
            r##"Found too many nested data structures (1001) at character 1001"##,
        ),
        (
            r##"local ok, e = pcall(cjson.decode, string.rep('[', 1000)) return e"##,
            r##"Expected value but found T_END at character 1001"##,
        ),
        (
            r##"local ok, e = pcall(cjson.decode, string.rep('{"a":', 1001)) return e"##,
            r##"Found too many nested data structures (1001) at character 5001"##,
        ),
        (
            r##"local ok, e = pcall(cjson.decode) return e"##,
            r##"bad argument #1 to '?' (expected 1 argument)"##,
        ),
        (
            r##"local ok, e = pcall(cjson.decode, {}) return e"##,
            r##"bad argument #1 to '?' (string expected, got table)"##,
        ),
        (
            r##"local ok, e = pcall(cjson.decode, 1, 2) return e"##,
            r##"bad argument #1 to '?' (expected 1 argument)"##,
        ),
        (r##"return cjson.decode(123)"##, r##"123"##),
        (
            r##"local ok, e = pcall(function() return cjson.decode('{') end) return e"##,
            r##"user_script:1: Expected object key string but found T_END at character 2"##,
        ),
        (
            r##"local f = cjson.encode local ok, e = pcall(function() return f() end) return e"##,
            r##"user_script:1: bad argument #1 to 'f' (expected 1 argument)"##,
        ),
        (
            r##"local ok, e = pcall(function() return cjson:encode() end) return e"##,
            r##"user_script:1: Cannot serialise function: type not supported"##,
        ),
        (
            r##"local ok, e = pcall(function() return cjson:encode(1) end) return e"##,
            r##"user_script:1: calling 'encode' on bad self (expected 1 argument)"##,
        ),
        (
            r##"return table.concat({tostring(cjson.encode_sparse_array())}, ',')"##,
            r##"false"##,
        ),
        (
            r##"local a,b,c = cjson.encode_sparse_array() return tostring(a)..','..b..','..c"##,
            r##"false,2,10"##,
        ),
        (
            r##"local a,b,c = cjson.encode_sparse_array(true, 3, 5) return tostring(a)..','..b..','..c"##,
            r##"true,3,5"##,
        ),
        (
            r##"cjson.encode_sparse_array(true) return cjson.encode({[1]=1,[100]=2})"##,
            r##"{"1":1,"100":2}"##,
        ),
        (
            r##"local ok, e = pcall(cjson.encode_sparse_array, 'x') return e"##,
            r##"bad argument #1 to '?' (invalid option 'x')"##,
        ),
        (
            r##"local ok, e = pcall(cjson.encode_sparse_array, nil, -1) return e"##,
            r##"bad argument #1 to '?' (expected integer between 0 and 2147483647)"##,
        ),
        (
            r##"local ok, e = pcall(cjson.encode_sparse_array, nil, nil, -1) return e"##,
            r##"bad argument #1 to '?' (expected integer between 0 and 2147483647)"##,
        ),
        (
            r##"local ok, e = pcall(cjson.encode_sparse_array, 1, 2, 3, 4) return e"##,
            r##"bad argument #4 to '?' (found too many arguments)"##,
        ),
        (
            r##"local ok, e = pcall(cjson.encode_sparse_array, 'on', 'x') return e"##,
            r##"bad argument #2 to '?' (number expected, got string)"##,
        ),
        (
            r##"return tostring(cjson.encode_max_depth())"##,
            r##"1000"##,
        ),
        (r##"return tostring(cjson.encode_max_depth(5))"##, r##"5"##),
        (
            r##"cjson.encode_max_depth(2) local ok, e = pcall(cjson.encode, {{{1}}}) return e"##,
            r##"Cannot serialise, excessive nesting (3)"##,
        ),
        (
            r##"cjson.decode_max_depth(2) local ok, e = pcall(cjson.decode, '[[[1]]]') return e"##,
            r##"Found too many nested data structures (3) at character 3"##,
        ),
        (
            r##"local ok, e = pcall(cjson.encode_max_depth, 0) return e"##,
            r##"bad argument #1 to '?' (expected integer between 1 and 2147483647)"##,
        ),
        (
            r##"local ok, e = pcall(cjson.decode_max_depth, 0) return e"##,
            r##"bad argument #1 to '?' (expected integer between 1 and 2147483647)"##,
        ),
        (
            r##"return tostring(cjson.encode_number_precision())"##,
            r##"14"##,
        ),
        (
            r##"cjson.encode_number_precision(3) return cjson.encode(1/3)"##,
            r##"0.333"##,
        ),
        (
            r##"local ok, e = pcall(cjson.encode_number_precision, 15) return e"##,
            r##"bad argument #1 to '?' (expected integer between 1 and 14)"##,
        ),
        (
            r##"return tostring(cjson.encode_keep_buffer())"##,
            r##"true"##,
        ),
        (
            r##"return tostring(cjson.encode_keep_buffer('off'))"##,
            r##"false"##,
        ),
        (
            r##"return tostring(cjson.encode_invalid_numbers())"##,
            r##"false"##,
        ),
        (
            r##"return tostring(cjson.encode_invalid_numbers('null'))"##,
            r##"null"##,
        ),
        (
            r##"cjson.encode_invalid_numbers('null') return cjson.encode({1/0, 0/0})"##,
            r##"[null,null]"##,
        ),
        (
            r##"cjson.encode_invalid_numbers(true) return cjson.encode({1/0, -1/0, 0/0})"##,
            r##"[inf,-inf,nan]"##,
        ),
        (
            r##"local ok, e = pcall(cjson.encode_invalid_numbers, 'maybe') return e"##,
            r##"bad argument #1 to '?' (invalid option 'maybe')"##,
        ),
        (
            r##"return tostring(cjson.decode_invalid_numbers())"##,
            r##"true"##,
        ),
        (
            r##"cjson.decode_invalid_numbers(false) local ok, e = pcall(cjson.decode, 'NaN') return e"##,
            r##"Expected value but found invalid token at character 1"##,
        ),
        (
            r##"cjson.decode_invalid_numbers(false) local ok, e = pcall(cjson.decode, '0x10') return e"##,
            r##"Expected value but found invalid number at character 1"##,
        ),
        (
            r##"cjson.decode_invalid_numbers(false) local ok, e = pcall(cjson.decode, '-Infinity') return e"##,
            r##"Expected value but found invalid number at character 1"##,
        ),
        (
            r##"cjson.decode_invalid_numbers(false) local ok, e = pcall(cjson.decode, '+1') return e"##,
            r##"Expected value but found invalid token at character 1"##,
        ),
        (
            r##"cjson.decode_invalid_numbers(false) return tostring(cjson.decode('-1.5e3'))"##,
            r##"-1500"##,
        ),
        (
            r##"return cjson._NAME .. ' ' .. cjson._VERSION"##,
            r##"cjson 2.1.0"##,
        ),
        (r##"return type(cjson.new)"##, r##"function"##),
        (
            r##"local c = cjson.new() c.encode_number_precision(2) return c.encode(1/3) .. cjson.encode(1/3)"##,
            r##"0.330.33333333333333"##,
        ),
        (
            r##"return cjson.encode({["a\0b"]=1})"##,
            r##"{"a\u0000b":1}"##,
        ),
        (
            r##"return cjson.encode(cjson.decode('"\\u0000"'))"##,
            r##""\u0000""##,
        ),
        (r##"return tostring(cjson.decode('1e400'))"##, r##"inf"##),
        (
            r##"local ok, e = pcall(function() return cjson.decode('0x1p4') end) return tostring(e)"##,
            r##"16"##,
        ),
        (r##"return cjson.encode(2^53)"##, r##"9.007199254741e+15"##),
        (r##"return cjson.encode(-123.456)"##, r##"-123.456"##),
        (r##"return cjson.encode({1,nil,3})"##, r##"[1,null,3]"##),
        (
            r##"local ok, e = pcall(cjson.encode_max_depth, 2^32+1) return e"##,
            r##"1"##,
        ),
        (
            r##"return tostring(cjson.encode_max_depth('7'))"##,
            r##"7"##,
        ),
        (
            r##"cjson.decode_max_depth(100000) local ok, e = pcall(cjson.decode, string.rep('[', 9000)) return e"##,
            r##"Found too many nested data structures (7999) at character 7999"##,
        ),
        (
            r##"cjson.decode_max_depth(100000) local ok, e = pcall(cjson.decode, string.rep('{"a":', 9000)) return e"##,
            r##"Found too many nested data structures (4000) at character 19996"##,
        ),
        (
            r##"return cjson.encode({a={b={c='d'}}})"##,
            r##"{"a":{"b":{"c":"d"}}}"##,
        ),
        (
            r##"return cjson.encode({'x', {y=1}})"##,
            r##"["x",{"y":1}]"##,
        ),
        (
            r##"return cjson.encode(cjson.decode('{"k":[1,2,{"z":null}],"n":-1.25e-3}').k)"##,
            r##"[1,2,{"z":null}]"##,
        ),
        (
            r##"local t = cjson.decode('{"a":1,"b":[true]}') return tostring(t.a) .. tostring(t.b[1])"##,
            r##"1true"##,
        ),
        (
            r##"return cjson.encode(cjson.decode('["\\u00e9"]'))"##,
            r##"["é"]"##,
        ),
        (
            r##"return cjson.encode({1, 'a', false, cjson.null})"##,
            r##"[1,"a",false,null]"##,
        ),
        (
            r##"local ok, e = pcall(cjson.decode, '[1,2') return e"##,
            r##"Expected comma or array end but found T_END at character 5"##,
        ),
        (
            r##"local ok, e = pcall(cjson.decode, '{"a":}') return e"##,
            r##"Expected value but found T_OBJ_END at character 6"##,
        ),
        (
            r##"local ok, e = pcall(cjson.decode, '["a\tb"]') return tostring(ok)"##,
            r##"true"##,
        ),
        (r##"return cjson.encode(0.1 + 0.2)"##, r##"0.3"##),
        (
            r##"return cjson.encode(3.14159265358979)"##,
            r##"3.1415926535898"##,
        ),
        (r##"return cjson.encode(-1e-300)"##, r##"-1e-300"##),
        (
            r##"return cjson.encode(12345678901234)"##,
            r##"12345678901234"##,
        ),
        (
            r##"return cjson.encode(123456789012345)"##,
            r##"1.2345678901234e+14"##,
        ),
        (
            r##"local t = {} local c = t for i=1,3500 do c.a = {} c = c.a end cjson.encode_max_depth(100000) local ok, e = pcall(cjson.encode, t) return #e"##,
            r##"21002"##,
        ),
        (
            r##"local t = {} local c = t for i=1,4500 do c.a = {} c = c.a end cjson.encode_max_depth(100000) local ok, e = pcall(cjson.encode, t) return e"##,
            r##"Cannot serialise, excessive nesting (4000)"##,
        ),
        (
            r##"local t = {} t[1] = t cjson.encode_max_depth(100000) local ok, e = pcall(cjson.encode, t) return e"##,
            r##"Cannot serialise, excessive nesting (7998)"##,
        ),
        (
            r##"local t = {} t.x = t cjson.encode_max_depth(100000) local ok, e = pcall(cjson.encode, t) return e"##,
            r##"Cannot serialise, excessive nesting (4000)"##,
        ),
        (
            r##"cjson.decode_max_depth(100000) local ok, e = pcall(cjson.decode, string.rep('{"a":', 3999) .. '1' .. string.rep('}', 3999)) return tostring(type(e))"##,
            r##"table"##,
        ),
        (
            r##"local t = {} for i=1,20000 do t['k'..i] = i end local s = cjson.encode(t) return #s"##,
            r##"277789"##,
        ),
        (
            r##"local s = '{' for i=1,20000 do s = s .. '"k' .. i .. '":' .. i .. ',' end s = s .. '"z":0}' local t = cjson.decode(s) return t.k19999"##,
            r##"19999"##,
        ),
    ];

    #[test]
    fn behaves_like_redis() {
        run_cases(REDIS_CASES);
    }
}
