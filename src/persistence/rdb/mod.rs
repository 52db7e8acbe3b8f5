//! The RDB format: layout constants (`format`), the writer (`encode`) and the loader (`decode`).

pub mod encode;
pub mod format;
