//! One test per cross-reference and BGP validation error: duplicates,
//! unknown interfaces and peers, unreachable next hops, timers, filters.

mod common;

use common::{check, errors, only, parse, with};

const GRE_PEER: &str = "[[peer]]\nname = \"vpc02\"\nendpoint = \"198.51.100.2\"\nencapsulation = \"gre\"\nallowed_prefixes = [\"10.255.0.2/32\", \"10.2.0.0/16\"]\n";

#[test]
fn duplicate_route_names_point_at_second() {
    let r = "[[route]]\nname = \"a\"\nprefix = \"10.1.0.0/16\"\ninterface = \"vcpe0\"\n";
    let (src, l) = with(&format!("{r}{r}"));
    check(
        &only(&src),
        l + 5,
        8,
        "route[1].name",
        "duplicate route name 'a' (first used by route[0] on line 9)",
        "unique",
    );
}

#[test]
fn duplicate_interface_and_peer_names() {
    let (src, l) = with(&format!(
        "[[interface]]\nname = \"vcpe0\"\n{GRE_PEER}{GRE_PEER}"
    ));
    let errs = errors(&src);
    check(
        &errs[0],
        l + 1,
        8,
        "interface[1].name",
        "duplicate interface name 'vcpe0'",
        "rename",
    );
    check(
        &errs[1],
        l + 8,
        8,
        "peer[1].name",
        "duplicate peer name 'vpc02'",
        "rename",
    );
}

#[test]
fn duplicate_neighbor_addresses() {
    let n = "[[bgp.neighbor]]\naddress = \"10.255.0.2\"\nremote_as = 65002\n";
    let (src, l) = with(&format!("{n}{n}"));
    check(
        &only(&src),
        l + 4,
        11,
        "bgp.neighbor[1].address",
        "duplicate neighbor address '10.255.0.2'",
        "merge",
    );
}

#[test]
fn route_to_unknown_interface() {
    let (src, l) =
        with("[[route]]\nname = \"r\"\nprefix = \"10.1.0.0/16\"\ninterface = \"vcpe1\"\n");
    check(
        &only(&src),
        l + 3,
        13,
        "route[0].interface",
        "unknown interface 'vcpe1'",
        "did you mean 'vcpe0'?",
    );
}

#[test]
fn route_to_unknown_peer() {
    let (src, l) =
        with("[[route]]\nname = \"r\"\nprefix = \"10.1.0.0/16\"\npeer = \"elsewhere\"\n");
    check(
        &only(&src),
        l + 3,
        8,
        "route[0].peer",
        "unknown peer 'elsewhere'",
        "no peer is defined",
    );
}

#[test]
fn next_hop_outside_interface_subnet() {
    let (src, l) = with(
        "[[route]]\nname = \"r\"\nprefix = \"10.1.0.0/16\"\nnext_hop = \"10.9.0.1\"\ninterface = \"vcpe0\"\n",
    );
    check(
        &only(&src),
        l + 3,
        12,
        "route[0].next_hop",
        "10.9.0.1 is not reachable through interface 'vcpe0'",
        "10.255.0.0/24, fd00:255::/64",
    );
}

#[test]
fn next_hop_for_peer_route() {
    let ok = "[[route]]\nname = \"r\"\nprefix = \"10.2.1.0/24\"\nnext_hop = \"10.2.0.1\"\npeer = \"vpc02\"\n";
    assert!(
        parse(&with(&format!("{ok}{GRE_PEER}")).0).is_ok(),
        "inside allowed_prefixes"
    );
    let bad = "[[route]]\nname = \"r\"\nprefix = \"10.2.1.0/24\"\nnext_hop = \"10.7.0.1\"\npeer = \"vpc02\"\n";
    let (src, l) = with(&format!("{bad}{GRE_PEER}"));
    check(
        &only(&src),
        l + 3,
        12,
        "route[0].next_hop",
        "in neither peer 'vpc02''s allowed_prefixes nor any interface subnet",
        "tunnel address",
    );
}

