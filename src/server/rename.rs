//! `rename-command` (redis.conf): a command reachable under another name, or not at all. The
//! dispatcher maps a renamed name back to the command it stands for; the original name is
//! unknown. ACL rules keep using the original names (redis `server.orig_commands`).

use std::collections::{HashMap, HashSet};

use crate::commands::REGISTRY;

#[derive(Debug, Default)]
pub struct Renames {
    /// Current (lowercase) name -> the command's own name.
    moved: HashMap<String, &'static str>,
    /// Own names no longer reachable.
    gone: HashSet<String>,
}

/// What a command name means under the renames.
pub enum Name {
    /// Not renamed.
    Same,
    /// A new name of this command.
    To(&'static str),
    /// Renamed away: unknown.
    Gone,
}

impl Renames {
    /// Applies `rename-command` lines in order (redis `loadServerConfigFromString`): Err is the
    /// fatal config error.
    pub fn build(lines: &[(String, String)]) -> Result<Option<Renames>, &'static str> {
        if lines.is_empty() {
            return Ok(None);
        }
        let mut r = Renames::default();
        for (from, to) in lines {
            let (from, to) = (from.to_ascii_lowercase(), to.to_ascii_lowercase());
            let own = match r.moved.remove(&from) {
                Some(own) => own,
                None => match REGISTRY.lookup(from.as_bytes()) {
                    Some((_, spec)) if !r.gone.contains(&from) => spec.name,
                    _ => return Err("No such command in rename-command"),
                },
            };
            if own == from {
                r.gone.insert(from);
            }
            if to.is_empty() {
                continue;
            }
            let taken = r.moved.contains_key(&to)
                || (REGISTRY.lookup(to.as_bytes()).is_some() && !r.gone.contains(&to));
            if taken {
                return Err("Target command name already exists");
            }
            r.moved.insert(to, own);
        }
        Ok(Some(r))
    }

    pub fn map(&self, name: &[u8]) -> Name {
        let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
        if let Some(own) = self.moved.get(&lower) {
            Name::To(own)
        } else if self.gone.contains(&lower) {
            Name::Gone
        } else {
            Name::Same
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn renames_as_redis() {
        let r = Renames::build(&pairs(&[("FLUSHDB", "badger"), ("config", "")]))
            .expect("valid")
            .expect("some");
        assert!(matches!(r.map(b"BADGER"), Name::To("flushdb")));
        assert!(matches!(r.map(b"flushdb"), Name::Gone));
        assert!(matches!(r.map(b"config"), Name::Gone));
        assert!(matches!(r.map(b"get"), Name::Same));
        assert_eq!(
            Renames::build(&pairs(&[("nosuch", "x")])).err(),
            Some("No such command in rename-command")
        );
        assert_eq!(
            Renames::build(&pairs(&[("get", "set")])).err(),
            Some("Target command name already exists")
        );
        let r = Renames::build(&pairs(&[("get", "a"), ("a", "b"), ("set", "get")]))
            .expect("valid")
            .expect("some");
        assert!(matches!(r.map(b"b"), Name::To("get")));
        assert!(matches!(r.map(b"get"), Name::To("set")));
        assert!(matches!(r.map(b"a"), Name::Same));
    }
}
