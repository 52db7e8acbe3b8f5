//! CONFIG GET | SET | RESETSTAT | REWRITE | HELP (redis `config.c` `configCommand`), over the
//! `config` module's API, which owns the directive table and Redis's exact error texts.

use std::sync::atomic::Ordering;

use super::super::errors::{self, CmdError};
use super::super::server_cmds::container;
use super::super::spec::{Group, Spec, ADMIN, LOADING, NOSCRIPT, STALE};
use super::super::{Ctx, REGISTRY};
use crate::protocol::Reply;
use crate::server::listener::Transport;
use crate::server::{tls, Server};

const A: u32 = ADMIN | NOSCRIPT | LOADING | STALE;

pub const CONFIG: Spec = Spec::new("config", -2, 0, Group::Server, container).subs(SUBS);

const SUBS: &[Spec] = &[
    Spec::new("config|get", -3, A, Group::Server, get),
    Spec::new("config|set", -4, A, Group::Server, set),
    Spec::new("config|resetstat", 2, A, Group::Server, resetstat),
    Spec::new("config|rewrite", 2, A, Group::Server, rewrite),
    Spec::new("config|help", 2, LOADING | STALE, Group::Server, help),
];

const HELP: &[&str] = &[
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
];

fn help(_cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(super::help_reply("CONFIG", HELP))
}

/// CONFIG GET pattern [pattern ...]: a map of name → value (RESP2: a flat array).
fn get(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let patterns: Vec<String> = cx.argv[2..]
        .iter()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    let pairs = cx.server.config.read().get_matching_many(&patterns);
    Ok(Reply::Map(
        pairs
            .into_iter()
            .map(|(k, v)| (Reply::bulk(k.into_bytes()), Reply::bulk(v.into_bytes())))
            .collect(),
    ))
}

/// Loopback and unix-socket clients are "local" for `enable-protected-configs local`.
pub fn client_is_local(addr: &str, laddr: &str) -> bool {
    addr.starts_with("127.") || addr.starts_with("::1:") || !laddr.contains(':')
}

/// CONFIG SET name value [name value ...]: all or nothing, then the live effects.
fn set(cx: &mut Ctx) -> Result<Reply, CmdError> {
    if cx.argv.len() % 2 != 0 {
        return Err(errors::SYNTAX);
    }
    let pairs: Vec<(String, String)> = cx.argv[2..]
        .chunks(2)
        .map(|p| {
            (
                String::from_utf8_lossy(&p[0]).into_owned(),
                String::from_utf8_lossy(&p[1]).into_owned(),
            )
        })
        .collect();
    let local = client_is_local(&cx.client.shared.addr, &cx.client.shared.laddr);
    let before = cx.server.config.read().clone();
    cx.server
        .config
        .write()
        .set_many_from(&pairs, local, cx.server.persist.is_loading())
        .map_err(CmdError::new)?;
    if let Err((name, e)) = apply_steps(cx.server, &pairs, &before, cx.client.in_exec) {
        // Roll every change back (redis `restoreBackupConfig`), naming the directive whose
        // apply step failed.
        *cx.server.config.write() = before;
        cx.server.config_changed();
        if pairs
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("proc-title-template"))
        {
            let _ = crate::server::proctitle::apply(cx.server);
        }
        return Err(CmdError::err(format_args!(
            "CONFIG SET failed (possibly related to argument '{name}') - {e}"
        )));
    }
    // The copy goes before the live effects: an eviction there measures memory as the INFO
    // before this command did (a whole config's copy is ~10 KB, ten keys of excess).
    let maxmemory_before = before.maxmemory;
    drop(before);
    apply_live(cx.server, maxmemory_before, cx.client.in_exec);
    Ok(Reply::OK)
}

