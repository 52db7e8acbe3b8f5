//! The Lua debugger (SCRIPT DEBUG YES|SYNC, issue #10): debugging sessions driven over raw
//! RESP against redis-server 7.0.15 and Tandem, every reply compared byte for byte; then what
//! each mode leaves in the dataset, what other clients see meanwhile, and `redis-cli --ldb`.

mod support;

use std::time::{Duration, Instant};

use support::{escape, Server, ServerKind};

use ServerKind::{Redis, Tandem};

/// One debugging session: SCRIPT DEBUG `mode`, then each request; returns every reply and,
/// once the session ended, the rest of what arrived before the connection closed.
fn session(server: &Server, mode: &str, requests: &[&[&str]]) -> Vec<String> {
    let mut c = server.raw();
    c.set_timeout(Duration::from_secs(10));
    let mut out = vec![escape(&c.request_str(&["SCRIPT", "DEBUG", mode]))];
    for r in requests {
        let reply = c.request_str(r);
        let ended = reply.windows(12).any(|w| w == b"<endsession>");
        out.push(escape(&reply));
        if ended {
            out.push(escape(&c.read_reply_raw()));
            let rest = c
                .read_until_closed()
                .expect("the connection closes after a session");
            out.push(format!("closed after {:?}", escape(&rest)));
            break;
        }
    }
    out
}

/// `function@0x55d1...` → `function@0x?`: addresses differ between any two runs.
fn mask_addresses(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("@0x") {
        out.push_str(&rest[..i + 3]);
        out.push('?');
        rest = rest[i + 3..].trim_start_matches(|c: char| c.is_ascii_hexdigit());
    }
    out.push_str(rest);
    out
}

fn compare(mode: &str, requests: &[&[&str]]) {
    let redis = Server::start(Redis, &["--save", ""]);
    let tandem = Server::start(Tandem, &["--save", ""]);
    let masked = |v: Vec<String>| v.iter().map(|s| mask_addresses(s)).collect::<Vec<_>>();
    let expected = masked(session(&redis, mode, requests));
    let got = masked(session(&tandem, mode, requests));
    assert_eq!(got, expected, "session {requests:?} in mode {mode}");
}

const SCRIPT: &str = "local function double(x)\n  local y = x * 2\n  redis.breakpoint()\n  return y\nend\nlocal t = {1, 2, 'three', {a = true}}\nredis.call('set', KEYS[1], ARGV[1])\nredis.debug('t is', t, double(21))\nredis.pcall('incr', KEYS[1])\nredis.call('set', 'big', string.rep('x', 300))\nreturn redis.call('get', KEYS[1])\n";

#[test]
fn stepping_listing_printing() {
    for mode in ["SYNC", "YES"] {
        compare(
            mode,
            &[
                &["EVAL", SCRIPT, "1", "k1", "v1"],
                &["h"],
                &["s"],
                &["next"],
                &["p"],
                &["print", "t"],
                &["p", "KEYS"],
                &["p", "ARGV"],
                &["p", "nothing"],
                &["l"],
                &["list", "3", "1"],
                &["w"],
                &["m"],
                &["maxlen", "10"],
                &["maxlen", "0"],
                &["s"],
                &["s"],
                &["c"],
                &["t"],
                &["p"],
                &["e", "y + 1"],
                &["eval", "local z = 5"],
                &["e", "nonexistent_global + 1"],
                &["e", "return return"],
                &["r", "set", "via-debugger", "1"],
                &["redis", "nosuchcommand", "a"],
                &["redis"],
                &["whatever"],
                &["s"],
                &["s"],
                &["m", "100"],
                &["s"],
                &["s"],
                &["c"],
            ],
        );
    }
}

#[test]
fn breakpoints_and_abort() {
    compare(
        "SYNC",
        &[
            &["EVAL", SCRIPT, "1", "k1", "v1"],
            &["b"],
            &["b", "9"],
            &["b", "10", "99", "0x", "-3"],
            &["b"],
            &["b", "-10"],
            &["c"],
            &["b", "9"],
            &["c"],
            &["b", "0"],
            &["b"],
            &["abort"],
        ],
    );
}

#[test]
fn protocol_quirks() {
    // A NUL ends the command name for the debugger ("s\0x" steps); a NUL elsewhere makes an
    // unknown command; a redis command with many arguments is logged shortened.
    let mut many: Vec<&str> = vec!["redis", "test"];
    many.extend(std::iter::repeat_n("test", 30));
    compare(
        "SYNC",
        &[
            &["EVAL", "local a = 1\nlocal b = 2\nreturn a + b", "0"],
            &["hello\0world"],
            &["\0hello"],
            &["s\0x"],
            &["eval", "return 'hello'", "0"],
            &many,
            &["c"],
        ],
    );
}

#[test]
fn errors_from_redis_call_are_logged() {
    compare(
        "SYNC",
        &[
            &[
                "EVAL",
                "redis.pcall('nosuch')\nredis.pcall('set', 's', 'x')\nredis.pcall('incr', 's')\nredis.pcall()\nreturn redis.call('incr', 's')",
                "0",
            ],
            &["s"],
            &["s"],
            &["s"],
            &["s"],
            &["s"],
            &["s"],
        ],
    );
}

