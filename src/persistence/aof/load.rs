//! Loading the AOF (redis `loadAppendOnlyFiles`): the manifest, an old single-file AOF moved
//! into the directory (the 7.0 upgrade), then the base (RDB or commands) and each
//! incremental file, commands replayed as Redis's fake AOF client runs them: straight into
//! their handlers, no checks, no replies, nothing propagated, nothing expiring meanwhile.
//!
//! A torn tail (the file ends inside a command, or inside a MULTI block) is cut off at the
//! last complete command when `aof-load-truncated` is on, as Redis does; anything else that
//! is wrong is fatal, with Redis's log lines.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek};
use std::path::Path;
use std::time::Instant;

use bytes::Bytes;

use super::manifest::{self, Manifest};
use super::text::{read_command, Read, ReadError};
use super::Logged;
use crate::keyspace::Db;
use crate::server::Server;

/// How loading one file ended (redis `AOF_OK` ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    NotExist,
    Empty,
    Truncated,
    /// Fatal: logged already.
    Failed,
}

/// Reads the manifest of the AOF directory at startup or for DEBUG LOADAOF (redis
/// `aofLoadManifestFromDisk`): an empty one when the directory or the file is missing; a
/// damaged one is an error whose lines are logged (the caller exits).
pub fn read_manifest(dir: &Path, filename: &str) -> Result<Manifest, Logged> {
    let path = dir.join(manifest::manifest_name(filename));
    if !dir.is_dir() || !path.exists() {
        return Ok(Manifest::default());
    }
    let text = std::fs::read(&path).map_err(|e| {
        tracing::warn!(
            "Fatal error: can't open the AOF manifest file {} for reading: {e}",
            path.display()
        );
        Logged
    })?;
    Manifest::parse(&text).map_err(|e| {
        tracing::warn!("\n*** FATAL AOF MANIFEST FILE ERROR ***\n");
        if let Some((n, line)) = &e.line {
            tracing::warn!("Reading the manifest file, at line {n}\n");
            tracing::warn!(">>> '{line}'\n");
        }
        tracing::warn!("{}\n", e.reason);
        Logged
    })
}

/// Moves an old-style AOF (`appendfilename` in the working directory) into the AOF directory
/// as its base, when the directory does not describe another dataset yet (redis
/// `aofUpgradePrepare`). An interrupted upgrade is finished the same way.
pub fn upgrade_if_needed(dir: &Path, filename: &str, m: &mut Manifest) -> Result<(), Logged> {
    let old = Path::new(filename);
    if !old.is_file() {
        return Ok(());
    }
    let interrupted = m.incr.is_empty()
        && m.base.as_ref().is_some_and(|b| b.name == filename)
        && !dir.join(filename).exists();
    if dir.is_dir() && !m.is_empty() && !interrupted {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        tracing::warn!(
            "Can't open or create append-only dir {}: {e}",
            dir.display()
        );
        Logged
    })?;
    *m = Manifest {
        base: Some(manifest::Info {
            name: filename.to_string(),
            seq: 1,
            kind: manifest::Kind::Base,
        }),
        base_seq: 1,
        ..Manifest::default()
    };
    m.persist(dir, filename).map_err(|e| {
        tracing::warn!("{e}");
        Logged
    })?;
    std::fs::rename(old, dir.join(filename)).map_err(|e| {
        tracing::warn!(
            "Error trying to move the old AOF file {filename} into dir {}: {e}",
            dir.display()
        );
        Logged
    })?;
    tracing::info!(
        "Successfully migrated an old-style AOF file ({filename}) into the AOF directory ({}).",
        dir.display()
    );
    Ok(())
}

/// Sizes of the manifest's base and incremental files; a missing one is fatal (logged).
fn sizes(dir: &Path, m: &Manifest) -> Result<(u64, u64), Outcome> {
    let mut total = 0;
    let mut base = 0;
    for (i, info) in m.base.iter().chain(m.incr.iter()).enumerate() {
        match std::fs::metadata(dir.join(&info.name)) {
            Ok(md) => {
                total += md.len();
                if i == 0 && m.base.is_some() {
                    base = md.len();
                }
            }
            Err(e) => {
                tracing::warn!(
                    "Unable to obtain the AOF file {} length. stat: {}",
                    info.name,
                    super::strerror(e.raw_os_error().unwrap_or(2))
                );
                return Err(Outcome::Failed);
            }
        }
    }
    Ok((total, base))
}

