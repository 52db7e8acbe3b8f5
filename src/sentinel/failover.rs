//! The acting half: reconfiguring instances from what INFO says, leader election by epochs,
//! and the failover state machine (redis `sentinelStartFailoverIfNeeded`,
//! `sentinelVoteLeader`, `sentinelGetLeader`, `sentinelSelectSlave`,
//! `sentinelFailoverStateMachine`, `sentinelResetMasterAndChangeAddress`).

use std::collections::HashMap;

use super::events::{self, Level};
use super::link::Kind;
use super::monitor::{ev, force_hello_update};
use super::state::*;
use super::{config, mstime, safety};

/// What the INFO of instance `w` (reporting `role`) asks of us.
pub fn act_on_info(st: &mut State, name: &str, w: &Which, role: u32) {
    let State { g, masters } = &mut *st;
    let Some(m) = masters.get_mut(name) else {
        return;
    };
    if act_on_info_in(g, m, w, role) {
        config::flush(st);
    }
}

/// [`act_on_info`] within the master; true when the config must be flushed.
fn act_on_info_in(g: &Global, m: &mut Master, w: &Which, role: u32) -> bool {
    let now = mstime();
    let mut flush = false;
    let Some(ri) = m.get(w) else { return flush };
    let flags = ri.flags;
    // A replica turned master.
    if flags & SRI_SLAVE != 0 && role == SRI_MASTER {
        if flags & SRI_PROMOTED != 0
            && m.inst.flags & SRI_FAILOVER_IN_PROGRESS != 0
            && m.failover_state == Failover::WaitPromotion
        {
            m.config_epoch = m.failover_epoch;
            m.failover_state = Failover::ReconfSlaves;
            m.failover_state_change_time = now;
            flush = true;
            ev(g, m, w, Level::Warning, "+promoted-slave", "");
            if g.simfailure_flags & SIMFAILURE_CRASH_AFTER_PROMOTION != 0 {
                crash();
            }
            ev(
                g,
                m,
                &Which::Master,
                Level::Warning,
                "+failover-state-reconf-slaves",
                "",
            );
            if let Some(p) = m.get(w) {
                let to = p.addr.clone();
                let from = m.inst.addr.clone();
                client_reconfig_script(g, m, "leader", &from, &to);
            }
            force_hello_update(g, m);
        } else {
            let wait = g.timing.publish_period * 4;
            let ri = m.get(w).expect("present");
            if flags & SRI_PROMOTED == 0
                && master_looks_sane(g, &m.inst)
                && ri.no_down_for(wait)
                && now - ri.role_reported_time > wait
            {
                let to = m.inst.addr.clone();
                if send_slaveof(g, m, w, Some(&to)) {
                    ev(g, m, w, Level::Notice, "+convert-to-slave", "");
                }
            }
        }
    }
    // A replica replicating from the wrong address.
    let Some(ri) = m.get(w) else { return flush };
    if flags & SRI_SLAVE != 0
        && role == SRI_SLAVE
        && (ri.slave_master_port != i64::from(m.inst.addr.port)
            || !ri
                .slave_master_host
                .as_ref()
                .is_some_and(|h| m.inst.addr.equals_host(h, g.resolve_hostnames)))
    {
        let wait = m.failover_timeout;
        if master_looks_sane(g, &m.inst)
            && ri.no_down_for(wait)
            && now - ri.slave_conf_change_time > wait
        {
            let to = m.inst.addr.clone();
            if send_slaveof(g, m, w, Some(&to)) {
                ev(g, m, w, Level::Notice, "+fix-slave-config", "");
            }
        }
    }
    // A replica being reconfigured moving on.
    let Some(ri) = m.get(w) else { return flush };
    if flags & SRI_SLAVE != 0
        && role == SRI_SLAVE
        && ri.flags & (SRI_RECONF_SENT | SRI_RECONF_INPROG) != 0
    {
        let Some(promoted) = m.promoted().map(|p| p.addr.clone()) else {
            return flush;
        };
        let ri = m.get(w).expect("present");
        if ri.flags & SRI_RECONF_SENT != 0
            && ri
                .slave_master_host
                .as_ref()
                .is_some_and(|h| promoted.equals_host(h, g.resolve_hostnames))
            && ri.slave_master_port == i64::from(promoted.port)
        {
            let ri = m.get_mut(w).expect("present");
            ri.flags &= !SRI_RECONF_SENT;
            ri.flags |= SRI_RECONF_INPROG;
            ev(g, m, w, Level::Notice, "+slave-reconf-inprog", "");
        }
        let ri = m.get_mut(w).expect("present");
        if ri.flags & SRI_RECONF_INPROG != 0 && ri.slave_master_link_up {
            ri.flags &= !SRI_RECONF_INPROG;
            ri.flags |= SRI_RECONF_DONE;
            ev(g, m, w, Level::Notice, "+slave-reconf-done", "");
        }
    }
    flush
}

