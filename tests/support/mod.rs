//! Harness shared by the integration tests (`mod support;`).
//!
//! - [`TestServer`] runs the `tandem-server` binary built by Cargo, [`RedisServer`] runs the
//!   reference `redis-server` found on `PATH`. Both are a [`Server`]: a child process in its own
//!   temp dir, on a free 127.0.0.1 port, logging to `server.log` in that dir, killed (SIGKILL) and
//!   its dir deleted on `Drop` (kept when `TANDEM_KEEP_TEST_DIRS=1`).
//! - [`RawConn`] is a blocking TCP client that writes raw bytes and reads one complete RESP2/RESP3
//!   reply at a time, as raw bytes, failing after [`REPLY_TIMEOUT`].
//! - [`split_args`] splits a line with redis-cli's quoting rules (`sdssplitargs`).
//! - [`wait_until`] polls a condition, as the Tcl suite's `wait_for_condition`.
//! - [`Rng`] is a small seedable generator for the randomized tests.
#![allow(dead_code)]

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::ops::{Deref, DerefMut};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a [`RawConn`] waits for one complete reply.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a server may take to answer its first `PING`.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How many ports a server is tried on before the test fails.
const START_ATTEMPTS: usize = 5;

/// Which binary a [`Server`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerKind {
    /// `tandem-server`, as built by Cargo for this test run.
    Tandem,
    /// The reference `redis-server` found on `PATH`.
    Redis,
    /// Redis Sentinel 7.0.15, `redis-sentinel` on `PATH` (Debian package redis-sentinel); it
    /// needs a config file ([`Server::start_with_config`]).
    RedisSentinel,
    /// Tandem's own sentinel: tandem-server with `--sentinel` after its config file.
    TandemSentinel,
}

impl ServerKind {
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Tandem => "tandem-server",
            ServerKind::Redis => "redis-server",
            ServerKind::RedisSentinel => "redis-sentinel",
            ServerKind::TandemSentinel => "tandem-sentinel",
        }
    }

    /// The binary to run. A missing `redis-server` fails the test: a comparison with the
    /// reference must never pass by being skipped.
    pub fn binary(self) -> PathBuf {
        match self {
            ServerKind::Tandem => PathBuf::from(env!("CARGO_BIN_EXE_tandem-server")),
            ServerKind::Redis => find_on_path("redis-server"),
            ServerKind::RedisSentinel => find_on_path("redis-sentinel"),
            ServerKind::TandemSentinel => PathBuf::from(env!("CARGO_BIN_EXE_tandem-server")),
        }
    }
}

