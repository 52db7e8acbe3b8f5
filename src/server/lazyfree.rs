//! Freeing large values off the client path (redis `lazyfree.c`): UNLINK, FLUSHDB/FLUSHALL
//! ASYNC and the `lazyfree-lazy-*` directives hand what they removed to one background thread
//! when freeing it inline would take long; small values are freed at once, which is cheaper
//! than the hand-over. INFO shows `lazyfree_pending_objects` (handed over, not freed yet) and
//! `lazyfreed_objects` (freed by the thread since the last CONFIG RESETSTAT).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::keyspace::Value;

/// A value whose free effort is above this is freed in the background (redis
/// `LAZYFREE_THRESHOLD`).
pub const THRESHOLD: usize = 64;

#[derive(Default)]
struct Counts {
    pending: AtomicU64,
    freed: AtomicU64,
}

/// Something to drop, and how many objects it counts for.
type Job = (Box<dyn Send>, u64);

#[derive(Default)]
pub struct LazyFree {
    counts: Arc<Counts>,
    /// The thread's queue, started with the first job; closed when the server is dropped.
    tx: Mutex<Option<mpsc::Sender<Job>>>,
}

impl LazyFree {
    /// Frees a value removed from the keyspace: in the background if it is made of many
    /// allocations (redis `freeObjAsync`), here otherwise.
    pub fn free_value(&self, v: Value) {
        if v.free_effort() > THRESHOLD {
            self.submit(Box::new(v), 1);
        }
    }

    /// Frees emptied databases holding `keys` keys in the background (redis `emptyDbAsync`).
    pub fn free_tables<T: Send + 'static>(&self, tables: T, keys: u64) {
        if keys > 0 {
            self.submit(Box::new(tables), keys);
        }
    }

    fn submit(&self, job: Box<dyn Send>, objects: u64) {
        self.counts.pending.fetch_add(objects, Ordering::AcqRel);
        let mut tx = self.tx.lock();
        if tx.is_none() {
            *tx = self.start();
        }
        let job = match tx.as_ref() {
            Some(t) => match t.send((job, objects)) {
                Ok(()) => return,
                Err(mpsc::SendError(job)) => job,
            },
            None => (job, objects),
        };
        // No thread to take it: freed here after all.
        *tx = None;
        drop(tx);
        finish(&self.counts, job);
    }

    fn start(&self) -> Option<mpsc::Sender<Job>> {
        let (tx, rx) = mpsc::channel::<Job>();
        let counts = self.counts.clone();
        crate::util::spawn_background("lazyfree", move || {
            while let Ok(job) = rx.recv() {
                finish(&counts, job);
            }
        })
        .ok()?;
        Some(tx)
    }

    /// Objects handed to the thread and not freed yet.
    pub fn pending(&self) -> u64 {
        self.counts.pending.load(Ordering::Acquire)
    }

    /// Objects the thread freed since the last reset.
    pub fn freed(&self) -> u64 {
        self.counts.freed.load(Ordering::Acquire)
    }

    /// CONFIG RESETSTAT.
    pub fn reset_stats(&self) {
        self.counts.freed.store(0, Ordering::Release);
    }
}

/// Drops a job and counts it freed (before it stops being pending, so whoever sees nothing
/// pending sees it counted).
fn finish(counts: &Counts, (job, objects): Job) {
    drop(job);
    counts.freed.fetch_add(objects, Ordering::AcqRel);
    counts.pending.fetch_sub(objects, Ordering::AcqRel);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::set::Set;
    use crate::keyspace::EncodingLimits;

    fn big_set() -> Value {
        let mut s = Set::default();
        for i in 0..(THRESHOLD as i64 * 2) {
            s.insert(format!("m{i}").as_bytes(), &EncodingLimits::default());
        }
        Value::Set(s)
    }

    fn settle(lf: &LazyFree) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while lf.pending() > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    #[test]
    fn frees_large_values_in_the_background_only() {
        let lf = LazyFree::default();
        lf.free_value(Value::Set(Set::default()));
        settle(&lf);
        assert_eq!(lf.freed(), 0);
        lf.free_value(big_set());
        lf.free_tables(vec![1u8; 10], 3);
        settle(&lf);
        assert_eq!((lf.pending(), lf.freed()), (0, 4));
        lf.reset_stats();
        assert_eq!(lf.freed(), 0);
    }
}
