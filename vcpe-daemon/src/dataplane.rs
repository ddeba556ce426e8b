//! Wires the forwarding plane from the config: creates the TUN devices,
//! computes the FIB's initial routes (connected prefixes of the interfaces,
//! then static routes) and starts the worker threads.
//!
//! The FIB writer stays here, with the daemon: BGP and tunnel routes arrive
//! through it later (one route-update path for every source).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use anyhow::Context;
use ipnet::IpNet;
use tracing::info;
use vcpe_config::{Config, RouteTarget};
use vcpe_forwarding::counters::{Port, PortStats};
use vcpe_forwarding::dataplane::{Dataplane, DataplaneSpec, PortSpec};
use vcpe_forwarding::fib::{Fib, FibChange, FibWriter, NextHop, NextHopGroup};

use crate::routing::bgp_routes::{BgpFib, BgpFibReport, FibBatch};
use vcpe_forwarding::pipeline::{EgressMtus, ForwardConfig, Ingress};
use vcpe_forwarding::tun::{Tun, TunConfig, configure_link};

/// The running forwarding plane.
pub struct Forwarding {
    dataplane: Dataplane,
    fib: FibWriter,
    interfaces: Vec<String>,
    /// Tunnel peers, by tunnel id (their counters, for `vcpectl`).
    tunnels: Vec<std::sync::Arc<vcpe_forwarding::tunnel::peer::TunnelPeer>>,
    /// BGP's routes in the FIB.
    bgp: BgpFib,
    /// FIB routes added, replaced or removed since start (all sources).
    route_changes: u64,
    /// Kernel route sync, when on: told which prefixes go into a tunnel.
    kernel: Option<crate::kernel_sync::KernelRoutes>,
}

impl std::fmt::Debug for Forwarding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarding")
            .field("interfaces", &self.interfaces)
            .field("workers", &self.dataplane.workers())
            .finish_non_exhaustive()
    }
}

/// Number of worker threads for a `[forwarding] workers` value (0 = one
/// per core).
pub fn worker_count(configured: u16) -> usize {
    match configured {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => usize::from(n),
    }
}

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
pub fn initial_routes(config: &Config) -> BTreeMap<IpNet, (NextHopGroup, RouteSource)> {
    let mut routes = BTreeMap::new();
    for r in &config.routes {
        // Validation guarantees the target exists; skip defensively if not.
        let Some(hop) = static_hop(config, r) else {
            continue;
        };
        routes.insert(r.prefix, (NextHopGroup::single(hop), RouteSource::Static));
    }
    // A BGP neighbor that names a tunnel peer is reached through it.
    for (prefix, group) in crate::tunnels::neighbor_routes(config) {
        routes.entry(prefix).or_insert((group, RouteSource::Static));
    }
    for (i, iface) in config.interfaces.iter().enumerate() {
        for addr in &iface.addresses {
            routes.insert(
                addr.trunc(),
                (
                    NextHopGroup::single(NextHop::interface(i as u32)),
                    RouteSource::Connected,
                ),
            );
        }
    }
    routes
}

/// Whether `prefix` is the subnet of an interface address (connected).
fn is_connected(config: &Config, prefix: IpNet) -> bool {
    config
        .interfaces
        .iter()
        .flat_map(|i| &i.addresses)
        .any(|a| a.trunc() == prefix)
}

/// Where a static route goes: its interface or tunnel (by the config's
/// order, which is the dataplane's id), via its gateway if it has one.
pub(crate) fn static_hop(config: &Config, r: &vcpe_config::StaticRoute) -> Option<NextHop> {
    let hop = match &r.target {
        RouteTarget::Interface(name) => config
            .interfaces
            .iter()
            .position(|i| &i.name == name)
            .map(|i| NextHop::interface(i as u32)),
        RouteTarget::Peer(name) => config
            .peers
            .iter()
            .position(|p| &p.name == name)
            .map(|i| NextHop::tunnel(i as u32)),
    }?;
    Some(match r.next_hop {
        Some(gw) => hop.via(gw),
        None => hop,
    })
}

