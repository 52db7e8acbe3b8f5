//! SENTINEL commands that change settings: SET (per master), CONFIG GET/SET (global),
//! DEBUG (periods and timeouts), SIMULATE-FAILURE.

use super::commands::{flush_reply, ll, no_such_master, text};
use super::events::Level;
use super::monitor::ev;
use super::state::*;
use super::{config, state};
use crate::commands::{CmdError, Ctx};
use crate::protocol::Reply;

pub(super) fn config_cmd(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let sub = text(&cx.argv[2]).to_ascii_lowercase();
    match (sub.as_str(), cx.argv.len()) {
        ("set", 5) => config_set(&text(&cx.argv[3]), &text(&cx.argv[4])),
        ("get", 4) => Ok(config_get(&cx.argv[3])),
        _ => Err(CmdError::err(
            "Only SENTINEL CONFIG GET <option> / SET <option> <value> are supported.",
        )),
    }
}

fn config_set(option: &str, val: &str) -> Result<Reply, CmdError> {
    let mut st = state().lock();
    let badfmt = || {
        CmdError::err(format!(
            "Invalid value '{val}' to SENTINEL CONFIG SET '{option}'"
        ))
    };
    let yesno = || match val.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err(badfmt()),
    };
    let mut drop = false;
    match option.to_ascii_lowercase().as_str() {
        "resolve-hostnames" => st.g.resolve_hostnames = yesno()?,
        "announce-hostnames" => st.g.announce_hostnames = yesno()?,
        "announce-ip" => st.g.announce_ip = Some(val.to_string()),
        "announce-port" => {
            let n = ll(val.as_bytes())
                .filter(|n| (0..=65535).contains(n))
                .ok_or_else(badfmt)?;
            st.g.announce_port = n;
        }
        "sentinel-user" => {
            st.g.sentinel_auth_user = (!val.is_empty()).then(|| val.to_string());
            drop = true;
        }
        "sentinel-pass" => {
            st.g.sentinel_auth_pass = (!val.is_empty()).then(|| val.to_string());
            drop = true;
        }
        _ => {
            return Err(CmdError::err(format!(
                "Invalid argument '{option}' to SENTINEL CONFIG SET"
            )))
        }
    }
    let reply = flush_reply(&st);
    if drop {
        for m in st.masters.values_mut() {
            for s in m.sentinels.values_mut() {
                s.link.close_all();
            }
        }
    }
    reply
}

fn config_get(pattern: &[u8]) -> Reply {
    let st = state().lock();
    let g = &st.g;
    let items = [
        (
            "resolve-hostnames",
            if g.resolve_hostnames { "yes" } else { "no" }.to_string(),
        ),
        (
            "announce-hostnames",
            if g.announce_hostnames { "yes" } else { "no" }.to_string(),
        ),
        ("announce-ip", g.announce_ip.clone().unwrap_or_default()),
        ("announce-port", g.announce_port.to_string()),
        (
            "sentinel-user",
            g.sentinel_auth_user.clone().unwrap_or_default(),
        ),
        (
            "sentinel-pass",
            g.sentinel_auth_pass.clone().unwrap_or_default(),
        ),
    ];
    Reply::Map(
        items
            .into_iter()
            .filter(|(k, _)| crate::util::glob_match(pattern, k.as_bytes(), true))
            .map(|(k, v)| (Reply::bulk_str(k), Reply::bulk_str(&v)))
            .collect(),
    )
}

pub(super) fn simulate_failure(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let mut st = state().lock();
    st.g.simfailure_flags = 0;
    for a in &cx.argv[2..] {
        match text(a).to_ascii_lowercase().as_str() {
            "crash-after-election" => {
                st.g.simfailure_flags |= SIMFAILURE_CRASH_AFTER_ELECTION;
                tracing::warn!("Failure simulation: this Sentinel will crash after being successfully elected as failover leader");
            }
            "crash-after-promotion" => {
                st.g.simfailure_flags |= SIMFAILURE_CRASH_AFTER_PROMOTION;
                tracing::warn!("Failure simulation: this Sentinel will crash after promoting the selected replica to master");
            }
            "help" => {
                return Ok(Reply::array_of_bulks([
                    &b"crash-after-election"[..],
                    &b"crash-after-promotion"[..],
                ]))
            }
            _ => return Err(CmdError::err("Unknown failure simulation specified")),
        }
    }
    Ok(Reply::ok())
}

