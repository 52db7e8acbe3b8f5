//! The Lua debugger (redis `eval.c`, "LDB"): after SCRIPT DEBUG YES|SYNC, the client's next
//! EVAL runs under a line hook that stops the script and talks with the client directly on its
//! socket: each debugger command arrives as a RESP array, each answer is a multibulk of status
//! lines, and `<endsession>` ends the session before EVAL's own reply; then the connection
//! closes.
//!
//! SYNC runs the session inside the EVAL handler, with the keyspace locked, as Redis blocks.
//! YES is Redis's forked session: see `fork.rs`. A TLS client's session talks through a relay
//! to its TLS stream: see `tls.rs`.

pub mod fork;
mod show;
pub mod tls;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mlua::{Function, HookTriggers, Lua, MultiValue, Table, Value, VmState};
use parking_lot::Mutex;

use super::vm;

/// SCRIPT DEBUG's setting of a client (redis `CLIENT_LUA_DEBUG`, `CLIENT_LUA_DEBUG_SYNC`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    #[default]
    Off,
    /// SCRIPT DEBUG YES: the session runs on a copy of the server (`fork.rs`).
    Yes,
    /// SCRIPT DEBUG SYNC: the session runs on the server itself, which waits for it.
    Sync,
    /// The client of a forked session, on the copy.
    Forked,
}

/// The session of a Lua state, if one is running (shared by the hook and the callbacks).
pub type Shared = Arc<Mutex<Option<Session>>>;

/// Most breakpoints a session keeps (redis `LDB_BREAKPOINTS_MAX`).
const BREAKPOINTS_MAX: usize = 64;
/// Default trimming of logged replies and values (redis `LDB_MAX_LEN_DEFAULT`).
const MAX_LEN_DEFAULT: usize = 256;
/// Largest unparsed input from the debugging client.
const MAX_INPUT: usize = 1 << 20;

/// A debugging session (redis `struct ldbState`).
pub struct Session {
    /// The client's socket, in blocking mode for the session's length (for a TLS client, its
    /// end of the relay's local socket pair, `tls.rs`: the calls used work on either).
    sock: TcpStream,
    /// The server whose shutdown ends the wait for the client.
    server: std::sync::Weak<crate::server::Server>,
    /// The script's source, by line.
    lines: Vec<Vec<u8>>,
    logs: Vec<Vec<u8>>,
    /// Input read but not yet parsed.
    input: Vec<u8>,
    /// Stop at the next line whatever the breakpoints.
    step: bool,
    /// redis.breakpoint() was called: stop at the next line.
    lua_bp: bool,
    breakpoints: Vec<i64>,
    line: i64,
    max_len: usize,
    max_len_hint_sent: bool,
    /// When the script last resumed: a script running longer stops with "timeout reached".
    resumed: Instant,
    time_limit: Duration,
}

