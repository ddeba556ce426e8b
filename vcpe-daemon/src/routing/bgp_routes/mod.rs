//! BGP's share of the FIB: which prefixes BGP installed, the resolution of
//! each learned route's next hop through the FIB (connected, static and
//! tunnel routes, or other BGP routes), and the retry of routes whose next
//! hop nothing reached yet whenever the FIB changes.
//!
//! Connected and static prefixes of the config always win: BGP never
//! replaces or removes them. Locally originated routes are already in the
//! FIB (they are config routes) and are skipped. The config's prefixes are
//! all in the FIB, so every other FIB prefix is BGP's: no second set of
//! prefixes is kept (a million-route table would pay ~20 bytes a route).
//!
//! With kernel route sync on, it records, per prefix it changes, whether
//! the prefix now goes into a tunnel ([`BgpFib::take_tunnel_changes`]).
//!
//! Which tunnel a next hop names comes first ([`next_hops`]): a tunnel
//! peer's inner address or endpoint means its tunnel whichever neighbor
//! the route came from; a neighbor over tunnel X sends into X only the
//! routes whose next hop is X's (inside its allowed prefixes); the rest
//! resolve through the FIB.
//!
//! An ECMP route (BGP multipath) becomes one next-hop group of every
//! member that resolves; when none does it waits under the best path's
//! next hop like a single-path route. A member that does not resolve is
//! left out (not retried on its own).
//!
//! Not done: a resolved route keeps the egress it resolved to when the
//! route that reached its next hop goes away later (no next-hop tracking
//! of resolved routes); the peer's own session going down withdraws them.
//! The one exception: a reload that changes the tunnel peers' inner
//! addresses places again the single-path routes via those addresses.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use rustc_hash::{FxHashMap, FxHashSet};
use vcpe_bgp::rib::{BestChange, PeerId, RouteSource};
use vcpe_forwarding::fib::{Egress, FibChange, FibSnapshot, FibWriter, NextHop, NextHopGroup};

use crate::topology::{PeerHops, TunnelId};
use next_hops::TunnelHops;

/// What one [`BgpFib::apply`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BgpFibReport {
    /// FIB entries added, replaced or removed.
    pub changed: usize,
    /// BGP routes in the FIB now.
    pub installed: usize,
    /// BGP best routes left out because no route reaches their next hop.
    pub unresolved: usize,
}

/// BGP's routes in the FIB.
#[derive(Debug, Default)]
pub struct BgpFib {
    /// Prefixes the config installs: BGP leaves them alone.
    config_prefixes: FxHashSet<IpNet>,
    /// Best routes no FIB route reaches, by next hop. Kept compact (5
    /// bytes an IPv4 key, no per-prefix next hop): a peer whose next hop is
    /// unreachable can leave a whole table here. There are few distinct
    /// next hops, so finding a prefix means asking each set.
    unresolved: FxHashMap<IpAddr, PrefixSet>,
    /// The tunnel each BGP neighbor (by its `PeerId`: the config index,
    /// then one more per neighbor a reload adds) runs over, if any.
    tunnel_of: Vec<Option<TunnelId>>,
    /// Tunnel peers by inner address, underlay address and allowed
    /// prefixes: which tunnel a next hop names ([`next_hops`]).
    hops: TunnelHops,
    /// Kernel route sync on: every prefix whose FIB entry BGP changed,
    /// with whether it now goes into a tunnel.
    tunnel_changes: Option<Vec<(IpNet, bool)>>,
}

/// A set of prefixes, with compact IPv4 keys.
#[derive(Debug, Default)]
struct PrefixSet {
    v4: FxHashSet<Ipv4Net>,
    v6: FxHashSet<Ipv6Net>,
}

impl PrefixSet {
    fn insert(&mut self, p: IpNet) {
        match p {
            IpNet::V4(n) => self.v4.insert(n),
            IpNet::V6(n) => self.v6.insert(n),
        };
    }

    fn remove(&mut self, p: IpNet) -> bool {
        match p {
            IpNet::V4(n) => self.v4.remove(&n),
            IpNet::V6(n) => self.v6.remove(&n),
        }
    }

    fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    fn drain(self) -> impl Iterator<Item = IpNet> {
        self.v4
            .into_iter()
            .map(IpNet::V4)
            .chain(self.v6.into_iter().map(IpNet::V6))
    }
}

