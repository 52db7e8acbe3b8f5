//! The RDB format: layout constants (`format`), the writer (`encode`) and the loader
//! (`decode`, with the packed encodings it reads: `listpack`, `ziplist`, `intset`, `zipmap`).

pub mod decode;
pub mod encode;
pub mod format;
pub mod intset;
pub mod listpack;
pub mod lzf;
pub mod pack;
pub mod stream;
pub mod ziplist;
pub mod zipmap;
