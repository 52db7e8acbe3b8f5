//! `bit`: LuaBitOp 1.0 as Redis bundles it (redis `deps/lua/src/lua_bit.c`). Operands are
//! numbers taken modulo 2^32 through the FPU (add 2^52+2^51, keep the low 32 bits of the
//! double); results are signed 32-bit numbers.

use mlua::{Lua, Table, Value};

use super::{one, to_number, Args, Exporter, LibError, LibResult, Ret};

/// `bit` module table.
pub(crate) fn module(lua: &Lua, ex: &Exporter) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    ex.export(lua, &t, "tobit", |lua, a| ret(barg(lua, &a, 1)?))?;
    ex.export(lua, &t, "bnot", |lua, a| ret(!barg(lua, &a, 1)?))?;
    ex.export(lua, &t, "band", |lua, a| fold(lua, &a, |x, y| x & y))?;
    ex.export(lua, &t, "bor", |lua, a| fold(lua, &a, |x, y| x | y))?;
    ex.export(lua, &t, "bxor", |lua, a| fold(lua, &a, |x, y| x ^ y))?;
    ex.export(lua, &t, "lshift", |lua, a| shift(lua, &a, |b, n| b << n))?;
    ex.export(lua, &t, "rshift", |lua, a| shift(lua, &a, |b, n| b >> n))?;
    ex.export(lua, &t, "arshift", |lua, a| {
        shift(lua, &a, |b, n| ((b as i32) >> n) as u32)
    })?;
    ex.export(lua, &t, "rol", |lua, a| shift(lua, &a, u32::rotate_left))?;
    ex.export(lua, &t, "ror", |lua, a| shift(lua, &a, u32::rotate_right))?;
    ex.export(lua, &t, "bswap", |lua, a| {
        ret(barg(lua, &a, 1)?.swap_bytes())
    })?;
    ex.export(lua, &t, "tohex", tohex)?;
    Ok(t)
}

/// The 32 bits of a number as LuaBitOp computes them.
pub(crate) fn tobit(n: f64) -> u32 {
    (n + 6_755_399_441_055_744.0).to_bits() as u32
}

/// `barg`: argument `i` as bits; a non-number (other than a numeric string) is a type error,
/// checked only when the bits come out 0, as in the C code.
fn barg(lua: &Lua, a: &Args, i: usize) -> LibResult<u32> {
    let n = to_number(lua, &a.get(i))?;
    let b = tobit(n.unwrap_or(0.0));
    if b == 0 && n.is_none() {
        return Err(LibError::Arg(
            i as i32,
            format!("number expected, got {}", a.type_name(i)),
        ));
    }
    Ok(b)
}

fn ret(b: u32) -> LibResult<Ret> {
    Ok(one(Value::Number(f64::from(b as i32))))
}

/// `band`/`bor`/`bxor`: the first argument combined with the others, last to second.
fn fold(lua: &Lua, a: &Args, op: fn(u32, u32) -> u32) -> LibResult<Ret> {
    let mut b = barg(lua, a, 1)?;
    let mut i = a.len();
    while i > 1 {
        b = op(b, barg(lua, a, i)?);
        i -= 1;
    }
    ret(b)
}

fn shift(lua: &Lua, a: &Args, op: fn(u32, u32) -> u32) -> LibResult<Ret> {
    let b = barg(lua, a, 1)?;
    let n = barg(lua, a, 2)? & 31;
    ret(op(b, n))
}

