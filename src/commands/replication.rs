//! Replication commands: SYNC PSYNC REPLCONF REPLICAOF SLAVEOF ROLE WAIT FAILOVER.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::args::is;
use super::errors::{self, CmdError};
use super::spec::{
    Group, Spec, ADMIN, ALLOW_BUSY, LOADING, NOSCRIPT, NO_ASYNC_LOADING, NO_MULTI, STALE,
};
use super::Ctx;
use crate::protocol::Reply;
use crate::replication::failover;
use crate::replication::master::{self, ReplicaState};
use crate::replication::replica::LinkState;
use crate::server::client::Takeover;

const REPL: u32 = ADMIN | NOSCRIPT | NO_MULTI | NO_ASYNC_LOADING;

pub const COMMANDS: &[Spec] = &[
    Spec::new("sync", 1, REPL, Group::Server, sync),
    Spec::new("psync", -3, REPL, Group::Server, psync),
    Spec::new(
        "replconf",
        -1,
        ADMIN | NOSCRIPT | LOADING | STALE | ALLOW_BUSY,
        Group::Server,
        replconf,
    ),
    Spec::new(
        "replicaof",
        3,
        ADMIN | NOSCRIPT | STALE | NO_ASYNC_LOADING,
        Group::Server,
        replicaof,
    ),
    Spec::new(
        "slaveof",
        3,
        ADMIN | NOSCRIPT | STALE | NO_ASYNC_LOADING,
        Group::Server,
        replicaof,
    ),
    Spec::new(
        "role",
        1,
        NOSCRIPT | LOADING | STALE | super::spec::FAST,
        Group::Server,
        role,
    ),
    Spec::new("wait", 3, NOSCRIPT, Group::Generic, wait),
    Spec::new(
        "failover",
        -1,
        ADMIN | NOSCRIPT | STALE,
        Group::Server,
        failover,
    ),
];

/// No SYNC/PSYNC during a FAILOVER; a replica serves them only while its own link is up.
fn check_can_serve_sync(cx: &Ctx) -> Result<(), CmdError> {
    if failover::is_active(cx.server) {
        return Err(CmdError::fixed(
            "NOMASTERLINK Can't SYNC while failing over",
        ));
    }
    if cx.server.is_replica() && cx.server.repl.link.state() != LinkState::Connected {
        return Err(CmdError::fixed(
            "NOMASTERLINK Can't SYNC while not connected with my master",
        ));
    }
    // A filtered RDB is always sent over the socket, with an EOF mark.
    if cx.client.replconf.req != 0 && !cx.client.replconf.capa_eof {
        return Err(CmdError::err("Filtered replica requires EOF capability"));
    }
    Ok(())
}

fn sync(cx: &mut Ctx) -> Result<Reply, CmdError> {
    if cx.client.shared.is_replica.load(Ordering::Relaxed) {
        return Ok(Reply::None);
    }
    check_can_serve_sync(cx)?;
    cx.client.takeover = Some(Takeover::Sync);
    Ok(Reply::None)
}

fn psync(cx: &mut Ctx) -> Result<Reply, CmdError> {
    if cx.client.shared.is_replica.load(Ordering::Relaxed) {
        return Ok(Reply::None);
    }
    // `PSYNC <replid> <offset> FAILOVER`: our master, failing over to us, asks us to take over.
    if cx.argv.len() > 3 && is(&cx.argv[3], "failover") {
        let replid = String::from_utf8_lossy(&cx.argv[1]);
        failover::take_over(cx.server, &replid, &client_description(cx)).map_err(CmdError::err)?;
    }
    check_can_serve_sync(cx)?;
    let replid = String::from_utf8_lossy(&cx.argv[1]).into_owned();
    let offset = super::args::parse_int(&cx.argv[2]).inspect_err(|_| {
        let ip = cx
            .client
            .shared
            .addr
            .rsplit_once(':')
            .map_or("", |(ip, _)| ip);
        let name = master::replica_name(ip, cx.client.replconf.listening_port.unwrap_or(0));
        tracing::info!("Replica {name} asks for synchronization");
        tracing::warn!("Replica {name} asks for synchronization but with a wrong offset");
    })?;
    cx.client.takeover = Some(Takeover::Psync { replid, offset });
    Ok(Reply::None)
}

