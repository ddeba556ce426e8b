//! Tests of BGP's share of the FIB.

use super::*;
use std::sync::Arc;
use vcpe_bgp::model::PathAttributes;
use vcpe_bgp::rib::{BestRoute, MultipathMember, PeerId, Reason};
use vcpe_forwarding::fib::{Egress, Fib};

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn learned(prefix: &str, nh: &str) -> FibUpdate {
    FibUpdate::from(BestChange::Add {
        prefix: net(prefix),
        route: BestRoute {
            next_hop: Some(nh.parse().unwrap()),
            source: RouteSource::Peer(PeerId(0)),
            attrs: Arc::new(PathAttributes::default()),
            reason: Reason::OnlyPath,
            multipath: Box::default(),
        },
    })
}

/// Tunnel `i`'s peer, allowed to send from `allowed` (its inner
/// addresses: the host routes among them).
fn peer(i: usize, allowed: &[&str]) -> (TunnelId, PeerHops) {
    let allowed: Vec<IpNet> = allowed.iter().map(|a| net(a)).collect();
    let inner = allowed
        .iter()
        .filter(|n| n.prefix_len() == n.max_prefix_len())
        .map(IpNet::addr)
        .collect();
    (TunnelId::from_index(i), PeerHops { inner, allowed })
}

/// A route learned from neighbor `from`.
fn learned_from(prefix: &str, nh: &str, from: u32) -> FibUpdate {
    FibUpdate {
        from: Some(PeerId(from)),
        ..learned(prefix, nh)
    }
}

fn removed(prefix: &str) -> FibUpdate {
    FibUpdate::from(BestChange::Remove {
        prefix: net(prefix),
    })
}

fn egress_of(fib: &FibWriter, prefix: &str) -> Option<(Egress, Option<IpAddr>)> {
    let h = fib.exact(net(prefix))?.hops()[0];
    Some((h.egress, h.gateway))
}

fn connected(fib: &mut FibWriter, prefix: &str, port: u32) {
    fib.insert(
        net(prefix),
        NextHopGroup::single(NextHop {
            egress: Egress::Interface(port),
            gateway: None,
        }),
    );
}

#[test]
fn a_learned_route_goes_where_its_next_hop_is_reached() {
    let (mut fib, _reader) = Fib::new();
    connected(&mut fib, "10.0.2.0/24", 1);
    let mut bgp = BgpFib::new([net("10.0.2.0/24")]);
    let r = bgp.apply(&mut fib, vec![learned("192.0.2.0/24", "10.0.2.7")].into());
    assert_eq!((r.changed, r.installed, r.unresolved), (1, 1, 0));
    assert_eq!(
        egress_of(&fib, "192.0.2.0/24"),
        Some((Egress::Interface(1), Some("10.0.2.7".parse().unwrap())))
    );
    let r = bgp.apply(&mut fib, vec![removed("192.0.2.0/24")].into());
    assert_eq!((r.changed, r.installed), (1, 0));
    assert_eq!(egress_of(&fib, "192.0.2.0/24"), None);
}

#[test]
fn a_new_best_path_with_the_same_next_hop_changes_nothing() {
    // E.g. the best path moves from one route reflector's copy to the
    // other's when the first reflector goes: same next hop, same entry.
    let (mut fib, _reader) = Fib::new();
    connected(&mut fib, "10.0.2.0/24", 1);
    let mut bgp = BgpFib::new([net("10.0.2.0/24")]);
    let r = bgp.apply(&mut fib, vec![learned("192.0.2.0/24", "10.0.2.7")].into());
    assert_eq!(r.changed, 1);
    let r = bgp.apply(&mut fib, vec![learned("192.0.2.0/24", "10.0.2.7")].into());
    assert_eq!((r.changed, r.installed), (0, 1), "not counted as a change");
    let r = bgp.apply(&mut fib, vec![learned("192.0.2.0/24", "10.0.2.8")].into());
    assert_eq!(r.changed, 1, "another next hop is a change");
}

