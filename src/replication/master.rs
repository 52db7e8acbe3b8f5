//! The master side (redis `replication.c`, MASTER section): PSYNC decisions, full syncs that
//! share one fork-less snapshot among the replicas waiting together, and the per-replica
//! sender that streams the shared buffer from the replica's offset.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use super::inbound;
use super::stream::Reader;
use super::Replication;
use crate::server::client::{Client, Push, Takeover};
use crate::server::Server;

/// A replica's state as INFO shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaState {
    /// Waiting for a snapshot to start.
    WaitBgsave,
    /// Receiving the snapshot.
    SendBulk,
    /// Streaming.
    Online,
}

impl ReplicaState {
    pub fn name(self) -> &'static str {
        match self {
            ReplicaState::WaitBgsave => "wait_bgsave",
            ReplicaState::SendBulk => "send_bulk",
            ReplicaState::Online => "online",
        }
    }
}

/// An attached replica, for INFO, ROLE, WAIT and min-replicas checks.
pub struct ReplicaHandle {
    pub client_id: u64,
    pub ip: String,
    pub port: u16,
    pub state: Mutex<ReplicaState>,
    pub ack_offset: AtomicU64,
    /// Unix ms of the last ACK (or of going online).
    pub last_ack_ms: AtomicI64,
}

impl ReplicaHandle {
    pub fn state(&self) -> ReplicaState {
        *self.state.lock()
    }

    pub fn name(&self) -> String {
        replica_name(&self.ip, self.port)
    }
}

/// `ip:port` as Redis names replicas in its log.
pub fn replica_name(ip: &str, port: u16) -> String {
    if port == 0 {
        format!("{ip}:<unknown-replica-port>")
    } else {
        format!("{ip}:{port}")
    }
}

/// What a full sync sends after `+FULLRESYNC`.
#[derive(Clone)]
pub enum RdbChunk {
    /// `$<len>\r\n` or `$EOF:<mark>\r\n`.
    Header(Bytes),
    Data(Bytes),
    End,
    Failed,
}

/// A replica's seat in a full sync batch.
pub struct SyncSeat {
    pub offset: u64,
    pub replid: String,
    pub reader: Arc<Reader>,
    pub rdb: mpsc::Receiver<RdbChunk>,
}

/// `REPLCONF rdb-filter-only` leaves the keys out of the replica's RDB (redis
/// `SLAVE_REQ_RDB_EXCLUDE_DATA`).
pub const REQ_EXCLUDE_DATA: u8 = 1;
/// ... and the function libraries (`SLAVE_REQ_RDB_EXCLUDE_FUNCTIONS`).
pub const REQ_EXCLUDE_FUNCTIONS: u8 = 2;

struct Waiter {
    since: Instant,
    capa_eof: bool,
    /// The `REQ_*` bits: only replicas asking for the same RDB share a snapshot.
    req: u8,
    client: Arc<crate::server::client::ClientShared>,
    tx: oneshot::Sender<SyncSeat>,
}

/// Replicas waiting for the next snapshot.
#[derive(Default)]
pub struct SyncQueue {
    waiting: Mutex<Vec<Waiter>>,
    /// A disk-based sync saving its file, while it saves it.
    saving: Mutex<Option<DiskSave>>,
}

/// A disk-based sync's save in progress: the point of the stream its file is taken at, and
/// the replicas it is for (those that came while it saved are attached to it).
struct DiskSave {
    offset: u64,
    replid: String,
    senders: Vec<mpsc::Sender<RdbChunk>>,
}