/// The full path of `name` on `PATH`; panics with an install hint when it is absent.
pub fn find_on_path(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` was not found on PATH. This test compares against the reference \
                 Redis 7.0.15: install it with \
                 `apt-get update && apt-get install -y redis-server redis-tools redis-sentinel`"
            )
        })
}

/// A fresh, empty directory under the system temp dir.
pub fn unique_temp_dir(label: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!(
        "tandem-test-{label}-{}-{n}-{nanos}",
        std::process::id()
    ));
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

fn keep_test_dirs() -> bool {
    std::env::var("TANDEM_KEEP_TEST_DIRS").is_ok_and(|v| v == "1")
}

/// Makes the process `command` starts get SIGKILL when the thread that starts it exits, so a
/// test binary killed by a timeout leaves no server behind.
pub fn die_with_thread(command: &mut Command) {
    // SAFETY: runs in the forked child before exec and only calls prctl(2), which is
    // async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(io::Error::from)
        });
    }
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn pick_free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

/// The first of `n` consecutive ports that were free a moment ago on 127.0.0.1 (for scripts
/// that take a port base), between 20000 and 45000.
pub fn free_port_run(n: u16) -> u16 {
    for attempt in 0..200u32 {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let spread = (std::process::id() ^ nanos ^ attempt.wrapping_mul(7919)) % 25000;
        let base = 20000 + spread as u16;
        if (0..n).all(|i| TcpListener::bind((Ipv4Addr::LOCALHOST, base + i)).is_ok()) {
            return base;
        }
    }
    panic!("no {n} consecutive free ports");
}

/// A running server process (tandem or the reference), owned by the test.
pub struct Server {
    kind: ServerKind,
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    log_path: PathBuf,
    /// The arguments after the binary's name (kept for [`Server::restart`]).
    argv: Vec<OsString>,
}

enum StartFailure {
    /// The process exited (typically: the port was taken); try another port.
    Exited(ExitStatus),
    /// Something else answers on the port; try another port.
    PortTaken,
    /// No `+PONG` within the start timeout.
    TimedOut(String),
}

impl Server {
    /// Starts `kind` with `--port N --bind 127.0.0.1 --dir <tmp>` followed by `args`
    /// (redis-server argv syntax, e.g. `&["--save", "", "--appendonly", "no"]`), and waits until
    /// it answers `PING` with `+PONG`. The process gets SIGKILL when the thread that started it
    /// exits (`PR_SET_PDEATHSIG`): start a server on the thread that keeps it.
    pub fn start(kind: ServerKind, args: &[&str]) -> Server {
        Self::start_with(kind, |port, dir| {
            let mut argv: Vec<OsString> = vec![
                "--port".into(),
                port.to_string().into(),
                "--bind".into(),
                "127.0.0.1".into(),
                "--dir".into(),
                dir.into(),
            ];
            argv.extend(args.iter().map(OsString::from));
            argv
        })
    }

    /// Starts `kind` from a config file, `server.conf` in its temp dir: `port N`,
    /// `bind 127.0.0.1`, `dir <tmp>`, then `conf` (redis.conf lines). The process runs as
    /// `binary server.conf`, so CONFIG REWRITE (or a sentinel's own rewrite) updates that file
    /// and [`Server::restart`] reads it back. Otherwise as [`Server::start`].
    pub fn start_with_config(kind: ServerKind, conf: &str) -> Server {
        Self::start_with(kind, |port, dir| {
            let path = dir.join("server.conf");
            let text = format!(
                "port {port}\nbind 127.0.0.1\ndir {}\n{conf}\n",
                dir.display()
            );
            fs::write(&path, text)
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
            let mut argv = vec![path.into_os_string()];
            if kind == ServerKind::TandemSentinel {
                argv.push("--sentinel".into());
            }
            argv
        })
    }

    /// The attempts of [`Server::start`]: `argv(port, dir)` gives the arguments for a port.
    fn start_with(kind: ServerKind, argv: impl Fn(u16, &Path) -> Vec<OsString>) -> Server {
        let dir = unique_temp_dir(kind.name());
        let log_path = dir.join("server.log");
        let mut failures = Vec::new();
        for attempt in 1..=START_ATTEMPTS {
            let port = pick_free_port();
            let mut server = Server {
                kind,
                child: None,
                port,
                dir: dir.clone(),
                log_path: log_path.clone(),
                argv: argv(port, &dir),
            };
            server.spawn(&format!("attempt {attempt}"));
            match server.wait_ready() {
                Ok(()) => return server,
                Err(failure) => {
                    // Only the process goes: the dir (and its log) serves the next attempt.
                    server.stop();
                    server.dir = PathBuf::new();
                    drop(server);
                    match failure {
                        StartFailure::Exited(status) => {
                            failures.push(format!("port {port}: exited with {status}"))
                        }
                        StartFailure::PortTaken => {
                            failures.push(format!("port {port}: taken by another process"))
                        }
                        StartFailure::TimedOut(last) => {
                            let log = fs::read_to_string(&log_path).unwrap_or_default();
                            cleanup_dir(&dir);
                            panic!(
                                "{} on port {port} did not answer PING with +PONG within {:?} \
                                 (last: {last}). Log:\n{log}",
                                kind.name(),
                                START_TIMEOUT
                            );
                        }
                    }
                }
            }
        }
        let log = fs::read_to_string(&log_path).unwrap_or_default();
        cleanup_dir(&dir);
        panic!(
            "{} failed to start after {START_ATTEMPTS} attempts: {}. Log:\n{log}",
            kind.name(),
            failures.join("; ")
        );
    }

    /// Runs the binary with `self.argv` in `self.dir`, appending its output to the log.
    fn spawn(&mut self, label: &str) {
        let binary = self.kind.binary();
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", self.log_path.display()));
        let _ = writeln!(
            log,
            "=== harness: {label}, port {}, args {:?} ===",
            self.port, self.argv
        );
        let stderr = log.try_clone().expect("clone log file handle");
        let mut command = Command::new(&binary);
        die_with_thread(&mut command);
        let child = command
            .args(&self.argv)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(stderr))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", binary.display()));
        self.child = Some(child);
    }

    /// Kills the process (SIGKILL) if it runs, then starts it again with the same arguments,
    /// port and dir (a config file is read back as the server left it), and waits for `PING`.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn("restart");
        if let Err(failure) = self.wait_ready() {
            let why = match failure {
                StartFailure::Exited(status) => format!("exited with {status}"),
                StartFailure::PortTaken => "its port was taken by another process".into(),
                StartFailure::TimedOut(last) => format!("no +PONG (last: {last})"),
            };
            panic!("{} did not restart: {why}", self.label());
        }
    }

    fn wait_ready(&mut self) -> Result<(), StartFailure> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(StartFailure::Exited(status));
            }
            let last = match ping_once(self.addr()) {
                Ok(()) => {
                    return match listener_owned_by(self.pid(), self.port) {
                        Some(false) => Err(StartFailure::PortTaken),
                        _ => Ok(()),
                    };
                }
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(StartFailure::TimedOut(last));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn kind(&self) -> ServerKind {
        self.kind
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// `redis://127.0.0.1:PORT/`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Everything the process wrote to stdout and stderr so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// A `redis` crate connection with read and write timeouts of [`REPLY_TIMEOUT`].
    pub fn client(&self) -> redis::Connection {
        let client = redis::Client::open(self.url()).expect("redis::Client::open");
        let con = client
            .get_connection_with_timeout(REPLY_TIMEOUT)
            .unwrap_or_else(|e| panic!("connect to {} at {}: {e}", self.kind.name(), self.addr()));
        con.set_read_timeout(Some(REPLY_TIMEOUT))
            .expect("set_read_timeout");
        con.set_write_timeout(Some(REPLY_TIMEOUT))
            .expect("set_write_timeout");
        con
    }

    /// A new raw RESP connection.
    pub fn raw(&self) -> RawConn {
        RawConn::connect(self.addr())
    }

    /// Kills the process (SIGKILL) and reaps it. Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        if self.dir.as_os_str().is_empty() {
            return;
        }
        if std::thread::panicking() {
            let log = self.log_text();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            eprintln!(
                "--- last lines of {} log ({}) ---\n{}",
                self.kind.name(),
                self.log_path.display(),
                tail.join("\n")
            );
        }
        cleanup_dir(&self.dir);
    }
}

