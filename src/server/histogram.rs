//! Per-command latency histograms (INFO latencystats, LATENCY HISTOGRAM).
//!
//! The bucket layout is HdrHistogram's with redis's parameters (lowest value 1 ns, highest
//! 1 s, 2 significant figures), so percentiles and the log-scale CDF land on the same values
//! Redis reports:
//! - a value `v` falls in bucket `b = bit_length(v | 255) - 8`; bucket 0 counts 0..255 one by
//!   one, bucket `b > 0` counts 128..255 << b in steps of `1 << b`;
//! - slot index = `(b + 1) * 128 + (v >> b) - 128`; 23 buckets reach 2^30 > 1 s, so
//!   `(23 + 1) * 128` slots.
//!
//! Counting is striped per thread like the other command counters (`util::Striped`). Each
//! stripe allocates a command's slots bucket by bucket, the first time a sample falls in that
//! bucket there (1 KB each): a whole histogram per command and stripe (24 KB) made the first
//! run of a command on another thread a 24 KB jump in `used_memory` that no eviction can free,
//! and a server under a tight `maxmemory` refused writes (OOM with no key left). Redis
//! allocates one 24 KB histogram per command; a command's calls fall in a few buckets.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;

const HALF_COUNT_MAGNITUDE: u32 = 7;
const HALF_COUNT: i64 = 1 << HALF_COUNT_MAGNITUDE;
const SUB_BUCKET_COUNT: i64 = 2 * HALF_COUNT;
const SUB_BUCKET_MASK: i64 = SUB_BUCKET_COUNT - 1;
const BUCKETS: usize = 23;
const SLOTS: usize = (BUCKETS + 1) * HALF_COUNT as usize;
/// Recorded values are clamped to 1 ns ..= 1 s (redis `LATENCY_HISTOGRAM_MIN/MAX_VALUE`).
const MIN_NS: i64 = 1;
const MAX_NS: i64 = 1_000_000_000;

fn bucket_of(v: i64) -> u32 {
    64 - (v | SUB_BUCKET_MASK).leading_zeros() - (HALF_COUNT_MAGNITUDE + 1)
}

fn slot_of(v: i64) -> usize {
    let b = bucket_of(v);
    (((b as i64 + 1) << HALF_COUNT_MAGNITUDE) + (v >> b) - HALF_COUNT) as usize
}

/// The lowest value counted in a slot.
fn value_at(slot: usize) -> i64 {
    let slot = slot as i64;
    let bucket = (slot >> HALF_COUNT_MAGNITUDE) - 1;
    let sub = (slot & (HALF_COUNT - 1)) + HALF_COUNT;
    if bucket < 0 {
        sub - HALF_COUNT
    } else {
        sub << bucket
    }
}

/// The lowest value counted in the same slot as `v`.
fn lowest_equivalent(v: i64) -> i64 {
    let b = bucket_of(v);
    (v >> b) << b
}

/// The highest value counted in the same slot as `v`.
fn highest_equivalent(v: i64) -> i64 {
    let b = bucket_of(v);
    let width = if (v >> b) >= SUB_BUCKET_COUNT {
        1i64 << (b + 1)
    } else {
        1i64 << b
    };
    lowest_equivalent(v) + width - 1
}

/// The summed counts of one command's histogram.
pub struct Snapshot {
    counts: Vec<u64>,
    pub total: u64,
}

impl Snapshot {
    /// The value (ns) at a percentile, as `hdr_value_at_percentile`.
    pub fn value_at_percentile(&self, percentile: f64) -> i64 {
        let p = percentile.min(100.0);
        let wanted = (((p / 100.0) * self.total as f64) + 0.5) as u64;
        let wanted = wanted.max(1);
        let mut seen = 0;
        let mut value = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= wanted {
                value = value_at(i);
                break;
            }
        }
        if percentile == 0.0 {
            lowest_equivalent(value)
        } else {
            highest_equivalent(value)
        }
    }

    /// The cumulative distribution on a log-2 scale starting at 1024 ns, as redis
    /// `fillCommandCDF` walks it (`hdr_iter_log_init(h, 1024, 2)`): (upper bound in
    /// microseconds, cumulative count) for each step whose count grew.
    pub fn log_cdf(&self) -> Vec<(i64, u64)> {
        let mut out = Vec::new();
        let mut level: i64 = 1024;
        let mut level_lowest = lowest_equivalent(level);
        // The iterator's position: the next slot to move to, the value of the last one
        // moved to, and the running count.
        let mut next = 0usize;
        let mut value = 0;
        let mut cumulative = 0;
        let mut previous = 0;
        while cumulative < self.total || (next <= SLOTS && value_at(next) > level_lowest) {
            // Move slot by slot until the value reaches the reporting level; running off
            // the end reports the last slot once more.
            loop {
                if value >= level_lowest {
                    level *= 2;
                    level_lowest = lowest_equivalent(level);
                    break;
                }
                if next >= SLOTS {
                    next = SLOTS + 1;
                    break;
                }
                value = value_at(next);
                cumulative += self.counts[next];
                next += 1;
            }
            if cumulative > previous {
                out.push((highest_equivalent(value) / 1000, cumulative));
            }
            previous = cumulative;
        }
        out
    }
}

