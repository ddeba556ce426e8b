//! Pipeline benchmark: ns per packet for `pipeline::forward` on 64-byte and
//! 1500-byte IPv4/IPv6 packets against a 1M-route IPv4 / 100k-route IPv6 FIB,
//! for one fixed destination (hot cache) and for 4096 packets with random
//! routed destinations (FIB lookups miss the cache as real traffic would),
//! and 4096 flows (distinct destinations and ports) to one prefix whose
//! next-hop group has four members (ECMP member selection per packet).
//!
//! Run: `cargo bench -p vcpe-forwarding --bench pipeline`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use criterion::{Criterion, Throughput};
use ipnet::IpNet;
use vcpe_forwarding::counters::{Counters, Port};
use vcpe_forwarding::fib::{Fib, FibChange, NextHop, NextHopGroup};
use vcpe_forwarding::pipeline::{
    EgressMtus, ForwardConfig, ForwardCtx, Ingress, REPLY_BUF_LEN, TokenBucket, Verdict, forward,
};
use vcpe_forwarding::wire::{checksum, ipv4, ipv6};

const V4_ROUTES: usize = 1_000_000;
const V6_ROUTES: usize = 100_000;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Random /16../24 IPv4 and /32../48 IPv6 prefixes (plus their first
/// addresses, as destinations that are surely routed).
fn build_fib() -> (Fib, Vec<Ipv4Addr>, Vec<Ipv6Addr>) {
    let (mut writer, fib) = Fib::new();
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let groups: Vec<NextHopGroup> = (0..8)
        .map(|i| {
            NextHop::interface(i % 4)
                .via(IpAddr::from([10, 255, 0, i as u8]))
                .into()
        })
        .collect();
    let mut v4 = Vec::with_capacity(V4_ROUTES);
    let mut v6 = Vec::with_capacity(V6_ROUTES);
    let mut changes = Vec::with_capacity(V4_ROUTES + V6_ROUTES);
    for i in 0..V4_ROUTES {
        let r = rng.next();
        let len = 16 + (r % 9) as u8;
        // First octet 1..=223 except 127: no martian destinations.
        let mut hi = (r >> 32) as u32 % (223 << 24) + (1 << 24);
        if hi >> 24 == 127 {
            hi ^= 1 << 30;
        }
        let a = Ipv4Addr::from(hi & !(u32::MAX >> len));
        let Ok(net) = IpNet::new(IpAddr::V4(a), len) else {
            continue;
        };
        if i % 256 == 0 {
            v4.push(a);
        }
        changes.push(FibChange::Upsert {
            prefix: net,
            group: groups[i % 8].clone(),
        });
    }
    for i in 0..V6_ROUTES {
        let r = rng.next();
        let len = 32 + (r % 17) as u8;
        let hi = (0x2000u128 << 112) | (u128::from(rng.next()) << 48);
        let a = Ipv6Addr::from(hi & !(u128::MAX >> len));
        let Ok(net) = IpNet::new(IpAddr::V6(a), len) else {
            continue;
        };
        if i % 32 == 0 {
            v6.push(a);
        }
        changes.push(FibChange::Upsert {
            prefix: net,
            group: groups[i % 8].clone(),
        });
    }
    writer.apply(changes);
    writer.insert(ECMP_PREFIX.parse().expect("prefix"), ecmp_group());
    (fib, v4, v6)
}

/// The prefix of the ECMP case (198.18.0.0/15, benchmarking space).
const ECMP_PREFIX: &str = "198.18.0.0/15";

/// Four interface next hops with distinct gateways.
fn ecmp_group() -> NextHopGroup {
    NextHopGroup::new(
        (0..4u8).map(|i| NextHop::interface(u32::from(i)).via(IpAddr::from([10, 255, 1, i]))),
    )
    .expect("four members")
}

fn v4_packet(len: usize, dst: Ipv4Addr) -> Vec<u8> {
    let mut b = vec![0u8; len];
    let mut p = ipv4::Packet::new_unchecked(&mut b[..]);
    p.set_version_and_header_len(20);
    p.set_total_len(len as u16);
    p.set_flags_and_offset(true, false, 0);
    p.set_ttl(64);
    p.set_protocol(17);
    p.set_src_addr(Ipv4Addr::new(192, 0, 2, 10));
    p.set_dst_addr(dst);
    p.fill_checksum();
    b[20..24].copy_from_slice(&[0x30, 0x39, 0x00, 0x35]);
    b
}

fn v6_packet(len: usize, dst: Ipv6Addr) -> Vec<u8> {
    let mut b = vec![0u8; len];
    let mut p = ipv6::Packet::new_unchecked(&mut b[..]);
    p.set_version_tc_flow(0, 0);
    p.set_payload_len((len - 40) as u16);
    p.set_next_header(17);
    p.set_hop_limit(64);
    p.set_src_addr("2001:db8:ffff::10".parse().expect("addr"));
    p.set_dst_addr(dst);
    b[40..44].copy_from_slice(&[0x30, 0x39, 0x00, 0x35]);
    b
}

fn main() {
    let (fib, v4_dsts, v6_dsts) = build_fib();
    let snap = fib.snapshot_arc();
    let mtus = EgressMtus {
        interfaces: vec![1500; 4],
        tunnels: vec![],
    };
    let config = ForwardConfig::default();
    let limiter = TokenBucket::new(1000, 100);
    let counters = Counters::new(1, 4, 0);
    let ctx = ForwardCtx {
        fib: &snap,
        mtus: &mtus,
        config: &config,
        icmp_limiter: &limiter,
        counters: counters.worker(0).expect("worker 0"),
        now_ns: 1,
    };
    let ingress = Ingress {
        port: Port::Interface(0),
        v4: Some(Ipv4Addr::new(192, 0, 2, 1)),
        v6: None,
    };
    let mut reply = [0u8; REPLY_BUF_LEN];

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let mut g = c.benchmark_group("forward");
    g.throughput(Throughput::Elements(1));

    let ecmp_flows: Vec<Vec<u8>> = (0..4096u32)
        .map(|i| {
            let mut p = v4_packet(64, Ipv4Addr::from(0xc612_0000 | ((i * 7919) & 0x1_ffff)));
            p[20..22].copy_from_slice(&(1024 + i as u16).to_be_bytes());
            p
        })
        .collect();
    let cases: [(&str, Vec<Vec<u8>>); 9] = [
        ("v4_64B_fixed_dst", vec![v4_packet(64, v4_dsts[7])]),
        ("v4_1500B_fixed_dst", vec![v4_packet(1500, v4_dsts[7])]),
        ("v6_64B_fixed_dst", vec![v6_packet(64, v6_dsts[7])]),
        ("v6_1500B_fixed_dst", vec![v6_packet(1500, v6_dsts[7])]),
        (
            "v4_64B_random_dst",
            v4_dsts
                .iter()
                .take(4096)
                .map(|&d| v4_packet(64, d))
                .collect(),
        ),
        (
            "v4_1500B_random_dst",
            v4_dsts
                .iter()
                .take(4096)
                .map(|&d| v4_packet(1500, d))
                .collect(),
        ),
        (
            "v6_64B_random_dst",
            v6_dsts
                .iter()
                .take(3000)
                .map(|&d| v6_packet(64, d))
                .collect(),
        ),
        (
            "v6_1500B_random_dst",
            v6_dsts
                .iter()
                .take(3000)
                .map(|&d| v6_packet(1500, d))
                .collect(),
        ),
        ("v4_64B_ecmp4_flows", ecmp_flows),
    ];
    for (name, templates) in cases {
        let mut pkts = templates.clone();
        let mut i = 0;
        g.bench_function(name, |b| {
            b.iter(|| {
                let k = i % pkts.len();
                i += 1;
                let pkt = &mut pkts[k];
                // Restore the header the previous pass rewrote (TTL, checksum).
                pkt[..48].copy_from_slice(&templates[k][..48]);
                let v = forward(black_box(pkt), &ingress, None, &ctx, &mut reply);
                debug_assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
                black_box(v)
            })
        });
    }
    g.finish();

    // Reference point: a full RFC 1071 sum over a 1500-byte packet (what the
    // incremental update avoids).
    let big = v4_packet(1500, v4_dsts[0]);
    c.bench_function("checksum_sum_1500B", |b| {
        b.iter(|| checksum::sum(black_box(&big)))
    });
    c.final_summary();

    let s = counters.snapshot();
    let fwd: u64 = s.interfaces.iter().map(|p| p.tx_packets).sum();
    println!(
        "forwarded {fwd} packets, drops {:?}",
        s.named_drops().filter(|d| d.1 > 0).collect::<Vec<_>>()
    );
}
