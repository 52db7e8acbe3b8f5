//! Replication interoperability (issue 4 item 7): Tandem and the reference redis-server 7.0.15
//! as master and replica of each other, Tandem-only topologies (two replicas, a chain), partial
//! resynchronization after a link cut under write load, and the observable surface (INFO
//! replication, ROLE, WAIT) compared field by field with a real Redis pair.
//!
//! Every scenario ends like redis' Tcl suite: the master's `master_repl_offset` equals every
//! replica's `slave_repl_offset`, and `DEBUG DIGEST` is equal on all nodes.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::proxy::Proxy;
use support::{
    aggregate_elements, encode_command, escape, log_lines, start_node as start,
    start_replica_node as start_replica, wait_in_sync, wait_link_up, wait_until, Server,
    ServerKind, Writer, WriterOptions, SYNC_TIMEOUT,
};

use ServerKind::{Redis, Tandem};

fn run_script(server: &Server, lines: &[String]) {
    server.run_lines(lines);
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("//"))
        .map(str::to_string)
        .collect()
}

/// A dataset of all 5 types, small and large encodings, expiries and several dbs.
fn initial_dataset() -> Vec<String> {
    let mut out = lines(
        r#"
        SET str:plain hello
        SET str:int 12345
        SET str:neg -42
        SET str:ex v EX 10000
        SET str:px v PX 9000000
        SET str:binary "a\x00b\r\n\xff"
        MSET m1 a m2 b m3 c
        INCRBYFLOAT fl 3.25
        SET gone soon PX 150
        RPUSH list:small a b c 1 2 3 -7
        LPUSH list:ex x y z
        EXPIRE list:ex 5000
        HSET hash:small f1 v1 f2 2 f3 3.5
        SADD set:int 1 2 3 100 -5
        SADD set:str a b c d e
        ZADD zset:small 1 a 2 b 3.5 c -1 d
        ZADD zset:inf +inf top -inf bottom 0 zero
        SELECT 1
        SET db1:k v
        RPUSH db1:l a b
        HSET db1:h f v
        SETEX db1:ex 3000 v
        SELECT 9
        SADD db9:s x y
        ZADD db9:z 1 one 2 two
        SET db9:short v PX 300
        SELECT 15
        SET db15:k v
        SELECT 0
        PFADD hll:sparse a b c d
        PFADD hll:dense x y
        GEOADD geo:set 13.361389 38.115556 Palermo 15.087269 37.502669 Catania
        "#,
    );
    let big = |cmd: &str, key: &str, n: usize, item: &dyn Fn(usize) -> String| {
        let items: Vec<String> = (0..n).map(item).collect();
        format!("{cmd} {key} {}", items.join(" "))
    };
    out.push(format!("SET str:big {}", "b".repeat(700)));
    out.push(big("RPUSH", "list:big", 300, &|i| format!("item{i}")));
    out.push(big("RPUSH", "list:longval", 3, &|i| {
        format!("{i}{}", "L".repeat(100))
    }));
    out.push(big("HSET", "hash:big", 300, &|i| format!("f{i} {i}")));
    out.push(big("HSET", "hash:longval", 2, &|i| {
        format!("f{i} {}", "H".repeat(100))
    }));
    out.push(big("SADD", "set:big", 600, &|i| format!("m{i}")));
    out.push(big("SADD", "set:bigint", 600, &|i| format!("{}", i * 7)));
    out.push(big("ZADD", "zset:big", 300, &|i| format!("{}.5 m{i}", i)));
    out.push(big("ZADD", "zset:longval", 2, &|i| {
        format!("{i} {}", "Z".repeat(100))
    }));
    out
}

/// Writes while the replica may still be syncing.
fn streaming_writes_1() -> Vec<String> {
    lines(
        r#"
        SET after:1 v
        SET lazy v PX 1
        MULTI
        SET tx:a 1
        INCR tx:a
        RPUSH tx:l a b
        SELECT 1
        SET tx:db1 1
        EXEC
        SELECT 0
        EXPIRE str:plain 10000
        PEXPIRE hash:small 8000000
        EXPIREAT set:str 4000000000
        INCRBYFLOAT fl 1.1
        INCRBYFLOAT newfl 1e3
        HINCRBYFLOAT hash:small f3 0.25
        SPOP set:int
        SPOP set:big 5
        SRANDMEMBER set:big 3
        LMPOP 2 nope list:small LEFT COUNT 2
        LMPOP 1 list:big RIGHT COUNT 10
        LPOP list:big 3
        "#,
    )
}

