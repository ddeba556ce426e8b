//! Property tests of the codec:
//!
//! - round trip: any OPEN / UPDATE / NOTIFICATION / KEEPALIVE /
//!   ROUTE-REFRESH in the legal space encodes, decodes without an issue,
//!   and comes back equal (on 4-octet and 2-octet AS sessions);
//! - never panic: arbitrary bytes, bytes behind a valid header, and golden
//!   messages with flipped bytes or cut lengths go through `frame_len` and
//!   `decode` without panicking; whatever decodes re-encodes and decodes to
//!   the same message, and its routes, normalized and re-advertised, build
//!   UPDATEs that encode and decode.

use std::collections::BTreeMap;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use bytes::BytesMut;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::prelude::*;
use vcpe_bgp::model::{
    AddPath, AddPathFamilies, AddPathMode, AddrFamily, Afi, AsPath, AsSegment, AttrFlags, AttrType,
    AttrValue, Attribute, Capability, Community, GracefulRestart, LargeCommunity, Message, MpReach,
    MpUnreach, Notification, Open, Origin, ParamLayout, RawAttribute, Safi, Update,
};
use vcpe_bgp::wire::{Ctx, build_updates, build_withdrawals, decode, frame_len, routes};

// ---- strategies ----

fn v4net() -> impl Strategy<Value = Ipv4Net> {
    (any::<u32>(), 0..=32u8).prop_map(|(a, l)| Ipv4Net::new(Ipv4Addr::from(a), l).unwrap().trunc())
}

fn v6net() -> impl Strategy<Value = Ipv6Net> {
    (any::<u128>(), 0..=128u8)
        .prop_map(|(a, l)| Ipv6Net::new(Ipv6Addr::from(a), l).unwrap().trunc())
}

fn family() -> impl Strategy<Value = AddrFamily> {
    (any::<u16>(), any::<u8>()).prop_map(|(a, s)| AddrFamily {
        afi: Afi(a),
        safi: Safi(s),
    })
}

/// A unicast host address (what NEXT_HOP accepts).
fn unicast_v4() -> impl Strategy<Value = Ipv4Addr> {
    (1u32..0xe000_0000).prop_map(Ipv4Addr::from)
}

fn as_path(max_asn: u32) -> impl Strategy<Value = AsPath> {
    let seg = (0..4u8, prop::collection::vec(1..=max_asn, 1..8)).prop_map(|(t, v)| match t {
        0 => AsSegment::Sequence(v),
        1 => AsSegment::Set(v),
        2 => AsSegment::ConfedSequence(v),
        _ => AsSegment::ConfedSet(v),
    });
    prop::collection::vec(seg, 0..5).prop_map(AsPath::from)
}

fn mp_reach() -> impl Strategy<Value = MpReach> {
    let v6 = (
        any::<u128>(),
        prop::option::of(any::<u128>()),
        prop::collection::vec(v6net().prop_map(IpNet::V6), 0..8),
    )
        .prop_map(|(g, ll, nlri)| {
            let mut next_hops = vec![IpAddr::V6(Ipv6Addr::from(g))];
            next_hops.extend(ll.map(|l| IpAddr::V6(Ipv6Addr::from(l))));
            (AddrFamily::IPV6_UNICAST, next_hops, nlri)
        });
    let v4 = (
        any::<u32>(),
        prop::collection::vec(v4net().prop_map(IpNet::V4), 0..8),
    )
        .prop_map(|(nh, nlri)| {
            (
                AddrFamily::IPV4_UNICAST,
                vec![IpAddr::V4(Ipv4Addr::from(nh))],
                nlri,
            )
        });
    (prop_oneof![v6, v4], any::<u8>()).prop_map(|((family, next_hops, nlri), reserved)| MpReach {
        path_ids: Vec::new(),
        family,
        next_hops,
        reserved,
        nlri,
    })
}

fn mp_unreach() -> impl Strategy<Value = MpUnreach> {
    prop_oneof![
        prop::collection::vec(v6net().prop_map(IpNet::V6), 0..8).prop_map(|w| MpUnreach {
            path_ids: Vec::new(),
            family: AddrFamily::IPV6_UNICAST,
            withdrawn: w,
        }),
        prop::collection::vec(v4net().prop_map(IpNet::V4), 0..8).prop_map(|w| MpUnreach {
            path_ids: Vec::new(),
            family: AddrFamily::IPV4_UNICAST,
            withdrawn: w,
        }),
    ]
}

fn is_known(t: u8) -> bool {
    matches!(t, 1..=10 | 14 | 15 | 17 | 18 | 32)
}

