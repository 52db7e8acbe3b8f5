//! Basic end-to-end checks of `tandem-server` as a user meets it: the `redis` crate, Debian's
//! `redis-cli`, pipelining, inline commands and malformed input, each compared with a real
//! `redis-server` where the exact bytes matter.

mod support;

use std::time::Duration;

use support::{escape, redis_cli, RawConn, RedisServer, TestServer};

const ARGS: &[&str] = &["--save", "", "--appendonly", "no"];

#[test]
fn redis_crate_set_get_incr_and_collections() {
    let server = TestServer::start(ARGS);
    let mut con = server.client();

    let () = redis::cmd("SET")
        .arg("greeting")
        .arg("hello")
        .query(&mut con)
        .unwrap();
    let got: String = redis::cmd("GET").arg("greeting").query(&mut con).unwrap();
    assert_eq!(got, "hello");
    let missing: Option<String> = redis::cmd("GET").arg("nokey").query(&mut con).unwrap();
    assert_eq!(missing, None);

    let n: i64 = redis::cmd("INCR").arg("counter").query(&mut con).unwrap();
    assert_eq!(n, 1);
    let n: i64 = redis::cmd("INCRBY")
        .arg("counter")
        .arg(41)
        .query(&mut con)
        .unwrap();
    assert_eq!(n, 42);

    let len: i64 = redis::cmd("RPUSH")
        .arg("list")
        .arg(&["a", "b", "c"])
        .query(&mut con)
        .unwrap();
    assert_eq!(len, 3);
    let items: Vec<String> = redis::cmd("LRANGE")
        .arg("list")
        .arg(0)
        .arg(-1)
        .query(&mut con)
        .unwrap();
    assert_eq!(items, ["a", "b", "c"]);

    let values: Vec<Option<String>> = redis::cmd("MGET")
        .arg(&["greeting", "nokey", "counter"])
        .query(&mut con)
        .unwrap();
    assert_eq!(
        values,
        [Some("hello".to_string()), None, Some("42".to_string())]
    );

    let err = redis::cmd("LPUSH")
        .arg("greeting")
        .arg("x")
        .query::<i64>(&mut con)
        .unwrap_err();
    assert_eq!(err.code(), Some("WRONGTYPE"), "{err}");

    // A pipeline through the crate, answered in order.
    let (a, b, c): (String, i64, i64) = redis::pipe()
        .cmd("GET")
        .arg("greeting")
        .cmd("INCR")
        .arg("counter")
        .cmd("DEL")
        .arg(&["greeting", "list"])
        .query(&mut con)
        .unwrap();
    assert_eq!((a.as_str(), b, c), ("hello", 43, 2));
}