/// What the forwarding plane counted, read at one instant (summed over the
/// workers). The control API turns it into its `stats` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Number of worker threads.
    pub workers: usize,
    /// IPv4 routes in the FIB.
    pub fib_v4_routes: usize,
    /// IPv6 routes in the FIB.
    pub fib_v6_routes: usize,
    /// Per TUN interface, in config order.
    pub interfaces: Vec<InterfaceSnapshot>,
    /// Per tunnel peer, in config order.
    pub tunnels: Vec<TunnelSnapshot>,
    /// Dropped packets by reason.
    pub drops: Vec<(&'static str, u64)>,
    /// Other dataplane events.
    pub events: Vec<(&'static str, u64)>,
    /// FIB route changes applied since start, from every source.
    pub fib_route_changes: u64,
    /// Kernel route sync, when on.
    pub kernel_sync: Option<crate::kernel_sync::SyncStats>,
}

/// The counters of one TUN interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceSnapshot {
    /// Interface name.
    pub name: String,
    /// Its packets and bytes.
    pub counters: PortStats,
}

/// The counters of one tunnel peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelSnapshot {
    /// Peer name.
    pub name: String,
    /// "wireguard" or "gre".
    pub encapsulation: &'static str,
    /// Underlay endpoint.
    pub endpoint: String,
    /// Inner packets sent into the tunnel.
    pub tx_packets: u64,
    /// Inner bytes sent.
    pub tx_bytes: u64,
    /// Inner packets received and accepted.
    pub rx_packets: u64,
    /// Inner bytes received and accepted.
    pub rx_bytes: u64,
    /// Received packets dropped: inner source not allowed for this peer.
    pub rx_spoofed: u64,
    /// Received datagrams that did not decapsulate.
    pub rx_errors: u64,
    /// Failed sends.
    pub tx_errors: u64,
    /// Time since the last accepted packet (`None`: never).
    pub last_rx: Option<Duration>,
}

