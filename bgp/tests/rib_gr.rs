//! Graceful restart, helper side (RFC 4724): stale routes kept and used,
//! replaced by new announcements, purged by End-of-RIB or the timer.

use vcpe_bgp::model::AddrFamily;
use vcpe_bgp::rib::BestChange;

#[path = "rib_helpers.rs"]
mod helpers;
use helpers::*;

fn v6_attrs() -> vcpe_bgp::model::PathAttributes {
    let mut a = attrs(&[64501]);
    a.next_hop = Some("2001:db8:ff::1".parse().expect("v6"));
    a
}

#[test]
fn stale_routes_survive_until_end_of_rib() {
    let mut rib = rib();
    let p = ebgp(&mut rib, 1, 64501);
    let other = ebgp(&mut rib, 2, 64502);
    announce(
        &mut rib,
        p,
        &["10.0.0.0/24", "10.0.1.0/24"],
        &attrs(&[64501]),
    );
    announce(&mut rib, p, &["2001:db8:1::/48"], &v6_attrs());
    rib.take_fib_changes();
    rib.take_exports(other);

    rib.peer_down_graceful(p, &[AddrFamily::IPV4_UNICAST]);
    // IPv4 kept (stale, still forwarding); IPv6 not preserved: removed.
    assert_eq!(
        rib.take_fib_changes(),
        vec![BestChange::Remove {
            prefix: net("2001:db8:1::/48")
        }]
    );
    assert_eq!(
        withdrawn(&rib.take_exports(other)),
        nets(&["2001:db8:1::/48"])
    );
    let v = rib.routes(net("10.0.0.0/24"));
    assert!(v[0].best && v[0].stale);
    let c = rib.peer_counts(p).expect("peer");
    assert_eq!((c.accepted, c.stale, c.established), (0, 2, false));

    // Re-established: re-announces one prefix (no longer stale), then EoR.
    rib.peer_up(p, up(1));
    announce(&mut rib, p, &["10.0.0.0/24"], &attrs(&[64501]));
    assert!(
        rib.take_fib_changes().is_empty(),
        "same route: no FIB churn"
    );
    assert!(!rib.routes(net("10.0.0.0/24"))[0].stale);
    let c = rib.peer_counts(p).expect("peer");
    assert_eq!((c.accepted, c.stale), (1, 1));
    // EoR for another family purges nothing of IPv4.
    rib.end_of_rib(p, AddrFamily::IPV6_UNICAST);
    assert!(rib.best(net("10.0.1.0/24")).is_some());
    rib.end_of_rib(p, AddrFamily::IPV4_UNICAST);
    assert_eq!(
        rib.take_fib_changes(),
        vec![BestChange::Remove {
            prefix: net("10.0.1.0/24")
        }]
    );
    assert_eq!(withdrawn(&rib.take_exports(other)), nets(&["10.0.1.0/24"]));
    assert_eq!(rib.peer_counts(p).expect("peer").stale, 0);
}

#[test]
fn new_attributes_replace_stale_routes() {
    let mut rib = rib();
    let p = ebgp(&mut rib, 1, 64501);
    announce(&mut rib, p, &["10.0.0.0/24"], &attrs(&[64501]));
    rib.take_fib_changes();
    rib.peer_down_graceful(p, &[AddrFamily::IPV4_UNICAST]);
    rib.peer_up(p, up(1));
    announce(&mut rib, p, &["10.0.0.0/24"], &attrs(&[64501, 9]));
    let ch = rib.take_fib_changes();
    assert!(matches!(ch.as_slice(), [BestChange::Replace { .. }]));
}

#[test]
fn timer_purges_stale_routes() {
    let mut rib = rib();
    let p = ebgp(&mut rib, 1, 64501);
    announce(&mut rib, p, &["10.0.0.0/24"], &attrs(&[64501]));
    rib.take_fib_changes();
    rib.peer_down_graceful(p, &[AddrFamily::IPV4_UNICAST]);
    assert!(rib.take_fib_changes().is_empty());
    rib.purge_stale(p);
    assert_eq!(
        rib.take_fib_changes(),
        vec![BestChange::Remove {
            prefix: net("10.0.0.0/24")
        }]
    );
    assert_eq!(rib.counts().paths, 0);
}

#[test]
fn hard_down_after_graceful_removes_stale() {
    let mut rib = rib();
    let p = ebgp(&mut rib, 1, 64501);
    announce(&mut rib, p, &["10.0.0.0/24"], &attrs(&[64501]));
    rib.peer_down_graceful(p, &[AddrFamily::IPV4_UNICAST]);
    rib.peer_down(p);
    assert!(rib.best(net("10.0.0.0/24")).is_none());
    assert_eq!(rib.peer_counts(p).expect("peer").stale, 0);
}

#[test]
fn stale_routes_are_in_the_dump_of_a_new_peer() {
    let mut rib = rib();
    let p = ebgp(&mut rib, 1, 64501);
    announce(&mut rib, p, &["10.0.0.0/24"], &attrs(&[64501]));
    rib.peer_down_graceful(p, &[AddrFamily::IPV4_UNICAST]);
    let q = add_up(&mut rib, 2, peer_config(64502, 2));
    assert_eq!(announced(&rib.take_exports(q)), nets(&["10.0.0.0/24"]));
    // The restarting peer's initial dump does not include its own routes.
    rib.peer_up(p, up(1));
    let x = rib.take_exports(p);
    assert!(x.announce.is_empty());
    assert_eq!(x.end_of_rib, both_families());
}
