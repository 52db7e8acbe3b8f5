//! CONFIG GET / SET / REWRITE and the default values.

use std::path::{Path, PathBuf};

use super::super::*;
use super::{pairs, s, TempDir};

#[test]
fn config_get_patterns_and_aliases() {
    let c = Config::default();
    assert_eq!(c.get_matching("PORT"), vec![(s("PORT"), s("6379"))]);
    assert_eq!(c.get_matching("SLAVEOF"), vec![(s("SLAVEOF"), s(""))]);
    assert_eq!(c.get_matching("nosuch"), vec![]);
    assert_eq!(c.get_matching("nosuch*"), vec![]);
    assert_eq!(
        c.get_matching_many(&["port", "PORT", "Port"]),
        vec![(s("port"), s("6379"))]
    );
    assert_eq!(c.get_matching("PO*"), vec![(s("port"), s("6379"))]);
    let mm: Vec<String> = c
        .get_matching("maxmemory*")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        mm,
        [
            "maxmemory",
            "maxmemory-clients",
            "maxmemory-eviction-tenacity",
            "maxmemory-policy",
            "maxmemory-samples"
        ]
    );
    // Hidden directives answer only to their exact name.
    assert_eq!(c.get("use-exit-on-panic").as_deref(), Some("no"));
    assert_eq!(
        c.get("loading-process-events-interval-bytes").as_deref(),
        Some("2097152")
    );
    assert_eq!(c.get_matching("rdb-key*"), vec![]);
    assert!(c
        .get_matching("*")
        .iter()
        .any(|(k, _)| k == "slave-read-only"));
}

#[test]
fn defaults_match_redis_config_get_star() {
    let expected: Vec<(String, String)> = include_str!("redis-7.0.15-defaults.tsv")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('\t').unwrap_or((l, ""));
            (s(k), s(v))
        })
        .collect();
    let c = Config::default();
    let mut got = c.get_matching("*");
    got.retain(|(k, _)| k != "dir");
    assert_eq!(got, expected);
    assert_eq!(
        c.get("dir"),
        std::env::current_dir()
            .ok()
            .map(|p| p.display().to_string())
    );
    assert_eq!(c.bind, vec![s("*"), s("-::*")]);
    assert_eq!(c.save, vec![(3600, 1), (300, 100), (60, 10000)]);
    assert_eq!(c.get("save").as_deref(), Some("3600 1 300 100 60 10000"));
    // Every directive has a consistent row.
    for d in TABLE {
        assert_eq!(
            super::super::table::lookup(d.name).map(|(i, _)| TABLE[i].name),
            Some(d.name)
        );
    }
}

