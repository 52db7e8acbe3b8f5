//! Consumer groups (redis `streamCG`, `streamConsumer`, `streamNACK`): the group's pending
//! entries list maps each delivered, unacknowledged ID to its NACK (owner, delivery time and
//! count); each consumer keeps the set of IDs it owns. Names sort as bytes, as in Redis's
//! radix trees, so every listing comes out in Redis's order. Both lists are chunked sorted
//! vectors (`idmap.rs`) and a NACK points to its owner's name, as Redis's points to its
//! consumer: a pending entry costs about 60 bytes (Redis about 85).

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use super::idmap::{IdMap, IdSet};
use super::StreamId;

/// A consumer's name, shared by the NACKs it owns.
pub type ConsumerName = Arc<Bytes>;

/// A delivered entry not acknowledged yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nack {
    pub delivery_time: i64,
    pub delivery_count: u64,
    /// The consumer it was last delivered to.
    pub consumer: ConsumerName,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Consumer {
    /// Its name (the same bytes as its key in the group), for its NACKs to share.
    pub name: ConsumerName,
    pub seen_time: i64,
    pub pel: IdSet,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Group {
    pub last_id: StreamId,
    /// Logical read counter, `INVALID_READ` when unknown.
    pub entries_read: i64,
    pub pel: IdMap<Nack>,
    pub consumers: BTreeMap<Bytes, Consumer>,
}

impl Group {
    pub fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group {
            last_id,
            entries_read,
            pel: IdMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// Creates consumer `name` seen now; false if it exists. The name is copied (an argument
    /// is a slice of its request's read buffer, which it would keep alive).
    pub fn create_consumer(&mut self, name: &[u8], now_ms: i64) -> bool {
        if self.consumers.contains_key(name) {
            return false;
        }
        let name = Bytes::copy_from_slice(name);
        self.consumers.insert(
            name.clone(),
            Consumer {
                name: Arc::new(name),
                seen_time: now_ms,
                pel: IdSet::new(),
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
        if let Some(c) = self.consumers.get_mut(nack.consumer.as_ref()) {
            c.pel.remove(&id);
        }
        true
    }

    /// Makes `consumer` (which must exist) the owner of pending `id`, creating the NACK if
    /// needed (delivered now, once: `streamCreateNACK`); returns the NACK for its counters
    /// to be set.
    pub fn assign(&mut self, id: StreamId, consumer: &[u8], now_ms: i64) -> &mut Nack {
        let owner = match self.consumers.get_mut(consumer) {
            Some(c) => {
                c.pel.insert(id);
                c.name.clone()
            }
            None => Arc::new(Bytes::copy_from_slice(consumer)),
        };
        let (nack, fresh) = self.pel.get_or_insert_with(id, || Nack {
            delivery_time: now_ms,
            delivery_count: 1,
            consumer: owner.clone(),
        });
        if !fresh && nack.consumer != owner {
            let old = std::mem::replace(&mut nack.consumer, owner);
            if let Some(c) = self.consumers.get_mut(old.as_ref()) {
                c.pel.remove(&id);
            }
        }
        nack
    }
}
