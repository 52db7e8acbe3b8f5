//! RDB loading: every format redis-server 7.0 reads (RDB versions 1 to 10), from a whole file
//! or replication transfer (`load`) or from a RESTORE payload (`verify_dump_payload`, then
//! `load_value`).
//!
//! Values come out as `Loaded`, plain vectors the caller turns into keyspace values; this
//! module depends only on `format` and the packed-blob parsers beside it (`listpack`,
//! `ziplist`, `intset`, `zipmap`), never on the keyspace or the server.
//!
//! Every input is hostile until parsed (DESIGN principle 8): lengths never size an allocation
//! before the bytes they describe have arrived (capacities are capped, buffers grow as data
//! is read), LZF output is bounded, every packed blob is validated entry by entry (Redis's
//! "deep" sanitization, whatever `sanitize-dump-payload` says), and every error names the
//! byte offset where it was found. Nothing here panics on any input.
//!
//! What Redis 7.0 accepts loads here too (empty keys are skipped as Redis skips them). Where
//! Redis would accept corrupt data only to crash on it later (duplicate fields in a listpack,
//! an odd number of hash entries, garbage text as a score), we refuse it, as Redis itself does
//! with `sanitize-dump-payload yes`.

use std::collections::HashSet;
use std::hash::Hash;
use std::io::{ErrorKind, Read};

use bytes::Bytes;

use super::format::*;
use super::listpack::{Entry, PackError};
use super::{intset, listpack, ziplist, zipmap};

/// Quicklist node containers (redis `QUICKLIST_NODE_CONTAINER_*`), in RDB type 18.
const CONTAINER_PLAIN: u64 = 1;
const CONTAINER_PACKED: u64 = 2;

/// Largest uncompressed size accepted for one LZF string: Redis's own string limit
/// (`proto-max-bulk-len` default), so a forged header cannot demand a huge buffer.
const MAX_LZF_LEN: u64 = 512 * 1024 * 1024;

/// LZF's best case: a 3-byte back reference expands to 264 bytes.
const MAX_LZF_RATIO: u64 = 88;

/// Buffers for strings grow by at most this much (or by doubling) as their bytes arrive.
const READ_CHUNK: usize = 64 * 1024;

/// Collections never reserve more than this many slots up front.
const MAX_PREALLOC: usize = 1024;

const EOF_REASON: &str = "Unexpected EOF reading RDB file";

/// A loaded value, before it becomes a keyspace value (`persistence::load` converts it).
#[derive(Debug, Clone, PartialEq)]
pub enum Loaded {
    Str(Bytes),
    List(Vec<Bytes>),
    Set(Vec<Bytes>),
    Hash(Vec<(Bytes, Bytes)>),
    /// Members with their scores, in file order; never NaN, no duplicate members.
    ZSet(Vec<(Bytes, f64)>),
    /// Read straight into the keyspace's form: its nodes are the file's listpacks.
    Stream(Box<crate::keyspace::stream::Stream>),
}

/// Receives what `load` finds, in file order.
pub trait LoadSink {
    /// An AUX field (`redis-ver`, `repl-id`, `repl-offset`, ...); integer-encoded values
    /// arrive as decimal text.
    fn aux(&mut self, _key: &[u8], _value: &[u8]) -> Result<(), RdbError> {
        Ok(())
    }
    /// SELECTDB; the sink rejects `db >= databases` (`RdbError::DbOutOfRange`).
    fn select_db(&mut self, db: u64) -> Result<(), RdbError>;
    /// RESIZEDB: a size hint for the selected database.
    fn resize_db(&mut self, _size: u64, _expires: u64) {}
    /// Whether the file's CRC64 is checked (DEBUG SET-SKIP-CHECKSUM-VALIDATION and
    /// `rdbchecksum no` turn it off).
    fn verify_checksum(&self) -> bool {
        true
    }
    /// The IDLE (seconds) or FREQ opcode that came before the next key.
    fn clock_hint(&mut self, _freq: Option<u8>, _idle_secs: Option<u64>) {}
    /// An empty collection, skipped (redis logs the first few names).
    fn empty_key(&mut self, _key: &[u8]) {}
    /// A function library's code (FUNCTION2, or the pre-GA FUNCTION record rebuilt as one).
    fn function(&mut self, type_byte: u8, _code: Bytes) -> Result<(), RdbError> {
        Err(RdbError::UnsupportedType {
            type_byte,
            name: "function",
        })
    }
    /// One key of the selected database. `expire_ms` is the absolute unix time in ms; keys
    /// already expired are delivered too (Redis drops them only when loading as a master,
    /// the sink decides). Empty collections are skipped before they get here, as Redis does.
    fn entry(&mut self, key: Bytes, value: Loaded, expire_ms: Option<i64>) -> Result<(), RdbError>;
}

/// What `load` read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadStats {
    /// Keys handed to the sink.
    pub keys: u64,
    /// Of those, keys with an expire.
    pub expires: u64,
    /// Bytes consumed, header to checksum inclusive.
    pub bytes: u64,
    /// The file's RDB version.
    pub version: u32,
    /// Empty collections skipped (Redis logs "rdbLoadObject skipping empty key").
    pub empty_keys_skipped: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RdbError {
    #[error("error reading RDB: {0}")]
    Io(#[from] std::io::Error),
    /// Malformed or truncated input; `offset` is where in the file (or payload) it was found.
    #[error("Internal error in RDB reading offset {offset} -> {reason}")]
    Corrupt { offset: u64, reason: String },
    /// `expected` is the checksum stored in the file, `computed` the CRC64 of the bytes read.
    /// The text is Redis's, whose "expected" is the computed value.
    #[error("Wrong RDB checksum expected: ({computed:x}) but got ({expected:x}). Aborting now.")]
    BadChecksum { expected: u64, computed: u64 },
    #[error("Wrong signature trying to load DB from file")]
    BadSignature,
    #[error("Can't handle RDB format version {0}")]
    UnsupportedVersion(u32),
    /// A value or opcode Redis 7.0 loads but Tandem does not (yet): streams, module values,
    /// functions.
    #[error("RDB type {type_byte} ({name}) is not supported")]
    UnsupportedType { type_byte: u8, name: &'static str },
    /// MODULE_AUX data: there are no modules to hand it to.
    #[error("The RDB file contains AUX module data I can't load: no matching module '{module}'")]
    ModuleAux { offset: u64, module: String },
    /// For sinks: SELECTDB beyond the configured number of databases.
    #[error(
        "FATAL: Data file was created with a Redis server configured to handle more than {databases} databases. Exiting"
    )]
    DbOutOfRange { db: u64, databases: u64 },
    /// For sinks: the same key twice in one database.
    #[error("RDB has duplicated key '{}' in DB {db}", String::from_utf8_lossy(key))]
    DuplicateKey { db: u64, key: Bytes },
}

pub(super) fn corrupt<T>(offset: u64, reason: impl Into<String>) -> Result<T, RdbError> {
    Err(RdbError::Corrupt {
        offset,
        reason: reason.into(),
    })
}

fn capped(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX).min(MAX_PREALLOC)
}

/// A length field: a plain length, or the special string encoding (`11xxxxxx`).
enum Len {
    Plain(u64),
    Encoded(u8),
}

/// The byte source: counts offsets for error messages and feeds the file checksum.
/// Reads exactly what it is asked for and never past it, so a caller that hands in a
/// buffered socket keeps whatever follows the RDB (a replication stream) in its buffer.
pub(super) struct Reader<R> {
    inner: R,
    pub(super) offset: u64,
    digest: Option<Crc64Digest>,
    /// Read but not yet in `digest` (most reads are a few bytes; the CRC is faster in bulk).
    unsummed: Vec<u8>,
}

/// Bytes read in small pieces wait in `Reader::unsummed` to be checksummed in one go.
const CRC_BATCH: usize = 4096;

impl<R: Read> Reader<R> {
    pub(super) fn new(inner: R, checksum: bool) -> Self {
        Reader {
            inner,
            offset: 0,
            digest: checksum.then(|| CRC64.digest()),
            unsummed: Vec::with_capacity(if checksum { CRC_BATCH } else { 0 }),
        }
    }

    fn checksum(&mut self, bytes: &[u8]) {
        let Some(d) = self.digest.as_mut() else {
            return;
        };
        if self.unsummed.len() + bytes.len() > CRC_BATCH {
            d.update(&self.unsummed);
            self.unsummed.clear();
        }
        if bytes.len() >= CRC_BATCH {
            d.update(bytes);
        } else {
            self.unsummed.extend_from_slice(bytes);
        }
    }

