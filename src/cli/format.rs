//! Reply formatting, byte for byte as redis-cli 7.0 prints replies (`cliFormatReplyTTY`,
//! `cliFormatReplyRaw`, `cliFormatReplyCSV`, `cliFormatReplyJson`).
//!
//! Scripts parse redis-cli's output, so every space, quote and escape here is part of the
//! interface. Knows [`Value`]s and bytes, not connections.

use super::resp::Value;

/// How replies are printed (redis-cli's `OUTPUT_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMode {
    /// `1) "a"`, `(integer) 1`: the default when stdout is a terminal.
    Standard,
    /// Bare values, one per line: the default when stdout is not a terminal.
    Raw,
    /// `--csv`
    Csv,
    /// `--json`
    Json,
    /// `--quoted-json`
    QuotedJson,
}

/// Appends `bytes` as a double-quoted string with C escapes (sds `sdscatrepr`): `\\`, `\"`,
/// `\n`, `\r`, `\t`, `\a`, `\b`, printable ASCII as is, everything else as `\xhh`.
pub fn repr(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    for &b in bytes {
        match b {
            b'\\' | b'"' => {
                out.push(b'\\');
                out.push(b);
            }
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

/// `repr` into a new `String` (its output is ASCII).
pub fn repr_string(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len() + 2);
    repr(&mut out, bytes);
    String::from_utf8_lossy(&out).into_owned()
}

/// C strings stop at the first NUL: redis-cli prints errors with `%s`.
fn c_str(bytes: &[u8]) -> &[u8] {
    match memchr::memchr(0, bytes) {
        Some(nul) => &bytes[..nul],
        None => bytes,
    }
}

/// Whether `cliFormatReplyTTY` would print `v` on more than one line.
fn is_multiline_tty(v: &Value) -> bool {
    match v {
        Value::Array(e) | Value::Set(e) | Value::Push(e) => match e.len() {
            0 => false,
            1 => is_multiline_tty(&e[0]),
            _ => true,
        },
        Value::Map(e) => match e.len() {
            0 => false,
            1 | 2 => e.get(1).is_some_and(is_multiline_tty),
            _ => true,
        },
        _ => false,
    }
}

/// The human-readable form (`cliFormatReplyTTY`). `prefix` indents every line but the first
/// of a nested aggregate, whose first line follows its parent's index.
pub fn format_tty(v: &Value, prefix: &str, out: &mut Vec<u8>) {
    match v {
        Value::Error(e) => {
            out.extend_from_slice(b"(error) ");
            out.extend_from_slice(c_str(e));
            out.push(b'\n');
        }
        Value::Status(s) => {
            out.extend_from_slice(c_str(s));
            out.push(b'\n');
        }
        Value::Verbatim(s) => {
            out.extend_from_slice(s);
            out.push(b'\n');
        }
        Value::Int(i) => out.extend_from_slice(format!("(integer) {i}\n").as_bytes()),
        Value::Double(d) => {
            out.extend_from_slice(b"(double) ");
            out.extend_from_slice(d);
            out.push(b'\n');
        }
        Value::BigNumber(n) => {
            out.extend_from_slice(b"(big number) ");
            out.extend_from_slice(n);
            out.push(b'\n');
        }
        Value::Bulk(b) => {
            repr(out, b);
            out.push(b'\n');
        }
        Value::Nil => out.extend_from_slice(b"(nil)\n"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"(true)\n" } else { b"(false)\n" }),
        Value::Array(e) | Value::Map(e) | Value::Set(e) | Value::Push(e) => {
            if e.is_empty() {
                out.extend_from_slice(match v {
                    Value::Array(_) => b"(empty array)\n".as_slice(),
                    Value::Map(_) => b"(empty hash)\n",
                    Value::Set(_) => b"(empty set)\n",
                    _ => b"(empty push)\n",
                });
                return;
            }
            let is_map = matches!(v, Value::Map(_));
            let shown = if is_map { e.len() / 2 } else { e.len() };
            let idxlen = shown.to_string().len();
            let child_prefix = format!("{prefix}{}", " ".repeat(idxlen + 2));
            let sep = match v {
                Value::Set(_) => '~',
                Value::Map(_) => '#',
                _ => ')',
            };
            let mut i = 0;
            while i < e.len() {
                let human = if is_map { i / 2 + 1 } else { i + 1 };
                let lead = if i == 0 { "" } else { prefix };
                out.extend_from_slice(format!("{lead}{human:>idxlen$}{sep} ").as_bytes());
                format_tty(&e[i], &child_prefix, out);
                if is_map {
                    i += 1;
                    // The key's line break gives way to " => " and the value.
                    out.pop();
                    out.extend_from_slice(b" => ");
                    if let Some(value) = e.get(i) {
                        if is_multiline_tty(value) {
                            out.push(b'\n');
                            out.extend_from_slice(child_prefix.as_bytes());
                        }
                        format_tty(value, &child_prefix, out);
                    }
                }
                i += 1;
            }
        }
    }
}

/// The bare form (`cliFormatReplyRaw`): `mb_delim` separates the elements of aggregates.
pub fn format_raw(v: &Value, mb_delim: &[u8], out: &mut Vec<u8>) {
    match v {
        Value::Nil => {}
        Value::Error(e) => {
            out.extend_from_slice(e);
            out.push(b'\n');
        }
        Value::Status(s) | Value::Bulk(s) | Value::Verbatim(s) => out.extend_from_slice(s),
        Value::Double(s) | Value::BigNumber(s) => out.extend_from_slice(s),
        Value::Bool(b) => out.extend_from_slice(if *b { b"(true)" } else { b"(false)" }),
        Value::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::Array(e) | Value::Set(e) | Value::Push(e) => {
            for (i, item) in e.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(mb_delim);
                }
                format_raw(item, mb_delim, out);
            }
        }
        Value::Map(e) => {
            for (i, pair) in e.chunks(2).enumerate() {
                if i > 0 {
                    out.extend_from_slice(mb_delim);
                }
                format_raw(&pair[0], mb_delim, out);
                out.push(b' ');
                if let Some(value) = pair.get(1) {
                    format_raw(value, mb_delim, out);
                }
            }
        }
    }
}

