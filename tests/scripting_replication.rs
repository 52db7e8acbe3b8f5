//! Scripts and functions on a replicated master (issue #10, atomicity and replication): a
//! master running EVAL, EVALSHA, FCALL, scripts inside MULTI/EXEC and scripts that serve a
//! blocked client, with replicas attached before and after the function libraries were
//! loaded, Tandem and redis-server 7.0.15 on either side. Libraries reach replicas in the
//! snapshot (FUNCTION2 records) or as the FUNCTION command; scripts reach them as the commands
//! they ran. Every scenario ends with equal offsets and `DEBUG DIGEST`, and the replicas serve
//! the functions.

mod support;

use support::{
    escape, start_node as start, start_replica_node as start_replica, wait_in_sync, wait_link_up,
    Server, ServerKind, SYNC_TIMEOUT,
};

use ServerKind::{Redis, Tandem};

/// Runs redis-cli-style lines on one connection, failing on any error reply.
fn run(server: &Server, text: &str) {
    server.run_lines(&text.lines().collect::<Vec<_>>());
}

const LIBRARY: &str = r##"FUNCTION LOAD "#!lua name=counters\nredis.register_function('bump', function(keys, args) redis.call('incrby', keys[1], args[1]); return redis.call('rpush', keys[2], args[1]) end)\nredis.register_function{function_name='peek', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}}""##;

const LATE_LIBRARY: &str = r##"FUNCTION LOAD "#!lua name=late\nredis.register_function('stamp', function(keys, args) return redis.call('hset', keys[1], args[1], args[2]) end)""##;

/// Writes through scripts and functions of every kind Redis replicates as effects.
const SCRIPTED_WRITES: &str = r#"
    EVAL "redis.call('set', KEYS[1], ARGV[1]); redis.call('expire', KEYS[1], 1000); return redis.call('incr', KEYS[2])" 2 s:k s:n v1
    EVAL "for i = 1, 20 do redis.call('zadd', KEYS[1], i, 'm' .. i) end return redis.call('zcard', KEYS[1])" 1 s:z
    EVAL "redis.call('select', 3); redis.call('set', 's:indb3', 'x'); return 1" 0
    EVAL "math.randomseed(7); local r = math.random(1000); return redis.call('set', KEYS[1], r)" 1 s:rand
    EVAL "return redis.call('spop', KEYS[1])" 1 s:empty-set
    SADD s:set a b c d e
    EVAL "return redis.call('spop', KEYS[1])" 1 s:set
    EVAL "redis.call('incr', 's:undeclared'); return redis.call('get', 's:undeclared')" 0
    FCALL bump 2 s:counter s:log 5
    FCALL bump 2 s:counter s:log 7
    MULTI
    EVAL "return redis.call('lpush', KEYS[1], 'in-multi')" 1 s:l
    FCALL bump 2 s:counter s:log 1
    INCR s:n
    EXEC
    EVAL "redis.call('set', KEYS[1], 'kept'); local r = redis.pcall('incr', KEYS[1]); return r['err'] ~= nil" 1 s:err
"#;

fn digest(s: &Server) -> String {
    String::from_utf8_lossy(&s.raw().request_str(&["DEBUG", "DIGEST"])).into_owned()
}

fn scenario(master_kind: ServerKind, replica_kind: ServerKind) {
    let master = start(master_kind, &[]);
    run(&master, LIBRARY);
    run(&master, "SET s:seed 1");
    // This replica gets the library in its full sync.
    let early = start_replica(replica_kind, master.port(), &[]);
    wait_link_up(&early, SYNC_TIMEOUT);
    run(&master, SCRIPTED_WRITES);
    // A client blocked on the master is served by a script's push.
    let mut blocked = master.raw();
    blocked.send_cmd(&[b"BLPOP", b"s:queue", b"10"]);
    std::thread::sleep(std::time::Duration::from_millis(100));
    run(
        &master,
        r#"EVAL "redis.call('rpush', KEYS[1], 'a', 'b'); return redis.call('llen', KEYS[1])" 1 s:queue"#,
    );
    let served = blocked.read_reply_raw();
    assert!(
        served.starts_with(b"*2"),
        "BLPOP was not served: {}",
        escape(&served)
    );
    // A library loaded now travels as the FUNCTION command.
    run(&master, LATE_LIBRARY);
    run(&master, "FCALL stamp 1 s:h f v");
    // This replica attaches after everything: the snapshot has both libraries.
    let late = start_replica(replica_kind, master.port(), &[]);
    wait_link_up(&late, SYNC_TIMEOUT);
    run(&master, "FCALL bump 2 s:counter s:log 100");
    wait_in_sync(&master, &[&early, &late], SYNC_TIMEOUT);
    let want = digest(&master);
    assert!(!want.contains("0000000000000000000000000000000000000000"));
    for r in [&early, &late] {
        assert_eq!(
            digest(r),
            want,
            "digest of {} vs {}",
            r.label(),
            master.label()
        );
        // The replica has the libraries and serves their read-only function.
        let list = r.raw().request_str(&["FUNCTION", "LIST"]);
        let text = String::from_utf8_lossy(&list);
        assert!(
            text.contains("counters") && text.contains("late"),
            "{} libraries: {text}",
            r.label()
        );
        let peek = r.raw().request_str(&["FCALL_RO", "peek", "1", "s:counter"]);
        assert_eq!(peek, b"$3\r\n113\r\n", "{}", r.label());
    }
}

#[test]
fn tandem_master_tandem_replicas_run_scripts_and_functions() {
    scenario(Tandem, Tandem);
}

#[test]
fn redis_master_tandem_replicas_run_scripts_and_functions() {
    scenario(Redis, Tandem);
}

#[test]
fn tandem_master_redis_replicas_run_scripts_and_functions() {
    scenario(Tandem, Redis);
}
