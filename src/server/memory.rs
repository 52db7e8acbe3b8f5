//! Memory figures from the allocator (INFO memory `used_memory`, maxmemory checks).

use std::sync::atomic::{AtomicI64, Ordering};

/// Bytes currently allocated by the process (jemalloc `stats.allocated`), less the freed
/// blocks its threads' caches hold (`tcache_bytes` of all arenas), which it counts as
/// allocated: Redis's own counter only counts live allocations.
pub fn used_memory() -> u64 {
    let _ = tikv_jemalloc_ctl::epoch::advance();
    let allocated = tikv_jemalloc_ctl::stats::allocated::read()
        .map(|v| v as u64)
        .unwrap_or(0);
    // SAFETY: the name is a NUL-terminated jemalloc statistic whose value is a size_t.
    let cached =
        unsafe { tikv_jemalloc_ctl::raw::read::<usize>(b"stats.arenas.4096.tcache_bytes\0") }
            .map(|v| v as u64)
            .unwrap_or(0);
    allocated.saturating_sub(cached)
}

/// A thread's jemalloc counters of bytes it ever allocated and freed (`thread.allocatedp`,
/// `thread.deallocatedp`): addresses in that thread's own storage.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Counters {
    allocated: *const u64,
    freed: *const u64,
}

// SAFETY: the addresses are read only while the thread is in `THREADS`, under its lock, and a
// thread leaves `THREADS` (under the write lock) before its storage goes.
unsafe impl Send for Counters {}
unsafe impl Sync for Counters {}

impl Counters {
    fn of_this_thread() -> Option<Counters> {
        // SAFETY: both names are jemalloc statistics whose values are `uint64_t *`.
        let allocated = unsafe { tikv_jemalloc_ctl::raw::read::<*mut u64>(b"thread.allocatedp\0") };
        // SAFETY: as above.
        let freed = unsafe { tikv_jemalloc_ctl::raw::read::<*mut u64>(b"thread.deallocatedp\0") };
        match (allocated, freed) {
            (Ok(a), Ok(f)) if !a.is_null() && !f.is_null() => Some(Counters {
                allocated: a,
                freed: f,
            }),
            _ => None,
        }
    }

    /// Bytes allocated minus bytes freed by the thread (wrapping: a thread that frees what
    /// others allocated goes negative).
    ///
    /// SAFETY: the thread is registered (in `THREADS`, whose lock the caller holds). Its
    /// counters are plain 64-bit words the owner increments; an aligned 64-bit load sees either
    /// the old or the new value on the targets we build for.
    unsafe fn net(self) -> i64 {
        let a = std::ptr::read_volatile(self.allocated);
        let f = std::ptr::read_volatile(self.freed);
        a.wrapping_sub(f) as i64
    }
}

/// The threads whose counters make up [`live_allocated`].
static THREADS: parking_lot::RwLock<Vec<Counters>> = parking_lot::const_rwlock(Vec::new());
/// What the registered threads' counters do not show: the net of threads that have left, and
/// (set by [`reconcile_live`]) allocations made before a thread registered or by threads that
/// never did.
static UNSEEN: AtomicI64 = AtomicI64::new(0);

/// A thread's place in `THREADS`, left when the thread ends.
struct Registration(Option<Counters>);

impl Registration {
    fn new() -> Registration {
        let me = Counters::of_this_thread();
        if let Some(c) = me {
            THREADS.write().push(c);
        }
        Registration(me)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(me) = self.0 {
            let mut threads = THREADS.write();
            // SAFETY: this is the thread itself, still registered.
            let net = unsafe { me.net() };
            threads.retain(|c| *c != me);
            // What it allocated and nobody freed stays in the total.
            UNSEEN.fetch_add(net, Ordering::Relaxed);
        }
    }
}

thread_local! {
    static REGISTRATION: Registration = Registration::new();
}

/// Counts the calling thread's allocations in [`live_allocated`] from now on (its earlier ones
/// show from the next [`reconcile_live`]). Threads that run commands, connections or
/// background work register when they start.
pub fn register_thread() {
    // A thread already tearing down its storage is not registered again.
    let _ = REGISTRATION.try_with(|_| ());
}