#[test]
fn config_set_errors_match_redis() {
    let mut c = Config::default();
    let set = |c: &mut Config, v: &[(&str, &str)]| c.set_many(&pairs(v));
    let failed = |n: &str, why: &str| {
        Err(format!(
            "ERR CONFIG SET failed (possibly related to argument '{n}') - {why}"
        ))
    };
    assert_eq!(
        c.set("foo", "bar"),
        Err(s(
            "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"
        ))
    );
    assert_eq!(
        c.set("daemonize", "no"),
        failed("daemonize", "can't set immutable config")
    );
    assert_eq!(
        c.set("slaveof", "a b"),
        failed("slaveof", "can't set immutable config")
    );
    assert_eq!(
        c.set("dir", "/tmp"),
        failed("dir", "can't set protected config")
    );
    assert_eq!(
        c.set("dbfilename", "a"),
        failed("dbfilename", "can't set protected config")
    );
    assert_eq!(
        c.set("port", "abc"),
        failed("port", "argument couldn't be parsed into an integer")
    );
    assert_eq!(
        c.set("MAXMEMORY", "abc"),
        failed("maxmemory", "argument must be a memory value")
    );
    assert_eq!(
        c.set("SLAVE-READ-ONLY", "maybe"),
        failed("slave-read-only", "argument must be 'yes' or 'no'")
    );
    assert_eq!(
        c.set("appendonly", "maybe"),
        failed("appendonly", "argument must be 'yes' or 'no'")
    );
    assert_eq!(c.set("activedefrag", "yes"), failed("activedefrag", "Active defragmentation cannot be enabled: it requires a Redis server compiled with a modified Jemalloc like the one shipped by default with the Redis source distribution"));
    assert_eq!(
        c.set("proto-max-bulk-len", "99999999999999999999"),
        failed(
            "proto-max-bulk-len",
            "argument must be between 1048576 and 9223372036854775807 inclusive"
        )
    );
    assert_eq!(
        c.set("list-max-listpack-size", "99999999999"),
        failed(
            "list-max-listpack-size",
            "argument must be between -2147483648 and 2147483647 inclusive"
        )
    );
    assert_eq!(
        c.set("maxmemory-clients", "-5"),
        failed(
            "maxmemory-clients",
            "argument must be a memory or percent value"
        )
    );
    assert_eq!(
        c.set("save", "1 2 3"),
        failed("save", "Invalid save parameters")
    );
    assert_eq!(
        c.set("save", "  "),
        failed("save", "Invalid save parameters")
    );
    assert_eq!(
        c.set("save", "100 10  "),
        failed("save", "Invalid save parameters")
    );
    assert_eq!(
        c.set("client-output-buffer-limit", "normal 1 2 -3"),
        failed(
            "client-output-buffer-limit",
            "Error in hard, soft or soft_seconds setting in buffer limit configuration."
        )
    );
    assert_eq!(
        c.set("shutdown-on-sigint", ""),
        failed(
            "shutdown-on-sigint",
            "argument(s) must be one of the following: default, save, nosave, now, force"
        )
    );
    assert_eq!(
        c.set("loglevel", "notice warning"),
        failed(
            "loglevel",
            "argument(s) must be one of the following: debug, verbose, notice, warning"
        )
    );
    assert_eq!(
        c.set("oom-score-adj-values", "1 2"),
        failed("oom-score-adj-values", "wrong number of arguments")
    );
    assert_eq!(
        c.set("cluster-announce-hostname", "a_b"),
        failed(
            "cluster-announce-hostname",
            "Hostnames may only contain alphanumeric characters, hyphens or dots"
        )
    );
    assert_eq!(
        c.set("proc-title-template", "{title}"),
        failed(
            "proc-title-template",
            "template format is invalid or contains unknown variables"
        )
    );
    // Several pairs: unknown names win, then the first refusal, then duplicates.
    assert_eq!(
        set(&mut c, &[("maxmemory", "1gb"), ("maxmemory", "2gb")]),
        failed("maxmemory", "duplicate parameter")
    );
    assert_eq!(
        set(&mut c, &[("maxmemory", "10mb"), ("MAXMEMORY", "20mb")]),
        failed("MAXMEMORY", "duplicate parameter")
    );
    assert_eq!(
        set(&mut c, &[("port", "2"), ("foo", "1")]),
        Err(s(
            "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"
        ))
    );
    assert_eq!(
        set(&mut c, &[("daemonize", "no"), ("foo", "1")]),
        failed("daemonize", "can't set immutable config")
    );
    assert_eq!(
        set(&mut c, &[("foo", "1"), ("daemonize", "no")]),
        Err(s(
            "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"
        ))
    );
    assert_eq!(
        set(&mut c, &[("port", "abc"), ("daemonize", "no")]),
        failed("daemonize", "can't set immutable config")
    );
    assert_eq!(
        set(&mut c, &[("maxmemory", "abc"), ("port", "abc")]),
        failed("maxmemory", "argument must be a memory value")
    );
    // All or nothing.
    assert_eq!(
        set(&mut c, &[("maxmemory", "5mb"), ("port", "abc")]),
        failed("port", "argument couldn't be parsed into an integer")
    );
    assert_eq!(c.maxmemory, 0);
    // An alias and its name are different entries for Redis: not a duplicate.
    assert_eq!(
        set(
            &mut c,
            &[("slave-read-only", "yes"), ("replica-read-only", "no")]
        ),
        Ok(())
    );
    assert!(!c.replica_read_only);
    // Protected configs follow enable-protected-configs.
    let mut p = Config::from_str("enable-protected-configs local").expect("valid");
    assert_eq!(
        p.set_many_from(&pairs(&[("dbfilename", "x.rdb")]), false, false),
        failed("dbfilename", "can't set protected config")
    );
    assert_eq!(
        p.set_many_from(&pairs(&[("dbfilename", "x.rdb")]), true, false),
        Ok(())
    );
    assert_eq!(p.dbfilename, "x.rdb");
    // While loading, DENY_LOADING directives are refused with -LOADING, which wins over the
    // errors of directives after it (not over those before it).
    let loading = |c: &mut Config, kv: &[(&str, &str)]| c.set_many_from(&pairs(kv), true, true);
    let refused = Err("LOADING Redis is loading the dataset in memory".to_string());
    assert_eq!(loading(&mut p, &[("loglevel", "debug")]), Ok(()));
    assert_eq!(
        loading(&mut p, &[("dir", "/tmp"), ("nosuch", "1")]),
        refused
    );
    assert_eq!(loading(&mut p, &[("appendonly", "yes")]), refused);
    assert!(loading(&mut p, &[("nosuch", "1"), ("dir", "/tmp")])
        .is_err_and(|e| e.starts_with("ERR Unknown option")));
    assert_eq!(
        p.set("dbfilename", "a/b"),
        failed("dbfilename", "dbfilename can't be a path, just a filename")
    );
    assert_eq!(
        p.set("dir", "/nonexistent"),
        failed("dir", "No such file or directory")
    );
    assert_eq!(
        p.set("dir", "/etc/passwd"),
        failed("dir", "Not a directory")
    );
    assert_eq!(p.set("dir", ""), failed("dir", "No such file or directory"));
    let cwd = std::env::current_dir().expect("cwd").display().to_string();
    assert_eq!(p.set("dir", &cwd), Ok(()));
    assert_eq!(p.get("dir"), Some(cwd));
}

