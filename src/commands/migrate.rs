//! MIGRATE (redis `migrateCommand` in `cluster.c`): sends keys to another server as RESTORE
//! commands (DUMP payloads) over a cached connection, then deletes the ones the target
//! acknowledged, unless COPY. Like Redis it blocks for the exchange (bounded by the timeout):
//! the keys' shards stay locked meanwhile, so the keys cannot change under it.
//!
//! Connections are cached per `host:port` (at most 64) with the database last selected on
//! them, and closed by the cron after 10 idle seconds (`migrate_cached_sockets` in INFO).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;

use super::args::{is, parse_int};
use super::errors::{self, CmdError};
use super::spec::{Group, Spec, WRITE};
use super::Ctx;
use crate::persistence::rdb::encode;
use crate::protocol::Reply;

pub const COMMANDS: &[Spec] =
    &[Spec::new("migrate", -6, WRITE, Group::Generic, migrate).keys_with(3, 3, 1, migrate_keys)];

/// redis `MIGRATE_SOCKET_CACHE_ITEMS` and `MIGRATE_SOCKET_CACHE_TTL`.
const CACHE_ITEMS: usize = 64;
const CACHE_TTL: Duration = Duration::from_secs(10);

/// redis `migrateGetKeys`: the key argument, or everything after KEYS (skipping the values of
/// AUTH and AUTH2) when the key argument is empty; no key when both are given.
pub fn migrate_keys(argv: &[Bytes]) -> Vec<usize> {
    let mut i = 6;
    while i < argv.len() {
        if is(&argv[i], "keys") {
            if !argv[3].is_empty() {
                return Vec::new();
            }
            return (i + 1..argv.len()).collect();
        }
        if is(&argv[i], "auth") {
            i += 1;
        } else if is(&argv[i], "auth2") {
            i += 2;
        }
        i += 1;
    }
    vec![3]
}

/// A link to a target: TLS when `tls-cluster` is on, as Redis's MIGRATE.
enum Link {
    Plain(TcpStream),
    Tls(Box<crate::server::tls::BlockingClientStream>),
}

impl Link {
    fn tcp(&self) -> &TcpStream {
        match self {
            Link::Plain(s) => s,
            Link::Tls(s) => s.get_ref(),
        }
    }
}

impl Read for Link {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Link::Plain(s) => s.read(buf),
            Link::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Link {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Link::Plain(s) => s.write(buf),
            Link::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Link::Plain(s) => s.flush(),
            Link::Tls(s) => s.flush(),
        }
    }
}

/// One cached connection to a target.
struct Cached {
    conn: BufReader<Link>,
    /// The database selected on it, -1 when unknown.
    last_dbid: i64,
    last_use: Instant,
}

/// The connections MIGRATE keeps open, by `host:port`.
#[derive(Default)]
pub struct SocketCache {
    map: Mutex<HashMap<Vec<u8>, Cached>>,
}

impl SocketCache {
    pub fn len(&self) -> usize {
        self.map.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// redis `migrateCloseTimedoutSockets`, called once a second.
    pub fn close_idle(&self) {
        self.map
            .lock()
            .retain(|_, c| c.last_use.elapsed() <= CACHE_TTL);
    }

    fn take(&self, name: &[u8]) -> Option<Cached> {
        self.map.lock().remove(name)
    }

    fn put(&self, name: Vec<u8>, mut c: Cached) {
        let mut map = self.map.lock();
        if map.len() >= CACHE_ITEMS {
            // Too many: drop one (redis drops a random one).
            if let Some(k) = map.keys().next().cloned() {
                map.remove(&k);
            }
        }
        c.last_use = Instant::now();
        map.insert(name, c);
    }
}

struct Options {
    copy: bool,
    replace: bool,
    auth: Option<(Option<Bytes>, Bytes)>,
    /// Index of the first key and how many.
    keys: (usize, usize),
}

fn parse_options(argv: &[Bytes]) -> Result<Options, CmdError> {
    let mut o = Options {
        copy: false,
        replace: false,
        auth: None,
        keys: (3, 1),
    };
    let mut j = 6;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        if is(&argv[j], "copy") {
            o.copy = true;
        } else if is(&argv[j], "replace") {
            o.replace = true;
        } else if is(&argv[j], "auth") {
            if more < 1 {
                return Err(errors::SYNTAX);
            }
            o.auth = Some((None, argv[j + 1].clone()));
            j += 1;
        } else if is(&argv[j], "auth2") {
            if more < 2 {
                return Err(errors::SYNTAX);
            }
            o.auth = Some((Some(argv[j + 1].clone()), argv[j + 2].clone()));
            j += 2;
        } else if is(&argv[j], "keys") {
            if !argv[3].is_empty() {
                return Err(CmdError::err(
                    "When using MIGRATE KEYS option, the key argument must be set to the empty string",
                ));
            }
            o.keys = (j + 1, argv.len() - j - 1);
            break;
        } else {
            return Err(errors::SYNTAX);
        }
        j += 1;
    }
    Ok(o)
}

