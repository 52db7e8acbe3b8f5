//! The append-only file, as Redis 7.0 keeps it: a directory (`appenddirname`) holding a base
//! file (a snapshot, RDB with `aof-use-rdb-preamble yes`, else commands), incremental files of
//! the commands since, and the manifest naming them (`manifest`).
//!
//! Writes reach the AOF where they reach the replication stream (`Server::replication_feed`,
//! with the command's shards still locked), so the file is the same linearization replicas
//! see. `feed` only appends to a buffer; the buffer is written to the file before any reply
//! leaves the server (`before_reply`, awaited by every connection before it writes), so a
//! process killed at any instant has every acknowledged write in the file (in the page
//! cache). With `everysec` and `no` the connection writes the buffer itself (one `write` for
//! everything fed by then, whoever fed it; nothing when another connection's write covered
//! it already); `everysec` fsyncs from the AOF thread once a second, never on a client's
//! path; `no` leaves it to the kernel. With `always` the connection waits, without holding
//! its worker, for the AOF thread's group commit: one write and one fdatasync for everything
//! pending, while the workers keep serving the other connections (whose writes make the
//! next group).
//!
//! Rewrites (`rewrite`) use the fork-less snapshot: at the snapshot's instant (every shard
//! locked) the AOF moves to a new incremental file, and the snapshot becomes the new base.

pub mod load;
pub mod manifest;
pub mod rewrite;
pub mod text;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU64, AtomicU8, Ordering};

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;

use crate::keyspace::Effect;
use crate::replication::stream::encode_command;
use crate::server::Server;
use manifest::Manifest;

/// A failure whose lines are logged already (the caller gives up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Logged;

/// `aof_state`: off, on, or waiting for the first rewrite to finish (turned on at runtime).
pub const OFF: u8 = 0;
pub const ON: u8 = 1;
pub const WAIT_REWRITE: u8 = 2;

/// `appendfsync` values (the config's enum numbers).
pub const FSYNC_NO: u8 = 0;
pub const FSYNC_ALWAYS: u8 = 1;
pub const FSYNC_EVERYSEC: u8 = 2;

/// The AOF's state, shared by the command path (feed, before_reply), the AOF thread and the
/// rewrite. Lock order: shards, then `io`, then `buf`.
#[derive(Default)]
pub struct Aof {
    state: AtomicU8,
    fsync: AtomicU8,
    timestamps: AtomicBool,
    gc_disabled: AtomicBool,
    /// Bytes appended to `buf` since startup, and how many of them have been written.
    fed: AtomicU64,
    written: AtomicU64,
    /// Bytes fed whose replies may go out under `appendfsync always`: written and fsynced,
    /// or written with nothing more to promise (no file, no-appendfsync-on-rewrite, the
    /// policy changed).
    durable: AtomicU64,
    /// The highest offset a waiting reply needs durable: the AOF thread's next group commit.
    requested: AtomicU64,
    /// Replies waiting for `durable` to reach their offset (woken after each group commit).
    durable_wait: tokio::sync::Notify,
    /// The AOF thread, and whether it still runs (it makes the group commits; without it the
    /// waiting connection makes its own).
    thread: std::sync::OnceLock<std::thread::Thread>,
    thread_alive: AtomicBool,
    buf: Mutex<Buf>,
    io: Mutex<Io>,
    pub stats: AofStats,
    /// DEBUG AOF-FLUSH-SLEEP: microseconds slept before each write of the buffer (tests).
    pub flush_sleep_us: AtomicU64,
    /// The running rewrite was stopped on purpose (not a failure).
    killed: AtomicBool,
    /// `aofRewriteLimited`'s state: (minutes of the current delay, unix second it ends).
    limit: Mutex<(i64, i64)>,
}

#[derive(Default)]
struct Buf {
    data: BytesMut,
    /// The database the last command written was in (`None` forces a SELECT).
    db: Option<usize>,
    /// The second of the last `#TS:` annotation.
    ts: i64,
}

#[derive(Default)]
struct Io {
    file: Option<File>,
    dir: PathBuf,
    filename: String,
    manifest: Manifest,
    /// Size of the incremental file being written, and how much of it is fsynced.
    incr_size: u64,
    synced: u64,
    /// Unix second of the last fsync.
    last_fsync: i64,
    /// The write error last logged, and when (one line per 30 s, as Redis).
    last_error_log: i64,
}

