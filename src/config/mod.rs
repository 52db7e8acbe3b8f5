//! TEMPORARY STUB written by the lead so the rest of the crate compiles; the config helper
//! replaces this file entirely with the real module.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Verbose,
    Notice,
    Warning,
}
impl LogLevel {
    pub fn name(&self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Verbose => "verbose",
            LogLevel::Notice => "notice",
            LogLevel::Warning => "warning",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxmemoryPolicy {
    NoEviction,
    AllkeysLru,
    VolatileLru,
    AllkeysLfu,
    VolatileLfu,
    AllkeysRandom,
    VolatileRandom,
    VolatileTtl,
}

#[derive(Debug)]
pub struct ConfigError(pub String);
impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub port: u16,
    pub bind: Vec<String>,
    pub protected_mode: bool,
    pub timeout: u64,
    pub tcp_keepalive: u64,
    pub unixsocket: Option<String>,
    pub unixsocketperm: u32,
    pub daemonize: bool,
    pub pidfile: Option<String>,
    pub loglevel: LogLevel,
    pub logfile: String,
    pub databases: usize,
    pub always_show_logo: bool,
    pub save: Vec<(u64, u64)>,
    pub dir: String,
    pub dbfilename: String,
    pub requirepass: Option<String>,
    pub maxclients: u64,
    pub maxmemory: u64,
    pub maxmemory_policy: MaxmemoryPolicy,
    pub maxmemory_samples: u32,
    pub hz: u32,
    pub proto_max_bulk_len: i64,
    pub client_query_buffer_limit: u64,
    pub slowlog_log_slower_than: i64,
    pub slowlog_max_len: u64,
    pub hash_max_listpack_entries: u64,
    pub hash_max_listpack_value: u64,
    pub set_max_intset_entries: u64,
    pub zset_max_listpack_entries: u64,
    pub zset_max_listpack_value: u64,
    pub list_max_listpack_size: i64,
    pub replicaof: Option<(String, u16)>,
}

impl Config {
    pub fn default() -> Config {
        Config {
            port: 6379,
            bind: vec!["*".into(), "-::*".into()],
            protected_mode: true,
            timeout: 0,
            tcp_keepalive: 300,
            unixsocket: None,
            unixsocketperm: 0,
            daemonize: false,
            pidfile: None,
            loglevel: LogLevel::Notice,
            logfile: String::new(),
            databases: 16,
            always_show_logo: false,
            save: vec![],
            dir: ".".into(),
            dbfilename: "dump.rdb".into(),
            requirepass: None,
            maxclients: 10000,
            maxmemory: 0,
            maxmemory_policy: MaxmemoryPolicy::NoEviction,
            maxmemory_samples: 5,
            hz: 10,
            proto_max_bulk_len: 512 << 20,
            client_query_buffer_limit: 1 << 30,
            slowlog_log_slower_than: 10000,
            slowlog_max_len: 128,
            hash_max_listpack_entries: 128,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            list_max_listpack_size: -2,
            replicaof: None,
        }
    }
    pub fn load(args: &[String]) -> Result<Config, ConfigError> {
        let mut c = Config::default();
        let mut i = 0;
        while i < args.len() {
            if args[i] == "--port" {
                c.port = args[i + 1]
                    .parse()
                    .map_err(|_| ConfigError("bad port".into()))?;
                i += 1;
            }
            i += 1;
        }
        Ok(c)
    }
    pub fn get(&self, name: &str) -> Option<String> {
        match name {
            "port" => Some(self.port.to_string()),
            "save" => Some(String::new()),
            "appendonly" => Some("no".into()),
            _ => None,
        }
    }
    pub fn get_matching(&self, pattern: &str) -> Vec<(String, String)> {
        self.get(pattern)
            .map(|v| vec![(pattern.to_string(), v)])
            .unwrap_or_default()
    }
    pub fn set(&mut self, _name: &str, _value: &str) -> Result<(), String> {
        Err("ERR stub".into())
    }
    pub fn set_many(&mut self, _pairs: &[(String, String)]) -> Result<(), String> {
        Err("ERR stub".into())
    }
    pub fn config_file(&self) -> Option<&std::path::Path> {
        None
    }
    pub fn rewrite(&self) -> Result<(), String> {
        Err("ERR stub".into())
    }
    pub fn unimplemented_seen(&self) -> &[String] {
        &[]
    }
}
