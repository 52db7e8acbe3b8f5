//! Script flags: the `#!lua flags=...` shebang of scripts and `flags` of functions, and what
//! they make of the command running them (redis `evalExtractShebangFlags`,
//! `scriptFlagsToCmdFlags`).

use crate::commands::spec;

pub const NO_WRITES: u32 = 1 << 0;
pub const ALLOW_OOM: u32 = 1 << 1;
pub const ALLOW_STALE: u32 = 1 << 2;
pub const NO_CLUSTER: u32 = 1 << 3;
pub const ALLOW_CROSS_SLOT: u32 = 1 << 4;
/// A script without a shebang: Redis 6 behaviour, the flags do not apply.
pub const EVAL_COMPAT: u32 = 1 << 5;

/// Flag names as scripts and FUNCTION LIST write them, in Redis's order.
pub const NAMES: &[(u32, &str)] = &[
    (NO_WRITES, "no-writes"),
    (ALLOW_OOM, "allow-oom"),
    (ALLOW_STALE, "allow-stale"),
    (NO_CLUSTER, "no-cluster"),
    (ALLOW_CROSS_SLOT, "allow-cross-slot-keys"),
];

pub fn by_name(name: &[u8]) -> Option<u32> {
    NAMES
        .iter()
        .find(|(_, n)| n.as_bytes() == name)
        .map(|(f, _)| *f)
}

/// The flags of a script body and the length of its shebang line (0 without one).
pub fn from_shebang(body: &[u8]) -> Result<(u32, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((EVAL_COMPAT, 0));
    }
    let Some(end) = memchr::memchr(b'\n', body) else {
        return Err("ERR Invalid script shebang".into());
    };
    let parts = match crate::config::parse::split_args(&body[..end]) {
        Some(p) if !p.is_empty() => p,
        _ => return Err("ERR Invalid engine in script shebang".into()),
    };
    if parts[0] != b"#!lua" {
        return Err(format!(
            "ERR Unexpected engine in script shebang: {}",
            String::from_utf8_lossy(&parts[0])
        ));
    }
    let mut flags = 0;
    for part in &parts[1..] {
        let Some(list) = part.strip_prefix(b"flags=") else {
            return Err(format!(
                "ERR Unknown lua shebang option: {}",
                String::from_utf8_lossy(part)
            ));
        };
        if list.is_empty() {
            continue;
        }
        for name in list.split(|&c| c == b',') {
            match by_name(name) {
                Some(f) => flags |= f,
                None => {
                    return Err(format!(
                        "ERR Unexpected flag in script shebang: {}",
                        String::from_utf8_lossy(name)
                    ))
                }
            }
        }
    }
    Ok((flags, end))
}

/// The command flags of EVAL/FCALL running a script with `script` flags.
pub fn command_flags(cmd: u32, script: u32) -> u32 {
    if script & EVAL_COMPAT != 0 {
        return cmd;
    }
    let mut f = cmd & !(spec::STALE | spec::DENYOOM | spec::WRITE | spec::MAY_REPLICATE);
    if script & (ALLOW_OOM | NO_WRITES) == 0 {
        f |= spec::DENYOOM;
    }
    if script & NO_WRITES == 0 {
        f |= spec::WRITE;
    }
    if script & ALLOW_STALE != 0 {
        f |= spec::STALE;
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebangs() {
        assert_eq!(from_shebang(b"return 1"), Ok((EVAL_COMPAT, 0)));
        assert_eq!(
            from_shebang(b"#!lua flags=no-writes,allow-oom\nreturn 1"),
            Ok((NO_WRITES | ALLOW_OOM, 31))
        );
        assert_eq!(from_shebang(b"#!lua\nreturn 1"), Ok((0, 5)));
        assert_eq!(from_shebang(b"#!lua flags=\nx"), Ok((0, 12)));
        assert!(from_shebang(b"#!lua")
            .unwrap_err()
            .contains("Invalid script shebang"));
        assert!(from_shebang(b"#!python\nx")
            .unwrap_err()
            .contains("Unexpected engine in script shebang: #!python"));
        assert!(from_shebang(b"#!lua flags=bad\nx")
            .unwrap_err()
            .contains("Unexpected flag in script shebang: bad"));
        assert!(from_shebang(b"#!lua foo=bar\nx")
            .unwrap_err()
            .contains("Unknown lua shebang option: foo=bar"));
    }
}
