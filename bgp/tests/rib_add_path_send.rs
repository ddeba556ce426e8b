//! ADD-PATH send (RFC 7911) in the RIB: a peer that negotiated it gets up
//! to `add_path_count` paths per prefix (the best, then the next best it
//! may receive), each with a Path Identifier that stays while the path
//! exists; a take sends only the paths that changed and withdraws by
//! identifier; the usual export rules (split horizon, reflection) hold
//! per path; families without it are exported as before.

use std::net::{IpAddr, Ipv4Addr};

use vcpe_bgp::model::{AddPathFamilies, PathAttributes};
use vcpe_bgp::rib::{Export, PeerId, PeerUp, Rib};

#[path = "rib_helpers.rs"]
mod helpers;
use helpers::*;

/// eBGP attributes from AS `asn` with next hop 198.51.100.`hop` and MED.
fn from(asn: u32, hop: u8, med: u32) -> PathAttributes {
    let mut a = attrs(&[asn]);
    a.next_hop = Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, hop)));
    a.med = Some(med);
    a
}

/// Peer `n` up with ADD-PATH send for both families, `count` paths.
fn sender(rib: &mut Rib, n: u8, asn: u32, count: u16) -> PeerId {
    let id = PeerId(u32::from(n));
    let mut cfg = peer_config(asn, n);
    cfg.add_path_count = count;
    rib.add_peer(id, cfg);
    rib.peer_up(
        id,
        PeerUp {
            add_path_send: AddPathFamilies::UNICAST,
            ..up(n)
        },
    );
    id
}

/// (prefix, path id, next hop as sent) of every announced path, sorted.
fn sent(e: &Export) -> Vec<(String, u32, Option<IpAddr>)> {
    let mut v: Vec<_> = e
        .announce_paths
        .iter()
        .flat_map(|(a, ps)| {
            ps.iter()
                .map(move |(p, id)| (p.to_string(), *id, a.next_hop))
        })
        .collect();
    v.sort();
    v
}

fn withdrawn_ids(e: &Export) -> Vec<(String, u32)> {
    let mut v: Vec<_> = e
        .withdraw_paths
        .iter()
        .map(|(p, id)| (p.to_string(), *id))
        .collect();
    v.sort();
    v
}

fn hop(n: u8) -> Option<IpAddr> {
    Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, n)))
}

#[test]
fn the_best_n_paths_go_out_and_only_changes_follow() {
    let mut rib = rib();
    // Three iBGP sources (next hops kept towards an iBGP client), the
    // receiver an iBGP route-reflector client, so every path is eligible.
    let s = {
        let id = PeerId(9);
        let mut cfg = peer_config(LOCAL_AS, 9);
        cfg.add_path_count = 2;
        cfg.route_reflector_client = true;
        rib.add_peer(id, cfg);
        rib.peer_up(
            id,
            PeerUp {
                add_path_send: AddPathFamilies::UNICAST,
                ..up(9)
            },
        );
        id
    };
    let first = rib.take_exports(s);
    assert!(first.announce_paths.is_empty() && !first.end_of_rib.is_empty());
    let [a, b, c] = [ibgp(&mut rib, 1), ibgp(&mut rib, 2), ibgp(&mut rib, 3)];
    // LOCAL_PREF decides: a (300) > b (200) > c (100).
    for (p, n, lp) in [(a, 1, 300), (b, 2, 200), (c, 3, 100)] {
        let mut at = attrs(&[]);
        at.next_hop = hop(n);
        at.local_pref = Some(lp);
        announce(&mut rib, p, &["10.2.0.0/16"], &at);
    }
    let e = rib.take_exports(s);
    let got = sent(&e);
    assert_eq!(got.len(), 2, "two paths: {got:?}");
    assert_eq!(
        got.iter()
            .map(|g| g.2)
            .collect::<Vec<_>>()
            .iter()
            .filter(|h| **h == hop(1) || **h == hop(2))
            .count(),
        2,
        "the best two: {got:?}"
    );
    assert!(
        e.announce.is_empty(),
        "no plain announcement in an ADD-PATH family"
    );
    assert_ne!(got[0].1, got[1].1, "distinct path ids");
    let ids: Vec<u32> = got.iter().map(|g| g.1).collect();
    // Nothing changed: nothing sent.
    assert!(rib.take_exports(s).is_empty());
    // The best goes: its id is withdrawn, the third path comes in; the
    // second one stays as it is (not sent again).
    withdraw(&mut rib, a, &["10.2.0.0/16"]);
    let e = rib.take_exports(s);
    let id_a = got
        .iter()
        .find(|g| g.2 == hop(1))
        .map(|g| g.1)
        .expect("a's path");
    assert_eq!(withdrawn_ids(&e), vec![("10.2.0.0/16".to_string(), id_a)]);
    let new = sent(&e);
    assert_eq!(new.len(), 1, "{new:?}");
    assert_eq!(new[0].2, hop(3));
    assert!(!ids.contains(&new[0].1), "a new path, a new id");
    // Adj-RIB-Out shows both held paths with their ids.
    let out = rib.adj_out(s);
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|r| r.path_id != 0));
    assert_eq!(rib.peer_counts(s).expect("peer").advertised, 2);
    // All gone: every id withdrawn.
    withdraw(&mut rib, b, &["10.2.0.0/16"]);
    withdraw(&mut rib, c, &["10.2.0.0/16"]);
    let e = rib.take_exports(s);
    assert_eq!(e.withdraw_paths.len(), 2);
    assert!(rib.adj_out(s).is_empty());
}

