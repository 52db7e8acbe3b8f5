//! TLS (redis `tls.c`) with OpenSSL, as Redis: the `tls-*` directives are OpenSSL settings and
//! are handed to it unchanged (`context.rs` builds the contexts).
//!
//! [`configure`] builds what Redis's `tlsConfigure` builds: the server context, and a client
//! context when `tls-client-cert-file` and `tls-client-key-file` are set (else connections to
//! other servers, a replica's to its master and MIGRATE's, use the server context, so its
//! certificate is our client certificate). [`TlsState`] holds the current build: CONFIG SET of
//! a `tls-*` directive rebuilds it, so new connections use the new settings while established
//! ones keep theirs. `tls-auth-clients` is applied to each accepted connection (redis
//! `connCreateAcceptedTLS`), so it needs no rebuild. As in Redis, a peer's certificate is
//! checked against the CA, not against a host name, and no server name is sent.

mod context;

use std::pin::Pin;
use std::sync::Arc;

use openssl::ssl::{Ssl, SslContext, SslVerifyMode};
use parking_lot::RwLock;
use tokio::net::TcpStream;

use crate::config::Config;

pub use context::err_text;

/// Said by CONFIG SET when a `tls-*` change cannot be applied (redis `applyTlsCfg`).
pub const UPDATE_FAILED: &str = "Unable to update TLS configuration. Check server logs.";

/// A TLS connection, accepted or opened (a replica's link to its master).
pub type Stream = tokio_openssl::SslStream<TcpStream>;
/// A client-side TLS connection on a blocking socket (MIGRATE's links).
pub type BlockingClientStream = openssl::ssl::SslStream<std::net::TcpStream>;

/// The OpenSSL contexts of one `configure`.
pub struct Contexts {
    server: SslContext,
    /// With a client certificate of its own; else the server context serves both sides.
    client: Option<SslContext>,
}

impl Contexts {
    fn client_side(&self) -> &SslContext {
        self.client.as_ref().unwrap_or(&self.server)
    }
}

/// The contexts in force (none until TLS is first configured).
#[derive(Default)]
pub struct TlsState {
    current: RwLock<Option<Arc<Contexts>>>,
}

/// What accepts one connection: the server context and the verification `tls-auth-clients`
/// asked for when it came.
pub struct Acceptor {
    contexts: Arc<Contexts>,
    verify: SslVerifyMode,
}

impl Acceptor {
    /// The server side of the handshake; the error is OpenSSL's, for the log.
    pub async fn accept(self, stream: TcpStream) -> Result<Stream, String> {
        let mut ssl = Ssl::new(&self.contexts.server).map_err(|e| err_text(&e))?;
        ssl.set_verify(self.verify);
        let mut tls = Stream::new(ssl, stream).map_err(|e| err_text(&e))?;
        Pin::new(&mut tls)
            .accept()
            .await
            .map_err(|e| describe(&e))?;
        Ok(tls)
    }
}

/// The text of a failed TLS operation, as Redis keeps it (`updateTLSError`: OpenSSL's first
/// error; the system's error for a failed socket).
pub fn describe(e: &openssl::ssl::Error) -> String {
    if let Some(stack) = e.ssl_error() {
        return err_text(stack);
    }
    match e.io_error() {
        Some(io) => match io.raw_os_error() {
            Some(errno) => crate::persistence::aof::strerror(errno),
            None => io.to_string(),
        },
        // The peer closed the connection: OpenSSL 3 reading a socket calls it an unexpected
        // end (the stream's own BIO has no end-of-file state for OpenSSL to see).
        None if e.code() == openssl::ssl::ErrorCode::SYSCALL => {
            "error:0A000126:SSL routines::unexpected eof while reading".to_string()
        }
        // Redis logs its NULL error as glibc prints it.
        None => "(null)".to_string(),
    }
}

impl TlsState {
    pub fn is_configured(&self) -> bool {
        self.current.read().is_some()
    }

    pub fn install(&self, contexts: Contexts) {
        *self.current.write() = Some(Arc::new(contexts));
    }

