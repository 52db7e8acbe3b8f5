//! Blocked clients (redis `blocked.c`): commands whose reply comes later.
//!
//! A blocking pop (BLPOP, BLMOVE, BZPOPMIN, BLMPOP ...) that finds nothing registers a
//! [`Waiter`] on each of its keys while the command still holds the keys' shard locks, so no
//! write can slip between "found nothing" and "waiting". A write that touches a key with
//! waiters makes it *ready*; right after that command (still before its reply goes out, as
//! redis `handleClientsBlockedOnKeys` runs before replies are written) the writer's thread
//! serves the ready keys' waiters in the order they blocked, each by running the waiter's
//! command in its single-key form against that key. Serving may make more keys ready (the
//! push side of BLMOVE): they are served in the same loop. A waiter's own task only waits:
//! for its reply, its timeout, CLIENT UNBLOCK, CLIENT KILL, its peer closing, or shutdown.
//!
//! WAIT blocks too (it polls the replicas' acknowledgements); it is registered by client id
//! only, so CLIENT UNBLOCK and INFO's `blocked_clients` see it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::sync::Notify;

use super::client::{Blocked, Client, ClientShared, Push};
use super::Server;
use crate::commands::REGISTRY;
use crate::keyspace::{Db, Value};
use crate::protocol::encode::Resp;
use crate::protocol::Reply;

/// The error a client unblocked with `CLIENT UNBLOCK id ERROR` gets.
pub const UNBLOCKED_BY_CLIENT: &str = "UNBLOCKED client unblocked via CLIENT UNBLOCK";
/// The error blocked clients get when the server turns into a replica (then they are closed).
pub const UNBLOCKED_ROLE_CHANGE: &str =
    "UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)";

/// The type of value a key-blocked command pops from: a ready key of another type does not
/// serve it (redis serves list waiters only from lists, zset waiters only from sorted sets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    List,
    ZSet,
    /// XREAD / XREADGROUP: the command decides (it is served only by new entries, and
    /// XREADGROUP fails once its key is no longer a stream).
    Stream,
}

impl Want {
    fn matches(self, v: &Value) -> bool {
        matches!(
            (self, v),
            (Want::List, Value::List(_)) | (Want::ZSet, Value::ZSet(_))
        )
    }
}

/// How a wait ended, as seen by whoever ends it first.
#[derive(Debug)]
enum WaitState {
    Waiting,
    /// Served, or unblocked with an error: the reply to send.
    Done(Reply),
    /// CLIENT UNBLOCK .. TIMEOUT: answer as if the timeout had passed.
    TimedOut,
    /// The waiter's task gave up (timeout, disconnect): nobody may serve it any more.
    Gone,
}

/// One blocked client.
#[derive(Debug)]
pub struct Waiter {
    pub client: Arc<ClientShared>,
    /// Registry id of the blocked command (for its stats when it completes).
    pub cmd_id: usize,
    pub db: usize,
    /// The distinct keys it waits on (empty for WAIT).
    pub keys: Vec<Bytes>,
    /// The blocking command as the client sent it.
    pub argv: Vec<Bytes>,
    pub resp: Resp,
    pub want: Option<Want>,
    pub deadline: Option<Instant>,
    pub timeout_reply: Reply,
    /// Microseconds spent running the command when it was served.
    usec: AtomicU64,
    state: Mutex<WaitState>,
    wake: Notify,
}

impl Waiter {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: Arc<ClientShared>,
        cmd_id: usize,
        db: usize,
        keys: Vec<Bytes>,
        argv: Vec<Bytes>,
        resp: Resp,
        want: Option<Want>,
        timeout_ms: u64,
        timeout_reply: Reply,
    ) -> Waiter {
        let mut distinct: Vec<Bytes> = Vec::with_capacity(keys.len());
        for k in keys {
            if !distinct.contains(&k) {
                distinct.push(k);
            }
        }
        Waiter {
            client,
            cmd_id,
            db,
            keys: distinct,
            argv,
            resp,
            want,
            deadline: (timeout_ms > 0).then(|| Instant::now() + Duration::from_millis(timeout_ms)),
            timeout_reply,
            usec: AtomicU64::new(0),
            state: Mutex::new(WaitState::Waiting),
            wake: Notify::new(),
        }
    }

    pub fn client_id(&self) -> u64 {
        self.client.id
    }

    /// Adds time spent running its command (when it blocked, and when it is served).
    pub fn add_usec(&self, usec: u64) {
        self.usec.fetch_add(usec, Ordering::Relaxed);
    }
}

