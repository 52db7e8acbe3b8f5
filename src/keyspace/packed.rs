//! `Packed`: a byte buffer in one pointer, for the packed small encodings (listpack hashes and
//! sorted sets, intsets).
//!
//! The heap block holds the length (LEB128: one byte below 128, two below 16 KB), then the
//! bytes. As a Redis listpack is, the block is always exactly header + length bytes: every
//! change reallocates to the new size, which the allocator does in place while the size stays
//! inside its size class, and its classes grow geometrically, so growing one element at a time
//! costs amortized O(1) copies. An empty buffer owns no block.
//!
//! A `Vec<u8>` would take 24 bytes inside the value where this takes 8, and keep spare capacity.

use std::alloc::{self, Layout};
use std::fmt;
use std::ops::Range;
use std::ptr::NonNull;

/// Longest contents. The owners convert to their large encodings long before (as Redis's
/// `lpSafeToAdd`, at 1 GB).
pub const MAX_LEN: usize = u32::MAX as usize;

/// Aligned to 4 only, so that an owner with a 32-bit count beside it takes 12 bytes and leaves
/// its enum's tag room in 16.
#[repr(C, packed(4))]
pub struct Packed {
    /// The block's address; None while empty.
    block: Option<NonNull<u8>>,
}

// SAFETY: a `Packed` owns its block exclusively; `&Packed` only reads it.
unsafe impl Send for Packed {}
// SAFETY: as above.
unsafe impl Sync for Packed {}

/// Bytes of the header of a block holding `len` bytes: the length as LEB128.
fn header_len(len: usize) -> usize {
    super::varint::len(len as u64)
}

fn layout(len: usize) -> Layout {
    // At most u32::MAX + 5 bytes, alignment 1: never an invalid layout.
    Layout::from_size_align(header_len(len) + len, 1).unwrap_or(Layout::new::<u8>())
}

/// The length recorded at the start of block `b`.
fn len_of(b: NonNull<u8>) -> usize {
    let mut len = 0usize;
    for i in 0..5 {
        // SAFETY: a block starts with its length's LEB128 bytes, the last without the high bit.
        let byte = unsafe { *b.as_ptr().add(i) };
        len |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            break;
        }
    }
    len
}

/// Writes `len` as LEB128 at `at`.
///
/// # Safety
/// `at` must be valid for writes of `header_len(len)` bytes.
unsafe fn write_len(at: *mut u8, len: usize) {
    // SAFETY: the caller's promise.
    let out = unsafe { std::slice::from_raw_parts_mut(at, header_len(len)) };
    super::varint::write(out, len as u64);
}

/// Where the bytes of block `b` start.
fn data_of(b: NonNull<u8>) -> *mut u8 {
    // SAFETY: the header is part of the block.
    unsafe { b.as_ptr().add(header_len(len_of(b))) }
}

impl Packed {
    pub const fn new() -> Packed {
        Packed { block: None }
    }

    pub fn from_slice(b: &[u8]) -> Packed {
        let mut p = Packed::new();
        p.splice(0..0, b);
        p
    }

