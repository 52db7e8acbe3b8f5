//! Per-client output buffers as Redis accounts and limits them (redis `networking.c`: the
//! reply buffer, the reply list, `client-output-buffer-limit`).
//!
//! A client's pending output is every byte handed to it and not yet accepted by its socket:
//! pushes queued on its channel (pub/sub messages, MONITOR lines), counted by whoever queues
//! them, plus the replies its own task handed to the socket and the socket did not take yet
//! (they stay at the front of the connection's buffer while it reads more requests). The
//! replies of a batch still being built live in the connection's buffer and are checked
//! against the limits as each one is added, so a reply that overflows is never written (Redis
//! frees such a client before its write handler runs).
//!
//! Redis keeps the first `rbs` bytes in the client's reply buffer and the rest in a list of
//! 16 KiB blocks, each taking over its whole 20 KiB allocation; `omem` (and the limits) count
//! the list's blocks with their headers. [`layout`] derives the same figures from the pending
//! byte count. Replicas read the shared replication stream: their pending output is how far
//! they are behind its end (`replication::stream` checks their limits as it grows).
//!
//! A client over a limit is closed asynchronously: it is flagged, its task is woken through
//! its channel, and nothing more is written to it.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};

use bytes::{Buf, Bytes, BytesMut};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::client::{ClientShared, Push, Pushes};
use super::Server;

/// Redis's reply buffer size (PROTO_REPLY_CHUNK_BYTES) and the size of a reply-list block.
pub const REPLY_CHUNK_BYTES: usize = 16 * 1024;
/// Data bytes of one reply-list block: 16 KiB plus a 16-byte header is served from jemalloc's
/// 20 KiB size class, and the block uses all of it.
const BLOCK_USABLE: usize = 20 * 1024 - 16;
/// What `omem` adds per block: the block header and its list node.
const BLOCK_OVERHEAD: usize = 16 + 24;

/// The limit classes of `client-output-buffer-limit` (redis `getClientType`; the master link
/// counts as normal, MONITOR clients as normal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Normal = 0,
    Replica = 1,
    Pubsub = 2,
}

/// The output state of a client that other tasks read and update.
#[derive(Debug)]
pub struct Obuf {
    /// Bytes handed to the client and not yet accepted by its socket.
    pending: AtomicUsize,
    /// Unix ms when the soft limit was first seen reached, 0 when under it.
    soft_since_ms: AtomicI64,
    /// Scheduled to be closed (redis CLIENT_CLOSE_ASAP): nothing more is written to it.
    close_asap: AtomicBool,
    /// The reply buffer's size (CLIENT LIST `rbs`).
    pub rbs: AtomicUsize,
    /// The most of it a batch of replies used since the last peak reset (CLIENT LIST `rbp`).
    pub rbp: AtomicUsize,
    /// Where the allocation of the connection's buffer starts and its size, as last seen by
    /// [`note_alloc`] (only the connection's task uses them).
    alloc_start: AtomicUsize,
    alloc_size: AtomicUsize,
    /// Bytes of that allocation that the client's memory figure does not count otherwise:
    /// room past the buffer's contents beyond the reply buffer's size, and the part at its
    /// front already written (see [`note_alloc`]).
    pub slack: AtomicUsize,
}

impl Default for Obuf {
    fn default() -> Self {
        Obuf {
            pending: AtomicUsize::new(0),
            soft_since_ms: AtomicI64::new(0),
            close_asap: AtomicBool::new(false),
            rbs: AtomicUsize::new(REPLY_CHUNK_BYTES),
            // Redis starts the peak at the buffer's size (redis `createClient`).
            rbp: AtomicUsize::new(REPLY_CHUNK_BYTES),
            alloc_start: AtomicUsize::new(0),
            alloc_size: AtomicUsize::new(0),
            slack: AtomicUsize::new(0),
        }
    }
}

impl Obuf {
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    pub fn closing(&self) -> bool {
        self.close_asap.load(Ordering::Acquire)
    }

