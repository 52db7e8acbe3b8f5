//! One client connection: read, decode every complete request in the buffer (pipelining),
//! dispatch each, and flush all replies of the batch in one write. Pushes from other tasks
//! (pub/sub messages, MONITOR lines, CLIENT KILL) arrive on a channel.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::blocking::Outcome;
use super::client::{Client, ClientShared, Push, Pushes, ReplyMode};
use super::{dispatch, output, Server};
use crate::protocol::encode::encode;
use crate::protocol::{decode_request_into, DecodeLimits, Reply};

/// Arguments the request vector keeps room for between requests (32 bytes each).
const ARGV_KEEP: usize = 1024;

/// Registers a new client and returns its state and push receiver.
pub fn register(server: &Server, addr: String, laddr: String, fd: i32) -> (Client, Pushes) {
    let id = server.next_client_id.fetch_add(1, Ordering::Relaxed);
    let shared = new_shared(id, addr, laddr, fd);
    let rx = Pushes::new(shared.clone());
    server.clients.lock().insert(id, shared.clone());
    server
        .stats
        .total_connections_received
        .fetch_add(1, Ordering::Relaxed);
    let mut client = Client::new(shared, server.acl.default_logs_in());
    client.set_user(Some(server.acl.default.clone()));
    (client, rx)
}

/// A client no connection and no registry entry knows: the one replaying the AOF (redis
/// `createAOFClient`, id `CLIENT_ID_AOF`).
pub fn detached(id: u64) -> Client {
    let shared = new_shared(id, String::new(), String::new(), -1);
    // Nothing reads its pushes.
    drop(Pushes::new(shared.clone()));
    Client::new(shared, true)
}

pub(crate) fn new_shared(id: u64, addr: String, laddr: String, fd: i32) -> Arc<ClientShared> {
    Arc::new(ClientShared {
        id,
        addr,
        laddr,
        fd,
        created: Instant::now(),
        name: Mutex::new(None),
        db: AtomicUsize::new(0),
        last_cmd: Mutex::new("NULL"),
        last_interaction: AtomicI64::new(crate::util::now_ms()),
        dirty_cas: AtomicBool::new(false),
        sub_count: AtomicUsize::new(0),
        psub_count: AtomicUsize::new(0),
        ssub_count: AtomicUsize::new(0),
        in_multi: AtomicBool::new(false),
        is_replica: AtomicBool::new(false),
        is_master: AtomicBool::new(false),
        is_monitor: AtomicBool::new(false),
        tls: AtomicBool::new(false),
        no_evict: AtomicBool::new(false),
        mem: AtomicUsize::new(0),
        own_mem: AtomicUsize::new(0),
        evicted_mem: AtomicUsize::new(0),
        resp: AtomicUsize::new(2),
        is_blocked: AtomicBool::new(false),
        close_after_unblock: AtomicBool::new(false),
        obuf: Default::default(),
        qbuf_len: AtomicUsize::new(0),
        qbuf_cap: AtomicUsize::new(0),
        repl_reader: Mutex::new(None),
        user: Mutex::new(None),
        mailbox: Default::default(),
    })
}

/// Forgets a client: subscriptions, WATCHes, MONITOR, registry entry.
/// Closes client `id` as redis's CLIENT KILL frees a client: its socket is shut down at once,
/// so the peer sees the connection end before the killer gets its reply, and it leaves the
/// client list at once (the INFO or CLIENT LIST that comes next does not count it); its task,
/// woken by `Push::Kill`, releases the rest. A task unregisters its client before it closes
/// the socket, so the descriptor is the client's own while the registry lock is held. False
/// if no such client is registered.
pub fn kill(server: &Server, id: u64) -> bool {
    let mut clients = server.clients.lock();
    let Some(c) = clients.get(&id) else {
        return false;
    };
    c.send(Push::Kill);
    if c.fd >= 0 {
        let _ = nix::sys::socket::shutdown(c.fd, nix::sys::socket::Shutdown::Both);
    }
    clients.remove(&id);
    true
}