#[derive(Default)]
struct Inner {
    by_key: HashMap<(usize, Bytes), VecDeque<Arc<Waiter>>>,
    by_client: HashMap<u64, Arc<Waiter>>,
}

/// Every blocked client of the server. Commands check [`Blocking::any`] (one atomic load)
/// before looking for ready keys.
#[derive(Default)]
pub struct Blocking {
    inner: Mutex<Inner>,
    count: AtomicUsize,
    /// Clients whose command waits for a CLIENT PAUSE to end (redis `BLOCKED_POSTPONE`).
    postponed: AtomicUsize,
}

/// A client held by CLIENT PAUSE, counted among the blocked (INFO `blocked_clients`, CLIENT
/// LIST flag `b`) while it lives.
pub struct Postponed<'a> {
    blocking: &'a Blocking,
    client: Arc<ClientShared>,
}

impl Drop for Postponed<'_> {
    fn drop(&mut self) {
        self.blocking.postponed.fetch_sub(1, Ordering::AcqRel);
        self.client.is_blocked.store(false, Ordering::Release);
    }
}

impl Blocking {
    /// Whether any client is blocked (INFO `blocked_clients` > 0).
    pub fn any(&self) -> bool {
        self.count.load(Ordering::Acquire) > 0
    }

    /// INFO `blocked_clients`: waiting in a blocking command, or for a pause to end.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::Acquire) + self.postponed.load(Ordering::Acquire)
    }

    /// Counts `client` as blocked until the returned guard drops (CLIENT PAUSE).
    pub fn postpone(&self, client: &Arc<ClientShared>) -> Postponed<'_> {
        self.postponed.fetch_add(1, Ordering::AcqRel);
        client.is_blocked.store(true, Ordering::Release);
        Postponed {
            blocking: self,
            client: client.clone(),
        }
    }

    /// INFO `clients_in_timeout_table`: blocked clients with a timeout.
    pub fn with_timeout(&self) -> usize {
        let inner = self.inner.lock();
        inner
            .by_client
            .values()
            .filter(|w| w.deadline.is_some())
            .count()
    }

    /// Registers a waiter on its keys (and by client id). Called with the keys' shards locked.
    pub fn register(&self, w: Arc<Waiter>) {
        let mut inner = self.inner.lock();
        for k in &w.keys {
            inner
                .by_key
                .entry((w.db, k.clone()))
                .or_default()
                .push_back(w.clone());
        }
        w.client.is_blocked.store(true, Ordering::Release);
        inner.by_client.insert(w.client_id(), w);
        self.count.store(inner.by_client.len(), Ordering::Release);
    }

    fn remove(&self, w: &Waiter) {
        let mut inner = self.inner.lock();
        for k in &w.keys {
            let slot = (w.db, k.clone());
            if let Some(q) = inner.by_key.get_mut(&slot) {
                q.retain(|x| !std::ptr::eq(x.as_ref(), w));
                if q.is_empty() {
                    inner.by_key.remove(&slot);
                }
            }
        }
        if inner
            .by_client
            .get(&w.client_id())
            .is_some_and(|x| std::ptr::eq(x.as_ref(), w))
        {
            inner.by_client.remove(&w.client_id());
            w.client.is_blocked.store(false, Ordering::Release);
        }
        self.count.store(inner.by_client.len(), Ordering::Release);
    }

    /// Whether some client waits on `key` of database `db`.
    pub fn is_waited(&self, db: usize, key: &Bytes) -> bool {
        self.inner.lock().by_key.contains_key(&(db, key.clone()))
    }

    /// The waited-on keys among `keys` (each once, in the order given), plus every waited-on
    /// key of the databases in `whole_dbs` (SWAPDB: the keys there may now exist).
    pub fn ready_among(&self, keys: &[(usize, Bytes)], whole_dbs: &[usize]) -> Vec<(usize, Bytes)> {
        let inner = self.inner.lock();
        let mut out: Vec<(usize, Bytes)> = Vec::new();
        for k in keys {
            if inner.by_key.contains_key(k) && !out.contains(k) {
                out.push(k.clone());
            }
        }
        for d in whole_dbs {
            for k in inner.by_key.keys() {
                if k.0 == *d && !out.contains(k) {
                    out.push(k.clone());
                }
            }
        }
        out
    }

    fn queue(&self, db: usize, key: &Bytes) -> Vec<Arc<Waiter>> {
        self.inner
            .lock()
            .by_key
            .get(&(db, key.clone()))
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// CLIENT UNBLOCK: ends the wait of client `id`, with the timeout reply or an error.
    /// Returns whether that client was blocked.
    pub fn unblock(&self, id: u64, error: bool) -> bool {
        let Some(w) = self.inner.lock().by_client.get(&id).cloned() else {
            return false;
        };
        let done = if error {
            WaitState::Done(Reply::Error(UNBLOCKED_BY_CLIENT.into()))
        } else {
            WaitState::TimedOut
        };
        self.finish(&w, done)
    }

    /// Ends every wait with the role-change error (redis `disconnectAllBlockedClients`); the
    /// clients are closed after that reply.
    pub fn unblock_all_for_role_change(&self) {
        let all: Vec<Arc<Waiter>> = self.inner.lock().by_client.values().cloned().collect();
        for w in all {
            if self.finish(
                &w,
                WaitState::Done(Reply::Error(UNBLOCKED_ROLE_CHANGE.into())),
            ) {
                w.client.close_after_unblock.store(true, Ordering::Release);
            }
        }
    }

    /// Moves a waiting waiter to `to`, unregisters and wakes it. False if it was not waiting.
    fn finish(&self, w: &Arc<Waiter>, to: WaitState) -> bool {
        let mut st = w.state.lock();
        if !matches!(*st, WaitState::Waiting) {
            return false;
        }
        *st = to;
        drop(st);
        self.remove(w);
        w.wake.notify_one();
        true
    }
}

