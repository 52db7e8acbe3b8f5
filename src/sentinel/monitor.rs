//! The monitoring half: connecting, periodic PING / INFO / hello, reading their replies
//! (INFO parsing, hello processing), subjective and objective down, and asking the other
//! sentinels about a master (redis `sentinelReconnectInstance`, `sentinelSendPeriodicCommands`,
//! `sentinelRefreshInstanceInfo`, `sentinelProcessHelloMessage`,
//! `sentinelCheckSubjectivelyDown`, `sentinelCheckObjectivelyDown`,
//! `sentinelAskMasterStateToOtherSentinels`).

use super::events::{self, Level};
use super::link::{self, Kind};
use super::state::*;
use super::{config, failover, mstime, safety, state};
use crate::cli::resp::Value;

/// An event about the instance `w` of master `m`.
pub fn ev(g: &Global, m: &Master, w: &Which, level: Level, kind: &str, suffix: &str) {
    if let Some(ri) = m.get(w) {
        events::about(g, level, kind, m, ri, suffix);
    }
}

fn is_sentinel(w: &Which) -> bool {
    matches!(w, Which::Sentinel(_))
}

/// A connection of instance `uid` ended (or never connected).
pub fn on_disconnect(uid: u64, gen: u64, pubsub: bool) {
    let mut st = state().lock();
    let Some((name, w)) = st.locate(uid) else {
        return;
    };
    let Some(ri) = st.masters.get_mut(&name).and_then(|m| m.get_mut(&w)) else {
        return;
    };
    if pubsub {
        if ri.link.pc.as_ref().is_some_and(|c| c.gen == gen) {
            ri.link.close_pc();
        }
    } else if ri.link.cc.as_ref().is_some_and(|c| c.gen == gen) {
        ri.link.close_cc();
    }
}

/// The local address of a command connection, for hello messages.
pub fn on_connected(uid: u64, gen: u64, local_ip: String) {
    let mut st = state().lock();
    let Some((name, w)) = st.locate(uid) else {
        return;
    };
    if let Some(ri) = st.masters.get_mut(&name).and_then(|m| m.get_mut(&w)) {
        if ri.link.cc.as_ref().is_some_and(|c| c.gen == gen) {
            ri.link.local_ip = Some(local_ip);
        }
    }
}

/// Replies read on a connection, in order.
pub fn on_replies(uid: u64, gen: u64, pubsub: bool, replies: Vec<(Kind, Value)>) {
    let mut st = state().lock();
    for (kind, v) in replies {
        let Some((name, w)) = st.locate(uid) else {
            return;
        };
        {
            let Some(ri) = st.masters.get_mut(&name).and_then(|m| m.get_mut(&w)) else {
                return;
            };
            let current = if pubsub { &ri.link.pc } else { &ri.link.cc };
            if current.as_ref().map(|c| c.gen) != Some(gen) {
                return;
            }
            if kind != Kind::Hello && !pubsub {
                ri.link.pending_commands -= 1;
            }
        }
        match kind {
            Kind::Discard => {}
            Kind::Ping => {
                if let Some(m) = st.masters.get_mut(&name) {
                    ping_reply(m, &w, &v);
                }
            }
            Kind::Info | Kind::FenceInfo => {
                if let Value::Bulk(b) = &v {
                    let info = String::from_utf8_lossy(b).into_owned();
                    refresh_info(&mut st, &name, &w, &info);
                    if kind == Kind::FenceInfo {
                        let State { g, masters } = &mut *st;
                        if let Some(m) = masters.get_mut(&name) {
                            safety::fence_info(g, m, &w);
                        }
                    }
                }
            }
            Kind::Fence => {
                if let Some(ri) = st.masters.get_mut(&name).and_then(|m| m.get_mut(&w)) {
                    safety::fence_reply(ri, !v.is_error());
                }
            }
            Kind::Publish => {
                if let Some(ri) = st.masters.get_mut(&name).and_then(|m| m.get_mut(&w)) {
                    if !v.is_error() {
                        ri.last_pub_time = mstime();
                    }
                }
            }
            Kind::IsMasterDown => {
                if let Some(ri) = st.masters.get_mut(&name).and_then(|m| m.get_mut(&w)) {
                    master_down_reply(ri, &v);
                }
            }
            Kind::Hello => {
                if let Some(ri) = st.masters.get_mut(&name).and_then(|m| m.get_mut(&w)) {
                    ri.link.pc_last_activity = mstime();
                }
                if let Some(payload) = hello_payload(&v) {
                    if !payload.contains(st.g.myid.as_str()) {
                        process_hello(&mut st, &payload);
                    }
                }
            }
        }
    }
}

