//! Zero-copy view of ICMPv6 messages (RFC 4443) with the pseudo-header
//! checksum, and the builder for the errors a router originates.

use core::net::Ipv6Addr;

use super::{WireError, be16, be32, checksum, ipv6, proto, put16, put32};

/// Field offsets of the ICMPv6 header.
pub mod field {
    use core::ops::Range;

    /// Message type.
    pub const TYPE: usize = 0;
    /// Message code.
    pub const CODE: usize = 1;
    /// Checksum (covers the IPv6 pseudo-header).
    pub const CHECKSUM: Range<usize> = 2..4;
    /// MTU (Packet Too Big), pointer (Parameter Problem) or unused.
    pub const REST: Range<usize> = 4..8;
    /// Start of the data (the invoking packet for errors).
    pub const DATA: usize = 8;
}

/// Length of the ICMPv6 header.
pub const HEADER_LEN: usize = 8;

/// RFC 4443 §2.4(c): an error must not exceed the IPv6 minimum MTU.
pub const MAX_ERROR_LEN: usize = 1280;

/// Message types used by the dataplane.
pub mod msg {
    /// Destination unreachable.
    pub const DST_UNREACHABLE: u8 = 1;
    /// Packet too big.
    pub const PACKET_TOO_BIG: u8 = 2;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 3;
    /// Parameter problem.
    pub const PARAM_PROBLEM: u8 = 4;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 128;
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 129;
    /// Redirect (never answered with an error, RFC 4443 §2.4(e.2)).
    pub const REDIRECT: u8 = 137;
}

/// Whether an ICMPv6 message must not trigger an error (RFC 4443 §2.4(e)):
/// error messages (type < 128) and redirects.
pub fn suppresses_errors(msg_type: u8) -> bool {
    msg_type < 128 || msg_type == msg::REDIRECT
}

//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |     Type      |     Code      |          Checksum             |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                   MTU / Pointer / Unused                      |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |    As much of invoking packet as possible without the ICMPv6  |
// +               packet exceeding the minimum IPv6 MTU           +

/// A read/write view of an ICMPv6 message; `new_checked` guarantees the
/// 8-byte header fits.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking (accessors read zeros past the end).
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps a buffer, checking that the 8-byte header fits.
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

    /// Message type.
    pub fn msg_type(&self) -> u8 {
        self.b().get(field::TYPE).copied().unwrap_or(0)
    }

    /// Message code.
    pub fn code(&self) -> u8 {
        self.b().get(field::CODE).copied().unwrap_or(0)
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        be16(self.b(), field::CHECKSUM.start)
    }

    /// MTU of a Packet Too Big message.
    pub fn mtu(&self) -> u32 {
        be32(self.b(), field::REST.start)
    }

    /// Echo identifier (echo request/reply).
    pub fn echo_ident(&self) -> u16 {
        be16(self.b(), field::REST.start)
    }

    /// Echo sequence number (echo request/reply).
    pub fn echo_seq(&self) -> u16 {
        be16(self.b(), field::REST.start + 2)
    }

    /// Data after the header.
    pub fn data(&self) -> &[u8] {
        self.b().get(field::DATA..).unwrap_or(&[])
    }

    /// Whether the checksum (with the pseudo-header for `src`/`dst`) is valid.
    pub fn verify_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        let b = self.b();
        let Ok(len) = u32::try_from(b.len()) else {
            return false;
        };
        let ph = checksum::pseudo_header_v6(src, dst, proto::ICMPV6, len);
        b.len() >= HEADER_LEN && checksum::combine(ph, checksum::sum(b)) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn bm(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Sets the message type.
    pub fn set_msg_type(&mut self, v: u8) {
        if let Some(x) = self.bm().get_mut(field::TYPE) {
            *x = v;
        }
    }

    /// Sets the message code.
    pub fn set_code(&mut self, v: u8) {
        if let Some(x) = self.bm().get_mut(field::CODE) {
            *x = v;
        }
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.bm(), field::CHECKSUM.start, v);
    }

    /// Sets the MTU / pointer / unused word.
    pub fn set_mtu(&mut self, v: u32) {
        put32(self.bm(), field::REST.start, v);
    }

    /// Mutable data after the header.
    pub fn data_mut(&mut self) -> &mut [u8] {
        self.bm().get_mut(field::DATA..).unwrap_or(&mut [])
    }

    /// Recomputes the checksum over the message and the pseudo-header.
    pub fn fill_checksum(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let b = self.b();
        let len = u32::try_from(b.len()).unwrap_or(u32::MAX);
        let ph = checksum::pseudo_header_v6(src, dst, proto::ICMPV6, len);
        let c = !checksum::combine(ph, checksum::sum(b));
        self.set_checksum(c);
    }
}

