//! One blocking connection to a server over TCP or a Unix socket, hiredis-style: commands go
//! out as RESP multibulks, replies come back as [`Value`]s, and failures carry hiredis's error
//! strings (`Server closed the connection`, `Connection refused`), which redis-cli prints.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use super::resp::{self, Scanner, Value};

/// TCP keepalive, as redis-cli's `REDIS_CLI_KEEPALIVE_INTERVAL`.
const KEEPALIVE_INTERVAL_SECS: u32 = 15;

/// Where a server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Tcp { host: String, port: u16 },
    Unix(PathBuf),
}

impl Endpoint {
    /// `host:port` (`[v6]:port`) or the socket path, as redis-cli's prompt and messages show it.
    pub fn describe(&self) -> String {
        match self {
            Endpoint::Tcp { host, port } => format_addr(host, *port),
            Endpoint::Unix(path) => path.display().to_string(),
        }
    }
}

/// `anetFormatAddr`: IPv6 addresses get brackets.
pub fn format_addr(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Why a connection stopped working, worded as hiredis's `errstr`.
#[derive(Debug)]
pub enum ConnError {
    /// The peer closed the connection (hiredis `REDIS_ERR_EOF`).
    Eof,
    /// A socket error (hiredis `REDIS_ERR_IO`).
    Io(io::Error),
    /// Bytes that are not RESP (hiredis `REDIS_ERR_PROTOCOL`).
    Protocol(String),
}

impl ConnError {
    /// Whether an interactive session should drop the link and reconnect on the next command
    /// rather than exit (redis-cli: EOF, `ECONNRESET`, `EPIPE`).
    pub fn is_disconnect(&self) -> bool {
        match self {
            ConnError::Eof => true,
            ConnError::Io(e) => matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            ),
            ConnError::Protocol(_) => false,
        }
    }
}

impl fmt::Display for ConnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnError::Eof => f.write_str("Server closed the connection"),
            ConnError::Io(e) => f.write_str(&strerror(e)),
            ConnError::Protocol(m) => f.write_str(m),
        }
    }
}

impl From<io::Error> for ConnError {
    fn from(e: io::Error) -> Self {
        ConnError::Io(e)
    }
}

