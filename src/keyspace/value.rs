//! Values stored under keys, and how Redis names their types and encodings.

use std::mem::MaybeUninit;

use bytes::Bytes;

use super::hash::Hash;
use super::list::List;
use super::set::Set;
use super::stream::Stream;
use super::zset::ZSet;

/// Longest string that Redis stores as `embstr` (OBJ_ENCODING_EMBSTR_SIZE_LIMIT).
pub const EMBSTR_LIMIT: usize = 44;

/// Longest string kept inside the value itself, with no allocation of its own.
pub const INLINE_STR: usize = 22;

/// A string value (24 bytes). Integers that fit in an `i64` and print back identically are
/// kept as numbers, as Redis does (`OBJECT ENCODING` answers `int`).
#[derive(Clone)]
pub enum Str {
    Int(i64),
    /// Up to `INLINE_STR` bytes, inside the value.
    Inline {
        len: u8,
        data: [u8; INLINE_STR],
    },
    /// The bytes as a client or a file gave them, in an allocation of exactly their length.
    Heap(Box<[u8]>),
    /// A string modified in place (APPEND, SETRANGE, SETBIT, PFADD ...): `buf` is a growable
    /// buffer whose first `len` bytes are the string, with spare room after them as Redis's
    /// `sdsMakeRoomFor` leaves an sds (so appending is amortized O(1)); Redis then reports
    /// `raw` even for short strings. Held as a boxed slice and a 32-bit length rather than a
    /// `Vec` (24 bytes) so that a `Str` stays 24 bytes; a longer string is kept as `Heap`.
    Raw {
        len: u32,
        buf: Box<[MaybeUninit<u8>]>,
    },
}

const _: () = assert!(std::mem::size_of::<Str>() == 24);

impl Str {
    /// Builds a string as redis `tryObjectEncoding` would store a value given by a client.
    pub fn from_bytes(b: &[u8]) -> Str {
        Str::as_int(b).unwrap_or_else(|| Str::plain(b))
    }

    /// A string never kept as `int` (INCRBYFLOAT's result).
    pub fn plain(b: &[u8]) -> Str {
        Str::inline(b).unwrap_or_else(|| Str::Heap(b.into()))
    }

    /// `from_bytes` keeping an owned buffer instead of copying it when it can (values loaded
    /// from RDB).
    pub fn from_owned(b: Bytes) -> Str {
        Str::as_int(&b)
            .or_else(|| Str::inline(&b))
            .unwrap_or_else(|| Str::Heap(Vec::from(b).into_boxed_slice()))
    }

    /// The `int` form, for integers that print back identically.
    fn as_int(b: &[u8]) -> Option<Str> {
        if b.len() <= 20 {
            crate::util::parse_i64(b).map(Str::Int)
        } else {
            None
        }
    }

    /// The inline form, for strings of at most `INLINE_STR` bytes.
    fn inline(b: &[u8]) -> Option<Str> {
        if b.len() > INLINE_STR {
            return None;
        }
        let mut data = [0u8; INLINE_STR];
        data[..b.len()].copy_from_slice(b);
        Some(Str::Inline {
            len: b.len() as u8,
            data,
        })
    }

