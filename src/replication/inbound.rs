//! What a replica sends its master once it has sent SYNC/PSYNC: `REPLCONF ACK <offset>` and
//! keep-alive newlines. Anything else runs as any client's command would (redis keeps
//! processing a replica's input), but a replication link carries no replies: a command that
//! produces one gets the replica disconnected ("Replica generated a reply to command ..."),
//! and one that touches the keyspace is refused first.

use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};

use super::master::ReplicaHandle;
use crate::commands::errors::CmdError;
use crate::commands::spec::{MAY_REPLICATE, READONLY, WRITE};
use crate::protocol::{decode_request, DecodeLimits, Reply};
use crate::server::client::Client;
use crate::server::{dispatch, Server};

/// Reads the complete commands in `buf`. False when the replica must be disconnected.
pub fn consume(
    server: &Server,
    client: &mut Client,
    handle: &ReplicaHandle,
    buf: &mut BytesMut,
) -> bool {
    let mut hint = 0;
    loop {
        let argv = match decode_request(buf, DecodeLimits::default(), &mut hint) {
            Ok(Some(argv)) => argv,
            Ok(None) => return true,
            Err(_) => {
                buf.clear();
                return false;
            }
        };
        handle
            .last_ack_ms
            .store(crate::util::now_ms(), Ordering::Release);
        if argv.is_empty() {
            continue;
        }
        if argv.len() >= 3 && is(&argv[0], "replconf") && is(&argv[1], "ack") {
            if let Some(off) = crate::util::parse_i64(&argv[2]) {
                handle
                    .ack_offset
                    .fetch_max(off.max(0) as u64, Ordering::AcqRel);
            }
            continue;
        }
        if !run_command(server, client, &argv) {
            return false;
        }
    }
}

fn is(arg: &Bytes, word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// Runs another command from the replica; false (after Redis's log lines) if it replied.
fn run_command(server: &Server, client: &mut Client, argv: &[Bytes]) -> bool {
    let (name, reply) = match dispatch::resolve(argv) {
        Ok((_, spec)) if spec.has(WRITE | READONLY | MAY_REPLICATE) => (
            spec.name,
            dispatch::error_reply(
                server,
                CmdError::fixed("ERR Replica can't interact with the keyspace"),
            ),
        ),
        Ok((_, spec)) => (spec.name, dispatch::process(server, client, argv)),
        Err(_) => ("<unknown>", dispatch::process(server, client, argv)),
    };
    if matches!(reply, Reply::None) {
        return true;
    }
    if let Reply::Error(e) = &reply {
        let text = e.strip_prefix("ERR ").unwrap_or(e);
        tracing::warn!(
            "== CRITICAL == This master is sending an error to its replica: '{text}' after processing the command '{name}'"
        );
    }
    tracing::warn!(
        "Replica generated a reply to command '{name}', disconnecting it: {}",
        crate::commands::admin::client::describe(&client.shared)
    );
    false
}