/// Stops a disk-based sync's save once no replica waits for it any more and the file is no
/// dump anyone asked for (no save points), as Redis kills its child when the last replica
/// in `wait_bgsave` leaves: the next sync or BGSAVE can start at once.
fn drop_useless_disk_save(server: &Server) {
    let mut saving = server.repl.sync_queue.saving.lock();
    let useless = saving
        .as_ref()
        .is_some_and(|d| d.senders.iter().all(|s| s.is_closed()));
    if !useless || !server.config.read().save.is_empty() {
        return;
    }
    *saving = None;
    drop(saving);
    if !server
        .persist
        .child
        .kill(crate::persistence::child::Kind::Rdb)
    {
        crate::persistence::snapshot::abort(server);
    }
}

/// A full resync requested while a disk-based sync saves its file joins that sync (redis
/// `syncCommand`, "CASE 1"): it gets the same file and the stream from the same offset, as
/// Redis copies the output buffer of a replica already waiting for the save. A replica that
/// asks for a filtered RDB, or a stream already trimmed past the save's offset, waits for the
/// next snapshot. Gives `tx` back when the replica was not attached.
fn attach_to_disk_save(
    server: &Server,
    client: &crate::server::client::Client,
    tx: oneshot::Sender<SyncSeat>,
) -> Result<(), oneshot::Sender<SyncSeat>> {
    let mut saving = server.repl.sync_queue.saving.lock();
    let Some(save) = saving.as_mut() else {
        return Err(tx);
    };
    let attached = if client.replconf.req == 0 {
        save.attach(server, &client.shared, tx)
    } else {
        Err(tx)
    };
    if attached.is_err() {
        tracing::info!(
            "Can't attach the replica to the current BGSAVE. Waiting for next BGSAVE for SYNC"
        );
    }
    attached
}

/// Attaches to the disk-based sync in progress the replicas that queued for a full sync while
/// it was being set up (they asked before it could take them).
fn attach_waiting(server: &Server) {
    let mut saving = server.repl.sync_queue.saving.lock();
    let Some(save) = saving.as_mut() else {
        return;
    };
    let mut waiting = server.repl.sync_queue.waiting.lock();
    let mut left = Vec::with_capacity(waiting.len());
    for w in waiting.drain(..) {
        if w.req != 0 || w.tx.is_closed() {
            left.push(w);
            continue;
        }
        if let Err(tx) = save.attach(server, &w.client, w.tx) {
            left.push(Waiter { tx, ..w });
        }
    }
    *waiting = left;
}

impl DiskSave {
    /// Gives the replica of `client` a seat in this sync; `tx` back if it cannot have one.
    fn attach(
        &mut self,
        server: &Server,
        client: &Arc<crate::server::client::ClientShared>,
        tx: oneshot::Sender<SyncSeat>,
    ) -> Result<(), oneshot::Sender<SyncSeat>> {
        if self.senders.iter().all(|s| s.is_closed()) {
            return Err(tx);
        }
        let Some(reader) = server
            .repl
            .stream
            .add_reader_if_held(self.offset + 1, Arc::downgrade(client))
        else {
            return Err(tx);
        };
        *client.repl_reader.lock() = Some(reader.clone());
        let (rdb_tx, rdb) = mpsc::channel(64);
        let seat = SyncSeat {
            offset: self.offset,
            replid: self.replid.clone(),
            reader,
            rdb,
        };
        match tx.send(seat) {
            Ok(()) => {
                self.senders.push(rdb_tx);
                tracing::info!("Waiting for end of BGSAVE for SYNC");
            }
            Err(seat) => server.repl.stream.remove_reader(seat.reader.id),
        }
        Ok(())
    }
}

/// Counts the replicas attached for INFO (`connected_slaves`).
pub fn replicas(server: &Server) -> Vec<Arc<ReplicaHandle>> {
    server.repl.replicas.lock().clone()
}

/// Number of online replicas whose ACK reached `offset`.
pub fn acked(server: &Server, offset: u64) -> usize {
    server
        .repl
        .replicas
        .lock()
        .iter()
        .filter(|r| {
            r.state() == ReplicaState::Online && r.ack_offset.load(Ordering::Acquire) >= offset
        })
        .count()
}

