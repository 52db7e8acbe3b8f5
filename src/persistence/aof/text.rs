//! The AOF's command form: a key written as the commands that rebuild it (redis
//! `rewriteAppendOnlyFileRio`, used for bases with `aof-use-rdb-preamble no`), and the reader
//! of command files (`#` annotation lines, RESP arrays of bulk strings).

use std::io::{self, BufRead};

use crate::keyspace::set::Member;
use crate::keyspace::stream::{Stream, StreamId};
use crate::keyspace::{Str, Value};

/// Items per variadic command (redis `AOF_REWRITE_ITEMS_PER_CMD`).
const ITEMS_PER_CMD: usize = 64;

fn header(out: &mut Vec<u8>, argc: usize) {
    out.push(b'*');
    out.extend_from_slice(itoa::Buffer::new().format(argc).as_bytes());
    out.extend_from_slice(b"\r\n");
}

pub fn bulk(out: &mut Vec<u8>, b: &[u8]) {
    out.push(b'$');
    out.extend_from_slice(itoa::Buffer::new().format(b.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

fn bulk_int(out: &mut Vec<u8>, i: i64) {
    bulk(out, itoa::Buffer::new().format(i).as_bytes());
}

/// One whole command.
pub fn command(out: &mut Vec<u8>, argv: &[&[u8]]) {
    header(out, argv.len());
    for a in argv {
        bulk(out, a);
    }
}

/// Writes `name key item...` commands of at most `ITEMS_PER_CMD` items (each item being
/// `per_item` arguments) for `count` items produced by `each`.
fn variadic<I>(out: &mut Vec<u8>, name: &[u8], key: &[u8], count: usize, per_item: usize, items: I)
where
    I: Iterator<Item = Vec<u8>>,
{
    let mut left = count;
    let mut in_cmd = 0;
    for (n, arg) in items.enumerate() {
        if n % per_item == 0 && in_cmd == 0 {
            let batch = left.min(ITEMS_PER_CMD);
            header(out, 2 + batch * per_item);
            bulk(out, name);
            bulk(out, key);
            in_cmd = batch;
            left -= batch;
        }
        out.extend_from_slice(&arg);
        if (n + 1) % per_item == 0 {
            in_cmd -= 1;
        }
    }
}

fn bulk_of(b: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(b.len() + 16);
    bulk(&mut v, b);
    v
}

/// The commands that rebuild `key` (and its expiry).
pub fn write_entry(out: &mut Vec<u8>, key: &[u8], v: &Value, expire: Option<i64>) {
    match v {
        Value::Str(Str::Int(i)) => {
            header(out, 3);
            bulk(out, b"SET");
            bulk(out, key);
            bulk_int(out, *i);
        }
        Value::Str(s) => command(out, &[b"SET", key, s.bytes().unwrap_or_default()]),
        Value::List(l) => variadic(out, b"RPUSH", key, l.len(), 1, l.iter().map(bulk_of)),
        Value::Set(s) => variadic(
            out,
            b"SADD",
            key,
            s.len(),
            1,
            s.iter().map(|m| match m {
                Member::Int(i) => bulk_of(itoa::Buffer::new().format(i).as_bytes()),
                Member::Bytes(b) => bulk_of(b),
            }),
        ),
        Value::Hash(h) => variadic(
            out,
            b"HMSET",
            key,
            h.len(),
            2,
            h.iter().flat_map(|(f, v)| [bulk_of(f), bulk_of(v)]),
        ),
        Value::ZSet(z) => variadic(
            out,
            b"ZADD",
            key,
            z.len(),
            2,
            z.iter().flat_map(|(m, s)| {
                [
                    bulk_of(crate::util::format_double(s).as_bytes()),
                    bulk_of(m),
                ]
            }),
        ),
        Value::Stream(st) => write_stream(out, key, st),
    }
    if let Some(at) = expire {
        header(out, 3);
        bulk(out, b"PEXPIREAT");
        bulk(out, key);
        bulk_int(out, at);
    }
}

/// redis `rewriteStreamObject`: one XADD per entry (or `XADD key MAXLEN 0 0-1 x y` for an
/// empty stream), XSETID with the stream's counters, then per group XGROUP CREATE, and per
/// consumer XGROUP CREATECONSUMER (no pending entries) or one XCLAIM per pending entry.
fn write_stream(out: &mut Vec<u8>, key: &[u8], st: &Stream) {
    if st.is_empty() {
        command(out, &[b"XADD", key, b"MAXLEN", b"0", b"0-1", b"x", b"y"]);
    } else {
        for it in st.range(StreamId::MIN, StreamId::MAX, false) {
            header(out, 3 + 2 * it.nfields);
            bulk(out, b"XADD");
            bulk(out, key);
            bulk(out, &it.id.to_bytes());
            for (f, v) in it.pairs() {
                bulk(out, &f.to_bytes());
                bulk(out, &v.to_bytes());
            }
        }
    }
    command(
        out,
        &[
            b"XSETID",
            key,
            &st.last_id.to_bytes(),
            b"ENTRIESADDED",
            itoa::Buffer::new().format(st.entries_added).as_bytes(),
            b"MAXDELETEDID",
            &st.max_deleted.to_bytes(),
        ],
    );
    for (name, g) in &st.groups {
        command(
            out,
            &[
                b"XGROUP",
                b"CREATE",
                key,
                name,
                &g.last_id.to_bytes(),
                b"ENTRIESREAD",
                itoa::Buffer::new().format(g.entries_read).as_bytes(),
            ],
        );
        for (cname, c) in &g.consumers {
            if c.pel.is_empty() {
                command(out, &[b"XGROUP", b"CREATECONSUMER", key, name, cname]);
                continue;
            }
            for id in &c.pel {
                let Some(nack) = g.pel.get(id) else { continue };
                command(
                    out,
                    &[
                        b"XCLAIM",
                        key,
                        name,
                        cname,
                        b"0",
                        &id.to_bytes(),
                        b"TIME",
                        itoa::Buffer::new().format(nack.delivery_time).as_bytes(),
                        b"RETRYCOUNT",
                        itoa::Buffer::new().format(nack.delivery_count).as_bytes(),
                        b"JUSTID",
                        b"FORCE",
                    ],
                );
            }
        }
    }
}

/// `write_entry` for a string given as its parts (the snapshot walk's copies).
pub fn write_str_entry(out: &mut Vec<u8>, key: &[u8], val: &[u8], expire: Option<i64>) {
    command(out, &[b"SET", key, val]);
    if let Some(at) = expire {
        header(out, 3);
        bulk(out, b"PEXPIREAT");
        bulk(out, key);
        bulk_int(out, at);
    }
}

/// What reading one command of a command file gave.
#[derive(Debug)]
pub enum Read {
    Command(Vec<bytes::Bytes>),
    /// An annotation line (`#TS:...`), without its line end.
    Annotation(Vec<u8>),
    Eof,
}

/// Why a command file could not be read on.
#[derive(Debug)]
pub enum ReadError {
    /// The file ends inside a command (a torn tail).
    Truncated,
    /// Not the AOF format.
    Format,
    Io(io::Error),
}

/// Longest annotation or count line Redis reads (`AOF_ANNOTATION_LINE_MAX_LEN`).
const LINE_MAX: usize = 1024;

/// Reads a line of at most `LINE_MAX - 1` bytes as `fgets` does; `None` at end of file.
fn line<R: BufRead>(r: &mut R) -> Result<Option<Vec<u8>>, ReadError> {
    let mut v = Vec::new();
    let mut limited = io::Read::take(&mut *r, (LINE_MAX - 1) as u64);
    let n = limited.read_until(b'\n', &mut v).map_err(ReadError::Io)?;
    if n == 0 {
        return Ok(None);
    }
    Ok(Some(v))
}

/// Reads the next command of a command file (redis `loadSingleAppendOnlyFile`'s loop).
pub fn read_command<R: BufRead>(r: &mut R) -> Result<Read, ReadError> {
    let Some(first) = line(r)? else {
        return Ok(Read::Eof);
    };
    if first[0] == b'#' {
        let text = first.strip_suffix(b"\n").unwrap_or(&first);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        return Ok(Read::Annotation(text.to_vec()));
    }
    if first[0] != b'*' {
        return Err(ReadError::Format);
    }
    if first.len() == 1 {
        return Err(ReadError::Truncated);
    }
    let argc = atoi(&first[1..]);
    if argc < 1 {
        return Err(ReadError::Format);
    }
    let mut argv = Vec::with_capacity((argc as usize).min(1024));
    for _ in 0..argc {
        let Some(len_line) = line(r)? else {
            return Err(ReadError::Truncated);
        };
        if len_line[0] != b'$' {
            return Err(ReadError::Format);
        }
        let len = atoi(&len_line[1..]);
        let len = usize::try_from(len).map_err(|_| ReadError::Format)?;
        // Read as it comes, not allocated up front: a damaged length must not cost its size.
        let mut arg = Vec::new();
        let mut limited = io::Read::take(&mut *r, len as u64);
        let got = io::Read::read_to_end(&mut limited, &mut arg).map_err(ReadError::Io)?;
        if got < len {
            return Err(ReadError::Truncated);
        }
        let mut crlf = [0u8; 2];
        read_exact(r, &mut crlf)?;
        argv.push(bytes::Bytes::from(arg));
    }
    Ok(Read::Command(argv))
}

fn read_exact<R: BufRead>(r: &mut R, buf: &mut [u8]) -> Result<(), ReadError> {
    r.read_exact(buf).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            ReadError::Truncated
        } else {
            ReadError::Io(e)
        }
    })
}