fn replconf(cx: &mut Ctx) -> Result<Reply, CmdError> {
    if cx.argv.len() % 2 == 0 {
        return Err(errors::SYNTAX);
    }
    let mut i = 1;
    while i + 1 < cx.argv.len() {
        let (opt, val) = (&cx.argv[i], &cx.argv[i + 1]);
        if is(opt, "listening-port") {
            let port = super::args::parse_int(val)?;
            cx.client.replconf.listening_port = Some(port.clamp(0, 65535) as u16);
        } else if is(opt, "ip-address") {
            if val.len() >= 46 {
                return Err(CmdError::err(format_args!(
                    "REPLCONF ip-address provided by replica instance is too long: {} bytes",
                    val.len()
                )));
            }
            cx.client.replconf.ip_address = Some(String::from_utf8_lossy(val).into_owned());
        } else if is(opt, "capa") {
            if is(val, "eof") {
                cx.client.replconf.capa_eof = true;
            } else if is(val, "psync2") {
                cx.client.replconf.capa_psync2 = true;
            }
        } else if is(opt, "fence") || is(opt, "unfence") {
            // Tandem's (issue #13), sent by Tandem's sentinel during a failover.
            let epoch = super::args::parse_int(val)?;
            let epoch = u64::try_from(epoch).map_err(|_| CmdError::err("invalid epoch"))?;
            if is(opt, "fence") {
                if !crate::replication::replica::fence(cx.server, epoch) {
                    return Err(CmdError::err("REPLCONF FENCE: not a replica"));
                }
            } else if let Some(me) = cx.server.arc() {
                crate::replication::replica::unfence(&me, epoch);
            }
        } else if is(opt, "ack") || is(opt, "getack") {
            // From a normal client these are silently ignored; replica links handle them.
            return Ok(Reply::None);
        } else if is(opt, "rdb-only") {
            // redis-cli --rdb: accepted; Tandem streams nothing it would have to drop.
            let v = super::args::parse_int(val)?;
            if !(0..=1).contains(&v) {
                return Err(CmdError::err(
                    "value is out of range, value must between 0 and 1",
                ));
            }
        } else if is(opt, "rdb-filter-only") {
            // Include filters: everything is left out but what they name ("functions").
            let filters = crate::protocol::inline::split_args(val)
                .ok_or_else(|| CmdError::err("Missing rdb-filter-only values"))?;
            cx.client.replconf.req |= master::REQ_EXCLUDE_DATA | master::REQ_EXCLUDE_FUNCTIONS;
            for f in &filters {
                if !is(f, "functions") {
                    return Err(CmdError::err(format_args!(
                        "Unsupported rdb-filter-only option: {}",
                        String::from_utf8_lossy(f)
                    )));
                }
                cx.client.replconf.req &= !master::REQ_EXCLUDE_FUNCTIONS;
            }
        } else {
            return Err(CmdError::err(format_args!(
                "Unrecognized REPLCONF option: {}",
                String::from_utf8_lossy(opt)
            )));
        }
        i += 2;
    }
    Ok(Reply::OK)
}

fn replicaof(cx: &mut Ctx) -> Result<Reply, CmdError> {
    if failover::is_active(cx.server) {
        return Err(CmdError::err("REPLICAOF not allowed while failing over."));
    }
    if cx.client.shared.is_replica.load(Ordering::Relaxed) {
        return Err(CmdError::err(
            "Command is not valid when client is a replica.",
        ));
    }
    let me = client_description(cx);
    if is(&cx.argv[1], "no") && is(&cx.argv[2], "one") {
        if cx.server.is_replica() {
            crate::replication::promote(cx.server);
            tracing::info!("MASTER MODE enabled (user request from '{me}')");
        }
        return Ok(Reply::OK);
    }
    let port = crate::util::parse_i64(&cx.argv[2])
        .filter(|p| (0..=65535).contains(p))
        .ok_or_else(|| CmdError::err("Invalid master port"))? as u16;
    let host = String::from_utf8_lossy(&cx.argv[1]).into_owned();
    {
        let cfg = cx.server.config.read();
        if let Some((h, p)) = &cfg.replicaof {
            // A fenced link is restarted: REPLICAOF lifts the fence.
            if h.eq_ignore_ascii_case(&host)
                && *p == port
                && !crate::replication::replica::fenced(cx.server)
            {
                tracing::info!("REPLICAOF would result into synchronization with the master we are already connected with. No operation performed.");
                return Ok(Reply::status("OK Already connected to specified master"));
            }
        }
    }
    crate::replication::demote(cx.server, host.clone(), port);
    tracing::info!("REPLICAOF {host}:{port} enabled (user request from '{me}')");
    Ok(Reply::OK)
}

