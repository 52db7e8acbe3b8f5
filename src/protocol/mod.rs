//! RESP2/RESP3 wire protocol: request decoding (multibulk and inline) and reply encoding.
//!
//! Knows bytes, not commands: nothing here imports `commands`, `keyspace` or `server`.

pub mod decode;
pub mod encode;
pub mod inline;
pub mod reply;

pub use decode::{
    decode_request, decode_request_frame, decode_request_into, DecodeLimits, ProtocolError,
};
pub use reply::Reply;
