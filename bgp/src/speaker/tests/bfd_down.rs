//! RFC 5882 coupling: the BFD session to a neighbor goes down, the BGP
//! session goes down at once with Cease / BFD Down (RFC 9384), its routes
//! are withdrawn, and it stays down until BFD is Up again.

use super::*;

fn up_with_route() -> Pair {
    let mut p = Pair::new();
    p.b.originate(p.now, net("10.2.0.0/16"), None);
    p.advance(Duration::from_secs(1));
    assert!(p.established());
    assert!(p.a.rib().best(net("10.2.0.0/16")).is_some());
    p.a.take_fib_changes();
    p
}

#[test]
fn bfd_down_tears_the_session_down_with_cease_10_and_withdraws_its_routes() {
    let mut p = up_with_route();
    let sent_before = p.written_by_a.len();
    assert!(p.a.bfd_down(p.now, p.a_peer, "control detection time expired"));
    p.pump();
    let notes = notifications(&p.written_by_a[sent_before..]);
    assert_eq!(notes, [(6, 10, Vec::new())], "Cease / BFD Down");
    assert!(p.a.rib().best(net("10.2.0.0/16")).is_none());
    let withdrawn = p.a.take_fib_changes();
    assert!(
        withdrawn.iter().any(
            |c| matches!(c, BestChange::Remove { prefix, .. } if *prefix == net("10.2.0.0/16"))
        ),
        "{withdrawn:?}"
    );
    let cause = DownCause::BfdDown {
        detail: "control detection time expired".to_owned(),
    };
    assert_eq!(p.downs_a, std::slice::from_ref(&cause));
    assert!(
        cause.to_string().contains("Cease / BFD Down (6/10)"),
        "{cause}"
    );
    assert!(cause.hint(IpAddr::V4(B)).contains("vcpectl bfd"));
    let s = &p.a.summaries(p.now)[0];
    assert_eq!(s.state, "Idle (BFD down)");
    assert_eq!(s.last_error.as_deref(), Some(cause.to_string().as_str()));
    let d = p.a.neighbor_detail(IpAddr::V4(B), p.now).expect("detail");
    assert_eq!(d.last_cause, Some(cause));
    assert!(d.bfd_held);
    // b reads the NOTIFICATION as the peer's.
    let b = &p.b.summaries(p.now)[0];
    assert!(
        b.last_error
            .as_deref()
            .is_some_and(|e| e.contains("BFD Down")),
        "{b:?}"
    );
}

#[test]
fn the_session_stays_down_until_bfd_is_up_then_comes_back() {
    let mut p = up_with_route();
    p.a.bfd_down(p.now, p.a_peer, "neighbor signaled session down");
    p.pump();
    p.advance(Duration::from_secs(300));
    assert_eq!(p.a.summaries(p.now)[0].state, "Idle (BFD down)");
    // The operator's enable does not override a down BFD session.
    assert!(p.a.enable(p.now, p.a_peer));
    p.advance(Duration::from_secs(60));
    assert_eq!(p.a.summaries(p.now)[0].state, "Idle (BFD down)");
    assert!(p.a.bfd_up(p.now, p.a_peer));
    p.advance(Duration::from_secs(10));
    assert!(p.established(), "{:?}", p.a.summaries(p.now));
    assert!(p.a.rib().best(net("10.2.0.0/16")).is_some());
    assert_eq!(p.a.summaries(p.now)[0].established_transitions, 2);
}

#[test]
fn bfd_up_without_a_preceding_down_changes_nothing() {
    let mut p = up_with_route();
    assert!(p.a.bfd_up(p.now, p.a_peer));
    p.pump();
    assert!(p.established());
    assert_eq!(p.a.summaries(p.now)[0].established_transitions, 1);
    assert!(!p.a.bfd_down(p.now, PeerId(99), "x"), "unknown neighbor");
    assert!(!p.a.bfd_up(p.now, PeerId(99)));
}

#[test]
fn a_disabled_neighbor_stays_disabled_when_bfd_comes_back() {
    let mut p = up_with_route();
    p.a.bfd_down(p.now, p.a_peer, "control detection time expired");
    p.a.disable(p.now, p.a_peer, None);
    p.pump();
    p.a.bfd_up(p.now, p.a_peer);
    p.advance(Duration::from_secs(60));
    assert_eq!(p.a.summaries(p.now)[0].state, "Idle (admin)");
}
