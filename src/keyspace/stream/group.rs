//! Consumer groups (redis `streamCG`, `streamConsumer`, `streamNACK`): the group's pending
//! entries list maps each delivered, unacknowledged ID to its NACK (owner, delivery time and
//! count); each consumer keeps the set of IDs it owns. Names sort as bytes, as in Redis's
//! radix trees, so every listing comes out in Redis's order.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use super::StreamId;

/// A delivered entry not acknowledged yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nack {
    pub delivery_time: i64,
    pub delivery_count: u64,
    /// The consumer it was last delivered to.
    pub consumer: Bytes,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Consumer {
    pub seen_time: i64,
    pub pel: BTreeSet<StreamId>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Group {
    pub last_id: StreamId,
    /// Logical read counter, `INVALID_READ` when unknown.
    pub entries_read: i64,
    pub pel: BTreeMap<StreamId, Nack>,
    pub consumers: BTreeMap<Bytes, Consumer>,
}

impl Group {
    pub fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// Creates consumer `name` seen now; false if it exists.
    pub fn create_consumer(&mut self, name: &Bytes, now_ms: i64) -> bool {
        if self.consumers.contains_key(name) {
            return false;
        }
        self.consumers.insert(
            name.clone(),
            Consumer {
                seen_time: now_ms,
                pel: BTreeSet::new(),
            },
        );
        true
    }

    /// Looks consumer `name` up and marks it seen now (`streamLookupConsumer`).
    pub fn touch_consumer(&mut self, name: &[u8], now_ms: i64) -> bool {
        match self.consumers.get_mut(name) {
            Some(c) => {
                c.seen_time = now_ms;
                true
            }
            None => false,
        }
    }

    /// Deletes a consumer and its pending entries; returns how many it had.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pel {
            self.pel.remove(id);
        }
        Some(c.pel.len())
    }

    /// Removes `id` from the PEL and from its owner's; false if it was not pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        let Some(nack) = self.pel.remove(&id) else {
            return false;
        };
        if let Some(c) = self.consumers.get_mut(&nack.consumer) {
            c.pel.remove(&id);
        }
        true
    }

    /// Makes `consumer` (which must exist) the owner of pending `id`, creating the NACK if
    /// needed (delivered now, once: `streamCreateNACK`); returns the NACK for its counters
    /// to be set.
    pub fn assign(&mut self, id: StreamId, consumer: &Bytes, now_ms: i64) -> &mut Nack {
        let fresh = !self.pel.contains_key(&id);
        let nack = self.pel.entry(id).or_insert_with(|| Nack {
            delivery_time: now_ms,
            delivery_count: 1,
            consumer: consumer.clone(),
        });
        if fresh || nack.consumer != *consumer {
            if !fresh {
                if let Some(old) = self.consumers.get_mut(&nack.consumer) {
                    old.pel.remove(&id);
                }
            }
            if let Some(c) = self.consumers.get_mut(consumer) {
                c.pel.insert(id);
            }
            nack.consumer = consumer.clone();
        }
        nack
    }
}
