//! Fork-less, point-in-time snapshots (see `keyspace::Capture` for the copy-on-write rule).
//!
//! `begin` locks every shard for an instant: it bumps the epoch, installs the capture and reads
//! the replication offset, so the snapshot is exactly the dataset at that offset. `Snapshot::
//! write` then walks the shards a few hundred entries at a time (each shard locked only for
//! its chunk), writing entries not saved yet and draining what writers captured ahead of it,
//! into an RDB stream. No fork, no stop-the-world copy; extra memory is the captured backlog.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::rdb::encode::{self, Aux};
use super::rdb::format::{Crc64Digest, CRC64, OPCODE_EOF};
use crate::keyspace::{Capture, Locked, Value, SHARDS};
use crate::server::Server;

/// Why a snapshot stopped when the dataset it was saving got replaced.
pub const ABORTED: &str = "the dataset was replaced (full synchronization) or flushed";

/// Entries handled per shard lock acquisition during the walk.
const CHUNK: usize = 256;

/// How long the walk waits for a shard before asking its holder to capture it (`lend`).
const LEND_AFTER: std::time::Duration = std::time::Duration::from_millis(5);

/// Entries a holder captures per `lend` call.
const LEND_BUDGET: usize = 1024;

/// One turn of the walk on a shard.
enum Step {
    /// A chunk was saved; true when the shard's table is done.
    Walked(bool),
    /// Another holder kept the shard past `LEND_AFTER`.
    Held,
}

/// Called by whoever holds shards for long (a script running past a few milliseconds, at its
/// hook): when the snapshot walk waits for one of them, captures up to `LEND_BUDGET` of their
/// entries into the snapshot, as a writer would before changing them. Redis's fork child
/// saves while the parent runs a long script; here the script's thread does that part, and
/// the walk writes out what it captured, so a snapshot (a replica's sync, BGSAVE, an AOF
/// rewrite) completes during the script.
pub fn lend(server: &Server, locked: &mut Locked<'_>) {
    let (_, Some(cap)) = server.keyspace.capture_state() else {
        return;
    };
    if !cap.lend_wanted.load(Ordering::Acquire) {
        return;
    }
    let mut cursors = cap.lend.lock();
    let mut left = LEND_BUDGET;
    for (s, guard) in locked.guards.iter_mut() {
        let Some(slot) = cursors.get_mut(*s) else {
            continue;
        };
        let Some((mut db, mut i)) = *slot else {
            continue;
        };
        let tables = &mut guard.tables;
        while db < tables.len() && left > 0 {
            let t = &mut tables[db];
            let end = (i + left).min(t.len());
            for j in i..end {
                crate::keyspace::db::capture_index(&cap, db, t, j);
            }
            left -= end - i;
            i = end;
            if i >= t.len() {
                db += 1;
                i = 0;
            }
        }
        *slot = (db < tables.len()).then_some((db, i));
        if left == 0 {
            break;
        }
    }
}

fn encode_compressed(out: &mut Vec<u8>, key: &[u8], v: &Value, expire: Option<i64>) {
    encode::write_entry(out, key, v, expire, true);
}

fn encode_plain(out: &mut Vec<u8>, key: &[u8], v: &Value, expire: Option<i64>) {
    encode::write_entry(out, key, v, expire, false);
}

/// What a snapshot is written as: an RDB stream, or the AOF's command form (a base file with
/// `aof-use-rdb-preamble no`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Rdb { compress: bool },
    Commands,
}

impl Format {
    fn encoder(self) -> fn(&mut Vec<u8>, &[u8], &Value, Option<i64>) {
        match self {
            Format::Rdb { compress: true } => encode_compressed,
            Format::Rdb { compress: false } => encode_plain,
            Format::Commands => crate::persistence::aof::text::write_entry,
        }
    }

    /// How writers encode what they capture ahead of the walk: as the walk does, but never
    /// LZF-compressed. The capture runs on the command path with the shard held, where
    /// compressing a big value would stall its clients (about 2 ms per MB); the entries are
    /// valid RDB all the same, only larger, and their size is what the snapshot holds.
    fn capture_encoder(self) -> fn(&mut Vec<u8>, &[u8], &Value, Option<i64>) {
        match self {
            Format::Rdb { .. } => encode_plain,
            Format::Commands => self.encoder(),
        }
    }