/// Serves the clients waiting on `ready` keys, in the order they blocked, and the keys their
/// commands make ready in turn. Called by the command that made them ready, with its locks
/// still held (`db`), before its reply goes out: no other client can come between the write
/// and the waiters it serves, as in redis. A waiter whose command needs more shards gets them
/// without waiting when they are free; otherwise every lock is released and the whole set
/// taken again in order. Returns the waiters served, for [`log_served`].
pub fn serve_ready<'k>(
    server: &'k Server,
    mut db: Db<'k>,
    ready: Vec<(usize, Bytes)>,
) -> Vec<Arc<Waiter>> {
    let mut served_all = Vec::new();
    let mut ready: VecDeque<(usize, Bytes)> = ready.into();
    let home = db.index;
    // Keys are looked up at serving time (a transaction may have slept past an expiry).
    db.now_ms = crate::util::now_ms();
    while let Some((dbi, key)) = ready.pop_front() {
        for w in server.blocking.queue(dbi, &key) {
            let Some(want) = w.want else { continue };
            let argv = crate::commands::blocking::single_key_form(&w.argv, &key);
            let Ok((_, spec)) = super::dispatch::resolve(&argv) else {
                continue;
            };
            let shards: Vec<usize> = spec
                .key_positions(&argv)
                .into_iter()
                .map(|p| server.keyspace.shard_of(&argv[p]))
                .collect();
            if !db.locked.try_extend(&shards) {
                let mut all = db.locked.held();
                all.extend(shards);
                let mode = db.expire_mode;
                drop(db);
                db = Db::new(
                    server.keyspace.lock_shards(all),
                    home,
                    crate::util::now_ms(),
                    mode,
                );
            }
            // The waiter's command runs as its client's (redis `current_client`).
            let _running = super::tracking::Scope::enter(super::tracking::Running {
                client: Some(w.client.id),
                in_call: true,
                by: Some(w.client.id),
            });
            let served = serve_one(server, &mut db, &w, want, spec, &argv, &key);
            if matches!(served, Served::Yes) {
                served_all.push(w.clone());
            }
            // What it changed (a pop, the push of BLMOVE, or just the lazy expiry of `key`)
            // goes out now, and may make more keys ready.
            for k in super::dispatch::publish_effects(server, &mut db, true) {
                if !ready.contains(&k) {
                    ready.push_back(k);
                }
            }
            if matches!(served, Served::KeyUnusable) {
                break;
            }
        }
    }
    served_all
}

