//! Pipeline ICMP origination tests: Time Exceeded, unreachable, Frag
//! Needed, Packet Too Big (source, checksum, quote, MTU), suppression rules
//! and the rate limiter.

mod pipeline_support;

use std::net::IpAddr;

use pipeline_support::*;
use vcpe_forwarding::counters::{DropReason, Event};
use vcpe_forwarding::pipeline::{TokenBucket, Verdict};
use vcpe_forwarding::wire::{icmpv4, icmpv6, ipv4, ipv6, proto};

fn expect_v4_error(
    rig: &Rig,
    mut pkt: Vec<u8>,
    reason: DropReason,
) -> (icmpv4::ErrorKind, Vec<u8>, Vec<u8>) {
    let orig = pkt.clone();
    let (v, reply) = rig.run(&mut pkt);
    assert_eq!(
        v,
        Verdict::Reply {
            len: reply.len(),
            reason
        }
    );
    assert_eq!(pkt, orig, "the offending packet is not modified");
    let ip = ipv4::Packet::new_checked(&reply[..]).expect("reply ip");
    assert!(ip.verify_checksum());
    assert_eq!(ip.ttl(), 64);
    let icmp = icmpv4::Packet::new_checked(ip.payload()).expect("icmp");
    assert!(icmp.verify_checksum());
    let e = icmpv4::parse_error(&reply).expect("router error");
    assert_eq!(e.src, INGRESS_V4);
    assert_eq!(
        IpAddr::V4(e.dst),
        IpAddr::V4(ipv4::Packet::new_checked(&orig[..]).expect("ip").src_addr())
    );
    (e.kind, e.quote.to_vec(), orig)
}

fn expect_v6_error(
    rig: &Rig,
    mut pkt: Vec<u8>,
    reason: DropReason,
) -> (icmpv6::ErrorKind, Vec<u8>, Vec<u8>) {
    let orig = pkt.clone();
    let (v, reply) = rig.run(&mut pkt);
    assert_eq!(
        v,
        Verdict::Reply {
            len: reply.len(),
            reason
        }
    );
    assert_eq!(pkt, orig);
    let ip = ipv6::Packet::new_checked(&reply[..]).expect("reply ip");
    assert_eq!(ip.hop_limit(), 64);
    let e = icmpv6::parse_error(&reply).expect("router error with valid checksum");
    assert_eq!(e.src, ingress_v6());
    assert_eq!(e.dst, client_v6());
    (e.kind, e.quote.to_vec(), orig)
}

#[test]
fn v4_ttl_1_gets_time_exceeded_quoting_the_packet() {
    let rig = Rig::new();
    let (kind, quote, orig) = expect_v4_error(
        &rig,
        v4_udp(CLIENT_V4, LAN_V4, 1, 30),
        DropReason::TtlExpired,
    );
    assert_eq!(kind, icmpv4::ErrorKind::TimeExceeded);
    assert_eq!(quote, orig, "small datagrams are quoted whole");
    let mut zero = v4_udp(CLIENT_V4, LAN_V4, 0, 30);
    assert!(matches!(
        rig.run(&mut zero).0,
        Verdict::Reply {
            reason: DropReason::TtlExpired,
            ..
        }
    ));
}

#[test]
fn v4_quote_is_capped_at_576_bytes() {
    let rig = Rig::new();
    let (_, quote, orig) = expect_v4_error(
        &rig,
        v4_udp(CLIENT_V4, LAN_V4, 1, 1400),
        DropReason::TtlExpired,
    );
    assert_eq!(quote.len(), 576 - 28);
    assert_eq!(&quote[..], &orig[..548]);
}

#[test]
fn v4_no_route_gets_net_unreachable() {
    let rig = Rig::new();
    let (kind, _, _) = expect_v4_error(
        &rig,
        v4_udp(CLIENT_V4, UNROUTED_V4, 64, 8),
        DropReason::NoRoute,
    );
    assert_eq!(kind, icmpv4::ErrorKind::NetUnreachable);
}

