//! `Key`: a key as the keyspace tables hold it, in 16 bytes. Keys of up to 15 bytes are stored
//! inline (no allocation); a longer key lives in one exact-size heap allocation, with no
//! reference count and no spare capacity (a `Bytes` handle is 32 bytes plus a shared header once
//! cloned). Hashes and compares as the `[u8]` it holds, so tables keyed by `Key` are looked up
//! with `&[u8]`.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ptr::NonNull;

/// Longest key stored inline.
pub const INLINE_MAX: usize = 15;

/// Marks an inline key in its last byte (`TAG | len`). A heap key's last byte is the top byte of
/// its little-endian length, always zero.
const TAG: u8 = 0x80;

pub struct Key(Repr);

#[repr(C)]
union Repr {
    inline: [u8; 16],
    heap: Heap,
}

#[derive(Clone, Copy)]
#[repr(C)]
struct Heap {
    /// A leaked `Box<[u8]>` of `len` bytes.
    ptr: NonNull<u8>,
    /// The length, little-endian whatever the platform, so its last byte is byte 15 of `Repr`.
    len: [u8; 8],
}

const _: () = assert!(std::mem::size_of::<Heap>() == 16 && std::mem::size_of::<Key>() == 16);

// SAFETY: a `Key` owns its bytes exclusively and never mutates them.
unsafe impl Send for Key {}
// SAFETY: as above; shared access only reads.
unsafe impl Sync for Key {}

impl Key {
    pub fn new(b: &[u8]) -> Key {
        if b.len() <= INLINE_MAX {
            let mut inline = [0u8; 16];
            inline[..b.len()].copy_from_slice(b);
            inline[15] = TAG | b.len() as u8;
            return Key(Repr { inline });
        }
        let boxed: Box<[u8]> = b.into();
        let len = (boxed.len() as u64).to_le_bytes();
        // A `Box<[u8]>` pointer is never null (dangling-but-non-null when empty; never empty here).
        let ptr = NonNull::new(Box::into_raw(boxed).cast::<u8>()).unwrap_or(NonNull::dangling());
        Key(Repr {
            heap: Heap { ptr, len },
        })
    }

    fn is_inline(&self) -> bool {
        // SAFETY: all 16 bytes are initialized in both representations.
        unsafe { self.0.inline[15] & TAG != 0 }
    }

    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: the tag byte says which representation was written; a heap key's pointer and
        // length come from the box leaked in `new`, alive until `drop`.
        unsafe {
            if self.is_inline() {
                let len = usize::from(self.0.inline[15] & !TAG);
                &self.0.inline[..len]
            } else {
                let h = self.0.heap;
                std::slice::from_raw_parts(h.ptr.as_ptr(), u64::from_le_bytes(h.len) as usize)
            }
        }
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        if !self.is_inline() {
            // SAFETY: reconstitutes the box leaked in `new`, exactly once.
            unsafe {
                let h = self.0.heap;
                let len = u64::from_le_bytes(h.len) as usize;
                drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                    h.ptr.as_ptr(),
                    len,
                )));
            }
        }
    }
}

impl Clone for Key {
    fn clone(&self) -> Key {
        Key::new(self.as_bytes())
    }
}

impl std::ops::Deref for Key {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for Key {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Hash for Key {
    /// Exactly `[u8]`'s hash, as `Borrow` requires.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state)
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Key {}

impl PartialEq<[u8]> for Key {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_bytes() == other
    }
}

impl From<&[u8]> for Key {
    fn from(b: &[u8]) -> Key {
        Key::new(b)
    }
}

impl From<&bytes::Bytes> for Key {
    fn from(b: &bytes::Bytes) -> Key {
        Key::new(b)
    }
}

impl From<bytes::Bytes> for Key {
    fn from(b: bytes::Bytes) -> Key {
        Key::new(&b)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&bytes::Bytes::copy_from_slice(self.as_bytes()), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn inline_and_heap_keys_round_trip() {
        for len in [0, 1, 14, 15, 16, 17, 100, 70_000] {
            let b: Vec<u8> = (0..len).map(|i| (i % 251) as u8 | 0x80).collect();
            let k = Key::new(&b);
            assert_eq!(k.as_bytes(), &b[..]);
            assert_eq!(k.is_inline(), len <= INLINE_MAX);
            let c = k.clone();
            drop(k);
            assert_eq!(&*c, &b[..]);
        }
    }

    #[test]
    fn hashes_as_its_bytes() {
        let s = foldhash::fast::FixedState::with_seed(7);
        for b in [&b""[..], b"abc", b"a key longer than fifteen bytes"] {
            assert_eq!(s.hash_one(Key::new(b)), s.hash_one(b));
        }
    }
}
