//! DUMP and RESTORE: the payload is Redis's (RDB value encoding, RDB version, CRC64), so
//! payloads move between Tandem and Redis in both directions.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::args::{is, parse_int};
use super::errors::{self, CmdError};
use super::spec::{Group, Spec, DENYOOM, READONLY, WRITE};
use super::Ctx;
use crate::keyspace::Value;
use crate::persistence::rdb::{decode, encode};
use crate::protocol::Reply;

pub const COMMANDS: &[Spec] = &[
    Spec::new("dump", 2, READONLY, Group::Generic, dump).keys(1, 1, 1),
    Spec::new("restore", -4, WRITE | DENYOOM, Group::Generic, restore).keys(1, 1, 1),
    // A cluster node's RESTORE during a slot migration; standalone, plain RESTORE.
    Spec::new(
        "restore-asking",
        -4,
        WRITE | DENYOOM,
        Group::Server,
        restore,
    )
    .keys(1, 1, 1),
];

fn dump(cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(match cx.db.get(&cx.argv[1]) {
        Some(v) => Reply::Bulk(Bytes::from(encode::dump_payload(v))),
        None => Reply::Nil,
    })
}

/// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f], checked in redis
/// `restoreCommand`'s order: options, BUSYKEY, TTL, payload footer (version and CRC64, unless
/// DEBUG SET-SKIP-CHECKSUM-VALIDATION), then the value, validated entry by entry.
fn restore(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq): (Option<u64>, Option<u8>) = (None, None);
    let mut i = 4;
    while i < argv.len() {
        let more = argv.len() - i - 1;
        if is(&argv[i], "replace") {
            replace = true;
        } else if is(&argv[i], "absttl") {
            absttl = true;
        } else if is(&argv[i], "idletime") && more >= 1 && freq.is_none() {
            let v = parse_int(&argv[i + 1])?;
            if v < 0 {
                return Err(CmdError::err("Invalid IDLETIME value, must be >= 0"));
            }
            idle = Some(v as u64);
            i += 1;
        } else if is(&argv[i], "freq") && more >= 1 && idle.is_none() {
            let v = parse_int(&argv[i + 1])?;
            let Ok(f) = u8::try_from(v) else {
                return Err(CmdError::err("Invalid FREQ value, must be >= 0 and <= 255"));
            };
            freq = Some(f);
            i += 1;
        } else {
            return Err(errors::SYNTAX);
        }
        i += 1;
    }
    let key = &argv[1];
    if !replace && cx.db.exists(key) {
        return Err(CmdError::fixed("BUSYKEY Target key name already exists."));
    }
    let mut ttl = parse_int(&argv[2])?;
    if ttl < 0 {
        return Err(CmdError::err("Invalid TTL value, must be >= 0"));
    }
    let payload = &argv[3];
    let check_crc = !cx.server.skip_checksum_validation.load(Ordering::Relaxed);
    let (type_byte, _) = decode::verify_dump_payload(payload, check_crc)
        .map_err(|_| CmdError::err("DUMP payload version or checksum are wrong"))?;
    let bad_format = |e: &dyn std::fmt::Display| {
        // Redis logs why a payload was refused at verbose level (`rdbReportError` in a
        // RESTORE context) and replies with the same short error whatever the reason.
        tracing::debug!("{e}");
        CmdError::err("Bad data format")
    };
    // Like redis, the value is read from the payload as a whole: it may not end where the
    // footer starts (trailing bytes are ignored).
    let loaded = decode::load_value(type_byte, &payload[1..]).map_err(|e| bad_format(&e))?;
    let limits = cx.db.limits();
    let value: Value =
        crate::persistence::load::to_value(loaded, &limits).map_err(|e| bad_format(&e))?;
    let existed = replace && cx.db.remove(key).is_some();
    if ttl > 0 && !absttl {
        ttl = ttl.saturating_add(cx.db.now_ms);
    }
    if ttl > 0 && ttl <= cx.db.now_ms {
        // Already expired: the key is gone (a replaced key is deleted for good).
        if existed {
            cx.propagate_as(vec![Bytes::from_static(b"DEL"), key.clone()]);
        }
        return Ok(Reply::OK);
    }
    cx.db.set(key, value);
    if ttl > 0 {
        cx.db.set_expire(key, ttl);
    }
    if let Some(lru) = cx.db.access.restored(freq, idle, cx.db.now_ms) {
        cx.db.set_entry_clock(key, lru);
    }
    if ttl > 0 && !absttl {
        // A relative TTL goes out as the absolute time it became (redis `restoreCommand`).
        let mut argv = cx.argv.to_vec();
        argv[2] = Bytes::from(ttl.to_string());
        argv.push(Bytes::from_static(b"ABSTTL"));
        cx.propagate_as(argv);
    } else {
        cx.propagate();
    }
    Ok(Reply::OK)
}
