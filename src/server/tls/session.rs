//! The server's TLS session cache: `tls-session-caching`, `tls-session-cache-size` (0 = no
//! limit, as OpenSSL's) and `tls-session-cache-timeout` (seconds a session can be resumed).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rustls::server::{NoServerSessionStorage, StoresServerSessions};

use crate::config::Config;

/// The storage the directives ask for.
pub fn storage(c: &Config) -> Arc<dyn StoresServerSessions> {
    if !c.tls_session_caching {
        return Arc::new(NoServerSessionStorage {});
    }
    Arc::new(Cache {
        size: c.tls_session_cache_size as usize,
        timeout: Duration::from_secs(c.tls_session_cache_timeout),
        inner: Mutex::default(),
    })
}

#[derive(Debug)]
struct Cache {
    size: usize,
    timeout: Duration,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<Vec<u8>, (Vec<u8>, Instant)>,
    /// Keys oldest first (may name entries already taken).
    order: VecDeque<Vec<u8>>,
}

impl Inner {
    fn live(&mut self, key: &[u8], timeout: Duration) -> bool {
        match self.map.get(key) {
            Some((_, at)) if at.elapsed() <= timeout => true,
            Some(_) => {
                self.map.remove(key);
                false
            }
            None => false,
        }
    }
}

impl StoresServerSessions for Cache {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let mut g = self.inner.lock();
        if self.size > 0 {
            while g.map.len() >= self.size {
                let Some(old) = g.order.pop_front() else {
                    break;
                };
                g.map.remove(&old);
            }
        }
        // Keep the order list from growing past the live entries by much.
        if g.order.len() > 2 * g.map.len() + 64 {
            let Inner { map, order } = &mut *g;
            order.retain(|k| map.contains_key(k));
        }
        g.order.push_back(key.clone());
        g.map.insert(key, (value, Instant::now()));
        true
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let mut g = self.inner.lock();
        if !g.live(key, self.timeout) {
            return None;
        }
        g.map.get(key).map(|(v, _)| v.clone())
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        let mut g = self.inner.lock();
        if !g.live(key, self.timeout) {
            return None;
        }
        g.map.remove(key).map(|(v, _)| v)
    }

    fn can_cache(&self) -> bool {
        true
    }
}
