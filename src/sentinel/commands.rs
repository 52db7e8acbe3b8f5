//! The sentinel's command table (redis keeps only the commands flagged `SENTINEL`): SENTINEL
//! and its subcommands, and the sentinel's own INFO, ROLE and PUBLISH, beside the shared
//! AUTH, CLIENT, HELLO, PING, (P)(UN)SUBSCRIBE, ACL, COMMAND and SHUTDOWN.

use bytes::Bytes;

use super::events::{self, Level};
use super::monitor::ev;
use super::settings::{config_cmd, debug, set, simulate_failure};
use super::state::*;
use super::{config, failover, mstime, state};
use crate::commands::spec::{Group, Spec, ADMIN, FAST, LOADING, NOSCRIPT, PUBSUB, STALE};
use crate::commands::{CmdError, Ctx};
use crate::protocol::Reply;

const A: u32 = ADMIN;

pub const COMMANDS: &[Spec] = &[
    Spec::new("sentinel", -2, A, Group::Sentinel, container).subs(SUBS),
    Spec::new("info", -1, LOADING | STALE, Group::Server, info),
    Spec::new(
        "role",
        1,
        NOSCRIPT | LOADING | STALE | FAST,
        Group::Server,
        role,
    ),
    Spec::new(
        "publish",
        3,
        PUBSUB | LOADING | STALE | FAST,
        Group::Pubsub,
        publish,
    ),
];

const SUBS: &[Spec] = &[
    Spec::new("sentinel|ckquorum", 3, A, Group::Sentinel, ckquorum),
    Spec::new("sentinel|config", -3, A, Group::Sentinel, config_cmd),
    Spec::new("sentinel|debug", -2, A, Group::Sentinel, debug),
    Spec::new("sentinel|failover", 3, A, Group::Sentinel, failover_cmd),
    Spec::new("sentinel|flushconfig", 2, A, Group::Sentinel, flushconfig),
    Spec::new(
        "sentinel|get-master-addr-by-name",
        3,
        A,
        Group::Sentinel,
        get_master_addr,
    ),
    Spec::new("sentinel|help", 2, LOADING | STALE, Group::Sentinel, help),
    Spec::new("sentinel|info-cache", -3, A, Group::Sentinel, info_cache),
    Spec::new(
        "sentinel|is-master-down-by-addr",
        6,
        A,
        Group::Sentinel,
        is_master_down,
    ),
    Spec::new("sentinel|master", 3, A, Group::Sentinel, master),
    Spec::new("sentinel|masters", 2, A, Group::Sentinel, masters),
    Spec::new("sentinel|monitor", 6, A, Group::Sentinel, monitor),
    Spec::new("sentinel|myid", 2, A, Group::Sentinel, myid),
    Spec::new(
        "sentinel|pending-scripts",
        2,
        A,
        Group::Sentinel,
        pending_scripts,
    ),
    Spec::new("sentinel|remove", 3, A, Group::Sentinel, remove),
    Spec::new("sentinel|replicas", 3, A, Group::Sentinel, replicas),
    Spec::new("sentinel|reset", 3, A, Group::Sentinel, reset),
    Spec::new("sentinel|sentinels", 3, A, Group::Sentinel, sentinels),
    Spec::new("sentinel|set", -5, A, Group::Sentinel, set),
    Spec::new(
        "sentinel|simulate-failure",
        -3,
        A,
        Group::Sentinel,
        simulate_failure,
    ),
    Spec::new("sentinel|slaves", 3, A, Group::Sentinel, replicas),
];

/// The shared commands a sentinel keeps (redis `CMD_SENTINEL`).
const SHARED: &[&str] = &[
    "auth",
    "client",
    "hello",
    "ping",
    "psubscribe",
    "punsubscribe",
    "subscribe",
    "unsubscribe",
    "acl",
    "command",
    "shutdown",
];