    /// Flags the client to be closed without writing anything more; false if it already was.
    pub fn begin_close(&self) -> bool {
        !self.close_asap.swap(true, Ordering::AcqRel)
    }
}

/// `client-output-buffer-limit` of each class, mirrored for the paths that check them, and
/// the reply buffer resizing knobs of DEBUG REPLYBUFFER.
#[derive(Debug)]
pub struct Limits {
    hard: [AtomicU64; 3],
    soft: [AtomicU64; 3],
    soft_secs: [AtomicU64; 3],
    /// Milliseconds between reply buffer peak resets; -1: never.
    pub peak_reset_ms: AtomicI64,
    /// Whether the cron resizes reply buffers.
    pub resizing: AtomicBool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            hard: Default::default(),
            soft: Default::default(),
            soft_secs: Default::default(),
            peak_reset_ms: AtomicI64::new(PEAK_RESET_DEFAULT_MS),
            resizing: AtomicBool::new(true),
        }
    }
}

/// Redis's REPLY_BUFFER_DEFAULT_PEAK_RESET_TIME.
pub const PEAK_RESET_DEFAULT_MS: i64 = 5000;
/// Smallest reply buffer (redis PROTO_REPLY_MIN_BYTES).
const REPLY_MIN_BYTES: usize = 1024;

/// The reply buffer of a connection, resized by the cron to recent use as Redis resizes its
/// static reply buffer (`clientsCronResizeOutputBuffer`): halved towards the peak when the
/// peak stays under half of it, doubled (up to 16 KiB) when a batch filled it.
#[derive(Debug)]
pub struct ReplyBuf {
    peak: usize,
    last_reset_ms: i64,
    /// The connection's buffer grew past the reply buffer's size since it was last trimmed.
    grown: bool,
}

impl Default for ReplyBuf {
    /// A new client's peak is its whole buffer, so the cron's first visit keeps the size and
    /// resets the peak (redis `createClient` stamps the reset time in seconds, which the cron
    /// compares with milliseconds); the buffer shrinks from the second visit on.
    fn default() -> Self {
        ReplyBuf {
            peak: REPLY_CHUNK_BYTES,
            last_reset_ms: 0,
            grown: false,
        }
    }
}

impl ReplyBuf {
    /// Records a batch of `len` reply bytes about to be written.
    pub fn note(&mut self, c: &ClientShared, len: usize) {
        let rbs = c.obuf.rbs.load(Ordering::Relaxed);
        let used = len.min(rbs);
        if used > self.peak {
            self.peak = used;
            c.obuf.rbp.store(used, Ordering::Relaxed);
        }
        self.grown |= len > rbs.max(REPLY_CHUNK_BYTES);
    }

    /// Once all of `out` went out, gives back the allocation a big batch grew it to. Redis
    /// frees each reply-list block as its socket takes it, keeping only the reply buffer; an
    /// emptied buffer kept at its biggest size would stay in `used_memory` uncounted by the
    /// client's memory (20 clients after one 100 KB MGET each held 2.5 MB, and keys were
    /// evicted before any client under `maxmemory-clients`).
    pub fn trim(&mut self, c: &ClientShared, out: &mut BytesMut) {
        if self.grown && out.is_empty() {
            *out = BytesMut::with_capacity(c.obuf.rbs.load(Ordering::Relaxed));
            self.grown = false;
            note_alloc(c, out);
        }
    }