/// Decides whether `PSYNC replid offset` can continue from the backlog (redis
/// `masterTryPartialResynchronization`). Logs the reason when it cannot.
fn try_partial(server: &Server, name: &str, replid: &str, offset: i64) -> bool {
    let repl = &server.repl;
    if replid == "?" {
        return false;
    }
    let ids = repl.ids.lock().clone();
    let id_ok = replid == ids.replid || (replid == ids.replid2 && offset <= ids.second_offset);
    if !id_ok {
        if replid != ids.replid && replid != ids.replid2 {
            tracing::info!(
                "Partial resynchronization not accepted: Replication ID mismatch (Replica asked for '{replid}', my replication IDs are '{}' and '{}')",
                ids.replid,
                ids.replid2
            );
        } else {
            tracing::info!(
                "Partial resynchronization not accepted: Requested offset for second ID was {offset}, but I can reply up to {}",
                ids.second_offset
            );
        }
        return false;
    }
    if offset < 1 || !repl.stream.can_serve(offset as u64) {
        tracing::info!("Unable to partial resync with replica {name} for lack of backlog (Replica request was: {offset}).");
        if offset as u64 > repl.stream.end() + 1 {
            tracing::warn!(
                "Warning: replica {name} tried to PSYNC with an offset that is greater than the master replication offset."
            );
        }
        return false;
    }
    true
}

