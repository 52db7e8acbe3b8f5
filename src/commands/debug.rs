//! DEBUG (behind `enable-debug-command`, as in Redis): DIGEST and DIGEST-VALUE computed exactly
//! as redis `debug.c` does, so Tandem and Redis nodes holding the same data report the same
//! digest; SLEEP, SET-ACTIVE-EXPIRE, RELOAD, POPULATE, OBJECT, CHANGE-REPL-ID and friends.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::args::{is, parse_int};
use super::errors::{self, CmdError};
use super::spec::{Group, Spec, ADMIN, ALL_KEYS, LOADING, NOSCRIPT, STALE};
use super::Ctx;
use crate::keyspace::set::Member;
use crate::keyspace::stream::StreamId;
use crate::keyspace::{Str, Value};
use crate::persistence::save;
use crate::protocol::Reply;

pub const COMMANDS: &[Spec] = &[Spec::new(
    "debug",
    -2,
    ADMIN | NOSCRIPT | LOADING | STALE | ALL_KEYS,
    Group::Server,
    debugCommand,
)];

type Digest = [u8; 20];

fn sha1(data: &[u8]) -> Digest {
    sha1_smol::Sha1::from(data).digest().bytes()
}

/// redis `xorDigest`: digest ^= SHA1(data).
fn xor_digest(digest: &mut Digest, data: &[u8]) {
    let h = sha1(data);
    for (d, x) in digest.iter_mut().zip(h) {
        *d ^= x;
    }
}

/// redis `mixDigest`: xor in SHA1(data), then digest = SHA1(digest).
fn mix_digest(digest: &mut Digest, data: &[u8]) {
    xor_digest(digest, data);
    *digest = sha1(digest);
}

fn type_code(v: &Value) -> u32 {
    match v {
        Value::Str(_) => 0,
        Value::List(_) => 1,
        Value::Set(_) => 2,
        Value::ZSet(_) => 3,
        Value::Hash(_) => 4,
        Value::Stream(_) => 6,
    }
}

/// redis `xorObjectDigest`: the digest of one value (and whether it has an expiry).
pub fn value_digest(digest: &mut Digest, v: &Value, has_expire: bool) {
    mix_digest(digest, &type_code(v).to_be_bytes());
    match v {
        Value::Str(Str::Int(i)) => mix_digest(digest, itoa::Buffer::new().format(*i).as_bytes()),
        Value::Str(s) => mix_digest(digest, s.bytes().unwrap_or_default()),
        Value::List(l) => {
            for item in l.iter() {
                mix_digest(digest, item);
            }
        }
        Value::Set(s) => {
            for m in s.iter() {
                match m {
                    Member::Int(i) => xor_digest(digest, itoa::Buffer::new().format(i).as_bytes()),
                    Member::Bytes(b) => xor_digest(digest, b),
                }
            }
        }
        Value::ZSet(z) => {
            for (member, score) in z.iter() {
                let mut ele = [0u8; 20];
                mix_digest(&mut ele, member);
                mix_digest(&mut ele, crate::util::format_double(score).as_bytes());
                xor_digest(digest, &ele);
            }
        }
        Value::Hash(h) => {
            for (f, val) in h.iter() {
                let mut ele = [0u8; 20];
                mix_digest(&mut ele, f);
                mix_digest(&mut ele, val);
                xor_digest(digest, &ele);
            }
        }
        Value::Stream(s) => {
            for it in s.range(StreamId::MIN, StreamId::MAX, false) {
                let mut id = itoa::Buffer::new().format(it.id.ms).to_owned();
                id.push('.');
                id.push_str(itoa::Buffer::new().format(it.id.seq));
                mix_digest(digest, id.as_bytes());
                for (f, v) in it.pairs() {
                    mix_digest(digest, &f.to_bytes());
                    mix_digest(digest, &v.to_bytes());
                }
            }
        }
    }
    if has_expire {
        xor_digest(digest, b"!!expire!!");
    }
}

fn hex(d: &Digest) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// redis `computeDatasetDigest` over every database (all shards are locked).
fn dataset_digest(cx: &mut Ctx) -> Digest {
    let mut fin = [0u8; 20];
    for db in 0..cx.db.databases() {
        if cx.db.len_in(db) == 0 {
            continue;
        }
        mix_digest(&mut fin, &(db as u32).to_be_bytes());
        for shard in cx.db.locked.shards_mut() {
            let t = &shard.tables[db];
            for (k, e, expire) in t.iter_full() {
                let mut d = [0u8; 20];
                mix_digest(&mut d, k);
                value_digest(&mut d, &e.value, expire.is_some());
                xor_digest(&mut fin, &d);
            }
        }
    }
    fin
}

/// Whether the client connects from this machine (redis `islocalClient`), for the `local`
/// value of `enable-debug-command` and `enable-module-command`.
pub fn client_is_local(cx: &Ctx) -> bool {
    let addr = &cx.client.shared.addr;
    let ip = addr.rsplit_once(':').map_or(addr.as_str(), |(ip, _)| ip);
    // A unix socket client's address is its path (`/path:0`).
    ip == "127.0.0.1" || ip == "::1" || ip.starts_with('/') || cx.client.shared.fd < 0
}

