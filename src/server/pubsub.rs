//! Channel and pattern subscriptions, and PUBLISH delivery to subscribers' connections.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use super::client::ClientShared;
use super::Server;
use crate::protocol::encode::{encode, Resp};
use crate::protocol::Reply;

type Subscribers = HashMap<u64, Arc<ClientShared>>;

#[derive(Default)]
pub struct PubSub {
    channels: Mutex<HashMap<Bytes, Subscribers>>,
    patterns: Mutex<HashMap<Bytes, Subscribers>>,
    /// Shard channels (SSUBSCRIBE): their own namespace, no patterns.
    shard: Mutex<HashMap<Bytes, Subscribers>>,
}

/// The two channel namespaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    Global,
    Shard,
}

impl PubSub {
    fn space(&self, space: Space) -> &Mutex<HashMap<Bytes, Subscribers>> {
        match space {
            Space::Global => &self.channels,
            Space::Shard => &self.shard,
        }
    }

    pub fn subscribe(&self, channel: Bytes, c: &Arc<ClientShared>) {
        self.subscribe_in(Space::Global, channel, c)
    }

    pub fn unsubscribe(&self, channel: &[u8], id: u64) {
        self.unsubscribe_in(Space::Global, channel, id)
    }

    pub fn subscribe_in(&self, space: Space, channel: Bytes, c: &Arc<ClientShared>) {
        self.space(space)
            .lock()
            .entry(channel)
            .or_default()
            .insert(c.id, c.clone());
    }

    pub fn unsubscribe_in(&self, space: Space, channel: &[u8], id: u64) {
        let mut m = self.space(space).lock();
        if let Some(s) = m.get_mut(channel) {
            s.remove(&id);
            if s.is_empty() {
                m.remove(channel);
            }
        }
    }

    pub fn psubscribe(&self, pattern: Bytes, c: &Arc<ClientShared>) {
        self.patterns
            .lock()
            .entry(pattern)
            .or_default()
            .insert(c.id, c.clone());
    }

    pub fn punsubscribe(&self, pattern: &[u8], id: u64) {
        let mut m = self.patterns.lock();
        if let Some(s) = m.get_mut(pattern) {
            s.remove(&id);
            if s.is_empty() {
                m.remove(pattern);
            }
        }
    }

    /// Delivers a message; returns the number of receivers (PUBLISH's and SPUBLISH's reply).
    /// Each message is encoded once per protocol version and shared by its receivers. Shard
    /// channels ignore patterns.
    pub fn publish(&self, server: &Server, channel: &Bytes, message: &Bytes) -> i64 {
        self.publish_in(server, Space::Global, channel, message)
    }

    pub fn publish_in(
        &self,
        server: &Server,
        space: Space,
        channel: &Bytes,
        message: &Bytes,
    ) -> i64 {
        let mut n = 0;
        if let Some(subs) = self.space(space).lock().get(channel) {
            let kind: &'static [u8] = match space {
                Space::Global => b"message",
                Space::Shard => b"smessage",
            };
            let mut enc = Encoded::new(Reply::Push(vec![
                Reply::bulk(Bytes::from_static(kind)),
                Reply::Bulk(channel.clone()),
                Reply::Bulk(message.clone()),
            ]));
            for c in subs.values() {
                c.push(server, enc.get(c));
                n += 1;
            }
        }
        if space == Space::Shard {
            return n;
        }
        for (pat, subs) in self.patterns.lock().iter() {
            if crate::util::glob_match(pat, channel, false) {
                let mut enc = Encoded::new(Reply::Push(vec![
                    Reply::bulk(Bytes::from_static(b"pmessage")),
                    Reply::Bulk(pat.clone()),
                    Reply::Bulk(channel.clone()),
                    Reply::Bulk(message.clone()),
                ]));
                for c in subs.values() {
                    c.push(server, enc.get(c));
                    n += 1;
                }
            }
        }
        n
    }

    /// Active channels matching an optional pattern (PUBSUB CHANNELS / SHARDCHANNELS).
    pub fn channels(&self, space: Space, pattern: Option<&[u8]>) -> Vec<Bytes> {
        self.space(space)
            .lock()
            .keys()
            .filter(|c| pattern.is_none_or(|p| crate::util::glob_match(p, c, false)))
            .cloned()
            .collect()
    }

    pub fn numsub(&self, space: Space, channel: &[u8]) -> usize {
        self.space(space).lock().get(channel).map_or(0, |s| s.len())
    }

    pub fn numpat(&self) -> usize {
        self.patterns.lock().len()
    }

    /// The channels (global and shard ones) and patterns client `id` is subscribed to (for ACL
    /// changes, which must look at other clients' subscriptions).
    pub fn subscriptions_of(&self, id: u64) -> (Vec<Bytes>, Vec<Bytes>) {
        let of = |m: &HashMap<Bytes, Subscribers>| -> Vec<Bytes> {
            m.iter()
                .filter(|(_, s)| s.contains_key(&id))
                .map(|(k, _)| k.clone())
                .collect()
        };
        let mut channels = of(&self.channels.lock());
        channels.extend(of(&self.shard.lock()));
        (channels, of(&self.patterns.lock()))
    }

    pub fn channel_count(&self, space: Space) -> usize {
        self.space(space).lock().len()
    }
}

/// A reply encoded on demand for each protocol version its receivers speak.
pub struct Encoded {
    reply: Reply,
    v2: Option<Bytes>,
    v3: Option<Bytes>,
}

impl Encoded {
    pub fn new(reply: Reply) -> Encoded {
        Encoded {
            reply,
            v2: None,
            v3: None,
        }
    }

    /// The bytes for `c`'s protocol version.
    pub fn get(&mut self, c: &ClientShared) -> Bytes {
        let resp = if c.resp.load(std::sync::atomic::Ordering::Relaxed) == 3 {
            Resp::V3
        } else {
            Resp::V2
        };
        let slot = match resp {
            Resp::V2 => &mut self.v2,
            Resp::V3 => &mut self.v3,
        };
        slot.get_or_insert_with(|| {
            let mut out = bytes::BytesMut::new();
            encode(&self.reply, resp, &mut out);
            out.freeze()
        })
        .clone()
    }
}
