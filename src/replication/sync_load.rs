//! The replica's side of a full resynchronization: receiving the master's snapshot and turning
//! it into the dataset, per `repl-diskless-load` (redis `readSyncBulkPayload`):
//!
//! - `disabled`: the payload goes to a temp file in `dir`; then the old data is flushed, the
//!   file is loaded (clients get -LOADING meanwhile) and renamed to `dbfilename`. Memory never
//!   holds two datasets. When the dataset is empty anyway, the payload is also parsed while it
//!   arrives (the file is still written), which saves the reload.
//! - `swapdb`: the payload is parsed straight from the socket into a dataset built beside the
//!   live one, which keeps serving until the new one replaces it in one step (two datasets in
//!   memory for the duration, as in Redis).
//! - `on-empty-db`: as `swapdb` when the dataset is empty, otherwise as `disabled`.
//!
//! After the `$` header the whole transfer runs on one background thread (idle CPU priority,
//! see `util::spawn_background`) that owns the socket: it reads the payload, writes the file,
//! and feeds the parser by pulling from the socket, so a slow parser slows the transfer rather
//! than buffering it, and the receiving never takes a client-serving worker's core. The payload is accepted only when
//! complete (length reached, or the `$EOF:` mark found) and entirely valid (checksum included);
//! until then nothing of the old dataset has been touched. In `disabled` mode with data the
//! file's checksum is verified before the flush; only a file with a valid checksum that still
//! fails to load (an incompatible master) leaves an empty dataset, as in Redis.

use std::fs::File;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use super::replica::{read_line, LinkError};
use super::transport::{self, LinkStream};
use crate::persistence::load::{self, LoadReport, Staged};
use crate::persistence::rdb::decode::RdbError;
use crate::persistence::rdb::format::CRC64;
use crate::server::Server;

const CONNECTION_LOST: &str = "I/O error trying to sync with MASTER: connection lost";
const TIMEOUT_BULK: &str =
    "Timeout receiving bulk data from MASTER... If the problem persists try to set the 'repl-timeout' parameter in redis.conf to a larger value.";

const MARK_LEN: usize = 40;

/// How the payload is delimited.
enum Framing {
    /// `$<len>`: bytes still to come.
    Len(usize),
    /// `$EOF:<mark>`: the payload ends with the mark; the last `MARK_LEN` bytes seen are
    /// held back until more data shows they are not the mark.
    Eof {
        mark: Vec<u8>,
        held: BytesMut,
    },
    Done,
}

/// The payload being received, chunk by chunk, over the blocking socket.
struct Payload<'a> {
    server: &'a Server,
    generation: u64,
    framing: Framing,
    max_len: u64,
    read: u64,
    scratch: Vec<u8>,
}

impl<'a> Payload<'a> {
    fn new(server: &'a Server, generation: u64, framing: Framing, max_len: u64) -> Self {
        Payload {
            server,
            generation,
            framing,
            max_len,
            read: 0,
            scratch: vec![0u8; 256 * 1024],
        }
    }

    /// The next chunk of the payload, `None` once it is complete. Bytes after an `$EOF:` mark
    /// (a master that streams without waiting for our ACK) stay in `buf` for the stream.
    fn next(
        &mut self,
        stream: &mut dyn std::io::Read,
        buf: &mut BytesMut,
    ) -> Result<Option<Bytes>, LinkError> {
        loop {
            if !buf.is_empty() {
                if let Some(chunk) = self.take(buf) {
                    self.progress(chunk.len());
                    return Ok(Some(chunk));
                }
            }
            if matches!(self.framing, Framing::Done | Framing::Len(0)) {
                self.framing = Framing::Done;
                return Ok(None);
            }
            if self.read > self.max_len {
                return Err(LinkError::Protocol(
                    "Snapshot from MASTER is too large".into(),
                ));
            }
            if super::replica::obsolete(self.server, self.generation)
                || self.server.is_shutting_down()
            {
                return Err(LinkError::Obsolete);
            }
            let n = match stream.read(&mut self.scratch) {
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(LinkError::Protocol(TIMEOUT_BULK.into()));
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(LinkError::Io(e)),
            };
            if n == 0 {
                return Err(LinkError::Protocol(CONNECTION_LOST.into()));
            }
            buf.extend_from_slice(&self.scratch[..n]);
        }
    }

