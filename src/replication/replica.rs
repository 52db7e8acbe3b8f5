//! The replica side (redis `replication.c`, SLAVE section): the link to our master — connect,
//! handshake, PSYNC (partial when our cached state allows, else full), loading the snapshot,
//! then applying the master's stream, acknowledging our offset every second.
//!
//! Receiving and loading the snapshot of a full resync is `sync_load`'s part.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::transport::LinkStream;

use crate::protocol::{decode_request_frame, DecodeLimits};
use crate::server::Server;

/// Link states, as ROLE names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum LinkState {
    /// Not a replica.
    None = 0,
    /// Waiting to (re)connect.
    Connect = 1,
    /// TCP connect in flight.
    Connecting = 2,
    /// PING ... PSYNC reply.
    Handshake = 3,
    /// Receiving the snapshot.
    Sync = 4,
    /// Streaming.
    Connected = 5,
}

impl LinkState {
    pub fn name(self) -> &'static str {
        match self {
            LinkState::None => "none",
            LinkState::Connect => "connect",
            LinkState::Connecting => "connecting",
            LinkState::Handshake => "handshake",
            LinkState::Sync => "sync",
            LinkState::Connected => "connected",
        }
    }

    fn from_u8(v: u8) -> LinkState {
        match v {
            1 => LinkState::Connect,
            2 => LinkState::Connecting,
            3 => LinkState::Handshake,
            4 => LinkState::Sync,
            5 => LinkState::Connected,
            _ => LinkState::None,
        }
    }
}

/// What INFO and ROLE show about the link to our master.
#[derive(Default)]
pub struct LinkInfo {
    state: AtomicU8,
    /// Unix ms of the last byte from the master; 0 = never.
    pub last_io_ms: AtomicI64,
    /// Unix ms when the link went down; 0 = never up.
    pub down_since_ms: AtomicI64,
    /// Bytes of the stream read (slave_read_repl_offset, redis `read_reploff`).
    pub read_offset: AtomicU64,
    /// Bytes of the stream applied (slave_repl_offset, redis `reploff`): behind the bytes read
    /// while CLIENT PAUSE holds back the master's writes, or a transaction is incomplete.
    pub applied_offset: AtomicU64,
    /// Snapshot transfer progress: total (-1 unknown) and read bytes.
    pub sync_total: AtomicI64,
    pub sync_read: AtomicU64,
    pub sync_last_io_ms: AtomicI64,
    /// Bumped by every REPLICAOF, so an old link task notices it is obsolete.
    pub generation: AtomicU64,
    /// Woken on every bump of `generation`, for a link task waiting on its master.
    pub changed: tokio::sync::Notify,
    /// The master we were last synced with, for PSYNC after a reconnect.
    pub cached: Mutex<Option<CachedMaster>>,
    /// Whether REPLICAOF named our master since our last successful sync: only then may a
    /// full sync replace a history we hold more of (`replica-refuse-rollback`).
    pub requested: AtomicBool,
    /// The sentinel epoch of the fence in force (`REPLCONF FENCE`), 0 when not fenced.
    pub fence_epoch: AtomicU64,
    /// Held while the link applies what the master sent (a batch of the stream, or a full
    /// sync's dataset with its replication id): a fence taken after it sees the final state.
    pub apply: Mutex<()>,
}

/// What a replica keeps of its master's stream across a link drop (redis's cached master).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedMaster {
    pub replid: String,
    /// Offset of the last byte applied; a transaction counts only once its EXEC is applied.
    pub offset: u64,
    /// Database the master's stream is positioned in: a partial resync goes on from there
    /// without a SELECT, as the master sends none (redis keeps it in the cached master client).
    pub db: usize,
}

impl CachedMaster {
    pub fn new(replid: String, offset: u64, db: usize) -> Self {
        Self { replid, offset, db }
    }
}

impl LinkInfo {
    pub fn state(&self) -> LinkState {
        LinkState::from_u8(self.state.load(Ordering::Acquire))
    }

