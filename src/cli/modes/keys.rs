//! Keyspace walks over SCAN: `--scan` (list keys), `--bigkeys` (largest key per type by
//! element count), `--memkeys` (by MEMORY USAGE) and `--hotkeys` (by OBJECT FREQ), with
//! redis-cli's progress lines and summary (`scanMode`, `findBigKeys`, `findHotKeys`).
//! Ctrl-C stops a walk early and still prints the summary.

use std::time::Duration;

use super::super::client::Client;
use super::super::format::{repr_string, OutputMode};
use super::super::resp::{self, Value};
use super::super::{emit, signals};
use super::typedict::TypeDict;

/// One SCAN step: the next cursor and the keys (`sendScan`); exits on any error.
fn scan_step(client: &mut Client, cursor: u64) -> (u64, Vec<Vec<u8>>) {
    let cursor_text = cursor.to_string();
    let reply = match client.cfg.pattern.clone() {
        Some(p) => client.must_command(&[b"SCAN".as_slice(), cursor_text.as_bytes(), b"MATCH", &p]),
        None => client.must_command(&[b"SCAN".as_slice(), cursor_text.as_bytes()]),
    };
    let items = match &reply {
        Value::Error(e) => {
            eprintln!("SCAN error: {}", String::from_utf8_lossy(e));
            std::process::exit(1);
        }
        Value::Array(items) => items,
        _ => {
            eprintln!("Non ARRAY response from SCAN!");
            std::process::exit(1);
        }
    };
    if items.len() != 2 {
        eprintln!("Invalid element count from SCAN!");
        std::process::exit(1);
    }
    let next = items[0].as_int().map_or(0, |n| n as u64);
    let keys = items[1]
        .elements()
        .unwrap_or_default()
        .iter()
        .filter_map(|k| k.bytes().map(<[u8]>::to_vec))
        .collect();
    (next, keys)
}

fn sleep_us(us: i64) {
    if us > 0 {
        std::thread::sleep(Duration::from_micros(us as u64));
    }
}

/// Sends one command per key in a single write, then reads the replies in order.
fn pipeline(client: &mut Client, commands: &[Vec<Vec<u8>>]) -> Vec<Value> {
    let mut out = Vec::new();
    for c in commands {
        resp::encode_command(c, &mut out);
    }
    let Some(conn) = client.conn.as_mut() else {
        std::process::exit(1)
    };
    if let Err(e) = conn.write_all(&out) {
        eprintln!("Error: {e}");
        std::process::exit(1);
    }
    let mut replies = Vec::with_capacity(commands.len());
    while replies.len() < commands.len() {
        match conn.read_value() {
            Ok(Value::Push(_)) => {}
            Ok(v) => replies.push(v),
            Err(e) => {
                eprintln!("Error getting replies ({e})");
                std::process::exit(1);
            }
        }
    }
    replies
}

/// `--scan`: prints every key (quoted on a terminal).
pub fn scan(client: &mut Client) -> i32 {
    signals::install_cancel();
    let mut cursor = 0;
    loop {
        let (next, keys) = scan_step(client, cursor);
        let mut out = Vec::new();
        for key in keys {
            if client.style.mode == OutputMode::Standard {
                out.extend_from_slice(repr_string(&key).as_bytes());
            } else {
                let end = memchr::memchr(0, &key).unwrap_or(key.len());
                out.extend_from_slice(&key[..end]);
            }
            out.push(b'\n');
        }
        emit(&out);
        sleep_us(client.cfg.interval_us);
        cursor = next;
        if signals::cancelled() || cursor == 0 {
            return 0;
        }
    }
}

fn dbsize(client: &mut Client) -> u64 {
    match client.must_command(&["DBSIZE"]) {
        Value::Int(n) => n.max(0) as u64,
        Value::Error(e) => {
            eprintln!("Couldn't determine DBSIZE: {}", String::from_utf8_lossy(&e));
            std::process::exit(1);
        }
        _ => {
            eprintln!("Non INTEGER response from DBSIZE!");
            std::process::exit(1);
        }
    }
}

/// Per-type statistics of a `--bigkeys`/`--memkeys` walk.
struct TypeInfo {
    name: String,
    size_command: Option<&'static str>,
    unit: &'static str,
    biggest: u64,
    count: u64,
    total: u64,
    biggest_key: Option<String>,
}

impl TypeInfo {
    fn new(name: &str, size_command: Option<&'static str>, unit: &'static str) -> TypeInfo {
        TypeInfo {
            name: name.into(),
            size_command,
            unit,
            biggest: 0,
            count: 0,
            total: 0,
            biggest_key: None,
        }
    }
}

const SCAN_BANNER: &str = "\n# Scanning the entire keyspace to find biggest keys as well as\n\
# average sizes per key type.  You can use -i 0.1 to sleep 0.1 sec\n\
# per 100 SCAN commands (not usually needed).\n\n";

