//! What `vcpectl doctor` knows about the host, as plain values, and the
//! parsers of `ip -j` output that fill them. Gathering (running `ip`,
//! reading `/proc/sys`) is in `gather.rs`; the checks only read these.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::Value;

/// One interface, from `ip -j -d addr show`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Kernel index.
    pub ifindex: u32,
    /// Name.
    pub name: String,
    /// MTU.
    pub mtu: u32,
    /// `linkinfo.info_kind` ("tun", "veth", ...); `None` for plain devices.
    pub kind: Option<String>,
    /// Administratively up.
    pub up: bool,
    /// The loopback device.
    pub loopback: bool,
    /// Its addresses.
    pub addrs: Vec<IpNet>,
}

/// One route, from `ip -j route show table all`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// "default" or a prefix.
    pub dst: String,
    /// Output device.
    pub dev: Option<String>,
    /// Gateway.
    pub gateway: Option<IpAddr>,
    /// Table ("main" when not shown).
    pub table: String,
}

/// One policy rule, from `ip -j rule show`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Priority.
    pub priority: u32,
    /// Source selector (`None`: all).
    pub src: Option<IpNet>,
    /// Input interface selector.
    pub iif: Option<String>,
    /// Output interface selector.
    pub oif: Option<String>,
    /// Table looked up.
    pub table: String,
}

/// The control socket file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketFact {
    /// Nothing at the path.
    Missing,
    /// Something that is not a socket.
    NotASocket,
    /// A socket.
    Present {
        /// Permission bits.
        mode: u32,
        /// Owner.
        uid: u32,
        /// Group.
        gid: u32,
    },
}

/// Everything the checks read.
#[derive(Debug, Clone)]
pub struct Facts {
    /// sysctl name ("net.ipv4.ip_forward") → value; absent: unreadable.
    pub sysctl: BTreeMap<String, String>,
    /// Interfaces; `Err`: `ip` could not be run or read.
    pub links: Result<Vec<Link>, String>,
    /// Routes of every table (IPv4).
    pub routes: Vec<Route>,
    /// Policy rules (IPv4).
    pub rules: Vec<Rule>,
    /// Output device towards each tunnel endpoint (`None`: unreachable).
    pub route_to: BTreeMap<IpAddr, Option<String>>,
    /// Clock synchronized (NTP), if that could be told, and how it was.
    pub ntp: Option<(bool, String)>,
    /// The control socket.
    pub socket: SocketFact,
    /// The gid of the config's `[control] group`, if that group exists.
    pub group_gid: Option<u32>,
}

impl Facts {
    /// A sysctl as a number.
    pub fn sysctl_num(&self, name: &str) -> Option<u32> {
        self.sysctl.get(name)?.trim().parse().ok()
    }

    /// The interfaces (empty when `ip` failed).
    pub fn links(&self) -> &[Link] {
        self.links.as_deref().unwrap_or(&[])
    }

    /// The interface called `name`.
    pub fn link(&self, name: &str) -> Option<&Link> {
        self.links().iter().find(|l| l.name == name)
    }
}

fn array(json: &str, what: &str) -> Result<Vec<Value>, String> {
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Array(v)) => Ok(v),
        Ok(_) => Err(format!("`{what}` printed no JSON list")),
        Err(e) => Err(format!("`{what}` printed unreadable JSON: {e}")),
    }
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// Parses `ip -j -d addr show`.
pub fn parse_links(json: &str) -> Result<Vec<Link>, String> {
    let links = array(json, "ip -j -d addr show")?;
    Ok(links
        .iter()
        .filter_map(|l| {
            let flags: Vec<&str> = l
                .get("flags")
                .and_then(Value::as_array)
                .map(|f| f.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let addrs = l
                .get("addr_info")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| {
                            let ip: IpAddr = x.get("local")?.as_str()?.parse().ok()?;
                            let len = u8::try_from(x.get("prefixlen")?.as_u64()?).ok()?;
                            IpNet::new(ip, len).ok()
                        })
                        .collect()
                })
                .unwrap_or_default();
            Some(Link {
                ifindex: u32::try_from(l.get("ifindex")?.as_u64()?).ok()?,
                name: text(l, "ifname")?,
                mtu: u32::try_from(l.get("mtu")?.as_u64()?).ok()?,
                kind: l.get("linkinfo").and_then(|i| text(i, "info_kind")),
                up: flags.contains(&"UP"),
                loopback: flags.contains(&"LOOPBACK"),
                addrs,
            })
        })
        .collect())
}

