//! The value lists of enum directives and the validators some directives run before a value is
//! accepted (redis `configEnum` arrays and `isValid*` functions), with Redis's error texts.

pub const MAXMEMORY_POLICIES: &[(&str, u32)] = &[
    ("volatile-lru", 0),
    ("volatile-lfu", 1),
    ("volatile-random", 2),
    ("volatile-ttl", 3),
    ("allkeys-lru", 4),
    ("allkeys-lfu", 5),
    ("allkeys-random", 6),
    ("noeviction", 7),
];
pub const LOGLEVELS: &[(&str, u32)] =
    &[("debug", 0), ("verbose", 1), ("notice", 2), ("warning", 3)];
pub(super) const SYSLOG_FACILITIES: &[(&str, u32)] = &[
    ("user", 8),
    ("local0", 128),
    ("local1", 136),
    ("local2", 144),
    ("local3", 152),
    ("local4", 160),
    ("local5", 168),
    ("local6", 176),
    ("local7", 184),
];
pub(super) const SUPERVISED: &[(&str, u32)] =
    &[("upstart", 1), ("systemd", 2), ("auto", 3), ("no", 0)];
pub(super) const APPENDFSYNC: &[(&str, u32)] = &[("everysec", 2), ("always", 1), ("no", 0)];
pub const REPL_DISKLESS_LOAD: &[(&str, u32)] =
    &[("disabled", 0), ("on-empty-db", 1), ("swapdb", 2)];
pub(super) const TLS_AUTH_CLIENTS: &[(&str, u32)] = &[("no", 0), ("yes", 1), ("optional", 2)];
pub(super) const OOM_SCORE_ADJ: &[(&str, u32)] =
    &[("no", 0), ("yes", 1), ("relative", 1), ("absolute", 2)];
pub(super) const ACL_PUBSUB_DEFAULT: &[(&str, u32)] =
    &[("allchannels", 1 << 2), ("resetchannels", 0)];
pub(super) const SANITIZE_DUMP_PAYLOAD: &[(&str, u32)] = &[("no", 0), ("yes", 1), ("clients", 2)];
/// `enable-protected-configs`, `enable-debug-command`, `enable-module-command`.
pub const PROTECTED_ACTION: &[(&str, u32)] = &[("no", 0), ("yes", 1), ("local", 2)];
pub(super) const ENDPOINT_TYPE: &[(&str, u32)] =
    &[("ip", 0), ("hostname", 1), ("unknown-endpoint", 2)];
pub(super) const PROPAGATION_ERROR: &[(&str, u32)] =
    &[("ignore", 0), ("panic", 1), ("panic-on-replicas", 2)];
pub(super) const SHUTDOWN_ON_SIG: &[(&str, u32)] = &[
    ("default", 0),
    ("save", 1),
    ("nosave", 2),
    ("now", 4),
    ("force", 8),
];

pub(super) fn check_shutdown_flags(v: u32) -> Result<(), &'static str> {
    if v & 1 != 0 && v & 2 != 0 {
        return Err("shutdown options SAVE and NOSAVE can't be used simultaneously");
    }
    Ok(())
}

/// redis `pathIsBaseName`.
pub(super) fn is_base_name(v: &str) -> bool {
    !v.contains(['/', '\\'])
}

pub(super) fn check_dbfilename(v: &str) -> Result<(), &'static str> {
    if !is_base_name(v) {
        return Err("dbfilename can't be a path, just a filename");
    }
    Ok(())
}

pub(super) fn check_appendfilename(v: &str) -> Result<(), &'static str> {
    if v.is_empty() {
        return Err("appendfilename can't be empty");
    }
    if !is_base_name(v) {
        return Err("appendfilename can't be a path, just a filename");
    }
    Ok(())
}

pub(super) fn check_appenddirname(v: &str) -> Result<(), &'static str> {
    if v.is_empty() {
        return Err("appenddirname can't be empty");
    }
    if !is_base_name(v) {
        return Err("appenddirname can't be a path, just a dirname");
    }
    Ok(())
}

pub(super) fn check_hostname(v: &str) -> Result<(), &'static str> {
    if v.len() >= 256 {
        return Err("Hostnames must be less than 256 characters");
    }
    if !v
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.')
    {
        return Err("Hostnames may only contain alphanumeric characters, hyphens or dots");
    }
    Ok(())
}

/// redis `validateProcTitleTemplate`: the template must expand (known `{variables}`, balanced
/// braces) to something non-blank when the title is empty. `{listen-addr}`, `{port}`,
/// `{tls-port}` and `{config-file}` (`-` without one) never expand to nothing.
pub(super) fn check_proc_title_template(v: &str) -> Result<(), &'static str> {
    const BAD: &str = "template format is invalid or contains unknown variables";
    let out = crate::util::expand_template(v, |name| match name {
        "title" | "server-mode" | "unixsocket" => Some(String::new()),
        "listen-addr" | "port" | "tls-port" | "config-file" => Some("-".to_string()),
        _ => None,
    })
    .ok_or(BAD)?;
    if out.trim_matches(' ').is_empty() {
        return Err(BAD);
    }
    Ok(())
}

pub(super) const DEFRAG_UNSUPPORTED: &str = "Active defragmentation cannot be enabled: it requires a Redis server compiled with a modified Jemalloc like the one shipped by default with the Redis source distribution";
