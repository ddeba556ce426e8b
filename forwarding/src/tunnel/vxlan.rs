//! VXLAN (RFC 7348) as Linux's `vxlan` device speaks it: an 8-byte header
//! with the VNI, then an inner Ethernet frame, over UDP (port 4789 by
//! default). vcped is a router at the end of a point-to-point segment, so
//! the Ethernet part is small: our own locally administered MAC, the
//! peer's MAC learned from the frames it sends (broadcast until then),
//! and answers to ARP requests and IPv6 neighbour solicitations so that a
//! kernel VTEP can resolve us. Sans-IO: codecs and frame builders only;
//! [`super::peer`] keeps the learned MAC.
//!
//! ```text
//!  0               1               2               3
//! +-+-+-+-+-+-+-+-+---------------------------------------------+
//! |R|R|R|R|I|R|R|R|            Reserved                         |
//! +-+-+-+-+-+-+-+-+-----------------------------+---------------+
//! |          VXLAN Network Identifier (VNI)     |   Reserved    |
//! +---------------------------------------------+---------------+
//! | inner Ethernet: destination MAC, source MAC, EtherType, payload
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::wire::{checksum, proto};

/// VXLAN header length.
pub const HEADER_LEN: usize = 8;
/// Inner Ethernet header length (no 802.1Q tag).
pub const ETH_LEN: usize = 14;
/// Bytes VXLAN adds in front of an inner IP packet, outer UDP/IP excluded.
pub const ENCAP_LEN: usize = HEADER_LEN + ETH_LEN;
/// Bytes a VXLAN tunnel adds on an IPv4 underlay (20 IP + 8 UDP + 22):
/// the kernel's `vxlan` device MTU of 1450 on a 1500 underlay.
pub const OVERHEAD_V4: usize = 20 + 8 + ENCAP_LEN;
/// As [`OVERHEAD_V4`] on an IPv6 underlay.
pub const OVERHEAD_V6: usize = 40 + 8 + ENCAP_LEN;
/// The broadcast MAC, the destination until the peer's MAC is known.
pub const BROADCAST: [u8; 6] = [0xff; 6];

/// The "VNI is valid" flag.
const FLAG_I: u8 = 0x08;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_ARP: u16 = 0x0806;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ARP_LEN: usize = 28;
const ICMPV6_NS: u8 = 135;
const ICMPV6_NA: u8 = 136;

/// Why a datagram is not a VXLAN frame we take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VxlanError {
    /// Shorter than the VXLAN and Ethernet headers.
    #[error("truncated VXLAN frame")]
    Truncated,
    /// The I flag is not set.
    #[error("VXLAN header without the I flag")]
    NoVni,
    /// Another VNI than the peer's.
    #[error("VNI {0} is not this peer's")]
    WrongVni(u32),
}

/// What a received frame holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// An IPv4 or IPv6 packet at `start..` of the datagram.
    Ip {
        /// Offset of the IP packet in the datagram.
        start: usize,
    },
    /// An ARP or IPv6 neighbour message (or anything else): not forwarded;
    /// [`answer`] says whether it needs a reply.
    Control,
}

/// A decoded frame: what it holds and the sender's MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// The inner frame's source MAC (the peer's, to learn).
    pub src_mac: [u8; 6],
    /// Its content.
    pub frame: Frame,
}

/// Writes the VXLAN header for `vni` and an Ethernet header into `out`.
pub fn encode_headers(vni: u32, dst: [u8; 6], src: [u8; 6], ip_version: u8, out: &mut Vec<u8>) {
    let v = vni.to_be_bytes();
    out.extend_from_slice(&[FLAG_I, 0, 0, 0, v[1], v[2], v[3], 0]);
    out.extend_from_slice(&dst);
    out.extend_from_slice(&src);
    let ethertype = if ip_version == 6 {
        ETHERTYPE_IPV6
    } else {
        ETHERTYPE_IPV4
    };
    out.extend_from_slice(&ethertype.to_be_bytes());
}

/// Decodes a datagram for a peer with `vni`; never panics.
pub fn decode(datagram: &[u8], vni: u32) -> Result<Decoded, VxlanError> {
    if datagram.len() < ENCAP_LEN {
        return Err(VxlanError::Truncated);
    }
    if datagram[0] & FLAG_I == 0 {
        return Err(VxlanError::NoVni);
    }
    let got = u32::from_be_bytes([0, datagram[4], datagram[5], datagram[6]]);
    if got != vni {
        return Err(VxlanError::WrongVni(got));
    }
    let mut src_mac = [0u8; 6];
    src_mac.copy_from_slice(&datagram[HEADER_LEN + 6..HEADER_LEN + 12]);
    let ethertype = u16::from_be_bytes([datagram[HEADER_LEN + 12], datagram[HEADER_LEN + 13]]);
    let frame = match ethertype {
        ETHERTYPE_IPV4 | ETHERTYPE_IPV6 if !is_neighbour_solicitation(&datagram[ENCAP_LEN..]) => {
            Frame::Ip { start: ENCAP_LEN }
        }
        _ => Frame::Control,
    };
    Ok(Decoded { src_mac, frame })
}

