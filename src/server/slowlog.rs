//! SLOWLOG: the most recent commands slower than `slowlog-log-slower-than` microseconds.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;

#[derive(Debug, Clone)]
pub struct SlowEntry {
    pub id: u64,
    pub time_secs: i64,
    pub duration_us: i64,
    pub argv: Vec<Bytes>,
    pub peer: String,
    pub name: String,
}

#[derive(Default)]
pub struct Slowlog {
    entries: Mutex<VecDeque<SlowEntry>>,
    next_id: AtomicU64,
}

/// Redis keeps at most 32 arguments and 128 bytes of each.
const MAX_ARGS: usize = 32;
const MAX_ARG_LEN: usize = 128;

impl Slowlog {
    pub fn record(&self, argv: &[Bytes], duration_us: i64, peer: &str, name: &str, max_len: usize) {
        let mut args: Vec<Bytes> = Vec::with_capacity(argv.len().min(MAX_ARGS));
        for (i, a) in argv.iter().enumerate() {
            if i == MAX_ARGS - 1 && argv.len() > MAX_ARGS {
                args.push(Bytes::from(format!(
                    "... ({} more arguments)",
                    argv.len() - MAX_ARGS + 1
                )));
                break;
            }
            if a.len() > MAX_ARG_LEN {
                let mut s = a[..MAX_ARG_LEN].to_vec();
                s.extend_from_slice(
                    format!("... ({} more bytes)", a.len() - MAX_ARG_LEN).as_bytes(),
                );
                args.push(Bytes::from(s));
            } else {
                // A copy: a slice would keep the whole read buffer of the request alive for
                // as long as the entry stays in the log.
                args.push(Bytes::copy_from_slice(a));
            }
        }
        let e = SlowEntry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            time_secs: crate::util::now_ms() / 1000,
            duration_us,
            argv: args,
            peer: peer.to_string(),
            name: name.to_string(),
        };
        let mut q = self.entries.lock();
        q.push_front(e);
        while q.len() > max_len {
            q.pop_back();
        }
    }

    pub fn get(&self, count: usize) -> Vec<SlowEntry> {
        self.entries.lock().iter().take(count).cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn reset(&self) {
        self.entries.lock().clear();
    }
}
