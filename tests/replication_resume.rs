//! What a replica keeps of its master's stream across a link drop and a restart: the database
//! the stream is positioned in (a master sends no SELECT after a partial resync, nor after a
//! replica restarts from its own snapshot), and a transaction cut by the drop (its queued
//! commands are discarded and the partial resync asks for it again from its MULTI).
//!
//! A scripted master written here streams the same bytes to a real redis-server 7.0.15 replica
//! and to a Tandem replica; both must ask for the same offsets and end with the same data.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::{encode_command, resp_len, start_node, wait_until, Server, ServerKind};

use ServerKind::{Redis, Tandem};

const REPLID: &str = "5f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c";

/// The master's stream, in the pieces the script sends; offsets count from 1 as in redis.
struct Script {
    /// SELECT 9, SET a 1: applied before the first drop.
    committed: Vec<u8>,
    /// MULTI, SET b 2: the transaction the first drop cuts.
    cut: Vec<u8>,
    /// SET c 3, EXEC, SET d 4: the rest, sent after the partial resync (no SELECT).
    rest: Vec<u8>,
    /// SET e 5: after the replica restarts from its own snapshot (no SELECT).
    after_restart: Vec<u8>,
}

impl Script {
    fn new() -> Script {
        let cmds = |list: &[&[&[u8]]]| -> Vec<u8> {
            list.iter().flat_map(|argv| encode_command(argv)).collect()
        };
        Script {
            committed: cmds(&[&[b"SELECT", b"9"], &[b"SET", b"a", b"1"]]),
            cut: cmds(&[&[b"MULTI"], &[b"SET", b"b", b"2"]]),
            rest: cmds(&[&[b"SET", b"c", b"3"], &[b"EXEC"], &[b"SET", b"d", b"4"]]),
            after_restart: cmds(&[&[b"SET", b"e", b"5"]]),
        }
    }

    /// The stream as far as the `parts` first pieces go.
    fn upto(&self, parts: usize) -> Vec<u8> {
        [&self.committed, &self.cut, &self.rest, &self.after_restart][..parts]
            .iter()
            .flat_map(|p| p.iter().copied())
            .collect()
    }
}

/// Steps of the scripted master, driven by the test thread.
enum Step {
    /// Drop the current connection.
    Drop,
}

/// Accepts three replica connections: a full sync streaming up to the cut transaction, then
/// two partial resyncs (after the link drop, after the restart), each answered from the offset
/// asked for. Reports every PSYNC's arguments.
fn scripted_master(
    listener: TcpListener,
    rdb: Vec<u8>,
    psyncs: mpsc::Sender<String>,
    steps: mpsc::Receiver<Step>,
) {
    let script = Script::new();
    for conn in 0..3 {
        let Ok((mut s, _)) = listener.accept() else {
            return;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
        let Some(args) = handshake(&mut s) else {
            return;
        };
        let _ = psyncs.send(args.clone());
        let stream = script.upto(conn + 2);
        if conn == 0 {
            let _ = s.write_all(format!("+FULLRESYNC {REPLID} 0\r\n").as_bytes());
            let _ = s.write_all(format!("${}\r\n", rdb.len()).as_bytes());
            let _ = s.write_all(&rdb);
            let _ = s.write_all(&stream);
        } else {
            // PSYNC <replid> <offset>: the stream from that offset, whatever it is.
            let from = args
                .split_whitespace()
                .nth(1)
                .and_then(|o| o.parse::<usize>().ok())
                .unwrap_or(0);
            let _ = s.write_all(format!("+CONTINUE {REPLID}\r\n").as_bytes());
            if (1..=stream.len() + 1).contains(&from) {
                let _ = s.write_all(&stream[from - 1..]);
            }
        }
        // Hold the link (reading ACKs) until told to drop it.
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut sink = [0u8; 4096];
        loop {
            match steps.try_recv() {
                Ok(Step::Drop) | Err(mpsc::TryRecvError::Disconnected) => break,
                Err(mpsc::TryRecvError::Empty) => {}
            }
            if Instant::now() > deadline {
                return;
            }
            if let Ok(0) = s.read(&mut sink) {
                break;
            }
        }
    }
}

/// Answers the handshake up to PSYNC; returns PSYNC's two arguments ("replid offset").
fn handshake(s: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        while let Ok(Some(n)) = resp_len(&buf) {
            let frame: Vec<u8> = buf.drain(..n).collect();
            let parts: Vec<String> = support::aggregate_elements(&frame)
                .unwrap_or_default()
                .iter()
                .map(|e| support::bulk_text(e).unwrap_or_default())
                .collect();
            let name = parts
                .first()
                .map(|p| p.to_ascii_uppercase())
                .unwrap_or_default();
            let reply: &[u8] = match name.as_str() {
                "PING" => b"+PONG\r\n",
                "PSYNC" => return Some(parts[1..].join(" ")),
                _ => b"+OK\r\n",
            };
            s.write_all(reply).ok()?;
        }
        if Instant::now() > deadline {
            return None;
        }
        match s.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return None,
        }
    }
}

