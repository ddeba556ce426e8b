//! Which tunnel a BGP next hop names: the index of the tunnel peers'
//! inner addresses and allowed prefixes that [`super::BgpFib`] places
//! learned routes by, before it asks the FIB.
//!
//! The order (first match wins):
//! 1. the next hop is a peer's inner address (`next_hops`, or a host
//!    route of its `allowed_prefixes`): that peer's tunnel, whichever
//!    neighbor the route came from (a reflector, a neighbor over another
//!    tunnel, one over the underlay);
//! 2. it is a peer's fixed underlay endpoint: that peer's tunnel;
//! 3. the route came from a neighbor over tunnel X (`peer = X`) and the
//!    next hop is inside X's `allowed_prefixes` (the neighbor's own
//!    address is, by validation): tunnel X;
//! 4. otherwise nothing here: the FIB resolves it like any address.

use std::net::IpAddr;

use ipnet::IpNet;
use rustc_hash::FxHashMap;

use crate::topology::{PeerHops, TunnelId};

/// The tunnel peers' addresses, by what a next hop is matched against.
#[derive(Debug, Default, Clone)]
pub struct TunnelHops {
    /// Inner addresses to their tunnel.
    inner: FxHashMap<IpAddr, TunnelId>,
    /// Each tunnel's allowed prefixes.
    allowed: FxHashMap<TunnelId, Vec<IpNet>>,
    /// Tunnels by their peer's fixed underlay address.
    endpoints: FxHashMap<IpAddr, TunnelId>,
}

impl TunnelHops {
    /// The index of `peers` (every running tunnel's addresses).
    pub fn new(peers: impl IntoIterator<Item = (TunnelId, PeerHops)>) -> TunnelHops {
        let mut t = TunnelHops::default();
        t.set_peers(peers);
        t
    }

    /// The tunnels' inner addresses and allowed prefixes are now `peers`.
    pub fn set_peers(&mut self, peers: impl IntoIterator<Item = (TunnelId, PeerHops)>) {
        self.inner.clear();
        self.allowed.clear();
        for (id, p) in peers {
            for a in p.inner {
                self.inner.insert(a, id);
            }
            self.allowed.insert(id, p.allowed);
        }
    }

    /// The tunnels by their peers' underlay addresses are now `endpoints`.
    pub fn set_endpoints(&mut self, endpoints: impl IntoIterator<Item = (IpAddr, TunnelId)>) {
        self.endpoints = endpoints.into_iter().collect();
    }

    /// The tunnel whose inner address or endpoint `nh` is (rules 1, 2).
    pub fn named(&self, nh: IpAddr) -> Option<TunnelId> {
        self.inner
            .get(&nh)
            .or_else(|| self.endpoints.get(&nh))
            .copied()
    }

    /// The tunnel a route with next hop `nh`, learned from a neighbor over
    /// tunnel `over` (if any), goes into; `None`: ask the FIB (rule 4).
    pub fn place(&self, nh: IpAddr, over: Option<TunnelId>) -> Option<TunnelId> {
        self.named(nh).or_else(|| {
            let t = over?;
            self.allowed
                .get(&t)?
                .iter()
                .any(|p| p.contains(&nh))
                .then_some(t)
        })
    }

    /// Every inner address with its tunnel.
    pub fn inner(&self) -> impl Iterator<Item = (IpAddr, TunnelId)> + '_ {
        self.inner.iter().map(|(a, t)| (*a, *t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// b (tunnel 1) is the reflector's tunnel; c (tunnel 2) is a vCPE
    /// reached directly; d (tunnel 3) is a hub relaying a whole range.
    fn hops() -> TunnelHops {
        let mut t = TunnelHops::new([
            (
                TunnelId::from_index(1),
                PeerHops {
                    inner: vec![ip("10.255.0.2"), ip("fd00:255::2")],
                    allowed: vec![
                        "10.255.0.2/32".parse().unwrap(),
                        "10.2.0.0/16".parse().unwrap(),
                    ],
                },
            ),
            (
                TunnelId::from_index(2),
                PeerHops {
                    inner: vec![ip("10.255.0.3"), ip("fd00:255::3")],
                    allowed: vec!["10.255.0.3/32".parse().unwrap()],
                },
            ),
            (
                TunnelId::from_index(3),
                PeerHops {
                    inner: vec![],
                    allowed: vec!["10.0.0.0/8".parse().unwrap(), "fd00::/16".parse().unwrap()],
                },
            ),
        ]);
        t.set_endpoints([(ip("198.51.100.3"), TunnelId::from_index(2))]);
        t
    }

    #[test]
    fn an_inner_address_names_its_tunnel_whoever_sent_the_route() {
        let t = hops();
        let c = Some(TunnelId::from_index(2));
        // Reflected over b's tunnel, from the underlay, from c itself.
        for over in [Some(TunnelId::from_index(1)), None, c] {
            assert_eq!(t.place(ip("10.255.0.3"), over), c, "{over:?}");
            assert_eq!(t.place(ip("fd00:255::3"), over), c, "{over:?}");
        }
        // Even over the hub, whose allowed range holds c's address.
        assert_eq!(t.place(ip("10.255.0.3"), Some(TunnelId::from_index(3))), c);
    }

    #[test]
    fn an_endpoint_names_its_tunnel() {
        assert_eq!(
            hops().place(ip("198.51.100.3"), None),
            Some(TunnelId::from_index(2))
        );
    }

    #[test]
    fn a_session_s_tunnel_takes_only_next_hops_that_are_its_peer_s() {
        let t = hops();
        let b = Some(TunnelId::from_index(1));
        // The neighbor's own address, and one behind it.
        assert_eq!(t.place(ip("10.255.0.2"), b), b);
        assert_eq!(t.place(ip("10.2.7.1"), b), b);
        // Someone else's next hop: not into b, the FIB decides.
        assert_eq!(t.place(ip("10.9.0.1"), b), None);
        assert_eq!(t.place(ip("fd00:9::1"), b), None);
        // A hub relays its whole range (the v6 next hop of an IPv4
        // session included).
        let hub = Some(TunnelId::from_index(3));
        assert_eq!(t.place(ip("fd00:255::7"), hub), hub);
        // Over the underlay, an unknown address is the FIB's.
        assert_eq!(t.place(ip("10.2.7.1"), None), None);
    }

    #[test]
    fn a_reload_replaces_the_addresses() {
        let mut t = hops();
        t.set_peers([(
            TunnelId::from_index(4),
            PeerHops {
                inner: vec![ip("10.255.0.3")],
                allowed: vec![],
            },
        )]);
        assert_eq!(
            t.place(ip("10.255.0.3"), None),
            Some(TunnelId::from_index(4))
        );
        assert_eq!(t.place(ip("fd00:255::3"), None), None);
        assert_eq!(t.inner().count(), 1);
    }
}