/// Unknown optional attributes, unique by type.
fn raws() -> impl Strategy<Value = Vec<RawAttribute>> {
    let raw = (
        any::<u8>().prop_filter("unknown type", |t| !is_known(*t)),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(|(t, transitive, partial, value)| {
            let mut f = AttrFlags::OPTIONAL;
            if transitive {
                f |= AttrFlags::TRANSITIVE;
            }
            if partial && transitive {
                f |= AttrFlags::PARTIAL;
            }
            RawAttribute {
                flags: AttrFlags(f),
                type_code: AttrType(t),
                value,
            }
        });
    prop::collection::vec(raw, 0..3).prop_map(|v| {
        let unique: BTreeMap<AttrType, RawAttribute> =
            v.into_iter().map(|r| (r.type_code, r)).collect();
        unique.into_values().collect()
    })
}

/// One attribute with the flags RFC 4271 §5 prescribes, the Extended
/// Length bit set at random (every generated value is under 256 octets).
fn with_flags(value: AttrValue, ext: bool) -> Attribute {
    let base = match &value {
        AttrValue::Origin(_)
        | AttrValue::AsPath(_)
        | AttrValue::NextHop(_)
        | AttrValue::LocalPref(_)
        | AttrValue::AtomicAggregate => AttrFlags::TRANSITIVE,
        AttrValue::Med(_)
        | AttrValue::OriginatorId(_)
        | AttrValue::ClusterList(_)
        | AttrValue::MpReach(_)
        | AttrValue::MpUnreach(_) => AttrFlags::OPTIONAL,
        AttrValue::Raw(r) => r.flags.0,
        _ => AttrFlags::OPTIONAL | AttrFlags::TRANSITIVE,
    };
    let mut flags = AttrFlags(if ext {
        base | AttrFlags::EXTENDED_LENGTH
    } else {
        base
    });
    if let AttrValue::Raw(r) = &value {
        flags = r.flags;
    }
    Attribute { flags, value }
}

prop_compose! {
    fn update(four_octet: bool)(
        withdrawn in prop::collection::vec(v4net(), 0..12),
        nlri in prop::collection::vec(v4net(), 0..12),
        origin in 0..3u8,
        path in as_path(if four_octet { u32::MAX } else { 65535 }),
        next_hop in unicast_v4(),
        med in prop::option::of(any::<u32>()),
        local_pref in prop::option::of(any::<u32>()),
        atomic in any::<bool>(),
        aggregator in prop::option::of((1..=if four_octet { u32::MAX } else { 65535 }, any::<u32>())),
        communities in prop::option::of(prop::collection::vec(any::<u32>(), 1..10)),
        large in prop::option::of(prop::collection::vec(any::<(u32, u32, u32)>(), 1..6)),
        originator in prop::option::of(any::<u32>()),
        clusters in prop::option::of(prop::collection::vec(any::<u32>(), 1..6)),
        as4 in prop::option::of((as_path(u32::MAX), prop::option::of((1..=u32::MAX, any::<u32>())))),
        reach in prop::option::of(mp_reach()),
        unreach in prop::option::of(mp_unreach()),
        raw in raws(),
        ext in prop::collection::vec(any::<bool>(), 20),
        bare in any::<bool>(),
        order in any::<prop::sample::Index>(),
    ) -> Update {
        let mut values = Vec::new();
        let announces = !nlri.is_empty() || reach.as_ref().is_some_and(|r| !r.nlri.is_empty());
        if announces || !bare {
            values.push(AttrValue::Origin(match origin { 0 => Origin::Igp, 1 => Origin::Egp, _ => Origin::Incomplete }));
            values.push(AttrValue::AsPath(path));
            values.push(AttrValue::NextHop(next_hop));
            values.extend(med.map(AttrValue::Med));
            values.extend(local_pref.map(AttrValue::LocalPref));
            if atomic {
                values.push(AttrValue::AtomicAggregate);
            }
            values.extend(aggregator.map(|(asn, a)| AttrValue::Aggregator { asn, addr: Ipv4Addr::from(a) }));
            values.extend(communities.map(|c| AttrValue::Communities(c.into_iter().map(Community).collect())));
            values.extend(large.map(|l| AttrValue::LargeCommunities(l.into_iter().map(|(a, b, c)| LargeCommunity(a, b, c)).collect())));
            values.extend(originator.map(|o| AttrValue::OriginatorId(Ipv4Addr::from(o))));
            values.extend(clusters.map(|c| AttrValue::ClusterList(c.into_iter().map(Ipv4Addr::from).collect())));
            if !four_octet {
                // AS4_PATH/AS4_AGGREGATOR only travel on 2-octet sessions.
                if let Some((p4, agg4)) = as4 {
                    // Confederation segments are dropped from AS4_PATH by
                    // routes(), but the codec carries them.
                    values.push(AttrValue::As4Path(p4));
                    values.extend(agg4.map(|(asn, a)| AttrValue::As4Aggregator { asn, addr: Ipv4Addr::from(a) }));
                }
            }
            values.extend(reach.map(AttrValue::MpReach));
            values.extend(raw.into_iter().map(AttrValue::Raw));
        }
        values.extend(unreach.map(AttrValue::MpUnreach));
        let mut attributes: Vec<Attribute> = values
            .into_iter()
            .zip(ext)
            .map(|(v, e)| with_flags(v, e))
            .collect();
        // Any wire order: rotate by a random amount.
        if !attributes.is_empty() {
            let k = order.index(attributes.len());
            attributes.rotate_left(k);
        }
        Update { withdrawn, attributes, nlri, nlri_path_ids: Vec::new(), withdrawn_path_ids: Vec::new() }
    }
}

fn capability() -> impl Strategy<Value = Capability> {
    prop_oneof![
        family().prop_map(Capability::Multiprotocol),
        Just(Capability::RouteRefresh),
        Just(Capability::EnhancedRouteRefresh),
        (1..=u32::MAX).prop_map(Capability::FourOctetAs),
        (
            0..16u8,
            0..4096u16,
            prop::collection::vec((family(), any::<u8>()), 0..4)
        )
            .prop_map(
                |(flags, restart_time, families)| Capability::GracefulRestart(GracefulRestart {
                    flags,
                    restart_time,
                    families
                })
            ),
        prop::collection::vec(
            (
                family(),
                prop_oneof![
                    Just(AddPathMode::Receive),
                    Just(AddPathMode::Send),
                    Just(AddPathMode::Both)
                ]
            ),
            1..8
        )
        .prop_map(Capability::AddPath),
        (
            any::<u8>().prop_filter("unknown code", |c| !matches!(
                c,
                0 | 1 | 2 | 64 | 65 | 69 | 70
            )),
            prop::collection::vec(any::<u8>(), 0..20)
        )
            .prop_map(|(code, value)| Capability::Unknown { code, value }),
    ]
}

prop_compose! {
    fn open()(
        my_as in 1..=u16::MAX,
        hold_time in prop_oneof![Just(0u16), 3..=u16::MAX],
        id in 1..=u32::MAX,
        capabilities in prop::collection::vec(capability(), 0..8),
        per_capability in any::<bool>(),
    ) -> Open {
        let layout = if per_capability && capabilities.len() >= 2 {
            ParamLayout::PerCapability
        } else {
            ParamLayout::Single
        };
        Open {
            version: 4,
            my_as,
            hold_time,
            bgp_id: Ipv4Addr::from(id),
            capabilities,
            layout,
            other_params: vec![],
        }
    }
}

fn message(four_octet: bool) -> impl Strategy<Value = Message> {
    prop_oneof![
        open().prop_map(Message::Open),
        update(four_octet).prop_map(Message::Update),
        (
            any::<u8>(),
            any::<u8>(),
            prop::collection::vec(any::<u8>(), 0..60)
        )
            .prop_map(|(c, s, d)| Message::Notification(Notification::with_data(c, s, d))),
        Just(Message::Keepalive),
        (family(), any::<u8>())
            .prop_map(|(family, subtype)| Message::RouteRefresh { family, subtype }),
    ]
}

// ---- golden messages for mutation ----

fn golden() -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/msgs");
    let mut names: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .collect();
    names.sort();
    names.iter().map(|p| fs::read(p).unwrap()).collect()
}