/// Serves a connection that sent SYNC or PSYNC, until the replica goes away.
pub async fn serve_replica<S>(
    server: Arc<Server>,
    stream: S,
    mut client: Client,
    mut pushes: crate::server::client::Pushes,
    takeover: Takeover,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let ip = client.replconf.ip_address.clone().unwrap_or_else(|| {
        client
            .shared
            .addr
            .rsplit_once(':')
            .map(|(ip, _)| ip.to_string())
            .unwrap_or_default()
    });
    let handle = Arc::new(ReplicaHandle {
        client_id: client.id(),
        ip,
        port: client.replconf.listening_port.unwrap_or(0),
        state: Mutex::new(ReplicaState::WaitBgsave),
        ack_offset: AtomicU64::new(0),
        last_ack_ms: AtomicI64::new(crate::util::now_ms()),
    });
    client.shared.is_replica.store(true, Ordering::Relaxed);
    let name = handle.name();
    tracing::info!("Replica {name} asks for synchronization");
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut inbuf = BytesMut::with_capacity(1024);
    let (replid, offset, psync) = match &takeover {
        Takeover::Psync { replid, offset } => (replid.clone(), *offset, true),
        Takeover::Sync => ("?".to_string(), -1, false),
    };
    server.repl.replicas.lock().push(handle.clone());
    let reader;
    if psync && try_partial(&server, &name, &replid, offset) {
        Replication::count(&server.repl.sync_partial_ok);
        let current = server.repl.ids.lock().replid.clone();
        let line = if client.replconf.capa_psync2 {
            format!("+CONTINUE {current}\r\n")
        } else {
            "+CONTINUE\r\n".to_string()
        };
        reader = server
            .repl
            .stream
            .add_reader(offset as u64, Arc::downgrade(&client.shared));
        *client.shared.repl_reader.lock() = Some(reader.clone());
        let backlog_bytes = server.repl.stream.end() + 1 - offset as u64;
        tracing::info!(
            "Partial resynchronization request from {name} accepted. Sending {backlog_bytes} bytes of backlog starting from offset {offset}."
        );
        *handle.state.lock() = ReplicaState::Online;
        handle
            .ack_offset
            .store(offset as u64 - 1, Ordering::Release);
        if wr.write_all(line.as_bytes()).await.is_err() {
            finish(&server, &handle, &reader);
            return;
        }
    } else {
        if psync && replid != "?" {
            Replication::count(&server.repl.sync_partial_err);
        }
        tracing::info!("Full resync requested by replica {name}");
        Replication::count(&server.repl.sync_full);
        ensure_backlog(&server);
        let (tx, rx) = oneshot::channel();
        if let Err(tx) = attach_to_disk_save(&server, &client, tx) {
            server.repl.sync_queue.waiting.lock().push(Waiter {
                since: Instant::now(),
                capa_eof: client.replconf.capa_eof,
                req: client.replconf.req,
                client: client.shared.clone(),
                tx,
            });
            // Without a diskless delay to wait out, the snapshot starts now, not at the next
            // tick.
            start_pending_syncs(&server);
        }
        let mut link = Link {
            rd: &mut rd,
            inbuf: &mut inbuf,
            client: &mut client,
            pushes: &mut pushes,
        };
        match full_sync(&server, &handle, &mut wr, rx, psync, &mut link).await {
            Some((r, eof_marked)) => {
                reader = r;
                // After an EOF-marked payload the replica finds the end by the mark being the
                // last bytes it read: stream nothing until it ACKs (as Redis does).
                if eof_marked && !wait_first_ack(&handle, &server, &mut link).await {
                    tracing::info!("Connection with replica {name} lost.");
                    finish(&server, &handle, &reader);
                    server.clients.lock().remove(&client.id());
                    return;
                }
            }
            None => {
                tracing::info!("Connection with replica {name} lost.");
                server
                    .repl
                    .replicas
                    .lock()
                    .retain(|r| !Arc::ptr_eq(r, &handle));
                server.clients.lock().remove(&client.id());
                return;
            }
        }
        tracing::info!("Synchronization with replica {name} succeeded");
    }
    // Streaming: a writer task follows the stream; this task reads ACKs and watches limits.
    let writer_reader = reader.clone();
    let srv = server.clone();
    let mut writer = tokio::spawn(async move {
        let mut end_rx = srv.repl.stream.subscribe();
        loop {
            let next = writer_reader.next.load(Ordering::Acquire);
            let Some(chunks) = srv.repl.stream.read_from(next) else {
                return;
            };
            if chunks.is_empty() {
                if end_rx.changed().await.is_err() {
                    return;
                }
                continue;
            }
            // The position moves chunk by chunk: what the socket took is no longer output
            // (omem, the limits), as Redis releases each block a replica has written, even
            // while the rest of a long catch-up waits for the socket.
            for c in &chunks {
                if wr.write_all(c).await.is_err() {
                    return;
                }
                srv.stats.net_output_bytes.add(c.len() as u64);
                writer_reader
                    .next
                    .fetch_add(c.len() as u64, Ordering::AcqRel);
            }
            // A replica catching up streams without waiting: let clients' tasks in between.
            tokio::task::yield_now().await;
        }
    });
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut shutdown = server.shutdown_tx.subscribe();
    loop {
        tokio::select! {
            r = rd.read_buf(&mut inbuf) => {
                match r {
                    Ok(0) | Err(_) => break,
                    Ok(_) => if !inbound::consume(&server, &mut client, &handle, &mut inbuf) {
                        break;
                    },
                }
            }
            p = pushes.recv() => {
                if killed(&p) {
                    break;
                }
            }
            _ = &mut writer => break,
            _ = tick.tick() => {
                if reader.overflowed.load(Ordering::Acquire) {
                    break;
                }
                let timeout_ms = server.config.read().repl_timeout as i64 * 1000;
                if crate::util::now_ms() - handle.last_ack_ms.load(Ordering::Acquire) > timeout_ms {
                    tracing::warn!("Disconnecting timedout replica (streaming sync): {name}");
                    break;
                }
            }
            _ = shutdown.changed() => break,
        }
    }
    writer.abort();
    tracing::info!("Connection with replica {name} lost.");
    finish(&server, &handle, &reader);
    server.clients.lock().remove(&client.id());
}

