//! Logging in redis's line format, `pid:role dd Mon yyyy hh:mm:ss.mmm <level> message`, with
//! redis's levels mapped onto tracing's (warning→WARN, notice→INFO, verbose→DEBUG, debug→TRACE).
//! The log file is opened for each line in append mode, so it can be rotated as Redis's can.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

static ROLE: AtomicU8 = AtomicU8::new(b'M');

/// Where the global logger writes (set by [`init`]).
static TARGET: std::sync::OnceLock<LogTarget> = std::sync::OnceLock::new();

/// Sets the role letter printed in log lines (`M` master, `S` replica).
pub fn set_role(c: u8) {
    ROLE.store(c, Ordering::Relaxed);
}

struct RedisFormat;

impl<S, N> FormatEvent<S, N> for RedisFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let level = match *event.metadata().level() {
            Level::ERROR | Level::WARN => '#',
            Level::INFO => '*',
            Level::DEBUG => '-',
            Level::TRACE => '.',
        };
        w.write_str(&line_prefix(level))?;
        ctx.field_format().format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}

/// The start of a log line: `pid:role timestamp level `.
pub fn line_prefix(level: char) -> String {
    format!(
        "{}:{} {} {} ",
        std::process::id(),
        ROLE.load(Ordering::Relaxed) as char,
        timestamp(),
        level
    )
}

/// The start of a line written from a signal handler (redis `serverLogFromHandler`):
/// `pid:signal-handler (unix time) `.
pub fn signal_handler_prefix() -> String {
    format!(
        "{}:signal-handler ({}) ",
        std::process::id(),
        crate::util::now_ms() / 1000
    )
}

/// Writes text to the log as it is, without a line prefix (redis `serverLogRaw` with
/// `LL_RAW`): the crash report's banners and stack trace.
pub fn write_raw(text: &str) {
    let mut sink = match TARGET.get() {
        Some(t) => t.make_writer(),
        None => LogSink::Stdout(std::io::stdout()),
    };
    let _ = sink.write_all(text.as_bytes());
    let _ = sink.flush();
}

/// Local time is UTC here: `dd Mon yyyy hh:mm:ss.mmm`.
pub fn timestamp() -> String {
    let ms = crate::util::now_ms();
    let secs = ms.div_euclid(1000);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86400));
    let tod = secs.rem_euclid(86400);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{:02} {} {} {:02}:{:02}:{:02}.{:03}",
        d,
        MONTHS[(mo - 1) as usize % 12],
        y,
        tod / 3600,
        (tod / 60) % 60,
        tod % 60,
        ms.rem_euclid(1000)
    )
}

/// C's `ctime` without its newline (UTC, as the log): `Sun Dec  6 11:11:02 2026`.
pub fn ctime(secs: i64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs.div_euclid(86400);
    let (y, mo, d) = civil_from_days(days);
    let tod = secs.rem_euclid(86400);
    format!(
        "{} {}{:3} {:02}:{:02}:{:02} {}",
        DAYS[(days + 4).rem_euclid(7) as usize],
        MONTHS[(mo - 1) as usize % 12],
        d,
        tod / 3600,
        (tod / 60) % 60,
        tod % 60,
        y
    )
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31) (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Where log lines go: stdout when `logfile` is empty, else that file (reopened per line).
#[derive(Clone)]
pub struct LogTarget {
    path: Option<std::path::PathBuf>,
}

pub enum LogSink {
    Stdout(std::io::Stdout),
    File(Option<std::fs::File>),
}

impl Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            LogSink::Stdout(s) => s.write(buf),
            LogSink::File(Some(f)) => f.write(buf),
            LogSink::File(None) => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            LogSink::Stdout(s) => s.flush(),
            LogSink::File(Some(f)) => f.flush(),
            LogSink::File(None) => Ok(()),
        }
    }
}

impl<'a> MakeWriter<'a> for LogTarget {
    type Writer = LogSink;

    fn make_writer(&'a self) -> LogSink {
        match &self.path {
            None => LogSink::Stdout(std::io::stdout()),
            Some(p) => LogSink::File(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .ok(),
            ),
        }
    }
}

/// Maps a redis `loglevel` name to the most verbose tracing level shown.
pub fn level_of(loglevel: &str) -> Level {
    match loglevel {
        "debug" => Level::TRACE,
        "verbose" => Level::DEBUG,
        "warning" => Level::WARN,
        _ => Level::INFO,
    }
}

/// Installs the global logger. `logfile` empty = stdout.
pub fn init(logfile: &str, loglevel: &str) {
    let target = LogTarget {
        path: if logfile.is_empty() {
            None
        } else {
            Some(logfile.into())
        },
    };
    let _ = TARGET.set(target.clone());
    let _ = tracing_subscriber::fmt()
        .with_max_level(level_of(loglevel))
        .event_format(RedisFormat)
        .with_writer(target)
        .try_init();
}

#[cfg(test)]
mod tests {
    #[test]
    fn civil_dates() {
        assert_eq!(super::civil_from_days(0), (1970, 1, 1));
        assert_eq!(super::civil_from_days(20_417), (2025, 11, 25));
    }

    #[test]
    fn ctime_as_c() {
        assert_eq!(super::ctime(0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(super::ctime(1_796_555_462), "Sun Dec  6 11:11:02 2026");
    }
}
