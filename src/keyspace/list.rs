//! List values. Redis 7.0 stores every list as a quicklist of listpacks, so OBJECT ENCODING
//! always answers `quicklist`.

use std::collections::VecDeque;

use bytes::Bytes;

#[derive(Debug, Clone, Default)]
pub struct List {
    pub items: VecDeque<Bytes>,
}

impl List {
    pub fn new() -> List {
        List::default()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }
}