fn hello_payload(v: &Value) -> Option<String> {
    let Value::Array(e) = v else { return None };
    match e.as_slice() {
        [Value::Bulk(k), Value::Bulk(_), Value::Bulk(p)] if k == b"message" => {
            Some(String::from_utf8_lossy(p).into_owned())
        }
        _ => None,
    }
}

fn ping_reply(m: &mut Master, w: &Which, v: &Value) {
    let cmd = m.map_command("SCRIPT");
    let Some(ri) = m.get_mut(w) else { return };
    let now = mstime();
    if let Some(text) = link::status_text(v) {
        if text.starts_with("PONG") || text.starts_with("LOADING") || text.starts_with("MASTERDOWN")
        {
            ri.link.last_avail_time = now;
            ri.link.act_ping_time = 0;
            if ri.flags & SRI_MASTER_REBOOT != 0 && text.starts_with("PONG") {
                ri.flags &= !SRI_MASTER_REBOOT;
            }
        } else if text.starts_with("BUSY")
            && ri.flags & SRI_S_DOWN != 0
            && ri.flags & SRI_SCRIPT_KILL_SENT == 0
        {
            ri.link.send(vec![cmd, "KILL".into()], Kind::Discard);
            ri.flags |= SRI_SCRIPT_KILL_SENT;
        }
    }
    ri.link.last_pong_time = now;
}

fn master_down_reply(ri: &mut Instance, v: &Value) {
    let Value::Array(e) = v else { return };
    let [Value::Int(down), Value::Bulk(leader), Value::Int(epoch)] = e.as_slice() else {
        return;
    };
    ri.last_master_down_reply_time = mstime();
    if *down == 1 {
        ri.flags |= SRI_MASTER_DOWN;
    } else {
        ri.flags &= !SRI_MASTER_DOWN;
    }
    if leader.as_slice() != b"*" {
        let leader = String::from_utf8_lossy(leader).into_owned();
        if ri.leader_epoch as i64 != *epoch {
            tracing::warn!("{} voted for {} {}", ri.name, leader, epoch);
        }
        ri.leader = Some(leader);
        ri.leader_epoch = (*epoch).max(0) as u64;
    }
}

/// redis `sentinelProcessHelloMessage`: `ip,port,runid,current_epoch,master_name,master_ip,
/// master_port,master_config_epoch`.
pub fn process_hello(st: &mut State, hello: &str) {
    let t: Vec<&str> = hello.split(',').collect();
    if t.len() != 8 {
        return;
    }
    let (ip, port, runid) = (t[0], atoi(t[1]), t[2]);
    let current_epoch = strtoull(t[3]);
    let (master_ip, master_port, master_config_epoch) = (t[5], atoi(t[6]), strtoull(t[7]));
    let name = t[4].to_string();
    let resolve = st.g.resolve_hostnames;
    let Some(m) = st.masters.get(&name) else {
        return;
    };
    let known = find_sentinel(m, Some((ip, port)), Some(runid), resolve);
    let mut si_key = known.clone();
    if known.is_none() {
        si_key = add_sentinel_from_hello(st, &name, ip, port, runid);
    }
    if current_epoch > st.g.current_epoch {
        st.g.current_epoch = current_epoch;
        config::flush(st);
        if let Some(m) = st.masters.get(&name) {
            let msg = st.g.current_epoch.to_string();
            events::emit(&st.g, Level::Warning, "+new-epoch", Some(m), &msg);
        }
    }
    let Some(si_key) = si_key else { return };
    let mut switch_from = None;
    {
        let State { g, masters } = &mut *st;
        let Some(m) = masters.get_mut(&name) else {
            return;
        };
        if m.config_epoch < master_config_epoch {
            m.config_epoch = master_config_epoch;
            if master_port != i64::from(m.inst.addr.port)
                || !m.inst.addr.equals_host(master_ip, g.resolve_hostnames)
            {
                let w = Which::Sentinel(si_key.clone());
                ev(g, m, &w, Level::Warning, "+config-update-from", "");
                let old = m.inst.addr.clone();
                let msg = format!(
                    "{} {} {} {master_ip} {master_port}",
                    m.inst.name,
                    g.announce(&old),
                    old.port
                );
                events::emit(g, Level::Warning, "+switch-master", Some(m), &msg);
                switch_from = Some(old);
            }
        }
    }
    if let Some(old) = switch_from {
        if failover::reset_and_change_address(st, &name, master_ip, master_port) {
            if let Some(m) = st.masters.get(&name) {
                failover::client_reconfig_script(&st.g, m, "observer", &old, &m.inst.addr);
            }
        }
    }
    if let Some(si) = st
        .masters
        .get_mut(&name)
        .and_then(|m| m.sentinels.get_mut(&si_key))
    {
        si.last_hello_time = mstime();
    }
}