    /// Takes what `buf` holds of the payload (possibly nothing yet).
    fn take(&mut self, buf: &mut BytesMut) -> Option<Bytes> {
        match &mut self.framing {
            Framing::Done => None,
            Framing::Len(left) => {
                let n = buf.len().min(*left);
                *left -= n;
                (n > 0).then(|| buf.split_to(n).freeze())
            }
            Framing::Eof { mark, held } => {
                held.extend_from_slice(&buf.split());
                if let Some(at) = memchr::memmem::find(held, mark) {
                    buf.extend_from_slice(&held[at + MARK_LEN..]);
                    held.truncate(at);
                    let last = held.split().freeze();
                    self.framing = Framing::Done;
                    return (!last.is_empty()).then_some(last);
                }
                let keep = MARK_LEN - 1;
                (held.len() > keep).then(|| held.split_to(held.len() - keep).freeze())
            }
        }
    }

    fn progress(&mut self, n: usize) {
        self.read += n as u64;
        let link = &self.server.repl.link;
        link.sync_read.store(self.read, Ordering::Release);
        link.sync_last_io_ms
            .store(crate::util::now_ms(), Ordering::Release);
    }
}

/// The payload as a reader for the parser: pulls chunks from the socket, copying each one to
/// the temp file (if any) as it passes. A socket error is kept aside (the parser only sees an
/// early end) so the caller reports the real cause.
struct Tee<'a, 'b> {
    payload: &'a mut Payload<'b>,
    stream: &'a mut dyn std::io::Read,
    buf: &'a mut BytesMut,
    file: Option<&'a mut TempRdb>,
    cur: Bytes,
    error: Option<LinkError>,
}

impl Tee<'_, '_> {
    fn pull(&mut self) -> Result<Option<Bytes>, LinkError> {
        let chunk = self.payload.next(self.stream, self.buf)?;
        if let (Some(c), Some(f)) = (&chunk, self.file.as_mut()) {
            f.write(c)?;
        }
        Ok(chunk)
    }

    /// Reads (and files) whatever the parser left of the payload.
    fn finish(&mut self) -> Result<(), LinkError> {
        while self.pull()?.is_some() {}
        Ok(())
    }
}

impl std::io::Read for Tee<'_, '_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            if self.error.is_some() {
                return Ok(0);
            }
            match self.pull() {
                Ok(Some(c)) => self.cur = c,
                Ok(None) => return Ok(0),
                Err(e) => {
                    self.error = Some(e);
                    return Ok(0);
                }
            }
        }
        let n = out.len().min(self.cur.len());
        out[..n].copy_from_slice(&self.cur[..n]);
        let _ = self.cur.split_to(n);
        Ok(n)
    }
}

/// What the transfer thread produced.
struct Received {
    /// The parsed dataset, when it was parsed while arriving.
    staged: Option<Staged>,
    file: Option<TempRdb>,
}

