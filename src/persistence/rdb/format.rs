//! The RDB byte layout (version 10, as Redis 7.0 writes it), and the constants derived from it.
//!
//! ```text
//! "REDIS" "0010"                         magic and 4-digit version
//! { 0xFA <string key> <string value> }   aux fields: redis-ver, redis-bits, ctime, used-mem,
//!                                         repl-stream-db, repl-id, repl-offset, aof-base
//! per database:
//!   0xFE <length db>                     SELECTDB
//!   0xFB <length size> <length expires>  RESIZEDB (a hint)
//!   { [0xFC <8-byte LE ms>] [0xF8 <length lru> | 0xF9 <u8 lfu>] <type> <string key> <value> }
//! 0xFF <8-byte LE CRC64 (Jones, reflected) of everything before it; 0 = not computed>
//! ```
//! Lengths: `00xxxxxx` (6 bits), `01xxxxxx xxxxxxxx` (14 bits), `0x80` + 32-bit BE,
//! `0x81` + 64-bit BE; `11xxxxxx` marks a special string encoding: 0 = int8, 1 = int16,
//! 2 = int32 (little endian), 3 = LZF (`<clen> <len> <data>`).

pub const MAGIC: &[u8] = b"REDIS";
pub const VERSION: u32 = 10;

pub const OPCODE_FUNCTION2: u8 = 245;
pub const OPCODE_FUNCTION_PRE_GA: u8 = 246;
pub const OPCODE_MODULE_AUX: u8 = 247;
pub const OPCODE_IDLE: u8 = 248;
pub const OPCODE_FREQ: u8 = 249;
pub const OPCODE_AUX: u8 = 250;
pub const OPCODE_RESIZEDB: u8 = 251;
pub const OPCODE_EXPIRETIME_MS: u8 = 252;
pub const OPCODE_EXPIRETIME: u8 = 253;
pub const OPCODE_SELECTDB: u8 = 254;
pub const OPCODE_EOF: u8 = 255;

pub const TYPE_STRING: u8 = 0;
pub const TYPE_LIST: u8 = 1;
pub const TYPE_SET: u8 = 2;
pub const TYPE_ZSET: u8 = 3;
pub const TYPE_HASH: u8 = 4;
pub const TYPE_ZSET_2: u8 = 5;
pub const TYPE_MODULE_PRE_GA: u8 = 6;
pub const TYPE_MODULE_2: u8 = 7;
pub const TYPE_HASH_ZIPMAP: u8 = 9;
pub const TYPE_LIST_ZIPLIST: u8 = 10;
pub const TYPE_SET_INTSET: u8 = 11;
pub const TYPE_ZSET_ZIPLIST: u8 = 12;
pub const TYPE_HASH_ZIPLIST: u8 = 13;
pub const TYPE_LIST_QUICKLIST: u8 = 14;
pub const TYPE_STREAM_LISTPACKS: u8 = 15;
pub const TYPE_HASH_LISTPACK: u8 = 16;
pub const TYPE_ZSET_LISTPACK: u8 = 17;
pub const TYPE_LIST_QUICKLIST_2: u8 = 18;
pub const TYPE_STREAM_LISTPACKS_2: u8 = 19;

pub const LEN_6BIT: u8 = 0;
pub const LEN_14BIT: u8 = 1;
pub const LEN_32BIT: u8 = 0x80;
pub const LEN_64BIT: u8 = 0x81;
pub const LEN_ENCVAL: u8 = 3;

pub const ENC_INT8: u8 = 0;
pub const ENC_INT16: u8 = 1;
pub const ENC_INT32: u8 = 2;
pub const ENC_LZF: u8 = 3;

/// The CRC-64 Redis uses for RDB files and DUMP payloads, with slice-by-16 tables (eight times
/// faster than one table: the checksum of a whole file was otherwise a quarter of the time
/// to load or write it).
pub static CRC64: crc::Crc<u64, crc::Table<16>> =
    crc::Crc::<u64, crc::Table<16>>::new(&crc::CRC_64_REDIS);

/// A running CRC64 over a stream (file writers and loaders).
pub type Crc64Digest = crc::Digest<'static, u64, crc::Table<16>>;
