//! Reply encoding into RESP2 or RESP3, appended to a connection's output buffer.

use bytes::{BufMut, BytesMut};

use super::reply::Reply;

/// Protocol version chosen with HELLO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resp {
    #[default]
    V2,
    V3,
}

fn put_int_line(out: &mut BytesMut, prefix: u8, n: i64) {
    let mut b = itoa::Buffer::new();
    out.put_u8(prefix);
    out.put_slice(b.format(n).as_bytes());
    out.put_slice(b"\r\n");
}

fn put_bulk(out: &mut BytesMut, bytes: &[u8]) {
    put_int_line(out, b'$', bytes.len() as i64);
    out.put_slice(bytes);
    out.put_slice(b"\r\n");
}

/// Appends the encoding of `reply` to `out`.
pub fn encode(reply: &Reply, resp: Resp, out: &mut BytesMut) {
    match reply {
        Reply::Status(s) => {
            out.put_u8(b'+');
            out.put_slice(s.as_bytes());
            out.put_slice(b"\r\n");
        }
        Reply::Error(s) => {
            out.put_u8(b'-');
            // Error texts must stay on one line (redis replaces newlines with spaces).
            for &c in s.as_bytes() {
                out.put_u8(if c == b'\r' || c == b'\n' { b' ' } else { c });
            }
            out.put_slice(b"\r\n");
        }
        Reply::Int(n) => put_int_line(out, b':', *n),
        Reply::Bulk(b) => put_bulk(out, b),
        Reply::Nil => match resp {
            Resp::V2 => out.put_slice(b"$-1\r\n"),
            Resp::V3 => out.put_slice(b"_\r\n"),
        },
        Reply::NilArray => match resp {
            Resp::V2 => out.put_slice(b"*-1\r\n"),
            Resp::V3 => out.put_slice(b"_\r\n"),
        },
        Reply::Array(items) => {
            put_int_line(out, b'*', items.len() as i64);
            for i in items {
                encode(i, resp, out);
            }
        }
        Reply::Set(items) => {
            put_int_line(
                out,
                if resp == Resp::V3 { b'~' } else { b'*' },
                items.len() as i64,
            );
            for i in items {
                encode(i, resp, out);
            }
        }
        Reply::Push(items) => {
            put_int_line(
                out,
                if resp == Resp::V3 { b'>' } else { b'*' },
                items.len() as i64,
            );
            for i in items {
                encode(i, resp, out);
            }
        }
        Reply::Map(pairs) => {
            match resp {
                Resp::V3 => put_int_line(out, b'%', pairs.len() as i64),
                Resp::V2 => put_int_line(out, b'*', 2 * pairs.len() as i64),
            }
            for (k, v) in pairs {
                encode(k, resp, out);
                encode(v, resp, out);
            }
        }
        Reply::Double(d) => {
            let text = crate::util::format_double(*d);
            match resp {
                Resp::V3 => {
                    out.put_u8(b',');
                    out.put_slice(text.as_bytes());
                    out.put_slice(b"\r\n");
                }
                Resp::V2 => put_bulk(out, text.as_bytes()),
            }
        }
        Reply::Bool(b) => match resp {
            Resp::V3 => out.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
            Resp::V2 => out.put_slice(if *b { b":1\r\n" } else { b":0\r\n" }),
        },
        Reply::Verbatim(b) => match resp {
            Resp::V3 => {
                put_int_line(out, b'=', b.len() as i64 + 4);
                out.put_slice(b"txt:");
                out.put_slice(b);
                out.put_slice(b"\r\n");
            }
            Resp::V2 => put_bulk(out, b),
        },
        Reply::BigNum(b) => match resp {
            Resp::V3 => {
                out.put_u8(b'(');
                out.put_slice(b);
                out.put_slice(b"\r\n");
            }
            Resp::V2 => put_bulk(out, b),
        },
        Reply::Attribute(pairs) => {
            if resp == Resp::V3 {
                put_int_line(out, b'|', pairs.len() as i64);
                for (k, v) in pairs {
                    encode(k, resp, out);
                    encode(v, resp, out);
                }
            }
        }
        Reply::Raw(b) => out.put_slice(b),
        Reply::Multi(items) => {
            for i in items {
                encode(i, resp, out);
            }
        }
        Reply::None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn enc(r: &Reply, resp: Resp) -> Vec<u8> {
        let mut out = BytesMut::new();
        encode(r, resp, &mut out);
        out.to_vec()
    }

    #[test]
    fn resp2_and_resp3_forms() {
        let m = Reply::Map(vec![(Reply::bulk_str("a"), Reply::Int(1))]);
        assert_eq!(enc(&m, Resp::V2), b"*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&m, Resp::V3), b"%1\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&Reply::Nil, Resp::V2), b"$-1\r\n");
        assert_eq!(enc(&Reply::Nil, Resp::V3), b"_\r\n");
        assert_eq!(enc(&Reply::Double(1.5), Resp::V2), b"$3\r\n1.5\r\n");
        assert_eq!(enc(&Reply::Double(1.5), Resp::V3), b",1.5\r\n");
        assert_eq!(
            enc(&Reply::Bulk(Bytes::from_static(b"")), Resp::V2),
            b"$0\r\n\r\n"
        );
        assert_eq!(enc(&Reply::error("ERR a\r\nb"), Resp::V2), b"-ERR a  b\r\n");
    }
}