/// A hello from a sentinel we do not know by address and run id: forget older entries for
/// its run id or address, and add it. Returns its key.
fn add_sentinel_from_hello(
    st: &mut State,
    name: &str,
    ip: &str,
    port: i64,
    runid: &str,
) -> Option<String> {
    let resolve = st.g.resolve_hostnames;
    let m = st.masters.get_mut(name)?;
    let removed = remove_sentinel_by_runid(m, runid);
    if removed > 0 {
        let msg = format!(
            "{} ip {ip} port {port} for {runid}",
            events::ident(&st.g, &m.inst, None)
        );
        events::emit(
            &st.g,
            Level::Notice,
            "+sentinel-address-switch",
            Some(m),
            &msg,
        );
    } else if let Some(other) = find_sentinel(m, Some((ip, port)), None, resolve) {
        let w = Which::Sentinel(other.clone());
        ev(&st.g, m, &w, Level::Notice, "+sentinel-invalid-addr", "");
        if let Some(obsolete) = m.sentinels.get(&other).and_then(|s| s.runid.clone()) {
            for mm in st.masters.values_mut() {
                remove_sentinel_by_runid(mm, &obsolete);
            }
        }
    }
    let addr = Addr::new(ip, port, resolve, true).ok()?;
    {
        let State { g, masters } = &mut *st;
        let m = masters.get_mut(name)?;
        m.add_sentinel(g, runid, addr)?;
        if removed == 0 {
            ev(
                g,
                m,
                &Which::Sentinel(runid.to_string()),
                Level::Notice,
                "+sentinel",
                "",
            );
        }
    }
    if removed > 0 {
        update_sentinel_address_everywhere(st, name, runid);
    }
    config::flush(st);
    Some(runid.to_string())
}

/// redis `getSentinelRedisInstanceByAddrAndRunID` on a master's sentinels.
fn find_sentinel(
    m: &Master,
    addr: Option<(&str, i64)>,
    runid: Option<&str>,
    resolve: bool,
) -> Option<String> {
    let want = match addr {
        Some((ip, port)) => Some(Addr::new(ip, port, resolve, true).ok()?),
        None => None,
    };
    m.sentinels
        .iter()
        .find(|(_, s)| {
            if runid.is_some() && s.runid.is_none() {
                return false;
            }
            runid.is_none_or(|r| s.runid.as_deref() == Some(r))
                && want.as_ref().is_none_or(|a| s.addr.same(a))
        })
        .map(|(k, _)| k.clone())
}

fn remove_sentinel_by_runid(m: &mut Master, runid: &str) -> usize {
    let before = m.sentinels.len();
    m.sentinels.retain(|_, s| s.runid.as_deref() != Some(runid));
    before - m.sentinels.len()
}

/// redis `sentinelUpdateSentinelAddressInAllMasters`.
fn update_sentinel_address_everywhere(st: &mut State, name: &str, runid: &str) {
    let Some(addr) = st
        .masters
        .get(name)
        .and_then(|m| m.sentinels.get(runid))
        .map(|s| s.addr.clone())
    else {
        return;
    };
    let mut reconfigured = 0;
    for (mname, m) in st.masters.iter_mut() {
        let Some(key) = m
            .sentinels
            .iter()
            .find(|(_, s)| s.runid.as_deref() == Some(runid))
            .map(|(k, _)| k.clone())
        else {
            continue;
        };
        let Some(s) = m.sentinels.get_mut(&key) else {
            continue;
        };
        s.link.close_all();
        if mname == name {
            continue;
        }
        s.addr = addr.clone();
        reconfigured += 1;
    }
    if reconfigured > 0 {
        if let Some(m) = st.masters.get(name) {
            ev(
                &st.g,
                m,
                &Which::Sentinel(runid.to_string()),
                Level::Notice,
                "+sentinel-address-update",
                &format!(" {reconfigured} additional matching instances"),
            );
        }
    }
}

