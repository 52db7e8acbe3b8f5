//! WATCH bookkeeping: which clients watch which (db, key). Writers dirty the watchers of the
//! keys they modified; the check costs one atomic load when nobody watches anything.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use super::client::ClientShared;

/// (db, key) → the clients watching it.
type WatchMap = HashMap<(usize, Bytes), Vec<Arc<ClientShared>>>;

#[derive(Default)]
pub struct Watches {
    keys: Mutex<WatchMap>,
    count: AtomicUsize,
}

impl Watches {
    pub fn watch(&self, db: usize, key: Bytes, client: &Arc<ClientShared>) {
        let mut m = self.keys.lock();
        let list = m.entry((db, key)).or_default();
        if !list.iter().any(|c| c.id == client.id) {
            list.push(client.clone());
            self.count.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn unwatch_all(&self, keys: &[(usize, Bytes)], client_id: u64) {
        if keys.is_empty() {
            return;
        }
        let mut m = self.keys.lock();
        for k in keys {
            if let Some(list) = m.get_mut(k) {
                let before = list.len();
                list.retain(|c| c.id != client_id);
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

    /// Dirties the watchers of these keys.
    pub fn touch(&self, keys: &[(usize, Bytes)]) {
        if !self.any() || keys.is_empty() {
            return;
        }
        let m = self.keys.lock();
        for k in keys {
            if let Some(list) = m.get(k) {
                for c in list {
                    c.dirty_cas.store(true, Ordering::Relaxed);
                }
            }
        }
    }

    /// Dirties every watcher of a key in database `db` (FLUSHDB, SWAPDB); `None` = all dbs.
    pub fn touch_db(&self, db: Option<usize>) {
        if !self.any() {
            return;
        }
        let m = self.keys.lock();
        for ((d, _), list) in m.iter() {
            if db.is_none_or(|x| x == *d) {
                for c in list {
                    c.dirty_cas.store(true, Ordering::Relaxed);
                }
            }
        }
    }

    /// Number of watched keys (INFO `watching_clients`-like figures).
    pub fn watched_keys(&self) -> usize {
        self.keys.lock().len()
    }
}