fn crash() -> ! {
    tracing::warn!("Sentinel CRASH because of SENTINEL simulate-failure");
    std::process::exit(99);
}

/// redis `sentinelMasterLooksSane`; with `wait-replicas`, a master whose last INFO showed a
/// lost history is not sane either, from that INFO on (its S_DOWN follows at the next
/// check): no replica is pointed at it, since following it would roll the replica back.
pub fn master_looks_sane(g: &Global, m: &Instance) -> bool {
    m.flags & SRI_MASTER != 0
        && m.role_reported == SRI_MASTER
        && m.flags & (SRI_S_DOWN | SRI_O_DOWN) == 0
        && !m.history_lost
        && mstime() - m.info_refresh < g.timing.info_period * 2
}

/// redis `sentinelSendSlaveOf`: the reconfiguration transaction, replies ignored (INFO
/// shows the effect). `None` sends SLAVEOF NO ONE.
pub fn send_slaveof(g: &Global, m: &mut Master, w: &Which, to: Option<&Addr>) -> bool {
    let (host, port) = match to {
        Some(a) => (g.announce(a).to_string(), a.port.to_string()),
        None => ("NO".to_string(), "ONE".to_string()),
    };
    let cmds: Vec<Vec<String>> = vec![
        vec![m.map_command("MULTI")],
        vec![m.map_command("SLAVEOF"), host, port],
        vec![m.map_command("CONFIG"), "REWRITE".into()],
        vec![
            m.map_command("CLIENT"),
            "KILL".into(),
            "TYPE".into(),
            "normal".into(),
        ],
        vec![
            m.map_command("CLIENT"),
            "KILL".into(),
            "TYPE".into(),
            "pubsub".into(),
        ],
        vec![m.map_command("EXEC")],
    ];
    let Some(ri) = m.get_mut(w) else { return false };
    for c in cmds {
        if !ri.link.send(c, Kind::Discard) {
            return false;
        }
    }
    true
}

/// redis `sentinelCallClientReconfScript`.
pub fn client_reconfig_script(g: &Global, m: &Master, role: &str, from: &Addr, to: &Addr) {
    let Some(script) = &m.client_reconfig_script else {
        return;
    };
    g.scripts.schedule(
        script,
        vec![
            m.inst.name.clone(),
            role.to_string(),
            "start".to_string(),
            g.announce(from).to_string(),
            from.port.to_string(),
            g.announce(to).to_string(),
            to.port.to_string(),
        ],
    );
}

/// redis `sentinelResetMaster`.
pub fn reset_master(g: &Global, m: &mut Master, keep_sentinels: bool, event: bool) {
    m.slaves.clear();
    if !keep_sentinels {
        m.sentinels.clear();
    }
    m.inst.link.close_all();
    m.inst.flags &= SRI_MASTER;
    m.inst.leader = None;
    m.failover_state = Failover::None;
    m.failover_state_change_time = 0;
    m.failover_start_time = 0;
    m.promoted = None;
    m.inst.runid = None;
    m.inst.history_lost = false;
    m.inst.slave_master_host = None;
    let now = mstime();
    m.inst.link.act_ping_time = now;
    m.inst.link.last_ping_time = 0;
    m.inst.link.last_avail_time = now;
    m.inst.link.last_pong_time = now;
    m.inst.role_reported_time = now;
    m.inst.role_reported = SRI_MASTER;
    if event {
        ev(g, m, &Which::Master, Level::Warning, "+reset-master", "");
    }
}

