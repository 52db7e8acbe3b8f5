//! Command-line options, with redis-cli's names and value rules (`parseOptions`).
//!
//! clap does the tokenizing; redis-cli's own semantics are applied on top: numbers are read
//! with C's `atoi`/`atof` (a bad number is 0, not an error), the last of `--raw`, `--no-raw`,
//! `--csv` and `--json` wins, `-h` without a value prints the usage, and an unknown option is
//! reported with redis-cli's sentence. `-h` is the host, so clap's help flag is off and only
//! `--help` prints the usage.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser};

use super::format::OutputMode;
use super::VERSION;

#[derive(Parser, Debug, Default)]
#[command(
    name = "tandem-cli",
    disable_help_flag = true,
    disable_version_flag = true,
    args_override_self = true
)]
struct RawArgs {
    #[arg(short = 'h', allow_hyphen_values = true)]
    host: Option<String>,
    #[arg(short = 'p', allow_hyphen_values = true)]
    port: Option<String>,
    #[arg(short = 's', allow_hyphen_values = true)]
    socket: Option<PathBuf>,
    #[arg(short = 'a', long = "pass", allow_hyphen_values = true)]
    password: Option<OsString>,
    #[arg(long, allow_hyphen_values = true)]
    user: Option<OsString>,
    #[arg(long)]
    askpass: bool,
    #[arg(short = 'u', allow_hyphen_values = true)]
    uri: Option<String>,
    #[arg(short = 'r', allow_hyphen_values = true)]
    repeat: Option<String>,
    #[arg(short = 'i', allow_hyphen_values = true)]
    interval: Option<String>,
    #[arg(short = 'n', allow_hyphen_values = true)]
    db: Option<String>,
    #[arg(short = '2')]
    resp2: bool,
    #[arg(short = '3')]
    resp3: bool,
    #[arg(short = 'x')]
    stdin_last_arg: bool,
    #[arg(short = 'X', allow_hyphen_values = true)]
    stdin_tag: Option<OsString>,
    #[arg(short = 'd', allow_hyphen_values = true)]
    mb_delim: Option<OsString>,
    #[arg(short = 'D', allow_hyphen_values = true)]
    cmd_delim: Option<OsString>,
    #[arg(short = 'c')]
    cluster_mode: bool,
    #[arg(short = 'e')]
    errcode: bool,
    #[arg(long)]
    raw: bool,
    #[arg(long)]
    no_raw: bool,
    #[arg(long)]
    csv: bool,
    #[arg(long)]
    json: bool,
    #[arg(long)]
    quoted_json: bool,
    #[arg(long)]
    quoted_input: bool,
    #[arg(long, allow_hyphen_values = true)]
    show_pushes: Option<String>,
    #[arg(long)]
    stat: bool,
    #[arg(long)]
    latency: bool,
    #[arg(long)]
    latency_history: bool,
    #[arg(long)]
    latency_dist: bool,
    #[arg(long)]
    mono: bool,
    #[arg(long, alias = "slave")]
    replica: bool,
    #[arg(long, allow_hyphen_values = true)]
    rdb: Option<PathBuf>,
    #[arg(long, allow_hyphen_values = true)]
    functions_rdb: Option<PathBuf>,
    #[arg(long)]
    pipe: bool,
    #[arg(long, allow_hyphen_values = true)]
    pipe_timeout: Option<String>,
    #[arg(long)]
    bigkeys: bool,
    #[arg(long)]
    memkeys: bool,
    #[arg(long, allow_hyphen_values = true)]
    memkeys_samples: Option<String>,
    #[arg(long)]
    hotkeys: bool,
    #[arg(long)]
    scan: bool,
    #[arg(long, allow_hyphen_values = true)]
    pattern: Option<OsString>,
    #[arg(long, allow_hyphen_values = true)]
    quoted_pattern: Option<OsString>,
    #[arg(long, allow_hyphen_values = true)]
    intrinsic_latency: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    lru_test: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    eval: Option<PathBuf>,
    #[arg(long)]
    ldb: bool,
    #[arg(long)]
    ldb_sync_mode: bool,
    #[arg(long, num_args = 1.., allow_hyphen_values = true)]
    cluster: Option<Vec<String>>,
    #[arg(long)]
    tls: bool,
    #[arg(long)]
    verbose: bool,
    #[arg(long)]
    no_auth_warning: bool,
    #[arg(long)]
    topology: bool,
    #[arg(long)]
    help: bool,
    #[arg(short = 'v', long)]
    version: bool,
    /// The command and its arguments: everything from the first word that is not an option.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_parser = clap::value_parser!(OsString))]
    command: Vec<OsString>,
}