/// Parses `ip -j route show table all`.
pub fn parse_routes(json: &str) -> Result<Vec<Route>, String> {
    let routes = array(json, "ip -j route show table all")?;
    Ok(routes
        .iter()
        .filter(|r| text(r, "type").is_none_or(|t| t == "unicast"))
        .filter_map(|r| {
            Some(Route {
                dst: text(r, "dst")?,
                dev: text(r, "dev"),
                gateway: text(r, "gateway").and_then(|g| g.parse().ok()),
                table: text(r, "table").unwrap_or_else(|| "main".to_owned()),
            })
        })
        .collect())
}

/// Parses `ip -j rule show`.
pub fn parse_rules(json: &str) -> Result<Vec<Rule>, String> {
    let rules = array(json, "ip -j rule show")?;
    Ok(rules
        .iter()
        .filter_map(|r| {
            let src = match text(r, "src").as_deref() {
                None | Some("all") => None,
                Some(s) => {
                    let ip: IpAddr = s.parse().ok()?;
                    let len = r
                        .get("srclen")
                        .and_then(Value::as_u64)
                        .and_then(|l| u8::try_from(l).ok())
                        .unwrap_or(if ip.is_ipv4() { 32 } else { 128 });
                    Some(IpNet::new(ip, len).ok()?)
                }
            };
            Some(Rule {
                priority: u32::try_from(r.get("priority")?.as_u64()?).ok()?,
                src,
                iif: text(r, "iif"),
                oif: text(r, "oif"),
                table: text(r, "table")?,
            })
        })
        .collect())
}

/// The output device of `ip -j route get ADDR`.
pub fn parse_route_get(json: &str) -> Option<String> {
    array(json, "ip -j route get")
        .ok()?
        .first()
        .and_then(|r| text(r, "dev"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from a host with a TUN and a veth (trimmed).
    const ADDRS: &str = r#"[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"mtu":65536,
      "link_type":"loopback","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8}]},
      {"ifindex":3,"link":"d1","ifname":"eth1","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],
      "mtu":1460,"linkinfo":{"info_kind":"veth"},"addr_info":[{"family":"inet","local":"10.0.2.5","prefixlen":24},
      {"family":"inet6","local":"fe80::1","prefixlen":64}]},
      {"ifindex":7,"ifname":"vcpe0","flags":["POINTOPOINT","NOARP"],"mtu":1400,
      "linkinfo":{"info_kind":"tun","info_data":{"type":"tun"}},"addr_info":[]}]"#;

    #[test]
    fn links_carry_kind_state_and_addresses() {
        let l = parse_links(ADDRS).unwrap();
        assert_eq!(l.len(), 3);
        assert!(l[0].loopback && l[0].up);
        assert_eq!(l[1].kind.as_deref(), Some("veth"));
        assert_eq!(l[1].mtu, 1460);
        assert_eq!(
            l[1].addrs,
            vec![
                "10.0.2.5/24".parse::<IpNet>().unwrap(),
                "fe80::1/64".parse().unwrap()
            ]
        );
        assert!(!l[2].up && l[2].kind.as_deref() == Some("tun"));
        assert!(parse_links("garbage").unwrap_err().contains("unreadable"));
    }

    #[test]
    fn routes_rules_and_route_get() {
        let r = parse_routes(
            r#"[{"dst":"default","gateway":"10.0.2.1","dev":"d0","table":"101","flags":[]},
                {"dst":"10.0.2.0/24","dev":"d0","protocol":"kernel","scope":"link","flags":[]},
                {"type":"local","dst":"10.0.2.5","dev":"d0","table":"local","flags":[]}]"#,
        )
        .unwrap();
        assert_eq!(r.len(), 2, "local routes are left out: {r:?}");
        assert_eq!(r[0].table, "101");
        assert_eq!(r[0].gateway, Some("10.0.2.1".parse().unwrap()));
        assert_eq!(r[1].table, "main");
        let rules = parse_rules(
            r#"[{"priority":0,"src":"all","table":"local"},{"priority":32763,"src":"all","iif":"d0","table":"103"},
                {"priority":32764,"src":"10.9.0.0","srclen":16,"table":"102"},{"priority":32765,"src":"10.0.2.5","table":"101"}]"#,
        )
        .unwrap();
        assert_eq!(rules[0].src, None);
        assert_eq!(rules[1].iif.as_deref(), Some("d0"));
        assert_eq!(rules[2].src, Some("10.9.0.0/16".parse().unwrap()));
        assert_eq!(rules[3].src, Some("10.0.2.5/32".parse().unwrap()));
        assert_eq!(
            parse_route_get(
                r#"[{"dst":"8.8.8.8","gateway":"192.0.2.1","dev":"eth0","prefsrc":"192.0.2.2"}]"#
            ),
            Some("eth0".into())
        );
        assert_eq!(parse_route_get(""), None);
    }
}
