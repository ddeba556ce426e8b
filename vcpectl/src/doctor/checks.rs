//! The checks of `vcpectl doctor`: pure functions from the config and the
//! gathered [`Facts`] to one line each — ok, warn or fail — with the exact
//! command that fixes a warn or fail.

use std::net::IpAddr;
use std::path::Path;

use serde::Serialize;
use vcpe_config::Config;
use vcpe_config::mtu::{overhead, tunnel_mtu};

use super::facts::{Facts, Link, SocketFact};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fine.
    Ok,
    /// Works, but worth fixing.
    Warn,
    /// Breaks traffic or management.
    Fail,
}

/// One check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked ("ip_forward", "rp_filter eth1", ...).
    pub name: String,
    /// The outcome.
    pub status: Status,
    /// What was found and why it matters.
    pub message: String,
    /// The command (or config change) that fixes it.
    pub fix: Option<String>,
}

fn ok(name: impl Into<String>, message: impl Into<String>) -> Check {
    Check {
        name: name.into(),
        status: Status::Ok,
        message: message.into(),
        fix: None,
    }
}

fn bad(status: Status, name: impl Into<String>, message: String, fix: String) -> Check {
    Check {
        name: name.into(),
        status,
        message,
        fix: Some(fix),
    }
}

/// `sysctl -w K=V`, and the line that keeps it across reboots: in
/// `/etc/sysctl.d/61-vcpe-local.conf`, read after the package's
/// `/usr/lib/sysctl.d/60-vcpe.conf` (so it wins) without shadowing it (a
/// file of the same name in /etc would replace the package's whole).
fn persist(setting: &str) -> String {
    format!(
        "sysctl -w {setting} && echo '{}' >> /etc/sysctl.d/61-vcpe-local.conf",
        setting.replacen('=', " = ", 1)
    )
}

/// Every check. `config` is the loaded config or the load error.
pub fn all(
    config: Result<&Config, &str>,
    config_path: &Path,
    socket_path: &Path,
    facts: &Facts,
) -> Vec<Check> {
    let mut v = Vec::new();
    let config = match config {
        Ok(c) => {
            v.push(ok(
                "config",
                format!("{} loads and is valid", config_path.display()),
            ));
            Some(c)
        }
        Err(e) => {
            v.push(bad(
                Status::Fail,
                "config",
                format!("{} does not load: {}", config_path.display(), e.trim()),
                format!(
                    "fix the file (`vcped check-config {}` lists every error), or point to the \
                     right one with --config",
                    config_path.display()
                ),
            ));
            None
        }
    };
    if let Err(e) = &facts.links {
        v.push(bad(
            Status::Fail,
            "ip",
            format!("cannot read the interfaces: {e}"),
            "apt-get install iproute2".into(),
        ));
    }
    v.extend(forwarding(config, facts));
    if let Some(c) = config {
        v.extend(interfaces(c, facts));
        v.extend(rp_filter(c, facts));
    }
    v.extend(policy_routing(config, facts));
    if let Some(c) = config {
        v.extend(mtu(c, facts));
    }
    v.push(clock(facts));
    v.push(socket(config, socket_path, facts));
    v
}

/// IPv4 and IPv6 forwarding in the kernel.
pub fn forwarding(config: Option<&Config>, facts: &Facts) -> Vec<Check> {
    let why = "vcped forwards in userspace, but packets from the VMs reach its TUN only if the \
               kernel routes them from the NIC into it (and back)";
    let mut v = vec![match facts.sysctl_num("net.ipv4.ip_forward") {
        Some(1) => ok(
            "ip_forward",
            "net.ipv4.ip_forward = 1: the kernel routes VPC traffic into the TUN",
        ),
        Some(_) => bad(
            Status::Fail,
            "ip_forward",
            format!("net.ipv4.ip_forward = 0: {why}"),
            persist("net.ipv4.ip_forward=1"),
        ),
        None => bad(
            Status::Warn,
            "ip_forward",
            "cannot read net.ipv4.ip_forward".into(),
            "sysctl net.ipv4.ip_forward".into(),
        ),
    }];
    let uses_v6 = config.is_some_and(|c| {
        c.interfaces
            .iter()
            .flat_map(|i| &i.addresses)
            .any(|a| a.addr().is_ipv6() && !is_link_local(a.addr()))
    });
    v.push(
        match (facts.sysctl_num("net.ipv6.conf.all.forwarding"), uses_v6) {
            (Some(1), _) => ok("ipv6_forwarding", "net.ipv6.conf.all.forwarding = 1"),
            (Some(_), true) => bad(
                Status::Fail,
                "ipv6_forwarding",
                format!(
                    "net.ipv6.conf.all.forwarding = 0 and the config has IPv6 addresses: {why}"
                ),
                persist("net.ipv6.conf.all.forwarding=1"),
            ),
            (Some(_), false) => ok(
                "ipv6_forwarding",
                "net.ipv6.conf.all.forwarding = 0: not needed, the config has no IPv6 address",
            ),
            (None, _) => bad(
                Status::Warn,
                "ipv6_forwarding",
                "cannot read net.ipv6.conf.all.forwarding (IPv6 disabled?)".into(),
                "sysctl net.ipv6.conf.all.forwarding".into(),
            ),
        },
    );
    v
}

