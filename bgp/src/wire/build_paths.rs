//! Building UPDATEs with ADD-PATH Path Identifiers (RFC 7911): the same
//! packing as [`super::build`] for a family the session sends with
//! ADD-PATH, each prefix after its 4-octet identifier ("the Path
//! Identifier [...] is prepended to the NLRI", RFC 7911 §3), counted in
//! every message's size. Kept apart so the common path (no identifiers)
//! stays as it was.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net};

use crate::model::{AddrFamily, AttrValue, MpReach, MpUnreach, PathAttributes, Update};

use super::build::{
    MP_HEADER, UPDATE_FIXED, WELL_KNOWN, attr, common_attributes, encoded_len, mp_flags,
    mp_next_hops, pack,
};
use super::{Ctx, attrs, nlri};

/// One prefix and its Path Identifier.
pub type PathNlri = (IpNet, u32);

fn v4_size(p: &(Ipv4Net, u32)) -> usize {
    4 + nlri::prefix_len(&IpNet::V4(p.0))
}

fn ip_size(p: &PathNlri) -> usize {
    4 + nlri::prefix_len(&p.0)
}

/// [`super::build_updates_counted`] for prefixes with Path Identifiers
/// (towards a peer of `ctx` whose ADD-PATH send covers their family);
/// returns how many went into no UPDATE.
pub fn build_path_updates_counted(
    attrs: &PathAttributes,
    paths: &[PathNlri],
    ctx: &Ctx,
    out: &mut Vec<Update>,
) -> usize {
    let common = common_attributes(attrs, ctx);
    let Some(common_len) = encoded_len(&common, ctx) else {
        return paths.len();
    };
    let mut packed = 0;
    let limit = ctx.limit();
    let v4 = paths.iter().filter_map(|&(p, id)| match p {
        IpNet::V4(n) => Some((n, id)),
        IpNet::V6(_) => None,
    });
    let v6 = paths
        .iter()
        .filter(|(p, _)| matches!(p, IpNet::V6(_)))
        .copied();
    match attrs.next_hop {
        Some(IpAddr::V4(nh)) => {
            let mut template = common.clone();
            template.push(attr(WELL_KNOWN, AttrValue::NextHop(nh)));
            template.sort_by_key(attrs::type_of);
            let budget = limit.saturating_sub(UPDATE_FIXED + common_len + 7);
            packed += pack(v4, budget, v4_size, |run, _| {
                let (nlri, nlri_path_ids) = run.into_iter().unzip();
                out.push(Update {
                    nlri_path_ids,
                    withdrawn_path_ids: Vec::new(),
                    withdrawn: Vec::new(),
                    attributes: template.clone(),
                    nlri,
                });
            });
        }
        Some(IpAddr::V6(_)) => {
            let v4 = v4.map(|(n, id)| (IpNet::V4(n), id));
            let hops = mp_next_hops(attrs);
            packed += mp_updates(
                AddrFamily::IPV4_UNICAST,
                hops,
                v4,
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
            v6,
            &common,
            common_len,
            limit,
            out,
        );
    }
    paths.len() - packed
}

/// [`super::build_withdrawals`] for prefixes with Path Identifiers.
pub fn build_path_withdrawals(paths: &[PathNlri], ctx: &Ctx, out: &mut Vec<Update>) {
    let limit = ctx.limit();
    let v4 = paths.iter().filter_map(|&(p, id)| match p {
        IpNet::V4(n) => Some((n, id)),
        IpNet::V6(_) => None,
    });
    pack(v4, limit - UPDATE_FIXED, v4_size, |run, _| {
        let (withdrawn, withdrawn_path_ids) = run.into_iter().unzip();
        out.push(Update {
            withdrawn,
            withdrawn_path_ids,
            ..Update::default()
        });
    });
    let v6 = paths
        .iter()
        .filter(|(p, _)| matches!(p, IpNet::V6(_)))
        .copied();
    pack(
        v6,
        limit - UPDATE_FIXED - MP_HEADER - 3,
        ip_size,
        |run, used| {
            let (withdrawn, path_ids) = run.into_iter().unzip();
            let value = MpUnreach {
                path_ids,
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

/// MP_REACH_NLRI UPDATEs for `paths` of `family`; how many they carry.
fn mp_updates(
    family: AddrFamily,
    next_hops: Vec<IpAddr>,
    paths: impl Iterator<Item = PathNlri> + Clone,
    common: &[crate::model::Attribute],
    common_len: usize,
    limit: usize,
    out: &mut Vec<Update>,
) -> usize {
    let fixed = 5 + 16 * next_hops.len();
    let budget = limit.saturating_sub(UPDATE_FIXED + common_len + MP_HEADER + fixed);
    pack(paths, budget, ip_size, |run, used| {
        let (nlri, path_ids) = run.into_iter().unzip();
        let reach = MpReach {
            path_ids,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AddPath, AddPathFamilies, AsPath, Message, Origin};
    use crate::wire::{self, MAX_MESSAGE_LEN, routes};
    use bytes::BytesMut;

    fn ctx() -> Ctx {
        Ctx {
            four_octet_as: true,
            add_path: AddPath {
                receive: AddPathFamilies::UNICAST,
                send: AddPathFamilies::UNICAST,
            },
            ..Ctx::default()
        }
    }

    fn attrs(nh: &str) -> PathAttributes {
        PathAttributes {
            origin: Origin::Igp,
            as_path: AsPath::sequence(vec![65001]),
            next_hop: Some(nh.parse().expect("address")),
            ..PathAttributes::default()
        }
    }

    /// Encodes `updates` and decodes them back (the peer receives with
    /// ADD-PATH): every (prefix, id) announced and withdrawn, in order.
    fn round_trip(updates: &[Update]) -> (Vec<PathNlri>, Vec<PathNlri>) {
        let (mut ann, mut wd) = (Vec::new(), Vec::new());
        for u in updates {
            let mut buf = BytesMut::new();
            u.encode(&ctx(), &mut buf).expect("encodes");
            assert!(buf.len() <= MAX_MESSAGE_LEN, "{} octets", buf.len());
            let (m, issues) = wire::decode(&buf, &ctx()).expect("decodes");
            let Message::Update(u) = m else {
                panic!("not an UPDATE")
            };
            for r in routes(&u, &issues) {
                ann.extend(
                    r.announced
                        .iter()
                        .copied()
                        .zip(r.announced_path_ids.iter().copied()),
                );
                wd.extend(
                    r.withdrawn
                        .iter()
                        .copied()
                        .zip(r.withdrawn_path_ids.iter().copied()),
                );
            }
        }
        (ann, wd)
    }

    fn many(v6: bool, n: u32) -> Vec<PathNlri> {
        (0..n)
            .map(|i| {
                let p: IpNet = if v6 {
                    format!("2001:db8:{:x}::/48", i).parse().expect("prefix")
                } else {
                    format!("10.{}.{}.0/24", i / 256, i % 256)
                        .parse()
                        .expect("prefix")
                };
                (p, i % 3 + 1)
            })
            .collect()
    }

    #[test]
    fn ipv4_paths_with_ids_pack_under_4096_and_round_trip() {
        let paths = many(false, 2000);
        let mut out = Vec::new();
        assert_eq!(
            build_path_updates_counted(&attrs("192.0.2.1"), &paths, &ctx(), &mut out),
            0
        );
        assert!(
            out.len() >= 2,
            "2000 prefixes of 8 octets need several UPDATEs"
        );
        let (ann, wd) = round_trip(&out);
        assert_eq!(ann, paths);
        assert!(wd.is_empty());
        let mut out = Vec::new();
        build_path_withdrawals(&paths, &ctx(), &mut out);
        let (ann, wd) = round_trip(&out);
        assert!(ann.is_empty());
        assert_eq!(wd, paths);
    }

    #[test]
    fn ipv6_paths_with_ids_round_trip_in_mp_attributes() {
        let paths = many(true, 600);
        let mut out = Vec::new();
        assert_eq!(
            build_path_updates_counted(&attrs("2001:db8::1"), &paths, &ctx(), &mut out),
            0
        );
        let (ann, _) = round_trip(&out);
        assert_eq!(ann, paths);
        let mut out = Vec::new();
        build_path_withdrawals(&paths, &ctx(), &mut out);
        let (_, wd) = round_trip(&out);
        assert_eq!(wd, paths);
    }

    #[test]
    fn two_paths_of_one_prefix_go_in_one_update() {
        let p: IpNet = "10.50.0.0/24".parse().expect("prefix");
        let mut out = Vec::new();
        build_path_updates_counted(&attrs("192.0.2.1"), &[(p, 1), (p, 2)], &ctx(), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].nlri_path_ids, [1, 2]);
    }
}
