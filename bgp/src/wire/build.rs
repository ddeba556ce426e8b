//! Building UPDATEs for a peer from RIB routes: [`build_updates`] packs as
//! many prefixes of one family under one attribute set as fit the
//! session's maximum message length ([`build_updates_counted`] also says
//! how many fit no message), [`build_withdrawals`] does the same
//! for withdrawals, [`end_of_rib`] makes the RFC 4724 marker.
//!
//! This is the hot path of re-advertising a full table: the attributes are
//! built and measured once per call, each UPDATE clones them once, and the
//! only per-prefix work is copying the prefix into the UPDATE's vector
//! (allocated at its final size).
//!
//! Attribute order: MP_REACH_NLRI / MP_UNREACH_NLRI first, then by type
//! code. RFC 7606 §5.1: "The MP_REACH_NLRI or MP_UNREACH_NLRI attribute (if
//! present) SHALL be encoded as the very first path attribute in an UPDATE
//! message." and "An UPDATE message MUST NOT contain more than one of the
//! following: non-empty Withdrawn Routes field, non-empty Network Layer
//! Reachability Information field, MP_REACH_NLRI attribute, and
//! MP_UNREACH_NLRI attribute." — so each UPDATE built here carries exactly
//! one of them.

use std::net::{IpAddr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net};

use crate::model::{
    AddrFamily, AttrFlags, AttrType, AttrValue, Attribute, MpReach, MpUnreach, PathAttributes,
    Update,
};

use super::{Ctx, aspath, attrs, nlri};

/// The UPDATE's fixed part: header (19), withdrawn routes length (2),
/// total path attribute length (2).
pub(super) const UPDATE_FIXED: usize = 23;
/// MP attribute header with extended length.
pub(super) const MP_HEADER: usize = 4;

pub(super) const WELL_KNOWN: AttrFlags = AttrFlags(AttrFlags::TRANSITIVE);
const OPT_TRANS: AttrFlags = AttrFlags(AttrFlags::OPTIONAL | AttrFlags::TRANSITIVE);
const OPT_NON_TRANS: AttrFlags = AttrFlags(AttrFlags::OPTIONAL);

pub(super) fn attr(flags: AttrFlags, value: AttrValue) -> Attribute {
    Attribute { flags, value }
}

/// Appends to `out` the UPDATEs that announce `prefixes` with `attrs` to a
/// peer of session `ctx`.
///
/// - IPv4 prefixes with an IPv4 next hop go in the NLRI field with
///   NEXT_HOP; with an IPv6 next hop in MP_REACH_NLRI (RFC 8950, only if
///   the peer negotiated extended next hop encoding).
/// - IPv6 prefixes go in MP_REACH_NLRI with a 16-octet next hop, or 32 with
///   `attrs.link_local_next_hop`; an IPv4 next hop is sent IPv4-mapped
///   (`::ffff:a.b.c.d`).
/// - Towards a 2-octet AS peer (`!ctx.four_octet_as`) the AS_PATH and
///   AGGREGATOR carry AS_TRANS for ASes above 65535, with AS4_PATH and
///   AS4_AGGREGATOR added when needed (RFC 6793 §4.2.2).
/// - MED, LOCAL_PREF and the communities are sent when set: which of them
///   a peer gets (LOCAL_PREF only on iBGP) is the caller's policy. Unknown
///   attributes go out as stored (with the Partial bit [`super::routes`]
///   set).
///
/// Nothing is appended for a family whose next hop is `None`, or at all if
/// the attributes cannot be encoded (an AS_SET above 255 ASes, an unknown
/// attribute above 65535 octets) or leave no room for a prefix in a
/// message (e.g. an AS_PATH of a thousand 4-octet ASes in 4096 octets).
/// Those prefixes are dropped without a word: where that must be seen (the
/// speaker's export), use [`build_updates_counted`].
pub fn build_updates(attrs: &PathAttributes, prefixes: &[IpNet], ctx: &Ctx, out: &mut Vec<Update>) {
    build_updates_counted(attrs, prefixes, ctx, out);
}