/// C `atoi`/`strtol` on a count line: leading digits (with a sign), 0 when none.
fn atoi(b: &[u8]) -> i64 {
    let (neg, d) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        _ => (false, b),
    };
    let mut v: i64 = 0;
    for &c in d.iter().take_while(|c| c.is_ascii_digit()) {
        v = v.saturating_mul(10).saturating_add(i64::from(c - b'0'));
    }
    if neg {
        -v
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_commands_annotations_and_torn_tails() {
        let text = b"#TS:123\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\nk";
        let mut r = io::BufReader::new(&text[..]);
        assert!(matches!(read_command(&mut r), Ok(Read::Annotation(a)) if a == b"#TS:123"));
        assert!(matches!(read_command(&mut r), Ok(Read::Command(a)) if a.len() == 2));
        assert!(matches!(read_command(&mut r), Err(ReadError::Truncated)));
        let mut bad = io::BufReader::new(&b"!!!\r\n"[..]);
        assert!(matches!(read_command(&mut bad), Err(ReadError::Format)));
        let mut huge = io::BufReader::new(&b"*1\r\n$999999999999999\r\nabc"[..]);
        assert!(matches!(read_command(&mut huge), Err(ReadError::Truncated)));
        let mut empty = io::BufReader::new(&b""[..]);
        assert!(matches!(read_command(&mut empty), Ok(Read::Eof)));
    }

    #[test]
    fn big_collections_split_in_batches_of_64() {
        let l = crate::keyspace::list::List::from_items((0..130).map(|i| i.to_string()));
        let mut out = Vec::new();
        write_entry(&mut out, b"k", &Value::List(l), Some(5));
        let mut r = io::BufReader::new(&out[..]);
        let mut sizes = Vec::new();
        while let Ok(Read::Command(argv)) = read_command(&mut r) {
            sizes.push((String::from_utf8_lossy(&argv[0]).into_owned(), argv.len()));
        }
        assert_eq!(
            sizes,
            [
                ("RPUSH".to_string(), 66),
                ("RPUSH".to_string(), 66),
                ("RPUSH".to_string(), 4),
                ("PEXPIREAT".to_string(), 3)
            ]
        );
    }
}