pub fn unregister(server: &Server, client: &mut Client) {
    let id = client.id();
    for ch in client.subs.drain() {
        server.pubsub.unsubscribe(&ch, id);
    }
    for p in client.psubs.drain() {
        server.pubsub.punsubscribe(&p, id);
    }
    for ch in client.ssubs.drain() {
        server
            .pubsub
            .unsubscribe_in(crate::server::pubsub::Space::Shard, &ch, id);
    }
    dispatch::unwatch_all(server, client);
    server.tracking.client_gone(id);
    server.monitors.remove(id);
    server.clients.lock().remove(&id);
    client.shared.obuf.begin_close();
    server.client_mem.forget(&client.shared);
}

/// Encodes a reply unless CLIENT REPLY suppresses it. Pub/sub confirmations are pushes,
/// which CLIENT REPLY OFF|SKIP does not silence (redis `CLIENT_PUSHING`). A big buffer grows
/// by [`output::make_room`]'s steps, not by doubling.
fn emit(client: &mut Client, reply: &Reply, out: &mut BytesMut) {
    // The strings plus room for the headers of a small reply.
    output::make_room(out, output::reply_size_hint(reply) + 64);
    emit_unsized(client, reply, out);
    output::fit(out);
}

fn emit_unsized(client: &mut Client, reply: &Reply, out: &mut BytesMut) {
    let push = match reply {
        Reply::Push(_) => true,
        Reply::Multi(v) => !v.is_empty() && v.iter().all(|r| matches!(r, Reply::Push(_))),
        _ => false,
    };
    if push && client.reply_mode != ReplyMode::On {
        encode(reply, client.resp, out);
        if client.reply_mode == ReplyMode::Skip {
            client.reply_mode = ReplyMode::On;
        }
        return;
    }
    match client.reply_mode {
        ReplyMode::On => encode(reply, client.resp, out),
        ReplyMode::Off => {}
        // CLIENT REPLY SKIP answers nothing itself: the skip applies to the next reply.
        ReplyMode::Skip if matches!(reply, Reply::None) => {}
        ReplyMode::Skip => client.reply_mode = ReplyMode::On,
    }
}