impl Session {
    /// Starts a session on the socket `fd` for script `body` (redis `ldbStartSession`).
    pub fn start(
        fd: i32,
        body: &[u8],
        busy_threshold_ms: i64,
        server: std::sync::Weak<crate::server::Server>,
    ) -> std::io::Result<Session> {
        if fd < 0 {
            return Err(std::io::Error::other("no socket"));
        }
        // SAFETY: the fd is the client's socket, open while its connection lives (the session
        // runs inside the connection's command or owns it, see fork.rs); it is duplicated
        // before use, so the copy closes on its own.
        let owned = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }.try_clone_to_owned()?;
        let sock = TcpStream::from(owned);
        sock.set_nonblocking(false)?;
        sock.set_write_timeout(Some(Duration::from_secs(5)))?;
        sock.set_read_timeout(Some(POLL))?;
        let mut src = body;
        while let [rest @ .., b'\n' | b'\r'] = src {
            src = rest;
        }
        let lines = if src.is_empty() {
            Vec::new()
        } else {
            src.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect()
        };
        Ok(Session {
            sock,
            server,
            lines,
            logs: Vec::new(),
            input: Vec::new(),
            step: true,
            lua_bp: false,
            breakpoints: Vec::new(),
            line: 0,
            max_len: MAX_LEN_DEFAULT,
            max_len_hint_sent: false,
            resumed: Instant::now(),
            time_limit: Duration::from_millis(if busy_threshold_ms > 0 {
                busy_threshold_ms as u64
            } else {
                5000
            }),
        })
    }

    /// Ends the session (redis `ldbEndSession`): the last logs and `<endsession>` go out, the
    /// socket is given back to the connection.
    pub fn end(mut self) {
        self.log("<endsession>");
        self.send_logs();
        let _ = self.sock.set_nonblocking(true);
    }

    /// Writes `bytes` on the session's socket (the forked session's EVAL reply).
    pub fn write_raw(&mut self, bytes: &[u8]) {
        let _ = self.sock.write_all(bytes);
    }

    fn log(&mut self, entry: impl Into<Vec<u8>>) {
        self.logs.push(entry.into());
    }

    /// redis `ldbLogWithMaxLen`.
    fn log_trimmed(&mut self, mut entry: Vec<u8>) {
        let trimmed = self.max_len != 0 && entry.len() > self.max_len;
        if trimmed {
            entry.truncate(self.max_len);
            entry.extend_from_slice(b" ...");
        }
        self.log(entry);
        if trimmed && !self.max_len_hint_sent {
            self.max_len_hint_sent = true;
            self.log("<hint> The above reply was trimmed. Use 'maxlen 0' to disable trimming.");
        }
    }

    /// The logs as a multibulk of status lines (redis `ldbSendLogs`); write errors are left
    /// for the next read to notice.
    fn send_logs(&mut self) {
        let mut out = format!("*{}\r\n", self.logs.len()).into_bytes();
        for entry in self.logs.drain(..) {
            out.push(b'+');
            out.extend(entry.iter().map(|&b| match b {
                b'\r' | b'\n' => b' ',
                b => b,
            }));
            out.extend_from_slice(b"\r\n");
        }
        let _ = self.sock.write_all(&out);
    }

    fn source_line(&self, line: i64) -> &[u8] {
        match usize::try_from(line - 1)
            .ok()
            .and_then(|i| self.lines.get(i))
        {
            Some(l) => l,
            None => b"<out of range source code line>",
        }
    }

    fn is_breakpoint(&self, line: i64) -> bool {
        self.breakpoints.contains(&line)
    }

    /// redis `ldbLogSourceLine`.
    fn log_source_line(&mut self, line: i64) {
        let prefix = match (line == self.line, self.is_breakpoint(line)) {
            (true, true) => "->#",
            (true, false) => "-> ",
            (false, true) => "  #",
            (false, false) => "   ",
        };
        let mut entry = format!("{prefix}{line:<3} ").into_bytes();
        entry.extend_from_slice(self.source_line(line));
        self.log(entry);
    }

    /// redis `ldbList`: the lines within `context` of `around`, or all of them (0).
    fn list(&mut self, around: i64, context: i64) {
        for line in 1..=self.lines.len() as i64 {
            if around == 0 || (around - line).abs() <= context {
                self.log_source_line(line);
            }
        }
    }

    /// The next complete command from the client, reading as needed. `Ok(None)`: the client
    /// is gone (or the server is shutting down).
    fn read_command(&mut self) -> Result<Option<Vec<Vec<u8>>>, &'static str> {
        loop {
            match parse_command(&self.input) {
                Err(()) => return Err("protocol error"),
                Ok(Some(argv)) => {
                    // Whatever followed the command in the buffer is dropped, as Redis does.
                    self.input.clear();
                    return Ok(Some(argv));
                }
                Ok(None) => {}
            }
            let mut buf = [0u8; 1024];
            let n = loop {
                match self.sock.read(&mut buf) {
                    Ok(n) => break n,
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock
                                | std::io::ErrorKind::TimedOut
                                | std::io::ErrorKind::Interrupted
                        ) =>
                    {
                        if self.server.upgrade().is_none_or(|s| s.is_shutting_down()) {
                            break 0;
                        }
                    }
                    Err(_) => break 0,
                }
            };
            if n == 0 {
                // Let the script run on without stops: nobody is there to resume it.
                self.step = false;
                self.breakpoints.clear();
                return Ok(None);
            }
            self.input.extend_from_slice(&buf[..n]);
            if self.input.len() > MAX_INPUT {
                self.input.clear();
                return Err("max client buffer reached");
            }
        }
    }
}