/// `--bigkeys` (`memkeys` false) and `--memkeys` (sizes from MEMORY USAGE, `samples` 0 for
/// the server's default).
pub fn big_keys(client: &mut Client, memkeys: bool, samples: u32) -> i32 {
    let mut types = vec![
        TypeInfo::new("string", Some("STRLEN"), "bytes"),
        TypeInfo::new("list", Some("LLEN"), "items"),
        TypeInfo::new("set", Some("SCARD"), "members"),
        TypeInfo::new("hash", Some("HLEN"), "fields"),
        TypeInfo::new("zset", Some("ZCARD"), "members"),
        TypeInfo::new("stream", Some("XLEN"), "entries"),
    ];
    // The summary follows the iteration order of redis-cli's dict of types.
    let mut dict = TypeDict::default();
    for t in &types {
        dict.add(&t.name);
    }
    signals::install_cancel();
    let total_keys = dbsize(client);
    emit(SCAN_BANNER.as_bytes());
    let (mut sampled, mut total_len, mut cursor, mut loops) = (0u64, 0u64, 0u64, 0u64);
    let mut pct;
    loop {
        pct = 100.0 * sampled as f64 / total_keys as f64;
        let (next, keys) = scan_step(client, cursor);
        cursor = next;
        loops += 1;
        let type_cmds: Vec<Vec<Vec<u8>>> = keys
            .iter()
            .map(|k| vec![b"TYPE".to_vec(), k.clone()])
            .collect();
        let mut key_types = Vec::with_capacity(keys.len());
        for (reply, key) in pipeline(client, &type_cmds).into_iter().zip(&keys) {
            let name = match reply {
                Value::Status(s) => String::from_utf8_lossy(&s).into_owned(),
                Value::Error(e) => {
                    eprintln!("TYPE returned an error: {}", String::from_utf8_lossy(&e));
                    std::process::exit(1);
                }
                _ => {
                    eprintln!(
                        "Invalid reply type for TYPE on key '{}'!",
                        String::from_utf8_lossy(key)
                    );
                    std::process::exit(1);
                }
            };
            let index = match dict.find(&name) {
                Some(i) => Some(i),
                None if name != "none" => {
                    types.push(TypeInfo::new(&name, None, "?"));
                    Some(dict.add(&name))
                }
                None => None,
            };
            key_types.push(index);
        }
        // Sizes, for keys that still exist and have a size command (any type with memkeys).
        let mut size_cmds = Vec::new();
        let mut asked = Vec::new();
        for (i, (key, t)) in keys.iter().zip(&key_types).enumerate() {
            let Some(t) = *t else { continue };
            let cmd: Vec<Vec<u8>> = if memkeys {
                let mut c = vec![b"MEMORY".to_vec(), b"USAGE".to_vec(), key.clone()];
                if samples > 0 {
                    c.push(b"SAMPLES".to_vec());
                    c.push(samples.to_string().into_bytes());
                }
                c
            } else if let Some(size_cmd) = types[t].size_command {
                vec![size_cmd.as_bytes().to_vec(), key.clone()]
            } else {
                continue;
            };
            size_cmds.push(cmd);
            asked.push(i);
        }
        let mut sizes = vec![0u64; keys.len()];
        for (i, reply) in asked.into_iter().zip(pipeline(client, &size_cmds)) {
            match reply {
                Value::Int(n) => sizes[i] = n.max(0) as u64,
                _ => {
                    let t = key_types[i].unwrap_or(0);
                    let cmd = if memkeys {
                        "MEMORY USAGE"
                    } else {
                        types[t].size_command.unwrap_or("")
                    };
                    eprintln!(
                        "Warning:  {cmd} on '{}' failed (may have changed type)",
                        String::from_utf8_lossy(&keys[i])
                    );
                }
            }
        }
        for (i, (key, t)) in keys.iter().zip(&key_types).enumerate() {
            let Some(t) = *t else { continue };
            let size = sizes[i];
            let info = &mut types[t];
            info.total += size;
            info.count += 1;
            total_len += key.len() as u64;
            sampled += 1;
            if info.biggest < size {
                let name = repr_string(key);
                let unit = if memkeys { "bytes" } else { info.unit };
                emit(
                    format!(
                        "[{pct:05.2}%] Biggest {:<6} found so far '{name}' with {size} {unit}\n",
                        info.name
                    )
                    .as_bytes(),
                );
                info.biggest_key = Some(name);
                info.biggest = size;
            }
            if sampled % 1_000_000 == 0 {
                emit(format!("[{pct:05.2}%] Sampled {sampled} keys so far\n").as_bytes());
            }
        }
        if client.cfg.interval_us > 0 && loops % 100 == 0 {
            sleep_us(client.cfg.interval_us);
        }
        if signals::cancelled() || cursor == 0 {
            break;
        }
    }
    let mut out = String::from("\n-------- summary -------\n\n");
    if signals::cancelled() {
        out.push_str(&format!("[{pct:05.2}%] "));
    }
    let avg_len = if total_len > 0 {
        total_len as f64 / sampled as f64
    } else {
        0.0
    };
    out.push_str(&format!(
        "Sampled {sampled} keys in the keyspace!\nTotal key length in bytes is {total_len} (avg len {avg_len:.2})\n\n"
    ));
    let order = dict.order();
    for t in order.iter().map(|&id| &types[id]) {
        if let Some(key) = &t.biggest_key {
            let unit = if memkeys { "bytes" } else { t.unit };
            out.push_str(&format!(
                "Biggest {:>6} found '{key}' has {} {unit}\n",
                t.name, t.biggest
            ));
        }
    }
    out.push('\n');
    for t in order.iter().map(|&id| &types[id]) {
        let unit = if memkeys { "bytes" } else { t.unit };
        let share = if sampled > 0 {
            100.0 * t.count as f64 / sampled as f64
        } else {
            0.0
        };
        let avg = if t.count > 0 {
            t.total as f64 / t.count as f64
        } else {
            0.0
        };
        out.push_str(&format!(
            "{} {}s with {} {unit} ({share:05.2}% of keys, avg size {avg:.2})\n",
            t.count, t.name, t.total
        ));
    }
    emit(out.as_bytes());
    0
}

