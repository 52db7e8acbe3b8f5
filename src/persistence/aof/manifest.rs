//! The AOF manifest (Redis 7.0's multi-part AOF): which files of the AOF directory make the
//! dataset, in order. One line per file, `file <name> seq <n> type <b|h|i>`: the base first
//! (a snapshot, RDB or commands), then history files (replaced by a rewrite, to be deleted),
//! then the incremental files of commands since the base.
//!
//! Redis rejects a damaged manifest at startup with a fixed set of texts, which this parser
//! reproduces; the server logs them and exits.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The kind of an AOF file (the manifest's `type` letter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Base,
    History,
    Incr,
}

impl Kind {
    fn letter(self) -> char {
        match self {
            Kind::Base => 'b',
            Kind::History => 'h',
            Kind::Incr => 'i',
        }
    }
}

/// One file of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    pub name: String,
    pub seq: i64,
    pub kind: Kind,
}

/// Where a manifest failed to parse: the line (when there is one) and Redis's text.
#[derive(Debug)]
pub struct ManifestError {
    pub line: Option<(usize, String)>,
    pub reason: &'static str,
}

/// The manifest in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<Info>,
    pub history: Vec<Info>,
    pub incr: Vec<Info>,
    pub base_seq: i64,
    pub incr_seq: i64,
}

/// Longest manifest line Redis reads.
const MAX_LINE: usize = 1024;

impl Manifest {
    /// Parses a manifest file's contents.
    pub fn parse(text: &[u8]) -> Result<Manifest, ManifestError> {
        let mut m = Manifest::default();
        if text.is_empty() {
            return Err(ManifestError {
                line: None,
                reason: "Found an empty AOF manifest",
            });
        }
        let mut max_seq = 0;
        for (n, raw) in text.split_inclusive(|&c| c == b'\n').enumerate() {
            let linenum = n + 1;
            if raw.first() == Some(&b'#') {
                continue;
            }
            // fgets reads at most MAX_LINE bytes: a longer line has no newline in them.
            if raw.len() > MAX_LINE || raw.last() != Some(&b'\n') {
                return Err(ManifestError {
                    line: None,
                    reason: "The AOF manifest file contains too long line",
                });
            }
            let line = trim(raw);
            let fail = |reason| ManifestError {
                line: Some((linenum, String::from_utf8_lossy(line).into_owned())),
                reason,
            };
            if line.is_empty() {
                return Err(fail("Invalid AOF manifest file format"));
            }
            let argv = match crate::config::parse::split_args(line) {
                Some(a) if a.len() >= 6 && a.len() % 2 == 0 => a,
                _ => return Err(fail("Invalid AOF manifest file format")),
            };
            let (mut name, mut seq, mut kind) = (None, 0i64, None);
            for pair in argv.chunks(2) {
                let key = &pair[0];
                if key.eq_ignore_ascii_case(b"file") {
                    let v = String::from_utf8_lossy(&pair[1]).into_owned();
                    if v.contains('/') {
                        return Err(fail("File can't be a path, just a filename"));
                    }
                    name = Some(v);
                } else if key.eq_ignore_ascii_case(b"seq") {
                    seq = atoll(&pair[1]);
                } else if key.eq_ignore_ascii_case(b"type") {
                    kind = pair[1].first().copied();
                }
            }
            let (Some(name), Some(kind)) = (name, kind) else {
                return Err(fail("Invalid AOF manifest file format"));
            };
            if seq == 0 {
                return Err(fail("Invalid AOF manifest file format"));
            }
            match kind {
                b'b' => {
                    if m.base.is_some() {
                        return Err(fail("Found duplicate base file information"));
                    }
                    m.base_seq = seq;
                    m.base = Some(Info {
                        name,
                        seq,
                        kind: Kind::Base,
                    });
                }
                b'h' => m.history.push(Info {
                    name,
                    seq,
                    kind: Kind::History,
                }),
                b'i' => {
                    if seq <= max_seq {
                        return Err(fail("Found a non-monotonic sequence number"));
                    }
                    max_seq = seq;
                    m.incr_seq = seq;
                    m.incr.push(Info {
                        name,
                        seq,
                        kind: Kind::Incr,
                    });
                }
                _ => return Err(fail("Unknown AOF file type")),
            }
        }
        Ok(m)
    }

