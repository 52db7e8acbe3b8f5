//! TLS (redis `tls.c`) with rustls and its ring provider.
//!
//! [`configure`] builds, from the `tls-*` directives, what Redis's `tlsConfigure` builds: the
//! server side (one rustls config per `tls-auth-clients` value, since that directive applies to
//! each new connection without a reconfiguration) and the client side replicas use towards
//! their master (`tls-client-cert-file`, else `tls-cert-file`, as Redis). [`TlsState`] holds
//! the current build: CONFIG SET of a `tls-*` directive rebuilds it, so new connections use the
//! new certificates while established ones keep theirs.
//!
//! What Redis takes from OpenSSL and rustls does not have is refused, never ignored: TLSv1 and
//! TLSv1.1, suites other than ECDHE + AEAD (`suites.rs`), legacy-encrypted keys (`load.rs`).
//! `tls-dh-params-file` is read and checked but has nothing to apply to: rustls offers no DHE.
//! As OpenSSL in Redis, a peer's certificate is checked against the CA, not against a host
//! name.

mod load;
mod session;
mod suites;

use std::sync::Arc;

use parking_lot::RwLock;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{ClientConfig, DigitallySignedStruct, ServerConfig, SignatureScheme};
use tokio::net::TcpStream;

use crate::config::Config;

/// Said by CONFIG SET when a `tls-*` change cannot be applied (redis `applyTlsCfg`).
pub const UPDATE_FAILED: &str = "Unable to update TLS configuration. Check server logs.";

/// A server-side TLS connection.
pub type ServerStream = tokio_rustls::server::TlsStream<TcpStream>;
/// A client-side TLS connection (a replica's link to its master).
pub type ClientStream = tokio_rustls::client::TlsStream<TcpStream>;
/// A client-side TLS connection on a blocking socket (MIGRATE's links).
pub type BlockingClientStream = rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>;

/// The rustls configurations of one `configure`.
pub struct Contexts {
    /// Indexed by `tls-auth-clients`: 0 no, 1 yes, 2 optional.
    server: [Arc<ServerConfig>; 3],
    /// None without a CA to check a master's certificate against.
    client: Option<Arc<ClientConfig>>,
}

/// The contexts in force (none until TLS is first configured).
#[derive(Default)]
pub struct TlsState {
    current: RwLock<Option<Arc<Contexts>>>,
}

impl TlsState {
    pub fn is_configured(&self) -> bool {
        self.current.read().is_some()
    }

    pub fn install(&self, contexts: Contexts) {
        *self.current.write() = Some(Arc::new(contexts));
    }

    /// The acceptor for a new connection under `tls-auth-clients` = `auth`.
    pub fn acceptor(&self, auth: u32) -> Option<tokio_rustls::TlsAcceptor> {
        let cur = self.current.read();
        let c = cur.as_ref()?;
        let cfg = c.server.get(auth as usize).unwrap_or(&c.server[1]);
        Some(tokio_rustls::TlsAcceptor::from(cfg.clone()))
    }

    /// Opens TLS on a connection to `host` (redis `connCreateTLS` + connect).
    pub async fn connect(&self, host: &str, stream: TcpStream) -> std::io::Result<ClientStream> {
        let (cfg, name) = self.client_side(host)?;
        tokio_rustls::TlsConnector::from(cfg)
            .connect(name, stream)
            .await
    }

    /// The same on a blocking socket (MIGRATE's links, redis `connTLSBlockingConnect`): the
    /// handshake is done before returning, bounded by the socket's read and write timeouts.
    pub fn connect_blocking(
        &self,
        host: &str,
        mut stream: std::net::TcpStream,
    ) -> std::io::Result<BlockingClientStream> {
        let (cfg, name) = self.client_side(host)?;
        let mut conn = rustls::ClientConnection::new(cfg, name).map_err(std::io::Error::other)?;
        while conn.is_handshaking() {
            conn.complete_io(&mut stream)?;
        }
        Ok(rustls::StreamOwned::new(conn, stream))
    }

    /// The client configuration and the name `host` stands for.
    fn client_side(&self, host: &str) -> std::io::Result<(Arc<ClientConfig>, ServerName<'static>)> {
        let cfg = self.current.read().as_ref().and_then(|c| c.client.clone());
        let Some(cfg) = cfg else {
            return Err(std::io::Error::other(
                "TLS is not configured for connections to other servers",
            ));
        };
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        Ok((cfg, name))
    }
}

/// Whether the directives ask for TLS at all (redis: `tls-port`, `tls-replication` or
/// `tls-cluster` set).
pub fn wanted(c: &Config) -> bool {
    c.tls_port != 0 || c.tls_replication || c.tls_cluster
}

