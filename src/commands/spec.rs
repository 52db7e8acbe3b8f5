//! Command specs: name, arity, flags, key positions and handler, in one table entry per command
//! (redis's `redisCommandTable`). The table drives dispatch, COMMAND and COMPATIBILITY.md.

use bytes::Bytes;

use super::{CmdError, Ctx};
use crate::protocol::Reply;

pub type Handler = fn(&mut Ctx<'_, '_>) -> Result<Reply, CmdError>;

/// Returns the argv positions of a command's keys when they cannot be described by
/// first/last/step (ZUNIONSTORE's numkeys, SORT ... STORE, LMPOP ...).
pub type KeysFn = fn(&[Bytes]) -> Vec<usize>;

// Flags, named as redis's command flags.
pub const WRITE: u32 = 1 << 0;
pub const READONLY: u32 = 1 << 1;
pub const DENYOOM: u32 = 1 << 2;
pub const ADMIN: u32 = 1 << 3;
pub const PUBSUB: u32 = 1 << 4;
pub const NOSCRIPT: u32 = 1 << 5;
pub const BLOCKING: u32 = 1 << 6;
pub const LOADING: u32 = 1 << 7;
pub const STALE: u32 = 1 << 8;
pub const SKIP_MONITOR: u32 = 1 << 9;
pub const SKIP_SLOWLOG: u32 = 1 << 10;
pub const FAST: u32 = 1 << 11;
pub const NO_AUTH: u32 = 1 << 12;
pub const MAY_REPLICATE: u32 = 1 << 13;
pub const NO_MULTI: u32 = 1 << 14;
pub const ALLOW_BUSY: u32 = 1 << 15;
/// Tandem-specific: the command needs every shard locked (KEYS, FLUSHDB, EXEC of such ...).
pub const ALL_KEYS: u32 = 1 << 16;
/// Refused while a replica loads its master's snapshot beside the live dataset
/// (`repl-diskless-load swapdb`): redis's `no_async_loading`, which COMMAND shows from the table.
pub const NO_ASYNC_LOADING: u32 = 1 << 17;
/// The command may delete keys it did not name (lazy expiry while sampling): their DELs are
/// propagated one by one, never wrapped in MULTI/EXEC (redis `CMD_TOUCHES_ARBITRARY_KEYS`,
/// which COMMAND does not show either).
pub const TOUCHES_ARBITRARY_KEYS: u32 = 1 << 18;

/// Flag names in COMMAND's reply, in redis's order.
pub const FLAG_NAMES: &[(u32, &str)] = &[
    (WRITE, "write"),
    (READONLY, "readonly"),
    (DENYOOM, "denyoom"),
    (ADMIN, "admin"),
    (PUBSUB, "pubsub"),
    (NOSCRIPT, "noscript"),
    (BLOCKING, "blocking"),
    (LOADING, "loading"),
    (STALE, "stale"),
    (SKIP_MONITOR, "skip_monitor"),
    (SKIP_SLOWLOG, "skip_slowlog"),
    (FAST, "fast"),
    (NO_AUTH, "no_auth"),
    (MAY_REPLICATE, "may_replicate"),
    (NO_MULTI, "no_multi"),
    (ALLOW_BUSY, "allow_busy"),
];

/// Command groups, as COMMAND DOCS names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Generic,
    String,
    List,
    Set,
    SortedSet,
    Hash,
    Pubsub,
    Transactions,
    Connection,
    Server,
    Scripting,
    Hyperloglog,
    Cluster,
    Geo,
    Stream,
    Bitmap,
    Sentinel,
}

impl Group {
    pub fn name(self) -> &'static str {
        match self {
            Group::Generic => "generic",
            Group::String => "string",
            Group::List => "list",
            Group::Set => "set",
            Group::SortedSet => "sorted-set",
            Group::Hash => "hash",
            Group::Pubsub => "pubsub",
            Group::Transactions => "transactions",
            Group::Connection => "connection",
            Group::Server => "server",
            Group::Scripting => "scripting",
            Group::Hyperloglog => "hyperloglog",
            Group::Cluster => "cluster",
            Group::Geo => "geo",
            Group::Stream => "stream",
            Group::Bitmap => "bitmap",
            Group::Sentinel => "sentinel",
        }
    }
}

/// The argv positions of a command's keys: inline for the usual few keys (no allocation on
/// the command path).
pub type KeyPositions = smallvec::SmallVec<[usize; 4]>;

pub struct Spec {
    /// Lowercase name; subcommands are `container|sub`.
    pub name: &'static str,
    /// Argument count including the name; negative means "at least".
    pub arity: i32,
    pub flags: u32,
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    pub keys_fn: Option<KeysFn>,
    pub group: Group,
    pub handler: Handler,
    pub subcommands: &'static [Spec],
}

impl Spec {
    pub const fn new(
        name: &'static str,
        arity: i32,
        flags: u32,
        group: Group,
        handler: Handler,
    ) -> Spec {
        Spec {
            name,
            arity,
            flags,
            first_key: 0,
            last_key: 0,
            step: 0,
            keys_fn: None,
            group,
            handler,
            subcommands: &[],
        }
    }

    /// Keys at first..=last by step (last negative counts from the end, -1 = last argument).
    pub const fn keys(mut self, first: i32, last: i32, step: i32) -> Spec {
        self.first_key = first;
        self.last_key = last;
        self.step = step;
        self
    }

    /// Keys found by a function (movable keys).
    pub const fn keys_with(mut self, first: i32, last: i32, step: i32, f: KeysFn) -> Spec {
        self.first_key = first;
        self.last_key = last;
        self.step = step;
        self.keys_fn = Some(f);
        self
    }

    pub const fn subs(mut self, subs: &'static [Spec]) -> Spec {
        self.subcommands = subs;
        self
    }

    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i32;
        if self.arity >= 0 {
            argc == self.arity
        } else {
            argc >= -self.arity
        }
    }

    /// The argv positions of this command's keys.
    pub fn key_positions(&self, argv: &[Bytes]) -> KeyPositions {
        if let Some(f) = self.keys_fn {
            return f(argv).into_iter().filter(|&p| p < argv.len()).collect();
        }
        if self.first_key <= 0 {
            return KeyPositions::new();
        }
        let argc = argv.len() as i32;
        let last = if self.last_key < 0 {
            argc + self.last_key
        } else {
            self.last_key
        };
        let step = self.step.max(1);
        let mut out = KeyPositions::new();
        let mut i = self.first_key;
        while i <= last && i < argc {
            out.push(i as usize);
            i += step;
        }
        out
    }
}
