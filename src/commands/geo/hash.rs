//! Redis's geohash (`geohash.c`, `geohash_helper.c`): 26 steps of interleaved latitude (even
//! bits) and longitude (odd bits) over the Web Mercator ranges, stored as a 52-bit sorted-set
//! score; the 3x3 cell search of radius and box queries; the haversine distance. Every float
//! operation is done in the order redis does it, so positions and distances match to the bit.

pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
pub const LON_MIN: f64 = -180.0;
pub const LON_MAX: f64 = 180.0;
pub const STEP_MAX: u8 = 26;

const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;
const D_R: f64 = std::f64::consts::PI / 180.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bits {
    pub bits: u64,
    pub step: u8,
}

impl Bits {
    pub fn is_zero(self) -> bool {
        self.bits == 0 && self.step == 0
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

pub const WGS84: (Range, Range) = (
    Range {
        min: LON_MIN,
        max: LON_MAX,
    },
    Range {
        min: LAT_MIN,
        max: LAT_MAX,
    },
);

#[derive(Debug, Clone, Copy)]
pub struct Area {
    pub lon: Range,
    pub lat: Range,
}

/// The search shape: a circle (radius) or a box (width, height), in `unit`s (meters per unit
/// in `conversion`), around `xy` (longitude, latitude).
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub xy: [f64; 2],
    pub conversion: f64,
    pub kind: ShapeKind,
}

#[derive(Debug, Clone, Copy)]
pub enum ShapeKind {
    Radius(f64),
    Box { width: f64, height: f64 },
}

fn spread(v: u32) -> u64 {
    const B: [u64; 5] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
    ];
    let mut x = u64::from(v);
    for (b, s) in B.iter().zip([1, 2, 4, 8, 16]).rev() {
        x = (x | (x << s)) & b;
    }
    x
}

fn squash(v: u64) -> u32 {
    const B: [u64; 6] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
        0x00000000FFFFFFFF,
    ];
    let mut x = v & B[0];
    for (b, s) in B.iter().zip([0, 1, 2, 4, 8, 16]).skip(1) {
        x = (x | (x >> s)) & b;
    }
    x as u32
}

