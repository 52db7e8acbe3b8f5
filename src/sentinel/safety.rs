//! Tandem's failover that keeps every acknowledged write (issue #13, docs/architecture.md
//! "No acknowledged write lost"), on when a master has `sentinel wait-replicas <name> <n>`:
//! - the replicas are fenced (`REPLCONF FENCE <epoch>`) before one is chosen, and their
//!   history (replid, offset) read after the fence, so it is final;
//! - the failover waits for at least R - n + 1 fenced replicas (R: the replicas known), one of
//!   which acknowledged every write `WAIT n` confirmed, and promotes one holding the history
//!   of every fenced replica; with fewer, or when none holds them all, it gives up (and lifts
//!   its fences), saying which;
//! - a master whose replicas hold a history it lost (restarted empty or from an old snapshot)
//!   is subjectively down, so the sentinels fail over to the replicas instead of letting
//!   them follow it.

use super::events::Level;
use super::link::Kind;
use super::monitor::ev;
use super::mstime;
use super::state::*;

/// The replication history an instance reported in INFO.
#[derive(Debug, Default, Clone)]
pub struct History {
    pub replid: Option<String>,
    pub replid2: Option<String>,
    /// First offset not valid for `replid2`.
    pub second_offset: i64,
    /// `master_repl_offset`.
    pub offset: u64,
}

/// Reads the INFO replication line `l` into `h`.
pub fn parse_info_line(h: &mut History, l: &str) {
    if let Some(v) = l.strip_prefix("master_replid:") {
        h.replid = Some(v.to_string());
    } else if let Some(v) = l.strip_prefix("master_replid2:") {
        h.replid2 = Some(v.to_string());
    } else if let Some(v) = l.strip_prefix("second_repl_offset:") {
        h.second_offset = v.parse().unwrap_or(-1);
    } else if let Some(v) = l.strip_prefix("master_repl_offset:") {
        h.offset = v.parse().unwrap_or(0);
    }
}

/// The history an instance holds and how far: a replica's applied offset, a master's own.
fn held(ri: &Instance) -> Option<(&str, u64)> {
    let offset = if ri.flags & SRI_SLAVE != 0 && ri.role_reported == SRI_SLAVE {
        ri.slave_repl_offset
    } else {
        ri.history.offset
    };
    Some((ri.history.replid.as_deref()?, offset))
}

/// Whether `h`, at `offset` in its own id, holds `replid` up to `upto`: the stream of one
/// id is a prefix-ordered log, so a larger offset in the same id holds a smaller one; the
/// secondary id is held up to where it was left.
fn holds(h: &History, offset: u64, replid: &str, upto: u64) -> bool {
    (h.replid.as_deref() == Some(replid) && offset >= upto)
        || (h.replid2.as_deref() == Some(replid) && (upto as i64) < h.second_offset)
}

fn holds_data_of(a: &Instance, b: &Instance) -> bool {
    match (held(a), held(b)) {
        (Some((_, off)), Some((id, upto))) => holds(&a.history, off, id, upto),
        _ => false,
    }
}

pub fn enabled(m: &Master) -> bool {
    m.wait_replicas > 0
}

/// A replica whose link to this master is down holds a history the master does not (the
/// master was restarted empty or from an older snapshot: its replicas refuse to follow it
/// with `replica-refuse-rollback`). Only INFOs of the master read after the replica's count,
/// so a master that merely moved on is never taken for one that lost writes: the verdict is
/// taken when the master's INFO arrives and kept in `history_lost` until its next INFO
/// (judged at every check instead, it flipped to false each time a replica's INFO arrived
/// after the master's, and the master looked sane for a moment in every INFO period).
pub fn lost_history(g: &Global, m: &Master) -> bool {
    let mi = &m.inst;
    if !enabled(m) || mi.history.replid.is_none() || mi.role_reported != SRI_MASTER {
        return false;
    }
    m.slaves.values().any(|s| {
        let Some((id, upto)) = held(s) else {
            return false;
        };
        s.role_reported == SRI_SLAVE
            && !s.slave_master_link_up
            && upto > 1
            && s.info_refresh != 0
            && mi.info_refresh > s.info_refresh
            && s.slave_master_port == i64::from(mi.addr.port)
            && s.slave_master_host
                .as_ref()
                .is_some_and(|h| mi.addr.equals_host(h, g.resolve_hostnames))
            && !holds(&mi.history, mi.history.offset, id, upto)
    })
}

