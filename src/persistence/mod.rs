//! Persistence: the RDB format (`rdb`), fork-less snapshots (`snapshot`), and saving/loading
//! dump files (`save`).

pub mod rdb;
pub mod snapshot;
