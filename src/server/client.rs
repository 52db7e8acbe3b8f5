//! Per-connection state. `Client` is owned by the connection task; `ClientShared` is the part
//! other tasks see (CLIENT LIST/KILL, PUBLISH delivery, WATCH invalidation).

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use parking_lot::Mutex;

use crate::protocol::encode::Resp;

/// Messages delivered to a connection from elsewhere.
#[derive(Debug)]
pub enum Push {
    /// Encoded output to write as is (pub/sub message, MONITOR line), already counted in
    /// the client's pending output.
    Bytes(Bytes),
    /// CLIENT KILL or shutdown: close the connection.
    Kill,
    /// The cron's visit: resize the query and reply buffers to recent use.
    Resize,
}

/// CLIENT REPLY mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Skip the next reply only.
    Skip,
}

/// A MULTI block being queued.
#[derive(Debug, Default)]
pub struct Multi {
    pub queued: Vec<Vec<Bytes>>,
    /// A command failed to queue (unknown, arity): EXEC answers EXECABORT.
    pub error: bool,
    /// The flags of the queued commands, OR-ed (EXEC writes if one of them writes).
    pub flags: u32,
    /// The complements of their flags, OR-ed (EXEC may run stale only if all of them may).
    pub inv_flags: u32,
}

/// The part of a client visible to other tasks.
#[derive(Debug)]
pub struct ClientShared {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub fd: i32,
    pub created: Instant,
    pub name: Mutex<Option<Bytes>>,
    pub db: AtomicUsize,
    pub last_cmd: Mutex<&'static str>,
    /// Unix ms of the last command.
    pub last_interaction: AtomicI64,
    /// Set when a WATCHed key is modified (redis CLIENT_DIRTY_CAS).
    pub dirty_cas: AtomicBool,
    pub sub_count: AtomicUsize,
    pub psub_count: AtomicUsize,
    /// Shard channels (SSUBSCRIBE).
    pub ssub_count: AtomicUsize,
    pub in_multi: AtomicBool,
    pub is_replica: AtomicBool,
    pub is_master: AtomicBool,
    pub is_monitor: AtomicBool,
    /// Connected through `tls-port`.
    pub tls: AtomicBool,
    pub no_evict: AtomicBool,
    /// Memory counted for client eviction at the last measure (`server::client_mem`).
    pub mem: AtomicUsize,
    /// The part of it only the connection's task can see (MULTI, WATCH, subscriptions).
    pub own_mem: AtomicUsize,
    /// Its memory when it was evicted, until its task has freed its buffers.
    pub evicted_mem: AtomicUsize,
    pub resp: AtomicUsize,
    /// Blocked in a command (CLIENT LIST flag `b`).
    pub is_blocked: AtomicBool,
    /// The blocked command was ended by a role change: close after its reply.
    pub close_after_unblock: AtomicBool,
    /// Pending output, its limits and reply buffer size.
    pub obuf: super::output::Obuf,
    /// Query buffer: unprocessed bytes and allocated bytes (CLIENT LIST `qbuf`, `qbuf-free`).
    pub qbuf_len: AtomicUsize,
    pub qbuf_cap: AtomicUsize,
    /// A replica's read position in the replication stream (its output buffer).
    pub repl_reader: Mutex<Option<Arc<crate::replication::stream::Reader>>>,
    /// The ACL user (None: a client that may do anything, as our master's link).
    pub user: Mutex<Option<Arc<crate::acl::UserHandle>>>,
    /// What other tasks send the connection, read through its [`Pushes`].
    pub mailbox: Mailbox,
}

/// The pushes queued for a connection. A queue and the connection's waker in the client's
/// shared state rather than a tokio channel: an unbounded channel allocates its first 32-slot
/// block and a cache-padded shared part up front, 1.8 KB for each idle connection (Redis has no
/// such thing); an empty queue allocates nothing.
#[derive(Debug, Default)]
pub struct Mailbox {
    inner: Mutex<MailboxInner>,
}