/// redis `sentinelResetMasterAndChangeAddress`; false when the address is not valid.
pub fn reset_and_change_address(st: &mut State, name: &str, host: &str, port: i64) -> bool {
    let State { g, masters } = &mut *st;
    let Some(m) = masters.get_mut(name) else {
        return false;
    };
    let Ok(new) = Addr::new(host, port, g.resolve_hostnames, false) else {
        return false;
    };
    let mut slaves: Vec<Addr> = m
        .slaves
        .values()
        .filter(|s| !s.addr.same(&new))
        .map(|s| s.addr.clone())
        .collect();
    if !new.same(&m.inst.addr) {
        slaves.push(m.inst.addr.clone());
    }
    reset_master(g, m, true, false);
    m.inst.addr = new;
    m.inst.o_down_since_time = 0;
    m.inst.s_down_since_time = 0;
    for a in slaves {
        let Ok(addr) = Addr::new(&a.hostname, i64::from(a.port), g.resolve_hostnames, true) else {
            continue;
        };
        if let Some(key) = m.add_slave(g, addr) {
            ev(g, m, &Which::Slave(key), Level::Notice, "+slave", "");
        }
    }
    config::flush(st);
    true
}

/// redis `sentinelVoteLeader`: our vote for `epoch` (given now if we have not voted yet).
pub fn vote_leader(
    st: &mut State,
    name: &str,
    req_epoch: u64,
    req_runid: &str,
) -> (Option<String>, u64) {
    if req_epoch > st.g.current_epoch {
        st.g.current_epoch = req_epoch;
        config::flush(st);
        if let Some(m) = st.masters.get(name) {
            let msg = st.g.current_epoch.to_string();
            events::emit(&st.g, Level::Warning, "+new-epoch", Some(m), &msg);
        }
    }
    let State { g, masters } = &mut *st;
    let Some(m) = masters.get_mut(name) else {
        return (None, 0);
    };
    if m.inst.leader_epoch < req_epoch && g.current_epoch <= req_epoch {
        m.inst.leader = Some(req_runid.to_string());
        m.inst.leader_epoch = g.current_epoch;
        config::flush_parts(g, masters);
        let m = masters.get_mut(name).expect("present");
        let msg = format!("{req_runid} {}", m.inst.leader_epoch);
        events::emit(g, Level::Warning, "+vote-for-leader", Some(m), &msg);
        if !req_runid.eq_ignore_ascii_case(&g.myid) {
            m.failover_start_time = mstime() + rand::random::<i64>().rem_euclid(MAX_DESYNC);
        }
    }
    let m = &masters[name];
    (m.inst.leader.clone(), m.inst.leader_epoch)
}

/// redis `sentinelGetLeader`: the sentinel with a majority of votes (and at least quorum)
/// for `epoch`, voting ourselves on the way.
fn get_leader(st: &mut State, name: &str, epoch: u64) -> Option<String> {
    let (voters, quorum, mut counters) = {
        let m = st.masters.get(name)?;
        let mut counters: HashMap<String, u64> = HashMap::new();
        for s in m.sentinels.values() {
            if let Some(l) = &s.leader {
                if s.leader_epoch == st.g.current_epoch {
                    *counters.entry(l.clone()).or_default() += 1;
                }
            }
        }
        (m.sentinels.len() as u64 + 1, m.quorum, counters)
    };
    let mut max_votes = 0;
    let mut winner: Option<String> = None;
    for (k, &v) in &counters {
        if v > max_votes {
            max_votes = v;
            winner = Some(k.clone());
        }
    }
    let myid = st.g.myid.clone();
    let candidate = winner.clone().unwrap_or(myid);
    let (myvote, leader_epoch) = vote_leader(st, name, epoch, &candidate);
    if let Some(v) = myvote {
        if leader_epoch == epoch {
            let n = counters.entry(v.clone()).or_default();
            *n += 1;
            if *n > max_votes {
                max_votes = *n;
                winner = Some(v);
            }
        }
    }
    let voters_quorum = voters / 2 + 1;
    if max_votes < voters_quorum || (max_votes as i64) < quorum {
        return None;
    }
    winner
}