/// Writes once the link is up (every rewrite family of spec §3.4 that Tandem implements).
fn streaming_writes_2() -> Vec<String> {
    lines(
        r#"
        SET lazy v2
        EXPIRE str:neg -1
        SPOP set:str 100
        RPOPLPUSH list:big list:moved
        LMOVE list:big list:moved LEFT RIGHT
        ZPOPMIN zset:big 3
        ZINCRBY zset:small 2.5 a
        ZADD zset:small INCR 1 b
        ZREMRANGEBYSCORE zset:big 10 20
        SINTERSTORE set:inter set:big set:bigint
        SUNIONSTORE set:union set:int set:str
        ZUNIONSTORE zset:union 2 zset:small zset:big WEIGHTS 2 1
        GETSET str:int 99
        GETDEL m1
        GETEX m2 EX 5000
        SETEX setex:k 5000 v
        SET setget v2 GET
        SET str:ex v3 KEEPTTL
        SETRANGE str:plain 20 tail
        APPEND str:big more
        SETBIT bits 100 1
        BITOP OR bits2 bits
        COPY hash:big hash:copy
        RENAME list:small list:renamed
        DEL m3
        UNLINK str:px
        PERSIST str:ex
        HDEL hash:big f1 f2
        SREM set:big m7
        ZREM zset:big m100
        LSET list:moved 0 newval
        LINSERT list:moved BEFORE newval ins
        LTRIM list:big 0 100
        HSETNX hash:small f9 v
        MSETNX x1 1 x2 2
        INCRBY str:int 5
        DECR str:int
        SELECT 3
        SET db3:a 1
        RPUSH db3:l x
        FLUSHDB
        SET db3:after 1
        SELECT 1
        FLUSHDB
        SET db1:new 1
        SELECT 5
        HSET db5:h a 1
        SWAPDB 5 6
        SELECT 0
        MULTI
        SET tx2 1
        EXPIRE tx2 100
        SPOP set:bigint 3
        EXEC
        MULTI
        SET only-one 1
        EXEC
        PFADD hll:sparse e f
        PFCOUNT hll:sparse
        PFDEBUG TODENSE hll:dense
        PFMERGE hll:merged hll:sparse hll:dense
        GEOADD geo:set CH 12.5 37.8 Marsala
        GEORADIUS geo:set 15 37 200 km STORE geo:store
        GEOSEARCHSTORE geo:dist geo:set FROMLONLAT 15 37 BYRADIUS 200 km STOREDIST
        "#,
    )
}

/// Master of `master_kind` with the mixed dataset; replicas of `replica_kinds` attach, more
/// writes arrive during and after their sync; everything converges.
fn full_then_streaming(
    master_kind: ServerKind,
    replica_kinds: &[ServerKind],
) -> (Server, Vec<Server>) {
    let master = start(master_kind, &[]);
    run_script(&master, &initial_dataset());
    let replicas: Vec<Server> = replica_kinds
        .iter()
        .map(|&k| start_replica(k, master.port(), &[]))
        .collect();
    run_script(&master, &streaming_writes_1());
    for r in &replicas {
        wait_link_up(r, SYNC_TIMEOUT);
    }
    run_script(&master, &streaming_writes_2());
    let refs: Vec<&Server> = replicas.iter().collect();
    wait_in_sync(&master, &refs, SYNC_TIMEOUT);
    // The comparison is not vacuous: data in several dbs made it across.
    let keyspace = master.info("keyspace");
    for db in ["db0", "db1", "db3", "db6", "db9", "db15"] {
        assert!(
            keyspace.iter().any(|(k, _)| k == db),
            "{db} missing on the master: {keyspace:?}"
        );
    }
    for r in &replicas {
        let counts = |s: &Server| -> Vec<(String, String)> {
            s.info("keyspace")
                .into_iter()
                .map(|(db, v)| (db, v.split(",avg_ttl").next().unwrap_or("").to_string()))
                .collect()
        };
        assert_eq!(
            counts(&master),
            counts(r),
            "keyspace of {} vs {}",
            master.label(),
            r.label()
        );
    }
    (master, replicas)
}

// ---------------------------------------------------------------------------------------------
// 1, 2: interop

#[test]
fn tandem_master_to_redis_replica() {
    full_then_streaming(Tandem, &[Redis]);
}

#[test]
fn redis_master_to_tandem_replica() {
    full_then_streaming(Redis, &[Tandem]);
}

// ---------------------------------------------------------------------------------------------
// 3: Tandem topologies

#[test]
fn tandem_master_with_two_tandem_replicas() {
    let (master, replicas) = full_then_streaming(Tandem, &[Tandem, Tandem]);
    let id = master.info_field("replication", "master_replid");
    for r in &replicas {
        assert_eq!(
            r.info_field("replication", "master_replid"),
            id,
            "{}",
            r.label()
        );
    }
    assert_eq!(master.info_i64("replication", "connected_slaves"), 2);
}

#[test]
fn tandem_chain_master_replica_subreplica() {
    let master = start(Tandem, &[]);
    run_script(&master, &initial_dataset());
    let middle = start_replica(Tandem, master.port(), &[]);
    wait_link_up(&middle, SYNC_TIMEOUT);
    run_script(&master, &streaming_writes_1());
    let leaf = start_replica(Tandem, middle.port(), &[]);
    wait_link_up(&leaf, SYNC_TIMEOUT);
    run_script(&master, &streaming_writes_2());
    wait_in_sync(&master, &[&middle, &leaf], SYNC_TIMEOUT);
    // Spec §4.6: replid and offsets identical down the chain.
    let fields = |s: &Server| {
        let info = s.info("replication");
        let get = |k: &str| info.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        (get("master_replid"), get("master_repl_offset"))
    };
    let top = fields(&master);
    assert!(top.0.is_some() && top.1.is_some());
    assert_eq!(fields(&middle), top, "intermediate replica");
    assert_eq!(fields(&leaf), top, "sub-replica");
    assert_eq!(middle.info_i64("replication", "connected_slaves"), 1);
    // The sub-replica's backlog starts where it joined, not at 1.
    let first = leaf.info_i64("replication", "repl_backlog_first_byte_offset");
    assert!(first > 1, "sub-replica backlog first byte {first}");
}

// ---------------------------------------------------------------------------------------------
// 4 (+11): partial resync after a link cut, under a full-speed writer