#[derive(Debug, Default)]
struct MailboxInner {
    /// Each push with the bytes it adds to [`in_transit`].
    queue: VecDeque<(Push, usize)>,
    /// The task to wake when a push arrives (the connection's, once it waited for one).
    waker: Option<std::task::Waker>,
    /// The connection stopped reading its pushes: new ones are dropped.
    closed: bool,
    /// Bytes of the queue's room beyond [`QUEUE_KEEP`] slots, counted in [`in_transit`] until
    /// the drained queue gives it back.
    room_in_transit: usize,
}

/// Bytes of the pushes that own their buffer (a tracking invalidation is encoded for its one
/// receiver; a pub/sub message is shared by its subscribers), from when they are queued until
/// their connection wrote them (the copy in its output buffer stands for them meanwhile).
static IN_TRANSIT: AtomicUsize = AtomicUsize::new(0);

/// Memory held by output queued for connections that have not written it yet (see
/// [`IN_TRANSIT`]). Redis writes such output to the sockets before it runs its next command,
/// so its eviction never sees it; here another thread's command can run first.
pub fn in_transit() -> usize {
    IN_TRANSIT.load(Ordering::Relaxed)
}

fn leave_transit(bytes: usize) {
    if bytes > 0 {
        IN_TRANSIT.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// Queue slots a drained mailbox keeps.
const QUEUE_KEEP: usize = 16;

impl MailboxInner {
    /// Gives back the room a burst of pushes grew the queue to once it is empty: a queue
    /// never shrinks by itself, and ten tracking clients each kept 64 slots (3 KB) after a
    /// few dozen invalidations, memory Redis frees with each written reply block.
    fn shrink_when_drained(&mut self) {
        if self.queue.is_empty() && self.queue.capacity() > QUEUE_KEEP {
            self.queue = VecDeque::new();
            leave_transit(std::mem::take(&mut self.room_in_transit));
        }
    }

    /// Counts the room a burst of pushes grew the queue to as output in transit: ten tracking
    /// clients each grew theirs to 64 slots (3 KB) with the invalidations of one eviction
    /// loop, memory that went with their queues' drain but showed to a command on another
    /// thread before it, which evicted again.
    fn count_room(&mut self) {
        let room =
            self.queue.capacity().saturating_sub(QUEUE_KEEP) * std::mem::size_of::<(Push, usize)>();
        if room > self.room_in_transit {
            IN_TRANSIT.fetch_add(room - self.room_in_transit, Ordering::Relaxed);
            self.room_in_transit = room;
        }
    }
}

impl Mailbox {
    /// Queues `p`; false (and `p` dropped) once the connection stopped reading.
    pub fn send(&self, p: Push) -> bool {
        let mut m = self.inner.lock();
        if m.closed {
            return false;
        }
        let transit = match &p {
            // Encoded for this push alone, into an allocation of its size.
            Push::Bytes(b) if b.is_unique() => super::output::size_class(b.len()),
            _ => 0,
        };
        if transit > 0 {
            IN_TRANSIT.fetch_add(transit, Ordering::Relaxed);
        }
        m.queue.push_back((p, transit));
        m.count_room();
        let waker = m.waker.take();
        drop(m);
        if let Some(w) = waker {
            w.wake();
        }
        true
    }
}

/// The connection's end of its client's [`Mailbox`]. Dropping it closes the mailbox.
#[derive(Debug)]
pub struct Pushes {
    shared: Arc<ClientShared>,
    /// [`IN_TRANSIT`] bytes of the pushes taken and not yet reported written.
    taken: usize,
}

impl Pushes {
    pub fn new(shared: Arc<ClientShared>) -> Pushes {
        Pushes { shared, taken: 0 }
    }

    /// The next push, waiting for one. Cancel-safe: a push is taken only by the poll that
    /// returns it.
    pub async fn recv(&mut self) -> Push {
        std::future::poll_fn(|cx| {
            let mut m = self.shared.mailbox.inner.lock();
            if let Some((p, transit)) = m.queue.pop_front() {
                m.shrink_when_drained();
                self.taken += transit;
                return std::task::Poll::Ready(p);
            }
            // The task's waker is the same from one wait to the next: kept, not cloned again.
            if !m.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                m.waker = Some(cx.waker().clone());
            }
            std::task::Poll::Pending
        })
        .await
    }

    /// The next push if one is queued.
    pub fn try_recv(&mut self) -> Option<Push> {
        let mut m = self.shared.mailbox.inner.lock();
        let (p, transit) = m.queue.pop_front()?;
        m.shrink_when_drained();
        self.taken += transit;
        Some(p)
    }

    /// The pushes taken so far went out to the socket (or into the connection's counted
    /// output buffer, when the socket had no room).
    pub fn written(&mut self) {
        leave_transit(std::mem::take(&mut self.taken));
    }
}

impl Drop for Pushes {
    fn drop(&mut self) {
        self.written();
        let mut m = self.shared.mailbox.inner.lock();
        m.closed = true;
        m.waker = None;
        for (_, transit) in m.queue.drain(..) {
            leave_transit(transit);
        }
        m.shrink_when_drained();
    }
}

impl ClientShared {
    pub fn send(&self, p: Push) {
        self.mailbox.send(p);
    }

    /// The ACL user's name as CLIENT LIST shows it.
    pub fn user_name(&self) -> String {
        match &*self.user.lock() {
            Some(u) => u.name_str(),
            None => "(superuser)".into(),
        }
    }

    /// Whether this client is logged in as `user`.
    pub fn is_user(&self, user: &Arc<crate::acl::UserHandle>) -> bool {
        self.user
            .lock()
            .as_ref()
            .is_some_and(|u| Arc::ptr_eq(u, user))
    }

    /// Subscribed to any channel, pattern or shard channel (redis CLIENT_PUBSUB).
    pub fn in_pubsub(&self) -> bool {
        self.sub_count.load(Ordering::Relaxed)
            + self.psub_count.load(Ordering::Relaxed)
            + self.ssub_count.load(Ordering::Relaxed)
            > 0
    }
}

/// State owned by a connection's task.
pub struct Client {
    pub shared: Arc<ClientShared>,
    pub db: usize,
    pub resp: Resp,
    pub authenticated: bool,
    /// The ACL user (mirrored in `shared.user`); None may do anything.
    pub user: Option<Arc<crate::acl::UserHandle>>,
    pub multi: Option<Multi>,
    pub watched: Vec<(usize, Bytes)>,
    pub subs: HashSet<Bytes>,
    pub psubs: HashSet<Bytes>,
    /// Shard channels (SSUBSCRIBE).
    pub ssubs: HashSet<Bytes>,
    pub reply_mode: ReplyMode,
    /// QUIT, or a protocol error: close once the pending replies are written.
    pub close_after_reply: bool,
    /// This is the link to our master: apply silently, never refuse writes.
    pub is_master_link: bool,
    /// What a replica announced with REPLCONF before its PSYNC.
    pub replconf: ReplConf,
    /// Set by SYNC/PSYNC: the connection becomes a replica link after the current batch.
    pub takeover: Option<Takeover>,
    /// Offset of the replication stream after this client's last command (WAIT's target).
    pub woff: u64,
    /// A command that waits (WAIT): the connection resolves it before reading on.
    pub blocked: Option<Blocked>,
    /// Running the commands of an EXEC (blocking commands must not block).
    pub in_exec: bool,
    /// While EXEC runs its queue: EXEC's argv and the transaction's (commands, memory), which
    /// CLIENT INFO and ACL LOG show (redis keeps CLIENT_MULTI, the queue and EXEC's
    /// `argv_len_sum` until the queue ran).
    pub exec_view: Option<(Vec<Bytes>, (usize, usize))>,
    /// This is a stand-in running a blocked client's command for it, because a key it
    /// waits on became ready: a blocking command that still finds nothing sets `would_block`
    /// instead of blocking again.
    pub serving_blocked: bool,
    pub would_block: bool,
    /// Memory was over maxmemory when this client's script started (redis
    /// `pre_command_oom_state`).
    pub script_oom: bool,
    /// A command runs from this client's script (SORT sorts what it would not otherwise).
    pub in_script: bool,
    /// SCRIPT DEBUG YES|SYNC: the next EVAL starts a Lua debugging session.
    pub lua_debug: crate::scripting::ldb::Mode,
    /// The socket was handed to a debugging session (SCRIPT DEBUG YES): closing the connection
    /// must not shut it down, the session still talks on it.
    pub socket_handed_off: bool,
    /// A TLS connection's debugging EVAL: the session's end of the local socket pair that
    /// `scripting::ldb::tls` relays to the connection's TLS stream.
    pub debug_socket: Option<std::os::fd::OwnedFd>,
    /// The command's error reply is counted in the error stats already (a script failing with
    /// the error of a command it ran): it still counts as a failed call.
    pub error_counted: bool,
    /// The wall clock at the start of the batch of requests being run (None outside one):
    /// commands take their time from it and their own monotonic reading.
    pub clock: Option<crate::util::WallAnchor>,
}

/// A command whose reply comes later.
#[derive(Debug)]
pub enum Blocked {
    /// WAIT: until `numreplicas` replicas acknowledged `target`, or the timeout (0 = none).
    Wait {
        target: u64,
        numreplicas: i64,
        timeout_ms: u64,
    },
    /// A blocking pop waiting on its keys, registered in `Server::blocking`.
    Keys(std::sync::Arc<super::blocking::Waiter>),
    /// SHUTDOWN waiting for replicas: until the server exits (the connection closes) or the
    /// shutdown is cancelled (its `generation` moves on: an error reply).
    Shutdown {
        generation: u64,
        /// Registered by the command itself, so INFO counts it blocked at once.
        waiter: std::sync::Arc<super::blocking::Waiter>,
    },
}

/// REPLCONF settings of a connection that is about to become a replica.
#[derive(Debug, Clone, Default)]
pub struct ReplConf {
    pub listening_port: Option<u16>,
    pub ip_address: Option<String>,
    pub capa_eof: bool,
    pub capa_psync2: bool,
    /// Parts of the RDB left out by `REPLCONF rdb-filter-only` (redis `slave_req`): the
    /// `replication::master::REQ_*` bits.
    pub req: u8,
}

/// A connection handed over to the replication master side.
#[derive(Debug, Clone)]
pub enum Takeover {
    /// `PSYNC <replid> <offset>` (`?` and -1 for a full sync).
    Psync { replid: String, offset: i64 },
    /// Legacy `SYNC`: full sync, no +FULLRESYNC line, no ids.
    Sync,
}

impl Client {
    pub fn new(shared: Arc<ClientShared>, authenticated: bool) -> Client {
        Client {
            shared,
            db: 0,
            resp: Resp::V2,
            authenticated,
            user: None,
            multi: None,
            watched: Vec::new(),
            subs: HashSet::new(),
            psubs: HashSet::new(),
            ssubs: HashSet::new(),
            reply_mode: ReplyMode::On,
            close_after_reply: false,
            is_master_link: false,
            replconf: ReplConf::default(),
            takeover: None,
            woff: 0,
            blocked: None,
            in_exec: false,
            exec_view: None,
            serving_blocked: false,
            would_block: false,
            script_oom: false,
            in_script: false,
            lua_debug: Default::default(),
            socket_handed_off: false,
            debug_socket: None,
            error_counted: false,
            clock: None,
        }
    }

    /// The socket a Lua debugging session talks on: the connection's own, or a TLS
    /// connection's relayed socket pair (none outside a relayed EVAL: -1, "no socket"), as
    /// the session's bytes must go through the connection's TLS records.
    pub fn debug_fd(&self) -> i32 {
        use std::os::fd::AsRawFd;
        match &self.debug_socket {
            Some(fd) => fd.as_raw_fd(),
            None if self.shared.tls.load(std::sync::atomic::Ordering::Relaxed) => -1,
            None => self.shared.fd,
        }
    }

    pub fn id(&self) -> u64 {
        self.shared.id
    }

    /// Subscribed to any channel, pattern or shard channel (RESP2 then restricts commands).
    pub fn in_pubsub(&self) -> bool {
        !self.subs.is_empty() || !self.psubs.is_empty() || !self.ssubs.is_empty()
    }

    /// Logs the client in as `user`.
    pub fn set_user(&mut self, user: Option<Arc<crate::acl::UserHandle>>) {
        *self.shared.user.lock() = user.clone();
        self.user = user;
    }

    pub fn select(&mut self, db: usize) {
        self.db = db;
        self.shared.db.store(db, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> Arc<ClientShared> {
        crate::server::connection::new_shared(1, String::new(), String::new(), -1)
    }

    #[tokio::test]
    async fn pushes_arrive_in_order_whether_sent_before_or_while_waiting() {
        let c = shared();
        let mut rx = Pushes::new(c.clone());
        assert!(c.mailbox.send(Push::Bytes(Bytes::from_static(b"a"))));
        assert!(c.mailbox.send(Push::Resize));
        assert!(matches!(rx.recv().await, Push::Bytes(b) if &b[..] == b"a"));
        assert!(matches!(rx.try_recv(), Some(Push::Resize)));
        assert!(rx.try_recv().is_none());
        let sender = c.clone();
        let later = tokio::spawn(async move {
            tokio::task::yield_now().await;
            sender.send(Push::Kill);
        });
        assert!(matches!(rx.recv().await, Push::Kill));
        assert!(later.await.is_ok());
    }

    #[tokio::test]
    async fn a_cancelled_wait_loses_nothing() {
        let c = shared();
        let mut rx = Pushes::new(c.clone());
        // A wait given up (a select! whose other branch won) takes nothing from the queue.
        tokio::select! {
            biased;
            _ = std::future::ready(()) => {}
            _ = rx.recv() => unreachable!(),
        }
        c.send(Push::Resize);
        assert!(matches!(rx.recv().await, Push::Resize));
    }

    #[test]
    fn pushes_that_own_their_buffer_are_in_transit_until_written() {
        let c = shared();
        let mut rx = Pushes::new(c.clone());
        let own = Bytes::from(vec![b'x'; 1038]);
        let shared_msg = Bytes::from(vec![b'y'; 100]);
        assert!(c.mailbox.send(Push::Bytes(own)));
        assert!(c.mailbox.send(Push::Bytes(shared_msg.clone())));
        assert_eq!(c.mailbox.inner.lock().queue[0].1, 1280);
        assert_eq!(c.mailbox.inner.lock().queue[1].1, 0);
        assert!(rx.try_recv().is_some());
        assert!(rx.try_recv().is_some());
        assert_eq!(rx.taken, 1280);
        rx.written();
        assert_eq!(rx.taken, 0);
    }

    #[test]
    fn a_drained_queue_gives_its_room_back() {
        let c = shared();
        let mut rx = Pushes::new(c.clone());
        for _ in 0..100 {
            c.send(Push::Resize);
        }
        // The room beyond the slots a queue keeps is output in transit while it is held.
        let room = c.mailbox.inner.lock().room_in_transit;
        assert!(room >= (100 - QUEUE_KEEP) * std::mem::size_of::<(Push, usize)>());
        while rx.try_recv().is_some() {}
        assert_eq!(c.mailbox.inner.lock().queue.capacity(), 0);
        assert_eq!(c.mailbox.inner.lock().room_in_transit, 0);
    }

    #[test]
    fn pushes_to_a_connection_gone_are_dropped() {
        let c = shared();
        drop(Pushes::new(c.clone()));
        assert!(!c.mailbox.send(Push::Bytes(Bytes::from_static(b"x"))));
        assert!(c.mailbox.inner.lock().queue.is_empty());
    }
}
