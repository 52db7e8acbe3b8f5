//! redis.conf syntax and loading: `sdssplitargs` tokenizing, `sdscatrepr` quoting, the line
//! loop of redis `loadServerConfigFromString` (with `include`, including globs), and the
//! command line of redis-server `main()`.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::table::{self, TABLE};
use super::value::{strerror, SetCtx};
use super::{Config, ConfigError};

/// Directives Redis 7.0 still accepts and ignores (with exactly one argument).
const DEPRECATED: &[&str] = &[
    "list-max-ziplist-entries",
    "list-max-ziplist-value",
    "lua-replicate-commands",
];

/// C `isspace`.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

fn hex_val(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// redis `sdssplitargs`: blanks separate arguments; "double quotes" understand `\n \r \t \b \a`,
/// `\xHH` and `\<any>`; 'single quotes' understand `\'`; a closing quote must be followed by a
/// blank or the end. `None` means unbalanced quotes. Stops at a NUL byte, as C does.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let line = match line.iter().position(|&c| c == 0) {
        Some(nul) => &line[..nul],
        None => line,
    };
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut args = Vec::new();
    let mut p = 0;
    loop {
        while p < line.len() && is_space(line[p]) {
            p += 1;
        }
        if p >= line.len() {
            return Some(args);
        }
        let (mut inq, mut insq) = (false, false);
        let mut cur = Vec::new();
        loop {
            let c = at(p);
            if inq {
                if c == b'\\' && at(p + 1) == b'x' {
                    if let (Some(h), Some(l)) = (hex_val(at(p + 2)), hex_val(at(p + 3))) {
                        cur.push(h * 16 + l);
                        p += 4;
                        continue;
                    }
                }
                if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    cur.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return None;
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return None;
                } else {
                    cur.push(c);
                }
            } else if insq {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return None;
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return None;
                } else {
                    cur.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        if c != 0 {
                            p += 1;
                        }
                        break;
                    }
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    _ => cur.push(c),
                }
            }
            p += 1;
        }
        args.push(cur);
    }
}

/// redis `sdscatrepr`: a double-quoted string that `split_args` reads back unchanged.
pub fn repr(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for &c in s {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            0x20..=0x7e => out.push(c as char),
            _ => out.push_str(&format!("\\x{c:02x}")),
        }
    }
    out.push('"');
    out
}

/// Trims redis `sdstrim(line, " \t\r\n")`.
pub fn trim_line(line: &[u8]) -> &[u8] {
    let blank = |c: &u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    let start = line.iter().position(|c| !blank(c)).unwrap_or(line.len());
    let end = line
        .iter()
        .rposition(|c| !blank(c))
        .map_or(start, |e| e + 1);
    &line[start..end.max(start)]
}