/// Figures for INFO persistence and the rewrite logic.
#[derive(Default)]
pub struct AofStats {
    pub last_write_ok: AtomicBoolDefaultTrue,
    pub last_write_errno: AtomicI32,
    pub current_size: AtomicU64,
    /// Size after the last rewrite (`aof_rewrite_base_size`).
    pub base_size: AtomicU64,
    pub delayed_fsync: AtomicU64,
    pub fsync_in_progress: AtomicBool,
    pub rewrites: AtomicU64,
    pub consecutive_failures: AtomicU64,
    pub last_rewrite_ok: AtomicBoolDefaultTrue,
    pub rewrite_in_progress: AtomicBool,
    pub rewrite_scheduled: AtomicBool,
    /// Unix ms when the running rewrite started.
    pub rewrite_started_ms: AtomicI64,
    pub last_rewrite_time_sec: AtomicI64Minus1,
    pub last_cow_size: AtomicU64,
}

/// An `AtomicBool` whose default is true (a status that starts "ok").
pub struct AtomicBoolDefaultTrue(pub AtomicBool);

impl Default for AtomicBoolDefaultTrue {
    fn default() -> Self {
        AtomicBoolDefaultTrue(AtomicBool::new(true))
    }
}

impl std::ops::Deref for AtomicBoolDefaultTrue {
    type Target = AtomicBool;
    fn deref(&self) -> &AtomicBool {
        &self.0
    }
}

/// An `AtomicI64` whose default is -1 (a duration not measured yet).
pub struct AtomicI64Minus1(pub AtomicI64);

impl Default for AtomicI64Minus1 {
    fn default() -> Self {
        AtomicI64Minus1(AtomicI64::new(-1))
    }
}

impl std::ops::Deref for AtomicI64Minus1 {
    type Target = AtomicI64;
    fn deref(&self) -> &AtomicI64 {
        &self.0
    }
}

impl Aof {
    pub fn state(&self) -> u8 {
        self.state.load(Ordering::Acquire)
    }

    /// The state once a finished rewrite being installed is in place: the manifest that names
    /// its base and the switch from WAIT_REWRITE to ON happen under the I/O lock, which this
    /// waits for, so no one sees the new manifest on disk and the old state (Redis installs a
    /// rewrite in one step of its event loop).
    pub fn settled_state(&self) -> u8 {
        let _io = self.io.lock();
        self.state()
    }

    pub fn is_on(&self) -> bool {
        self.state() != OFF
    }

    /// Mirrors the settings the AOF reads (called by `config_changed`).
    pub fn configure(&self, c: &crate::config::Config) {
        self.fsync.store(c.appendfsync as u8, Ordering::Relaxed);
        self.timestamps
            .store(c.aof_timestamp_enabled, Ordering::Relaxed);
        let was = self
            .gc_disabled
            .swap(c.aof_disable_auto_gc, Ordering::Relaxed);
        if was && !c.aof_disable_auto_gc {
            // Turning the collection back on collects what waited (redis
            // `updateAofAutoGCEnabled`).
            self.delete_history();
        }
    }

    pub fn fsync_policy(&self) -> u8 {
        self.fsync.load(Ordering::Relaxed)
    }

    /// Bytes fed but not written yet (INFO `aof_buffer_length`).
    pub fn buffered(&self) -> u64 {
        self.fed
            .load(Ordering::Acquire)
            .saturating_sub(self.written.load(Ordering::Acquire))
    }