    fn write_entry(self, out: &mut Vec<u8>, key: &[u8], v: &Value, expire: Option<i64>) {
        (self.encoder())(out, key, v, expire)
    }

    fn write_str_entry(
        self,
        out: &mut Vec<u8>,
        key: &[u8],
        s: encode::StrView<'_>,
        expire: Option<i64>,
    ) {
        match self {
            Format::Rdb { compress } => encode::write_str_entry(out, key, s, expire, compress),
            Format::Commands => match s {
                encode::StrView::Int(i) => crate::persistence::aof::text::write_str_entry(
                    out,
                    key,
                    itoa::Buffer::new().format(i).as_bytes(),
                    expire,
                ),
                encode::StrView::Bytes(b) => {
                    crate::persistence::aof::text::write_str_entry(out, key, b, expire)
                }
            },
        }
    }
}

/// Entries copied out of a shard during the walk, encoded once its lock is released. Key and
/// string bytes are copied into an arena rather than cloned: cloning a `Bytes` made from a
/// `Vec` turns it into a shared allocation for good (an extra allocation per key).
#[derive(Default)]
struct Copies {
    items: Vec<Copied>,
}

enum Copied {
    Str {
        key: std::ops::Range<usize>,
        int: Option<i64>,
        val: std::ops::Range<usize>,
        expire: Option<i64>,
    },
    Other {
        key: std::ops::Range<usize>,
        value: Value,
        expire: Option<i64>,
    },
}

impl Copies {
    fn push(&mut self, arena: &mut Vec<u8>, key: &[u8], v: &Value, expire: Option<i64>) {
        let mut put = |b: &[u8]| {
            let start = arena.len();
            arena.extend_from_slice(b);
            start..arena.len()
        };
        let key = put(key);
        self.items.push(match v {
            Value::Str(crate::keyspace::Str::Int(i)) => Copied::Str {
                key,
                int: Some(*i),
                val: 0..0,
                expire,
            },
            Value::Str(s) => Copied::Str {
                key,
                int: None,
                val: put(s.bytes().unwrap_or_default()),
                expire,
            },
            other => Copied::Other {
                key,
                value: other.clone(),
                expire,
            },
        });
    }

    fn encode(&mut self, arena: &mut Vec<u8>, out: &mut Vec<u8>, format: Format) {
        for c in self.items.drain(..) {
            match c {
                Copied::Str {
                    key,
                    int,
                    val,
                    expire,
                } => {
                    let view = match int {
                        Some(i) => encode::StrView::Int(i),
                        None => encode::StrView::Bytes(&arena[val]),
                    };
                    format.write_str_entry(out, &arena[key], view, expire);
                }
                Copied::Other { key, value, expire } => {
                    format.write_entry(out, &arena[key], &value, expire);
                }
            }
        }
        arena.clear();
    }
}

/// Only one snapshot walks the keyspace at a time.
#[derive(Default)]
pub struct SnapshotSlot {
    busy: AtomicBool,
    /// Snapshots started (INFO `total_forks`: each stands where Redis forks).
    pub started: std::sync::atomic::AtomicU64,
    /// Microseconds the last one held every shard (INFO `latest_fork_usec`).
    pub latest_begin_us: std::sync::atomic::AtomicU64,
    /// The running one's progress (INFO `current_save_keys_*`, `current_cow_size`).
    progress: Progress,
    /// Bytes writers captured during the last one that ended (`rdb_last_cow_size`).
    pub last_cow_bytes: std::sync::atomic::AtomicU64,
}

/// How far the running snapshot got: keys at its instant, keys written (by the walk or
/// captured by writers), and bytes writers captured ahead of the walk, which is what a
/// snapshot costs in memory here (Redis's child reports its copy-on-write pages).
#[derive(Default)]
struct Progress {
    keys_total: std::sync::atomic::AtomicU64,
    keys_done: std::sync::atomic::AtomicU64,
    cow_bytes: std::sync::atomic::AtomicU64,
}

impl SnapshotSlot {
    pub fn is_busy(&self) -> bool {
        self.busy.load(Ordering::Acquire)
    }

