//! Debian's stock /etc/redis/redis.conf loads through `include`, as a user's 6379.conf does,
//! with no fatal error and no warning for directives left at their defaults.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn stock_redis_conf_loads_via_include() {
    let stock = std::path::Path::new("/etc/redis/redis.conf");
    assert!(
        stock.exists(),
        "Debian's redis-server package provides /etc/redis/redis.conf (.ci/run installs it)"
    );
    let dir = std::env::temp_dir().join(format!("tandem-debian-conf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let conf = dir.join("node.conf");
    // The stock file daemonizes, logs to /var/log/redis and binds 127.0.0.1 -::1: override what
    // a test must not do, as a user's per-node file overrides it.
    std::fs::write(
        &conf,
        format!(
            "include {}\nport {port}\ndaemonize no\nlogfile \"\"\npidfile \"\"\ndir {}\n",
            stock.display(),
            dir.display()
        ),
    )
    .expect("write config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tandem-server"))
        .arg(&conf)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tandem-server starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut pong = false;
    while Instant::now() < deadline && !pong {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = s.write_all(b"PING\r\n");
            let mut buf = [0u8; 16];
            pong = s
                .read(&mut buf)
                .map(|n| &buf[..n] == b"+PONG\r\n")
                .unwrap_or(false);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("output");
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(pong, "no PONG; log:\n{log}");
    assert!(!log.contains("FATAL"), "{log}");
    assert!(
        !log.contains("not implemented yet"),
        "a stock directive at its default was reported: {log}"
    );
}