pub(super) fn debug(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let mut st = state().lock();
    let t = &mut st.g.timing;
    if cx.argv.len() == 2 {
        let items = [
            ("INFO-PERIOD", t.info_period),
            ("PING-PERIOD", t.ping_period),
            ("ASK-PERIOD", t.ask_period),
            ("PUBLISH-PERIOD", t.publish_period),
            ("DEFAULT-DOWN-AFTER", t.default_down_after),
            ("DEFAULT-FAILOVER-TIMEOUT", t.default_failover_timeout),
            ("TILT-TRIGGER", t.tilt_trigger),
            ("TILT-PERIOD", t.tilt_period),
            ("SLAVE-RECONF-TIMEOUT", t.slave_reconf_timeout),
            ("MIN-LINK-RECONNECT-PERIOD", t.min_link_reconnect_period),
            ("ELECTION-TIMEOUT", t.election_timeout),
            ("SCRIPT-MAX-RUNTIME", t.script_max_runtime),
            ("SCRIPT-RETRY-DELAY", t.script_retry_delay),
        ];
        return Ok(Reply::Map(
            items
                .into_iter()
                .map(|(k, v)| (Reply::bulk_str(k), Reply::bulk_int(v)))
                .collect(),
        ));
    }
    let mut j = 2;
    while j < cx.argv.len() {
        let option = text(&cx.argv[j]);
        let more = cx.argv.len() - 1 - j;
        let slot: Option<&mut i64> = match option.to_ascii_lowercase().as_str() {
            _ if more == 0 => None,
            "info-period" => Some(&mut t.info_period),
            "ping-period" => Some(&mut t.ping_period),
            "ask-period" => Some(&mut t.ask_period),
            "publish-period" => Some(&mut t.publish_period),
            "default-down-after" => Some(&mut t.default_down_after),
            "tilt-trigger" => Some(&mut t.tilt_trigger),
            "tilt-period" => Some(&mut t.tilt_period),
            "slave-reconf-timeout" => Some(&mut t.slave_reconf_timeout),
            "min-link-reconnect-period" => Some(&mut t.min_link_reconnect_period),
            "default-failover-timeout" => Some(&mut t.default_failover_timeout),
            "election-timeout" => Some(&mut t.election_timeout),
            "script-max-runtime" => Some(&mut t.script_max_runtime),
            "script-retry-delay" => Some(&mut t.script_retry_delay),
            _ => None,
        };
        let Some(slot) = slot else {
            return Err(CmdError::err(format!(
                "Unknown option or number of arguments for SENTINEL DEBUG '{option}'"
            )));
        };
        j += 1;
        match ll(&cx.argv[j]).filter(|&v| v > 0) {
            Some(v) => *slot = v,
            None => {
                return Err(CmdError::err(format!(
                    "Invalid argument '{}' for SENTINEL DEBUG '{option}'",
                    text(&cx.argv[j])
                )))
            }
        }
        j += 1;
    }
    Ok(Reply::ok())
}

const SCRIPTS_DENIED: &str = "Reconfiguration of scripts path is denied for security reasons. Check the deny-scripts-reconfig configuration directive in your Sentinel configuration";