    pub fn set_state(&self, s: LinkState) {
        let was_up = self.state() == LinkState::Connected;
        self.state.store(s as u8, Ordering::Release);
        if was_up && s != LinkState::Connected {
            self.down_since_ms
                .store(crate::util::now_ms(), Ordering::Release);
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub(super) enum LinkError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Protocol(String),
    #[error("obsolete link")]
    Obsolete,
}

const HANDSHAKE_TIMEOUT: &str = "Timeout connecting to the MASTER...";

/// Starts (or restarts) the link task towards `host:port`.
pub fn start_link(server: &Arc<Server>, host: String, port: u16) {
    let generation = server.repl.link.generation.fetch_add(1, Ordering::AcqRel) + 1;
    server.repl.link.changed.notify_waiters();
    close_master_client(server);
    // Redis starts the (non-blocking) connect inside REPLICAOF itself.
    server.repl.link.set_state(LinkState::Connecting);
    let srv = server.clone();
    tokio::spawn(async move { run_link(srv, host, port, generation).await });
}

/// Stops the link task (REPLICAOF NO ONE).
pub fn stop_link(server: &Server) {
    server.repl.link.generation.fetch_add(1, Ordering::AcqRel);
    server.repl.link.changed.notify_waiters();
    close_master_client(server);
    server.repl.link.set_state(LinkState::None);
}

/// `REPLCONF FENCE <epoch>` (Tandem's, issue #13): a sentinel about to pick the replica to
/// promote detaches us from our master for good, so the offset it reads next is final and
/// no acknowledgement of ours can reach the old master any more. The link stays down (we
/// keep our role, data and cached master) until REPLICAOF, or `REPLCONF UNFENCE` of the same
/// epoch when that sentinel gives up. False when we are not a replica.
pub fn fence(server: &Server, epoch: u64) -> bool {
    if !server.is_replica() {
        return false;
    }
    let link = &server.repl.link;
    link.fence_epoch.fetch_max(epoch.max(1), Ordering::AcqRel);
    link.generation.fetch_add(1, Ordering::AcqRel);
    link.changed.notify_waiters();
    close_master_client(server);
    // A batch or a full sync being applied finishes first; the next one sees the fence.
    let _applied = link.apply.lock();
    if link.state() != LinkState::Connect {
        link.set_state(LinkState::Connect);
    }
    if let Some((host, port)) = &server.config.read().replicaof {
        tracing::warn!(
            "Replication link with MASTER {host}:{port} fenced by a sentinel (epoch {epoch})"
        );
    }
    true
}

/// `REPLCONF UNFENCE <epoch>`: lifts the fence set in that epoch (a later one stays).
pub fn unfence(server: &Arc<Server>, epoch: u64) -> bool {
    let link = &server.repl.link;
    if epoch == 0
        || link
            .fence_epoch
            .compare_exchange(epoch, 0, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
    {
        return false;
    }
    let master = server.config.read().replicaof.clone();
    if let Some((host, port)) = master {
        tracing::warn!("Replication link with MASTER {host}:{port} unfenced (epoch {epoch})");
        start_link(server, host, port);
    }
    true
}

pub fn fenced(server: &Server) -> bool {
    server.repl.link.fence_epoch.load(Ordering::Acquire) != 0
}

/// With `replica-refuse-rollback yes`, why a full sync the master offers (`replid`,
/// `offset`) must be refused: unless REPLICAOF asked for this master, a full sync may only
/// move us forward in the history we hold. A master restarted empty or from an old snapshot
/// (a new replication id, or ours at a smaller offset) would otherwise wipe writes we hold
/// and acknowledged; a sentinel fails over to us instead (docs/architecture.md).
fn refusal(server: &Server, replid: &str, offset: u64) -> Option<String> {
    if !server.config.read().replica_refuse_rollback
        || server.repl.link.requested.load(Ordering::Acquire)
    {
        return None;
    }
    let held = server.repl.link.cached.lock().clone()?;
    let (held, held_offset) = (held.replid, held.offset);
    if held == replid && offset >= held_offset {
        return None;
    }
    Some(format!(
        "Refusing a full resynchronization from MASTER ({replid}:{offset}): it does not hold the history this replica has ({held} up to offset {held_offset}); \
         replica-refuse-rollback is on: REPLICAOF accepts it"
    ))
}

/// Closes the connection to the master we are streaming from now, as redis frees its master
/// client inside REPLICAOF: our old master must not go on listing us as its replica (a
/// sentinel reading its INFO then would count us twice, by the old and the new address).
fn close_master_client(server: &Server) {
    for c in server.clients.lock().values() {
        if c.is_master.load(Ordering::Relaxed) {
            c.send(crate::server::client::Push::Kill);
        }
    }
}

pub(super) fn obsolete(server: &Server, generation: u64) -> bool {
    server.repl.link.generation.load(Ordering::Acquire) != generation
}

/// Resolves once the link task of `generation` is obsolete (REPLICAOF, a fence).
pub(super) async fn until_obsolete(server: &Server, generation: u64) {
    loop {
        // Registered before the check: a bump between the two still wakes it.
        let changed = server.repl.link.changed.notified();
        if obsolete(server, generation) {
            return;
        }
        changed.await;
    }
}

async fn run_link(server: Arc<Server>, host: String, port: u16, generation: u64) {
    let mut first = true;
    // A failed snapshot transfer is retried at once, as redis does (`cancelReplicationHandshake`
    // with reconnect); other failures wait for the next attempt of the replication cron.
    let mut at_once = false;
    while !obsolete(&server, generation) && !server.is_shutting_down() {
        if !first {
            if !at_once {
                tokio::time::sleep(super::failover::reconnect_delay(&server)).await;
            }
            if obsolete(&server, generation) {
                return;
            }
            tracing::info!("Reconnecting to MASTER {host}:{port} after failure");
        }
        first = false;
        at_once = false;
        server.freeze.wait().await;
        tracing::info!("Connecting to MASTER {host}:{port}");
        tracing::info!("MASTER <-> REPLICA sync started");
        server.repl.link.set_state(LinkState::Connecting);
        let repl_timeout = Duration::from_secs(server.config.read().repl_timeout.max(1));
        let source = server
            .config
            .read()
            .get("bind-source-addr")
            .filter(|a| !a.is_empty());
        let connect =
            tokio::time::timeout(repl_timeout, open(&server, &host, port, source.as_deref())).await;
        let stream = match connect {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::warn!("Error condition on socket for SYNC: {}", io_text(&e));
                server.repl.link.set_state(LinkState::Connect);
                continue;
            }
            Err(_) => {
                tracing::warn!("{HANDSHAKE_TIMEOUT}");
                server.repl.link.set_state(LinkState::Connect);
                continue;
            }
        };
        tracing::info!("Non blocking connect for SYNC fired the event.");
        match session(&server, stream, generation).await {
            Ok(()) | Err(LinkError::Obsolete) => {}
            Err(e) => {
                at_once = server.repl.link.state() == LinkState::Sync;
                tracing::warn!("{e}");
            }
        }
        if obsolete(&server, generation) {
            return;
        }
        if server.repl.link.state() == LinkState::Connected {
            tracing::info!("Connection with master lost.");
            tracing::info!("Caching the disconnected master state.");
        }
        server.repl.link.set_state(LinkState::Connect);
    }
}

/// Redis words a refused connect as "Connection refused".
fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "Connection refused".into(),
        _ => e.to_string(),
    }
}

