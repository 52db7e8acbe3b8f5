//! How a replica turns its master's snapshot into its dataset (issue 4, items 2 and 9):
//! `repl-diskless-load` modes against real masters of both kinds, a misbehaving master (a fake
//! one written here) sending garbage, truncated, oversized or wrongly terminated snapshots,
//! REPLICAOF pointed at itself or in a loop, and `-LOADING` while a dump file loads.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::{
    log_lines, resp_len, start_node, unique_temp_dir, wait_in_sync, wait_link_up, wait_until,
    Server, ServerKind, SYNC_TIMEOUT,
};

use ServerKind::{Redis, Tandem};

fn ok(server: &Server, args: &[&str]) {
    let reply = server.request(args);
    assert!(
        reply.first() != Some(&b'-'),
        "{} answered {args:?} with {}",
        server.label(),
        String::from_utf8_lossy(&reply)
    );
}

/// Values of every type, so the snapshot carries more than DEBUG POPULATE's strings.
fn seed(server: &Server, prefix: &str, keys: u32) {
    ok(
        server,
        &["DEBUG", "POPULATE", &keys.to_string(), prefix, "20"],
    );
    support::seed_types(server, prefix);
}

/// Every mode, with an empty replica and one holding other data, from a master of each kind
/// and with both payload framings: the replica ends equal to its master, and the payload went
/// where the mode says (the log line Redis writes names it).
#[test]
fn diskless_load_modes_converge() {
    for (master_kind, diskless_sync) in [(Tandem, "yes"), (Tandem, "no"), (Redis, "yes")] {
        let master = start_node(master_kind, &["--repl-diskless-sync", diskless_sync]);
        seed(&master, "m:", 20_000);
        for mode in ["disabled", "on-empty-db", "swapdb"] {
            for with_data in [false, true] {
                let replica = start_node(Tandem, &["--repl-diskless-load", mode]);
                if with_data {
                    seed(&replica, "old:", 5_000);
                }
                let port = master.port().to_string();
                ok(&replica, &["REPLICAOF", "127.0.0.1", &port]);
                wait_link_up(&replica, SYNC_TIMEOUT);
                wait_in_sync(&master, &[&replica], SYNC_TIMEOUT);
                assert_eq!(replica.request(&["EXISTS", "old:0"]), b":0\r\n");
                let to_disk = mode == "disabled" || (mode == "on-empty-db" && with_data);
                let target = if to_disk { "to disk" } else { "to parser" };
                let lines = log_lines(&replica, "MASTER <-> REPLICA sync: receiving");
                assert!(
                    lines.iter().any(|l| l.contains(target)),
                    "mode {mode}, data {with_data}, master {}: expected a receive {target}: {lines:?}",
                    master.label()
                );
                // Disk-based loads leave the master's snapshot as the replica's dump file.
                assert_eq!(
                    replica.dir().join("dump.rdb").exists(),
                    to_disk,
                    "mode {mode}, data {with_data}"
                );
                ok(&replica, &["REPLICAOF", "NO", "ONE"]);
            }
        }
    }
}

/// `rdb-del-sync-files yes` without save points: the file used to sync is removed, on both
/// sides, as Redis does.
#[test]
fn rdb_del_sync_files_removes_sync_files() {
    let master = start_node(
        Tandem,
        &["--repl-diskless-sync", "no", "--rdb-del-sync-files", "yes"],
    );
    seed(&master, "m:", 2_000);
    let replica = start_node(Tandem, &["--rdb-del-sync-files", "yes"]);
    let port = master.port().to_string();
    ok(&replica, &["REPLICAOF", "127.0.0.1", &port]);
    wait_in_sync(&master, &[&replica], SYNC_TIMEOUT);
    assert!(!replica.dir().join("dump.rdb").exists());
    assert!(
        wait_until(Duration::from_secs(5), || !master
            .dir()
            .join("dump.rdb")
            .exists()),
        "the master kept the RDB it fed its replica with"
    );
    assert!(!log_lines(&replica, "Removing the RDB file obtained from the master").is_empty());
}

/// A snapshot produced by a real redis-server, with its DEBUG DIGEST.
fn redis_snapshot() -> (Vec<u8>, String, i64) {
    let r = start_node(Redis, &[]);
    seed(&r, "good:", 3_000);
    ok(&r, &["SAVE"]);
    let digest = r.try_digest().expect("digest");
    let keys = String::from_utf8_lossy(&r.request(&["DBSIZE"]))
        .trim_start_matches(':')
        .trim()
        .parse()
        .expect("dbsize");
    let rdb = std::fs::read(r.dir().join("dump.rdb")).expect("dump.rdb");
    (rdb, digest, keys)
}

