//! Latency probe for bench/compare.py: one connection sends `SET probe:<i> x` at a fixed pace
//! and times each round trip, until its standard input closes; then it prints
//! `max_ms p99_ms count` on one line. Native, so the probe's own jitter stays far below the
//! 2 ms bounds it checks (a Python probe added ~3 ms of its own).
//!
//! Usage: latency-probe <port> [interval_us]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(port) = args.get(1).and_then(|p| p.parse::<u16>().ok()) else {
        eprintln!("usage: latency-probe <port> [interval_us]");
        std::process::exit(2);
    };
    let interval = Duration::from_micros(args.get(2).and_then(|s| s.parse().ok()).unwrap_or(500));
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        flag.store(true, Ordering::Release);
    });
    let mut conn = match TcpStream::connect(("127.0.0.1", port)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("connect: {e}");
            std::process::exit(1);
        }
    };
    let _ = conn.set_nodelay(true);
    let mut lat_us: Vec<u32> = Vec::with_capacity(1 << 20);
    let mut reply = [0u8; 64];
    // LATENCY_PROBE_TRACE_MS=<ms>: also print each slower round trip to stderr, with its
    // wall-clock time, to line it up with server logs.
    let trace_us: Option<u128> = std::env::var("LATENCY_PROBE_TRACE_MS")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .map(|ms| (ms * 1000.0) as u128);
    let mut i: u64 = 0;
    while !stop.load(Ordering::Acquire) {
        let key = format!("probe:{}", i % 1000);
        let req = format!(
            "*3\r\n$3\r\nSET\r\n${}\r\n{}\r\n$1\r\nx\r\n",
            key.len(),
            key
        );
        let t0 = Instant::now();
        if conn.write_all(req.as_bytes()).is_err() {
            break;
        }
        let mut got = Vec::new();
        while !got.ends_with(b"\r\n") {
            match conn.read(&mut reply) {
                Ok(0) | Err(_) => {
                    eprintln!("connection lost");
                    std::process::exit(1);
                }
                Ok(n) => got.extend_from_slice(&reply[..n]),
            }
        }
        let took = t0.elapsed().as_micros();
        if trace_us.is_some_and(|t| took >= t) {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0);
            eprintln!(
                "slow {:.3} ms at {}.{:03}",
                took as f64 / 1000.0,
                now / 1000,
                now % 1000
            );
        }
        lat_us.push(took.min(u32::MAX as u128) as u32);
        i += 1;
        std::thread::sleep(interval);
    }
    lat_us.sort_unstable();
    let max = lat_us.last().copied().unwrap_or(0) as f64 / 1000.0;
    let p99 = lat_us.get(lat_us.len() * 99 / 100).copied().unwrap_or(0) as f64 / 1000.0;
    println!("{max:.3} {p99:.3} {}", lat_us.len());
    let _ = std::io::stdout().flush();
}