/// How often a session waiting for its client checks whether the server is shutting down.
const POLL: Duration = Duration::from_millis(100);

/// Parses one command from the debugging client (redis `ldbReplParseCommand`, a forgiving
/// parser of a RESP array working on a C string). `Ok(None)`: more input is needed.
fn parse_command(buf: &[u8]) -> Result<Option<Vec<Vec<u8>>>, ()> {
    if buf.is_empty() {
        return Ok(None);
    }
    // The C string ends at the first NUL: searches do not look past it.
    let c_end = memchr::memchr(0, buf).unwrap_or(buf.len());
    let find = |from: usize, needle: &[u8]| -> Option<usize> {
        buf.get(from..c_end)
            .and_then(|s| memchr::memmem::find(s, needle))
            .map(|i| from + i)
    };
    let Some(star) = find(0, b"*") else {
        return Err(());
    };
    let Some(eol) = find(star, b"\r\n") else {
        return Ok(None);
    };
    let argc = atoi(&buf[star + 1..eol]);
    if argc <= 0 || argc > 1024 {
        return Err(());
    }
    let mut p = eol + 2;
    let mut argv = Vec::with_capacity(argc as usize);
    while argv.len() < argc as usize {
        match buf.get(p) {
            None | Some(0) => return Ok(None),
            Some(b'$') => {}
            Some(_) => return Err(()),
        }
        let Some(eol) = find(p, b"\r\n") else {
            return Ok(None);
        };
        let len = atoi(&buf[p + 1..eol]);
        if len <= 0 || len > 1024 {
            return Err(());
        }
        p = eol + 2;
        let len = len as usize;
        if p + len + 2 > buf.len() {
            return Ok(None);
        }
        argv.push(buf[p..p + len].to_vec());
        p += len;
        if &buf[p..p + 2] != b"\r\n" {
            return Err(());
        }
        p += 2;
    }
    Ok(Some(argv))
}

/// C's `atoi`: leading blanks, a sign, digits up to the first other byte.
fn atoi(s: &[u8]) -> i64 {
    let s = match s.iter().position(|b| !b.is_ascii_whitespace()) {
        Some(i) => &s[i..],
        None => return 0,
    };
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut n: i64 = 0;
    for &b in digits.iter().take_while(|b| b.is_ascii_digit()) {
        n = n.wrapping_mul(10).wrapping_add((b - b'0') as i64);
    }
    let n = if neg { -n } else { n };
    n as i32 as i64
}

/// A debugger argument as C code sees it: up to its first NUL.
fn c_str(arg: &[u8]) -> &[u8] {
    &arg[..memchr::memchr(0, arg).unwrap_or(arg.len())]
}

/// Whether a session runs and is stepping: commands and replies of `redis.call` are logged
/// (redis `ldbIsEnabled`).
pub fn stepping(ldb: &Shared) -> bool {
    ldb.lock().as_ref().is_some_and(|s| s.step)
}

/// Logs a command run by `redis.call` in a stepping session.
pub fn log_command(ldb: &Shared, argv: &[bytes::Bytes]) {
    let mut g = ldb.lock();
    let Some(s) = g.as_mut().filter(|s| s.step) else {
        return;
    };
    let mut entry = b"<redis>".to_vec();
    for (j, a) in argv.iter().enumerate() {
        if j == 10 {
            entry.extend_from_slice(format!(" ... ({} more)", argv.len() - j - 1).as_bytes());
            break;
        }
        entry.push(b' ');
        entry.extend_from_slice(c_str(a));
    }
    s.log(entry);
}

