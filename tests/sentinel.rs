//! Tandem data nodes watched by real Redis Sentinel 7.0.15 (`redis-sentinel`, Debian package
//! redis-sentinel). Three sentinels find a master and its two replicas (INFO, and each other
//! through hello messages on the master's `__sentinel__:hello` channel). The master is killed
//! (SIGKILL) under a write load that waits for one replica (`WAIT 1`) after every batch; the
//! sentinels promote a replica (`MULTI / SLAVEOF NO ONE / CONFIG REWRITE / CLIENT KILL TYPE
//! normal / CLIENT KILL TYPE pubsub / EXEC`) within `down-after-milliseconds` + 5 s, repoint the
//! other replica, and turn the old master into a replica once it is restarted. Every write a
//! `WAIT 1` acknowledged must be on the new master, the config files must say who follows whom
//! (CONFIG REWRITE), and all three nodes end with the same `DEBUG DIGEST`. The same scenario runs
//! with redis-server data nodes, the reference the test itself is checked against.
//!
//! The same failover runs with Tandem's own sentinels (`tandem-server --sentinel`), and with a
//! quorum of two Tandem sentinels and a Redis one; Tandem sentinels' replies are compared with
//! redis-sentinel's.
//!
//! Also: a master busy in a script is sent `SCRIPT KILL` by the sentinels; the INFO replication
//! fields Sentinel reads from a replica that never synced, and `replica-announced`, compared
//! with redis-server.

mod support;

use std::fs;
use std::time::{Duration, Instant};

use support::{
    aggregate_elements, bulk_text, escape, wait_in_sync, wait_until, RawConn, Server, ServerKind,
    Writer, WriterOptions, SYNC_TIMEOUT,
};

use ServerKind::{Redis, RedisSentinel, Tandem, TandemSentinel};

/// Three Redis sentinels.
const REDIS_SENTINELS: [ServerKind; 3] = [RedisSentinel; 3];
/// Three Tandem sentinels.
const TANDEM_SENTINELS: [ServerKind; 3] = [TandemSentinel; 3];
/// One quorum shared by two Tandem sentinels and a Redis one.
const MIXED_SENTINELS: [ServerKind; 3] = [TandemSentinel, RedisSentinel, TandemSentinel];

/// The sentinels' `down-after-milliseconds`.
const DOWN_AFTER_MS: u64 = 2000;
/// A replica must be a master this long after the kill at the latest (the bound).
const PROMOTION_BOUND: Duration = Duration::from_millis(DOWN_AFTER_MS + 5000);
/// How long reconfigurations that wait for the sentinels' periodic INFO may take: turning a
/// restarted old master into a replica needs its role reported wrong for a while (8 s in
/// Sentinel 7.0) and an INFO every 10 s.
const RECONFIG_TIMEOUT: Duration = Duration::from_secs(60);
const MASTER_NAME: &str = "mymaster";

/// The config of a data node: no saves, DEBUG allowed, full syncs without the diskless delay.
fn node_conf(master_port: Option<u16>) -> String {
    let mut conf = String::from(
        "save \"\"\nappendonly no\nenable-debug-command yes\nrepl-diskless-sync-delay 0\n",
    );
    if let Some(port) = master_port {
        conf.push_str(&format!("replicaof 127.0.0.1 {port}\n"));
    }
    conf
}

fn sentinel_conf(master_port: u16) -> String {
    format!(
        "sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} 2\n\
         sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n\
         sentinel failover-timeout {MASTER_NAME} 10000\n\
         sentinel parallel-syncs {MASTER_NAME} 1\n"
    )
}

/// A reply's elements as text (bulk strings and simple strings).
fn texts(reply: &[u8]) -> Vec<String> {
    aggregate_elements(reply)
        .unwrap_or_default()
        .iter()
        .map(|e| bulk_text(e).unwrap_or_else(|| String::from_utf8_lossy(e).trim_end().to_string()))
        .collect()
}