/// Runs the decoder over `bytes`; if it decodes, the message re-encodes
/// and decodes to itself, and an UPDATE's routes re-advertised with
/// `build_updates` / `build_withdrawals` encode and decode again.
fn survive(bytes: &[u8], ctx: &Ctx) {
    let _ = frame_len(bytes, ctx);
    let Ok((m, issues)) = decode(bytes, ctx) else {
        return;
    };
    let mut out = BytesMut::new();
    m.encode(ctx, &mut out)
        .unwrap_or_else(|e| panic!("decoded {m:?} but cannot re-encode: {e}"));
    let (again, _) = decode(&out, ctx).unwrap_or_else(|e| panic!("re-encoded {m:?}: {e}"));
    assert_eq!(again, m);
    let Message::Update(u) = &m else {
        return;
    };
    // The builder assigns no path ids (ADD-PATH send is not built yet):
    // the rebuilt UPDATEs go to a peer without ADD-PATH.
    let ctx = &Ctx {
        add_path: AddPath::default(),
        ..*ctx
    };
    let mut built = Vec::new();
    for r in routes(u, &issues) {
        if let Some(a) = &r.attrs {
            build_updates(a, &r.announced, ctx, &mut built);
        }
        build_withdrawals(&r.withdrawn, ctx, &mut built);
    }
    for b in built {
        out.clear();
        b.encode(ctx, &mut out)
            .unwrap_or_else(|e| panic!("built {b:?} from {m:?}: {e}"));
        decode(&out, ctx).unwrap_or_else(|e| panic!("built {b:?} from {m:?}: {e}"));
    }
}

