//! Bounded fuzzing of the whole request path through the real binary: random commands with
//! random arguments (known command names, garbage names, binary bytes, huge and negative
//! numbers) and raw garbage bytes. The server must answer every well-formed request, never
//! crash, and keep serving other clients; every run is seeded and bounded in count and time.

mod support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use support::TestServer;

/// A small deterministic generator (xorshift), seeded per run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const NAMES: &[&str] = &[
    "SET",
    "GET",
    "INCR",
    "INCRBYFLOAT",
    "APPEND",
    "SETRANGE",
    "GETRANGE",
    "LPUSH",
    "LPOP",
    "LRANGE",
    "LINSERT",
    "LPOS",
    "HSET",
    "HINCRBYFLOAT",
    "HRANDFIELD",
    "SADD",
    "SPOP",
    "SRANDMEMBER",
    "SINTERCARD",
    "ZADD",
    "ZRANGE",
    "ZRANGEBYLEX",
    "ZUNIONSTORE",
    "ZRANDMEMBER",
    "EXPIRE",
    "PEXPIREAT",
    "OBJECT",
    "SCAN",
    "SORT",
    "BITFIELD",
    "BITPOS",
    "SETBIT",
    "LCS",
    "RESTORE",
    "DUMP",
    "COPY",
    "RENAME",
    "MULTI",
    "EXEC",
    "WATCH",
    "SELECT",
    "CONFIG",
    "COMMAND",
    "INFO",
    "DEBUG",
    "XYZZY",
    "EVAL",
    "BLPOP",
    "WAIT",
    "LMPOP",
    "ZMPOP",
    "GETEX",
    "SET",
];

fn random_arg(rng: &mut Rng) -> Vec<u8> {
    match rng.below(9) {
        0 => b"-9223372036854775808".to_vec(),
        1 => b"99999999999999999999999".to_vec(),
        2 => (0..rng.below(8)).map(|_| rng.below(256) as u8).collect(),
        3 => format!("{}", rng.below(20) as i64 - 5).into_bytes(),
        4 => ["k1", "k2", "k3"][rng.below(3) as usize]
            .as_bytes()
            .to_vec(),
        5 => [
            "NX",
            "XX",
            "GT",
            "LT",
            "EX",
            "PX",
            "KEEPTTL",
            "WITHSCORES",
            "LIMIT",
            "COUNT",
            "MATCH",
            "REV",
            "BYSCORE",
            "BYLEX",
        ][rng.below(14) as usize]
            .as_bytes()
            .to_vec(),
        6 => b"(1".to_vec(),
        7 => b"inf".to_vec(),
        _ => b"1.5".to_vec(),
    }
}

fn encode(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[test]
fn random_commands_never_break_the_server() {
    let server = TestServer::start(&["--enable-debug-command", "no"]);
    let seed = std::env::var("TANDEM_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_1234_u64);
    let mut rng = Rng(seed | 1);
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut sent = 0;
    let mut conn = server.raw();
    while sent < 6000 && Instant::now() < deadline {
        let name = NAMES[rng.below(NAMES.len() as u64) as usize];
        let mut args = vec![name.as_bytes().to_vec()];
        for _ in 0..rng.below(7) {
            args.push(random_arg(&mut rng));
        }
        if name == "BLPOP" || name == "WAIT" {
            // Bounded blocking: a zero timeout would wait forever.
            args.truncate(2);
            args.push(b"0.01".to_vec());
        }
        conn.send_cmd(&args.iter().map(|a| &a[..]).collect::<Vec<_>>());
        if let Err(e) = conn.try_read_reply() {
            let shown: Vec<String> = args
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            panic!("no reply to {shown:?} (command #{sent}, seed {seed:#x}): {e}");
        }
        sent += 1;
        if rng.below(300) == 0 {
            // A fresh connection now and then (MULTI/SELECT/subscribe state reset).
            conn = server.raw();
        }
    }
    // Raw garbage on fresh connections: a protocol error or silence, never a crash.
    for _ in 0..60 {
        let Ok(mut s) = std::net::TcpStream::connect(server.addr()) else {
            continue;
        };
        s.set_read_timeout(Some(Duration::from_millis(200))).ok();
        let junk: Vec<u8> = (0..rng.below(300)).map(|_| rng.below(256) as u8).collect();
        let _ = s.write_all(&junk);
        let _ = s.write_all(&encode(&[b"PING".to_vec()]));
        let mut buf = [0u8; 256];
        let _ = s.read(&mut buf);
    }
    let mut c = server.raw();
    assert_eq!(
        c.request(&[b"PING"]),
        b"+PONG\r\n",
        "the server still answers after fuzzing"
    );
    println!("fuzz: seed {seed:#x}, {sent} commands and 60 garbage connections");
}
