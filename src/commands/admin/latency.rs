//! The latency monitor and LATENCY LATEST | HISTORY | RESET | GRAPH | DOCTOR | HELP (redis
//! `latency.c`, `sparkline.c`). The dispatcher reports each command's duration through
//! [`record`]; a sample is kept when it reaches `latency-monitor-threshold` (ms), under the
//! event `command`, or `fast-command` for commands flagged FAST, as redis `call()` does.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use parking_lot::Mutex;

use super::super::errors::CmdError;
use super::super::server_cmds::container;
use super::super::spec::{Group, Spec, ADMIN, LOADING, NOSCRIPT, STALE};
use super::super::{Ctx, REGISTRY};
use crate::protocol::Reply;
use crate::server::Server;

const A: u32 = ADMIN | NOSCRIPT | LOADING | STALE;

pub const LATENCY: Spec = Spec::new("latency", -2, 0, Group::Server, container).subs(SUBS);

const SUBS: &[Spec] = &[
    Spec::new("latency|latest", 2, A, Group::Server, latest),
    Spec::new("latency|history", 3, A, Group::Server, history),
    Spec::new("latency|reset", -2, A, Group::Server, reset),
    Spec::new("latency|graph", 3, A, Group::Server, graph),
    Spec::new("latency|doctor", 2, A, Group::Server, doctor),
    Spec::new("latency|histogram", -2, A, Group::Server, histogram),
    Spec::new("latency|help", 2, LOADING | STALE, Group::Server, help),
];

const HELP: &[&str] = &[
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "GRAPH <event>",
    "    Return an ASCII latency graph for the <event> class.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
    "    If no commands are specified then all histograms are replied.",
];

/// Samples kept per event (redis `LATENCY_TS_LEN`).
const TS_LEN: usize = 160;
/// Width of LATENCY GRAPH (redis `LATENCY_GRAPH_COLS`).
const GRAPH_COLS: usize = 80;

/// A sample as the commands report it.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// Unix seconds.
    time: i64,
    latency_ms: u64,
}

/// A sample as it is kept: 8 bytes, as redis `latencySample` (a 32-bit time and latency), so
/// that an event's first sample costs what it costs Redis (the suite's servers record every
/// command that takes a millisecond, and `maxmemory` tests leave 32 KB of headroom).
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// Unix seconds; 0 = unused slot.
    time: u32,
    latency_ms: u32,
}

impl Slot {
    fn sample(self) -> Sample {
        Sample {
            time: i64::from(self.time),
            latency_ms: u64::from(self.latency_ms),
        }
    }
}

/// One event's ring of per-second maxima and its all-time maximum.
#[derive(Debug, Clone)]
struct Series {
    idx: usize,
    max: u64,
    slots: [Slot; TS_LEN],
}

impl Series {
    fn new() -> Box<Series> {
        Box::new(Series {
            idx: 0,
            max: 0,
            slots: [Slot::default(); TS_LEN],
        })
    }

    fn last(&self) -> Sample {
        self.slots[(self.idx + TS_LEN - 1) % TS_LEN].sample()
    }

    /// Samples oldest first.
    fn chronological(&self) -> impl Iterator<Item = Sample> + '_ {
        (0..TS_LEN)
            .map(move |j| self.slots[(self.idx + j) % TS_LEN])
            .filter(|s| s.time != 0)
            .map(Slot::sample)
    }
}

/// Every event's series. Events are few; a sorted map keeps replies stable.
#[derive(Default)]
pub struct LatencyMonitor {
    /// Boxed: a map node holds 11 entries inline, and an event costs one series, not eleven.
    events: Mutex<BTreeMap<String, Box<Series>>>,
}

impl LatencyMonitor {
    /// redis `latencyAddSample`: one sample per second per event, the worst of that second.
    pub fn add_sample(&self, event: &str, latency_ms: u64, now_secs: i64) {
        let mut ev = self.events.lock();
        let ts = ev.entry(event.to_string()).or_insert_with(Series::new);
        ts.max = ts.max.max(latency_ms);
        let time = u32::try_from(now_secs).unwrap_or(u32::MAX);
        let ms = u32::try_from(latency_ms).unwrap_or(u32::MAX);
        let prev = (ts.idx + TS_LEN - 1) % TS_LEN;
        if ts.slots[prev].time == time {
            ts.slots[prev].latency_ms = ts.slots[prev].latency_ms.max(ms);
            return;
        }
        ts.slots[ts.idx] = Slot {
            time,
            latency_ms: ms,
        };
        ts.idx = (ts.idx + 1) % TS_LEN;
    }

