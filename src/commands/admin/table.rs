//! Redis 7.0.15's command metadata (COMMAND INFO's ACL categories, tips and key specs, and
//! COMMAND DOCS), kept in `commands.txt`, one line per top-level command, generated from the
//! reference server by `TANDEM_REGEN_COMMANDS=1 cargo test --test compatibility`.
//!
//! # Line format
//!
//! `name<TAB>info<TAB>docs`, where `info` is the command's COMMAND INFO entry and `docs` the
//! value of its COMMAND DOCS map, both written as RESP3 trees in a compact text notation:
//! `[ .. ]` array, `< .. >` set, `{ k v .. }` map, `+word` simple string, `:n` integer, `_`
//! null, `"..."` bulk string with `\\ \" \n \r \t \xHH` escapes, any other word a bulk string.
//! Tokens are separated by single spaces.

use std::collections::HashMap;
use std::sync::LazyLock;

use bytes::Bytes;

use crate::protocol::Reply;

const DATA: &str = include_str!("commands.txt");

/// One command's (or subcommand's) Redis metadata.
pub struct CmdData {
    /// The 10-element COMMAND INFO entry; a subcommand's is the one inside its parent's.
    pub info: &'static Reply,
    /// The top-level command's COMMAND DOCS text, parsed when asked for (only COMMAND DOCS
    /// reads it: kept as a tree it took ~1.3 MB of heap from startup on, where Redis's is
    /// static data).
    docs_src: &'static str,
    /// For a subcommand, its name, under which the parent's docs list it.
    sub: Option<String>,
}

impl CmdData {
    /// The COMMAND DOCS map (without the name).
    pub fn docs(&self) -> Reply {
        let Ok(docs) = parse_tree(self.docs_src) else {
            return Reply::Map(vec![]);
        };
        match &self.sub {
            None => docs,
            Some(sub) => map_get(&docs, "subcommands")
                .and_then(|m| map_get(m, sub))
                .cloned()
                .unwrap_or(Reply::Map(vec![])),
        }
    }

    fn info_field(&self, i: usize) -> Option<&Reply> {
        info_field(self.info, i)
    }

    /// ACL categories (`@read` ...).
    pub fn acl_categories(&self) -> Option<&Reply> {
        acl_categories(self.info)
    }

    pub fn tips(&self) -> Option<&Reply> {
        self.info_field(7)
    }

    pub fn key_specs(&self) -> Option<&Reply> {
        self.info_field(8)
    }

    /// Whether Redis lists `flag` among the command's flags.
    pub fn has_flag(&self, flag: &str) -> bool {
        has_flag(self.info, flag)
    }
}

fn info_field(info: &Reply, i: usize) -> Option<&Reply> {
    match info {
        Reply::Array(v) => v.get(i),
        _ => None,
    }
}

/// The ACL categories (`@read` ...) of a COMMAND INFO entry.
pub fn acl_categories(info: &Reply) -> Option<&Reply> {
    info_field(info, 6)
}

/// Whether a COMMAND INFO entry lists `flag` among the command's flags.
pub fn has_flag(info: &Reply, flag: &str) -> bool {
    match info_field(info, 2) {
        Some(Reply::Set(v) | Reply::Array(v)) => v.iter().any(|f| text(f) == Some(flag)),
        _ => false,
    }
}

/// Every command and subcommand Redis 7.0.15 knows, by lowercase name (`config|get`).
static TABLE: LazyLock<HashMap<String, CmdData>> = LazyLock::new(load);

pub fn lookup(name: &str) -> Option<&'static CmdData> {
    TABLE.get(name)
}

/// The text of a bulk or simple string.
pub fn text(r: &Reply) -> Option<&str> {
    match r {
        Reply::Bulk(b) => std::str::from_utf8(b).ok(),
        Reply::Status(s) => Some(s),
        _ => None,
    }
}

/// The value under `key` in a map reply.
pub fn map_get<'a>(r: &'a Reply, key: &str) -> Option<&'a Reply> {
    match r {
        Reply::Map(pairs) => pairs
            .iter()
            .find(|(k, _)| text(k) == Some(key))
            .map(|(_, v)| v),
        _ => None,
    }
}

/// The lines of the table: name, COMMAND INFO text, COMMAND DOCS text.
fn lines() -> impl Iterator<Item = (&'static str, &'static str, &'static str)> {
    DATA.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| {
            let mut parts = line.splitn(3, '\t');
            Some((parts.next()?, parts.next()?, parts.next()?))
        })
}

