//! FAILOVER, the coordinated failover of Redis 6.2+/7.0: every error reply and the state seen
//! around them compared with a real redis-server 7.0.15 in the same situation; a Tandem master
//! handing over to one of its Tandem replicas under a writer (with and without `TO`); the
//! timeout, ABORT and FORCE paths with a target that cannot catch up (its link held by a
//! proxy), run on both kinds; and failovers between Redis and Tandem in both directions.
//!
//! Scenarios with real replicas end like the other replication tests: equal offsets and equal
//! `DEBUG DIGEST` on all nodes.

mod support;

use std::io::ErrorKind;
use std::time::Duration;

use support::proxy::Proxy;
use support::{
    escape, log_lines, start_node as start, start_replica_node as start_replica, wait_in_sync,
    wait_link_up, wait_until, RawConn, Server, ServerKind, Writer, WriterOptions, SYNC_TIMEOUT,
};

use ServerKind::{Redis, Tandem};

/// How long a write is given to show that it is held by the failover's pause.
const PAUSE_PROBE: Duration = Duration::from_millis(300);
/// How long the proxy's pump threads are given to notice a pause.
const LINK_HOLD_SETTLE: Duration = Duration::from_millis(300);
/// The listening port a fake replica announces: nothing ever connects to it.
const FAKE_REPLICA_PORT: &str = "1";
/// A port no replica announced.
const NOT_A_REPLICA_PORT: &str = "2";

fn replication_field(server: &Server, name: &str) -> String {
    server
        .info_field("replication", name)
        .unwrap_or_else(|| panic!("{}: no INFO replication {name}", server.label()))
}

fn failover_state(server: &Server) -> String {
    replication_field(server, "master_failover_state")
}

fn assert_ok(server: &Server, args: &[&str]) {
    let reply = server.request(args);
    assert_eq!(
        reply,
        b"+OK\r\n",
        "{} answered {args:?} with {}",
        server.label(),
        escape(&reply)
    );
}

/// Waits until `old` is a replica of `new` with its link up and its failover over, and `new`
/// is a master.
fn wait_roles_swapped(old: &Server, new: &Server) {
    let new_port = new.port().to_string();
    let ok = wait_until(SYNC_TIMEOUT, || {
        new.info_field("replication", "role").as_deref() == Some("master")
            && old.try_info("replication").is_some_and(|info| {
                let get = |k: &str| info.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
                get("role") == Some("slave")
                    && get("master_port") == Some(new_port.as_str())
                    && get("master_link_status") == Some("up")
                    && get("master_failover_state") == Some("no-failover")
            })
    });
    assert!(
        ok,
        "roles not swapped: old {} {:?}, new {} {:?}",
        old.label(),
        old.try_info("replication"),
        new.label(),
        new.try_info("replication")
    );
}

/// `ROLE` of `server`, as its elements' raw bytes.
fn role(server: &Server) -> Vec<Vec<u8>> {
    let reply = server.request(&["ROLE"]);
    support::aggregate_elements(&reply)
        .unwrap_or_else(|| panic!("{}: ROLE gave {}", server.label(), escape(&reply)))
}

// ---------------------------------------------------------------------------------------------
// 1. Error replies and states, compared with Redis

/// What one kind answered, step by step.
#[derive(Default)]
struct Transcript(Vec<(String, Vec<u8>)>);

impl Transcript {
    fn note(&mut self, label: impl Into<String>, reply: impl Into<Vec<u8>>) {
        self.0.push((label.into(), reply.into()));
    }

    /// Sends `args` to `server` on a fresh connection and records the reply.
    fn ask(&mut self, server: &Server, who: &str, args: &[&str]) {
        let reply = server.request(args);
        self.note(format!("{who} {}", args.join(" ")), reply);
    }

    fn state(&mut self, server: &Server, when: &str) {
        self.note(
            format!("master_failover_state {when}"),
            failover_state(server),
        );
    }

    fn log_has(&mut self, server: &Server, line: &str) {
        let seen = !log_lines(server, line).is_empty();
        self.note(format!("log has {line:?}"), if seen { "yes" } else { "no" });
    }
}

