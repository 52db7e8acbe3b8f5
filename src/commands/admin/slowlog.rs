//! SLOWLOG GET | LEN | RESET | HELP (redis `slowlog.c`); entries are recorded by the dispatcher.

use super::super::errors::CmdError;
use super::super::server_cmds::container;
use super::super::spec::{Group, Spec, ADMIN, LOADING, STALE};
use super::super::Ctx;
use crate::protocol::Reply;

const A: u32 = ADMIN | LOADING | STALE;

pub const SLOWLOG: Spec = Spec::new("slowlog", -2, 0, Group::Server, container).subs(SUBS);

const SUBS: &[Spec] = &[
    Spec::new("slowlog|get", -2, A, Group::Server, get),
    Spec::new("slowlog|len", 2, A, Group::Server, len),
    Spec::new("slowlog|reset", 2, A, Group::Server, reset),
    Spec::new("slowlog|help", 2, LOADING | STALE, Group::Server, help),
];

const HELP: &[&str] = &[
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
];

fn help(_cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(super::help_reply("SLOWLOG", HELP))
}

/// SLOWLOG GET [count]: newest first; -1 = all.
fn get(cx: &mut Ctx) -> Result<Reply, CmdError> {
    if cx.argv.len() > 3 {
        return Err(super::subcommand_syntax_error(cx));
    }
    let mut count = 10usize;
    if let Some(a) = cx.argv.get(2) {
        let n = crate::util::parse_i64(a)
            .filter(|&n| n >= -1)
            .ok_or_else(|| CmdError::err("count should be greater than or equal to -1"))?;
        count = if n == -1 { usize::MAX } else { n as usize };
    }
    let entries = cx.server.slowlog.get(count);
    Ok(Reply::Array(
        entries
            .into_iter()
            .map(|e| {
                Reply::Array(vec![
                    Reply::Int(e.id as i64),
                    Reply::Int(e.time_secs),
                    Reply::Int(e.duration_us),
                    Reply::Array(e.argv.into_iter().map(Reply::Bulk).collect()),
                    Reply::bulk(e.peer.into_bytes()),
                    Reply::bulk(e.name.into_bytes()),
                ])
            })
            .collect(),
    ))
}

fn len(cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(Reply::Int(cx.server.slowlog.len() as i64))
}

fn reset(cx: &mut Ctx) -> Result<Reply, CmdError> {
    cx.server.slowlog.reset();
    Ok(Reply::OK)
}
