//! Process start and stop around the server: banner and startup log lines, pidfile, listeners,
//! signals, and the graceful shutdown sequence.

use std::sync::Arc;

use super::{listener, Server, REDIS_VERSION};
use crate::config::Config;

/// Runs a server to completion; returns the process exit code.
pub async fn start(config: Config, pidfile: Option<String>) -> u8 {
    let pid = std::process::id();
    tracing::info!("oO0OoO0OoO0Oo Tandem is starting oO0OoO0OoO0Oo");
    tracing::info!(
        "Tandem version={}, redis_version={REDIS_VERSION}, bits=64, pid={pid}, just started",
        env!("CARGO_PKG_VERSION")
    );
    match config.config_file() {
        Some(_) => tracing::info!("Configuration loaded"),
        None => tracing::warn!(
            "Warning: no config file specified, using the default config. In order to specify a config file use tandem-server /path/to/redis.conf"
        ),
    }
    let unimplemented = config.unimplemented_non_default();
    if !unimplemented.is_empty() {
        tracing::warn!(
            "Config directives accepted but not implemented yet: {}",
            unimplemented.join(", ")
        );
    }
    // The logo and the mode line show `tls-port` when `port` is 0 (redis `redisAsciiArt`).
    let port = if config.port != 0 {
        config.port
    } else {
        config.tls_port
    };
    let show_logo = config.always_show_logo;
    let sentinel = crate::sentinel::mode();
    let mut config = config;
    if sentinel {
        if let Err(code) = crate::sentinel::prepare(&mut config) {
            return code;
        }
    }
    let server = Server::new(config);
    server.config_changed();
    if !crate::acl::file::load_at_startup(&server) {
        return 1;
    }
    if !super::tls::startup(&server) {
        return 1;
    }
    let listeners = match listener::bind_all(&server).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!("{e}");
            return 1;
        }
    };
    if server.config.read().get("set-proc-title").as_deref() == Some("yes") {
        let _ = super::proctitle::apply(&server);
    }
    // Before anything loads, as Redis shows its logo (tests wait for the PID in it).
    if show_logo {
        tracing::info!(
            "Tandem {} (redis {REDIS_VERSION}) 64 bit, standalone mode, port: {port}, PID: {pid}",
            env!("CARGO_PKG_VERSION")
        );
    } else {
        let mode = if sentinel { "sentinel" } else { "standalone" };
        tracing::info!("Running mode={mode}, port={port}.");
    }
    if sentinel {
        let running = tokio::spawn(listener::run(server.clone(), listeners));
        tracing::info!("Ready to accept connections");
        if let Some(p) = &pidfile {
            if let Err(e) = std::fs::write(p, format!("{pid}\n")) {
                tracing::warn!("Failed to write PID file: {e}");
            }
        }
        spawn_signal_handlers(server.clone());
        crate::sentinel::start(&server);
        let _ = running.await;
        finish(&server, pidfile.as_deref());
        return 0;
    }
    tracing::info!("Server initialized");
    // Measured where Redis measures it (`InitServerLast`): everything set up, nothing loaded.
    server.startup_memory.store(
        super::memory::used_memory(),
        std::sync::atomic::Ordering::Relaxed,
    );
    // The AOF manifest is read whether the AOF is on or not, as Redis does: a damaged one
    // stops the server.
    let (aof_dir, aof_name, _) = crate::persistence::aof::names(&server);
    let Ok(manifest) = crate::persistence::aof::load::read_manifest(&aof_dir, &aof_name) else {
        return 1;
    };
    let aof_on = server.config.read().appendonly;
    // Clients are accepted while the dump file (or the AOF) loads, and answered -LOADING
    // (as Redis does).
    let loading = aof_on || crate::persistence::save::dump_path(&server).exists();
    server
        .persist
        .loading
        .store(loading, std::sync::atomic::Ordering::Release);
    let running = tokio::spawn(listener::run(server.clone(), listeners));
    let srv = server.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        let res = if aof_on {
            crate::persistence::aof::load::startup(&srv, manifest)
        } else {
            srv.aof.init(aof_dir, aof_name, manifest);
            crate::persistence::save::load_at_startup(&srv)
        };
        srv.aof.delete_history();
        res
    })
    .await;
    server
        .persist
        .loading
        .store(false, std::sync::atomic::Ordering::Release);
    match loaded {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            if !e.is_empty() {
                tracing::warn!("{e}");
            }
            return 1;
        }
        Err(e) => {
            tracing::warn!("Fatal error loading the DB: {e}. Exiting.");
            return 1;
        }
    }
    if let Some(p) = &pidfile {
        if let Err(e) = std::fs::write(p, format!("{pid}\n")) {
            tracing::warn!("Failed to write PID file: {e}");
        }
    }
    tracing::info!("Ready to accept connections");
    spawn_signal_handlers(server.clone());
    crate::persistence::aof::spawn_thread(server.clone());
    let master = server.config.read().replicaof.clone();
    if let Some((host, port)) = master {
        super::logging::set_role(b'S');
        crate::replication::replica::start_link(&server, host, port);
    }
    let _ = running.await;
    if !server.shutdown.finished() {
        // Stopped some other way than the shutdown sequence: at least the AOF is complete.
        crate::persistence::aof::rewrite::kill(&server);
        server.aof.shutdown();
    }
    finish(&server, pidfile.as_deref());
    0
}

fn spawn_signal_handlers(server: Arc<Server>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::warn!("Failed installing signal handlers");
            return;
        };
        loop {
            let sig = tokio::select! {
                _ = term.recv() => 15,
                _ = int.recv() => 2,
            };
            let st = &server.shutdown;
            // A second SIGINT while shutting down: out now (redis `sigShutdownHandler`).
            if sig == 2 && (st.initiated() || st.pending()) {
                tracing::warn!("You insist... exiting now.");
                let _ = std::fs::remove_file(crate::persistence::save::blocking_temp_name());
                std::process::exit(1);
            }
            let name = if sig == 2 { "SIGINT" } else { "SIGTERM" };
            if server
                .persist
                .loading
                .load(std::sync::atomic::Ordering::Acquire)
            {
                tracing::warn!("Received shutdown signal during loading, scheduling shutdown.");
            } else {
                tracing::warn!("Received {name} scheduling shutdown...");
            }
            st.signal(sig);
        }
    });
}

/// The end of a graceful shutdown: remove the pidfile and the unix socket, say goodbye.
fn finish(server: &Server, pidfile: Option<&str>) {
    if let Some(p) = pidfile {
        tracing::info!("Removing the pid file.");
        let _ = std::fs::remove_file(p);
    }
    if let Some(sock) = server.config.read().unixsocket.clone() {
        tracing::info!("Removing the unix socket file.");
        let _ = std::fs::remove_file(sock);
    }
    tracing::warn!("Tandem is now ready to exit, bye bye...");
}
