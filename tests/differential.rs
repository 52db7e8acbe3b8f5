//! Differential suite: the same commands go to a real `redis-server` (the reference) and to
//! `tandem-server`, and the raw reply bytes must be equal.
//!
//! Both servers run with `--save "" --appendonly no --enable-debug-command yes`. With
//! `TANDEM_DIFF_SELFTEST=1` the second server is another `redis-server`: this proves the harness
//! and the case files are deterministic (any line that differs between two real Redis servers
//! is a bug in the case file).
//!
//! # Case files (`tests/cases/*.txt`)
//!
//! Each file runs on fresh connections after `FLUSHALL` and `SELECT 0` on both servers.
//! One command per line; blank lines and lines starting with `#` are skipped. Arguments are
//! split with redis-cli's quoting rules: `"double quotes"` with `\xHH`, `\n`, `\r`, `\t`, `\"`,
//! `\\` escapes, and `'single quotes'` (only `\'` is an escape there).
//!
//! A line may start with prefixes (in any order) that change how the reply is compared:
//!
//! | prefix | comparison |
//! | --- | --- |
//! | (none) | the raw reply bytes are equal |
//! | `!sort ` | an aggregate reply is compared as a multiset of its elements (nested aggregates and map entries are normalized the same way): SMEMBERS, KEYS, SUNION of hashtable-encoded data |
//! | `!sortpairs ` | a flat array is compared as a multiset of (even, odd) element pairs: HGETALL of a hashtable in RESP2 |
//! | `!type ` | only the RESP type byte and, for aggregates, the element count: TIME, random members |
//! | `!ttl ` | integers equal, or both positive and within 10% of each other: TTL/PTTL after a wait |
//! | `!ok ` | nothing but "both are errors" or "both are not errors" |
//! | `!conn NAME ` | the command runs on a second connection NAME (opened on first use, per file), e.g. to touch a WATCHed key from another client |
//! | `!recv` | sends nothing: reads the next pending reply (a pub/sub message, the second reply of a two-channel SUBSCRIBE) on the line's connection; nothing may follow it |
//!
//! `!sleep MS` on its own line sleeps MS milliseconds on the test thread (keep these short).
//! Connection protocol switches (`HELLO 3`) are ordinary commands: replies are compared as raw
//! bytes either way. A connection that the server closes (QUIT, protocol error) reconnects.
//!
//! # Random sequences
//!
//! `differential_random_commands` generates 3000 commands per seed over 10 keys per type with
//! wrong types, wrong arities, edge and overflowing numbers and non-UTF-8 bytes, and compares
//! them the same way. Seeds come from `TANDEM_DIFF_SEED` (one number or a comma list), else a
//! fixed list. `TANDEM_DIFF_DUMP_DIR=dir` writes each generated sequence as a case file
//! `random-SEED.txt` there, so a failure can be replayed and cut down by hand.
//!
//! Both tests collect every mismatch and fail at the end listing them (file:line, command, the
//! reference reply and tandem's reply, escaped; at most 200), after printing
//! `differential: N case files, M commands compared`. `TANDEM_DIFF_REPORT_DIR=dir` writes the
//! complete list to `dir/differential_case_files.txt` and `dir/differential_random_commands.txt`.
//!
//! # Running
//!
//! ```text
//! cargo test --test differential -- --nocapture            # redis-server vs tandem-server
//! TANDEM_DIFF_SELFTEST=1 cargo test --test differential    # redis-server vs redis-server
//! TANDEM_DIFF_CASES=strings,tx cargo test --test differential differential_case_files
//! TANDEM_DIFF_SEED=42 TANDEM_DIFF_DUMP_DIR=/tmp cargo test --test differential random
//! ```
//!
//! The servers load no config file, so Redis's compiled-in defaults apply (for instance
//! `hash-max-listpack-entries 512`, not the 128 of Debian's `/etc/redis/redis.conf`).

mod support;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::{aggregate_elements, escape, split_args, RawConn, Rng, Server, ServerKind};

const SERVER_ARGS: &[&str] = support::TEST_NODE_ARGS;
/// Mismatches printed in a failure message at most.
const PRINT_CAP: usize = 200;
/// A random sequence stops after this many mismatches: its states have diverged by then.
const RANDOM_MISMATCH_CAP: usize = 50;
/// Total time budget of one test (case files, or all random seeds).
const TEST_BUDGET: Duration = Duration::from_secs(240);
const DEFAULT_SEEDS: &[u64] = &[1, 0x5eed_7a4d, 20_240_607];
const RANDOM_COMMANDS: usize = 3000;

fn selftest() -> bool {
    std::env::var("TANDEM_DIFF_SELFTEST").is_ok_and(|v| v == "1")
}

/// Prints past libtest's output capture, so the line shows in normal `cargo test` output too.
fn report(line: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

// ---------------------------------------------------------------------------------------------
// Comparison modes

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Exact,
    Sort,
    SortPairs,
    Type,
    Ttl,
    Ok,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::Exact => "",
            Mode::Sort => "!sort ",
            Mode::SortPairs => "!sortpairs ",
            Mode::Type => "!type ",
            Mode::Ttl => "!ttl ",
            Mode::Ok => "!ok ",
        }
    }
}

fn is_error(reply: &[u8]) -> bool {
    matches!(reply.first(), Some(b'-' | b'!'))
}

/// The first line of a reply (type byte and length or simple value), without CRLF.
fn header(reply: &[u8]) -> &[u8] {
    let end = reply
        .windows(2)
        .position(|w| w == b"\r\n")
        .unwrap_or(reply.len());
    &reply[..end]
}

/// A reply with the elements of every aggregate sorted (map entries as pairs), recursively.
fn normalized(reply: &[u8]) -> Vec<u8> {
    let Some(elements) = aggregate_elements(reply) else {
        return reply.to_vec();
    };
    let mut items: Vec<Vec<u8>> = if reply[0] == b'%' {
        elements
            .chunks(2)
            .map(|pair| pair.iter().flat_map(|e| normalized(e)).collect())
            .collect()
    } else {
        elements.iter().map(|e| normalized(e)).collect()
    };
    items.sort();
    let mut out = header(reply).to_vec();
    out.extend_from_slice(b"\r\n");
    items.into_iter().for_each(|item| out.extend(item));
    out
}

/// A flat array with its (even, odd) element pairs sorted.
fn pairs_sorted(reply: &[u8]) -> Vec<u8> {
    let Some(elements) = aggregate_elements(reply) else {
        return reply.to_vec();
    };
    let mut pairs: Vec<Vec<u8>> = elements.chunks(2).map(|pair| pair.concat()).collect();
    pairs.sort();
    let mut out = header(reply).to_vec();
    out.extend_from_slice(b"\r\n");
    pairs.into_iter().for_each(|pair| out.extend(pair));
    out
}

fn integer(reply: &[u8]) -> Option<i64> {
    let line = header(reply);
    if line.first() != Some(&b':') {
        return None;
    }
    std::str::from_utf8(&line[1..]).ok()?.parse().ok()
}

