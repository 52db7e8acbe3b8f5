//! A user: flags, password hashes and selectors (redis `user`), the rules that change them
//! (redis `ACLSetUser`) and their description (ACL LIST, ACL GETUSER, the ACL file).

use bytes::Bytes;

use super::selector::Selector;
use super::RuleError;
use crate::config::sha256;

#[derive(Clone, Debug)]
pub struct User {
    pub enabled: bool,
    pub nopass: bool,
    /// `skip-sanitize-payload` (Some(true)) / `sanitize-payload` (Some(false)).
    pub skip_sanitize: Option<bool>,
    /// SHA-256 hex digests.
    pub passwords: Vec<String>,
    /// The root selector first.
    pub selectors: Vec<Selector>,
}

/// redis `ACLCheckPasswordHash`: 64 lowercase hex characters.
fn valid_hash(h: &[u8]) -> bool {
    h.len() == 64 && h.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

pub fn hash_password(p: &[u8]) -> String {
    sha256::hex_digest(p)
}

impl User {
    /// A new user: off, no password, no permissions (redis `ACLCreateUser`).
    pub fn new(all_channels: bool) -> User {
        User {
            enabled: false,
            nopass: false,
            skip_sanitize: None,
            passwords: Vec::new(),
            selectors: vec![Selector::new(true, all_channels)],
        }
    }

    /// The default user: everything, no password (redis `ACLCreateDefaultUser`).
    pub fn default_user(all_channels: bool) -> User {
        let mut u = User::new(all_channels);
        for op in ["+@all", "~*", "&*", "on", "nopass"] {
            let _ = u.apply(op.as_bytes(), all_channels);
        }
        u
    }

    pub fn root(&self) -> &Selector {
        &self.selectors[0]
    }

    /// Applies one rule (redis `ACLSetUser`); `all_channels` is `acl-pubsub-default`.
    pub fn apply(&mut self, op: &[u8], all_channels: bool) -> Result<(), RuleError> {
        if op.is_empty() {
            return Ok(());
        }
        let is = |w: &str| op.eq_ignore_ascii_case(w.as_bytes());
        if is("on") {
            self.enabled = true;
        } else if is("off") {
            self.enabled = false;
        } else if is("skip-sanitize-payload") {
            self.skip_sanitize = Some(true);
        } else if is("sanitize-payload") {
            self.skip_sanitize = Some(false);
        } else if is("nopass") {
            self.nopass = true;
            self.passwords.clear();
        } else if is("resetpass") {
            self.nopass = false;
            self.passwords.clear();
        } else if op[0] == b'>' || op[0] == b'#' {
            let hash = if op[0] == b'>' {
                hash_password(&op[1..])
            } else if valid_hash(&op[1..]) {
                String::from_utf8_lossy(&op[1..]).into_owned()
            } else {
                return Err(RuleError::BadHash);
            };
            if !self.passwords.contains(&hash) {
                self.passwords.push(hash);
            }
            self.nopass = false;
        } else if op[0] == b'<' || op[0] == b'!' {
            let hash = if op[0] == b'<' {
                hash_password(&op[1..])
            } else if valid_hash(&op[1..]) {
                String::from_utf8_lossy(&op[1..]).into_owned()
            } else {
                return Err(RuleError::BadHash);
            };
            let before = self.passwords.len();
            self.passwords.retain(|p| *p != hash);
            if self.passwords.len() == before {
                return Err(RuleError::NoSuchPassword);
            }
        } else if op[0] == b'(' && op[op.len() - 1] == b')' {
            let mut s = Selector::new(false, all_channels);
            // Unbalanced quotes make an empty selector, as in Redis.
            let words = crate::config::parse::split_args(&op[1..op.len() - 1]).unwrap_or_default();
            for w in words {
                s.apply(&w)?;
            }
            self.selectors.push(s);
        } else if is("clearselectors") {
            self.selectors.truncate(1);
        } else if is("reset") {
            self.nopass = false;
            self.passwords.clear();
            let root = &mut self.selectors[0];
            let _ = root.apply(b"resetkeys");
            let _ = root.apply(b"resetchannels");
            if all_channels {
                let _ = root.apply(b"allchannels");
            }
            self.enabled = false;
            self.skip_sanitize = Some(false);
            self.selectors.truncate(1);
            let _ = self.selectors[0].apply(b"-@all");
        } else {
            self.selectors[0].apply(op)?;
        }
        Ok(())
    }

    /// Whether `password` logs this user in (redis `ACLCheckUserCredentials`, after the
    /// user was found).
    pub fn password_ok(&self, password: &[u8]) -> bool {
        if !self.enabled {
            return false;
        }
        if self.nopass {
            return true;
        }
        let hashed = hash_password(password);
        // Compare every stored hash in full, whichever matches.
        self.passwords.iter().fold(false, |ok, p| {
            let diff = p
                .bytes()
                .zip(hashed.bytes())
                .fold(0u8, |d, (a, b)| d | (a ^ b));
            ok | (diff == 0)
        })
    }

    /// The user's flags as ACL GETUSER lists them.
    pub fn flag_names(&self) -> Vec<&'static str> {
        let mut out = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            out.push("nopass");
        }
        match self.skip_sanitize {
            Some(true) => out.push("skip-sanitize-payload"),
            Some(false) => out.push("sanitize-payload"),
            None => {}
        }
        out
    }

    /// redis `ACLDescribeUser`: the rules that recreate this user (ACL LIST, the ACL file).
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for f in self.flag_names() {
            out.push_str(f);
            out.push(' ');
        }
        for p in &self.passwords {
            out.push('#');
            out.push_str(p);
            out.push(' ');
        }
        for s in &self.selectors {
            if s.root {
                out.push_str(&s.describe());
            } else {
                out.push_str(" (");
                out.push_str(&s.describe());
                out.push(')');
            }
        }
        out
    }

    /// Whether every selector of the user may use every channel it could (for killing
    /// subscribers, redis `ACLKillPubsubClientsIfNeeded`): the union of channel patterns, or
    /// None when a selector allows all channels.
    pub fn channel_union(&self) -> Option<Vec<Bytes>> {
        if self.selectors.iter().any(|s| s.all_channels) {
            return None;
        }
        Some(
            self.selectors
                .iter()
                .flat_map(|s| s.channels.iter().cloned())
                .collect(),
        )
    }
}