    /// The cron's visit; `out` (empty between batches) gets the new size's capacity.
    pub fn resize(&mut self, server: &Server, c: &ClientShared, out: &mut BytesMut) {
        self.trim(c, out);
        let limits = &server.hot.obuf;
        if !limits.resizing.load(Ordering::Relaxed) {
            return;
        }
        let rbs = c.obuf.rbs.load(Ordering::Relaxed);
        let new = if rbs / 2 >= REPLY_MIN_BYTES && self.peak < rbs / 2 {
            REPLY_MIN_BYTES.max(self.peak + 1)
        } else if rbs * 2 < REPLY_CHUNK_BYTES * 2 && self.peak == rbs {
            REPLY_CHUNK_BYTES.min(rbs * 2)
        } else {
            0
        };
        let now = crate::util::now_ms();
        let reset = limits.peak_reset_ms.load(Ordering::Relaxed);
        if reset >= 0 && now - self.last_reset_ms >= reset {
            self.peak = 0;
            self.last_reset_ms = now;
            c.obuf.rbp.store(0, Ordering::Relaxed);
        }
        if new != 0 {
            c.obuf.rbs.store(new, Ordering::Relaxed);
            // Only ever smaller: a connection's buffer starts empty and grows to what its
            // replies need (an idle client holds no more than its last batch took).
            if out.is_empty() && out.capacity() > new {
                *out = BytesMut::with_capacity(new);
            }
            note_alloc(c, out);
        }
    }
}

impl Limits {
    pub fn load(&self, c: &crate::config::ClientOutputBufferLimits) {
        for (i, l) in [c.normal, c.replica, c.pubsub].iter().enumerate() {
            self.hard[i].store(l.hard_bytes, Ordering::Relaxed);
            self.soft[i].store(l.soft_bytes, Ordering::Relaxed);
            self.soft_secs[i].store(l.soft_seconds, Ordering::Relaxed);
        }
    }

    /// (hard, soft, soft seconds) of a class.
    pub fn of(&self, class: Class) -> (u64, u64, u64) {
        let i = class as usize;
        (
            self.hard[i].load(Ordering::Relaxed),
            self.soft[i].load(Ordering::Relaxed),
            self.soft_secs[i].load(Ordering::Relaxed),
        )
    }
}

/// The limit class of a client.
pub fn class(c: &ClientShared) -> Class {
    if c.is_master.load(Ordering::Relaxed) {
        Class::Normal
    } else if c.is_replica.load(Ordering::Relaxed) && !c.is_monitor.load(Ordering::Relaxed) {
        Class::Replica
    } else if c.in_pubsub() {
        Class::Pubsub
    } else {
        Class::Normal
    }
}

/// (obl, oll, omem) of `pending` bytes with a reply buffer of `rbs` bytes.
pub fn layout(pending: usize, rbs: usize) -> (usize, usize, usize) {
    let obl = pending.min(rbs);
    let oll = (pending - obl).div_ceil(BLOCK_USABLE);
    (obl, oll, oll * (BLOCK_USABLE + BLOCK_OVERHEAD))
}

/// Whether `used` bytes of output reach the hard limit, or the soft limit for longer than its
/// seconds (redis `checkClientOutputBufferLimits`); tracks when the soft limit was first
/// reached. A replica's hard limit is never below the backlog size (a partial resync the
/// backlog can serve must not be cut off).
pub fn over_limits(
    limits: (u64, u64, u64),
    used: u64,
    soft_since_ms: &AtomicI64,
    floor: u64,
) -> bool {
    let (hard, soft, soft_secs) = limits;
    let hard_at = if hard > 0 { hard.max(floor) } else { 0 };
    if hard_at > 0 && used >= hard_at {
        return true;
    }
    if soft > 0 && used >= soft {
        let now = crate::util::now_ms();
        let since = soft_since_ms.load(Ordering::Relaxed);
        if since == 0 {
            soft_since_ms.store(now, Ordering::Relaxed);
            return false;
        }
        return (now - since) as u64 > soft_secs * 1000;
    }
    soft_since_ms.store(0, Ordering::Relaxed);
    false
}

/// The log line of a client closed for its output buffer when output was added.
pub const CLOSED_ASAP: &str = "scheduled to be closed ASAP for overcoming of output buffer limits.";
/// The same found by the cron (the soft limit's seconds ran out without new output).
pub const CLOSED_BY_CRON: &str = "closed for overcoming of output buffer limits.";