#[test]
fn config_set_values_read_back_like_redis() {
    let mut c = Config::default();
    let get = |c: &Config, n: &str| c.get(n).unwrap_or_default();
    for (name, value, want) in [
        ("notify-keyspace-events", "g$lshzxetd", "A"),
        ("notify-keyspace-events", "KEA", "AKE"),
        ("notify-keyspace-events", "AKEmn", "AKEm"),
        ("notify-keyspace-events", "xg", "gx"),
        ("maxmemory", "", "0"),
        ("maxmemory", "kb", "0"),
        (
            "maxmemory",
            "99999999999999999999999",
            "18446744073709551615",
        ),
        ("maxmemory", "1GB", "1073741824"),
        ("maxmemory-clients", "10%", "10%"),
        ("maxmemory-clients", "0%", "0"),
        ("maxmemory-clients", "1mb", "1048576"),
        ("hz", "1000", "500"),
        ("hz", "0", "1"),
        (
            "client-output-buffer-limit",
            "normal 1mb 2mb 3",
            "normal 1048576 2097152 3 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        ),
        (
            "client-output-buffer-limit",
            "slave 1 2 3 replica 4 5 6",
            "normal 1048576 2097152 3 slave 4 5 6 pubsub 33554432 8388608 60",
        ),
        (
            "client-output-buffer-limit",
            "normal 1 2 +3",
            "normal 1 2 3 slave 4 5 6 pubsub 33554432 8388608 60",
        ),
        (
            "client-output-buffer-limit",
            "",
            "normal 1 2 3 slave 4 5 6 pubsub 33554432 8388608 60",
        ),
        ("shutdown-on-sigint", "nosave now", "nosave now"),
        ("shutdown-on-sigint", "force now SAVE", "save now force"),
        ("shutdown-on-sigint", "default save", "save"),
        ("oom-score-adj", "relative", "yes"),
        ("acl-pubsub-default", "allchannels", "allchannels"),
        (
            "latency-tracking-info-percentiles",
            "50.5 99.999",
            "50.5 99.999",
        ),
        ("latency-tracking-info-percentiles", "", ""),
        ("save", "", ""),
        ("save", "100 10 20 5", "100 10 20 5"),
        ("requirepass", "", ""),
        ("lua-time-limit", "6000", "6000"),
        ("bind", "127.0.0.1 ::1", "127.0.0.1 ::1"),
    ] {
        assert_eq!(c.set(name, value), Ok(()), "{name} {value}");
        assert_eq!(get(&c, name), want, "{name} {value}");
    }
    assert_eq!(c.requirepass, None);
    assert_eq!(c.notify_keyspace_events_flags & notify::NEW, 0);
    assert_eq!(c.get("busy-reply-threshold").as_deref(), Some("6000"));
    assert_eq!(c.set("requirepass", "secret"), Ok(()));
    assert_eq!(c.requirepass.as_deref(), Some("secret"));
    assert_eq!(c.set("bind", "127.0.0.1  ::1"), Err(s("ERR CONFIG SET failed (possibly related to argument 'bind') - Failed to bind to specified addresses.")));
}

#[test]
fn rewrite_keeps_comments_like_redis() {
    let t = TempDir::new("rewrite");
    let original = "# Top comment\nport 7395\n\n\n# about save\nsave 900 1\nsave 300 10\nsave 60 10000\n\
slave-read-only no\nbind * -::*\nrequirepass foo\nmaxmemory 100mb\nhash-max-ziplist-entries 64\n\
client-output-buffer-limit replica 1mb 1mb 0\n   # indented comment\nslaveof 127.0.0.1 1\nloglevel notice\n";
    let mut c = Config::from_str(original).expect("valid");
    let path = t.write("r.conf", &format!("{original}foo-unknown \"unbalanced\n"));
    c.config_file = Some(path.clone());
    let set = pairs(&[
        ("maxmemory", "2gb"),
        ("hz", "20"),
        ("save", ""),
        ("requirepass", ""),
        ("maxmemory-policy", "allkeys-lru"),
        ("notify-keyspace-events", "KEA"),
        ("slave-priority", "50"),
        ("client-output-buffer-limit", "pubsub 32mb 8mb 61"),
    ]);
    assert_eq!(c.set_many(&set), Ok(()));
    c.replicaof = None; // REPLICAOF NO ONE
    assert_eq!(c.rewrite(), Ok(()));
    let got = std::fs::read_to_string(&path).expect("read back");
    // redis-server 7.0.15 wrote this for the same steps; the lines after the signature come in
    // its hash-table order, so they are compared as a set.
    let want_head = "# Top comment\nport 7395\n\n# about save\nsave \"\"\n\nreplica-read-only no\n\n\
maxmemory 2gb\nhash-max-listpack-entries 64\nclient-output-buffer-limit normal 0 0 0\n# indented comment\n\n\
loglevel notice\n# ??? foo-unknown \"unbalanced\n\n# Generated by CONFIG REWRITE\n";
    let dir_line = format!("dir \"{}\"", c.dir);
    let mut want_tail = vec![
        "latency-tracking-info-percentiles 50 99 99.9",
        "hz 20",
        "client-output-buffer-limit replica 1mb 1mb 0",
        "client-output-buffer-limit pubsub 32mb 8mb 61",
        "notify-keyspace-events \"AKE\"",
        &dir_line,
        "maxmemory-policy allkeys-lru",
        "replica-priority 50",
        "user default on nopass ~* &* +@all",
    ];
    let (head, tail) = got.split_at(
        got.find("# Generated by CONFIG REWRITE\n")
            .map_or(0, |p| p + 30),
    );
    assert_eq!(head, want_head);
    let mut tail: Vec<&str> = tail.lines().collect();
    tail.sort();
    want_tail.sort();
    assert_eq!(tail, want_tail);
    assert!(got.ends_with('\n'));

    // As in Redis, a second rewrite adds one empty line at the end (the file's final newline
    // reads as an empty line), then the file is stable; it loads back to the same values.
    assert_eq!(c.rewrite(), Ok(()));
    assert_eq!(
        std::fs::read_to_string(&path).expect("read back"),
        format!("{got}\n")
    );
    assert_eq!(c.rewrite(), Ok(()));
    assert_eq!(
        std::fs::read_to_string(&path).expect("read back"),
        format!("{got}\n")
    );
    let back = Config::from_str(&got.replace("foo-unknown", "x")).expect("rewritten file loads");
    assert_eq!(back.get_matching("*"), c.get_matching("*"));

    // requirepass becomes a hashed default user; a missing file is created.
    let fresh = t.0.join("new.conf");
    let mut c = Config::from_str("port 7397\n").expect("valid");
    c.config_file = Some(fresh.clone());
    assert_eq!(
        c.set_many(&pairs(&[
            ("requirepass", "foo"),
            ("masterauth", "a b\"c"),
            ("replica-announce-ip", "x")
        ])),
        Ok(())
    );
    assert_eq!(c.rewrite(), Ok(()));
    let got = std::fs::read_to_string(&fresh).expect("written");
    assert!(got.starts_with("# Generated by CONFIG REWRITE\n"), "{got}");
    for line in [
        "masterauth \"a b\\\"c\"",
        "replica-announce-ip \"x\"",
        "save 3600 1",
        "save 300 100",
        "save 60 10000",
        "requirepass \"foo\"",
        "port 7397",
        "user default on #2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae ~* &* +@all",
    ] {
        assert!(got.lines().any(|l| l == line), "missing {line:?} in {got}");
    }
    let leftovers: Vec<_> = std::fs::read_dir(&t.0)
        .expect("list")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".conf."))
        .collect();
    assert!(leftovers.is_empty(), "temp files left behind");

    let mut c = Config::default();
    c.config_file = Some(PathBuf::from("/nonexistent-dir/x.conf"));
    assert_eq!(
        c.rewrite(),
        Err(s("ERR Rewriting config file: No such file or directory"))
    );
}