/// What the fake master sends after `+FULLRESYNC`, one scenario per replica connection.
#[derive(Clone, Debug)]
enum Payload {
    Garbage,
    Truncated,
    Oversized,
    WrongEofMark,
    ClosedMidStream,
    CorruptChecksum,
    Good,
}

/// A master that speaks just enough of the protocol to feed a replica the given payloads,
/// one per connection; reports the index of each scenario as its connection is accepted.
fn fake_master(
    listener: TcpListener,
    scenarios: Vec<Payload>,
    rdb: Vec<u8>,
    accepted: mpsc::Sender<usize>,
) {
    for (i, scenario) in scenarios.into_iter().enumerate() {
        let Ok((mut s, _)) = listener.accept() else {
            return;
        };
        let _ = accepted.send(i);
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        if !handshake(&mut s) {
            continue;
        }
        let replid = "a".repeat(40);
        let _ = s.write_all(format!("+FULLRESYNC {replid} 0\r\n").as_bytes());
        let mark = "0123456789abcdef0123456789abcdef01234567";
        let bytes: Vec<u8> = match &scenario {
            Payload::Garbage => {
                let junk: Vec<u8> = (0..4096u32).map(|i| (i * 7 + 3) as u8).collect();
                [format!("${}\r\n", junk.len()).into_bytes(), junk].concat()
            }
            Payload::Truncated => [
                format!("${}\r\n", rdb.len()).into_bytes(),
                rdb[..rdb.len() / 2].to_vec(),
            ]
            .concat(),
            Payload::Oversized => b"$99999999999999999\r\n".to_vec(),
            Payload::WrongEofMark => [
                format!("$EOF:{mark}\r\n").into_bytes(),
                rdb.clone(),
                b"ffffffffffffffffffffffffffffffffffffffff".to_vec(),
            ]
            .concat(),
            Payload::ClosedMidStream => [
                format!("$EOF:{mark}\r\n").into_bytes(),
                rdb[..rdb.len() - 100].to_vec(),
            ]
            .concat(),
            Payload::CorruptChecksum => {
                let mut bad = rdb.clone();
                let at = bad.len() / 2;
                bad[at] ^= 0x55;
                [format!("${}\r\n", bad.len()).into_bytes(), bad].concat()
            }
            Payload::Good => [format!("${}\r\n", rdb.len()).into_bytes(), rdb.clone()].concat(),
        };
        let _ = s.write_all(&bytes);
        if matches!(scenario, Payload::Good) {
            // Stay connected as a master with nothing to stream, answering nothing.
            let mut sink = [0u8; 4096];
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                match s.read(&mut sink) {
                    Ok(0) => return,
                    Ok(_) => {}
                    Err(e)
                        if e.kind() == std::io::ErrorKind::WouldBlock
                            || e.kind() == std::io::ErrorKind::TimedOut => {}
                    Err(_) => return,
                }
            }
            return;
        }
        // Wrong end mark: the replica waits for the real one until we close.
        std::thread::sleep(Duration::from_millis(200));
        drop(s);
    }
}