/// Logs an error raised to the script by `redis.call` (redis `luaPushErrorBuff`): `text` as
/// Redis formats it there (see `run::exec`).
pub fn log_error(ldb: &Shared, text: &[u8]) {
    if let Some(s) = ldb.lock().as_mut().filter(|s| s.step) {
        let mut entry = b"<error> ".to_vec();
        entry.extend_from_slice(text);
        s.log(entry);
    }
}

/// Logs the RESP reply of a command run by `redis.call` (redis `ldbLogRedisReply`).
pub fn log_reply(ldb: &Shared, resp: &[u8]) {
    if let Some(s) = ldb.lock().as_mut().filter(|s| s.step) {
        let mut entry = b"<reply> ".to_vec();
        show::resp_to_human(&mut entry, resp);
        s.log_trimmed(entry);
    }
}

/// `redis.breakpoint()`: true in a session, which then stops at the next line.
pub fn breakpoint(ldb: &Shared) -> bool {
    match ldb.lock().as_mut() {
        Some(s) => {
            s.lua_bp = true;
            true
        }
        None => false,
    }
}

/// `redis.debug(...)`: logs its arguments in a session.
pub fn debug(ldb: &Shared, args: &MultiValue) {
    if let Some(s) = ldb.lock().as_mut() {
        let mut entry = format!("<debug> line {}: ", s.line).into_bytes();
        for (i, v) in args.iter().enumerate() {
            if i > 0 {
                entry.extend_from_slice(b", ");
            }
            show::value(&mut entry, v, 0);
        }
        s.log(entry);
    }
}

/// Installs the debugger's hook for a run (redis `luaLdbLineHook`, on every line and every
/// 100000 instructions). `redis` is the real `redis` table (the `redis` command calls its
/// `call`).
pub fn install_hook(lua: &Lua, ldb: &Shared, redis: &Table) {
    let (ldb, redis) = (ldb.clone(), redis.clone());
    let triggers = HookTriggers::EVERY_LINE.every_nth_instruction(100_000);
    let _ = lua.set_hook(triggers, move |lua, debug| {
        let source = debug.source();
        if !source
            .short_src
            .as_deref()
            .is_some_and(|s| s.contains("user_script"))
        {
            return Ok(VmState::Continue);
        }
        let line = debug.current_line().map_or(-1, |l| l as i64);
        let is_count = matches!(debug.event(), mlua::DebugEvent::Count);
        on_line(lua, &ldb, &redis, line, is_count)?;
        Ok(VmState::Continue)
    });
}

fn on_line(lua: &Lua, ldb: &Shared, redis: &Table, line: i64, is_count: bool) -> mlua::Result<()> {
    let mut g = ldb.lock();
    let Some(s) = g.as_mut() else {
        return Ok(());
    };
    s.line = line;
    let bp = s.is_breakpoint(line) || s.lua_bp;
    let mut timeout = false;
    if is_count && !s.step && !bp {
        if s.resumed.elapsed() < s.time_limit {
            return Ok(());
        }
        timeout = true;
        s.step = true;
    }
    if !s.step && !bp {
        return Ok(());
    }
    let reason = if bp {
        if s.lua_bp {
            "redis.breakpoint() called"
        } else {
            "break point"
        }
    } else if timeout {
        "timeout reached, infinite loop?"
    } else {
        "step over"
    };
    s.step = false;
    s.lua_bp = false;
    s.log(format!("* Stopped at {line}, stop reason = {reason}"));
    s.log_source_line(line);
    s.send_logs();
    drop(g);
    let present = crate::util::blocking(|| repl(lua, ldb, redis))?;
    if !present && timeout {
        // Nobody will ever resume a script stuck in a loop: end it.
        return Err(vm::raise(
            lua,
            "ERR timeout during Lua debugging with client closing connection",
        ));
    }
    if let Some(s) = ldb.lock().as_mut() {
        s.resumed = Instant::now();
    }
    Ok(())
}

