//! RDB compatibility both ways through the real binaries, crash safety of BGSAVE under
//! SIGKILL, the refusal to start from a corrupt dump file, and the functions-only RDB of
//! `redis-cli --functions-rdb`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::{find_on_path, start_node, wait_until, RedisServer, Server, ServerKind, TestServer};

fn own_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tandem-persist-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// A dataset with every type, both encodings of each collection, expiries and several dbs.
fn fill(s: &Server) {
    let cmds: Vec<Vec<String>> = vec![
        vec!["SET", "s", "hello"],
        vec!["SET", "n", "12345"],
        vec!["SET", "big", &"x".repeat(5000)],
        vec!["SET", "ttl", "v", "EX", "100000"],
        vec!["RPUSH", "l", "a", "b", "1", "-7"],
        vec!["HSET", "h", "f", "v", "g", "7"],
        vec!["SADD", "si", "3", "1", "2"],
        vec!["SADD", "ss", "x", "y"],
        vec!["ZADD", "z", "1", "a", "2.5", "b", "-inf", "c"],
        // Strings modified in place (raw), HyperLogLogs (sparse and dense) and geo sets.
        vec!["SET", "ap", "12"],
        vec!["APPEND", "ap", "abc"],
        vec!["SETBIT", "bits", "100", "1"],
        vec!["SETRANGE", "sr", "3", "xyz"],
        vec!["PFADD", "hs", "a", "b", "c"],
        vec!["PFADD", "hd", "a", "b", "c", "d"],
        vec!["PFDEBUG", "TODENSE", "hd"],
        vec![
            "GEOADD",
            "g",
            "13.361389",
            "38.115556",
            "Palermo",
            "15.087269",
            "37.502669",
            "Catania",
        ],
        vec!["SELECT", "3"],
        vec!["SET", "in3", "yes"],
    ]
    .into_iter()
    .map(|v| v.into_iter().map(str::to_string).collect())
    .collect();
    let mut c = s.raw();
    for cmd in cmds {
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
        let _ = c.request(&args);
    }
    let mut big = vec!["RPUSH".to_string(), "biglist".into()];
    big.extend((0..3000).map(|i| format!("item-{i}")));
    let mut bh = vec!["HSET".to_string(), "bighash".into()];
    bh.extend((0..600).flat_map(|i| [format!("f{i}"), format!("v{i}")]));
    let mut bz = vec!["ZADD".to_string(), "bigz".into()];
    bz.extend((0..300).flat_map(|i| [format!("{i}.5"), format!("m{i}")]));
    let mut bs = vec!["SADD".to_string(), "bigs".into()];
    bs.extend((0..700).map(|i| i.to_string()));
    for cmd in [big, bh, bz, bs] {
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
        let _ = c.request(&args);
    }
}

fn save_and_copy(s: &Server, to: &Path) -> String {
    let digest = s.try_digest().expect("digest");
    assert_eq!(s.request(&["SAVE"]), b"+OK\r\n");
    std::fs::copy(s.dir().join("dump.rdb"), to.join("dump.rdb")).expect("copy dump");
    digest
}

