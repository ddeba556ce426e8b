//! The sending side: initial dump and End-of-RIB, outgoing attribute
//! transforms (eBGP prepend and next-hop-self, iBGP local-pref), iBGP
//! split horizon, communities, families, locally originated routes,
//! coalescing, grouping, refresh, peer_down fan-out.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use vcpe_bgp::model::{AddrFamily, AsPath, Community};
use vcpe_bgp::rib::{PeerId, PeerUp};

#[path = "rib_helpers.rs"]
mod helpers;
use helpers::*;

fn our_v4() -> Option<IpAddr> {
    Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 254)))
}

fn our_v6() -> Option<IpAddr> {
    Some(IpAddr::V6("2001:db8::fe".parse::<Ipv6Addr>().expect("v6")))
}

#[test]
fn initial_dump_then_end_of_rib() {
    let mut rib = rib();
    let src = ebgp(&mut rib, 1, 64501);
    announce(
        &mut rib,
        src,
        &["10.0.0.0/24", "10.0.1.0/24"],
        &attrs(&[64501]),
    );
    rib.originate(net("2001:db8:1::/48"), None);
    let dst = add_up(&mut rib, 2, peer_config(64502, 2));
    // Changes while the dump is pending are part of it.
    announce(&mut rib, src, &["10.0.2.0/24"], &attrs(&[64501]));
    withdraw(&mut rib, src, &["10.0.1.0/24"]);
    let e = rib.take_exports(dst);
    assert_eq!(
        announced(&e),
        nets(&["10.0.0.0/24", "10.0.2.0/24", "2001:db8:1::/48"])
    );
    assert!(e.withdraw.is_empty());
    assert_eq!(e.end_of_rib, both_families());
    assert_eq!(rib.peer_counts(dst).expect("peer").advertised, 3);
    // Nothing more, and no second End-of-RIB.
    assert!(rib.take_exports(dst).is_empty());
    // An empty table still gets End-of-RIB.
    let mut empty = helpers::rib();
    let p = add_up(&mut empty, 1, peer_config(64501, 1));
    let e = empty.take_exports(p);
    assert!(e.announce.is_empty() && e.withdraw.is_empty());
    assert_eq!(e.end_of_rib, both_families());
}

#[test]
fn ebgp_prepends_and_sets_next_hop_self() {
    let mut rib = rib();
    let src = ebgp(&mut rib, 1, 64501);
    let dst = ebgp(&mut rib, 2, 64502);
    let mut a = attrs(&[64501, 64510]);
    a.med = Some(50);
    announce(&mut rib, src, &["10.0.0.0/24"], &a);
    let mut a6 = attrs(&[64501]);
    a6.next_hop = Some(IpAddr::V6("2001:db8:ff::1".parse().expect("v6")));
    a6.link_local_next_hop = Some("fe80::1".parse().expect("ll"));
    announce(&mut rib, src, &["2001:db8:1::/48"], &a6);
    let e = rib.take_exports(dst);
    let o = out_attrs(&e, "10.0.0.0/24").expect("sent");
    assert_eq!(o.as_path, AsPath::sequence(vec![LOCAL_AS, 64501, 64510]));
    assert_eq!(o.next_hop, our_v4());
    assert_eq!(o.local_pref, None);
    assert_eq!(o.med, None, "MED not propagated between ASes");
    let o6 = out_attrs(&e, "2001:db8:1::/48").expect("sent");
    assert_eq!(o6.next_hop, our_v6());
    assert_eq!(o6.link_local_next_hop, None);
    assert_eq!(o6.as_path, AsPath::sequence(vec![LOCAL_AS, 64501]));
    // The peer's own routes are not sent back to it.
    let back = rib.take_exports(src);
    assert!(back.is_empty(), "{back:?}");
}

