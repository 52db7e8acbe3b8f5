//! RDB writer: header and aux fields, SELECTDB/RESIZEDB, and one entry at a time, so the
//! snapshot engine can interleave entries captured by writers with its own walk.
//!
//! Collections are written in the plain RDB forms every Redis since 2.x loads (list, set,
//! hash, zset2): Redis re-encodes them on load by its own thresholds, so a Tandem file loads
//! into redis-server with the same contents and encodings.

use super::format::*;
use crate::keyspace::set::Member;
use crate::keyspace::{Str, Value};

pub fn write_len(out: &mut Vec<u8>, len: u64) {
    if len < (1 << 6) {
        out.push(len as u8);
    } else if len < (1 << 14) {
        out.push((LEN_14BIT << 6) | (len >> 8) as u8);
        out.push((len & 0xFF) as u8);
    } else if len <= u64::from(u32::MAX) {
        out.push(LEN_32BIT);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(LEN_64BIT);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// Writes an integer in the smallest integer string encoding, if it fits in 32 bits.
fn write_int_encoded(out: &mut Vec<u8>, v: i64) -> bool {
    if (i64::from(i8::MIN)..=i64::from(i8::MAX)).contains(&v) {
        out.push((LEN_ENCVAL << 6) | ENC_INT8);
        out.push(v as i8 as u8);
    } else if (i64::from(i16::MIN)..=i64::from(i16::MAX)).contains(&v) {
        out.push((LEN_ENCVAL << 6) | ENC_INT16);
        out.extend_from_slice(&(v as i16).to_le_bytes());
    } else if (i64::from(i32::MIN)..=i64::from(i32::MAX)).contains(&v) {
        out.push((LEN_ENCVAL << 6) | ENC_INT32);
        out.extend_from_slice(&(v as i32).to_le_bytes());
    } else {
        return false;
    }
    true
}

/// Writes a string: as an integer when it is one (≤ 11 bytes, canonical), LZF-compressed when
/// `compress` and it saves space (as redis `rdbSaveRawString`), else raw.
pub fn write_string(out: &mut Vec<u8>, s: &[u8], compress: bool) {
    if s.len() <= 11 {
        if let Some(v) = crate::util::parse_i64(s) {
            if write_int_encoded(out, v) {
                return;
            }
        }
    }
    if compress && s.len() > 20 {
        if let Some(c) = super::lzf::compress(s, s.len() - 4) {
            {
                out.push((LEN_ENCVAL << 6) | ENC_LZF);
                write_len(out, c.len() as u64);
                write_len(out, s.len() as u64);
                out.extend_from_slice(&c);
                return;
            }
        }
    }
    write_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

fn write_str_value(out: &mut Vec<u8>, s: &Str, compress: bool) {
    match s {
        Str::Int(i) => {
            if !write_int_encoded(out, *i) {
                let mut b = itoa::Buffer::new();
                write_string(out, b.format(*i).as_bytes(), compress);
            }
        }
        s => write_string(out, s.bytes().unwrap_or_default(), compress),
    }
}

/// Largest listpack of one quicklist node (`list-max-listpack-size -2`).
const LIST_NODE_BYTES: usize = 8192;

/// Writes a value's type byte and body. Small encodings are written in Redis's packed forms
/// (listpack, intset, quicklist of listpacks) exactly as Redis 7.0 writes them; large ones in
/// the plain forms (set, hash, zset2), which Redis loads and re-encodes by its thresholds.
pub fn write_typed_value(out: &mut Vec<u8>, v: &Value, compress: bool) {
    match v {
        Value::Str(s) => {
            out.push(TYPE_STRING);
            write_str_value(out, s, compress);
        }
        Value::List(l) => {
            out.push(TYPE_LIST_QUICKLIST_2);
            // Nodes of at most LIST_NODE_BYTES of listpack each.
            let mut nodes: Vec<Vec<u8>> = Vec::new();
            let mut current: Vec<&[u8]> = Vec::new();
            let mut size = 7usize;
            for item in l.iter() {
                let cost = item.len() + 11;
                if !current.is_empty() && size + cost > LIST_NODE_BYTES {
                    nodes.push(super::pack::listpack(current.drain(..)));
                    size = 7;
                }
                size += cost;
                current.push(item);
            }
            if !current.is_empty() {
                nodes.push(super::pack::listpack(current));
            }
            write_len(out, nodes.len() as u64);
            for n in nodes {
                write_len(out, 2);
                write_string(out, &n, compress);
            }
        }
        Value::Set(set) if set.encoding() == "intset" => {
            out.push(TYPE_SET_INTSET);
            let values: Vec<i64> = set
                .iter()
                .filter_map(|m| {
                    if let Member::Int(i) = m {
                        Some(i)
                    } else {
                        None
                    }
                })
                .collect();
            write_string(out, &super::pack::intset(&values), compress);
        }
        Value::Hash(h) if h.encoding() == "listpack" => {
            out.push(TYPE_HASH_LISTPACK);
            let lp = super::pack::listpack(h.iter().flat_map(|(f, v)| [f, v]));
            write_string(out, &lp, compress);
        }
        Value::ZSet(z) if z.is_listpack() => {
            out.push(TYPE_ZSET_LISTPACK);
            let items: Vec<(Vec<u8>, String)> = z
                .iter()
                .map(|(m, s)| (m.to_vec(), super::pack::score_text(s)))
                .collect();
            let lp = super::pack::listpack(items.iter().flat_map(|(m, s)| [&m[..], s.as_bytes()]));
            write_string(out, &lp, compress);
        }
        _ => {
            out.push(type_byte(v));
            write_value(out, v, compress);
        }
    }
}

/// The RDB type byte of the plain form of a value.
pub fn type_byte(v: &Value) -> u8 {
    match v {
        Value::Str(_) => TYPE_STRING,
        Value::List(_) => TYPE_LIST,
        Value::Set(_) => TYPE_SET,
        Value::Hash(_) => TYPE_HASH,
        Value::ZSet(_) => TYPE_ZSET_2,
        Value::Stream(_) => TYPE_STREAM_LISTPACKS_2,
    }
}

/// Writes a value's body in its plain form (after the type byte and key).
pub fn write_value(out: &mut Vec<u8>, v: &Value, compress: bool) {
    match v {
        Value::Str(s) => write_str_value(out, s, compress),
        Value::List(l) => {
            write_len(out, l.len() as u64);
            for item in l.iter() {
                write_string(out, item, compress);
            }
        }
        Value::Set(s) => {
            write_len(out, s.len() as u64);
            for m in s.iter() {
                match m {
                    Member::Int(i) => {
                        if !write_int_encoded(out, i) {
                            write_string(out, itoa::Buffer::new().format(i).as_bytes(), compress);
                        }
                    }
                    Member::Bytes(b) => write_string(out, b, compress),
                }
            }
        }
        Value::Hash(h) => {
            write_len(out, h.len() as u64);
            for (f, val) in h.iter() {
                write_string(out, f, compress);
                write_string(out, val, compress);
            }
        }
        Value::ZSet(z) => {
            write_len(out, z.len() as u64);
            // Redis writes zset2 from the highest score down so loading appends at the head.
            for (member, score) in z.iter_desc() {
                write_string(out, member, compress);
                out.extend_from_slice(&score.to_le_bytes());
            }
        }
        Value::Stream(st) => super::stream::write(out, st, compress),
    }
}

/// Writes one key: optional expiry, type, key, value.
pub fn write_entry(
    out: &mut Vec<u8>,
    key: &[u8],
    v: &Value,
    expire_ms: Option<i64>,
    compress: bool,
) {
    if let Value::Str(s) = v {
        let view = match s {
            Str::Int(i) => StrView::Int(*i),
            s => StrView::Bytes(s.bytes().unwrap_or_default()),
        };
        return write_str_entry(out, key, view, expire_ms, compress);
    }
    write_expire(out, expire_ms);
    let mut body = Vec::new();
    write_typed_value(&mut body, v, compress);
    out.push(body[0]);
    write_string(out, key, compress);
    out.extend_from_slice(&body[1..]);
}

/// A string value without its `Str` (the snapshot walk copies string bytes out of the shard).
#[derive(Debug, Clone, Copy)]
pub enum StrView<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

/// `write_entry` for a string value.
pub fn write_str_entry(
    out: &mut Vec<u8>,
    key: &[u8],
    s: StrView<'_>,
    expire_ms: Option<i64>,
    compress: bool,
) {
    write_expire(out, expire_ms);
    out.push(TYPE_STRING);
    write_string(out, key, compress);
    match s {
        StrView::Int(i) => write_str_value(out, &Str::Int(i), compress),
        StrView::Bytes(b) => write_string(out, b, compress),
    }
}

fn write_expire(out: &mut Vec<u8>, expire_ms: Option<i64>) {
    if let Some(ms) = expire_ms {
        out.push(OPCODE_EXPIRETIME_MS);
        out.extend_from_slice(&ms.to_le_bytes());
    }
}

pub fn write_aux(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    out.push(OPCODE_AUX);
    write_string(out, key.as_bytes(), false);
    write_string(out, value, false);
}

/// Fields of the header Redis writes, in its order.
#[derive(Debug, Clone)]
pub struct Aux {
    pub ctime: i64,
    pub used_mem: u64,
    pub repl_stream_db: i64,
    pub repl_id: String,
    pub repl_offset: i64,
}

pub fn write_header(out: &mut Vec<u8>, aux: &Aux) {
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(format!("{VERSION:04}").as_bytes());
    write_aux(out, "redis-ver", crate::server::REDIS_VERSION.as_bytes());
    write_aux(out, "redis-bits", b"64");
    write_aux(out, "ctime", aux.ctime.to_string().as_bytes());
    write_aux(out, "used-mem", aux.used_mem.to_string().as_bytes());
    write_aux(
        out,
        "repl-stream-db",
        aux.repl_stream_db.to_string().as_bytes(),
    );
    write_aux(out, "repl-id", aux.repl_id.as_bytes());
    write_aux(out, "repl-offset", aux.repl_offset.to_string().as_bytes());
    write_aux(out, "aof-base", b"0");
}

pub fn write_select_db(out: &mut Vec<u8>, db: usize) {
    out.push(OPCODE_SELECTDB);
    write_len(out, db as u64);
}

pub fn write_resize_db(out: &mut Vec<u8>, size: u64, expires: u64) {
    out.push(OPCODE_RESIZEDB);
    write_len(out, size);
    write_len(out, expires);
}

/// The DUMP payload of a value: type, value, RDB version (2 bytes LE), CRC64 (8 bytes LE).
pub fn dump_payload(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_typed_value(&mut out, v, true);
    out.extend_from_slice(&(VERSION as u16).to_le_bytes());
    let crc = CRC64.checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The FUNCTION DUMP payload: each library's code as a FUNCTION2 record, then the RDB
/// version and CRC64 as in a DUMP payload.
pub fn functions_payload(codes: &[bytes::Bytes]) -> Vec<u8> {
    let mut out = Vec::new();
    write_functions(&mut out, codes);
    out.extend_from_slice(&(VERSION as u16).to_le_bytes());
    let crc = CRC64.checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Function libraries as RDB records (redis `rdbSaveFunctions`).
pub fn write_functions(out: &mut Vec<u8>, codes: &[bytes::Bytes]) {
    for code in codes {
        out.push(OPCODE_FUNCTION2);
        write_string(out, code, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        let mut v = Vec::new();
        write_len(&mut v, 10);
        write_len(&mut v, 700);
        write_len(&mut v, 70000);
        assert_eq!(v, vec![10, 0x42, 0xBC, 0x80, 0, 1, 0x11, 0x70]);
    }

    #[test]
    fn strings_int_and_lzf() {
        let mut v = Vec::new();
        write_string(&mut v, b"12", true);
        assert_eq!(v, vec![0xC0, 12]);
        let mut v = Vec::new();
        write_string(&mut v, b"012", true);
        assert_eq!(v, vec![3, b'0', b'1', b'2']);
        let mut v = Vec::new();
        write_string(&mut v, &[b'a'; 100], true);
        assert_eq!(v[0], 0xC3);
    }

    #[test]
    fn dump_of_a_string_matches_redis() {
        // redis-cli DUMP of "bar" on redis-server 7.0.15.
        let v = Value::Str(Str::from_bytes(b"bar"));
        assert_eq!(
            dump_payload(&v),
            b"\x00\x03bar\n\x00\xe6\xbeI`\xeef\xfd\x17".to_vec()
        );
    }
}
