//! Next hops and ECMP next-hop groups: what a FIB lookup resolves to.
//!
//! A [`NextHopGroup`] is a canonical (sorted, de-duplicated, non-empty) set of
//! [`NextHop`]s, so two routes with the same set of next hops intern to the
//! same group id in the FIB regardless of the order they were given in.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

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
///
/// A group of two or more members carries a table of [`BUCKETS`] member
/// indices filled once, when the group is built, by rendezvous
/// (highest-random-weight) hashing: bucket `b` goes to the member whose
/// weight `weight(member, b)` is highest. A flow picks the bucket from the
/// top bits of its hash, so selection is one load on the hot path, and the
/// table is resilient: dropping a member moves only the buckets (flows) that
/// were on it, adding one moves only the buckets it now wins. Weights depend
/// only on the member itself (egress and gateway), never on its position or
/// on the other members, and use no per-process seed, so every worker and
/// every daemon run picks the same member for the same flow.
#[derive(Debug, Clone)]
pub struct NextHopGroup {
    hops: Box<[NextHop]>,
    /// `BUCKETS` member indices; `None` for a single-member group. Shared,
    /// so that a clone of a big group copies no table.
    buckets: Option<Arc<[u8]>>,
}

/// Buckets in the table of a multi-member group (a power of two): enough for
/// an even spread over a few dozen members, 1 KiB per ECMP group.
pub const BUCKETS: usize = 1024;
const BUCKET_SHIFT: u32 = 32 - BUCKETS.trailing_zeros();

/// Most members a group keeps (indices are `u8`); beyond it the lowest
/// [`MAX_MEMBERS`] next hops in their canonical order are used.
pub const MAX_MEMBERS: usize = 256;

impl PartialEq for NextHopGroup {
    fn eq(&self, other: &Self) -> bool {
        // The bucket table is a function of the members.
        self.hops == other.hops
    }
}

impl Eq for NextHopGroup {}

impl std::hash::Hash for NextHopGroup {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.hops.hash(state);
    }
}

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
        hops.truncate(MAX_MEMBERS);
        let buckets = rendezvous_table(&hops);
        Ok(Self {
            hops: hops.into_boxed_slice(),
            buckets,
        })
    }

    /// A group of exactly one next hop.
    pub fn single(hop: NextHop) -> Self {
        Self {
            hops: Box::new([hop]),
            buckets: None,
        }
    }

    /// The next hops, sorted.
    pub fn hops(&self) -> &[NextHop] {
        &self.hops
    }

    /// How many next hops the group has (at least one).
    pub fn len(&self) -> usize {
        self.hops.len()
    }

    /// Always false: groups are never empty. Present for API symmetry.
    pub fn is_empty(&self) -> bool {
        self.hops.is_empty()
    }

    /// The next hop for a flow: the same `flow_hash` always picks the same
    /// member, and a member leaving or joining the group moves only the
    /// flows that were on it or now go to it (see the type's doc).
    #[inline]
    pub fn select(&self, flow_hash: u32) -> &NextHop {
        &self.hops[self.select_index(flow_hash)]
    }

    /// The index into [`hops`](Self::hops) of the member `flow_hash` picks.
    #[inline]
    pub fn select_index(&self, flow_hash: u32) -> usize {
        match &self.buckets {
            Some(b) => b
                .get((flow_hash >> BUCKET_SHIFT) as usize)
                .map_or(0, |&i| usize::from(i)),
            None => 0,
        }
    }

    /// Heap bytes held by this group.
    pub(crate) fn heap_bytes(&self) -> usize {
        std::mem::size_of_val::<[NextHop]>(&self.hops)
            + self.buckets.as_ref().map_or(0, |b| b.len() + 16)
    }
}

/// The bucket table of `hops` (none for one member): each bucket to the
/// member with the highest rendezvous weight for it.
fn rendezvous_table(hops: &[NextHop]) -> Option<Arc<[u8]>> {
    if hops.len() < 2 {
        return None;
    }
    let keys: Vec<u64> = hops.iter().map(member_key).collect();
    let table = (0..BUCKETS as u64)
        .map(|b| {
            let mut best = (0u64, 0u8);
            for (i, &k) in keys.iter().enumerate() {
                let w = mix64(k ^ mix64(b.wrapping_add(0x243f_6a88_85a3_08d3)));
                // Ties (practically impossible) go to the lower index, which
                // is also a property of the members alone.
                if i == 0 || w > best.0 {
                    best = (w, i as u8);
                }
            }
            best.1
        })
        .collect::<Vec<u8>>();
    Some(table.into())
}

