//! Reading and writing one directive: CONFIG GET strings, argument validation with Redis's
//! error texts (redis `boolConfigSet`, `numericConfigSet`, `enumConfigSet`, the special
//! setters), and the raw values CONFIG REWRITE needs.

use std::path::PathBuf;

use super::table::{self, Directive, Kind, NumSpec, NumType, Slot, Unit, TABLE};
use super::Config;
use crate::util::parse_i64;

/// A value stored for a directive Tandem does not implement.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Gv {
    Unused,
    Bool(bool),
    Num(i64),
    Enum(u32),
    Str(Option<String>),
}

/// Where a value comes from, which changes a few rules (redis `reading_config_file`).
pub(super) struct SetCtx {
    pub reading_file: bool,
    /// A `save` line was already read: later ones add points instead of replacing.
    pub save_loaded: bool,
    /// Really change the working directory on `dir`.
    pub chdir: bool,
    /// The directory relative paths are resolved against (`include`, `dir`).
    pub cwd: PathBuf,
}

impl SetCtx {
    pub fn loading(chdir: bool) -> SetCtx {
        SetCtx {
            reading_file: true,
            save_loaded: false,
            chdir,
            cwd: std::env::current_dir().unwrap_or_default(),
        }
    }

    pub fn config_set() -> SetCtx {
        SetCtx {
            reading_file: false,
            save_loaded: false,
            chdir: true,
            cwd: std::env::current_dir().unwrap_or_default(),
        }
    }
}

/// The C library's text for an I/O error (`strerror`), without Rust's "(os error N)".
pub(super) fn strerror(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_string(),
        None => e.to_string(),
    }
}

/// CONFIG SET's argument vector: multi-argument directives split on single spaces (redis
/// `sdssplitlen`, so "" gives no argument and double spaces give empty ones).
pub(super) fn split_set_value(d: &Directive, value: &str) -> Vec<String> {
    if d.has(table::MULTI_ARG) {
        if value.is_empty() {
            Vec::new()
        } else {
            value.split(' ').map(str::to_string).collect()
        }
    } else {
        vec![value.to_string()]
    }
}

/// C `strtoll(s, &end, base)` followed by `*end == '\0'`: leading blanks and a sign allowed,
/// saturates on overflow, an empty string reads as 0. `None` when bytes are left over.
pub(super) fn strtoll_full(s: &str, base: u32) -> Option<i64> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let end = digits
        .find(|c: char| !c.is_digit(base))
        .unwrap_or(digits.len());
    if end == 0 {
        // No conversion: end points at the start of the string.
        return s.is_empty().then_some(0);
    }
    if end != digits.len() {
        return None;
    }
    let mut v: i128 = 0;
    for c in digits.chars() {
        v = (v * i128::from(base) + i128::from(c.to_digit(base)?)).min(i128::from(u64::MAX));
    }
    let v = if neg { -v } else { v };
    Some(v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
}

/// redis `memtoull`: digits with an optional unit (b, k, kb, m, mb, g, gb, any case);
/// k/m/g are powers of 1000, kb/mb/gb of 1024. No sign, no blanks.
pub fn memtoull(s: &str) -> Option<u64> {
    if s.starts_with('-') {
        return None;
    }
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let mul: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    if digits.len() >= 128 {
        return None;
    }
    // strtoull: "" reads as 0, overflow saturates.
    let val = if digits.is_empty() {
        0
    } else {
        digits.parse::<u64>().unwrap_or(u64::MAX)
    };
    if val > u64::MAX / mul {
        return None;
    }
    Some(val * mul)
}