/// Flags a client to be closed without writing anything more, logs why, and wakes its task.
/// `by_cron`: found by the cron rather than when output was added (Redis frees the client
/// at once there, and says so).
pub fn close_for_limits(c: &ClientShared, by_cron: bool) {
    if !c.obuf.begin_close() {
        return;
    }
    let line = crate::commands::admin::client::describe(c);
    let why = if by_cron { CLOSED_BY_CRON } else { CLOSED_ASAP };
    tracing::warn!("Client {line} {why}");
    c.send(Push::Kill);
}

/// Checks a normal or pub/sub client whose pending output is `pending` bytes (plus `building`
/// bytes of replies not flushed yet) against its class's limits; closes it when reached.
/// Returns whether the client is (now) to be closed.
pub fn check(server: &Server, c: &ClientShared, building: usize) -> bool {
    check_as(server, c, building, false)
}

fn check_as(server: &Server, c: &ClientShared, building: usize, by_cron: bool) -> bool {
    if c.obuf.closing() {
        return true;
    }
    let pending = c.obuf.pending() + building;
    let (_, _, omem) = layout(pending, c.obuf.rbs.load(Ordering::Relaxed));
    // Redis checks when its reply list grows; an empty list is never over a limit.
    if omem == 0 && c.obuf.soft_since_ms.load(Ordering::Relaxed) == 0 {
        return false;
    }
    let limits = server.hot.obuf.of(class(c));
    if over_limits(limits, omem as u64, &c.obuf.soft_since_ms, 0) {
        // Counted for the log line, which shows the output that overflowed.
        c.obuf.pending.fetch_add(building, Ordering::Relaxed);
        close_for_limits(c, by_cron);
        c.obuf.pending.fetch_sub(building, Ordering::Relaxed);
        return true;
    }
    false
}

/// Bytes of reply after which a client reaches its class's hard limit, if it has one.
pub fn reply_budget(server: &Server, c: &ClientShared) -> Option<usize> {
    let (hard, _, _) = server.hot.obuf.of(class(c));
    (hard > 0).then(|| hard as usize + c.obuf.rbs.load(Ordering::Relaxed))
}

/// The clients part of the cron (redis `clientsCron`): visits a few clients per tick in turn
/// (each about once a second), asking them to resize their buffers to recent use; and
/// closes clients whose soft limit's seconds ran out while nothing new was queued.
pub fn cron(server: &Server, hz: u64) {
    static CURSOR: AtomicU64 = AtomicU64::new(0);
    let (visit, waiting) = {
        let clients = server.clients.lock();
        let count = (clients.len() / hz.max(1) as usize).max(5);
        let from = CURSOR.load(Ordering::Relaxed);
        let mut visit: Vec<_> = clients.range(from + 1..).take(count).collect();
        if visit.len() < count {
            let more = count - visit.len();
            visit.extend(clients.range(..=from).take(more));
        }
        if let Some((id, _)) = visit.last() {
            CURSOR.store(**id, Ordering::Relaxed);
        }
        let visit: Vec<_> = visit.into_iter().map(|(_, c)| c.clone()).collect();
        let waiting: Vec<_> = clients
            .values()
            .filter(|c| c.obuf.soft_since_ms.load(Ordering::Relaxed) != 0 && !c.obuf.closing())
            .cloned()
            .collect();
        (visit, waiting)
    };
    // Each visit resizes the client's query and reply buffers to their recent use.
    for c in visit {
        if !c.is_replica.load(Ordering::Relaxed) && !c.is_master.load(Ordering::Relaxed) {
            c.send(Push::Resize);
        }
    }
    for c in waiting {
        check_as(server, &c, 0, true);
    }
    server.repl.stream.check_limits();
    server.client_mem.update_all(server);
    server.client_mem.evict(server);
}

impl ClientShared {
    /// Queues output for this client (a pub/sub message, a MONITOR line), counts it, and
    /// closes the client if that takes it over its output buffer limit. Dropped when the
    /// client is already being closed.
    pub fn push(&self, server: &Server, bytes: Bytes) {
        if self.obuf.closing() {
            return;
        }
        self.obuf.pending.fetch_add(bytes.len(), Ordering::Relaxed);
        self.mailbox.send(Push::Bytes(bytes));
        if !check(server, self, 0) {
            server.client_mem.after_output(server, self);
        }
    }
}