    pub fn is_empty(&self) -> bool {
        self.events.lock().is_empty()
    }
}

/// Called by the dispatcher after each command with its duration in microseconds and the
/// current `latency-monitor-threshold` (ms; 0 = off). Cheap when nothing is recorded.
pub fn record(server: &Server, fast: bool, usec: u64, threshold_ms: u64) {
    let event = if fast { "fast-command" } else { "command" };
    add_if_needed(server, event, usec, threshold_ms);
}

/// Records `usec` under `event` when it reaches the threshold (ms; 0 = off), as redis
/// `latencyAddSampleIfNeeded`.
pub fn add_if_needed(server: &Server, event: &str, usec: u64, threshold_ms: u64) {
    let ms = usec / 1000;
    if threshold_ms == 0 || ms < threshold_ms {
        return;
    }
    super::state(server)
        .latency
        .add_sample(event, ms, crate::util::now_ms() / 1000);
}

/// [`add_if_needed`] with the current `latency-monitor-threshold`, for events outside commands
/// (expiry, eviction ...).
pub fn event(server: &Server, event: &str, usec: u64) {
    let threshold = server
        .hot
        .latency_monitor_threshold
        .load(std::sync::atomic::Ordering::Relaxed);
    add_if_needed(server, event, usec, threshold);
}

fn help(_cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(super::help_reply("LATENCY", HELP))
}

fn monitor(cx: &Ctx) -> &'static LatencyMonitor {
    &super::state(cx.server).latency
}

fn latest(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let ev = monitor(cx).events.lock();
    Ok(Reply::Array(
        ev.iter()
            .map(|(name, ts)| {
                let last = ts.last();
                Reply::Array(vec![
                    Reply::bulk_str(name),
                    Reply::Int(last.time),
                    Reply::Int(last.latency_ms as i64),
                    Reply::Int(ts.max as i64),
                ])
            })
            .collect(),
    ))
}

fn history(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let name = String::from_utf8_lossy(&cx.argv[2]).into_owned();
    let ev = monitor(cx).events.lock();
    let Some(ts) = ev.get(&name) else {
        return Ok(Reply::Array(vec![]));
    };
    Ok(Reply::Array(
        ts.chronological()
            .map(|s| Reply::Array(vec![Reply::Int(s.time), Reply::Int(s.latency_ms as i64)]))
            .collect(),
    ))
}

fn reset(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let mut ev = monitor(cx).events.lock();
    if cx.argv.len() == 2 {
        let n = ev.len();
        ev.clear();
        return Ok(Reply::Int(n as i64));
    }
    let mut n = 0;
    for a in &cx.argv[2..] {
        if ev.remove(String::from_utf8_lossy(a).as_ref()).is_some() {
            n += 1;
        }
    }
    Ok(Reply::Int(n))
}

/// LATENCY HISTOGRAM [command ...]: each named command (a container brings its
/// subcommands; unknown names are skipped), or every command, that has samples, as
/// name => {calls, histogram_usec => {bucket upper bound: cumulative count}}.
fn histogram(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let mut ids = Vec::new();
    if cx.argv.len() == 2 {
        ids.extend(0..REGISTRY.all.len());
    }
    for name in &cx.argv[2..] {
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        let Some(id) = REGISTRY.id_of(&name) else {
            continue;
        };
        ids.push(id);
        ids.extend(
            REGISTRY.all[id]
                .subcommands
                .iter()
                .filter_map(|sub| REGISTRY.id_of(sub.name)),
        );
    }
    let mut out = Vec::new();
    for id in ids {
        let Some(h) = REGISTRY.latency.snapshot(id) else {
            continue;
        };
        let cdf = h
            .log_cdf()
            .into_iter()
            .map(|(usec, count)| (Reply::Int(usec), Reply::Int(count as i64)))
            .collect();
        out.push((
            Reply::bulk_str(REGISTRY.all[id].name),
            Reply::Map(vec![
                (Reply::bulk_str("calls"), Reply::Int(h.total as i64)),
                (Reply::bulk_str("histogram_usec"), Reply::Map(cdf)),
            ]),
        ));
    }
    Ok(Reply::Map(out))
}