    /// A string that was modified in place: never `int`, always `raw`.
    pub fn raw(v: Vec<u8>) -> Str {
        let Ok(len) = u32::try_from(v.len()) else {
            return Str::Heap(v.into_boxed_slice());
        };
        let mut v = std::mem::ManuallyDrop::new(v);
        let (ptr, cap) = (v.as_mut_ptr(), v.capacity());
        // SAFETY: the vector's allocation (`cap` bytes, alignment 1, from the global allocator)
        // becomes a boxed slice of `cap` `MaybeUninit<u8>`, which has the same layout; the
        // vector is never dropped. Its first `len` bytes are initialized, as `Raw` requires.
        let buf = unsafe {
            Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                ptr.cast::<MaybeUninit<u8>>(),
                cap,
            ))
        };
        Str::Raw { len, buf }
    }

    /// The bytes of a non-integer string (None for `int`).
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Str::Int(_) => None,
            Str::Inline { len, data } => Some(&data[..*len as usize]),
            Str::Heap(b) => Some(b),
            Str::Raw { len, buf } => {
                // SAFETY: the first `len` bytes of a `Raw` buffer are initialized.
                Some(unsafe {
                    std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), *len as usize)
                })
            }
        }
    }

    /// Runs `f` on the string as a buffer to modify in place, and keeps it `raw` (an integer
    /// is rendered in decimal first). Grow the buffer with `make_room`.
    pub fn with_raw<R>(&mut self, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        let v = match std::mem::replace(self, Str::Int(0)) {
            Str::Int(i) => itoa::Buffer::new().format(i).as_bytes().to_vec(),
            Str::Inline { len, data } => data[..len as usize].to_vec(),
            Str::Heap(b) => b.into_vec(),
            Str::Raw { len, buf } => {
                let cap = buf.len();
                let ptr = Box::into_raw(buf).cast::<u8>();
                // SAFETY: the inverse of `Str::raw`: the boxed slice's `cap` bytes are a
                // global-allocator allocation of alignment 1, and the first `len` are
                // initialized.
                unsafe { Vec::from_raw_parts(ptr, len as usize, cap) }
            }
        };
        // Put back when `f` returns or unwinds: a panic inside it leaves the string as `f`
        // left it, never the placeholder.
        struct PutBack<'a> {
            s: &'a mut Str,
            v: Vec<u8>,
        }
        impl Drop for PutBack<'_> {
            fn drop(&mut self) {
                *self.s = Str::raw(std::mem::take(&mut self.v));
            }
        }
        let mut back = PutBack { s: self, v };
        f(&mut back.v)
    }

    /// The value as bytes (integers are rendered in decimal).
    pub fn to_bytes(&self) -> Bytes {
        match self {
            Str::Int(i) => {
                let mut buf = itoa::Buffer::new();
                Bytes::copy_from_slice(buf.format(*i).as_bytes())
            }
            s => Bytes::copy_from_slice(s.bytes().unwrap_or_default()),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Str::Int(i) => itoa::Buffer::new().format(*i).len(),
            Str::Inline { len, .. } => *len as usize,
            Str::Heap(b) => b.len(),
            Str::Raw { len, .. } => *len as usize,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Str::Int(_) => "int",
            Str::Raw { .. } => "raw",
            s if s.len() <= EMBSTR_LIMIT => "embstr",
            _ => "raw",
        }
    }
}

impl PartialEq for Str {
    /// Equal encodings (`int` or not) with equal bytes.
    fn eq(&self, other: &Str) -> bool {
        match (self, other) {
            (Str::Int(a), Str::Int(b)) => a == b,
            (Str::Int(_), _) | (_, Str::Int(_)) => false,
            (a, b) => a.bytes() == b.bytes(),
        }
    }
}

impl std::fmt::Debug for Str {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Str::Int(i) => write!(f, "Int({i})"),
            s => write!(
                f,
                "{}({:?})",
                s.encoding(),
                String::from_utf8_lossy(s.bytes().unwrap_or_default())
            ),
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

// A string takes 24 bytes, whose tag byte's spare values tell the other kinds apart; every
// other kind fits in the 16 bytes after that tag's word.
const _: () = assert!(std::mem::size_of::<Value>() == 24);

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_take_the_smallest_form() {
        assert!(matches!(Str::from_bytes(b"12345"), Str::Int(12345)));
        assert!(matches!(
            Str::from_bytes(b"012"),
            Str::Inline { len: 3, .. }
        ));
        assert!(matches!(Str::from_bytes(&[b'x'; 22]), Str::Inline { .. }));
        assert!(matches!(Str::from_bytes(&[b'x'; 23]), Str::Heap(_)));
        assert!(matches!(Str::plain(b"7"), Str::Inline { .. }));
        assert_eq!(Str::from_bytes(&[b'x'; 44]).encoding(), "embstr");
        assert_eq!(Str::from_bytes(&[b'x'; 45]).encoding(), "raw");
        assert_eq!(Str::from_bytes(b"").bytes(), Some(&b""[..]));
    }

    #[test]
    fn raw_strings_grow_in_place_and_survive_a_panic() {
        let mut s = Str::from_bytes(b"42");
        let len = s.with_raw(|v| {
            make_room(v, 3);
            v.extend_from_slice(b"abc");
            v.len()
        });
        assert_eq!(len, 5);
        assert_eq!(s.bytes(), Some(&b"42abc"[..]));
        assert_eq!(s.encoding(), "raw");
        let cap = match &s {
            Str::Raw { buf, .. } => buf.len(),
            other => panic!("{other:?}"),
        };
        assert!(cap >= 10, "grown as an sds: twice the new length");
        let copy = s.clone();
        assert_eq!(copy, s);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            s.with_raw(|v| {
                v.push(b'!');
                panic!("inside");
            })
        }));
        assert!(r.is_err());
        assert_eq!(s.bytes(), Some(&b"42abc!"[..]));
    }
}