/// `SENTINEL MASTER mymaster` as (field, value) pairs; empty when the sentinel cannot answer.
fn sentinel_master(sentinel: &Server) -> Vec<(String, String)> {
    let reply = sentinel
        .try_request(&["SENTINEL", "MASTER", MASTER_NAME])
        .unwrap_or_default();
    let t = texts(&reply);
    t.chunks(2)
        .filter(|c| c.len() == 2)
        .map(|c| (c[0].clone(), c[1].clone()))
        .collect()
}

fn sentinel_field(sentinel: &Server, name: &str) -> Option<String> {
    sentinel_master(sentinel)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// The master port a sentinel names (`SENTINEL GET-MASTER-ADDR-BY-NAME`).
fn master_port_seen_by(sentinel: &Server) -> Option<u16> {
    let reply = sentinel
        .try_request(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME])
        .ok()?;
    texts(&reply).get(1)?.parse().ok()
}

fn field(server: &Server, name: &str) -> Option<String> {
    server.info_field("replication", name)
}

/// Whether `replica` follows `master` with its link up.
fn follows(replica: &Server, master: &Server) -> bool {
    replica.try_info("replication").is_some_and(|info| {
        let get = |k: &str| info.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        get("role").as_deref() == Some("slave")
            && get("master_port") == Some(master.port().to_string())
            && get("master_link_status").as_deref() == Some("up")
    })
}

/// The `replicaof` lines of a node's config file.
fn replicaof_lines(node: &Server) -> Vec<String> {
    let path = node.dir().join("server.conf");
    fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .lines()
        .filter(|l| l.starts_with("replicaof") || l.starts_with("slaveof"))
        .map(str::to_string)
        .collect()
}

/// The (key, value) pairs not holding that value on `server`, read with pipelined GETs.
fn missing_writes(server: &Server, writes: &[(String, String)]) -> Vec<String> {
    let mut con = RawConn::connect(server.addr());
    let mut missing = Vec::new();
    for chunk in writes.chunks(500) {
        let mut out = Vec::new();
        for (k, _) in chunk {
            out.extend_from_slice(&support::encode_command(&[b"GET", k.as_bytes()]));
        }
        con.send_raw(&out);
        for (k, v) in chunk {
            let reply = con.read_reply_raw();
            if bulk_text(&reply).as_deref() != Some(v.as_str()) {
                missing.push(format!("{k} = {}", escape(&reply)));
            }
        }
    }
    missing
}

/// A master and two replicas of `kind`, watched by three sentinels (of the kinds given) that
/// have discovered the replicas (from the master's INFO) and each other (hello messages).
fn watched_topology(
    kind: ServerKind,
    sentinel_kinds: [ServerKind; 3],
) -> (Server, [Server; 2], Vec<Server>) {
    watched_topology_with(kind, sentinel_kinds, "", "")
}

/// [`watched_topology`] with `node_extra` added to the data nodes' config and
/// `sentinel_extra` to the sentinels'.
fn watched_topology_with(
    kind: ServerKind,
    sentinel_kinds: [ServerKind; 3],
    node_extra: &str,
    sentinel_extra: &str,
) -> (Server, [Server; 2], Vec<Server>) {
    let node = |master: Option<u16>| format!("{}{node_extra}", node_conf(master));
    let master = Server::start_with_config(kind, &node(None));
    let replicas = [
        Server::start_with_config(kind, &node(Some(master.port()))),
        Server::start_with_config(kind, &node(Some(master.port()))),
    ];
    for r in &replicas {
        assert!(
            wait_until(SYNC_TIMEOUT, || follows(r, &master)),
            "{} did not sync with its master: {:?}",
            r.label(),
            r.try_info("replication")
        );
    }
    let sentinels: Vec<Server> = sentinel_kinds
        .iter()
        .map(|&k| {
            let conf = format!("{}{sentinel_extra}", sentinel_conf(master.port()));
            Server::start_with_config(k, &conf)
        })
        .collect();
    // Discovery: the replicas from the master's INFO, the other sentinels from hello messages.
    for s in &sentinels {
        let ok = wait_until(SYNC_TIMEOUT, || {
            sentinel_field(s, "num-slaves").as_deref() == Some("2")
                && sentinel_field(s, "num-other-sentinels").as_deref() == Some("2")
        });
        assert!(
            ok,
            "{} did not discover the replicas and the other sentinels: {:?}",
            s.label(),
            sentinel_master(s)
        );
    }
    (master, replicas, sentinels)
}