/// Master ← proxy ← replica. The proxy drops the link and refuses reconnects for a moment
/// while writes continue (with `full_speed`, a pipelined writer thread runs before, during and
/// after the cut; otherwise only a scripted batch of writes happens during the cut). Once the
/// replica is back it must have continued with a partial resync (master `sync_partial_ok`
/// grows, `sync_full` unchanged) and converge.
fn partial_resync_after_cut(master_kind: ServerKind, replica_kind: ServerKind, full_speed: bool) {
    // A backlog sized for the write rate (a full-speed writer makes ~20 MB/s here), as an
    // operator would configure it.
    let master = start(master_kind, &["--repl-backlog-size", "256mb"]);
    run_script(&master, &initial_dataset());
    let proxy = Proxy::start(master.addr());
    let replica = start_replica(replica_kind, proxy.port(), &[]);
    wait_link_up(&replica, SYNC_TIMEOUT);
    wait_in_sync(&master, &[&replica], SYNC_TIMEOUT);
    let full_before = master.info_i64("stats", "sync_full");
    let partial_before = master.info_i64("stats", "sync_partial_ok");
    assert_eq!(full_before, 1);

    let writer = full_speed.then(|| {
        Writer::start(
            master.addr(),
            WriterOptions {
                prefix: "w4".into(),
                ..WriterOptions::default()
            },
        )
    });
    if let Some(w) = &writer {
        assert!(
            w.wait_ops(2_000, SYNC_TIMEOUT),
            "writer stalled before the cut"
        );
    }
    proxy.set_refuse(true);
    proxy.cut();
    assert!(
        wait_until(SYNC_TIMEOUT, || {
            master
                .info_field("replication", "connected_slaves")
                .as_deref()
                == Some("0")
                && replica
                    .info_field("replication", "master_link_status")
                    .as_deref()
                    == Some("down")
        }),
        "the cut was not noticed: master {:?} replica {:?}",
        master.try_info("replication"),
        replica.try_info("replication")
    );
    if let Some(w) = &writer {
        let at_cut = w.ops();
        assert!(
            w.wait_ops(at_cut + 3_000, SYNC_TIMEOUT),
            "writer stalled during the cut"
        );
    }
    run_script(&master, &streaming_writes_1());
    let offset_gap = master.info_i64("replication", "master_repl_offset")
        - replica.info_i64("replication", "slave_repl_offset");
    assert!(offset_gap > 0, "no writes during the cut");
    proxy.set_refuse(false);
    wait_link_up(&replica, SYNC_TIMEOUT);
    run_script(&master, &streaming_writes_2());
    if let Some(w) = writer {
        let after = w.ops();
        assert!(
            w.wait_ops(after + 2_000, SYNC_TIMEOUT),
            "writer stalled after the reconnect"
        );
        let report = w.stop();
        assert!(report.error.is_none(), "writer: {report:?}");
    }
    wait_in_sync(&master, &[&replica], SYNC_TIMEOUT);

    assert_eq!(
        master.info_i64("stats", "sync_full"),
        full_before,
        "a full sync happened after a short cut ({offset_gap} bytes behind); master log: {:?}",
        log_lines(&master, "esync")
    );
    assert!(
        master.info_i64("stats", "sync_partial_ok") > partial_before,
        "sync_partial_ok did not grow"
    );
    assert!(
        !log_lines(
            &replica,
            "Successful partial resynchronization with master."
        )
        .is_empty(),
        "replica log lacks the partial resync line"
    );
    assert!(!log_lines(&master, "Partial resynchronization request from").is_empty());
}

#[test]
fn partial_resync_tandem_master_tandem_replica() {
    partial_resync_after_cut(Tandem, Tandem, false);
}

#[test]
fn partial_resync_tandem_master_redis_replica() {
    partial_resync_after_cut(Tandem, Redis, false);
}

#[test]
fn partial_resync_redis_master_tandem_replica() {
    partial_resync_after_cut(Redis, Tandem, false);
}

#[test]
fn partial_resync_under_full_speed_writes_tandem_master_tandem_replica() {
    partial_resync_after_cut(Tandem, Tandem, true);
}

#[test]
fn partial_resync_under_full_speed_writes_tandem_master_redis_replica() {
    partial_resync_after_cut(Tandem, Redis, true);
}

#[test]
fn partial_resync_under_full_speed_writes_redis_master_tandem_replica() {
    partial_resync_after_cut(Redis, Tandem, true);
}

// ---------------------------------------------------------------------------------------------
// EOF-marked (diskless) full sync on the wire: the master must not stream anything after the
// end mark before the replica's first REPLCONF ACK (spec §2.3) — a replica looks for the mark
// at the end of what it has read, so stream bytes glued to the mark hide it.

/// Reads from `stream` into `buf` until `done(buf)` or `timeout`; returns whether `done` held.
fn read_until(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    timeout: Duration,
    done: impl Fn(&[u8]) -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    let mut chunk = [0u8; 64 * 1024];
    while !done(buf) {
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        stream
            .set_read_timeout(Some((deadline - now).max(Duration::from_millis(1))))
            .unwrap();
        match stream.read(&mut chunk) {
            Ok(0) => return done(buf),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("fake replica read: {e}"),
        }
    }
    true
}

