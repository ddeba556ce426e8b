//! Route reflection keys (RFC 4456): `[bgp] cluster_id` and
//! `[[bgp.neighbor]] route_reflector_client`, which only an iBGP neighbor
//! may have.

mod common;

use std::net::Ipv4Addr;

use common::{check, only, parse, with};

/// iBGP: the base config's AS is 65001.
const IBGP: &str = "[[bgp.neighbor]]\naddress = \"10.255.0.2\"\nremote_as = 65001\n";
const EBGP: &str = "[[bgp.neighbor]]\naddress = \"10.255.0.3\"\nremote_as = 65002\n";

#[test]
fn client_defaults_to_off_and_cluster_id_to_none() {
    let (src, _) = with(IBGP);
    let bgp = parse(&src).expect("valid").bgp.expect("bgp");
    assert!(!bgp.neighbors[0].route_reflector_client);
    assert_eq!(bgp.cluster_id, None);
}

#[test]
fn an_ibgp_neighbor_can_be_a_client_and_the_cluster_id_set() {
    let (src, _) = with(&format!(
        "[bgp]\ncluster_id = \"10.255.255.1\"\n{IBGP}route_reflector_client = true\n"
    ));
    let bgp = parse(&src).expect("valid").bgp.expect("bgp");
    assert!(bgp.neighbors[0].route_reflector_client);
    assert_eq!(bgp.cluster_id, Some(Ipv4Addr::new(10, 255, 255, 1)));
}

#[test]
fn a_client_on_ebgp_is_refused_at_its_line() {
    let (src, l) = with(&format!("{EBGP}route_reflector_client = true\n"));
    check(
        &only(&src),
        l + 3,
        26,
        "bgp.neighbor[0].route_reflector_client",
        "route_reflector_client on eBGP neighbor 10.255.0.3 (AS 65002, ours is 65001)",
        "set remote_as = 65001",
    );
    // Off on eBGP says nothing wrong.
    let (src, _) = with(&format!("{EBGP}route_reflector_client = false\n"));
    assert!(parse(&src).is_ok());
}

#[test]
fn a_bad_cluster_id_is_refused_at_its_line() {
    let (src, l) = with("[bgp]\ncluster_id = \"0.0.0.0\"\n");
    check(
        &only(&src),
        l + 1,
        14,
        "bgp.cluster_id",
        "cluster id 0.0.0.0 is not allowed",
        "router id",
    );
    let (src, l) = with("[bgp]\ncluster_id = \"2001:db8::1\"\n");
    check(
        &only(&src),
        l + 1,
        14,
        "bgp.cluster_id",
        "IPv4",
        "10.255.0.1",
    );
}

#[test]
fn route_reflector_client_must_be_a_boolean() {
    let (src, l) = with(&format!("{IBGP}route_reflector_client = \"yes\"\n"));
    check(
        &only(&src),
        l + 3,
        26,
        "bgp.neighbor[0].route_reflector_client",
        "expected a boolean",
        "true or false",
    );
}
