//! The sentinel's state: the monitored masters, with the replicas and other sentinels
//! discovered for each (redis `sentinelRedisInstance`), and the global settings.

use indexmap::IndexMap;

use super::link::Link;
use super::mstime;

pub const SRI_MASTER: u32 = 1 << 0;
pub const SRI_SLAVE: u32 = 1 << 1;
pub const SRI_SENTINEL: u32 = 1 << 2;
pub const SRI_S_DOWN: u32 = 1 << 3;
pub const SRI_O_DOWN: u32 = 1 << 4;
pub const SRI_MASTER_DOWN: u32 = 1 << 5;
pub const SRI_FAILOVER_IN_PROGRESS: u32 = 1 << 6;
pub const SRI_PROMOTED: u32 = 1 << 7;
pub const SRI_RECONF_SENT: u32 = 1 << 8;
pub const SRI_RECONF_INPROG: u32 = 1 << 9;
pub const SRI_RECONF_DONE: u32 = 1 << 10;
pub const SRI_FORCE_FAILOVER: u32 = 1 << 11;
pub const SRI_SCRIPT_KILL_SENT: u32 = 1 << 12;
pub const SRI_MASTER_REBOOT: u32 = 1 << 13;

pub const DEFAULT_SLAVE_PRIORITY: i64 = 100;
pub const DEFAULT_PARALLEL_SYNCS: i64 = 1;
pub const MAX_PENDING_COMMANDS: i64 = 100;
pub const MAX_DESYNC: i64 = 1000;

/// Failover states, in order (redis `SENTINEL_FAILOVER_STATE_*`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Failover {
    None,
    WaitStart,
    SelectSlave,
    SendSlaveofNoOne,
    WaitPromotion,
    ReconfSlaves,
    UpdateConfig,
}

impl Failover {
    pub fn name(self) -> &'static str {
        match self {
            Failover::None => "none",
            Failover::WaitStart => "wait_start",
            Failover::SelectSlave => "select_slave",
            Failover::SendSlaveofNoOne => "send_slaveof_noone",
            Failover::WaitPromotion => "wait_promotion",
            Failover::ReconfSlaves => "reconf_slaves",
            Failover::UpdateConfig => "update_config",
        }
    }
}

/// The periods and timeouts SENTINEL DEBUG changes (milliseconds).
#[derive(Clone, Debug)]
pub struct Timing {
    pub info_period: i64,
    pub ping_period: i64,
    pub ask_period: i64,
    pub publish_period: i64,
    pub default_down_after: i64,
    pub tilt_trigger: i64,
    pub tilt_period: i64,
    pub slave_reconf_timeout: i64,
    pub min_link_reconnect_period: i64,
    pub election_timeout: i64,
    pub script_max_runtime: i64,
    pub script_retry_delay: i64,
    pub default_failover_timeout: i64,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            info_period: 10000,
            ping_period: 1000,
            ask_period: 1000,
            publish_period: 2000,
            default_down_after: 30000,
            tilt_trigger: 2000,
            tilt_period: 30000,
            slave_reconf_timeout: 10000,
            min_link_reconnect_period: 15000,
            election_timeout: 10000,
            script_max_runtime: 60000,
            script_retry_delay: 30000,
            default_failover_timeout: 180000,
        }
    }
}

/// An address as configured (`hostname`) and as resolved (`ip`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addr {
    pub hostname: String,
    pub ip: String,
    pub port: u16,
}

/// Why an address could not be made (redis's errno for `createSentinelAddr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrError {
    /// EINVAL
    Port,
    /// ENOENT
    Resolve,
}

impl Addr {
    /// redis `createSentinelAddr`.
    pub fn new(
        hostname: &str,
        port: i64,
        resolve_hostnames: bool,
        accept_unresolved: bool,
    ) -> Result<Addr, AddrError> {
        if !(0..=65535).contains(&port) {
            return Err(AddrError::Port);
        }
        let ip = match resolve(hostname, resolve_hostnames) {
            Some(ip) => ip,
            None => {
                tracing::warn!("Failed to resolve hostname '{hostname}'");
                if resolve_hostnames && accept_unresolved {
                    String::new()
                } else {
                    return Err(AddrError::Resolve);
                }
            }
        };
        Ok(Addr {
            hostname: hostname.to_string(),
            ip,
            port: port as u16,
        })
    }

