//! The links to a monitored instance (redis `instanceLink`): a command connection, and for
//! masters and replicas a pub/sub connection subscribed to `__sentinel__:hello`. Each
//! connection is a task fed through a channel; commands are pipelined and each reply goes, in
//! order, to the handler of the command that asked for it (`monitor::on_reply`). Closing a
//! connection is dropping its sender: the task ends and the socket closes.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::cli::resp::{self, Value};

/// What to do with a command's reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Discard,
    Ping,
    Info,
    Publish,
    IsMasterDown,
    /// `REPLCONF FENCE`, and the INFO right after it (issue #13).
    Fence,
    FenceInfo,
    /// Messages on the pub/sub connection.
    Hello,
}

type Request = (Vec<Vec<u8>>, Kind);

#[derive(Debug)]
pub struct Conn {
    tx: mpsc::UnboundedSender<Request>,
    pub gen: u64,
}

#[derive(Debug)]
pub struct Link {
    pub cc: Option<Conn>,
    pub pc: Option<Conn>,
    pub pending_commands: i64,
    pub cc_conn_time: i64,
    pub pc_conn_time: i64,
    pub last_reconn_time: i64,
    pub pc_last_activity: i64,
    pub act_ping_time: i64,
    pub last_ping_time: i64,
    pub last_pong_time: i64,
    pub last_avail_time: i64,
    /// Our address on the command connection (hello messages announce it).
    pub local_ip: Option<String>,
}

impl Link {
    pub fn new(now: i64) -> Link {
        Link {
            cc: None,
            pc: None,
            pending_commands: 0,
            cc_conn_time: 0,
            pc_conn_time: 0,
            last_reconn_time: 0,
            pc_last_activity: 0,
            act_ping_time: now,
            last_ping_time: 0,
            last_pong_time: now,
            last_avail_time: now,
            local_ip: None,
        }
    }

    /// redis `link->disconnected`: a connection is missing (sentinels have no pub/sub one).
    pub fn disconnected(&self, sentinel: bool) -> bool {
        self.cc.is_none() || (!sentinel && self.pc.is_none())
    }

    /// Queues a command on the command connection; false when there is none.
    pub fn send(&mut self, argv: Vec<String>, kind: Kind) -> bool {
        let Some(c) = &self.cc else { return false };
        let argv = argv.into_iter().map(String::into_bytes).collect();
        if c.tx.send((argv, kind)).is_err() {
            return false;
        }
        self.pending_commands += 1;
        true
    }

    /// Queues a command on the pub/sub connection.
    pub fn send_pubsub(&mut self, argv: Vec<String>, kind: Kind) -> bool {
        let Some(c) = &self.pc else { return false };
        let argv = argv.into_iter().map(String::into_bytes).collect();
        c.tx.send((argv, kind)).is_ok()
    }

    /// redis `instanceLinkCloseConnection` for the command connection.
    pub fn close_cc(&mut self) {
        if self.cc.take().is_some() {
            self.pending_commands = 0;
        }
    }

    pub fn close_pc(&mut self) {
        self.pc = None;
    }

    pub fn close_all(&mut self) {
        self.close_cc();
        self.close_pc();
    }
}

static NEXT_GEN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Opens a connection to `ip:port` for the instance `uid`; commands can be queued at once
/// (they are sent once connected), as with hiredis's async connect.
pub fn open(uid: u64, pubsub: bool, ip: String, port: u16) -> Conn {
    let (tx, rx) = mpsc::unbounded_channel();
    let gen = NEXT_GEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    tokio::spawn(async move {
        run(uid, gen, pubsub, ip, port, rx).await;
        super::monitor::on_disconnect(uid, gen, pubsub);
    });
    Conn { tx, gen }
}

async fn run(
    uid: u64,
    gen: u64,
    pubsub: bool,
    ip: String,
    port: u16,
    mut rx: mpsc::UnboundedReceiver<Request>,
) {
    let addr = if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    };
    let stream = tokio::select! {
        r = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)) => r,
        // The link was closed while connecting.
        _ = closed(&mut rx) => return,
    };
    let Ok(Ok(mut stream)) = stream else { return };
    let _ = stream.set_nodelay(true);
    if !pubsub {
        if let Ok(local) = stream.local_addr() {
            super::monitor::on_connected(uid, gen, local.ip().to_string());
        }
    }
    let mut waiting: VecDeque<Kind> = VecDeque::new();
    let mut inbuf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            req = rx.recv() => {
                let Some((argv, kind)) = req else { return };
                let mut out = Vec::new();
                resp::encode_command(&argv, &mut out);
                // Whatever else is queued goes in the same write.
                let mut kinds = vec![kind];
                while let Ok((argv, kind)) = rx.try_recv() {
                    resp::encode_command(&argv, &mut out);
                    kinds.push(kind);
                }
                for k in kinds {
                    if !(pubsub && k == Kind::Hello) {
                        waiting.push_back(k);
                    }
                }
                if stream.write_all(&out).await.is_err() {
                    return;
                }
            }
            n = stream.read(&mut chunk) => {
                let n = match n { Ok(0) | Err(_) => return, Ok(n) => n };
                inbuf.extend_from_slice(&chunk[..n]);
                let mut replies = Vec::new();
                loop {
                    match resp::parse(&inbuf) {
                        Ok(Some((v, used))) => {
                            inbuf.drain(..used);
                            let kind = match waiting.pop_front() {
                                Some(kind) => kind,
                                // An error nobody waits for (hiredis: a "spontaneous" error
                                // reply, as the refused SUBSCRIBE of a connection whose AUTH
                                // failed, or "max number of clients reached") closes the
                                // connection; the replies read before it still count.
                                None if v.is_error() => {
                                    if !replies.is_empty() {
                                        super::monitor::on_replies(uid, gen, pubsub, replies);
                                    }
                                    return;
                                }
                                None if pubsub => Kind::Hello,
                                None => Kind::Discard,
                            };
                            replies.push((kind, v));
                        }
                        Ok(None) => break,
                        Err(_) => return,
                    }
                }
                if !replies.is_empty() {
                    super::monitor::on_replies(uid, gen, pubsub, replies);
                }
            }
        }
    }
}

/// Resolves when every sender of `rx` is gone (messages queued meanwhile stay queued).
async fn closed(rx: &mut mpsc::UnboundedReceiver<Request>) {
    loop {
        if rx.is_closed() && rx.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The pieces of a reply the handlers look at.
pub fn status_text(v: &Value) -> Option<String> {
    match v {
        Value::Status(b) | Value::Error(b) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    }
}