fn failover_under_wait_load(kind: ServerKind, sentinel_kinds: [ServerKind; 3]) {
    let (mut master, replicas, sentinels) = watched_topology(kind, sentinel_kinds);
    let writer = Writer::start(
        master.addr(),
        WriterOptions {
            prefix: "sent".into(),
            batch: 16,
            max_time: Duration::from_secs(120),
            wait_replicas: Some(1),
            ..WriterOptions::default()
        },
    );
    assert!(
        writer.wait_ops(3000, Duration::from_secs(30)),
        "the writer did not get going"
    );
    let killed_at = Instant::now();
    master.stop();
    let report = writer.stop();
    assert!(
        !report.acked.is_empty(),
        "no write was acknowledged by WAIT 1 before the kill: {report:?}"
    );

    let mut promoted = None;
    let found = wait_until(PROMOTION_BOUND + Duration::from_secs(20), || {
        promoted = replicas
            .iter()
            .position(|r| field(r, "role").as_deref() == Some("master"));
        promoted.is_some()
    });
    let took = killed_at.elapsed();
    let logs: Vec<String> = sentinels.iter().map(Server::log_text).collect();
    assert!(found, "no replica was promoted; sentinel logs:\n{logs:#?}");
    assert!(
        took <= PROMOTION_BOUND,
        "the promotion took {took:?}, over down-after-milliseconds + 5 s; sentinel logs:\n{logs:#?}"
    );
    let new_master = &replicas[promoted.unwrap_or(0)];
    let other = &replicas[1 - promoted.unwrap_or(0)];
    eprintln!(
        "{} watched by {:?}: {} promoted {took:?} after the kill; {} writes acknowledged by WAIT 1",
        kind.name(),
        sentinel_kinds.map(ServerKind::name),
        new_master.label(),
        report.acked.len()
    );

    assert!(
        wait_until(RECONFIG_TIMEOUT, || follows(other, new_master)),
        "{} does not follow the new master {}: {:?}",
        other.label(),
        new_master.label(),
        other.try_info("replication")
    );
    for s in &sentinels {
        assert!(
            wait_until(RECONFIG_TIMEOUT, || master_port_seen_by(s)
                == Some(new_master.port())),
            "{} still names {:?} as the master",
            s.label(),
            master_port_seen_by(s)
        );
    }
    let missing = missing_writes(new_master, &report.acked);
    assert!(
        missing.is_empty(),
        "{} of {} WAIT-acknowledged writes are not on the new master, e.g. {:?}",
        missing.len(),
        report.acked.len(),
        &missing[..missing.len().min(5)]
    );

    // The old master comes back from its unchanged config file as a master; the sentinels
    // make it a replica of the new one.
    master.restart();
    assert!(
        wait_until(RECONFIG_TIMEOUT, || follows(&master, new_master)),
        "the restarted old master {} was not turned into a replica of {}: {:?}",
        master.label(),
        new_master.label(),
        master.try_info("replication")
    );
    // Each reconfiguration ran CONFIG REWRITE inside the sentinel's transaction.
    let expected = vec![format!("replicaof 127.0.0.1 {}", new_master.port())];
    assert_eq!(replicaof_lines(new_master), Vec::<String>::new());
    assert_eq!(replicaof_lines(other), expected, "{}", other.label());
    assert_eq!(replicaof_lines(&master), expected, "{}", master.label());
    wait_in_sync(new_master, &[other, &master], SYNC_TIMEOUT);
    // The old master's return took nothing away: every acknowledged write is still on the new
    // master, and on the old one now that it follows it.
    for node in [new_master, &master] {
        let missing = missing_writes(node, &report.acked);
        assert!(
            missing.is_empty(),
            "after the old master rejoined, {} of {} WAIT-acknowledged writes are not on {}",
            missing.len(),
            report.acked.len(),
            node.label()
        );
    }
}