/// Every key of databases 0-15 with its string value, as "db:key=value" lines.
fn dataset(replica: &Server) -> String {
    let mut out = Vec::new();
    for db in 0..16 {
        let mut c = replica.raw();
        c.request_str(&["SELECT", &db.to_string()]);
        let keys = support::aggregate_elements(&c.request_str(&["KEYS", "*"])).unwrap_or_default();
        for k in keys {
            let k = support::bulk_text(&k).unwrap_or_default();
            let v = support::bulk_text(&c.request_str(&["GET", &k])).unwrap_or_default();
            out.push(format!("{db}:{k}={v}"));
        }
    }
    out.sort();
    out.join(" ")
}

fn get9(replica: &Server, key: &str) -> Option<String> {
    let mut c = replica.raw();
    c.request_str(&["SELECT", "9"]);
    support::bulk_text(&c.request_str(&["GET", key]))
}

/// An empty snapshot from a real redis-server.
fn empty_rdb() -> Vec<u8> {
    let r = start_node(Redis, &[]);
    let reply = r.request(&["SAVE"]);
    assert_eq!(reply, b"+OK\r\n");
    std::fs::read(r.dir().join("dump.rdb")).expect("dump.rdb")
}

/// What a replica of `kind` does under the script: the PSYNC arguments it sent, and its
/// dataset after the partial resync and after its restart.
fn run(kind: ServerKind, rdb: &[u8]) -> (Vec<String>, String, String) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port().to_string();
    let (psync_tx, psyncs) = mpsc::channel();
    let (steps, steps_rx) = mpsc::channel();
    let rdb = rdb.to_vec();
    let master = std::thread::spawn(move || scripted_master(listener, rdb, psync_tx, steps_rx));
    let mut replica = start_node(kind, &["--replicaof", "127.0.0.1", &port]);
    let label = replica.label();
    let mut asked = Vec::new();
    let mut next_psync = |what: &str| {
        let args = psyncs
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("{label}: no PSYNC {what}"));
        asked.push(args);
    };

    next_psync("for the full sync");
    assert!(
        wait_until(Duration::from_secs(20), || get9(&replica, "a").as_deref()
            == Some("1")),
        "{}: SET a 1 in db 9 not applied",
        replica.label()
    );
    // The MULTI and its first command have arrived with SET a; give the replica a moment to
    // have read them, then cut the link inside the transaction.
    std::thread::sleep(Duration::from_millis(300));
    let _ = steps.send(Step::Drop);

    next_psync("after the link drop");
    let _ = wait_until(Duration::from_secs(20), || {
        get9(&replica, "d").is_some() || dataset(&replica).contains("=4")
    });
    let resumed = dataset(&replica);

    // Restart from the replica's own snapshot (the kill drops the link): the stream goes on
    // in db 9.
    assert_eq!(replica.request(&["SAVE"]), b"+OK\r\n");
    replica.restart();
    next_psync("after the restart");
    let _ = wait_until(Duration::from_secs(20), || dataset(&replica).contains("=5"));
    let restarted = dataset(&replica);
    let _ = steps.send(Step::Drop);
    drop(replica);
    let _ = master.join();
    (asked, resumed, restarted)
}

#[test]
fn stream_database_and_cut_transaction_survive_resync_and_restart_like_redis() {
    let rdb = empty_rdb();
    let redis = run(Redis, &rdb);
    let script = Script::new();
    // The reference behaves as the scenario intends, so the comparison means something.
    assert_eq!(
        redis.0,
        vec![
            "? -1".to_string(),
            format!("{REPLID} {}", script.committed.len() + 1),
            format!("{REPLID} {}", script.upto(3).len() + 1),
        ],
        "redis-server's PSYNC requests"
    );
    assert_eq!(redis.1, "9:a=1 9:b=2 9:c=3 9:d=4");
    assert_eq!(redis.2, "9:a=1 9:b=2 9:c=3 9:d=4 9:e=5");
    let tandem = run(Tandem, &rdb);
    assert_eq!(tandem, redis, "tandem (left) vs redis (right)");
}
