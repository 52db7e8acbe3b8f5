//! tandem-cli against Debian's redis-cli 7.0.15, byte for byte, in non-tty mode.
//!
//! Each case runs twice on the same server: `redis-cli -p PORT <args>` then
//! `tandem-cli -p PORT <args>` (same stdin), with the dataset reset to the same seed before
//! each run, and compares stdout, stderr and the exit status. The main table runs against a
//! real redis-server, so the comparison does not depend on how complete Tandem's server is; a
//! subset runs against tandem-server too. Streaming modes (SUBSCRIBE, --replica, --rdb, --pipe)
//! have their own tests.

mod support;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{escape, find_on_path, unique_temp_dir, wait_until, RedisServer, Server, TestServer};

/// How long one CLI run may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(20);

fn tandem_cli() -> &'static str {
    env!("CARGO_BIN_EXE_tandem-cli")
}

/// What one CLI run produced.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    code: Option<i32>,
}

/// A command line for both CLIs (`PORT` stands for the server's port) and its stdin.
struct Case {
    args: Vec<String>,
    stdin: Option<Vec<u8>>,
}

fn case(args: &[&str]) -> Case {
    Case {
        args: args.iter().map(|s| s.to_string()).collect(),
        stdin: None,
    }
}

fn case_in(args: &[&str], stdin: &str) -> Case {
    Case {
        args: args.iter().map(|s| s.to_string()).collect(),
        stdin: Some(stdin.as_bytes().to_vec()),
    }
}

/// HOME for both CLIs: a directory that does not exist, so neither reads the user's rc or
/// history files (and nothing is left behind).
fn scratch_home() -> &'static Path {
    Path::new("/nonexistent/tandem-cli-test-home")
}

/// Runs `program` with `args` and `stdin`, killing it after [`RUN_TIMEOUT`].
fn run(program: &Path, args: &[String], stdin: Option<&[u8]>) -> Outcome {
    let mut child = Command::new(program)
        .args(args)
        .env("HOME", scratch_home())
        .env_remove("REDISCLI_AUTH")
        .env_remove("TANDEMCLI_AUTH")
        .env_remove("FAKETTY")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", program.display()));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
    }
    let mut out_pipe = child.stdout.take().expect("stdout");
    let mut err_pipe = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out_pipe.read_to_end(&mut b);
        b
    });
    let err_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err_pipe.read_to_end(&mut b);
        b
    });
    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{} {args:?} did not finish within {RUN_TIMEOUT:?}",
                program.display()
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    Outcome {
        stdout: out_reader.join().expect("stdout reader"),
        stderr: err_reader.join().expect("stderr reader"),
        code: status.code(),
    }
}

/// The seed dataset, written in one pipeline after FLUSHALL.
fn seed_commands() -> Vec<Vec<&'static [u8]>> {
    let cmds: Vec<Vec<&'static [u8]>> = vec![
        vec![b"SET", b"str", b"hello world"],
        vec![b"SET", b"num", b"42"],
        vec![b"SET", b"float", b"3.25"],
        vec![
            b"SET",
            b"bin",
            b"a\x00b\"c\\d\n\r\t\x07\x08\xff\xc3\xa9 end",
        ],
        vec![b"SET", b"empty", b""],
        vec![b"SET", b"key with space", b"spaced"],
        vec![
            b"RPUSH",
            b"list",
            b"a",
            b"b",
            b"c d",
            b"",
            b"\xc3\xa9",
            b"x\ny",
        ],
        vec![
            b"RPUSH", b"biglist", b"1", b"2", b"3", b"4", b"5", b"6", b"7", b"8", b"9", b"10",
            b"11", b"12",
        ],
        vec![b"HSET", b"hash", b"f1", b"v1", b"f2", b"v2", b"f3", b"3"],
        vec![b"SADD", b"intset", b"3", b"1", b"2"],
        vec![b"SADD", b"set", b"x"],
        vec![
            b"ZADD", b"zset", b"1.5", b"one", b"2", b"two", b"-3.75", b"neg", b"1e20", b"big",
        ],
        vec![b"XADD", b"stream", b"1-1", b"field", b"value"],
        vec![b"XADD", b"stream", b"2-1", b"field", b"value2"],
        vec![b"SELECT", b"1"],
        vec![b"SET", b"db1key", b"in db 1"],
        vec![b"SELECT", b"0"],
    ];
    cmds
}

