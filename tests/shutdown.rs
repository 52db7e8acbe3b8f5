//! The shutdown sequence through the real binaries, each case run against redis-server too:
//! a master waits for a lagging replica before it exits, and a failed final save keeps the
//! server running (the caller gets Redis's error) unless NOSAVE.

mod support;

use std::time::Duration;

use support::{wait_until, RedisServer, Server, TestServer};

fn signal(pid: u32, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig).expect("signal");
}

fn waits_for_lagging_replica(master: &mut Server, replica: &Server) {
    let port = master.port().to_string();
    assert_eq!(
        replica.request(&["REPLICAOF", "127.0.0.1", &port]),
        b"+OK\r\n"
    );
    support::wait_link_up(replica, Duration::from_secs(20));
    assert_eq!(master.request(&["SET", "k", "1"]), b"+OK\r\n");
    support::wait_in_sync(master, &[replica], Duration::from_secs(20));
    signal(replica.pid(), nix::sys::signal::Signal::SIGSTOP);
    assert_eq!(master.request(&["INCR", "k"]), b":2\r\n");
    let mut caller = master.raw();
    caller.send_cmd(&[b"SHUTDOWN"]);
    assert!(
        wait_until(Duration::from_secs(5), || master
            .info_field("server", "shutdown_in_milliseconds")
            .is_some_and(|v| v != "0")),
        "{}: no shutdown in progress",
        master.label()
    );
    signal(replica.pid(), nix::sys::signal::Signal::SIGCONT);
    assert!(
        wait_until(Duration::from_secs(15), || !master.is_running()),
        "{}: did not exit",
        master.label()
    );
    assert_eq!(replica.request(&["GET", "k"]), b"$1\r\n2\r\n");
    let log = master.log_text();
    assert!(
        log.contains("1 of 1 replicas are in sync when shutting down."),
        "{log}"
    );
}

#[test]
fn master_waits_for_lagging_replica_tandem() {
    let mut m = TestServer::start(&["--save", "", "--enable-debug-command", "yes"]);
    let r = TestServer::start(&["--save", "", "--enable-debug-command", "yes"]);
    waits_for_lagging_replica(&mut m, &r);
}

#[test]
fn master_waits_for_lagging_replica_redis() {
    let mut m = RedisServer::start(&["--save", "", "--enable-debug-command", "yes"]);
    let r = RedisServer::start(&["--save", "", "--enable-debug-command", "yes"]);
    waits_for_lagging_replica(&mut m, &r);
}

fn failed_save_keeps_running(s: &mut Server) {
    assert_eq!(s.request(&["SET", "a", "1"]), b"+OK\r\n");
    // A directory where the dump file goes: the rename of the final save fails.
    std::fs::create_dir_all(s.dir().join("dump.rdb")).expect("mkdir");
    let reply = s.request(&["SHUTDOWN"]);
    assert_eq!(
        reply,
        b"-ERR Errors trying to SHUTDOWN. Check logs.\r\n",
        "{}",
        s.label()
    );
    assert_eq!(s.request(&["SET", "b", "2"]), b"+OK\r\n");
    assert!(s
        .log_text()
        .contains("Error trying to save the DB, can't exit."));
    let mut c = s.raw();
    c.send_cmd(&[b"SHUTDOWN", b"NOSAVE"]);
    assert!(wait_until(Duration::from_secs(10), || !s.is_running()));
    let _ = std::fs::remove_dir(s.dir().join("dump.rdb"));
}

#[test]
fn failed_final_save_keeps_running_tandem() {
    let mut s = TestServer::start(&["--save", "900 1"]);
    failed_save_keeps_running(&mut s);
}

#[test]
fn failed_final_save_keeps_running_redis() {
    let mut s = RedisServer::start(&["--save", "900 1"]);
    failed_save_keeps_running(&mut s);
}
