//! Notification and client-reconfig scripts (redis `sentinelScheduleScriptExecution` and
//! friends): a queue of at most 256 jobs, at most 16 running, each killed after
//! `script-max-runtime`; exit code 1 or a signal means "retry later" (up to 10 runs, the
//! delay doubling from `script-retry-delay`). Run from the timer.

use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};

use parking_lot::Mutex;

use super::mstime;
use crate::protocol::Reply;

const MAX_RUNNING: usize = 16;
const MAX_QUEUE: usize = 256;
const MAX_RETRY: u32 = 10;

#[derive(Debug)]
struct Job {
    argv: Vec<String>,
    child: Option<Child>,
    start_time: i64,
    retry_num: u32,
}

#[derive(Debug, Default)]
pub struct Queue {
    jobs: Mutex<Vec<Job>>,
}

/// What the timer reports as events after a pass over the queue.
pub struct Outcome {
    pub kind: &'static str,
    pub msg: String,
}

impl Queue {
    pub fn schedule(&self, path: &str, args: Vec<String>) {
        let mut argv = vec![path.to_string()];
        argv.extend(args);
        let mut jobs = self.jobs.lock();
        jobs.push(Job {
            argv,
            child: None,
            start_time: 0,
            retry_num: 0,
        });
        if jobs.len() > MAX_QUEUE {
            if let Some(i) = jobs.iter().position(|j| j.child.is_none()) {
                jobs.remove(i);
            }
        }
    }

    pub fn running(&self) -> usize {
        self.jobs
            .lock()
            .iter()
            .filter(|j| j.child.is_some())
            .count()
    }

    pub fn len(&self) -> usize {
        self.jobs.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Starts due jobs, collects finished ones, kills the ones past `max_runtime`.
    pub fn tick(&self, max_runtime: i64, retry_delay: i64) -> Vec<Outcome> {
        let mut out = Vec::new();
        let now = mstime();
        let mut jobs = self.jobs.lock();
        let mut running = jobs.iter().filter(|j| j.child.is_some()).count();
        for j in jobs.iter_mut() {
            if running >= MAX_RUNNING {
                break;
            }
            if j.child.is_some() || (j.start_time != 0 && j.start_time > now) {
                continue;
            }
            j.start_time = now;
            j.retry_num += 1;
            match Command::new(&j.argv[0])
                .args(&j.argv[1..])
                .stdin(Stdio::null())
                .spawn()
            {
                Ok(c) => {
                    j.child = Some(c);
                    running += 1;
                }
                Err(_) => {
                    // execve failing in Redis's child exits with 2: no retry.
                    out.push(Outcome {
                        kind: "-script-error",
                        msg: format!("{} 0 2", j.argv[0]),
                    });
                    j.retry_num = MAX_RETRY;
                    j.start_time = -1;
                }
            }
        }
        jobs.retain(|j| j.start_time != -1);
        let mut keep = Vec::new();
        for mut j in jobs.drain(..) {
            let Some(child) = j.child.as_mut() else {
                keep.push(j);
                continue;
            };
            match child.try_wait() {
                Ok(Some(status)) => {
                    let signal = status.signal().unwrap_or(0);
                    let code = status.code().unwrap_or(0);
                    if (signal != 0 || code == 1) && j.retry_num != MAX_RETRY {
                        j.child = None;
                        let mut delay = retry_delay;
                        for _ in 1..j.retry_num {
                            delay *= 2;
                        }
                        j.start_time = mstime() + delay;
                        keep.push(j);
                    } else if signal != 0 || code != 0 {
                        out.push(Outcome {
                            kind: "-script-error",
                            msg: format!("{} {signal} {code}", j.argv[0]),
                        });
                    }
                }
                Ok(None) => {
                    if now - j.start_time > max_runtime {
                        out.push(Outcome {
                            kind: "-script-timeout",
                            msg: format!("{} {}", j.argv[0], child.id()),
                        });
                        let _ = child.kill();
                    }
                    keep.push(j);
                }
                Err(_) => {}
            }
        }
        *jobs = keep;
        out
    }

    /// SENTINEL PENDING-SCRIPTS.
    pub fn reply(&self) -> Reply {
        let now = mstime();
        let jobs = self.jobs.lock();
        Reply::Array(
            jobs.iter()
                .map(|j| {
                    let mut m = vec![
                        (
                            Reply::bulk_str("argv"),
                            Reply::array_of_bulks(j.argv.iter().map(|a| a.as_bytes().to_vec())),
                        ),
                        (
                            Reply::bulk_str("flags"),
                            Reply::bulk_str(if j.child.is_some() {
                                "running"
                            } else {
                                "scheduled"
                            }),
                        ),
                        (
                            Reply::bulk_str("pid"),
                            Reply::bulk_int(j.child.as_ref().map_or(0, |c| i64::from(c.id()))),
                        ),
                    ];
                    if j.child.is_some() {
                        m.push((
                            Reply::bulk_str("run-time"),
                            Reply::bulk_int(now - j.start_time),
                        ));
                    } else {
                        let delay = if j.start_time != 0 {
                            (j.start_time - now).max(0)
                        } else {
                            0
                        };
                        m.push((Reply::bulk_str("run-delay"), Reply::bulk_int(delay)));
                    }
                    m.push((
                        Reply::bulk_str("retry-num"),
                        Reply::bulk_int(i64::from(j.retry_num)),
                    ));
                    Reply::Map(m)
                })
                .collect(),
        )
    }
}
