//! ADD-PATH receive (RFC 7911) in the RIB: several paths of one prefix
//! from one neighbor, told apart by Path Identifier, each a candidate of
//! its own (best path, multipath), withdrawn by identifier, all flushed
//! with the session, kept stale over a graceful restart; and a session
//! without ADD-PATH keeps one path per prefix whatever identifiers say.

use std::net::{IpAddr, Ipv4Addr};

use vcpe_bgp::model::{AddPathFamilies, AddrFamily, PathAttributes};
use vcpe_bgp::rib::{BestChange, PeerId, PeerUp, Rib, RouteSource};

#[path = "rib_helpers.rs"]
mod helpers;
use helpers::*;

/// Attributes with next hop 198.51.100.`hop` and local preference `lp`.
fn via(hop: u8, lp: u32) -> PathAttributes {
    let mut a = attrs(&[]);
    a.next_hop = Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, hop)));
    a.local_pref = Some(lp);
    a
}

fn hop(n: u8) -> Option<IpAddr> {
    Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, n)))
}

/// iBGP peer `n` (a reflector, say) up with ADD-PATH receive for both
/// unicast families, its initial dump taken.
fn add_path_peer(rib: &mut Rib, n: u8) -> PeerId {
    let id = PeerId(u32::from(n));
    rib.add_peer(id, peer_config(LOCAL_AS, n));
    rib.peer_up(
        id,
        PeerUp {
            add_path_receive: AddPathFamilies::UNICAST,
            ..up(n)
        },
    );
    rib.take_exports(id);
    id
}

/// Announce `prefix` from `id` as path `path_id` with `a`.
fn announce_id(rib: &mut Rib, id: PeerId, prefix: &str, path_id: u32, a: &PathAttributes) {
    rib.apply_paths(id, (&[], &[]), (&nets(&[prefix]), &[path_id]), Some(a))
        .expect("under max-prefix");
}

/// Withdraw path `path_id` of `prefix` from `id`.
fn withdraw_id(rib: &mut Rib, id: PeerId, prefix: &str, path_id: u32) {
    rib.apply_paths(id, (&nets(&[prefix]), &[path_id]), (&[], &[]), None)
        .expect("under max-prefix");
}

/// (path id, next hop) of each path of `prefix`, best first.
fn paths(rib: &Rib, prefix: &str) -> Vec<(u32, Option<IpAddr>)> {
    rib.routes(net(prefix))
        .iter()
        .map(|r| (r.path_id, r.attrs.next_hop))
        .collect()
}

#[test]
fn two_paths_from_one_neighbor_are_both_kept_and_the_better_wins() {
    let mut rib = rib();
    let p = add_path_peer(&mut rib, 1);
    announce_id(&mut rib, p, "10.2.0.0/16", 7, &via(1, 100));
    announce_id(&mut rib, p, "10.2.0.0/16", 9, &via(2, 200));
    assert_eq!(paths(&rib, "10.2.0.0/16"), vec![(9, hop(2)), (7, hop(1))]);
    let routes = rib.routes(net("10.2.0.0/16"));
    assert!(routes.iter().all(|r| r.source == RouteSource::Peer(p)));
    assert_eq!(rib.peer_counts(p).expect("peer").accepted, 2);
    assert_eq!(rib.adj_in(p).len(), 2, "both in the Adj-RIB-In");
    assert_eq!(
        rib.adj_in(p).iter().map(|r| r.path_id).collect::<Vec<_>>(),
        vec![7, 9]
    );
    // The same identifier again replaces its path only.
    announce_id(&mut rib, p, "10.2.0.0/16", 9, &via(3, 50));
    assert_eq!(paths(&rib, "10.2.0.0/16"), vec![(7, hop(1)), (9, hop(3))]);
    assert_eq!(rib.peer_counts(p).expect("peer").accepted, 2);
}

