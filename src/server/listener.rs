//! Listening sockets (TCP per `bind` address, optional unix socket), the accept loops with the
//! `maxclients` check, and the server cron (active expiry at `hz`).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use super::{connection, Server};

/// Why the server could not start listening.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("Failed listening on port {port} (tcp), aborting: {source}")]
    Tcp { port: u16, source: std::io::Error },
    #[error("Failed listening on port {port} (TLS), aborting: {source}")]
    Tls { port: u16, source: std::io::Error },
    #[error("Failed opening Unix socket: {0}")]
    Unix(std::io::Error),
}

/// Expands `bind` addresses as redis does: `*` = every IPv4 address, `::*` = every IPv6 one;
/// a leading `-` marks an address whose failure to bind is not fatal. An address that does
/// not parse is kept as `None`: binding it fails (skipping it could leave no listener).
fn bind_targets(bind: &[String], port: u16) -> Vec<(Option<SocketAddr>, bool)> {
    let mut out = Vec::new();
    for b in bind {
        let (optional, addr) = match b.strip_prefix('-') {
            Some(a) => (true, a),
            None => (false, b.as_str()),
        };
        let ip = match addr {
            "*" => "0.0.0.0".to_string(),
            "::*" => "::".to_string(),
            a => a.to_string(),
        };
        match ip.parse::<std::net::IpAddr>() {
            Ok(ip) => out.push((Some(SocketAddr::new(ip, port)), optional)),
            Err(_) => {
                tracing::warn!("Invalid bind address '{addr}'");
                out.push((None, optional));
            }
        }
    }
    out
}

/// What a listening socket speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Plain,
    Tls,
}

/// The bound sockets of `port` and `tls-port`.
pub struct Listeners {
    tcp: Vec<TcpListener>,
    tls: Vec<TcpListener>,
}

/// Binds every configured address on `port` and `tls-port`. Fails if a non-optional address
/// cannot be bound.
pub async fn bind_all(server: &Server) -> Result<Listeners, ListenError> {
    Ok(Listeners {
        tcp: bind_tcp(server, Transport::Plain)?,
        tls: bind_tcp(server, Transport::Tls)?,
    })
}

/// CONFIG SET port / tls-port / bind (redis `changeListenPort`, `changeBindAddr`): binds the
/// configured addresses of that transport anew and, once all are bound, serves them instead of
/// the old ones, which are closed before the reply, as Redis closes them (connected clients
/// stay): the next command can bind their port. On failure the old listeners keep serving.
pub fn rebind(server: &Arc<Server>, transport: Transport) -> Result<(), ListenError> {
    let listeners = bind_tcp(server, transport)?;
    if transport == Transport::Plain {
        server
            .tcp_port
            .store(server.config.read().port, Ordering::Relaxed);
    }
    serve(server, listeners, transport);
    Ok(())
}

/// A listening socket, served by its accept loop while it is there: taking it out closes it
/// at once, whatever the loop is doing.
type Slot = Arc<parking_lot::Mutex<Option<TcpListener>>>;

/// The listening sockets in use, per transport.
#[derive(Default)]
pub struct Open {
    plain: parking_lot::Mutex<Vec<Slot>>,
    tls: parking_lot::Mutex<Vec<Slot>>,
}

impl Open {
    /// Closes every listening socket (redis `closeListeningSockets` in `finishShutdown`): a
    /// shutdown closes them before any connection, so whoever saw its connection end finds
    /// the port refusing, not a connection accepted and then dropped.
    pub fn close_all(&self) {
        for transport in [Transport::Plain, Transport::Tls] {
            for slot in self.of(transport).lock().iter() {
                drop(slot.lock().take());
            }
        }
    }

    fn of(&self, transport: Transport) -> &parking_lot::Mutex<Vec<Slot>> {
        match transport {
            Transport::Plain => &self.plain,
            Transport::Tls => &self.tls,
        }
    }
}

/// Serves `listeners` as `transport`'s sockets, closing the ones served so far.
fn serve(server: &Arc<Server>, listeners: Vec<TcpListener>, transport: Transport) {
    let slots: Vec<Slot> = listeners
        .into_iter()
        .map(|l| Arc::new(parking_lot::Mutex::new(Some(l))))
        .collect();
    let old = std::mem::replace(&mut *server.listening.of(transport).lock(), slots.clone());
    for slot in old {
        drop(slot.lock().take());
    }
    for slot in slots {
        tokio::spawn(accept_loop(server.clone(), slot, transport));
    }
}

