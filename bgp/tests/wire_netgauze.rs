//! Cross-check against an independent implementation, NetGauze
//! (`netgauze-bgp-pkt` 0.13, which builds with this toolchain):
//!
//! - the golden captures: NetGauze decodes each, and its own encoding of
//!   what it decoded equals the original bytes, which are also ours;
//! - generated messages encoded by us: NetGauze decodes them with the same
//!   prefixes, AS path, next hops, communities, MED and OPEN fields, and
//!   re-encodes them to the very bytes we produced.
//!
//! NetGauze has no AS_CONFED segment types and accepts only unicast NLRI,
//! so the generated paths use AS_SEQUENCE/AS_SET and the prefixes unicast
//! ranges.

use std::collections::HashMap;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use bytes::BytesMut;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use netgauze_bgp_pkt::BgpMessage;
use netgauze_bgp_pkt::capabilities::BgpCapability;
use netgauze_bgp_pkt::path_attribute::{
    AsPath as NgAsPath, AsPathSegmentType, MpReach as NgReach, MpUnreach as NgUnreach,
    PathAttributeValue as V,
};
use netgauze_bgp_pkt::wire::deserializer::BgpParsingContext;
use netgauze_parse_utils::WritablePdu;
use netgauze_parse_utils::reader::SliceReader;
use netgauze_parse_utils::traits::ParseFromWithOneInput;
use proptest::prelude::*;
use vcpe_bgp::model::{
    AddrFamily, AsPath, AsSegment, AttrFlags, AttrValue, Attribute, Capability, Community,
    LargeCommunity, Message, MpReach, MpUnreach, Open, Origin, ParamLayout, Update,
};
use vcpe_bgp::wire::{Ctx, decode};

fn ng_ctx(four_octet: bool) -> BgpParsingContext {
    BgpParsingContext::new(
        four_octet,
        HashMap::new(),
        HashMap::new(),
        true,
        true,
        true,
        true,
    )
}

fn ng_decode(bytes: &[u8], four_octet: bool) -> BgpMessage {
    let mut r = SliceReader::new(bytes);
    let m = BgpMessage::parse(&mut r, &mut ng_ctx(four_octet))
        .unwrap_or_else(|e| panic!("NetGauze rejects {bytes:02x?}: {e:?}"));
    assert!(r.is_empty(), "NetGauze left bytes over");
    m
}

fn ng_encode(m: &BgpMessage) -> Vec<u8> {
    let mut out = Vec::new();
    m.write(&mut out).unwrap();
    assert_eq!(out.len(), m.len());
    out
}

fn ours(m: &Message, ctx: &Ctx) -> Vec<u8> {
    let mut out = BytesMut::new();
    m.encode(ctx, &mut out).unwrap();
    out.to_vec()
}

#[test]
fn netgauze_reads_and_writes_the_golden_captures_as_we_do() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/msgs");
    let mut n = 0;
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "bin") {
            continue;
        }
        let bytes = fs::read(&p).unwrap();
        let ng = ng_decode(&bytes, true);
        assert_eq!(ng_encode(&ng), bytes, "{}", p.display());
        let (m, _) = decode(&bytes, &Ctx::default()).unwrap();
        assert_eq!(ours(&m, &Ctx::default()), bytes);
        n += 1;
    }
    assert_eq!(n, 92);
}

