//! A selector: a set of permissions (commands, key patterns, channel patterns), redis
//! `aclSelector`. A user has a root selector and any number of extra ones; a command is
//! allowed when one selector allows all of it.

use bytes::Bytes;

use super::catalog::{self, CATALOG};
use super::RuleError;

/// Key pattern permissions (redis `ACL_READ_PERMISSION` / `ACL_WRITE_PERMISSION`).
pub const READ: u8 = 1;
pub const WRITE: u8 = 2;
pub const ALL: u8 = READ | WRITE;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPattern {
    pub flags: u8,
    pub pattern: Bytes,
}

impl KeyPattern {
    fn describe(&self, out: &mut String) {
        out.push_str(match self.flags {
            READ => "%R~",
            WRITE => "%W~",
            _ => "~",
        });
        out.push_str(&String::from_utf8_lossy(&self.pattern));
    }
}

#[derive(Clone, Debug)]
pub struct Selector {
    pub root: bool,
    pub all_keys: bool,
    pub all_channels: bool,
    /// No command bit was cleared since the last `+@all` (redis `SELECTOR_FLAG_ALLCOMMANDS`).
    pub all_commands: bool,
    /// Set by `+@all` only: the rules start from "everything" (redis's reserved bit).
    pub future: bool,
    bits: Vec<u64>,
    /// First arguments allowed for a command whose bit is clear (`+select|0`), by ACL id.
    pub firstargs: Vec<(usize, Vec<Bytes>)>,
    pub patterns: Vec<KeyPattern>,
    pub channels: Vec<Bytes>,
}

/// Why a selector refuses a command (redis `ACL_DENIED_*`, ordered as Redis ranks them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Denied {
    Cmd = 1,
    Key = 2,
    Channel = 4,
}

fn has_spaces(s: &[u8]) -> bool {
    s.iter()
        .any(|&c| c == 0 || c == b' ' || (b'\t'..=b'\r').contains(&c))
}

impl Selector {
    pub fn new(root: bool, all_channels: bool) -> Selector {
        Selector {
            root,
            all_keys: false,
            all_channels,
            all_commands: false,
            future: false,
            bits: vec![0; CATALOG.len().div_ceil(64)],
            firstargs: Vec::new(),
            patterns: Vec::new(),
            channels: Vec::new(),
        }
    }

    pub fn bit(&self, id: usize) -> bool {
        self.bits[id / 64] & (1 << (id % 64)) != 0
    }

    fn set_bit(&mut self, id: usize, on: bool) {
        if on {
            self.bits[id / 64] |= 1 << (id % 64);
        } else {
            self.bits[id / 64] &= !(1 << (id % 64));
            self.all_commands = false;
        }
    }

    /// redis `ACLChangeSelectorPerm`: a command and all its subcommands.
    fn change(&mut self, id: usize, on: bool) {
        self.set_bit(id, on);
        self.firstargs.retain(|(c, _)| *c != id);
        for &sub in &CATALOG.cmds[id].subs {
            self.set_bit(sub, on);
        }
    }

    fn change_category(&mut self, cat: u32, on: bool) {
        for id in 0..CATALOG.len() {
            if CATALOG.cmds[id].cats & cat != 0 {
                self.change(id, on);
            }
        }
    }

    fn set_all(&mut self, on: bool) {
        self.bits
            .iter_mut()
            .for_each(|w| *w = if on { !0 } else { 0 });
        self.all_commands = on;
        self.future = on;
        self.firstargs.clear();
    }