#[test]
fn sentinels_fail_over_a_killed_tandem_master_without_losing_acknowledged_writes() {
    failover_under_wait_load(Tandem, REDIS_SENTINELS);
}

#[test]
fn sentinels_fail_over_a_killed_redis_master_reference() {
    failover_under_wait_load(Redis, REDIS_SENTINELS);
}

#[test]
fn tandem_sentinels_fail_over_a_killed_tandem_master_without_losing_acknowledged_writes() {
    failover_under_wait_load(Tandem, TANDEM_SENTINELS);
}

/// Tandem and Redis sentinels share one quorum: same hello messages, same
/// IS-MASTER-DOWN-BY-ADDR votes.
#[test]
fn mixed_tandem_and_redis_sentinels_fail_over_a_killed_tandem_master() {
    failover_under_wait_load(Tandem, MIXED_SENTINELS);
}

/// Tandem's no-lost-write settings (docs/architecture.md "No acknowledged write lost").
const HA_NODE: &str = "replica-refuse-rollback yes\n";
const HA_SENTINEL: &str = "sentinel wait-replicas mymaster 1\n";

/// `n` SETs with `prefix` on `node`, then `WAIT replicas`; the writes, once WAIT says that
/// many replicas acknowledged them.
fn write_acknowledged(
    node: &Server,
    prefix: &str,
    n: usize,
    replicas: u32,
) -> Vec<(String, String)> {
    let writes: Vec<(String, String)> = (0..n)
        .map(|i| (format!("{prefix}:{i}"), format!("v{i}")))
        .collect();
    let mut con = node.raw();
    for (k, v) in &writes {
        assert_eq!(con.request_str(&["SET", k, v]), b"+OK\r\n");
    }
    let acks = con.request_str(&["WAIT", &replicas.to_string(), "5000"]);
    assert_eq!(
        String::from_utf8_lossy(&acks),
        format!(":{replicas}\r\n"),
        "WAIT {replicas} on {}",
        node.label()
    );
    writes
}

/// Waits until every sentinel names `master`, the other nodes follow it with their link up,
/// and all hold the same data, including `acked`.
fn converged_on(
    master: &Server,
    others: &[&Server],
    sentinels: &[Server],
    acked: &[(String, String)],
) {
    let logs = || {
        sentinels
            .iter()
            .map(Server::log_text)
            .collect::<Vec<_>>()
            .join("\n")
    };
    for s in sentinels {
        assert!(
            wait_until(RECONFIG_TIMEOUT, || master_port_seen_by(s)
                == Some(master.port())),
            "{} names {:?}, not {}; sentinel logs:\n{}",
            s.label(),
            master_port_seen_by(s),
            master.label(),
            logs()
        );
    }
    for o in others {
        assert!(
            wait_until(RECONFIG_TIMEOUT, || follows(o, master)),
            "{} does not follow {}: {:?}; sentinel logs:\n{}",
            o.label(),
            master.label(),
            o.try_info("replication"),
            logs()
        );
    }
    wait_in_sync(master, others, SYNC_TIMEOUT);
    let missing = missing_writes(master, acked);
    assert!(missing.is_empty(), "acknowledged writes lost: {missing:?}");
}

/// A failover whose leader sent `SLAVEOF NO ONE` to replica A and gave up before anything
/// else (TILT, a timeout) leaves A a master that the sentinels list as a replica; the master
/// then restarts empty (a new history; B refuses to roll back to it). A holds every
/// acknowledged write: the sentinels must fail over to A again, not point A at the master
/// that lost them (which a master judged sane for an instant, between a replica's INFO and its
/// own, used to allow), nor give up for want of fenced replicas (A, a master, cannot be
/// fenced).
#[test]
fn ha_failover_promotes_again_a_replica_left_promoted_when_the_master_restarts_empty() {
    let (mut master, [a, b], sentinels) =
        watched_topology_with(Tandem, TANDEM_SENTINELS, HA_NODE, HA_SENTINEL);
    let acked = write_acknowledged(&master, "k", 300, 2);
    master.stop();
    assert_eq!(a.request(&["REPLICAOF", "NO", "ONE"]), b"+OK\r\n");
    master.restart();
    converged_on(&a, &[&b, &master], &sentinels, &acked);
}