/// How many hot keys `--hotkeys` keeps.
const HOTKEYS_SAMPLE: usize = 16;

/// `--hotkeys`: the keys with the highest LFU counters (needs an LFU maxmemory-policy).
pub fn hot_keys(client: &mut Client) -> i32 {
    signals::install_cancel();
    let total_keys = dbsize(client);
    emit(SCAN_BANNER.replace("biggest keys", "hot keys").as_bytes());
    let mut counters = [0u64; HOTKEYS_SAMPLE];
    let mut names: [Option<String>; HOTKEYS_SAMPLE] = Default::default();
    let (mut sampled, mut cursor, mut loops) = (0u64, 0u64, 0u64);
    let mut pct;
    loop {
        pct = 100.0 * sampled as f64 / total_keys as f64;
        let (next, keys) = scan_step(client, cursor);
        cursor = next;
        loops += 1;
        let cmds: Vec<Vec<Vec<u8>>> = keys
            .iter()
            .map(|k| vec![b"OBJECT".to_vec(), b"FREQ".to_vec(), k.clone()])
            .collect();
        for (reply, key) in pipeline(client, &cmds).into_iter().zip(&keys) {
            let freq = match reply {
                Value::Int(n) => n.max(0) as u64,
                Value::Error(e) => {
                    eprintln!("Error: {}", String::from_utf8_lossy(&e));
                    std::process::exit(1);
                }
                _ => {
                    eprintln!(
                        "Warning: OBJECT freq on '{}' failed (may have been deleted)",
                        repr_string(key)
                    );
                    0
                }
            };
            sampled += 1;
            if sampled % 1_000_000 == 0 {
                emit(format!("[{pct:05.2}%] Sampled {sampled} keys so far\n").as_bytes());
            }
            // An eviction pool ordered by counter, as redis-cli keeps it.
            let mut k = 0;
            while k < HOTKEYS_SAMPLE && freq > counters[k] {
                k += 1;
            }
            if k == 0 {
                continue;
            }
            k -= 1;
            if k != 0 && counters[k] != 0 {
                counters.copy_within(1..=k, 0);
                names[..=k].rotate_left(1);
            }
            counters[k] = freq;
            let name = repr_string(key);
            emit(
                format!("[{pct:05.2}%] Hot key '{name}' found so far with counter {freq}\n")
                    .as_bytes(),
            );
            names[k] = Some(name);
        }
        if client.cfg.interval_us > 0 && loops % 100 == 0 {
            sleep_us(client.cfg.interval_us);
        }
        if signals::cancelled() || cursor == 0 {
            break;
        }
    }
    let mut out = String::from("\n-------- summary -------\n\n");
    if signals::cancelled() {
        out.push_str(&format!("[{pct:05.2}%] "));
    }
    out.push_str(&format!("Sampled {sampled} keys in the keyspace!\n"));
    for k in (0..HOTKEYS_SAMPLE).rev() {
        if counters[k] > 0 {
            out.push_str(&format!(
                "hot key found with counter: {}\tkeyname: {}\n",
                counters[k],
                names[k].as_deref().unwrap_or("")
            ));
        }
    }
    emit(out.as_bytes());
    0
}