#[test]
fn tandem_file_loads_into_redis_with_the_same_digest() {
    let dir = own_dir("t2r");
    let t = TestServer::start(&["--enable-debug-command", "yes"]);
    fill(&t);
    let digest = save_and_copy(&t, &dir);
    let check = Command::new("redis-check-rdb")
        .arg(dir.join("dump.rdb"))
        .output()
        .expect("redis-check-rdb runs");
    assert!(
        check.status.success(),
        "redis-check-rdb: {}",
        String::from_utf8_lossy(&check.stdout)
    );
    let d = dir.to_string_lossy().into_owned();
    let r = RedisServer::start(&["--enable-debug-command", "yes", "--dir", &d]);
    assert_eq!(r.try_digest().as_deref(), Some(digest.as_str()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn redis_file_loads_into_tandem_with_the_same_digest() {
    let dir = own_dir("r2t");
    let r = RedisServer::start(&["--enable-debug-command", "yes"]);
    fill(&r);
    let digest = save_and_copy(&r, &dir);
    let d = dir.to_string_lossy().into_owned();
    let t = TestServer::start(&["--enable-debug-command", "yes", "--dir", &d]);
    assert_eq!(t.try_digest().as_deref(), Some(digest.as_str()));
    assert!(
        t.log_text().contains("DB loaded from disk"),
        "{}",
        t.log_text()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Streams of several nodes, with tombstones, consumer groups, pending entries and
/// consumers, in db 0 and db 2.
fn fill_streams(s: &Server) {
    let mut c = s.raw();
    let mut run = |args: &[&str]| {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        c.request(&args)
    };
    run(&["CONFIG", "SET", "stream-node-max-entries", "7"]);
    for i in 1..=60 {
        let (id, v) = (format!("{i}-1"), format!("value-{i}"));
        if i % 5 == 0 {
            run(&["XADD", "st", &id, "other", &v, "n", "12345"]);
        } else {
            run(&["XADD", "st", &id, "f", &v]);
        }
    }
    run(&[
        "XDEL", "st", "3-1", "10-1", "11-1", "12-1", "13-1", "14-1", "15-1", "16-1",
    ]);
    run(&["XTRIM", "st", "MINID", "2-1"]);
    run(&["XGROUP", "CREATE", "st", "g1", "0"]);
    run(&["XGROUP", "CREATE", "st", "g2", "30-1", "ENTRIESREAD", "22"]);
    run(&[
        "XREADGROUP",
        "GROUP",
        "g1",
        "alice",
        "COUNT",
        "5",
        "STREAMS",
        "st",
        ">",
    ]);
    run(&[
        "XREADGROUP",
        "GROUP",
        "g1",
        "bob",
        "COUNT",
        "3",
        "STREAMS",
        "st",
        ">",
    ]);
    run(&[
        "XREADGROUP",
        "GROUP",
        "g2",
        "carol",
        "NOACK",
        "COUNT",
        "2",
        "STREAMS",
        "st",
        ">",
    ]);
    run(&["XGROUP", "CREATECONSUMER", "st", "g2", "dave"]);
    run(&["XACK", "st", "g1", "4-1"]);
    run(&[
        "XCLAIM",
        "st",
        "g1",
        "erin",
        "0",
        "5-1",
        "RETRYCOUNT",
        "9",
        "JUSTID",
    ]);
    run(&["XGROUP", "CREATE", "empty", "g", "$", "MKSTREAM"]);
    run(&["XADD", "gone", "5-5", "a", "b"]);
    run(&["XDEL", "gone", "5-5"]);
    run(&["SELECT", "2"]);
    run(&["XADD", "st2", "1-1", "a", "1"]);
    run(&["SELECT", "0"]);
}

/// What a stream holds beyond DEBUG DIGEST's reach: groups, PELs, consumers, counters.
fn stream_state(s: &Server) -> Vec<Vec<u8>> {
    ["st", "empty", "gone"]
        .iter()
        .map(|k| s.request(&["XINFO", "STREAM", k, "FULL"]))
        .collect()
}

#[test]
fn streams_survive_rdb_both_ways() {
    for (name, from_redis) in [("st2r", false), ("sr2t", true)] {
        let dir = own_dir(name);
        let src: Box<dyn std::ops::Deref<Target = Server>> = if from_redis {
            Box::new(RedisServer::start(&["--enable-debug-command", "yes"]))
        } else {
            Box::new(TestServer::start(&["--enable-debug-command", "yes"]))
        };
        fill_streams(&src);
        let state = stream_state(&src);
        assert!(
            state.iter().all(|r| r.starts_with(b"*")),
            "{name}: {state:?}"
        );
        let digest = save_and_copy(&src, &dir);
        let d = dir.to_string_lossy().into_owned();
        let args = ["--enable-debug-command", "yes", "--dir", &d];
        let dst: Box<dyn std::ops::Deref<Target = Server>> = if from_redis {
            Box::new(TestServer::start(&args))
        } else {
            Box::new(RedisServer::start(&args))
        };
        assert_eq!(dst.try_digest().as_deref(), Some(digest.as_str()), "{name}");
        assert_eq!(stream_state(&dst), state, "{name}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn sigkill_during_bgsave_never_leaves_a_bad_dump() {
    let dir = own_dir("kill");
    let d = dir.to_string_lossy().into_owned();
    let digest = {
        let s = TestServer::start(&["--enable-debug-command", "yes", "--dir", &d]);
        fill(&s);
        let _ = s.request(&["DEBUG", "POPULATE", "100000", "pop", "50"]);
        let digest = s.try_digest().expect("digest");
        assert_eq!(s.request(&["SAVE"]), b"+OK\r\n");
        digest
    };
    // Deterministic spread of kill points, from immediately to well after the save.
    for (i, delay_ms) in [0u64, 1, 3, 7, 15, 30, 60, 120].into_iter().enumerate() {
        let mut s = TestServer::start(&["--enable-debug-command", "yes", "--dir", &d]);
        assert_eq!(
            s.try_digest().as_deref(),
            Some(digest.as_str()),
            "round {i}: the dump loaded back differently"
        );
        let mut c = s.raw();
        c.send_cmd(&[b"BGSAVE"]);
        std::thread::sleep(Duration::from_millis(delay_ms));
        s.stop();
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .expect("dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("temp-"))
            .collect();
        for l in leftovers {
            let _ = std::fs::remove_file(dir.join(l));
        }
    }
    let s = TestServer::start(&["--enable-debug-command", "yes", "--dir", &d]);
    assert_eq!(s.try_digest().as_deref(), Some(digest.as_str()));
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn corrupt_dump_is_a_fatal_error_and_is_left_untouched() {
    let dir = own_dir("corrupt");
    let d = dir.to_string_lossy().into_owned();
    {
        let s = TestServer::start(&["--dir", &d]);
        fill(&s);
        assert_eq!(s.request(&["SAVE"]), b"+OK\r\n");
    }
    let path = dir.join("dump.rdb");
    let mut bytes = std::fs::read(&path).expect("dump");
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&path, &bytes).expect("write truncated dump");
    let out = Command::new(ServerKind::Tandem.binary())
        .args(["--port", "0", "--dir", &d, "--save", ""])
        .output()
        .expect("tandem-server runs");
    assert!(!out.status.success(), "started from a truncated dump");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("dump.rdb"),
        "the error names the file: {text}"
    );
    assert_eq!(
        std::fs::read(&path).expect("dump still there"),
        bytes,
        "the file was modified"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Active expiry deletes keys (`swap_remove`: the last entry moves into the hole) while a slowed
/// BGSAVE walks the table: every key that does not expire must still be in the dump.
#[test]
fn bgsave_keeps_every_key_while_active_expiry_deletes_others() {
    let dir = own_dir("expire-walk");
    let d = dir.to_string_lossy().into_owned();
    let keys = 10_000usize;
    {
        let s = TestServer::start(&["--dir", &d]);
        let mut c = s.raw();
        // Interleaved, so that the entries moved by the deletions are often lasting ones; the
        // short-lived keys expire all along the walk.
        for batch in (0..keys).collect::<Vec<_>>().chunks(500) {
            let mut buf = Vec::new();
            for &i in batch {
                let (keep, tmp, px) = (
                    format!("keep:{i}"),
                    format!("tmp:{i}"),
                    (200 + i % 1500).to_string(),
                );
                buf.extend(support::encode_command(&[b"SET", keep.as_bytes(), b"v"]));
                buf.extend(support::encode_command(&[
                    b"SET",
                    tmp.as_bytes(),
                    b"v",
                    b"PX",
                    px.as_bytes(),
                ]));
            }
            c.send_raw(&buf);
            for _ in 0..batch.len() * 2 {
                assert_eq!(c.read_reply_raw(), b"+OK\r\n");
            }
        }
        assert_eq!(
            s.request(&["CONFIG", "SET", "rdb-key-save-delay", "100"]),
            b"+OK\r\n"
        );
        assert_eq!(s.request(&["BGSAVE"]), b"+Background saving started\r\n");
        assert!(wait_until(Duration::from_secs(60), || {
            s.info_i64("persistence", "rdb_bgsave_in_progress") == 0
        }));
        assert_eq!(
            s.info_field("persistence", "rdb_last_bgsave_status")
                .as_deref(),
            Some("ok")
        );
    }
    let s = TestServer::start(&["--dir", &d]);
    let kept = s.request(&["KEYS", "keep:*"]);
    let head = format!("*{keys}\r\n");
    assert!(
        kept.starts_with(head.as_bytes()),
        "lasting keys in the dump: {}",
        String::from_utf8_lossy(&kept[..kept.len().min(12)])
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `redis-cli --functions-rdb` (REPLCONF rdb-filter-only functions): the RDB holds the function
/// libraries and no key, and goes over the socket with an EOF mark even with a disk-based
/// sync (no dump file written). Returns redis-cli's exit code and first lines, whether the file
/// has the library and a key, whether a dump file appeared, and what a server started from
/// that file holds.
fn functions_rdb(kind: ServerKind) -> Vec<String> {
    let s = start_node(kind, &["--repl-diskless-sync", "no"]);
    fill(&s);
    let code = "#!lua name=lib1\nredis.register_function('func1', function() return 123 end)";
    assert_eq!(s.request(&["FUNCTION", "LOAD", code]), b"$4\r\nlib1\r\n");
    let out_dir = own_dir(&format!("functions-rdb-{}", kind.name()));
    let path = out_dir.join("dump.rdb");
    let out = Command::new(find_on_path("redis-cli"))
        .args(["-p", &s.port().to_string(), "--functions-rdb"])
        .arg(&path)
        .output()
        .expect("redis-cli runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let rdb = std::fs::read(&path).unwrap_or_default();
    let has = |needle: &[u8]| rdb.windows(needle.len()).any(|w| w == needle);
    let mut seen = vec![
        format!("{:?}", out.status.code()),
        stderr.lines().take(3).collect::<Vec<_>>().join(" | "),
        format!("library {} key {}", has(b"func1"), has(b"hello")),
        format!("dump file {}", s.dir().join("dump.rdb").exists()),
    ];
    let loaded = Server::start(kind, &["--save", "", "--dir", &out_dir.to_string_lossy()]);
    seen.push(format!("{:?}", loaded.request(&["DBSIZE"])));
    seen.push(format!("{:?}", loaded.request(&["FCALL", "func1", "0"])));
    drop(loaded);
    let _ = std::fs::remove_dir_all(&out_dir);
    seen
}

#[test]
fn functions_only_rdb_like_redis() {
    let redis = functions_rdb(ServerKind::Redis);
    assert_eq!(redis[2], "library true key false", "{redis:?}");
    assert_eq!(redis, functions_rdb(ServerKind::Tandem));
}

/// The processes whose parent is `pid` (scanning /proc, as `pgrep -P` does).
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
            let after = stat.rfind(')').map(|i| &stat[i + 1..]).unwrap_or("");
            let mut fields = after.split_whitespace();
            let state = fields.next();
            let ppid = fields.next().and_then(|f| f.parse::<u32>().ok());
            ppid == Some(pid) && state != Some("Z")
        })
        .collect()
}

fn info_field(s: &Server, name: &str) -> Option<String> {
    s.try_info("persistence")?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// What a BGSAVE's background process looks like from outside, and what killing it does:
/// on Redis the fork child, on Tandem the writer process (`persistence::child`).
#[derive(Debug, PartialEq)]
struct KilledSave {
    one_child: bool,
    temp_file_while_saving: bool,
    status_after: Option<String>,
    temp_file_after: bool,
    write_after: String,
}

fn kill_bgsave_child(kind: ServerKind) -> KilledSave {
    // Save points configured (none due within the test), so a failed save refuses writes.
    let s = Server::start(kind, &["--save", "3600 1"]);
    for i in 0..20 {
        s.request(&["SET", &format!("k{i}"), "v"]);
    }
    // 20 keys at 100 ms each: the save runs for 2 seconds.
    s.request(&["CONFIG", "SET", "rdb-key-save-delay", "100000"]);
    assert_eq!(s.request(&["BGSAVE"]), b"+Background saving started\r\n");
    let mut children = Vec::new();
    let _ = wait_until(Duration::from_secs(5), || {
        children = children_of(s.pid());
        !children.is_empty()
    });
    let child = *children.first().expect("no child process during BGSAVE");
    let temp = s.dir().join(format!("temp-{child}.rdb"));
    let temp_file_while_saving = wait_until(Duration::from_secs(5), || temp.exists());
    let _ = Command::new("kill")
        .args(["-9", &child.to_string()])
        .status();
    let stopped = wait_until(Duration::from_secs(10), || {
        info_field(&s, "rdb_bgsave_in_progress").as_deref() == Some("0")
    });
    assert!(stopped, "{}: the save did not end", kind.name());
    let write = s.request(&["SET", "after", "x"]);
    KilledSave {
        one_child: children.len() == 1,
        temp_file_while_saving,
        status_after: info_field(&s, "rdb_last_bgsave_status"),
        temp_file_after: temp.exists(),
        write_after: String::from_utf8_lossy(&write)
            .split(' ')
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}

#[test]
fn killing_the_bgsave_child_fails_the_save_as_on_redis() {
    let redis = kill_bgsave_child(ServerKind::Redis);
    let tandem = kill_bgsave_child(ServerKind::Tandem);
    assert_eq!(tandem, redis);
    // What Redis shows, spelled out: the failed save refuses writes until the next success.
    assert_eq!(redis.status_after.as_deref(), Some("err"));
    assert_eq!(redis.write_after, "-MISCONF");
    assert!(redis.temp_file_while_saving && !redis.temp_file_after);
}

#[test]
fn the_bgsave_child_exits_when_the_server_dies() {
    for kind in [ServerKind::Redis, ServerKind::Tandem] {
        let mut s = Server::start(kind, &["--save", ""]);
        for i in 0..20 {
            s.request(&["SET", &format!("k{i}"), "v"]);
        }
        s.request(&["CONFIG", "SET", "rdb-key-save-delay", "1000000"]);
        s.request(&["BGSAVE"]);
        let mut children = Vec::new();
        let _ = wait_until(Duration::from_secs(5), || {
            children = children_of(s.pid());
            !children.is_empty()
        });
        let child = *children.first().expect("no child process during BGSAVE");
        let dir = s.dir().to_path_buf();
        s.stop();
        let gone = wait_until(Duration::from_secs(10), || {
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            stat.is_empty() || stat.contains(") Z ")
        });
        assert!(
            gone,
            "{}: the save's child outlived the server",
            kind.name()
        );
        if kind == ServerKind::Tandem {
            // Its temp file went with it (Redis's child leaves its own behind).
            assert!(!dir.join(format!("temp-{child}.rdb")).exists());
        }
    }
}
