//! Functions (redis `functions.c`): FCALL, FCALL_RO and FUNCTION.
//!
//! Library changes are write commands: they replicate as themselves.

use bytes::Bytes;

use super::args::is;
use super::errors::CmdError;
use super::spec::{
    Group, Spec, ALLOW_BUSY, ALL_KEYS, DENYOOM, LOADING, MAY_REPLICATE, NOSCRIPT, READONLY,
    SKIP_MONITOR, STALE, WRITE,
};
use super::Ctx;
use crate::protocol::Reply;
use crate::scripting::run::{self, Invocation};
use crate::server::dispatch;

const FCALL: u32 = NOSCRIPT | SKIP_MONITOR | MAY_REPLICATE | STALE | ALL_KEYS;
const FCALL_RO: u32 = NOSCRIPT | SKIP_MONITOR | STALE | READONLY | ALL_KEYS;
const NUMKEYS: super::spec::KeysFn = super::scripting::numkeys_keys;

pub const COMMANDS: &[Spec] = &[
    Spec::new("fcall", -3, FCALL, Group::Scripting, fcall).keys_with(0, 0, 0, NUMKEYS),
    Spec::new("fcall_ro", -3, FCALL_RO, Group::Scripting, fcall_ro).keys_with(0, 0, 0, NUMKEYS),
    Spec::new("function", -2, 0, Group::Scripting, container).subs(&[
        Spec::new(
            "function|delete",
            3,
            NOSCRIPT | WRITE,
            Group::Scripting,
            delete,
        ),
        Spec::new("function|dump", 2, NOSCRIPT, Group::Scripting, dump),
        Spec::new(
            "function|flush",
            -2,
            NOSCRIPT | WRITE,
            Group::Scripting,
            flush,
        ),
        Spec::new("function|help", 2, LOADING | STALE, Group::Scripting, help),
        Spec::new(
            "function|kill",
            2,
            NOSCRIPT | ALLOW_BUSY,
            Group::Scripting,
            kill,
        ),
        Spec::new("function|list", -2, NOSCRIPT, Group::Scripting, list),
        Spec::new(
            "function|load",
            -3,
            NOSCRIPT | WRITE | DENYOOM,
            Group::Scripting,
            load,
        ),
        Spec::new(
            "function|restore",
            -3,
            NOSCRIPT | WRITE | DENYOOM,
            Group::Scripting,
            restore,
        ),
        Spec::new(
            "function|stats",
            2,
            NOSCRIPT | ALLOW_BUSY,
            Group::Scripting,
            stats,
        ),
    ]),
];

fn container(_cx: &mut Ctx) -> Result<Reply, CmdError> {
    Err(CmdError::err("unknown subcommand"))
}

fn fcall(cx: &mut Ctx) -> Result<Reply, CmdError> {
    fcall_generic(cx, false)
}

fn fcall_ro(cx: &mut Ctx) -> Result<Reply, CmdError> {
    fcall_generic(cx, true)
}