fn replies_match(mode: Mode, reference: &[u8], subject: &[u8]) -> bool {
    match mode {
        Mode::Exact => reference == subject,
        Mode::Sort => normalized(reference) == normalized(subject),
        Mode::SortPairs => pairs_sorted(reference) == pairs_sorted(subject),
        Mode::Type => {
            reference.first() == subject.first()
                && (aggregate_elements(reference).is_none() || header(reference) == header(subject))
        }
        Mode::Ttl => match (integer(reference), integer(subject)) {
            (Some(a), Some(b)) if a > 0 && b > 0 => (a - b).abs() * 10 <= a.max(b),
            (Some(a), Some(b)) => a == b,
            _ => reference == subject,
        },
        Mode::Ok => is_error(reference) == is_error(subject),
    }
}

// ---------------------------------------------------------------------------------------------
// Case files

enum Step {
    Command {
        line: usize,
        text: String,
        conn: String,
        mode: Mode,
        args: Vec<Vec<u8>>,
    },
    Sleep(Duration),
}

fn parse_case_file(path: &Path) -> Result<Vec<Step>, String> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: {e}"))?;
    let mut steps = Vec::new();
    for (index, raw_line) in text.lines().enumerate() {
        let line = index + 1;
        let mut rest = raw_line.trim();
        if rest.is_empty() || rest.starts_with('#') {
            continue;
        }
        if let Some(ms) = rest.strip_prefix("!sleep ") {
            let ms: u64 = ms
                .trim()
                .parse()
                .map_err(|_| format!("{name}:{line}: bad !sleep"))?;
            steps.push(Step::Sleep(Duration::from_millis(ms)));
            continue;
        }
        let mut mode = Mode::Exact;
        let mut conn = String::new();
        let mut recv = false;
        while rest.starts_with('!') {
            let (word, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            rest = tail.trim_start();
            mode = match word {
                "!sort" => Mode::Sort,
                "!sortpairs" => Mode::SortPairs,
                "!type" => Mode::Type,
                "!ttl" => Mode::Ttl,
                "!ok" => Mode::Ok,
                "!recv" => {
                    recv = true;
                    mode
                }
                "!conn" => {
                    let (conn_name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                    conn = conn_name.to_string();
                    rest = tail.trim_start();
                    mode
                }
                other => return Err(format!("{name}:{line}: unknown prefix {other}")),
            };
        }
        let args = split_args(rest).map_err(|e| format!("{name}:{line}: {e}"))?;
        if args.is_empty() != recv {
            return Err(format!(
                "{name}:{line}: {}",
                if recv {
                    "nothing may follow !recv"
                } else {
                    "no command"
                }
            ));
        }
        steps.push(Step::Command {
            line,
            text: raw_line.trim().to_string(),
            conn,
            mode,
            args,
        });
    }
    Ok(steps)
}

fn case_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("cases");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "txt"))
        .filter(|p| match std::env::var("TANDEM_DIFF_CASES") {
            Ok(only) if !only.trim().is_empty() => {
                let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned());
                only.split(',')
                    .any(|name| Some(name.trim().to_string()) == stem)
            }
            _ => true,
        })
        .collect();
    files.sort();
    files
}

// ---------------------------------------------------------------------------------------------
// Running commands on both servers

/// What came back for one command.
#[derive(PartialEq, Eq)]
enum Outcome {
    Reply(Vec<u8>),
    /// The server closed the connection before a complete reply.
    Closed,
    /// Timeout, malformed RESP or another I/O error.
    Failed(String),
}

impl Outcome {
    fn describe(&self) -> String {
        match self {
            Outcome::Reply(bytes) => format!("\"{}\"", escape(bytes)),
            Outcome::Closed => "<connection closed>".into(),
            Outcome::Failed(e) => format!("<{e}>"),
        }
    }
}

/// One side: the server and its named connections.
struct Side<'a> {
    server: &'a Server,
    conns: HashMap<String, RawConn>,
}

impl<'a> Side<'a> {
    fn new(server: &'a Server) -> Self {
        Side {
            server,
            conns: HashMap::new(),
        }
    }

    fn conn(&mut self, name: &str) -> Result<&mut RawConn, String> {
        if !self.conns.contains_key(name) {
            let conn = RawConn::try_connect(self.server.addr())
                .map_err(|e| format!("{} refused a connection: {e}", self.server.kind().name()))?;
            self.conns.insert(name.to_string(), conn);
        }
        Ok(self.conns.get_mut(name).expect("just inserted"))
    }

    fn send(&mut self, conn: &str, request: &[u8]) -> Result<(), Outcome> {
        let c = self.conn(conn).map_err(Outcome::Failed)?;
        let Err(e) = c.try_send_raw(request) else {
            return Ok(());
        };
        self.conns.remove(conn);
        Err(match e.kind() {
            io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted => Outcome::Closed,
            _ => Outcome::Failed(format!("write: {e}")),
        })
    }

    fn receive(&mut self, conn: &str) -> Outcome {
        let Some(c) = self.conns.get_mut(conn) else {
            return Outcome::Failed("no connection".into());
        };
        let outcome = match c.try_read_reply() {
            Ok(bytes) => return Outcome::Reply(bytes),
            Err(e)
                if c.pending().is_empty()
                    && matches!(
                        e.kind(),
                        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
                    ) =>
            {
                Outcome::Closed
            }
            Err(e) => Outcome::Failed(e.to_string()),
        };
        // Any failure leaves the connection in an unknown state: the next command reconnects.
        self.conns.remove(conn);
        outcome
    }
}

/// The reference server and the server under test, with a check that each is still alive.
struct Pair {
    reference: Server,
    subject: Server,
}

impl Pair {
    fn start() -> Pair {
        let reference = Server::start(ServerKind::Redis, SERVER_ARGS);
        let kind = if selftest() {
            ServerKind::Redis
        } else {
            ServerKind::Tandem
        };
        let subject = Server::start(kind, SERVER_ARGS);
        Pair { reference, subject }
    }

    fn subject_name(&self) -> &'static str {
        if selftest() {
            "redis#2"
        } else {
            "tandem"
        }
    }
}

/// Runs commands on both sides and records mismatches.
struct Comparer<'a> {
    reference: Side<'a>,
    subject: Side<'a>,
    subject_name: &'static str,
    compared: usize,
    mismatches: Vec<String>,
}

impl<'a> Comparer<'a> {
    fn new(pair: &'a Pair) -> Self {
        Comparer {
            reference: Side::new(&pair.reference),
            subject: Side::new(&pair.subject),
            subject_name: pair.subject_name(),
            compared: 0,
            mismatches: Vec::new(),
        }
    }

