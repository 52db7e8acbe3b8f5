//! AOF rewrites without fork (BGREWRITEAOF, the automatic rewrite, the first base when the
//! AOF is turned on at runtime). The snapshot machinery fixes an instant with every shard
//! held; at that instant the AOF moves to a new incremental file, so the snapshot (the new
//! base) plus the files written from then on are the whole dataset. The walk runs on a
//! background thread while clients are served; when it is done the manifest switches to the
//! new base in one atomic rename, and the files it replaced are deleted (redis
//! `backgroundRewriteDoneHandler`). A crash at any moment leaves the old manifest, which
//! still describes a complete dataset.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{names, Aof, ON, WAIT_REWRITE};
use crate::persistence::child::{Failure, Kind, Writer};
use crate::persistence::snapshot::{self, BeginError, Format};
use crate::server::Server;

/// Why a rewrite did not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartError {
    /// A rewrite is running already.
    InProgress,
    /// Another snapshot (BGSAVE, a replica's sync) holds the slot: schedule it.
    Busy,
    /// It could not start (logged).
    Failed,
}

/// The temporary file the walk writes, in the working directory (as Redis's child does).
fn temp_path() -> PathBuf {
    PathBuf::from(format!("temp-rewriteaof-bg-{}.aof", std::process::id()))
}

/// The temporary incremental file of a first rewrite (`temp-<appendfilename>.incr`).
pub fn temp_incr_name(filename: &str) -> String {
    format!("temp-{filename}.incr")
}

fn format_of(server: &Server, rdb: bool) -> Format {
    if rdb {
        Format::Rdb {
            compress: server.config.read().rdbcompression,
        }
    } else {
        Format::Commands
    }
}

/// Starts a background rewrite (redis `rewriteAppendOnlyFileBackground`).
pub fn start(server: &Arc<Server>) -> Result<(), StartError> {
    let aof = &server.aof;
    if aof.stats.rewrite_in_progress.load(Ordering::Acquire) {
        return Err(StartError::InProgress);
    }
    let (dir, _, rdb) = names(server);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        tracing::warn!(
            "Can't open or create append-only dir {}: {e}",
            dir.display()
        );
        aof.stats.last_rewrite_ok.store(false, Ordering::Relaxed);
        return Err(StartError::Failed);
    }
    // Marked before the instant: writes from the instant on must reach the new file even
    // while the AOF waits for this first rewrite.
    aof.stats.rewrite_in_progress.store(true, Ordering::Release);
    let snapshot =
        match snapshot::begin_with(server, format_of(server, rdb), || aof.open_new_incr()) {
            Ok(s) => s,
            Err(BeginError::Busy) => {
                aof.stats
                    .rewrite_in_progress
                    .store(false, Ordering::Release);
                return Err(StartError::Busy);
            }
            Err(BeginError::Hook(e)) => {
                aof.stats
                    .rewrite_in_progress
                    .store(false, Ordering::Release);
                tracing::warn!("{e}");
                aof.stats.last_rewrite_ok.store(false, Ordering::Relaxed);
                return Err(StartError::Failed);
            }
        };
    let started = crate::util::now_ms();
    aof.stats.rewrites.fetch_add(1, Ordering::Relaxed);
    aof.stats.rewrite_scheduled.store(false, Ordering::Relaxed);
    aof.stats
        .rewrite_started_ms
        .store(started, Ordering::Relaxed);
    aof.killed.store(false, Ordering::Release);
    // The base is written through a writer process, as Redis's child writes it.
    let writer = Writer::for_snapshot(server, Kind::Aof, &snapshot);
    match &writer {
        Some(w) => tracing::info!(
            "Background append only file rewriting started by pid {}",
            w.pid()
        ),
        None => tracing::info!("Background append only file rewriting started"),
    }
    let srv = server.clone();
    let spawned = crate::util::spawn_background("aof-rewrite", move || {
        let walk = |w: &mut dyn std::io::Write| snapshot.write(&srv, w).map(|s| s.captured_bytes);
        let res = match writer {
            Some(writer) => writer.run(|w| walk(w)),
            None => {
                let tmp = temp_path();
                let incremental = srv.config.read().aof_rewrite_incremental_fsync;
                write_file(&tmp, incremental, |w| walk(w))
                    .map(|cow| (tmp, cow))
                    .map_err(Failure::Error)
            }
        };
        done(&srv, res, rdb, started);
    });
    if let Err(e) = spawned {
        tracing::warn!("Can't rewrite append only file in background: {e}");
        snapshot::release(server);
        aof.stats
            .rewrite_in_progress
            .store(false, Ordering::Release);
        aof.stats.last_rewrite_ok.store(false, Ordering::Relaxed);
        return Err(StartError::Failed);
    }
    Ok(())
}