#[test]
fn v4_df_too_big_gets_frag_needed_with_mtu() {
    let rig = Rig::new();
    // Tunnel 0 has MTU 1400.
    let (kind, _, _) = expect_v4_error(
        &rig,
        v4_udp(CLIENT_V4, PEER_V4, 64, 1401 - 28),
        DropReason::TooBig,
    );
    assert_eq!(kind, icmpv4::ErrorKind::FragNeeded { mtu: 1400 });
    let mut fits = v4_udp(CLIENT_V4, PEER_V4, 64, 1400 - 28);
    assert!(matches!(rig.run(&mut fits).0, Verdict::Forward { .. }));
}

#[test]
fn v4_no_df_too_big_is_dropped_without_icmp() {
    let rig = Rig::new();
    let mut pkt = v4_packet(CLIENT_V4, NARROW_V4, 64, proto::UDP, false, &udp(600));
    assert_eq!(rig.run(&mut pkt).0, Verdict::Drop(DropReason::TooBig));
    assert_eq!(rig.stats().events(Event::IcmpSent), 0);
}

#[test]
fn v6_errors() {
    let rig = Rig::new();
    let (k, quote, orig) = expect_v6_error(
        &rig,
        v6_udp(client_v6(), lan_v6(), 1, 20),
        DropReason::TtlExpired,
    );
    assert_eq!(k, icmpv6::ErrorKind::TimeExceeded);
    assert_eq!(quote, orig);
    let (k, _, _) = expect_v6_error(
        &rig,
        v6_udp(client_v6(), unrouted_v6(), 64, 20),
        DropReason::NoRoute,
    );
    assert_eq!(k, icmpv6::ErrorKind::NoRoute);
    let (k, quote, orig) = expect_v6_error(
        &rig,
        v6_udp(client_v6(), peer_v6(), 64, 1401 - 48),
        DropReason::TooBig,
    );
    assert_eq!(k, icmpv6::ErrorKind::PacketTooBig { mtu: 1400 });
    assert_eq!(quote.len(), 1280 - 48);
    assert_eq!(&quote[..], &orig[..1232]);
}

#[test]
fn no_error_about_an_icmp_error() {
    let rig = Rig::new();
    let inner = v4_udp(LAN_V4, CLIENT_V4, 5, 4);
    for t in [3u8, 4, 5, 11, 12] {
        let mut pkt = v4_packet(CLIENT_V4, LAN_V4, 1, proto::ICMP, true, &icmpv4(t, &inner));
        assert_eq!(
            rig.run(&mut pkt).0,
            Verdict::Drop(DropReason::TtlExpired),
            "type {t}"
        );
    }
    // An echo request does get one.
    let mut echo = v4_packet(CLIENT_V4, LAN_V4, 1, proto::ICMP, true, &icmpv4(8, b"ping"));
    assert!(matches!(rig.run(&mut echo).0, Verdict::Reply { .. }));
    // ICMPv6 errors (type < 128) and redirects: none; echo request: yes.
    for t in [1u8, 2, 3, 4, 137] {
        let mut pkt = v6_packet(
            client_v6(),
            lan_v6(),
            1,
            proto::ICMPV6,
            &[t, 0, 0, 0, 0, 0, 0, 0],
        );
        assert_eq!(
            rig.run(&mut pkt).0,
            Verdict::Drop(DropReason::TtlExpired),
            "v6 type {t}"
        );
    }
    let mut echo6 = v6_packet(
        client_v6(),
        lan_v6(),
        1,
        proto::ICMPV6,
        &[128, 0, 0, 0, 0, 1, 0, 1],
    );
    assert!(matches!(rig.run(&mut echo6).0, Verdict::Reply { .. }));
    let s = rig.stats();
    assert_eq!(s.events(Event::IcmpSuppressed), 10);
    assert_eq!(s.events(Event::IcmpSent), 2);
}

