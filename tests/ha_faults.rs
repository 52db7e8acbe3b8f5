//! Randomized fault test of issue #13 part 3: no write that `WAIT n` acknowledged is lost
//! across master crashes (kill -9, with or without a quick restart), partitions and the
//! failovers Tandem's sentinels run.
//!
//! The topology (a master, two replicas, three Tandem sentinels, and the test as the client)
//! runs in network namespaces, one per process, every pair of namespaces joined by its own
//! veth pair with a /32 route each way: cutting the veth of a pair partitions exactly that pair
//! (connections in flight stall, new ones fail), so partitions are real network partitions.
//! The test's own namespace (the client) keeps links to everyone: clients reach the old master
//! of a split brain, the case where Sentinel alone loses acknowledged writes. Everything is
//! created with names unique to the run and deleted at the end (needs root, as `ip netns`).
//!
//! Each round picks a fault at random (kill -9 the master; kill it and restart it at once,
//! empty; isolate the master; cut the master and one replica from the rest; isolate a
//! replica; kill the master while a replica is isolated), runs a writer that records every
//! write a `WAIT 1` or `WAIT 2` acknowledged, heals (links back, dead nodes restarted),
//! waits for the topology to settle (the sentinels agree on a master, the other two data nodes
//! follow it with their link up, equal `DEBUG DIGEST`), and checks every acknowledged write of
//! every round so far on the current master.
//!
//! Bounded: `HA_FAULTS_ROUNDS` rounds (default 8), no round started after `HA_FAULTS_SECS`
//! seconds (default 150); `HA_FAULTS_SEED` replays a run, `HA_FAULTS_ONLY=<fault>` repeats
//! one kind of fault. `HA_FAULTS_PLAIN=1` runs the same
//! faults with Sentinel's plain settings (no `sentinel wait-replicas`, no
//! `replica-refuse-rollback`), that is Redis's behaviour: it reports the writes lost instead of
//! failing on them.

mod support;

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::{
    aggregate_elements, bulk_text, die_with_thread, encode_command, unique_temp_dir, RawConn,
};

const MASTER_NAME: &str = "mymaster";
/// Node names, by index: 0 is the test itself (the client).
const NAMES: [&str; 7] = ["client", "m", "r1", "r2", "s1", "s2", "s3"];
const CLIENT: usize = 0;
const DATA: [usize; 3] = [1, 2, 3];
const SENTINELS: [usize; 3] = [4, 5, 6];
const DATA_PORT: u16 = 26500;
const SENTINEL_PORT: u16 = 26510;
const DOWN_AFTER_MS: u64 = 1000;
const FAILOVER_TIMEOUT_MS: u64 = 4000;
/// How long a round may take to settle after the heal.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Timeout of one client request.
const IO_TIMEOUT: Duration = Duration::from_millis(1500);

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn plain_mode() -> bool {
    std::env::var("HA_FAULTS_PLAIN").is_ok_and(|v| v == "1")
}

