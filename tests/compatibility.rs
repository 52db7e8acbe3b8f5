//! Generated documents that must track the reference server and Tandem's registry:
//!
//! - `COMPATIBILITY.md`: every command and subcommand of redis-server 7.0.15 (its
//!   `COMMAND LIST` and `COMMAND DOCS` groups) with "implemented" when tandem-server's
//!   `COMMAND LIST` has it, else "not yet". Regenerate with
//!   `TANDEM_REGEN_COMPAT=1 cargo test --test compatibility`.
//! - `src/commands/admin/commands.txt`: Redis's COMMAND INFO and COMMAND DOCS metadata that
//!   Tandem's COMMAND replies are built from. Regenerate with
//!   `TANDEM_REGEN_COMMANDS=1 cargo test --test compatibility`.
//!
//! Each test fails when the file on disk differs from what it would generate, and says how to
//! regenerate it.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;

use bytes::Bytes;
use support::{RawConn, RedisServer, TestServer};
use tandem::commands::admin::table::write_tree;
use tandem::protocol::Reply;

const ARGS: &[&str] = &["--save", "", "--appendonly", "no"];

fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Parses one RESP2/RESP3 reply into a `Reply` tree (maps stay maps, sets stay sets).
fn parse(buf: &[u8]) -> Reply {
    let mut pos = 0;
    let r = parse_at(buf, &mut pos);
    assert_eq!(pos, buf.len(), "trailing bytes after a reply");
    r
}

fn parse_at(buf: &[u8], pos: &mut usize) -> Reply {
    let kind = buf[*pos];
    let rel = buf[*pos..]
        .windows(2)
        .position(|w| w == b"\r\n")
        .expect("line end");
    let line = std::str::from_utf8(&buf[*pos + 1..*pos + rel]).expect("utf-8 line");
    *pos += rel + 2;
    let n = || line.parse::<i64>().expect("length");
    match kind {
        b'+' => Reply::Status(line.to_string().into()),
        b'-' => Reply::Error(line.to_string().into()),
        b':' => Reply::Int(n()),
        b'_' => Reply::Nil,
        b'$' | b'=' => {
            if n() < 0 {
                return Reply::Nil;
            }
            let len = n() as usize;
            let b = Bytes::copy_from_slice(&buf[*pos..*pos + len]);
            *pos += len + 2;
            Reply::Bulk(b)
        }
        b'*' | b'~' | b'>' => {
            if n() < 0 {
                return Reply::NilArray;
            }
            let items = (0..n()).map(|_| parse_at(buf, pos)).collect();
            if kind == b'~' {
                Reply::Set(items)
            } else {
                Reply::Array(items)
            }
        }
        b'%' => Reply::Map(
            (0..n())
                .map(|_| {
                    let k = parse_at(buf, pos);
                    let v = parse_at(buf, pos);
                    (k, v)
                })
                .collect(),
        ),
        other => panic!("unexpected RESP type {:?}", other as char),
    }
}

fn text(r: &Reply) -> String {
    match r {
        Reply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
        Reply::Status(s) => s.to_string(),
        other => panic!("not a string: {other:?}"),
    }
}

fn items(r: &Reply) -> &[Reply] {
    match r {
        Reply::Array(v) | Reply::Set(v) => v,
        other => panic!("not an aggregate: {other:?}"),
    }
}

fn command_list(conn: &mut RawConn) -> Vec<String> {
    let mut v: Vec<String> = items(&parse(&conn.request_str(&["COMMAND", "LIST"])))
        .iter()
        .map(text)
        .collect();
    v.sort();
    v
}

