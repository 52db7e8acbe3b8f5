//! Command help: `help <command>`, `help @<group>`, tab completion of command names and the
//! grey argument hints typed lines get (redis-cli's `cliInitHelp`, `cliOutputHelp`,
//! `completionCallback`, `hintsCallback`).
//!
//! The table comes from the server's `COMMAND DOCS`, so it describes exactly the commands the
//! server has. Servers without it get the built-in table (`commands.tsv`, Redis 7.0.15's
//! docs), completed with the names `COMMAND` lists; without a server, the built-in table.

use std::collections::BTreeSet;

use super::client::Client;
use super::resp::Value;
use super::split::split_args;
use super::{emit, VERSION};

/// The built-in table: name, group, since, summary, arguments.
const BUILTIN: &str = include_str!("commands.tsv");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Command,
    Group,
}

/// One help topic: a command (`CONFIG GET`) or a group (`@string`).
#[derive(Debug, Clone)]
pub struct HelpEntry {
    pub kind: EntryKind,
    /// The words of `full`, upper-cased for commands.
    pub argv: Vec<String>,
    pub full: String,
    pub params: String,
    pub summary: String,
    pub since: Option<String>,
    pub group: String,
}

/// All help topics, sorted by name (groups, starting with `@`, first).
#[derive(Debug, Clone, Default)]
pub struct HelpTable {
    pub entries: Vec<HelpEntry>,
}

fn command_entry(
    full: String,
    params: String,
    summary: String,
    since: Option<String>,
    group: String,
) -> HelpEntry {
    let argv = full.split(' ').map(str::to_string).collect();
    HelpEntry {
        kind: EntryKind::Command,
        argv,
        full,
        params,
        summary,
        since,
        group,
    }
}