fn ctxs() -> [Ctx; 3] {
    [
        Ctx::default(),
        Ctx {
            add_path: AddPath::default(),
            four_octet_as: false,
            max_message_len: 65535,
        },
        add_path_ctx(),
    ]
}

/// ADD-PATH negotiated both ways for IPv4 and IPv6 unicast.
fn add_path_ctx() -> Ctx {
    Ctx {
        add_path: AddPath {
            receive: AddPathFamilies::UNICAST,
            send: AddPathFamilies::UNICAST,
        },
        ..Ctx::default()
    }
}

/// Gives every prefix of `u` a path id from `ids` (cycled).
fn with_path_ids(mut u: Update, ids: &[u32]) -> Update {
    let mut next = ids.iter().copied().cycle();
    let mut take = |n: usize| {
        (0..n)
            .map(|_| next.next().unwrap_or(0))
            .collect::<Vec<u32>>()
    };
    u.withdrawn_path_ids = take(u.withdrawn.len());
    u.nlri_path_ids = take(u.nlri.len());
    for a in &mut u.attributes {
        match &mut a.value {
            AttrValue::MpReach(r) => r.path_ids = take(r.nlri.len()),
            AttrValue::MpUnreach(w) => w.path_ids = take(w.withdrawn.len()),
            _ => {}
        }
    }
    u
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn round_trip_four_octet(m in message(true)) {
        let ctx = Ctx::default();
        let mut out = BytesMut::new();
        m.encode(&ctx, &mut out).unwrap();
        prop_assert_eq!(frame_len(&out, &ctx), Ok(Some(out.len())));
        let (back, issues) = decode(&out, &ctx).unwrap();
        prop_assert!(issues.is_empty(), "{:?}", issues);
        prop_assert_eq!(back, m);
    }

    #[test]
    fn round_trip_add_path(
        u in update(true),
        ids in prop::collection::vec(any::<u32>(), 1..8),
    ) {
        let ctx = add_path_ctx();
        let m = Message::Update(with_path_ids(u, &ids));
        let mut out = BytesMut::new();
        m.encode(&ctx, &mut out).unwrap();
        let (back, issues) = decode(&out, &ctx).unwrap();
        prop_assert!(issues.is_empty(), "{:?}", issues);
        prop_assert_eq!(back, m);
    }

    #[test]
    fn round_trip_two_octet(u in update(false)) {
        let ctx = Ctx { four_octet_as: false, ..Ctx::default() };
        let m = Message::Update(u);
        let mut out = BytesMut::new();
        m.encode(&ctx, &mut out).unwrap();
        let (back, issues) = decode(&out, &ctx).unwrap();
        prop_assert!(issues.is_empty(), "{:?}", issues);
        prop_assert_eq!(back, m);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        for ctx in ctxs() {
            survive(&bytes, &ctx);
        }
    }

    #[test]
    fn arbitrary_bodies_behind_a_valid_header_never_panic(
        msg_type in 1..=5u8,
        body in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut m = vec![0xff; 16];
        m.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
        m.push(msg_type);
        m.extend_from_slice(&body);
        for ctx in ctxs() {
            survive(&m, &ctx);
        }
    }

    #[test]
    fn mutated_golden_messages_never_panic(
        pick in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        fix_length in any::<bool>(),
    ) {
        let all = golden();
        let mut m = all[pick.index(all.len())].clone();
        for (at, v) in &flips {
            // Mostly past the marker, where the interesting fields are.
            let i = 16 + at.index(m.len() - 16);
            m[i] = *v;
        }
        for ctx in ctxs() {
            survive(&m, &ctx);
        }
        // Truncated, with the length field adjusted or not.
        let n = cut.index(m.len() + 1);
        let mut t = m[..n].to_vec();
        if fix_length && t.len() >= 18 {
            let l = (t.len() as u16).to_be_bytes();
            t[16] = l[0];
            t[17] = l[1];
        }
        for ctx in ctxs() {
            survive(&t, &ctx);
        }
    }
}