/// Runs `ip args`, panicking with its stderr when it fails.
fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ip {args:?}: {e}"));
    assert!(
        out.status.success(),
        "ip {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The namespaces and veth mesh of one run.
struct Net {
    tag: String,
    octet: u8,
    cut: HashSet<(usize, usize)>,
}

impl Net {
    fn create() -> Net {
        let pid = std::process::id();
        let net = Net {
            tag: format!("hf{:05}", pid % 100_000),
            octet: (pid % 250) as u8 + 1,
            cut: HashSet::new(),
        };
        for i in 0..NAMES.len() {
            let ns = net.ns(i);
            ip(&["netns", "add", &ns]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{}/32", net.ip(i)),
                "dev",
                "lo",
            ]);
        }
        for a in 0..NAMES.len() {
            for b in a + 1..NAMES.len() {
                let (na, nb) = (net.ns(a), net.ns(b));
                let (va, vb) = (net.veth(a, b), net.veth(b, a));
                ip(&[
                    "link", "add", &va, "netns", &na, "type", "veth", "peer", "name", &vb, "netns",
                    &nb,
                ]);
                net.link_up(a, b);
            }
        }
        net
    }

    fn ns(&self, i: usize) -> String {
        format!("{}{}", self.tag, NAMES[i])
    }

    fn veth(&self, a: usize, b: usize) -> String {
        format!("{}v{a}{b}", self.tag)
    }

    fn ip(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 213, self.octet, i as u8 + 1)
    }

    /// Both ends of the pair's veth up, with the /32 route each way.
    fn link_up(&self, a: usize, b: usize) {
        for (x, y) in [(a, b), (b, a)] {
            let ns = self.ns(x);
            ip(&["-n", &ns, "link", "set", &self.veth(x, y), "up"]);
        }
        for (x, y) in [(a, b), (b, a)] {
            let ns = self.ns(x);
            ip(&[
                "-n",
                &ns,
                "route",
                "replace",
                &format!("{}/32", self.ip(y)),
                "dev",
                &self.veth(x, y),
                "src",
                &self.ip(x).to_string(),
            ]);
        }
    }

    /// Partitions `a` from `b` (both ends down).
    fn cut(&mut self, a: usize, b: usize) {
        let key = (a.min(b), a.max(b));
        if self.cut.insert(key) {
            for (x, y) in [(a, b), (b, a)] {
                let ns = self.ns(x);
                ip(&["-n", &ns, "link", "set", &self.veth(x, y), "down"]);
            }
        }
    }

    fn heal(&mut self) {
        for (a, b) in std::mem::take(&mut self.cut) {
            self.link_up(a, b);
        }
    }

    /// Moves the calling thread (and the threads it creates later) into namespace `i`.
    fn enter(&self, i: usize) {
        let path = format!("/run/netns/{}", self.ns(i));
        let f = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
        // SAFETY: setns(2) on a valid namespace fd; it only changes this thread's namespace.
        let rc = unsafe { nix::libc::setns(f.as_raw_fd(), nix::libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", io::Error::last_os_error());
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for i in 0..NAMES.len() {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.ns(i)])
                .status();
        }
    }
}

/// A tandem-server process (data node or sentinel) in its namespace.
struct Node {
    idx: usize,
    ns: String,
    addr: SocketAddr,
    dir: PathBuf,
    sentinel: bool,
    child: Option<Child>,
}

impl Node {
    fn new(net: &Net, idx: usize, port: u16, conf: &str, sentinel: bool) -> Node {
        let dir = unique_temp_dir(&format!("ha-{}", NAMES[idx]));
        let ip = net.ip(idx);
        let text = format!("port {port}\nbind {ip}\ndir {}\n{conf}", dir.display());
        fs::write(dir.join("node.conf"), text).expect("write node.conf");
        let mut node = Node {
            idx,
            ns: net.ns(idx),
            addr: SocketAddr::V4(SocketAddrV4::new(ip, port)),
            dir,
            sentinel,
            child: None,
        };
        node.start();
        node
    }

