//! GEORADIUS, GEORADIUSBYMEMBER (and their _RO forms), GEOSEARCH and GEOSEARCHSTORE: redis
//! `georadiusGeneric`, with its argument order, its errors in the order it finds them, the 3x3
//! cell scan, and its sorting (a stable sort of everything, or redis's partial quicksort when
//! COUNT keeps fewer than were found).

use bytes::Bytes;

use super::hash::{self, Shape, ShapeKind};
use super::{distance_reply, double, lon_lat, position_reply, sort, unit};
use crate::commands::access::get_zset;
use crate::commands::args::{is, parse_int};
use crate::commands::errors::{self, CmdError};
use crate::commands::Ctx;
use crate::keyspace::zset::ZSet;
use crate::keyspace::Value;
use crate::protocol::Reply;

/// Which command runs the search (redis's `RADIUS_*` / `GEOSEARCH*` flags).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Radius { store: bool },
    ByMember { store: bool },
    Search,
    SearchStore,
}

impl Kind {
    fn geosearch(self) -> bool {
        matches!(self, Kind::Search | Kind::SearchStore)
    }

    fn store_allowed(self) -> bool {
        matches!(
            self,
            Kind::Radius { store: true } | Kind::ByMember { store: true }
        )
    }
}

pub(super) fn georadius(cx: &mut Ctx) -> Result<Reply, CmdError> {
    search(cx, Kind::Radius { store: true })
}

pub(super) fn georadius_ro(cx: &mut Ctx) -> Result<Reply, CmdError> {
    search(cx, Kind::Radius { store: false })
}

pub(super) fn georadiusbymember(cx: &mut Ctx) -> Result<Reply, CmdError> {
    search(cx, Kind::ByMember { store: true })
}

pub(super) fn georadiusbymember_ro(cx: &mut Ctx) -> Result<Reply, CmdError> {
    search(cx, Kind::ByMember { store: false })
}

pub(super) fn geosearch(cx: &mut Ctx) -> Result<Reply, CmdError> {
    search(cx, Kind::Search)
}

pub(super) fn geosearchstore(cx: &mut Ctx) -> Result<Reply, CmdError> {
    search(cx, Kind::SearchStore)
}

/// The STORE/STOREDIST key of GEORADIUS[BYMEMBER] (the last one given), as redis
/// `georadiusGetKeys` finds it.
fn store_position(argv: &[Bytes]) -> Option<usize> {
    let mut found = None;
    let mut i = 5;
    while i < argv.len() {
        if (is(&argv[i], "store") || is(&argv[i], "storedist")) && i + 1 < argv.len() {
            found = Some(i + 1);
            i += 1;
        }
        i += 1;
    }
    found
}

/// Key positions of GEORADIUS and GEORADIUSBYMEMBER: the source and the STORE key.
pub(super) fn georadius_keys(argv: &[Bytes]) -> Vec<usize> {
    let mut keys = vec![1];
    keys.extend(store_position(argv));
    keys
}

/// The key a successful search command wrote (for keyspace events), with its event name.
pub fn store_key<'a>(name: &str, argv: &'a [Bytes]) -> Option<(&'a [u8], &'static str)> {
    match name {
        "geosearchstore" => argv.get(1).map(|k| (&k[..], "geosearchstore")),
        "georadius" | "georadiusbymember" => {
            store_position(argv).map(|i| (&argv[i][..], "georadiusstore"))
        }
        _ => None,
    }
}