    /// redis `sentinelAddrOrHostnameEqual`.
    pub fn same(&self, other: &Addr) -> bool {
        self.port == other.port
            && (self.ip == other.ip || self.hostname.eq_ignore_ascii_case(&other.hostname))
    }

    /// redis `sentinelAddrEqualsHostname`.
    pub fn equals_host(&self, host: &str, resolve_hostnames: bool) -> bool {
        match resolve(host, resolve_hostnames) {
            Some(ip) => self.ip.eq_ignore_ascii_case(&ip),
            None => {
                let mine = if resolve_hostnames {
                    &self.hostname
                } else {
                    &self.ip
                };
                mine.eq_ignore_ascii_case(host)
            }
        }
    }
}

/// redis `anetResolve`: an IP address as is; a name only when `resolve_hostnames`.
pub fn resolve(host: &str, resolve_hostnames: bool) -> Option<String> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Some(ip.to_string());
    }
    if !resolve_hostnames {
        return None;
    }
    use std::net::ToSocketAddrs;
    let addrs: Vec<std::net::SocketAddr> = (host, 0).to_socket_addrs().ok()?.collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .map(|a| a.ip().to_string())
}

/// One monitored instance: a master, a replica or another sentinel.
#[derive(Debug)]
pub struct Instance {
    /// Unique in the process; links report replies under it.
    pub uid: u64,
    pub flags: u32,
    pub name: String,
    pub runid: Option<String>,
    pub addr: Addr,
    pub link: Link,
    pub last_pub_time: i64,
    pub last_hello_time: i64,
    pub last_master_down_reply_time: i64,
    pub s_down_since_time: i64,
    pub o_down_since_time: i64,
    pub down_after_period: i64,
    pub master_link_down_time: i64,
    pub master_reboot_since_time: i64,
    pub slave_priority: i64,
    pub replica_announced: i64,
    pub slave_reconf_sent_time: i64,
    pub slave_master_host: Option<String>,
    pub slave_master_port: i64,
    pub slave_master_link_up: bool,
    pub slave_repl_offset: u64,
    /// INFO's `master_replid`, `master_replid2`, `second_repl_offset`, `master_repl_offset`:
    /// the history the instance holds (issue #13).
    pub history: super::safety::History,
    /// For a master with `wait-replicas`: whether its latest INFO showed it lost a history a
    /// replica holds (`safety::lost_history`, judged when the master's INFO arrives and kept
    /// until the next one, so a replica's INFO read in between does not clear it).
    pub history_lost: bool,
    /// Whether an INFO of this instance reported the role of replica since it was listed:
    /// of the replicas that report the role of master, it tells one promoted by a failover
    /// that did not complete from an old master back after a failover (listed anew, as a
    /// replica, at `+switch-master`, and never a replica since).
    pub reported_replica: bool,
    /// Fences (`REPLCONF FENCE`, issue #13): when and in which failover epoch the last one
    /// was sent, the epoch of the last one the replica accepted, and of the last one whose
    /// INFO (read after it, so final) we have.
    pub fence_sent_time: i64,
    pub fence_sent_epoch: u64,
    pub fence_ok_epoch: u64,
    pub fenced_epoch: u64,
    /// The fence epoch the replica's last INFO showed (`master_link_fenced_epoch`), 0 none.
    pub fence_seen_epoch: u64,
    pub info_refresh: i64,
    pub role_reported: u32,
    pub role_reported_time: i64,
    pub slave_conf_change_time: i64,
    pub info: Option<String>,
    /// For sentinels: the leader it voted for (and its epoch); for masters: our vote.
    pub leader: Option<String>,
    pub leader_epoch: u64,
}

impl Instance {
    pub fn new(uid: u64, flags: u32, name: String, addr: Addr, down_after: i64) -> Instance {
        let now = mstime();
        Instance {
            uid,
            flags,
            name,
            runid: None,
            addr,
            link: Link::new(now),
            last_pub_time: now,
            last_hello_time: now,
            last_master_down_reply_time: now,
            s_down_since_time: 0,
            o_down_since_time: 0,
            down_after_period: down_after,
            master_link_down_time: 0,
            master_reboot_since_time: 0,
            slave_priority: DEFAULT_SLAVE_PRIORITY,
            replica_announced: 1,
            slave_reconf_sent_time: 0,
            slave_master_host: None,
            slave_master_port: 0,
            slave_master_link_up: false,
            slave_repl_offset: 0,
            history: Default::default(),
            history_lost: false,
            reported_replica: false,
            fence_sent_time: 0,
            fence_sent_epoch: 0,
            fence_ok_epoch: 0,
            fence_seen_epoch: 0,
            fenced_epoch: 0,
            info_refresh: 0,
            role_reported: flags & (SRI_MASTER | SRI_SLAVE),
            role_reported_time: now,
            slave_conf_change_time: now,
            info: None,
            leader: None,
            leader_epoch: 0,
        }
    }

