//! The replication stream: one shared buffer holding everything propagated, of which the
//! backlog is the trailing `repl-backlog-size` window. Every replica reads the same bytes at
//! its own offset (refcounted `Bytes`, no per-replica copy); bytes a replica still needs are
//! retained past the backlog window until its output-buffer limit cuts it off: how far a
//! reader is behind the end is its client's output buffer (CLIENT LIST `omem`), checked
//! against the replica class of `client-output-buffer-limit` whenever the stream grows and
//! by the cron (for the soft limit's seconds).
//!
//! Offsets follow Redis: `end` is `master_repl_offset` (bytes ever appended); the byte appended
//! at position k (1-based) has offset k.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use bytes::{BufMut, Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::keyspace::Effect;
use crate::server::client::ClientShared;

/// A reader's position: the offset of the next byte it needs. Shared with its sender task.
#[derive(Debug)]
pub struct Reader {
    pub id: u64,
    pub next: AtomicU64,
    /// Set when the reader went over its output-buffer limits: its client is being closed.
    pub overflowed: AtomicBool,
    /// Unix ms since the reader is over the soft limit, 0 when under it.
    soft_since_ms: AtomicI64,
    /// The stream's end (`master_repl_offset`).
    end: Arc<AtomicU64>,
    /// The replica's connection, closed when the reader overflows.
    client: Weak<ClientShared>,
}

impl Reader {
    /// Bytes of the stream this reader has not been sent yet (its output buffer).
    pub fn lag(&self) -> u64 {
        (self.end.load(Ordering::Acquire) + 1).saturating_sub(self.next.load(Ordering::Acquire))
    }
}

/// The limits of the replica class of `client-output-buffer-limit`: (hard, soft, seconds).
pub type ReplicaLimits = (u64, u64, u64);

struct Inner {
    /// Frozen data; `first` is the offset of chunks[0][0].
    chunks: VecDeque<Bytes>,
    /// Data being appended, after the frozen chunks.
    cur: BytesMut,
    first: u64,
    end: u64,
    /// Database the stream is positioned in; -1 forces a SELECT before the next command.
    stream_db: i64,
    backlog_size: u64,
    limits: ReplicaLimits,
    readers: Vec<Arc<Reader>>,
}

pub struct Stream {
    inner: Mutex<Inner>,
    /// Whether a backlog exists: before the first replica, nothing is recorded or counted.
    active: AtomicBool,
    end_tx: watch::Sender<u64>,
    next_reader: AtomicU64,
    /// Mirror of `end` readable without the lock (WAIT offsets after every command).
    end_atomic: Arc<AtomicU64>,
}

/// Encodes argv as a RESP multibulk.
pub fn encode_command(out: &mut BytesMut, argv: &[Bytes]) {
    let mut b = itoa::Buffer::new();
    out.put_u8(b'*');
    out.put_slice(b.format(argv.len()).as_bytes());
    out.put_slice(b"\r\n");
    for a in argv {
        out.put_u8(b'$');
        out.put_slice(b.format(a.len()).as_bytes());
        out.put_slice(b"\r\n");
        out.put_slice(a);
        out.put_slice(b"\r\n");
    }
}

impl Default for Stream {
    fn default() -> Self {
        Stream::new(1024 * 1024)
    }
}

