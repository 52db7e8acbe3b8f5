//! Values stored under keys, and how Redis names their types and encodings.

use bytes::Bytes;

use super::hash::Hash;
use super::list::List;
use super::set::Set;
use super::stream::Stream;
use super::zset::ZSet;

/// Longest string that Redis stores as `embstr` (OBJ_ENCODING_EMBSTR_SIZE_LIMIT).
pub const EMBSTR_LIMIT: usize = 44;

/// A string value. Integers that fit in an `i64` and print back identically are kept as numbers,
/// as Redis does (`OBJECT ENCODING` answers `int`).
#[derive(Debug, Clone, PartialEq)]
pub enum Str {
    Int(i64),
    /// The bytes as a client or a file gave them.
    Bytes {
        data: Bytes,
    },
    /// A string modified in place (APPEND, SETRANGE, SETBIT, PFADD ...): a growable buffer with
    /// spare room, as Redis's `sdsMakeRoomFor` leaves an sds (so appending is amortized O(1));
    /// Redis then reports `raw` even for short strings. A `Vec` rather than `Bytes`: a `Bytes`
    /// with spare capacity allocates a shared header of its own.
    Raw(Vec<u8>),
}

impl Str {
    /// Builds a string as redis `tryObjectEncoding` would store a value given by a client.
    pub fn from_bytes(b: &[u8]) -> Str {
        Str::as_int(b).unwrap_or_else(|| Str::Bytes {
            data: Bytes::copy_from_slice(b),
        })
    }

    /// `from_bytes` keeping an owned buffer instead of copying it (values loaded from RDB).
    pub fn from_owned(b: Bytes) -> Str {
        Str::as_int(&b).unwrap_or(Str::Bytes { data: b })
    }

    /// The `int` form, for integers that print back identically.
    fn as_int(b: &[u8]) -> Option<Str> {
        if b.len() <= 20 {
            crate::util::parse_i64(b).map(Str::Int)
        } else {
            None
        }
    }

    /// A string that was modified in place: never `int`, always `raw`.
    pub fn raw(b: Vec<u8>) -> Str {
        Str::Raw(b)
    }

    /// The bytes of a non-integer string (None for `int`).
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Str::Int(_) => None,
            Str::Bytes { data } => Some(data),
            Str::Raw(v) => Some(v),
        }
    }

    /// The string as a buffer to modify in place, made `raw` (an integer is rendered in
    /// decimal first). Grow it with `make_room`.
    pub fn raw_mut(&mut self) -> &mut Vec<u8> {
        if !matches!(self, Str::Raw(_)) {
            let v = match std::mem::replace(self, Str::Raw(Vec::new())) {
                Str::Int(i) => itoa::Buffer::new().format(i).as_bytes().to_vec(),
                Str::Bytes { data } => Vec::from(data),
                Str::Raw(v) => v,
            };
            *self = Str::Raw(v);
        }
        match self {
            Str::Raw(v) => v,
            _ => unreachable!("made raw above"),
        }
    }

    /// The value as bytes (integers are rendered in decimal).
    pub fn to_bytes(&self) -> Bytes {
        match self {
            Str::Int(i) => {
                let mut buf = itoa::Buffer::new();
                Bytes::copy_from_slice(buf.format(*i).as_bytes())
            }
            Str::Bytes { data } => crate::util::reply_copy(data),
            Str::Raw(v) => Bytes::copy_from_slice(v),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Str::Int(i) => itoa::Buffer::new().format(*i).len(),
            Str::Bytes { data } => data.len(),
            Str::Raw(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Str::Int(_) => "int",
            Str::Raw(_) => "raw",
            Str::Bytes { data } if data.len() <= EMBSTR_LIMIT => "embstr",
            Str::Bytes { .. } => "raw",
        }
    }
}

/// Makes room in a string modified in place for `extra` more bytes, as Redis's
/// `sdsMakeRoomFor` does: to twice the new length below 1 MB, 1 MB more above.
pub fn make_room(v: &mut Vec<u8>, extra: usize) {
    let need = v.len().saturating_add(extra);
    if need <= v.capacity() {
        return;
    }
    let target = if need < 1 << 20 {
        need * 2
    } else {
        need.saturating_add(1 << 20)
    };
    v.reserve_exact(target - v.len());
}

/// One stored value.
#[derive(Debug, Clone)]
pub enum Value {
    Str(Str),
    List(List),
    Hash(Hash),
    Set(Set),
    ZSet(ZSet),
    /// Boxed: a stream's header is much larger than the other values'.
    Stream(Box<Stream>),
}

