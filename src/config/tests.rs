//! Tests for the config module. Every expected error text and CONFIG GET/REWRITE output here
//! was captured from Debian's redis-server 7.0.15, not from Tandem.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::parse::{command_line, repr, split_args};
use super::*;

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "tandem-config-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p.canonicalize().expect("canonical temp dir"))
    }

    fn write(&self, name: &str, content: &str) -> PathBuf {
        let p = self.0.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create dir");
        }
        std::fs::write(&p, content).expect("write file");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn s(v: &str) -> String {
    v.to_string()
}

fn fatal(line: usize, text: &str, reason: &str) -> String {
    format!(
        "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\nReading the configuration file, at line {line}\n>>> '{text}'\n{reason}\n"
    )
}

fn err_of(text: &str) -> String {
    match Config::from_str(text) {
        Ok(_) => panic!("config {text:?} should fail"),
        Err(e) => e.to_string(),
    }
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter().map(|(a, b)| (s(a), s(b))).collect()
}

#[test]
fn split_args_quoting() {
    let sp = |l: &str| {
        split_args(l.as_bytes()).map(|v| {
            v.into_iter()
                .map(|a| String::from_utf8_lossy(&a).into_owned())
                .collect::<Vec<_>>()
        })
    };
    assert_eq!(sp("  port   6379  "), Some(vec![s("port"), s("6379")]));
    assert_eq!(
        sp(r#"a "b c" 'd e'"#),
        Some(vec![s("a"), s("b c"), s("d e")])
    );
    assert_eq!(
        sp(r#""\n\r\t\b\a\\\"\x41\q""#),
        Some(vec![s("\n\r\t\x08\x07\\\"Aq")])
    );
    assert_eq!(sp(r#"'it\'s' '\n'"#), Some(vec![s("it's"), s("\\n")]));
    assert_eq!(sp(r#"save """#), Some(vec![s("save"), s("")]));
    assert_eq!(sp(r#"ab"cd ef""#), Some(vec![s("abcd ef")]));
    assert_eq!(sp(r#""\x4""#), Some(vec![s("x4")]));
    assert_eq!(sp(r#""unbalanced"#), None);
    assert_eq!(sp(r#""a"b"#), None);
    assert_eq!(sp("'a'b"), None);
    assert_eq!(sp(""), Some(vec![]));
    // repr round-trips through split_args.
    let raw = "a\"b\\n\n\x01\u{e9} ";
    assert_eq!(sp(&repr(raw.as_bytes())), Some(vec![s(raw)]));
    assert_eq!(repr(b"a\"b\\n"), r#""a\"b\\n""#);
}

#[test]
fn units_and_types() {
    let c = Config::from_str(
        "maxmemory 1kb\nrepl-backlog-size 2M\nproto-max-bulk-len 1GB\nhash-max-ziplist-value 1k\n\
         client-query-buffer-limit 3mb\nmaxmemory-clients 10%\nunixsocketperm 0700\n",
    )
    .expect("valid");
    assert_eq!(c.maxmemory, 1024);
    assert_eq!(c.repl_backlog_size, 2_000_000);
    assert_eq!(c.proto_max_bulk_len, 1 << 30);
    assert_eq!(c.hash_max_listpack_value, 1000);
    assert_eq!(c.client_query_buffer_limit, 3 << 20);
    assert_eq!(c.get("maxmemory-clients").as_deref(), Some("10%"));
    assert_eq!(c.unixsocketperm, 0o700);
    assert_eq!(c.get("unixsocketperm").as_deref(), Some("700"));
    assert_eq!(c.get("maxmemory").as_deref(), Some("1024"));
}

#[test]
fn directives_are_case_insensitive_and_later_lines_win() {
    let c = Config::from_str(
        "# comment\n\n  PORT 7000\nport 7001\nLogLevel WARNING\nprotected-mode NO\n\
         maxmemory-policy ALLKEYS-LRU\nbind 1.2.3.4\nbind 127.0.0.1 ::1\r\n\
         client-output-buffer-limit normal 1 2 3\nclient-output-buffer-limit pubsub 4kb 5 6\n\
         slaveof localhost 0006000\nslave-read-only no\nhz 1000\n",
    )
    .expect("valid");
    assert_eq!(c.port, 7001);
    assert_eq!(c.loglevel, LogLevel::Warning);
    assert_eq!(c.get("loglevel").as_deref(), Some("warning"));
    assert!(!c.protected_mode);
    assert_eq!(c.maxmemory_policy, MaxmemoryPolicy::AllkeysLru);
    assert_eq!(c.bind, vec![s("127.0.0.1"), s("::1")]);
    assert_eq!(
        c.get("client-output-buffer-limit").as_deref(),
        Some("normal 1 2 3 slave 268435456 67108864 60 pubsub 4096 5 6")
    );
    assert_eq!(c.client_output_buffer_limit.pubsub.hard_bytes, 4096);
    assert_eq!(c.replicaof, Some((s("localhost"), 6000)));
    assert_eq!(c.get("replicaof").as_deref(), Some("localhost 6000"));
    assert_eq!(c.get("slaveof").as_deref(), Some("localhost 6000"));
    assert!(!c.replica_read_only);
    assert_eq!(c.hz, 500);
    assert_eq!(c.get("hz").as_deref(), Some("500"));
    let c =
        Config::from_str("replicaof 127.0.0.1 6000\nreplicaof no one\nbind \"\"\n").expect("valid");
    assert_eq!(c.replicaof, None);
    assert_eq!(c.get("replicaof").as_deref(), Some(""));
    assert!(c.bind.is_empty());
}

#[test]
fn save_lines_follow_redis_7_0_15() {
    // Each case: file text -> CONFIG GET save, as redis-server 7.0.15 reported it.
    for (text, want) in [
        ("", "3600 1 300 100 60 10000"),
        ("save 900 1\nsave \"\"\nsave 300 10\n", "300 10"),
        ("save \"\"\nsave 900 1\n", "900 1"),
        ("save 60 5 30 2\n", "60 5 30 2"),
        ("save 0060 +5\n", "60 5"),
        ("save 900 1\n\nsave 300 10\n", "900 1 300 10"),
        ("save \"\"\n", ""),
    ] {
        let c = Config::from_str(text).expect("valid");
        assert_eq!(c.get("save").as_deref(), Some(want), "{text:?}");
    }
    let c = Config::from_str("save 900 1 300 10\n").expect("valid");
    assert_eq!(c.save, vec![(900, 1), (300, 10)]);
}

#[test]
fn fatal_errors_match_redis() {
    assert_eq!(
        err_of("port 7000\nfoo bar\n"),
        "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\nReading the configuration file, at line 2\n>>> 'foo bar'\nBad directive or wrong number of arguments\n"
    );
    let cases: &[(&str, &str)] = &[
        ("port abc", "argument couldn't be parsed into an integer"),
        ("port 70000", "argument must be between 0 and 65535 inclusive"),
        ("port", "wrong number of arguments"),
        ("port 1 2", "wrong number of arguments"),
        ("requirepass", "wrong number of arguments"),
        ("maxmemory-policy foo", "argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction"),
        ("loglevel loud", "argument(s) must be one of the following: debug, verbose, notice, warning"),
        ("enable-debug-command maybe", "argument(s) must be one of the following: no, yes, local"),
        ("appendonly maybe", "argument must be 'yes' or 'no'"),
        ("maxmemory abc", "argument must be a memory value"),
        ("maxmemory -1", "argument must be a memory value"),
        ("maxmemory 1.5gb", "argument must be a memory value"),
        ("hash-max-listpack-value -1", "argument must be a memory value"),
        ("maxmemory-clients -5", "argument must be a memory or percent value"),
        ("maxmemory-clients 200%", "percentage argument must be less or equal to 100"),
        ("unixsocketperm 999", "argument couldn't be parsed as an octal number"),
        ("unixsocketperm -1", "argument must be between 0 and 777 inclusive"),
        ("unixsocketperm 1000", "argument must be between 0 and 777 inclusive"),
        ("socket-mark-id -1", "argument must be between 0 and 4294967295 inclusive"),
        ("databases 0", "argument must be between 1 and 2147483647 inclusive"),
        ("timeout 99999999999", "argument must be between 0 and 2147483647 inclusive"),
        ("slowlog-log-slower-than -2", "argument must be between -1 and 9223372036854775807 inclusive"),
        ("maxclients 0", "argument must be between 1 and 4294967295 inclusive"),
        ("io-threads 0", "argument must be between 1 and 128 inclusive"),
        ("dbfilename a/b", "dbfilename can't be a path, just a filename"),
        ("appendfilename \"\"", "appendfilename can't be empty"),
        ("appenddirname a/b", "appenddirname can't be a path, just a dirname"),
        ("save 1", "Invalid save parameters"),
        ("save 0 1", "Invalid save parameters"),
        ("save abc 1", "Invalid save parameters"),
        ("client-output-buffer-limit normal 0 0", "Wrong number of arguments in buffer limit configuration."),
        ("client-output-buffer-limit master 0 0 0", "Invalid client class specified in buffer limit configuration."),
        ("client-output-buffer-limit normal x 0 0", "Error in hard, soft or soft_seconds setting in buffer limit configuration."),
        ("port \"7000", "Unbalanced quotes in configuration line"),
        ("port '7000", "Unbalanced quotes in configuration line"),
        ("port \"70\"00", "Unbalanced quotes in configuration line"),
        ("notify-keyspace-events Q", "Invalid event class character. Use 'Ag$lshzxeKEtmdn'."),
        ("replicaof 127.0.0.1", "wrong number of arguments"),
        ("replicaof 127.0.0.1 abc", "Invalid master port"),
        ("replicaof 127.0.0.1 70000", "Invalid master port"),
        ("dir /nonexistent", "No such file or directory"),
        ("dir \"\"", "No such file or directory"),
        ("oom-score-adj-values 1 2", "wrong number of arguments"),
        ("oom-score-adj-values 1 2 x", "Invalid oom-score-adj-values, elements must be between -2000 and 2000."),
        ("latency-tracking-info-percentiles 50 x", "Invalid latency-tracking-info-percentiles parameters"),
        ("latency-tracking-info-percentiles 500", "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"),
        ("list-max-ziplist-entries", "Bad directive or wrong number of arguments"),
        ("list-max-ziplist-value 1 2", "Bad directive or wrong number of arguments"),
        ("user", "Bad directive or wrong number of arguments"),
        ("loadmodule", "Bad directive or wrong number of arguments"),
        ("foo.bar", "Module config specified without value"),
        ("sentinel foo", "sentinel directive while not in sentinel mode"),
        ("activedefrag yes", "Active defragmentation cannot be enabled: it requires a Redis server compiled with a modified Jemalloc like the one shipped by default with the Redis source distribution"),
        ("cluster-announce-hostname \"a b\"", "Hostnames may only contain alphanumeric characters, hyphens or dots"),
        ("bind 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17", "Too many bind addresses specified."),
        ("proc-title-template \"{foo}\"", "template format is invalid or contains unknown variables"),
        ("shutdown-on-sigint save nosave", "shutdown options SAVE and NOSAVE can't be used simultaneously"),
    ];
    for (line, reason) in cases {
        assert_eq!(err_of(line), fatal(1, line, reason), "{line}");
    }
    // The quoted line is the trimmed original text.
    assert_eq!(
        err_of("\n\t  port x  \r\n"),
        fatal(2, "port x", "argument couldn't be parsed into an integer")
    );
    // Accepted by redis-server 7.0.15 too.
    for ok in [
        "list-max-ziplist-entries 5",
        "lua-replicate-commands yes",
        "replicaof no one",
        "user default on",
        "sentinel",
        "unixsocketperm \"\"",
        "unixsocketperm \" 7\"",
        "maxmemory \"\"",
        "bind",
        "save",
        "rename-command KEYS \"\"",
    ] {
        assert!(Config::from_str(ok).is_ok(), "{ok}");
    }
    assert_eq!(
        Config::from_str("cluster-enabled yes\nreplicaof 1.2.3.4 5\n").map(|_| ()).unwrap_err().to_string(),
        "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\nreplicaof directive not allowed in cluster mode\n"
    );
}

#[test]
fn includes_nest_and_report_their_own_lines() {
    let t = TempDir::new("include");
    let c_conf = t.write("c.conf", "maxmemory 3mb\n");
    let b_conf = t.write(
        "sub/b.conf",
        &format!("port 7002\ninclude {}\ntimeout 5\n", c_conf.display()),
    );
    let a = format!("port 7001\ninclude {}\nhz 20\n", b_conf.display());
    let c = Config::from_str(&a).expect("valid");
    assert_eq!(
        (c.port, c.maxmemory, c.timeout, c.hz),
        (7002, 3 << 20, 5, 20)
    );

    // Errors quote the included file's line number (redis-server 7.0.15 behaviour).
    let bad = t.write("bad.conf", "\nfoo1\n");
    assert_eq!(
        err_of(&format!("port 1\ninclude {}\n", bad.display())),
        fatal(2, "foo1", "Bad directive or wrong number of arguments")
    );

    // A missing include is fatal; a glob without matches is not.
    assert_eq!(
        err_of("include /nonexistent/file.conf"),
        "Fatal error, can't open config file '/nonexistent/file.conf': No such file or directory\n"
    );
    let c = Config::from_str(&format!("include {}/zz*/x.conf\nport 9\n", t.0.display()))
        .expect("valid");
    assert_eq!(c.port, 9);
    t.write("d/1.conf", "port 11\n");
    t.write("d/2.conf", "port 12\ntimeout 7\n");
    t.write("d/.hidden.conf", "port 13\n");
    let c = Config::from_str(&format!("include {}/d/*.conf\n", t.0.display())).expect("valid");
    assert_eq!((c.port, c.timeout), (12, 7));

    // A relative include is relative to the working directory, and `dir` moves it.
    let cwd = std::env::current_dir().expect("cwd");
    let ups = "../".repeat(cwd.components().count().saturating_sub(1));
    let rel = format!(
        "{ups}{}",
        t.0.join("c.conf")
            .display()
            .to_string()
            .trim_start_matches('/')
    );
    let c = Config::from_str(&format!("include {rel}\n")).expect("valid");
    assert_eq!(c.maxmemory, 3 << 20);
    let c =
        Config::from_str(&format!("dir {}\ninclude sub/b.conf\n", t.0.display())).expect("valid");
    assert_eq!((c.port, c.maxmemory), (7002, 3 << 20));
    assert_eq!(c.dir, t.0.display().to_string());
    assert_eq!(
        std::env::current_dir().expect("cwd"),
        cwd,
        "from_str must not chdir"
    );
}

#[test]
fn command_line_options_become_config_lines() {
    let cl = command_line(&[
        s("/x.conf"),
        s("--port"),
        s("7000"),
        s("--save"),
        s("--replicaof"),
        s("127.0.0.1"),
        s("6379"),
    ]);
    assert_eq!(cl.config_file.as_deref(), Some("/x.conf"));
    assert!(!cl.from_stdin);
    assert_eq!(
        String::from_utf8_lossy(&cl.options),
        "port \"7000\" \nsave \"\"\nreplicaof \"127.0.0.1\" \"6379\" "
    );
    let cl = command_line(&[s("-"), s("--requirepass"), s("--x"), s("--save")]);
    assert!(cl.from_stdin && cl.config_file.is_none());
    assert_eq!(
        String::from_utf8_lossy(&cl.options),
        "requirepass \"--x\" \nsave \"\""
    );

    // Texts from redis-server 7.0.15 with the same command lines.
    let load = |args: &[&str]| Config::load(&args.iter().map(|a| s(a)).collect::<Vec<_>>());
    assert_eq!(
        load(&["--port", "abc"])
            .map(|_| ())
            .unwrap_err()
            .to_string(),
        fatal(
            2,
            "port \"abc\"",
            "argument couldn't be parsed into an integer"
        )
    );
    let t = TempDir::new("cmdline");
    let f = t.write("ok.conf", "port 0\n");
    let f = f.to_string_lossy();
    assert_eq!(
        load(&[&f, "--port", "0", "--foo", "a b"])
            .map(|_| ())
            .unwrap_err()
            .to_string(),
        fatal(
            4,
            "foo \"a b\"",
            "Bad directive or wrong number of arguments"
        )
    );
    assert_eq!(
        load(&[&f, "--port", "0", "--maxmemory"])
            .map(|_| ())
            .unwrap_err()
            .to_string(),
        fatal(4, "maxmemory", "wrong number of arguments")
    );
    assert_eq!(
        load(&[&f, "--port", "0", "--dbfilename", "a\"b\\n", "--foo"])
            .map(|_| ())
            .unwrap_err()
            .to_string(),
        fatal(
            4,
            "dbfilename \"a\\\"b\\\\n\"",
            "dbfilename can't be a path, just a filename"
        )
    );
    assert_eq!(
        load(&[&f, "--port", "0", "--maxmemory 10", "--xyz"])
            .map(|_| ())
            .unwrap_err()
            .to_string(),
        fatal(5, "xyz", "Bad directive or wrong number of arguments")
    );
    assert_eq!(
        load(&["--port", "0", "--save", "--xyz"])
            .map(|_| ())
            .unwrap_err()
            .to_string(),
        fatal(4, "xyz", "Bad directive or wrong number of arguments")
    );
    let missing = t.0.join("none.conf");
    assert_eq!(
        load(&[&missing.to_string_lossy()])
            .map(|_| ())
            .unwrap_err()
            .to_string(),
        format!(
            "Fatal error, can't open config file '{}': No such file or directory\n",
            missing.display()
        )
    );

    let c = load(&[
        &f,
        "--port",
        "7010",
        "--save",
        "5 5",
        "--save",
        "6 6",
        "--replicaof",
        "127.0.0.1",
        "6379",
    ])
    .expect("valid");
    assert_eq!(c.port, 7010);
    assert_eq!(c.save, vec![(5, 5), (6, 6)]);
    assert_eq!(c.replicaof, Some((s("127.0.0.1"), 6379)));
    assert_eq!(c.config_file(), Some(Path::new(&*f)));
    let c = load(&[&f, "--save", ""]).expect("valid");
    assert!(c.save.is_empty());
    let c = load(&[]).expect("valid");
    assert_eq!(c.config_file(), None);
    assert_eq!(
        c.rewrite(),
        Err(s("ERR The server is running without a config file"))
    );
}

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
            super::table::lookup(d.name).map(|(i, _)| TABLE[i].name),
            Some(d.name)
        );
    }
    let _ = super::value::all_defaults_for_test();
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
        p.set_many_from(&pairs(&[("dbfilename", "x.rdb")]), false),
        failed("dbfilename", "can't set protected config")
    );
    assert_eq!(
        p.set_many_from(&pairs(&[("dbfilename", "x.rdb")]), true),
        Ok(())
    );
    assert_eq!(p.dbfilename, "x.rdb");
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
    assert_eq!(std::fs::read_to_string(&path).expect("read back"), format!("{got}\n"));
    assert_eq!(c.rewrite(), Ok(()));
    assert_eq!(std::fs::read_to_string(&path).expect("read back"), format!("{got}\n"));
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
        "port 1\nappendonly no\nactiverehashing yes\nappendonly yes\nslave-lazy-flush no\n\
         rename-command FLUSHALL \"\"\nhash-max-ziplist-entries 3\nmymod.opt 1\n",
    )
    .expect("valid");
    assert_eq!(
        c.unimplemented_seen(),
        [
            "appendonly",
            "activerehashing",
            "replica-lazy-flush",
            "rename-command",
            "mymod.opt"
        ]
    );
    assert_eq!(c.rename_commands, vec![(s("FLUSHALL"), s(""))]);
    assert_eq!(c.get("appendonly").as_deref(), Some("yes"));
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
}