/// Must run inside the runtime (the listeners register with its reactor).
fn bind_tcp(server: &Server, transport: Transport) -> Result<Vec<TcpListener>, ListenError> {
    let (bind, port) = {
        let c = server.config.read();
        let port = match transport {
            Transport::Plain => c.port,
            Transport::Tls => c.tls_port,
        };
        (c.bind.clone(), port)
    };
    if port == 0 {
        return Ok(Vec::new());
    }
    let mut listeners = Vec::new();
    for (addr, optional) in bind_targets(&bind, port) {
        let res = match addr {
            Some(a) => listen_on(a),
            None => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "invalid address",
            )),
        };
        match res {
            Ok(l) => listeners.push(l),
            Err(e) if optional => tracing::debug!("Skipping optional bind {addr:?}: {e}"),
            Err(source) if transport == Transport::Tls => {
                return Err(ListenError::Tls { port, source })
            }
            Err(source) => return Err(ListenError::Tcp { port, source }),
        }
    }
    Ok(listeners)
}

fn listen_on(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let sock = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => {
            let sock = tokio::net::TcpSocket::new_v6()?;
            // IPv6 only, as Redis sets it (`anetV6Only`): `bind * -::*` binds 0.0.0.0 and ::
            // on one port, which a dual-stack :: socket could not share with the IPv4 one.
            nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::Ipv6V6Only, &true)
                .map_err(std::io::Error::from)?;
            sock
        }
    };
    sock.set_reuseaddr(true)?;
    sock.bind(addr)?;
    sock.listen(511)
}

/// Serves until shutdown is requested; returns after connections were told to stop.
pub async fn run(server: Arc<Server>, listeners: Listeners) {
    serve(&server, listeners.tcp, Transport::Plain);
    serve(&server, listeners.tls, Transport::Tls);
    #[cfg(unix)]
    if let Some(path) = server.config.read().unixsocket.clone() {
        let perm = server.config.read().unixsocketperm;
        let _ = std::fs::remove_file(&path);
        match tokio::net::UnixListener::bind(&path) {
            Ok(l) => {
                if perm != 0 {
                    use std::os::unix::fs::PermissionsExt;
                    let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(perm));
                }
                tokio::spawn(unix_accept_loop(server.clone(), l));
            }
            Err(e) => tracing::warn!("Failed opening Unix socket: {e}"),
        }
    }
    tokio::spawn(cron(server.clone()));
    let mut rx = server.shutdown_tx.subscribe();
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            break;
        }
    }
}

