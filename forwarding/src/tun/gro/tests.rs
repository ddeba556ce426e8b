//! Tests of [`super::Coalescer`]: coalescing then segmenting with
//! [`crate::tun::gso::split`] gives back the input, byte for byte; every
//! "never coalesce" case stays separate; super-packets carry the partial
//! checksum Linux expects; arbitrary input never panics.

use core::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;
use crate::tun::gso::split;
use crate::wire::{ipv4, put32};

const SRC4: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 10);
const DST4: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 10);
const SRC6: Ipv6Addr = Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 10);
const DST6: Ipv6Addr = Ipv6Addr::new(0xfd00, 2, 0, 0, 0, 0, 0, 10);
/// FIN, SYN, RST, URG: never in a super-packet.
const NEVER: [u8; 4] = [0x01, 0x02, 0x04, 0x20];

/// One TCP segment to build.
#[derive(Debug, Clone, Copy)]
struct Seg {
    v6: bool,
    sport: u16,
    seq: u32,
    ident: u16,
    flags: u8,
    payload: usize,
    ttl: u8,
    tos: u8,
    window: u16,
    /// Timestamp option value (12 bytes of options: NOP NOP TS).
    tsval: u32,
}

impl Seg {
    fn new(v6: bool, seq: u32, payload: usize) -> Seg {
        Seg {
            v6,
            sport: 40000,
            seq,
            ident: (seq / 1000) as u16,
            flags: TCP_ACK,
            payload,
            ttl: 63,
            tos: 0,
            window: 512,
            tsval: 7,
        }
    }

    /// The next segment of the same flow.
    fn next(self, payload: usize) -> Seg {
        Seg {
            seq: self.seq.wrapping_add(self.payload as u32),
            ident: self.ident.wrapping_add(1),
            payload,
            ..self
        }
    }
}

/// A complete IP packet with a valid TCP checksum.
fn build(s: Seg) -> Vec<u8> {
    let ip_hlen = if s.v6 { 40 } else { 20 };
    let tcp_len = 32 + s.payload;
    let mut p = vec![0u8; ip_hlen + tcp_len];
    if s.v6 {
        p[0] = 0x60 | (s.tos >> 4);
        p[1] = s.tos << 4;
        put16(&mut p, 4, tcp_len as u16);
        p[6] = proto::TCP;
        p[7] = s.ttl;
        p[8..24].copy_from_slice(&SRC6.octets());
        p[24..40].copy_from_slice(&DST6.octets());
    } else {
        p[0] = 0x45;
        p[1] = s.tos;
        put16(&mut p, 2, (20 + tcp_len) as u16);
        put16(&mut p, 4, s.ident);
        p[6] = 0x40;
        p[8] = s.ttl;
        p[9] = proto::TCP;
        p[12..16].copy_from_slice(&SRC4.octets());
        p[16..20].copy_from_slice(&DST4.octets());
        ipv4::Packet::new_unchecked(&mut p[..]).fill_checksum();
    }
    let t = &mut p[ip_hlen..];
    put16(t, 0, s.sport);
    put16(t, 2, 5201);
    put32(t, 4, s.seq);
    put32(t, 8, 99);
    t[12] = 8 << 4;
    t[13] = s.flags;
    put16(t, 14, s.window);
    t[20..24].copy_from_slice(&[1, 1, 8, 10]);
    put32(t, 24, s.tsval);
    put32(t, 28, 3);
    for (i, b) in t[32..].iter_mut().enumerate() {
        *b = (s.seq as usize + i) as u8;
    }
    let pseudo = if s.v6 {
        checksum::pseudo_header_v6(SRC6, DST6, proto::TCP, tcp_len as u32)
    } else {
        checksum::pseudo_header_v4(SRC4, DST4, proto::TCP, tcp_len as u16)
    };
    let c = !checksum::combine(pseudo, checksum::sum(t));
    put16(t, 16, c);
    p
}

/// What one push/flush run wrote: (header, bytes) per write.
fn run(pkts: &[Vec<u8>]) -> Vec<(Option<VnetHdr>, Vec<u8>)> {
    run_with(Coalescer::new(), pkts)
}

