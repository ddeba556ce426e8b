//! The one owner of the routes the workers forward by: the FIB writer and
//! every route source, in one place.
//!
//! ```text
//!  config: connected, static,   ──┐
//!          tunnel host routes     │   ┌─────────┐  FIB snapshots  ┌─────────┐
//!  control: route add/del, reload ├──▶│ Routing │ ───────────────▶│ workers │
//!  BGP thread ──FibBatch (bgp_feed)┤   └─────────┘                 └─────────┘
//!  BFD thread: tunnel down / up ───┘
//!                                          │ prefixes into a tunnel
//!                                          ▼
//!                                     kernel sync
//! ```
//!
//! [`Routing`] holds the FIB writer, loads the config's routes
//! (connected, then static, then host routes to BGP neighbors that run
//! over a tunnel, to tunnel peers' BFD addresses and to their inner
//! addresses: [`config_routes`]),
//! installs BGP's best routes with their next hops resolved
//! ([`bgp_routes`]), takes the static routes into a tunnel out of the FIB
//! while that tunnel's BFD session is down ([`Routing::set_tunnel_down`]),
//! and tells kernel route sync which prefixes go into a tunnel. The daemon keeps it behind one mutex;
//! the BGP thread hands it batches over a channel ([`bgp_feed`]), the
//! control API calls its mutators and reads it. The workers never take
//! that lock: they read the FIB's published snapshots.
//!
//! | file               | holds                                              |
//! |--------------------|----------------------------------------------------|
//! | `mod.rs`           | [`Routing`]: the FIB writer and its mutators        |
//! | `config_routes.rs` | the config's routes, static next hops              |
//! | `bgp_routes/`      | BGP's share: next-hop resolution, retries, batches |
//! | `bgp_feed.rs`      | the thread that applies the BGP task's batches     |

pub mod bgp_feed;
pub mod bgp_routes;
pub mod config_routes;

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use anyhow::Context;
use ipnet::IpNet;
use tracing::info;
use vcpe_config::{Config, StaticRoute};
use vcpe_forwarding::fib::{Egress, FibChange, FibWriter, NextHopGroup};

use crate::kernel_sync::{KernelRoutes, SyncStats};
use crate::topology::{Topology, TunnelId};
use bgp_routes::{BgpFib, BgpFibReport, FibBatch};
use config_routes::{initial_routes, static_group};

/// The FIB writer and every route source.
#[derive(Debug)]
pub struct Routing {
    fib: FibWriter,
    /// The config's interfaces and peers by name.
    topology: Arc<Topology>,
    /// The subnets of the interfaces' addresses (connected routes: a
    /// static route never replaces one).
    connected: HashSet<IpNet>,
    /// BGP's routes in the FIB.
    bgp: BgpFib,
    /// FIB routes added, replaced or removed since start (all sources).
    route_changes: u64,
    /// Kernel route sync, when on: told which prefixes go into a tunnel.
    kernel: Option<KernelRoutes>,
    /// Every static route (config and run time) that a connected route
    /// does not override, with where it goes: what goes back into the FIB
    /// when its tunnel is up again.
    statics: BTreeMap<IpNet, NextHopGroup>,
    /// Tunnels whose BFD session is down: their static routes are out of
    /// the FIB.
    down: HashSet<Egress>,
    /// The host routes to the tunnel peers' inner addresses, with their
    /// tunnel (kept apart so that a reload can change them).
    inner: BTreeMap<IpNet, TunnelId>,
}

/// The routing counters at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingStats {
    /// IPv4 routes in the FIB.
    pub fib_v4_routes: usize,
    /// IPv6 routes in the FIB.
    pub fib_v6_routes: usize,
    /// FIB route changes applied since start, from every source.
    pub route_changes: u64,
    /// Kernel route sync, when on.
    pub kernel_sync: Option<SyncStats>,
}