    /// Applies one rule (redis `ACLSetSelector`).
    pub fn apply(&mut self, op: &[u8]) -> Result<(), RuleError> {
        let is = |w: &str| op.eq_ignore_ascii_case(w.as_bytes());
        if is("allkeys") || is("~*") {
            self.all_keys = true;
            self.patterns.clear();
        } else if is("resetkeys") {
            self.all_keys = false;
            self.patterns.clear();
        } else if is("allchannels") || is("&*") {
            self.all_channels = true;
            self.channels.clear();
        } else if is("resetchannels") {
            self.all_channels = false;
            self.channels.clear();
        } else if is("allcommands") || is("+@all") {
            self.set_all(true);
        } else if is("nocommands") || is("-@all") {
            self.set_all(false);
        } else if op[0] == b'~' || op[0] == b'%' {
            self.add_key_pattern(op)?;
        } else if op[0] == b'&' {
            if self.all_channels {
                return Err(RuleError::ChannelAfterAll);
            }
            if has_spaces(&op[1..]) {
                return Err(RuleError::Syntax);
            }
            let pat = Bytes::copy_from_slice(&op[1..]);
            if !self.channels.contains(&pat) {
                self.channels.push(pat);
            }
            self.all_channels = false;
        } else if op.len() >= 2 && op[1] == b'@' && (op[0] == b'+' || op[0] == b'-') {
            let cat = catalog::category(&op[2..]).ok_or(RuleError::Unknown)?;
            self.change_category(cat, op[0] == b'+');
        } else if op[0] == b'+' {
            self.allow_command(&op[1..])?;
        } else if op[0] == b'-' {
            let id = CATALOG.lookup(&op[1..]).ok_or(RuleError::Unknown)?;
            self.change(id, false);
        } else {
            return Err(RuleError::Syntax);
        }
        Ok(())
    }

    fn add_key_pattern(&mut self, op: &[u8]) -> Result<(), RuleError> {
        if self.all_keys {
            return Err(RuleError::KeyAfterAll);
        }
        let mut flags = 0;
        let mut offset = 1;
        if op[0] == b'%' {
            loop {
                match op.get(offset).map(u8::to_ascii_uppercase) {
                    Some(b'R') if flags & READ == 0 => flags |= READ,
                    Some(b'W') if flags & WRITE == 0 => flags |= WRITE,
                    Some(b'~') => {
                        offset += 1;
                        break;
                    }
                    // Redis reads on to the end of the rule: a rule without `~` keeps the
                    // flags and an empty pattern.
                    None => break,
                    _ => return Err(RuleError::Syntax),
                }
                offset += 1;
            }
        } else {
            flags = ALL;
        }
        let pat = &op[offset.min(op.len())..];
        if has_spaces(pat) {
            return Err(RuleError::Syntax);
        }
        match self.patterns.iter_mut().find(|p| p.pattern == pat) {
            Some(p) => p.flags |= flags,
            None => self.patterns.push(KeyPattern {
                flags,
                pattern: Bytes::copy_from_slice(pat),
            }),
        }
        self.all_keys = false;
        Ok(())
    }

    /// `+cmd`, `+container|sub`, `+cmd|firstarg`.
    fn allow_command(&mut self, name: &[u8]) -> Result<(), RuleError> {
        let Some(bar) = name.iter().rposition(|&c| c == b'|') else {
            let id = CATALOG.lookup(name).ok_or(RuleError::Unknown)?;
            self.change(id, true);
            return Ok(());
        };
        let (base, sub) = (&name[..bar], &name[bar + 1..]);
        let id = CATALOG.lookup(base).ok_or(RuleError::Unknown)?;
        if CATALOG.cmds[id].parent.is_some() {
            return Err(RuleError::FirstArgOfSub);
        }
        if sub.is_empty() {
            return Err(RuleError::Syntax);
        }
        if !CATALOG.cmds[id].subs.is_empty() {
            let sid = CATALOG.lookup(name).ok_or(RuleError::Unknown)?;
            self.change(sid, true);
            return Ok(());
        }
        tracing::warn!(
            "Deprecation warning: Allowing a first arg of an otherwise blocked command is a misuse of ACL and may get disabled in the future (offender: +{})",
            String::from_utf8_lossy(name)
        );
        let sub = Bytes::copy_from_slice(sub);
        match self.firstargs.iter_mut().find(|(c, _)| *c == id) {
            Some((_, list)) => {
                if !list.iter().any(|a| a.eq_ignore_ascii_case(&sub)) {
                    list.push(sub);
                }
            }
            None => self.firstargs.push((id, vec![sub])),
        }
        Ok(())
    }

