//! `[[bgp.neighbor]] enforce_first_as`: the eBGP first-AS check (RFC 4271
//! §6.3, treat-as-withdraw per RFC 7606 §7.2), on unless turned off.

mod common;

use common::{check, only, parse, with};

const NEIGHBOR: &str = "[[bgp.neighbor]]\naddress = \"10.255.0.2\"\nremote_as = 65002\n";

fn first_neighbor(extra: &str) -> vcpe_config::Neighbor {
    let (src, _) = with(&format!("{NEIGHBOR}{extra}"));
    let cfg = parse(&src).expect("valid");
    cfg.bgp.expect("bgp").neighbors.remove(0)
}

#[test]
fn enforce_first_as_defaults_to_on() {
    assert!(first_neighbor("").enforce_first_as);
}

#[test]
fn enforce_first_as_can_be_turned_off_for_a_route_server() {
    assert!(!first_neighbor("enforce_first_as = false\n").enforce_first_as);
    assert!(first_neighbor("enforce_first_as = true\n").enforce_first_as);
}

#[test]
fn enforce_first_as_must_be_a_boolean() {
    let (src, l) = with(&format!("{NEIGHBOR}enforce_first_as = \"no\"\n"));
    check(
        &only(&src),
        l + 3,
        20,
        "bgp.neighbor[0].enforce_first_as",
        "expected a boolean, found a string",
        "true or false",
    );
}
