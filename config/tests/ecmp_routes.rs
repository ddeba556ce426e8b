//! ECMP in the config: `[[route]] peers = [...]` (the multi-peer form of
//! `peer`) and `[bgp] maximum_paths`, their errors with file:line, and the
//! config writer keeping `peers`.

mod common;

use common::{check, errors, only, parse, with};
use vcpe_config::RouteTarget;

fn peer(name: &str, last: u8) -> String {
    format!(
        "[[peer]]\nname = \"{name}\"\nendpoint = \"198.51.100.{last}\"\nencapsulation = \"gre\"\nallowed_prefixes = [\"10.255.0.{last}/32\", \"10.2.0.0/16\"]\n"
    )
}

fn two_peers() -> String {
    format!("{}{}", peer("b1", 2), peer("b2", 3))
}

#[test]
fn peers_list_is_one_ecmp_target() {
    let (src, _) = with(&format!(
        "{}[[route]]\nname = \"r\"\nprefix = \"10.2.0.0/16\"\npeers = [\"b1\", \"b2\"]\n",
        two_peers()
    ));
    let cfg = parse(&src).unwrap();
    assert_eq!(
        cfg.routes[0].target,
        RouteTarget::Peers(vec!["b1".into(), "b2".into()])
    );
    assert_eq!(cfg.routes[0].target.peers(), ["b1", "b2"]);
}

#[test]
fn unknown_member_points_at_its_element() {
    let (src, l) = with(&format!(
        "{}[[route]]\nname = \"r\"\nprefix = \"10.2.0.0/16\"\npeers = [\"b1\", \"b3\"]\n",
        two_peers()
    ));
    check(
        &only(&src),
        l + 13,
        16,
        "route[0].peers[1]",
        "route 'r' uses unknown peer 'b3'",
        "defined peers: b1, b2",
    );
}

#[test]
fn duplicate_and_empty_members() {
    let (src, l) = with(&format!(
        "{}[[route]]\nname = \"r\"\nprefix = \"10.2.0.0/16\"\npeers = [\"b1\", \"b1\"]\n",
        two_peers()
    ));
    check(
        &only(&src),
        l + 13,
        16,
        "route[0].peers[1]",
        "peer 'b1' is listed twice",
        "once",
    );
    let (src, l) = with(&format!(
        "{}[[route]]\nname = \"r\"\nprefix = \"10.2.0.0/16\"\npeers = []\n",
        two_peers()
    ));
    let errs = errors(&src);
    check(
        &errs[0],
        l + 13,
        9,
        "route[0].peers",
        "'peers' is empty",
        "name one or more",
    );
}

#[test]
fn peer_and_peers_together_is_an_error() {
    let (src, l) = with(&format!(
        "{}[[route]]\nname = \"r\"\nprefix = \"10.2.0.0/16\"\npeer = \"b1\"\npeers = [\"b2\"]\n",
        two_peers()
    ));
    check(
        &only(&src),
        l + 14,
        9,
        "route[0].peers",
        "has 'peer' and 'peers'",
        "ECMP",
    );
}

#[test]
fn writer_keeps_peers() {
    let (src, _) = with(&two_peers());
    let mut cfg = parse(&src).unwrap();
    let route = vcpe_config::StaticRoute {
        name: "ecmp".into(),
        prefix: "10.2.0.0/16".parse().unwrap(),
        next_hop: None,
        target: RouteTarget::Peers(vec!["b2".into(), "b1".into()]),
        advertise: false,
        attrs: Default::default(),
    };
    let edited =
        vcpe_config::edit::add_route(&src, std::path::Path::new("test.toml"), &route).unwrap();
    assert!(
        edited.text.contains("peers = [\"b2\", \"b1\"]"),
        "{}",
        edited.text
    );
    cfg.routes.push(route);
    assert_eq!(edited.config, cfg);
}

#[test]
fn maximum_paths_defaults_to_one_and_ipv6_follows() {
    let (src, _) = with("[bgp]\n");
    let bgp = parse(&src).unwrap().bgp.unwrap();
    assert_eq!((bgp.maximum_paths, bgp.maximum_paths_ipv6), (1, 1));
    let (src, _) = with("[bgp]\nmaximum_paths = 4\n");
    let bgp = parse(&src).unwrap().bgp.unwrap();
    assert_eq!((bgp.maximum_paths, bgp.maximum_paths_ipv6), (4, 4));
    let (src, _) = with("[bgp]\nmaximum_paths = 4\nmaximum_paths_ipv6 = 2\n");
    let bgp = parse(&src).unwrap().bgp.unwrap();
    assert_eq!((bgp.maximum_paths, bgp.maximum_paths_ipv6), (4, 2));
}

#[test]
fn maximum_paths_out_of_range() {
    let (src, l) = with("[bgp]\nmaximum_paths = 0\n");
    check(
        &only(&src),
        l + 1,
        17,
        "bgp.maximum_paths",
        "0 is out of range 1..=64",
        "ECMP",
    );
    let (src, l) = with("[bgp]\nmaximum_paths_ipv6 = 65\n");
    check(
        &only(&src),
        l + 1,
        22,
        "bgp.maximum_paths_ipv6",
        "65 is out of range 1..=64",
        "ECMP",
    );
}
