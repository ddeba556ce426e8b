//! Best-path selection: each step of `compare` decides in isolation with
//! the right `Reason`, MED only within one neighbor AS, `select` is order
//! independent, and the RIB reports the reasons.

use std::cmp::Ordering;
use std::net::{IpAddr, Ipv4Addr};

use vcpe_bgp::model::{AsPath, Origin, PathAttributes};
use vcpe_bgp::rib::{Candidate, CandidateSource, Reason, RouteSource, compare, select};

#[path = "rib_helpers.rs"]
mod helpers;
use helpers::*;

fn peer(ebgp: bool, rid: u8, addr: u8) -> CandidateSource {
    CandidateSource::Peer {
        ebgp,
        router_id: Ipv4Addr::new(10, 0, 0, rid),
        addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, addr)),
    }
}

fn base() -> PathAttributes {
    attrs(&[64500, 64501])
}

/// compare both ways: `a` must win with `reason`, symmetric for `b`.
fn wins(a: &Candidate<'_>, b: &Candidate<'_>, reason: Reason) {
    assert_eq!(compare(a, b), (Ordering::Less, reason), "a over b");
    assert_eq!(compare(b, a), (Ordering::Greater, reason), "b under a");
}

#[test]
fn higher_local_pref_wins() {
    let mut hi = base();
    hi.local_pref = Some(200);
    // Worse on every later step, still wins.
    hi.as_path = AsPath::sequence(vec![1, 2, 3, 4]);
    hi.origin = Origin::Incomplete;
    let lo = base();
    let a = Candidate {
        attrs: &hi,
        source: peer(false, 9, 9),
    };
    let b = Candidate {
        attrs: &lo,
        source: peer(true, 1, 1),
    };
    wins(&a, &b, Reason::HigherLocalPref(200, 100));
}

#[test]
fn missing_local_pref_is_100() {
    let mut x = base();
    x.local_pref = Some(100);
    let y = base();
    let a = Candidate {
        attrs: &x,
        source: peer(true, 1, 1),
    };
    let b = Candidate {
        attrs: &y,
        source: peer(true, 2, 2),
    };
    // Local-pref ties: decided by router id.
    assert_eq!(
        compare(&a, &b),
        (
            Ordering::Less,
            Reason::LowerRouterId(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2))
        )
    );
}

#[test]
fn locally_originated_beats_learned() {
    let mut local = base();
    local.as_path = AsPath::default();
    local.local_pref = Some(100);
    local.origin = Origin::Incomplete;
    let mut learned = base();
    learned.as_path = AsPath::default();
    let a = Candidate {
        attrs: &local,
        source: CandidateSource::Local,
    };
    let b = Candidate {
        attrs: &learned,
        source: peer(true, 1, 1),
    };
    wins(&a, &b, Reason::LocalOrigin);
}

#[test]
fn shorter_as_path_wins() {
    let short = attrs(&[1, 2]);
    let mut long = attrs(&[1, 2, 3]);
    long.med = Some(0);
    let mut short_bad = short.clone();
    short_bad.origin = Origin::Incomplete;
    short_bad.med = Some(1000);
    let a = Candidate {
        attrs: &short_bad,
        source: peer(false, 9, 9),
    };
    let b = Candidate {
        attrs: &long,
        source: peer(true, 1, 1),
    };
    wins(&a, &b, Reason::ShorterAsPath(2, 3));
    assert_eq!(
        Reason::ShorterAsPath(2, 3).to_string(),
        "shorter AS path (2 < 3)"
    );
}

#[test]
fn as_set_counts_one() {
    use vcpe_bgp::model::AsSegment;
    let set = PathAttributes {
        as_path: AsPath::from(vec![
            AsSegment::Sequence(vec![1]),
            AsSegment::Set(vec![5, 6, 7]),
        ]),
        ..base()
    };
    let seq = attrs(&[1, 2, 3]);
    let a = Candidate {
        attrs: &set,
        source: peer(true, 9, 9),
    };
    let b = Candidate {
        attrs: &seq,
        source: peer(true, 1, 1),
    };
    wins(&a, &b, Reason::ShorterAsPath(2, 3));
}

#[test]
fn lower_origin_wins() {
    for (w, l) in [
        (Origin::Igp, Origin::Egp),
        (Origin::Egp, Origin::Incomplete),
        (Origin::Igp, Origin::Incomplete),
    ] {
        let mut x = base();
        x.origin = w;
        x.med = Some(50);
        let mut y = base();
        y.origin = l;
        let a = Candidate {
            attrs: &x,
            source: peer(false, 9, 9),
        };
        let b = Candidate {
            attrs: &y,
            source: peer(true, 1, 1),
        };
        wins(&a, &b, Reason::LowerOrigin(w, l));
    }
    assert_eq!(
        Reason::LowerOrigin(Origin::Igp, Origin::Incomplete).to_string(),
        "lower origin (IGP < INCOMPLETE)"
    );
}

