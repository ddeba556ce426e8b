//! Pipeline forwarding tests: TTL / hop-limit decrement with valid
//! checksums, egress selection, martians, bad headers, blackholes and the
//! counters adding up.

mod pipeline_support;

use std::net::{IpAddr, Ipv4Addr};

use pipeline_support::*;
use vcpe_forwarding::counters::{DropReason, Event, Port};
use vcpe_forwarding::fib::Egress;
use vcpe_forwarding::pipeline::Verdict;
use vcpe_forwarding::wire::{ipv4, ipv6};

#[test]
fn v4_forward_decrements_ttl_and_keeps_checksum_valid() {
    let rig = Rig::new();
    for ttl in [2u8, 64, 255] {
        let mut pkt = v4_udp(CLIENT_V4, LAN_V4, ttl, 100);
        let orig = pkt.clone();
        let (v, _) = rig.run(&mut pkt);
        assert_eq!(
            v,
            Verdict::Forward {
                egress: Egress::Interface(1),
                gateway: None
            }
        );
        let p = ipv4::Packet::new_checked(&pkt[..]).expect("ip");
        assert_eq!(p.ttl(), ttl - 1);
        // Incremental update equals a full recompute.
        let inc = p.checksum();
        let mut copy = pkt.clone();
        let mut q = ipv4::Packet::new_checked(&mut copy[..]).expect("ip");
        q.fill_checksum();
        assert_eq!(q.checksum(), inc);
        assert!(v4_header_ok(&pkt));
        // Nothing else changed.
        assert_eq!(&pkt[..8], &orig[..8]);
        assert_eq!(&pkt[12..], &orig[12..]);
    }
}

#[test]
fn v4_forward_to_tunnel_with_gateway() {
    let rig = Rig::new();
    let mut pkt = v4_udp(CLIENT_V4, PEER_V4, 64, 10);
    let (v, _) = rig.run(&mut pkt);
    assert_eq!(
        v,
        Verdict::Forward {
            egress: Egress::Tunnel(0),
            gateway: Some(IpAddr::V4(PEER_GW))
        }
    );
    assert_eq!(rig.stats().port(Port::Tunnel(0)).tx_packets, 1);
}

#[test]
fn v6_forward_decrements_hop_limit() {
    let rig = Rig::new();
    let mut pkt = v6_udp(client_v6(), lan_v6(), 64, 200);
    let orig = pkt.clone();
    let (v, _) = rig.run(&mut pkt);
    assert_eq!(
        v,
        Verdict::Forward {
            egress: Egress::Interface(1),
            gateway: None
        }
    );
    assert_eq!(
        ipv6::Packet::new_checked(&pkt[..]).expect("ip").hop_limit(),
        63
    );
    assert_eq!(&pkt[..7], &orig[..7]);
    assert_eq!(&pkt[8..], &orig[8..]);
    let mut pkt = v6_udp(client_v6(), peer_v6(), 2, 200);
    assert!(matches!(
        rig.run(&mut pkt).0,
        Verdict::Forward {
            egress: Egress::Tunnel(0),
            ..
        }
    ));
}

#[test]
fn v4_trailing_bytes_are_ignored() {
    let rig = Rig::new();
    let mut pkt = v4_udp(CLIENT_V4, LAN_V4, 64, 10);
    pkt.extend_from_slice(&[0xee; 6]);
    assert!(matches!(rig.run(&mut pkt).0, Verdict::Forward { .. }));
    assert_eq!(&pkt[pkt.len() - 6..], &[0xee; 6]);
}

#[test]
fn bad_headers_are_dropped() {
    let rig = Rig::new();
    let good = v4_udp(CLIENT_V4, LAN_V4, 64, 10);
    let mut cases: Vec<Vec<u8>> = vec![vec![], vec![0x45], good[..19].to_vec(), vec![0x55; 40]];
    let mut bad_csum = good.clone();
    bad_csum[10] ^= 1;
    cases.push(bad_csum);
    let mut long_tl = good.clone();
    long_tl[3] += 1;
    ipv4::Packet::new_unchecked(&mut long_tl[..]).fill_checksum();
    cases.push(long_tl);
    let mut short_tl = good.clone();
    short_tl[2..4].copy_from_slice(&19u16.to_be_bytes());
    ipv4::Packet::new_unchecked(&mut short_tl[..]).fill_checksum();
    cases.push(short_tl);
    let mut ihl4 = good.clone();
    ihl4[0] = 0x44;
    cases.push(ihl4);
    let mut v6_short = v6_udp(client_v6(), lan_v6(), 64, 10);
    v6_short[5] += 1;
    cases.push(v6_short);
    cases.push(v6_udp(client_v6(), lan_v6(), 64, 10)[..39].to_vec());
    let n = cases.len() as u64;
    for mut c in cases {
        assert_eq!(
            rig.run(&mut c).0,
            Verdict::Drop(DropReason::BadHeader),
            "{c:02x?}"
        );
    }
    assert_eq!(rig.stats().drops(DropReason::BadHeader), n);
}

