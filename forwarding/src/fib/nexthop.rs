//! Next hops and ECMP next-hop groups: what a FIB lookup resolves to.
//!
//! A [`NextHopGroup`] is a canonical (sorted, de-duplicated, non-empty) set of
//! [`NextHop`]s, so two routes with the same set of next hops intern to the
//! same group id in the FIB regardless of the order they were given in.

use std::fmt;
use std::net::IpAddr;

/// Where a packet leaves the router.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Egress {
    /// A TUN interface, by the ifindex-like id the daemon assigned to it.
    Interface(u32),
    /// The UDP tunnel to a peer vCPE, by peer id.
    Tunnel(u32),
    /// Drop the packet (a discard route).
    Blackhole,
}

/// One next hop: an egress plus an optional gateway address on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NextHop {
    /// Where the packet leaves.
    pub egress: Egress,
    /// The gateway to hand the packet to, when the egress is not point-to-point.
    pub gateway: Option<IpAddr>,
}

impl NextHop {
    /// A next hop out of TUN interface `ifindex`, with no gateway.
    pub fn interface(ifindex: u32) -> Self {
        Self {
            egress: Egress::Interface(ifindex),
            gateway: None,
        }
    }

    /// A next hop into the tunnel to peer `peer`, with no gateway.
    pub fn tunnel(peer: u32) -> Self {
        Self {
            egress: Egress::Tunnel(peer),
            gateway: None,
        }
    }

    /// A discard next hop.
    pub fn blackhole() -> Self {
        Self {
            egress: Egress::Blackhole,
            gateway: None,
        }
    }

    /// This next hop with `gateway` set.
    pub fn via(self, gateway: IpAddr) -> Self {
        Self {
            gateway: Some(gateway),
            ..self
        }
    }
}

/// Error: a next-hop group must hold at least one next hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmptyGroup;

impl fmt::Display for EmptyGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a next-hop group needs at least one next hop")
    }
}

impl std::error::Error for EmptyGroup {}

/// A non-empty ECMP set of next hops, kept sorted and de-duplicated.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NextHopGroup(Box<[NextHop]>);

impl NextHopGroup {
    /// A group from any collection of next hops (order and duplicates do not
    /// matter); fails when it is empty.
    pub fn new(hops: impl IntoIterator<Item = NextHop>) -> Result<Self, EmptyGroup> {
        let mut hops: Vec<NextHop> = hops.into_iter().collect();
        if hops.is_empty() {
            return Err(EmptyGroup);
        }
        hops.sort_unstable();
        hops.dedup();
        Ok(Self(hops.into_boxed_slice()))
    }

    /// A group of exactly one next hop.
    pub fn single(hop: NextHop) -> Self {
        Self(Box::new([hop]))
    }

    /// The next hops, sorted.
    pub fn hops(&self) -> &[NextHop] {
        &self.0
    }

    /// How many next hops the group has (at least one).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: groups are never empty. Present for API symmetry.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The next hop for a flow: the same `flow_hash` always picks the same
    /// member, and hashes spread evenly over members (multiply-shift, no
    /// division on the hot path).
    #[inline]
    pub fn select(&self, flow_hash: u32) -> &NextHop {
        let n = self.0.len() as u64;
        let i = ((u64::from(flow_hash) * n) >> 32) as usize;
        &self.0[i]
    }

    /// Heap bytes held by this group.
    pub(crate) fn heap_bytes(&self) -> usize {
        std::mem::size_of_val::<[NextHop]>(&self.0)
    }
}

impl From<NextHop> for NextHopGroup {
    fn from(hop: NextHop) -> Self {
        Self::single(hop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn group_is_canonical() {
        let a = NextHop::interface(1);
        let b = NextHop::tunnel(7).via(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        let g1 = NextHopGroup::new([a, b, a]).unwrap();
        let g2 = NextHopGroup::new([b, a]).unwrap();
        assert_eq!(g1, g2);
        assert_eq!(g1.len(), 2);
        assert!(NextHopGroup::new([]).is_err());
    }

    #[test]
    fn select_is_stable_and_covers_members() {
        let g = NextHopGroup::new((0..3).map(NextHop::tunnel)).unwrap();
        let mut seen = [0usize; 3];
        for h in 0..3000u32 {
            let hash = h.wrapping_mul(0x9E37_79B9);
            let hop = g.select(hash);
            assert_eq!(hop, g.select(hash));
            let Egress::Tunnel(p) = hop.egress else {
                panic!("not a tunnel")
            };
            seen[p as usize] += 1;
        }
        assert!(seen.iter().all(|&c| c > 800), "{seen:?}");
        assert_eq!(g.select(u32::MAX), &g.hops()[2]);
        assert_eq!(g.select(0), &g.hops()[0]);
    }
}