// A string's bytes handle and its `raw` flag (40 bytes, the flag's spare values tell the
// other kinds apart); every other kind fits in 32 bytes.
const _: () = assert!(std::mem::size_of::<Value>() == 40);

/// Value kinds, as TYPE names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    List,
    Hash,
    Set,
    ZSet,
    Stream,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::List => "list",
            Kind::Hash => "hash",
            Kind::Set => "set",
            Kind::ZSet => "zset",
            Kind::Stream => "stream",
        }
    }

    /// Parses a TYPE name as SCAN's TYPE option accepts it (case-insensitive).
    pub fn from_name(name: &[u8]) -> Option<Kind> {
        let lower = name.to_ascii_lowercase();
        Some(match &lower[..] {
            b"string" => Kind::String,
            b"list" => Kind::List,
            b"hash" => Kind::Hash,
            b"set" => Kind::Set,
            b"zset" => Kind::ZSet,
            b"stream" => Kind::Stream,
            _ => return None,
        })
    }
}

impl Value {
    pub fn kind(&self) -> Kind {
        match self {
            Value::Str(_) => Kind::String,
            Value::List(_) => Kind::List,
            Value::Hash(_) => Kind::Hash,
            Value::Set(_) => Kind::Set,
            Value::ZSet(_) => Kind::ZSet,
            Value::Stream(_) => Kind::Stream,
        }
    }

    /// The name `OBJECT ENCODING` answers.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => s.encoding(),
            Value::List(l) => l.encoding(),
            Value::Hash(h) => h.encoding(),
            Value::Set(s) => s.encoding(),
            Value::ZSet(z) => z.encoding(),
            Value::Stream(_) => "stream",
        }
    }

    /// Whether a copy costs about as little as a small allocation: strings (shared bytes),
    /// packed collections, short lists. The snapshot walk copies such values under the shard
    /// lock and encodes them after releasing it.
    pub fn cheap_to_clone(&self) -> bool {
        match self {
            Value::Str(s) => s.len() <= 16 * 1024,
            Value::List(l) => l.len() <= 128,
            Value::Hash(h) => matches!(h, Hash::Listpack(_)),
            Value::Set(s) => matches!(s, Set::Intset(_)),
            Value::ZSet(z) => matches!(z, ZSet::Listpack(_)),
            Value::Stream(s) => s.node_count() <= 4 && s.groups.is_empty(),
        }
    }

    /// About how many allocations freeing the value takes (redis `lazyfreeGetFreeEffort`):
    /// the elements of a table, the nodes of a list or stream plus its groups' pending
    /// entries (estimated from the first group's), 1 for packed forms and strings.
    pub fn free_effort(&self) -> usize {
        match self {
            Value::List(l) => l.node_count(),
            Value::Hash(h @ Hash::Table(_)) => h.len(),
            Value::Set(m @ Set::Table(_)) => m.len(),
            Value::ZSet(z @ ZSet::Skiplist(_)) => z.len(),
            Value::Stream(s) => {
                let groups = s.groups.len();
                let first_pel = s.groups.values().next().map_or(0, |g| g.pel.len());
                s.node_count() + groups * (1 + first_pel)
            }
            _ => 1,
        }
    }

    /// Whether a collection became empty (Redis deletes such keys).
    pub fn is_empty_collection(&self) -> bool {
        match self {
            Value::Str(_) => false,
            Value::List(l) => l.is_empty(),
            Value::Hash(h) => h.is_empty(),
            Value::Set(s) => s.is_empty(),
            Value::ZSet(z) => z.is_empty(),
            // An empty stream is a value of its own (XADD MAXLEN 0, XGROUP CREATE MKSTREAM).
            Value::Stream(_) => false,
        }
    }
}

/// One entry of the keyspace: the value, its access clock (LRU seconds or LFU counter), and
/// the snapshot epoch it was last captured in (see `keyspace::Capture`).
#[derive(Debug, Clone)]
pub struct Entry {
    pub value: Value,
    pub lru: u32,
    pub ver: u32,
    /// Where the table lists this entry's expiry time, if it has one (see `Table`).
    pub(super) vol: u32,
    /// 32 bits of the key's hash, kept by the table (in what would be padding).
    pub(super) hash: u32,
}

impl Entry {
    pub fn new(value: Value, lru: u32, ver: u32) -> Entry {
        Entry {
            value,
            lru,
            ver,
            vol: super::table::NO_EXPIRE,
            hash: 0,
        }
    }
}
