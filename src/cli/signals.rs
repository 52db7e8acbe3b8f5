//! SIGINT and SIGPIPE, as redis-cli handles them.
//!
//! - Interactive mode (`sigIntHandler`): Ctrl-C while SUBSCRIBE or MONITOR stream shuts the
//!   socket down, so the blocked read returns and the session reconnects and shows the prompt;
//!   any other time it ends the process with status 1.
//! - Long scans (`longStatLoopModeStop`): Ctrl-C asks the loop to stop and print its summary.
//!
//! Handlers only touch atomics and call async-signal-safe functions (`shutdown`, `_exit`).

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};

/// The socket to shut down on Ctrl-C while a SUBSCRIBE/MONITOR streams (-1: none).
static STREAM_FD: AtomicI32 = AtomicI32::new(-1);
/// Set when Ctrl-C interrupted a stream; the reader then reconnects instead of failing.
static STREAM_ABORTED: AtomicBool = AtomicBool::new(false);
/// Set by Ctrl-C in the scan-like modes.
static CANCEL: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interactive_sigint(_: nix::libc::c_int) {
    let fd = STREAM_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        STREAM_ABORTED.store(true, Ordering::SeqCst);
        // SAFETY: shutdown(2) is async-signal-safe; the fd stays open until the reader sees
        // the abort and drops the connection.
        unsafe {
            nix::libc::shutdown(fd, nix::libc::SHUT_RDWR);
        }
    } else {
        // SAFETY: _exit(2) is async-signal-safe.
        unsafe { nix::libc::_exit(1) }
    }
}

extern "C" fn on_cancel_sigint(_: nix::libc::c_int) {
    CANCEL.store(true, Ordering::SeqCst);
}

fn install(sig: Signal, handler: SigHandler) {
    let action = SigAction::new(handler, SaFlags::SA_RESTART, SigSet::empty());
    // SAFETY: the handlers above only use atomics and async-signal-safe calls.
    let _ = unsafe { signal::sigaction(sig, &action) };
}

/// Interactive mode's Ctrl-C behaviour.
pub fn install_interactive() {
    install(Signal::SIGINT, SigHandler::Handler(on_interactive_sigint));
}

/// Ctrl-C stops the current scan loop instead of the process.
pub fn install_cancel() {
    install(Signal::SIGINT, SigHandler::Handler(on_cancel_sigint));
}

/// Whether Ctrl-C asked the scan loop to stop.
pub fn cancelled() -> bool {
    CANCEL.load(Ordering::SeqCst)
}

/// Writing to a closed pipe kills the process silently, as it does redis-cli outside the
/// interactive mode (`redis-cli ... | head -1`). Rust ignores SIGPIPE by default.
pub fn default_sigpipe() {
    install(Signal::SIGPIPE, SigHandler::SigDfl);
}

/// Marks `fd` as the stream Ctrl-C interrupts (`None`: no stream).
pub fn set_stream_fd(fd: Option<RawFd>) {
    STREAM_FD.store(fd.unwrap_or(-1), Ordering::SeqCst);
}

/// Whether Ctrl-C interrupted the stream since the last call (and clears it).
pub fn take_stream_aborted() -> bool {
    STREAM_ABORTED.swap(false, Ordering::SeqCst)
}