#[test]
fn ebgp_without_a_local_address_for_the_family_gets_nothing_of_it() {
    let mut rib = rib();
    let src = ebgp(&mut rib, 1, 64501);
    let mut cfg = peer_config(64502, 2);
    cfg.local_addr_v6 = None;
    let dst = add_up(&mut rib, 2, cfg);
    rib.take_exports(dst);
    announce(&mut rib, src, &["10.0.0.0/24"], &attrs(&[64501]));
    let mut a6 = attrs(&[64501]);
    a6.next_hop = Some(IpAddr::V6("2001:db8:ff::1".parse().expect("v6")));
    announce(&mut rib, src, &["2001:db8:1::/48"], &a6);
    assert_eq!(announced(&rib.take_exports(dst)), nets(&["10.0.0.0/24"]));
}

#[test]
fn ibgp_keeps_attributes_and_sets_local_pref() {
    let mut rib = rib();
    let src = ebgp(&mut rib, 1, 64501);
    let dst = ibgp(&mut rib, 2);
    let mut a = attrs(&[64501]);
    a.med = Some(7);
    announce(&mut rib, src, &["10.0.0.0/24"], &a);
    let e = rib.take_exports(dst);
    let o = out_attrs(&e, "10.0.0.0/24").expect("sent");
    assert_eq!(o.as_path, AsPath::sequence(vec![64501]), "no prepend");
    assert_eq!(o.local_pref, Some(100));
    assert_eq!(o.next_hop, a.next_hop, "next hop unchanged");
    assert_eq!(o.med, Some(7));
}

#[test]
fn ibgp_next_hop_self_when_configured() {
    let mut rib = rib();
    let src = ebgp(&mut rib, 1, 64501);
    let mut cfg = peer_config(LOCAL_AS, 2);
    cfg.next_hop_self = true;
    let dst = add_up(&mut rib, 2, cfg);
    rib.take_exports(dst);
    announce(&mut rib, src, &["10.0.0.0/24"], &attrs(&[64501]));
    let e = rib.take_exports(dst);
    assert_eq!(
        out_attrs(&e, "10.0.0.0/24").expect("sent").next_hop,
        our_v4()
    );
}

#[test]
fn ibgp_split_horizon() {
    let mut rib = rib();
    let i1 = ibgp(&mut rib, 1);
    let i2 = ibgp(&mut rib, 2);
    let e3 = ebgp(&mut rib, 3, 64503);
    let mut a = attrs(&[64501]);
    a.local_pref = Some(300);
    announce(&mut rib, i1, &["10.0.0.0/24"], &a);
    assert!(rib.take_exports(i2).is_empty(), "iBGP-learned not to iBGP");
    assert!(rib.take_exports(i1).is_empty(), "not back to its source");
    let e = rib.take_exports(e3);
    let o = out_attrs(&e, "10.0.0.0/24").expect("to eBGP");
    assert_eq!(o.as_path, AsPath::sequence(vec![LOCAL_AS, 64501]));
    assert_eq!(o.local_pref, None);
}

#[test]
fn not_sent_to_a_peer_whose_as_is_in_the_path() {
    let mut rib = rib();
    let src = ebgp(&mut rib, 1, 64501);
    let dst = ebgp(&mut rib, 2, 64502);
    let other = ebgp(&mut rib, 3, 64503);
    announce(&mut rib, src, &["10.0.0.0/24"], &attrs(&[64501, 64502]));
    // Another eBGP peer takes first and fills the transform cache (eBGP
    // peers of any AS share it): the loop check is still per peer.
    assert!(out_attrs(&rib.take_exports(other), "10.0.0.0/24").is_some());
    assert!(rib.take_exports(dst).is_empty());
    assert!(rib.adj_out(dst).is_empty(), "adj-out shows it neither");
}

