//! Lua scripting, as redis `eval.c`, `script.c` and `script_lua.c`: one Lua 5.1 state for the
//! whole server, the script cache, the bridge between Lua values and replies, and the state
//! of the running script that other clients see (busy scripts, SCRIPT KILL).
//!
//! A script runs inside its command's handler with every shard locked, so it is atomic
//! against all other clients whichever keys it touches. While it runs, other clients' commands
//! wait for it (without holding a worker thread); once it has run longer than
//! `busy-reply-threshold` they get `-BUSY` instead, except the few Redis allows.

pub mod convert;
pub mod flags;
pub mod functions;
pub mod ldb;
pub mod libs;
pub mod run;
pub mod vm;

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::commands::{CmdError, Spec};

/// REDIS_VERSION_NUM of 7.0.15.
pub const VERSION_NUM: i64 = 0x0007_000f;

/// The server's scripting state.
pub struct Scripting {
    vm: Mutex<Option<vm::Vm>>,
    fvm: Mutex<Option<functions::FnVm>>,
    /// Libraries and functions loaded, for FUNCTION STATS and INFO while a function runs.
    pub library_count: std::sync::atomic::AtomicU64,
    pub function_count: std::sync::atomic::AtomicU64,
    /// DEBUG SET-DISABLE-DENY-SCRIPTS: scripts may run commands flagged noscript.
    pub allow_noscript: AtomicBool,
    rand: Arc<Mutex<Rand48>>,
    pub running: Arc<RunState>,
    /// Set on the copy of a server that runs a SCRIPT DEBUG YES session (`ldb::fork`): the
    /// server it copies, whose shutdown ends the session.
    pub fork_parent: Mutex<Option<std::sync::Weak<crate::server::Server>>>,
}

impl Default for Scripting {
    fn default() -> Self {
        Scripting {
            vm: Mutex::new(None),
            fvm: Mutex::new(None),
            library_count: Default::default(),
            function_count: Default::default(),
            allow_noscript: AtomicBool::new(false),
            rand: Arc::new(Mutex::new(Rand48::default())),
            running: Arc::new(RunState::default()),
            fork_parent: Mutex::new(None),
        }
    }
}

impl Scripting {
    /// The Lua state, created on first use.
    pub fn vm(&self) -> Result<MutexGuard<'_, Option<vm::Vm>>, CmdError> {
        let mut g = self.vm.lock();
        if g.is_none() {
            let vm = vm::Vm::new(self.rand.clone(), self.running.clone())
                .map_err(|e| CmdError::err(format_args!("Failed creating the Lua state: {e}")))?;
            *g = Some(vm);
        }
        Ok(g)
    }

    /// Gives `to` the state of `math.random`'s generator (a forked debugging session).
    pub fn copy_random_state(&self, to: &Scripting) {
        to.rand.lock().x = self.rand.lock().x;
    }

    /// The functions' Lua state, created on first use.
    pub fn functions(&self) -> Result<MutexGuard<'_, Option<functions::FnVm>>, CmdError> {
        let mut g = self.fvm.lock();
        if g.is_none() {
            let vm = functions::FnVm::new(self.rand.clone(), self.running.clone())
                .map_err(|e| CmdError::err(format_args!("Failed creating the Lua state: {e}")))?;
            *g = Some(vm);
        }
        Ok(g)
    }

    /// Updates the counts FUNCTION STATS reads after the libraries changed.
    pub fn count_functions(&self, libs: &functions::Libraries) {
        self.library_count
            .store(libs.libs.len() as u64, Ordering::Relaxed);
        self.function_count
            .store(libs.function_count() as u64, Ordering::Relaxed);
    }

    /// Library codes from an RDB built into a set of their own (nothing changes yet).
    pub fn prepare_functions(
        &self,
        codes: &[bytes::Bytes],
    ) -> Result<functions::Libraries, String> {
        if codes.is_empty() {
            return Ok(Default::default());
        }
        let g = self.functions().map_err(|e| e.0.into_owned())?;
        match g.as_ref() {
            Some(f) => f.create_set(codes),
            None => Err("Lua is not available".into()),
        }
    }

    /// Makes `libs` the loaded libraries (a loaded RDB replaces them all).
    pub fn install_functions(&self, libs: functions::Libraries) {
        if libs.libs.is_empty() && self.fvm.lock().is_none() {
            return;
        }
        if let Ok(mut g) = self.functions() {
            if let Some(f) = g.as_mut() {
                f.libraries = libs;
                self.count_functions(&f.libraries);
            }
        }
    }

    /// Adds `libs` to the loaded libraries (DEBUG RELOAD NOFLUSH): a library loaded already
    /// is an error unless `replace`.
    pub fn join_functions(&self, libs: functions::Libraries, replace: bool) -> Result<(), String> {
        let mut g = self.functions().map_err(|e| e.0.into_owned())?;
        let Some(f) = g.as_mut() else {
            return Err("Lua is not available".into());
        };
        f.libraries.join(libs, replace)?;
        self.count_functions(&f.libraries);
        Ok(())
    }

    /// The code of every loaded library (snapshots, FUNCTION DUMP).
    pub fn library_codes(&self) -> Vec<bytes::Bytes> {
        let g = self.fvm.lock();
        g.as_ref()
            .map(|f| f.libraries.libs.values().map(|l| l.code.clone()).collect())
            .unwrap_or_default()
    }

    /// The flags of function `name`, without waiting for a running script.
    fn function_flags(&self, name: &[u8]) -> Option<u32> {
        let g = self.fvm.try_lock()?;
        g.as_ref()?.libraries.function(name).map(|f| f.flags)
    }

    /// SCRIPT FLUSH: a fresh Lua state without cached scripts (redis `scriptingReset`).
    pub fn reset(&self) {
        *self.vm.lock() = None;
    }

    /// (cached scripts, their bytes, Lua's memory) for INFO, without creating the state.
    pub fn memory(&self) -> (usize, usize, usize) {
        match self.vm.try_lock() {
            Some(g) => match g.as_ref() {
                Some(vm) => (vm.scripts.len(), vm.scripts_mem, vm.lua.used_memory()),
                None => (0, 0, EMPTY_LUA_MEMORY),
            },
            // A script is running: report what was last seen.
            None => {
                let r = &self.running;
                (
                    r.last_scripts.load(Ordering::Relaxed) as usize,
                    r.last_scripts_mem.load(Ordering::Relaxed) as usize,
                    r.last_lua_mem.load(Ordering::Relaxed) as usize,
                )
            }
        }
    }

    /// (Lua memory of the functions' state, bytes of library code) for INFO.
    pub fn functions_memory(&self) -> (usize, usize) {
        match self.fvm.try_lock() {
            Some(g) => match g.as_ref() {
                Some(f) => (
                    f.vm.lua.used_memory(),
                    f.libraries
                        .libs
                        .values()
                        .map(|l| l.code.len() + l.name.len())
                        .sum(),
                ),
                None => (EMPTY_LUA_MEMORY, 0),
            },
            None => (
                self.running.last_lua_mem.load(Ordering::Relaxed) as usize,
                0,
            ),
        }
    }

    /// Whether the script `sha` is cached.
    pub fn exists(&self, sha: &[u8]) -> bool {
        let Ok(g) = self.vm() else {
            return false;
        };
        let Ok(s) = std::str::from_utf8(sha) else {
            return false;
        };
        g.as_ref()
            .is_some_and(|vm| vm.scripts.contains_key(&s.to_ascii_lowercase()))
    }
}

