//! The process title (redis `redisSetProcTitle` over `setproctitle.c`): what `ps` and
//! /proc/PID/cmdline show, expanded from `proc-title-template` at startup (with
//! `set-proc-title yes`) and by every CONFIG SET of the template.
//!
//! Linux keeps no title of its own: cmdline is the memory that held the argument strings, and
//! when the byte ending them is no longer a NUL the kernel shows that memory up to its first NUL
//! instead. So the title is written over the argument strings and the environment strings after
//! them, as setproctitle(3) emulations do: [`init`] first moves the environment strings to the
//! heap (the `environ` array then points there), and remembers `argv[0]` for `{title}`.
//!
//! [`init`] must run in `main` before any thread starts, and once it has run nothing may read
//! the original argument strings again (`std::env::args` reads them on every call: `main`
//! collects them before). Without [`init`] (tests running a server in process) setting the
//! title does nothing, as a Redis built without `USE_SETPROCTITLE`.

use parking_lot::Mutex;

use super::Server;

/// Redis's title buffer: longer titles are cut to this many bytes.
const MAX_TITLE: usize = 255;

/// The memory the title is written to.
struct Area {
    /// `argv[0]` as given, for `{title}`.
    arg0: String,
    /// Start and length of the argument and environment strings.
    base: usize,
    len: usize,
    /// Offset of the NUL that ended `argv[0]`.
    nul: usize,
    /// Whether the whole area was cleared (done by the first title).
    reset: bool,
}

static AREA: Mutex<Option<Area>> = Mutex::new(None);

/// Takes over the memory of the command line for the title (Linux; elsewhere a no-op).
/// Call once, from `main`, before any thread exists.
pub fn init() {
    #[cfg(target_os = "linux")]
    if let Some(area) = linux::take_over() {
        *AREA.lock() = Some(area);
    }
}

/// Sets the title from the current `proc-title-template` (redis `redisSetProcTitle(NULL)`).
pub fn apply(server: &Server) -> Result<(), &'static str> {
    let mut area = AREA.lock();
    let Some(area) = area.as_mut() else {
        return Ok(());
    };
    let title = {
        let c = server.config.read();
        let template = c.get("proc-title-template").unwrap_or_default();
        expand(&template, &area.arg0, |name| variable(server, &c, name))
    };
    let title = title.ok_or("failed to set process title")?;
    write(area, title.as_bytes());
    Ok(())
}

/// The title for `template` (redis `expandProcTitleTemplate`): variables expanded, then spaces
/// trimmed at both ends. None for an invalid template.
fn expand(
    template: &str,
    title: &str,
    mut var: impl FnMut(&str) -> Option<String>,
) -> Option<String> {
    let out = crate::util::expand_template(template, |name| {
        if name == "title" {
            Some(title.to_string())
        } else {
            var(name)
        }
    })?;
    Some(out.trim_matches(' ').to_string())
}

/// The template variables besides `{title}` (redis `redisProcTitleGetVariable`).
fn variable(server: &Server, c: &crate::config::Config, name: &str) -> Option<String> {
    let socket = c.unixsocket.as_deref();
    Some(match name {
        "listen-addr" if c.port != 0 || c.tls_port != 0 => {
            let addr = c.bind.first().map_or("*", String::as_str);
            let port = if c.port != 0 { c.port } else { c.tls_port };
            format!("{addr}:{port}")
        }
        // Redis prints a NULL path as glibc's printf does.
        "listen-addr" => format!("unixsocket:{}", socket.unwrap_or("(null)")),
        "server-mode" if c.get("cluster-enabled").as_deref() == Some("yes") => "[cluster]".into(),
        "server-mode" if crate::sentinel::mode() => "[sentinel]".into(),
        "server-mode" => String::new(),
        "config-file" => server
            .config_file
            .as_ref()
            .map_or_else(|| "-".to_string(), |p| p.display().to_string()),
        "port" => c.port.to_string(),
        "tls-port" => c.tls_port.to_string(),
        "unixsocket" => socket.unwrap_or_default().to_string(),
        _ => return None,
    })
}

