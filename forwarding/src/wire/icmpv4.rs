//! Zero-copy view of ICMPv4 messages (RFC 792, RFC 1191) and the builder for
//! the error messages a router originates (RFC 1812 §4.3.2).

use core::net::Ipv4Addr;

use super::{WireError, be16, be32, checksum, ipv4, proto, put16, put32};

/// Field offsets of the ICMPv4 header.
pub mod field {
    use core::ops::Range;

    /// Message type.
    pub const TYPE: usize = 0;
    /// Message code.
    pub const CODE: usize = 1;
    /// Checksum over the whole ICMP message.
    pub const CHECKSUM: Range<usize> = 2..4;
    /// The type-specific 32-bit word ("unused" for most errors).
    pub const REST: Range<usize> = 4..8;
    /// Next-hop MTU of a Fragmentation Needed message (RFC 1191).
    pub const NEXT_HOP_MTU: Range<usize> = 6..8;
    /// Start of the data (the quoted datagram for errors).
    pub const DATA: usize = 8;
}

/// Length of the ICMPv4 header.
pub const HEADER_LEN: usize = 8;

/// RFC 1812 §4.3.2.3: an ICMP error is at most 576 bytes long.
pub const MAX_ERROR_LEN: usize = 576;

/// Message types used by the dataplane.
pub mod msg {
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 0;
    /// Destination unreachable.
    pub const DST_UNREACHABLE: u8 = 3;
    /// Source quench (deprecated error).
    pub const SOURCE_QUENCH: u8 = 4;
    /// Redirect.
    pub const REDIRECT: u8 = 5;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 8;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 11;
    /// Parameter problem.
    pub const PARAM_PROBLEM: u8 = 12;
}

/// Whether an ICMPv4 type is an error message (never answered with an error,
/// RFC 1812 §4.3.2.7). Unknown types are treated as informational, as Linux does.
pub fn is_error(msg_type: u8) -> bool {
    matches!(
        msg_type,
        msg::DST_UNREACHABLE
            | msg::SOURCE_QUENCH
            | msg::REDIRECT
            | msg::TIME_EXCEEDED
            | msg::PARAM_PROBLEM
    )
}

//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |     Type      |     Code      |          Checksum             |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |   unused (or Identifier)      | Next-Hop MTU (or Sequence No.)|
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |      Internet Header + leading octets of original datagram    |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

/// A read/write view of an ICMPv4 message; `new_checked` guarantees the
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

    /// The type-specific second word.
    pub fn rest(&self) -> u32 {
        be32(self.b(), field::REST.start)
    }

    /// Next-hop MTU (meaningful for type 3 code 4).
    pub fn next_hop_mtu(&self) -> u16 {
        be16(self.b(), field::NEXT_HOP_MTU.start)
    }

    /// Echo identifier (meaningful for echo request/reply).
    pub fn echo_ident(&self) -> u16 {
        be16(self.b(), field::REST.start)
    }

    /// Echo sequence number (meaningful for echo request/reply).
    pub fn echo_seq(&self) -> u16 {
        be16(self.b(), field::REST.start + 2)
    }

    /// Data after the header (the quoted datagram of an error).
    pub fn data(&self) -> &[u8] {
        self.b().get(field::DATA..).unwrap_or(&[])
    }

    /// Whether the checksum over the whole buffer is valid.
    pub fn verify_checksum(&self) -> bool {
        self.b().len() >= HEADER_LEN && checksum::sum(self.b()) == 0xffff
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

    /// Sets the type-specific second word.
    pub fn set_rest(&mut self, v: u32) {
        put32(self.bm(), field::REST.start, v);
    }

    /// Sets the next-hop MTU (type 3 code 4).
    pub fn set_next_hop_mtu(&mut self, v: u16) {
        put16(self.bm(), field::NEXT_HOP_MTU.start, v);
    }

    /// Mutable data after the header.
    pub fn data_mut(&mut self) -> &mut [u8] {
        self.bm().get_mut(field::DATA..).unwrap_or(&mut [])
    }

    /// Recomputes the checksum over the whole buffer.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.b());
        self.set_checksum(c);
    }
}