/// redis `configEnumGetName` (with bit flags for multi-argument enums).
fn enum_names(values: &[(&'static str, u32)], v: u32, bitflags: bool) -> String {
    let mut names: Vec<&str> = Vec::new();
    let mut unmatched = v;
    for &(name, val) in values {
        if v == val {
            return name.to_string();
        }
        if bitflags && val != 0 && val == unmatched & val {
            names.push(name);
            unmatched &= !val;
        }
    }
    if names.is_empty() || unmatched != 0 {
        return "unknown".to_string();
    }
    names.join(" ")
}

fn format_num(spec: &NumSpec, v: i64) -> String {
    match spec.unit {
        Unit::MemoryOrPercent if v < 0 => format!("{}%", v.unsigned_abs()),
        Unit::Memory | Unit::MemoryOrPercent => (v as u64).to_string(),
        Unit::Octal => format!("{:o}", v),
        Unit::Plain => v.to_string(),
    }
}

/// redis `numericParseString`.
fn parse_num(spec: &NumSpec, s: &str) -> Result<i64, &'static str> {
    let memory = matches!(spec.unit, Unit::Memory | Unit::MemoryOrPercent);
    if memory {
        if let Some(v) = memtoull(s) {
            return Ok(v as i64);
        }
    }
    if spec.unit == Unit::MemoryOrPercent && s.len() > 1 {
        if let Some(n) = s.strip_suffix('%').and_then(|n| parse_i64(n.as_bytes())) {
            if n >= 0 {
                return Ok(-n);
            }
        }
    }
    if spec.unit == Unit::Octal {
        if let Some(v) = strtoll_full(s, 8) {
            return Ok(v);
        }
    }
    if spec.unit == Unit::Plain {
        if let Some(v) = parse_i64(s.as_bytes()) {
            return Ok(v);
        }
    }
    Err(match spec.unit {
        Unit::MemoryOrPercent => "argument must be a memory or percent value",
        Unit::Memory => "argument must be a memory value",
        Unit::Octal => "argument couldn't be parsed as an octal number",
        Unit::Plain => "argument couldn't be parsed into an integer",
    })
}

/// redis `numericBoundaryCheck`.
fn check_bounds(spec: &NumSpec, v: i64) -> Result<(), String> {
    if spec.ty.is_unsigned() {
        let (u, lo, hi) = (v as u64, spec.min as u64, spec.max as u64);
        if u > hi || u < lo {
            return Err(if spec.unit == Unit::Octal {
                format!("argument must be between {lo:o} and {hi:o} inclusive")
            } else {
                format!("argument must be between {lo} and {hi} inclusive")
            });
        }
    } else if spec.unit == Unit::MemoryOrPercent && v < 0 {
        if v < spec.min {
            return Err(format!(
                "percentage argument must be less or equal to {}",
                spec.min.unsigned_abs()
            ));
        }
    } else if v > spec.max || v < spec.min {
        return Err(format!(
            "argument must be between {} and {} inclusive",
            spec.min, spec.max
        ));
    }
    Ok(())
}

/// What a C field of this type keeps of a bounds-checked value.
fn store_num(ty: NumType, v: i64) -> i64 {
    match ty {
        NumType::Int => i64::from(v as i32),
        NumType::UInt => i64::from(v as u32),
        _ => v,
    }
}

fn yes_no(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("yes") {
        Some(true)
    } else if s.eq_ignore_ascii_case("no") {
        Some(false)
    } else {
        None
    }
}

impl Config {
    /// Puts row `i` back to its default (used to build `Config::default`).
    pub(super) fn reset_to_default(&mut self, i: usize) {
        let d = &TABLE[i];
        match (d.kind, d.slot) {
            (Kind::Bool { default, .. }, Slot::Bool(_, set)) => set(self, default),
            (Kind::Bool { default, .. }, _) => self.generic[i] = Gv::Bool(default),
            (Kind::Num(spec), Slot::Num(_, set)) => set(self, spec.default),
            (Kind::Num(spec), _) => self.generic[i] = Gv::Num(spec.default),
            (Kind::Enum { default, .. }, Slot::Enum(_, set)) => set(self, default),
            (Kind::Enum { default, .. }, _) => self.generic[i] = Gv::Enum(default),
            (Kind::Str { default, .. }, Slot::Str(_, set)) => set(self, default.map(String::from)),
            (Kind::Str { default, .. }, _) => {
                self.generic[i] = Gv::Str(default.map(String::from));
            }
            (Kind::Special(_), _) => {}
        }
    }

    pub(super) fn bool_of(&self, i: usize) -> bool {
        match (TABLE[i].slot, &self.generic[i]) {
            (Slot::Bool(get, _), _) => get(self),
            (_, Gv::Bool(b)) => *b,
            _ => false,
        }
    }

    pub(super) fn num_of(&self, i: usize) -> i64 {
        match (TABLE[i].slot, &self.generic[i]) {
            (Slot::Num(get, _), _) => get(self),
            (_, Gv::Num(n)) => *n,
            _ => 0,
        }
    }

    pub(super) fn enum_of(&self, i: usize) -> u32 {
        match (TABLE[i].slot, &self.generic[i]) {
            (Slot::Enum(get, _), _) => get(self),
            (_, Gv::Enum(v)) => *v,
            _ => 0,
        }
    }

    pub(super) fn str_of(&self, i: usize) -> Option<String> {
        match (TABLE[i].slot, &self.generic[i]) {
            (Slot::Str(get, _), _) => get(self),
            (_, Gv::Str(s)) => s.clone(),
            _ => None,
        }
    }

    /// The names of an enum value as CONFIG GET and CONFIG REWRITE show them.
    pub(super) fn enum_text(&self, i: usize) -> String {
        match TABLE[i].kind {
            Kind::Enum { values, .. } => {
                enum_names(values, self.enum_of(i), TABLE[i].has(table::MULTI_ARG))
            }
            _ => String::new(),
        }
    }

    pub fn oom_score_adj_values(&self) -> [i64; 3] {
        self.oom_score_adj_values
    }

    pub fn latency_percentiles(&self) -> &[f64] {
        &self.latency_tracking_info_percentiles
    }

    /// The CONFIG GET string of row `i`.
    pub(super) fn value_of(&self, i: usize) -> String {
        match TABLE[i].kind {
            Kind::Bool { .. } => if self.bool_of(i) { "yes" } else { "no" }.to_string(),
            Kind::Num(spec) => format_num(&spec, self.num_of(i)),
            Kind::Enum { .. } => self.enum_text(i),
            Kind::Str { .. } => self.str_of(i).unwrap_or_default(),
            Kind::Special(sp) => self.special_value(sp),
        }
    }

    /// Sets row `i` from its arguments (already split). The error is the bare reason text.
    /// Single-argument directives must get exactly one argument (checked by the callers).
    pub(super) fn apply(
        &mut self,
        i: usize,
        args: &[String],
        ctx: &mut SetCtx,
    ) -> Result<(), String> {
        let d = &TABLE[i];
        let first = args.first().map(String::as_str).unwrap_or("");
        match d.kind {
            Kind::Bool { refuse_yes, .. } => {
                let v = yes_no(first).ok_or("argument must be 'yes' or 'no'")?;
                if let (true, Some(why)) = (v, refuse_yes) {
                    return Err(why.to_string());
                }
                match d.slot {
                    Slot::Bool(_, set) => set(self, v),
                    _ => self.generic[i] = Gv::Bool(v),
                }
            }
            Kind::Num(spec) => {
                let v = parse_num(&spec, first)?;
                check_bounds(&spec, v)?;
                let mut v = store_num(spec.ty, v);
                if d.name == "hz" {
                    // redis `updateHZ`: out-of-range values are accepted and capped.
                    v = v.clamp(1, 500);
                }
                match d.slot {
                    Slot::Num(_, set) => set(self, v),
                    _ => self.generic[i] = Gv::Num(v),
                }
            }
            Kind::Enum { values, check, .. } => {
                let bitflags = d.has(table::MULTI_ARG);
                let mut v = None;
                if !args.is_empty() && (bitflags || args.len() == 1) {
                    let mut acc = 0;
                    for a in args {
                        let matched: Vec<u32> = values
                            .iter()
                            .filter(|(n, _)| n.eq_ignore_ascii_case(a))
                            .map(|&(_, x)| x)
                            .collect();
                        if matched.is_empty() {
                            acc = u32::MAX;
                            break;
                        }
                        acc |= matched.iter().fold(0, |x, y| x | y);
                    }
                    if acc != u32::MAX {
                        v = Some(acc);
                    }
                }
                let Some(v) = v else {
                    let names: Vec<&str> = values.iter().map(|(n, _)| *n).collect();
                    return Err(format!(
                        "argument(s) must be one of the following: {}",
                        names.join(", ")
                    ));
                };
                if let Some(check) = check {
                    check(v)?;
                }
                match d.slot {
                    Slot::Enum(_, set) => set(self, v),
                    _ => self.generic[i] = Gv::Enum(v),
                }
            }
            Kind::Str {
                empty_is_null,
                check,
                ..
            } => {
                if let Some(check) = check {
                    check(first)?;
                }
                let v = (!(empty_is_null && first.is_empty())).then(|| first.to_string());
                match d.slot {
                    Slot::Str(_, set) => set(self, v),
                    _ => self.generic[i] = Gv::Str(v),
                }
            }
            Kind::Special(sp) => self.apply_special(sp, args, ctx)?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod unit {
    use super::super::special::{format_percentile, notify_flags, notify_string};
    use super::*;

    #[test]
    fn memtoull_units() {
        assert_eq!(memtoull("1k"), Some(1000));
        assert_eq!(memtoull("1kb"), Some(1024));
        assert_eq!(memtoull("1KB"), Some(1024));
        assert_eq!(memtoull("2m"), Some(2_000_000));
        assert_eq!(memtoull("2Mb"), Some(2 << 20));
        assert_eq!(memtoull("3g"), Some(3_000_000_000));
        assert_eq!(memtoull("3gB"), Some(3 << 30));
        assert_eq!(memtoull("7b"), Some(7));
        assert_eq!(memtoull(""), Some(0));
        assert_eq!(memtoull("kb"), Some(0));
        assert_eq!(memtoull("99999999999999999999999"), Some(u64::MAX));
        assert_eq!(memtoull("-1"), None);
        assert_eq!(memtoull("1.5gb"), None);
        assert_eq!(memtoull("1 kb"), None);
        assert_eq!(memtoull("18446744073709551615kb"), None);
    }

    #[test]
    fn strtoll_like_c() {
        assert_eq!(strtoll_full("", 10), Some(0));
        assert_eq!(strtoll_full(" 7", 8), Some(7));
        assert_eq!(strtoll_full("+5", 10), Some(5));
        assert_eq!(strtoll_full("0060", 10), Some(60));
        assert_eq!(strtoll_full("-1", 8), Some(-1));
        assert_eq!(strtoll_full("999", 8), None);
        assert_eq!(strtoll_full("3x", 10), None);
        assert_eq!(strtoll_full("x", 10), None);
        assert_eq!(strtoll_full("-", 10), None);
        assert_eq!(strtoll_full("99999999999999999999", 10), Some(i64::MAX));
    }

    #[test]
    fn notify_normalization() {
        // Values seen with redis-server 7.0.15 CONFIG SET / CONFIG GET.
        let norm = |s: &str| notify_string(notify_flags(s).unwrap_or(0));
        assert_eq!(norm("g$lshzxetd"), "A");
        assert_eq!(norm("KEA"), "AKE");
        assert_eq!(norm("AKEmn"), "AKEm");
        assert_eq!(norm("xg"), "gx");
        assert_eq!(norm("g$lshzxet"), "g$lshzxet");
        assert_eq!(notify_flags("Q"), None);
    }

    #[test]
    fn percentiles_format() {
        assert_eq!(format_percentile(50.0), "50");
        assert_eq!(format_percentile(99.9), "99.9");
        assert_eq!(format_percentile(50.5), "50.5");
        assert_eq!(format_percentile(99.999), "99.999");
    }
}
