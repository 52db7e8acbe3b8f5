//! The session: connection state and the command path shared by the one-shot and the
//! interactive modes (redis-cli's `cliConnect`, `cliSendCommand`, `cliReadReply`,
//! `issueCommandRepeat`).
//!
//! A session remembers which database the user asked for (`SELECT`, `-n`), whether a
//! MULTI is open, and reconnects on the next command after the server went away.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use super::args::Config;
use super::conn::{Conn, ConnError, Endpoint};
use super::format::{OutputMode, Style};
use super::resp::Value;
use super::{emit, hints, modes, signals};

/// Commands whose reply is text meant to be printed as is, in every output mode.
fn prints_verbatim(argv: &[Vec<u8>]) -> bool {
    let is = |i: usize, name: &str| {
        argv.get(i)
            .is_some_and(|a| a.eq_ignore_ascii_case(name.as_bytes()))
    };
    let argc = argv.len();
    is(0, "info")
        || is(0, "lolwut")
        || (argc >= 2
            && is(0, "debug")
            && (is(1, "htstats") || is(1, "htstats-key") || is(1, "client-eviction")))
        || (argc >= 2 && is(0, "memory") && (is(1, "malloc-stats") || is(1, "doctor")))
        || (argc == 2 && is(0, "cluster") && (is(1, "nodes") || is(1, "info")))
        || (argc >= 2 && is(0, "client") && (is(1, "list") || is(1, "info")))
        || (argc == 3 && is(0, "latency") && is(1, "graph"))
        || (argc == 2 && is(0, "latency") && is(1, "doctor"))
        || (argc >= 2 && is(0, "proxy") && is(1, "info"))
}

/// What the last reply was, for the prompt and mode bookkeeping (`config.last_cmd_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LastReply {
    None,
    Error,
    Nil,
    Other,
}

pub struct Client {
    pub cfg: Config,
    pub endpoint: Endpoint,
    pub conn: Option<Conn>,
    /// The database the connection has selected.
    pub dbnum: i64,
    /// The database the user asked for (`-n`, the last successful SELECT).
    pub input_dbnum: i64,
    pub in_multi: bool,
    pre_multi_dbnum: i64,
    pub interactive: bool,
    pub style: Style,
    /// Help topics, loaded on first use and shared with the line editor.
    pub help: Rc<RefCell<Option<hints::HelpTable>>>,
    /// The error that made the last command fail, printed as `Error: ...`.
    last_error: Option<String>,
    last_reply: LastReply,
    shutdown: bool,
    monitor_mode: bool,
    pubsub_mode: bool,
}

impl Client {
    pub fn new(cfg: Config) -> Client {
        let endpoint = match &cfg.socket {
            Some(path) => Endpoint::Unix(path.clone()),
            None => Endpoint::Tcp {
                host: cfg.host.clone(),
                port: port_of(cfg.port),
            },
        };
        let style = Style {
            mode: cfg.output,
            mb_delim: cfg.mb_delim.clone(),
            cmd_delim: cfg.cmd_delim.clone(),
        };
        let input_dbnum = cfg.dbnum;
        Client {
            cfg,
            endpoint,
            conn: None,
            dbnum: 0,
            input_dbnum,
            in_multi: false,
            pre_multi_dbnum: 0,
            interactive: false,
            style,
            help: Rc::new(RefCell::new(None)),
            last_error: None,
            last_reply: LastReply::None,
            shutdown: false,
            monitor_mode: false,
            pubsub_mode: false,
        }
    }

    /// `host:port[db](TX)> ` (`cliRefreshPrompt`).
    pub fn prompt(&self) -> String {
        let mut p = match &self.endpoint {
            Endpoint::Tcp { .. } => self.endpoint.describe(),
            Endpoint::Unix(path) => format!("redis {}", path.display()),
        };
        if self.dbnum != 0 {
            p.push_str(&format!("[{}]", self.dbnum));
        }
        if self.in_multi {
            p.push_str("(TX)");
        }
        p.push_str("> ");
        p
    }

    /// Connects unless connected (or always, with `force`), then authenticates, selects the
    /// database and switches to RESP3 as asked. Prints why it failed unless `quiet`.
    /// After a failed AUTH the connection is kept, as redis-cli keeps it: the server then
    /// answers commands with NOAUTH.
    pub fn connect(&mut self, force: bool, quiet: bool) -> bool {
        if self.conn.is_some() && !force {
            return true;
        }
        self.conn = None;
        // A new connection starts on database 0 and outside MULTI. (redis-cli forgets this
        // when its link broke, and then shows [n] in the prompt while on database 0.)
        self.dbnum = 0;
        self.in_multi = false;
        let conn = match Conn::connect(&self.endpoint) {
            Ok(c) => c,
            Err(e) => {
                if !quiet {
                    eprintln!(
                        "Could not connect to Redis at {}: {e}",
                        self.endpoint.describe()
                    );
                }
                return false;
            }
        };
        self.conn = Some(conn);
        self.authenticate() && self.select_db() && self.switch_protocol()
    }

