//! Small helpers shared by every layer: Redis's number parsing and formatting rules, glob
//! matching (`stringmatchlen`) and clocks. Depends on nothing else in the crate.

use std::time::{SystemTime, UNIX_EPOCH};

/// Parses a signed 64-bit integer exactly as redis `string2ll`: optional `-`, no `+`, no blanks,
/// no leading zeros, no overflow.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = if s[0] == b'-' {
        (true, &s[1..])
    } else {
        (false, s)
    };
    if digits.is_empty() || !(b'1'..=b'9').contains(&digits[0]) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else if v > i64::MAX as u64 {
        None
    } else {
        Some(v as i64)
    }
}

/// Parses a double as redis `getDoubleFromObject` (strtod): no leading blank, no trailing bytes,
/// no NaN. Accepts `inf`, `-inf`, `+inf`, exponents and hex floats are not supported.
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    if s.is_empty() || s[0].is_ascii_whitespace() || s.len() > 5000 {
        return None;
    }
    let text = std::str::from_utf8(s).ok()?;
    let lower = text.to_ascii_lowercase();
    let v = match lower.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => {
            // Rust's parser accepts forms strtod rejects ("1_0" is rejected by both; "1." and ".5" ok).
            if lower.contains("inf") || lower.contains("nan") {
                return None;
            }
            lower.parse::<f64>().ok()?
        }
    };
    if v.is_nan() {
        None
    } else {
        Some(v)
    }
}

