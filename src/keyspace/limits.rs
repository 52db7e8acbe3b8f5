//! Encoding thresholds (`hash-max-listpack-entries` ...), read when a value grows.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

/// A snapshot of the thresholds, taken per command.
#[derive(Debug, Clone, Copy)]
pub struct EncodingLimits {
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub set_max_intset_entries: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
    pub list_max_listpack_size: i64,
}

impl Default for EncodingLimits {
    fn default() -> Self {
        Self {
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            list_max_listpack_size: -2,
        }
    }
}

/// Live thresholds, updated by CONFIG SET without locking the keyspace.
#[derive(Debug)]
pub struct SharedLimits {
    hash_entries: AtomicUsize,
    hash_value: AtomicUsize,
    set_intset: AtomicUsize,
    zset_entries: AtomicUsize,
    zset_value: AtomicUsize,
    list_size: AtomicI64,
}

impl Default for SharedLimits {
    fn default() -> Self {
        let s = SharedLimits {
            hash_entries: AtomicUsize::new(0),
            hash_value: AtomicUsize::new(0),
            set_intset: AtomicUsize::new(0),
            zset_entries: AtomicUsize::new(0),
            zset_value: AtomicUsize::new(0),
            list_size: AtomicI64::new(0),
        };
        s.store(&EncodingLimits::default());
        s
    }
}

impl SharedLimits {
    pub fn load(&self) -> EncodingLimits {
        EncodingLimits {
            hash_max_listpack_entries: self.hash_entries.load(Ordering::Relaxed),
            hash_max_listpack_value: self.hash_value.load(Ordering::Relaxed),
            set_max_intset_entries: self.set_intset.load(Ordering::Relaxed),
            zset_max_listpack_entries: self.zset_entries.load(Ordering::Relaxed),
            zset_max_listpack_value: self.zset_value.load(Ordering::Relaxed),
            list_max_listpack_size: self.list_size.load(Ordering::Relaxed),
        }
    }

    pub fn store(&self, l: &EncodingLimits) {
        self.hash_entries
            .store(l.hash_max_listpack_entries, Ordering::Relaxed);
        self.hash_value
            .store(l.hash_max_listpack_value, Ordering::Relaxed);
        self.set_intset
            .store(l.set_max_intset_entries, Ordering::Relaxed);
        self.zset_entries
            .store(l.zset_max_listpack_entries, Ordering::Relaxed);
        self.zset_value
            .store(l.zset_max_listpack_value, Ordering::Relaxed);
        self.list_size
            .store(l.list_max_listpack_size, Ordering::Relaxed);
    }
}
