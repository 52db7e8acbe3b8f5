//! The order `--bigkeys` prints its per-type summary in.
//!
//! redis-cli keeps the types in a Redis `dict` (SipHash-1-2 with a zero key, 4 initial
//! buckets, incremental rehashing one bucket per add or lookup) and prints them in that
//! dict's iteration order, which therefore depends on how many lookups the scan made: the
//! summary of a one-key database lists `string` first, a larger one `list` first. This
//! replays the dict's operations to get the same order.

/// SipHash-1-2 with a zero key (Redis `siphash` with `dict_hash_function_seed` unset).
fn siphash12(data: &[u8]) -> u64 {
    let (mut v0, mut v1, mut v2, mut v3) = (
        0x736f6d6570736575u64,
        0x646f72616e646f6du64,
        0x6c7967656e657261u64,
        0x7465646279746573u64,
    );
    let round = |v0: &mut u64, v1: &mut u64, v2: &mut u64, v3: &mut u64| {
        *v0 = v0.wrapping_add(*v1);
        *v1 = v1.rotate_left(13) ^ *v0;
        *v0 = v0.rotate_left(32);
        *v2 = v2.wrapping_add(*v3);
        *v3 = v3.rotate_left(16) ^ *v2;
        *v0 = v0.wrapping_add(*v3);
        *v3 = v3.rotate_left(21) ^ *v0;
        *v2 = v2.wrapping_add(*v1);
        *v1 = v1.rotate_left(17) ^ *v2;
        *v2 = v2.rotate_left(32);
    };
    let chunks = data.chunks_exact(8);
    let tail = chunks.remainder();
    for chunk in chunks {
        let m = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        v3 ^= m;
        round(&mut v0, &mut v1, &mut v2, &mut v3);
        v0 ^= m;
    }
    let mut b = (data.len() as u64) << 56;
    for (i, &byte) in tail.iter().enumerate() {
        b |= u64::from(byte) << (8 * i);
    }
    v3 ^= b;
    round(&mut v0, &mut v1, &mut v2, &mut v3);
    v0 ^= b;
    v2 ^= 0xff;
    round(&mut v0, &mut v1, &mut v2, &mut v3);
    round(&mut v0, &mut v1, &mut v2, &mut v3);
    v0 ^ v1 ^ v2 ^ v3
}

/// Buckets hold entry ids, chain head first.
type Table = Vec<Vec<usize>>;

/// A replay of a Redis dict of type names; entry ids are the order of insertion.
#[derive(Debug, Default)]
pub struct TypeDict {
    names: Vec<String>,
    tables: [Table; 2],
    used: [usize; 2],
    rehash_index: Option<usize>,
}

impl TypeDict {
    fn hash(&self, id: usize) -> u64 {
        siphash12(self.names[id].as_bytes())
    }

    fn size(&self, t: usize) -> usize {
        self.tables[t].len()
    }

    /// `dictRehash(d, 1)`.
    fn rehash_step(&mut self) {
        let Some(mut index) = self.rehash_index else {
            return;
        };
        let mut empty_visits = 10;
        if self.used[0] != 0 {
            while self.tables[0][index].is_empty() {
                index += 1;
                empty_visits -= 1;
                if empty_visits == 0 {
                    self.rehash_index = Some(index);
                    return;
                }
            }
            let chain = std::mem::take(&mut self.tables[0][index]);
            let mask = self.size(1) - 1;
            for id in chain {
                let slot = (self.hash(id) as usize) & mask;
                self.tables[1][slot].insert(0, id);
                self.used[0] -= 1;
                self.used[1] += 1;
            }
            index += 1;
        }
        self.rehash_index = Some(index);
        if self.used[0] == 0 {
            self.tables[0] = std::mem::take(&mut self.tables[1]);
            self.used = [self.used[1], 0];
            self.rehash_index = None;
        }
    }

    /// `_dictExpandIfNeeded` with `dictExpand`.
    fn expand_if_needed(&mut self) {
        if self.rehash_index.is_some() {
            return;
        }
        let wanted = if self.size(0) == 0 {
            4
        } else if self.used[0] >= self.size(0) {
            self.used[0] + 1
        } else {
            return;
        };
        let new_size = wanted.max(4).next_power_of_two();
        if new_size == self.size(0) {
            return;
        }
        if self.size(0) == 0 {
            self.tables[0] = vec![Vec::new(); new_size];
        } else {
            self.tables[1] = vec![Vec::new(); new_size];
            self.rehash_index = Some(0);
        }
    }

    /// `dictFind`: the id of `name`, with the rehash step a lookup makes.
    pub fn find(&mut self, name: &str) -> Option<usize> {
        if self.used[0] + self.used[1] == 0 {
            return None;
        }
        if self.rehash_index.is_some() {
            self.rehash_step();
        }
        let h = siphash12(name.as_bytes()) as usize;
        for t in 0..2 {
            if self.size(t) == 0 {
                break;
            }
            let slot = h & (self.size(t) - 1);
            if let Some(&id) = self.tables[t][slot]
                .iter()
                .find(|&&id| self.names[id] == name)
            {
                return Some(id);
            }
            if self.rehash_index.is_none() {
                break;
            }
        }
        None
    }

    /// `dictAdd` of a name not in the dict; returns its id.
    pub fn add(&mut self, name: &str) -> usize {
        if self.rehash_index.is_some() {
            self.rehash_step();
        }
        self.expand_if_needed();
        let id = self.names.len();
        self.names.push(name.to_string());
        let t = usize::from(self.rehash_index.is_some());
        let slot = (self.hash(id) as usize) & (self.size(t) - 1);
        self.tables[t][slot].insert(0, id);
        self.used[t] += 1;
        id
    }

    /// The ids in iteration order (`dictNext`: table 0's buckets, then table 1's while
    /// rehashing).
    pub fn order(&self) -> Vec<usize> {
        let mut ids: Vec<usize> = self.tables[0].iter().flatten().copied().collect();
        if self.rehash_index.is_some() {
            ids.extend(self.tables[1].iter().flatten().copied());
        }
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict_after_lookups(lookups: usize) -> Vec<String> {
        let mut d = TypeDict::default();
        for name in ["string", "list", "set", "hash", "zset", "stream"] {
            d.add(name);
        }
        for _ in 0..lookups {
            d.find("string");
        }
        d.order()
            .into_iter()
            .map(|id| d.names[id].clone())
            .collect()
    }

    #[test]
    fn orders_seen_from_redis_cli() {
        // redis-cli 7.0.15 --bigkeys on one key, and on many.
        assert_eq!(
            dict_after_lookups(1),
            ["string", "list", "hash", "stream", "set", "zset"]
        );
        assert_eq!(
            dict_after_lookups(20),
            ["list", "hash", "string", "stream", "set", "zset"]
        );
    }
}
