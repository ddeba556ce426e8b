//! MP_REACH_NLRI and MP_UNREACH_NLRI values (RFC 4760 §3, §4) for IPv4 and
//! IPv6 unicast, with RFC 8950 IPv6 next hops for IPv4 NLRI and ADD-PATH
//! Path Identifiers (RFC 7911 §3) where the session's [`Ctx`] has them for
//! the family and direction. Other
//! AFI/SAFIs stay raw attributes (an empty MP_UNREACH_NLRI of any family is
//! decoded, as it is that family's End-of-RIB marker).
//!
//! ```text
//! MP_REACH_NLRI                            MP_UNREACH_NLRI
//! +---------------------------------+      +------------------------------+
//! | AFI (2) | SAFI (1)              |      | AFI (2) | SAFI (1)           |
//! | Length of Next Hop (1)          |      | Withdrawn Routes (variable)  |
//! | Next Hop (variable)             |      +------------------------------+
//! | Reserved (1)                    |
//! | NLRI (variable)                 |
//! +---------------------------------+
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, BytesMut};
use ipnet::IpNet;

use crate::model::{
    AddrFamily, Afi, AttrFlags, AttrType, AttrValue, MpReach, MpUnreach, RawAttribute, Safi,
};

use super::Ctx;
use super::error::{DecodeError, EncodeError};
use super::nlri;
use super::parse::{OrFail, Parser, be_u8, be_u16};

/// Whether the codec interprets this family (IPv4 or IPv6 unicast).
fn interpreted(f: AddrFamily) -> bool {
    f == AddrFamily::IPV4_UNICAST || f == AddrFamily::IPV6_UNICAST
}

/// RFC 7606 §7.11: "If the Length of Next Hop Network Address field [...]
/// is inconsistent with [...] the AFI/SAFI [...] the "AFI/SAFI disable"
/// approach or the "session reset" approach MUST be used." We reset, with
/// RFC 4760 §7's "Optional Attribute Error" and the attribute as data.
fn malformed(type_code: AttrType, reason: &'static str, raw: &[u8]) -> DecodeError {
    DecodeError::OptionalAttributeError {
        type_code,
        reason,
        attribute: raw.to_vec(),
    }
}

fn family(i: &[u8]) -> Option<(&[u8], AddrFamily)> {
    let (i, (afi, safi)) = (be_u16, be_u8).parse_complete(i).ok()?;
    Some((
        i,
        AddrFamily {
            afi: Afi(afi),
            safi: Safi(safi),
        },
    ))
}

/// Decodes an MP_REACH_NLRI value; `raw` is the whole attribute (for the
/// NOTIFICATION data), `flags` its flags (kept if it stays raw).
pub(super) fn decode_reach(
    flags: AttrFlags,
    value: &[u8],
    raw: &[u8],
    ctx: &Ctx,
) -> Result<AttrValue, DecodeError> {
    let t = AttrType::MP_REACH_NLRI;
    let (i, family) = family(value).ok_or_else(|| malformed(t, "shorter than AFI/SAFI", raw))?;
    if !interpreted(family) {
        return Ok(AttrValue::Raw(RawAttribute {
            flags,
            type_code: t,
            value: value.to_vec(),
        }));
    }
    let (i, nh) = super::parse::u8_prefixed(i)
        .or_fail(|| malformed(t, "next hop overruns the attribute", raw))?;
    let (nlri_field, reserved) =
        be_u8(i).or_fail(|| malformed(t, "no reserved octet after the next hop", raw))?;
    let next_hops = match (family.afi, nh.len()) {
        (Afi::IPV4, 4) => vec![IpAddr::V4(v4(nh))],
        // RFC 8950: IPv6 next hop (global, optionally link-local) for
        // IPv4 NLRI; RFC 2545 §3 for IPv6.
        (_, 16) => vec![IpAddr::V6(v6(nh))],
        (_, 32) => vec![
            IpAddr::V6(v6(&nh[..16])),
            IpAddr::V6(v6(nh.get(16..).unwrap_or_default())),
        ],
        _ => return Err(malformed(t, "next hop length inconsistent with AFI", raw)),
    };
    // RFC 7606 §5.3 / §7.11: a syntactically incorrect NLRI field in
    // MP_REACH_NLRI resets the session (or disables the AFI/SAFI).
    let ids = ctx.add_path.receive.contains(family);
    let (nlri, path_ids) = nlri::decode_mp(nlri_field, family.afi == Afi::IPV6, ids)
        .map_err(|reason| malformed(t, reason, raw))?;
    Ok(AttrValue::MpReach(MpReach {
        family,
        next_hops,
        reserved,
        nlri,
        path_ids,
    }))
}