fn finish(server: &Server, handle: &Arc<ReplicaHandle>, reader: &Arc<Reader>) {
    server.repl.stream.remove_reader(reader.id);
    server
        .repl
        .replicas
        .lock()
        .retain(|r| !Arc::ptr_eq(r, handle));
}

/// Whether a push to a replica's connection closes it (CLIENT KILL, shutdown).
fn killed(p: &Push) -> bool {
    matches!(p, Push::Kill)
}

/// Creates the backlog on the first replica (a new replid, no secondary id).
fn ensure_backlog(server: &Server) {
    if server.repl.stream.is_active() {
        return;
    }
    let all = server.keyspace.lock_all();
    if !server.repl.stream.is_active() {
        let mut ids = server.repl.ids.lock();
        *ids = super::ReplIds::fresh();
        let offset = server.repl.stream.end();
        server.repl.stream.activate(offset);
        tracing::info!(
            "Replication backlog created, my new replication IDs are '{}' and '{}'",
            ids.replid,
            ids.replid2
        );
    }
    drop(all);
}

/// Waits for a snapshot seat (sending keep-alive newlines), then sends `+FULLRESYNC` and the
/// RDB payload. Returns the stream reader positioned right after the snapshot.
async fn full_sync<W: AsyncWrite + Unpin, R: AsyncRead + Unpin>(
    server: &Server,
    handle: &ReplicaHandle,
    wr: &mut W,
    mut seat_rx: oneshot::Receiver<SyncSeat>,
    psync: bool,
    link: &mut Link<'_, R>,
) -> Option<(Arc<Reader>, bool)> {
    // The first keep-alive after a second: a sync that starts at once sends `+FULLRESYNC`
    // first, as Redis does.
    let second = Duration::from_secs(1);
    let mut keepalive = tokio::time::interval_at(tokio::time::Instant::now() + second, second);
    let seat = loop {
        tokio::select! {
            s = &mut seat_rx => break s.ok()?,
            ok = link.event(server, handle) => if !ok {
                return None;
            },
            _ = keepalive.tick() => {
                if wr.write_all(b"\n").await.is_err() {
                    return None;
                }
            }
        }
    };
    let SyncSeat {
        offset,
        replid,
        reader,
        mut rdb,
    } = seat;
    let fail = |reader: &Arc<Reader>| {
        server.repl.stream.remove_reader(reader.id);
        None
    };
    // `wait_bgsave` while the snapshot is produced (streamed, for a diskless sync), then
    // `send_bulk` while a saved file is sent, as INFO shows Redis's replicas.
    if psync
        && wr
            .write_all(format!("+FULLRESYNC {replid} {offset}\r\n").as_bytes())
            .await
            .is_err()
    {
        return fail(&reader);
    }
    let mut header_sent = false;
    let mut eof_marked = false;
    loop {
        let chunk = tokio::select! {
            c = rdb.recv() => c,
            ok = link.event(server, handle) => if ok {
                continue;
            } else {
                return fail(&reader);
            },
            _ = keepalive.tick(), if !header_sent => {
                if wr.write_all(b"\n").await.is_err() {
                    return fail(&reader);
                }
                continue;
            }
        };
        match chunk {
            Some(RdbChunk::Header(h)) => {
                header_sent = true;
                eof_marked = h.starts_with(b"$EOF:");
                if !eof_marked {
                    *handle.state.lock() = ReplicaState::SendBulk;
                }
                if wr.write_all(&h).await.is_err() {
                    return fail(&reader);
                }
            }
            Some(RdbChunk::Data(d)) => {
                if !write_progressing(wr, &d, server, handle).await {
                    return fail(&reader);
                }
                server.stats.net_output_bytes.add(d.len() as u64);
                // While the socket takes data this loop never waits, and the worker would run
                // it for a whole cooperative budget (megabytes) before a client's task
                // queued behind it gets a turn.
                tokio::task::yield_now().await;
            }
            Some(RdbChunk::End) => break,
            Some(RdbChunk::Failed) | None => return fail(&reader),
        }
    }
    *handle.state.lock() = ReplicaState::Online;
    handle.ack_offset.store(offset, Ordering::Release);
    handle
        .last_ack_ms
        .store(crate::util::now_ms(), Ordering::Release);
    Some((reader, eof_marked))
}