/// Calls `f` with the name and COMMAND INFO entry of every command and subcommand, parsing
/// each line for the call only: the ACL catalog, built at startup, reads its categories and
/// flags this way, so the whole table (~0.7 MB of trees) is only built if COMMAND INFO or
/// DOCS is asked for (Redis keeps its table as static data).
pub fn for_each_info(mut f: impl FnMut(&str, &Reply)) {
    for (name, info, _) in lines() {
        let Ok(info) = parse_tree(info) else {
            continue;
        };
        if let Some(Reply::Array(subs) | Reply::Set(subs)) = info_subcommands(&info) {
            for sub in subs {
                if let Some(sub_name) = sub_name(sub) {
                    f(&sub_name, sub);
                }
            }
        }
        f(name, &info);
    }
}

fn info_subcommands(info: &Reply) -> Option<&Reply> {
    info_field(info, 9)
}

fn load() -> HashMap<String, CmdData> {
    let mut out = HashMap::new();
    for (name, info, docs_src) in lines() {
        let Ok(info) = parse_tree(info) else {
            debug_assert!(false, "bad commands.txt line for {name}");
            continue;
        };
        // The table lives as long as the process: its trees are never freed, and subcommands
        // borrow their entries from their parent's instead of copying them.
        let info: &'static Reply = Box::leak(Box::new(info));
        if let Some(Reply::Array(subs) | Reply::Set(subs)) = info_subcommands(info) {
            for sub in subs {
                let Some(sub_name) = sub_name(sub) else {
                    continue;
                };
                out.insert(
                    sub_name.clone(),
                    CmdData {
                        info: sub,
                        docs_src,
                        sub: Some(sub_name),
                    },
                );
            }
        }
        out.insert(
            name.to_string(),
            CmdData {
                info,
                docs_src,
                sub: None,
            },
        );
    }
    out
}

fn sub_name(info: &Reply) -> Option<String> {
    match info {
        Reply::Array(v) => v.first().and_then(text).map(str::to_string),
        _ => None,
    }
}

/// Parses one tree of the notation above. Its strings borrow from `s` (the table's text):
/// only the aggregates' vectors are allocated.
pub fn parse_tree(s: &'static str) -> Result<Reply, String> {
    let tokens = tokenize(s)?;
    let mut pos = 0;
    let r = parse_at(&tokens, &mut pos)?;
    if pos != tokens.len() {
        return Err(format!("trailing tokens after position {pos}"));
    }
    Ok(r)
}

enum Token {
    Open(u8),
    Close(u8),
    Leaf(Reply),
}

fn tokenize(s: &'static str) -> Result<Vec<Token>, String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b' ' {
            i += 1;
            continue;
        }
        if b[i] == b'"' {
            // Without escapes, the string is the text between the quotes.
            let rest = &s[i + 1..];
            if let Some(end) = rest
                .find(['"', '\\'])
                .filter(|&e| rest.as_bytes()[e] == b'"')
            {
                out.push(Token::Leaf(Reply::Bulk(Bytes::from_static(
                    &rest.as_bytes()[..end],
                ))));
                i += end + 2;
                continue;
            }
            let mut v = Vec::new();
            i += 1;
            loop {
                let c = *b.get(i).ok_or("unterminated string")?;
                i += 1;
                match c {
                    b'"' => break,
                    b'\\' => {
                        let e = *b.get(i).ok_or("bad escape")?;
                        i += 1;
                        match e {
                            b'n' => v.push(b'\n'),
                            b'r' => v.push(b'\r'),
                            b't' => v.push(b'\t'),
                            b'x' => {
                                let hex = s.get(i..i + 2).ok_or("bad \\x escape")?;
                                v.push(u8::from_str_radix(hex, 16).map_err(|e| e.to_string())?);
                                i += 2;
                            }
                            other => v.push(other),
                        }
                    }
                    other => v.push(other),
                }
            }
            out.push(Token::Leaf(Reply::Bulk(Bytes::from(v))));
            continue;
        }
        let start = i;
        while i < b.len() && b[i] != b' ' {
            i += 1;
        }
        let w = &s[start..i];
        out.push(match w {
            "[" | "<" | "{" => Token::Open(w.as_bytes()[0]),
            "]" | ">" | "}" => Token::Close(w.as_bytes()[0]),
            "_" => Token::Leaf(Reply::Nil),
            _ if w.starts_with('+') => Token::Leaf(Reply::Status(w[1..].into())),
            _ if w.starts_with(':') => Token::Leaf(Reply::Int(
                w[1..].parse().map_err(|_| format!("bad int {w}"))?,
            )),
            _ => Token::Leaf(Reply::Bulk(Bytes::from_static(w.as_bytes()))),
        });
    }
    Ok(out)
}

