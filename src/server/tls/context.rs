//! The OpenSSL contexts the `tls-*` directives describe (redis `tlsConfigure` and
//! `createSSLContext`): the directives are OpenSSL settings and are handed to it as they are
//! (`tls-ciphers` is an OpenSSL cipher list, `tls-ciphersuites` a TLS 1.3 suite list, keys
//! are decoded by OpenSSL with the configured password, the CA directory is OpenSSL's hashed
//! directory, ...). Each failure is the line Redis logs, with OpenSSL's first error worded as
//! `ERR_error_string_n` words it.

use std::ffi::{c_int, c_long, c_ulong};
use std::path::Path;

use openssl::dh::Dh;
use openssl::error::ErrorStack;
use openssl::pkey::PKey;
use openssl::ssl::{
    SslContext, SslContextBuilder, SslMethod, SslMode, SslOptions, SslSessionCacheMode,
    SslVerifyMode,
};

use crate::config::Config;

/// `tls-protocols`, as bits: TLSv1, TLSv1.1, TLSv1.2, TLSv1.3.
const TLS1: u8 = 1;
const TLS1_1: u8 = 2;
const TLS1_2: u8 = 4;
const TLS1_3: u8 = 8;

/// Builds both contexts from the directives (redis `tlsConfigure`); the error is the line to
/// log. Nothing is installed here: a failure leaves the contexts in force untouched.
pub fn build(c: &Config) -> Result<super::Contexts, String> {
    if c.tls_cert_file.is_none() {
        return Err("No tls-cert-file configured!".into());
    }
    if c.tls_key_file.is_none() {
        return Err("No tls-key-file configured!".into());
    }
    let need_ca = c.tls_auth_clients != 0 || c.tls_cluster || c.tls_replication;
    if need_ca && c.tls_ca_cert_file.is_none() && c.tls_ca_cert_dir.is_none() {
        return Err("Either tls-ca-cert-file or tls-ca-cert-dir must be specified when tls-cluster, tls-replication or tls-auth-clients are enabled!".into());
    }
    let protocols = protocols(c.tls_protocols.as_deref())?;
    let mut server = base(c, protocols, false)?;
    if c.tls_session_caching {
        server.set_session_cache_mode(SslSessionCacheMode::SERVER);
        server.set_session_cache_size(clamp(c.tls_session_cache_size));
        set_timeout(&mut server, c.tls_session_cache_timeout);
        server
            .set_session_id_context(b"redis")
            .map_err(|e| format!("Failed to configure TLS session caching: {}", err_text(&e)))?;
    } else {
        server.set_session_cache_mode(SslSessionCacheMode::OFF);
    }
    if c.tls_prefer_server_ciphers {
        server.set_options(SslOptions::CIPHER_SERVER_PREFERENCE);
    }
    server.set_options(SslOptions::SINGLE_DH_USE);
    match c.tls_dh_params_file.as_deref() {
        Some(path) => dh_params(&mut server, path)?,
        None => set_dh_auto(&mut server),
    }
    let client = match (
        c.tls_client_cert_file.as_deref(),
        c.tls_client_key_file.as_deref(),
    ) {
        (Some(_), Some(_)) => Some(base(c, protocols, true)?.build()),
        _ => None,
    };
    Ok(super::Contexts {
        server: server.build(),
        client,
    })
}

