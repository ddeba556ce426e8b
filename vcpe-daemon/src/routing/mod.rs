//! The one owner of the routes the workers forward by: the FIB writer and
//! every route source, in one place.
//!
//! ```text
//!  config: connected, static,   ──┐
//!          tunnel host routes     │   ┌─────────┐  FIB snapshots  ┌─────────┐
//!  control: route add/del, reload ├──▶│ Routing │ ───────────────▶│ workers │
//!  BGP thread ──FibBatch (bgp_feed)┘   └─────────┘                 └─────────┘
//!                                          │ prefixes into a tunnel
//!                                          ▼
//!                                     kernel sync
//! ```
//!
//! [`Routing`] holds the FIB writer, loads the config's routes
//! (connected, then static, then host routes to BGP neighbors that run
//! over a tunnel: [`config_routes`]), installs BGP's best routes with
//! their next hops resolved ([`bgp_routes`]), and tells kernel route sync
//! which prefixes go into a tunnel. The daemon keeps it behind one mutex;
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

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;

use anyhow::Context;
use ipnet::IpNet;
use tracing::info;
use vcpe_config::{Config, StaticRoute};
use vcpe_forwarding::fib::{Egress, FibChange, FibWriter, NextHopGroup};

use crate::kernel_sync::{KernelRoutes, SyncStats};
use crate::topology::Topology;
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
        let bgp = BgpFib::new(routes.keys().copied()).with_tunnels(
            topology.neighbor_tunnels().to_vec(),
            topology.endpoints().iter().copied(),
        );
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
        }
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
        let tunnel = matches!(group.hops()[0].egress, Egress::Tunnel(_));
        let report = self.fib.insert(r.prefix, group);
        self.route_changes += report.upserted as u64;
        if let Some(k) = &self.kernel {
            k.set(r.prefix, tunnel);
        }
        Ok(())
    }

    /// Removes a static route (`vcpectl route del`); the connected route
    /// of an interface subnet stays.
    pub fn remove_static(&mut self, prefix: IpNet) {
        if self.connected.contains(&prefix) {
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
