//! Geo commands (redis `geo.c`): positions are sorted-set scores holding a 52-bit geohash
//! (`hash.rs`). GEOADD is ZADD with the scores computed (it propagates as that ZADD, as redis
//! rewrites its argv); GEOPOS, GEOHASH and GEODIST decode scores; the radius and box searches
//! are in `search.rs`.
//!
//! Coordinates are replied as redis's `addReplyHumanLongDouble` does (`%.17Lf` trimmed: a bulk
//! string in RESP2, a double in RESP3), distances with 4 decimals (`fixedpoint_d2string`).

pub mod hash;
mod search;
mod sort;

use bytes::Bytes;

use super::access::get_zset;
use super::args::is;
use super::errors::{self, CmdError};
use super::longdouble::{to_human, Ld};
use super::spec::{Group, Spec, DENYOOM, READONLY, WRITE};
use super::Ctx;
use crate::protocol::encode::Resp;
use crate::protocol::Reply;
pub use search::store_key;
use search::{
    georadius, georadius_keys, georadius_ro, georadiusbymember, georadiusbymember_ro, geosearch,
    geosearchstore,
};

pub const COMMANDS: &[Spec] = &[
    Spec::new("geoadd", -5, WRITE | DENYOOM, Group::Geo, geoadd).keys(1, 1, 1),
    Spec::new("geodist", -4, READONLY, Group::Geo, geodist).keys(1, 1, 1),
    Spec::new("geohash", -2, READONLY, Group::Geo, geohash).keys(1, 1, 1),
    Spec::new("geopos", -2, READONLY, Group::Geo, geopos).keys(1, 1, 1),
    Spec::new("georadius", -6, WRITE | DENYOOM, Group::Geo, georadius).keys_with(
        1,
        1,
        1,
        georadius_keys,
    ),
    Spec::new("georadius_ro", -6, READONLY, Group::Geo, georadius_ro).keys(1, 1, 1),
    Spec::new(
        "georadiusbymember",
        -5,
        WRITE | DENYOOM,
        Group::Geo,
        georadiusbymember,
    )
    .keys_with(1, 1, 1, georadius_keys),
    Spec::new(
        "georadiusbymember_ro",
        -5,
        READONLY,
        Group::Geo,
        georadiusbymember_ro,
    )
    .keys(1, 1, 1),
    Spec::new("geosearch", -7, READONLY, Group::Geo, geosearch).keys(1, 1, 1),
    Spec::new(
        "geosearchstore",
        -8,
        WRITE | DENYOOM,
        Group::Geo,
        geosearchstore,
    )
    .keys(1, 2, 1),
];

const UNIT: CmdError = CmdError::fixed("ERR unsupported unit provided. please use M, KM, FT, MI");

/// Meters per unit (redis `extractUnitOrReply`).
fn unit(arg: &[u8]) -> Result<f64, CmdError> {
    match arg {
        a if is(a, "m") => Ok(1.0),
        a if is(a, "km") => Ok(1000.0),
        a if is(a, "ft") => Ok(0.3048),
        a if is(a, "mi") => Ok(1609.34),
        _ => Err(UNIT),
    }
}

/// A double argument as redis `getDoubleFromObjectOrReply` reads it (strtod, as ZADD's
/// scores), with `err` when it is not one.
fn double(arg: &[u8], err: CmdError) -> Result<f64, CmdError> {
    super::zsets::parse_score(arg).ok_or(err)
}

/// A longitude and latitude argument pair, within the geohash limits
/// (redis `extractLongLatOrReply`).
fn lon_lat(lon: &[u8], lat: &[u8]) -> Result<[f64; 2], CmdError> {
    let xy = [
        double(lon, errors::NOT_FLOAT)?,
        double(lat, errors::NOT_FLOAT)?,
    ];
    if !(hash::LON_MIN..=hash::LON_MAX).contains(&xy[0])
        || !(hash::LAT_MIN..=hash::LAT_MAX).contains(&xy[1])
    {
        return Err(CmdError::err(format_args!(
            "invalid longitude,latitude pair {:.6},{:.6}",
            xy[0], xy[1]
        )));
    }
    Ok(xy)
}

