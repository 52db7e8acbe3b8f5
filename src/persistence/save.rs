//! Saving snapshots to the dump file: temp file, fsync, rename, fsync of the directory, so a
//! crash at any instant leaves the previous good file (DESIGN principle 7).

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;

use super::child::{Failure, Kind, Writer};
use super::snapshot::Snapshot;
use crate::keyspace::Locked;
use crate::replication::replica::CachedMaster;
use crate::server::Server;

/// Where the dump file lives: `dir` is the process's working directory (Redis chdirs to it).
pub fn dump_path(server: &Server) -> PathBuf {
    PathBuf::from(server.config.read().dbfilename.clone())
}

/// Writes a started snapshot to the dump file atomically. Returns the file's path.
/// `background`: see `write_dump_file`.
pub fn save_snapshot(
    server: &Arc<Server>,
    snapshot: Snapshot,
    background: bool,
) -> Result<PathBuf, String> {
    write_dump_file(server, background, |w| {
        snapshot.write(server, w).map(|_| ())
    })
}

/// A background save's writing (BGSAVE, a disk-based sync): through its writer process when
/// it has one (`Writer::for_snapshot`), else from this process. Returns the dump file's path.
pub fn save_background(
    server: &Arc<Server>,
    snapshot: Snapshot,
    writer: Option<Writer>,
) -> Result<PathBuf, Failure> {
    let Some(writer) = writer else {
        return save_snapshot(server, snapshot, true).map_err(Failure::Error);
    };
    let (tmp, _) = writer.run(|out| snapshot.write(server, out))?;
    let target = dump_path(server);
    install_dump(&tmp, &target).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Failure::Error(format!("Failed saving the DB: {e}"))
    })?;
    Ok(target)
}

/// The temp file of a save on the caller's thread (SAVE, shutdown, DEBUG RELOAD), named as
/// Redis's `rdbSave` names it, so a shutdown interrupted by a second SIGINT removes it.
pub fn blocking_temp_name() -> PathBuf {
    PathBuf::from(format!("temp-{}.rdb", std::process::id()))
}

/// Writes the dump file atomically with `write`: a temp file, fsync, rename, fsync of the
/// directory. Returns the file's path. `background`: a BGSAVE's walk, which may run beside a
/// save on another thread, takes a name of its own.
fn write_dump_file(
    server: &Server,
    background: bool,
    write: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> Result<PathBuf, String> {
    let target = dump_path(server);
    let tmp = if background {
        PathBuf::from(format!(
            "temp-{}-{}.rdb",
            std::process::id(),
            crate::util::now_us()
        ))
    } else {
        blocking_temp_name()
    };
    let result = (|| -> std::io::Result<()> {
        let file = File::create(&tmp)?;
        let mut w = BufWriter::with_capacity(64 * 1024, file);
        write(&mut w)?;
        w.flush()?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        install_dump(&tmp, &target)
    })();
    match result {
        Ok(()) => Ok(target),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(format!("Failed saving the DB: {e}"))
        }
    }
}

/// Moves a complete, fsynced temp file over the dump file, then fsyncs the directory.
fn install_dump(tmp: &std::path::Path, target: &std::path::Path) -> std::io::Result<()> {
    fs::rename(tmp, target)?;
    if let Ok(dir) = File::open(
        target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new(".")),
    ) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Why a save could not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveError {
    /// Another snapshot (BGSAVE or a replica's sync) is running.
    InProgress,
    /// No thread could be started for it.
    Spawn,
}