/// Logs served blocked commands in the slowlog as their clients sent them, after the command
/// that served them (redis `updateStatsOnUnblock`); one that timed out is never logged.
pub fn log_served(server: &Server, served: &[Arc<Waiter>]) {
    for w in served {
        if let Ok((_, spec)) = super::dispatch::resolve(&w.argv) {
            let usec = w.usec.load(Ordering::Relaxed);
            super::dispatch::log_slow(server, &w.client, spec, &w.argv, usec);
        }
    }
}

enum Served {
    Yes,
    /// This waiter could not be served (already gone, wants another type ...).
    Skipped,
    /// The key is missing or empty: nobody else can be served from it now.
    KeyUnusable,
}

/// Runs waiter `w`'s command in its single-key form `argv` on `key` (whose shards `db` holds).
fn serve_one<'k>(
    server: &'k Server,
    db: &mut Db<'k>,
    w: &Arc<Waiter>,
    want: Want,
    spec: &crate::commands::Spec,
    argv: &[Bytes],
    key: &Bytes,
) -> Served {
    let mut st = w.state.lock();
    if !matches!(*st, WaitState::Waiting) {
        return Served::Skipped;
    }
    // A write lookup (redis `lookupKeyWrite`): expires the key if due, counts no hit.
    let (hits, misses) = (db.stats.hits, db.stats.misses);
    let usable = match db.get_no_touch_in(w.db, key) {
        _ if want == Want::Stream => None,
        Some(v) if want.matches(v) => None,
        Some(Value::List(_)) | Some(Value::ZSet(_)) => Some(Served::Skipped),
        _ => Some(Served::KeyUnusable),
    };
    (db.stats.hits, db.stats.misses) = (hits, misses);
    if let Some(not) = usable {
        return not;
    }
    let mut client = Client::new(w.client.clone(), true);
    client.select(w.db);
    client.resp = w.resp;
    client.serving_blocked = true;
    let home = db.index;
    db.index = w.db;
    let start = Instant::now();
    let result = {
        let mut cx = crate::commands::Ctx {
            argv,
            db: &mut *db,
            client: &mut client,
            server,
        };
        (spec.handler)(&mut cx)
    };
    db.index = home;
    if client.would_block {
        return Served::Skipped;
    }
    w.add_usec(start.elapsed().as_micros() as u64);
    super::notify::after_command(server, spec.name, argv, db, 0, 0);
    let reply = match result {
        Ok(r) => r,
        Err(e) => Reply::Error(e.0),
    };
    *st = WaitState::Done(reply);
    drop(st);
    server.blocking.remove(w);
    w.wake.notify_one();
    Served::Yes
}

/// Counts a completed blocked command in its stats (calls, time spent serving it, failures,
/// errorstats), as redis `updateStatsOnUnblock`: a command that blocked is counted once, when
/// it ends.
fn account(server: &Server, w: &Waiter, reply: &Reply) {
    let failed = matches!(reply, Reply::Error(_));
    if let Reply::Error(e) = reply {
        server.stats.count_error(e);
    }
    REGISTRY.count(w.cmd_id, w.usec.load(Ordering::Relaxed), failed);
}

/// What the connection does after a blocked command ends.
pub enum Outcome {
    /// Send this reply and read on.
    Reply(Reply),
    /// Send this reply, then close (the role changed under a blocked client).
    ReplyAndClose(Reply),
    /// The client is gone (closed its end, was killed) or the server stops: close.
    Close,
}

