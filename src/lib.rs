//! Tandem: an in-memory data server that speaks the Redis protocol and behaves like Redis 7.0,
//! built for one master with several replicas.
//!
//! - `protocol`: RESP2/RESP3 decoding (multibulk and inline) and reply encoding. Bytes only.
//! - `keyspace`: the databases, sharded by key hash; values and their Redis encodings; lazy
//!   expiry; the `Db` view a command works through. Knows data, not sockets.
//! - `commands`: the command table and one file per family (strings, lists, ...). Handlers
//!   return replies and record effects; they never touch sockets.
//! - `server`: listener, connections, per-client state, dispatch (redis `processCommand` and
//!   `call`), pub/sub, WATCH, stats, logging, active expiry, startup and shutdown.
//! - `acl`: users, selectors and their rules, the permission check run before each command,
//!   the ACL log and the ACL file (redis `acl.c`).
//! - `config`: redis.conf parsing, the directive table, CONFIG GET/SET/REWRITE.
//! - `persistence`: the RDB format, fork-less point-in-time snapshots, SAVE/BGSAVE and loading.
//! - `replication`: the shared stream and backlog, replication ids, the master and replica sides,
//!   and the coordinated FAILOVER between them.
//! - `cli`: tandem-cli, a redis-cli-compatible client (its own RESP reply parser; it uses
//!   nothing of the server), with interactive mode, redis-cli's tools and `--topology`.
//! - `util`: Redis's number parsing and formatting, glob matching, clocks.

// The unit tests run on the server's allocator: memory figures read its counters.
#[cfg(test)]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

pub mod acl;
pub mod cli;
pub mod commands;
pub mod config;
pub mod keyspace;
pub mod persistence;
pub mod protocol;
pub mod replication;
pub mod scripting;
pub mod sentinel;
pub mod server;
pub mod util;