impl Routing {
    /// Loads the config's routes into `fib` (published before any worker
    /// reads it) and prepares BGP's share next to them.
    pub fn new(config: &Config, topology: Arc<Topology>, mut fib: FibWriter) -> Routing {
        let routes = initial_routes(config, &topology);
        let statics = config
            .routes
            .iter()
            .filter(|r| {
                routes
                    .get(&r.prefix)
                    .is_some_and(|(_, src)| *src == config_routes::RouteSource::Static)
            })
            .filter_map(|r| Some((r.prefix, static_group(&topology, r)?)))
            .collect();
        let bgp = BgpFib::new(routes.keys().copied())
            .with_tunnels(topology.neighbor_tunnels().to_vec(), topology.endpoints())
            .with_peer_hops(topology.peer_hops());
        let inner = inner_routes(&topology);
        let report = fib.apply(
            routes
                .into_iter()
                .map(|(prefix, (group, _))| FibChange::Upsert { prefix, group }),
        );
        info!(routes = fib.route_count(), ?report, "FIB loaded");
        Routing {
            fib,
            connected: config
                .interfaces
                .iter()
                .flat_map(|i| &i.addresses)
                .map(IpNet::trunc)
                .collect(),
            topology,
            bgp,
            route_changes: (report.upserted + report.removed) as u64,
            kernel: None,
            statics,
            down: HashSet::new(),
            inner,
        }
    }

    /// The BFD session of `tunnel` went down (`true`) or is Up again: its
    /// static routes leave the FIB (and the kernel) or come back; a route
    /// with several members (ECMP) only loses that member while another
    /// one is up. The prefixes stay the config's (BGP does not take them
    /// over), and the host route to the peer's BFD address stays, so that
    /// BFD can see the tunnel come back. Returns how many routes changed.
    pub fn set_tunnel_down(&mut self, tunnel: TunnelId, down: bool) -> usize {
        let egress = tunnel.hop().egress;
        let changed = if down {
            self.down.insert(egress)
        } else {
            self.down.remove(&egress)
        };
        if !changed {
            return 0;
        }
        let affected: Vec<(IpNet, Option<NextHopGroup>)> = self
            .statics
            .iter()
            .filter(|(_, g)| g.hops().iter().any(|h| h.egress == egress))
            .map(|(p, g)| (*p, self.live(g)))
            .collect();
        let report = self
            .fib
            .apply(affected.iter().map(|(prefix, live)| match live {
                Some(group) => FibChange::Upsert {
                    prefix: *prefix,
                    group: group.clone(),
                },
                None => FibChange::Remove { prefix: *prefix },
            }));
        self.route_changes += (report.upserted + report.removed) as u64;
        if let Some(k) = &self.kernel {
            k.update(affected.iter().map(|(p, live)| {
                let tunnel = live
                    .as_ref()
                    .is_some_and(|g| matches!(g.hops()[0].egress, Egress::Tunnel(_)));
                (*p, tunnel)
            }));
        }
        affected.len()
    }

    /// The members of `group` whose tunnel is not down (`None`: none).
    fn live(&self, group: &NextHopGroup) -> Option<NextHopGroup> {
        if self.down.is_empty() {
            return Some(group.clone());
        }
        NextHopGroup::new(
            group
                .hops()
                .iter()
                .filter(|h| !self.down.contains(&h.egress))
                .copied(),
        )
        .ok()
    }

    /// Tunnels whose BFD session is down now.
    pub fn tunnels_down(&self) -> usize {
        self.down.len()
    }

    /// Installs BGP best-route changes (see [`BgpFib`]: next hops are
    /// resolved through the FIB, config prefixes win).
    pub fn apply_bgp(&mut self, changes: FibBatch) -> BgpFibReport {
        let r = self.bgp.apply(&mut self.fib, changes);
        self.route_changes += r.changed as u64;
        if let Some(k) = &self.kernel {
            k.update(self.bgp.take_tunnel_changes());
        }
        r
    }