fn registered_net(threads: &[Counters]) -> i64 {
    threads
        .iter()
        // SAFETY: `threads` is `THREADS`, read under its lock.
        .map(|c| unsafe { c.net() })
        .fold(0i64, i64::wrapping_add)
}

/// Bytes the process has allocated and not freed right now, as Redis's own counter keeps
/// them: the sum of every registered thread's jemalloc counters (a frees shows the moment it
/// happens, whichever thread made it), plus what [`reconcile_live`] found them to miss. A few
/// loads per thread, no allocator call.
pub fn live_allocated() -> u64 {
    register_thread();
    let threads = THREADS.read();
    let net = registered_net(&threads).wrapping_add(UNSEEN.load(Ordering::Relaxed));
    net.max(0) as u64
}

/// How far the registered threads may move while [`reconcile_live`] reads jemalloc's totals
/// for its figure to be kept: more, and the moment's allocations would skew every later
/// figure.
const RECONCILE_NOISE: i64 = 8 * 1024;

/// Re-reads the allocator's totals ([`used_memory`]) and sets what the registered threads'
/// counters miss, so that [`live_allocated`] agrees with them. The counters are read before
/// and after: their midpoint is compared, and a reading taken while they moved by more than
/// [`RECONCILE_NOISE`] is dropped.
pub fn reconcile_live() {
    register_thread();
    let threads = THREADS.read();
    let before = registered_net(&threads);
    let total = used_memory() as i64;
    let after = registered_net(&threads);
    if after.wrapping_sub(before).abs() <= RECONCILE_NOISE {
        let mid = before.wrapping_add(after.wrapping_sub(before) / 2);
        UNSEEN.store(total.wrapping_sub(mid), Ordering::Relaxed);
    }
}

/// The allocator's totals as Redis reads them (`zmalloc_get_allocator_info`: jemalloc
/// `stats.allocated`, `stats.active`, `stats.resident`) and the process's resident set size,
/// from which INFO memory and MEMORY STATS derive their fragmentation figures.
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    /// Live allocations (with what the thread caches hold).
    pub allocated: u64,
    /// Pages of the allocator's slabs and large allocations in use: `active - allocated` is
    /// the fragmentation inside them (`allocator_frag_bytes`).
    pub active: u64,
    /// Pages the allocator holds resident, including dirty pages it has not returned yet.
    pub resident: u64,
    /// The process's resident set size (`used_memory_rss`).
    pub rss: u64,
}

impl Figures {
    pub fn read() -> Figures {
        let _ = tikv_jemalloc_ctl::epoch::advance();
        let get = |v: tikv_jemalloc_ctl::Result<usize>| v.map_or(0, |v| v as u64);
        let allocated = get(tikv_jemalloc_ctl::stats::allocated::read());
        let active = get(tikv_jemalloc_ctl::stats::active::read());
        let resident = get(tikv_jemalloc_ctl::stats::resident::read());
        Figures {
            allocated,
            active,
            resident,
            rss: process_rss().unwrap_or(resident),
        }
    }
}

/// INFO's `mem_allocator`: `jemalloc-<major.minor.bugfix>`, as Redis names its allocator.
pub fn allocator_name() -> String {
    let version = tikv_jemalloc_ctl::version::read().unwrap_or("");
    let release = version.split('-').next().unwrap_or("");
    format!("jemalloc-{release}")
}

/// `a / b` as Redis computes its memory ratios (a `float`), 0 when `b` is 0.
pub fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        return 0.0;
    }
    (a as f64 / b as f64) as f32 as f64
}

/// Resident set size of this process (Linux `/proc/self/statm`).
fn process_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

fn page_size() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map_or(4096, |p| p as u64)
}

/// (user, system) CPU seconds used by the process.
pub fn cpu_times() -> (f64, f64) {
    match nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF) {
        Ok(u) => {
            let tv = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
            (tv(u.user_time()), tv(u.system_time()))
        }
        Err(_) => (0.0, 0.0),
    }
}