/// A fake replica full-syncs (capa eof) from a master of `kind`; a write happens right after
/// the payload's end mark arrived. Returns (bytes received after the mark before any ACK,
/// bytes received after sending REPLCONF ACK).
fn eof_sync_then_ack(kind: ServerKind) -> (Vec<u8>, Vec<u8>) {
    let master = start(kind, &[]);
    run_script(&master, &lines("SET a 1\nRPUSH l x y"));
    let mut s = TcpStream::connect(master.addr()).unwrap();
    s.set_nodelay(true).unwrap();
    let mut buf = Vec::new();
    s.write_all(&encode_command(&[b"PING"])).unwrap();
    assert!(read_until(&mut s, &mut buf, SYNC_TIMEOUT, |b| b.ends_with(b"\r\n")));
    assert_eq!(buf, b"+PONG\r\n");
    buf.clear();
    let mut hs = encode_command(&[b"REPLCONF", b"listening-port", b"1"]);
    hs.extend(encode_command(&[
        b"REPLCONF",
        b"capa",
        b"eof",
        b"capa",
        b"psync2",
    ]));
    s.write_all(&hs).unwrap();
    assert!(
        read_until(&mut s, &mut buf, SYNC_TIMEOUT, |b| b == b"+OK\r\n+OK\r\n"),
        "{}",
        escape(&buf)
    );
    buf.clear();
    // PSYNC only once the REPLCONF replies are read, as a real replica does.
    s.write_all(&encode_command(&[b"PSYNC", b"?", b"-1"]))
        .unwrap();
    // [\n...] +FULLRESYNC <id> <off>\r\n [\n...] $EOF:<mark>\r\n <rdb> <mark>
    let header_end = |b: &[u8]| {
        let text = String::from_utf8_lossy(b);
        text.find("$EOF:")
            .and_then(|i| text[i..].find("\r\n").map(|j| i + j + 2))
    };
    assert!(
        read_until(&mut s, &mut buf, SYNC_TIMEOUT, |b| header_end(b).is_some()),
        "no $EOF: header from {}: {}",
        master.label(),
        escape(&buf)
    );
    let text = String::from_utf8_lossy(&buf).into_owned();
    let full = text.find("+FULLRESYNC ").expect("+FULLRESYNC line");
    let off: String = text[full..].split_whitespace().nth(2).unwrap().to_string();
    let eof = text.find("$EOF:").unwrap();
    let mark = buf[eof + 5..eof + 45].to_vec();
    let start = header_end(&buf).unwrap();
    let mut payload = buf.split_off(start);
    let mark_at = |p: &[u8]| p.windows(40).position(|w| w == mark.as_slice());
    assert!(
        read_until(&mut s, &mut payload, SYNC_TIMEOUT, |p| mark_at(p).is_some()),
        "no end mark from {}",
        master.label()
    );
    let mut after_mark = payload.split_off(mark_at(&payload).unwrap() + 40);
    // A write after the transfer: it is in the stream, to be sent once the replica ACKs.
    run_script(&master, &["SET after-sync 1".to_string()]);
    let _ = read_until(&mut s, &mut after_mark, Duration::from_millis(500), |_| {
        false
    });
    // Now ACK, as a real replica does right after loading (repeated: an ACK that races ahead
    // of the master noticing the end of the transfer is not enough for Redis).
    let mut after_ack = Vec::new();
    let ack = encode_command(&[b"REPLCONF", b"ACK", off.as_bytes()]);
    let deadline = Instant::now() + SYNC_TIMEOUT;
    while !String::from_utf8_lossy(&after_ack).contains("after-sync") && Instant::now() < deadline {
        s.write_all(&ack).unwrap();
        let _ = read_until(&mut s, &mut after_ack, Duration::from_millis(200), |b| {
            String::from_utf8_lossy(b).contains("after-sync")
        });
    }
    (after_mark, after_ack)
}

#[test]
fn eof_sync_streams_only_after_the_first_ack() {
    let (redis_early, redis_late) = eof_sync_then_ack(Redis);
    assert_eq!(
        escape(&redis_early),
        "",
        "reference: nothing after the mark before the ACK"
    );
    assert!(String::from_utf8_lossy(&redis_late).contains("after-sync"));
    let (early, late) = eof_sync_then_ack(Tandem);
    assert_eq!(
        escape(&early),
        "",
        "Tandem streamed right after the EOF mark, before the replica's first REPLCONF ACK"
    );
    assert!(
        String::from_utf8_lossy(&late).contains("after-sync"),
        "stream after the ACK: {}",
        escape(&late)
    );
}

// ---------------------------------------------------------------------------------------------
// 5: INFO replication, ROLE, WAIT against a real Redis pair

/// What one master+replica pair shows, normalized so that a Redis pair and a Tandem pair can
/// be compared: field names in order, and the values that do not depend on timing or ids.
#[derive(Debug, PartialEq)]
struct PairView {
    master_info: Vec<(String, String)>,
    replica_info: Vec<(String, String)>,
    master_role: String,
    replica_role: String,
    stats_fields: Vec<String>,
    wait_after_write: String,
    wait_two: String,
    wait_on_replica: String,
}