/// Accepts on `slot`'s socket until it is taken out (closed) or the server shuts down.
async fn accept_loop(server: Arc<Server>, slot: Slot, transport: Transport) {
    let mut shutdown = server.shutdown_tx.subscribe();
    let accept = || {
        std::future::poll_fn(|cx| match slot.lock().as_ref() {
            Some(l) => l.poll_accept(cx).map(Some),
            None => std::task::Poll::Ready(None),
        })
    };
    loop {
        tokio::select! {
            r = accept() => match r {
                None => return,
                Some(Ok((stream, peer))) if transport == Transport::Tls => {
                    // The handshake runs in the connection's own task.
                    tokio::spawn(accept_tls(server.clone(), stream, peer));
                }
                Some(Ok((stream, peer))) => accept_tcp(&server, stream, peer).await,
                Some(Err(e)) => {
                    tracing::warn!("Accepting client connection: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            _ = shutdown.changed() => {
                drop(slot.lock().take());
                return;
            }
        }
    }
}

/// Whether a new connection is over `maxclients` (counted as rejected when it is).
fn at_limit(server: &Server) -> bool {
    let max = server.config.read().maxclients as usize;
    if server.connected_clients() >= max {
        server
            .stats
            .rejected_connections
            .fetch_add(1, Ordering::Relaxed);
        return true;
    }
    false
}

/// Refuses a connection over `maxclients` with redis's error, else starts serving it.
async fn over_limit<S: tokio::io::AsyncWrite + Unpin>(server: &Server, stream: &mut S) -> bool {
    if at_limit(server) {
        let _ = stream
            .write_all(b"-ERR max number of clients reached\r\n")
            .await;
        let _ = stream.flush().await;
        return true;
    }
    false
}

async fn accept_tcp(server: &Arc<Server>, stream: TcpStream, peer: SocketAddr) {
    let (laddr, fd) = prepare(server, &stream);
    admit(server, stream, peer, laddr, fd, false).await;
}

/// A connection to `tls-port`: the handshake under the `tls-auth-clients` in force, then as
/// any client.
async fn accept_tls(server: Arc<Server>, stream: TcpStream, peer: SocketAddr) {
    let (laddr, fd) = prepare(&server, &stream);
    let auth = server.config.read().tls_auth_clients;
    let Some(acceptor) = server.tls.acceptor(auth) else {
        return;
    };
    // Over `maxclients` the connection is closed before the handshake, so the client reads
    // no error, only the end of the connection (redis `acceptCommonHandler`: its error is
    // written on a TLS connection that has not done its handshake, which sends nothing).
    if at_limit(&server) {
        return;
    }
    // A client that fails the handshake (no certificate, a plain-text client, ...) is logged
    // as Redis logs it (`clientAcceptHandler`), with OpenSSL's error.
    match acceptor.accept(stream).await {
        Ok(tls) => admit(&server, tls, peer, laddr, fd, true).await,
        Err(e) => tracing::warn!("Error accepting a client connection: {e}"),
    }
}

/// Socket options of an accepted connection; its local address and fd.
fn prepare(server: &Server, stream: &TcpStream) -> (String, i32) {
    let _ = stream.set_nodelay(true);
    let keepalive = server.config.read().tcp_keepalive;
    if keepalive > 0 {
        if let Err(e) = socket2_keepalive(stream, keepalive) {
            tracing::debug!("tcp-keepalive not set: {e}");
        }
    }
    let laddr = stream
        .local_addr()
        .map(|a| fmt_addr(&a))
        .unwrap_or_default();
    #[cfg(unix)]
    let fd = std::os::fd::AsRawFd::as_raw_fd(stream);
    #[cfg(not(unix))]
    let fd = -1;
    (laddr, fd)
}

/// Refuses a connection over `maxclients` or in protected mode with redis's errors, else
/// registers the client and serves it.
async fn admit<S>(
    server: &Arc<Server>,
    mut stream: S,
    peer: SocketAddr,
    laddr: String,
    fd: i32,
    tls: bool,
) where
    S: tokio::io::AsyncRead
        + tokio::io::AsyncWrite
        + super::order::WatchReads
        + Unpin
        + Send
        + 'static,
{
    if over_limit(server, &mut stream).await {
        return;
    }
    if protected_mode_refuses(server, &peer) {
        // Redis made the client before refusing it: it counts as received and rejected.
        let st = &server.stats;
        st.total_connections_received
            .fetch_add(1, Ordering::Relaxed);
        st.rejected_connections.fetch_add(1, Ordering::Relaxed);
        let _ = stream.write_all(PROTECTED_MODE_ERR.as_bytes()).await;
        let _ = stream.flush().await;
        return;
    }
    let (client, rx) = connection::register(server, fmt_addr(&peer), laddr, fd);
    client.shared.tls.store(tls, Ordering::Relaxed);
    tokio::spawn(connection::serve(server.clone(), stream, client, rx));
}

const PROTECTED_MODE_ERR: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Redis 7.0's protected mode (redis `clientAcceptHandler`): while the default user has no
/// password, only local clients are served, whatever `bind` says.
fn protected_mode_refuses(server: &Server, peer: &SocketAddr) -> bool {
    let protected = server.config.read().protected_mode;
    refuses(protected, server.acl.default.get().nopass, peer.ip())
}

/// The decision of [`protected_mode_refuses`]: a client is local only from 127.0.0.1 or ::1
/// (redis `islocalClient`; unix sockets do not come through here).
fn refuses(protected_mode: bool, default_nopass: bool, peer: std::net::IpAddr) -> bool {
    use std::net::{Ipv4Addr, Ipv6Addr};
    let local = peer == Ipv4Addr::LOCALHOST || peer == Ipv6Addr::LOCALHOST;
    protected_mode && default_nopass && !local
}

fn fmt_addr(a: &SocketAddr) -> String {
    match a {
        SocketAddr::V4(v) => format!("{}:{}", v.ip(), v.port()),
        SocketAddr::V6(v) => format!("{}:{}", v.ip(), v.port()),
    }
}

fn socket2_keepalive(stream: &TcpStream, secs: u64) -> std::io::Result<()> {
    use nix::sys::socket::{setsockopt, sockopt};
    let fd = std::os::fd::AsFd::as_fd(stream);
    setsockopt(&fd, sockopt::KeepAlive, &true).map_err(std::io::Error::from)?;
    #[cfg(target_os = "linux")]
    {
        let s = secs.min(i32::MAX as u64) as u32;
        setsockopt(&fd, sockopt::TcpKeepIdle, &s).map_err(std::io::Error::from)?;
        setsockopt(&fd, sockopt::TcpKeepInterval, &(s / 3).max(1)).map_err(std::io::Error::from)?;
        setsockopt(&fd, sockopt::TcpKeepCount, &3u32).map_err(std::io::Error::from)?;
    }
    Ok(())
}

#[cfg(unix)]
async fn unix_accept_loop(server: Arc<Server>, listener: tokio::net::UnixListener) {
    let mut shutdown = server.shutdown_tx.subscribe();
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((mut stream, _)) => {
                    if over_limit(&server, &mut stream).await {
                        continue;
                    }
                    let path = server.config.read().unixsocket.clone().unwrap_or_default();
                    let fd = std::os::fd::AsRawFd::as_raw_fd(&stream);
                    let (client, rx) = connection::register(&server, format!("{path}:0"), path, fd);
                    tokio::spawn(connection::serve(server.clone(), stream, client, rx));
                }
                Err(e) => {
                    tracing::warn!("Accepting client connection: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            _ = shutdown.changed() => return,
        }
    }
}

/// The server cron: active expiry `hz` times per second; replication duties (starting
/// snapshots for waiting replicas, the periodic stream ping).
async fn cron(server: Arc<Server>) {
    let mut shutdown = server.shutdown_tx.subscribe();
    let mut last_ping = std::time::Instant::now();
    let mut last_second = std::time::Instant::now();
    loop {
        let hz = server.config.read().hz.clamp(1, 500);
        // Shutdown first: the shutdown is finished by this cron itself, and once the runtime
        // shuts down a sleep must not be polled again (tokio panics).
        tokio::select! {
            biased;
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(Duration::from_millis(1000 / u64::from(hz))) => {}
        }
        // A running script holds every shard: nothing here may wait for one meanwhile.
        if server.scripting.running.is_active() || server.cron_paused.load(Ordering::Relaxed) {
            continue;
        }
        // Paused writes (CLIENT PAUSE, FAILOVER) pause active expiry too, as in redis.
        if server.active_expire_enabled.load(Ordering::Relaxed)
            && !server.is_replica()
            && !crate::commands::admin::pause::writes_paused(&server)
        {
            crate::server::expire::active_expire_cycle(&server);
        } else if server.active_expire_enabled.load(Ordering::Relaxed) && server.is_replica() {
            crate::replication::writable::expire_local_keys(&server);
        }
        if server.tracking.engaged() {
            server.tracking.limit(&server);
            server.tracking.broadcast(&server);
        }
        crate::replication::master::start_pending_syncs(&server);
        crate::persistence::aof::rewrite::cron(&server);
        crate::server::shutdown::cron(&server);
        crate::server::output::cron(&server, u64::from(hz));
        if last_second.elapsed() >= Duration::from_secs(1) {
            last_second = std::time::Instant::now();
            crate::persistence::save::save_points_cron(&server);
            crate::replication::backlog_ttl_cron(&server);
            server.migrate_sockets.close_idle();
        }
        let period = server.config.read().repl_ping_replica_period.max(1);
        if last_ping.elapsed() >= Duration::from_secs(period) {
            last_ping = std::time::Instant::now();
            crate::replication::master::ping_replicas(&server);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::refuses;

    #[test]
    fn protected_mode_as_redis() {
        let ip = |s: &str| s.parse().expect("ip");
        assert!(refuses(true, true, ip("10.1.2.3")));
        assert!(refuses(true, true, ip("127.0.0.2")));
        assert!(refuses(true, true, ip("::ffff:127.0.0.1")));
        assert!(!refuses(true, true, ip("127.0.0.1")));
        assert!(!refuses(true, true, ip("::1")));
        assert!(!refuses(true, false, ip("10.1.2.3")));
        assert!(!refuses(false, true, ip("10.1.2.3")));
    }
}
