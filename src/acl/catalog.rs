//! The commands ACL rules talk about: every command and subcommand of Redis 7.0.15's table
//! (`commands/admin/commands.txt`) plus any Tandem command it lacks, each with an ACL id (its
//! bit in a selector's bitmap), its categories, its parent and its subcommands. Rules are
//! resolved against this table, not against renamed commands (redis `server.orig_commands`).

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::commands::admin::table::{self, text};
use crate::commands::spec::{self, Spec};
use crate::commands::REGISTRY;
use crate::protocol::Reply;

/// Redis's ACL categories, in its order (ACL CAT, COMMAND INFO).
pub const CATEGORIES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// The bit of a category name (case-insensitive), or None.
pub fn category(name: &[u8]) -> Option<u32> {
    CATEGORIES
        .iter()
        .position(|c| c.as_bytes().eq_ignore_ascii_case(name))
        .map(|i| 1 << i)
}

pub struct Cmd {
    /// Full lowercase name (`config|get`).
    pub name: String,
    /// Category bits (index in [`CATEGORIES`]).
    pub cats: u32,
    pub parent: Option<usize>,
    pub subs: Vec<usize>,
    /// AUTH, HELLO ...: always allowed by the command rules (redis `CMD_NO_AUTH`).
    pub no_auth: bool,
}

pub struct Catalog {
    pub cmds: Vec<Cmd>,
    by_name: HashMap<String, usize>,
    /// ACL id of each registry id.
    of_registry: Vec<usize>,
    /// The top-level commands, in id order.
    pub top: Vec<usize>,
}

pub static CATALOG: LazyLock<Catalog> = LazyLock::new(build);

impl Catalog {
    /// The number of ids (bits a selector needs).
    pub fn len(&self) -> usize {
        self.cmds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cmds.is_empty()
    }

    /// redis `ACLLookupCommand`: `name` or `container|sub`, any case.
    pub fn lookup(&self, name: &[u8]) -> Option<usize> {
        let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
        let mut parts = lower.split('|');
        let base = parts.next()?;
        let id = *self.by_name.get(base)?;
        match (parts.next(), parts.next()) {
            (None, _) => Some(id),
            (Some(sub), None) if !self.cmds[id].subs.is_empty() => {
                self.by_name.get(&format!("{base}|{sub}")).copied()
            }
            _ => None,
        }
    }

    /// The ACL id of a command the dispatcher resolved.
    pub fn of_registry(&self, registry_id: usize) -> usize {
        self.of_registry[registry_id]
    }

    /// The ACL id of a spec (by name).
    pub fn of_spec(&self, spec: &Spec) -> Option<usize> {
        self.by_name.get(spec.name).copied()
    }
}

/// Categories a command gets from its flags when Redis's table does not list it (redis
/// `setImplicitACLCategories`).
fn implicit_categories(s: &Spec) -> u32 {
    let bit = |n: &str| category(n.as_bytes()).unwrap_or(0);
    let mut c = 0;
    if s.has(spec::WRITE) {
        c |= bit("write");
    }
    if s.has(spec::READONLY) && s.group != spec::Group::Scripting {
        c |= bit("read");
    }
    if s.has(spec::ADMIN) {
        c |= bit("admin") | bit("dangerous");
    }
    if s.has(spec::PUBSUB) {
        c |= bit("pubsub");
    }
    if s.has(spec::FAST) {
        c |= bit("fast");
    }
    if s.has(spec::BLOCKING) {
        c |= bit("blocking");
    }
    if c & bit("fast") == 0 {
        c |= bit("slow");
    }
    c
}

fn table_categories(info: &Reply) -> u32 {
    let mut c = 0;
    if let Some(Reply::Set(v) | Reply::Array(v)) = table::acl_categories(info) {
        for r in v {
            if let Some(cat) = text(r).and_then(|t| t.strip_prefix('@')) {
                c |= category(cat.as_bytes()).unwrap_or(0);
            }
        }
    }
    c
}

fn build() -> Catalog {
    let mut names: Vec<(String, u32, bool)> = Vec::new();
    table::for_each_info(|name, info| {
        names.push((
            name.to_string(),
            table_categories(info),
            table::has_flag(info, "no_auth"),
        ));
    });
    let known: std::collections::HashSet<String> = names.iter().map(|n| n.0.clone()).collect();
    for s in &REGISTRY.all {
        if !known.contains(s.name) {
            names.push((
                s.name.to_string(),
                implicit_categories(s),
                s.has(spec::NO_AUTH),
            ));
        }
    }
    // Parents before their subcommands, then by name.
    names.sort_by(|a, b| a.0.cmp(&b.0));
    let mut cat = Catalog {
        cmds: Vec::with_capacity(names.len()),
        by_name: HashMap::new(),
        of_registry: Vec::new(),
        top: Vec::new(),
    };
    for (name, cats, no_auth) in names {
        let id = cat.cmds.len();
        let parent = name
            .split_once('|')
            .and_then(|(p, _)| cat.by_name.get(p).copied());
        if let Some(p) = parent {
            cat.cmds[p].subs.push(id);
        } else {
            cat.top.push(id);
        }
        cat.by_name.insert(name.clone(), id);
        cat.cmds.push(Cmd {
            name,
            cats,
            parent,
            subs: Vec::new(),
            no_auth,
        });
    }
    cat.of_registry = REGISTRY
        .all
        .iter()
        .map(|s| cat.by_name.get(s.name).copied().unwrap_or(0))
        .collect();
    cat
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_names_as_redis() {
        let c = &*CATALOG;
        assert!(c.lookup(b"GET").is_some());
        let cg = c.lookup(b"config|GET").expect("config|get");
        assert_eq!(c.cmds[cg].name, "config|get");
        assert!(c.cmds[cg].parent.is_some());
        assert!(c.lookup(b"config|nope").is_none());
        assert!(c.lookup(b"get|x").is_none());
        assert!(c.lookup(b"config|get|x").is_none());
        assert!(c.cmds[c.lookup(b"auth").expect("auth")].no_auth);
        let get = &c.cmds[c.lookup(b"get").expect("get")];
        assert_eq!(
            get.cats,
            category(b"read").unwrap() | category(b"string").unwrap() | category(b"fast").unwrap()
        );
    }
}