/// The client as the MASTER MODE / REPLICAOF log lines name it.
fn client_description(cx: &Ctx) -> String {
    format!("id={} addr={}", cx.client.id(), cx.client.shared.addr)
}

fn role(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let server = cx.server;
    let cfg_master = server.config.read().replicaof.clone();
    if let Some((host, port)) = cfg_master {
        let link = &server.repl.link;
        let state = link.state();
        let offset = if state == LinkState::Connected {
            link.applied_offset.load(Ordering::Acquire) as i64
        } else {
            -1
        };
        return Ok(Reply::Array(vec![
            Reply::bulk_str("slave"),
            Reply::bulk_str(&host),
            Reply::Int(i64::from(port)),
            Reply::bulk_str(state.name()),
            Reply::Int(offset),
        ]));
    }
    let replicas = master::replicas(server)
        .into_iter()
        .filter(|r| r.state() == ReplicaState::Online)
        .map(|r| {
            Reply::Array(vec![
                Reply::bulk_str(&r.ip),
                Reply::bulk_str(&r.port.to_string()),
                Reply::bulk_str(&r.ack_offset.load(Ordering::Acquire).to_string()),
            ])
        })
        .collect();
    Ok(Reply::Array(vec![
        Reply::bulk_str("master"),
        Reply::Int(server.repl.master_repl_offset() as i64),
        Reply::Array(replicas),
    ]))
}

fn wait(cx: &mut Ctx) -> Result<Reply, CmdError> {
    if cx.server.is_replica() {
        return Err(CmdError::err("WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated."));
    }
    let numreplicas = super::args::parse_int(&cx.argv[1])?;
    let timeout = crate::util::parse_i64(&cx.argv[2]).ok_or(errors::TIMEOUT_NOT_INTEGER)?;
    if timeout < 0 {
        return Err(errors::TIMEOUT_NEGATIVE);
    }
    let target = cx.client.woff;
    let acked = master::acked(cx.server, target) as i64;
    if acked >= numreplicas || cx.client.multi.is_some() {
        return Ok(Reply::Int(acked));
    }
    // No GETACK into the stream while writes are paused (redis sends it after the pause).
    if !crate::commands::admin::pause::writes_paused(cx.server) {
        cx.server.repl.stream.feed_control(&[
            Bytes::from_static(b"REPLCONF"),
            Bytes::from_static(b"GETACK"),
            Bytes::from_static(b"*"),
        ]);
    }
    cx.client.blocked = Some(crate::server::client::Blocked::Wait {
        target,
        numreplicas,
        timeout_ms: timeout as u64,
    });
    Ok(Reply::None)
}

/// FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT milliseconds]: parsed as redis
/// `failoverCommand` does (each option once, ABORT only alone); the state machine is
/// `replication::failover`.
fn failover(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    if argv.len() == 2 && is(&argv[1], "abort") {
        if !failover::is_active(cx.server) {
            return Err(CmdError::err("No failover in progress."));
        }
        failover::abort(cx.server, "Failover manually aborted");
        return Ok(Reply::OK);
    }
    let mut req = failover::Request::default();
    let mut j = 1;
    while j < argv.len() {
        if is(&argv[j], "timeout") && j + 1 < argv.len() && req.timeout_ms == 0 {
            req.timeout_ms = super::args::parse_int(&argv[j + 1])?;
            if req.timeout_ms <= 0 {
                return Err(CmdError::err("FAILOVER timeout must be greater than 0"));
            }
            j += 2;
        } else if is(&argv[j], "to") && j + 2 < argv.len() && req.target.is_none() {
            let port = super::args::parse_int(&argv[j + 2])?;
            req.target = Some((String::from_utf8_lossy(&argv[j + 1]).into_owned(), port));
            j += 3;
        } else if is(&argv[j], "force") && !req.force {
            req.force = true;
            j += 1;
        } else {
            return Err(errors::SYNTAX);
        }
    }
    failover::start(cx.server, req).map_err(CmdError::err)?;
    Ok(Reply::OK)
}