/// Size of the connection's buffer from which it grows by an eighth at a time instead of
/// doubling: a client that does not read keeps its unsent output there, and Redis's reply
/// list holds it in blocks with little slack. Doubled, the buffer held up to twice what the
/// client's memory counts (20 pub/sub clients with 150 KB unsent each held 2 MB more than
/// `maxmemory-clients` saw, and keys were evicted first).
const STEADY_GROWTH_FROM: usize = 64 * 1024;

/// Makes room in `out` for `additional` more bytes; a big buffer grows to the allocation
/// size class past what it needs plus a sixteenth (by an eighth on average: each byte is
/// copied a few times over at most, as doubling does, for a fraction of its slack), and what
/// was already sent from its front is dropped with the move.
pub fn make_room(out: &mut BytesMut, additional: usize) {
    if out.capacity() - out.len() >= additional {
        return;
    }
    let need = out.len() + additional;
    if need < STEADY_GROWTH_FROM {
        out.reserve(additional);
        return;
    }
    move_to(out, size_class(need + need / 16));
}

/// After a reply of unknown size was encoded into `out` (which then may have doubled),
/// moves a big buffer's bytes to the allocation size class that holds them.
pub fn fit(out: &mut BytesMut) {
    let len = out.len();
    if len >= STEADY_GROWTH_FROM && out.capacity() > size_class(len + len / 16) {
        move_to(out, size_class(len + len / 16));
    }
}

/// Bytes of output buffers being moved to a new allocation right now (see [`moving`]).
static MOVING: AtomicUsize = AtomicUsize::new(0);

/// Memory that output buffers being moved hold twice for a moment: the old allocation, freed
/// once its bytes are copied. Redis's reply list grows block by block and never holds a
/// reply twice; counted, a move of a 1.5 MB buffer on one thread made the eviction on the
/// other find memory over `maxmemory` while the clients' sum was still under
/// `maxmemory-clients`, and keys were evicted where Redis evicts clients.
pub fn moving() -> usize {
    MOVING.load(Ordering::Relaxed)
}

fn move_to(out: &mut BytesMut, capacity: usize) {
    let old = out.capacity();
    MOVING.fetch_add(old, Ordering::Relaxed);
    let mut moved = BytesMut::with_capacity(capacity);
    moved.extend_from_slice(out);
    *out = moved;
    MOVING.fetch_sub(old, Ordering::Relaxed);
}

/// The size jemalloc serves a request of `n` bytes from (`util::jemalloc_size`; nothing for
/// nothing), so asking for all of it wastes nothing.
pub fn size_class(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        crate::util::jemalloc_size(n)
    }
}

/// Bytes `reply` will take at least once encoded (its strings), to make room for it first.
pub fn reply_size_hint(reply: &crate::protocol::Reply) -> usize {
    use crate::protocol::Reply;
    match reply {
        Reply::Bulk(b) | Reply::Verbatim(b) | Reply::BigNum(b) | Reply::Raw(b) => b.len(),
        Reply::Status(s) | Reply::Error(s) => s.len(),
        Reply::Array(v) | Reply::Set(v) | Reply::Push(v) | Reply::Multi(v) => {
            v.iter().map(reply_size_hint).sum()
        }
        Reply::Map(v) | Reply::Attribute(v) => v
            .iter()
            .map(|(k, x)| reply_size_hint(k) + reply_size_hint(x))
            .sum(),
        _ => 0,
    }
}

/// Once a burst of pushes went out, gives back the buffer it grew (Redis writes pushes
/// beyond its reply buffer into list blocks freed as they are written, and its reply buffer
/// was counted from the client's creation on). Kept, ten tracking clients each held the
/// 8-16 KB that a few dozen invalidations grew their buffer to, memory that appeared only
/// after the evictions that sent them, and the next command evicted again.
pub fn release_after_pushes(out: &mut BytesMut) {
    if out.is_empty() && out.capacity() > REPLY_MIN_BYTES {
        *out = BytesMut::new();
    }
}

