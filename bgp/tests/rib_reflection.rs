//! Route reflection (RFC 4456), sans I/O: the client rules on import (our
//! own route or our cluster coming back is ignored and counted), best path
//! with ORIGINATOR_ID and CLUSTER_LIST (§9), and the reflector's export
//! rules (§8): who gets what, with which attributes.

use std::cmp::Ordering;
use std::net::{IpAddr, Ipv4Addr};

use vcpe_bgp::model::PathAttributes;
use vcpe_bgp::rib::{
    Candidate, CandidateSource, PeerConfig, PeerId, Reason, Rib, RouteSource, compare,
    multipath_equal,
};

#[path = "rib_helpers.rs"]
mod helpers;
use helpers::*;

/// Our router id in [`rib`].
const OURS: Ipv4Addr = Ipv4Addr::new(10, 255, 255, 1);

fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("test address")
}

/// iBGP attributes: empty AS path, LOCAL_PREF 100, next hop 198.51.100.n.
fn ibgp_attrs(n: u8) -> PathAttributes {
    PathAttributes {
        local_pref: Some(100),
        next_hop: Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, n))),
        ..attrs(&[])
    }
}

/// An iBGP peer `n`, a route-reflector client when `client`, with
/// next-hop-self on (as the daemon configures every neighbor): reflected
/// routes must keep their next hop all the same.
fn ibgp_peer(rib: &mut Rib, n: u8, client: bool) -> PeerId {
    let mut c: PeerConfig = peer_config(LOCAL_AS, n);
    c.route_reflector_client = client;
    c.next_hop_self = true;
    let id = add_up(rib, n, c);
    rib.take_exports(id);
    id
}

// ---- Best path (RFC 4456 §9) ----

fn cand(attrs: &PathAttributes, rid: u8, addr: u8) -> Candidate<'_> {
    Candidate {
        attrs,
        source: CandidateSource::Peer {
            ebgp: false,
            router_id: Ipv4Addr::new(10, 0, 0, rid),
            addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, addr)),
        },
    }
}

#[test]
fn originator_id_stands_for_the_router_id() {
    // Both via the reflector 10.0.0.9: without ORIGINATOR_ID they would
    // tie up to the peer address. With it, the lower originator wins.
    let mut a = ibgp_attrs(1);
    a.set_originator_id(Some(ip("10.0.0.5")));
    a.set_cluster_list(vec![ip("10.0.0.9")].into());
    let mut b = ibgp_attrs(2);
    b.set_originator_id(Some(ip("10.0.0.3")));
    b.set_cluster_list(vec![ip("10.0.0.9")].into());
    let (x, y) = (cand(&a, 9, 1), cand(&b, 9, 2));
    assert_eq!(
        compare(&y, &x),
        (
            Ordering::Less,
            Reason::LowerOriginatorId(ip("10.0.0.3"), ip("10.0.0.5"))
        )
    );
    assert_eq!(
        compare(&x, &y),
        (
            Ordering::Greater,
            Reason::LowerOriginatorId(ip("10.0.0.3"), ip("10.0.0.5"))
        )
    );
    // A reflected path against a direct one: the originator (10.0.0.5) is
    // compared with the direct peer's router id (10.0.0.4).
    let direct = ibgp_attrs(3);
    let d = cand(&direct, 4, 3);
    assert_eq!(
        compare(&d, &x),
        (
            Ordering::Less,
            Reason::LowerOriginatorId(ip("10.0.0.4"), ip("10.0.0.5"))
        )
    );
    // Without ORIGINATOR_ID on either side the plain router id decides.
    let (p, q) = (ibgp_attrs(1), ibgp_attrs(2));
    assert_eq!(
        compare(&cand(&p, 1, 1), &cand(&q, 2, 2)).1,
        Reason::LowerRouterId(ip("10.0.0.1"), ip("10.0.0.2"))
    );
}

#[test]
fn shorter_cluster_list_wins_before_the_peer_address() {
    // Same originator through two reflectors; the path through one
    // cluster beats the one through two, though its peer address is
    // higher.
    let mut one = ibgp_attrs(1);
    one.set_originator_id(Some(ip("10.0.0.7")));
    one.set_cluster_list(vec![ip("10.0.0.9")].into());
    let mut two = one.clone();
    two.set_cluster_list(vec![ip("10.0.0.8"), ip("10.0.0.9")].into());
    let (short, long) = (cand(&one, 9, 200), cand(&two, 8, 1));
    assert_eq!(
        compare(&short, &long),
        (Ordering::Less, Reason::ShorterClusterList(1, 2))
    );
    // Missing counts as length 0: a direct path beats a reflected one of
    // the same originator.
    let direct = ibgp_attrs(1);
    assert_eq!(
        compare(&cand(&direct, 7, 250), &short),
        (Ordering::Less, Reason::ShorterClusterList(0, 1))
    );
    // The router id step comes first: a lower originator with a longer
    // list still wins.
    let mut low = two.clone();
    low.set_originator_id(Some(ip("10.0.0.2")));
    assert_eq!(
        compare(&cand(&low, 8, 1), &short).1,
        Reason::LowerOriginatorId(ip("10.0.0.2"), ip("10.0.0.7"))
    );
    // Both tie-breaks come after the ECMP-relevant steps.
    assert!(multipath_equal(&short, &long));
}