/// redis `sentinelStartFailover`.
pub fn start_failover(g: &mut Global, m: &mut Master) {
    m.failover_state = Failover::WaitStart;
    m.inst.flags |= SRI_FAILOVER_IN_PROGRESS;
    g.current_epoch += 1;
    m.failover_epoch = g.current_epoch;
    let msg = g.current_epoch.to_string();
    events::emit(g, Level::Warning, "+new-epoch", Some(m), &msg);
    ev(g, m, &Which::Master, Level::Warning, "+try-failover", "");
    m.failover_start_time = mstime() + rand::random::<i64>().rem_euclid(MAX_DESYNC);
    m.failover_state_change_time = mstime();
}

/// redis `sentinelStartFailoverIfNeeded`.
pub fn start_failover_if_needed(g: &mut Global, m: &mut Master) -> bool {
    if m.inst.flags & SRI_O_DOWN == 0 || m.inst.flags & SRI_FAILOVER_IN_PROGRESS != 0 {
        return false;
    }
    if mstime() - m.failover_start_time < m.failover_timeout * 2 {
        if m.failover_delay_logged != m.failover_start_time {
            m.failover_delay_logged = m.failover_start_time;
            let secs = (m.failover_start_time + m.failover_timeout * 2) / 1000;
            tracing::warn!(
                "Next failover delay: I will not start a failover before {}",
                crate::server::logging::ctime(secs)
            );
        }
        return false;
    }
    start_failover(g, m);
    true
}

/// redis `sentinelSelectSlave`: the key of the best replica to promote.
pub fn select_slave(g: &Global, m: &Master) -> Option<String> {
    let now = mstime();
    let mut max_down = 0;
    if m.inst.flags & SRI_S_DOWN != 0 {
        max_down += now - m.inst.s_down_since_time;
    }
    max_down += m.inst.down_after_period * 10;
    let validity = if m.inst.flags & SRI_S_DOWN != 0 {
        g.timing.ping_period * 5
    } else {
        g.timing.info_period * 3
    };
    let mut ok: Vec<(&String, &Instance)> = m
        .slaves
        .iter()
        .filter(|(_, s)| {
            s.flags & (SRI_S_DOWN | SRI_O_DOWN) == 0
                && !s.link.disconnected(false)
                && now - s.link.last_avail_time <= g.timing.ping_period * 5
                && s.slave_priority != 0
                && now - s.info_refresh <= validity
                && s.master_link_down_time <= max_down
        })
        .collect();
    ok.sort_by(|(_, a), (_, b)| {
        a.slave_priority
            .cmp(&b.slave_priority)
            .then(b.slave_repl_offset.cmp(&a.slave_repl_offset))
            .then_with(|| match (&a.runid, &b.runid) {
                (None, None) => std::cmp::Ordering::Equal,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(_), None) => std::cmp::Ordering::Less,
                (Some(x), Some(y)) => x.to_ascii_lowercase().cmp(&y.to_ascii_lowercase()),
            })
    });
    ok.first().map(|(k, _)| (*k).clone())
}

/// redis `sentinelAbortFailover`.
pub fn abort(m: &mut Master) {
    safety::unfence(m);
    m.inst.flags &= !(SRI_FAILOVER_IN_PROGRESS | SRI_FORCE_FAILOVER);
    m.failover_state = Failover::None;
    m.failover_state_change_time = mstime();
    if let Some(k) = m.promoted.take() {
        if let Some(s) = m.slaves.get_mut(&k) {
            s.flags &= !SRI_PROMOTED;
        }
    }
}