/// Answers the replica's handshake up to and including PSYNC; false if it went away.
fn handshake(s: &mut TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Ok(Some(n)) = resp_len(&buf) {
            let frame: Vec<u8> = buf.drain(..n).collect();
            let text = String::from_utf8_lossy(&frame).to_ascii_uppercase();
            // The command name is the first bulk string of the frame.
            let reply: &[u8] = if text.contains("\r\nPING\r\n") {
                b"+PONG\r\n"
            } else if text.contains("\r\nPSYNC\r\n") {
                return true;
            } else {
                b"+OK\r\n"
            };
            if s.write_all(reply).is_err() {
                return false;
            }
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A master that sends garbage, truncated, oversized, wrongly terminated or corrupt snapshots
/// never costs the replica its data (the checksum is verified before a disk-based load flushes
/// anything; socket loads build the new dataset beside the old one), never crashes it, and each
/// failure is logged and retried; the good snapshot at the end is loaded exactly.
#[test]
fn bad_snapshots_keep_the_previous_dataset_and_are_retried() {
    let (rdb, good_digest, good_keys) = redis_snapshot();
    let bad = vec![
        Payload::Garbage,
        Payload::Truncated,
        Payload::Oversized,
        Payload::WrongEofMark,
        Payload::ClosedMidStream,
        Payload::CorruptChecksum,
    ];
    for mode in ["disabled", "swapdb"] {
        let replica = start_node(
            Tandem,
            &["--repl-diskless-load", mode, "--repl-timeout", "5"],
        );
        seed(&replica, "old:", 1_000);
        let before = replica.try_digest().expect("digest");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (tx, rx) = mpsc::channel();
        let mut scenarios = bad.clone();
        scenarios.push(Payload::Good);
        let rdb_copy = rdb.clone();
        let feeder = std::thread::spawn(move || fake_master(listener, scenarios, rdb_copy, tx));
        ok(&replica, &["REPLICAOF", "127.0.0.1", &port.to_string()]);
        // Connection i+1 proves scenario i failed and was retried; the old data must be intact.
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(30)),
            Ok(0),
            "mode {mode}"
        );
        for (i, scenario) in bad.iter().enumerate() {
            let after = rx.recv_timeout(Duration::from_secs(30));
            assert_eq!(
                after,
                Ok(i + 1),
                "mode {mode}: the replica did not retry after {scenario:?}"
            );
            assert_eq!(
                replica.try_digest().as_deref(),
                Some(before.as_str()),
                "mode {mode}: {scenario:?} changed the replica's data"
            );
        }
        wait_link_up(&replica, SYNC_TIMEOUT);
        assert!(wait_until(Duration::from_secs(10), || replica
            .try_digest()
            .as_deref()
            == Some(good_digest.as_str())));
        assert_eq!(
            replica.request(&["DBSIZE"]),
            format!(":{good_keys}\r\n").into_bytes()
        );
        let log = replica.log_text();
        for needle in [
            "Failed trying to load the MASTER synchronization DB",
            "I/O error trying to sync with MASTER: connection lost",
            "Snapshot from MASTER is too large",
        ] {
            assert!(
                log.contains(needle),
                "mode {mode}: no {needle:?} in the log"
            );
        }
        ok(&replica, &["REPLICAOF", "NO", "ONE"]);
        drop(replica);
        let _ = feeder.join();
    }
}

/// REPLICAOF pointed at the server itself, or two servers pointed at each other: Redis accepts
/// it, the link never comes up (each side answers PSYNC with -NOMASTERLINK), and the data
/// stays; REPLICAOF NO ONE undoes it. Tandem does the same.
#[test]
fn replicaof_itself_or_a_loop_is_handled_as_redis_does() {
    for kind in [Redis, Tandem] {
        let a = start_node(kind, &[]);
        seed(&a, "a:", 100);
        let before = a.try_digest().expect("digest");
        let me = a.port().to_string();
        assert_eq!(a.request(&["REPLICAOF", "127.0.0.1", &me]), b"+OK\r\n");
        assert!(
            wait_until(Duration::from_secs(10), || !log_lines(
                &a,
                "Master is currently unable to PSYNC but should be in the future: -NOMASTERLINK"
            )
            .is_empty()),
            "{}: no NOMASTERLINK retry in the log",
            a.label()
        );
        assert_eq!(
            a.info_field("replication", "master_link_status").as_deref(),
            Some("down")
        );
        assert_eq!(a.try_digest().as_deref(), Some(before.as_str()));
        assert_eq!(a.request(&["REPLICAOF", "NO", "ONE"]), b"+OK\r\n");
        assert_eq!(
            a.info_field("replication", "role").as_deref(),
            Some("master")
        );

        // A loop: b follows a, then a follows b.
        let b = start_node(kind, &[]);
        let bp = b.port().to_string();
        assert_eq!(b.request(&["REPLICAOF", "127.0.0.1", &me]), b"+OK\r\n");
        wait_in_sync(&a, &[&b], SYNC_TIMEOUT);
        assert_eq!(a.request(&["REPLICAOF", "127.0.0.1", &bp]), b"+OK\r\n");
        // Redis's outcome is a race (whichever link notices first may even full-sync from the
        // other); what must hold is that both stay up as processes and keep the data.
        std::thread::sleep(Duration::from_millis(2500));
        for node in [&a, &b] {
            assert_eq!(
                node.try_digest().as_deref(),
                Some(before.as_str()),
                "{}",
                node.label()
            );
            assert_eq!(
                node.info_field("replication", "role").as_deref(),
                Some("slave"),
                "{}",
                node.label()
            );
        }
    }
}

