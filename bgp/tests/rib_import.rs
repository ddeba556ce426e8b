//! The receiving side: eBGP loop prevention, LOCAL_PREF from eBGP ignored,
//! max-prefix, withdrawals and the next best taking over, the FIB feed
//! and its coalescing, peer_down.

use std::net::{IpAddr, Ipv4Addr};

use vcpe_bgp::rib::{BestChange, PeerUp, RouteSource};

#[path = "rib_helpers.rs"]
mod helpers;
use helpers::*;

#[test]
fn ebgp_loop_prevention_ignores_and_counts() {
    let mut rib = rib();
    let p = ebgp(&mut rib, 1, 64501);
    let out = rib
        .apply(
            p,
            &[],
            &nets(&["10.0.0.0/24", "10.0.1.0/24"]),
            Some(&attrs(&[64501, LOCAL_AS, 64999])),
        )
        .expect("no limit");
    assert_eq!((out.accepted, out.looped), (0, 2));
    assert!(rib.best(net("10.0.0.0/24")).is_none());
    let c = rib.peer_counts(p).expect("peer");
    assert_eq!((c.accepted, c.filtered, c.looped_total), (0, 2, 2));
    assert!(rib.take_fib_changes().is_empty());
}

#[test]
fn looped_announcement_withdraws_the_previous_path() {
    let mut rib = rib();
    let p = ebgp(&mut rib, 1, 64501);
    announce(&mut rib, p, &["10.0.0.0/24"], &attrs(&[64501]));
    announce(&mut rib, p, &["10.0.0.0/24"], &attrs(&[64501, LOCAL_AS]));
    assert!(rib.best(net("10.0.0.0/24")).is_none());
    assert_eq!(rib.peer_counts(p).expect("peer").accepted, 0);
}

#[test]
fn ibgp_paths_with_own_as_are_kept() {
    // Loop prevention on our own AS is for eBGP sessions.
    let mut rib = rib();
    let p = ibgp(&mut rib, 1);
    announce(&mut rib, p, &["10.0.0.0/24"], &attrs(&[64501]));
    assert!(rib.best(net("10.0.0.0/24")).is_some());
}

#[test]
fn local_pref_from_ebgp_is_dropped() {
    let mut rib = rib();
    let p = ebgp(&mut rib, 1, 64501);
    let mut a = attrs(&[64501]);
    a.local_pref = Some(999);
    announce(&mut rib, p, &["10.0.0.0/24"], &a);
    let best = rib.best(net("10.0.0.0/24")).expect("route");
    assert_eq!(best.attrs.local_pref, None);
}

#[test]
fn max_prefix_exceeded_is_an_error() {
    let mut rib = rib();
    let mut cfg = peer_config(64501, 1);
    cfg.max_prefixes = Some(2);
    let p = add_up(&mut rib, 1, cfg);
    let a = attrs(&[64501]);
    assert!(
        rib.apply(p, &[], &nets(&["10.0.0.0/24", "10.0.1.0/24"]), Some(&a))
            .is_ok()
    );
    // Re-announcing held prefixes does not count twice.
    assert!(rib.apply(p, &[], &nets(&["10.0.0.0/24"]), Some(&a)).is_ok());
    let err = rib
        .apply(p, &[], &nets(&["10.0.2.0/24"]), Some(&a))
        .expect_err("over the limit");
    assert_eq!((err.limit, err.accepted, err.peer), (2, 3, p));
    // The caller takes the session down: everything goes.
    rib.peer_down(p);
    assert_eq!(rib.counts().prefixes, 0);
    assert!(
        rib.take_fib_changes().is_empty(),
        "added and removed before the FIB saw it"
    );
}

#[test]
fn filtered_prefixes_do_not_count_for_max_prefix() {
    let mut rib = rib();
    let mut cfg = peer_config(64501, 1);
    cfg.max_prefixes = Some(1);
    cfg.import = vcpe_bgp::rib::PrefixPolicy::new(
        vec![vcpe_bgp::rib::PrefixRule::exact(
            net("10.0.0.0/24"),
            vcpe_bgp::rib::Action::Accept,
        )],
        vcpe_bgp::rib::Action::Reject,
    );
    let p = add_up(&mut rib, 1, cfg);
    let r = rib.apply(
        p,
        &[],
        &nets(&["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"]),
        Some(&attrs(&[64501])),
    );
    assert!(r.is_ok());
}

#[test]
fn withdraw_lets_the_next_best_take_over() {
    let mut rib = rib();
    let p1 = ebgp(&mut rib, 1, 64501);
    let p2 = ebgp(&mut rib, 2, 64502);
    announce(&mut rib, p1, &["10.0.0.0/24"], &attrs(&[64501]));
    let mut longer = attrs(&[64502, 64503]);
    longer.next_hop = Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2)));
    announce(&mut rib, p2, &["10.0.0.0/24"], &longer);
    let ch = rib.take_fib_changes();
    assert!(matches!(
        ch.as_slice(),
        [BestChange::Add { route, .. }] if route.source == RouteSource::Peer(p1)
    ));
    withdraw(&mut rib, p1, &["10.0.0.0/24"]);
    let ch = rib.take_fib_changes();
    match ch.as_slice() {
        [BestChange::Replace { prefix, route }] => {
            assert_eq!(*prefix, net("10.0.0.0/24"));
            assert_eq!(route.source, RouteSource::Peer(p2));
            assert_eq!(
                route.next_hop,
                Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2)))
            );
            assert_eq!(route.reason, vcpe_bgp::rib::Reason::OnlyPath);
        }
        other => panic!("expected one Replace, got {other:?}"),
    }
    withdraw(&mut rib, p2, &["10.0.0.0/24"]);
    assert_eq!(
        rib.take_fib_changes(),
        vec![BestChange::Remove {
            prefix: net("10.0.0.0/24")
        }]
    );
    // Withdrawing what is not there is a no-op.
    let out = rib
        .apply(p2, &nets(&["10.0.0.0/24"]), &[], None)
        .expect("ok");
    assert_eq!(out.withdrawn, 0);
}