impl Stream {
    pub fn new(backlog_size: u64) -> Stream {
        let (end_tx, _) = watch::channel(0);
        Stream {
            inner: Mutex::new(Inner {
                chunks: VecDeque::new(),
                cur: BytesMut::new(),
                first: 1,
                end: 0,
                stream_db: -1,
                backlog_size,
                limits: (256 << 20, 64 << 20, 60),
                readers: Vec::new(),
            }),
            active: AtomicBool::new(false),
            end_tx,
            next_reader: AtomicU64::new(1),
            end_atomic: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Creates the backlog at offset `offset` (the next byte will have offset `offset + 1`).
    pub fn activate(&self, offset: u64) {
        let mut g = self.inner.lock();
        g.chunks.clear();
        g.cur.clear();
        g.first = offset + 1;
        g.end = offset;
        g.stream_db = -1;
        self.end_atomic.store(offset, Ordering::Release);
        self.active.store(true, Ordering::Release);
        let _ = self.end_tx.send(offset);
    }

    /// Frees the backlog (repl-backlog-ttl, or a replica starting a full sync of its own).
    pub fn deactivate(&self) {
        let mut g = self.inner.lock();
        g.chunks.clear();
        g.cur = BytesMut::new();
        g.first = g.end + 1;
        self.active.store(false, Ordering::Release);
    }

    /// Forces a SELECT before the next propagated command.
    pub fn reset_db(&self) {
        self.inner.lock().stream_db = -1;
    }

    pub fn set_limits(&self, backlog_size: u64, limits: ReplicaLimits) {
        let mut g = self.inner.lock();
        g.backlog_size = backlog_size.max(16 * 1024);
        g.limits = limits;
    }

    /// `master_repl_offset`.
    pub fn end(&self) -> u64 {
        self.end_atomic.load(Ordering::Acquire)
    }

    /// `master_repl_offset` and the database the stream is positioned in at that offset (0
    /// when the next command will SELECT anyway): an RDB's repl-offset and repl-stream-db.
    pub fn position(&self) -> (u64, usize) {
        let g = self.inner.lock();
        (g.end, usize::try_from(g.stream_db).unwrap_or(0))
    }

    /// (first byte offset, histlen) of the backlog, as INFO shows them.
    pub fn backlog_window(&self) -> (u64, u64) {
        let g = self.inner.lock();
        if !self.is_active() {
            return (0, 0);
        }
        (g.first, g.end + 1 - g.first)
    }

    pub fn backlog_size(&self) -> u64 {
        self.inner.lock().backlog_size
    }

    /// Appends a command's effects, with SELECTs and a MULTI/EXEC wrapper as Redis emits them.
    pub fn feed(&self, effects: &[Effect]) {
        if effects.is_empty() || !self.is_active() {
            return;
        }
        let mut g = self.inner.lock();
        let before = g.cur.len();
        // Wrapped by the count of all effects, as Redis wraps before it splits them by target.
        let wrap = effects.len() >= 2;
        if wrap {
            select_if_needed(&mut g, effects[0].db);
            encode_command(&mut g.cur, &[Bytes::from_static(b"MULTI")]);
        }
        for e in effects.iter().filter(|e| e.target & Effect::REPLICAS != 0) {
            select_if_needed(&mut g, e.db);
            encode_command(&mut g.cur, &e.argv);
        }
        if wrap {
            encode_command(&mut g.cur, &[Bytes::from_static(b"EXEC")]);
        }
        let added = (g.cur.len() - before) as u64;
        let over = self.advance(&mut g, added);
        drop(g);
        close_overflowed(over, false);
    }

    /// Appends raw stream bytes (a replica forwarding its master's stream to sub-replicas),
    /// which leave the stream positioned in `db`.
    pub fn append_raw(&self, bytes: &[u8], db: usize) {
        if bytes.is_empty() || !self.is_active() {
            return;
        }
        let mut g = self.inner.lock();
        g.stream_db = db as i64;
        g.cur.extend_from_slice(bytes);
        let over = self.advance(&mut g, bytes.len() as u64);
        drop(g);
        close_overflowed(over, false);
    }

    /// Appends one command in the current database (PING, REPLCONF GETACK).
    pub fn feed_control(&self, argv: &[Bytes]) {
        if !self.is_active() {
            return;
        }
        let mut g = self.inner.lock();
        let before = g.cur.len();
        encode_command(&mut g.cur, argv);
        let added = (g.cur.len() - before) as u64;
        let over = self.advance(&mut g, added);
        drop(g);
        close_overflowed(over, false);
    }

    /// Closes the readers over their limits without new data (the soft limit's seconds ran
    /// out meanwhile); called by the cron.
    pub fn check_limits(&self) {
        let over = {
            let mut g = self.inner.lock();
            if g.readers.is_empty() {
                return;
            }
            self.trim(&mut g)
        };
        close_overflowed(over, true);
    }

    #[must_use]
    fn advance(&self, g: &mut Inner, added: u64) -> Vec<Arc<Reader>> {
        g.end += added;
        self.end_atomic.store(g.end, Ordering::Release);
        // Freeze in blocks so the backlog can be trimmed by whole chunks.
        if g.cur.len() >= BLOCK_MIN {
            freeze(g, false);
        }
        let over = self.trim(g);
        let _ = self.end_tx.send(g.end);
        over
    }

    /// Drops chunks that are outside the backlog window and needed by no reader; flags the
    /// readers over their output-buffer limits (a replica's hard limit is never below the
    /// backlog size, as in Redis 7.0) and returns those newly flagged.
    #[must_use]
    fn trim(&self, g: &mut Inner) -> Vec<Arc<Reader>> {
        let end = g.end;
        let mut min_needed = end + 1;
        let mut over = Vec::new();
        for r in &g.readers {
            if r.overflowed.load(Ordering::Acquire) {
                continue;
            }
            let next = r.next.load(Ordering::Acquire);
            let used = end + 1 - next.min(end + 1);
            if crate::server::output::over_limits(g.limits, used, &r.soft_since_ms, g.backlog_size)
            {
                r.overflowed.store(true, Ordering::Release);
                over.push(r.clone());
                continue;
            }
            min_needed = min_needed.min(next);
        }
        while let Some(front) = g.chunks.front() {
            let len = front.len() as u64;
            let hist = end + 1 - g.first;
            if hist - len < g.backlog_size || g.first + len > min_needed {
                break;
            }
            g.first += len;
            g.chunks.pop_front();
        }
        over
    }

    /// Whether a partial resync from `offset` (first byte wanted) can be served.
    pub fn can_serve(&self, offset: u64) -> bool {
        if !self.is_active() {
            return false;
        }
        let g = self.inner.lock();
        offset >= g.first && offset <= g.end + 1
    }

    /// Registers a reader for `client` that will next need the byte at `next`.
    pub fn add_reader(&self, next: u64, client: Weak<ClientShared>) -> Arc<Reader> {
        let r = self.reader_at(next, client);
        self.inner.lock().readers.push(r.clone());
        r
    }

    fn reader_at(&self, next: u64, client: Weak<ClientShared>) -> Arc<Reader> {
        Arc::new(Reader {
            id: self.next_reader.fetch_add(1, Ordering::Relaxed),
            next: AtomicU64::new(next),
            overflowed: AtomicBool::new(false),
            soft_since_ms: AtomicI64::new(0),
            end: self.end_atomic.clone(),
            client,
        })
    }

    /// [`Self::add_reader`] for a reader that starts at `next`, if the stream still holds
    /// the bytes from there (None if they were trimmed away).
    pub fn add_reader_if_held(&self, next: u64, client: Weak<ClientShared>) -> Option<Arc<Reader>> {
        let mut g = self.inner.lock();
        if next < g.first {
            return None;
        }
        let r = self.reader_at(next, client);
        g.readers.push(r.clone());
        Some(r)
    }

    pub fn remove_reader(&self, id: u64) {
        let over = {
            let mut g = self.inner.lock();
            g.readers.retain(|r| r.id != id);
            self.trim(&mut g)
        };
        close_overflowed(over, false);
    }

    /// Bytes from `from` to the end, as shared slices; empty if nothing new. `None` if `from`
    /// was already trimmed away.
    pub fn read_from(&self, from: u64) -> Option<Vec<Bytes>> {
        let mut g = self.inner.lock();
        if from < g.first {
            return None;
        }
        if from > g.end {
            return Some(Vec::new());
        }
        if !g.cur.is_empty() {
            freeze(&mut g, true);
        }
        let mut out = Vec::new();
        let mut pos = g.first;
        for c in &g.chunks {
            let len = c.len() as u64;
            if pos + len > from {
                let skip = from.saturating_sub(pos) as usize;
                out.push(c.slice(skip..));
            }
            pos += len;
        }
        Some(out)
    }

    /// A receiver of `master_repl_offset` changes, to wait for new data.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.end_tx.subscribe()
    }

    /// Bytes of buffered stream held (INFO mem_total_replication_buffers): the chunks'
    /// allocations and their slots in the list, as Redis counts its blocks with their list
    /// nodes (a replica stopped while 11 MB streamed left ~28 KB of slots and allocation
    /// slack counted against maxmemory, and keys were evicted).
    pub fn memory(&self) -> u64 {
        let g = self.inner.lock();
        let chunks: usize = g
            .chunks
            .iter()
            .map(|c| crate::server::output::size_class(c.len()))
            .sum();
        (chunks + g.chunks.capacity() * std::mem::size_of::<Bytes>() + g.cur.capacity()) as u64
    }
}

/// Closes the clients of readers that went over their limits (after the stream's lock is
/// released: the log line reads the reader's lag).
fn close_overflowed(over: Vec<Arc<Reader>>, by_cron: bool) {
    for r in over {
        if let Some(c) = r.client.upgrade() {
            crate::server::output::close_for_limits(&c, by_cron);
        }
    }
}

/// Smallest block the stream freezes (redis PROTO_REPLY_CHUNK_BYTES).
const BLOCK_MIN: usize = 16 * 1024;

/// Moves the bytes being appended into frozen chunks of at most `repl-backlog-size / 16`
/// (at least 16 KiB), as Redis sizes its replication buffer blocks: a big command spans
/// several chunks, so trimming keeps the backlog close to its size and a replica that fell
/// behind by more than that is not offered a partial resync from a huge first chunk.
///
/// Each chunk is a copy of exactly its bytes, and `cur` keeps its buffer for what comes next:
/// chunks split off `cur` would share (and keep alive) allocations up to twice their size while
/// replicas hold them, where Redis's blocks are used to the byte.
///
/// `all`: everything (a reader needs it now). Otherwise only whole 16 KiB blocks (a size
/// jemalloc serves exactly), and the rest stays in `cur` to be completed: a replica that does
/// not read leaves full blocks behind, not a 16 KiB one and a few bytes each time.
fn freeze(g: &mut Inner, all: bool) {
    let (block, whole) = if all {
        (((g.backlog_size / 16) as usize).max(BLOCK_MIN), g.cur.len())
    } else {
        (BLOCK_MIN, g.cur.len() / BLOCK_MIN * BLOCK_MIN)
    };
    for piece in g.cur[..whole].chunks(block) {
        g.chunks.push_back(Bytes::copy_from_slice(piece));
    }
    let rest = (whole < g.cur.len()).then(|| g.cur[whole..].to_vec());
    if g.cur.capacity() > 4 * block {
        // A big command grew it: not kept for the small ones that follow.
        g.cur = BytesMut::with_capacity(block);
    } else {
        g.cur.clear();
    }
    if let Some(rest) = rest {
        g.cur.extend_from_slice(&rest);
    }
}

fn select_if_needed(g: &mut Inner, db: usize) {
    if g.stream_db != db as i64 {
        let mut b = itoa::Buffer::new();
        let n = Bytes::copy_from_slice(b.format(db).as_bytes());
        encode_command(&mut g.cur, &[Bytes::from_static(b"SELECT"), n]);
        g.stream_db = db as i64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eff(db: usize, args: &[&'static [u8]]) -> Effect {
        Effect::new(db, args.iter().map(|a| Bytes::from_static(a)).collect())
    }

    #[test]
    fn a_stream_nobody_reads_is_kept_in_whole_blocks() {
        let s = Stream::new(1 << 20);
        s.activate(0);
        for i in 0..1000u32 {
            let v = Bytes::from(format!("{i:0100}"));
            s.feed(&[Effect::new(
                0,
                vec![Bytes::from_static(b"set"), Bytes::from_static(b"k"), v],
            )]);
        }
        let g = s.inner.lock();
        assert!(g.chunks.len() >= 7, "{}", g.chunks.len());
        assert!(g.chunks.iter().all(|c| c.len() == BLOCK_MIN));
        let held: u64 = g.chunks.iter().map(|c| c.len() as u64).sum::<u64>() + g.cur.len() as u64;
        assert_eq!(held, s.end_atomic.load(Ordering::Acquire));
        drop(g);
        // A reader takes the rest too.
        let all: usize = s.read_from(1).unwrap().iter().map(|c| c.len()).sum();
        assert_eq!(all as u64, s.end());
    }

    #[test]
    fn offsets_match_redis_counting() {
        let s = Stream::new(1 << 20);
        s.activate(0);
        s.feed(&[eff(0, &[b"set", b"foo", b"bar"])]);
        // SELECT 0 (23 bytes) + set foo bar (31 bytes), as observed on Redis.
        assert_eq!(s.end(), 54);
        s.feed_control(&[Bytes::from_static(b"ping")]);
        assert_eq!(s.end(), 68);
        let all: Vec<u8> = s.read_from(1).unwrap().concat();
        assert!(all.starts_with(b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nset"));
        assert_eq!(all.len(), 68);
        let tail: Vec<u8> = s.read_from(55).unwrap().concat();
        assert_eq!(tail, b"*1\r\n$4\r\nping\r\n");
    }

    #[test]
    fn multi_exec_wrapping_and_select_inside() {
        let s = Stream::new(1 << 20);
        s.activate(0);
        s.feed(&[
            eff(5, &[b"SET", b"s5", b"1"]),
            eff(6, &[b"SET", b"s6", b"1"]),
        ]);
        let all = s.read_from(1).unwrap().concat();
        let text = String::from_utf8(all).unwrap();
        let order: Vec<&str> = [
            "SELECT\r\n$1\r\n5",
            "MULTI",
            "s5",
            "SELECT\r\n$1\r\n6",
            "s6",
            "EXEC",
        ]
        .iter()
        .map(|p| {
            assert!(text.contains(p), "{p} missing");
            *p
        })
        .collect();
        let mut last = 0;
        for p in order {
            let at = text.find(p).unwrap();
            assert!(at >= last, "{p} out of order");
            last = at;
        }
    }

    #[test]
    fn backlog_trims_but_keeps_what_readers_need() {
        let s = Stream::new(16 * 1024);
        s.activate(0);
        let r = s.add_reader(1, Weak::new());
        let big = vec![b'x'; 20_000];
        for _ in 0..10 {
            s.append_raw(&big, 0);
        }
        // The reader still needs byte 1: nothing may be trimmed.
        assert!(s.read_from(1).is_some());
        r.next.store(s.end() + 1, Ordering::Release);
        s.append_raw(&big, 0);
        assert!(s.read_from(1).is_none());
        let (first, hist) = s.backlog_window();
        assert!(hist >= 16 * 1024);
        assert_eq!(first + hist - 1, s.end());
        assert!(s.can_serve(s.end() + 1));
        assert!(!s.can_serve(s.end() + 2));
    }
}