#[test]
fn unimplemented_directives_are_listed_once() {
    let c = Config::from_str(
        "port 1\nactiverehashing no\nactiverehashing yes\nslave-lazy-flush no\n\
         rename-command FLUSHALL \"\"\nhash-max-ziplist-entries 3\nmymod.opt 1\n",
    )
    .expect("valid");
    assert_eq!(
        c.unimplemented_seen(),
        ["activerehashing", "replica-lazy-flush", "mymod.opt"]
    );
    // rename-command is applied (server::rename), so no longer listed.
    assert_eq!(c.rename_commands, vec![(s("FLUSHALL"), s(""))]);
    assert_eq!(c.unimplemented_non_default(), ["mymod.opt"]);
    assert_eq!(c.get("activerehashing").as_deref(), Some("yes"));
    assert_eq!(c.hash_max_listpack_entries, 3);
}

#[test]
fn debian_redis_conf_loads() {
    let path = Path::new("/etc/redis/redis.conf");
    let Ok(text) = std::fs::read_to_string(path) else {
        println!("note: {} is not readable here, skipping", path.display());
        return;
    };
    // Its `dir /var/lib/redis` may be missing on a machine without the package's directories.
    let text = if Path::new("/var/lib/redis").is_dir() {
        text
    } else {
        text.replace("\ndir /var/lib/redis", "\ndir /")
    };
    let c = Config::from_str(&text).expect("Debian's redis.conf must load");
    assert_eq!(c.bind, vec![s("127.0.0.1"), s("-::1")]);
    assert!(c.daemonize);
    assert_eq!(c.pidfile.as_deref(), Some("/run/redis/redis-server.pid"));
    assert_eq!(c.logfile, "/var/log/redis/redis-server.log");
    assert_eq!(
        c.get("client-output-buffer-limit").as_deref(),
        Some("normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60")
    );
    let seen = c.unimplemented_seen();
    assert!(seen.iter().any(|n| n == "activerehashing"), "{seen:?}");
    assert!(!seen.iter().any(|n| n == "appendonly"), "{seen:?}");
    assert!(!seen.iter().any(|n| n == "port" || n == "save"), "{seen:?}");
    println!(
        "Debian redis.conf, not implemented yet: {}",
        seen.join(", ")
    );
}