/// The tool a run is for; `Command` covers both one-shot and interactive use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Command,
    Latency { history: bool },
    LatencyDist,
    Replica,
    Rdb { path: PathBuf, functions_only: bool },
    Pipe,
    BigKeys,
    MemKeys { samples: u32 },
    HotKeys,
    Stat,
    Scan,
    IntrinsicLatency { seconds: i64 },
    LruTest,
    Topology,
}

/// Everything the options decide.
#[derive(Debug, Clone)]
pub struct Config {
    pub host: String,
    pub port: i64,
    pub socket: Option<PathBuf>,
    pub user: Option<Vec<u8>>,
    pub auth: Option<Vec<u8>>,
    pub askpass: bool,
    pub repeat: i64,
    /// Microseconds between repeats (`-i`); 0 when not given.
    pub interval_us: i64,
    pub dbnum: i64,
    /// 0: RESP2; 1: `-3` (HELLO 3 must work); 2: `--json` (RESP3 if the server has it).
    pub resp3: u8,
    pub resp2: bool,
    pub stdin_last_arg: bool,
    pub stdin_tag: Option<Vec<u8>>,
    pub mb_delim: Vec<u8>,
    pub cmd_delim: Vec<u8>,
    pub set_errcode: bool,
    pub output: OutputMode,
    pub quoted_input: bool,
    /// Print RESP3 pushes that arrive outside pub/sub (default: when stdout is a terminal).
    pub push_output: bool,
    pub mode: Mode,
    pub pipe_timeout_secs: i64,
    pub pattern: Option<Vec<u8>>,
    pub eval: Option<PathBuf>,
    pub command: Vec<Vec<u8>>,
}

/// What the command line asks for.
pub enum Parsed {
    Run(Box<Config>),
    /// Print this and exit with this code (usage, version, errors).
    Exit {
        stdout: String,
        stderr: String,
        code: i32,
    },
}

/// C `atoi`/`strtoll`: leading blanks, a sign, digits; anything else ends the number.
pub fn atoi(s: &str) -> i64 {
    let s = s.trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut n: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        n = n.wrapping_mul(10).wrapping_add(i64::from(b - b'0'));
    }
    if neg {
        -n
    } else {
        n
    }
}

/// C `atof`: the longest prefix that reads as a number, 0 if none.
pub fn atof(s: &str) -> f64 {
    let s = s.trim_start();
    s.char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(s.len()))
        .rev()
        .find_map(|end| s[..end].parse::<f64>().ok())
        .unwrap_or(0.0)
}