impl BgpFib {
    /// BGP's share next to the config's `config_prefixes`.
    pub fn new(config_prefixes: impl IntoIterator<Item = IpNet>) -> BgpFib {
        BgpFib {
            config_prefixes: config_prefixes.into_iter().collect(),
            ..BgpFib::default()
        }
    }

    /// Neighbor `i` runs over tunnel `tunnel_of[i]` (its routes whose
    /// next hop is that peer's go into it); routes whose next hop is the
    /// underlay address of tunnel peer `t` (in `endpoints`) go into
    /// tunnel `t`.
    pub fn with_tunnels(
        mut self,
        tunnel_of: Vec<Option<TunnelId>>,
        endpoints: impl IntoIterator<Item = (IpAddr, TunnelId)>,
    ) -> BgpFib {
        self.tunnel_of = tunnel_of;
        self.hops.set_endpoints(endpoints);
        self
    }

    /// The tunnel peers' inner addresses and allowed prefixes (routes
    /// whose next hop is a peer's inner address go into its tunnel).
    pub fn with_peer_hops(
        mut self,
        peers: impl IntoIterator<Item = (TunnelId, PeerHops)>,
    ) -> BgpFib {
        self.hops.set_peers(peers);
        self
    }

    /// The tunnels by their peer's underlay address are now `endpoints`
    /// (a reload added or removed peers); routes installed from now on
    /// use them.
    pub fn set_endpoints(&mut self, endpoints: impl IntoIterator<Item = (IpAddr, TunnelId)>) {
        self.hops.set_endpoints(endpoints);
    }

    /// The tunnel peers' inner addresses and allowed prefixes are now
    /// `peers` (a reload); routes installed from now on use them, single
    /// path routes installed via an inner address that came, went or
    /// moved to another tunnel are placed again, and waiting routes whose
    /// next hop now names a tunnel are installed. Returns how many FIB
    /// routes changed.
    pub fn set_peer_hops(
        &mut self,
        fib: &mut FibWriter,
        peers: impl IntoIterator<Item = (TunnelId, PeerHops)>,
    ) -> usize {
        let old: FxHashMap<IpAddr, TunnelId> = self.hops.inner().collect();
        self.hops.set_peers(peers);
        let new: FxHashMap<IpAddr, TunnelId> = self.hops.inner().collect();
        let moved: FxHashSet<IpAddr> = old
            .iter()
            .filter(|(a, t)| new.get(*a) != Some(*t))
            .chain(new.iter().filter(|(a, t)| old.get(*a) != Some(*t)))
            .map(|(a, _)| *a)
            .collect();
        let mut changed = 0;
        if !moved.is_empty() {
            changed += self.place_again(fib, &moved);
        }
        changed + self.retry_unresolved(fib)
    }

    /// Places again every single-path BGP route whose gateway is in
    /// `moved` (one scan of the FIB: only when a reload changed inner
    /// addresses).
    fn place_again(&mut self, fib: &mut FibWriter, moved: &FxHashSet<IpAddr>) -> usize {
        let snapshot = fib.reader().snapshot_arc();
        let hops = &self.hops;
        let again: Vec<(IpNet, IpAddr, Option<NextHopGroup>)> = fib
            .routes()
            .filter(|(p, g)| g.len() == 1 && !self.config_prefixes.contains(p))
            .filter_map(|(p, g)| {
                let gw = g.hops()[0].gateway.filter(|gw| moved.contains(gw))?;
                let group = match hops.named(gw) {
                    Some(t) => Some(NextHopGroup::single(t.hop().via(gw))),
                    None => resolve(&snapshot, gw),
                };
                (Some(g) != group.as_ref()).then_some((p, gw, group))
            })
            .collect();
        let mut batch = Vec::with_capacity(again.len());
        for (prefix, gw, group) in again {
            let change = match group {
                Some(group) => FibChange::Upsert { prefix, group },
                None => {
                    self.unresolved.entry(gw).or_default().insert(prefix);
                    FibChange::Remove { prefix }
                }
            };
            if let Some(j) = self.tunnel_changes.as_mut() {
                j.push((prefix, into_tunnel(&change)));
            }
            batch.push(change);
        }
        let n = batch.len();
        if n > 0 {
            fib.apply(batch);
        }
        n
    }

