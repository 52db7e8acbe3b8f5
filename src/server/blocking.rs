//! Commands whose reply comes later (WAIT): the connection awaits them before reading on.

use std::time::{Duration, Instant};

use std::sync::atomic::Ordering;

use super::client::{Blocked, Client};
use super::Server;
use crate::protocol::Reply;

/// Waits until a blocked command can answer, and returns its reply.
pub async fn resolve(server: &Server, client: &mut Client, blocked: Blocked) -> Reply {
    match blocked {
        Blocked::Retry {
            argv,
            timeout_ms,
            timeout_reply,
        } => {
            let deadline =
                (timeout_ms > 0).then(|| Instant::now() + Duration::from_millis(timeout_ms));
            let mut changes = server.changes.subscribe();
            let mut shutdown = server.shutdown_tx.subscribe();
            server.blocked_clients.fetch_add(1, Ordering::AcqRel);
            let reply = loop {
                // Retry first: a change between the first attempt and `subscribe` is not lost.
                let reply = super::dispatch::process(server, client, &argv);
                if client.blocked.take().is_none() {
                    break reply;
                }
                let sleep = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d.into()).await,
                        None => std::future::pending::<()>().await,
                    }
                };
                tokio::select! {
                    r = changes.changed() => if r.is_err() { break timeout_reply },
                    _ = sleep => break timeout_reply,
                    _ = shutdown.changed() => break timeout_reply,
                }
            };
            server.blocked_clients.fetch_sub(1, Ordering::AcqRel);
            reply
        }
        Blocked::Wait {
            target,
            numreplicas,
            timeout_ms,
        } => {
            let deadline =
                (timeout_ms > 0).then(|| Instant::now() + Duration::from_millis(timeout_ms));
            loop {
                let acked = crate::replication::master::acked(server, target) as i64;
                if acked >= numreplicas
                    || deadline.is_some_and(|d| Instant::now() >= d)
                    || server.is_shutting_down()
                {
                    return Reply::Int(acked);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
}