/// Replica A was promoted by a failover that did not finish and took a write of its own, while
/// B went on acknowledging the old master's writes; the master dies. A and B each hold data the
/// other lacks, and either may have been acknowledged, so no replica can be promoted without
/// dropping some: the failover gives up and says why, with every fenced replica's history
/// (it used to say "-failover-abort-too-few-replicas", A being a master that cannot be fenced).
#[test]
fn ha_failover_with_diverged_replicas_gives_up_and_says_so() {
    let (mut master, [a, b], sentinels) =
        watched_topology_with(Tandem, TANDEM_SENTINELS, HA_NODE, HA_SENTINEL);
    write_acknowledged(&master, "k", 100, 2);
    assert_eq!(a.request(&["REPLICAOF", "NO", "ONE"]), b"+OK\r\n");
    assert_eq!(a.request(&["SET", "own", "1"]), b"+OK\r\n");
    write_acknowledged(&master, "later", 100, 1);
    master.stop();
    let event = "-failover-abort-histories-diverged";
    assert!(
        wait_until(RECONFIG_TIMEOUT, || sentinels
            .iter()
            .any(|s| s.log_text().contains(event))),
        "no sentinel logged {event}; logs:\n{}",
        sentinels
            .iter()
            .map(Server::log_text)
            .collect::<Vec<_>>()
            .join("\n")
    );
    let log = sentinels.iter().map(Server::log_text).collect::<String>();
    let line = log.lines().find(|l| l.contains(event)).unwrap_or_default();
    for node in [&a, &b] {
        assert!(line.contains(&format!(":{}=", node.port())), "{line}");
    }
    assert!(!log.contains("-failover-abort-too-few-replicas"), "{log}");
    assert_eq!(field(&b, "role").as_deref(), Some("slave"));
}

/// A master stuck in a read-only script answers `-BUSY` once `busy-reply-threshold` passed;
/// the sentinels, which by then hold it subjectively down, send it `SCRIPT KILL`.
fn busy_script_killed(kind: ServerKind, sentinel_kinds: [ServerKind; 3]) {
    let (master, _replicas, sentinels) = watched_topology(kind, sentinel_kinds);
    let mut con = master.raw();
    con.set_timeout(Duration::from_secs(30));
    let started = Instant::now();
    let reply = con.request_str(&["EVAL", "while true do end", "0"]);
    let text = String::from_utf8_lossy(&reply).into_owned();
    let logs: Vec<String> = sentinels.iter().map(Server::log_text).collect();
    assert!(
        text.contains("Script killed by user with SCRIPT KILL"),
        "{}: EVAL answered {} after {:?}; sentinel logs:\n{logs:#?}",
        master.label(),
        escape(&reply),
        started.elapsed()
    );
    assert_eq!(master.request(&["PING"]), b"+PONG\r\n");
}

#[test]
fn sentinels_kill_a_busy_script_on_a_tandem_master() {
    busy_script_killed(Tandem, REDIS_SENTINELS);
}

#[test]
fn tandem_sentinels_kill_a_busy_script_on_a_tandem_master() {
    busy_script_killed(Tandem, TANDEM_SENTINELS);
}

#[test]
fn sentinels_kill_a_busy_script_on_a_redis_master_reference() {
    busy_script_killed(Redis, REDIS_SENTINELS);
}

