//! LCS (redis `t_string.c` `lcsCommand`): the longest common subsequence of two strings.

use bytes::Bytes;

use super::c_eq;
use crate::commands::access::get_string;
use crate::commands::args::parse_int;
use crate::commands::errors::{self, CmdError};
use crate::commands::Ctx;
use crate::protocol::Reply;

const LCS_TYPE: CmdError = CmdError::fixed("ERR The specified keys must contain string values");
const LCS_LEN_AND_IDX: CmdError =
    CmdError::fixed("ERR If you want both the length and indexes, please just use IDX.");
const LCS_TOO_LONG: CmdError = CmdError::fixed("ERR String too long for LCS");
const LCS_OVER_LIMIT: CmdError =
    CmdError::fixed("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
const LCS_NO_MEMORY: CmdError =
    CmdError::fixed("ERR Insufficient memory, failed allocating transient memory for LCS");

/// One matching range of LCS IDX: (a start, a end, b start, b end), inclusive.
pub type LcsRange = (u32, u32, u32, u32);

/// The longest common subsequence of `a` and `b` as redis computes it (same table, same
/// tie-break walking back from the end): its bytes and the matching ranges, last first.
/// `limit` bounds the table's size in bytes (`proto-max-bulk-len`).
pub fn lcs_compute(a: &[u8], b: &[u8], limit: i64) -> Result<(Vec<u8>, Vec<LcsRange>), CmdError> {
    if a.len() >= u32::MAX as usize - 1 || b.len() >= u32::MAX as usize - 1 {
        return Err(LCS_TOO_LONG);
    }
    let (alen, blen) = (a.len(), b.len());
    let cells = (alen as u64 + 1) * (blen as u64 + 1);
    let table_bytes = cells.checked_mul(4).ok_or(LCS_NO_MEMORY)?;
    if table_bytes > limit.max(0) as u64 {
        return Err(LCS_OVER_LIMIT);
    }
    let cells = usize::try_from(cells).map_err(|_| LCS_NO_MEMORY)?;
    let mut table: Vec<u32> = Vec::new();
    table.try_reserve_exact(cells).map_err(|_| LCS_NO_MEMORY)?;
    table.resize(cells, 0);
    let w = blen + 1;
    for i in 1..=alen {
        for j in 1..=blen {
            table[i * w + j] = if a[i - 1] == b[j - 1] {
                table[(i - 1) * w + j - 1] + 1
            } else {
                table[(i - 1) * w + j].max(table[i * w + j - 1])
            };
        }
    }
    let mut idx = table[alen * w + blen] as usize;
    let mut result = vec![0u8; idx];
    let mut ranges = Vec::new();
    // The range being extended backwards: (a start, a end, b start, b end).
    let mut current: Option<LcsRange> = None;
    let (mut i, mut j) = (alen, blen);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result[idx - 1] = a[i - 1];
            let (ai, bj) = ((i - 1) as u32, (j - 1) as u32);
            current = match current {
                None => Some((ai, ai, bj, bj)),
                Some((s, e, bs, be)) if s == ai + 1 && bs == bj + 1 => Some((ai, e, bj, be)),
                Some(r) => {
                    emit = true;
                    Some(r)
                }
            };
            if current.is_some_and(|(s, _, bs, _)| s == 0 || bs == 0) {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if table[(i - 1) * w + j] > table[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            emit = current.is_some();
        }
        if emit {
            if let Some(r) = current.take() {
                ranges.push(r);
            }
        }
    }
    Ok((result, ranges))
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]. Missing keys are empty strings.
pub(super) fn lcs(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let argv = cx.argv;
    // Both keys are looked up before either is type-checked, as in redis.
    let a = get_string(cx.db, &argv[1]).map_err(|_| LCS_TYPE);
    let b = get_string(cx.db, &argv[2]).map_err(|_| LCS_TYPE);
    let (a, b) = (a?.unwrap_or_default(), b?.unwrap_or_default());
    let (mut len, mut idx, mut with_len) = (false, false, false);
    let mut min_len: i64 = 0;
    let mut j = 3;
    while j < argv.len() {
        let opt = &argv[j];
        if c_eq(opt, "idx") {
            idx = true;
        } else if c_eq(opt, "len") {
            len = true;
        } else if c_eq(opt, "withmatchlen") {
            with_len = true;
        } else if c_eq(opt, "minmatchlen") && j + 1 < argv.len() {
            min_len = parse_int(&argv[j + 1])?.max(0);
            j += 1;
        } else {
            return Err(errors::SYNTAX);
        }
        j += 1;
    }
    if len && idx {
        return Err(LCS_LEN_AND_IDX);
    }
    let limit = cx.server.config.read().proto_max_bulk_len;
    let (result, ranges) = lcs_compute(&a, &b, limit)?;
    if idx {
        let matches = ranges
            .into_iter()
            .filter(|&(s, e, _, _)| i64::from(e - s + 1) >= min_len)
            .map(|(s, e, bs, be)| {
                let mut m = vec![
                    Reply::Array(vec![Reply::Int(s.into()), Reply::Int(e.into())]),
                    Reply::Array(vec![Reply::Int(bs.into()), Reply::Int(be.into())]),
                ];
                if with_len {
                    m.push(Reply::Int(i64::from(e - s + 1)));
                }
                Reply::Array(m)
            })
            .collect();
        return Ok(Reply::Map(vec![
            (Reply::bulk_str("matches"), Reply::Array(matches)),
            (Reply::bulk_str("len"), Reply::Int(result.len() as i64)),
        ]));
    }
    if len {
        return Ok(Reply::Int(result.len() as i64));
    }
    Ok(Reply::Bulk(Bytes::from(result)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lcs_matches_redis() {
        let (s, ranges) = lcs_compute(b"ohmytext", b"mynewtext", 1 << 20).unwrap_or_default();
        assert_eq!(s, b"mytext");
        assert_eq!(ranges, vec![(4, 7, 5, 8), (2, 3, 0, 1)]);
        let (s, ranges) = lcs_compute(b"", b"abc", 1 << 20).unwrap_or_default();
        assert!(s.is_empty() && ranges.is_empty());
        assert_eq!(
            lcs_compute(&[b'a'; 100], &[b'a'; 100], 1000),
            Err(LCS_OVER_LIMIT)
        );
    }
}
