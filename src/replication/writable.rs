//! Keys that a writable replica's own clients gave a TTL (redis `slaveKeysWithExpire`). A
//! replica never expires its master's keys (their DELs come in the stream), but nobody would
//! ever delete these: the replica's cron deletes them once their time has passed.

use std::collections::HashSet;

use bytes::Bytes;
use parking_lot::Mutex;

use crate::keyspace::{Db, ExpireMode};
use crate::server::Server;

#[derive(Default)]
pub struct LocalKeysWithExpire {
    keys: Mutex<HashSet<(usize, Bytes)>>,
}

/// After a command of a replica's own client: remembers the keys it wrote that now have a TTL.
pub fn remember(server: &Server, db: &mut Db<'_>, written: Vec<(usize, Bytes)>) {
    for (index, key) in written {
        if db.expire_at_in(index, &key).is_some() {
            server
                .repl
                .local_keys_with_expire
                .keys
                .lock()
                .insert((index, key));
        }
    }
}

/// The replica's share of active expiry (redis `expireSlaveKeys`): deletes the remembered keys
/// whose time has passed and forgets those without a TTL any more. Not propagated: a replica's
/// stream is its master's.
pub fn expire_local_keys(server: &Server) {
    let keys: Vec<(usize, Bytes)> = {
        let set = server.repl.local_keys_with_expire.keys.lock();
        if set.is_empty() {
            return;
        }
        set.iter().cloned().collect()
    };
    let now = crate::util::now_ms();
    let mut expired = 0;
    for (index, key) in keys {
        let locked = server.keyspace.lock_shard(server.keyspace.shard_of(&key));
        let mut db = Db::new(locked, index, now, ExpireMode::Ignore);
        let keep = match db.expire_at_in(index, &key) {
            Some(at) if at <= now => {
                db.remove_in(index, &key);
                expired += 1;
                crate::server::notify::notify(
                    server,
                    crate::config::notify::EXPIRED,
                    "expired",
                    &key,
                    index,
                );
                server.watches.touch(&[(index, key.clone())], |_, _| false);
                false
            }
            Some(_) => true,
            None => false,
        };
        drop(db);
        if !keep {
            server
                .repl
                .local_keys_with_expire
                .keys
                .lock()
                .remove(&(index, key));
        }
    }
    crate::server::stats::Stats::add(&server.stats.expired_keys, expired);
}