    pub fn len(&self) -> usize {
        self.block.map_or(0, len_of)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the block takes from the allocator (0 without one).
    pub fn heap_bytes(&self) -> usize {
        self.block
            .map_or(0, |b| crate::util::jemalloc_size(layout(len_of(b)).size()))
    }

    /// Makes the block hold `len` bytes after the header (allocating, growing or shrinking it,
    /// freeing it at 0), keeping the first `min(old, len)` bytes, and records `len`.
    fn resize_block(&mut self, len: usize) {
        assert!(len <= MAX_LEN, "packed buffer over {MAX_LEN} bytes");
        if len == 0 {
            self.clear();
            return;
        }
        let new = layout(len);
        let new_h = header_len(len);
        let ptr = match self.block {
            // SAFETY: a nonzero size.
            None => unsafe { alloc::alloc(new) },
            Some(b) => {
                let old = len_of(b);
                let (old_h, keep) = (header_len(old), old.min(len));
                let before = layout(old);
                // SAFETY: the block was allocated with `layout(old)`; `new` is nonzero. The kept
                // bytes move between the two header sizes before a shrink (inside the old
                // block) or after a growth (inside the new one).
                unsafe {
                    if new.size() < before.size() && old_h != new_h {
                        std::ptr::copy(b.as_ptr().add(old_h), b.as_ptr().add(new_h), keep);
                    }
                    let p = alloc::realloc(b.as_ptr(), before, new.size());
                    if !p.is_null() && new.size() >= before.size() && old_h != new_h {
                        std::ptr::copy(p.add(old_h), p.add(new_h), keep);
                    }
                    p
                }
            }
        };
        let Some(ptr) = NonNull::new(ptr) else {
            alloc::handle_alloc_error(new)
        };
        // SAFETY: the block just sized starts with room for the header.
        unsafe { write_len(ptr.as_ptr(), len) };
        self.block = Some(ptr);
    }

    /// Replaces the bytes in `range` with `with` (insert with an empty range, remove with an
    /// empty `with`).
    pub fn splice(&mut self, range: Range<usize>, with: &[u8]) {
        self.splice_with(range, with.len(), |gap| gap.copy_from_slice(with));
    }

    /// Replaces the bytes in `range` with `n` bytes that `fill` writes (it is handed exactly
    /// `n` zeroed bytes).
    pub fn splice_with(&mut self, range: Range<usize>, n: usize, fill: impl FnOnce(&mut [u8])) {
        let old = self.len();
        assert!(
            range.start <= range.end && range.end <= old,
            "splice out of bounds"
        );
        let new = old - range.len() + n;
        if new == old && n == 0 {
            return;
        }
        let tail = old - range.end;
        if new > old {
            self.resize_block(new);
        }
        if let Some(b) = self.block {
            // SAFETY: the block holds max(old, new) bytes after the header here; the tail moves
            // within them, and the gap is zeroed (a grown block's new bytes are uninitialized)
            // before `fill` sees it.
            unsafe {
                let data = data_of(b);
                std::ptr::copy(data.add(range.end), data.add(range.start + n), tail);
                let gap = data.add(range.start);
                std::ptr::write_bytes(gap, 0, n);
                fill(std::slice::from_raw_parts_mut(gap, n));
            }
        }
        if new < old {
            self.resize_block(new);
        }
    }

    pub fn extend_from_slice(&mut self, b: &[u8]) {
        let len = self.len();
        self.splice(len..len, b);
    }

    /// Removes the bytes in `range`.
    pub fn remove(&mut self, range: Range<usize>) {
        self.splice(range, &[]);
    }

    pub fn truncate(&mut self, len: usize) {
        let old = self.len();
        if len < old {
            self.splice(len..old, &[]);
        }
    }

    /// Empties the buffer and frees its block.
    pub fn clear(&mut self) {
        if let Some(b) = self.block {
            self.block = None;
            // SAFETY: allocated with `layout(its len)`, and no longer referenced.
            unsafe { alloc::dealloc(b.as_ptr(), layout(len_of(b))) };
        }
    }
}

impl Default for Packed {
    fn default() -> Self {
        Packed::new()
    }
}

impl Drop for Packed {
    fn drop(&mut self) {
        self.clear();
    }
}

impl std::ops::Deref for Packed {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self.block {
            None => &[],
            // SAFETY: the block holds `len` initialized bytes after its header.
            Some(b) => unsafe { std::slice::from_raw_parts(data_of(b), len_of(b)) },
        }
    }
}

impl std::ops::DerefMut for Packed {
    fn deref_mut(&mut self) -> &mut [u8] {
        match self.block {
            None => &mut [],
            // SAFETY: as in `deref`, and we hold the only reference.
            Some(b) => unsafe { std::slice::from_raw_parts_mut(data_of(b), len_of(b)) },
        }
    }
}

impl Clone for Packed {
    fn clone(&self) -> Self {
        Packed::from_slice(self)
    }
}

impl PartialEq for Packed {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for Packed {}

impl fmt::Debug for Packed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Packed").field(&&**self).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splices_like_a_vec() {
        let mut p = Packed::new();
        let mut v: Vec<u8> = Vec::new();
        assert_eq!(std::mem::size_of::<Packed>(), 8);
        assert_eq!(std::mem::align_of::<Packed>(), 4);
        assert_eq!(p.heap_bytes(), 0);
        let steps: [(Range<usize>, &[u8]); 7] = [
            (0..0, b"hello"),
            (5..5, b" world"),
            (0..5, b"HI"),
            (2..3, b""),
            (0..0, b"<<"),
            (3..6, b"xyzxyzxyz"),
            (0..15, b""),
        ];
        for (r, with) in steps {
            p.splice(r.clone(), with);
            v.splice(r, with.iter().copied());
            assert_eq!(&*p, &v[..]);
            assert_eq!(
                p.heap_bytes(),
                crate::util::jemalloc_size(1 + v.len()) * usize::from(!v.is_empty())
            );
        }
        assert!(p.is_empty());
        assert_eq!(p.heap_bytes(), 0, "an empty buffer owns no block");
    }

    #[test]
    fn keeps_its_bytes_across_header_sizes() {
        // Lengths cross 128 and 16384, where the LEB128 length takes one byte more.
        let mut p = Packed::new();
        let mut v: Vec<u8> = Vec::new();
        let mut n = 0u8;
        while v.len() < 20_000 {
            let chunk: Vec<u8> = (0..61)
                .map(|i| n.wrapping_mul(31).wrapping_add(i))
                .collect();
            n = n.wrapping_add(1);
            let at = v.len() / 3;
            p.splice(at..at, &chunk);
            v.splice(at..at, chunk);
            assert_eq!(&*p, &v[..]);
        }
        while !v.is_empty() {
            let r = v.len() / 4..(v.len() / 4 + 97).min(v.len());
            p.remove(r.clone());
            v.drain(r);
            assert_eq!(&*p, &v[..]);
        }
        assert_eq!(p.heap_bytes(), 0);
    }

    #[test]
    fn clones_and_truncates() {
        let mut p = Packed::from_slice(&[1; 100]);
        p.truncate(10);
        assert_eq!(p.len(), 10);
        let q = p.clone();
        assert_eq!(q, p);
        p[0] = 2;
        assert_ne!(q, p);
        p.remove(0..10);
        assert!(p.is_empty());
    }
}