/// Loads every file of the manifest into `db` (which holds every shard; the dataset is
/// expected empty). Returns the outcome and, on success, (total size, base size).
pub fn load_files<'k>(
    server: &'k Server,
    db: &mut Db<'k>,
    dir: &Path,
    filename: &str,
    m: &Manifest,
) -> (Outcome, u64, u64) {
    if m.is_empty() {
        return (Outcome::NotExist, 0, 0);
    }
    let (total, base_size) = match sizes(dir, m) {
        Ok(s) => s,
        Err(o) => return (o, 0, 0),
    };
    if total == 0 {
        return (Outcome::Empty, 0, 0);
    }
    let progress = &server.persist.load_progress;
    progress.start(total);
    let files: Vec<(&manifest::Info, bool)> = m
        .base
        .iter()
        .map(|b| (b, true))
        .chain(m.incr.iter().map(|i| (i, false)))
        .collect();
    let count = files.len();
    let mut result = Outcome::Ok;
    for (n, (info, is_base)) in files.into_iter().enumerate() {
        let last = n + 1 == count;
        let start = Instant::now();
        let mut out = load_one(server, db, dir, &info.name, filename);
        if out == Outcome::Ok || (out == Outcome::Truncated && last) {
            tracing::info!(
                "DB loaded from {} file {}: {:.3} seconds",
                if is_base { "base" } else { "incr" },
                info.name,
                start.elapsed().as_secs_f64()
            );
        }
        if out == Outcome::Empty {
            out = Outcome::Ok;
        }
        if out == Outcome::Truncated && !last {
            tracing::warn!("Fatal error: the truncated file is not the last file");
            out = Outcome::Failed;
        }
        if matches!(out, Outcome::Failed | Outcome::NotExist) {
            return (Outcome::Failed, 0, 0);
        }
        if out == Outcome::Truncated {
            result = Outcome::Truncated;
        }
    }
    // A torn tail was cut: the files are smaller now.
    let (total, base_size) = sizes(dir, m).unwrap_or((total, base_size));
    (result, total, base_size)
}

/// Loads one file (redis `loadSingleAppendOnlyFile`).
fn load_one<'k>(
    server: &'k Server,
    db: &mut Db<'k>,
    dir: &Path,
    name: &str,
    filename: &str,
) -> Outcome {
    let path = dir.join(name);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!("The append log file {name} doesn't exist: {e}");
            return Outcome::NotExist;
        }
        Err(e) => {
            tracing::warn!("Fatal error: can't open the append log file {name} for reading: {e}");
            return Outcome::Failed;
        }
    };
    if file.metadata().map(|m| m.len()).unwrap_or(0) == 0 {
        return Outcome::Empty;
    }
    let mut r = BufReader::with_capacity(1 << 20, file);
    let is_rdb = r
        .fill_buf()
        .map(|b| b.starts_with(b"REDIS"))
        .unwrap_or(false);
    if is_rdb {
        let old_style = name == filename;
        if old_style {
            tracing::info!("Reading RDB preamble from AOF file...");
        } else {
            tracing::info!("Reading RDB base file on AOF loading...");
        }
        let staged =
            crate::persistence::load::stage_rdb(server, &mut r, !server.is_replica(), None);
        match staged {
            Ok(staged) => {
                staged.install_locked(server, &mut db.locked);
                if old_style {
                    tracing::info!("Reading the remaining AOF tail...");
                }
            }
            Err(e) => {
                tracing::warn!("{e}");
                if old_style {
                    tracing::warn!("Error reading the RDB preamble of the AOF file {name}, AOF loading aborted");
                } else {
                    tracing::warn!("Error reading the RDB base file {name}, AOF loading aborted");
                }
                return Outcome::Failed;
            }
        }
    }
    replay(server, db, &mut r, &path, name)
}

/// Replays the commands of a file from the reader's position.
fn replay<'k>(
    server: &'k Server,
    db: &mut Db<'k>,
    r: &mut BufReader<File>,
    path: &Path,
    name: &str,
) -> Outcome {
    let truncate_ok = server.config.read().aof_load_truncated;
    let mut client = crate::server::connection::detached(u64::MAX);
    client.is_master_link = true;
    let mut multi: Option<Vec<Vec<Bytes>>> = None;
    let mut valid_up_to: u64 = r.stream_position().unwrap_or(0);
    let mut before_multi = valid_up_to;
    let progress = &server.persist.load_progress;
    let mut loops = 0u64;
    let key_load_delay = server.config.read().key_load_delay;
    let truncated = loop {
        match read_command(r) {
            Ok(Read::Eof) => {
                if multi.is_some() {
                    tracing::warn!("Revert incomplete MULTI/EXEC transaction in AOF file {name}");
                    valid_up_to = before_multi;
                    break true;
                }
                return Outcome::Ok;
            }
            Ok(Read::Annotation(_)) => {}
            Ok(Read::Command(argv)) => {
                let spec = match crate::server::dispatch::lookup(&argv) {
                    Ok((_, spec)) => Some(spec),
                    Err((None, _)) => {
                        tracing::warn!(
                            "Unknown command '{}' reading the append only file {name}",
                            String::from_utf8_lossy(&argv[0])
                        );
                        return Outcome::Failed;
                    }
                    // A known command with a wrong argument count: Redis would run it and
                    // fail; here it fails without running.
                    Err((Some(_), _)) => None,
                };
                if let Some(spec) = spec {
                    match spec.name {
                        "multi" => {
                            before_multi = valid_up_to;
                            multi = Some(Vec::new());
                        }
                        "exec" => {
                            for queued in multi.take().unwrap_or_default() {
                                run(server, db, &mut client, &queued);
                            }
                        }
                        _ => match multi.as_mut() {
                            Some(q) => q.push(argv),
                            None => run(server, db, &mut client, &argv),
                        },
                    }
                }
                valid_up_to = r.stream_position().unwrap_or(valid_up_to);
                if key_load_delay != 0 {
                    crate::util::debug_delay(key_load_delay);
                }
            }
            Err(ReadError::Truncated) => break true,
            Err(ReadError::Format) => {
                tracing::warn!("Bad file format reading the append only file {name}: make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>");
                return Outcome::Failed;
            }
            Err(ReadError::Io(e)) => {
                tracing::warn!("Unrecoverable error reading the append only file {name}: {e}");
                return Outcome::Failed;
            }
        }
        loops += 1;
        if loops % 1024 == 0 {
            progress.loaded_bytes.store(
                r.stream_position().unwrap_or(0),
                std::sync::atomic::Ordering::Relaxed,
            );
        }
    };
    debug_assert!(truncated);
    if truncate_ok {
        tracing::warn!("!!! Warning: short read while loading the AOF file {name}!!!");
        tracing::warn!("!!! Truncating the AOF {name} at offset {valid_up_to} !!!");
        let cut = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.set_len(valid_up_to));
        match cut {
            Ok(()) => {
                tracing::warn!("AOF {name} loaded anyway because aof-load-truncated is enabled");
                return Outcome::Truncated;
            }
            Err(e) => tracing::warn!("Error truncating the AOF file {name}: {e}"),
        }
    }
    tracing::warn!("Unexpected end of file reading the append only file {name}. You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server.");
    Outcome::Failed
}

