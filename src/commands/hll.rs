//! HyperLogLog commands (redis `hyperloglog.c`: PFADD, PFCOUNT, PFMERGE, PFDEBUG, PFSELFTEST).
//!
//! An HLL is a plain string in redis's layout (`repr.rs`), so GET/SET move it between servers.
//! Every command that looks at an HLL through a write lookup leaves the string `raw` (redis
//! `dbUnshareStringValue`), even when nothing changed. PFCOUNT of one key stores the estimate in
//! the header and then propagates itself, as redis counts that as a change; PFDEBUG GETREG and
//! TODENSE propagate when they converted a sparse HLL.

mod repr;

use bytes::Bytes;

use super::errors::{self, CmdError};
use super::spec::{Group, Spec, ADMIN, DENYOOM, FAST, MAY_REPLICATE, READONLY, WRITE};
use super::Ctx;
use crate::keyspace::{Db, Str, Value};
use crate::protocol::Reply;
use repr::{Corrupt, REGISTERS};

pub const COMMANDS: &[Spec] = &[
    Spec::new(
        "pfadd",
        -2,
        WRITE | DENYOOM | FAST,
        Group::Hyperloglog,
        pfadd,
    )
    .keys(1, 1, 1),
    Spec::new(
        "pfcount",
        -2,
        READONLY | MAY_REPLICATE,
        Group::Hyperloglog,
        pfcount,
    )
    .keys(1, -1, 1),
    Spec::new("pfmerge", -2, WRITE | DENYOOM, Group::Hyperloglog, pfmerge).keys(1, -1, 1),
    Spec::new(
        "pfdebug",
        3,
        WRITE | DENYOOM | ADMIN,
        Group::Hyperloglog,
        pfdebug,
    )
    .keys(2, 2, 1),
    Spec::new("pfselftest", 1, ADMIN, Group::Hyperloglog, pfselftest),
];

const INVALID: CmdError = CmdError::fixed("INVALIDOBJ Corrupted HLL object detected");
const NOT_HLL: CmdError = CmdError::fixed("WRONGTYPE Key is not a valid HyperLogLog string value.");

impl From<Corrupt> for CmdError {
    fn from(_: Corrupt) -> CmdError {
        INVALID
    }
}

fn max_sparse_bytes(cx: &Ctx) -> u64 {
    cx.server.config.read().hll_sparse_max_bytes
}

/// Read lookup with redis `isHLLObjectOrReply`'s checks: the HLL's bytes, None for a missing
/// key.
fn read_hll(db: &mut Db<'_>, key: &[u8]) -> Result<Option<Bytes>, CmdError> {
    match db.get(key) {
        None => Ok(None),
        Some(Value::Str(s)) => match s.bytes() {
            Some(b) if repr::looks_valid(b) => Ok(Some(Bytes::copy_from_slice(b))),
            _ => Err(NOT_HLL),
        },
        Some(_) => Err(errors::WRONGTYPE),
    }
}

/// Write lookup of an existing, valid HLL: runs `f` on its bytes and stores them back `raw`
/// whatever `f` returns (redis changes the string in place, errors included). None for a
/// missing key.
fn update_hll<R>(
    db: &mut Db<'_>,
    key: &[u8],
    f: impl FnOnce(&mut Vec<u8>) -> R,
) -> Result<Option<R>, CmdError> {
    let s = match db.get_mut(key) {
        None => return Ok(None),
        Some(Value::Str(s)) => s,
        Some(_) => return Err(errors::WRONGTYPE),
    };
    if !s.bytes().is_some_and(repr::looks_valid) {
        return Err(NOT_HLL);
    }
    Ok(Some(s.with_raw(f)))
}

/// PFADD key [element ...]: 1 when the key was created or a register changed.
fn pfadd(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let max = max_sparse_bytes(cx);
    let argv = cx.argv;
    let add_all = |v: &mut Vec<u8>| -> Result<bool, Corrupt> {
        let mut updated = false;
        for ele in &argv[2..] {
            updated |= repr::add(v, ele, max)?;
        }
        if updated {
            repr::invalidate(v);
        }
        Ok(updated)
    };
    let updated = match update_hll(cx.db, &argv[1], add_all)? {
        Some(r) => r?,
        None => {
            let mut v = repr::new_sparse();
            add_all(&mut v)?;
            repr::invalidate(&mut v);
            cx.db.set(&argv[1], Value::Str(Str::raw(v)));
            true
        }
    };
    if updated {
        cx.propagate();
    }
    Ok(Reply::Int(i64::from(updated)))
}

/// PFCOUNT key [key ...]: one key answers (and caches) its estimate; several keys answer the
/// estimate of their union without changing them.
fn pfcount(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    if argv.len() > 2 {
        let mut max = Box::new([0u8; REGISTERS]);
        for key in &argv[1..] {
            if let Some(s) = read_hll(cx.db, key)? {
                repr::merge_into(&mut max, &s)?;
            }
        }
        return Ok(Reply::Int(repr::count_raw(&max) as i64));
    }
    if read_hll(cx.db, &argv[1])?.is_none() {
        return Ok(Reply::Int(0));
    }
    let counted = update_hll(cx.db, &argv[1], |v| match repr::cached(v) {
        Some(card) => Ok((card, false)),
        None => {
            let card = repr::count(v)?;
            repr::set_cached(v, card);
            Ok::<_, Corrupt>((card, true))
        }
    })?;
    let Some(r) = counted else {
        return Ok(Reply::Int(0));
    };
    let (card, stored) = r?;
    if stored {
        cx.propagate();
    }
    Ok(Reply::Int(card as i64))
}