const HELP: &[&str] = &[
    "Redis Lua debugger help:",
    "[h]elp               Show this help.",
    "[s]tep               Run current line and stop again.",
    "[n]ext               Alias for step.",
    "[c]ontinue           Run till next breakpoint.",
    "[l]ist               List source code around current line.",
    "[l]ist [line]        List source code around [line].",
    "                     line = 0 means: current position.",
    "[l]ist [line] [ctx]  In this form [ctx] specifies how many lines",
    "                     to show before/after [line].",
    "[w]hole              List all source code. Alias for 'list 1 1000000'.",
    "[p]rint              Show all the local variables.",
    "[p]rint <var>        Show the value of the specified variable.",
    "                     Can also show global vars KEYS and ARGV.",
    "[b]reak              Show all breakpoints.",
    "[b]reak <line>       Add a breakpoint to the specified line.",
    "[b]reak -<line>      Remove breakpoint from the specified line.",
    "[b]reak 0            Remove all breakpoints.",
    "[t]race              Show a backtrace.",
    "[e]val <code>        Execute some Lua code (in a different callframe).",
    "[r]edis <cmd>        Execute a Redis command.",
    "[m]axlen [len]       Trim logged Redis replies and Lua var dumps to len.",
    "                     Specifying zero as <len> means unlimited.",
    "[a]bort              Stop the execution of the script. In sync",
    "                     mode dataset changes will be retained.",
    "",
    "Debugger functions you can call from Lua scripts:",
    "redis.debug()        Produce logs in the debugger console.",
    "redis.breakpoint()   Stop execution like if there was a breakpoint in the",
    "                     next line of code.",
];

/// Serves debugger commands until one resumes the script (redis `ldbRepl`). Returns whether
/// the client is still there; an error aborts the script.
fn repl(lua: &Lua, ldb: &Shared, redis: &Table) -> mlua::Result<bool> {
    loop {
        let argv = {
            let mut g = ldb.lock();
            let Some(s) = g.as_mut() else {
                return Ok(false);
            };
            match s.read_command() {
                Ok(Some(argv)) => argv,
                Ok(None) => return Ok(false),
                Err(e) => return Err(vm::raise(lua, &format!("ERR {e}"))),
            }
        };
        let name = c_str(&argv[0]).to_ascii_lowercase();
        let is = |short: &str, long: &str| name == short.as_bytes() || name == long.as_bytes();
        if is("s", "step") || is("n", "next") {
            if let Some(s) = ldb.lock().as_mut() {
                s.step = true;
            }
            return Ok(true);
        }
        if is("c", "continue") {
            return Ok(true);
        }
        if is("a", "abort") {
            return Err(vm::raise(lua, "ERR script aborted for user request"));
        }
        if is("e", "eval") {
            eval(lua, ldb, &argv);
        } else if argv.len() > 1 && is("r", "redis") {
            run_redis(lua, ldb, redis, &argv);
        } else {
            let mut g = ldb.lock();
            let Some(s) = g.as_mut() else {
                return Ok(false);
            };
            if is("h", "help") {
                for line in HELP {
                    s.log(*line);
                }
            } else if is("t", "trace") {
                trace(lua, s);
            } else if is("m", "maxlen") {
                max_len(s, &argv);
            } else if is("b", "break") {
                breakpoints(s, &argv);
            } else if is("p", "print") {
                if argv.len() == 2 {
                    print_var(lua, s, c_str(&argv[1]));
                } else {
                    print_all(lua, s);
                }
            } else if is("l", "list") {
                let mut around = s.line;
                let mut context = 5;
                if let Some(a) = argv.get(1) {
                    let n = atoi(a);
                    if n > 0 {
                        around = n;
                    }
                }
                if let Some(c) = argv.get(2) {
                    context = atoi(c);
                }
                s.list(around, context);
            } else if is("w", "whole") {
                s.list(1, 1_000_000);
            } else {
                s.log("<error> Unknown Redis Lua debugger command or wrong number of arguments.");
            }
        }
        if let Some(s) = ldb.lock().as_mut() {
            s.send_logs();
        }
    }
}

