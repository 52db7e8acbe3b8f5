//! Lua values ↔ replies, with Redis 7.0's rules (redis `redisProtocolToLuaType_*` and
//! `luaReplyToRedisReply`). A command's reply is seen by the script as the protocol the script
//! chose with `redis.setresp` would send it.

use bytes::Bytes;
use mlua::{Lua, Table, Value};

use crate::protocol::Reply;

/// How deep a returned table may nest before the reply stops (Lua's C stack limit in Redis).
const MAX_DEPTH: usize = 2000;

/// A command's reply as the script sees it.
pub fn reply_to_lua(lua: &Lua, r: Reply, resp3: bool) -> mlua::Result<Value> {
    Ok(match r {
        Reply::Status(s) => {
            let t = lua.create_table()?;
            t.raw_set("ok", lua.create_string(s.as_bytes())?)?;
            Value::Table(t)
        }
        Reply::Error(s) => {
            let t = lua.create_table()?;
            t.raw_set("err", super::vm::error_text(&format!("-{s}")))?;
            t.raw_set("ignore_error_stats_update", true)?;
            Value::Table(t)
        }
        Reply::Int(n) => Value::Number(n as f64),
        Reply::Bulk(b) => Value::String(lua.create_string(&b)?),
        Reply::Nil | Reply::NilArray => {
            if resp3 {
                Value::Nil
            } else {
                Value::Boolean(false)
            }
        }
        Reply::Array(items) | Reply::Push(items) => array(lua, items, resp3)?,
        Reply::Set(items) => {
            if !resp3 {
                return array(lua, items, resp3);
            }
            let inner = lua.create_table()?;
            for i in items {
                inner.raw_set(reply_to_lua(lua, i, resp3)?, true)?;
            }
            wrap(lua, "set", Value::Table(inner))?
        }
        Reply::Map(pairs) => {
            if !resp3 {
                let flat = pairs.into_iter().flat_map(|(k, v)| [k, v]).collect();
                return array(lua, flat, resp3);
            }
            let inner = lua.create_table()?;
            for (k, v) in pairs {
                inner.raw_set(reply_to_lua(lua, k, resp3)?, reply_to_lua(lua, v, resp3)?)?;
            }
            wrap(lua, "map", Value::Table(inner))?
        }
        Reply::Double(d) => {
            if resp3 {
                wrap(lua, "double", Value::Number(d))?
            } else {
                Value::String(lua.create_string(crate::util::format_double(d))?)
            }
        }
        Reply::Bool(b) => {
            if resp3 {
                Value::Boolean(b)
            } else {
                Value::Number(if b { 1.0 } else { 0.0 })
            }
        }
        Reply::Verbatim(b) => {
            if !resp3 {
                return Ok(Value::String(lua.create_string(&b)?));
            }
            let inner = lua.create_table()?;
            inner.raw_set("string", lua.create_string(&b)?)?;
            inner.raw_set("format", "txt")?;
            wrap(lua, "verbatim_string", Value::Table(inner))?
        }
        Reply::BigNum(b) => {
            if resp3 {
                wrap(lua, "big_number", Value::String(lua.create_string(&b)?))?
            } else {
                Value::String(lua.create_string(&b)?)
            }
        }
        // An attribute comes before the reply it describes; scripts see only the reply.
        Reply::Multi(items) => match items
            .into_iter()
            .find(|r| !matches!(r, Reply::Attribute(_)))
        {
            Some(r) => reply_to_lua(lua, r, resp3)?,
            None => Value::Nil,
        },
        Reply::Attribute(_) | Reply::Raw(_) | Reply::None => Value::Nil,
    })
}

fn array(lua: &Lua, items: Vec<Reply>, resp3: bool) -> mlua::Result<Value> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.into_iter().enumerate() {
        t.raw_set(i + 1, reply_to_lua(lua, item, resp3)?)?;
    }
    Ok(Value::Table(t))
}

fn wrap(lua: &Lua, field: &str, v: Value) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.raw_set(field, v)?;
    Ok(Value::Table(t))
}

/// What a script returned, as a reply. `resp3` is the protocol the script last chose (it
/// decides how booleans go out).
pub fn lua_to_reply(v: &Value, resp3: bool) -> Reply {
    to_reply(v, resp3, 0)
}

fn to_reply(v: &Value, resp3: bool, depth: usize) -> Reply {
    if depth > MAX_DEPTH {
        return Reply::Error("ERR reached lua stack limit".into());
    }
    match v {
        Value::String(s) => Reply::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Boolean(b) => match (resp3, b) {
            (true, b) => Reply::Bool(*b),
            (false, true) => Reply::Int(1),
            (false, false) => Reply::Nil,
        },
        Value::Integer(n) => Reply::Int(*n),
        Value::Number(n) => Reply::Int(float_to_int(*n)),
        Value::Table(t) => table_to_reply(t, resp3, depth),
        _ => Reply::Nil,
    }
}

/// C's `(long long)` cast of a Lua number: truncation, saturating like x86 does not, but
/// never panicking.
fn float_to_int(n: f64) -> i64 {
    if n.is_nan() {
        i64::MIN
    } else {
        n as i64
    }
}

fn field(t: &Table, name: &str) -> Value {
    t.raw_get(name).unwrap_or(Value::Nil)
}

fn table_to_reply(t: &Table, resp3: bool, depth: usize) -> Reply {
    if let Value::String(e) = field(t, "err") {
        return Reply::Error(e.to_string_lossy().into());
    }
    if let Value::String(s) = field(t, "ok") {
        let text = s.to_string_lossy().replace(['\r', '\n'], " ");
        return Reply::Status(text.into());
    }
    match field(t, "double") {
        Value::Number(d) => return Reply::Double(d),
        Value::Integer(n) => return Reply::Double(n as f64),
        _ => {}
    }
    if let Value::String(s) = field(t, "big_number") {
        let text = s.to_string_lossy().replace(['\r', '\n'], " ");
        return Reply::BigNum(Bytes::from(text));
    }
    if let Value::Table(vt) = field(t, "verbatim_string") {
        if let (Value::String(_), Value::String(s)) = (field(&vt, "format"), field(&vt, "string")) {
            return Reply::Verbatim(Bytes::copy_from_slice(&s.as_bytes()));
        }
    }
    if let Value::Table(m) = field(t, "map") {
        let pairs = m
            .pairs::<Value, Value>()
            .filter_map(Result::ok)
            .map(|(k, v)| {
                (
                    to_reply(&k, resp3, depth + 1),
                    to_reply(&v, resp3, depth + 1),
                )
            })
            .collect();
        return Reply::Map(pairs);
    }
    if let Value::Table(s) = field(t, "set") {
        let items = s
            .pairs::<Value, Value>()
            .filter_map(Result::ok)
            .map(|(k, _)| to_reply(&k, resp3, depth + 1))
            .collect();
        return Reply::Set(items);
    }
    let mut items = Vec::new();
    for i in 1.. {
        let v: Value = t.raw_get(i).unwrap_or(Value::Nil);
        if v.is_nil() {
            break;
        }
        items.push(to_reply(&v, resp3, depth + 1));
    }
    Reply::Array(items)
}