fn bulk(out: &mut Vec<u8>, b: &[u8]) {
    out.push(b'$');
    out.extend_from_slice(itoa::Buffer::new().format(b.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

fn array(out: &mut Vec<u8>, n: usize) {
    out.push(b'*');
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// How an exchange with the target failed.
enum SocketError {
    Writing { timed_out: bool },
    Reading { timed_out: bool },
}

fn timed_out(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// redis `connSyncReadLine`: one reply line without its CRLF; EOF is an error.
fn read_line(conn: &mut BufReader<Link>) -> Result<Vec<u8>, SocketError> {
    let mut line = Vec::new();
    match conn.read_until(b'\n', &mut line) {
        Ok(n) if n > 0 && line.ends_with(b"\n") => {
            line.pop();
            if line.ends_with(b"\r") {
                line.pop();
            }
            Ok(line)
        }
        Ok(_) => Err(SocketError::Reading { timed_out: false }),
        Err(e) => Err(SocketError::Reading {
            timed_out: timed_out(&e),
        }),
    }
}

/// How connecting to the target failed.
enum ConnectError {
    /// No address, or no answer within the timeout: "error or timeout connecting".
    Unreachable,
    /// Refused (or reset): redis's non-blocking connect only learns it when it writes.
    Refused,
}

/// Connects to the target, with TLS when `tls` holds the client side to use (redis
/// `connBlockingConnect`): a failed handshake is a failed connection.
fn connect(
    host: &[u8],
    port: &[u8],
    timeout: Duration,
    tls: Option<&crate::server::tls::TlsState>,
) -> Result<Link, ConnectError> {
    let host = std::str::from_utf8(host).map_err(|_| ConnectError::Unreachable)?;
    let port: u16 = crate::util::parse_i64(port)
        .and_then(|p| u16::try_from(p).ok())
        .ok_or(ConnectError::Unreachable)?;
    let addrs = (host, port)
        .to_socket_addrs()
        .map_err(|_| ConnectError::Unreachable)?;
    let mut refused = false;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                let Some(tls) = tls else {
                    return Ok(Link::Plain(s));
                };
                let _ = s.set_read_timeout(Some(timeout));
                let _ = s.set_write_timeout(Some(timeout));
                return match tls.connect_blocking(s) {
                    Ok(s) => Ok(Link::Tls(Box::new(s))),
                    Err(_) => Err(ConnectError::Unreachable),
                };
            }
            Err(e) if timed_out(&e) => {}
            Err(_) => refused = true,
        }
    }
    // Over TLS a refused connection fails the handshake, so it fails the connect.
    Err(if refused && tls.is_none() {
        ConnectError::Refused
    } else {
        ConnectError::Unreachable
    })
}

/// MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw | AUTH2 user pw] [KEYS k..]
fn migrate(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let opts = parse_options(argv)?;
    let mut timeout_ms = parse_int(&argv[5])?;
    let dbid = parse_int(&argv[4])?;
    if timeout_ms <= 0 {
        timeout_ms = 1000;
    }
    let timeout = Duration::from_millis(timeout_ms as u64);
    // The keys that exist, serialized now: their shards are locked until the end.
    let mut found: Vec<(Bytes, Vec<u8>)> = Vec::new();
    for key in &argv[opts.keys.0..opts.keys.0 + opts.keys.1] {
        if let Some(v) = cx.db.get(key) {
            found.push((key.clone(), encode::dump_payload(v)));
        }
    }
    if found.is_empty() {
        return Ok(Reply::status("NOKEY"));
    }
    let mut ttls = Vec::with_capacity(found.len());
    for (key, _) in &found {
        ttls.push(cx.db.expire_at(key));
    }
    let mut name = argv[1].to_vec();
    name.push(b':');
    name.extend_from_slice(&argv[2]);
    let server = cx.server;
    let tls = server.config.read().tls_cluster.then_some(&server.tls);
    let mut may_retry = true;
    loop {
        let cached = match server.migrate_sockets.take(&name) {
            Some(c) => Ok(c),
            None => match blocking(|| connect(&argv[1], &argv[2], timeout, tls)) {
                Ok(s) => Ok(Cached {
                    conn: BufReader::new(s),
                    last_dbid: -1,
                    last_use: Instant::now(),
                }),
                Err(ConnectError::Refused) => Err(SocketError::Writing { timed_out: false }),
                Err(ConnectError::Unreachable) => {
                    return Err(CmdError::fixed(
                        "IOERR error or timeout connecting to the client",
                    ))
                }
            },
        };
        let outcome = match cached {
            Ok(c) => blocking(|| exchange(&opts, dbid, timeout, &found, &ttls, c)),
            Err(e) => Exchange::Failed(e),
        };
        match outcome {
            Exchange::Done {
                conn,
                acked,
                target_error,
            } => {
                if !opts.copy && !acked.is_empty() {
                    let db = cx.db.index;
                    let mut del = vec![Bytes::from_static(b"DEL")];
                    for key in acked {
                        cx.db.remove(&key);
                        crate::server::notify::notify(
                            server,
                            crate::config::notify::GENERIC,
                            "del",
                            &key,
                            db,
                        );
                        del.push(key);
                    }
                    cx.propagate_as(del);
                }
                if let Some(c) = conn {
                    server.migrate_sockets.put(name, c);
                }
                return match target_error {
                    None => Ok(Reply::OK),
                    Some(e) => Err(e),
                };
            }
            Exchange::Failed(err) => {
                // The cached connection was dropped: the next attempt connects afresh.
                let (timed_out, what) = match err {
                    SocketError::Writing { timed_out } => (timed_out, "writing"),
                    SocketError::Reading { timed_out } => (timed_out, "reading"),
                };
                if !timed_out && may_retry {
                    may_retry = false;
                    continue;
                }
                return Err(CmdError::new(format!(
                    "IOERR error or timeout {what} to target instance"
                )));
            }
        }
    }
}

use crate::util::blocking;

enum Exchange {
    /// Replies were read (or the socket failed after some keys were acknowledged).
    Done {
        /// The connection, to cache again (None after a socket error).
        conn: Option<Cached>,
        /// Keys the target restored.
        acked: Vec<Bytes>,
        target_error: Option<CmdError>,
    },
    /// Nothing was acknowledged: the attempt may be retried on a new connection.
    Failed(SocketError),
}

/// One attempt: sends AUTH, SELECT and the RESTOREs, reads the replies.
fn exchange(
    opts: &Options,
    dbid: i64,
    timeout: Duration,
    found: &[(Bytes, Vec<u8>)],
    ttls: &[Option<i64>],
    mut c: Cached,
) -> Exchange {
    let mut cmd = Vec::new();
    if let Some((user, pass)) = &opts.auth {
        array(&mut cmd, if user.is_some() { 3 } else { 2 });
        bulk(&mut cmd, b"AUTH");
        if let Some(u) = user {
            bulk(&mut cmd, u);
        }
        bulk(&mut cmd, pass);
    }
    let select = c.last_dbid != dbid;
    if select {
        array(&mut cmd, 2);
        bulk(&mut cmd, b"SELECT");
        bulk(&mut cmd, itoa::Buffer::new().format(dbid).as_bytes());
    }
    let now = crate::util::now_ms();
    let mut sent: Vec<&Bytes> = Vec::with_capacity(found.len());
    for ((key, payload), at) in found.iter().zip(ttls) {
        let ttl = match at {
            Some(at) if at - now < 0 => continue,
            Some(at) => (at - now).max(1),
            None => 0,
        };
        sent.push(key);
        array(&mut cmd, if opts.replace { 5 } else { 4 });
        bulk(&mut cmd, b"RESTORE");
        bulk(&mut cmd, key);
        bulk(&mut cmd, itoa::Buffer::new().format(ttl).as_bytes());
        bulk(&mut cmd, payload);
        if opts.replace {
            bulk(&mut cmd, b"REPLACE");
        }
    }
    let _ = c.conn.get_ref().tcp().set_write_timeout(Some(timeout));
    let _ = c.conn.get_ref().tcp().set_read_timeout(Some(timeout));
    let stream = c.conn.get_mut();
    for chunk in cmd.chunks(64 * 1024) {
        if let Err(e) = stream.write_all(chunk) {
            return Exchange::Failed(SocketError::Writing {
                timed_out: timed_out(&e),
            });
        }
    }
    let auth_reply = match &opts.auth {
        Some(_) => match read_line(&mut c.conn) {
            Ok(l) => Some(l),
            Err(e) => return Exchange::Failed(e),
        },
        None => None,
    };
    let select_reply = if select {
        match read_line(&mut c.conn) {
            Ok(l) => Some(l),
            Err(e) => return Exchange::Failed(e),
        }
    } else {
        None
    };
    let mut acked = Vec::new();
    let mut target_error: Option<CmdError> = None;
    for (j, key) in sent.iter().enumerate() {
        let line = match read_line(&mut c.conn) {
            Ok(l) => l,
            Err(e) if j == 0 && target_error.is_none() => return Exchange::Failed(e),
            Err(_) => {
                // Some keys were acknowledged: keep what was done, report the failure.
                let error = target_error.unwrap_or_else(|| {
                    CmdError::fixed("IOERR error or timeout reading to target instance")
                });
                return Exchange::Done {
                    conn: None,
                    acked,
                    target_error: Some(error),
                };
            }
        };
        let failed = [
            auth_reply.as_deref(),
            select_reply.as_deref(),
            Some(&line[..]),
        ]
        .into_iter()
        .flatten()
        .find(|l| l.first() == Some(&b'-'));
        match failed {
            Some(err) => {
                if target_error.is_none() {
                    c.last_dbid = -1;
                    target_error = Some(CmdError::err(format_args!(
                        "Target instance replied with error: {}",
                        String::from_utf8_lossy(&err[1..])
                    )));
                }
            }
            None => acked.push((*key).clone()),
        }
    }
    if target_error.is_none() {
        c.last_dbid = dbid;
    }
    Exchange::Done {
        conn: Some(c),
        acked,
        target_error,
    }
}
