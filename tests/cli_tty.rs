//! tandem-cli's interactive mode in a real pseudo-terminal: prompt, hints, completion,
//! SELECT in the prompt, SUBSCRIBE stopped by Ctrl-C, reconnection after the server restarts,
//! and history kept across sessions.
//!
//! The test plays the terminal: it types bytes into the pty master, answers the line
//! editor's cursor-position query, and reads what the CLI draws.

mod support;

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{escape, unique_temp_dir, wait_until, ServerKind, TestServer};

const WAIT: Duration = Duration::from_secs(10);

/// tandem-cli running on a pseudo-terminal.
struct Terminal {
    child: Child,
    input: File,
    screen: Arc<Mutex<Vec<u8>>>,
    /// How much of the screen the last `expect` consumed.
    seen: usize,
}

impl Terminal {
    fn spawn(args: &[String], home: &Path) -> Terminal {
        let winsize = nix::pty::Winsize {
            ws_row: 40,
            ws_col: 200,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = nix::pty::openpty(&winsize, None).expect("openpty");
        let slave: OwnedFd = pty.slave;
        let mut command = Command::new(env!("CARGO_BIN_EXE_tandem-cli"));
        command
            .args(args)
            .env("HOME", home)
            .env("TERM", "xterm")
            .env_remove("TANDEMCLI_HISTFILE")
            .env_remove("TANDEMCLI_RCFILE")
            .stdin(Stdio::from(slave.try_clone().expect("dup slave")))
            .stdout(Stdio::from(slave.try_clone().expect("dup slave")))
            .stderr(Stdio::from(slave));
        // SAFETY: runs in the child before exec; setsid and ioctl are async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                nix::unistd::setsid().map_err(std::io::Error::from)?;
                if nix::libc::ioctl(0, nix::libc::TIOCSCTTY as _, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("spawn tandem-cli");
        let master = File::from(pty.master);
        let mut reader = master.try_clone().expect("dup master");
        let mut answerer = master.try_clone().expect("dup master");
        let screen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&screen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let chunk = &buf[..n];
                        // The line editor asks where the cursor is: answer "column 1".
                        if chunk.windows(4).any(|w| w == b"\x1b[6n") {
                            let _ = answerer.write_all(b"\x1b[1;1R");
                        }
                        sink.lock().expect("screen").extend_from_slice(chunk);
                    }
                }
            }
        });
        Terminal {
            child,
            input: master,
            screen,
            seen: 0,
        }
    }

    fn screen(&self) -> Vec<u8> {
        self.screen.lock().expect("screen").clone()
    }

    /// Types `text` (a `\r` is Enter).
    fn send(&mut self, text: &str) {
        self.input.write_all(text.as_bytes()).expect("type");
        self.input.flush().expect("flush");
    }

    /// Waits until `needle` appears after what earlier expectations consumed.
    fn expect(&mut self, needle: &str) {
        let needle = needle.as_bytes();
        let found = wait_until(WAIT, || {
            let screen = self.screen();
            screen[self.seen..]
                .windows(needle.len())
                .any(|w| w == needle)
        });
        let screen = self.screen();
        assert!(
            found,
            "{:?} did not appear on the terminal; it shows (after byte {}):\n{}",
            String::from_utf8_lossy(needle),
            self.seen,
            escape(&screen[self.seen..])
        );
        let at = screen[self.seen..]
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap_or(0);
        self.seen += at + needle.len();
    }

    /// Types a line and waits for `reply`.
    fn command(&mut self, line: &str, reply: &str) {
        self.send(&format!("{line}\r"));
        self.expect(reply);
    }

    /// Waits for the process to exit and returns its code.
    fn wait_exit(&mut self) -> Option<i32> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "tandem-cli did not exit; screen:\n{}",
                escape(&self.screen())
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server process on a fixed port (the restarted one), killed on drop.
struct Restarted(support::Unwaited, PathBuf);

