//! `tls-protocols`, `tls-ciphers` and `tls-ciphersuites` mapped onto what rustls (ring) offers.
//!
//! Redis hands these strings to OpenSSL. Tandem evaluates them with OpenSSL's rules over the
//! suites rustls implements: TLS 1.3's three AEAD suites and TLS 1.2's six ECDHE + AEAD suites.
//! A suite OpenSSL knows but rustls does not (RSA key exchange, CBC, DHE, ...) matches nothing,
//! as an unknown name matches nothing in OpenSSL; a string that leaves no suite to offer is
//! refused, as OpenSSL refuses it, so the server never offers what the operator excluded.

use rustls::crypto::ring::cipher_suite as cs;
use rustls::{ProtocolVersion, SupportedCipherSuite, SupportedProtocolVersion};

/// The protocol versions of `tls-protocols` (unset: TLS 1.2 and 1.3, Redis's default).
pub fn protocols(spec: Option<&str>) -> Result<Vec<&'static SupportedProtocolVersion>, String> {
    let Some(spec) = spec else {
        return Ok(vec![&rustls::version::TLS13, &rustls::version::TLS12]);
    };
    let (mut v12, mut v13, mut old) = (false, false, Vec::new());
    for token in spec.split(' ').filter(|t| !t.is_empty()) {
        match token.to_ascii_lowercase().as_str() {
            "tlsv1" => old.push("TLSv1"),
            "tlsv1.1" => old.push("TLSv1.1"),
            "tlsv1.2" => v12 = true,
            "tlsv1.3" => v13 = true,
            _ => {
                return Err("Invalid tls-protocols specified. Use a combination of 'TLSv1', 'TLSv1.1', 'TLSv1.2' and 'TLSv1.3'.".into())
            }
        }
    }
    if !old.is_empty() {
        tracing::warn!(
            "tls-protocols: {} not supported by this build (rustls implements TLSv1.2 and TLSv1.3 only)",
            old.join(" and ")
        );
    }
    let mut out = Vec::new();
    if v13 {
        out.push(&rustls::version::TLS13);
    }
    if v12 {
        out.push(&rustls::version::TLS12);
    }
    if out.is_empty() {
        return Err(format!(
            "tls-protocols '{spec}' leaves no protocol this build supports (TLSv1.2, TLSv1.3)"
        ));
    }
    Ok(out)
}

/// A TLS 1.2 suite with its OpenSSL name and the OpenSSL aliases it belongs to.
struct Tls12 {
    suite: SupportedCipherSuite,
    name: &'static str,
    tags: &'static [&'static str],
}

const COMMON: &[&str] = &[
    "ALL", "DEFAULT", "HIGH", "TLSv1.2", "AEAD", "kECDHE", "kEECDH", "ECDHE", "EECDH", "ECDH",
];

fn tls12_all() -> Vec<Tls12> {
    let suite = |suite, name, tags| Tls12 { suite, name, tags };
    vec![
        suite(
            cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            &["aECDSA", "ECDSA", "AES", "AES256", "AESGCM", "SHA384"],
        ),
        suite(
            cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            &["aECDSA", "ECDSA", "AES", "AES128", "AESGCM", "SHA256"],
        ),
        suite(
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            "ECDHE-ECDSA-CHACHA20-POLY1305",
            &["aECDSA", "ECDSA", "CHACHA20", "SHA256"],
        ),
        suite(
            cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            "ECDHE-RSA-AES256-GCM-SHA384",
            &["aRSA", "RSA", "AES", "AES256", "AESGCM", "SHA384"],
        ),
        suite(
            cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            "ECDHE-RSA-AES128-GCM-SHA256",
            &["aRSA", "RSA", "AES", "AES128", "AESGCM", "SHA256"],
        ),
        suite(
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
            "ECDHE-RSA-CHACHA20-POLY1305",
            &["aRSA", "RSA", "CHACHA20", "SHA256"],
        ),
    ]
}

impl Tls12 {
    /// Whether the suite is in OpenSSL's set `word` (a name, an alias, or `A+B` for both).
    fn matches(&self, word: &str) -> bool {
        word.split('+')
            .filter(|w| !w.is_empty())
            .all(|w| w == self.name || COMMON.contains(&w) || self.tags.contains(&w))
            && !word.is_empty()
    }
}

