//! LOLWUT [VERSION v] [...] (redis `lolwut.c`, `lolwut5.c`, `lolwut6.c`): computer art and the
//! server version. Version 5 draws Georg Nees's "Schotter" in braille characters, version 6 a
//! skyline in terminal colors; any other version (7.0.15's default) prints the version only.
//! Both drawings are random past their first rows, as Redis's (from libc `rand()`), so only
//! their deterministic parts can equal Redis's byte for byte.

use super::args::is;
use super::errors::{self, CmdError};
use super::spec::{Group, Spec, FAST, READONLY};
use super::Ctx;
use crate::protocol::Reply;
use crate::server::REDIS_VERSION;

pub const COMMANDS: &[Spec] = &[Spec::new(
    "lolwut",
    -1,
    READONLY | FAST,
    Group::Server,
    lolwut,
)];

fn lolwut(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    let (version, args) = if argv.len() >= 3 && is(&argv[1], "version") {
        let v = crate::util::parse_i64(&argv[2]).ok_or(errors::NOT_INTEGER)?;
        // Redis formats the version as "%u.0.0" of the number cast to unsigned int.
        (Some(v as u32), &argv[3..])
    } else {
        (None, &argv[1..])
    };
    let mut nums = Vec::with_capacity(args.len());
    let text = match version {
        Some(5) => {
            for a in args.iter().take(3) {
                nums.push(crate::util::parse_i64(a).ok_or(errors::NOT_INTEGER)?);
            }
            let arg = |i: usize, default: i64| nums.get(i).copied().unwrap_or(default);
            let cols = arg(0, 66).clamp(1, 1000) as i32;
            let per_row = arg(1, 8).clamp(1, 200) as i32;
            let per_col = arg(2, 12).clamp(1, 200) as i32;
            let mut s = render_braille(&schotter(cols, per_row, per_col));
            s.push_str("\nGeorg Nees - schotter, plotter on paper, 1968. Redis ver. ");
            s
        }
        Some(6) => {
            for a in args.iter().take(2) {
                nums.push(crate::util::parse_i64(a).ok_or(errors::NOT_INTEGER)?);
            }
            let cols = nums.first().copied().unwrap_or(80).clamp(1, 1000) as i32;
            let rows = nums.get(1).copied().unwrap_or(20).clamp(1, 1000) as i32;
            let mut canvas = Canvas::new(cols, rows, 3);
            skyline(&mut canvas);
            let mut s = render_colors(&canvas);
            s.push_str("\nDedicated to the 8 bit game developers of past and present.\nOriginal 8 bit image from Plaguemon by hikikomori. Redis ver. ");
            s
        }
        _ => "Redis ver. ".to_string(),
    };
    Ok(Reply::Verbatim(format!("{text}{REDIS_VERSION}\n").into()))
}

/// libc `rand()`: 0..=RAND_MAX (2^31 - 1).
fn rand() -> i32 {
    (rand::random::<u32>() >> 1) as i32
}

const RAND_MAX: f32 = 2_147_483_647.0;

/// A grid of pixel colors (redis `lwCanvas`).
struct Canvas {
    width: i32,
    height: i32,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(width: i32, height: i32, color: u8) -> Canvas {
        Canvas {
            width,
            height,
            pixels: vec![color; (width as usize) * (height as usize)],
        }
    }

    fn set(&mut self, x: i32, y: i32, color: u8) {
        if (0..self.width).contains(&x) && (0..self.height).contains(&y) {
            self.pixels[(x + y * self.width) as usize] = color;
        }
    }

    fn get(&self, x: i32, y: i32) -> u8 {
        if (0..self.width).contains(&x) && (0..self.height).contains(&y) {
            self.pixels[(x + y * self.width) as usize]
        } else {
            0
        }
    }

    /// Bresenham's line.
    fn line(&mut self, mut x1: i32, mut y1: i32, x2: i32, y2: i32, color: u8) {
        let (dx, dy) = ((x2 - x1).abs(), (y2 - y1).abs());
        let sx = if x1 < x2 { 1 } else { -1 };
        let sy = if y1 < y2 { 1 } else { -1 };
        let mut err = dx - dy;
        loop {
            self.set(x1, y1, color);
            if x1 == x2 && y1 == y2 {
                break;
            }
            let e2 = err * 2;
            if e2 > -dy {
                err -= dy;
                x1 += sx;
            }
            if e2 < dx {
                err += dx;
                y1 += sy;
            }
        }
    }

    /// A square centered on (x, y), rotated by `angle`, with Redis's float and double steps.
    fn square(&mut self, x: i32, y: i32, size: f32, angle: f32, color: u8) {
        // Redis's literal, not SQRT_2: the rounding must be the same.
        #[allow(clippy::approx_constant)]
        const ROOT2: f64 = 1.4142135623;
        let size = ((size as f64 / ROOT2) as f32 as f64).round() as f32;
        let mut k = (std::f64::consts::FRAC_PI_4 + angle as f64) as f32;
        let (mut px, mut py) = ([0i32; 4], [0i32; 4]);
        for j in 0..4 {
            px[j] = ((k as f64).sin() * size as f64 + x as f64).round() as i32;
            py[j] = ((k as f64).cos() * size as f64 + y as f64).round() as i32;
            k = (k as f64 + std::f64::consts::FRAC_PI_2) as f32;
        }
        for j in 0..4 {
            self.line(px[j], py[j], px[(j + 1) % 4], py[(j + 1) % 4], color);
        }
    }
}