/// Returns the calling thread's cached free blocks to the allocator (jemalloc's thread cache
/// holds freed blocks up to 32 KiB, which `stats.allocated` still counts): called when a
/// connection whose buffers grew big closes, so what it freed shows up as freed.
pub fn release_thread_cache() {
    use tikv_jemalloc_ctl::{Access, AsName};
    let name = b"thread.tcache.enabled\0".name();
    // Disabling the cache flushes it; it is rebuilt on the next allocation.
    if name.write(false).is_ok() {
        let _ = name.write(true);
    }
}

extern "C" {
    /// jemalloc's `mallctl`, as linked by `tikv-jemallocator` (prefixed symbols).
    #[link_name = "_rjem_mallctl"]
    fn je_mallctl(
        name: *const std::ffi::c_char,
        oldp: *mut std::ffi::c_void,
        oldlenp: *mut usize,
        newp: *mut std::ffi::c_void,
        newlen: usize,
    ) -> std::ffi::c_int;
}

/// What a DEBUG MALLCTL or MALLCTL-STR call answers.
#[derive(Debug, PartialEq)]
pub enum Mallctl {
    /// The value the control had (before a write).
    Int(i64),
    Text(Vec<u8>),
    /// A write to a control that cannot be read.
    Written,
}

/// The control's name as jemalloc takes it: up to the first NUL (as a C string would end).
fn ctl_name(name: &[u8]) -> std::ffi::CString {
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    // No NUL inside `name[..end]`.
    std::ffi::CString::new(&name[..end]).unwrap_or_default()
}