/// The C library's text for an I/O error (`Connection refused`), without Rust's
/// `(os error N)` suffix; resolver failures keep only the resolver's text.
pub fn strerror(e: &io::Error) -> String {
    if let Some(code) = e.raw_os_error() {
        return nix::errno::Errno::from_raw(code).desc().to_string();
    }
    let text = e.to_string();
    match text.strip_prefix("failed to lookup address information: ") {
        Some(rest) => rest.to_string(),
        None => text,
    }
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A connected client socket with its read buffer.
pub struct Conn {
    stream: Stream,
    /// Bytes read but not consumed yet start at `rpos`.
    rbuf: Vec<u8>,
    rpos: usize,
    scanner: Scanner,
}

impl Conn {
    /// Connects to `endpoint`; the error is hiredis's text for it (`Connection refused`).
    pub fn connect(endpoint: &Endpoint) -> Result<Conn, String> {
        Conn::connect_timeout(endpoint, None)
    }

    /// Like [`Conn::connect`], giving up on each address after `timeout`.
    pub fn connect_timeout(endpoint: &Endpoint, timeout: Option<Duration>) -> Result<Conn, String> {
        let stream = match endpoint {
            Endpoint::Tcp { host, port } => {
                let addrs = (host.as_str(), *port)
                    .to_socket_addrs()
                    .map_err(|e| strerror(&e))?;
                let mut last = None;
                let mut connected = None;
                for addr in addrs {
                    let attempt = match timeout {
                        Some(t) => TcpStream::connect_timeout(&addr, t),
                        None => TcpStream::connect(addr),
                    };
                    match attempt {
                        Ok(s) => {
                            connected = Some(s);
                            break;
                        }
                        Err(e) => last = Some(e),
                    }
                }
                let stream = match (connected, last) {
                    (Some(s), _) => s,
                    (None, Some(e)) => return Err(strerror(&e)),
                    (None, None) => return Err("Name or service not known".into()),
                };
                let _ = stream.set_nodelay(true);
                set_keepalive(&stream);
                Stream::Tcp(stream)
            }
            Endpoint::Unix(path) => {
                Stream::Unix(UnixStream::connect(path).map_err(|e| strerror(&e))?)
            }
        };
        Ok(Conn {
            stream,
            rbuf: Vec::with_capacity(16 * 1024),
            rpos: 0,
            scanner: Scanner::default(),
        })
    }

    pub fn raw_fd(&self) -> RawFd {
        match &self.stream {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }

    /// Bounds every blocking read (`None`: wait forever).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match &self.stream {
            Stream::Tcp(s) => s.set_read_timeout(timeout),
            Stream::Unix(s) => s.set_read_timeout(timeout),
        }
    }

    /// Writes all of `bytes`.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<(), ConnError> {
        self.stream.write_all(bytes).map_err(ConnError::Io)
    }

    /// Sends one command.
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<(), ConnError> {
        let mut out = Vec::new();
        resp::encode_command(args, &mut out);
        self.write_all(&out)
    }

    /// Reads the next reply, whatever its type (pushes included).
    pub fn read_value(&mut self) -> Result<Value, ConnError> {
        loop {
            if let Some(v) = self.try_parse()? {
                return Ok(v);
            }
            self.fill()?;
        }
    }

    /// The next reply if all of it is already buffered.
    pub fn try_parse(&mut self) -> Result<Option<Value>, ConnError> {
        let pending = &self.rbuf[self.rpos..];
        match self.scanner.scan(pending) {
            Ok(Some(len)) => {
                let (value, used) = resp::parse(&pending[..len])
                    .map_err(|e| ConnError::Protocol(e.0))?
                    .ok_or_else(|| {
                        ConnError::Protocol("Protocol error: incomplete reply".into())
                    })?;
                debug_assert_eq!(used, len);
                self.rpos += len;
                if self.rpos == self.rbuf.len() {
                    self.rbuf.clear();
                    self.rpos = 0;
                }
                Ok(Some(value))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(ConnError::Protocol(e.0)),
        }
    }

    /// Reads more bytes from the socket into the buffer; EOF is an error.
    pub fn fill(&mut self) -> Result<usize, ConnError> {
        if self.rpos > 0 && self.rpos * 2 >= self.rbuf.len() {
            self.rbuf.drain(..self.rpos);
            self.rpos = 0;
        }
        let old = self.rbuf.len();
        let want = (old - self.rpos).clamp(16 * 1024, 1024 * 1024);
        self.rbuf.resize(old + want, 0);
        let n = loop {
            match self.stream.read(&mut self.rbuf[old..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.rbuf.truncate(old);
                    return Err(ConnError::Io(e));
                }
            }
        };
        self.rbuf.truncate(old + n);
        if n == 0 {
            return Err(ConnError::Eof);
        }
        Ok(n)
    }

    /// Sends a command and returns its reply, dropping any RESP3 push read meanwhile.
    pub fn command<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Value, ConnError> {
        self.send(args)?;
        loop {
            match self.read_value()? {
                Value::Push(_) => continue,
                v => return Ok(v),
            }
        }
    }

    /// Reads raw bytes (the SYNC payload), buffered ones first. `Ok(0)` means EOF.
    pub fn read_raw(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let pending = self.rbuf.len() - self.rpos;
        if pending > 0 {
            let n = pending.min(out.len());
            out[..n].copy_from_slice(&self.rbuf[self.rpos..self.rpos + n]);
            self.rpos += n;
            if self.rpos == self.rbuf.len() {
                self.rbuf.clear();
                self.rpos = 0;
            }
            return Ok(n);
        }
        loop {
            match self.stream.read(out) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }

    /// Reads one `\n`-terminated line byte by byte (SYNC's `$<len>` header), without its
    /// line ending, skipping the empty lines a master sends as keepalives.
    pub fn read_line(&mut self) -> io::Result<Vec<u8>> {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            if self.read_raw(&mut byte)? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            match byte[0] {
                b'\n' if line.is_empty() => continue,
                b'\n' => break,
                b'\r' => {}
                b => line.push(b),
            }
        }
        Ok(line)
    }

    /// A second handle on the socket for writing from another thread (pipe mode).
    pub fn try_clone_writer(&self) -> io::Result<Box<dyn Write + Send>> {
        Ok(match &self.stream {
            Stream::Tcp(s) => Box::new(s.try_clone()?),
            Stream::Unix(s) => Box::new(s.try_clone()?),
        })
    }

    /// Puts bytes back in front of the read buffer (read past the end of a SYNC payload).
    pub fn unread(&mut self, bytes: &[u8]) {
        let mut joined = bytes.to_vec();
        joined.extend_from_slice(&self.rbuf[self.rpos..]);
        self.rbuf = joined;
        self.rpos = 0;
        self.scanner = Scanner::default();
    }
}

fn set_keepalive(stream: &TcpStream) {
    use nix::sys::socket::{setsockopt, sockopt};
    let _ = setsockopt(stream, sockopt::KeepAlive, &true);
    let _ = setsockopt(stream, sockopt::TcpKeepIdle, &KEEPALIVE_INTERVAL_SECS);
    let _ = setsockopt(
        stream,
        sockopt::TcpKeepInterval,
        &(KEEPALIVE_INTERVAL_SECS / 3).max(1),
    );
    let _ = setsockopt(stream, sockopt::TcpKeepCount, &3u32);
}
