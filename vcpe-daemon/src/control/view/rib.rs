//! `vcpectl show route`: every source's candidates per prefix — connected
//! subnets of the interfaces, static routes (config and added live), the
//! host routes to BGP neighbors that run over a tunnel, BGP paths — with
//! the one the FIB really uses marked best and, for every other one, why
//! it is not.
//!
//! Which candidate is "best" is read from the FIB, not assumed: the
//! configured candidate whose next hop the FIB entry holds, else BGP's
//! best path when the FIB holds the prefix. Configured routes are
//! preferred connected, then static, then tunnel host routes
//! (`routing::config_routes`), and always over BGP (`routing::bgp_routes`).

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use vcpe_api::Reply;
use vcpe_api::view::RibRoute;
use vcpe_bgp::rib::{RouteSource, RouteView};
use vcpe_config::{Config, Neighbor, StaticRoute};
use vcpe_forwarding::fib::NextHopGroup;

use super::inspect::{Paths, Select, paths};
use super::{View, attrs, error, fib};
use crate::topology::Topology;

/// Kinds of configured routes, in the order the FIB prefers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Protocol {
    /// A subnet of an interface address.
    Connected,
    /// A `[[route]]` or `vcpectl route add`.
    Static,
    /// The host route to a BGP neighbor whose session runs over a tunnel.
    Tunnel,
    /// The host route to a tunnel peer's inner address (`next_hops`).
    Inner,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Connected => "connected",
            Protocol::Static => "static",
            Protocol::Tunnel | Protocol::Inner => "tunnel",
        })
    }
}

/// A configured candidate for a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigRoute {
    /// Its prefix.
    pub prefix: IpNet,
    /// Its kind.
    pub protocol: Protocol,
    /// Interface (connected), route name (static) or peer (tunnel).
    pub source: String,
    /// Where it sends packets (several next hops for ECMP).
    pub group: NextHopGroup,
    /// Announced by BGP.
    pub advertised: bool,
}

impl ConfigRoute {
    fn label(&self) -> String {
        format!("{} {}", self.protocol, self.source)
    }

    fn describe(&self) -> String {
        match self.protocol {
            Protocol::Connected => format!(
                "connected: {} is a subnet of interface {}",
                self.prefix, self.source
            ),
            Protocol::Static => format!("static route {}", self.source),
            Protocol::Tunnel => format!(
                "host route to BGP neighbor {}, whose session runs over tunnel {}",
                self.prefix.addr(),
                self.source
            ),
            Protocol::Inner => format!(
                "host route to {}, an inner address (BGP next hop) of tunnel peer {}",
                self.prefix.addr(),
                self.source
            ),
        }
    }
}

/// Every configured candidate, sorted by prefix, each prefix's in the
/// order the FIB prefers them. `table` is the static routes now,
/// `neighbors` the BGP neighbors now (a reload changes both).
pub fn config_routes(
    config: &Config,
    topology: &Topology,
    table: &[StaticRoute],
    neighbors: &[Neighbor],
) -> Vec<ConfigRoute> {
    let mut v = Vec::new();
    for iface in &config.interfaces {
        let Some(id) = topology.interface(&iface.name) else {
            continue;
        };
        for a in &iface.addresses {
            let prefix = a.trunc();
            let r = ConfigRoute {
                prefix,
                protocol: Protocol::Connected,
                source: iface.name.clone(),
                group: id.hop().into(),
                advertised: false,
            };
            if !v.contains(&r) {
                v.push(r);
            }
        }
    }
    for r in table {
        if let Some(group) = crate::routing::config_routes::static_group(topology, r) {
            v.push(ConfigRoute {
                prefix: r.prefix,
                protocol: Protocol::Static,
                source: r.name.clone(),
                group,
                advertised: r.advertise,
            });
        }
    }
    for n in neighbors {
        let Some(name) = n.peer.as_deref() else {
            continue;
        };
        if let Some(id) = topology.tunnel(name) {
            v.push(ConfigRoute {
                prefix: IpNet::from(n.address),
                protocol: Protocol::Tunnel,
                source: name.to_owned(),
                group: id.hop().into(),
                advertised: false,
            });
        }
    }
    for (id, hops) in topology.peer_hops() {
        let Some(name) = topology.tunnel_name(id.raw()) else {
            continue;
        };
        for a in hops.inner {
            let prefix = IpNet::from(a);
            if !v
                .iter()
                .any(|r| r.prefix == prefix && r.protocol == Protocol::Tunnel)
            {
                v.push(ConfigRoute {
                    prefix,
                    protocol: Protocol::Inner,
                    source: name.clone(),
                    group: id.hop().into(),
                    advertised: false,
                });
            }
        }
    }
    v.sort_by_key(|r| (r.prefix, r.protocol));
    v
}