/// redis `sentinelFailoverStateMachine`.
pub fn state_machine(st: &mut State, name: &str) {
    let Some(m) = st.masters.get(name) else {
        return;
    };
    if m.inst.flags & SRI_FAILOVER_IN_PROGRESS == 0 {
        return;
    }
    match m.failover_state {
        Failover::WaitStart => wait_start(st, name),
        Failover::SelectSlave => {
            let State { g, masters } = &mut *st;
            let m = masters.get_mut(name).expect("present");
            let choice = if safety::enabled(m) {
                match safety::select(g, m) {
                    safety::Step::Wait => return,
                    safety::Step::TooFew => {
                        let w = Which::Master;
                        ev(
                            g,
                            m,
                            &w,
                            Level::Warning,
                            "-failover-abort-too-few-replicas",
                            "",
                        );
                        abort(m);
                        return;
                    }
                    safety::Step::Diverged(histories) => {
                        let w = Which::Master;
                        ev(
                            g,
                            m,
                            &w,
                            Level::Warning,
                            "-failover-abort-histories-diverged",
                            &histories,
                        );
                        abort(m);
                        return;
                    }
                    safety::Step::Promote(k) => Some(k),
                }
            } else {
                select_slave(g, m)
            };
            match choice {
                None => {
                    ev(
                        g,
                        m,
                        &Which::Master,
                        Level::Warning,
                        "-failover-abort-no-good-slave",
                        "",
                    );
                    abort(m);
                }
                Some(k) => {
                    let w = Which::Slave(k.clone());
                    ev(g, m, &w, Level::Warning, "+selected-slave", "");
                    if let Some(s) = m.slaves.get_mut(&k) {
                        s.flags |= SRI_PROMOTED;
                    }
                    m.promoted = Some(k);
                    m.failover_state = Failover::SendSlaveofNoOne;
                    m.failover_state_change_time = mstime();
                    ev(
                        g,
                        m,
                        &w,
                        Level::Notice,
                        "+failover-state-send-slaveof-noone",
                        "",
                    );
                }
            }
        }
        Failover::SendSlaveofNoOne => {
            let State { g, masters } = &mut *st;
            let m = masters.get_mut(name).expect("present");
            let Some(k) = m.promoted.clone() else { return };
            let w = Which::Slave(k);
            let disconnected = m.get(&w).is_none_or(|p| p.link.disconnected(false));
            if disconnected {
                if mstime() - m.failover_state_change_time > m.failover_timeout {
                    ev(
                        g,
                        m,
                        &Which::Master,
                        Level::Warning,
                        "-failover-abort-slave-timeout",
                        "",
                    );
                    abort(m);
                }
                return;
            }
            if !send_slaveof(g, m, &w, None) {
                return;
            }
            ev(
                g,
                m,
                &w,
                Level::Notice,
                "+failover-state-wait-promotion",
                "",
            );
            m.failover_state = Failover::WaitPromotion;
            m.failover_state_change_time = mstime();
        }
        Failover::WaitPromotion => {
            let State { g, masters } = &mut *st;
            let m = masters.get_mut(name).expect("present");
            if mstime() - m.failover_state_change_time > m.failover_timeout {
                ev(
                    g,
                    m,
                    &Which::Master,
                    Level::Warning,
                    "-failover-abort-slave-timeout",
                    "",
                );
                abort(m);
            }
        }
        Failover::ReconfSlaves => reconf_next_slave(st, name),
        Failover::None | Failover::UpdateConfig => {}
    }
}

fn wait_start(st: &mut State, name: &str) {
    let epoch = st.masters[name].failover_epoch;
    let leader = get_leader(st, name, epoch);
    let State { g, masters } = &mut *st;
    let m = masters.get_mut(name).expect("present");
    let isleader = leader.is_some_and(|l| l.eq_ignore_ascii_case(&g.myid));
    if !isleader && m.inst.flags & SRI_FORCE_FAILOVER == 0 {
        let timeout = g.timing.election_timeout.min(m.failover_timeout);
        if mstime() - m.failover_start_time > timeout {
            ev(
                g,
                m,
                &Which::Master,
                Level::Warning,
                "-failover-abort-not-elected",
                "",
            );
            abort(m);
        }
        return;
    }
    ev(g, m, &Which::Master, Level::Warning, "+elected-leader", "");
    if g.simfailure_flags & SIMFAILURE_CRASH_AFTER_ELECTION != 0 {
        crash();
    }
    m.failover_state = Failover::SelectSlave;
    m.failover_state_change_time = mstime();
    ev(
        g,
        m,
        &Which::Master,
        Level::Warning,
        "+failover-state-select-slave",
        "",
    );
}

