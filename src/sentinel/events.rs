//! Events (redis `sentinelEvent`): logged, published on the channel named after the event
//! to the sentinel's own pub/sub clients, and handed to the master's notification script
//! (warning level only).

use bytes::Bytes;

use super::state::{Global, Instance, Master};

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Level {
    Debug,
    Verbose,
    Notice,
    Warning,
}

/// The `%@` prefix: `<type> <name> <ip> <port>`, plus `@ <master> <ip> <port>` for an
/// instance that is not a master.
pub fn ident(g: &Global, ri: &Instance, master: Option<&Instance>) -> String {
    let mut s = format!(
        "{} {} {} {}",
        ri.type_str(),
        ri.name,
        g.announce(&ri.addr),
        ri.addr.port
    );
    if let Some(m) = master {
        s.push_str(&format!(
            " @ {} {} {}",
            m.name,
            g.announce(&m.addr),
            m.addr.port
        ));
    }
    s
}

/// An event about `ri` of master `m` with the `%@` prefix and an optional suffix.
pub fn about(g: &Global, level: Level, kind: &str, m: &Master, ri: &Instance, suffix: &str) {
    let master = (ri.uid != m.inst.uid).then_some(&m.inst);
    let msg = format!("{}{suffix}", ident(g, ri, master));
    emit(g, level, kind, Some(m), &msg);
}

/// Logs, publishes and schedules the notification script.
pub fn emit(g: &Global, level: Level, kind: &str, m: Option<&Master>, msg: &str) {
    match level {
        Level::Debug => tracing::debug!("{kind} {msg}"),
        Level::Verbose => tracing::debug!("{kind} {msg}"),
        Level::Notice => tracing::info!("{kind} {msg}"),
        Level::Warning => tracing::warn!("{kind} {msg}"),
    }
    if level != Level::Debug {
        if let Some(server) = super::server() {
            server.pubsub.publish(
                &server,
                &Bytes::copy_from_slice(kind.as_bytes()),
                &Bytes::copy_from_slice(msg.as_bytes()),
            );
        }
    }
    if level == Level::Warning {
        if let Some(script) = m.and_then(|m| m.notification_script.as_ref()) {
            g.scripts
                .schedule(script, vec![kind.to_string(), msg.to_string()]);
        }
    }
}
