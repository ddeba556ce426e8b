//! The routes the config implies: connected prefixes of the interfaces,
//! static routes (`[[route]]`), and a host route into its tunnel for each
//! BGP neighbor that names a `[[peer]]`, for each peer's `bfd_address` and
//! for each peer's inner addresses (`next_hops`). Connected wins over a static
//! route for the same prefix, as in the kernel and in BIRD's default
//! preferences.

use std::collections::BTreeMap;

use ipnet::IpNet;
use vcpe_config::{Config, RouteTarget, StaticRoute};
use vcpe_forwarding::fib::{NextHop, NextHopGroup};

use crate::topology::{InterfaceId, Topology};

/// Where a route of the config sends packets, before it becomes a FIB entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteSource {
    /// A prefix of an interface address.
    Connected,
    /// A `[[route]]`.
    Static,
}

/// The FIB routes the config implies: every interface address's network
/// (connected), then every static route. A static route for exactly a
/// connected prefix does not override it (connected routes win, as in the
/// kernel and in BIRD's default preferences).
pub fn initial_routes(
    config: &Config,
    topology: &Topology,
) -> BTreeMap<IpNet, (NextHopGroup, RouteSource)> {
    let mut routes = BTreeMap::new();
    for r in &config.routes {
        // Validation guarantees the target exists; skip defensively if not.
        let Some(group) = static_group(topology, r) else {
            continue;
        };
        routes.insert(r.prefix, (group, RouteSource::Static));
    }
    // A BGP neighbor that names a tunnel peer is reached through it, and
    // so is a peer's BFD address.
    for (prefix, group) in neighbor_routes(config, topology)
        .into_iter()
        .chain(peer_bfd_routes(config, topology))
        .chain(peer_inner_routes(topology))
    {
        routes.entry(prefix).or_insert((group, RouteSource::Static));
    }
    for iface in &config.interfaces {
        let Some(id) = topology.interface(&iface.name) else {
            continue;
        };
        for (prefix, group) in connected_routes(id, iface) {
            routes.insert(prefix, (group, RouteSource::Connected));
        }
    }
    routes
}

/// The connected routes of interface `iface` (id `id`): the network of
/// each of its addresses.
pub fn connected_routes(
    id: InterfaceId,
    iface: &vcpe_config::Interface,
) -> Vec<(IpNet, NextHopGroup)> {
    iface
        .addresses
        .iter()
        .map(|a| (a.trunc(), NextHopGroup::single(id.hop())))
        .collect()
}

/// Where a static route goes: its interface or tunnel, via its gateway
/// if it has one; `peers = [...]` gives one ECMP group of all its tunnels.
pub(crate) fn static_group(topology: &Topology, r: &StaticRoute) -> Option<NextHopGroup> {
    let via = |hop: NextHop| match r.next_hop {
        Some(gw) => hop.via(gw),
        None => hop,
    };
    match &r.target {
        RouteTarget::Interface(name) => Some(via(topology.interface(name)?.hop()).into()),
        RouteTarget::Peer(name) => Some(via(topology.tunnel(name)?.hop()).into()),
        RouteTarget::Peers(names) => {
            let hops = names
                .iter()
                .map(|n| Some(via(topology.tunnel(n)?.hop())))
                .collect::<Option<Vec<_>>>()?;
            NextHopGroup::new(hops).ok()
        }
    }
}

/// The FIB routes into tunnels besides static routes: a host route to each
/// BGP neighbor that names a tunnel peer.
pub fn neighbor_routes(config: &Config, topology: &Topology) -> Vec<(IpNet, NextHopGroup)> {
    let Some(bgp) = &config.bgp else {
        return Vec::new();
    };
    bgp.neighbors
        .iter()
        .filter_map(|n| {
            let tunnel = topology.tunnel(n.peer.as_deref()?)?;
            Some((IpNet::from(n.address), NextHopGroup::single(tunnel.hop())))
        })
        .collect()
}