#[test]
fn fib_changes_coalesce_per_prefix() {
    let mut rib = rib();
    let p1 = ebgp(&mut rib, 1, 64501);
    let a = attrs(&[64501]);
    announce(&mut rib, p1, &["10.0.0.0/24", "10.0.1.0/24"], &a);
    // Added then removed before the take: nothing for 10.0.1.0/24.
    withdraw(&mut rib, p1, &["10.0.1.0/24"]);
    let ch = rib.take_fib_changes();
    assert_eq!(ch.len(), 1);
    assert_eq!(ch[0].prefix(), net("10.0.0.0/24"));
    // Flap back to the same attributes: nothing.
    withdraw(&mut rib, p1, &["10.0.0.0/24"]);
    announce(&mut rib, p1, &["10.0.0.0/24"], &a);
    assert!(rib.take_fib_changes().is_empty());
    // Attribute change, then another: one Replace with the last.
    announce(&mut rib, p1, &["10.0.0.0/24"], &attrs(&[64501, 1]));
    announce(&mut rib, p1, &["10.0.0.0/24"], &attrs(&[64501, 2]));
    let ch = rib.take_fib_changes();
    match ch.as_slice() {
        [BestChange::Replace { route, .. }] => {
            assert_eq!(route.attrs.as_path, attrs(&[64501, 2]).as_path)
        }
        other => panic!("expected one Replace, got {other:?}"),
    }
    // A non-best path changing does not touch the FIB.
    let p2 = ebgp(&mut rib, 2, 64502);
    announce(&mut rib, p2, &["10.0.0.0/24"], &attrs(&[64502, 1, 2, 3]));
    assert!(rib.take_fib_changes().is_empty());
}

#[test]
fn peer_down_withdraws_its_routes() {
    let mut rib = rib();
    let p1 = ebgp(&mut rib, 1, 64501);
    let p2 = ebgp(&mut rib, 2, 64502);
    announce(
        &mut rib,
        p1,
        &["10.0.0.0/24", "10.0.1.0/24"],
        &attrs(&[64501]),
    );
    announce(&mut rib, p2, &["10.0.0.0/24"], &attrs(&[64502, 9]));
    rib.take_fib_changes();
    rib.peer_down(p1);
    let mut ch = rib.take_fib_changes();
    ch.sort_by_key(|c| c.prefix());
    assert!(
        matches!(&ch[0], BestChange::Replace { route, .. } if route.source == RouteSource::Peer(p2))
    );
    assert_eq!(
        ch[1],
        BestChange::Remove {
            prefix: net("10.0.1.0/24")
        }
    );
    assert_eq!(rib.adj_in(p1), vec![]);
    let c = rib.peer_counts(p1).expect("peer");
    assert!(!c.established);
    assert_eq!(c.accepted, 0);
    // Updates from a peer that is down are ignored.
    let out = rib
        .apply(p1, &[], &nets(&["10.9.0.0/24"]), Some(&attrs(&[64501])))
        .expect("ok");
    assert!(out.ignored);
    // Back up: accepted again.
    rib.peer_up(
        p1,
        PeerUp {
            router_id: router_id(1),
            families: both_families(),
            four_octet_as: true,
            add_path_receive: Default::default(),
            add_path_send: Default::default(),
        },
    );
    announce(&mut rib, p1, &["10.9.0.0/24"], &attrs(&[64501]));
    assert!(rib.best(net("10.9.0.0/24")).is_some());
}

#[test]
fn remove_peer_withdraws_and_forgets() {
    let mut rib = rib();
    let p1 = ebgp(&mut rib, 1, 64501);
    announce(&mut rib, p1, &["10.0.0.0/24"], &attrs(&[64501]));
    rib.remove_peer(p1);
    assert!(rib.best(net("10.0.0.0/24")).is_none());
    assert!(rib.peer_counts(p1).is_none());
    assert!(rib.peer_ids().is_empty());
}

#[test]
fn lookup_is_longest_match() {
    let mut rib = rib();
    rib.originate(net("10.0.0.0/8"), None);
    rib.originate(net("10.1.0.0/16"), None);
    rib.originate(net("2001:db8::/32"), None);
    let hit = |a: &str| rib.lookup(a.parse().expect("addr")).map(|(n, _)| n);
    assert_eq!(hit("10.1.2.3"), Some(net("10.1.0.0/16")));
    assert_eq!(hit("10.2.2.3"), Some(net("10.0.0.0/8")));
    assert_eq!(hit("11.0.0.1"), None);
    assert_eq!(hit("2001:db8::1"), Some(net("2001:db8::/32")));
    assert_eq!(rib.counts().prefixes_v6, 1);
}

#[test]
fn prefixes_are_normalized() {
    let mut rib = rib();
    let p = ebgp(&mut rib, 1, 64501);
    announce(&mut rib, p, &["10.0.0.77/24"], &attrs(&[64501]));
    assert!(rib.best(net("10.0.0.0/24")).is_some());
    withdraw(&mut rib, p, &["10.0.0.1/24"]);
    assert!(rib.best(net("10.0.0.0/24")).is_none());
}