/// Moves a queued push into the connection's output buffer (it is counted again while that
/// buffer is flushed).
pub fn take_push(c: &ClientShared, bytes: &Bytes, out: &mut BytesMut) {
    c.obuf.pending.fetch_sub(bytes.len(), Ordering::Relaxed);
    make_room(out, bytes.len());
    out.extend_from_slice(bytes);
    note_alloc(c, out);
}

/// [`take_push`] for a connection between batches, whose buffer is all counted as pending
/// (`counted` covers it): the push stays counted as it moves, so a client measured meanwhile
/// does not look smaller than it is (the pusher measures right after pushing).
pub fn take_push_counted(c: &ClientShared, bytes: &Bytes, out: &mut BytesMut, counted: &mut usize) {
    if out.len() != *counted {
        take_push(c, bytes, out);
        return;
    }
    make_room(out, bytes.len());
    out.extend_from_slice(bytes);
    *counted += bytes.len();
    note_alloc(c, out);
}

/// Why a flush stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum FlushError {
    /// The socket failed or the peer is gone.
    Io,
    /// CLIENT KILL, an output buffer limit, or shutdown of the channel.
    Closed,
}

/// Counts the bytes of `out` that `counted` does not cover yet as pending output: replies the
/// socket did not take stay at the front of `out`, counted, while a batch appends more.
fn count_unsent(c: &ClientShared, out: &BytesMut, counted: &mut usize) {
    c.obuf
        .pending
        .fetch_add(out.len() - *counted, Ordering::Relaxed);
    *counted = out.len();
}

/// Takes `n` written bytes off the front of `out` and off the pending count. Once more was
/// written from a big buffer than is left in it, the rest moves to an allocation of its size:
/// Redis frees each reply block as it is written, and the written part of a contiguous
/// buffer would otherwise stay allocated while the client reads slowly.
fn sent(server: &Server, c: &ClientShared, out: &mut BytesMut, counted: &mut usize, n: usize) {
    server.stats.net_output_bytes.add(n as u64);
    c.obuf.pending.fetch_sub(n, Ordering::Relaxed);
    *counted -= n;
    out.advance(n);
    // An emptied allocation is given back (ReplyBuf::trim) or reused.
    let written = note_alloc(c, out);
    if !out.is_empty() && written >= STEADY_GROWTH_FROM && written > out.len() {
        move_to(out, size_class(out.len()));
        note_alloc(c, out);
    }
}

/// Publishes what the allocation behind `out` holds beyond what the client's memory figure
/// counts for it (the contents, at least a reply buffer's worth: see `Obuf::slack`), and
/// returns how many bytes at its front were written already. Redis counts each reply block
/// at its allocated size; a contiguous buffer grown by size classes holds up to a quarter more
/// than its contents, and uncounted, 20 clients that did not read their MGET replies held
/// 2 MB that `maxmemory-clients` missed, and keys were evicted before any client.
///
/// A `BytesMut` does not tell where its allocation starts: the start and size seen last are
/// kept, and `out` is known to still sit in that allocation when its end is the same.
pub fn note_alloc(c: &ClientShared, out: &BytesMut) -> usize {
    let (ptr, cap) = (out.as_ptr() as usize, out.capacity());
    let start = c.obuf.alloc_start.load(Ordering::Relaxed);
    let size = c.obuf.alloc_size.load(Ordering::Relaxed);
    let (size, written) = if ptr >= start && ptr - start + cap == size {
        (size, ptr - start)
    } else {
        c.obuf.alloc_start.store(ptr, Ordering::Relaxed);
        c.obuf.alloc_size.store(cap, Ordering::Relaxed);
        (cap, 0)
    };
    let counted = out.len().max(c.obuf.rbs.load(Ordering::Relaxed));
    let slack = size.saturating_sub(counted);
    // Called before every command: the shared line is written only when the figure changed.
    if c.obuf.slack.load(Ordering::Relaxed) != slack {
        c.obuf.slack.store(slack, Ordering::Relaxed);
    }
    written
}

