//! `cjson.decode`: JSON text to Lua values (`json_next_token`, `json_process_value`).
//!
//! lua-cjson reads the text as a C string: a NUL byte, like the end of the text, is the end
//! token (so `"[1]\0junk"` decodes as `[1]`).

use mlua::{Lua, Table, Value};

use super::Config;
use crate::scripting::libs::{one, Args, LibError, LibResult, Ret, MAX_C_STACK};

/// `json_decode`.
pub(super) fn decode(lua: &Lua, cfg: &Config, a: Args) -> LibResult<Ret> {
    if a.len() != 1 {
        return Err(LibError::Arg(1, "expected 1 argument".into()));
    }
    let data = a.check_bytes(lua, 1)?;
    if data.len() >= 2 && (data[0] == 0 || data[1] == 0) {
        return Err(LibError::Msg(
            "JSON parser does not support UTF-16 or UTF-32".into(),
        ));
    }
    let mut p = Parser {
        lua,
        cfg,
        data: &data,
        pos: 0,
        depth: 0,
        tmp: Vec::new(),
        tmp_key: Vec::new(),
    };
    let tok = p.next_token();
    // The string argument holds one stack slot.
    let v = p.value(tok, 1)?;
    let tok = p.next_token();
    if !matches!(tok.kind, Kind::End) {
        return Err(parse_error("the end", &tok));
    }
    Ok(one(v))
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str,
    Number(f64),
    Boolean(bool),
    Null,
    Colon,
    Comma,
    End,
    /// A lexical error, with lua-cjson's description.
    Error(&'static str),
}

#[derive(Debug, Clone, Copy)]
struct Token {
    kind: Kind,
    /// 0-based offset of the token (of the error, for `Kind::Error`).
    index: usize,
}

fn kind_name(k: &Kind) -> &'static str {
    match k {
        Kind::ObjBegin => "T_OBJ_BEGIN",
        Kind::ObjEnd => "T_OBJ_END",
        Kind::ArrBegin => "T_ARR_BEGIN",
        Kind::ArrEnd => "T_ARR_END",
        Kind::Str => "T_STRING",
        Kind::Number(_) => "T_NUMBER",
        Kind::Boolean(_) => "T_BOOLEAN",
        Kind::Null => "T_NULL",
        Kind::Colon => "T_COLON",
        Kind::Comma => "T_COMMA",
        Kind::End => "T_END",
        Kind::Error(e) => e,
    }
}

/// "Expected <what> but found <token> at character <n>" (`json_throw_parse_error`).
fn parse_error(expected: &str, tok: &Token) -> LibError {
    LibError::Msg(format!(
        "Expected {expected} but found {} at character {}",
        kind_name(&tok.kind),
        tok.index + 1
    ))
}

struct Parser<'a> {
    lua: &'a Lua,
    cfg: &'a Config,
    data: &'a [u8],
    pos: usize,
    depth: i32,
    /// The last string token's bytes.
    tmp: Vec<u8>,
    /// The current object key's bytes.
    tmp_key: Vec<u8>,
}