/// Reads one CRLF-terminated line (without it), skipping bare newlines (keep-alives). After
/// `timeout` of silence the link fails with `timeout_text`.
pub(super) async fn read_line<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
    timeout: Duration,
    timeout_text: &str,
) -> Result<String, LinkError> {
    loop {
        if let Some(nl) = buf.iter().position(|&c| c == b'\n') {
            let line = buf.split_to(nl + 1);
            let text = String::from_utf8_lossy(&line[..nl])
                .trim_end_matches('\r')
                .to_string();
            if text.is_empty() {
                continue;
            }
            return Ok(text);
        }
        if buf.len() > 64 * 1024 {
            return Err(LinkError::Protocol(
                "Master sent a line that is too long".into(),
            ));
        }
        let n = tokio::time::timeout(timeout, stream.read_buf(buf))
            .await
            .map_err(|_| LinkError::Protocol(timeout_text.into()))??;
        if n == 0 {
            return Err(LinkError::Protocol(
                "Master closed the connection during the handshake".into(),
            ));
        }
    }
}

fn command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = BytesMut::new();
    let argv: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
    super::stream::encode_command(&mut out, &argv);
    out.to_vec()
}

/// One connection to the master: handshake, sync, stream. Returns when the link breaks.
async fn session(
    server: &Arc<Server>,
    mut stream: LinkStream,
    generation: u64,
) -> Result<(), LinkError> {
    // The whole handshake is bounded by `repl-timeout` of silence (bare newlines count), as
    // redis `replicationCron` bounds it.
    let io_timeout = {
        let secs = server.config.read().repl_timeout.max(1);
        Duration::from_secs(secs)
    };
    server.repl.link.set_state(LinkState::Handshake);
    let mut buf = BytesMut::with_capacity(16 * 1024);
    stream.write_all(&command(&[b"PING"])).await?;
    let pong = read_line(&mut stream, &mut buf, io_timeout, HANDSHAKE_TIMEOUT).await?;
    if !(pong.starts_with('+')
        || pong.starts_with("-NOAUTH")
        || pong.starts_with("-NOPERM")
        || pong.starts_with("-ERR operation not permitted"))
    {
        return Err(LinkError::Protocol(format!(
            "Error reply to PING from master: '{pong}'"
        )));
    }
    tracing::info!("Master replied to PING, replication can continue...");
    let (auth, user, port, announce_ip, announce_port) = {
        let c = server.config.read();
        // The port our own replicas reach us on (redis `syncWithMaster`).
        let port = if c.tls_replication && c.tls_port != 0 {
            c.tls_port
        } else {
            c.port
        };
        (
            c.masterauth.clone(),
            c.masteruser.clone(),
            port,
            c.replica_announce_ip.clone(),
            c.replica_announce_port,
        )
    };
    let mut burst = Vec::new();
    let mut expected = Vec::new();
    if let Some(pass) = &auth {
        match &user {
            Some(u) => burst.extend(command(&[b"AUTH", u.as_bytes(), pass.as_bytes()])),
            None => burst.extend(command(&[b"AUTH", pass.as_bytes()])),
        }
        expected.push("AUTH");
    }
    let lport = if announce_port != 0 {
        announce_port
    } else {
        port
    };
    burst.extend(command(&[
        b"REPLCONF",
        b"listening-port",
        lport.to_string().as_bytes(),
    ]));
    expected.push("listening-port");
    if let Some(ip) = &announce_ip {
        burst.extend(command(&[b"REPLCONF", b"ip-address", ip.as_bytes()]));
        expected.push("ip-address");
    }
    burst.extend(command(&[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"]));
    expected.push("capa");
    stream.write_all(&burst).await?;
    for what in expected {
        let reply = read_line(&mut stream, &mut buf, io_timeout, HANDSHAKE_TIMEOUT).await?;
        if reply.starts_with('-') {
            if what == "AUTH" {
                return Err(LinkError::Protocol(format!(
                    "Unable to AUTH to MASTER: {reply}"
                )));
            }
            tracing::info!("(Non critical) Master does not understand REPLCONF {what}: {reply}");
        }
    }
    if obsolete(server, generation) {
        return Err(LinkError::Obsolete);
    }
    // PSYNC with our cached master, or our own history if we were a master (so a demoted
    // master can continue from the promoted replica's replid2).
    let cached = server.repl.link.cached.lock().clone();
    let (req_id, req_off) = match cached {
        Some(CachedMaster {
            replid: id,
            offset: off,
            ..
        }) => {
            tracing::info!(
                "Trying a partial resynchronization (request {id}:{}).",
                off + 1
            );
            (id, (off + 1).to_string())
        }
        None => {
            tracing::info!("Partial resynchronization not possible (no cached master)");
            ("?".to_string(), "-1".to_string())
        }
    };
    // A master demoted by FAILOVER asks its target to take over (`PSYNC ... FAILOVER`); the
    // failover ends with the answer, or is aborted (we become a master again) without one.
    let failing_over = super::failover::in_progress(server);
    let mut psync: Vec<&[u8]> = vec![b"PSYNC", req_id.as_bytes(), req_off.as_bytes()];
    if failing_over {
        psync.push(b"FAILOVER");
    }
    let sent = stream.write_all(&command(&psync)).await;
    if failing_over && sent.is_err() {
        super::failover::abort(server, "Write error to failover target");
    }
    sent?;
    let reply = read_line(&mut stream, &mut buf, io_timeout, HANDSHAKE_TIMEOUT).await;
    if failing_over {
        super::failover::psync_replied(server, reply.as_deref().ok());
    }
    let reply = reply?;
    if obsolete(server, generation) {
        return Err(LinkError::Obsolete);
    }
    let applied_from;
    if let Some(rest) = reply.strip_prefix("+FULLRESYNC ") {
        let mut parts = rest.split(' ');
        let (Some(id), Some(off)) = (
            parts.next(),
            parts.next().and_then(|o| o.parse::<u64>().ok()),
        ) else {
            return Err(LinkError::Protocol(
                "Master replied with wrong +FULLRESYNC syntax.".into(),
            ));
        };
        if id.len() != 40 {
            return Err(LinkError::Protocol(
                "Master replied with wrong +FULLRESYNC syntax.".into(),
            ));
        }
        if let Some(why) = refusal(server, id, off) {
            return Err(LinkError::Protocol(why));
        }
        tracing::info!("Full resync from master: {id}:{off}");
        server.repl.link.set_state(LinkState::Sync);
        let (report, returned) =
            super::sync_load::receive_and_load(server, stream, &mut buf, generation, id, off)
                .await?;
        stream = returned;
        // Sub-replicas must resync from our new history.
        super::disconnect_replicas(server);
        // A master sends a SELECT before its first write after a full sync; until then its
        // stream is where the snapshot says.
        applied_from = (off, report.stream_db(server.keyspace.databases()));
        tracing::info!("MASTER <-> REPLICA sync: Finished with success");
    } else if let Some(rest) = reply.strip_prefix("+CONTINUE") {
        let new_id = rest.trim();
        let mut ids = server.repl.ids.lock();
        let (cached_off, cached_db) = server
            .repl
            .link
            .cached
            .lock()
            .as_ref()
            .map_or((0, 0), |c| (c.offset, c.db));
        if !new_id.is_empty() && new_id != ids.replid {
            ids.replid2 = std::mem::replace(&mut ids.replid, new_id.to_string());
            ids.second_offset = cached_off as i64 + 1;
            tracing::info!("Master replication ID changed to {new_id}");
            drop(ids);
            super::disconnect_replicas(server);
        } else {
            drop(ids);
        }
        if !server.repl.stream.is_active() {
            server.repl.stream.activate(cached_off);
        }
        applied_from = (cached_off, cached_db);
        server.repl.link.requested.store(false, Ordering::Release);
        tracing::info!("MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.");
        tracing::info!("Successful partial resynchronization with master.");
    } else if reply.starts_with("-NOMASTERLINK") || reply.starts_with("-LOADING") {
        tracing::info!("Master is currently unable to PSYNC but should be in the future: {reply}");
        return Ok(());
    } else {
        return Err(LinkError::Protocol(format!(
            "Unexpected reply to PSYNC from master: {reply}"
        )));
    }
    server.repl.link.set_state(LinkState::Connected);
    server
        .repl
        .link
        .last_io_ms
        .store(crate::util::now_ms(), Ordering::Release);
    stream_loop(server, stream, buf, applied_from, generation).await
}

/// Applies the master's stream from `start` (offset, database): every complete command through
/// the dispatcher as the master client, forwarding its exact bytes to our own replicas; ACKs
/// every second and on GETACK.
///
/// A transaction counts as applied (in the offset we ACK and offer to PSYNC, and in what our
/// replicas and backlog get) only once its EXEC is: a link dropped inside MULTI discards the
/// queued commands, and the partial resync sends the whole transaction again (redis advances
/// its master client's offset only outside MULTI).
async fn stream_loop(
    server: &Arc<Server>,
    mut stream: LinkStream,
    buf: BytesMut,
    start: (u64, usize),
    generation: u64,
) -> Result<(), LinkError> {
    let link = &server.repl.link;
    let mut applied = start.0;
    // Frames of the transaction being received, applied with its EXEC.
    let mut open_tx = BytesMut::new();
    // Read as a client's query buffer is: a big argument gets a buffer of its size, not a
    // doubled one that the value stored from it would keep alive.
    let mut qb = crate::server::querybuf::QueryBuf::default();
    qb.buf = buf;
    let mut hint = 0;
    let mut read = applied + qb.buf.len() as u64;
    link.read_offset.store(read, Ordering::Release);
    link.applied_offset.store(applied, Ordering::Release);
    // A command of the master's held back by CLIENT PAUSE (redis blocks its master client with
    // BLOCKED_POSTPONE): nothing after it runs until the pause ends, but reading goes on.
    let mut postponed: Option<(Vec<Bytes>, Bytes)> = None;
    // Named by the master's address, so CLIENT KILL <ip:port> / TYPE master find it.
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let local = stream
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let (mut client, mut pushes) =
        crate::server::connection::register(server, peer, local, stream.raw_fd());
    client.is_master_link = true;
    client.authenticated = true;
    client.shared.is_master.store(true, Ordering::Relaxed);
    client.db = start.1;
    client.shared.db.store(start.1, Ordering::Relaxed);
    let mut ack_tick = tokio::time::interval(Duration::from_secs(1));
    let timeout_s = server.config.read().repl_timeout.max(1) as i64;
    let result = loop {
        let mut acks = Vec::new();
        server.freeze.wait().await;
        let applying = link.apply.lock();
        if obsolete(server, generation) {
            break Err(LinkError::Obsolete);
        }
        loop {
            let next = match postponed.take() {
                Some(held) => Ok(Some(held)),
                None => decode_request_frame(
                    &mut qb.buf,
                    DecodeLimits::default(),
                    &mut hint,
                    &mut qb.scan,
                ),
            };
            match next {
                Ok(Some((argv, frame))) => {
                    hint = 0;
                    if argv.is_empty() {
                        continue;
                    }
                    if crate::commands::admin::pause::must_wait(server, &client, &argv) {
                        postponed = Some((argv, frame));
                        break;
                    }
                    let is_getack = argv.len() >= 2
                        && argv[0].eq_ignore_ascii_case(b"replconf")
                        && argv[1].eq_ignore_ascii_case(b"getack");
                    if is_getack {
                        // The ACK excludes the GETACK itself.
                        acks.push(applied);
                    } else {
                        let reply = crate::server::dispatch::process(server, &mut client, &argv);
                        if let crate::protocol::Reply::Error(e) = &reply {
                            // propagation-error-behavior ignore (the default): logged, applied on.
                            let name = crate::server::dispatch::resolve(&argv)
                                .map_or("<unknown>", |(_, spec)| spec.name);
                            let text = e.strip_prefix("ERR ").unwrap_or(e);
                            tracing::warn!(
                                "== CRITICAL == This replica is sending an error to its master: '{text}' after processing the command '{name}'"
                            );
                        }
                    }
                    if client.multi.is_some() {
                        open_tx.extend_from_slice(&frame);
                        continue;
                    }
                    let done = if open_tx.is_empty() {
                        &frame[..]
                    } else {
                        open_tx.extend_from_slice(&frame);
                        &open_tx[..]
                    };
                    applied += done.len() as u64;
                    server.repl.stream.append_raw(done, client.db);
                    open_tx.clear();
                    link.applied_offset.store(applied, Ordering::Release);
                }
                Ok(None) => break,
                Err(e) => {
                    drop(applying);
                    client_cleanup(server, &mut client);
                    return Err(LinkError::Protocol(format!(
                        "Protocol error from MASTER: {e}"
                    )));
                }
            }
        }
        let replid = server.repl.ids.lock().replid.clone();
        *link.cached.lock() = Some(CachedMaster::new(replid, applied, client.db));
        drop(applying);
        for a in acks {
            if stream
                .write_all(&command(&[b"REPLCONF", b"ACK", a.to_string().as_bytes()]))
                .await
                .is_err()
            {
                break;
            }
        }
        qb.prepare(hint);
        tokio::select! {
            r = qb.read(&mut stream) => match r {
                Ok(0) | Err(_) => break Ok(()),
                Ok(n) => {
                    server.stats.net_input_bytes.add(n as u64);
                    read += n as u64;
                    qb.note_peak(hint);
                    link.read_offset.store(read, Ordering::Release);
                    link.last_io_ms.store(crate::util::now_ms(), Ordering::Release);
                }
            },
            _ = crate::commands::admin::pause::nap(server), if postponed.is_some() => {}
            p = pushes.recv() => {
                if matches!(p, crate::server::client::Push::Kill) {
                    break Ok(());
                }
            }
            _ = ack_tick.tick() => {
                if stream.write_all(&command(&[b"REPLCONF", b"ACK", applied.to_string().as_bytes()])).await.is_err() {
                    break Ok(());
                }
                let idle = crate::util::now_ms() - link.last_io_ms.load(Ordering::Acquire);
                if idle > timeout_s * 1000 {
                    tracing::warn!("MASTER timeout: no data nor PING received...");
                    break Ok(());
                }
                // The master's client is resized by the clients cron as any other (a buffer
                // that grew for a big argument does not stay at that size).
                qb.resize(idle / 1000, hint);
            }
        }
    };
    client_cleanup(server, &mut client);
    result
}

fn client_cleanup(server: &Server, client: &mut crate::server::client::Client) {
    crate::server::connection::unregister(server, client);
}

/// Connects to the master, and with `tls-replication yes` opens TLS over the connection
/// (redis `connCreateTLS`): the master's certificate must come from our CA.
async fn open(
    server: &Server,
    host: &str,
    port: u16,
    source: Option<&str>,
) -> std::io::Result<LinkStream> {
    let stream = connect_from(host, port, source).await?;
    let _ = stream.set_nodelay(true);
    if server.config.read().tls_replication {
        Ok(LinkStream::Tls(Box::new(server.tls.connect(stream).await?)))
    } else {
        Ok(LinkStream::Plain(stream))
    }
}

/// Connects to the master, from `bind-source-addr` when it is set (redis binds the outgoing
/// socket to it), trying each address the host resolves to.
async fn connect_from(host: &str, port: u16, source: Option<&str>) -> std::io::Result<TcpStream> {
    let Some(source) = source else {
        return TcpStream::connect((host, port)).await;
    };
    let src: std::net::IpAddr = source.parse().map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "invalid bind-source-addr")
    })?;
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address to connect to");
    for addr in tokio::net::lookup_host((host, port)).await? {
        if addr.is_ipv4() != src.is_ipv4() {
            continue;
        }
        let sock = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        sock.bind(std::net::SocketAddr::new(src, 0))?;
        match sock.connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}