#[test]
fn hold_time_one_or_two_is_rejected() {
    for h in [1, 2] {
        let (src, l) = with(&format!(
            "[[bgp.neighbor]]\naddress = \"10.255.0.2\"\nremote_as = 65002\nhold_time = {h}\n"
        ));
        check(
            &only(&src),
            l + 3,
            13,
            "bgp.neighbor[0].hold_time",
            &format!("hold time {h} is not allowed (RFC 4271"),
            "use 0 to disable keepalives or a value of 3 or more",
        );
    }
    for h in [0, 3, 65535] {
        let (src, _) = with(&format!(
            "[[bgp.neighbor]]\naddress = \"10.255.0.2\"\nremote_as = 65002\nhold_time = {h}\n"
        ));
        let cfg = parse(&src).expect("valid hold time");
        let n = &cfg.bgp.expect("bgp").neighbors[0];
        assert_eq!((n.hold_time, n.keepalive), (h, h / 3));
    }
}

#[test]
fn keepalive_must_be_below_hold_time() {
    let (src, l) = with(
        "[[bgp.neighbor]]\naddress = \"10.255.0.2\"\nremote_as = 65002\nhold_time = 9\nkeepalive = 9\n",
    );
    check(
        &only(&src),
        l + 4,
        13,
        "bgp.neighbor[0].keepalive",
        "between 1 and the hold time (9)",
        "use 3",
    );
    let (src, l) = with(
        "[[bgp.neighbor]]\naddress = \"10.255.0.2\"\nremote_as = 65002\nhold_time = 0\nkeepalive = 5\n",
    );
    check(
        &only(&src),
        l + 4,
        13,
        "bgp.neighbor[0].keepalive",
        "keepalives are disabled",
        "set it to 0",
    );
}

#[test]
fn neighbor_as_zero_and_bad_mode() {
    let (src, l) =
        with("[[bgp.neighbor]]\naddress = \"10.255.0.2\"\nremote_as = 0\nmode = \"listen\"\n");
    let errs = errors(&src);
    check(
        &errs[0],
        l + 2,
        13,
        "bgp.neighbor[0].remote_as",
        "AS 0 is reserved",
        "1..=4294967295",
    );
    check(
        &errs[1],
        l + 3,
        8,
        "bgp.neighbor[0].mode",
        "unknown mode 'listen'",
        "\"passive\"",
    );
}

#[test]
fn neighbor_missing_address_points_at_header() {
    let (src, l) = with("[[bgp.neighbor]]\nremote_as = 65002\n");
    check(
        &only(&src),
        l,
        1,
        "bgp.neighbor[0].address",
        "missing required key 'address'",
        "address = ",
    );
}

#[test]
fn prefix_filters_are_parsed_and_checked() {
    let (src, l) = with(
        "[[bgp.neighbor]]\naddress = \"10.255.0.2\"\nremote_as = 65002\nimport = [\"10.2.0.0/16 le 24\", \"10.2.0.0/16 lt 24\", \"10.2.0.1/16\"]\n",
    );
    let errs = errors(&src);
    check(
        &errs[0],
        l + 3,
        32,
        "bgp.neighbor[0].import[1]",
        "is not a prefix filter",
        "PREFIX le N",
    );
    check(
        &errs[1],
        l + 3,
        53,
        "bgp.neighbor[0].import[2]",
        "has host bits set",
        "10.2.0.0/16",
    );
}

#[test]
fn max_prefixes_must_be_positive() {
    let (src, l) =
        with("[[bgp.neighbor]]\naddress = \"10.255.0.2\"\nremote_as = 65002\nmax_prefixes = 0\n");
    check(
        &only(&src),
        l + 3,
        16,
        "bgp.neighbor[0].max_prefixes",
        "out of range",
        "10000",
    );
}

#[test]
fn neighbor_peer_must_exist_and_allow_the_address() {
    let (src, l) =
        with("[[bgp.neighbor]]\naddress = \"10.255.0.2\"\nremote_as = 65002\npeer = \"vpc09\"\n");
    check(
        &only(&src),
        l + 3,
        8,
        "bgp.neighbor[0].peer",
        "unknown peer 'vpc09'",
        "no peer is defined",
    );
    let (src, l) = with(&format!(
        "[[bgp.neighbor]]\naddress = \"10.255.0.3\"\nremote_as = 65003\npeer = \"vpc02\"\n{GRE_PEER}"
    ));
    check(
        &only(&src),
        l + 3,
        8,
        "bgp.neighbor[0].peer",
        "outside peer 'vpc02''s allowed_prefixes",
        "\"10.255.0.3/32\"",
    );
}

