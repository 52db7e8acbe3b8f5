//! Client-side caching (redis `tracking.c`): CLIENT TRACKING's table of which clients may cache
//! which keys, the prefixes of BCAST clients, and the invalidation messages.
//!
//! Keys are names, not (db, name) pairs, as in Redis. A read-only command of a tracking client
//! records its keys ([`Tracking::remember`]); a modified key ([`Tracking::modified`], called
//! where WATCH is told, with the command's shards still locked) sends `invalidate [key]` to
//! the clients that read it and forgets them. BCAST clients get the keys under their prefixes,
//! gathered per prefix and sent once the connection's batch is done or by the cron
//! ([`Tracking::broadcast`]), as Redis sends them before it sleeps.
//!
//! Messages go to a client's channel, except those for the client whose command is running
//! (Redis's `current_client`): those wait in [`Own`] so its connection writes them around the
//! reply as Redis does: after it when the command itself modified the key (Redis's pending
//! invalidations), before it otherwise (a key evicted before the command ran). Which client is
//! running is a per-thread [`Scope`], set by the dispatcher, as commands run synchronously on
//! their worker thread.
//!
//! When no client tracks and the table is empty, the command path pays one atomic load.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use indexmap::IndexMap;
use parking_lot::Mutex;

use super::client::ClientShared;
use super::Server;

pub const ON: u8 = 1;
pub const BCAST: u8 = 1 << 1;
pub const OPTIN: u8 = 1 << 2;
pub const OPTOUT: u8 = 1 << 3;
pub const NOLOOP: u8 = 1 << 4;
/// CLIENT CACHING yes|no given for the next command.
pub const CACHING: u8 = 1 << 5;
/// The redirection client is gone.
pub const BROKEN_REDIR: u8 = 1 << 6;

/// A client's tracking settings.
#[derive(Debug, Default, Clone)]
pub struct Settings {
    pub flags: u8,
    /// Client id invalidations go to; 0 = the client itself.
    pub redirect: u64,
    /// BCAST prefixes, in byte order.
    pub prefixes: BTreeSet<Bytes>,
}

/// Messages for the connection of the running client.
#[derive(Debug, Default)]
pub struct Own {
    pub before: Vec<u8>,
    pub after: Vec<u8>,
}

/// A prefix's broadcast state (redis `bcastState`).
#[derive(Default)]
struct Bcast {
    /// Keys modified since the last broadcast → who modified them last (None: expiry, a script).
    keys: BTreeMap<Bytes, Option<u64>>,
    clients: BTreeSet<u64>,
}

#[derive(Default)]
struct State {
    /// key → clients that may cache it (redis `TrackingTable`).
    keys: IndexMap<Bytes, Vec<u64>>,
    /// Total ids across `keys` (redis `TrackingTableTotalItems`).
    items: u64,
    prefixes: BTreeMap<Bytes, Bcast>,
    clients: HashMap<u64, Settings>,
    /// Clients with tracking on (redis `server.tracking_clients`).
    on: usize,
    own: HashMap<u64, Own>,
    /// Rounds the table stayed over `tracking-table-max-keys` (redis `timeout_counter`).
    over_rounds: u64,
}

#[derive(Default)]
pub struct Tracking {
    /// Someone tracks, or the table still holds keys: the command path's only check.
    engaged: AtomicBool,
    /// `Own` messages wait for some connection.
    own_waiting: AtomicBool,
    /// Keys wait in a prefix for the next broadcast.
    bcast_waiting: AtomicBool,
    /// `tracking-table-max-keys`.
    max_keys: AtomicU64,
    /// Keys in the table, and whether the last limit check left it over the limit.
    key_count: AtomicUsize,
    over_limit: AtomicBool,
    state: Mutex<State>,
}

/// Messages for other connections, pushed once the locks are released (a push may close its
/// client for its output buffer limits, which reads the client's settings).
type Outbox = Vec<(Arc<ClientShared>, Bytes)>;

fn deliver(server: &Server, out: Outbox) {
    for (c, bytes) in out {
        c.push(server, bytes);
    }
}