/// Records the outcome of a save in the persistence state and the log. Only a failed
/// background save marks the status `err` (Redis's `rdbSave` on the caller's thread leaves it).
fn record(
    server: &Server,
    started_ms: i64,
    dirty_before: u64,
    result: &Result<PathBuf, Failure>,
    background: bool,
) {
    use std::sync::atomic::Ordering;
    let p = &server.persist;
    match result {
        Ok(_) => {
            p.rdb_saves.fetch_add(1, Ordering::Relaxed);
            p.last_save_time
                .store(crate::util::now_ms() / 1000, Ordering::Relaxed);
            p.dirty_at_save.store(dirty_before, Ordering::Relaxed);
            p.last_bgsave_ok.store(true, Ordering::Relaxed);
            if background {
                let cow = server.snapshot_slot.last_cow_bytes.load(Ordering::Relaxed);
                p.last_cow_size.store(cow, Ordering::Relaxed);
            }
            tracing::info!("DB saved on disk");
        }
        Err(Failure::Error(e)) if e.ends_with(super::snapshot::ABORTED) => {
            // Not a failure of the disk: Redis does not count its killed child either.
            tracing::warn!("Background saving aborted: {}", super::snapshot::ABORTED);
        }
        Err(f) => {
            if background && f.is_error() {
                p.last_bgsave_ok.store(false, Ordering::Relaxed);
            }
            tracing::warn!("{}", f.describe(Kind::Rdb));
        }
    }
    p.last_bgsave_time_sec.store(
        (crate::util::now_ms() - started_ms) / 1000,
        Ordering::Relaxed,
    );
}

/// SAVE: writes the dump file now, on the calling thread (other clients keep being served).
pub fn save_now(server: &Arc<Server>) -> Result<(), SaveError> {
    let compress = server.config.read().rdbcompression;
    let started = crate::util::now_ms();
    let dirty = server
        .stats
        .dirty
        .load(std::sync::atomic::Ordering::Relaxed);
    let snapshot = super::snapshot::begin(server, compress).ok_or(SaveError::InProgress)?;
    let res = save_snapshot(server, snapshot, false).map_err(Failure::Error);
    record(server, started, dirty, &res, false);
    Ok(())
}

/// SAVE that reports failure (shutdown, DEBUG RELOAD).
pub fn save_blocking(server: &Arc<Server>) -> Result<(), String> {
    let compress = server.config.read().rdbcompression;
    let started = crate::util::now_ms();
    let dirty = server
        .stats
        .dirty
        .load(std::sync::atomic::Ordering::Relaxed);
    let snapshot =
        super::snapshot::begin(server, compress).ok_or("Background save already in progress")?;
    let res = save_snapshot(server, snapshot, false).map_err(Failure::Error);
    record(server, started, dirty, &res, false);
    res.map(|_| ()).map_err(|f| f.describe(Kind::Rdb))
}

/// SAVE by a command holding every shard (`all`): DEBUG RELOAD, FLUSHALL with save points
/// (redis `rdbSave` from `flushAllDataAndResetRDB`). `dirty` is the change count the file
/// holds, which becomes the base of `rdb_changes_since_last_save`.
pub fn save_locked(server: &Server, all: &mut Locked<'_>, dirty: u64) -> Result<(), String> {
    let compress = server.config.read().rdbcompression;
    let started = crate::util::now_ms();
    let res = write_dump_file(server, false, |w| {
        super::snapshot::write_locked(server, all, compress, w).map(|_| ())
    })
    .map_err(Failure::Error);
    record(server, started, dirty, &res, false);
    res.map(|_| ()).map_err(|f| f.describe(Kind::Rdb))
}

/// What DEBUG RELOAD does (its options NOSAVE, NOFLUSH, MERGE).
#[derive(Debug, Clone, Copy)]
pub struct Reload {
    pub save: bool,
    pub flush: bool,
    /// Keys of the file replace live keys of the same name (without it, NOFLUSH refuses them).
    pub merge: bool,
}

/// Why DEBUG RELOAD failed.
#[derive(Debug)]
pub enum ReloadError {
    Save(String),
    Load(String),
}