    /// Fresh connections, FLUSHALL and SELECT 0 on both sides.
    fn reset(&mut self, label: &str) -> Result<(), String> {
        self.reference.conns.clear();
        self.subject.conns.clear();
        for args in [&[&b"FLUSHALL"[..]][..], &[b"SELECT", b"0"]] {
            let request = support::encode_command(args);
            for side in [&mut self.reference, &mut self.subject] {
                let name = side.server.kind().name();
                if let Err(outcome) = side.send("", &request) {
                    return Err(format!("{label}: setup on {name}: {}", outcome.describe()));
                }
                match side.receive("") {
                    Outcome::Reply(reply) if reply == b"+OK\r\n" => {}
                    other => {
                        return Err(format!(
                            "{label}: setup {} on {name} answered {}",
                            String::from_utf8_lossy(args[0]),
                            other.describe()
                        ))
                    }
                }
            }
        }
        Ok(())
    }

    /// Sends one command to both sides; true when the replies match under `mode`. A failure
    /// that is not a reply (timeout, garbage) returns Err: the caller stops the sequence.
    fn compare(
        &mut self,
        location: &str,
        text: &str,
        conn: &str,
        mode: Mode,
        args: &[Vec<u8>],
    ) -> Result<bool, String> {
        let argv: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        // No arguments: `!recv`, read what is pending without sending.
        let request = if argv.is_empty() {
            Vec::new()
        } else {
            support::encode_command(&argv)
        };
        let reference = match self.reference.send(conn, &request) {
            Ok(()) => self.reference.receive(conn),
            Err(outcome) => outcome,
        };
        let subject = match self.subject.send(conn, &request) {
            Ok(()) => self.subject.receive(conn),
            Err(outcome) => outcome,
        };
        self.compared += 1;
        if let Outcome::Failed(e) = &reference {
            return Err(format!("{location}: {text}: the reference failed: {e}"));
        }
        let matched = match (&reference, &subject) {
            (Outcome::Reply(a), Outcome::Reply(b)) => replies_match(mode, a, b),
            (a, b) => a == b,
        };
        if !matched {
            self.mismatches.push(format!(
                "{location}: {}{text}\n    redis:  {}\n    {}: {}",
                if text.starts_with('!') {
                    ""
                } else {
                    mode.label()
                },
                reference.describe(),
                self.subject_name,
                subject.describe()
            ));
        }
        if let Outcome::Failed(e) = subject {
            return Err(format!(
                "{location}: {text}: {} failed: {e}",
                self.subject_name
            ));
        }
        Ok(matched)
    }
}

/// Reports the run; fails listing the mismatches (at most [`PRINT_CAP`]). With
/// `TANDEM_DIFF_REPORT_DIR=dir`, every mismatch is also written to `dir/<test>.txt`.
fn finish(test: &str, summary: &str, mismatches: &[String], fatal: &[String]) {
    report(summary);
    if let Some(dir) = std::env::var_os("TANDEM_DIFF_REPORT_DIR") {
        let path = PathBuf::from(dir).join(format!("{test}.txt"));
        let mut text = format!("{summary}\n");
        fatal
            .iter()
            .for_each(|f| text.push_str(&format!("ABORTED: {f}\n")));
        mismatches
            .iter()
            .for_each(|m| text.push_str(&format!("{m}\n")));
        match std::fs::write(&path, text) {
            Ok(()) => report(&format!("differential: full report in {}", path.display())),
            Err(e) => report(&format!(
                "differential: cannot write {}: {e}",
                path.display()
            )),
        }
    }
    if mismatches.is_empty() && fatal.is_empty() {
        return;
    }
    let mut message = format!("{summary}\n");
    for f in fatal {
        let _ = writeln!(message, "ABORTED: {f}");
    }
    let _ = writeln!(message, "{} mismatches:", mismatches.len());
    for m in mismatches.iter().take(PRINT_CAP) {
        let _ = writeln!(message, "{m}");
    }
    if mismatches.len() > PRINT_CAP {
        let _ = writeln!(message, "... and {} more", mismatches.len() - PRINT_CAP);
    }
    let _ = writeln!(message, "{summary}");
    panic!("{message}");
}

#[test]
fn differential_case_files() {
    let started = Instant::now();
    let files = case_files();
    assert!(!files.is_empty(), "no case files in tests/cases");
    // Parse everything first: a broken case file is reported before any server starts.
    let parsed: Vec<(String, Vec<Step>)> = files
        .iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (
                name,
                parse_case_file(path).unwrap_or_else(|e| panic!("{e}")),
            )
        })
        .collect();
    let pair = Pair::start();
    let mut cmp = Comparer::new(&pair);
    let mut fatal = Vec::new();
    for (name, steps) in &parsed {
        if started.elapsed() > TEST_BUDGET {
            fatal.push(format!(
                "{name}: skipped, time budget of {TEST_BUDGET:?} used up"
            ));
            continue;
        }
        if let Err(e) = cmp.reset(name) {
            fatal.push(e);
            continue;
        }
        for step in steps {
            match step {
                Step::Sleep(d) => std::thread::sleep(*d),
                Step::Command {
                    line,
                    text,
                    conn,
                    mode,
                    args,
                } => {
                    let location = format!("{name}:{line}");
                    if let Err(e) = cmp.compare(&location, text, conn, *mode, args) {
                        fatal.push(format!("{e} (rest of {name} skipped)"));
                        break;
                    }
                }
            }
        }
    }
    let summary = format!(
        "differential: {} case files, {} commands compared, {} mismatches (redis vs {})",
        parsed.len(),
        cmp.compared,
        cmp.mismatches.len(),
        pair.subject_name()
    );
    finish("differential_case_files", &summary, &cmp.mismatches, &fatal);
}

// ---------------------------------------------------------------------------------------------
// Random sequences

const TYPES: &[&str] = &["str", "list", "hash", "set", "zset"];

/// Builds random commands over a small key space.
struct Gen {
    rng: Rng,
}

type Cmd = (Mode, Vec<Vec<u8>>);

impl Gen {
    /// A key of type `ty` (by name: it may hold another type after a RENAME of a missing key).
    /// Used for commands that create or overwrite keys, so that types do not drift.
    fn key(&mut self, ty: &str) -> Vec<u8> {
        let n = self.rng.below(10);
        if n == 9 {
            // One key per type is not UTF-8.
            return [ty.as_bytes(), b":\xff\xfe9"].concat();
        }
        format!("{ty}:{n}").into_bytes()
    }

    /// A key for commands that read or change an existing value without creating one: now and
    /// then of another type (WRONGTYPE) or missing.
    fn rkey(&mut self, ty: &str) -> Vec<u8> {
        if self.rng.chance(3) {
            return b"missing".to_vec();
        }
        let ty = if self.rng.chance(6) {
            *self.rng.pick(TYPES)
        } else {
            ty
        };
        self.key(ty)
    }

    fn one_of(&mut self, items: &[&str]) -> Vec<u8> {
        self.rng.pick(items).as_bytes().to_vec()
    }