impl HelpTable {
    /// The built-in table (redis-cli's `cliOldInitHelp` from `help.h`).
    pub fn builtin() -> HelpTable {
        let mut entries = Vec::new();
        for line in BUILTIN
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let mut f = line.split('\t');
            let (Some(full), Some(group), Some(since), Some(summary)) =
                (f.next(), f.next(), f.next(), f.next())
            else {
                continue;
            };
            let params = f.next().unwrap_or("");
            let since = (since != "-").then(|| since.to_string());
            entries.push(command_entry(
                full.into(),
                params.into(),
                summary.into(),
                since,
                group.into(),
            ));
        }
        let mut table = HelpTable { entries };
        table.finish();
        table
    }

    /// Adds one `@group` entry per group, then sorts (`cliInitGroupHelpEntries` + `qsort`).
    fn finish(&mut self) {
        let groups: BTreeSet<String> = self
            .entries
            .iter()
            .filter(|e| e.kind == EntryKind::Command && !e.group.is_empty())
            .map(|e| e.group.clone())
            .collect();
        for g in groups {
            let full = format!("@{g}");
            self.entries.push(HelpEntry {
                kind: EntryKind::Group,
                argv: vec![full.clone()],
                full,
                params: String::new(),
                summary: String::new(),
                since: None,
                group: String::new(),
            });
        }
        self.entries
            .sort_by(|a, b| a.full.as_bytes().cmp(b.full.as_bytes()));
    }

    /// The table described by a `COMMAND DOCS` reply (RESP2 arrays or RESP3 maps).
    pub fn from_docs(docs: &Value) -> Option<HelpTable> {
        let items = docs.elements()?;
        let mut entries = Vec::new();
        for pair in items.chunks(2) {
            let (Some(name), Some(spec)) = (pair[0].text(), pair.get(1)) else {
                continue;
            };
            add_doc_entries(&name, None, spec, &mut entries);
        }
        let mut table = HelpTable { entries };
        table.finish();
        Some(table)
    }

    /// Adds the commands a `COMMAND` reply lists that the table lacks, with parameters made
    /// up from arity and first key (`cliOldIntegrateHelp`).
    pub fn integrate_command_table(&mut self, reply: &Value) {
        let Some(commands) = reply.elements() else {
            return;
        };
        for cmd in commands {
            let Some(info) = cmd.elements() else { return };
            if info.len() < 4 {
                return;
            }
            let (Some(name), Value::Int(arity), Value::Int(first_key)) =
                (info[0].text(), &info[1], &info[3])
            else {
                return;
            };
            if self
                .entries
                .iter()
                .any(|e| e.argv[0].eq_ignore_ascii_case(&name))
            {
                continue;
            }
            let mut params = String::new();
            let mut args = arity.abs() - 1;
            if *first_key == 1 {
                params.push_str("key ");
                args -= 1;
            }
            for _ in 0..args.max(0) {
                params.push_str("arg ");
            }
            if *arity < 0 {
                params.push_str("...options...");
            }
            let upper = name.to_ascii_uppercase();
            self.entries.push(command_entry(
                upper,
                params,
                "Help not available".into(),
                Some("Not known".into()),
                "generic".into(),
            ));
        }
    }

    /// Full-line completions for `line` (`completionCallback`): command names, and after
    /// `help ` also group names.
    pub fn completions(&self, line: &str) -> Vec<String> {
        let (start, groups_too) = match line.get(..5) {
            Some(p) if p.eq_ignore_ascii_case("help ") => {
                let skipped = line[5..].len() - line[5..].trim_start().len();
                (5 + skipped, true)
            }
            _ => (0, false),
        };
        let typed = &line[start..];
        self.entries
            .iter()
            .filter(|e| e.kind == EntryKind::Command || groups_too)
            .filter(|e| {
                e.full.len() >= typed.len()
                    && e.full.as_bytes()[..typed.len()].eq_ignore_ascii_case(typed.as_bytes())
            })
            .map(|e| format!("{}{}", &line[..start], e.full))
            .collect()
    }

    /// The grey hint after `line`: the arguments still to type (`hintsCallback`).
    pub fn hint(&self, line: &str) -> Option<String> {
        let argv = split_args(line.as_bytes())?;
        if argv.is_empty() {
            return None;
        }
        let end_space = line
            .as_bytes()
            .last()
            .is_some_and(|b| b.is_ascii_whitespace());
        let mut best: Option<(&HelpEntry, usize)> = None;
        for e in self.entries.iter().filter(|e| e.kind == EntryKind::Command) {
            let words = e.argv.len();
            if words > argv.len() {
                continue;
            }
            let matches = e
                .argv
                .iter()
                .zip(&argv)
                .all(|(w, a)| w.as_bytes().eq_ignore_ascii_case(a));
            if matches && words > best.map_or(0, |(_, n)| n) {
                best = Some((e, words));
            }
        }
        let (entry, matched) = best?;
        let mut hint = entry.params.as_str();
        let mut to_remove = argv.len() - matched;
        while to_remove > 0 && !hint.is_empty() {
            if hint.starts_with('[') {
                break;
            }
            if hint.starts_with(' ') {
                to_remove -= 1;
            }
            let first = hint.chars().next().map_or(1, char::len_utf8);
            hint = &hint[first..];
        }
        Some(if end_space {
            hint.to_string()
        } else {
            format!(" {hint}")
        })
    }

    /// The text `help <args>` prints (`cliOutputHelp` with arguments).
    pub fn help_text(&self, args: &[Vec<u8>]) -> Vec<u8> {
        let group = args.first().and_then(|a| a.strip_prefix(b"@"));
        let mut out = Vec::new();
        for e in self.entries.iter().filter(|e| e.kind == EntryKind::Command) {
            match group {
                None => {
                    if args.len() <= e.argv.len()
                        && args
                            .iter()
                            .zip(&e.argv)
                            .all(|(a, w)| a.eq_ignore_ascii_case(w.as_bytes()))
                    {
                        command_help(e, true, &mut out);
                    }
                }
                Some(g) => {
                    if g.eq_ignore_ascii_case(e.group.as_bytes()) {
                        command_help(e, false, &mut out);
                    }
                }
            }
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

/// Adds the entries of one command and its subcommands (`cliInitCommandHelpEntry`).
fn add_doc_entries(name: &str, sub: Option<&str>, spec: &Value, out: &mut Vec<HelpEntry>) {
    let mut full = name.to_ascii_uppercase();
    if let Some(sub) = sub {
        full.push(' ');
        full.push_str(
            &sub.split_once('|')
                .map_or(sub, |(_, s)| s)
                .to_ascii_uppercase(),
        );
    }
    let mut entry = command_entry(full, String::new(), String::new(), None, String::new());
    let mut subcommands = Vec::new();
    if let Some(fields) = spec.elements() {
        for pair in fields.chunks(2) {
            let (Some(key), Some(value)) = (pair[0].text(), pair.get(1)) else {
                continue;
            };
            match key.as_str() {
                "summary" => entry.summary = value.text().unwrap_or_default(),
                "since" => entry.since = value.text(),
                "group" => entry.group = value.text().unwrap_or_default(),
                "arguments" => entry.params = concat_arguments(value, " "),
                "subcommands" => subcommands.push(value),
                _ => {}
            }
        }
    }
    out.push(entry);
    for subs in subcommands {
        if let Some(items) = subs.elements() {
            for pair in items.chunks(2) {
                if let (Some(sub_name), Some(sub_spec)) = (pair[0].text(), pair.get(1)) {
                    add_doc_entries(name, Some(&sub_name), sub_spec, out);
                }
            }
        }
    }
}

fn or_empty(s: &str) -> &str {
    if s.is_empty() {
        "\"\""
    } else {
        s
    }
}

/// The arguments of a doc entry joined by `sep` (`cliConcatArguments`).
fn concat_arguments(args: &Value, sep: &str) -> String {
    let items = args.elements().unwrap_or_default();
    items
        .iter()
        .map(describe_argument)
        .collect::<Vec<_>>()
        .join(sep)
}

/// One argument as redis-cli shows it: `[EX seconds|PX milliseconds]`, `key [key ...]`
/// (`cliAddArgument`).
fn describe_argument(arg: &Value) -> String {
    let Some(fields) = arg.elements() else {
        return String::new();
    };
    let (mut name, mut kind, mut token) = (String::new(), String::new(), String::new());
    let (mut optional, mut multiple, mut multiple_token) = (false, false, false);
    let mut nested = None;
    for pair in fields.chunks(2) {
        let (Some(key), Some(value)) = (pair[0].text(), pair.get(1)) else {
            continue;
        };
        match key.as_str() {
            "name" => name = value.text().unwrap_or_default(),
            "token" => token.push_str(or_empty(&value.text().unwrap_or_default())),
            "type" => kind = value.text().unwrap_or_default(),
            "arguments" => nested = Some(value),
            "flags" => {
                for flag in value.elements().unwrap_or_default() {
                    match flag.text().as_deref() {
                        Some("optional") => optional = true,
                        Some("multiple") => multiple = true,
                        Some("multiple_token") => multiple_token = true,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let repeat = match kind.as_str() {
        "key" | "string" | "integer" | "double" | "pattern" | "unix-time" | "token" => {
            or_empty(&name).to_string()
        }
        "oneof" => nested.map(|n| concat_arguments(n, "|")).unwrap_or_default(),
        "block" => nested.map(|n| concat_arguments(n, " ")).unwrap_or_default(),
        _ => String::new(),
    };
    if !token.is_empty() && kind != "pure-token" {
        token.push(' ');
    }
    let mut out = String::new();
    if optional {
        out.push('[');
    }
    out.push_str(&token);
    out.push_str(&repeat);
    if multiple {
        out.push_str(" [");
        if multiple_token {
            out.push_str(&token);
        }
        out.push_str(&repeat);
        out.push_str(" ...]");
    }
    if optional {
        out.push(']');
    }
    out
}

/// One command's help block (`cliOutputCommandHelp`).
fn command_help(e: &HelpEntry, with_group: bool, out: &mut Vec<u8>) {
    out.extend_from_slice(
        format!(
            "\r\n  \x1b[1m{}\x1b[0m \x1b[90m{}\x1b[0m\r\n",
            e.full, e.params
        )
        .as_bytes(),
    );
    out.extend_from_slice(format!("  \x1b[33msummary:\x1b[0m {}\r\n", e.summary).as_bytes());
    if let Some(since) = &e.since {
        out.extend_from_slice(format!("  \x1b[33msince:\x1b[0m {since}\r\n").as_bytes());
    }
    if with_group {
        out.extend_from_slice(format!("  \x1b[33mgroup:\x1b[0m {}\r\n", e.group).as_bytes());
    }
}

/// `help` without arguments (`cliOutputGenericHelp`).
fn generic_help() -> String {
    format!(
        "tandem-cli {VERSION}\n\
         To get help about Redis commands type:\n\
         \x20     \"help @<group>\" to get a list of commands in <group>\n\
         \x20     \"help <command>\" for help on <command>\n\
         \x20     \"help <tab>\" to get a list of possible help topics\n\
         \x20     \"quit\" to exit\n\
         \n\
         To set tandem-cli preferences:\n\
         \x20     \":set hints\" enable online hints\n\
         \x20     \":set nohints\" disable online hints\n\
         Set your preferences in ~/.tandemclirc\n"
    )
}

/// Builds the table for the connected server (`cliInitHelp`): its COMMAND DOCS, else the
/// built-in table plus what COMMAND lists, else (no server) the built-in table.
pub fn load_table(client: &mut Client) -> HelpTable {
    if !client.connect(false, true) {
        return HelpTable::builtin();
    }
    let Some(conn) = client.conn.as_mut() else {
        return HelpTable::builtin();
    };
    match conn.command(&["COMMAND", "DOCS"]) {
        Ok(docs @ (Value::Array(_) | Value::Map(_))) => {
            HelpTable::from_docs(&docs).unwrap_or_else(HelpTable::builtin)
        }
        Ok(Value::Error(_)) => {
            let mut table = HelpTable::builtin();
            if let Ok(commands) = conn.command(&["COMMAND"]) {
                // Appended after the sorted entries, as redis-cli does.
                table.integrate_command_table(&commands);
            }
            table
        }
        // Anything else: no table from this server (redis-cli leaves help empty).
        Ok(_) => HelpTable::default(),
        Err(_) => {
            client.conn = None;
            HelpTable::builtin()
        }
    }
}

/// `help [topic...]` typed at the prompt or given as the command.
pub fn output_help(client: &mut Client, args: &[Vec<u8>]) {
    if args.is_empty() {
        emit(generic_help().as_bytes());
        return;
    }
    if client.help.borrow().is_none() {
        let table = load_table(client);
        *client.help.borrow_mut() = Some(table);
    }
    let text = client
        .help
        .borrow()
        .as_ref()
        .map(|t| t.help_text(args))
        .unwrap_or_default();
    emit(&text);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_table_has_commands_and_groups() {
        let t = HelpTable::builtin();
        assert!(t
            .entries
            .iter()
            .any(|e| e.full == "@string" && e.kind == EntryKind::Group));
        let get = t.entries.iter().find(|e| e.full == "GET").unwrap();
        assert_eq!((get.params.as_str(), get.group.as_str()), ("key", "string"));
        assert!(t
            .entries
            .windows(2)
            .all(|w| w[0].full.as_bytes() < w[1].full.as_bytes()));
    }

    #[test]
    fn hints_follow_redis_cli() {
        let t = HelpTable::builtin();
        assert_eq!(t.hint("get").as_deref(), Some(" key"));
        assert_eq!(t.hint("get ").as_deref(), Some("key"));
        assert_eq!(
            t.hint("set k").as_deref().map(|h| &h[..13]),
            Some(" value [NX|XX")
        );
        assert_eq!(
            t.hint("config get").as_deref(),
            Some(" parameter [parameter ...]")
        );
        assert_eq!(t.hint("nosuchcommand"), None);
        assert_eq!(t.hint(""), None);
    }

    #[test]
    fn completion_of_names_and_groups() {
        let t = HelpTable::builtin();
        let c = t.completions("hge");
        assert!(c.contains(&"HGET".to_string()) && c.contains(&"HGETALL".to_string()));
        assert!(t
            .completions("help @str")
            .contains(&"help @string".to_string()));
        assert!(!t.completions("@str").iter().any(|c| c.starts_with('@')));
    }

    #[test]
    fn argument_descriptions() {
        let arg = |fields: Vec<(&str, Value)>| {
            Value::Map(
                fields
                    .into_iter()
                    .flat_map(|(k, v)| [Value::Bulk(k.as_bytes().to_vec()), v])
                    .collect(),
            )
        };
        let s = |x: &str| Value::Bulk(x.as_bytes().to_vec());
        let flags = |f: &[&str]| {
            Value::Set(
                f.iter()
                    .map(|x| Value::Status(x.as_bytes().to_vec()))
                    .collect(),
            )
        };
        let ex = arg(vec![
            ("name", s("seconds")),
            ("type", s("integer")),
            ("token", s("EX")),
        ]);
        let px = arg(vec![
            ("name", s("ms")),
            ("type", s("integer")),
            ("token", s("PX")),
        ]);
        let oneof = arg(vec![
            ("name", s("expiration")),
            ("type", s("oneof")),
            ("flags", flags(&["optional"])),
            ("arguments", Value::Array(vec![ex, px])),
        ]);
        assert_eq!(describe_argument(&oneof), "[EX seconds|PX ms]");
        let keys = arg(vec![
            ("name", s("key")),
            ("type", s("key")),
            ("flags", flags(&["multiple"])),
        ]);
        assert_eq!(describe_argument(&keys), "key [key ...]");
        let tok = arg(vec![
            ("name", s("pattern")),
            ("type", s("pattern")),
            ("token", s("GET")),
            ("flags", flags(&["optional", "multiple", "multiple_token"])),
        ]);
        assert_eq!(describe_argument(&tok), "[GET pattern [GET pattern ...]]");
    }
}