/// Waits until a blocked command can answer. Meanwhile the connection keeps reading (bytes
/// queue in `inbuf` for after the reply; end of stream means the client left), delivers
/// pushes (pub/sub messages to a RESP3 client), and obeys CLIENT KILL and shutdown.
pub async fn resolve<S>(
    server: &Server,
    client: &mut Client,
    blocked: Blocked,
    stream: &mut S,
    inbuf: &mut BytesMut,
    rx: &mut super::client::Pushes,
) -> Outcome
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut shutdown = server.shutdown_tx.subscribe();
    let waiter = match &blocked {
        Blocked::Keys(w) => w.clone(),
        Blocked::Wait { timeout_ms, .. } => register_keyless(server, client, "wait", *timeout_ms),
        Blocked::Shutdown { waiter, .. } => waiter.clone(),
    };
    let mut out = BytesMut::new();
    loop {
        if let Blocked::Wait {
            target,
            numreplicas,
            ..
        } = &blocked
        {
            let acked = crate::replication::master::acked(server, *target) as i64;
            if acked >= *numreplicas
                || waiter.deadline.is_some_and(|d| Instant::now() >= d)
                || server.is_shutting_down()
            {
                server
                    .blocking
                    .finish(&waiter, WaitState::Done(Reply::Int(acked)));
            }
        }
        if let Blocked::Shutdown { generation, .. } = &blocked {
            if server.shutdown.generation() != *generation {
                let e = Reply::Error("ERR Errors trying to SHUTDOWN. Check logs.".into());
                server.blocking.finish(&waiter, WaitState::Done(e));
            }
        }
        {
            let mut st = waiter.state.lock();
            let reply = match std::mem::replace(&mut *st, WaitState::Gone) {
                WaitState::Waiting => {
                    *st = WaitState::Waiting;
                    None
                }
                WaitState::Done(r) => Some(r),
                WaitState::TimedOut => Some(timeout_reply(server, &blocked, &waiter)),
                WaitState::Gone => Some(timeout_reply(server, &blocked, &waiter)),
            };
            if let Some(r) = reply {
                drop(st);
                account(server, &waiter, &r);
                if waiter
                    .client
                    .close_after_unblock
                    .swap(false, Ordering::AcqRel)
                {
                    return Outcome::ReplyAndClose(r);
                }
                return Outcome::Reply(r);
            }
        }
        let poll = matches!(blocked, Blocked::Wait { .. } | Blocked::Shutdown { .. });
        let sleep = async {
            match (waiter.deadline, poll) {
                (_, true) => tokio::time::sleep(Duration::from_millis(5)).await,
                (Some(d), false) => tokio::time::sleep_until(d.into()).await,
                (None, false) => std::future::pending::<()>().await,
            }
        };
        if inbuf.capacity() - inbuf.len() < 1024 {
            inbuf.reserve(16 * 1024);
        }
        tokio::select! {
            _ = waiter.wake.notified() => {}
            _ = sleep => {
                if !poll {
                    server.blocking.finish(&waiter, WaitState::TimedOut);
                }
            }
            r = stream.read_buf(inbuf) => match r {
                Ok(n) if n > 0 => server.stats.net_input_bytes.add(n as u64),
                _ => {
                    give_up(server, &waiter);
                    return Outcome::Close;
                }
            },
            p = rx.recv() => match p {
                Push::Bytes(b) => {
                    crate::server::output::take_push(&client.shared, &b, &mut out);
                    if crate::server::output::flush(server, &client.shared, stream, &mut out, &mut 0, rx).await.is_err() {
                        give_up(server, &waiter);
                        return Outcome::Close;
                    }
                }
                Push::Resize => {}
                Push::Kill => {
                    give_up(server, &waiter);
                    return Outcome::Close;
                }
            },
            _ = shutdown.changed() => {
                give_up(server, &waiter);
                return Outcome::Close;
            }
        }
    }
}

/// Registers a SHUTDOWN caller waiting for replicas (see `Blocked::Shutdown`).
pub fn shutdown_waiter(server: &Server, client: &Client) -> Arc<Waiter> {
    register_keyless(server, client, "shutdown", 0)
}

/// Registers a client blocked on no key (WAIT, SHUTDOWN), so INFO counts it blocked.
fn register_keyless(server: &Server, client: &Client, cmd: &str, timeout_ms: u64) -> Arc<Waiter> {
    let w = Arc::new(Waiter::new(
        client.shared.clone(),
        REGISTRY.id_of(cmd).unwrap_or(0),
        client.db,
        Vec::new(),
        Vec::new(),
        client.resp,
        None,
        timeout_ms,
        Reply::Nil,
    ));
    server.blocking.register(w.clone());
    w
}

/// The reply of a wait that timed out (or was unblocked with TIMEOUT).
fn timeout_reply(server: &Server, blocked: &Blocked, w: &Waiter) -> Reply {
    match blocked {
        Blocked::Wait { target, .. } => {
            Reply::Int(crate::replication::master::acked(server, *target) as i64)
        }
        Blocked::Keys(_) | Blocked::Shutdown { .. } => w.timeout_reply.clone(),
    }
}

/// The waiter's task leaves (disconnect, kill, shutdown): nobody may serve it any more.
fn give_up(server: &Server, w: &Arc<Waiter>) {
    server.blocking.finish(w, WaitState::Gone);
}