    /// Tells kernel route sync, from now on, which prefixes the FIB sends
    /// into a tunnel (BGP's and static routes changed at run time).
    pub fn sync_kernel(&mut self, routes: KernelRoutes) {
        self.bgp.record_tunnel_changes();
        self.kernel = Some(routes);
    }

    /// Installs a static route added at run time (`vcpectl route add`).
    pub fn add_static(&mut self, r: &StaticRoute) -> anyhow::Result<()> {
        let group = static_group(&self.topology, r)
            .context("the route's interface or peer is not configured")?;
        if self.connected.contains(&r.prefix) {
            // Connected wins, as at start-up ([`initial_routes`]).
            return Ok(());
        }
        self.bgp.add_config_prefix(r.prefix);
        self.statics.insert(r.prefix, group.clone());
        let Some(live) = self.live(&group) else {
            // Every member goes into a tunnel whose BFD session is down:
            // installed when one is Up again.
            self.fib.remove(r.prefix);
            if let Some(k) = &self.kernel {
                k.set(r.prefix, false);
            }
            return Ok(());
        };
        let tunnel = matches!(live.hops()[0].egress, Egress::Tunnel(_));
        let report = self.fib.insert(r.prefix, live);
        self.route_changes += report.upserted as u64;
        if let Some(k) = &self.kernel {
            k.set(r.prefix, tunnel);
        }
        Ok(())
    }

    /// A BGP neighbor over tunnel `tunnel` added by a reload: the host
    /// route to its address into that tunnel (as at start-up,
    /// [`config_routes::neighbor_routes`]).
    pub fn add_neighbor_route(&mut self, addr: IpAddr, tunnel: TunnelId) {
        let prefix = IpNet::from(addr);
        if self.connected.contains(&prefix) {
            return;
        }
        self.bgp.add_config_prefix(prefix);
        let report = self.fib.insert(prefix, NextHopGroup::single(tunnel.hop()));
        self.route_changes += report.upserted as u64;
        if let Some(k) = &self.kernel {
            k.set(prefix, true);
        }
    }

    /// A BGP neighbor over a tunnel removed by a reload: its host route
    /// goes (unless a static route owns that prefix).
    pub fn remove_neighbor_route(&mut self, addr: IpAddr) {
        let prefix = IpNet::from(addr);
        // A peer's inner address keeps its host route
        // ([`Routing::set_tunnel_hops`] removes it with the peer).
        if self.connected.contains(&prefix)
            || self.statics.contains_key(&prefix)
            || self.inner.contains_key(&prefix)
        {
            return;
        }
        self.bgp.remove_config_prefix(prefix);
        if self.fib.remove(prefix) {
            self.route_changes += 1;
        }
        if let Some(k) = &self.kernel {
            k.set(prefix, false);
        }
    }

    /// An interface added by a reload: its connected routes (as at start;
    /// a connected route wins over a static one for the same prefix).
    pub fn add_interface(
        &mut self,
        id: crate::topology::InterfaceId,
        iface: &vcpe_config::Interface,
    ) {
        let routes = config_routes::connected_routes(id, iface);
        for (prefix, _) in &routes {
            self.connected.insert(*prefix);
            self.bgp.add_config_prefix(*prefix);
            if let Some(k) = &self.kernel {
                k.set(*prefix, false);
            }
        }
        let report = self.fib.apply(
            routes
                .into_iter()
                .map(|(prefix, group)| FibChange::Upsert { prefix, group }),
        );
        self.route_changes += (report.upserted + report.removed) as u64;
    }

    /// An interface removed by a reload: its connected routes leave the
    /// FIB first (before its TUN goes). A static route for one of its
    /// prefixes was removed by the same reload (validation: a route names
    /// an existing interface).
    pub fn remove_interface(&mut self, iface: &vcpe_config::Interface) {
        for a in &iface.addresses {
            let prefix = a.trunc();
            if self.connected.remove(&prefix) {
                self.bgp.remove_config_prefix(prefix);
                if self.fib.remove(prefix) {
                    self.route_changes += 1;
                }
            }
        }
    }

