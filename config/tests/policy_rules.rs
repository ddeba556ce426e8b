//! `[[bgp.neighbor.import_rule]]` / `[[bgp.neighbor.export_rule]]` and the
//! BGP attributes of a static route (`med`, `communities`,
//! `large_communities`, `prepend`): parsed values and file:line errors.

mod common;

use common::{check, errors, only, parse, with};
use vcpe_config::{Community, LargeCommunity, RuleAction};

const EBGP: &str = "[[bgp.neighbor]]\naddress = \"10.255.0.2\"\nremote_as = 65002\n";

#[test]
fn rules_parse_in_order() {
    let (src, _) = with(&format!(
        r#"{EBGP}
[[bgp.neighbor.import_rule]]
match_community = ["65002:666"]
action = "reject"

[[bgp.neighbor.import_rule]]
match_prefix = ["10.0.0.0/8 le 24"]
match_as_path_max = 2
set_local_pref = 200
add_large_community = ["65001:1:2"]

[[bgp.neighbor.export_rule]]
match_large_community = ["65001:0:1"]
set_med = 10
prepend = 2
add_community = ["no-export", "65001:100"]
remove_community = ["65001:7"]
"#
    ));
    let cfg = parse(&src).expect("valid");
    let n = &cfg.bgp.expect("bgp").neighbors[0];
    assert_eq!(n.import_rules.len(), 2);
    assert_eq!(n.import_rules[0].action, RuleAction::Reject);
    assert_eq!(
        n.import_rules[0].match_community,
        [Community(65002 << 16 | 666)]
    );
    let r = &n.import_rules[1];
    assert_eq!(r.match_prefix.as_ref().map(Vec::len), Some(1));
    assert_eq!((r.match_as_path_min, r.match_as_path_max), (None, Some(2)));
    assert_eq!(r.set_local_pref, Some(200));
    assert_eq!(r.add_large_community, [LargeCommunity(65001, 1, 2)]);
    let e = &n.export_rules[0];
    assert_eq!((e.set_med, e.prepend), (Some(10), 2));
    assert_eq!(
        e.add_community,
        [Community(0xFFFF_FF01), Community(65001 << 16 | 100)]
    );
    assert_eq!(e.remove_community, [Community(65001 << 16 | 7)]);
}

#[test]
fn bad_rules_are_reported_where_they_are() {
    let (src, l) = with(&format!(
        "{EBGP}[[bgp.neighbor.import_rule]]\nmatch_community = [\"65002:70000\"]\nprepend = 2\n"
    ));
    let errs = errors(&src);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    check(
        &errs[0],
        l + 4,
        20,
        "bgp.neighbor[0].import_rule[0].match_community[0]",
        "'65002:70000' is not a community",
        "65001:100",
    );
    check(
        &errs[1],
        l + 5,
        11,
        "bgp.neighbor[0].import_rule[0].prepend",
        "prepend in an import rule",
        "export_rule",
    );
}

#[test]
fn a_reject_rule_changes_nothing() {
    let (src, l) = with(&format!(
        "{EBGP}[[bgp.neighbor.export_rule]]\naction = \"reject\"\nset_med = 5\n"
    ));
    check(
        &only(&src),
        l + 5,
        11,
        "bgp.neighbor[0].export_rule[0].set_med",
        "a rejected route is not changed",
        "action = \"accept\"",
    );
}

#[test]
fn local_pref_is_not_sent_to_ebgp_but_to_ibgp() {
    let (src, l) = with(&format!(
        "{EBGP}[[bgp.neighbor.export_rule]]\nset_local_pref = 50\n"
    ));
    check(
        &only(&src),
        l + 4,
        18,
        "bgp.neighbor[0].export_rule[0].set_local_pref",
        "LOCAL_PREF is never sent to another AS",
        "set_med or prepend",
    );
    let (src, _) = with(
        "[[bgp.neighbor]]\naddress = \"10.255.0.3\"\nremote_as = 65001\n[[bgp.neighbor.export_rule]]\nset_local_pref = 50\n",
    );
    assert!(parse(&src).is_ok(), "iBGP takes LOCAL_PREF");
}

#[test]
fn as_path_range_must_not_be_empty() {
    let (src, l) = with(&format!(
        "{EBGP}[[bgp.neighbor.import_rule]]\nmatch_as_path_min = 3\nmatch_as_path_max = 1\n"
    ));
    check(
        &only(&src),
        l + 5,
        21,
        "bgp.neighbor[0].import_rule[0].match_as_path_max",
        "matches nothing",
        "at least match_as_path_min",
    );
}

#[test]
fn static_route_attributes() {
    let (src, _) = with(
        r#"[[route]]
name = "vxnet"
prefix = "10.1.0.0/24"
interface = "vcpe0"
advertise = true
med = 100
communities = ["65001:1", "no-advertise"]
large_communities = ["65001:2:3"]
prepend = 3
"#,
    );
    let cfg = parse(&src).expect("valid");
    let a = &cfg.routes[0].attrs;
    assert_eq!(a.med, Some(100));
    assert_eq!(
        a.communities,
        [Community(65001 << 16 | 1), Community(0xFFFF_FF02)]
    );
    assert_eq!(a.large_communities, [LargeCommunity(65001, 2, 3)]);
    assert_eq!(a.prepend, 3);
}

#[test]
fn static_route_attributes_need_advertise() {
    let (src, l) = with(
        "[[route]]\nname = \"vxnet\"\nprefix = \"10.1.0.0/24\"\ninterface = \"vcpe0\"\nmed = 5\n",
    );
    check(
        &only(&src),
        l + 4,
        7,
        "route[0].med",
        "does not advertise",
        "advertise = true",
    );
    let (src, l) = with(
        "[[route]]\nname = \"vxnet\"\nprefix = \"10.1.0.0/24\"\ninterface = \"vcpe0\"\nadvertise = true\nprepend = 40\n",
    );
    check(&only(&src), l + 5, 11, "route[0].prepend", "", "1 to 10");
}
