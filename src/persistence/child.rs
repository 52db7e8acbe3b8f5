//! Writer processes: where Redis forks a child that writes a BGSAVE's dump file, a disk-based
//! sync's file or an AOF rewrite's base, Tandem starts a small process of its own binary and
//! streams it the bytes of the fork-less snapshot walk, which still runs in the server (no
//! page tables copied, no memory doubled, no stall). The process writes them to the temp
//! file Redis's child would write (`temp-<pid>.rdb`, `temp-rewriteaof-bg-<pid>.aof`), fsyncs
//! it and exits; the server renames it into place.
//!
//! It is a child process as Redis users and their tools know it: it shows in `ps` under the
//! server with Redis's title, it gets `oom-score-adj`'s background-child score, killing it
//! fails the save (logged "terminated by signal N", the temp file removed, SIGUSR1 excepted,
//! as in Redis), a shutdown kills it, and it exits by itself when the server dies.
//!
//! The stream is framed (`u32` little-endian length, then the bytes; length 0 commits), so
//! the process tells a finished stream from a server that went away, whose file it removes.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use crate::server::Server;

/// The program the server starts writers from (set by tandem-server's `main`; a library
/// user, such as a test binary, writes on its own threads instead).
static PROGRAM: OnceLock<PathBuf> = OnceLock::new();

/// Set in a writer's environment: the kind it writes (`rdb` or `aof`).
const ENV_KIND: &str = "TANDEM_WRITER";
/// Set to `1` when the writer fsyncs every `AUTOSYNC_BYTES` (`rdb-save-incremental-fsync`,
/// `aof-rewrite-incremental-fsync`).
const ENV_AUTOSYNC: &str = "TANDEM_WRITER_AUTOSYNC";
/// The `oom_score_adj` the writer gives itself (redis `CONFIG_OOM_BGCHILD`), when set.
const ENV_OOM: &str = "TANDEM_WRITER_OOM";

/// Bytes between two fsyncs of an incremental-fsync writer (redis `REDIS_AUTOSYNC_BYTES`).
pub const AUTOSYNC_BYTES: u64 = 4 << 20;

/// Lets this process start writers: called once by the server binary.
pub fn enable() {
    // The link, not its target: it still names this program once its file was replaced.
    let proc_exe = Path::new("/proc/self/exe");
    let exe = if proc_exe.exists() {
        Some(proc_exe.to_path_buf())
    } else {
        std::env::current_exe().ok()
    };
    if let Some(exe) = exe {
        let _ = PROGRAM.set(exe);
    }
}

/// What a writer writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A dump file (BGSAVE, a disk-based sync).
    Rdb,
    /// An AOF rewrite's new base.
    Aof,
}

impl Kind {
    fn tag(self) -> &'static str {
        match self {
            Kind::Rdb => "rdb",
            Kind::Aof => "aof",
        }
    }

    /// The process title Redis gives its child.
    fn title(self) -> &'static str {
        match self {
            Kind::Rdb => "redis-rdb-bgsave",
            Kind::Aof => "redis-aof-rewrite",
        }
    }

    /// The temp file of the writer `pid`, in the working directory (redis `rdbSave` in the
    /// child, `rewriteAppendOnlyFileBackground`).
    pub fn temp_name(self, pid: u32) -> PathBuf {
        PathBuf::from(match self {
            Kind::Rdb => format!("temp-{pid}.rdb"),
            Kind::Aof => format!("temp-rewriteaof-bg-{pid}.aof"),
        })
    }

    /// How Redis's log names this kind's end.
    fn what(self) -> &'static str {
        match self {
            Kind::Rdb => "Background saving",
            Kind::Aof => "Background AOF rewrite",
        }
    }
}

/// Why a write through a writer failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The writer died by this signal before it finished: killed from outside.
    Signal(i32),
    /// The walk or the writer failed, or the walk was given up; the reason.
    Error(String),
}

