//! CLIENT TRACKING | CACHING | GETREDIR | TRACKINGINFO (redis `networking.c`
//! `clientCommand`); the table itself is `server/tracking.rs`.

use bytes::Bytes;

use super::super::args::is;
use super::super::errors::{self, CmdError};
use super::super::Ctx;
use crate::protocol::Reply;
use crate::server::tracking::{self, Settings};

/// CLIENT TRACKING ON|OFF [REDIRECT id] [BCAST] [PREFIX p ...] [OPTIN] [OPTOUT] [NOLOOP].
pub fn tracking(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let mut redirect: i64 = 0;
    let mut flags = 0u8;
    let mut prefixes: Vec<Bytes> = Vec::new();
    let mut j = 3;
    while j < argv.len() {
        let more = j + 1 < argv.len();
        let a = &argv[j];
        if is(a, "redirect") && more {
            j += 1;
            if redirect != 0 {
                return Err(CmdError::err(
                    "A client can only redirect to a single other client",
                ));
            }
            redirect = crate::util::parse_i64(&argv[j]).ok_or(errors::NOT_INTEGER)?;
            // The client must exist now, though it may leave later.
            let exists =
                u64::try_from(redirect).is_ok_and(|id| cx.server.clients.lock().contains_key(&id));
            if !exists {
                return Err(CmdError::err(
                    "The client ID you want redirect to does not exist",
                ));
            }
        } else if is(a, "bcast") {
            flags |= tracking::BCAST;
        } else if is(a, "optin") {
            flags |= tracking::OPTIN;
        } else if is(a, "optout") {
            flags |= tracking::OPTOUT;
        } else if is(a, "noloop") {
            flags |= tracking::NOLOOP;
        } else if is(a, "prefix") && more {
            j += 1;
            prefixes.push(Bytes::copy_from_slice(&argv[j]));
        } else {
            return Err(errors::SYNTAX);
        }
        j += 1;
    }
    let id = cx.client.id();
    let t = &cx.server.tracking;
    if is(&argv[2], "off") {
        t.disable(id);
        return Ok(Reply::OK);
    }
    if !is(&argv[2], "on") {
        return Err(errors::SYNTAX);
    }
    let bcast = flags & tracking::BCAST != 0;
    if !bcast && !prefixes.is_empty() {
        return Err(CmdError::err(
            "PREFIX option requires BCAST mode to be enabled",
        ));
    }
    let now = t.settings(id);
    if now.flags & tracking::ON != 0 && (now.flags & tracking::BCAST != 0) != bcast {
        return Err(CmdError::err("You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."));
    }
    if bcast && flags & (tracking::OPTIN | tracking::OPTOUT) != 0 {
        return Err(CmdError::err(
            "OPTIN and OPTOUT are not compatible with BCAST",
        ));
    }
    if flags & tracking::OPTIN != 0 && flags & tracking::OPTOUT != 0 {
        return Err(CmdError::err(
            "You can't specify both OPTIN mode and OPTOUT mode",
        ));
    }
    if (flags & tracking::OPTIN != 0 && now.flags & tracking::OPTOUT != 0)
        || (flags & tracking::OPTOUT != 0 && now.flags & tracking::OPTIN != 0)
    {
        return Err(CmdError::err("You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode."));
    }
    let mut early_error = None;
    if bcast {
        match prefix_collision(&now, &prefixes) {
            Collision::None => {}
            Collision::Refused(e) => return Err(e),
            // Redis's check reports an overlap between two new prefixes other than the first
            // and goes on: the error, then tracking on and +OK.
            Collision::Reported(e) => early_error = Some(e),
        }
    }
    t.enable(id, redirect as u64, flags, &prefixes);
    Ok(match early_error {
        None => Reply::OK,
        Some(e) => Reply::Multi(vec![
            crate::server::dispatch::error_reply(cx.server, e),
            Reply::OK,
        ]),
    })
}

enum Collision {
    None,
    Refused(CmdError),
    Reported(CmdError),
}

/// Two prefixes collide when one starts the other (redis `checkPrefixCollisionsOrReply`).
fn prefix_collision(now: &Settings, new: &[Bytes]) -> Collision {
    let overlap = |a: &[u8], b: &[u8]| {
        let n = a.len().min(b.len());
        a[..n] == b[..n]
    };
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    for (i, p) in new.iter().enumerate() {
        if let Some(old) = now.prefixes.iter().find(|old| overlap(old, p)) {
            return Collision::Refused(CmdError::err(format_args!(
                "Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                text(p),
                text(old)
            )));
        }
        if let Some(other) = new[i + 1..].iter().find(|o| overlap(p, o)) {
            let e = CmdError::err(format_args!(
                "Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                text(p),
                text(other)
            ));
            return if i == 0 {
                Collision::Refused(e)
            } else {
                Collision::Reported(e)
            };
        }
    }
    Collision::None
}

/// CLIENT CACHING YES|NO: the next command's keys are (OPTIN) or are not (OPTOUT) tracked.
pub fn caching(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let id = cx.client.id();
    let flags = cx.server.tracking.settings(id).flags;
    if flags & tracking::ON == 0 {
        return Err(CmdError::err("CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"));
    }
    let opt = &cx.argv[2];
    if is(opt, "yes") {
        if flags & tracking::OPTIN == 0 {
            return Err(CmdError::err(
                "CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ));
        }
    } else if is(opt, "no") {
        if flags & tracking::OPTOUT == 0 {
            return Err(CmdError::err(
                "CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ));
        }
    } else {
        return Err(errors::SYNTAX);
    }
    cx.server.tracking.set_caching(id);
    Ok(Reply::OK)
}

/// The redirection of a tracking client (0: none), -1 when tracking is off.
pub fn redirect_of(s: &Settings) -> i64 {
    if s.flags & tracking::ON != 0 {
        s.redirect as i64
    } else {
        -1
    }
}

pub fn getredir(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let s = cx.server.tracking.settings(cx.client.id());
    Ok(Reply::Int(redirect_of(&s)))
}

pub fn trackinginfo(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let s = cx.server.tracking.settings(cx.client.id());
    let f = s.flags;
    let on = f & tracking::ON != 0;
    let mut names = vec![if on { "on" } else { "off" }];
    if f & tracking::BCAST != 0 {
        names.push("bcast");
    }
    if f & tracking::OPTIN != 0 {
        names.push("optin");
        if f & tracking::CACHING != 0 {
            names.push("caching-yes");
        }
    }
    if f & tracking::OPTOUT != 0 {
        names.push("optout");
        if f & tracking::CACHING != 0 {
            names.push("caching-no");
        }
    }
    if f & tracking::NOLOOP != 0 {
        names.push("noloop");
    }
    if f & tracking::BROKEN_REDIR != 0 {
        names.push("broken_redirect");
    }
    Ok(Reply::Map(vec![
        (
            Reply::bulk_str("flags"),
            Reply::Set(names.into_iter().map(Reply::bulk_str).collect()),
        ),
        (Reply::bulk_str("redirect"), Reply::Int(redirect_of(&s))),
        (
            Reply::bulk_str("prefixes"),
            Reply::array_of_bulks(s.prefixes.into_iter()),
        ),
    ]))
}

/// CLIENT LIST flag letters for tracking (after `b`, before `d`): tracking on, broken
/// redirection, BCAST.
pub fn flag_letters(s: &Settings, out: &mut String) {
    if s.flags & tracking::ON != 0 {
        out.push('t');
    }
    if s.flags & tracking::BROKEN_REDIR != 0 {
        out.push('R');
    }
    if s.flags & tracking::BCAST != 0 {
        out.push('B');
    }
}
