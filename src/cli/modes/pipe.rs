//! `--pipe`: mass insertion of raw RESP from stdin (redis-cli `pipeMode`). A writer thread
//! streams stdin to the server while this thread counts replies; at the end of stdin an
//! `ECHO` of 20 random bytes is sent, and its echo proves every reply has arrived.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::super::client::Client;
use super::super::conn::ConnError;
use super::super::emit;
use super::super::resp::Value;

/// Length of the final ECHO's random payload.
const MAGIC_LEN: usize = 20;

/// Returns the exit code: 1 if any reply was an error or the replies stopped coming.
pub fn run(client: &mut Client) -> i32 {
    let timeout_secs = client.cfg.pipe_timeout_secs;
    let Some(conn) = client.conn.as_mut() else {
        return 1;
    };
    let mut writer = match conn.try_clone_writer() {
        Ok(w) => w,
        Err(e) => {
            eprintln!("Can't set up the connection for pipe mode: {e}");
            return 1;
        }
    };
    let magic: [u8; MAGIC_LEN] = rand::random();
    let eof = Arc::new(AtomicBool::new(false));
    let writer_eof = Arc::clone(&eof);
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match input.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    eprintln!("Error reading from stdin: {e}");
                    std::process::exit(1);
                }
            };
            if n == 0 {
                break;
            }
            if let Err(e) = writer.write_all(&buf[..n]) {
                eprintln!("Error writing to the server: {e}");
                std::process::exit(1);
            }
        }
        // The leading CRLF keeps the ECHO well-formed after garbage input; Redis ignores it.
        let mut echo = b"\r\n*2\r\n$4\r\nECHO\r\n$20\r\n".to_vec();
        echo.extend_from_slice(&magic);
        echo.extend_from_slice(b"\r\n");
        writer_eof.store(true, Ordering::SeqCst);
        emit(b"All data transferred. Waiting for the last reply...\n");
        if let Err(e) = writer.write_all(&echo) {
            eprintln!("Error writing to the server: {e}");
            std::process::exit(1);
        }
    });
    let _ = conn.set_read_timeout(Some(Duration::from_secs(1)));
    let (mut errors, mut replies) = (0u64, 0u64);
    let mut last_read = Instant::now();
    loop {
        match conn.read_value() {
            Ok(reply) => {
                last_read = Instant::now();
                match &reply {
                    Value::Error(e) => {
                        eprintln!("{}", String::from_utf8_lossy(e));
                        errors += 1;
                    }
                    Value::Bulk(b)
                        if eof.load(Ordering::SeqCst) && b.as_slice() == magic.as_slice() =>
                    {
                        emit(b"Last reply received from server.\n");
                        break;
                    }
                    _ => {}
                }
                replies += 1;
            }
            Err(ConnError::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if eof.load(Ordering::SeqCst)
                    && timeout_secs > 0
                    && last_read.elapsed() > Duration::from_secs(timeout_secs as u64)
                {
                    eprintln!("No replies for {timeout_secs} seconds: exiting.");
                    errors += 1;
                    break;
                }
            }
            Err(ConnError::Protocol(_)) => {
                eprintln!("Error reading replies from server");
                return 1;
            }
            Err(_) => return 1,
        }
    }
    emit(format!("errors: {errors}, replies: {replies}\n").as_bytes());
    i32::from(errors > 0)
}