    fn keys(&mut self, ty: &str, max: usize) -> Vec<Vec<u8>> {
        let n = 1 + self.rng.below(max);
        (0..n).map(|_| self.rkey(ty)).collect()
    }

    fn int(&mut self) -> Vec<u8> {
        const EDGE: &[&str] = &[
            "0",
            "-1",
            "9223372036854775807",
            "-9223372036854775808",
            "9223372036854775808",
            "-9223372036854775809",
            "abc",
            "1.5",
            "",
            " 1",
            "+1",
            "01",
            "1e3",
            "-0",
        ];
        if self.rng.chance(12) {
            return self.rng.pick(EDGE).as_bytes().to_vec();
        }
        self.rng.range(-5, 20).to_string().into_bytes()
    }

    fn small_int(&mut self) -> Vec<u8> {
        if self.rng.chance(5) {
            return self
                .rng
                .pick(&["abc", "-1", "9223372036854775808", "0"])
                .as_bytes()
                .to_vec();
        }
        self.rng.range(0, 6).to_string().into_bytes()
    }

    fn float(&mut self) -> Vec<u8> {
        const FLOATS: &[&str] = &[
            "1.5", "-2", "0", "1e3", "0.1", "0.2", "-0.25", "3.0e-2", "10.5", "1e10", "-1e10",
            "inf", "-inf", "+inf", "nan", "abc", "1e400", "0x10", "", "5", "2.5e1", "-0",
        ];
        if self.rng.chance(50) {
            return self.rng.range(-10, 10).to_string().into_bytes();
        }
        self.rng.pick(FLOATS).as_bytes().to_vec()
    }

    fn score_bound(&mut self) -> Vec<u8> {
        const BOUNDS: &[&str] = &[
            "-inf", "+inf", "inf", "(1", "1", "5", "(5", "(-2", "0", "abc", "((1", "10.5", "nan",
        ];
        if self.rng.chance(40) {
            return self.rng.range(-3, 12).to_string().into_bytes();
        }
        self.rng.pick(BOUNDS).as_bytes().to_vec()
    }

    fn lex_bound(&mut self) -> Vec<u8> {
        const BOUNDS: &[&str] = &["-", "+", "[a", "(a", "[m", "(m", "[z", "a", "[", "("];
        if self.rng.chance(5) {
            return b"[\xff".to_vec();
        }
        self.rng.pick(BOUNDS).as_bytes().to_vec()
    }

    fn member(&mut self) -> Vec<u8> {
        if self.rng.chance(4) {
            return [&b"\xff\xfe"[..], b"", b"a b", b"\x00z"][self.rng.below(4)].to_vec();
        }
        if self.rng.chance(35) {
            return self.rng.range(-3, 15).to_string().into_bytes();
        }
        vec![b'a' + self.rng.below(20) as u8]
    }

    fn members(&mut self, max: usize) -> Vec<Vec<u8>> {
        let n = 1 + self.rng.below(max);
        (0..n).map(|_| self.member()).collect()
    }

    fn value(&mut self) -> Vec<u8> {
        const VALUES: &[&str] = &[
            "v",
            "hello",
            "123",
            "-5",
            "3.14",
            "",
            "0",
            "hello world",
            "9223372036854775807",
            "1e2",
            "abcdefghij",
            "foobar",
        ];
        if self.rng.chance(5) {
            return b"\x00\xff\xfe".to_vec();
        }
        self.rng.pick(VALUES).as_bytes().to_vec()
    }

    /// A TTL that is either far away (stable during the run) or already past.
    fn ttl(&mut self, millis: bool) -> Vec<u8> {
        let far = if millis { 100_000_000 } else { 100_000 };
        match self.rng.below(10) {
            0 => b"0".to_vec(),
            1 => b"-5".to_vec(),
            2 => b"abc".to_vec(),
            3 => b"9223372036854775807".to_vec(),
            _ => self.rng.range(far, far * 2).to_string().into_bytes(),
        }
    }

    fn command(&mut self) -> Cmd {
        let family = self.rng.below(6);
        let (mode, mut args) = match family {
            0 => self.string_command(),
            1 => self.list_command(),
            2 => self.hash_command(),
            3 => self.set_command(),
            4 => self.zset_command(),
            _ => self.key_command(),
        };
        // Wrong arities and stray arguments; not for commands that would turn random (SPOP
        // without a count) or partial (SCAN without COUNT).
        const KEEP_ARITY: &[&[u8]] = &[
            b"SCAN",
            b"SSCAN",
            b"HSCAN",
            b"ZSCAN",
            b"SPOP",
            b"SRANDMEMBER",
            b"HRANDFIELD",
            b"ZRANDMEMBER",
        ];
        if KEEP_ARITY.contains(&args[0].as_slice()) {
            return (mode, args);
        }
        if self.rng.chance(3) {
            let keep = 1 + self.rng.below(args.len());
            args.truncate(keep);
        } else if self.rng.chance(2) {
            args.push(b"extra".to_vec());
        }
        (mode, args)
    }

