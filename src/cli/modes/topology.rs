//! `--topology`: the replication tree around a node, and the sentinels watching it. From the
//! node given with -h/-p, follow `master_host:master_port` (INFO replication) up to the top
//! master, then walk down its `slaveN:` lines, asking each replica for its own INFO (link
//! status, offset, sub-replicas). Above the tree, one block per master name the sentinels
//! watching it use (see `sentinels.rs`; none when no sentinel watches the node). Given a
//! sentinel instead of a data node, each master it watches: the block, then the tree from the
//! master's address (the replicas the sentinel knows of when the master does not answer).
//! With `-i`, everything is printed again every interval.
//!
//! ```text
//! mymaster: 3 sentinels
//!   127.0.0.1:26379 master=127.0.0.1:6379 flags=master failover=none config-epoch=0 quorum=2 replicas=2 other-sentinels=2
//!   127.0.0.1:26380 master=127.0.0.1:6379 flags=master failover=none config-epoch=0 quorum=2 replicas=2 other-sentinels=2
//!   127.0.0.1:26381 unreachable (Connection refused)
//! 127.0.0.1:6379 master offset=1234 replicas=2
//! ├── 127.0.0.1:6380 replica link=up state=online offset=1234 behind=0 lag=0s replicas=1
//! │   └── 127.0.0.1:6382 replica link=up state=online offset=1234 behind=0 lag=1s replicas=0
//! └── 127.0.0.1:6381 replica link=down state=wait_bgsave offset=0 behind=1234 lag=3s replicas=0
//! ```

use std::collections::HashSet;
use std::io::IsTerminal;
use std::time::Duration;

use super::super::args::{atoi, Config};
use super::super::conn::{format_addr, Conn, Endpoint};
use super::super::emit;
use super::super::resp::Value;
use super::sentinels;

/// How long one node may take to connect or answer.
const NODE_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest master chain followed upwards (guards against loops the visited set misses).
const MAX_HOPS: usize = 32;

/// What INFO replication says about one node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeInfo {
    pub role: String,
    pub master: Option<(String, u16)>,
    pub link_status: Option<String>,
    pub master_repl_offset: Option<i64>,
    pub replica_offset: Option<i64>,
    pub replicas: Vec<ReplicaLine>,
}

/// One `slaveN:ip=..,port=..,state=..,offset=..,lag=..` line of a master's INFO.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplicaLine {
    pub host: String,
    pub port: u16,
    pub state: String,
    pub offset: Option<i64>,
    pub lag: Option<i64>,
}

/// Parses an INFO replication text.
pub fn parse_info(info: &str) -> NodeInfo {
    let field = |name: &str| {
        info.lines()
            .find_map(|l| {
                l.trim_end_matches('\r')
                    .strip_prefix(name)?
                    .strip_prefix(':')
            })
            .map(str::to_string)
    };
    let master = match (field("master_host"), field("master_port")) {
        (Some(h), Some(p)) => u16::try_from(atoi(&p)).ok().map(|p| (h, p)),
        _ => None,
    };
    let mut replicas = Vec::new();
    for line in info.lines() {
        let line = line.trim_end_matches('\r');
        let Some((name, fields)) = line.split_once(':') else {
            continue;
        };
        if !(name.starts_with("slave")
            && name[5..].bytes().all(|b| b.is_ascii_digit())
            && name.len() > 5)
        {
            continue;
        }
        let mut r = ReplicaLine::default();
        for kv in fields.split(',') {
            match kv.split_once('=') {
                Some(("ip", v)) => r.host = v.to_string(),
                Some(("port", v)) => r.port = u16::try_from(atoi(v)).unwrap_or(0),
                Some(("state", v)) => r.state = v.to_string(),
                Some(("offset", v)) => r.offset = Some(atoi(v)),
                Some(("lag", v)) => r.lag = Some(atoi(v)),
                _ => {}
            }
        }
        replicas.push(r);
    }
    NodeInfo {
        role: field("role").unwrap_or_default(),
        master,
        link_status: field("master_link_status"),
        master_repl_offset: field("master_repl_offset").map(|v| atoi(&v)),
        replica_offset: field("slave_repl_offset").map(|v| atoi(&v)),
        replicas,
    }
}

/// A connection to `host:port` with the session's credentials (`-a`, `--user`). A node that
/// has no password answers AUTH "called without any password configured": it is asked
/// without one (sentinels often have no `requirepass` when the data nodes do).
pub fn connect(cfg: &Config, host: &str, port: u16) -> Result<Conn, String> {
    let endpoint = Endpoint::Tcp {
        host: host.to_string(),
        port,
    };
    let mut conn = Conn::connect_timeout(&endpoint, Some(NODE_TIMEOUT))?;
    let _ = conn.set_read_timeout(Some(NODE_TIMEOUT));
    if let Some(auth) = &cfg.auth {
        let mut args = vec![b"AUTH".to_vec()];
        if let Some(user) = &cfg.user {
            args.push(user.clone());
        }
        args.push(auth.clone());
        if let Value::Error(e) = conn.command(&args).map_err(|e| e.to_string())? {
            let e = String::from_utf8_lossy(&e);
            if !e.contains("without any password configured") {
                return Err(format!("AUTH failed: {e}"));
            }
        }
    }
    Ok(conn)
}