fn cleanup_dir(dir: &Path) {
    if keep_test_dirs() {
        eprintln!("TANDEM_KEEP_TEST_DIRS=1: keeping {}", dir.display());
    } else {
        let _ = fs::remove_dir_all(dir);
    }
}

/// One `PING` on a fresh connection; `Ok` when the answer is exactly `+PONG\r\n`.
fn ping_once(addr: SocketAddr) -> Result<(), String> {
    let mut stream =
        TcpStream::connect_timeout(&addr, Duration::from_millis(200)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(Duration::from_secs(1)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"*1\r\n$4\r\nPING\r\n")
        .map_err(|e| e.to_string())?;
    let mut got = Vec::new();
    let mut chunk = [0u8; 256];
    while !got.ends_with(b"\r\n") {
        let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&chunk[..n]);
    }
    if got == b"+PONG\r\n" {
        Ok(())
    } else {
        Err(format!("PING answered {}", escape(&got)))
    }
}

/// Whether the socket listening on 127.0.0.1:`port` belongs to process `pid`, read from
/// `/proc` (None when `/proc` cannot tell). Guards against a foreign process that grabbed the
/// port between our probe and the server's bind, and answers PING in its place.
fn listener_owned_by(pid: u32, port: u16) -> Option<bool> {
    let table = fs::read_to_string("/proc/net/tcp").ok()?;
    let suffix = format!(":{port:04X}");
    let inodes: Vec<String> = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // cols: sl local_address rem_address st tx:rx tr:tm retrnsmt uid timeout inode
            (cols.len() > 9 && cols[1].ends_with(&suffix) && cols[3] == "0A")
                .then(|| cols[9].to_string())
        })
        .collect();
    if inodes.is_empty() {
        return None;
    }
    let fds = fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    for fd in fds.flatten() {
        if let Ok(target) = fs::read_link(fd.path()) {
            let target = target.to_string_lossy();
            if inodes
                .iter()
                .any(|inode| target == format!("socket:[{inode}]"))
            {
                return Some(true);
            }
        }
    }
    Some(false)
}

macro_rules! server_wrapper {
    ($(#[$doc:meta])* $name:ident, $kind:expr) => {
        $(#[$doc])*
        pub struct $name(Server);

        impl $name {
            /// See [`Server::start`].
            pub fn start(args: &[&str]) -> $name {
                $name(Server::start($kind, args))
            }
        }

        impl Deref for $name {
            type Target = Server;
            fn deref(&self) -> &Server {
                &self.0
            }
        }

        impl DerefMut for $name {
            fn deref_mut(&mut self) -> &mut Server {
                &mut self.0
            }
        }
    };
}

server_wrapper!(
    /// `tandem-server` under test.
    TestServer,
    ServerKind::Tandem
);
server_wrapper!(
    /// The reference `redis-server`; fails the test when it is not installed.
    RedisServer,
    ServerKind::Redis
);

/// SplitMix64: tiny, seedable, and stable across crate versions.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }

    pub fn pick<'t, T>(&mut self, items: &'t [T]) -> &'t T {
        &items[self.below(items.len())]
    }
}

/// Polls `condition` every 10 ms until it holds (true) or `timeout` passes (false).
#[must_use]
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `redis-cli -h 127.0.0.1 -p PORT args...` (killed after 10 s) and returns its stdout.
pub fn redis_cli(port: u16, args: &[&str]) -> String {
    redis_cli_output(port, args).0
}

/// [`redis_cli`] returning stdout and stderr (where redis-cli reports connection errors).
pub fn redis_cli_output(port: u16, args: &[&str]) -> (String, String) {
    redis_cli_fed(port, args, None)
}