/// Compares `path` with `generated`, or rewrites it when `env` is set.
fn check_generated(path: PathBuf, generated: &str, env: &str) {
    if std::env::var_os(env).is_some() {
        std::fs::write(&path, generated).expect("write generated file");
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if current != generated {
        let first = current
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(current.lines().count().min(generated.lines().count()));
        panic!(
            "{} is stale (first difference at line {}). Regenerate it with:\n    {env}=1 cargo test --test compatibility",
            path.display(),
            first + 1
        );
    }
}

/// Redis's groups by command name (from COMMAND DOCS), subcommands under their container's.
fn groups(conn: &mut RawConn) -> BTreeMap<String, String> {
    let docs = parse(&conn.request_str(&["COMMAND", "DOCS"]));
    let mut out = BTreeMap::new();
    if let Reply::Map(pairs) = docs {
        for (name, doc) in pairs {
            if let Reply::Map(fields) = doc {
                for (k, v) in fields {
                    if text(&k) == "group" {
                        out.insert(text(&name), text(&v));
                    }
                }
            }
        }
    }
    out
}

fn display_name(name: &str) -> String {
    name.replace('|', " ").to_ascii_uppercase()
}

#[test]
fn compatibility_md_is_current() {
    let redis = RedisServer::start(ARGS);
    let tandem = TestServer::start(ARGS);
    let mut rc = redis.raw();
    let mut tc = tandem.raw();
    rc.request_str(&["HELLO", "3"]);
    let reference = command_list(&mut rc);
    let ours: std::collections::HashSet<String> = command_list(&mut tc).into_iter().collect();
    let groups = groups(&mut rc);
    let group_of = |name: &str| {
        let base = name.split('|').next().unwrap_or(name);
        groups.get(base).cloned().unwrap_or_else(|| "other".into())
    };
    let mut by_group: BTreeMap<String, Vec<&String>> = BTreeMap::new();
    for name in &reference {
        by_group.entry(group_of(name)).or_default().push(name);
    }
    let top: Vec<&String> = reference.iter().filter(|n| !n.contains('|')).collect();
    let top_done = top.iter().filter(|n| ours.contains(**n)).count();
    let all_done = reference.iter().filter(|n| ours.contains(*n)).count();
    let mut md = String::new();
    md.push_str("# Compatibility with Redis 7.0.15\n\n");
    md.push_str("Every command and subcommand of Debian's redis-server 7.0.15 (its `COMMAND LIST`), grouped as its\n");
    md.push_str("`COMMAND DOCS` groups them, and whether tandem-server implements it (its own `COMMAND LIST`).\n\n");
    md.push_str("Generated: do not edit. `cargo test --test compatibility` fails when this file is stale;\n");
    md.push_str("regenerate it with `TANDEM_REGEN_COMPAT=1 cargo test --test compatibility`.\n\n");
    md.push_str(&format!(
        "Implemented: {top_done} of {} commands; {all_done} of {} commands and subcommands.\n",
        top.len(),
        reference.len()
    ));
    for (group, names) in &by_group {
        let done = names.iter().filter(|n| ours.contains(**n)).count();
        md.push_str(&format!("\n## {group} ({done} of {})\n\n", names.len()));
        md.push_str("| command | status |\n| --- | --- |\n");
        for n in names {
            let status = if ours.contains(*n) {
                "implemented"
            } else {
                "not yet"
            };
            md.push_str(&format!("| `{}` | {status} |\n", display_name(n)));
        }
    }
    suite_table(&mut md);
    let reference_set: std::collections::HashSet<&String> = reference.iter().collect();
    let mut extra: Vec<&String> = ours.iter().filter(|n| !reference_set.contains(n)).collect();
    extra.sort();
    if !extra.is_empty() {
        md.push_str("\n## Tandem only\n\n| command |\n| --- |\n");
        for n in extra {
            md.push_str(&format!("| `{}` |\n", display_name(n)));
        }
    }
    check_generated(repo_file("COMPATIBILITY.md"), &md, "TANDEM_REGEN_COMPAT");
}

/// The files named in a suite list of the project (comments and blank lines left out).
fn suite_list(path: &str) -> std::collections::HashSet<String> {
    std::fs::read_to_string(repo_file(path))
        .expect(path)
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// The section on Redis's own Tcl suite, from `tests/redis-suite-results.tsv` (written by
/// `scripts/redis-suite-table.sh` from a run of the suite) and `tests/redis-suite.list` (the
/// files CI holds to every reference pass).
fn suite_table(md: &mut String) {
    let results = std::fs::read_to_string(repo_file("tests/redis-suite-results.tsv"))
        .expect("tests/redis-suite-results.tsv (scripts/redis-suite-table.sh writes it)");
    let gated = suite_list("tests/redis-suite.list");
    let gated_tls = suite_list("tests/redis-suite-tls.list");
    let source = results
        .lines()
        .find_map(|l| l.strip_prefix("# from "))
        .unwrap_or("an unrecorded run");
    md.push_str(
        "
## Redis's own test suite

",
    );
    md.push_str(
        "Per file of Redis 7.0.15's Tcl suite (`../shared/redis-suite`): the tests that pass on
",
    );
    md.push_str(
        "redis-server 7.0.15, and how many of them pass on tandem-server. Files marked CI are in
",
    );
    md.push_str("`tests/redis-suite.list`: `scripts/test.sh` fails when one of their reference passes fails.
");
    md.push_str(
        "Files marked CI (TLS pass) are in `tests/redis-suite-tls.list` only, run over TLS.
",
    );
    md.push_str(&format!(
        "Measured: {source} (`scripts/redis-suite-table.sh`).

"
    ));
    md.push_str(
        "| file | tandem | redis | CI | note |
| --- | --- | --- | --- | --- |
",
    );
    let (mut t, mut r) = (0u64, 0u64);
    for line in results.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split('\t').collect();
        let (file, tandem, redis) = (
            f[0],
            f.get(1).copied().unwrap_or("0"),
            f.get(2).copied().unwrap_or("0"),
        );
        t += tandem.parse::<u64>().unwrap_or(0);
        r += redis.parse::<u64>().unwrap_or(0);
        let ci = if gated.contains(file) {
            "CI"
        } else if gated_tls.contains(file) {
            "CI (TLS pass)"
        } else {
            ""
        };
        let note = f.get(3).copied().unwrap_or("");
        md.push_str(&format!(
            "| {file} | {tandem} | {redis} | {ci} | {note} |\n"
        ));
    }
    md.push_str(&format!("| all | {t} | {r} | | |\n"));
}

/// COMMAND INFO's subcommand entries sorted by name.
fn sort_subcommands(info: Reply) -> Reply {
    let Reply::Array(mut fields) = info else {
        return info;
    };
    if let Some(Reply::Array(subs)) = fields.get_mut(9) {
        subs.sort_by_key(|s| text(&items(s)[0]));
    }
    Reply::Array(fields)
}

/// COMMAND DOCS's `subcommands` map sorted by name.
fn sort_doc_subcommands(doc: Reply) -> Reply {
    let Reply::Map(mut pairs) = doc else {
        return doc;
    };
    for (k, v) in pairs.iter_mut() {
        if text(k) == "subcommands" {
            if let Reply::Map(subs) = v {
                subs.sort_by_key(|(n, _)| text(n));
            }
        }
    }
    Reply::Map(pairs)
}

#[test]
fn command_metadata_is_current() {
    let redis = RedisServer::start(ARGS);
    let mut rc = redis.raw();
    rc.request_str(&["HELLO", "3"]);
    let names: Vec<String> = command_list(&mut rc)
        .into_iter()
        .filter(|n| !n.contains('|'))
        .collect();
    let mut out = String::new();
    out.push_str("# Redis 7.0.15 COMMAND INFO and COMMAND DOCS, one top-level command per line.\n");
    out.push_str("# Generated by `TANDEM_REGEN_COMMANDS=1 cargo test --test compatibility`; format in table.rs.\n");
    for name in names {
        let info = parse(&rc.request_str(&["COMMAND", "INFO", &name]));
        let info = items(&info).first().cloned().expect("one entry");
        let docs = parse(&rc.request_str(&["COMMAND", "DOCS", &name]));
        let doc = match docs {
            Reply::Map(mut pairs) if pairs.len() == 1 => pairs.remove(0).1,
            other => panic!("COMMAND DOCS {name}: {other:?}"),
        };
        // Redis lists subcommands in its hash table's order, which changes between runs.
        let info = sort_subcommands(info);
        let doc = sort_doc_subcommands(doc);
        out.push_str(&name);
        out.push('\t');
        write_tree(&info, &mut out);
        out.push('\t');
        write_tree(&doc, &mut out);
        out.push('\n');
    }
    check_generated(
        repo_file("src/commands/admin/commands.txt"),
        &out,
        "TANDEM_REGEN_COMMANDS",
    );
}
