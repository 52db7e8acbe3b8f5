//! Access control lists, as Redis 7.0 (redis `acl.c`): users, their selectors and rules, the
//! permission check the dispatcher runs before a command, the ACL log and the ACL file.
//!
//! A client points at a [`UserHandle`]; ACL SETUSER replaces the rules inside the handle, so
//! every client of the user sees the change at its next command, as Redis's clients share
//! the `user` struct. The check costs one atomic load for a user who may run everything on
//! every key and channel (the default user as shipped).

pub mod catalog;
pub mod clients;
pub mod file;
pub mod log;
pub mod selector;
pub mod user;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;

use crate::commands::spec::Spec;
pub use selector::Denied;
use selector::{Selector, READ, WRITE};
pub use user::User;

/// Why a rule was refused (redis `ACLSetUserStringError`'s errno cases).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleError {
    Unknown,
    Syntax,
    KeyAfterAll,
    ChannelAfterAll,
    NoSuchPassword,
    BadHash,
    FirstArgOfSub,
}

impl RuleError {
    pub fn message(self) -> &'static str {
        match self {
            RuleError::Unknown => "Unknown command or category name in ACL",
            RuleError::Syntax => "Syntax error",
            RuleError::KeyAfterAll => "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns",
            RuleError::ChannelAfterAll => "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels",
            RuleError::NoSuchPassword => "The password you are trying to remove from the user does not exist",
            RuleError::BadHash => "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
            RuleError::FirstArgOfSub => "Allowing first-arg of a subcommand is not supported",
        }
    }
}

/// A user as clients hold it: its name and its current rules.
pub struct UserHandle {
    pub name: Bytes,
    rules: RwLock<Arc<User>>,
    /// A selector allows every command, key and channel: nothing to check.
    unrestricted: AtomicBool,
}

impl std::fmt::Debug for UserHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UserHandle({})", self.name_str())
    }
}

impl UserHandle {
    fn new(name: Bytes, user: User) -> Arc<UserHandle> {
        let h = Arc::new(UserHandle {
            name,
            rules: RwLock::new(Arc::new(User::new(false))),
            unrestricted: AtomicBool::new(false),
        });
        h.set(user);
        h
    }

    pub fn get(&self) -> Arc<User> {
        self.rules.read().clone()
    }

    pub fn set(&self, user: User) {
        let free = user
            .selectors
            .iter()
            .any(|s| s.all_commands && s.all_keys && s.all_channels);
        *self.rules.write() = Arc::new(user);
        self.unrestricted.store(free, Ordering::Release);
    }

    /// Whether every command passes the ACL check (the fast path).
    #[inline]
    pub fn unrestricted(&self) -> bool {
        self.unrestricted.load(Ordering::Relaxed)
    }