/// [`redis_cli_output`] with `input` on redis-cli's stdin (None: /dev/null), e.g. the
/// debugger commands of `--ldb --eval`.
pub fn redis_cli_fed(port: u16, args: &[&str], input: Option<&[u8]>) -> (String, String) {
    let mut child = Command::new(find_on_path("redis-cli"))
        .arg("-h")
        .arg("127.0.0.1")
        .arg("-p")
        .arg(port.to_string())
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn redis-cli");
    if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(bytes).expect("write to redis-cli");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while matches!(child.try_wait(), Ok(None)) {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("redis-cli {args:?} on port {port} did not finish within 10 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let output = child.wait_with_output().expect("redis-cli output");
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

// ---------------------------------------------------------------------------------------------
// Raw RESP

/// Encodes `args` as a RESP multibulk request.
pub fn encode_command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Length of the first complete RESP2/RESP3 value at the start of `buf`: `Ok(None)` when more
/// bytes are needed, `Err` when the bytes cannot be RESP. An attribute (`|`) counts together
/// with the value it annotates.
pub fn resp_len(buf: &[u8]) -> Result<Option<usize>, String> {
    value_end(buf, 0)
}

fn value_end(buf: &[u8], pos: usize) -> Result<Option<usize>, String> {
    let Some(&kind) = buf.get(pos) else {
        return Ok(None);
    };
    let Some(rel) = buf[pos..].windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let line = &buf[pos + 1..pos + rel];
    let next = pos + rel + 2;
    let count = || -> Result<i64, String> {
        std::str::from_utf8(line)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(|| format!("bad length line {:?} at byte {pos}", escape(line)))
    };
    match kind {
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Ok(Some(next)),
        b'$' | b'!' | b'=' => {
            let n = count()?;
            if n < 0 {
                return Ok(Some(next));
            }
            let end = next + n as usize + 2;
            if buf.len() < end {
                return Ok(None);
            }
            if &buf[end - 2..end] != b"\r\n" {
                return Err(format!(
                    "bulk of length {n} at byte {pos} not followed by CRLF"
                ));
            }
            Ok(Some(end))
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n = count()?;
            if n < 0 {
                return Ok(Some(next));
            }
            let items = if matches!(kind, b'%' | b'|') {
                2 * n
            } else {
                n
            };
            let mut p = next;
            for _ in 0..items {
                match value_end(buf, p)? {
                    Some(end) => p = end,
                    None => return Ok(None),
                }
            }
            if kind == b'|' {
                return value_end(buf, p);
            }
            Ok(Some(p))
        }
        other => Err(format!(
            "unknown RESP type byte {:?} at byte {pos}",
            escape(&[other])
        )),
    }
}

/// The elements of an aggregate reply (`*`, `~`, `>`, `%` where a map yields keys and values in
/// turn), each as its raw bytes; `None` for any other reply (including null arrays).
pub fn aggregate_elements(reply: &[u8]) -> Option<Vec<Vec<u8>>> {
    let kind = *reply.first()?;
    if !matches!(kind, b'*' | b'~' | b'>' | b'%') {
        return None;
    }
    let rel = reply.windows(2).position(|w| w == b"\r\n")?;
    let n: i64 = std::str::from_utf8(&reply[1..rel]).ok()?.parse().ok()?;
    if n < 0 {
        return None;
    }
    let items = if kind == b'%' { 2 * n } else { n };
    let mut p = rel + 2;
    let mut out = Vec::with_capacity(items as usize);
    for _ in 0..items {
        let end = value_end(reply, p).ok()??;
        out.push(reply[p..end].to_vec());
        p = end;
    }
    Some(out)
}

/// Printable form of raw bytes, as redis-cli would quote them (`\r`, `\n`, `\xHH`).
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes {
        match b {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}

/// A blocking RESP client that reads exactly one reply per call, as raw bytes.
pub struct RawConn {
    stream: TcpStream,
    addr: SocketAddr,
    buf: Vec<u8>,
    timeout: Duration,
}

impl RawConn {
    pub fn connect(addr: SocketAddr) -> RawConn {
        Self::try_connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"))
    }

    pub fn try_connect(addr: SocketAddr) -> io::Result<RawConn> {
        Self::try_connect_timeout(addr, REPLY_TIMEOUT)
    }

    /// [`RawConn::try_connect`] giving up on the TCP connect after `timeout`.
    pub fn try_connect_timeout(addr: SocketAddr, timeout: Duration) -> io::Result<RawConn> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(REPLY_TIMEOUT))?;
        Ok(RawConn {
            stream,
            addr,
            buf: Vec::new(),
            timeout: REPLY_TIMEOUT,
        })
    }

    /// Changes how long one reply may take (default [`REPLY_TIMEOUT`]).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Bytes received but not yet returned as a reply.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Writes `bytes` as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.try_send_raw(bytes)
            .unwrap_or_else(|e| panic!("write to {}: {e}", self.addr));
    }

    pub fn try_send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Writes `args` as one multibulk request (does not read the reply).
    pub fn send_cmd(&mut self, args: &[&[u8]]) {
        self.send_raw(&encode_command(args));
    }

    /// Sends one command and returns its raw reply.
    pub fn request(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.send_cmd(args);
        self.read_reply_raw()
    }

    /// Sends one command given as `&str` words and returns its raw reply.
    pub fn request_str(&mut self, args: &[&str]) -> Vec<u8> {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.request(&args)
    }

    /// Reads one complete reply; panics on timeout, EOF or malformed RESP.
    pub fn read_reply_raw(&mut self) -> Vec<u8> {
        self.try_read_reply()
            .unwrap_or_else(|e| panic!("reading a reply from {}: {e}", self.addr))
    }

    /// Reads one complete reply. Errors: `TimedOut` after the timeout, `UnexpectedEof` when the
    /// peer closed, `InvalidData` when the bytes are not RESP; each with the bytes seen so far.
    pub fn try_read_reply(&mut self) -> io::Result<Vec<u8>> {
        let deadline = Instant::now() + self.timeout;
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match resp_len(&self.buf) {
                Ok(Some(len)) => return Ok(self.buf.drain(..len).collect()),
                Ok(None) => {}
                Err(e) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{e}; received {}", escape(&self.buf)),
                    ))
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(self.timeout_error());
            }
            self.stream.set_read_timeout(Some(deadline - now))?;
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("connection closed; partial reply {:?}", escape(&self.buf)),
                    ))
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(self.timeout_error())
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn timeout_error(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "no complete reply within {:?}; partial reply {:?}",
                self.timeout,
                escape(&self.buf)
            ),
        )
    }

    /// Waits (up to the timeout) for the peer to close the connection. `Ok` with whatever bytes
    /// arrived before the close; `Err` when it is still open at the deadline.
    pub fn read_until_closed(&mut self) -> Result<Vec<u8>, String> {
        let deadline = Instant::now() + self.timeout;
        let mut chunk = [0u8; 4096];
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(format!(
                    "connection still open after {:?}; received {:?}",
                    self.timeout,
                    escape(&self.buf)
                ));
            }
            self.stream
                .set_read_timeout(Some(deadline - now))
                .map_err(|e| e.to_string())?;
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(std::mem::take(&mut self.buf)),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    return Ok(std::mem::take(&mut self.buf))
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// redis-cli quoting

