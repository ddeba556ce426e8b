//! `[[bgp.neighbor]] bfd`, `bfd_interval_ms`, `bfd_multiplier`,
//! `bfd_multihop`: defaults, ranges, and the tuning keys without `bfd`.

mod common;

use common::{check, only, parse, with};
use vcpe_config::NeighborBfd;

const NEIGHBOR: &str = "[[bgp.neighbor]]\naddress = \"10.255.0.2\"\nremote_as = 65002\n";

fn first_neighbor(extra: &str) -> vcpe_config::Neighbor {
    let (src, _) = with(&format!("{NEIGHBOR}{extra}"));
    let cfg = parse(&src).expect("valid");
    cfg.bgp.expect("bgp").neighbors.remove(0)
}

#[test]
fn bfd_is_off_by_default() {
    assert_eq!(first_neighbor("").bfd, None);
    assert_eq!(first_neighbor("bfd = false\n").bfd, None);
}

#[test]
fn bfd_defaults_to_300ms_times_3_single_hop() {
    assert_eq!(
        first_neighbor("bfd = true\n").bfd,
        Some(NeighborBfd {
            interval_ms: 300,
            multiplier: 3,
            multihop: false,
            auth: None
        })
    );
}

/// Through a vcped tunnel the TTL drops on the way, so single hop could
/// never come up: a neighbor with `peer` is multihop unless it says so.
#[test]
fn bfd_over_a_tunnel_defaults_to_multihop() {
    const PEER: &str = "[[peer]]\nname = \"b\"\nendpoint = \"192.0.2.2:4789\"\n\
                        encapsulation = \"vxlan\"\nvni = 7\nallowed_prefixes = [\"10.255.0.2/32\"]\n";
    let over = first_neighbor(&format!("peer = \"b\"\nbfd = true\n{PEER}"));
    assert!(over.bfd.expect("bfd").multihop);
    let single = first_neighbor(&format!(
        "peer = \"b\"\nbfd = true\nbfd_multihop = false\n{PEER}"
    ));
    assert!(!single.bfd.expect("bfd").multihop);
}

#[test]
fn bfd_tuning_is_read() {
    let n = first_neighbor(
        "bfd = true\nbfd_interval_ms = 100\nbfd_multiplier = 5\nbfd_multihop = true\n",
    );
    assert_eq!(
        n.bfd,
        Some(NeighborBfd {
            interval_ms: 100,
            multiplier: 5,
            multihop: true,
            auth: None
        })
    );
}

#[test]
fn bfd_interval_out_of_range_is_an_error_at_its_line() {
    let (src, l) = with(&format!("{NEIGHBOR}bfd = true\nbfd_interval_ms = 5\n"));
    check(
        &only(&src),
        l + 4,
        19,
        "bgp.neighbor[0].bfd_interval_ms",
        "5 is out of range 10..=60000",
        "use 10 to 60000 milliseconds, e.g. 300 (detection takes interval × multiplier)",
    );
}

#[test]
fn bfd_multiplier_zero_is_an_error() {
    let (src, l) = with(&format!("{NEIGHBOR}bfd = true\nbfd_multiplier = 0\n"));
    let d = only(&src);
    assert_eq!(d.line, l + 4);
    assert_eq!(d.path, "bgp.neighbor[0].bfd_multiplier");
}

#[test]
fn bfd_tuning_without_bfd_is_an_error() {
    let (src, l) = with(&format!("{NEIGHBOR}bfd_interval_ms = 100\n"));
    check(
        &only(&src),
        l + 3,
        19,
        "bgp.neighbor[0].bfd_interval_ms",
        "bfd_interval_ms has no effect without bfd = true",
        "add `bfd = true` to this neighbor, or remove the key",
    );
}

const PEER: &str = "[[peer]]\nname = \"vpc02\"\nendpoint = \"198.51.100.2\"\nencapsulation = \"gre\"\nallowed_prefixes = [\"10.255.0.2/32\", \"10.2.0.0/16\"]\n";

