//! The ECMP flow hash: addresses, protocol and (for unfragmented TCP/UDP)
//! ports, mixed so that every next hop of a group gets an even share: a
//! 5-tuple for TCP and UDP, a 3-tuple (addresses, protocol) otherwise.
//!
//! The hash has no seed and no per-thread state, so every worker (and every
//! run of the daemon, and `vcpectl explain`) maps a flow to the same value;
//! [`of_flow`] is the same function for a flow given by its fields.

use std::net::IpAddr;

use crate::wire::proto;

/// Murmur3's 32-bit finaliser: full avalanche in five cheap operations.
#[inline(always)]
fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// The 32-bit ports word of a TCP/UDP header at `l4`, or 0.
#[inline(always)]
pub(crate) fn ports(protocol: u8, l4: &[u8]) -> u32 {
    if protocol == proto::TCP || protocol == proto::UDP {
        crate::wire::be32(l4, 0)
    } else {
        0
    }
}

/// Flow hash from already-folded address words, protocol and ports.
#[inline(always)]
pub(crate) fn hash(src: u32, dst: u32, protocol: u8, ports: u32) -> u32 {
    let mut h = src.wrapping_mul(0x9e37_79b1);
    h = (h ^ dst).rotate_left(13).wrapping_mul(0x85eb_ca77);
    h = (h ^ ports).rotate_left(11).wrapping_mul(0xc2b2_ae3d);
    fmix32(h ^ u32::from(protocol))
}

/// Folds an IPv6 address to 32 bits for [`hash`].
#[inline(always)]
pub(crate) fn fold_v6(o: [u8; 16]) -> u32 {
    let w = u128::from_be_bytes(o);
    let x = ((w >> 64) as u64) ^ (w as u64).rotate_left(29);
    (x as u32) ^ ((x >> 32) as u32).rotate_left(7)
}

/// The flow hash of a whole IPv4/IPv6 packet (0 if it has no IP header):
/// addresses, protocol, and ports when the L4 header follows the fixed IP
/// header (IPv4 without options needn't be: the IHL is honoured; IPv6
/// extension headers count as no ports).
pub fn of_packet(pkt: &[u8]) -> u32 {
    match pkt.first().map(|b| b >> 4) {
        Some(4) if pkt.len() >= 20 => {
            let ihl = usize::from(pkt[0] & 0x0f) * 4;
            let fragment = crate::wire::be16(pkt, 6) & 0x3fff != 0;
            let p = if fragment {
                0
            } else {
                ports(pkt[9], pkt.get(ihl..).unwrap_or(&[]))
            };
            hash(
                crate::wire::be32(pkt, 12),
                crate::wire::be32(pkt, 16),
                pkt[9],
                p,
            )
        }
        Some(6) if pkt.len() >= 40 => {
            let mut s = [0u8; 16];
            let mut d = [0u8; 16];
            s.copy_from_slice(&pkt[8..24]);
            d.copy_from_slice(&pkt[24..40]);
            hash(fold_v6(s), fold_v6(d), pkt[6], ports(pkt[6], &pkt[40..]))
        }
        _ => 0,
    }
}

/// The flow hash the dataplane computes for a packet of this flow: `sport`
/// and `dport` count only for TCP and UDP (give 0 for other protocols).
pub fn of_flow(src: IpAddr, dst: IpAddr, protocol: u8, sport: u16, dport: u16) -> u32 {
    let p = if protocol == proto::TCP || protocol == proto::UDP {
        (u32::from(sport) << 16) | u32::from(dport)
    } else {
        0
    };
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => hash(s.to_bits(), d.to_bits(), protocol, p),
        (s, d) => hash(fold_v6(v6_octets(s)), fold_v6(v6_octets(d)), protocol, p),
    }
}

fn v6_octets(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        IpAddr::V6(a) => a.octets(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_change_the_hash() {
        let a = hash(1, 2, proto::TCP, 0x1234_0050);
        assert_eq!(a, hash(1, 2, proto::TCP, 0x1234_0050));
        assert_ne!(a, hash(1, 2, proto::TCP, 0x1235_0050));
        assert_ne!(a, hash(2, 1, proto::TCP, 0x1234_0050));
        assert_eq!(ports(proto::ICMP, &[1, 2, 3, 4]), 0);
        assert_eq!(ports(proto::UDP, &[1, 2]), 0);
        assert_ne!(fold_v6([1; 16]), fold_v6([2; 16]));
    }

    #[test]
    fn of_flow_matches_the_packet_hash() {
        // IPv4 UDP 10.0.0.1:4000 -> 10.9.0.1:5000, no options.
        let mut v4 = [0u8; 28];
        v4[0] = 0x45;
        v4[9] = proto::UDP;
        v4[12..16].copy_from_slice(&[10, 0, 0, 1]);
        v4[16..20].copy_from_slice(&[10, 9, 0, 1]);
        v4[20..22].copy_from_slice(&4000u16.to_be_bytes());
        v4[22..24].copy_from_slice(&5000u16.to_be_bytes());
        let (s, d) = ("10.0.0.1".parse().unwrap(), "10.9.0.1".parse().unwrap());
        assert_eq!(of_packet(&v4), of_flow(s, d, proto::UDP, 4000, 5000));
        // ICMP: a 3-tuple, the ports given are ignored.
        v4[9] = proto::ICMP;
        assert_eq!(of_packet(&v4), of_flow(s, d, proto::ICMP, 1, 2));
        // IPv6 TCP.
        let mut v6 = [0u8; 48];
        v6[0] = 0x60;
        v6[6] = proto::TCP;
        v6[8..24].copy_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        v6[24..40].copy_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        v6[40..42].copy_from_slice(&443u16.to_be_bytes());
        v6[42..44].copy_from_slice(&80u16.to_be_bytes());
        let (s, d) = (
            "2001:db8::1".parse().unwrap(),
            "2001:db8:9::1".parse().unwrap(),
        );
        assert_eq!(of_packet(&v6), of_flow(s, d, proto::TCP, 443, 80));
    }

    /// The hash is a fixed function (no seed, no per-thread or per-run
    /// state): pinned to golden values, so every worker, every run and
    /// `vcpectl explain` agree, and a seed sneaking in fails here.
    #[test]
    fn the_hash_is_seedless() {
        let (s, d) = ("10.0.0.1".parse().unwrap(), "10.9.0.1".parse().unwrap());
        let h = of_flow(s, d, proto::UDP, 4000, 5000);
        let again = std::thread::spawn(move || of_flow(s, d, proto::UDP, 4000, 5000));
        assert_eq!(again.join().unwrap(), h);
        assert_eq!(h, 595_765_170);
    }
}