/// What a modification of the dataset means for tracking.
#[derive(Debug)]
pub enum Change {
    /// A key changed; `by` is the client that changed it (None: expiry, a script).
    Key { key: Bytes, by: Option<u64> },
    /// FLUSHDB / FLUSHALL / a dataset replaced: every key.
    Flush,
}

/// The message sent for an invalidation.
enum Payload<'a> {
    Key(&'a [u8]),
    /// Every key (a flush): a null in the tracking client's protocol.
    All,
    /// An encoded array of keys (a broadcast).
    Proto(&'a [u8]),
}

/// Who runs on this thread (redis `current_client`, `fixed_time_expire`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Running {
    pub client: Option<u64>,
    /// Its command is executing (not being checked or queued).
    pub in_call: bool,
    /// Who the command's changes are by: the client, or None for a script (Redis's Lua client).
    pub by: Option<u64>,
}

thread_local! {
    static SCOPE: Cell<Running> = const { Cell::new(Running { client: None, in_call: false, by: None }) };
}

/// While alive, `running` describes this thread's command. Restores the previous one when
/// dropped.
pub struct Scope(Running);

impl Scope {
    pub fn enter(running: Running) -> Scope {
        Scope(SCOPE.with(|s| s.replace(running)))
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        SCOPE.with(|s| s.set(self.0));
    }
}

pub fn running() -> Running {
    SCOPE.with(|s| s.get())
}

fn scope() -> (Option<u64>, bool) {
    let r = running();
    (r.client, r.in_call)
}

impl Tracking {
    /// Whether anything can need tracking work (one atomic load).
    pub fn engaged(&self) -> bool {
        self.engaged.load(Ordering::Relaxed)
    }

    pub fn set_max_keys(&self, n: u64) {
        self.max_keys.store(n, Ordering::Relaxed);
    }

    fn update_engaged(&self, st: &State) {
        self.engaged
            .store(st.on > 0 || !st.keys.is_empty(), Ordering::Relaxed);
        self.key_count.store(st.keys.len(), Ordering::Relaxed);
    }

    /// A client's settings (default: off).
    pub fn settings(&self, id: u64) -> Settings {
        if !self.engaged() {
            return Settings::default();
        }
        self.state
            .lock()
            .clients
            .get(&id)
            .cloned()
            .unwrap_or_default()
    }

    /// How many BCAST prefixes client `id` registered.
    pub fn prefix_count(&self, id: u64) -> usize {
        if !self.engaged() {
            return 0;
        }
        self.state
            .lock()
            .clients
            .get(&id)
            .map_or(0, |s| s.prefixes.len())
    }

    /// CLIENT TRACKING ON with its options: `flags` among BCAST OPTIN OPTOUT NOLOOP (redis
    /// `enableTracking`). Prefixes add to those already registered.
    pub fn enable(&self, id: u64, redirect: u64, flags: u8, prefixes: &[Bytes]) {
        let mut st = self.state.lock();
        let st = &mut *st;
        let s = st.clients.entry(id).or_default();
        if s.flags & ON == 0 {
            st.on += 1;
        }
        s.flags = (s.flags & CACHING) | ON | (flags & (BCAST | OPTIN | OPTOUT | NOLOOP));
        s.redirect = redirect;
        if flags & BCAST != 0 {
            let empty = [Bytes::new()];
            let list = if prefixes.is_empty() {
                &empty[..]
            } else {
                prefixes
            };
            for p in list {
                st.prefixes.entry(p.clone()).or_default().clients.insert(id);
                s.prefixes.insert(p.clone());
            }
        }
        self.update_engaged(st);
    }

    /// CLIENT TRACKING OFF, RESET, a closed connection (redis `disableTracking`). Keys it read
    /// stay in the table until modified, as in Redis.
    pub fn disable(&self, id: u64) {
        if !self.engaged() {
            return;
        }
        let mut st = self.state.lock();
        let st = &mut *st;
        // Nothing of the settings shows once tracking is off (GETREDIR says -1).
        let Some(s) = st.clients.remove(&id) else {
            return;
        };
        for p in s.prefixes {
            if let Some(b) = st.prefixes.get_mut(&p) {
                b.clients.remove(&id);
                if b.clients.is_empty() {
                    st.prefixes.remove(&p);
                }
            }
        }
        if s.flags & ON != 0 {
            st.on -= 1;
        }
        self.update_engaged(st);
    }

