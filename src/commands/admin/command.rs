//! COMMAND, COMMAND COUNT | LIST | INFO | DOCS | GETKEYS | GETKEYSANDFLAGS | HELP (redis
//! `server.c` `commandCommand` and friends).
//!
//! Arity, flags and the legacy first/last/step key range come from Tandem's registry (what the
//! dispatcher enforces); ACL categories, tips, key specs and documentation come from Redis's own
//! metadata in [`super::table`]. GETKEYS interprets those key specs as redis
//! `getKeysUsingKeySpecs` does and falls back to the registry's key positions.

use bytes::Bytes;

use super::super::errors::{self, CmdError};
use super::super::spec::{self, Group, Spec, LOADING, STALE};
use super::super::{Ctx, REGISTRY};
use super::table::{self, map_get, text, CmdData};
use crate::protocol::Reply;

const L: u32 = LOADING | STALE;

pub const COMMAND: Spec = Spec::new("command", -1, L, Group::Server, command).subs(SUBS);

const SUBS: &[Spec] = &[
    Spec::new("command|count", 2, L, Group::Server, count),
    Spec::new("command|list", -2, L, Group::Server, list),
    Spec::new("command|info", -2, L, Group::Server, info),
    Spec::new("command|docs", -2, L, Group::Server, docs),
    Spec::new("command|getkeys", -4, L, Group::Server, getkeys),
    Spec::new(
        "command|getkeysandflags",
        -4,
        L,
        Group::Server,
        getkeysandflags,
    ),
    Spec::new("command|help", 2, L, Group::Server, help),
];

const HELP: &[&str] = &[
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
];

fn help(_cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(super::help_reply("COMMAND", HELP))
}

/// Top-level commands of the registry.
fn top_level() -> impl Iterator<Item = &'static Spec> {
    REGISTRY
        .all
        .iter()
        .copied()
        .filter(|s| !s.name.contains('|'))
}

/// COMMAND with no subcommand: every command's info.
fn command(_cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(Reply::Array(top_level().map(info_of).collect()))
}

fn count(_cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(Reply::Int(top_level().count() as i64))
}

/// Redis's flag order in COMMAND replies (`addReplyCommandFlags`); `may_replicate` is hidden
/// there, and the flags Tandem's specs do not model come from Redis's table.
const FLAG_ORDER: &[&str] = &[
    "write",
    "readonly",
    "denyoom",
    "module",
    "admin",
    "pubsub",
    "noscript",
    "blocking",
    "loading",
    "stale",
    "skip_monitor",
    "skip_slowlog",
    "asking",
    "fast",
    "no_auth",
    "no_mandatory_keys",
    "no_async_loading",
    "no_multi",
    "movablekeys",
    "allow_busy",
];

/// Flags Tandem's registry does not model; taken from Redis's table.
const TABLE_FLAGS: &[&str] = &[
    "asking",
    "no_mandatory_keys",
    "no_async_loading",
    "movablekeys",
];

fn flags_of(s: &Spec, data: Option<&CmdData>) -> Reply {
    let mut out = Vec::new();
    for name in FLAG_ORDER {
        let on = if TABLE_FLAGS.contains(name) {
            match data {
                Some(d) => d.has_flag(name),
                None => *name == "movablekeys" && s.keys_fn.is_some(),
            }
        } else {
            spec::FLAG_NAMES
                .iter()
                .any(|(bit, n)| n == name && s.has(*bit))
        };
        if on {
            out.push(Reply::status(name));
        }
    }
    Reply::Set(out)
}

/// ACL categories for a command Redis does not know: derived as redis `setImplicitACLCategories`,
/// listed in the order of Redis's category table (read, write, pubsub, admin, fast, slow,
/// dangerous).
fn implicit_categories(s: &Spec) -> Reply {
    let fast = s.has(spec::FAST);
    let admin = s.has(spec::ADMIN);
    let cats = [
        ("@read", s.has(spec::READONLY)),
        ("@write", s.has(spec::WRITE)),
        ("@pubsub", s.has(spec::PUBSUB)),
        ("@admin", admin),
        ("@fast", fast),
        ("@slow", !fast),
        ("@dangerous", admin),
    ];
    Reply::Set(
        cats.iter()
            .filter(|(_, on)| *on)
            .map(|(name, _)| Reply::status(name))
            .collect(),
    )
}

