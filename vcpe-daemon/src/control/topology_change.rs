//! The part of a reload that changes the topology: interfaces added,
//! removed or changed (addresses, MTU), tunnel peers added, removed or
//! replaced.
//!
//! In three steps around the route and neighbor changes of
//! [`super::reload`]:
//!
//! 1. [`Reload::prepare`] does everything that can fail and touches
//!    nothing running: ids for the new names, the new TUNs created and
//!    configured (addresses, MTU, `accept_local`), the new and replaced
//!    peers built with their sockets opened (or shared); last, a changed
//!    interface's TUN gets its new MTU and addresses (put back if a later
//!    one fails). On an error it undoes its own work (ids freed, TUNs and
//!    fresh sockets closed).
//! 2. [`Reload::start_new`] gives a changed interface's MTU and addresses
//!    to the workers and its connected routes to the FIB, hands the new
//!    ports to the workers (and their connected routes to the FIB) and puts the new and replaced peers in
//!    the tunnel table and behind their sockets, before the routes and
//!    neighbors that name them are applied.
//! 3. [`Reload::stop_removed`], after the routes and neighbors that used
//!    them are gone: removed peers leave the tunnel table and their socket
//!    (closed with its last peer), removed interfaces leave the FIB, then
//!    the workers (the TUN goes with its last queue).
//!
//! A replaced peer keeps its tunnel id, so the routes that name it are
//! not touched; only its socket and session are new.

use std::net::IpAddr;

use anyhow::Context;
use vcpe_config::diff::ConfigDiff;
use vcpe_config::{Config, Interface, Peer};
use vcpe_forwarding::dataplane::PortSpec;

use super::reload::Reload;
use crate::dataplane::{create_port, tunnel_icmp_sources};
use crate::topology::{InterfaceId, TunnelId};
use crate::tunnels::Built;

/// What [`Reload::prepare`] made ready.
#[derive(Debug, Default)]
pub struct Prepared {
    /// New TUNs, configured, with their interface and id.
    ports: Vec<(Interface, InterfaceId, PortSpec)>,
    /// New peers: their id, whether the id served before, the peer.
    added: Vec<(TunnelId, bool, Built)>,
    /// Replaced peers: their (kept) id and the new peer.
    replaced: Vec<(TunnelId, Built)>,
}

