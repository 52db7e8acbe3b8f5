//! The README's main job: examples/master-slave/run.sh starts a master and two replicas as
//! daemons; both replicas report `master_link_status:up`, and after a write load every node
//! has the same DEBUG DIGEST. stop.sh stops them by pidfile.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .arg("-p")
        .arg(port.to_string())
        .args(args)
        .output()
        .expect("redis-cli runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

struct Stop(PathBuf, PathBuf);

impl Drop for Stop {
    fn drop(&mut self) {
        let _ = Command::new(&self.0).arg(&self.1).status();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

#[test]
fn readme_topology_comes_up_and_converges() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin_dir = PathBuf::from(env!("CARGO_BIN_EXE_tandem-server"))
        .parent()
        .expect("bin dir")
        .to_path_buf();
    let run_dir = std::env::temp_dir().join(format!("tandem-example-{}", std::process::id()));
    let base = support::free_port_run(3);
    let _stop = Stop(root.join("examples/master-slave/stop.sh"), run_dir.clone());
    let out = Command::new(root.join("examples/master-slave/run.sh"))
        .arg(&run_dir)
        .env("TANDEM_PORT_BASE", base.to_string())
        .env("TANDEM_BIN_DIR", &bin_dir)
        .output()
        .expect("run.sh runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "run.sh failed: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.matches("master_link_status:up").count(), 2, "{text}");
    for p in [base, base + 1, base + 2] {
        assert!(run_dir.join(format!("{p}.pid")).exists(), "pidfile of {p}");
        assert!(run_dir.join(format!("{p}.log")).exists(), "logfile of {p}");
    }
    // A write load, then equal digests on the three nodes.
    for i in 0..500 {
        cli(base, &["SET", &format!("k{i}"), &format!("v{i}")]);
    }
    cli(base, &["RPUSH", "list", "a", "b", "c"]);
    let offset = |port: u16, field: &str| -> String {
        cli(port, &["INFO", "replication"])
            .lines()
            .find_map(|l| l.strip_prefix(field).map(str::to_string))
            .unwrap_or_default()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let m = offset(base, "master_repl_offset:");
        if [base + 1, base + 2]
            .iter()
            .all(|&p| offset(p, "slave_repl_offset:") == m)
        {
            break;
        }
        assert!(Instant::now() < deadline, "replicas did not catch up");
        std::thread::sleep(Duration::from_millis(50));
    }
    let digest = cli(base, &["DEBUG", "DIGEST"]);
    assert_eq!(digest.len(), 40, "DEBUG DIGEST on the master: {digest}");
    for p in [base + 1, base + 2] {
        assert_eq!(
            cli(p, &["DEBUG", "DIGEST"]),
            digest,
            "digest of the replica on port {p}"
        );
        assert_eq!(cli(p, &["LRANGE", "list", "0", "-1"]), "a\nb\nc");
    }
}