/// PFMERGE destkey [sourcekey ...]: the destination (also a source) gets the registers' maxima;
/// it turns dense when any source is dense.
fn pfmerge(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let mut max = Box::new([0u8; REGISTERS]);
    let mut dense = false;
    for key in &argv[1..] {
        if let Some(s) = read_hll(cx.db, key)? {
            dense |= repr::encoding(&s) == repr::DENSE;
            repr::merge_into(&mut max, &s)?;
        }
    }
    let limit = max_sparse_bytes(cx);
    let write = |v: &mut Vec<u8>| -> Result<(), Corrupt> {
        if dense {
            repr::to_dense(v)?;
        }
        for (i, &m) in max.iter().enumerate() {
            if m != 0 {
                // As redis, a register that cannot be set is skipped silently.
                let _ = repr::set_register(v, i, m, limit);
            }
        }
        repr::invalidate(v);
        Ok(())
    };
    match update_hll(cx.db, &argv[1], write)? {
        Some(r) => r?,
        None => {
            let mut v = repr::new_sparse();
            write(&mut v)?;
            cx.db.set(&argv[1], Value::Str(Str::raw(v)));
        }
    }
    cx.propagate();
    Ok(Reply::OK)
}

/// PFDEBUG GETREG|DECODE|ENCODING|TODENSE key.
fn pfdebug(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let sub = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
    let result = update_hll(cx.db, &argv[2], |v| -> Result<(Reply, bool), CmdError> {
        match sub.as_str() {
            "getreg" | "todense" => {
                let converted = repr::encoding(v) == repr::SPARSE;
                repr::to_dense(v)?;
                if sub == "todense" {
                    return Ok((Reply::Int(i64::from(converted)), converted));
                }
                let regs = &v[repr::HDR..];
                let all = (0..REGISTERS)
                    .map(|i| Reply::Int(i64::from(repr::dense_get(regs, i))))
                    .collect();
                Ok((Reply::Array(all), converted))
            }
            "decode" => {
                if repr::encoding(v) != repr::SPARSE {
                    return Err(CmdError::err("HLL encoding is not sparse"));
                }
                Ok((Reply::Bulk(Bytes::from(repr::decode(v))), false))
            }
            "encoding" => {
                let name = if repr::encoding(v) == repr::DENSE {
                    "dense"
                } else {
                    "sparse"
                };
                Ok((Reply::Status(name.into()), false))
            }
            _ => Err(CmdError::err(format_args!(
                "Unknown PFDEBUG subcommand '{}'",
                String::from_utf8_lossy(&argv[1])
            ))),
        }
    })?;
    let Some(result) = result else {
        return Err(CmdError::err("The specified key does not exist"));
    };
    let (reply, changed) = result?;
    if changed {
        cx.propagate();
    }
    Ok(reply)
}

/// PFSELFTEST: redis's self test of the register packing and of the estimate's error, with
/// sparse and dense HLLs fed the same elements.
fn pfselftest(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let max_bytes = max_sparse_bytes(cx);
    let mut regs = vec![0u8; repr::DENSE_SIZE - repr::HDR];
    let mut bytes = vec![0u8; REGISTERS];
    for _ in 0..1000 {
        for (i, b) in bytes.iter_mut().enumerate() {
            let r = rand::random::<u8>() & 63;
            *b = r;
            repr::dense_set(&mut regs, i, r);
        }
        for (i, &b) in bytes.iter().enumerate() {
            let got = repr::dense_get(&regs, i);
            if got != b {
                return Err(CmdError::new(format!(
                    "TESTFAILED Register {i} should be {b} but is {got}"
                )));
            }
        }
    }
    let mut dense = repr::new_sparse();
    repr::to_dense(&mut dense)?;
    let mut hll = repr::new_sparse();
    let relerr = 1.04 / (REGISTERS as f64).sqrt();
    let seed: u64 = rand::random();
    let mut checkpoint: u64 = 1;
    for j in 1..=10_000_000u64 {
        let ele = (j ^ seed).to_le_bytes();
        repr::add(&mut dense, &ele, max_bytes)?;
        repr::add(&mut hll, &ele, max_bytes)?;
        if j != checkpoint {
            continue;
        }
        if j < max_bytes / 2 && repr::encoding(&hll) != repr::SPARSE {
            return Err(CmdError::fixed("TESTFAILED sparse encoding not used"));
        }
        let card = repr::count(&dense)?;
        if card != repr::count(&hll)? {
            return Err(CmdError::fixed("TESTFAILED dense/sparse disagree"));
        }
        let maxerr = if j == 10 {
            1
        } else {
            (relerr * 6.0 * checkpoint as f64).ceil() as u64
        };
        let abserr = checkpoint.abs_diff(card);
        if abserr > maxerr {
            return Err(CmdError::new(format!(
                "TESTFAILED Too big error. card:{checkpoint} abserr:{abserr}"
            )));
        }
        checkpoint *= 10;
    }
    Ok(Reply::OK)
}
