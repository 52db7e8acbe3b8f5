//! The sentinel's timer (redis `sentinelTimer`): every 50-100 ms (the period changes at
//! random each time, as Redis changes its hz, so sentinels started together do not stay in
//! step and split their votes), each master, its replicas and its sentinels are handled.

use std::sync::Arc;
use std::time::Duration;

use super::events::{self, Level};
use super::state::*;
use super::{failover, monitor, mstime, state};
use crate::server::Server;

pub fn spawn(server: Arc<Server>) {
    let mut shutdown = server.shutdown_tx.subscribe();
    tokio::spawn(async move {
        loop {
            let hz = 10 + rand::random::<u64>() % 10;
            // Shutdown first, as the server cron (no sleep polled once the runtime stops).
            tokio::select! {
                biased;
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(Duration::from_millis(1000 / hz)) => {}
            }
            tick(&mut state().lock());
        }
    });
}

/// One pass over every instance.
pub fn tick(st: &mut State) {
    check_tilt(&mut st.g);
    let names: Vec<String> = st.masters.keys().cloned().collect();
    let mut switch_to = None;
    for name in names {
        handle(st, &name, &Which::Master);
        let Some(m) = st.masters.get(&name) else {
            continue;
        };
        let slaves: Vec<String> = m.slaves.keys().cloned().collect();
        let sentinels: Vec<String> = m.sentinels.keys().cloned().collect();
        for k in slaves {
            handle(st, &name, &Which::Slave(k));
        }
        for k in sentinels {
            handle(st, &name, &Which::Sentinel(k));
        }
        if st
            .masters
            .get(&name)
            .is_some_and(|m| m.failover_state == Failover::UpdateConfig)
        {
            switch_to = Some(name);
        }
    }
    if let Some(name) = switch_to {
        failover::switch_to_promoted(st, &name);
    }
    let t = &st.g.timing;
    for o in
        st.g.scripts
            .tick(t.script_max_runtime, t.script_retry_delay)
    {
        events::emit(&st.g, Level::Warning, o.kind, None, &o.msg);
    }
}

/// redis `sentinelCheckTiltCondition`.
fn check_tilt(g: &mut Global) {
    let now = mstime();
    let delta = now - g.previous_time;
    if delta < 0 || delta > g.timing.tilt_trigger {
        g.tilt = true;
        g.tilt_start_time = mstime();
        events::emit(g, Level::Warning, "+tilt", None, "#tilt mode entered");
    }
    g.previous_time = mstime();
}

/// redis `sentinelHandleRedisInstance`.
fn handle(st: &mut State, name: &str, w: &Which) {
    {
        let State { g, masters } = &mut *st;
        let Some(m) = masters.get_mut(name) else {
            return;
        };
        if m.get(w).is_none() {
            return;
        }
        monitor::reconnect(g, m, w);
        monitor::send_periodic(g, m, w);
        if g.tilt {
            if mstime() - g.tilt_start_time < g.timing.tilt_period {
                return;
            }
            g.tilt = false;
            events::emit(g, Level::Warning, "-tilt", None, "#tilt mode exited");
        }
        monitor::check_sdown(g, m, w);
        if *w != Which::Master {
            return;
        }
        monitor::check_odown(g, m);
        if failover::start_failover_if_needed(g, m) {
            monitor::ask_others(g, m, true);
        }
    }
    failover::state_machine(st, name);
    let State { g, masters } = &mut *st;
    if let Some(m) = masters.get_mut(name) {
        monitor::ask_others(g, m, false);
    }
}
