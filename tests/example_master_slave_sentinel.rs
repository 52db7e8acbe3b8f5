//! examples/master-slave-sentinel through the real binaries. run.sh starts the three nodes and
//! three Tandem sentinels and checks them (each sentinel found both replicas and the two other
//! sentinels, CKQUORUM); `tandem-cli --topology`, given a sentinel or a data node, shows the
//! three sentinels, the master and both replicas. failover.sh kills the master with SIGKILL
//! and checks that a replica is promoted, the other one follows it, the restarted old master
//! becomes a replica and every WAIT-acknowledged key is on the new master; `--topology` then
//! shows the new master with both replicas.
//!
//! Ports: three free consecutive ones for the nodes and three for the sentinels
//! (TANDEM_PORT_BASE, TANDEM_SENTINEL_PORT_BASE). Each script is killed after a deadline;
//! stop.sh stops the daemons by pidfile when the test ends, passed or failed.

mod support;

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::unique_temp_dir;

/// The bin directory Cargo built the binaries in.
fn bin_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tandem-server"))
        .parent()
        .expect("bin dir")
        .to_path_buf()
}

fn example(script: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples/master-slave-sentinel")
        .join(script)
}

/// The example's ports and directories; stops everything it started on drop.
struct Example {
    run_dir: PathBuf,
    out_dir: PathBuf,
    base: u16,
    sbase: u16,
}

impl Example {
    fn new() -> Example {
        let base = support::free_port_run(3);
        let mut sbase = support::free_port_run(3);
        while sbase.abs_diff(base) < 3 {
            sbase = support::free_port_run(3);
        }
        let out_dir = unique_temp_dir("example-sentinel");
        Example {
            run_dir: out_dir.join("run"),
            out_dir,
            base,
            sbase,
        }
    }

    /// Runs one of the example's scripts on the run dir; its exit status (false when it had to
    /// be killed at the deadline) and its output (stdout, then stderr).
    fn script(&self, name: &str, limit: Duration) -> (bool, String) {
        let out_path = self.out_dir.join(format!("{name}.out"));
        let err_path = self.out_dir.join(format!("{name}.err"));
        let file = |p: &Path| File::create(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let mut child = Command::new(example(name))
            .arg(&self.run_dir)
            .env("TANDEM_PORT_BASE", self.base.to_string())
            .env("TANDEM_SENTINEL_PORT_BASE", self.sbase.to_string())
            .env("TANDEM_BIN_DIR", bin_dir())
            .stdin(Stdio::null())
            .stdout(file(&out_path))
            .stderr(file(&err_path))
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let deadline = Instant::now() + limit;
        let ok = loop {
            if let Ok(Some(status)) = child.try_wait() {
                break status.success();
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                break false;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let read = |p: &Path| fs::read_to_string(p).unwrap_or_default();
        (
            ok,
            format!("{}\n--- stderr:\n{}", read(&out_path), read(&err_path)),
        )
    }

    fn topology(&self, port: u16) -> String {
        let out = Command::new(bin_dir().join("tandem-cli"))
            .args(["-p", &port.to_string(), "--topology"])
            .output()
            .expect("tandem-cli runs");
        assert!(
            out.status.success(),
            "tandem-cli -p {port} --topology: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = Command::new(example("stop.sh"))
            .arg(&self.run_dir)
            .stdout(Stdio::null())
            .status();
        if !std::env::var("TANDEM_KEEP_TEST_DIRS").is_ok_and(|v| v == "1") {
            let _ = fs::remove_dir_all(&self.out_dir);
        }
    }
}

/// Checks a `--topology` text: the block of three sentinels, all naming `master` and seeing
/// no failover, then the tree: `master` with the two other nodes as replicas, link up.
fn assert_topology(text: &str, ex: &Example, master: u16) {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 7, "{text}");
    assert_eq!(lines[0], "mymaster: 3 sentinels", "{text}");
    for (i, line) in lines[1..4].iter().enumerate() {
        let prefix = format!(
            "  127.0.0.1:{} master=127.0.0.1:{master} flags=master failover=none config-epoch=",
            ex.sbase + i as u16
        );
        assert!(line.starts_with(&prefix), "{prefix}\n{text}");
        assert!(
            line.ends_with(" quorum=2 replicas=2 other-sentinels=2"),
            "{text}"
        );
    }
    assert!(
        lines[4].starts_with(&format!("127.0.0.1:{master} master offset="))
            && lines[4].ends_with(" replicas=2"),
        "{text}"
    );
    let mut replicas: Vec<u16> = lines[5..]
        .iter()
        .map(|l| {
            assert!(l.contains(" replica link=up state=online "), "{l}\n{text}");
            let addr = l.split_whitespace().nth(1).unwrap_or_default();
            addr.rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or(0)
        })
        .collect();
    replicas.sort_unstable();
    let mut expected: Vec<u16> = (ex.base..ex.base + 3).filter(|&p| p != master).collect();
    expected.sort_unstable();
    assert_eq!(replicas, expected, "{text}");
}

#[test]
fn sentinel_example_starts_fails_over_and_shows_its_topology() {
    let ex = Example::new();
    let (ok, out) = ex.script("run.sh", Duration::from_secs(120));
    assert!(ok, "run.sh failed:\n{out}");
    for i in 0..3 {
        assert!(
            out.contains(&format!("=== sentinel 127.0.0.1:{}", ex.sbase + i)),
            "{out}"
        );
    }
    assert_eq!(
        out.matches("OK 3 usable Sentinels. Quorum and failover authorization can be reached")
            .count(),
        3,
        "{out}"
    );
    // Seen from a sentinel and from a replica (found through its hello messages).
    assert_topology(&ex.topology(ex.sbase + 1), &ex, ex.base);
    assert_topology(&ex.topology(ex.base + 2), &ex, ex.base);

    let (ok, out) = ex.script("failover.sh", Duration::from_secs(180));
    assert!(ok, "failover.sh failed:\n{out}");
    let promoted = out
        .lines()
        .find_map(|l| l.strip_prefix("=== the sentinels promoted 127.0.0.1:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("no promotion in:\n{out}"));
    assert!(promoted == ex.base + 1 || promoted == ex.base + 2, "{out}");
    assert!(
        out.contains("=== acknowledged keys on the new master: 1000 of 1000"),
        "{out}"
    );
    // The sentinels' view settles once the old master is a replica (its INFO is read every
    // 10 s): wait for all three to see the new master with both replicas.
    let mut text = String::new();
    let settled = support::wait_until(Duration::from_secs(30), || {
        text = ex.topology(ex.base);
        text.lines().count() == 7
            && text
                .matches(&format!(
                    "master=127.0.0.1:{promoted} flags=master failover=none"
                ))
                .count()
                == 3
            && text.matches("state=online").count() == 2
    });
    assert!(settled, "{text}");
    assert_topology(&text, &ex, promoted);
}