impl Failure {
    /// A writer killed by SIGUSR1 is not an error (Redis's way to stop a child quietly).
    pub fn is_error(&self) -> bool {
        !matches!(self, Failure::Signal(s) if *s == nix::libc::SIGUSR1)
    }

    /// The log line, as Redis words it.
    pub fn describe(&self, kind: Kind) -> String {
        match self {
            Failure::Signal(s) => format!("{} terminated by signal {s}", kind.what()),
            Failure::Error(e) => e.clone(),
        }
    }
}

/// The writer running now, for a shutdown or an AOF kill to stop (one at a time, as Redis
/// has one child at a time).
#[derive(Debug, Default)]
pub struct Running(Mutex<Option<(u32, Kind)>>);

impl Running {
    /// The running writer's pid, if there is one of `kind`.
    pub fn pid(&self, kind: Kind) -> Option<u32> {
        self.0.lock().filter(|r| r.1 == kind).map(|r| r.0)
    }

    /// Kills the running writer of `kind` (its save fails quietly, as with Redis's SIGUSR1),
    /// waits for it to die and removes its temp file. True if there was one.
    pub fn kill(&self, kind: Kind) -> bool {
        // Held throughout: the writer is reaped under this lock, so the pid stays its own.
        let running = self.0.lock();
        let Some(pid) = running.filter(|r| r.1 == kind).map(|r| r.0) else {
            return false;
        };
        let _ = nix::sys::signal::kill(pid_of(pid), nix::sys::signal::Signal::SIGUSR1);
        exited(pid, true);
        let _ = std::fs::remove_file(kind.temp_name(pid));
        true
    }
}

fn pid_of(pid: u32) -> nix::unistd::Pid {
    nix::unistd::Pid::from_raw(pid as i32)
}

/// Whether the child `pid` has exited, left unreaped; `block` waits until it has.
fn exited(pid: u32, block: bool) -> bool {
    use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
    let mut flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT;
    if !block {
        flags |= WaitPidFlag::WNOHANG;
    }
    !matches!(
        waitid(Id::Pid(pid_of(pid)), flags),
        Ok(WaitStatus::StillAlive) | Err(_)
    )
}

/// A running writer process: `Write` frames what goes to it.
pub struct Writer {
    child: Child,
    pipe: Option<ChildStdin>,
    kind: Kind,
    /// Set once the outcome is being collected, so the watcher does not give up the walk.
    settled: Arc<AtomicBool>,
    server: Arc<Server>,
}

impl Writer {
    /// Starts a writer of `kind`, if this process may (`enable`). `on_death` runs on a
    /// watcher thread if the writer dies before the outcome is collected: it gives up the
    /// walk feeding it (which may be pausing, `rdb-key-save-delay`, and would not notice).
    /// `Ok(None)`: write on this process's threads instead.
    pub fn spawn(
        server: &Arc<Server>,
        kind: Kind,
        on_death: impl FnOnce() + Send + 'static,
    ) -> io::Result<Option<Writer>> {
        let Some(program) = PROGRAM.get() else {
            return Ok(None);
        };
        let (autosync, oom) = {
            let c = server.config.read();
            let autosync = match kind {
                Kind::Rdb => c.get("rdb-save-incremental-fsync").as_deref() == Some("yes"),
                Kind::Aof => c.aof_rewrite_incremental_fsync,
            };
            (autosync, crate::server::oom::child_score(&c))
        };
        let mut cmd = Command::new(program);
        {
            use std::os::unix::process::CommandExt;
            cmd.arg0(kind.title());
        }
        cmd.env(ENV_KIND, kind.tag())
            .env(ENV_AUTOSYNC, if autosync { "1" } else { "0" })
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        match oom {
            Some(v) => cmd.env(ENV_OOM, v.to_string()),
            None => cmd.env_remove(ENV_OOM),
        };
        // About a millisecond (an exec of this binary): the worker's other tasks move on.
        let mut child = crate::util::blocking(|| cmd.spawn())?;
        let pid = child.id();
        let pipe = child.stdin.take();
        if let Some(p) = &pipe {
            // A deeper pipe, so the walk and the disk overlap (best effort).
            let _ = nix::fcntl::fcntl(p, nix::fcntl::FcntlArg::F_SETPIPE_SZ(1 << 20));
        }
        *server.persist.child.0.lock() = Some((pid, kind));
        let settled = Arc::new(AtomicBool::new(false));
        let watch = settled.clone();
        let watcher = std::thread::Builder::new()
            .name("writer-watch".into())
            .spawn(move || {
                if exited(pid, true) && !watch.load(Ordering::Acquire) {
                    on_death();
                }
            });
        if let Err(e) = watcher {
            let _ = child.kill();
            let _ = child.wait();
            *server.persist.child.0.lock() = None;
            return Err(e);
        }
        Ok(Some(Writer {
            child,
            pipe,
            kind,
            settled,
            server: server.clone(),
        }))
    }