/// DEBUG. Named as Redis's handler: a stack trace taken while it runs (the watchdog's report
/// during a DEBUG SLEEP, a crash report after DEBUG SEGFAULT) shows the frame under the name
/// that people and tools look for in Redis's logs.
#[allow(non_snake_case)]
#[inline(never)]
fn debugCommand(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let local = client_is_local(cx);
    if !cx.server.config.read().debug_command_allowed(local) {
        return Err(CmdError::err("DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server."));
    }
    let sub = String::from_utf8_lossy(&cx.argv[1]).to_ascii_lowercase();
    let argc = cx.argv.len();
    if let Some(reply) = super::debug_tools::run(cx, &sub) {
        return reply;
    }
    match (sub.as_str(), argc) {
        ("digest", 2) => Ok(Reply::Status(hex(&dataset_digest(cx)).into())),
        ("digest-value", _) => {
            let mut out = Vec::new();
            for key in &cx.argv[2..] {
                let mut d = [0u8; 20];
                let has_expire = cx.db.expire_at(key).is_some();
                if let Some(v) = cx.db.get_no_touch(key) {
                    value_digest(&mut d, v, has_expire);
                }
                out.push(Reply::Status(hex(&d).into()));
            }
            Ok(Reply::Array(out))
        }
        ("sleep", 3) => {
            let secs = crate::util::parse_f64(&cx.argv[2]).ok_or(errors::NOT_FLOAT)?;
            cx.server
                .freeze
                .hold(crate::server::freeze::sleep_duration(secs));
            Ok(Reply::OK)
        }
        ("pause-cron", 3) => {
            let on = parse_int(&cx.argv[2])? != 0;
            cx.server.cron_paused.store(on, Ordering::Relaxed);
            Ok(Reply::OK)
        }
        ("set-active-expire", 3) => {
            let on = parse_int(&cx.argv[2])? != 0;
            cx.server.active_expire_enabled.store(on, Ordering::Relaxed);
            Ok(Reply::OK)
        }
        ("log", 3) => {
            tracing::warn!("DEBUG LOG: {}", String::from_utf8_lossy(&cx.argv[2]));
            Ok(Reply::OK)
        }
        ("jmap", 2) => Ok(Reply::OK),
        // The argument goes out as an error line, CR and LF turned into spaces. It is written
        // as raw bytes, as redis does, so it counts in neither errorstats nor failed_calls.
        ("error", 3) => {
            let mut line = Vec::with_capacity(cx.argv[2].len() + 3);
            line.push(b'-');
            line.extend(cx.argv[2].iter().map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }));
            line.extend_from_slice(b"\r\n");
            Ok(Reply::Raw(line.into()))
        }
        ("quicklist-packed-threshold", 3) => {
            // Lists here keep every element in one kind of node, so only the argument is
            // checked (redis `quicklistisSetPackedThreshold`: at most 4 GB minus 1 MB).
            let sz = std::str::from_utf8(&cx.argv[2])
                .ok()
                .and_then(crate::config::memtoull);
            match sz {
                Some(sz) if sz <= (1u64 << 32) - (1 << 20) => Ok(Reply::OK),
                _ => Err(CmdError::err(
                    "argument must be a memory value bigger than 1 and smaller than 4gb",
                )),
            }
        }
        // Sends a command to the replicas only (a test hook for data divergence).
        ("replicate", n) if n >= 3 => {
            let argv = cx.argv[2..].to_vec();
            cx.propagate_as(argv);
            Ok(Reply::OK)
        }
        ("set-disable-deny-scripts", 3) => {
            let on = crate::util::parse_i64(&cx.argv[2]).unwrap_or(0) != 0;
            cx.server
                .scripting
                .allow_noscript
                .store(on, Ordering::Relaxed);
            Ok(Reply::OK)
        }
        ("set-skip-checksum-validation", 3) => {
            let on = crate::util::parse_i64(&cx.argv[2]).unwrap_or(0) != 0;
            cx.server
                .skip_checksum_validation
                .store(on, Ordering::Relaxed);
            Ok(Reply::OK)
        }
        ("listpack", 3) | ("quicklist", 3 | 4) => {
            let key = cx.argv[2].clone();
            let Some(v) = cx.db.get_no_touch(&key) else { return Err(errors::NO_SUCH_KEY) };
            let (want, what) = if sub == "listpack" {
                ("listpack", "Listpack")
            } else {
                ("quicklist", "Quicklist")
            };
            if v.encoding() != want {
                return Err(CmdError::err(format_args!("Not a {want} encoded object.")));
            }
            Ok(Reply::Status(format!("{what} structure printed on stdout").into()))
        }
        ("change-repl-id", 2) => {
            let mut ids = cx.server.repl.ids.lock();
            ids.replid = crate::server::random_hex(40);
            ids.clear_secondary();
            Ok(Reply::OK)
        }
        ("populate", 3..=5) => populate(cx),
        ("object", 3) => {
            let key = cx.argv[2].clone();
            // Expired keys are described too (redis `objectCommandLookup` ignores expiry).
            let Some(v) = cx.db.peek_in(cx.db.index, &key) else { return Err(errors::NO_SUCH_KEY) };
            let encoding = v.encoding();
            let ql = matches!(v, Value::List(_));
            let mut out = Vec::new();
            crate::persistence::rdb::encode::write_value(&mut out, v, false);
            let mut text = format!(
                "Value at:0x0 refcount:1 encoding:{encoding} serializedlength:{} lru:{} lru_seconds_idle:0",
                out.len(),
                (crate::util::now_ms() / 1000) & ((1 << 24) - 1)
            );
            if ql {
                text.push_str(" ql_nodes:1 ql_avg_node:0.00 ql_listpack_max:-2 ql_compressed:0 ql_uncompressed_size:0");
            }
            Ok(Reply::Status(text.into()))
        }
        ("reload", _) => reload(cx),
        ("aof-flush-sleep", 3) => {
            let us = parse_int(&cx.argv[2])?.max(0) as u64;
            cx.server
                .aof
                .flush_sleep_us
                .store(us, std::sync::atomic::Ordering::Relaxed);
            Ok(Reply::OK)
        }
        ("loadaof", 2) => {
            crate::persistence::aof::load::reload(cx.server, cx.db);
            Ok(Reply::OK)
        }
        ("help", 2) => Ok(Reply::Array(
            [
                "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "DIGEST",
                "    Output a hex signature representing the current DB content.",
                "DIGEST-VALUE <key> [<key> ...]",
                "    Output a hex signature of the values of all the specified keys.",
                "LOG <message>",
                "    Write <message> to the server log.",
                "SLEEP <seconds>",
                "    Stop the server for <seconds>. Decimals allowed.",
                "SET-ACTIVE-EXPIRE <0|1>",
                "    Setting it to 0 disables expiring keys in background when they are not accessed.",
                "POPULATE <count> [<prefix>] [<size>]",
                "    Create <count> string keys named key:<num>.",
                "MALLCTL <key> [<val>]",
                "    Get or set a malloc tuning integer.",
                "MALLCTL-STR <key> [<val>]",
                "    Get or set a malloc tuning string.",
                "OBJECT <key>",
                "    Show low level info about the `key` and associated value.",
                "CHANGE-REPL-ID",
                "    Change the replication IDs of the instance.",
            ]
            .iter()
            .map(|s| Reply::Status((*s).into()))
            .collect(),
        )),
        _ => Err(CmdError::err(format_args!(
            "unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
            String::from_utf8_lossy(&cx.argv[1])
        ))),
    }
}