/// A host route into each tunnel peer with BFD, to its `bfd_address`: the
/// BFD packets always go through the tunnel they watch (this route stays
/// while the session is down, unlike the peer's static routes).
pub fn peer_bfd_routes(config: &Config, topology: &Topology) -> Vec<(IpNet, NextHopGroup)> {
    config
        .peers
        .iter()
        .filter_map(|p| {
            let b = p.bfd.as_ref()?;
            let tunnel = topology.tunnel(&p.name)?;
            Some((IpNet::from(b.address), NextHopGroup::single(tunnel.hop())))
        })
        .collect()
}

/// A host route into each tunnel to each of its peer's inner addresses
/// (`next_hops`, by default the host routes of `allowed_prefixes`): a BGP
/// next hop there, and any packet to it, goes into that tunnel.
pub fn peer_inner_routes(topology: &Topology) -> Vec<(IpNet, NextHopGroup)> {
    topology
        .peer_hops()
        .into_iter()
        .flat_map(|(t, h)| {
            h.inner
                .into_iter()
                .map(move |a| (IpNet::from(a), NextHopGroup::single(t.hop())))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use vcpe_forwarding::fib::Egress;

    const CONFIG: &str = r#"
[router]
id = "10.0.1.1"
asn = 65001
[[interface]]
name = "tuna"
addresses = ["10.0.1.1/24", "fd00:1::1/64"]
[[interface]]
name = "tunb"
addresses = ["10.0.2.1/24"]
[[route]]
name = "far"
prefix = "10.9.0.0/16"
interface = "tunb"
next_hop = "10.0.2.7"
[[route]]
name = "shadowed"
prefix = "10.0.1.0/24"
interface = "tunb"
"#;

    #[test]
    fn connected_prefixes_and_static_routes_become_fib_routes() {
        let config = vcpe_config::parse(CONFIG, Path::new("test.toml")).expect("valid config");
        let routes = initial_routes(&config, &Topology::new(&config));
        let egress = |p: &str| {
            let (g, src) = &routes[&p.parse::<IpNet>().unwrap()];
            (g.hops()[0].egress, g.hops()[0].gateway, *src)
        };
        assert_eq!(routes.len(), 4);
        assert_eq!(
            egress("10.0.1.0/24"),
            (Egress::Interface(0), None, RouteSource::Connected),
            "connected wins over a static route for the same prefix"
        );
        assert_eq!(
            egress("fd00:1::/64"),
            (Egress::Interface(0), None, RouteSource::Connected)
        );
        assert_eq!(
            egress("10.0.2.0/24"),
            (Egress::Interface(1), None, RouteSource::Connected)
        );
        assert_eq!(
            egress("10.9.0.0/16"),
            (
                Egress::Interface(1),
                Some("10.0.2.7".parse().unwrap()),
                RouteSource::Static
            )
        );
    }

    #[test]
    fn peers_become_one_ecmp_group() {
        let src = format!(
            "{CONFIG}{}",
            r#"
[[peer]]
name = "b1"
endpoint = "198.51.100.2"
encapsulation = "gre"
allowed_prefixes = ["10.2.0.0/16"]
[[peer]]
name = "b2"
endpoint = "198.51.100.3"
encapsulation = "gre"
allowed_prefixes = ["10.2.0.0/16"]
[[route]]
name = "both"
prefix = "10.2.0.0/16"
peers = ["b2", "b1"]
"#
        );
        let config = vcpe_config::parse(&src, Path::new("test.toml")).expect("valid config");
        let routes = initial_routes(&config, &Topology::new(&config));
        let (g, src) = &routes[&"10.2.0.0/16".parse::<IpNet>().unwrap()];
        assert_eq!(*src, RouteSource::Static);
        assert_eq!(
            g,
            &NextHopGroup::new([NextHop::tunnel(0), NextHop::tunnel(1)]).unwrap()
        );
    }
}