/// Empties the server and writes the seed dataset.
fn reset(server: &Server) {
    let mut conn = server.raw();
    let mut batch = support::encode_command(&[b"FLUSHALL"]);
    let seed = seed_commands();
    for c in &seed {
        batch.extend(support::encode_command(c));
    }
    conn.send_raw(&batch);
    for _ in 0..=seed.len() {
        let reply = conn.read_reply_raw();
        assert!(
            !reply.starts_with(b"-"),
            "seeding failed: {}",
            escape(&reply)
        );
    }
}

fn show(o: &Outcome) -> String {
    format!(
        "code {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        o.code,
        escape(&o.stdout),
        escape(&o.stderr)
    )
}

/// Runs every case with both CLIs against `server`; returns the mismatches, described.
fn compare_cases(server: &Server, cases: &[Case]) -> Vec<String> {
    let redis_cli = find_on_path("redis-cli");
    let port = server.port().to_string();
    let mut failures = Vec::new();
    for c in cases {
        let mut args = vec!["-p".to_string(), port.clone()];
        args.extend(c.args.iter().map(|a| a.replace("PORT", &port)));
        reset(server);
        let want = run(&redis_cli, &args, c.stdin.as_deref());
        reset(server);
        let got = run(Path::new(tandem_cli()), &args, c.stdin.as_deref());
        if want != got {
            failures.push(format!(
                "case {:?} (stdin {:?}):\n=== redis-cli: {}\n=== tandem-cli: {}",
                c.args,
                c.stdin.as_deref().map(escape),
                show(&want),
                show(&got)
            ));
        }
    }
    failures
}