/// redis `ACLMergeSelectorArguments`: a selector spread over several arguments (`(~a`
/// `+get)`) becomes one. Err holds the argument where an unclosed selector starts.
pub fn merge_selector_args(args: &[Bytes]) -> Result<Vec<Bytes>, Bytes> {
    let mut out = Vec::with_capacity(args.len());
    let mut open: Option<(Vec<u8>, usize)> = None;
    for (j, a) in args.iter().enumerate() {
        if open.is_none() && a.first() == Some(&b'(') && a.last() != Some(&b')') {
            open = Some((a.to_vec(), j));
            continue;
        }
        if let Some((sel, _)) = open.as_mut() {
            sel.push(b' ');
            sel.extend_from_slice(a);
            if a.last() == Some(&b')') {
                if let Some((sel, _)) = open.take() {
                    out.push(Bytes::from(sel));
                }
            }
            continue;
        }
        out.push(a.clone());
    }
    match open {
        Some((_, j)) => Err(args[j].clone()),
        None => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(rules: &[&str]) -> User {
        let mut u = User::new(false);
        for r in rules {
            u.apply(r.as_bytes(), false).expect("rule applies");
        }
        u
    }

    #[test]
    fn describes_like_redis() {
        let u = user(&["on", "nopass", "resetchannels", "&foo", "+@all"]);
        assert_eq!(u.describe(), "on nopass resetchannels &foo +@all");
        assert_eq!(
            User::default_user(false).describe(),
            "on nopass ~* &* +@all"
        );
        let u = user(&["(~a +get)"]);
        assert_eq!(
            u.describe(),
            "off resetchannels -@all (~a resetchannels -@all +get)"
        );
    }

    #[test]
    fn passwords() {
        let mut u = user(&["on", ">p1", ">p2"]);
        assert!(u.password_ok(b"p1") && u.password_ok(b"p2") && !u.password_ok(b"p3"));
        u.apply(b"<p1", false).expect("removes");
        assert!(!u.password_ok(b"p1"));
        assert_eq!(u.apply(b"<p1", false), Err(RuleError::NoSuchPassword));
        assert_eq!(u.apply(b"#abc", false), Err(RuleError::BadHash));
    }

    #[test]
    fn merges_selectors() {
        let a = |v: &[&str]| -> Vec<Bytes> {
            v.iter()
                .map(|s| Bytes::copy_from_slice(s.as_bytes()))
                .collect()
        };
        assert_eq!(
            merge_selector_args(&a(&["on", "(~a", "+get", ")", "(x)"])),
            Ok(a(&["on", "(~a +get )", "(x)"]))
        );
        assert_eq!(
            merge_selector_args(&a(&["(~a", "+get"])),
            Err(Bytes::from_static(b"(~a"))
        );
    }
}
