//! ADD-PATH (RFC 7911) against BIRD's own bytes: BIRD 2.0.12 with `add
//! paths on` in its IPv4 channel and 192.0.2.0/24 from two static
//! protocols, talking to a listener that announced ADD-PATH "both" for
//! IPv4 unicast (two namespaces joined by a veth pair). What BIRD sent is
//! below, byte for byte: its OPEN, the UPDATE with both paths, End-of-RIB.

use bytes::BytesMut;
use vcpe_bgp::model::{
    AddPath, AddPathFamilies, AddPathMode, AddrFamily, Capability, Message, Open,
};
use vcpe_bgp::wire::{Ctx, decode, routes};

/// BIRD's OPEN: AS 65009, hold 240, id 10.99.0.9; capabilities MP IPv4
/// unicast, route refresh, GR, 4-octet AS, ADD-PATH (1, 1, both),
/// enhanced route refresh, LLGR.
static BIRD_OPEN: [u8; 59] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x00, 0x3b, 0x01, 0x04, 0xfd, 0xf1, 0x00, 0xf0, 0x0a, 0x63, 0x00, 0x09, 0x1e, 0x02, 0x1c, 0x01,
    0x04, 0x00, 0x01, 0x00, 0x01, 0x02, 0x00, 0x40, 0x02, 0x00, 0x78, 0x41, 0x04, 0x00, 0x00, 0xfd,
    0xf1, 0x45, 0x04, 0x00, 0x01, 0x01, 0x03, 0x46, 0x00, 0x47, 0x00,
];

/// BIRD's UPDATE: ORIGIN IGP, AS_PATH 65009, NEXT_HOP 10.255.9.1, and the
/// NLRI 192.0.2.0/24 twice, with Path Identifiers 2 and 3.
static BIRD_TWO_PATHS: [u8; 59] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x00, 0x3b, 0x02, 0x00, 0x00, 0x00, 0x14, 0x40, 0x01, 0x01, 0x00, 0x40, 0x02, 0x06, 0x02, 0x01,
    0x00, 0x00, 0xfd, 0xf1, 0x40, 0x03, 0x04, 0x0a, 0xff, 0x09, 0x01, 0x00, 0x00, 0x00, 0x02, 0x18,
    0xc0, 0x00, 0x02, 0x00, 0x00, 0x00, 0x03, 0x18, 0xc0, 0x00, 0x02,
];

/// BIRD's End-of-RIB for IPv4 unicast: an empty UPDATE.
static BIRD_EOR: [u8; 23] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x00, 0x17, 0x02, 0x00, 0x00, 0x00, 0x00,
];

fn receiving() -> Ctx {
    let mut receive = AddPathFamilies::NONE;
    receive.insert(AddrFamily::IPV4_UNICAST);
    Ctx {
        add_path: AddPath {
            receive,
            send: AddPathFamilies::NONE,
        },
        ..Ctx::default()
    }
}

fn open() -> Open {
    let (m, _) = decode(&BIRD_OPEN, &Ctx::default()).unwrap();
    let Message::Open(o) = m else { panic!("{m:?}") };
    o
}

#[test]
fn birds_open_offers_add_path_both_for_ipv4_unicast() {
    let o = open();
    assert_eq!(
        o.add_path(),
        &[(AddrFamily::IPV4_UNICAST, AddPathMode::Both)]
    );
    assert!(
        o.capabilities
            .iter()
            .any(|c| matches!(c, Capability::AddPath(_)))
    );
    let mut out = BytesMut::new();
    Message::Open(o.clone())
        .encode(&Ctx::default(), &mut out)
        .unwrap();
    assert_eq!(&out[..], &BIRD_OPEN[..]);
    // We said receive: BIRD sends us paths with ids, and we send none.
    let n = AddPath::negotiate(
        &[(AddrFamily::IPV4_UNICAST, AddPathMode::Receive)],
        o.add_path(),
        &o.families(),
    );
    assert_eq!(n, receiving().add_path);
}

#[test]
fn birds_two_paths_for_one_prefix_decode_with_their_ids() {
    let ctx = receiving();
    let (m, issues) = decode(&BIRD_TWO_PATHS, &ctx).unwrap();
    assert!(issues.is_empty(), "{issues:?}");
    let Message::Update(u) = &m else {
        panic!("{m:?}")
    };
    let p: ipnet::Ipv4Net = "192.0.2.0/24".parse().unwrap();
    assert_eq!(u.nlri, vec![p, p]);
    assert_eq!(u.nlri_path_ids, vec![2, 3]);
    let r = routes(u, &issues);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].announced_path_ids, vec![2, 3]);
    assert_eq!(
        r[0].attrs.as_ref().and_then(|a| a.next_hop),
        Some("10.255.9.1".parse().unwrap())
    );
    // Re-encoded towards a peer that receives paths from us: the same
    // bytes.
    let back = Ctx {
        add_path: AddPath {
            receive: AddPathFamilies::NONE,
            send: ctx.add_path.receive,
        },
        ..Ctx::default()
    };
    let mut out = BytesMut::new();
    m.encode(&back, &mut out).unwrap();
    assert_eq!(&out[..], &BIRD_TWO_PATHS[..]);
}

#[test]
fn without_add_path_birds_update_is_an_invalid_network_field() {
    // Read as plain NLRI, the path id 0.0.0.2 is three /0 prefixes and a
    // /2 (whose octet is the real length, 24), then a length of 192: 3/10
    // (RFC 7606 §5.3), never a panic.
    let e = decode(&BIRD_TWO_PATHS, &Ctx::default()).unwrap_err();
    let n = e.notification();
    assert_eq!((n.code, n.subcode), (3, 10));
}

#[test]
fn birds_end_of_rib_is_the_same_with_add_path() {
    let (m, _) = decode(&BIRD_EOR, &receiving()).unwrap();
    let Message::Update(u) = &m else {
        panic!("{m:?}")
    };
    assert!(u.is_end_of_rib());
    let r = routes(u, &[]);
    assert_eq!(r[0].end_of_rib, Some(AddrFamily::IPV4_UNICAST));
}
