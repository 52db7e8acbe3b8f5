//! tandem-cli: a redis-cli-compatible client (issue 5; not built yet).

/// Entry point of the `tandem-cli` binary; returns the process exit code.
pub fn main() -> i32 {
    eprintln!("tandem-cli is not implemented yet; use redis-cli");
    1
}