/// The `eval` command (redis `ldbEval`): the code as an expression, else as a statement.
fn eval(lua: &Lua, ldb: &Shared, argv: &[Vec<u8>]) {
    let code = argv[1..].join(&b' ');
    let mut expr = b"return ".to_vec();
    expr.extend_from_slice(&code);
    let compile = |src: &[u8]| {
        lua.load(src)
            .set_name("@ldb_eval")
            .set_mode(mlua::ChunkMode::Text)
            .into_function()
    };
    let entry = match compile(&expr).or_else(|_| compile(&code)) {
        Err(e) => error_entry(&e),
        Ok(f) => match f.call::<Value>(()) {
            Err(e) => error_entry(&e),
            Ok(v) => {
                let mut entry = b"<retval> ".to_vec();
                show::value(&mut entry, &v, 0);
                if let Some(s) = ldb.lock().as_mut() {
                    s.log_trimmed(entry);
                }
                return;
            }
        },
    };
    if let Some(s) = ldb.lock().as_mut() {
        s.log(entry);
    }
}

/// `<error> message` of a failed `eval`, as Lua reports it.
fn error_entry(e: &mlua::Error) -> Vec<u8> {
    let msg = match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::RuntimeError(m) => m.clone(),
        other => vm::text_of(other),
    };
    // Lua's message only, without the traceback mlua adds.
    let msg = msg.split("\nstack traceback:").next().unwrap_or_default();
    format!("<error> {msg}").into_bytes()
}

/// The `redis` command (redis `ldbRedis`): `redis.call`, stepping so that it logs the command
/// and its reply.
fn run_redis(lua: &Lua, ldb: &Shared, redis: &Table, argv: &[Vec<u8>]) {
    let Ok(call) = redis.raw_get::<Function>("call") else {
        return;
    };
    let lua_args: MultiValue = argv[1..]
        .iter()
        .filter_map(|a| lua.create_string(a).ok().map(Value::String))
        .collect();
    if let Some(s) = ldb.lock().as_mut() {
        s.step = true;
    }
    let _ = call.call::<Value>(lua_args);
    if let Some(s) = ldb.lock().as_mut() {
        s.step = false;
    }
}

/// The `trace` command (redis `ldbTrace`).
fn trace(lua: &Lua, s: &mut Session) {
    let mut level = 0;
    while let Some((name, src, line)) = lua.inspect_stack(level, |d| {
        (
            d.names().name.map(|n| n.into_owned()),
            d.source()
                .short_src
                .map(|s| s.into_owned())
                .unwrap_or_default(),
            d.current_line().map_or(-1, |l| l as i64),
        )
    }) {
        if src.contains("user_script") {
            let what = if level == 0 { "In" } else { "From" };
            let name = name.as_deref().unwrap_or("top level");
            s.log(format!("{what} {name}:"));
            s.log_source_line(line);
        }
        level += 1;
    }
    if level == 0 {
        s.log("<error> Can't retrieve Lua stack.");
    }
}

/// The `maxlen` command (redis `ldbMaxlen`).
fn max_len(s: &mut Session, argv: &[Vec<u8>]) {
    if argv.len() == 2 {
        let mut n = atoi(&argv[1]);
        s.max_len_hint_sent = true;
        if n != 0 && n <= 60 {
            n = 60;
        }
        s.max_len = n as usize;
    }
    if s.max_len != 0 {
        s.log(format!(
            "<value> replies are truncated at {} bytes.",
            s.max_len as i32
        ));
    } else {
        s.log("<value> replies are unlimited.");
    }
}

