//! Loading: syntax, directives, errors, includes, command line.

use std::path::Path;

use super::super::parse::{command_line, repr, split_args};
use super::super::*;
use super::{err_of, fatal, s, TempDir};

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
    let c = Config::from_str(
        "bind \"127.0.0.1 ::1\"\nreplicaof \"127.0.0.1 6379\"\nshutdown-on-sigint \"now force\"\n\
         client-output-buffer-limit \"normal 1 2 3\"\n",
    )
    .expect("valid");
    assert_eq!(c.bind, vec![s("127.0.0.1"), s("::1")]);
    assert_eq!(c.replicaof, Some((s("127.0.0.1"), 6379)));
    assert_eq!(c.get("shutdown-on-sigint").as_deref(), Some("now force"));
    assert_eq!(c.client_output_buffer_limit.normal.soft_seconds, 3);
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
        ("save \"5 5\"\n", "5 5"),
        ("save \"5  5\"\n", "5 5"),
        ("save \"5 \\\"5\\\"\"\n", "5 5"),
        ("save \"5 \\\"5\\\"6\"\n", ""),
        ("save \" \"\n", ""),
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
        ("save \"5 5\" 6 6", "Invalid save parameters"),
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