    /// Appends a command's effects (wrapped in MULTI/EXEC when there are several), with a
    /// SELECT when the database changes and a `#TS:` annotation when the second changed and
    /// `aof-timestamp-enabled` is on. Called with the command's shards locked.
    pub fn feed(&self, effects: &[Effect]) {
        let state = self.state();
        if state == OFF
            || (state == WAIT_REWRITE && !self.stats.rewrite_in_progress.load(Ordering::Acquire))
        {
            return;
        }
        let kept: Vec<&Effect> = effects
            .iter()
            .filter(|e| e.target & Effect::AOF != 0)
            .collect();
        if kept.is_empty() {
            return;
        }
        let mut b = self.buf.lock();
        let before = b.data.len();
        if self.timestamps.load(Ordering::Relaxed) {
            let now = crate::util::now_ms() / 1000;
            if now > b.ts {
                b.ts = now;
                let line = format!("#TS:{now}\r\n");
                b.data.extend_from_slice(line.as_bytes());
            }
        }
        // Wrapped by the count of all effects, as Redis wraps before it splits them by target.
        let wrap = effects.len() >= 2;
        if wrap {
            select(&mut b, kept[0].db);
            encode_command(&mut b.data, &[Bytes::from_static(b"MULTI")]);
        }
        for e in &kept {
            select(&mut b, e.db);
            encode_command(&mut b.data, &e.argv);
        }
        if wrap {
            encode_command(&mut b.data, &[Bytes::from_static(b"EXEC")]);
        }
        let added = (b.data.len() - before) as u64;
        self.fed.fetch_add(added, Ordering::Release);
    }

    /// Before a reply goes out: everything fed so far is written (and, with `appendfsync
    /// always`, fsynced). Atomic comparisons only when there is nothing to do.
    pub async fn before_reply(&self) {
        let target = self.fed.load(Ordering::Acquire);
        if self.fsync_policy() == FSYNC_ALWAYS {
            self.wait_durable(target).await;
        } else if self.written.load(Ordering::Acquire) < target {
            // The other connections ready now run their commands first (a yielding task
            // resumes after the worker polled for events), so one write covers them all, as
            // Redis writes once per event-loop turn.
            tokio::task::yield_now().await;
            if self.written.load(Ordering::Acquire) >= target {
                return;
            }
            let write = || {
                let mut io = self.io.lock();
                if self.written.load(Ordering::Acquire) < target {
                    self.flush_locked(&mut io, false);
                }
            };
            if self.stats.fsync_in_progress.load(Ordering::Acquire)
                || self.flush_sleep_us.load(Ordering::Relaxed) > 0
            {
                // A write can wait for the background fsync of the same file (ext4), or
                // sleep first (DEBUG AOF-FLUSH-SLEEP): the worker's other connections move to
                // another thread meanwhile.
                crate::util::blocking(write);
            } else {
                // A write to the page cache: microseconds, made on the worker.
                write();
            }
        }
    }

    /// Waits until the bytes up to `target` are durable: the AOF thread is asked for a group
    /// commit and the connection sleeps until one covers it.
    async fn wait_durable(&self, target: u64) {
        loop {
            let woken = self.durable_wait.notified();
            tokio::pin!(woken);
            // Registered before the check, so a commit finishing in between is not missed.
            woken.as_mut().enable();
            if self.durable.load(Ordering::Acquire) >= target {
                return;
            }
            self.requested.fetch_max(target, Ordering::SeqCst);
            // SeqCst pairs with `retire_thread`: either the thread's last commit sees this
            // request, or this sees the thread gone and commits itself.
            match self.thread.get() {
                Some(t) if self.thread_alive.load(Ordering::SeqCst) => {
                    t.unpark();
                    woken.await;
                }
                _ => crate::util::blocking(|| self.flush()),
            }
        }
    }

    /// The AOF thread's group commit, when a reply waits for one: everything fed so far is
    /// written and fsynced (`hold`: no-appendfsync-on-rewrite during a snapshot, written only).
    fn commit_if_requested(&self, hold: bool) {
        if self.requested.load(Ordering::SeqCst) > self.durable.load(Ordering::Acquire) {
            let mut io = self.io.lock();
            self.flush_locked(&mut io, hold);
        }
    }

    /// Replies waiting for bytes up to `fed` may go out.
    fn release(&self, fed: u64) {
        if self.durable.fetch_max(fed, Ordering::AcqRel) < fed
            && self.requested.load(Ordering::SeqCst) > 0
        {
            self.durable_wait.notify_waiters();
        }
    }

    /// The AOF thread stops (shutdown): what waits is committed one last time, and later
    /// waits commit by themselves.
    fn retire_thread(&self) {
        self.thread_alive.store(false, Ordering::SeqCst);
        self.commit_if_requested(false);
    }

