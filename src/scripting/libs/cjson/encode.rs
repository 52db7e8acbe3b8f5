//! `cjson.encode`: Lua values to JSON text (`json_append_data` and friends).

use mlua::{Function, Lua, Table, Value};

use super::Config;
use crate::scripting::libs::{
    c_double_to_i32, lua_type_name, one, Args, LibError, LibResult, Ret, MAX_C_STACK,
};
use crate::util::format_g;

/// `json_encode`: exactly one argument, serialised.
pub(super) fn encode(lua: &Lua, cfg: &Config, next: &Function, a: Args) -> LibResult<Ret> {
    if a.len() != 1 {
        return Err(LibError::Arg(1, "expected 1 argument".into()));
    }
    let mut enc = Encoder {
        cfg,
        next,
        out: Vec::new(),
    };
    // The argument occupies one stack slot of the C function.
    enc.value(lua, &a.get(1), 1)?;
    Ok(one(Value::String(lua.create_string(&enc.out)?)))
}

struct Encoder<'a> {
    cfg: &'a Config,
    /// Lua's `next`, to walk objects one member at a time.
    next: &'a Function,
    out: Vec<u8>,
}

/// "Cannot serialise <type>: <reason>" (`json_encode_exception`).
fn exception(v: &Value, reason: &str) -> LibError {
    LibError::Msg(format!("Cannot serialise {}: {reason}", lua_type_name(v)))
}

/// A table being written: an array with its length and next index, or an object (whether a
/// member was written yet). The tables themselves, and objects' last keys, are kept in Lua.
enum Open {
    Array(i32, i32),
    Object(bool),
}

