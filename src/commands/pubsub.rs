//! Pub/sub commands (redis `pubsub.c`): SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE PUNSUBSCRIBE PUBLISH,
//! their shard-channel forms SSUBSCRIBE SUNSUBSCRIBE SPUBLISH, and PUBSUB.
//!
//! Tandem runs standalone: shard channels are a namespace of their own, with no slot checks
//! (those are cluster mode's), and SPUBLISH goes to the replicas as PUBLISH does.

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::errors::CmdError;
use super::server_cmds::container;
use super::spec::{Group, Spec, FAST, LOADING, MAY_REPLICATE, NOSCRIPT, PUBSUB, STALE};
use super::Ctx;
use crate::protocol::Reply;
use crate::server::client::Client;
use crate::server::pubsub::Space;

const SUB: u32 = PUBSUB | NOSCRIPT | LOADING | STALE;
const INTRO: u32 = PUBSUB | LOADING | STALE;

pub const COMMANDS: &[Spec] = &[
    Spec::new("subscribe", -2, SUB, Group::Pubsub, subscribe),
    Spec::new("unsubscribe", -1, SUB, Group::Pubsub, unsubscribe),
    Spec::new("psubscribe", -2, SUB, Group::Pubsub, psubscribe),
    Spec::new("punsubscribe", -1, SUB, Group::Pubsub, punsubscribe),
    Spec::new("ssubscribe", -2, SUB, Group::Pubsub, ssubscribe),
    Spec::new("sunsubscribe", -1, SUB, Group::Pubsub, sunsubscribe),
    Spec::new(
        "publish",
        3,
        INTRO | FAST | MAY_REPLICATE,
        Group::Pubsub,
        publish,
    ),
    Spec::new(
        "spublish",
        3,
        INTRO | FAST | MAY_REPLICATE,
        Group::Pubsub,
        spublish,
    ),
    Spec::new("pubsub", -2, 0, Group::Pubsub, container).subs(PUBSUB_SUBS),
];

const PUBSUB_SUBS: &[Spec] = &[
    Spec::new("pubsub|channels", -2, INTRO, Group::Pubsub, channels),
    Spec::new("pubsub|numsub", -2, INTRO, Group::Pubsub, numsub),
    Spec::new("pubsub|numpat", 2, INTRO, Group::Pubsub, numpat),
    Spec::new(
        "pubsub|shardchannels",
        -2,
        INTRO,
        Group::Pubsub,
        shardchannels,
    ),
    Spec::new("pubsub|shardnumsub", -2, INTRO, Group::Pubsub, shardnumsub),
    Spec::new("pubsub|help", 2, LOADING | STALE, Group::Pubsub, help),
];

const HELP: &[&str] = &[
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
];

/// What a client subscribes to: channels, patterns or shard channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    /// The confirmations' names: (subscribe, unsubscribe).
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Kind::Channel => ("subscribe", "unsubscribe"),
            Kind::Pattern => ("psubscribe", "punsubscribe"),
            Kind::Shard => ("ssubscribe", "sunsubscribe"),
        }
    }

    fn set(self, c: &mut Client) -> &mut HashSet<Bytes> {
        match self {
            Kind::Channel => &mut c.subs,
            Kind::Pattern => &mut c.psubs,
            Kind::Shard => &mut c.ssubs,
        }
    }

    /// The count a confirmation shows: channels and patterns together, shard channels alone
    /// (redis `clientSubscriptionsCount` / `clientShardSubscriptionsCount`).
    fn count(self, c: &Client) -> usize {
        match self {
            Kind::Channel | Kind::Pattern => c.subs.len() + c.psubs.len(),
            Kind::Shard => c.ssubs.len(),
        }
    }
}

fn confirmation(kind: &'static str, name: Option<Bytes>, count: usize) -> Reply {
    Reply::Push(vec![
        Reply::bulk(Bytes::from_static(kind.as_bytes())),
        name.map_or(Reply::Nil, Reply::Bulk),
        Reply::Int(count as i64),
    ])
}

/// Mirrors the client's subscription counts for other tasks (CLIENT LIST, output limits).
fn sync_counts(c: &Client) {
    let s = &c.shared;
    s.sub_count.store(c.subs.len(), Ordering::Relaxed);
    s.psub_count.store(c.psubs.len(), Ordering::Relaxed);
    s.ssub_count.store(c.ssubs.len(), Ordering::Relaxed);
}

fn add(cx: &mut Ctx, kind: Kind, name: &Bytes) {
    let server = cx.server;
    let shared = cx.client.shared.clone();
    match kind {
        Kind::Channel => server.pubsub.subscribe(name.clone(), &shared),
        Kind::Pattern => server.pubsub.psubscribe(name.clone(), &shared),
        Kind::Shard => server
            .pubsub
            .subscribe_in(Space::Shard, name.clone(), &shared),
    }
}

fn remove(cx: &mut Ctx, kind: Kind, name: &[u8]) {
    let (server, id) = (cx.server, cx.client.id());
    match kind {
        Kind::Channel => server.pubsub.unsubscribe(name, id),
        Kind::Pattern => server.pubsub.punsubscribe(name, id),
        Kind::Shard => server.pubsub.unsubscribe_in(Space::Shard, name, id),
    }
}