/// Decodes an MP_UNREACH_NLRI value.
pub(super) fn decode_unreach(
    flags: AttrFlags,
    value: &[u8],
    raw: &[u8],
    ctx: &Ctx,
) -> Result<AttrValue, DecodeError> {
    let t = AttrType::MP_UNREACH_NLRI;
    let (field, family) =
        family(value).ok_or_else(|| malformed(t, "shorter than AFI/SAFI", raw))?;
    if !interpreted(family) {
        if field.is_empty() {
            // End-of-RIB of another family (RFC 4724 §2).
            return Ok(AttrValue::MpUnreach(MpUnreach {
                family,
                withdrawn: Vec::new(),
                path_ids: Vec::new(),
            }));
        }
        return Ok(AttrValue::Raw(RawAttribute {
            flags,
            type_code: t,
            value: value.to_vec(),
        }));
    }
    // RFC 7606 §7.12: as for MP_REACH_NLRI, a syntactically incorrect
    // withdrawn routes field resets the session.
    let ids = ctx.add_path.receive.contains(family);
    let (withdrawn, path_ids) = nlri::decode_mp(field, family.afi == Afi::IPV6, ids)
        .map_err(|reason| malformed(t, reason, raw))?;
    Ok(AttrValue::MpUnreach(MpUnreach {
        family,
        withdrawn,
        path_ids,
    }))
}

fn v4(b: &[u8]) -> Ipv4Addr {
    let mut a = [0u8; 4];
    let n = b.len().min(4);
    a[..n].copy_from_slice(&b[..n]);
    Ipv4Addr::from(a)
}

fn v6(b: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    let n = b.len().min(16);
    a[..n].copy_from_slice(&b[..n]);
    Ipv6Addr::from(a)
}

/// Checks that every prefix matches the family's AFI (IPv4 for AFI 1, IPv6
/// for AFI 2).
fn check_prefixes(family: AddrFamily, nets: &[IpNet]) -> Result<(), EncodeError> {
    let ok = match family.afi {
        Afi::IPV4 => nets.iter().all(|n| matches!(n, IpNet::V4(_))),
        Afi::IPV6 => nets.iter().all(|n| matches!(n, IpNet::V6(_))),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(EncodeError::Invalid(
            "prefix family differs from the MP AFI",
        ))
    }
}

fn next_hop_len(r: &MpReach) -> usize {
    r.next_hops
        .iter()
        .map(|a| if a.is_ipv4() { 4 } else { 16 })
        .sum()
}

/// Encoded MP_REACH_NLRI value length.
pub(super) fn reach_len(r: &MpReach, ctx: &Ctx) -> Result<usize, EncodeError> {
    check_prefixes(r.family, &r.nlri)?;
    nlri::check_ids(
        r.nlri.len(),
        &r.path_ids,
        ctx.add_path.send.contains(r.family),
    )?;
    let nh = next_hop_len(r);
    if nh > 255 {
        return Err(EncodeError::FieldTooLong {
            field: "MP_REACH_NLRI next hop",
            len: nh,
            max: 255,
        });
    }
    Ok(5 + nh + nlri::ip_len(&r.nlri, &r.path_ids))
}