fn graph(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let name = String::from_utf8_lossy(&cx.argv[2]).into_owned();
    let ev = monitor(cx).events.lock();
    let Some(ts) = ev.get(&name) else {
        return Err(CmdError::err(format_args!(
            "No samples available for event '{name}'"
        )));
    };
    let now = crate::util::now_ms() / 1000;
    let mut seq: Vec<(u64, String)> = Vec::new();
    for s in ts.chronological() {
        let elapsed = now - s.time;
        let label = if elapsed < 60 {
            format!("{elapsed}s")
        } else if elapsed < 3600 {
            format!("{}m", elapsed / 60)
        } else if elapsed < 3600 * 24 {
            format!("{}h", elapsed / 3600)
        } else {
            format!("{}d", elapsed / (3600 * 24))
        };
        seq.push((s.latency_ms, label));
    }
    let min = seq.iter().map(|s| s.0).min().unwrap_or(0);
    let max = seq.iter().map(|s| s.0).max().unwrap_or(0);
    let mut out = format!(
        "{name} - high {max} ms, low {min} ms (all time high {} ms)\n",
        ts.max
    );
    out.push_str(&"-".repeat(GRAPH_COLS));
    out.push('\n');
    sparkline(&mut out, &seq, min, max, GRAPH_COLS, 4);
    Ok(Reply::Verbatim(out.into()))
}

/// Blank lines between a sparkline and its labels (redis `label_margin_top`).
const LABEL_MARGIN_TOP: usize = 1;

/// redis `sparklineRender` with SPARKLINE_FILL: rows of bars, then the labels vertically.
fn sparkline(
    out: &mut String,
    seq: &[(u64, String)],
    min: u64,
    max: u64,
    cols: usize,
    rows: usize,
) {
    const FILL: &[u8] = b"_o#";
    let charset_len = FILL.len();
    let mut relmax = (max - min) as f64;
    if relmax == 0.0 {
        relmax = 1.0;
    }
    let steps = (charset_len * rows) as f64;
    for (n, chunk) in seq.chunks(cols).enumerate() {
        if n != 0 {
            out.push('\n');
        }
        let mut row = 0;
        loop {
            let mut any = false;
            let mut chars = vec![b' '; chunk.len()];
            for (j, (value, label)) in chunk.iter().enumerate() {
                let relval = (value - min) as f64;
                let step = (((relval * steps) as i64) as f64 / relmax) as i64;
                let step = step.clamp(0, steps as i64 - 1);
                if row < rows {
                    any = true;
                    let charidx = step - ((rows - row - 1) * charset_len) as i64;
                    if charidx >= 0 && (charidx as usize) < charset_len {
                        chars[j] = FILL[charidx as usize];
                    } else if charidx >= charset_len as i64 {
                        chars[j] = b'|';
                    }
                } else if row - rows < LABEL_MARGIN_TOP {
                    // One blank line between the bars and the labels.
                    any = true;
                    break;
                } else if let Some(&c) = label.as_bytes().get(row - rows - LABEL_MARGIN_TOP) {
                    any = true;
                    chars[j] = c;
                }
            }
            if !any {
                break;
            }
            row += 1;
            out.push_str(&String::from_utf8_lossy(&chars));
            out.push('\n');
        }
    }
}

/// redis `analyzeLatencyForEvent`.
struct EventStats {
    samples: u64,
    avg: u64,
    mad: u64,
    period: i64,
}

fn analyze(ts: &Series, now: i64) -> EventStats {
    let mut st = EventStats {
        samples: 0,
        avg: 0,
        mad: 0,
        period: 0,
    };
    let mut sum = 0u64;
    for s in ts.chronological() {
        st.samples += 1;
        sum += s.latency_ms;
        if st.period == 0 || s.time < st.period {
            st.period = s.time;
        }
    }
    if let Some(avg) = sum.checked_div(st.samples) {
        st.avg = avg;
        st.period = (now - st.period).max(1);
        let dev: u64 = ts
            .chronological()
            .map(|s| (st.avg as i64 - s.latency_ms as i64).unsigned_abs())
            .sum();
        st.mad = dev / st.samples;
    }
    st
}

