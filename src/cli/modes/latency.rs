//! `--latency`, `--latency-history` (PING round trips, redis-cli `latencyMode`) and
//! `--intrinsic-latency` (how long this machine stalls a busy loop, `intrinsicLatencyMode`).

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::super::client::Client;
use super::super::emit;
use super::super::format::OutputMode;

/// Time between PINGs.
const SAMPLE_RATE: Duration = Duration::from_millis(10);
/// `--latency-history` window without `-i`.
const HISTORY_DEFAULT_MS: i64 = 15_000;

fn mstime() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// One report (`latencyModePrint`).
pub fn report(mode: OutputMode, min: i64, max: i64, avg: f64, count: i64) -> String {
    match mode {
        OutputMode::Standard => format!("min: {min}, max: {max}, avg: {avg:.2} ({count} samples)"),
        OutputMode::Csv => format!("{min},{max},{avg:.2},{count}\n"),
        OutputMode::Raw => format!("{min} {max} {avg:.2} {count}\n"),
        OutputMode::Json | OutputMode::QuotedJson => {
            format!("{{\"min\": {min}, \"max\": {max}, \"avg\": {avg:.2}, \"count\": {count}}}\n")
        }
    }
}

/// Samples PING latency in milliseconds. On a terminal it updates one line forever; otherwise
/// it prints once after the interval (1 s by default) and exits, or, with `history`, prints
/// every sample and closes a window every interval (15 s by default).
pub fn run(client: &mut Client, history: bool) -> i32 {
    let mode = client.style.mode;
    let history_interval = if client.cfg.interval_us > 0 {
        client.cfg.interval_us / 1000
    } else {
        HISTORY_DEFAULT_MS
    };
    let interval = if client.cfg.interval_us == 0 {
        1000
    } else {
        client.cfg.interval_us / 1000
    };
    let (mut min, mut max, mut tot, mut count) = (0i64, 0i64, 0i64, 0i64);
    let mut history_start = mstime();
    loop {
        let start = mstime();
        client.reconnecting_command(&["PING"]);
        let latency = mstime() - start;
        count += 1;
        let avg;
        if count == 1 {
            min = latency;
            max = latency;
            tot = latency;
            avg = latency as f64;
        } else {
            min = min.min(latency);
            max = max.max(latency);
            tot += latency;
            avg = tot as f64 / count as f64;
        }
        if mode == OutputMode::Standard {
            emit(format!("\x1b[0G\x1b[2K{}", report(mode, min, max, avg, count)).as_bytes());
        } else if history {
            emit(report(mode, min, max, avg, count).as_bytes());
        } else if mstime() - history_start > interval {
            emit(report(mode, min, max, avg, count).as_bytes());
            return 0;
        }
        if history && mstime() - history_start > history_interval {
            emit(
                format!(
                    " -- {:.2} seconds range\n",
                    (mstime() - history_start) as f64 / 1000.0
                )
                .as_bytes(),
            );
            history_start = mstime();
            (min, max, tot, count) = (0, 0, 0, 0);
        }
        std::thread::sleep(SAMPLE_RATE);
    }
}

/// redis-cli's `compute_something_fast`: an RC4-like shuffle of 256 bytes.
fn compute_something_fast() -> u64 {
    let mut s = [0u8; 256];
    for (k, b) in s.iter_mut().enumerate() {
        *b = k as u8;
    }
    let (mut i, mut j) = (0u8, 0u8);
    for _ in 0..1000 {
        i = i.wrapping_add(1);
        j = j.wrapping_add(s[i as usize]);
        s.swap(i as usize, j as usize);
    }
    s.iter().map(|&b| u64::from(b)).sum()
}

/// Measures the longest stall of a busy loop for `seconds` (Ctrl-C ends it early).
pub fn intrinsic(seconds: i64) -> i32 {
    super::super::signals::install_cancel();
    let run_time_us = seconds.max(0) as f64 * 1e6;
    let test_end = Instant::now() + Duration::from_secs(seconds.max(0) as u64);
    let (mut max_latency, mut runs) = (0u128, 0u64);
    loop {
        let start = Instant::now();
        black_box(compute_something_fast());
        let end = Instant::now();
        let latency = end.duration_since(start).as_micros();
        runs += 1;
        if latency == 0 {
            continue;
        }
        if latency > max_latency {
            max_latency = latency;
            emit(format!("Max latency so far: {max_latency} microseconds.\n").as_bytes());
        }
        if super::super::signals::cancelled() || end > test_end {
            let avg_us = run_time_us / runs as f64;
            emit(
                format!(
                    "\n{runs} total runs (avg latency: {avg_us:.4} microseconds / {:.2} nanoseconds per run).\n\
                     Worst run took {:.0}x longer than the average latency.\n",
                    avg_us * 1e3,
                    max_latency as f64 / avg_us
                )
                .as_bytes(),
            );
            return 0;
        }
    }
}
