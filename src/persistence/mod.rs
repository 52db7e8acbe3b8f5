//! Persistence: the RDB format (`rdb`), fork-less snapshots (`snapshot`), the processes that
//! write them to disk (`child`), and saving/loading dump files (`save`).

pub mod aof;
pub mod child;
pub mod load;
pub mod rdb;
pub mod save;
pub mod snapshot;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64};

/// Persistence figures for INFO persistence, LASTSAVE and the save-point cron.
#[derive(Debug)]
pub struct PersistState {
    pub rdb_saves: AtomicU64,
    /// Unix seconds of the last successful save (or of startup).
    pub last_save_time: AtomicI64,
    pub last_bgsave_ok: AtomicBool,
    pub bgsave_in_progress: AtomicBool,
    /// Unix ms when the running BGSAVE started.
    pub bgsave_started_ms: AtomicI64,
    pub last_bgsave_time_sec: AtomicI64,
    /// `stats.dirty` when the last successful save started.
    pub dirty_at_save: AtomicU64,
    /// Bytes captured by writers during the last snapshot (Tandem's copy-on-write cost).
    pub last_cow_size: AtomicU64,
    pub loading: AtomicBool,
    /// A replica loads its master's snapshot of the same history beside the data it keeps
    /// serving (redis `async_loading`, `repl-diskless-load swapdb`).
    pub async_loading: AtomicBool,
    pub last_load_keys: AtomicU64,
    pub last_load_expired: AtomicU64,
    /// A BGSAVE SCHEDULE is pending.
    pub scheduled: AtomicBool,
    /// Progress of the load in progress (INFO's loading_* fields).
    pub load_progress: LoadProgress,
    /// The writer process running now (`child`).
    pub child: child::Running,
}

/// Where a file load stands, while `loading` is set.
#[derive(Debug, Default)]
pub struct LoadProgress {
    pub start_s: AtomicI64,
    pub total_bytes: AtomicU64,
    pub loaded_bytes: AtomicU64,
    /// The `used-mem` aux field of the file being loaded.
    pub rdb_used_mem: AtomicU64,
}

impl LoadProgress {
    /// Starts tracking a load of `total` bytes.
    pub fn start(&self, total: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.start_s.store(crate::util::now_ms() / 1000, Relaxed);
        self.total_bytes.store(total, Relaxed);
        self.loaded_bytes.store(0, Relaxed);
        self.rdb_used_mem.store(0, Relaxed);
    }
}

/// A reader that counts what it reads into `LoadProgress::loaded_bytes` (put it under the
/// buffering, so it counts per refill).
pub struct Counting<'a, R> {
    pub inner: R,
    pub progress: &'a LoadProgress,
}

impl<R: std::io::Read> std::io::Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress
            .loaded_bytes
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

impl PersistState {
    /// A snapshot (BGSAVE, or one for a replica's full sync, which Redis also counts as the
    /// BGSAVE in progress) starts at `started_ms`.
    pub fn mark_bgsave_started(&self, started_ms: i64) {
        use std::sync::atomic::Ordering;
        self.bgsave_in_progress.store(true, Ordering::Release);
        self.bgsave_started_ms.store(started_ms, Ordering::Release);
    }

    /// A dataset is being loaded, in place or beside the live one (redis `server.loading`,
    /// which an async load also sets).
    pub fn is_loading(&self) -> bool {
        use std::sync::atomic::Ordering;
        self.loading.load(Ordering::Acquire) || self.async_loading.load(Ordering::Acquire)
    }
}

impl Default for PersistState {
    fn default() -> Self {
        PersistState {
            rdb_saves: AtomicU64::new(0),
            last_save_time: AtomicI64::new(crate::util::now_ms() / 1000),
            last_bgsave_ok: AtomicBool::new(true),
            bgsave_in_progress: AtomicBool::new(false),
            bgsave_started_ms: AtomicI64::new(0),
            last_bgsave_time_sec: AtomicI64::new(-1),
            dirty_at_save: AtomicU64::new(0),
            last_cow_size: AtomicU64::new(0),
            loading: AtomicBool::new(false),
            async_loading: AtomicBool::new(false),
            last_load_keys: AtomicU64::new(0),
            last_load_expired: AtomicU64::new(0),
            scheduled: AtomicBool::new(false),
            load_progress: LoadProgress::default(),
            child: Default::default(),
        }
    }
}