fn first_peer(extra: &str) -> vcpe_config::Peer {
    let (src, _) = with(&format!("{PEER}{extra}"));
    let cfg = parse(&src).expect("valid");
    cfg.peers.into_iter().next().expect("peer")
}

#[test]
fn peer_bfd_is_multihop_to_an_address_inside_the_tunnel() {
    assert_eq!(first_peer("").bfd, None);
    assert_eq!(
        first_peer("bfd = true\nbfd_address = \"10.255.0.2\"\n").bfd,
        Some(vcpe_config::PeerBfd {
            address: "10.255.0.2".parse().unwrap(),
            local_address: None,
            interval_ms: 300,
            multiplier: 3,
            auth: None
        })
    );
    let b = first_peer(
        "bfd = true\nbfd_address = \"10.255.0.2\"\nbfd_local_address = \"10.255.0.1\"\nbfd_interval_ms = 100\nbfd_multiplier = 5\n",
    )
    .bfd
    .expect("bfd");
    assert_eq!((b.interval_ms, b.multiplier), (100, 5));
    assert_eq!(b.local_address, Some("10.255.0.1".parse().unwrap()));
}

#[test]
fn peer_bfd_needs_an_address_inside_allowed_prefixes() {
    let (src, l) = with(&format!("{PEER}bfd = true\n"));
    let d = only(&src);
    assert_eq!(d.path, "peer[0].bfd_address");
    assert!(
        d.message.contains("missing required key 'bfd_address'"),
        "{}",
        d.message
    );
    assert_eq!(d.line, l);
    let (src, l) = with(&format!("{PEER}bfd = true\nbfd_address = \"10.9.0.1\"\n"));
    check(
        &only(&src),
        l + 6,
        15,
        "peer[0].bfd_address",
        "bfd_address 10.9.0.1 is not inside this peer's allowed_prefixes",
        "use the other vCPE's address inside the tunnel (its TUN address), and list it in allowed_prefixes",
    );
}

#[test]
fn peer_bfd_keys_without_bfd_are_an_error() {
    let (src, l) = with(&format!("{PEER}bfd_address = \"10.255.0.2\"\n"));
    let d = only(&src);
    assert_eq!((d.line, d.path.as_str()), (l + 5, "peer[0].bfd_address"));
    assert!(
        d.message.contains("no effect without bfd = true"),
        "{}",
        d.message
    );
}

#[test]
fn bfd_keyed_sha1_key_is_read_from_a_private_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("bfd.key");
    std::fs::write(&key, "s3cret\n").expect("write");
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    let extra = format!(
        "bfd = true\nbfd_key_file = \"{}\"\nbfd_key_id = 9\nbfd_meticulous = true\n",
        key.display()
    );
    let a = first_neighbor(&extra)
        .bfd
        .and_then(|b| b.auth)
        .expect("auth");
    assert_eq!(a.key.secret(), b"s3cret");
    assert_eq!((a.key_id, a.meticulous), (9, true));
    let extra = format!("bfd = true\nbfd_key_file = \"{}\"\n", key.display());
    let a = first_neighbor(&extra)
        .bfd
        .and_then(|b| b.auth)
        .expect("auth");
    assert_eq!((a.key_id, a.meticulous), (1, false), "defaults");
    // 21 bytes is too long for SHA1's 20-octet key field.
    std::fs::write(&key, "123456789012345678901").expect("write");
    let (src, _) = with(&format!(
        "{NEIGHBOR}bfd = true\nbfd_key_file = \"{}\"\n",
        key.display()
    ));
    let d = only(&src);
    assert_eq!(d.path, "bgp.neighbor[0].bfd_key_file");
    assert!(d.message.contains("1 to 20 bytes"), "{}", d.message);
}

#[test]
fn bfd_key_id_without_a_key_file_is_an_error() {
    let (src, l) = with(&format!("{NEIGHBOR}bfd = true\nbfd_key_id = 2\n"));
    let d = only(&src);
    assert_eq!(
        (d.line, d.path.as_str()),
        (l + 4, "bgp.neighbor[0].bfd_key_id")
    );
    assert!(d.message.contains("without bfd_key_file"), "{}", d.message);
}