pub fn atoi(s: &str) -> i64 {
    let s = s.trim_start();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let n: i64 = digits
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i64, |a, d| {
            a.wrapping_mul(10).wrapping_add(i64::from(d - b'0'))
        });
    if neg {
        -n
    } else {
        n
    }
}

pub fn strtoull(s: &str) -> u64 {
    s.trim_start()
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0u64, |a, d| {
            a.wrapping_mul(10).wrapping_add(u64::from(d - b'0'))
        })
}

/// redis `sentinelRefreshInstanceInfo`.
fn refresh_info(st: &mut State, name: &str, w: &Which, info: &str) {
    let now = mstime();
    let mut role = 0u32;
    let mut new_slaves: Vec<(String, i64)> = Vec::new();
    let mut reboot = false;
    {
        let Some(m) = st.masters.get_mut(name) else {
            return;
        };
        let reboot_period = m.master_reboot_down_after_period;
        let Some(ri) = m.get_mut(w) else { return };
        ri.info = Some(info.to_string());
        ri.master_link_down_time = 0;
        ri.fence_seen_epoch = 0;
        for l in info.split("\r\n") {
            if l.len() >= 47 && l.starts_with("run_id:") {
                let id = l.get(7..47).unwrap_or_default().to_string();
                match &ri.runid {
                    None => ri.runid = Some(id),
                    Some(old) if *old != id => {
                        reboot = true;
                        if ri.flags & SRI_MASTER != 0 && reboot_period != 0 {
                            ri.flags |= SRI_MASTER_REBOOT;
                            ri.master_reboot_since_time = now;
                        }
                        ri.runid = Some(id);
                    }
                    _ => {}
                }
            }
            if ri.flags & SRI_MASTER != 0
                && l.len() >= 7
                && l.starts_with("slave")
                && l.as_bytes()[5].is_ascii_digit()
            {
                if let Some(s) = parse_slave_line(l) {
                    new_slaves.push(s);
                }
            }
            safety::parse_info_line(&mut ri.history, l);
            if let Some(e) = l.strip_prefix("master_link_fenced_epoch:") {
                ri.fence_seen_epoch = strtoull(e);
            }
            if l.len() >= 32 && l.starts_with("master_link_down_since_seconds") {
                ri.master_link_down_time = atoi(l.get(31..).unwrap_or_default()) * 1000;
            }
            if l.starts_with("role:master") {
                role = SRI_MASTER;
            } else if l.starts_with("role:slave") {
                role = SRI_SLAVE;
            }
            if role == SRI_SLAVE {
                if let Some(h) = l.strip_prefix("master_host:") {
                    if ri
                        .slave_master_host
                        .as_ref()
                        .is_none_or(|o| !o.eq_ignore_ascii_case(h))
                    {
                        ri.slave_master_host = Some(h.to_string());
                        ri.slave_conf_change_time = now;
                    }
                }
                if let Some(p) = l.strip_prefix("master_port:") {
                    let p = atoi(p);
                    if ri.slave_master_port != p {
                        ri.slave_master_port = p;
                        ri.slave_conf_change_time = now;
                    }
                }
                if let Some(s) = l.strip_prefix("master_link_status:") {
                    ri.slave_master_link_up = s.eq_ignore_ascii_case("up");
                }
                if let Some(p) = l.strip_prefix("slave_priority:") {
                    ri.slave_priority = atoi(p);
                }
                if let Some(o) = l.strip_prefix("slave_repl_offset:") {
                    ri.slave_repl_offset = strtoull(o);
                }
                if let Some(a) = l.strip_prefix("replica_announced:") {
                    ri.replica_announced = atoi(a);
                }
            }
        }
        ri.info_refresh = mstime();
    }
    if reboot {
        let m = &st.masters[name];
        ev(&st.g, m, w, Level::Notice, "+reboot", "");
    }
    for (ip, port) in new_slaves {
        add_slave_if_new(st, name, &ip, port);
    }
    let State { g, masters } = &mut *st;
    let Some(m) = masters.get_mut(name) else {
        return;
    };
    let Some(ri) = m.get_mut(w) else { return };
    if role == SRI_SLAVE {
        ri.reported_replica = true;
    }
    if role != ri.role_reported {
        ri.role_reported_time = mstime();
        ri.role_reported = role;
        if role == SRI_SLAVE {
            ri.slave_conf_change_time = mstime();
        }
        let coherent = ri.flags & (SRI_MASTER | SRI_SLAVE) == role;
        let suffix = format!(
            " new reported role is {}",
            if role == SRI_MASTER {
                "master"
            } else {
                "slave"
            }
        );
        let kind = if coherent {
            "+role-change"
        } else {
            "-role-change"
        };
        ev(g, m, w, Level::Verbose, kind, &suffix);
    }
    if *w == Which::Master {
        m.inst.history_lost = safety::lost_history(g, m);
    }
    if g.tilt {
        return;
    }
    safety::release_stale_fence(g, m, w);
    failover::act_on_info(st, name, w, role);
}

