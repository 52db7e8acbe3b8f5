//! tandem-server: `tandem-server [configfile|-] [--directive value ...]`, as redis-server.

use std::process::ExitCode;

use tandem::config::Config;
use tandem::server::{self, logging, REDIS_VERSION};

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn usage() {
    eprintln!(
        "Usage: ./tandem-server [/path/to/redis.conf] [options] [-]\n       \
         ./tandem-server - (read config from stdin)\n       \
         ./tandem-server -v or --version\n       \
         ./tandem-server -h or --help\n\n\
         Examples:\n       \
         ./tandem-server (run the server with default conf)\n       \
         ./tandem-server /etc/redis/6379.conf\n       \
         ./tandem-server --port 7777\n       \
         ./tandem-server --port 7777 --replicaof 127.0.0.1 8888\n       \
         ./tandem-server /etc/myredis.conf --loglevel verbose -"
    );
}

fn main() -> ExitCode {
    // A snapshot's writer process, started by a server (tandem::persistence::child).
    if let Some(code) = tandem::persistence::child::run_if_writer() {
        return ExitCode::from(code);
    }
    tandem::persistence::child::enable();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(first) = args.first() {
        match first.as_str() {
            "-v" | "--version" => {
                println!(
                    "Tandem server v={} redis_version={REDIS_VERSION} malloc=jemalloc bits=64",
                    env!("CARGO_PKG_VERSION")
                );
                return ExitCode::SUCCESS;
            }
            "-h" | "--help" => {
                usage();
                return ExitCode::SUCCESS;
            }
            _ => {}
        }
    }
    let argv0 = std::env::args().next().unwrap_or_default();
    // The process title is written over the argument strings: read above, never again.
    server::proctitle::init();
    tandem::sentinel::set_mode(tandem::sentinel::detect(&argv0, &args));
    let config = match Config::load(&args) {
        Ok(c) => c,
        Err(e) => {
            eprint!("{e}");
            return ExitCode::from(1);
        }
    };
    if config.daemonize {
        // Detach before any thread exists (the runtime and logger start after this).
        if let Err(e) = nix::unistd::daemon(true, false) {
            eprintln!("Can't daemonize: {e}");
            return ExitCode::from(1);
        }
    }
    let logfile = if config.daemonize && config.logfile.is_empty() {
        "/dev/null".to_string()
    } else {
        config.logfile.clone()
    };
    logging::init(&logfile, config.loglevel.name());
    server::crash::install();
    let pidfile = config
        .pidfile
        .clone()
        .or_else(|| config.daemonize.then(|| "/var/run/redis.pid".to_string()));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
        )
        .enable_all()
        // Every runtime thread's allocations count in the live memory figure (maxmemory).
        .on_thread_start(tandem::server::memory::register_thread)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("Failed creating the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(async move { server::startup::start(config, pidfile).await });
    // A task that never ends (a script looping forever when SHUTDOWN NOSAVE came, as Redis
    // allows while a script is busy) must not keep the process alive: Redis exits at once.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    ExitCode::from(code)
}