/// Values that legitimately differ between runs are replaced by placeholders.
fn normalize_info(
    info: Vec<(String, String)>,
    master_port: u16,
    replica_port: u16,
) -> Vec<(String, String)> {
    info.into_iter()
        .map(|(k, v)| {
            let v = match k.as_str() {
                "master_replid" => {
                    assert_eq!(v.len(), 40, "{k}:{v}");
                    "<id>".into()
                }
                "master_last_io_seconds_ago"
                | "slave_read_repl_offset"
                | "slave_repl_offset"
                | "master_repl_offset"
                | "repl_backlog_histlen" => {
                    assert!(v.parse::<i64>().is_ok(), "{k}:{v}");
                    "<n>".into()
                }
                "master_port" if v == master_port.to_string() => "<master_port>".into(),
                _ if k.starts_with("slave") && v.starts_with("ip=") => {
                    // ip=127.0.0.1,port=P,state=online,offset=N,lag=L
                    v.split(',')
                        .map(|kv| match kv.split_once('=') {
                            Some(("port", p)) if p == replica_port.to_string() => {
                                "port=<replica_port>".into()
                            }
                            Some(("offset", n)) | Some(("lag", n)) if n.parse::<i64>().is_ok() => {
                                format!("{}=<n>", kv.split('=').next().unwrap())
                            }
                            _ => kv.to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join(",")
                }
                _ => v,
            };
            (k, v)
        })
        .collect()
}

/// The type structure of a RESP reply, keeping only bulk strings that are protocol words.
fn role_shape(reply: &[u8], master_port: u16, replica_port: u16) -> String {
    match reply.first() {
        Some(b'*') => match aggregate_elements(reply) {
            Some(items) => format!(
                "[{}]",
                items
                    .iter()
                    .map(|i| role_shape(i, master_port, replica_port))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            None => escape(reply),
        },
        Some(b'$') => {
            let text = support::bulk_text(reply).unwrap_or_default();
            match text.as_str() {
                "master" | "slave" | "connected" | "127.0.0.1" => format!("${text}"),
                t if t == replica_port.to_string() => "$<replica_port>".into(),
                t if t.parse::<i64>().is_ok() => "$<n>".into(),
                _ => format!("$?{text}"),
            }
        }
        Some(b':') => {
            let text = String::from_utf8_lossy(&reply[1..]).trim_end().to_string();
            if text == master_port.to_string() {
                ":<master_port>".into()
            } else {
                ":<n>".into()
            }
        }
        _ => escape(reply),
    }
}

fn observe_pair(kind: ServerKind) -> (PairView, Duration) {
    let master = start(kind, &[]);
    let replica = start_replica(kind, master.port(), &[]);
    wait_link_up(&replica, SYNC_TIMEOUT);
    let (mp, rp) = (master.port(), replica.port());

    let mut con = master.raw();
    con.set_timeout(Duration::from_secs(10));
    assert_eq!(con.request_str(&["SET", "k", "v"]), b"+OK\r\n");
    let wait_after_write = escape(&con.request_str(&["WAIT", "1", "5000"]));
    wait_in_sync(&master, &[&replica], SYNC_TIMEOUT);
    // ROLE lists only online replicas with their ACK offset; let the periodic ACK settle.
    let master_role = role_shape(&master.request(&["ROLE"]), mp, rp);
    let replica_role = role_shape(&replica.request(&["ROLE"]), mp, rp);
    let master_info = normalize_info(master.info("replication"), mp, rp);
    let replica_info = normalize_info(replica.info("replication"), mp, rp);
    let stats_fields = master
        .info("stats")
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| k.starts_with("sync_") || k.contains("repl"))
        .collect();

    assert_eq!(con.request_str(&["SET", "k2", "v"]), b"+OK\r\n");
    let t0 = Instant::now();
    let wait_two = escape(&con.request_str(&["WAIT", "2", "1000"]));
    let waited = t0.elapsed();
    let wait_on_replica = escape(&replica.request(&["WAIT", "1", "100"]));
    (
        PairView {
            master_info,
            replica_info,
            master_role,
            replica_role,
            stats_fields,
            wait_after_write,
            wait_two,
            wait_on_replica,
        },
        waited,
    )
}

#[test]
fn info_role_and_wait_match_a_redis_pair() {
    let (want, redis_waited) = observe_pair(Redis);
    let (got, tandem_waited) = observe_pair(Tandem);
    assert_eq!(want.wait_after_write, ":1\\r\\n");
    assert_eq!(want.wait_two, ":1\\r\\n");
    assert!(
        redis_waited >= Duration::from_millis(950),
        "{redis_waited:?}"
    );
    let keys = |v: &[(String, String)]| v.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    assert_eq!(
        keys(&got.master_info),
        keys(&want.master_info),
        "master INFO replication field order"
    );
    assert_eq!(
        keys(&got.replica_info),
        keys(&want.replica_info),
        "replica INFO replication field order"
    );
    assert_eq!(
        got.master_info, want.master_info,
        "master INFO replication values"
    );
    assert_eq!(
        got.replica_info, want.replica_info,
        "replica INFO replication values"
    );
    assert_eq!(got.master_role, want.master_role, "master ROLE");
    assert_eq!(got.replica_role, want.replica_role, "replica ROLE");
    assert_eq!(
        got.stats_fields, want.stats_fields,
        "INFO stats replication fields"
    );
    assert_eq!(
        got.wait_after_write, want.wait_after_write,
        "WAIT 1 after a write"
    );
    assert_eq!(got.wait_two, want.wait_two, "WAIT 2 with one replica");
    assert!(
        tandem_waited >= Duration::from_millis(950) && tandem_waited < Duration::from_millis(3000),
        "WAIT 2 1000 returned after {tandem_waited:?} (redis: {redis_waited:?})"
    );
    assert_eq!(
        got.wait_on_replica, want.wait_on_replica,
        "WAIT on a replica"
    );
}

// ---------------------------------------------------------------------------------------------
// A replica's link carries no replies: a "replica" that sends a command after PSYNC is
// disconnected, with Redis's log line, on either master (found by the Tcl suite's "replica do
// not write the reply to the replication link" tests).

/// PSYNC ? -1 from a fake replica, then GET on the same link: returns the `+FULLRESYNC` line
/// and whether the master closed the link; the master's log must name the command.
fn rogue_replica(kind: ServerKind) -> String {
    let master = start(
        kind,
        &[
            "--repl-diskless-sync",
            "yes",
            "--repl-diskless-sync-delay",
            "0",
        ],
    );
    let mut con = master.raw();
    con.set_timeout(Duration::from_secs(10));
    con.send_cmd(&[b"PSYNC", b"replicationid", b"-1"]);
    // Sent at once (no keep-alive newline first), with offset 0: nothing was written yet.
    let full = con.read_reply_raw();
    let full = String::from_utf8_lossy(&full).into_owned();
    con.send_cmd(&[b"GET", b"foo"]);
    con.read_until_closed()
        .unwrap_or_else(|e| panic!("{}: {e}", master.label()));
    let log = master.log_text();
    assert!(
        wait_until(SYNC_TIMEOUT, || master.log_text().contains(
            "Replica generated a reply to command 'get', disconnecting it: "
        )),
        "{} log: {log}",
        master.label()
    );
    assert!(master
        .log_text()
        .contains("Replica can't interact with the keyspace"));
    // CONFIG RESETSTAT zeroes the sync counters.
    let info = |name: &str| {
        master
            .info("stats")
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
            .unwrap_or_default()
    };
    assert_eq!(info("sync_full"), "1", "{}", master.label());
    master.request(&["CONFIG", "RESETSTAT"]);
    assert_eq!(info("sync_full"), "0", "{}", master.label());
    let mut shape: Vec<&str> = full.split_whitespace().collect();
    shape[1] = "<replid>";
    shape.join(" ")
}

#[test]
fn replica_sending_a_command_is_disconnected_like_redis() {
    assert_eq!(rogue_replica(Redis), rogue_replica(Tandem));
}

// ---------------------------------------------------------------------------------------------
// A writable replica deletes the keys its own clients gave a TTL once it passed (nobody else
// would: its master never heard of them), while its master's keys wait for the master's DEL.

/// (DBSIZE right after the writes, DBSIZE once the local key's TTL passed) on the replica.
fn writable_replica_expiry(kind: ServerKind) -> (String, String) {
    let master = start(kind, &[]);
    let replica = start_replica(kind, master.port(), &["--replica-read-only", "no"]);
    wait_link_up(&replica, SYNC_TIMEOUT);
    run_script(&replica, &lines("SET local 1 PX 200\nSET kept 1"));
    let before = escape(&replica.request(&["DBSIZE"]));
    let mut after = String::new();
    // Both servers must get there; the pair compared is what each showed.
    let _ = wait_until(Duration::from_secs(5), || {
        after = escape(&replica.request(&["DBSIZE"]));
        after == ":1\\r\\n"
    });
    (before, after)
}

#[test]
fn writable_replica_expires_its_own_keys_like_redis() {
    let redis = writable_replica_expiry(Redis);
    assert_eq!(redis, (":2\\r\\n".to_string(), ":1\\r\\n".to_string()));
    assert_eq!(redis, writable_replica_expiry(Tandem));
}

/// A replica under CLIENT PAUSE WRITE keeps reading its master's stream but holds back the
/// writes in it (redis postpones its master client's command): `slave_read_repl_offset` goes on,
/// `slave_repl_offset` and ROLE's offset stay until CLIENT UNPAUSE. Returns, while paused, how
/// far the applied offsets are behind the master and GET of the new key; then GET after unpause.
fn paused_replica_offsets(kind: ServerKind) -> Vec<String> {
    let master = start(kind, &[]);
    let replica = start_replica(kind, master.port(), &[]);
    wait_link_up(&replica, SYNC_TIMEOUT);
    assert_eq!(master.request(&["SET", "foo", "bar"]), b"+OK\r\n");
    wait_in_sync(&master, &[&replica], SYNC_TIMEOUT);
    let offset = |s: &Server, field: &str| -> i64 {
        s.info_field("replication", field)
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1)
    };
    assert_eq!(
        replica.request(&["CLIENT", "PAUSE", "100000", "WRITE"]),
        b"+OK\r\n"
    );
    assert_eq!(master.request(&["SET", "foo2", "bar2"]), b"+OK\r\n");
    let end = offset(&master, "master_repl_offset");
    assert!(
        wait_until(SYNC_TIMEOUT, || offset(&replica, "slave_read_repl_offset")
            == end),
        "{}: the paused replica did not read the stream",
        replica.label()
    );
    std::thread::sleep(Duration::from_millis(200));
    let role = replica.request(&["ROLE"]);
    let role_offset = escape(&role)
        .rsplit(':')
        .next()
        .and_then(|t| t.trim_end_matches("\\r\\n").parse::<i64>().ok())
        .unwrap_or(-1);
    let mut seen = vec![
        // SET foo2 bar2 is 33 bytes of the stream (a PING may follow it).
        format!(
            "held back {}",
            end - offset(&replica, "slave_repl_offset") >= 33
        ),
        format!("role held back {}", end - role_offset >= 33),
        escape(&replica.request(&["GET", "foo2"])),
    ];
    assert_eq!(replica.request(&["CLIENT", "UNPAUSE"]), b"+OK\r\n");
    wait_in_sync(&master, &[&replica], SYNC_TIMEOUT);
    seen.push(escape(&replica.request(&["GET", "foo2"])));
    seen
}

#[test]
fn paused_replica_reads_its_master_but_applies_after_unpause_like_redis() {
    let redis = paused_replica_offsets(Redis);
    assert_eq!(
        redis[..2],
        ["held back true", "role held back true"],
        "{redis:?}"
    );
    assert_eq!(redis, paused_replica_offsets(Tandem));
}

/// A master turned into a replica (SLAVEOF, as a sentinel's failover does) answers its clients
/// blocked in BLPOP and WAIT with `-UNBLOCKED ...` and closes them; the BLPOP must not pop
/// what its new master pushes (redis issue #2473). Returns what each client got, then the list
/// on both nodes.
fn blocked_clients_at_role_change(kind: ServerKind) -> Vec<String> {
    let a = start(kind, &[]);
    let b = start(kind, &[]);
    let mut blpop = a.raw();
    blpop.send_cmd(&[b"BLPOP", b"foo", b"0"]);
    let mut wait = a.raw();
    wait.send_cmd(&[b"WAIT", b"1", b"0"]);
    assert!(
        wait_until(SYNC_TIMEOUT, || a
            .info_field("clients", "blocked_clients")
            .as_deref()
            == Some("2")),
        "{}: the clients did not block",
        a.label()
    );
    let port = b.port().to_string();
    assert_eq!(a.request(&["SLAVEOF", "127.0.0.1", &port]), b"+OK\r\n");
    let mut seen = Vec::new();
    for con in [&mut blpop, &mut wait] {
        let got = con.read_until_closed();
        seen.push(format!("{:?}", got.map(|r| escape(&r))));
    }
    wait_link_up(&a, SYNC_TIMEOUT);
    assert_eq!(b.request(&["RPUSH", "foo", "a", "b", "c"]), b":3\r\n");
    wait_in_sync(&b, &[&a], SYNC_TIMEOUT);
    for node in [&a, &b] {
        seen.push(escape(&node.request(&["LRANGE", "foo", "0", "-1"])));
    }
    seen
}

#[test]
fn role_change_unblocks_and_closes_blocked_clients_like_redis() {
    let tandem = blocked_clients_at_role_change(Tandem);
    assert_eq!(tandem, blocked_clients_at_role_change(Redis));
}

/// `REPLICAOF` to the same master under another name (`localhost`, as Sentinel's hostname
/// setups do) closes the old link at once, as Redis frees its master client inside the
/// command: the master never lists the replica twice (a sentinel reading that INFO counts a
/// replica per address, for good). Returns the most replicas the master listed meanwhile.
fn most_replicas_listed_across_replicaof(kind: ServerKind) -> usize {
    let master = start(kind, &[]);
    let replica = start_replica(kind, master.port(), &[]);
    wait_link_up(&replica, SYNC_TIMEOUT);
    let port = master.port().to_string();
    assert_eq!(
        replica.request(&["REPLICAOF", "localhost", &port]),
        b"+OK\r\n"
    );
    let mut most = 0;
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        let listed = master
            .info("replication")
            .iter()
            .filter(|(k, _)| k.starts_with("slave"))
            .count();
        most = most.max(listed);
        std::thread::sleep(Duration::from_millis(2));
    }
    wait_link_up(&replica, SYNC_TIMEOUT);
    most
}

