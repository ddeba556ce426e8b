//! Zero-copy view of the IPv4 header (RFC 791): getters, in-place setters,
//! header checksum and the RFC 1624 TTL decrement.

use core::net::Ipv4Addr;

use super::{WireError, be16, checksum, put16};

/// Field offsets of the IPv4 header.
pub mod field {
    use core::ops::Range;

    /// Version (high nibble) and IHL (low nibble).
    pub const VER_IHL: usize = 0;
    /// DSCP (6 bits) and ECN (2 bits).
    pub const TOS: usize = 1;
    /// Total length of the datagram.
    pub const LENGTH: Range<usize> = 2..4;
    /// Identification.
    pub const IDENT: Range<usize> = 4..6;
    /// Flags (3 bits) and fragment offset (13 bits).
    pub const FLG_OFF: Range<usize> = 6..8;
    /// Time to live.
    pub const TTL: usize = 8;
    /// Upper-layer protocol.
    pub const PROTOCOL: usize = 9;
    /// Header checksum.
    pub const CHECKSUM: Range<usize> = 10..12;
    /// Source address.
    pub const SRC: Range<usize> = 12..16;
    /// Destination address.
    pub const DST: Range<usize> = 16..20;
}

/// Length of an option-less IPv4 header.
pub const HEADER_LEN: usize = 20;

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |Version|  IHL  |Type of Service|          Total Length         |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |         Identification        |Flags|      Fragment Offset    |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  Time to Live |    Protocol   |         Header Checksum       |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                       Source Address                          |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                    Destination Address                        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                    Options                    |    Padding    |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