    /// Writes the buffer to the current file (redis `flushAppendOnlyFile`); with `always`,
    /// fsyncs too. Used by rewrites, shutdown and loading, whatever the state.
    pub fn flush(&self) {
        let mut io = self.io.lock();
        self.flush_locked(&mut io, false);
    }

    /// `hold`: with `always`, the fsync is skipped (no-appendfsync-on-rewrite while a snapshot
    /// runs, as Redis skips it while a child runs).
    fn flush_locked(&self, io: &mut Io, hold: bool) {
        let (data, fed) = {
            let mut b = self.buf.lock();
            (b.data.split(), self.fed.load(Ordering::Acquire))
        };
        let policy = self.fsync_policy();
        if data.is_empty() {
            self.written.store(fed, Ordering::Release);
            self.after_write(io, fed, policy, hold);
            return;
        }
        let sleep = self.flush_sleep_us.load(Ordering::Relaxed);
        if sleep > 0 {
            std::thread::sleep(std::time::Duration::from_micros(sleep));
        }
        let Some(file) = io.file.as_mut() else {
            // No file (AOF off, or waiting for its first rewrite): nothing to keep.
            self.written.store(fed, Ordering::Release);
            self.release(fed);
            return;
        };
        let res = write_all(file, &data);
        match res {
            Ok(()) => {
                if !self.stats.last_write_ok.load(Ordering::Relaxed) {
                    tracing::warn!("AOF write error looks solved, Redis can write again.");
                    self.stats.last_write_ok.store(true, Ordering::Release);
                }
                io.incr_size += data.len() as u64;
                self.stats
                    .current_size
                    .fetch_add(data.len() as u64, Ordering::Relaxed);
                self.written.store(fed, Ordering::Release);
            }
            Err((done, e)) => {
                let now = crate::util::now_ms() / 1000;
                let log = now - io.last_error_log > 30;
                if log {
                    io.last_error_log = now;
                }
                // A partial write is cut off again, so the file never holds half a command.
                let mut kept = done;
                if done > 0 {
                    if log {
                        tracing::warn!(
                            "Short write while writing to the AOF file: (nwritten={done}, expected={})",
                            data.len()
                        );
                    }
                    if file.set_len(io.incr_size).is_ok() {
                        kept = 0;
                    } else if log {
                        tracing::warn!("Could not remove short write from the append-only file.  Redis may refuse to load the AOF the next time it starts.  ftruncate: {e}");
                    }
                } else if log {
                    tracing::warn!("Error writing to the AOF file: {e}");
                }
                let errno = e.raw_os_error().unwrap_or(libc_enospc());
                self.stats.last_write_errno.store(
                    if done > 0 { libc_enospc() } else { errno },
                    Ordering::Relaxed,
                );
                if policy == FSYNC_ALWAYS {
                    tracing::warn!("Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting...");
                    std::process::exit(1);
                }
                self.stats.last_write_ok.store(false, Ordering::Release);
                io.incr_size += kept as u64;
                self.stats
                    .current_size
                    .fetch_add(kept as u64, Ordering::Relaxed);
                // The rest goes back in front of what was fed meanwhile, to retry.
                let mut b = self.buf.lock();
                let mut again = BytesMut::from(&data[kept..]);
                again.extend_from_slice(&b.data);
                b.data = again;
                self.written.fetch_add(kept as u64, Ordering::Release);
                return;
            }
        }
        self.after_write(io, fed, policy, hold);
    }

    /// Everything up to `fed` is written: with `always` it is fsynced (unless `hold`) and the
    /// replies waiting for it may go. Under another policy only replies still waiting from
    /// an `always` period are let go (an `everysec` write is no promise for a later `always`).
    fn after_write(&self, io: &mut Io, fed: u64, policy: u8, hold: bool) {
        if policy == FSYNC_ALWAYS {
            if io.synced != io.incr_size && !hold {
                self.fsync_now(io);
            }
            self.release(fed);
        } else if self.requested.load(Ordering::SeqCst) > self.durable.load(Ordering::Acquire) {
            self.release(fed);
        }
    }