    /// Whether the command rules allow ACL command `id` with these arguments.
    pub fn allows_command(&self, id: usize, argv: &[Bytes]) -> bool {
        let cmd = &CATALOG.cmds[id];
        if self.all_commands || cmd.no_auth || self.bit(id) {
            return true;
        }
        let idx = if cmd.parent.is_some() { 2 } else { 1 };
        let Some(arg) = argv.get(idx) else {
            return false;
        };
        self.firstargs
            .iter()
            .find(|(c, _)| *c == id)
            .is_some_and(|(_, list)| list.iter().any(|a| a.eq_ignore_ascii_case(arg)))
    }

    /// redis `ACLSelectorCheckKey`: `access` is the permission the key needs.
    pub fn allows_key(&self, key: &[u8], access: u8) -> bool {
        self.all_keys
            || self.patterns.iter().any(|p| {
                p.flags & access == access && crate::util::glob_match(&p.pattern, key, false)
            })
    }

    /// redis `ACLSelectorHasUnrestrictedKeyAccess`.
    pub fn allows_all_keys(&self, access: u8) -> bool {
        self.all_keys
            || self
                .patterns
                .iter()
                .any(|p| p.flags & access == access && &p.pattern[..] == b"*")
    }

    pub fn allows_channel(&self, channel: &[u8], is_pattern: bool) -> bool {
        self.all_channels || channel_in(&self.channels, channel, is_pattern)
    }

    /// The key patterns as ACL GETUSER shows them.
    pub fn describe_keys(&self) -> String {
        if self.all_keys {
            return "~*".into();
        }
        let mut out = String::new();
        for (i, p) in self.patterns.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            p.describe(&mut out);
        }
        out
    }

    pub fn describe_channels(&self) -> String {
        if self.all_channels {
            return "&*".into();
        }
        let parts: Vec<String> = self
            .channels
            .iter()
            .map(|c| format!("&{}", String::from_utf8_lossy(c)))
            .collect();
        parts.join(" ")
    }

    /// redis `ACLDescribeSelector`: keys, channels, then command rules.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        if self.all_keys {
            out.push_str("~* ");
        } else {
            for p in &self.patterns {
                p.describe(&mut out);
                out.push(' ');
            }
        }
        if self.all_channels {
            out.push_str("&* ");
        } else {
            out.push_str("resetchannels ");
            for c in &self.channels {
                out.push('&');
                out.push_str(&String::from_utf8_lossy(c));
                out.push(' ');
            }
        }
        out.push_str(&self.describe_commands());
        out
    }

    /// redis `ACLDescribeSelectorCommandRules`: `+@all` or `-@all`, the categories that fit
    /// best, then single commands, so that applying the rules gives exactly this bitmap.
    pub fn describe_commands(&self) -> String {
        let additive = !self.future;
        let mut rules = vec![if additive { "-@all" } else { "+@all" }.to_string()];
        let mut fake = Selector::new(false, false);
        fake.set_all(!additive);
        let mut temp = self.clone();
        let mut applied = [false; catalog::CATEGORIES.len()];
        loop {
            let mut best = None;
            let (mut mindiff, mut maxsame) = (usize::MAX, 0);
            for (j, _) in catalog::CATEGORIES.iter().enumerate() {
                if applied[j] {
                    continue;
                }
                let (on, off) = temp.count_category(1 << j);
                let (diff, same) = if additive { (off, on) } else { (on, off) };
                if same > diff && (diff < mindiff || (diff == mindiff && same > maxsame)) {
                    best = Some(j);
                    mindiff = diff;
                    maxsame = same;
                }
            }
            let Some(j) = best else { break };
            fake.change_category(1 << j, additive);
            temp.change_category(1 << j, !additive);
            rules.push(format!(
                "{}@{}",
                if additive { '+' } else { '-' },
                catalog::CATEGORIES[j]
            ));
            applied[j] = true;
        }
        for &id in &CATALOG.top {
            self.describe_single(&mut fake, id, &mut rules);
        }
        if fake.bits != self.bits {
            tracing::warn!(
                "CRITICAL ERROR: User ACLs don't match final bitmap: '{}'",
                rules.join(" ")
            );
        }
        rules.join(" ")
    }

    fn describe_single(&self, fake: &mut Selector, id: usize, rules: &mut Vec<String>) {
        let cmd = &CATALOG.cmds[id];
        let (user, f) = (self.bit(id), fake.bit(id));
        if user != f {
            rules.push(format!("{}{}", if user { '+' } else { '-' }, cmd.name));
            fake.change(id, user);
        }
        for &sub in &cmd.subs {
            self.describe_single(fake, sub, rules);
        }
        if !user {
            if let Some((_, args)) = self.firstargs.iter().find(|(c, _)| *c == id) {
                for a in args {
                    rules.push(format!("+{}|{}", cmd.name, String::from_utf8_lossy(a)));
                }
            }
        }
    }

    fn count_category(&self, cat: u32) -> (usize, usize) {
        let (mut on, mut off) = (0, 0);
        for (id, cmd) in CATALOG.cmds.iter().enumerate() {
            if cmd.cats & cat != 0 {
                if self.bit(id) {
                    on += 1;
                } else {
                    off += 1;
                }
            }
        }
        (on, off)
    }
}