/// The flags EVAL/FCALL take from the script they run (redis `evalGetCommandFlags`): a
/// shebang's flags replace the command's own. The script is looked up without waiting: while
/// another script runs, the command's own flags are used.
pub fn command_flags(server: &crate::server::Server, spec: &Spec, argv: &[bytes::Bytes]) -> u32 {
    if !crate::commands::scripting::runs_script(spec.name) || argv.len() < 2 {
        return spec.flags;
    }
    let by_sha = spec.name.starts_with("evalsha");
    let body = &argv[1];
    if spec.name.starts_with("fcall") {
        return match server.scripting.function_flags(body) {
            Some(f) => flags::command_flags(spec.flags, f),
            None => spec.flags,
        };
    }
    if by_sha && body.len() != 40 {
        return spec.flags;
    }
    let sha = if by_sha {
        String::from_utf8_lossy(body).to_ascii_lowercase()
    } else {
        sha1hex(body)
    };
    let cached = server.scripting.vm.try_lock().and_then(|g| {
        g.as_ref()
            .and_then(|vm| vm.scripts.get(&sha).map(|s| s.flags))
    });
    let script = match cached {
        Some(f) => f,
        None if by_sha => return spec.flags,
        None => match flags::from_shebang(body) {
            Ok((f, _)) => f,
            Err(_) => return spec.flags,
        },
    };
    flags::command_flags(spec.flags, script)
}

/// Memory of a fresh Lua state, for INFO before any script ran (Redis reports its state's).
const EMPTY_LUA_MEMORY: usize = 31 * 1024;

/// The script being run, as other clients see it (redis `curr_run_ctx`).
#[derive(Default)]
pub struct RunState {
    pub active: AtomicBool,
    pub start_ms: AtomicI64,
    /// EVAL (true) or FCALL.
    pub is_eval: AtomicBool,
    /// Sent by the master link: never killable.
    pub from_master: AtomicBool,
    /// A write command ran: only SHUTDOWN NOSAVE ends it now.
    pub wrote: AtomicBool,
    pub kill: AtomicBool,
    /// busy-reply-threshold as the script started (ms; 0 = none).
    pub threshold: AtomicI64,
    /// When the running script next lets its worker's other tasks move (ms since start).
    pub next_hand_off: AtomicI64,
    /// The running function's name and the command that runs it (FUNCTION STATS).
    pub name: Mutex<String>,
    pub command: Mutex<Vec<bytes::Bytes>>,
    /// Past busy-reply-threshold: other clients get -BUSY.
    pub timed_out: AtomicBool,
    /// A SCRIPT DEBUG SYNC session: other clients wait for its end, however long (Redis
    /// serves nobody meanwhile).
    pub debugging: AtomicBool,
    pub last_scripts: std::sync::atomic::AtomicU64,
    pub last_scripts_mem: std::sync::atomic::AtomicU64,
    pub last_lua_mem: std::sync::atomic::AtomicU64,
    lock: Mutex<()>,
    done: Condvar,
}