/// While a large dump file loads, commands get `-LOADING Redis is loading the dataset in
/// memory` (as from Redis), then the data.
#[test]
fn commands_get_loading_while_the_dump_loads() {
    let maker = start_node(Tandem, &[]);
    ok(&maker, &["DEBUG", "POPULATE", "1500000", "key"]);
    ok(&maker, &["SAVE"]);
    let dump = maker.dir().join("dump.rdb");
    let mut fields = Vec::new();
    for kind in [Redis, Tandem] {
        let dir = unique_temp_dir("loading");
        std::fs::copy(&dump, dir.join("dump.rdb")).expect("copy dump");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let _server = support::Unwaited::spawn(kind, port, &dir);
        let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
        let mut replies = Vec::new();
        let mut loading_fields = None;
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut conn = None;
        while Instant::now() < deadline {
            let Some(c) = conn.as_mut() else {
                conn = support::RawConn::try_connect(addr).ok();
                std::thread::sleep(Duration::from_millis(2));
                continue;
            };
            let Ok(reply) = c
                .try_send_raw(b"*2\r\n$3\r\nGET\r\n$9\r\nkey:12345\r\n")
                .and_then(|_| c.try_read_reply())
            else {
                conn = None;
                continue;
            };
            let reply = String::from_utf8_lossy(&reply).into_owned();
            let done = reply.starts_with('$');
            if !done && loading_fields.is_none() {
                // INFO persistence while loading: the loading_* progress fields.
                let info = c.request_str(&["INFO", "persistence"]);
                let names: Vec<String> = String::from_utf8_lossy(&info)
                    .lines()
                    .filter_map(|l| l.split_once(':').map(|(k, _)| k.to_string()))
                    .collect();
                loading_fields = Some(names);
            }
            replies.push(reply);
            if done {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            replies
                .first()
                .is_some_and(|r| r == "-LOADING Redis is loading the dataset in memory\r\n"),
            "{}: first reply {:?}",
            kind.name(),
            replies.first()
        );
        assert_eq!(
            replies.last().map(String::as_str),
            Some("$11\r\nvalue:12345\r\n"),
            "{}",
            kind.name()
        );
        fields.push(loading_fields.expect("INFO during loading"));
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(fields[0].iter().any(|f| f == "loading_loaded_perc"));
    assert_eq!(
        fields[0], fields[1],
        "INFO persistence fields while loading: redis vs tandem"
    );
}

/// `repl-backlog-ttl`: a master left without replicas for that long frees its backlog and
/// starts a new replication id (so the old replica must full-sync); the same as Redis.
#[test]
fn backlog_ttl_frees_the_backlog_like_redis() {
    let mut seen = Vec::new();
    for kind in [Redis, Tandem] {
        let master = start_node(kind, &["--repl-backlog-ttl", "1"]);
        let replica = start_node(kind, &[]);
        ok(&master, &["SET", "k", "v"]);
        let port = master.port().to_string();
        ok(&replica, &["REPLICAOF", "127.0.0.1", &port]);
        wait_in_sync(&master, &[&replica], SYNC_TIMEOUT);
        let replid = master
            .info_field("replication", "master_replid")
            .expect("replid");
        ok(&replica, &["REPLICAOF", "NO", "ONE"]);
        let freed = wait_until(Duration::from_secs(10), || {
            master
                .info_field("replication", "repl_backlog_active")
                .as_deref()
                == Some("0")
        });
        assert!(freed, "{}: backlog still active", master.label());
        assert_ne!(
            master.info_field("replication", "master_replid").as_deref(),
            Some(replid.as_str()),
            "{}: the replication id must change",
            master.label()
        );
        assert!(!log_lines(
            &master,
            "Replication backlog freed after 1 seconds without connected replicas."
        )
        .is_empty());
        // The old replica comes back: no shared history any more, so a full sync.
        ok(&replica, &["REPLICAOF", "127.0.0.1", &port]);
        wait_in_sync(&master, &[&replica], SYNC_TIMEOUT);
        seen.push((
            master.info_i64("stats", "sync_full"),
            master.info_i64("stats", "sync_partial_ok"),
            master.info_field("replication", "master_replid2"),
            master.info_field("replication", "second_repl_offset"),
        ));
    }
    assert_eq!(
        seen[0], seen[1],
        "(sync_full, sync_partial_ok, replid2, second offset): redis vs tandem"
    );
}