/// As [`run`] with coalescer `c`.
fn run_with(mut c: Coalescer, pkts: &[Vec<u8>]) -> Vec<(Option<VnetHdr>, Vec<u8>)> {
    let mut stats = CoalesceStats::default();
    let mut writes = Vec::new();
    let mut out = |h: Option<&VnetHdr>, b: &[u8]| writes.push((h.copied(), b.to_vec()));
    for p in pkts {
        c.push(p, &mut stats, &mut out);
    }
    c.flush(&mut stats, &mut out);
    assert!(c.is_empty());
    assert_eq!(stats.writes as usize, writes.len());
    writes
}

/// The packets the writes stand for, super-packets split again.
fn resegment(writes: &[(Option<VnetHdr>, Vec<u8>)]) -> Vec<Vec<u8>> {
    let mut segs = Vec::new();
    let mut scratch = Vec::new();
    for (h, b) in writes {
        match h {
            Some(h) => {
                split(b, h, &mut scratch, |s| segs.push(s.to_vec())).expect("splits");
            }
            None => segs.push(b.clone()),
        }
    }
    segs
}

/// A stream of `n` full segments and a short last one.
fn stream(v6: bool, n: usize) -> Vec<Seg> {
    let mut s = vec![Seg::new(v6, 0xffff_f000, 1380)];
    for _ in 1..n {
        let last = *s.last().expect("one");
        s.push(last.next(1380));
    }
    let last = *s.last().expect("one");
    s.push(last.next(200));
    s
}

#[test]
fn a_bulk_stream_becomes_one_super_packet_and_splits_back_byte_for_byte() {
    for v6 in [false, true] {
        let pkts: Vec<Vec<u8>> = stream(v6, 20).into_iter().map(build).collect();
        let writes = run(&pkts);
        assert_eq!(writes.len(), 1, "v6={v6}");
        let (h, b) = &writes[0];
        let h = h.expect("a super-packet");
        assert_eq!(h.gso_size, 1380);
        assert_eq!(h.gso_type, if v6 { GsoType::TcpV6 } else { GsoType::TcpV4 });
        assert!(h.needs_csum());
        let ip_hlen = if v6 { 40 } else { 20 };
        assert_eq!(usize::from(h.csum_start), ip_hlen);
        assert_eq!(usize::from(h.hdr_len), ip_hlen + 32);
        assert_eq!(b.len(), ip_hlen + 32 + 20 * 1380 + 200);
        if !v6 {
            let ip = ipv4::Packet::new_checked(&b[..]).expect("ipv4");
            assert!(ip.verify_checksum(), "IPv4 header checksum");
            assert_eq!(usize::from(ip.total_len()), b.len());
        }
        assert_eq!(resegment(&writes), pkts, "v6={v6}");
    }
}

#[test]
fn the_partial_checksum_completes_to_a_valid_one() {
    for v6 in [false, true] {
        let pkts: Vec<Vec<u8>> = stream(v6, 3).into_iter().map(build).collect();
        let writes = run(&pkts);
        let (h, b) = &writes[0];
        let mut b = b.clone();
        crate::tun::gso::finish_checksum(&mut b, &h.expect("super")).expect("finishes");
        let seg = parse_tcp(&b);
        assert!(checksum_valid(&b, &seg), "v6={v6}");
    }
}

fn parse_tcp(p: &[u8]) -> Segment {
    match parse(p) {
        Parsed::Tcp(s) => s,
        _ => panic!("not a TCP segment"),
    }
}

/// Pushes `a` then `b` and checks they came out as two writes, unchanged.
fn stays_apart(a: Seg, b: Seg, why: &str) {
    let pkts = vec![build(a), build(b)];
    let writes = run(&pkts);
    assert_eq!(writes.len(), 2, "{why}");
    assert!(writes.iter().all(|(h, _)| h.is_none()), "{why}");
    assert_eq!(resegment(&writes), pkts, "{why}: order and bytes kept");
}