impl Parser<'_> {
    /// The byte at `i`, NUL past the end (the C code reads a NUL-terminated buffer).
    fn at(&self, i: usize) -> u8 {
        self.data.get(i).copied().unwrap_or(0)
    }

    fn starts_with(&self, s: &[u8]) -> bool {
        self.data.get(self.pos..self.pos + s.len()) == Some(s)
    }

    fn error_at(&self, what: &'static str) -> Token {
        Token {
            kind: Kind::Error(what),
            index: self.pos,
        }
    }

    fn next_token(&mut self) -> Token {
        while matches!(self.at(self.pos), b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        let index = self.pos;
        let ch = self.at(self.pos);
        let simple = match ch {
            b'{' => Some(Kind::ObjBegin),
            b'}' => Some(Kind::ObjEnd),
            b'[' => Some(Kind::ArrBegin),
            b']' => Some(Kind::ArrEnd),
            b',' => Some(Kind::Comma),
            b':' => Some(Kind::Colon),
            _ => None,
        };
        if let Some(kind) = simple {
            self.pos += 1;
            return Token { kind, index };
        }
        match ch {
            0 => Token {
                kind: Kind::End,
                index,
            },
            b'"' => self.string_token(),
            b'-' | b'0'..=b'9' => {
                if self.cfg.decode_invalid_numbers == 0 && self.is_invalid_number() {
                    return self.error_at("invalid number");
                }
                self.number_token()
            }
            b'f' | b'i' | b'I' | b'n' | b'N' | b't' | b'+' => {
                let word = |kind, len| (kind, len);
                let found = if self.starts_with(b"true") {
                    Some(word(Kind::Boolean(true), 4))
                } else if self.starts_with(b"false") {
                    Some(word(Kind::Boolean(false), 5))
                } else if self.starts_with(b"null") {
                    Some(word(Kind::Null, 4))
                } else {
                    None
                };
                if let Some((kind, len)) = found {
                    self.pos += len;
                    return Token { kind, index };
                }
                if self.cfg.decode_invalid_numbers != 0 && self.is_invalid_number() {
                    return self.number_token();
                }
                self.error_at("invalid token")
            }
            _ => self.error_at("invalid token"),
        }
    }

    /// `json_is_invalid_number`: forms strtod accepts that strict JSON does not.
    fn is_invalid_number(&self) -> bool {
        let mut p = self.pos;
        match self.at(p) {
            b'+' => return true,
            b'-' => p += 1,
            _ => {}
        }
        let c = self.at(p);
        if c == b'0' {
            let c2 = self.at(p + 1);
            return (c2 | 0x20) == b'x' || c2.is_ascii_digit();
        }
        if c <= b'9' {
            return false;
        }
        let rest = |s: &[u8]| {
            self.data
                .get(p..p + 3)
                .is_some_and(|w| w.eq_ignore_ascii_case(s))
        };
        rest(b"inf") || rest(b"nan")
    }

    fn number_token(&mut self) -> Token {
        let index = self.pos;
        match strtod(&self.data[self.pos.min(self.data.len())..]) {
            Some((n, used)) => {
                self.pos += used;
                Token {
                    kind: Kind::Number(n),
                    index,
                }
            }
            None => self.error_at("invalid number"),
        }
    }

    fn string_token(&mut self) -> Token {
        let index = self.pos;
        self.pos += 1;
        self.tmp.clear();
        loop {
            let ch = self.at(self.pos);
            if ch == b'"' {
                break;
            }
            if ch == 0 {
                return self.error_at("unexpected end of string");
            }
            if ch != b'\\' {
                self.tmp.push(ch);
                self.pos += 1;
                continue;
            }
            let esc = match self.at(self.pos + 1) {
                b'"' => b'"',
                b'\\' => b'\\',
                b'/' => b'/',
                b'b' => 0x08,
                b't' => b'\t',
                b'n' => b'\n',
                b'f' => 0x0c,
                b'r' => b'\r',
                b'u' => {
                    if self.unicode_escape() {
                        continue;
                    }
                    return self.error_at("invalid unicode escape code");
                }
                _ => return self.error_at("invalid escape code"),
            };
            self.tmp.push(esc);
            self.pos += 2;
        }
        self.pos += 1;
        Token {
            kind: Kind::Str,
            index,
        }
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let mut v = 0u32;
        for i in 0..4 {
            let d = char::from(self.at(at + i)).to_digit(16)?;
            v = (v << 4) | d;
        }
        Some(v)
    }

    /// `json_append_unicode_escape`: `\uXXXX` (or a surrogate pair) at `pos` to UTF-8.
    fn unicode_escape(&mut self) -> bool {
        let Some(mut cp) = self.hex4(self.pos + 2) else {
            return false;
        };
        let mut len = 6;
        if cp & 0xF800 == 0xD800 {
            if cp & 0x400 != 0 {
                return false;
            }
            if self.at(self.pos + 6) != b'\\' || self.at(self.pos + 7) != b'u' {
                return false;
            }
            let Some(low) = self.hex4(self.pos + 8) else {
                return false;
            };
            if low & 0xFC00 != 0xDC00 {
                return false;
            }
            cp = (((cp & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000;
            len = 12;
        }
        // Code points here are at most 0x10FFFF, so the 4-byte form always suffices.
        if cp <= 0x7F {
            self.tmp.push(cp as u8);
        } else if cp <= 0x7FF {
            self.tmp.push((cp >> 6) as u8 | 0xC0);
            self.tmp.push((cp & 0x3F) as u8 | 0x80);
        } else if cp <= 0xFFFF {
            self.tmp.push((cp >> 12) as u8 | 0xE0);
            self.tmp.push(((cp >> 6) & 0x3F) as u8 | 0x80);
            self.tmp.push((cp & 0x3F) as u8 | 0x80);
        } else {
            self.tmp.push((cp >> 18) as u8 | 0xF0);
            self.tmp.push(((cp >> 12) & 0x3F) as u8 | 0x80);
            self.tmp.push(((cp >> 6) & 0x3F) as u8 | 0x80);
            self.tmp.push((cp & 0x3F) as u8 | 0x80);
        }
        self.pos += len;
        true
    }

    /// `json_decode_descend`: one more level of nesting needing `slots` free stack slots
    /// above `top`.
    fn descend(&mut self, top: usize, slots: usize) -> LibResult<()> {
        self.depth += 1;
        if self.depth <= self.cfg.decode_max_depth && top + slots <= MAX_C_STACK {
            return Ok(());
        }
        Err(LibError::Msg(format!(
            "Found too many nested data structures ({}) at character {}",
            self.depth, self.pos
        )))
    }

    /// `json_process_value` and the array/object contexts it recurses into, with an explicit
    /// stack of open containers (nesting may go as deep as Lua's stack allows, ~8000).
    /// `tok` starts the value; `base` is the stack slots in use below it.
    fn value(&mut self, mut tok: Token, base: usize) -> LibResult<Value> {
        let mut open: Vec<Open> = Vec::new();
        // The innermost open table (the others wait in Lua).
        let mut cur: Option<Table> = None;
        // The open tables by depth, kept in Lua: nesting may go thousands deep, more than
        // mlua's reference stack holds.
        let tables = self.lua.create_table()?;
        // Stack slots in use below the value being parsed.
        let mut top = base;
        loop {
            // Parse the value starting at `tok`, or open a container.
            let mut v = match tok.kind {
                Kind::Str => Value::String(self.lua.create_string(&self.tmp)?),
                Kind::Number(n) => Value::Number(n),
                Kind::Boolean(b) => Value::Boolean(b),
                Kind::Null => Value::NULL,
                Kind::ArrBegin => {
                    // .., table, value
                    self.descend(top, 2)?;
                    let t = self.lua.create_table()?;
                    tok = self.next_token();
                    if tok.kind != Kind::ArrEnd {
                        tables.raw_set(open.len() as i64 + 1, t.clone())?;
                        cur = Some(t);
                        open.push(Open::Array(1));
                        top += 1;
                        continue;
                    }
                    self.depth -= 1;
                    Value::Table(t)
                }
                Kind::ObjBegin => {
                    // .., table, key, value
                    self.descend(top, 3)?;
                    let t = self.lua.create_table()?;
                    tok = self.next_token();
                    if tok.kind != Kind::ObjEnd {
                        tok = self.object_key(tok)?;
                        tables.raw_set(open.len() as i64 + 1, t.clone())?;
                        cur = Some(t);
                        open.push(Open::Object(std::mem::take(&mut self.tmp_key)));
                        top += 2;
                        continue;
                    }
                    self.depth -= 1;
                    Value::Table(t)
                }
                _ => return Err(parse_error("value", &tok)),
            };
            // Store the value in its container; close containers that end here.
            loop {
                let depth = open.len() as i64;
                match open.last_mut() {
                    None => return Ok(v),
                    Some(Open::Array(i)) => {
                        // Always set while a table is open.
                        let Some(t) = &cur else { return Ok(Value::Nil) };
                        t.raw_set(*i, v)?;
                        *i += 1;
                        let next = self.next_token();
                        match next.kind {
                            Kind::Comma => {
                                tok = self.next_token();
                                break;
                            }
                            Kind::ArrEnd => {}
                            _ => return Err(parse_error("comma or array end", &next)),
                        }
                    }
                    Some(Open::Object(key)) => {
                        // Always set while a table is open.
                        let Some(t) = &cur else { return Ok(Value::Nil) };
                        t.raw_set(self.lua.create_string(&key)?, v)?;
                        let next = self.next_token();
                        match next.kind {
                            Kind::Comma => {
                                let key_tok = self.next_token();
                                tok = self.object_key(key_tok)?;
                                std::mem::swap(key, &mut self.tmp_key);
                                break;
                            }
                            Kind::ObjEnd => {}
                            _ => return Err(parse_error("comma or object end", &next)),
                        }
                    }
                }
                // The container ended: it is the value to store in the one around it.
                self.depth -= 1;
                top -= match open.pop() {
                    Some(Open::Object(_)) => 2,
                    _ => 1,
                };
                v = cur.take().map_or(Value::Nil, Value::Table);
                tables.raw_set(depth, Value::Nil)?;
                if depth > 1 {
                    cur = Some(tables.raw_get(depth - 1)?);
                }
            }
        }
    }

    /// An object member's start: `tok` must be the key string, then a colon; the key is left
    /// in `tmp_key` and the value's first token is returned.
    fn object_key(&mut self, tok: Token) -> LibResult<Token> {
        if tok.kind != Kind::Str {
            return Err(parse_error("object key string", &tok));
        }
        std::mem::swap(&mut self.tmp, &mut self.tmp_key);
        let colon = self.next_token();
        if colon.kind != Kind::Colon {
            return Err(parse_error("colon", &colon));
        }
        Ok(self.next_token())
    }
}

/// A container being parsed: an array with its next index, or an object with the key of the
/// member being parsed.
enum Open {
    Array(i64),
    Object(Vec<u8>),
}

/// glibc `strtod` on the start of `s` (which the caller knows starts with a sign, a digit or a
/// letter of "inf"/"nan"): the value and the bytes used, or `None` when nothing converts.
/// Reading stops at a NUL byte, as the C string would end there.
pub(crate) fn strtod(s: &[u8]) -> Option<(f64, usize)> {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let mut p = 0;
    let neg = match at(0) {
        b'-' => {
            p = 1;
            true
        }
        b'+' => {
            p = 1;
            false
        }
        _ => false,
    };
    let sign = |v: f64| if neg { -v } else { v };
    let word = |at_p: usize, w: &[u8]| {
        s.get(at_p..at_p + w.len())
            .is_some_and(|x| x.eq_ignore_ascii_case(w))
    };
    if word(p, b"inf") {
        let used = if word(p, b"infinity") { p + 8 } else { p + 3 };
        return Some((sign(f64::INFINITY), used));
    }
    if word(p, b"nan") {
        let mut used = p + 3;
        if at(used) == b'(' {
            let mut q = used + 1;
            while at(q).is_ascii_alphanumeric() || at(q) == b'_' {
                q += 1;
            }
            if at(q) == b')' {
                used = q + 1;
            }
        }
        return Some((sign(f64::NAN), used));
    }
    if at(p) == b'0' && (at(p + 1) | 0x20) == b'x' {
        if let Some((v, used)) = hex_float(s, p + 2) {
            return Some((sign(v), used));
        }
        // "0x" without hex digits: only the "0" converts.
        return Some((sign(0.0), p + 1));
    }
    let start = p;
    let mut digits = 0;
    while at(p).is_ascii_digit() {
        p += 1;
        digits += 1;
    }
    if at(p) == b'.' {
        p += 1;
        while at(p).is_ascii_digit() {
            p += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return None;
    }
    if (at(p) | 0x20) == b'e' {
        let mut q = p + 1;
        if matches!(at(q), b'+' | b'-') {
            q += 1;
        }
        if at(q).is_ascii_digit() {
            while at(q).is_ascii_digit() {
                q += 1;
            }
            p = q;
        }
    }
    let text = std::str::from_utf8(&s[start..p]).ok()?;
    let v: f64 = text.parse().ok()?;
    Some((sign(v), p))
}

/// The hexadecimal part of a strtod "0x..." number starting at `p` (after "0x").
fn hex_float(s: &[u8], mut p: usize) -> Option<(f64, usize)> {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let mut mant: u64 = 0;
    let mut exp: i64 = 0;
    let mut digits = 0;
    let mut sticky = false;
    let mut add = |d: u32, frac: bool, mant: &mut u64, exp: &mut i64| {
        if *mant >> 56 == 0 {
            *mant = (*mant << 4) | u64::from(d);
            if frac {
                *exp -= 4;
            }
        } else {
            sticky |= d != 0;
            if !frac {
                *exp += 4;
            }
        }
    };
    while let Some(d) = char::from(at(p)).to_digit(16) {
        add(d, false, &mut mant, &mut exp);
        p += 1;
        digits += 1;
    }
    if at(p) == b'.' {
        let mut q = p + 1;
        let mut frac_digits = 0;
        while let Some(d) = char::from(at(q)).to_digit(16) {
            add(d, true, &mut mant, &mut exp);
            q += 1;
            frac_digits += 1;
        }
        if digits + frac_digits > 0 {
            p = q;
            digits += frac_digits;
        }
    }
    if digits == 0 {
        return None;
    }
    if (at(p) | 0x20) == b'p' {
        let mut q = p + 1;
        let neg = match at(q) {
            b'-' => {
                q += 1;
                true
            }
            b'+' => {
                q += 1;
                false
            }
            _ => false,
        };
        if at(q).is_ascii_digit() {
            let mut e: i64 = 0;
            while at(q).is_ascii_digit() {
                e = (e * 10 + i64::from(at(q) - b'0')).min(1 << 20);
                q += 1;
            }
            exp += if neg { -e } else { e };
            p = q;
        }
    }
    let m = if sticky { mant | 1 } else { mant };
    let v = (m as f64) * 2f64.powi(exp.clamp(-2000, 2000) as i32);
    Some((v, p))
}
