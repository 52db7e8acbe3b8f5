//! `--topology`'s sentinel part: the sentinels watching a master, and what each of them says
//! about it (its address, flags such as `s_down`, `o_down`, `failover_in_progress`, the
//! failover state, config epoch and quorum: the fields of `SENTINEL MASTER`).
//!
//! Given a sentinel (INFO says `redis_mode:sentinel`), its masters come from `SENTINEL
//! MASTERS`. Given a data node, the sentinels are found by listening to the hello messages
//! they publish every 2 s on `__sentinel__:hello` of each master and replica they watch
//! (`ip,port,runid,current-epoch,master-name,master-ip,master-port,config-epoch`); `PUBSUB
//! NUMSUB` says how many subscribers to expect, so a node no sentinel watches costs no wait.
//! Either way, the sentinels found are completed with the ones each of them knows (`SENTINEL
//! SENTINELS <name>`), and each is asked `SENTINEL MASTER <name>`.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::time::{Duration, Instant};

use super::super::args::{atoi, Config};
use super::super::conn::{format_addr, Conn, ConnError};
use super::super::resp::Value;
use super::topology::{connect, render_tree, unreachable_line, write_orphans};

/// The channel of the sentinels' hello messages.
const HELLO_CHANNEL: &str = "__sentinel__:hello";
/// How long to listen for hello messages: each sentinel publishes one every 2 s.
const HELLO_WAIT: Duration = Duration::from_millis(2500);
/// Most sentinels asked about one master (a guard: a quorum has a handful).
const MAX_SENTINELS: usize = 64;

type Addr = (String, u16);

/// The (field, value) pairs of one entry of `SENTINEL MASTER(S)`, `SENTINELS`, `REPLICAS`.
struct Entry(Vec<(String, String)>);

