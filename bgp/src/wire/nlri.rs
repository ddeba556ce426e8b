//! Prefixes as they appear in the Withdrawn Routes and NLRI fields
//! (RFC 4271 §4.3) and in MP_REACH_NLRI / MP_UNREACH_NLRI (RFC 4760 §5):
//! a length octet in bits, then the fewest octets that hold it.
//!
//! ```text
//! +---------------------------+
//! |   Length (1 octet)        |
//! +---------------------------+
//! |   Prefix (variable)       |
//! +---------------------------+
//! ```
//!
//! Decoding allocates one vector per field, sized by a first pass over the
//! length octets, and nothing per prefix.

use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, BytesMut};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Octets needed for a prefix of `bits`.
fn octets(bits: u8) -> usize {
    usize::from(bits).div_ceil(8)
}

/// Encoded length of one prefix.
pub(super) fn prefix_len(net: &IpNet) -> usize {
    1 + octets(net.prefix_len())
}

/// Encoded length of IPv4 prefixes.
pub(super) fn v4_len(nets: &[Ipv4Net]) -> usize {
    nets.iter().map(|n| 1 + octets(n.prefix_len())).sum()
}

/// Encoded length of prefixes.
pub(super) fn ip_len(nets: &[IpNet]) -> usize {
    nets.iter().map(prefix_len).sum()
}

/// Counts the prefixes in a field whose prefix lengths are at most `max`,
/// checking that the last one ends exactly at the end of the field.
///
/// RFC 7606 §5.3: "The NLRI field or Withdrawn Routes field SHALL be
/// considered "syntactically incorrect" if either of the following are
/// true: The length of any of the included NLRI is greater than the longest
/// possible length [...]. The length of the field (as determined by the
/// length of the enclosing attribute or UPDATE) is not consistent with the
/// NLRI it contains, for example: the last NLRI overruns the end of the
/// field."
fn count(field: &[u8], max: u8) -> Result<usize, &'static str> {
    let mut n = 0;
    let mut at = 0;
    while let Some(&bits) = field.get(at) {
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

/// Walks a field already checked by [`count`], handing out (bits, octets).
fn walk<'a>(field: &'a [u8]) -> impl Iterator<Item = (u8, &'a [u8])> + 'a {
    let mut rest = field;
    std::iter::from_fn(move || {
        let (&bits, tail) = rest.split_first()?;
        let (bytes, tail) = tail.split_at_checked(octets(bits))?;
        rest = tail;
        Some((bits, bytes))
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

/// Decodes an IPv4 Withdrawn Routes or NLRI field.
pub(super) fn decode_v4(field: &[u8]) -> Result<Vec<Ipv4Net>, &'static str> {
    let n = count(field, 32)?;
    let mut out = Vec::with_capacity(n);
    for (bits, bytes) in walk(field) {
        out.push(v4(bits, bytes).ok_or("bad prefix")?);
    }
    Ok(out)
}

/// Decodes the prefixes of an MP_REACH_NLRI / MP_UNREACH_NLRI for IPv4
/// (`v6 == false`) or IPv6 unicast.
pub(super) fn decode_mp(field: &[u8], v6_family: bool) -> Result<Vec<IpNet>, &'static str> {
    let n = count(field, if v6_family { 128 } else { 32 })?;
    let mut out = Vec::with_capacity(n);
    for (bits, bytes) in walk(field) {
        let net = if v6_family {
            v6(bits, bytes).map(IpNet::V6)
        } else {
            v4(bits, bytes).map(IpNet::V4)
        };
        out.push(net.ok_or("bad prefix")?);
    }
    Ok(out)
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

    /// "192.0.2.0/24" as BIRD announced it in the golden captures.
    static V4_FIELD: [u8; 4] = [24, 192, 0, 2];

    #[test]
    fn v4_decode_and_encode() {
        let nets = decode_v4(&V4_FIELD).unwrap();
        assert_eq!(nets, vec!["192.0.2.0/24".parse::<Ipv4Net>().unwrap()]);
        let mut out = BytesMut::new();
        put_v4(&nets[0], &mut out);
        assert_eq!(&out[..], &V4_FIELD);
        assert_eq!(v4_len(&nets), 4);
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
}