    fn name(&self) -> &'static str {
        NAMES[self.idx]
    }

    fn start(&mut self) {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("node.log"))
            .expect("open node.log");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns])
            .arg(env!("CARGO_BIN_EXE_tandem-server"))
            .arg(self.dir.join("node.conf"));
        if self.sentinel {
            cmd.arg("--sentinel");
        }
        die_with_thread(&mut cmd);
        let child = cmd
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("clone log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn tandem-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while request(self.addr, &["PING"]).is_err() {
            assert!(
                Instant::now() < deadline,
                "{} did not start: {}",
                self.name(),
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn running(&self) -> bool {
        self.child.is_some()
    }

    fn log_tail(&self) -> String {
        let text = fs::read_to_string(self.dir.join("node.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
        if !std::env::var("TANDEM_KEEP_TEST_DIRS").is_ok_and(|v| v == "1") {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// One request on a fresh connection.
fn request(addr: SocketAddr, args: &[&str]) -> io::Result<Vec<u8>> {
    let mut c = RawConn::try_connect_timeout(addr, IO_TIMEOUT)?;
    c.set_timeout(IO_TIMEOUT);
    let argv: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    c.try_send_raw(&encode_command(&argv))?;
    c.try_read_reply()
}

fn info(addr: SocketAddr) -> Option<Vec<(String, String)>> {
    let reply = request(addr, &["INFO", "replication"]).ok()?;
    let text = bulk_text(&reply)?;
    Some(
        text.lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            .collect(),
    )
}

fn get<'a>(info: &'a [(String, String)], key: &str) -> Option<&'a str> {
    info.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The master address a sentinel names.
fn master_by(sentinel: SocketAddr) -> Option<SocketAddr> {
    let reply = request(
        sentinel,
        &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME],
    )
    .ok()?;
    let e = aggregate_elements(&reply)?;
    let host: Ipv4Addr = bulk_text(e.first()?)?.parse().ok()?;
    let port: u16 = bulk_text(e.get(1)?)?.parse().ok()?;
    Some(SocketAddr::V4(SocketAddrV4::new(host, port)))
}

/// A write and the `WAIT n` that acknowledged it.
#[derive(Clone, Debug)]
struct Acked {
    key: String,
    value: String,
    n: u32,
}

#[derive(Default)]
struct WriterReport {
    acked: Vec<Acked>,
    attempted: u64,
}

/// Writes batches of SETs to whichever node the sentinels name, each batch followed by
/// `WAIT n` (n alternating 1 and 2); records the SETs of batches WAIT acknowledged.
fn writer(round: usize, sentinels: Vec<SocketAddr>, stop: Arc<AtomicBool>) -> WriterReport {
    let mut report = WriterReport::default();
    let mut conn: Option<(SocketAddr, RawConn)> = None;
    let mut seq = 0u64;
    let mut batch_no = 0u64;
    while !stop.load(Ordering::Acquire) {
        let Some(master) = sentinels.iter().find_map(|&s| master_by(s)) else {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        };
        if conn.as_ref().is_none_or(|(a, _)| *a != master) {
            conn = RawConn::try_connect_timeout(master, IO_TIMEOUT)
                .ok()
                .map(|mut c| {
                    c.set_timeout(IO_TIMEOUT);
                    (master, c)
                });
        }
        let Some((_, c)) = conn.as_mut() else {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        };
        batch_no += 1;
        let n: u32 = if batch_no % 2 == 0 { 2 } else { 1 };
        let mut out = Vec::new();
        let mut batch = Vec::new();
        for _ in 0..8 {
            seq += 1;
            let key = format!("r{round}:k{seq}");
            let value = format!("v{seq}-{round}");
            out.extend(encode_command(&[b"SET", key.as_bytes(), value.as_bytes()]));
            batch.push((key, value));
        }
        out.extend(encode_command(&[b"WAIT", n.to_string().as_bytes(), b"300"]));
        report.attempted += batch.len() as u64;
        let result = (|| -> io::Result<Option<Vec<Acked>>> {
            c.try_send_raw(&out)?;
            let mut ok = Vec::new();
            for (key, value) in batch {
                if c.try_read_reply()? == b"+OK\r\n" {
                    ok.push(Acked { key, value, n });
                }
            }
            let wait = c.try_read_reply()?;
            let acks: i64 = std::str::from_utf8(&wait)
                .ok()
                .and_then(|t| t.strip_prefix(':'))
                .and_then(|t| t.trim_end().parse().ok())
                .unwrap_or(-1);
            Ok((acks >= i64::from(n)).then_some(ok))
        })();
        match result {
            Ok(Some(ok)) => report.acked.extend(ok),
            Ok(None) => {}
            Err(_) => {
                conn = None;
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    report
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    KillMaster,
    KillRestartMaster,
    IsolateMaster,
    MasterWithReplica(usize),
    IsolateReplica(usize),
    KillMasterReplicaIsolated(usize),
}

struct Topology {
    net: Net,
    data: Vec<Node>,
    sentinels: Vec<Node>,
}

impl Topology {
    fn node(&mut self, idx: usize) -> &mut Node {
        self.data
            .iter_mut()
            .chain(self.sentinels.iter_mut())
            .find(|n| n.idx == idx)
            .expect("node")
    }

    fn data_at(&self, addr: SocketAddr) -> Option<usize> {
        self.data.iter().find(|n| n.addr == addr).map(|n| n.idx)
    }

    fn sentinel_addrs(&self) -> Vec<SocketAddr> {
        self.sentinels.iter().map(|s| s.addr).collect()
    }

    /// The data node all three sentinels name, if they agree.
    fn agreed_master(&self) -> Option<usize> {
        let seen: Vec<Option<SocketAddr>> =
            self.sentinels.iter().map(|s| master_by(s.addr)).collect();
        let first = seen.first().copied().flatten()?;
        seen.iter()
            .all(|s| *s == Some(first))
            .then(|| self.data_at(first))
            .flatten()
    }

    /// Cuts every link between `group` and the other nodes but the client.
    fn isolate(&mut self, group: &[usize]) {
        for &a in group {
            for b in 1..NAMES.len() {
                if !group.contains(&b) {
                    self.net.cut(a, b);
                }
            }
        }
    }

    /// Settled: the sentinels agree on a master that says it is one, the two other data
    /// nodes follow it with their link up, and all three have the same dataset.
    fn settled(&self) -> Result<usize, String> {
        let m = self
            .agreed_master()
            .ok_or("the sentinels do not agree on a master")?;
        let maddr = self.data.iter().find(|n| n.idx == m).expect("master").addr;
        let minfo = info(maddr).ok_or("the master does not answer")?;
        if get(&minfo, "role") != Some("master") {
            return Err(format!("{} is named master but is not one", NAMES[m]));
        }
        for n in self.data.iter().filter(|n| n.idx != m) {
            let i = info(n.addr).ok_or(format!("{} does not answer", n.name()))?;
            let follows = get(&i, "role") == Some("slave")
                && get(&i, "master_host") == Some(&maddr.ip().to_string())
                && get(&i, "master_port") == Some(&maddr.port().to_string())
                && get(&i, "master_link_status") == Some("up");
            if !follows {
                return Err(format!(
                    "{} does not follow {} with its link up: {:?}",
                    n.name(),
                    NAMES[m],
                    i.iter()
                        .filter(|(k, _)| k.starts_with("master") || k == "role")
                        .collect::<Vec<_>>()
                ));
            }
        }
        let digests: Vec<Option<String>> = self
            .data
            .iter()
            .map(|n| {
                request(n.addr, &["DEBUG", "DIGEST"])
                    .ok()
                    .map(|r| String::from_utf8_lossy(&r).into_owned())
            })
            .collect();
        if digests.iter().any(|d| d.is_none() || *d != digests[0]) {
            return Err(format!("datasets differ: {digests:?}"));
        }
        Ok(m)
    }
}

/// The acknowledged writes not on `addr` with their value.
fn missing(addr: SocketAddr, writes: &[Acked]) -> Result<Vec<Acked>, String> {
    let mut c = RawConn::try_connect_timeout(addr, IO_TIMEOUT).map_err(|e| e.to_string())?;
    c.set_timeout(Duration::from_secs(10));
    let mut lost = Vec::new();
    for chunk in writes.chunks(500) {
        let mut out = Vec::new();
        for w in chunk {
            out.extend(encode_command(&[b"GET", w.key.as_bytes()]));
        }
        c.try_send_raw(&out).map_err(|e| e.to_string())?;
        for w in chunk {
            let reply = c.try_read_reply().map_err(|e| e.to_string())?;
            if bulk_text(&reply).as_deref() != Some(w.value.as_str()) {
                lost.push(w.clone());
            }
        }
    }
    Ok(lost)
}

fn data_conf(master: Option<SocketAddr>, ha: bool) -> String {
    let mut conf = String::from(
        "protected-mode no\nsave \"\"\nappendonly no\nenable-debug-command yes\nrepl-diskless-sync-delay 0\n\
         repl-timeout 3\nrepl-ping-replica-period 1\n",
    );
    if ha {
        conf.push_str("replica-refuse-rollback yes\n");
    }
    if let Some(m) = master {
        conf.push_str(&format!("replicaof {} {}\n", m.ip(), m.port()));
    }
    conf
}

fn sentinel_conf(master: SocketAddr, ha: bool) -> String {
    let mut conf = format!(
        "sentinel monitor {MASTER_NAME} {} {} 2\n\
         sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n\
         sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}\n",
        master.ip(),
        master.port()
    );
    if ha {
        conf.push_str(&format!("sentinel wait-replicas {MASTER_NAME} 1\n"));
    }
    conf
}

fn build(ha: bool) -> Topology {
    let net = Net::create();
    net.enter(CLIENT);
    let maddr = SocketAddr::V4(SocketAddrV4::new(net.ip(1), DATA_PORT));
    let mut data = vec![Node::new(&net, 1, DATA_PORT, &data_conf(None, ha), false)];
    for i in [2, 3] {
        data.push(Node::new(
            &net,
            i,
            DATA_PORT,
            &data_conf(Some(maddr), ha),
            false,
        ));
    }
    let sentinels = SENTINELS
        .iter()
        .map(|&i| Node::new(&net, i, SENTINEL_PORT, &sentinel_conf(maddr, ha), true))
        .collect::<Vec<_>>();
    for s in &sentinels {
        // INFO every second and faster hellos: reconfigurations wait for both.
        request(
            s.addr,
            &[
                "SENTINEL",
                "DEBUG",
                "info-period",
                "1000",
                "publish-period",
                "500",
                "tilt-period",
                "5000",
            ],
        )
        .expect("SENTINEL DEBUG");
    }
    let topo = Topology {
        net,
        data,
        sentinels,
    };
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let known = topo.sentinels.iter().all(|s| {
            request(s.addr, &["SENTINEL", "MASTER", MASTER_NAME])
                .ok()
                .and_then(|r| aggregate_elements(&r))
                .is_some_and(|e| {
                    let t: Vec<String> = e.iter().filter_map(|x| bulk_text(x)).collect();
                    t.windows(2).any(|w| w[0] == "num-slaves" && w[1] == "2")
                        && t.windows(2)
                            .any(|w| w[0] == "num-other-sentinels" && w[1] == "2")
                })
        });
        if known && topo.settled().is_ok() {
            return topo;
        }
        assert!(
            Instant::now() < deadline,
            "the topology did not come up: {:?}",
            topo.settled()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A fault at random, or of the kind `HA_FAULTS_ONLY` names (e.g. `KillRestartMaster`).
fn pick_fault(rng: &mut StdRng) -> Fault {
    let replica = rng.random_range(0..2);
    let kind = rng.random_range(0..6);
    let only = std::env::var("HA_FAULTS_ONLY").unwrap_or_default();
    let kind = [
        "KillMaster",
        "KillRestartMaster",
        "IsolateMaster",
        "MasterWithReplica",
        "IsolateReplica",
        "KillMasterReplicaIsolated",
    ]
    .iter()
    .position(|k| *k == only)
    .unwrap_or(kind);
    match kind {
        0 => Fault::KillMaster,
        1 => Fault::KillRestartMaster,
        2 => Fault::IsolateMaster,
        3 => Fault::MasterWithReplica(replica),
        4 => Fault::IsolateReplica(replica),
        _ => Fault::KillMasterReplicaIsolated(replica),
    }
}

#[test]
fn acknowledged_writes_survive_faults() {
    let plain = plain_mode();
    let seed = env_u64(
        "HA_FAULTS_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(1),
    );
    let rounds = env_u64("HA_FAULTS_ROUNDS", 8) as usize;
    let budget = Duration::from_secs(env_u64("HA_FAULTS_SECS", 150));
    let mode = if plain { "plain Sentinel" } else { "Tandem HA" };
    println!("ha_faults: seed {seed}, up to {rounds} rounds in {budget:?}, {mode} settings");
    // Namespaces are per thread: the run happens on a thread of its own.
    let result = std::thread::spawn(move || run(seed, rounds, budget, plain)).join();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

fn run(seed: u64, rounds: usize, budget: Duration, plain: bool) {
    let start = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut topo = build(!plain);
    let mut acked: Vec<Acked> = Vec::new();
    let mut lost_total: Vec<Acked> = Vec::new();
    let mut checked_total = 0usize;
    // The master the last settle found (asking the sentinels again can time out on a loaded
    // machine, where one of them is slow to answer).
    let mut master = topo.agreed_master().expect("settled master");
    for round in 1..=rounds {
        if start.elapsed() > budget {
            println!("ha_faults: time budget spent after {} rounds", round - 1);
            break;
        }
        let replicas: Vec<usize> = DATA.iter().copied().filter(|&d| d != master).collect();
        let fault = pick_fault(&mut rng);
        let hold = Duration::from_millis(rng.random_range(2500..6000));
        let stop = Arc::new(AtomicBool::new(false));
        let w: JoinHandle<WriterReport> = {
            let (s, addrs) = (stop.clone(), topo.sentinel_addrs());
            std::thread::spawn(move || writer(round, addrs, s))
        };
        std::thread::sleep(Duration::from_millis(700));
        match fault {
            Fault::KillMaster => topo.node(master).kill(),
            Fault::KillRestartMaster => {
                topo.node(master).kill();
                std::thread::sleep(Duration::from_millis(rng.random_range(0..300)));
                topo.node(master).start();
            }
            Fault::IsolateMaster => topo.isolate(&[master]),
            Fault::MasterWithReplica(r) => topo.isolate(&[master, replicas[r]]),
            Fault::IsolateReplica(r) => topo.isolate(&[replicas[r]]),
            Fault::KillMasterReplicaIsolated(r) => {
                topo.isolate(&[replicas[r]]);
                std::thread::sleep(Duration::from_millis(300));
                topo.node(master).kill();
            }
        }
        std::thread::sleep(hold);
        topo.net.heal();
        for i in DATA {
            if !topo.node(i).running() {
                topo.node(i).start();
            }
        }
        std::thread::sleep(Duration::from_millis(1000));
        stop.store(true, Ordering::Release);
        let report = w.join().expect("writer");
        let n1 = report.acked.iter().filter(|a| a.n == 1).count();
        let n2 = report.acked.len() - n1;
        acked.extend(report.acked);
        let settle_start = Instant::now();
        let mut last = String::new();
        let settled = loop {
            match topo.settled() {
                Ok(m) => break Some(m),
                Err(e) => last = e,
            }
            if settle_start.elapsed() > SETTLE_TIMEOUT {
                break None;
            }
            std::thread::sleep(Duration::from_millis(250));
        };
        let Some(now_master) = settled else {
            let logs: Vec<String> = topo
                .data
                .iter()
                .chain(topo.sentinels.iter())
                .map(|n| format!("--- {} ---\n{}", n.name(), n.log_tail()))
                .collect();
            panic!(
                "round {round} ({fault:?}): did not settle within {SETTLE_TIMEOUT:?}: {last}\n{}",
                logs.join("\n")
            );
        };
        let maddr = topo
            .data
            .iter()
            .find(|n| n.idx == now_master)
            .expect("master")
            .addr;
        let lost = missing(maddr, &acked)
            .unwrap_or_else(|e| panic!("round {round}: reading the master failed: {e}"));
        checked_total += acked.len();
        println!(
            "ha_faults: round {round}: {fault:?} held {hold:?}; master {} -> {}; {} writes tried, \
             acknowledged {n1} by WAIT 1 and {n2} by WAIT 2; settled in {:?}; {} acknowledged \
             writes checked, {} lost",
            NAMES[master],
            NAMES[now_master],
            report.attempted,
            settle_start.elapsed(),
            acked.len(),
            lost.len()
        );
        if !lost.is_empty() {
            let lost_keys: HashSet<&str> = lost.iter().map(|a| a.key.as_str()).collect();
            acked.retain(|a| !lost_keys.contains(a.key.as_str()));
            println!(
                "ha_faults: round {round}: lost (first 5): {:?}",
                &lost[..lost.len().min(5)]
            );
            lost_total.extend(lost);
        }
        master = now_master;
    }
    let l1 = lost_total.iter().filter(|a| a.n == 1).count();
    println!(
        "ha_faults: done in {:?}: {checked_total} acknowledged-write checks, {} writes \
         acknowledged in all, {} lost ({l1} acknowledged by WAIT 1, {} by WAIT 2)",
        start.elapsed(),
        acked.len() + lost_total.len(),
        lost_total.len(),
        lost_total.len() - l1
    );
    if !plain {
        assert!(
            lost_total.is_empty(),
            "{} acknowledged writes lost",
            lost_total.len()
        );
    }
}