#[test]
fn redis_cli_output_matches_reference() {
    let reference = RedisServer::start(ARGS);
    let server = TestServer::start(ARGS);
    let invocations: &[&[&str]] = &[
        &["PING"],
        &["SET", "a", "b"],
        &["GET", "a"],
        &["GET", "missing"],
        &["INCR", "n"],
        &["INCRBYFLOAT", "f", "1.5"],
        &["RPUSH", "l", "x", "y", "z"],
        &["LRANGE", "l", "0", "-1"],
        &["HSET", "h", "f", "v", "g", "w"],
        &["HGETALL", "h"],
        &["ZADD", "z", "1.5", "m", "2", "n"],
        &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
        &["ECHO", "hello world"],
        &["SET", "bin", "\u{1}\u{2}"],
        &["--no-raw", "GET", "bin"],
        &["--no-raw", "LRANGE", "l", "0", "-1"],
        &["--no-raw", "INCR", "n"],
        &["--no-raw", "GET", "missing"],
        &["LPUSH", "a", "x"],
        &["NOSUCHCOMMAND", "arg"],
        &["GET"],
        &["-3", "ZSCORE", "z", "m"],
        &["DBSIZE"],
    ];
    let mut mismatches = Vec::new();
    for args in invocations {
        let want = redis_cli(reference.port(), args);
        assert!(
            !want.is_empty(),
            "redis-cli {args:?} printed nothing against redis-server"
        );
        let got = redis_cli(server.port(), args);
        if want != got {
            mismatches.push(format!(
                "redis-cli {args:?}\n    redis:  {want:?}\n    tandem: {got:?}"
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "redis-cli output differs:\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn pipelined_commands_in_one_write_answer_in_order() {
    const COMMANDS: usize = 1000;
    let server = TestServer::start(ARGS);
    let mut conn = server.raw();
    let mut batch = Vec::new();
    for i in 0..COMMANDS {
        let command: Vec<Vec<u8>> = match i % 4 {
            0 => vec![b"INCR".to_vec(), b"counter".to_vec()],
            1 => vec![
                b"SET".to_vec(),
                format!("key:{i}").into_bytes(),
                format!("value:{i}").into_bytes(),
            ],
            2 => vec![b"GET".to_vec(), format!("key:{}", i - 1).into_bytes()],
            _ => vec![
                b"RPUSH".to_vec(),
                b"list".to_vec(),
                i.to_string().into_bytes(),
            ],
        };
        let argv: Vec<&[u8]> = command.iter().map(Vec::as_slice).collect();
        batch.extend(support::encode_command(&argv));
    }
    conn.send_raw(&batch);
    for i in 0..COMMANDS {
        let reply = conn.read_reply_raw();
        let want = match i % 4 {
            0 => format!(":{}\r\n", i / 4 + 1).into_bytes(),
            1 => b"+OK\r\n".to_vec(),
            2 => {
                let value = format!("value:{}", i - 1);
                format!("${}\r\n{value}\r\n", value.len()).into_bytes()
            }
            _ => format!(":{}\r\n", i / 4 + 1).into_bytes(),
        };
        assert_eq!(
            escape(&reply),
            escape(&want),
            "reply #{i} out of order or wrong"
        );
    }
    assert_eq!(
        conn.request_str(&["LLEN", "list"]),
        format!(":{}\r\n", COMMANDS / 4).into_bytes()
    );
}

/// Sends `input` on a fresh connection to both servers and returns what each wrote back before
/// closing, or before going quiet for `wait`.
fn replies_to_raw_input(server: &support::Server, input: &[u8], wait: Duration) -> (String, bool) {
    let mut conn: RawConn = server.raw();
    conn.set_timeout(wait);
    conn.send_raw(input);
    match conn.read_until_closed() {
        Ok(bytes) => (escape(&bytes), true),
        Err(_) => (escape(conn.pending()), false),
    }
}

#[test]
fn inline_commands_match_reference() {
    let reference = RedisServer::start(ARGS);
    let server = TestServer::start(ARGS);
    let inputs: &[&[u8]] = &[
        b"PING\r\n",
        b"PING\n",
        b"\r\n\r\nPING\r\n",
        b"SET a b\r\nGET a\r\n",
        b"  ECHO   'a b'  \r\n",
        b"ECHO \"x\\x41\\ny\"\r\n",
        b"ECHO hello\r\nPING\r\n*1\r\n$4\r\nPING\r\n",
        b"NOSUCHCOMMAND foo\r\n",
        b"GET\r\n",
        b"*-1\r\n*1\r\n$4\r\nPING\r\n",
    ];
    let mut mismatches = Vec::new();
    for input in inputs {
        let want = replies_to_raw_input(&reference, input, Duration::from_millis(300));
        let got = replies_to_raw_input(&server, input, Duration::from_millis(300));
        if want != got {
            mismatches.push(format!(
                "input {:?}\n    redis:  {want:?}\n    tandem: {got:?}",
                escape(input)
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "inline commands differ:\n{}",
        mismatches.join("\n")
    );
    // The basic case stated plainly, in case both servers agree on something odd.
    let mut conn = server.raw();
    conn.send_raw(b"PING\r\n");
    assert_eq!(conn.read_reply_raw(), b"+PONG\r\n");
}

#[test]
fn malformed_protocol_gets_redis_error_and_closes() {
    let reference = RedisServer::start(ARGS);
    let server = TestServer::start(ARGS);
    let inputs: &[&[u8]] = &[
        b"*1\r\n$x\r\n",
        b"*x\r\n",
        b"*1\r\nfoo\r\n",
        b"SET \"a\r\n",
        b"*1\r\n$600000000\r\n",
        b"*3000000000\r\n",
        b"*1\r\n$-1\r\n",
        b"PING\r\n*1\r\n$x\r\n",
    ];
    let mut mismatches = Vec::new();
    for input in inputs {
        let (want, reference_closed) =
            replies_to_raw_input(&reference, input, Duration::from_secs(5));
        assert!(
            reference_closed,
            "redis-server kept the connection open after {}",
            escape(input)
        );
        assert!(
            want.contains("Protocol error"),
            "unexpected reference reply {want}"
        );
        let got = replies_to_raw_input(&server, input, Duration::from_secs(5));
        if got != (want.clone(), true) {
            mismatches.push(format!(
                "input {:?}\n    redis:  {want:?} (closed)\n    tandem: {:?} ({})",
                escape(input),
                got.0,
                if got.1 { "closed" } else { "still open" }
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "malformed input handled differently:\n{}",
        mismatches.join("\n")
    );
}

/// CLIENT REPLY OFF silences replies but not pub/sub confirmations, which are pushes (redis
/// `CLIENT_PUSHING`), in RESP2 and RESP3. Found through Redis's unit/pubsub.
#[test]
fn client_reply_off_keeps_pubsub_confirmations() {
    let transcript = |port_of: &dyn Fn() -> std::net::SocketAddr| {
        let mut c = RawConn::connect(port_of());
        let mut out = Vec::new();
        for proto in ["2", "3"] {
            c.request_str(&["HELLO", proto]);
            c.send_cmd(&[b"CLIENT", b"REPLY", b"OFF"]);
            c.send_cmd(&[b"GET", b"k"]);
            out.push(c.request_str(&["SUBSCRIBE", "chan"]));
            out.push(c.request_str(&["UNSUBSCRIBE", "chan"]));
            c.send_cmd(&[b"CLIENT", b"REPLY", b"ON"]);
            out.push(c.read_reply_raw());
        }
        out
    };
    let redis = RedisServer::start(ARGS);
    let tandem = TestServer::start(ARGS);
    let want = transcript(&|| redis.addr());
    let got = transcript(&|| tandem.addr());
    assert_eq!(
        want.iter().map(|r| escape(r)).collect::<Vec<_>>(),
        got.iter().map(|r| escape(r)).collect::<Vec<_>>()
    );
}

/// CONFIG SET port|bind move the listeners at runtime; an address that cannot be bound is
/// refused with redis's error and the server goes on listening where it was. Found through
/// Redis's unit/networking.
#[test]
fn config_set_port_and_bind_rebind_or_refuse() {
    let redis = RedisServer::start(ARGS);
    let tandem = TestServer::start(ARGS);
    let pairs = [(&*redis, tandem.port()), (&*tandem, redis.port())];
    let mut seen = Vec::new();
    for (server, taken) in pairs {
        let mut c = server.raw();
        let mut replies = vec![
            c.request_str(&["CONFIG", "SET", "bind", "999.999.999.999"]),
            c.request_str(&["CONFIG", "SET", "port", &taken.to_string()]),
            c.request_str(&["PING"]),
        ];
        let fresh = support::pick_free_port();
        replies.push(c.request_str(&["CONFIG", "SET", "port", &fresh.to_string()]));
        // The connection that asked stays; new ones go to the new port.
        replies.push(c.request_str(&["PING"]));
        let mut moved = RawConn::connect(([127, 0, 0, 1], fresh).into());
        replies.push(moved.request_str(&["PING"]));
        assert!(
            std::net::TcpStream::connect(server.addr()).is_err(),
            "{} still accepts on its old port",
            server.kind().name()
        );
        moved.request_str(&["CONFIG", "SET", "port", &server.port().to_string()]);
        seen.push(replies.iter().map(|r| escape(r)).collect::<Vec<_>>());
    }
    assert_eq!(seen[0], seen[1], "left: redis-server, right: tandem-server");
}

/// `used_memory` growth of `n` keys made by SETRANGE past their end.
fn setrange_growth(kind: support::ServerKind, n: usize) -> i64 {
    let server = support::start_node(kind, &[]);
    let used = |s: &support::Server| -> i64 {
        let info = String::from_utf8_lossy(&s.request(&["INFO", "memory"])).into_owned();
        info.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("used_memory")
    };
    let before = used(&server);
    for j in 0..n {
        let key = format!("k{j}");
        assert_eq!(
            server.request(&["SETRANGE", &key, "100000", "x"]),
            b":100001\r\n"
        );
    }
    used(&server) - before
}

/// A string SETRANGE creates takes its length's allocation, as in Redis (unit/maxmemory fills
/// memory this way and counts on it): it once took twice that, a growing buffer's doubling.
#[test]
fn setrange_new_key_allocates_its_length() {
    let n = 50;
    let tandem = setrange_growth(support::ServerKind::Tandem, n);
    let redis = setrange_growth(support::ServerKind::Redis, n);
    assert!(
        tandem < redis + redis / 5,
        "used_memory grew by {tandem} on Tandem, {redis} on Redis"
    );
}

/// `bind * -::*` (redis.conf's default) listens on IPv4 and IPv6 at once: the IPv6 socket is
/// IPv6-only, so it does not collide with the IPv4 one on the same port (Tandem skipped it
/// with "Address already in use").
#[test]
fn bind_any_listens_on_ipv4_and_ipv6() {
    let v6_loopback: std::net::SocketAddr = "[::1]:0".parse().expect("address");
    if std::net::TcpListener::bind(v6_loopback).is_err() {
        eprintln!("skipped: no IPv6 loopback on this machine");
        return;
    }
    let args = ["--save", "", "--bind", "* -::*"];
    let redis = RedisServer::start(&args);
    let tandem = TestServer::start(&args);
    let mut seen = Vec::new();
    for server in [&*redis, &*tandem] {
        let mut replies = Vec::new();
        for ip in ["127.0.0.1", "::1"] {
            let addr = std::net::SocketAddr::new(ip.parse().expect("ip"), server.port());
            let mut c = RawConn::try_connect(addr).unwrap_or_else(|e| {
                panic!("{} does not accept on {addr}: {e}", server.kind().name())
            });
            replies.push(escape(&c.request_str(&["PING"])));
        }
        seen.push(replies);
    }
    assert_eq!(seen[0], seen[1], "left: redis-server, right: tandem-server");
}