#[test]
fn local_address_must_be_ours_and_same_family() {
    // Over a tunnel: one of our interface addresses (over the underlay any
    // host address goes: tests/next_hops.rs).
    let (src, l) = with(
        "[[bgp.neighbor]]\naddress = \"10.255.0.2\"\nremote_as = 65002\npeer = \"p\"\nlocal_address = \"10.255.0.7\"\n\
         [[peer]]\nname = \"p\"\nendpoint = \"198.51.100.2\"\nencapsulation = \"gre\"\nallowed_prefixes = [\"10.255.0.2/32\"]\n",
    );
    check(
        &only(&src),
        l + 4,
        17,
        "bgp.neighbor[0].local_address",
        "not configured on any [[interface]]",
        "",
    );
    let (src, l) = with(
        "[[bgp.neighbor]]\naddress = \"10.255.0.2\"\nremote_as = 65002\nlocal_address = \"fd00:255::1\"\n",
    );
    check(
        &only(&src),
        l + 3,
        17,
        "bgp.neighbor[0].local_address",
        "different address families",
        "",
    );
}

#[test]
fn encapsulation_specific_keys() {
    let (src, l) = with(
        "[[peer]]\nname = \"p\"\nendpoint = \"198.51.100.2\"\nencapsulation = \"gre\"\nvni = 5\nallowed_prefixes = []\n",
    );
    check(
        &only(&src),
        l + 4,
        1,
        "peer[0].vni",
        "'vni' only applies to encapsulation = \"vxlan\"",
        "remove it",
    );
    let (src, l) = with(
        "[[peer]]\nname = \"p\"\nendpoint = \"198.51.100.2\"\nencapsulation = \"vxlan\"\nallowed_prefixes = []\n",
    );
    check(
        &only(&src),
        l,
        1,
        "peer[0].vni",
        "missing required key 'vni'",
        "vni = 100",
    );
    let (src, l) = with(
        "[[peer]]\nname = \"p\"\nendpoint = \"198.51.100.2\"\nencapsulation = \"ipip\"\nallowed_prefixes = []\n",
    );
    check(
        &only(&src),
        l + 3,
        17,
        "peer[0].encapsulation",
        "unknown encapsulation 'ipip'",
        "\"wireguard\"",
    );
}

#[test]
fn endpoint_ports() {
    let cfg = parse(&with(GRE_PEER).0).expect("valid");
    assert_eq!(cfg.peers[0].endpoint.port(), vcpe_config::GRE_NO_PORT);
    let (src, l) = with(
        "[[peer]]\nname = \"p\"\nendpoint = \"198.51.100.2\"\npublic_key = \"AAAA\"\nallowed_prefixes = []\n",
    );
    let errs = errors(&src);
    check(
        &errs[0],
        l,
        1,
        "peer[0].private_key_file",
        "missing required key",
        "",
    );
    check(
        &errs[1],
        l + 2,
        12,
        "peer[0].endpoint",
        "has no port; wireguard needs one",
        "198.51.100.2:51820",
    );
    check(
        &errs[2],
        l + 3,
        14,
        "peer[0].public_key",
        "not a base64-encoded 32-byte WireGuard public key",
        "wg pubkey",
    );
}

#[test]
fn allowed_prefixes_must_be_networks() {
    let (src, l) = with(
        "[[peer]]\nname = \"p\"\nendpoint = \"198.51.100.2\"\nencapsulation = \"gre\"\nallowed_prefixes = [\"10.2.0.1/16\"]\n",
    );
    check(
        &only(&src),
        l + 4,
        21,
        "peer[0].allowed_prefixes[0]",
        "host bits set",
        "\"10.2.0.0/16\"",
    );
}