#[test]
fn netgauze_reads_what_build_updates_packs() {
    let v4: Vec<IpNet> = (0..3000u32)
        .map(|i| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + (i << 8)), 24).unwrap()))
        .collect();
    let v6: Vec<IpNet> = (0..500u128)
        .map(|i| IpNet::V6(Ipv6Net::new(Ipv6Addr::from(0x2001_0db8 << 96 | i << 64), 64).unwrap()))
        .collect();
    for four_octet in [true, false] {
        let ctx = Ctx {
            four_octet_as: four_octet,
            ..Ctx::default()
        };
        let attrs = vcpe_bgp::model::PathAttributes {
            as_path: AsPath::sequence(vec![65001, 4_200_000_000]),
            next_hop: Some(IpAddr::V6("2001:db8::1".parse().unwrap())),
            link_local_next_hop: Some("fe80::1".parse().unwrap()),
            communities: vec![Community(1)].into(),
            ..Default::default()
        };
        let v4_attrs = vcpe_bgp::model::PathAttributes {
            next_hop: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
            link_local_next_hop: None,
            ..attrs.clone()
        };
        let mut ups = Vec::new();
        vcpe_bgp::wire::build_updates(&v4_attrs, &v4, &ctx, &mut ups);
        vcpe_bgp::wire::build_updates(&attrs, &v6, &ctx, &mut ups);
        let (mut got4, mut got6) = (Vec::new(), Vec::new());
        for u in &ups {
            let bytes = ours(&Message::Update(u.clone()), &ctx);
            let seen = netgauze_view(&ng_decode(&bytes, four_octet));
            got4.extend(seen.nlri);
            got6.extend(seen.mp_nlri);
            let want = if four_octet {
                vec![AsSegment::Sequence(vec![65001, 4_200_000_000])]
            } else {
                vec![AsSegment::Sequence(vec![65001, 23456])]
            };
            assert_eq!(seen.as_path, want);
        }
        assert_eq!((got4, got6), (v4.clone(), v6.clone()));
    }
}

// ---- what NetGauze saw, in our terms ----

#[derive(Debug, Default, PartialEq)]
struct Seen {
    withdrawn: Vec<IpNet>,
    nlri: Vec<IpNet>,
    as_path: Vec<AsSegment>,
    next_hop: Option<Ipv4Addr>,
    med: Option<u32>,
    communities: Vec<u32>,
    large: Vec<(u32, u32, u32)>,
    mp_next_hops: Vec<IpAddr>,
    mp_nlri: Vec<IpNet>,
    mp_withdrawn: Vec<IpNet>,
}

fn segments(p: &NgAsPath) -> Vec<AsSegment> {
    let seg = |t: AsPathSegmentType, v: Vec<u32>| match t {
        AsPathSegmentType::AsSet => AsSegment::Set(v),
        AsPathSegmentType::AsSequence => AsSegment::Sequence(v),
    };
    match p {
        NgAsPath::As2PathSegments(s) => s
            .iter()
            .map(|s| {
                seg(
                    s.segment_type(),
                    s.as_numbers().iter().map(|&a| u32::from(a)).collect(),
                )
            })
            .collect(),
        NgAsPath::As4PathSegments(s) => s
            .iter()
            .map(|s| seg(s.segment_type(), s.as_numbers().to_vec()))
            .collect(),
    }
}

fn netgauze_view(m: &BgpMessage) -> Seen {
    let BgpMessage::Update(u) = m else {
        panic!("not an UPDATE: {m:?}")
    };
    let mut s = Seen {
        withdrawn: u
            .withdraw_routes()
            .iter()
            .map(|w| IpNet::V4(w.network().address()))
            .collect(),
        nlri: u
            .nlri()
            .iter()
            .map(|w| IpNet::V4(w.network().address()))
            .collect(),
        ..Seen::default()
    };
    for a in u.path_attributes() {
        match a.value() {
            V::AsPath(p) => s.as_path = segments(p),
            V::NextHop(n) => s.next_hop = Some(n.next_hop()),
            V::MultiExitDiscriminator(m) => s.med = Some(m.metric()),
            V::Communities(c) => {
                s.communities = c.communities().iter().map(|c| c.value()).collect()
            }
            V::LargeCommunities(c) => {
                s.large = c
                    .communities()
                    .iter()
                    .map(|c| (c.global_admin(), c.local_data1(), c.local_data2()))
                    .collect()
            }
            V::MpReach(NgReach::Ipv6Unicast {
                next_hop_global,
                next_hop_local,
                nlri,
            }) => {
                s.mp_next_hops.push(IpAddr::V6(*next_hop_global));
                s.mp_next_hops.extend(next_hop_local.map(IpAddr::V6));
                s.mp_nlri = nlri
                    .iter()
                    .map(|n| IpNet::V6(n.network().address()))
                    .collect();
            }
            V::MpUnreach(NgUnreach::Ipv6Unicast { nlri }) => {
                s.mp_withdrawn = nlri
                    .iter()
                    .map(|n| IpNet::V6(n.network().address()))
                    .collect();
            }
            _ => {}
        }
    }
    s
}