/// The longest configured prefix covering `addr`.
pub fn config_covering(routes: &[ConfigRoute], addr: IpAddr) -> Option<IpNet> {
    routes
        .iter()
        .map(|r| r.prefix)
        .filter(|p| p.contains(&addr))
        .max_by_key(IpNet::prefix_len)
}

/// Who forwards a prefix.
enum Winner {
    Config(usize),
    Bgp,
    Nobody,
}

/// The rows of one prefix: its configured candidates `cands` (in
/// preference order), BGP's paths `bgp` (best first) named through
/// `names`, and what the FIB holds for it. The route the FIB uses comes
/// first.
pub fn rows(
    config: &Config,
    topology: &Topology,
    prefix: IpNet,
    cands: &[&ConfigRoute],
    bgp: &[RouteView],
    names: &Paths,
    fib: Option<&NextHopGroup>,
) -> Vec<RibRoute> {
    let held = |h: &NextHopGroup| fib == Some(h);
    let bgp_best = bgp.iter().any(|v| v.best);
    let winner = match cands.iter().position(|c| held(&c.group)) {
        Some(i) => Winner::Config(i),
        None if fib.is_some() && bgp_best => Winner::Bgp,
        None if !cands.is_empty() => Winner::Config(0),
        None if bgp_best => Winner::Bgp,
        None => Winner::Nobody,
    };
    let in_fib = fib.is_some();
    let fib_egress = fib.map(|g| fib::group_egress(config, topology, g));
    let mut out = Vec::new();
    for (i, c) in cands.iter().enumerate() {
        let best = matches!(winner, Winner::Config(w) if w == i);
        let (reason, beaten_by) = match winner {
            Winner::Config(w) if w == i => {
                let mut r = c.describe();
                if !held(&c.group) {
                    r += &match &fib_egress {
                        Some(e) => format!(
                            "; but the FIB sends {prefix} to {e}, not where this route says: \
                             a change may be in flight, run the command again"
                        ),
                        None => format!(
                            "; but {prefix} is not in the FIB: packets to it are dropped \
                             (no route); re-add the route or restart vcped"
                        ),
                    };
                }
                (r, None)
            }
            Winner::Config(w) => {
                let win = cands[w];
                let why = match (win.protocol, c.protocol) {
                    (Protocol::Connected, Protocol::Static) => {
                        "connected routes win over static ones"
                    }
                    (Protocol::Static, Protocol::Tunnel) => {
                        "static routes win over tunnel host routes"
                    }
                    _ => "it is the one in the FIB",
                };
                (
                    format!("{} has the same prefix: {why}", win.label()),
                    Some(win.label()),
                )
            }
            Winner::Bgp | Winner::Nobody => (
                format!(
                    "{}; not in the FIB, which forwards {prefix} by BGP",
                    c.describe()
                ),
                None,
            ),
        };
        out.push(RibRoute {
            prefix: prefix.to_string(),
            protocol: c.protocol.to_string(),
            source: c.source.clone(),
            best,
            in_fib,
            next_hop: c.group.hops()[0].gateway.map(|g| g.to_string()),
            egress: Some(fib::group_egress(config, topology, &c.group)),
            as_path: Vec::new(),
            origin: None,
            med: None,
            local_pref: None,
            communities: Vec::new(),
            large_communities: Vec::new(),
            bgp_best: false,
            rule: None,
            reason,
            beaten_by,
            stale: false,
            advertised: c.advertised,
            multipath: false,
            path_id: None,
        });
    }
    for v in bgp {
        let best = v.best && matches!(winner, Winner::Bgp);
        // An equal path (BGP multipath) the FIB group also holds.
        let multipath = !v.best
            && matches!(winner, Winner::Bgp)
            && v.source != RouteSource::Local
            && fib.is_some_and(|g| {
                g.len() > 1 && g.hops().iter().any(|h| h.gateway == v.attrs.next_hop)
            });
        let lost_in_bgp = || {
            let by = v.beaten_by.map(|s| names.source(s));
            (
                format!(
                    "lost to {} in BGP: {}",
                    by.as_deref().unwrap_or("the best path"),
                    v.reason
                ),
                by.map(|b| format!("bgp {b}")),
            )
        };
        let (reason, beaten_by) = match winner {
            Winner::Config(w) if v.source == RouteSource::Local => (
                format!(
                    "originated here and announced by BGP; the FIB uses {}",
                    cands[w].label()
                ),
                None,
            ),
            Winner::Config(w) if v.best => (
                format!(
                    "best BGP path ({}), but {} owns the prefix: configured routes win over BGP",
                    v.reason,
                    cands[w].label()
                ),
                Some(cands[w].label()),
            ),
            _ if multipath => (
                format!(
                    "equal to the best path up to the tie-break ({}): multipath, the FIB \
                     spreads flows over both",
                    v.reason
                ),
                None,
            ),
            _ if !v.best => lost_in_bgp(),
            _ if in_fib => (format!("best BGP path: {}", v.reason), None),
            _ => (
                format!(
                    "best BGP path ({}), but not in the FIB: no route reaches its next hop {}; \
                     see `vcpectl explain {}`",
                    v.reason,
                    v.attrs
                        .next_hop
                        .map_or_else(|| "(none)".to_owned(), |a| a.to_string()),
                    v.attrs
                        .next_hop
                        .map_or_else(|| "NEXT_HOP".to_owned(), |a| a.to_string()),
                ),
                None,
            ),
        };
        let a = &v.attrs;
        out.push(RibRoute {
            prefix: prefix.to_string(),
            protocol: "bgp".into(),
            source: names.source(v.source),
            best,
            in_fib,
            next_hop: a.next_hop.map(|x| x.to_string()),
            egress: if best || multipath {
                fib_egress.clone()
            } else {
                None
            },
            as_path: attrs::as_path(a),
            origin: Some(attrs::origin(a.origin).to_owned()),
            med: a.med,
            local_pref: a.local_pref,
            communities: a
                .communities
                .iter()
                .copied()
                .map(attrs::community)
                .collect(),
            large_communities: a
                .large_communities
                .iter()
                .copied()
                .map(attrs::large_community)
                .collect(),
            bgp_best: v.best,
            rule: v.import_rule.map(|i| format!("import_rule[{i}]")),
            reason,
            beaten_by,
            stale: v.stale,
            advertised: false,
            multipath,
            path_id: (v.path_id != 0).then_some(v.path_id),
        });
    }
    // The route in use first; the others keep their order.
    if let Some(i) = out.iter().position(|r| r.best) {
        let r = out.remove(i);
        out.insert(0, r);
    }
    out
}

