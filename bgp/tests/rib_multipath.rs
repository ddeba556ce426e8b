//! Multipath (ECMP): which paths are equal to the best one, what the FIB
//! feed hands over with `maximum_paths` > 1, that a member's session going
//! down removes only that member, and that with the default of one path
//! nothing changes.

use std::net::{IpAddr, Ipv4Addr};

use vcpe_bgp::model::PathAttributes;
use vcpe_bgp::rib::{BestChange, MultipathMember, PeerId, Rib, RouteSource};

#[path = "rib_helpers.rs"]
mod helpers;
use helpers::*;

/// Attributes as peer `n` in AS `asn` sends them: next hop 198.51.100.n.
fn from(n: u8, path: &[u32]) -> PathAttributes {
    let mut a = attrs(path);
    a.next_hop = Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, n)));
    a
}

fn hop(n: u8) -> Option<IpAddr> {
    Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, n)))
}

/// The one change for 10.2.0.0/16: (best next hop, other members' hops).
fn change(rib: &mut Rib) -> Option<(Option<IpAddr>, Vec<Option<IpAddr>>)> {
    let changes = rib.take_fib_changes();
    assert!(changes.len() <= 1, "{changes:?}");
    changes.into_iter().next().map(|c| match c {
        BestChange::Add { route, .. } | BestChange::Replace { route, .. } => (
            route.next_hop,
            route.multipath.iter().map(|m| m.next_hop).collect(),
        ),
        BestChange::Remove { .. } => (None, Vec::new()),
    })
}

/// Peers 1, 2, 3 in AS 65002 (3 on a longer path), 4 in AS 65004.
fn four_peers(rib: &mut Rib) -> [PeerId; 4] {
    [
        ebgp(rib, 1, 65002),
        ebgp(rib, 2, 65002),
        ebgp(rib, 3, 65002),
        ebgp(rib, 4, 65004),
    ]
}

#[test]
fn equal_paths_from_the_same_neighbor_as_are_members() {
    let mut rib = rib();
    rib.set_maximum_paths(4, 4);
    let [p1, p2, p3, p4] = four_peers(&mut rib);
    announce(&mut rib, p2, &["10.2.0.0/16"], &from(2, &[65002]));
    assert_eq!(change(&mut rib), Some((hop(2), vec![])));
    // Peer 1 has the lower router id: it becomes best, 2 stays a member.
    announce(&mut rib, p1, &["10.2.0.0/16"], &from(1, &[65002]));
    assert_eq!(change(&mut rib), Some((hop(1), vec![hop(2)])));
    // A longer AS path and another neighbor AS are not equal.
    announce(&mut rib, p3, &["10.2.0.0/16"], &from(3, &[65002, 65003]));
    announce(&mut rib, p4, &["10.2.0.0/16"], &from(4, &[65004]));
    let best = rib.best("10.2.0.0/16".parse().unwrap()).unwrap();
    assert_eq!(
        &*best.multipath,
        [MultipathMember {
            next_hop: hop(2),
            source: RouteSource::Peer(p2),
        }]
    );
    // Nothing the FIB holds changed for the two unequal paths... but they
    // may be reported again (as the same route): never a different one.
    if let Some(c) = change(&mut rib) {
        assert_eq!(c, (hop(1), vec![hop(2)]));
    }
}

#[test]
fn a_member_going_down_leaves_only_itself() {
    let mut rib = rib();
    rib.set_maximum_paths(4, 1);
    let [p1, p2, p3, _] = four_peers(&mut rib);
    for (p, n) in [(p1, 1), (p2, 2), (p3, 3)] {
        announce(&mut rib, p, &["10.2.0.0/16"], &from(n, &[65002]));
    }
    assert_eq!(change(&mut rib), Some((hop(1), vec![hop(2), hop(3)])));
    // A non-best member goes: the best path is unchanged, the FIB is told.
    rib.peer_down(p2);
    assert_eq!(change(&mut rib), Some((hop(1), vec![hop(3)])));
    // The best one goes: the next takes over, with the rest.
    rib.peer_down(p1);
    assert_eq!(change(&mut rib), Some((hop(3), vec![])));
    // It comes back.
    rib.peer_up(p2, up(2));
    announce(&mut rib, p2, &["10.2.0.0/16"], &from(2, &[65002]));
    assert_eq!(change(&mut rib), Some((hop(2), vec![hop(3)])));
    assert_eq!(change(&mut rib), None);
}