/// The ICMPv6 errors a router originates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Type 3 code 0: hop limit exceeded in transit.
    TimeExceeded,
    /// Type 1 code 0: no route to destination.
    NoRoute,
    /// Type 2: packet too big, with the MTU of the next-hop link.
    PacketTooBig {
        /// MTU of the next-hop link.
        mtu: u32,
    },
}

impl ErrorKind {
    fn type_code(self) -> (u8, u8) {
        match self {
            ErrorKind::TimeExceeded => (msg::TIME_EXCEEDED, 0),
            ErrorKind::NoRoute => (msg::DST_UNREACHABLE, 0),
            ErrorKind::PacketTooBig { .. } => (msg::PACKET_TOO_BIG, 0),
        }
    }
}

/// Builds a complete IPv6 packet carrying an ICMPv6 error into `out`: IPv6
/// header (hop limit 64), ICMPv6 header and as much of `quote` as fits in
/// [`MAX_ERROR_LEN`] bytes and in `out`. Returns the packet length, or
/// `None` if `out` cannot hold the headers plus the invoking packet's
/// 40-byte header (or `quote` is shorter than that).
pub fn emit_error(
    out: &mut [u8],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    kind: ErrorKind,
    quote: &[u8],
) -> Option<usize> {
    const HDRS: usize = ipv6::HEADER_LEN + HEADER_LEN;
    if quote.len() < ipv6::HEADER_LEN {
        return None;
    }
    let room = out.len().min(MAX_ERROR_LEN).checked_sub(HDRS)?;
    let qlen = quote.len().min(room);
    if qlen < ipv6::HEADER_LEN {
        return None;
    }
    let total = HDRS + qlen;
    let buf = out.get_mut(..total)?;
    // Invariant for the slicing below: buf.len() == HDRS + qlen and
    // qlen <= quote.len(), so every range is in bounds and the data area
    // is exactly qlen bytes long.
    {
        let mut ip = ipv6::Packet::new_unchecked(&mut buf[..ipv6::HEADER_LEN]);
        ip.set_version_tc_flow(0, 0);
        // Invariant: total - 40 <= 1240 fits in u16.
        ip.set_payload_len((total - ipv6::HEADER_LEN) as u16);
        ip.set_next_header(proto::ICMPV6);
        ip.set_hop_limit(64);
        ip.set_src_addr(src);
        ip.set_dst_addr(dst);
    }
    let mut icmp = Packet::new_unchecked(&mut buf[ipv6::HEADER_LEN..]);
    let (t, c) = kind.type_code();
    icmp.set_msg_type(t);
    icmp.set_code(c);
    icmp.set_mtu(match kind {
        ErrorKind::PacketTooBig { mtu } => mtu,
        _ => 0,
    });
    icmp.data_mut().copy_from_slice(&quote[..qlen]);
    icmp.fill_checksum(src, dst);
    Some(total)
}

/// A parsed router-originated ICMPv6 error (the inverse of [`emit_error`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedError<'a> {
    /// Source of the error packet.
    pub src: Ipv6Addr,
    /// Destination of the error packet.
    pub dst: Ipv6Addr,
    /// Which error.
    pub kind: ErrorKind,
    /// The quoted invoking packet.
    pub quote: &'a [u8],
}

