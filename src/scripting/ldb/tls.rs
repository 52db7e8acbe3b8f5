//! A debugging session of a TLS client. The session reads and writes a blocking socket
//! (`Session`, `fork.rs`), while a TLS connection's bytes must go through the records of its
//! stream, whose state the connection's task owns. So for the EVAL that starts a session, the
//! connection lends its stream to a relay: the session gets one end of a local socket pair
//! (`Client::debug_socket`), the relay copies between the other end and the TLS stream, and
//! gives the stream back when every copy of the session's end is closed. Redis needs none of
//! this: its debugger calls `connRead`/`connWrite`, which are TLS-aware, and its forked child
//! inherits the connection's TLS state.
//!
//! SCRIPT DEBUG SYNC: the session ends inside the EVAL, the stream comes back and EVAL's reply
//! goes out on it. SCRIPT DEBUG YES: the session outlives the EVAL on a copy of the server;
//! the relay keeps the stream until that session ends, then closes it, as Redis's child exits.
//! (Redis's own YES session over TLS ends at once: the parent's `connTLSClose` of the client
//! sends a close_notify on the connection the child still talks on.)

use std::os::fd::OwnedFd;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::Mode;
use crate::server::client::Client;

/// Whether request `argv` of `client` starts a debugging session that needs the relay: EVAL or
/// EVAL_RO with its arguments, on a TLS connection after SCRIPT DEBUG YES|SYNC, outside MULTI
/// (queued, it only answers QUEUED; run by EXEC it finds no socket and fails).
pub fn wanted(client: &Client, argv: &[bytes::Bytes]) -> bool {
    matches!(client.lua_debug, Mode::Yes | Mode::Sync)
        && client.multi.is_none()
        && argv.len() >= 3
        && (argv[0].eq_ignore_ascii_case(b"eval") || argv[0].eq_ignore_ascii_case(b"eval_ro"))
        && client.shared.tls.load(std::sync::atomic::Ordering::Relaxed)
}

/// Runs `run` (the EVAL) with `stream` relayed to the session's socket. Gives the stream back
/// when the session ended with the EVAL; None when it goes on without this connection
/// (SCRIPT DEBUG YES, the relay then owns the stream) or the relay failed.
pub async fn relay<S, T>(
    stream: S,
    client: &mut Client,
    run: impl FnOnce(&mut Client) -> T,
) -> (Option<S>, T)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let pair = std::os::unix::net::UnixStream::pair().and_then(|(session, ours)| {
        ours.set_nonblocking(true)?;
        Ok((session, tokio::net::UnixStream::from_std(ours)?))
    });
    let (session, ours) = match pair {
        Ok(p) => p,
        Err(e) => {
            // Without a socket the session cannot start: EVAL says so.
            tracing::warn!("Lua debugging over TLS: no local socket pair: {e}");
            let out = run(client);
            return (Some(stream), out);
        }
    };
    client.debug_socket = Some(OwnedFd::from(session));
    let pump = tokio::spawn(pump(stream, ours));
    // The session blocks this thread; the relay runs on another.
    let out = crate::util::blocking(|| run(client));
    // The session keeps its own copies of its end while it lives.
    client.debug_socket = None;
    if client.socket_handed_off {
        // The session closes the connection when it ends, with a close_notify as Redis's
        // `connTLSClose` (without one, redis-cli's next write after the session dies of
        // SIGPIPE).
        tokio::spawn(async move {
            if let Ok(mut tls) = pump.await {
                let _ = tls.shutdown().await;
            }
        });
        return (None, out);
    }
    (pump.await.ok(), out)
}

/// Copies between the TLS client and the session until the session's end is closed. A client
/// gone is an end of input for the session (which then lets the script run on); what the
/// session still writes is read and dropped.
async fn pump<S>(mut tls: S, mut local: tokio::net::UnixStream) -> S
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut from_session, mut to_session) = local.split();
    let mut input = vec![0u8; 16 * 1024];
    let mut output = vec![0u8; 16 * 1024];
    let mut client_open = true;
    loop {
        tokio::select! {
            r = tls.read(&mut input), if client_open => {
                let sent = match r {
                    Ok(n) if n > 0 => to_session.write_all(&input[..n]).await.is_ok(),
                    _ => false,
                };
                if !sent {
                    client_open = false;
                    let _ = to_session.shutdown().await;
                }
            }
            r = from_session.read(&mut output) => {
                let n = match r {
                    Ok(n) if n > 0 => n,
                    _ => break,
                };
                if client_open && tls.write_all(&output[..n]).await.is_err() {
                    client_open = false;
                    let _ = to_session.shutdown().await;
                }
            }
        }
    }
    let _ = tls.flush().await;
    tls
}