#[test]
fn no_error_about_a_non_first_fragment() {
    let rig = Rig::new();
    let mut pkt = v4_udp(CLIENT_V4, LAN_V4, 1, 100);
    let mut p = ipv4::Packet::new_unchecked(&mut pkt[..]);
    p.set_flags_and_offset(false, false, 1480);
    p.fill_checksum();
    assert_eq!(rig.run(&mut pkt).0, Verdict::Drop(DropReason::TtlExpired));
    // IPv6: fragment header with a non-zero offset.
    let mut frag = vec![proto::UDP, 0, 0x05, 0xc8, 0, 0, 0, 1];
    frag.extend_from_slice(&[0u8; 16]);
    let mut pkt = v6_packet(client_v6(), lan_v6(), 1, proto::FRAGMENT, &frag);
    assert_eq!(rig.run(&mut pkt).0, Verdict::Drop(DropReason::TtlExpired));
    assert_eq!(rig.stats().events(Event::IcmpSuppressed), 2);
}

#[test]
fn no_source_address_means_no_icmp() {
    let mut rig = Rig::new();
    rig.ingress.v4 = None;
    rig.ingress.v6 = None;
    let mut pkt = v4_udp(CLIENT_V4, LAN_V4, 1, 10);
    assert_eq!(rig.run(&mut pkt).0, Verdict::Drop(DropReason::TtlExpired));
    let mut pkt = v6_udp(client_v6(), lan_v6(), 1, 10);
    assert_eq!(rig.run(&mut pkt).0, Verdict::Drop(DropReason::TtlExpired));
    assert_eq!(rig.stats().events(Event::IcmpNoSource), 2);
}

#[test]
fn rate_limiter_suppresses_beyond_burst() {
    let mut rig = Rig::with_limiter(TokenBucket::new(10, 5));
    let mut sent = 0;
    for _ in 0..20 {
        let mut pkt = v4_udp(CLIENT_V4, LAN_V4, 1, 10);
        match rig.run(&mut pkt).0 {
            Verdict::Reply { .. } => sent += 1,
            Verdict::Drop(DropReason::TtlExpired) => {}
            v => panic!("unexpected {v:?}"),
        }
    }
    assert_eq!(sent, 5);
    let s = rig.stats();
    assert_eq!(s.events(Event::IcmpRateLimited), 15);
    assert_eq!(s.drops(DropReason::TtlExpired), 20);
    // 100 ms later one more token is available.
    rig.now_ns += 100_000_000;
    let mut pkt = v6_udp(client_v6(), lan_v6(), 1, 10);
    assert!(matches!(rig.run(&mut pkt).0, Verdict::Reply { .. }));
    let mut pkt = v6_udp(client_v6(), lan_v6(), 1, 10);
    assert_eq!(rig.run(&mut pkt).0, Verdict::Drop(DropReason::TtlExpired));
}

#[test]
fn small_reply_buffer_quotes_less_or_suppresses() {
    use vcpe_forwarding::pipeline::{ForwardCtx, forward};
    let rig = Rig::new();
    let snap = rig.fib.snapshot();
    let ctx = ForwardCtx {
        fib: &snap,
        mtus: &rig.mtus,
        config: &rig.config,
        icmp_limiter: &rig.limiter,
        counters: rig.counters.worker(0).expect("worker"),
        now_ns: rig.now_ns,
    };
    let mut pkt = v4_udp(CLIENT_V4, LAN_V4, 1, 100);
    let mut reply = [0u8; 100];
    let v = forward(&mut pkt, &rig.ingress, None, &ctx, &mut reply);
    assert_eq!(
        v,
        Verdict::Reply {
            len: 100,
            reason: DropReason::TtlExpired
        }
    );
    assert!(icmpv4::parse_error(&reply).is_some());
    let mut tiny = [0u8; 40];
    let v = forward(&mut pkt, &rig.ingress, None, &ctx, &mut tiny);
    assert_eq!(v, Verdict::Drop(DropReason::TtlExpired));
}
