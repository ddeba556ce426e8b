//! The eBGP first-AS check on receive (RFC 4271 §6.3, handled as
//! treat-as-withdraw per RFC 7606 §7.2): [`super::Rib::apply`] with
//! [`super::PeerConfig::enforce_first_as`].

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use super::{LocalConfig, PeerConfig, PeerId, PeerUp, Rib};
use crate::model::{AddrFamily, AsPath, AsSegment, PathAttributes};

const LOCAL_AS: u32 = 65000;
const PEER_AS: u32 = 64501;

fn rib() -> Rib {
    Rib::new(LocalConfig {
        asn: LOCAL_AS,
        router_id: Ipv4Addr::new(10, 255, 255, 1),
    })
}

fn net(s: &str) -> IpNet {
    s.parse().expect("test prefix")
}

/// Peer `n` (192.0.2.n) in `asn`, up with IPv4 unicast, initial dump taken.
fn peer(rib: &mut Rib, n: u8, asn: u32, enforce_first_as: bool) -> PeerId {
    let id = PeerId(u32::from(n));
    let mut cfg = PeerConfig::new(asn, IpAddr::V4(Ipv4Addr::new(192, 0, 2, n)));
    cfg.local_addr_v4 = Some(Ipv4Addr::new(192, 0, 2, 254));
    cfg.enforce_first_as = enforce_first_as;
    rib.add_peer(id, cfg);
    rib.peer_up(
        id,
        PeerUp {
            router_id: Ipv4Addr::new(10, 0, 0, n),
            families: vec![AddrFamily::IPV4_UNICAST],
            four_octet_as: true,
            add_path_receive: Default::default(),
            add_path_send: Default::default(),
        },
    );
    rib.take_exports(id);
    id
}

fn attrs(path: AsPath) -> PathAttributes {
    PathAttributes {
        as_path: path,
        next_hop: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
        ..PathAttributes::default()
    }
}

#[test]
fn first_as_not_the_peers_is_withdrawn_and_counted() {
    let mut rib = rib();
    let p = peer(&mut rib, 1, PEER_AS, true);
    let announced = [net("10.0.0.0/24"), net("10.0.1.0/24")];
    let a = attrs(AsPath::sequence(vec![64999, PEER_AS]));
    let out = rib.apply(p, &[], &announced, Some(&a)).expect("no limit");
    assert_eq!((out.accepted, out.first_as, out.withdrawn), (0, 2, 0));
    assert!(rib.best(announced[0]).is_none());
    let c = rib.peer_counts(p).expect("peer");
    // Treat-as-withdraw: not "received then filtered", simply withdrawn.
    assert_eq!((c.received, c.accepted, c.filtered), (0, 0, 0));
    assert_eq!((c.first_as_total, c.looped_total), (2, 0));
    assert!(rib.take_fib_changes().is_empty());
}

#[test]
fn empty_or_set_first_path_from_ebgp_fails_the_check() {
    // No leftmost AS_SEQUENCE AS: an eBGP speaker always prepends one
    // (RFC 4271 §5.1.2), so there is no AS equal to the peer's.
    let mut rib = rib();
    let p = peer(&mut rib, 1, PEER_AS, true);
    let empty = attrs(AsPath::default());
    let out = rib
        .apply(p, &[], &[net("10.0.0.0/24")], Some(&empty))
        .expect("no limit");
    assert_eq!((out.accepted, out.first_as), (0, 1));
    let set_first = attrs(AsPath::from(vec![
        AsSegment::Set(vec![PEER_AS, 64999]),
        AsSegment::Sequence(vec![64998]),
    ]));
    let out = rib
        .apply(p, &[], &[net("10.0.1.0/24")], Some(&set_first))
        .expect("no limit");
    assert_eq!((out.accepted, out.first_as), (0, 1));
    assert_eq!(rib.peer_counts(p).expect("peer").first_as_total, 2);
}