    /// An interface's addresses changed by a reload: the connected routes
    /// of addresses gone leave the FIB, those of new ones come (the ones
    /// that stay are not touched).
    pub fn change_interface(
        &mut self,
        id: crate::topology::InterfaceId,
        old: &vcpe_config::Interface,
        new: &vcpe_config::Interface,
    ) {
        let keep: HashSet<IpNet> = new.addresses.iter().map(IpNet::trunc).collect();
        let gone = vcpe_config::Interface {
            addresses: old
                .addresses
                .iter()
                .filter(|a| !keep.contains(&a.trunc()))
                .copied()
                .collect(),
            ..old.clone()
        };
        self.remove_interface(&gone);
        self.add_interface(id, new);
    }

    /// The tunnels by their peers' fixed underlay addresses changed (a
    /// reload): BGP next hops at those addresses map to them from now on.
    pub fn set_tunnel_endpoints(&mut self, endpoints: Vec<(IpAddr, TunnelId)>) {
        self.bgp.set_endpoints(endpoints);
    }

    /// The running tunnel peers or their inner addresses changed (a
    /// reload; `config` is the new file): BGP next hops map to tunnels by
    /// the topology's inner addresses from now on, waiting routes whose
    /// next hop names a tunnel now are installed, and the host routes to
    /// the inner addresses follow (one that is also a neighbor's or a BFD
    /// address of `config` stays; a static or connected route keeps its
    /// prefix). Returns how many FIB routes changed.
    pub fn set_tunnel_hops(&mut self, config: &Config) -> usize {
        let want = inner_routes(&self.topology);
        let keep: HashSet<IpNet> = config_routes::neighbor_routes(config, &self.topology)
            .into_iter()
            .chain(config_routes::peer_bfd_routes(config, &self.topology))
            .map(|(p, _)| p)
            .collect();
        let mut changed = 0;
        let gone: Vec<IpNet> = self
            .inner
            .keys()
            .filter(|p| !want.contains_key(p))
            .copied()
            .collect();
        for prefix in gone {
            self.inner.remove(&prefix);
            if keep.contains(&prefix)
                || self.connected.contains(&prefix)
                || self.statics.contains_key(&prefix)
            {
                continue;
            }
            self.bgp.remove_config_prefix(prefix);
            changed += usize::from(self.fib.remove(prefix));
        }
        for (prefix, tunnel) in want {
            if self.inner.get(&prefix) == Some(&tunnel)
                || self.connected.contains(&prefix)
                || self.statics.contains_key(&prefix)
            {
                continue;
            }
            self.bgp.add_config_prefix(prefix);
            changed += self
                .fib
                .insert(prefix, NextHopGroup::single(tunnel.hop()))
                .upserted;
            self.inner.insert(prefix, tunnel);
        }
        changed += self
            .bgp
            .set_peer_hops(&mut self.fib, self.topology.peer_hops());
        if let Some(k) = &self.kernel {
            k.update(self.bgp.take_tunnel_changes());
        }
        self.route_changes += changed as u64;
        info!(
            routes_changed = changed,
            "tunnel peers' inner addresses (BGP next hops) updated by reload"
        );
        changed
    }

    /// Tunnel `tunnel` was removed by a reload: it is no longer down
    /// either (its id may serve another peer much later).
    pub fn forget_tunnel(&mut self, tunnel: TunnelId) {
        self.down.remove(&tunnel.hop().egress);
    }