    /// (keys at the instant, keys written, bytes captured) of the running snapshot; zeros
    /// when none runs.
    pub fn progress(&self) -> (u64, u64, u64) {
        let p = &self.progress;
        (
            p.keys_total.load(Ordering::Relaxed),
            p.keys_done.load(Ordering::Relaxed),
            p.cow_bytes.load(Ordering::Relaxed),
        )
    }
}

/// A started snapshot: the instant is fixed, the walk has not run yet.
pub struct Snapshot {
    cap: Arc<Capture>,
    /// The function libraries' code at the instant.
    functions: Vec<bytes::Bytes>,
    /// (keys, keys with an expiry) per database at the instant.
    sizes: Vec<(u64, u64)>,
    pub offset: u64,
    /// The database the replication stream is positioned in at `offset` (repl-stream-db).
    stream_db: usize,
    pub replid: String,
    pub ctime: i64,
    format: Format,
    /// A command-form base starts with a `#TS:` annotation (`aof-timestamp-enabled`).
    aof_timestamp: bool,
    /// `rdb-key-save-delay` when the snapshot began (a forked child's copy of it in Redis).
    key_save_delay: i64,
    /// The keys are left out (`REPLCONF rdb-filter-only`).
    no_data: bool,
    slot_released: bool,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SnapshotStats {
    pub keys: u64,
    pub bytes: u64,
    /// Bytes writers captured ahead of the walk (the copy-on-write cost).
    pub captured_bytes: u64,
}

/// Fixes the snapshot instant. `None` if another snapshot is running.
pub fn begin(server: &Server, compress: bool) -> Option<Snapshot> {
    begin_with(server, Format::Rdb { compress }, || Ok(())).ok()
}

/// Why `begin_with` did not start a snapshot.
#[derive(Debug)]
pub enum BeginError {
    /// Another snapshot is running.
    Busy,
    /// The hook failed (its reason).
    Hook(String),
}

/// Fixes the snapshot instant, running `at_instant` while every shard is held (nothing
/// changes meanwhile: the AOF moves to a new file there, so the snapshot plus that file is
/// the whole history). A failing hook gives the snapshot up.
pub fn begin_with(
    server: &Server,
    format: Format,
    at_instant: impl FnOnce() -> Result<(), String>,
) -> Result<Snapshot, BeginError> {
    if server.snapshot_slot.busy.swap(true, Ordering::AcqRel) {
        return Err(BeginError::Busy);
    }
    let held = std::time::Instant::now();
    let mut all = server.keyspace.lock_all();
    // Each database's size at the instant, for the RESIZEDB hints loaders pre-size with.
    let mut sizes = vec![(0u64, 0u64); server.keyspace.databases()];
    for shard in all.shards_mut() {
        for (db, t) in shard.tables.iter().enumerate() {
            sizes[db].0 += t.len() as u64;
            sizes[db].1 += t.volatile_len() as u64;
        }
    }
    if let Err(e) = at_instant() {
        drop(all);
        server.snapshot_slot.busy.store(false, Ordering::Release);
        return Err(BeginError::Hook(e));
    }
    let cap = server
        .keyspace
        .begin_capture(&all, format.capture_encoder());
    let (offset, stream_db) = server.repl.stream.position();
    let replid = server.repl.ids.lock().replid.clone();
    let functions = server.scripting.library_codes();
    // The stream restarts with a SELECT, so a replica loading this snapshot needs no db state.
    server.repl.stream.reset_db();
    drop(all);
    let slot = &server.snapshot_slot;
    slot.progress
        .keys_total
        .store(sizes.iter().map(|s| s.0).sum(), Ordering::Relaxed);
    slot.progress.keys_done.store(0, Ordering::Relaxed);
    slot.progress.cow_bytes.store(0, Ordering::Relaxed);
    slot.started.fetch_add(1, Ordering::Relaxed);
    slot.latest_begin_us
        .store(held.elapsed().as_micros() as u64, Ordering::Relaxed);
    Ok(Snapshot {
        cap,
        functions,
        sizes,
        offset,
        stream_db,
        replid,
        ctime: crate::util::now_ms() / 1000,
        format,
        aof_timestamp: server.config.read().aof_timestamp_enabled,
        key_save_delay: server.config.read().rdb_key_save_delay,
        no_data: false,
        slot_released: false,
    })
}

/// `rdb-key-save-delay`'s pause, cut short when the snapshot is given up (Redis kills its
/// child, which stops at once). False if it was.
fn pause_unless_aborted(usec: i64, aborted: &AtomicBool) -> bool {
    if usec <= 0 {
        crate::util::debug_delay(usec);
        return !aborted.load(Ordering::Acquire);
    }
    let end = std::time::Instant::now() + std::time::Duration::from_micros(usec as u64);
    loop {
        if aborted.load(Ordering::Acquire) {
            return false;
        }
        let now = std::time::Instant::now();
        if now >= end {
            return true;
        }
        std::thread::sleep((end - now).min(std::time::Duration::from_millis(5)));
    }
}

/// Gives up the running snapshot (its walk stops at the next key): a killed AOF rewrite.
pub fn abort(server: &Server) {
    if let (_, Some(cap)) = server.keyspace.capture_state() {
        cap.aborted.store(true, Ordering::Release);
    }
}

/// Ends the running snapshot's capture and frees the slot (its `Snapshot` is gone).
pub fn release(server: &Server) {
    crate::util::boosted(|| server.keyspace.end_capture());
    let slot = &server.snapshot_slot;
    let p = &slot.progress;
    slot.last_cow_bytes
        .store(p.cow_bytes.swap(0, Ordering::Relaxed), Ordering::Relaxed);
    p.keys_total.store(0, Ordering::Relaxed);
    p.keys_done.store(0, Ordering::Relaxed);
    slot.busy.store(false, Ordering::Release);
}

/// Writes RDB bytes with a running CRC and the current SELECTDB state (or, for the command
/// form, SELECT commands).
struct RdbSink<W: Write> {
    out: W,
    format: Format,
    crc: Crc64Digest,
    db: Option<usize>,
    bytes: u64,
    /// Per database: its RESIZEDB hint, until it is written after the first SELECTDB.
    hints: Vec<Option<(u64, u64)>>,
}

impl<W: Write> RdbSink<W> {
    /// Writes the header and the function libraries; `sizes` are the RESIZEDB hints, (keys,
    /// expires) per database.
    fn start(
        out: W,
        sizes: Vec<(u64, u64)>,
        aux: &Aux,
        functions: &[bytes::Bytes],
        format: Format,
        timestamp: bool,
    ) -> io::Result<Self> {
        let mut sink = RdbSink {
            out,
            format,
            crc: CRC64.digest(),
            db: None,
            bytes: 0,
            hints: sizes.into_iter().map(Some).collect(),
        };
        let mut header = Vec::new();
        match format {
            Format::Rdb { .. } => {
                encode::write_header(&mut header, aux);
                encode::write_functions(&mut header, functions);
            }
            Format::Commands => {
                if timestamp {
                    header.extend_from_slice(format!("#TS:{}\r\n", aux.ctime).as_bytes());
                }
                for code in functions {
                    crate::persistence::aof::text::command(
                        &mut header,
                        &[b"FUNCTION", b"LOAD", code],
                    );
                }
            }
        }
        sink.raw(&header)?;
        Ok(sink)
    }

