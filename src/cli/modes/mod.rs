//! The tool modes (`--stat`, `--latency`, `--scan`, `--bigkeys`, `--pipe`, `--replica`,
//! `--rdb`, `--topology`, ...), one file per family, printing what redis-cli prints.
//!
//! Each mode runs on a connected [`Client`](super::client::Client) and returns the process
//! exit code; only the connection and reply types are shared with the command path.

pub mod keys;
pub mod latency;
pub mod pipe;
pub mod replica;
mod sentinels;
pub mod stat;
pub mod topology;
mod typedict;

/// The text after `field:` in an INFO reply, up to the end of the line or a comma
/// (`getInfoField`, which finds `field` anywhere: `db0:keys` matches `db0:keys=3,...`).
pub fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    let start = info.find(field)? + field.len() + 1;
    let rest = info.get(start..)?;
    let end = rest.find(['\r', ',', '\n']).unwrap_or(rest.len());
    Some(&rest[..end])
}

/// `getLongInfoField`: the field's leading integer, `None` when the field is missing.
pub fn info_long(info: &str, field: &str) -> Option<i64> {
    info_field(info, field).map(super::args::atoi)
}

/// `bytesToHuman`: `100B`, `4.00K`, `1.65M`, `2.00G`.
pub fn bytes_to_human(n: i64) -> String {
    let (sign, n) = if n < 0 {
        ("-", n.unsigned_abs())
    } else {
        ("", n.unsigned_abs())
    };
    let n = n as f64;
    let text = if n < 1024.0 {
        format!("{n}B")
    } else if n < 1024.0 * 1024.0 {
        format!("{:.2}K", n / 1024.0)
    } else if n < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", n / (1024.0 * 1024.0))
    } else {
        format!("{:.2}G", n / (1024.0 * 1024.0 * 1024.0))
    };
    format!("{sign}{text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_fields() {
        let info =
            "# Keyspace\r\nused_memory:1234\r\nused_memory_human:1.2K\r\ndb0:keys=5,expires=0\r\n";
        assert_eq!(info_field(info, "used_memory"), Some("1234"));
        assert_eq!(info_long(info, "db0:keys"), Some(5));
        assert_eq!(info_long(info, "db1:keys"), None);
    }

    #[test]
    fn human_bytes() {
        assert_eq!(bytes_to_human(100), "100B");
        assert_eq!(bytes_to_human(1730000), "1.65M");
        assert_eq!(bytes_to_human(4096), "4.00K");
        assert_eq!(bytes_to_human(-2048), "-2.00K");
    }
}