    /// Whether the config owns `prefix` (BGP leaves it alone).
    pub fn is_config_prefix(&self, prefix: &IpNet) -> bool {
        self.config_prefixes.contains(prefix)
    }

    /// A static route now owns `prefix` (BGP leaves it alone).
    pub fn add_config_prefix(&mut self, prefix: IpNet) {
        self.config_prefixes.insert(prefix);
    }

    /// The static route for `prefix` is gone. (A BGP route for the same
    /// prefix is installed again only when it next changes.)
    pub fn remove_config_prefix(&mut self, prefix: IpNet) {
        self.config_prefixes.remove(&prefix);
    }

    /// Starts recording, per prefix BGP changes in the FIB, whether it now
    /// goes into a tunnel (for kernel route sync; see
    /// [`BgpFib::take_tunnel_changes`]).
    pub fn record_tunnel_changes(&mut self) {
        self.tunnel_changes.get_or_insert_with(Vec::new);
    }

    /// The changes recorded since the last call, oldest first.
    pub fn take_tunnel_changes(&mut self) -> Vec<(IpNet, bool)> {
        self.tunnel_changes
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Applies a batch of best-route changes to `fib` (one publish, two if
    /// it let waiting routes resolve). The batch is streamed into the FIB,
    /// not copied: a million-route batch costs no second million-entry
    /// buffer. Each distinct next hop of the batch is resolved once.
    pub fn apply(&mut self, fib: &mut FibWriter, mut changes: FibBatch) -> BgpFibReport {
        for (id, tunnel) in changes.take_tunnels() {
            let i = id.0 as usize;
            if self.tunnel_of.len() <= i {
                self.tunnel_of.resize(i + 1, None);
            }
            self.tunnel_of[i] = tunnel;
        }
        let snapshot = fib.reader().snapshot_arc();
        let multi = changes.take_multi();
        let config = &self.config_prefixes;
        let tunnel_of = &self.tunnel_of;
        let tunnels = &self.hops;
        let unresolved = &mut self.unresolved;
        let journal = &mut self.tunnel_changes;
        let (hops, changes) = changes.into_parts();
        // Where each hop goes: into the tunnel its next hop names (see
        // [`next_hops`]), where the FIB reaches it, or nowhere yet (`None`).
        let place = |&(next_hop, from): &Hop| {
            let nh = next_hop?;
            let over = from.and_then(|id| tunnel_of.get(id.0 as usize).copied().flatten());
            match tunnels.place(nh, over) {
                Some(t) => Some(NextHopGroup::single(t.hop().via(nh))),
                None => resolve(&snapshot, nh),
            }
        };
        let groups: Vec<Option<NextHopGroup>> = hops.iter().map(place).collect();
        let single = changes.map(|(prefix, hop)| {
            let hop = hop as usize;
            let group = groups.get(hop).and_then(Option::clone);
            (prefix, group, hops.get(hop).and_then(|h| h.0))
        });
        // ECMP: the union of every member that resolves, built once per
        // distinct member set of the batch (building fills a bucket table).
        let mut sets: FxHashMap<Box<[Hop]>, Option<NextHopGroup>> = FxHashMap::default();
        let ecmp = multi.into_iter().map(move |(prefix, members)| {
            let best_nh = members.first().and_then(|h| h.0);
            let group = sets
                .entry(members)
                .or_insert_with_key(|members| {
                    let resolved: Vec<NextHop> = members
                        .iter()
                        .filter_map(place)
                        .flat_map(|g| g.hops().to_vec())
                        .collect();
                    NextHopGroup::new(resolved).ok()
                })
                .clone();
            (prefix, group, best_nh)
        });
        let stream = single.chain(ecmp).filter_map(|(prefix, group, next_hop)| {
            if config.contains(&prefix) {
                return None;
            }
            forget_unresolved(unresolved, prefix);
            let change = match group {
                Some(group) => FibChange::Upsert { prefix, group },
                None => {
                    if let Some(nh) = next_hop {
                        unresolved.entry(nh).or_default().insert(prefix);
                    }
                    // Every FIB prefix outside the config's is BGP's; a
                    // removal of one that is not there is a no-op.
                    FibChange::Remove { prefix }
                }
            };
            if let Some(j) = journal.as_mut() {
                j.push((prefix, into_tunnel(&change)));
            }
            Some(change)
        });
        let report = fib.apply(stream);
        let mut changed = report.upserted + report.removed;
        if changed > 0 {
            changed += self.retry_unresolved(fib);
        }
        BgpFibReport {
            changed,
            installed: fib.route_count().saturating_sub(self.config_prefixes.len()),
            unresolved: self.unresolved.values().map(PrefixSet::len).sum(),
        }
    }

    /// Installs the waiting routes whose next hop the FIB reaches now.
    fn retry_unresolved(&mut self, fib: &mut FibWriter) -> usize {
        if self.unresolved.is_empty() {
            return 0;
        }
        let snapshot = fib.reader().snapshot_arc();
        let hops = &self.hops;
        let reachable: Vec<(IpAddr, NextHopGroup)> = self
            .unresolved
            .keys()
            .filter_map(|nh| {
                let group = match hops.named(*nh) {
                    Some(t) => NextHopGroup::single(t.hop().via(*nh)),
                    None => resolve(&snapshot, *nh)?,
                };
                Some((*nh, group))
            })
            .collect();
        let mut batch = Vec::new();
        for (nh, group) in reachable {
            for prefix in self.unresolved.remove(&nh).unwrap_or_default().drain() {
                if let Some(j) = self.tunnel_changes.as_mut() {
                    j.push((prefix, tunnel_group(&group)));
                }
                batch.push(FibChange::Upsert {
                    prefix,
                    group: group.clone(),
                });
            }
        }
        let n = batch.len();
        if n > 0 {
            fib.apply(batch);
        }
        n
    }
}

/// One best-route change as the FIB needs it (batched as a [`FibBatch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FibUpdate {
    /// The prefix.
    pub prefix: IpNet,
    /// The learned route's next hop; `None`: BGP has no route for the FIB
    /// (withdrawn, or locally originated and already a config route).
    pub next_hop: Option<IpAddr>,
    /// The neighbor it was learned from.
    pub from: Option<PeerId>,
}

impl From<BestChange> for FibUpdate {
    fn from(c: BestChange) -> FibUpdate {
        match c {
            BestChange::Add { prefix, route } | BestChange::Replace { prefix, route } => {
                let from = match route.source {
                    RouteSource::Peer(id) => Some(id),
                    RouteSource::Local => None,
                };
                FibUpdate {
                    prefix,
                    next_hop: route.next_hop.filter(|_| from.is_some()),
                    from,
                }
            }
            BestChange::Remove { prefix } => FibUpdate {
                prefix,
                next_hop: None,
                from: None,
            },
        }
    }
}

/// Whether `change` sends its prefix into a tunnel.
fn into_tunnel(change: &FibChange) -> bool {
    matches!(change, FibChange::Upsert { group, .. } if tunnel_group(group))
}

/// Whether `group` goes into a tunnel.
fn tunnel_group(group: &NextHopGroup) -> bool {
    group
        .hops()
        .first()
        .is_some_and(|h| matches!(h.egress, Egress::Tunnel(_)))
}

/// Drops `prefix` from the routes waiting for their next hop.
fn forget_unresolved(unresolved: &mut FxHashMap<IpAddr, PrefixSet>, prefix: IpNet) {
    let mut emptied = None;
    for (nh, set) in unresolved.iter_mut() {
        if set.remove(prefix) {
            if set.is_empty() {
                emptied = Some(*nh);
            }
            break;
        }
    }
    if let Some(nh) = emptied {
        unresolved.remove(&nh);
    }
}

/// Where the FIB sends packets for `nh`: that egress, with `nh` as the
/// gateway unless the covering route names one.
fn resolve(snapshot: &FibSnapshot, nh: IpAddr) -> Option<NextHopGroup> {
    let via = snapshot.lookup(nh)?.hops().first().copied()?;
    Some(NextHopGroup::single(NextHop {
        egress: via.egress,
        gateway: Some(via.gateway.unwrap_or(nh)),
    }))
}

mod batch;
pub mod next_hops;
#[cfg(test)]
mod tests;

pub use batch::{FibBatch, Hop};
