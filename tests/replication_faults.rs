//! Replication under faults (issue 4 item 8): backlog overrun, a replica killed during its full
//! sync, master restarts with and without its RDB, a slow replica cut by the output-buffer limit,
//! and promotion of a replica after the master dies — with a full-speed writer running during
//! the faults (item 11). Expected behaviour is Redis 7.0.15's (REPLICATION-SPEC.md §4, §5.7);
//! where it helps to prove the scenario itself, the same scenario also runs with a real Redis
//! master. Every test ends with equal offsets and equal `DEBUG DIGEST` on all nodes.

mod support;

use std::time::Duration;

use support::proxy::Proxy;
use support::{
    escape, log_lines, start_node as start, start_replica_node as start_replica, wait_in_sync,
    wait_link_up, wait_until, RawConn, Server, ServerKind, Writer, WriterOptions, SYNC_TIMEOUT,
};

use ServerKind::{Redis, Tandem};

/// Sends `args` and asserts the reply is not an error.
fn ok(server: &Server, args: &[&str]) -> Vec<u8> {
    let reply = server.request(args);
    assert!(
        reply.first() != Some(&b'-'),
        "{} answered {args:?} with {}",
        server.label(),
        escape(&reply)
    );
    reply
}

/// Some data of every type besides what DEBUG POPULATE makes.
fn seed(server: &Server) {
    support::seed_types(server, "");
    ok(server, &["DEBUG", "POPULATE", "1000", "seed"]);
}

fn stats(server: &Server) -> (i64, i64, i64) {
    (
        server.info_i64("stats", "sync_full"),
        server.info_i64("stats", "sync_partial_ok"),
        server.info_i64("stats", "sync_partial_err"),
    )
}

/// Waits until the master lists `n` attached replicas.
fn wait_connected_slaves(master: &Server, n: usize) {
    let want = n.to_string();
    assert!(
        wait_until(SYNC_TIMEOUT, || {
            master
                .info_field("replication", "connected_slaves")
                .as_deref()
                == Some(want.as_str())
        }),
        "{}: connected_slaves never reached {n}: {:?}",
        master.label(),
        master.try_info("replication")
    );
}

/// Writes for the whole test: the time bound covers the slowest fault sequence on a loaded
/// machine (each test stops its writer itself; the op count bounds it too).
fn full_speed_writer(master: &Server, prefix: &str) -> Writer {
    Writer::start(
        master.addr(),
        WriterOptions {
            prefix: prefix.into(),
            max_time: Duration::from_secs(120),
            ..WriterOptions::default()
        },
    )
}

/// Writes `total` bytes of string values (`SET <prefix>:<i> <chunk>`) pipelined.
fn write_bulk(server: &Server, prefix: &str, total: usize, chunk: usize) {
    let value = vec![b'v'; chunk];
    let mut con = server.raw();
    let count = total.div_ceil(chunk);
    let mut out = Vec::new();
    for i in 0..count {
        let key = format!("{prefix}:{i}");
        out.extend_from_slice(&support::encode_command(&[b"SET", key.as_bytes(), &value]));
    }
    con.send_raw(&out);
    for _ in 0..count {
        let r = con.read_reply_raw();
        assert_eq!(r, b"+OK\r\n", "{}", server.label());
    }
}

// ---------------------------------------------------------------------------------------------
// 6 (+11): backlog exceeded → full resync