/// Parses an IPv6 packet carrying one of the [`ErrorKind`] errors; `None` if
/// it is anything else or the checksum is wrong.
pub fn parse_error(packet: &[u8]) -> Option<ParsedError<'_>> {
    let ip = ipv6::Packet::new_checked(packet).ok()?;
    if ip.version() != 6 || ip.next_header() != proto::ICMPV6 {
        return None;
    }
    let icmp = Packet::new_checked(ip.payload()).ok()?;
    if !icmp.verify_checksum(ip.src_addr(), ip.dst_addr()) {
        return None;
    }
    let kind = match (icmp.msg_type(), icmp.code()) {
        (msg::TIME_EXCEEDED, 0) => ErrorKind::TimeExceeded,
        (msg::DST_UNREACHABLE, 0) => ErrorKind::NoRoute,
        (msg::PACKET_TOO_BIG, 0) => ErrorKind::PacketTooBig { mtu: icmp.mtu() },
        _ => return None,
    };
    Some(ParsedError {
        src: ip.src_addr(),
        dst: ip.dst_addr(),
        kind,
        quote: packet.get(ip.payload_range().start + HEADER_LEN..ip.payload_range().end)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::golden;

    #[test]
    fn decode_golden_echo() {
        let ip = ipv6::Packet::new_checked(&golden::IPV6_ICMP_ECHO[..]).expect("ip");
        let p = Packet::new_checked(ip.payload()).expect("icmp");
        assert_eq!(p.msg_type(), msg::ECHO_REQUEST);
        assert_eq!(p.checksum(), 0xd2c7);
        assert_eq!(p.echo_ident(), 0x0415);
        assert_eq!(p.echo_seq(), 1);
        assert!(p.verify_checksum(ip.src_addr(), ip.dst_addr()));
        assert!(!suppresses_errors(p.msg_type()));
    }

    #[test]
    fn decode_golden_port_unreachable() {
        let ip = ipv6::Packet::new_checked(&golden::IPV6_ICMP_PORT_UNREACH[..]).expect("ip");
        let p = Packet::new_checked(ip.payload()).expect("icmp");
        assert_eq!((p.msg_type(), p.code()), (msg::DST_UNREACHABLE, 4));
        assert!(suppresses_errors(p.msg_type()));
        assert!(p.verify_checksum(ip.src_addr(), ip.dst_addr()));
        assert_eq!(&p.data()[48..], b"hello");
    }

    #[test]
    fn modify_golden_in_place() {
        let mut buf = golden::IPV6_ICMP_ECHO;
        let (src, dst) = (Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST);
        let mut p = Packet::new_checked(&mut buf[40..]).expect("icmp");
        p.set_msg_type(msg::ECHO_REPLY);
        assert!(!p.verify_checksum(src, dst));
        p.fill_checksum(src, dst);
        assert!(p.verify_checksum(src, dst));
        assert_eq!(p.checksum(), 0xd1c7);
        assert_eq!(buf[40], msg::ECHO_REPLY);
    }

    #[test]
    fn builder_round_trip() {
        let orig = &golden::IPV6_TCP_SYN[..];
        let src: Ipv6Addr = "2001:db8::1".parse().expect("addr");
        let dst: Ipv6Addr = "2001:db8:1::7".parse().expect("addr");
        let mut out = [0u8; 1500];
        for kind in [
            ErrorKind::TimeExceeded,
            ErrorKind::NoRoute,
            ErrorKind::PacketTooBig { mtu: 1280 },
        ] {
            let n = emit_error(&mut out, src, dst, kind, orig).expect("fits");
            assert_eq!(n, 48 + orig.len());
            let e = parse_error(&out[..n]).expect("parses");
            assert_eq!((e.src, e.dst, e.kind, e.quote), (src, dst, kind, orig));
        }
    }

    #[test]
    fn builder_truncates_to_1280() {
        let mut big = vec![0u8; 9000];
        big[..40].copy_from_slice(&golden::IPV6_TCP_SYN[..40]);
        let mut out = vec![0u8; 9000];
        let n = emit_error(
            &mut out,
            Ipv6Addr::LOCALHOST,
            Ipv6Addr::LOCALHOST,
            ErrorKind::TimeExceeded,
            &big,
        )
        .expect("fits");
        assert_eq!(n, MAX_ERROR_LEN);
    }
}
