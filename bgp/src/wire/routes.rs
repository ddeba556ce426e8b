//! Normalizing a decoded UPDATE for the RIB ([`routes`]): prefixes of the
//! Withdrawn Routes/NLRI fields and of MP_UNREACH/MP_REACH_NLRI in one
//! list each, the RFC 7606 treat-as-withdraw outcome applied, and the
//! attributes folded into a [`PathAttributes`] (next hop per NLRI source,
//! AS4_PATH and AS4_AGGREGATOR merged per RFC 6793 §4.2.3, unknown
//! optional transitive attributes kept with the Partial bit set).

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use crate::model::{
    AS_TRANS, AddrFamily, AsPath, AttrFlags, AttrValue, MpReach, PathAttributes, Update,
};

use super::aspath;
use super::error::{Action, AttrIssue};

/// Route changes from one UPDATE that share one attribute set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Routes {
    /// Prefixes no longer reachable (of any family).
    pub withdrawn: Vec<IpNet>,
    /// Their ADD-PATH Path Identifiers (RFC 7911), one per prefix, when
    /// the UPDATE carried any; a prefix from a field without them (a family
    /// without ADD-PATH) has 0. Empty without ADD-PATH.
    pub withdrawn_path_ids: Vec<u32>,
    /// Prefixes reachable with `attrs`.
    pub announced: Vec<IpNet>,
    /// Their Path Identifiers, as for `withdrawn_path_ids`.
    pub announced_path_ids: Vec<u32>,
    /// The attributes of `announced`; `None` when nothing is announced.
    pub attrs: Option<PathAttributes>,
    /// This UPDATE is the End-of-RIB marker of this family (RFC 4724 §2).
    pub end_of_rib: Option<AddrFamily>,
}