/// `slaveN:ip=...,port=...` (or the old `slaveN:<ip>,<port>,<state>`).
fn parse_slave_line(l: &str) -> Option<(String, i64)> {
    let rest = &l[l.find(':')? + 1..];
    if !l.contains("ip=") {
        let mut parts = rest.split(',');
        let ip = parts.next()?;
        let port = parts.next()?;
        parts.next()?;
        return Some((ip.to_string(), atoi(port)));
    }
    let ip = &l[l.find("ip=")? + 3..];
    let ip = ip.split(',').next()?;
    let port = &l[l.find("port=")? + 5..];
    let port = port.split(',').next()?;
    Some((ip.to_string(), atoi(port)))
}

fn add_slave_if_new(st: &mut State, name: &str, ip: &str, port: i64) {
    let State { g, masters } = &mut *st;
    let Some(m) = masters.get_mut(name) else {
        return;
    };
    let Ok(addr) = Addr::new(ip, port, g.resolve_hostnames, true) else {
        return;
    };
    if m.slaves.values().any(|s| s.addr.same(&addr)) {
        return;
    }
    let Some(key) = m.add_slave(g, addr) else {
        return;
    };
    ev(g, m, &Which::Slave(key), Level::Notice, "+slave", "");
    config::flush(st);
}

/// redis `sentinelReconnectInstance`.
pub fn reconnect(g: &Global, m: &mut Master, w: &Which) {
    let sentinel = is_sentinel(w);
    let myid = g.myid.clone();
    let (auth_user, auth_pass) = if sentinel {
        if g.sentinel_auth_pass.is_some() {
            (g.sentinel_auth_user.clone(), g.sentinel_auth_pass.clone())
        } else {
            (None, g.requirepass.clone())
        }
    } else {
        (m.auth_user.clone(), m.auth_pass.clone())
    };
    let cmds = [
        m.map_command("AUTH"),
        m.map_command("CLIENT"),
        m.map_command("PING"),
        m.map_command("SUBSCRIBE"),
    ];
    let resolve = g.resolve_hostnames;
    let ping_period = g.timing.ping_period;
    let Some(ri) = m.get_mut(w) else { return };
    if !ri.link.disconnected(sentinel) || ri.addr.port == 0 {
        return;
    }
    let now = mstime();
    if now - ri.link.last_reconn_time < ping_period {
        return;
    }
    ri.link.last_reconn_time = now;
    let auth = |link: &mut link::Link, pubsub: bool| {
        let argv = match (&auth_user, &auth_pass) {
            (None, Some(p)) => Some(vec![cmds[0].clone(), p.clone()]),
            (Some(u), Some(p)) => Some(vec![cmds[0].clone(), u.clone(), p.clone()]),
            _ => None,
        };
        if let Some(argv) = argv {
            if pubsub {
                link.send_pubsub(argv, Kind::Discard);
            } else {
                link.send(argv, Kind::Discard);
            }
        }
    };
    if ri.link.cc.is_none() {
        if resolve {
            if let Ok(a) = Addr::new(&ri.addr.hostname, i64::from(ri.addr.port), true, false) {
                ri.addr = a;
            }
        }
        ri.link.cc = Some(link::open(ri.uid, false, ri.addr.ip.clone(), ri.addr.port));
        ri.link.pending_commands = 0;
        ri.link.cc_conn_time = mstime();
        ri.link.local_ip = None;
        auth(&mut ri.link, false);
        let setname = format!("sentinel-{}-cmd", myid.get(..8).unwrap_or(&myid));
        ri.link.send(
            vec![cmds[1].clone(), "SETNAME".into(), setname],
            Kind::Discard,
        );
        send_ping_with(ri, cmds[2].clone());
    }
    if !sentinel && ri.link.pc.is_none() {
        ri.link.pc = Some(link::open(ri.uid, true, ri.addr.ip.clone(), ri.addr.port));
        ri.link.pc_conn_time = mstime();
        auth(&mut ri.link, true);
        let setname = format!("sentinel-{}-pubsub", myid.get(..8).unwrap_or(&myid));
        ri.link.send_pubsub(
            vec![cmds[1].clone(), "SETNAME".into(), setname],
            Kind::Discard,
        );
        ri.link.send_pubsub(
            vec![cmds[3].clone(), super::HELLO_CHANNEL.into()],
            Kind::Hello,
        );
    }
}

