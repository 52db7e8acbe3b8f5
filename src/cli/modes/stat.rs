//! `--stat`: a rolling table of keys, memory, clients and request rate (redis-cli
//! `statMode`), one line per interval, the header every 20 lines.

use std::time::Duration;

use super::super::client::Client;
use super::super::emit;
use super::super::resp::Value;
use super::{bytes_to_human, info_long};

const HEADER: &str =
    "------- data ------ --------------------- load -------------------- - child -\n\
keys       mem      clients blocked requests            connections          \n";

/// One line of the table from an INFO text; `previous_requests` gives the `(+n)` delta.
pub fn stat_line(info: &str, previous_requests: i64) -> String {
    // A missing field prints as C's LONG_MIN, as in redis-cli.
    let field = |name: &str| info_long(info, name).unwrap_or(i64::MIN);
    let keys: i64 = (0..20)
        .filter_map(|db| info_long(info, &format!("db{db}:keys")))
        .sum();
    let requests = field("total_commands_processed");
    let delta = if previous_requests == 0 {
        0
    } else {
        requests.wrapping_sub(previous_requests)
    };
    let mut line = format!(
        "{:<11}{:<8} {:<8}{:<8}{:<19} {:<12}",
        keys,
        bytes_to_human(field("used_memory")),
        field("connected_clients"),
        field("blocked_clients"),
        format!("{requests} (+{delta})"),
        field("total_connections_received"),
    );
    let children = field("bgsave_in_progress")
        | (field("aof_rewrite_in_progress") << 1)
        | (field("loading") << 2);
    line.push_str(match children {
        1 => "SAVE",
        2 => "AOF",
        3 => "SAVE+AOF",
        4 => "LOAD",
        _ => "",
    });
    line.push('\n');
    line
}

/// Runs forever (Ctrl-C ends the process).
pub fn run(client: &mut Client) -> i32 {
    let interval = Duration::from_micros(client.cfg.interval_us.max(1) as u64);
    let interval = if client.cfg.interval_us == 0 {
        Duration::from_secs(1)
    } else {
        interval
    };
    let mut requests = 0;
    for i in 0u64.. {
        let info = match client.reconnecting_command(&["INFO"]) {
            Value::Error(e) => {
                eprintln!("ERROR: {}", String::from_utf8_lossy(&e));
                return 1;
            }
            v => v.text().unwrap_or_default(),
        };
        if i % 20 == 0 {
            emit(HEADER.as_bytes());
        }
        emit(stat_line(&info, requests).as_bytes());
        requests = info_long(&info, "total_commands_processed").unwrap_or(i64::MIN);
        std::thread::sleep(interval);
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_layout() {
        let info = "db0:keys=10,expires=0\r\ndb3:keys=4,expires=1\r\nused_memory:1730000\r\nconnected_clients:1\r\n\
                    blocked_clients:0\r\ntotal_commands_processed:507\r\ntotal_connections_received:91\r\n\
                    bgsave_in_progress:0\r\naof_rewrite_in_progress:0\r\nloading:0\r\n";
        assert_eq!(
            stat_line(info, 0),
            "14         1.65M    1       0       507 (+0)            91          \n"
        );
        assert_eq!(
            stat_line(info, 500),
            "14         1.65M    1       0       507 (+7)            91          \n"
        );
    }
}