    /// The manifest's text: base, history, then incremental files.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for i in self
            .base
            .iter()
            .chain(self.history.iter())
            .chain(self.incr.iter())
        {
            let name = if needs_repr(i.name.as_bytes()) {
                crate::config::parse::repr(i.name.as_bytes())
            } else {
                i.name.clone()
            };
            s.push_str(&format!(
                "file {name} seq {} type {}\n",
                i.seq,
                i.kind.letter()
            ));
        }
        s
    }

    /// Whether there is any file to load.
    pub fn is_empty(&self) -> bool {
        self.base.is_none() && self.incr.is_empty()
    }

    /// A new base file name (`<appendfilename>.<seq>.base.rdb|aof`); the previous base
    /// becomes history.
    pub fn new_base(&mut self, filename: &str, rdb: bool) -> String {
        if let Some(mut old) = self.base.take() {
            old.kind = Kind::History;
            self.history.insert(0, old);
        }
        self.base_seq += 1;
        let name = format!(
            "{filename}.{}.base.{}",
            self.base_seq,
            if rdb { "rdb" } else { "aof" }
        );
        self.base = Some(Info {
            name: name.clone(),
            seq: self.base_seq,
            kind: Kind::Base,
        });
        name
    }

    /// A new incremental file name (`<appendfilename>.<seq>.incr.aof`), added last.
    pub fn new_incr(&mut self, filename: &str) -> String {
        self.incr_seq += 1;
        let name = format!("{filename}.{}.incr.aof", self.incr_seq);
        self.incr.push(Info {
            name: name.clone(),
            seq: self.incr_seq,
            kind: Kind::Incr,
        });
        name
    }

    /// The last incremental file, created if there is none.
    pub fn last_incr(&mut self, filename: &str) -> String {
        match self.incr.last() {
            Some(i) => i.name.clone(),
            None => self.new_incr(filename),
        }
    }

    /// After a rewrite: every incremental file but the last (`keep_last`, the one being
    /// written) becomes history.
    pub fn retire_incr(&mut self, keep_last: bool) {
        let keep = usize::from(keep_last && !self.incr.is_empty());
        let cut = self.incr.len() - keep;
        let retired: Vec<Info> = self.incr.drain(..cut).collect();
        for mut i in retired.into_iter().rev() {
            i.kind = Kind::History;
            self.history.insert(0, i);
        }
    }

    /// Writes the manifest atomically into `dir`: a temp file, fsync, rename, fsync of the
    /// directory (redis `writeAofManifestFile`).
    pub fn persist(&self, dir: &Path, filename: &str) -> Result<(), String> {
        let target = dir.join(manifest_name(filename));
        let tmp = dir.join(format!("temp-{}", manifest_name(filename)));
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(self.render().as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, &target)?;
            File::open(dir)?.sync_all()
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            format!(
                "Can't write the AOF manifest file {}: {e}",
                target.display()
            )
        })
    }
}

/// `<appendfilename>.manifest`.
pub fn manifest_name(filename: &str) -> String {
    format!("{filename}.manifest")
}

/// Path of a file of the AOF directory.
pub fn path_in(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// Redis `sdsneedsrepr`: quoting needed for spaces, quotes, backslashes and unprintables.
fn needs_repr(b: &[u8]) -> bool {
    b.iter()
        .any(|&c| c == b'\\' || c == b'"' || !(0x21..0x7f).contains(&c))
}

fn trim(mut b: &[u8]) -> &[u8] {
    let ws = |c: &u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    while b.first().is_some_and(ws) {
        b = &b[1..];
    }
    while b.last().is_some_and(ws) {
        b = &b[..b.len() - 1];
    }
    b
}

/// C `atoll`: optional sign and leading digits, 0 when there are none.
fn atoll(b: &[u8]) -> i64 {
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    let mut v: i64 = 0;
    for &c in digits.iter().take_while(|c| c.is_ascii_digit()) {
        v = v.wrapping_mul(10).wrapping_add(i64::from(c - b'0'));
    }
    if neg {
        v.wrapping_neg()
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_quoting() {
        let mut m = Manifest::default();
        m.new_base("my aof", true);
        m.new_incr("my aof");
        m.new_incr("my aof");
        let text = m.render();
        assert_eq!(
            text,
            "file \"my aof.1.base.rdb\" seq 1 type b\nfile \"my aof.1.incr.aof\" seq 1 type i\n\
             file \"my aof.2.incr.aof\" seq 2 type i\n"
        );
        assert_eq!(Manifest::parse(text.as_bytes()).unwrap(), m);
    }

    #[test]
    fn rewrite_moves_files_to_history() {
        let mut m = Manifest::default();
        m.new_base("a", true);
        m.new_incr("a");
        m.new_incr("a");
        m.new_base("a", false);
        m.retire_incr(true);
        assert_eq!(
            m.render(),
            // Redis's order: each rewrite puts its incremental files, then its base, first.
            "file a.2.base.aof seq 2 type b\nfile a.1.incr.aof seq 1 type h\n\
             file a.1.base.rdb seq 1 type h\nfile a.2.incr.aof seq 2 type i\n"
        );
    }

    #[test]
    fn rejects_what_redis_rejects() {
        let reason = |t: &str| Manifest::parse(t.as_bytes()).unwrap_err().reason;
        assert_eq!(reason(""), "Found an empty AOF manifest");
        assert_eq!(
            reason("file a seq 1 type i\n\nfile b seq 2 type i\n"),
            "Invalid AOF manifest file format"
        );
        assert_eq!(
            reason("file a seq 2 type i\nfile b seq 1 type i\n"),
            "Found a non-monotonic sequence number"
        );
        assert_eq!(
            reason("file a seq 1 type b\nfile b seq 2 type b\n"),
            "Found duplicate base file information"
        );
        assert_eq!(reason("file a seq 1 type x\n"), "Unknown AOF file type");
        assert_eq!(
            reason("file a seq 1 typ i\n"),
            "Invalid AOF manifest file format"
        );
        assert_eq!(reason("file a seq 1\n"), "Invalid AOF manifest file format");
        assert_eq!(
            reason("file a seq 1 type i x\n"),
            "Invalid AOF manifest file format"
        );
        assert_eq!(
            reason(&format!("file {} seq 1 type i\n", "a".repeat(1100))),
            "The AOF manifest file contains too long line"
        );
        assert_eq!(
            reason("file dir/a seq 1 type i\n"),
            "File can't be a path, just a filename"
        );
        assert!(Manifest::parse(b"# comment\nfile a seq 1 type i\n").is_ok());
    }
}