    /// Writes EOF and the checksum; returns the bytes written in all.
    fn finish(mut self) -> io::Result<u64> {
        if self.format == Format::Commands {
            self.out.flush()?;
            return Ok(self.bytes);
        }
        self.raw(&[OPCODE_EOF])?;
        let crc = self.crc.clone().finalize();
        self.out.write_all(&crc.to_le_bytes())?;
        self.bytes += 8;
        self.out.flush()?;
        Ok(self.bytes)
    }

    fn raw(&mut self, b: &[u8]) -> io::Result<()> {
        if b.is_empty() {
            return Ok(());
        }
        self.crc.update(b);
        self.bytes += b.len() as u64;
        self.out.write_all(b)
    }

    fn entries(&mut self, db: usize, b: &[u8]) -> io::Result<()> {
        if b.is_empty() {
            return Ok(());
        }
        if self.db != Some(db) {
            let mut sel = Vec::new();
            if self.format == Format::Commands {
                let n = itoa::Buffer::new().format(db).to_string();
                crate::persistence::aof::text::command(&mut sel, &[b"SELECT", n.as_bytes()]);
                self.raw(&sel)?;
                self.db = Some(db);
                return self.raw(b);
            }
            encode::write_select_db(&mut sel, db);
            if let Some((keys, expires)) = self.hints.get_mut(db).and_then(Option::take) {
                encode::write_resize_db(&mut sel, keys, expires);
            }
            self.raw(&sel)?;
            self.db = Some(db);
        }
        self.raw(b)
    }
}

impl Snapshot {
    /// Leaves the keys and/or the function libraries out of the RDB (redis-cli
    /// --functions-rdb's `REPLCONF rdb-filter-only functions`); the header stays.
    pub fn leave_out(&mut self, data: bool, functions: bool) {
        self.no_data |= data;
        if functions {
            self.functions.clear();
        }
    }

