//! Tests of [`super::split`] and [`super::finish_checksum`]: hand-built
//! super-packets shaped like Linux's (partial checksum holding the
//! pseudo-header sum), checked segment by segment, plus never-panic
//! properties on arbitrary and mutated input.

use core::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;
use crate::wire::golden;

const SRC4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const DST4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const SRC6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
const DST6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
const SEQ: u32 = 0xffff_f000; // wraps within a few segments
const IDENT: u16 = 0xfffe; // wraps too
const ACK_PSH_FIN_CWR: u8 = 0x10 | TCP_PSH | TCP_FIN | TCP_CWR;

/// How to build a test super-packet.
#[derive(Debug, Clone, Copy)]
struct Shape {
    v6: bool,
    udp: bool,
    /// IPv6 only: put an 8-byte destination-options header before L4.
    ext_hdr: bool,
    payload_len: usize,
    mss: u16,
}

/// Byte `i` of the test payload.
fn payload_byte(i: usize) -> u8 {
    (i * 7 + i / 251) as u8
}

/// Builds a super-packet and its vnet header the way Linux hands one to a
/// TUN reader: lengths for the whole packet, L4 checksum field holding the
/// (non-inverted) pseudo-header sum, `NEEDS_CSUM`.
fn build(s: Shape) -> (Vec<u8>, VnetHdr) {
    let l3_len = if s.v6 {
        40 + if s.ext_hdr { 8 } else { 0 }
    } else {
        20
    };
    let l4_hdr = if s.udp { 8 } else { 32 };
    let l4_len = l4_hdr + s.payload_len;
    let mut p = vec![0u8; l3_len + l4_len];
    let protocol = if s.udp { proto::UDP } else { proto::TCP };
    if s.v6 {
        p[0] = 0x60;
        p[4..6].copy_from_slice(&((l3_len - 40 + l4_len) as u16).to_be_bytes());
        p[6] = if s.ext_hdr {
            proto::DEST_OPTS
        } else {
            protocol
        };
        p[7] = 64;
        p[8..24].copy_from_slice(&SRC6.octets());
        p[24..40].copy_from_slice(&DST6.octets());
        if s.ext_hdr {
            p[40] = protocol; // next header; length 0 = 8 bytes; PadN follows
            p[42] = 1;
            p[43] = 4;
        }
    } else {
        p[0] = 0x45;
        p[2..4].copy_from_slice(&((20 + l4_len) as u16).to_be_bytes());
        p[4..6].copy_from_slice(&IDENT.to_be_bytes());
        p[6] = 0x40; // DF
        p[8] = 64;
        p[9] = protocol;
        p[12..16].copy_from_slice(&SRC4.octets());
        p[16..20].copy_from_slice(&DST4.octets());
        ipv4::Packet::new_unchecked(&mut p[..]).fill_checksum();
    }
    let l4 = &mut p[l3_len..];
    l4[0..2].copy_from_slice(&40000u16.to_be_bytes());
    l4[2..4].copy_from_slice(&443u16.to_be_bytes());
    if s.udp {
        l4[4..6].copy_from_slice(&(l4_len as u16).to_be_bytes());
    } else {
        l4[4..8].copy_from_slice(&SEQ.to_be_bytes());
        l4[8..12].copy_from_slice(&1u32.to_be_bytes());
        l4[12] = 8 << 4; // 32-byte header
        l4[13] = ACK_PSH_FIN_CWR;
        l4[14..16].copy_from_slice(&512u16.to_be_bytes());
        l4[20..24].copy_from_slice(&[1, 1, 8, 10]); // NOP NOP TS
        l4[24..28].copy_from_slice(&0x0102_0304u32.to_be_bytes());
    }
    for (i, b) in l4[l4_hdr..].iter_mut().enumerate() {
        *b = payload_byte(i);
    }
    let pseudo = if s.v6 {
        checksum::pseudo_header_v6(SRC6, DST6, protocol, l4_len as u32)
    } else {
        checksum::pseudo_header_v4(SRC4, DST4, protocol, l4_len as u16)
    };
    let csum_offset: u16 = if s.udp { 6 } else { 16 };
    l4[usize::from(csum_offset)..usize::from(csum_offset) + 2]
        .copy_from_slice(&pseudo.to_be_bytes());
    let hdr = VnetHdr {
        flags: VnetHdr::NEEDS_CSUM,
        gso_type: match (s.udp, s.v6) {
            (true, _) => GsoType::UdpL4,
            (false, false) => GsoType::TcpV4,
            (false, true) => GsoType::TcpV6,
        },
        ecn: false,
        hdr_len: (l3_len + l4_hdr) as u16,
        gso_size: s.mss,
        csum_start: l3_len as u16,
        csum_offset,
    };
    (p, hdr)
}