    /// The CRC64 of everything read so far; nothing read afterwards is summed.
    fn finish_checksum(&mut self) -> u64 {
        self.digest.take().map_or(0, |mut d| {
            d.update(&self.unsummed);
            d.finalize()
        })
    }

    /// Fills `buf` completely; a short input is `Corrupt` at the offset where it ended.
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), RdbError> {
        let mut done = 0;
        let result = loop {
            if done == buf.len() {
                break Ok(());
            }
            match self.inner.read(&mut buf[done..]) {
                Ok(0) => break corrupt(self.offset + done as u64, EOF_REASON),
                Ok(n) => done += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
                    break corrupt(self.offset + done as u64, EOF_REASON)
                }
                Err(e) => break Err(RdbError::Io(e)),
            }
        };
        self.checksum(&buf[..done]);
        self.offset += done as u64;
        result
    }

    pub(super) fn array<const N: usize>(&mut self) -> Result<[u8; N], RdbError> {
        let mut buf = [0; N];
        self.fill(&mut buf)?;
        Ok(buf)
    }

    pub(super) fn u8(&mut self) -> Result<u8, RdbError> {
        Ok(self.array::<1>()?[0])
    }

    /// `rdbLoadLenByRef`.
    fn len(&mut self) -> Result<Len, RdbError> {
        let at = self.offset;
        let b = self.u8()?;
        Ok(match b >> 6 {
            0 => Len::Plain(u64::from(b & 0x3F)),
            1 => Len::Plain((u64::from(b & 0x3F) << 8) | u64::from(self.u8()?)),
            3 => Len::Encoded(b & 0x3F),
            _ if b == LEN_32BIT => Len::Plain(u64::from(u32::from_be_bytes(self.array()?))),
            _ if b == LEN_64BIT => Len::Plain(u64::from_be_bytes(self.array()?)),
            _ => return corrupt(at, "Unknown length encoding 2 in rdbLoadLen()"),
        })
    }

    /// A count or number (`rdbLoadLen(rdb, NULL)`): like Redis, an encoded-string marker in
    /// this position yields its low 6 bits.
    pub(super) fn count(&mut self) -> Result<u64, RdbError> {
        Ok(match self.len()? {
            Len::Plain(n) => n,
            Len::Encoded(e) => u64::from(e),
        })
    }

    /// Reads `n` raw bytes, growing the buffer only as they arrive.
    fn bytes(&mut self, n: u64) -> Result<Vec<u8>, RdbError> {
        let Ok(n) = usize::try_from(n) else {
            return corrupt(self.offset, format!("string length {n} too large"));
        };
        let mut v: Vec<u8> = Vec::with_capacity(n.min(READ_CHUNK));
        while v.len() < n {
            let old = v.len();
            let step = (n - old).min(old.max(READ_CHUNK));
            v.reserve_exact(step);
            v.resize(old + step, 0);
            self.fill(&mut v[old..])?;
        }
        Ok(v)
    }

    /// `rdbGenericLoadStringObject`: raw, integer-encoded (as decimal text) or LZF.
    pub(super) fn string(&mut self) -> Result<Vec<u8>, RdbError> {
        let at = self.offset;
        match self.len()? {
            Len::Plain(n) => self.bytes(n),
            Len::Encoded(ENC_INT8) => Ok(i8::from_le_bytes(self.array()?).to_string().into_bytes()),
            Len::Encoded(ENC_INT16) => {
                Ok(i16::from_le_bytes(self.array()?).to_string().into_bytes())
            }
            Len::Encoded(ENC_INT32) => {
                Ok(i32::from_le_bytes(self.array()?).to_string().into_bytes())
            }
            Len::Encoded(ENC_LZF) => self.lzf(at),
            Len::Encoded(e) => corrupt(at, format!("Unknown RDB string encoding type {e}")),
        }
    }

    /// `rdbLoadLzfStringObject`: `<compressed len> <uncompressed len> <data>`.
    fn lzf(&mut self, at: u64) -> Result<Vec<u8>, RdbError> {
        let clen = self.count()?;
        let len = self.count()?;
        let compressed = self.bytes(clen)?;
        if len == 0 {
            // lzf_decompress() returns 0 for a zero-sized output, which Redis accepts.
            return Ok(Vec::new());
        }
        if len > MAX_LZF_LEN || len > clen.saturating_mul(MAX_LZF_RATIO) {
            return corrupt(at, format!("Invalid LZF compressed string (length {len})"));
        }
        let Ok(len) = usize::try_from(len) else {
            return corrupt(at, format!("Invalid LZF compressed string (length {len})"));
        };
        lzf_decompress(&compressed, len)
            .map_or_else(|| corrupt(at, "Invalid LZF compressed string"), Ok)
    }

    /// `rdbLoadDoubleValue`: a length byte (253 nan, 254 +inf, 255 -inf) and text.
    fn text_double(&mut self) -> Result<f64, RdbError> {
        let at = self.offset;
        match self.u8()? {
            255 => Ok(f64::NEG_INFINITY),
            254 => Ok(f64::INFINITY),
            253 => Ok(f64::NAN),
            n => {
                let text = self.bytes(u64::from(n))?;
                parse_double(&text).map_or_else(|| corrupt(at, "Invalid double value"), Ok)
            }
        }
    }
}

/// LZF decompression (liblzf `lzf_d.c`, bundled by Redis) of `input` into exactly `out_len`
/// bytes; `None` for corrupt input or any other output size (Redis's
/// `lzf_decompress(...) != len`).
///
/// ```text
/// 000LLLLL <L+1 literal bytes>
/// LLLooooo [LLLLLLLL if LLL = 7] oooooooo   copy len+2 bytes from (offset+1) bytes back
/// ```
fn lzf_decompress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(out_len);
    let mut i = 0;
    while i < input.len() {
        let ctrl = usize::from(input[i]);
        i += 1;
        if ctrl < 32 {
            let literal = input.get(i..i + ctrl + 1)?;
            if out.len() + literal.len() > out_len {
                return None;
            }
            out.extend_from_slice(literal);
            i += literal.len();
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += usize::from(*input.get(i)?);
                i += 1;
            }
            let len = len + 2;
            let back = ((ctrl & 0x1F) << 8) + usize::from(*input.get(i)?) + 1;
            i += 1;
            if out.len() + len > out_len {
                return None;
            }
            let start = out.len().checked_sub(back)?;
            if len <= back {
                out.extend_from_within(start..start + len);
            } else {
                // An overlapping copy repeats the last `back` bytes. Everything from `start`
                // on is whole periods, so copy as much of it as exists, doubling each time.
                let mut remaining = len;
                while remaining > 0 {
                    let n = remaining.min(out.len() - start);
                    out.extend_from_within(start..start + n);
                    remaining -= n;
                }
            }
        }
    }
    (out.len() == out_len).then_some(out)
}

/// A double as Redis writes one in text (`%.17g`, "inf", "-inf"). Redis reads these with
/// sscanf/strtod, which also take a valid prefix of garbage; we take only a whole number.
fn parse_double(s: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(s).ok()?;
    s.trim_start_matches(|c: char| c.is_ascii_whitespace())
        .parse()
        .ok()
}

/// `atoi` on the 4 version digits of the header, as Redis parses them.
fn parse_version(digits: &[u8]) -> i64 {
    let mut it = digits
        .iter()
        .copied()
        .skip_while(u8::is_ascii_whitespace)
        .peekable();
    let negative = match it.peek() {
        Some(b'-') => {
            it.next();
            true
        }
        Some(b'+') => {
            it.next();
            false
        }
        _ => false,
    };
    let v = it
        .take_while(u8::is_ascii_digit)
        .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'));
    if negative {
        -v
    } else {
        v
    }
}

/// `moduleTypeNameByID`: the 9-character type name in the top 54 bits of a module id.
fn module_type_name(id: u64) -> String {
    const CHARSET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut id = id >> 10;
    let mut name = [0u8; 9];
    for c in name.iter_mut().rev() {
        *c = CHARSET[(id & 63) as usize];
        id >>= 6;
    }
    name.iter().map(|&c| char::from(c)).collect()
}