/// What the select-slave step of a failover does next.
pub enum Step {
    Wait,
    /// Fewer than R - n + 1 replicas fenced within `failover-timeout`.
    TooFew,
    /// Enough fenced, but none of the candidates holds every fenced replica's history
    /// (they diverged): promoting any would drop writes another may have acknowledged. The
    /// text lists each fenced replica's history, for the event.
    Diverged(String),
    Promote(String),
}

/// A replica that reports the role of master with an INFO read during this select-slave step:
/// a failover that promoted it did not complete (its leader gave up after `SLAVEOF NO ONE`,
/// or went into TILT). It acknowledges nothing to the old master, as a fenced replica, and
/// its history only grows from what that INFO shows; it may be promoted again, which is the
/// way back for the writes it holds (following the old master could roll them back). An old
/// master back after a failover, not yet turned into a replica, is not one: it never reported
/// the role of replica since it was listed as one, and its writes after the fences were not
/// acknowledged.
fn promoted_elsewhere(m: &Master, s: &Instance) -> bool {
    s.role_reported == SRI_MASTER
        && s.reported_replica
        && s.info_refresh >= m.failover_state_change_time
        && !s.link.disconnected(false)
}

/// The select-slave step with `wait-replicas`: fences the replicas it can reach (again
/// every second for the ones not fenced yet), then picks the one to promote once enough
/// are fenced. A fenced replica that holds no history (INFO's offset 1: it never completed
/// a sync, or threw its data away for one) counts as fenced but has nothing to keep. A
/// replica promoted by a failover that did not complete counts as fenced
/// ([`promoted_elsewhere`]). When no candidate holds every fenced history, the step waits
/// (a replica not fenced yet may hold them all) until `failover-timeout`.
pub fn select(g: &Global, m: &mut Master) -> Step {
    let epoch = m.failover_epoch;
    let now = mstime();
    let (replconf, info) = (m.map_command("REPLCONF"), m.map_command("INFO"));
    for s in m.slaves.values_mut() {
        if s.fenced_epoch == epoch
            || s.link.disconnected(false)
            || now - s.fence_sent_time < g.timing.ping_period
        {
            continue;
        }
        let fence = vec![replconf.clone(), "FENCE".into(), epoch.to_string()];
        if s.link.send(fence, Kind::Fence) && s.link.send(vec![info.clone()], Kind::FenceInfo) {
            s.fence_sent_time = now;
            s.fence_sent_epoch = epoch;
        }
    }
    let timed_out = now - m.failover_state_change_time > m.failover_timeout;
    let known = m.slaves.len() as i64;
    let needed = (known - m.wait_replicas + 1).max(1);
    let fenced: Vec<&Instance> = m
        .slaves
        .values()
        .filter(|s| s.fenced_epoch == epoch || promoted_elsewhere(m, s))
        .collect();
    if (fenced.len() as i64) < needed {
        return if timed_out { Step::TooFew } else { Step::Wait };
    }
    let mut best: Vec<(&String, &Instance)> = m
        .slaves
        .iter()
        .filter(|(_, s)| {
            ((s.fenced_epoch == epoch && s.role_reported == SRI_SLAVE) || promoted_elsewhere(m, s))
                && s.slave_priority != 0
                && !s.link.disconnected(false)
                && fenced
                    .iter()
                    .filter(|o| held(o).is_some_and(|(_, off)| off > 1))
                    .all(|o| holds_data_of(s, o))
        })
        .collect();
    best.sort_by(|(_, a), (_, b)| {
        a.slave_priority
            .cmp(&b.slave_priority)
            .then_with(|| a.runid.cmp(&b.runid))
    });
    if let Some((k, _)) = best.first() {
        return Step::Promote((*k).clone());
    }
    if (fenced.len() as i64) < known && !timed_out {
        return Step::Wait;
    }
    let histories: Vec<String> = fenced
        .iter()
        .map(|o| {
            let (id, off) = held(o).unwrap_or(("?", 0));
            format!("{}:{}={id}:{off}", o.addr.hostname, o.addr.port)
        })
        .collect();
    Step::Diverged(format!(" #fenced {}", histories.join(" ")))
}