#[test]
fn a_route_learned_over_a_tunnel_goes_into_it() {
    let (mut fib, _reader) = Fib::new();
    // The next hop (the peer's inner address) is also reachable on an
    // interface: the tunnel the neighbor runs over wins.
    connected(&mut fib, "10.255.0.0/24", 0);
    let mut bgp = BgpFib::new([net("10.255.0.0/24")])
        .with_tunnels(vec![Some(TunnelId::from_index(3))], [])
        .with_peer_hops([peer(3, &["10.255.0.2/32", "10.2.0.0/16"])]);
    let r = bgp.apply(&mut fib, vec![learned("10.2.1.0/24", "10.255.0.2")].into());
    assert_eq!((r.changed, r.installed), (1, 1));
    assert_eq!(
        egress_of(&fib, "10.2.1.0/24"),
        Some((Egress::Tunnel(3), Some("10.255.0.2".parse().unwrap())))
    );
}

#[test]
fn kernel_sync_hears_which_prefixes_go_into_a_tunnel() {
    let (mut fib, _reader) = Fib::new();
    connected(&mut fib, "10.0.2.0/24", 1);
    let mut bgp = BgpFib::new([net("10.0.2.0/24")])
        .with_tunnels(vec![Some(TunnelId::from_index(3))], [])
        .with_peer_hops([peer(3, &["10.255.0.0/24"])]);
    bgp.apply(&mut fib, vec![learned("10.2.1.0/24", "10.255.0.2")].into());
    assert_eq!(bgp.take_tunnel_changes(), vec![], "off until asked");
    bgp.record_tunnel_changes();
    bgp.apply(
        &mut fib,
        vec![
            learned("10.2.1.0/24", "10.255.0.2"),
            removed("10.3.1.0/24"),
            learned("10.0.2.0/24", "10.255.0.2"), // a config prefix: not BGP's
        ]
        .into(),
    );
    assert_eq!(
        bgp.take_tunnel_changes(),
        vec![(net("10.2.1.0/24"), true), (net("10.3.1.0/24"), false)]
    );
    bgp.apply(&mut fib, vec![removed("10.2.1.0/24")].into());
    assert_eq!(bgp.take_tunnel_changes(), vec![(net("10.2.1.0/24"), false)]);
    // A route out of an interface (the kernel's own way) is no tunnel's.
    let mut plain = BgpFib::new([net("10.0.2.0/24")]);
    plain.record_tunnel_changes();
    plain.apply(&mut fib, vec![learned("192.0.2.0/24", "10.0.2.7")].into());
    assert_eq!(
        plain.take_tunnel_changes(),
        vec![(net("192.0.2.0/24"), false)]
    );
    // One resolved later, on retry, is heard too.
    let mut later = BgpFib::new([]).with_tunnels(vec![None], []);
    later.record_tunnel_changes();
    later.apply(
        &mut fib,
        vec![learned("198.18.0.0/15", "172.16.0.1")].into(),
    );
    fib.insert(
        net("172.16.0.0/16"),
        NextHopGroup::single(NextHop::tunnel(2)),
    );
    later.apply(&mut fib, vec![learned("172.17.0.0/16", "10.0.2.7")].into());
    let heard = later.take_tunnel_changes();
    assert!(heard.contains(&(net("198.18.0.0/15"), true)), "{heard:?}");
}

#[test]
fn a_next_hop_at_a_peer_s_underlay_address_means_its_tunnel() {
    // A session over the underlay: the neighbor names no peer, its
    // next hop is the peer vCPE's public address.
    let (mut fib, _reader) = Fib::new();
    let mut bgp = BgpFib::new([]).with_tunnels(
        vec![None],
        [("198.51.100.2".parse().unwrap(), TunnelId::from_index(1))],
    );
    let r = bgp.apply(
        &mut fib,
        vec![learned("10.2.1.0/24", "198.51.100.2")].into(),
    );
    assert_eq!((r.installed, r.unresolved), (1, 0));
    assert_eq!(
        egress_of(&fib, "10.2.1.0/24").map(|e| e.0),
        Some(Egress::Tunnel(1))
    );
}

