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
fn a_route_learned_over_a_tunnel_goes_into_it() {
    let (mut fib, _reader) = Fib::new();
    // The next hop (the peer's inner address) is also reachable on an
    // interface: the tunnel the neighbor runs over wins.
    connected(&mut fib, "10.255.0.0/24", 0);
    let mut bgp =
        BgpFib::new([net("10.255.0.0/24")]).with_tunnels(vec![Some(TunnelId::from_index(3))], []);
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
    let mut bgp =
        BgpFib::new([net("10.0.2.0/24")]).with_tunnels(vec![Some(TunnelId::from_index(3))], []);
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
    let mut bgp = BgpFib::new([]).with_tunnels(tunnels, []);
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