#[test]
fn ebgp_peers_of_different_ases_share_one_transform_per_attribute_set() {
    let mut rib = rib();
    let src = ebgp(&mut rib, 1, 64501);
    let dsts: Vec<PeerId> = (2..12u8)
        .map(|i| ebgp(&mut rib, i, 64500 + u32::from(i)))
        .collect();
    for i in 0..20u32 {
        let prefix = format!("10.0.{i}.0/24");
        announce(
            &mut rib,
            src,
            &[prefix.as_str()],
            &attrs(&[64501, 65100 + i]),
        );
    }
    for d in &dsts {
        let e = rib.take_exports(*d);
        assert_eq!(announced(&e).len(), 20, "{d:?} {:?}", announced(&e));
    }
    // One per attribute set (and none per peer AS): 10 peers x 20 sets
    // made 200 before.
    let c = rib.counts();
    assert_eq!(c.transforms, 20, "{c:?}");
}

#[test]
fn well_known_communities() {
    let mut rib = rib();
    let src = ebgp(&mut rib, 1, 64501);
    let e2 = ebgp(&mut rib, 2, 64502);
    let i3 = ibgp(&mut rib, 3);
    let mut no_adv = attrs(&[64501]);
    no_adv.communities = vec![Community::NO_ADVERTISE].into();
    let mut no_exp = attrs(&[64501]);
    no_exp.communities = vec![Community(0x0001_0002), Community::NO_EXPORT].into();
    announce(&mut rib, src, &["10.0.0.0/24"], &no_adv);
    announce(&mut rib, src, &["10.0.1.0/24"], &no_exp);
    assert!(rib.take_exports(e2).is_empty());
    assert_eq!(announced(&rib.take_exports(i3)), nets(&["10.0.1.0/24"]));
    // Still used locally.
    assert!(rib.best(net("10.0.0.0/24")).is_some());
}

#[test]
fn only_negotiated_families() {
    let mut rib = rib();
    let src = ebgp(&mut rib, 1, 64501);
    let dst = PeerId(2);
    rib.add_peer(dst, peer_config(64502, 2));
    rib.peer_up(
        dst,
        PeerUp {
            router_id: router_id(2),
            families: vec![AddrFamily::IPV4_UNICAST],
            four_octet_as: false,
            add_path_receive: Default::default(),
            add_path_send: Default::default(),
        },
    );
    rib.originate(net("2001:db8:1::/48"), None);
    rib.originate(net("10.9.0.0/16"), None);
    let e = rib.take_exports(dst);
    assert_eq!(announced(&e), nets(&["10.9.0.0/16"]));
    assert_eq!(e.end_of_rib, vec![AddrFamily::IPV4_UNICAST]);
    let mut a6 = attrs(&[64501]);
    a6.next_hop = Some(IpAddr::V6("2001:db8:ff::1".parse().expect("v6")));
    announce(&mut rib, src, &["2001:db8:2::/48"], &a6);
    assert!(rib.take_exports(dst).is_empty());
}

#[test]
fn local_routes_go_to_all_peers_and_can_be_withdrawn() {
    let mut rib = rib();
    let e1 = ebgp(&mut rib, 1, 64501);
    let i2 = ibgp(&mut rib, 2);
    let gw = Some(IpAddr::V4(Ipv4Addr::new(172, 16, 0, 1)));
    rib.originate(net("10.10.0.0/16"), gw);
    rib.originate(net("2001:db8:a::/48"), None);
    let best = rib.best(net("10.10.0.0/16")).expect("local");
    assert_eq!(best.next_hop, gw, "the FIB gets the configured gateway");
    let x1 = rib.take_exports(e1);
    let o = out_attrs(&x1, "10.10.0.0/16").expect("to eBGP");
    assert_eq!(o.as_path, AsPath::sequence(vec![LOCAL_AS]));
    assert_eq!(o.next_hop, our_v4());
    assert_eq!(o.local_pref, None);
    assert_eq!(
        out_attrs(&x1, "2001:db8:a::/48").expect("v6").next_hop,
        our_v6()
    );
    let x2 = rib.take_exports(i2);
    let o = out_attrs(&x2, "10.10.0.0/16").expect("to iBGP");
    assert_eq!(o.as_path, AsPath::default());
    assert_eq!(o.local_pref, Some(100));
    assert_eq!(o.next_hop, our_v4());
    assert_eq!(rib.counts().local_routes, 2);

    assert!(rib.withdraw_local(net("10.10.0.0/16")));
    assert!(!rib.withdraw_local(net("10.10.0.0/16")));
    for p in [e1, i2] {
        let x = rib.take_exports(p);
        assert_eq!(withdrawn(&x), nets(&["10.10.0.0/16"]));
        assert!(x.announce.is_empty());
    }
    assert_eq!(rib.counts().local_routes, 1);
}