/// Normalizes a decoded UPDATE (with the issues [`crate::wire::decode`]
/// returned for it) into route changes.
///
/// One element per attribute set: the first holds every withdrawal (IPv4
/// Withdrawn Routes and MP_UNREACH_NLRI) and the IPv4 NLRI with the
/// NEXT_HOP; MP_REACH_NLRI prefixes join it when they have the same next
/// hop (or there is no IPv4 NLRI), else they come second with the MP next
/// hop. If any issue is [`Action::TreatAsWithdraw`], every announced prefix
/// is withdrawn instead and there is a single element with `attrs: None`.
/// An End-of-RIB marker gives a single element with only `end_of_rib`; an
/// UPDATE that changes no route gives an empty vector.
pub fn routes(update: &Update, issues: &[AttrIssue]) -> Vec<Routes> {
    let unreach = update.mp_unreach();
    if update.is_end_of_rib() {
        let family = unreach.map_or(AddrFamily::IPV4_UNICAST, |u| u.family);
        return vec![Routes {
            end_of_rib: Some(family),
            ..Routes::default()
        }];
    }
    let reach = update.mp_reach();
    let mp_nlri = reach.map_or(&[][..], |r| &r.nlri[..]);
    let mp_withdrawn = unreach.map_or(&[][..], |u| &u.withdrawn[..]);
    let withdraw_all = issues.iter().any(|i| i.action == Action::TreatAsWithdraw);
    let with_ids = !update.withdrawn_path_ids.is_empty()
        || !update.nlri_path_ids.is_empty()
        || reach.is_some_and(|r| !r.path_ids.is_empty())
        || unreach.is_some_and(|u| !u.path_ids.is_empty());
    let ids_of = |ids: &'_ [u32], n: usize, out: &mut Vec<u32>| {
        if !with_ids {
            return;
        }
        if ids.len() == n {
            out.extend_from_slice(ids);
        } else {
            out.extend(std::iter::repeat_n(0, n));
        }
    };
    let (reach_ids, unreach_ids) = (
        reach.map_or(&[][..], |r| &r.path_ids[..]),
        unreach.map_or(&[][..], |u| &u.path_ids[..]),
    );

    let extra = if withdraw_all {
        update.nlri.len() + mp_nlri.len()
    } else {
        0
    };
    let mut withdrawn = Vec::with_capacity(update.withdrawn.len() + mp_withdrawn.len() + extra);
    withdrawn.extend(update.withdrawn.iter().map(|&n| IpNet::V4(n)));
    withdrawn.extend_from_slice(mp_withdrawn);
    let mut withdrawn_path_ids = Vec::new();
    ids_of(
        &update.withdrawn_path_ids,
        update.withdrawn.len(),
        &mut withdrawn_path_ids,
    );
    ids_of(unreach_ids, mp_withdrawn.len(), &mut withdrawn_path_ids);
    if withdraw_all {
        withdrawn.extend(update.nlri.iter().map(|&n| IpNet::V4(n)));
        withdrawn.extend_from_slice(mp_nlri);
        ids_of(
            &update.nlri_path_ids,
            update.nlri.len(),
            &mut withdrawn_path_ids,
        );
        ids_of(reach_ids, mp_nlri.len(), &mut withdrawn_path_ids);
        return one_or_none(Routes {
            withdrawn,
            withdrawn_path_ids,
            ..Routes::default()
        });
    }

    let mut first = Routes {
        withdrawn,
        withdrawn_path_ids,
        ..Routes::default()
    };
    if update.nlri.is_empty() && mp_nlri.is_empty() {
        return one_or_none(first);
    }
    let (base, next_hop) = fold(update);
    if !update.nlri.is_empty() {
        first.announced = update.nlri.iter().map(|&n| IpNet::V4(n)).collect();
        ids_of(
            &update.nlri_path_ids,
            update.nlri.len(),
            &mut first.announced_path_ids,
        );
        first.attrs = Some(PathAttributes {
            next_hop: next_hop.map(IpAddr::V4),
            ..base.clone()
        });
    }
    let mut second = None;
    if let Some(r) = reach.filter(|r| !r.nlri.is_empty()) {
        let mp_attrs = with_mp_next_hop(base, r);
        match &first.attrs {
            None => {
                first.announced = r.nlri.clone();
                ids_of(&r.path_ids, r.nlri.len(), &mut first.announced_path_ids);
                first.attrs = Some(mp_attrs);
            }
            Some(a) if *a == mp_attrs => {
                first.announced.extend_from_slice(&r.nlri);
                ids_of(&r.path_ids, r.nlri.len(), &mut first.announced_path_ids);
            }
            Some(_) => {
                let mut announced_path_ids = Vec::new();
                ids_of(&r.path_ids, r.nlri.len(), &mut announced_path_ids);
                second = Some(Routes {
                    announced: r.nlri.clone(),
                    announced_path_ids,
                    attrs: Some(mp_attrs),
                    ..Routes::default()
                });
            }
        }
    }
    let mut out = Vec::with_capacity(2);
    out.push(first);
    out.extend(second);
    out
}

fn one_or_none(r: Routes) -> Vec<Routes> {
    if r.withdrawn.is_empty() && r.announced.is_empty() {
        Vec::new()
    } else {
        vec![r]
    }
}

/// The MP next hops: the first is the next hop; for IPv6 a second one is
/// the link-local address (RFC 2545 §3).
fn with_mp_next_hop(base: PathAttributes, r: &MpReach) -> PathAttributes {
    let link_local = match r.next_hops.get(1) {
        Some(IpAddr::V6(a)) => Some(*a),
        _ => None,
    };
    PathAttributes {
        next_hop: r.next_hops.first().copied(),
        link_local_next_hop: link_local,
        ..base
    }
}