/// The ICMPv4 errors a router originates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Type 11 code 0: TTL exceeded in transit.
    TimeExceeded,
    /// Type 3 code 0: network unreachable (no route).
    NetUnreachable,
    /// Type 3 code 4: fragmentation needed and DF set, with the next-hop MTU.
    FragNeeded {
        /// MTU of the next-hop link.
        mtu: u16,
    },
}

impl ErrorKind {
    fn type_code(self) -> (u8, u8) {
        match self {
            ErrorKind::TimeExceeded => (msg::TIME_EXCEEDED, 0),
            ErrorKind::NetUnreachable => (msg::DST_UNREACHABLE, 0),
            ErrorKind::FragNeeded { .. } => (msg::DST_UNREACHABLE, 4),
        }
    }
}

/// Builds a complete IPv4 datagram carrying an ICMP error into `out`:
/// IPv4 header (TOS 0xc0, TTL 64, no DF, `ident`), ICMP header and as much of
/// `quote` (the offending datagram from its IP header) as fits in
/// [`MAX_ERROR_LEN`] bytes and in `out`. Returns the datagram length, or
/// `None` if `out` cannot hold the headers plus 28 quoted bytes (RFC 792's
/// "IP header + 64 bits") or `quote` is shorter than 20 bytes.
pub fn emit_error(
    out: &mut [u8],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ident: u16,
    kind: ErrorKind,
    quote: &[u8],
) -> Option<usize> {
    const HDRS: usize = ipv4::HEADER_LEN + HEADER_LEN;
    if quote.len() < ipv4::HEADER_LEN {
        return None;
    }
    let room = out.len().min(MAX_ERROR_LEN).checked_sub(HDRS)?;
    let qlen = quote.len().min(room);
    if qlen < quote.len().min(ipv4::HEADER_LEN + 8) {
        return None;
    }
    let total = HDRS + qlen;
    let buf = out.get_mut(..total)?;
    // Invariant for the slicing below: buf.len() == HDRS + qlen and
    // qlen <= quote.len(), so every range is in bounds and the data area
    // is exactly qlen bytes long.
    {
        let mut ip = ipv4::Packet::new_unchecked(&mut buf[..ipv4::HEADER_LEN]);
        ip.set_version_and_header_len(ipv4::HEADER_LEN);
        ip.set_tos(0xc0);
        // Invariant: total <= MAX_ERROR_LEN (576) fits in u16.
        ip.set_total_len(total as u16);
        ip.set_ident(ident);
        ip.set_flags_and_offset(false, false, 0);
        ip.set_ttl(64);
        ip.set_protocol(proto::ICMP);
        ip.set_src_addr(src);
        ip.set_dst_addr(dst);
        ip.fill_checksum();
    }
    let mut icmp = Packet::new_unchecked(&mut buf[ipv4::HEADER_LEN..]);
    let (t, c) = kind.type_code();
    icmp.set_msg_type(t);
    icmp.set_code(c);
    icmp.set_rest(0);
    if let ErrorKind::FragNeeded { mtu } = kind {
        icmp.set_next_hop_mtu(mtu);
    }
    icmp.data_mut().copy_from_slice(&quote[..qlen]);
    icmp.fill_checksum();
    Some(total)
}

/// A parsed router-originated ICMPv4 error (the inverse of [`emit_error`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedError<'a> {
    /// Source of the error datagram.
    pub src: Ipv4Addr,
    /// Destination of the error datagram.
    pub dst: Ipv4Addr,
    /// Which error.
    pub kind: ErrorKind,
    /// The quoted offending datagram.
    pub quote: &'a [u8],
}