/// Formats like C's `%.{precision}g`.
pub fn format_g(d: f64, precision: usize) -> String {
    if d.is_nan() {
        return "nan".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d == 0.0 {
        return if d.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let p = precision.max(1);
    let sci = format!("{:.*e}", p - 1, d);
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= p as i32 {
        let mant = trim_fraction_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        trim_fraction_zeros(&format!("{d:.decimals$}")).to_string()
    }
}

fn trim_fraction_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Runs blocking work (network I/O, waiting for a script) without starving the runtime's
/// other tasks: the worker thread hands its queue to another thread first.
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// Redis's reply form of a double (`addReplyDouble`: `%.17g`, `inf`, `-inf`).
pub fn format_double(d: f64) -> String {
    format_g(d, 17)
}

/// Glob-style matching as redis `stringmatchlen`: `*`, `?`, `[abc]`, `[^a-z]`, `\x`.
pub fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    glob_inner(pattern, string, nocase, 0, &mut false)
}

/// `give_up` is set when the pattern after a `*` matched nowhere in the rest of the string:
/// then no earlier `*` can match by taking more characters either (redis
/// `skipLongerMatches`), which keeps patterns like `a*a*a*...*b` linear instead of exponential.
fn glob_inner(mut p: &[u8], mut s: &[u8], nocase: bool, depth: u32, give_up: &mut bool) -> bool {
    // Bound recursion on hostile patterns such as "*a*a*a*...".
    if depth > 1000 {
        return false;
    }
    let eq = |a: u8, b: u8| {
        if nocase {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    while !p.is_empty() && !s.is_empty() {
        match p[0] {
            b'*' => {
                while p.len() > 1 && p[1] == b'*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                for i in 0..s.len() {
                    if glob_inner(&p[1..], &s[i..], nocase, depth + 1, give_up) {
                        return true;
                    }
                    if *give_up {
                        return false;
                    }
                }
                *give_up = true;
                return false;
            }
            b'?' => {
                s = &s[1..];
            }
            b'[' => {
                p = &p[1..];
                let not = p.first() == Some(&b'^');
                if not {
                    p = &p[1..];
                }
                let mut matched = false;
                loop {
                    if p.is_empty() {
                        break;
                    }
                    if p[0] == b'\\' && p.len() >= 2 {
                        p = &p[1..];
                        if p[0] == s[0] {
                            matched = true;
                        }
                    } else if p[0] == b']' {
                        break;
                    } else if p.len() >= 3 && p[1] == b'-' {
                        let (mut start, mut end) = (p[0], p[2]);
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        let c = s[0];
                        let in_range = if nocase {
                            let c = c.to_ascii_lowercase();
                            c >= start.to_ascii_lowercase() && c <= end.to_ascii_lowercase()
                        } else {
                            c >= start && c <= end
                        };
                        if in_range {
                            matched = true;
                        }
                        p = &p[2..];
                    } else if eq(p[0], s[0]) {
                        matched = true;
                    }
                    p = &p[1..];
                }
                // Redis treats a missing ']' as if the pattern ended there.
                if p.is_empty() {
                    if not {
                        matched = !matched;
                    }
                    if !matched {
                        return false;
                    }
                    s = &s[1..];
                    continue;
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                s = &s[1..];
            }
            b'\\' if p.len() >= 2 => {
                p = &p[1..];
                if !eq(p[0], s[0]) {
                    return false;
                }
                s = &s[1..];
            }
            c => {
                if !eq(c, s[0]) {
                    return false;
                }
                s = &s[1..];
            }
        }
        p = &p[1..];
        if s.is_empty() {
            while p.first() == Some(&b'*') {
                p = &p[1..];
            }
            break;
        }
    }
    p.is_empty() && s.is_empty()
}

/// Quotes bytes as redis `sdscatrepr`: `"..."` with `\\`, `\"`, `\n`, `\r`, `\t`, `\a`, `\b`
/// escapes and `\xHH` for other non-printable bytes.
pub fn repr(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() + 2);
    s.push('"');
    for &c in b {
        match c {
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            7 => s.push_str("\\a"),
            8 => s.push_str("\\b"),
            c if c.is_ascii_graphic() || c == b' ' => s.push(c as char),
            c => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push('"');
    s
}

/// A stored `Bytes` for a reply. Small ones are copied: the first clone of a `Bytes` built from
/// a `Vec` turns it into a shared allocation for good (~32 bytes more per key ever read, 12% of
/// RSS after reading a 1M-key dataset once), while a copy of a few dozen bytes costs about what
/// the reference count would.
pub fn reply_copy(b: &bytes::Bytes) -> bytes::Bytes {
    if b.len() <= 4096 {
        bytes::Bytes::copy_from_slice(b)
    } else {
        b.clone()
    }
}

/// Expands `{name}` variables of a template through `var` (redis `sdstemplate`): `{{` is a
/// literal `{`; an unknown name (`var` gives None), a `{` ending the template or a variable
/// left open make the whole template invalid (None).
pub fn expand_template(
    template: &str,
    mut var: impl FnMut(&str) -> Option<String>,
) -> Option<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        if after.is_empty() {
            return None;
        }
        if let Some(quoted) = after.strip_prefix('{') {
            out.push('{');
            rest = quoted;
            continue;
        }
        let close = after.find('}')?;
        out.push_str(&var(&after[..close])?);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A wall-clock reading and the monotonic instant it was taken at, so the wall time of a later
/// instant costs no second clock call: a connection takes one per batch of requests and each
/// command's time comes from the monotonic reading that also times it.
#[derive(Debug, Clone, Copy)]
pub struct WallAnchor {
    wall_us: i64,
    at: std::time::Instant,
}

impl WallAnchor {
    pub fn now() -> WallAnchor {
        WallAnchor {
            at: std::time::Instant::now(),
            wall_us: now_us(),
        }
    }

    /// Milliseconds since the Unix epoch at `t` (an instant taken after the anchor).
    pub fn ms_at(&self, t: std::time::Instant) -> i64 {
        (self.wall_us + t.saturating_duration_since(self.at).as_micros() as i64) / 1000
    }

    pub fn ms(&self) -> i64 {
        self.wall_us / 1000
    }
}

/// Microseconds since the Unix epoch.
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Counter stripes: enough that the threads of a many-core machine rarely share one.
pub const STRIPES: usize = 16;

thread_local! {
    static STRIPE: usize = {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % STRIPES
    };
}

/// This thread's stripe (threads take them in turn).
pub fn stripe() -> usize {
    STRIPE.with(|s| *s)
}

#[derive(Debug, Default)]
#[repr(align(64))]
struct PaddedCounter(std::sync::atomic::AtomicU64);

/// A counter that every command adds to: each thread adds to its own cache line, readers sum
/// the lines. One shared atomic bounced between the cores on every command.
#[derive(Debug)]
pub struct Striped {
    cells: Box<[PaddedCounter]>,
}

impl Default for Striped {
    fn default() -> Self {
        Striped {
            cells: (0..STRIPES).map(|_| PaddedCounter::default()).collect(),
        }
    }
}

impl Striped {
    pub fn add(&self, n: u64) {
        if n > 0 {
            self.cells[stripe()]
                .0
                .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        }
    }

    pub fn get(&self) -> u64 {
        self.cells
            .iter()
            .map(|c| c.0.load(std::sync::atomic::Ordering::Relaxed))
            .fold(0u64, u64::wrapping_add)
    }

    pub fn reset(&self) {
        for c in self.cells.iter() {
            c.0.store(0, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// Runs `f` on a new thread that yields the CPU to client-serving threads: snapshot walks,
/// RDB transfers and loads must not delay commands (on a 2-core machine a normal-priority walk
/// holds a core for a whole scheduler slice, several ms, before a woken worker gets it back).
///
/// The thread starts as SCHED_IDLE (any runnable normal thread preempts it at once). So that
/// a server saturated by clients still finishes its work, the long loops call
/// [`Patience::tick`], which raises the thread to a low normal priority (nice 10) after
/// [`PATIENCE`].
pub fn spawn_background<F>(name: &str, f: F) -> std::io::Result<std::thread::JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            crate::server::memory::register_thread();
            // An unprivileged thread can never leave SCHED_IDLE (nor lower its nice value):
            // then it starts at the low normal priority it would have been raised to.
            let idle = can_raise_priority();
            BACKGROUND.set(idle);
            set_thread_policy(if idle {
                ThreadPolicy::Idle
            } else {
                ThreadPolicy::Low
            });
            f();
        })
}

thread_local! {
    /// This thread was started idle by `spawn_background` (and may raise itself back).
    static BACKGROUND: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// `Patience` moved it to the low normal priority.
    static RAISED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Inside `boosted`.
    static BOOSTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The `rdb-key-save-delay` / `key-load-delay` test hooks (redis `debugDelay`): sleeps `usec`
/// microseconds; a negative value sleeps 1 us once in `-usec` calls on average.
pub fn debug_delay(usec: i64) {
    let usec = if usec < 0 {
        i64::from(rand::random_range(0..usec.unsigned_abs()) == 0)
    } else {
        usec
    };
    if usec > 0 {
        std::thread::sleep(std::time::Duration::from_micros(usec as u64));
    }
}

/// How long a background thread runs at idle priority before it claims a (low) share of CPU.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_millis(500);

/// Guarantees progress to a thread started by [`spawn_background`]: see there.
pub struct Patience {
    started: std::time::Instant,
    raised: bool,
}

impl Default for Patience {
    fn default() -> Self {
        Patience {
            started: std::time::Instant::now(),
            raised: false,
        }
    }
}

impl Patience {
    /// Called often from the thread's loop; cheap. A no-op on threads not started by
    /// [`spawn_background`] (SAVE on a client's thread) or not started idle.
    pub fn tick(&mut self) {
        if !self.raised && BACKGROUND.get() && self.started.elapsed() >= PATIENCE {
            self.raised = true;
            RAISED.set(true);
            if !BOOSTED.get() {
                set_thread_policy(ThreadPolicy::Low);
            }
        }
    }
}

/// Runs `f` at normal priority when called on an idle-priority background thread: for the
/// moments it holds a lock that client threads wait for (a shard during the snapshot walk).
/// At idle priority the holder could be kept off the CPU by any busy normal thread, and every
/// client blocked on that lock with it (priority inversion); a woken client thread would then
/// wait, not for the µs the section takes, but for as long as the machine stays busy.
pub fn boosted<T>(f: impl FnOnce() -> T) -> T {
    if !BACKGROUND.get() || BOOSTED.get() {
        return f();
    }
    BOOSTED.set(true);
    set_thread_policy(ThreadPolicy::Normal);
    let out = f();
    set_thread_policy(if RAISED.get() {
        ThreadPolicy::Low
    } else {
        ThreadPolicy::Idle
    });
    BOOSTED.set(false);
    out
}

/// A reader that ticks [`Patience`] on every read (loaders running on background threads).
pub struct PatientReader<R> {
    pub inner: R,
    patience: Patience,
}

impl<R> PatientReader<R> {
    pub fn new(inner: R) -> Self {
        PatientReader {
            inner,
            patience: Patience::default(),
        }
    }
}

impl<R: std::io::Read> std::io::Read for PatientReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.patience.tick();
        self.inner.read(buf)
    }
}

/// Drops `v` on a background thread: freeing a replaced dataset of millions of entries takes
/// long enough to stall whoever would drop it inline.
/// If no thread can be started, the closure and `v` with it are dropped right here.
pub fn drop_in_background<T: Send + 'static>(v: T) {
    let _ = spawn_background("lazyfree", move || drop(v));
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadPolicy {
    /// SCHED_IDLE: runs only when nothing else wants the CPU (almost).
    Idle,
    /// SCHED_OTHER at nice 10.
    Low,
    /// SCHED_OTHER at nice 0.
    Normal,
}

/// Whether this process may raise a thread's priority back (root, or RLIMIT_NICE up to nice 0).
fn can_raise_priority() -> bool {
    #[cfg(target_os = "linux")]
    {
        if nix::unistd::geteuid().is_root() {
            return true;
        }
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NICE)
            .is_ok_and(|(soft, _)| soft >= 20)
    }
    #[cfg(not(target_os = "linux"))]
    false
}

/// Sets the scheduling policy of the calling thread (Linux; elsewhere a no-op). Failure is
/// harmless (the thread keeps its policy), so it is ignored.
pub fn set_thread_policy(p: ThreadPolicy) {
    #[cfg(target_os = "linux")]
    // SAFETY: plain syscalls on the calling thread with a valid, initialised sched_param.
    unsafe {
        let param = nix::libc::sched_param { sched_priority: 0 };
        match p {
            ThreadPolicy::Idle => {
                nix::libc::sched_setscheduler(0, nix::libc::SCHED_IDLE, &param);
            }
            ThreadPolicy::Low | ThreadPolicy::Normal => {
                nix::libc::sched_setscheduler(0, nix::libc::SCHED_OTHER, &param);
                let tid = nix::libc::syscall(nix::libc::SYS_gettid) as nix::libc::id_t;
                let nice = if p == ThreadPolicy::Low { 10 } else { 0 };
                nix::libc::setpriority(nix::libc::PRIO_PROCESS, tid, nice);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = p;
}

/// jemalloc's usable size for a request of `n` bytes (size classes of a 16-byte quantum:
/// 8, 16, 32, 48 ... 128, then four classes per doubling).
pub fn jemalloc_size(n: usize) -> usize {
    if n <= 8 {
        return 8;
    }
    if n <= 128 {
        return (n + 15) & !15;
    }
    let lg = usize::BITS - (n - 1).leading_zeros();
    let delta = 1usize << (lg - 3);
    (n + delta - 1) & !(delta - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string2ll_rules() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        for bad in [&b"01"[..], b"+1", b" 1", b"1 ", b"-0", b"", b"-", b"1a"] {
            assert_eq!(parse_i64(bad), None, "{:?}", bad);
        }
    }

    #[test]
    fn percent_17g() {
        assert_eq!(format_double(1.1), "1.1000000000000001");
        assert_eq!(format_double(1.5), "1.5");
        assert_eq!(format_double(100.0), "100");
        assert_eq!(format_double(1e20), "1e+20");
        assert_eq!(format_double(1.5e-7), "1.4999999999999999e-07");
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(format_double(-0.0), "-0");
    }

    #[test]
    fn globs() {
        assert!(glob_match(b"h?llo", b"hello", false));
        assert!(glob_match(b"h*o", b"heeeello", false));
        assert!(glob_match(b"h[ae]llo", b"hallo", false));
        assert!(!glob_match(b"h[^e]llo", b"hello", false));
        assert!(glob_match(b"h[a-b]llo", b"hbllo", false));
        // As redis stringmatchlen: "*" does not match an empty string (KEYS/SCAN special-case "*").
        assert!(!glob_match(b"*", b"", false));
        assert!(glob_match(b"a\\*", b"a*", false));
        let long = [b'a'; 40];
        assert!(!glob_match(
            b"a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b",
            &long,
            false
        ));
        assert!(glob_match(
            b"a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a",
            &long,
            false
        ));
        assert!(glob_match(b"HELLO", b"hello", true));
        assert!(!glob_match(b"a", b"ab", false));
    }
}