#[test]
fn maximum_paths_caps_members_by_tie_break_order() {
    let mut rib = rib();
    rib.set_maximum_paths(2, 2);
    let [p1, p2, p3, _] = four_peers(&mut rib);
    // Arrive in reverse order: the choice is still by router id.
    for (p, n) in [(p3, 3), (p2, 2), (p1, 1)] {
        announce(&mut rib, p, &["10.2.0.0/16"], &from(n, &[65002]));
    }
    assert_eq!(change(&mut rib), Some((hop(1), vec![hop(2)])));
}

#[test]
fn one_path_by_default_and_no_extra_changes() {
    let mut rib = rib();
    assert_eq!(rib.maximum_paths(), (1, 1));
    let [p1, p2, _, _] = four_peers(&mut rib);
    announce(&mut rib, p1, &["10.2.0.0/16"], &from(1, &[65002]));
    assert_eq!(change(&mut rib), Some((hop(1), vec![])));
    announce(&mut rib, p2, &["10.2.0.0/16"], &from(2, &[65002]));
    assert_eq!(change(&mut rib), None, "a non-best path is not the FIB's");
    rib.peer_down(p2);
    assert_eq!(change(&mut rib), None);
    // Turning multipath on hands the FIB the prefixes with several paths.
    rib.peer_up(p2, up(2));
    announce(&mut rib, p2, &["10.2.0.0/16"], &from(2, &[65002]));
    assert_eq!(change(&mut rib), None);
    rib.set_maximum_paths(2, 2);
    assert_eq!(change(&mut rib), Some((hop(1), vec![hop(2)])));
}

#[test]
fn ipv6_has_its_own_maximum() {
    let mut rib = rib();
    rib.set_maximum_paths(1, 2);
    let [p1, p2, _, _] = four_peers(&mut rib);
    let mut a1 = from(1, &[65002]);
    a1.next_hop = Some("2001:db8::1".parse().unwrap());
    let mut a2 = from(2, &[65002]);
    a2.next_hop = Some("2001:db8::2".parse().unwrap());
    announce(&mut rib, p1, &["2001:db8:2::/48", "10.2.0.0/16"], &a1);
    announce(&mut rib, p2, &["2001:db8:2::/48", "10.2.0.0/16"], &a2);
    let v6 = rib.best("2001:db8:2::/48".parse().unwrap()).unwrap();
    assert_eq!(v6.multipath.len(), 1);
    let v4 = rib.best("10.2.0.0/16".parse().unwrap()).unwrap();
    assert!(v4.multipath.is_empty());
}

/// Primary/backup by MED still works with multipath on: a path that loses
/// at the MED step is not a member. (LOCAL_PREF from an eBGP peer is not
/// taken, RFC 4271 §5.1.5: that path stays equal.)
#[test]
fn med_keeps_a_backup_out_of_the_group() {
    let mut rib = rib();
    rib.set_maximum_paths(4, 4);
    let [p1, p2, p3, _] = four_peers(&mut rib);
    announce(&mut rib, p1, &["10.2.0.0/16"], &from(1, &[65002]));
    let mut backup = from(2, &[65002]);
    backup.med = Some(100);
    announce(&mut rib, p2, &["10.2.0.0/16"], &backup);
    let mut ebgp_pref = from(3, &[65002]);
    ebgp_pref.local_pref = Some(50);
    announce(&mut rib, p3, &["10.2.0.0/16"], &ebgp_pref);
    assert_eq!(change(&mut rib), Some((hop(1), vec![hop(3)])));
    // The primaries go: the backup takes over alone.
    rib.peer_down(p1);
    rib.peer_down(p3);
    assert_eq!(change(&mut rib), Some((hop(2), vec![])));
}
