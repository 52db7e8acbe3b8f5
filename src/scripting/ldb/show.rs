//! What the debugger shows: Lua values (redis `ldbCatStackValue`), replies of `redis.call`
//! (redis `ldbRedisProtocolToHuman`), and the local variables of a running function.

use mlua::{ffi, Lua, MultiValue, Value};

/// Nesting past which tables are not shown (redis `LDB_MAX_VALUES_DEPTH`).
const MAX_DEPTH: usize = 10;

/// Appends `v` as the debugger shows values.
pub fn value(out: &mut Vec<u8>, v: &Value, depth: usize) {
    if depth == MAX_DEPTH {
        out.extend_from_slice(b"<max recursion level reached! Nested table?>");
        return;
    }
    match v {
        Value::String(s) => out.extend_from_slice(crate::util::repr(&s.as_bytes()).as_bytes()),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(n) => out.extend_from_slice(crate::util::format_g(*n as f64, 6).as_bytes()),
        Value::Number(n) => out.extend_from_slice(crate::util::format_g(*n, 6).as_bytes()),
        Value::Nil => out.extend_from_slice(b"nil"),
        Value::Table(t) => {
            // Shown as an array while its keys are 1, 2, 3... in iteration order.
            let (mut as_array, mut as_map) = (Vec::new(), Vec::new());
            let mut is_array = true;
            let mut expected = 1.0;
            for (k, v) in t.pairs::<Value, Value>().flatten() {
                let index = match k {
                    Value::Integer(n) => Some(n as f64),
                    Value::Number(n) => Some(n),
                    _ => None,
                };
                if index != Some(expected) {
                    is_array = false;
                }
                if !as_array.is_empty() {
                    as_array.extend_from_slice(b"; ");
                    as_map.extend_from_slice(b"; ");
                }
                value(&mut as_array, &v, depth + 1);
                as_map.push(b'[');
                value(&mut as_map, &k, depth + 1);
                as_map.extend_from_slice(b"]=");
                value(&mut as_map, &v, depth + 1);
                expected += 1.0;
            }
            out.push(b'{');
            out.extend_from_slice(if is_array { &as_array } else { &as_map });
            out.push(b'}');
        }
        Value::Function(_) | Value::UserData(_) | Value::Thread(_) | Value::LightUserData(_) => {
            let kind = match v {
                Value::Function(_) => "function",
                Value::UserData(_) => "userdata",
                Value::Thread(_) => "thread",
                _ => "light-userdata",
            };
            out.extend_from_slice(format!("\"{kind}@{:p}\"", v.to_pointer()).as_bytes());
        }
        _ => out.extend_from_slice(b"\"<unknown-lua-type>\""),
    }
}

/// Appends a RESP reply in the debugger's human form.
pub fn resp_to_human(out: &mut Vec<u8>, reply: &[u8]) {
    let _ = human(out, reply);
}

/// One reply at the start of `reply`; returns the rest.
fn human<'a>(out: &mut Vec<u8>, reply: &'a [u8]) -> &'a [u8] {
    let Some(eol) = memchr::memchr(b'\r', reply) else {
        return &[];
    };
    let (head, rest) = (&reply[1..eol], reply.get(eol + 2..).unwrap_or_default());
    let count = || crate::util::parse_i64(head).unwrap_or(0);
    match reply[0] {
        b':' => out.extend_from_slice(head),
        b'$' => {
            let n = count();
            if n < 0 {
                out.extend_from_slice(b"NULL");
                return rest;
            }
            let n = (n as usize).min(rest.len());
            out.extend_from_slice(crate::util::repr(&rest[..n]).as_bytes());
            return rest.get(n + 2..).unwrap_or_default();
        }
        b'+' | b'-' => out.extend_from_slice(crate::util::repr(&reply[..eol]).as_bytes()),
        b'*' | b'~' => {
            let n = count();
            if reply[0] == b'*' && n < 0 {
                out.extend_from_slice(b"NULL");
                return rest;
            }
            let (open, close): (&[u8], &[u8]) = if reply[0] == b'*' {
                (b"[", b"]")
            } else {
                (b"~(", b")")
            };
            out.extend_from_slice(open);
            let mut p = rest;
            for j in 0..n {
                p = human(out, p);
                if j != n - 1 {
                    out.push(b',');
                }
            }
            out.extend_from_slice(close);
            return p;
        }
        b'%' => {
            let n = count();
            out.push(b'{');
            let mut p = rest;
            for j in 0..n {
                p = human(out, p);
                out.extend_from_slice(b" => ");
                p = human(out, p);
                if j != n - 1 {
                    out.push(b',');
                }
            }
            out.push(b'}');
            return p;
        }
        b'_' => out.extend_from_slice(b"(null)"),
        b'#' => out.extend_from_slice(if head.first() == Some(&b't') {
            b"#true"
        } else {
            b"#false"
        }),
        b',' => {
            out.extend_from_slice(b"(double) ");
            out.extend_from_slice(head);
        }
        // Types Redis's debugger does not decode: nothing more is shown.
        _ => return &[],
    }
    rest
}

/// The local variables (name, value) of the function `level` calls above the one the hook
/// stopped in (0: that one); `None` past the outermost call. Our own Lua code (the sandbox's
/// wrappers) shows none.
pub fn locals(lua: &Lua, level: i32) -> Option<Vec<(Vec<u8>, Value)>> {
    // SAFETY: only the Lua C API on the running state, with the stack space it needs checked;
    // every value pushed is returned to mlua as a result.
    let values: MultiValue = unsafe {
        lua.exec_raw((), |state| {
            let mut ar: ffi::lua_Debug = std::mem::zeroed();
            // The closure runs in a C function called from the hook: that is level 0.
            if ffi::lua_getstack(state, level + 1, &mut ar) == 0 {
                ffi::lua_pushboolean(state, 0);
                return;
            }
            ffi::lua_pushboolean(state, 1);
            ffi::lua_getinfo(state, c"S".as_ptr(), &mut ar);
            let source = std::ffi::CStr::from_ptr(ar.source.cast());
            if source.to_bytes() == super::super::vm::SANDBOX_CHUNK.as_bytes() {
                return;
            }
            let mut i = 1;
            while ffi::lua_checkstack(state, 2) != 0 {
                let name = ffi::lua_getlocal(state, &ar, i);
                if name.is_null() {
                    break;
                }
                ffi::lua_pushstring(state, name);
                ffi::lua_insert(state, -2);
                i += 1;
            }
        })
    }
    .ok()?;
    let mut it = values.into_iter();
    if !matches!(it.next(), Some(Value::Boolean(true))) {
        return None;
    }
    let mut vars = Vec::new();
    while let (Some(Value::String(name)), Some(v)) = (it.next(), it.next()) {
        vars.push((name.as_bytes().to_vec(), v));
    }
    Some(vars)
}

#[cfg(test)]
mod tests {
    #[test]
    fn replies_in_human_form() {
        let show = |resp: &[u8]| {
            let mut out = Vec::new();
            super::resp_to_human(&mut out, resp);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(show(b"+OK\r\n"), "\"+OK\"");
        assert_eq!(show(b"$-1\r\n"), "NULL");
        assert_eq!(show(b"*2\r\n$1\r\na\r\n:1\r\n"), "[\"a\",1]");
        assert_eq!(
            show(b"%1\r\n$1\r\nk\r\n,1.5\r\n"),
            "{\"k\" => (double) 1.5}"
        );
        assert_eq!(show(b"~1\r\n#t\r\n"), "~(#true)");
    }
}
