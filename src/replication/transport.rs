//! The replica's connection to its master: plain TCP, or TLS with `tls-replication yes`
//! (redis `connCreateTLS` in `connectWithMaster`).
//!
//! The snapshot of a full sync is received on a background thread with blocking reads
//! (`sync_load`). A plain socket is handed to that thread as it is; TLS records must be
//! decrypted by the connection's owner, so a TLS link stays in an async task, the [`pump`],
//! which forwards what it reads through a bounded channel ([`Pumped`] is the thread's end)
//! and gives the connection back, with whatever it read past the snapshot, when told to stop.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use crate::server::tls;

pub enum LinkStream {
    Plain(TcpStream),
    Tls(Box<tls::Stream>),
}

impl LinkStream {
    fn tcp(&self) -> &TcpStream {
        match self {
            LinkStream::Plain(s) => s,
            LinkStream::Tls(s) => s.get_ref(),
        }
    }

    pub fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.tcp().peer_addr()
    }

    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.tcp().local_addr()
    }

    /// The socket's descriptor (CLIENT LIST's `fd`, and CLIENT KILL shuts it down).
    pub fn raw_fd(&self) -> i32 {
        std::os::fd::AsRawFd::as_raw_fd(self.tcp())
    }
}

impl AsyncRead for LinkStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            LinkStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            LinkStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for LinkStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            LinkStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            LinkStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            LinkStream::Plain(s) => Pin::new(s).poll_flush(cx),
            LinkStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            LinkStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            LinkStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Chunks in flight between the pump and the transfer thread.
const PUMP_DEPTH: usize = 4;
const PUMP_CHUNK: usize = 64 * 1024;

/// The transfer thread's end of a [`pump`]: blocking reads. A read that waited `repl-timeout`
/// fails with `TimedOut`, as a plain socket's read timeout does.
pub struct Pumped {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    cur: Bytes,
}

impl io::Read for Pumped {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.cur = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.cur.len());
        out[..n].copy_from_slice(&self.cur.split_to(n));
        Ok(n)
    }
}

impl Pumped {
    /// What was read but not consumed, in order.
    fn leftover(mut self, into: &mut BytesMut) {
        into.extend_from_slice(&self.cur);
        while let Ok(Ok(b)) = self.rx.try_recv() {
            into.extend_from_slice(&b);
        }
    }
}

/// A running pump: stop it to get the connection back.
pub struct Pump {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<(LinkStream, BytesMut)>,
}

/// Starts reading `stream` for a transfer thread.
pub fn pump(stream: LinkStream, timeout: Duration) -> (Pump, Pumped) {
    let (tx, rx) = mpsc::channel(PUMP_DEPTH);
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(run(stream, tx, stopped, timeout));
    (
        Pump { stop, task },
        Pumped {
            rx,
            cur: Bytes::new(),
        },
    )
}

impl Pump {
    /// Stops the pump; returns the connection, and appends to `buf` everything read from it
    /// that the transfer did not consume (`pumped`'s rest, then what the pump still held).
    pub async fn finish(self, pumped: Pumped, buf: &mut BytesMut) -> io::Result<LinkStream> {
        let _ = self.stop.send(());
        let (stream, rest) = self
            .task
            .await
            .map_err(|_| io::Error::other("the replication link's reader failed"))?;
        pumped.leftover(buf);
        buf.extend_from_slice(&rest);
        Ok(stream)
    }
}

async fn run(
    mut stream: LinkStream,
    tx: mpsc::Sender<io::Result<Bytes>>,
    mut stop: oneshot::Receiver<()>,
    timeout: Duration,
) -> (LinkStream, BytesMut) {
    let mut rest = BytesMut::new();
    let mut tx = Some(tx);
    loop {
        let Some(sender) = tx.as_ref() else {
            // The end of the stream or an error was passed on: only the stop is left.
            let _ = (&mut stop).await;
            break;
        };
        let mut chunk = BytesMut::with_capacity(PUMP_CHUNK);
        let item = tokio::select! {
            biased;
            _ = &mut stop => break,
            r = tokio::time::timeout(timeout, stream.read_buf(&mut chunk)) => match r {
                Err(_) => Err(io::Error::from(io::ErrorKind::TimedOut)),
                Ok(Ok(0)) => {
                    tx = None;
                    continue;
                }
                Ok(Ok(_)) => Ok(chunk.freeze()),
                Ok(Err(e)) => Err(e),
            },
        };
        let mut last = item.is_err();
        let mut item = Some(item);
        tokio::select! {
            biased;
            _ = &mut stop => {
                if let Some(Ok(b)) = item.take() {
                    rest.extend_from_slice(&b);
                }
                break;
            }
            permit = sender.reserve() => match permit {
                Ok(p) => {
                    if let Some(i) = item.take() {
                        p.send(i);
                    }
                }
                Err(_) => {
                    // The thread is gone: keep what it did not take.
                    if let Some(Ok(b)) = item.take() {
                        rest.extend_from_slice(&b);
                    }
                    last = true;
                }
            }
        }
        if last {
            tx = None;
        }
    }
    (stream, rest)
}