fn send_ping_with(ri: &mut Instance, cmd: String) -> bool {
    if ri.link.send(vec![cmd], Kind::Ping) {
        ri.link.last_ping_time = mstime();
        if ri.link.act_ping_time == 0 {
            ri.link.act_ping_time = ri.link.last_ping_time;
        }
        true
    } else {
        false
    }
}

/// redis `sentinelSendPeriodicCommands`.
pub fn send_periodic(g: &Global, m: &mut Master, w: &Which) {
    let now = mstime();
    let sentinel = is_sentinel(w);
    let master_busy = m.inst.flags & (SRI_O_DOWN | SRI_FAILOVER_IN_PROGRESS) != 0;
    // With wait-replicas, histories are compared: every instance's INFO is kept fresh.
    let ha = safety::enabled(m);
    let (info_cmd, ping_cmd) = (m.map_command("INFO"), m.map_command("PING"));
    let Some(ri) = m.get_mut(w) else { return };
    if ri.link.disconnected(sentinel) {
        return;
    }
    if ri.link.pending_commands >= MAX_PENDING_COMMANDS {
        return;
    }
    let info_period = if (ri.flags & SRI_SLAVE != 0
        && (master_busy || ri.master_link_down_time != 0))
        || (ha && !sentinel)
    {
        1000
    } else {
        g.timing.info_period
    };
    let ping_period = ri.down_after_period.min(g.timing.ping_period);
    if !sentinel && (ri.info_refresh == 0 || now - ri.info_refresh > info_period) {
        ri.link.send(vec![info_cmd], Kind::Info);
    }
    if now - ri.link.last_pong_time > ping_period && now - ri.link.last_ping_time > ping_period / 2
    {
        send_ping_with(ri, ping_cmd);
    }
    if now - ri.last_pub_time > g.timing.publish_period {
        send_hello(g, m, w);
    }
}

/// redis `sentinelSendHello`.
pub fn send_hello(g: &Global, m: &mut Master, w: &Which) -> bool {
    let addr = m.current_addr().clone();
    let payload_tail = format!(
        "{},{},{},{}",
        m.inst.name,
        g.announce(&addr),
        addr.port,
        m.config_epoch
    );
    let publish = m.map_command("PUBLISH");
    let sentinel = is_sentinel(w);
    let Some(ri) = m.get_mut(w) else { return false };
    if ri.link.disconnected(sentinel) {
        return false;
    }
    let ip = match &g.announce_ip {
        Some(ip) => ip.clone(),
        None => match &ri.link.local_ip {
            Some(ip) => ip.clone(),
            None => return false,
        },
    };
    let port = if g.announce_port != 0 {
        g.announce_port
    } else {
        i64::from(g.port)
    };
    let payload = format!("{ip},{port},{},{},{payload_tail}", g.myid, g.current_epoch);
    ri.link.send(
        vec![publish, super::HELLO_CHANNEL.into(), payload],
        Kind::Publish,
    )
}

/// redis `sentinelForceHelloUpdateForMaster`.
pub fn force_hello_update(g: &Global, m: &mut Master) {
    let p = g.timing.publish_period + 1;
    let bump = |ri: &mut Instance| {
        if ri.last_pub_time >= p {
            ri.last_pub_time -= p;
        }
    };
    bump(&mut m.inst);
    m.sentinels.values_mut().for_each(bump);
    m.slaves.values_mut().for_each(bump);
}