/// One command's COMMAND INFO entry.
fn info_of(s: &'static Spec) -> Reply {
    let data = table::lookup(s.name);
    // Redis answers an empty set when there are no subcommands, else an array.
    let subs = if s.subcommands.is_empty() {
        Reply::Set(vec![])
    } else {
        Reply::Array(s.subcommands.iter().map(info_of).collect())
    };
    Reply::Array(vec![
        Reply::bulk_str(s.name),
        Reply::Int(i64::from(s.arity)),
        flags_of(s, data),
        Reply::Int(i64::from(s.first_key)),
        Reply::Int(i64::from(s.last_key)),
        Reply::Int(i64::from(s.step)),
        data.and_then(CmdData::acl_categories)
            .cloned()
            .unwrap_or_else(|| implicit_categories(s)),
        data.and_then(CmdData::tips)
            .cloned()
            .unwrap_or(Reply::Set(vec![])),
        data.and_then(CmdData::key_specs)
            .cloned()
            .unwrap_or(Reply::Set(vec![])),
        subs,
    ])
}

/// A registered command or subcommand by its COMMAND INFO name (`get`, `config|get`).
fn registered(name: &[u8]) -> Option<&'static Spec> {
    let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
    REGISTRY.id_of(&lower).map(|i| REGISTRY.all[i])
}

fn info(cx: &mut Ctx) -> Result<Reply, CmdError> {
    if cx.argv.len() == 2 {
        return command(cx);
    }
    Ok(Reply::Array(
        cx.argv[2..]
            .iter()
            .map(|n| registered(n).map_or(Reply::Nil, info_of))
            .collect(),
    ))
}

/// One command's COMMAND DOCS map; subcommands Tandem lacks are left out.
fn docs_of(s: &'static Spec) -> Reply {
    let mut fields: Vec<(Reply, Reply)> = match table::lookup(s.name).map(CmdData::docs) {
        Some(Reply::Map(pairs)) => pairs
            .iter()
            .filter(|(k, _)| text(k) != Some("subcommands"))
            .cloned()
            .collect(),
        _ => vec![
            (Reply::bulk_str("summary"), Reply::bulk_str("")),
            (Reply::bulk_str("since"), Reply::bulk_str("")),
            (Reply::bulk_str("group"), Reply::bulk_str(s.group.name())),
        ],
    };
    if !s.subcommands.is_empty() {
        fields.push((
            Reply::bulk_str("subcommands"),
            Reply::Map(
                s.subcommands
                    .iter()
                    .map(|sub| (Reply::bulk_str(sub.name), docs_of(sub)))
                    .collect(),
            ),
        ));
    }
    Reply::Map(fields)
}

fn docs(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let specs: Vec<&'static Spec> = if cx.argv.len() == 2 {
        top_level().collect()
    } else {
        cx.argv[2..].iter().filter_map(|n| registered(n)).collect()
    };
    Ok(Reply::Map(
        specs
            .into_iter()
            .map(|s| (Reply::bulk_str(s.name), docs_of(s)))
            .collect(),
    ))
}

/// COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern].
fn list(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let all = REGISTRY.all.iter().copied();
    let names: Vec<&'static str> = match argv.len() {
        2 => all.map(|s| s.name).collect(),
        5 if super::super::args::is(&argv[2], "filterby") => {
            let (kind, arg) = (&argv[3], &argv[4]);
            if super::super::args::is(kind, "module") {
                Vec::new()
            } else if super::super::args::is(kind, "aclcat") {
                let want = format!("@{}", String::from_utf8_lossy(arg)).to_ascii_lowercase();
                all.filter(|s| {
                    let cats = table::lookup(s.name)
                        .and_then(CmdData::acl_categories)
                        .cloned()
                        .unwrap_or_else(|| implicit_categories(s));
                    match cats {
                        Reply::Set(v) | Reply::Array(v) => v
                            .iter()
                            .any(|c| text(c).is_some_and(|t| t.eq_ignore_ascii_case(&want))),
                        _ => false,
                    }
                })
                .map(|s| s.name)
                .collect()
            } else if super::super::args::is(kind, "pattern") {
                all.filter(|s| crate::util::glob_match(arg, s.name.as_bytes(), true))
                    .map(|s| s.name)
                    .collect()
            } else {
                return Err(errors::SYNTAX);
            }
        }
        _ => return Err(errors::SYNTAX),
    };
    Ok(Reply::Array(
        names.into_iter().map(Reply::bulk_str).collect(),
    ))
}

/// redis `lookupCommand` over a full command line: the subcommand of a container.
fn lookup_full(argv: &[Bytes]) -> Option<&'static Spec> {
    let (_, base) = REGISTRY.lookup(&argv[0])?;
    if !base.subcommands.is_empty() && argv.len() >= 2 {
        return REGISTRY.lookup_sub(base, &argv[1]).map(|(_, s)| s);
    }
    Some(base)
}

/// A key spec's flags (`RO`, `access` ...).
fn spec_flags(ks: &Reply) -> Vec<Reply> {
    match map_get(ks, "flags") {
        Some(Reply::Set(v) | Reply::Array(v)) => v.clone(),
        _ => Vec::new(),
    }
}

