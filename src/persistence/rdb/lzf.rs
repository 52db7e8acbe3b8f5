//! LZF compression (the liblzf format Redis uses for RDB strings), with a reused hash table:
//! the `lzf` crate zeroes a fresh 64K-entry table per call, which made saving a million short
//! values take seconds.
//!
//! Format: a control byte `000LLLLL` starts a run of L+1 literal bytes; `LLLooooo oooooooo`
//! (L in 1..=6) or `111ooooo <len-9> oooooooo` copies `L+2` bytes from `offset+1` back.

use std::cell::RefCell;

const HLOG: usize = 13;
const MAX_LIT: usize = 32;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);

thread_local! {
    static TABLE: RefCell<Vec<u32>> = RefCell::new(vec![0; 1 << HLOG]);
}

fn hash(a: u8, b: u8, c: u8) -> usize {
    let v = (u32::from(a) << 16) | (u32::from(b) << 8) | u32::from(c);
    (v.wrapping_mul(2_654_435_761) >> (32 - HLOG as u32)) as usize
}

/// Compresses `input`; `None` when the result would not be smaller than `max_out` bytes.
pub fn compress(input: &[u8], max_out: usize) -> Option<Vec<u8>> {
    TABLE.with(|t| {
        // Not cleared between calls: a stale entry is only used if it points before `ip` and
        // the bytes there match, which makes it a valid reference in this input too.
        compress_with(input, max_out, &mut t.borrow_mut())
    })
}

fn compress_with(input: &[u8], max_out: usize, table: &mut [u32]) -> Option<Vec<u8>> {
    let n = input.len();
    let mut out: Vec<u8> = Vec::with_capacity(max_out.min(n + n / 16 + 64));
    // Index of the pending literal run's control byte, and its length.
    let mut lit_ctrl = out.len();
    out.push(0);
    let mut lit = 0usize;
    let mut ip = 0usize;
    let close_literals = |out: &mut Vec<u8>, lit_ctrl: &mut usize, lit: &mut usize| {
        if *lit > 0 {
            out[*lit_ctrl] = (*lit - 1) as u8;
        } else {
            out.pop();
        }
    };
    while ip + 2 < n {
        let h = hash(input[ip], input[ip + 1], input[ip + 2]);
        // Entries hold position + 1, so 0 means empty.
        let candidate = table[h] as usize;
        table[h] = (ip + 1) as u32;
        if candidate > 0 && candidate - 1 < ip {
            let r = candidate - 1;
            let off = ip - r - 1;
            if off < MAX_OFF && input[r..r + 3] == input[ip..ip + 3] {
                let maxlen = (n - ip).min(MAX_REF);
                let mut len = 3;
                while len < maxlen && input[r + len] == input[ip + len] {
                    len += 1;
                }
                close_literals(&mut out, &mut lit_ctrl, &mut lit);
                let l = len - 2;
                if l < 7 {
                    out.push(((l << 5) | (off >> 8)) as u8);
                } else {
                    out.push(((7 << 5) | (off >> 8)) as u8);
                    out.push((l - 7) as u8);
                }
                out.push((off & 0xFF) as u8);
                ip += len;
                lit = 0;
                lit_ctrl = out.len();
                out.push(0);
                if out.len() >= max_out {
                    return None;
                }
                continue;
            }
        }
        out.push(input[ip]);
        lit += 1;
        ip += 1;
        if lit == MAX_LIT {
            out[lit_ctrl] = (MAX_LIT - 1) as u8;
            lit = 0;
            lit_ctrl = out.len();
            out.push(0);
        }
        if out.len() >= max_out {
            return None;
        }
    }
    while ip < n {
        out.push(input[ip]);
        lit += 1;
        ip += 1;
        if lit == MAX_LIT {
            out[lit_ctrl] = (MAX_LIT - 1) as u8;
            lit = 0;
            lit_ctrl = out.len();
            out.push(0);
        }
    }
    close_literals(&mut out, &mut lit_ctrl, &mut lit);
    (out.len() < max_out && !out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_reference_decoder() {
        let mut samples: Vec<Vec<u8>> = vec![
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_vec(),
            b"value:12345"
                .iter()
                .copied()
                .chain(std::iter::repeat_n(0u8, 89))
                .collect(),
            (0..5000u32).flat_map(|i| (i % 251).to_le_bytes()).collect(),
            b"the quick brown fox jumps over the lazy dog, the quick brown fox jumps again"
                .to_vec(),
        ];
        let mut x = 12345u32;
        samples.push(
            (0..3000)
                .map(|_| {
                    x = x.wrapping_mul(1103515245).wrapping_add(12345);
                    (x >> 24) as u8 % 4
                })
                .collect(),
        );
        for s in samples {
            let c = compress(&s, s.len()).expect("compressible");
            let d = lzf::decompress(&c, s.len()).expect("valid lzf");
            assert_eq!(d, s);
        }
        assert!(compress(b"abcdefgh", 4).is_none());
    }

    proptest::proptest! {
        #[test]
        fn random_inputs_round_trip(data in proptest::collection::vec(0u8..6, 0..3000)) {
            if let Some(c) = compress(&data, data.len()) {
                proptest::prop_assert_eq!(lzf::decompress(&c, data.len()).ok(), Some(data));
            }
        }
    }
}