/// redis `sentinelCheckSubjectivelyDown`.
pub fn check_sdown(g: &Global, m: &mut Master, w: &Which) {
    let now = mstime();
    let sentinel = is_sentinel(w);
    let reboot_period = m.master_reboot_down_after_period;
    let lost_history = *w == Which::Master && safety::enabled(m) && m.inst.history_lost;
    let t = &g.timing;
    let Some(ri) = m.get_mut(w) else { return };
    let elapsed = if ri.link.act_ping_time != 0 {
        now - ri.link.act_ping_time
    } else if ri.link.disconnected(sentinel) {
        now - ri.link.last_avail_time
    } else {
        0
    };
    if ri.link.cc.is_some()
        && now - ri.link.cc_conn_time > t.min_link_reconnect_period
        && ri.link.act_ping_time != 0
        && now - ri.link.act_ping_time > ri.down_after_period / 2
        && now - ri.link.last_pong_time > ri.down_after_period / 2
    {
        ri.link.close_cc();
    }
    if ri.link.pc.is_some()
        && now - ri.link.pc_conn_time > t.min_link_reconnect_period
        && now - ri.link.pc_last_activity > t.publish_period * 3
    {
        ri.link.close_pc();
    }
    let down = elapsed > ri.down_after_period
        || (ri.flags & SRI_MASTER != 0
            && ri.role_reported == SRI_SLAVE
            && now - ri.role_reported_time > ri.down_after_period + t.info_period * 2)
        || (ri.flags & SRI_MASTER_REBOOT != 0 && now - ri.master_reboot_since_time > reboot_period)
        || lost_history;
    if down {
        if ri.flags & SRI_S_DOWN == 0 {
            ri.s_down_since_time = now;
            ri.flags |= SRI_S_DOWN;
            ev(g, m, w, Level::Warning, "+sdown", "");
        }
    } else if ri.flags & SRI_S_DOWN != 0 {
        ri.flags &= !(SRI_S_DOWN | SRI_SCRIPT_KILL_SENT);
        ev(g, m, w, Level::Warning, "-sdown", "");
    }
}

/// redis `sentinelCheckObjectivelyDown`.
pub fn check_odown(g: &Global, m: &mut Master) {
    let mut quorum = 0i64;
    let mut odown = false;
    if m.inst.flags & SRI_S_DOWN != 0 {
        quorum = 1 + m
            .sentinels
            .values()
            .filter(|s| s.flags & SRI_MASTER_DOWN != 0)
            .count() as i64;
        odown = quorum >= m.quorum;
    }
    if odown {
        if m.inst.flags & SRI_O_DOWN == 0 {
            m.inst.flags |= SRI_O_DOWN;
            m.inst.o_down_since_time = mstime();
            let suffix = format!(" #quorum {quorum}/{}", m.quorum);
            ev(g, m, &Which::Master, Level::Warning, "+odown", &suffix);
        }
    } else if m.inst.flags & SRI_O_DOWN != 0 {
        m.inst.flags &= !SRI_O_DOWN;
        ev(g, m, &Which::Master, Level::Warning, "-odown", "");
    }
}

/// redis `sentinelAskMasterStateToOtherSentinels`.
pub fn ask_others(g: &Global, m: &mut Master, forced: bool) {
    let now = mstime();
    let cmd = m.map_command("SENTINEL");
    let master_addr = (g.announce(&m.inst.addr).to_string(), m.inst.addr.port);
    let sdown = m.inst.flags & SRI_S_DOWN != 0;
    let runid = if m.failover_state > Failover::None {
        g.myid.clone()
    } else {
        "*".to_string()
    };
    for ri in m.sentinels.values_mut() {
        let elapsed = now - ri.last_master_down_reply_time;
        if elapsed > g.timing.ask_period * 5 {
            ri.flags &= !SRI_MASTER_DOWN;
            ri.leader = None;
        }
        if !sdown || ri.link.disconnected(true) {
            continue;
        }
        if !forced && now - ri.last_master_down_reply_time < g.timing.ask_period {
            continue;
        }
        ri.link.send(
            vec![
                cmd.clone(),
                "is-master-down-by-addr".into(),
                master_addr.0.clone(),
                master_addr.1.to_string(),
                g.current_epoch.to_string(),
                runid.clone(),
            ],
            Kind::IsMasterDown,
        );
    }
}