#[test]
fn split_horizon_and_ibgp_rules_hold_per_path() {
    let mut rib = rib();
    // eBGP receiver: it never gets its own path back.
    let s = sender(&mut rib, 9, 65009, 4);
    rib.take_exports(s);
    let e1 = ebgp(&mut rib, 1, 65001);
    let e2 = ebgp(&mut rib, 2, 65002);
    let i = ibgp(&mut rib, 3);
    announce(&mut rib, e1, &["10.2.0.0/16"], &from(65001, 1, 10));
    announce(&mut rib, e2, &["10.2.0.0/16"], &from(65002, 2, 10));
    announce(&mut rib, s, &["10.2.0.0/16"], &from(65009, 9, 0));
    let e = rib.take_exports(s);
    assert_eq!(sent(&e).len(), 2, "e1 and e2, not its own: {:?}", sent(&e));
    // Towards eBGP the next hop is ours.
    assert!(
        sent(&e)
            .iter()
            .all(|g| g.2 == Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 254))))
    );
    // An iBGP receiver (not a client): the eBGP paths, each once.
    let ib = sender(&mut rib, 8, LOCAL_AS, 4);
    let e = rib.take_exports(ib);
    let got = sent(&e);
    assert_eq!(
        got.len(),
        3,
        "e1, e2 and the receiver-9 path, all eBGP: {got:?}"
    );
    // An iBGP-learned path is not sent to iBGP (no reflection here).
    announce(&mut rib, i, &["10.3.0.0/16"], &from(65000, 3, 0));
    assert!(sent(&rib.take_exports(ib)).is_empty());
}

#[test]
fn route_refresh_and_a_new_session_send_every_path_again() {
    let mut rib = rib();
    let s = sender(&mut rib, 9, 65009, 2);
    rib.take_exports(s);
    let e1 = ebgp(&mut rib, 1, 65001);
    let e2 = ebgp(&mut rib, 2, 65002);
    announce(
        &mut rib,
        e1,
        &["10.2.0.0/16", "2001:db8:2::/48"],
        &from(65001, 1, 10),
    );
    announce(&mut rib, e2, &["10.2.0.0/16"], &from(65002, 2, 10));
    assert_eq!(sent(&rib.take_exports(s)).len(), 3);
    rib.refresh(s);
    assert_eq!(sent(&rib.take_exports(s)).len(), 3, "refresh: all again");
    rib.peer_down(s);
    rib.peer_up(
        s,
        PeerUp {
            add_path_send: AddPathFamilies::UNICAST,
            ..up(9)
        },
    );
    let e = rib.take_exports(s);
    assert_eq!(sent(&e).len(), 3);
    assert!(e.withdraw_paths.is_empty());
    assert_eq!(e.end_of_rib.len(), 2);
}

#[test]
fn a_family_without_add_path_send_is_exported_as_before() {
    let mut rib = rib();
    let id = PeerId(9);
    rib.add_peer(id, peer_config(65009, 9));
    let mut v4_only = AddPathFamilies::NONE;
    v4_only.insert(vcpe_bgp::model::AddrFamily::IPV4_UNICAST);
    rib.peer_up(
        id,
        PeerUp {
            add_path_send: v4_only,
            ..up(9)
        },
    );
    rib.take_exports(id);
    let e1 = ebgp(&mut rib, 1, 65001);
    announce(
        &mut rib,
        e1,
        &["10.2.0.0/16", "2001:db8:2::/48"],
        &from(65001, 1, 10),
    );
    let e = rib.take_exports(id);
    assert_eq!(announced(&e), nets(&["2001:db8:2::/48"]));
    assert_eq!(sent(&e).len(), 1);
    assert_eq!(sent(&e)[0].0, "10.2.0.0/16");
}
