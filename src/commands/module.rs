//! MODULE HELP | LIST | LOAD | LOADEX | UNLOAD (redis `module.c` `moduleCommand`). Tandem
//! cannot load Redis modules (they are C libraries written against redis-server's internals):
//! LIST is empty and LOAD answers Redis's failure, behind `enable-module-command` as in Redis.

use super::errors::CmdError;
use super::server_cmds::container;
use super::spec::{Group, Spec, ADMIN, LOADING, NOSCRIPT, STALE};
use super::Ctx;
use crate::protocol::Reply;

const A: u32 = ADMIN | NOSCRIPT;
const G: Group = Group::Server;

pub const COMMANDS: &[Spec] = &[Spec::new("module", -2, 0, G, container).subs(&[
    Spec::new("module|help", 2, LOADING | STALE, G, help),
    Spec::new("module|list", 2, A, G, list),
    Spec::new("module|load", -3, A, G, load),
    Spec::new("module|loadex", -3, A, G, load),
    Spec::new("module|unload", 3, A, G, unload),
])];

const HELP: &[&str] = &[
    "LIST",
    "    Return a list of loaded modules.",
    "LOAD <path> [<arg> ...]",
    "    Load a module library from <path>, passing to it any optional arguments.",
    "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
    "    Load a module library from <path>, while passing it module configurations and optional arguments.",
    "UNLOAD <name>",
    "    Unload a module.",
];

fn help(_cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(super::admin::help_reply("MODULE", HELP))
}

fn list(_cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(Reply::Array(Vec::new()))
}

/// `enable-module-command` (redis `allowProtectedAction`).
fn allowed(cx: &Ctx) -> Result<(), CmdError> {
    let local = super::debug::client_is_local(cx);
    if cx.server.config.read().module_command_allowed(local) {
        return Ok(());
    }
    Err(CmdError::err("MODULE command not allowed. If the enable-module-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server."))
}

fn load(cx: &mut Ctx) -> Result<Reply, CmdError> {
    allowed(cx)?;
    let path = String::from_utf8_lossy(&cx.argv[2]).into_owned();
    let why = match std::fs::metadata(&path) {
        Err(e) => format!("{path}: cannot open shared object file: {e}"),
        Ok(_) => "Tandem cannot load Redis modules".to_string(),
    };
    tracing::warn!("Module {path} failed to load: {why}");
    Err(CmdError::err(
        "Error loading the extension. Please check the server logs.",
    ))
}

fn unload(cx: &mut Ctx) -> Result<Reply, CmdError> {
    allowed(cx)?;
    Err(CmdError::err(
        "Error unloading module: no such module with that name",
    ))
}