/// Whether `master` lists a replica announcing `port` in `state`.
fn has_replica(master: &Server, port: &str, state: &str) -> bool {
    let needle = format!("port={port},state={state},");
    master
        .try_info("replication")
        .is_some_and(|info| info.iter().any(|(_, v)| v.contains(&needle)))
}

/// Waits until `master` lists a replica announcing `port` in `state`; panics after the timeout.
fn wait_replica_state(master: &Server, port: &str, state: &str) {
    let reached = wait_until(SYNC_TIMEOUT, || has_replica(master, port, state));
    assert!(
        reached,
        "{}: no replica port={port} in state {state}: {:?}",
        master.label(),
        master.try_info("replication")
    );
}

/// A connection that sends the handshake of a replica announcing `port`, then `PSYNC ? -1`,
/// and never acknowledges anything.
fn fake_replica(master: &Server, port: &str) -> RawConn {
    let mut con = master.raw();
    let replies = [
        con.request_str(&["REPLCONF", "listening-port", port]),
        con.request_str(&["REPLCONF", "capa", "eof", "capa", "psync2"]),
    ];
    for r in replies {
        assert_eq!(r, b"+OK\r\n", "{}: {}", master.label(), escape(&r));
    }
    con.send_cmd(&[b"PSYNC", b"?", b"-1"]);
    con
}