    /// fdatasync of the current file (`always`), exiting on failure as Redis does: the
    /// replies of the writes it covers are about to go out.
    fn fsync_now(&self, io: &mut Io) {
        let Some(file) = io.file.as_ref() else { return };
        if let Err(e) = file.sync_data() {
            tracing::warn!("Can't persist AOF for fsync error when the AOF fsync policy is 'always': {e}. Exiting...");
            std::process::exit(1);
        }
        io.synced = io.incr_size;
        io.last_fsync = crate::util::now_ms() / 1000;
    }

    /// The AOF thread's tick (about every 100 ms): writes what is buffered (replies alone
    /// trigger writes otherwise) and, with `everysec`, fsyncs once a second outside the lock.
    pub fn tick(&self, no_fsync_now: bool) {
        if !self.is_on() {
            return;
        }
        let to_sync = {
            let mut io = self.io.lock();
            self.flush_locked(&mut io, no_fsync_now);
            let now = crate::util::now_ms() / 1000;
            if self.fsync_policy() == FSYNC_EVERYSEC
                && !no_fsync_now
                && io.synced != io.incr_size
                && now > io.last_fsync
            {
                io.last_fsync = now;
                let size = io.incr_size;
                io.file
                    .as_ref()
                    .and_then(|f| f.try_clone().ok())
                    .map(|f| (f, size))
            } else {
                None
            }
        };
        if let Some((file, size)) = to_sync {
            self.stats.fsync_in_progress.store(true, Ordering::Release);
            let ok = file.sync_data();
            self.stats.fsync_in_progress.store(false, Ordering::Release);
            match ok {
                Ok(()) => {
                    let mut io = self.io.lock();
                    if io.synced < size && io.incr_size >= size {
                        io.synced = size;
                    }
                }
                Err(e) => tracing::warn!("Fsync of the AOF file failed: {e}"),
            }
        }
    }

    /// Starts writing to the AOF at startup (redis `aofOpenIfNeededOnServerStart`): the
    /// directory exists, a base is written when there is none and no incremental file
    /// either, the last incremental file is opened for appending, the manifest persisted.
    pub fn open_on_start(&self, server: &Server, mut manifest: Manifest) -> Result<(), String> {
        let (dir, filename, rdb) = names(server);
        std::fs::create_dir_all(&dir).map_err(|e| {
            format!(
                "Can't open or create append-only dir {}: {e}",
                dir.display()
            )
        })?;
        if manifest.is_empty() {
            let base = manifest.new_base(&filename, rdb);
            rewrite::write_base_now(server, &dir.join(&base), rdb)?;
            tracing::info!("Creating AOF base file {base} on server start");
        }
        let had_incr = !manifest.incr.is_empty();
        let name = manifest.last_incr(&filename);
        let file = open_append(&dir.join(&name))
            .map_err(|e| format!("Can't open the append-only file {name}: {e}"))?;
        manifest.persist(&dir, &filename)?;
        let incr_size = file.metadata().map(|m| m.len()).unwrap_or(0);
        if had_incr {
            tracing::info!("Opening AOF incr file {name} on server start");
        } else {
            tracing::info!("Creating AOF incr file {name} on server start");
        }
        let mut io = self.io.lock();
        io.file = Some(file);
        io.dir = dir;
        io.filename = filename;
        io.manifest = manifest;
        io.incr_size = incr_size;
        io.synced = incr_size;
        io.last_fsync = crate::util::now_ms() / 1000;
        self.buf.lock().db = None;
        self.state.store(ON, Ordering::Release);
        Ok(())
    }

    /// Stops writing (CONFIG SET appendonly no): flush, fsync, close; a running rewrite is
    /// abandoned (redis `stopAppendOnly`).
    pub fn stop(&self, server: &Server) {
        {
            let mut io = self.io.lock();
            self.flush_locked(&mut io, false);
            if let Some(f) = io.file.take() {
                if let Err(e) = f.sync_data() {
                    tracing::warn!("Fail to fsync the AOF file: {e}");
                }
            }
            io.incr_size = 0;
            io.synced = 0;
            self.state.store(OFF, Ordering::Release);
            let mut b = self.buf.lock();
            b.data.clear();
            b.db = None;
            let fed = self.fed.load(Ordering::Acquire);
            self.written.store(fed, Ordering::Release);
            self.release(fed);
        }
        self.stats.rewrite_scheduled.store(false, Ordering::Relaxed);
        rewrite::kill(server);
    }