/// Writes a piece of the snapshot to a replica; false if the connection failed or the replica
/// took nothing for `repl-timeout` (redis's `repl_last_partial_write` check, which sees the
/// setting change meanwhile).
async fn write_progressing<W: AsyncWrite + Unpin>(
    wr: &mut W,
    mut data: &[u8],
    server: &Server,
    handle: &ReplicaHandle,
) -> bool {
    let mut last = Instant::now();
    while !data.is_empty() {
        match tokio::time::timeout(Duration::from_millis(250), wr.write(data)).await {
            Ok(Ok(n)) if n > 0 => {
                data = &data[n..];
                last = Instant::now();
            }
            Ok(_) => return false,
            Err(_) => {
                let timeout = Duration::from_secs(server.config.read().repl_timeout);
                if last.elapsed() > timeout {
                    tracing::warn!(
                        "Disconnecting timedout replica (full sync): {}",
                        handle.name()
                    );
                    return false;
                }
            }
        }
    }
    true
}

/// Waits for the replica's first `REPLCONF ACK` (bounded by `repl-timeout`). False if the
/// replica went away or stayed silent.
async fn wait_first_ack<R: AsyncRead + Unpin>(
    handle: &ReplicaHandle,
    server: &Server,
    link: &mut Link<'_, R>,
) -> bool {
    let timeout = Duration::from_secs(server.config.read().repl_timeout.max(1));
    let start = handle.last_ack_ms.load(Ordering::Acquire);
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, link.event(server, handle)).await {
            Ok(true) => {
                if handle.last_ack_ms.load(Ordering::Acquire) != start
                    || handle.ack_offset.load(Ordering::Acquire) > 0
                {
                    return true;
                }
            }
            _ => return false,
        }
    }
}

/// The replica's side of the connection while its full sync runs: its input (acks, or
/// commands it should not send) and pushes (CLIENT KILL).
struct Link<'a, R> {
    rd: &'a mut R,
    inbuf: &'a mut BytesMut,
    client: &'a mut Client,
    pushes: &'a mut crate::server::client::Pushes,
}

impl<R: AsyncRead + Unpin> Link<'_, R> {
    /// Waits for the next input or push and handles it; false when the connection must close.
    async fn event(&mut self, server: &Server, handle: &ReplicaHandle) -> bool {
        tokio::select! {
            r = self.rd.read_buf(self.inbuf) => match r {
                Ok(n) if n > 0 => inbound::consume(server, self.client, handle, self.inbuf),
                _ => false,
            },
            p = self.pushes.recv() => !killed(&p),
        }
    }
}

