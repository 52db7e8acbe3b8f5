//! Persistence: the RDB format (`rdb`), fork-less snapshots (`snapshot`), and saving/loading
//! dump files (`save`).

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
    pub last_load_keys: AtomicU64,
    pub last_load_expired: AtomicU64,
    /// A BGSAVE SCHEDULE is pending.
    pub scheduled: AtomicBool,
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
            last_load_keys: AtomicU64::new(0),
            last_load_expired: AtomicU64::new(0),
            scheduled: AtomicBool::new(false),
        }
    }
}