    /// Starts the writer of `snapshot` (which it gives up if the writer dies early). None:
    /// the save writes from this process (a library user, or a process that could not be
    /// started, logged).
    pub fn for_snapshot(
        server: &Arc<Server>,
        kind: Kind,
        snapshot: &crate::persistence::snapshot::Snapshot,
    ) -> Option<Writer> {
        Writer::spawn(server, kind, snapshot.abort_handle()).unwrap_or_else(|e| {
            tracing::warn!("Can't start a writer process, writing from the server: {e}");
            None
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The file this writer writes.
    pub fn temp(&self) -> PathBuf {
        self.kind.temp_name(self.pid())
    }

    /// Runs the walk `write` into the writer, then commits: returns the temp file, complete
    /// and fsynced, with what `write` returned. On failure the temp file is gone.
    pub fn run<T>(
        mut self,
        write: impl FnOnce(&mut io::BufWriter<&mut Writer>) -> io::Result<T>,
    ) -> Result<(PathBuf, T), Failure> {
        let walked = {
            let mut w = io::BufWriter::with_capacity(64 * 1024, &mut self);
            write(&mut w).and_then(|t| w.flush().map(|()| t))
        };
        let temp = self.temp();
        let walked = walked.and_then(|t| self.frame(&[]).map(|()| t));
        self.settled.store(true, Ordering::Release);
        // Closing the pipe after a commit lets the writer finish; without one it gives up.
        drop(self.pipe.take());
        let outcome = match walked {
            Ok(t) => match self.reap() {
                Ok(()) => Ok((temp.clone(), t)),
                Err(f) => Err(f),
            },
            Err(e) => {
                // The writer's death, when it came first, is the cause of the walk's failure.
                if exited(self.pid(), false) {
                    Err(self.reap().err().unwrap_or(Failure::Error(e.to_string())))
                } else {
                    let _ = self.child.kill();
                    let _ = self.reap();
                    Err(Failure::Error(e.to_string()))
                }
            }
        };
        if outcome.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        outcome
    }

    /// Waits for the writer and reads its verdict.
    fn reap(&mut self) -> Result<(), Failure> {
        use std::os::unix::process::ExitStatusExt;
        exited(self.pid(), true);
        let status = {
            let mut running = self.server.persist.child.0.lock();
            *running = None;
            self.child.wait()
        };
        let mut said = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = (&mut err).take(4096).read_to_string(&mut said);
        }
        match status {
            Ok(s) if s.success() => Ok(()),
            Ok(s) => match s.signal() {
                Some(sig) => Err(Failure::Signal(sig)),
                None => Err(Failure::Error(if said.trim().is_empty() {
                    format!("the writer process exited with {s}")
                } else {
                    said.trim().to_string()
                })),
            },
            Err(e) => Err(Failure::Error(format!("can't wait for the writer: {e}"))),
        }
    }

    fn frame(&mut self, bytes: &[u8]) -> io::Result<()> {
        let pipe = self
            .pipe
            .as_mut()
            .ok_or_else(|| io::Error::new(io::ErrorKind::BrokenPipe, "writer closed"))?;
        pipe.write_all(&(bytes.len() as u32).to_le_bytes())?;
        pipe.write_all(bytes)
    }
}

/// The largest frame the server sends; a longer length is a broken stream.
const MAX_FRAME: usize = 1 << 20;

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(MAX_FRAME);
        if n > 0 {
            self.frame(&buf[..n])?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Not run to its end (a panic in the walk): stop the writer and remove its file.
        if !self.settled.swap(true, Ordering::AcqRel) {
            drop(self.pipe.take());
            let _ = self.child.kill();
            let _ = self.reap();
            let _ = std::fs::remove_file(self.temp());
        }
    }
}

/// In a writer process (started by `Writer::spawn`): writes the stream to its temp file
/// and returns the exit code. `None` in any other process.
pub fn run_if_writer() -> Option<u8> {
    let kind = match std::env::var(ENV_KIND).ok()?.as_str() {
        "rdb" => Kind::Rdb,
        "aof" => Kind::Aof,
        _ => return None,
    };
    if let Some(v) = std::env::var(ENV_OOM)
        .ok()
        .and_then(|v| v.parse::<i64>().ok())
    {
        // Best effort, as Redis's child: a failure is not a reason to fail the save.
        let _ = std::fs::write("/proc/self/oom_score_adj", format!("{v}\n"));
    }
    let autosync = std::env::var(ENV_AUTOSYNC).as_deref() == Ok("1");
    let temp = kind.temp_name(std::process::id());
    match write_stream(&mut io::stdin().lock(), &temp, autosync) {
        Ok(()) => Some(0),
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            let _ = writeln!(io::stderr(), "{e}");
            Some(1)
        }
    }
}

