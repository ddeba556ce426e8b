//! Shared rig for the pipeline integration tests: a small FIB, MTU table,
//! counters and hand-built packets.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use vcpe_forwarding::counters::{Counters, CountersSnapshot, Port};
use vcpe_forwarding::fib::{Fib, FibWriter, NextHop};
use vcpe_forwarding::pipeline::{
    EgressMtus, ForwardConfig, ForwardCtx, Ingress, REPLY_BUF_LEN, TokenBucket, Verdict, forward,
};
use vcpe_forwarding::wire::{checksum, ipv4, ipv6, proto};

pub const INGRESS_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const CLIENT_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
pub const LAN_V4: Ipv4Addr = Ipv4Addr::new(10, 1, 2, 3);
pub const PEER_V4: Ipv4Addr = Ipv4Addr::new(172, 16, 5, 5);
pub const NARROW_V4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 9);
pub const BLACKHOLE_V4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);
pub const UNROUTED_V4: Ipv4Addr = Ipv4Addr::new(8, 8, 8, 8);
pub const NO_EGRESS_V4: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);
pub const PEER_GW: Ipv4Addr = Ipv4Addr::new(172, 31, 255, 1);

pub fn v6(s: &str) -> Ipv6Addr {
    s.parse().expect("v6 literal")
}

pub fn ingress_v6() -> Ipv6Addr {
    v6("2001:db8::1")
}
pub fn client_v6() -> Ipv6Addr {
    v6("2001:db8::10")
}
pub fn lan_v6() -> Ipv6Addr {
    v6("2001:db8:1::3")
}
pub fn peer_v6() -> Ipv6Addr {
    v6("2001:db8:2::5")
}
pub fn unrouted_v6() -> Ipv6Addr {
    v6("2001:db8:99::1")
}

/// Interface 0: ingress (MTU 1500). Interface 1: LAN (MTU 1500).
/// Tunnel 0: peer (inner MTU 1400, via gateway). Interface 2: MTU 576.
pub struct Rig {
    pub writer: FibWriter,
    pub fib: Fib,
    pub mtus: EgressMtus,
    pub config: ForwardConfig,
    pub limiter: TokenBucket,
    pub counters: Counters,
    pub ingress: Ingress,
    pub now_ns: u64,
}

impl Rig {
    pub fn new() -> Self {
        Self::with_limiter(TokenBucket::new(1000, 1000))
    }

    pub fn with_limiter(limiter: TokenBucket) -> Self {
        let (mut writer, fib) = Fib::new();
        let net = |s: &str| s.parse().expect("prefix");
        writer.insert(net("192.0.2.0/24"), NextHop::interface(0).into());
        writer.insert(net("10.0.0.0/8"), NextHop::interface(1).into());
        writer.insert(
            net("172.16.0.0/12"),
            NextHop::tunnel(0).via(IpAddr::V4(PEER_GW)).into(),
        );
        writer.insert(net("198.18.0.0/15"), NextHop::interface(2).into());
        writer.insert(net("203.0.113.0/24"), NextHop::blackhole().into());
        writer.insert(net("100.64.0.0/10"), NextHop::interface(9).into());
        writer.insert(net("2001:db8::/48"), NextHop::interface(0).into());
        writer.insert(net("2001:db8:1::/48"), NextHop::interface(1).into());
        writer.insert(net("2001:db8:2::/48"), NextHop::tunnel(0).into());
        Rig {
            writer,
            fib,
            mtus: EgressMtus {
                interfaces: vec![1500, 1500, 576],
                tunnels: vec![1400],
            },
            config: ForwardConfig::default(),
            limiter,
            counters: Counters::new(1, 3, 1),
            ingress: Ingress {
                port: Port::Interface(0),
                v4: Some(INGRESS_V4),
                v6: Some(ingress_v6()),
            },
            now_ns: 1_000_000_000,
        }
    }

    /// Runs `forward` with a fresh reply buffer; returns the verdict and the reply bytes.
    pub fn run_gso(&self, pkt: &mut [u8], gso: Option<u16>) -> (Verdict, Vec<u8>) {
        let snap = self.fib.snapshot();
        let ctx = ForwardCtx {
            fib: &snap,
            mtus: &self.mtus,
            config: &self.config,
            icmp_limiter: &self.limiter,
            counters: self.counters.worker(0).expect("worker"),
            now_ns: self.now_ns,
        };
        let mut reply = vec![0u8; REPLY_BUF_LEN];
        let v = forward(pkt, &self.ingress, gso, &ctx, &mut reply);
        let n = match v {
            Verdict::Reply { len, .. } => len,
            _ => 0,
        };
        reply.truncate(n);
        (v, reply)
    }

    pub fn run(&self, pkt: &mut [u8]) -> (Verdict, Vec<u8>) {
        self.run_gso(pkt, None)
    }

    pub fn stats(&self) -> CountersSnapshot {
        self.counters.snapshot()
    }
}