    /// A command during connection set-up; `None` after printing `I/O error`.
    fn setup_command(&mut self, args: &[Vec<u8>]) -> Option<Value> {
        let conn = self.conn.as_mut()?;
        match conn.command(args) {
            Ok(v) => Some(v),
            Err(_) => {
                eprintln!("\nI/O error");
                None
            }
        }
    }

    fn authenticate(&mut self) -> bool {
        let Some(auth) = self.cfg.auth.clone() else {
            return true;
        };
        let mut args = vec![b"AUTH".to_vec()];
        if let Some(user) = &self.cfg.user {
            args.push(user.clone());
        }
        args.push(auth);
        match self.setup_command(&args) {
            None => false,
            Some(Value::Error(e)) => {
                eprintln!("AUTH failed: {}", String::from_utf8_lossy(&e));
                false
            }
            Some(_) => true,
        }
    }

    /// Selects the database the user asked for, if the connection is on another one.
    pub fn select_db(&mut self) -> bool {
        if self.input_dbnum == self.dbnum {
            return true;
        }
        let db = self.input_dbnum;
        match self.setup_command(&[b"SELECT".to_vec(), db.to_string().into_bytes()]) {
            None => false,
            Some(Value::Error(e)) => {
                eprintln!("SELECT {db} failed: {}", String::from_utf8_lossy(&e));
                false
            }
            Some(_) => {
                self.dbnum = db;
                true
            }
        }
    }

    fn switch_protocol(&mut self) -> bool {
        if self.cfg.resp3 == 0 || self.cfg.resp2 {
            return true;
        }
        match self.setup_command(&[b"HELLO".to_vec(), b"3".to_vec()]) {
            None => false,
            Some(Value::Error(e)) => {
                eprintln!("HELLO 3 failed: {}", String::from_utf8_lossy(&e));
                self.cfg.resp3 != 1
            }
            Some(_) => true,
        }
    }

    /// Runs `argv` `repeat` times (negative: forever), connecting first if needed. `help`
    /// is answered locally. On failure the reason has been printed and the link dropped.
    pub fn issue_command_repeat(&mut self, argv: &[Vec<u8>], repeat: i64) -> Result<(), ()> {
        let name = &argv[0];
        if name.eq_ignore_ascii_case(b"help") || name.as_slice() == b"?" {
            hints::output_help(self, &argv[1..]);
            return Ok(());
        }
        if self.conn.is_none() && !self.connect(true, false) {
            return Err(());
        }
        if self.send_command(argv, repeat).is_err() {
            if let Some(e) = self.last_error.take() {
                eprintln!("Error: {e}");
            }
            self.conn = None;
            return Err(());
        }
        Ok(())
    }

    /// Handles a broken link while reading or writing (`cliReadReply`'s error path).
    fn on_link_error(&mut self, e: ConnError) -> Result<(), ()> {
        if signals::take_stream_aborted() {
            signals::set_stream_fd(None);
            self.monitor_mode = false;
            self.pubsub_mode = false;
            return if self.connect(true, false) {
                Ok(())
            } else {
                Err(())
            };
        }
        if self.shutdown {
            self.conn = None;
            return Ok(());
        }
        if self.interactive && e.is_disconnect() {
            self.last_error = Some(e.to_string());
            return Err(());
        }
        eprintln!("Error: {e}");
        std::process::exit(1);
    }

    /// Reads and prints one reply (`cliReadReply`). `verbatim` prints text replies as is.
    fn read_reply(&mut self, verbatim: bool) -> Result<(), ()> {
        let Some(conn) = self.conn.as_mut() else {
            return Err(());
        };
        let reply = loop {
            match conn.read_value() {
                Ok(v @ Value::Push(_)) if !self.pubsub_mode => {
                    if self.cfg.push_output {
                        emit(&self.style.push(&v));
                    }
                }
                Ok(v) => break v,
                Err(e) => return self.on_link_error(e),
            }
        };
        self.last_reply = match reply {
            Value::Error(_) => LastReply::Error,
            Value::Nil => LastReply::Nil,
            _ => LastReply::Other,
        };
        if !self.interactive && self.cfg.set_errcode {
            if let Value::Error(e) = &reply {
                eprintln!("{}", String::from_utf8_lossy(e));
                std::process::exit(1);
            }
        }
        emit(&self.style.reply(&reply, verbatim));
        Ok(())
    }