/// [`build_updates`], returning how many of `prefixes` went into no UPDATE
/// (0: all were packed). Those routes are not advertised; the speaker
/// counts them per peer ([`crate::rib::Rib::count_unencodable`]).
pub fn build_updates_counted(
    attrs: &PathAttributes,
    prefixes: &[IpNet],
    ctx: &Ctx,
    out: &mut Vec<Update>,
) -> usize {
    let common = common_attributes(attrs, ctx);
    let Some(common_len) = encoded_len(&common, ctx) else {
        return prefixes.len();
    };
    let mut packed = 0;
    let limit = ctx.limit();
    let v4 = prefixes.iter().filter_map(|p| match p {
        IpNet::V4(n) => Some(*n),
        IpNet::V6(_) => None,
    });
    let v6 = prefixes.iter().filter_map(|p| match p {
        IpNet::V6(n) => Some(*n),
        IpNet::V4(_) => None,
    });
    match attrs.next_hop {
        Some(IpAddr::V4(nh)) => {
            let mut template = common.clone();
            template.push(attr(WELL_KNOWN, AttrValue::NextHop(nh)));
            template.sort_by_key(attrs::type_of);
            let budget = limit.saturating_sub(UPDATE_FIXED + common_len + 7);
            packed += pack(v4, budget, v4_size, |nlri, _| {
                out.push(Update {
                    nlri_path_ids: Vec::new(),
                    withdrawn_path_ids: Vec::new(),
                    withdrawn: Vec::new(),
                    attributes: template.clone(),
                    nlri,
                });
            });
        }
        Some(IpAddr::V6(_)) => {
            let hops = mp_next_hops(attrs);
            packed += mp_updates(
                AddrFamily::IPV4_UNICAST,
                hops,
                v4.map(IpNet::V4),
                &common,
                common_len,
                limit,
                out,
            );
        }
        None => {}
    }
    if attrs.next_hop.is_some() {
        let hops = mp_next_hops(attrs);
        packed += mp_updates(
            AddrFamily::IPV6_UNICAST,
            hops,
            v6.map(IpNet::V6),
            &common,
            common_len,
            limit,
            out,
        );
    }
    prefixes.len() - packed
}

/// Appends to `out` the UPDATEs that withdraw `prefixes`: IPv4 in the
/// Withdrawn Routes field, IPv6 in MP_UNREACH_NLRI.
pub fn build_withdrawals(prefixes: &[IpNet], ctx: &Ctx, out: &mut Vec<Update>) {
    let limit = ctx.limit();
    let v4 = prefixes.iter().filter_map(|p| match p {
        IpNet::V4(n) => Some(*n),
        IpNet::V6(_) => None,
    });
    pack(v4, limit - UPDATE_FIXED, v4_size, |withdrawn, _| {
        out.push(Update {
            withdrawn,
            ..Update::default()
        });
    });
    let v6 = prefixes.iter().filter_map(|p| match p {
        IpNet::V6(n) => Some(IpNet::V6(*n)),
        IpNet::V4(_) => None,
    });
    // MP_UNREACH_NLRI value: AFI (2), SAFI (1), withdrawn routes.
    pack(
        v6,
        limit - UPDATE_FIXED - MP_HEADER - 3,
        ip_size,
        |withdrawn, used| {
            let value = MpUnreach {
                path_ids: Vec::new(),
                family: AddrFamily::IPV6_UNICAST,
                withdrawn,
            };
            out.push(Update {
                attributes: vec![attr(mp_flags(3 + used), AttrValue::MpUnreach(value))],
                ..Update::default()
            });
        },
    );
}

/// The End-of-RIB marker of `family` (RFC 4724 §2): an empty UPDATE for
/// IPv4 unicast, else an UPDATE with only an empty MP_UNREACH_NLRI.
pub fn end_of_rib(family: AddrFamily) -> Update {
    if family == AddrFamily::IPV4_UNICAST {
        return Update::default();
    }
    let value = MpUnreach {
        path_ids: Vec::new(),
        family,
        withdrawn: Vec::new(),
    };
    Update {
        attributes: vec![attr(OPT_NON_TRANS, AttrValue::MpUnreach(value))],
        ..Update::default()
    }
}