/// A sentinel without the master's password: its pub/sub link's SUBSCRIBE is refused
/// (`-NOAUTH`), which closes that link (hiredis drops a connection on an error reply no command
/// waits for), so the master shows `disconnected` nearly all the time (a new link each second
/// is refused at once) and goes `s_down` (its PINGs get no valid reply). `SENTINEL SET
/// auth-pass` reconnects it. redis-sentinel is the reference.
fn sentinel_without_the_masters_password(sentinel_kind: ServerKind) {
    let master = Server::start_with_config(Tandem, &node_conf(None));
    assert_eq!(
        master.request(&["CONFIG", "SET", "requirepass", "secret"]),
        b"+OK\r\n"
    );
    let sentinel = Server::start_with_config(sentinel_kind, &sentinel_conf(master.port()));
    let flags = || sentinel_field(&sentinel, "flags").unwrap_or_default();
    std::thread::sleep(Duration::from_millis(1500));
    let samples: Vec<String> = (0..20)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(50));
            flags()
        })
        .collect();
    let disconnected = samples
        .iter()
        .filter(|f| f.contains("disconnected"))
        .count();
    assert!(
        disconnected >= 15,
        "{}: flags sampled every 50 ms: {samples:?}",
        sentinel.label()
    );
    assert!(
        wait_until(Duration::from_millis(DOWN_AFTER_MS + 3000), || flags()
            .contains("s_down")),
        "{}: master never subjectively down, flags {}",
        sentinel.label(),
        flags()
    );
    assert_eq!(
        sentinel.request(&["SENTINEL", "SET", MASTER_NAME, "auth-pass", "secret"]),
        b"+OK\r\n"
    );
    assert!(
        wait_until(Duration::from_secs(5), || flags() == "master"),
        "{}: flags {} after SENTINEL SET auth-pass",
        sentinel.label(),
        flags()
    );
}

#[test]
fn tandem_sentinel_without_the_masters_password_is_disconnected() {
    sentinel_without_the_masters_password(TandemSentinel);
}

#[test]
fn redis_sentinel_without_the_masters_password_is_disconnected_reference() {
    sentinel_without_the_masters_password(RedisSentinel);
}

/// The INFO replication fields Sentinel reads from a replica whose master never answered
/// (offsets are 1 without a master or cached master), and `replica-announced`.
#[test]
fn replica_fields_sentinel_reads_match_redis() {
    const FIELDS: &[&str] = &[
        "role",
        "master_link_status",
        "slave_read_repl_offset",
        "slave_repl_offset",
        "slave_priority",
        "replica_announced",
    ];
    let seen = |kind: ServerKind| {
        // Nothing listens on port 1: the link stays down.
        let node = Server::start(
            kind,
            &[
                "--save",
                "",
                "--replicaof",
                "127.0.0.1",
                "1",
                "--replica-priority",
                "7",
            ],
        );
        let mut lines = Vec::new();
        for announced in ["yes", "no"] {
            let reply = node.request(&["CONFIG", "SET", "replica-announced", announced]);
            assert_eq!(reply, b"+OK\r\n", "{}", node.label());
            for f in FIELDS {
                lines.push(format!("{f}:{}", field(&node, f).unwrap_or_default()));
            }
        }
        lines
    };
    assert_eq!(seen(Tandem), seen(Redis));
}

