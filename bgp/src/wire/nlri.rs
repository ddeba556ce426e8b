//! Prefixes as they appear in the Withdrawn Routes and NLRI fields
//! (RFC 4271 §4.3) and in MP_REACH_NLRI / MP_UNREACH_NLRI (RFC 4760 §5):
//! a length octet in bits, then the fewest octets that hold it; where
//! ADD-PATH is negotiated for the family in that direction (RFC 7911 §3),
//! a 4-octet Path Identifier before each.
//!
//! ```text
//! +---------------------------+    +--------------------------------+
//! |   Length (1 octet)        |    | Path Identifier (4 octets)     |
//! +---------------------------+    +--------------------------------+
//! |   Prefix (variable)       |    | Length (1 octet)               |
//! +---------------------------+    +--------------------------------+
//!                                  | Prefix (variable)              |
//!                                  +--------------------------------+
//! ```
//!
//! Decoding allocates one vector per field, sized by a first pass over the
//! length octets, and nothing per prefix.

use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, BytesMut};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::error::EncodeError;

/// Octets needed for a prefix of `bits`.
fn octets(bits: u8) -> usize {
    usize::from(bits).div_ceil(8)
}

/// Encoded length of one prefix (without a Path Identifier).
pub(super) fn prefix_len(net: &IpNet) -> usize {
    1 + octets(net.prefix_len())
}

/// Encoded length of IPv4 prefixes and their Path Identifiers.
pub(super) fn v4_len(nets: &[Ipv4Net], ids: &[u32]) -> usize {
    nets.iter()
        .map(|n| 1 + octets(n.prefix_len()))
        .sum::<usize>()
        + 4 * ids.len()
}

/// Encoded length of prefixes and their Path Identifiers.
pub(super) fn ip_len(nets: &[IpNet], ids: &[u32]) -> usize {
    nets.iter().map(prefix_len).sum::<usize>() + 4 * ids.len()
}

/// Checks the Path Identifiers of a field about to be encoded: one per
/// prefix when ADD-PATH is negotiated for it (`with_ids`), none otherwise.
pub(super) fn check_ids(nets: usize, ids: &[u32], with_ids: bool) -> Result<(), EncodeError> {
    match (with_ids, ids.len()) {
        (true, n) if n == nets => Ok(()),
        (false, 0) => Ok(()),
        (true, _) => Err(EncodeError::Invalid(
            "ADD-PATH is negotiated: one path identifier per prefix",
        )),
        (false, _) => Err(EncodeError::Invalid(
            "path identifiers without ADD-PATH negotiated for the family",
        )),
    }
}

/// Counts the prefixes in a field whose prefix lengths are at most `max`,
/// checking that the last one ends exactly at the end of the field. With
/// `ids`, each prefix follows a 4-octet Path Identifier.
///
/// RFC 7606 §5.3: "The NLRI field or Withdrawn Routes field SHALL be
/// considered "syntactically incorrect" if either of the following are
/// true: The length of any of the included NLRI is greater than the longest
/// possible length [...]. The length of the field (as determined by the
/// length of the enclosing attribute or UPDATE) is not consistent with the
/// NLRI it contains, for example: the last NLRI overruns the end of the
/// field."
///
/// RFC 7911 §3 changes only the encoding; a Path Identifier cut short is
/// the same overrun.
fn count(field: &[u8], max: u8, ids: bool) -> Result<usize, &'static str> {
    let skip = if ids { 4 } else { 0 };
    let mut n = 0;
    let mut at = 0;
    while at < field.len() {
        let Some(&bits) = field.get(at + skip) else {
            return Err("the last prefix overruns the field");
        };
        at += skip;
        if bits > max {
            return Err(if max == 32 {
                "prefix length above 32"
            } else {
                "prefix length above 128"
            });
        }
        at += 1 + octets(bits);
        n += 1;
    }
    if at == field.len() {
        Ok(n)
    } else {
        Err("the last prefix overruns the field")
    }
}

