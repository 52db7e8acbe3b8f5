//! Streams in RDB files and DUMP payloads (redis `rdb.c`, types 15 and 19):
//!
//! ```text
//! <len nodes> { <string master ID, 16 bytes BE> <string listpack> }
//! <len length> <len last ms> <len last seq>
//! type 19 only: <len first ms> <len first seq> <len max-deleted ms> <len max-deleted seq>
//!               <len entries-added>
//! <len groups> { <string name> <len last ms> <len last seq> [type 19: <len entries-read>]
//!                <len pel> { <16-byte ID> <8-byte LE delivery time> <len count> }
//!                <len consumers> { <string name> <8-byte LE seen time>
//!                                  <len pel> { <16-byte ID> } } }
//! ```
//! Nodes are the keyspace's own listpacks, written and read as they are; a loaded node is
//! validated as Redis's deep sanitization does (`streamValidateListpackIntegrity`).

use std::io::Read;
use std::sync::Arc;

use super::decode::{corrupt, RdbError, Reader};
use super::encode::{write_len, write_string};
use super::format::TYPE_STREAM_LISTPACKS_2;
use crate::keyspace::stream::{node, ConsumerName, Group, Nack, Stream, StreamId, INVALID_READ};

/// Writes a stream's body (type 19, after the type byte and key).
pub fn write(out: &mut Vec<u8>, s: &Stream, compress: bool) {
    write_len(out, s.node_count() as u64);
    for (master, lp) in s.nodes() {
        write_string(out, &master.encode(), compress);
        write_string(out, lp, compress);
    }
    write_len(out, s.length);
    for id in [s.last_id, s.first_id, s.max_deleted] {
        write_len(out, id.ms);
        write_len(out, id.seq);
    }
    write_len(out, s.entries_added);
    write_len(out, s.groups.len() as u64);
    for (name, g) in &s.groups {
        write_string(out, name, compress);
        write_len(out, g.last_id.ms);
        write_len(out, g.last_id.seq);
        // Redis writes the counter as an unsigned length: -1 becomes 2^64 - 1.
        write_len(out, g.entries_read as u64);
        write_len(out, g.pel.len() as u64);
        for (id, nack) in &g.pel {
            out.extend_from_slice(&id.encode());
            out.extend_from_slice(&nack.delivery_time.to_le_bytes());
            write_len(out, nack.delivery_count);
        }
        write_len(out, g.consumers.len() as u64);
        for (cname, c) in &g.consumers {
            write_string(out, cname, compress);
            out.extend_from_slice(&c.seen_time.to_le_bytes());
            write_len(out, c.pel.len() as u64);
            for id in &c.pel {
                out.extend_from_slice(&id.encode());
            }
        }
    }
}

fn raw_id<R: Read>(r: &mut Reader<R>) -> Result<StreamId, RdbError> {
    let b: [u8; 16] = r.array()?;
    Ok(StreamId::decode(&b).unwrap_or_default())
}

fn len_id<R: Read>(r: &mut Reader<R>) -> Result<StreamId, RdbError> {
    let ms = r.count()?;
    Ok(StreamId::new(ms, r.count()?))
}

