//! Interactive mode (redis-cli's `repl`): one command per line, from the line editor when
//! stdin is a terminal, or read plainly from stdin otherwise (`echo ping | tandem-cli`).
//!
//! On a terminal: history in `~/.tandemcli_history` (`TANDEMCLI_HISTFILE`; `/dev/null` turns
//! it off), preferences from `~/.tandemclirc` (`TANDEMCLI_RCFILE`), tab completion of command
//! names and grey argument hints. `N command` repeats a command N times; `quit`/`exit` leave,
//! `clear` clears the screen, `connect host port` switches servers, `:set [no]hints`.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::history::{DefaultHistory, History};
use rustyline::validate::Validator;
use rustyline::{CompletionType, Config, Context, Editor, Helper};

use super::client::Client;
use super::conn::Endpoint;
use super::format::OutputMode;
use super::hints::{self, HelpTable};
use super::split::split_args;
use super::{args, emit, signals};

const HISTFILE_ENV: &str = "TANDEMCLI_HISTFILE";
const HISTFILE_DEFAULT: &str = ".tandemcli_history";
const RCFILE_ENV: &str = "TANDEMCLI_RCFILE";
const RCFILE_DEFAULT: &str = ".tandemclirc";

/// Completion and hints for the line editor, reading the session's help table.
struct CliHelper {
    help: Rc<RefCell<Option<HelpTable>>>,
    hints: Rc<Cell<bool>>,
}

impl Completer for CliHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let table = self.help.borrow();
        let found = table
            .as_ref()
            .map(|t| t.completions(&line[..pos]))
            .unwrap_or_default();
        Ok((0, found))
    }
}

impl Hinter for CliHelper {
    type Hint = String;

    fn hint(&self, line: &str, pos: usize, _: &Context<'_>) -> Option<String> {
        if !self.hints.get() || pos < line.len() {
            return None;
        }
        self.help.borrow().as_ref().and_then(|t| t.hint(line))
    }
}

impl Highlighter for CliHelper {
    /// linenoise's hint colour: dark grey (90), not bold.
    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        Cow::Owned(format!("\x1b[0;90;49m{hint}\x1b[0m"))
    }
}

impl Validator for CliHelper {}
impl Helper for CliHelper {}

/// Masks typed characters with `*` (`--askpass`).
struct MaskHelper;

impl Completer for MaskHelper {
    type Candidate = String;
}
impl Hinter for MaskHelper {
    type Hint = String;
}
impl Highlighter for MaskHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        Cow::Owned("*".repeat(line.chars().count()))
    }

    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        true
    }
}
impl Validator for MaskHelper {}
impl Helper for MaskHelper {}

/// Reads a password, echoing `*` on a terminal (`askPassword`); a plain line otherwise.
pub fn ask_password(prompt: &str) -> Option<Vec<u8>> {
    if !std::io::stdin().is_terminal() {
        return read_plain_line(&mut std::io::stdin().lock());
    }
    let mut rl: Editor<MaskHelper, DefaultHistory> = Editor::new().ok()?;
    rl.set_helper(Some(MaskHelper));
    rl.readline(prompt).ok().map(String::into_bytes)
}

/// One line without its `\n`; `None` at the end of input (linenoise's no-tty reader).
fn read_plain_line(input: &mut dyn BufRead) -> Option<Vec<u8>> {
    let mut line = Vec::new();
    match input.read_until(b'\n', &mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => {
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            Some(line)
        }
    }
}

/// `$ENV` if set (None for `/dev/null`), else `$HOME/name` (`getDotfilePath`).
fn dotfile(env: &str, name: &str) -> Option<PathBuf> {
    match std::env::var_os(env) {
        Some(path) if !path.is_empty() => (path != "/dev/null").then(|| PathBuf::from(path)),
        _ => std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| PathBuf::from(h).join(name)),
    }
}

/// Commands kept out of the history because they carry secrets (`isSensitiveCommand`).
fn is_sensitive(argv: &[Vec<u8>]) -> bool {
    let is = |i: usize, name: &str| {
        argv.get(i)
            .is_some_and(|a| a.eq_ignore_ascii_case(name.as_bytes()))
    };
    let argc = argv.len();
    if is(0, "auth") {
        return true;
    }
    if argc > 1 && is(0, "acl") && is(1, "setuser") {
        return true;
    }
    if argc > 2
        && is(0, "config")
        && is(1, "set")
        && (is(2, "masterauth") || is(2, "masteruser") || is(2, "requirepass"))
    {
        return true;
    }
    if argc > 4 && is(0, "hello") {
        let mut j = 2;
        while j < argc {
            let more = argc - 1 - j;
            if is(j, "auth") && more >= 2 {
                return true;
            } else if is(j, "setname") && more > 0 {
                j += 1;
            } else {
                return false;
            }
            j += 1;
        }
        return false;
    }
    if argc > 7 && is(0, "migrate") {
        for j in 6..argc {
            let more = argc - 1 - j;
            if (is(j, "auth") && more > 0) || (is(j, "auth2") && more >= 2) {
                return true;
            }
            if is(j, "keys") && more > 0 {
                return false;
            }
        }
    }
    false
}