/// What `show route` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Everything.
    All,
    /// One prefix.
    Exact(IpNet),
    /// The longest prefix covering an address.
    Covering(IpAddr),
}

/// Reads the request's prefix / address.
pub fn target(prefix: Option<String>, address: Option<String>) -> Result<Target, String> {
    match (prefix, address) {
        (Some(_), Some(_)) => Err("give a prefix or an address, not both".into()),
        (Some(p), None) => {
            let n: IpNet = p.parse().map_err(|_| {
                format!("{p:?} is not a prefix; write it as address/length, e.g. 10.2.0.0/16")
            })?;
            if n.trunc() != n {
                return Err(format!(
                    "{n} has host bits set; did you mean the prefix {} or the address {}?",
                    n.trunc(),
                    n.addr()
                ));
            }
            Ok(Target::Exact(n))
        }
        (None, Some(a)) => a
            .parse()
            .map(Target::Covering)
            .map_err(|_| format!("{a:?} is not an IP address; write e.g. 10.2.1.7 or fd00:2:1::7")),
        (None, None) => Ok(Target::All),
    }
}

/// Rows for `prefixes`, given the configured candidates, BGP's paths and
/// the FIB's entries (looked up under the routing lock, released
/// before this is called).
pub fn table(
    config: &Config,
    topology: &Topology,
    prefixes: &BTreeSet<IpNet>,
    routes: &[ConfigRoute],
    paths: &Paths,
    fib: &[Option<NextHopGroup>],
) -> Vec<RibRoute> {
    prefixes
        .iter()
        .zip(fib)
        .flat_map(|(p, f)| {
            let cands: Vec<&ConfigRoute> = routes.iter().filter(|r| r.prefix == *p).collect();
            rows(
                config,
                topology,
                *p,
                &cands,
                paths.of(*p),
                paths,
                f.as_ref(),
            )
        })
        .collect()
}

