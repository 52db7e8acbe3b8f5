//! Expiry commands (redis `expire.c`): EXPIRE PEXPIRE EXPIREAT PEXPIREAT with NX/XX/GT/LT,
//! TTL PTTL EXPIRETIME PEXPIRETIME, PERSIST.
//!
//! Propagation is deterministic: EXPIRE, PEXPIRE and EXPIREAT go out as `PEXPIREAT key <abs-ms>`
//! followed by the options as given, PEXPIREAT verbatim, and a time already in the past deletes
//! the key and goes out as `DEL key` (on a master only: a replica keeps the key with its past
//! expiry until its master's `DEL` arrives).

use bytes::Bytes;

use super::super::args::parse_int;
use super::super::errors::CmdError;
use super::super::Ctx;
use super::del_argv;
use crate::protocol::Reply;

/// NX/XX/GT/LT as parsed from argv[3..].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Flags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

/// Parses the options after the time, with redis's errors and precedence: an unknown option
/// is reported first, then incompatible combinations.
fn parse_flags(opts: &[Bytes]) -> Result<Flags, CmdError> {
    let mut f = Flags::default();
    for opt in opts {
        if opt.eq_ignore_ascii_case(b"nx") {
            f.nx = true;
        } else if opt.eq_ignore_ascii_case(b"xx") {
            f.xx = true;
        } else if opt.eq_ignore_ascii_case(b"gt") {
            f.gt = true;
        } else if opt.eq_ignore_ascii_case(b"lt") {
            f.lt = true;
        } else {
            // redis formats the option with %s: it ends at the first NUL byte.
            let end = opt.iter().position(|&c| c == 0).unwrap_or(opt.len());
            return Err(CmdError::err(format_args!(
                "Unsupported option {}",
                String::from_utf8_lossy(&opt[..end])
            )));
        }
    }
    if f.nx && (f.xx || f.gt || f.lt) {
        return Err(CmdError::err(
            "NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if f.gt && f.lt {
        return Err(CmdError::err(
            "GT and LT options at the same time are not compatible",
        ));
    }
    Ok(f)
}

/// Whether the options allow replacing `current` (None = no expiry) with `when`.
fn allowed(f: Flags, current: Option<i64>, when: i64) -> bool {
    if f.nx && current.is_some() {
        return false;
    }
    if f.xx && current.is_none() {
        return false;
    }
    if f.gt && current.is_none_or(|c| when <= c) {
        return false;
    }
    if f.lt && current.is_some_and(|c| when >= c) {
        return false;
    }
    true
}

/// The shared body of the four expire commands. `relative` adds the command time; `seconds`
/// scales the argument. Replies 1 if the expiry was set (or the key deleted), else 0.
fn expire_generic(cx: &mut Ctx, relative: bool, seconds: bool) -> Result<Reply, CmdError> {
    let flags = parse_flags(&cx.argv[3..])?;
    let mut when = parse_int(&cx.argv[2])?;
    let name = String::from_utf8_lossy(&cx.argv[0]).to_ascii_lowercase();
    let invalid = || CmdError::err(format_args!("invalid expire time in '{name}' command"));
    if seconds {
        when = when.checked_mul(1000).ok_or_else(invalid)?;
    }
    let base = if relative { cx.db.now_ms } else { 0 };
    if when > i64::MAX - base {
        return Err(invalid());
    }
    when += base;

    let key = cx.argv[1].clone();
    if cx.db.get_mut(&key).is_none() {
        return Ok(Reply::Int(0));
    }
    let current = cx.db.expire_at(&key);
    if !allowed(flags, current, when) {
        return Ok(Reply::Int(0));
    }
    let already_expired =
        when <= cx.db.now_ms && !cx.server.is_replica() && !cx.client.is_master_link;
    if already_expired {
        cx.db.remove(&key);
        cx.db.touch(&key);
        cx.propagate_as(del_argv(&key));
        return Ok(Reply::Int(1));
    }
    cx.db.set_expire(&key, when);
    cx.db.touch(&key);
    if !relative && !seconds {
        cx.propagate();
    } else {
        let mut argv = cx.argv.to_vec();
        argv[0] = Bytes::from_static(b"PEXPIREAT");
        argv[2] = Bytes::from(when.to_string());
        cx.propagate_as(argv);
    }
    Ok(Reply::Int(1))
}

pub(super) fn expire(cx: &mut Ctx) -> Result<Reply, CmdError> {
    expire_generic(cx, true, true)
}

pub(super) fn pexpire(cx: &mut Ctx) -> Result<Reply, CmdError> {
    expire_generic(cx, true, false)
}

pub(super) fn expireat(cx: &mut Ctx) -> Result<Reply, CmdError> {
    expire_generic(cx, false, true)
}

pub(super) fn pexpireat(cx: &mut Ctx) -> Result<Reply, CmdError> {
    expire_generic(cx, false, false)
}

/// TTL family: -2 for a missing key, -1 without expiry, else the remaining time (`abs` =
/// false) or the absolute time, in ms or rounded seconds.
fn ttl_generic(cx: &mut Ctx, ms: bool, abs: bool) -> Result<Reply, CmdError> {
    let key = &cx.argv[1];
    if cx.db.get_no_touch(key).is_none() {
        return Ok(Reply::Int(-2));
    }
    let Some(at) = cx.db.expire_at(key) else {
        return Ok(Reply::Int(-1));
    };
    let t = if abs {
        at
    } else {
        at.saturating_sub(cx.db.now_ms)
    }
    .max(0);
    Ok(Reply::Int(if ms {
        t
    } else {
        t.saturating_add(500) / 1000
    }))
}

pub(super) fn ttl(cx: &mut Ctx) -> Result<Reply, CmdError> {
    ttl_generic(cx, false, false)
}

pub(super) fn pttl(cx: &mut Ctx) -> Result<Reply, CmdError> {
    ttl_generic(cx, true, false)
}

pub(super) fn expiretime(cx: &mut Ctx) -> Result<Reply, CmdError> {
    ttl_generic(cx, false, true)
}

pub(super) fn pexpiretime(cx: &mut Ctx) -> Result<Reply, CmdError> {
    ttl_generic(cx, true, true)
}

/// PERSIST: 1 if an expiry was removed.
pub(super) fn persist(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let key = &cx.argv[1];
    if cx.db.get_mut(key).is_none() || !cx.db.persist(key) {
        return Ok(Reply::Int(0));
    }
    cx.db.touch(key);
    cx.propagate();
    Ok(Reply::Int(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn flag_errors_match_redis() {
        let nx_xx = "ERR NX and XX, GT or LT options at the same time are not compatible";
        let gt_lt = "ERR GT and LT options at the same time are not compatible";
        let cases: &[(&[&str], &str)] = &[
            (&["nx", "xx"], nx_xx),
            (&["NX", "gt"], nx_xx),
            (&["lt", "nx"], nx_xx),
            (&["gt", "lt"], gt_lt),
            (&["xx", "foo", "nx"], "ERR Unsupported option foo"),
        ];
        for (opts, want) in cases {
            let argv: Vec<Bytes> = opts.iter().map(|s| b(s)).collect();
            assert_eq!(parse_flags(&argv).unwrap_err().to_string(), *want);
        }
        assert!(parse_flags(&[b("xx"), b("GT")]).is_ok());
    }

    #[test]
    fn option_rules() {
        let f = |s: &str| parse_flags(&[b(s)]).unwrap();
        assert!(allowed(f("nx"), None, 5));
        assert!(!allowed(f("nx"), Some(1), 5));
        assert!(!allowed(f("xx"), None, 5));
        assert!(!allowed(f("gt"), None, 5));
        assert!(allowed(f("gt"), Some(4), 5));
        assert!(!allowed(f("gt"), Some(5), 5));
        assert!(allowed(f("lt"), None, 5));
        assert!(!allowed(f("lt"), Some(5), 5));
        assert!(allowed(f("lt"), Some(6), 5));
    }
}
