//! Client-side RESP reply parser (RESP2 and RESP3), the counterpart of hiredis's reader.
//!
//! `crate::protocol` decodes *requests* for the server; a client reads *replies*, which use
//! every RESP3 type. [`parse`] looks at a buffer and returns `Ok(None)` until one whole reply is
//! there, so the caller can keep reading from the socket. Attributes (`|`) are skipped, as
//! they annotate the reply that follows them.

use std::fmt;

/// One reply from the server, as hiredis represents it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `+text`
    Status(Vec<u8>),
    /// `-text` and the RESP3 blob error `!len`.
    Error(Vec<u8>),
    /// `:n`
    Int(i64),
    /// `$len`
    Bulk(Vec<u8>),
    /// `$-1`, `*-1` and RESP3 `_`.
    Nil,
    /// `*n`
    Array(Vec<Value>),
    /// `%n`: keys and values alternate, as in hiredis's element vector.
    Map(Vec<Value>),
    /// `~n`
    Set(Vec<Value>),
    /// `>n`
    Push(Vec<Value>),
    /// `,text`, kept as the server wrote it (redis-cli prints the server's text).
    Double(Vec<u8>),
    /// `#t` / `#f`
    Bool(bool),
    /// `=len\r\nfmt:text`: the text without its 4-byte format prefix.
    Verbatim(Vec<u8>),
    /// `(digits`
    BigNumber(Vec<u8>),
}

impl Value {
    /// The elements of an aggregate (maps as alternating keys and values).
    pub fn elements(&self) -> Option<&[Value]> {
        match self {
            Value::Array(v) | Value::Map(v) | Value::Set(v) | Value::Push(v) => Some(v),
            _ => None,
        }
    }

    /// The bytes of a string-like reply (bulk, status, verbatim, error, double).
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bulk(b)
            | Value::Status(b)
            | Value::Verbatim(b)
            | Value::Error(b)
            | Value::Double(b)
            | Value::BigNumber(b) => Some(b),
            _ => None,
        }
    }

    /// The text of a string-like reply, lossily decoded.
    pub fn text(&self) -> Option<String> {
        self.bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Value::Error(_))
    }

    /// The reply's integer, also accepting a numeric string (RESP2 doubles, INFO values).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(i64::from(*b)),
            other => other
                .bytes()
                .and_then(|b| std::str::from_utf8(b).ok())
                .and_then(|s| s.parse().ok()),
        }
    }
}

/// A reply stream that does not follow RESP; the connection cannot be used any more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProtocolError {}

/// Deepest nesting accepted, as hiredis's `REDIS_READER_MAX_DEPTH` guards its task stack
/// (hiredis allows 7 levels; servers nest deeper in Lua replies, so this is generous).
const MAX_DEPTH: usize = 512;

/// Parses one reply from the start of `buf`. Returns the reply and the number of bytes it
/// used, `Ok(None)` when `buf` holds only part of a reply, or an error for bytes that are
/// not RESP (hiredis: "Protocol error, got %s as reply type byte").
pub fn parse(buf: &[u8]) -> Result<Option<(Value, usize)>, ProtocolError> {
    let mut pos = 0;
    match parse_at(buf, &mut pos, 0)? {
        Some(value) => Ok(Some((value, pos))),
        None => Ok(None),
    }
}

