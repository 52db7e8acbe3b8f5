//! The ACL log (ACL LOG): refused commands and failed logins, newest first, similar events
//! within a minute folded into one entry with a count (redis `addACLLogEntry`).

use std::collections::VecDeque;

use bytes::Bytes;
use parking_lot::Mutex;

use crate::protocol::Reply;

/// Why an entry was logged (redis `ACL_DENIED_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Command,
    Key,
    Channel,
    Auth,
}

/// Where it happened (redis `ACL_LOG_CTX_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    Toplevel,
    Multi,
    Lua,
}

struct Entry {
    count: u64,
    reason: Reason,
    context: Context,
    object: Bytes,
    username: Bytes,
    ctime_ms: i64,
    client_info: String,
}

/// Entries within this many ms of each other are folded (redis
/// `ACL_LOG_GROUPING_MAX_TIME_DELTA`).
const GROUPING_MS: i64 = 60_000;

#[derive(Default)]
pub struct Log {
    entries: Mutex<VecDeque<Entry>>,
}

impl Log {
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &self,
        reason: Reason,
        context: Context,
        object: Bytes,
        username: Bytes,
        client_info: String,
        max_len: usize,
    ) {
        let now = crate::util::now_ms();
        let mut entries = self.entries.lock();
        let similar = entries.iter().take(10).position(|e| {
            e.reason == reason
                && e.context == context
                && (e.ctime_ms - now).abs() <= GROUPING_MS
                && e.object == object
                && e.username == username
        });
        if let Some(i) = similar {
            if let Some(mut e) = entries.remove(i) {
                e.count += 1;
                e.ctime_ms = now;
                e.client_info = client_info;
                entries.push_front(e);
            }
            return;
        }
        entries.push_front(Entry {
            count: 1,
            reason,
            context,
            object,
            username,
            ctime_ms: now,
            client_info,
        });
        entries.truncate(max_len);
    }

    pub fn reset(&self) {
        self.entries.lock().clear();
    }

    /// The newest `count` entries as ACL LOG replies them.
    pub fn reply(&self, count: usize) -> Reply {
        let now = crate::util::now_ms();
        let entries = self.entries.lock();
        let s = Reply::bulk_str;
        Reply::Array(
            entries
                .iter()
                .take(count)
                .map(|e| {
                    Reply::Map(vec![
                        (s("count"), Reply::Int(e.count as i64)),
                        (
                            s("reason"),
                            s(match e.reason {
                                Reason::Command => "command",
                                Reason::Key => "key",
                                Reason::Channel => "channel",
                                Reason::Auth => "auth",
                            }),
                        ),
                        (
                            s("context"),
                            s(match e.context {
                                Context::Toplevel => "toplevel",
                                Context::Multi => "multi",
                                Context::Lua => "lua",
                            }),
                        ),
                        (s("object"), Reply::Bulk(e.object.clone())),
                        (s("username"), Reply::Bulk(e.username.clone())),
                        (
                            s("age-seconds"),
                            Reply::Double((now - e.ctime_ms) as f64 / 1000.0),
                        ),
                        (
                            s("client-info"),
                            Reply::bulk(Bytes::from(e.client_info.clone())),
                        ),
                    ])
                })
                .collect(),
        )
    }
}