/// Runs every FAILOVER refusal on a `kind` master (no replica, then one replica, then a fake
/// replica that is not online yet, then one that never catches up) and records the replies.
fn error_transcript(kind: ServerKind) -> Transcript {
    let mut t = Transcript::default();
    let master = start(kind, &[]);
    let m = "master";
    // No replica.
    for args in [
        &["FAILOVER"][..],
        &["FAILOVER", "ABORT"],
        &["FAILOVER", "TIMEOUT", "0"],
        &["FAILOVER", "TIMEOUT", "-1"],
        &["FAILOVER", "TIMEOUT", "abc"],
        &["FAILOVER", "TIMEOUT", "10", "TIMEOUT", "10"],
        &["FAILOVER", "TO", "127.0.0.1", "abc"],
        &["FAILOVER", "TO", "127.0.0.1"],
        &["FAILOVER", "FORCE", "FORCE"],
        &["FAILOVER", "FOO"],
        &["FAILOVER", "ABORT", "TIMEOUT", "10"],
        &["FAILOVER", "FORCE"],
        &["FAILOVER", "TO", "127.0.0.1", NOT_A_REPLICA_PORT],
        &["PSYNC", "?", "-1", "FAILOVER"],
    ] {
        t.ask(&master, m, args);
    }
    t.state(&master, "with no replica");

    // One replica.
    let replica = start_replica(kind, master.port(), &[]);
    wait_in_sync(&master, &[&replica], SYNC_TIMEOUT);
    let rport = replica.port().to_string();
    let r = rport.as_str();
    for args in [
        &["FAILOVER"][..],
        &["FAILOVER", "ABORT"],
        &["FAILOVER", "TO", "127.0.0.1", r],
        &[
            "PSYNC",
            "0123456789012345678901234567890123456789",
            "1",
            "FAILOVER",
        ],
    ] {
        t.ask(&replica, "replica", args);
    }
    for args in [
        &["FAILOVER", "FORCE"][..],
        &["FAILOVER", "TO", "127.0.0.1", r, "FORCE"],
        &["FAILOVER", "TIMEOUT", "100", "FORCE"],
        &["FAILOVER", "TO", "127.0.0.1", NOT_A_REPLICA_PORT],
        &["FAILOVER", "TO", "localhost", r],
        &["FAILOVER", "TO", "127.0.0.1", r, "TIMEOUT", "abc"],
    ] {
        t.ask(&master, m, args);
    }

    // A replica still waiting for its snapshot is not online.
    assert_ok(&master, &["CONFIG", "SET", "repl-diskless-sync-delay", "5"]);
    let _fake = fake_replica(&master, FAKE_REPLICA_PORT);
    wait_replica_state(&master, FAKE_REPLICA_PORT, "wait_bgsave");
    t.ask(
        &master,
        m,
        &["FAILOVER", "TO", "127.0.0.1", FAKE_REPLICA_PORT],
    );
    assert_ok(&master, &["CONFIG", "SET", "repl-diskless-sync-delay", "0"]);
    wait_replica_state(&master, FAKE_REPLICA_PORT, "online");

    // The fake replica never acknowledges: a failover to it waits until aborted. A key that
    // expires meanwhile stays in the keyspace: active expiry waits with the writes.
    assert_ok(&master, &["SET", "k", "v"]);
    assert_ok(&master, &["SET", "expiring", "v", "PX", "200"]);
    t.ask(
        &master,
        m,
        &["FAILOVER", "TO", "127.0.0.1", FAKE_REPLICA_PORT],
    );
    t.state(&master, "waiting for a replica that never acknowledges");
    for args in [
        &["FAILOVER"][..],
        &["FAILOVER", "TO", "127.0.0.1", FAKE_REPLICA_PORT],
        &["FAILOVER", "ABORT", "TIMEOUT", "5"],
        &["REPLICAOF", "127.0.0.1", NOT_A_REPLICA_PORT],
        &["REPLICAOF", "NO", "ONE"],
        &["PSYNC", "?", "-1"],
        &["SYNC"],
        &["PSYNC", "?", "-1", "FAILOVER"],
        &["GET", "k"],
    ] {
        t.ask(&master, m, args);
    }
    let mut multi = master.raw();
    for args in [&["MULTI"][..], &["FAILOVER"], &["EXEC"]] {
        let reply = multi.request_str(args);
        t.note(format!("same connection: {}", args.join(" ")), reply);
    }
    // Writes wait for the end of the failover; CLIENT UNPAUSE does not end that pause.
    let mut writers = Vec::new();
    for when in ["while waiting for sync", "after CLIENT UNPAUSE"] {
        if writers.len() == 1 {
            t.ask(&master, m, &["CLIENT", "UNPAUSE"]);
        }
        let mut writer = master.raw();
        writer.set_timeout(PAUSE_PROBE);
        writer.send_cmd(&[b"SET", b"paused", b"1"]);
        let held = match writer.try_read_reply() {
            Err(e) if e.kind() == ErrorKind::TimedOut => "held".to_string(),
            other => format!("{other:?}"),
        };
        t.note(format!("SET {when}"), held);
        writers.push(writer);
    }
    t.ask(&master, m, &["DBSIZE"]);
    t.ask(&master, m, &["FAILOVER", "ABORT"]);
    for mut writer in writers {
        writer.set_timeout(support::REPLY_TIMEOUT);
        t.note(
            "SET held by the pause, after ABORT",
            writer.read_reply_raw(),
        );
    }
    t.state(&master, "after ABORT");
    t.ask(&master, m, &["FAILOVER", "ABORT"]);
    t.log_has(
        &master,
        &format!("FAILOVER requested to 127.0.0.1:{FAKE_REPLICA_PORT}."),
    );
    t.log_has(
        &master,
        &format!("FAILOVER to 127.0.0.1:{FAKE_REPLICA_PORT} aborted: Failover manually aborted"),
    );

    // Without TO any replica in sync would do: with the real replica gone, only the fake one
    // is left, and it never catches up before the TIMEOUT.
    drop(replica);
    let gone = wait_until(SYNC_TIMEOUT, || !has_replica(&master, r, "online"));
    assert!(
        gone,
        "{}: {:?}",
        master.label(),
        master.try_info("replication")
    );
    t.ask(&master, m, &["FAILOVER", "TIMEOUT", "200"]);
    let ended = wait_until(SYNC_TIMEOUT, || failover_state(&master) == "no-failover");
    assert!(ended, "{}: the failover did not time out", master.label());
    t.log_has(&master, "FAILOVER requested to any replica.");
    t.log_has(
        &master,
        "FAILOVER to any replica aborted: Replica never caught up before timeout",
    );
    t.ask(&master, m, &["SET", "after", "timeout"]);
    t.note("role after the timeout", replication_field(&master, "role"));
    t
}

