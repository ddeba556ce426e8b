//! [`FibBatch`]: the best-route changes handed from the BGP task to the
//! FIB thread, in a compact form. A table load hands over a whole table in
//! one batch while the FIB thread is busy with the previous one, so the
//! batch is a peak-memory cost per route: an IPv4 change takes 8 bytes
//! here (the prefix and an index into the batch's few distinct next hops)
//! instead of the 44 of a [`FibUpdate`]. ECMP changes (BGP multipath, with
//! `maximum_paths` > 1) are kept apart, with every member's hop: the
//! compact form stays what it is for the single-path case.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net};
use rustc_hash::FxHashMap;
use vcpe_bgp::rib::{BestChange, PeerId, RouteSource};

use super::FibUpdate;

/// Where a batch's change goes: the learned next hop and the neighbor it
/// came from (`(None, None)`: no BGP route for the FIB).
pub type Hop = (Option<IpAddr>, Option<PeerId>);

/// Hop indexes an IPv4 entry holds (the rest of its `u32` is the prefix
/// length); a few in tests, so that they reach the other path.
const V4_HOPS: u32 = if cfg!(test) { 4 } else { 1 << 26 };

/// One IPv4 change: the address, and the prefix length in the low 6 bits
/// of `meta` with the hop index above.
#[derive(Debug, Clone, Copy)]
struct V4 {
    addr: u32,
    meta: u32,
}

/// A batch of best-route changes, at most one per prefix.
#[derive(Debug, Default)]
pub struct FibBatch {
    hops: Vec<Hop>,
    index: FxHashMap<Hop, u32>,
    /// The hop of the previous push (consecutive changes mostly share it).
    last: Option<(Hop, u32)>,
    v4: Vec<V4>,
    /// IPv6 changes, and IPv4 ones whose hop index does not fit a [`V4`]
    /// (only in a batch with more than 2^26 distinct next hops). As big as
    /// an `(Ipv6Net, u32)`.
    other: Vec<(IpNet, u32)>,
    /// ECMP changes: the prefix and every member's hop, the best first.
    multi: Vec<(IpNet, Box<[Hop]>)>,
    /// Neighbors added by a reload and the tunnel each runs over: applied
    /// before the changes (its routes go into that tunnel).
    tunnels: Vec<(PeerId, Option<crate::topology::TunnelId>)>,
}

impl FibBatch {
    /// An empty batch with room for `v4` IPv4 changes.
    pub fn with_capacity(v4: usize) -> FibBatch {
        FibBatch {
            v4: Vec::with_capacity(v4),
            ..FibBatch::default()
        }
    }

    /// Neighbors added since the last batch, with their tunnels.
    pub fn set_tunnels(&mut self, tunnels: Vec<(PeerId, Option<crate::topology::TunnelId>)>) {
        self.tunnels = tunnels;
    }

    /// The neighbors' tunnels of [`FibBatch::set_tunnels`].
    pub fn take_tunnels(&mut self) -> Vec<(PeerId, Option<crate::topology::TunnelId>)> {
        std::mem::take(&mut self.tunnels)
    }

    /// Adds a change.
    pub fn push(&mut self, u: FibUpdate) {
        let hop = self.hop_index((u.next_hop, u.from));
        match u.prefix {
            IpNet::V4(n) if hop < V4_HOPS => self.v4.push(V4 {
                addr: u32::from(n.addr()),
                meta: u32::from(n.prefix_len()) | hop << 6,
            }),
            p => self.other.push((p, hop)),
        }
    }

    /// Adds a change as the RIB hands it: single-path ones in the compact
    /// form ([`FibBatch::push`]), ECMP ones apart with all their members.
    pub fn push_change(&mut self, c: BestChange) {
        match &c {
            BestChange::Add { prefix, route } | BestChange::Replace { prefix, route }
                if !route.multipath.is_empty() =>
            {
                let best = FibUpdate::from(c.clone());
                let mut hops = Vec::with_capacity(route.multipath.len() + 1);
                hops.push((best.next_hop, best.from));
                for m in &route.multipath {
                    if let RouteSource::Peer(id) = m.source {
                        hops.push((m.next_hop, Some(id)));
                    }
                }
                self.multi.push((*prefix, hops.into_boxed_slice()));
            }
            _ => self.push(FibUpdate::from(c)),
        }
    }

