//! Channel and pattern subscriptions, and PUBLISH delivery to subscribers' connections.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use super::client::{ClientShared, Push};
use crate::protocol::Reply;

type Subscribers = HashMap<u64, Arc<ClientShared>>;

#[derive(Default)]
pub struct PubSub {
    channels: Mutex<HashMap<Bytes, Subscribers>>,
    patterns: Mutex<HashMap<Bytes, Subscribers>>,
}

impl PubSub {
    pub fn subscribe(&self, channel: Bytes, c: &Arc<ClientShared>) {
        self.channels
            .lock()
            .entry(channel)
            .or_default()
            .insert(c.id, c.clone());
    }

    pub fn unsubscribe(&self, channel: &[u8], id: u64) {
        let mut m = self.channels.lock();
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

    /// Delivers a message; returns the number of receivers (PUBLISH's reply).
    pub fn publish(&self, channel: &Bytes, message: &Bytes) -> i64 {
        let mut n = 0;
        if let Some(subs) = self.channels.lock().get(channel) {
            for c in subs.values() {
                c.send(Push::Reply(Reply::Push(vec![
                    Reply::bulk(Bytes::from_static(b"message")),
                    Reply::Bulk(channel.clone()),
                    Reply::Bulk(message.clone()),
                ])));
                n += 1;
            }
        }
        for (pat, subs) in self.patterns.lock().iter() {
            if crate::util::glob_match(pat, channel, false) {
                for c in subs.values() {
                    c.send(Push::Reply(Reply::Push(vec![
                        Reply::bulk(Bytes::from_static(b"pmessage")),
                        Reply::Bulk(pat.clone()),
                        Reply::Bulk(channel.clone()),
                        Reply::Bulk(message.clone()),
                    ])));
                    n += 1;
                }
            }
        }
        n
    }

    /// Active channels matching an optional pattern (PUBSUB CHANNELS).
    pub fn channels(&self, pattern: Option<&[u8]>) -> Vec<Bytes> {
        self.channels
            .lock()
            .keys()
            .filter(|c| pattern.is_none_or(|p| crate::util::glob_match(p, c, false)))
            .cloned()
            .collect()
    }

    pub fn numsub(&self, channel: &[u8]) -> usize {
        self.channels.lock().get(channel).map_or(0, |s| s.len())
    }

    pub fn numpat(&self) -> usize {
        self.patterns.lock().len()
    }

    pub fn channel_count(&self) -> usize {
        self.channels.lock().len()
    }
}