fn parse_at(buf: &[u8], pos: &mut usize, depth: usize) -> Result<Option<Value>, ProtocolError> {
    if depth > MAX_DEPTH {
        return Err(ProtocolError(
            "Protocol error: reply nested too deeply".into(),
        ));
    }
    loop {
        let Some(&kind) = buf.get(*pos) else {
            return Ok(None);
        };
        let Some(line) = line_at(buf, *pos + 1) else {
            return Ok(None);
        };
        let after_line = *pos + 1 + line.len() + 2;
        let value = match kind {
            b'+' => Value::Status(line.to_vec()),
            b'-' => Value::Error(line.to_vec()),
            b':' => Value::Int(parse_int(line)?),
            b',' => Value::Double(line.to_vec()),
            b'(' => Value::BigNumber(line.to_vec()),
            b'_' => Value::Nil,
            b'#' => match line {
                b"t" => Value::Bool(true),
                b"f" => Value::Bool(false),
                _ => return Err(ProtocolError("Bad bool value".into())),
            },
            b'$' | b'!' | b'=' => {
                let len = parse_int(line)?;
                if len < 0 {
                    *pos = after_line;
                    return Ok(Some(Value::Nil));
                }
                let len =
                    usize::try_from(len).map_err(|_| ProtocolError("Bad bulk length".into()))?;
                let end = after_line + len;
                if buf.len() < end + 2 {
                    return Ok(None);
                }
                if &buf[end..end + 2] != b"\r\n" {
                    return Err(ProtocolError("Bad bulk string terminator".into()));
                }
                let body = &buf[after_line..end];
                *pos = end + 2;
                return Ok(Some(match kind {
                    b'$' => Value::Bulk(body.to_vec()),
                    b'!' => Value::Error(body.to_vec()),
                    _ => {
                        if body.len() < 4 || body[3] != b':' {
                            return Err(ProtocolError("Verbatim string 4 bytes of content type are missing or incorrectly encoded.".into()));
                        }
                        Value::Verbatim(body[4..].to_vec())
                    }
                }));
            }
            b'*' | b'%' | b'~' | b'>' | b'|' => {
                let count = parse_int(line)?;
                if count < 0 {
                    *pos = after_line;
                    return Ok(Some(Value::Nil));
                }
                let count = usize::try_from(count)
                    .map_err(|_| ProtocolError("Bad multi-bulk length".into()))?;
                let items = if matches!(kind, b'%' | b'|') {
                    count.saturating_mul(2)
                } else {
                    count
                };
                let mut cursor = after_line;
                // Don't trust the announced count for the allocation: a partial reply
                // with a huge count must not reserve gigabytes.
                let mut elements = Vec::with_capacity(items.min(1024));
                for _ in 0..items {
                    match parse_at(buf, &mut cursor, depth + 1)? {
                        Some(v) => elements.push(v),
                        None => return Ok(None),
                    }
                }
                *pos = cursor;
                if kind == b'|' {
                    // An attribute annotates the next reply: skip it and read that reply.
                    continue;
                }
                return Ok(Some(match kind {
                    b'*' => Value::Array(elements),
                    b'%' => Value::Map(elements),
                    b'~' => Value::Set(elements),
                    _ => Value::Push(elements),
                }));
            }
            other => {
                return Err(ProtocolError(format!(
                    "Protocol error, got {} as reply type byte",
                    type_byte_repr(other)
                )))
            }
        };
        *pos = after_line;
        return Ok(Some(value));
    }
}

/// Finds where a reply ends without building it, resumably: after `Ok(None)` the next call
/// continues where this one stopped, so a large reply arriving in many reads is scanned once
/// (re-parsing from the start after each read would be quadratic).
#[derive(Debug, Default)]
pub struct Scanner {
    /// Offset of the next item header, from the start of the reply.
    pos: usize,
    /// Items still to come in each open aggregate, innermost last.
    open: Vec<usize>,
}