fn is_link_local(a: IpAddr) -> bool {
    match a {
        IpAddr::V6(v) => v.is_unicast_link_local(),
        IpAddr::V4(v) => v.is_link_local(),
    }
}

/// The network interfaces that are not vcped's TUNs: up, not loopback,
/// with an IPv4 address.
fn nics<'a>(config: Option<&Config>, facts: &'a Facts) -> Vec<&'a Link> {
    facts
        .links()
        .iter()
        .filter(|l| {
            !l.loopback
                && l.up
                && !matches!(l.kind.as_deref(), Some("tun" | "wireguard" | "bridge"))
                && !config.is_some_and(|c| c.interfaces.iter().any(|i| i.name == l.name))
                && l.addrs.iter().any(|a| a.addr().is_ipv4())
        })
        .collect()
}

/// Strict reverse-path filtering on the TUNs and NICs. The kernel uses the
/// larger of `all` and the interface's value.
pub fn rp_filter(config: &Config, facts: &Facts) -> Vec<Check> {
    let all = facts.sysctl_num("net.ipv4.conf.all.rp_filter").unwrap_or(0);
    let default = facts
        .sysctl_num("net.ipv4.conf.default.rp_filter")
        .unwrap_or(0);
    let mut names: Vec<(String, bool)> = config
        .interfaces
        .iter()
        .map(|i| (i.name.clone(), true))
        .collect();
    names.extend(
        nics(Some(config), facts)
            .iter()
            .map(|l| (l.name.clone(), false)),
    );
    names
        .into_iter()
        .map(|(name, tun)| {
            let (own, whose) = match facts.sysctl_num(&format!("net.ipv4.conf.{name}.rp_filter")) {
                Some(v) => (v, format!("net.ipv4.conf.{name}.rp_filter")),
                // A TUN vcped has not created yet gets the default.
                None => (default, "net.ipv4.conf.default.rp_filter".to_owned()),
            };
            let check = format!("rp_filter {name}");
            if all.max(own) != 1 {
                return ok(
                    check,
                    format!("{name}: rp_filter {} (loose or off)", all.max(own)),
                );
            }
            bad(
                Status::Fail,
                check,
                format!(
                    "{name}{}: strict rp_filter (1) drops packets that arrive on another \
                     interface than the one the reply would leave by — asymmetric paths between \
                     VPCs, failover to another vCPE, multi-NIC hosts; use loose (2) or off (0)",
                    if tun { " (vcped's TUN)" } else { "" }
                ),
                // The kernel takes the larger of `all` and the
                // interface's: 2 on the interface is loose whatever `all`.
                persist(&format!("{whose}=2")),
            )
        })
        .collect()
}