#[test]
fn replicaof_closes_the_old_link_at_once_like_redis() {
    assert_eq!(most_replicas_listed_across_replicaof(Redis), 1);
    assert_eq!(most_replicas_listed_across_replicaof(Tandem), 1);
}

// ---------------------------------------------------------------------------------------------
// Streams: consumer groups reach the replica through what the master propagates (XCLAIM,
// XGROUP SETID / CREATECONSUMER, concrete IDs, exact trims), in both directions with Redis.

/// The group state a replica must share with its master, without the clocks (idle times are
/// measured at each node's own instant). Not compared, as Redis's replicas differ there too:
/// a group's `entries-read` and `lag` (XCLAIM ... LASTID carries no read counter) and the
/// node layout (`stream-node-max-*` is each server's own setting).
fn group_state(s: &Server) -> Vec<Vec<u8>> {
    let mut out = vec![
        s.request(&["XPENDING", "st", "g1"]),
        s.request(&["XPENDING", "st", "g2"]),
        s.request(&["XRANGE", "st", "-", "+"]),
        s.request(&["XLEN", "auto"]),
    ];
    let groups = s.request(&["XINFO", "GROUPS", "st"]);
    for g in aggregate_elements(&groups).unwrap_or_default() {
        // name, consumers, pending, last-delivered-id.
        out.push(aggregate_elements(&g).unwrap_or_default()[..8].concat());
    }
    for g in ["g1", "g2"] {
        let rows = s.request(&["XPENDING", "st", g, "-", "+", "1000"]);
        for row in aggregate_elements(&rows).unwrap_or_default() {
            // [id, consumer, idle, deliveries]: all but the idle time.
            let mut f = aggregate_elements(&row).unwrap_or_default();
            if f.len() == 4 {
                f.remove(2);
            }
            out.push(f.concat());
        }
        let consumers = s.request(&["XINFO", "CONSUMERS", "st", g]);
        for c in aggregate_elements(&consumers).unwrap_or_default() {
            // name, pending: the first four elements of the map.
            out.push(aggregate_elements(&c).unwrap_or_default()[..4].concat());
        }
    }
    out
}

