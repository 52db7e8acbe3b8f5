//! `oom-score-adj` and `oom-score-adj-values`: the process's Linux OOM-killer score (redis
//! `setOOMScoreAdj`). The score is `/proc/self/oom_score_adj`: the value of the process's
//! class (master or replica; a snapshot's writer process takes the third value), added to the score the process
//! had before Tandem first changed it (`relative`, also spelled `yes`) or as it is
//! (`absolute`). Turning the option off restores that original score.

use parking_lot::Mutex;

use crate::config::Config;

const PROC_FILE: &str = "/proc/self/oom_score_adj";

/// What Tandem did to the score: the score before its first change, and the last value it
/// wrote (None while the score is not Tandem's).
struct Adjusted {
    base: i64,
    written: Option<i64>,
}

static STATE: Mutex<Adjusted> = Mutex::new(Adjusted {
    base: 0,
    written: None,
});

/// The apply error CONFIG SET reports (redis `updateOOMScoreAdj`).
pub const APPLY_ERROR: &str = "Failed to set current oom_score_adj. Check server logs.";

/// Brings the score in line with the configuration and the role; writes only on a change.
pub fn apply(cfg: &Config, replica: bool) -> Result<(), &'static str> {
    let mode = cfg.get("oom-score-adj").unwrap_or_default();
    let mut st = STATE.lock();
    let target = if mode == "no" {
        match st.written {
            Some(_) => st.base,
            None => return Ok(()),
        }
    } else {
        if st.written.is_none() {
            let current = std::fs::read_to_string(PROC_FILE)
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok());
            let Some(current) = current else {
                tracing::warn!("Unable to read oom_score_adj");
                return Err(APPLY_ERROR);
            };
            st.base = current;
        }
        let value = cfg.oom_score_adj_values()[usize::from(replica)];
        let value = if mode == "absolute" {
            value
        } else {
            value + st.base
        };
        value.clamp(-1000, 1000)
    };
    let off = mode == "no";
    if st.written == Some(target) && !off {
        return Ok(());
    }
    if let Err(e) = std::fs::write(PROC_FILE, format!("{target}\n")) {
        tracing::warn!("Unable to write oom_score_adj: {e}");
        return Err(APPLY_ERROR);
    }
    st.written = (!off).then_some(target);
    Ok(())
}

/// The score a background writer process gives itself (redis `CONFIG_OOM_BGCHILD`), or None
/// when `oom-score-adj` is off.
pub fn child_score(cfg: &Config) -> Option<i64> {
    let mode = cfg.get("oom-score-adj").unwrap_or_default();
    if mode == "no" {
        return None;
    }
    let value = cfg.oom_score_adj_values()[2];
    if mode == "absolute" {
        return Some(value.clamp(-1000, 1000));
    }
    let base = {
        let st = STATE.lock();
        match st.written {
            Some(_) => Some(st.base),
            None => std::fs::read_to_string(PROC_FILE)
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok()),
        }
    }?;
    Some((value + base).clamp(-1000, 1000))
}
