//! The replication protocol from the client side: `--replica` (redis-cli `slaveMode`: SYNC,
//! skip the snapshot, then print every command the master streams, as CSV) and `--rdb FILE`
//! (`getRDB`: SYNC and save the snapshot). Messages go to stderr, spelled as redis-cli's.
//!
//! The snapshot comes either with a length (`$<len>`) or, for diskless transfers, between
//! `$EOF:<40-byte mark>` and that mark.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use super::super::client::Client;
use super::super::conn::Conn;
use super::super::emit;
use super::super::format::{OutputMode, Style};

/// Length of the diskless transfer's end mark (`RDB_EOF_MARK_SIZE`).
const EOF_MARK_LEN: usize = 40;

/// How the master announced the snapshot.
enum Payload {
    Length(u64),
    UntilMark(Vec<u8>),
}

/// `sendReplconf`: logs, sends, and reports whether the master accepted; exits on I/O errors.
fn send_replconf(conn: &mut Conn, a: &str, b: &str) -> bool {
    eprintln!("sending REPLCONF {a} {b}");
    match conn.command(&["REPLCONF", a, b]) {
        Err(_) => {
            eprintln!("\nI/O error");
            std::process::exit(1);
        }
        Ok(super::super::resp::Value::Error(e)) => {
            eprintln!("REPLCONF {a} error: {}", String::from_utf8_lossy(&e));
            false
        }
        Ok(_) => true,
    }
}

/// Sends SYNC and reads the payload announcement (`sendSync`); exits on failure.
fn send_sync(conn: &mut Conn) -> Payload {
    if conn.write_all(b"SYNC\r\n").is_err() {
        eprintln!("Error writing to master");
        std::process::exit(1);
    }
    let line = match conn.read_line() {
        Ok(l) => l,
        Err(_) => {
            eprintln!("Error reading bulk length while SYNCing");
            std::process::exit(1);
        }
    };
    if line.first() == Some(&b'-') {
        eprintln!(
            "SYNC with master failed: {}",
            String::from_utf8_lossy(&line)
        );
        std::process::exit(1);
    }
    let rest = line.get(1..).unwrap_or_default();
    if let Some(mark) = rest.strip_prefix(b"EOF:") {
        if mark.len() >= EOF_MARK_LEN {
            return Payload::UntilMark(mark[..EOF_MARK_LEN].to_vec());
        }
    }
    let digits: String = rest
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .map(|&b| b as char)
        .collect();
    Payload::Length(digits.parse().unwrap_or(0))
}

/// Reads the snapshot and hands each piece of it to `sink`; returns its length. Bytes read
/// past the end mark go back to the connection (the command stream that follows).
fn read_payload(
    conn: &mut Conn,
    payload: &Payload,
    mut sink: impl FnMut(&[u8]),
) -> Result<u64, ()> {
    let mut buf = vec![0u8; 16 * 1024];
    match payload {
        Payload::Length(len) => {
            let mut left = *len;
            while left > 0 {
                let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                match conn.read_raw(&mut buf[..want]) {
                    Ok(n) if n > 0 => {
                        sink(&buf[..n]);
                        left -= n as u64;
                    }
                    _ => return Err(()),
                }
            }
            Ok(*len)
        }
        Payload::UntilMark(mark) => {
            // The last EOF_MARK_LEN bytes seen are held back until we know they are data.
            let mut window: Vec<u8> = Vec::with_capacity(buf.len() + EOF_MARK_LEN);
            let mut total = 0u64;
            loop {
                let n = match conn.read_raw(&mut buf) {
                    Ok(n) if n > 0 => n,
                    _ => return Err(()),
                };
                window.extend_from_slice(&buf[..n]);
                if let Some(at) = memchr::memmem::find(&window, mark) {
                    sink(&window[..at]);
                    total += at as u64;
                    conn.unread(&window[at + EOF_MARK_LEN..]);
                    return Ok(total);
                }
                if window.len() > EOF_MARK_LEN {
                    let keep_from = window.len() - EOF_MARK_LEN;
                    sink(&window[..keep_from]);
                    total += keep_from as u64;
                    window.drain(..keep_from);
                }
            }
        }
    }
}

