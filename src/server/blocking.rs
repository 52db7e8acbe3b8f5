//! Commands whose reply comes later (WAIT): the connection awaits them before reading on.

use std::time::{Duration, Instant};

use super::client::Blocked;
use super::Server;
use crate::protocol::Reply;

/// Waits until a blocked command can answer, and returns its reply.
pub async fn resolve(server: &Server, blocked: Blocked) -> Reply {
    match blocked {
        Blocked::Wait { target, numreplicas, timeout_ms } => {
            let deadline = (timeout_ms > 0).then(|| Instant::now() + Duration::from_millis(timeout_ms));
            loop {
                let acked = crate::replication::master::acked(server, target) as i64;
                if acked >= numreplicas || deadline.is_some_and(|d| Instant::now() >= d) || server.is_shutting_down() {
                    return Reply::Int(acked);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
}