impl RunState {
    pub fn begin(&self, is_eval: bool, from_master: bool) {
        let r = Ordering::Relaxed;
        self.start_ms.store(crate::util::now_ms(), r);
        self.is_eval.store(is_eval, r);
        self.from_master.store(from_master, r);
        self.wrote.store(false, r);
        self.kill.store(false, r);
        self.timed_out.store(false, r);
        self.debugging.store(false, r);
        let _g = self.lock.lock();
        self.active.store(true, Ordering::Release);
    }

    pub fn end(&self) {
        let _g = self.lock.lock();
        self.active.store(false, Ordering::Release);
        self.timed_out.store(false, Ordering::Relaxed);
        self.done.notify_all();
    }

    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    pub fn elapsed_ms(&self) -> i64 {
        crate::util::now_ms() - self.start_ms.load(Ordering::Relaxed)
    }

    /// Waits while a script runs, until it ends (false) or has run for `threshold_ms` (true:
    /// the caller gets -BUSY). The wait gives up the worker thread's other tasks.
    pub fn wait(&self, threshold_ms: i64) -> bool {
        // Most scripts end within microseconds: spin briefly before giving up the worker
        // thread, which costs far more than a short script.
        // (The clock is read once per 64 turns: reading it is most of a turn's cost.)
        let spin_until = std::time::Instant::now() + SPIN;
        let mut turns = 0u32;
        while self.active.load(Ordering::Acquire) {
            turns = turns.wrapping_add(1);
            if turns % 64 == 0 && std::time::Instant::now() >= spin_until {
                break;
            }
            std::hint::spin_loop();
        }
        if !self.active.load(Ordering::Acquire) {
            return false;
        }
        let wait = || {
            let mut g = self.lock.lock();
            loop {
                if !self.active.load(Ordering::Acquire) {
                    return false;
                }
                let left = if self.debugging.load(Ordering::Relaxed) {
                    100
                } else {
                    threshold_ms - self.elapsed_ms()
                };
                if left <= 0 || self.timed_out.load(Ordering::Relaxed) {
                    return true;
                }
                self.done
                    .wait_for(&mut g, Duration::from_millis(left.clamp(1, 100) as u64));
            }
        };
        crate::util::blocking(wait)
    }
}

/// How long a command spins waiting for a running script before it parks its thread.
const SPIN: Duration = Duration::from_micros(200);

/// The BUSY error other clients get while a script has run too long.
pub fn busy_error(state: &RunState) -> CmdError {
    if state.is_eval.load(Ordering::Relaxed) {
        CmdError::fixed(
            "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
        )
    } else {
        CmdError::fixed(
            "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.",
        )
    }
}

/// SHA1 of `data` in lowercase hex (redis `sha1hex`).
pub fn sha1hex(data: &[u8]) -> String {
    let mut h = sha1_smol::Sha1::new();
    h.update(data);
    h.digest().to_string()
}

/// Redis's `redisLrand48`/`redisSrand48` (the rand48 generator), used by `math.random` so
/// that scripts see the same sequences as on Redis.
pub struct Rand48 {
    x: u64,
}

impl Default for Rand48 {
    fn default() -> Self {
        Rand48 {
            x: 0x1234_ABCD_330E,
        }
    }
}

impl Rand48 {
    const MASK: u64 = (1 << 48) - 1;

    pub fn seed(&mut self, seed: i32) {
        self.x = (((seed as u32 as u64) << 16) | 0x330E) & Self::MASK;
    }

    fn next_u31(&mut self) -> i32 {
        self.x = (self.x.wrapping_mul(0x5_DEEC_E66D).wrapping_add(0xB)) & Self::MASK;
        (self.x >> 17) as i32
    }

    /// A number in [0, 1), as `redis_math_random` computes it.
    pub fn next_f64(&mut self) -> f64 {
        const MAX: i32 = i32::MAX;
        (self.next_u31() % MAX) as f64 / MAX as f64
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sha1_of_empty_and_text() {
        // Values from redis-server 7.0.15 (unit/scripting "redis.sha1hex() implementation").
        assert_eq!(
            super::sha1hex(b""),
            "da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
        assert_eq!(
            super::sha1hex(b"Pizza & Mandolino"),
            "74822d82031af7493c20eefa13bd07ec4fada82f"
        );
    }
}