/// Parses an IPv4 datagram carrying one of the [`ErrorKind`] errors; `None`
/// if it is anything else or a checksum is wrong.
pub fn parse_error(datagram: &[u8]) -> Option<ParsedError<'_>> {
    let ip = ipv4::Packet::new_checked(datagram).ok()?;
    if ip.version() != 4 || ip.protocol() != proto::ICMP || !ip.verify_checksum() {
        return None;
    }
    let icmp = Packet::new_checked(ip.payload()).ok()?;
    if !icmp.verify_checksum() {
        return None;
    }
    let kind = match (icmp.msg_type(), icmp.code()) {
        (msg::TIME_EXCEEDED, 0) => ErrorKind::TimeExceeded,
        (msg::DST_UNREACHABLE, 0) => ErrorKind::NetUnreachable,
        (msg::DST_UNREACHABLE, 4) => ErrorKind::FragNeeded {
            mtu: icmp.next_hop_mtu(),
        },
        _ => return None,
    };
    let r = ip.payload_range();
    let quote = datagram.get(r.start + HEADER_LEN..r.end)?;
    Some(ParsedError {
        src: ip.src_addr(),
        dst: ip.dst_addr(),
        kind,
        quote,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::golden;

    #[test]
    fn decode_golden_echo() {
        let ip = ipv4::Packet::new_checked(&golden::IPV4_ICMP_ECHO[..]).expect("ip");
        let p = Packet::new_checked(ip.payload()).expect("icmp");
        assert_eq!(p.msg_type(), msg::ECHO_REQUEST);
        assert_eq!(p.code(), 0);
        assert_eq!(p.checksum(), 0x6a4f);
        assert_eq!(p.echo_ident(), 0x0414);
        assert_eq!(p.echo_seq(), 1);
        assert_eq!(p.data().len(), 56);
        assert!(p.verify_checksum());
        assert!(!is_error(p.msg_type()));
    }

    #[test]
    fn decode_golden_port_unreachable() {
        let ip = ipv4::Packet::new_checked(&golden::IPV4_ICMP_PORT_UNREACH[..]).expect("ip");
        assert_eq!(ip.tos(), 0xc0);
        let p = Packet::new_checked(ip.payload()).expect("icmp");
        assert_eq!((p.msg_type(), p.code()), (msg::DST_UNREACHABLE, 3));
        assert!(is_error(p.msg_type()));
        assert!(p.verify_checksum());
        let q = ipv4::Packet::new_checked(p.data()).expect("quoted ip");
        assert_eq!(q.protocol(), proto::UDP);
        assert_eq!(&p.data()[28..], b"hello");
    }

    #[test]
    fn modify_golden_in_place() {
        let mut buf = golden::IPV4_ICMP_ECHO;
        let mut p = Packet::new_checked(&mut buf[20..]).expect("icmp");
        p.set_msg_type(msg::ECHO_REPLY);
        p.fill_checksum();
        assert!(p.verify_checksum());
        // Echo request -> reply changes the sum by exactly 0x0800.
        assert_eq!(p.checksum(), 0x724f);
        assert_eq!(buf[20], 0);
    }

    #[test]
    fn builder_round_trip() {
        let orig = &golden::IPV4_TCP_SYN[..];
        let mut out = [0u8; 1500];
        let src = Ipv4Addr::new(192, 0, 2, 1);
        let dst = Ipv4Addr::new(198, 51, 100, 7);
        for kind in [
            ErrorKind::TimeExceeded,
            ErrorKind::NetUnreachable,
            ErrorKind::FragNeeded { mtu: 1400 },
        ] {
            let n = emit_error(&mut out, src, dst, 7, kind, orig).expect("fits");
            assert_eq!(n, 28 + orig.len());
            let e = parse_error(&out[..n]).expect("parses");
            assert_eq!((e.src, e.dst, e.kind, e.quote), (src, dst, kind, orig));
        }
    }

    #[test]
    fn builder_truncates_to_576() {
        let mut big = vec![0u8; 1500];
        big[..20].copy_from_slice(&golden::IPV4_TCP_SYN[..20]);
        let mut out = [0u8; 2000];
        let n = emit_error(
            &mut out,
            Ipv4Addr::LOCALHOST,
            Ipv4Addr::LOCALHOST,
            0,
            ErrorKind::TimeExceeded,
            &big,
        )
        .expect("fits");
        assert_eq!(n, MAX_ERROR_LEN);
        assert_eq!(parse_error(&out[..n]).expect("parses").quote.len(), 548);
        assert!(
            emit_error(
                &mut out[..40],
                Ipv4Addr::LOCALHOST,
                Ipv4Addr::LOCALHOST,
                0,
                ErrorKind::TimeExceeded,
                &big
            )
            .is_none()
        );
    }
}
