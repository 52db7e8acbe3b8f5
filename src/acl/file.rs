//! Users from the configuration: `user` lines of redis.conf and the ACL file (`aclfile`),
//! in Redis's format (`user <name> <rule> ...` per line), loaded all-or-nothing and saved by
//! replacing the file (redis `ACLLoadFromFile`, `ACLSaveToFile`, `ACLLoadUsersAtStartup`).

use std::io::Write;
use std::sync::Arc;

use bytes::Bytes;

use super::user::{merge_selector_args, User};
use super::{RuleError, UserHandle};
use crate::server::Server;

/// `acl-pubsub-default allchannels`.
pub fn pubsub_default_all(server: &Server) -> bool {
    server
        .config
        .read()
        .get("acl-pubsub-default")
        .is_some_and(|v| v == "allchannels")
}

/// Checks a `user` directive of the configuration (redis `ACLAppendUserForLoading`): rules
/// that could never apply are refused (unknown commands are only reported when loading).
/// Returns the user's name and merged rules, or the argument Redis names and the error.
pub fn check_directive(args: &[Vec<u8>]) -> Result<Vec<Bytes>, (Vec<u8>, &'static str)> {
    let args: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
    let Some(name) = args.first() else {
        return Err((b"user".to_vec(), "Syntax error"));
    };
    // Redis names `argv[j]` of the whole line (`user` at 0) for the j-th rule at fault.
    let named = |j: usize| match j {
        0 => b"user".to_vec(),
        j => args[j - 1].to_vec(),
    };
    let rules = merge_selector_args(&args[1..]).map_err(|open| {
        let j = args[1..].iter().position(|a| *a == open).unwrap_or(0);
        (named(j), "Syntax error")
    })?;
    let mut fake = User::new(false);
    for (j, r) in rules.iter().enumerate() {
        match fake.apply(r, false) {
            Ok(()) | Err(RuleError::Unknown) => {}
            Err(e) => return Err((named(j), e.message())),
        }
    }
    let mut out = vec![name.clone()];
    out.extend(rules);
    Ok(out)
}

/// Builds the users of the `user` directives (redis `ACLLoadConfiguredUsers`).
fn configured_users(server: &Server, all: bool) -> Result<(), String> {
    let directives = server.config.read().users.clone();
    for d in directives {
        let Some((name, rules)) = d.split_first() else {
            continue;
        };
        if name.iter().any(|c| c.is_ascii_whitespace() || *c == 0) {
            return Err("Spaces not allowed in ACL usernames".into());
        }
        let mut u = match server.acl.user(name) {
            Some(h) => {
                let mut u = (*h.get()).clone();
                let _ = u.apply(b"reset", all);
                u
            }
            None => User::new(all),
        };
        for r in rules {
            if let Err(e) = u.apply(r, all) {
                return Err(format!(
                    "Error loading ACL rule '{}' for the user named '{}': {}",
                    String::from_utf8_lossy(r),
                    String::from_utf8_lossy(name),
                    e.message()
                ));
            }
        }
        if !u.enabled {
            tracing::info!("The user '{}' is disabled (there is no 'on' modifier in the user description). Make sure this is not a configuration error.", String::from_utf8_lossy(name));
        }
        server.acl.put(name, u);
    }
    Ok(())
}

/// redis `ACLLoadUsersAtStartup`: `requirepass`, then the `user` lines or the ACL file.
/// Errors are logged and false returned: the server must then exit.
pub fn load_at_startup(server: &Server) -> bool {
    let (file, has_users, pass) = {
        let c = server.config.read();
        (acl_file(server), !c.users.is_empty(), c.requirepass.clone())
    };
    server.acl.set_default_password(pass.as_deref());
    if file.is_some() && has_users {
        tracing::warn!("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.");
        return false;
    }
    let all = pubsub_default_all(server);
    if let Err(e) = configured_users(server, all) {
        tracing::warn!("{e}");
        tracing::warn!("Critical error while loading ACLs. Exiting.");
        return false;
    }
    if file.is_some() {
        if let Err(errors) = load(server) {
            tracing::warn!("Aborting Redis startup because of ACL errors: {errors}");
            return false;
        }
    }
    true
}

/// The configured `aclfile`, if any.
pub fn acl_file(server: &Server) -> Option<String> {
    server
        .config
        .read()
        .get("aclfile")
        .filter(|f| !f.is_empty())
}

