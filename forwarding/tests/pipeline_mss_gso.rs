//! Pipeline TCP MSS clamping and GSO super-packet tests.

mod pipeline_support;

use pipeline_support::*;
use vcpe_forwarding::counters::{DropReason, Event};
use vcpe_forwarding::fib::Egress;
use vcpe_forwarding::pipeline::Verdict;
use vcpe_forwarding::wire::{icmpv4, icmpv6, ipv4, ipv6, proto, tcp};

const SYN: u8 = 0x02;
const SYN_ACK: u8 = 0x12;
const ACK: u8 = 0x10;

fn mss_of(seg: &[u8]) -> Option<u16> {
    tcp::Packet::new_checked(seg)
        .expect("tcp")
        .mss()
        .map(|m| m.0)
}

#[test]
fn v4_syn_mss_clamped_to_tunnel_mtu() {
    let rig = Rig::new();
    for (flags, odd) in [(SYN, false), (SYN_ACK, false), (SYN, true)] {
        let mut pkt = v4_tcp(CLIENT_V4, PEER_V4, 64, &tcp(flags, Some(1460), odd, 0));
        assert!(v4_tcp_checksum_ok(&pkt));
        assert!(matches!(
            rig.run(&mut pkt).0,
            Verdict::Forward {
                egress: Egress::Tunnel(0),
                ..
            }
        ));
        assert_eq!(mss_of(&pkt[20..]), Some(1360), "flags {flags:#x} odd {odd}");
        assert!(v4_tcp_checksum_ok(&pkt));
        assert!(v4_header_ok(&pkt));
    }
    assert_eq!(rig.stats().events(Event::MssClamped), 3);
}

#[test]
fn mss_left_alone_when_small_enough_not_syn_or_disabled() {
    let mut rig = Rig::new();
    let mut pkt = v4_tcp(CLIENT_V4, PEER_V4, 64, &tcp(SYN, Some(1200), false, 0));
    rig.run(&mut pkt);
    assert_eq!(mss_of(&pkt[20..]), Some(1200));
    let mut pkt = v4_tcp(CLIENT_V4, PEER_V4, 64, &tcp(ACK, Some(1460), false, 10));
    rig.run(&mut pkt);
    assert_eq!(mss_of(&pkt[20..]), Some(1460));
    let mut pkt = v4_tcp(CLIENT_V4, LAN_V4, 64, &tcp(SYN, Some(1460), false, 0));
    rig.run(&mut pkt);
    assert_eq!(mss_of(&pkt[20..]), Some(1460), "1500 MTU allows 1460");
    rig.config.mss_clamp = false;
    let mut pkt = v4_tcp(CLIENT_V4, PEER_V4, 64, &tcp(SYN, Some(1460), false, 0));
    rig.run(&mut pkt);
    assert_eq!(mss_of(&pkt[20..]), Some(1460));
    assert_eq!(rig.stats().events(Event::MssClamped), 0);
}

#[test]
fn v6_syn_mss_clamped() {
    let rig = Rig::new();
    let mut pkt = v6_tcp(client_v6(), peer_v6(), 64, &tcp(SYN, Some(1440), true, 0));
    assert!(v6_tcp_checksum_ok(&pkt));
    assert!(matches!(rig.run(&mut pkt).0, Verdict::Forward { .. }));
    assert_eq!(mss_of(&pkt[40..]), Some(1340));
    assert!(v6_tcp_checksum_ok(&pkt));
}

/// A GSO TCP super-packet: `segs` segments of `gso` payload bytes.
fn v4_gso(dst: std::net::Ipv4Addr, gso: u16, segs: usize, zero_len: bool) -> Vec<u8> {
    let seg = tcp(ACK, None, false, usize::from(gso) * segs);
    let mut pkt = v4_packet(CLIENT_V4, dst, 64, proto::TCP, true, &seg);
    if zero_len {
        let mut p = ipv4::Packet::new_unchecked(&mut pkt[..]);
        p.set_total_len(0);
        p.fill_checksum();
    }
    pkt
}