/// A member's identity as 64 bits: its egress and gateway, nothing else.
fn member_key(hop: &NextHop) -> u64 {
    let (kind, id) = match hop.egress {
        Egress::Interface(i) => (1u64, i),
        Egress::Tunnel(p) => (2, p),
        Egress::Blackhole => (3, 0),
    };
    let mut k = mix64((kind << 32) | u64::from(id));
    match hop.gateway {
        None => {}
        Some(IpAddr::V4(a)) => k = mix64(k ^ u64::from(a.to_bits())),
        Some(IpAddr::V6(a)) => {
            let w = a.to_bits();
            k = mix64(k ^ (w >> 64) as u64);
            k = mix64(k ^ w as u64);
        }
    }
    k
}

/// SplitMix64's finaliser: a fixed, seedless 64-bit mix.
fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
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

    const GOLDEN: [usize; 16] = [1, 1, 1, 1, 0, 0, 1, 0, 1, 0, 1, 0, 0, 0, 1, 1];

    fn spread(g: &NextHopGroup, flows: u32) -> Vec<usize> {
        let mut seen = vec![0usize; g.len()];
        for h in 0..flows {
            seen[g.select_index(h.wrapping_mul(0x9E37_79B9))] += 1;
        }
        seen
    }

    #[test]
    fn select_is_stable_and_covers_members() {
        let g = NextHopGroup::new((0..3).map(NextHop::tunnel)).unwrap();
        for h in 0..3000u32 {
            let hash = h.wrapping_mul(0x9E37_79B9);
            assert_eq!(g.select(hash), g.select(hash));
        }
        let seen = spread(&g, 3000);
        assert!(seen.iter().all(|&c| c > 800), "{seen:?}");
        let single = NextHopGroup::single(NextHop::tunnel(9));
        assert_eq!(single.select(u32::MAX), &NextHop::tunnel(9));
        assert_eq!(single.select(0), &NextHop::tunnel(9));
        // `new` of one member is the same group as `single`.
        assert_eq!(NextHopGroup::new([NextHop::tunnel(9)]).unwrap(), single);
    }

    #[test]
    fn same_members_same_choice_in_any_order() {
        let hops: Vec<_> = (0..5).map(|p| NextHop::tunnel(p * 7)).collect();
        let a = NextHopGroup::new(hops.clone()).unwrap();
        let b = NextHopGroup::new(hops.into_iter().rev()).unwrap();
        for h in (0..u32::MAX).step_by(65_537) {
            assert_eq!(a.select(h), b.select(h));
        }
    }

    /// Which member a bucket goes to depends on the members alone, with no
    /// seed: pinned to golden values (the first 16 buckets of a group of two
    /// tunnels), so two workers, two runs and `vcpectl explain` agree.
    #[test]
    fn buckets_are_seedless() {
        let g = NextHopGroup::new([NextHop::tunnel(1), NextHop::tunnel(2)]).unwrap();
        let first: Vec<usize> = (0..16u32).map(|b| g.select_index(b << 22)).collect();
        let again = std::thread::spawn(move || {
            let g = NextHopGroup::new([NextHop::tunnel(2), NextHop::tunnel(1)]).unwrap();
            (0..16u32)
                .map(|b| g.select_index(b << 22))
                .collect::<Vec<_>>()
        });
        assert_eq!(again.join().unwrap(), first);
        assert_eq!(first, GOLDEN);
    }

    #[test]
    fn two_members_share_evenly() {
        let g = NextHopGroup::new([NextHop::tunnel(1), NextHop::tunnel(2)]).unwrap();
        let seen = spread(&g, 100_000);
        assert!(
            seen.iter().all(|&c| (40_000..60_000).contains(&c)),
            "{seen:?}"
        );
    }

    fn hop(id: u32, gw: Option<u8>) -> NextHop {
        let h = NextHop::tunnel(id % 6);
        match gw {
            Some(o) => h.via(IpAddr::V4(Ipv4Addr::new(10, 0, 0, o))),
            None => h,
        }
    }

    proptest::proptest! {
        /// Removing a member moves exactly the flows that were on it.
        #[test]
        fn removing_a_member_moves_only_its_flows(
            members in proptest::collection::btree_set((0u32..6, proptest::option::of(0u8..4)), 2..8),
            gone in 0usize..8,
            hashes in proptest::collection::vec(proptest::num::u32::ANY, 64),
        ) {
            let hops: Vec<NextHop> = members.iter().map(|&(i, g)| hop(i, g)).collect();
            let full = NextHopGroup::new(hops.clone()).unwrap();
            proptest::prop_assume!(full.len() >= 2);
            let removed = full.hops()[gone % full.len()];
            let rest = NextHopGroup::new(hops.into_iter().filter(|h| *h != removed)).unwrap();
            for h in hashes.into_iter().chain((0..1024).map(|b| b << 22)) {
                let before = full.select(h);
                let after = rest.select(h);
                if *before != removed {
                    proptest::prop_assert_eq!(before, after);
                }
                // Adding the member back (the same as `full`) moves only
                // flows onto it.
                if before != after {
                    proptest::prop_assert_eq!(*before, removed);
                }
            }
        }
    }
}
