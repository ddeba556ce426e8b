//! Route policy rules through the RIB: import rules (reject, LOCAL_PREF
//! changing the best path, communities), export rules (MED and prepend
//! towards eBGP, communities, reject, first match wins, adj-out naming the
//! rule), well-known communities set by policy, and locally originated
//! routes with a MED, communities and prepends.

use vcpe_bgp::model::{AsPath, Community, LargeCommunity};
use vcpe_bgp::rib::{
    Action, Match, Origination, PrefixPolicy, PrefixRule, RouteSource, Rule, Rules, Set,
};

#[path = "rib_helpers.rs"]
mod helpers;
use helpers::*;

fn only(prefix: &str) -> Option<PrefixPolicy> {
    Some(PrefixPolicy::new(
        vec![PrefixRule::exact(net(prefix), Action::Accept)],
        Action::Reject,
    ))
}

fn accept(when: Match, set: Set) -> Rule {
    Rule {
        when,
        action: Action::Accept,
        set,
    }
}

#[test]
fn import_local_pref_changes_the_best_path() {
    let mut rib = rib();
    let a = ebgp(&mut rib, 1, 64501);
    let mut cfg = peer_config(64502, 2);
    cfg.import_rules = Rules(vec![accept(
        Match::default(),
        Set {
            local_pref: Some(200),
            ..Set::default()
        },
    )]);
    let b = add_up(&mut rib, 2, cfg);
    // B's path is longer, but its LOCAL_PREF wins.
    announce(&mut rib, a, &["10.0.0.0/24"], &attrs(&[64501]));
    announce(&mut rib, b, &["10.0.0.0/24"], &attrs(&[64502, 64599]));
    let best = rib.best(net("10.0.0.0/24")).expect("best");
    assert_eq!(best.source, RouteSource::Peer(b));
    assert_eq!(best.attrs.local_pref, Some(200));
    let adj = rib.adj_in(b);
    assert_eq!(adj[0].attrs.local_pref, Some(200), "adj-in after policy");
    assert_eq!(adj[0].rule, Some(0), "adj-in names the rule");
    let views = rib.routes(net("10.0.0.0/24"));
    assert_eq!(
        views.iter().map(|v| v.import_rule).collect::<Vec<_>>(),
        [Some(0), None],
        "explain names the rule of the best path, none for A's"
    );
}

#[test]
fn import_rules_reject_by_community_and_tag_the_rest() {
    let mut rib = rib();
    let mut cfg = peer_config(64501, 1);
    cfg.import_rules = Rules(vec![
        Rule {
            when: Match {
                communities: vec![Community(0xfbf5_0001)],
                ..Match::default()
            },
            action: Action::Reject,
            set: Set::default(),
        },
        accept(
            Match {
                as_path_len: Some((0, 1)),
                ..Match::default()
            },
            Set {
                add_large_communities: vec![LargeCommunity(65000, 1, 1)],
                ..Set::default()
            },
        ),
    ]);
    let p = add_up(&mut rib, 1, cfg);
    let mut tagged = attrs(&[64501]);
    tagged.communities = vec![Community(0xfbf5_0001)].into();
    let out = rib
        .apply(p, &[], &nets(&["10.1.0.0/24"]), Some(&tagged))
        .expect("under max-prefix");
    assert_eq!((out.accepted, out.filtered), (0, 1));
    announce(&mut rib, p, &["10.2.0.0/24"], &attrs(&[64501]));
    announce(&mut rib, p, &["10.3.0.0/24"], &attrs(&[64501, 64502]));
    let adj = rib.adj_in(p);
    assert_eq!(adj.len(), 2);
    assert_eq!(
        &*adj[0].attrs.large_communities,
        &[LargeCommunity(65000, 1, 1)]
    );
    assert!(adj[1].attrs.large_communities.is_empty(), "path too long");
    assert_eq!((adj[0].rule, adj[1].rule), (Some(1), None));
    assert_eq!(rib.filtered_in(p), nets(&["10.1.0.0/24"]));
}

#[test]
fn export_med_and_prepend_towards_ebgp() {
    let mut rib = rib();
    let src = ebgp(&mut rib, 1, 64501);
    let mut cfg = peer_config(64502, 2);
    cfg.export_rules = Rules(vec![
        accept(
            Match {
                prefixes: only("10.0.0.0/24"),
                ..Match::default()
            },
            Set {
                med: Some(50),
                prepend: 2,
                local_pref: Some(300),
                add_communities: vec![Community(0xfde8_0064)],
                ..Set::default()
            },
        ),
        Rule {
            when: Match {
                prefixes: only("10.0.1.0/24"),
                ..Match::default()
            },
            action: Action::Reject,
            set: Set::default(),
        },
    ]);
    let dst = add_up(&mut rib, 2, cfg);
    rib.take_exports(dst);
    let mut a = attrs(&[64501]);
    a.med = Some(7);
    announce(
        &mut rib,
        src,
        &["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"],
        &a,
    );
    let e = rib.take_exports(dst);
    assert_eq!(announced(&e), nets(&["10.0.0.0/24", "10.0.2.0/24"]));
    let o = out_attrs(&e, "10.0.0.0/24").expect("sent");
    assert_eq!(o.med, Some(50));
    assert_eq!(o.local_pref, None, "LOCAL_PREF never goes to eBGP");
    assert_eq!(
        o.as_path,
        AsPath::sequence(vec![LOCAL_AS, LOCAL_AS, LOCAL_AS, 64501])
    );
    assert_eq!(&*o.communities, &[Community(0xfde8_0064)]);
    let plain = out_attrs(&e, "10.0.2.0/24").expect("sent");
    assert_eq!(plain.med, None, "a learned MED is not passed to eBGP");
    assert_eq!(plain.as_path, AsPath::sequence(vec![LOCAL_AS, 64501]));
    // adj-out shows the same, and which rule matched.
    let out = rib.adj_out(dst);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].attrs.med, Some(50));
    assert_eq!(out[0].rule, Some(0));
    assert_eq!(out[1].rule, None);
}