/// The configured candidates, BGP's paths and the FIB entries of the
/// prefixes `target` selects.
pub struct Gathered {
    /// Configured candidates (all of them).
    pub routes: Vec<ConfigRoute>,
    /// BGP's paths of the selected prefixes.
    pub paths: Paths,
    /// The selected prefixes.
    pub prefixes: BTreeSet<IpNet>,
    /// The FIB's entry of each, in the same order.
    pub fib: Vec<Option<NextHopGroup>>,
}

/// Collects what [`table`] needs for `target`.
pub fn gather(view: &View<'_>, target: Target) -> Result<Gathered, String> {
    let routes = view.config_routes();
    let select = match target {
        Target::All => Select::All,
        Target::Exact(p) => Select::Exact(p),
        Target::Covering(addr) => Select::Covering {
            addr,
            at_least: config_covering(&routes, addr),
        },
    };
    let paths = match view.bgp {
        Some(b) => paths(b, select)?,
        None => Paths::default(),
    };
    let prefixes: BTreeSet<IpNet> = match target {
        Target::All => routes
            .iter()
            .map(|r| r.prefix)
            .chain(paths.prefixes.keys().copied())
            .collect(),
        Target::Exact(p) => [p].into(),
        Target::Covering(addr) => config_covering(&routes, addr)
            .into_iter()
            .chain(paths.prefixes.keys().copied())
            .max_by_key(IpNet::prefix_len)
            .into_iter()
            .collect(),
    };
    let fib = view.with_routing(|r| prefixes.iter().map(|p| r.exact(*p)).collect());
    Ok(Gathered {
        routes,
        paths,
        prefixes,
        fib,
    })
}

