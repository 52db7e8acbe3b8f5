//! Reading the files the TLS directives name: certificate chains, private keys (plain, or
//! encrypted PKCS#8 opened with `tls-key-file-pass`), the CA file or directory, DH parameters.
//! Every failure is a message for the log, worded as Redis logs it where Redis has one.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::RootCertStore;

/// The certificates of a PEM file, leaf first (redis `SSL_CTX_use_certificate_chain_file`).
pub fn chain(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let fail = |why: String| format!("Failed to load certificate: {path}: {why}");
    let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(e.to_string()))?;
    if certs.is_empty() {
        return Err(fail("no certificate in the file".into()));
    }
    Ok(certs)
}

const ENCRYPTED_PKCS8: &str = "ENCRYPTED PRIVATE KEY";

/// The private key of a PEM file. An encrypted PKCS#8 key (what `openssl genpkey -aes256` and
/// OpenSSL 3's `openssl rsa -aes256` write) is decrypted with `pass`; the legacy encryption of
/// traditional keys (`Proc-Type: 4,ENCRYPTED` headers) is refused with a hint. As with
/// OpenSSL, a password given for a key that is not encrypted is not needed and not used.
pub fn key(path: &str, pass: Option<&str>) -> Result<PrivateKeyDer<'static>, String> {
    let fail = |why: &str| format!("Failed to load private key: {path}: {why}");
    let pem = std::fs::read(path).map_err(|e| fail(&e.to_string()))?;
    let text = String::from_utf8_lossy(&pem);
    if let Some(block) = pem_block(&text, ENCRYPTED_PKCS8) {
        let Some(pass) = pass else {
            return Err(fail("the key is encrypted and no password is configured"));
        };
        let (_, doc) = pkcs8::der::Document::from_pem(block)
            .map_err(|e| fail(&format!("bad encrypted key: {e}")))?;
        let info = pkcs8::EncryptedPrivateKeyInfo::try_from(doc.as_bytes())
            .map_err(|e| fail(&format!("bad encrypted key: {e}")))?;
        let plain = info
            .decrypt(pass)
            .map_err(|e| fail(&format!("bad decrypt ({e})")))?;
        return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            plain.as_bytes().to_vec(),
        )));
    }
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(fail(
            "keys encrypted with legacy PEM encryption (Proc-Type/DEK-Info headers) are not supported; convert it to encrypted PKCS#8 with 'openssl pkcs8 -topk8 -v2 aes-256-cbc'",
        ));
    }
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| fail(&e.to_string()))
}

/// The text of the first `-----BEGIN <label>-----` ... `-----END <label>-----` block.
fn pem_block<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let from = text.find(&begin)?;
    let to = text[from..].find(&end)? + from + end.len();
    Some(&text[from..to])
}

/// The trust anchors of `tls-ca-cert-file` and `tls-ca-cert-dir` (every certificate of every
/// PEM file in the directory: the set OpenSSL's hashed-directory lookup can find).
pub fn roots(file: Option<&str>, dir: Option<&str>) -> Result<RootCertStore, String> {
    let fail = |why: String| format!("Failed to configure CA certificate(s) file/directory: {why}");
    let mut store = RootCertStore::empty();
    let mut add = |path: &str, pem: &[u8]| -> Result<(), String> {
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| fail(format!("{path}: {e}")))?;
            store.add(cert).map_err(|e| fail(format!("{path}: {e}")))?;
        }
        Ok(())
    };
    if let Some(path) = file {
        let pem = std::fs::read(path).map_err(|e| fail(format!("{path}: {e}")))?;
        add(path, &pem)?;
    }
    if let Some(dir) = dir {
        let entries = std::fs::read_dir(dir).map_err(|e| fail(format!("{dir}: {e}")))?;
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths.iter().filter(|p| p.is_file()) {
            if let Ok(pem) = std::fs::read(p) {
                // Other files may live there (OpenSSL ignores what it cannot use too).
                let _ = add(&p.display().to_string(), &pem);
            }
        }
    }
    if store.is_empty() {
        return Err(fail("no CA certificate found".into()));
    }
    Ok(store)
}

/// `tls-dh-params-file`: read and checked as Redis does, then unused: rustls implements no
/// finite-field Diffie-Hellman (no DHE suite is ever offered), key exchange is ECDHE only.
pub fn dh_params(path: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("Failed to load {path}: {e}"))?;
    if pem_block(&text, "DH PARAMETERS").is_none()
        && pem_block(&text, "X9.42 DH PARAMETERS").is_none()
    {
        return Err(format!("{path}: failed to read DH params."));
    }
    Ok(())
}