/// The `--csv` form (`cliFormatReplyCSV`): aggregates, maps included, become flat lists.
pub fn format_csv(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Error(e) => {
            out.extend_from_slice(b"ERROR,");
            repr(out, c_str(e));
        }
        Value::Status(s) | Value::Bulk(s) | Value::Verbatim(s) => repr(out, s),
        Value::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::Double(s) | Value::BigNumber(s) => out.extend_from_slice(s),
        Value::Nil => out.extend_from_slice(b"NULL"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Array(e) | Value::Set(e) | Value::Push(e) | Value::Map(e) => {
            for (i, item) in e.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                format_csv(item, out);
            }
        }
    }
}

/// A JSON string (`escapeJsonString`, or `sdscatrepr` with doubled backslashes for
/// `--quoted-json`).
fn json_string(out: &mut Vec<u8>, bytes: &[u8], mode: OutputMode) {
    if mode == OutputMode::QuotedJson {
        let mut quoted = Vec::with_capacity(bytes.len() + 2);
        repr(&mut quoted, bytes);
        for b in quoted {
            if b == b'\\' {
                out.extend_from_slice(b"\\\\");
            } else {
                out.push(b);
            }
        }
        return;
    }
    out.push(b'"');
    for &b in bytes {
        match b {
            b'\\' | b'"' => {
                out.push(b'\\');
                out.push(b);
            }
            b'\n' => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0..=0x1f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// The `--json` / `--quoted-json` form (`cliFormatReplyJson`).
pub fn format_json(v: &Value, mode: OutputMode, out: &mut Vec<u8>) {
    match v {
        Value::Error(e) => {
            out.extend_from_slice(b"error:");
            json_string(out, c_str(e), mode);
        }
        Value::Status(s) | Value::Bulk(s) | Value::Verbatim(s) => json_string(out, s, mode),
        Value::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::Double(s) | Value::BigNumber(s) => out.extend_from_slice(s),
        Value::Nil => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Array(e) | Value::Set(e) | Value::Push(e) => {
            out.push(b'[');
            for (i, item) in e.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                format_json(item, mode, out);
            }
            out.push(b']');
        }
        Value::Map(e) => {
            out.push(b'{');
            for (i, pair) in e.chunks(2).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let key = &pair[0];
                if matches!(
                    key,
                    Value::Error(_) | Value::Status(_) | Value::Bulk(_) | Value::Verbatim(_)
                ) {
                    format_json(key, mode, out);
                } else {
                    // JSON keys are strings: quote a non-string key's text.
                    let mut text = Vec::new();
                    format_json(key, mode, &mut text);
                    if text.first() == Some(&b'"') {
                        out.extend_from_slice(&text);
                    } else {
                        out.push(b'"');
                        out.extend_from_slice(&text);
                        out.push(b'"');
                    }
                }
                out.push(b':');
                if let Some(value) = pair.get(1) {
                    format_json(value, mode, out);
                }
            }
            out.push(b'}');
        }
    }
}

/// Output options that apply to every reply.
#[derive(Debug, Clone)]
pub struct Style {
    pub mode: OutputMode,
    /// `-d`: between the elements of an aggregate in raw mode.
    pub mb_delim: Vec<u8>,
    /// `-D`: after each reply in raw mode.
    pub cmd_delim: Vec<u8>,
}

impl Style {
    /// One reply as redis-cli writes it (`cliFormatReply`). `verbatim` is for commands whose
    /// text is printed as is (INFO, CLIENT LIST, ...), whatever the mode.
    pub fn reply(&self, v: &Value, verbatim: bool) -> Vec<u8> {
        let mut out = Vec::new();
        if verbatim {
            format_raw(v, &self.mb_delim, &mut out);
            return out;
        }
        match self.mode {
            OutputMode::Standard => format_tty(v, "", &mut out),
            OutputMode::Raw => {
                format_raw(v, &self.mb_delim, &mut out);
                out.extend_from_slice(&self.cmd_delim);
            }
            OutputMode::Csv => {
                format_csv(v, &mut out);
                out.push(b'\n');
            }
            OutputMode::Json | OutputMode::QuotedJson => {
                format_json(v, self.mode, &mut out);
                out.push(b'\n');
            }
        }
        out
    }

    /// A RESP3 push that arrived outside pub/sub mode (`cliPushHandler`): client-side caching
    /// invalidations get their own line in the standard mode.
    pub fn push(&self, v: &Value) -> Vec<u8> {
        if self.mode == OutputMode::Standard {
            if let Some(keys) = invalidated_keys(v) {
                let mut out = b"-> invalidate: ".to_vec();
                for (i, key) in keys.iter().enumerate() {
                    if i > 0 {
                        out.extend_from_slice(b", ");
                    }
                    out.push(b'\'');
                    out.extend_from_slice(key.bytes().unwrap_or_default());
                    out.push(b'\'');
                }
                out.push(b'\n');
                return out;
            }
        }
        self.reply(v, false)
    }
}

/// The keys of an `invalidate` push with a key array (`isInvalidateReply`).
fn invalidated_keys(v: &Value) -> Option<&[Value]> {
    let Value::Push(e) = v else { return None };
    if e.len() != 2 {
        return None;
    }
    let Value::Bulk(kind) = &e[0] else {
        return None;
    };
    if !kind.starts_with(b"invalidate") {
        return None;
    }
    match &e[1] {
        Value::Array(keys) if keys.iter().all(|k| matches!(k, Value::Bulk(_))) => Some(keys),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::Bulk(s.as_bytes().to_vec())
    }

    fn tty(v: &Value) -> String {
        let mut out = Vec::new();
        format_tty(v, "", &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn repr_escapes_like_sdscatrepr() {
        assert_eq!(
            repr_string(b"a\"b\\c\n\r\t\x07\x08\x00\xc3\xa9 ~"),
            r#""a\"b\\c\n\r\t\a\b\x00\xc3\xa9 ~""#
        );
    }

    #[test]
    fn tty_nests_with_aligned_indexes() {
        let v = Value::Array(vec![
            Value::Int(1),
            Value::Array(vec![Value::Int(2), Value::Array(vec![])]),
            Value::Nil,
            bulk("x"),
            Value::Error(b"ERR boom".to_vec()),
        ]);
        assert_eq!(
            tty(&v),
            "1) (integer) 1\n2) 1) (integer) 2\n   2) (empty array)\n3) (nil)\n4) \"x\"\n5) (error) ERR boom\n"
        );
        let ten: Vec<Value> = (1..=10).map(Value::Int).collect();
        assert!(tty(&Value::Array(ten)).starts_with(" 1) (integer) 1\n"));
    }

    #[test]
    fn tty_maps_and_sets() {
        let v = Value::Map(vec![
            bulk("a"),
            Value::Array(vec![Value::Int(1), Value::Int(2)]),
            bulk("c"),
            Value::Map(vec![bulk("e"), Value::Int(1)]),
            bulk("s"),
            Value::Set(vec![bulk("x")]),
        ]);
        assert_eq!(
            tty(&v),
            "1# \"a\" => \n   1) (integer) 1\n   2) (integer) 2\n2# \"c\" => 1# \"e\" => (integer) 1\n3# \"s\" => 1~ \"x\"\n"
        );
        assert_eq!(tty(&Value::Map(vec![])), "(empty hash)\n");
        assert_eq!(tty(&Value::Set(vec![])), "(empty set)\n");
        assert_eq!(tty(&Value::Double(b"3.5".to_vec())), "(double) 3.5\n");
        assert_eq!(tty(&Value::Bool(false)), "(false)\n");
    }

    #[test]
    fn raw_and_csv() {
        let v = Value::Array(vec![
            bulk("a"),
            Value::Nil,
            Value::Int(3),
            Value::Array(vec![]),
        ]);
        let mut raw = Vec::new();
        format_raw(&v, b"\n", &mut raw);
        assert_eq!(raw, b"a\n\n3\n");
        let mut csv = Vec::new();
        format_csv(&v, &mut csv);
        assert_eq!(csv, b"\"a\",NULL,3,");
        let mut map = Vec::new();
        format_raw(
            &Value::Map(vec![bulk("f"), bulk("v"), bulk("g"), bulk("w")]),
            b"\n",
            &mut map,
        );
        assert_eq!(map, b"f v\ng w");
        let mut err = Vec::new();
        format_csv(&Value::Error(b"ERR x".to_vec()), &mut err);
        assert_eq!(err, b"ERROR,\"ERR x\"");
    }

    #[test]
    fn json_forms() {
        let v = Value::Map(vec![
            Value::Int(1),
            bulk("a\u{1}\"b"),
            bulk("k"),
            Value::Nil,
        ]);
        let mut out = Vec::new();
        format_json(&v, OutputMode::Json, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"1":"a\u0001\"b","k":null}"#
        );
        let mut quoted = Vec::new();
        format_json(&bulk("é\n"), OutputMode::QuotedJson, &mut quoted);
        assert_eq!(String::from_utf8(quoted).unwrap(), r#""\\xc3\\xa9\\n""#);
    }

    #[test]
    fn invalidate_push() {
        let style = Style {
            mode: OutputMode::Standard,
            mb_delim: b"\n".to_vec(),
            cmd_delim: b"\n".to_vec(),
        };
        let v = Value::Push(vec![
            bulk("invalidate"),
            Value::Array(vec![bulk("k1"), bulk("k2")]),
        ]);
        assert_eq!(style.push(&v), b"-> invalidate: 'k1', 'k2'\n");
    }
}