#[test]
fn error_replies_and_states_match_redis() {
    let (expected, got) = std::thread::scope(|s| {
        let redis = s.spawn(|| error_transcript(Redis));
        let tandem = s.spawn(|| error_transcript(Tandem));
        (
            redis.join().expect("redis run"),
            tandem.join().expect("tandem run"),
        )
    });
    assert_eq!(expected.0.len(), got.0.len());
    let mut diffs = Vec::new();
    for ((label, want), (_, have)) in expected.0.iter().zip(&got.0) {
        if want != have {
            diffs.push(format!(
                "{label}: redis {} tandem {}",
                escape(want),
                escape(have)
            ));
        }
    }
    assert!(diffs.is_empty(), "differences:\n{}", diffs.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// 2. A Tandem master hands over to a Tandem replica under a writer

/// Master with `replicas` Tandem replicas under a writer that WAITs for all of them;
/// `FAILOVER TO <first replica>` (or plain `FAILOVER` when `with_target` is false). The first
/// replica must end up master, the old master its replica (continuing with a partial resync),
/// the other replica chained below the old master, every acknowledged write present, and all
/// nodes equal.
fn failover_under_writes(replicas: usize, with_target: bool) {
    let master = start(Tandem, &[]);
    let nodes: Vec<Server> = (0..replicas)
        .map(|_| start_replica(Tandem, master.port(), &[]))
        .collect();
    let all: Vec<&Server> = nodes.iter().collect();
    wait_in_sync(&master, &all, SYNC_TIMEOUT);
    let target = &nodes[0];
    let writer = Writer::start(
        master.addr(),
        WriterOptions {
            prefix: "fo".into(),
            wait_replicas: Some(replicas as u32),
            max_time: Duration::from_secs(60),
            ..WriterOptions::default()
        },
    );
    assert!(writer.wait_ops(3_000, SYNC_TIMEOUT), "writer stalled");
    let target_full = target.info_i64("stats", "sync_full");
    let target_partial = target.info_i64("stats", "sync_partial_ok");
    let master_full = master.info_i64("stats", "sync_full");
    let master_partial = master.info_i64("stats", "sync_partial_ok");

    let tport = target.port().to_string();
    if with_target {
        assert_ok(&master, &["FAILOVER", "TO", "127.0.0.1", &tport]);
    } else {
        assert_ok(&master, &["FAILOVER"]);
    }
    wait_roles_swapped(&master, target);
    let report = writer.stop();
    assert!(
        report
            .error
            .as_deref()
            .is_none_or(|e| e.contains("READONLY")),
        "writer: {:?}",
        report.error
    );
    assert!(!report.acked.is_empty(), "no write was acknowledged");

    let old_role = role(&master);
    assert_eq!(old_role[0], b"$5\r\nslave\r\n".to_vec());
    assert_eq!(old_role[2], format!(":{tport}\r\n").into_bytes());
    assert_eq!(role(target)[0], b"$6\r\nmaster\r\n".to_vec());
    for other in &nodes[1..] {
        wait_link_up(other, SYNC_TIMEOUT);
        assert_eq!(
            replication_field(other, "master_port"),
            master.port().to_string(),
            "{} should stay below the old master",
            other.label()
        );
    }

    // The new master takes writes, and they reach every node.
    assert_ok(target, &["SET", "after-failover", "1"]);
    let below: Vec<&Server> = std::iter::once(&master).chain(&nodes[1..]).collect();
    wait_in_sync(target, &below, SYNC_TIMEOUT);
    for node in &below {
        assert_eq!(node.request(&["GET", "after-failover"]), b"$1\r\n1\r\n");
    }
    let mut con = target.raw();
    for (k, v) in &report.acked {
        let got = con.request_str(&["GET", k]);
        assert_eq!(
            got,
            format!("${}\r\n{v}\r\n", v.len()).into_bytes(),
            "acknowledged write {k} lost"
        );
    }

    assert_eq!(target.info_i64("stats", "sync_full"), target_full);
    assert!(target.info_i64("stats", "sync_partial_ok") > target_partial);
    assert_eq!(master.info_i64("stats", "sync_full"), master_full);
    if replicas > 1 {
        assert!(master.info_i64("stats", "sync_partial_ok") > master_partial);
    }
    let requested = if with_target {
        format!("FAILOVER requested to 127.0.0.1:{tport}.")
    } else {
        "FAILOVER requested to any replica.".to_string()
    };
    assert!(!log_lines(&master, &requested).is_empty());
    assert!(!log_lines(
        &master,
        &format!("Failover target 127.0.0.1:{tport} is synced, failing over.")
    )
    .is_empty());
    assert!(!log_lines(target, "MASTER MODE enabled (failover request from '").is_empty());
    for node in std::iter::once(&master).chain(&nodes) {
        assert_eq!(failover_state(node), "no-failover", "{}", node.label());
    }
}

#[test]
fn failover_to_one_of_two_tandem_replicas_under_writes() {
    failover_under_writes(2, true);
}

#[test]
fn failover_without_target_to_the_only_tandem_replica() {
    failover_under_writes(1, false);
}

// ---------------------------------------------------------------------------------------------
// 3. A target that cannot catch up: TIMEOUT, ABORT, FORCE

/// Master ← proxy ← replica, in sync; then the proxy holds the link and the master takes one
/// more write, so the replica can no longer acknowledge the master's offset.
fn lagging_pair(kind: ServerKind) -> (Server, Proxy, Server) {
    let master = start(kind, &[]);
    let proxy = Proxy::start(master.addr());
    let replica = start_replica(kind, proxy.port(), &[]);
    wait_in_sync(&master, &[&replica], SYNC_TIMEOUT);
    assert_ok(&master, &["SET", "before", "1"]);
    wait_in_sync(&master, &[&replica], SYNC_TIMEOUT);
    // The proxy's pump threads check the pause between reads of up to 50 ms: a read already
    // under way would still forward what it gets. Give them time to park (setup, not a check).
    proxy.set_paused(true);
    std::thread::sleep(LINK_HOLD_SETTLE);
    assert_ok(&master, &["SET", "unreplicated", "1"]);
    (master, proxy, replica)
}

/// Sends a write that the failover's pause must hold; returns the connection to read it later.
fn held_write(master: &Server, key: &str) -> RawConn {
    let mut con = master.raw();
    con.set_timeout(PAUSE_PROBE);
    con.send_cmd(&[b"SET", key.as_bytes(), b"1"]);
    match con.try_read_reply() {
        Err(e) if e.kind() == ErrorKind::TimedOut => {}
        other => panic!("{}: write not held by the pause: {other:?}", master.label()),
    }
    con.set_timeout(support::REPLY_TIMEOUT);
    con
}

fn timeout_and_abort(kind: ServerKind) {
    let (master, proxy, replica) = lagging_pair(kind);
    let rport = replica.port().to_string();

    // TIMEOUT without FORCE: the failover gives up, the master stays master.
    assert_ok(
        &master,
        &["FAILOVER", "TO", "127.0.0.1", &rport, "TIMEOUT", "1000"],
    );
    assert_eq!(failover_state(&master), "waiting-for-sync");
    let mut held = held_write(&master, "held1");
    let ended = wait_until(SYNC_TIMEOUT, || failover_state(&master) == "no-failover");
    assert!(ended, "{}: the failover did not time out", master.label());
    assert_eq!(held.read_reply_raw(), b"+OK\r\n");
    assert_eq!(replication_field(&master, "role"), "master");
    assert_ok(&master, &["SET", "after-timeout", "1"]);
    assert!(!log_lines(
        &master,
        &format!("FAILOVER to 127.0.0.1:{rport} aborted: Replica never caught up before timeout")
    )
    .is_empty());

    // ABORT while waiting.
    assert_ok(&master, &["FAILOVER", "TO", "127.0.0.1", &rport]);
    assert_eq!(failover_state(&master), "waiting-for-sync");
    let mut held = held_write(&master, "held2");
    assert_ok(&master, &["FAILOVER", "ABORT"]);
    assert_eq!(held.read_reply_raw(), b"+OK\r\n");
    assert_eq!(failover_state(&master), "no-failover");
    assert_eq!(replication_field(&master, "role"), "master");
    assert!(!log_lines(
        &master,
        &format!("FAILOVER to 127.0.0.1:{rport} aborted: Failover manually aborted")
    )
    .is_empty());

    // The replica catches up once its link flows again.
    proxy.set_paused(false);
    wait_in_sync(&master, &[&replica], SYNC_TIMEOUT);
    assert_eq!(replication_field(&replica, "role"), "slave");
    assert_eq!(replica.request(&["GET", "held2"]), b"$1\r\n1\r\n");
}

#[test]
fn timeout_and_abort_leave_a_tandem_master_in_charge() {
    timeout_and_abort(Tandem);
}

#[test]
fn timeout_and_abort_leave_a_redis_master_in_charge() {
    timeout_and_abort(Redis);
}

/// FORCE: past the timeout the master fails over anyway. The target never got the last write,
/// so the old master cannot continue from it: it full-syncs, losing that write, and the
/// failover still counts as done.
fn forced_failover(kind: ServerKind) {
    let (master, proxy, replica) = lagging_pair(kind);
    let rport = replica.port().to_string();
    let full_before = replica.info_i64("stats", "sync_full");
    assert_ok(
        &master,
        &[
            "FAILOVER",
            "TO",
            "127.0.0.1",
            &rport,
            "TIMEOUT",
            "500",
            "FORCE",
        ],
    );
    wait_roles_swapped(&master, &replica);
    wait_in_sync(&replica, &[&master], SYNC_TIMEOUT);
    assert_eq!(replica.info_i64("stats", "sync_full"), full_before + 1);
    assert_eq!(master.request(&["GET", "unreplicated"]), b"$-1\r\n");
    assert_eq!(master.request(&["GET", "before"]), b"$1\r\n1\r\n");
    assert!(!log_lines(
        &master,
        &format!("FAILOVER to 127.0.0.1:{rport} time out exceeded, failing over.")
    )
    .is_empty());
    drop(proxy);
}

#[test]
fn forced_failover_to_a_lagging_tandem_replica() {
    forced_failover(Tandem);
}

#[test]
fn forced_failover_to_a_lagging_redis_replica() {
    forced_failover(Redis);
}

/// Plays the target of a failover on `listener` for one connection: answers the handshake
/// and, on `PSYNC`, first calls `on_psync` with its arguments, then refuses it as a real
/// target with another replid would. Returns the PSYNC arguments.
fn refusing_target(
    listener: &std::net::TcpListener,
    on_psync: impl FnOnce(&[String]),
) -> Vec<String> {
    use std::io::{Read, Write};
    listener
        .set_nonblocking(true)
        .expect("nonblocking listener");
    let mut accepted = None;
    let connected = wait_until(SYNC_TIMEOUT, || {
        accepted = listener.accept().ok().map(|(s, _)| s);
        accepted.is_some()
    });
    assert!(connected, "the old master never connected to its target");
    let mut con = accepted.expect("accepted");
    con.set_nonblocking(false).expect("blocking stream");
    con.set_read_timeout(Some(support::REPLY_TIMEOUT))
        .expect("read timeout");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Ok(Some(len)) = support::resp_len(&buf) {
            let frame: Vec<u8> = buf.drain(..len).collect();
            let args: Vec<String> = support::aggregate_elements(&frame)
                .unwrap_or_default()
                .iter()
                .filter_map(|a| support::bulk_text(a))
                .collect();
            let name = args.first().map(|a| a.to_ascii_uppercase());
            match name.as_deref() {
                Some("PING") => con.write_all(b"+PONG\r\n").expect("reply"),
                Some("PSYNC") => {
                    on_psync(&args);
                    con.write_all(b"-ERR PSYNC FAILOVER replid must match my replid.\r\n")
                        .expect("reply");
                    return args;
                }
                _ => con.write_all(b"+OK\r\n").expect("reply"),
            }
        }
        let n = con.read(&mut chunk).expect("handshake from the old master");
        assert!(
            n > 0,
            "the old master closed before PSYNC; got {}",
            escape(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The target refuses `PSYNC ... FAILOVER`: the old master, already a replica of it, must
/// become a master again (a new replid, the old one as replid2), and the writes it held go
/// through. The PSYNC it sent carries its own replid, its offset + 1 and `FAILOVER`.
fn refused_failover(kind: ServerKind) {
    let master = start(kind, &[]);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the fake target");
    let tport = listener
        .local_addr()
        .expect("local addr")
        .port()
        .to_string();
    let _fake = fake_replica(&master, &tport);
    wait_replica_state(&master, &tport, "online");
    assert_ok(&master, &["SET", "k", "v"]);
    let replid = replication_field(&master, "master_replid");
    assert_ok(
        &master,
        &[
            "FAILOVER",
            "TO",
            "127.0.0.1",
            &tport,
            "TIMEOUT",
            "300",
            "FORCE",
        ],
    );
    let mut held = held_write(&master, "held");
    let mut seen_offset = String::new();
    let psync = refusing_target(&listener, |_| {
        assert_eq!(failover_state(&master), "failover-in-progress");
        assert_eq!(replication_field(&master, "role"), "slave");
        seen_offset = replication_field(&master, "master_repl_offset");
    });
    let offset: i64 = seen_offset.parse().expect("numeric offset");
    assert_eq!(
        psync,
        [
            "PSYNC",
            replid.as_str(),
            &(offset + 1).to_string(),
            "FAILOVER"
        ]
    );
    let back = wait_until(SYNC_TIMEOUT, || {
        failover_state(&master) == "no-failover" && replication_field(&master, "role") == "master"
    });
    assert!(
        back,
        "{}: {:?}",
        master.label(),
        master.try_info("replication")
    );
    assert_eq!(held.read_reply_raw(), b"+OK\r\n");
    assert_eq!(replication_field(&master, "master_replid2"), replid);
    assert_ne!(replication_field(&master, "master_replid"), replid);
    assert!(!log_lines(
        &master,
        &format!("FAILOVER to 127.0.0.1:{tport} aborted: Failover target rejected psync request")
    )
    .is_empty());
}

#[test]
fn refused_psync_failover_makes_a_tandem_master_again() {
    refused_failover(Tandem);
}

#[test]
fn refused_psync_failover_makes_a_redis_master_again() {
    refused_failover(Redis);
}

// ---------------------------------------------------------------------------------------------
// 4. Redis and Tandem failing over to each other

fn interop(master_kind: ServerKind, replica_kind: ServerKind) {
    let master = start(master_kind, &[]);
    let replica = start_replica(replica_kind, master.port(), &[]);
    wait_link_up(&replica, SYNC_TIMEOUT);
    let writer = Writer::start(
        master.addr(),
        WriterOptions {
            prefix: "io".into(),
            max_ops: 20_000,
            ..WriterOptions::default()
        },
    );
    assert!(writer.wait_ops(20_000, SYNC_TIMEOUT), "writer stalled");
    let report = writer.stop();
    assert!(report.error.is_none(), "writer: {:?}", report.error);
    wait_in_sync(&master, &[&replica], SYNC_TIMEOUT);
    let full_before = replica.info_i64("stats", "sync_full");
    let partial_before = replica.info_i64("stats", "sync_partial_ok");

    assert_ok(&master, &["FAILOVER"]);
    wait_roles_swapped(&master, &replica);
    assert_ok(&replica, &["SET", "after-failover", "1"]);
    wait_in_sync(&replica, &[&master], SYNC_TIMEOUT);
    assert_eq!(master.request(&["GET", "after-failover"]), b"$1\r\n1\r\n");
    assert_eq!(replica.info_i64("stats", "sync_full"), full_before);
    assert!(replica.info_i64("stats", "sync_partial_ok") > partial_before);
    assert_eq!(failover_state(&master), "no-failover");
    assert_eq!(failover_state(&replica), "no-failover");
}

#[test]
fn redis_master_fails_over_to_tandem_replica() {
    interop(Redis, Tandem);
}

#[test]
fn tandem_master_fails_over_to_redis_replica() {
    interop(Tandem, Redis);
}