fn streams_replicate(master_kind: ServerKind, replica_kind: ServerKind) {
    let master = start(master_kind, &[]);
    let replica = start_replica(replica_kind, master.port(), &[]);
    wait_link_up(&replica, SYNC_TIMEOUT);
    let mut script = lines(
        r#"
        CONFIG SET stream-node-max-entries 4
        XGROUP CREATE st g1 $ MKSTREAM
        XGROUP CREATE st g2 0
        "#,
    );
    for i in 1..=40 {
        script.push(format!("XADD st {i}-0 f v{i} n {i}"));
        script.push(format!("XADD auto MAXLEN ~ 6 * x {i}"));
    }
    script.extend(lines(
        r#"
        XREADGROUP GROUP g1 alice COUNT 10 STREAMS st >
        XREADGROUP GROUP g1 bob COUNT 5 STREAMS st >
        XREADGROUP GROUP g2 carol NOACK COUNT 7 STREAMS st >
        XREADGROUP GROUP g2 dave COUNT 3 STREAMS st >
        XACK st g1 2-0 3-0 4-0
        XCLAIM st g1 bob 0 5-0 6-0 RETRYCOUNT 4
        XCLAIM st g1 erin 0 7-0 JUSTID LASTID 30-0
        XDEL st 8-0 9-0
        XAUTOCLAIM st g1 frank 0 0 COUNT 3
        XCLAIM st g1 bob 0 10-0 11-0
        XTRIM st MINID ~ 12-0
        XGROUP CREATECONSUMER st g2 zed
        XGROUP DELCONSUMER st g2 dave
        XGROUP SETID st g2 20-0 ENTRIESREAD 20
        XREADGROUP GROUP g2 carol COUNT 2 STREAMS st >
        XADD st MAXLEN 35 41-0 f last
        "#,
    ));
    run_script(&master, &script);
    wait_in_sync(&master, &[&replica], SYNC_TIMEOUT);
    let (m, r) = (group_state(&master), group_state(&replica));
    assert!(m.len() > 10, "{}", escape(&m.concat()));
    assert_eq!(
        m.iter().map(|x| escape(x)).collect::<Vec<_>>(),
        r.iter().map(|x| escape(x)).collect::<Vec<_>>(),
        "{} -> {}",
        master.label(),
        replica.label()
    );
}

