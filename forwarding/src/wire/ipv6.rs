//! Zero-copy view of the IPv6 fixed header (RFC 8200) and a bounded walk over
//! the extension-header chain to find the upper-layer protocol.

use core::net::Ipv6Addr;

use super::{WireError, be16, be32, proto, put16};

/// Field offsets of the IPv6 fixed header.
pub mod field {
    use core::ops::Range;

    /// Version (4 bits), traffic class (8 bits), flow label (20 bits).
    pub const VER_TC_FLOW: Range<usize> = 0..4;
    /// Payload length (everything after the fixed header).
    pub const LENGTH: Range<usize> = 4..6;
    /// Next header.
    pub const NXT_HDR: usize = 6;
    /// Hop limit.
    pub const HOP_LIMIT: usize = 7;
    /// Source address.
    pub const SRC: Range<usize> = 8..24;
    /// Destination address.
    pub const DST: Range<usize> = 24..40;
}

/// Length of the fixed IPv6 header.
pub const HEADER_LEN: usize = 40;

/// At most this many extension headers are walked before giving up.
const MAX_EXT_HEADERS: usize = 8;

//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |Version| Traffic Class |           Flow Label                  |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |         Payload Length        |  Next Header  |   Hop Limit   |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                                                               |
// +                         Source Address                        +
// |                          (128 bits)                           |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                                                               |
// +                      Destination Address                      +
// |                          (128 bits)                           |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

/// Where the upper-layer header starts, as found by [`Packet::upper_layer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpperLayer {
    /// Protocol of the header at `offset` (may still be an extension header
    /// if the walk stopped early).
    pub protocol: u8,
    /// Offset of that header from the start of the IPv6 packet.
    pub offset: usize,
    /// A fragment header with a non-zero offset was found: the upper-layer
    /// header is not in this packet.
    pub non_first_fragment: bool,
    /// A fragment header was found at all.
    pub fragmented: bool,
}