/// `strtol` over the whole word: `Some(value)` when `word` is a number and nothing else,
/// with `None` inside for values that overflow.
fn whole_number(word: &[u8]) -> Option<Option<i64>> {
    let s = std::str::from_utf8(word).ok()?;
    let t = s.trim_start();
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if digits.is_empty() {
        // strtol read nothing: the end pointer is the start, which is the end only for "".
        return s.is_empty().then_some(Some(0));
    }
    Some(t.parse::<i64>().ok())
}

/// Longest history kept (linenoise's default).
const HISTORY_MAX: usize = 100;

/// The history file, in linenoise's format: one command per line, oldest first.
struct HistoryFile {
    path: Option<PathBuf>,
    entries: Vec<String>,
}

impl HistoryFile {
    fn load(path: Option<PathBuf>) -> HistoryFile {
        let text = path
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .unwrap_or_default();
        let mut entries: Vec<String> = text
            .split(|&b| b == b'\n')
            .map(|l| {
                String::from_utf8_lossy(l)
                    .trim_end_matches('\r')
                    .to_string()
            })
            .filter(|l| !l.is_empty())
            .collect();
        let excess = entries.len().saturating_sub(HISTORY_MAX);
        entries.drain(..excess);
        HistoryFile { path, entries }
    }

    /// Records a line (not twice in a row) and rewrites the file.
    fn add(&mut self, line: &str) {
        if self.entries.last().is_some_and(|l| l == line) {
            return;
        }
        self.entries.push(line.to_string());
        if self.entries.len() > HISTORY_MAX {
            self.entries.remove(0);
        }
        if let Some(path) = &self.path {
            let mut text = self.entries.join("\n");
            text.push('\n');
            let _ = std::fs::write(path, text);
        }
    }
}

/// What the loop does after a line.
enum Next {
    Continue,
    ClearScreen,
}

/// The interactive session's preferences.
struct Repl {
    hints: Rc<Cell<bool>>,
}

impl Repl {
    /// Applies `:set ...` (`cliSetPreferences`).
    fn set_preference(&self, argv: &[Vec<u8>], interactive: bool) {
        let origin = if interactive { "" } else { ".tandemclirc: " };
        // The sentences are redis-cli's, word for word.
        let word = |i: usize| String::from_utf8_lossy(&argv[i]).into_owned();
        if argv[0].eq_ignore_ascii_case(b":set") && argv.len() >= 2 {
            if argv[1].eq_ignore_ascii_case(b"hints") {
                self.hints.set(true);
            } else if argv[1].eq_ignore_ascii_case(b"nohints") {
                self.hints.set(false);
            } else {
                emit(format!("{origin}unknown redis-cli preference '{}'\n", word(1)).as_bytes());
            }
        } else {
            emit(format!("{origin}unknown redis-cli internal command '{}'\n", word(0)).as_bytes());
        }
    }

    fn load_preferences(&self) {
        let Some(path) = dotfile(RCFILE_ENV, RCFILE_DEFAULT) else {
            return;
        };
        let Ok(text) = std::fs::read(path) else {
            return;
        };
        for line in text.split(|&b| b == b'\n') {
            if let Some(argv) = split_args(line) {
                if !argv.is_empty() {
                    self.set_preference(&argv, false);
                }
            }
        }
    }

    /// Runs one typed line; `history` receives the line unless it holds a secret.
    fn run_line(&self, client: &mut Client, line: &[u8], history: &mut dyn FnMut(&[u8])) -> Next {
        if line.is_empty() {
            return Next::Continue;
        }
        let Some(argv) = split_args(line) else {
            emit(b"Invalid argument(s)\n");
            history(line);
            return Next::Continue;
        };
        if argv.is_empty() {
            return Next::Continue;
        }
        let (repeat, skip) = match whole_number(&argv[0]) {
            Some(n) if argv.len() > 1 => match n {
                Some(n) if n > 0 => (n, 1),
                _ => {
                    emit(b"Invalid redis-cli repeat command option value.\n");
                    return Next::Continue;
                }
            },
            _ => (1, 0),
        };
        if !is_sensitive(&argv[skip..]) {
            history(line);
        }
        let first = &argv[0];
        if first.eq_ignore_ascii_case(b"quit") || first.eq_ignore_ascii_case(b"exit") {
            std::process::exit(0);
        } else if first.first() == Some(&b':') {
            self.set_preference(&argv, true);
        } else if first.eq_ignore_ascii_case(b"restart") {
            emit(b"Use 'restart' only in Lua debugging mode.\n");
        } else if argv.len() == 3 && first.eq_ignore_ascii_case(b"connect") {
            let host = String::from_utf8_lossy(&argv[1]).into_owned();
            let port = args::atoi(&String::from_utf8_lossy(&argv[2]));
            client.endpoint = Endpoint::Tcp {
                host,
                port: u16::try_from(port).unwrap_or(port as u16),
            };
            client.connect(true, false);
        } else if argv.len() == 1 && first.eq_ignore_ascii_case(b"clear") {
            return Next::ClearScreen;
        } else {
            let start = Instant::now();
            let _ = client.issue_command_repeat(&argv[skip..], repeat);
            let elapsed = start.elapsed();
            if elapsed.as_millis() >= 500 && client.style.mode == OutputMode::Standard {
                emit(format!("({:.2}s)\n", elapsed.as_secs_f64()).as_bytes());
            }
        }
        Next::Continue
    }
}