/// redis `sentinelFailoverReconfNextSlave` + `sentinelFailoverDetectEnd`.
fn reconf_next_slave(st: &mut State, name: &str) {
    let State { g, masters } = &mut *st;
    let m = masters.get_mut(name).expect("present");
    let Some(promoted) = m.promoted().map(|p| p.addr.clone()) else {
        return;
    };
    let mut in_progress = m
        .slaves
        .values()
        .filter(|s| s.flags & (SRI_RECONF_SENT | SRI_RECONF_INPROG) != 0)
        .count() as i64;
    let keys: Vec<String> = m.slaves.keys().cloned().collect();
    for k in keys {
        if in_progress >= m.parallel_syncs {
            break;
        }
        let w = Which::Slave(k.clone());
        let s = &m.slaves[&k];
        if s.flags & (SRI_PROMOTED | SRI_RECONF_DONE) != 0 {
            continue;
        }
        if s.flags & SRI_RECONF_SENT != 0
            && mstime() - s.slave_reconf_sent_time > g.timing.slave_reconf_timeout
        {
            ev(g, m, &w, Level::Notice, "-slave-reconf-sent-timeout", "");
            let s = m.slaves.get_mut(&k).expect("present");
            s.flags &= !SRI_RECONF_SENT;
            s.flags |= SRI_RECONF_DONE;
        }
        let s = &m.slaves[&k];
        if s.flags & (SRI_RECONF_SENT | SRI_RECONF_INPROG) != 0 || s.link.disconnected(false) {
            continue;
        }
        if send_slaveof(g, m, &w, Some(&promoted)) {
            let s = m.slaves.get_mut(&k).expect("present");
            s.flags |= SRI_RECONF_SENT;
            s.slave_reconf_sent_time = mstime();
            ev(g, m, &w, Level::Notice, "+slave-reconf-sent", "");
            in_progress += 1;
        }
    }
    detect_end(g, m, &promoted);
}

fn detect_end(g: &Global, m: &mut Master, promoted: &Addr) {
    let elapsed = mstime() - m.failover_state_change_time;
    if m.promoted().is_none_or(|p| p.flags & SRI_S_DOWN != 0) {
        return;
    }
    let mut not_reconfigured = m
        .slaves
        .values()
        .filter(|s| s.flags & (SRI_PROMOTED | SRI_RECONF_DONE) == 0 && s.flags & SRI_S_DOWN == 0)
        .count();
    let mut timeout = false;
    if elapsed > m.failover_timeout {
        not_reconfigured = 0;
        timeout = true;
        ev(
            g,
            m,
            &Which::Master,
            Level::Warning,
            "+failover-end-for-timeout",
            "",
        );
    }
    if not_reconfigured == 0 {
        ev(g, m, &Which::Master, Level::Warning, "+failover-end", "");
        m.failover_state = Failover::UpdateConfig;
        m.failover_state_change_time = mstime();
    }
    if timeout {
        let keys: Vec<String> = m.slaves.keys().cloned().collect();
        for k in keys {
            let s = &m.slaves[&k];
            if s.flags & (SRI_PROMOTED | SRI_RECONF_DONE | SRI_RECONF_SENT) != 0
                || s.link.disconnected(false)
            {
                continue;
            }
            let w = Which::Slave(k.clone());
            if send_slaveof(g, m, &w, Some(promoted)) {
                ev(g, m, &w, Level::Notice, "+slave-reconf-sent-be", "");
                if let Some(s) = m.slaves.get_mut(&k) {
                    s.flags |= SRI_RECONF_SENT;
                }
            }
        }
    }
}

/// redis `sentinelFailoverSwitchToPromotedSlave`. A failover that ends after a hello taught
/// us a newer configuration (a later epoch's failover finished while this one was stalled,
/// e.g. its leader in TILT) switches nothing: its replica was not promoted in that config,
/// and switching to it would leave us naming another master than the others, under the same
/// config epoch, for good.
pub fn switch_to_promoted(st: &mut State, name: &str) {
    let Some(m) = st.masters.get_mut(name) else {
        return;
    };
    if m.config_epoch > m.failover_epoch {
        tracing::warn!(
            "Failover of epoch {} for {} ended after config epoch {}: not switching",
            m.failover_epoch,
            m.inst.name,
            m.config_epoch
        );
        abort(m);
        return;
    }
    let m = &*m;
    let to = m.promoted().map_or(&m.inst.addr, |p| &p.addr).clone();
    let g = &st.g;
    let msg = format!(
        "{} {} {} {} {}",
        m.inst.name,
        g.announce(&m.inst.addr),
        m.inst.addr.port,
        g.announce(&to),
        to.port
    );
    events::emit(g, Level::Warning, "+switch-master", Some(m), &msg);
    reset_and_change_address(st, name, &to.hostname, i64::from(to.port));
}