/// Serves one connection until it closes, is killed, or the server shuts down.
pub async fn serve<S>(server: Arc<Server>, mut stream: S, mut client: Client, mut rx: Pushes)
where
    S: AsyncRead + AsyncWrite + super::order::WatchReads + Unpin + Send + 'static,
{
    let mut qb = super::querybuf::QueryBuf::default();
    let mut rb = output::ReplyBuf::default();
    // Allocated by the first reply, at the size it needs: an idle connection that sent one
    // PING holds a few bytes of output buffer, not a page.
    let mut out = BytesMut::new();
    // Bytes at the front of `out` already counted as pending output: replies the socket had no
    // room for, which go out while the next requests are read.
    let mut counted = 0usize;
    let mut shutdown = server.shutdown_tx.subscribe();
    let mut hint = 0usize;
    // The arguments of the request being run, kept from one request to the next.
    let mut argv: Vec<bytes::Bytes> = Vec::new();
    let idle_timeout = server.config.read().timeout;
    let mut last_activity = Instant::now();
    let slot = super::order::Slot::new();
    let waker = std::task::Waker::from(slot.clone());
    loop {
        qb.prepare(hint);
        rb.trim(&client.shared, &mut out);
        // Pushes taken while a command waited (blocked, paused) went out with its replies.
        rx.written();
        let idle = async {
            if idle_timeout == 0 || client.in_pubsub() || client.is_master_link {
                std::future::pending::<()>().await
            } else {
                let deadline = last_activity + Duration::from_secs(idle_timeout);
                tokio::time::sleep_until(deadline.into()).await
            }
        };
        tokio::select! {
            r = output::read_while_sending(&server, &client.shared, &mut stream, &mut qb, &mut out, &mut counted, &slot, &waker) => {
                let n = match r {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                // Requests that come while this batch runs still take their ticket on arrival.
                stream.watch_reads(&waker);
                // A DEBUG SLEEP at the front of these requests holds the server before their
                // turn lets later requests start (see `Freeze::announce`).
                let announced = server.freeze.announce(&qb.buf);
                // Connections the reactor woke before this one run their first command first.
                super::order::take_turn(&slot).await;
                // A DEBUG SLEEP read before these requests holds them, as Redis's sleep holds
                // everything. Checked once the earlier reads started (a check before the turn
                // let a request through while the sleep that came first was about to begin:
                // MIGRATE's RESTORE on a new connection got OK from a server told to sleep).
                if announced.is_none() {
                    server.freeze.wait().await;
                }
                qb.note_peak(hint);
                last_activity = Instant::now();
                let clock = crate::util::WallAnchor::now();
                client.clock = Some(clock);
                client.shared.last_interaction.store(clock.ms(), Ordering::Relaxed);
                server.stats.net_input_bytes.add(n as u64);
                // Pushes queued before these requests came (an invalidation of a key another
                // client just changed) go out before their replies, as Redis had written them
                // into the buffer first; otherwise the select could take the requests first.
                if !take_queued_pushes(&client.shared, &mut rx, &mut out, &mut counted) {
                    break;
                }
                let (limits, query_limit) = {
                    let c = server.config.read();
                    (DecodeLimits { max_bulk_len: c.proto_max_bulk_len, authenticated: client.authenticated }, c.client_query_buffer_limit)
                };
                let mut limits = limits;
                loop {
                    limits.authenticated = client.authenticated;
                    match decode_request_into(&mut qb.buf, limits, &mut hint, &mut argv, &mut qb.scan) {
                        Ok(true) => {
                            hint = 0;
                            if argv.is_empty() {
                                continue;
                            }
                            // INFO, CLIENT LIST...: the requests that came before this one on
                            // other connections have run, not merely started.
                            if super::order::observes_others(&argv) {
                                Box::pin(super::order::wait_for_earlier(&slot)).await;
                            }
                            if crate::commands::admin::pause::must_wait(&server, &client, &argv) {
                                slot.disarm();
                                // CLIENT PAUSE: earlier replies go out, then this request waits.
                                if Box::pin(output::flush(&server, &client.shared, &mut stream, &mut out, &mut counted, &mut rx)).await.is_err() {
                                    client.close_after_reply = true;
                                    break;
                                }
                                let postponed = server.blocking.postpone(&client.shared);
                                let alive = Box::pin(crate::commands::admin::pause::wait(&server, &client.shared, &mut rx, &mut out)).await;
                                drop(postponed);
                                if !alive {
                                    client.close_after_reply = true;
                                    break;
                                }
                            }
                            // Client eviction before each command (redis `processCommand`).
                            output::note_alloc(&client.shared, &out);
                            if server.client_mem.after_command(&server, &client, out.len() - counted) {
                                break;
                            }
                            let mut reply = if crate::scripting::ldb::tls::wanted(&client, &argv) {
                                slot.disarm();
                                // Earlier replies go out before the debugger's first words.
                                if output::flush(&server, &client.shared, &mut stream, &mut out, &mut counted, &mut rx).await.is_err() {
                                    client.close_after_reply = true;
                                    break;
                                }
                                let (back, reply) = crate::scripting::ldb::tls::relay(stream, &mut client, |c| dispatch::process(&server, c, &argv)).await;
                                let Some(back) = back else {
                                    // The session owns the stream now (or the relay failed).
                                    output::abandon(&client.shared, &mut out, &mut counted);
                                    unregister(&server, &mut client);
                                    slot.release();
                                    server.client_mem.released(&client.shared);
                                    return;
                                };
                                stream = back;
                                reply
                            } else {
                                dispatch::process(&server, &mut client, &argv)
                            };
                            let mut own = server.tracking.take_own(client.id());
                            if let Some(b) = client.blocked.take() {
                                slot.disarm();
                                // Everything before the blocking command goes out first.
                                if let Some(o) = own.take() {
                                    out.extend_from_slice(&o.before);
                                    out.extend_from_slice(&o.after);
                                }
                                if Box::pin(output::flush(&server, &client.shared, &mut stream, &mut out, &mut counted, &mut rx)).await.is_err() {
                                    client.close_after_reply = true;
                                    break;
                                }
                                match Box::pin(super::blocking::resolve(&server, &mut client, b, &mut stream, &mut qb.buf, &mut rx)).await {
                                    Outcome::Reply(r) => reply = r,
                                    Outcome::ReplyAndClose(r) => {
                                        reply = r;
                                        client.close_after_reply = true;
                                    }
                                    Outcome::Close => {
                                        client.close_after_reply = true;
                                        break;
                                    }
                                }
                                own = server.tracking.take_own(client.id());
                            }
                            // Invalidations for this client go around its reply as Redis
                            // writes them (server/tracking.rs).
                            match own {
                                None => emit(&mut client, &reply, &mut out),
                                Some(o) => {
                                    out.extend_from_slice(&o.before);
                                    emit(&mut client, &reply, &mut out);
                                    out.extend_from_slice(&o.after);
                                }
                            }
                            // Over the output buffer limit: the client is closed, nothing of the
                            // batch is written and the rest of it is not run.
                            if out.len() > client.shared.obuf.rbs.load(Ordering::Relaxed)
                                && output::check(&server, &client.shared, out.len() - counted)
                            {
                                break;
                            }
                            if client.close_after_reply || client.takeover.is_some() {
                                break;
                            }
                        }
                        Ok(false) => break,
                        Err(e) => {
                            tracing::debug!("Protocol error ({e}) from client: {}", client.shared.addr);
                            encode(&Reply::Error(format!("ERR Protocol error: {e}").into()), client.resp, &mut out);
                            client.close_after_reply = true;
                            break;
                        }
                    }
                }
                // Let go of the last request's slices of the read buffer, and of the vector
                // itself after a request with many arguments (Redis frees its argv array
                // after each command): it would hold 32 bytes per argument for good.
                argv.clear();
                if argv.capacity() > ARGV_KEEP {
                    argv = Vec::new();
                }
                if client.shared.obuf.closing() {
                    break;
                }
                // BCAST invalidations of the batch's writes, as Redis sends them before it
                // sleeps.
                server.tracking.broadcast(&server);
                qb.publish(&client.shared);
                if qb.buf.len() as u64 > query_limit {
                    let head = crate::util::repr(&qb.buf[..qb.buf.len().min(64)]);
                    tracing::warn!("Closing client that reached max query buffer length: {} (qbuf initial bytes: {head})", crate::commands::admin::client::describe(&client.shared));
                    break;
                }
                rb.note(&client.shared, out.len());
                // A client that closes after this reply (QUIT, a protocol error) leaves the
                // client list before the reply goes out, as Redis frees it in the event-loop
                // turn that writes it: whoever reads the reply and then acts through another
                // connection no longer finds it (CLIENT LIST, a tracking redirection that is
                // now broken).
                if client.close_after_reply {
                    server.clients.lock().remove(&client.id());
                }
                // The batch ran: the observers that came after it may run (a connection that
                // closes is done once it left the client list, below).
                slot.done();
                drop(announced);
                let sending = if client.close_after_reply || client.takeover.is_some() {
                    Box::pin(output::flush(&server, &client.shared, &mut stream, &mut out, &mut counted, &mut rx)).await
                } else {
                    output::send_some(&server, &client.shared, &mut stream, &mut out, &mut counted).await
                };
                output::note_alloc(&client.shared, &out);
                if sending.is_err() || server.client_mem.after_command(&server, &client, 0) {
                    break;
                }
                if client.close_after_reply {
                    break;
                }
                if let Some(t) = client.takeover.take() {
                    // The replication side reads the socket from now on.
                    slot.disarm();
                    Box::pin(crate::replication::master::serve_replica(server.clone(), stream, client, rx, t)).await;
                    return;
                }
            }
            p = rx.recv() => {
                match p {
                    Push::Bytes(b) => {
                        output::take_push_counted(&client.shared, &b, &mut out, &mut counted);
                        drop(b);
                        // Drain whatever else is queued so a burst goes out in one write.
                        let killed = !take_queued_pushes(&client.shared, &mut rx, &mut out, &mut counted);
                        rb.note(&client.shared, out.len());
                        if killed || output::send_some(&server, &client.shared, &mut stream, &mut out, &mut counted).await.is_err() {
                            break;
                        }
                        output::release_after_pushes(&mut out);
                        output::note_alloc(&client.shared, &out);
                        rx.written();
                        // Measured again now that the pushes moved here: the pusher measured
                        // while they were in flight and may have missed them.
                        if server.client_mem.after_output(&server, &client.shared) {
                            break;
                        }
                    }
                    Push::Resize => {
                        let idle = (crate::util::now_ms() - client.shared.last_interaction.load(Ordering::Relaxed)) / 1000;
                        qb.resize(idle, hint);
                        qb.publish(&client.shared);
                        rb.resize(&server, &client.shared, &mut out);
                    }
                    Push::Kill => break,
                }
            }
            _ = shutdown.changed() => break,
            _ = idle => {
                tracing::debug!("Closing idle client");
                break;
            }
        }
    }
    output::abandon(&client.shared, &mut out, &mut counted);
    // Forgotten before the socket closes, as Redis unlinks a client before closing it: whoever
    // sees the connection end no longer finds it in CLIENT LIST.
    unregister(&server, &mut client);
    // Observers that came after this connection's last requests see it gone.
    slot.release();
    // A client closed over its limits, or whose buffers grew, leaves blocks in this thread's
    // allocator cache; give them back so used_memory drops with it. Freed before the socket
    // closes, as Redis frees a client at once.
    let big = out.capacity() > BIG_BUFFER || qb.buf.capacity() > BIG_BUFFER;
    drop((out, qb));
    if big || client.shared.obuf.closing() {
        super::memory::release_thread_cache();
    }
    server.client_mem.released(&client.shared);
    if !client.socket_handed_off {
        close(&mut stream, client.close_after_reply).await;
    }
}

/// Moves the pushes queued for the connection into `out` (between batches, all counted as
/// pending output); a cron visit's resize waits for the next one. False when one of them
/// closes the connection (CLIENT KILL, an output buffer limit, shutdown).
fn take_queued_pushes(
    c: &ClientShared,
    rx: &mut Pushes,
    out: &mut BytesMut,
    counted: &mut usize,
) -> bool {
    while let Some(p) = rx.try_recv() {
        match p {
            Push::Bytes(b) => output::take_push_counted(c, &b, out, counted),
            Push::Resize => {}
            Push::Kill => return false,
        }
    }
    true
}

/// Closes the connection. One that ends after its last reply (QUIT, a failed HELLO...) first
/// sends what is left of it; any other (killed, over its output limit, gone) ends at once, as
/// Redis's `connClose`: a TLS close_notify goes out if the socket takes it now, but nothing
/// waits for a client that does not read (its unsent records would stay in memory meanwhile).
async fn close<S: AsyncWrite + Unpin>(stream: &mut S, drain: bool) {
    if drain {
        let _ = stream.shutdown().await;
    } else {
        let once = std::future::poll_fn(|cx| {
            let _ = std::pin::Pin::new(&mut *stream).poll_shutdown(cx);
            std::task::Poll::Ready(())
        });
        once.await;
    }
}

/// Buffer capacity past which a closing connection releases its thread's allocator cache.
const BIG_BUFFER: usize = 64 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    fn future_size<A, B, C, D, F>(_: impl Fn(A, B, C, D) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// Each connection's task holds its future: the paths a connection rarely takes (a blocked
    /// command, CLIENT PAUSE, a replica's sync) are boxed so that every idle connection does
    /// not carry their state (1864 bytes on x86_64 when this was written).
    #[test]
    fn an_idle_connection_s_future_stays_small() {
        let size = future_size(serve::<tokio::net::TcpStream>);
        assert!(size <= 2048, "{size}");
    }
}