impl Scanner {
    /// Returns the length of the reply at the start of `buf` once all of it is there. `buf`
    /// must start at the same reply on every call until one returns `Some`, which resets the
    /// scanner for the next reply.
    pub fn scan(&mut self, buf: &[u8]) -> Result<Option<usize>, ProtocolError> {
        loop {
            let Some(&kind) = buf.get(self.pos) else {
                return Ok(None);
            };
            let Some(line) = line_at(buf, self.pos + 1) else {
                return Ok(None);
            };
            let after_line = self.pos + 1 + line.len() + 2;
            let mut children = 0usize;
            let next = match kind {
                b'+' | b'-' | b':' | b',' | b'(' | b'_' | b'#' => after_line,
                b'$' | b'!' | b'=' => {
                    let len = parse_int(line)?;
                    if len < 0 {
                        after_line
                    } else {
                        let len = usize::try_from(len)
                            .map_err(|_| ProtocolError("Bad bulk length".into()))?;
                        if buf.len() < after_line + len + 2 {
                            return Ok(None);
                        }
                        after_line + len + 2
                    }
                }
                b'*' | b'%' | b'~' | b'>' | b'|' => {
                    let count = parse_int(line)?;
                    if count > 0 {
                        let count = usize::try_from(count)
                            .map_err(|_| ProtocolError("Bad multi-bulk length".into()))?;
                        children = match kind {
                            b'%' => count.saturating_mul(2),
                            // The attribute's pairs, then the reply it annotates.
                            b'|' => count.saturating_mul(2).saturating_add(1),
                            _ => count,
                        };
                    } else if kind == b'|' {
                        children = 1;
                    }
                    after_line
                }
                other => {
                    return Err(ProtocolError(format!(
                        "Protocol error, got {} as reply type byte",
                        type_byte_repr(other)
                    )))
                }
            };
            self.pos = next;
            if children > 0 {
                if self.open.len() >= MAX_DEPTH {
                    return Err(ProtocolError(
                        "Protocol error: reply nested too deeply".into(),
                    ));
                }
                self.open.push(children);
                continue;
            }
            // One item is complete: close every aggregate it completes.
            loop {
                match self.open.last_mut() {
                    None => {
                        let total = self.pos;
                        self.pos = 0;
                        return Ok(Some(total));
                    }
                    Some(left) => {
                        *left -= 1;
                        if *left > 0 {
                            break;
                        }
                        self.open.pop();
                    }
                }
            }
        }
    }
}

/// The bytes of the line starting at `start`, without its `\r\n`; `None` until it is complete.
fn line_at(buf: &[u8], start: usize) -> Option<&[u8]> {
    let rest = buf.get(start..)?;
    let cr = memchr::memmem::find(rest, b"\r\n")?;
    Some(&rest[..cr])
}

fn parse_int(line: &[u8]) -> Result<i64, ProtocolError> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| ProtocolError("Bad integer value".into()))
}

/// hiredis's `chrtos`: how an unexpected type byte is shown in its protocol error.
fn type_byte_repr(b: u8) -> String {
    match b {
        b'\\' | b'"' => format!("\"\\{}\"", b as char),
        b'\n' => "\"\\n\"".into(),
        b'\r' => "\"\\r\"".into(),
        b'\t' => "\"\\t\"".into(),
        0x07 => "\"\\a\"".into(),
        0x08 => "\"\\b\"".into(),
        0x20..=0x7e => format!("\"{}\"", b as char),
        _ => format!("\"\\x{b:02x}\""),
    }
}