#[test]
fn never_coalesces_what_linux_would_not() {
    for v6 in [false, true] {
        let a = Seg::new(v6, 1000, 1000);
        let b = a.next(1000);
        stays_apart(
            a,
            Seg {
                seq: b.seq + 1,
                ..b
            },
            "gap in sequence",
        );
        stays_apart(a, Seg { seq: a.seq, ..b }, "retransmission");
        for f in NEVER {
            stays_apart(
                a,
                Seg {
                    flags: TCP_ACK | f,
                    ..b
                },
                "FIN/SYN/RST/URG",
            );
        }
        stays_apart(
            a,
            Seg {
                flags: TCP_ACK | 0x40,
                ..b
            },
            "ECE",
        );
        stays_apart(
            a,
            Seg {
                flags: TCP_ACK | 0x80,
                ..b
            },
            "CWR",
        );
        stays_apart(a, Seg { ttl: 62, ..b }, "differing TTL");
        stays_apart(a, Seg { tos: 0x02, ..b }, "differing TOS (ECN)");
        stays_apart(a, Seg { window: 1, ..b }, "differing window");
        stays_apart(a, Seg { tsval: 8, ..b }, "differing options");
        stays_apart(a, Seg { payload: 1001, ..b }, "longer than the first");
        stays_apart(
            Seg {
                flags: TCP_ACK | TCP_PSH,
                ..a
            },
            b,
            "PSH ends it",
        );
        stays_apart(a.next(0), a.next(0).next(0), "pure ACKs");
        if !v6 {
            stays_apart(
                a,
                Seg {
                    ident: b.ident + 5,
                    ..b
                },
                "IP ID jump",
            );
        }
        let mut bad = build(b);
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        let pkts = vec![build(a), bad];
        assert_eq!(run(&pkts).len(), 2, "bad checksum");
    }
}

#[test]
fn a_short_or_psh_segment_ends_the_super_packet() {
    let a = Seg::new(false, 0, 1000);
    let b = a.next(500);
    let c = b.next(1000);
    let writes = run(&[build(a), build(b), build(c)]);
    assert_eq!(writes.len(), 2);
    assert!(writes[0].0.is_some());
    let pushed = Seg {
        flags: TCP_ACK | TCP_PSH,
        ..a.next(1000)
    };
    let pkts = vec![build(a), build(pushed), build(pushed.next(1000))];
    let writes = run(&pkts);
    assert_eq!(writes.len(), 2);
    assert_eq!(resegment(&writes), pkts);
}

#[test]
fn flows_interleaved_are_coalesced_each_and_kept_in_order() {
    let a = stream(false, 5);
    let b: Vec<Seg> = stream(true, 5)
        .into_iter()
        .map(|s| Seg { sport: 40001, ..s })
        .collect();
    let mut pkts = Vec::new();
    for (x, y) in a.iter().zip(&b) {
        pkts.push(build(*x));
        pkts.push(build(*y));
    }
    pkts.push(vec![0x45, 0, 0, 20]); // not TCP: written at once
    let writes = run(&pkts);
    assert_eq!(writes.len(), 3);
    let segs = resegment(&writes);
    let v4: Vec<_> = pkts
        .iter()
        .filter(|p| p[0] >> 4 == 4 && p.len() > 20)
        .cloned()
        .collect();
    let got4: Vec<_> = segs
        .iter()
        .filter(|p| p[0] >> 4 == 4 && p.len() > 20)
        .cloned()
        .collect();
    assert_eq!(got4, v4);
}

#[test]
fn tcp_that_cannot_be_examined_flushes_held_flows_first() {
    let a = Seg::new(false, 0, 1000);
    let mut opts = build(a.next(1000));
    opts[0] = 0x46; // claims IPv4 options
    let pkts = vec![build(a), opts.clone()];
    let writes = run(&pkts);
    assert_eq!(writes.len(), 2);
    assert_eq!(writes[1].1, opts);
}

#[test]
fn the_segment_and_size_limits_hold() {
    let writes = run(&stream(false, 100)
        .into_iter()
        .map(build)
        .collect::<Vec<_>>());
    for (h, b) in &writes {
        assert!(b.len() <= MAX_LEN);
        if let Some(h) = h {
            assert!((b.len() - 52).div_ceil(usize::from(h.gso_size)) <= usize::from(MAX_SEGMENTS));
        }
    }
    assert!(writes.len() >= 2);
}