/// redis `fcallCommandGeneric`.
fn fcall_generic(cx: &mut Ctx, read_only: bool) -> Result<Reply, CmdError> {
    dispatch::feed_monitors(cx.server, cx.client, cx.argv, None);
    let server = cx.server;
    let guard = server.scripting.functions()?;
    let Some(fvm) = guard.as_ref() else {
        return Err(CmdError::err("Lua is not available"));
    };
    let Some(f) = fvm.libraries.function(cx.arg(1)) else {
        return Err(CmdError::err("Function not found"));
    };
    let numkeys = match super::args::parse_int(cx.arg(2)) {
        Ok(n) => n,
        Err(_) => return Err(CmdError::err("Bad number of keys provided")),
    };
    if numkeys > cx.argv.len() as i64 - 3 {
        return Err(CmdError::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    if numkeys < 0 {
        return Err(CmdError::err("Number of keys can't be negative"));
    }
    let numkeys = numkeys as usize;
    let (func, name, flags) = (f.func.clone(), f.name.clone(), f.flags);
    let argv = cx.argv;
    let inv = Invocation {
        name: &name,
        flags,
        read_only,
        is_eval: false,
        keys: &argv[3..3 + numkeys],
        args: &argv[3 + numkeys..],
    };
    run::run(cx, &fvm.vm, &func, &inv)
}

fn load(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let mut replace = false;
    let mut i = 2;
    while i < cx.argv.len() - 1 {
        if is(&cx.argv[i], "replace") {
            replace = true;
            i += 1;
            continue;
        }
        return Err(CmdError::err(format_args!(
            "Unknown option given: {}",
            String::from_utf8_lossy(&cx.argv[i])
        )));
    }
    if i >= cx.argv.len() {
        return Err(CmdError::err("Function code is missing"));
    }
    let code = cx.argv[i].clone();
    let timeout = !cx.client.is_master_link;
    let server = cx.server;
    let mut guard = server.scripting.functions()?;
    let Some(fvm) = guard.as_mut() else {
        return Err(CmdError::err("Lua is not available"));
    };
    let name = fvm.load(&code, replace, timeout).map_err(CmdError::new)?;
    server.scripting.count_functions(&fvm.libraries);
    drop(guard);
    cx.propagate();
    Ok(Reply::Bulk(Bytes::from(name)))
}

fn delete(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let server = cx.server;
    let mut guard = server.scripting.functions()?;
    let Some(fvm) = guard.as_mut() else {
        return Err(CmdError::err("Lua is not available"));
    };
    let name = String::from_utf8_lossy(cx.arg(2)).into_owned();
    if fvm.libraries.libs.get(&name).is_none() {
        return Err(CmdError::err("Library not found"));
    }
    crate::scripting::functions::remove(&mut fvm.libraries, &name);
    server.scripting.count_functions(&fvm.libraries);
    drop(guard);
    cx.propagate();
    Ok(Reply::OK)
}

fn flush(cx: &mut Ctx) -> Result<Reply, CmdError> {
    if cx.argv.len() > 3 {
        return Err(super::admin::subcommand_syntax_error(cx));
    }
    if cx.argv.len() == 3 && !is(&cx.argv[2], "sync") && !is(&cx.argv[2], "async") {
        return Err(CmdError::err(
            "FUNCTION FLUSH only supports SYNC|ASYNC option",
        ));
    }
    let server = cx.server;
    let mut guard = server.scripting.functions()?;
    if let Some(fvm) = guard.as_mut() {
        fvm.libraries = Default::default();
        server.scripting.count_functions(&fvm.libraries);
    }
    drop(guard);
    cx.propagate();
    Ok(Reply::OK)
}

fn kill(cx: &mut Ctx) -> Result<Reply, CmdError> {
    super::scripting::kill(cx, false)
}

fn stats(cx: &mut Ctx) -> Result<Reply, CmdError> {
    use std::sync::atomic::Ordering;
    let s = &cx.server.scripting;
    let state = &s.running;
    let running = if state.is_active() {
        if state.is_eval.load(Ordering::Relaxed) {
            return Err(crate::scripting::busy_error(state));
        }
        Reply::Map(vec![
            (
                bulk("name"),
                Reply::Bulk(Bytes::from(state.name.lock().clone())),
            ),
            (
                bulk("command"),
                Reply::Array(
                    state
                        .command
                        .lock()
                        .iter()
                        .cloned()
                        .map(Reply::Bulk)
                        .collect(),
                ),
            ),
            (bulk("duration_ms"), Reply::Int(state.elapsed_ms())),
        ])
    } else {
        Reply::Nil
    };
    let engine = Reply::Map(vec![
        (
            bulk("libraries_count"),
            Reply::Int(s.library_count.load(Ordering::Relaxed) as i64),
        ),
        (
            bulk("functions_count"),
            Reply::Int(s.function_count.load(Ordering::Relaxed) as i64),
        ),
    ]);
    Ok(Reply::Map(vec![
        (bulk("running_script"), running),
        (bulk("engines"), Reply::Map(vec![(bulk("LUA"), engine)])),
    ]))
}

fn bulk(s: &'static str) -> Reply {
    Reply::Bulk(Bytes::from_static(s.as_bytes()))
}

fn list(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let (mut with_code, mut pattern): (bool, Option<&Bytes>) = (false, None);
    let mut i = 2;
    while i < cx.argv.len() {
        let a = &cx.argv[i];
        if !with_code && is(a, "withcode") {
            with_code = true;
        } else if pattern.is_none() && is(a, "libraryname") {
            if i >= cx.argv.len() - 1 {
                return Err(CmdError::err("library name argument was not given"));
            }
            i += 1;
            pattern = Some(&cx.argv[i]);
        } else {
            return Err(CmdError::err(format_args!(
                "Unknown argument {}",
                String::from_utf8_lossy(a)
            )));
        }
        i += 1;
    }
    let guard = cx.server.scripting.functions()?;
    let Some(fvm) = guard.as_ref() else {
        return Ok(Reply::Array(Vec::new()));
    };
    let mut out = Vec::new();
    for lib in fvm.libraries.libs.values() {
        if let Some(p) = pattern {
            if !crate::util::glob_match(p, lib.name.as_bytes(), true) {
                continue;
            }
        }
        let functions = lib
            .functions
            .iter()
            .map(|f| {
                let flags = crate::scripting::flags::NAMES
                    .iter()
                    .filter(|(bit, _)| f.flags & bit != 0)
                    .map(|(_, n)| Reply::status(n))
                    .collect();
                Reply::Map(vec![
                    (bulk("name"), Reply::Bulk(Bytes::from(f.name.clone()))),
                    (
                        bulk("description"),
                        f.desc.clone().map_or(Reply::Nil, Reply::Bulk),
                    ),
                    (bulk("flags"), Reply::Set(flags)),
                ])
            })
            .collect();
        let mut fields = vec![
            (
                bulk("library_name"),
                Reply::Bulk(Bytes::from(lib.name.clone())),
            ),
            (bulk("engine"), bulk("LUA")),
            (bulk("functions"), Reply::Array(functions)),
        ];
        if with_code {
            fields.push((bulk("library_code"), Reply::Bulk(lib.code.clone())));
        }
        out.push(Reply::Map(fields));
    }
    Ok(Reply::Array(out))
}

fn dump(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let codes = cx.server.scripting.library_codes();
    Ok(Reply::Bulk(Bytes::from(
        crate::persistence::rdb::encode::functions_payload(&codes),
    )))
}

fn restore(cx: &mut Ctx) -> Result<Reply, CmdError> {
    if cx.argv.len() > 4 {
        return Err(super::admin::subcommand_syntax_error(cx));
    }
    #[derive(PartialEq)]
    enum Policy {
        Flush,
        Append,
        Replace,
    }
    let policy = match cx.argv.get(3) {
        None => Policy::Append,
        Some(p) if is(p, "append") => Policy::Append,
        Some(p) if is(p, "replace") => Policy::Replace,
        Some(p) if is(p, "flush") => Policy::Flush,
        Some(_) => {
            return Err(CmdError::err(
                "Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            ))
        }
    };
    let codes =
        crate::persistence::rdb::decode::functions_payload(cx.arg(2)).map_err(CmdError::err)?;
    let server = cx.server;
    let mut guard = server.scripting.functions()?;
    let Some(fvm) = guard.as_mut() else {
        return Err(CmdError::err("Lua is not available"));
    };
    let set = fvm.create_set(&codes).map_err(CmdError::new)?;
    if policy == Policy::Flush {
        fvm.libraries = set;
    } else {
        fvm.libraries
            .join(set, policy == Policy::Replace)
            .map_err(CmdError::new)?;
    }
    server.scripting.count_functions(&fvm.libraries);
    drop(guard);
    cx.propagate();
    Ok(Reply::OK)
}

fn help(_cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(super::admin::help_reply(
        "FUNCTION",
        &[
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this option there is a chance of failure",
            "      in case of functions name collision with another library).",
        ],
    ))
}