#[test]
fn the_rib_names_the_deciding_reflection_step() {
    let mut rib = rib();
    let r1 = ibgp(&mut rib, 1);
    let r2 = ibgp(&mut rib, 2);
    let mut a = ibgp_attrs(7);
    a.set_originator_id(Some(ip("10.0.0.7")));
    a.set_cluster_list(vec![ip("10.0.0.1")].into());
    let mut b = a.clone();
    b.set_cluster_list(vec![ip("10.0.0.3"), ip("10.0.0.2")].into());
    announce(&mut rib, r2, &["10.7.0.0/16"], &a);
    announce(&mut rib, r1, &["10.7.0.0/16"], &b);
    let best = rib.best(net("10.7.0.0/16")).expect("best");
    assert_eq!(best.source, RouteSource::Peer(r2));
    assert_eq!(best.reason, Reason::ShorterClusterList(1, 2));
    assert_eq!(best.reason.to_string(), "shorter cluster list (1 < 2)");
}

// ---- Import: our own route or cluster coming back ----

#[test]
fn our_originator_id_from_ibgp_is_ignored_and_counted() {
    let mut rib = rib();
    let rr = ibgp(&mut rib, 1);
    let mut own = ibgp_attrs(1);
    own.set_originator_id(Some(OURS));
    own.set_cluster_list(vec![ip("10.0.0.1")].into());
    let out = rib
        .apply(rr, &[], &nets(&["10.1.0.0/24", "10.1.1.0/24"]), Some(&own))
        .expect("no limit");
    assert_eq!((out.accepted, out.reflected_loops, out.looped), (0, 2, 0));
    assert!(rib.best(net("10.1.0.0/24")).is_none());
    let c = rib.peer_counts(rr).expect("peer");
    assert_eq!(
        (c.received, c.accepted, c.filtered, c.reflected_loops_total),
        (2, 0, 2, 2)
    );
    assert_eq!(c.looped_total, 0);
    // Another originator's route from the same reflector is taken.
    let mut other = own.clone();
    other.set_originator_id(Some(ip("10.0.0.2")));
    let out = rib
        .apply(rr, &[], &nets(&["10.2.0.0/24"]), Some(&other))
        .expect("no limit");
    assert_eq!((out.accepted, out.reflected_loops), (1, 0));
    assert_eq!(
        rib.best(net("10.2.0.0/24"))
            .expect("best")
            .attrs
            .originator_id(),
        Some(ip("10.0.0.2"))
    );
}

#[test]
fn our_cluster_id_in_the_cluster_list_is_a_loop() {
    let mut rib = rib();
    let rr = ibgp(&mut rib, 1);
    // Default cluster id: the router id.
    assert_eq!(rib.cluster_id(), OURS);
    let mut a = ibgp_attrs(1);
    a.set_originator_id(Some(ip("10.0.0.2")));
    a.set_cluster_list(vec![ip("10.0.0.1"), OURS].into());
    announce(&mut rib, rr, &["10.3.0.0/24"], &a);
    assert!(rib.best(net("10.3.0.0/24")).is_none());
    // A configured cluster id replaces it.
    rib.set_cluster_id(Some(ip("192.0.2.100")));
    assert_eq!(rib.cluster_id(), ip("192.0.2.100"));
    announce(&mut rib, rr, &["10.3.0.0/24"], &a);
    assert!(
        rib.best(net("10.3.0.0/24")).is_some(),
        "router id no longer a cluster id"
    );
    let mut b = a.clone();
    b.set_cluster_list(vec![ip("192.0.2.100")].into());
    announce(&mut rib, rr, &["10.3.0.0/24"], &b);
    assert!(
        rib.best(net("10.3.0.0/24")).is_none(),
        "the loop withdraws the previous path"
    );
    assert_eq!(rib.peer_counts(rr).expect("peer").reflected_loops_total, 2);
}

#[test]
fn reflection_attributes_from_ebgp_are_discarded_not_loops() {
    // RFC 7606 §7.9/§7.10: from an external neighbor, attribute discard.
    let mut rib = rib();
    let e = ebgp(&mut rib, 1, 64501);
    let mut a = attrs(&[64501]);
    a.set_originator_id(Some(OURS));
    a.set_cluster_list(vec![OURS].into());
    announce(&mut rib, e, &["10.4.0.0/24"], &a);
    let best = rib.best(net("10.4.0.0/24")).expect("accepted");
    assert_eq!(best.attrs.originator_id(), None);
    assert!(best.attrs.cluster_list().is_empty());
    assert_eq!(rib.peer_counts(e).expect("peer").reflected_loops_total, 0);
}