fn int_at(m: Option<&Reply>, key: &str) -> Option<i64> {
    match m.and_then(|m| map_get(m, key)) {
        Some(Reply::Int(i)) => Some(*i),
        _ => None,
    }
}

/// redis `getKeysUsingKeySpecs`: (position, key spec index) of each key, or None when a spec
/// cannot be applied to these arguments.
fn keys_from_specs(specs: &[Reply], argv: &[Bytes], arity: i32) -> Option<Vec<(usize, usize)>> {
    let argc = argv.len() as i64;
    let mut out = Vec::new();
    for (j, ks) in specs.iter().enumerate() {
        if spec_flags(ks).iter().any(|f| text(f) == Some("not_key")) {
            continue;
        }
        let bs = map_get(ks, "begin_search")?;
        let bs_spec = map_get(bs, "spec");
        let mut first = match map_get(bs, "type").and_then(text)? {
            "index" => int_at(bs_spec, "index")?,
            "keyword" => {
                let kw = bs_spec.and_then(|s| map_get(s, "keyword")).and_then(text)?;
                let startfrom = int_at(bs_spec, "startfrom")?;
                let start = if startfrom > 0 {
                    startfrom
                } else {
                    argc + startfrom
                };
                let end = if startfrom > 0 { argc - 1 } else { 0 };
                let mut found = 0;
                let mut i = start;
                while i != end {
                    if i >= argc || i < 1 {
                        break;
                    }
                    if argv[i as usize].eq_ignore_ascii_case(kw.as_bytes()) {
                        found = i + 1;
                        break;
                    }
                    i = if start <= end { i + 1 } else { i - 1 };
                }
                if found == 0 {
                    continue;
                }
                found
            }
            _ => return None,
        };
        let fk = map_get(ks, "find_keys")?;
        let fk_spec = map_get(fk, "spec");
        let (last, step) = match map_get(fk, "type").and_then(text)? {
            "range" => {
                let lastkey = int_at(fk_spec, "lastkey")?;
                let limit = int_at(fk_spec, "limit")?;
                let last = if lastkey >= 0 {
                    first + lastkey
                } else if limit == 0 {
                    argc + lastkey
                } else {
                    first + ((argc - first) / limit + lastkey)
                };
                (last, int_at(fk_spec, "keystep")?)
            }
            "keynum" => {
                let idx = int_at(fk_spec, "keynumidx")?;
                if idx >= argc - first {
                    return None;
                }
                let n = crate::util::parse_i64(&argv[(first + idx) as usize])?;
                if n < 0 {
                    return None;
                }
                first += int_at(fk_spec, "firstkey")?;
                (first + n - 1, int_at(fk_spec, "keystep")?)
            }
            _ => return None,
        };
        if last >= argc || last < first || first >= argc {
            return None;
        }
        let step = step.max(1);
        let mut i = first;
        while i <= last {
            if i >= argc || i < first {
                if arity < 0 {
                    i += step;
                    continue;
                }
                return None;
            }
            out.push((i as usize, j));
            i += step;
        }
        // An incomplete spec that applied: only the command's own key function knows.
        if spec_flags(ks).iter().any(|f| text(f) == Some("incomplete")) {
            return None;
        }
    }
    Some(out)
}

/// A command's Redis metadata, its key specs, and whether one of them finds keys.
fn key_specs_of(s: &Spec) -> (Option<&'static CmdData>, &'static [Reply], bool) {
    let data = table::lookup(s.name);
    // Borrowed, not copied: the ACL check of a user with key patterns runs this per command.
    let specs: &'static [Reply] = match data.and_then(CmdData::key_specs) {
        Some(Reply::Set(v) | Reply::Array(v)) => v,
        _ => &[],
    };
    let has_spec_keys = specs
        .iter()
        .any(|ks| !spec_flags(ks).iter().any(|f| text(f) == Some("not_key")));
    (data, specs, has_spec_keys)
}

/// The keys of a full command with the flags of the key spec that found each.
fn keys_and_flags(cx: &Ctx) -> Result<Vec<(Bytes, Vec<Reply>)>, CmdError> {
    let args = &cx.argv[2..];
    let Some(s) = lookup_full(args) else {
        return Err(CmdError::err("Invalid command specified"));
    };
    let (data, specs, has_spec_keys) = key_specs_of(s);
    let has_keys = if data.is_some() {
        has_spec_keys || s.keys_fn.is_some()
    } else {
        s.first_key > 0 || s.keys_fn.is_some()
    };
    if !has_keys {
        return Err(CmdError::err("The command has no key arguments"));
    }
    if !s.arity_ok(args.len()) {
        return Err(CmdError::err(
            "Invalid number of arguments specified for command",
        ));
    }
    let keys: Vec<(Bytes, Vec<Reply>)> = find_keys(s, data, specs, args, has_spec_keys)
        .into_iter()
        .map(|(p, f)| (args[p].clone(), f))
        .collect();
    if keys.is_empty() && !data.is_some_and(|d| d.has_flag("no_mandatory_keys")) {
        return Err(CmdError::err("Invalid arguments specified for command"));
    }
    Ok(keys)
}