/// `percentDecode` for `-u` URIs.
fn percent_decode(s: &str) -> Result<Vec<u8>, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if bytes.len() - i < 3 {
                return Err("Incomplete URI encoding".into());
            }
            let hex = |b: u8| match b.to_ascii_lowercase() {
                c @ b'0'..=b'9' => Some(c - b'0'),
                c @ b'a'..=b'f' => Some(c - b'a' + 10),
                _ => None,
            };
            match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => out.push(h * 16 + l),
                _ => return Err("Illegal character in URI encoding".into()),
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// `parseRedisUri`: `redis://[[user:]pass@][host[:port]][/db]`.
fn apply_uri(uri: &str, cfg: &mut Config) -> Result<(), String> {
    let lower = uri.to_ascii_lowercase();
    if lower.starts_with("rediss://") {
        return Err("rediss:// is only supported when tandem-cli is compiled with OpenSSL".into());
    }
    if !lower.starts_with("redis://") {
        return Err("Invalid URI scheme".into());
    }
    let mut rest = &uri["redis://".len()..];
    if rest.is_empty() {
        return Ok(());
    }
    if let Some(at) = rest.find('@') {
        let userinfo = &rest[..at];
        let pass = match userinfo.find(':') {
            Some(colon) => {
                cfg.user = Some(percent_decode(&userinfo[..colon])?);
                &userinfo[colon + 1..]
            }
            None => userinfo,
        };
        cfg.auth = Some(percent_decode(pass)?);
        rest = &rest[at + 1..];
    }
    if rest.is_empty() {
        return Ok(());
    }
    let path = rest.find('/');
    if !rest.starts_with('/') {
        let hostport = &rest[..path.unwrap_or(rest.len())];
        // redis-cli looks for the first ':' in the rest of the URI (not only the authority).
        match rest.find(':') {
            Some(colon) => {
                cfg.port = atoi(&rest[colon + 1..]);
                cfg.host = rest[..colon].to_string();
            }
            None => cfg.host = hostport.to_string(),
        }
    }
    let after = match path {
        Some(p) => &rest[p + 1..],
        None => "",
    };
    if !after.is_empty() {
        cfg.dbnum = atoi(after);
    }
    Ok(())
}

fn bytes(s: OsString) -> Vec<u8> {
    s.into_vec()
}

/// The usage text (`--help`).
pub fn usage() -> String {
    include_str!("usage.txt").replace("{version}", VERSION)
}

/// The offending option of a clap error, as redis-cli names it (`'-p'`).
fn offending_option(err: &clap::Error) -> String {
    match err.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => s.split([' ', '=']).next().unwrap_or(s).to_string(),
        _ => String::new(),
    }
}

/// Parses `argv` (with the program name first). `stdout_is_tty` picks the default output.
pub fn parse(argv: Vec<OsString>, stdout_is_tty: bool) -> Parsed {
    let matches = match RawArgs::command().try_get_matches_from(argv) {
        Ok(m) => m,
        Err(err) => {
            let opt = offending_option(&err);
            if opt == "-h" && err.kind() != ErrorKind::UnknownArgument {
                return Parsed::Exit {
                    stdout: usage(),
                    stderr: String::new(),
                    code: 0,
                };
            }
            return Parsed::Exit {
                stdout: String::new(),
                stderr: format!("Unrecognized option or bad number of args for: '{opt}'\n"),
                code: 1,
            };
        }
    };
    let raw = match RawArgs::from_arg_matches(&matches) {
        Ok(r) => r,
        Err(err) => {
            return Parsed::Exit {
                stdout: String::new(),
                stderr: format!("{err}"),
                code: 1,
            };
        }
    };
    // The command starts at the first word that is not an option: a leading '-' there is an
    // option clap did not know.
    if let Some(first) = raw
        .command
        .first()
        .filter(|w| w.as_encoded_bytes().starts_with(b"-"))
    {
        return Parsed::Exit {
            stdout: String::new(),
            stderr: format!(
                "Unrecognized option or bad number of args for: '{}'\n",
                first.to_string_lossy()
            ),
            code: 1,
        };
    }
    if raw.help {
        return Parsed::Exit {
            stdout: usage(),
            stderr: String::new(),
            code: 0,
        };
    }
    if raw.version {
        return Parsed::Exit {
            stdout: format!("tandem-cli {VERSION}\n"),
            stderr: String::new(),
            code: 0,
        };
    }
    build(raw, &matches, stdout_is_tty)
}

/// Index of the last occurrence of a flag, for "the last one wins" options.
fn last_index(m: &ArgMatches, id: &str) -> Option<usize> {
    if m.value_source(id) == Some(clap::parser::ValueSource::CommandLine) {
        m.indices_of(id).and_then(|i| i.max())
    } else {
        None
    }
}