/// A secondary NIC needs its own table and `ip rule`: else replies from
/// its address leave by the primary NIC and the cloud drops them (source /
/// destination check).
pub fn policy_routing(config: Option<&Config>, facts: &Facts) -> Vec<Check> {
    let nics = nics(config, facts);
    if nics.len() <= 1 {
        let name = nics.first().map_or("none", |l| l.name.as_str());
        return vec![ok(
            "policy routing",
            format!("one NIC with IPv4 ({name}): nothing to route by source"),
        )];
    }
    let primary = facts
        .routes
        .iter()
        .find(|r| r.table == "main" && r.dst == "default")
        .and_then(|r| r.dev.clone());
    let Some(primary) = primary else {
        return vec![bad(
            Status::Warn,
            "policy routing",
            format!(
                "{} NICs but no default route in the main table: the underlay (other vCPEs, the \
                 internet) may be unreachable",
                nics.len()
            ),
            "ip route add default via GATEWAY dev NIC".into(),
        )];
    };
    nics.iter()
        .filter(|l| l.name != primary)
        .flat_map(|l| {
            let primary = primary.clone();
            l.addrs.iter().filter(|a| a.addr().is_ipv4()).map(move |a| {
                let addr = a.addr();
                let name = format!("policy routing {}", l.name);
                let table = facts
                    .rules
                    .iter()
                    .filter(|r| r.src.is_some_and(|s| s.contains(&addr)))
                    .map(|r| r.table.clone())
                    .find(|t| t != "main" && t != "local" && t != "default");
                let routed = table.as_ref().is_some_and(|t| {
                    facts.routes.iter().any(|r| {
                        &r.table == t && r.dst == "default" && r.dev.as_deref() == Some(&l.name)
                    })
                });
                if routed {
                    return ok(
                        name,
                        format!(
                            "{} ({addr}): `ip rule from {addr}` uses table {} with a default \
                             route out of {}",
                            l.name,
                            table.unwrap_or_default(),
                            l.name
                        ),
                    );
                }
                let gw = first_host(a);
                let t = 100 + l.ifindex;
                bad(
                    Status::Warn,
                    name,
                    format!(
                        "secondary NIC {} ({addr}) has no policy route: replies from {addr} \
                         leave by {primary} (the main table's default) and the cloud drops them",
                        l.name
                    ),
                    format!(
                        "ip route add default via {gw} dev {} table {t} && ip rule add from \
                         {addr} table {t}  (GW {gw}: the subnet's gateway, usually its first \
                         address; make it persistent in your network config)",
                        l.name
                    ),
                )
            })
        })
        .collect()
}

fn first_host(a: &ipnet::IpNet) -> IpAddr {
    match a.network() {
        IpAddr::V4(n) => IpAddr::V4(std::net::Ipv4Addr::from(u32::from(n).saturating_add(1))),
        IpAddr::V6(n) => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(n).saturating_add(1))),
    }
}

/// Tunnel MTUs against the underlay's, and the TUNs' against the tunnels'.
pub fn mtu(config: &Config, facts: &Facts) -> Vec<Check> {
    let mut v = Vec::new();
    // The largest inner packet each tunnel carries unfragmented.
    let mut fits: Vec<(String, u32)> = Vec::new();
    for p in &config.peers {
        let Some(over) = overhead(p) else { continue };
        let name = format!("mtu tunnel {}", p.name);
        let t = u32::from(tunnel_mtu(p));
        let over = u32::from(over);
        // A learned or hostname endpoint has no address to check here.
        let Some(ep) = p.fixed_endpoint().map(|e| e.ip()) else {
            continue;
        };
        let dev = facts.route_to.get(&ep).cloned().flatten();
        let Some(link) = dev.as_deref().and_then(|d| facts.link(d)) else {
            v.push(bad(
                Status::Fail,
                name,
                format!(
                    "no route to {}'s endpoint {ep}: the tunnel cannot reach the peer vCPE",
                    p.name
                ),
                format!("ip route add {ep} via GATEWAY (or a default route); check with `ip route get {ep}`"),
            ));
            continue;
        };
        if t + over > link.mtu {
            let want = link.mtu.saturating_sub(over);
            v.push(bad(
                Status::Fail,
                name,
                format!(
                    "tunnel MTU {t} + {over} bytes of encapsulation = {} > {} MTU {} (the \
                     underlay towards {ep}): full-size packets are fragmented or dropped",
                    t + over,
                    link.name,
                    link.mtu
                ),
                format!(
                    "set `mtu = {want}` in [[peer]] {} and restart vcped",
                    p.name
                ),
            ));
            fits.push((p.name.clone(), want));
        } else {
            v.push(ok(
                name,
                format!(
                    "tunnel MTU {t} + {over} bytes of encapsulation fits {} MTU {}",
                    link.name, link.mtu
                ),
            ));
            fits.push((p.name.clone(), t));
        }
    }
    let smallest = fits.iter().min_by_key(|(_, m)| *m);
    for i in &config.interfaces {
        let name = format!("mtu {}", i.name);
        if let Some(l) = facts.link(&i.name)
            && l.mtu != u32::from(i.mtu)
        {
            v.push(bad(
                Status::Warn,
                name.clone(),
                format!(
                    "{} has MTU {} on the host, the config says {}: something changed it",
                    i.name, l.mtu, i.mtu
                ),
                format!("ip link set {} mtu {}", i.name, i.mtu),
            ));
        }
        match smallest {
            Some((peer, m)) if u32::from(i.mtu) > *m => v.push(bad(
                Status::Warn,
                name,
                format!(
                    "{} MTU {} > {m}, what tunnel {peer} carries: bigger packets into it get \
                     ICMP Fragmentation Needed{} (a round trip lost, and lost for good where \
                     ICMP is filtered)",
                    i.name,
                    i.mtu,
                    if config.forwarding.mss_clamp {
                        ", TCP SYNs are MSS-clamped"
                    } else {
                        ", and mss_clamp is off"
                    }
                ),
                format!(
                    "set `mtu = {m}` in [[interface]] {} and restart vcped",
                    i.name
                ),
            )),
            Some((_, m)) => v.push(ok(
                name,
                format!("{} MTU {} fits every tunnel (smallest {m})", i.name, i.mtu),
            )),
            None => {}
        }
    }
    v
}