    /// Removes a static route (`vcpectl route del`); the connected route
    /// of an interface subnet stays.
    pub fn remove_static(&mut self, prefix: IpNet) {
        if self.connected.contains(&prefix) {
            return;
        }
        self.statics.remove(&prefix);
        self.bgp.remove_config_prefix(prefix);
        if self.fib.remove(prefix) {
            self.route_changes += 1;
        }
        if let Some(k) = &self.kernel {
            k.set(prefix, false);
        }
    }

    /// The counters now (`vcpectl stats`).
    pub fn stats(&self) -> RoutingStats {
        let fib = self.fib.reader().stats();
        RoutingStats {
            fib_v4_routes: fib.v4_routes,
            fib_v6_routes: fib.v6_routes,
            route_changes: self.route_changes,
            kernel_sync: self.kernel.as_ref().map(KernelRoutes::stats),
        }
    }
}

/// The host routes to the tunnel peers' inner addresses by the topology.
fn inner_routes(topology: &Topology) -> BTreeMap<IpNet, TunnelId> {
    topology
        .peer_hops()
        .into_iter()
        .flat_map(|(t, h)| h.inner.into_iter().map(move |a| (IpNet::from(a), t)))
        .collect()
}

/// Read-only views for `vcpectl` (`explain`, `show route`, `route show`).
impl Routing {
    /// The next hops the workers' current FIB snapshot gives `addr`.
    pub fn lookup(&self, addr: IpAddr) -> Option<NextHopGroup> {
        self.fib.reader().snapshot().lookup(addr).cloned()
    }

    /// Every FIB entry whose prefix covers `addr`, longest first.
    pub fn covering(&self, addr: IpAddr) -> Vec<(IpNet, NextHopGroup)> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (0..=max)
            .rev()
            .filter_map(|len| {
                let p = IpNet::new(addr, len).ok()?.trunc();
                Some((p, self.fib.exact(p)?.clone()))
            })
            .collect()
    }

    /// The FIB's entry for exactly `prefix`.
    pub fn exact(&self, prefix: IpNet) -> Option<NextHopGroup> {
        self.fib.exact(prefix).cloned()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const CONFIG: &str = r#"
[router]
id = "10.0.1.1"
asn = 65001
[[interface]]
name = "tuna"
addresses = ["10.255.0.1/24"]
[[route]]
name = "to-vpc02"
prefix = "10.2.0.0/16"
peer = "vpc02"
[[route]]
name = "local"
prefix = "10.9.0.0/16"
interface = "tuna"
[[peer]]
name = "vpc02"
endpoint = "198.51.100.2"
encapsulation = "gre"
allowed_prefixes = ["10.255.0.2/32", "10.2.0.0/16", "10.3.0.0/16"]
bfd = true
bfd_address = "10.255.0.2"
"#;

    fn routing() -> Routing {
        let config = vcpe_config::parse(CONFIG, Path::new("test.toml")).expect("valid config");
        let topology = Arc::new(Topology::new(&config));
        let (fib, _reader) = vcpe_forwarding::fib::Fib::new();
        Routing::new(&config, topology, fib)
    }

    fn prefix_of(r: &Routing, addr: &str) -> Option<IpNet> {
        r.covering(addr.parse().unwrap()).first().map(|(p, _)| *p)
    }

    #[test]
    fn a_tunnel_s_static_routes_leave_the_fib_while_its_bfd_is_down() {
        let mut r = routing();
        let tunnel =
            Topology::new(&vcpe_config::parse(CONFIG, Path::new("test.toml")).expect("valid"))
                .tunnel("vpc02")
                .expect("tunnel");
        assert_eq!(
            prefix_of(&r, "10.2.0.1"),
            Some("10.2.0.0/16".parse().unwrap())
        );
        // The BFD address has its host route into the tunnel.
        assert_eq!(
            prefix_of(&r, "10.255.0.2"),
            Some("10.255.0.2/32".parse().unwrap())
        );
        assert_eq!(r.set_tunnel_down(tunnel, true), 1);
        assert_eq!(prefix_of(&r, "10.2.0.1"), None, "withdrawn");
        assert_eq!(
            prefix_of(&r, "10.255.0.2"),
            Some("10.255.0.2/32".parse().unwrap()),
            "BFD's own route stays"
        );
        assert_eq!(
            prefix_of(&r, "10.9.0.1"),
            Some("10.9.0.0/16".parse().unwrap())
        );
        assert_eq!(r.set_tunnel_down(tunnel, true), 0, "already down");
        // A route added into the tunnel while it is down waits for it.
        let added = vcpe_config::StaticRoute {
            name: "more".into(),
            prefix: "10.3.0.0/16".parse().unwrap(),
            target: vcpe_config::RouteTarget::Peer("vpc02".into()),
            next_hop: None,
            advertise: false,
            attrs: Default::default(),
        };
        r.add_static(&added).expect("added");
        assert_eq!(prefix_of(&r, "10.3.0.1"), None);
        assert_eq!(r.tunnels_down(), 1);
        assert_eq!(r.set_tunnel_down(tunnel, false), 2);
        assert_eq!(
            prefix_of(&r, "10.2.0.1"),
            Some("10.2.0.0/16".parse().unwrap())
        );
        assert_eq!(
            prefix_of(&r, "10.3.0.1"),
            Some("10.3.0.0/16".parse().unwrap())
        );
        // A removed route does not come back with its tunnel.
        r.set_tunnel_down(tunnel, true);
        r.remove_static("10.3.0.0/16".parse().unwrap());
        r.set_tunnel_down(tunnel, false);
        assert_eq!(prefix_of(&r, "10.3.0.1"), None);
        assert_eq!(r.tunnels_down(), 0);
    }
}