    /// A connection is gone: tracking off, messages waiting for it dropped.
    pub fn client_gone(&self, id: u64) {
        self.disable(id);
        if self.own_waiting.load(Ordering::Relaxed) {
            self.state.lock().own.remove(&id);
        }
    }

    /// CLIENT CACHING yes|no: sets the flag for the next command.
    pub fn set_caching(&self, id: u64) {
        if let Some(s) = self.state.lock().clients.get_mut(&id) {
            s.flags |= CACHING;
        }
    }

    /// After a command outside MULTI other than CLIENT: CACHING applied to that command only.
    pub fn clear_caching(&self, id: u64) {
        if !self.engaged() {
            return;
        }
        if let Some(s) = self.state.lock().clients.get_mut(&id) {
            s.flags &= !CACHING;
        }
    }

    /// (clients tracking, keys, items, prefixes) for INFO.
    pub fn counts(&self) -> (usize, usize, u64, usize) {
        let st = self.state.lock();
        (st.on, st.keys.len(), st.items, st.prefixes.len())
    }

    /// Records that client `id` read `keys` (redis `trackingRememberKeys`), unless it tracks
    /// in BCAST mode or OPTIN/OPTOUT and CLIENT CACHING say not to.
    pub fn remember<'k>(&self, id: u64, keys: impl Iterator<Item = &'k Bytes>) {
        let mut st = self.state.lock();
        let st = &mut *st;
        let Some(s) = st.clients.get(&id) else {
            return;
        };
        let f = s.flags;
        let caching = f & CACHING != 0;
        if f & ON == 0
            || f & BCAST != 0
            || (f & OPTIN != 0 && !caching)
            || (f & OPTOUT != 0 && caching)
        {
            return;
        }
        for k in keys {
            let i = match st.keys.get_index_of(&k[..]) {
                Some(i) => i,
                // A copy: the argument is a slice of the connection's read buffer.
                None => st.keys.insert_full(Bytes::copy_from_slice(k), Vec::new()).0,
            };
            if let Some((_, ids)) = st.keys.get_index_mut(i) {
                if !ids.contains(&id) {
                    ids.push(id);
                    st.items += 1;
                }
            }
        }
        self.update_engaged(st);
    }

    /// Applies modifications of the dataset, in their order (redis `trackingInvalidateKey` from
    /// `signalModifiedKey`, `trackingInvalidateKeysOnFlush`).
    pub fn modified(&self, server: &Server, changes: &[Change]) {
        if changes.is_empty() {
            return;
        }
        let mut out = Outbox::new();
        {
            let clients = server.clients.lock();
            let mut st = self.state.lock();
            for c in changes {
                match c {
                    Change::Key { key, by } => {
                        self.invalidate(&clients, &mut st, &mut out, key, *by, true)
                    }
                    Change::Flush => self.flush(&clients, &mut st, &mut out),
                }
            }
            self.update_engaged(&st);
        }
        deliver(server, out);
    }

    /// The whole dataset was emptied or replaced (DEBUG RELOAD, a full sync).
    pub fn flushed(&self, server: &Server) {
        if self.engaged() {
            self.modified(server, &[Change::Flush]);
        }
    }

    /// Keys deleted by no client (active expiry, eviction).
    pub fn keys_deleted(&self, server: &Server, keys: impl Iterator<Item = Bytes>) {
        if self.engaged() {
            let changes: Vec<Change> = keys.map(|key| Change::Key { key, by: None }).collect();
            self.modified(server, &changes);
        }
    }

    fn invalidate(
        &self,
        clients: &Clients,
        st: &mut State,
        out: &mut Outbox,
        key: &[u8],
        by: Option<u64>,
        bcast: bool,
    ) {
        if bcast && !st.prefixes.is_empty() {
            for (p, b) in st.prefixes.iter_mut() {
                if key.starts_with(p) {
                    b.keys.insert(Bytes::copy_from_slice(key), by);
                    self.bcast_waiting.store(true, Ordering::Relaxed);
                }
            }
        }
        let Some(ids) = st.keys.swap_remove(key) else {
            return;
        };
        st.items -= ids.len() as u64;
        let (current, in_call) = scope();
        for id in ids {
            let Some(s) = st.clients.get(&id) else {
                continue;
            };
            if s.flags & ON == 0 || s.flags & BCAST != 0 {
                continue;
            }
            if s.flags & NOLOOP != 0 && current == Some(id) {
                continue;
            }
            // The running client hears about its own changes after its reply.
            let after = in_call && current == Some(id);
            self.send(clients, st, out, id, Payload::Key(key), after);
        }
    }

    /// Every tracking client gets a null: all keys are invalid; the table empties.
    fn flush(&self, clients: &Clients, st: &mut State, out: &mut Outbox) {
        let (current, _) = scope();
        let on: Vec<u64> = st
            .clients
            .iter()
            .filter(|(_, s)| s.flags & ON != 0)
            .map(|(id, _)| *id)
            .collect();
        for id in on {
            self.send(clients, st, out, id, Payload::All, current == Some(id));
        }
        st.keys = IndexMap::new();
        st.items = 0;
    }

    /// Sends one message for tracking client `id`, to it or its redirection (redis
    /// `sendTrackingMessage`). `after`: for the running client, after its reply.
    fn send(
        &self,
        clients: &Clients,
        st: &mut State,
        out: &mut Outbox,
        id: u64,
        payload: Payload,
        after: bool,
    ) {
        let Some(me) = clients.get(&id) else {
            return;
        };
        let my_resp = me.resp.load(Ordering::Relaxed);
        let Some(s) = st.clients.get_mut(&id) else {
            return;
        };
        let mut dest = me;
        let redirect = s.redirect;
        if redirect != 0 {
            match clients.get(&redirect) {
                Some(r) => dest = r,
                None => {
                    s.flags |= BROKEN_REDIR;
                    if my_resp == 3 {
                        let mut m = BytesMut::new();
                        m.put_slice(b">2\r\n$21\r\ntracking-redir-broken\r\n:");
                        m.put_slice(redirect.to_string().as_bytes());
                        m.put_slice(b"\r\n");
                        self.write(&mut st.own, out, me, m.freeze(), after);
                    }
                    return;
                }
            }
        }
        let head: &[u8] = if dest.resp.load(Ordering::Relaxed) == 3 {
            b">2\r\n$10\r\ninvalidate\r\n"
        } else if redirect != 0 && dest.in_pubsub() {
            b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n"
        } else {
            // RESP2 has no push messages on the same connection.
            return;
        };
        let (prefix, body, tail): (String, &[u8], &[u8]) = match payload {
            Payload::Key(k) => (format!("*1\r\n${}\r\n", k.len()), k, b"\r\n"),
            // The null of the tracking client's protocol, whoever receives it.
            Payload::All if my_resp == 3 => (String::new(), b"_\r\n", b""),
            Payload::All => (String::new(), b"$-1\r\n", b""),
            Payload::Proto(p) => (String::new(), p, b""),
        };
        // Sized exactly: grown piece by piece, a message with a long key would sit in an
        // allocation twice its size while it waits for its connection (whose mailbox counts
        // the message's allocation by its length).
        let mut m = BytesMut::with_capacity(head.len() + prefix.len() + body.len() + tail.len());
        m.put_slice(head);
        m.put_slice(prefix.as_bytes());
        m.put_slice(body);
        m.put_slice(tail);
        self.write(&mut st.own, out, dest, m.freeze(), after);
    }

    /// Output for `dest`: kept for its connection if it is the running client, else pushed.
    fn write(
        &self,
        own: &mut HashMap<u64, Own>,
        out: &mut Outbox,
        dest: &Arc<ClientShared>,
        bytes: Bytes,
        after: bool,
    ) {
        if scope().0 == Some(dest.id) {
            let o = own.entry(dest.id).or_default();
            if after {
                o.after.extend_from_slice(&bytes);
            } else {
                o.before.extend_from_slice(&bytes);
            }
            self.own_waiting.store(true, Ordering::Relaxed);
        } else {
            out.push((dest.clone(), bytes));
        }
    }

    /// Messages waiting for client `id`'s own connection.
    pub fn take_own(&self, id: u64) -> Option<Own> {
        if !self.own_waiting.load(Ordering::Relaxed) {
            return None;
        }
        let mut st = self.state.lock();
        let o = st.own.remove(&id);
        if st.own.is_empty() {
            self.own_waiting.store(false, Ordering::Relaxed);
        }
        o
    }

    /// Sends the keys gathered under each prefix to its BCAST clients (redis
    /// `trackingBroadcastInvalidationMessages`): one array per prefix; a NOLOOP client's
    /// leaves out the keys it changed itself.
    pub fn broadcast(&self, server: &Server) {
        if !self.bcast_waiting.load(Ordering::Relaxed)
            || !self.bcast_waiting.swap(false, Ordering::Relaxed)
        {
            return;
        }
        let mut out = Outbox::new();
        {
            let clients = server.clients.lock();
            let mut st = self.state.lock();
            let st = &mut *st;
            let mut gathered = Vec::new();
            for b in st.prefixes.values_mut() {
                if !b.keys.is_empty() {
                    gathered.push((std::mem::take(&mut b.keys), b.clients.clone()));
                }
            }
            for (keys, subscribers) in gathered {
                let all = keys_proto(&keys, None);
                for id in subscribers {
                    let noloop = st.clients.get(&id).is_some_and(|s| s.flags & NOLOOP != 0);
                    let proto = if noloop {
                        keys_proto(&keys, Some(id))
                    } else {
                        all.clone()
                    };
                    if !proto.is_empty() {
                        self.send(&clients, st, &mut out, id, Payload::Proto(&proto), false);
                    }
                }
            }
        }
        deliver(server, out);
    }

    /// Keeps the table within `tracking-table-max-keys` (redis `trackingLimitUsedSlots`):
    /// forgets random keys, invalidating them for their clients, up to an effort that grows
    /// while the table stays over the limit.
    pub fn limit(&self, server: &Server) {
        let max = self.max_keys.load(Ordering::Relaxed) as usize;
        if max == 0
            || (self.key_count.load(Ordering::Relaxed) <= max
                && !self.over_limit.load(Ordering::Relaxed))
        {
            return;
        }
        let mut out = Outbox::new();
        {
            let clients = server.clients.lock();
            let mut st = self.state.lock();
            let st = &mut *st;
            if st.on == 0 {
                return;
            }
            if st.keys.len() <= max {
                st.over_rounds = 0;
                self.over_limit.store(false, Ordering::Relaxed);
                return;
            }
            let mut effort = 100 * (st.over_rounds + 1);
            let mut under = false;
            while effort > 0 && !st.keys.is_empty() {
                effort -= 1;
                let i = rand::random_range(0..st.keys.len());
                let Some(key) = st.keys.get_index(i).map(|(k, _)| k.clone()) else {
                    break;
                };
                self.invalidate(&clients, st, &mut out, &key, None, false);
                if st.keys.len() <= max {
                    under = true;
                    break;
                }
            }
            st.over_rounds = if under { 0 } else { st.over_rounds + 1 };
            self.over_limit.store(!under, Ordering::Relaxed);
            self.update_engaged(st);
        }
        deliver(server, out);
    }
}

type Clients = std::collections::BTreeMap<u64, Arc<ClientShared>>;

/// A RESP array of `keys`, without those last changed by `except`; empty if none is left.
fn keys_proto(keys: &BTreeMap<Bytes, Option<u64>>, except: Option<u64>) -> Vec<u8> {
    let kept: Vec<&Bytes> = keys
        .iter()
        .filter(|(_, by)| except.is_none() || **by != except)
        .map(|(k, _)| k)
        .collect();
    if kept.is_empty() {
        return Vec::new();
    }
    let mut out = format!("*{}\r\n", kept.len()).into_bytes();
    for k in kept {
        out.extend_from_slice(format!("${}\r\n", k.len()).as_bytes());
        out.extend_from_slice(k);
        out.extend_from_slice(b"\r\n");
    }
    out
}