/// Encodes a command as a RESP multibulk request.
pub fn encode_command<A: AsRef<[u8]>>(args: &[A], out: &mut Vec<u8>) {
    out.push(b'*');
    out.extend_from_slice(args.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    for arg in args {
        let arg = arg.as_ref();
        out.push(b'$');
        out.extend_from_slice(arg.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::encode::{encode, Resp};
    use crate::protocol::Reply;
    use bytes::{Bytes, BytesMut};

    fn whole(bytes: &[u8]) -> Value {
        let (v, used) = parse(bytes).unwrap().unwrap();
        assert_eq!(used, bytes.len(), "{:?}", String::from_utf8_lossy(bytes));
        v
    }

    #[test]
    fn every_type_parses() {
        assert_eq!(whole(b"+OK\r\n"), Value::Status(b"OK".to_vec()));
        assert_eq!(whole(b"-ERR x\r\n"), Value::Error(b"ERR x".to_vec()));
        assert_eq!(whole(b":-7\r\n"), Value::Int(-7));
        assert_eq!(whole(b"$-1\r\n"), Value::Nil);
        assert_eq!(whole(b"*-1\r\n"), Value::Nil);
        assert_eq!(whole(b"_\r\n"), Value::Nil);
        assert_eq!(whole(b"$0\r\n\r\n"), Value::Bulk(vec![]));
        assert_eq!(whole(b"$4\r\na\r\nb\r\n"), Value::Bulk(b"a\r\nb".to_vec()));
        assert_eq!(whole(b",1.5\r\n"), Value::Double(b"1.5".to_vec()));
        assert_eq!(whole(b"#t\r\n"), Value::Bool(true));
        assert_eq!(whole(b"#f\r\n"), Value::Bool(false));
        assert_eq!(whole(b"!5\r\nERR x\r\n"), Value::Error(b"ERR x".to_vec()));
        assert_eq!(
            whole(b"=7\r\ntxt:abc\r\n"),
            Value::Verbatim(b"abc".to_vec())
        );
        assert_eq!(
            whole(b"(12345678901234567890\r\n"),
            Value::BigNumber(b"12345678901234567890".to_vec())
        );
        assert_eq!(
            whole(b"%1\r\n+a\r\n:1\r\n"),
            Value::Map(vec![Value::Status(b"a".to_vec()), Value::Int(1)])
        );
        assert_eq!(
            whole(b"~1\r\n+a\r\n"),
            Value::Set(vec![Value::Status(b"a".to_vec())])
        );
        assert_eq!(
            whole(b">2\r\n+message\r\n+x\r\n"),
            Value::Push(vec![
                Value::Status(b"message".to_vec()),
                Value::Status(b"x".to_vec())
            ])
        );
        assert_eq!(whole(b"|1\r\n+k\r\n+v\r\n:7\r\n"), Value::Int(7));
        assert_eq!(
            whole(b"*2\r\n*1\r\n:1\r\n*0\r\n"),
            Value::Array(vec![
                Value::Array(vec![Value::Int(1)]),
                Value::Array(vec![])
            ])
        );
    }

    #[test]
    fn every_split_point_is_incomplete() {
        let frames: &[&[u8]] = &[
            b"+OK\r\n",
            b"$5\r\nhello\r\n",
            b"*3\r\n:1\r\n$1\r\na\r\n%1\r\n+k\r\n~1\r\n,2.5\r\n",
            b"=8\r\ntxt:abcd\r\n",
            b"|1\r\n+k\r\n+v\r\n:7\r\n",
        ];
        for frame in frames {
            for cut in 0..frame.len() {
                assert_eq!(parse(&frame[..cut]), Ok(None), "cut at {cut}");
            }
            let mut scanner = Scanner::default();
            for cut in 0..frame.len() {
                assert_eq!(
                    scanner.scan(&frame[..cut]),
                    Ok(None),
                    "scanner cut at {cut}"
                );
            }
            assert_eq!(scanner.scan(frame), Ok(Some(frame.len())));
            let mut two = frame.to_vec();
            two.extend_from_slice(b"+NEXT\r\n");
            assert_eq!(parse(&two).unwrap().unwrap().1, frame.len());
        }
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse(b"?x\r\n").is_err());
        assert!(parse(b":abc\r\n").is_err());
        assert!(parse(b"$3\r\nabcd\r\n").is_err());
    }

    #[test]
    fn round_trips_the_server_encoder() {
        let reply = Reply::Array(vec![
            Reply::Int(3),
            Reply::Bulk(Bytes::from_static(b"v")),
            Reply::Map(vec![(Reply::bulk_str("k"), Reply::Double(1.5))]),
            Reply::Set(vec![Reply::Bool(true)]),
            Reply::Nil,
            Reply::error("ERR no"),
        ]);
        for (resp, want_map) in [(Resp::V2, false), (Resp::V3, true)] {
            let mut out = BytesMut::new();
            encode(&reply, resp, &mut out);
            let v = whole(&out);
            let Value::Array(items) = v else {
                panic!("not an array")
            };
            assert_eq!(items.len(), 6);
            assert_eq!(items[0], Value::Int(3));
            assert_eq!(matches!(items[2], Value::Map(_)), want_map);
            assert_eq!(items[5], Value::Error(b"ERR no".to_vec()));
        }
    }

    #[test]
    fn encodes_commands() {
        let mut out = Vec::new();
        encode_command(&["SET", "k", ""], &mut out);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
    }
}
