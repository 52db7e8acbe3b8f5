//! TLS through the real binary, next to redis-server 7.0.15 (Debian's is built with TLS):
//! `tls-port` beside the plain `port`, redis-cli `--tls`, `tls-auth-clients`, certificate
//! reload by CONFIG SET (encrypted keys with `tls-key-file-pass`), and replication over TLS in
//! both directions with `masteruser`/`masterauth`. The certificates are made by the test with
//! the openssl command line, as Redis's `utils/gen-test-certs.sh` makes its own.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use support::{pick_free_port, redis_cli_output, unique_temp_dir, wait_until, Server, ServerKind};

/// A CA with a server, a client and a generic certificate.
struct Certs {
    dir: PathBuf,
}

impl Certs {
    fn make() -> Certs {
        let dir = unique_temp_dir("tls-certs");
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .output()
                .expect("openssl runs (apt-get install openssl)");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        std::fs::write(
            dir.join("ext.cnf"),
            "[server_cert]\nkeyUsage = digitalSignature, keyEncipherment\nnsCertType = server\n\
             [client_cert]\nkeyUsage = digitalSignature, keyEncipherment\nnsCertType = client\n\
             [generic]\nbasicConstraints = CA:FALSE\n",
        )
        .expect("write ext.cnf");
        openssl(&["genrsa", "-out", "ca.key", "2048"]);
        openssl(&[
            "req",
            "-x509",
            "-new",
            "-nodes",
            "-sha256",
            "-key",
            "ca.key",
            "-days",
            "30",
            "-subj",
            "/O=Tandem Test/CN=Certificate Authority",
            "-out",
            "ca.crt",
        ]);
        for (name, ext) in [
            ("server", "server_cert"),
            ("client", "client_cert"),
            ("redis", "generic"),
        ] {
            openssl(&["genrsa", "-out", &format!("{name}.key"), "2048"]);
            openssl(&[
                "req",
                "-new",
                "-sha256",
                "-subj",
                &format!("/O=Tandem Test/CN={name}"),
                "-key",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
            ]);
            openssl(&[
                "x509",
                "-req",
                "-sha256",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "30",
                "-extfile",
                "ext.cnf",
                "-extensions",
                ext,
                "-out",
                &format!("{name}.crt"),
            ]);
        }
        // The encrypted key of unit/tls ("Working with an encrypted keyfile").
        openssl(&[
            "rsa",
            "-in",
            "server.key",
            "-out",
            "server.key.encrypted",
            "-aes256",
            "-passout",
            "pass:1234",
        ]);
        Certs { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// The server directives of the suite's TLS mode, plus `tls-port`.
    fn server_args(&self, tls_port: u16) -> Vec<String> {
        let mut v = vec!["--tls-port".to_string(), tls_port.to_string()];
        for (k, f) in [
            ("--tls-cert-file", "server.crt"),
            ("--tls-key-file", "server.key"),
            ("--tls-client-cert-file", "client.crt"),
            ("--tls-client-key-file", "client.key"),
            ("--tls-ca-cert-file", "ca.crt"),
        ] {
            v.push(k.into());
            v.push(self.path(f));
        }
        v
    }

    /// redis-cli's TLS options, with or without a client certificate.
    fn cli(&self, with_cert: bool) -> Vec<String> {
        let mut v = vec!["--tls".to_string(), "--cacert".into(), self.path("ca.crt")];
        if with_cert {
            v.extend(["--cert".into(), self.path("client.crt")]);
            v.extend(["--key".into(), self.path("client.key")]);
        }
        v
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start(kind: ServerKind, certs: &Certs, tls_port: u16, extra: &[&str]) -> Server {
    let mut args: Vec<String> = vec!["--save".into(), String::new()];
    args.extend(certs.server_args(tls_port));
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start(kind, &refs)
}

/// redis-cli over TLS on `port`: stdout, or `ERR:` and the first line of stderr.
fn cli(certs: &Certs, port: u16, with_cert: bool, args: &[&str]) -> String {
    let mut all = certs.cli(with_cert);
    all.extend(args.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    let (out, err) = redis_cli_output(port, &refs);
    if out.is_empty() {
        format!("ERR:{}", err.lines().next().unwrap_or(""))
    } else {
        out.trim_end().to_string()
    }
}

/// What a client sees of the TLS side of `kind`, line by line.
fn tls_session(kind: ServerKind, certs: &Certs) -> Vec<String> {
    let tls_port = pick_free_port();
    let server = start(kind, certs, tls_port, &[]);
    let mut seen = Vec::new();
    let mut note = |what: &str, got: String| seen.push(format!("{what}: {got}"));
    note("set", cli(certs, tls_port, true, &["set", "k", "v"]));
    note("get", cli(certs, tls_port, true, &["get", "k"]));
    // tls-auth-clients yes (the default): no certificate, no service.
    let refused = cli(certs, tls_port, false, &["ping"]);
    note("no cert, auth yes", (!refused.contains("PONG")).to_string());
    // A plain-text client on the TLS port: closed without a reply.
    let (out, err) = redis_cli_output(tls_port, &["ping"]);
    note(
        "plain on tls port",
        format!("{out}{err}").trim().to_string(),
    );
    for mode in ["no", "optional"] {
        note(
            "set auth",
            cli(
                certs,
                tls_port,
                true,
                &["config", "set", "tls-auth-clients", mode],
            ),
        );
        note("no cert", cli(certs, tls_port, false, &["ping"]));
        note("cert", cli(certs, tls_port, true, &["ping"]));
    }
    let get = |name: &str| cli(certs, tls_port, true, &["config", "get", name]);
    for name in [
        "tls-port",
        "tls-auth-clients",
        "tls-replication",
        "tls-protocols",
        "tls-session-cache-size",
    ] {
        note(
            "config get",
            get(name).replace(&tls_port.to_string(), "<tls-port>"),
        );
    }
    let set = |args: &[&str]| {
        let mut all = vec!["config", "set"];
        all.extend_from_slice(args);
        cli(certs, tls_port, true, &all)
    };
    note(
        "missing key file",
        set(&["tls-key-file", "/nonexistent/key"]),
    );
    note("bad protocols", set(&["tls-protocols", "SSLv3"]));
    note("tls1.2 only", set(&["tls-protocols", "TLSv1.2"]));
    note("ping tls1.2", cli(certs, tls_port, true, &["ping"]));
    note("default protocols", set(&["tls-protocols", ""]));
    // tls-ciphers and tls-prefer-server-ciphers are OpenSSL's, TLS 1.2 CBC suites included
    // (unit/tls): the cipher an `s_client -tls1_2 -cipher LIST` client ends up with, if any.
    let cipher = |offer: &str| {
        let args = ["-tls1_2", "-cipher", offer, "-nocommands", "-ign_eof"];
        let out = s_client_says(certs, tls_port, &args, "PING\r\nQUIT\r\n");
        let line = out
            .lines()
            .find(|l| l.starts_with("New,"))
            .map(str::to_string);
        format!("{line:?} {}", out.contains("+PONG"))
    };
    note("no such cipher", set(&["tls-ciphers", "NO-SUCH-CIPHER"]));
    note("ciphers", set(&["tls-ciphers", "DEFAULT:-AES128-SHA256"]));
    note("excluded cipher", cipher("AES128-SHA256"));
    note("other cipher", cipher("AES256-SHA256"));
    note(
        "ciphers",
        set(&["tls-ciphers", "AES128-SHA256:AES256-SHA256"]),
    );
    note("client order", cipher("AES256-SHA256:AES128-SHA256"));
    note("prefer server", set(&["tls-prefer-server-ciphers", "yes"]));
    note("server order", cipher("AES256-SHA256:AES128-SHA256"));
    note("default ciphers", set(&["tls-ciphers", "DEFAULT"]));
    note(
        "no dh file",
        set(&["tls-dh-params-file", "/nonexistent/dh"]),
    );
    // Certificates are read again on CONFIG SET; an encrypted key needs its password.
    let encrypted = certs.path("server.key.encrypted");
    note("encrypted, no pass", set(&["tls-key-file", &encrypted]));
    note("pass", set(&["tls-key-file-pass", "1234"]));
    note("encrypted, pass", set(&["tls-key-file", &encrypted]));
    note("ping after reload", cli(certs, tls_port, true, &["ping"]));
    // TLS only: INFO's tcp_port then shows tls-port.
    note("port 0", set(&["port", "0"]));
    let info = cli(certs, tls_port, true, &["info", "server"]);
    let tcp_port = info
        .lines()
        .find_map(|l| l.strip_prefix("tcp_port:"))
        .map(|p| (p.trim() == tls_port.to_string()).to_string());
    note("tcp_port is tls-port", format!("{tcp_port:?}"));
    // Switch the TLS listener to another port.
    let moved = pick_free_port();
    note("tls-port moved", set(&["tls-port", &moved.to_string()]));
    note("ping moved", cli(certs, moved, true, &["ping"]));
    note(
        "ping old",
        (!cli(certs, tls_port, true, &["ping"]).contains("PONG")).to_string(),
    );
    drop(server);
    seen
}

#[test]
fn tls_port_behaves_as_redis() {
    let certs = Certs::make();
    let tandem = tls_session(ServerKind::Tandem, &certs);
    let redis = tls_session(ServerKind::Redis, &certs);
    assert_eq!(tandem, redis);
    assert!(tandem.iter().any(|l| l == "get: v"), "{tandem:?}");
}

fn info_field(server: &Server, section: &str, field: &str) -> String {
    server.info_field(section, field).unwrap_or_default()
}

fn link_up(replica: &Server) -> bool {
    wait_until(Duration::from_secs(20), || {
        info_field(replica, "replication", "master_link_status") == "up"
    })
}

/// The master keeps its replication user; replicas log in as it (`masteruser`/`masterauth`)
/// and reach the master on its TLS port with `tls-replication yes`.
fn replica_args(master_tls_port: u16) -> Vec<String> {
    [
        "--tls-replication",
        "yes",
        "--masteruser",
        "repl",
        "--masterauth",
        "replpass",
        "--replicaof",
        "127.0.0.1",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([master_tls_port.to_string()])
    .collect()
}

/// The replication user, as `--user` words.
const REPL_USER: [&str; 6] = ["repl", "on", ">replpass", "~*", "&*", "+@all"];

fn assert_same_data(master: &Server, replicas: &[&Server]) {
    let want = master.request(&["debug", "digest"]);
    for r in replicas {
        let ok = wait_until(Duration::from_secs(10), || {
            r.request(&["debug", "digest"]) == want
        });
        assert!(ok, "{:?} replica has not the master's data", r.kind());
    }
}

fn write_load(master: &Server, n: usize) {
    for i in 0..n {
        let (k, v) = (format!("key:{i}"), format!("value:{i}"));
        master.request(&["set", &k, &v]);
        master.request(&["rpush", "list", &k]);
    }
    master.request(&["debug", "populate", "20000", "pop", "64"]);
}

/// The integration test: a Tandem master with a Tandem replica and a redis-server
/// replica, both over TLS with masteruser/masterauth; then the other direction, a Tandem
/// replica of a redis-server master over TLS.
#[test]
fn replication_over_tls_with_redis_both_ways() {
    let certs = Certs::make();
    let debug = ["--enable-debug-command", "yes"];
    let master_tls = pick_free_port();
    let mut margs = vec!["--user"];
    margs.extend(REPL_USER);
    margs.extend(debug);
    let master = start(ServerKind::Tandem, &certs, master_tls, &margs);
    write_load(&master, 200);
    let rargs = replica_args(master_tls);
    let mut rargs: Vec<&str> = rargs.iter().map(String::as_str).collect();
    rargs.extend(debug);
    let tandem_replica = start(ServerKind::Tandem, &certs, pick_free_port(), &rargs);
    let redis_replica = start(ServerKind::Redis, &certs, pick_free_port(), &rargs);
    assert!(
        link_up(&tandem_replica),
        "tandem replica link: {}",
        tandem_replica.log_text()
    );
    assert!(
        link_up(&redis_replica),
        "redis replica link: {}",
        redis_replica.log_text()
    );
    write_load(&master, 100);
    assert_same_data(&master, &[&tandem_replica, &redis_replica]);
    // The replicas logged in as the replication user, over TLS.
    let clients = String::from_utf8_lossy(&master.request(&["client", "list", "type", "replica"]))
        .into_owned();
    assert_eq!(clients.matches("user=repl ").count(), 2, "{clients}");
    assert_eq!(info_field(&master, "replication", "connected_slaves"), "2");

    // Redis master, Tandem replica.
    let redis_master_tls = pick_free_port();
    let redis_master = start(ServerKind::Redis, &certs, redis_master_tls, &margs);
    write_load(&redis_master, 100);
    let rargs = replica_args(redis_master_tls);
    let mut rargs: Vec<&str> = rargs.iter().map(String::as_str).collect();
    rargs.extend(debug);
    rargs.extend(["--repl-diskless-load", "swapdb"]);
    let replica = start(ServerKind::Tandem, &certs, pick_free_port(), &rargs);
    assert!(
        link_up(&replica),
        "tandem replica of redis: {}",
        replica.log_text()
    );
    write_load(&redis_master, 50);
    assert_same_data(&redis_master, &[&replica]);
}

/// A replica whose master's certificate was not issued by its CA never syncs.
#[test]
fn replica_refuses_a_master_of_another_ca() {
    let certs = Certs::make();
    let other = Certs::make();
    let master_tls = pick_free_port();
    let mut margs = vec!["--user"];
    margs.extend(REPL_USER);
    let master = start(ServerKind::Tandem, &certs, master_tls, &margs);
    master.request(&["set", "secret", "1"]);
    let rargs = replica_args(master_tls);
    let rargs: Vec<&str> = rargs.iter().map(String::as_str).collect();
    let replica = start(ServerKind::Tandem, &other, pick_free_port(), &rargs);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        info_field(&replica, "replication", "master_link_status"),
        "down"
    );
    assert_eq!(replica.request(&["dbsize"]), b":0\r\n");
    let log = replica.log_text();
    assert!(log.contains("Error condition on socket for SYNC"), "{log}");
}

/// `openssl s_client` on `port` with the client certificate, quiet, plus `extra`.
fn s_client(certs: &Certs, port: u16, extra: &[&str]) -> Command {
    let mut c = Command::new("timeout");
    c.args(["10", "openssl", "s_client", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-CAfile", &certs.path("ca.crt")])
        .args(["-cert", &certs.path("client.crt")])
        .args(["-key", &certs.path("client.key")])
        .args(extra);
    c
}

/// Sends `input` (ending with QUIT, so the server closes; give `-nocommands -ign_eof`) and
/// returns s_client's stdout.
fn s_client_says(certs: &Certs, port: u16, extra: &[&str], input: &str) -> String {
    use std::io::Write;
    let mut child = s_client(certs, port, extra)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("openssl s_client runs");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child.wait_with_output().expect("s_client output");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn used_memory(server: &Server) -> i64 {
    server.info_i64("memory", "used_memory")
}

/// What a client sees of MIGRATE under `tls-cluster yes`, of `maxclients` on the TLS port,
/// of session resumption, and of the memory TLS clients leave behind.
fn tls_links(kind: ServerKind, certs: &Certs) -> Vec<String> {
    let (a_tls, b_tls) = (pick_free_port(), pick_free_port());
    let a = start(kind, certs, a_tls, &["--tls-cluster", "yes"]);
    let b = start(kind, certs, b_tls, &["--tls-cluster", "yes"]);
    let mut seen = Vec::new();
    let mut note = |what: &str, got: String| seen.push(format!("{what}: {got}"));
    let b_port = b_tls.to_string();
    note("set", cli(certs, a_tls, true, &["set", "k", "v"]));
    let migrate = |port: &str, key: &str| {
        cli(
            certs,
            a_tls,
            true,
            &["migrate", "127.0.0.1", port, key, "0", "5000"],
        )
    };
    note("migrate over tls", migrate(&b_port, "k"));
    note("migrated", cli(certs, b_tls, true, &["get", "k"]));
    note("set", cli(certs, a_tls, true, &["set", "k2", "v"]));
    note(
        "migrate to plain port",
        migrate(&b.port().to_string(), "k2"),
    );
    note(
        "migrate to closed port",
        migrate(&pick_free_port().to_string(), "k2"),
    );
    note("kept", cli(certs, a_tls, true, &["get", "k2"]));

    // Resumption, TLS 1.3 from a ticket, TLS 1.2 from a ticket or a session id.
    let sess = unique_temp_dir("tls-sess").join("sess");
    let sess = sess.display().to_string();
    for version in ["-tls1_3", "-tls1_2"] {
        for how in ["-sess_out", "-sess_in"] {
            let args = [version, how, &sess, "-nocommands", "-ign_eof"];
            let out = s_client_says(certs, a_tls, &args, "PING\r\nQUIT\r\n");
            let line = out
                .lines()
                .find(|l| l.starts_with("New,") || l.starts_with("Reused,"));
            note(
                &format!("{version} {how}"),
                format!("{line:?} {}", out.contains("+PONG")),
            );
        }
    }
    // TLS clients that came and went leave nothing behind (no session kept per client).
    let before = used_memory(&a);
    for _ in 0..50 {
        cli(certs, a_tls, true, &["ping"]);
    }
    let kept = used_memory(&a) - before;
    note(
        "50 tls clients leave under 100 kB",
        (kept < 100_000).to_string(),
    );

    // A client killed while its reply waits, unread: its output is freed at once.
    a.request(&[
        "config",
        "set",
        "client-output-buffer-limit",
        "normal 0 0 0",
    ]);
    a.request(&["setrange", "big", "20000000", "x"]);
    let before = used_memory(&a);
    let mut unread = s_client(certs, a_tls, &["-quiet", "-ign_eof"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("openssl s_client runs");
    {
        use std::io::Write;
        if let Some(stdin) = unread.stdin.as_mut() {
            let _ = stdin.write_all(b"GET big\r\n");
            let _ = stdin.flush();
        }
    }
    let pending = wait_until(Duration::from_secs(10), || {
        used_memory(&a) - before > 10_000_000
    });
    note("reply pending", pending.to_string());
    a.request(&["client", "kill", "type", "normal", "skipme", "yes"]);
    let freed = wait_until(Duration::from_secs(5), || {
        used_memory(&a) - before < 2_000_000
    });
    note("freed after kill", freed.to_string());
    let _ = unread.kill();
    let _ = unread.wait();

    // Over maxclients a TLS connection is closed before its handshake: no error to read.
    let mut holder = a.raw();
    holder.request_str(&["ping"]);
    a.request(&["config", "set", "maxclients", "1"]);
    // The connection that set it is gone once INFO counts the holder alone.
    let alone = wait_until(Duration::from_secs(5), || {
        holder
            .request_str(&["info", "clients"])
            .windows(20)
            .any(|w| w == b"connected_clients:1")
    });
    note("holder alone", alone.to_string());
    note("over maxclients", cli(certs, a_tls, true, &["ping"]));
    drop(holder);
    std::thread::sleep(Duration::from_millis(200));
    note("rejected", info_field(&a, "stats", "rejected_connections"));
    seen
}

#[test]
fn tls_links_behave_as_redis() {
    let certs = Certs::make();
    let tandem = tls_links(ServerKind::Tandem, &certs);
    let redis = tls_links(ServerKind::Redis, &certs);
    assert_eq!(tandem, redis);
    assert!(tandem.iter().any(|l| l == "migrated: v"), "{tandem:?}");
    assert!(
        tandem.iter().any(|l| l == "freed after kill: true"),
        "{tandem:?}"
    );
}

/// The Lua debugger over TLS (Tandem used to refuse SCRIPT DEBUG on TLS connections, and
/// unit/scripting over TLS stopped there). `redis-cli --tls --ldb-sync-mode` (SCRIPT DEBUG
/// SYNC) prints the same session on both. `--ldb` (YES, a session on a copy of the dataset)
/// is compared with redis-server's session over plain TCP: over TLS, redis-server 7.0.15's
/// forked session ends at once ("Lua debugging session child exiting", redis-cli: "Server
/// closed the connection"), as the parent's closing of the client ends the TLS session the
/// child inherited. Each leaves the dataset as Redis does, and the server serves on.
#[test]
fn lua_debugger_over_tls() {
    let certs = Certs::make();
    let script = certs.dir.join("script.lua");
    std::fs::write(
        &script,
        "local a = redis.call('incr', KEYS[1])\nredis.debug(a, ARGV[1])\nreturn a\n",
    )
    .expect("write script");
    let run = |port: u16, tls: bool, mode: &str| -> String {
        let mut args = if tls { certs.cli(true) } else { Vec::new() };
        args.extend([mode, "--eval"].map(String::from));
        args.push(script.display().to_string());
        args.extend(["counter", ",", "hello"].map(String::from));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let input = b"step\nprint\nlist\ncontinue\n";
        support::redis_cli_fed(port, &refs, Some(input)).0
    };
    // `yes_over_tls`: whether the YES session runs over TLS too.
    let session = |kind: ServerKind, yes_over_tls: bool| -> Vec<String> {
        let tls_port = pick_free_port();
        let server = start(kind, &certs, tls_port, &[]);
        let (yes_port, yes_tls) = if yes_over_tls {
            (tls_port, true)
        } else {
            (server.port(), false)
        };
        let seen = vec![
            run(yes_port, yes_tls, "--ldb"),
            cli(&certs, tls_port, true, &["get", "counter"]),
            run(tls_port, true, "--ldb-sync-mode"),
            cli(&certs, tls_port, true, &["get", "counter"]),
            cli(&certs, tls_port, true, &["ping"]),
        ];
        drop(server);
        seen
    };
    let expected = session(ServerKind::Redis, false);
    for (i, out) in [(0, "rolled back"), (2, "session ended")] {
        assert!(
            expected[i].contains("<debug> line 2: 1, \"hello\"") && expected[i].contains(out),
            "{expected:?}"
        );
    }
    assert_eq!(session(ServerKind::Tandem, true), expected);
}