/// DEBUG MALLCTL <name> [<value>] (redis `mallctl_int`): reads the control as a 64-bit integer
/// (writing `new` in the same call; a write-only control is written alone), retrying with half
/// the size on EINVAL. As in Redis, the size retried is half of what jemalloc wrote back as the
/// control's size, so only 8-byte controls can be read (`opt.tcache`, a bool: EINVAL). `Err` is
/// the errno jemalloc returned.
pub fn mallctl_int(name: &[u8], new: Option<i64>) -> Result<Mallctl, i32> {
    let name = ctl_name(name);
    let mut size = std::mem::size_of::<i64>();
    while size > 0 {
        let mut old: i64 = 0;
        let mut val: i64 = new.unwrap_or(0);
        let newp = match new {
            Some(_) => &mut val as *mut i64 as *mut std::ffi::c_void,
            None => std::ptr::null_mut(),
        };
        let mut oldlen = size;
        let newlen = if new.is_some() { size } else { 0 };
        // SAFETY: `old` and `val` are 8 bytes, at least `size`; the name is NUL-terminated. On
        // little-endian machines the first `size` bytes of an i64 are its low-order bytes.
        let mut ret = unsafe {
            je_mallctl(
                name.as_ptr(),
                &mut old as *mut i64 as *mut std::ffi::c_void,
                &mut oldlen,
                newp,
                newlen,
            )
        };
        if ret == 0 {
            return Ok(Mallctl::Int(old));
        }
        if ret == libc_errno(nix::errno::Errno::EPERM) && new.is_some() {
            // SAFETY: as above, without reading.
            ret = unsafe {
                je_mallctl(
                    name.as_ptr(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    newp,
                    newlen,
                )
            };
            if ret == 0 {
                return Ok(Mallctl::Written);
            }
        }
        if ret != libc_errno(nix::errno::Errno::EINVAL) {
            return Err(ret);
        }
        size = oldlen.min(size) / 2;
    }
    Err(libc_errno(nix::errno::Errno::EINVAL))
}

/// `jemalloc-bg-thread` (redis `set_jemalloc_bg_thread`): jemalloc's background threads give
/// freed pages back to the system as they age, so the RSS follows used memory down after a
/// burst of writes (table growth leaves the old vectors behind) even while no client
/// allocates; without them jemalloc purges only inside later allocations.
pub fn set_background_thread(on: bool) {
    if tikv_jemalloc_ctl::background_thread::read().ok() == Some(on) {
        return;
    }
    if let Err(e) = tikv_jemalloc_ctl::background_thread::write(on) {
        tracing::warn!("Unable to set jemalloc background_thread to {on}: {e}");
    }
}

/// The controls whose value is a C string (jemalloc 5.3), the only ones MALLCTL-STR reads or
/// writes with a string: Redis reads any control as a `char *` and crashes on a number.
fn is_text_ctl(name: &[u8]) -> bool {
    const TEXT: [&[u8]; 12] = [
        b"version",
        b"config.malloc_conf",
        b"opt.dss",
        b"opt.metadata_thp",
        b"opt.thp",
        b"opt.percpu_arena",
        b"opt.junk",
        b"opt.stats_print_opts",
        b"opt.stats_interval_opts",
        b"opt.prof_prefix",
        b"opt.zero_realloc",
        b"thread.prof.name",
    ];
    let arena_dss = name.starts_with(b"arena.") && name.ends_with(b".dss");
    TEXT.contains(&name) || arena_dss || name == b"prof.dump" || name == b"prof.prefix"
}

/// DEBUG MALLCTL-STR <name> [<value>|VOID] (redis `mallctl_string`): reads the control as a
/// string, then writes `new` (`VOID`: a control that takes no value, such as
/// `thread.tcache.flush`). Answers the old value if it could be read.
pub fn mallctl_str(name: &[u8], new: Option<&[u8]>) -> Result<Mallctl, i32> {
    let einval = libc_errno(nix::errno::Errno::EINVAL);
    let eperm = libc_errno(nix::errno::Errno::EPERM);
    let text = is_text_ctl(name);
    let cname = ctl_name(name);
    let mut old: *const std::ffi::c_char = std::ptr::null();
    let mut oldlen = std::mem::size_of::<*const std::ffi::c_char>();
    // SAFETY: `old` is pointer-sized, as string controls expect; the name is NUL-terminated.
    let rret = unsafe {
        je_mallctl(
            cname.as_ptr(),
            &mut old as *mut *const std::ffi::c_char as *mut std::ffi::c_void,
            &mut oldlen,
            std::ptr::null_mut(),
            0,
        )
    };
    if rret == 0 && !text {
        // A number was read where a pointer was expected.
        return Err(einval);
    }
    if rret != 0 && !(rret == eperm && new.is_some()) {
        return Err(rret);
    }
    let mut wret = 0;
    if let Some(val) = new {
        wret = if val == b"VOID" {
            // SAFETY: a write of nothing.
            unsafe {
                je_mallctl(
                    cname.as_ptr(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    0,
                )
            }
        } else if text {
            let val = ctl_name(val);
            let mut p = val.as_ptr();
            // SAFETY: jemalloc reads the `char *` (and copies what it keeps) during the call,
            // while `val` is alive.
            unsafe {
                je_mallctl(
                    cname.as_ptr(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    &mut p as *mut *const std::ffi::c_char as *mut std::ffi::c_void,
                    std::mem::size_of::<*const std::ffi::c_char>(),
                )
            }
        } else {
            einval
        };
    }
    if rret == 0 {
        if old.is_null() {
            return Ok(Mallctl::Text(Vec::new()));
        }
        // SAFETY: a string control's value is a NUL-terminated string jemalloc keeps alive.
        let s = unsafe { std::ffi::CStr::from_ptr(old) };
        return Ok(Mallctl::Text(s.to_bytes().to_vec()));
    }
    if wret != 0 {
        return Err(wret);
    }
    Ok(Mallctl::Written)
}

fn libc_errno(e: nix::errno::Errno) -> i32 {
    e as i32
}

#[cfg(test)]
mod live_tests {
    use super::*;

    /// A buffer allocated on one thread and freed on another leaves the live figure at once,
    /// before any reconciliation with jemalloc's totals (the eviction of the next command
    /// must not see it; a figure kept from per-thread reports saw it for up to a millisecond).
    #[test]
    fn a_free_on_another_thread_shows_at_once() {
        const BIG: u64 = 8 << 20;
        reconcile_live();
        let before = live_allocated();
        let big = vec![1u8; BIG as usize];
        let grown = live_allocated();
        assert!(grown >= before + BIG, "{before} -> {grown}");
        let freer = std::thread::spawn(move || {
            register_thread();
            drop(big);
        });
        assert!(freer.join().is_ok());
        let after = live_allocated();
        // Other tests run beside this one; 1 MB is far below the buffer's size.
        assert!(after < grown - BIG + (1 << 20), "{grown} -> {after}");
        // The thread that freed it has left: its net stays counted.
        assert!(after + (1 << 20) > before, "{before} -> {after}");
    }
}
