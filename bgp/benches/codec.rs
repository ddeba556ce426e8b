//! Codec benchmarks: decoding an UPDATE with 1000 IPv4 /24 prefixes and
//! normalizing it for the RIB, and packing 100k prefixes into UPDATEs (the
//! re-advertisement hot path), with and without encoding them to bytes.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ipnet::{IpNet, Ipv4Net};
use vcpe_bgp::model::{AsPath, Community, Message, Origin, PathAttributes, Update};
use vcpe_bgp::wire::{Ctx, build_updates, decode, routes};

fn prefixes(n: u32) -> Vec<IpNet> {
    (0..n)
        .map(|i| {
            let net = Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + (i << 8)), 24).unwrap();
            IpNet::V4(net)
        })
        .collect()
}

fn attrs() -> PathAttributes {
    PathAttributes {
        origin: Origin::Igp,
        as_path: AsPath::sequence(vec![65001, 65002, 65003]),
        next_hop: Some(IpAddr::V4(Ipv4Addr::new(10, 99, 0, 1))),
        med: Some(10),
        communities: vec![Community(0xfde9_0001)].into(),
        ..PathAttributes::default()
    }
}

fn decode_routes(c: &mut Criterion) {
    let ctx = Ctx::default();
    let mut ups = Vec::new();
    build_updates(&attrs(), &prefixes(1000), &ctx, &mut ups);
    assert_eq!(ups.len(), 1, "1000 /24s fit one 4096-octet UPDATE");
    let mut bytes = BytesMut::new();
    ups[0].encode(&ctx, &mut bytes).unwrap();
    let mut g = c.benchmark_group("update_1000x24");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("decode", |b| {
        b.iter(|| decode(black_box(&bytes), &ctx).unwrap())
    });
    g.bench_function("decode+routes", |b| {
        b.iter(|| {
            let (m, issues) = decode(black_box(&bytes), &ctx).unwrap();
            let Message::Update(u) = m else {
                unreachable!()
            };
            routes(&u, &issues)
        })
    });
    g.finish();
}

fn build(c: &mut Criterion) {
    let ctx = Ctx::default();
    let p = prefixes(100_000);
    let a = attrs();
    let mut g = c.benchmark_group("build_100k");
    g.throughput(Throughput::Elements(100_000));
    g.bench_function("build_updates", |b| {
        b.iter(|| {
            let mut out: Vec<Update> = Vec::with_capacity(128);
            build_updates(black_box(&a), black_box(&p), &ctx, &mut out);
            out
        })
    });
    g.bench_function("build_updates+encode", |b| {
        let mut bytes = BytesMut::with_capacity(512 * 1024);
        b.iter(|| {
            let mut out: Vec<Update> = Vec::with_capacity(128);
            build_updates(black_box(&a), black_box(&p), &ctx, &mut out);
            bytes.clear();
            for u in &out {
                u.encode(&ctx, &mut bytes).unwrap();
            }
            bytes.len()
        })
    });
    g.finish();
}

criterion_group!(benches, decode_routes, build);
criterion_main!(benches);