/// redis `ACLCheckChannelAgainstList`: a pattern subscription matches only the same pattern
/// literally; a channel is matched against the patterns.
pub fn channel_in(list: &[Bytes], channel: &[u8], is_pattern: bool) -> bool {
    list.iter().any(|p| {
        if is_pattern {
            &p[..] == channel
        } else {
            crate::util::glob_match(p, channel, false)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(rules: &[&str]) -> Selector {
        let mut s = Selector::new(true, false);
        for r in rules {
            s.apply(r.as_bytes()).expect("rule applies");
        }
        s
    }

    #[test]
    fn describes_categories_exactly() {
        for cat in catalog::CATEGORIES {
            let s = sel(&["+@all", &format!("-@{cat}")]);
            assert_eq!(s.describe_commands(), format!("+@all -@{cat}"));
            let s = sel(&["-@all", &format!("+@{cat}")]);
            assert_eq!(s.describe_commands(), format!("-@all +@{cat}"));
        }
    }

    #[test]
    fn describes_subcommands() {
        assert_eq!(
            sel(&["+memory|doctor"]).describe_commands(),
            "-@all +memory|doctor"
        );
        assert_eq!(
            sel(&["+memory|doctor", "+memory"]).describe_commands(),
            "-@all +memory"
        );
        assert_eq!(
            sel(&["+@all", "-client|kill"]).describe_commands(),
            "+@all -client|kill"
        );
        assert_eq!(
            sel(&["-@all", "+select|0"]).describe_commands(),
            "-@all +select|0"
        );
    }

    #[test]
    fn key_patterns() {
        let s = sel(&["%R~foo", "%W~foo", "%RW~bar"]);
        assert_eq!(s.describe_keys(), "~foo ~bar");
        assert!(s.allows_key(b"foo", ALL));
        assert!(!s.allows_key(b"baz", READ));
        let s = sel(&["%R~r*"]);
        assert!(s.allows_key(b"rx", READ));
        assert!(!s.allows_key(b"rx", ALL));
        assert!(!s.allows_key(b"zz", 0));
        assert_eq!(
            Selector::new(true, false).apply(b"%X~a"),
            Err(RuleError::Syntax)
        );
    }
}
