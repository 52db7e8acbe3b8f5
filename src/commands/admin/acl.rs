//! ACL CAT | DELUSER | DRYRUN | GETUSER | GENPASS | LIST | LOAD | LOG | SAVE | SETUSER |
//! USERS | WHOAMI | HELP (redis `acl.c` `aclCommand`). The users and rules live in `crate::acl`.

use bytes::Bytes;

use super::super::args::{is, parse_int};
use super::super::errors::CmdError;
use super::super::server_cmds::container;
use super::super::spec::{Group, Spec, ADMIN, LOADING, NOSCRIPT, STALE};
use super::super::Ctx;
use crate::acl::catalog::{self, CATALOG};
use crate::acl::clients as acl_clients;
use crate::acl::user::{merge_selector_args, User};
use crate::acl::{file, Denied};
use crate::protocol::Reply;

const C: u32 = NOSCRIPT | LOADING | STALE;
const A: u32 = ADMIN | NOSCRIPT | LOADING | STALE;
const G: Group = Group::Server;

pub const ACL: Spec = Spec::new("acl", -2, 0, G, container).subs(SUBS);

const SUBS: &[Spec] = &[
    Spec::new("acl|cat", -2, C, G, cat),
    Spec::new("acl|deluser", -3, A, G, deluser),
    Spec::new("acl|dryrun", -4, A, G, dryrun),
    Spec::new("acl|genpass", -2, C, G, genpass),
    Spec::new("acl|getuser", 3, A, G, getuser),
    Spec::new("acl|help", 2, LOADING | STALE, G, help),
    Spec::new("acl|list", 2, A, G, list),
    Spec::new("acl|load", 2, A, G, load),
    Spec::new("acl|log", -2, A, G, log),
    Spec::new("acl|save", 2, A, G, save),
    Spec::new("acl|setuser", -3, A, G, setuser),
    Spec::new("acl|users", 2, A, G, users),
    Spec::new("acl|whoami", 2, C, G, whoami),
];

const HELP: &[&str] = &[
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
];