#[test]
fn a_peer_added_by_reload_maps_its_endpoint_to_its_tunnel() {
    let (mut fib, _reader) = Fib::new();
    let mut bgp = BgpFib::new([]).with_tunnels(vec![None], []);
    // Before: the next hop is no tunnel's endpoint (and unreachable).
    let r = bgp.apply(
        &mut fib,
        vec![learned("10.4.1.0/24", "198.51.100.4")].into(),
    );
    assert_eq!((r.installed, r.unresolved), (0, 1));
    // A reload added the peer at 198.51.100.4 as tunnel 7.
    bgp.set_endpoints([("198.51.100.4".parse().unwrap(), TunnelId::from_index(7))]);
    bgp.apply(
        &mut fib,
        vec![learned("10.4.2.0/24", "198.51.100.4")].into(),
    );
    assert_eq!(
        egress_of(&fib, "10.4.2.0/24").map(|e| e.0),
        Some(Egress::Tunnel(7))
    );
    // Removed again: new routes there no longer go into it.
    bgp.set_endpoints([]);
    bgp.apply(
        &mut fib,
        vec![learned("10.4.3.0/24", "198.51.100.4")].into(),
    );
    assert_eq!(egress_of(&fib, "10.4.3.0/24"), None);
}

#[test]
fn config_prefixes_win() {
    let (mut fib, _reader) = Fib::new();
    connected(&mut fib, "10.0.2.0/24", 1);
    let mut bgp = BgpFib::new([net("10.0.2.0/24")]);
    let r = bgp.apply(&mut fib, vec![learned("10.0.2.0/24", "10.0.2.7")].into());
    assert_eq!(r.changed, 0);
    assert_eq!(
        egress_of(&fib, "10.0.2.0/24"),
        Some((Egress::Interface(1), None))
    );
}

#[test]
fn an_unresolved_route_is_installed_once_its_next_hop_is_reached() {
    let (mut fib, _reader) = Fib::new();
    let mut bgp = BgpFib::new([net("10.0.2.0/24")]);
    // The next hop 172.16.0.1 is reached through another BGP route
    // that arrives later.
    let r = bgp.apply(&mut fib, vec![learned("192.0.2.0/24", "172.16.0.1")].into());
    assert_eq!((r.changed, r.installed, r.unresolved), (0, 0, 1));
    connected(&mut fib, "10.0.2.0/24", 1);
    let r = bgp.apply(&mut fib, vec![learned("172.16.0.0/16", "10.0.2.9")].into());
    assert_eq!((r.changed, r.installed, r.unresolved), (2, 2, 0));
    assert_eq!(
        egress_of(&fib, "192.0.2.0/24"),
        Some((Egress::Interface(1), Some("10.0.2.9".parse().unwrap())))
    );
}

#[test]
fn a_withdrawn_unresolved_route_is_forgotten() {
    let (mut fib, _reader) = Fib::new();
    let mut bgp = BgpFib::new([net("10.0.2.0/24")]);
    bgp.apply(&mut fib, vec![learned("192.0.2.0/24", "172.16.0.1")].into());
    let r = bgp.apply(&mut fib, vec![removed("192.0.2.0/24")].into());
    assert_eq!(r.unresolved, 0);
    connected(&mut fib, "10.0.2.0/24", 1);
    let r = bgp.apply(&mut fib, vec![learned("172.16.0.0/16", "10.0.2.9")].into());
    assert_eq!((r.installed, r.unresolved), (1, 0));
    assert_eq!(egress_of(&fib, "192.0.2.0/24"), None);
}