#[test]
fn v4_gso_super_packet_checked_per_segment() {
    let rig = Rig::new();
    // TCP header here is 24 bytes (SACK-permitted + padding): 20 + 24 + 1356 = 1400.
    let mut pkt = v4_gso(PEER_V4, 1356, 40, false);
    assert!(pkt.len() > 50_000);
    let orig = pkt.clone();
    assert!(matches!(
        rig.run_gso(&mut pkt, Some(1356)).0,
        Verdict::Forward {
            egress: Egress::Tunnel(0),
            ..
        }
    ));
    assert_eq!(ipv4::Packet::new_checked(&pkt[..]).expect("ip").ttl(), 63);
    assert!(v4_header_ok(&pkt));
    assert_eq!(&pkt[20..], &orig[20..], "only the IP header is touched");
    // Total length 0 is accepted too.
    let mut pkt = v4_gso(PEER_V4, 1356, 40, true);
    assert!(matches!(
        rig.run_gso(&mut pkt, Some(1356)).0,
        Verdict::Forward { .. }
    ));
    // One byte more per segment than the MTU allows: Frag Needed with the MTU.
    let mut pkt = v4_gso(PEER_V4, 1357, 40, false);
    let (v, reply) = rig.run_gso(&mut pkt, Some(1357));
    assert!(matches!(
        v,
        Verdict::Reply {
            reason: DropReason::TooBig,
            ..
        }
    ));
    let e = icmpv4::parse_error(&reply).expect("frag needed");
    assert_eq!(e.kind, icmpv4::ErrorKind::FragNeeded { mtu: 1400 });
    assert_eq!(e.quote.len(), 548);
    // Without the GSO flag the same super-packet is too big (or malformed).
    let mut pkt = v4_gso(PEER_V4, 1356, 40, false);
    assert!(matches!(
        rig.run(&mut pkt).0,
        Verdict::Reply {
            reason: DropReason::TooBig,
            ..
        }
    ));
    let mut pkt = v4_gso(PEER_V4, 1356, 40, true);
    assert_eq!(rig.run(&mut pkt).0, Verdict::Drop(DropReason::BadHeader));
    assert_eq!(rig.stats().events(Event::GsoForwarded), 2);
}

#[test]
fn gso_rejects_inconsistent_lengths_and_non_tcp_udp() {
    let rig = Rig::new();
    let mut pkt = v4_gso(LAN_V4, 1000, 4, false);
    pkt.push(0);
    assert_eq!(
        rig.run_gso(&mut pkt, Some(1000)).0,
        Verdict::Drop(DropReason::BadHeader)
    );
    let mut icmp = v4_packet(
        CLIENT_V4,
        LAN_V4,
        64,
        proto::ICMP,
        true,
        &icmpv4(8, &[0; 3000]),
    );
    assert_eq!(
        rig.run_gso(&mut icmp, Some(1000)).0,
        Verdict::Drop(DropReason::BadHeader)
    );
    let mut u = v4_packet(CLIENT_V4, LAN_V4, 64, proto::UDP, true, &udp(3000));
    assert!(matches!(
        rig.run_gso(&mut u, Some(1000)).0,
        Verdict::Forward { .. }
    ));
}

#[test]
fn v6_gso_super_packet() {
    let rig = Rig::new();
    let seg = tcp(ACK, None, false, 1336 * 30);
    let mut pkt = v6_packet(client_v6(), peer_v6(), 64, proto::TCP, &seg);
    // 40 + 24 + 1336 = 1400.
    assert!(matches!(
        rig.run_gso(&mut pkt, Some(1336)).0,
        Verdict::Forward { .. }
    ));
    assert_eq!(
        ipv6::Packet::new_checked(&pkt[..]).expect("ip").hop_limit(),
        63
    );
    let mut pkt = v6_packet(client_v6(), peer_v6(), 64, proto::TCP, &seg);
    pkt[4..6].copy_from_slice(&[0, 0]);
    let (v, reply) = rig.run_gso(&mut pkt, Some(1337));
    assert!(matches!(
        v,
        Verdict::Reply {
            reason: DropReason::TooBig,
            ..
        }
    ));
    let e = icmpv6::parse_error(&reply).expect("ptb");
    assert_eq!(e.kind, icmpv6::ErrorKind::PacketTooBig { mtu: 1400 });
}