/// Writes an MP_REACH_NLRI value (after [`reach_len`] accepted it).
pub(super) fn put_reach(r: &MpReach, out: &mut BytesMut) {
    out.put_u16(r.family.afi.0);
    out.put_u8(r.family.safi.0);
    out.put_u8(next_hop_len(r) as u8); // checked <= 255 by reach_len
    for nh in &r.next_hops {
        match nh {
            IpAddr::V4(a) => out.put_slice(&a.octets()),
            IpAddr::V6(a) => out.put_slice(&a.octets()),
        }
    }
    out.put_u8(r.reserved);
    nlri::put_ip_all(&r.nlri, &r.path_ids, out);
}

/// Encoded MP_UNREACH_NLRI value length.
pub(super) fn unreach_len(u: &MpUnreach, ctx: &Ctx) -> Result<usize, EncodeError> {
    check_prefixes(u.family, &u.withdrawn)?;
    nlri::check_ids(
        u.withdrawn.len(),
        &u.path_ids,
        ctx.add_path.send.contains(u.family),
    )?;
    Ok(3 + nlri::ip_len(&u.withdrawn, &u.path_ids))
}

/// Writes an MP_UNREACH_NLRI value.
pub(super) fn put_unreach(u: &MpUnreach, out: &mut BytesMut) {
    out.put_u16(u.family.afi.0);
    out.put_u8(u.family.safi.0);
    nlri::put_ip_all(&u.withdrawn, &u.path_ids, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: AttrFlags = AttrFlags(0x90);

    /// IPv6 unicast, next hop 2001:db8::1 + fe80::1, NLRI 2001:db8:1::/48.
    static REACH_V6: [u8; 44] = [
        0, 2, 1, 32, 0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xfe, 0x80, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 48, 0x20, 1, 0xd, 0xb8, 0, 1,
    ];

    fn raw(value: &[u8]) -> Vec<u8> {
        let mut v = vec![0x90, 14, 0, value.len() as u8];
        v.extend_from_slice(value);
        v
    }

    #[test]
    fn reach_v6_round_trip() {
        let v = decode_reach(F, &REACH_V6, &raw(&REACH_V6), &Ctx::default()).unwrap();
        let AttrValue::MpReach(r) = &v else {
            panic!("{v:?}")
        };
        assert_eq!(r.family, AddrFamily::IPV6_UNICAST);
        assert_eq!(
            r.next_hops,
            vec![
                "2001:db8::1".parse::<IpAddr>().unwrap(),
                "fe80::1".parse().unwrap()
            ]
        );
        assert_eq!(r.nlri, vec!["2001:db8:1::/48".parse::<IpNet>().unwrap()]);
        assert_eq!(reach_len(r, &Ctx::default()), Ok(REACH_V6.len()));
        let mut out = BytesMut::new();
        put_reach(r, &mut out);
        assert_eq!(&out[..], &REACH_V6);
    }

    #[test]
    fn unreach_round_trip_and_other_family_eor() {
        let bytes = [0, 1, 1, 24, 10, 0, 0];
        let v = decode_unreach(F, &bytes, &bytes, &Ctx::default()).unwrap();
        let AttrValue::MpUnreach(u) = &v else {
            panic!("{v:?}")
        };
        assert_eq!(u.withdrawn, vec!["10.0.0.0/24".parse::<IpNet>().unwrap()]);
        let mut out = BytesMut::new();
        put_unreach(u, &mut out);
        assert_eq!(&out[..], &bytes);
        // L2VPN EVPN End-of-RIB: typed; with NLRI: raw.
        let v = decode_unreach(F, &[0, 25, 70], &[], &Ctx::default()).unwrap();
        assert!(matches!(v, AttrValue::MpUnreach(u) if u.withdrawn.is_empty()));
        let v = decode_unreach(F, &[0, 25, 70, 1], &[], &Ctx::default()).unwrap();
        assert!(matches!(v, AttrValue::Raw(_)));
    }

    #[test]
    fn malformed_reach_resets_with_3_9() {
        for value in [
            &[0u8, 2][..],                                    // no SAFI
            &[0, 2, 1, 4, 1, 2, 3, 4, 0],                     // 4-byte next hop for IPv6
            &[0, 2, 1, 16, 0, 0],                             // next hop overruns
            &[0, 1, 1, 4, 10, 0, 0, 1],                       // no reserved octet
            &[0, 1, 1, 4, 10, 0, 0, 1, 0, 33, 1, 2, 3, 4, 5], // /33
        ] {
            let e = decode_reach(F, value, &raw(value), &Ctx::default()).unwrap_err();
            let n = e.notification();
            assert_eq!((n.code, n.subcode), (3, 9), "{value:?}");
            assert_eq!(n.data, raw(value));
        }
        let e = decode_unreach(F, &[0, 2, 1, 129], &[], &Ctx::default()).unwrap_err();
        assert_eq!(e.notification().subcode, 9);
    }

    #[test]
    fn other_families_stay_raw() {
        let value = [0, 1, 128, 4, 1, 2, 3, 4, 0];
        let v = decode_reach(F, &value, &[], &Ctx::default()).unwrap();
        assert!(matches!(v, AttrValue::Raw(r) if r.value == value && r.flags == F));
    }

    #[test]
    fn encode_refuses_family_mismatch() {
        let r = MpReach {
            path_ids: Vec::new(),
            family: AddrFamily::IPV6_UNICAST,
            next_hops: vec!["2001:db8::1".parse().unwrap()],
            reserved: 0,
            nlri: vec!["10.0.0.0/8".parse().unwrap()],
        };
        assert!(reach_len(&r, &Ctx::default()).is_err());
    }

    fn add_path_ctx() -> Ctx {
        Ctx {
            add_path: crate::model::AddPath {
                receive: crate::model::AddPathFamilies::UNICAST,
                send: crate::model::AddPathFamilies::UNICAST,
            },
            ..Ctx::default()
        }
    }

    #[test]
    fn reach_and_unreach_with_path_ids() {
        // IPv6 unicast, next hop 2001:db8::1, two paths (ids 1, 2) for
        // 2001:db8:1::/48.
        let mut value = vec![0, 2, 1, 16, 0x20, 1, 0xd, 0xb8];
        value.extend_from_slice(&[0; 11]);
        value.extend_from_slice(&[1, 0]);
        for id in [1u8, 2] {
            value.extend_from_slice(&[0, 0, 0, id, 48, 0x20, 1, 0xd, 0xb8, 0, 1]);
        }
        let ctx = add_path_ctx();
        let v = decode_reach(F, &value, &raw(&value), &ctx).unwrap();
        let AttrValue::MpReach(r) = &v else {
            panic!("{v:?}")
        };
        assert_eq!(r.nlri.len(), 2);
        assert_eq!(r.nlri[0], r.nlri[1]);
        assert_eq!(r.path_ids, vec![1, 2]);
        assert_eq!(reach_len(r, &ctx), Ok(value.len()));
        let mut out = BytesMut::new();
        put_reach(r, &mut out);
        assert_eq!(out[..], value[..]);
        // Without ADD-PATH towards the peer, path ids cannot be sent.
        assert!(reach_len(r, &Ctx::default()).is_err());
        // Read without ADD-PATH, the path ids are prefix lengths: /0, then
        // a length octet of 0 and 1... which overrun or mismatch: 3/9, no
        // panic.
        assert!(decode_reach(F, &value, &raw(&value), &Ctx::default()).is_err());

        let unreach = [0, 1, 1, 0, 0, 0, 9, 24, 10, 0, 0];
        let v = decode_unreach(F, &unreach, &unreach, &ctx).unwrap();
        let AttrValue::MpUnreach(u) = &v else {
            panic!("{v:?}")
        };
        assert_eq!(u.withdrawn, vec!["10.0.0.0/24".parse::<IpNet>().unwrap()]);
        assert_eq!(u.path_ids, vec![9]);
        assert_eq!(unreach_len(u, &ctx), Ok(unreach.len()));
        let mut out = BytesMut::new();
        put_unreach(u, &mut out);
        assert_eq!(&out[..], &unreach);
        // A path id cut short resets the session with 3/9.
        let e = decode_unreach(F, &[0, 1, 1, 0, 0], &[], &ctx).unwrap_err();
        assert_eq!(e.notification().subcode, 9);
    }
}