/// The TLS 1.2 suites of an OpenSSL cipher list (`tls-ciphers`), in the order OpenSSL would
/// prefer them. Unset: every suite.
pub fn tls12(spec: Option<&str>) -> Result<Vec<SupportedCipherSuite>, String> {
    let all = tls12_all();
    let Some(spec) = spec else {
        return Ok(all.iter().map(|s| s.suite).collect());
    };
    // OpenSSL's list: indexes into `all`, and the ones removed for good (`!`).
    let mut list: Vec<usize> = Vec::new();
    let mut banned = vec![false; all.len()];
    for element in spec.split([':', ',', ' ', ';']).filter(|e| !e.is_empty()) {
        if element.starts_with('@') {
            // @STRENGTH (all our suites are 128/256-bit AEAD: strength order kept), @SECLEVEL.
            if element == "@STRENGTH" {
                list.sort_by_key(|&i| std::cmp::Reverse(strength(&all[i])));
            }
            continue;
        }
        let (op, word) = match element.as_bytes()[0] {
            b'!' | b'-' | b'+' => (element.as_bytes()[0], &element[1..]),
            _ => (0, element),
        };
        let hits: Vec<usize> = (0..all.len()).filter(|&i| all[i].matches(word)).collect();
        match op {
            b'!' => {
                for &i in &hits {
                    banned[i] = true;
                }
                list.retain(|i| !hits.contains(i));
            }
            b'-' => list.retain(|i| !hits.contains(i)),
            b'+' => {
                let (moved, kept): (Vec<usize>, Vec<usize>) =
                    list.iter().partition(|i| hits.contains(i));
                list = kept;
                list.extend(moved);
            }
            _ => {
                for i in hits {
                    if !banned[i] && !list.contains(&i) {
                        list.push(i);
                    }
                }
            }
        }
    }
    if list.is_empty() {
        return Err(format!(
            "Failed to configure ciphers: {spec} (no TLSv1.2 cipher of this list is supported; this build offers {})",
            all.iter().map(|s| s.name).collect::<Vec<_>>().join(":")
        ));
    }
    Ok(list.into_iter().map(|i| all[i].suite).collect())
}

fn strength(s: &Tls12) -> u32 {
    if s.tags.contains(&"AES128") {
        128
    } else {
        256
    }
}

/// The TLS 1.3 suites of `tls-ciphersuites` (OpenSSL's `TLS_...` names, colon separated).
/// Unset: all three.
pub fn tls13(spec: Option<&str>) -> Result<Vec<SupportedCipherSuite>, String> {
    let known = [
        ("TLS_AES_256_GCM_SHA384", cs::TLS13_AES_256_GCM_SHA384),
        ("TLS_AES_128_GCM_SHA256", cs::TLS13_AES_128_GCM_SHA256),
        (
            "TLS_CHACHA20_POLY1305_SHA256",
            cs::TLS13_CHACHA20_POLY1305_SHA256,
        ),
    ];
    let Some(spec) = spec else {
        return Ok(known.iter().map(|k| k.1).collect());
    };
    let mut out = Vec::new();
    for name in spec.split(':').filter(|n| !n.is_empty()) {
        match known.iter().find(|k| k.0 == name) {
            Some(k) if !out.contains(&k.1) => out.push(k.1),
            Some(_) => {}
            None if matches!(name, "TLS_AES_128_CCM_SHA256" | "TLS_AES_128_CCM_8_SHA256") => {
                tracing::warn!("tls-ciphersuites: {name} is not supported by this build")
            }
            None => return Err(format!("Failed to configure ciphersuites: {spec}")),
        }
    }
    if out.is_empty() {
        return Err(format!(
            "Failed to configure ciphersuites: {spec} (none is supported by this build)"
        ));
    }
    Ok(out)
}

/// The suites to offer: TLS 1.3's then TLS 1.2's, for the enabled versions only.
pub fn suites(
    versions: &[&'static SupportedProtocolVersion],
    ciphers: Option<&str>,
    ciphersuites: Option<&str>,
) -> Result<Vec<SupportedCipherSuite>, String> {
    let on = |v: ProtocolVersion| versions.iter().any(|x| x.version == v);
    let mut out = Vec::new();
    if on(ProtocolVersion::TLSv1_3) {
        out.extend(tls13(ciphersuites)?);
    }
    if on(ProtocolVersion::TLSv1_2) {
        out.extend(tls12(ciphers)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[SupportedCipherSuite]) -> Vec<String> {
        v.iter().map(|s| format!("{:?}", s.suite())).collect()
    }

    #[test]
    fn openssl_lists() {
        assert_eq!(tls12(Some("DEFAULT")).map(|v| v.len()), Ok(6));
        assert_eq!(
            tls12(Some("DEFAULT:-AES128-SHA256")).map(|v| v.len()),
            Ok(6)
        );
        assert!(tls12(Some("AES128-SHA256:AES256-SHA256")).is_err());
        let v = tls12(Some("ECDHE-RSA-AES128-GCM-SHA256:ECDHE+AES256")).unwrap_or_default();
        assert_eq!(
            names(&v),
            [
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
            ]
        );
        let v = tls12(Some("HIGH:!CHACHA20:CHACHA20")).unwrap_or_default();
        assert_eq!(v.len(), 4);
        let v = tls12(Some("aRSA:-AESGCM:+CHACHA20")).unwrap_or_default();
        assert_eq!(names(&v), ["TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"]);
    }

    #[test]
    fn protocols_as_redis() {
        assert_eq!(protocols(None).map(|v| v.len()), Ok(2));
        assert_eq!(protocols(Some("TLSv1.2")).map(|v| v.len()), Ok(1));
        assert!(protocols(Some("TLSv1")).is_err());
        assert!(protocols(Some("SSLv3")).is_err());
        assert_eq!(
            tls13(Some("TLS_AES_128_GCM_SHA256")).map(|v| v.len()),
            Ok(1)
        );
        assert!(tls13(Some("TLS_NOPE")).is_err());
    }
}