/// Folds the attributes into a [`PathAttributes`] without a next hop, and
/// returns the NEXT_HOP attribute beside it.
fn fold(update: &Update) -> (PathAttributes, Option<Ipv4Addr>) {
    let mut p = PathAttributes::default();
    let (mut next_hop, mut as4_path, mut as4_aggregator) = (None, None, None);
    let mut unknown = Vec::new();
    for a in &update.attributes {
        match &a.value {
            AttrValue::Origin(o) => p.origin = *o,
            AttrValue::AsPath(path) => p.as_path = path.clone(),
            AttrValue::NextHop(n) => next_hop = Some(*n),
            AttrValue::Med(m) => p.med = Some(*m),
            AttrValue::LocalPref(l) => p.local_pref = Some(*l),
            AttrValue::AtomicAggregate => p.atomic_aggregate = true,
            AttrValue::Aggregator { asn, addr } => p.aggregator = Some((*asn, *addr)),
            AttrValue::Communities(c) => p.communities = c.as_slice().into(),
            AttrValue::LargeCommunities(c) => p.large_communities = c.as_slice().into(),
            AttrValue::OriginatorId(o) => p.set_originator_id(Some(*o)),
            AttrValue::ClusterList(c) => p.set_cluster_list(c.as_slice().into()),
            AttrValue::As4Path(path) => as4_path = Some(path),
            AttrValue::As4Aggregator { asn, addr } => as4_aggregator = Some((*asn, *addr)),
            AttrValue::MpReach(_) | AttrValue::MpUnreach(_) => {}
            AttrValue::Raw(r) => {
                // RFC 4271 §5: "If an optional transitive attribute is
                // unrecognized, the Partial bit [...] is set to 1 [when]
                // the attribute is propagated to other BGP speakers."
                // Unrecognized optional non-transitive ones "MUST be
                // quietly ignored and not passed along".
                if r.flags.optional() && r.flags.transitive() {
                    let mut r = r.clone();
                    r.flags = AttrFlags(r.flags.0 | AttrFlags::PARTIAL);
                    unknown.push(r);
                }
            }
        }
    }
    p.unknown = unknown.into_boxed_slice();
    merge_as4(&mut p, as4_path, as4_aggregator);
    (p, next_hop)
}

