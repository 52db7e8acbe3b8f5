//! The directives with their own syntax (redis `createSpecialConfig`): `dir`, `save`,
//! `client-output-buffer-limit`, `oom-score-adj-values`, `notify-keyspace-events`, `bind`,
//! `replicaof`, `latency-tracking-info-percentiles`.

use super::table::Special;
use super::value::{memtoull, strerror, strtoll_full, SetCtx};
use super::{notify, Config, ObufLimit};

/// redis `keyspaceEventsStringToFlags`.
pub(super) fn notify_flags(classes: &str) -> Option<u32> {
    let mut flags = 0;
    for c in classes.chars() {
        flags |= match c {
            'A' => notify::ALL,
            'g' => notify::GENERIC,
            '$' => notify::STRING,
            'l' => notify::LIST,
            's' => notify::SET,
            'h' => notify::HASH,
            'z' => notify::ZSET,
            'x' => notify::EXPIRED,
            'e' => notify::EVICTED,
            'K' => notify::KEYSPACE,
            'E' => notify::KEYEVENT,
            't' => notify::STREAM,
            'm' => notify::KEY_MISS,
            'd' => notify::MODULE,
            'n' => notify::NEW,
            _ => return None,
        };
    }
    Some(flags)
}

/// redis `keyspaceEventsFlagsToString`.
pub(super) fn notify_string(flags: u32) -> String {
    let mut s = String::new();
    if flags & notify::ALL == notify::ALL {
        s.push('A');
    } else {
        for (bit, c) in [
            (notify::GENERIC, 'g'),
            (notify::STRING, '$'),
            (notify::LIST, 'l'),
            (notify::SET, 's'),
            (notify::HASH, 'h'),
            (notify::ZSET, 'z'),
            (notify::EXPIRED, 'x'),
            (notify::EVICTED, 'e'),
            (notify::STREAM, 't'),
            (notify::MODULE, 'd'),
            (notify::NEW, 'n'),
        ] {
            if flags & bit != 0 {
                s.push(c);
            }
        }
    }
    for (bit, c) in [
        (notify::KEYSPACE, 'K'),
        (notify::KEYEVENT, 'E'),
        (notify::KEY_MISS, 'm'),
    ] {
        if flags & bit != 0 {
            s.push(c);
        }
    }
    s
}