fn backlog_exceeded(master_kind: ServerKind, replica_kind: ServerKind) {
    let master = start(master_kind, &["--repl-backlog-size", "16kb"]);
    seed(&master);
    let proxy = Proxy::start(master.addr());
    let replica = start_replica(replica_kind, proxy.port(), &[]);
    wait_in_sync(&master, &[&replica], SYNC_TIMEOUT);
    assert_eq!(
        master.info_i64("replication", "repl_backlog_size"),
        16 * 1024
    );
    let (full0, partial0, _) = stats(&master);
    assert_eq!(full0, 1);

    let writer = full_speed_writer(&master, "w6");
    assert!(writer.wait_ops(2_000, SYNC_TIMEOUT), "writer stalled");
    proxy.set_refuse(true);
    proxy.cut();
    wait_connected_slaves(&master, 0);
    let cut_offset = replica.info_i64("replication", "slave_repl_offset");
    // More than 1 MB (the default backlog) while the replica is away.
    write_bulk(&master, "big6", 1_200_000, 40_000);
    let gap = master.info_i64("replication", "master_repl_offset") - cut_offset;
    assert!(gap > 1_200_000, "gap {gap}");
    // Spec §4.1: with no replica holding it, the backlog is trimmed back to about
    // repl-backlog-size (by whole blocks), so it cannot cover the gap.
    let histlen = master.info_i64("replication", "repl_backlog_histlen");
    assert!(
        histlen < 256 * 1024,
        "repl_backlog_histlen {histlen} with repl-backlog-size 16kb (INFO: {:?})",
        master.info("replication")
    );
    proxy.set_refuse(false);
    wait_link_up(&replica, SYNC_TIMEOUT);
    let n = writer.ops();
    assert!(
        writer.wait_ops(n + 2_000, SYNC_TIMEOUT),
        "writer stalled after the resync"
    );
    let report = writer.stop();
    assert!(report.error.is_none(), "writer: {report:?}");
    wait_in_sync(&master, &[&replica], SYNC_TIMEOUT);
    let (full1, partial1, _) = stats(&master);
    assert_eq!(full1, full0 + 1, "sync_full after the backlog overrun");
    assert_eq!(
        partial1, partial0,
        "sync_partial_ok after the backlog overrun"
    );
    assert!(
        !log_lines(&master, "for lack of backlog").is_empty(),
        "master log lacks `Unable to partial resync with replica ... for lack of backlog`"
    );
}

#[test]
fn backlog_exceeded_tandem_master_tandem_replica() {
    backlog_exceeded(Tandem, Tandem);
}

#[test]
fn backlog_exceeded_redis_master_tandem_replica() {
    backlog_exceeded(Redis, Tandem);
}

// ---------------------------------------------------------------------------------------------
// 7: replica SIGKILLed during its full sync

/// The replica syncs through a rate-limited proxy, so the transfer of a 200k-key snapshot takes
/// seconds and the kill lands in the middle of it; another replica syncing at the same time must
/// not be disturbed; the killed replica, restarted on its dir, converges.
fn replica_killed_during_full_sync(master_kind: ServerKind, replica_kind: ServerKind) {
    let master = start(master_kind, &[]);
    seed(&master);
    ok(&master, &["DEBUG", "POPULATE", "200000"]);
    let proxy = Proxy::start(master.addr());
    proxy.set_rate_limit(Some(2_000_000));
    let mut victim = start_replica(replica_kind, proxy.port(), &[]);
    let bystander = start_replica(Tandem, master.port(), &[]);
    let mut state = String::new();
    let caught = wait_until(SYNC_TIMEOUT, || {
        let read = victim
            .info_field("replication", "master_sync_read_bytes")
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0);
        state = master
            .try_info("replication")
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, _)| k.starts_with("slave"))
            .map(|(k, v)| format!("{k}:{v}"))
            .collect::<Vec<_>>()
            .join(" ");
        read > 100_000
    });
    assert!(
        caught,
        "the victim never got into its transfer; master shows {state}"
    );
    assert_eq!(
        victim
            .info_field("replication", "master_link_status")
            .as_deref(),
        Some("down"),
        "the transfer should still be running"
    );
    let victim_dir = victim.dir().to_path_buf();
    victim.stop(); // SIGKILL
    proxy.set_rate_limit(None);
    // The master drops the dead replica and stays available.
    wait_connected_slaves(&master, 1);
    ok(&master, &["SET", "after-kill", "1"]);
    let dir_arg = victim_dir.to_string_lossy().into_owned();
    let restarted = start_replica(replica_kind, proxy.port(), &["--dir", dir_arg.as_str()]);
    run_writes_then_sync(&master, &[&bystander, &restarted]);
}