impl Entry {
    fn from_value(v: &Value) -> Option<Entry> {
        let fields = v.elements()?;
        let text = |v: &Value| v.text().or_else(|| v.as_int().map(|i| i.to_string()));
        Some(Entry(
            fields
                .chunks(2)
                .filter_map(|c| match c {
                    [k, v] => Some((text(k)?, text(v)?)),
                    _ => None,
                })
                .collect(),
        ))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn addr(&self) -> Option<Addr> {
        let port = u16::try_from(atoi(self.get("port")?)).ok()?;
        Some((self.get("ip")?.to_string(), port))
    }
}

fn entries(v: &Value) -> Vec<Entry> {
    v.elements()
        .unwrap_or_default()
        .iter()
        .filter_map(Entry::from_value)
        .collect()
}

/// A command's reply; an error reply is an `Err` with its text.
fn request(conn: &mut Conn, args: &[&str]) -> Result<Value, String> {
    match conn.command(args) {
        Ok(Value::Error(e)) => Err(String::from_utf8_lossy(&e).into_owned()),
        Ok(v) => Ok(v),
        Err(e) => Err(e.to_string()),
    }
}

/// The addresses of a reply's entries (`SENTINEL SENTINELS`, `SENTINEL REPLICAS`).
fn addrs(conn: &mut Conn, args: &[&str]) -> Vec<Addr> {
    request(conn, args)
        .map(|v| entries(&v).iter().filter_map(Entry::addr).collect())
        .unwrap_or_default()
}

/// Given the sentinel `me` (connected as `conn`): for each master it watches, by name, the
/// sentinels block, then the replication tree.
pub fn write_sentinel_view(
    cfg: &Config,
    conn: &mut Conn,
    me: Addr,
    out: &mut String,
) -> Result<(), String> {
    let mut masters = entries(&request(conn, &["SENTINEL", "MASTERS"])?);
    masters.sort_by(|a, b| a.get("name").cmp(&b.get("name")));
    if masters.is_empty() {
        out.push_str(&format!(
            "{} is a sentinel watching no master\n",
            format_addr(&me.0, me.1)
        ));
    }
    for m in masters {
        let Some(name) = m.get("name") else { continue };
        write_block(cfg, out, name, BTreeSet::from([me.clone()]));
        let Some((host, port)) = m.addr() else {
            continue;
        };
        match render_tree(cfg, &host, port) {
            Ok(tree) => out.push_str(&tree),
            Err(e) => {
                out.push_str(&unreachable_line(&host, port, &e));
                let replicas = addrs(conn, &["SENTINEL", "REPLICAS", name]);
                write_orphans(cfg, out, &replicas);
            }
        }
    }
    Ok(())
}

/// The sentinels whose hello messages reach the data node on `conn`, by the master name they
/// use. Leaves `conn` subscribed.
pub fn from_hellos(conn: &mut Conn) -> Result<BTreeMap<String, BTreeSet<Addr>>, String> {
    let numsub = request(conn, &["PUBSUB", "NUMSUB", HELLO_CHANNEL])?;
    let subscribers = numsub
        .elements()
        .and_then(|e| e.get(1))
        .and_then(Value::as_int)
        .unwrap_or(0);
    let mut found: BTreeMap<String, BTreeSet<Addr>> = BTreeMap::new();
    if subscribers <= 0 {
        return Ok(found);
    }
    conn.send(&["SUBSCRIBE", HELLO_CHANNEL])
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + HELLO_WAIT;
    let mut runids = BTreeSet::new();
    while (runids.len() as i64) < subscribers {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let _ = conn.set_read_timeout(Some(left));
        let v = match conn.read_value() {
            Ok(v) => v,
            Err(ConnError::Io(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                break
            }
            Err(e) => return Err(e.to_string()),
        };
        if let Some((addr, runid, name)) = parse_hello(&v) {
            found.entry(name).or_default().insert(addr);
            runids.insert(runid);
        }
    }
    Ok(found)
}

/// A hello message: the sentinel's address, its run id and the master's name.
fn parse_hello(v: &Value) -> Option<(Addr, String, String)> {
    let [kind, _, payload] = v.elements()? else {
        return None;
    };
    if kind.bytes()? != b"message" {
        return None;
    }
    let payload = payload.text()?;
    let t: Vec<&str> = payload.split(',').collect();
    let [ip, port, runid, _epoch, name, _mip, _mport, _mepoch] = t.as_slice() else {
        return None;
    };
    let port = u16::try_from(atoi(port)).ok()?;
    Some(((ip.to_string(), port), runid.to_string(), name.to_string()))
}

/// What one sentinel says about master `name` (`SENTINEL MASTER`), and the other sentinels it
/// knows; `Err` is the text of its line when it cannot say.
fn ask(cfg: &Config, addr: &Addr, name: &str) -> Result<(Entry, Vec<Addr>), String> {
    let mut conn = connect(cfg, &addr.0, addr.1).map_err(|e| format!("unreachable ({e})"))?;
    let master = match conn.command(&["SENTINEL", "MASTER", name]) {
        Ok(Value::Error(e)) => return Err(format!("answers {}", String::from_utf8_lossy(&e))),
        Ok(v) => Entry::from_value(&v).ok_or_else(|| "answers no master".to_string())?,
        Err(e) => return Err(format!("unreachable ({e})")),
    };
    let others = addrs(&mut conn, &["SENTINEL", "SENTINELS", name]);
    Ok((master, others))
}

/// The block about master `name`: one line per sentinel watching it, starting from `known`
/// and adding the ones they know.
pub fn write_block(cfg: &Config, out: &mut String, name: &str, known: BTreeSet<Addr>) {
    let mut queue: Vec<Addr> = known.into_iter().collect();
    let mut views: BTreeMap<Addr, Result<Entry, String>> = BTreeMap::new();
    while let Some(addr) = queue.pop() {
        if views.contains_key(&addr) || views.len() >= MAX_SENTINELS {
            continue;
        }
        let view = ask(cfg, &addr, name).map(|(master, others)| {
            queue.extend(others);
            master
        });
        views.insert(addr, view);
    }
    let n = views.len();
    out.push_str(&format!(
        "{name}: {n} sentinel{}\n",
        if n == 1 { "" } else { "s" }
    ));
    for ((host, port), view) in &views {
        out.push_str("  ");
        out.push_str(&format_addr(host, *port));
        match view {
            Ok(m) => {
                let master = m
                    .addr()
                    .map_or_else(|| "?".to_string(), |(h, p)| format_addr(&h, p));
                let f = |k: &str| m.get(k).unwrap_or("?").to_string();
                out.push_str(&format!(
                    " master={master} flags={} failover={} config-epoch={} quorum={} replicas={} other-sentinels={}\n",
                    f("flags"),
                    m.get("failover-state").unwrap_or("none"),
                    f("config-epoch"),
                    f("quorum"),
                    f("num-slaves"),
                    f("num-other-sentinels"),
                ));
            }
            Err(e) => {
                out.push(' ');
                out.push_str(e);
                out.push('\n');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::Bulk(s.as_bytes().to_vec())
    }

    #[test]
    fn parses_hello_messages() {
        let hello = Value::Array(vec![
            bulk("message"),
            bulk(HELLO_CHANNEL),
            bulk("127.0.0.1,26379,0123456789abcdef0123456789abcdef01234567,3,mymaster,127.0.0.1,6380,3"),
        ]);
        assert_eq!(
            parse_hello(&hello),
            Some((
                ("127.0.0.1".to_string(), 26379),
                "0123456789abcdef0123456789abcdef01234567".to_string(),
                "mymaster".to_string()
            ))
        );
        let subscribed = Value::Array(vec![bulk("subscribe"), bulk(HELLO_CHANNEL), Value::Int(1)]);
        assert_eq!(parse_hello(&subscribed), None);
        let short = Value::Array(vec![bulk("message"), bulk(HELLO_CHANNEL), bulk("a,1,b")]);
        assert_eq!(parse_hello(&short), None);
    }

    #[test]
    fn entry_fields_and_address() {
        let e = Entry::from_value(&Value::Array(vec![
            bulk("name"),
            bulk("mymaster"),
            bulk("ip"),
            bulk("127.0.0.1"),
            bulk("port"),
            Value::Int(6379),
        ]))
        .expect("an entry");
        assert_eq!(e.get("name"), Some("mymaster"));
        assert_eq!(e.addr(), Some(("127.0.0.1".to_string(), 6379)));
        assert_eq!(e.get("flags"), None);
    }
}