fn v4_size(n: &Ipv4Net) -> usize {
    nlri::prefix_len(&IpNet::V4(*n))
}

fn ip_size(n: &IpNet) -> usize {
    nlri::prefix_len(n)
}

/// Optional non-transitive, with the Extended Length bit when the value
/// needs it.
pub(super) fn mp_flags(value_len: usize) -> AttrFlags {
    if value_len > 255 {
        AttrFlags(AttrFlags::OPTIONAL | AttrFlags::EXTENDED_LENGTH)
    } else {
        OPT_NON_TRANS
    }
}

/// Splits `items` into runs whose encoded size fits `budget` and hands each
/// run (in a vector of its exact size) and its size to `emit`. Stops early
/// only if a single prefix does not fit an empty message. Returns how many
/// items were handed out.
pub(super) fn pack<T, I>(
    mut items: I,
    budget: usize,
    size: fn(&T) -> usize,
    mut emit: impl FnMut(Vec<T>, usize),
) -> usize
where
    I: Iterator<Item = T> + Clone,
{
    let mut total = 0;
    loop {
        let (mut used, mut n) = (0, 0);
        for p in items.clone() {
            let l = size(&p);
            if used + l > budget {
                break;
            }
            used += l;
            n += 1;
        }
        if n == 0 {
            return total;
        }
        let mut run = Vec::with_capacity(n);
        run.extend(items.by_ref().take(n));
        emit(run, used);
        total += n;
    }
}

/// The MP next hops for `attrs`: global (IPv4-mapped if IPv4) and the
/// link-local one if set.
pub(super) fn mp_next_hops(attrs: &PathAttributes) -> Vec<IpAddr> {
    let global = match attrs.next_hop {
        Some(IpAddr::V6(a)) => a,
        Some(IpAddr::V4(a)) => a.to_ipv6_mapped(),
        None => Ipv6Addr::UNSPECIFIED,
    };
    let mut hops = vec![IpAddr::V6(global)];
    hops.extend(attrs.link_local_next_hop.map(IpAddr::V6));
    hops
}

/// Appends MP_REACH_NLRI UPDATEs for `prefixes` of `family`; how many
/// prefixes they carry.
fn mp_updates(
    family: AddrFamily,
    next_hops: Vec<IpAddr>,
    prefixes: impl Iterator<Item = IpNet> + Clone,
    common: &[Attribute],
    common_len: usize,
    limit: usize,
    out: &mut Vec<Update>,
) -> usize {
    // MP_REACH_NLRI value: AFI (2), SAFI (1), next hop length (1), next
    // hop, reserved (1), NLRI.
    let fixed = 5 + 16 * next_hops.len();
    let budget = limit.saturating_sub(UPDATE_FIXED + common_len + MP_HEADER + fixed);
    pack(prefixes, budget, ip_size, |nlri, used| {
        let reach = MpReach {
            path_ids: Vec::new(),
            family,
            next_hops: next_hops.clone(),
            reserved: 0,
            nlri,
        };
        let mut attributes = Vec::with_capacity(common.len() + 1);
        attributes.push(attr(mp_flags(fixed + used), AttrValue::MpReach(reach)));
        attributes.extend_from_slice(common);
        out.push(Update {
            attributes,
            ..Update::default()
        });
    })
}

