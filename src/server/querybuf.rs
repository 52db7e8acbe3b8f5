//! A connection's query buffer as Redis sizes it (redis `networking.c` `readQueryFromClient`,
//! `server.c` `clientsCronResizeQueryBuffer`): reads go into at least 16 KiB of room; a
//! buffer that grew for a big argument shrinks back to its recent peak; the buffer of a client
//! idle for more than 2 seconds is released until it sends again. CLIENT LIST shows its
//! unprocessed bytes and free room (`qbuf`, `qbuf-free`) for other clients.

use std::sync::atomic::Ordering;

use bytes::BytesMut;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

use super::client::ClientShared;

/// Room made for a read (redis PROTO_IOBUF_LEN).
pub const IOBUF_LEN: usize = 16 * 1024;
/// A buffer at most this big is never shrunk for being bigger than its peak
/// (redis PROTO_RESIZE_THRESHOLD).
const RESIZE_THRESHOLD: usize = 32 * 1024;
use crate::protocol::decode::BIG_ARG;
/// Free room below which a buffer is not worth resizing.
const WORTH_RESIZING: usize = 4 * 1024;

/// The query buffer and what its resizing needs.
pub struct QueryBuf {
    pub buf: BytesMut,
    /// The most bytes it held since the cron last looked (redis `querybuf_peak`).
    peak: usize,
    /// Released while the client is idle: the next read allocates it again.
    released: bool,
    /// The last growth was for a big argument (see `prepare`).
    after_big: bool,
    /// How far the request at the front of `buf` was parsed (its offsets stay valid: only a
    /// completed request moves the front, and resets it).
    pub scan: crate::protocol::decode::Resume,
}

impl Default for QueryBuf {
    fn default() -> Self {
        QueryBuf {
            buf: BytesMut::with_capacity(IOBUF_LEN),
            peak: 0,
            released: false,
            after_big: false,
            scan: Default::default(),
        }
    }
}

impl QueryBuf {
    /// Makes room for the next read: 16 KiB, or what the bulk being read still needs (`hint`,
    /// the bytes the request at the front needs in all, given for a big argument only).
    pub fn prepare(&mut self, hint: usize) {
        if self.released {
            return;
        }
        let b = &mut self.buf;
        let (len, cap) = (b.len(), b.capacity());
        if hint >= BIG_ARG {
            // A big argument gets a buffer of the request's exact size, as Redis sizes its query
            // buffer for one (`sdsMakeRoomForNonGreedy`) and then hands that buffer to the
            // argument: a buffer that doubled would count twice the client's memory (client
            // eviction, CLIENT LIST `qbuf`) and stay pinned by the stored value. Once it is
            // sized, the reads fill what is left of it, however little room a read finds.
            if hint > cap {
                let mut exact = BytesMut::with_capacity(hint);
                exact.extend_from_slice(b);
                *b = exact;
                self.after_big = true;
            }
            return;
        }
        if std::mem::take(&mut self.after_big) {
            // The big request is done: what follows it moves to a buffer of its own, so the
            // argument alone keeps the big allocation (the argument's owner copies it or not).
            let mut rest = BytesMut::with_capacity(len + IOBUF_LEN);
            rest.extend_from_slice(b);
            *b = rest;
            return;
        }
        if cap - len >= 1024 && hint <= cap {
            return;
        }
        // Other growth doubles, so that a long request of small arguments is copied a few
        // times, not once per read.
        b.reserve(hint.max(len + IOBUF_LEN) - len);
    }