/// Walks a field already checked by [`count`], handing out (path id,
/// bits, octets); the path id is 0 without `ids`.
fn walk<'a>(field: &'a [u8], ids: bool) -> impl Iterator<Item = (u32, u8, &'a [u8])> + 'a {
    let mut rest = field;
    std::iter::from_fn(move || {
        let mut id = 0;
        if ids {
            let (head, tail) = rest.split_first_chunk::<4>()?;
            id = u32::from_be_bytes(*head);
            rest = tail;
        }
        let (&bits, tail) = rest.split_first()?;
        let (bytes, tail) = tail.split_at_checked(octets(bits))?;
        rest = tail;
        Some((id, bits, bytes))
    })
}

/// One IPv4 prefix; trailing bits are masked off (RFC 4271 §4.3: "Note
/// that the value of trailing bits is irrelevant").
fn v4(bits: u8, bytes: &[u8]) -> Option<Ipv4Net> {
    let raw = match *bytes {
        [] => 0,
        [a] => u32::from(a) << 24,
        [a, b] => u32::from(u16::from_be_bytes([a, b])) << 16,
        [a, b, c] => u32::from_be_bytes([a, b, c, 0]),
        [a, b, c, d] => u32::from_be_bytes([a, b, c, d]),
        _ => return None,
    };
    let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
    Ipv4Net::new(Ipv4Addr::from(raw & mask), bits).ok()
}

/// One IPv6 prefix, trailing bits masked off.
fn v6(bits: u8, bytes: &[u8]) -> Option<Ipv6Net> {
    let mut a = [0u8; 16];
    a.get_mut(..bytes.len())?.copy_from_slice(bytes);
    let raw = u128::from_be_bytes(a);
    let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
    Ipv6Net::new(Ipv6Addr::from(raw & mask), bits).ok()
}

/// Prefixes of one field and, with ADD-PATH, their Path Identifiers (one
/// per prefix; empty without ADD-PATH).
pub(super) type Decoded<N> = (Vec<N>, Vec<u32>);

/// Decodes an IPv4 Withdrawn Routes or NLRI field; `ids`: ADD-PATH is
/// negotiated for IPv4 unicast towards us.
pub(super) fn decode_v4(field: &[u8], ids: bool) -> Result<Decoded<Ipv4Net>, &'static str> {
    let n = count(field, 32, ids)?;
    let mut out = Vec::with_capacity(n);
    let mut path_ids = Vec::with_capacity(if ids { n } else { 0 });
    for (id, bits, bytes) in walk(field, ids) {
        out.push(v4(bits, bytes).ok_or("bad prefix")?);
        if ids {
            path_ids.push(id);
        }
    }
    Ok((out, path_ids))
}

/// Decodes the prefixes of an MP_REACH_NLRI / MP_UNREACH_NLRI for IPv4
/// (`v6 == false`) or IPv6 unicast, with Path Identifiers if `ids`.
pub(super) fn decode_mp(
    field: &[u8],
    v6_family: bool,
    ids: bool,
) -> Result<Decoded<IpNet>, &'static str> {
    let n = count(field, if v6_family { 128 } else { 32 }, ids)?;
    let mut out = Vec::with_capacity(n);
    let mut path_ids = Vec::with_capacity(if ids { n } else { 0 });
    for (id, bits, bytes) in walk(field, ids) {
        let net = if v6_family {
            v6(bits, bytes).map(IpNet::V6)
        } else {
            v4(bits, bytes).map(IpNet::V4)
        };
        out.push(net.ok_or("bad prefix")?);
        if ids {
            path_ids.push(id);
        }
    }
    Ok((out, path_ids))
}

/// Writes IPv4 prefixes, each after its Path Identifier if `ids` is not
/// empty (checked by [`check_ids`]).
pub(super) fn put_v4_all(nets: &[Ipv4Net], ids: &[u32], out: &mut BytesMut) {
    for (i, n) in nets.iter().enumerate() {
        if let Some(id) = ids.get(i) {
            out.put_u32(*id);
        }
        put_v4(n, out);
    }
}

/// Writes prefixes of either family, each after its Path Identifier if
/// `ids` is not empty (checked by [`check_ids`]).
pub(super) fn put_ip_all(nets: &[IpNet], ids: &[u32], out: &mut BytesMut) {
    for (i, n) in nets.iter().enumerate() {
        if let Some(id) = ids.get(i) {
            out.put_u32(*id);
        }
        put_ip(n, out);
    }
}

/// Writes one IPv4 prefix (host bits cleared).
pub(super) fn put_v4(net: &Ipv4Net, out: &mut BytesMut) {
    let bits = net.prefix_len();
    out.put_u8(bits);
    let octs = net.network().octets();
    out.put_slice(octs.get(..octets(bits)).unwrap_or(&octs));
}

/// Writes one IPv6 prefix (host bits cleared).
pub(super) fn put_v6(net: &Ipv6Net, out: &mut BytesMut) {
    let bits = net.prefix_len();
    out.put_u8(bits);
    let octs = net.network().octets();
    out.put_slice(octs.get(..octets(bits)).unwrap_or(&octs));
}