#[test]
fn bad_update_removes_the_route_accepted_before() {
    let mut rib = rib();
    let p = peer(&mut rib, 1, PEER_AS, true);
    let n = net("10.0.0.0/24");
    let good = attrs(AsPath::sequence(vec![PEER_AS, 64999]));
    let out = rib.apply(p, &[], &[n], Some(&good)).expect("no limit");
    assert_eq!(out.accepted, 1);
    assert!(rib.best(n).is_some());
    rib.take_fib_changes();

    let bad = attrs(AsPath::sequence(vec![64999]));
    let out = rib.apply(p, &[], &[n], Some(&bad)).expect("no limit");
    assert_eq!((out.accepted, out.first_as, out.withdrawn), (0, 1, 1));
    assert_eq!(out.best_changed, 1);
    assert!(rib.best(n).is_none(), "the earlier path is gone");
    let c = rib.peer_counts(p).expect("peer");
    assert_eq!((c.accepted, c.first_as_total), (0, 1));
    assert_eq!(
        rib.take_fib_changes(),
        vec![super::BestChange::Remove { prefix: n }],
        "the FIB is told to remove it"
    );
}

#[test]
fn withdrawals_in_a_bad_update_still_apply() {
    let mut rib = rib();
    let p = peer(&mut rib, 1, PEER_AS, true);
    let good = attrs(AsPath::sequence(vec![PEER_AS]));
    rib.apply(p, &[], &[net("10.0.0.0/24")], Some(&good))
        .expect("no limit");
    let bad = attrs(AsPath::sequence(vec![64999]));
    let out = rib
        .apply(p, &[net("10.0.0.0/24")], &[net("10.0.1.0/24")], Some(&bad))
        .expect("no limit");
    assert_eq!((out.withdrawn, out.first_as), (1, 1));
    assert_eq!(rib.peer_counts(p).expect("peer").accepted, 0);
}

#[test]
fn option_off_accepts_a_route_server_path() {
    // An IXP route server (AS 64600) passes on a member's path unchanged.
    let mut rib = rib();
    let p = peer(&mut rib, 1, 64600, false);
    let a = attrs(AsPath::sequence(vec![PEER_AS, 64999]));
    let out = rib
        .apply(p, &[], &[net("10.0.0.0/24")], Some(&a))
        .expect("no limit");
    assert_eq!((out.accepted, out.first_as), (1, 0));
    assert!(rib.best(net("10.0.0.0/24")).is_some());
    assert_eq!(rib.peer_counts(p).expect("peer").first_as_total, 0);
}

#[test]
fn ibgp_is_not_checked() {
    // Routes from inside the AS carry the neighbor AS's path unchanged (or
    // none at all): the check is for external peers only.
    let mut rib = rib();
    let p = peer(&mut rib, 1, LOCAL_AS, true);
    for (prefix, path) in [
        ("10.0.0.0/24", AsPath::sequence(vec![64999])),
        ("10.0.1.0/24", AsPath::default()),
    ] {
        let out = rib
            .apply(p, &[], &[net(prefix)], Some(&attrs(path)))
            .expect("no limit");
        assert_eq!((out.accepted, out.first_as), (1, 0));
    }
    assert_eq!(rib.peer_counts(p).expect("peer").first_as_total, 0);
}

#[test]
fn matching_first_as_is_accepted() {
    let mut rib = rib();
    let p = peer(&mut rib, 1, PEER_AS, true);
    let a = attrs(AsPath::sequence(vec![PEER_AS, PEER_AS, 64999]));
    let out = rib
        .apply(p, &[], &[net("10.0.0.0/24")], Some(&a))
        .expect("no limit");
    assert_eq!((out.accepted, out.first_as), (1, 0));
}

#[test]
fn unencodable_exports_are_counted() {
    let mut rib = rib();
    let p = peer(&mut rib, 1, PEER_AS, true);
    rib.count_unencodable(p, 3);
    rib.count_unencodable(p, 2);
    rib.count_unencodable(PeerId(99), 7);
    assert_eq!(rib.peer_counts(p).expect("peer").unencodable_total, 5);
}
