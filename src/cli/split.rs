//! Splitting a typed line into arguments with redis-cli's quoting rules (sds `sdssplitargs`).
//!
//! `"..."` understands `\xhh`, `\n`, `\r`, `\t`, `\b`, `\a` and `\<any>`; `'...'` only `\'`.
//! A closing quote must be followed by a blank or the end of the line, so `"a"b` is an error,
//! as is an unterminated quote: the caller prints `Invalid argument(s)`.

/// C `isspace` in the "C" locale.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Splits `line` into arguments; `None` for unbalanced quotes or a closing quote followed by
/// something other than a blank.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut args = Vec::new();
    let mut i = 0;
    // A NUL ends the line, as it ends a C string.
    let line = match memchr::memchr(0, line) {
        Some(nul) => &line[..nul],
        None => line,
    };
    loop {
        while i < line.len() && is_space(line[i]) {
            i += 1;
        }
        if i >= line.len() {
            return Some(args);
        }
        let mut current = Vec::new();
        let mut in_double = false;
        let mut in_single = false;
        loop {
            let c = line.get(i).copied();
            let next = line.get(i + 1).copied();
            if in_double {
                match c {
                    None => return None,
                    Some(b'\\') if next == Some(b'x') => {
                        let hi = line.get(i + 2).copied().and_then(hex_value);
                        let lo = line.get(i + 3).copied().and_then(hex_value);
                        if let (Some(hi), Some(lo)) = (hi, lo) {
                            current.push(hi * 16 + lo);
                            i += 3;
                        } else {
                            current.push(b'x');
                            i += 1;
                        }
                    }
                    Some(b'\\') if next.is_some() => {
                        i += 1;
                        current.push(match line[i] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 0x08,
                            b'a' => 0x07,
                            other => other,
                        });
                    }
                    Some(b'"') => {
                        if next.is_some_and(|n| !is_space(n)) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    Some(other) => current.push(other),
                }
            } else if in_single {
                match c {
                    None => return None,
                    Some(b'\\') if next == Some(b'\'') => {
                        current.push(b'\'');
                        i += 1;
                    }
                    Some(b'\'') => {
                        if next.is_some_and(|n| !is_space(n)) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    Some(other) => current.push(other),
                }
            } else {
                match c {
                    None | Some(b' ' | b'\n' | b'\r' | b'\t') => {
                        if c.is_some() {
                            i += 1;
                        }
                        break;
                    }
                    Some(b'"') => in_double = true,
                    Some(b'\'') => in_single = true,
                    Some(other) => current.push(other),
                }
            }
            i += 1;
        }
        args.push(current);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> Option<Vec<String>> {
        split_args(s.as_bytes()).map(|v| {
            v.into_iter()
                .map(|a| String::from_utf8_lossy(&a).into_owned())
                .collect()
        })
    }

    #[test]
    fn quoting_rules() {
        assert_eq!(
            split("  set  a   b "),
            Some(vec!["set".into(), "a".into(), "b".into()])
        );
        assert_eq!(
            split(r#"set "a b\x41\n" 'it\'s' "" x"#),
            Some(vec![
                "set".into(),
                "a bA\n".into(),
                "it's".into(),
                "".into(),
                "x".into()
            ])
        );
        assert_eq!(split(r#"a"b c" d"#), Some(vec!["ab c".into(), "d".into()]));
        assert_eq!(split(r#""\xzz""#), Some(vec!["xzz".into()]));
        assert_eq!(split(""), Some(vec![]));
        assert_eq!(split(r#"get "unterminated"#), None);
        assert_eq!(split(r#"get "a"b"#), None);
        assert_eq!(split("get 'a'b"), None);
        assert_eq!(
            split("get\t'a'\tb\r"),
            Some(vec!["get".into(), "a".into(), "b".into()])
        );
    }
}
