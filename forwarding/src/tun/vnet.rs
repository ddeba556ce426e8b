//! The `virtio_net_hdr` that a TUN device opened with `IFF_VNET_HDR` puts in
//! front of every packet it reads and expects in front of every packet
//! written to it: checksum-offload and GSO metadata. Parsing never panics.
//!
//! We use the plain 10-byte `struct virtio_net_hdr` (`TUNSETVNETHDRSZ` = 10,
//! no `num_buffers`). Its 16-bit fields are in the host's native byte order:
//! a TUN device speaks "legacy" virtio, which is native-endian unless
//! `TUNSETVNETLE`/`TUNSETVNETBE` is used, and we never use those. On x86-64
//! and aarch64 that is little-endian.
//!
//! ```text
//!  0        1        2        4         6           8            10
//! +--------+--------+--------+---------+-----------+------------+
//! | flags  |gso_type|hdr_len |gso_size |csum_start |csum_offset |
//! +--------+--------+--------+---------+-----------+------------+
//! ```

/// The TCP/UDP segmentation offload kind of a packet (`gso_type` without
/// its ECN bit, which is kept in [`VnetHdr::ecn`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GsoType {
    /// Not a GSO packet (`VIRTIO_NET_HDR_GSO_NONE`).
    #[default]
    None,
    /// TCP over IPv4 (`VIRTIO_NET_HDR_GSO_TCPV4`).
    TcpV4,
    /// TCP over IPv6 (`VIRTIO_NET_HDR_GSO_TCPV6`).
    TcpV6,
    /// UDP segmentation, IPv4 or IPv6 (`VIRTIO_NET_HDR_GSO_UDP_L4`, USO).
    UdpL4,
    /// Any other value (e.g. 3, the retired UFO), low 7 bits, kept so that
    /// a header round-trips unchanged.
    Unknown(u8),
}

impl GsoType {
    const NONE: u8 = 0;
    const TCPV4: u8 = 1;
    const TCPV6: u8 = 4;
    const UDP_L4: u8 = 5;
    /// `VIRTIO_NET_HDR_GSO_ECN`: the TCP super-packet carries CWR/ECE and
    /// the segmenter must treat CWR per RFC 3168 (first segment only).
    const ECN: u8 = 0x80;

    /// The wire code (low 7 bits of `gso_type`).
    pub fn code(self) -> u8 {
        match self {
            GsoType::None => Self::NONE,
            GsoType::TcpV4 => Self::TCPV4,
            GsoType::TcpV6 => Self::TCPV6,
            GsoType::UdpL4 => Self::UDP_L4,
            GsoType::Unknown(v) => v & !Self::ECN,
        }
    }

    /// Decodes the low 7 bits of `gso_type`.
    pub fn from_code(code: u8) -> GsoType {
        match code & !Self::ECN {
            Self::NONE => GsoType::None,
            Self::TCPV4 => GsoType::TcpV4,
            Self::TCPV6 => GsoType::TcpV6,
            Self::UDP_L4 => GsoType::UdpL4,
            other => GsoType::Unknown(other),
        }
    }
}

/// A decoded `virtio_net_hdr`.
///
/// `VnetHdr::default()` is the all-zero header: no GSO, checksum complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VnetHdr {
    /// `VIRTIO_NET_HDR_F_*` bits: [`VnetHdr::NEEDS_CSUM`], [`VnetHdr::DATA_VALID`].
    pub flags: u8,
    /// The segmentation kind.
    pub gso_type: GsoType,
    /// The ECN bit of `gso_type` (`VIRTIO_NET_HDR_GSO_ECN`).
    pub ecn: bool,
    /// Length of the L3+L4 headers; a hint only (Linux fills in the linear
    /// part's length), the segmenter re-parses the headers.
    pub hdr_len: u16,
    /// Payload bytes per segment (the MSS for TCP).
    pub gso_size: u16,
    /// Where checksumming starts (the L4 header) when `NEEDS_CSUM` is set.
    pub csum_start: u16,
    /// Offset of the checksum field from `csum_start` (16 TCP, 6 UDP).
    pub csum_offset: u16,
}

impl VnetHdr {
    /// Size of the header on the wire (`TUNSETVNETHDRSZ` value).
    pub const LEN: usize = 10;
    /// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the L4 checksum field holds only the
    /// pseudo-header sum; the sum from `csum_start` to the end must be folded in.
    pub const NEEDS_CSUM: u8 = 1;
    /// `VIRTIO_NET_HDR_F_DATA_VALID`: the checksum was already verified.
    pub const DATA_VALID: u8 = 2;