    /// Flushes and fsyncs before the process exits (shutdown).
    pub fn shutdown(&self) {
        if !self.is_on() {
            return;
        }
        let mut io = self.io.lock();
        self.flush_locked(&mut io, false);
        if let Some(f) = io.file.as_ref() {
            if let Err(e) = f.sync_data() {
                tracing::warn!("Fail to fsync the AOF file: {e}");
            }
        }
    }

    /// Takes the manifest read at startup (whether the AOF is on or not, as Redis).
    pub fn init(&self, dir: PathBuf, filename: String, manifest: Manifest) {
        let mut io = self.io.lock();
        io.dir = dir;
        io.filename = filename;
        io.manifest = manifest;
    }

    /// At a rewrite's instant (every shard held): what is buffered goes to the current file,
    /// and writing moves to a new incremental file, added to the manifest (or, while the AOF
    /// waits for its first base, to a temporary one). Redis `openNewIncrAofForAppend`.
    fn open_new_incr(&self) -> Result<(), String> {
        let mut io = self.io.lock();
        self.flush_locked(&mut io, false);
        let state = self.state();
        if state == OFF {
            return Ok(());
        }
        let (name, manifest) = if state == WAIT_REWRITE {
            (rewrite::temp_incr_name(&io.filename), None)
        } else {
            let mut m = io.manifest.clone();
            let n = m.new_incr(&io.filename);
            (n, Some(m))
        };
        let path = io.dir.join(&name);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| format!("Can't open the append-only file {name}: {e}"))?;
        if let Some(m) = manifest {
            m.persist(&io.dir, &io.filename)?;
            io.manifest = m;
        }
        tracing::info!("Creating AOF incr file {name} on background rewrite");
        if let Some(old) = io.file.replace(file) {
            // The old file's last writes reach the disk in the background (everysec
            // allows it; with always they are there already).
            let _ = crate::util::spawn_background("aof-close", move || {
                let _ = old.sync_data();
            });
        }
        io.incr_size = 0;
        io.synced = 0;
        io.last_fsync = crate::util::now_ms() / 1000;
        self.buf.lock().db = None;
        Ok(())
    }

    /// A finished rewrite's file becomes the base (redis `backgroundRewriteDoneHandler`):
    /// renamed into the directory, the temporary incremental file of a first rewrite named,
    /// the replaced files marked history, the manifest persisted, history deleted.
    fn install_rewrite(&self, tmp: &Path, rdb: bool) -> Result<(), String> {
        let mut io = self.io.lock();
        let dir = io.dir.clone();
        let filename = io.filename.clone();
        let mut m = io.manifest.clone();
        let base = m.new_base(&filename, rdb);
        let base_path = dir.join(&base);
        std::fs::rename(tmp, &base_path).map_err(|e| {
            format!(
                "Error trying to rename the temporary AOF base file {} into {}: {e}",
                tmp.display(),
                base_path.display()
            )
        })?;
        tracing::info!(
            "Successfully renamed the temporary AOF base file {} into {base}",
            tmp.display()
        );
        let mut new_incr = None;
        if self.state() == WAIT_REWRITE {
            let temp = rewrite::temp_incr_name(&filename);
            let incr = m.new_incr(&filename);
            if let Err(e) = std::fs::rename(dir.join(&temp), dir.join(&incr)) {
                let _ = std::fs::remove_file(&base_path);
                return Err(format!(
                    "Error trying to rename the temporary AOF incr file {temp} into {incr}: {e}"
                ));
            }
            tracing::info!("Successfully renamed the temporary AOF incr file {temp} into {incr}");
            new_incr = Some(dir.join(incr));
        }
        m.retire_incr(io.file.is_some());
        if let Err(e) = m.persist(&dir, &filename) {
            let _ = std::fs::remove_file(&base_path);
            if let Some(p) = new_incr {
                let _ = std::fs::remove_file(p);
            }
            return Err(e);
        }
        io.manifest = m;
        if self.state() == WAIT_REWRITE {
            self.state.store(ON, Ordering::Release);
        }
        if self.state() != OFF {
            let size = std::fs::metadata(&base_path).map(|m| m.len()).unwrap_or(0) + io.incr_size;
            self.set_sizes(size, size);
        }
        let gc = !self.gc_disabled.load(Ordering::Relaxed);
        if gc {
            del_history(&mut io);
        }
        Ok(())
    }

    /// After a failed first rewrite: the temporary incremental file and what was buffered
    /// for it are dropped (the next attempt's snapshot will hold those writes), and the next
    /// attempt is scheduled. The rewrite stops being in progress before the removal is
    /// logged, under the file lock a new rewrite's start waits for: a client that reads the
    /// line and then INFO never finds the dead rewrite still running (this runs on an idle-
    /// priority thread, which a loaded machine can hold for long between two steps).
    fn drop_temp_incr(&self) {
        let mut io = self.io.lock();
        self.stats.rewrite_scheduled.store(true, Ordering::Relaxed);
        self.stats
            .rewrite_in_progress
            .store(false, Ordering::Release);
        io.file = None;
        io.incr_size = 0;
        io.synced = 0;
        let temp = io.dir.join(rewrite::temp_incr_name(&io.filename));
        tracing::info!(
            "Removing the temp incr aof file {} in the background",
            rewrite::temp_incr_name(&io.filename)
        );
        unlink_in_background(&temp);
        let mut b = self.buf.lock();
        b.data.clear();
        b.db = None;
        let fed = self.fed.load(Ordering::Acquire);
        self.written.store(fed, Ordering::Release);
        self.release(fed);
    }

    /// Deletes the history files now (startup, DEBUG LOADAOF) unless `aof-disable-auto-gc`.
    pub fn delete_history(&self) {
        if self.gc_disabled.load(Ordering::Relaxed) {
            return;
        }
        del_history(&mut self.io.lock());
    }

    /// CONFIG SET appendonly yes (redis `startAppendOnly`): the AOF waits for a first rewrite,
    /// now or as soon as the running snapshot ends; writes go to a temporary incremental file
    /// from the rewrite's instant on.
    pub fn start(&self, server: &std::sync::Arc<Server>, in_exec: bool) -> Result<(), Logged> {
        let (dir, filename, _) = names(server);
        {
            let mut io = self.io.lock();
            io.dir = dir;
            io.filename = filename;
            io.last_fsync = crate::util::now_ms() / 1000;
        }
        self.state.store(WAIT_REWRITE, Ordering::Release);
        if server.snapshot_slot.is_busy() && !self.stats.rewrite_in_progress.load(Ordering::Acquire)
        {
            self.stats.rewrite_scheduled.store(true, Ordering::Relaxed);
            tracing::warn!("AOF was enabled but there is already another background operation. An AOF background was scheduled to start when possible.");
        } else if in_exec {
            self.stats.rewrite_scheduled.store(true, Ordering::Relaxed);
            tracing::warn!("AOF was enabled during a transaction. An AOF background was scheduled to start when possible.");
        } else {
            if self.stats.rewrite_in_progress.load(Ordering::Acquire) {
                tracing::warn!("AOF was enabled but there is already an AOF rewriting in background. Stopping background AOF and starting a rewrite now.");
                rewrite::kill(server);
            }
            if rewrite::start(server).is_err() {
                self.state.store(OFF, Ordering::Release);
                tracing::warn!("Redis needs to enable the AOF but can't trigger a background AOF rewrite operation. Check the above logs for more info about the error.");
                return Err(Logged);
            }
        }
        if !self.stats.last_write_ok.load(Ordering::Relaxed) {
            tracing::warn!("AOF reopen, just ignore the last error.");
            self.stats.last_write_ok.store(true, Ordering::Relaxed);
        }
        Ok(())
    }

    /// A copy of the manifest in use, and the directory and file name it describes.
    pub fn manifest(&self) -> (Manifest, PathBuf, String) {
        let io = self.io.lock();
        (io.manifest.clone(), io.dir.clone(), io.filename.clone())
    }

    /// Base size for the automatic rewrite's growth rule, from the files on disk.
    pub fn set_sizes(&self, current: u64, base: u64) {
        self.stats.current_size.store(current, Ordering::Relaxed);
        self.stats.base_size.store(base, Ordering::Relaxed);
    }
}