/// SENTINEL SET <master> <option> <value> ...
pub(super) fn set(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let mut st = state().lock();
    let name = text(&cx.argv[2]);
    if !st.masters.contains_key(&name) {
        return Err(no_such_master());
    }
    let argv = cx.argv;
    let mut changes = 0;
    let mut j = 3;
    let result = loop {
        if j >= argv.len() {
            break Ok(());
        }
        let option = text(&argv[j]);
        let more = argv.len() - 1 - j;
        let old_j = j;
        let mut redacted = false;
        let State { g, masters } = &mut *st;
        let m = masters.get_mut(&name).expect("checked");
        let badfmt = |k: usize| {
            CmdError::err(format!(
                "Invalid argument '{}' for SENTINEL SET '{option}'",
                text(&argv[k])
            ))
        };
        let lower = option.to_ascii_lowercase();
        let positive = |k: usize| ll(&argv[k]).filter(|&v| v > 0).ok_or_else(|| badfmt(k));
        match lower.as_str() {
            "down-after-milliseconds" if more > 0 => {
                j += 1;
                match positive(j) {
                    Ok(v) => m.inst.down_after_period = v,
                    Err(e) => break Err(e),
                }
                config::propagate_down_after(m);
            }
            "failover-timeout" if more > 0 => {
                j += 1;
                match positive(j) {
                    Ok(v) => m.failover_timeout = v,
                    Err(e) => break Err(e),
                }
            }
            "parallel-syncs" if more > 0 => {
                j += 1;
                match positive(j) {
                    Ok(v) => m.parallel_syncs = v,
                    Err(e) => break Err(e),
                }
            }
            // Tandem's (issue #13): the n of the WAIT n the application relies on; 0 is off.
            "wait-replicas" if more > 0 => {
                j += 1;
                match ll(&argv[j]).filter(|&v| v >= 0) {
                    Some(v) => m.wait_replicas = v,
                    None => break Err(badfmt(j)),
                }
            }
            "notification-script" | "client-reconfig-script" if more > 0 => {
                j += 1;
                let value = text(&argv[j]);
                if g.deny_scripts_reconfig {
                    break Err(CmdError::err(SCRIPTS_DENIED));
                }
                let exec_ok = value.is_empty()
                    || nix::unistd::access(value.as_str(), nix::unistd::AccessFlags::X_OK).is_ok();
                let slot = if lower == "notification-script" {
                    if !exec_ok {
                        break Err(CmdError::err(
                            "Notification script seems non existing or non executable",
                        ));
                    }
                    &mut m.notification_script
                } else {
                    if !exec_ok {
                        break Err(CmdError::err(
                            "Client reconfiguration script seems non existing or non executable",
                        ));
                    }
                    &mut m.client_reconfig_script
                };
                *slot = (!value.is_empty()).then_some(value);
            }
            "auth-pass" | "auth-user" if more > 0 => {
                j += 1;
                let value = text(&argv[j]);
                let v = (!value.is_empty()).then_some(value);
                if lower == "auth-pass" {
                    m.auth_pass = v;
                    redacted = true;
                } else {
                    m.auth_user = v;
                }
                m.inst.link.close_all();
                for s in m.slaves.values_mut() {
                    s.link.close_all();
                }
            }
            "quorum" if more > 0 => {
                j += 1;
                match positive(j) {
                    Ok(v) => m.quorum = v,
                    Err(e) => break Err(e),
                }
            }
            "rename-command" if more > 1 => {
                let (old, new) = (text(&argv[j + 1]), text(&argv[j + 2]));
                j += 2;
                if old.is_empty() || new.is_empty() {
                    break Err(badfmt(if new.is_empty() { j } else { j - 1 }));
                }
                m.renamed.retain(|(o, _)| !o.eq_ignore_ascii_case(&old));
                if !old.eq_ignore_ascii_case(&new) {
                    m.renamed.push((old, new));
                }
            }
            "master-reboot-down-after-period" if more > 0 => {
                j += 1;
                match ll(&argv[j]).filter(|&v| v >= 0) {
                    Some(v) => m.master_reboot_down_after_period = v,
                    None => break Err(badfmt(j)),
                }
            }
            _ => {
                break Err(CmdError::err(format!(
                    "Unknown option or number of arguments for SENTINEL SET '{option}'"
                )))
            }
        }
        changes += 1;
        let suffix = match j - old_j + 1 {
            2 => format!(
                " {} {}",
                option,
                if redacted {
                    "******".to_string()
                } else {
                    text(&argv[old_j + 1])
                }
            ),
            3 => format!(
                " {} {} {}",
                option,
                text(&argv[old_j + 1]),
                text(&argv[old_j + 2])
            ),
            _ => format!(" {option}"),
        };
        ev(g, m, &Which::Master, Level::Warning, "+set", &suffix);
        j += 1;
    };
    match result {
        Ok(()) => {
            if changes > 0 {
                flush_reply(&st)
            } else {
                Ok(Reply::ok())
            }
        }
        Err(e) => {
            if changes > 0 {
                config::flush(&st);
            }
            Err(e)
        }
    }
}