    /// Something that gives this snapshot's walk up from another thread (its writer
    /// process died): the walk stops at its next key, or pause.
    pub fn abort_handle(&self) -> impl FnOnce() + Send + 'static {
        let cap = self.cap.clone();
        move || cap.aborted.store(true, Ordering::Release)
    }

    /// Walks the keyspace and writes the whole RDB (header to checksum) to `out`. Blocking.
    pub fn write<W: Write>(mut self, server: &Server, out: W) -> io::Result<SnapshotStats> {
        let res = self.walk(server, out);
        self.finish(server);
        res
    }

    fn walk<W: Write>(&mut self, server: &Server, out: W) -> io::Result<SnapshotStats> {
        let mut sink = RdbSink::start(
            out,
            self.sizes.clone(),
            &Aux {
                ctime: self.ctime,
                used_mem: crate::server::memory::used_memory(),
                repl_stream_db: self.stream_db as i64,
                repl_id: self.replid.clone(),
                repl_offset: self.offset as i64,
            },
            &self.functions,
            self.format,
            self.aof_timestamp,
        )?;
        let mut stats = SnapshotStats::default();
        if self.no_data {
            stats.bytes = sink.finish()?;
            return Ok(stats);
        }
        let ndbs = server.keyspace.databases();
        let mut buf = Vec::with_capacity(64 * 1024);
        let mut copies = Copies::default();
        let mut arena: Vec<u8> = Vec::with_capacity(64 * 1024);
        let mut patience = crate::util::Patience::default();
        let mut captured_keys = 0u64;
        // A save slowed down for tests goes one key at a time, each out before the pause.
        let (chunk, delay) = match self.key_save_delay {
            0 => (CHUNK, 0),
            d => (1, d),
        };
        for db in 0..ndbs {
            for s in 0..SHARDS {
                let mut i = 0;
                loop {
                    if self.cap.lend.lock()[s].is_none() {
                        // A holder captured the whole shard (`lend`).
                        break;
                    }
                    patience.tick();
                    buf.clear();
                    // At normal priority while the shard is held: see `util::boosted`.
                    let step = crate::util::boosted(|| {
                        let Some(mut locked) = server.keyspace.try_lock_shard_for(s, LEND_AFTER)
                        else {
                            return Some(Ok(Step::Held));
                        };
                        let shard = locked.shards_mut().next()?;
                        if self.cap.aborted.load(Ordering::Acquire) {
                            return Some(Err(()));
                        }
                        let t = &mut shard.tables[db];
                        let end = (i + chunk).min(t.len());
                        for j in i..end {
                            if let Some((k, e, expire)) = t.get_index_full(j) {
                                if e.ver < self.cap.epoch {
                                    e.ver = self.cap.epoch;
                                    // Copy what is cheap to copy and encode it after the lock
                                    // is released: the lock is held as briefly as possible.
                                    if e.value.cheap_to_clone() {
                                        copies.push(&mut arena, k, &e.value, expire);
                                    } else {
                                        self.format.write_entry(&mut buf, k, &e.value, expire);
                                    }
                                    stats.keys += 1;
                                }
                            }
                        }
                        i = end;
                        Some(Ok(Step::Walked(end >= t.len())))
                    });
                    let done = match step {
                        None => break,
                        Some(Err(())) => {
                            return Err(io::Error::new(io::ErrorKind::Interrupted, ABORTED))
                        }
                        Some(Ok(Step::Walked(done))) => done,
                        Some(Ok(Step::Held)) => {
                            // Its holder captures the shard for us: write out what it did.
                            self.cap.lend_wanted.store(true, Ordering::Release);
                            self.drain(&mut sink, &mut stats)?;
                            if self.cap.lend.lock()[s].is_none() {
                                break;
                            }
                            continue;
                        }
                    };
                    copies.encode(&mut arena, &mut buf, self.format);
                    let wrote = !buf.is_empty();
                    sink.entries(db, &buf)?;
                    let drained = self.drain(&mut sink, &mut stats)?;
                    captured_keys += drained;
                    let progress = &server.snapshot_slot.progress;
                    progress
                        .keys_done
                        .store(stats.keys + captured_keys, Ordering::Relaxed);
                    progress
                        .cow_bytes
                        .store(stats.captured_bytes, Ordering::Relaxed);
                    // Each key saved, by the walk or captured by a writer, pauses the save as
                    // Redis's child pauses per key.
                    let keys = u64::from(wrote) + drained;
                    if delay != 0 && keys > 0 {
                        sink.out.flush()?;
                        for _ in 0..keys {
                            if !pause_unless_aborted(delay, &self.cap.aborted) {
                                return Err(io::Error::new(io::ErrorKind::Interrupted, ABORTED));
                            }
                        }
                    }
                    if done {
                        break;
                    }
                }
            }
        }
        let _ = self.drain(&mut sink, &mut stats)?;
        stats.bytes = sink.finish()?;
        Ok(stats)
    }

