//! Zero-copy view of the TCP header (RFC 9293), only as far as MSS clamping
//! needs: ports, flags, data offset, the options walk and an in-place MSS
//! rewrite with an RFC 1624 incremental checksum update.

use super::{WireError, be16, checksum, put16};

/// Field offsets of the TCP header.
pub mod field {
    use core::ops::Range;

    /// Source port.
    pub const SRC_PORT: Range<usize> = 0..2;
    /// Destination port.
    pub const DST_PORT: Range<usize> = 2..4;
    /// Sequence number.
    pub const SEQ: Range<usize> = 4..8;
    /// Acknowledgment number.
    pub const ACK: Range<usize> = 8..12;
    /// Data offset (high nibble).
    pub const DATA_OFF: usize = 12;
    /// Flags (CWR ECE URG ACK PSH RST SYN FIN).
    pub const FLAGS: usize = 13;
    /// Window.
    pub const WINDOW: Range<usize> = 14..16;
    /// Checksum.
    pub const CHECKSUM: Range<usize> = 16..18;
    /// Urgent pointer.
    pub const URGENT: Range<usize> = 18..20;
    /// Start of the options.
    pub const OPTIONS: usize = 20;
}

/// Length of an option-less TCP header.
pub const HEADER_LEN: usize = 20;

/// SYN flag bit.
pub const FLAG_SYN: u8 = 0x02;
/// ACK flag bit.
pub const FLAG_ACK: u8 = 0x10;
/// RST flag bit.
pub const FLAG_RST: u8 = 0x04;

const OPT_END: u8 = 0;
const OPT_NOP: u8 = 1;
const OPT_MSS: u8 = 2;

//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |          Source Port          |       Destination Port        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                        Sequence Number                        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                    Acknowledgment Number                      |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  Data |       |C|E|U|A|P|R|S|F|                               |
// | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
// |       |       |R|E|G|K|H|T|N|N|                               |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |           Checksum            |         Urgent Pointer        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                    Options                    |    Padding    |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