/// `tohex(x [, n])`: `n` hex digits (default 8, at most 8), upper case when `n` is negative.
fn tohex(lua: &Lua, a: Args) -> LibResult<Ret> {
    let mut b = barg(lua, &a, 1)?;
    let mut n: i64 = if a.is_none(2) {
        8
    } else {
        i64::from(barg(lua, &a, 2)? as i32)
    };
    let digits: &[u8; 16] = if n < 0 {
        n = -n;
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let n = n.min(8) as usize;
    let mut buf = vec![0u8; n];
    for slot in buf.iter_mut().rev() {
        *slot = digits[(b & 15) as usize];
        b >>= 4;
    }
    Ok(one(Value::String(lua.create_string(&buf)?)))
}

#[cfg(test)]
mod tests {
    use crate::scripting::libs::test_support::run_cases;

    /// Each script was run with `redis-cli eval <script> 0` against redis-server 7.0.15 (after
    /// `SCRIPT FLUSH`, so settings start at their defaults); the second string is what it
    /// printed (a newline in the reply shown as `\n`).
    const REDIS_CASES: &[(&str, &str)] = &[
        (
            r##"return table.concat({bit.tobit(0xffffffff), bit.tobit(2^32+5), bit.tobit(-1), bit.tobit(1.5), bit.tobit(2.5), bit.tobit(-1.5), bit.tobit(2^52), bit.tobit(1e20)}, ',')"##,
            r##"-1,5,-1,2,2,-2,0,2025163840"##,
        ),
        (
            r##"return table.concat({bit.bnot(0), bit.bnot(5), bit.band(0xff, 0x0f, 0x3), bit.bor(1, 2, 4, 8), bit.bxor(1, 3, 7), bit.band(5)}, ',')"##,
            r##"-1,-6,3,15,5,5"##,
        ),
        (
            r##"return table.concat({bit.lshift(1, 31), bit.lshift(1, 32), bit.lshift(1, 33), bit.rshift(-1, 28), bit.arshift(-256, 4), bit.rol(0x12345678, 8), bit.ror(0x12345678, 8), bit.rshift(256, -1)}, ',')"##,
            r##"-2147483648,1,2,15,-16,878082066,2014458966,0"##,
        ),
        (
            r##"return table.concat({bit.bswap(0x12345678), bit.tohex(255), bit.tohex(-1), bit.tohex(255, 2), bit.tohex(255, -4), bit.tohex(0x12345678, 12), bit.tohex(1, 0), bit.tohex('16')}, ',')"##,
            r##"2018915346,000000ff,ffffffff,ff,00FF,12345678,,00000010"##,
        ),
        (
            r##"local ok, e = pcall(bit.band, 1, 'x') return e"##,
            r##"bad argument #2 to '?' (number expected, got string)"##,
        ),
        (
            r##"local ok, e = pcall(bit.band) return e"##,
            r##"bad argument #1 to '?' (number expected, got no value)"##,
        ),
        (
            r##"local ok, e = pcall(bit.tobit, {}) return e"##,
            r##"bad argument #1 to '?' (number expected, got table)"##,
        ),
        (
            r##"local ok, e = pcall(bit.tohex, 1, 'x') return e"##,
            r##"bad argument #2 to '?' (number expected, got string)"##,
        ),
        (
            r##"local ok, e = pcall(function() return bit.bor(nil) end) return e"##,
            r##"user_script:1: bad argument #1 to 'bor' (number expected, got nil)"##,
        ),
        (r##"return bit.band('0x10', 0xff)"##, r##"16"##),
        (r##"return bit.tohex(1, -2^31)"##, r##"00000001"##),
        (r##"return bit.tohex(1, 2^31)"##, r##"00000001"##),
        (
            r##"local ok, e = pcall(bit.lshift, 1) return e"##,
            r##"bad argument #2 to '?' (number expected, got no value)"##,
        ),
        (r##"return bit.tobit(0/0)"##, r##"0"##),
        (
            r##"return select('#', bit.band(unpack((function() local t = {} for i=1,7000 do t[i]=i end return t end)())))"##,
            r##"1"##,
        ),
        (
            r##"return bit.bor(unpack((function() local t = {} for i=1,7000 do t[i]=i end return t end)()))"##,
            r##"8191"##,
        ),
        (
            r##"local ok, e = pcall(bit.bor, unpack((function() local t = {} for i=1,70 do t[i]=i end t[71]='x' return t end)())) return e"##,
            r##"bad argument #71 to '?' (number expected, got string)"##,
        ),
    ];

    #[test]
    fn behaves_like_redis() {
        run_cases(REDIS_CASES);
    }
}
