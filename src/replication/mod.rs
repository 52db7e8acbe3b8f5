//! Replication, as redis `replication.c`: the shared stream and backlog (`stream`), the
//! replication ids (PSYNC2), the master side (`master`: SYNC/PSYNC, feeding replicas) and the
//! replica side (`replica`: the link to our master, handshake, sync, applying the stream).

pub mod stream;

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// The replication ids of the history this node serves (redis `replid`, `replid2`,
/// `second_replid_offset`).
#[derive(Debug, Clone)]
pub struct ReplIds {
    pub replid: String,
    pub replid2: String,
    /// First offset not valid for `replid2`; -1 when there is none.
    pub second_offset: i64,
}

pub const NULL_REPLID: &str = "0000000000000000000000000000000000000000";

impl ReplIds {
    pub fn fresh() -> ReplIds {
        ReplIds { replid: crate::server::random_hex(40), replid2: NULL_REPLID.to_string(), second_offset: -1 }
    }

    /// A new history starts (promotion): the current id becomes the secondary one, valid up to
    /// `offset + 1` (redis `shiftReplicationId`).
    pub fn shift(&mut self, offset: u64) {
        self.replid2 = std::mem::replace(&mut self.replid, crate::server::random_hex(40));
        self.second_offset = offset as i64 + 1;
    }

    pub fn clear_secondary(&mut self) {
        self.replid2 = NULL_REPLID.to_string();
        self.second_offset = -1;
    }
}

/// Replication state shared by the whole server.
pub struct Replication {
    pub stream: stream::Stream,
    pub ids: Mutex<ReplIds>,
    pub sync_full: AtomicU64,
    pub sync_partial_ok: AtomicU64,
    pub sync_partial_err: AtomicU64,
}

impl Default for Replication {
    fn default() -> Self {
        Replication {
            stream: stream::Stream::default(),
            ids: Mutex::new(ReplIds::fresh()),
            sync_full: AtomicU64::new(0),
            sync_partial_ok: AtomicU64::new(0),
            sync_partial_err: AtomicU64::new(0),
        }
    }
}

impl Replication {
    pub fn master_repl_offset(&self) -> u64 {
        self.stream.end()
    }

    pub fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