    /// Reads what the socket has. A released buffer is allocated again only once bytes
    /// arrived (they are read into a small stack buffer first).
    pub async fn read<S: AsyncRead + Unpin>(&mut self, stream: &mut S) -> std::io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_read(stream, cx)).await
    }

    /// [`QueryBuf::read`] as a poll, for a connection that also writes while it waits.
    pub fn poll_read<S: AsyncRead + Unpin>(
        &mut self,
        stream: &mut S,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<usize>> {
        if !self.released {
            return tokio_util::io::poll_read_buf(Pin::new(stream), cx, &mut self.buf);
        }
        let mut first = [0u8; 1024];
        let mut rb = ReadBuf::new(&mut first);
        ready!(Pin::new(stream).poll_read(cx, &mut rb))?;
        let n = rb.filled().len();
        if n > 0 {
            self.released = false;
            self.buf = BytesMut::with_capacity(IOBUF_LEN);
            self.buf.extend_from_slice(rb.filled());
        }
        Poll::Ready(Ok(n))
    }

    /// Records the buffer's size after a read (and the size of the bulk being read).
    pub fn note_peak(&mut self, hint: usize) {
        self.peak = self.peak.max(self.buf.len()).max(hint);
    }

    /// Shows the buffer to CLIENT LIST. An emptied buffer first takes back the room of the
    /// requests it handed out, when nothing holds them any more (Redis's buffer keeps its
    /// allocation as it is consumed).
    pub fn publish(&mut self, c: &ClientShared) {
        if self.buf.is_empty() && !self.released {
            let _ = self.buf.try_reclaim(IOBUF_LEN);
        }
        // What Redis would still hold: it moves the parsed part of a request out of its buffer.
        let parsed = self.scan.parsed().min(self.buf.len());
        c.qbuf_len.store(self.buf.len() - parsed, Ordering::Relaxed);
        c.qbuf_cap.store(self.capacity(), Ordering::Relaxed);
    }

    fn capacity(&self) -> usize {
        if self.released {
            0
        } else {
            self.buf.capacity()
        }
    }

    /// The cron's visit: release the buffer of a client idle for more than 2 seconds, or
    /// shrink one much bigger than its recent peak (never below what it holds, nor below the
    /// bulk being read), then start a new peak.
    pub fn resize(&mut self, idle_secs: i64, hint: usize) {
        let (len, cap) = (self.buf.len(), self.capacity());
        if cap - len > WORTH_RESIZING {
            if idle_secs > 2 {
                if len == 0 {
                    self.buf = BytesMut::new();
                    self.released = true;
                } else {
                    self.buf = BytesMut::from(&self.buf[..]);
                }
            } else if cap > RESIZE_THRESHOLD && cap / 2 > self.peak {
                let keep = len.max(self.peak).max(hint);
                let mut b = BytesMut::with_capacity(keep);
                b.extend_from_slice(&self.buf);
                self.buf = b;
            }
        }
        self.peak = len.max(hint);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::{decode_request_frame, DecodeLimits};

    /// Feeds `wire` as reads of at most `piece` bytes into the room `prepare` made (as a TLS
    /// link reads one record at a time) and returns the requests decoded, with the largest
    /// capacity the buffer reached and its capacity after the next `prepare`.
    fn feed(wire: &[u8], piece: usize) -> (Vec<bytes::Bytes>, usize, usize) {
        let mut qb = QueryBuf::default();
        let (mut hint, mut rest, mut frames, mut most) = (0, wire, Vec::new(), 0);
        loop {
            while let Some((_, frame)) = decode_request_frame(
                &mut qb.buf,
                DecodeLimits::default(),
                &mut hint,
                &mut qb.scan,
            )
            .unwrap()
            {
                hint = 0;
                frames.push(frame);
            }
            qb.prepare(hint);
            most = most.max(qb.buf.capacity());
            if rest.is_empty() {
                return (frames, most, qb.buf.capacity());
            }
            let room = qb.buf.capacity() - qb.buf.len();
            assert!(room > 0, "prepare left no room to read into");
            let n = piece.min(room).min(rest.len());
            qb.buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
        }
    }

    fn request(args: &[&[u8]]) -> Vec<u8> {
        let mut out = BytesMut::new();
        let argv: Vec<bytes::Bytes> = args
            .iter()
            .map(|a| bytes::Bytes::copy_from_slice(a))
            .collect();
        crate::replication::stream::encode_command(&mut out, &argv);
        out.to_vec()
    }

    #[test]
    fn a_big_argument_read_in_small_pieces_gets_one_buffer_of_its_size() {
        let value = vec![b'v'; 3 * BIG_ARG + 7];
        let set = request(&[b"SET", b"key", &value]);
        let ping = request(&[b"PING"]);
        for piece in [1000, 16 * 1024, 16 * 1024 + 5] {
            let wire = [set.clone(), ping.clone()].concat();
            let (frames, most, after) = feed(&wire, piece);
            assert_eq!(frames.len(), 2, "piece {piece}");
            assert_eq!(&frames[0][..], &set[..]);
            // The request's buffer is exactly its size, never a bigger copy made near its end
            // (which a value stored from it would pin).
            assert_eq!(most, set.len(), "piece {piece}");
            // What came after it was moved to a small buffer of its own.
            assert!(after < BIG_ARG, "piece {piece}: {after}");
        }
    }

    #[test]
    fn the_cron_shrinks_a_buffer_left_bigger_than_its_peak() {
        let mut qb = QueryBuf::default();
        qb.buf.reserve(4 * RESIZE_THRESHOLD);
        qb.buf.extend_from_slice(b"*1\r\n");
        qb.note_peak(0);
        qb.resize(0, 0);
        assert!(
            qb.buf.capacity() < RESIZE_THRESHOLD,
            "{}",
            qb.buf.capacity()
        );
        assert_eq!(&qb.buf[..], b"*1\r\n");
        // Idle for more than 2 seconds with nothing pending: released.
        qb.buf.clear();
        qb.buf.reserve(8 * 1024);
        qb.resize(3, 0);
        assert_eq!(qb.capacity(), 0);
    }
}
