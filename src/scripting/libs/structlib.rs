//! `struct`: Roberto Ierusalimschy's struct library as Redis bundles it (redis
//! `deps/lua/src/lua_struct.c`): `pack`, `unpack` and `size` over format strings of x86-64
//! C types (native little endian, `long` and `size_t` of 8 bytes, `!` aligning to at most 8).
//!
//! The format string is read as a C string: it ends at its first NUL byte.

use mlua::{Lua, Table, Value};

use super::{c_double_to_i64, one, Args, Exporter, LibError, LibResult, Ret, MAX_C_STACK};

/// Largest size of an `i`/`I` integer (`MAXINTSIZE`).
const MAX_INT_SIZE: usize = 32;
/// Default for `!` without a number (`MAXALIGN`).
const MAX_ALIGN: usize = 8;

/// `struct` module table.
pub(crate) fn module(lua: &Lua, ex: &Exporter) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    ex.export(lua, &t, "pack", pack)?;
    ex.export(lua, &t, "unpack", unpack)?;
    ex.export(lua, &t, "size", size)?;
    Ok(t)
}

/// Byte order and maximum alignment (`Header`).
struct Header {
    little: bool,
    align: usize,
}

impl Default for Header {
    fn default() -> Self {
        Header {
            little: true,
            align: 1,
        }
    }
}

/// The format, cut at its first NUL, and a read position.
struct Format {
    bytes: Vec<u8>,
    pos: usize,
}

impl Format {
    fn new(mut bytes: Vec<u8>) -> Self {
        if let Some(nul) = bytes.iter().position(|&b| b == 0) {
            bytes.truncate(nul);
        }
        Format { bytes, pos: 0 }
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.bytes.get(self.pos).copied();
        self.pos += 1;
        c
    }

    /// `getnum`: a decimal number at the read position, else `default`.
    fn number(&mut self, default: usize) -> LibResult<usize> {
        let Some(d) = self.bytes.get(self.pos).filter(|c| c.is_ascii_digit()) else {
            return Ok(default);
        };
        let mut a: i32 = i32::from(d - b'0');
        self.pos += 1;
        while let Some(d) = self.bytes.get(self.pos).filter(|c| c.is_ascii_digit()) {
            let d = i32::from(d - b'0');
            if a > i32::MAX / 10 || a * 10 > i32::MAX - d {
                return Err(LibError::Msg("integral size overflow".into()));
            }
            a = a * 10 + d;
            self.pos += 1;
        }
        Ok(a as usize)
    }

    /// `optsize`: the size of option `opt`, reading its count if it takes one.
    fn size_of(&mut self, opt: u8) -> LibResult<usize> {
        Ok(match opt {
            b'B' | b'b' => 1,
            b'H' | b'h' => 2,
            b'L' | b'l' | b'T' | b'd' => 8,
            b'f' => 4,
            b'x' => 1,
            b'c' => self.number(1)?,
            b'i' | b'I' => {
                let sz = self.number(4)?;
                if sz > MAX_INT_SIZE {
                    return Err(LibError::Msg(format!(
                        "integral size {sz} is larger than limit of {MAX_INT_SIZE}"
                    )));
                }
                sz
            }
            _ => 0,
        })
    }

    /// `controloptions`: spaces, endianness and alignment; anything else is an error.
    fn control(&mut self, opt: u8, h: &mut Header) -> LibResult<()> {
        match opt {
            b' ' => {}
            b'>' => h.little = false,
            b'<' => h.little = true,
            b'!' => {
                let a = self.number(MAX_ALIGN)?;
                if a == 0 || a & (a - 1) != 0 {
                    return Err(LibError::Msg(format!("alignment {a} is not a power of 2")));
                }
                h.align = a;
            }
            _ => {
                return Err(LibError::Arg(
                    1,
                    format!("invalid format option '{}'", char::from(opt)),
                ))
            }
        }
        Ok(())
    }
}

/// `gettoalign`: padding before an item of `size` at offset `len`.
fn padding(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size.wrapping_sub(len & (size - 1))) & (size - 1)
}