/// Splits and returns copies of the segments.
fn segments(pkt: &[u8], hdr: &VnetHdr) -> Result<Vec<Vec<u8>>, GsoError> {
    let mut segs = Vec::new();
    let mut scratch = Vec::new();
    let n = split(pkt, hdr, &mut scratch, |s| segs.push(s.to_vec()))?;
    assert_eq!(n, segs.len());
    Ok(segs)
}

/// Whether the TCP/UDP checksum of a segment verifies.
fn l4_checksum_ok(seg: &[u8], v6: bool, l4_off: usize, protocol: u8) -> bool {
    let l4_len = seg.len() - l4_off;
    let pseudo = if v6 {
        checksum::pseudo_header_v6(SRC6, DST6, protocol, l4_len as u32)
    } else {
        checksum::pseudo_header_v4(SRC4, DST4, protocol, l4_len as u16)
    };
    checksum::combine(pseudo, checksum::sum(&seg[l4_off..])) == 0xffff
}

/// Checks every segment of `s` against the rules of [`split`] and returns
/// the concatenated payload.
fn check_segments(s: Shape) -> Vec<u8> {
    let (pkt, hdr) = build(s);
    let segs = segments(&pkt, &hdr).expect("valid super-packet");
    let mss = usize::from(s.mss);
    assert_eq!(segs.len(), s.payload_len.div_ceil(mss).max(1));
    let l4_off = usize::from(hdr.csum_start);
    let headers = usize::from(hdr.hdr_len);
    let protocol = if s.udp { proto::UDP } else { proto::TCP };
    let mut joined = Vec::new();
    for (i, seg) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        let data = &seg[headers..];
        assert!(data.len() <= mss);
        if !last {
            assert_eq!(data.len(), mss, "only the last segment is short");
        }
        if s.v6 {
            let ip = ipv6::Packet::new_checked(&seg[..]).expect("ipv6");
            assert_eq!(usize::from(ip.payload_len()), seg.len() - 40);
        } else {
            let ip = ipv4::Packet::new_checked(&seg[..]).expect("ipv4");
            assert_eq!(usize::from(ip.total_len()), seg.len());
            assert_eq!(ip.ident(), IDENT.wrapping_add(i as u16));
            assert!(ip.verify_checksum(), "segment {i} IPv4 header checksum");
            assert!(ip.dont_frag());
        }
        let l4 = &seg[l4_off..];
        if s.udp {
            assert_eq!(usize::from(be16(l4, 4)), l4.len());
        } else {
            let seq = SEQ.wrapping_add((i * mss) as u32);
            assert_eq!(be32(l4, 4), seq, "segment {i} seq");
            let flags = l4[13];
            assert_eq!(flags & 0x10, 0x10, "ACK kept");
            assert_eq!(flags & (TCP_FIN | TCP_PSH) != 0, last, "FIN/PSH last only");
            assert_eq!(flags & TCP_CWR != 0, i == 0, "CWR first only");
            assert_eq!(&l4[20..28], &[1, 1, 8, 10, 1, 2, 3, 4], "options copied");
        }
        assert!(
            l4_checksum_ok(seg, s.v6, l4_off, protocol),
            "segment {i} L4 checksum"
        );
        joined.extend_from_slice(data);
    }
    joined
}

fn expected_payload(len: usize) -> Vec<u8> {
    (0..len).map(payload_byte).collect()
}

#[test]
fn tcpv4_three_segments() {
    let s = Shape {
        v6: false,
        udp: false,
        ext_hdr: false,
        payload_len: 1448 * 2 + 500,
        mss: 1448,
    };
    assert_eq!(check_segments(s), expected_payload(s.payload_len));
}

#[test]
fn tcpv6_three_segments() {
    let s = Shape {
        v6: true,
        udp: false,
        ext_hdr: false,
        payload_len: 1428 * 3,
        mss: 1428,
    };
    assert_eq!(check_segments(s), expected_payload(s.payload_len));
}

#[test]
fn tcpv6_with_extension_header() {
    let s = Shape {
        v6: true,
        udp: false,
        ext_hdr: true,
        payload_len: 3000,
        mss: 1200,
    };
    assert_eq!(check_segments(s), expected_payload(s.payload_len));
}

#[test]
fn udp_uso_v4_and_v6() {
    for v6 in [false, true] {
        let s = Shape {
            v6,
            udp: true,
            ext_hdr: false,
            payload_len: 1000 * 3 - 1,
            mss: 1000,
        };
        assert_eq!(check_segments(s), expected_payload(s.payload_len));
    }
}

#[test]
fn single_segment_and_empty_payload() {
    for payload_len in [0, 10, 1448] {
        let s = Shape {
            v6: false,
            udp: false,
            ext_hdr: false,
            payload_len,
            mss: 1448,
        };
        assert_eq!(check_segments(s), expected_payload(payload_len));
    }
}