/// A tunnel peer's counters now.
fn tunnel_snapshot(t: &vcpe_forwarding::tunnel::peer::TunnelPeer) -> TunnelSnapshot {
    use std::sync::atomic::Ordering::Relaxed;
    use vcpe_forwarding::tunnel::peer::Encap;
    let s = &t.stats;
    let (encapsulation, endpoint) = match &t.encap {
        Encap::Gre { remote, .. } => ("gre", remote.to_string()),
        Encap::WireGuard { remote, .. } => ("wireguard", remote.to_string()),
    };
    let last = s.last_rx_ms.load(Relaxed);
    let now = u64::try_from(t.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
    TunnelSnapshot {
        name: t.name.clone(),
        encapsulation,
        endpoint,
        tx_packets: s.tx_packets.load(Relaxed),
        tx_bytes: s.tx_bytes.load(Relaxed),
        rx_packets: s.rx_packets.load(Relaxed),
        rx_bytes: s.rx_bytes.load(Relaxed),
        rx_spoofed: s.rx_spoofed.load(Relaxed),
        rx_errors: s.rx_errors.load(Relaxed),
        tx_errors: s.tx_errors.load(Relaxed),
        last_rx: (last > 0).then(|| Duration::from_millis(now.saturating_sub(last))),
    }
}

/// Lets the kernel accept packets from the TUN whose source is one of its
/// own addresses: vcped sends its ICMP errors (Time Exceeded, Frag Needed
/// for a tunnel's MTU, ...) from the TUN's address, which is also the
/// kernel's, and without `accept_local` the kernel drops them as martians
/// and `ping`/`tracepath` on the hosts never see them.
fn accept_local(tun: &str) {
    let path = format!("/proc/sys/net/ipv4/conf/{tun}/accept_local");
    if let Err(e) = std::fs::write(&path, "1") {
        tracing::warn!(interface = tun, error = %e,
            "cannot set accept_local; ICMP errors from vcped will not reach local hosts (set sysctl net.ipv4.conf.{tun}.accept_local=1)");
    }
}

/// The router's own addresses on an interface, used as ICMP error sources:
/// the first IPv4 address and the first global (non link-local) IPv6 one.
fn own_addresses(addrs: &[IpNet]) -> (Option<Ipv4Addr>, Option<Ipv6Addr>) {
    let v4 = addrs.iter().find_map(|a| match a.addr() {
        IpAddr::V4(v) => Some(v),
        IpAddr::V6(_) => None,
    });
    let v6 = addrs.iter().find_map(|a| match a.addr() {
        IpAddr::V6(v) if !v.is_unicast_link_local() => Some(v),
        _ => None,
    });
    (v4, v6)
}

impl Forwarding {
    /// Creates the TUN devices of `config`, installs the initial routes and
    /// starts the workers.
    pub async fn start(config: &Config) -> anyhow::Result<Forwarding> {
        let workers = worker_count(config.forwarding.workers);
        let mut ports = Vec::with_capacity(config.interfaces.len());
        let mut mtus = EgressMtus::default();
        for (i, iface) in config.interfaces.iter().enumerate() {
            let tun = Tun::create(&TunConfig {
                name: iface.name.clone(),
                queues: workers,
                offload: true,
            })
            .with_context(|| format!("creating TUN interface {}", iface.name))?;
            configure_link(tun.ifindex(), iface.mtu, &iface.addresses)
                .await
                .with_context(|| format!("configuring interface {}", iface.name))?;
            accept_local(&iface.name);
            let (v4, v6) = own_addresses(&iface.addresses);
            info!(
                interface = %iface.name,
                ifindex = tun.ifindex(),
                mtu = iface.mtu,
                queues = workers,
                offloads = ?tun.offloads(),
                "TUN interface up"
            );
            mtus.interfaces.push(iface.mtu);
            let offload = tun.offloads().csum;
            ports.push(PortSpec {
                ingress: Ingress {
                    port: Port::Interface(i as u32),
                    v4,
                    v6,
                },
                queues: tun.into_queues(),
                offload,
            });
        }
        // ICMP errors sent back into a tunnel come from the router's first
        // inner addresses.
        let own = config
            .interfaces
            .iter()
            .map(|i| own_addresses(&i.addresses))
            .fold((None, None), |acc, (v4, v6)| (acc.0.or(v4), acc.1.or(v6)));
        let tunnels = crate::tunnels::build(config, own)?;
        mtus.tunnels = tunnels.mtus.clone();
        for (p, mtu) in tunnels.peers.iter().zip(&tunnels.mtus) {
            info!(peer = %p.name, mtu, allowed = ?p.allowed, "tunnel peer configured");
        }
        let (mut fib, reader) = Fib::new();
        let routes = initial_routes(config);
        let bgp = BgpFib::new(routes.keys().copied()).with_tunnels(
            config
                .bgp
                .iter()
                .flat_map(|b| &b.neighbors)
                .map(|n| {
                    let name = n.peer.as_deref()?;
                    config
                        .peers
                        .iter()
                        .position(|p| p.name == name)
                        .map(|i| i as u32)
                })
                .collect(),
            config
                .peers
                .iter()
                .enumerate()
                .map(|(i, p)| (p.endpoint.ip(), i as u32)),
        );
        let report = fib.apply(
            routes
                .into_iter()
                .map(|(prefix, (group, _))| FibChange::Upsert { prefix, group }),
        );
        info!(routes = fib.route_count(), ?report, "FIB loaded");
        let route_changes = (report.upserted + report.removed) as u64;
        let dataplane = Dataplane::start(
            DataplaneSpec {
                ports,
                mtus,
                config: ForwardConfig {
                    mss_clamp: config.forwarding.mss_clamp,
                },
                icmp_rate_per_sec: config.forwarding.icmp_rate_limit,
                workers,
                pin: true,
                tunnels: tunnels.peers.clone(),
                tunnel_sockets: tunnels.sockets,
            },
            reader,
        )?;
        info!(workers, "dataplane started");
        Ok(Forwarding {
            dataplane,
            fib,
            interfaces: config.interfaces.iter().map(|i| i.name.clone()).collect(),
            tunnels: tunnels.peers,
            bgp,
            route_changes,
            kernel: None,
        })
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
    pub fn sync_kernel(&mut self, routes: crate::kernel_sync::KernelRoutes) {
        self.bgp.record_tunnel_changes();
        self.kernel = Some(routes);
    }

    /// Installs a static route added at run time (`vcpectl route add`).
    pub fn add_static(
        &mut self,
        config: &Config,
        r: &vcpe_config::StaticRoute,
    ) -> anyhow::Result<()> {
        let hop =
            static_hop(config, r).context("the route's interface or peer is not configured")?;
        if is_connected(config, r.prefix) {
            // Connected wins, as at start-up ([`initial_routes`]).
            return Ok(());
        }
        self.bgp.add_config_prefix(r.prefix);
        let report = self.fib.insert(r.prefix, NextHopGroup::single(hop));
        self.route_changes += report.upserted as u64;
        if let Some(k) = &self.kernel {
            let tunnel = matches!(hop.egress, vcpe_forwarding::fib::Egress::Tunnel(_));
            k.set(r.prefix, tunnel);
        }
        Ok(())
    }

    /// Removes a static route (`vcpectl route del`); the connected route
    /// of an interface subnet stays.
    pub fn remove_static(&mut self, config: &Config, prefix: IpNet) {
        if is_connected(config, prefix) {
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

    /// The counters now (`vcpectl stats`).
    pub fn stats(&self) -> StatsSnapshot {
        let snap = self.dataplane.counters().snapshot();
        let fib = self.fib.reader().stats();
        StatsSnapshot {
            workers: self.dataplane.workers(),
            fib_v4_routes: fib.v4_routes,
            fib_v6_routes: fib.v6_routes,
            interfaces: self
                .interfaces
                .iter()
                .enumerate()
                .map(|(i, name)| InterfaceSnapshot {
                    name: name.clone(),
                    counters: snap.port(Port::Interface(i as u32)),
                })
                .collect(),
            tunnels: self.tunnels.iter().map(|t| tunnel_snapshot(t)).collect(),
            drops: snap.named_drops().collect(),
            events: snap.named_events().collect(),
            fib_route_changes: self.route_changes,
            kernel_sync: self.kernel.as_ref().map(|k| k.stats()),
        }
    }

    /// Stops the workers. The TUN devices disappear with their last fd.
    pub fn stop(self) {
        self.dataplane.stop();
    }
}

/// Read-only views for `vcpectl` (`explain`, `show route`, `tunnel list`).
impl Forwarding {
    /// The next hops the workers' current FIB snapshot gives `addr`.
    pub fn fib_lookup(&self, addr: IpAddr) -> Option<NextHopGroup> {
        self.fib.reader().snapshot().lookup(addr).cloned()
    }

    /// Every FIB entry whose prefix covers `addr`, longest first.
    pub fn fib_covering(&self, addr: IpAddr) -> Vec<(IpNet, NextHopGroup)> {
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
    pub fn fib_exact(&self, prefix: IpNet) -> Option<NextHopGroup> {
        self.fib.exact(prefix).cloned()
    }

    /// The tunnel peers, by tunnel id (config order).
    pub fn tunnel_peers(&self) -> &[std::sync::Arc<vcpe_forwarding::tunnel::peer::TunnelPeer>] {
        &self.tunnels
    }
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
        let routes = initial_routes(&config);
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
    fn icmp_sources_skip_link_local() {
        let addrs: Vec<IpNet> = vec![
            "fe80::1/64".parse().unwrap(),
            "fd00::1/64".parse().unwrap(),
            "10.0.0.1/24".parse().unwrap(),
        ];
        assert_eq!(
            own_addresses(&addrs),
            (
                Some("10.0.0.1".parse().unwrap()),
                Some("fd00::1".parse().unwrap())
            )
        );
    }

    #[test]
    fn zero_workers_means_one_per_core() {
        assert!(worker_count(0) >= 1);
        assert_eq!(worker_count(3), 3);
    }
}