fn our_view(u: &Update) -> Seen {
    let mut s = Seen {
        withdrawn: u.withdrawn.iter().map(|&n| IpNet::V4(n)).collect(),
        nlri: u.nlri.iter().map(|&n| IpNet::V4(n)).collect(),
        ..Seen::default()
    };
    for a in &u.attributes {
        match &a.value {
            AttrValue::AsPath(p) => s.as_path = p.to_segments(),
            AttrValue::NextHop(n) => s.next_hop = Some(*n),
            AttrValue::Med(m) => s.med = Some(*m),
            AttrValue::Communities(c) => s.communities = c.iter().map(|c| c.0).collect(),
            AttrValue::LargeCommunities(c) => s.large = c.iter().map(|c| (c.0, c.1, c.2)).collect(),
            AttrValue::MpReach(r) => {
                s.mp_next_hops = r.next_hops.clone();
                s.mp_nlri = r.nlri.clone();
            }
            AttrValue::MpUnreach(w) => s.mp_withdrawn = w.withdrawn.clone(),
            _ => {}
        }
    }
    s
}

// ---- generated messages ----

fn v4net() -> impl Strategy<Value = Ipv4Net> {
    // Unicast: 1.0.0.0 - 223.255.255.255, at least /8.
    (0x0100_0000u32..0xe000_0000, 8..=32u8)
        .prop_map(|(a, l)| Ipv4Net::new(Ipv4Addr::from(a), l).unwrap().trunc())
}

fn v6net() -> impl Strategy<Value = Ipv6Net> {
    // 2000::/3 global unicast, at least /3.
    (any::<u128>(), 3..=128u8).prop_map(|(a, l)| {
        let a = (a >> 3) | (1u128 << 125);
        Ipv6Net::new(Ipv6Addr::from(a), l).unwrap().trunc()
    })
}

fn attr(flags: u8, value: AttrValue) -> Attribute {
    Attribute {
        flags: AttrFlags(flags),
        value,
    }
}

prop_compose! {
    fn update(four_octet: bool)(
        withdrawn in prop::collection::vec(v4net(), 0..10),
        nlri in prop::collection::vec(v4net(), 0..10),
        segs in prop::collection::vec(
            (any::<bool>(), prop::collection::vec(1..=if four_octet { u32::MAX } else { 65535 }, 1..6)),
            0..4,
        ),
        next_hop in 0x0100_0000u32..0xe000_0000,
        med in prop::option::of(any::<u32>()),
        communities in prop::collection::vec(any::<u32>(), 0..6),
        large in prop::collection::vec(any::<(u32, u32, u32)>(), 0..4),
        reach in prop::option::of((
            any::<u128>(),
            prop::option::of(any::<u128>()),
            prop::collection::vec(v6net(), 1..6),
        )),
        unreach in prop::collection::vec(v6net(), 0..6),
    ) -> Update {
        let path = AsPath::from(
            segs.into_iter()
                .map(|(set, v)| if set { AsSegment::Set(v) } else { AsSegment::Sequence(v) })
                .collect::<Vec<_>>(),
        );
        let mut attributes = Vec::new();
        if !unreach.is_empty() {
            attributes.push(attr(0x80, AttrValue::MpUnreach(MpUnreach {
                path_ids: Vec::new(),
                family: AddrFamily::IPV6_UNICAST,
                withdrawn: unreach.into_iter().map(IpNet::V6).collect(),
            })));
        }
        if let Some((g, ll, nets)) = reach {
            let mut next_hops = vec![IpAddr::V6(Ipv6Addr::from(g))];
            next_hops.extend(ll.map(|l| IpAddr::V6(Ipv6Addr::from(l))));
            attributes.push(attr(0x80, AttrValue::MpReach(MpReach {
                path_ids: Vec::new(),
                family: AddrFamily::IPV6_UNICAST,
                next_hops,
                reserved: 0,
                nlri: nets.into_iter().map(IpNet::V6).collect(),
            })));
        }
        attributes.push(attr(0x40, AttrValue::Origin(Origin::Igp)));
        attributes.push(attr(0x40, AttrValue::AsPath(path)));
        attributes.push(attr(0x40, AttrValue::NextHop(Ipv4Addr::from(next_hop))));
        attributes.extend(med.map(|m| attr(0x80, AttrValue::Med(m))));
        if !communities.is_empty() {
            attributes.push(attr(0xc0, AttrValue::Communities(communities.into_iter().map(Community).collect())));
        }
        if !large.is_empty() {
            attributes.push(attr(0xc0, AttrValue::LargeCommunities(
                large.into_iter().map(|(a, b, c)| LargeCommunity(a, b, c)).collect(),
            )));
        }
        Update { withdrawn, attributes, nlri, nlri_path_ids: Vec::new(), withdrawn_path_ids: Vec::new() }
    }
}