/// A locally administered unicast MAC derived from `seed` (FNV-1a), so that
/// both ends of a tunnel, seeded differently, differ.
pub fn mac_from(seed: &[u8]) -> [u8; 6] {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    let b = h.to_be_bytes();
    [0x02, b[1], b[2], b[3], b[4], b[5]]
}

/// The MAC as the low 48 bits of a u64 (for an atomic) and back.
pub fn mac_to_u64(mac: [u8; 6]) -> u64 {
    let mut b = [0u8; 8];
    b[2..].copy_from_slice(&mac);
    u64::from_be_bytes(b)
}

/// See [`mac_to_u64`].
pub fn mac_from_u64(v: u64) -> [u8; 6] {
    let b = v.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

/// The reply, as a whole VXLAN payload, to a control frame (`datagram`,
/// VXLAN header included) that needs one: an ARP request gets our MAC as
/// the answer, an IPv6 neighbour solicitation a solicited advertisement
/// with our MAC. We answer for any address: on a point-to-point segment
/// whatever the peer resolves is reached through us.
pub fn answer(datagram: &[u8], vni: u32, our_mac: [u8; 6]) -> Option<Vec<u8>> {
    let eth = datagram.get(HEADER_LEN..)?;
    let peer_mac: [u8; 6] = eth.get(6..12)?.try_into().ok()?;
    let ethertype = u16::from_be_bytes([*eth.get(12)?, *eth.get(13)?]);
    let body = &eth[ETH_LEN..];
    let mut out = Vec::with_capacity(ENCAP_LEN + 86);
    match ethertype {
        ETHERTYPE_ARP => {
            let arp = body.get(..ARP_LEN)?;
            // Ethernet/IPv4, request.
            if arp[..8] != [0, 1, 8, 0, 6, 4, 0, 1] {
                return None;
            }
            let v = vni.to_be_bytes();
            out.extend_from_slice(&[FLAG_I, 0, 0, 0, v[1], v[2], v[3], 0]);
            out.extend_from_slice(&peer_mac);
            out.extend_from_slice(&our_mac);
            out.extend_from_slice(&ETHERTYPE_ARP.to_be_bytes());
            out.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 2]);
            out.extend_from_slice(&our_mac);
            out.extend_from_slice(&arp[24..28]); // we are the target IP
            out.extend_from_slice(&arp[8..14]); // to the sender's MAC
            out.extend_from_slice(&arp[14..18]); // and IP
            Some(out)
        }
        ETHERTYPE_IPV6 if is_neighbour_solicitation(body) => {
            let src: [u8; 16] = body[8..24].try_into().ok()?;
            let target: [u8; 16] = body.get(48..64)?.try_into().ok()?;
            let unspecified = src == [0; 16];
            // Reply to the solicitor, or to all nodes for DAD probes.
            let dst = if unspecified {
                Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1).octets()
            } else {
                src
            };
            let mut icmp = [0u8; 32];
            icmp[0] = ICMPV6_NA;
            // Router, Solicited (unless DAD), Override.
            icmp[4] = if unspecified { 0xa0 } else { 0xe0 };
            icmp[8..24].copy_from_slice(&target);
            icmp[24] = 2; // target link-layer address option
            icmp[25] = 1;
            icmp[26..32].copy_from_slice(&our_mac);
            let pseudo = checksum::pseudo_header_v6(
                Ipv6Addr::from(target),
                Ipv6Addr::from(dst),
                proto::ICMPV6,
                32,
            );
            let c = !checksum::combine(pseudo, checksum::sum(&icmp));
            icmp[2..4].copy_from_slice(&c.to_be_bytes());
            let v = vni.to_be_bytes();
            out.extend_from_slice(&[FLAG_I, 0, 0, 0, v[1], v[2], v[3], 0]);
            out.extend_from_slice(&peer_mac);
            out.extend_from_slice(&our_mac);
            out.extend_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
            out.extend_from_slice(&[0x60, 0, 0, 0, 0, 32, proto::ICMPV6, 255]);
            out.extend_from_slice(&target);
            out.extend_from_slice(&dst);
            out.extend_from_slice(&icmp);
            Some(out)
        }
        _ => None,
    }
}

/// An ARP request, as a whole VXLAN payload, asking who has `target` (sent
/// while the peer's MAC is unknown; its reply teaches it).
pub fn arp_request(vni: u32, our_mac: [u8; 6], sender: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let mut out = Vec::with_capacity(ENCAP_LEN + ARP_LEN);
    let v = vni.to_be_bytes();
    out.extend_from_slice(&[FLAG_I, 0, 0, 0, v[1], v[2], v[3], 0]);
    out.extend_from_slice(&BROADCAST);
    out.extend_from_slice(&our_mac);
    out.extend_from_slice(&ETHERTYPE_ARP.to_be_bytes());
    out.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    out.extend_from_slice(&our_mac);
    out.extend_from_slice(&sender.octets());
    out.extend_from_slice(&[0; 6]);
    out.extend_from_slice(&target.octets());
    out
}