/// The blocking part: receive the payload into the file and/or the parser.
fn transfer(
    server: &Arc<Server>,
    payload: &mut Payload<'_>,
    stream: &mut dyn std::io::Read,
    buf: &mut BytesMut,
    to_disk: bool,
    parse_now: bool,
) -> Result<Received, LinkError> {
    let mut file = if to_disk {
        Some(TempRdb::create()?)
    } else {
        None
    };
    let total = match payload.framing {
        Framing::Len(n) => Some(n as u64),
        _ => None,
    };
    let staged = if parse_now {
        let mut tee = Tee {
            payload,
            stream,
            buf,
            file: file.as_mut(),
            cur: Bytes::new(),
            error: None,
        };
        let parsed = load::stage(
            server,
            crate::util::PatientReader::new(&mut tee),
            false,
            total,
        );
        if let Some(e) = tee.error.take() {
            let short_read = match &e {
                LinkError::Io(_) => true,
                LinkError::Protocol(text) => text == CONNECTION_LOST,
                LinkError::Obsolete => false,
            };
            if to_disk || !short_read {
                return Err(e);
            }
            // The parser met the end of a payload cut short: redis's lines for a short read
            // while loading from the socket (a connection error, not a corrupt payload).
            tracing::warn!("Short read or OOM loading DB. Unrecoverable error, aborting now.");
            tracing::warn!(
                "Internal error in RDB reading offset {}, function at {}:{} -> Unexpected EOF reading RDB file. Failure loading rdb format from socket, assuming connection error, resuming operation.",
                tee.payload.read,
                file!(),
                line!()
            );
            return Err(LinkError::Protocol(format!(
                "Failed trying to load the MASTER synchronization DB from socket: {}",
                match e {
                    LinkError::Io(io) => io.to_string(),
                    _ => "connection lost".into(),
                }
            )));
        }
        let staged = parsed.map_err(|e| {
            LinkError::Protocol(format!(
                "Failed trying to load the MASTER synchronization DB from {}: {e}",
                if to_disk { "disk" } else { "socket" }
            ))
        })?;
        tee.finish()?;
        Some(staged)
    } else {
        let mut patience = crate::util::Patience::default();
        while let Some(chunk) = payload.next(stream, buf)? {
            patience.tick();
            if let Some(f) = file.as_mut() {
                f.write(&chunk)?;
            }
        }
        None
    };
    if let Some(f) = file.as_mut() {
        f.sync()?;
    }
    Ok(Received { staged, file })
}

/// What the transfer thread is to do with the payload.
struct Job {
    generation: u64,
    framing: Framing,
    max_len: u64,
    to_disk: bool,
    parse_now: bool,
}

/// Runs the transfer on a background thread reading `reader` (the socket itself, or a TLS
/// link's pump), with `buf` (what was read past the header); gives the reader back, and in
/// `buf` what was read past the payload.
async fn transfer_on<R: std::io::Read + Send + 'static>(
    server: &Arc<Server>,
    mut reader: R,
    buf: &mut BytesMut,
    job: Job,
) -> Result<(Result<Received, LinkError>, R), LinkError> {
    let srv = server.clone();
    let mut taken = std::mem::take(buf);
    let (res, reader, rest) = in_background("repl-transfer", move || {
        let mut payload = Payload::new(&srv, job.generation, job.framing, job.max_len);
        let res = transfer(
            &srv,
            &mut payload,
            &mut reader,
            &mut taken,
            job.to_disk,
            job.parse_now,
        );
        (res, reader, taken)
    })
    .await
    .ok_or_else(|| LinkError::Protocol("the transfer thread failed".into()))?;
    *buf = rest;
    Ok((res, reader))
}

/// Runs blocking work on a background thread (see `util::spawn_background`) and waits for
/// its result; `None` if no thread could be started or it died.
async fn in_background<T, F>(name: &str, f: F) -> Option<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    crate::util::spawn_background(name, move || {
        let _ = tx.send(f());
    })
    .ok()?;
    rx.await.ok()
}

/// `in_background` for file work that reports failure as text.
async fn file_work<T, F>(f: F) -> Result<T, String>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, String> + Send + 'static,
{
    in_background("repl-load", f)
        .await
        .unwrap_or_else(|| Err("the loading thread failed".into()))
}

/// Checks an RDB file's magic and trailing CRC64 (unless it was saved without one).
fn verify_checksum(path: &str) -> Result<(), String> {
    use std::io::Read;
    let mut f = File::open(path).map_err(|e| e.to_string())?;
    let len = f.metadata().map_err(|e| e.to_string())?.len();
    if len < 9 + 8 {
        return Err(format!("the payload is too short ({len} bytes)"));
    }
    let mut digest = CRC64.digest();
    let mut left = len - 8;
    let mut block = vec![0u8; 1 << 20];
    let mut first = true;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        f.read_exact(&mut block[..n]).map_err(|e| e.to_string())?;
        if first && !block.starts_with(b"REDIS") {
            return Err(RdbError::BadSignature.to_string());
        }
        first = false;
        digest.update(&block[..n]);
        left -= n as u64;
    }
    let mut stored = [0u8; 8];
    f.read_exact(&mut stored).map_err(|e| e.to_string())?;
    let stored = u64::from_le_bytes(stored);
    let computed = digest.finalize();
    if stored != 0 && stored != computed {
        return Err(RdbError::BadChecksum {
            expected: stored,
            computed,
        }
        .to_string());
    }
    Ok(())
}