prop_compose! {
    fn open()(
        asn in 1..=u32::MAX,
        hold_time in prop_oneof![Just(0u16), 3..=u16::MAX],
        // NetGauze still wants RFC 4271's "valid unicast IP host address";
        // we accept any non-zero identifier (RFC 6286).
        id in 0x0100_0000u32..0xe000_0000,
        per_capability in any::<bool>(),
    ) -> Open {
        Open {
            version: 4,
            my_as: u16::try_from(asn).unwrap_or(23456),
            hold_time,
            bgp_id: Ipv4Addr::from(id),
            capabilities: vec![
                Capability::Multiprotocol(AddrFamily::IPV4_UNICAST),
                Capability::Multiprotocol(AddrFamily::IPV6_UNICAST),
                Capability::RouteRefresh,
                Capability::FourOctetAs(asn),
            ],
            layout: if per_capability { ParamLayout::PerCapability } else { ParamLayout::Single },
            other_params: vec![],
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn netgauze_decodes_our_updates_with_the_same_values(u in update(true)) {
        let bytes = ours(&Message::Update(u.clone()), &Ctx::default());
        let ng = ng_decode(&bytes, true);
        prop_assert_eq!(netgauze_view(&ng), our_view(&u));
        prop_assert_eq!(ng_encode(&ng), bytes);
    }

    #[test]
    fn netgauze_decodes_our_two_octet_updates(u in update(false)) {
        let ctx = Ctx { four_octet_as: false, ..Ctx::default() };
        let bytes = ours(&Message::Update(u.clone()), &ctx);
        let ng = ng_decode(&bytes, false);
        prop_assert_eq!(netgauze_view(&ng), our_view(&u));
        prop_assert_eq!(ng_encode(&ng), bytes);
    }

    #[test]
    fn netgauze_decodes_our_opens(o in open()) {
        let bytes = ours(&Message::Open(o.clone()), &Ctx::default());
        let BgpMessage::Open(ng) = ng_decode(&bytes, true) else { panic!() };
        prop_assert_eq!(ng.my_as(), o.my_as);
        prop_assert_eq!(ng.hold_time(), o.hold_time);
        prop_assert_eq!(ng.bgp_id(), o.bgp_id);
        prop_assert_eq!(ng.my_asn4(), o.asn());
        let caps = ng.capabilities();
        prop_assert_eq!(caps.len(), 4);
        prop_assert!(matches!(caps[2], BgpCapability::RouteRefresh));
        prop_assert_eq!(ng.params().len(), if o.layout == ParamLayout::PerCapability { 4 } else { 1 });
        prop_assert_eq!(ng_encode(&BgpMessage::Open(ng)), bytes);
    }
}