/// `vcpectl show route [PREFIX|ADDRESS]`.
pub fn show(view: &View<'_>, prefix: Option<String>, address: Option<String>) -> Reply {
    let target = match target(prefix, address) {
        Ok(t) => t,
        Err(m) => return error(m),
    };
    let g = match gather(view, target) {
        Ok(g) => g,
        Err(m) => return error(m),
    };
    let routes = table(
        view.config,
        view.topology,
        &g.prefixes,
        &g.routes,
        &g.paths,
        &g.fib,
    );
    Reply::Rib {
        matched: match target {
            Target::Covering(_) => routes.first().map(|r| r.prefix.clone()),
            _ => None,
        },
        routes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::sync::Arc;
    use vcpe_bgp::model::{AsPath, PathAttributes};
    use vcpe_bgp::rib::{PeerId, Reason};
    use vcpe_forwarding::fib::NextHop;

    const CONFIG: &str = r#"
[router]
id = "10.0.1.1"
asn = 65001
[[interface]]
name = "vcpe0"
addresses = ["10.0.1.1/24"]
[[route]]
name = "lan"
prefix = "10.0.1.0/24"
interface = "vcpe0"
[[route]]
name = "far"
prefix = "10.9.0.0/16"
interface = "vcpe0"
next_hop = "10.0.1.7"
advertise = true
"#;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn path(
        prefix: &str,
        peer: Option<u32>,
        best: bool,
        asns: &[u32],
        reason: Reason,
    ) -> RouteView {
        RouteView {
            prefix: net(prefix),
            source: peer.map_or(RouteSource::Local, |p| RouteSource::Peer(PeerId(p))),
            attrs: Arc::new(PathAttributes {
                as_path: AsPath::sequence(asns.to_vec()),
                next_hop: Some("10.255.0.2".parse().unwrap()),
                ..PathAttributes::default()
            }),
            stale: false,
            best,
            reason,
            beaten_by: (!best).then_some(RouteSource::Peer(PeerId(0))),
            import_rule: None,
            path_id: 0,
        }
    }

    fn names() -> Paths {
        Paths {
            neighbors: [
                (PeerId(0), "10.255.0.2".parse().unwrap()),
                (PeerId(1), "10.255.0.3".parse().unwrap()),
            ]
            .into(),
            prefixes: Default::default(),
        }
    }

    #[test]
    fn connected_wins_over_a_static_route_of_the_same_prefix() {
        let config = vcpe_config::parse(CONFIG, Path::new("t.toml")).expect("valid");
        let all = config_routes(&config, &Topology::new(&config), &config.routes, &[]);
        let cands: Vec<&ConfigRoute> = all
            .iter()
            .filter(|r| r.prefix == net("10.0.1.0/24"))
            .collect();
        assert_eq!(cands[0].protocol, Protocol::Connected);
        let fib = NextHopGroup::single(NextHop::interface(0));
        let rows = rows(
            &config,
            &Topology::new(&config),
            net("10.0.1.0/24"),
            &cands,
            &[],
            &names(),
            Some(&fib),
        );
        assert_eq!(rows.len(), 2);
        assert!(rows[0].best && rows[0].protocol == "connected", "{rows:?}");
        assert!(!rows[1].best && rows[1].source == "lan");
        assert!(
            rows[1].reason.contains("connected routes win"),
            "{}",
            rows[1].reason
        );
        assert_eq!(rows[1].beaten_by.as_deref(), Some("connected vcpe0"));
    }

    #[test]
    fn bgp_best_is_best_only_where_the_fib_holds_it() {
        let config = vcpe_config::parse(CONFIG, Path::new("t.toml")).expect("valid");
        let bgp = [
            path(
                "10.2.0.0/16",
                Some(0),
                true,
                &[65002],
                Reason::ShorterAsPath(1, 2),
            ),
            path(
                "10.2.0.0/16",
                Some(1),
                false,
                &[65003, 65002],
                Reason::ShorterAsPath(1, 2),
            ),
        ];
        let fib = NextHopGroup::single(NextHop::tunnel(0).via("10.255.0.2".parse().unwrap()));
        let r = rows(
            &config,
            &Topology::new(&config),
            net("10.2.0.0/16"),
            &[],
            &bgp,
            &names(),
            Some(&fib),
        );
        assert!(r[0].best && r[0].source == "10.255.0.2" && r[0].bgp_best);
        assert_eq!(r[0].reason, "best BGP path: shorter AS path (1 < 2)");
        assert!(!r[1].best);
        assert_eq!(
            r[1].reason,
            "lost to 10.255.0.2 in BGP: shorter AS path (1 < 2)"
        );
        assert_eq!(r[1].beaten_by.as_deref(), Some("bgp 10.255.0.2"));
        // Not in the FIB: still BGP's best, marked best, and the reason says why it does not forward.
        let r = rows(
            &config,
            &Topology::new(&config),
            net("10.2.0.0/16"),
            &[],
            &bgp,
            &names(),
            None,
        );
        assert!(r[0].best && !r[0].in_fib);
        assert!(r[0].reason.contains("not in the FIB"), "{}", r[0].reason);
    }

    #[test]
    fn configured_routes_win_over_bgp_and_local_paths_say_they_are_ours() {
        let config = vcpe_config::parse(CONFIG, Path::new("t.toml")).expect("valid");
        let all = config_routes(&config, &Topology::new(&config), &config.routes, &[]);
        let cands: Vec<&ConfigRoute> = all
            .iter()
            .filter(|r| r.prefix == net("10.9.0.0/16"))
            .collect();
        let bgp = [
            path("10.9.0.0/16", None, true, &[], Reason::LocalOrigin),
            path("10.9.0.0/16", Some(0), false, &[65002], Reason::LocalOrigin),
        ];
        let fib = NextHopGroup::single(NextHop::interface(0).via("10.0.1.7".parse().unwrap()));
        let r = rows(
            &config,
            &Topology::new(&config),
            net("10.9.0.0/16"),
            &cands,
            &bgp,
            &names(),
            Some(&fib),
        );
        assert!(r[0].best && r[0].protocol == "static" && r[0].advertised);
        assert_eq!(r[0].next_hop.as_deref(), Some("10.0.1.7"));
        assert!(
            r[1].reason.starts_with("originated here"),
            "{}",
            r[1].reason
        );
        assert!(
            !r[2].best && r[2].reason.starts_with("lost to"),
            "{}",
            r[2].reason
        );
    }

    #[test]
    fn bad_targets_say_what_would_be_right() {
        assert!(
            target(Some("10.1.1.5/24".into()), None)
                .unwrap_err()
                .contains("did you mean the prefix 10.1.1.0/24 or the address 10.1.1.5")
        );
        assert!(
            target(None, Some("10.1.1".into()))
                .unwrap_err()
                .contains("not an IP address")
        );
        assert_eq!(
            target(None, Some("10.1.1.5".into())).unwrap(),
            Target::Covering("10.1.1.5".parse().unwrap())
        );
    }

    #[test]
    fn equal_bgp_paths_in_the_fib_group_are_multipath() {
        let config = vcpe_config::parse(CONFIG, Path::new("t.toml")).expect("valid");
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let mut second = path(
            "10.2.0.0/16",
            Some(1),
            false,
            &[65002],
            Reason::LowerRouterId("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()),
        );
        Arc::make_mut(&mut second.attrs).next_hop = Some(ip("10.255.0.3"));
        let bgp = [
            path("10.2.0.0/16", Some(0), true, &[65002], Reason::OnlyPath),
            second,
        ];
        let both = NextHopGroup::new([
            NextHop::tunnel(0).via(ip("10.255.0.2")),
            NextHop::tunnel(1).via(ip("10.255.0.3")),
        ])
        .unwrap();
        let r = rows(
            &config,
            &Topology::new(&config),
            net("10.2.0.0/16"),
            &[],
            &bgp,
            &names(),
            Some(&both),
        );
        assert!(r[0].best && !r[0].multipath);
        assert!(!r[1].best && r[1].multipath, "{:?}", r[1]);
        assert!(r[1].reason.contains("multipath"), "{}", r[1].reason);
        assert_eq!(r[1].beaten_by, None);
        assert_eq!(r[1].egress, r[0].egress);
        // The FIB holds the best path alone: the other one lost.
        let one = NextHopGroup::single(NextHop::tunnel(0).via(ip("10.255.0.2")));
        let r = rows(
            &config,
            &Topology::new(&config),
            net("10.2.0.0/16"),
            &[],
            &bgp,
            &names(),
            Some(&one),
        );
        assert!(!r[1].multipath && r[1].reason.starts_with("lost to"));
    }
}