/// C `%f` followed by redis `trimDoubleString`.
pub fn format_percentile(v: f64) -> String {
    let s = format!("{v:.6}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

impl Config {
    pub(super) fn special_value(&self, sp: Special) -> String {
        match sp {
            Special::Dir => self.dir.clone(),
            Special::Save => self
                .save
                .iter()
                .map(|(s, c)| format!("{s} {c}"))
                .collect::<Vec<_>>()
                .join(" "),
            Special::ClientOutputBufferLimit => {
                let l = &self.client_output_buffer_limit;
                [
                    ("normal", &l.normal),
                    ("slave", &l.replica),
                    ("pubsub", &l.pubsub),
                ]
                .iter()
                .map(|(n, o)| format!("{n} {} {} {}", o.hard_bytes, o.soft_bytes, o.soft_seconds))
                .collect::<Vec<_>>()
                .join(" ")
            }
            Special::OomScoreAdjValues => self
                .oom_score_adj_values
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(" "),
            Special::NotifyKeyspaceEvents => self.notify_keyspace_events.clone(),
            Special::Bind => self.bind.join(" "),
            Special::ReplicaOf => match &self.replicaof {
                Some((host, port)) => format!("{host} {port}"),
                None => String::new(),
            },
            Special::LatencyTrackingInfoPercentiles => self
                .latency_tracking_info_percentiles
                .iter()
                .map(|p| format_percentile(*p))
                .collect::<Vec<_>>()
                .join(" "),
        }
    }

    pub(super) fn apply_special(
        &mut self,
        sp: Special,
        args: &[String],
        ctx: &mut SetCtx,
    ) -> Result<(), String> {
        match sp {
            Special::Dir => self.set_dir(args, ctx),
            Special::Save => self.set_save(args, ctx),
            Special::ClientOutputBufferLimit => self.set_obuf_limits(args),
            Special::OomScoreAdjValues => {
                if args.len() != 3 {
                    return Err("wrong number of arguments".into());
                }
                let mut vals = [0i64; 3];
                for (slot, a) in vals.iter_mut().zip(args) {
                    match strtoll_full(a, 10) {
                        Some(v) if (-2000..=2000).contains(&v) => *slot = v,
                        _ => {
                            return Err("Invalid oom-score-adj-values, elements must be between -2000 and 2000.".into())
                        }
                    }
                }
                self.oom_score_adj_values = vals;
                Ok(())
            }
            Special::NotifyKeyspaceEvents => {
                if args.len() != 1 {
                    return Err("wrong number of arguments".into());
                }
                let flags = notify_flags(&args[0])
                    .ok_or("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")?;
                self.notify_keyspace_events_flags = flags;
                self.notify_keyspace_events = notify_string(flags);
                Ok(())
            }
            Special::Bind => {
                if args.len() > 16 {
                    return Err("Too many bind addresses specified.".into());
                }
                let addrs: &[String] = if args.len() == 1 && args[0].is_empty() {
                    &[]
                } else {
                    args
                };
                if !ctx.reading_file && addrs.iter().any(String::is_empty) {
                    // redis `applyBind` cannot listen on an empty address.
                    return Err("Failed to bind to specified addresses.".into());
                }
                self.bind = addrs.to_vec();
                Ok(())
            }
            Special::ReplicaOf => {
                if args.len() != 2 {
                    return Err("wrong number of arguments".into());
                }
                self.replicaof = None;
                if args[0].eq_ignore_ascii_case("no") && args[1].eq_ignore_ascii_case("one") {
                    return Ok(());
                }
                let port = strtoll_full(&args[1], 10)
                    .filter(|p| (0..=65535).contains(p))
                    .ok_or("Invalid master port")?;
                self.replicaof = Some((args[0].clone(), port as u16));
                Ok(())
            }
            Special::LatencyTrackingInfoPercentiles => {
                let args: &[String] = if args.len() == 1 && args[0].is_empty() {
                    &[]
                } else {
                    args
                };
                let mut vals = Vec::with_capacity(args.len());
                for a in args {
                    let p = crate::util::parse_f64(a.as_bytes())
                        .ok_or("Invalid latency-tracking-info-percentiles parameters")?;
                    if !(0.0..=100.0).contains(&p) {
                        return Err("latency-tracking-info-percentiles parameters should sit between [0.0,100.0]".into());
                    }
                    vals.push(p);
                }
                self.latency_tracking_info_percentiles = vals;
                Ok(())
            }
        }
    }

    /// redis `setConfigDirOption`: `chdir` (or, without side effects, the same checks) and
    /// record the resulting absolute directory.
    fn set_dir(&mut self, args: &[String], ctx: &mut SetCtx) -> Result<(), String> {
        let [path] = args else {
            return Err("wrong number of arguments".into());
        };
        let new_cwd = if ctx.chdir {
            std::env::set_current_dir(path).map_err(|e| strerror(&e))?;
            std::env::current_dir().map_err(|e| strerror(&e))?
        } else {
            if path.is_empty() {
                return Err(strerror(&std::io::Error::from_raw_os_error(
                    nix::libc::ENOENT,
                )));
            }
            let p = std::fs::canonicalize(ctx.cwd.join(path)).map_err(|e| strerror(&e))?;
            if !p.is_dir() {
                return Err(strerror(&std::io::Error::from_raw_os_error(
                    nix::libc::ENOTDIR,
                )));
            }
            p
        };
        self.dir = new_cwd.to_string_lossy().into_owned();
        ctx.cwd = new_cwd;
        Ok(())
    }

    /// redis 7.0.15 `setConfigSaveOption`: in a config file the first `save` line replaces the
    /// defaults and later ones add points; `save ""` clears; CONFIG SET replaces.
    fn set_save(&mut self, args: &[String], ctx: &mut SetCtx) -> Result<(), String> {
        let mut args = args;
        if args.len() == 1 && args[0].is_empty() {
            self.save.clear();
            args = &[];
        }
        const INVALID: &str = "Invalid save parameters";
        if args.len() % 2 == 1 {
            return Err(INVALID.into());
        }
        let mut points = Vec::with_capacity(args.len() / 2);
        for pair in args.chunks(2) {
            let secs = strtoll_full(&pair[0], 10)
                .filter(|&v| v >= 1)
                .ok_or(INVALID)?;
            let changes = strtoll_full(&pair[1], 10)
                .filter(|&v| v >= 0)
                .ok_or(INVALID)?;
            // Redis keeps `changes` in an int.
            let changes = i64::from(changes as i32).max(0);
            points.push((secs as u64, changes as u64));
        }
        if !ctx.reading_file || !ctx.save_loaded {
            self.save.clear();
            ctx.save_loaded = true;
        }
        self.save.extend(points);
        Ok(())
    }

    /// redis `updateClientOutputBufferLimit`: all classes are checked before any is changed.
    fn set_obuf_limits(&mut self, args: &[String]) -> Result<(), String> {
        if args.len() % 4 != 0 {
            return Err("Wrong number of arguments in buffer limit configuration.".into());
        }
        let mut next = self.client_output_buffer_limit;
        for a in args.chunks(4) {
            let class = a[0].to_ascii_lowercase();
            let slot = match class.as_str() {
                "normal" => &mut next.normal,
                "slave" | "replica" => &mut next.replica,
                "pubsub" => &mut next.pubsub,
                _ => {
                    return Err(
                        "Invalid client class specified in buffer limit configuration.".into(),
                    )
                }
            };
            let hard = memtoull(&a[1]);
            let soft = memtoull(&a[2]);
            let secs = strtoll_full(&a[3], 10).map(|v| i64::from(v as i32));
            match (hard, soft, secs) {
                (Some(hard), Some(soft), Some(secs)) if secs >= 0 => {
                    *slot = ObufLimit {
                        hard_bytes: hard,
                        soft_bytes: soft,
                        soft_seconds: secs as u64,
                    };
                }
                _ => return Err(
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                        .into(),
                ),
            }
        }
        self.client_output_buffer_limit = next;
        Ok(())
    }
}
