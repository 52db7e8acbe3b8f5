//! TLS session resumption: `tls-session-caching`, `tls-session-cache-size` (0 = no limit, as
//! OpenSSL's) and `tls-session-cache-timeout` (seconds a session can be resumed).
//!
//! As OpenSSL does for Redis, TLS 1.3 resumes from stateless tickets (the session encrypted
//! under a key only the server has, nothing kept per client) and TLS 1.2 from tickets when the
//! client takes them, else from the server's cache of session ids. A cache entry per TLS 1.3
//! connection would make every client cost server memory (in `used_memory`, hence against
//! `maxmemory`) for the timeout after it left.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rustls::server::{NoServerSessionStorage, ProducesTickets, StoresServerSessions};

use crate::config::Config;

/// The ticket maker the directives ask for: None without `tls-session-caching`.
pub fn tickets(c: &Config) -> Result<Option<Arc<dyn ProducesTickets>>, String> {
    if !c.tls_session_caching {
        return Ok(None);
    }
    let inner = rustls::crypto::ring::Ticketer::new()
        .map_err(|e| format!("Failed to configure TLS session tickets: {e}"))?;
    Ok(Some(Arc::new(Tickets {
        inner,
        timeout: c.tls_session_cache_timeout,
    })))
}

/// rustls's ticketer (keys rolled every 6 hours, each used for 12) with Redis's
/// `tls-session-cache-timeout` on top: the ticket's issue time is sealed in it with the
/// session, and a ticket older than the timeout resumes nothing (OpenSSL checks a session's
/// age against the same timeout).
#[derive(Debug)]
struct Tickets {
    inner: Arc<dyn ProducesTickets>,
    timeout: u64,
}

/// Seconds since the epoch.
fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl ProducesTickets for Tickets {
    fn enabled(&self) -> bool {
        self.inner.enabled()
    }

    fn lifetime(&self) -> u32 {
        let timeout = u32::try_from(self.timeout).unwrap_or(u32::MAX);
        timeout.min(self.inner.lifetime())
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        let mut sealed = Vec::with_capacity(8 + plain.len());
        sealed.extend_from_slice(&now_secs().to_be_bytes());
        sealed.extend_from_slice(plain);
        self.inner.encrypt(&sealed)
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        let mut plain = self.inner.decrypt(cipher)?;
        let issued = u64::from_be_bytes(plain.get(..8)?.try_into().ok()?);
        if now_secs().saturating_sub(issued) > self.timeout {
            return None;
        }
        plain.drain(..8);
        Some(plain)
    }
}

/// The storage of TLS 1.2 session ids the directives ask for.
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
        // Entries come in time order: the expired ones are at the front.
        while let Some(old) = g.order.front() {
            match g.map.get(old) {
                Some((_, at)) if at.elapsed() <= self.timeout => break,
                _ => {
                    if let Some(old) = g.order.pop_front() {
                        g.map.remove(&old);
                    }
                }
            }
        }
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