/// A reply to `REPLCONF FENCE`.
pub fn fence_reply(ri: &mut Instance, ok: bool) {
    if ok {
        ri.fence_ok_epoch = ri.fence_sent_epoch;
    }
}

/// The INFO read right after a fence: the replica's history is now final.
pub fn fence_info(g: &Global, m: &mut Master, w: &Which) {
    let Some(ri) = m.get_mut(w) else { return };
    if ri.fence_ok_epoch == 0 || ri.fence_ok_epoch != ri.fence_sent_epoch {
        return;
    }
    ri.fenced_epoch = ri.fence_ok_epoch;
    let suffix = format!(
        " #epoch {} offset {}",
        ri.fenced_epoch,
        held(ri).map_or(0, |(_, o)| o)
    );
    ev(g, m, w, Level::Notice, "+fenced-slave", &suffix);
}

/// A failover given up: the fences of its epoch are lifted, so the replicas follow the old
/// master again (a later epoch's fence stays: that failover may still be running). Sent to
/// every replica fenced in that epoch, answered or not: the UNFENCE follows the FENCE on the
/// same connection.
pub fn unfence(m: &mut Master) {
    let epoch = m.failover_epoch;
    let cmd = m.map_command("REPLCONF");
    for s in m.slaves.values_mut() {
        if s.fence_sent_epoch == epoch && epoch != 0 {
            s.link.send(
                vec![cmd.clone(), "UNFENCE".into(), epoch.to_string()],
                Kind::Discard,
            );
            s.fence_ok_epoch = 0;
            s.fenced_epoch = 0;
        }
    }
}

/// A replica of a healthy master still fenced long after any failover this sentinel took part
/// in (its leader gave up without reaching it, or the FENCE arrived late on a connection
/// replaced since) is released: only for an epoch we know of, when we have neither started
/// nor voted in a failover for 3 x failover-timeout (any failover of that epoch has ended or
/// timed out by then), and no failover is running here.
pub fn release_stale_fence(g: &Global, m: &mut Master, w: &Which) {
    let now = mstime();
    if !enabled(m)
        || m.inst.flags & SRI_FAILOVER_IN_PROGRESS != 0
        || now - m.failover_start_time <= 3 * m.failover_timeout
        || !super::failover::master_looks_sane(g, &m.inst)
    {
        return;
    }
    let addr = m.inst.addr.clone();
    let cmd = m.map_command("REPLCONF");
    let Some(ri) = m.get_mut(w) else { return };
    let epoch = ri.fence_seen_epoch;
    if ri.flags & SRI_SLAVE == 0
        || epoch == 0
        || epoch > g.current_epoch
        || ri.slave_master_port != i64::from(addr.port)
        || !ri
            .slave_master_host
            .as_ref()
            .is_some_and(|h| addr.equals_host(h, g.resolve_hostnames))
    {
        return;
    }
    if ri.link.send(
        vec![cmd, "UNFENCE".into(), epoch.to_string()],
        Kind::Discard,
    ) {
        ri.fence_seen_epoch = 0;
        ev(
            g,
            m,
            w,
            Level::Notice,
            "+unfenced-slave",
            &format!(" #epoch {epoch}"),
        );
    }
}