#[test]
fn v4_martians_dropped_without_icmp() {
    let rig = Rig::new();
    let srcs = [
        "0.0.0.0",
        "0.1.2.3",
        "127.0.0.1",
        "224.0.0.5",
        "240.0.0.1",
        "255.255.255.255",
    ];
    let dsts = ["0.0.0.0", "127.0.0.1", "239.255.255.250", "255.255.255.255"];
    let mut n = 0;
    for s in srcs {
        let mut pkt = v4_udp(s.parse().expect("v4"), LAN_V4, 1, 10);
        assert_eq!(
            rig.run(&mut pkt).0,
            Verdict::Drop(DropReason::Martian),
            "src {s}"
        );
        n += 1;
    }
    for d in dsts {
        let mut pkt = v4_udp(CLIENT_V4, d.parse().expect("v4"), 64, 10);
        assert_eq!(
            rig.run(&mut pkt).0,
            Verdict::Drop(DropReason::Martian),
            "dst {d}"
        );
        n += 1;
    }
    let s = rig.stats();
    assert_eq!(s.drops(DropReason::Martian), n);
    assert_eq!(s.events(Event::IcmpSent), 0);
}

#[test]
fn v6_martians_dropped_without_icmp() {
    let rig = Rig::new();
    for s in ["ff02::1", "::1", "::", "::ffff:192.0.2.1", "fe80::1"] {
        let mut pkt = v6_udp(v6(s), lan_v6(), 1, 10);
        assert_eq!(
            rig.run(&mut pkt).0,
            Verdict::Drop(DropReason::Martian),
            "src {s}"
        );
    }
    for d in ["::", "::1", "ff05::1:3", "fe80::99"] {
        let mut pkt = v6_udp(client_v6(), v6(d), 64, 10);
        assert_eq!(
            rig.run(&mut pkt).0,
            Verdict::Drop(DropReason::Martian),
            "dst {d}"
        );
    }
    assert_eq!(rig.stats().drops(DropReason::Martian), 9);
    assert_eq!(rig.stats().events(Event::IcmpSent), 0);
}

#[test]
fn blackhole_and_missing_egress() {
    let rig = Rig::new();
    let mut pkt = v4_udp(CLIENT_V4, BLACKHOLE_V4, 1, 10);
    assert_eq!(rig.run(&mut pkt).0, Verdict::Drop(DropReason::Blackhole));
    let mut pkt = v4_udp(CLIENT_V4, NO_EGRESS_V4, 64, 10);
    assert_eq!(rig.run(&mut pkt).0, Verdict::Drop(DropReason::NoEgress));
}

#[test]
fn source_routed_v4_is_filtered() {
    let rig = Rig::new();
    let body = udp(4);
    let mut b = vec![0u8; 28 + body.len()];
    b[28..].copy_from_slice(&body);
    b[20..28].copy_from_slice(&[1, 131, 7, 4, 10, 0, 0, 1]);
    let mut p = ipv4::Packet::new_unchecked(&mut b[..]);
    p.set_version_and_header_len(28);
    p.set_total_len((28 + body.len()) as u16);
    p.set_ttl(64);
    p.set_protocol(17);
    p.set_src_addr(CLIENT_V4);
    p.set_dst_addr(LAN_V4);
    p.fill_checksum();
    assert_eq!(rig.run(&mut b).0, Verdict::Drop(DropReason::Filtered));
}

#[test]
fn counters_add_up() {
    let rig = Rig::new();
    let mut rx_bytes = 0u64;
    let mut run = |mut p: Vec<u8>| {
        rx_bytes += p.len() as u64;
        rig.run(&mut p).0
    };
    let mut verdicts = Vec::new();
    for i in 0..10u8 {
        verdicts.push(run(v4_udp(CLIENT_V4, LAN_V4, 64, usize::from(i))));
        verdicts.push(run(v4_udp(CLIENT_V4, UNROUTED_V4, 64, 1)));
        verdicts.push(run(v4_udp(CLIENT_V4, LAN_V4, 1, 1)));
        verdicts.push(run(v4_udp(Ipv4Addr::LOCALHOST, LAN_V4, 64, 1)));
        verdicts.push(run(v6_udp(client_v6(), lan_v6(), 64, 1)));
        verdicts.push(run(vec![0xff; 30]));
    }
    let s = rig.stats();
    let fwd = verdicts
        .iter()
        .filter(|v| matches!(v, Verdict::Forward { .. }))
        .count() as u64;
    let replies = verdicts
        .iter()
        .filter(|v| matches!(v, Verdict::Reply { .. }))
        .count() as u64;
    let ingress = s.port(Port::Interface(0));
    let lan = s.port(Port::Interface(1));
    assert_eq!(ingress.rx_packets, 60);
    assert_eq!(ingress.rx_bytes, rx_bytes);
    assert_eq!(fwd, 20);
    assert_eq!(lan.tx_packets, fwd);
    assert_eq!(s.total_drops() + fwd, ingress.rx_packets);
    assert_eq!(s.drops(DropReason::NoRoute), 10);
    assert_eq!(s.drops(DropReason::TtlExpired), 10);
    assert_eq!(s.drops(DropReason::Martian), 10);
    assert_eq!(s.drops(DropReason::BadHeader), 10);
    assert_eq!(s.events(Event::IcmpSent), replies);
    assert_eq!(replies, 20);
    assert_eq!(ingress.tx_packets, replies);
}