fn subscribe_generic(cx: &mut Ctx, kind: Kind) -> Result<Reply, CmdError> {
    let mut out = Vec::with_capacity(cx.argv.len() - 1);
    for name in &cx.argv[1..] {
        // Copies: slices would keep the read buffer they came in allocated while subscribed.
        let name = Bytes::copy_from_slice(name);
        if kind.set(cx.client).insert(name.clone()) {
            add(cx, kind, &name);
        }
        out.push(confirmation(
            kind.names().0,
            Some(name),
            kind.count(cx.client),
        ));
    }
    sync_counts(cx.client);
    Ok(Reply::Multi(out))
}

/// Unsubscribes from `names`, or from everything of the kind when None; one confirmation per
/// name, or a single one with a null name when there was nothing to leave.
fn unsubscribe_names(cx: &mut Ctx, kind: Kind, names: Option<Vec<Bytes>>) -> Vec<Reply> {
    let names = names.unwrap_or_else(|| kind.set(cx.client).iter().cloned().collect());
    let mut out = Vec::with_capacity(names.len().max(1));
    for n in names {
        if kind.set(cx.client).remove(&n) {
            remove(cx, kind, &n);
        }
        out.push(confirmation(kind.names().1, Some(n), kind.count(cx.client)));
    }
    sync_counts(cx.client);
    if out.is_empty() {
        out.push(confirmation(kind.names().1, None, kind.count(cx.client)));
    }
    out
}

fn unsubscribe_generic(cx: &mut Ctx, kind: Kind) -> Result<Reply, CmdError> {
    let names = (cx.argv.len() > 1).then(|| cx.argv[1..].to_vec());
    Ok(Reply::Multi(unsubscribe_names(cx, kind, names)))
}

/// Leaves every channel, pattern and shard channel without confirmations (RESET).
pub fn unsubscribe_all(cx: &mut Ctx) {
    for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
        unsubscribe_names(cx, kind, None);
    }
}

fn subscribe(cx: &mut Ctx) -> Result<Reply, CmdError> {
    subscribe_generic(cx, Kind::Channel)
}

fn psubscribe(cx: &mut Ctx) -> Result<Reply, CmdError> {
    subscribe_generic(cx, Kind::Pattern)
}

/// SSUBSCRIBE is refused inside a transaction (redis CLIENT_DENY_BLOCKING; SUBSCRIBE is let
/// through there for backward compatibility).
fn ssubscribe(cx: &mut Ctx) -> Result<Reply, CmdError> {
    if cx.client.in_exec {
        return Err(CmdError::err(
            "SSUBSCRIBE isn't allowed for a DENY BLOCKING client",
        ));
    }
    subscribe_generic(cx, Kind::Shard)
}

fn unsubscribe(cx: &mut Ctx) -> Result<Reply, CmdError> {
    unsubscribe_generic(cx, Kind::Channel)
}

fn punsubscribe(cx: &mut Ctx) -> Result<Reply, CmdError> {
    unsubscribe_generic(cx, Kind::Pattern)
}

fn sunsubscribe(cx: &mut Ctx) -> Result<Reply, CmdError> {
    unsubscribe_generic(cx, Kind::Shard)
}

/// PUBLISH and SPUBLISH: deliver, count, and send to the replicas only, never to the AOF
/// (redis `forceCommandPropagation(PROPAGATE_REPL)` outside cluster mode).
fn publish_generic(cx: &mut Ctx, space: Space) -> Result<Reply, CmdError> {
    let n = cx
        .server
        .pubsub
        .publish_in(cx.server, space, &cx.argv[1], &cx.argv[2]);
    cx.server
        .stats
        .pubsub_messages
        .fetch_add(1, Ordering::Relaxed);
    cx.db
        .propagate_to(cx.argv.to_vec(), crate::keyspace::Effect::REPLICAS);
    Ok(Reply::Int(n))
}

fn publish(cx: &mut Ctx) -> Result<Reply, CmdError> {
    publish_generic(cx, Space::Global)
}

fn spublish(cx: &mut Ctx) -> Result<Reply, CmdError> {
    publish_generic(cx, Space::Shard)
}

fn list_channels(cx: &mut Ctx, space: Space) -> Result<Reply, CmdError> {
    if cx.argv.len() > 3 {
        return Err(super::admin::subcommand_syntax_error(cx));
    }
    let chans = cx
        .server
        .pubsub
        .channels(space, cx.argv.get(2).map(|b| &b[..]));
    Ok(Reply::array_of_bulks(chans))
}

fn count_subscribers(cx: &mut Ctx, space: Space) -> Result<Reply, CmdError> {
    let mut out = Vec::with_capacity(2 * (cx.argv.len() - 2));
    for ch in &cx.argv[2..] {
        out.push(Reply::Bulk(ch.clone()));
        out.push(Reply::Int(cx.server.pubsub.numsub(space, ch) as i64));
    }
    Ok(Reply::Array(out))
}

fn channels(cx: &mut Ctx) -> Result<Reply, CmdError> {
    list_channels(cx, Space::Global)
}

fn shardchannels(cx: &mut Ctx) -> Result<Reply, CmdError> {
    list_channels(cx, Space::Shard)
}

fn numsub(cx: &mut Ctx) -> Result<Reply, CmdError> {
    count_subscribers(cx, Space::Global)
}

fn shardnumsub(cx: &mut Ctx) -> Result<Reply, CmdError> {
    count_subscribers(cx, Space::Shard)
}

fn numpat(cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(Reply::Int(cx.server.pubsub.numpat() as i64))
}

fn help(_cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(super::admin::help_reply("PUBSUB", HELP))
}