/// RFC 6793 §4.2.3: "If the AGGREGATOR attribute contains an AS number
/// other than AS_TRANS, then: the AS4_AGGREGATOR attribute and the AS4_PATH
/// attribute SHALL be ignored [...] If the AGGREGATOR attribute contains
/// AS_TRANS [...] the AS4_AGGREGATOR attribute SHALL be used" — and the
/// AS4_PATH is merged when the AS_PATH carries AS_TRANS (only then did a
/// 2-octet speaker stand in for a 4-octet AS). AS4 attributes only reach
/// here from 2-octet sessions: decoding discards them on 4-octet ones.
fn merge_as4(
    p: &mut PathAttributes,
    as4_path: Option<&AsPath>,
    as4_aggregator: Option<(u32, Ipv4Addr)>,
) {
    let trans = u32::from(AS_TRANS);
    match p.aggregator {
        Some((asn, _)) if asn != trans => return,
        Some(_) => {
            if let Some(agg) = as4_aggregator {
                p.aggregator = Some(agg);
            }
        }
        None => {}
    }
    if let Some(as4) = as4_path
        && p.as_path.contains(trans)
    {
        p.as_path = aspath::merge_as4(&p.as_path, as4);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        AsSegment, AttrType, Attribute, Community, MpUnreach, Origin, RawAttribute,
    };

    fn attr(flags: u8, value: AttrValue) -> Attribute {
        Attribute {
            flags: AttrFlags(flags),
            value,
        }
    }

    fn basic(nlri: &[&str]) -> Update {
        Update {
            nlri_path_ids: Vec::new(),
            withdrawn_path_ids: Vec::new(),
            withdrawn: vec![],
            attributes: vec![
                attr(0x40, AttrValue::Origin(Origin::Igp)),
                attr(0x40, AttrValue::AsPath(AsPath::sequence(vec![65001]))),
                attr(0x40, AttrValue::NextHop(Ipv4Addr::new(10, 99, 0, 1))),
                attr(0xc0, AttrValue::Communities(vec![Community(1)])),
            ],
            nlri: nlri.iter().map(|s| s.parse().unwrap()).collect(),
        }
    }

    fn v6_reach(nh: &str, nlri: &str) -> Attribute {
        attr(
            0x80,
            AttrValue::MpReach(MpReach {
                path_ids: Vec::new(),
                family: AddrFamily::IPV6_UNICAST,
                next_hops: vec![nh.parse().unwrap(), "fe80::1".parse().unwrap()],
                reserved: 0,
                nlri: vec![nlri.parse().unwrap()],
            }),
        )
    }

    #[test]
    fn ipv4_announcement() {
        let r = routes(&basic(&["192.0.2.0/24"]), &[]);
        assert_eq!(r.len(), 1);
        assert_eq!(
            r[0].announced,
            vec!["192.0.2.0/24".parse::<IpNet>().unwrap()]
        );
        let a = r[0].attrs.as_ref().unwrap();
        assert_eq!(a.next_hop, Some("10.99.0.1".parse().unwrap()));
        assert_eq!(a.as_path, AsPath::sequence(vec![65001]));
        assert_eq!(*a.communities, [Community(1)]);
    }

    #[test]
    fn ipv4_and_ipv6_nlri_make_two_groups() {
        let mut u = basic(&["192.0.2.0/24"]);
        u.attributes
            .insert(0, v6_reach("2001:db8::1", "2001:db8:1::/48"));
        let r = routes(&u, &[]);
        assert_eq!(r.len(), 2);
        let a = r[1].attrs.as_ref().unwrap();
        assert_eq!(a.next_hop, Some("2001:db8::1".parse().unwrap()));
        assert_eq!(a.link_local_next_hop, Some("fe80::1".parse().unwrap()));
        assert_eq!(
            r[1].announced,
            vec!["2001:db8:1::/48".parse::<IpNet>().unwrap()]
        );
        // Without IPv4 NLRI: one group with the MP next hop.
        let mut u = basic(&[]);
        u.attributes
            .insert(0, v6_reach("2001:db8::1", "2001:db8:1::/48"));
        let r = routes(&u, &[]);
        assert_eq!(r.len(), 1);
        assert_eq!(
            r[0].attrs.as_ref().unwrap().next_hop,
            Some("2001:db8::1".parse().unwrap())
        );
    }

    #[test]
    fn treat_as_withdraw_moves_everything_to_withdrawn() {
        let mut u = basic(&["192.0.2.0/24"]);
        u.withdrawn = vec!["198.51.100.0/24".parse().unwrap()];
        u.attributes
            .insert(0, v6_reach("2001:db8::1", "2001:db8:1::/48"));
        let issue = AttrIssue {
            type_code: AttrType::ORIGIN,
            action: Action::TreatAsWithdraw,
            reason: "x".into(),
        };
        let r = routes(&u, &[issue]);
        assert_eq!(r.len(), 1);
        assert!(r[0].announced.is_empty() && r[0].attrs.is_none());
        assert_eq!(r[0].withdrawn.len(), 3);
        // A discard changes nothing.
        let discard = AttrIssue {
            type_code: AttrType::AGGREGATOR,
            action: Action::AttributeDiscard,
            reason: "x".into(),
        };
        assert_eq!(routes(&u, &[discard]).len(), 2);
    }

    #[test]
    fn end_of_rib_and_withdrawals() {
        let r = routes(&Update::default(), &[]);
        assert_eq!(r[0].end_of_rib, Some(AddrFamily::IPV4_UNICAST));
        let eor6 = Update {
            attributes: vec![attr(
                0x80,
                AttrValue::MpUnreach(MpUnreach {
                    path_ids: Vec::new(),
                    family: AddrFamily::IPV6_UNICAST,
                    withdrawn: vec![],
                }),
            )],
            ..Update::default()
        };
        assert_eq!(
            routes(&eor6, &[])[0].end_of_rib,
            Some(AddrFamily::IPV6_UNICAST)
        );
        let w = Update {
            withdrawn: vec!["10.0.0.0/8".parse().unwrap()],
            ..Update::default()
        };
        let r = routes(&w, &[]);
        assert_eq!((r.len(), r[0].attrs.is_none()), (1, true));
        // Attributes without routes: nothing to do.
        assert!(routes(&basic(&[]), &[]).is_empty());
    }

    #[test]
    fn as4_merge_and_aggregator() {
        let t = u32::from(AS_TRANS);
        let mut u = basic(&["192.0.2.0/24"]);
        u.attributes[1] = attr(0x40, AttrValue::AsPath(AsPath::sequence(vec![65001, t])));
        u.attributes.push(attr(
            0xc0,
            AttrValue::Aggregator {
                asn: t,
                addr: Ipv4Addr::new(1, 1, 1, 1),
            },
        ));
        u.attributes.push(attr(
            0xc0,
            AttrValue::As4Path(AsPath::sequence(vec![4_200_000_000])),
        ));
        u.attributes.push(attr(
            0xc0,
            AttrValue::As4Aggregator {
                asn: 4_200_000_000,
                addr: Ipv4Addr::new(1, 1, 1, 1),
            },
        ));
        let r = routes(&u, &[]);
        let a = r[0].attrs.as_ref().unwrap();
        assert_eq!(a.as_path, AsPath::sequence(vec![65001, 4_200_000_000]));
        assert_eq!(
            a.aggregator,
            Some((4_200_000_000, Ipv4Addr::new(1, 1, 1, 1)))
        );
        // AGGREGATOR without AS_TRANS: both AS4 attributes ignored.
        u.attributes[4] = attr(
            0xc0,
            AttrValue::Aggregator {
                asn: 65001,
                addr: Ipv4Addr::new(1, 1, 1, 1),
            },
        );
        let a = routes(&u, &[])[0].attrs.clone().unwrap();
        assert_eq!(
            a.as_path,
            AsPath::from(vec![AsSegment::Sequence(vec![65001, t])])
        );
        assert_eq!(a.aggregator, Some((65001, Ipv4Addr::new(1, 1, 1, 1))));
    }

    #[test]
    fn unknown_attributes() {
        let mut u = basic(&["192.0.2.0/24"]);
        for flags in [0xc0, 0x80] {
            u.attributes.push(attr(
                flags,
                AttrValue::Raw(RawAttribute {
                    flags: AttrFlags(flags),
                    type_code: AttrType(flags / 2),
                    value: vec![1],
                }),
            ));
        }
        let a = routes(&u, &[])[0].attrs.clone().unwrap();
        assert_eq!(a.unknown.len(), 1);
        assert_eq!(a.unknown[0].flags, AttrFlags(0xe0));
        assert_eq!(a.unknown[0].type_code, AttrType(0x60));
    }

    /// Two paths (ids 1, 2) for one IPv4 prefix and a withdrawal of path
    /// 3 of another; an IPv6 MP_REACH without ADD-PATH in the same UPDATE
    /// gets id 0.
    #[test]
    fn path_ids_follow_their_prefixes() {
        let mut u = basic(&["192.0.2.0/24", "192.0.2.0/24"]);
        u.nlri_path_ids = vec![1, 2];
        u.withdrawn = vec!["198.51.100.0/24".parse().unwrap()];
        u.withdrawn_path_ids = vec![3];
        let r = routes(&u, &[]);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].announced.len(), 2);
        assert_eq!(r[0].announced_path_ids, vec![1, 2]);
        assert_eq!(r[0].withdrawn_path_ids, vec![3]);

        u.attributes
            .push(v6_reach("2001:db8::1", "2001:db8:1::/48"));
        let r = routes(&u, &[]);
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].announced_path_ids, vec![0]);

        // Treat-as-withdraw withdraws every path by its id.
        let issue = AttrIssue {
            type_code: AttrType::MED,
            action: Action::TreatAsWithdraw,
            reason: String::new(),
        };
        let r = routes(&u, &[issue]);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].withdrawn.len(), 4);
        assert_eq!(r[0].withdrawn_path_ids, vec![3, 1, 2, 0]);

        // Without ADD-PATH anywhere, no ids at all.
        let r = routes(&basic(&["192.0.2.0/24"]), &[]);
        assert!(r[0].announced_path_ids.is_empty() && r[0].withdrawn_path_ids.is_empty());
    }
}