/// Cases that need nothing beyond strings, lists, hashes and server basics.
fn core_cases() -> Vec<Case> {
    let mut cases = vec![
        // Reply types, default (raw) output.
        case(&["get", "str"]),
        case(&["get", "bin"]),
        case(&["get", "empty"]),
        case(&["get", "nosuchkey"]),
        case(&["incr", "num"]),
        case(&["set", "k", "v"]),
        case(&["lrange", "list", "0", "-1"]),
        case(&["lrange", "nosuchkey", "0", "-1"]),
        case(&["hgetall", "hash"]),
        case(&["hmget", "hash", "f1", "nope", "f3"]),
        case(&["strlen", "bin"]),
        case(&["exists", "str", "num", "nosuchkey"]),
        case(&["type", "list"]),
        case(&["ping"]),
        case(&["ping", "hello\nworld"]),
        case(&["echo", "\u{00e9}t\u{00e9}"]),
        case(&["nosuchcommand", "a", "b"]),
        case(&["get"]),
        case(&["incr", "str"]),
        case(&["lpush", "str", "x"]),
        case(&["dbsize"]),
        case(&["mget", "str", "nosuchkey", "num", "bin"]),
        case(&["getrange", "str", "0", "4"]),
        case(&["append", "str", "!"]),
        case(&["llen", "biglist"]),
        case(&["lrange", "biglist", "0", "-1"]),
        case(&["lindex", "list", "4"]),
        case(&["hget", "hash", "f2"]),
        case(&["hkeys", "hash"]),
        case(&["hlen", "hash"]),
        case(&["del", "str", "num", "nosuchkey"]),
        case(&["rename", "nosuchkey", "x"]),
        case(&["select", "1"]),
        case(&["select", "99"]),
        case(&["expire", "str", "100"]),
        case(&["setnx", "str", "x"]),
        case(&["getset", "str", "new"]),
        case(&["multi"]),
        case(&["exec"]),
        case(&["wait", "0", "0"]),
        // Standard (tty-style) formatting.
        case(&["--no-raw", "get", "str"]),
        case(&["--no-raw", "get", "bin"]),
        case(&["--no-raw", "get", "empty"]),
        case(&["--no-raw", "get", "nosuchkey"]),
        case(&["--no-raw", "incr", "num"]),
        case(&["--no-raw", "set", "k", "v"]),
        case(&["--no-raw", "lrange", "list", "0", "-1"]),
        case(&["--no-raw", "lrange", "biglist", "0", "-1"]),
        case(&["--no-raw", "lrange", "nosuchkey", "0", "-1"]),
        case(&["--no-raw", "hgetall", "hash"]),
        case(&["--no-raw", "hmget", "hash", "f1", "nope"]),
        case(&["--no-raw", "nosuchcommand"]),
        case(&["--no-raw", "incr", "str"]),
        case(&["--no-raw", "mget", "str", "nosuchkey"]),
        case(&["--no-raw", "ping"]),
        case(&["--no-raw", "exists", "str"]),
        // CSV and JSON.
        case(&["--csv", "get", "str"]),
        case(&["--csv", "get", "bin"]),
        case(&["--csv", "get", "nosuchkey"]),
        case(&["--csv", "lrange", "list", "0", "-1"]),
        case(&["--csv", "hgetall", "hash"]),
        case(&["--csv", "incr", "num"]),
        case(&["--csv", "nosuchcommand"]),
        case(&["--csv", "ping"]),
        case(&["--json", "lrange", "list", "0", "-1"]),
        case(&["--json", "get", "bin"]),
        case(&["--json", "hgetall", "hash"]),
        case(&["--json", "get", "nosuchkey"]),
        case(&["--json", "nosuchcommand"]),
        case(&["--quoted-json", "lrange", "list", "0", "-1"]),
        case(&["--quoted-json", "get", "bin"]),
        case(&["-2", "--json", "hgetall", "hash"]),
        // RESP3.
        case(&["-3", "hgetall", "hash"]),
        case(&["-3", "--no-raw", "hgetall", "hash"]),
        case(&["-3", "--no-raw", "hgetall", "nosuchkey"]),
        case(&["-3", "--csv", "hgetall", "hash"]),
        case(&["-3", "--no-raw", "get", "nosuchkey"]),
        case(&["-3", "--no-raw", "lrange", "nosuchkey", "0", "-1"]),
        // Delimiters, last output option wins.
        case(&["-d", "|", "lrange", "list", "0", "-1"]),
        case(&["-D", "##", "get", "str"]),
        case(&["-d", ",", "-D", ";", "hgetall", "hash"]),
        case(&["--csv", "--raw", "lrange", "list", "0", "-1"]),
        case(&["--raw", "--no-raw", "get", "str"]),
        case(&["--no-raw", "--csv", "get", "str"]),
        // Options.
        case(&["-r", "3", "incr", "num"]),
        case(&["-r", "2", "--no-raw", "lrange", "list", "0", "1"]),
        case(&["-r", "0", "incr", "num"]),
        case(&["-r", "3", "-i", "0.01", "incr", "num"]),
        case(&["-n", "1", "get", "db1key"]),
        case(&["-n", "1", "--no-raw", "get", "db1key"]),
        case(&["-n", "99", "ping"]),
        case(&["-e", "nosuchcommand"]),
        case(&["-e", "get", "str"]),
        case(&["-e", "--no-raw", "incr", "str"]),
        case(&["-u", "redis://127.0.0.1:PORT/1", "get", "db1key"]),
        case(&["-u", "redis://127.0.0.1:PORT", "ping"]),
        case(&["-u", "redis://pw@127.0.0.1:PORT", "ping"]),
        case(&["-u", "redis://user:pw@127.0.0.1:PORT", "ping"]),
        case(&["-u", "http://127.0.0.1:PORT", "ping"]),
        case(&["-a", "wrong", "ping"]),
        case(&["-a", "wrong", "--no-auth-warning", "ping"]),
        case(&["--pass", "wrong", "--user", "nobody", "ping"]),
        case(&["--bogus-option", "ping"]),
        case(&["-p"]),
        case(&["-2", "-3", "ping"]),
        case(&["--quoted-input", "set", "\"a\\x00b\"", "\"c\\nd\""]),
        case(&["--quoted-input", "get", "\"unterminated"]),
        case(&["set", "-x", "--raw"]),
        case(&["get", "-x"]),
        case_in(&["-x", "set", "fromstdin"], "line1\nline2\n"),
        case_in(&["-x", "--no-raw", "echo"], "abc\x00def"),
        case_in(&["-X", "TAG", "set", "TAG", "v"], "value from stdin"),
        case_in(&["-X", "TAG", "echo", "notag"], "x"),
        case_in(&["-x", "-X", "T", "echo"], "x"),
        case_in(&["--askpass", "ping"], "secret\n"),
        case_in(&["--askpass", "--user", "u"], "secret\nping\n"),
        case_in(&["--askpass", "-a", "ignored", "ping"], "secret\n"),
        // Help, from the server's COMMAND DOCS.
        case(&["help", "get"]),
        case(&["help", "set"]),
        case(&["help", "config"]),
        case(&["help", "config", "get"]),
        case(&["help", "@string"]),
        case(&["help", "@hash"]),
        case(&["help", "@list"]),
        case(&["help", "@generic"]),
        case(&["help", "@server"]),
        case(&["help", "@nosuchgroup"]),
        case(&["help", "nosuchcommand"]),
        case(&["HELP", "ZADD"]),
        case(&["?", "xadd"]),
        // Commands from stdin (the interactive loop without a terminal).
        case_in(&[], "set a 1\nget a\n\nincr a\n"),
        case_in(&[], "ping\n\"unterminated\nget 'a'b\nping\n"),
        case_in(
            &[],
            "3 incr num\n0 ping\n-2 ping\n99999999999999999999 ping\n2 ping\n",
        ),
        case_in(&[], "select 1\nget db1key\nselect 0\nget db1key\n"),
        case_in(
            &["--no-raw"],
            "get str\nlrange list 0 -1\nnosuchcommand\nhgetall hash\n",
        ),
        case_in(&["--csv"], "get str\nlrange list 0 -1\n"),
        case_in(&[], "multi\nset a 1\nincr a\nexec\n"),
        case_in(&["--no-raw"], "multi\nset a 1\ndiscard\nget a\n"),
        case_in(&[], "help get\nhelp @hash\n"),
        case_in(&[], "ping\nquit\nping\n"),
        case_in(&[], ":set hints\n:set nohints\n:set bogus\n:bogus\nping\n"),
        case_in(&[], "restart\nping"),
        case_in(&[], "set \"a b\" \"x\\x41\\ty\"\nget \"a b\"\nget 'a b'\n"),
        case_in(&[], "auth wrongpassword\nping\n"),
        case_in(&["-n", "1"], "get db1key\nselect 0\nget db1key\n"),
        case_in(&[], "clear\nping\n"),
        case_in(&[], "get str\r\nget num\r\n"),
        case_in(&[], "get str"),
        case_in(&["-e"], "nosuchcommand\nping\n"),
        // Pipe mode.
        case_in(
            &["--pipe"],
            "SET p1 v\r\nINCR p1\r\n*3\r\n$3\r\nSET\r\n$2\r\np2\r\n$1\r\nx\r\nGET p2\r\n",
        ),
        case_in(&["--pipe"], ""),
        case_in(&["--pipe"], "PING\r\nNOSUCHCOMMAND\r\nINCR str\r\n"),
    ];
    // Many writes through --pipe.
    let mut mass = String::new();
    for i in 0..2000 {
        mass.push_str(&format!(
            "*3\r\n$3\r\nSET\r\n${}\r\nkey:{i}\r\n$1\r\nv\r\n",
            format!("key:{i}").len()
        ));
    }
    cases.push(case_in(&["--pipe"], &mass));
    cases
}