/// redis `sdssplitlen(text, "\n")`: no pieces for empty text, otherwise every piece including
/// an empty last one after a final newline.
pub fn split_lines(text: &[u8]) -> Vec<&[u8]> {
    if text.is_empty() {
        Vec::new()
    } else {
        text.split(|&c| c == b'\n').collect()
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// redis `loadServerConfigFromString`: applies every line in order; the first bad line is a
/// fatal error that quotes it.
pub(super) fn load_string(
    cfg: &mut Config,
    text: &[u8],
    ctx: &mut SetCtx,
) -> Result<(), ConfigError> {
    for (i, raw) in split_lines(text).into_iter().enumerate() {
        let mut line = trim_line(raw);
        if let Some(nul) = line.iter().position(|&c| c == 0) {
            line = &line[..nul];
        }
        if line.is_empty() || line[0] == b'#' {
            continue;
        }
        let fatal = |reason: String| ConfigError::Fatal {
            line: Some(i + 1),
            text: Some(lossy(line)),
            reason,
        };
        let Some(argv) = split_args(line) else {
            return Err(fatal("Unbalanced quotes in configuration line".into()));
        };
        if argv.is_empty() {
            continue;
        }
        let argv: Vec<String> = argv.iter().map(|a| lossy(a)).collect();
        let name = argv[0].to_ascii_lowercase();
        let argc = argv.len();

        if let Some((index, _)) = table::lookup(&name) {
            let d = &TABLE[index];
            if !d.has(table::MULTI_ARG) && argc != 2 {
                return Err(fatal("wrong number of arguments".into()));
            }
            if d.has(table::MULTI_ARG) && argc == 2 && !argv[1].is_empty() {
                // redis 7.0.15: a single argument is split again, so `--save "900 1"` and
                // `bind "a b"` work; unbalanced quotes inside it give no argument at all.
                let inner: Vec<String> = split_args(argv[1].as_bytes())
                    .unwrap_or_default()
                    .iter()
                    .map(|a| lossy(a))
                    .collect();
                cfg.apply(index, &inner, ctx).map_err(fatal)?;
            } else {
                cfg.apply(index, &argv[1..], ctx).map_err(fatal)?;
            }
            if !d.implemented {
                cfg.note_unimplemented(d.name);
            }
            continue;
        }
        if argc == 2 && DEPRECATED.contains(&name.as_str()) {
            continue;
        }
        match name.as_str() {
            "include" if argc == 2 => {
                let mut inner = Vec::new();
                read_config_source(&argv[1], &ctx.cwd.clone(), &mut inner)?;
                load_string(cfg, &inner, ctx)?;
            }
            "rename-command" if argc == 3 => {
                cfg.rename_commands.push((argv[1].clone(), argv[2].clone()));
                crate::server::rename::Renames::build(&cfg.rename_commands)
                    .map_err(|e| fatal(e.into()))?;
            }
            "user" if argc >= 2 => {
                let raw: Vec<Vec<u8>> = split_args(line)
                    .unwrap_or_default()
                    .into_iter()
                    .skip(1)
                    .collect();
                if cfg.users.iter().any(|u| u[0] == raw[0]) {
                    return Err(fatal(format!(
                        "Error in user declaration '{}': Duplicate user found. A user can only be defined once in config files",
                        argv[1]
                    )));
                }
                let user = crate::acl::file::check_directive(&raw).map_err(|(arg, why)| {
                    fatal(format!(
                        "Error in user declaration '{}': {why}",
                        lossy(&arg)
                    ))
                })?;
                cfg.users.push(user);
            }
            "loadmodule" if argc >= 2 => cfg.note_unimplemented("loadmodule"),
            _ if name.contains('.') => {
                if argc != 2 {
                    return Err(fatal("Module config specified without value".into()));
                }
                cfg.note_unimplemented(&name);
            }
            "sentinel" => {
                if argc != 1 {
                    if !crate::sentinel::mode() {
                        return Err(fatal(
                            "sentinel directive while not in sentinel mode".into(),
                        ));
                    }
                    cfg.sentinel_lines.push(super::SentinelLine {
                        linenum: i + 1,
                        line: lossy(line),
                        argv: argv[1..].iter().map(|a| a.clone().into_bytes()).collect(),
                    });
                }
            }
            _ => return Err(fatal("Bad directive or wrong number of arguments".into())),
        }
    }
    let cluster = table::lookup("cluster-enabled").is_some_and(|(i, _)| cfg.bool_of(i));
    if cluster && cfg.replicaof.is_some() {
        return Err(ConfigError::Fatal {
            line: None,
            text: None,
            reason: "replicaof directive not allowed in cluster mode".into(),
        });
    }
    Ok(())
}

/// redis `loadServerConfig` file part: appends the content of `name` (relative to `cwd`) to
/// `out`. With `*`, `?` or `[` it is a glob: every match is read, in sorted order, and no match
/// is not an error. A file that cannot be opened is fatal; a directory reads as empty.
pub(super) fn read_config_source(
    name: &str,
    cwd: &Path,
    out: &mut Vec<u8>,
) -> Result<(), ConfigError> {
    let files = if name.contains(['*', '?', '[']) {
        glob_paths(name, cwd)
    } else {
        vec![name.to_string()]
    };
    for f in files {
        let mut file = std::fs::File::open(cwd.join(&f)).map_err(|e| ConfigError::CannotOpen {
            path: f.clone(),
            reason: strerror(&e),
        })?;
        // fgets() stops quietly on a read error (a directory, for instance).
        let _ = file.read_to_end(out);
    }
    Ok(())
}

/// glob(3) without flags: `*`, `?` and `[...]` within one path component, names starting with
/// '.' only when the pattern component does, results sorted.
fn glob_paths(pattern: &str, cwd: &Path) -> Vec<String> {
    let mut found: Vec<(String, PathBuf)> = if pattern.starts_with('/') {
        vec![("/".to_string(), PathBuf::from("/"))]
    } else {
        vec![(String::new(), cwd.to_path_buf())]
    };
    let join = |shown: &str, comp: &str| match shown {
        "" => comp.to_string(),
        "/" => format!("/{comp}"),
        _ => format!("{shown}/{comp}"),
    };
    for comp in pattern.split('/').filter(|c| !c.is_empty()) {
        let mut next = Vec::new();
        for (shown, path) in &found {
            if !comp.contains(['*', '?', '[']) {
                next.push((join(shown, comp), path.join(comp)));
                continue;
            }
            let Ok(entries) = std::fs::read_dir(path) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.') || comp.starts_with('.'))
                .filter(|n| crate::util::glob_match(comp.as_bytes(), n.as_bytes(), false))
                .collect();
            names.sort();
            for n in names {
                next.push((join(shown, &n), path.join(&n)));
            }
        }
        found = next;
    }
    let mut out: Vec<String> = found
        .into_iter()
        .filter(|(_, p)| std::fs::symlink_metadata(p).is_ok())
        .map(|(s, _)| s)
        .collect();
    out.sort();
    out
}

/// redis `getAbsolutePath`: trims blanks, joins a relative path to the working directory and
/// folds leading `../`.
pub(super) fn absolute_path(name: &str) -> PathBuf {
    let rel = name.trim_matches([' ', '\r', '\n', '\t']);
    if rel.starts_with('/') {
        return PathBuf::from(rel);
    }
    let mut abs = std::env::current_dir()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !abs.ends_with('/') {
        abs.push('/');
    }
    let mut rel = rel;
    while let Some(rest) = rel.strip_prefix("../") {
        rel = rest;
        if abs.len() > 1 {
            let trimmed = &abs[..abs.len() - 1];
            let cut = trimmed.rfind('/').map_or(0, |p| p + 1);
            abs.truncate(cut.max(1));
        }
    }
    abs.push_str(rel);
    PathBuf::from(abs)
}

/// The command line as redis-server `main()` reads it.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct CommandLine {
    pub config_file: Option<String>,
    pub from_stdin: bool,
    /// Config lines built from `--name value` options, appended after the file and stdin.
    pub options: Vec<u8>,
}

/// Turns `[configfile|-] [--name value ...]` into config text: each `--name` starts a line, the
/// following arguments are appended quoted; `--save` with no value means `save ""`; `-` (first
/// or last) reads stdin. An argument that starts with `--` right after a bare `--name` is that
/// option's value.
pub(super) fn command_line(args: &[String]) -> CommandLine {
    let mut cl = CommandLine::default();
    let mut j = 0;
    if let Some(first) = args.first() {
        if !first.starts_with('-') {
            cl.config_file = Some(first.clone());
            j = 1;
        }
    }
    let last = args.len().saturating_sub(1);
    let mut handled_last = true;
    let opts = &mut cl.options;
    while j < args.len() {
        let a = &args[j];
        let next_is_option = args.get(j + 1).is_some_and(|n| n.starts_with("--"));
        if a == "-" && (j == 0 || j == last) {
            cl.from_stdin = true;
        } else if handled_last && a.starts_with("--") {
            if !opts.is_empty() {
                opts.push(b'\n');
            }
            opts.extend_from_slice(&a.as_bytes()[2..]);
            opts.push(b' ');
            let words = split_args(a.as_bytes()).map_or(0, |v| v.len());
            if words == 1 {
                handled_last = false;
                if a.eq_ignore_ascii_case("--save") && j != last && next_is_option {
                    opts.extend_from_slice(b"\"\"");
                    handled_last = true;
                } else if a.eq_ignore_ascii_case("--save") && j == last {
                    opts.extend_from_slice(b"\"\"");
                } else if a.eq_ignore_ascii_case("--sentinel") && j != last && next_is_option {
                    handled_last = true;
                }
            } else {
                handled_last = true;
            }
        } else {
            opts.extend_from_slice(repr(a.as_bytes()).as_bytes());
            opts.push(b' ');
            handled_last = true;
        }
        j += 1;
    }
    cl
}