    /// Writes out what writers captured ahead of the walk; returns how many entries that was.
    fn drain<W: Write>(&self, sink: &mut RdbSink<W>, stats: &mut SnapshotStats) -> io::Result<u64> {
        // Writers capture into `pending` under the same lock: held at normal priority.
        let taken = match crate::util::boosted(|| {
            let mut p = self.cap.pending.lock();
            if p.iter().all(Vec::is_empty) {
                return None;
            }
            let n = self.cap.captured.swap(0, Ordering::Relaxed);
            Some((p.iter_mut().map(std::mem::take).collect::<Vec<_>>(), n))
        }) {
            Some(t) => t,
            None => return Ok(0),
        };
        let (taken, n) = taken;
        for (db, b) in taken.iter().enumerate() {
            stats.captured_bytes += b.len() as u64;
            sink.entries(db, b)?;
        }
        Ok(n)
    }

    fn finish(&mut self, server: &Server) {
        if !self.slot_released {
            release(server);
            self.slot_released = true;
        }
    }

    /// Gives up a snapshot that will not be written (its replica left before the walk).
    pub fn abandon(mut self, server: &Server) {
        self.finish(server);
    }
}

/// Writes the whole dataset of `all` (every shard locked by the caller, so it is one instant)
/// as an RDB stream, without a snapshot slot or capture: DEBUG RELOAD, which holds the
/// keyspace for its whole run as Redis blocks for its `rdbSave`. Entries are not stamped, so a
/// background snapshot in progress is not disturbed. Returns the keys written.
pub fn write_locked<W: Write>(
    server: &Server,
    all: &mut Locked<'_>,
    compress: bool,
    out: W,
) -> io::Result<u64> {
    let ndbs = server.keyspace.databases();
    let (offset, stream_db) = server.repl.stream.position();
    let mut sizes = vec![(0u64, 0u64); ndbs];
    for shard in all.shards_mut() {
        for (db, t) in shard.tables.iter().enumerate() {
            sizes[db].0 += t.len() as u64;
            sizes[db].1 += t.volatile_len() as u64;
        }
    }
    let mut sink = RdbSink::start(
        out,
        sizes,
        &Aux {
            ctime: crate::util::now_ms() / 1000,
            used_mem: crate::server::memory::used_memory(),
            repl_stream_db: stream_db as i64,
            repl_id: server.repl.ids.lock().replid.clone(),
            repl_offset: offset as i64,
        },
        &server.scripting.library_codes(),
        Format::Rdb { compress },
        false,
    )?;
    let mut keys = 0;
    let mut buf = Vec::with_capacity(64 * 1024);
    for db in 0..ndbs {
        for shard in all.shards_mut() {
            let t = &shard.tables[db];
            for (k, e, expire) in t.iter_full() {
                encode::write_entry(&mut buf, k, &e.value, expire, compress);
                keys += 1;
                if buf.len() >= 64 * 1024 {
                    sink.entries(db, &buf)?;
                    buf.clear();
                }
            }
        }
        sink.entries(db, &buf)?;
        buf.clear();
    }
    sink.finish()?;
    Ok(keys)
}