/// The text of a command's reply; an error reply is an `Err` with its text.
pub fn request_text(conn: &mut Conn, args: &[&str]) -> Result<String, String> {
    match conn.command(args).map_err(|e| e.to_string())? {
        Value::Error(e) => Err(String::from_utf8_lossy(&e).into_owned()),
        v => Ok(v.text().unwrap_or_default()),
    }
}

/// INFO replication of `host:port`.
fn fetch(cfg: &Config, host: &str, port: u16) -> Result<NodeInfo, String> {
    let mut conn = connect(cfg, host, port)?;
    Ok(parse_info(&request_text(
        &mut conn,
        &["INFO", "replication"],
    )?))
}

fn role_name(role: &str) -> &str {
    match role {
        "slave" => "replica",
        other => other,
    }
}

fn opt(v: Option<i64>) -> String {
    v.map_or_else(|| "?".to_string(), |v| v.to_string())
}

/// Everything `--topology` prints about the node at `host:port`: given a sentinel, each master
/// it watches (the sentinels watching it, then its replication tree); given a data node, the
/// sentinels watching its master, if any, then its replication tree. `Err` if that node cannot
/// be reached at all.
pub fn render(cfg: &Config, host: &str, port: u16) -> Result<String, String> {
    let mut conn = connect(cfg, host, port)?;
    let info = request_text(&mut conn, &["INFO", "server"])?;
    let mut out = String::new();
    if super::info_field(&info, "redis_mode") == Some("sentinel") {
        sentinels::write_sentinel_view(cfg, &mut conn, (host.to_string(), port), &mut out)?;
        return Ok(out);
    }
    let tree = render_tree(cfg, host, port)?;
    // A node that cannot be listened to still gets its tree.
    if let Ok(watchers) = sentinels::from_hellos(&mut conn) {
        for (name, known) in watchers {
            sentinels::write_block(cfg, &mut out, &name, known);
        }
    }
    out.push_str(&tree);
    Ok(out)
}

/// The replication tree, starting from the node at `host:port`; `Err` if that node cannot be
/// reached at all.
pub fn render_tree(cfg: &Config, host: &str, port: u16) -> Result<String, String> {
    let start = fetch(cfg, host, port)?;
    // Up: follow masters while they answer.
    let mut top = ((host.to_string(), port), start);
    let mut visited = HashSet::new();
    visited.insert(top.0.clone());
    let mut unreachable_master = None;
    for _ in 0..MAX_HOPS {
        let Some(master) = top.1.master.clone().filter(|_| top.1.role == "slave") else {
            break;
        };
        if !visited.insert(master.clone()) {
            break;
        }
        match fetch(cfg, &master.0, master.1) {
            Ok(info) => top = (master, info),
            Err(e) => {
                unreachable_master = Some((master, e));
                break;
            }
        }
    }
    let mut out = String::new();
    let mut seen = HashSet::new();
    if let Some(((h, p), e)) = unreachable_master {
        out.push_str(&unreachable_line(&h, p, &e));
        write_node(
            cfg,
            &mut out,
            &top.0,
            &top.1,
            None,
            "└── ",
            "    ",
            &mut seen,
        );
    } else {
        write_node(cfg, &mut out, &top.0, &top.1, None, "", "", &mut seen);
    }
    Ok(out)
}

/// The line of a master that does not answer.
pub fn unreachable_line(host: &str, port: u16, e: &str) -> String {
    format!("{} unreachable ({e})\n", format_addr(host, port))
}

/// Below an unreachable master (its line already written): the replicas a sentinel knows of,
/// each with the tree below it, or its unreachable line.
pub fn write_orphans(cfg: &Config, out: &mut String, replicas: &[(String, u16)]) {
    let mut seen = HashSet::new();
    for (i, addr) in replicas.iter().enumerate() {
        let (branch, indent) = if i + 1 == replicas.len() {
            ("└── ", "    ")
        } else {
            ("├── ", "│   ")
        };
        if seen.contains(addr) {
            out.push_str(&format!(
                "{branch}{} (already shown)\n",
                format_addr(&addr.0, addr.1)
            ));
            continue;
        }
        match fetch(cfg, &addr.0, addr.1) {
            Ok(info) => write_node(cfg, out, addr, &info, None, branch, indent, &mut seen),
            Err(e) => out.push_str(&format!(
                "{branch}{} replica unreachable ({e})\n",
                format_addr(&addr.0, addr.1)
            )),
        }
    }
}