/// The path the ACL file has from the server's working directory.
fn acl_path(name: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(name)
}

/// ACL LOAD: reads the whole file and replaces every user, or changes nothing and returns
/// Redis's error text (and the handles of the users that are gone on success).
pub fn load(server: &Server) -> Result<Vec<Arc<UserHandle>>, String> {
    let Some(name) = acl_file(server) else {
        return Err(String::new());
    };
    let text = match std::fs::read(acl_path(&name)) {
        Ok(t) => t,
        Err(e) => {
            return Err(format!(
                "Error loading ACLs, opening file '{name}': {}",
                crate::persistence::aof::strerror(e.raw_os_error().unwrap_or(0))
            ))
        }
    };
    let all = pubsub_default_all(server);
    let mut errors = String::new();
    let mut users: Vec<(Bytes, User)> = Vec::new();
    for (i, line) in text.split(|&c| c == b'\n').enumerate() {
        let linenum = i + 1;
        let line = trim(line, b" \t\r\n");
        if line.is_empty() {
            continue;
        }
        let argv: Vec<Bytes> = line
            .split(|&c| c == b' ')
            .map(Bytes::copy_from_slice)
            .collect();
        if argv.len() < 2 || &argv[0][..] != b"user" {
            errors.push_str(&format!(
                "{name}:{linenum} should start with user keyword followed by the username. "
            ));
            continue;
        }
        let uname = &argv[1];
        if uname.iter().any(|c| c.is_ascii_whitespace() || *c == 0) {
            errors.push_str(&format!(
                "'{name}:{linenum}: username '{}' contains invalid characters. ",
                String::from_utf8_lossy(uname)
            ));
            continue;
        }
        if users.iter().any(|(n, _)| n == uname) {
            errors.push_str(&format!(
                "WARNING: Duplicate user '{}' found on line {linenum}. ",
                String::from_utf8_lossy(uname)
            ));
            continue;
        }
        let mut u = User::new(all);
        let rules = match merge_selector_args(&argv[2..]) {
            Ok(r) => r,
            Err(_) => {
                errors.push_str(&format!(
                    "{name}:{linenum}: Unmatched parenthesis in selector definition."
                ));
                Vec::new()
            }
        };
        let mut syntax_error = false;
        for r in &rules {
            let r = trim(r, b"\t\r\n");
            match u.apply(r, all) {
                Ok(()) => {}
                Err(RuleError::Unknown) => errors.push_str(&format!(
                    "{name}:{linenum}: Error in applying operation '{}': {}. ",
                    String::from_utf8_lossy(r),
                    RuleError::Unknown.message()
                )),
                Err(e) if !syntax_error => {
                    errors.push_str(&format!("{name}:{linenum}: {}. ", e.message()));
                    syntax_error = true;
                }
                Err(_) => {}
            }
        }
        users.push((uname.clone(), u));
    }
    if !errors.is_empty() {
        errors.push_str("WARNING: ACL errors detected, no change to the previously active ACL rules was performed");
        return Err(errors);
    }
    Ok(server.acl.replace_all(users))
}

fn trim<'a>(mut s: &'a [u8], set: &[u8]) -> &'a [u8] {
    while let Some((f, rest)) = s.split_first() {
        if !set.contains(f) {
            break;
        }
        s = rest;
    }
    while let Some((l, rest)) = s.split_last() {
        if !set.contains(l) {
            break;
        }
        s = rest;
    }
    s
}

/// Every user as a configuration line (`user <name> <rules>`), by name.
pub fn user_lines(server: &Server) -> Vec<String> {
    server
        .acl
        .users()
        .iter()
        .map(|h| format!("user {} {}", h.name_str(), h.get().describe()))
        .collect()
}

/// ACL SAVE: writes every user to a temporary file renamed over the ACL file.
pub fn save(server: &Server) -> std::io::Result<()> {
    let Some(name) = acl_file(server) else {
        return Err(std::io::ErrorKind::NotFound.into());
    };
    let mut text = String::new();
    for l in user_lines(server) {
        text.push_str(&l);
        text.push('\n');
    }
    let path = acl_path(&name);
    let tmp = format!(
        "{name}.tmp-{}-{}",
        std::process::id(),
        crate::util::now_ms()
    );
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    };
    write().inspect_err(|e| {
        tracing::warn!("Writing ACL file for ACL SAVE: {e}");
        let _ = std::fs::remove_file(&tmp);
    })
}
