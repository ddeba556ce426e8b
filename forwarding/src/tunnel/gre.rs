//! The GRE header codec: RFC 2784 (base header, checksum) with the RFC 2890
//! key and sequence number extensions, for IPv4 and IPv6 payloads.
//!
//! Owns the bytes of the GRE header only: no sockets (see
//! [`gre_socket`](super::gre_socket)), no outer IP header, no per-peer state
//! (sequence counters, key lookup).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |C|R|K|S|s|Recur|  Flags  | Ver |         Protocol Type         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |      Checksum (optional)      |       Reserved1 (Optional)    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         Key (optional)                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 Sequence Number (Optional)                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! What [`decode`] accepts, following Linux (`gre_parse_header`) rather
//! than the letter of RFC 2784 §2.3 ("MUST discard a packet where any of
//! bits 1-5 are non-zero"):
//!
//! - rejected: version != 0 ([`GreError::Version`]; version 1 is PPTP) and
//!   the RFC 1701 routing-present bit R ([`GreError::RoutingPresent`]: its
//!   variable-length routing field cannot be skipped safely);
//! - ignored: the strict source route bit `s`, the recursion control, the
//!   flag bits 8-12 and the Reserved1 field;
//! - checked: a present checksum (C bit) must verify over header and payload.
//!
//! [`encode`] and [`write_header`] always send the ignored bits as zero.

use thiserror::Error;

use crate::wire::checksum;

/// EtherType of an IPv4 payload.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of an IPv6 payload.
pub const ETHERTYPE_IPV6: u16 = 0x86DD;
/// Length of the base header (no optional fields).
pub const MIN_HEADER_LEN: usize = 4;
/// Length of the header with checksum, key and sequence number.
pub const MAX_HEADER_LEN: usize = 16;

/// Bits of the first 16-bit word.
mod flag {
    /// Checksum present (RFC 2784).
    pub const C: u16 = 0x8000;
    /// Routing present (RFC 1701, deprecated by RFC 2784).
    pub const R: u16 = 0x4000;
    /// Key present (RFC 2890).
    pub const K: u16 = 0x2000;
    /// Sequence number present (RFC 2890).
    pub const S: u16 = 0x1000;
    /// Version number.
    pub const VERSION: u16 = 0x0007;
}

/// A decoded GRE header, or one to encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GreHeader {
    /// RFC 2890 key (K bit).
    pub key: Option<u32>,
    /// RFC 2890 sequence number (S bit).
    pub seq: Option<u32>,
    /// Whether the RFC 2784 checksum is present (C bit). [`decode`] has
    /// verified it when true; [`encode`] computes it when true.
    pub checksum: bool,
    /// EtherType of the payload ([`ETHERTYPE_IPV4`], [`ETHERTYPE_IPV6`]).
    pub protocol: u16,
}

/// Why a buffer is not an acceptable GRE packet, or an output buffer is
/// too small.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum GreError {
    /// The buffer ends inside the header its flags announce.
    #[error("GRE header truncated: flags need {need} bytes, packet has {len}")]
    Truncated {
        /// Header length announced by the flags (at least 4).
        need: usize,
        /// Length of the buffer.
        len: usize,
    },
    /// Version field other than 0 (1 is PPTP's enhanced GRE).
    #[error("GRE version {0} not supported (only version 0)")]
    Version(u8),
    /// The RFC 1701 routing-present bit is set.
    #[error("GRE routing present bit set (RFC 1701 source routing not supported)")]
    RoutingPresent,
    /// The checksum over header and payload does not verify.
    #[error("GRE checksum mismatch")]
    BadChecksum,
    /// The payload is neither IPv4 nor IPv6.
    #[error("GRE protocol type {0:#06x} not supported (IPv4 and IPv6 only)")]
    UnsupportedProtocol(u16),
    /// [`write_header`] was given fewer bytes than the header needs.
    #[error("buffer of {len} bytes too short for a {need}-byte GRE header")]
    BufferTooShort {
        /// [`header_len`] of the header to write.
        need: usize,
        /// Length of the given buffer.
        len: usize,
    },
}

/// Length in bytes of `h` on the wire (4 to 16).
pub const fn header_len(h: &GreHeader) -> usize {
    let mut len = MIN_HEADER_LEN;
    if h.checksum {
        len += 4;
    }
    if h.key.is_some() {
        len += 4;
    }
    if h.seq.is_some() {
        len += 4;
    }
    len
}