    fn string_command(&mut self) -> Cmd {
        let k = self.key("str");
        let r = self.rkey("str");
        let exact = Mode::Exact;
        let words = |items: &[&[u8]]| items.iter().map(|s| s.to_vec()).collect::<Vec<_>>();
        match self.rng.below(26) {
            0 | 1 => {
                let mut args = words(&[b"SET", &k, &self.value()]);
                for _ in 0..self.rng.below(3) {
                    match self.rng.below(7) {
                        0 => args.extend([b"EX".to_vec(), self.ttl(false)]),
                        1 => args.extend([b"PX".to_vec(), self.ttl(true)]),
                        2 => args.push(b"NX".to_vec()),
                        3 => args.push(b"XX".to_vec()),
                        4 => args.push(b"GET".to_vec()),
                        5 => args.push(b"KEEPTTL".to_vec()),
                        // Not a past EXAT: Redis keeps such a key (DBSIZE counts it) until
                        // active expiry finds it, which is timing.
                        _ => args.extend([b"EXAT".to_vec(), b"4102444800".to_vec()]),
                    }
                }
                (exact, args)
            }
            2 | 3 => (exact, words(&[b"GET", &r])),
            4 => (exact, words(&[b"GETSET", &k, &self.value()])),
            5 => (exact, words(&[b"GETDEL", &r])),
            6 => {
                let mut args = words(&[b"GETEX", &k]);
                match self.rng.below(4) {
                    0 => args.push(b"PERSIST".to_vec()),
                    1 => args.extend([b"EX".to_vec(), self.ttl(false)]),
                    2 => args.extend([b"PX".to_vec(), self.ttl(true)]),
                    _ => {}
                }
                (exact, args)
            }
            7 => {
                let mut args = vec![b"MGET".to_vec()];
                args.extend(self.keys("str", 4));
                (exact, args)
            }
            8 | 9 => {
                let mut args = vec![if self.rng.chance(70) {
                    b"MSET".to_vec()
                } else {
                    b"MSETNX".to_vec()
                }];
                for _ in 0..1 + self.rng.below(3) {
                    let (k, v) = (self.key("str"), self.value());
                    args.extend([k, v]);
                }
                (exact, args)
            }
            10 => (exact, words(&[b"APPEND", &k, &self.value()])),
            11 => (exact, words(&[b"STRLEN", &r])),
            12 => (
                exact,
                words(&[
                    if self.rng.chance(50) {
                        b"INCR"
                    } else {
                        b"DECR"
                    },
                    &k,
                ]),
            ),
            13 => (
                exact,
                words(&[
                    if self.rng.chance(50) {
                        b"INCRBY"
                    } else {
                        b"DECRBY"
                    },
                    &k,
                    &self.int(),
                ]),
            ),
            14 => (exact, words(&[b"INCRBYFLOAT", &k, &self.float()])),
            15 => (exact, words(&[b"GETRANGE", &r, &self.int(), &self.int()])),
            16 => {
                let offset = match self.rng.below(8) {
                    0 => b"-1".to_vec(),
                    1 => b"536870912".to_vec(),
                    2 => b"abc".to_vec(),
                    _ => self.rng.range(0, 40).to_string().into_bytes(),
                };
                (exact, words(&[b"SETRANGE", &k, &offset, &self.value()]))
            }
            17 => {
                let offset = match self.rng.below(8) {
                    0 => b"-1".to_vec(),
                    1 => b"4294967296".to_vec(),
                    _ => self.rng.range(0, 300).to_string().into_bytes(),
                };
                let bit = self.one_of(&["0", "1", "1", "2", "x"]);
                (exact, words(&[b"SETBIT", &k, &offset, &bit]))
            }
            18 => (
                exact,
                words(&[
                    b"GETBIT",
                    &r,
                    &self.rng.range(-1, 300).to_string().into_bytes(),
                ]),
            ),
            19 => {
                let mut args = words(&[b"BITCOUNT", &r]);
                if self.rng.chance(60) {
                    args.extend([self.int(), self.int()]);
                    if self.rng.chance(40) {
                        args.push(
                            self.rng
                                .pick(&["BYTE", "BIT", "byte", "WORD"])
                                .as_bytes()
                                .to_vec(),
                        );
                    }
                }
                (exact, args)
            }
            20 => {
                let bit = self.rng.pick(&["0", "1", "2"]).as_bytes().to_vec();
                let mut args = words(&[b"BITPOS", &r, &bit]);
                for _ in 0..self.rng.below(3) {
                    args.push(self.int());
                }
                if args.len() == 5 && self.rng.chance(50) {
                    args.push(self.rng.pick(&["BYTE", "BIT"]).as_bytes().to_vec());
                }
                (exact, args)
            }
            21 => {
                let op = self
                    .rng
                    .pick(&["AND", "OR", "XOR", "NOT", "NOPE"])
                    .as_bytes()
                    .to_vec();
                let mut args = vec![b"BITOP".to_vec(), op, self.key("str")];
                args.extend(self.keys("str", 3));
                (exact, args)
            }
            22 => {
                let cmd: &[u8] = if self.rng.chance(50) {
                    b"SETNX"
                } else {
                    b"SETEX"
                };
                if cmd == b"SETNX" {
                    (exact, words(&[cmd, &k, &self.value()]))
                } else {
                    (exact, words(&[cmd, &k, &self.ttl(false), &self.value()]))
                }
            }
            23 => (
                exact,
                words(&[b"PSETEX", &k, &self.ttl(true), &self.value()]),
            ),
            24 => {
                let mut args = words(&[b"LCS", &r, &self.rkey("str")]);
                match self.rng.below(4) {
                    0 => args.push(b"LEN".to_vec()),
                    1 => args.extend([b"IDX".to_vec(), b"MINMATCHLEN".to_vec(), self.small_int()]),
                    2 => args.extend([b"IDX".to_vec(), b"WITHMATCHLEN".to_vec()]),
                    _ => {}
                }
                (exact, args)
            }
            _ => {
                let mut args = words(&[b"BITFIELD", &k]);
                for _ in 0..1 + self.rng.below(3) {
                    let ty = self
                        .rng
                        .pick(&["u8", "i8", "i16", "u4", "i64", "u63", "u64", "x8"]);
                    let offset = self.rng.pick(&["0", "3", "#1", "8", "-1"]);
                    match self.rng.below(4) {
                        0 => args.extend(["GET", ty, offset].map(|s| s.as_bytes().to_vec())),
                        1 => {
                            args.extend(["SET", ty, offset].map(|s| s.as_bytes().to_vec()));
                            args.push(self.int());
                        }
                        2 => {
                            args.extend(["INCRBY", ty, offset].map(|s| s.as_bytes().to_vec()));
                            args.push(self.int());
                        }
                        _ => {
                            let how = self.rng.pick(&["WRAP", "SAT", "FAIL", "BAD"]);
                            args.extend(["OVERFLOW", how].map(|s| s.as_bytes().to_vec()));
                        }
                    }
                }
                (exact, args)
            }
        }
    }

    fn list_command(&mut self) -> Cmd {
        let k = self.key("list");
        let r = self.rkey("list");
        let exact = Mode::Exact;
        let words = |items: &[&[u8]]| items.iter().map(|s| s.to_vec()).collect::<Vec<_>>();
        let end = |g: &mut Gen| g.one_of(&["LEFT", "RIGHT", "left", "UP"]);
        match self.rng.below(18) {
            0..=2 => {
                let cmd = self.one_of(&["LPUSH", "RPUSH", "LPUSHX", "RPUSHX"]);
                let mut args = vec![cmd, k];
                args.extend(self.members(3));
                (exact, args)
            }
            3 | 4 => {
                let cmd = self.one_of(&["LPOP", "RPOP"]);
                let mut args = vec![cmd, r];
                if self.rng.chance(40) {
                    args.push(self.small_int());
                }
                (exact, args)
            }
            5 => (exact, words(&[b"LLEN", &r])),
            6 | 7 => (exact, words(&[b"LRANGE", &r, &self.int(), &self.int()])),
            8 => (exact, words(&[b"LINDEX", &r, &self.int()])),
            9 => (exact, words(&[b"LSET", &r, &self.int(), &self.member()])),
            10 => {
                let side = self.one_of(&["BEFORE", "AFTER", "after", "MIDDLE"]);
                (
                    exact,
                    words(&[b"LINSERT", &r, &side, &self.member(), &self.member()]),
                )
            }
            11 => (exact, words(&[b"LREM", &r, &self.int(), &self.member()])),
            12 => (exact, words(&[b"LTRIM", &r, &self.int(), &self.int()])),
            13 => {
                let mut args = words(&[b"LPOS", &r, &self.member()]);
                for _ in 0..self.rng.below(3) {
                    let opt = self.one_of(&["RANK", "COUNT", "MAXLEN", "BOGUS"]);
                    args.extend([opt, self.int()]);
                }
                (exact, args)
            }
            14 => {
                let (dst, a, b) = (self.key("list"), end(self), end(self));
                (exact, words(&[b"LMOVE", &r, &dst, &a, &b]))
            }
            15 => (exact, words(&[b"RPOPLPUSH", &r, &self.key("list")])),
            _ => {
                let keys = self.keys("list", 3);
                let numkeys = if self.rng.chance(10) {
                    self.int()
                } else {
                    keys.len().to_string().into_bytes()
                };
                let mut args = vec![b"LMPOP".to_vec(), numkeys];
                args.extend(keys);
                args.push(end(self));
                if self.rng.chance(50) {
                    args.extend([b"COUNT".to_vec(), self.small_int()]);
                }
                (exact, args)
            }
        }
    }