/// A sentinel's replies, byte for byte as redis-sentinel's, for commands whose answers do not
/// depend on timing or ids: errors, HELP, DEBUG, CONFIG GET, CKQUORUM, addresses, ROLE, and
/// the field names of SENTINEL MASTER.
#[test]
fn tandem_sentinel_replies_match_redis_sentinel() {
    // Nothing listens on port 1: the master stays unreachable.
    let conf = format!("sentinel monitor {MASTER_NAME} 127.0.0.1 1 2\n");
    let redis = Server::start_with_config(RedisSentinel, &conf);
    let tandem = Server::start_with_config(TandemSentinel, &conf);
    let commands: &[&[&str]] = &[
        &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME],
        &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "nosuch"],
        &["SENTINEL", "MASTER", "nosuch"],
        &["SENTINEL", "REPLICAS", MASTER_NAME],
        &["SENTINEL", "SENTINELS", MASTER_NAME],
        &["SENTINEL", "CKQUORUM", MASTER_NAME],
        &["SENTINEL", "DEBUG"],
        &["SENTINEL", "DEBUG", "info-period", "abc"],
        &["SENTINEL", "DEBUG", "nosuch", "1"],
        &["SENTINEL", "CONFIG", "GET", "*"],
        &["SENTINEL", "CONFIG", "SET", "nosuch", "1"],
        &["SENTINEL", "CONFIG", "SET", "announce-port", "70000"],
        &["SENTINEL", "CONFIG", "FOO"],
        &["SENTINEL", "SET", MASTER_NAME, "nosuch", "1"],
        &["SENTINEL", "SET", MASTER_NAME, "quorum", "0"],
        &[
            "SENTINEL",
            "SET",
            MASTER_NAME,
            "down-after-milliseconds",
            "abc",
        ],
        &[
            "SENTINEL",
            "SET",
            MASTER_NAME,
            "notification-script",
            "/bin/true",
        ],
        &["SENTINEL", "SET", "nosuch", "quorum", "1"],
        &["SENTINEL", "MONITOR", "other", "127.0.0.1", "abc", "2"],
        &["SENTINEL", "MONITOR", "other", "127.0.0.1", "1", "abc"],
        &["SENTINEL", "MONITOR", "other", "127.0.0.1", "1", "0"],
        &["SENTINEL", "MONITOR", "other", "not-an-address", "1", "2"],
        &["SENTINEL", "MONITOR", MASTER_NAME, "127.0.0.1", "1", "2"],
        &[
            "SENTINEL",
            "IS-MASTER-DOWN-BY-ADDR",
            "127.0.0.1",
            "1",
            "0",
            "*",
        ],
        &[
            "SENTINEL",
            "IS-MASTER-DOWN-BY-ADDR",
            "127.0.0.1",
            "x",
            "0",
            "*",
        ],
        &["SENTINEL", "SIMULATE-FAILURE", "HELP"],
        &["SENTINEL", "SIMULATE-FAILURE", "nosuch"],
        &["SENTINEL", "FAILOVER", MASTER_NAME],
        &["SENTINEL", "REMOVE", "nosuch"],
        &["SENTINEL", "RESET", "nomatch*"],
        &["SENTINEL", "PENDING-SCRIPTS"],
        &["SENTINEL", "HELP"],
        &["SENTINEL", "NOSUCH"],
        &["SENTINEL", "MASTER"],
        &["ROLE"],
        &["PUBLISH", "foo", "bar"],
        &["GET", "foo"],
    ];
    for cmd in commands {
        assert_eq!(
            escape(&tandem.request(cmd)),
            escape(&redis.request(cmd)),
            "{cmd:?}"
        );
    }
    let keys =
        |s: &Server| -> Vec<String> { sentinel_master(s).into_iter().map(|(k, _)| k).collect() };
    assert_eq!(keys(&tandem), keys(&redis), "SENTINEL MASTER fields");
    let info_keys = |s: &Server| -> Vec<String> {
        let reply = s.request(&["INFO", "sentinel"]);
        String::from_utf8_lossy(&reply)
            .lines()
            .filter_map(|l| l.split_once(':').map(|(k, _)| k.to_string()))
            .collect()
    };
    assert_eq!(info_keys(&tandem), info_keys(&redis), "INFO sentinel");
}

/// The field names of each entry of an array of maps (SENTINEL REPLICAS / SENTINELS), sorted
/// by the entry's name.
fn entry_fields(sentinel: &Server, cmd: &[&str]) -> Vec<Vec<String>> {
    let reply = sentinel.request(cmd);
    let mut entries: Vec<Vec<String>> = aggregate_elements(&reply)
        .unwrap_or_default()
        .iter()
        .map(|e| texts(e))
        .collect();
    entries.sort();
    entries
        .iter()
        .map(|t| t.chunks(2).map(|c| c[0].clone()).collect())
        .collect()
}