/// Starts a snapshot for the waiting replicas when their delay is up (redis
/// `replicationCron` → `startBgsaveForReplication`). Called by the coordinator every 100 ms.
pub fn start_pending_syncs(server: &Arc<Server>) {
    drop_useless_disk_save(server);
    attach_waiting(server);
    let (delay, max_replicas, diskless, compress) = {
        let c = server.config.read();
        (
            c.repl_diskless_sync_delay,
            c.repl_diskless_sync_max_replicas,
            c.repl_diskless_sync,
            c.rdbcompression,
        )
    };
    let (waiters, req): (Vec<Waiter>, u8) = {
        let mut w = server.repl.sync_queue.waiting.lock();
        w.retain(|x| !x.tx.is_closed());
        if w.is_empty() || server.snapshot_slot.is_busy() {
            return;
        }
        // The first replica's RDB is made for those asking for the same one; the others
        // wait for the next snapshot (redis `shouldStartChildReplication`).
        let req = w[0].req;
        let same = || w.iter().filter(|x| x.req == req);
        let oldest = same().map(|x| x.since).min().unwrap_or_else(Instant::now);
        let all_eof = same().all(|x| x.capa_eof);
        let ready = !(diskless && all_eof)
            || oldest.elapsed() >= Duration::from_secs(delay)
            || (max_replicas > 0 && same().count() as u64 >= max_replicas);
        if !ready {
            return;
        }
        let (taken, left) = std::mem::take(&mut *w)
            .into_iter()
            .partition(|x| x.req == req);
        *w = left;
        (taken, req)
    };
    // A filtered RDB never goes to disk, where it would pass for the dump file.
    let socket_target = (diskless || req != 0) && waiters.iter().all(|x| x.capa_eof);
    let Some(mut snapshot) = crate::persistence::snapshot::begin(server, compress) else {
        // Another snapshot is running: put them back for the next round.
        server.repl.sync_queue.waiting.lock().extend(waiters);
        return;
    };
    tracing::info!(
        "Starting BGSAVE for SYNC with target: {}",
        if socket_target {
            "replicas sockets"
        } else {
            "disk"
        }
    );
    snapshot.leave_out(
        req & REQ_EXCLUDE_DATA != 0,
        req & REQ_EXCLUDE_FUNCTIONS != 0,
    );
    let mut senders = Vec::new();
    for w in waiters {
        let (tx, rx) = mpsc::channel(64);
        let reader = server
            .repl
            .stream
            .add_reader(snapshot.offset + 1, Arc::downgrade(&w.client));
        *w.client.repl_reader.lock() = Some(reader.clone());
        let seat = SyncSeat {
            offset: snapshot.offset,
            replid: snapshot.replid.clone(),
            reader,
            rdb: rx,
        };
        match w.tx.send(seat) {
            Ok(()) => senders.push(tx),
            Err(seat) => server.repl.stream.remove_reader(seat.reader.id),
        }
    }
    // The snapshot counts as the BGSAVE in progress, as Redis's replication child does.
    server.persist.mark_bgsave_started(crate::util::now_ms());
    // A disk-based sync writes its file through a writer process, as a BGSAVE does; the
    // replicas that ask meanwhile join it.
    let writer = if socket_target {
        None
    } else {
        *server.repl.sync_queue.saving.lock() = Some(DiskSave {
            offset: snapshot.offset,
            replid: snapshot.replid.clone(),
            senders: std::mem::take(&mut senders),
        });
        crate::persistence::child::Writer::for_snapshot(
            server,
            crate::persistence::child::Kind::Rdb,
            &snapshot,
        )
    };
    let srv = server.clone();
    let spawned = crate::util::spawn_background("repl-sync", move || {
        if socket_target {
            let mark = crate::server::random_hex(40);
            let mut fan = FanOut {
                senders,
                buf: Vec::with_capacity(64 * 1024),
            };
            fan.send(RdbChunk::Header(Bytes::from(format!("$EOF:{mark}\r\n"))));
            let ok = snapshot.write(&srv, &mut fan).is_ok();
            let _ = std::io::Write::flush(&mut fan);
            if ok {
                tracing::info!(
                    "Diskless rdb transfer, done reading from pipe, {} replicas still up.",
                    fan.senders.len()
                );
                fan.send(RdbChunk::Data(Bytes::from(mark)));
                fan.send(RdbChunk::End);
                tracing::info!("Background RDB transfer terminated with success");
            } else if fan.senders.is_empty() {
                tracing::warn!("Diskless rdb transfer, last replica dropped, killing fork child.");
            } else {
                fan.send(RdbChunk::Failed);
                tracing::warn!("SYNC failed. BGSAVE child returned an error");
            }
        } else {
            disk_sync(&srv, snapshot, writer);
        }
        srv.persist
            .bgsave_in_progress
            .store(false, Ordering::Release);
    });
    if let Err(e) = spawned {
        // The snapshot and the replicas' channels went down with the closure.
        tracing::warn!("Can't start the sync thread: {e}");
        *server.repl.sync_queue.saving.lock() = None;
        crate::persistence::snapshot::release(server);
        server
            .persist
            .bgsave_in_progress
            .store(false, Ordering::Release);
    }
}