/// A read/write view of an IPv4 header at the start of a buffer.
///
/// `new_checked` guarantees `20 <= header_len() <= buffer.len()`. The total
/// length is *not* checked against the buffer (GSO super-packets carry 0 or
/// a value larger than one segment); [`Packet::payload`] clips to whichever
/// is shorter.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking; accessors may then read zeros for
    /// missing bytes but still never panic.
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps a buffer, checking that the fixed header and the IHL-announced
    /// header fit.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Packet { buffer };
        p.check_len()?;
        Ok(p)
    }

    /// Length checks performed by `new_checked`.
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let hl = self.header_len();
        if hl < HEADER_LEN {
            return Err(WireError::BadLength);
        }
        if hl > len {
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

    /// IP version (4 for a valid packet).
    pub fn version(&self) -> u8 {
        self.byte(field::VER_IHL) >> 4
    }

    /// Header length in bytes (IHL × 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.byte(field::VER_IHL) & 0x0f) * 4
    }

    /// The type-of-service byte (DSCP and ECN).
    pub fn tos(&self) -> u8 {
        self.byte(field::TOS)
    }

    /// Total length field.
    pub fn total_len(&self) -> u16 {
        be16(self.b(), field::LENGTH.start)
    }

    /// Identification field.
    pub fn ident(&self) -> u16 {
        be16(self.b(), field::IDENT.start)
    }

    /// Don't Fragment flag.
    pub fn dont_frag(&self) -> bool {
        be16(self.b(), field::FLG_OFF.start) & FLAG_DF != 0
    }

    /// More Fragments flag.
    pub fn more_frags(&self) -> bool {
        be16(self.b(), field::FLG_OFF.start) & FLAG_MF != 0
    }

    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> u16 {
        (be16(self.b(), field::FLG_OFF.start) & OFFSET_MASK) << 3
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.byte(field::TTL)
    }

    /// Upper-layer protocol number.
    pub fn protocol(&self) -> u8 {
        self.byte(field::PROTOCOL)
    }

    /// Header checksum field.
    pub fn checksum(&self) -> u16 {
        be16(self.b(), field::CHECKSUM.start)
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(super::be32(self.b(), field::SRC.start))
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(super::be32(self.b(), field::DST.start))
    }

    /// The header bytes (including options); empty if unchecked and short.
    pub fn header(&self) -> &[u8] {
        self.b().get(..self.header_len()).unwrap_or(&[])
    }

    /// The options bytes (between the fixed header and the payload).
    pub fn options(&self) -> &[u8] {
        self.b().get(HEADER_LEN..self.header_len()).unwrap_or(&[])
    }

    /// Whether the header checksum is valid.
    pub fn verify_checksum(&self) -> bool {
        let h = self.header();
        !h.is_empty() && checksum::sum(h) == 0xffff
    }

    /// The payload, up to the total length or the buffer end, whichever is
    /// shorter (a total length below the header length yields the rest of
    /// the buffer).
    pub fn payload(&self) -> &[u8] {
        self.b().get(self.payload_range()).unwrap_or(&[])
    }

    /// The byte range of [`Packet::payload`] within the buffer.
    pub fn payload_range(&self) -> core::ops::Range<usize> {
        let len = self.b().len();
        let hl = self.header_len().min(len);
        let tl = usize::from(self.total_len());
        let end = if tl >= hl { tl.min(len) } else { len };
        hl..end
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn bm(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    fn set_byte(&mut self, at: usize, v: u8) {
        if let Some(x) = self.bm().get_mut(at) {
            *x = v;
        }
    }

    /// Sets version 4 and the header length in bytes (a multiple of 4).
    pub fn set_version_and_header_len(&mut self, header_len: usize) {
        let ihl = ((header_len / 4) & 0x0f) as u8;
        self.set_byte(field::VER_IHL, 0x40 | ihl);
    }

    /// Sets the type-of-service byte.
    pub fn set_tos(&mut self, v: u8) {
        self.set_byte(field::TOS, v);
    }

    /// Sets the total length field.
    pub fn set_total_len(&mut self, v: u16) {
        put16(self.bm(), field::LENGTH.start, v);
    }

    /// Sets the identification field.
    pub fn set_ident(&mut self, v: u16) {
        put16(self.bm(), field::IDENT.start, v);
    }

    /// Sets flags and fragment offset (offset in bytes, a multiple of 8).
    pub fn set_flags_and_offset(&mut self, dont_frag: bool, more_frags: bool, offset: u16) {
        let mut v = (offset >> 3) & OFFSET_MASK;
        if dont_frag {
            v |= FLAG_DF;
        }
        if more_frags {
            v |= FLAG_MF;
        }
        put16(self.bm(), field::FLG_OFF.start, v);
    }

    /// Sets the TTL (checksum not updated).
    pub fn set_ttl(&mut self, v: u8) {
        self.set_byte(field::TTL, v);
    }

    /// Sets the protocol (checksum not updated).
    pub fn set_protocol(&mut self, v: u8) {
        self.set_byte(field::PROTOCOL, v);
    }

    /// Sets the header checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.bm(), field::CHECKSUM.start, v);
    }

    /// Sets the source address (checksum not updated).
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        if let Some(s) = self.bm().get_mut(field::SRC) {
            s.copy_from_slice(&a.octets());
        }
    }

    /// Sets the destination address (checksum not updated).
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        if let Some(s) = self.bm().get_mut(field::DST) {
            s.copy_from_slice(&a.octets());
        }
    }

    /// Recomputes the header checksum from scratch.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.header());
        self.set_checksum(c);
    }

    /// Decrements the TTL by one and patches the header checksum with the
    /// RFC 1624 incremental update. A TTL of 0 wraps to 255: the caller
    /// checks the TTL first.
    pub fn decrement_ttl(&mut self) {
        let ttl = self.ttl();
        let proto = self.protocol();
        let old = u16::from_be_bytes([ttl, proto]);
        let new = u16::from_be_bytes([ttl.wrapping_sub(1), proto]);
        self.set_ttl(ttl.wrapping_sub(1));
        let c = checksum::update_u16(self.checksum(), old, new);
        self.set_checksum(c);
    }

    /// Mutable payload (same bounds as [`Packet::payload`]).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let r = self.payload_range();
        self.bm().get_mut(r).unwrap_or(&mut [])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::golden;

    #[test]
    fn decode_golden_tcp_syn() {
        let p = Packet::new_checked(&golden::IPV4_TCP_SYN[..]).expect("valid");
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 60);
        assert!(p.dont_frag());
        assert!(!p.more_frags());
        assert_eq!(p.frag_offset(), 0);
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), crate::wire::proto::TCP);
        assert_eq!(p.src_addr(), Ipv4Addr::LOCALHOST);
        assert_eq!(p.dst_addr(), Ipv4Addr::LOCALHOST);
        assert!(p.verify_checksum());
        assert_eq!(p.payload().len(), 40);
        assert!(p.options().is_empty());
    }

    #[test]
    fn decode_golden_icmp_echo() {
        let p = Packet::new_checked(&golden::IPV4_ICMP_ECHO[..]).expect("valid");
        assert_eq!(p.total_len(), 84);
        assert_eq!(p.ident(), 0xeeaa);
        assert_eq!(p.checksum(), 0x4dfc);
        assert_eq!(p.protocol(), crate::wire::proto::ICMP);
        assert!(p.verify_checksum());
    }

    #[test]
    fn modify_golden_in_place() {
        let mut buf = golden::IPV4_ICMP_ECHO;
        let mut p = Packet::new_checked(&mut buf[..]).expect("valid");
        p.decrement_ttl();
        assert_eq!(p.ttl(), 63);
        assert!(p.verify_checksum());
        let inc = p.checksum();
        p.fill_checksum();
        assert_eq!(p.checksum(), inc);
        p.set_dst_addr(Ipv4Addr::new(192, 0, 2, 1));
        p.set_flags_and_offset(false, true, 1480);
        p.fill_checksum();
        assert!(p.verify_checksum());
        assert_eq!(p.dst_addr(), Ipv4Addr::new(192, 0, 2, 1));
        assert!(!p.dont_frag() && p.more_frags());
        assert_eq!(p.frag_offset(), 1480);
        assert_eq!(&buf[16..20], &[192, 0, 2, 1]);
    }

    #[test]
    fn checked_rejects_short_and_bad_ihl() {
        assert_eq!(
            Packet::new_checked(&golden::IPV4_TCP_SYN[..19]).err(),
            Some(WireError::Truncated)
        );
        let mut b = golden::IPV4_TCP_SYN;
        b[0] = 0x44;
        assert_eq!(
            Packet::new_checked(&b[..]).err(),
            Some(WireError::BadLength)
        );
        b[0] = 0x4f;
        assert_eq!(
            Packet::new_checked(&b[..40]).err(),
            Some(WireError::Truncated)
        );
    }

    #[test]
    fn unchecked_short_never_panics() {
        let p = Packet::new_unchecked(&[0x4fu8][..]);
        assert_eq!(p.total_len(), 0);
        assert!(p.header().is_empty());
        assert!(p.payload().is_empty());
        assert!(!p.verify_checksum());
    }
}