/// Cases that need Lua, sets, sorted sets, streams and the key walkers.
fn redis_only_cases() -> Vec<Case> {
    let nested = "return {1, {2, {}}, {}, 'x', {err='boom'}, {ok='fine'}}";
    let resp3 = "redis.setresp(3); return {true, false, {double=3.5}, {map={a=1, b={1,2}}}, {set={x=true}}, {map={}}, {set={}}}";
    let deep = "redis.setresp(3); return {map={a={1,2}, b={map={c=1, d=2}}, c={map={e=1}}, d={1}, e={{1,2}}}}";
    let eleven = "return {1,2,3,4,5,6,7,8,9,10,11}";
    let mut cases = Vec::new();
    for mode in [
        &[][..],
        &["--no-raw"][..],
        &["--csv"][..],
        &["--json"][..],
        &["--quoted-json"][..],
    ] {
        for script in [nested, resp3, deep, eleven] {
            for proto in ["-2", "-3"] {
                let mut args: Vec<&str> = mode.to_vec();
                args.extend([proto, "eval", script, "0"]);
                cases.push(case(&args));
            }
        }
        for cmd in [
            &["smembers", "intset"][..],
            &["smembers", "set"],
            &["smembers", "nosuchkey"],
            &["zrange", "zset", "0", "-1", "withscores"],
            &["zscore", "zset", "one"],
            &["zscore", "zset", "big"],
            &["zincrby", "zset", "0.25", "neg"],
            &["xrange", "stream", "-", "+"],
            &["config", "get", "maxmemory*"],
            &["object", "encoding", "list"],
            &["sort", "intset"],
        ] {
            for proto in ["-2", "-3"] {
                let mut args: Vec<&str> = mode.to_vec();
                args.push(proto);
                args.extend(cmd);
                cases.push(case(&args));
            }
        }
    }
    cases.extend([
        case(&["--scan"]),
        case(&["--no-raw", "--scan"]),
        case(&["--scan", "--pattern", "*li*"]),
        case(&["--scan", "--pattern", "nomatch*"]),
        case(&["--scan", "--quoted-pattern", "\"key with*\""]),
        case(&["--bigkeys"]),
        case(&["--memkeys"]),
        case(&["--memkeys-samples", "2"]),
        case(&["--hotkeys"]),
        case(&["-n", "1", "--bigkeys"]),
        case(&["-n", "5", "--bigkeys"]),
        case(&["-n", "1", "--memkeys"]),
        case(&["--eval", "/nonexistent/script.lua"]),
        case_in(
            &["-3", "--show-pushes", "yes"],
            "client tracking on\nget str\nset str x\nping\n",
        ),
        case_in(
            &["-3", "--no-raw", "--show-pushes", "yes"],
            "client tracking on\nget str\nset str x\nping\n",
        ),
        case_in(
            &["-3", "--show-pushes", "no"],
            "client tracking on\nget str\nset str x\nping\n",
        ),
        case_in(&["-3"], "client tracking on\nget str\nset str x\nping\n"),
    ]);
    cases
}