/// Writes one prefix of either family.
pub(super) fn put_ip(net: &IpNet, out: &mut BytesMut) {
    match net {
        IpNet::V4(n) => put_v4(n, out),
        IpNet::V6(n) => put_v6(n, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_v4(field: &[u8]) -> Result<Vec<Ipv4Net>, &'static str> {
        super::decode_v4(field, false).map(|(n, _)| n)
    }

    fn decode_mp(field: &[u8], v6: bool) -> Result<Vec<IpNet>, &'static str> {
        super::decode_mp(field, v6, false).map(|(n, _)| n)
    }

    /// "192.0.2.0/24" as BIRD announced it in the golden captures.
    static V4_FIELD: [u8; 4] = [24, 192, 0, 2];

    #[test]
    fn v4_decode_and_encode() {
        let nets = decode_v4(&V4_FIELD).unwrap();
        assert_eq!(nets, vec!["192.0.2.0/24".parse::<Ipv4Net>().unwrap()]);
        let mut out = BytesMut::new();
        put_v4(&nets[0], &mut out);
        assert_eq!(&out[..], &V4_FIELD);
        assert_eq!(v4_len(&nets, &[]), 4);
    }

    #[test]
    fn edge_lengths() {
        let nets = decode_v4(&[0, 32, 10, 0, 0, 1, 1, 0x80]).unwrap();
        let want: Vec<Ipv4Net> = ["0.0.0.0/0", "10.0.0.1/32", "128.0.0.0/1"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(nets, want);
        let nets = decode_mp(
            &[128, 0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            true,
        )
        .unwrap();
        assert_eq!(nets, vec!["2001:db8::1/128".parse::<IpNet>().unwrap()]);
        let mut out = BytesMut::new();
        put_ip(&nets[0], &mut out);
        assert_eq!(out.len(), 17);
        assert_eq!(prefix_len(&nets[0]), 17);
    }

    #[test]
    fn trailing_bits_are_masked() {
        let nets = decode_v4(&[23, 192, 0, 3]).unwrap();
        assert_eq!(nets[0].to_string(), "192.0.2.0/23");
        let nets = decode_mp(&[33, 0x20, 1, 0xd, 0xb8, 0xff], true).unwrap();
        assert_eq!(nets[0].to_string(), "2001:db8:8000::/33");
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(
            decode_v4(&[33, 1, 2, 3, 4, 5]),
            Err("prefix length above 32")
        );
        assert_eq!(
            decode_v4(&[24, 1, 2]),
            Err("the last prefix overruns the field")
        );
        assert_eq!(decode_mp(&[129; 18], true), Err("prefix length above 128"));
        assert_eq!(
            decode_mp(&[33, 1, 2, 3, 4, 5], false),
            Err("prefix length above 32")
        );
        assert_eq!(decode_v4(&[]), Ok(vec![]));
    }

    /// RFC 7911 §3: two paths for 192.0.2.0/24 (ids 1 and 2), then
    /// 10.0.0.0/8 with id 0x01020304.
    static V4_PATHS: [u8; 22] = [
        0, 0, 0, 1, 24, 192, 0, 2, 0, 0, 0, 2, 24, 192, 0, 2, 1, 2, 3, 4, 8, 10,
    ];

    #[test]
    fn path_ids_round_trip() {
        let (nets, ids) = super::decode_v4(&V4_PATHS, true).unwrap();
        let net: Ipv4Net = "192.0.2.0/24".parse().unwrap();
        assert_eq!(nets, vec![net, net, "10.0.0.0/8".parse().unwrap()]);
        assert_eq!(ids, vec![1, 2, 0x0102_0304]);
        assert_eq!(v4_len(&nets, &ids), V4_PATHS.len());
        assert!(check_ids(nets.len(), &ids, true).is_ok());
        let mut out = BytesMut::new();
        put_v4_all(&nets, &ids, &mut out);
        assert_eq!(&out[..], &V4_PATHS);
        // IPv6 in MP_REACH: id 7, 2001:db8::/32.
        let field = [0, 0, 0, 7, 32, 0x20, 1, 0xd, 0xb8];
        let (nets, ids) = super::decode_mp(&field, true, true).unwrap();
        assert_eq!(nets, vec!["2001:db8::/32".parse::<IpNet>().unwrap()]);
        assert_eq!(ids, vec![7]);
        let mut out = BytesMut::new();
        put_ip_all(&nets, &ids, &mut out);
        assert_eq!(&out[..], &field);
        assert_eq!(ip_len(&nets, &ids), field.len());
    }

    #[test]
    fn path_id_syntax_errors() {
        // A Path Identifier cut short, or with no length octet after it.
        for field in [&[0u8, 0, 1][..], &[0, 0, 0, 1], &[0, 0, 0, 1, 24, 192, 0]] {
            assert_eq!(
                super::decode_v4(field, true),
                Err("the last prefix overruns the field"),
                "{field:?}"
            );
        }
        assert_eq!(
            super::decode_mp(&[0, 0, 0, 1, 129], true, true),
            Err("prefix length above 128")
        );
        // Read without ADD-PATH, the same bytes are other prefixes or an
        // error, never a panic; read with it, a plain field is an error.
        assert!(super::decode_v4(&V4_FIELD, true).is_err());
        assert_eq!(super::decode_v4(&[], true), Ok((vec![], vec![])));
    }

    #[test]
    fn path_ids_must_match_the_negotiation() {
        assert!(check_ids(2, &[1, 2], true).is_ok());
        assert!(check_ids(2, &[], false).is_ok());
        assert!(check_ids(2, &[1], true).is_err());
        assert!(check_ids(1, &[1], false).is_err());
        assert!(check_ids(0, &[], true).is_ok());
    }
}
