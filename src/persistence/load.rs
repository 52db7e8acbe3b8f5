//! Loading an RDB into the keyspace: decoded into fresh tables first, then installed in one
//! step under every shard lock, so a failed load leaves the previous dataset untouched and no
//! client ever sees a partial one.

use bytes::Bytes;

use super::rdb::decode::{self, LoadSink, Loaded, RdbError};
use crate::keyspace::hash::Hash;
use crate::keyspace::list::List;
use crate::keyspace::set::Set;
use crate::keyspace::zset::ZSet;
use crate::keyspace::{Compact, EncodingLimits, Entry, Locked, Str, Table, Value, SHARDS};
use crate::server::Server;

/// Turns a decoded value into a keyspace value, with the encodings Redis would choose.
pub fn to_value(loaded: Loaded, limits: &EncodingLimits) -> Result<Value, String> {
    Ok(match loaded {
        Loaded::Str(b) => Value::Str(Str::from_owned(b)),
        Loaded::List(items) => Value::List(List::from_items(items)),
        Loaded::Set(members) => {
            let mut s = Set::default();
            for m in members {
                s.insert(&m, limits);
            }
            Value::Set(s)
        }
        Loaded::Hash(pairs) => {
            let mut h = Hash::default();
            for (f, v) in pairs {
                h.insert(f, v, limits);
            }
            Value::Hash(h)
        }
        Loaded::ZSet(mut pairs) => {
            if pairs.iter().any(|(_, s)| s.is_nan()) {
                return Err("Zset with NAN score detected".into());
            }
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            pairs.dedup_by(|a, b| a.0 == b.0);
            pairs.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
            Value::ZSet(ZSet::from_sorted(pairs, limits))
        }
        Loaded::Stream(s) => Value::Stream(s),
    })
}

/// Collects decoded entries into per-shard tables.
struct Staging<'a> {
    server: &'a Server,
    tables: Vec<Vec<Table>>,
    db: usize,
    limits: EncodingLimits,
    now_ms: i64,
    /// Drop keys whose expiry passed (a master loading its own file), or keep them (a replica).
    drop_expired: bool,
    pub keys: u64,
    pub expired: u64,
    /// The keys dropped as expired, by database (a master restarting propagates their DELs).
    expired_keys: Vec<(usize, Bytes)>,
    /// repl-id, repl-offset and repl-stream-db.
    aux_repl: (Option<String>, Option<i64>, Option<i64>),
    /// Most keys a RESIZEDB hint may reserve room for (see `stage`).
    reserve_cap: u64,
    /// `key-load-delay` (a test hook), read again at every key while set, else every 1024.
    key_load_delay: i64,
    access: crate::keyspace::Access,
    /// The access clock the file gave the next key (IDLE / FREQ opcodes).
    clock_hint: Option<u32>,
    empty_keys: u64,
    verify_checksum: bool,
    /// Function libraries' code, in file order.
    functions: Vec<Bytes>,
}

/// Redis names only the first few empty keys it skips.
const EMPTY_KEYS_LOGGED: u64 = 10;

