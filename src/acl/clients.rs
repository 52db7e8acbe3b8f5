//! What ACL changes do to connected clients, and the refusals clients see: NOPERM errors,
//! ACL LOG entries, the disconnection of clients whose user was deleted or lost channels.

use std::sync::Arc;

use bytes::Bytes;

use super::log::{Context, Reason};
use super::{Denied, User, UserHandle};
use crate::commands::errors::CmdError;
use crate::commands::spec::Spec;
use crate::server::client::{Client, ClientShared, Push};
use crate::server::Server;

/// `acllog-max-len`.
fn log_max_len(server: &Server) -> usize {
    server
        .config
        .read()
        .get("acllog-max-len")
        .and_then(|v| v.parse().ok())
        .unwrap_or(128)
}

/// Adds an ACL LOG entry about `client` while it runs `running` (redis `addACLLogEntry`: the
/// entry's client-info is the running client's CLIENT INFO line: EXEC's, the script caller's
/// EVAL's).
pub fn log(
    server: &Server,
    client: &Client,
    running: &[Bytes],
    reason: Reason,
    context: Context,
    object: Bytes,
    username: Option<Bytes>,
) {
    let username = username
        .or_else(|| client.user.as_ref().map(|u| u.name.clone()))
        .unwrap_or_default();
    let info = crate::commands::admin::client::describe_running(server, client, running);
    server
        .acl
        .log
        .add(reason, context, object, username, info, log_max_len(server));
}

/// Logs the refusal of `argv`, which `client` sent as or inside `running` (the same at top
/// level; EXEC or the EVAL whose script called it otherwise).
pub fn log_denial(
    server: &Server,
    client: &Client,
    spec: &Spec,
    (argv, running): (&[Bytes], &[Bytes]),
    (denied, pos): (Denied, usize),
    context: Context,
) {
    let (reason, object) = match denied {
        Denied::Cmd => (Reason::Command, Bytes::from_static(spec.name.as_bytes())),
        Denied::Key => (Reason::Key, argv[pos].clone()),
        Denied::Channel => (Reason::Channel, argv[pos].clone()),
    };
    log(server, client, running, reason, context, object, None);
}

/// The error a refused command gets at top level (redis `processCommand`).
pub fn noperm(spec: &Spec, denied: Denied) -> CmdError {
    match denied {
        Denied::Cmd => CmdError::new(format!(
            "NOPERM this user has no permissions to run the '{}' command",
            spec.name
        )),
        Denied::Key => CmdError::fixed(
            "NOPERM this user has no permissions to access one of the keys used as arguments",
        ),
        Denied::Channel => CmdError::fixed(
            "NOPERM this user has no permissions to access one of the channels used as arguments",
        ),
    }
}

/// The error of a queued command refused by EXEC (redis `execCommand`).
pub fn noperm_in_exec(denied: Denied) -> CmdError {
    let reason = match denied {
        Denied::Cmd => "no permission to execute the command or subcommand",
        Denied::Key => "no permission to touch the specified keys",
        Denied::Channel => "no permission to access one of the channels used as arguments",
    };
    CmdError::new(format!("NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {reason}"))
}

/// The reason a script's call was refused (redis `getAclErrorMessage`).
pub fn script_message(denied: Denied) -> &'static str {
    match denied {
        Denied::Cmd => "can't run this command or subcommand",
        Denied::Key => "can't access at least one of the keys mentioned in the command arguments",
        Denied::Channel => "can't publish to the channel mentioned in the command",
    }
}

/// Checks `client`'s permission to run a command; the fast path is one atomic load.
#[inline]
pub fn check_client(client: &Client, spec: &Spec, argv: &[Bytes]) -> Result<(), (Denied, usize)> {
    match &client.user {
        Some(u) if !u.unrestricted() => super::check(&u.get(), spec, argv),
        _ => Ok(()),
    }
}

/// Disconnects a client as Redis's `freeClient` does: gone from CLIENT LIST at once, its
/// connection closes when its task sees the message.
fn disconnect(server: &Server, c: &ClientShared) {
    server.clients.lock().remove(&c.id);
    c.send(Push::Kill);
}

/// The clients logged in as `user` are disconnected; the current one after its reply
/// (redis `ACLFreeUserAndKillClients`).
pub fn kill_clients_of(server: &Server, user: &Arc<UserHandle>, current: &mut Client) {
    let clients: Vec<Arc<ClientShared>> = server.clients.lock().values().cloned().collect();
    for c in clients {
        if !c.is_user(user) {
            continue;
        }
        if c.id == current.id() {
            current.set_user(Some(server.acl.default.clone()));
            current.authenticated = false;
            current.close_after_reply = true;
        } else {
            disconnect(server, &c);
        }
    }
}

/// Subscribers of `handle` whose channels the new rules no longer allow are disconnected
/// (redis `ACLKillPubsubClientsIfNeeded`).
pub fn kill_pubsub_if_needed(server: &Server, handle: &Arc<UserHandle>, new: &User) {
    let Some(upcoming) = new.channel_union() else {
        return;
    };
    let original = handle.get();
    let kept = match original.channel_union() {
        Some(old) => old.iter().all(|c| upcoming.contains(c)),
        None => false,
    };
    if kept {
        return;
    }
    let clients: Vec<Arc<ClientShared>> = server.clients.lock().values().cloned().collect();
    for c in clients {
        if !c.in_pubsub() || !c.is_user(handle) {
            continue;
        }
        let (channels, patterns) = server.pubsub.subscriptions_of(c.id);
        let kill = patterns
            .iter()
            .any(|p| !super::selector::channel_in(&upcoming, p, true))
            || channels
                .iter()
                .any(|ch| !super::selector::channel_in(&upcoming, ch, false));
        if kill {
            disconnect(server, &c);
        }
    }
}
