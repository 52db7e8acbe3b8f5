//! Arrival order across connections.
//!
//! Redis runs the requests of the sockets that one `epoll_wait` reported readable in the order
//! the kernel listed them, so a request that reached the server before another one on a
//! different connection runs first. Clients rely on it without knowing: a deferred BLPOP sent
//! before another client's LPUSH is blocked when the push comes; EXEC sent before another
//! client's write runs before it.
//!
//! Tokio's scheduler does not keep that order by itself: the reactor wakes the connections'
//! tasks in the kernel's order, but a worker runs the task it woke last first (its LIFO slot),
//! and the other worker may steal one of them. So a connection's reads are given a *ticket* at
//! the moment the reactor sees them ([`Slot`] is the waker its socket keeps registered:
//! [`poll_read_ordered`] registers it for the read the connection waits on, [`WatchReads`] again as soon
//! as a read completes, so a request that comes while the connection is busy is ticketed on
//! arrival too), and before running what it read, a connection lets the connections woken
//! before it go first ([`take_turn`]): it yields while one of the previous tickets is still
//! pending, that is woken but not yet started.
//!
//! The wait is bounded in time: a worker preempted by the OS for longer holds nobody up for
//! good. A connection that waits for something else than its socket (blocked in BLPOP, held by
//! CLIENT PAUSE) gives its ticket up and takes none meanwhile ([`Slot::disarm`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Pending tickets, one bit each, in a ring of words (4096 tickets).
const RING: usize = 64;
/// How many tickets before its own a connection looks at.
const WINDOW: u64 = 64;
/// How long a connection waits at most for earlier tickets: longer than another worker takes
/// to wake up and pick a task or run a command, short enough that the wait costs nothing
/// measurable when both workers are busy (with 2 ms, CPU per SET doubled under
/// redis-benchmark -c 50, as waiters spun while the OS ran neither the other worker nor them).
const MAX_WAIT: Duration = Duration::from_micros(200);

static NEXT: AtomicU64 = AtomicU64::new(1);
static PENDING: [AtomicU64; RING] = [const { AtomicU64::new(0) }; RING];

fn word(t: u64) -> &'static AtomicU64 {
    &PENDING[(t / 64) as usize % RING]
}

fn issue() -> u64 {
    let t = NEXT.fetch_add(1, Ordering::AcqRel);
    word(t).fetch_or(1 << (t % 64), Ordering::AcqRel);
    t
}

fn retire(t: u64) {
    word(t).fetch_and(!(1 << (t % 64)), Ordering::AcqRel);
}

/// Whether one of the `WINDOW` tickets before `t` is still pending.
fn earlier_pending(t: u64) -> bool {
    let from = t.saturating_sub(WINDOW).max(1);
    let mut s = from;
    while s < t {
        let end = ((s / 64) + 1) * 64;
        let hi = end.min(t);
        // bits [s % 64, hi - s + s % 64) of the word holding s
        let lo_bit = s % 64;
        let n = hi - s;
        let mask = if n >= 64 {
            u64::MAX
        } else {
            ((1u64 << n) - 1) << lo_bit
        };
        if word(s).load(Ordering::Acquire) & mask != 0 {
            return true;
        }
        s = hi;
    }
    false
}

/// The waker a connection's socket read registers: it takes a ticket when the reactor wakes
/// it, then wakes the connection's task.
#[derive(Default)]
pub struct Slot {
    ticket: AtomicU64,
    /// Tickets are taken only while the connection waits for its socket or runs what it read.
    armed: AtomicBool,
    task: Mutex<Option<Waker>>,
}

impl Slot {
    pub fn new() -> Arc<Slot> {
        Arc::new(Slot::default())
    }

    /// The connection waits for something else than its socket: no ticket until it reads again.
    pub fn disarm(&self) {
        self.armed.store(false, Ordering::Release);
        self.release();
    }

    /// Forgets a ticket the connection will not use (it is closing).
    pub fn release(&self) {
        let t = self.ticket.swap(0, Ordering::AcqRel);
        if t != 0 {
            retire(t);
        }
    }
}

impl Wake for Slot {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.armed.load(Ordering::Acquire) {
            let t = issue();
            let old = self.ticket.swap(t, Ordering::AcqRel);
            if old != 0 {
                retire(old);
            }
        }
        if let Some(w) = self.task.lock().as_ref() {
            w.wake_by_ref();
        }
    }
}

/// Polls a socket read (`read`) with the connection's [`Slot`] as its waker, so that the
/// reactor's wake-up takes a ticket; the task's own waker (`cx`) is woken after. `waker` is
/// `Waker::from(slot.clone())`, made once per connection. Only the read may be polled through
/// here: a ticket taken for anything else would hold the other connections up until it
/// expires.
pub fn poll_read_ordered<T>(
    slot: &Arc<Slot>,
    waker: &Waker,
    cx: &mut Context<'_>,
    read: impl FnOnce(&mut Context<'_>) -> Poll<T>,
) -> Poll<T> {
    slot.armed.store(true, Ordering::Release);
    {
        let mut task = slot.task.lock();
        if !task.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *task = Some(cx.waker().clone());
        }
    }
    read(&mut Context::from_waker(waker))
}

/// Sockets that can register a waker for their next read without reading.
pub trait WatchReads {
    /// Registers `waker` to be woken when data comes (now, if it already has).
    fn watch_reads(&self, waker: &Waker);
}

impl WatchReads for tokio::net::TcpStream {
    fn watch_reads(&self, waker: &Waker) {
        let _ = self.poll_read_ready(&mut Context::from_waker(waker));
    }
}

impl WatchReads for tokio::net::UnixStream {
    fn watch_reads(&self, waker: &Waker) {
        let _ = self.poll_read_ready(&mut Context::from_waker(waker));
    }
}

/// Waits (a bounded time) until the connections the reactor woke before this one have started
/// to run what they read, then lets the later ones go.
pub async fn take_turn(slot: &Slot) {
    let ticket = slot.ticket.swap(0, Ordering::AcqRel);
    if ticket == 0 {
        return;
    }
    if earlier_pending(ticket) {
        let start = Instant::now();
        while earlier_pending(ticket) && start.elapsed() < MAX_WAIT {
            tokio::task::yield_now().await;
        }
    }
    retire(ticket);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earlier_tickets_are_seen_until_retired() {
        let a = issue();
        let b = issue();
        assert!(earlier_pending(b));
        retire(a);
        // Other tests of this process may hold tickets too; only ours are asserted.
        let c = issue();
        retire(b);
        assert!(word(a).load(Ordering::Acquire) & (1 << (a % 64)) == 0);
        assert!(word(c).load(Ordering::Acquire) & (1 << (c % 64)) != 0);
        retire(c);
    }

    #[test]
    fn the_window_spans_two_words() {
        // Tickets across a word boundary: take them until one sits at bit 0.
        let mut held = Vec::new();
        loop {
            let t = issue();
            held.push(t);
            if t % 64 == 0 && held.len() > 1 {
                break;
            }
        }
        let last = *held.last().unwrap_or(&0);
        let prev = held[held.len() - 2];
        for &t in &held[..held.len() - 2] {
            retire(t);
        }
        assert!(
            earlier_pending(last),
            "ticket {prev} in the previous word is pending"
        );
        retire(prev);
        retire(last);
    }
}