fn build(raw: RawArgs, m: &ArgMatches, stdout_is_tty: bool) -> Parsed {
    let exit = |stderr: String| Parsed::Exit {
        stdout: String::new(),
        stderr,
        code: 1,
    };
    let tty_like = stdout_is_tty || std::env::var_os("FAKETTY").is_some();
    let mut cfg = Config {
        host: "127.0.0.1".into(),
        port: 6379,
        socket: None,
        user: None,
        auth: None,
        askpass: raw.askpass,
        repeat: 1,
        interval_us: 0,
        dbnum: 0,
        resp3: 0,
        resp2: raw.resp2,
        stdin_last_arg: raw.stdin_last_arg,
        stdin_tag: raw.stdin_tag.map(bytes),
        mb_delim: raw.mb_delim.map(bytes).unwrap_or_else(|| b"\n".to_vec()),
        cmd_delim: raw.cmd_delim.map(bytes).unwrap_or_else(|| b"\n".to_vec()),
        set_errcode: raw.errcode,
        output: if tty_like {
            OutputMode::Standard
        } else {
            OutputMode::Raw
        },
        quoted_input: raw.quoted_input,
        push_output: tty_like,
        mode: Mode::Command,
        pipe_timeout_secs: 30,
        pattern: None,
        eval: raw.eval,
        command: raw.command.into_iter().map(bytes).collect(),
    };
    if let Some(h) = raw.host {
        cfg.host = h;
    }
    if let Some(p) = raw.port {
        cfg.port = atoi(&p);
    }
    cfg.socket = raw.socket;
    if let Some(r) = raw.repeat {
        cfg.repeat = atoi(&r);
    }
    if let Some(i) = raw.interval {
        cfg.interval_us = (atof(&i) * 1_000_000.0) as i64;
    }
    if let Some(n) = raw.db {
        cfg.dbnum = atoi(&n);
    }
    if let Some(p) = raw.password {
        cfg.auth = Some(bytes(p));
    }
    if let Some(u) = raw.user {
        cfg.user = Some(bytes(u));
    }
    // `-u` is applied where it stands relative to -h/-p/-a in redis-cli; applying it after
    // them is the same unless both are given, which only a confused command line does.
    if let Some(uri) = raw.uri {
        if let Err(e) = apply_uri(&uri, &mut cfg) {
            return exit(format!("{e}\n"));
        }
    }
    // The last output option wins.
    let outputs = [
        ("raw", OutputMode::Raw),
        ("no_raw", OutputMode::Standard),
        ("csv", OutputMode::Csv),
        ("json", OutputMode::Json),
        ("quoted_json", OutputMode::QuotedJson),
    ];
    if let Some((_, mode)) = outputs
        .iter()
        .filter_map(|(id, mode)| last_index(m, id).map(|i| (i, *mode)))
        .max_by_key(|(i, _)| *i)
    {
        cfg.output = mode;
    }
    if raw.json || raw.quoted_json {
        cfg.resp3 = 2;
    }
    if raw.resp3 {
        cfg.resp3 = 1;
    }
    if let Some(v) = raw.show_pushes {
        match v.bytes().next().map(|b| b.to_ascii_lowercase()) {
            Some(b'n') => cfg.push_output = false,
            Some(b'y') => cfg.push_output = true,
            _ => eprintln!("Unknown --show-pushes value '{v}' (valid: '[y]es', '[n]o')"),
        }
    }
    if let Some(t) = raw.pipe_timeout {
        cfg.pipe_timeout_secs = atoi(&t);
    }
    if let Some(p) = raw.pattern {
        cfg.pattern = Some(bytes(p));
    }
    if let Some(q) = raw.quoted_pattern {
        match super::split::split_args(&bytes(q)) {
            Some(mut parts) if !parts.is_empty() => cfg.pattern = Some(parts.swap_remove(0)),
            Some(_) => cfg.pattern = Some(Vec::new()),
            None => return exit("Invalid quoted string specified for --quoted-pattern.\n".into()),
        }
    }
    // Modes, in the order redis-cli's main() tries them.
    cfg.mode = if raw.latency || raw.latency_history {
        Mode::Latency {
            history: raw.latency_history,
        }
    } else if raw.latency_dist {
        Mode::LatencyDist
    } else if raw.replica {
        Mode::Replica
    } else if let Some(path) = raw.rdb.clone() {
        Mode::Rdb {
            path,
            functions_only: false,
        }
    } else if let Some(path) = raw.functions_rdb.clone() {
        Mode::Rdb {
            path,
            functions_only: true,
        }
    } else if raw.pipe {
        Mode::Pipe
    } else if raw.bigkeys {
        Mode::BigKeys
    } else if raw.memkeys || raw.memkeys_samples.is_some() {
        Mode::MemKeys {
            samples: raw
                .memkeys_samples
                .as_deref()
                .map_or(0, |s| atoi(s).max(0) as u32),
        }
    } else if raw.hotkeys {
        Mode::HotKeys
    } else if raw.stat {
        Mode::Stat
    } else if raw.scan {
        Mode::Scan
    } else if raw.lru_test.is_some() {
        Mode::LruTest
    } else if let Some(secs) = raw.intrinsic_latency.as_deref() {
        Mode::IntrinsicLatency {
            seconds: atoi(secs),
        }
    } else if raw.topology {
        Mode::Topology
    } else {
        Mode::Command
    };
    if raw.cluster.is_some() {
        return exit("tandem-cli does not implement the --cluster manager.\n".into());
    }
    if raw.tls {
        return exit("tandem-cli does not support TLS.\n".into());
    }
    if raw.cluster_mode && cfg.socket.is_some() {
        return exit("Options -c and -s are mutually exclusive.\n".into());
    }
    if cfg.resp2 && cfg.resp3 == 1 {
        return exit("Options -2 and -3 are mutually exclusive.\n".into());
    }
    if (raw.ldb || raw.ldb_sync_mode) && cfg.eval.is_none() {
        return exit(
            "Options --ldb and --ldb-sync-mode require --eval.\nTry tandem-cli --help for more information.\n"
                .into(),
        );
    }
    if raw.ldb || raw.ldb_sync_mode {
        return exit(
            "tandem-cli does not implement the Lua debugger (--ldb, --ldb-sync-mode).\n".into(),
        );
    }
    let mut warning = String::new();
    if !raw.no_auth_warning && cfg.auth.is_some() {
        warning = "Warning: Using a password with '-a' or '-u' option on the command line interface may not be safe.\n".into();
    }
    if raw.rdb.is_some() && raw.functions_rdb.is_some() {
        return exit(format!(
            "{warning}Option --functions-rdb and --rdb are mutually exclusive.\n"
        ));
    }
    if cfg.stdin_last_arg && cfg.stdin_tag.is_some() {
        return exit(format!(
            "{warning}Options -x and -X are mutually exclusive.\n"
        ));
    }
    if !warning.is_empty() {
        eprint!("{warning}");
    }
    // parseEnv: the environment's password unless one was given.
    if cfg.auth.is_none() {
        if let Some(a) =
            std::env::var_os("TANDEMCLI_AUTH").or_else(|| std::env::var_os("REDISCLI_AUTH"))
        {
            cfg.auth = Some(bytes(a));
        }
    }
    Parsed::Run(Box::new(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Config {
        let mut argv: Vec<OsString> = vec!["tandem-cli".into()];
        argv.extend(args.iter().map(OsString::from));
        match parse(argv, false) {
            Parsed::Run(cfg) => *cfg,
            Parsed::Exit {
                stdout,
                stderr,
                code,
            } => panic!("exit {code}: {stdout}{stderr}"),
        }
    }

    fn exit_of(args: &[&str]) -> (String, String, i32) {
        let mut argv: Vec<OsString> = vec!["tandem-cli".into()];
        argv.extend(args.iter().map(OsString::from));
        match parse(argv, false) {
            Parsed::Run(_) => panic!("expected an exit"),
            Parsed::Exit {
                stdout,
                stderr,
                code,
            } => (stdout, stderr, code),
        }
    }

    #[test]
    fn options_then_command() {
        let c = run(&[
            "-h", "10.0.0.1", "-p", "7000", "-n", "3", "set", "-h", "--raw",
        ]);
        assert_eq!(c.host, "10.0.0.1");
        assert_eq!(c.port, 7000);
        assert_eq!(c.dbnum, 3);
        assert_eq!(
            c.command,
            vec![b"set".to_vec(), b"-h".to_vec(), b"--raw".to_vec()]
        );
        assert_eq!(c.output, OutputMode::Raw);
    }

    #[test]
    fn c_number_semantics() {
        assert_eq!(atoi("12abc"), 12);
        assert_eq!(atoi("x"), 0);
        assert_eq!(atoi(" -5"), -5);
        assert!((atof("0.25s") - 0.25).abs() < 1e-12);
        assert_eq!(atof("abc"), 0.0);
        let c = run(&["-r", "-1", "-i", "0.1", "ping"]);
        assert_eq!(c.repeat, -1);
        assert_eq!(c.interval_us, 100_000);
    }

    #[test]
    fn last_output_option_wins() {
        assert_eq!(run(&["--csv", "--raw"]).output, OutputMode::Raw);
        assert_eq!(run(&["--raw", "--no-raw"]).output, OutputMode::Standard);
        assert_eq!(run(&["--no-raw", "--csv"]).output, OutputMode::Csv);
        let j = run(&["--json"]);
        assert_eq!((j.output, j.resp3), (OutputMode::Json, 2));
    }

    #[test]
    fn uri() {
        let c = run(&["-u", "redis://us%40r:p%3Ass@example.org:6380/4"]);
        assert_eq!(c.user.as_deref(), Some(b"us@r".as_slice()));
        assert_eq!(c.auth.as_deref(), Some(b"p:ss".as_slice()));
        assert_eq!((c.host.as_str(), c.port, c.dbnum), ("example.org", 6380, 4));
        let d = run(&["-u", "redis://pw@h"]);
        assert_eq!(
            (d.auth.as_deref(), d.user, d.host.as_str()),
            (Some(b"pw".as_slice()), None, "h")
        );
        assert_eq!(exit_of(&["-u", "http://x"]).1, "Invalid URI scheme\n");
    }

    #[test]
    fn errors_and_help() {
        let (_, err, code) = exit_of(&["--bogus"]);
        assert_eq!(
            (err.as_str(), code),
            (
                "Unrecognized option or bad number of args for: '--bogus'\n",
                1
            )
        );
        let (_, err, _) = exit_of(&["-p"]);
        assert_eq!(err, "Unrecognized option or bad number of args for: '-p'\n");
        let (out, _, code) = exit_of(&["-h"]);
        assert!(out.contains("Usage: tandem-cli") && code == 0);
        assert!(exit_of(&["--help"]).0.contains("-h <hostname>"));
        assert!(exit_of(&["-v"]).0.starts_with("tandem-cli "));
        assert_eq!(
            exit_of(&["-2", "-3"]).1,
            "Options -2 and -3 are mutually exclusive.\n"
        );
    }

    #[test]
    fn modes() {
        assert_eq!(
            run(&["--scan", "--pattern", "-x*"]).pattern.as_deref(),
            Some(b"-x*".as_slice())
        );
        assert_eq!(
            run(&["--latency-history"]).mode,
            Mode::Latency { history: true }
        );
        assert_eq!(run(&["--slave"]).mode, Mode::Replica);
        assert_eq!(
            run(&["--memkeys-samples", "5"]).mode,
            Mode::MemKeys { samples: 5 }
        );
        assert_eq!(run(&["--topology", "-i", "2"]).mode, Mode::Topology);
    }
}