/// Runs one command as the AOF client: its handler on the locked view, its reply and its
/// propagation dropped.
fn run<'k>(
    server: &'k Server,
    db: &mut Db<'k>,
    client: &mut crate::server::client::Client,
    argv: &[Bytes],
) {
    let Ok((_, spec)) = crate::server::dispatch::resolve(argv) else {
        return;
    };
    db.index = client.db;
    {
        let mut cx = crate::commands::Ctx {
            argv,
            db: &mut *db,
            client: &mut *client,
            server,
        };
        let _ = (spec.handler)(&mut cx);
    }
    db.effects.clear();
    db.touched.clear();
    db.touched_dbs.clear();
    db.created.clear();
    db.events.clear();
}

/// Startup with `appendonly yes` (redis `loadDataFromDisk` then
/// `aofOpenIfNeededOnServerStart`): the AOF is loaded (never the RDB), then opened for
/// appending. An error is fatal; its lines are logged already.
pub fn startup(server: &Server, mut m: Manifest) -> Result<(), String> {
    let (dir, filename, _) = super::names(server);
    upgrade_if_needed(&dir, &filename, &mut m).map_err(|Logged| String::new())?;
    let start = Instant::now();
    let (outcome, total, base) = {
        let locked = server.keyspace.lock_all();
        let mut db = Db::new(
            locked,
            0,
            crate::util::now_ms(),
            crate::keyspace::db::ExpireMode::Ignore,
        );
        load_files(server, &mut db, &dir, &filename, &m)
    };
    match outcome {
        Outcome::Failed => return Err(String::new()),
        Outcome::NotExist => {}
        _ => tracing::info!(
            "DB loaded from append only file: {:.3} seconds",
            start.elapsed().as_secs_f64()
        ),
    }
    server.aof.set_sizes(total, base);
    server.aof.init(dir, filename, m.clone());
    server.aof.open_on_start(server, m)
}

/// DEBUG LOADAOF: what is buffered is written, the dataset emptied and the AOF loaded again
/// from disk, on `db` (every shard held by the caller). A failure to load is fatal, as in
/// Redis.
pub fn reload<'k>(server: &'k Server, db: &mut Db<'k>) {
    if server.aof.is_on() {
        server.aof.flush();
    }
    crate::persistence::load::empty_locked(server, &mut db.locked);
    let (dir, filename, _) = super::names(server);
    let Ok(m) = read_manifest(&dir, &filename) else {
        std::process::exit(1);
    };
    server.aof.init(dir.clone(), filename.clone(), m.clone());
    server.aof.delete_history();
    let (m, ..) = server.aof.manifest();
    let index = db.index;
    // Other clients are answered -LOADING meanwhile, as Redis does while it loads.
    let loading = &server.persist.loading;
    loading.store(true, std::sync::atomic::Ordering::Release);
    let (outcome, total, base) = load_files(server, db, &dir, &filename, &m);
    loading.store(false, std::sync::atomic::Ordering::Release);
    db.index = index;
    if server.aof.is_on() {
        server.aof.set_sizes(total, base);
    }
    if !matches!(outcome, Outcome::Ok | Outcome::Empty | Outcome::NotExist) {
        tracing::warn!("Fatal error loading the AOF by DEBUG LOADAOF. Exiting.");
        std::process::exit(1);
    }
    // No change is pending a save any more: Redis zeroes its dirty counter here.
    let dirty = server
        .stats
        .dirty
        .load(std::sync::atomic::Ordering::Relaxed);
    server
        .persist
        .dirty_at_save
        .store(dirty, std::sync::atomic::Ordering::Relaxed);
    tracing::warn!("Append Only File loaded by DEBUG LOADAOF");
}