/// A reference redis-server without persistence, with `extra` arguments.
fn redis_server(extra: &[&str]) -> RedisServer {
    let mut args = vec!["--save", "", "--appendonly", "no"];
    args.extend_from_slice(extra);
    RedisServer::start(&args)
}

fn report(kind: &str, total: usize, failures: &[String]) {
    eprintln!(
        "tandem-cli vs redis-cli against {kind}: {total} cases compared, {} differ",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {total} cases differ:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn output_matches_redis_cli_against_redis_server() {
    let sockets = unique_temp_dir("cli-socket");
    let socket = sockets.join("redis.sock").to_string_lossy().into_owned();
    let server = redis_server(&["--unixsocket", &socket]);
    let mut cases = core_cases();
    cases.push(case(&["-s", &socket, "get", "str"]));
    cases.push(case(&[
        "-s", &socket, "--no-raw", "-n", "1", "get", "db1key",
    ]));
    cases.push(case_in(&["-s", &socket], "ping\nget num\n"));
    cases.push(case(&["-s", "/nonexistent/socket", "ping"]));
    cases.push(case(&["-h", "localhost", "get", "str"]));
    cases.extend(redis_only_cases());
    // An --eval script file.
    let dir = unique_temp_dir("cli-eval");
    let script = dir.join("script.lua");
    std::fs::write(&script, "return {KEYS[1], ARGV[1], #KEYS, #ARGV}").expect("write script");
    let script = script.to_string_lossy().into_owned();
    cases.push(case(&["--eval", &script, "k1", "k2", ",", "a1"]));
    cases.push(case(&["--eval", &script, "k1"]));
    cases.push(case(&["--no-raw", "--eval", &script, ",", "a1", "a2"]));
    // Nothing listens on a port that was just free.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let closed = closed.to_string();
    cases.push(case(&["-p", &closed, "ping"]));
    cases.push(case_in(&["-p", &closed], "ping\nping\n"));
    cases.push(case(&["-p", &closed, "--scan"]));
    let failures = compare_cases(&server, &cases);
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_dir_all(sockets);
    report("redis-server", cases.len(), &failures);
}

#[test]
fn output_matches_redis_cli_against_tandem_server() {
    let server = TestServer::start(&["--save", "", "--appendonly", "no"]);
    let cases = core_cases();
    let failures = compare_cases(&server, &cases);
    report("tandem-server", cases.len(), &failures);
}

/// A CLI left running (SUBSCRIBE, --replica), killed on drop.
struct Running {
    child: Child,
    stdout: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    stderr: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl Running {
    fn start(program: &Path, args: &[String]) -> Running {
        let mut child = Command::new(program)
            .args(args)
            .env("HOME", scratch_home())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn cli");
        let stdout = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        for (mut pipe, sink) in [
            (
                Box::new(child.stdout.take().expect("stdout")) as Box<dyn Read + Send>,
                stdout.clone(),
            ),
            (
                Box::new(child.stderr.take().expect("stderr")),
                stderr.clone(),
            ),
        ] {
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    sink.lock().expect("sink").extend_from_slice(&buf[..n]);
                }
            });
        }
        Running {
            child,
            stdout,
            stderr,
        }
    }

    fn stdout(&self) -> Vec<u8> {
        self.stdout.lock().expect("stdout").clone()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().expect("stderr")).into_owned()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn numsub(server: &Server, channel: &str) -> i64 {
    let reply = server.raw().request_str(&["PUBSUB", "NUMSUB", channel]);
    let text = String::from_utf8_lossy(&reply).into_owned();
    text.rsplit(':')
        .next()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(-1)
}

#[test]
fn subscribe_streams_like_redis_cli() {
    let server = redis_server(&[]);
    let port = server.port().to_string();
    for extra in [&[][..], &["--no-raw"][..], &["-3", "--no-raw"][..]] {
        let mut args = vec!["-p".to_string(), port.clone()];
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend([
            "subscribe".to_string(),
            "ch1".to_string(),
            "ch2".to_string(),
        ]);
        let theirs = Running::start(&find_on_path("redis-cli"), &args);
        let ours = Running::start(Path::new(tandem_cli()), &args);
        assert!(
            wait_until(Duration::from_secs(10), || numsub(&server, "ch2") == 2),
            "both CLIs subscribe"
        );
        let mut publisher = server.raw();
        publisher.request_str(&["PUBLISH", "ch1", "hello"]);
        publisher.request_str(&["PUBLISH", "ch2", "line\nbreak \u{00e9}"]);
        let done = |r: &Running| r.stdout().windows(5).filter(|w| w == b"break").count() == 1;
        assert!(
            wait_until(Duration::from_secs(10), || done(&theirs) && done(&ours)),
            "messages arrive"
        );
        // redis-cli buffers stdout when it is not a terminal: compare once both flushed what
        // they have (redis-cli flushes after each reply).
        assert_eq!(
            escape(&ours.stdout()),
            escape(&theirs.stdout()),
            "subscribe output with {extra:?}"
        );
    }
}

#[test]
fn replica_mode_prints_the_command_stream() {
    let server = redis_server(&[
        "--repl-diskless-sync",
        "no",
        "--repl-ping-replica-period",
        "60",
    ]);
    // A master PINGs its replicas on its first replication cron, then every period (60 s):
    // let that first PING go before any replica attaches.
    std::thread::sleep(Duration::from_millis(1500));
    let args = vec![
        "-p".to_string(),
        server.port().to_string(),
        "--replica".to_string(),
    ];
    let theirs = Running::start(&find_on_path("redis-cli"), &args);
    let ours = Running::start(Path::new(tandem_cli()), &args);
    let synced = |r: &Running| r.stderr().contains("Logging commands from master");
    assert!(
        wait_until(Duration::from_secs(15), || synced(&theirs) && synced(&ours)),
        "both synced"
    );
    let mut writer = server.raw();
    writer.request_str(&["SET", "k", "v 1"]);
    writer.request_str(&["SELECT", "3"]);
    writer.request_str(&["RPUSH", "l", "a", "b\nc"]);
    writer.request_str(&["INCR", "n"]);
    let done = |r: &Running| {
        r.stdout().ends_with(b"\"INCR\",\"n\"\n") || r.stdout().ends_with(b"\"incr\",\"n\"\n")
    };
    assert!(
        wait_until(Duration::from_secs(10), || done(&theirs) && done(&ours)),
        "stream arrives"
    );
    // redis-cli waits for an answer to its REPLCONF ACK, which a master never sends, and so
    // takes the first command of the stream for that answer: it never prints it.
    let mut want = b"\"SELECT\",\"0\"\n".to_vec();
    want.extend(theirs.stdout());
    assert_eq!(escape(&ours.stdout()), escape(&want));
    let sync_line = |s: String| {
        s.lines()
            .map(|l| {
                if l.starts_with("SYNC done after") {
                    "SYNC done after N bytes..."
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(sync_line(ours.stderr()), sync_line(theirs.stderr()));
}

#[test]
fn replica_mode_with_diskless_sync() {
    let server = redis_server(&[
        "--repl-diskless-sync",
        "yes",
        "--repl-diskless-sync-delay",
        "0",
        "--repl-ping-replica-period",
        "60",
    ]);
    // A master PINGs its replicas on its first replication cron, then every period (60 s):
    // let that first PING go before any replica attaches.
    std::thread::sleep(Duration::from_millis(1500));
    let args = vec![
        "-p".to_string(),
        server.port().to_string(),
        "--replica".to_string(),
    ];
    let ours = Running::start(Path::new(tandem_cli()), &args);
    assert!(
        wait_until(Duration::from_secs(15), || ours
            .stderr()
            .contains("sending REPLCONF ACK 0")),
        "synced: {}",
        ours.stderr()
    );
    let mut writer = server.raw();
    writer.request_str(&["SET", "k", "v"]);
    assert!(
        wait_until(Duration::from_secs(10), || ours
            .stdout()
            .starts_with(b"\"SELECT\",\"0\"\n\"SET\",\"k\",\"v\"\n")),
        "stream: {}",
        escape(&ours.stdout())
    );
    let err = ours.stderr();
    assert!(err.starts_with(
        "sending REPLCONF capa eof\nsending REPLCONF rdb-filter-only \n\
         SYNC with master, discarding bytes of bulk transfer until EOF marker...\nSYNC done after "
    ));
}

#[test]
fn rdb_transfer_matches_redis_cli() {
    let server = redis_server(&["--repl-diskless-sync-delay", "0"]);
    reset(&server);
    let dir = unique_temp_dir("cli-rdb");
    let port = server.port().to_string();
    for diskless in ["yes", "no"] {
        server
            .raw()
            .request_str(&["CONFIG", "SET", "repl-diskless-sync", diskless]);
        let mut outcomes = Vec::new();
        for (name, program) in [
            ("redis", find_on_path("redis-cli")),
            ("tandem", tandem_cli().into()),
        ] {
            let path = dir.join(format!("{name}-{diskless}.rdb"));
            let args = vec![
                "-p".to_string(),
                port.clone(),
                "--rdb".to_string(),
                path.to_string_lossy().into_owned(),
            ];
            let out = run(&program, &args, None);
            let stderr =
                String::from_utf8_lossy(&out.stderr).replace(&*path.to_string_lossy(), "FILE");
            let bytes = std::fs::read(&path).expect("rdb written");
            outcomes.push((out.code, stderr, bytes));
        }
        let (theirs, ours) = (&outcomes[0], &outcomes[1]);
        assert_eq!(
            (ours.0, &ours.1),
            (theirs.0, &theirs.1),
            "diskless {diskless}"
        );
        assert_eq!(
            ours.2.len(),
            theirs.2.len(),
            "same snapshot size, diskless {diskless}"
        );
        assert!(ours.2.starts_with(b"REDIS0010"));
    }
    // To stdout.
    let out = run(
        Path::new(tandem_cli()),
        &["-p".into(), port, "--rdb".into(), "-".into()],
        None,
    );
    assert_eq!(out.code, Some(0));
    assert!(out.stdout.starts_with(b"REDIS0010"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn stat_and_latency_modes() {
    let server = redis_server(&[]);
    let port = server.port().to_string();
    // --latency without a terminal prints one line after the interval and exits.
    for (opt, re_sep) in [("--raw", ' '), ("--csv", ',')] {
        let out = run(
            Path::new(tandem_cli()),
            &[
                "-p".into(),
                port.clone(),
                "--latency".into(),
                opt.into(),
                "-i".into(),
                "0.2".into(),
            ],
            None,
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let fields: Vec<&str> = text.trim_end().split(re_sep).collect();
        assert_eq!((out.code, fields.len()), (Some(0), 4), "{text:?}");
        assert!(
            fields[2].contains('.') && fields[3].parse::<u64>().is_ok(),
            "{text:?}"
        );
    }
    // --stat: the header, then one line per interval.
    let stat = Running::start(
        Path::new(tandem_cli()),
        &[
            "-p".into(),
            port.clone(),
            "--stat".into(),
            "-i".into(),
            "0.1".into(),
        ],
    );
    assert!(wait_until(Duration::from_secs(10), || stat
        .stdout()
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        >= 4));
    let text = String::from_utf8_lossy(&stat.stdout()).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "------- data ------ --------------------- load -------------------- - child -"
    );
    assert_eq!(
        lines[1],
        "keys       mem      clients blocked requests            connections          "
    );
    assert!(
        lines[2].starts_with("0          ") && lines[2].contains(" (+0)"),
        "{text}"
    );
    assert!(lines[3].contains(" (+1)"), "{text}");
}

#[test]
fn topology_walks_master_and_replicas() {
    let master = redis_server(&["--repl-diskless-sync-delay", "0"]);
    let mport = master.port().to_string();
    let replica = redis_server(&["--replicaof", "127.0.0.1", &mport]);
    let rport = replica.port().to_string();
    let chained = redis_server(&["--replicaof", "127.0.0.1", &rport]);
    let linked = |s: &Server| {
        String::from_utf8_lossy(&s.raw().request_str(&["INFO", "replication"]))
            .contains("master_link_status:up")
    };
    assert!(
        wait_until(Duration::from_secs(20), || linked(&replica)
            && linked(&chained)),
        "replicas link up"
    );
    // From the bottom of the chain, the tree starts at the top master. A master marks a
    // replica online a moment after the replica sees its link up: wait for both.
    let topology = || {
        run(
            Path::new(tandem_cli()),
            &["-p".into(), chained.port().to_string(), "--topology".into()],
            None,
        )
    };
    let mut out = topology();
    // The assertions below say what is missing if this times out.
    let _ = wait_until(Duration::from_secs(20), || {
        out = topology();
        String::from_utf8_lossy(&out.stdout)
            .matches("state=online")
            .count()
            == 2
    });
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.code,
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].starts_with(&format!("127.0.0.1:{mport} master offset="))
            && lines[0].ends_with("replicas=1"),
        "{text}"
    );
    assert!(
        lines[1].starts_with(&format!(
            "└── 127.0.0.1:{rport} replica link=up state=online offset="
        )),
        "{text}"
    );
    assert!(
        lines[1].contains(" lag=") && lines[1].ends_with("replicas=1"),
        "{text}"
    );
    assert!(
        lines[2].starts_with(&format!(
            "    └── 127.0.0.1:{} replica link=up state=online",
            chained.port()
        )),
        "{text}"
    );
    // An unreachable node.
    drop(chained);
    let out = run(
        Path::new(tandem_cli()),
        &["-p".into(), "1".into(), "--topology".into()],
        None,
    );
    assert_eq!(out.code, Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "Could not connect to Redis at 127.0.0.1:1: Connection refused\n"
    );
}