/// A file that fsyncs itself every `AUTOSYNC_BYTES` when `every` is set, so the disk never
/// gets one huge flush at the end (`aof-rewrite-incremental-fsync`).
struct AutoSync {
    file: std::fs::File,
    every: bool,
    unsynced: u64,
}

impl std::io::Write for AutoSync {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.unsynced += n as u64;
        if self.every && self.unsynced >= crate::persistence::child::AUTOSYNC_BYTES {
            self.file.sync_data()?;
            self.unsynced = 0;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Writes `path` with `write`, then flushes and fsyncs it (the file is complete or absent).
fn write_file<T>(
    path: &Path,
    incremental_fsync: bool,
    write: impl FnOnce(&mut std::io::BufWriter<AutoSync>) -> std::io::Result<T>,
) -> Result<T, String> {
    let res = (|| -> std::io::Result<T> {
        let file = AutoSync {
            file: std::fs::File::create(path)?,
            every: incremental_fsync,
            unsynced: 0,
        };
        let mut w = std::io::BufWriter::with_capacity(64 * 1024, file);
        let t = write(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.file.sync_all()?;
        Ok(t)
    })();
    res.map_err(|e| {
        let _ = std::fs::remove_file(path);
        e.to_string()
    })
}

/// Writes a base now, on this thread (the first base at startup, from an empty dataset).
pub fn write_base_now(server: &Server, path: &Path, rdb: bool) -> Result<(), String> {
    let snapshot = snapshot::begin_with(server, format_of(server, rdb), || Ok(()))
        .map_err(|_| "Can't write the AOF base: a snapshot is running".to_string())?;
    let tmp = PathBuf::from(format!("temp-rewriteaof-{}.aof", std::process::id()));
    write_file(&tmp, false, |w| snapshot.write(server, w).map(|_| ()))
        .map_err(|e| format!("Write error writing append only file on disk: {e}"))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("Error moving temp append only file on the final destination: {e}")
    })
}

/// The walk finished (or failed, or was killed).
fn done(server: &Arc<Server>, res: Result<(PathBuf, u64), Failure>, rdb: bool, started_ms: i64) {
    let aof = &server.aof;
    let killed = aof.killed.swap(false, Ordering::AcqRel);
    let st = &aof.stats;
    match res {
        Ok((tmp, cow)) if !killed => {
            tracing::info!("Background AOF rewrite terminated with success");
            match aof.install_rewrite(&tmp, rdb) {
                Ok(()) => {
                    st.last_rewrite_ok.store(true, Ordering::Relaxed);
                    st.consecutive_failures.store(0, Ordering::Relaxed);
                    st.last_cow_size.store(cow, Ordering::Relaxed);
                    tracing::info!("Background AOF rewrite finished successfully");
                }
                Err(e) => {
                    tracing::warn!("{e}");
                    st.last_rewrite_ok.store(false, Ordering::Relaxed);
                    st.consecutive_failures.fetch_add(1, Ordering::Relaxed);
                }
            }
            let _ = std::fs::remove_file(&tmp);
        }
        Ok((tmp, _)) => {
            let _ = std::fs::remove_file(&tmp);
        }
        Err(_) if killed => {}
        Err(f @ Failure::Signal(_)) => {
            tracing::warn!("{}", f.describe(Kind::Aof));
            if f.is_error() {
                st.last_rewrite_ok.store(false, Ordering::Relaxed);
                st.consecutive_failures.fetch_add(1, Ordering::Relaxed);
            }
        }
        Err(Failure::Error(e)) => {
            if e.ends_with(snapshot::ABORTED) {
                tracing::warn!("Background AOF rewrite terminated: {e}");
            } else {
                tracing::warn!("Write error writing append only file on disk: {e}");
                tracing::warn!("Background AOF rewrite terminated with error");
            }
            st.last_rewrite_ok.store(false, Ordering::Relaxed);
            st.consecutive_failures.fetch_add(1, Ordering::Relaxed);
        }
    }
    st.last_rewrite_time_sec.store(
        (crate::util::now_ms() - started_ms) / 1000,
        Ordering::Relaxed,
    );
    st.rewrite_started_ms.store(0, Ordering::Relaxed);
    if aof.state() == WAIT_REWRITE {
        // The first rewrite failed: start over, with a fresh temporary incremental file. It
        // ends this rewrite's `in_progress` before it logs the removal.
        aof.drop_temp_incr();
    } else {
        st.rewrite_in_progress.store(false, Ordering::Release);
    }
}

/// Stops a running rewrite (CONFIG SET appendonly no, or appendonly yes again) and waits for
/// its thread to notice, as Redis kills its child and waits for it.
pub fn kill(server: &Server) {
    let aof = &server.aof;
    if !aof.stats.rewrite_in_progress.load(Ordering::Acquire) {
        return;
    }
    let pid = server.persist.child.pid(Kind::Aof);
    tracing::info!(
        "Killing running AOF rewrite child: {}",
        pid.unwrap_or_else(std::process::id)
    );
    aof.killed.store(true, Ordering::Release);
    snapshot::abort(server);
    server.persist.child.kill(Kind::Aof);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    crate::util::blocking(|| {
        while aof.stats.rewrite_in_progress.load(Ordering::Acquire)
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    });
    let _ = std::fs::remove_file(temp_path());
}

/// The cron's part (redis `serverCron`): a scheduled rewrite once nothing else snapshots,
/// and the automatic rewrite on growth (`auto-aof-rewrite-percentage`, `-min-size`), held
/// back after repeated failures.
pub fn cron(server: &Arc<Server>) {
    let aof = &server.aof;
    if aof.stats.rewrite_in_progress.load(Ordering::Acquire) || server.snapshot_slot.is_busy() {
        return;
    }
    if aof.stats.rewrite_scheduled.load(Ordering::Relaxed) && !aof.limited() {
        let _ = start(server);
        return;
    }
    if aof.state() != ON {
        return;
    }
    let (perc, min) = {
        let c = server.config.read();
        (c.auto_aof_rewrite_percentage, c.auto_aof_rewrite_min_size)
    };
    let current = aof.stats.current_size.load(Ordering::Relaxed);
    if perc == 0 || current <= min {
        return;
    }
    let base = aof.stats.base_size.load(Ordering::Relaxed).max(1);
    let growth = (current * 100 / base) as i64 - 100;
    if growth >= perc as i64 && !aof.limited() {
        tracing::info!("Starting automatic rewriting of AOF on {growth}% growth");
        let _ = start(server);
    }
}

impl Aof {
    /// After `AOF_REWRITE_LIMITE_THRESHOLD` (3) failures in a row, automatic rewrites wait
    /// 1, 2, 4 ... up to 60 minutes (redis `aofRewriteLimited`).
    pub fn limited(&self) -> bool {
        let mut l = self.limit.lock();
        if self.stats.consecutive_failures.load(Ordering::Relaxed) < 3 {
            *l = (0, 0);
            return false;
        }
        let now = crate::util::now_ms() / 1000;
        if l.1 != 0 {
            if now < l.1 {
                return true;
            }
            l.1 = 0;
            return false;
        }
        l.0 = if l.0 == 0 { 1 } else { (l.0 * 2).min(60) };
        l.1 = now + l.0 * 60;
        tracing::warn!(
            "Background AOF rewrite has repeatedly failed and triggered the limit, will retry in {} minutes",
            l.0
        );
        true
    }
}