/// Deletes the manifest's history files and persists it (redis `aofDelHistoryFiles`).
fn del_history(io: &mut Io) {
    if io.manifest.history.is_empty() {
        return;
    }
    for h in std::mem::take(&mut io.manifest.history) {
        tracing::info!("Removing the history file {} in the background", h.name);
        unlink_in_background(&io.dir.join(&h.name));
    }
    if let Err(e) = io.manifest.persist(&io.dir, &io.filename) {
        tracing::warn!("{e}");
    }
}

/// Removes a file's name now and frees its blocks on another thread (redis `bg_unlink`: the
/// last close of a big file is what takes time).
pub fn unlink_in_background(path: &Path) {
    let open = File::open(path);
    if std::fs::remove_file(path).is_err() {
        return;
    }
    if let Ok(f) = open {
        let _ = crate::util::spawn_background("aof-unlink", move || drop(f));
    }
}

fn select(b: &mut Buf, db: usize) {
    if b.db != Some(db) {
        let mut n = itoa::Buffer::new();
        let arg = Bytes::copy_from_slice(n.format(db).as_bytes());
        encode_command(&mut b.data, &[Bytes::from_static(b"SELECT"), arg]);
        b.db = Some(db);
    }
}

fn libc_enospc() -> i32 {
    28
}