impl Reload<'_> {
    /// Step 1: everything that can fail, nothing running changed. On an
    /// error, what was made is undone.
    pub(super) fn prepare(&self, new: &Config, d: &ConfigDiff) -> anyhow::Result<Prepared> {
        let mut p = Prepared::default();
        if let Err(e) = self.prepare_into(new, d, &mut p) {
            self.undo(p, d);
            return Err(e);
        }
        Ok(p)
    }

    fn prepare_into(&self, new: &Config, d: &ConfigDiff, p: &mut Prepared) -> anyhow::Result<()> {
        if d.interfaces_added.is_empty()
            && d.interfaces_changed.is_empty()
            && d.peers_added.is_empty()
            && d.peers_replaced.is_empty()
        {
            return Ok(());
        }
        let workers = {
            let dp = self.lock_dataplane();
            match dp.as_ref() {
                Some(dp) => dp.workers(),
                None => anyhow::bail!("the dataplane is stopping"),
            }
        };
        for iface in &d.interfaces_added {
            let id = self.topology.add_interface(&iface.name)?;
            // The TUN is made by netlink (async): this reload runs on a
            // blocking thread of the runtime, which may wait for it.
            let made = tokio::runtime::Handle::try_current()
                .context("no runtime to configure the new interface on")
                .and_then(|h| h.block_on(create_port(iface, id, workers)));
            match made {
                Ok(port) => p.ports.push((iface.clone(), id, port)),
                Err(e) => {
                    self.topology.remove_interface(&iface.name);
                    return Err(e.context(format!("adding interface {}", iface.name)));
                }
            }
        }
        self.prepare_peers(new, d, p)?;
        // Last, as it changes the kernel's view of a running TUN: its
        // addresses and MTU (put back if one of them fails).
        for (k, c) in d.interfaces_changed.iter().enumerate() {
            if let Err(e) = reconfigure(&c.old, &c.new) {
                for done in d.interfaces_changed.iter().take(k) {
                    if let Err(e) = reconfigure(&done.new, &done.old) {
                        tracing::error!(interface = %done.new.name, error = %format!("{e:#}"), "cannot put the interface back as it was");
                    }
                }
                return Err(e.context(format!("changing interface {}", c.new.name)));
            }
        }
        Ok(())
    }

    /// The new and replaced peers built (sockets opened or shared).
    fn prepare_peers(&self, new: &Config, d: &ConfigDiff, p: &mut Prepared) -> anyhow::Result<()> {
        let own = tunnel_icmp_sources(new);
        let mut dp = self.lock_dataplane();
        let Some(dp) = dp.as_mut() else {
            anyhow::bail!("the dataplane is stopping");
        };
        for peer in &d.peers_added {
            let (id, reused) = self
                .topology
                .add_tunnel(&peer.name, fixed_ip(peer))
                .with_context(|| format!("adding peer {}", peer.name))?;
            match dp.build_peer(peer, id, own) {
                Ok(b) => p.added.push((id, reused, b)),
                Err(e) => {
                    self.topology.remove_tunnel(&peer.name);
                    return Err(e.context(format!("adding peer {}", peer.name)));
                }
            }
        }
        for c in &d.peers_replaced {
            let id = self
                .topology
                .tunnel(&c.old.name)
                .with_context(|| format!("peer {} is not running", c.old.name))?;
            let b = dp
                .build_peer(&c.new, id, own)
                .with_context(|| format!("changing peer {}", c.new.name))?;
            p.replaced.push((id, b));
        }
        Ok(())
    }

    /// Undoes a [`Reload::prepare`] that failed half-way.
    fn undo(&self, p: Prepared, d: &ConfigDiff) {
        for (iface, _, port) in p.ports {
            self.topology.remove_interface(&iface.name);
            drop(port);
        }
        for peer in &d.peers_added {
            if p.added.iter().any(|(_, _, b)| b.peer.name == peer.name) {
                self.topology.remove_tunnel(&peer.name);
            }
        }
        drop(p.added);
        drop(p.replaced);
        if let Some(dp) = self.lock_dataplane().as_mut() {
            dp.discard_unused();
        }
    }

    /// Step 2: the new ports and peers run; replaced peers are swapped.
    pub(super) fn start_new(&self, p: Prepared, d: &ConfigDiff) {
        if p.ports.is_empty()
            && p.added.is_empty()
            && p.replaced.is_empty()
            && d.interfaces_changed.is_empty()
        {
            return;
        }
        let mut guard = self.lock_dataplane();
        let Some(dp) = guard.as_mut() else { return };
        let mut routing = self.lock_routing();
        for c in &d.interfaces_changed {
            let Some(id) = self.topology.interface(&c.new.name) else {
                continue;
            };
            if let Err(e) = dp.change_interface(id, &c.new) {
                tracing::error!(interface = %c.new.name, error = %format!("{e:#}"), "reload: the dataplane did not take the interface's new MTU or addresses");
            }
            routing.change_interface(id, &c.old, &c.new);
            tracing::info!(interface = %c.new.name, "interface changed in place by reload");
        }
        for (iface, id, port) in p.ports {
            match dp.add_interface(&iface.name, port, iface.mtu) {
                Ok(()) => {
                    routing.add_interface(id, &iface);
                    tracing::info!(interface = %iface.name, "interface added by reload");
                }
                Err(e) => {
                    tracing::error!(interface = %iface.name, error = %format!("{e:#}"), "reload: the new interface could not be started");
                }
            }
        }
        for (id, reused, built) in p.added {
            if reused {
                dp.reset_tunnel_counters(id);
            }
            let name = built.peer.name.clone();
            match dp.add_peer(id, built) {
                Ok(()) => tracing::info!(peer = %name, "tunnel peer added by reload"),
                Err(e) => {
                    tracing::error!(peer = %name, error = %format!("{e:#}"), "reload: the new tunnel could not be started");
                }
            }
        }
        for (id, built) in p.replaced {
            let name = built.peer.name.clone();
            match dp.add_peer(id, built) {
                Ok(()) => {
                    tracing::info!(peer = %name, "tunnel peer replaced by reload (endpoint, bind, encapsulation, MTU or BFD changed)")
                }
                Err(e) => {
                    tracing::error!(peer = %name, error = %format!("{e:#}"), "reload: the changed tunnel could not be started");
                }
            }
        }
        for c in &d.peers_replaced {
            self.topology.set_endpoint(&c.new.name, fixed_ip(&c.new));
        }
        // The host routes to the peers' BFD addresses.
        for peer in &d.peers_added {
            if let (Some(b), Some(id)) = (&peer.bfd, self.topology.tunnel(&peer.name)) {
                routing.add_neighbor_route(b.address, id);
            }
        }
        for c in &d.peers_replaced {
            let old = c.old.bfd.as_ref().map(|b| b.address);
            let new = c.new.bfd.as_ref().map(|b| b.address);
            if old != new
                && let Some(a) = old
            {
                routing.remove_neighbor_route(a);
            }
            if let (Some(a), Some(id)) = (new, self.topology.tunnel(&c.new.name)) {
                routing.add_neighbor_route(a, id);
            }
        }
        routing.set_tunnel_endpoints(self.topology.endpoints());
    }

    /// Step 3: removed peers and interfaces go, after their routes.
    pub(super) fn stop_removed(&self, d: &ConfigDiff) {
        if d.peers_removed.is_empty() && d.interfaces_removed.is_empty() {
            return;
        }
        let mut guard = self.lock_dataplane();
        let mut routing = self.lock_routing();
        for peer in &d.peers_removed {
            let Some(id) = self.topology.tunnel(&peer.name) else {
                continue;
            };
            if let Some(b) = &peer.bfd {
                routing.remove_neighbor_route(b.address);
            }
            routing.forget_tunnel(id);
            if let Some(dp) = guard.as_mut() {
                dp.remove_peer(id);
            }
            self.topology.remove_tunnel(&peer.name);
            tracing::info!(peer = %peer.name, "tunnel peer removed by reload");
        }
        routing.set_tunnel_endpoints(self.topology.endpoints());
        for iface in &d.interfaces_removed {
            let Some(id) = self.topology.interface(&iface.name) else {
                continue;
            };
            routing.remove_interface(iface);
            if let Some(dp) = guard.as_mut() {
                dp.remove_interface(id);
            }
            self.topology.remove_interface(&iface.name);
            tracing::info!(interface = %iface.name, "interface removed by reload");
        }
    }

    fn lock_dataplane(&self) -> std::sync::MutexGuard<'_, Option<crate::dataplane::Dataplane>> {
        self.dataplane
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock_routing(&self) -> std::sync::MutexGuard<'_, crate::routing::Routing> {
        self.routes
            .routing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Changes the running TUN of `old` to `new`'s MTU and addresses.
fn reconfigure(old: &Interface, new: &Interface) -> anyhow::Result<()> {
    let ifindex = crate::kernel_sync::netlink::ifindex(&new.name)
        .with_context(|| format!("interface {} does not exist", new.name))?;
    let add: Vec<ipnet::IpNet> = new
        .addresses
        .iter()
        .filter(|a| !old.addresses.contains(a))
        .copied()
        .collect();
    let remove: Vec<ipnet::IpNet> = old
        .addresses
        .iter()
        .filter(|a| !new.addresses.contains(a))
        .copied()
        .collect();
    tokio::runtime::Handle::try_current()
        .context("no runtime to configure the interface on")?
        .block_on(crate::link::reconfigure_link(
            ifindex, new.mtu, &add, &remove,
        ))?;
    Ok(())
}

/// A peer's fixed underlay address (BGP next hops there go into it).
fn fixed_ip(p: &Peer) -> Option<IpAddr> {
    p.fixed_endpoint().map(|e| e.ip())
}