#[test]
fn a_multipath_route_becomes_one_group_of_its_tunnels() {
    let (mut fib, _reader) = Fib::new();
    let tunnels = vec![Some(TunnelId::from_index(0)), Some(TunnelId::from_index(1))];
    let mut bgp = BgpFib::new([])
        .with_tunnels(tunnels, [])
        .with_peer_hops([peer(0, &["10.255.1.2/32"]), peer(1, &["10.255.2.2/32"])]);
    let ecmp = |members: &[(u32, &str)]| {
        let mut b = FibBatch::default();
        b.push_change(BestChange::Replace {
            prefix: net("10.2.0.0/16"),
            route: BestRoute {
                next_hop: Some(members[0].1.parse().unwrap()),
                source: RouteSource::Peer(PeerId(members[0].0)),
                attrs: Arc::new(PathAttributes::default()),
                reason: Reason::LowerRouterId(
                    "10.0.0.1".parse().unwrap(),
                    "10.0.0.2".parse().unwrap(),
                ),
                multipath: members[1..]
                    .iter()
                    .map(|&(id, nh)| MultipathMember {
                        next_hop: Some(nh.parse().unwrap()),
                        source: RouteSource::Peer(PeerId(id)),
                    })
                    .collect(),
            },
        });
        b
    };
    let r = bgp.apply(&mut fib, ecmp(&[(0, "10.255.1.2"), (1, "10.255.2.2")]));
    assert_eq!((r.changed, r.installed), (1, 1));
    let want = NextHopGroup::new([
        NextHop::tunnel(0).via("10.255.1.2".parse().unwrap()),
        NextHop::tunnel(1).via("10.255.2.2".parse().unwrap()),
    ])
    .unwrap();
    assert_eq!(fib.exact(net("10.2.0.0/16")), Some(&want));
    // One member left (the other's session went down): a single hop.
    bgp.apply(&mut fib, vec![learned("10.2.0.0/16", "10.255.1.2")].into());
    assert_eq!(
        egress_of(&fib, "10.2.0.0/16"),
        Some((Egress::Tunnel(0), Some("10.255.1.2".parse().unwrap())))
    );
    assert_eq!(
        fib.exact(net("10.2.0.0/16")).map(NextHopGroup::len),
        Some(1)
    );
}

/// A reflector (neighbor 0) over tunnel 1 passes on vCPE C's route with
/// C's inner address as next hop; C is tunnel 2, also inside the
/// connected TUN subnet.
fn reflected() -> (FibWriter, BgpFib) {
    let (mut fib, _reader) = Fib::new();
    connected(&mut fib, "10.255.0.0/24", 0);
    connected(&mut fib, "fd00:255::/64", 0);
    let bgp = BgpFib::new([net("10.255.0.0/24"), net("fd00:255::/64")])
        .with_tunnels(vec![Some(TunnelId::from_index(1)), None], [])
        .with_peer_hops([
            peer(1, &["10.255.0.2/32", "10.2.0.0/16"]),
            peer(2, &["10.255.0.3/32", "fd00:255::3/128", "10.3.0.0/16"]),
        ]);
    (fib, bgp)
}

#[test]
fn a_reflected_next_hop_at_a_peer_s_inner_address_goes_into_its_tunnel() {
    let (mut fib, mut bgp) = reflected();
    let r = bgp.apply(
        &mut fib,
        vec![
            // Over the reflector's tunnel, and from a neighbor over the
            // underlay (neighbor 1).
            learned_from("10.3.1.0/24", "10.255.0.3", 0),
            learned_from("fd00:3:1::/64", "fd00:255::3", 1),
        ]
        .into(),
    );
    assert_eq!((r.installed, r.unresolved), (2, 0));
    assert_eq!(
        egress_of(&fib, "10.3.1.0/24"),
        Some((Egress::Tunnel(2), Some("10.255.0.3".parse().unwrap())))
    );
    assert_eq!(
        egress_of(&fib, "fd00:3:1::/64"),
        Some((Egress::Tunnel(2), Some("fd00:255::3".parse().unwrap())))
    );
}

