//! Active expiry (redis `activeExpireCycle`): each cron tick samples keys with a TTL, shard by
//! shard, deletes those past their time and propagates a `DEL` for each, within a time budget.

use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::Rng;

use super::Server;
use crate::keyspace::db::remove_captured;
use crate::keyspace::{Effect, SHARDS};

/// Keys sampled per database per round (ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP).
const SAMPLE: usize = 20;
/// Another round on the same table while more than this share of the sample had expired.
const REPEAT_PERCENT: usize = 10;

pub fn active_expire_cycle(server: &Server) {
    let (hz, lazy) = {
        let c = server.config.read();
        (u64::from(c.hz.clamp(1, 500)), c.lazyfree_lazy_expire)
    };
    // 25% of the tick's CPU time, as redis's default effort.
    let budget = Duration::from_micros(250_000 / hz);
    let start = Instant::now();
    let ndbs = server.keyspace.databases();
    let mut rng = rand::rng();
    let mut expired_total = 0u64;
    for s in 0..SHARDS {
        if start.elapsed() > budget {
            break;
        }
        let mut locked = server.keyspace.lock_shard(s);
        let (_, capture) = server.keyspace.capture_state();
        let now = crate::util::now_ms();
        for db in 0..ndbs {
            loop {
                let shard = locked.shards_mut().next();
                let Some(shard) = shard else { break };
                let t = &mut shard.tables[db];
                let n = t.volatile_len();
                if n == 0 {
                    break;
                }
                let mut dead: Vec<Bytes> = Vec::new();
                for _ in 0..SAMPLE.min(n) {
                    let i = rng.random_range(0..n);
                    if let Some((k, when)) = t.volatile_at(i) {
                        if when <= now && !dead.iter().any(|d| d[..] == k[..]) {
                            dead.push(Bytes::copy_from_slice(k));
                        }
                    }
                }
                for k in &dead {
                    let del = Instant::now();
                    match remove_captured(capture.as_deref(), db, t, k) {
                        Some(e) if lazy => server.lazyfree.free_value(e.value),
                        gone => drop(gone),
                    }
                    let usec = del.elapsed().as_micros() as u64;
                    crate::commands::admin::latency::event(server, "expire-del", usec);
                }
                let sampled = SAMPLE.min(n);
                let found = dead.len();
                for k in dead {
                    expired_total += 1;
                    let effect = Effect::new(db, vec![Bytes::from_static(b"DEL"), k.clone()]);
                    super::notify::notify(
                        server,
                        crate::config::notify::EXPIRED,
                        "expired",
                        &k,
                        db,
                    );
                    server.watches.touch(&[(db, k.clone())], |_, _| false);
                    server.tracking.keys_deleted(server, std::iter::once(k));
                    server.replication_feed(std::slice::from_ref(&effect));
                }
                if found * 100 <= sampled * REPEAT_PERCENT || start.elapsed() > budget {
                    break;
                }
            }
        }
    }
    super::stats::Stats::add(&server.stats.expired_keys, expired_total);
    let usec = start.elapsed().as_micros() as u64;
    crate::commands::admin::latency::event(server, "expire-cycle", usec);
}