/// The clock.
pub fn clock(facts: &Facts) -> Check {
    match &facts.ntp {
        Some((true, how)) => ok("clock", format!("NTP synchronized ({how})")),
        Some((false, how)) => bad(
            Status::Warn,
            "clock",
            format!(
                "the clock is not NTP synchronized ({how}): WireGuard handshakes carry a \
                 timestamp, and a clock that jumps back makes peers ignore our handshakes until \
                 it passes the old time; logs of different vCPEs do not line up"
            ),
            "timedatectl set-ntp true  (or: apt-get install chrony)".into(),
        ),
        None => bad(
            Status::Warn,
            "clock",
            "cannot tell whether the clock is synchronized (no timedatectl, adjtimex failed)"
                .into(),
            "apt-get install chrony".into(),
        ),
    }
}

/// The control socket: present, a socket, mode and group as the config
/// says.
pub fn socket(config: Option<&Config>, path: &Path, facts: &Facts) -> Check {
    let group = config.and_then(|c| c.control.group.as_deref());
    let p = path.display();
    match (&facts.socket, group) {
        (SocketFact::Missing, _) => bad(
            Status::Warn,
            "control socket",
            format!("no socket at {p}: vcped is not running, or runs with another --socket"),
            "systemctl start vcped  (or: vcped run --config FILE)".into(),
        ),
        (SocketFact::NotASocket, _) => bad(
            Status::Fail,
            "control socket",
            format!("{p} exists but is not a socket: vcped cannot bind it"),
            format!("rm {p} and restart vcped"),
        ),
        (SocketFact::Present { mode, .. }, _) if mode & 0o007 != 0 => bad(
            Status::Fail,
            "control socket",
            format!("{p} has mode {mode:o}: anyone on the host can reconfigure the router"),
            format!("chmod o-rwx {p}"),
        ),
        (SocketFact::Present { .. }, Some(g)) if facts.group_gid.is_none() => bad(
            Status::Fail,
            "control socket",
            format!("[control] group {g:?} does not exist: nobody but root can use vcpectl"),
            format!("groupadd {g} && usermod -aG {g} USER"),
        ),
        (SocketFact::Present { mode, gid, .. }, Some(g)) => {
            let want = facts.group_gid.unwrap_or(0);
            if *gid != want {
                bad(
                    Status::Fail,
                    "control socket",
                    format!(
                        "{p} belongs to gid {gid}, not group {g} ({want}): members of {g} \
                         cannot use vcpectl"
                    ),
                    format!("chgrp {g} {p}"),
                )
            } else if mode & 0o060 != 0o060 {
                bad(
                    Status::Fail,
                    "control socket",
                    format!("{p} has mode {mode:o}: group {g} cannot read and write it"),
                    format!("chmod g+rw {p}"),
                )
            } else {
                ok("control socket", format!("{p}: mode {mode:o}, group {g}"))
            }
        }
        (SocketFact::Present { mode, uid, .. }, None) => {
            if mode & 0o070 != 0 {
                bad(
                    Status::Warn,
                    "control socket",
                    format!("{p} has mode {mode:o} but no [control] group is configured"),
                    format!("chmod 600 {p}, or set [control] group"),
                )
            } else {
                ok(
                    "control socket",
                    format!("{p}: mode {mode:o}, owner uid {uid} only"),
                )
            }
        }
    }
}

