//! Access clocks: what `Entry::lru` holds (redis `evict.c`, the `lru` field of `robj`).
//!
//! Under an LRU policy (every policy but the LFU ones, as in Redis) it is the unix time in
//! seconds of the last access. Under an LFU policy it is Redis's layout: 16 bits of access time
//! in minutes, then an 8-bit logarithmic access counter that grows with probability
//! `1 / ((counter - 5) * lfu-log-factor + 1)` and decays by one per `lfu-decay-time` minutes.

use std::sync::atomic::{AtomicU64, Ordering};

/// redis `LFU_INIT_VAL`: the counter of a new key, so it is not evicted at once.
pub const LFU_INIT_VAL: u32 = 5;

/// How access clocks are kept, read once per command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub lfu: bool,
    pub log_factor: u32,
    pub decay_time: u32,
}

impl Default for Access {
    fn default() -> Self {
        Access {
            lfu: false,
            log_factor: 10,
            decay_time: 1,
        }
    }
}

/// redis `LFUGetTimeInMinutes`: the low 16 bits of unix minutes.
fn minutes(now_ms: i64) -> u32 {
    ((now_ms / 60_000) & 0xffff) as u32
}

impl Access {
    /// The clock of a value created now (redis `createObject`).
    pub fn fresh(&self, now_ms: i64) -> u32 {
        if self.lfu {
            (minutes(now_ms) << 8) | LFU_INIT_VAL
        } else {
            (now_ms / 1000) as u32
        }
    }

    /// The clock after an access (redis `lookupKey` → `updateLFU`, or the LRU clock).
    pub fn touched(&self, old: u32, now_ms: i64) -> u32 {
        if !self.lfu {
            return (now_ms / 1000) as u32;
        }
        let counter = self.counter(old, now_ms);
        (minutes(now_ms) << 8) | self.log_incr(counter)
    }

    /// redis `LFUDecrAndReturn`: the counter minus one per `lfu-decay-time` minutes since the
    /// last access (the minute clock wraps every 65536 minutes).
    pub fn counter(&self, lru: u32, now_ms: i64) -> u32 {
        let ldt = (lru >> 8) & 0xffff;
        let counter = lru & 0xff;
        let now = minutes(now_ms);
        let elapsed = if now >= ldt {
            now - ldt
        } else {
            65535 - ldt + now
        };
        let periods = elapsed.checked_div(self.decay_time).unwrap_or(0);
        counter.saturating_sub(periods)
    }

    /// redis `LFULogIncr`: a logarithmic increment, saturating at 255.
    fn log_incr(&self, counter: u32) -> u32 {
        if counter >= 255 {
            return 255;
        }
        let base = f64::from(counter.saturating_sub(LFU_INIT_VAL));
        let p = 1.0 / (base * f64::from(self.log_factor) + 1.0);
        if rand::random::<f64>() < p {
            counter + 1
        } else {
            counter
        }
    }

    /// The clock RESTORE (IDLETIME / FREQ) or an RDB's IDLE / FREQ opcodes ask for (redis
    /// `objectSetLRUOrLFU`): under LFU the frequency, else the idle time in seconds. `None`
    /// when what was given does not apply to the policy.
    pub fn restored(&self, freq: Option<u8>, idle_secs: Option<u64>, now_ms: i64) -> Option<u32> {
        if self.lfu {
            freq.map(|f| (minutes(now_ms) << 8) | u32::from(f))
        } else {
            let now = (now_ms / 1000) as u32;
            idle_secs.map(|idle| now.wrapping_sub(u32::try_from(idle).unwrap_or(u32::MAX)))
        }
    }

    /// Seconds since the last access of an LRU clock (OBJECT IDLETIME).
    pub fn idle_secs(lru: u32, now_ms: i64) -> u32 {
        ((now_ms / 1000) as u32).wrapping_sub(lru)
    }
}

/// The live setting, updated by CONFIG SET (maxmemory-policy, lfu-log-factor, lfu-decay-time).
#[derive(Debug, Default)]
pub struct SharedAccess(AtomicU64);

impl SharedAccess {
    pub fn load(&self) -> Access {
        let v = self.0.load(Ordering::Relaxed);
        if v == 0 {
            return Access::default();
        }
        Access {
            lfu: v & 1 != 0,
            log_factor: ((v >> 1) & 0x7fff_ffff) as u32,
            decay_time: ((v >> 32) & 0x7fff_ffff) as u32,
        }
    }

    pub fn store(&self, a: Access) {
        // Bit 63 marks a stored value, so the all-zero default reads as `Access::default()`.
        let v = (1u64 << 63)
            | u64::from(a.lfu)
            | (u64::from(a.log_factor & 0x7fff_ffff) << 1)
            | (u64::from(a.decay_time & 0x7fff_ffff) << 32);
        self.0.store(v, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn lfu_decay() {
        let a = Access {
            lfu: true,
            ..Access::default()
        };
        assert_eq!(a.counter((100 << 8) | 5, 100 * MIN), 5);
        assert_eq!(a.counter((100 << 8) | 5, 103 * MIN), 2);
        assert_eq!(a.counter((100 << 8) | 5, 200 * MIN), 0);
        // The minute clock wrapped.
        assert_eq!(a.counter((65534 << 8) | 9, 65536 * MIN + 2 * MIN), 6);
        // lfu-decay-time 0: no decay.
        let still = Access { decay_time: 0, ..a };
        assert_eq!(still.counter((100 << 8) | 5, 200 * MIN), 5);
    }

    #[test]
    fn lfu_counter_grows_logarithmically() {
        let a = Access {
            lfu: true,
            ..Access::default()
        };
        let now = 1000 * MIN;
        let mut lru = a.fresh(now);
        assert_eq!(lru & 0xff, LFU_INIT_VAL);
        for _ in 0..1000 {
            lru = a.touched(lru, now);
        }
        let c = lru & 0xff;
        assert!(c > 10 && c < 40, "counter {c}");
    }

    #[test]
    fn shared_round_trip() {
        let s = SharedAccess::default();
        assert_eq!(s.load(), Access::default());
        let a = Access {
            lfu: true,
            log_factor: 0,
            decay_time: 7,
        };
        s.store(a);
        assert_eq!(s.load(), a);
    }
}