    fn field(&mut self) -> Vec<u8> {
        if self.rng.chance(5) {
            return b"f\xff".to_vec();
        }
        format!("f{}", self.rng.below(20)).into_bytes()
    }

    fn hash_command(&mut self) -> Cmd {
        let k = self.key("hash");
        let r = self.rkey("hash");
        let exact = Mode::Exact;
        let words = |items: &[&[u8]]| items.iter().map(|s| s.to_vec()).collect::<Vec<_>>();
        match self.rng.below(18) {
            0..=2 => {
                let cmd = self.one_of(&["HSET", "HMSET"]);
                let mut args = vec![cmd, k];
                for _ in 0..1 + self.rng.below(3) {
                    let (f, v) = (self.field(), self.value());
                    args.extend([f, v]);
                }
                (exact, args)
            }
            3 => (exact, words(&[b"HSETNX", &k, &self.field(), &self.value()])),
            4 | 5 => (exact, words(&[b"HGET", &r, &self.field()])),
            6 => {
                let mut args = words(&[b"HMGET", &r]);
                for _ in 0..1 + self.rng.below(3) {
                    args.push(self.field());
                }
                (exact, args)
            }
            7 => {
                let mut args = words(&[b"HDEL", &r]);
                for _ in 0..1 + self.rng.below(3) {
                    args.push(self.field());
                }
                (exact, args)
            }
            8 => (exact, words(&[b"HLEN", &r])),
            9 => (exact, words(&[b"HSTRLEN", &r, &self.field()])),
            10 => (exact, words(&[b"HEXISTS", &r, &self.field()])),
            11 => (
                exact,
                words(&[&self.one_of(&["HKEYS", "HVALS", "HGETALL"]), &r]),
            ),
            12 => (exact, words(&[b"HINCRBY", &k, &self.field(), &self.int()])),
            13 => {
                // No 1e400 here: INCRBYFLOAT's long double takes it, and a 400-digit value
                // turns the hash into a hashtable, whose order is random.
                let mut increment = self.float();
                if increment == b"1e400" {
                    increment = b"1e300x".to_vec();
                }
                (
                    exact,
                    words(&[b"HINCRBYFLOAT", &k, &self.field(), &increment]),
                )
            }
            14 => (exact, words(&[b"HSCAN", &r, b"0", b"COUNT", b"1000"])),
            15 => {
                let mut args = words(&[
                    b"HRANDFIELD",
                    &r,
                    &self.rng.range(-5, 5).to_string().into_bytes(),
                ]);
                if self.rng.chance(30) {
                    args.push(b"WITHVALUES".to_vec());
                }
                (Mode::Type, args)
            }
            16 => (exact, words(&[b"HRANDFIELD", &r, b"0"])),
            _ => (exact, words(&[b"HGETALL", &r])),
        }
    }