/// `rdbIsObjectType`.
fn is_object_type(t: u8) -> bool {
    matches!(t, 0..=7 | 9..=19)
}

fn pack_error(blob_at: u64, what: &str, e: PackError) -> RdbError {
    RdbError::Corrupt {
        offset: blob_at,
        reason: format!("{what} ({} at byte {} of the blob)", e.reason, e.pos),
    }
}

/// Position of the first repeated item, if any.
fn first_duplicate<'a, T: Hash + Eq + ?Sized + 'a>(
    items: impl Iterator<Item = &'a T>,
) -> Option<usize> {
    let mut seen = HashSet::new();
    items
        .enumerate()
        .find_map(|(i, item)| (!seen.insert(item)).then_some(i))
}

/// Splits packed entries into (field, value) pairs: an even count, no repeated field.
fn packed_pairs(
    entries: &[Entry<'_>],
    at: u64,
    what: &str,
) -> Result<Vec<(Bytes, Bytes)>, RdbError> {
    if entries.len() % 2 != 0 {
        return corrupt(at, format!("{what} (odd number of entries)"));
    }
    let pairs: Vec<(Bytes, Bytes)> = entries
        .chunks_exact(2)
        .map(|p| (p[0].to_bytes(), p[1].to_bytes()))
        .collect();
    if let Some(i) = first_duplicate(pairs.iter().map(|(f, _)| f.as_ref())) {
        let noun = what.trim_end_matches(" integrity check failed.");
        return corrupt(at, format!("{what} ({noun} with dup elements at pair {i})"));
    }
    Ok(pairs)
}

/// (member, score) pairs of a ziplist or listpack zset. Scores are integers or text.
fn packed_zset(entries: &[Entry<'_>], at: u64, what: &str) -> Result<Vec<(Bytes, f64)>, RdbError> {
    let pairs = packed_pairs(entries, at, what)?;
    let mut out = Vec::with_capacity(pairs.len());
    for (i, (member, _)) in pairs.into_iter().enumerate() {
        let score = match entries[2 * i + 1] {
            // As Redis: (double) of the long long, rounding beyond 2^53.
            #[allow(clippy::cast_precision_loss)]
            Entry::Int(v) => v as f64,
            Entry::Str(s) => match parse_double(s) {
                Some(v) => v,
                None => return corrupt(at, format!("{what} (invalid score at pair {i})")),
            },
        };
        if score.is_nan() {
            return corrupt(at, "Zset with NAN score detected");
        }
        out.push((member, score));
    }
    Ok(out)
}

/// `rdbLoadObject` for one value of type `t`. `Ok(None)` is an empty collection, which a file
/// load skips (as Redis does since 6.2) and RESTORE rejects.
fn read_object<R: Read>(r: &mut Reader<R>, t: u8) -> Result<Option<Loaded>, RdbError> {
    let at = r.offset;
    let value = match t {
        TYPE_STRING => Loaded::Str(Bytes::from(r.string()?.into_boxed_slice())),
        TYPE_LIST => {
            let n = r.count()?;
            let mut items = Vec::with_capacity(capped(n));
            for _ in 0..n {
                items.push(Bytes::from(r.string()?));
            }
            Loaded::List(items)
        }
        TYPE_SET => {
            let n = r.count()?;
            let mut items: Vec<Bytes> = Vec::with_capacity(capped(n));
            for _ in 0..n {
                items.push(r.string()?.into());
            }
            if first_duplicate(items.iter().map(Bytes::as_ref)).is_some() {
                return corrupt(at, "Duplicate set members detected");
            }
            Loaded::Set(items)
        }
        TYPE_ZSET | TYPE_ZSET_2 => {
            let n = r.count()?;
            let mut items: Vec<(Bytes, f64)> = Vec::with_capacity(capped(n));
            for _ in 0..n {
                let member = r.string()?;
                let score_at = r.offset;
                let score = if t == TYPE_ZSET_2 {
                    f64::from_le_bytes(r.array()?)
                } else {
                    r.text_double()?
                };
                if score.is_nan() {
                    return corrupt(score_at, "Zset with NAN score detected");
                }
                items.push((member.into(), score));
            }
            if first_duplicate(items.iter().map(|(m, _)| m.as_ref())).is_some() {
                return corrupt(at, "Duplicate zset fields detected");
            }
            Loaded::ZSet(items)
        }
        TYPE_HASH => {
            let n = r.count()?;
            let mut pairs: Vec<(Bytes, Bytes)> = Vec::with_capacity(capped(n));
            for _ in 0..n {
                let field = r.string()?;
                let value = r.string()?;
                pairs.push((field.into(), value.into()));
            }
            if first_duplicate(pairs.iter().map(|(f, _)| f.as_ref())).is_some() {
                return corrupt(at, "Duplicate hash fields detected");
            }
            Loaded::Hash(pairs)
        }
        TYPE_LIST_QUICKLIST | TYPE_LIST_QUICKLIST_2 => Loaded::List(read_quicklist(r, t)?),
        TYPE_HASH_ZIPMAP | TYPE_LIST_ZIPLIST | TYPE_SET_INTSET | TYPE_ZSET_ZIPLIST
        | TYPE_HASH_ZIPLIST | TYPE_HASH_LISTPACK | TYPE_ZSET_LISTPACK => {
            let blob = r.string()?;
            packed_object(t, &blob, at)?
        }
        TYPE_STREAM_LISTPACKS | TYPE_STREAM_LISTPACKS_2 => {
            Loaded::Stream(Box::new(super::stream::read(r, t)?))
        }
        TYPE_MODULE_PRE_GA | TYPE_MODULE_2 => {
            return Err(RdbError::UnsupportedType {
                type_byte: t,
                name: "module",
            })
        }
        _ => return corrupt(at, format!("Unknown RDB encoding type {t}")),
    };
    let empty = match &value {
        Loaded::Str(_) => false,
        Loaded::List(v) | Loaded::Set(v) => v.is_empty(),
        Loaded::Hash(v) => v.is_empty(),
        Loaded::ZSet(v) => v.is_empty(),
        // Streams may be empty.
        Loaded::Stream(_) => false,
    };
    Ok((!empty).then_some(value))
}

/// Types 14 (quicklist of ziplists) and 18 (quicklist of PLAIN or PACKED listpack nodes).
/// Empty packed nodes are skipped, as Redis does; an empty list is returned empty.
fn read_quicklist<R: Read>(r: &mut Reader<R>, t: u8) -> Result<Vec<Bytes>, RdbError> {
    let nodes = r.count()?;
    let mut items = Vec::new();
    for _ in 0..nodes {
        let container = if t == TYPE_LIST_QUICKLIST_2 {
            let at = r.offset;
            let c = r.count()?;
            if c != CONTAINER_PLAIN && c != CONTAINER_PACKED {
                return corrupt(at, "Quicklist integrity check failed.");
            }
            c
        } else {
            CONTAINER_PACKED
        };
        let at = r.offset;
        let blob = r.string()?;
        if blob.is_empty() {
            return corrupt(at, "Quicklist integrity check failed. (empty node)");
        }
        if container == CONTAINER_PLAIN {
            items.push(Bytes::from(blob));
            continue;
        }
        let entries = if t == TYPE_LIST_QUICKLIST_2 {
            listpack::entries(&blob)
                .map_err(|e| pack_error(at, "Listpack integrity check failed.", e))?
        } else {
            ziplist::entries(&blob)
                .map_err(|e| pack_error(at, "Ziplist integrity check failed.", e))?
        };
        items.extend(entries.iter().map(Entry::to_bytes));
    }
    Ok(items)
}

/// The types stored as one packed blob (read from the file at offset `at`).
fn packed_object(t: u8, blob: &[u8], at: u64) -> Result<Loaded, RdbError> {
    Ok(match t {
        TYPE_HASH_ZIPMAP => {
            const WHAT: &str = "Zipmap integrity check failed.";
            let pairs = zipmap::pairs(blob).map_err(|e| pack_error(at, WHAT, e))?;
            if let Some(i) = first_duplicate(pairs.iter().map(|(f, _)| *f)) {
                return corrupt(
                    at,
                    format!(
                        "Hash zipmap with dup elements, or big length ({})",
                        pairs[i].0.len()
                    ),
                );
            }
            Loaded::Hash(
                pairs
                    .into_iter()
                    .map(|(f, v)| (Bytes::copy_from_slice(f), Bytes::copy_from_slice(v)))
                    .collect(),
            )
        }
        TYPE_LIST_ZIPLIST => {
            const WHAT: &str = "List ziplist integrity check failed.";
            let entries = ziplist::entries(blob).map_err(|e| pack_error(at, WHAT, e))?;
            Loaded::List(entries.iter().map(Entry::to_bytes).collect())
        }
        TYPE_SET_INTSET => {
            const WHAT: &str = "Intset integrity check failed.";
            let values = intset::values(blob).map_err(|e| pack_error(at, WHAT, e))?;
            Loaded::Set(values.iter().map(|v| Bytes::from(v.to_string())).collect())
        }
        TYPE_ZSET_ZIPLIST => {
            const WHAT: &str = "Zset ziplist integrity check failed.";
            let entries = ziplist::entries(blob).map_err(|e| pack_error(at, WHAT, e))?;
            Loaded::ZSet(packed_zset(&entries, at, WHAT)?)
        }
        TYPE_HASH_ZIPLIST => {
            const WHAT: &str = "Hash ziplist integrity check failed.";
            let entries = ziplist::entries(blob).map_err(|e| pack_error(at, WHAT, e))?;
            Loaded::Hash(packed_pairs(&entries, at, WHAT)?)
        }
        TYPE_HASH_LISTPACK => {
            const WHAT: &str = "Hash listpack integrity check failed.";
            let entries = listpack::entries(blob).map_err(|e| pack_error(at, WHAT, e))?;
            Loaded::Hash(packed_pairs(&entries, at, WHAT)?)
        }
        TYPE_ZSET_LISTPACK => {
            const WHAT: &str = "Zset listpack integrity check failed.";
            let entries = listpack::entries(blob).map_err(|e| pack_error(at, WHAT, e))?;
            Loaded::ZSet(packed_zset(&entries, at, WHAT)?)
        }
        _ => return corrupt(at, format!("Unknown RDB encoding type {t}")),
    })
}

/// Loads a whole RDB file from `reader`: header, aux fields, databases, EOF and checksum.
///
/// Calls the sink in file order; stops at the first error, which may come from the sink.
/// Checks the CRC64 for version 5 and later unless the stored checksum is 0 ("saved with
/// checksum disabled"). Reads nothing after the checksum. Reads in small pieces: pass a
/// buffered reader. On success returns what was loaded; on error, what the sink got so
/// far is a partial dataset the caller must discard.
pub fn load<R: Read>(reader: R, sink: &mut impl LoadSink) -> Result<LoadStats, RdbError> {
    let mut r = Reader::new(reader, true);
    let header: [u8; 9] = r.array()?;
    if &header[..5] != MAGIC {
        return Err(RdbError::BadSignature);
    }
    let version = u32::try_from(parse_version(&header[5..])).unwrap_or(0);
    if !(1..=VERSION).contains(&version) {
        return Err(RdbError::UnsupportedVersion(version));
    }
    let mut stats = LoadStats {
        version,
        ..LoadStats::default()
    };
    // Set by EXPIRETIME(_MS) for the next key only. Like Redis, a stored -1 means none.
    let mut expire: Option<i64> = None;
    loop {
        let at = r.offset;
        let t = r.u8()?;
        match t {
            OPCODE_EXPIRETIME => expire = Some(i64::from(i32::from_le_bytes(r.array()?)) * 1000),
            // Before version 9 this was written in host order; every Redis we load from is LE.
            OPCODE_EXPIRETIME_MS => expire = Some(i64::from_le_bytes(r.array()?)),
            OPCODE_FREQ => {
                let freq = r.u8()?;
                sink.clock_hint(Some(freq), None);
            }
            OPCODE_IDLE => {
                let idle = r.count()?;
                sink.clock_hint(None, Some(idle));
            }
            OPCODE_EOF => break,
            OPCODE_SELECTDB => {
                let db = r.count()?;
                sink.select_db(db)?;
            }
            OPCODE_RESIZEDB => {
                let size = r.count()?;
                let expires = r.count()?;
                sink.resize_db(size, expires);
            }
            OPCODE_AUX => {
                let key = r.string()?;
                let value = r.string()?;
                sink.aux(&key, &value)?;
            }
            OPCODE_MODULE_AUX => {
                let id = r.count()?;
                return Err(RdbError::ModuleAux {
                    offset: at,
                    module: module_type_name(id),
                });
            }
            OPCODE_FUNCTION_PRE_GA | OPCODE_FUNCTION2 => {
                let code = read_function(&mut r, t)?;
                sink.function(t, code)?;
            }
            _ => {
                if !is_object_type(t) {
                    return corrupt(at, format!("Unknown RDB encoding type {t}"));
                }
                let key = r.string()?;
                let value = read_object(&mut r, t)?;
                let expire_ms = expire.take().filter(|&e| e != -1);
                match value {
                    None => {
                        stats.empty_keys_skipped += 1;
                        sink.empty_key(&key);
                    }
                    Some(value) => {
                        sink.entry(Bytes::from(key.into_boxed_slice()), value, expire_ms)?;
                        stats.keys += 1;
                        stats.expires += u64::from(expire_ms.is_some());
                    }
                }
            }
        }
    }
    if version >= 5 {
        let computed = r.finish_checksum();
        let expected = u64::from_le_bytes(r.array()?);
        if expected != 0 && expected != computed && sink.verify_checksum() {
            return Err(RdbError::BadChecksum { expected, computed });
        }
    }
    stats.bytes = r.offset;
    Ok(stats)
}

/// Decodes one value body of type `type_byte` (RESTORE, after `verify_dump_payload`).
/// Offsets in errors count from the start of `payload`. Empty collections are an error
/// here (RESTORE replies "Bad data format"). Like Redis, bytes after the value are ignored.
pub fn load_value(type_byte: u8, payload: &[u8]) -> Result<Loaded, RdbError> {
    if !is_object_type(type_byte) {
        return corrupt(0, format!("Unknown RDB encoding type {type_byte}"));
    }
    let mut r = Reader::new(payload, false);
    match read_object(&mut r, type_byte)? {
        Some(value) => Ok(value),
        None => corrupt(0, "Empty keys are not allowed"),
    }
}

/// The library codes of a FUNCTION DUMP payload (FUNCTION RESTORE); errors are the reply
/// text after `ERR `.
pub fn functions_payload(payload: &[u8]) -> Result<Vec<Bytes>, String> {
    if verify_dump_payload(payload, true).is_err() {
        return Err("DUMP payload version or checksum are wrong".into());
    }
    let body = &payload[..payload.len() - 10];
    let mut r = Reader::new(body, false);
    let mut codes = Vec::new();
    while r.offset < body.len() as u64 {
        let t = r.u8().map_err(|_| "can not read data type".to_string())?;
        codes.push(read_function(&mut r, t).map_err(|e| match e {
            RdbError::UnsupportedType { .. } => "given type is not a function".to_string(),
            _ => "failed loading the given functions payload".to_string(),
        })?);
    }
    Ok(codes)
}

/// One library record after its opcode: FUNCTION2 holds the code; the pre-GA FUNCTION holds
/// name, engine, optional description and body (redis `rdbFunctionLoad`).
fn read_function<R: Read>(r: &mut Reader<R>, t: u8) -> Result<Bytes, RdbError> {
    match t {
        OPCODE_FUNCTION2 => Ok(Bytes::from(r.string()?)),
        OPCODE_FUNCTION_PRE_GA => {
            let name = r.string()?;
            let engine = r.string()?;
            if r.count()? != 0 {
                r.string()?;
            }
            let body = r.string()?;
            let mut code = Vec::with_capacity(body.len() + name.len() + engine.len() + 10);
            code.extend_from_slice(b"#!");
            code.extend_from_slice(&engine);
            code.extend_from_slice(b" name=");
            code.extend_from_slice(&name);
            code.push(b'\n');
            code.extend_from_slice(&body);
            Ok(Bytes::from(code))
        }
        _ => Err(RdbError::UnsupportedType {
            type_byte: t,
            name: "function",
        }),
    }
}

/// Checks a DUMP payload, `<type> <body> <RDB version u16 LE> <CRC64 u64 LE>`, as redis
/// `verifyDumpPayload` does: a version Redis 7.0 can read and, when `check_crc` (DEBUG
/// SET-SKIP-CHECKSUM-VALIDATION turns it off), the CRC64 of everything before the checksum
/// (no "0 = unchecked" here). Returns the type byte and the body.
pub fn verify_dump_payload(payload: &[u8], check_crc: bool) -> Result<(u8, &[u8]), RdbError> {
    let Some(footer) = payload.len().checked_sub(10) else {
        return corrupt(0, "DUMP payload shorter than its footer");
    };
    let version = u16::from_le_bytes([payload[footer], payload[footer + 1]]);
    if u32::from(version) > VERSION {
        return Err(RdbError::UnsupportedVersion(u32::from(version)));
    }
    let crc_at = footer + 2;
    let mut stored = [0u8; 8];
    stored.copy_from_slice(&payload[crc_at..]);
    let expected = u64::from_le_bytes(stored);
    let computed = CRC64.checksum(&payload[..crc_at]);
    if check_crc && expected != computed {
        return Err(RdbError::BadChecksum { expected, computed });
    }
    // A payload of just a footer has its first byte read as the type, as in Redis.
    Ok((payload[0], payload.get(1..footer).unwrap_or(&[])))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};

    // ----- fixtures: files written by redis-server 7.0.15 (see tests/fixtures/rdb/README)

    macro_rules! fixture {
        ($name:literal) => {
            (
                include_bytes!(concat!("../../../tests/fixtures/rdb/", $name, ".rdb")) as &[u8],
                include_str!(concat!("../../../tests/fixtures/rdb/", $name, ".txt")),
            )
        };
    }

    #[derive(Debug, Clone, PartialEq)]
    enum Item {
        V(Vec<u8>),
        H(Vec<u8>, Vec<u8>),
        Z(Vec<u8>, f64),
    }

    /// (db, key) -> (type, expire, items), the shape of a fixture listing.
    type Dataset = BTreeMap<(u64, Vec<u8>), (String, Option<i64>, Vec<Item>)>;

    fn unhex(s: &str) -> Vec<u8> {
        let s = s.strip_prefix('x').expect("hex field starts with x");
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Parses a listing written by gen_fixtures.py from the real server.
    fn parse_listing(text: &str) -> Dataset {
        let mut out = Dataset::new();
        let mut current: Option<(u64, Vec<u8>)> = None;
        for line in text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("D "))
        {
            let f: Vec<&str> = line.split(' ').collect();
            match f[0] {
                "K" => {
                    let k = (f[1].parse().unwrap(), unhex(f[2]));
                    let exp: i64 = f[5].parse().unwrap();
                    out.insert(
                        k.clone(),
                        (f[3].to_string(), (exp != -1).then_some(exp), vec![]),
                    );
                    current = Some(k);
                }
                tag => {
                    let item = match tag {
                        "V" => Item::V(unhex(f[1])),
                        "H" => Item::H(unhex(f[1]), unhex(f[2])),
                        "Z" => Item::Z(unhex(f[1]), f[2].parse().unwrap()),
                        _ => panic!("bad listing line {line}"),
                    };
                    out.get_mut(current.as_ref().unwrap()).unwrap().2.push(item);
                }
            }
        }
        out
    }

    /// A loaded value in listing shape: sets and hashes sorted, zsets in ZRANGE order.
    fn normalize(value: &Loaded) -> (String, Vec<Item>) {
        match value {
            Loaded::Str(s) => ("string".into(), vec![Item::V(s.to_vec())]),
            Loaded::List(v) => (
                "list".into(),
                v.iter().map(|e| Item::V(e.to_vec())).collect(),
            ),
            Loaded::Set(v) => {
                let mut v: Vec<Vec<u8>> = v.iter().map(|e| e.to_vec()).collect();
                v.sort();
                ("set".into(), v.into_iter().map(Item::V).collect())
            }
            Loaded::Hash(v) => {
                let mut v: Vec<(Vec<u8>, Vec<u8>)> =
                    v.iter().map(|(f, x)| (f.to_vec(), x.to_vec())).collect();
                v.sort();
                (
                    "hash".into(),
                    v.into_iter().map(|(f, x)| Item::H(f, x)).collect(),
                )
            }
            Loaded::ZSet(v) => {
                let mut v: Vec<(Vec<u8>, f64)> = v.iter().map(|(m, s)| (m.to_vec(), *s)).collect();
                v.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
                (
                    "zset".into(),
                    v.into_iter().map(|(m, s)| Item::Z(m, s)).collect(),
                )
            }
            // Listings name a stream's type only.
            Loaded::Stream(_) => ("stream".into(), Vec::new()),
        }
    }

    #[derive(Default)]
    struct Collect {
        db: u64,
        dbs: Vec<u64>,
        resize: Vec<(u64, u64, u64)>,
        aux: Vec<(Vec<u8>, Vec<u8>)>,
        data: Dataset,
    }

    impl LoadSink for Collect {
        fn aux(&mut self, key: &[u8], value: &[u8]) -> Result<(), RdbError> {
            self.aux.push((key.to_vec(), value.to_vec()));
            Ok(())
        }
        fn select_db(&mut self, db: u64) -> Result<(), RdbError> {
            if db >= 16 {
                return Err(RdbError::DbOutOfRange { db, databases: 16 });
            }
            self.db = db;
            self.dbs.push(db);
            Ok(())
        }
        fn resize_db(&mut self, size: u64, expires: u64) {
            self.resize.push((self.db, size, expires));
        }
        fn entry(
            &mut self,
            key: Bytes,
            value: Loaded,
            expire_ms: Option<i64>,
        ) -> Result<(), RdbError> {
            let (t, items) = normalize(&value);
            let k = (self.db, key.to_vec());
            if self.data.insert(k, (t, expire_ms, items)).is_some() {
                return Err(RdbError::DuplicateKey { db: self.db, key });
            }
            Ok(())
        }
    }

    fn load_all(rdb: &[u8]) -> Result<(Collect, LoadStats), RdbError> {
        let mut sink = Collect::default();
        let stats = load(rdb, &mut sink)?;
        Ok((sink, stats))
    }

    fn assert_matches_listing(rdb: &[u8], listing: &str) -> (Collect, LoadStats) {
        let (sink, stats) = load_all(rdb).expect("fixture loads");
        let expected = parse_listing(listing);
        assert_eq!(sink.data.len(), expected.len());
        for (k, v) in &expected {
            assert_eq!(
                sink.data.get(k),
                Some(v),
                "key {:?} in db {}",
                String::from_utf8_lossy(&k.1),
                k.0
            );
        }
        assert_eq!(stats.keys, expected.len() as u64);
        assert_eq!(
            stats.expires,
            expected.values().filter(|v| v.1.is_some()).count() as u64
        );
        assert_eq!(stats.bytes, rdb.len() as u64);
        (sink, stats)
    }

    fn aux_value<'a>(sink: &'a Collect, key: &str) -> Option<&'a [u8]> {
        sink.aux
            .iter()
            .find(|(k, _)| k == key.as_bytes())
            .map(|(_, v)| v.as_slice())
    }

    #[test]
    fn types_fixture_matches_redis() {
        let (rdb, listing) = fixture!("types_7_0");
        let (sink, stats) = assert_matches_listing(rdb, listing);
        assert_eq!(stats.version, 10);
        assert_eq!(sink.dbs, [0, 3, 15]);
        assert_eq!(aux_value(&sink, "redis-ver"), Some(&b"7.0.15"[..]));
        assert_eq!(aux_value(&sink, "redis-bits"), Some(&b"64"[..]));
        // RESIZEDB hints match what each database holds
        for &(db, size, expires) in &sink.resize {
            let keys: Vec<_> = sink.data.iter().filter(|(k, _)| k.0 == db).collect();
            assert_eq!(size, keys.len() as u64);
            assert_eq!(
                expires,
                keys.iter().filter(|(_, v)| v.1.is_some()).count() as u64
            );
        }
        assert_eq!(sink.resize.len(), 3);
    }

    #[test]
    fn list_fixtures_with_plain_and_compressed_nodes() {
        let (rdb, listing) = fixture!("lists_7_0");
        assert_matches_listing(rdb, listing);
    }

    #[test]
    fn small_fixtures_match_redis() {
        for (rdb, listing) in [
            fixture!("empty_7_0"),
            fixture!("lfu_7_0"),
            fixture!("lru_7_0"),
            fixture!("nochecksum_7_0"),
        ] {
            assert_matches_listing(rdb, listing);
        }
        // nochecksum really stores a zero checksum
        let (rdb, _) = fixture!("nochecksum_7_0");
        assert_eq!(rdb[rdb.len() - 8..], [0; 8]);
    }

    #[test]
    fn legacy_fixtures_match_redis() {
        let (rdb, listing) = fixture!("legacy_v3");
        let (_, stats) = assert_matches_listing(rdb, listing);
        assert_eq!(stats.version, 3);
        let (rdb, listing) = fixture!("legacy_v6");
        let (_, stats) = assert_matches_listing(rdb, listing);
        assert_eq!(stats.empty_keys_skipped, 1);
        let (rdb, listing) = fixture!("legacy_v9");
        let (sink, stats) = assert_matches_listing(rdb, listing);
        assert_eq!(stats.empty_keys_skipped, 1);
        assert_eq!(aux_value(&sink, "redis-ver"), Some(&b"5.0.14"[..]));
        assert_eq!(aux_value(&sink, "ctime"), Some(&b"1600000000"[..]));
        assert_eq!(sink.resize, [(0, 5, 1), (7, 1, 0)]);
    }

    #[test]
    fn unsupported_fixtures_name_the_type() {
        let (rdb, _) = fixture!("function_7_0");
        let e = load_all(rdb).err().unwrap();
        assert!(
            matches!(
                e,
                RdbError::UnsupportedType {
                    type_byte: OPCODE_FUNCTION2,
                    name: "function"
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn stream_fixture_loads() {
        let (rdb, listing) = fixture!("stream_7_0");
        let (sink, _) = assert_matches_listing(rdb, listing);
        assert!(sink.data.contains_key(&(0, b"s".to_vec())));
    }

    #[test]
    fn dump_payloads_from_redis_restore() {
        let text = include_str!("../../../tests/fixtures/rdb/dump_7_0.txt");
        let expected = parse_listing(text);
        let mut seen = 0;
        for line in text.lines().filter(|l| l.starts_with("D ")) {
            let f: Vec<&str> = line.split(' ').collect();
            let key = unhex(f[1]);
            let payload = unhex(f[2]);
            let (t, body) = verify_dump_payload(&payload, true).unwrap();
            let value = load_value(t, body).unwrap();
            let (ty, items) = normalize(&value);
            let want = &expected[&(0, key.clone())];
            assert_eq!(
                (&ty, &items),
                (&want.0, &want.2),
                "{}",
                String::from_utf8_lossy(&key)
            );
            // a flipped bit anywhere is caught by the CRC
            for i in 0..payload.len() {
                let mut bad = payload.clone();
                bad[i] ^= 0x10;
                assert!(verify_dump_payload(&bad, true).is_err());
            }
            // every truncated body fails cleanly
            for cut in 0..body.len() {
                assert!(load_value(t, &body[..cut]).is_err());
            }
            seen += 1;
        }
        assert_eq!(seen, 10);
    }

    #[test]
    fn dump_payload_version_and_size() {
        let mut p = vec![TYPE_STRING, 1, b'a'];
        p.extend_from_slice(&11u16.to_le_bytes());
        let crc = CRC64.checksum(&p);
        p.extend_from_slice(&crc.to_le_bytes());
        assert!(matches!(
            verify_dump_payload(&p, true),
            Err(RdbError::UnsupportedVersion(11))
        ));
        assert!(verify_dump_payload(&p[..9], true).is_err());
        let mut ok = vec![TYPE_STRING, 1, b'a'];
        ok.extend_from_slice(&9u16.to_le_bytes());
        let crc = CRC64.checksum(&ok);
        ok.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(
            verify_dump_payload(&ok, true).unwrap(),
            (TYPE_STRING, &[1, b'a'][..])
        );
        assert_eq!(
            load_value(TYPE_STRING, &[1, b'a']).unwrap(),
            Loaded::Str(Bytes::from_static(b"a"))
        );
        let mut empty = 9u16.to_le_bytes().to_vec();
        let crc = CRC64.checksum(&empty);
        empty.extend_from_slice(&crc.to_le_bytes());
        // Just a footer: its first byte is read as the type, the value fails to load.
        assert_eq!(verify_dump_payload(&empty, true).unwrap(), (9, &[][..]));
        assert!(load_value(9, &empty[1..]).is_err());
        assert!(load_value(8, &[0]).is_err());
        assert!(
            load_value(TYPE_LIST, &[0]).is_err(),
            "empty list refused by RESTORE"
        );
    }

    // ----- hostile input

    const ALL: [(&[u8], &str); 11] = [
        fixture!("types_7_0"),
        fixture!("lists_7_0"),
        fixture!("empty_7_0"),
        fixture!("lfu_7_0"),
        fixture!("lru_7_0"),
        fixture!("nochecksum_7_0"),
        fixture!("function_7_0"),
        fixture!("stream_7_0"),
        fixture!("legacy_v3"),
        fixture!("legacy_v6"),
        fixture!("legacy_v9"),
    ];

    #[test]
    fn every_truncation_is_an_error() {
        for (rdb, _) in ALL {
            for cut in 0..rdb.len() {
                match load_all(&rdb[..cut]) {
                    Err(RdbError::Corrupt { offset, .. }) => {
                        assert!(offset <= cut as u64, "offset {offset} past the cut {cut}")
                    }
                    Err(RdbError::UnsupportedType { .. }) => {}
                    other => panic!("truncated at {cut}: {:?}", other.map(|(_, s)| s)),
                }
            }
        }
    }

    #[test]
    fn truncation_error_names_the_offset() {
        let (rdb, _) = fixture!("types_7_0");
        match load_all(&rdb[..1000]) {
            Err(RdbError::Corrupt {
                offset: 1000,
                reason,
            }) => assert_eq!(reason, EOF_REASON),
            other => panic!("{:?}", other.map(|(_, s)| s)),
        }
    }

    #[test]
    fn checksum_is_verified() {
        let (rdb, _) = fixture!("types_7_0");
        let mut bad = rdb.to_vec();
        let at = bad.windows(5).position(|w| w == b"hello").unwrap();
        bad[at] = b'j'; // still a valid file, only the CRC differs
        let e = load_all(&bad).err().unwrap();
        let RdbError::BadChecksum { expected, computed } = e else {
            panic!("{e}")
        };
        assert_eq!(expected.to_le_bytes(), rdb[rdb.len() - 8..]);
        assert_ne!(expected, computed);
        // the same change with the checksum zeroed is accepted
        let n = bad.len();
        bad[n - 8..].fill(0);
        assert!(load_all(&bad).is_ok());
        // a wrong checksum
        let mut bad = rdb.to_vec();
        bad[n - 1] ^= 1;
        assert!(matches!(load_all(&bad), Err(RdbError::BadChecksum { .. })));
        assert!(RdbError::BadChecksum {
            expected: 0xab,
            computed: 0xcd
        }
        .to_string()
        .starts_with("Wrong RDB checksum expected: (cd) but got (ab)"));
    }

    #[test]
    fn header_checks() {
        assert!(matches!(
            load_all(b"REDIS0011\xff"),
            Err(RdbError::UnsupportedVersion(11))
        ));
        assert_eq!(
            RdbError::UnsupportedVersion(11).to_string(),
            "Can't handle RDB format version 11"
        );
        assert!(matches!(
            load_all(b"REDIS0000\xff"),
            Err(RdbError::UnsupportedVersion(0))
        ));
        assert!(matches!(
            load_all(b"REDIS-001\xff"),
            Err(RdbError::UnsupportedVersion(0))
        ));
        assert!(matches!(
            load_all(b"REDIX0009\xff"),
            Err(RdbError::BadSignature)
        ));
        assert!(matches!(
            load_all(b"REDIS"),
            Err(RdbError::Corrupt { offset: 5, .. })
        ));
        // versions before 5 have no checksum: EOF ends the file
        let (_, stats) = load_all(b"REDIS0004\xff").unwrap();
        assert_eq!((stats.version, stats.bytes), (4, 10));
        // " 9ab" is version 9 to atoi
        assert_eq!(parse_version(b" 9ab"), 9);
    }

    /// An RDB body of the given version, with EOF and (for v5+) its checksum.
    fn rdb(version: u32, body: &[u8]) -> Vec<u8> {
        let mut out = format!("REDIS{version:04}").into_bytes();
        out.extend_from_slice(body);
        out.push(OPCODE_EOF);
        if version >= 5 {
            let crc = CRC64.checksum(&out);
            out.extend_from_slice(&crc.to_le_bytes());
        }
        out
    }

    /// The value of a one-key file body `<type> <1-byte-length key> <value>`: loads the
    /// whole file (which must succeed) and returns the value through `load_value`.
    fn one_value(body: &[u8]) -> Result<Loaded, RdbError> {
        let (sink, stats) = load_all(&rdb(10, body))?;
        assert_eq!((sink.data.len(), stats.keys), (1, 1));
        load_value(body[0], &body[2 + usize::from(body[1])..])
    }

    #[test]
    fn module_aux_names_the_module() {
        // "mymodule1" in the top 54 bits, encoding version 3 in the low 10
        const CHARSET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let id = b"mymodule1".iter().fold(0u64, |acc, c| {
            (acc << 6) | CHARSET.iter().position(|x| x == c).unwrap() as u64
        });
        let id = (id << 10) | 3;
        let mut body = vec![OPCODE_MODULE_AUX, LEN_64BIT];
        body.extend_from_slice(&id.to_be_bytes());
        body.extend_from_slice(&[2, 2]);
        match load_all(&rdb(10, &body)) {
            Err(e @ RdbError::ModuleAux { offset: 9, .. }) => assert_eq!(
                e.to_string(),
                "The RDB file contains AUX module data I can't load: no matching module 'mymodule1'"
            ),
            other => panic!("{:?}", other.map(|(_, s)| s)),
        }
        assert_eq!(module_type_name(id), "mymodule1");
    }

    #[test]
    fn module_and_unknown_types() {
        let e = load_all(&rdb(10, &[TYPE_MODULE_2, 1, b'k', 0]))
            .err()
            .unwrap();
        assert!(matches!(
            e,
            RdbError::UnsupportedType {
                type_byte: 7,
                name: "module"
            }
        ));
        let e = load_all(&rdb(10, &[TYPE_MODULE_PRE_GA, 1, b'k', 0]))
            .err()
            .unwrap();
        assert!(matches!(
            e,
            RdbError::UnsupportedType {
                type_byte: 6,
                name: "module"
            }
        ));
        for t in [8u8, 20, 100, 244] {
            let e = load_all(&rdb(10, &[t, 1, b'k', 0])).err().unwrap();
            assert!(matches!(e, RdbError::Corrupt { offset: 9, .. }), "{t}: {e}");
        }
        // A function record cut short.
        let e = load_all(&rdb(10, &[OPCODE_FUNCTION_PRE_GA])).err().unwrap();
        assert!(matches!(e, RdbError::Corrupt { .. }), "{e}");
    }

    #[test]
    fn opcodes_and_expiries() {
        let mut body = vec![OPCODE_SELECTDB, 2, OPCODE_RESIZEDB, 3, 1];
        body.push(OPCODE_EXPIRETIME);
        body.extend_from_slice(&1_000_000i32.to_le_bytes());
        body.extend_from_slice(&[OPCODE_FREQ, 9, OPCODE_IDLE, 0x40, 0x10]);
        body.extend_from_slice(&[TYPE_STRING, 1, b'a', 1, b'1']);
        body.extend_from_slice(&[TYPE_STRING, 1, b'b', 1, b'2']); // no expiry carried over
        body.push(OPCODE_EXPIRETIME_MS);
        body.extend_from_slice(&(-1i64).to_le_bytes()); // Redis's "no expire"
        body.extend_from_slice(&[TYPE_STRING, 1, b'c', 1, b'3']);
        body.push(OPCODE_AUX);
        body.extend_from_slice(&[2, b'k', b'1', 0xC1, 0x39, 0x30]); // value 12345, int16
        let (sink, stats) = load_all(&rdb(7, &body)).unwrap();
        assert_eq!(sink.dbs, [2]);
        assert_eq!(sink.resize, [(2, 3, 1)]);
        assert_eq!(sink.data[&(2, b"a".to_vec())].1, Some(1_000_000_000));
        assert_eq!(sink.data[&(2, b"b".to_vec())].1, None);
        assert_eq!(sink.data[&(2, b"c".to_vec())].1, None);
        assert_eq!(sink.aux, [(b"k1".to_vec(), b"12345".to_vec())]);
        assert_eq!((stats.keys, stats.expires), (3, 1));
    }

    #[test]
    fn sink_errors_stop_the_load() {
        let e = load_all(&rdb(10, &[OPCODE_SELECTDB, 16])).err().unwrap();
        assert_eq!(
            e.to_string(),
            "FATAL: Data file was created with a Redis server configured to handle more than 16 databases. Exiting"
        );
        let e = load_all(&rdb(10, &[0, 1, b'k', 0, 0, 1, b'k', 0]))
            .err()
            .unwrap();
        assert_eq!(e.to_string(), "RDB has duplicated key 'k' in DB 0");
    }

    #[test]
    fn lengths_and_string_encodings() {
        // 14-bit, 32-bit and 64-bit lengths
        let mut body = vec![TYPE_STRING, 1, b'k', 0x40, 0x03];
        body.extend_from_slice(&[b'x'; 3]);
        assert_eq!(
            one_value(&body).unwrap(),
            Loaded::Str(Bytes::from_static(b"xxx"))
        );
        let mut body = vec![TYPE_STRING, 1, b'k', LEN_32BIT, 0, 0, 0, 2, b'o', b'k'];
        assert_eq!(
            one_value(&body).unwrap(),
            Loaded::Str(Bytes::from_static(b"ok"))
        );
        body = vec![
            TYPE_STRING,
            1,
            b'k',
            LEN_64BIT,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            1,
            b'!',
        ];
        assert_eq!(
            one_value(&body).unwrap(),
            Loaded::Str(Bytes::from_static(b"!"))
        );
        // int encodings
        for (enc, want) in [
            (vec![0xC0, 0x80], "-128"),
            (vec![0xC1, 0x00, 0x80], "-32768"),
            (vec![0xC2, 0xFF, 0xFF, 0xFF, 0x7F], "2147483647"),
        ] {
            let mut body = vec![TYPE_STRING, 1, b'k'];
            body.extend_from_slice(&enc);
            assert_eq!(one_value(&body).unwrap(), Loaded::Str(Bytes::from(want)));
        }
        // unknown encodings
        assert!(load_value(TYPE_STRING, &[0xC4]).is_err());
        assert!(matches!(
            load_value(TYPE_STRING, &[0x82]),
            Err(RdbError::Corrupt { offset: 0, .. })
        ));
        // a huge declared length with no data fails without allocating it
        let e = load_value(
            TYPE_STRING,
            &[LEN_64BIT, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xF0],
        )
        .unwrap_err();
        assert!(matches!(e, RdbError::Corrupt { .. }));
        let e = load_value(TYPE_LIST, &[LEN_32BIT, 0xFF, 0xFF, 0xFF, 0xFF, 0]).unwrap_err();
        assert!(matches!(e, RdbError::Corrupt { offset: 6, .. }), "{e}");
    }

    #[test]
    fn lzf_strings() {
        // 30 x 'a': literal 'a', then a back reference of 29 (len field 7 + 20 extra)
        let body = [0xC3, 5, 30, 0x00, b'a', 0xE0, 20, 0x00];
        assert_eq!(
            load_value(TYPE_STRING, &body).unwrap(),
            Loaded::Str(Bytes::from(vec![b'a'; 30]))
        );
        // declared length larger than what decompresses
        assert!(load_value(TYPE_STRING, &[0xC3, 5, 31, 0x00, b'a', 0xE0, 20, 0x00]).is_err());
        // shorter
        assert!(load_value(TYPE_STRING, &[0xC3, 5, 29, 0x00, b'a', 0xE0, 20, 0x00]).is_err());
        // beyond LZF's maximum ratio, or beyond 512 MiB: refused before allocating
        assert!(load_value(TYPE_STRING, &[0xC3, 1, 0x80, 0, 0, 0x10, 0, 0]).is_err());
        assert!(load_value(TYPE_STRING, &[0xC3, 1, 0x81, 0x40, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        // corrupt data: back reference before the start
        assert!(load_value(TYPE_STRING, &[0xC3, 3, 8, 0x20, 0x05, 0]).is_err());
        // zero length is an empty string, as lzf_decompress returns 0
        assert_eq!(
            load_value(TYPE_STRING, &[0xC3, 1, 0, 0x00]).unwrap(),
            Loaded::Str(Bytes::new())
        );
    }

    #[test]
    fn crc_tables_agree() {
        let (rdb, _) = fixture!("types_7_0");
        let one_table = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);
        assert_eq!(one_table.checksum(rdb), CRC64.checksum(rdb));
        assert_eq!(CRC64.checksum(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
    }

    #[test]
    fn duplicates_and_nan_are_refused() {
        let dup_set = [2, 1, b'a', 1, b'a'];
        assert!(load_value(TYPE_SET, &dup_set)
            .unwrap_err()
            .to_string()
            .contains("Duplicate set members"));
        let dup_hash = [2, 1, b'a', 1, b'1', 1, b'a', 1, b'2'];
        assert!(load_value(TYPE_HASH, &dup_hash)
            .unwrap_err()
            .to_string()
            .contains("Duplicate hash fields"));
        let mut dup_zset = vec![2, 1, b'a'];
        dup_zset.extend_from_slice(&1f64.to_le_bytes());
        dup_zset.extend_from_slice(&[1, b'a']);
        dup_zset.extend_from_slice(&2f64.to_le_bytes());
        assert!(load_value(TYPE_ZSET_2, &dup_zset)
            .unwrap_err()
            .to_string()
            .contains("Duplicate zset fields"));
        let mut nan = vec![1, 1, b'a'];
        nan.extend_from_slice(&f64::NAN.to_le_bytes());
        assert!(load_value(TYPE_ZSET_2, &nan)
            .unwrap_err()
            .to_string()
            .contains("NAN"));
        assert!(load_value(TYPE_ZSET, &[1, 1, b'a', 253])
            .unwrap_err()
            .to_string()
            .contains("NAN"));
        assert!(load_value(TYPE_ZSET, &[1, 1, b'a', 3, b'x', b'y', b'z']).is_err());
        assert_eq!(
            load_value(
                TYPE_ZSET,
                &[2, 1, b'a', 254, 1, b'b', 4, b'-', b'1', b'.', b'5']
            )
            .unwrap(),
            Loaded::ZSet(vec![
                (Bytes::from("a"), f64::INFINITY),
                (Bytes::from("b"), -1.5)
            ])
        );
        // a listpack hash with a repeated field, and one with an odd entry count
        let lp = |entries: &[&[u8]]| {
            let mut body = Vec::new();
            for e in entries {
                body.push(0x80 | e.len() as u8);
                body.extend_from_slice(e);
                body.push(1 + e.len() as u8);
            }
            let mut out = ((7 + body.len()) as u32).to_le_bytes().to_vec();
            out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
            out.extend_from_slice(&body);
            out.push(0xFF);
            let mut blob = vec![out.len() as u8];
            blob.extend_from_slice(&out);
            blob
        };
        assert!(load_value(TYPE_HASH_LISTPACK, &lp(&[b"f", b"1", b"f", b"2"])).is_err());
        assert!(load_value(TYPE_HASH_LISTPACK, &lp(&[b"f", b"1", b"g"])).is_err());
        assert_eq!(
            load_value(TYPE_HASH_LISTPACK, &lp(&[b"f", b"1", b"g", b"2"])).unwrap(),
            Loaded::Hash(vec![
                (Bytes::from("f"), Bytes::from("1")),
                (Bytes::from("g"), Bytes::from("2"))
            ])
        );
        assert!(load_value(TYPE_ZSET_LISTPACK, &lp(&[b"m", b"nan"])).is_err());
        assert!(load_value(TYPE_ZSET_LISTPACK, &lp(&[b"m", b"1.5x"])).is_err());
        assert!(
            load_value(TYPE_HASH_LISTPACK, &lp(&[])).is_err(),
            "empty: RESTORE refuses"
        );
        // duplicate in a zipmap
        let zm = b"\x02\x01a\x01\x00b\x01a\x01\x00c\xff";
        let mut blob = vec![zm.len() as u8];
        blob.extend_from_slice(zm);
        assert!(load_value(TYPE_HASH_ZIPMAP, &blob)
            .unwrap_err()
            .to_string()
            .contains("dup"));
    }

    #[test]
    fn quicklist_node_checks() {
        // container 3 is neither PLAIN nor PACKED
        assert!(load_value(TYPE_LIST_QUICKLIST_2, &[1, 3, 1, b'x']).is_err());
        // an empty PLAIN node
        assert!(load_value(TYPE_LIST_QUICKLIST_2, &[1, 1, 0]).is_err());
        // PLAIN nodes hold one element each
        assert_eq!(
            load_value(TYPE_LIST_QUICKLIST_2, &[2, 1, 1, b'x', 1, 2, b'y', b'z']).unwrap(),
            Loaded::List(vec![Bytes::from("x"), Bytes::from("yz")])
        );
        // a PACKED node that is not a listpack
        assert!(load_value(TYPE_LIST_QUICKLIST_2, &[1, 2, 1, b'x']).is_err());
        // only empty listpacks: an empty key
        let empty_lp = [7, 7, 0, 0, 0, 0, 0, 0xFF];
        let mut body = vec![1, 2];
        body.extend_from_slice(&empty_lp);
        assert!(load_value(TYPE_LIST_QUICKLIST_2, &body).is_err());
        let mut file = vec![TYPE_LIST_QUICKLIST_2, 1, b'k'];
        file.extend_from_slice(&body);
        let (sink, stats) = load_all(&rdb(10, &file)).unwrap();
        assert!(sink.data.is_empty());
        assert_eq!(stats.empty_keys_skipped, 1);
    }

    #[test]
    fn parse_double_accepts_what_redis_writes() {
        for (s, v) in [
            ("1.5", 1.5),
            ("-0.25", -0.25),
            ("inf", f64::INFINITY),
            ("-inf", f64::NEG_INFINITY),
            ("1e+300", 1e300),
            ("0.10000000000000001", 0.1),
            (" 3", 3.0),
        ] {
            assert_eq!(parse_double(s.as_bytes()), Some(v), "{s}");
        }
        assert_eq!(parse_double(b"abc"), None);
        assert_eq!(parse_double(b""), None);
        assert_eq!(parse_double(b"\xff"), None);
    }

    // ----- random corruption

    proptest::proptest! {
        // 512 cases each by default; PROPTEST_CASES=n for a deeper run.
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(512),
            ..Default::default()
        })]

        /// Flipped, inserted and deleted bytes: an Ok or an Err, never a panic, quickly.
        #[test]
        fn mutated_fixtures_never_panic(
            which in 0..ALL.len(),
            edits in proptest::collection::vec((0usize..1 << 20, 0u8..3, proptest::num::u8::ANY), 1..8),
        ) {
            let mut data = ALL[which].0.to_vec();
            for (pos, kind, byte) in edits {
                let pos = pos % (data.len() + 1);
                match kind {
                    0 if pos < data.len() => data[pos] ^= byte | 1,
                    1 => data.insert(pos, byte),
                    _ if pos < data.len() => { data.remove(pos); }
                    _ => {}
                }
            }
            let started = Instant::now();
            let _ = load_all(&data);
            // the same bytes with the checksum disabled get past the CRC to the parsers
            if data.len() >= 8 {
                let n = data.len();
                data[n - 8..].fill(0);
                let _ = load_all(&data);
            }
            proptest::prop_assert!(started.elapsed() < Duration::from_secs(5));
        }

        /// Whatever liblzf (the `lzf` crate) compresses, our decompressor restores exactly;
        /// and random input never makes it panic.
        #[test]
        fn lzf_roundtrip(
            chunks in proptest::collection::vec((proptest::num::u8::ANY, 1usize..300), 1..60),
            noise in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
        ) {
            let mut data: Vec<u8> = chunks.iter().flat_map(|&(b, n)| std::iter::repeat_n(b, n)).collect();
            data.extend_from_slice(&noise);
            data.extend_from_within(..data.len() / 2);
            if let Ok(c) = lzf::compress(&data) {
                proptest::prop_assert_eq!(lzf_decompress(&c, data.len()), Some(data.clone()));
                proptest::prop_assert_eq!(lzf_decompress(&c, data.len() + 1), None);
                proptest::prop_assert_eq!(lzf_decompress(&c, data.len() - 1), None);
            }
            let _ = lzf_decompress(&noise, 1000);
        }

        /// Any bytes as a RESTORE body of any type.
        #[test]
        fn random_values_never_panic(t in 0u8..=255, body in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _ = load_value(t, &body);
            let _ = verify_dump_payload(&body, true);
        }
    }
}