fn help(_cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(super::help_reply("ACL", HELP))
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn setuser(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let name = &cx.argv[2];
    if name
        .iter()
        .any(|&c| c == 0 || c == b' ' || (b'\t'..=b'\r').contains(&c))
    {
        return Err(CmdError::err(
            "Usernames can't contain spaces or null characters",
        ));
    }
    let rules = merge_selector_args(&cx.argv[3..]).map_err(|at| {
        CmdError::err(format_args!(
            "Unmatched parenthesis in acl selector starting at '{}'.",
            lossy(&at)
        ))
    })?;
    let all = file::pubsub_default_all(cx.server);
    let existing = cx.server.acl.user(name);
    let mut u = match &existing {
        Some(h) => (*h.get()).clone(),
        None => User::new(all),
    };
    for r in &rules {
        u.apply(r, all).map_err(|e| {
            CmdError::err(format_args!(
                "Error in ACL SETUSER modifier '{}': {}",
                lossy(r),
                e.message()
            ))
        })?;
    }
    if let Some(h) = &existing {
        acl_clients::kill_pubsub_if_needed(cx.server, h, &u);
    }
    cx.server.acl.put(name, u);
    Ok(Reply::OK)
}

fn deluser(cx: &mut Ctx) -> Result<Reply, CmdError> {
    if cx.argv[2..].iter().any(|n| &n[..] == b"default") {
        return Err(CmdError::err("The 'default' user cannot be removed"));
    }
    let mut deleted = 0;
    for name in &cx.argv[2..] {
        if let Some(h) = cx.server.acl.remove(name) {
            acl_clients::kill_clients_of(cx.server, &h, cx.client);
            deleted += 1;
        }
    }
    Ok(Reply::Int(deleted))
}

/// The permissions of one selector as ACL GETUSER shows them.
fn selector_fields(s: &crate::acl::selector::Selector) -> Vec<(Reply, Reply)> {
    let b = Reply::bulk_str;
    vec![
        (
            b("commands"),
            Reply::bulk(Bytes::from(s.describe_commands())),
        ),
        (b("keys"), Reply::bulk(Bytes::from(s.describe_keys()))),
        (
            b("channels"),
            Reply::bulk(Bytes::from(s.describe_channels())),
        ),
    ]
}

fn getuser(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let Some(h) = cx.server.acl.user(&cx.argv[2]) else {
        return Ok(Reply::Nil);
    };
    let u = h.get();
    let b = Reply::bulk_str;
    let mut fields = vec![
        (
            b("flags"),
            Reply::Set(u.flag_names().into_iter().map(b).collect()),
        ),
        (
            b("passwords"),
            Reply::Array(
                u.passwords
                    .iter()
                    .map(|p| Reply::bulk(Bytes::from(p.clone())))
                    .collect(),
            ),
        ),
    ];
    fields.extend(selector_fields(u.root()));
    fields.push((
        b("selectors"),
        Reply::Array(
            u.selectors[1..]
                .iter()
                .map(|s| Reply::Map(selector_fields(s)))
                .collect(),
        ),
    ));
    Ok(Reply::Map(fields))
}

fn list(cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(Reply::Array(
        file::user_lines(cx.server)
            .into_iter()
            .map(|l| Reply::bulk(Bytes::from(l)))
            .collect(),
    ))
}

fn users(cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(Reply::Array(
        cx.server
            .acl
            .users()
            .iter()
            .map(|h| Reply::Bulk(h.name.clone()))
            .collect(),
    ))
}

fn whoami(cx: &mut Ctx) -> Result<Reply, CmdError> {
    Ok(match &cx.client.user {
        Some(u) => Reply::Bulk(u.name.clone()),
        None => Reply::Nil,
    })
}

const NO_FILE: &str = "This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";

fn load(cx: &mut Ctx) -> Result<Reply, CmdError> {
    if file::acl_file(cx.server).is_none() {
        return Err(CmdError::err(NO_FILE));
    }
    let gone = file::load(cx.server).map_err(CmdError::err)?;
    for h in gone {
        acl_clients::kill_clients_of(cx.server, &h, cx.client);
    }
    Ok(Reply::OK)
}

fn save(cx: &mut Ctx) -> Result<Reply, CmdError> {
    if file::acl_file(cx.server).is_none() {
        return Err(CmdError::err(NO_FILE));
    }
    file::save(cx.server).map_err(|_| {
        CmdError::err("There was an error trying to save the ACLs. Please check the server logs for more information")
    })?;
    Ok(Reply::OK)
}

fn cat(cx: &mut Ctx) -> Result<Reply, CmdError> {
    match cx.argv.len() {
        2 => Ok(Reply::Array(
            catalog::CATEGORIES
                .iter()
                .map(|c| Reply::bulk_str(c))
                .collect(),
        )),
        3 => {
            let Some(bit) = catalog::category(&cx.argv[2]) else {
                let name: String = lossy(&cx.argv[2]).chars().take(128).collect();
                return Err(CmdError::err(format_args!("Unknown category '{name}'")));
            };
            Ok(Reply::Array(
                CATALOG
                    .cmds
                    .iter()
                    .filter(|c| c.cats & bit != 0)
                    .map(|c| Reply::bulk_str(&c.name))
                    .collect(),
            ))
        }
        _ => Err(super::subcommand_syntax_error(cx)),
    }
}

fn genpass(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let bits = match cx.argv.len() {
        2 => 256,
        3 => parse_int(&cx.argv[2])?,
        _ => return Err(super::subcommand_syntax_error(cx)),
    };
    if bits <= 0 || bits > 4096 {
        return Err(CmdError::err("ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096"));
    }
    let chars = ((bits + 3) / 4) as usize;
    Ok(Reply::bulk(Bytes::from(crate::server::random_hex(chars))))
}

fn log(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let count = match cx.argv.len() {
        2 => 10,
        3 if is(&cx.argv[2], "reset") => {
            cx.server.acl.log.reset();
            return Ok(Reply::OK);
        }
        3 => parse_int(&cx.argv[2])?.max(0) as usize,
        _ => return Err(super::subcommand_syntax_error(cx)),
    };
    Ok(cx.server.acl.log.reply(count))
}

fn dryrun(cx: &mut Ctx) -> Result<Reply, CmdError> {
    let Some(h) = cx.server.acl.user(&cx.argv[2]) else {
        return Err(CmdError::err(format_args!(
            "User '{}' not found",
            lossy(&cx.argv[2])
        )));
    };
    let argv = &cx.argv[3..];
    let spec = match crate::server::dispatch::lookup(argv) {
        Ok((_, s)) => s,
        Err((Some(id), _))
            if crate::commands::REGISTRY.all[id].subcommands.is_empty() || argv.len() < 2 =>
        {
            let s = crate::commands::REGISTRY.all[id];
            return Err(CmdError::err(format_args!(
                "wrong number of arguments for '{}' command",
                s.name
            )));
        }
        Err(_) => {
            return Err(CmdError::err(format_args!(
                "Command '{}' not found",
                lossy(&argv[0])
            )))
        }
    };
    Ok(match crate::acl::check(&h.get(), spec, argv) {
        Ok(()) => Reply::OK,
        Err((d, pos)) => Reply::bulk(Bytes::from(match d {
            Denied::Cmd => format!(
                "This user has no permissions to run the '{}' command",
                spec.name
            ),
            Denied::Key => format!(
                "This user has no permissions to access the '{}' key",
                lossy(&argv[pos])
            ),
            Denied::Channel => format!(
                "This user has no permissions to access the '{}' channel",
                lossy(&argv[pos])
            ),
        })),
    })
}
