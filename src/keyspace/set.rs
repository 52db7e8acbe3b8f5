//! Set values: a sorted vector of integers while every member is an integer and the set is small
//! (Redis `intset`, `set-max-intset-entries`), else a table (`hashtable`). One-way conversion.

use bytes::Bytes;
use indexmap::IndexSet;

use super::limits::EncodingLimits;

pub type Members = IndexSet<Bytes, foldhash::fast::RandomState>;

#[derive(Debug, Clone)]
pub enum Set {
    Intset(Vec<i64>),
    Table(Members),
}

impl Default for Set {
    fn default() -> Self {
        Set::Intset(Vec::new())
    }
}

impl Set {
    pub fn len(&self) -> usize {
        match self {
            Set::Intset(v) => v.len(),
            Set::Table(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Set::Intset(_) => "intset",
            Set::Table(_) => "hashtable",
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match self {
            Set::Intset(v) => match crate::util::parse_i64(member) {
                Some(i) => v.binary_search(&i).is_ok(),
                None => false,
            },
            Set::Table(m) => m.contains(member),
        }
    }

    /// Adds a member; returns true if it was new.
    pub fn insert(&mut self, member: &[u8], limits: &EncodingLimits) -> bool {
        if let Set::Intset(v) = self {
            if let Some(i) = crate::util::parse_i64(member) {
                match v.binary_search(&i) {
                    Ok(_) => return false,
                    Err(pos) if v.len() < limits.set_max_intset_entries => {
                        v.insert(pos, i);
                        return true;
                    }
                    Err(_) => self.convert(),
                }
            } else {
                self.convert();
            }
        }
        match self {
            Set::Table(m) => m.insert(Bytes::copy_from_slice(member)),
            Set::Intset(_) => false,
        }
    }

    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            Set::Intset(v) => match crate::util::parse_i64(member) {
                Some(i) => match v.binary_search(&i) {
                    Ok(pos) => {
                        v.remove(pos);
                        true
                    }
                    Err(_) => false,
                },
                None => false,
            },
            Set::Table(m) => m.swap_remove(member),
        }
    }

    /// All members (intset: ascending order).
    pub fn members(&self) -> Vec<Bytes> {
        match self {
            Set::Intset(v) => v
                .iter()
                .map(|i| Bytes::copy_from_slice(itoa::Buffer::new().format(*i).as_bytes()))
                .collect(),
            Set::Table(m) => m.iter().cloned().collect(),
        }
    }

    fn convert(&mut self) {
        if let Set::Intset(v) = self {
            let mut m = Members::with_capacity_and_hasher(v.len() + 1, Default::default());
            for i in v.iter() {
                m.insert(Bytes::copy_from_slice(
                    itoa::Buffer::new().format(*i).as_bytes(),
                ));
            }
            *self = Set::Table(m);
        }
    }
}
