//! XINFO STREAM [FULL [COUNT n]], XINFO GROUPS, XINFO CONSUMERS, XINFO HELP.

use super::{entry_reply, id_reply};
use crate::commands::access::get_stream;
use crate::commands::admin::{help_reply, subcommand_syntax_error};
use crate::commands::errors::{self, CmdError};
use crate::commands::Ctx;
use crate::keyspace::stream::{Group, Stream, StreamId, INVALID_READ};
use crate::protocol::Reply;

pub fn xinfo_help(_cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(help_reply(
        "XINFO",
        &[
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
        ],
    ))
}

fn field(name: &'static str, v: Reply) -> (Reply, Reply) {
    (Reply::bulk(bytes::Bytes::from_static(name.as_bytes())), v)
}

fn int(v: impl TryInto<i64>) -> Reply {
    Reply::Int(v.try_into().unwrap_or(i64::MAX))
}

fn entries_read(g: &Group) -> Reply {
    if g.entries_read == INVALID_READ {
        Reply::Nil
    } else {
        Reply::Int(g.entries_read)
    }
}

fn lag(s: &Stream, g: &Group) -> Reply {
    s.lag(g).map_or(Reply::Nil, Reply::Int)
}

pub fn xinfo(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let sub = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
    // Options of STREAM are checked before the key is looked up.
    let mut full = None;
    if sub == "stream" && argv.len() > 3 {
        let opts = &argv[3..];
        if (opts.len() != 1 && opts.len() != 3) || !opts[0].eq_ignore_ascii_case(b"full") {
            return Err(subcommand_syntax_error(cx));
        }
        let mut count = 10;
        if opts.len() == 3 {
            if !opts[1].eq_ignore_ascii_case(b"count") {
                return Err(subcommand_syntax_error(cx));
            }
            count = crate::util::parse_i64(&opts[2]).ok_or(errors::NOT_INTEGER)?;
            if count < 0 {
                count = 10;
            }
        }
        full = Some(count as usize);
    }
    let Some(s) = get_stream(cx.db, &argv[2])? else {
        return Err(errors::NO_SUCH_KEY);
    };
    match sub.as_str() {
        "consumers" => {
            let Some(g) = s.groups.get(&argv[3]) else {
                return Err(CmdError::new(format!(
                    "NOGROUP No such consumer group '{}' for key name '{}'",
                    String::from_utf8_lossy(&argv[3]),
                    String::from_utf8_lossy(&argv[2])
                )));
            };
            let now = crate::util::now_ms();
            Ok(Reply::Array(
                g.consumers
                    .iter()
                    .map(|(name, c)| {
                        Reply::Map(vec![
                            field("name", Reply::Bulk(name.clone())),
                            field("pending", int(c.pel.len())),
                            field("idle", Reply::Int((now - c.seen_time).max(0))),
                        ])
                    })
                    .collect(),
            ))
        }
        "groups" => Ok(Reply::Array(
            s.groups
                .iter()
                .map(|(name, g)| {
                    Reply::Map(vec![
                        field("name", Reply::Bulk(name.clone())),
                        field("consumers", int(g.consumers.len())),
                        field("pending", int(g.pel.len())),
                        field("last-delivered-id", id_reply(g.last_id)),
                        field("entries-read", entries_read(g)),
                        field("lag", lag(s, g)),
                    ])
                })
                .collect(),
        )),
        "stream" => Ok(stream_info(s, full)),
        _ => Err(subcommand_syntax_error(cx)),
    }
}

fn stream_info(s: &Stream, full: Option<usize>) -> Reply {
    let mut m = vec![
        field("length", int(s.len())),
        field("radix-tree-keys", int(s.node_count())),
        field("radix-tree-nodes", int(s.rax_nodes())),
        field("last-generated-id", id_reply(s.last_id)),
        field("max-deleted-entry-id", id_reply(s.max_deleted)),
        field("entries-added", int(s.entries_added)),
        field("recorded-first-entry-id", id_reply(s.first_id)),
    ];
    let Some(count) = full else {
        let edge = |rev: bool| {
            s.range(StreamId::MIN, StreamId::MAX, rev)
                .next()
                .map_or(Reply::Nil, |it| entry_reply(&it))
        };
        m.push(field("groups", int(s.groups.len())));
        m.push(field("first-entry", edge(false)));
        m.push(field("last-entry", edge(true)));
        return Reply::Map(m);
    };
    let limit = if count == 0 { usize::MAX } else { count };
    m.push(field(
        "entries",
        Reply::Array(
            s.range(StreamId::MIN, StreamId::MAX, false)
                .take(limit)
                .map(|it| entry_reply(&it))
                .collect(),
        ),
    ));
    let groups = s
        .groups
        .iter()
        .map(|(name, g)| {
            let pending = g
                .pel
                .iter()
                .take(limit)
                .map(|(id, n)| {
                    Reply::Array(vec![
                        id_reply(*id),
                        Reply::Bulk(bytes::Bytes::clone(&n.consumer)),
                        Reply::Int(n.delivery_time),
                        int(n.delivery_count),
                    ])
                })
                .collect();
            let consumers = g
                .consumers
                .iter()
                .map(|(cname, c)| {
                    let pending = c
                        .pel
                        .iter()
                        .take(limit)
                        .filter_map(|id| g.pel.get(id).map(|n| (id, n)))
                        .map(|(id, n)| {
                            Reply::Array(vec![
                                id_reply(*id),
                                Reply::Int(n.delivery_time),
                                int(n.delivery_count),
                            ])
                        })
                        .collect();
                    Reply::Map(vec![
                        field("name", Reply::Bulk(cname.clone())),
                        field("seen-time", Reply::Int(c.seen_time)),
                        field("pel-count", int(c.pel.len())),
                        field("pending", Reply::Array(pending)),
                    ])
                })
                .collect();
            Reply::Map(vec![
                field("name", Reply::Bulk(name.clone())),
                field("last-delivered-id", id_reply(g.last_id)),
                field("entries-read", entries_read(g)),
                field("lag", lag(s, g)),
                field("pel-count", int(g.pel.len())),
                field("pending", Reply::Array(pending)),
                field("consumers", Reply::Array(consumers)),
            ])
        })
        .collect();
    m.push(field("groups", Reply::Array(groups)));
    Reply::Map(m)
}