/// `putinteger`: `n` as a `size`-byte integer (two's complement for negatives, through a C
/// cast to 64 bits, so wider sizes are zero-filled).
fn put_integer(out: &mut Vec<u8>, n: f64, little: bool, size: usize) {
    let mut value: u64 = if n < 0.0 {
        c_double_to_i64(n) as u64
    } else {
        c_double_to_u64(n)
    };
    let mut buf = [0u8; MAX_INT_SIZE];
    let buf = &mut buf[..size];
    for i in 0..size {
        let slot = if little { i } else { size - 1 - i };
        buf[slot] = (value & 0xff) as u8;
        value >>= 8;
    }
    out.extend_from_slice(buf);
}

/// A C `(unsigned long)d` as x86-64 code computes it: values from 2^63 go through the signed
/// conversion of `d - 2^63`, so 2^64 and above come out as 0 (NaN as 2^63).
fn c_double_to_u64(d: f64) -> u64 {
    const TWO63: f64 = 9_223_372_036_854_775_808.0;
    if d.is_nan() || d < TWO63 {
        c_double_to_i64(d) as u64
    } else {
        (c_double_to_i64(d - TWO63) as u64) ^ (1 << 63)
    }
}

/// `struct.pack(fmt, ...)`.
fn pack(lua: &Lua, mut a: Args) -> LibResult<Ret> {
    // The C code pushes a nil above the arguments before packing: a missing argument right
    // after the given ones is "nil", not "no value".
    let mut fmt = Format::new(a.check_bytes(lua, 1)?);
    a.push(Value::Nil);
    let mut h = Header::default();
    let mut arg = 2;
    let mut out: Vec<u8> = Vec::new();
    while let Some(opt) = fmt.next() {
        let mut size = fmt.size_of(opt)?;
        let pad = padding(out.len(), &h, opt, size);
        out.resize(out.len() + pad, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = a.check_number(lua, arg)?;
                arg += 1;
                put_integer(&mut out, n, h.little, size);
            }
            b'x' => out.push(0),
            b'f' => {
                let f = a.check_number(lua, arg)? as f32;
                arg += 1;
                let b = if h.little {
                    f.to_le_bytes()
                } else {
                    f.to_be_bytes()
                };
                out.extend_from_slice(&b);
            }
            b'd' => {
                let d = a.check_number(lua, arg)?;
                arg += 1;
                let b = if h.little {
                    d.to_le_bytes()
                } else {
                    d.to_be_bytes()
                };
                out.extend_from_slice(&b);
            }
            b'c' | b's' => {
                let s = a.check_bytes(lua, arg)?;
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    // The C code names the argument after the string.
                    return Err(LibError::Arg(arg as i32, "string too short".into()));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => fmt.control(opt, &mut h)?,
        }
    }
    Ok(one(Value::String(lua.create_string(&out)?)))
}

/// `getinteger`: a `size`-byte integer; wider than 8 bytes keeps the low 64 bits.
fn get_integer(b: &[u8], little: bool, signed: bool, size: usize) -> f64 {
    let mut l: u64 = 0;
    for i in 0..size {
        let byte = if little { b[size - 1 - i] } else { b[i] };
        l = (l << 8) | u64::from(byte);
    }
    if !signed {
        return l as f64;
    }
    // x86 masks the shift count to 6 bits, as the C code's shift of `size*8 - 1` does.
    let mask = u64::MAX.wrapping_shl((size * 8).wrapping_sub(1) as u32);
    if l & mask != 0 {
        l |= mask;
    }
    l as i64 as f64
}