/// Runs the interactive mode until EOF, Ctrl-C at the prompt, or `quit`; returns the exit code.
pub fn run(client: &mut Client) -> i32 {
    client.interactive = true;
    let repl = Repl {
        hints: Rc::new(Cell::new(true)),
    };
    signals::install_interactive();
    if !std::io::stdin().is_terminal() {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        while let Some(line) = read_plain_line(&mut input) {
            if let Next::ClearScreen = repl.run_line(client, &line, &mut |_| {}) {
                // linenoise clears the screen with these bytes even without a terminal.
                emit(b"\x1b[H\x1b[2J");
            }
        }
        return 0;
    }
    run_terminal(client, repl)
}

fn run_terminal(client: &mut Client, repl: Repl) -> i32 {
    let table = hints::load_table(client);
    *client.help.borrow_mut() = Some(table);
    let config = Config::builder()
        .completion_type(CompletionType::Circular)
        .auto_add_history(false)
        .max_history_size(100)
        .map(|b| b.build())
        .unwrap_or_default();
    let mut rl: Editor<CliHelper, DefaultHistory> = match Editor::with_config(config) {
        Ok(rl) => rl,
        Err(e) => {
            eprintln!("Cannot start the line editor: {e}");
            return 1;
        }
    };
    rl.set_helper(Some(CliHelper {
        help: Rc::clone(&client.help),
        hints: Rc::clone(&repl.hints),
    }));
    let mut history = HistoryFile::load(dotfile(HISTFILE_ENV, HISTFILE_DEFAULT));
    for line in &history.entries {
        let _ = rl.history_mut().add(line);
    }
    repl.load_preferences();
    // The line editor installed its own SIGINT handler when it was created (it keeps it
    // until dropped, and only uses it while reading a line): ours must win between lines.
    signals::install_interactive();
    loop {
        let prompt = if client.conn.is_some() {
            client.prompt()
        } else {
            "not connected> ".to_string()
        };
        let line = match rl.readline(&prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted | ReadlineError::Eof) => return 0,
            Err(e) => {
                eprintln!("{e}");
                return 1;
            }
        };
        // Saved as soon as it is accepted: `quit` exits from inside run_line.
        let next = repl.run_line(client, line.as_bytes(), &mut |l| {
            let l = String::from_utf8_lossy(l);
            let _ = rl.history_mut().add(&l);
            history.add(&l);
        });
        if let Next::ClearScreen = next {
            let _ = rl.clear_screen();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<Vec<u8>> {
        words.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    #[test]
    fn sensitive_commands() {
        assert!(is_sensitive(&argv(&["AUTH", "pw"])));
        assert!(is_sensitive(&argv(&["acl", "setuser", "u", ">pw"])));
        assert!(is_sensitive(&argv(&["config", "set", "requirepass", "x"])));
        assert!(is_sensitive(&argv(&["hello", "3", "auth", "u", "p"])));
        assert!(is_sensitive(&argv(&[
            "hello", "3", "setname", "n", "auth", "u", "p"
        ])));
        assert!(!is_sensitive(&argv(&["hello", "3", "setname", "n"])));
        assert!(is_sensitive(&argv(&[
            "migrate", "h", "1", "", "0", "10", "auth", "pw", "keys", "a"
        ])));
        assert!(!is_sensitive(&argv(&["get", "auth"])));
    }

    #[test]
    fn repeat_prefix() {
        assert_eq!(whole_number(b"3"), Some(Some(3)));
        assert_eq!(whole_number(b"-2"), Some(Some(-2)));
        assert_eq!(whole_number(b"3x"), None);
        assert_eq!(whole_number(b""), Some(Some(0)));
        assert_eq!(whole_number(b"99999999999999999999"), Some(None));
    }
}