/// The attributes every UPDATE of `attrs` carries besides the next hop /
/// MP attribute, in type-code order.
pub(super) fn common_attributes(p: &PathAttributes, ctx: &Ctx) -> Vec<Attribute> {
    let four = ctx.four_octet_as;
    let mut v = Vec::with_capacity(12 + p.unknown.len());
    v.push(attr(WELL_KNOWN, AttrValue::Origin(p.origin)));
    let path = if four {
        p.as_path.clone()
    } else {
        aspath::map_to_2_octet(&p.as_path)
    };
    v.push(attr(WELL_KNOWN, AttrValue::AsPath(path)));
    if let Some(m) = p.med {
        v.push(attr(OPT_NON_TRANS, AttrValue::Med(m)));
    }
    if let Some(l) = p.local_pref {
        v.push(attr(WELL_KNOWN, AttrValue::LocalPref(l)));
    }
    if p.atomic_aggregate {
        v.push(attr(WELL_KNOWN, AttrValue::AtomicAggregate));
    }
    if let Some((asn, addr)) = p.aggregator {
        let wire_asn = if four {
            asn
        } else {
            u32::from(aspath::to_2_octet(asn))
        };
        v.push(attr(
            OPT_TRANS,
            AttrValue::Aggregator {
                asn: wire_asn,
                addr,
            },
        ));
        if !four && asn > 0xffff {
            v.push(attr(OPT_TRANS, AttrValue::As4Aggregator { asn, addr }));
        }
    }
    if !p.communities.is_empty() {
        v.push(attr(
            OPT_TRANS,
            AttrValue::Communities(p.communities.to_vec()),
        ));
    }
    // RFC 4456 §8: both optional non-transitive.
    if let Some(o) = p.originator_id() {
        v.push(attr(OPT_NON_TRANS, AttrValue::OriginatorId(o)));
    }
    if !p.cluster_list().is_empty() {
        v.push(attr(
            OPT_NON_TRANS,
            AttrValue::ClusterList(p.cluster_list().to_vec()),
        ));
    }
    if !four && aspath::needs_as4(&p.as_path) {
        v.push(attr(
            OPT_TRANS,
            AttrValue::As4Path(aspath::as4_path(&p.as_path)),
        ));
    }
    if !p.large_communities.is_empty() {
        v.push(attr(
            OPT_TRANS,
            AttrValue::LargeCommunities(p.large_communities.to_vec()),
        ));
    }
    for r in &p.unknown {
        // A stale copy of an attribute we build ourselves would be a
        // duplicate.
        if !is_built_here(r.type_code) {
            v.push(attr(r.flags, AttrValue::Raw(r.clone())));
        }
    }
    v.sort_by_key(attrs::type_of);
    v
}

fn is_built_here(t: AttrType) -> bool {
    matches!(t.0, 1..=10 | 14 | 15 | 17 | 18 | 32)
}