/// A read/write view of an IPv6 header at the start of a buffer.
///
/// `new_checked` guarantees the 40-byte fixed header fits; the payload length
/// is not checked (GSO super-packets may carry 0), see [`Packet::payload`].
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking; accessors then read zeros for missing
    /// bytes and never panic.
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps a buffer, checking that the fixed header fits.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Packet { buffer };
        p.check_len()?;
        Ok(p)
    }

    /// Length checks performed by `new_checked`.
    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    /// Consumes the view, returning the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    fn byte(&self, at: usize) -> u8 {
        self.b().get(at).copied().unwrap_or(0)
    }

    /// IP version (6 for a valid packet).
    pub fn version(&self) -> u8 {
        self.byte(0) >> 4
    }

    /// Traffic class.
    pub fn traffic_class(&self) -> u8 {
        ((be16(self.b(), 0) >> 4) & 0xff) as u8
    }

    /// Flow label (20 bits).
    pub fn flow_label(&self) -> u32 {
        be32(self.b(), 0) & 0x000f_ffff
    }

    /// Payload length field.
    pub fn payload_len(&self) -> u16 {
        be16(self.b(), field::LENGTH.start)
    }

    /// Next header field.
    pub fn next_header(&self) -> u8 {
        self.byte(field::NXT_HDR)
    }

    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.byte(field::HOP_LIMIT)
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv6Addr {
        self.addr(field::SRC.start)
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        self.addr(field::DST.start)
    }

    fn addr(&self, at: usize) -> Ipv6Addr {
        let mut o = [0u8; 16];
        if let Some(s) = self.b().get(at..at + 16) {
            o.copy_from_slice(s);
        }
        Ipv6Addr::from(o)
    }

    /// Everything after the fixed header, up to the payload length or the
    /// buffer end, whichever is shorter (a payload length of 0 on a longer
    /// buffer, as in a jumbo/GSO packet, yields the rest of the buffer).
    pub fn payload(&self) -> &[u8] {
        self.b().get(self.payload_range()).unwrap_or(&[])
    }

    /// The byte range of [`Packet::payload`] within the buffer.
    pub fn payload_range(&self) -> core::ops::Range<usize> {
        let len = self.b().len();
        let pl = usize::from(self.payload_len());
        let end = if pl == 0 {
            len
        } else {
            (HEADER_LEN + pl).min(len)
        };
        HEADER_LEN.min(len)..end
    }

    /// Walks hop-by-hop, routing, destination-options, fragment and AH
    /// headers (at most 8) and reports where the upper-layer header starts.
    /// Stops early at a non-first fragment or a truncated extension header.
    pub fn upper_layer(&self) -> UpperLayer {
        let b = self.b();
        let mut r = UpperLayer {
            protocol: self.next_header(),
            offset: HEADER_LEN,
            non_first_fragment: false,
            fragmented: false,
        };
        for _ in 0..MAX_EXT_HEADERS {
            let len = match r.protocol {
                proto::HOP_BY_HOP | proto::ROUTING | proto::DEST_OPTS => {
                    match b.get(r.offset + 1) {
                        Some(&l) => (usize::from(l) + 1) * 8,
                        None => return r,
                    }
                }
                proto::AUTH => match b.get(r.offset + 1) {
                    Some(&l) => (usize::from(l) + 2) * 4,
                    None => return r,
                },
                proto::FRAGMENT => {
                    if b.len() < r.offset + 8 {
                        return r;
                    }
                    r.fragmented = true;
                    if be16(b, r.offset + 2) & 0xfff8 != 0 {
                        r.non_first_fragment = true;
                        return r;
                    }
                    8
                }
                _ => return r,
            };
            match b.get(r.offset) {
                Some(&next) => {
                    r.protocol = next;
                    r.offset += len;
                }
                None => return r,
            }
        }
        r
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn bm(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Sets version 6, traffic class and flow label.
    pub fn set_version_tc_flow(&mut self, traffic_class: u8, flow_label: u32) {
        let v = (6u32 << 28) | (u32::from(traffic_class) << 20) | (flow_label & 0x000f_ffff);
        super::put32(self.bm(), 0, v);
    }

    /// Sets the payload length.
    pub fn set_payload_len(&mut self, v: u16) {
        put16(self.bm(), field::LENGTH.start, v);
    }

    /// Sets the next header.
    pub fn set_next_header(&mut self, v: u8) {
        if let Some(x) = self.bm().get_mut(field::NXT_HDR) {
            *x = v;
        }
    }

    /// Sets the hop limit.
    pub fn set_hop_limit(&mut self, v: u8) {
        if let Some(x) = self.bm().get_mut(field::HOP_LIMIT) {
            *x = v;
        }
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, a: Ipv6Addr) {
        if let Some(s) = self.bm().get_mut(field::SRC) {
            s.copy_from_slice(&a.octets());
        }
    }

    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, a: Ipv6Addr) {
        if let Some(s) = self.bm().get_mut(field::DST) {
            s.copy_from_slice(&a.octets());
        }
    }

    /// Mutable bytes after the fixed header (to the buffer end).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        self.bm().get_mut(HEADER_LEN..).unwrap_or(&mut [])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::golden;

    #[test]
    fn decode_golden_tcp_syn() {
        let p = Packet::new_checked(&golden::IPV6_TCP_SYN[..]).expect("valid");
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0);
        assert_eq!(p.payload_len(), 40);
        assert_eq!(p.next_header(), proto::TCP);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.src_addr(), Ipv6Addr::LOCALHOST);
        assert_eq!(p.dst_addr(), Ipv6Addr::LOCALHOST);
        assert_eq!(p.payload().len(), 40);
        let ul = p.upper_layer();
        assert_eq!(
            (ul.protocol, ul.offset, ul.fragmented),
            (proto::TCP, 40, false)
        );
    }

    #[test]
    fn decode_golden_icmp_echo() {
        let p = Packet::new_checked(&golden::IPV6_ICMP_ECHO[..]).expect("valid");
        assert_eq!(p.flow_label(), 0x021a7);
        assert_eq!(p.payload_len(), 64);
        assert_eq!(p.next_header(), proto::ICMPV6);
    }

    #[test]
    fn modify_golden_in_place() {
        let mut buf = golden::IPV6_ICMP_ECHO;
        let mut p = Packet::new_checked(&mut buf[..]).expect("valid");
        p.set_hop_limit(p.hop_limit() - 1);
        p.set_version_tc_flow(0xb8, 0x12345);
        p.set_dst_addr("2001:db8::1".parse().expect("addr"));
        assert_eq!(p.hop_limit(), 63);
        assert_eq!(p.traffic_class(), 0xb8);
        assert_eq!(p.flow_label(), 0x12345);
        assert_eq!(buf[7], 63);
        assert_eq!(&buf[24..26], &[0x20, 0x01]);
    }

    #[test]
    fn extension_chain_and_fragments() {
        let mut b = [0u8; 40 + 8 + 8 + 20];
        b[0] = 0x60;
        b[6] = proto::HOP_BY_HOP;
        b[40] = proto::FRAGMENT; // hop-by-hop: next = fragment, len 0 (8 bytes)
        b[48] = proto::TCP; // fragment header: next = TCP, offset 0
        let p = Packet::new_checked(&b[..]).expect("valid");
        let ul = p.upper_layer();
        assert_eq!(ul.protocol, proto::TCP);
        assert_eq!(ul.offset, 56);
        assert!(ul.fragmented && !ul.non_first_fragment);
        b[50] = 0x05; // fragment offset != 0
        let ul = Packet::new_checked(&b[..]).expect("valid").upper_layer();
        assert!(ul.non_first_fragment);
    }

    #[test]
    fn short_buffers() {
        assert_eq!(
            Packet::new_checked(&golden::IPV6_TCP_SYN[..39]).err(),
            Some(WireError::Truncated)
        );
        let p = Packet::new_unchecked(&[0x60u8, 0, 0][..]);
        assert_eq!(p.src_addr(), Ipv6Addr::UNSPECIFIED);
        assert!(p.payload().is_empty());
        let _ = p.upper_layer();
    }
}