/// Writes `title` over the area as redis `setproctitle` does: NULs after it, and when it ends
/// before `argv[0]` did, a `.` on that NUL so the kernel reads the title up to its own NUL.
fn write(area: &mut Area, title: &[u8]) {
    let cleared = if area.reset {
        area.len.min(MAX_TITLE + 1)
    } else {
        area.reset = true;
        area.len
    };
    let n = title.len().min(MAX_TITLE.min(area.len - 1));
    let mut bytes = vec![0u8; cleared.max(n + 2).min(area.len)];
    bytes[..n].copy_from_slice(&title[..n]);
    if n < area.nul {
        bytes.resize(bytes.len().max(area.nul + 1), 0);
        bytes[area.nul] = b'.';
    } else if n == area.nul && n + 1 < area.len {
        bytes[n] = b' ';
    }
    // SAFETY: [base, base + len) is this process's argument and environment strings, which
    // `take_over` made sure nothing reads any more (environ points to copies, `main` read the
    // arguments before), and `bytes` is no longer than `len`.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), area.base as *mut u8, bytes.len());
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::ffi::{c_char, CStr, CString};

    use super::Area;

    extern "C" {
        static mut environ: *mut *mut c_char;
    }

    #[cfg(target_env = "gnu")]
    extern "C" {
        static mut program_invocation_name: *mut c_char;
        static mut program_invocation_short_name: *mut c_char;
    }

    /// The command line's area from /proc/self/stat (fields 48-51: arg_start, arg_end,
    /// env_start, env_end), argv[0] from /proc/self/cmdline; environment strings moved out.
    pub(super) fn take_over() -> Option<Area> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name, which may hold spaces, start at field 3.
        let fields: Vec<usize> = stat
            .get(stat.rfind(')')? + 2..)?
            .split_whitespace()
            .skip(45)
            .take(4)
            .map(|f| f.parse().ok())
            .collect::<Option<_>>()?;
        let [arg_start, arg_end, env_start, env_end] = fields[..] else {
            return None;
        };
        let cmdline = std::fs::read("/proc/self/cmdline").ok()?;
        let nul = cmdline.iter().position(|&b| b == 0)?;
        if arg_start == 0 || arg_end <= arg_start + nul || env_end < env_start {
            return None;
        }
        let arg0 = String::from_utf8_lossy(&cmdline[..nul]).into_owned();
        // The environment strings join the area when they follow the arguments.
        let mut end = arg_end;
        if env_start == arg_end && move_environment(env_start, env_end) {
            end = env_end;
        }
        keep_program_name();
        Some(Area {
            arg0,
            base: arg_start,
            len: end - arg_start,
            nul,
            reset: false,
        })
    }

    /// Points every `environ` entry that lies in [start, end) to a copy on the heap (leaked:
    /// `environ` keeps it for the life of the process). False if an entry could not be moved.
    fn move_environment(start: usize, end: usize) -> bool {
        // SAFETY: called before any thread exists; `environ` is a NULL-terminated array of
        // NUL-terminated strings, and its entries may be replaced (POSIX).
        unsafe {
            let mut p = environ;
            if p.is_null() {
                return true;
            }
            while !(*p).is_null() {
                let at = *p as usize;
                if (start..end).contains(&at) {
                    let copy = CString::from(CStr::from_ptr(*p));
                    *p = copy.into_raw();
                }
                p = p.add(1);
            }
        }
        true
    }

    /// glibc's program name points into argv[0]: give it a copy (its messages use it).
    fn keep_program_name() {
        #[cfg(target_env = "gnu")]
        // SAFETY: before any thread exists; both are NUL-terminated strings or NULL.
        unsafe {
            for name in [
                &raw mut program_invocation_name,
                &raw mut program_invocation_short_name,
            ] {
                if !(*name).is_null() {
                    *name = CString::from(CStr::from_ptr(*name)).into_raw();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_expand_as_redis() {
        let var = |n: &str| (n == "port").then(|| "6379".to_string());
        assert_eq!(
            expand("{{{title}} {port}  ", "redis-server", var).as_deref(),
            Some("{redis-server} 6379")
        );
        assert_eq!(expand("{nope}", "t", var), None);
        assert_eq!(expand("x {", "t", var), None);
        assert_eq!(expand("x {port", "t", var), None);
        assert_eq!(expand("x }", "t", var).as_deref(), Some("x }"));
    }

    /// The bytes redis-server 7.0.15 leaves in an area of 49 bytes whose argv[0] is 12 long.
    fn written(title: &str, reset: bool) -> Vec<u8> {
        let mut mem = vec![0xAAu8; 49];
        let mut area = Area {
            arg0: String::new(),
            base: mem.as_mut_ptr() as usize,
            len: mem.len(),
            nul: 12,
            reset,
        };
        write(&mut area, title.as_bytes());
        mem
    }

    #[test]
    fn titles_are_written_as_setproctitle() {
        let mut short = vec![0u8; 49];
        short[0] = b'x';
        short[12] = b'.';
        assert_eq!(written("x", false), short);
        let mut exact = vec![0u8; 49];
        exact[..12].copy_from_slice(b"abcdefghijkl");
        exact[12] = b' ';
        assert_eq!(written("abcdefghijkl", false), exact);
        let long = "t".repeat(60);
        let mut cut = vec![b't'; 48];
        cut.push(0);
        assert_eq!(written(&long, false), cut);
    }
}