/// DEBUG RELOAD: saves the dataset to the dump file (unless NOSAVE), then loads the file back,
/// replacing the dataset (or, with NOFLUSH, adding to it), all while the caller holds every
/// shard (`all`), as Redis blocks for the whole command. The file is decoded completely before
/// anything changes: a bad file leaves the dataset as it was.
pub fn reload(server: &Arc<Server>, all: &mut Locked<'_>, opts: Reload) -> Result<(), ReloadError> {
    if opts.save {
        let dirty = server
            .stats
            .dirty
            .load(std::sync::atomic::Ordering::Relaxed);
        save_locked(server, all, dirty).map_err(ReloadError::Save)?;
    }
    let path = dump_path(server);
    let file = File::open(&path).map_err(|e| ReloadError::Load(e.to_string()))?;
    let len = file.metadata().map(|m| m.len()).ok();
    let staged = super::load::stage(
        server,
        std::io::BufReader::with_capacity(1 << 20, file),
        !server.is_replica(),
        len,
    )
    .map_err(ReloadError::Load)?;
    if opts.flush {
        staged.install_locked(server, all);
    } else {
        staged
            .merge_locked(server, all, opts.merge)
            .map_err(ReloadError::Load)?;
    }
    tracing::warn!("DB reloaded by DEBUG RELOAD");
    Ok(())
}

/// BGSAVE: fixes the snapshot instant now and writes it from a background thread.
pub fn bgsave(server: &Arc<Server>) -> Result<(), SaveError> {
    use std::sync::atomic::Ordering;
    let compress = server.config.read().rdbcompression;
    let dirty = server.stats.dirty.load(Ordering::Relaxed);
    let snapshot = super::snapshot::begin(server, compress).ok_or(SaveError::InProgress)?;
    let started = crate::util::now_ms();
    server.persist.mark_bgsave_started(started);
    let writer = Writer::for_snapshot(server, Kind::Rdb, &snapshot);
    match &writer {
        Some(w) => tracing::info!("Background saving started by pid {}", w.pid()),
        None => tracing::info!("Background saving started"),
    }
    let srv = server.clone();
    let spawned = crate::util::spawn_background("bgsave", move || {
        let res = save_background(&srv, snapshot, writer);
        record(&srv, started, dirty, &res, true);
        if res.is_ok() {
            tracing::info!("Background saving terminated with success");
        }
        srv.persist
            .bgsave_in_progress
            .store(false, Ordering::Release);
    });
    if let Err(e) = spawned {
        // The snapshot went down with the closure: free its slot.
        tracing::warn!("Can't save in background: {e}");
        super::snapshot::release(server);
        server
            .persist
            .bgsave_in_progress
            .store(false, Ordering::Release);
        return Err(SaveError::Spawn);
    }
    Ok(())
}

/// The save-point rule (`save <seconds> <changes>`), checked once a second by the cron; also
/// runs a BGSAVE SCHEDULE'd while another snapshot was busy.
pub fn save_points_cron(server: &Arc<Server>) {
    use std::sync::atomic::Ordering;
    if server.persist.bgsave_in_progress.load(Ordering::Acquire) || server.snapshot_slot.is_busy() {
        return;
    }
    let p = &server.persist;
    // After a failure, wait more than 5 seconds from the failed attempt's start before trying
    // again (CONFIG_BGSAVE_RETRY_DELAY); a success clears the MISCONF state.
    let retry_ok = p.last_bgsave_ok.load(Ordering::Relaxed)
        || crate::util::now_ms() / 1000 - p.bgsave_started_ms.load(Ordering::Relaxed) / 1000 > 5;
    if retry_ok && server.persist.scheduled.swap(false, Ordering::AcqRel) {
        let _ = bgsave(server);
        return;
    }
    let points = server.config.read().save.clone();
    if points.is_empty() {
        return;
    }
    let changes = server
        .stats
        .dirty
        .load(Ordering::Relaxed)
        .saturating_sub(p.dirty_at_save.load(Ordering::Relaxed));
    let elapsed = crate::util::now_ms() / 1000 - p.last_save_time.load(Ordering::Relaxed);
    for (secs, min_changes) in points {
        if changes >= min_changes && elapsed > secs as i64 && retry_ok {
            tracing::info!("{min_changes} changes in {secs} seconds. Saving...");
            let _ = bgsave(server);
            return;
        }
    }
}

/// A master restarting from its own file continues its history: the keys the load dropped as
/// expired are deleted on its replicas through the stream, as Redis feeds their DELs (UNLINKs
/// with `lazyfree-lazy-expire`) into the backlog.
fn propagate_expired(server: &Server, keys: Vec<(usize, bytes::Bytes)>) {
    let del = bytes::Bytes::from_static(if server.config.read().lazyfree_lazy_expire {
        b"UNLINK"
    } else {
        b"DEL"
    });
    for (db, key) in keys {
        server
            .repl
            .stream
            .feed(&[crate::keyspace::db::Effect::new(db, vec![del.clone(), key])]);
    }
}

