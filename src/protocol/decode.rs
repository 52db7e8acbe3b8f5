//! Request decoding, as redis `networking.c` (`processMultibulkBuffer`, `processInlineBuffer`).
//!
//! `decode_request` returns `Ok(None)` until one whole request is buffered, then removes it from
//! the buffer and returns its arguments as slices of one frozen chunk (no copy per argument).

use bytes::{Bytes, BytesMut};
use thiserror::Error;

use super::inline;

/// Longest inline request or `*`/`$` header line without a newline (redis `PROTO_INLINE_MAX_SIZE`).
pub const INLINE_MAX: usize = 64 * 1024;
/// An argument at least this long is read into a buffer made for it (redis
/// `PROTO_MBULK_BIG_ARG`): the decoder gives the bytes the request needs then.
pub const BIG_ARG: usize = 32 * 1024;
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
    let mut resume = Resume::default();
    Ok(decode_request_into(buf, limits, hint, &mut args, &mut resume)?.then_some(args))
}

/// `decode_request` into a vector the caller keeps from one request to the next (no
/// allocation per request): true when one request was consumed and its arguments are in
/// `args` (empty for an empty line / `*0`), false when more bytes are needed. `resume` is
/// the caller's, kept with `buf`: an incomplete request's scan goes on from where it stopped.
pub fn decode_request_into(
    buf: &mut BytesMut,
    limits: DecodeLimits,
    hint: &mut usize,
    args: &mut Vec<Bytes>,
    resume: &mut Resume,
) -> Result<bool, ProtocolError> {
    args.clear();
    if buf.is_empty() {
        return Ok(false);
    }
    if buf[0] == b'*' {
        Ok(decode_multibulk(buf, limits, hint, args, resume)?.is_some())
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
    resume: &mut Resume,
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
    Ok(decode_multibulk(buf, limits, hint, &mut args, resume)?.map(|frame| (args, frame)))
}

/// Decodes one `*` request into `args`; returns its whole frame once complete.
fn decode_multibulk(
    buf: &mut BytesMut,
    limits: DecodeLimits,
    hint: &mut usize,
    args: &mut Vec<Bytes>,
    resume: &mut Resume,
) -> Result<Option<Bytes>, ProtocolError> {
    match scan_multibulk(buf, limits, resume) {
        Ok(Scan::Partial { need }) => {
            if need > 0 {
                *hint = need;
            }
            Ok(None)
        }
        Ok(Scan::Complete(end)) => {
            let frame = buf.split_to(end).freeze();
            args.extend(resume.spans.drain(..).map(|(s, l)| frame.slice(s..s + l)));
            resume.reset();
            Ok(Some(frame))
        }
        Err(e) => {
            resume.reset();
            Err(e)
        }
    }
}

/// Where the scan of an incomplete multibulk request at the front of a buffer stopped (redis
/// keeps `multibulklen` and `bulklen` with its query buffer the same way): when more bytes
/// come it goes on from there, so a request of many arguments that arrives over many reads
/// is parsed once, not once per read. Valid while the buffer's front stays where it was:
/// the buffer's owner keeps it next to the buffer, and a completed request resets it.
#[derive(Debug, Default)]
pub struct Resume {
    /// The argument count, once the header is parsed.
    header: Option<i64>,
    /// Where the next argument's `$` line starts.
    pos: usize,
    /// Bytes Redis would have moved out of its query buffer (see `parsed`).
    parsed: usize,
    /// Each whole argument's offset and length.
    spans: Vec<(usize, usize)>,
}

impl Resume {
    /// Bytes at the front of the buffer that Redis would no longer hold in its query buffer:
    /// the parsed part of an incomplete multibulk request (CLIENT LIST `qbuf` counts the rest).
    pub fn parsed(&self) -> usize {
        self.parsed
    }

    fn reset(&mut self) {
        self.header = None;
        self.pos = 0;
        self.parsed = 0;
        self.spans.clear();
        // A huge request's argument table is not kept for the small ones after it.
        if self.spans.capacity() > 1024 {
            self.spans = Vec::new();
        }
    }
}

/// How far a multibulk request at the front of a buffer goes.
enum Scan {
    /// Complete, this many bytes long.
    Complete(usize),
    /// Incomplete: the bytes it needs in all when known (else 0).
    Partial { need: usize },
}

/// Parses the multibulk request at the front of `buf` from where `r` stopped, recording its
/// arguments' places and how far it got in `r`.
fn scan_multibulk(buf: &[u8], limits: DecodeLimits, r: &mut Resume) -> Result<Scan, ProtocolError> {
    let count = match r.header {
        Some(h) => h,
        None => {
            let (count, end) = match quick_len(buf, 1) {
                Some(q) => q,
                None => {
                    let Some(end) = find_crlf(buf, 1) else {
                        if buf.len() > INLINE_MAX {
                            return Err(ProtocolError::TooBigMbulkCount);
                        }
                        return Ok(Scan::Partial { need: 0 });
                    };
                    let count =
                        parse_len(&buf[1..end]).ok_or(ProtocolError::InvalidMultibulkLength)?;
                    (count, end)
                }
            };
            if count > MAX_MULTIBULK {
                return Err(ProtocolError::InvalidMultibulkLength);
            }
            if !limits.authenticated && count > 10 {
                return Err(ProtocolError::UnauthenticatedMultibulkLength);
            }
            if count <= 0 {
                return Ok(Scan::Complete(end + 2));
            }
            r.spans.reserve(count.min(1024) as usize);
            r.header = Some(count);
            r.pos = end + 2;
            r.parsed = end + 2;
            count
        }
    };
    let mut pos = r.pos;
    while (r.spans.len() as i64) < count {
        r.pos = pos;
        r.parsed = pos;
        if pos >= buf.len() {
            return Ok(Scan::Partial { need: 0 });
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
                    return Ok(Scan::Partial { need: 0 });
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
            r.parsed = start;
            // Only a big argument is read into a buffer sized for it (as Redis does): small
            // ones let the buffer grow by doubling.
            let need = if len >= BIG_ARG { start + len + 2 } else { 0 };
            return Ok(Scan::Partial { need });
        }
        r.spans.push((start, len));
        pos = start + len + 2;
    }
    Ok(Scan::Complete(pos))
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

    /// Decodes `wire` fed `step` bytes at a time through one `Resume`, as a connection does.
    fn decode_in_steps(wire: &[u8], step: usize) -> (Vec<Request>, Vec<usize>) {
        let mut buf = BytesMut::new();
        let mut resume = Resume::default();
        let (mut hint, mut out, mut parsed) = (0, Vec::new(), Vec::new());
        for chunk in wire.chunks(step) {
            buf.extend_from_slice(chunk);
            let mut args = Vec::new();
            while decode_request_into(
                &mut buf,
                DecodeLimits::default(),
                &mut hint,
                &mut args,
                &mut resume,
            )
            .unwrap()
            {
                out.push(std::mem::take(&mut args));
            }
            parsed.push(resume.parsed());
        }
        assert!(buf.is_empty());
        (out, parsed)
    }

    #[test]
    fn a_request_arriving_in_pieces_resumes_where_it_stopped() {
        let mut wire = b"*2000\r\n".to_vec();
        for i in 0..2000 {
            let a = format!("arg{i}");
            wire.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        wire.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        for step in [1, 2, 3, 7, 64, 1000, wire.len()] {
            let (reqs, parsed) = decode_in_steps(&wire, step);
            assert_eq!(reqs.len(), 2, "step {step}");
            assert_eq!(reqs[0].len(), 2000);
            assert_eq!(reqs[0][1999], &b"arg1999"[..]);
            assert_eq!(reqs[1], vec![&b"PING"[..]]);
            // The parsed prefix only grows while the first request is incomplete.
            let first: Vec<usize> = parsed.iter().copied().take_while(|&p| p > 0).collect();
            assert!(first.windows(2).all(|w| w[0] <= w[1]), "step {step}");
        }
        // 10 bytes in: the header and `$4\r\n` are parsed, the argument's bytes are not; a
        // small argument gives no size hint.
        let mut buf = BytesMut::from(&b"*1\r\n$4\r\nPI"[..]);
        let mut resume = Resume::default();
        let mut args = Vec::new();
        let limits = DecodeLimits::default();
        let mut hint = 0;
        assert!(!decode_request_into(&mut buf, limits, &mut hint, &mut args, &mut resume).unwrap());
        assert_eq!((resume.parsed(), hint), (8, 0));
        // A big argument: the bytes the whole request needs are known.
        let mut buf = BytesMut::from(&b"*1\r\n$40000\r\nab"[..]);
        let mut resume = Resume::default();
        assert!(!decode_request_into(&mut buf, limits, &mut hint, &mut args, &mut resume).unwrap());
        assert_eq!((resume.parsed(), hint), (12, 40014));
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
        fn frames_in_random_pieces_round_trip(args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..30),
                                              cuts in proptest::collection::vec(1usize..64, 1..40)) {
            let mut wire = encode(&args);
            wire.extend_from_slice(&encode(&args[..1]));
            let mut buf = BytesMut::new();
            let mut resume = Resume::default();
            let (mut hint, mut got, mut rest) = (0, Vec::new(), &wire[..]);
            let mut cuts = cuts.into_iter().cycle();
            while !rest.is_empty() {
                let n = cuts.next().unwrap_or(1).min(rest.len());
                buf.extend_from_slice(&rest[..n]);
                rest = &rest[n..];
                let mut a = Vec::new();
                while decode_request_into(&mut buf, DecodeLimits::default(), &mut hint, &mut a, &mut resume).unwrap() {
                    got.push(a.iter().map(|b| b.to_vec()).collect::<Vec<Vec<u8>>>());
                }
            }
            prop_assert_eq!(got, vec![args.clone(), args[..1].to_vec()]);
            prop_assert!(buf.is_empty());
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
