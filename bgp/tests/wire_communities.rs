//! COMMUNITIES (RFC 1997) and LARGE_COMMUNITIES (RFC 8092) in UPDATEs
//! captured from BIRD and FRR (`data/communities/`): decoded into their
//! values, normalized into the route's attributes, re-encoded byte-exact.

use std::fs;
use std::path::PathBuf;

use bytes::BytesMut;
use vcpe_bgp::model::{AttrType, AttrValue, Community, LargeCommunity, Message};
use vcpe_bgp::wire::{Action, Ctx, decode, routes};

fn read(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/communities")
        .join(name);
    fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Decodes `bytes` (no RFC 7606 issue allowed), checks the byte-exact
/// re-encoding, and returns the normalized communities of its one route.
fn communities(bytes: &[u8]) -> (Vec<Community>, Vec<LargeCommunity>) {
    let ctx = Ctx::default();
    let (m, issues) = decode(bytes, &ctx).expect("decodes");
    assert!(issues.is_empty(), "{issues:?}");
    let mut out = BytesMut::new();
    m.encode(&ctx, &mut out).expect("encodes");
    assert_eq!(&out[..], bytes, "re-encodes byte-exact");
    let Message::Update(u) = m else {
        panic!("not an UPDATE: {m:?}")
    };
    // The decoded attribute values, as they were on the wire.
    let wire_comms: Vec<Community> = u
        .attributes
        .iter()
        .find_map(|a| match &a.value {
            AttrValue::Communities(c) => Some(c.clone()),
            _ => None,
        })
        .expect("COMMUNITIES present");
    let r = routes(&u, &issues);
    assert_eq!(r.len(), 1);
    let attrs = r[0].attrs.as_ref().expect("announcement");
    assert_eq!(&*attrs.communities, wire_comms.as_slice());
    (attrs.communities.to_vec(), attrs.large_communities.to_vec())
}

#[test]
fn bird_communities_with_no_export_and_a_large_community() {
    let (c, l) = communities(&read("bird-2.0.12-update-communities.bin"));
    assert_eq!(c, [Community(65001 << 16 | 7), Community::NO_EXPORT]);
    assert_eq!(l, [LargeCommunity(65001, 1, 2)]);
}

#[test]
fn frr_communities_and_two_large_communities() {
    let (c, l) = communities(&read("frr-8.4.4-update-communities.bin"));
    assert_eq!(c, [Community(65003 << 16 | 7), Community(65003 << 16 | 8)]);
    assert_eq!(
        l,
        [LargeCommunity(65003, 1, 2), LargeCommunity(65003, 3, 4)]
    );
}

#[test]
fn a_truncated_community_list_is_treat_as_withdraw_not_a_panic() {
    // BIRD's UPDATE with the COMMUNITIES length cut from 8 to 7 (and the
    // total path attribute and message lengths kept consistent): the
    // attribute is malformed, the route treat-as-withdraw (RFC 7606 §7.8).
    let mut b = read("bird-2.0.12-update-communities.bin");
    let at = b
        .windows(3)
        .position(|w| w == [0xc0, 8, 8])
        .expect("COMMUNITIES header");
    b[at + 2] = 7;
    b.remove(at + 3 + 7);
    let len = b.len() as u16;
    b[16..18].copy_from_slice(&len.to_be_bytes());
    let total = u16::from_be_bytes([b[21], b[22]]) - 1;
    b[21..23].copy_from_slice(&total.to_be_bytes());
    let (m, issues) = decode(&b, &Ctx::default()).expect("decodes");
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(
        (issues[0].type_code, issues[0].action),
        (AttrType::COMMUNITIES, Action::TreatAsWithdraw)
    );
    let Message::Update(u) = m else {
        panic!("not an UPDATE")
    };
    let r = routes(&u, &issues);
    assert!(r.iter().all(|r| r.attrs.is_none()), "{r:?}");
    assert_eq!(
        r[0].withdrawn,
        vec!["10.70.0.0/24".parse::<ipnet::IpNet>().unwrap()]
    );
}