#[test]
fn evalsha_refused_and_compile_errors_end_the_session() {
    for server in [
        Server::start(Redis, &["--save", ""]),
        Server::start(Tandem, &["--save", ""]),
    ] {
        let mut c = server.raw();
        assert_eq!(
            c.request_str(&["SCRIPT", "DEBUG", "maybe"]),
            b"-ERR Use SCRIPT DEBUG YES/SYNC/NO\r\n"
        );
        assert_eq!(c.request_str(&["SCRIPT", "DEBUG", "SYNC"]), b"+OK\r\n");
        assert_eq!(
            c.request_str(&["EVALSHA", "0123456789012345678901234567890123456789", "0"]),
            b"-ERR Please use EVAL instead of EVALSHA for debugging\r\n"
        );
        assert_eq!(c.request_str(&["SCRIPT", "DEBUG", "NO"]), b"+OK\r\n");
        assert_eq!(c.request_str(&["EVAL", "return 7", "0"]), b":7\r\n");
        assert_eq!(c.request_str(&["SCRIPT", "DEBUG", "YES"]), b"+OK\r\n");
        assert_eq!(
            c.request_str(&["EVAL", "return +", "0"]),
            b"*1\r\n+<endsession>\r\n"
        );
        let reply = c.read_reply_raw();
        assert!(
            reply.starts_with(b"-ERR Error compiling script"),
            "{}: {}",
            server.kind().name(),
            escape(&reply)
        );
        c.read_until_closed().expect("closed after the session");
    }
}

/// SYNC keeps the script's writes and makes other clients wait for the session's end; YES
/// runs on a copy that is thrown away, and other clients are served meanwhile.
#[test]
fn sync_keeps_changes_yes_discards_them() {
    for kind in [Redis, Tandem] {
        let server = Server::start(kind, &["--save", ""]);
        let mut other = server.raw();
        other.set_timeout(Duration::from_secs(10));
        assert_eq!(other.request_str(&["SET", "real", "1"]), b"+OK\r\n");
        let script = "redis.call('set', 'real', 'changed')\nredis.call('set', 'new', 'x')\nreturn redis.call('get', 'real')";

        let mut c = server.raw();
        c.request_str(&["SCRIPT", "DEBUG", "YES"]);
        c.request_str(&["EVAL", script, "0"]);
        c.request_str(&["s"]);
        // The forked session changed its copy only; everyone else is served.
        assert_eq!(other.request_str(&["GET", "real"]), b"$1\r\n1\r\n");
        c.request_str(&["c"]);
        assert_eq!(c.read_reply_raw(), b"$7\r\nchanged\r\n");
        c.read_until_closed().expect("closed after the session");
        assert_eq!(other.request_str(&["GET", "real"]), b"$1\r\n1\r\n");
        assert_eq!(other.request_str(&["EXISTS", "new"]), b":0\r\n");

        let mut c = server.raw();
        c.request_str(&["SCRIPT", "DEBUG", "SYNC"]);
        c.request_str(&["EVAL", script, "0"]);
        c.request_str(&["s"]);
        // The server waits for the session, past busy-reply-threshold, without BUSY.
        other.send_cmd(&[b"GET", b"real"]);
        std::thread::sleep(Duration::from_millis(300));
        c.request_str(&["c"]);
        assert_eq!(c.read_reply_raw(), b"$7\r\nchanged\r\n");
        assert_eq!(other.read_reply_raw(), b"$7\r\nchanged\r\n");
        assert_eq!(other.request_str(&["EXISTS", "new"]), b":1\r\n");
    }
}

/// A client that goes away mid-session: the script runs on to its end; one stuck in a loop
/// is ended once the time limit passes.
#[test]
fn client_leaving_ends_the_session() {
    for kind in [Redis, Tandem] {
        let server = Server::start(kind, &["--save", "", "--busy-reply-threshold", "500"]);
        let mut c = server.raw();
        c.request_str(&["SCRIPT", "DEBUG", "SYNC"]);
        c.request_str(&[
            "EVAL",
            "redis.call('set', 'after', '1')\nwhile true do end",
            "0",
        ]);
        drop(c);
        let mut other = server.raw();
        other.set_timeout(Duration::from_secs(10));
        let start = Instant::now();
        assert_eq!(other.request_str(&["GET", "after"]), b"$1\r\n1\r\n");
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}

/// `redis-cli --ldb` (YES) and `--ldb-sync-mode` (SYNC) print the same session on both.
#[test]
fn redis_cli_ldb() {
    let dir = support::unique_temp_dir("ldb-cli");
    let script = dir.join("script.lua");
    std::fs::write(
        &script,
        "local a = redis.call('incr', KEYS[1])\nredis.debug(a, ARGV[1])\nreturn a\n",
    )
    .expect("write script");
    let run = |port: u16, mode: &str| -> String {
        let script = script.display().to_string();
        let args = [mode, "--eval", &script, "counter", ",", "hello"];
        support::redis_cli_fed(port, &args, Some(b"step\nprint\nlist\ncontinue\n")).0
    };
    let redis = Server::start(Redis, &["--save", ""]);
    let tandem = Server::start(Tandem, &["--save", ""]);
    for mode in ["--ldb", "--ldb-sync-mode"] {
        let expected = run(redis.port(), mode);
        assert!(
            expected.contains("<debug> line 2: 1, \"hello\""),
            "{expected}"
        );
        assert_eq!(run(tandem.port(), mode), expected, "redis-cli {mode}");
    }
}