#[test]
fn lower_med_wins_within_same_neighbor_as() {
    let mut x = base();
    x.med = Some(10);
    let mut y = base();
    y.med = Some(20);
    let a = Candidate {
        attrs: &x,
        source: peer(false, 9, 9),
    };
    let b = Candidate {
        attrs: &y,
        source: peer(true, 1, 1),
    };
    wins(&a, &b, Reason::LowerMed(10, 20));
}

#[test]
fn missing_med_is_zero() {
    let x = base();
    let mut y = base();
    y.med = Some(1);
    let a = Candidate {
        attrs: &x,
        source: peer(false, 9, 9),
    };
    let b = Candidate {
        attrs: &y,
        source: peer(true, 1, 1),
    };
    wins(&a, &b, Reason::LowerMed(0, 1));
}

#[test]
fn med_ignored_across_neighbor_ases() {
    let mut x = attrs(&[64500, 1]);
    x.med = Some(500);
    let mut y = attrs(&[64600, 1]);
    y.med = Some(1);
    // x is from the lower router id: MED is skipped, router id decides.
    let a = Candidate {
        attrs: &x,
        source: peer(true, 1, 1),
    };
    let b = Candidate {
        attrs: &y,
        source: peer(true, 2, 2),
    };
    wins(
        &a,
        &b,
        Reason::LowerRouterId(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)),
    );
}

#[test]
fn ebgp_over_ibgp() {
    let x = base();
    let y = base();
    let a = Candidate {
        attrs: &x,
        source: peer(true, 9, 9),
    };
    let b = Candidate {
        attrs: &y,
        source: peer(false, 1, 1),
    };
    wins(&a, &b, Reason::EbgpOverIbgp);
}

#[test]
fn lower_router_id_wins() {
    let x = base();
    let a = Candidate {
        attrs: &x,
        source: peer(true, 1, 9),
    };
    let b = Candidate {
        attrs: &x,
        source: peer(true, 2, 1),
    };
    wins(
        &a,
        &b,
        Reason::LowerRouterId(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)),
    );
}

#[test]
fn lower_peer_address_wins() {
    let x = base();
    let a = Candidate {
        attrs: &x,
        source: peer(true, 1, 1),
    };
    let b = Candidate {
        attrs: &x,
        source: peer(true, 1, 2),
    };
    wins(
        &a,
        &b,
        Reason::LowerPeerAddress(
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
        ),
    );
}

#[test]
fn identical_paths_are_equal() {
    let x = base();
    let a = Candidate {
        attrs: &x,
        source: peer(true, 1, 1),
    };
    assert_eq!(compare(&a, &a).0, Ordering::Equal);
}

#[test]
fn select_is_order_independent_with_med_cycles() {
    // The classic MED intransitivity: B beats C on MED (same AS 1), C beats
    // A on router id, A beats B on router id (MED skipped: other AS).
    let a_attrs = attrs(&[2, 9]);
    let mut b_attrs = attrs(&[1, 9]);
    b_attrs.med = Some(0);
    let mut c_attrs = attrs(&[1, 9]);
    c_attrs.med = Some(10);
    let a = (
        Candidate {
            attrs: &a_attrs,
            source: peer(true, 2, 2),
        },
        2,
    );
    let b = (
        Candidate {
            attrs: &b_attrs,
            source: peer(true, 3, 3),
        },
        3,
    );
    let c = (
        Candidate {
            attrs: &c_attrs,
            source: peer(true, 1, 1),
        },
        1,
    );
    let orders = [
        [a, b, c],
        [a, c, b],
        [b, a, c],
        [b, c, a],
        [c, a, b],
        [c, b, a],
    ];
    for o in orders {
        let i = select(&o).expect("non-empty");
        // Per neighbor AS: B wins AS 1 (MED); then A beats B (router id).
        assert_eq!(o[i].1, 2, "A selected whatever the order");
    }
    assert_eq!(select(&[]), None);
}

#[test]
fn rib_reports_reasons() {
    let mut rib = rib();
    let p1 = ebgp(&mut rib, 1, 64501);
    let p2 = ebgp(&mut rib, 2, 64502);
    announce(&mut rib, p1, &["203.0.113.0/24"], &attrs(&[64501, 7]));
    let best = rib.best(net("203.0.113.0/24")).expect("route");
    assert_eq!(best.reason, Reason::OnlyPath);
    announce(&mut rib, p2, &["203.0.113.0/24"], &attrs(&[64502]));
    let best = rib.best(net("203.0.113.0/24")).expect("route");
    assert_eq!(best.source, RouteSource::Peer(p2));
    assert_eq!(best.reason, Reason::ShorterAsPath(1, 2));
    let views = rib.routes(net("203.0.113.0/24"));
    assert_eq!(views.len(), 2);
    assert!(views[0].best && !views[1].best);
    assert_eq!(views[1].source, RouteSource::Peer(p1));
    assert_eq!(views[1].reason, Reason::ShorterAsPath(1, 2));
    assert_eq!(views[1].beaten_by, Some(RouteSource::Peer(p2)));
    // Local origin beats both.
    rib.originate(net("203.0.113.0/24"), None);
    let best = rib.best(net("203.0.113.0/24")).expect("route");
    assert_eq!(best.source, RouteSource::Local);
    assert_eq!(best.reason, Reason::LocalOrigin);
}
