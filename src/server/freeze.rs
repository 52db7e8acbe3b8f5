//! DEBUG SLEEP stops the whole server, as it stops redis's single thread: while it runs, no
//! other connection starts a command, and the replication link neither applies its master's
//! stream nor connects again. Tests and operators use it to make a server look stuck to its
//! peers (a replica that cannot reconnect before its master's backlog expires, a master that
//! sends nothing during a replica's handshake).

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

#[derive(Debug, Default)]
pub struct Freeze {
    /// Unix ms at which the running DEBUG SLEEP ends; 0 when none runs.
    until_ms: AtomicI64,
}

impl Freeze {
    /// Stops the server for `d`, blocking the calling thread (the command's own).
    pub fn hold(&self, d: Duration) {
        let until = crate::util::now_ms() + d.as_millis() as i64;
        let prev = self.until_ms.fetch_max(until, Ordering::AcqRel);
        std::thread::sleep(d);
        // Ends it unless a longer one started meanwhile.
        let _ =
            self.until_ms
                .compare_exchange(until.max(prev), 0, Ordering::AcqRel, Ordering::Relaxed);
    }

    /// Waits until no DEBUG SLEEP runs; one atomic load when none does.
    pub async fn wait(&self) {
        loop {
            let until = self.until_ms.load(Ordering::Acquire);
            if until == 0 {
                return;
            }
            let left = until - crate::util::now_ms();
            if left <= 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(left as u64)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiters_resume_when_the_sleep_ends() {
        let f = std::sync::Arc::new(Freeze::default());
        let start = std::time::Instant::now();
        f.wait().await;
        assert!(start.elapsed() < Duration::from_millis(50));
        let g = f.clone();
        let sleeper = std::thread::spawn(move || g.hold(Duration::from_millis(300)));
        while f.until_ms.load(Ordering::Acquire) == 0 {
            std::thread::yield_now();
        }
        f.wait().await;
        assert!(start.elapsed() >= Duration::from_millis(250));
        sleeper.join().expect("sleeper");
        assert_eq!(f.until_ms.load(Ordering::Acquire), 0);
    }
}