#[cfg(test)]
mod inner_tests {
    use std::path::Path;

    use super::*;

    fn config(extra: &str) -> Config {
        let text = format!(
            r#"
[router]
id = "10.0.1.1"
asn = 65001
[[interface]]
name = "tuna"
addresses = ["10.255.0.1/24", "fd00:255::1/64"]
[[peer]]
name = "vpc02"
endpoint = "198.51.100.2"
encapsulation = "gre"
allowed_prefixes = ["10.255.0.2/32", "fd00:255::2/128", "10.2.0.0/16"]
{extra}
"#
        );
        vcpe_config::parse(&text, Path::new("t.toml")).expect("valid config")
    }

    fn tunnel_of(r: &Routing, prefix: &str) -> Option<Egress> {
        r.exact(prefix.parse().unwrap()).map(|g| g.hops()[0].egress)
    }

    #[test]
    fn a_peer_s_inner_addresses_have_host_routes_into_its_tunnel_that_a_reload_changes() {
        let start = config("");
        let topology = Arc::new(Topology::new(&start));
        let (fib, _reader) = vcpe_forwarding::fib::Fib::new();
        let mut r = Routing::new(&start, Arc::clone(&topology), fib);
        let t = topology.tunnel("vpc02").expect("tunnel").hop().egress;
        // Inside the connected TUN subnets, yet into the tunnel.
        assert_eq!(tunnel_of(&r, "10.255.0.2/32"), Some(t));
        assert_eq!(tunnel_of(&r, "fd00:255::2/128"), Some(t));
        // A reload names the inner addresses explicitly; BFD keeps its own.
        let new = config("next_hops = [\"10.254.0.2\"]\nbfd = true\nbfd_address = \"10.255.0.2\"");
        topology.set_peer_hops(&new.peers);
        assert_eq!(r.set_tunnel_hops(&new), 2, "one route added, one removed");
        assert_eq!(tunnel_of(&r, "10.254.0.2/32"), Some(t));
        assert_eq!(tunnel_of(&r, "10.255.0.2/32"), Some(t), "the BFD address's");
        assert_eq!(tunnel_of(&r, "fd00:255::2/128"), None);
        // Removing the neighbor-like route of a BFD address that is also
        // an inner address leaves the inner one.
        r.remove_neighbor_route("10.254.0.2".parse().unwrap());
        assert_eq!(tunnel_of(&r, "10.254.0.2/32"), Some(t));
        // The peer goes: so do its routes.
        topology.remove_tunnel("vpc02");
        r.set_tunnel_hops(&config("next_hops = []"));
        assert_eq!(tunnel_of(&r, "10.254.0.2/32"), None);
    }