/// Georg Nees's Schotter (redis `lwDrawSchotter`): squares shaken more and more row by row.
fn schotter(cols: i32, per_row: i32, per_col: i32) -> Canvas {
    let width = cols * 2;
    let padding = if width > 4 { 2 } else { 0 };
    let side = (width - padding * 2) as f32 / per_row as f32;
    let height = (side * per_col as f32 + (padding * 2) as f32) as i32;
    let mut canvas = Canvas::new(width, height, 0);
    for y in 0..per_col {
        for x in 0..per_row {
            let mut sx = (x as f32 * side + side / 2.0 + padding as f32) as i32;
            let mut sy = (y as f32 * side + side / 2.0 + padding as f32) as i32;
            let mut angle = 0.0f32;
            if y > 1 {
                let shake = || rand() as f32 / RAND_MAX / per_col as f32 * y as f32;
                let (mut r1, mut r2, mut r3) = (shake(), shake(), shake());
                for r in [&mut r1, &mut r2, &mut r3] {
                    if rand() % 2 == 1 {
                        *r = -*r;
                    }
                }
                angle = r1;
                sx = (sx as f32 + r2 * side / 3.0) as i32;
                sy = (sy as f32 + r3 * side / 3.0) as i32;
            }
            canvas.square(sx, sy, side, angle, 1);
        }
    }
    canvas
}

/// Each 2x4 block of pixels as a braille character.
fn render_braille(c: &Canvas) -> String {
    let mut s = String::new();
    let mut y = 0;
    while y < c.height {
        let mut x = 0;
        while x < c.width {
            let bits = [
                (x, y),
                (x, y + 1),
                (x, y + 2),
                (x + 1, y),
                (x + 1, y + 1),
                (x + 1, y + 2),
                (x, y + 3),
                (x + 1, y + 3),
            ];
            let byte = bits
                .iter()
                .enumerate()
                .filter(|(_, &(px, py))| c.get(px, py) != 0)
                .fold(0u32, |b, (i, _)| b | (1 << i));
            s.push(char::from_u32(0x2800 + byte).unwrap_or(' '));
            x += 2;
        }
        if y != c.height - 1 {
            s.push('\n');
        }
        y += 4;
    }
    s
}

/// The canvas in the four grays of a color terminal.
fn render_colors(c: &Canvas) -> String {
    let mut s = String::new();
    for y in 0..c.height {
        for x in 0..c.width {
            let code = match c.get(x, y) {
                1 => "0;90;100m",
                2 => "0;37;47m",
                3 => "0;97;107m",
                _ => "0;30;40m",
            };
            s.push_str("\x1b[");
            s.push_str(code);
            s.push_str(" \x1b[0m");
        }
        if y != c.height - 1 {
            s.push('\n');
        }
    }
    s
}

struct Skyscraper {
    xoff: i32,
    width: i32,
    height: i32,
    windows: bool,
    color: u8,
}

fn skyscraper(c: &mut Canvas, si: &Skyscraper) {
    let starty = c.height - 1;
    let endy = starty - si.height + 1;
    let mut y = starty;
    while y >= endy {
        for x in si.xoff..si.xoff + si.width {
            // The roof is four pixels narrower.
            if y == endy && (x <= si.xoff + 1 || x >= si.xoff + si.width - 2) {
                continue;
            }
            let mut color = si.color;
            if si.windows
                && x > si.xoff + 1
                && x < si.xoff + si.width - 2
                && y > endy + 1
                && y < starty - 1
            {
                let relx = x - (si.xoff + 1);
                let rely = y - (endy + 1);
                if (relx / 2) % 2 != 0 && rely % 2 != 0 {
                    loop {
                        color = 1 + (rand() % 2) as u8;
                        if color != si.color {
                            break;
                        }
                    }
                    if relx % 2 != 0 {
                        color = c.get(x - 1, y);
                    }
                }
            }
            c.set(x, y, color);
        }
        y -= 1;
    }
}

/// A parallax skyline (redis `generateSkyline`): two background rows of grays, then the
/// foreground with lit windows.
fn skyline(c: &mut Canvas) {
    let h = c.height;
    for color in [2u8, 1] {
        let mut offset = -10;
        while offset < c.width {
            offset += rand() % 8;
            let width = 10 + rand() % 9;
            let height = if color == 2 {
                h / 2 + (rand() % h) / 2
            } else {
                h / 2 + (rand() % h) / 3
            };
            let si = Skyscraper {
                xoff: offset,
                width,
                height,
                windows: false,
                color,
            };
            skyscraper(c, &si);
            offset += if color == 2 { width / 2 } else { width + 1 };
        }
    }
    let mut offset = -10;
    while offset < c.width {
        offset += rand() % 8;
        let mut width = 5 + rand() % 14;
        if width % 4 != 0 {
            width += width % 3;
        }
        let height = h / 3 + (rand() % h) / 2;
        let si = Skyscraper {
            xoff: offset,
            width,
            height,
            windows: true,
            color: 0,
        };
        skyscraper(c, &si);
        offset += width + 5;
    }
}