/// Forgets what is left of `out` (the client is closing).
fn drop_unsent(c: &ClientShared, out: &mut BytesMut, counted: &mut usize) {
    c.obuf.pending.fetch_sub(*counted, Ordering::Relaxed);
    *counted = 0;
    out.clear();
}

/// Starts sending `out`: what the replies acknowledge goes to the AOF first (redis
/// `beforeSleep`; with `appendfsync always` the connection waits for the group commit), then
/// everything is counted as pending output.
async fn begin_send(
    server: &Server,
    c: &ClientShared,
    out: &mut BytesMut,
    counted: &mut usize,
) -> Result<(), FlushError> {
    server.aof.before_reply().await;
    if c.obuf.closing() {
        drop_unsent(c, out, counted);
        return Err(FlushError::Closed);
    }
    count_unsent(c, out, counted);
    Ok(())
}

/// Writes all of `out` to the socket. Meanwhile pushes keep arriving (appended, already
/// counted) and a kill or an output limit ends the flush at once, the rest unwritten.
/// `counted` is how many bytes at the front of `out` are already counted as pending.
pub async fn flush<S: AsyncWrite + Unpin>(
    server: &Server,
    c: &ClientShared,
    stream: &mut S,
    out: &mut BytesMut,
    counted: &mut usize,
    rx: &mut Pushes,
) -> Result<(), FlushError> {
    if out.is_empty() {
        return Ok(());
    }
    begin_send(server, c, out, counted).await?;
    let res = loop {
        // Once the stream has taken everything, what it holds back (a TLS layer's records)
        // goes out too.
        let all_taken = out.is_empty();
        let step = async {
            if all_taken {
                stream.flush().await.map(|()| 0)
            } else {
                stream.write(out).await
            }
        };
        tokio::select! {
            biased;
            r = step => match r {
                Ok(0) if all_taken => break Ok(()),
                Ok(n) if n > 0 => sent(server, c, out, counted, n),
                _ => break Err(FlushError::Io),
            },
            p = rx.recv() => match p {
                Push::Bytes(b) => {
                    make_room(out, b.len());
                    out.extend_from_slice(&b);
                    *counted += b.len();
                    note_alloc(c, out);
                }
                Push::Resize => {}
                Push::Kill => break Err(FlushError::Closed),
            },
        }
        if c.obuf.closing() {
            break Err(FlushError::Closed);
        }
    };
    drop_unsent(c, out, counted);
    res
}

/// Writes what the socket takes of `out` now, without waiting; the rest stays in `out`, counted
/// as pending output, and goes out while the connection reads its next requests
/// ([`read_while_sending`]): a client that pipelines without reading its replies is still
/// served, its output growing up to its class's limit, as in Redis.
pub async fn send_some<S: AsyncWrite + Unpin>(
    server: &Server,
    c: &ClientShared,
    stream: &mut S,
    out: &mut BytesMut,
    counted: &mut usize,
) -> Result<(), FlushError> {
    if out.is_empty() {
        return Ok(());
    }
    begin_send(server, c, out, counted).await?;
    std::future::poll_fn(|cx| Poll::Ready(poll_send(server, c, stream, out, counted, cx))).await
}

