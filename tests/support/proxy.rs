//! A TCP proxy that tests can cut, to simulate replication link failures.
//!
//! [`Proxy::start`] listens on a free 127.0.0.1 port and forwards every accepted connection to a
//! target address (changeable with [`Proxy::set_target`], e.g. a master restarted on another
//! port). The test can:
//! - [`Proxy::cut`]: close every forwarded connection (both sides see the socket close);
//! - [`Proxy::set_refuse`]: close new connections right after accepting them;
//! - [`Proxy::set_rate_limit`]: forward at most N bytes per second per direction (a slow link,
//!   so a full sync lasts long enough to be interrupted on purpose);
//! - [`Proxy::set_paused`]: stop forwarding in both directions. The upstream socket has a small
//!   receive buffer, so the target's writes back up into its own output buffer quickly
//!   (a slow consumer), instead of into tens of MB of kernel autotuned buffers.
//!
//! Bounded: everything stops by itself after [`PROXY_LIFETIME`], and on `Drop`. Pump threads
//! poll their sockets with short timeouts, so they notice a stop within ~50 ms.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a proxy runs at most.
pub const PROXY_LIFETIME: Duration = Duration::from_secs(300);
/// Receive buffer of the proxy's socket towards the target (the kernel doubles it).
const UPSTREAM_RCVBUF: usize = 64 * 1024;
const POLL: Duration = Duration::from_millis(50);

struct Conn {
    id: usize,
    closed: Arc<AtomicBool>,
    client: TcpStream,
    upstream: TcpStream,
}

impl Conn {
    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.upstream.shutdown(Shutdown::Both);
    }
}

struct Shared {
    target: Mutex<SocketAddr>,
    refuse: AtomicBool,
    paused: AtomicBool,
    /// Bytes per second per direction; 0 = unlimited.
    rate: AtomicU64,
    stop: AtomicBool,
    accepted: AtomicUsize,
    forwarded: AtomicUsize,
    conns: Mutex<Vec<Conn>>,
    pumps: Mutex<Vec<JoinHandle<()>>>,
    deadline: Instant,
}

impl Shared {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire) || Instant::now() >= self.deadline
    }
}