#[test]
fn non_gso_packet_gets_its_checksum_finished() {
    let pkt = golden::IPV4_TCP_SYN;
    let hdr = VnetHdr {
        flags: VnetHdr::NEEDS_CSUM,
        csum_start: 20,
        csum_offset: 16,
        ..VnetHdr::default()
    };
    let segs = segments(&pkt, &hdr).expect("one packet");
    assert_eq!(segs.len(), 1);
    let ph = checksum::pseudo_header_v4(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, proto::TCP, 40);
    assert_eq!(checksum::combine(ph, checksum::sum(&segs[0][20..])), 0xffff);

    let mut v6 = golden::IPV6_TCP_SYN;
    let hdr6 = VnetHdr {
        csum_start: 40,
        ..hdr
    };
    finish_checksum(&mut v6, &hdr6).expect("in bounds");
    let ph = checksum::pseudo_header_v6(Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST, proto::TCP, 40);
    assert_eq!(checksum::combine(ph, checksum::sum(&v6[40..])), 0xffff);
}

#[test]
fn complete_packet_passes_unchanged() {
    let pkt = golden::IPV4_ICMP_ECHO;
    let segs = segments(&pkt, &VnetHdr::default()).expect("one packet");
    assert_eq!(segs, vec![pkt.to_vec()]);
}

#[test]
fn errors() {
    let shape = Shape {
        v6: false,
        udp: false,
        ext_hdr: false,
        payload_len: 3000,
        mss: 1000,
    };
    let (pkt, hdr) = build(shape);
    let err = |h: VnetHdr, p: &[u8]| segments(p, &h).expect_err("must fail");
    assert_eq!(
        err(VnetHdr { gso_size: 0, ..hdr }, &pkt),
        GsoError::ZeroGsoSize
    );
    let ufo = GsoType::Unknown(3);
    assert_eq!(
        err(
            VnetHdr {
                gso_type: ufo,
                ..hdr
            },
            &pkt
        ),
        GsoError::Unsupported(3)
    );
    let v6 = GsoType::TcpV6;
    assert_eq!(
        err(
            VnetHdr {
                gso_type: v6,
                ..hdr
            },
            &pkt
        ),
        GsoError::Mismatch(v6)
    );
    let udp = GsoType::UdpL4;
    assert_eq!(
        err(
            VnetHdr {
                gso_type: udp,
                ..hdr
            },
            &pkt
        ),
        GsoError::Mismatch(udp)
    );
    let mut frag = pkt.clone();
    frag[6] = 0x20; // MF
    assert_eq!(err(hdr, &frag), GsoError::Fragment);
    assert_eq!(err(hdr, &pkt[..30]), GsoError::BadL4Header);
    assert_eq!(err(hdr, &pkt[..10]), GsoError::BadIpHeader);
    assert_eq!(err(hdr, &[]), GsoError::BadIpHeader);
    let far = VnetHdr {
        flags: VnetHdr::NEEDS_CSUM,
        csum_start: 60,
        csum_offset: 16,
        ..VnetHdr::default()
    };
    assert!(matches!(
        finish_checksum(&mut pkt[..70].to_vec(), &far),
        Err(GsoError::ChecksumOutOfBounds { .. })
    ));
}

fn any_hdr() -> impl Strategy<Value = VnetHdr> {
    (
        proptest::array::uniform10(any::<u8>()),
        0u16..2000,
        0u16..100,
    )
        .prop_map(|(b, size, start)| {
            let mut h = VnetHdr::parse(&b).unwrap_or_default();
            // Bias towards plausible values so deeper paths run.
            h.gso_size = size;
            h.csum_start = start;
            h.csum_offset %= 32;
            h
        })
}

fn any_shape() -> impl Strategy<Value = Shape> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        0usize..6000,
        1u16..2000,
    )
        .prop_map(|(v6, udp, ext_hdr, payload_len, mss)| Shape {
            v6,
            udp,
            ext_hdr: ext_hdr && v6,
            payload_len,
            mss,
        })
}

proptest! {
    #[test]
    fn split_never_panics(pkt in proptest::collection::vec(any::<u8>(), 0..3000), hdr in any_hdr()) {
        let mut scratch = Vec::new();
        let mut total = 0usize;
        if let Ok(n) = split(&pkt, &hdr, &mut scratch, |s| total += s.len()) {
            prop_assert!(n >= 1);
        }
        let mut p = pkt.clone();
        let _ = finish_checksum(&mut p, &hdr);
    }

    #[test]
    fn mutated_super_packets_never_panic(
        shape in any_shape(),
        edits in proptest::collection::vec((0usize..120, any::<u8>()), 1..6),
        cut in 0usize..8000,
    ) {
        let (mut pkt, hdr) = build(shape);
        for (at, v) in edits {
            if let Some(b) = pkt.get_mut(at) {
                *b = v;
            }
        }
        pkt.truncate(cut);
        let mut scratch = Vec::new();
        let _ = split(&pkt, &hdr, &mut scratch, |_| {});
    }

    #[test]
    fn valid_super_packets_reassemble(shape in any_shape()) {
        prop_assert_eq!(check_segments(shape), expected_payload(shape.payload_len));
    }
}
