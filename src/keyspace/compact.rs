//! `Compact`: immutable bytes in 16 bytes, as the keyspace holds keys and string values.
//! Up to 15 bytes are stored inline (no allocation); longer contents live in one exact-size heap
//! allocation, with no reference count and no spare capacity (a `Bytes` handle is 32 bytes plus
//! a shared header once cloned). Hashes and compares as the `[u8]` it holds, so tables keyed by
//! `Compact` are looked up with `&[u8]`.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ptr::NonNull;

/// Longest contents stored inline.
pub const INLINE_MAX: usize = 15;

/// Marks an inline key in its last byte (`TAG | len`). A heap key's last byte is the top byte of
/// its little-endian length, always zero.
const TAG: u8 = 0x80;

pub struct Compact(Repr);

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

const _: () = assert!(std::mem::size_of::<Heap>() == 16 && std::mem::size_of::<Compact>() == 16);

// SAFETY: a `Compact` owns its bytes exclusively and never mutates them.
unsafe impl Send for Compact {}
// SAFETY: as above; shared access only reads.
unsafe impl Sync for Compact {}

impl Compact {
    pub fn new(b: &[u8]) -> Compact {
        if b.len() <= INLINE_MAX {
            let mut inline = [0u8; 16];
            inline[..b.len()].copy_from_slice(b);
            inline[15] = TAG | b.len() as u8;
            return Compact(Repr { inline });
        }
        Compact::from_box(b.into())
    }

    /// Takes `v` over (without copying unless it is short, or has spare capacity to shed).
    pub fn from_vec(v: Vec<u8>) -> Compact {
        if v.len() <= INLINE_MAX {
            return Compact::new(&v);
        }
        Compact::from_box(v.into_boxed_slice())
    }

    /// The contents as a vector (without copying when they are on the heap).
    pub fn into_vec(self) -> Vec<u8> {
        if self.is_inline() {
            return self.as_bytes().to_vec();
        }
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: reconstitutes the box leaked in `from_box`; `this` is never dropped.
        unsafe {
            let h = this.0.heap;
            let len = u64::from_le_bytes(h.len) as usize;
            Box::from_raw(std::ptr::slice_from_raw_parts_mut(h.ptr.as_ptr(), len)).into_vec()
        }
    }

    /// `boxed` (longer than `INLINE_MAX`) on the heap.
    fn from_box(boxed: Box<[u8]>) -> Compact {
        debug_assert!(boxed.len() > INLINE_MAX);
        let len = (boxed.len() as u64).to_le_bytes();
        // A `Box<[u8]>` pointer is never null (dangling-but-non-null when empty; never empty here).
        let ptr = NonNull::new(Box::into_raw(boxed).cast::<u8>()).unwrap_or(NonNull::dangling());
        Compact(Repr {
            heap: Heap { ptr, len },
        })
    }

    fn is_inline(&self) -> bool {
        // SAFETY: all 16 bytes are initialized in both representations.
        unsafe { self.0.inline[15] & TAG != 0 }
    }

    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: the tag byte says which representation was written; a heap key's pointer and
        // length come from the box leaked in `from_box`, alive until `drop`.
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

impl Drop for Compact {
    fn drop(&mut self) {
        if !self.is_inline() {
            // SAFETY: reconstitutes the box leaked in `from_box`, exactly once.
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

impl Default for Compact {
    fn default() -> Compact {
        Compact::new(b"")
    }
}

impl Clone for Compact {
    fn clone(&self) -> Compact {
        Compact::new(self.as_bytes())
    }
}

impl std::ops::Deref for Compact {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for Compact {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Borrow<[u8]> for Compact {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Hash for Compact {
    /// Exactly `[u8]`'s hash, as `Borrow` requires.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state)
    }
}

impl PartialEq for Compact {
    fn eq(&self, other: &Compact) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Compact {}

impl PartialEq<[u8]> for Compact {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_bytes() == other
    }
}

impl From<&[u8]> for Compact {
    fn from(b: &[u8]) -> Compact {
        Compact::new(b)
    }
}

impl From<&bytes::Bytes> for Compact {
    fn from(b: &bytes::Bytes) -> Compact {
        Compact::new(b)
    }
}

impl From<bytes::Bytes> for Compact {
    fn from(b: bytes::Bytes) -> Compact {
        Compact::new(&b)
    }
}

impl fmt::Debug for Compact {
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
            let k = Compact::new(&b);
            assert_eq!(k.as_bytes(), &b[..]);
            assert_eq!(k.is_inline(), len <= INLINE_MAX);
            let c = k.clone();
            drop(k);
            assert_eq!(&*c, &b[..]);
            assert_eq!(c.into_vec(), b);
            assert_eq!(&*Compact::from_vec(b.clone()), &b[..]);
        }
    }

    #[test]
    fn hashes_as_its_bytes() {
        let s = foldhash::fast::FixedState::with_seed(7);
        for b in [&b""[..], b"abc", b"a key longer than fifteen bytes"] {
            assert_eq!(s.hash_one(Compact::new(b)), s.hash_one(b));
        }
    }
}