const CLIENT_SUBS: &[&str] = &[
    "caching",
    "getname",
    "getredir",
    "help",
    "id",
    "info",
    "kill",
    "list",
    "no-evict",
    "pause",
    "reply",
    "setname",
    "tracking",
    "trackinginfo",
    "unblock",
    "unpause",
];

/// The sentinel's top-level commands, taken from the normal families and this file.
pub fn table(families: &[&'static [Spec]]) -> Vec<&'static Spec> {
    let mut out: Vec<&'static Spec> = COMMANDS.iter().collect();
    for fam in families {
        out.extend(fam.iter().filter(|s| SHARED.contains(&s.name)));
    }
    out
}

/// Whether a subcommand of a kept command exists in sentinel mode.
pub fn sub_allowed(name: &str) -> bool {
    match name.split_once('|') {
        Some(("client", sub)) => CLIENT_SUBS.contains(&sub),
        _ => true,
    }
}

fn container(_cx: &mut Ctx) -> Result<Reply, CmdError> {
    Err(CmdError::err("unknown subcommand"))
}

pub(super) fn text(b: &Bytes) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// redis `string2ll` (via getLongLongFromObject).
pub(super) fn ll(b: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(b).ok()?;
    if s.is_empty() || s.starts_with('+') || s.len() > 20 {
        return None;
    }
    if s.len() > 1 && (s.starts_with('0') || s.starts_with("-0")) {
        return None;
    }
    s.parse().ok()
}

pub(super) fn no_such_master() -> CmdError {
    CmdError::err("No such master with that name")
}

fn help(_cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(crate::commands::admin::help_reply(
        "SENTINEL",
        &[
            "CKQUORUM <master-name>",
            "    Check if the current Sentinel configuration is able to reach the quorum",
            "    needed to failover a master and the majority needed to authorize the",
            "    failover.",
            "CONFIG SET <param> <value>",
            "    Set a global Sentinel configuration parameter.",
            "CONFIG GET <param>",
            "    Get global Sentinel configuration parameter.",
            "DEBUG [<param> <value> ...]",
            "    Show a list of configurable time parameters and their values (milliseconds).",
            "    Or update current configurable parameters values (one or more).",
            "GET-MASTER-ADDR-BY-NAME <master-name>",
            "    Return the ip and port number of the master with that name.",
            "FAILOVER <master-name>",
            "    Manually failover a master node without asking for agreement from other",
            "    Sentinels",
            "FLUSHCONFIG",
            "    Force Sentinel to rewrite its configuration on disk, including the current",
            "    Sentinel state.",
            "INFO-CACHE <master-name>",
            "    Return last cached INFO output from masters and all its replicas.",
            "IS-MASTER-DOWN-BY-ADDR <ip> <port> <current-epoch> <runid>",
            "    Check if the master specified by ip:port is down from current Sentinel's",
            "    point of view.",
            "MASTER <master-name>",
            "    Show the state and info of the specified master.",
            "MASTERS",
            "    Show a list of monitored masters and their state.",
            "MONITOR <name> <ip> <port> <quorum>",
            "    Start monitoring a new master with the specified name, ip, port and quorum.",
            "MYID",
            "    Return the ID of the Sentinel instance.",
            "PENDING-SCRIPTS",
            "    Get pending scripts information.",
            "REMOVE <master-name>",
            "    Remove master from Sentinel's monitor list.",
            "REPLICAS <master-name>",
            "    Show a list of replicas for this master and their state.",
            "RESET <pattern>",
            "    Reset masters for specific master name matching this pattern.",
            "SENTINELS <master-name>",
            "    Show a list of Sentinel instances for this master and their state.",
            "SET <master-name> <option> <value> [<option> <value> ...]",
            "    Set configuration parameters for certain masters.",
            "SIMULATE-FAILURE [CRASH-AFTER-ELECTION] [CRASH-AFTER-PROMOTION] [HELP]",
            "    Simulate a Sentinel crash.",
        ],
    ))
}

pub(super) fn flush_reply(st: &State) -> Result<Reply, CmdError> {
    if config::flush(st) {
        Ok(Reply::ok())
    } else {
        Err(CmdError::err(
            "Failed to save config file. Check server logs.",
        ))
    }
}

/// redis `addReplySentinelRedisInstance`.
fn instance_reply(g: &Global, m: &Master, ri: &Instance) -> Reply {
    let now = mstime();
    let mut f: Vec<(Reply, Reply)> = Vec::new();
    let mut s = |k: &str, v: String| f.push((Reply::bulk_str(k), Reply::bulk_str(&v)));
    s("name", ri.name.clone());
    s("ip", g.announce(&ri.addr).to_string());
    s("port", ri.addr.port.to_string());
    s("runid", ri.runid.clone().unwrap_or_default());
    let sentinel = ri.flags & SRI_SENTINEL != 0;
    let mut flags = Vec::new();
    for (bit, name) in [
        (SRI_S_DOWN, "s_down"),
        (SRI_O_DOWN, "o_down"),
        (SRI_MASTER, "master"),
        (SRI_SLAVE, "slave"),
        (SRI_SENTINEL, "sentinel"),
    ] {
        if ri.flags & bit != 0 {
            flags.push(name);
        }
    }
    if ri.link.disconnected(sentinel) {
        flags.push("disconnected");
    }
    for (bit, name) in [
        (SRI_MASTER_DOWN, "master_down"),
        (SRI_FAILOVER_IN_PROGRESS, "failover_in_progress"),
        (SRI_PROMOTED, "promoted"),
        (SRI_RECONF_SENT, "reconf_sent"),
        (SRI_RECONF_INPROG, "reconf_inprog"),
        (SRI_RECONF_DONE, "reconf_done"),
        (SRI_FORCE_FAILOVER, "force_failover"),
        (SRI_SCRIPT_KILL_SENT, "script_kill_sent"),
    ] {
        if ri.flags & bit != 0 {
            flags.push(name);
        }
    }
    s("flags", flags.join(","));
    s(
        "link-pending-commands",
        ri.link.pending_commands.to_string(),
    );
    s("link-refcount", "1".into());
    if ri.flags & SRI_FAILOVER_IN_PROGRESS != 0 {
        s("failover-state", m.failover_state.name().into());
    }
    let ping = if ri.link.act_ping_time != 0 {
        now - ri.link.act_ping_time
    } else {
        0
    };
    s("last-ping-sent", ping.to_string());
    s(
        "last-ok-ping-reply",
        (now - ri.link.last_avail_time).to_string(),
    );
    s(
        "last-ping-reply",
        (now - ri.link.last_pong_time).to_string(),
    );
    if ri.flags & SRI_S_DOWN != 0 {
        s("s-down-time", (now - ri.s_down_since_time).to_string());
    }
    if ri.flags & SRI_O_DOWN != 0 {
        s("o-down-time", (now - ri.o_down_since_time).to_string());
    }
    s("down-after-milliseconds", ri.down_after_period.to_string());
    if ri.flags & (SRI_MASTER | SRI_SLAVE) != 0 {
        let r = if ri.info_refresh != 0 {
            now - ri.info_refresh
        } else {
            0
        };
        s("info-refresh", r.to_string());
        let role = if ri.role_reported == SRI_MASTER {
            "master"
        } else {
            "slave"
        };
        s("role-reported", role.into());
        s(
            "role-reported-time",
            (now - ri.role_reported_time).to_string(),
        );
    }
    if ri.flags & SRI_MASTER != 0 {
        s("config-epoch", m.config_epoch.to_string());
        s("num-slaves", m.slaves.len().to_string());
        s("num-other-sentinels", m.sentinels.len().to_string());
        s("quorum", m.quorum.to_string());
        s("failover-timeout", m.failover_timeout.to_string());
        s("parallel-syncs", m.parallel_syncs.to_string());
        if m.wait_replicas != 0 {
            s("wait-replicas", m.wait_replicas.to_string());
        }
        if let Some(p) = &m.notification_script {
            s("notification-script", p.clone());
        }
        if let Some(p) = &m.client_reconfig_script {
            s("client-reconfig-script", p.clone());
        }
    }
    if ri.flags & SRI_SLAVE != 0 {
        s(
            "master-link-down-time",
            ri.master_link_down_time.to_string(),
        );
        s(
            "master-link-status",
            if ri.slave_master_link_up { "ok" } else { "err" }.into(),
        );
        s(
            "master-host",
            ri.slave_master_host.clone().unwrap_or_else(|| "?".into()),
        );
        s("master-port", ri.slave_master_port.to_string());
        s("slave-priority", ri.slave_priority.to_string());
        s("slave-repl-offset", ri.slave_repl_offset.to_string());
        s("replica-announced", ri.replica_announced.to_string());
    }
    if sentinel {
        s("last-hello-message", (now - ri.last_hello_time).to_string());
        s(
            "voted-leader",
            ri.leader.clone().unwrap_or_else(|| "?".into()),
        );
        s("voted-leader-epoch", ri.leader_epoch.to_string());
    }
    Reply::Map(f)
}

fn masters(_cx: &mut Ctx) -> Result<Reply, CmdError> {
    let st = state().lock();
    Ok(Reply::Array(
        st.masters
            .values()
            .map(|m| instance_reply(&st.g, m, &m.inst))
            .collect(),
    ))
}

fn master(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let st = state().lock();
    let m = st
        .masters
        .get(&text(&cx.argv[2]))
        .ok_or_else(no_such_master)?;
    Ok(instance_reply(&st.g, m, &m.inst))
}

fn replicas(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let st = state().lock();
    let m = st
        .masters
        .get(&text(&cx.argv[2]))
        .ok_or_else(no_such_master)?;
    Ok(Reply::Array(
        m.slaves
            .values()
            .filter(|s| s.replica_announced != 0)
            .map(|s| instance_reply(&st.g, m, s))
            .collect(),
    ))
}

fn sentinels(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let st = state().lock();
    let m = st
        .masters
        .get(&text(&cx.argv[2]))
        .ok_or_else(no_such_master)?;
    Ok(Reply::Array(
        m.sentinels
            .values()
            .map(|s| instance_reply(&st.g, m, s))
            .collect(),
    ))
}

fn myid(_cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(Reply::bulk_str(&state().lock().g.myid))
}

fn is_master_down(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let not_int = || CmdError::err("value is not an integer or out of range");
    let port = ll(&cx.argv[3]).ok_or_else(not_int)?;
    let req_epoch = ll(&cx.argv[4]).ok_or_else(not_int)?;
    let mut st = state().lock();
    let ip = text(&cx.argv[2]);
    let want = Addr::new(&ip, port, st.g.resolve_hostnames, true).ok();
    let name = want.and_then(|a| {
        st.masters
            .iter()
            .find(|(_, m)| m.inst.addr.same(&a))
            .map(|(n, _)| n.clone())
    });
    let mut isdown = false;
    let mut leader = None;
    let mut leader_epoch = 0;
    if let Some(n) = &name {
        let m = &st.masters[n];
        isdown = !st.g.tilt && m.inst.flags & SRI_S_DOWN != 0;
        let runid = text(&cx.argv[5]);
        if runid != "*" {
            let (l, e) = failover::vote_leader(&mut st, n, req_epoch as u64, &runid);
            leader = l;
            leader_epoch = e;
        }
    }
    Ok(Reply::Array(vec![
        Reply::Int(i64::from(isdown)),
        Reply::bulk_str(leader.as_deref().unwrap_or("*")),
        Reply::Int(leader_epoch as i64),
    ]))
}

fn reset(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let pattern = cx.argv[2].clone();
    let mut st = state().lock();
    let State { g, masters } = &mut *st;
    let mut n = 0;
    for (name, m) in masters.iter_mut() {
        if crate::util::glob_match(&pattern, name.as_bytes(), false) {
            failover::reset_master(g, m, false, true);
            n += 1;
        }
    }
    Ok(Reply::Int(n))
}

fn get_master_addr(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let st = state().lock();
    let Some(m) = st.masters.get(&text(&cx.argv[2])) else {
        return Ok(Reply::NilArray);
    };
    let a = m.current_addr();
    Ok(Reply::Array(vec![
        Reply::bulk_str(st.g.announce(a)),
        Reply::bulk_int(i64::from(a.port)),
    ]))
}

fn failover_cmd(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let mut st = state().lock();
    let State { g, masters } = &mut *st;
    let m = masters
        .get_mut(&text(&cx.argv[2]))
        .ok_or_else(no_such_master)?;
    if m.inst.flags & SRI_FAILOVER_IN_PROGRESS != 0 {
        return Err(CmdError::new("INPROG Failover already in progress"));
    }
    if failover::select_slave(g, m).is_none() {
        return Err(CmdError::new("NOGOODSLAVE No suitable replica to promote"));
    }
    tracing::warn!("Executing user requested FAILOVER of '{}'", m.inst.name);
    failover::start_failover(g, m);
    m.inst.flags |= SRI_FORCE_FAILOVER;
    Ok(Reply::ok())
}

fn pending_scripts(_cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(state().lock().g.scripts.reply())
}

fn monitor(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let quorum = ll(&cx.argv[5]).ok_or_else(|| CmdError::err("Invalid quorum"))?;
    let port = ll(&cx.argv[4]).ok_or_else(|| CmdError::err("Invalid port"))?;
    if quorum <= 0 {
        return Err(CmdError::err("Quorum must be 1 or greater."));
    }
    let mut st = state().lock();
    let host = text(&cx.argv[3]);
    if resolve(&host, st.g.resolve_hostnames).is_none() {
        return Err(CmdError::err("Invalid IP address or hostname specified"));
    }
    let name = text(&cx.argv[2]);
    config::add_master(&mut st, &name, &host, port, quorum).map_err(CmdError::err)?;
    let reply = flush_reply(&st);
    let m = &st.masters[&name];
    let msg = format!(
        "{} quorum {}",
        events::ident(&st.g, &m.inst, None),
        m.quorum
    );
    events::emit(&st.g, Level::Warning, "+monitor", Some(m), &msg);
    reply
}

fn flushconfig(_cx: &mut Ctx) -> Result<Reply, CmdError> {
    flush_reply(&state().lock())
}

fn remove(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let mut st = state().lock();
    let name = text(&cx.argv[2]);
    let m = st.masters.get(&name).ok_or_else(no_such_master)?;
    ev(&st.g, m, &Which::Master, Level::Warning, "-monitor", "");
    st.masters.shift_remove(&name);
    flush_reply(&st)
}

/// redis `sentinelIsQuorumReachable`.
fn ckquorum(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let st = state().lock();
    let m = st
        .masters
        .get(&text(&cx.argv[2]))
        .ok_or_else(no_such_master)?;
    let voters = m.sentinels.len() as i64 + 1;
    let usable = 1 + m
        .sentinels
        .values()
        .filter(|s| s.flags & (SRI_S_DOWN | SRI_O_DOWN) == 0)
        .count() as i64;
    let noquorum = usable < m.quorum;
    let noauth = usable < voters / 2 + 1;
    if !noquorum && !noauth {
        return Ok(Reply::Status(
            format!(
                "OK {usable} usable Sentinels. Quorum and failover authorization can be reached"
            )
            .into(),
        ));
    }
    let mut e = format!("NOQUORUM {usable} usable Sentinels. ");
    if noquorum {
        e.push_str("Not enough available Sentinels to reach the specified quorum for this master");
    }
    if noauth {
        if noquorum {
            e.push_str(". ");
        }
        e.push_str("Not enough available Sentinels to reach the majority and authorize a failover");
    }
    Err(CmdError::new(e))
}

fn info_cache(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let st = state().lock();
    let now = mstime();
    let wanted: Vec<&Master> = if cx.argv.len() > 2 {
        let mut v: Vec<&Master> = Vec::new();
        for a in &cx.argv[2..] {
            if let Some(m) = st.masters.get(&text(a)) {
                if !v.iter().any(|x| x.inst.uid == m.inst.uid) {
                    v.push(m);
                }
            }
        }
        v
    } else {
        st.masters.values().collect()
    };
    let entry = |info_refresh: i64, refresh: i64, info: &Option<String>| {
        Reply::Array(vec![
            Reply::Int(if info_refresh != 0 { now - refresh } else { 0 }),
            info.as_ref().map_or(Reply::Nil, |i| Reply::bulk_str(i)),
        ])
    };
    let mut out = Vec::new();
    for m in wanted {
        out.push(Reply::bulk_str(&m.inst.name));
        let mut list = vec![entry(
            m.inst.info_refresh,
            m.inst.info_refresh,
            &m.inst.info,
        )];
        for s in m.slaves.values() {
            list.push(entry(m.inst.info_refresh, s.info_refresh, &s.info));
        }
        out.push(Reply::Array(list));
    }
    Ok(Reply::Array(out))
}

/// The sentinel's INFO: server, clients, cpu, stats and sentinel sections.
fn info(cx: &mut Ctx) -> Result<Reply, CmdError> {
    const SECTIONS: &[&str] = &["server", "clients", "cpu", "stats", "sentinel"];
    let mut wanted: Vec<String> = Vec::new();
    let mut all = cx.argv.len() == 1;
    for a in &cx.argv[1..] {
        let s = text(a).to_ascii_lowercase();
        match s.as_str() {
            "all" | "everything" | "default" => all = true,
            _ if SECTIONS.contains(&s.as_str()) => wanted.push(s),
            _ => {}
        }
    }
    if all {
        wanted = SECTIONS.iter().map(|s| s.to_string()).collect();
    }
    let mut out = crate::commands::info::render(cx.server, &wanted);
    if wanted.iter().any(|w| w == "sentinel") {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        let st = state().lock();
        let g = &st.g;
        let tilt_since = if g.tilt {
            (mstime() - g.tilt_start_time) / 1000
        } else {
            -1
        };
        out.push_str(&format!(
            "# Sentinel\r\nsentinel_masters:{}\r\nsentinel_tilt:{}\r\nsentinel_tilt_since_seconds:{}\r\nsentinel_running_scripts:{}\r\nsentinel_scripts_queue_length:{}\r\nsentinel_simulate_failure_flags:{}\r\n",
            st.masters.len(),
            i32::from(g.tilt),
            tilt_since,
            g.scripts.running(),
            g.scripts.len(),
            g.simfailure_flags
        ));
        for (i, m) in st.masters.values().enumerate() {
            let status = if m.inst.flags & SRI_O_DOWN != 0 {
                "odown"
            } else if m.inst.flags & SRI_S_DOWN != 0 {
                "sdown"
            } else {
                "ok"
            };
            out.push_str(&format!(
                "master{i}:name={},status={status},address={}:{},slaves={},sentinels={}\r\n",
                m.inst.name,
                g.announce(&m.inst.addr),
                m.inst.addr.port,
                m.slaves.len(),
                m.sentinels.len() + 1
            ));
        }
    }
    Ok(Reply::Verbatim(out.into()))
}

fn role(_cx: &mut Ctx) -> Result<Reply, CmdError> {
    let st = state().lock();
    Ok(Reply::Array(vec![
        Reply::bulk_str("sentinel"),
        Reply::array_of_bulks(st.masters.keys().map(|k| k.as_bytes().to_vec())),
    ]))
}

/// The sentinel's PUBLISH only takes hello messages from other sentinels.
fn publish(cx: &mut Ctx) -> Result<Reply, CmdError> {
    if cx.argv[1].as_ref() != super::HELLO_CHANNEL.as_bytes() {
        return Err(CmdError::err(
            "Only HELLO messages are accepted by Sentinel instances.",
        ));
    }
    let hello = text(&cx.argv[2]);
    super::monitor::process_hello(&mut state().lock(), &hello);
    Ok(Reply::Int(1))
}