    fn set_command(&mut self) -> Cmd {
        let k = self.key("set");
        let r = self.rkey("set");
        let exact = Mode::Exact;
        let words = |items: &[&[u8]]| items.iter().map(|s| s.to_vec()).collect::<Vec<_>>();
        match self.rng.below(20) {
            0..=3 => {
                let mut args = words(&[b"SADD", &k]);
                args.extend(self.members(4));
                (exact, args)
            }
            4 | 5 => {
                let mut args = words(&[b"SREM", &r]);
                args.extend(self.members(3));
                (exact, args)
            }
            6 => (Mode::Sort, words(&[b"SMEMBERS", &r])),
            7 => (exact, words(&[b"SISMEMBER", &r, &self.member()])),
            8 => {
                let mut args = words(&[b"SMISMEMBER", &r]);
                args.extend(self.members(3));
                (exact, args)
            }
            9 => (exact, words(&[b"SCARD", &r])),
            10 => (
                exact,
                words(&[b"SMOVE", &r, &self.key("set"), &self.member()]),
            ),
            11 | 12 => {
                let cmd = self.one_of(&["SINTER", "SUNION", "SDIFF"]);
                let mut args = vec![cmd];
                args.extend(self.keys("set", 3));
                (Mode::Sort, args)
            }
            13 | 14 => {
                let cmd = self.one_of(&["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]);
                let mut args = vec![cmd, self.key("set")];
                args.extend(self.keys("set", 3));
                (exact, args)
            }
            15 => {
                let keys = self.keys("set", 3);
                let numkeys = if self.rng.chance(10) {
                    self.int()
                } else {
                    keys.len().to_string().into_bytes()
                };
                let mut args = vec![b"SINTERCARD".to_vec(), numkeys];
                args.extend(keys);
                if self.rng.chance(40) {
                    args.extend([b"LIMIT".to_vec(), self.small_int()]);
                }
                (exact, args)
            }
            16 => (Mode::Sort, words(&[b"SSCAN", &r, b"0", b"COUNT", b"1000"])),
            17 => (
                Mode::Type,
                words(&[
                    b"SRANDMEMBER",
                    &r,
                    &self.rng.range(-5, 5).to_string().into_bytes(),
                ]),
            ),
            18 => (Mode::Sort, words(&[b"SPOP", &r, b"1000"])),
            _ => (Mode::Sort, words(&[b"SMEMBERS", &r])),
        }
    }

    fn zset_command(&mut self) -> Cmd {
        let k = self.key("zset");
        let r = self.rkey("zset");
        let exact = Mode::Exact;
        let words = |items: &[&[u8]]| items.iter().map(|s| s.to_vec()).collect::<Vec<_>>();
        let withscores = |g: &mut Gen, args: &mut Vec<Vec<u8>>| {
            if g.rng.chance(40) {
                args.push(b"WITHSCORES".to_vec());
            }
        };
        let limit = |g: &mut Gen, args: &mut Vec<Vec<u8>>| {
            if g.rng.chance(30) {
                let (o, c) = (g.int(), g.int());
                args.extend([b"LIMIT".to_vec(), o, c]);
            }
        };
        match self.rng.below(30) {
            0..=4 => {
                let mut args = words(&[b"ZADD", &k]);
                for opt in ["NX", "XX", "GT", "LT", "CH", "INCR"] {
                    if self.rng.chance(8) {
                        args.push(opt.as_bytes().to_vec());
                    }
                }
                for _ in 0..1 + self.rng.below(3) {
                    let (s, m) = (self.float(), self.member());
                    args.extend([s, m]);
                }
                (exact, args)
            }
            5 => {
                let mut args = words(&[b"ZREM", &r]);
                args.extend(self.members(3));
                (exact, args)
            }
            6 => (exact, words(&[b"ZSCORE", &r, &self.member()])),
            7 => {
                let mut args = words(&[b"ZMSCORE", &r]);
                args.extend(self.members(3));
                (exact, args)
            }
            8 => (
                exact,
                words(&[b"ZINCRBY", &k, &self.float(), &self.member()]),
            ),
            9 => (exact, words(&[b"ZCARD", &r])),
            10 => (
                exact,
                words(&[b"ZCOUNT", &r, &self.score_bound(), &self.score_bound()]),
            ),
            11 => (
                exact,
                words(&[b"ZLEXCOUNT", &r, &self.lex_bound(), &self.lex_bound()]),
            ),
            12..=14 => {
                let mut args = words(&[b"ZRANGE", &r]);
                match self.rng.below(3) {
                    0 => {
                        args.extend([self.int(), self.int()]);
                    }
                    1 => {
                        args.extend([self.score_bound(), self.score_bound(), b"BYSCORE".to_vec()]);
                        limit(self, &mut args);
                    }
                    _ => {
                        args.extend([self.lex_bound(), self.lex_bound(), b"BYLEX".to_vec()]);
                        limit(self, &mut args);
                    }
                }
                if self.rng.chance(30) {
                    args.push(b"REV".to_vec());
                }
                withscores(self, &mut args);
                (exact, args)
            }
            15 => {
                let mut args = words(&[
                    b"ZRANGESTORE",
                    &self.key("zset"),
                    &r,
                    &self.int(),
                    &self.int(),
                ]);
                if self.rng.chance(30) {
                    args.push(b"REV".to_vec());
                }
                (exact, args)
            }
            16 => {
                let cmd = self.one_of(&["ZRANGEBYSCORE", "ZREVRANGEBYSCORE"]);
                let mut args = vec![cmd, r, self.score_bound(), self.score_bound()];
                withscores(self, &mut args);
                limit(self, &mut args);
                (exact, args)
            }
            17 => {
                let cmd = self.one_of(&["ZRANGEBYLEX", "ZREVRANGEBYLEX"]);
                let mut args = vec![cmd, r, self.lex_bound(), self.lex_bound()];
                limit(self, &mut args);
                (exact, args)
            }
            18 => {
                let mut args = words(&[b"ZREVRANGE", &r, &self.int(), &self.int()]);
                withscores(self, &mut args);
                (exact, args)
            }
            19 => {
                let cmd = self.one_of(&["ZRANK", "ZREVRANK"]);
                (exact, vec![cmd, r, self.member()])
            }
            20 => (
                exact,
                words(&[b"ZREMRANGEBYRANK", &r, &self.int(), &self.int()]),
            ),
            21 => (
                exact,
                words(&[
                    b"ZREMRANGEBYSCORE",
                    &r,
                    &self.score_bound(),
                    &self.score_bound(),
                ]),
            ),
            22 => (
                exact,
                words(&[b"ZREMRANGEBYLEX", &r, &self.lex_bound(), &self.lex_bound()]),
            ),
            23 => {
                let cmd = self.one_of(&["ZPOPMIN", "ZPOPMAX"]);
                let mut args = vec![cmd, r];
                if self.rng.chance(50) {
                    args.push(self.small_int());
                }
                (exact, args)
            }
            24 => {
                let keys = self.keys("zset", 3);
                let numkeys = if self.rng.chance(10) {
                    self.int()
                } else {
                    keys.len().to_string().into_bytes()
                };
                let mut args = vec![b"ZMPOP".to_vec(), numkeys];
                args.extend(keys);
                args.push(self.one_of(&["MIN", "MAX", "max", "MID"]));
                if self.rng.chance(50) {
                    args.extend([b"COUNT".to_vec(), self.small_int()]);
                }
                (exact, args)
            }
            25 | 26 => {
                let store = self.rng.chance(50);
                let op = *self.rng.pick(&["ZUNION", "ZINTER", "ZDIFF"]);
                let mut args = vec![];
                if store {
                    args.push(format!("{op}STORE").into_bytes());
                    args.push(self.key("zset"));
                } else {
                    args.push(op.as_bytes().to_vec());
                }
                let source = if self.rng.chance(20) { "set" } else { "zset" };
                let keys = self.keys(source, 3);
                let n = keys.len();
                args.push(if self.rng.chance(8) {
                    self.int()
                } else {
                    n.to_string().into_bytes()
                });
                args.extend(keys);
                if op != "ZDIFF" && self.rng.chance(30) {
                    args.push(b"WEIGHTS".to_vec());
                    for _ in 0..n {
                        args.push(self.float());
                    }
                }
                if op != "ZDIFF" && self.rng.chance(30) {
                    args.push(b"AGGREGATE".to_vec());
                    args.push(self.one_of(&["SUM", "MIN", "MAX", "AVG"]));
                }
                if !store {
                    withscores(self, &mut args);
                }
                (exact, args)
            }
            27 => {
                let keys = self.keys("zset", 3);
                let mut args = vec![b"ZINTERCARD".to_vec(), keys.len().to_string().into_bytes()];
                args.extend(keys);
                if self.rng.chance(40) {
                    args.extend([b"LIMIT".to_vec(), self.small_int()]);
                }
                (exact, args)
            }
            28 => {
                let mut args = words(&[
                    b"ZRANDMEMBER",
                    &r,
                    &self.rng.range(-5, 5).to_string().into_bytes(),
                ]);
                withscores(self, &mut args);
                (Mode::Type, args)
            }
            _ => (exact, words(&[b"ZSCAN", &r, b"0", b"COUNT", b"1000"])),
        }
    }

    fn key_command(&mut self) -> Cmd {
        let ty = *self.rng.pick(TYPES);
        let k = self.rkey(ty);
        let exact = Mode::Exact;
        let words = |items: &[&[u8]]| items.iter().map(|s| s.to_vec()).collect::<Vec<_>>();
        match self.rng.below(20) {
            0 => {
                let mut args = vec![self.one_of(&["DEL", "UNLINK"])];
                args.extend(self.keys(ty, 2));
                (exact, args)
            }
            1 => {
                let mut args = vec![self.one_of(&["EXISTS", "TOUCH"])];
                args.extend(self.keys(ty, 3));
                (exact, args)
            }
            2 | 3 => (exact, words(&[b"TYPE", &k])),
            4 => (
                exact,
                words(&[&self.one_of(&["RENAME", "RENAMENX"]), &k, &self.key(ty)]),
            ),
            5 => {
                let mut args = words(&[b"COPY", &k, &self.key(ty)]);
                if self.rng.chance(50) {
                    args.push(b"REPLACE".to_vec());
                }
                if self.rng.chance(10) {
                    args.extend([b"DB".to_vec(), self.one_of(&["0", "1", "16", "x"])]);
                }
                (exact, args)
            }
            6 | 7 => {
                let millis = self.rng.chance(50);
                let mut args = vec![
                    if millis {
                        b"PEXPIRE".to_vec()
                    } else {
                        b"EXPIRE".to_vec()
                    },
                    k,
                    self.ttl(millis),
                ];
                if self.rng.chance(40) {
                    args.push(self.one_of(&["NX", "XX", "GT", "LT", "ZZ"]));
                }
                (exact, args)
            }
            8 => (
                exact,
                words(&[b"EXPIREAT", &k, &self.one_of(&["1", "4102444800", "-1"])]),
            ),
            9 | 10 => (Mode::Ttl, words(&[&self.one_of(&["TTL", "PTTL"]), &k])),
            11 => (
                Mode::Ttl,
                words(&[&self.one_of(&["EXPIRETIME", "PEXPIRETIME"]), &k]),
            ),
            12 => (exact, words(&[b"PERSIST", &k])),
            13 | 14 => (exact, words(&[b"OBJECT", b"ENCODING", &k])),
            15 => (exact, words(&[b"DBSIZE"])),
            16 => (
                Mode::Sort,
                words(&[
                    b"KEYS",
                    [&b"*"[..], b"str:*", b"*[0-3]", b"?et:*", b"\xff*"][self.rng.below(5)],
                ]),
            ),
            17 => (
                Mode::Sort,
                words(&[b"SCAN", b"0", b"COUNT", b"1000", b"MATCH", b"*:?"]),
            ),
            18 => (exact, words(&[b"EXISTS", &k])),
            _ => (exact, words(&[b"OBJECT", b"REFCOUNT", &k])),
        }
    }
}

/// One argument in case-file syntax.
fn quote(arg: &[u8]) -> String {
    let plain = !arg.is_empty()
        && arg
            .iter()
            .all(|&b| b.is_ascii_graphic() && b != b'"' && b != b'\'' && b != b'\\');
    if plain {
        String::from_utf8_lossy(arg).into_owned()
    } else {
        format!("\"{}\"", escape(arg))
    }
}

fn command_text(mode: Mode, args: &[Vec<u8>]) -> String {
    let words: Vec<String> = args.iter().map(|a| quote(a)).collect();
    format!("{}{}", mode.label(), words.join(" "))
}

fn seeds() -> Vec<u64> {
    match std::env::var("TANDEM_DIFF_SEED") {
        Ok(list) if !list.trim().is_empty() => list
            .split(',')
            .map(|s| {
                s.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("TANDEM_DIFF_SEED: bad seed {s:?}"))
            })
            .collect(),
        _ => DEFAULT_SEEDS.to_vec(),
    }
}

#[test]
fn differential_random_commands() {
    let started = Instant::now();
    let seeds = seeds();
    report(&format!(
        "differential random: seeds {seeds:?} (set TANDEM_DIFF_SEED to choose)"
    ));
    let pair = Pair::start();
    let mut cmp = Comparer::new(&pair);
    let mut fatal = Vec::new();
    let dump_dir = std::env::var_os("TANDEM_DIFF_DUMP_DIR").map(PathBuf::from);
    for &seed in &seeds {
        let mut generator = Gen { rng: Rng(seed) };
        let commands: Vec<Cmd> = (0..RANDOM_COMMANDS).map(|_| generator.command()).collect();
        if let Some(dir) = &dump_dir {
            let mut text = format!("# generated by differential_random_commands, seed {seed}\n");
            for (mode, args) in &commands {
                text.push_str(&command_text(*mode, args));
                text.push('\n');
            }
            let path = dir.join(format!("random-{seed}.txt"));
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        }
        let label = format!("seed {seed}");
        if let Err(e) = cmp.reset(&label) {
            fatal.push(e);
            continue;
        }
        let before = cmp.mismatches.len();
        for (index, (mode, args)) in commands.iter().enumerate() {
            if started.elapsed() > TEST_BUDGET {
                fatal.push(format!("{label}: stopped at #{index}, time budget used up"));
                break;
            }
            let location = format!("{label} #{}", index + 1);
            let text = command_text(*mode, args);
            if let Err(e) = cmp.compare(&location, &text, "", *mode, args) {
                fatal.push(format!("{e} (rest of {label} skipped)"));
                break;
            }
            if cmp.mismatches.len() - before >= RANDOM_MISMATCH_CAP {
                fatal.push(format!(
                    "{label}: stopped at #{} after {RANDOM_MISMATCH_CAP} mismatches",
                    index + 1
                ));
                break;
            }
        }
    }
    let summary = format!(
        "differential random: {} seeds, {} commands compared, {} mismatches (redis vs {})",
        seeds.len(),
        cmp.compared,
        cmp.mismatches.len(),
        pair.subject_name()
    );
    finish(
        "differential_random_commands",
        &summary,
        &cmp.mismatches,
        &fatal,
    );
}

#[test]
fn comparison_modes() {
    assert!(replies_match(
        Mode::Sort,
        b"*2\r\n$1\r\na\r\n$1\r\nb\r\n",
        b"*2\r\n$1\r\nb\r\n$1\r\na\r\n"
    ));
    assert!(!replies_match(
        Mode::Sort,
        b"*2\r\n$1\r\na\r\n$1\r\nb\r\n",
        b"*2\r\n$1\r\nb\r\n$1\r\nb\r\n"
    ));
    assert!(replies_match(
        Mode::SortPairs,
        b"*4\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n:2\r\n",
        b"*4\r\n$1\r\nb\r\n:2\r\n$1\r\na\r\n:1\r\n"
    ));
    assert!(!replies_match(
        Mode::SortPairs,
        b"*4\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n:2\r\n",
        b"*4\r\n$1\r\nb\r\n:1\r\n$1\r\na\r\n:2\r\n"
    ));
    assert!(replies_match(
        Mode::Type,
        b"*2\r\n:1\r\n:2\r\n",
        b"*2\r\n:3\r\n:4\r\n"
    ));
    assert!(!replies_match(
        Mode::Type,
        b"*2\r\n:1\r\n:2\r\n",
        b"*1\r\n:3\r\n"
    ));
    assert!(replies_match(Mode::Ttl, b":1000\r\n", b":999\r\n"));
    assert!(!replies_match(Mode::Ttl, b":-1\r\n", b":-2\r\n"));
    assert!(replies_match(Mode::Ok, b"-ERR a\r\n", b"-WRONGTYPE b\r\n"));
    assert!(!replies_match(Mode::Ok, b"+OK\r\n", b"-ERR b\r\n"));
    let steps = split_args(r#"SET "a\x00" 'b c'"#).unwrap();
    assert_eq!(quote(&steps[1]), "\"a\\x00\"");
    assert_eq!(
        split_args(&command_text(Mode::Exact, &steps)).unwrap(),
        steps
    );
}