/// Builds the contexts from the directives (redis `tlsConfigure`); the error is the line to log.
pub fn configure(c: &Config) -> Result<Contexts, String> {
    let Some(cert_file) = c.tls_cert_file.as_deref() else {
        return Err("No tls-cert-file configured!".into());
    };
    let Some(key_file) = c.tls_key_file.as_deref() else {
        return Err("No tls-key-file configured!".into());
    };
    let need_ca = c.tls_auth_clients != 0 || c.tls_cluster || c.tls_replication;
    if need_ca && c.tls_ca_cert_file.is_none() && c.tls_ca_cert_dir.is_none() {
        return Err("Either tls-ca-cert-file or tls-ca-cert-dir must be specified when tls-cluster, tls-replication or tls-auth-clients are enabled!".into());
    }
    let versions = suites::protocols(c.tls_protocols.as_deref())?;
    let cipher_suites = suites::suites(
        &versions,
        c.tls_ciphers.as_deref(),
        c.tls_ciphersuites.as_deref(),
    )?;
    // ring rather than aws-lc (no cmake, a fraction of the build); rustls 0.23.48 deprecates
    // its provider only for lacking post-quantum key exchange, which Redis 7.0 has not either.
    #[allow(deprecated)]
    let provider = Arc::new(CryptoProvider {
        cipher_suites,
        ..rustls::crypto::ring::default_provider()
    });
    let identity = identity(
        load::chain(cert_file)?,
        load::key(key_file, c.tls_key_file_pass.as_deref())?,
        &provider,
        key_file,
    )?;
    let roots = match (c.tls_ca_cert_file.as_deref(), c.tls_ca_cert_dir.as_deref()) {
        (None, None) => None,
        (file, dir) => Some(Arc::new(load::roots(file, dir)?)),
    };
    if let Some(dh) = c.tls_dh_params_file.as_deref() {
        load::dh_params(dh)?;
    }
    let sessions = session::storage(c);
    let tickets = session::tickets(c)?;
    let server_config = |auth: u32| -> Result<Arc<ServerConfig>, String> {
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| format!("Failed to configure TLS: {e}"))?;
        let builder = match (&roots, auth) {
            (None, _) | (_, 0) => builder.with_no_client_auth(),
            (Some(roots), _) => {
                let b =
                    WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone());
                let b = if auth == 2 {
                    b.allow_unauthenticated()
                } else {
                    b
                };
                let verifier = b.build().map_err(|e| {
                    format!("Failed to configure CA certificate(s) file/directory: {e}")
                })?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut cfg = builder.with_cert_resolver(identity.clone());
        cfg.ignore_client_order = c.tls_prefer_server_ciphers;
        cfg.session_storage = sessions.clone();
        match &tickets {
            Some(t) => cfg.ticketer = t.clone(),
            None => cfg.send_tls13_tickets = 0,
        }
        Ok(Arc::new(cfg))
    };
    let server = [server_config(0)?, server_config(1)?, server_config(2)?];
    let client = client_config(c, &provider, &versions, roots, identity)?;
    Ok(Contexts { server, client })
}

/// The replica side: the master's certificate is checked against the CA; our certificate is
/// `tls-client-cert-file` when both it and its key are set, else `tls-cert-file`.
fn client_config(
    c: &Config,
    provider: &Arc<CryptoProvider>,
    versions: &[&'static rustls::SupportedProtocolVersion],
    roots: Option<Arc<rustls::RootCertStore>>,
    server_identity: Arc<SingleCertAndKey>,
) -> Result<Option<Arc<ClientConfig>>, String> {
    let identity = match (
        c.tls_client_cert_file.as_deref(),
        c.tls_client_key_file.as_deref(),
    ) {
        (Some(cert), Some(key)) => identity(
            load::chain(cert)?,
            load::key(key, c.tls_client_key_file_pass.as_deref())?,
            provider,
            key,
        )?,
        _ => server_identity,
    };
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| format!("Failed to configure TLS: {e}"))?;
    // Without a CA (only possible with tls-replication and tls-cluster off) there is no
    // client side.
    let Some(roots) = roots else {
        return Ok(None);
    };
    let inner = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|e| format!("Failed to configure CA certificate(s) file/directory: {e}"))?;
    let verifier = Arc::new(AnyName(inner));
    let cfg = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_cert_resolver(identity);
    Ok(Some(Arc::new(cfg)))
}

/// A certificate chain with its private key. As OpenSSL, the key must match the certificate;
/// a certificate webpki cannot parse (X.509 v1, which OpenSSL still makes) is used all the
/// same: whoever receives it decides whether to accept it.
fn identity(
    chain: Vec<CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
    provider: &CryptoProvider,
    key_file: &str,
) -> Result<Arc<SingleCertAndKey>, String> {
    use rustls::{Error, InconsistentKeys};
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("Failed to load private key: {key_file}: {e}"))?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) | Err(Error::InconsistentKeys(InconsistentKeys::Unknown)) => {}
        Err(Error::InconsistentKeys(_)) => {
            return Err(format!(
                "Failed to load private key: {key_file}: key values mismatch"
            ))
        }
        Err(e) => {
            tracing::debug!("The certificate of {key_file} cannot be checked against its key: {e}")
        }
    }
    Ok(Arc::new(SingleCertAndKey::from(certified)))
}

/// Checks the chain against the CA and ignores the host name, as OpenSSL does for Redis
/// (`SSL_VERIFY_PEER` without a host check).
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        use rustls::{CertificateError, Error};
        // The name is checked last, after the chain: a name error means the chain is good.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            r => r,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

impl super::order::WatchReads for ServerStream {
    fn watch_reads(&self, waker: &std::task::Waker) {
        self.get_ref().0.watch_reads(waker)
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
