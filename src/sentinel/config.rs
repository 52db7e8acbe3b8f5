//! The `sentinel ...` config lines: applied at startup in Redis's order (pre-monitor
//! settings, then `monitor`, then the rest: redis `loadSentinelConfigFromQueue`), and written
//! back with the state (redis `rewriteConfigSentinelOption`) on every flush.

use indexmap::IndexMap;

use super::monitor::{atoi, strtoull};
use super::state::*;
use crate::config::{Config, ConfigError, SentinelLine, SentinelRewrite};

const PRE_MONITOR: &[&str] = &[
    "announce-ip",
    "announce-port",
    "deny-scripts-reconfig",
    "resolve-hostnames",
    "announce-hostnames",
];

fn create_error(e: Result<(), &'static str>) -> Result<(), String> {
    e.map_err(str::to_string)
}

/// redis `sentinelCheckCreateInstanceErrors`.
pub fn addr_error(e: AddrError) -> &'static str {
    match e {
        AddrError::Port => "Invalid port number.",
        AddrError::Resolve => "Can't resolve instance hostname.",
    }
}

/// Creates a master (SENTINEL MONITOR and `sentinel monitor`).
pub fn add_master(
    st: &mut State,
    name: &str,
    host: &str,
    port: i64,
    quorum: i64,
) -> Result<(), &'static str> {
    let g = &mut st.g;
    let addr = Addr::new(host, port, g.resolve_hostnames, true).map_err(addr_error)?;
    if st.masters.contains_key(name) {
        return Err("Duplicate master name.");
    }
    let uid = g.uid();
    let inst = Instance::new(
        uid,
        SRI_MASTER,
        name.to_string(),
        addr,
        g.timing.default_down_after,
    );
    let m = Master::new(inst, quorum, g.timing.default_failover_timeout);
    st.masters.insert(name.to_string(), m);
    Ok(())
}

/// Applies the queued lines to the state; the error is Redis's fatal config error.
pub fn load(cfg: &Config, st: &mut State) -> Result<(), ConfigError> {
    st.g.requirepass = cfg.requirepass.clone();
    st.g.port = cfg.port;
    let lines = &cfg.sentinel_lines;
    let first = |l: &SentinelLine| {
        l.argv
            .first()
            .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
            .unwrap_or_default()
    };
    let pre = lines
        .iter()
        .filter(|l| PRE_MONITOR.contains(&first(l).as_str()));
    let mon = lines.iter().filter(|l| first(l) == "monitor");
    let post = lines
        .iter()
        .filter(|l| first(l) != "monitor" && !PRE_MONITOR.contains(&first(l).as_str()));
    for l in pre.chain(mon).chain(post) {
        let argv: Vec<String> = l
            .argv
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if let Err(reason) = apply(st, &argv) {
            return Err(ConfigError::Fatal {
                line: Some(l.linenum),
                text: Some(l.line.clone()),
                reason,
            });
        }
    }
    Ok(())
}