/// An IPv4 packet with `l4` as payload (header checksum filled).
pub fn v4_packet(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ttl: u8,
    protocol: u8,
    df: bool,
    l4: &[u8],
) -> Vec<u8> {
    let mut b = vec![0u8; 20 + l4.len()];
    b[20..].copy_from_slice(l4);
    let mut p = ipv4::Packet::new_unchecked(&mut b[..]);
    p.set_version_and_header_len(20);
    p.set_total_len((20 + l4.len()) as u16);
    p.set_ident(0x1234);
    p.set_flags_and_offset(df, false, 0);
    p.set_ttl(ttl);
    p.set_protocol(protocol);
    p.set_src_addr(src);
    p.set_dst_addr(dst);
    p.fill_checksum();
    b
}

/// A UDP datagram body of `payload` zero bytes (checksum 0: not computed).
pub fn udp(payload: usize) -> Vec<u8> {
    let mut u = vec![0u8; 8 + payload];
    u[0..2].copy_from_slice(&40000u16.to_be_bytes());
    u[2..4].copy_from_slice(&53u16.to_be_bytes());
    u[4..6].copy_from_slice(&((8 + payload) as u16).to_be_bytes());
    u
}

pub fn v4_udp(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, payload: usize) -> Vec<u8> {
    v4_packet(src, dst, ttl, proto::UDP, true, &udp(payload))
}

/// A TCP header with flags, the MSS option (if any, after a NOP when `odd`)
/// and `payload` bytes; checksum left 0 (filled by the IP builders below).
pub fn tcp(flags: u8, mss: Option<u16>, odd: bool, payload: usize) -> Vec<u8> {
    let mut opts = Vec::new();
    if odd {
        opts.push(1);
    }
    if let Some(m) = mss {
        opts.extend_from_slice(&[2, 4]);
        opts.extend_from_slice(&m.to_be_bytes());
    }
    opts.extend_from_slice(&[4, 2]); // SACK permitted
    while opts.len() % 4 != 0 {
        opts.push(1);
    }
    let hl = 20 + opts.len();
    let mut t = vec![0u8; hl + payload];
    t[0..2].copy_from_slice(&51000u16.to_be_bytes());
    t[2..4].copy_from_slice(&443u16.to_be_bytes());
    t[4..8].copy_from_slice(&0xdead_beefu32.to_be_bytes());
    t[12] = ((hl / 4) as u8) << 4;
    t[13] = flags;
    t[14..16].copy_from_slice(&64240u16.to_be_bytes());
    t[20..hl].copy_from_slice(&opts);
    for (i, x) in t[hl..].iter_mut().enumerate() {
        *x = i as u8;
    }
    t
}

pub fn v4_tcp(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, seg: &[u8]) -> Vec<u8> {
    let mut b = v4_packet(src, dst, ttl, proto::TCP, true, seg);
    let ph = checksum::pseudo_header_v4(src, dst, proto::TCP, seg.len() as u16);
    let c = !checksum::combine(ph, checksum::sum(&b[20..]));
    b[36..38].copy_from_slice(&c.to_be_bytes());
    b
}

pub fn v4_tcp_checksum_ok(pkt: &[u8]) -> bool {
    let ip = ipv4::Packet::new_checked(pkt).expect("ip");
    let seg = ip.payload();
    let ph = checksum::pseudo_header_v4(ip.src_addr(), ip.dst_addr(), proto::TCP, seg.len() as u16);
    checksum::combine(ph, checksum::sum(seg)) == 0xffff
}

pub fn v6_packet(src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8, next: u8, l4: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 40 + l4.len()];
    b[40..].copy_from_slice(l4);
    let mut p = ipv6::Packet::new_unchecked(&mut b[..]);
    p.set_version_tc_flow(0, 0xbeef);
    p.set_payload_len(l4.len() as u16);
    p.set_next_header(next);
    p.set_hop_limit(hop_limit);
    p.set_src_addr(src);
    p.set_dst_addr(dst);
    b
}

pub fn v6_udp(src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8, payload: usize) -> Vec<u8> {
    v6_packet(src, dst, hop_limit, proto::UDP, &udp(payload))
}

pub fn v6_tcp(src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8, seg: &[u8]) -> Vec<u8> {
    let mut b = v6_packet(src, dst, hop_limit, proto::TCP, seg);
    let ph = checksum::pseudo_header_v6(src, dst, proto::TCP, seg.len() as u32);
    let c = !checksum::combine(ph, checksum::sum(&b[40..]));
    b[56..58].copy_from_slice(&c.to_be_bytes());
    b
}

pub fn v6_tcp_checksum_ok(pkt: &[u8]) -> bool {
    let ip = ipv6::Packet::new_checked(pkt).expect("ip");
    let seg = ip.payload();
    let ph = checksum::pseudo_header_v6(ip.src_addr(), ip.dst_addr(), proto::TCP, seg.len() as u32);
    checksum::combine(ph, checksum::sum(seg)) == 0xffff
}

/// An ICMPv4 message of `msg_type` (checksum filled) with `body` after the header.
pub fn icmpv4(msg_type: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![msg_type, 0, 0, 0, 0, 1, 0, 1];
    m.extend_from_slice(body);
    let c = checksum::checksum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

/// Full recompute of the IPv4 header checksum equals the stored one.
pub fn v4_header_ok(pkt: &[u8]) -> bool {
    ipv4::Packet::new_checked(pkt).is_ok_and(|p| p.verify_checksum())
}
