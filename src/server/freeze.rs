//! DEBUG SLEEP stops the whole server, as it stops redis's single thread: while it runs, no
//! other connection starts a command, and the replication link neither applies its master's
//! stream nor connects again. Tests and operators use it to make a server look stuck to its
//! peers (a replica that cannot reconnect before its master's backlog expires, a master that
//! sends nothing during a replica's handshake).

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// The longest DEBUG SLEEP honoured: a bound on a typo, not something Redis has.
const LONGEST_SLEEP_SECS: f64 = 3600.0;

/// How long DEBUG SLEEP `secs` holds the server: negative and NaN are no time, and the rest is
/// bounded by [`LONGEST_SLEEP_SECS`].
pub fn sleep_duration(secs: f64) -> Duration {
    if secs.is_nan() {
        return Duration::ZERO;
    }
    Duration::from_secs_f64(secs.clamp(0.0, LONGEST_SLEEP_SECS))
}

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

    /// Holds the server from now on for the DEBUG SLEEP at the front of `request`, if that is
    /// what it is and no sleep runs yet. Called before the request's turn in the arrival order
    /// lets later requests start: they find the server held, as Redis's single thread would
    /// have been, instead of slipping in between the turn and the sleep itself. The hold ends
    /// with the returned guard unless the sleep took it over (it ends it itself), so a DEBUG
    /// SLEEP that is refused (DEBUG not allowed, a bad argument) holds nobody.
    pub fn announce(&self, request: &[u8]) -> Option<Announced<'_>> {
        let secs = sleep_request_secs(request)?;
        let until = crate::util::now_ms() + sleep_duration(secs).as_millis() as i64;
        self.until_ms
            .compare_exchange(0, until, Ordering::AcqRel, Ordering::Relaxed)
            .ok()?;
        Some(Announced {
            freeze: self,
            until,
        })
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

/// A hold taken by [`Freeze::announce`] for a sleep about to run.
pub struct Announced<'a> {
    freeze: &'a Freeze,
    until: i64,
}

impl Drop for Announced<'_> {
    fn drop(&mut self) {
        let _ = self.freeze.until_ms.compare_exchange(
            self.until,
            0,
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
    }
}

/// The seconds of `DEBUG SLEEP <secs>` if `request` starts with one, in the multibulk or the
/// inline form (three arguments, as the command takes). Runs before every batch: it gives up
/// at the first byte that rules the request out and allocates nothing.
fn sleep_request_secs(request: &[u8]) -> Option<f64> {
    let mut args: [&[u8]; 3] = [&[]; 3];
    if let Some(rest) = request.strip_prefix(b"*") {
        let (count, mut rest) = line(rest)?;
        if count != b"3" {
            return None;
        }
        for (n, slot) in args.iter_mut().enumerate() {
            let (len, after) = line(rest.strip_prefix(b"$")?)?;
            let len: usize = std::str::from_utf8(len).ok()?.parse().ok()?;
            let arg = after.get(..len)?;
            if n == 0 && !arg.eq_ignore_ascii_case(b"debug") {
                return None;
            }
            rest = after.get(len..)?.strip_prefix(b"\r\n")?;
            *slot = arg;
        }
    } else {
        let (first, _) = line(request)?;
        let mut words = first
            .split(|b| b.is_ascii_whitespace())
            .filter(|a| !a.is_empty());
        for slot in args.iter_mut() {
            *slot = words.next()?;
        }
        if words.next().is_some() {
            return None;
        }
    }
    let [cmd, sub, secs] = args;
    if cmd.eq_ignore_ascii_case(b"debug") && sub.eq_ignore_ascii_case(b"sleep") {
        crate::util::parse_f64(secs)
    } else {
        None
    }
}

/// The bytes before the first CRLF (or LF) and those after it.
fn line(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = b.iter().position(|&c| c == b'\n')?;
    let text = &b[..end];
    Some((text.strip_suffix(b"\r").unwrap_or(text), &b[end + 1..]))
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

    #[test]
    fn sleeps_are_bounded_the_same_way_everywhere() {
        assert_eq!(sleep_duration(-2.0), Duration::ZERO);
        assert_eq!(sleep_duration(f64::NAN), Duration::ZERO);
        assert_eq!(sleep_duration(0.25), Duration::from_millis(250));
        assert_eq!(sleep_duration(f64::INFINITY), Duration::from_secs(3600));
    }

    #[test]
    fn a_sleep_request_is_recognised_in_both_forms() {
        let multi = b"*3\r\n$5\r\ndebug\r\n$5\r\nSLEEP\r\n$3\r\n1.5\r\n*1\r\n$4\r\nPING\r\n";
        assert_eq!(sleep_request_secs(multi), Some(1.5));
        assert_eq!(sleep_request_secs(b"DEBUG sleep 0.25\r\n"), Some(0.25));
        assert_eq!(sleep_request_secs(b"DEBUG SLEEP 1 2\r\n"), None);
        assert_eq!(
            sleep_request_secs(b"*2\r\n$5\r\nDEBUG\r\n$5\r\nSLEEP\r\n"),
            None
        );
        assert_eq!(
            sleep_request_secs(b"*3\r\n$5\r\nDEBUG\r\n$5\r\nSLEEP\r\n$3\r\n1."),
            None
        );
        assert_eq!(
            sleep_request_secs(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"),
            None
        );
        assert_eq!(sleep_request_secs(b"DEBUG SLEEP abc\n"), None);
    }

    #[test]
    fn an_announced_sleep_holds_until_its_guard_goes() {
        let f = Freeze::default();
        let g = f.announce(b"DEBUG SLEEP 10\r\n");
        assert!(g.is_some() && f.until_ms.load(Ordering::Acquire) > 0);
        // A second one does not stack while the first holds.
        assert!(f.announce(b"DEBUG SLEEP 10\r\n").is_none());
        drop(g);
        assert_eq!(f.until_ms.load(Ordering::Acquire), 0);
        assert!(f.announce(b"PING\r\n").is_none());
    }
}
