//! The software watchdog (`watchdog-period`, redis `debug.c`): a command or a dataset load that
//! has held its thread for longer than the period gets that thread's stack trace logged, once,
//! between Redis's banners (`--- WATCHDOG TIMER EXPIRED ---` ... `--------`).
//!
//! Redis arms a one-shot SIGALRM at every run of its cron, so the signal fires when the one
//! thread it has stayed away from the cron for a period: in a long command, a script, or a
//! load. Tandem's cron never stalls; what stalls is the thread running a command or a load.
//! Such a thread marks itself busy while it runs ([`watch`]), and a watchdog thread that looks
//! at the busy ones a few times per period sends SIGALRM to the thread of a stall; the handler
//! logs the stack of the thread it interrupts, as Redis's does. The signal is installed with
//! `SA_RESTART`, and the reads it may still interrupt (a socket with a timeout) are retried, so
//! a load goes on after the report (the reason Redis's EINTR test enables the watchdog).
//!
//! As in Redis, the period is at least two cron periods (`2 * 1000 / hz` ms), and a period of 0
//! stops the watchdog and ignores SIGALRM.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Once;
use std::time::Duration;

use nix::libc;
use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};

use super::logging;

/// The period in milliseconds; 0 when the watchdog is off.
static PERIOD_MS: AtomicU64 = AtomicU64::new(0);

/// Threads watched at once at most (commands run on the runtime's workers, loads on one
/// background thread each).
const SLOTS: usize = 64;

/// A thread that may become busy.
struct Slot {
    /// Claimed by a thread (for as long as it lives).
    taken: AtomicBool,
    /// Its `pthread_t`.
    thread: AtomicU64,
    /// Since when it is busy (ms), 0 while it is not.
    since_ms: AtomicI64,
    /// Its stall was reported (cleared when the stall ends).
    reported: AtomicBool,
}

static BUSY: [Slot; SLOTS] = [const {
    Slot {
        taken: AtomicBool::new(false),
        thread: AtomicU64::new(0),
        since_ms: AtomicI64::new(0),
        reported: AtomicBool::new(false),
    }
}; SLOTS];

/// The calling thread's slot, claimed at its first watched work and given back when it ends.
struct Claim(Option<usize>);

impl Claim {
    fn new() -> Claim {
        // SAFETY: pthread_self has no preconditions.
        let me = unsafe { libc::pthread_self() } as u64;
        let slot = BUSY.iter().position(|s| {
            s.taken
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        });
        if let Some(i) = slot {
            BUSY[i].thread.store(me, Ordering::Release);
        }
        Claim(slot)
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(i) = self.0 {
            BUSY[i].since_ms.store(0, Ordering::Release);
            BUSY[i].thread.store(0, Ordering::Release);
            BUSY[i].taken.store(false, Ordering::Release);
        }
    }
}

thread_local! {
    static CLAIM: Claim = Claim::new();
}

/// The calling thread is busy with a command or a load until the guard goes.
pub struct Watch(Option<usize>);

/// Marks the calling thread busy (a command or a load starts); one load of the period while
/// the watchdog is off.
pub fn watch() -> Watch {
    if PERIOD_MS.load(Ordering::Relaxed) == 0 {
        return Watch(None);
    }
    let slot = CLAIM.try_with(|c| c.0).ok().flatten();
    if let Some(i) = slot {
        // A nested watch (a load run by a command) keeps the outer start.
        if BUSY[i].since_ms.load(Ordering::Relaxed) != 0 {
            return Watch(None);
        }
        BUSY[i]
            .since_ms
            .store(crate::util::now_ms(), Ordering::Release);
    }
    Watch(slot)
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(i) = self.0 {
            BUSY[i].since_ms.store(0, Ordering::Release);
            BUSY[i].reported.store(false, Ordering::Release);
        }
    }
}

/// Applies `watchdog-period` (redis `applyWatchdogPeriod`) and returns the period in effect:
/// raised to two cron periods at least, as Redis does (CONFIG GET shows the raised value).
pub fn configure(period_ms: u64, hz: u64) -> u64 {
    if period_ms == 0 {
        PERIOD_MS.store(0, Ordering::Relaxed);
        // SAFETY: ignoring a signal; a pending one is dropped.
        let _ = unsafe { signal::signal(Signal::SIGALRM, SigHandler::SigIgn) };
        return 0;
    }
    let min = (1000 / hz.max(1)) * 2;
    let period = period_ms.max(min);
    let action = SigAction::new(
        SigHandler::SigAction(on_alarm),
        SaFlags::SA_SIGINFO | SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler only writes the log, as Redis's does.
    let _ = unsafe { signal::sigaction(Signal::SIGALRM, &action) };
    PERIOD_MS.store(period, Ordering::Relaxed);
    static STARTED: Once = Once::new();
    STARTED.call_once(|| {
        let _ = std::thread::Builder::new()
            .name("watchdog".into())
            .spawn(patrol);
    });
    period
}

/// The watchdog thread: looks at the busy threads ten times per period (at least every
/// 100 ms while it is off) and signals each stall once.
fn patrol() {
    loop {
        let period = PERIOD_MS.load(Ordering::Relaxed);
        if period == 0 {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        std::thread::sleep(Duration::from_millis((period / 10).clamp(1, 100)));
        let now = crate::util::now_ms();
        for slot in &BUSY {
            let since = slot.since_ms.load(Ordering::Acquire);
            if since == 0 || now - since < period as i64 {
                continue;
            }
            if slot.reported.swap(true, Ordering::AcqRel) {
                continue;
            }
            let thread = slot.thread.load(Ordering::Acquire);
            // Still the same stall: the thread could have finished between the two loads.
            if thread != 0 && slot.since_ms.load(Ordering::Acquire) == since {
                // SAFETY: the thread holds the slot, so it is alive; the signal is SIGALRM,
                // whose handler is installed while the period is not 0.
                unsafe {
                    libc::pthread_kill(thread as libc::pthread_t, libc::SIGALRM);
                }
            }
        }
    }
}

/// The report, written by the interrupted thread about itself (redis
/// `watchdogSignalHandler`).
extern "C" fn on_alarm(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
    let prefix = logging::signal_handler_prefix();
    let trace = std::backtrace::Backtrace::force_capture();
    logging::write_raw(&format!(
        "{prefix}\n--- WATCHDOG TIMER EXPIRED ---\n\n------ STACK TRACE ------\n\nBacktrace:\n{trace}\n{prefix}--------\n\n"
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_is_two_cron_periods_at_least() {
        assert_eq!(configure(50, 10), 200);
        assert_eq!(configure(300, 10), 300);
        assert_eq!(configure(50, 100), 50);
        assert_eq!(configure(0, 10), 0);
    }
}