/// Decodes the GRE packet `buf` (starting at the GRE header) into its
/// header and its payload. See the module doc for what is accepted.
pub fn decode(buf: &[u8]) -> Result<(GreHeader, &[u8]), GreError> {
    let [b0, b1, p0, p1, ..] = *buf else {
        return Err(GreError::Truncated {
            need: MIN_HEADER_LEN,
            len: buf.len(),
        });
    };
    let flags = u16::from_be_bytes([b0, b1]);
    // Invariant: masked to three bits.
    let version = (flags & flag::VERSION) as u8;
    if version != 0 {
        return Err(GreError::Version(version));
    }
    if flags & flag::R != 0 {
        return Err(GreError::RoutingPresent);
    }
    let mut h = GreHeader {
        key: None,
        seq: None,
        checksum: flags & flag::C != 0,
        protocol: u16::from_be_bytes([p0, p1]),
    };
    // Placeholders so that `header_len` counts the announced fields.
    if flags & flag::K != 0 {
        h.key = Some(0);
    }
    if flags & flag::S != 0 {
        h.seq = Some(0);
    }
    let need = header_len(&h);
    let Some((header, payload)) = buf.split_at_checked(need) else {
        return Err(GreError::Truncated {
            need,
            len: buf.len(),
        });
    };
    // Optional 32-bit words after the base header, in wire order.
    let mut words = header[MIN_HEADER_LEN..]
        .chunks_exact(4)
        .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    if h.checksum {
        // Checksum and Reserved1; summing over the stored checksum gives
        // 0xffff (negative zero) exactly when it is right.
        words.next();
        if checksum::sum(buf) != 0xffff {
            return Err(GreError::BadChecksum);
        }
    }
    if h.key.is_some() {
        h.key = words.next();
    }
    if h.seq.is_some() {
        h.seq = words.next();
    }
    if h.protocol != ETHERTYPE_IPV4 && h.protocol != ETHERTYPE_IPV6 {
        return Err(GreError::UnsupportedProtocol(h.protocol));
    }
    Ok((h, payload))
}

/// Appends `h` followed by `payload` to `out`, with the checksum computed
/// when `h.checksum` is set.
pub fn encode(h: &GreHeader, payload: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    let hl = header_len(h);
    out.resize(start + hl, 0);
    out.extend_from_slice(payload);
    // Invariant: `out[start..]` has exactly `hl` header bytes plus payload,
    // so `write_header` cannot fail.
    let _ = write_header(h, &mut out[start..]);
}