/// `struct.unpack(fmt, data [, pos])`: the values, then the position after them.
fn unpack(lua: &Lua, a: Args) -> LibResult<Ret> {
    let mut fmt = Format::new(a.check_bytes(lua, 1)?);
    let data = a.check_bytes(lua, 2)?;
    let ld = data.len();
    // `size_t pos = luaL_optinteger(...)`: negative positions wrap around.
    let mut pos = a.opt_integer(lua, 3, 1)? as u64 as usize;
    if pos == 0 {
        return Err(LibError::Arg(3, "offset must be 1 or greater".into()));
    }
    pos -= 1;
    let mut h = Header::default();
    // The results, kept in a Lua table (there may be thousands).
    let out = lua.create_table()?;
    let mut n: usize = 0;
    let short = || LibError::Arg(2, "data string too short".into());
    while let Some(opt) = fmt.next() {
        let mut size = fmt.size_of(opt)?;
        pos = pos.wrapping_add(padding(pos, &h, opt, size));
        if !(size <= ld && pos <= ld - size) {
            return Err(short());
        }
        if a.len() + n + 2 > MAX_C_STACK {
            return Err(LibError::Msg("stack overflow (too many results)".into()));
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let signed = opt.is_ascii_lowercase();
                let v = get_integer(&data[pos..pos + size], h.little, signed, size);
                n += 1;
                out.raw_set(n as i64, v)?;
            }
            b'x' => {}
            b'f' => {
                let mut b = [0u8; 4];
                b.copy_from_slice(&data[pos..pos + 4]);
                let f = if h.little {
                    f32::from_le_bytes(b)
                } else {
                    f32::from_be_bytes(b)
                };
                n += 1;
                out.raw_set(n as i64, f64::from(f))?;
            }
            b'd' => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&data[pos..pos + 8]);
                let d = if h.little {
                    f64::from_le_bytes(b)
                } else {
                    f64::from_be_bytes(b)
                };
                n += 1;
                out.raw_set(n as i64, d)?;
            }
            b'c' => {
                if size == 0 {
                    let prev = if n == 0 {
                        None
                    } else {
                        super::to_number(lua, &out.raw_get::<Value>(n as i64)?)?
                    };
                    let Some(prev_n) = prev else {
                        return Err(LibError::Msg("format 'c0' needs a previous size".into()));
                    };
                    size = c_double_to_u64(prev_n) as usize;
                    out.raw_set(n as i64, Value::Nil)?;
                    n -= 1;
                    if !(size <= ld && pos <= ld - size) {
                        return Err(short());
                    }
                }
                n += 1;
                out.raw_set(n as i64, lua.create_string(&data[pos..pos + size])?)?;
            }
            b's' => {
                let Some(len) = data[pos..].iter().position(|&b| b == 0) else {
                    return Err(LibError::Msg("unfinished string in data".into()));
                };
                n += 1;
                out.raw_set(n as i64, lua.create_string(&data[pos..pos + len])?)?;
                size = len + 1;
            }
            _ => fmt.control(opt, &mut h)?,
        }
        pos = pos.wrapping_add(size);
    }
    n += 1;
    out.raw_set(n as i64, pos.wrapping_add(1) as i64)?;
    Ok(Ret::Spread(out, n))
}

/// `struct.size(fmt)`: the packed size of a format without variable-length items.
fn size(lua: &Lua, a: Args) -> LibResult<Ret> {
    let mut fmt = Format::new(a.check_bytes(lua, 1)?);
    let mut h = Header::default();
    let mut pos: usize = 0;
    while let Some(opt) = fmt.next() {
        let size = fmt.size_of(opt)?;
        pos = pos.wrapping_add(padding(pos, &h, opt, size));
        if opt == b's' {
            return Err(LibError::Arg(1, "option 's' has no fixed size".into()));
        }
        if opt == b'c' && size == 0 {
            return Err(LibError::Arg(1, "option 'c0' has no fixed size".into()));
        }
        if !opt.is_ascii_alphanumeric() {
            fmt.control(opt, &mut h)?;
        }
        pos = pos.wrapping_add(size);
    }
    Ok(one(Value::Integer(pos as i64)))
}

#[cfg(test)]
mod tests {
    use crate::scripting::libs::test_support::run_cases;