/// Splits `line` into arguments with redis-cli's rules (`sdssplitargs`): words separated by
/// whitespace; `"double quotes"` with `\xHH`, `\n`, `\r`, `\t`, `\b`, `\a` and `\<char>`
/// escapes; `'single quotes'` where only `\'` is an escape. A closing quote must be followed by
/// whitespace or the end of the line.
pub fn split_args(line: &str) -> Result<Vec<Vec<u8>>, String> {
    let bytes = line.as_bytes();
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() {
            return Ok(args);
        }
        let mut current = Vec::new();
        let (mut in_double, mut in_single) = (false, false);
        loop {
            let c = bytes.get(i).copied();
            if in_double {
                match c {
                    None => return Err("unbalanced double quotes".into()),
                    Some(b'\\')
                        if bytes.get(i + 1) == Some(&b'x')
                            && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
                            && bytes.get(i + 3).is_some_and(u8::is_ascii_hexdigit) =>
                    {
                        let hex = std::str::from_utf8(&bytes[i + 2..i + 4]).unwrap_or("0");
                        current.push(u8::from_str_radix(hex, 16).unwrap_or(0));
                        i += 3;
                    }
                    Some(b'\\') if i + 1 < bytes.len() => {
                        i += 1;
                        current.push(match bytes[i] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 0x08,
                            b'a' => 0x07,
                            other => other,
                        });
                    }
                    Some(b'"') => {
                        if bytes.get(i + 1).is_some_and(|b| !b.is_ascii_whitespace()) {
                            return Err("closing quote must be followed by a space".into());
                        }
                        i += 1;
                        break;
                    }
                    Some(other) => current.push(other),
                }
            } else if in_single {
                match c {
                    None => return Err("unbalanced single quotes".into()),
                    Some(b'\\') if bytes.get(i + 1) == Some(&b'\'') => {
                        i += 1;
                        current.push(b'\'');
                    }
                    Some(b'\'') => {
                        if bytes.get(i + 1).is_some_and(|b| !b.is_ascii_whitespace()) {
                            return Err("closing quote must be followed by a space".into());
                        }
                        i += 1;
                        break;
                    }
                    Some(other) => current.push(other),
                }
            } else {
                match c {
                    None => break,
                    Some(b) if b.is_ascii_whitespace() => break,
                    Some(b'"') => in_double = true,
                    Some(b'\'') => in_single = true,
                    Some(other) => current.push(other),
                }
            }
            i += 1;
        }
        args.push(current);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_args_follows_redis_cli_quoting() {
        let got = split_args(r#"SET "a b\x41\n" 'it\'s' plain "" x"#).unwrap();
        let want: Vec<Vec<u8>> = vec![
            b"SET".to_vec(),
            b"a bA\n".to_vec(),
            b"it's".to_vec(),
            b"plain".to_vec(),
            vec![],
            b"x".to_vec(),
        ];
        assert_eq!(got, want);
        assert!(split_args(r#"GET "unterminated"#).is_err());
        assert!(split_args(r#"GET "a"b"#).is_err());
    }

    #[test]
    fn resp_len_handles_every_type() {
        let cases: &[&[u8]] = &[
            b"+OK\r\n",
            b"-ERR x\r\n",
            b":1\r\n",
            b"$-1\r\n",
            b"$3\r\na\r\n\r\n",
            b"*-1\r\n",
            b"*2\r\n$1\r\na\r\n*1\r\n:1\r\n",
            b"_\r\n",
            b",1.5\r\n",
            b"#t\r\n",
            b"!3\r\nerr\r\n",
            b"=7\r\ntxt:abc\r\n",
            b"(123\r\n",
            b"%1\r\n+a\r\n:1\r\n",
            b"~1\r\n+a\r\n",
            b">2\r\n+message\r\n+x\r\n",
            b"|1\r\n+k\r\n+v\r\n:7\r\n",
        ];
        for case in cases {
            let mut extended = case.to_vec();
            extended.extend_from_slice(b"+NEXT\r\n");
            assert_eq!(
                resp_len(&extended),
                Ok(Some(case.len())),
                "{}",
                escape(case)
            );
            for cut in 0..case.len() {
                assert_eq!(
                    resp_len(&case[..cut]),
                    Ok(None),
                    "{} cut at {cut}",
                    escape(case)
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Replication helpers (tests/replication.rs, tests/replication_faults.rs)

pub mod proxy;

/// How long a replication test waits for one condition (link up, offsets and digests equal).
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(30);

impl Server {
    /// Runs redis-cli-style lines on one connection (so SELECT carries over), failing on any
    /// error reply: every line is valid Redis and must be accepted. Blank lines are skipped.
    pub fn run_lines<S: AsRef<str>>(&self, lines: &[S]) {
        let mut con = self.raw();
        for line in lines
            .iter()
            .map(|l| l.as_ref().trim())
            .filter(|l| !l.is_empty())
        {
            let args = split_args(line).unwrap_or_else(|e| panic!("bad script line {line:?}: {e}"));
            let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            let reply = con.request(&args);
            assert!(
                reply.first() != Some(&b'-'),
                "{} answered {line:?} with {}",
                self.label(),
                escape(&reply)
            );
        }
    }

    /// Sends one command on a fresh connection and returns its raw reply; `Err` when the server
    /// cannot be reached or does not answer.
    pub fn try_request(&self, args: &[&str]) -> io::Result<Vec<u8>> {
        let mut con = RawConn::try_connect(self.addr())?;
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        con.try_send_raw(&encode_command(&args))?;
        con.try_read_reply()
    }

    /// [`Server::try_request`], panicking on I/O errors.
    pub fn request(&self, args: &[&str]) -> Vec<u8> {
        self.try_request(args)
            .unwrap_or_else(|e| panic!("{} {args:?} on {}: {e}", self.kind.name(), self.addr()))
    }

    /// `INFO <section>` as (name, value) pairs in order; `None` when the server is unreachable.
    pub fn try_info(&self, section: &str) -> Option<Vec<(String, String)>> {
        let reply = self.try_request(&["INFO", section]).ok()?;
        let body = bulk_text(&reply)?;
        Some(
            body.lines()
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.to_string(), v.trim_end().to_string()))
                .collect(),
        )
    }

    /// `INFO <section>` as (name, value) pairs in order.
    pub fn info(&self, section: &str) -> Vec<(String, String)> {
        self.try_info(section).unwrap_or_else(|| {
            panic!(
                "INFO {section} failed on {} at {}",
                self.kind.name(),
                self.addr()
            )
        })
    }

    /// One INFO field, `None` when absent or the server is unreachable.
    pub fn info_field(&self, section: &str, name: &str) -> Option<String> {
        self.try_info(section)?
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// One numeric INFO field; panics when it is absent.
    pub fn info_i64(&self, section: &str, name: &str) -> i64 {
        let info = self.info(section);
        info.iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "{} has no numeric INFO {section} field {name}: {info:?}",
                    self.kind.name()
                )
            })
    }

    /// `DEBUG DIGEST` (needs `--enable-debug-command yes`); `None` when unreachable.
    pub fn try_digest(&self) -> Option<String> {
        let reply = self.try_request(&["DEBUG", "DIGEST"]).ok()?;
        let text = String::from_utf8_lossy(&reply).into_owned();
        text.strip_prefix('+').map(|d| d.trim_end().to_string())
    }

    /// `kind:port`, for messages.
    pub fn label(&self) -> String {
        format!("{}:{}", self.kind.name(), self.port)
    }
}

/// The text of a bulk-string reply (`$n\r\n...\r\n`).
pub fn bulk_text(reply: &[u8]) -> Option<String> {
    if reply.first() != Some(&b'$') {
        return None;
    }
    let rel = reply.windows(2).position(|w| w == b"\r\n")?;
    let body = reply.get(rel + 2..reply.len().checked_sub(2)?)?;
    Some(String::from_utf8_lossy(body).into_owned())
}

/// Waits until `replica` reports `master_link_status:up`; panics after `timeout`.
pub fn wait_link_up(replica: &Server, timeout: Duration) {
    let ok = wait_until(timeout, || {
        replica
            .info_field("replication", "master_link_status")
            .as_deref()
            == Some("up")
    });
    assert!(
        ok,
        "{}: master link not up within {timeout:?}: {:?}",
        replica.label(),
        replica.try_info("replication")
    );
}

/// Waits until every replica has its link up, applied exactly the master's
/// `master_repl_offset` (`slave_repl_offset`), and all nodes have the same `DEBUG DIGEST`
/// (redis `wait_for_ofs_sync` + digest check). Works for chains: offsets are the same all the
/// way down. Panics after `timeout` with what was last seen.
pub fn wait_in_sync(master: &Server, replicas: &[&Server], timeout: Duration) {
    let mut last = String::new();
    let ok = wait_until(timeout, || {
        let Some(offset) = master.info_field("replication", "master_repl_offset") else {
            last = format!("{}: INFO failed", master.label());
            return false;
        };
        let mut seen = format!("{} master_repl_offset={offset}", master.label());
        let mut offsets_equal = true;
        for r in replicas {
            let info = r.try_info("replication").unwrap_or_default();
            let get = |k: &str| {
                info.iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            let (link, ofs) = (get("master_link_status"), get("slave_repl_offset"));
            seen.push_str(&format!(
                "; {} link={link} slave_repl_offset={ofs}",
                r.label()
            ));
            offsets_equal &= link == "up" && ofs == offset;
        }
        if !offsets_equal {
            last = seen;
            return false;
        }
        let digest = master.try_digest();
        seen.push_str(&format!("; digests: {} {digest:?}", master.label()));
        let mut equal = digest.is_some();
        for r in replicas {
            let d = r.try_digest();
            seen.push_str(&format!(", {} {d:?}", r.label()));
            equal &= d == digest;
        }
        // The master may have moved on (active expiry, pings) while we compared.
        let still = master.info_field("replication", "master_repl_offset");
        last = seen;
        equal && still.as_deref() == Some(offset.as_str())
    });
    assert!(ok, "nodes not in sync within {timeout:?}: {last}");
}

/// Options of a [`Writer`].
#[derive(Clone, Debug)]
pub struct WriterOptions {
    /// Key prefix, so several writers do not collide.
    pub prefix: String,
    /// Commands pipelined per round trip.
    pub batch: usize,
    /// Stops after this many commands...
    pub max_ops: u64,
    /// ...or after this long.
    pub max_time: Duration,
    /// Bytes of each SET value.
    pub value_size: usize,
    /// When set, `WAIT n 1000` after every batch; keys of acknowledged batches are recorded.
    pub wait_replicas: Option<u32>,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            prefix: "w".into(),
            batch: 64,
            max_ops: 5_000_000,
            max_time: Duration::from_secs(30),
            value_size: 16,
            wait_replicas: None,
        }
    }
}

/// What a [`Writer`] did.
#[derive(Debug, Default)]
pub struct WriterReport {
    pub ops: u64,
    /// (key, value) of SETs whose batch `WAIT` acknowledged.
    pub acked: Vec<(String, String)>,
    /// Why it stopped early (connection lost, error reply), if it did.
    pub error: Option<String>,
}

/// A thread writing mixed commands (all 5 types, expiries, pops) to a server as fast as it
/// answers, pipelined, until stopped or bounded by count and time.
pub struct Writer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ops: std::sync::Arc<std::sync::atomic::AtomicU64>,
    handle: Option<std::thread::JoinHandle<WriterReport>>,
}

impl Writer {
    pub fn start(addr: SocketAddr, opts: WriterOptions) -> Writer {
        use std::sync::atomic::{AtomicBool, AtomicU64};
        use std::sync::Arc;
        let stop = Arc::new(AtomicBool::new(false));
        let ops = Arc::new(AtomicU64::new(0));
        let (s, o) = (stop.clone(), ops.clone());
        let handle = std::thread::spawn(move || writer_loop(addr, opts, s, o));
        Writer {
            stop,
            ops,
            handle: Some(handle),
        }
    }

    /// Commands answered so far.
    pub fn ops(&self) -> u64 {
        self.ops.load(Ordering::Acquire)
    }

    /// Waits until at least `n` commands were answered (false on timeout or if it stopped).
    pub fn wait_ops(&self, n: u64, timeout: Duration) -> bool {
        wait_until(timeout, || {
            self.ops() >= n || self.handle.as_ref().is_none_or(|h| h.is_finished())
        }) && self.ops() >= n
    }

    pub fn stop(mut self) -> WriterReport {
        self.stop.store(true, Ordering::Release);
        self.handle
            .take()
            .map(|h| h.join().expect("writer thread panicked"))
            .unwrap_or_default()
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn writer_loop(
    addr: SocketAddr,
    opts: WriterOptions,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ops: std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> WriterReport {
    let mut report = WriterReport::default();
    let mut con = match RawConn::try_connect(addr) {
        Ok(c) => c,
        Err(e) => {
            report.error = Some(format!("connect: {e}"));
            return report;
        }
    };
    let deadline = Instant::now() + opts.max_time;
    let p = &opts.prefix;
    let filler = "x".repeat(opts.value_size);
    let mut i: u64 = 0;
    while !stop.load(Ordering::Acquire) && Instant::now() < deadline && i < opts.max_ops {
        let mut out = Vec::new();
        let mut sets = Vec::new();
        for _ in 0..opts.batch {
            let n = i.to_string();
            let slot = (i % 16).to_string();
            let cmd: Vec<String> = match i % 8 {
                0 => {
                    let (k, v) = (format!("{p}:s:{n}"), format!("{n}:{filler}"));
                    sets.push((k.clone(), v.clone()));
                    vec!["SET".into(), k, v]
                }
                1 => vec!["INCR".into(), format!("{p}:ctr")],
                2 => vec![
                    "RPUSH".into(),
                    format!("{p}:l:{slot}"),
                    n.clone(),
                    filler.clone(),
                ],
                3 => vec![
                    "HSET".into(),
                    format!("{p}:h:{slot}"),
                    format!("f{n}"),
                    n.clone(),
                ],
                4 => vec!["SADD".into(), format!("{p}:set:{slot}"), n.clone()],
                5 => vec![
                    "ZADD".into(),
                    format!("{p}:z:{slot}"),
                    n.clone(),
                    format!("m{n}"),
                ],
                6 => vec![
                    "SET".into(),
                    format!("{p}:e:{}", i % 64),
                    n.clone(),
                    "EX".into(),
                    "1000".into(),
                ],
                _ => vec!["LPOP".into(), format!("{p}:l:{slot}")],
            };
            let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
            out.extend_from_slice(&encode_command(&args));
            i += 1;
        }
        if let Some(n) = opts.wait_replicas {
            out.extend_from_slice(&encode_command(&[
                b"WAIT",
                n.to_string().as_bytes(),
                b"1000",
            ]));
        }
        if let Err(e) = con.try_send_raw(&out) {
            report.error = Some(format!("write: {e}"));
            break;
        }
        for _ in 0..opts.batch {
            match con.try_read_reply() {
                Ok(r) if r.first() == Some(&b'-') => {
                    report.error = Some(format!("error reply: {}", escape(&r)));
                    return report;
                }
                Ok(_) => {
                    report.ops += 1;
                    ops.fetch_add(1, Ordering::AcqRel);
                }
                Err(e) => {
                    report.error = Some(format!("read: {e}"));
                    return report;
                }
            }
        }
        if let Some(n) = opts.wait_replicas {
            match con.try_read_reply() {
                Ok(r) => {
                    let got: i64 = String::from_utf8_lossy(&r)
                        .trim_start_matches(':')
                        .trim_end()
                        .parse()
                        .unwrap_or(-1);
                    if got >= i64::from(n) {
                        report.acked.extend(sets);
                    }
                }
                Err(e) => {
                    report.error = Some(format!("read WAIT: {e}"));
                    return report;
                }
            }
        }
    }
    report
}

/// The lines of a server's log that contain `needle`.
pub fn log_lines(server: &Server, needle: &str) -> Vec<String> {
    server
        .log_text()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

/// Arguments every compared test node gets (both kinds): no saves, no AOF, DEBUG allowed,
/// full syncs without the diskless delay.
pub const TEST_NODE_ARGS: &[&str] = &[
    "--save",
    "",
    "--appendonly",
    "no",
    "--enable-debug-command",
    "yes",
    "--repl-diskless-sync-delay",
    "0",
];

/// A node for replication tests.
pub fn start_node(kind: ServerKind, extra: &[&str]) -> Server {
    Server::start(kind, &[TEST_NODE_ARGS, extra].concat())
}

/// A replica of `127.0.0.1:master_port` for replication tests.
pub fn start_replica_node(kind: ServerKind, master_port: u16, extra: &[&str]) -> Server {
    let port = master_port.to_string();
    Server::start(
        kind,
        &[
            TEST_NODE_ARGS,
            &["--replicaof", "127.0.0.1", port.as_str()],
            extra,
        ]
        .concat(),
    )
}

/// A server process started on a fixed `port` in `dir` (no saves, no AOF, output discarded),
/// without waiting for it to answer (restarts on a known port, observing startup itself).
/// Killed and reaped on drop; `dir` is left to the caller.
pub struct Unwaited(pub Child);

impl Unwaited {
    pub fn spawn(kind: ServerKind, port: u16, dir: &Path) -> Unwaited {
        let child = Command::new(kind.binary())
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", kind.name()));
        Unwaited(child)
    }
}

impl Drop for Unwaited {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One key of every type besides strings (one with an expiry), names prefixed with `prefix`.
pub fn seed_types(server: &Server, prefix: &str) {
    for cmd in [
        &["RPUSH", "seed:l", "a", "b", "c"][..],
        &["HSET", "seed:h", "f", "v", "g", "w"],
        &["SADD", "seed:s", "1", "2", "x"],
        &["ZADD", "seed:z", "1", "a", "2.5", "b"],
        &["SET", "seed:ex", "v", "EX", "5000"],
    ] {
        let key = format!("{prefix}{}", cmd[1]);
        let mut args = cmd.to_vec();
        args[1] = &key;
        let reply = server.request(&args);
        assert!(
            reply.first() != Some(&b'-'),
            "{} answered {args:?} with {}",
            server.label(),
            escape(&reply)
        );
    }
}