#[test]
fn peer_down_sends_withdrawals_to_the_others() {
    let mut rib = rib();
    let src = ebgp(&mut rib, 1, 64501);
    let alt = ebgp(&mut rib, 3, 64503);
    let dst = ebgp(&mut rib, 2, 64502);
    announce(
        &mut rib,
        src,
        &["10.0.0.0/24", "10.0.1.0/24"],
        &attrs(&[64501]),
    );
    announce(&mut rib, alt, &["10.0.1.0/24"], &attrs(&[64503, 1]));
    assert_eq!(rib.take_exports(dst).announced_len(), 2);
    rib.take_exports(alt);
    rib.peer_down(src);
    let x = rib.take_exports(dst);
    assert_eq!(withdrawn(&x), nets(&["10.0.0.0/24"]));
    let o = out_attrs(&x, "10.0.1.0/24").expect("the other path replaces");
    assert_eq!(o.as_path, AsPath::sequence(vec![LOCAL_AS, 64503, 1]));
    // The alternative source now gets 10.0.0.0/24 withdrawn; 10.0.1.0/24
    // is its own best, so what it held from us is withdrawn too.
    let x = rib.take_exports(alt);
    assert_eq!(withdrawn(&x), nets(&["10.0.0.0/24", "10.0.1.0/24"]));
    assert!(rib.take_exports(src).is_empty(), "down: nothing");
    assert_eq!(rib.peer_counts(dst).expect("peer").advertised, 1);
}

#[test]
fn exports_coalesce() {
    let mut rib = rib();
    let src = ebgp(&mut rib, 1, 64501);
    let dst = ebgp(&mut rib, 2, 64502);
    // Announce then withdraw before the take: nothing.
    announce(&mut rib, src, &["10.0.0.0/24"], &attrs(&[64501]));
    withdraw(&mut rib, src, &["10.0.0.0/24"]);
    assert!(rib.take_exports(dst).is_empty());
    // The peer has it: change + withdraw yields only the withdrawal.
    announce(&mut rib, src, &["10.0.0.0/24"], &attrs(&[64501]));
    rib.take_exports(dst);
    announce(&mut rib, src, &["10.0.0.0/24"], &attrs(&[64501, 5]));
    withdraw(&mut rib, src, &["10.0.0.0/24"]);
    let x = rib.take_exports(dst);
    assert_eq!(withdrawn(&x), nets(&["10.0.0.0/24"]));
    assert!(x.announce.is_empty());
    // Flap back to what the peer has: nothing.
    announce(&mut rib, src, &["10.0.1.0/24"], &attrs(&[64501]));
    rib.take_exports(dst);
    withdraw(&mut rib, src, &["10.0.1.0/24"]);
    announce(&mut rib, src, &["10.0.1.0/24"], &attrs(&[64501]));
    assert!(rib.take_exports(dst).is_empty());
    // Two changes: the last one only.
    announce(&mut rib, src, &["10.0.1.0/24"], &attrs(&[64501, 1]));
    announce(&mut rib, src, &["10.0.1.0/24"], &attrs(&[64501, 2]));
    let x = rib.take_exports(dst);
    assert_eq!(x.announced_len(), 1);
    assert_eq!(
        out_attrs(&x, "10.0.1.0/24").expect("sent").as_path,
        AsPath::sequence(vec![LOCAL_AS, 64501, 2])
    );
}

