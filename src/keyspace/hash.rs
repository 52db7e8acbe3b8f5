//! Hash values: a packed vector in insertion order while small (Redis `listpack`), an
//! insertion-ordered table once `hash-max-listpack-entries`/`-value` is crossed (`hashtable`).
//! Conversion is one-way, as in Redis.

use bytes::Bytes;
use indexmap::IndexMap;

use super::limits::EncodingLimits;

pub type Map<K, V> = IndexMap<K, V, foldhash::fast::RandomState>;

#[derive(Debug, Clone)]
pub enum Hash {
    Listpack(Vec<(Bytes, Bytes)>),
    Table(Map<Bytes, Bytes>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Listpack(Vec::new())
    }
}

impl Hash {
    pub fn len(&self) -> usize {
        match self {
            Hash::Listpack(v) => v.len(),
            Hash::Table(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Hash::Listpack(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<&Bytes> {
        match self {
            Hash::Listpack(v) => v.iter().find(|(f, _)| f == field).map(|(_, v)| v),
            Hash::Table(m) => m.get(field),
        }
    }

    /// Sets a field; returns true if it was new. Converts to a table past the limits.
    pub fn insert(&mut self, field: Bytes, value: Bytes, limits: &EncodingLimits) -> bool {
        if let Hash::Listpack(v) = self {
            if field.len() > limits.hash_max_listpack_value
                || value.len() > limits.hash_max_listpack_value
            {
                self.convert();
            } else if let Some(slot) = v.iter_mut().find(|(f, _)| *f == field) {
                slot.1 = value;
                return false;
            } else if v.len() < limits.hash_max_listpack_entries {
                v.push((field, value));
                return true;
            } else {
                self.convert();
            }
        }
        match self {
            Hash::Table(m) => m.insert(field, value).is_none(),
            Hash::Listpack(_) => false,
        }
    }

    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Listpack(v) => match v.iter().position(|(f, _)| f == field) {
                Some(i) => {
                    v.remove(i);
                    true
                }
                None => false,
            },
            Hash::Table(m) => m.swap_remove(field).is_some(),
        }
    }

    /// Iterates fields and values (listpack: insertion order).
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&Bytes, &Bytes)> + '_> {
        match self {
            Hash::Listpack(v) => Box::new(v.iter().map(|(f, v)| (f, v))),
            Hash::Table(m) => Box::new(m.iter()),
        }
    }

    fn convert(&mut self) {
        if let Hash::Listpack(v) = self {
            let mut m = Map::with_capacity_and_hasher(v.len() + 1, Default::default());
            for (f, val) in v.drain(..) {
                m.insert(f, val);
            }
            *self = Hash::Table(m);
        }
    }
}