/// The `break` command (redis `ldbBreak`).
fn breakpoints(s: &mut Session, argv: &[Vec<u8>]) {
    if argv.len() == 1 {
        if s.breakpoints.is_empty() {
            s.log("No breakpoints set. Use 'b <line>' to add one.");
        } else {
            s.log(format!("{} breakpoints set:", s.breakpoints.len()));
            for line in s.breakpoints.clone() {
                s.log_source_line(line);
            }
        }
        return;
    }
    for arg in &argv[1..] {
        let Some(line) = crate::util::parse_i64(arg) else {
            let mut entry = b"Invalid argument:'".to_vec();
            entry.extend_from_slice(c_str(arg));
            entry.push(b'\'');
            s.log(entry);
            continue;
        };
        if line == 0 {
            s.breakpoints.clear();
            s.log("All breakpoints removed.");
        } else if line > 0 {
            if s.breakpoints.len() == BREAKPOINTS_MAX {
                s.log("Too many breakpoints set.");
            } else if line <= s.lines.len() as i64 && !s.is_breakpoint(line) {
                s.breakpoints.push(line);
                s.list(line, 1);
            } else {
                s.log("Wrong line number.");
            }
        } else if let Some(i) = s.breakpoints.iter().position(|&b| b == -line) {
            s.breakpoints.remove(i);
            s.log("Breakpoint removed.");
        } else {
            s.log("No breakpoint in the specified line.");
        }
    }
}

/// The `print <var>` command (redis `ldbPrint`): the innermost local of that name, else the
/// globals KEYS and ARGV.
fn print_var(lua: &Lua, s: &mut Session, name: &[u8]) {
    let mut level = 0;
    while let Some(frame) = show::locals(lua, level) {
        level += 1;
        if let Some((_, v)) = frame.iter().find(|(n, _)| n.as_slice() == name) {
            let mut entry = b"<value> ".to_vec();
            show::value(&mut entry, v, 0);
            s.log_trimmed(entry);
            return;
        }
    }
    if name == b"ARGV" || name == b"KEYS" {
        let v = lua
            .globals()
            .get::<Value>(String::from_utf8_lossy(name).as_ref())
            .unwrap_or(Value::Nil);
        let mut entry = b"<value> ".to_vec();
        show::value(&mut entry, &v, 0);
        s.log_trimmed(entry);
    } else {
        s.log("No such variable.");
    }
}

/// The `print` command (redis `ldbPrintAll`): the locals of the current function.
fn print_all(lua: &Lua, s: &mut Session) {
    let mut vars = 0;
    for (name, v) in show::locals(lua, 0).unwrap_or_default() {
        if memchr::memmem::find(&name, b"(*temporary)").is_some() {
            continue;
        }
        let mut entry = b"<value> ".to_vec();
        entry.extend_from_slice(&name);
        entry.extend_from_slice(b" = ");
        show::value(&mut entry, &v, 0);
        s.log_trimmed(entry);
        vars += 1;
    }
    if vars == 0 {
        s.log("No local variables in the current context.");
    }
}

#[cfg(test)]
mod tests {
    use super::parse_command;

    #[test]
    fn parses_like_redis() {
        assert_eq!(parse_command(b""), Ok(None));
        assert_eq!(
            parse_command(b"*1\r\n$1\r\ns\r\n"),
            Ok(Some(vec![b"s".to_vec()]))
        );
        assert_eq!(parse_command(b"*2\r\n$1\r\nb\r\n$1\r\n"), Ok(None));
        assert_eq!(parse_command(b"hello"), Err(()));
        assert_eq!(parse_command(b"*0\r\n"), Err(()));
        assert_eq!(parse_command(b"*1\r\n$0\r\n\r\n"), Err(()));
        assert_eq!(parse_command(b"*1\r\n+x\r\n"), Err(()));
        assert_eq!(
            parse_command(b"*1\r\n$7\r\nhe\0llo'\r\n"),
            Ok(Some(vec![b"he\0llo'".to_vec()]))
        );
    }
}
