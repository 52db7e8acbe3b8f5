//! Persistence: the RDB format (`rdb`), fork-less snapshots (`snapshot`), and saving/loading
//! dump files (`save`).

// pub mod load; (wired once rdb::decode lands)
pub mod rdb;
pub mod save;
pub mod snapshot;