/// Whether an IPv6 packet is a neighbour solicitation (ICMPv6 type 135,
/// directly after the fixed header, hop limit 255).
fn is_neighbour_solicitation(ip: &[u8]) -> bool {
    ip.len() >= 64
        && ip[0] >> 4 == 6
        && ip[6] == proto::ICMPV6
        && ip[7] == 255
        && ip[40] == ICMPV6_NS
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const OURS: [u8; 6] = [0x02, 1, 2, 3, 4, 5];
    const THEIRS: [u8; 6] = [0x0a, 9, 8, 7, 6, 5];

    /// A frame as Linux's vxlan device sends it: VNI 42, IPv4 ping.
    fn kernel_frame() -> Vec<u8> {
        let mut f = vec![0x08, 0, 0, 0, 0, 0, 42, 0];
        f.extend_from_slice(&OURS);
        f.extend_from_slice(&THEIRS);
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&[0x45, 0, 0, 20, 0, 0, 0x40, 0, 64, 1, 0, 0]);
        f.extend_from_slice(&[10, 255, 0, 2, 10, 255, 0, 1]);
        f
    }

    #[test]
    fn decodes_a_kernel_frame_and_round_trips_the_headers() {
        let f = kernel_frame();
        let d = decode(&f, 42).expect("decodes");
        assert_eq!(d.src_mac, THEIRS);
        assert_eq!(d.frame, Frame::Ip { start: ENCAP_LEN });
        let mut out = Vec::new();
        encode_headers(42, OURS, THEIRS, 4, &mut out);
        assert_eq!(&out[..], &f[..ENCAP_LEN]);
        assert_eq!(decode(&f, 43), Err(VxlanError::WrongVni(42)));
        assert_eq!(decode(&f[..21], 42), Err(VxlanError::Truncated));
        let mut no_i = f.clone();
        no_i[0] = 0;
        assert_eq!(decode(&no_i, 42), Err(VxlanError::NoVni));
    }

    #[test]
    fn answers_an_arp_request_with_our_mac() {
        let req = arp_request(
            7,
            THEIRS,
            Ipv4Addr::new(10, 0, 0, 2),
            Ipv4Addr::new(10, 0, 0, 1),
        );
        assert_eq!(decode(&req, 7).expect("decodes").frame, Frame::Control);
        let reply = answer(&req, 7, OURS).expect("a reply");
        assert_eq!(&reply[8..14], &THEIRS, "to the asker");
        assert_eq!(&reply[14..20], &OURS);
        let arp = &reply[ENCAP_LEN..];
        assert_eq!(&arp[6..8], &[0, 2], "a reply");
        assert_eq!(&arp[8..14], &OURS);
        assert_eq!(&arp[14..18], &[10, 0, 0, 1]);
        assert_eq!(&arp[18..24], &THEIRS);
        assert_eq!(&arp[24..28], &[10, 0, 0, 2]);
        assert_eq!(answer(&reply, 7, OURS), None, "replies are not answered");
    }

    #[test]
    fn answers_a_neighbour_solicitation_with_a_valid_advertisement() {
        let src = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
        let target = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
        let mut ns = vec![0x08, 0, 0, 0, 0, 0, 1, 0];
        ns.extend_from_slice(&[0x33, 0x33, 0xff, 0, 0, 1]);
        ns.extend_from_slice(&THEIRS);
        ns.extend_from_slice(&[0x86, 0xdd]);
        ns.extend_from_slice(&[0x60, 0, 0, 0, 0, 32, 58, 255]);
        ns.extend_from_slice(&src.octets());
        ns.extend_from_slice(&Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00, 1).octets());
        ns.extend_from_slice(&[135, 0, 0, 0, 0, 0, 0, 0]);
        ns.extend_from_slice(&target.octets());
        ns.extend_from_slice(&[1, 1]);
        ns.extend_from_slice(&THEIRS);
        assert_eq!(decode(&ns, 1).expect("decodes").frame, Frame::Control);
        let na = answer(&ns, 1, OURS).expect("an advertisement");
        let ip = &na[ENCAP_LEN..];
        assert_eq!(&ip[8..24], &target.octets());
        assert_eq!(&ip[24..40], &src.octets());
        let icmp = crate::wire::icmpv6::Packet::new_checked(&ip[40..]).expect("icmpv6");
        assert_eq!(icmp.msg_type(), ICMPV6_NA);
        assert!(icmp.verify_checksum(target, src));
        assert_eq!(&ip[40 + 26..40 + 32], &OURS);
    }

    #[test]
    fn macs_are_unicast_local_and_distinct() {
        let a = mac_from(b"10.0.0.1");
        let b = mac_from(b"10.0.0.2");
        assert_ne!(a, b);
        assert_eq!(a[0] & 0x03, 0x02);
        assert_eq!(mac_from_u64(mac_to_u64(a)), a);
    }

    proptest! {
        #[test]
        fn decode_and_answer_never_panic(d in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&d, 1);
            let _ = answer(&d, 1, OURS);
        }
    }
}