/// Disk-based sync: save the dump file as BGSAVE does, then send it with its length.
fn disk_sync(
    server: &Arc<Server>,
    snapshot: crate::persistence::snapshot::Snapshot,
    writer: Option<crate::persistence::child::Writer>,
) {
    let mut fan = FanOut {
        senders: Vec::new(),
        buf: Vec::new(),
    };
    let saved = crate::persistence::save::save_background(server, snapshot, writer);
    // The file goes to the replicas the sync started for and to those attached since.
    if let Some(d) = server.repl.sync_queue.saving.lock().take() {
        fan.senders = d.senders;
    }
    let path = match saved {
        Ok(p) => p,
        Err(f) => {
            let e = f.describe(crate::persistence::child::Kind::Rdb);
            tracing::warn!("{e}");
            tracing::warn!("SYNC failed. BGSAVE child returned an error");
            fan.send(RdbChunk::Failed);
            return;
        }
    };
    // Streamed from the file in chunks: the file is never held in memory whole.
    let sent = (|| -> std::io::Result<()> {
        let mut file = std::fs::File::open(&path)?;
        let len = file.metadata()?.len();
        fan.send(RdbChunk::Header(Bytes::from(format!("${len}\r\n"))));
        let mut left = len;
        let mut patience = crate::util::Patience::default();
        while left > 0 && !fan.senders.is_empty() {
            patience.tick();
            let mut chunk = vec![0u8; left.min(64 * 1024) as usize];
            std::io::Read::read_exact(&mut file, &mut chunk)?;
            left -= chunk.len() as u64;
            fan.send(RdbChunk::Data(Bytes::from(chunk)));
        }
        Ok(())
    })();
    let del = {
        let c = server.config.read();
        c.rdb_del_sync_files && c.save.is_empty()
    };
    if del {
        tracing::info!(
            "Removing the RDB file used to feed replicas in a persistence-less instance"
        );
        let _ = std::fs::remove_file(&path);
    }
    match sent {
        Ok(()) => fan.send(RdbChunk::End),
        Err(e) => {
            tracing::warn!("SYNC failed: can't read {}: {e}", path.display());
            fan.send(RdbChunk::Failed);
        }
    }
}

/// A `Write` that copies the RDB stream to every replica of the batch (blocking sends, so a
/// slow replica paces the snapshot walk instead of growing memory).
struct FanOut {
    senders: Vec<mpsc::Sender<RdbChunk>>,
    buf: Vec<u8>,
}

impl FanOut {
    fn send(&mut self, chunk: RdbChunk) {
        let _ = std::io::Write::flush(self);
        self.senders
            .retain(|s| s.blocking_send(chunk.clone()).is_ok());
    }
}

impl std::io::Write for FanOut {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= 64 * 1024 {
            self.flush()?;
        }
        if self.senders.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "no replica left",
            ));
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            let data = Bytes::from(std::mem::take(&mut self.buf));
            self.senders
                .retain(|s| s.blocking_send(RdbChunk::Data(data.clone())).is_ok());
        }
        Ok(())
    }
}

/// The periodic `ping` into the stream, every `repl-ping-replica-period` seconds, while
/// replicas are attached (and no FAILOVER with a timeout waits for them).
pub fn ping_replicas(server: &Server) {
    if server.is_replica()
        || server.repl.replicas.lock().is_empty()
        || super::failover::suppresses_ping(server)
    {
        return;
    }
    server
        .repl
        .stream
        .feed_control(&[Bytes::from_static(b"ping")]);
}