/// The positions of a command's keys with their key spec flags: from the key specs when they
/// apply, else from the command's own key function (redis `getKeysFromCommandWithSpecs`).
fn find_keys(
    s: &Spec,
    data: Option<&CmdData>,
    specs: &[Reply],
    args: &[Bytes],
    has_spec_keys: bool,
) -> Vec<(usize, Vec<Reply>)> {
    let has_flag = |f: &str| {
        specs
            .iter()
            .any(|ks| spec_flags(ks).iter().any(|x| text(x) == Some(f)))
    };
    let has_unknown = specs.iter().any(|ks| {
        ["begin_search", "find_keys"].iter().any(|part| {
            map_get(ks, part)
                .and_then(|p| map_get(p, "type"))
                .and_then(text)
                == Some("unknown")
        })
    });
    let varflags = has_flag("variable_flags");
    let found = if has_spec_keys && !varflags {
        keys_from_specs(specs, args, s.arity)
    } else {
        None
    };
    match found {
        Some(v) => v
            .into_iter()
            .map(|(p, j)| (p, spec_flags(&specs[j])))
            .collect(),
        // Complete key specs that do not fit these arguments: redis's own key function
        // rejects the same malformed input, so there are no keys.
        None if data.is_some()
            && has_spec_keys
            && !varflags
            && !has_unknown
            && !has_flag("incomplete") =>
        {
            Vec::new()
        }
        // Redis's command-specific key functions (`setGetKeys`, `sortGetKeys` ...).
        None => s
            .key_positions(args)
            .into_iter()
            .enumerate()
            .map(|(n, p)| (p, native_key_flags(s.name, args, n)))
            .collect(),
    }
}

/// The keys of a resolved command (argv[0] is its name) for the ACL check: position, whether
/// the command reads the key's data (`access`), whether it writes it (`insert`, `update`,
/// `delete`).
pub fn keys_with_access(s: &Spec, argv: &[Bytes]) -> Vec<(usize, bool, bool)> {
    let (data, specs, has_spec_keys) = key_specs_of(s);
    find_keys(s, data, specs, argv, has_spec_keys)
        .into_iter()
        .map(|(p, flags)| {
            let has = |w: &str| flags.iter().any(|f| text(f) == Some(w));
            (
                p,
                has("access"),
                has("insert") || has("update") || has("delete"),
            )
        })
        .collect()
}

fn flags_reply(words: &[&'static str]) -> Vec<Reply> {
    words.iter().map(|w| Reply::status(w)).collect()
}

/// Key flags as redis 7.0's native key functions set them, for the `n`th key found.
fn native_key_flags(name: &str, args: &[Bytes], n: usize) -> Vec<Reply> {
    let any = |from: usize, w: &str| {
        args.iter()
            .skip(from)
            .any(|a| a.eq_ignore_ascii_case(w.as_bytes()))
    };
    match name {
        "set" if any(3, "get") => flags_reply(&["RW", "access", "update"]),
        "set" => flags_reply(&["OW", "update"]),
        "bitfield" => {
            // Read-only when every operation is a GET (with OVERFLOW allowed), as `bitfieldGetKeys`.
            let mut readonly = true;
            let mut i = 2;
            while i < args.len() {
                let rem = args.len() - i - 1;
                let a = &args[i];
                if a.eq_ignore_ascii_case(b"get") && rem >= 2 {
                    i += 3;
                } else if a.eq_ignore_ascii_case(b"overflow") && rem >= 1 {
                    i += 2;
                } else {
                    readonly = false;
                    break;
                }
            }
            if readonly {
                flags_reply(&["RO", "access"])
            } else {
                flags_reply(&["RW", "access", "update"])
            }
        }
        "sort" if n > 0 => flags_reply(&["OW", "update"]),
        "migrate" => flags_reply(&["RW", "access", "delete"]),
        _ => flags_reply(&["RO", "access"]),
    }
}

fn getkeys(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let keys = keys_and_flags(cx)?;
    Ok(Reply::Array(
        keys.into_iter().map(|(k, _)| Reply::Bulk(k)).collect(),
    ))
}

fn getkeysandflags(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let keys = keys_and_flags(cx)?;
    Ok(Reply::Array(
        keys.into_iter()
            .map(|(k, f)| Reply::Array(vec![Reply::Bulk(k), Reply::Set(f)]))
            .collect(),
    ))
}