/// `write` until done; on an error, how much was written before it.
fn write_all(file: &mut File, mut data: &[u8]) -> Result<(), (usize, std::io::Error)> {
    let total = data.len();
    while !data.is_empty() {
        match file.write(data) {
            Ok(0) => {
                return Err((
                    total - data.len(),
                    std::io::Error::from_raw_os_error(libc_enospc()),
                ))
            }
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err((total - data.len(), e)),
        }
    }
    Ok(())
}

/// Opens (creating) a file for appending.
pub fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().append(true).create(true).open(path)
}

/// The AOF directory, the file name prefix, and whether a base is written as RDB.
pub fn names(server: &Server) -> (PathBuf, String, bool) {
    let c = server.config.read();
    (
        PathBuf::from(&c.appenddirname),
        c.appendfilename.clone(),
        c.aof_use_rdb_preamble,
    )
}

/// The text of an errno (Redis's MISCONF message carries `strerror`).
pub fn strerror(errno: i32) -> String {
    let e = std::io::Error::from_raw_os_error(errno).to_string();
    // Rust appends " (os error N)".
    match e.find(" (os error") {
        Some(i) => e[..i].to_string(),
        None => e,
    }
}

/// The AOF thread: the group commits of `appendfsync always` as soon as a reply waits for
/// one, and every 100 ms what is buffered is written (commands no reply follows, such as a
/// replica's stream or expiry) and, with `everysec`, fsynced once a second. Ends with the
/// server.
pub fn spawn_thread(server: std::sync::Arc<Server>) {
    let weak = std::sync::Arc::downgrade(&server);
    drop(server);
    let spawned = std::thread::Builder::new()
        .name("aof".into())
        .spawn(move || {
            const TICK: std::time::Duration = std::time::Duration::from_millis(100);
            let mut next_tick = std::time::Instant::now() + TICK;
            loop {
                let Some(server) = weak.upgrade() else { return };
                let aof = &server.aof;
                if server.is_shutting_down() {
                    aof.retire_thread();
                    return;
                }
                if aof.thread.get().is_none() {
                    let _ = aof.thread.set(std::thread::current());
                    aof.thread_alive.store(true, Ordering::SeqCst);
                }
                let hold = server.config.read().no_appendfsync_on_rewrite
                    && server.snapshot_slot.is_busy();
                let before = aof.durable.load(Ordering::Acquire);
                aof.commit_if_requested(hold);
                let now = std::time::Instant::now();
                if now >= next_tick {
                    aof.tick(hold);
                    next_tick = now + TICK;
                }
                let durable = aof.durable.load(Ordering::Acquire);
                // Sleeps when no reply waits, or when a commit made no progress (a failing
                // write is retried on the next tick, not in a busy loop).
                let idle = aof.requested.load(Ordering::SeqCst) <= durable || durable == before;
                drop(server);
                if idle {
                    // Woken early by a reply asking for a commit (`wait_durable`).
                    std::thread::park_timeout(next_tick.saturating_duration_since(now));
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("Can't start the AOF thread: {e}");
    }
}
