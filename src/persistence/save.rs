//! Saving snapshots to the dump file: temp file, fsync, rename, fsync of the directory, so a
//! crash at any instant leaves the previous good file (DESIGN principle 7).

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;

use super::snapshot::Snapshot;
use crate::server::Server;

/// Where the dump file lives: `dir` is the process's working directory (Redis chdirs to it).
pub fn dump_path(server: &Server) -> PathBuf {
    PathBuf::from(server.config.read().dbfilename.clone())
}

/// Writes a started snapshot to the dump file atomically. Returns the file's path.
pub fn save_snapshot(server: &Arc<Server>, snapshot: Snapshot) -> Result<PathBuf, String> {
    let target = dump_path(server);
    let tmp = PathBuf::from(format!("temp-{}-{}.rdb", std::process::id(), crate::util::now_us()));
    let result = (|| -> std::io::Result<()> {
        let file = File::create(&tmp)?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        snapshot.write(server, &mut w)?;
        w.flush()?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        fs::rename(&tmp, &target)?;
        if let Ok(dir) = File::open(target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."))) {
            let _ = dir.sync_all();
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(target),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(format!("Failed saving the DB: {e}"))
        }
    }
}
