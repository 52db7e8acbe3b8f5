//! WATCH bookkeeping (redis `multi.c`): which clients watch which (db, key). Writers dirty the
//! watchers of the keys they modified; the check costs one atomic load when nobody watches
//! anything.
//!
//! A key that was already logically expired when it was WATCHed is remembered as such: its
//! deletion (lazy or active expiry, DEL, FLUSHDB) is no logical change and does not fail the
//! EXEC, while a key that expires after WATCH does (redis `watchedKey.expired`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use super::client::ClientShared;
use crate::keyspace::KeyProbe;

/// One client's watch of one key.
#[derive(Debug)]
pub struct Watcher {
    pub client: Arc<ClientShared>,
    /// The key was logically expired when watched (and has not been deleted since).
    pub expired: AtomicBool,
}

/// (db, key) → its watchers.
type WatchMap = HashMap<(usize, Bytes), Vec<Arc<Watcher>>>;

#[derive(Default)]
pub struct Watches {
    keys: Mutex<WatchMap>,
    count: AtomicUsize,
}

impl Watches {
    /// Watches `key` of `db` for `client`; `expired` says whether it is logically expired now.
    pub fn watch(
        &self,
        db: usize,
        key: Bytes,
        client: &Arc<ClientShared>,
        expired: bool,
    ) -> Arc<Watcher> {
        let mut m = self.keys.lock();
        let list = m.entry((db, key)).or_default();
        if let Some(w) = list.iter().find(|w| w.client.id == client.id) {
            return w.clone();
        }
        let w = Arc::new(Watcher {
            client: client.clone(),
            expired: AtomicBool::new(expired),
        });
        list.push(w.clone());
        self.count.fetch_add(1, Ordering::Relaxed);
        w
    }

    pub fn unwatch_all(&self, keys: &[(usize, Bytes)], client_id: u64) {
        if keys.is_empty() {
            return;
        }
        let mut m = self.keys.lock();
        for k in keys {
            if let Some(list) = m.get_mut(k) {
                let before = list.len();
                list.retain(|w| w.client.id != client_id);
                self.count.fetch_sub(before - list.len(), Ordering::Relaxed);
                if list.is_empty() {
                    m.remove(k);
                }
            }
        }
    }

    pub fn any(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }

    /// Dirties the watchers of these keys (redis `touchWatchedKey`). `exists` tells whether a
    /// key is still in its table: the deletion of a key that was already expired when
    /// watched is no change.
    pub fn touch(&self, keys: &[(usize, Bytes)], exists: impl Fn(usize, &[u8]) -> bool) {
        if !self.any() || keys.is_empty() {
            return;
        }
        let m = self.keys.lock();
        for k in keys {
            if let Some(list) = m.get(k) {
                for w in list {
                    if w.expired.load(Ordering::Relaxed) {
                        if !exists(k.0, &k.1) {
                            w.expired.store(false, Ordering::Relaxed);
                        }
                        continue;
                    }
                    w.client.dirty_cas.store(true, Ordering::Relaxed);
                }
            }
        }
    }

    /// Before database `emptied` is flushed, or swapped with `replaced_with` (redis
    /// `touchAllWatchedKeysInDb`): dirties the watchers of the keys that exist in either,
    /// except where a stale key stays stale or simply goes away.
    pub fn before_db_change(&self, emptied: usize, replaced_with: Option<usize>, p: &dyn KeyProbe) {
        if !self.any() {
            return;
        }
        let m = self.keys.lock();
        for ((d, key), list) in m.iter() {
            if *d != emptied {
                continue;
            }
            let in_emptied = p.exists(emptied, key);
            let in_new = replaced_with.is_some_and(|r| p.exists(r, key));
            if !in_emptied && !in_new {
                continue;
            }
            let new_expired = replaced_with.is_some_and(|r| in_new && p.is_expired(r, key));
            for w in list {
                if w.expired.load(Ordering::Relaxed) {
                    if !in_new {
                        w.expired.store(false, Ordering::Relaxed);
                        continue;
                    }
                    if new_expired {
                        continue;
                    }
                } else if !in_emptied && new_expired {
                    w.expired.store(true, Ordering::Relaxed);
                    continue;
                }
                w.client.dirty_cas.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Dirties every watcher of a key in database `db`; `None` = all dbs (the dataset was
    /// replaced by a replica's full sync).
    pub fn touch_db(&self, db: Option<usize>) {
        if !self.any() {
            return;
        }
        let m = self.keys.lock();
        for ((d, _), list) in m.iter() {
            if db.is_none_or(|x| x == *d) {
                for w in list {
                    w.client.dirty_cas.store(true, Ordering::Relaxed);
                }
            }
        }
    }

    /// Whether a key `client` watches, not expired when watched, has expired since (redis
    /// `isWatchedKeyExpired`, checked by EXEC).
    pub fn any_expired_since(
        &self,
        keys: &[(usize, Bytes)],
        client_id: u64,
        is_expired: impl Fn(usize, &[u8]) -> bool,
    ) -> bool {
        let m = self.keys.lock();
        keys.iter().any(|k| {
            m.get(k).is_some_and(|list| {
                list.iter().any(|w| {
                    w.client.id == client_id
                        && !w.expired.load(Ordering::Relaxed)
                        && is_expired(k.0, &k.1)
                })
            })
        })
    }

    /// Number of watched keys (INFO `watching_clients`-like figures).
    pub fn watched_keys(&self) -> usize {
        self.keys.lock().len()
    }
}