/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: save the dump file and load it back, holding the
/// whole keyspace meanwhile (this command locks every shard).
fn reload(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let mut opts = save::Reload {
        save: true,
        flush: true,
        merge: false,
    };
    for a in &cx.argv[2..] {
        if is(a, "merge") {
            opts.merge = true;
        } else if is(a, "noflush") {
            opts.flush = false;
        } else if is(a, "nosave") {
            opts.save = false;
        } else {
            return Err(CmdError::err(
                "DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.",
            ));
        }
    }
    let server = cx.server.arc().ok_or_else(|| CmdError::new("ERR"))?;
    match save::reload(&server, &mut cx.db.locked, opts) {
        Ok(()) => Ok(Reply::OK),
        // redis replies `shared.err`: a bare "-ERR".
        Err(save::ReloadError::Save(_)) => Err(CmdError::new("ERR")),
        Err(save::ReloadError::Load(e)) => {
            tracing::warn!("{e}");
            Err(CmdError::err("Error trying to load the RDB dump"))
        }
    }
}

/// DEBUG POPULATE count [prefix] [size]: keys `prefix:N` with values `value:N` (padded or cut to
/// `size`), skipping keys that exist. Not propagated, as in Redis.
fn populate(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let count = parse_int(&cx.argv[2])?;
    if count < 0 {
        return Err(CmdError::err("positive count value required"));
    }
    let prefix = cx
        .argv
        .get(3)
        .cloned()
        .unwrap_or_else(|| Bytes::from_static(b"key"));
    let size = match cx.argv.get(4) {
        Some(s) => Some(parse_int(s)?.max(0) as usize),
        None => None,
    };
    for i in 0..count {
        let mut key = prefix.to_vec();
        key.push(b':');
        key.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
        if cx.db.exists(&key) {
            continue;
        }
        let mut val = format!("value:{i}").into_bytes();
        if let Some(sz) = size {
            val.resize(sz, 0);
        }
        cx.db.set(&key, Value::Str(Str::from_bytes(&val)));
    }
    Ok(Reply::OK)
}