    /// Sends `argv` and prints the replies (`cliSendCommand`), following SELECT, MULTI, AUTH
    /// and RESET for the prompt, and streaming for SUBSCRIBE and MONITOR.
    fn send_command(&mut self, argv: &[Vec<u8>], mut repeat: i64) -> Result<(), ()> {
        if self.conn.is_none() {
            return Err(());
        }
        let verbatim = prints_verbatim(argv);
        let is = |name: &str| argv[0].eq_ignore_ascii_case(name.as_bytes());
        let argc = argv.len();
        if is("shutdown") {
            self.shutdown = true;
        }
        if is("monitor") {
            self.monitor_mode = true;
        }
        if is("subscribe") || is("psubscribe") || is("ssubscribe") {
            self.pubsub_mode = true;
        }
        let replica_mode = is("sync") || is("psync");

        while repeat != 0 {
            if repeat > 0 {
                repeat -= 1;
            }
            let sent = match self.conn.as_mut() {
                Some(conn) => conn.send(argv),
                None => return Err(()),
            };
            if let Err(e) = sent {
                self.on_link_error(e)?;
                continue;
            }
            if self.interactive && (self.monitor_mode || self.pubsub_mode) {
                signals::set_stream_fd(self.conn.as_ref().map(Conn::raw_fd));
            }
            if self.monitor_mode {
                while self.monitor_mode {
                    if self.read_reply(verbatim).is_err() {
                        if let Some(e) = self.last_error.take() {
                            eprintln!("Error: {e}");
                        }
                        std::process::exit(1);
                    }
                    if self.last_reply == LastReply::Error {
                        self.monitor_mode = false;
                    }
                }
                signals::set_stream_fd(None);
                return Ok(());
            }
            if self.pubsub_mode {
                if self.style.mode != OutputMode::Raw {
                    emit(b"Reading messages... (press Ctrl-C to quit)\n");
                }
                while self.pubsub_mode {
                    if self.read_reply(verbatim).is_err() {
                        if let Some(e) = self.last_error.take() {
                            eprintln!("Error: {e}");
                        }
                        std::process::exit(1);
                    }
                    if self.last_reply == LastReply::Error {
                        self.pubsub_mode = false;
                    }
                }
                signals::set_stream_fd(None);
                continue;
            }
            if replica_mode {
                emit(b"Entering replica output mode...  (press Ctrl-C to quit)\n");
                modes::replica::stream_commands(self);
                return Err(());
            }
            self.read_reply(verbatim)?;
            let ok = self.last_reply != LastReply::Error;
            if is("select") && argc == 2 && ok {
                let db = super::args::atoi(&String::from_utf8_lossy(&argv[1]));
                self.input_dbnum = db;
                self.dbnum = db;
            } else if is("auth") && (argc == 2 || argc == 3) {
                self.select_db();
            } else if is("multi") && argc == 1 && ok {
                self.in_multi = true;
                self.pre_multi_dbnum = self.dbnum;
            } else if is("exec") && argc == 1 && self.in_multi {
                self.in_multi = false;
                if matches!(self.last_reply, LastReply::Error | LastReply::Nil) {
                    self.input_dbnum = self.pre_multi_dbnum;
                    self.dbnum = self.pre_multi_dbnum;
                }
            } else if is("discard") && argc == 1 && ok {
                self.in_multi = false;
                self.input_dbnum = self.pre_multi_dbnum;
                self.dbnum = self.pre_multi_dbnum;
            } else if is("reset") && argc == 1 && ok {
                self.in_multi = false;
                self.dbnum = 0;
                self.input_dbnum = 0;
                self.cfg.resp3 = 0;
            }
            if self.cfg.interval_us > 0 {
                std::thread::sleep(Duration::from_micros(self.cfg.interval_us as u64));
            }
        }
        Ok(())
    }

    /// A command for the tool modes: reply or exit with `I/O error`, as redis-cli does.
    pub fn must_command<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Value {
        let result = match self.conn.as_mut() {
            Some(conn) => conn.command(args),
            None => Err(ConnError::Eof),
        };
        match result {
            Ok(v) => v,
            Err(_) => {
                eprintln!("\nI/O error");
                std::process::exit(1);
            }
        }
    }

    /// Sends a command, reconnecting every second while the server is unreachable
    /// (`reconnectingRedisCommand`, used by --stat and --latency).
    pub fn reconnecting_command<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Value {
        let mut tries = 0;
        loop {
            if let Some(conn) = self.conn.as_mut() {
                match conn.command(args) {
                    Ok(v) => {
                        if tries > 0 {
                            emit(b"\r\x1b[0K");
                        }
                        return v;
                    }
                    Err(ConnError::Protocol(e)) => {
                        eprintln!("Error: {e}");
                        std::process::exit(1);
                    }
                    Err(_) => self.conn = None,
                }
            }
            tries += 1;
            emit(format!("\r\x1b[0KReconnecting... {tries}\r").as_bytes());
            // A bare reconnect, as redis-cli's (no AUTH or SELECT).
            self.conn = Conn::connect(&self.endpoint).ok();
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

/// A port number from `-p`'s C integer (out-of-range values wrap as in a C `int` → port).
fn port_of(p: i64) -> u16 {
    u16::try_from(p).unwrap_or(p as u16)
}