pub struct Proxy {
    port: u16,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Starts forwarding 127.0.0.1:<free port> to `target`.
    pub fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("proxy bind");
        listener.set_nonblocking(true).expect("proxy nonblocking");
        let port = listener.local_addr().expect("proxy local_addr").port();
        let shared = Arc::new(Shared {
            target: Mutex::new(target),
            refuse: AtomicBool::new(false),
            paused: AtomicBool::new(false),
            rate: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            accepted: AtomicUsize::new(0),
            forwarded: AtomicUsize::new(0),
            conns: Mutex::new(Vec::new()),
            pumps: Mutex::new(Vec::new()),
            deadline: Instant::now() + PROXY_LIFETIME,
        });
        let sh = shared.clone();
        let acceptor = std::thread::Builder::new()
            .name(format!("proxy-{port}"))
            .spawn(move || accept_loop(listener, sh))
            .expect("spawn proxy thread");
        Proxy {
            port,
            shared,
            acceptor: Some(acceptor),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// New connections go to `target` from now on (existing ones are left alone).
    pub fn set_target(&self, target: SocketAddr) {
        *self.shared.target.lock().unwrap() = target;
    }

    /// Closes every forwarded connection now.
    pub fn cut(&self) {
        let conns = std::mem::take(&mut *self.shared.conns.lock().unwrap());
        for c in conns {
            c.close();
        }
    }

    /// While set, new connections are accepted and closed at once.
    pub fn set_refuse(&self, refuse: bool) {
        self.shared.refuse.store(refuse, Ordering::Release);
    }

    /// While set, no byte is forwarded in either direction.
    pub fn set_paused(&self, paused: bool) {
        self.shared.paused.store(paused, Ordering::Release);
    }

    /// Limits forwarding to `bytes_per_sec` per direction (`None`: unlimited).
    pub fn set_rate_limit(&self, bytes_per_sec: Option<u64>) {
        self.shared
            .rate
            .store(bytes_per_sec.unwrap_or(0), Ordering::Release);
    }

    /// Connections accepted so far (including refused ones).
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::Acquire)
    }

    /// Connections forwarded to a target so far.
    pub fn forwarded(&self) -> usize {
        self.shared.forwarded.load(Ordering::Acquire)
    }

    /// Connections currently open.
    pub fn open_connections(&self) -> usize {
        self.shared.conns.lock().unwrap().len()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.cut();
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
        let pumps = std::mem::take(&mut *self.shared.pumps.lock().unwrap());
        for p in pumps {
            let _ = p.join();
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    while !shared.stopped() {
        match listener.accept() {
            Ok((client, _)) => {
                shared.accepted.fetch_add(1, Ordering::AcqRel);
                if shared.refuse.load(Ordering::Acquire) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let target = *shared.target.lock().unwrap();
                let Ok(upstream) = connect_small_rcvbuf(target) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                shared.forwarded.fetch_add(1, Ordering::AcqRel);
                let _ = client.set_nonblocking(false);
                let _ = client.set_nodelay(true);
                let _ = upstream.set_nodelay(true);
                let id = shared.accepted.load(Ordering::Acquire);
                let closed = Arc::new(AtomicBool::new(false));
                let (Ok(c2), Ok(u2), Ok(c3), Ok(u3)) = (
                    client.try_clone(),
                    upstream.try_clone(),
                    client.try_clone(),
                    upstream.try_clone(),
                ) else {
                    continue;
                };
                shared.conns.lock().unwrap().push(Conn {
                    id,
                    closed: closed.clone(),
                    client: c3,
                    upstream: u3,
                });
                let mut pumps = shared.pumps.lock().unwrap();
                pumps.retain(|p| !p.is_finished());
                for (from, to) in [(client, upstream), (u2, c2)] {
                    let sh = shared.clone();
                    let closed = closed.clone();
                    pumps.push(std::thread::spawn(move || pump(from, to, sh, id, closed)));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    // Lifetime over or dropped: close everything.
    let conns = std::mem::take(&mut *shared.conns.lock().unwrap());
    for c in conns {
        c.close();
    }
}

/// Connects with a small receive buffer set before the handshake (so the advertised window
/// stays small and the peer's writes back up when we stop reading).
fn connect_small_rcvbuf(target: SocketAddr) -> io::Result<TcpStream> {
    use nix::sys::socket::{
        connect, setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType, SockaddrIn,
    };
    let SocketAddr::V4(v4) = target else {
        return TcpStream::connect_timeout(&target, Duration::from_secs(2));
    };
    let fd: OwnedFd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(io::Error::from)?;
    setsockopt(&fd, sockopt::RcvBuf, &UPSTREAM_RCVBUF).map_err(io::Error::from)?;
    let addr = SockaddrIn::from(SocketAddrV4::new(*v4.ip(), v4.port()));
    connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &addr).map_err(io::Error::from)?;
    Ok(TcpStream::from(fd))
}

/// Copies `from` → `to` until either side closes, the connection is cut or the proxy stops.
fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    shared: Arc<Shared>,
    id: usize,
    closed: Arc<AtomicBool>,
) {
    let _ = from.set_read_timeout(Some(POLL));
    let _ = to.set_write_timeout(Some(POLL));
    let alive = |sh: &Shared| !sh.stopped() && !closed.load(Ordering::Acquire);
    let mut buf = vec![0u8; 16 * 1024];
    'outer: while alive(&shared) {
        if shared.paused.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        let rate = shared.rate.load(Ordering::Acquire);
        let want = if rate == 0 {
            buf.len()
        } else {
            buf.len().min((rate / 20).max(1) as usize)
        };
        let n = match from.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(_) => break,
        };
        let mut off = 0;
        while off < n {
            if !alive(&shared) {
                break 'outer;
            }
            match to.write(&buf[off..n]) {
                Ok(0) => break 'outer,
                Ok(w) => off += w,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => break 'outer,
            }
        }
        if rate > 0 {
            std::thread::sleep(Duration::from_secs_f64(n as f64 / rate as f64));
        }
    }
    closed.store(true, Ordering::Release);
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
    shared.conns.lock().unwrap().retain(|c| c.id != id);
}