/// A read/write view of a TCP header; `new_checked` guarantees
/// `20 <= header_len() <= buffer.len()`.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking (accessors read zeros past the end).
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps a buffer, checking that the header announced by the data offset fits.
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

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        be16(self.b(), field::SRC_PORT.start)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        be16(self.b(), field::DST_PORT.start)
    }

    /// Header length in bytes (data offset × 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.b().get(field::DATA_OFF).copied().unwrap_or(0) >> 4) * 4
    }

    /// The flags byte.
    pub fn flags(&self) -> u8 {
        self.b().get(field::FLAGS).copied().unwrap_or(0)
    }

    /// SYN flag.
    pub fn syn(&self) -> bool {
        self.flags() & FLAG_SYN != 0
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        be16(self.b(), field::CHECKSUM.start)
    }

    /// The options bytes.
    pub fn options(&self) -> &[u8] {
        self.b()
            .get(field::OPTIONS..self.header_len())
            .unwrap_or(&[])
    }

    /// The MSS option: its value and the offset of the value from the start
    /// of the TCP header. `None` if absent or the options are malformed
    /// before it.
    pub fn mss(&self) -> Option<(u16, usize)> {
        let opts = self.options();
        let mut i = 0;
        while let Some(&kind) = opts.get(i) {
            match kind {
                OPT_END => return None,
                OPT_NOP => i += 1,
                _ => {
                    let len = usize::from(*opts.get(i + 1)?);
                    if len < 2 {
                        return None;
                    }
                    if kind == OPT_MSS {
                        if len != 4 {
                            return None;
                        }
                        let v = opts.get(i + 2..i + 4)?;
                        return Some((u16::from_be_bytes([v[0], v[1]]), field::OPTIONS + i + 2));
                    }
                    i += len;
                }
            }
        }
        None
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM.start, v);
    }

    /// Lowers the MSS option to `limit` if it is larger, patching the checksum
    /// incrementally. Returns the old value if it was rewritten.
    pub fn clamp_mss(&mut self, limit: u16) -> Option<u16> {
        let (old, at) = self.mss()?;
        if old <= limit {
            return None;
        }
        put16(self.buffer.as_mut(), at, limit);
        // The one's-complement sum is over 16-bit words aligned to the TCP
        // header start; a value at an odd offset straddles two words and
        // contributes its byte-swapped value.
        let (o, n) = if at % 2 == 0 {
            (old, limit)
        } else {
            (old.swap_bytes(), limit.swap_bytes())
        };
        let c = checksum::update_u16(self.checksum(), o, n);
        self.set_checksum(c);
        Some(old)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{golden, ipv4, ipv6, proto};
    use core::net::{Ipv4Addr, Ipv6Addr};

    fn v4_tcp_ok(pkt: &[u8]) -> bool {
        let ip = ipv4::Packet::new_checked(pkt).expect("ip");
        let seg = ip.payload();
        let ph =
            checksum::pseudo_header_v4(ip.src_addr(), ip.dst_addr(), proto::TCP, seg.len() as u16);
        checksum::combine(ph, checksum::sum(seg)) == 0xffff
    }

    /// Completes the CHECKSUM_PARTIAL TCP checksum of a captured segment.
    fn complete(seg: &mut [u8], pseudo: u16) {
        seg[16..18].copy_from_slice(&[0, 0]);
        let c = !checksum::combine(pseudo, checksum::sum(seg));
        seg[16..18].copy_from_slice(&c.to_be_bytes());
    }

    fn golden_v4_syn() -> [u8; 60] {
        let mut b = golden::IPV4_TCP_SYN;
        let ph =
            checksum::pseudo_header_v4(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, proto::TCP, 40);
        complete(&mut b[20..], ph);
        b
    }

    #[test]
    fn decode_golden_syn() {
        let p = Packet::new_checked(&golden::IPV4_TCP_SYN[20..]).expect("tcp");
        assert_eq!(p.src_port(), 50120);
        assert_eq!(p.dst_port(), 59425);
        assert_eq!(p.header_len(), 40);
        assert!(p.syn());
        assert_eq!(p.flags(), FLAG_SYN);
        assert_eq!(p.mss(), Some((65495, 22)));
        // Captured on lo: the field is the partial (pseudo-header) sum.
        let ph =
            checksum::pseudo_header_v4(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, proto::TCP, 40);
        assert_eq!(p.checksum(), ph);
        assert!(v4_tcp_ok(&golden_v4_syn()));
        assert_eq!(
            ipv4::Packet::new_unchecked(&golden::IPV4_TCP_SYN[..]).src_addr(),
            Ipv4Addr::LOCALHOST
        );
    }

    #[test]
    fn clamp_golden_in_place_v4() {
        let mut buf = golden_v4_syn();
        let mut p = Packet::new_checked(&mut buf[20..]).expect("tcp");
        assert_eq!(p.clamp_mss(1460), Some(65495));
        assert_eq!(p.mss(), Some((1460, 22)));
        assert_eq!(p.clamp_mss(1460), None);
        assert!(v4_tcp_ok(&buf));
    }

    #[test]
    fn clamp_golden_in_place_v6() {
        let mut buf = golden::IPV6_TCP_SYN;
        let ph =
            checksum::pseudo_header_v6(Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST, proto::TCP, 40);
        assert_eq!(Packet::new_checked(&buf[40..]).expect("tcp").checksum(), ph);
        complete(&mut buf[40..], ph);
        let mut p = Packet::new_checked(&mut buf[40..]).expect("tcp");
        assert_eq!(p.mss(), Some((65476, 22)));
        assert_eq!(p.clamp_mss(1440), Some(65476));
        assert_eq!(checksum::combine(ph, checksum::sum(&buf[40..])), 0xffff);
        let ip = ipv6::Packet::new_checked(&buf[..]).expect("ip");
        assert_eq!(ip.payload_len(), 40);
    }

    #[test]
    fn clamp_at_odd_offset() {
        // NOP then MSS: the value sits at offset 23 (odd).
        let mut buf = golden::IPV4_TCP_SYN;
        let opts = [1u8, 2, 4, 0x05, 0xb4, 1, 1, 1];
        buf[20 + 12] = 0x70; // data offset 7 words = 28 bytes
        buf[40..48].copy_from_slice(&opts);
        buf[2..4].copy_from_slice(&48u16.to_be_bytes());
        let mut ip = ipv4::Packet::new_checked(&mut buf[..48]).expect("ip");
        ip.fill_checksum();
        let mut t = Packet::new_checked(&mut buf[20..48]).expect("tcp");
        t.set_checksum(0);
        let ph =
            checksum::pseudo_header_v4(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, proto::TCP, 28);
        let c = !checksum::combine(ph, checksum::sum(&buf[20..48]));
        let mut t = Packet::new_checked(&mut buf[20..48]).expect("tcp");
        t.set_checksum(c);
        assert_eq!(t.mss(), Some((1460, 23)));
        assert_eq!(t.clamp_mss(1400), Some(1460));
        assert!(v4_tcp_ok(&buf[..48]));
    }

    #[test]
    fn malformed_options_never_panic() {
        let mut buf = [0u8; 24];
        buf[12] = 0x60;
        for opts in [
            [2u8, 0, 0, 0],
            [2, 3, 0, 0],
            [3, 1, 0, 0],
            [2, 4, 0x05, 0xb4],
        ] {
            buf[20..24].copy_from_slice(&opts);
            let mut p = Packet::new_checked(&mut buf[..]).expect("tcp");
            let _ = p.mss();
            let _ = p.clamp_mss(100);
        }
        assert_eq!(
            Packet::new_checked(&buf[..23]).err(),
            Some(WireError::Truncated)
        );
    }
}
