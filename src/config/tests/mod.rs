//! Tests for the config module. Every expected error text and CONFIG GET/REWRITE output here
//! was captured from Debian's redis-server 7.0.15, not from Tandem.

mod load;
mod runtime;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::Config;

/// A fresh directory under the system temp dir, removed on drop.
pub(super) struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "tandem-config-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p.canonicalize().expect("canonical temp dir"))
    }

    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let p = self.0.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create dir");
        }
        std::fs::write(&p, content).expect("write file");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(super) fn s(v: &str) -> String {
    v.to_string()
}

pub(super) fn fatal(line: usize, text: &str, reason: &str) -> String {
    format!(
        "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\nReading the configuration file, at line {line}\n>>> '{text}'\n{reason}\n"
    )
}

pub(super) fn err_of(text: &str) -> String {
    match Config::from_str(text) {
        Ok(_) => panic!("config {text:?} should fail"),
        Err(e) => e.to_string(),
    }
}

pub(super) fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter().map(|(a, b)| (s(a), s(b))).collect()
}
