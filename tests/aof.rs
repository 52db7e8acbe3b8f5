//! The append-only file through the real binaries: an AOF directory moves from redis-server
//! 7.0.15 to Tandem and back with equal `DEBUG DIGEST`s (both base formats), redis-check-aof
//! accepts Tandem's files, and acknowledged writes survive SIGKILL under `appendfsync always`
//! and `everysec`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::{RedisServer, Server, TestServer};

fn own_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tandem-aof-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Commands touching every type, expiries, several databases, a transaction and a script.
fn write_some(s: &Server, tag: &str) {
    let lines: Vec<String> = vec![
        format!("SET s{tag} hello"),
        format!("SET n{tag} 12345"),
        format!("INCRBY n{tag} 10"),
        format!("SET ttl{tag} v EX 100000"),
        format!("RPUSH l{tag} a b 1 -7"),
        format!("LPOP l{tag}"),
        format!("HSET h{tag} f v g 7"),
        format!("SADD si{tag} 3 1 2"),
        format!("SADD ss{tag} x y"),
        format!("ZADD z{tag} 1 a 2.5 b -inf c"),
        format!("MULTI"),
        format!("INCR counter{tag}"),
        format!("SET inmulti{tag} 1"),
        format!("EXEC"),
        format!("EVAL \"redis.call('set', KEYS[1], 'lua') return 1\" 1 script{tag}"),
        format!("SELECT 3"),
        format!("SET in3{tag} yes"),
        format!("SELECT 0"),
    ];
    s.run_lines(&lines);
    let mut c = s.raw();
    let mut big = vec!["RPUSH".to_string(), format!("biglist{tag}")];
    big.extend((0..300).map(|i| format!("item-{i}")));
    let mut bh = vec!["HSET".to_string(), format!("bighash{tag}")];
    bh.extend((0..200).flat_map(|i| [format!("f{i}"), format!("v{i}")]));
    for cmd in [big, bh] {
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
        let _ = c.request(&args);
    }
}

/// Starts Tandem on `dir` with `appendonly yes` and no dump file: the AOF alone must give the
/// dataset of `digest` back.
fn assert_aof_gives_back(dir: &Path, digest: &str) {
    let _ = std::fs::remove_file(dir.join("dump.rdb"));
    let t = start_with_aof(dir);
    assert_eq!(t.try_digest().as_deref(), Some(digest), "{}", t.log_text());
}

/// Tandem on `dir` with `appendonly yes`.
fn start_with_aof(dir: &Path) -> TestServer {
    let d = dir.to_string_lossy();
    TestServer::start(&[
        "--dir",
        &d,
        "--appendonly",
        "yes",
        "--enable-debug-command",
        "yes",
    ])
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir").flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
    }
}

fn check_aof(dir: &Path) {
    let out = Command::new("redis-check-aof")
        .arg(dir.join("appendonlydir").join("appendonly.aof.manifest"))
        .output()
        .expect("redis-check-aof runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && text.contains("All AOF files and manifest are valid"),
        "redis-check-aof: {text}"
    );
}