impl Encoder<'_> {
    /// Appends `v` (`json_append_data`), with an explicit stack of open tables: nesting may go
    /// as deep as the settings and Lua's stack allow. `top` is the Lua stack slots the C code
    /// would be using (its `lua_checkstack` limit is part of the nesting check).
    fn value(&mut self, lua: &Lua, v: &Value, base: usize) -> LibResult<()> {
        let mut open: Vec<Open> = Vec::new();
        // Nesting may go thousands deep, more than mlua's reference stack holds: the open
        // tables and the keys reached in objects stay in Lua.
        let tables = lua.create_table()?;
        let keys = lua.create_table()?;
        // The innermost open table, and the last key reached in it when it is an object.
        let mut cur: Option<Table> = None;
        let mut last = Value::Nil;
        let mut top = base;
        let mut next = v.clone();
        loop {
            if let Value::Table(t) = &next {
                let t = &crate::scripting::libs::see_through(lua, t);
                let depth = open.len() as i32 + 1;
                if depth > self.cfg.encode_max_depth || top + 3 > MAX_C_STACK {
                    return Err(LibError::Msg(format!(
                        "Cannot serialise, excessive nesting ({depth})"
                    )));
                }
                let len = self.array_length(t, &next)?;
                if let Some(Open::Object(_)) = open.last() {
                    keys.raw_set(depth - 1, std::mem::replace(&mut last, Value::Nil))?;
                }
                tables.raw_set(depth, t)?;
                cur = Some(t.clone());
                if len > 0 {
                    self.out.push(b'[');
                    open.push(Open::Array(len, 1));
                    // .., table, item
                    top += 1;
                } else {
                    self.out.push(b'{');
                    open.push(Open::Object(false));
                    // .., table, key, value
                    top += 2;
                }
            } else {
                self.scalar(&next)?;
            }
            // The next item of the innermost open table, closing the finished ones.
            loop {
                let depth = open.len() as i64;
                match open.last_mut() {
                    None => return Ok(()),
                    Some(Open::Array(len, i)) => {
                        if *i <= *len {
                            if *i > 1 {
                                self.out.push(b',');
                            }
                            next = match &cur {
                                Some(t) => t.raw_get(*i)?,
                                None => Value::Nil,
                            };
                            *i += 1;
                            break;
                        }
                        self.out.push(b']');
                        top -= 1;
                    }
                    Some(Open::Object(comma)) => {
                        let (k, item): (Value, Value) =
                            self.next.call((cur.clone(), last.clone()))?;
                        if !k.is_nil() {
                            if *comma {
                                self.out.push(b',');
                            }
                            *comma = true;
                            self.key(&k)?;
                            last = k;
                            next = item;
                            break;
                        }
                        self.out.push(b'}');
                        top -= 2;
                    }
                }
                open.pop();
                tables.raw_set(depth, Value::Nil)?;
                // Back to the table around: its last key was saved when this one opened.
                cur = if depth > 1 {
                    Some(tables.raw_get(depth - 1)?)
                } else {
                    None
                };
                last = match open.last() {
                    Some(Open::Object(_)) => keys.raw_get(depth - 1)?,
                    _ => Value::Nil,
                };
            }
        }
    }

    /// A value other than a table.
    fn scalar(&mut self, v: &Value) -> LibResult<()> {
        match v {
            Value::String(s) => append_string(&mut self.out, &s.as_bytes()),
            Value::Integer(i) => self.number(v, *i as f64)?,
            Value::Number(n) => self.number(v, *n)?,
            Value::Boolean(true) => self.out.extend_from_slice(b"true"),
            Value::Boolean(false) => self.out.extend_from_slice(b"false"),
            Value::Nil => self.out.extend_from_slice(b"null"),
            Value::LightUserData(p) if p.0.is_null() => self.out.extend_from_slice(b"null"),
            _ => return Err(exception(v, "type not supported")),
        }
        Ok(())
    }

    /// An object member's key and colon: numbers are written as strings.
    fn key(&mut self, k: &Value) -> LibResult<()> {
        match k {
            Value::Integer(i) => {
                self.out.push(b'"');
                self.number(k, *i as f64)?;
                self.out.extend_from_slice(b"\":");
            }
            Value::Number(n) => {
                self.out.push(b'"');
                self.number(k, *n)?;
                self.out.extend_from_slice(b"\":");
            }
            Value::String(s) => {
                append_string(&mut self.out, &s.as_bytes());
                self.out.push(b':');
            }
            _ => return Err(exception(k, "table key must be a number or string")),
        }
        Ok(())
    }

    /// `json_append_number`.
    fn number(&mut self, v: &Value, n: f64) -> LibResult<()> {
        match self.cfg.encode_invalid_numbers {
            0 => {
                if !n.is_finite() {
                    return Err(exception(v, "must not be NaN or Inf"));
                }
            }
            1 => {
                if n.is_nan() {
                    self.out.extend_from_slice(b"nan");
                    return Ok(());
                }
            }
            _ => {
                if !n.is_finite() {
                    self.out.extend_from_slice(b"null");
                    return Ok(());
                }
            }
        }
        let precision = self.cfg.encode_number_precision.clamp(1, 14) as usize;
        self.out
            .extend_from_slice(format_g(n, precision).as_bytes());
        Ok(())
    }

    /// `lua_array_length`: the array size when every key is a positive integer and the array
    /// is not excessively sparse, else -1 (or 0 for an empty table: both mean "object").
    fn array_length(&self, t: &Table, v: &Value) -> LibResult<i32> {
        let mut max: i32 = 0;
        let mut items: i32 = 0;
        for pair in t.pairs::<Value, Value>() {
            let (k, _) = pair?;
            let k = match k {
                Value::Integer(i) => i as f64,
                Value::Number(n) => n,
                _ => return Ok(-1),
            };
            if k == 0.0 || k.is_nan() || k.floor() != k || k < 1.0 {
                return Ok(-1);
            }
            if k > f64::from(max) {
                max = c_double_to_i32(k);
            }
            items = items.wrapping_add(1);
        }
        let cfg = self.cfg;
        if cfg.sparse_ratio > 0
            && max > items.wrapping_mul(cfg.sparse_ratio)
            && max > cfg.sparse_safe
        {
            if cfg.sparse_convert == 0 {
                return Err(exception(v, "excessively sparse array"));
            }
            return Ok(-1);
        }
        Ok(max)
    }
}

/// A JSON string literal: `"`, `\`, `/`, control characters and DEL escaped, other bytes as is.
fn append_string(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            0x08 => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0..=0x1f | 0x7f => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(c >> 4)]);
                out.push(HEX[usize::from(c & 15)]);
            }
            _ => out.push(c),
        }
    }
    out.push(b'"');
}