/// Writes `h` into the first [`header_len`]`(h)` bytes of `packet`, in front
/// of the payload that fills the rest of `packet`, and returns the header
/// length. With `h.checksum`, the checksum covers all of `packet`, so
/// `packet` must end where the payload ends.
///
/// For headroom: with the payload at `buf[p..end]`, call
/// `write_header(&h, &mut buf[p - header_len(&h)..end])`.
pub fn write_header(h: &GreHeader, packet: &mut [u8]) -> Result<usize, GreError> {
    let hl = header_len(h);
    let len = packet.len();
    let Some(header) = packet.get_mut(..hl) else {
        return Err(GreError::BufferTooShort { need: hl, len });
    };
    let mut flags = 0u16;
    let mut at = MIN_HEADER_LEN;
    let mut csum_at = None;
    if h.checksum {
        flags |= flag::C;
        header[at..at + 4].fill(0);
        csum_at = Some(at);
        at += 4;
    }
    if let Some(key) = h.key {
        flags |= flag::K;
        header[at..at + 4].copy_from_slice(&key.to_be_bytes());
        at += 4;
    }
    if let Some(seq) = h.seq {
        flags |= flag::S;
        header[at..at + 4].copy_from_slice(&seq.to_be_bytes());
    }
    header[0..2].copy_from_slice(&flags.to_be_bytes());
    header[2..4].copy_from_slice(&h.protocol.to_be_bytes());
    if let Some(at) = csum_at {
        let c = checksum::checksum(packet);
        packet[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }
    Ok(hl)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A tcpdump capture (from gopacket's `layers/gre_test.go`, Ethernet
    /// header removed): `IP 192.168.1.1 > 192.168.1.2: GREv0, length 88:
    /// IP 172.16.1.1 > 172.16.2.1: ICMP echo request, id 4724, seq 1`.
    /// Outer IPv4 header (20 bytes), base GRE header (4), inner IPv4 + ICMP.
    static CAPTURED_PLAIN: [u8; 108] = [
        0x45, 0x00, 0x00, 0x6c, 0x84, 0x3c, 0x40, 0x00, 0x40, 0x2f, 0x32, 0xd3, 0xc0, 0xa8, 0x01,
        0x01, 0xc0, 0xa8, 0x01, 0x02, // outer IPv4
        0x00, 0x00, 0x08, 0x00, // GRE: no flags, IPv4
        0x45, 0x00, 0x00, 0x54, 0x04, 0x88, 0x40, 0x00, 0x40, 0x01, 0xda, 0xfe, 0xac, 0x10, 0x01,
        0x01, 0xac, 0x10, 0x02, 0x01, 0x08, 0x00, 0x82, 0xc4, 0x12, 0x74, 0x00, 0x01, 0xc8, 0x92,
        0xa3, 0x54, 0x00, 0x00, 0x00, 0x00, 0x38, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
        0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
        0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e,
        0x2f, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37,
    ];

    /// Written by hand from the RFC 2784/2890 layout: C, K and S set, key
    /// 42, sequence 7, IPv6 protocol, a 6-byte payload. The checksum 0xaa00
    /// was computed with an independent Python RFC 1071 sum.
    static HAND_FULL: [u8; 22] = [
        0xb0, 0x00, 0x86, 0xdd, // C|K|S, version 0, IPv6
        0xaa, 0x00, 0x00, 0x00, // checksum, Reserved1
        0x00, 0x00, 0x00, 0x2a, // key 42
        0x00, 0x00, 0x00, 0x07, // sequence 7
        0x60, 0x00, 0x00, 0x00, 0xbe, 0xef, // payload
    ];

    /// Hand-written: K only, key 0x01020304, IPv4, 2-byte payload.
    static HAND_KEY: [u8; 10] = [0x20, 0x00, 0x08, 0x00, 0x01, 0x02, 0x03, 0x04, 0x45, 0x00];

    fn all_headers() -> Vec<GreHeader> {
        let mut v = Vec::new();
        for checksum in [false, true] {
            for key in [None, Some(0), Some(42), Some(u32::MAX)] {
                for seq in [None, Some(0), Some(1), Some(u32::MAX)] {
                    for protocol in [ETHERTYPE_IPV4, ETHERTYPE_IPV6] {
                        v.push(GreHeader {
                            key,
                            seq,
                            checksum,
                            protocol,
                        });
                    }
                }
            }
        }
        v
    }

    #[test]
    fn captured_plain_decodes_and_reencodes() {
        let gre = &CAPTURED_PLAIN[20..];
        let (h, payload) = decode(gre).expect("decode");
        assert_eq!(
            h,
            GreHeader {
                key: None,
                seq: None,
                checksum: false,
                protocol: ETHERTYPE_IPV4
            }
        );
        assert_eq!(payload, &CAPTURED_PLAIN[24..]);
        let mut out = Vec::new();
        encode(&h, payload, &mut out);
        assert_eq!(out, gre);
    }

    #[test]
    fn hand_written_full_header() {
        let (h, payload) = decode(&HAND_FULL).expect("decode");
        let want = GreHeader {
            key: Some(42),
            seq: Some(7),
            checksum: true,
            protocol: ETHERTYPE_IPV6,
        };
        assert_eq!(h, want);
        assert_eq!(payload, &HAND_FULL[16..]);
        let mut out = Vec::new();
        encode(&want, payload, &mut out);
        assert_eq!(out, HAND_FULL);
    }

    #[test]
    fn hand_written_key_only() {
        let (h, payload) = decode(&HAND_KEY).expect("decode");
        assert_eq!(h.key, Some(0x0102_0304));
        assert_eq!(
            (h.seq, h.checksum, h.protocol),
            (None, false, ETHERTYPE_IPV4)
        );
        assert_eq!(payload, &[0x45, 0x00]);
        let mut out = vec![0xaa];
        encode(&h, payload, &mut out);
        assert_eq!(out[1..], HAND_KEY, "encode appends after existing bytes");
    }

    #[test]
    fn every_combination_round_trips() {
        let payloads: [&[u8]; 3] = [b"", b"\x45", b"\x45\x00\x00\x14odd-length!"];
        for h in all_headers() {
            for payload in payloads {
                let mut out = Vec::new();
                encode(&h, payload, &mut out);
                assert_eq!(out.len(), header_len(&h) + payload.len());
                assert_eq!(decode(&out), Ok((h, payload)), "{h:?}");
            }
        }
    }

    #[test]
    fn write_header_in_headroom() {
        for h in all_headers() {
            let payload = b"\x60\x00\x00\x00inner";
            let headroom = MAX_HEADER_LEN;
            let mut buf = vec![0xee; headroom];
            buf.extend_from_slice(payload);
            let start = headroom - header_len(&h);
            assert_eq!(write_header(&h, &mut buf[start..]), Ok(header_len(&h)));
            let mut want = Vec::new();
            encode(&h, payload, &mut want);
            assert_eq!(buf[start..], want[..]);
        }
    }

    #[test]
    fn write_header_short_buffer() {
        let h = GreHeader {
            key: Some(1),
            seq: None,
            checksum: false,
            protocol: ETHERTYPE_IPV4,
        };
        assert_eq!(
            write_header(&h, &mut [0; 7]),
            Err(GreError::BufferTooShort { need: 8, len: 7 })
        );
    }

    #[test]
    fn rejects() {
        let cases: [(&[u8], GreError); 9] = [
            (&[], GreError::Truncated { need: 4, len: 0 }),
            (&[0, 0, 8], GreError::Truncated { need: 4, len: 3 }),
            (
                &[0x20, 0, 8, 0, 0, 0, 0],
                GreError::Truncated { need: 8, len: 7 },
            ),
            (&[0xb0, 0, 8, 0], GreError::Truncated { need: 16, len: 4 }),
            (&[0, 1, 8, 0], GreError::Version(1)),
            (&[0, 7, 8, 0], GreError::Version(7)),
            (&[0x40, 0, 8, 0, 0, 0, 0, 0], GreError::RoutingPresent),
            (&[0x80, 0, 8, 0, 0, 0, 0, 0], GreError::BadChecksum),
            (&[0, 0, 0x65, 0x58], GreError::UnsupportedProtocol(0x6558)),
        ];
        for (bytes, err) in cases {
            assert_eq!(decode(bytes), Err(err), "{bytes:02x?}");
        }
    }

    #[test]
    fn checksum_detects_payload_corruption() {
        let mut pkt = HAND_FULL;
        pkt[21] ^= 1;
        assert_eq!(decode(&pkt), Err(GreError::BadChecksum));
    }

    #[test]
    fn lenient_bits_are_ignored() {
        // s bit, recursion 7, flags 8-12, Reserved1 non-zero: all ignored,
        // as Linux does. The checksum still covers the bytes as sent.
        let mut pkt = vec![0x8f, 0xf8, 0x08, 0x00, 0, 0, 0xab, 0xcd, 0x45];
        let c = checksum::checksum(&pkt);
        pkt[4..6].copy_from_slice(&c.to_be_bytes());
        let (h, payload) = decode(&pkt).expect("lenient decode");
        assert!(h.checksum);
        assert_eq!((h.key, h.seq, payload), (None, None, &[0x45][..]));
    }

    proptest! {
        #[test]
        fn decode_never_panics(
            mut bytes in proptest::collection::vec(any::<u8>(), 0..64),
            plausible in any::<bool>(),
        ) {
            // Half the inputs get version 0, R clear and an IP protocol, so
            // the optional fields and the checksum are reached too.
            if plausible && bytes.len() >= 4 {
                bytes[0] &= !0x40;
                bytes[1] &= !0x07;
                bytes[2..4].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
            }
            if let Ok((h, payload)) = decode(&bytes) {
                prop_assert_eq!(header_len(&h) + payload.len(), bytes.len());
                let mut out = Vec::new();
                encode(&h, payload, &mut out);
                prop_assert_eq!(decode(&out), Ok((h, payload)));
            }
        }

        #[test]
        fn decode_encode_decode(
            checksum in any::<bool>(),
            key in any::<Option<u32>>(),
            seq in any::<Option<u32>>(),
            v6 in any::<bool>(),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let protocol = if v6 { ETHERTYPE_IPV6 } else { ETHERTYPE_IPV4 };
            let h = GreHeader { key, seq, checksum, protocol };
            let mut out = Vec::new();
            encode(&h, &payload, &mut out);
            prop_assert_eq!(decode(&out), Ok((h, &payload[..])));
        }
    }
}
