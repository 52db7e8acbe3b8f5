//! Typed access to values for handlers: each returns `WRONGTYPE` when the key holds another
//! kind, `None` when the key is missing, and the `_or_create` forms make an empty value.

use super::errors::{self, CmdError};
use crate::keyspace::hash::Hash;
use crate::keyspace::list::List;
use crate::keyspace::set::Set;
use crate::keyspace::stream::Stream;
use crate::keyspace::zset::ZSet;
use crate::keyspace::{Db, Str, Value};

macro_rules! typed_access {
    ($get:ident, $get_mut:ident, $or_create:ident, $variant:ident, $ty:ty) => {
        /// Read lookup, type-checked.
        pub fn $get<'d>(db: &'d mut Db<'_>, key: &[u8]) -> Result<Option<&'d $ty>, CmdError> {
            match db.get(key) {
                None => Ok(None),
                Some(Value::$variant(v)) => Ok(Some(v)),
                Some(_) => Err(errors::WRONGTYPE),
            }
        }

        /// Write lookup, type-checked.
        pub fn $get_mut<'d>(
            db: &'d mut Db<'_>,
            key: &[u8],
        ) -> Result<Option<&'d mut $ty>, CmdError> {
            match db.get_mut(key) {
                None => Ok(None),
                Some(Value::$variant(v)) => Ok(Some(v)),
                Some(_) => Err(errors::WRONGTYPE),
            }
        }

        /// Write lookup that creates an empty value when the key is missing.
        pub fn $or_create<'d>(db: &'d mut Db<'_>, key: &[u8]) -> Result<&'d mut $ty, CmdError> {
            match db.get_or_insert_with(key, || Value::$variant(<$ty>::default())) {
                Value::$variant(v) => Ok(v),
                _ => Err(errors::WRONGTYPE),
            }
        }
    };
}

typed_access!(get_list, get_list_mut, list_or_create, List, List);
typed_access!(get_hash, get_hash_mut, hash_or_create, Hash, Hash);
typed_access!(get_set, get_set_mut, set_or_create, Set, Set);
typed_access!(get_zset, get_zset_mut, zset_or_create, ZSet, ZSet);
typed_access!(
    get_stream,
    get_stream_mut,
    stream_or_create,
    Stream,
    Box<Stream>
);

/// A string value's bytes (read lookup), type-checked.
pub fn get_string(db: &mut Db<'_>, key: &[u8]) -> Result<Option<bytes::Bytes>, CmdError> {
    match db.get(key) {
        None => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s.to_bytes())),
        Some(_) => Err(errors::WRONGTYPE),
    }
}

/// A string value (write lookup), type-checked.
pub fn get_str_mut<'d>(db: &'d mut Db<'_>, key: &[u8]) -> Result<Option<&'d mut Str>, CmdError> {
    match db.get_mut(key) {
        None => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s)),
        Some(_) => Err(errors::WRONGTYPE),
    }
}