/// Loads the dump file at startup, if there is one. A file that is corrupt or truncated is a
/// fatal error naming the file (the caller exits; the file is left untouched). The caller
/// holds `persist.loading` set meanwhile.
pub fn load_at_startup(server: &Server) -> Result<(), String> {
    use std::sync::atomic::Ordering;
    let path = dump_path(server);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("Fatal error loading the DB: {e}. Exiting.")),
    };
    let start = std::time::Instant::now();
    let is_replica = server.is_replica();
    let progress = &server.persist.load_progress;
    let file_len = file.metadata().map(|m| m.len()).ok();
    progress.start(file_len.unwrap_or(0));
    let res = super::load::stage_rdb(
        server,
        std::io::BufReader::with_capacity(
            1 << 20,
            super::Counting {
                inner: file,
                progress,
            },
        ),
        !is_replica,
        file_len,
    );
    let report = match res {
        Ok(staged) => staged.install(server),
        Err(e) => return Err(load_failure(&path, &e)),
    };
    server
        .persist
        .last_load_keys
        .store(report.keys, Ordering::Relaxed);
    server
        .persist
        .last_load_expired
        .store(report.expired, Ordering::Relaxed);
    if report.empty_keys > 0 {
        tracing::info!(
            "Done loading RDB, keys loaded: {}, keys expired: {}, empty keys skipped: {}.",
            report.keys,
            report.expired,
            report.empty_keys
        );
    } else {
        tracing::info!(
            "Done loading RDB, keys loaded: {}, keys expired: {}.",
            report.keys,
            report.expired
        );
    }
    tracing::info!(
        "DB loaded from disk: {:.3} seconds",
        start.elapsed().as_secs_f64()
    );
    // The file's replication history: a master continues it under a new id (replid2), a
    // replica offers it to its master for a partial resync.
    let stream_db = report.stream_db(server.keyspace.databases());
    if let (Some(id), Some(off)) = (report.repl_id, report.repl_offset) {
        if id.len() == 40 && off >= 0 {
            let off = off as u64;
            let mut ids = server.repl.ids.lock();
            ids.replid = id.clone();
            server.repl.stream.activate(off);
            if is_replica {
                *server.repl.link.cached.lock() = Some(CachedMaster::new(id, off, stream_db));
            } else {
                ids.shift(off);
                drop(ids);
                propagate_expired(server, report.expired_keys);
            }
        }
    }
    Ok(())
}

/// Logs why the dump file could not be loaded at startup and returns the last line to log
/// before exiting. A corrupt or truncated file is reported as redis `rdbReportError` does
/// for a file: the error, then what a check of the file finds (redis runs redis-check-rdb on
/// it), then "Terminating server after rdb file reading failure."; anything else (a bad
/// signature, an unsupported version, an I/O error) is a "Fatal error loading the DB".
fn load_failure(path: &std::path::Path, e: &super::rdb::decode::RdbError) -> String {
    use super::rdb::decode::RdbError;
    match e {
        RdbError::Corrupt { offset, .. } => {
            tracing::warn!("{e}");
            tracing::warn!("--- RDB ERROR DETECTED ---");
            tracing::warn!("[offset {offset}] {e}");
            tracing::warn!("[additional info] While loading: {}", path.display());
            tracing::warn!("--- RDB ERROR DETECTED ---");
            "Terminating server after rdb file reading failure.".into()
        }
        RdbError::BadChecksum { .. } => {
            tracing::warn!("{e}");
            tracing::warn!("Internal error in RDB reading offset 0 -> RDB CRC error");
            "Terminating server after rdb file reading failure.".into()
        }
        _ => format!(
            "Fatal error loading the DB ({}): {e}. Exiting.",
            std::fs::canonicalize(path)
                .unwrap_or(path.to_path_buf())
                .display()
        ),
    }
}
