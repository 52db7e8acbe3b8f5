//! The crash report (redis `debug.c` `sigsegvHandler`, `_serverAssert`, `bugReportStart/End`):
//! on a fatal signal (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT) or a failed assertion the
//! server writes Redis's bug report banners, the signal and a stack trace to its log, then
//! dies by the same signal with its default action (so a core dump is still produced).
//!
//! The handler runs on the crashing thread and may allocate and take the log's locks, as
//! Redis's does: after a fatal signal that is the best there is. It never touches the
//! keyspace or the server's locks, which the crashing thread may hold.

use std::sync::atomic::{AtomicBool, Ordering};

use nix::libc;
use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};

use super::logging;

/// `crash-log-enabled`: whether the report includes the stack trace.
static STACK_TRACE: AtomicBool = AtomicBool::new(true);

const FATAL: [Signal; 5] = [
    Signal::SIGSEGV,
    Signal::SIGBUS,
    Signal::SIGFPE,
    Signal::SIGILL,
    Signal::SIGABRT,
];

const START: &str = "\n\n=== REDIS BUG REPORT START: Cut & paste starting from here ===\n";
const END: &str = "\n=== REDIS BUG REPORT END. Make sure to include from START to END. ===\n\n\
       Please report the crash by opening an issue on github:\n\n\
           http://github.com/redis/redis/issues\n\n\
  Suspect RAM error? Use redis-server --test-memory to verify it.\n\n";

/// Installs the handler for the fatal signals (redis `setupSigSegvAction`: one shot, so a
/// crash inside the handler ends the process).
pub fn install() {
    let action = SigAction::new(
        SigHandler::SigAction(on_fatal_signal),
        SaFlags::SA_SIGINFO | SaFlags::SA_NODEFER | SaFlags::SA_RESETHAND,
        SigSet::empty(),
    );
    for sig in FATAL {
        // SAFETY: the handler only logs and then re-raises the signal with the default action.
        let _ = unsafe { signal::sigaction(sig, &action) };
    }
}

/// Follows `crash-log-enabled`.
pub fn configure(stack_trace: bool) {
    STACK_TRACE.store(stack_trace, Ordering::Relaxed);
}

fn warn(text: &str) {
    logging::write_raw(&format!("{}{text}\n", logging::line_prefix('#')));
}

fn stack_trace() {
    if !STACK_TRACE.load(Ordering::Relaxed) {
        return;
    }
    let trace = std::backtrace::Backtrace::force_capture();
    logging::write_raw(&format!(
        "\n------ STACK TRACE ------\n\nBacktrace:\n{trace}\n"
    ));
}

/// Back to the default action for every fatal signal, so that dying does not report twice.
fn remove_handlers() {
    for sig in FATAL {
        // SAFETY: restoring the default disposition.
        let _ = unsafe { signal::signal(sig, SigHandler::SigDfl) };
    }
}

extern "C" fn on_fatal_signal(sig: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    logging::write_raw(START);
    // SAFETY: the kernel passes a valid siginfo_t to an SA_SIGINFO handler.
    let info = unsafe { info.as_ref() };
    let code = info.map_or(0, |i| i.si_code);
    warn(&format!(
        "Redis {} crashed by signal: {sig}, si_code: {code}",
        super::REDIS_VERSION
    ));
    if let Some(i) = info {
        if sig == libc::SIGSEGV || sig == libc::SIGBUS {
            // SAFETY: si_addr is the fault address for these signals.
            warn(&format!("Accessing address: {:?}", unsafe { i.si_addr() }));
        }
        if i.si_code == libc::SI_USER {
            // SAFETY: si_pid/si_uid are set for signals sent by kill(2).
            let (pid, uid) = unsafe { (i.si_pid(), i.si_uid()) };
            if pid != -1 {
                warn(&format!("Killed by PID: {pid}, UID: {uid}"));
            }
        }
    }
    stack_trace();
    logging::write_raw(END);
    remove_handlers();
    // SAFETY: re-raising the signal, now with its default action, ends the process.
    unsafe {
        libc::raise(sig);
    }
}

/// DEBUG SEGFAULT: a real segmentation fault.
pub fn segfault() -> ! {
    let _ = signal::raise(Signal::SIGSEGV);
    std::process::abort()
}

/// A failed assertion (DEBUG ASSERT): the report, then abort without a second report.
pub fn assert_failed(expr: &str, file: &str, line: u32) -> ! {
    logging::write_raw(START);
    warn("=== ASSERTION FAILED ===");
    warn(&format!("==> {file}:{line} '{expr}' is not true"));
    stack_trace();
    logging::write_raw(END);
    remove_handlers();
    std::process::abort()
}