/// A full-speed writer runs while the replicas (re)sync; then all converge.
fn run_writes_then_sync(master: &Server, replicas: &[&Server]) {
    let writer = full_speed_writer(master, "w7");
    assert!(writer.wait_ops(5_000, SYNC_TIMEOUT), "writer stalled");
    for r in replicas {
        wait_link_up(r, SYNC_TIMEOUT);
    }
    let report = writer.stop();
    assert!(report.error.is_none(), "writer: {report:?}");
    wait_in_sync(master, replicas, SYNC_TIMEOUT);
}

#[test]
fn replica_killed_during_full_sync_tandem_master_tandem_replica() {
    replica_killed_during_full_sync(Tandem, Tandem);
}

#[test]
fn replica_killed_during_full_sync_tandem_master_redis_replica() {
    replica_killed_during_full_sync(Tandem, Redis);
}

// ---------------------------------------------------------------------------------------------
// 8: master restart, with its RDB (partial resync, spec §4.5) and without (full resync)

fn master_restart(master_kind: ServerKind, with_rdb: bool) {
    let mut master = start(master_kind, &[]);
    seed(&master);
    let proxy = Proxy::start(master.addr());
    let replicas = [
        start_replica(Tandem, proxy.port(), &[]),
        start_replica(Redis, proxy.port(), &[]),
    ];
    let refs: Vec<&Server> = replicas.iter().collect();
    for r in &refs {
        wait_link_up(r, SYNC_TIMEOUT);
    }
    let writer = full_speed_writer(&master, "w8");
    assert!(writer.wait_ops(5_000, SYNC_TIMEOUT), "writer stalled");
    let report = writer.stop();
    assert!(report.error.is_none(), "writer: {report:?}");
    wait_in_sync(&master, &refs, SYNC_TIMEOUT);
    let old_id = master.info_field("replication", "master_replid").unwrap();
    let old_offset = master.info_i64("replication", "master_repl_offset");
    let digest = master.try_digest().unwrap();
    let partial_lines_before: Vec<usize> = refs
        .iter()
        .map(|r| log_lines(r, "Successful partial resynchronization with master.").len())
        .collect();

    let old_dir = master.dir().to_string_lossy().into_owned();
    let new_master = if with_rdb {
        // SHUTDOWN SAVE writes the RDB (with repl-id / repl-offset aux fields) and exits.
        let mut con = master.raw();
        con.send_cmd(&[b"SHUTDOWN", b"SAVE"]);
        let _ = con.read_until_closed();
        assert!(
            wait_until(SYNC_TIMEOUT, || !master.is_running()),
            "{} still running after SHUTDOWN SAVE",
            master.label()
        );
        assert!(
            master.dir().join("dump.rdb").is_file(),
            "no dump.rdb after SHUTDOWN SAVE"
        );
        start(master_kind, &["--dir", old_dir.as_str()])
    } else {
        master.stop();
        start(master_kind, &[])
    };
    proxy.set_target(new_master.addr());
    proxy.cut();
    if with_rdb {
        assert_eq!(
            new_master.try_digest().as_deref(),
            Some(digest.as_str()),
            "dataset after reload"
        );
        let info = new_master.info("replication");
        let get = |k: &str| {
            info.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        assert_eq!(
            get("master_replid2"),
            old_id,
            "replid2 after restart from RDB: {info:?}"
        );
        // Redis's SHUTDOWN may append a `REPLCONF GETACK *` (37 bytes) while it waits for the
        // replicas, so the saved offset can be a little past the one read before.
        let offset: i64 = get("master_repl_offset").parse().unwrap_or(-1);
        assert!(
            offset >= old_offset && offset <= old_offset + 37,
            "offset {offset} vs {old_offset}: {info:?}"
        );
        assert_eq!(
            get("second_repl_offset"),
            (offset + 1).to_string(),
            "{info:?}"
        );
        assert_ne!(
            get("master_replid"),
            old_id,
            "a new replid after restart: {info:?}"
        );
    }
    for r in &refs {
        wait_link_up(r, SYNC_TIMEOUT);
    }
    ok(&new_master, &["SET", "after-restart", "1"]);
    ok(&new_master, &["RPUSH", "seed:l", "d"]);
    wait_in_sync(&new_master, &refs, SYNC_TIMEOUT);
    let (full, partial, err) = stats(&new_master);
    let new_id = new_master
        .info_field("replication", "master_replid")
        .unwrap();
    if with_rdb {
        assert_eq!(
            (full, partial),
            (0, 2),
            "sync_full, sync_partial_ok after a restart from RDB"
        );
        for (r, before) in refs.iter().zip(&partial_lines_before) {
            assert_eq!(
                r.info_field("replication", "master_replid"),
                Some(new_id.clone()),
                "{}",
                r.label()
            );
            assert_eq!(
                r.info_field("replication", "master_replid2"),
                Some(old_id.clone()),
                "{}",
                r.label()
            );
            assert!(
                log_lines(r, "Successful partial resynchronization with master.").len() > *before,
                "{} did not log a partial resync",
                r.label()
            );
        }
    } else {
        assert_eq!(
            (full, partial, err),
            (2, 0, 2),
            "sync_full, sync_partial_ok, sync_partial_err after a restart without RDB"
        );
    }
}

#[test]
fn tandem_master_restarted_from_its_rdb() {
    master_restart(Tandem, true);
}

#[test]
fn tandem_master_restarted_without_rdb() {
    master_restart(Tandem, false);
}

#[test]
fn redis_master_restarted_from_its_rdb() {
    master_restart(Redis, true);
}

// ---------------------------------------------------------------------------------------------
// 9: slow replica closed by the output-buffer limit

const OBUF_LINE: &str = "scheduled to be closed ASAP for overcoming of output buffer limits";

fn output_buffer_limit(master_kind: ServerKind) {
    let master = start(
        master_kind,
        &["--client-output-buffer-limit", "replica 1mb 0 0"],
    );
    seed(&master);
    let proxy = Proxy::start(master.addr());
    let replica = start_replica(Tandem, proxy.port(), &[]);
    wait_in_sync(&master, &[&replica], SYNC_TIMEOUT);
    let (full0, partial0, _) = stats(&master);
    proxy.set_paused(true);
    let value = vec![b'o'; 128 * 1024];
    let mut con = master.raw();
    let mut written = 0usize;
    let mut i = 0;
    let found = wait_until(SYNC_TIMEOUT, || {
        if master.log_text().contains(OBUF_LINE) {
            return true;
        }
        if written < 48 << 20 {
            let mut out = Vec::new();
            for _ in 0..8 {
                let key = format!("obuf:{}", i % 64);
                i += 1;
                out.extend_from_slice(&support::encode_command(&[b"SET", key.as_bytes(), &value]));
            }
            con.send_raw(&out);
            for _ in 0..8 {
                assert_eq!(con.read_reply_raw(), b"+OK\r\n");
            }
            written += 8 * value.len();
        }
        false
    });
    assert!(
        found,
        "no `{OBUF_LINE}` in the master log after {} MB to a stalled replica (limit `replica 1mb 0 0`); INFO: {:?}",
        written >> 20,
        master.try_info("replication")
    );
    // The master dropped the replica.
    wait_connected_slaves(&master, 0);
    proxy.set_paused(false);
    wait_link_up(&replica, SYNC_TIMEOUT);
    ok(&master, &["SET", "after-obuf", "1"]);
    wait_in_sync(&master, &[&replica], SYNC_TIMEOUT);
    // It came back through a new sync (full, or partial if what it still needed was in the
    // backlog when the master cut it).
    let (full1, partial1, _) = stats(&master);
    assert!(
        full1 + partial1 > full0 + partial0,
        "no new sync after the cut"
    );
}

#[test]
fn output_buffer_limit_tandem_master() {
    output_buffer_limit(Tandem);
}

#[test]
fn output_buffer_limit_redis_master() {
    output_buffer_limit(Redis);
}

// ---------------------------------------------------------------------------------------------
// 10 (+11): promotion after the master dies

/// M with replicas A and B; a writer gets batches acknowledged with `WAIT 1 1000`; M is killed
/// mid-write. The most advanced replica is promoted (`REPLICAOF NO ONE`), the other is pointed
/// at it and must continue with a partial resync (PSYNC2, spec §4.4); every acknowledged write
/// survives on both.
fn promotion(kinds: [ServerKind; 3]) {
    let mut m = start(kinds[0], &[]);
    seed(&m);
    let a = start_replica(kinds[1], m.port(), &[]);
    let b = start_replica(kinds[2], m.port(), &[]);
    wait_in_sync(&m, &[&a, &b], SYNC_TIMEOUT);
    let m_id = m.info_field("replication", "master_replid").unwrap();
    let writer = Writer::start(
        m.addr(),
        WriterOptions {
            prefix: "w10".into(),
            batch: 16,
            wait_replicas: Some(1),
            ..WriterOptions::default()
        },
    );
    assert!(writer.wait_ops(3_000, SYNC_TIMEOUT), "writer stalled");
    m.stop(); // SIGKILL while writing
    let report = writer.stop();
    assert!(
        !report.acked.is_empty(),
        "no acknowledged writes: {report:?}"
    );
    for r in [&a, &b] {
        assert!(
            wait_until(SYNC_TIMEOUT, || {
                r.info_field("replication", "master_link_status").as_deref() == Some("down")
            }),
            "{} did not notice the master's death",
            r.label()
        );
    }
    // Promote the most advanced replica, as Sentinel would.
    let offset = |s: &Server| s.info_i64("replication", "slave_repl_offset");
    let (p, q) = if offset(&a) >= offset(&b) {
        (&a, &b)
    } else {
        (&b, &a)
    };
    let p_offset = offset(p);
    let (p_full0, p_partial0, _) = stats(p);
    let q_partial_lines = log_lines(q, "Successful partial resynchronization with master.").len();
    assert_eq!(p.request(&["REPLICAOF", "NO", "ONE"]), b"+OK\r\n");
    let p_port = p.port().to_string();
    assert_eq!(
        q.request(&["REPLICAOF", "127.0.0.1", p_port.as_str()]),
        b"+OK\r\n"
    );
    wait_link_up(q, SYNC_TIMEOUT);

    let info = p.info("replication");
    let get = |k: &str| {
        info.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(get("role"), "master");
    assert_eq!(get("master_replid2"), m_id, "promoted replica's replid2");
    assert_eq!(get("second_repl_offset"), (p_offset + 1).to_string());

    // Writes continue on the new master.
    let writer = full_speed_writer(p, "w10b");
    assert!(
        writer.wait_ops(3_000, SYNC_TIMEOUT),
        "writer on the new master stalled"
    );
    let report2 = writer.stop();
    assert!(report2.error.is_none(), "writer: {report2:?}");
    wait_in_sync(p, &[q], SYNC_TIMEOUT);

    let (p_full1, p_partial1, _) = stats(p);
    assert_eq!(
        p_full1,
        p_full0,
        "{} served a full sync to {}",
        p.label(),
        q.label()
    );
    assert!(
        p_partial1 > p_partial0,
        "sync_partial_ok of the promoted replica did not grow"
    );
    assert!(
        log_lines(q, "Successful partial resynchronization with master.").len() > q_partial_lines,
        "{} did not log a partial resync",
        q.label()
    );
    assert_eq!(
        q.info_field("replication", "master_replid"),
        p.info_field("replication", "master_replid")
    );
    for node in [p, q] {
        assert_acked_present(node, &report.acked);
    }
}

/// Every (key, value) acknowledged by WAIT is present with that value.
fn assert_acked_present(node: &Server, acked: &[(String, String)]) {
    let mut con: RawConn = node.raw();
    for chunk in acked.chunks(500) {
        let mut args: Vec<&[u8]> = vec![b"MGET"];
        args.extend(chunk.iter().map(|(k, _)| k.as_bytes()));
        let reply = con.request(&args);
        let items = support::aggregate_elements(&reply).expect("MGET array");
        for ((k, v), got) in chunk.iter().zip(items) {
            assert_eq!(
                support::bulk_text(&got).as_deref(),
                Some(v.as_str()),
                "acknowledged key {k} on {}",
                node.label()
            );
        }
    }
}

#[test]
fn promotion_tandem_nodes() {
    promotion([Tandem, Tandem, Tandem]);
}

#[test]
fn promotion_tandem_master_tandem_and_redis_replicas() {
    promotion([Tandem, Tandem, Redis]);
}
