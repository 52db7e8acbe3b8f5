//! Request decoding, as redis `networking.c` (`processMultibulkBuffer`, `processInlineBuffer`).
//!
//! `decode_request` returns `Ok(None)` until one whole request is buffered, then removes it from
//! the buffer and returns its arguments as slices of one frozen chunk (no copy per argument).

use bytes::{Bytes, BytesMut};
use thiserror::Error;

use super::inline;

/// Longest inline request or `*`/`$` header line without a newline (redis `PROTO_INLINE_MAX_SIZE`).
pub const INLINE_MAX: usize = 64 * 1024;
/// Largest multibulk count accepted (redis: `INT_MAX`, and 1024*1024 before 7.0; it checks INT_MAX).
const MAX_MULTIBULK: i64 = i32::MAX as i64;

/// Malformed input from a client; the reply is `-ERR Protocol error: <text>` and the link is closed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    #[error("too big inline request")]
    TooBigInline,
    #[error("unbalanced quotes in request")]
    UnbalancedQuotes,
    #[error("too big mbulk count string")]
    TooBigMbulkCount,
    #[error("invalid multibulk length")]
    InvalidMultibulkLength,
    #[error("unauthenticated multibulk length")]
    UnauthenticatedMultibulkLength,
    #[error("too big bulk count string")]
    TooBigBulkCount,
    #[error("expected '$', got '{0}'")]
    ExpectedDollar(char),
    #[error("invalid bulk length")]
    InvalidBulkLength,
    #[error("unauthenticated bulk length")]
    UnauthenticatedBulkLength,
}

/// Bounds that depend on configuration and on the client's state.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// `proto-max-bulk-len`.
    pub max_bulk_len: i64,
    /// Unauthenticated clients get tighter bounds (redis: 10 args, 16 KiB per bulk).
    pub authenticated: bool,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_bulk_len: 512 * 1024 * 1024,
            authenticated: true,
        }
    }
}

/// One decoded request: its arguments, or an empty vector for an empty line / `*0`.
pub type Request = Vec<Bytes>;

/// Decodes one request from the front of `buf`.
///
/// Outcomes: `Ok(Some(args))` consumed one request (args may be empty: skip it);
/// `Ok(None)` needs more bytes, nothing consumed; `Err` is a protocol error (close the link).
/// `hint` receives the number of bytes the pending request needs in total when it is known,
/// so the caller can reserve a large bulk once instead of growing the buffer step by step.
pub fn decode_request(
    buf: &mut BytesMut,
    limits: DecodeLimits,
    hint: &mut usize,
) -> Result<Option<Request>, ProtocolError> {
    if buf.is_empty() {
        return Ok(None);
    }
    let mut args = Vec::new();
    Ok(decode_request_into(buf, limits, hint, &mut args)?.then_some(args))
}