    pub fn type_str(&self) -> &'static str {
        if self.flags & SRI_MASTER != 0 {
            "master"
        } else if self.flags & SRI_SLAVE != 0 {
            "slave"
        } else {
            "sentinel"
        }
    }

    /// redis `sentinelRedisInstanceNoDownFor`.
    pub fn no_down_for(&self, ms: i64) -> bool {
        let recent = self.s_down_since_time.max(self.o_down_since_time);
        recent == 0 || mstime() - recent > ms
    }
}

/// A monitored master with what hangs off it.
#[derive(Debug)]
pub struct Master {
    pub inst: Instance,
    pub quorum: i64,
    pub parallel_syncs: i64,
    pub failover_timeout: i64,
    pub auth_pass: Option<String>,
    pub auth_user: Option<String>,
    pub notification_script: Option<String>,
    pub client_reconfig_script: Option<String>,
    /// rename-command: (original, renamed), compared case-insensitively.
    pub renamed: Vec<(String, String)>,
    pub config_epoch: u64,
    pub failover_epoch: u64,
    pub failover_state: Failover,
    pub failover_state_change_time: i64,
    pub failover_start_time: i64,
    pub failover_delay_logged: i64,
    /// The key (in `slaves`) of the replica being promoted.
    pub promoted: Option<String>,
    pub master_reboot_down_after_period: i64,
    /// Tandem's `sentinel wait-replicas` (issue #13): writes the application confirms with
    /// `WAIT n` for n >= this survive a failover; 0 is Sentinel's behaviour.
    pub wait_replicas: i64,
    pub slaves: IndexMap<String, Instance>,
    pub sentinels: IndexMap<String, Instance>,
}

impl Master {
    pub fn new(inst: Instance, quorum: i64, failover_timeout: i64) -> Master {
        Master {
            inst,
            quorum,
            parallel_syncs: DEFAULT_PARALLEL_SYNCS,
            failover_timeout,
            auth_pass: None,
            auth_user: None,
            notification_script: None,
            client_reconfig_script: None,
            renamed: Vec::new(),
            config_epoch: 0,
            failover_epoch: 0,
            failover_state: Failover::None,
            failover_state_change_time: 0,
            failover_start_time: 0,
            failover_delay_logged: 0,
            promoted: None,
            master_reboot_down_after_period: 0,
            wait_replicas: 0,
            slaves: IndexMap::new(),
            sentinels: IndexMap::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.inst.name
    }

    /// redis `sentinelInstanceMapCommand`.
    pub fn map_command(&self, cmd: &str) -> String {
        self.renamed
            .iter()
            .find(|(o, _)| o.eq_ignore_ascii_case(cmd))
            .map_or_else(|| cmd.to_string(), |(_, n)| n.clone())
    }

    pub fn promoted(&self) -> Option<&Instance> {
        self.promoted.as_ref().and_then(|k| self.slaves.get(k))
    }

    /// redis `sentinelGetCurrentMasterAddress`.
    pub fn current_addr(&self) -> &Addr {
        match self.promoted() {
            Some(p)
                if self.inst.flags & SRI_FAILOVER_IN_PROGRESS != 0
                    && self.failover_state >= Failover::ReconfSlaves =>
            {
                &p.addr
            }
            _ => &self.inst.addr,
        }
    }
}

/// Sentinel-wide settings and counters (redis's `sentinel` struct).
#[derive(Debug)]
pub struct Global {
    pub myid: String,
    pub current_epoch: u64,
    pub tilt: bool,
    pub tilt_start_time: i64,
    pub previous_time: i64,
    pub announce_ip: Option<String>,
    pub announce_port: i64,
    pub deny_scripts_reconfig: bool,
    pub resolve_hostnames: bool,
    pub announce_hostnames: bool,
    pub sentinel_auth_user: Option<String>,
    pub sentinel_auth_pass: Option<String>,
    pub simfailure_flags: u32,
    pub timing: Timing,
    pub scripts: super::scripts::Queue,
    pub next_uid: u64,
    /// The sentinel's own `requirepass`, used towards other sentinels without sentinel-pass.
    pub requirepass: Option<String>,
    pub port: u16,
}

impl Default for Global {
    fn default() -> Self {
        Global {
            myid: String::new(),
            current_epoch: 0,
            tilt: false,
            tilt_start_time: 0,
            previous_time: mstime(),
            announce_ip: None,
            announce_port: 0,
            deny_scripts_reconfig: true,
            resolve_hostnames: false,
            announce_hostnames: false,
            sentinel_auth_user: None,
            sentinel_auth_pass: None,
            simfailure_flags: 0,
            timing: Timing::default(),
            scripts: Default::default(),
            next_uid: 1,
            requirepass: None,
            port: super::DEFAULT_PORT,
        }
    }
}

impl Global {
    pub fn uid(&mut self) -> u64 {
        self.next_uid += 1;
        self.next_uid
    }