pub(super) fn encoded_len(list: &[Attribute], ctx: &Ctx) -> Option<usize> {
    list.iter().map(|a| attrs::encoded_len(a, ctx).ok()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AS_TRANS, AsPath, AsSegment, Community, Message, Origin};
    use crate::wire::{decode, routes};
    use bytes::BytesMut;
    use ipnet::Ipv6Net;
    use std::net::Ipv4Addr;

    fn attrs_v4() -> PathAttributes {
        PathAttributes {
            origin: Origin::Igp,
            as_path: AsPath::sequence(vec![65001, 4_200_000_000]),
            next_hop: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
            communities: vec![Community(0xfde9_0001)].into(),
            ..PathAttributes::default()
        }
    }

    fn v4_prefixes(n: u32) -> Vec<IpNet> {
        (0..n)
            .map(|i| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + (i << 8)), 24).unwrap()))
            .collect()
    }

    /// Encodes, checks the size, decodes and normalizes every UPDATE.
    fn through_the_wire(ups: &[Update], ctx: &Ctx) -> Vec<IpNet> {
        let mut announced = Vec::new();
        for u in ups {
            let mut out = BytesMut::new();
            u.encode(ctx, &mut out).unwrap();
            assert!(out.len() <= ctx.limit());
            let (m, issues) = decode(&out, ctx).unwrap();
            assert!(issues.is_empty(), "{issues:?}");
            let Message::Update(back) = m else { panic!() };
            assert_eq!(&back, u);
            for r in routes(&back, &[]) {
                announced.extend(r.announced);
            }
        }
        announced
    }

    /// A reflected route's ORIGINATOR_ID and CLUSTER_LIST go out and come
    /// back into the same [`PathAttributes`] (IPv4 and IPv6).
    #[test]
    fn reflection_attributes_through_the_wire() {
        let ctx = Ctx::default();
        let mut a = PathAttributes {
            local_pref: Some(100),
            ..attrs_v4()
        };
        a.set_reflection(
            Some(Ipv4Addr::new(10, 0, 0, 7)),
            vec![Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)].into(),
        );
        for prefixes in [
            v4_prefixes(2),
            vec!["2001:db8:1::/48".parse::<IpNet>().unwrap()],
        ] {
            if matches!(prefixes[0], IpNet::V6(_)) {
                a.next_hop = Some("2001:db8::7".parse().unwrap());
            }
            let mut ups = Vec::new();
            assert_eq!(build_updates_counted(&a, &prefixes, &ctx, &mut ups), 0);
            assert_eq!(through_the_wire(&ups, &ctx), prefixes);
            let back = routes(&ups[0], &[]);
            let got = back[0].attrs.as_ref().unwrap();
            assert_eq!(got.originator_id(), a.originator_id());
            assert_eq!(got.cluster_list(), a.cluster_list());
            assert_eq!(*got, a);
        }
    }

    #[test]
    fn packs_ipv4_under_4096() {
        let ctx = Ctx::default();
        let prefixes = v4_prefixes(3000);
        let mut ups = Vec::new();
        assert_eq!(
            build_updates_counted(&attrs_v4(), &prefixes, &ctx, &mut ups),
            0
        );
        assert_eq!(ups.len(), 3); // ~1010 /24s per UPDATE
        assert_eq!(through_the_wire(&ups, &ctx), prefixes);
        // Tightly packed: one more prefix would not fit.
        let mut out = BytesMut::new();
        ups[0].encode(&ctx, &mut out).unwrap();
        assert!(out.len() + 4 > 4096);
    }

    #[test]
    fn ipv6_in_mp_reach_with_link_local() {
        let ctx = Ctx {
            max_message_len: 65535,
            ..Ctx::default()
        };
        let a = PathAttributes {
            next_hop: Some("2001:db8::1".parse().unwrap()),
            link_local_next_hop: Some("fe80::1".parse().unwrap()),
            ..attrs_v4()
        };
        let prefixes: Vec<IpNet> = (0..5000u32)
            .map(|i| {
                IpNet::V6(
                    Ipv6Net::new(
                        Ipv6Addr::from(0x2001_0db8_u128 << 96 | u128::from(i) << 64),
                        64,
                    )
                    .unwrap(),
                )
            })
            .collect();
        let mut ups = Vec::new();
        build_updates(&a, &prefixes, &ctx, &mut ups);
        assert_eq!(ups.len(), 1);
        assert_eq!(
            attrs::type_of(&ups[0].attributes[0]),
            AttrType::MP_REACH_NLRI
        );
        assert_eq!(through_the_wire(&ups, &ctx), prefixes);
    }

    #[test]
    fn two_octet_peer_gets_as_trans_and_as4_path() {
        let ctx = Ctx {
            four_octet_as: false,
            ..Ctx::default()
        };
        let mut ups = Vec::new();
        build_updates(&attrs_v4(), &v4_prefixes(1), &ctx, &mut ups);
        let u = &ups[0];
        let path = u.attributes.iter().find_map(|a| match &a.value {
            AttrValue::AsPath(p) => Some(p.clone()),
            _ => None,
        });
        assert_eq!(
            path,
            Some(AsPath::sequence(vec![65001, u32::from(AS_TRANS)]))
        );
        let codes: Vec<u8> = u.attributes.iter().map(|a| attrs::type_of(a).0).collect();
        assert_eq!(codes, vec![1, 2, 3, 8, 17]);
        let mut out = BytesMut::new();
        u.encode(&ctx, &mut out).unwrap();
        let (Message::Update(back), _) = decode(&out, &ctx).unwrap() else {
            panic!()
        };
        let r = routes(&back, &[]);
        assert_eq!(r[0].attrs.as_ref().unwrap().as_path, attrs_v4().as_path);
    }

    #[test]
    fn withdrawals_and_end_of_rib() {
        let ctx = Ctx::default();
        let mut prefixes = v4_prefixes(2000);
        prefixes.push("2001:db8::/32".parse().unwrap());
        let mut ups = Vec::new();
        build_withdrawals(&prefixes, &ctx, &mut ups);
        assert_eq!(ups.len(), 3);
        let mut withdrawn = Vec::new();
        for u in &ups {
            let mut out = BytesMut::new();
            u.encode(&ctx, &mut out).unwrap();
            let (Message::Update(back), _) = decode(&out, &ctx).unwrap() else {
                panic!()
            };
            routes(&back, &[])
                .into_iter()
                .for_each(|r| withdrawn.extend(r.withdrawn));
        }
        assert_eq!(withdrawn, prefixes);
        assert!(end_of_rib(AddrFamily::IPV4_UNICAST).is_end_of_rib());
        assert!(end_of_rib(AddrFamily::IPV6_UNICAST).is_end_of_rib());
    }

    #[test]
    fn no_next_hop_no_updates() {
        let a = PathAttributes {
            next_hop: None,
            ..attrs_v4()
        };
        let mut ups = Vec::new();
        let unsent = build_updates_counted(&a, &v4_prefixes(3), &Ctx::default(), &mut ups);
        assert!(ups.is_empty());
        assert_eq!(unsent, 3);
    }

    fn mixed_prefixes() -> Vec<IpNet> {
        let mut p = v4_prefixes(5);
        p.push("2001:db8:1::/48".parse().unwrap());
        p.push("2001:db8:2::/48".parse().unwrap());
        p
    }

    #[test]
    fn as_path_too_long_for_4096_is_reported_not_sent() {
        // 1100 4-octet ASes: 4400 octets of ASNs alone, more than a whole
        // RFC 4271 message (4096).
        let a = PathAttributes {
            as_path: AsPath::sequence((0..1100u32).map(|i| 4_200_000_000 + i).collect::<Vec<_>>()),
            ..attrs_v4()
        };
        let prefixes = mixed_prefixes();
        let ctx = Ctx::default();
        let mut ups = Vec::new();
        assert_eq!(
            build_updates_counted(&a, &prefixes, &ctx, &mut ups),
            prefixes.len()
        );
        assert!(ups.is_empty(), "nothing half-built");
        // The same attributes fit an RFC 8654 extended message.
        let big = Ctx {
            max_message_len: 65535,
            ..Ctx::default()
        };
        assert_eq!(build_updates_counted(&a, &prefixes, &big, &mut ups), 0);
        let mut announced = Vec::new();
        for u in &ups {
            let mut out = BytesMut::new();
            u.encode(&big, &mut out).unwrap();
            assert!(out.len() > 4096 && out.len() <= big.limit());
            let (Message::Update(back), issues) = decode(&out, &big).unwrap() else {
                panic!()
            };
            assert!(issues.is_empty(), "{issues:?}");
            routes(&back, &[])
                .into_iter()
                .for_each(|r| announced.extend(r.announced));
        }
        assert_eq!(announced, prefixes);
    }

    #[test]
    fn as_set_above_255_is_reported_not_sent() {
        let a = PathAttributes {
            as_path: AsPath::from(vec![AsSegment::Set((1..=300u32).collect())]),
            ..attrs_v4()
        };
        let prefixes = mixed_prefixes();
        let mut ups = Vec::new();
        let ctx = Ctx {
            max_message_len: 65535,
            ..Ctx::default()
        };
        assert_eq!(
            build_updates_counted(&a, &prefixes, &ctx, &mut ups),
            prefixes.len()
        );
        assert!(ups.is_empty());
    }
}