    /// The ECMP changes (taken out; [`FibBatch::into_parts`] gives the
    /// rest).
    pub fn take_multi(&mut self) -> Vec<(IpNet, Box<[Hop]>)> {
        std::mem::take(&mut self.multi)
    }

    fn hop_index(&mut self, hop: Hop) -> u32 {
        if let Some((h, i)) = self.last
            && h == hop
        {
            return i;
        }
        let next = self.hops.len() as u32;
        let i = *self.index.entry(hop).or_insert(next);
        if i == next {
            self.hops.push(hop);
        }
        self.last = Some((hop, i));
        i
    }

    /// Number of changes.
    pub fn len(&self) -> usize {
        self.v4.len() + self.other.len() + self.multi.len()
    }

    /// Whether there is no change.
    pub fn is_empty(&self) -> bool {
        self.len() == 0 && self.tunnels.is_empty()
    }

    /// The distinct hops, and every single-path change as (prefix, index
    /// into them): IPv4 first, each family in the order pushed. (The ECMP
    /// changes: [`FibBatch::take_multi`].)
    pub fn into_parts(self) -> (Vec<Hop>, impl Iterator<Item = (IpNet, u32)>) {
        let v4 = self.v4.into_iter().map(|e| {
            let len = (e.meta & 0x3f) as u8;
            let net = Ipv4Net::new(e.addr.into(), len).unwrap_or_default();
            (IpNet::V4(net), e.meta >> 6)
        });
        (self.hops, v4.chain(self.other))
    }
}

impl From<Vec<FibUpdate>> for FibBatch {
    fn from(updates: Vec<FibUpdate>) -> FibBatch {
        let mut b = FibBatch::with_capacity(updates.len());
        for u in updates {
            b.push(u);
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(prefix: &str, nh: Option<&str>, from: Option<u32>) -> FibUpdate {
        FibUpdate {
            prefix: prefix.parse().unwrap(),
            next_hop: nh.map(|a| a.parse().unwrap()),
            from: from.map(PeerId),
        }
    }

    fn round_trip(updates: Vec<FibUpdate>) -> Vec<FibUpdate> {
        let (hops, changes) = FibBatch::from(updates).into_parts();
        changes
            .map(|(prefix, i)| {
                let (next_hop, from) = hops[i as usize];
                FibUpdate {
                    prefix,
                    next_hop,
                    from,
                }
            })
            .collect()
    }

    #[test]
    fn every_change_comes_back_ipv4_first() {
        let updates = vec![
            update("2001:db8::/32", Some("2001:db8::1"), Some(1)),
            update("10.0.0.0/8", Some("192.0.2.1"), Some(0)),
            update("0.0.0.0/0", None, None),
            update("10.1.0.0/16", Some("192.0.2.1"), Some(0)),
            update("192.0.2.7/32", Some("192.0.2.2"), Some(0)),
            update("::/0", None, None),
            update("::ffff:0:0/96", Some("2001:db8::1"), Some(1)),
        ];
        let mut want = updates.clone();
        want.sort_by_key(|u| u.prefix.addr().is_ipv6());
        assert_eq!(round_trip(updates), want);
    }

    #[test]
    fn hops_are_shared() {
        let b = FibBatch::from(
            (0..1000u32)
                .map(|i| FibUpdate {
                    prefix: IpNet::V4(Ipv4Net::new((i << 8).into(), 24).unwrap()),
                    next_hop: Some(
                        if i % 2 == 0 { "192.0.2.1" } else { "192.0.2.2" }
                            .parse()
                            .unwrap(),
                    ),
                    from: Some(PeerId(0)),
                })
                .collect::<Vec<_>>(),
        );
        assert_eq!(b.len(), 1000);
        assert_eq!(b.into_parts().0.len(), 2);
    }

    #[test]
    fn ipv4_changes_beyond_the_compact_hops_come_back_too() {
        let updates: Vec<FibUpdate> = (0..10u32)
            .map(|i| FibUpdate {
                prefix: IpNet::V4(Ipv4Net::new((i << 8).into(), 24).unwrap()),
                next_hop: Some(std::net::Ipv4Addr::from(0xc000_0200 + i).into()),
                from: Some(PeerId(i)),
            })
            .collect();
        let mut back = round_trip(updates.clone());
        back.sort_by_key(|u| u.prefix);
        assert_eq!(back, updates);
    }
}