// ---- Export: who gets what (RFC 4456 §8) ----

#[test]
fn without_clients_ibgp_routes_stay_unreflected() {
    let mut rib = rib();
    let a = ibgp_peer(&mut rib, 1, false);
    let b = ibgp_peer(&mut rib, 2, false);
    announce(&mut rib, a, &["10.10.0.0/24"], &ibgp_attrs(1));
    assert!(announced(&rib.take_exports(b)).is_empty());
    assert!(announced(&rib.take_exports(a)).is_empty());
}

#[test]
fn a_clients_route_goes_to_every_other_ibgp_peer_with_originator_and_cluster() {
    let mut rib = rib();
    let c1 = ibgp_peer(&mut rib, 1, true);
    let c2 = ibgp_peer(&mut rib, 2, true);
    let n = ibgp_peer(&mut rib, 3, false);
    let e = ebgp(&mut rib, 4, 64504);
    let mut a = ibgp_attrs(1);
    a.local_pref = Some(250);
    a.med = Some(7);
    announce(&mut rib, c1, &["10.11.0.0/24"], &a);
    for to in [c2, n] {
        let x = rib.take_exports(to);
        assert_eq!(announced(&x), nets(&["10.11.0.0/24"]), "to {to:?}");
        let out = out_attrs(&x, "10.11.0.0/24").expect("sent");
        // ORIGINATOR_ID: the client's router id; CLUSTER_LIST: ours.
        assert_eq!(out.originator_id(), Some(router_id(1)));
        assert_eq!(out.cluster_list(), &[OURS]);
        // Next hop, LOCAL_PREF, MED, AS path as received.
        assert_eq!(out.next_hop, a.next_hop);
        assert_eq!(out.local_pref, Some(250));
        assert_eq!(out.med, Some(7));
        assert_eq!(out.as_path, a.as_path);
        // What adj-out shows is what was sent.
        let held = rib.adj_out(to);
        assert_eq!(held.len(), 1);
        assert_eq!(*held[0].attrs, out);
    }
    // Never back to the client it came from.
    assert!(announced(&rib.take_exports(c1)).is_empty());
    // eBGP gets it without the reflection attributes.
    let x = rib.take_exports(e);
    let out = out_attrs(&x, "10.11.0.0/24").expect("to eBGP");
    assert_eq!((out.originator_id(), out.cluster_list().len()), (None, 0));
    // A withdrawal follows the same way.
    withdraw(&mut rib, c1, &["10.11.0.0/24"]);
    for to in [c2, n, e] {
        assert_eq!(withdrawn(&rib.take_exports(to)), nets(&["10.11.0.0/24"]));
    }
}

#[test]
fn a_non_clients_route_goes_to_clients_only() {
    let mut rib = rib();
    let c = ibgp_peer(&mut rib, 1, true);
    let n1 = ibgp_peer(&mut rib, 2, false);
    let n2 = ibgp_peer(&mut rib, 3, false);
    announce(&mut rib, n1, &["10.12.0.0/24"], &ibgp_attrs(2));
    let x = rib.take_exports(c);
    let out = out_attrs(&x, "10.12.0.0/24").expect("to the client");
    assert_eq!(out.originator_id(), Some(router_id(2)));
    assert_eq!(out.cluster_list(), &[OURS]);
    assert!(
        announced(&rib.take_exports(n2)).is_empty(),
        "non-client to non-client"
    );
    assert!(announced(&rib.take_exports(n1)).is_empty(), "not back");
}

#[test]
fn an_existing_originator_is_kept_and_our_cluster_prepended() {
    let mut rib = rib();
    rib.set_cluster_id(Some(ip("192.0.2.100")));
    let c1 = ibgp_peer(&mut rib, 1, true);
    let c2 = ibgp_peer(&mut rib, 2, true);
    let mut a = ibgp_attrs(1);
    a.set_originator_id(Some(ip("10.9.9.9")));
    a.set_cluster_list(vec![ip("10.0.0.50")].into());
    announce(&mut rib, c1, &["10.13.0.0/24"], &a);
    let out = out_attrs(&rib.take_exports(c2), "10.13.0.0/24").expect("sent");
    assert_eq!(out.originator_id(), Some(ip("10.9.9.9")));
    assert_eq!(out.cluster_list(), &[ip("192.0.2.100"), ip("10.0.0.50")]);
}