/// Reads a stream of type 15 or 19.
pub(super) fn read<R: Read>(r: &mut Reader<R>, t: u8) -> Result<Stream, RdbError> {
    let v2 = t == TYPE_STREAM_LISTPACKS_2;
    let mut s = Stream::default();
    let nodes = r.count()?;
    for _ in 0..nodes {
        let at = r.offset;
        let key = r.string()?;
        let Some(master) = (key.len() == 16).then(|| StreamId::decode(&key)).flatten() else {
            return corrupt(at, "Stream node key entry is not the size of a stream ID");
        };
        let at = r.offset;
        let lp = r.string()?;
        if super::listpack::entries_any_count(&lp).is_err() || !node::valid(&lp) {
            return corrupt(at, "Stream listpack integrity check failed.");
        }
        if crate::keyspace::stream::lp::first(&lp).is_none() {
            return corrupt(at, "Empty listpack inside stream");
        }
        if !s.insert_node(master, lp) {
            return corrupt(at, "Listpack re-added with existing key");
        }
    }
    let at = r.offset;
    s.length = r.count()?;
    s.last_id = len_id(r)?;
    if v2 {
        s.first_id = len_id(r)?;
        s.max_deleted = len_id(r)?;
        s.entries_added = r.count()?;
    } else {
        s.entries_added = s.length;
        s.first_id = if s.length == 0 {
            StreamId::MIN
        } else {
            s.edge_id(true, true)
        };
    }
    if s.length != 0 && s.node_count() == 0 {
        return corrupt(at, "Stream length inconsistent with rax entries");
    }
    let groups = r.count()?;
    for _ in 0..groups {
        let at = r.offset;
        let name = bytes::Bytes::from(r.string()?);
        let last_id = len_id(r)?;
        let entries_read = if v2 {
            r.count()? as i64
        } else {
            s.estimate_distance(last_id)
        };
        if s.groups.contains_key(&name) {
            return corrupt(
                at,
                format!(
                    "Duplicated consumer group name {}",
                    String::from_utf8_lossy(&name)
                ),
            );
        }
        let entries_read = if entries_read < INVALID_READ {
            INVALID_READ
        } else {
            entries_read
        };
        let mut g = Group::new(last_id, entries_read);
        // The owner of a NACK until its consumer's PEL names it.
        let orphan: ConsumerName = Default::default();
        let pel = r.count()?;
        for _ in 0..pel {
            let at = r.offset;
            let id = raw_id(r)?;
            let delivery_time = i64::from_le_bytes(r.array()?);
            let delivery_count = r.count()?;
            let nack = Nack {
                delivery_time,
                delivery_count,
                consumer: orphan.clone(),
            };
            if g.pel.insert(id, nack).is_some() {
                return corrupt(
                    at,
                    "Duplicated global PEL entry loading stream consumer group",
                );
            }
        }
        // How many pending entries a consumer has claimed so far.
        let mut owned = 0;
        let consumers = r.count()?;
        for _ in 0..consumers {
            let at = r.offset;
            let cname = bytes::Bytes::from(r.string()?);
            let seen_time = i64::from_le_bytes(r.array()?);
            if !g.create_consumer(&cname, seen_time) {
                return corrupt(at, "Duplicate stream consumer detected.");
            }
            let owner = g
                .consumers
                .get(&cname)
                .map(|c| c.name.clone())
                .unwrap_or_default();
            let n = r.count()?;
            for _ in 0..n {
                let at = r.offset;
                let id = raw_id(r)?;
                let Some(nack) = g.pel.get_mut(&id) else {
                    return corrupt(at, "Consumer entry not found in group global PEL");
                };
                // One owner per pending entry (Debian's 7.0.15 checks it since CVE-2026-66373).
                if !Arc::ptr_eq(&nack.consumer, &orphan) {
                    return corrupt(
                        at,
                        "Stream consumer PEL entry already has a consumer assigned",
                    );
                }
                nack.consumer = owner.clone();
                owned += 1;
                let fresh = g
                    .consumers
                    .get_mut(&cname)
                    .is_some_and(|c| c.pel.insert(id));
                if !fresh {
                    return corrupt(
                        at,
                        "Duplicated consumer PEL entry  loading a stream consumer group",
                    );
                }
            }
        }
        // Every pending entry must have found its owner.
        if owned != g.pel.len() {
            return corrupt(at, "Stream CG PEL entry without consumer");
        }
        s.groups.insert(name, g);
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::stream::NodeLimits;
    use bytes::Bytes;

    const LIMITS: NodeLimits = NodeLimits {
        max_bytes: 4096,
        max_entries: 100,
    };

    #[test]
    fn written_as_redis_writes_it() {
        // The value of `XADD s 1-1 field value` in tests/fixtures/rdb/stream_7_0.rdb.
        let rdb = include_bytes!("../../../tests/fixtures/rdb/stream_7_0.rdb");
        let start = rdb
            .windows(3)
            .position(|w| w == [0x13, 0x01, b's'])
            .unwrap()
            + 3;
        let end = start
            + rdb[start..]
                .windows(8)
                .position(|w| w == b"\x00\x06before")
                .unwrap();
        let mut s = Stream::default();
        let pairs = [Bytes::from_static(b"field"), Bytes::from_static(b"value")];
        s.add(&pairs, Some((StreamId::new(1, 1), true)), 0, LIMITS)
            .unwrap();
        let mut out = Vec::new();
        write(&mut out, &s, false);
        assert_eq!(out, &rdb[start..end]);
        let mut r = Reader::new(&rdb[start..end], false);
        assert_eq!(read(&mut r, TYPE_STREAM_LISTPACKS_2).unwrap(), s);
    }

    #[test]
    fn groups_round_trip() {
        let mut s = Stream::default();
        for i in 1..=250u64 {
            let v = Bytes::from(i.to_string());
            let pairs = [Bytes::from_static(b"f"), v];
            s.add(&pairs, Some((StreamId::new(i, 0), true)), 0, LIMITS)
                .unwrap();
        }
        s.delete_ids(&[StreamId::new(7, 0), StreamId::new(120, 0)]);
        let mut g = Group::new(StreamId::new(10, 0), 10);
        let alice = Bytes::from_static(b"alice");
        g.create_consumer(&alice, 1234);
        g.create_consumer(&Bytes::from_static(b"bob"), 99);
        for i in [3u64, 5, 9] {
            g.assign(StreamId::new(i, 0), &alice, 555).delivery_count = i;
        }
        s.groups.insert(Bytes::from_static(b"g1"), g);
        s.groups.insert(
            Bytes::from_static(b"g0"),
            Group::new(StreamId::MIN, INVALID_READ),
        );
        let mut out = Vec::new();
        write(&mut out, &s, true);
        let mut r = Reader::new(&out[..], false);
        let back = read(&mut r, TYPE_STREAM_LISTPACKS_2).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.len(), 248);
    }

    #[test]
    fn a_pending_entry_has_one_owner() {
        let mut s = Stream::default();
        let pairs = [Bytes::from_static(b"f"), Bytes::from_static(b"v")];
        s.add(&pairs, Some((StreamId::new(1, 1), true)), 0, LIMITS)
            .unwrap();
        let mut g = Group::new(StreamId::new(1, 1), 1);
        let (alice, bob) = (Bytes::from_static(b"alice"), Bytes::from_static(b"bob"));
        g.create_consumer(&alice, 1);
        g.create_consumer(&bob, 2);
        g.assign(StreamId::new(1, 1), &alice, 5);
        // bob lists it too: two consumers for one entry, as a corrupt payload can say
        g.consumers
            .get_mut(&bob)
            .unwrap()
            .pel
            .insert(StreamId::new(1, 1));
        s.groups.insert(Bytes::from_static(b"g"), g);
        let mut out = Vec::new();
        write(&mut out, &s, false);
        let e = read(&mut Reader::new(&out[..], false), TYPE_STREAM_LISTPACKS_2).unwrap_err();
        assert!(
            e.to_string().contains("already has a consumer assigned"),
            "{e}"
        );
    }

    #[test]
    fn corrupt_nodes_are_refused() {
        let mut s = Stream::default();
        let pairs = [Bytes::from_static(b"f"), Bytes::from_static(b"v")];
        s.add(&pairs, None, 5, LIMITS).unwrap();
        let mut out = Vec::new();
        write(&mut out, &s, false);
        for i in 0..out.len() {
            for delta in [1u8, 0x40, 0x80] {
                let mut bad = out.clone();
                bad[i] = bad[i].wrapping_add(delta);
                let mut r = Reader::new(&bad[..], false);
                // Never a panic; either an error or a stream.
                let _ = read(&mut r, TYPE_STREAM_LISTPACKS_2);
            }
        }
    }
}
