//! Server-wide counters for INFO stats, commandstats and errorstats.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

#[derive(Debug, Default, Clone, Copy)]
pub struct CmdStat {
    pub calls: u64,
    pub usec: u64,
    pub rejected_calls: u64,
    pub failed_calls: u64,
}

#[derive(Debug, Default)]
pub struct Stats {
    pub total_connections_received: AtomicU64,
    pub total_commands_processed: crate::util::Striped,
    pub rejected_connections: AtomicU64,
    pub net_input_bytes: crate::util::Striped,
    pub net_output_bytes: crate::util::Striped,
    pub keyspace_hits: crate::util::Striped,
    pub keyspace_misses: crate::util::Striped,
    pub expired_keys: AtomicU64,
    pub evicted_keys: AtomicU64,
    pub total_error_replies: AtomicU64,
    pub pubsub_messages: AtomicU64,
    /// Changes since the last save (redis `server.dirty`).
    pub dirty: AtomicU64,
    pub peak_memory: AtomicU64,
    /// (unix ms, commands processed) at the last ops/sec sample.
    pub ops_sample: Mutex<(i64, u64, u64)>,
    pub commands: Mutex<HashMap<&'static str, CmdStat>>,
    pub errors: Mutex<HashMap<String, u64>>,
}

impl Stats {
    pub fn add(counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Counts an error reply by its code (the first word), as errorstats does.
    pub fn count_error(&self, text: &str) {
        self.total_error_replies.fetch_add(1, Ordering::Relaxed);
        let code = text.split(' ').next().unwrap_or("ERR");
        let mut e = self.errors.lock();
        if let Some(n) = e.get_mut(code) {
            *n += 1;
        } else if e.len() < 128 {
            e.insert(code.to_string(), 1);
        }
    }

    /// Commands per second over the last sampling interval (INFO instantaneous_ops_per_sec).
    pub fn ops_per_sec(&self) -> u64 {
        let now = crate::util::now_ms();
        let total = self.total_commands_processed.get();
        let mut s = self.ops_sample.lock();
        let (t0, c0, last) = *s;
        if now - t0 >= 1000 {
            let rate = if t0 == 0 {
                0
            } else {
                (total - c0) * 1000 / (now - t0) as u64
            };
            *s = (now, total, rate);
            rate
        } else {
            last
        }
    }

    pub fn reset(&self) {
        for c in [
            &self.total_commands_processed,
            &self.net_input_bytes,
            &self.net_output_bytes,
            &self.keyspace_hits,
            &self.keyspace_misses,
        ] {
            c.reset();
        }
        for c in [
            &self.total_connections_received,
            &self.rejected_connections,
            &self.expired_keys,
            &self.evicted_keys,
            &self.total_error_replies,
            &self.pubsub_messages,
        ] {
            c.store(0, Ordering::Relaxed);
        }
        self.commands.lock().clear();
        self.errors.lock().clear();
    }
}
