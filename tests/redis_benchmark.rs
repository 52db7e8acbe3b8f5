//! redis-benchmark's default test list runs against tandem-server with no error reply (issue 2:
//! "redis-benchmark -q -n 100000 runs with no errors"; fewer requests here, the same commands).

mod support;

use std::process::Command;

use support::TestServer;

#[test]
fn default_benchmark_list_runs_without_errors() {
    let server = TestServer::start(&[]);
    let out = Command::new("redis-benchmark")
        .args([
            "-p",
            &server.port().to_string(),
            "-q",
            "-n",
            "2000",
            "-c",
            "10",
        ])
        .output()
        .expect("redis-benchmark runs (Debian's redis-tools)");
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "redis-benchmark failed: {text}\n{err}"
    );
    let finished: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("requests per second"))
        .collect();
    for test in [
        "PING_INLINE",
        "PING_MBULK",
        "SET",
        "GET",
        "INCR",
        "LPUSH",
        "RPUSH",
        "LPOP",
        "RPOP",
        "SADD",
        "HSET",
        "SPOP",
        "ZADD",
        "ZPOPMIN",
        "LRANGE_600",
        "MSET",
    ] {
        assert!(
            finished.iter().any(|l| l.starts_with(test)),
            "{test} did not complete:\n{text}"
        );
    }
    assert!(
        !text.to_ascii_lowercase().contains("error") && !err.to_ascii_lowercase().contains("error"),
        "errors reported:\n{text}\n{err}"
    );
    let c = server.raw().request(&[b"INFO", b"stats"]);
    let info = String::from_utf8_lossy(&c);
    assert!(
        info.contains("total_error_replies:0"),
        "the server answered errors: {info}"
    );
    println!(
        "redis-benchmark: {} tests completed without errors",
        finished.len()
    );
}
