//! Prefix policies: rule matching (exact, ge, le, both), first match wins,
//! default action; applied on import and on export.

use vcpe_bgp::rib::{Action, PrefixPolicy, PrefixRule};

#[path = "rib_helpers.rs"]
mod helpers;
use helpers::*;

#[test]
fn exact_rule_matches_only_that_prefix() {
    let r = PrefixRule::exact(net("10.0.0.0/8"), Action::Accept);
    assert!(r.matches(&net("10.0.0.0/8")));
    assert!(!r.matches(&net("10.1.0.0/16")));
    assert!(!r.matches(&net("11.0.0.0/8")));
    assert!(!r.matches(&net("0.0.0.0/0")));
}

#[test]
fn ge_le_ranges() {
    let ge = PrefixRule::range(net("10.0.0.0/8"), Some(16), None, Action::Accept);
    assert!(!ge.matches(&net("10.0.0.0/8")));
    assert!(!ge.matches(&net("10.0.0.0/15")));
    assert!(ge.matches(&net("10.1.0.0/16")));
    assert!(ge.matches(&net("10.1.2.3/32")));
    assert!(!ge.matches(&net("11.1.0.0/16")));

    let le = PrefixRule::range(net("10.0.0.0/8"), None, Some(24), Action::Accept);
    assert!(le.matches(&net("10.0.0.0/8")));
    assert!(le.matches(&net("10.1.2.0/24")));
    assert!(!le.matches(&net("10.1.2.128/25")));

    let both = PrefixRule::range(net("10.0.0.0/8"), Some(16), Some(24), Action::Accept);
    assert!(!both.matches(&net("10.0.0.0/8")));
    assert!(both.matches(&net("10.9.0.0/20")));
    assert!(!both.matches(&net("10.9.0.0/25")));

    let empty = PrefixRule::range(net("10.0.0.0/8"), Some(24), Some(16), Action::Accept);
    assert!(!empty.matches(&net("10.9.0.0/20")));

    let v6 = PrefixRule::range(net("2001:db8::/32"), Some(48), None, Action::Accept);
    assert!(v6.matches(&net("2001:db8:1::/48")));
    assert!(v6.matches(&net("2001:db8:1::1/128")));
    assert!(!v6.matches(&net("2001:db8::/32")));
    assert!(!v6.matches(&net("10.0.0.0/24")), "families never match");
}

#[test]
fn first_match_wins_then_default() {
    let p = PrefixPolicy::new(
        vec![
            PrefixRule::range(net("10.1.0.0/16"), None, Some(32), Action::Reject),
            PrefixRule::range(net("10.0.0.0/8"), None, Some(24), Action::Accept),
        ],
        Action::Reject,
    );
    assert!(!p.permits(&net("10.1.2.0/24")));
    assert!(p.permits(&net("10.2.2.0/24")));
    assert!(!p.permits(&net("10.2.2.0/25")), "no rule: default reject");
    assert!(!p.permits(&net("192.168.0.0/16")));
    assert!(PrefixPolicy::default().permits(&net("0.0.0.0/0")));
    assert!(PrefixPolicy::accept_all().permits(&net("::/0")));
    assert!(!PrefixPolicy::reject_all().permits(&net("10.0.0.0/8")));
}

#[test]
fn import_policy_filters_and_counts() {
    let mut rib = rib();
    let mut cfg = peer_config(64501, 1);
    cfg.import = PrefixPolicy::new(
        vec![PrefixRule::range(
            net("10.0.0.0/8"),
            Some(16),
            Some(24),
            Action::Accept,
        )],
        Action::Reject,
    );
    let p = add_up(&mut rib, 1, cfg);
    let out = rib
        .apply(
            p,
            &[],
            &nets(&["10.1.0.0/16", "10.1.1.0/24", "10.0.0.0/8", "10.1.1.0/25"]),
            Some(&attrs(&[64501])),
        )
        .expect("no limit");
    assert_eq!((out.accepted, out.filtered), (2, 2));
    assert!(rib.best(net("10.1.0.0/16")).is_some());
    assert!(rib.best(net("10.1.1.0/24")).is_some());
    assert!(rib.best(net("10.0.0.0/8")).is_none());
    assert!(rib.best(net("10.1.1.0/25")).is_none());
    let c = rib.peer_counts(p).expect("peer");
    assert_eq!((c.received, c.accepted, c.filtered), (4, 2, 2));
    // Withdrawing a filtered prefix forgets it.
    withdraw(&mut rib, p, &["10.0.0.0/8"]);
    let c = rib.peer_counts(p).expect("peer");
    assert_eq!((c.received, c.accepted, c.filtered), (3, 2, 1));
    assert_eq!(rib.adj_in(p).len(), 2);
}

#[test]
fn export_policy_filters() {
    let mut rib = rib();
    let src = ebgp(&mut rib, 1, 64501);
    let mut cfg = peer_config(64502, 2);
    cfg.export = PrefixPolicy::new(
        vec![PrefixRule::range(
            net("10.0.0.0/8"),
            None,
            Some(16),
            Action::Reject,
        )],
        Action::Accept,
    );
    let dst = add_up(&mut rib, 2, cfg);
    rib.take_exports(dst);
    announce(
        &mut rib,
        src,
        &["10.0.0.0/8", "10.1.0.0/16", "10.1.1.0/24", "192.168.0.0/16"],
        &attrs(&[64501]),
    );
    let e = rib.take_exports(dst);
    assert_eq!(announced(&e), nets(&["10.1.1.0/24", "192.168.0.0/16"]));
    assert_eq!(rib.adj_out(dst).len(), 2);
}
