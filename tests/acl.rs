//! ACL users from the configuration (issue 12): `user` lines in redis.conf and the ACL file
//! (`aclfile`), ACL LOAD / SAVE in Redis's file format, CONFIG REWRITE writing the users, the
//! refusal of a config with both, and replicas authenticating to a master with ACL users
//! (`masteruser` / `masterauth`), one replica being the real redis-server 7.0.15.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::{
    bulk_text, escape, unique_temp_dir, wait_in_sync, wait_link_up, RawConn, Server, ServerKind,
    SYNC_TIMEOUT,
};

fn request(con: &mut RawConn, args: &[&str]) -> String {
    String::from_utf8_lossy(&con.request_str(args)).into_owned()
}

/// The elements of an array of bulk strings, as text.
fn strings(reply: &[u8]) -> Vec<String> {
    support::aggregate_elements(reply)
        .unwrap_or_default()
        .iter()
        .filter_map(|e| bulk_text(e))
        .collect()
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

#[test]
fn acl_file_load_and_save() {
    let dir = unique_temp_dir("aclfile");
    let file = dir.join("users.acl");
    write(
        &file,
        "user alice on >alicepw ~* &* +@all\nuser bob on -@all +@set +acl ~set* >bobpw\n\nuser default on nopass ~* &* +@all\n",
    );
    let server = Server::start_with_config(
        ServerKind::Tandem,
        &format!("aclfile {}\nsave \"\"", file.display()),
    );
    let mut con = server.raw();
    assert_eq!(
        strings(&con.request_str(&["ACL", "USERS"])),
        ["alice", "bob", "default"]
    );
    let mut bob = server.raw();
    assert_eq!(request(&mut bob, &["AUTH", "bob", "bobpw"]), "+OK\r\n");
    assert_eq!(request(&mut bob, &["SADD", "set1", "a"]), ":1\r\n");
    assert!(request(&mut bob, &["SET", "k", "v"]).starts_with("-NOPERM"));

    // SAVE writes every user in Redis's format, passwords as SHA-256 hashes.
    assert_eq!(
        request(
            &mut con,
            &["ACL", "SETUSER", "eve", "on", ">evepw", "+get", "~e*"]
        ),
        "+OK\r\n"
    );
    assert_eq!(request(&mut con, &["ACL", "SAVE"]), "+OK\r\n");
    let saved = std::fs::read_to_string(&file).expect("read the saved file");
    let listed = strings(&con.request_str(&["ACL", "LIST"]));
    assert_eq!(saved.lines().collect::<Vec<_>>(), listed);
    assert!(saved.contains("user eve on #"), "{saved}");
    assert!(!saved.contains("evepw"), "{saved}");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .expect("list dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");

    // LOAD replaces every user and disconnects the clients of the old ones.
    write(&file, &format!("{saved}user carol on nopass +ping\n"));
    assert_eq!(request(&mut con, &["ACL", "LOAD"]), "+OK\r\n");
    assert!(bob.try_read_reply().is_err(), "bob's connection must close");
    assert!(strings(&con.request_str(&["ACL", "USERS"])).contains(&"carol".to_string()));
    let mut eve = server.raw();
    assert_eq!(request(&mut eve, &["AUTH", "eve", "evepw"]), "+OK\r\n");

    // A broken file changes nothing and says why.
    write(
        &file,
        &format!("{saved}user alice on nopass\nuser x +nosuchcmd\n"),
    );
    let err = request(&mut con, &["ACL", "LOAD"]);
    assert!(
        err.contains("Duplicate user 'alice' found on line"),
        "{err}"
    );
    assert!(
        err.contains("Error in applying operation '+nosuchcmd'"),
        "{err}"
    );
    assert!(err.ends_with("no change to the previously active ACL rules was performed\r\n"));
    assert!(strings(&con.request_str(&["ACL", "USERS"])).contains(&"carol".to_string()));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn user_lines_and_config_rewrite() {
    let mut server = Server::start_with_config(
        ServerKind::Tandem,
        "user default on nopass ~* &* +@all -flushdb\nuser alice on >pw ~a* +get",
    );
    let mut con = server.raw();
    assert!(request(&mut con, &["FLUSHDB"]).starts_with("-NOPERM"));
    let mut alice = server.raw();
    assert_eq!(request(&mut alice, &["AUTH", "alice", "pw"]), "+OK\r\n");
    assert!(request(&mut alice, &["GET", "b"]).starts_with("-NOPERM"));
    assert_eq!(
        request(
            &mut con,
            &["ACL", "SETUSER", "bob", "on", ">bpw", "+@all", "~*"]
        ),
        "+OK\r\n"
    );
    assert_eq!(request(&mut con, &["CONFIG", "REWRITE"]), "+OK\r\n");
    let conf = std::fs::read_to_string(server.dir().join("server.conf")).expect("conf");
    assert!(conf.contains("\nuser bob on #"), "{conf}");
    // A configured default user was `reset` first, hence `sanitize-payload` (as in Redis).
    assert!(
        conf.contains("\nuser default on nopass sanitize-payload ~* &* +@all -flushdb"),
        "{conf}"
    );
    server.restart();
    let mut con = server.raw();
    assert!(request(&mut con, &["FLUSHDB"]).starts_with("-NOPERM"));
    assert_eq!(request(&mut con, &["AUTH", "bob", "bpw"]), "+OK\r\n");
    assert_eq!(request(&mut con, &["AUTH", "alice", "pw"]), "+OK\r\n");
}

/// Runs the server binary with a config file and returns (exit code, output).
fn run_to_exit(kind: ServerKind, conf: &str) -> (Option<i32>, String) {
    let dir = unique_temp_dir("aclbad");
    let path = dir.join("bad.conf");
    write(&path, conf);
    let out = Command::new(kind.binary())
        .arg(&path)
        .current_dir(&dir)
        .output()
        .expect("run the server");
    let _ = std::fs::remove_dir_all(&dir);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

#[test]
fn refused_configurations() {
    let port = support::pick_free_port();
    for kind in [ServerKind::Redis, ServerKind::Tandem] {
        let (code, out) = run_to_exit(
            kind,
            &format!("port {port}\nuser alice on nopass\naclfile /nonexistent.acl\n"),
        );
        assert_eq!(code, Some(1), "{}: {out}", kind.name());
        assert!(
            out.contains("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid"),
            "{}: {out}",
            kind.name()
        );
        let (code, out) = run_to_exit(kind, &format!("port {port}\nuser foo on\nuser foo off\n"));
        assert_eq!(code, Some(1), "{}: {out}", kind.name());
        assert!(out.contains("Duplicate user"), "{}: {out}", kind.name());
        // Redis names the argument at the rule's index in the whole line (here the name).
        let (code, out) = run_to_exit(kind, &format!("port {port}\nuser foo on %X~a\n"));
        assert_eq!(code, Some(1), "{}: {out}", kind.name());
        assert!(
            out.contains("Error in user declaration 'foo': Syntax error"),
            "{}: {out}",
            kind.name()
        );
    }
}

#[test]
fn replicas_authenticate_with_masteruser() {
    // The default user may do anything but replicate: only `repl` may.
    let master = Server::start_with_config(
        ServerKind::Tandem,
        "save \"\"\nenable-debug-command yes\nuser default on nopass ~* &* +@all -psync -sync -replconf\nuser repl on >replpw +psync +replconf +ping",
    );
    let host_port = format!("127.0.0.1 {}", master.port());
    let replica_conf = |user: &str| {
        format!(
            "save \"\"\nenable-debug-command yes\nreplicaof {host_port}\nmasteruser {user}\nmasterauth replpw"
        )
    };
    let tandem = Server::start_with_config(ServerKind::Tandem, &replica_conf("repl"));
    let redis = Server::start_with_config(ServerKind::Redis, &replica_conf("repl"));
    master.run_lines(&["SET a 1", "RPUSH l x y z", "HSET h f v"]);
    wait_link_up(&tandem, SYNC_TIMEOUT);
    wait_link_up(&redis, SYNC_TIMEOUT);
    master.run_lines(&["INCR a", "SADD s m"]);
    wait_in_sync(&master, &[&tandem, &redis], SYNC_TIMEOUT);

    // A replica with the wrong user is refused, and says so in its log.
    let wrong = Server::start_with_config(ServerKind::Tandem, &replica_conf("nobody"));
    let refused = support::wait_until(Duration::from_secs(10), || {
        wrong.log_text().contains("Unable to AUTH to MASTER")
    });
    assert!(refused, "log: {}", wrong.log_text());
    assert_eq!(
        wrong
            .info_field("replication", "master_link_status")
            .as_deref(),
        Some("down")
    );
    let mut con = master.raw();
    let log = con.request_str(&["ACL", "LOG"]);
    assert!(
        String::from_utf8_lossy(&log).contains("nobody"),
        "{}",
        escape(&log)
    );
}

/// A CLIENT INFO line without the fields that name the connection or measure time and
/// memory (id, addr, laddr, fd, age, idle, rbs, rbp, tot-mem), nor `obl`: inside EXEC, Redis
/// counts there the replies it already wrote (at least the array's header), which we build
/// after the queue ran.
fn comparable_info(info: &str) -> String {
    const VARYING: [&str; 10] = [
        "id", "addr", "laddr", "fd", "age", "idle", "rbs", "rbp", "tot-mem", "obl",
    ];
    let kept: Vec<&str> = info
        .split(' ')
        .filter(|f| !VARYING.contains(&f.split('=').next().unwrap_or("")))
        .collect();
    kept.join(" ")
}

/// The `client-info` of every ACL LOG entry, newest first, as [`comparable_info`].
fn acl_log_client_infos(con: &mut RawConn) -> Vec<String> {
    let log = con.request_str(&["ACL", "LOG"]);
    let mut out = Vec::new();
    for entry in support::aggregate_elements(&log).unwrap_or_default() {
        let fields: Vec<Option<String>> = support::aggregate_elements(&entry)
            .unwrap_or_default()
            .iter()
            .map(|e| bulk_text(e))
            .collect();
        let at = fields
            .iter()
            .position(|f| f.as_deref() == Some("client-info"));
        let info = at.and_then(|i| fields.get(i + 1).cloned().flatten());
        let info = info.unwrap_or_else(|| panic!("no client-info in {}", escape(&entry)));
        out.push(comparable_info(&info));
    }
    out
}

/// ACL LOG's `client-info` is the CLIENT INFO line of the client while it ran the refused
/// command: its query buffer and `argv-mem` hold that command (EXEC's for a command refused
/// inside EXEC, EVAL's for one a script called), `multi` counts what was queued. We showed an
/// idle client's line (qbuf=0 argv-mem=0), which redis-py's test_acl_log shows too. Inside
/// EXEC the client is still in its transaction (flags=x, multi=N), for CLIENT INFO as well.
#[test]
fn acl_log_client_info_is_the_running_command() {
    let mut seen = Vec::new();
    for kind in [ServerKind::Redis, ServerKind::Tandem] {
        let server = Server::start(kind, &["--save", "", "--appendonly", "no"]);
        let mut admin = server.raw();
        let setuser = [
            "ACL", "SETUSER", "u1", "on", "nopass", "+get", "+multi", "+exec", "+eval", "~cache:*",
        ];
        assert_eq!(request(&mut admin, &setuser), "+OK\r\n");
        let mut user = server.raw();
        assert_eq!(request(&mut user, &["AUTH", "u1", "x"]), "+OK\r\n");
        request(&mut user, &["GET", "other"]);
        request(&mut user, &["HSET", "cache:0", "field", "value"]);
        request(&mut user, &["EVAL", "return redis.pcall('get','zz')", "0"]);
        // Refused while queued (the transaction is then discarded by EXEC) ...
        request(&mut user, &["MULTI"]);
        request(&mut user, &["GET", "cache:1"]);
        request(&mut user, &["HSET", "cache:2", "f", "v"]);
        request(&mut user, &["EXEC"]);
        // ... and by EXEC itself, the rules having changed since it was queued.
        request(&mut user, &["MULTI"]);
        request(&mut user, &["GET", "cache:3"]);
        assert_eq!(
            request(&mut admin, &["ACL", "SETUSER", "u1", "-get"]),
            "+OK\r\n"
        );
        request(&mut user, &["EXEC"]);
        request(&mut user, &["AUTH", "nobody", "wrong"]);
        let mut infos = acl_log_client_infos(&mut admin);
        // CLIENT INFO run by EXEC.
        request(&mut admin, &["MULTI"]);
        request(&mut admin, &["SET", "k", "v"]);
        request(&mut admin, &["CLIENT", "INFO"]);
        let exec = admin.request_str(&["EXEC"]);
        let replies = support::aggregate_elements(&exec).unwrap_or_default();
        let info = replies.get(1).and_then(|r| bulk_text(r));
        let info = info.unwrap_or_else(|| panic!("EXEC: {}", escape(&exec)));
        infos.push(comparable_info(info.trim_end()));
        seen.push(infos);
    }
    assert_eq!(seen[0].len(), 7, "redis-server's lines: {:#?}", seen[0]);
    assert_eq!(seen[1], seen[0], "tandem (left) vs redis-server (right)");
}