/// redis `geohashEncode`: None outside the WGS84 limits or the given ranges.
pub fn encode(lon_r: Range, lat_r: Range, lon: f64, lat: f64, step: u8) -> Option<Bits> {
    if step > 32 || step == 0 {
        return None;
    }
    if !(LON_MIN..=LON_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_r.min || lat > lat_r.max || lon < lon_r.min || lon > lon_r.max {
        return None;
    }
    let mut lat_off = (lat - lat_r.min) / (lat_r.max - lat_r.min);
    let mut lon_off = (lon - lon_r.min) / (lon_r.max - lon_r.min);
    lat_off *= (1u64 << step) as f64;
    lon_off *= (1u64 << step) as f64;
    Some(Bits {
        bits: spread(lat_off as u32) | (spread(lon_off as u32) << 1),
        step,
    })
}

/// The 52-bit score of a position (redis `geohashEncodeWGS84` + `geohashAlign52Bits`).
pub fn score_of(lon: f64, lat: f64) -> Option<u64> {
    encode(WGS84.0, WGS84.1, lon, lat, STEP_MAX).map(align52)
}

/// redis `geohashDecode`.
pub fn decode(lon_r: Range, lat_r: Range, hash: Bits) -> Option<Area> {
    if hash.is_zero() {
        return None;
    }
    let ilat = squash(hash.bits);
    let ilon = squash(hash.bits >> 1);
    let div = (1u64 << hash.step) as f64;
    let lat_scale = lat_r.max - lat_r.min;
    let lon_scale = lon_r.max - lon_r.min;
    Some(Area {
        lat: Range {
            min: lat_r.min + (f64::from(ilat) * 1.0 / div) * lat_scale,
            max: lat_r.min + (f64::from(ilat.wrapping_add(1)) * 1.0 / div) * lat_scale,
        },
        lon: Range {
            min: lon_r.min + (f64::from(ilon) * 1.0 / div) * lon_scale,
            max: lon_r.min + (f64::from(ilon.wrapping_add(1)) * 1.0 / div) * lon_scale,
        },
    })
}

/// What C's `(uint64_t)score` gives on x86-64 (out-of-range values become the "indefinite"
/// integer), so any score, not only geo ones, decodes as in redis.
fn c_to_u64(x: f64) -> u64 {
    const TWO63: f64 = 9_223_372_036_854_775_808.0;
    let cvtt = |v: f64| -> i64 {
        if v.is_nan() || !(-TWO63..TWO63).contains(&v) {
            i64::MIN
        } else {
            v as i64
        }
    };
    if x < TWO63 {
        cvtt(x) as u64
    } else {
        (cvtt(x - TWO63) as u64) ^ (1 << 63)
    }
}

/// The position (longitude, latitude) a sorted-set score stands for: the centre of its cell,
/// clamped to the WGS84 limits (redis `decodeGeohash`).
pub fn position_of(score: f64) -> [f64; 2] {
    let hash = Bits {
        bits: c_to_u64(score),
        step: STEP_MAX,
    };
    // Step 26 is never zero, so decoding succeeds.
    let Some(area) = decode(WGS84.0, WGS84.1, hash) else {
        return [0.0, 0.0];
    };
    let lon = ((area.lon.min + area.lon.max) / 2.0).clamp(LON_MIN, LON_MAX);
    let lat = ((area.lat.min + area.lat.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    [lon, lat]
}

pub fn align52(hash: Bits) -> u64 {
    hash.bits << (52 - u32::from(hash.step) * 2)
}

/// Moves a cell one step along the axis whose bits are `own` (odd bits: longitude, even bits:
/// latitude), wrapping around (redis `geohash_move_x` / `geohash_move_y`).
fn step_along(hash: &mut Bits, d: i8, own: u64) {
    if d == 0 {
        return;
    }
    let other = !own;
    let mut v = hash.bits & own;
    let keep = hash.bits & other;
    let shift = 64 - u32::from(hash.step) * 2;
    let zz = other >> shift;
    if d > 0 {
        v = v.wrapping_add(zz + 1);
    } else {
        v |= zz;
        v = v.wrapping_sub(zz + 1);
    }
    v &= own >> shift;
    hash.bits = v | keep;
}

fn neighbour(hash: Bits, dx: i8, dy: i8) -> Bits {
    let mut h = hash;
    step_along(&mut h, dx, 0xaaaaaaaaaaaaaaaa);
    step_along(&mut h, dy, 0x5555555555555555);
    h
}

/// redis `geohashEstimateStepsByRadius`.
fn estimate_steps(mut range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while range_meters < MERCATOR_MAX {
        range_meters *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

fn deg_rad(ang: f64) -> f64 {
    ang * D_R
}

fn rad_deg(ang: f64) -> f64 {
    ang / D_R
}

/// redis `geohashBoundingBox`: [min lon, min lat, max lon, max lat].
fn bounding_box(shape: &Shape) -> [f64; 4] {
    let [lon, lat] = shape.xy;
    let (h, w) = match shape.kind {
        ShapeKind::Radius(r) => (r, r),
        ShapeKind::Box { width, height } => (height / 2.0, width / 2.0),
    };
    let height = shape.conversion * h;
    let width = shape.conversion * w;
    let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
    let lon_delta_top = rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(lat + lat_delta).cos());
    let lon_delta_bottom = rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(lat - lat_delta).cos());
    let delta = if lat < 0.0 {
        lon_delta_bottom
    } else {
        lon_delta_top
    };
    [lon - delta, lat - lat_delta, lon + delta, lat + lat_delta]
}

/// The cells to scan for a shape, in redis's order: the centre, then north, south, east, west,
/// north-east, north-west, south-east, south-west; useless ones are zero
/// (redis `geohashCalculateAreasByShapeWGS84`).
pub fn cells(shape: &Shape) -> [Bits; 9] {
    let [min_lon, min_lat, max_lon, max_lat] = bounding_box(shape);
    let [lon, lat] = shape.xy;
    let radius = match shape.kind {
        ShapeKind::Radius(r) => r,
        ShapeKind::Box { width, height } => {
            ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
        }
    } * shape.conversion;
    let (lon_r, lat_r) = WGS84;
    let mut steps = estimate_steps(radius, lat);
    let center = |steps| encode(lon_r, lat_r, lon, lat, steps).unwrap_or_default();
    let mut hash = center(steps);
    let area_of = |h: Bits| decode(lon_r, lat_r, h);

    let mut decrease = false;
    if let (Some(n), Some(s), Some(e), Some(w)) = (
        area_of(neighbour(hash, 0, 1)),
        area_of(neighbour(hash, 0, -1)),
        area_of(neighbour(hash, 1, 0)),
        area_of(neighbour(hash, -1, 0)),
    ) {
        decrease = n.lat.max < max_lat
            || s.lat.min > min_lat
            || e.lon.max < max_lon
            || w.lon.min > min_lon;
    }
    if steps > 1 && decrease {
        steps -= 1;
        hash = center(steps);
    }
    // north, south, east, west, north-east, north-west, south-east, south-west
    let mut n = [
        neighbour(hash, 0, 1),
        neighbour(hash, 0, -1),
        neighbour(hash, 1, 0),
        neighbour(hash, -1, 0),
        neighbour(hash, 1, 1),
        neighbour(hash, -1, 1),
        neighbour(hash, 1, -1),
        neighbour(hash, -1, -1),
    ];
    if let (true, Some(area)) = (steps >= 2, area_of(hash)) {
        let zero = |n: &mut [Bits; 8], idx: [usize; 3]| {
            for i in idx {
                n[i] = Bits::default();
            }
        };
        if area.lat.min < min_lat {
            zero(&mut n, [1, 7, 6]);
        }
        if area.lat.max > max_lat {
            zero(&mut n, [0, 4, 5]);
        }
        if area.lon.min < min_lon {
            zero(&mut n, [3, 7, 5]);
        }
        if area.lon.max > max_lon {
            zero(&mut n, [2, 6, 4]);
        }
    }
    [hash, n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[7]]
}

/// Distance along a meridian (redis `geohashGetLatDistance`).
fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// Haversine distance in meters (redis `geohashGetDistance`).
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let lon1r = deg_rad(lon1);
    let lon2r = deg_rad(lon2);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let lat1r = deg_rad(lat1);
    let lat2r = deg_rad(lat2);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

/// The distance from the shape's centre to `xy` when `xy` is inside the shape
/// (redis `geoWithinShape`).
pub fn within(shape: &Shape, xy: [f64; 2]) -> Option<f64> {
    let [x1, y1] = shape.xy;
    let [x2, y2] = xy;
    match shape.kind {
        ShapeKind::Radius(r) => {
            let d = distance(x1, y1, x2, y2);
            (d <= r * shape.conversion).then_some(d)
        }
        ShapeKind::Box { width, height } => {
            let (w, h) = (width * shape.conversion, height * shape.conversion);
            if lat_distance(y2, y1) > h / 2.0 {
                return None;
            }
            if distance(x2, y2, x1, y2) > w / 2.0 {
                return None;
            }
            Some(distance(x1, y1, x2, y2))
        }
    }
}

/// GEOHASH's 11-character standard geohash of a score: the position re-encoded over
/// latitude -90..90, the last character always '0'.
pub fn standard_hash(score: f64) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let [lon, lat] = position_of(score);
    let ranges = (
        Range {
            min: -180.0,
            max: 180.0,
        },
        Range {
            min: -90.0,
            max: 90.0,
        },
    );
    let bits = encode(ranges.0, ranges.1, lon, lat, 26)
        .unwrap_or_default()
        .bits;
    (0..11)
        .map(|i| {
            let idx = if i == 10 {
                0
            } else {
                (bits >> (52 - (i + 1) * 5)) & 0x1f
            };
            ALPHABET[idx as usize] as char
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleave_round_trips() {
        for v in [0u32, 1, 0xdead_beef, u32::MAX] {
            assert_eq!(squash(spread(v)), v);
            assert_eq!(squash(spread(v) << 1 >> 1), v);
        }
    }

    #[test]
    fn palermo_scores_as_redis() {
        // GEOADD Sicily 13.361389 38.115556 Palermo; ZSCORE: 3479099956230698.
        assert_eq!(score_of(13.361389, 38.115556), Some(3479099956230698));
        assert_eq!(standard_hash(3479099956230698.0), "sqc8b49rny0");
    }
}