#[test]
fn streams_replicate_tandem_to_tandem() {
    streams_replicate(Tandem, Tandem);
}

#[test]
fn streams_replicate_tandem_to_redis() {
    streams_replicate(Tandem, Redis);
}

#[test]
fn streams_replicate_redis_to_tandem() {
    streams_replicate(Redis, Tandem);
}

/// A replica waiting for its master's slow disk snapshot, told REPLICAOF NO ONE: it drops the
/// link at once, the master sees it gone, and the save made only for it stops (no save points
/// configured), as Redis kills its child when the last replica in `wait_bgsave` leaves.
fn leave_while_master_saves(kind: ServerKind) -> (bool, bool) {
    let master = start(kind, &["--repl-diskless-sync", "no"]);
    for i in 0..10 {
        master.request(&["SET", &i.to_string(), "v"]);
    }
    // 10 keys at 1 s each: the snapshot takes 10 s.
    master.request(&["CONFIG", "SET", "rdb-key-save-delay", "1000000"]);
    let replica = start_replica(kind, master.port(), &[]);
    let saving = wait_until(Duration::from_secs(10), || {
        master
            .info_field("persistence", "rdb_bgsave_in_progress")
            .as_deref()
            == Some("1")
    });
    assert!(saving, "{}: the sync's save did not start", kind.name());
    assert_eq!(replica.request(&["REPLICAOF", "NO", "ONE"]), b"+OK\r\n");
    let gone = wait_until(Duration::from_secs(3), || {
        master
            .info_field("replication", "connected_slaves")
            .as_deref()
            == Some("0")
    });
    let stopped = wait_until(Duration::from_secs(3), || {
        master
            .info_field("persistence", "rdb_bgsave_in_progress")
            .as_deref()
            == Some("0")
    });
    (gone, stopped)
}

#[test]
fn a_replica_leaving_during_its_snapshot_stops_the_save_as_on_redis() {
    assert_eq!(leave_while_master_saves(Redis), (true, true));
    assert_eq!(leave_while_master_saves(Tandem), (true, true));
}

// ---------------------------------------------------------------------------------------------
// A replica that asks for a full sync while a disk-based sync saves its file joins that sync.

/// Redis attaches a replica that asks for a full resync during a disk-based sync's save to
/// that save ("Waiting for end of BGSAVE for SYNC"), with the writes made since the save began:
/// one save serves both, and the first replica leaving does not stop the save the second still
/// waits for; back after the save, it gets a save of its own. Returns (saves started, replicas
/// attached, the save still running after the first replica left, every node's digest equal
/// once in sync).
fn late_replica_joins_disk_save(kind: ServerKind) -> (usize, usize, bool, bool) {
    let master = start(
        kind,
        &[
            "--repl-diskless-sync",
            "no",
            "--rdb-key-save-delay",
            "50000",
        ],
    );
    let label = master.label();
    let keys: Vec<String> = (0..40).map(|i| format!("SET k{i} v{i}")).collect();
    run_script(&master, &keys);
    let saving = || {
        master
            .info_field("persistence", "rdb_bgsave_in_progress")
            .as_deref()
            == Some("1")
    };
    let first = start_replica(kind, master.port(), &[]);
    assert!(
        wait_until(SYNC_TIMEOUT, saving),
        "{label}: no save for the first replica"
    );
    run_script(&master, &lines("SET during 1\nINCR during\nDEL k3"));
    let second = start_replica(kind, master.port(), &[]);
    let attached = wait_until(SYNC_TIMEOUT, || {
        !log_lines(&master, "Waiting for end of BGSAVE for SYNC").is_empty()
    });
    assert!(
        attached,
        "{label}: the second replica did not join the save"
    );
    // The first one leaves: the save goes on for the second.
    assert_eq!(first.request(&["REPLICAOF", "NO", "ONE"]), b"+OK\r\n");
    std::thread::sleep(Duration::from_millis(200));
    let still_saving = saving();
    // Back once the save is over: a sync of its own.
    assert!(
        wait_until(SYNC_TIMEOUT, || !saving()),
        "{label}: the save never ended"
    );
    let port = master.port().to_string();
    assert_eq!(
        first.request(&["REPLICAOF", "127.0.0.1", &port]),
        b"+OK\r\n"
    );
    run_script(&master, &lines("SET after 1"));
    wait_in_sync(&master, &[&first, &second], SYNC_TIMEOUT);
    let digest = |s: &Server| s.request(&["DEBUG", "DIGEST"]);
    let same = digest(&first) == digest(&master) && digest(&second) == digest(&master);
    (
        log_lines(&master, "Starting BGSAVE for SYNC").len(),
        log_lines(&master, "Waiting for end of BGSAVE for SYNC").len(),
        still_saving,
        same,
    )
}

#[test]
fn late_replica_joins_a_disk_save_like_redis() {
    let theirs = late_replica_joins_disk_save(Redis);
    let ours = late_replica_joins_disk_save(Tandem);
    assert_eq!(ours, theirs);
    assert_eq!(
        theirs.0, 2,
        "redis-server saves for the first and the returning replica"
    );
    assert_eq!(theirs.1, 1, "redis-server attaches the second replica");
    assert!(theirs.2 && theirs.3, "{theirs:?}");
}