/// A found point.
pub(super) struct Point {
    member: Bytes,
    xy: [f64; 2],
    dist: f64,
    score: f64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Order {
    None,
    Asc,
    Desc,
}

/// The parsed options of a search.
struct Options {
    shape: Shape,
    with_dist: bool,
    with_hash: bool,
    with_coord: bool,
    order: Order,
    count: i64,
    any: bool,
    store: Option<Bytes>,
    store_dist: bool,
}

fn search(cx: &mut Ctx, kind: Kind) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let src = if kind == Kind::SearchStore {
        &argv[2]
    } else {
        &argv[1]
    };
    let exists = get_zset(cx.db, src)?.is_some();
    let opts = parse(cx, kind, exists)?;
    if !exists {
        if let Some(dst) = &opts.store {
            if cx.db.remove(dst).is_some() {
                cx.propagate();
            }
            return Ok(Reply::Int(0));
        }
        return Ok(Reply::Array(Vec::new()));
    }
    let mut points = Vec::new();
    if let Some(z) = looked_up(cx, src) {
        let limit = if opts.any { opts.count as usize } else { 0 };
        collect(z, &opts.shape, limit, &mut points);
    }
    if points.is_empty() && opts.store.is_none() {
        return Ok(Reply::Array(Vec::new()));
    }
    let mut order = opts.order;
    if opts.count != 0 && order == Order::None && !opts.any {
        order = Order::Asc;
    }
    let returned = if opts.count == 0 || (points.len() as i64) < opts.count {
        points.len()
    } else {
        opts.count as usize
    };
    if order != Order::None {
        let asc = |a: &Point, b: &Point| sort::cmp_f64(a.dist, b.dist);
        let desc = |a: &Point, b: &Point| -sort::cmp_f64(a.dist, b.dist);
        let cmp: &dyn Fn(&Point, &Point) -> i32 = if order == Order::Asc { &asc } else { &desc };
        if returned == points.len() {
            points.sort_by(|a, b| cmp(a, b).cmp(&0));
        } else {
            sort::partial(&mut points, cmp, 0, returned - 1);
        }
    }
    points.truncate(returned);
    let conversion = opts.shape.conversion;
    match opts.store {
        None => Ok(Reply::Array(
            points
                .iter()
                .map(|p| point_reply(cx, &opts, p, conversion))
                .collect(),
        )),
        Some(dst) => {
            if points.is_empty() {
                if cx.db.remove(&dst).is_some() {
                    cx.propagate();
                }
                return Ok(Reply::Int(0));
            }
            let items = points
                .into_iter()
                .map(|p| {
                    let score = if opts.store_dist {
                        p.dist / conversion
                    } else {
                        p.score
                    };
                    (p.member, score)
                })
                .collect();
            let limits = cx.db.limits();
            cx.db
                .set(&dst, Value::ZSet(ZSet::from_sorted(items, &limits)));
            cx.propagate();
            Ok(Reply::Int(returned as i64))
        }
    }
}

fn point_reply(cx: &Ctx, opts: &Options, p: &Point, conversion: f64) -> Reply {
    let member = Reply::Bulk(p.member.clone());
    if !(opts.with_dist || opts.with_hash || opts.with_coord) {
        return member;
    }
    let mut item = vec![member];
    if opts.with_dist {
        item.push(distance_reply(p.dist / conversion));
    }
    if opts.with_hash {
        item.push(Reply::Int(p.score as i64));
    }
    if opts.with_coord {
        item.push(position_reply(cx, p.xy));
    }
    Reply::Array(item)
}

/// The points of the 3x3 cells inside the shape, cell by cell in ascending score; stops once
/// `limit` (when not 0) were found (redis `membersOfAllNeighbors`).
fn collect(z: &ZSet, shape: &Shape, limit: usize, out: &mut Vec<Point>) {
    let cells = hash::cells(shape);
    let mut last: usize = 0;
    for (i, cell) in cells.iter().enumerate() {
        if cell.is_zero() {
            continue;
        }
        if last != 0 && *cell == cells[last] {
            continue;
        }
        if !out.is_empty() && limit != 0 && out.len() >= limit {
            break;
        }
        let min = hash::align52(*cell) as f64;
        let max = hash::align52(hash::Bits {
            bits: cell.bits + 1,
            step: cell.step,
        }) as f64;
        if let Some(start) = z.first_where(|(_, s)| s >= min) {
            for (member, score) in z.iter_from(start, false) {
                if score >= max {
                    break;
                }
                let xy = hash::position_of(score);
                if let Some(dist) = hash::within(shape, xy) {
                    out.push(Point {
                        member: Bytes::copy_from_slice(member),
                        xy,
                        dist,
                        score,
                    });
                }
                if !out.is_empty() && limit != 0 && out.len() >= limit {
                    break;
                }
            }
        }
        last = i;
    }
}

/// A radius and unit (redis `extractDistanceOrReply`).
fn radius(n: &[u8], u: &[u8]) -> Result<(f64, f64), CmdError> {
    let r = double(n, CmdError::fixed("ERR need numeric radius"))?;
    if r < 0.0 {
        return Err(CmdError::fixed("ERR radius cannot be negative"));
    }
    Ok((r, unit(u)?))
}

/// A box's width, height and unit (redis `extractBoxOrReply`).
fn bbox(w: &[u8], h: &[u8], u: &[u8]) -> Result<(f64, f64, f64), CmdError> {
    let w = double(w, CmdError::fixed("ERR need numeric width"))?;
    let h = double(h, CmdError::fixed("ERR need numeric height"))?;
    if h < 0.0 || w < 0.0 {
        return Err(CmdError::fixed("ERR height or width cannot be negative"));
    }
    Ok((w, h, unit(u)?))
}

/// The source sorted set, already looked up (type checked, expired, counted in the stats)
/// by `search`: later reads have no side effects, as redis looks the key up once.
fn looked_up<'d>(cx: &'d Ctx, src: &[u8]) -> Option<&'d ZSet> {
    match cx.db.peek_in(cx.db.index, src) {
        Some(Value::ZSet(z)) => Some(z),
        _ => None,
    }
}

/// The member's position (redis `longLatFromMember`).
fn member_position(cx: &mut Ctx, src: &[u8], member: &[u8]) -> Result<[f64; 2], CmdError> {
    looked_up(cx, src)
        .and_then(|z| z.score(member))
        .map(hash::position_of)
        .ok_or(CmdError::fixed(
            "ERR could not decode requested zset member",
        ))
}

