//! DEBUG subcommands that exercise the client protocol, the config file and the crash report
//! (redis `debug.c`): PROTOCOL <type> answers one reply of each RESP type,
//! CONFIG-REWRITE-FORCE-ALL rewrites the config file with every directive, SEGFAULT and ASSERT
//! crash the server so that `server::crash` writes its bug report.

use super::errors::CmdError;
use super::Ctx;
use crate::protocol::encode::Resp;
use crate::protocol::Reply;
use std::sync::atomic::Ordering;

/// Handles the subcommands of this file; None when `sub` is not one of them.
pub fn run(cx: &mut Ctx, sub: &str) -> Option<Result<Reply, CmdError>> {
    match (sub, cx.argv.len()) {
        ("protocol", 3) => Some(protocol(cx)),
        ("config-rewrite-force-all", 2) => Some({
            super::admin::config::sync_user_lines(cx.server);
            cx.server
                .config
                .read()
                .rewrite_force_all()
                .map(|()| Reply::OK)
                .map_err(CmdError::new)
        }),
        ("replybuffer", 4) => Some(replybuffer(cx)),
        ("mallctl", n) if n >= 3 => Some(mallctl(cx, false)),
        ("mallctl-str", n) if n >= 3 => Some(mallctl(cx, true)),
        ("segfault", _) => crate::server::crash::segfault(),
        ("assert", _) => crate::server::crash::assert_failed("1 == 2", file!(), line!()),
        _ => None,
    }
}

/// DEBUG MALLCTL <name> [<value>] and MALLCTL-STR <name> [<value>|VOID]: jemalloc's controls
/// (`arenas.page`, `thread.tcache.flush`...), read as an integer or a string and optionally
/// written; jemalloc's errno is answered as its text (`ERR No such file or directory`).
fn mallctl(cx: &mut Ctx, text: bool) -> Result<Reply, CmdError> {
    use crate::server::memory::{self, Mallctl};
    let name = &cx.argv[2];
    let value = cx.argv.get(3);
    let done = if text {
        memory::mallctl_str(name, value.map(|v| &v[..]))
    } else {
        let new = match value {
            Some(v) => Some(super::args::parse_int(v)?),
            None => None,
        };
        memory::mallctl_int(name, new)
    };
    match done {
        Ok(Mallctl::Int(i)) => Ok(Reply::Int(i)),
        Ok(Mallctl::Text(t)) => Ok(Reply::bulk(t)),
        Ok(Mallctl::Written) => Ok(Reply::OK),
        Err(errno) => Err(CmdError::err(crate::persistence::aof::strerror(errno))),
    }
}

/// DEBUG REPLYBUFFER PEAK-RESET-TIME <never|reset|ms> | RESIZING <0|1>: the reply buffer
/// resizing knobs.
fn replybuffer(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let limits = &cx.server.hot.obuf;
    let what = &cx.argv[2];
    let value = &cx.argv[3];
    if what.eq_ignore_ascii_case(b"peak-reset-time") {
        let ms = if value.eq_ignore_ascii_case(b"never") {
            -1
        } else if value.eq_ignore_ascii_case(b"reset") {
            crate::server::output::PEAK_RESET_DEFAULT_MS
        } else {
            super::args::parse_int(value)?
        };
        limits.peak_reset_ms.store(ms, Ordering::Relaxed);
    } else if what.eq_ignore_ascii_case(b"resizing") {
        // Redis reads it with atoi: anything not a number is 0.
        let on = String::from_utf8_lossy(value)
            .trim()
            .parse::<i64>()
            .unwrap_or(0)
            != 0;
        limits.resizing.store(on, Ordering::Relaxed);
    } else {
        return Err(super::admin::subcommand_syntax_error(cx));
    }
    Ok(Reply::OK)
}

/// DEBUG PROTOCOL <type>: a fixed reply of the named RESP type.
fn protocol(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let name = String::from_utf8_lossy(&cx.argv[2]).to_ascii_lowercase();
    let resp3 = cx.client.resp == Resp::V3;
    Ok(match name.as_str() {
        "string" => Reply::bulk_str("Hello World"),
        "integer" => Reply::Int(12345),
        // Redis's fixed sample value, not an approximation of pi.
        #[allow(clippy::approx_constant)]
        "double" => Reply::Double(3.141),
        "bignum" => Reply::BigNum("1234567999999999999999999999999999999".into()),
        "null" => Reply::Nil,
        "array" => Reply::Array((0..3).map(Reply::Int).collect()),
        "set" => Reply::Set((0..3).map(Reply::Int).collect()),
        "map" => Reply::Map((0..3).map(|j| (Reply::Int(j), Reply::Bool(j == 1))).collect()),
        "attrib" => Reply::Multi(vec![
            Reply::Attribute(vec![(
                Reply::bulk_str("key-popularity"),
                Reply::Array(vec![Reply::bulk_str("key:123"), Reply::Int(90)]),
            )]),
            Reply::bulk_str("Some real reply following the attribute"),
        ]),
        "push" => {
            if !resp3 {
                return Err(CmdError::err("RESP2 is not supported by this command"));
            }
            Reply::Multi(vec![
                Reply::Push(vec![Reply::bulk_str("server-cpu-usage"), Reply::Int(42)]),
                Reply::bulk_str("Some real reply following the push reply"),
            ])
        }
        "true" => Reply::Bool(true),
        "false" => Reply::Bool(false),
        "verbatim" => Reply::Verbatim("This is a verbatim\nstring".into()),
        _ => {
            return Err(CmdError::err(
                "Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false",
            ))
        }
    })
}