/// The writer's work: frames from `input` into `path` until the commit, then fsync.
fn write_stream(input: &mut impl Read, path: &Path, autosync: bool) -> io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut unsynced = 0u64;
    loop {
        let mut head = [0u8; 4];
        if let Err(e) = input.read_exact(&mut head) {
            return Err(if e.kind() == io::ErrorKind::UnexpectedEof {
                io::Error::other("the server went away before the end of the snapshot")
            } else {
                e
            });
        }
        let len = u32::from_le_bytes(head) as usize;
        if len > MAX_FRAME {
            return Err(io::Error::other(format!(
                "a frame of {len} bytes from the server"
            )));
        }
        if len == 0 {
            file.sync_all()?;
            return Ok(());
        }
        if buf.len() < len {
            buf.resize(len, 0);
        }
        input.read_exact(&mut buf[..len])?;
        file.write_all(&buf[..len])?;
        unsynced += len as u64;
        if autosync && unsynced >= AUTOSYNC_BYTES {
            file.sync_data()?;
            unsynced = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(chunks: &[&[u8]], commit: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for c in chunks {
            out.extend_from_slice(&(c.len() as u32).to_le_bytes());
            out.extend_from_slice(c);
        }
        if commit {
            out.extend_from_slice(&0u32.to_le_bytes());
        }
        out
    }

    fn scratch(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("tandem-writer-{}-{name}", std::process::id()))
    }

    #[test]
    fn a_committed_stream_is_written_whole() {
        let path = scratch("whole");
        let input = framed(&[b"REDIS", b"0010", &[0xff; 3]], true);
        write_stream(&mut &input[..], &path, true).expect("written");
        let mut want = b"REDIS0010".to_vec();
        want.extend_from_slice(&[0xff; 3]);
        assert_eq!(std::fs::read(&path).expect("read"), want);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_stream_cut_before_its_commit_fails() {
        let path = scratch("cut");
        let input = framed(&[b"REDIS"], false);
        assert!(write_stream(&mut &input[..], &path, false).is_err());
        // A frame cut in the middle fails too.
        let mut cut = framed(&[b"REDIS0010"], true);
        cut.truncate(8);
        assert!(write_stream(&mut &cut[..], &path, false).is_err());
        // A length no server frame has is refused before anything is allocated for it.
        let huge = u32::MAX.to_le_bytes();
        assert!(write_stream(&mut &huge[..], &path, false).is_err());
        let _ = std::fs::remove_file(&path);
    }
}
