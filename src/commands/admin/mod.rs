//! Administrative commands: CONFIG, CLIENT, COMMAND, SLOWLOG, LATENCY and MEMORY (redis
//! `config.c`, `networking.c`, `server.c`, `slowlog.c`, `latency.c`, `object.c`).
//!
//! Also owns the server-wide state these commands manage that the `Server` struct does not
//! hold: the client pause (`pause`) and the latency monitor (`latency`), kept per server in
//! [`state`].

pub mod client;
pub mod command;
pub mod config;
pub mod latency;
pub mod memory;
pub mod pause;
pub mod slowlog;
pub mod table;

use std::sync::LazyLock;

use parking_lot::Mutex;

use super::spec::Spec;
use crate::protocol::Reply;
use crate::server::Server;

pub const COMMANDS: &[Spec] = &[
    config::CONFIG,
    client::CLIENT,
    command::COMMAND,
    slowlog::SLOWLOG,
    latency::LATENCY,
    memory::MEMORY,
];

/// State of one server kept outside `Server`: the client pause and the latency monitor.
#[derive(Default)]
pub struct AdminState {
    pub pause: pause::PauseState,
    pub latency: latency::LatencyMonitor,
}

/// Every server's state in this process, by run id (tests run several servers in one process).
static STATES: LazyLock<Mutex<Vec<(String, &'static AdminState)>>> =
    LazyLock::new(|| Mutex::new(Vec::new()));

/// The admin state of `server`, created on first use. Not for the per-command hot path: callers
/// check a cheap flag first (see `pause::must_wait`, `latency::record`).
pub fn state(server: &Server) -> &'static AdminState {
    let mut all = STATES.lock();
    if let Some((_, s)) = all.iter().find(|(id, _)| *id == server.run_id) {
        return s;
    }
    // One small allocation per server started in this process, kept for its lifetime.
    let s: &'static AdminState = Box::leak(Box::default());
    all.push((server.run_id.clone(), s));
    s
}

/// A HELP reply as redis `addReplyHelp`: the usage line, the lines given, then HELP itself.
pub fn help_reply(name: &str, lines: &[&'static str]) -> Reply {
    let mut v = Vec::with_capacity(lines.len() + 3);
    v.push(Reply::Status(
        format!("{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:").into(),
    ));
    v.extend(lines.iter().map(|l| Reply::status(l)));
    v.push(Reply::status("HELP"));
    v.push(Reply::status("    Prints this help."));
    Reply::Array(v)
}

/// redis `addReplySubcommandSyntaxError`.
pub fn subcommand_syntax_error(cx: &super::Ctx) -> super::CmdError {
    let sub = cx
        .argv
        .get(1)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    let name = String::from_utf8_lossy(&cx.argv[0]).to_ascii_uppercase();
    super::CmdError::err(format_args!(
        "unknown subcommand or wrong number of arguments for '{sub}'. Try {name} HELP."
    ))
}