    /// Each script was run with `redis-cli eval <script> 0` against redis-server 7.0.15 (after
    /// `SCRIPT FLUSH`, so settings start at their defaults); the second string is what it
    /// printed (a newline in the reply shown as `\n`).
    const REDIS_CASES: &[(&str, &str)] = &[
        (
            r##"local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end return hex(struct.pack('bBhHlLTiI', -1, 255, -2, 65535, -3, 4, 5, -6, 7))"##,
            r##"fffffefffffffdffffffffffffff04000000000000000500000000000000faffffff07000000"##,
        ),
        (
            r##"local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end return hex(struct.pack('>bBhHlLTiI', -1, 255, -2, 65535, -3, 4, 5, -6, 7))"##,
            r##"fffffffefffffffffffffffffffd00000000000000040000000000000005fffffffa00000007"##,
        ),
        (
            r##"local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end return hex(struct.pack('<i3>i3i1I16', -2, 258, 300, -1))"##,
            r##"feffff0001022c0000000000000000ffffffffffffffff"##,
        ),
        (
            r##"local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end return hex(struct.pack('!bibdbh', 1, 2, 3, 4, 5, 6))"##,
            r##"01000000020000000300000000000000000000000000104005000600"##,
        ),
        (
            r##"local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end return hex(struct.pack('!4bdbi3', 1, 2, 3, 4))"##,
            r##"010000000000000000000040030000040000"##,
        ),
        (
            r##"local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end return hex(struct.pack('fd>fd', 1.5, -2.25, 1.5, -2.25))"##,
            r##"0000c03f00000000000002c03fc00000c002000000000000"##,
        ),
        (
            r##"local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end return hex(struct.pack('c3c0sx s', 'abcdef', 'xy', 'zz', 'w'))"##,
            r##"61626378797a7a00007700"##,
        ),
        (
            r##"local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end return hex(struct.pack('LLLL', 2^64, 2^63, 0/0, -2^70))"##,
            r##"0000000000000000000000000000008000000000000000800000000000000080"##,
        ),
        (
            r##"local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end return hex(struct.pack('i', '12'))"##,
            r##"0c000000"##,
        ),
        (
            r##"local ok, e = pcall(struct.pack, 'c5', 'abc') return e"##,
            r##"bad argument #3 to '?' (string too short)"##,
        ),
        (
            r##"local ok, e = pcall(struct.pack, 'i', 'abc') return e"##,
            r##"bad argument #2 to '?' (number expected, got string)"##,
        ),
        (
            r##"local ok, e = pcall(struct.pack, 'i') return e"##,
            r##"bad argument #2 to '?' (number expected, got nil)"##,
        ),
        (
            r##"local ok, e = pcall(struct.pack, 'z', 1) return e"##,
            r##"bad argument #1 to '?' (invalid format option 'z')"##,
        ),
        (
            r##"local ok, e = pcall(struct.pack, 'i33', 1) return e"##,
            r##"integral size 33 is larger than limit of 32"##,
        ),
        (
            r##"local ok, e = pcall(struct.pack, 'i99999999999', 1) return e"##,
            r##"integral size overflow"##,
        ),
        (
            r##"local ok, e = pcall(struct.pack, '!3i', 1) return e"##,
            r##"alignment 3 is not a power of 2"##,
        ),
        (
            r##"local ok, e = pcall(struct.pack, '!0i', 1) return e"##,
            r##"alignment 0 is not a power of 2"##,
        ),
        (
            r##"local ok, e = pcall(struct.pack) return e"##,
            r##"bad argument #1 to '?' (string expected, got no value)"##,
        ),
        (
            r##"local ok, e = pcall(function() return struct.pack('c5', 'abc') end) return e"##,
            r##"user_script:1: bad argument #3 to 'pack' (string too short)"##,
        ),
        (
            r##"return table.concat({struct.unpack('bBhHlLTiI', struct.pack('bBhHlLTiI', -1, 255, -2, 65535, -3, 4, 5, -6, 7))}, ',')"##,
            r##"-1,255,-2,65535,-3,4,5,-6,7,39"##,
        ),
        (
            r##"return table.concat({struct.unpack('>i3<i3I16i16', struct.pack('>i3<i3I16i16', -2, 258, 2^40, -5))}, ',')"##,
            r##"-2,258,1099511627776,-5,39"##,
        ),
        (
            r##"return table.concat({struct.unpack('fd', struct.pack('fd', 0.1, 0.1))}, ',')"##,
            r##"0.10000000149012,0.1,13"##,
        ),
        (
            r##"return table.concat({struct.unpack('i', struct.pack('ii', 1, 2), 5)}, ',')"##,
            r##"2,9"##,
        ),
        (
            r##"return table.concat({struct.unpack('!bxd', struct.pack('!bxd', 1, 2.5))}, ',')"##,
            r##"1,2.5,17"##,
        ),
        (
            r##"local ok, e = pcall(struct.unpack, 'i', 'abc') return e"##,
            r##"bad argument #2 to '?' (data string too short)"##,
        ),
        (
            r##"local ok, e = pcall(struct.unpack, 'i', 'abcd', 2) return e"##,
            r##"bad argument #2 to '?' (data string too short)"##,
        ),
        (
            r##"local ok, e = pcall(struct.unpack, 'i', 'abcd', 0) return e"##,
            r##"bad argument #3 to '?' (offset must be 1 or greater)"##,
        ),
        (
            r##"local ok, e = pcall(struct.unpack, 'i', 'abcd', -1) return e"##,
            r##"bad argument #2 to '?' (data string too short)"##,
        ),
        (
            r##"return table.concat({struct.unpack('', 'abcd', -5)}, ',')"##,
            r##"-5"##,
        ),
        (
            r##"local ok, e = pcall(struct.unpack, 'c0', 'abcd') return e"##,
            r##"format 'c0' needs a previous size"##,
        ),
        (
            r##"local ok, e = pcall(struct.unpack, 'bc0', '\5ab') return e"##,
            r##"bad argument #2 to '?' (data string too short)"##,
        ),
        (
            r##"local ok, e = pcall(struct.unpack, 's', 'abc') return e"##,
            r##"unfinished string in data"##,
        ),
        (
            r##"local ok, e = pcall(struct.unpack, 'z', 'abc') return e"##,
            r##"bad argument #1 to '?' (invalid format option 'z')"##,
        ),
        (
            r##"local ok, e = pcall(struct.unpack, 'i') return e"##,
            r##"bad argument #2 to '?' (string expected, got no value)"##,
        ),
        (
            r##"return table.concat({struct.unpack('x x i', 'abcdefghi')}, ',')"##,
            r##"1717920867,7"##,
        ),
        (
            r##"return struct.size('bBhHlLTiIfdx') .. ' ' .. struct.size('!bd') .. ' ' .. struct.size('i7c9') .. ' ' .. struct.size('z') .. ' ' .. struct.size('>!2bh')"##,
            r##"51 16 16 0 4"##,
        ),
        (
            r##"local ok, e = pcall(struct.size, 's') return e"##,
            r##"bad argument #1 to '?' (option 's' has no fixed size)"##,
        ),
        (
            r##"local ok, e = pcall(struct.size, 'c0') return e"##,
            r##"bad argument #1 to '?' (option 'c0' has no fixed size)"##,
        ),
        (
            r##"local ok, e = pcall(struct.size, '%') return e"##,
            r##"bad argument #1 to '?' (invalid format option '%')"##,
        ),
        (
            r##"local ok, e = pcall(struct.size, 'i40') return e"##,
            r##"integral size 40 is larger than limit of 32"##,
        ),
        (
            r##"return table.concat({struct.unpack('i', 'abcd\0')}, ',')"##,
            r##"1684234849,5"##,
        ),
        (r##"return struct.size('i\0i')"##, r##"4"##),
        (
            r##"return table.concat({struct.unpack('I', struct.pack('i', -1))}, ',')"##,
            r##"4294967295,5"##,
        ),
        (
            r##"return table.concat({struct.unpack('c1c0', '3abc')}, ',')"##,
            r##"abc,5"##,
        ),
        (
            r##"local ok, e = pcall(struct.unpack, 'c1c0', '9abc') return e"##,
            r##"bad argument #2 to '?' (data string too short)"##,
        ),
        (
            r##"local ok, e = pcall(function() return struct:size() end) return e"##,
            r##"user_script:1: calling 'size' on bad self (string expected, got table)"##,
        ),
        (r##"return struct.size(12)"##, r##"0"##),
        (
            r##"return select('#', struct.unpack(string.rep('c1', 7000), string.rep('a', 7000)))"##,
            r##"7001"##,
        ),
        (
            r##"local ok, e = pcall(struct.unpack, string.rep('c1', 8000), string.rep('a', 8000)) return e"##,
            r##"stack overflow (too many results)"##,
        ),
    ];

    #[test]
    fn behaves_like_redis() {
        run_cases(REDIS_CASES);
    }
}