#[test]
fn export_rule_adding_no_export_tags_only_that_neighbor() {
    // The rule tags what goes to peer 2 with NO_EXPORT: peer 2 gets it
    // (it is for peer 2 to honour), peer 3 is unaffected.
    let mut rib = rib();
    let src = ebgp(&mut rib, 1, 64501);
    let mut cfg = peer_config(64502, 2);
    cfg.export_rules = Rules(vec![accept(
        Match::default(),
        Set {
            add_communities: vec![Community::NO_EXPORT],
            ..Set::default()
        },
    )]);
    let dst = add_up(&mut rib, 2, cfg);
    rib.take_exports(dst);
    let other = ebgp(&mut rib, 3, 64503);
    announce(&mut rib, src, &["10.0.0.0/24"], &attrs(&[64501]));
    let o = out_attrs(&rib.take_exports(dst), "10.0.0.0/24").expect("sent");
    assert_eq!(&*o.communities, &[Community::NO_EXPORT]);
    let o = out_attrs(&rib.take_exports(other), "10.0.0.0/24").expect("sent");
    assert!(o.communities.is_empty());
}

#[test]
fn import_rule_no_export_keeps_the_route_from_ebgp_but_not_ibgp() {
    let mut rib = rib();
    let mut cfg = peer_config(64501, 1);
    cfg.import_rules = Rules(vec![accept(
        Match::default(),
        Set {
            add_communities: vec![Community::NO_EXPORT],
            ..Set::default()
        },
    )]);
    let src = add_up(&mut rib, 1, cfg);
    let e = ebgp(&mut rib, 2, 64502);
    let i = ibgp(&mut rib, 3);
    announce(&mut rib, src, &["10.0.0.0/24"], &attrs(&[64501]));
    assert!(rib.take_exports(e).announce.is_empty());
    assert_eq!(
        announced(&rib.take_exports(i)),
        nets(&["10.0.0.0/24"]),
        "NO_EXPORT stays inside the AS"
    );
}

#[test]
fn local_routes_carry_med_communities_and_prepends() {
    let mut rib = rib();
    let e = ebgp(&mut rib, 1, 64501);
    let i = ibgp(&mut rib, 2);
    rib.originate_with(
        net("10.9.0.0/24"),
        None,
        &Origination {
            med: Some(20),
            communities: vec![Community(0xfde8_0001)],
            large_communities: vec![LargeCommunity(65000, 2, 3)],
            prepend: 2,
        },
    );
    let o = out_attrs(&rib.take_exports(e), "10.9.0.0/24").expect("sent");
    assert_eq!(o.med, Some(20), "our own MED goes to eBGP");
    assert_eq!(
        o.as_path,
        AsPath::sequence(vec![LOCAL_AS, LOCAL_AS, LOCAL_AS])
    );
    assert_eq!(&*o.communities, &[Community(0xfde8_0001)]);
    assert_eq!(&*o.large_communities, &[LargeCommunity(65000, 2, 3)]);
    let o = out_attrs(&rib.take_exports(i), "10.9.0.0/24").expect("sent");
    assert!(o.as_path.is_empty(), "prepends are for eBGP only");
    assert_eq!(o.med, Some(20));
    // NO_EXPORT on a static route keeps it from eBGP.
    rib.originate_with(
        net("10.8.0.0/24"),
        None,
        &Origination {
            communities: vec![Community::NO_EXPORT],
            ..Origination::default()
        },
    );
    assert!(rib.take_exports(e).announce.is_empty());
    assert_eq!(announced(&rib.take_exports(i)), nets(&["10.8.0.0/24"]));
}

#[test]
fn rules_that_change_every_route_leave_no_unused_attribute_set() {
    let mut rib = rib();
    let mut cfg = peer_config(64501, 1);
    cfg.import_rules = Rules(vec![accept(
        Match::default(),
        Set {
            local_pref: Some(150),
            ..Set::default()
        },
    )]);
    let p = add_up(&mut rib, 1, cfg);
    announce(
        &mut rib,
        p,
        &["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"],
        &attrs(&[64501]),
    );
    assert_eq!(
        rib.counts().attr_sets,
        1,
        "only the changed set is interned"
    );
    assert!(
        rib.adj_in(p)
            .iter()
            .all(|r| r.attrs.local_pref == Some(150))
    );
}
