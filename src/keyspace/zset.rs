//! Sorted set values: a vector ordered by (score, member) while small (Redis `listpack`), a
//! score-ordered index plus member map once `zset-max-listpack-*` is crossed (`skiplist`).

use bytes::Bytes;

#[derive(Debug, Clone, Default)]
pub struct ZSet {
    /// (score, member), ordered by score then member bytes.
    pub entries: Vec<(f64, Bytes)>,
}

impl ZSet {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn encoding(&self) -> &'static str {
        "listpack"
    }
}