/// One bucket's slots, allocated at its first sample.
type Bucket = OnceLock<Box<[AtomicU64; HALF_COUNT as usize]>>;

/// One command's buckets in one stripe (bucket 0 spans two buckets' worth of slots, as in
/// the layout above): allocated at the command's first sample there.
type Slots = OnceLock<Box<[Bucket; BUCKETS + 1]>>;

/// Where slot `i` lives: (bucket allocation, index inside it).
fn place(i: usize) -> (usize, usize) {
    let half = HALF_COUNT as usize;
    (i / half, i % half)
}

/// The histograms of every command, `[stripe][command id]`.
pub struct Histograms {
    /// `latency-tracking` (mirrored by `Server::config_changed`).
    enabled: AtomicBool,
    stripes: Box<[Box<[Slots]>]>,
}

impl Histograms {
    pub fn new(commands: usize) -> Histograms {
        Histograms {
            enabled: AtomicBool::new(true),
            stripes: (0..crate::util::STRIPES)
                .map(|_| (0..commands).map(|_| OnceLock::new()).collect())
                .collect(),
        }
    }

    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
    }

    /// Records one call of command `id` that took `usec` microseconds (redis measures whole
    /// microseconds and records them as nanoseconds).
    pub fn record(&self, id: usize, usec: u64) {
        if !self.enabled.load(Ordering::Relaxed) {
            return;
        }
        let ns = i64::try_from(usec.saturating_mul(1000)).unwrap_or(MAX_NS);
        let buckets = self.stripes[crate::util::stripe()][id]
            .get_or_init(|| Box::new(std::array::from_fn(|_| OnceLock::new())));
        let (b, i) = place(slot_of(ns.clamp(MIN_NS, MAX_NS)));
        let slots = buckets[b].get_or_init(|| Box::new(std::array::from_fn(|_| AtomicU64::new(0))));
        slots[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Each allocated bucket of command `id` in every stripe, with its first slot's index.
    fn buckets(&self, id: usize) -> impl Iterator<Item = (usize, &[AtomicU64])> {
        self.stripes
            .iter()
            .filter_map(move |stripe| stripe[id].get())
            .flat_map(|buckets| {
                buckets.iter().enumerate().filter_map(|(b, bucket)| {
                    bucket
                        .get()
                        .map(|slots| (b * HALF_COUNT as usize, &slots[..]))
                })
            })
    }

    /// The summed histogram of command `id`, or None when it has no samples (redis frees a
    /// command's histogram on CONFIG RESETSTAT and creates it at the next sample).
    pub fn snapshot(&self, id: usize) -> Option<Snapshot> {
        let mut counts = vec![0u64; SLOTS];
        for (first, slots) in self.buckets(id) {
            for (sum, c) in counts[first..].iter_mut().zip(slots) {
                *sum += c.load(Ordering::Relaxed);
            }
        }
        let total: u64 = counts.iter().sum();
        (total > 0).then_some(Snapshot { counts, total })
    }

    pub fn reset(&self) {
        for id in 0..self.stripes.first().map_or(0, |s| s.len()) {
            for (_, slots) in self.buckets(id) {
                for c in slots {
                    c.store(0, Ordering::Relaxed);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(values: &[u64]) -> Snapshot {
        let h = Histograms::new(1);
        for &v in values {
            h.record(0, v / 1000);
        }
        h.snapshot(0).expect("samples")
    }

    #[test]
    fn layout_matches_hdr() {
        assert_eq!(slot_of(0), 0);
        assert_eq!(slot_of(255), 255);
        assert_eq!(slot_of(256), 256);
        assert_eq!(slot_of(257), 256);
        assert_eq!(value_at(256), 256);
        assert_eq!(highest_equivalent(1000), 1003);
        assert_eq!(highest_equivalent(1_000_000_000), 1_002_438_655);
        assert!(slot_of(MAX_NS) < SLOTS);
    }

    #[test]
    fn percentiles() {
        let s = snap(&[1000, 2000, 3000, 4000]);
        assert_eq!(s.value_at_percentile(50.0), 2007);
        assert_eq!(s.value_at_percentile(100.0), 4015);
        assert_eq!(s.value_at_percentile(0.0), 1000);
    }

    #[test]
    fn slots_are_allocated_per_bucket() {
        // Every slot has a home, and buckets tile the slots without overlap.
        assert_eq!(place(0), (0, 0));
        assert_eq!(place(HALF_COUNT as usize), (1, 0));
        assert_eq!(place(SLOTS - 1), (BUCKETS, HALF_COUNT as usize - 1));
        let h = Histograms::new(2);
        h.record(1, 3);
        h.record(1, 3);
        h.record(1, 900_000);
        // Two buckets of one command hold samples; the other command has none.
        assert_eq!(h.buckets(1).count(), 2);
        assert!(h.snapshot(0).is_none());
        let s = h.snapshot(1).expect("samples");
        assert_eq!(s.total, 3);
        assert_eq!(s.value_at_percentile(50.0), highest_equivalent(3000));
        h.reset();
        assert!(h.snapshot(1).is_none());
    }

    #[test]
    fn log_cdf_is_cumulative() {
        let s = snap(&[1000, 1000, 5000, 1_000_000]);
        let cdf = s.log_cdf();
        assert_eq!(cdf.last().map(|x| x.1), Some(4));
        assert!(cdf.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1));
    }
}