#[test]
fn announcements_are_grouped_by_attributes() {
    let mut rib = rib();
    let src = ebgp(&mut rib, 1, 64501);
    let dst = ebgp(&mut rib, 2, 64502);
    announce(
        &mut rib,
        src,
        &["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"],
        &attrs(&[64501]),
    );
    announce(&mut rib, src, &["10.0.3.0/24"], &attrs(&[64501, 7]));
    let x = rib.take_exports(dst);
    let mut sizes: Vec<usize> = x.announce.iter().map(|(_, v)| v.len()).collect();
    sizes.sort();
    assert_eq!(sizes, vec![1, 3]);
    // Identical outgoing attributes are one shared value.
    let dst2 = add_up(&mut rib, 3, peer_config(64503, 3));
    let y = rib.take_exports(dst2);
    let big = |e: &vcpe_bgp::rib::Export| {
        e.announce
            .iter()
            .find(|(_, v)| v.len() == 3)
            .map(|(a, _)| a.clone())
            .expect("group")
    };
    assert!(std::sync::Arc::ptr_eq(&big(&x), &big(&y)));
}

#[test]
fn refresh_resends_everything() {
    let mut rib = rib();
    let src = ebgp(&mut rib, 1, 64501);
    let dst = ebgp(&mut rib, 2, 64502);
    announce(
        &mut rib,
        src,
        &["10.0.0.0/24", "10.0.1.0/24"],
        &attrs(&[64501]),
    );
    rib.take_exports(dst);
    rib.refresh(dst);
    withdraw(&mut rib, src, &["10.0.1.0/24"]);
    let x = rib.take_exports(dst);
    assert_eq!(announced(&x), nets(&["10.0.0.0/24"]));
    assert_eq!(withdrawn(&x), nets(&["10.0.1.0/24"]));
    assert!(x.end_of_rib.is_empty());
    assert_eq!(rib.peer_counts(dst).expect("peer").advertised, 1);
}

#[test]
fn adj_out_shows_what_the_peer_holds() {
    let mut rib = rib();
    let src = ebgp(&mut rib, 1, 64501);
    let dst = ebgp(&mut rib, 2, 64502);
    announce(&mut rib, src, &["10.0.0.0/24"], &attrs(&[64501]));
    assert!(rib.adj_out(dst).is_empty(), "not taken yet");
    rib.take_exports(dst);
    let held = rib.adj_out(dst);
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].attrs.next_hop, our_v4());
    withdraw(&mut rib, src, &["10.0.0.0/24"]);
    assert_eq!(rib.adj_out(dst).len(), 1, "withdrawal still pending");
    rib.take_exports(dst);
    assert!(rib.adj_out(dst).is_empty());
}

#[test]
fn best_change_to_the_peers_own_path_withdraws_from_it() {
    let mut rib = rib();
    let p1 = ebgp(&mut rib, 1, 64501);
    let p2 = ebgp(&mut rib, 2, 64502);
    announce(&mut rib, p1, &["10.0.0.0/24"], &attrs(&[64501, 1, 2]));
    assert_eq!(rib.take_exports(p2).announced_len(), 1);
    // p2's own, shorter path becomes best: p2 must drop ours.
    announce(&mut rib, p2, &["10.0.0.0/24"], &attrs(&[64502]));
    assert_eq!(withdrawn(&rib.take_exports(p2)), nets(&["10.0.0.0/24"]));
    let x = rib.take_exports(p1);
    assert_eq!(
        out_attrs(&x, "10.0.0.0/24").expect("p1 gets p2's").as_path,
        AsPath::sequence(vec![LOCAL_AS, 64502])
    );
}
