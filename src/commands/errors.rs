//! What a client sees when a command fails: `CmdError`'s text is the exact Redis error line
//! (without the leading `-`). Fixed texts live here, as redis's `shared.*err` objects.

use std::borrow::Cow;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdError(pub Cow<'static, str>);

impl fmt::Display for CmdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CmdError {}

impl CmdError {
    pub const fn fixed(s: &'static str) -> CmdError {
        CmdError(Cow::Borrowed(s))
    }

    pub fn new(s: impl Into<Cow<'static, str>>) -> CmdError {
        CmdError(s.into())
    }

    /// `ERR <text>`.
    pub fn err(text: impl fmt::Display) -> CmdError {
        CmdError(Cow::Owned(format!("ERR {text}")))
    }

    pub fn wrong_arity(name: &str) -> CmdError {
        CmdError::err(format_args!(
            "wrong number of arguments for '{name}' command"
        ))
    }

    pub fn unknown_subcommand(sub: &[u8], container: &str) -> CmdError {
        CmdError::err(format_args!(
            "unknown subcommand '{}'. Try {} HELP.",
            String::from_utf8_lossy(sub),
            container.to_ascii_uppercase()
        ))
    }

    /// The 7.0 text for an unknown command: the name, then up to the first 128 bytes' worth of
    /// arguments, each quoted and followed by a space.
    pub fn unknown_command(argv: &[bytes::Bytes]) -> CmdError {
        let name = argv
            .first()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        let mut args = String::new();
        for a in argv.iter().skip(1) {
            if args.len() >= 128 {
                break;
            }
            let remaining = 128 - args.len();
            let text = String::from_utf8_lossy(a);
            let text: String = text.chars().take(remaining).collect();
            args.push('\'');
            args.push_str(&text);
            args.push_str("' ");
        }
        CmdError::err(format_args!(
            "unknown command '{}', with args beginning with: {}",
            truncate_chars(&name, 128),
            args
        ))
    }
}

fn truncate_chars(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

pub const WRONGTYPE: CmdError =
    CmdError::fixed("WRONGTYPE Operation against a key holding the wrong kind of value");
pub const NOT_INTEGER: CmdError = CmdError::fixed("ERR value is not an integer or out of range");
pub const NOT_FLOAT: CmdError = CmdError::fixed("ERR value is not a valid float");
pub const SYNTAX: CmdError = CmdError::fixed("ERR syntax error");
pub const NO_SUCH_KEY: CmdError = CmdError::fixed("ERR no such key");
pub const OUT_OF_RANGE: CmdError = CmdError::fixed("ERR index out of range");
pub const OVERFLOW: CmdError = CmdError::fixed("ERR increment or decrement would overflow");
pub const DB_INDEX: CmdError = CmdError::fixed("ERR DB index is out of range");
pub const NOAUTH: CmdError = CmdError::fixed("NOAUTH Authentication required.");
pub const EXECABORT: CmdError =
    CmdError::fixed("EXECABORT Transaction discarded because of previous errors.");
pub const READONLY: CmdError =
    CmdError::fixed("READONLY You can't write against a read only replica.");
pub const OOM: CmdError =
    CmdError::fixed("OOM command not allowed when used memory > 'maxmemory'.");
pub const LOADING: CmdError = CmdError::fixed("LOADING Redis is loading the dataset in memory");
pub const MASTERDOWN: CmdError = CmdError::fixed(
    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
);
pub const NOREPLICAS: CmdError = CmdError::fixed("NOREPLICAS Not enough good replicas to write.");
pub const TIMEOUT_NOT_INTEGER: CmdError =
    CmdError::fixed("ERR timeout is not an integer or out of range");
pub const TIMEOUT_NEGATIVE: CmdError = CmdError::fixed("ERR timeout is negative");
pub const BIT_OFFSET: CmdError =
    CmdError::fixed("ERR bit offset is not an integer or out of range");
pub const STRING_TOO_LONG: CmdError =
    CmdError::fixed("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
pub const SAME_OBJECT: CmdError =
    CmdError::fixed("ERR source and destination objects are the same");
pub const NEGATIVE_COUNT: CmdError = CmdError::fixed("ERR value is out of range, must be positive");