/// Writes `out` until the socket would block. An error when the socket failed.
fn poll_send<S: AsyncWrite + Unpin>(
    server: &Server,
    c: &ClientShared,
    stream: &mut S,
    out: &mut BytesMut,
    counted: &mut usize,
    cx: &mut Context<'_>,
) -> Result<(), FlushError> {
    while !out.is_empty() {
        match Pin::new(&mut *stream).poll_write(cx, &out[..*counted]) {
            Poll::Ready(Ok(n)) if n > 0 => sent(server, c, out, counted, n),
            Poll::Ready(_) => return Err(FlushError::Io),
            Poll::Pending => return Ok(()),
        }
    }
    // All taken: what the stream still holds back (a TLS layer's records, which it keeps when
    // the socket is full) goes out as the socket takes it, else the client would wait for the
    // end of a reply while the connection waits for its next request. Plain TCP holds nothing.
    match Pin::new(&mut *stream).poll_flush(cx) {
        Poll::Ready(Err(_)) => Err(FlushError::Io),
        _ => Ok(()),
    }
}

/// Reads the next requests into `qb` while the replies left in `out` (all counted) go out as
/// the socket takes them. The read is ticketed for arrival order (`slot`, `waker`: see
/// `server::order`), the writes are not. Ready when a read completed; a failed write ends it
/// like a closed read.
#[allow(clippy::too_many_arguments)]
pub async fn read_while_sending<S: AsyncRead + AsyncWrite + Unpin>(
    server: &Server,
    c: &ClientShared,
    stream: &mut S,
    qb: &mut super::querybuf::QueryBuf,
    out: &mut BytesMut,
    counted: &mut usize,
    slot: &Arc<super::order::Slot>,
    waker: &std::task::Waker,
) -> std::io::Result<usize> {
    std::future::poll_fn(|cx| {
        if poll_send(server, c, stream, out, counted, cx).is_err() {
            return Poll::Ready(Ok(0));
        }
        super::order::poll_read_ordered(slot, waker, cx, |rcx| qb.poll_read(stream, rcx))
    })
    .await
}

/// Forgets the output a closing connection did not send.
pub fn abandon(c: &ClientShared, out: &mut BytesMut, counted: &mut usize) {
    drop_unsent(c, out, counted);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes_are_jemallocs() {
        assert_eq!(size_class(0), 0);
        assert_eq!(size_class(5), 8);
        assert_eq!(size_class(100), 112);
        assert_eq!(size_class(129), 160);
        assert_eq!(size_class(1038), 1280);
        assert_eq!(size_class(16 * 1024 + 1), 20 * 1024);
        assert_eq!(size_class(64 * 1024), 64 * 1024);
        assert_eq!(size_class(64 * 1024 + 1), 80 * 1024);
        assert_eq!(size_class(100_001), 112 * 1024);
        assert_eq!(size_class(1 << 20), 1 << 20);
        assert_eq!(size_class((1 << 20) + 1), 1280 * 1024);
    }

    #[test]
    fn a_big_buffer_grows_by_steps_not_doubling() {
        let mut out = BytesMut::new();
        let chunk = vec![b'x'; 100_000];
        for _ in 0..30 {
            make_room(&mut out, chunk.len());
            out.extend_from_slice(&chunk);
            // Never more than a size class step (a quarter) plus a sixteenth above its bytes.
            assert!(out.capacity() <= out.len() + out.len() / 4 + out.len() / 16);
        }
        assert_eq!(out.len(), 3_000_000);
        // A reply encoded past the room made for it doubles the buffer; fit takes it back.
        let mut out = BytesMut::with_capacity(200_000);
        out.extend_from_slice(&[b'y'; 200_000]);
        out.extend_from_slice(b"z");
        assert!(out.capacity() >= 400_000);
        fit(&mut out);
        assert_eq!(out.len(), 200_001);
        assert_eq!(out.capacity(), size_class(200_001 + 200_001 / 16));
        assert!(out[..200_000].iter().all(|&b| b == b'y') && out[200_000] == b'z');
    }

    #[test]
    fn reply_hint_counts_strings() {
        use crate::protocol::Reply;
        let r = Reply::Array(vec![
            Reply::Bulk(Bytes::from_static(b"abc")),
            Reply::Int(5),
            Reply::Map(vec![(
                Reply::status("ok"),
                Reply::Bulk(Bytes::from_static(b"xy")),
            )]),
        ]);
        assert_eq!(reply_size_hint(&r), 7);
    }
}