/// The config's interfaces (vcped's TUNs) and the local addresses it
/// binds.
pub fn interfaces(config: &Config, facts: &Facts) -> Vec<Check> {
    let mut v = Vec::new();
    for i in &config.interfaces {
        let name = format!("interface {}", i.name);
        v.push(match facts.link(&i.name) {
            Some(l) if l.kind.as_deref() == Some("tun") => {
                ok(name, format!("{} exists (TUN, MTU {})", i.name, l.mtu))
            }
            Some(l) => bad(
                Status::Fail,
                name,
                format!(
                    "{} exists but is a {} device, not vcped's TUN: vcped cannot create it",
                    i.name,
                    l.kind.as_deref().unwrap_or("plain")
                ),
                format!(
                    "ip link del {}  (or rename [[interface]] {})",
                    i.name, i.name
                ),
            ),
            None => bad(
                Status::Warn,
                name,
                format!("{} does not exist: vcped creates it when it starts", i.name),
                "systemctl start vcped  (or: vcped run --config FILE)".into(),
            ),
        });
    }
    let local = |a: IpAddr| {
        a.is_unspecified()
            || facts
                .links()
                .iter()
                .any(|l| l.addrs.iter().any(|n| n.addr() == a))
    };
    let mut binds: Vec<(String, IpAddr)> = config
        .peers
        .iter()
        .filter_map(|p| Some((format!("[[peer]] {} bind", p.name), p.bind?.ip())))
        .collect();
    if let Some(b) = &config.bgp {
        binds.push(("[bgp] listen".into(), b.listen.ip()));
        binds.extend(b.neighbors.iter().filter_map(|n| {
            Some((
                format!("[[bgp.neighbor]] {} local_address", n.address),
                n.local_address?,
            ))
        }));
    }
    for (what, a) in binds {
        if !local(a) && facts.links.is_ok() {
            v.push(bad(
                Status::Fail,
                format!("address {a}"),
                format!("{what} is {a}, which no interface of this host has"),
                format!(
                    "fix {what} in the config, or add the address (ip addr add {a}/LEN dev NIC)"
                ),
            ));
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::facts::{Route, Rule};
    use std::collections::BTreeMap;

    const CONFIG: &str = r#"
[router]
id = "10.255.0.1"
asn = 65001
[[interface]]
name = "vcpe0"
addresses = ["10.255.0.1/24", "fd00:255::1/64"]
mtu = 1400
[[peer]]
name = "vpc02"
endpoint = "100.64.2.2"
encapsulation = "gre"
allowed_prefixes = ["10.2.0.0/16"]
"#;

    fn config() -> Config {
        vcpe_config::parse(CONFIG, Path::new("t.toml")).expect("valid")
    }

    fn link(ifindex: u32, name: &str, mtu: u32, kind: Option<&str>, addrs: &[&str]) -> Link {
        Link {
            ifindex,
            name: name.into(),
            mtu,
            kind: kind.map(str::to_owned),
            up: true,
            loopback: name == "lo",
            addrs: addrs.iter().map(|a| a.parse().unwrap()).collect(),
        }
    }

    /// A healthy single-NIC host with vcped running.
    fn facts() -> Facts {
        let sysctl: BTreeMap<String, String> = [
            ("net.ipv4.ip_forward", "1"),
            ("net.ipv6.conf.all.forwarding", "1"),
            ("net.ipv4.conf.all.rp_filter", "0"),
            ("net.ipv4.conf.default.rp_filter", "0"),
            ("net.ipv4.conf.eth0.rp_filter", "2"),
            ("net.ipv4.conf.vcpe0.rp_filter", "0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        Facts {
            sysctl,
            links: Ok(vec![
                link(1, "lo", 65536, None, &["127.0.0.1/8"]),
                link(2, "eth0", 1500, None, &["100.64.1.2/24"]),
                link(5, "vcpe0", 1400, Some("tun"), &["10.255.0.1/24"]),
            ]),
            routes: vec![Route {
                dst: "default".into(),
                dev: Some("eth0".into()),
                gateway: Some("100.64.1.1".parse().unwrap()),
                table: "main".into(),
            }],
            rules: Vec::new(),
            route_to: [("100.64.2.2".parse().unwrap(), Some("eth0".to_owned()))].into(),
            ntp: Some((true, "timedatectl".into())),
            socket: SocketFact::Present {
                mode: 0o600,
                uid: 0,
                gid: 0,
            },
            group_gid: None,
        }
    }

    fn find<'a>(checks: &'a [Check], name: &str) -> &'a Check {
        checks
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no check {name}: {checks:#?}"))
    }

    #[test]
    fn a_healthy_host_passes_every_check() {
        let c = config();
        let checks = all(
            Ok(&c),
            Path::new("t.toml"),
            Path::new("/run/vcpe/vcped.sock"),
            &facts(),
        );
        let bad: Vec<&Check> = checks.iter().filter(|c| c.status != Status::Ok).collect();
        assert!(bad.is_empty(), "{bad:#?}");
        assert!(checks.len() >= 9, "{checks:#?}");
    }

    #[test]
    fn forwarding_off_fails_with_the_sysctl_that_fixes_it() {
        let mut f = facts();
        f.sysctl.insert("net.ipv4.ip_forward".into(), "0".into());
        f.sysctl
            .insert("net.ipv6.conf.all.forwarding".into(), "0".into());
        let v = forwarding(Some(&config()), &f);
        assert_eq!(v[0].status, Status::Fail);
        assert!(v[0].message.contains("userspace"), "{}", v[0].message);
        assert!(
            v[0].fix
                .as_deref()
                .unwrap()
                .starts_with("sysctl -w net.ipv4.ip_forward=1")
        );
        assert_eq!(v[1].status, Status::Fail, "the config has IPv6 addresses");
        // Without IPv6 in the config, IPv6 forwarding does not matter.
        let mut c = config();
        c.interfaces[0].addresses.retain(|a| a.addr().is_ipv4());
        assert_eq!(forwarding(Some(&c), &f)[1].status, Status::Ok);
    }

    #[test]
    fn strict_rp_filter_fails_on_the_nic_and_on_the_tun_vcped_will_create() {
        let mut f = facts();
        f.sysctl
            .insert("net.ipv4.conf.all.rp_filter".into(), "1".into());
        // all = 1 with eth0 = 2: the larger one, loose, applies.
        assert_eq!(
            find(&rp_filter(&config(), &f), "rp_filter eth0").status,
            Status::Ok
        );
        f.sysctl
            .insert("net.ipv4.conf.eth0.rp_filter".into(), "0".into());
        let v = rp_filter(&config(), &f);
        let eth0 = find(&v, "rp_filter eth0");
        assert_eq!(eth0.status, Status::Fail);
        assert_eq!(
            eth0.fix.as_deref(),
            Some(
                "sysctl -w net.ipv4.conf.eth0.rp_filter=2 && echo 'net.ipv4.conf.eth0.rp_filter = 2' >> /etc/sysctl.d/61-vcpe-local.conf"
            )
        );
        // vcpe0 not created yet: it will get the default.
        let mut f = facts();
        f.sysctl
            .insert("net.ipv4.conf.default.rp_filter".into(), "1".into());
        f.sysctl.remove("net.ipv4.conf.vcpe0.rp_filter");
        let v = rp_filter(&config(), &f);
        let tun = find(&v, "rp_filter vcpe0");
        assert_eq!(tun.status, Status::Fail);
        assert!(
            tun.fix
                .as_deref()
                .unwrap()
                .contains("net.ipv4.conf.default.rp_filter=2")
        );
        assert_eq!(find(&v, "rp_filter eth0").status, Status::Ok);
    }

    #[test]
    fn a_secondary_nic_without_its_own_table_is_flagged_with_the_commands() {
        let mut f = facts();
        if let Ok(l) = &mut f.links {
            l.push(link(3, "eth1", 1500, None, &["10.0.2.5/24"]));
        }
        let v = policy_routing(Some(&config()), &f);
        let c = find(&v, "policy routing eth1");
        assert_eq!(c.status, Status::Warn);
        assert!(c.message.contains("leave by eth0"), "{}", c.message);
        assert!(
            c.fix.as_deref().unwrap().starts_with(
                "ip route add default via 10.0.2.1 dev eth1 table 103 && ip rule add from 10.0.2.5 table 103"
            ),
            "{:?}",
            c.fix
        );
        // With the rule and the table's default route it is fine.
        f.rules.push(Rule {
            priority: 100,
            src: Some("10.0.2.5/32".parse().unwrap()),
            iif: None,
            oif: None,
            table: "103".into(),
        });
        f.routes.push(Route {
            dst: "default".into(),
            dev: Some("eth1".into()),
            gateway: Some("10.0.2.1".parse().unwrap()),
            table: "103".into(),
        });
        assert_eq!(
            find(&policy_routing(Some(&config()), &f), "policy routing eth1").status,
            Status::Ok
        );
    }

    #[test]
    fn tunnel_mtu_must_fit_the_underlay_and_the_tun_the_tunnel() {
        let mut f = facts();
        let mut c = config();
        c.interfaces[0].mtu = 1500;
        if let Ok(l) = &mut f.links {
            l[1].mtu = 1460; // GCP's underlay MTU
            l[2].mtu = 1500;
        }
        let v = mtu(&c, &f);
        // GRE over IPv4 without a key: 24 bytes; default tunnel MTU 1476.
        let t = find(&v, "mtu tunnel vpc02");
        assert_eq!(t.status, Status::Fail);
        assert!(
            t.message
                .contains("1476 + 24 bytes of encapsulation = 1500 > eth0 MTU 1460"),
            "{}",
            t.message
        );
        assert_eq!(
            t.fix.as_deref(),
            Some("set `mtu = 1436` in [[peer]] vpc02 and restart vcped")
        );
        let i = find(&v, "mtu vcpe0");
        assert_eq!(i.status, Status::Warn);
        assert!(
            i.fix
                .as_deref()
                .unwrap()
                .contains("`mtu = 1436` in [[interface]] vcpe0")
        );
        // No route to the endpoint.
        f.route_to.insert("100.64.2.2".parse().unwrap(), None);
        assert!(
            find(&mtu(&c, &f), "mtu tunnel vpc02")
                .message
                .contains("no route")
        );
    }

    #[test]
    fn clock_socket_and_interfaces() {
        let mut f = facts();
        f.ntp = Some((false, "adjtimex".into()));
        assert_eq!(clock(&f).status, Status::Warn);
        f.socket = SocketFact::Missing;
        assert_eq!(
            socket(Some(&config()), Path::new("/s"), &f).status,
            Status::Warn
        );
        f.socket = SocketFact::Present {
            mode: 0o666,
            uid: 0,
            gid: 0,
        };
        assert_eq!(
            socket(Some(&config()), Path::new("/s"), &f).status,
            Status::Fail
        );
        let mut c = config();
        c.control.group = Some("vcpe".into());
        f.socket = SocketFact::Present {
            mode: 0o660,
            uid: 0,
            gid: 0,
        };
        f.group_gid = Some(990);
        let s = socket(Some(&c), Path::new("/s"), &f);
        assert_eq!(s.status, Status::Fail);
        assert_eq!(s.fix.as_deref(), Some("chgrp vcpe /s"));
        f.group_gid = None;
        assert!(
            socket(Some(&c), Path::new("/s"), &f)
                .message
                .contains("does not exist")
        );
        if let Ok(l) = &mut f.links {
            l[2].kind = Some("veth".into());
        }
        let v = interfaces(&config(), &f);
        assert_eq!(find(&v, "interface vcpe0").status, Status::Fail);
        if let Ok(l) = &mut f.links {
            l.remove(2);
        }
        assert_eq!(
            find(&interfaces(&config(), &f), "interface vcpe0").status,
            Status::Warn
        );
    }

    #[test]
    fn a_config_that_does_not_load_fails_first_and_host_checks_still_run() {
        let v = all(
            Err("t.toml:3:1: error: ..."),
            Path::new("t.toml"),
            Path::new("/s"),
            &facts(),
        );
        assert_eq!(v[0].name, "config");
        assert_eq!(v[0].status, Status::Fail);
        assert!(v.iter().any(|c| c.name == "ip_forward"));
        assert!(v.iter().any(|c| c.name == "clock"));
    }
}
