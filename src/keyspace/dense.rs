//! `DenseMap`: the table form of hashes (field → value) and sets (member → `()`).
//!
//! Pairs sit in a vector at dense positions `0..len`, in insertion order until a removal, which
//! swap-removes (the last pair moves into the hole): HSCAN/SSCAN cursors and the random picks
//! of HRANDFIELD/SRANDMEMBER/SPOP index positions, as they did with `IndexMap`. A hashbrown
//! table of `u32` positions finds them. Unlike `IndexMap` no hash is stored per pair (a growth
//! rehashes the keys, as Redis's dict does), an index bucket is 4 bytes instead of 8, and the
//! vector grows one pair at a time while small, so a hash of 5 fields holds 5 pairs, not 8.

use std::hash::BuildHasher;

use hashbrown::HashTable;

use super::compact::Compact;

/// Below this many pairs the vector grows to the exact size (a reallocation per insert, of at
/// most this many pairs); above it, by doubling.
const EXACT_GROWTH_BELOW: usize = 64;

fn hash_of(key: &[u8]) -> u64 {
    super::table::HASHER.hash_one(key)
}

#[derive(Debug, Clone, Default)]
pub struct DenseMap<V> {
    index: HashTable<u32>,
    items: Vec<(Compact, V)>,
}

impl<V> DenseMap<V> {
    pub fn with_capacity(n: usize) -> DenseMap<V> {
        DenseMap {
            index: HashTable::with_capacity(n),
            items: Vec::with_capacity(n),
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn find(&self, h: u64, key: &[u8]) -> Option<usize> {
        let items = &self.items;
        self.index
            .find(h, |&i| items[i as usize].0.as_bytes() == key)
            .map(|&i| i as usize)
    }

    pub fn get(&self, key: &[u8]) -> Option<&V> {
        let i = self.find(hash_of(key), key)?;
        Some(&self.items[i].1)
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        let i = self.find(hash_of(key), key)?;
        Some(&mut self.items[i].1)
    }

    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.find(hash_of(key), key).is_some()
    }

    /// Adds a pair whose key is known to be absent.
    pub fn push(&mut self, key: Compact, value: V) {
        let h = hash_of(&key);
        if self.items.len() == self.items.capacity() && self.items.len() < EXACT_GROWTH_BELOW {
            self.items.reserve_exact(1);
        }
        let i = u32::try_from(self.items.len()).expect("a table holds fewer than 2^32 pairs");
        self.items.push((key, value));
        let items = &self.items;
        self.index
            .insert_unique(h, i, |&p| hash_of(&items[p as usize].0));
    }

    /// Sets `key` to `value`; the old value if the key was present.
    pub fn insert(&mut self, key: &[u8], value: V) -> Option<V> {
        match self.get_mut(key) {
            Some(v) => Some(std::mem::replace(v, value)),
            None => {
                self.push(Compact::new(key), value);
                None
            }
        }
    }

    /// Removes `key`, moving the last pair into its position.
    pub fn swap_remove(&mut self, key: &[u8]) -> Option<V> {
        let i = self.find(hash_of(key), key)?;
        self.swap_remove_index(i).map(|(_, v)| v)
    }

    /// Removes the pair at position `i`, moving the last pair into it.
    pub fn swap_remove_index(&mut self, i: usize) -> Option<(Compact, V)> {
        let h = hash_of(self.items.get(i)?.0.as_bytes());
        if let Ok(e) = self.index.find_entry(h, |&p| p as usize == i) {
            e.remove();
        }
        let last = self.items.len() - 1;
        if i != last {
            let hl = hash_of(&self.items[last].0);
            if let Some(p) = self.index.find_mut(hl, |&p| p as usize == last) {
                *p = i as u32;
            }
        }
        let removed = self.items.swap_remove(i);
        self.release_room();
        Some(removed)
    }

    /// A small table gives back the room it grew into (the vector grows exactly while small).
    fn release_room(&mut self) {
        let len = self.items.len();
        if len < EXACT_GROWTH_BELOW && self.items.capacity() > len + len / 4 + 1 {
            self.items.shrink_to_fit();
            let items = &self.items;
            self.index.shrink_to_fit(|&p| hash_of(&items[p as usize].0));
        }
    }

    pub fn get_index(&self, i: usize) -> Option<(&Compact, &V)> {
        self.items.get(i).map(|(k, v)| (k, v))
    }

    /// The pairs in position order.
    pub fn iter(&self) -> std::slice::Iter<'_, (Compact, V)> {
        self.items.iter()
    }

    /// Bytes of the vector and the index (not of what the keys and values point to).
    pub fn heap_bytes(&self) -> usize {
        self.items.capacity() * std::mem::size_of::<(Compact, V)>() + self.index.allocation_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_stay_dense_through_removals() {
        let mut m: DenseMap<u32> = DenseMap::default();
        for i in 0..200u32 {
            assert_eq!(m.insert(format!("k{i}").as_bytes(), i), None);
        }
        assert_eq!(m.insert(b"k7", 700), Some(7));
        assert_eq!(m.get(b"k7"), Some(&700));
        // Remove every third key: the last pair fills each hole.
        for i in (0..200).step_by(3) {
            assert!(m.swap_remove(format!("k{i}").as_bytes()).is_some());
        }
        assert_eq!(m.len(), 200 - 67);
        for i in 0..200u32 {
            let want = (i % 3 != 0).then_some(if i == 7 { 700 } else { i });
            assert_eq!(m.get(format!("k{i}").as_bytes()).copied(), want, "k{i}");
        }
        for (pos, (k, _)) in m.iter().enumerate() {
            let (k2, _) = m.get_index(pos).expect("dense");
            assert_eq!(k, k2);
        }
        while m.swap_remove_index(0).is_some() {}
        assert!(m.is_empty());
        assert_eq!(m.get(b"k1"), None);
    }

    #[test]
    fn small_tables_grow_exactly() {
        let mut m: DenseMap<()> = DenseMap::default();
        for i in 0..5 {
            m.insert(format!("member:{i}").as_bytes(), ());
        }
        assert_eq!(m.items.capacity(), 5);
        m.swap_remove(b"member:0");
        m.swap_remove(b"member:1");
        assert!(m.items.capacity() <= 4);
        assert!(m.contains_key(b"member:4") && !m.contains_key(b"member:1"));
    }
}