fn parse_at(tokens: &[Token], pos: &mut usize) -> Result<Reply, String> {
    let t = tokens.get(*pos).ok_or("unexpected end")?;
    *pos += 1;
    match t {
        Token::Leaf(r) => Ok(r.clone()),
        Token::Close(_) => Err("unexpected close".into()),
        Token::Open(kind) => {
            let close = match kind {
                b'[' => b']',
                b'<' => b'>',
                _ => b'}',
            };
            let mut items = Vec::new();
            loop {
                match tokens.get(*pos) {
                    Some(Token::Close(c)) if *c == close => {
                        *pos += 1;
                        break;
                    }
                    Some(_) => items.push(parse_at(tokens, pos)?),
                    None => return Err("unterminated aggregate".into()),
                }
            }
            Ok(match kind {
                b'[' => Reply::Array(items),
                b'<' => Reply::Set(items),
                _ => {
                    if items.len() % 2 != 0 {
                        return Err("odd map".into());
                    }
                    let mut pairs = Vec::with_capacity(items.len() / 2);
                    let mut it = items.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        pairs.push((k, v));
                    }
                    Reply::Map(pairs)
                }
            })
        }
    }
}

/// Writes `r` in the notation above (the inverse of [`parse_tree`]).
pub fn write_tree(r: &Reply, out: &mut String) {
    let open = |out: &mut String, c: &str| {
        out.push_str(c);
    };
    match r {
        Reply::Array(v) | Reply::Set(v) | Reply::Push(v) => {
            open(out, if matches!(r, Reply::Set(_)) { "<" } else { "[" });
            for x in v {
                out.push(' ');
                write_tree(x, out);
            }
            out.push_str(if matches!(r, Reply::Set(_)) {
                " >"
            } else {
                " ]"
            });
        }
        Reply::Map(pairs) => {
            open(out, "{");
            for (k, v) in pairs {
                out.push(' ');
                write_tree(k, out);
                out.push(' ');
                write_tree(v, out);
            }
            out.push_str(" }");
        }
        Reply::Status(s) => {
            out.push('+');
            out.push_str(s);
        }
        Reply::Int(i) => {
            out.push(':');
            out.push_str(&i.to_string());
        }
        Reply::Nil | Reply::NilArray => out.push('_'),
        Reply::Bulk(b) | Reply::Verbatim(b) => write_bulk(b, out),
        _ => out.push('_'),
    }
}

fn write_bulk(b: &[u8], out: &mut String) {
    let bare = !b.is_empty()
        && b != b"_"
        && !matches!(b[0], b'+' | b':' | b'"')
        && !matches!(b, b"[" | b"]" | b"<" | b">" | b"{" | b"}")
        && b.iter()
            .all(|&c| c.is_ascii_graphic() && c != b'"' && c != b'\\');
    if bare {
        out.push_str(std::str::from_utf8(b).unwrap_or_default());
        return;
    }
    out.push('"');
    for &c in b {
        match c {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(c as char),
            _ => out.push_str(&format!("\\x{c:02x}")),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let r = Reply::Array(vec![
            Reply::bulk_str("get"),
            Reply::Int(-2),
            Reply::Set(vec![Reply::status("readonly")]),
            Reply::Map(vec![(
                Reply::bulk_str("summary"),
                Reply::bulk_str("Get \"it\" _ \\ now"),
            )]),
            Reply::bulk_str(""),
            Reply::bulk_str("_"),
            Reply::bulk_str("+x"),
            Reply::bulk_str("]"),
            Reply::Nil,
        ]);
        let mut s = String::new();
        write_tree(&r, &mut s);
        // The parser borrows from the table's static text.
        let text: &'static str = Box::leak(s.clone().into_boxed_str());
        let back = parse_tree(text).expect("parses");
        let mut s2 = String::new();
        write_tree(&back, &mut s2);
        assert_eq!(s, s2);
    }

    #[test]
    fn docs_are_parsed_when_asked_for() {
        let sub = lookup("config|get").expect("config|get").docs();
        assert_eq!(
            map_get(&sub, "summary").and_then(text),
            Some("Get the values of configuration parameters")
        );
        let top = lookup("config").expect("config").docs();
        assert!(map_get(&top, "subcommands").is_some());
        // A subcommand's COMMAND INFO entry is its parent's.
        let parent = lookup("config").expect("config").info;
        let Reply::Array(fields) = parent else {
            panic!("info is an array")
        };
        let Some(Reply::Array(subs) | Reply::Set(subs)) = fields.get(9) else {
            panic!("config has subcommands")
        };
        let get = lookup("config|get").expect("config|get").info;
        assert!(subs.iter().any(|s| std::ptr::eq(s, get)));
    }

    #[test]
    fn table_loads_every_line() {
        let lines = DATA
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .count();
        let top = TABLE.keys().filter(|k| !k.contains('|')).count();
        assert_eq!(lines, top);
        assert!(lookup("get").is_some());
        assert!(lookup("config|get").is_some());
    }
}