/// LATENCY DOCTOR: redis `createLatencyReport` for the events Tandem records.
fn doctor(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let (threshold, slower_than, slowlog_len) = {
        let c = cx.server.config.read();
        (
            c.latency_monitor_threshold,
            c.slowlog_log_slower_than,
            c.slowlog_max_len,
        )
    };
    let ev = monitor(cx).events.lock();
    let mut report = String::new();
    if ev.is_empty() && threshold == 0 {
        report.push_str("I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n");
        return Ok(Reply::Verbatim(report.into()));
    }
    let now = crate::util::now_ms() / 1000;
    let mut advices = 0;
    let (mut slowlog_enabled, mut slowlog_tuning, mut slowlog_inspect) = (false, false, false);
    let (mut scheduler, mut large_objects) = (false, false);
    for (n, (name, ts)) in ev.iter().enumerate() {
        if n == 0 {
            report.push_str("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
        }
        let st = analyze(ts, now);
        let _ = write!(
            report,
            "{}. {}: {} latency spikes (average {}ms, mean deviation {}ms, period {:.2} sec). Worst all time event {}ms.",
            n + 1,
            name,
            st.samples,
            st.avg,
            st.mad,
            st.period as f64 / st.samples.max(1) as f64,
            ts.max
        );
        if name == "command" {
            if slower_than < 0 || slowlog_len == 0 {
                slowlog_enabled = true;
                advices += 1;
            } else if (slower_than / 1000) as u64 > threshold {
                slowlog_tuning = true;
                advices += 1;
            }
            slowlog_inspect = true;
            large_objects = true;
            advices += 2;
        }
        if name == "fast-command" {
            scheduler = true;
            advices += 1;
        }
        report.push('\n');
    }
    if ev.is_empty() && advices == 0 {
        report.push_str("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n");
    } else if advices == 0 {
        report.push_str("\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n");
    } else {
        report.push_str("\nI have a few advices for you:\n\n");
        if slowlog_enabled {
            let _ = writeln!(report, "- There are latency issues with potentially slow commands you are using. Try to enable the Slow Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than {}'. If the Slow log is disabled Redis is not able to log slow commands execution for you.", threshold * 1000);
        }
        if slowlog_tuning {
            let _ = writeln!(report, "- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {}'.", threshold * 1000);
        }
        if slowlog_inspect {
            report.push_str("- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
        }
        if scheduler {
            report.push_str("- The system is slow to execute Redis code paths not containing system calls. This usually means the system does not provide Redis CPU time to run for long periods. You should try to:\n  1) Lower the system load.\n  2) Use a computer / VM just for Redis if you are running other software in the same system.\n  3) Check if you have a \"noisy neighbour\" problem.\n  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your system.\n  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you are using Jemalloc. However this may create fragmentation problems.\n");
        }
        if large_objects {
            report.push_str("- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n");
        }
    }
    Ok(Reply::Verbatim(report.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_per_second_keeps_the_worst() {
        let m = LatencyMonitor::default();
        m.add_sample("command", 5, 100);
        m.add_sample("command", 9, 100);
        m.add_sample("command", 3, 100);
        m.add_sample("command", 4, 101);
        let ev = m.events.lock();
        let ts = &ev["command"];
        let s: Vec<(i64, u64)> = ts.chronological().map(|s| (s.time, s.latency_ms)).collect();
        assert_eq!(s, vec![(100, 9), (101, 4)]);
        assert_eq!(ts.max, 9);
    }

    #[test]
    fn ring_wraps() {
        let m = LatencyMonitor::default();
        for t in 1..=(TS_LEN as i64 + 5) {
            m.add_sample("e", t as u64, t);
        }
        let ev = m.events.lock();
        let s: Vec<i64> = ev["e"].chronological().map(|s| s.time).collect();
        assert_eq!(s.len(), TS_LEN);
        assert_eq!(s[0], 6);
    }
}