#[test]
fn a_withdrawal_by_path_id_removes_that_path_only() {
    let mut rib = rib();
    let p = add_path_peer(&mut rib, 1);
    announce_id(&mut rib, p, "2001:db8:2::/48", 1, &via(1, 100));
    announce_id(&mut rib, p, "2001:db8:2::/48", 2, &via(2, 200));
    rib.take_fib_changes();
    withdraw_id(&mut rib, p, "2001:db8:2::/48", 2);
    assert_eq!(paths(&rib, "2001:db8:2::/48"), vec![(1, hop(1))]);
    // The best moved to the remaining path.
    let changes = rib.take_fib_changes();
    assert!(
        matches!(&changes[..], [BestChange::Replace { route, .. }] if route.next_hop == hop(1)),
        "{changes:?}"
    );
    // An unknown identifier withdraws nothing.
    withdraw_id(&mut rib, p, "2001:db8:2::/48", 5);
    assert_eq!(paths(&rib, "2001:db8:2::/48").len(), 1);
    withdraw_id(&mut rib, p, "2001:db8:2::/48", 1);
    assert!(rib.best(net("2001:db8:2::/48")).is_none());
    assert_eq!(rib.peer_counts(p).expect("peer").accepted, 0);
}

#[test]
fn session_down_flushes_every_path_of_the_neighbor() {
    let mut rib = rib();
    let p = add_path_peer(&mut rib, 1);
    let other = ibgp(&mut rib, 2);
    for id in [1, 2, 3] {
        announce_id(&mut rib, p, "10.2.0.0/16", id, &via(id as u8, 100));
    }
    announce(&mut rib, other, &["10.2.0.0/16"], &via(9, 100));
    assert_eq!(rib.routes(net("10.2.0.0/16")).len(), 4);
    rib.peer_down(p);
    assert_eq!(paths(&rib, "10.2.0.0/16"), vec![(0, hop(9))]);
    assert_eq!(rib.counts().paths, 1);
    // Back up: identifiers start afresh.
    rib.peer_up(
        p,
        PeerUp {
            add_path_receive: AddPathFamilies::UNICAST,
            ..up(1)
        },
    );
    announce_id(&mut rib, p, "10.2.0.0/16", 3, &via(3, 300));
    assert_eq!(paths(&rib, "10.2.0.0/16")[0], (3, hop(3)));
}

#[test]
fn graceful_restart_keeps_every_path_stale_until_end_of_rib() {
    let mut rib = rib();
    let p = add_path_peer(&mut rib, 1);
    announce_id(&mut rib, p, "10.2.0.0/16", 1, &via(1, 100));
    announce_id(&mut rib, p, "10.2.0.0/16", 2, &via(2, 100));
    rib.peer_down_graceful(p, &[AddrFamily::IPV4_UNICAST]);
    assert_eq!(rib.peer_counts(p).expect("peer").stale, 2);
    assert!(rib.routes(net("10.2.0.0/16")).iter().all(|r| r.stale));
    rib.peer_up(
        p,
        PeerUp {
            add_path_receive: AddPathFamilies::UNICAST,
            ..up(1)
        },
    );
    // Path 2 comes back (no longer stale), path 1 does not.
    announce_id(&mut rib, p, "10.2.0.0/16", 2, &via(2, 100));
    let counts = rib.peer_counts(p).expect("peer");
    assert_eq!((counts.accepted, counts.stale), (1, 1));
    rib.end_of_rib(p, AddrFamily::IPV4_UNICAST);
    assert_eq!(paths(&rib, "10.2.0.0/16"), vec![(2, hop(2))]);
    assert_eq!(rib.peer_counts(p).expect("peer").stale, 0);
}

#[test]
fn paths_of_one_neighbor_make_an_ecmp_group() {
    let mut rib = rib();
    rib.set_maximum_paths(2, 2);
    let p = add_path_peer(&mut rib, 1);
    // Two paths a reflector passes on: same attributes but the next hop.
    announce_id(&mut rib, p, "10.2.0.0/16", 11, &via(1, 100));
    announce_id(&mut rib, p, "10.2.0.0/16", 12, &via(2, 100));
    let best = rib.best(net("10.2.0.0/16")).expect("best");
    let mut hops: Vec<_> = std::iter::once(best.next_hop)
        .chain(best.multipath.iter().map(|m| m.next_hop))
        .collect();
    hops.sort();
    assert_eq!(hops, vec![hop(1), hop(2)]);
    assert!(
        best.multipath
            .iter()
            .all(|m| m.source == RouteSource::Peer(p))
    );
    // The FIB feed saw the member arrive.
    let changes = rib.take_fib_changes();
    let last = changes.last().expect("a change");
    assert!(
        matches!(last, BestChange::Add { route, .. } | BestChange::Replace { route, .. }
            if route.multipath.len() == 1),
        "{changes:?}"
    );
    // A third path with a next hop already in the group adds no member.
    announce_id(&mut rib, p, "10.2.0.0/16", 13, &via(2, 100));
    let best = rib.best(net("10.2.0.0/16")).expect("best");
    assert_eq!(best.multipath.len(), 1, "{:?}", best.multipath);
    withdraw_id(&mut rib, p, "10.2.0.0/16", 13);
    // Withdrawing one leaves a single path, and the feed says so.
    withdraw_id(&mut rib, p, "10.2.0.0/16", 12);
    let best = rib.best(net("10.2.0.0/16")).expect("best");
    assert!(best.multipath.is_empty());
    assert_eq!(best.next_hop, hop(1));
}