    /// The acceptor for a new connection under `tls-auth-clients` = `auth` (0 no, 1 yes,
    /// 2 optional).
    pub fn acceptor(&self, auth: u32) -> Option<Acceptor> {
        let contexts = self.current.read().clone()?;
        let verify = match auth {
            0 => SslVerifyMode::NONE,
            2 => SslVerifyMode::PEER,
            _ => SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT,
        };
        Some(Acceptor { contexts, verify })
    }

    /// Opens TLS on a connection to another server (redis `connCreateTLS` + connect): its
    /// certificate must come from our CA.
    pub async fn connect(&self, stream: TcpStream) -> std::io::Result<Stream> {
        let ssl = self.client_ssl()?;
        let mut tls = Stream::new(ssl, stream).map_err(|e| std::io::Error::other(err_text(&e)))?;
        Pin::new(&mut tls)
            .connect()
            .await
            .map_err(|e| std::io::Error::other(describe(&e)))?;
        Ok(tls)
    }

    /// The same on a blocking socket (MIGRATE's links, redis `connTLSBlockingConnect`): the
    /// handshake is done before returning, bounded by the socket's read and write timeouts.
    pub fn connect_blocking(
        &self,
        stream: std::net::TcpStream,
    ) -> std::io::Result<BlockingClientStream> {
        use openssl::ssl::HandshakeError;
        match self.client_ssl()?.connect(stream) {
            Ok(s) => Ok(s),
            Err(HandshakeError::SetupFailure(e)) => Err(std::io::Error::other(err_text(&e))),
            Err(HandshakeError::Failure(m)) => Err(std::io::Error::other(describe(m.error()))),
            Err(HandshakeError::WouldBlock(_)) => Err(std::io::ErrorKind::TimedOut.into()),
        }
    }

    /// A client-side connection object of the contexts in force.
    fn client_ssl(&self) -> std::io::Result<Ssl> {
        let Some(contexts) = self.current.read().clone() else {
            return Err(std::io::Error::other("TLS is not configured"));
        };
        Ssl::new(contexts.client_side()).map_err(|e| std::io::Error::other(err_text(&e)))
    }
}

/// Whether the directives ask for TLS at all (redis: `tls-port`, `tls-replication` or
/// `tls-cluster` set).
pub fn wanted(c: &Config) -> bool {
    c.tls_port != 0 || c.tls_replication || c.tls_cluster
}

/// Builds the contexts from the directives (redis `tlsConfigure`); the error is the line to log.
pub fn configure(c: &Config) -> Result<Contexts, String> {
    context::build(c)
}

impl super::order::WatchReads for Stream {
    fn watch_reads(&self, waker: &std::task::Waker) {
        self.get_ref().watch_reads(waker)
    }
}

/// Configures TLS at startup when the directives ask for it (redis `initListeners`: "Failed to
/// configure TLS" stops the server).
pub fn startup(server: &super::Server) -> bool {
    let cfg = server.config.read();
    if !wanted(&cfg) {
        return true;
    }
    match configure(&cfg) {
        Ok(c) => {
            server.tls.install(c);
            true
        }
        Err(e) => {
            tracing::warn!("{e}");
            tracing::warn!("Failed to configure TLS. Check logs for more info.");
            false
        }
    }
}

/// CONFIG SET of a `tls-*` directive (redis `applyTlsCfg`): rebuilds the contexts when TLS is
/// in use; a failure leaves the old ones in force.
pub fn reconfigure(server: &super::Server) -> Result<(), &'static str> {
    let cfg = server.config.read().clone();
    if !wanted(&cfg) {
        return Ok(());
    }
    install_from(server, &cfg)
}

/// Builds and installs the contexts, logging why it failed.
pub fn install_from(server: &super::Server, cfg: &Config) -> Result<(), &'static str> {
    match configure(cfg) {
        Ok(c) => {
            server.tls.install(c);
            Ok(())
        }
        Err(e) => {
            tracing::warn!("{e}");
            Err(UPDATE_FAILED)
        }
    }
}