#[test]
fn a_session_s_tunnel_takes_only_routes_whose_next_hop_is_its_peer_s() {
    let (mut fib, mut bgp) = reflected();
    // 10.2.9.9 is behind the reflector's vCPE: into its tunnel. 10.255.0.9
    // is nobody's inner address: the FIB's connected route, not tunnel 1.
    bgp.apply(
        &mut fib,
        vec![
            learned_from("10.2.1.0/24", "10.2.9.9", 0),
            learned_from("10.9.1.0/24", "10.255.0.9", 0),
        ]
        .into(),
    );
    assert_eq!(
        egress_of(&fib, "10.2.1.0/24").map(|e| e.0),
        Some(Egress::Tunnel(1))
    );
    assert_eq!(
        egress_of(&fib, "10.9.1.0/24").map(|e| e.0),
        Some(Egress::Interface(0))
    );
}

#[test]
fn a_reload_that_adds_a_peer_s_inner_address_installs_the_routes_waiting_for_it() {
    let (mut fib, _reader) = Fib::new();
    let mut bgp = BgpFib::new([]).with_tunnels(vec![None], []);
    let r = bgp.apply(&mut fib, vec![learned("10.4.1.0/24", "10.254.0.4")].into());
    assert_eq!((r.installed, r.unresolved), (0, 1));
    let installed = bgp.set_peer_hops(&mut fib, [peer(7, &["10.254.0.4/32"])]);
    assert_eq!(installed, 1);
    assert_eq!(
        egress_of(&fib, "10.4.1.0/24"),
        Some((Egress::Tunnel(7), Some("10.254.0.4".parse().unwrap())))
    );
    // Gone again: the installed route leaves the FIB and waits, and so
    // do new ones there.
    assert_eq!(bgp.set_peer_hops(&mut fib, []), 1);
    assert_eq!(egress_of(&fib, "10.4.1.0/24"), None);
    let r = bgp.apply(&mut fib, vec![learned("10.4.2.0/24", "10.254.0.4")].into());
    assert_eq!(r.unresolved, 2);
}

#[test]
fn a_reload_that_adds_a_peer_s_inner_address_moves_routes_installed_elsewhere() {
    // Learned before the peer was known: resolved by the connected TUN
    // subnet. The reload that adds the peer moves it into its tunnel; the
    // one that removes the peer puts it back.
    let (mut fib, _reader) = Fib::new();
    connected(&mut fib, "10.255.0.0/24", 0);
    let mut bgp = BgpFib::new([net("10.255.0.0/24")]).with_tunnels(vec![None], []);
    bgp.record_tunnel_changes();
    bgp.apply(&mut fib, vec![learned("10.4.1.0/24", "10.255.0.4")].into());
    assert_eq!(
        egress_of(&fib, "10.4.1.0/24").map(|e| e.0),
        Some(Egress::Interface(0))
    );
    bgp.take_tunnel_changes();
    assert_eq!(
        bgp.set_peer_hops(&mut fib, [peer(4, &["10.255.0.4/32"])]),
        1
    );
    assert_eq!(
        egress_of(&fib, "10.4.1.0/24"),
        Some((Egress::Tunnel(4), Some("10.255.0.4".parse().unwrap())))
    );
    assert_eq!(bgp.take_tunnel_changes(), vec![(net("10.4.1.0/24"), true)]);
    // A reload that leaves the addresses alone changes nothing.
    assert_eq!(
        bgp.set_peer_hops(&mut fib, [peer(4, &["10.255.0.4/32"])]),
        0
    );
    assert_eq!(bgp.set_peer_hops(&mut fib, []), 1);
    assert_eq!(
        egress_of(&fib, "10.4.1.0/24").map(|e| e.0),
        Some(Egress::Interface(0))
    );
}