    #[test]
    fn a_route_via_the_inner_address_of_a_peer_added_by_reload_moves_into_its_tunnel() {
        let start = config("");
        let topology = Arc::new(Topology::new(&start));
        let (fib, _reader) = vcpe_forwarding::fib::Fib::new();
        let mut r = Routing::new(&start, Arc::clone(&topology), fib);
        let learned = bgp_routes::FibUpdate {
            prefix: "10.3.1.0/24".parse().unwrap(),
            next_hop: Some("10.255.0.3".parse().unwrap()),
            from: Some(vcpe_bgp::rib::PeerId(0)),
        };
        r.apply_bgp(vec![learned].into());
        assert_eq!(
            tunnel_of(&r, "10.3.1.0/24"),
            Some(Egress::Interface(0)),
            "by the TUN subnet"
        );
        let new = config(
            "[[peer]]\nname = \"vpc03\"\nendpoint = \"198.51.100.3\"\nencapsulation = \"gre\"\n\
             allowed_prefixes = [\"10.255.0.3/32\"]",
        );
        let (t3, _) = topology.add_tunnel("vpc03", None).expect("id");
        topology.set_peer_hops(&new.peers);
        r.set_tunnel_hops(&new);
        assert_eq!(tunnel_of(&r, "10.3.1.0/24"), Some(t3.hop().egress));
    }
}

#[cfg(test)]
mod ecmp_tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn an_ecmp_static_route_loses_only_the_member_whose_bfd_is_down() {
        let text = r#"
[router]
id = "10.0.1.1"
asn = 65001
[[interface]]
name = "tuna"
addresses = ["10.255.0.1/24"]
[[route]]
name = "both"
prefix = "10.2.0.0/16"
peers = ["vpc02", "vpc03"]
[[peer]]
name = "vpc02"
endpoint = "198.51.100.2"
encapsulation = "gre"
allowed_prefixes = ["10.255.0.2/32", "10.2.0.0/16"]
bfd = true
bfd_address = "10.255.0.2"
[[peer]]
name = "vpc03"
endpoint = "198.51.100.3"
encapsulation = "gre"
allowed_prefixes = ["10.255.0.3/32", "10.2.0.0/16"]
bfd = true
bfd_address = "10.255.0.3"
"#;
        let config = vcpe_config::parse(text, Path::new("t.toml")).expect("valid config");
        let topology = Arc::new(Topology::new(&config));
        let (fib, _reader) = vcpe_forwarding::fib::Fib::new();
        let mut r = Routing::new(&config, Arc::clone(&topology), fib);
        let p: IpNet = "10.2.0.0/16".parse().unwrap();
        let (t2, t3) = (
            topology.tunnel("vpc02").expect("vpc02"),
            topology.tunnel("vpc03").expect("vpc03"),
        );
        assert_eq!(r.exact(p).map(|g| g.len()), Some(2));
        assert_eq!(r.set_tunnel_down(t2, true), 1);
        let g = r.exact(p).expect("still routed");
        assert_eq!(g.hops(), [t3.hop()], "only vpc03 is left");
        r.set_tunnel_down(t3, true);
        assert!(r.exact(p).is_none(), "no member left");
        r.set_tunnel_down(t2, false);
        assert_eq!(r.exact(p).map(|g| g.hops().to_vec()), Some(vec![t2.hop()]));
        r.set_tunnel_down(t3, false);
        assert_eq!(r.exact(p).map(|g| g.len()), Some(2));
    }
}
