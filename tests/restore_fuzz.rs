//! Bounded differential fuzzing of RESTORE, Redis's `integration/corrupt-dump-fuzzer` in
//! miniature: values of every type and encoding are DUMPed by redis-server (plus hand-built
//! payloads of the pre-7.0 encodings Redis 7.0 no longer writes: ziplist, zipmap, intset,
//! quicklist of ziplists), one to four bytes are overwritten, and the payload is RESTOREd
//! into both servers with `sanitize-dump-payload yes` and checksums unchecked.
//!
//! Tandem must answer every RESTORE, accept only what Redis accepts, hold what it accepted as
//! Redis holds it (same `DEBUG DIGEST-VALUE`, and its own DUMP of it loads into Redis with that
//! digest), and refuse with Redis's error text. It may refuse what Redis accepts only where
//! Redis loads garbage (see `persistence/rdb/decode.rs`): a stream metadata field that is not a
//! length (Redis reports it and stores 2^64-1) and a packed zset score that is not a number
//! (Redis takes the number strtod finds at its start, often 0). Every such case is checked
//! against the reason Tandem logs.
//!
//! `TANDEM_RESTORE_FUZZ_SEED` and `TANDEM_RESTORE_FUZZ_CASES` change the run (default: a fixed
//! seed, 3000 payloads, a few seconds).

mod support;

use support::{aggregate_elements, escape, RawConn, RedisServer, Rng, TestServer};

/// The data set, on both servers: small (listpack) and big encodings of every type.
const FILL: &[&str] = &[
    "CONFIG SET list-max-listpack-size 5",
    "CONFIG SET hash-max-listpack-entries 5",
    "CONFIG SET zset-max-listpack-entries 5",
    "CONFIG SET stream-node-max-entries 5",
    "HSET hash 0 0 1 _1 2 2",
    "RPUSH list 0 _1 2",
    "ZADD zset 0 0 1 _1 2 2 3.5 x",
    "SADD set 0 _1 2",
    "SADD intset 1 -5 300 70000",
    "SADD intset64 1 1099511627776 -3",
    "SET int 12345",
    "SET string str",
    "SET long abcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabc",
    "HSET hashbig f0 a f1 b f2 c f3 d f4 e f5 f f6 g",
    "RPUSH listbig 0 _1 2 _3 4 _5 6 _7 8 _9 10 _11",
    "ZADD zsetbig 0 a 1 b 2 c 3 d 4 e 5 f 6.5 g",
    "SADD setbig a b c d e f 1 2 3",
    "XADD stream 1-1 item 1 value 0",
    "XADD stream 2-1 item 1 value _1",
    "XADD stream 3-1 item 1 value 2",
    "XGROUP CREATE stream mygroup 0",
    "XREADGROUP GROUP mygroup Alice COUNT 2 STREAMS stream >",
    "XDEL stream 1-1",
    "XACK stream mygroup 2-1",
    "XADD streambig 1-1 item 1 value 0",
    "XADD streambig 2-1 item 1 value _1",
    "XADD streambig 3-1 item 1 value 2",
    "XADD streambig 4-1 item 1 value _3",
    "XADD streambig 5-1 item 1 value 4",
    "XADD streambig 6-1 item 1 value _5",
    "XADD streambig 7-1 item 1 unique value",
    "XGROUP CREATE streambig g2 0",
    "XREADGROUP GROUP g2 Bob COUNT 4 STREAMS streambig >",
    "XREADGROUP GROUP g2 Carol COUNT 2 STREAMS streambig >",
];

/// Value payloads without their footer, of types Redis 7.0 reads but no longer writes:
/// list ziplist (10), quicklist of ziplists (14, a 5-byte prevlen after a 260-byte entry in
/// the hash), hash ziplist (13), zset ziplist (12, text scores), zipmap (9), intsets of
/// 16/32/64-bit integers (11), plain list (1), zset with text scores (3).
const LEGACY: &[&str] = &[
    "0a4081810000007c0000000c00000161030568656c6c6f07f602fefd03c02c0104f070110105e00000000000\
     0100000a4046787878787878787878787878787878787878787878787878787878787878787878787878787878\
     78787878787878787878787878787878787878787878787878787878787878490002fd02fe0d03c038ffff",
    "0e021e1e000000190000000500000161030568656c6c6f07f602fefd03c02c01ff406e6e0000006900000007\
     0000f070110105e000000000000100000a40467878787878787878787878787878787878787878787878787878\
     787878787878787878787878787878787878787878787878787878787878787878787878490002fd02fe0d03c0\
     38ffff",
    "0d41262601000021010000060000026631044104787878787878787878787878787878787878787878787878\
     7878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878\
     7878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878\
     7878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878\
     7878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878\
     7878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878\
     7878787878787878fe0701000002663208f802f402027631ff",
    "0c23230000001d000000060000026d3104f202026d320403322e3505026d330403696e66ff",
    "092903026b3102007631046b65793214007878787878787878787878787878787878787878026b330000ff",
    "0b100200000004000000f9ff010005002c01",
    "0b180400000004000000f9ffffff010000000500000070110100",
    "0b280800000004000000f9ffffffffffffff010000000000000005000000000000000000000000010000",
    "0103016101620163",
    "0302016103312e350162fe",
];

/// Why Tandem may refuse a payload Redis accepts (the reason it logs at verbose level).
const REDIS_LOADS_GARBAGE: &[&str] = &[
    "Unknown length encoding",
    "invalid score",
    "Invalid double value",
];