impl LoadSink for Staging<'_> {
    fn function(&mut self, _type_byte: u8, code: Bytes) -> Result<(), RdbError> {
        self.functions.push(code);
        Ok(())
    }

    fn verify_checksum(&self) -> bool {
        self.verify_checksum
    }

    fn clock_hint(&mut self, freq: Option<u8>, idle_secs: Option<u64>) {
        self.clock_hint = self.access.restored(freq, idle_secs, self.now_ms);
    }

    fn empty_key(&mut self, key: &[u8]) {
        self.clock_hint = None;
        if self.empty_keys < EMPTY_KEYS_LOGGED {
            tracing::warn!(
                "rdbLoadObject skipping empty key: {}",
                String::from_utf8_lossy(key)
            );
        }
        self.empty_keys += 1;
    }

    fn resize_db(&mut self, size: u64, expires: u64) {
        // Sizing the tables up front spares every rehash of the load (a tenth of its time).
        // The hint is only believed up to what the payload could hold.
        let per_shard = |n: u64| (n.min(self.reserve_cap) / SHARDS as u64) as usize * 21 / 20;
        let (keys, exp) = (per_shard(size), per_shard(expires));
        for shard in self.tables.iter_mut() {
            if let Some(t) = shard.get_mut(self.db) {
                t.reserve(keys, exp);
            }
        }
    }

    fn aux(&mut self, key: &[u8], value: &[u8]) -> Result<(), RdbError> {
        match key {
            b"repl-id" => self.aux_repl.0 = Some(String::from_utf8_lossy(value).into_owned()),
            b"repl-offset" => self.aux_repl.1 = crate::util::parse_i64(value),
            b"repl-stream-db" => self.aux_repl.2 = crate::util::parse_i64(value),
            b"used-mem" => {
                if let Some(m) = crate::util::parse_i64(value) {
                    self.server
                        .persist
                        .load_progress
                        .rdb_used_mem
                        .store(m.max(0) as u64, std::sync::atomic::Ordering::Relaxed);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn select_db(&mut self, db: u64) -> Result<(), RdbError> {
        let databases = self.server.keyspace.databases() as u64;
        if db >= databases {
            return Err(RdbError::DbOutOfRange { db, databases });
        }
        self.db = db as usize;
        Ok(())
    }

    fn entry(&mut self, key: Bytes, value: Loaded, expire_ms: Option<i64>) -> Result<(), RdbError> {
        let lru = self
            .clock_hint
            .take()
            .unwrap_or_else(|| self.access.fresh(self.now_ms));
        if self.drop_expired && expire_ms.is_some_and(|e| e < self.now_ms) {
            self.expired += 1;
            self.expired_keys.push((self.db, key));
            return Ok(());
        }
        let value = to_value(value, &self.limits)
            .map_err(|reason| RdbError::Corrupt { offset: 0, reason })?;
        let shard = self.server.keyspace.shard_of(&key);
        let t = &mut self.tables[shard][self.db];
        // The decoder hands over exactly-sized buffers (boxed slices): kept as they are.
        if t.contains_key(&key) {
            return Err(RdbError::DuplicateKey {
                db: self.db as u64,
                key,
            });
        }
        t.insert(Compact::from(key), Entry::new(value, lru, 0), expire_ms);
        self.keys += 1;
        if self.key_load_delay != 0 || self.keys % 1024 == 0 {
            self.key_load_delay = self.server.config.read().key_load_delay;
            crate::util::debug_delay(self.key_load_delay);
        }
        if self.keys % 1024 == 0 {
            // Redis shows the count growing while it loads.
            self.server
                .persist
                .last_load_keys
                .store(self.keys, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }
}

/// Result of a load: counts, and the replication info the file carried.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub keys: u64,
    pub expired: u64,
    /// The keys dropped as expired (when expired keys are dropped), by database.
    pub expired_keys: Vec<(usize, Bytes)>,
    pub repl_id: Option<String>,
    pub repl_offset: Option<i64>,
    /// The database the master's stream was positioned in when the file was written.
    pub repl_stream_db: Option<i64>,
    /// Empty collections the file held, skipped as Redis skips them.
    pub empty_keys: u64,
}

impl LoadReport {
    /// The file's repl-stream-db, when it names one of our `ndbs` databases (else 0).
    pub fn stream_db(&self, ndbs: usize) -> usize {
        self.repl_stream_db
            .and_then(|d| usize::try_from(d).ok())
            .filter(|&d| d < ndbs)
            .unwrap_or(0)
    }
}

/// Keys a RESIZEDB hint may reserve room for when the payload's length is unknown (a
/// diskless transfer): a hostile hint costs at most this much memory up front.
const UNSIZED_RESERVE_CAP: u64 = 4 << 20;

/// A decoded RDB, not installed yet: the dataset it will become, built beside the live one.
pub struct Staged {
    tables: Vec<Vec<Table>>,
    report: LoadReport,
    /// The function libraries the file holds, ready to replace the loaded ones.
    functions: crate::scripting::functions::Libraries,
}

/// Decodes `rdb` entirely into fresh tables. The live dataset is not touched.
/// `payload_len`, when known, bounds the RESIZEDB hints believed (a key takes at least four
/// bytes of payload); without it they are believed up to `UNSIZED_RESERVE_CAP` keys.
pub fn stage<R: std::io::Read>(
    server: &Server,
    rdb: R,
    drop_expired: bool,
    payload_len: Option<u64>,
) -> Result<Staged, String> {
    stage_rdb(server, rdb, drop_expired, payload_len).map_err(|e| e.to_string())
}

/// `stage`, telling what went wrong as the decoder found it.
pub fn stage_rdb<R: std::io::Read>(
    server: &Server,
    rdb: R,
    drop_expired: bool,
    payload_len: Option<u64>,
) -> Result<Staged, RdbError> {
    // A load holds its thread as a long command does (redis's watchdog fires during one).
    let _watched = crate::server::watchdog::watch();
    let mut staging = Staging {
        server,
        tables: server.keyspace.empty_tables(),
        db: 0,
        limits: server.keyspace.limits.load(),
        now_ms: crate::util::now_ms(),
        drop_expired,
        keys: 0,
        expired: 0,
        expired_keys: Vec::new(),
        aux_repl: (None, None, None),
        reserve_cap: payload_len.map_or(UNSIZED_RESERVE_CAP, |n| n / 4),
        key_load_delay: server.config.read().key_load_delay,
        access: server.keyspace.access.load(),
        clock_hint: None,
        empty_keys: 0,
        functions: Vec::new(),
        verify_checksum: {
            let c = server.config.read();
            c.rdbchecksum
                && !server
                    .skip_checksum_validation
                    .load(std::sync::atomic::Ordering::Relaxed)
        },
    };
    decode::load(rdb, &mut staging)?;
    let Staging {
        tables,
        keys,
        expired,
        expired_keys,
        aux_repl,
        empty_keys,
        functions,
        ..
    } = staging;
    let functions = server
        .scripting
        .prepare_functions(&functions)
        .map_err(|reason| RdbError::Corrupt {
            offset: 0,
            reason: format!("Failed loading library: {reason}"),
        })?;
    Ok(Staged {
        functions,
        tables,
        report: LoadReport {
            keys,
            expired,
            expired_keys,
            repl_id: aux_repl.0,
            repl_offset: aux_repl.1,
            repl_stream_db: aux_repl.2,
            empty_keys,
        },
    })
}

impl Staged {
    /// Replaces the whole dataset with this one in one step; the old one is freed in the
    /// background.
    pub fn install(self, server: &Server) -> LoadReport {
        server.scripting.install_functions(self.functions);
        let old = server.keyspace.install(self.tables);
        server.watches.touch_db(None);
        server.tracking.flushed(server);
        crate::util::drop_in_background(old);
        self.report
    }
}

impl Staged {
    /// `install` for a caller already holding every shard.
    pub fn install_locked(self, server: &Server, all: &mut Locked<'_>) -> LoadReport {
        server.scripting.install_functions(self.functions);
        let old = server.keyspace.install_locked(all, self.tables);
        server.watches.touch_db(None);
        server.tracking.flushed(server);
        crate::util::drop_in_background(old);
        self.report
    }

    /// Adds this dataset to the live one (DEBUG RELOAD NOFLUSH), the caller holding every
    /// shard. A key present in both is an error unless `replace` (MERGE); the error is found
    /// before anything changes.
    pub fn merge_locked(
        self,
        server: &Server,
        all: &mut Locked<'_>,
        replace: bool,
    ) -> Result<LoadReport, String> {
        if !replace {
            for (shard, new) in all.shards_mut().zip(&self.tables) {
                for (db, t) in new.iter().enumerate() {
                    if let Some(k) = t.keys().find(|k| shard.tables[db].contains_key(k)) {
                        return Err(RdbError::DuplicateKey {
                            db: db as u64,
                            key: Bytes::copy_from_slice(k),
                        }
                        .to_string());
                    }
                }
            }
        }
        if !self.functions.libs.is_empty() {
            server.scripting.join_functions(self.functions, replace)?;
        }
        let (epoch, capture) = server.keyspace.capture_state();
        if let Some(cap) = capture {
            // Entries change under a running snapshot without being captured: it gives up,
            // as when the whole dataset is replaced.
            cap.aborted
                .store(true, std::sync::atomic::Ordering::Release);
        }
        for (shard, new) in all.shards_mut().zip(self.tables) {
            for (db, t) in new.into_iter().enumerate() {
                let live = &mut shard.tables[db];
                for (k, mut e, expire) in t.into_entries() {
                    e.ver = epoch;
                    live.insert(k, e, expire);
                }
            }
        }
        server.watches.touch_db(None);
        Ok(self.report)
    }
}

/// Empties the whole dataset in one step (a replica about to load its master's snapshot from
/// disk), freeing it in the background.
pub fn flush_dataset(server: &Server) {
    let old = server.keyspace.install(server.keyspace.empty_tables());
    server.watches.touch_db(None);
    server.tracking.flushed(server);
    crate::util::drop_in_background(old);
}

/// Decodes `rdb` and, if it is entirely valid, replaces the whole dataset with it.
pub fn replace_dataset_from<R: std::io::Read>(
    server: &Server,
    rdb: R,
    drop_expired: bool,
    payload_len: Option<u64>,
) -> Result<LoadReport, String> {
    Ok(stage(server, rdb, drop_expired, payload_len)?.install(server))
}

/// Empties the dataset and the function libraries, the caller holding every shard (redis
/// `emptyData` before DEBUG LOADAOF), freeing the old data in the background.
pub fn empty_locked(server: &Server, all: &mut Locked<'_>) {
    server.scripting.install_functions(Default::default());
    let old = server
        .keyspace
        .install_locked(all, server.keyspace.empty_tables());
    server.watches.touch_db(None);
    server.tracking.flushed(server);
    crate::util::drop_in_background(old);
}