/// Parses the arguments in redis's order; `exists` says whether the source key exists (a
/// missing one skips the member lookups, which would fail).
fn parse(cx: &mut Ctx, kind: Kind, exists: bool) -> Result<Options, CmdError> {
    let argv = cx.argv;
    let mut shape = Shape {
        xy: [0.0, 0.0],
        conversion: 0.0,
        kind: ShapeKind::Radius(0.0),
    };
    let mut store = None;
    let base = match kind {
        Kind::Radius { .. } => {
            shape.xy = lon_lat(&argv[2], &argv[3])?;
            let (r, conv) = radius(&argv[4], &argv[5])?;
            shape.kind = ShapeKind::Radius(r);
            shape.conversion = conv;
            6
        }
        Kind::ByMember { .. } if !exists => 5,
        Kind::ByMember { .. } => {
            shape.xy = member_position(cx, &argv[1], &argv[2])?;
            let (r, conv) = radius(&argv[3], &argv[4])?;
            shape.kind = ShapeKind::Radius(r);
            shape.conversion = conv;
            5
        }
        Kind::Search => 2,
        Kind::SearchStore => {
            store = Some(argv[1].clone());
            3
        }
    };
    let src = if kind == Kind::SearchStore {
        argv[2].clone()
    } else {
        argv[1].clone()
    };
    let mut o = Options {
        shape,
        with_dist: false,
        with_hash: false,
        with_coord: false,
        order: Order::None,
        count: 0,
        any: false,
        store,
        store_dist: false,
    };
    let (mut from_member, mut from_loc, mut by_radius, mut by_box) = (false, false, false, false);
    let rest = &argv[base..];
    let remaining = rest.len();
    let mut i = 0;
    while i < remaining {
        let a = &rest[i];
        let has = |n: usize| i + n < remaining;
        if is(a, "withdist") {
            o.with_dist = true;
        } else if is(a, "withhash") {
            o.with_hash = true;
        } else if is(a, "withcoord") {
            o.with_coord = true;
        } else if is(a, "any") {
            o.any = true;
        } else if is(a, "asc") {
            o.order = Order::Asc;
        } else if is(a, "desc") {
            o.order = Order::Desc;
        } else if is(a, "count") && has(1) {
            o.count = parse_int(&rest[i + 1])?;
            if o.count <= 0 {
                return Err(CmdError::err("COUNT must be > 0"));
            }
            i += 1;
        } else if (is(a, "store") || is(a, "storedist")) && has(1) && kind.store_allowed() {
            o.store = Some(rest[i + 1].clone());
            o.store_dist = is(a, "storedist");
            i += 1;
        } else if is(a, "storedist") && kind == Kind::SearchStore {
            o.store_dist = true;
        } else if is(a, "frommember") && has(1) && kind.geosearch() && !from_loc {
            if exists {
                o.shape.xy = member_position(cx, &src, &rest[i + 1])?;
            }
            from_member = true;
            i += 1;
        } else if is(a, "fromlonlat") && has(2) && kind.geosearch() && !from_member {
            o.shape.xy = lon_lat(&rest[i + 1], &rest[i + 2])?;
            from_loc = true;
            i += 2;
        } else if is(a, "byradius") && has(2) && kind.geosearch() && !by_box {
            let (r, conv) = radius(&rest[i + 1], &rest[i + 2])?;
            o.shape.kind = ShapeKind::Radius(r);
            o.shape.conversion = conv;
            by_radius = true;
            i += 2;
        } else if is(a, "bybox") && has(3) && kind.geosearch() && !by_radius {
            let (w, h, conv) = bbox(&rest[i + 1], &rest[i + 2], &rest[i + 3])?;
            o.shape.kind = ShapeKind::Box {
                width: w,
                height: h,
            };
            o.shape.conversion = conv;
            by_box = true;
            i += 3;
        } else {
            return Err(errors::SYNTAX);
        }
        i += 1;
    }
    if o.store.is_some() && (o.with_dist || o.with_hash || o.with_coord) {
        return Err(CmdError::err(format_args!(
            "{} is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
            if kind == Kind::SearchStore {
                "GEOSEARCHSTORE"
            } else {
                "STORE option in GEORADIUS"
            }
        )));
    }
    let name = String::from_utf8_lossy(&argv[0]);
    if kind.geosearch() && !(from_member || from_loc) {
        return Err(CmdError::err(format_args!(
            "exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        )));
    }
    if kind.geosearch() && !(by_radius || by_box) {
        return Err(CmdError::err(format_args!(
            "exactly one of BYRADIUS and BYBOX can be specified for {name}"
        )));
    }
    if o.any && o.count == 0 {
        return Err(CmdError::err("the ANY argument requires COUNT argument"));
    }
    Ok(o)
}