fn round_trip(preamble: &str) {
    let args = |dir: &str| {
        vec![
            "--enable-debug-command".to_string(),
            "yes".into(),
            "--appendonly".into(),
            "yes".into(),
            "--aof-use-rdb-preamble".into(),
            preamble.into(),
            "--dir".into(),
            dir.into(),
        ]
    };
    let a = own_dir(&format!("redis-{preamble}"));
    let b = own_dir(&format!("tandem-{preamble}"));
    let c = own_dir(&format!("back-{preamble}"));
    // Redis: writes, a rewrite (base + new incr), more writes.
    let digest = {
        let d = a.to_string_lossy().into_owned();
        let mut r = RedisServer::start(&args(&d).iter().map(String::as_str).collect::<Vec<_>>());
        write_some(&r, "1");
        assert!(r.request(&["BGREWRITEAOF"]).starts_with(b"+Background"));
        assert!(support::wait_until(Duration::from_secs(20), || {
            r.info_field("persistence", "aof_rewrite_in_progress")
                .as_deref()
                == Some("0")
        }));
        write_some(&r, "2");
        let digest = r.try_digest().expect("digest");
        // Redis with everysec may postpone its write(2) while a background fsync runs (up to
        // 2 s, replies going out meanwhile), so a SIGKILL can cost it acknowledged writes:
        // it is shut down cleanly. (Tandem is killed below: it writes before replying.)
        let _ = r.try_request(&["SHUTDOWN", "NOSAVE"]);
        assert!(support::wait_until(Duration::from_secs(10), || !r.is_running()));
        digest
    };
    copy_dir(&a.join("appendonlydir"), &b.join("appendonlydir"));
    // Tandem loads Redis's directory, goes on writing, rewrites, and writes more.
    let digest = {
        let d = b.to_string_lossy().into_owned();
        let t = TestServer::start(&args(&d).iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(
            t.try_digest().as_deref(),
            Some(digest.as_str()),
            "{}",
            t.log_text()
        );
        write_some(&t, "3");
        assert!(t.request(&["BGREWRITEAOF"]).starts_with(b"+Background"));
        assert!(support::wait_until(Duration::from_secs(20), || {
            t.info_field("persistence", "aof_rewrite_in_progress")
                .as_deref()
                == Some("0")
        }));
        assert_eq!(
            t.info_field("persistence", "aof_last_bgrewrite_status")
                .as_deref(),
            Some("ok")
        );
        write_some(&t, "4");
        let digest = t.try_digest().expect("digest");
        assert_eq!(t.request(&["DEBUG", "LOADAOF"]), b"+OK\r\n");
        assert_eq!(t.try_digest().as_deref(), Some(digest.as_str()));
        digest
    };
    check_aof(&b);
    copy_dir(&b.join("appendonlydir"), &c.join("appendonlydir"));
    // And Redis loads Tandem's.
    let d = c.to_string_lossy().into_owned();
    let r = RedisServer::start(&args(&d).iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(
        r.try_digest().as_deref(),
        Some(digest.as_str()),
        "{}",
        r.log_text()
    );
    for dir in [a, b, c] {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn aof_directory_moves_between_redis_and_tandem_rdb_base() {
    round_trip("yes");
}

#[test]
fn aof_directory_moves_between_redis_and_tandem_command_base() {
    round_trip("no");
}

/// Writes `SET <tag>k<i> <i>` one at a time until the server goes away; returns how many were
/// acknowledged (all of 0..n were).
fn write_until_killed(addr: std::net::SocketAddr, tag: &str) -> u64 {
    let mut c = support::RawConn::connect(addr);
    c.set_timeout(Duration::from_secs(5));
    let mut n = 0u64;
    loop {
        let (k, v) = (format!("{tag}k{n}"), n.to_string());
        if c.try_send_raw(&support::encode_command(&[
            b"SET",
            k.as_bytes(),
            v.as_bytes(),
        ]))
        .is_err()
        {
            return n;
        }
        match c.try_read_reply() {
            Ok(r) if r == b"+OK\r\n" => n += 1,
            _ => return n,
        }
    }
}

/// Writers on several connections at once (so group commits cover several of them) are cut
/// by SIGKILL; after a restart every write any of them saw acknowledged is there.
fn acknowledged_writes_survive_sigkill(fsync: &str) {
    const WRITERS: usize = 8;
    let dir = own_dir(&format!("kill-{fsync}"));
    let d = dir.to_string_lossy().into_owned();
    let args = [
        "--appendonly",
        "yes",
        "--appendfsync",
        fsync,
        "--dir",
        &d,
        "--enable-debug-command",
        "yes",
    ];
    for round in 0..3 {
        let mut s = TestServer::start(&args);
        let addr = s.addr();
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                std::thread::spawn(move || write_until_killed(addr, &format!("r{round}w{w}:")))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300 + 200 * round));
        s.stop();
        let acked: Vec<u64> = writers
            .into_iter()
            .map(|w| w.join().expect("writer"))
            .collect();
        assert!(
            acked.iter().all(|&n| n > 0),
            "round {round}: a writer wrote nothing: {acked:?}"
        );
        let s = TestServer::start(&args);
        let mut c = s.raw();
        // Every acknowledged write is back (the one in flight may or may not be).
        for (w, &n) in acked.iter().enumerate() {
            for i in (0..n).step_by((n as usize / 50).max(1)).chain([n - 1]) {
                let k = format!("r{round}w{w}:k{i}");
                let want = format!("${}\r\n{i}\r\n", i.to_string().len());
                assert_eq!(
                    support::escape(&c.request(&[b"GET", k.as_bytes()])),
                    support::escape(want.as_bytes()),
                    "{fsync}, round {round}: acknowledged write {i} of {n} (writer {w}) lost"
                );
            }
        }
        drop(c);
        drop(s);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn acknowledged_writes_survive_sigkill_fsync_always() {
    acknowledged_writes_survive_sigkill("always");
}

#[test]
fn acknowledged_writes_survive_sigkill_fsync_everysec() {
    acknowledged_writes_survive_sigkill("everysec");
}

#[test]
fn appendonly_yes_at_runtime_builds_a_base_and_keeps_later_writes() {
    let dir = own_dir("runtime");
    let d = dir.to_string_lossy().into_owned();
    let digest = {
        let t = TestServer::start(&["--dir", &d, "--enable-debug-command", "yes"]);
        write_some(&t, "a");
        assert!(!dir.join("appendonlydir").exists());
        assert_eq!(
            t.request(&["CONFIG", "SET", "appendonly", "yes"]),
            b"+OK\r\n"
        );
        write_some(&t, "b");
        assert!(support::wait_until(Duration::from_secs(20), || {
            t.info_field("persistence", "aof_rewrite_in_progress")
                .as_deref()
                == Some("0")
        }));
        write_some(&t, "c");
        let m = std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest"))
            .expect("manifest");
        assert!(m.contains("type b") && m.contains("type i"), "{m}");
        t.try_digest().expect("digest")
    };
    // No dump file: the dataset comes back from the AOF alone.
    assert_aof_gives_back(&dir, &digest);
    check_aof(&dir);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn replica_aof_is_rewritten_after_a_full_sync() {
    let dir = own_dir("replica");
    let master = TestServer::start(&["--enable-debug-command", "yes"]);
    write_some(&master, "m1");
    let digest = {
        let replica = start_with_aof(&dir);
        // Data of its own first: the full sync must replace it in the AOF too.
        write_some(&replica, "own");
        let port = master.port().to_string();
        assert_eq!(
            replica.request(&["REPLICAOF", "127.0.0.1", &port]),
            b"+OK\r\n"
        );
        support::wait_link_up(&replica, Duration::from_secs(20));
        write_some(&master, "m2");
        support::wait_in_sync(&master, &[&replica], Duration::from_secs(20));
        assert!(support::wait_until(Duration::from_secs(20), || {
            replica
                .info_field("persistence", "aof_rewrite_in_progress")
                .as_deref()
                == Some("0")
                && replica.info_field("persistence", "aof_enabled").as_deref() == Some("1")
        }));
        write_some(&master, "m3");
        support::wait_in_sync(&master, &[&replica], Duration::from_secs(20));
        let digest = master.try_digest().expect("digest");
        assert_eq!(replica.try_digest().as_deref(), Some(digest.as_str()));
        digest
    };
    // The replica's files alone give the master's dataset back.
    assert_aof_gives_back(&dir, &digest);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A long script holds the keyspace; the AOF rewrite that `appendonly yes` started just before
/// it still completes while it runs (the script's thread captures the shards the walk waits
/// for, where Redis's fork child saves on its own). So SHUTDOWN NOSAVE during that script
/// exits, as on Redis, instead of refusing with "Writing initial AOF, can't exit", and the
/// files it leaves hold the dataset as it was before the script.
#[test]
fn aof_rewrite_completes_during_a_long_script() {
    let dir = own_dir("busy-script");
    let d = dir.to_string_lossy().into_owned();
    let mut t = TestServer::start(&["--dir", &d, "--enable-debug-command", "yes"]);
    assert_eq!(t.request(&["DEBUG", "POPULATE", "200000"]), b"+OK\r\n");
    let digest = t.try_digest().expect("digest");
    assert_eq!(
        t.request(&["CONFIG", "SET", "lua-time-limit", "10"]),
        b"+OK\r\n"
    );
    assert_eq!(
        t.request(&["CONFIG", "SET", "appendonly", "yes"]),
        b"+OK\r\n"
    );
    // Writes, then spins for up to 60 s (SHUTDOWN NOSAVE ends it long before).
    let mut busy = t.raw();
    busy.send_cmd(&[
        b"EVAL",
        b"redis.call('set', 'key:1', 'changed') redis.call('del', 'key:2') \
          local t0 = tonumber(redis.call('time')[1]) \
          while tonumber(redis.call('time')[1]) < t0 + 60 do end",
        b"0",
    ]);
    assert!(
        support::wait_until(Duration::from_secs(10), || matches!(
            t.try_request(&["PING"]), Ok(r) if r.starts_with(b"-BUSY")
        )),
        "the script did not start"
    );
    let manifest = dir.join("appendonlydir/appendonly.aof.manifest");
    assert!(
        support::wait_until(Duration::from_secs(40), || {
            std::fs::read_to_string(&manifest).is_ok_and(|m| m.contains("type b"))
        }),
        "the rewrite did not complete during the script:\n{}",
        t.log_text()
    );
    assert!(t
        .try_request(&["PING"])
        .is_ok_and(|r| r.starts_with(b"-BUSY")));
    let _ = t.try_request(&["SHUTDOWN", "NOSAVE"]);
    assert!(
        support::wait_until(Duration::from_secs(20), || !t.is_running()),
        "SHUTDOWN NOSAVE did not stop the server:\n{}",
        t.log_text()
    );
    drop(busy);
    drop(t);
    assert_aof_gives_back(&dir, &digest);
    check_aof(&dir);
    let _ = std::fs::remove_dir_all(&dir);
}