/// In a mixed quorum, a Tandem sentinel and a Redis sentinel report the same instances with
/// the same fields (SENTINEL MASTER, REPLICAS, SENTINELS), and the same INFO-CACHE shape.
#[test]
fn mixed_sentinels_report_the_same_instances() {
    let (_master, _replicas, sentinels) = watched_topology(Tandem, MIXED_SENTINELS);
    let (tandem, redis) = (&sentinels[0], &sentinels[1]);
    let keys =
        |s: &Server| -> Vec<String> { sentinel_master(s).into_iter().map(|(k, _)| k).collect() };
    assert_eq!(keys(tandem), keys(redis), "SENTINEL MASTER fields");
    for cmd in [
        &["SENTINEL", "REPLICAS", MASTER_NAME][..],
        &["SENTINEL", "SENTINELS", MASTER_NAME][..],
    ] {
        let (t, r) = (entry_fields(tandem, cmd), entry_fields(redis, cmd));
        assert_eq!(t.len(), 2, "{cmd:?}");
        assert_eq!(t, r, "{cmd:?}");
    }
    let shape = |s: &Server| -> Vec<usize> {
        let reply = s.request(&["SENTINEL", "INFO-CACHE", MASTER_NAME]);
        let top = aggregate_elements(&reply).unwrap_or_default();
        let nodes = top
            .get(1)
            .and_then(|n| aggregate_elements(n))
            .unwrap_or_default();
        let mut v = vec![top.len(), nodes.len()];
        v.extend(
            nodes
                .iter()
                .map(|n| aggregate_elements(n).map_or(0, |e| e.len())),
        );
        v
    };
    assert_eq!(shape(tandem), shape(redis), "SENTINEL INFO-CACHE shape");
    assert_eq!(
        escape(&tandem.request(&["ROLE"])),
        escape(&redis.request(&["ROLE"]))
    );
}

/// A node's port and role, asked through a client connection.
fn port_and_role(client: &redis::Client) -> (u16, String) {
    let mut con = client.get_connection().expect("connect");
    let port: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("port")
        .query(&mut con)
        .expect("CONFIG GET port");
    let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut con).expect("ROLE");
    let role = match role.first() {
        Some(redis::Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
        other => format!("{other:?}"),
    };
    (port.get(1).and_then(|p| p.parse().ok()).unwrap_or(0), role)
}

/// The `redis` crate's Sentinel support (a client library's view) finds the master and a
/// replica through Tandem sentinels, and the new master after a failover.
#[test]
fn redis_crate_sentinel_client_finds_the_master_through_tandem_sentinels() {
    let (mut master, replicas, sentinels) = watched_topology(Tandem, TANDEM_SENTINELS);
    let urls: Vec<String> = sentinels
        .iter()
        .map(|s| format!("redis://127.0.0.1:{}/", s.port()))
        .collect();
    let mut sentinel = redis::sentinel::Sentinel::build(urls).expect("sentinel client");
    let client = sentinel.master_for(MASTER_NAME, None).expect("master_for");
    assert_eq!(
        port_and_role(&client),
        (master.port(), "master".to_string())
    );
    let mut con = client.get_connection().expect("connect");
    let () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query(&mut con)
        .expect("SET");
    let replica = sentinel
        .replica_for(MASTER_NAME, None)
        .expect("replica_for");
    let (port, role) = port_and_role(&replica);
    assert_eq!(role, "slave");
    assert!(
        replicas.iter().any(|r| r.port() == port),
        "replica port {port}"
    );

    master.stop();
    let promoted = wait_until(PROMOTION_BOUND + Duration::from_secs(20), || {
        sentinel
            .master_for(MASTER_NAME, None)
            .is_ok_and(|c| c.get_connection().is_ok() && port_and_role(&c).1 == "master")
    });
    assert!(promoted, "the client never found a new master");
    let client = sentinel.master_for(MASTER_NAME, None).expect("master_for");
    let (port, _) = port_and_role(&client);
    assert!(
        replicas.iter().any(|r| r.port() == port),
        "new master port {port}"
    );
    let mut con = client.get_connection().expect("connect");
    let v: String = redis::cmd("GET").arg("k").query(&mut con).expect("GET");
    assert_eq!(v, "v");
}