    /// Decodes the first [`VnetHdr::LEN`] bytes of `b`; `None` if shorter.
    pub fn parse(b: &[u8]) -> Option<VnetHdr> {
        let b: &[u8; Self::LEN] = b.get(..Self::LEN)?.try_into().ok()?;
        let u16_at = |at: usize| u16::from_ne_bytes([b[at], b[at + 1]]);
        Some(VnetHdr {
            flags: b[0],
            gso_type: GsoType::from_code(b[1]),
            ecn: b[1] & GsoType::ECN != 0,
            hdr_len: u16_at(2),
            gso_size: u16_at(4),
            csum_start: u16_at(6),
            csum_offset: u16_at(8),
        })
    }

    /// Encodes the header into `out`.
    pub fn emit(&self, out: &mut [u8; Self::LEN]) {
        out[0] = self.flags;
        out[1] = self.gso_type.code() | if self.ecn { GsoType::ECN } else { 0 };
        out[2..4].copy_from_slice(&self.hdr_len.to_ne_bytes());
        out[4..6].copy_from_slice(&self.gso_size.to_ne_bytes());
        out[6..8].copy_from_slice(&self.csum_start.to_ne_bytes());
        out[8..10].copy_from_slice(&self.csum_offset.to_ne_bytes());
    }

    /// The encoded header as an array.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut b = [0u8; Self::LEN];
        self.emit(&mut b);
        b
    }

    /// Whether the L4 checksum is partial (`NEEDS_CSUM`).
    pub fn needs_csum(&self) -> bool {
        self.flags & Self::NEEDS_CSUM != 0
    }

    /// Whether the checksum was already verified (`DATA_VALID`).
    pub fn data_valid(&self) -> bool {
        self.flags & Self::DATA_VALID != 0
    }

    /// `Some(gso_size)` for a GSO super-packet, the form
    /// [`crate::pipeline`] takes; `None` for an ordinary packet.
    pub fn gso(&self) -> Option<u16> {
        match self.gso_type {
            GsoType::None => None,
            _ => Some(self.gso_size),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcpv4_gso_header() {
        let h = VnetHdr {
            flags: VnetHdr::NEEDS_CSUM,
            gso_type: GsoType::TcpV4,
            ecn: false,
            hdr_len: 54,
            gso_size: 1448,
            csum_start: 20,
            csum_offset: 16,
        };
        let b = h.to_bytes();
        assert_eq!(b[0], 1);
        assert_eq!(b[1], 1);
        assert_eq!(u16::from_ne_bytes([b[4], b[5]]), 1448);
        assert_eq!(VnetHdr::parse(&b), Some(h));
        assert_eq!(h.gso(), Some(1448));
        assert!(h.needs_csum() && !h.data_valid());
    }

    #[test]
    fn ecn_bit_is_separate() {
        let mut b = [0u8; VnetHdr::LEN];
        b[1] = 0x80 | 4;
        let h = VnetHdr::parse(&b).expect("10 bytes");
        assert_eq!(h.gso_type, GsoType::TcpV6);
        assert!(h.ecn);
        assert_eq!(h.to_bytes(), b);
    }

    #[test]
    fn zero_header_and_short_input() {
        assert_eq!(VnetHdr::parse(&[0u8; 10]), Some(VnetHdr::default()));
        assert_eq!(VnetHdr::default().gso(), None);
        assert_eq!(VnetHdr::parse(&[0u8; 9]), None);
        assert_eq!(VnetHdr::parse(&[]), None);
    }

    #[test]
    fn unknown_gso_type_survives() {
        let mut b = [0u8; VnetHdr::LEN];
        b[1] = 3; // UFO
        let h = VnetHdr::parse(&b).expect("10 bytes");
        assert_eq!(h.gso_type, GsoType::Unknown(3));
        assert_eq!(h.to_bytes(), b);
    }

    proptest::proptest! {
        #[test]
        fn bytes_round_trip(b in proptest::array::uniform10(proptest::num::u8::ANY)) {
            let h = VnetHdr::parse(&b).expect("10 bytes");
            proptest::prop_assert_eq!(h.to_bytes(), b);
            proptest::prop_assert_eq!(VnetHdr::parse(&h.to_bytes()), Some(h));
        }

        #[test]
        fn parse_never_panics(b in proptest::collection::vec(proptest::num::u8::ANY, 0..32)) {
            let _ = VnetHdr::parse(&b);
        }
    }
}
