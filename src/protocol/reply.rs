//! Replies as values. Commands build a `Reply`; only `encode` turns it into RESP2 or RESP3 bytes.

use std::borrow::Cow;

use bytes::Bytes;

/// One reply to a client, protocol-version independent.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+text`
    Status(Cow<'static, str>),
    /// `-CODE text` (the text here starts with the code, without the dash).
    Error(Cow<'static, str>),
    /// `:n`
    Int(i64),
    /// `$len\r\nbytes`
    Bulk(Bytes),
    /// Missing value: RESP2 `$-1`, RESP3 `_`.
    Nil,
    /// Missing aggregate: RESP2 `*-1`, RESP3 `_`.
    NilArray,
    /// `*n`
    Array(Vec<Reply>),
    /// RESP3 `%n`; RESP2 a flat array of 2n elements.
    Map(Vec<(Reply, Reply)>),
    /// RESP3 `~n`; RESP2 an array.
    Set(Vec<Reply>),
    /// RESP3 `,d`; RESP2 a bulk string formatted as `%.17g`.
    Double(f64),
    /// RESP3 `#t`/`#f`; RESP2 `:1`/`:0`.
    Bool(bool),
    /// RESP3 `>n` push; RESP2 an array.
    Push(Vec<Reply>),
    /// RESP3 `=len\r\ntxt:...`; RESP2 a bulk string.
    Verbatim(Bytes),
    /// RESP3 `(digits`; RESP2 a bulk string.
    BigNum(Bytes),
    /// RESP3 `|n` attribute pairs, which precede the reply they describe; RESP2 has no
    /// attributes and sends nothing.
    Attribute(Vec<(Reply, Reply)>),
    /// Bytes already encoded (used for replies that do not depend on the protocol version).
    Raw(Bytes),
    /// Several top-level replies from one command (SUBSCRIBE to several channels).
    Multi(Vec<Reply>),
    /// Nothing is written (REPLCONF ACK, replies switched off with CLIENT REPLY).
    None,
}

impl Reply {
    pub const OK: Reply = Reply::Status(Cow::Borrowed("OK"));

    pub fn ok() -> Reply {
        Reply::OK
    }

    pub fn status(s: &'static str) -> Reply {
        Reply::Status(Cow::Borrowed(s))
    }

    pub fn bulk(b: impl Into<Bytes>) -> Reply {
        Reply::Bulk(b.into())
    }

    pub fn bulk_str(s: &str) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()))
    }

    pub fn bulk_int(i: i64) -> Reply {
        let mut b = itoa::Buffer::new();
        Reply::Bulk(Bytes::copy_from_slice(b.format(i).as_bytes()))
    }

    pub fn error(s: impl Into<Cow<'static, str>>) -> Reply {
        Reply::Error(s.into())
    }

    pub fn array_of_bulks<I, B>(items: I) -> Reply
    where
        I: IntoIterator<Item = B>,
        B: Into<Bytes>,
    {
        Reply::Array(items.into_iter().map(|b| Reply::Bulk(b.into())).collect())
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }
}