#[test]
fn implemented_set_is_the_agreed_one() {
    let agreed = "port bind protected-mode tcp-backlog timeout tcp-keepalive unixsocket unixsocketperm \
        daemonize pidfile loglevel logfile databases always-show-logo save dir dbfilename rdbcompression \
        rdbchecksum stop-writes-on-bgsave-error requirepass maxclients maxmemory maxmemory-policy \
        maxmemory-samples hz proto-max-bulk-len client-query-buffer-limit notify-keyspace-events \
        slowlog-log-slower-than slowlog-max-len latency-monitor-threshold latency-tracking hash-max-listpack-entries \
        hash-max-listpack-value set-max-intset-entries zset-max-listpack-entries zset-max-listpack-value \
        list-max-listpack-size list-compress-depth enable-debug-command replicaof masterauth masteruser \
        replica-read-only replica-serve-stale-data repl-backlog-size repl-backlog-ttl repl-timeout \
        repl-ping-replica-period repl-diskless-sync repl-diskless-sync-delay repl-diskless-sync-max-replicas \
        repl-diskless-load min-replicas-to-write min-replicas-max-lag replica-priority replica-announced replica-refuse-rollback replica-announce-ip \
        replica-announce-port client-output-buffer-limit lazyfree-lazy-user-del lazyfree-lazy-expire \
        lazyfree-lazy-eviction rdb-del-sync-files rdb-key-save-delay key-load-delay \
        lfu-log-factor lfu-decay-time sanitize-dump-payload hll-sparse-max-bytes \
        stream-node-max-bytes stream-node-max-entries \
        appendonly appendfsync appendfilename appenddirname aof-use-rdb-preamble aof-load-truncated \
        aof-timestamp-enabled aof-rewrite-incremental-fsync no-appendfsync-on-rewrite aof-disable-auto-gc \
        auto-aof-rewrite-percentage auto-aof-rewrite-min-size \
        tls-port tls-cert-file tls-key-file tls-key-file-pass tls-client-cert-file tls-client-key-file \
        tls-client-key-file-pass tls-dh-params-file tls-ca-cert-file tls-ca-cert-dir tls-auth-clients \
        tls-replication tls-cluster tls-protocols tls-ciphers tls-ciphersuites tls-prefer-server-ciphers \
        tls-session-caching tls-session-cache-size tls-session-cache-timeout watchdog-period";
    let mut want: Vec<&str> = agreed.split_whitespace().collect();
    let mut got: Vec<&str> = TABLE
        .iter()
        .filter(|d| d.implemented)
        .map(|d| d.name)
        .collect();
    want.sort_unstable();
    got.sort_unstable();
    assert_eq!(got, want);
}