/// One node line and, below it, its replicas. `from_master` is the master's line about this
/// node and the master's offset.
#[allow(clippy::too_many_arguments)]
fn write_node(
    cfg: &Config,
    out: &mut String,
    addr: &(String, u16),
    info: &NodeInfo,
    from_master: Option<(&ReplicaLine, Option<i64>)>,
    branch: &str,
    indent: &str,
    seen: &mut HashSet<(String, u16)>,
) {
    out.push_str(branch);
    out.push_str(&format_addr(&addr.0, addr.1));
    out.push(' ');
    out.push_str(role_name(&info.role));
    match from_master {
        None => {
            if info.role == "slave" {
                out.push_str(&format!(
                    " link={}",
                    info.link_status.as_deref().unwrap_or("?")
                ));
                out.push_str(&format!(" offset={}", opt(info.replica_offset)));
            } else {
                out.push_str(&format!(" offset={}", opt(info.master_repl_offset)));
            }
        }
        Some((line, master_offset)) => {
            let offset = info.replica_offset.or(line.offset);
            out.push_str(&format!(
                " link={}",
                info.link_status.as_deref().unwrap_or("?")
            ));
            out.push_str(&format!(
                " state={}",
                if line.state.is_empty() {
                    "?"
                } else {
                    &line.state
                }
            ));
            out.push_str(&format!(" offset={}", opt(offset)));
            let behind = match (master_offset, offset) {
                (Some(m), Some(o)) => (m - o).max(0).to_string(),
                _ => "?".into(),
            };
            out.push_str(&format!(
                " behind={behind} lag={}",
                line.lag.map_or("?".into(), |l| format!("{l}s"))
            ));
        }
    }
    out.push_str(&format!(" replicas={}\n", info.replicas.len()));
    seen.insert(addr.clone());
    let count = info.replicas.len();
    for (i, line) in info.replicas.iter().enumerate() {
        let last = i + 1 == count;
        let (b, ind) = if last {
            ("└── ", "    ")
        } else {
            ("├── ", "│   ")
        };
        let child_branch = format!("{indent}{b}");
        let child_indent = format!("{indent}{ind}");
        let child = (line.host.clone(), line.port);
        if seen.contains(&child) {
            out.push_str(&format!(
                "{child_branch}{} (already shown)\n",
                format_addr(&child.0, child.1)
            ));
            continue;
        }
        match fetch(cfg, &child.0, child.1) {
            Ok(child_info) => write_node(
                cfg,
                out,
                &child,
                &child_info,
                Some((line, info.master_repl_offset)),
                &child_branch,
                &child_indent,
                seen,
            ),
            Err(e) => {
                out.push_str(&format!(
                    "{child_branch}{} replica unreachable ({e}) state={} offset={} lag={}\n",
                    format_addr(&child.0, child.1),
                    if line.state.is_empty() {
                        "?"
                    } else {
                        &line.state
                    },
                    opt(line.offset),
                    line.lag.map_or("?".into(), |l| format!("{l}s")),
                ));
            }
        }
    }
}

/// Prints the tree once, or every `-i` seconds.
pub fn run(cfg: &Config) -> i32 {
    let port = u16::try_from(cfg.port).unwrap_or(cfg.port as u16);
    let refresh = cfg.interval_us > 0;
    let tty = std::io::stdout().is_terminal();
    loop {
        match render(cfg, &cfg.host, port) {
            Ok(tree) => {
                if refresh && tty {
                    emit(b"\x1b[H\x1b[2J");
                }
                emit(tree.as_bytes());
                if refresh && !tty {
                    emit(b"\n");
                }
            }
            Err(e) => {
                eprintln!(
                    "Could not connect to Redis at {}: {e}",
                    format_addr(&cfg.host, port)
                );
                if !refresh {
                    return 1;
                }
            }
        }
        if !refresh {
            return 0;
        }
        std::thread::sleep(Duration::from_micros(cfg.interval_us as u64));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_master_and_replica_info() {
        let master = "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n\
            slave0:ip=127.0.0.1,port=6380,state=online,offset=1234,lag=0\r\n\
            slave1:ip=127.0.0.1,port=6381,state=wait_bgsave,offset=0,lag=3\r\n\
            master_repl_offset:1234\r\n";
        let m = parse_info(master);
        assert_eq!(m.role, "master");
        assert_eq!(m.master_repl_offset, Some(1234));
        assert_eq!(m.replicas.len(), 2);
        assert_eq!(
            m.replicas[1],
            ReplicaLine {
                host: "127.0.0.1".into(),
                port: 6381,
                state: "wait_bgsave".into(),
                offset: Some(0),
                lag: Some(3)
            }
        );
        let replica = "role:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:6379\r\nmaster_link_status:up\r\nslave_repl_offset:1200\r\n";
        let r = parse_info(replica);
        assert_eq!(r.master, Some(("127.0.0.1".into(), 6379)));
        assert_eq!(r.link_status.as_deref(), Some("up"));
        assert_eq!(r.replica_offset, Some(1200));
        assert!(r.replicas.is_empty());
    }
}