/// Skips the snapshot, then prints the master's commands as CSV until the link breaks
/// (`slaveMode`). Used by `--replica` and by SYNC/PSYNC typed as a command.
pub fn stream_commands(client: &mut Client) {
    let Some(conn) = client.conn.as_mut() else {
        return;
    };
    let payload = send_sync(conn);
    match &payload {
        Payload::Length(len) => {
            eprintln!("SYNC with master, discarding {len} bytes of bulk transfer...")
        }
        Payload::UntilMark(_) => {
            eprintln!("SYNC with master, discarding bytes of bulk transfer until EOF marker...")
        }
    }
    let Ok(total) = read_payload(conn, &payload, |_| {}) else {
        eprintln!("Error reading RDB payload while SYNCing");
        std::process::exit(1);
    };
    if let Payload::UntilMark(_) = payload {
        eprintln!(
            "SYNC done after {} bytes. Logging commands from master.",
            total + EOF_MARK_LEN as u64
        );
        // A diskless master puts the replica online on its first ACK. The master does not
        // answer ACKs (redis-cli waits for an answer here and so eats the first command).
        std::thread::sleep(std::time::Duration::from_secs(1));
        eprintln!("sending REPLCONF ACK 0");
        if conn.send(&["REPLCONF", "ACK", "0"]).is_err() {
            eprintln!("\nI/O error");
            std::process::exit(1);
        }
    } else {
        eprintln!("SYNC done. Logging commands from master.");
    }
    let csv = Style {
        mode: OutputMode::Csv,
        mb_delim: b"\n".to_vec(),
        cmd_delim: b"\n".to_vec(),
    };
    loop {
        match conn.read_value() {
            Ok(v) => emit(&csv.reply(&v, false)),
            Err(e) => {
                if client.interactive {
                    eprintln!("Error: {e}");
                    return;
                }
                eprintln!("Error: {e}");
                std::process::exit(1);
            }
        }
    }
}

/// `--replica`.
pub fn run_replica(client: &mut Client) -> i32 {
    if let Some(conn) = client.conn.as_mut() {
        send_replconf(conn, "capa", "eof");
        send_replconf(conn, "rdb-filter-only", "");
    }
    stream_commands(client);
    1
}

/// `--rdb FILE` / `--functions-rdb FILE` (`-` for stdout).
pub fn run_rdb(client: &mut Client, path: &Path, functions_only: bool) -> i32 {
    let Some(conn) = client.conn.as_mut() else {
        return 1;
    };
    send_replconf(conn, "capa", "eof");
    send_replconf(conn, "rdb-only", "1");
    if functions_only && !send_replconf(conn, "rdb-filter-only", "functions") {
        eprintln!("Failed requesting functions only RDB from server, aborting");
        return 1;
    }
    let name = path.display().to_string();
    let payload = send_sync(conn);
    match &payload {
        Payload::Length(len) => eprintln!("SYNC sent to master, writing {len} bytes to '{name}'"),
        Payload::UntilMark(_) => {
            eprintln!(
                "SYNC sent to master, writing bytes of bulk transfer until EOF marker to '{name}'"
            )
        }
    }
    let to_stdout = name == "-";
    let mut file = if to_stdout {
        None
    } else {
        match File::create(path) {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!(
                    "Error opening '{name}': {}",
                    super::super::conn::strerror(&e)
                );
                return 1;
            }
        }
    };
    let mut write_error = None;
    let result = read_payload(conn, &payload, |chunk| {
        if write_error.is_some() {
            return;
        }
        let written = match file.as_mut() {
            Some(f) => f.write_all(chunk),
            None => {
                let stdout = std::io::stdout();
                let mut out = stdout.lock();
                out.write_all(chunk).and_then(|()| out.flush())
            }
        };
        if let Err(e) = written {
            write_error = Some(e);
        }
    });
    if let Some(e) = write_error {
        eprintln!(
            "Error writing data to file: {}",
            super::super::conn::strerror(&e)
        );
        return 1;
    }
    let Ok(total) = result else {
        eprintln!("I/O Error reading RDB payload from socket");
        return 1;
    };
    match payload {
        Payload::UntilMark(_) => eprintln!("Transfer finished with success after {total} bytes"),
        Payload::Length(_) => eprintln!("Transfer finished with success."),
    }
    // Close the connection before the fsync, which may take time.
    client.conn = None;
    if let Some(f) = file {
        if let Err(e) = f.sync_all() {
            eprintln!(
                "Fail to fsync '{name}': {}",
                super::super::conn::strerror(&e)
            );
            return 1;
        }
    }
    0
}