impl Restarted {
    fn start(kind: ServerKind, port: u16) -> Restarted {
        let dir = unique_temp_dir("cli-tty-restart");
        let child = support::Unwaited::spawn(kind, port, &dir);
        let up = wait_until(WAIT, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(up, "restarted server listens on {port}");
        Restarted(child, dir)
    }
}

impl Drop for Restarted {
    fn drop(&mut self) {
        let _ = self.0 .0.kill();
        let _ = self.0 .0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

fn get_in_db(port: u16, db: &str, key: &str) -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    let req = support::encode_command(&[b"SELECT", db.as_bytes()]);
    let mut all = req.clone();
    all.extend(support::encode_command(&[b"GET", key.as_bytes()]));
    stream.write_all(&all).expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !(got.starts_with(b"+OK\r\n")
        && got.len() > 5
        && got.ends_with(b"\r\n")
        && support::resp_len(&got[5..]) == Ok(Some(got.len() - 5)))
    {
        let n = stream.read(&mut buf).expect("read");
        assert!(n > 0, "server closed");
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got[5..]).into_owned()
}

#[test]
fn interactive_session_in_a_terminal() {
    let mut server = TestServer::start(&["--save", "", "--appendonly", "no"]);
    let port = server.port();
    let home = unique_temp_dir("cli-tty-home");
    let args = vec!["-p".to_string(), port.to_string()];
    let prompt = format!("127.0.0.1:{port}> ");
    let prompt2 = format!("127.0.0.1:{port}[2]> ");

    let mut term = Terminal::spawn(&args, &home);
    term.expect(&prompt);
    // A hint: the arguments still to type, in dark grey, right after the typed text.
    term.send("set k");
    term.expect("\x1b[0;90;49m value");
    term.command(" v", "OK");
    term.expect(&prompt);
    // Tab completes command names (upper case, as redis-cli's help table has them).
    term.send("hgetal\t");
    term.expect("HGETALL");
    term.send("\x15"); // Ctrl-U: clear the line
    term.command("select 2", &prompt2);
    term.command("set k in-db-2", "OK");
    term.command("get k", "\"in-db-2\"");
    term.command("auth some-secret", "(error)");
    term.expect(&prompt2);
    term.command("lrange nosuchkey 0 -1", "(empty array)");
    term.command("help get", "summary:");

    // SUBSCRIBE streams until Ctrl-C, then the prompt comes back on the same database.
    term.command(
        "subscribe news",
        "Reading messages... (press Ctrl-C to quit)",
    );
    term.expect("(integer) 1");
    let mut publisher = server.raw();
    assert!(wait_until(WAIT, || {
        String::from_utf8_lossy(&publisher.request_str(&["PUBLISH", "news", "flash"])) == ":1\r\n"
    }));
    term.expect("\"flash\"");
    term.send("\x03");
    term.expect(&prompt2);
    term.command("ping", "PONG");

    // MONITOR too, and MULTI shows in the prompt.
    term.command("monitor", "OK");
    assert!(wait_until(WAIT, || {
        publisher.request_str(&["SET", "watched", "1"]);
        let screen = term.screen();
        screen[term.seen..].windows(9).any(|w| w == b"\"watched\"")
    }));
    term.send("\x03");
    term.expect(&prompt2);
    term.command("multi", &format!("127.0.0.1:{port}[2](TX)> "));
    term.command("discard", &prompt2);

    // The server goes away and comes back on the same port.
    server.stop();
    // "Server closed the connection", or "Connection reset by peer" if the reset wins.
    term.command("ping", "Error: ");
    term.expect("not connected> ");
    term.command(
        "ping",
        &format!("Could not connect to Redis at 127.0.0.1:{port}: Connection refused"),
    );
    term.expect("not connected> ");
    let _restarted = Restarted::start(ServerKind::Tandem, port);
    term.command("set k after-restart", "OK");
    // Reconnected on the database the session had selected.
    term.expect(&prompt2);
    assert_eq!(get_in_db(port, "2", "k"), "$13\r\nafter-restart\r\n");
    term.send("quit\r");
    assert_eq!(term.wait_exit(), Some(0));

    // History was saved, without the AUTH line.
    let history = std::fs::read_to_string(home.join(".tandemcli_history")).expect("history file");
    for line in [
        "set k v",
        "select 2",
        "get k",
        "subscribe news",
        "set k after-restart",
        "quit",
    ] {
        assert!(
            history.lines().any(|l| l == line),
            "{line:?} not in history:\n{history}"
        );
    }
    assert!(
        !history.contains("some-secret"),
        "AUTH must not be saved:\n{history}"
    );

    // A new session recalls it with the Up arrow.
    let mut again = Terminal::spawn(&args, &home);
    again.expect(&format!("127.0.0.1:{port}> "));
    again.send("\x1b[A\x1b[A");
    again.expect("set k after-restart");
    again.send("\x15\x04"); // clear the line, then Ctrl-D on the empty line exits
    assert_eq!(again.wait_exit(), Some(0));
    let _ = std::fs::remove_dir_all(home);
}

#[test]
fn interactive_without_a_server() {
    let home = unique_temp_dir("cli-tty-noserver");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let mut term = Terminal::spawn(&["-p".to_string(), port.to_string()], &home);
    term.expect(&format!(
        "Could not connect to Redis at 127.0.0.1:{port}: Connection refused"
    ));
    term.expect("not connected> ");
    // Help works offline, from the built-in table, and so do hints.
    term.command("help incr", "Increment the integer value of a key by one");
    term.send("get");
    term.expect("\x1b[0;90;49m key");
    term.send("\x15");
    term.command("ping", "Connection refused");
    // Ctrl-C at the prompt leaves, as in redis-cli.
    term.send("\x03");
    assert_eq!(term.wait_exit(), Some(0));
    let _ = std::fs::remove_dir_all(home);
}