    /// redis `announceSentinelAddr`.
    pub fn announce<'a>(&self, a: &'a Addr) -> &'a str {
        if self.announce_hostnames {
            &a.hostname
        } else {
            &a.ip
        }
    }

    /// redis `announceSentinelAddrAndPort`.
    pub fn announce_with_port(&self, a: &Addr) -> String {
        let host = self.announce(a);
        if host.contains(':') {
            format!("[{host}]:{}", a.port)
        } else {
            format!("{host}:{}", a.port)
        }
    }
}

pub const SIMFAILURE_CRASH_AFTER_ELECTION: u32 = 1 << 0;
pub const SIMFAILURE_CRASH_AFTER_PROMOTION: u32 = 1 << 1;

#[derive(Debug, Default)]
pub struct State {
    pub g: Global,
    pub masters: IndexMap<String, Master>,
}

/// Where an instance lives in the state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Which {
    Master,
    Slave(String),
    Sentinel(String),
}

impl State {
    /// Finds an instance by uid: its master's name and its place.
    pub fn locate(&self, uid: u64) -> Option<(String, Which)> {
        for (name, m) in &self.masters {
            if m.inst.uid == uid {
                return Some((name.clone(), Which::Master));
            }
            if let Some((k, _)) = m.slaves.iter().find(|(_, s)| s.uid == uid) {
                return Some((name.clone(), Which::Slave(k.clone())));
            }
            if let Some((k, _)) = m.sentinels.iter().find(|(_, s)| s.uid == uid) {
                return Some((name.clone(), Which::Sentinel(k.clone())));
            }
        }
        None
    }
}

impl Master {
    /// redis `createSentinelRedisInstance` for a replica, keyed by its announced address;
    /// None when the key exists.
    pub fn add_slave(&mut self, g: &mut Global, addr: Addr) -> Option<String> {
        let key = g.announce_with_port(&addr);
        if self.slaves.contains_key(&key) {
            return None;
        }
        let uid = g.uid();
        let si = Instance::new(
            uid,
            SRI_SLAVE,
            key.clone(),
            addr,
            self.inst.down_after_period,
        );
        self.slaves.insert(key.clone(), si);
        Some(key)
    }

    /// The same for another sentinel, keyed by its run id.
    pub fn add_sentinel(&mut self, g: &mut Global, runid: &str, addr: Addr) -> Option<String> {
        if self.sentinels.contains_key(runid) {
            return None;
        }
        let uid = g.uid();
        let mut si = Instance::new(
            uid,
            SRI_SENTINEL,
            runid.to_string(),
            addr,
            self.inst.down_after_period,
        );
        si.runid = Some(runid.to_string());
        self.sentinels.insert(runid.to_string(), si);
        Some(runid.to_string())
    }

    pub fn get_mut(&mut self, w: &Which) -> Option<&mut Instance> {
        match w {
            Which::Master => Some(&mut self.inst),
            Which::Slave(k) => self.slaves.get_mut(k),
            Which::Sentinel(k) => self.sentinels.get_mut(k),
        }
    }

    pub fn get(&self, w: &Which) -> Option<&Instance> {
        match w {
            Which::Master => Some(&self.inst),
            Which::Slave(k) => self.slaves.get(k),
            Which::Sentinel(k) => self.sentinels.get(k),
        }
    }
}