    pub fn name_str(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

/// The users and the ACL log of a server.
pub struct Acl {
    users: RwLock<BTreeMap<Bytes, Arc<UserHandle>>>,
    /// The default user: the same handle for the server's life (ACL LOAD copies into it).
    pub default: Arc<UserHandle>,
    pub log: log::Log,
}

impl Default for Acl {
    fn default() -> Acl {
        let default = UserHandle::new(Bytes::from_static(b"default"), User::default_user(false));
        let mut users = BTreeMap::new();
        users.insert(default.name.clone(), default.clone());
        Acl {
            users: RwLock::new(users),
            default,
            log: log::Log::default(),
        }
    }
}

impl Acl {
    pub fn user(&self, name: &[u8]) -> Option<Arc<UserHandle>> {
        self.users.read().get(name).cloned()
    }

    /// Every user, by name.
    pub fn users(&self) -> Vec<Arc<UserHandle>> {
        self.users.read().values().cloned().collect()
    }

    /// Creates a user or replaces its rules.
    pub fn put(&self, name: &[u8], user: User) -> Arc<UserHandle> {
        let mut users = self.users.write();
        match users.get(name) {
            Some(h) => {
                h.set(user);
                h.clone()
            }
            None => {
                let h = UserHandle::new(Bytes::copy_from_slice(name), user);
                users.insert(h.name.clone(), h.clone());
                h
            }
        }
    }

    pub fn remove(&self, name: &[u8]) -> Option<Arc<UserHandle>> {
        self.users.write().remove(name)
    }

    /// Replaces every user but the default one's handle (ACL LOAD); returns the handles
    /// that are gone, whose clients must be disconnected.
    pub fn replace_all(&self, new: Vec<(Bytes, User)>) -> Vec<Arc<UserHandle>> {
        let mut users = self.users.write();
        let old = std::mem::take(&mut *users);
        let mut default_rules = None;
        for (name, u) in new {
            if &name[..] == b"default" {
                default_rules = Some(u);
            } else {
                let h = UserHandle::new(name.clone(), u);
                users.insert(name, h);
            }
        }
        self.default
            .set(default_rules.unwrap_or_else(|| User::default_user(false)));
        users.insert(self.default.name.clone(), self.default.clone());
        old.into_values()
            .filter(|h| !Arc::ptr_eq(h, &self.default))
            .collect()
    }

    /// Whether a new connection starts logged in (redis `clientSetDefaultAuth`).
    pub fn default_logs_in(&self) -> bool {
        let u = self.default.get();
        u.nopass && u.enabled
    }

    /// `requirepass`: the default user's password, or none (redis
    /// `ACLUpdateDefaultUserPassword`).
    pub fn set_default_password(&self, password: Option<&str>) {
        let mut u = (*self.default.get()).clone();
        let _ = u.apply(b"resetpass", false);
        match password {
            Some(p) => {
                let mut op = b">".to_vec();
                op.extend_from_slice(p.as_bytes());
                let _ = u.apply(&op, false);
            }
            None => {
                let _ = u.apply(b"nopass", false);
            }
        }
        self.default.set(u);
    }

    /// redis `ACLCheckUserCredentials`: the user when `password` logs it in.
    pub fn authenticate(&self, name: &[u8], password: &[u8]) -> Option<Arc<UserHandle>> {
        let h = self.user(name)?;
        h.get().password_ok(password).then_some(h)
    }
}

/// The keys of a command with the permission each needs, from the command table's key specs
/// (redis `getKeysFromCommandWithSpecs`).
fn keys_needing(spec: &Spec, argv: &[Bytes]) -> Vec<(usize, u8)> {
    crate::commands::admin::command::keys_with_access(spec, argv)
        .into_iter()
        .map(|(pos, access, write)| {
            let mut need = 0;
            if access {
                need |= READ;
            }
            if write {
                need |= WRITE;
            }
            (pos, need)
        })
        .collect()
}

/// The channel arguments a command publishes or subscribes to, and whether they are patterns
/// (redis `commands_with_channels`).
fn channels_of(spec: &Spec, argv: &[Bytes]) -> (std::ops::Range<usize>, bool) {
    match spec.name {
        "subscribe" | "ssubscribe" => (1..argv.len(), false),
        "psubscribe" => (1..argv.len(), true),
        "publish" | "spublish" => (1..argv.len().min(2), false),
        _ => (0..0, false),
    }
}

fn check_selector(
    s: &Selector,
    id: usize,
    spec: &Spec,
    argv: &[Bytes],
    keys: &mut Option<Vec<(usize, u8)>>,
) -> Result<(), (Denied, usize)> {
    if !s.allows_command(id, argv) {
        return Err((Denied::Cmd, 0));
    }
    if !s.all_keys {
        let keys = keys.get_or_insert_with(|| keys_needing(spec, argv));
        for &(pos, need) in keys.iter() {
            if !s.allows_key(&argv[pos], need) {
                return Err((Denied::Key, pos));
            }
        }
    }
    if !s.all_channels {
        let (range, pattern) = channels_of(spec, argv);
        for pos in range {
            if !s.allows_channel(&argv[pos], pattern) {
                return Err((Denied::Channel, pos));
            }
        }
    }
    Ok(())
}

/// redis `ACLCheckAllUserCommandPerm`: Ok when one selector allows the whole command, else
/// the most relevant refusal and the argument it is about.
pub fn check(user: &User, spec: &Spec, argv: &[Bytes]) -> Result<(), (Denied, usize)> {
    let Some(id) = catalog::CATALOG.of_spec(spec) else {
        return Ok(());
    };
    let mut keys = None;
    let mut worst = (Denied::Cmd, 0);
    for s in &user.selectors {
        match check_selector(s, id, spec, argv, &mut keys) {
            Ok(()) => return Ok(()),
            Err(e) => {
                if e.0 > worst.0 || (e.0 == worst.0 && e.1 > worst.1) {
                    worst = e;
                }
            }
        }
    }
    Err(worst)
}

/// redis `ACLUserCheckCmdWithUnrestrictedKeyAccess` with read access (SORT BY / GET).
pub fn may_read_any_key(user: &User, spec: &Spec, argv: &[Bytes]) -> bool {
    let Some(id) = catalog::CATALOG.of_spec(spec) else {
        return true;
    };
    let mut keys = None;
    user.selectors
        .iter()
        .any(|s| check_selector(s, id, spec, argv, &mut keys).is_ok() && s.allows_all_keys(READ))
}

/// Whether `user` may use `channel` (redis `ACLUserCheckChannelPerm`).
pub fn may_use_channel(user: &User, channel: &[u8], is_pattern: bool) -> bool {
    user.selectors
        .iter()
        .any(|s| s.allows_channel(channel, is_pattern))
}