fn unhex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const ARGS: &[&str] = &[
    "--save",
    "",
    "--enable-debug-command",
    "yes",
    "--loglevel",
    "verbose",
];

/// As the Tcl fuzzer sets a server up: full sanitization, checksums unchecked.
const SETTINGS: &[&str] = &[
    "CONFIG SET sanitize-dump-payload yes",
    "DEBUG SET-SKIP-CHECKSUM-VALIDATION 1",
];

/// One request; `Err` when the server does not answer in time.
fn ask(con: &mut RawConn, args: &[&[u8]]) -> std::io::Result<Vec<u8>> {
    con.send_cmd(args);
    con.try_read_reply()
}

/// The body of a bulk string reply.
fn bulk(reply: &[u8]) -> &[u8] {
    let start = reply.iter().position(|&b| b == b'\n').map_or(0, |p| p + 1);
    assert!(
        reply.starts_with(b"$") && reply.len() >= start + 2,
        "{}",
        escape(reply)
    );
    &reply[start..reply.len() - 2]
}

fn is_ok(reply: &[u8]) -> bool {
    reply == b"+OK\r\n"
}

/// The last reason Tandem logged for refusing a payload.
fn last_refusal(log: &str) -> &str {
    log.lines()
        .rev()
        .find(|l| l.contains("Internal error in RDB reading"))
        .unwrap_or("")
}

#[test]
fn corrupt_payloads_restore_as_in_redis_or_are_refused() {
    let mut redis = RedisServer::start(ARGS);
    let tandem = TestServer::start(ARGS);
    for s in [&*redis, &*tandem] {
        s.run_lines(FILL);
        s.run_lines(SETTINGS);
    }
    let (mut r, mut t) = (redis.raw(), tandem.raw());
    let mut keys = aggregate_elements(&r.request(&[b"KEYS", b"*"])).expect("KEYS");
    keys.sort();
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    for key in &keys {
        let dump = r.request(&[b"DUMP", bulk(key)]);
        seeds.push(bulk(&dump).to_vec());
    }
    for body in LEGACY {
        let mut payload = unhex(body);
        payload.extend_from_slice(&[9, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        seeds.push(payload);
    }
    let seed = env_num("TANDEM_RESTORE_FUZZ_SEED", 0x5eed);
    let cases = env_num("TANDEM_RESTORE_FUZZ_CASES", 3000);
    let mut rng = Rng(seed);
    let mut failures: Vec<String> = Vec::new();
    let (mut accepted, mut refused, mut stricter, mut redis_stuck) = (0, 0, 0, 0);
    for _ in 0..cases {
        let mut p = rng.pick(&seeds).clone();
        let edits = if rng.chance(80) { 1 } else { 2 + rng.below(3) };
        for _ in 0..edits {
            let i = rng.below(p.len());
            p[i] = rng.next() as u8;
        }
        let restore: [&[u8]; 5] = [b"RESTORE", b"_k", b"0", &p, b"REPLACE"];
        let what = format!("payload {}", escape(&p));
        let ra = ask(&mut r, &restore);
        let ta = ask(&mut t, &restore)
            .unwrap_or_else(|e| panic!("tandem-server did not answer RESTORE ({e}): {what}"));
        let Ok(ra) = ra else {
            // Redis may take its time over a huge declared size (a set of 2^31 members makes
            // it size a hash table for them): not what is tested here.
            redis_stuck += 1;
            redis.restart();
            redis.run_lines(FILL);
            redis.run_lines(SETTINGS);
            r = redis.raw();
            continue;
        };
        match (is_ok(&ra), is_ok(&ta)) {
            (true, true) => {
                accepted += 1;
                let rd = r.request(&[b"DEBUG", b"DIGEST-VALUE", b"_k"]);
                let td = t.request(&[b"DEBUG", b"DIGEST-VALUE", b"_k"]);
                if rd != td {
                    failures.push(format!("digest {} vs {}: {what}", escape(&rd), escape(&td)));
                    continue;
                }
                // Tandem's own DUMP of what it loaded is a value Redis loads the same.
                let dump = t.request(&[b"DUMP", b"_k"]);
                let back = bulk(&dump);
                let rb = r.request(&[b"RESTORE", b"_t", b"0", back, b"REPLACE"]);
                let bd = r.request(&[b"DEBUG", b"DIGEST-VALUE", b"_t"]);
                if !is_ok(&rb) || bd != rd {
                    failures.push(format!("Tandem's DUMP {}: {what}", escape(back)));
                }
            }
            (false, true) => failures.push(format!("Redis said {}: {what}", escape(&ra))),
            (true, false) => {
                stricter += 1;
                let log = tandem.log_text();
                let why = last_refusal(&log);
                if !REDIS_LOADS_GARBAGE.iter().any(|r| why.contains(r)) {
                    failures.push(format!("refused ({why}) what Redis loads: {what}"));
                }
            }
            (false, false) => {
                refused += 1;
                if ra != ta {
                    failures.push(format!("{} vs {}: {what}", escape(&ra), escape(&ta)));
                }
            }
        }
    }
    assert_eq!(t.request(&[b"PING"]), b"+PONG\r\n");
    eprintln!(
        "restore_fuzz: seed {seed:#x}, {cases} payloads: {accepted} loaded by both, \
         {refused} refused by both, {stricter} refused by Tandem only (garbage in Redis), \
         {redis_stuck} not answered in time by Redis"
    );
    assert!(
        failures.is_empty(),
        "{} of {cases} payloads differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