#[test]
fn ebgp_and_local_routes_reach_every_ibgp_peer_unreflected() {
    let mut rib = rib();
    let c = ibgp_peer(&mut rib, 1, true);
    let n = ibgp_peer(&mut rib, 2, false);
    let e = ebgp(&mut rib, 3, 64503);
    announce(&mut rib, e, &["10.14.0.0/24"], &attrs(&[64503]));
    for to in [c, n] {
        let out = out_attrs(&rib.take_exports(to), "10.14.0.0/24").expect("sent");
        assert_eq!((out.originator_id(), out.cluster_list().len()), (None, 0));
        // next_hop_self applies to eBGP-learned routes.
        assert_eq!(
            out.next_hop,
            Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 254)))
        );
    }
}

#[test]
fn ipv6_routes_are_reflected_too() {
    let mut rib = rib();
    let c1 = ibgp_peer(&mut rib, 1, true);
    let c2 = ibgp_peer(&mut rib, 2, true);
    let mut a = ibgp_attrs(1);
    a.next_hop = Some("2001:db8:1::1".parse().expect("v6"));
    announce(&mut rib, c1, &["2001:db8:100::/48"], &a);
    let out = out_attrs(&rib.take_exports(c2), "2001:db8:100::/48").expect("sent");
    assert_eq!(out.next_hop, a.next_hop);
    assert_eq!(out.originator_id(), Some(router_id(1)));
}

#[test]
fn a_reflected_route_that_loses_is_replaced_for_the_clients() {
    // The best path changes from a client's to a non-client's: the other
    // client follows; the first client now gets the non-client's route.
    let mut rib = rib();
    let c1 = ibgp_peer(&mut rib, 1, true);
    let c2 = ibgp_peer(&mut rib, 2, true);
    let n = ibgp_peer(&mut rib, 3, false);
    announce(&mut rib, c1, &["10.15.0.0/24"], &ibgp_attrs(1));
    rib.take_exports(c2);
    rib.take_exports(n);
    let mut better = ibgp_attrs(3);
    better.local_pref = Some(300);
    announce(&mut rib, n, &["10.15.0.0/24"], &better);
    let out = out_attrs(&rib.take_exports(c2), "10.15.0.0/24").expect("update");
    assert_eq!(out.originator_id(), Some(router_id(3)));
    assert_eq!(out.local_pref, Some(300));
    let out = out_attrs(&rib.take_exports(c1), "10.15.0.0/24").expect("now to c1");
    assert_eq!(out.originator_id(), Some(router_id(3)));
    // The non-client held c1's route; a non-client's own best is not sent
    // back to it, so it gets a withdrawal.
    assert_eq!(withdrawn(&rib.take_exports(n)), nets(&["10.15.0.0/24"]));
}

#[test]
fn a_route_is_not_reflected_to_its_originator() {
    // Client 1's route comes back through another reflector (a
    // non-client) with ORIGINATOR_ID = client 1 and wins here: it goes to
    // client 2, not to client 1, which would only drop it.
    let mut rib = rib();
    let c1 = ibgp_peer(&mut rib, 1, true);
    let c2 = ibgp_peer(&mut rib, 2, true);
    let rr = ibgp_peer(&mut rib, 3, false);
    let mut back = ibgp_attrs(1);
    back.local_pref = Some(200);
    back.set_originator_id(Some(router_id(1)));
    back.set_cluster_list(vec![ip("10.0.0.50")].into());
    announce(&mut rib, c1, &["10.16.0.0/24"], &ibgp_attrs(1));
    announce(&mut rib, rr, &["10.16.0.0/24"], &back);
    assert_eq!(
        rib.best(net("10.16.0.0/24")).expect("best").source,
        RouteSource::Peer(rr)
    );
    assert!(announced(&rib.take_exports(c1)).is_empty());
    assert!(rib.adj_out(c1).is_empty());
    let out = out_attrs(&rib.take_exports(c2), "10.16.0.0/24").expect("to c2");
    assert_eq!(out.originator_id(), Some(router_id(1)));
    assert_eq!(out.cluster_list(), &[OURS, ip("10.0.0.50")]);
}

#[test]
fn reflection_attributes_are_boxed_only_when_present() {
    let plain = ibgp_attrs(1);
    let mut a = plain.clone();
    a.set_originator_id(Some(ip("10.0.0.7")));
    a.set_cluster_list(vec![ip("10.0.0.1")].into());
    assert_eq!(a.originator_id(), Some(ip("10.0.0.7")));
    assert_eq!(a.cluster_list(), &[ip("10.0.0.1")]);
    a.set_originator_id(None);
    assert_eq!(a.cluster_list(), &[ip("10.0.0.1")], "the list stays");
    a.set_cluster_list(Box::default());
    // Removing both leaves the same value as never having had them, so
    // the two intern as one.
    assert!(a.reflection.is_none());
    assert_eq!(a, plain);
}
