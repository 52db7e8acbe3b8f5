//! Memory figures from the allocator (INFO memory `used_memory`, maxmemory checks).

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

/// Bytes in active pages (closest to what Redis calls RSS-ish allocator usage).
pub fn active_memory() -> u64 {
    let _ = tikv_jemalloc_ctl::epoch::advance();
    tikv_jemalloc_ctl::stats::resident::read()
        .map(|v| v as u64)
        .unwrap_or(0)
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