fn yesno(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

fn executable(path: &str) -> bool {
    nix::unistd::access(path, nix::unistd::AccessFlags::X_OK).is_ok()
}

/// redis `sentinelHandleConfiguration`.
fn apply(st: &mut State, argv: &[String]) -> Result<(), String> {
    let argc = argv.len();
    let sub = argv[0].to_ascii_lowercase();
    let master = |st: &mut State| -> Result<String, String> {
        if st.masters.contains_key(&argv[1]) {
            Ok(argv[1].clone())
        } else {
            Err("No such master with specified name.".into())
        }
    };
    match (sub.as_str(), argc) {
        ("monitor", 5) => {
            let quorum = atoi(&argv[4]);
            if quorum <= 0 {
                return Err("Quorum must be 1 or greater.".into());
            }
            create_error(add_master(st, &argv[1], &argv[2], atoi(&argv[3]), quorum))?;
        }
        ("down-after-milliseconds", 3) => {
            let n = master(st)?;
            let m = st.masters.get_mut(&n).expect("checked");
            m.inst.down_after_period = atoi(&argv[2]) as i32 as i64;
            if m.inst.down_after_period <= 0 {
                return Err("negative or zero time parameter.".into());
            }
            propagate_down_after(m);
        }
        ("failover-timeout", 3) => {
            let n = master(st)?;
            let m = st.masters.get_mut(&n).expect("checked");
            m.failover_timeout = atoi(&argv[2]) as i32 as i64;
            if m.failover_timeout <= 0 {
                return Err("negative or zero time parameter.".into());
            }
        }
        ("parallel-syncs", 3) => {
            let n = master(st)?;
            st.masters.get_mut(&n).expect("checked").parallel_syncs = atoi(&argv[2]) as i32 as i64;
        }
        ("wait-replicas", 3) => {
            let n = master(st)?;
            let v = atoi(&argv[2]);
            if v < 0 {
                return Err("negative wait-replicas.".into());
            }
            st.masters.get_mut(&n).expect("checked").wait_replicas = v;
        }
        ("notification-script", 3) => {
            let n = master(st)?;
            if !executable(&argv[2]) {
                return Err("Notification script seems non existing or non executable.".into());
            }
            st.masters.get_mut(&n).expect("checked").notification_script = Some(argv[2].clone());
        }
        ("client-reconfig-script", 3) => {
            let n = master(st)?;
            if !executable(&argv[2]) {
                return Err(
                    "Client reconfiguration script seems non existing or non executable.".into(),
                );
            }
            st.masters
                .get_mut(&n)
                .expect("checked")
                .client_reconfig_script = Some(argv[2].clone());
        }
        ("auth-pass", 3) => {
            let n = master(st)?;
            st.masters.get_mut(&n).expect("checked").auth_pass = Some(argv[2].clone());
        }
        ("auth-user", 3) => {
            let n = master(st)?;
            st.masters.get_mut(&n).expect("checked").auth_user = Some(argv[2].clone());
        }
        ("current-epoch", 2) => {
            let e = strtoull(&argv[1]);
            if e > st.g.current_epoch {
                st.g.current_epoch = e;
            }
        }
        ("myid", 2) => {
            if argv[1].len() != 40 {
                return Err("Malformed Sentinel id in myid option.".into());
            }
            st.g.myid = argv[1].clone();
        }
        ("config-epoch", 3) => {
            let n = master(st)?;
            let e = strtoull(&argv[2]);
            st.masters.get_mut(&n).expect("checked").config_epoch = e;
            if e > st.g.current_epoch {
                st.g.current_epoch = e;
            }
        }
        ("leader-epoch", 3) => {
            let n = master(st)?;
            st.masters.get_mut(&n).expect("checked").inst.leader_epoch = strtoull(&argv[2]);
        }
        ("known-slave" | "known-replica", 4) => {
            let n = master(st)?;
            add_known_slave(st, &n, &argv[2], atoi(&argv[3]))?;
        }
        ("known-sentinel", 4) => {}
        ("known-sentinel", 5) => {
            let n = master(st)?;
            let g = &mut st.g;
            let addr = Addr::new(&argv[2], atoi(&argv[3]), g.resolve_hostnames, true)
                .map_err(|e| addr_error(e).to_string())?;
            let m = st.masters.get_mut(&n).expect("checked");
            if m.add_sentinel(g, &argv[4], addr).is_none() {
                return Err("Duplicate runid for sentinel.".into());
            }
        }
        ("rename-command", 4) => {
            let n = master(st)?;
            let m = st.masters.get_mut(&n).expect("checked");
            if m.renamed
                .iter()
                .any(|(o, _)| o.eq_ignore_ascii_case(&argv[2]))
            {
                return Err("Same command renamed multiple times with rename-command.".into());
            }
            m.renamed.push((argv[2].clone(), argv[3].clone()));
        }
        ("announce-ip", 2) => {
            if !argv[1].is_empty() {
                st.g.announce_ip = Some(argv[1].clone());
            }
        }
        ("announce-port", 2) => st.g.announce_port = atoi(&argv[1]),
        ("deny-scripts-reconfig", 2) => {
            st.g.deny_scripts_reconfig = yesno(&argv[1])
                .ok_or("Please specify yes or no for the deny-scripts-reconfig options.")?;
        }
        ("sentinel-user", 2) => {
            if !argv[1].is_empty() {
                st.g.sentinel_auth_user = Some(argv[1].clone());
            }
        }
        ("sentinel-pass", 2) => {
            if !argv[1].is_empty() {
                st.g.sentinel_auth_pass = Some(argv[1].clone());
            }
        }
        ("resolve-hostnames", 2) => {
            st.g.resolve_hostnames = yesno(&argv[1])
                .ok_or("Please specify yes or no for the resolve-hostnames option.")?;
        }
        ("announce-hostnames", 2) => {
            st.g.announce_hostnames = yesno(&argv[1])
                .ok_or("Please specify yes or no for the announce-hostnames option.")?;
        }
        ("master-reboot-down-after-period", 3) => {
            let n = master(st)?;
            let m = st.masters.get_mut(&n).expect("checked");
            m.master_reboot_down_after_period = atoi(&argv[2]) as i32 as i64;
            if m.master_reboot_down_after_period < 0 {
                return Err("negative time parameter.".into());
            }
        }
        _ => return Err("Unrecognized sentinel configuration statement.".into()),
    }
    Ok(())
}

fn add_known_slave(st: &mut State, name: &str, host: &str, port: i64) -> Result<(), String> {
    let g = &mut st.g;
    let addr =
        Addr::new(host, port, g.resolve_hostnames, true).map_err(|e| addr_error(e).to_string())?;
    let m = st.masters.get_mut(name).expect("checked");
    match m.add_slave(g, addr) {
        Some(_) => Ok(()),
        None => Err("Duplicate hostname and port for replica.".into()),
    }
}

/// redis `sentinelPropagateDownAfterPeriod`.
pub fn propagate_down_after(m: &mut Master) {
    let d = m.inst.down_after_period;
    for s in m.slaves.values_mut().chain(m.sentinels.values_mut()) {
        s.down_after_period = d;
    }
}

/// The state as `sentinel ...` lines, in Redis's order.
fn rewrite_lines(g: &Global, masters: &IndexMap<String, Master>) -> Vec<SentinelRewrite> {
    let mut out = Vec::new();
    let mut line = |option: &str, line: String, force: bool| {
        out.push(SentinelRewrite {
            option: format!("sentinel {option}"),
            line: Some(line),
            force,
        })
    };
    let yn = |b: bool| if b { "yes" } else { "no" };
    line("myid", format!("sentinel myid {}", g.myid), true);
    line(
        "deny-scripts-reconfig",
        format!(
            "sentinel deny-scripts-reconfig {}",
            yn(g.deny_scripts_reconfig)
        ),
        !g.deny_scripts_reconfig,
    );
    line(
        "resolve-hostnames",
        format!("sentinel resolve-hostnames {}", yn(g.resolve_hostnames)),
        g.resolve_hostnames,
    );
    line(
        "announce-hostnames",
        format!("sentinel announce-hostnames {}", yn(g.announce_hostnames)),
        g.announce_hostnames,
    );
    let t = &g.timing;
    for m in masters.values() {
        let n = &m.inst.name;
        let addr = m.current_addr();
        line(
            "monitor",
            format!(
                "sentinel monitor {n} {} {} {}",
                g.announce(addr),
                addr.port,
                m.quorum
            ),
            true,
        );
        if m.inst.down_after_period != t.default_down_after {
            line(
                "down-after-milliseconds",
                format!(
                    "sentinel down-after-milliseconds {n} {}",
                    m.inst.down_after_period
                ),
                true,
            );
        }
        if m.failover_timeout != t.default_failover_timeout {
            line(
                "failover-timeout",
                format!("sentinel failover-timeout {n} {}", m.failover_timeout),
                true,
            );
        }
        if m.parallel_syncs != DEFAULT_PARALLEL_SYNCS {
            line(
                "parallel-syncs",
                format!("sentinel parallel-syncs {n} {}", m.parallel_syncs),
                true,
            );
        }
        if m.wait_replicas != 0 {
            line(
                "wait-replicas",
                format!("sentinel wait-replicas {n} {}", m.wait_replicas),
                true,
            );
        }
        if let Some(s) = &m.notification_script {
            line(
                "notification-script",
                format!("sentinel notification-script {n} {s}"),
                true,
            );
        }
        if let Some(s) = &m.client_reconfig_script {
            line(
                "client-reconfig-script",
                format!("sentinel client-reconfig-script {n} {s}"),
                true,
            );
        }
        if let Some(p) = &m.auth_pass {
            line("auth-pass", format!("sentinel auth-pass {n} {p}"), true);
        }
        if let Some(u) = &m.auth_user {
            line("auth-user", format!("sentinel auth-user {n} {u}"), true);
        }
        if m.master_reboot_down_after_period != 0 {
            line(
                "master-reboot-down-after-period",
                format!(
                    "sentinel master-reboot-down-after-period {n} {}",
                    m.master_reboot_down_after_period
                ),
                true,
            );
        }
        line(
            "config-epoch",
            format!("sentinel config-epoch {n} {}", m.config_epoch),
            true,
        );
        line(
            "leader-epoch",
            format!("sentinel leader-epoch {n} {}", m.inst.leader_epoch),
            true,
        );
        for s in m.slaves.values() {
            let a = if s.addr.same(addr) {
                &m.inst.addr
            } else {
                &s.addr
            };
            line(
                "known-replica",
                format!("sentinel known-replica {n} {} {}", g.announce(a), a.port),
                true,
            );
        }
        for s in m.sentinels.values() {
            let Some(runid) = &s.runid else { continue };
            line(
                "known-sentinel",
                format!(
                    "sentinel known-sentinel {n} {} {} {runid}",
                    g.announce(&s.addr),
                    s.addr.port
                ),
                true,
            );
        }
        for (o, r) in &m.renamed {
            line(
                "rename-command",
                format!("sentinel rename-command {n} {o} {r}"),
                true,
            );
        }
    }
    line(
        "current-epoch",
        format!("sentinel current-epoch {}", g.current_epoch),
        true,
    );
    // The optional global lines: written when set, otherwise their old lines are dropped.
    let optional = [
        (
            "announce-ip",
            g.announce_ip.as_ref().map(|ip| {
                format!(
                    "sentinel announce-ip {}",
                    crate::config::parse::repr(ip.as_bytes())
                )
            }),
        ),
        (
            "announce-port",
            (g.announce_port != 0).then(|| format!("sentinel announce-port {}", g.announce_port)),
        ),
        (
            "sentinel-user",
            g.sentinel_auth_user
                .as_ref()
                .map(|u| format!("sentinel sentinel-user {u}")),
        ),
        (
            "sentinel-pass",
            g.sentinel_auth_pass
                .as_ref()
                .map(|p| format!("sentinel sentinel-pass {p}")),
        ),
    ];
    // Per-master options whose old lines go even when no master writes them any more.
    let per_master = [
        "monitor",
        "down-after-milliseconds",
        "failover-timeout",
        "parallel-syncs",
        "wait-replicas",
        "notification-script",
        "client-reconfig-script",
        "auth-pass",
        "auth-user",
        "config-epoch",
        "leader-epoch",
        "known-replica",
        "known-sentinel",
        "rename-command",
        "master-reboot-down-after-period",
    ];
    let marks = per_master.iter().map(|o| (*o, None));
    for (o, line) in optional.into_iter().chain(marks) {
        out.push(SentinelRewrite {
            option: format!("sentinel {o}"),
            force: line.is_some(),
            line,
        });
    }
    out
}

/// redis `sentinelFlushConfig`; false (and a warning) when the file could not be written.
pub fn flush(st: &State) -> bool {
    flush_parts(&st.g, &st.masters)
}

pub fn flush_parts(g: &Global, masters: &IndexMap<String, Master>) -> bool {
    let Some(server) = super::server() else {
        return true;
    };
    let lines = rewrite_lines(g, masters);
    let result = server.config.read().rewrite_sentinel(&lines);
    match result {
        Ok(()) => {
            tracing::info!("Sentinel new configuration saved on disk");
            true
        }
        Err(e) => {
            tracing::warn!(
                "WARNING: Sentinel was not able to save the new configuration on disk!!!: {e}"
            );
            false
        }
    }
}