#[test]
fn ties_between_one_neighbors_paths_go_to_the_first_arrived() {
    let pick = |order: &[(u32, u8)]| {
        let mut rib = rib();
        let p = add_path_peer(&mut rib, 1);
        for &(id, h) in order {
            announce_id(&mut rib, p, "10.2.0.0/16", id, &via(h, 100));
        }
        rib.best(net("10.2.0.0/16")).expect("best").next_hop
    };
    // Equal in every step: the path that took the lower index (the first
    // to arrive) wins, and keeps winning when the other is replaced.
    assert_eq!(pick(&[(5, 1), (6, 2)]), hop(1));
    assert_eq!(pick(&[(6, 2), (5, 1)]), hop(2));
}

#[test]
fn without_add_path_the_identifiers_are_ignored() {
    let mut rib = rib();
    let p = ibgp(&mut rib, 1);
    // A session that did not negotiate ADD-PATH: one path per prefix.
    rib.apply_paths(
        p,
        (&[], &[]),
        (&nets(&["10.2.0.0/16"]), &[1]),
        Some(&via(1, 100)),
    )
    .expect("under max-prefix");
    rib.apply_paths(
        p,
        (&[], &[]),
        (&nets(&["10.2.0.0/16"]), &[2]),
        Some(&via(2, 100)),
    )
    .expect("under max-prefix");
    assert_eq!(paths(&rib, "10.2.0.0/16"), vec![(0, hop(2))]);
}

#[test]
fn a_path_filtered_by_import_policy_is_removed_by_its_identifier() {
    use vcpe_bgp::rib::{Action, PrefixPolicy, PrefixRule};
    let mut rib = rib();
    let mut cfg = peer_config(LOCAL_AS, 1);
    cfg.import = PrefixPolicy::new(
        vec![PrefixRule::exact(net("10.2.0.0/16"), Action::Reject)],
        Action::Accept,
    );
    let id = PeerId(1);
    rib.add_peer(id, cfg);
    rib.peer_up(
        id,
        PeerUp {
            add_path_receive: AddPathFamilies::UNICAST,
            ..up(1)
        },
    );
    announce_id(&mut rib, id, "10.2.0.0/16", 1, &via(1, 100));
    announce_id(&mut rib, id, "10.3.0.0/16", 1, &via(1, 100));
    announce_id(&mut rib, id, "10.3.0.0/16", 2, &via(2, 100));
    assert!(rib.best(net("10.2.0.0/16")).is_none());
    assert_eq!(rib.routes(net("10.3.0.0/16")).len(), 2);
}

#[test]
fn max_prefixes_counts_paths() {
    let mut rib = rib();
    let mut cfg = peer_config(LOCAL_AS, 1);
    cfg.max_prefixes = Some(2);
    let id = PeerId(1);
    rib.add_peer(id, cfg);
    rib.peer_up(
        id,
        PeerUp {
            add_path_receive: AddPathFamilies::UNICAST,
            ..up(1)
        },
    );
    announce_id(&mut rib, id, "10.2.0.0/16", 1, &via(1, 100));
    announce_id(&mut rib, id, "10.2.0.0/16", 2, &via(2, 100));
    let over = rib.apply_paths(
        id,
        (&[], &[]),
        (&nets(&["10.2.0.0/16"]), &[3]),
        Some(&via(3, 100)),
    );
    assert!(over.is_err(), "a third path is over a limit of 2");
}
