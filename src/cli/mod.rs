//! tandem-cli: a command-line client that behaves like redis-cli 7.0, so scripts written for
//! redis-cli work unchanged against Tandem (or Redis).
//!
//! - `args`: the options, with redis-cli's names and C-style number parsing.
//! - `resp`, `conn`: the RESP2/RESP3 reply parser and one blocking connection.
//! - `format`: replies printed exactly as redis-cli prints them (terminal, raw, CSV, JSON).
//! - `client`: the session (connect, AUTH, SELECT, HELLO 3; send, print, follow SELECT/MULTI).
//! - `repl`, `hints`, `split`: interactive mode, help and hints, redis-cli's line quoting.
//! - `modes`: `--stat`, `--latency`, `--scan`, `--bigkeys`, `--pipe`, `--replica`, `--rdb`,
//!   `--topology` and friends.
//!
//! Independent of the server: only `crate::protocol` is used, in tests, to check that the
//! reply parser reads what the server's encoder writes.

mod args;
mod client;
mod conn;
pub mod format;
mod hints;
mod modes;
mod repl;
pub mod resp;
mod signals;
pub mod split;

use std::io::{IsTerminal, Read, Write};

use args::{Mode, Parsed};
use client::Client;

/// The version tandem-cli reports (`--version`, `help`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Writes to stdout and flushes, as redis-cli flushes after each reply ("grep friendly").
/// A closed stdout ends the process quietly.
pub(crate) fn emit(bytes: &[u8]) {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if out.write_all(bytes).and_then(|()| out.flush()).is_err() {
        std::process::exit(1);
    }
}

/// Entry point of the `tandem-cli` binary; returns the process exit code.
pub fn main() -> i32 {
    let argv: Vec<_> = std::env::args_os().collect();
    let mut cfg = match args::parse(argv, std::io::stdout().is_terminal()) {
        Parsed::Run(cfg) => *cfg,
        Parsed::Exit {
            stdout,
            stderr,
            code,
        } => {
            emit(stdout.as_bytes());
            eprint!("{stderr}");
            return code;
        }
    };
    if cfg.askpass {
        cfg.auth = repl::ask_password("Please input password: ");
    }
    let mut client = Client::new(cfg);
    if let Some(code) = run_tool_mode(&mut client) {
        return code;
    }
    if client.cfg.command.is_empty() && client.cfg.eval.is_none() {
        // Interactive mode: a failed connection is retried on every command.
        client.connect(false, false);
        return repl::run(&mut client);
    }
    signals::default_sigpipe();
    if client.cfg.eval.is_some() {
        if !client.connect(false, false) {
            return 1;
        }
        return eval_mode(&mut client);
    }
    client.connect(false, true);
    noninteractive(&mut client)
}

/// Runs the tool a mode option asked for; `None` for plain commands and interactive use.
fn run_tool_mode(client: &mut Client) -> Option<i32> {
    let mode = client.cfg.mode.clone();
    let needs_connection = !matches!(
        mode,
        Mode::Command | Mode::IntrinsicLatency { .. } | Mode::Topology
    );
    if needs_connection && !client.connect(false, false) {
        return Some(1);
    }
    Some(match mode {
        Mode::Command => return None,
        Mode::Latency { history } => modes::latency::run(client, history),
        Mode::IntrinsicLatency { seconds } => modes::latency::intrinsic(seconds),
        Mode::Replica => modes::replica::run_replica(client),
        Mode::Rdb {
            path,
            functions_only,
        } => modes::replica::run_rdb(client, &path, functions_only),
        Mode::Pipe => modes::pipe::run(client),
        Mode::BigKeys => modes::keys::big_keys(client, false, 0),
        Mode::MemKeys { samples } => modes::keys::big_keys(client, true, samples),
        Mode::HotKeys => modes::keys::hot_keys(client),
        Mode::Stat => modes::stat::run(client),
        Mode::Scan => modes::keys::scan(client),
        Mode::Topology => modes::topology::run(&client.cfg),
        Mode::LatencyDist | Mode::LruTest => {
            eprintln!("tandem-cli does not implement --latency-dist and --lru-test.");
            1
        }
    })
}

fn read_all_stdin() -> Vec<u8> {
    let mut data = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut data) {
        eprintln!("Reading from standard input: {e}");
        std::process::exit(1);
    }
    data
}

/// The command given as arguments (`noninteractive`), with `-x`/`-X` reading stdin.
fn noninteractive(client: &mut Client) -> i32 {
    let mut argv = client.cfg.command.clone();
    if client.cfg.quoted_input {
        let mut unquoted = Vec::with_capacity(argv.len());
        for arg in &argv {
            match split::split_args(arg) {
                Some(mut parts) if parts.len() == 1 => unquoted.push(parts.swap_remove(0)),
                _ => {
                    emit(b"Invalid quoted string\n");
                    return 1;
                }
            }
        }
        argv = unquoted;
    }
    if client.cfg.stdin_last_arg {
        argv.push(read_all_stdin());
    } else if let Some(tag) = client.cfg.stdin_tag.clone() {
        match argv.iter().position(|a| *a == tag) {
            Some(i) => argv[i] = read_all_stdin(),
            None => {
                eprintln!("Using -X option but stdin tag not match.");
                return 1;
            }
        }
    }
    let repeat = client.cfg.repeat;
    match client.issue_command_repeat(&argv, repeat) {
        Ok(()) => 0,
        Err(()) => 1,
    }
}

/// `--eval file keys... , args...`: EVAL with the file's script.
fn eval_mode(client: &mut Client) -> i32 {
    let Some(path) = client.cfg.eval.clone() else {
        return 1;
    };
    let script = match std::fs::read(&path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "Can't open file '{}': {}",
                path.display(),
                conn::strerror(&e)
            );
            return 1;
        }
    };
    let mut keys = Vec::new();
    let mut rest = Vec::new();
    let mut got_comma = false;
    for arg in &client.cfg.command {
        if !got_comma && arg.as_slice() == b"," {
            got_comma = true;
        } else if got_comma {
            rest.push(arg.clone());
        } else {
            keys.push(arg.clone());
        }
    }
    let mut argv = vec![
        b"EVAL".to_vec(),
        script,
        keys.len().to_string().into_bytes(),
    ];
    argv.extend(keys);
    argv.extend(rest);
    let repeat = client.cfg.repeat;
    match client.issue_command_repeat(&argv, repeat) {
        Ok(()) => 0,
        Err(()) => 1,
    }
}