/// `decode_request` into a vector the caller keeps from one request to the next (no
/// allocation per request): true when one request was consumed and its arguments are in
/// `args` (empty for an empty line / `*0`), false when more bytes are needed.
pub fn decode_request_into(
    buf: &mut BytesMut,
    limits: DecodeLimits,
    hint: &mut usize,
    args: &mut Vec<Bytes>,
) -> Result<bool, ProtocolError> {
    args.clear();
    if buf.is_empty() {
        return Ok(false);
    }
    if buf[0] == b'*' {
        Ok(decode_multibulk(buf, limits, hint, args)?.is_some())
    } else {
        match inline::decode_inline(buf)? {
            Some(a) => {
                *args = a;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

/// A header number (`*3\r\n`, `$5\r\n`) read in one pass from `from`: the value and the
/// index of its `\r` when it is canonical (digits only, no leading zero, at most 18 of them)
/// and its `\r\n` is buffered. Anything else gives None and the general path decides, with
/// its exact errors and its wait for more bytes.
fn quick_len(buf: &[u8], from: usize) -> Option<(i64, usize)> {
    let digits = buf.get(from..)?;
    let mut v: i64 = 0;
    for (i, &c) in digits.iter().enumerate().take(19) {
        if c == b'\r' {
            let canonical = i == 1 || (i > 1 && digits[0] != b'0');
            return (canonical && digits.get(i + 1) == Some(&b'\n')).then_some((v, from + i));
        }
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    None
}

/// Finds `\r\n` starting at `from`; returns the index of `\r`.
fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(p) = memchr::memchr(b'\r', &buf[i..]) {
        let at = i + p;
        if at + 1 >= buf.len() {
            return None;
        }
        if buf[at + 1] == b'\n' {
            return Some(at);
        }
        i = at + 1;
    }
    None
}

/// Parses a signed decimal as redis `string2ll` does for protocol headers.
fn parse_len(digits: &[u8]) -> Option<i64> {
    crate::util::parse_i64(digits)
}

/// Like `decode_request`, also returning the request's exact bytes (a replica forwards the
/// bytes it applied to its own replicas).
pub fn decode_request_frame(
    buf: &mut BytesMut,
    limits: DecodeLimits,
    hint: &mut usize,
) -> Result<Option<(Request, Bytes)>, ProtocolError> {
    if buf.is_empty() {
        return Ok(None);
    }
    if buf[0] != b'*' {
        let before = buf.clone();
        return Ok(inline::decode_inline(buf)?.map(|r| {
            let used = before.len() - buf.len();
            (r, before.freeze().slice(..used))
        }));
    }
    let mut args = Vec::new();
    Ok(decode_multibulk(buf, limits, hint, &mut args)?.map(|frame| (args, frame)))
}

/// Decodes one `*` request into `args`; returns its whole frame once complete.
fn decode_multibulk(
    buf: &mut BytesMut,
    limits: DecodeLimits,
    hint: &mut usize,
    args: &mut Vec<Bytes>,
) -> Result<Option<Bytes>, ProtocolError> {
    // Offsets of each argument inside the frame; bytes are sliced once the frame is complete.
    let mut spans: Spans = smallvec::SmallVec::new();
    match scan_multibulk(buf, limits, &mut spans)? {
        Scan::Partial { need, .. } => {
            if need > 0 {
                *hint = need;
            }
            Ok(None)
        }
        Scan::Complete(end) => {
            let frame = buf.split_to(end).freeze();
            args.extend(spans.into_iter().map(|(s, l)| frame.slice(s..s + l)));
            Ok(Some(frame))
        }
    }
}

/// Each argument's offset and length in a multibulk request.
type Spans = smallvec::SmallVec<[(usize, usize); 8]>;

/// How far a multibulk request at the front of a buffer goes.
enum Scan {
    /// Complete, this many bytes long.
    Complete(usize),
    /// Incomplete: the bytes it needs in all when known (else 0), and how many bytes of it
    /// were parsed (headers and whole arguments: Redis moves those out of its query buffer).
    Partial { need: usize, parsed: usize },
}

/// Parses the multibulk request at the front of `buf`, its arguments' places into `spans`.
fn scan_multibulk(
    buf: &[u8],
    limits: DecodeLimits,
    spans: &mut Spans,
) -> Result<Scan, ProtocolError> {
    let partial = |need, parsed| Ok(Scan::Partial { need, parsed });
    let (count, end) = match quick_len(buf, 1) {
        Some(q) => q,
        None => {
            let Some(end) = find_crlf(buf, 1) else {
                if buf.len() > INLINE_MAX {
                    return Err(ProtocolError::TooBigMbulkCount);
                }
                return partial(0, 0);
            };
            let count = parse_len(&buf[1..end]).ok_or(ProtocolError::InvalidMultibulkLength)?;
            (count, end)
        }
    };
    if count > MAX_MULTIBULK {
        return Err(ProtocolError::InvalidMultibulkLength);
    }
    if !limits.authenticated && count > 10 {
        return Err(ProtocolError::UnauthenticatedMultibulkLength);
    }
    let mut pos = end + 2;
    if count <= 0 {
        return Ok(Scan::Complete(pos));
    }
    spans.reserve(count.min(1024) as usize);
    for _ in 0..count {
        if pos >= buf.len() {
            return partial(0, pos);
        }
        if buf[pos] != b'$' {
            return Err(ProtocolError::ExpectedDollar(buf[pos] as char));
        }
        let (len, line_end) = match quick_len(buf, pos + 1) {
            Some(q) => q,
            None => {
                let Some(line_end) = find_crlf(buf, pos + 1) else {
                    if buf.len() - pos > INLINE_MAX {
                        return Err(ProtocolError::TooBigBulkCount);
                    }
                    return partial(0, pos);
                };
                let len =
                    parse_len(&buf[pos + 1..line_end]).ok_or(ProtocolError::InvalidBulkLength)?;
                (len, line_end)
            }
        };
        if len < 0 || len > limits.max_bulk_len {
            return Err(ProtocolError::InvalidBulkLength);
        }
        if !limits.authenticated && len > 16384 {
            return Err(ProtocolError::UnauthenticatedBulkLength);
        }
        let start = line_end + 2;
        let len = len as usize;
        if buf.len() < start + len + 2 {
            return partial(start + len + 2, start);
        }
        spans.push((start, len));
        pos = start + len + 2;
    }
    Ok(Scan::Complete(pos))
}

/// Bytes at the front of `buf` that Redis would no longer hold in its query buffer: the
/// parsed part of an incomplete multibulk request (CLIENT LIST `qbuf` counts the rest).
pub fn parsed_prefix(buf: &[u8]) -> usize {
    if buf.first() != Some(&b'*') {
        return 0;
    }
    match scan_multibulk(buf, DecodeLimits::default(), &mut Spans::new()) {
        Ok(Scan::Partial { parsed, .. }) => parsed,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8]) -> Result<Vec<Request>, ProtocolError> {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        let mut hint = 0;
        while let Some(req) = decode_request(&mut buf, DecodeLimits::default(), &mut hint)? {
            out.push(req);
        }
        Ok(out)
    }

    #[test]
    fn every_split_point_of_a_frame() {
        let frame = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nva\r\nl\r\n";
        for cut in 0..frame.len() {
            let mut buf = BytesMut::from(&frame[..cut]);
            let mut hint = 0;
            let first = decode_request(&mut buf, DecodeLimits::default(), &mut hint).unwrap();
            assert!(first.is_none(), "cut at {cut} decoded early");
            assert_eq!(buf.len(), cut, "nothing consumed on a partial frame");
            buf.extend_from_slice(&frame[cut..]);
            let req = decode_request(&mut buf, DecodeLimits::default(), &mut hint)
                .unwrap()
                .unwrap();
            assert_eq!(req, vec![&b"SET"[..], b"key", b"va\r\nl"]);
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn pipelined_frames_and_inline() {
        let reqs = decode_all(b"*1\r\n$4\r\nPING\r\nECHO hi\r\n*0\r\n").unwrap();
        assert_eq!(reqs.len(), 3);
        assert_eq!(reqs[1], vec![&b"ECHO"[..], b"hi"]);
        assert!(reqs[2].is_empty());
    }

    #[test]
    fn protocol_errors() {
        assert_eq!(
            decode_all(b"*x\r\n"),
            Err(ProtocolError::InvalidMultibulkLength)
        );
        assert_eq!(
            decode_all(b"*1\r\n:1\r\n"),
            Err(ProtocolError::ExpectedDollar(':'))
        );
        assert_eq!(
            decode_all(b"*1\r\n$-3\r\n"),
            Err(ProtocolError::InvalidBulkLength)
        );
        assert_eq!(
            decode_all(b"*1\r\n$99999999999\r\n"),
            Err(ProtocolError::InvalidBulkLength)
        );
        assert_eq!(
            decode_all(b"*3000000000\r\n"),
            Err(ProtocolError::InvalidMultibulkLength)
        );
        let long = vec![b'a'; INLINE_MAX + 10];
        assert_eq!(decode_all(&long), Err(ProtocolError::TooBigInline));
    }

    #[test]
    fn unauthenticated_bounds() {
        let limits = DecodeLimits {
            authenticated: false,
            ..DecodeLimits::default()
        };
        let mut buf = BytesMut::from(&b"*11\r\n"[..]);
        let mut hint = 0;
        assert_eq!(
            decode_request(&mut buf, limits, &mut hint),
            Err(ProtocolError::UnauthenticatedMultibulkLength)
        );
    }
}

#[cfg(test)]
mod fuzz {
    //! Property tests over hostile input: the decoder never panics, never consumes bytes it
    //! did not decode, and decodes any valid encoding back to the same arguments.
    use super::*;
    use proptest::prelude::*;

    fn encode(args: &[Vec<u8>]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut buf = BytesMut::from(&data[..]);
            let mut hint = 0;
            for _ in 0..600 {
                let before = buf.len();
                match decode_request(&mut buf, DecodeLimits::default(), &mut hint) {
                    Ok(Some(_)) => prop_assert!(buf.len() < before),
                    Ok(None) => { prop_assert_eq!(buf.len(), before); break; }
                    Err(_) => break,
                }
            }
        }

        #[test]
        fn valid_frames_round_trip(args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..8),
                                   cut in 0usize..400) {
            let wire = encode(&args);
            let cut = cut.min(wire.len());
            let mut buf = BytesMut::from(&wire[..cut]);
            let mut hint = 0;
            if cut < wire.len() {
                prop_assert_eq!(decode_request(&mut buf, DecodeLimits::default(), &mut hint), Ok(None));
                buf.extend_from_slice(&wire[cut..]);
            }
            let got = decode_request(&mut buf, DecodeLimits::default(), &mut hint).unwrap().unwrap();
            let got: Vec<Vec<u8>> = got.iter().map(|b| b.to_vec()).collect();
            prop_assert_eq!(got, args);
            prop_assert!(buf.is_empty());
        }
    }
}