/// A distance with 4 decimals (redis `addReplyDoubleDistance`): llrint of d * 10^4 as a fixed
/// point number.
fn distance_reply(d: f64) -> Reply {
    let v = (d * 10000.0).round_ties_even();
    let (neg, v) = (v < 0.0, v.abs() as u64);
    let text = format!(
        "{}{}.{:04}",
        if neg { "-" } else { "" },
        v / 10000,
        v % 10000
    );
    Reply::Bulk(Bytes::from(text))
}

/// A coordinate as redis `addReplyHumanLongDouble`.
fn coord_reply(cx: &Ctx, x: f64) -> Reply {
    let bits = x.to_bits();
    let (e, frac) = ((bits >> 52) & 0x7ff, bits & ((1 << 52) - 1));
    let ld = Ld::Finite {
        neg: bits >> 63 == 1,
        mant: if e == 0 { frac } else { frac | (1 << 52) },
        exp: if e == 0 { -1074 } else { e as i64 - 1075 },
    };
    let text = to_human(ld);
    if cx.client.resp == Resp::V3 {
        Reply::Raw(Bytes::from(format!(",{text}\r\n")))
    } else {
        Reply::Bulk(Bytes::from(text))
    }
}

fn position_reply(cx: &Ctx, xy: [f64; 2]) -> Reply {
    Reply::Array(vec![coord_reply(cx, xy[0]), coord_reply(cx, xy[1])])
}

/// GEOADD key [NX|XX] [CH] longitude latitude member [...]: runs as ZADD key [options]
/// score member ..., and propagates as that ZADD.
fn geoadd(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let (mut nx, mut xx) = (false, false);
    let mut first = 2;
    while let Some(opt) = argv.get(first) {
        if is(opt, "nx") {
            nx = true;
        } else if is(opt, "xx") {
            xx = true;
        } else if !is(opt, "ch") {
            break;
        }
        first += 1;
    }
    if (argv.len() - first) % 3 != 0 || (nx && xx) {
        return Err(errors::SYNTAX);
    }
    let mut zadd_argv = Vec::with_capacity(first + (argv.len() - first) / 3 * 2);
    zadd_argv.push(Bytes::from_static(b"zadd"));
    zadd_argv.extend_from_slice(&argv[1..first]);
    for t in argv[first..].chunks_exact(3) {
        let [lon, lat] = lon_lat(&t[0], &t[1])?;
        let score = hash::score_of(lon, lat).unwrap_or(0);
        zadd_argv.push(Bytes::from(score.to_string()));
        zadd_argv.push(t[2].clone());
    }
    let mut zadd = Ctx {
        argv: &zadd_argv,
        db: &mut *cx.db,
        client: &mut *cx.client,
        server: cx.server,
    };
    super::zsets::zadd(&mut zadd)
}

/// GEOPOS key [member ...]: each member's position, or a null array.
fn geopos(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let scores = member_scores(cx)?;
    Ok(Reply::Array(
        scores
            .into_iter()
            .map(|s| match s {
                Some(s) => position_reply(cx, hash::position_of(s)),
                None => Reply::NilArray,
            })
            .collect(),
    ))
}

/// GEOHASH key [member ...]: each member's standard 11-character geohash, or a null.
fn geohash(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let scores = member_scores(cx)?;
    Ok(Reply::Array(
        scores
            .into_iter()
            .map(|s| match s {
                Some(s) => Reply::Bulk(Bytes::from(hash::standard_hash(s))),
                None => Reply::Nil,
            })
            .collect(),
    ))
}

/// The scores of argv[2..] in the sorted set at argv[1] (all None when it is missing).
fn member_scores(cx: &mut Ctx) -> Result<Vec<Option<f64>>, CmdError> {
    let members = &cx.argv[2..];
    Ok(match get_zset(cx.db, &cx.argv[1])? {
        Some(z) => members.iter().map(|m| z.score(m)).collect(),
        None => vec![None; members.len()],
    })
}

/// GEODIST key member1 member2 [unit].
fn geodist(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let to_meters = match argv.len() {
        4 => 1.0,
        5 => unit(&argv[4])?,
        _ => return Err(errors::SYNTAX),
    };
    let Some(z) = get_zset(cx.db, &argv[1])? else {
        return Ok(Reply::Nil);
    };
    let (Some(s1), Some(s2)) = (z.score(&argv[2]), z.score(&argv[3])) else {
        return Ok(Reply::Nil);
    };
    let [x1, y1] = hash::position_of(s1);
    let [x2, y2] = hash::position_of(s2);
    Ok(distance_reply(hash::distance(x1, y1, x2, y2) / to_meters))
}