#[test]
fn typed_fields_follow_config_set() {
    let mut c = Config::default();
    let set = pairs(&[
        ("port", "7001"),
        ("timeout", "30"),
        ("maxmemory", "1mb"),
        ("maxmemory-policy", "volatile-ttl"),
        ("loglevel", "debug"),
        ("repl-diskless-load", "swapdb"),
        ("min-slaves-to-write", "2"),
        ("slave-announce-ip", "10.0.0.1"),
        ("slave-announce-port", "7002"),
        ("masterauth", "pw"),
        ("list-max-ziplist-size", "-3"),
        ("lazyfree-lazy-user-del", "yes"),
        ("repl-backlog-ttl", "0"),
        ("notify-keyspace-events", "Kx"),
    ]);
    assert_eq!(c.set_many(&set), Ok(()));
    assert_eq!(c.port, 7001);
    assert_eq!(c.timeout, 30);
    assert_eq!(c.maxmemory, 1 << 20);
    assert_eq!(c.maxmemory_policy, MaxmemoryPolicy::VolatileTtl);
    assert_eq!(c.maxmemory_policy.name(), "volatile-ttl");
    assert_eq!(c.loglevel, LogLevel::Debug);
    assert_eq!(c.repl_diskless_load, "swapdb");
    assert_eq!(c.min_replicas_to_write, 2);
    assert_eq!(c.replica_announce_ip.as_deref(), Some("10.0.0.1"));
    assert_eq!(c.replica_announce_port, 7002);
    assert_eq!(c.masterauth.as_deref(), Some("pw"));
    assert_eq!(c.list_max_listpack_size, -3);
    assert!(c.lazyfree_lazy_user_del);
    assert_eq!(c.repl_backlog_ttl, 0);
    assert_eq!(c.notify_keyspace_events, "xK");
    assert_eq!(
        c.notify_keyspace_events_flags,
        notify::KEYSPACE | notify::EXPIRED
    );
    for (name, value) in &set {
        let shown = c.get(name).unwrap_or_default();
        let expect = match name.as_str() {
            "maxmemory" => "1048576",
            "notify-keyspace-events" => "xK",
            _ => value.as_str(),
        };
        assert_eq!(shown, expect, "{name}");
    }
    let d = Config::from_str("enable-debug-command local\n").expect("valid");
    assert_eq!(d.enable_debug_command, "local");
    assert!(d.debug_command_allowed(true) && !d.debug_command_allowed(false));
}