/// The settings both sides share (redis `createSSLContext`): protocols, certificate and key,
/// CA, ciphers. `client` picks the `tls-client-*` certificate, key and password.
fn base(c: &Config, protocols: u8, client: bool) -> Result<SslContextBuilder, String> {
    let (cert, key, pass) = if client {
        (
            &c.tls_client_cert_file,
            &c.tls_client_key_file,
            &c.tls_client_key_file_pass,
        )
    } else {
        (&c.tls_cert_file, &c.tls_key_file, &c.tls_key_file_pass)
    };
    let (cert, key) = (cert.as_deref().unwrap_or(""), key.as_deref().unwrap_or(""));
    let mut ctx = SslContext::builder(SslMethod::tls())
        .map_err(|e| format!("Failed to create a TLS context: {}", err_text(&e)))?;
    let mut options = SslOptions::NO_SSLV2
        | SslOptions::NO_SSLV3
        | SslOptions::DONT_INSERT_EMPTY_FRAGMENTS
        | SslOptions::NO_COMPRESSION;
    for (bit, off) in [
        (TLS1, SslOptions::NO_TLSV1),
        (TLS1_1, SslOptions::NO_TLSV1_1),
        (TLS1_2, SslOptions::NO_TLSV1_2),
        (TLS1_3, SslOptions::NO_TLSV1_3),
    ] {
        if protocols & bit == 0 {
            options |= off;
        }
    }
    ctx.set_options(options);
    ctx.set_mode(SslMode::ENABLE_PARTIAL_WRITE | SslMode::ACCEPT_MOVING_WRITE_BUFFER);
    ctx.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
    ctx.set_certificate_chain_file(c_path(cert))
        .map_err(|e| format!("Failed to load certificate: {cert}: {}", err_text(&e)))?;
    let key_failed = |e: &ErrorStack| format!("Failed to load private key: {key}: {}", err_text(e));
    let pem = std::fs::read(c_path(key)).map_err(|e| {
        // OpenSSL's words for a file it cannot open.
        let errno = e.raw_os_error().unwrap_or(0);
        format!("Failed to load private key: {key}: {}", sys_err_text(errno))
    })?;
    let pass = pass.as_deref().map(c_str);
    let pkey = PKey::private_key_from_pem_callback(&pem, |buf| match pass {
        Some(p) if p.len() <= buf.len() => {
            buf[..p.len()].copy_from_slice(p.as_bytes());
            Ok(p.len())
        }
        _ => Err(ErrorStack::get()),
    })
    .map_err(|e| key_failed(&e))?;
    ctx.set_private_key(&pkey).map_err(|e| key_failed(&e))?;
    let (ca_file, ca_dir) = (c.tls_ca_cert_file.as_deref(), c.tls_ca_cert_dir.as_deref());
    if ca_file.is_some() || ca_dir.is_some() {
        ctx.load_verify_locations(ca_file.map(c_path), ca_dir.map(c_path))
            .map_err(|e| {
                format!(
                    "Failed to configure CA certificate(s) file/directory: {}",
                    err_text(&e)
                )
            })?;
    }
    if let Some(list) = c.tls_ciphers.as_deref() {
        ctx.set_cipher_list(c_str(list))
            .map_err(|_| format!("Failed to configure ciphers: {list}"))?;
    }
    if let Some(list) = c.tls_ciphersuites.as_deref() {
        ctx.set_ciphersuites(c_str(list))
            .map_err(|_| format!("Failed to configure ciphersuites: {list}"))?;
    }
    Ok(ctx)
}

/// `tls-protocols` (redis `parseProtocolsConfig`): words split on single spaces, any case;
/// unset is TLSv1.2 and TLSv1.3.
pub fn protocols(spec: Option<&str>) -> Result<u8, String> {
    let Some(spec) = spec else {
        return Ok(TLS1_2 | TLS1_3);
    };
    let mut bits = 0;
    for word in spec.split(' ') {
        bits |= match word.to_ascii_lowercase().as_str() {
            "tlsv1" => TLS1,
            "tlsv1.1" => TLS1_1,
            "tlsv1.2" => TLS1_2,
            "tlsv1.3" => TLS1_3,
            _ => return Err("Invalid tls-protocols specified. Use a combination of 'TLSv1', 'TLSv1.1', 'TLSv1.2' and 'TLSv1.3'.".into()),
        };
    }
    Ok(bits)
}

/// `tls-dh-params-file` (redis reads it with OpenSSL's decoder, then `SSL_CTX_set0_tmp_dh_pkey`).
fn dh_params(ctx: &mut SslContextBuilder, path: &str) -> Result<(), String> {
    let pem = std::fs::read(c_path(path)).map_err(|e| {
        let errno = e.raw_os_error().unwrap_or(0);
        format!(
            "Failed to load {path}: {}",
            crate::persistence::aof::strerror(errno)
        )
    })?;
    let dh = Dh::params_from_pem(&pem).map_err(|_| format!("{path}: failed to read DH params."))?;
    ctx.set_tmp_dh(&dh)
        .map_err(|e| format!("Failed to load DH params file: {path}: {}", err_text(&e)))
}