proptest! {
    #[test]
    fn push_never_panics_and_keeps_every_byte(
        pkts in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 0..20)
    ) {
        let writes = run(&pkts);
        let total_in: usize = pkts.iter().map(Vec::len).sum();
        let total_out: usize = writes.iter().map(|(_, b)| b.len()).sum();
        // Nothing random coalesces (checksums fail), so bytes are equal.
        prop_assert_eq!(total_in, total_out);
    }

    #[test]
    fn any_cut_of_a_stream_resegments_to_itself(
        lens in prop::collection::vec(1usize..1400, 1..40),
        v6 in any::<bool>(),
        drop_at in any::<prop::sample::Index>(),
    ) {
        let mut segs = vec![Seg::new(v6, 0xffff_0000, lens[0])];
        for &l in &lens[1..] {
            let last = *segs.last().expect("one");
            segs.push(last.next(l));
        }
        let mut pkts: Vec<Vec<u8>> = segs.into_iter().map(build).collect();
        // A gap somewhere.
        if pkts.len() > 2 {
            pkts.remove(drop_at.index(pkts.len()));
        }
        let writes = run(&pkts);
        prop_assert_eq!(resegment(&writes), pkts);
    }
}

/// A UDP datagram of `payload` bytes, IPv4 ID `ident`, valid checksum.
fn build_udp(v6: bool, ident: u16, payload: usize, sport: u16) -> Vec<u8> {
    let ip_hlen = if v6 { 40 } else { 20 };
    let udp_len = 8 + payload;
    let mut p = vec![0u8; ip_hlen + udp_len];
    if v6 {
        p[0] = 0x60;
        put16(&mut p, 4, udp_len as u16);
        p[6] = proto::UDP;
        p[7] = 63;
        p[8..24].copy_from_slice(&SRC6.octets());
        p[24..40].copy_from_slice(&DST6.octets());
    } else {
        p[0] = 0x45;
        put16(&mut p, 2, (20 + udp_len) as u16);
        put16(&mut p, 4, ident);
        p[8] = 63;
        p[9] = proto::UDP;
        p[12..16].copy_from_slice(&SRC4.octets());
        p[16..20].copy_from_slice(&DST4.octets());
        ipv4::Packet::new_unchecked(&mut p[..]).fill_checksum();
    }
    let u = &mut p[ip_hlen..];
    put16(u, 0, sport);
    put16(u, 2, 5201);
    put16(u, 4, udp_len as u16);
    for (i, b) in u[8..].iter_mut().enumerate() {
        *b = (usize::from(ident) + i) as u8;
    }
    let pseudo = if v6 {
        checksum::pseudo_header_v6(SRC6, DST6, proto::UDP, udp_len as u32)
    } else {
        checksum::pseudo_header_v4(SRC4, DST4, proto::UDP, udp_len as u16)
    };
    let c = !checksum::combine(pseudo, checksum::sum(u));
    put16(u, 6, if c == 0 { 0xffff } else { c });
    p
}

fn run_udp(pkts: &[Vec<u8>]) -> Vec<(Option<VnetHdr>, Vec<u8>)> {
    run_with(Coalescer::with_udp(), pkts)
}

#[test]
fn udp_datagrams_of_a_flow_become_one_uso_super_packet_where_the_tun_takes_it() {
    for v6 in [false, true] {
        let mut pkts: Vec<Vec<u8>> = (0..30).map(|i| build_udp(v6, 100 + i, 64, 9)).collect();
        pkts.push(build_udp(v6, 130, 10, 9));
        let writes = run_udp(&pkts);
        assert_eq!(writes.len(), 1, "v6={v6}");
        let h = writes[0].0.expect("super-packet");
        assert_eq!(h.gso_type, GsoType::UdpL4);
        assert_eq!(h.gso_size, 64);
        assert_eq!(h.csum_offset, 6);
        assert_eq!(resegment(&writes), pkts, "v6={v6}");
        // Without USO on the TUN: one write each, unchanged.
        assert_eq!(
            run(&pkts),
            pkts.iter().map(|p| (None, p.clone())).collect::<Vec<_>>()
        );
    }
}

#[test]
fn udp_never_coalesces_across_flows_gaps_or_without_a_checksum() {
    let a = build_udp(false, 1, 64, 9);
    for (b, why) in [
        (build_udp(false, 2, 64, 10), "other port"),
        (build_udp(false, 5, 64, 9), "IP ID jump"),
        (build_udp(false, 2, 65, 9), "longer than the first"),
        (
            {
                let mut b = build_udp(false, 2, 64, 9);
                put16(&mut b, 26, 0);
                b
            },
            "no checksum",
        ),
    ] {
        let pkts = vec![a.clone(), b];
        let writes = run_udp(&pkts);
        assert_eq!(writes.len(), 2, "{why}");
        assert_eq!(resegment(&writes), pkts, "{why}");
    }
}