/// The temp file a disk-based load receives into, removed unless it was renamed into place.
struct TempRdb {
    path: String,
    file: Option<File>,
}

impl TempRdb {
    fn create() -> Result<TempRdb, LinkError> {
        let path = format!(
            "temp-{}.{}.rdb",
            crate::util::now_ms() / 1000,
            std::process::id()
        );
        let file = File::create(&path).map_err(|e| {
            LinkError::Protocol(format!(
                "Opening the temp file needed for MASTER <-> REPLICA synchronization: {e}"
            ))
        })?;
        Ok(TempRdb {
            path,
            file: Some(file),
        })
    }

    fn write(&mut self, chunk: &[u8]) -> Result<(), LinkError> {
        if let Some(f) = self.file.as_mut() {
            f.write_all(chunk).map_err(|e| {
                LinkError::Protocol(format!(
                    "Write error or short write writing to the DB dump file needed for MASTER <-> REPLICA synchronization: {e}"
                ))
            })?;
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), LinkError> {
        if let Some(f) = self.file.take() {
            f.sync_all().map_err(|e| {
                LinkError::Protocol(format!(
                    "Failed trying to sync the temp DB to disk in MASTER <-> REPLICA synchronization: {e}"
                ))
            })?;
        }
        Ok(())
    }

    /// Renames the file to the dump file (then it is the replica's `dump.rdb`, as in Redis),
    /// or removes it when `rdb-del-sync-files` applies.
    fn keep(mut self, server: &Server) {
        let (target, delete) = {
            let c = server.config.read();
            (
                c.dbfilename.clone(),
                c.rdb_del_sync_files && c.save.is_empty(),
            )
        };
        if delete {
            tracing::info!("Removing the RDB file obtained from the master. This replica has persistence disabled");
            let _ = std::fs::remove_file(&self.path);
        } else if let Err(e) = std::fs::rename(&self.path, &target) {
            tracing::warn!(
                "Failed trying to rename the temp DB into {target} in MASTER <-> REPLICA synchronization: {e}"
            );
            let _ = std::fs::remove_file(&self.path);
        } else if let Ok(dir) = File::open(".") {
            let _ = dir.sync_all();
        }
        self.path.clear();
    }
}

impl Drop for TempRdb {
    fn drop(&mut self) {
        if !self.path.is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// `loading` or `async_loading` raised for as long as it lives.
struct LoadingFlag {
    server: Arc<Server>,
    flag: fn(&crate::persistence::PersistState) -> &std::sync::atomic::AtomicBool,
}

impl LoadingFlag {
    fn raise(server: &Arc<Server>, async_load: bool, total: u64) -> LoadingFlag {
        let flag: fn(&crate::persistence::PersistState) -> &std::sync::atomic::AtomicBool =
            if async_load {
                |p| &p.async_loading
            } else {
                |p| &p.loading
            };
        server.persist.load_progress.start(total);
        flag(&server.persist).store(true, Ordering::Release);
        LoadingFlag {
            server: server.clone(),
            flag,
        }
    }
}

impl Drop for LoadingFlag {
    fn drop(&mut self) {
        (self.flag)(&self.server.persist).store(false, Ordering::Release);
    }
}

/// Receives the snapshot that follows `+FULLRESYNC` and makes it the dataset. Takes the
/// socket (the transfer thread owns it meanwhile) and gives it back for the stream.
pub(super) async fn receive_and_load(
    server: &Arc<Server>,
    mut stream: LinkStream,
    buf: &mut BytesMut,
    generation: u64,
    master_replid: &str,
    master_offset: u64,
) -> Result<(LoadReport, LinkStream), LinkError> {
    let (timeout, max_len, mode) = {
        let c = server.config.read();
        (
            Duration::from_secs(c.repl_timeout.max(1)),
            c.proto_max_bulk_len.max(1 << 30) as u64 * 16,
            c.repl_diskless_load.clone(),
        )
    };
    let link = &server.repl.link;
    link.sync_total.store(-1, Ordering::Release);
    link.sync_read.store(0, Ordering::Release);
    // The master may take long to produce the snapshot: a REPLICAOF meanwhile closes the
    // link at once (the master then stops a save made only for us), as Redis does.
    let header = tokio::select! {
        h = read_line(&mut stream, buf, timeout, TIMEOUT_BULK) => h?,
        () = super::replica::until_obsolete(server, generation) => return Err(LinkError::Obsolete),
    };
    if let Some(err) = header.strip_prefix('-') {
        return Err(LinkError::Protocol(format!(
            "MASTER aborted replication with an error: {err}"
        )));
    }
    let Some(spec) = header.strip_prefix('$') else {
        return Err(LinkError::Protocol(format!(
            "Bad protocol from MASTER, the first byte is not '$' (we received '{header}'), are you sure the host and port are right?"
        )));
    };
    let framing = if let Some(mark) = spec.strip_prefix("EOF:") {
        if mark.len() != MARK_LEN {
            return Err(LinkError::Protocol("Bad EOF mark from MASTER".into()));
        }
        Framing::Eof {
            mark: mark.as_bytes().to_vec(),
            held: BytesMut::new(),
        }
    } else {
        let len: u64 = spec.parse().map_err(|_| {
            LinkError::Protocol(format!(
                "Bad protocol from MASTER, invalid bulk length '{spec}'"
            ))
        })?;
        if len > max_len {
            return Err(LinkError::Protocol(
                "Snapshot from MASTER is too large".into(),
            ));
        }
        link.sync_total.store(len as i64, Ordering::Release);
        Framing::Len(len as usize)
    };
    let eof = matches!(framing, Framing::Eof { .. });
    let empty = server
        .keyspace
        .db_counts()
        .iter()
        .all(|&(keys, _)| keys == 0);
    let to_disk = match mode.as_str() {
        "swapdb" => false,
        "on-empty-db" => !empty,
        _ => true,
    };
    let parse_now = !to_disk || empty;
    let where_to = if to_disk { "disk" } else { "parser" };
    if eof {
        tracing::info!(
            "MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF to {where_to}"
        );
    } else {
        tracing::info!(
            "MASTER <-> REPLICA sync: receiving {} bytes from master to {where_to}",
            link.sync_total.load(Ordering::Acquire)
        );
    }
    // Parsed from the socket, the old data stays as it is until the new one replaces it. Of the
    // same history (our replid is the master's), it keeps serving meanwhile: async loading.
    // Otherwise clients get -LOADING, as Redis flushes (or sets aside) the old data first.
    let _loading = if to_disk {
        None
    } else {
        tracing::info!("MASTER <-> REPLICA sync: Loading DB in memory");
        let same_history = mode == "swapdb" && server.repl.ids.lock().replid == master_replid;
        Some(LoadingFlag::raise(
            server,
            same_history,
            link.sync_total.load(Ordering::Acquire).max(0) as u64,
        ))
    };

    // The transfer, on a background thread that owns the socket with blocking reads bounded
    // by `repl-timeout`; a TLS link stays with its pump.
    let job = Job {
        generation,
        framing,
        max_len,
        to_disk,
        parse_now,
    };
    let (res, stream) = match stream {
        LinkStream::Plain(tcp) => {
            let std_stream = tcp.into_std()?;
            std_stream.set_nonblocking(false)?;
            std_stream.set_read_timeout(Some(timeout))?;
            let (res, std_stream) = transfer_on(server, std_stream, buf, job).await?;
            std_stream.set_nonblocking(true)?;
            (res, LinkStream::Plain(TcpStream::from_std(std_stream)?))
        }
        tls => {
            let (pump, pumped) = transport::pump(tls, timeout);
            let (res, pumped) = transfer_on(server, pumped, buf, job).await?;
            (res, pump.finish(pumped, buf).await?)
        }
    };
    let Received { staged, file } = res?;
    // The AOF describes the dataset being replaced: it stops now and restarts from a rewrite
    // of the new one once it is installed, or after a failed load (redis
    // `restartAOFAfterSYNC`).
    let _aof = AofRestart::stop(server);
    let staged = match staged {
        Some(s) => {
            if to_disk {
                tracing::info!("MASTER <-> REPLICA sync: Flushing old data");
                tracing::info!("MASTER <-> REPLICA sync: Loading DB in memory");
            }
            s
        }
        None => {
            // Disk-based with data: Redis's order, so memory never holds two datasets. The
            // file's checksum is verified first, so a damaged transfer does not cost the data.
            let path = file.as_ref().map(|f| f.path.clone()).unwrap_or_default();
            file_work(move || verify_checksum(&path))
                .await
                .map_err(|e| {
                    LinkError::Protocol(format!(
                        "Failed trying to load the MASTER synchronization DB from disk: {e}"
                    ))
                })?;
            if super::replica::obsolete(server, generation) {
                return Err(LinkError::Obsolete);
            }
            tracing::info!("MASTER <-> REPLICA sync: Flushing old data");
            // The history we held goes with the data: a failed load leaves nothing to claim.
            *server.repl.link.cached.lock() = None;
            load::flush_dataset(server);
            tracing::info!("MASTER <-> REPLICA sync: Loading DB in memory");
            let path = file.as_ref().map(|f| f.path.clone()).unwrap_or_default();
            server.persist.loading.store(true, Ordering::Release);
            let srv = server.clone();
            let res = file_work(move || {
                let f = File::open(&path).map_err(|e| e.to_string())?;
                let progress = &srv.persist.load_progress;
                let len = f.metadata().map(|m| m.len()).ok();
                progress.start(len.unwrap_or(0));
                let counted = crate::persistence::Counting { inner: f, progress };
                let reader = crate::util::PatientReader::new(std::io::BufReader::with_capacity(
                    1 << 20,
                    counted,
                ));
                load::stage(&srv, reader, false, len)
            })
            .await;
            server.persist.loading.store(false, Ordering::Release);
            res.map_err(|e| {
                LinkError::Protocol(format!(
                    "Failed trying to load the MASTER synchronization DB from disk: {e}"
                ))
            })?
        }
    };
    // REPLICAOF NO ONE (or another master, or a fence) while the snapshot arrived: it is not
    // ours to load. The dataset and its history change together, under the link's apply lock.
    let applying = server.repl.link.apply.lock();
    if super::replica::obsolete(server, generation) {
        return Err(LinkError::Obsolete);
    }
    let report = staged.install(server);
    {
        let mut ids = server.repl.ids.lock();
        *ids = super::ReplIds {
            replid: master_replid.to_string(),
            ..super::ReplIds::fresh()
        };
        ids.clear_secondary();
    }
    server.repl.stream.activate(master_offset);
    *server.repl.link.cached.lock() = Some(super::replica::CachedMaster::new(
        master_replid.to_string(),
        master_offset,
        report.stream_db(server.keyspace.databases()),
    ));
    server.repl.link.requested.store(false, Ordering::Release);
    drop(applying);
    if let Some(f) = file {
        f.keep(server);
    }
    tracing::info!(
        "Done loading RDB, keys loaded: {}, keys expired: {}.",
        report.keys,
        report.expired
    );
    Ok((report, stream))
}

/// Stops the AOF for the time a full sync replaces the dataset; when dropped, the AOF is
/// turned on again (`appendonly yes`), starting with a rewrite of the dataset then in place.
struct AofRestart<'a>(&'a Arc<Server>);

impl<'a> AofRestart<'a> {
    fn stop(server: &'a Arc<Server>) -> AofRestart<'a> {
        if server.aof.is_on() {
            server.aof.stop(server);
        }
        AofRestart(server)
    }
}

impl Drop for AofRestart<'_> {
    fn drop(&mut self) {
        let server = self.0;
        if server.config.read().appendonly
            && !server.aof.is_on()
            && server.aof.start(server, false).is_err()
        {
            tracing::warn!("Failed restarting the AOF after a full synchronization: writes are not logged until appendonly is set again");
        }
    }
}
