//! Memory figures from the allocator (INFO memory `used_memory`, maxmemory checks).

/// Bytes currently allocated by the process (jemalloc `stats.allocated`).
pub fn used_memory() -> u64 {
    let _ = tikv_jemalloc_ctl::epoch::advance();
    tikv_jemalloc_ctl::stats::allocated::read().map(|v| v as u64).unwrap_or(0)
}

/// Bytes in active pages (closest to what Redis calls RSS-ish allocator usage).
pub fn active_memory() -> u64 {
    let _ = tikv_jemalloc_ctl::epoch::advance();
    tikv_jemalloc_ctl::stats::resident::read().map(|v| v as u64).unwrap_or(0)
}