/// The apply steps of CONFIG SET that can fail (redis `apply_fn`), in the order the directives
/// were given, each once: the OOM score and the listening sockets. On failure: the directive
/// and the reason; listeners already moved are moved back.
fn apply_steps(
    server: &Server,
    pairs: &[(String, String)],
    before: &crate::config::Config,
    in_exec: bool,
) -> Result<(), (String, &'static str)> {
    let mut oom_done = false;
    let mut rebound = false;
    let (mut tls_rebound, mut tls_done) = (false, false);
    let (changed_listen, changed_tls_listen) = {
        let c = server.config.read();
        (
            c.port != before.port || c.bind != before.bind,
            c.tls_port != before.tls_port || c.bind != before.bind,
        )
    };
    let mut result = Ok(());
    for (name, _) in pairs {
        let name = name.to_ascii_lowercase();
        match name.as_str() {
            "oom-score-adj" | "oom-score-adj-values" if !oom_done => {
                oom_done = true;
                let r = crate::server::oom::apply(&server.config.read(), server.is_replica());
                if let Err(e) = r {
                    result = Err((name, e));
                    break;
                }
            }
            "appendonly" => {
                // redis `updateAppendonly`.
                let (want, on) = (server.config.read().appendonly, server.aof.is_on());
                if !want && on {
                    server.aof.stop(server);
                } else if want && !on {
                    let Some(me) = server.arc() else { continue };
                    if server.aof.start(&me, in_exec).is_err() {
                        result = Err((name, "Unable to turn on AOF. Check server logs."));
                        break;
                    }
                }
            }
            // redis `updateProcTitleTemplate`, whether `set-proc-title` is on or not.
            "proc-title-template" => {
                if let Err(e) = crate::server::proctitle::apply(server) {
                    result = Err((name, e));
                    break;
                }
            }
            "requirepass" => {
                let pass = server.config.read().requirepass.clone();
                server.acl.set_default_password(pass.as_deref());
            }
            "port" | "bind" if changed_listen && !rebound => {
                let Some(me) = server.arc() else { continue };
                if let Err(e) = crate::server::listener::rebind(&me, Transport::Plain) {
                    tracing::warn!("{e}");
                    let why = if name == "port" {
                        "Unable to listen on this port. Check server logs."
                    } else {
                        "Failed to bind to specified addresses."
                    };
                    result = Err((name, why));
                    break;
                }
                rebound = true;
                if name == "bind" && changed_tls_listen && !tls_rebound {
                    // redis `changeBindAddr` moves the TLS listeners too.
                    tls_rebound = true;
                    if crate::server::listener::rebind(&me, Transport::Tls).is_err() {
                        result = Err((name, "Failed to bind to specified addresses."));
                        break;
                    }
                }
            }
            // redis `applyTLSPort`: TLS is configured first if it was not in use yet.
            "tls-port" if changed_tls_listen && !tls_rebound => {
                let Some(me) = server.arc() else { continue };
                if !server.tls.is_configured() {
                    let cfg = server.config.read().clone();
                    if let Err(e) = tls::install_from(server, &cfg) {
                        result = Err((name, e));
                        break;
                    }
                    tls_done = true;
                }
                if let Err(e) = crate::server::listener::rebind(&me, Transport::Tls) {
                    tracing::warn!("{e}");
                    result = Err((name, "Unable to listen on this port. Check server logs."));
                    break;
                }
                tls_rebound = true;
            }
            // redis `applyTlsCfg` (once per CONFIG SET); `tls-auth-clients` applies to each
            // new connection by itself.
            n if n.starts_with("tls-")
                && n != "tls-auth-clients"
                && n != "tls-port"
                && !tls_done =>
            {
                tls_done = true;
                if let Err(e) = tls::reconfigure(server) {
                    result = Err((name, e));
                    break;
                }
            }
            _ => {}
        }
    }
    if result.is_err() && tls_done {
        // The contexts of the configuration being restored.
        let _ = tls::install_from(server, before);
    }
    if result.is_err() && tls_rebound {
        server.config.write().tls_port = before.tls_port;
        if let Some(me) = server.arc() {
            let _ = crate::server::listener::rebind(&me, Transport::Tls);
        }
    }
    if result.is_err() && rebound {
        {
            let mut c = server.config.write();
            c.port = before.port;
            c.bind = before.bind.clone();
        }
        if let Some(me) = server.arc() {
            let _ = crate::server::listener::rebind(&me, Transport::Plain);
        }
    }
    result
}

/// Applies what a CONFIG SET changed to the state kept outside the config. `maxmemory_before`:
/// the limit before the change; `in_exec`: the CONFIG SET runs inside EXEC.
fn apply_live(server: &Server, maxmemory_before: u64, in_exec: bool) {
    // Encoding limits and the replication buffer limits.
    server.config_changed();
    crate::server::evict::config_changed();
    super::invalidate_hot_config();
    server.client_mem.update_all(server);
    server.client_mem.evict(server);
    let maxmemory = server.config.read().maxmemory;
    if maxmemory != maxmemory_before && maxmemory > 0 {
        let used = crate::server::memory::used_memory();
        if used > maxmemory {
            tracing::warn!("WARNING: the new maxmemory value set via CONFIG SET ({maxmemory}) is smaller than the current memory usage ({used}). This will result in key eviction and/or the inability to accept new write commands depending on the maxmemory-policy.");
        }
        // Evict now, as redis does (the next command sees the keys gone and `evicted_keys`
        // counted); inside EXEC, whose transaction holds shard locks that eviction needs,
        // beside the command.
        if !in_exec {
            crate::server::evict::perform_evictions(server);
        } else if let (Some(me), Ok(rt)) = (server.arc(), tokio::runtime::Handle::try_current()) {
            rt.spawn_blocking(move || crate::server::evict::perform_evictions(&me));
        }
    }
}

/// CONFIG RESETSTAT: what redis `resetServerStats`, `resetCommandTableStats` and
/// `resetErrorTableStats` reset (the slowlog and the latency monitor are kept, as in Redis).
fn resetstat(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let st = &cx.server.stats;
    st.reset();
    st.peak_memory.store(0, Ordering::Relaxed);
    cx.server.client_mem.evicted.store(0, Ordering::Relaxed);
    cx.server.lazyfree.reset_stats();
    cx.server.repl.reset_stats();
    REGISTRY.reset_counters();
    Ok(Reply::OK)
}

/// Hands the ACL users to the config for the `user` lines of a rewrite.
pub fn sync_user_lines(server: &Server) {
    let lines = crate::acl::file::user_lines(server);
    server.config.write().acl_user_lines = Some(lines);
}

fn rewrite(cx: &mut Ctx) -> Result<Reply, CmdError> {
    sync_user_lines(cx.server);
    let r = cx.server.config.read().rewrite();
    match r {
        Ok(()) => {
            tracing::info!("CONFIG REWRITE executed with success.");
            Ok(Reply::OK)
        }
        Err(e) => {
            if let Some(why) = e.strip_prefix("ERR Rewriting config file: ") {
                tracing::warn!("CONFIG REWRITE failed: {why}");
            }
            Err(CmdError::new(e))
        }
    }
}