/// OpenSSL's first error as `ERR_error_string_n` writes it (what Redis logs):
/// `error:0A000086:SSL routines::certificate verify failed`. OpenSSL 3 writes no function
/// name, and the system's text for a system error.
pub fn err_text(stack: &ErrorStack) -> String {
    let Some(e) = stack.errors().first() else {
        return "error:00000000:lib(0)::reason(0)".into();
    };
    let code = e.code();
    if code & SYSTEM_ERROR != 0 {
        return sys_err_text((code & !SYSTEM_ERROR) as i32);
    }
    let lib = match e.library() {
        Some(l) => l.to_string(),
        None => format!("lib({})", e.library_code()),
    };
    let reason = match e.reason() {
        Some(r) => r.to_string(),
        None => format!("reason({})", e.reason_code()),
    };
    format!("error:{code:08X}:{lib}::{reason}")
}

/// OpenSSL 3's flag of an error code that is an errno.
const SYSTEM_ERROR: c_ulong = 0x8000_0000;

/// The text of OpenSSL's error for a failed system call (`ERR_raise(ERR_LIB_SYS, errno)`).
fn sys_err_text(errno: i32) -> String {
    format!(
        "error:{:08X}:system library::{}",
        SYSTEM_ERROR | errno as c_ulong,
        crate::persistence::aof::strerror(errno)
    )
}

/// What a C string of `s` holds: the text before a NUL (Redis hands its strings to OpenSSL as
/// C strings).
fn c_str(s: &str) -> &str {
    s.split('\0').next().unwrap_or("")
}

fn c_path(s: &str) -> &Path {
    Path::new(c_str(s))
}

fn clamp(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

extern "C" {
    fn SSL_CTX_set_timeout(ctx: *mut openssl_sys::SSL_CTX, t: c_long) -> c_long;
}

/// `tls-session-cache-timeout`: how long a session can be resumed (the openssl crate has no
/// wrapper for `SSL_CTX_set_timeout`).
fn set_timeout(ctx: &mut SslContextBuilder, secs: u64) {
    let secs = c_long::try_from(secs).unwrap_or(c_long::MAX);
    // SAFETY: the builder owns a valid SSL_CTX for the whole call.
    unsafe {
        SSL_CTX_set_timeout(ctx.as_ptr(), secs);
    }
}

/// Without `tls-dh-params-file`, OpenSSL picks DH parameters matching the certificate's
/// strength (redis `SSL_CTX_set_dh_auto`).
fn set_dh_auto(ctx: &mut SslContextBuilder) {
    // SAFETY: the builder owns a valid SSL_CTX for the whole call.
    unsafe {
        openssl_sys::SSL_CTX_set_dh_auto(ctx.as_ptr(), 1 as c_int);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_as_redis() {
        assert_eq!(protocols(None), Ok(TLS1_2 | TLS1_3));
        assert_eq!(protocols(Some("TLSv1.2")), Ok(TLS1_2));
        assert_eq!(protocols(Some("tlsv1.3 TLSv1")), Ok(TLS1_3 | TLS1));
        // sdssplitlen: a double space is an empty word, which is no protocol.
        assert!(protocols(Some("TLSv1.2  TLSv1.3")).is_err());
        assert!(protocols(Some("SSLv3")).is_err());
    }

    #[test]
    fn errors_worded_as_openssl() {
        let mut ctx = match SslContext::builder(SslMethod::tls()) {
            Ok(c) => c,
            Err(e) => panic!("no context: {e}"),
        };
        let e = ctx.set_cipher_list("NO-SUCH-CIPHER").err();
        let text = e.map(|e| err_text(&e)).unwrap_or_default();
        assert_eq!(text, "error:0A0000B9:SSL routines::no cipher match");
        assert_eq!(c_str("a\0b"), "a");
    }
}
