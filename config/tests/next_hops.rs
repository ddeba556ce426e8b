//! `[[peer]] next_hops` (a peer's inner addresses, the BGP next hops that
//! go into its tunnel), `[[bgp.neighbor]] next_hop_self`, and
//! `local_address` on the underlay.

mod common;

use common::{check, only, parse, with};

fn peer(name: &str, n: u8, extra: &str) -> String {
    format!(
        "[[peer]]\nname = \"{name}\"\nendpoint = \"198.51.100.{n}\"\nencapsulation = \"gre\"\n\
         allowed_prefixes = [\"10.255.0.{n}/32\", \"fd00:255::{n}/128\", \"10.{n}.0.0/16\"]\n{extra}"
    )
}

#[test]
fn inner_addresses_default_to_the_host_routes_of_allowed_prefixes() {
    let (src, _) = with(&peer("b", 2, ""));
    let cfg = parse(&src).expect("valid");
    let want: Vec<std::net::IpAddr> = vec![
        "10.255.0.2".parse().unwrap(),
        "fd00:255::2".parse().unwrap(),
    ];
    assert_eq!(cfg.peers[0].next_hops, None);
    assert_eq!(cfg.peers[0].inner_addresses(), want);
}

#[test]
fn explicit_next_hops_replace_the_default_and_may_be_empty() {
    let (src, _) = with(&peer("b", 2, "next_hops = [\"10.254.0.2\"]\n"));
    let cfg = parse(&src).expect("valid");
    assert_eq!(
        cfg.peers[0].inner_addresses(),
        vec!["10.254.0.2".parse::<std::net::IpAddr>().unwrap()]
    );
    let (src, _) = with(&peer("b", 2, "next_hops = []\n"));
    assert!(
        parse(&src).expect("valid").peers[0]
            .inner_addresses()
            .is_empty()
    );
}

#[test]
fn two_peers_cannot_share_an_inner_address() {
    // c claims b's tunnel address explicitly: reported where c says so.
    let (src, l) = with(&format!(
        "{}{}",
        peer("b", 2, ""),
        peer("c", 3, "next_hops = [\"10.255.0.3\", \"10.255.0.2\"]\n")
    ));
    let d = only(&src);
    let first = format!(
        "10.255.0.2 is an inner address (BGP next hop) of peer 'c' and of peer 'b' (line {})",
        l + 4
    );
    check(
        &d,
        l + 10,
        28,
        "peer[1].next_hops[1]",
        &first,
        "keep it on one peer",
    );
}

/// Two tunnels to one vCPE (over an IPv4 and an IPv6 underlay, say) both
/// allow its tunnel address: valid, and that address is neither's next
/// hop; `next_hops` on one of them gives it to that one.
#[test]
fn a_host_route_in_two_peers_allowed_prefixes_is_no_one_s_next_hop() {
    let c = "[[peer]]\nname = \"c\"\nendpoint = \"198.51.100.3\"\nencapsulation = \"gre\"\n\
             allowed_prefixes = [\"10.255.0.2/32\", \"10.255.0.3/32\"]\n";
    let (src, _) = with(&format!("{}{c}", peer("b", 2, "")));
    let cfg = parse(&src).expect("valid");
    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    assert_eq!(
        vcpe_config::inner_addresses(&cfg.peers),
        vec![vec![ip("fd00:255::2")], vec![ip("10.255.0.3")]]
    );
    let (src, _) = with(&format!(
        "{}{c}next_hops = [\"10.255.0.3\"]\n",
        peer("b", 2, "")
    ));
    // c's explicit next_hops leave b as the only peer naming 10.255.0.2.
    let cfg = parse(&src).expect("valid");
    assert_eq!(
        vcpe_config::inner_addresses(&cfg.peers),
        vec![
            vec![ip("10.255.0.2"), ip("fd00:255::2")],
            vec![ip("10.255.0.3")]
        ]
    );
    let (src, _) = with(&format!(
        "{}{c}",
        peer("b", 2, "next_hops = [\"10.255.0.2\", \"fd00:255::2\"]\n")
    ));
    let d = only(&src);
    assert!(d.message.contains("10.255.0.2 is an inner address"), "{d}");
}

#[test]
fn an_inner_address_is_not_ours_and_is_an_address() {
    let (src, l) = with(&peer("b", 2, "next_hops = [\"10.255.0.1\"]\n"));
    check(
        &only(&src),
        l + 5,
        14,
        "peer[0].next_hops[0]",
        "10.255.0.1 is one of our own interface addresses",
        "next_hops",
    );
    let (src, l) = with(&peer("b", 2, "next_hops = [\"10.255.0.0/24\"]\n"));
    let d = only(&src);
    assert_eq!((d.line, d.path.as_str()), (l + 5, "peer[0].next_hops[0]"));
}

const NEIGHBOR: &str = "[bgp]\n[[bgp.neighbor]]\naddress = \"10.255.0.2\"\n";

#[test]
fn next_hop_self_is_per_ibgp_neighbor() {
    let (src, _) = with(&format!(
        "{NEIGHBOR}remote_as = 65001\nnext_hop_self = false\n"
    ));
    let cfg = parse(&src).expect("valid");
    assert_eq!(
        cfg.bgp.expect("bgp").neighbors[0].next_hop_self,
        Some(false)
    );
    let (src, _) = with(&format!("{NEIGHBOR}remote_as = 65001\n"));
    assert_eq!(
        parse(&src).expect("valid").bgp.expect("bgp").neighbors[0].next_hop_self,
        None
    );
    let (src, l) = with(&format!(
        "{NEIGHBOR}remote_as = 65002\nnext_hop_self = false\n"
    ));
    check(
        &only(&src),
        l + 4,
        17,
        "bgp.neighbor[0].next_hop_self",
        "towards eBGP neighbor 10.255.0.2 (AS 65002)",
        "only applies to iBGP",
    );
}

#[test]
fn an_underlay_neighbor_may_use_any_local_address_a_tunnel_one_only_ours() {
    let (src, _) = with(&format!(
        "{NEIGHBOR}remote_as = 65001\nlocal_address = \"100.64.0.1\"\n"
    ));
    parse(&src).expect("an underlay address of the host");
    let (src, l) = with(&format!(
        "{NEIGHBOR}remote_as = 65001\npeer = \"b\"\nlocal_address = \"100.64.0.1\"\n{}",
        peer("b", 2, "")
    ));
    check(
        &only(&src),
        l + 5,
        17,
        "bgp.neighbor[0].local_address",
        "not configured on any [[interface]], and the session runs over tunnel peer 'b'",
        "underlay address only works for a neighbor without `peer`",
    );
    let (src, _) = with(&format!(
        "{NEIGHBOR}remote_as = 65001\nlocal_address = \"fd00::1\"\n"
    ));
    assert!(only(&src).message.contains("different address families"));
}
