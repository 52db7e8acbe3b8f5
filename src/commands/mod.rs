//! Commands: the registry (one table built from each family's `COMMANDS`), the context a
//! handler runs in, and one file per family, as redis's `t_*.c`.
//!
//! Handlers parse their arguments, act on `cx.db` and return a `Reply`; they never touch the
//! socket. A handler that changed the dataset records what to propagate with `cx.propagate()`
//! (the client's argv) or `cx.propagate_as(..)` (a deterministic rewrite); the dispatcher turns
//! those effects into replication, WATCH invalidation and change counting.

pub mod access;
pub mod admin;
pub mod args;
pub mod bits;
pub mod blocking;
pub mod cluster;
pub mod debug;
pub mod debug_tools;
pub mod dump;
pub mod errors;
pub mod float;
pub mod functions;
pub mod geo;
pub mod hashes;
pub mod hll;
pub mod info;
pub mod keys;
pub mod lists;
pub mod lolwut;
pub mod longdouble;
pub mod migrate;
pub mod module;
pub mod persist;
pub mod pubsub;
pub mod replication;
pub mod scripting;
pub mod server_cmds;
pub mod sets;
pub mod spec;
pub mod streams;
pub mod strings;
pub mod tx;
pub mod zsets;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;

use bytes::Bytes;

pub use args::Args;
pub use errors::CmdError;
pub use spec::{Group, Spec};

use crate::keyspace::Db;
use crate::server::client::Client;
use crate::server::Server;

/// What a handler works with.
pub struct Ctx<'a, 'k> {
    pub argv: &'a [Bytes],
    pub db: &'a mut Db<'k>,
    pub client: &'a mut Client,
    pub server: &'k Server,
}

impl Ctx<'_, '_> {
    /// Propagates the command as the client sent it.
    pub fn propagate(&mut self) {
        self.db.propagate(self.argv.to_vec());
    }

    /// Propagates a rewritten form (deterministic: absolute times, chosen members...).
    pub fn propagate_as(&mut self, argv: Vec<Bytes>) {
        self.db.propagate(argv);
    }

    /// Argument `i` (0 = command name). Arity was checked by the dispatcher.
    pub fn arg(&self, i: usize) -> &Bytes {
        &self.argv[i]
    }

    pub fn args(&self) -> Args<'_> {
        Args::new(self.argv)
    }
}

/// The rare counters of one command for INFO commandstats.
#[derive(Default)]
pub struct CmdCounters {
    pub rejected: AtomicU64,
    pub failed: AtomicU64,
}

/// Calls and time of one command, in one stripe (see `util::Striped`).
#[derive(Default)]
struct CallCounters {
    calls: AtomicU64,
    usec: AtomicU64,
}

pub struct Registry {
    /// Every command and subcommand; index = id for counters.
    pub all: Vec<&'static Spec>,
    pub counters: Vec<CmdCounters>,
    /// `[stripe][id]`: each thread counts calls in its own stripe.
    calls: Box<[Box<[CallCounters]>]>,
    /// Latency histograms by command id (`latency-tracking`).
    pub latency: crate::server::histogram::Histograms,
    by_name: HashMap<&'static [u8], usize, foldhash::fast::FixedState>,
}

impl Registry {
    fn build() -> Registry {
        let families: &[&'static [Spec]] = &[
            strings::COMMANDS,
            bits::COMMANDS,
            keys::COMMANDS,
            lists::COMMANDS,
            hashes::COMMANDS,
            sets::COMMANDS,
            zsets::COMMANDS,
            hll::COMMANDS,
            geo::COMMANDS,
            streams::COMMANDS,
            tx::COMMANDS,
            replication::COMMANDS,
            info::COMMANDS,
            debug::COMMANDS,
            persist::COMMANDS,
            blocking::COMMANDS,
            dump::COMMANDS,
            migrate::COMMANDS,
            module::COMMANDS,
            server_cmds::COMMANDS,
            pubsub::COMMANDS,
            lolwut::COMMANDS,
            admin::COMMANDS,
            scripting::COMMANDS,
            functions::COMMANDS,
            cluster::COMMANDS,
        ];
        let mut all = Vec::new();
        let mut by_name = HashMap::with_hasher(foldhash::fast::FixedState::default());
        // A sentinel keeps only its own table (redis: the commands flagged SENTINEL).
        let sentinel = crate::sentinel::mode();
        let top: Vec<&'static Spec> = if sentinel {
            crate::sentinel::commands::table(families)
        } else {
            families.iter().flat_map(|f| f.iter()).collect()
        };
        for spec in top {
            by_name.insert(spec.name.as_bytes(), all.len());
            all.push(spec);
            for sub in spec.subcommands {
                if sentinel && !crate::sentinel::commands::sub_allowed(sub.name) {
                    continue;
                }
                by_name.insert(sub.name.as_bytes(), all.len());
                all.push(sub);
            }
        }
        let counters = all.iter().map(|_| CmdCounters::default()).collect();
        let calls = (0..crate::util::STRIPES)
            .map(|_| all.iter().map(|_| CallCounters::default()).collect())
            .collect();
        Registry {
            latency: crate::server::histogram::Histograms::new(all.len()),
            all,
            counters,
            calls,
            by_name,
        }
    }

    /// Finds a top-level command by name (any case). A `container|sub` name is no command
    /// name: redis looks only at top-level commands here.
    pub fn lookup(&self, name: &[u8]) -> Option<(usize, &'static Spec)> {
        let mut buf = [0u8; 64];
        if name.len() > buf.len() || name.contains(&b'|') {
            return None;
        }
        let lower = &mut buf[..name.len()];
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        self.by_name.get(&*lower).map(|&i| (i, self.all[i]))
    }

    /// Finds `container|sub`.
    pub fn lookup_sub(&self, container: &Spec, sub: &[u8]) -> Option<(usize, &'static Spec)> {
        let mut full = String::with_capacity(container.name.len() + 1 + sub.len());
        full.push_str(container.name);
        full.push('|');
        full.push_str(&String::from_utf8_lossy(sub).to_ascii_lowercase());
        self.by_name.get(full.as_bytes()).map(|&i| (i, self.all[i]))
    }

    pub fn id_of(&self, name: &str) -> Option<usize> {
        self.by_name.get(name.as_bytes()).copied()
    }

    pub fn count(&self, id: usize, usec: u64, failed: bool) {
        let c = &self.calls[crate::util::stripe()][id];
        c.calls.fetch_add(1, Ordering::Relaxed);
        c.usec.fetch_add(usec, Ordering::Relaxed);
        if failed {
            self.counters[id].failed.fetch_add(1, Ordering::Relaxed);
        }
        self.latency.record(id, usec);
    }

    /// (calls, usec) of a command, summed over the stripes.
    pub fn calls_of(&self, id: usize) -> (u64, u64) {
        self.calls.iter().fold((0, 0), |(n, t), stripe| {
            (
                n + stripe[id].calls.load(Ordering::Relaxed),
                t + stripe[id].usec.load(Ordering::Relaxed),
            )
        })
    }

    pub fn reject(&self, id: usize) {
        self.counters[id].rejected.fetch_add(1, Ordering::Relaxed);
    }

    pub fn reset_counters(&self) {
        self.latency.reset();
        for c in &self.counters {
            c.rejected.store(0, Ordering::Relaxed);
            c.failed.store(0, Ordering::Relaxed);
        }
        for stripe in self.calls.iter() {
            for c in stripe.iter() {
                c.calls.store(0, Ordering::Relaxed);
                c.usec.store(0, Ordering::Relaxed);
            }
        }
    }
}

pub static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::build);
