//! FIB benchmark: our Poptrie FIB side by side with the `prefix-trie` crate on
//! the same 1M-route IPv4 and 200k-route IPv6 tables and the same random
//! destinations, then a summary block (lookup rates and their ratio, bytes
//! per route, load time, a 1M-change burst with a reader running alongside).
//!
//! Run: `cargo bench -p vcpe-forwarding --bench fib`.

use std::collections::HashSet;
use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use prefix_trie::PrefixMap;
use vcpe_forwarding::fib::{Fib, FibChange, FibSnapshot, FibWriter, NextHop, NextHopGroup};

const V4_ROUTES: usize = 1_000_000;
const V6_ROUTES: usize = 200_000;
const DESTS: usize = 1 << 20;
const GROUPS: u32 = 32;

/// xorshift64*: small, seeded, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    /// A length drawn from `(length, weight per mille)` pairs.
    fn length(&mut self, dist: &[(u8, u64)]) -> u8 {
        let total: u64 = dist.iter().map(|d| d.1).sum();
        let mut x = self.below(total);
        for &(len, w) in dist {
            if x < w {
                return len;
            }
            x -= w;
        }
        dist[dist.len() - 1].0
    }
}

/// DFZ-shaped: ~60% /24, 10% /23, 9% /22, 5% /21, 4% /20, 11% /8-/19, 1% >/24.
const V4_DIST: &[(u8, u64)] = &[
    (8, 1),
    (9, 1),
    (10, 2),
    (11, 3),
    (12, 5),
    (13, 7),
    (14, 9),
    (15, 10),
    (16, 20),
    (17, 12),
    (18, 17),
    (19, 23),
    (20, 40),
    (21, 50),
    (22, 90),
    (23, 100),
    (24, 600),
    (25, 2),
    (26, 2),
    (27, 1),
    (28, 1),
    (29, 1),
    (30, 1),
    (32, 2),
];

/// Mostly /48, then /32-/44, some /64 and longer.
const V6_DIST: &[(u8, u64)] = &[
    (24, 10),
    (28, 10),
    (29, 20),
    (32, 100),
    (36, 40),
    (40, 60),
    (44, 80),
    (46, 20),
    (47, 10),
    (48, 550),
    (56, 30),
    (64, 60),
    (128, 10),
];

fn group(i: u32) -> NextHopGroup {
    match i % 4 {
        0 => NextHopGroup::new([NextHop::tunnel(i), NextHop::tunnel(i + 1)])
            .unwrap_or_else(|_| unreachable!()),
        1 => NextHop::tunnel(i).into(),
        _ => NextHop::interface(i).into(),
    }
}

/// 1M distinct IPv4 prefixes, uniform over 1.0.0.0-223.255.255.255.
fn v4_table(rng: &mut Rng) -> Vec<(Ipv4Net, u32)> {
    let mut seen = HashSet::with_capacity(V4_ROUTES);
    let mut out = Vec::with_capacity(V4_ROUTES);
    while out.len() < V4_ROUTES {
        let len = rng.length(V4_DIST);
        let addr = (0x0100_0000 + rng.below(0xdf00_0000)) as u32;
        let net = Ipv4Net::new(Ipv4Addr::from(addr), len)
            .expect("len <= 32")
            .trunc();
        if seen.insert(net) {
            out.push((net, rng.below(u64::from(GROUPS)) as u32));
        }
    }
    out
}

/// The RIR /12s most IPv6 routes live under (2000::/12 holds 2001::/16).
const V6_BLOCKS: &[u128] = &[0x200, 0x240, 0x260, 0x280, 0x2a0, 0x2c0];

/// 200k distinct IPv6 prefixes under 40k /32 allocations in the RIR blocks.
fn v6_table(rng: &mut Rng) -> Vec<(Ipv6Net, u32)> {
    let allocs: Vec<u128> = (0..40_000)
        .map(|_| {
            let block = V6_BLOCKS[rng.below(V6_BLOCKS.len() as u64) as usize];
            (block << 116) | (u128::from(rng.below(1 << 20)) << 96)
        })
        .collect();
    let mut seen = HashSet::with_capacity(V6_ROUTES);
    let mut out = Vec::with_capacity(V6_ROUTES);
    while out.len() < V6_ROUTES {
        let len = rng.length(V6_DIST);
        let low = (u128::from(rng.next()) << 32) | u128::from(rng.next() >> 32);
        let addr = allocs[rng.below(allocs.len() as u64) as usize] | low;
        let net = Ipv6Net::new(Ipv6Addr::from(addr), len)
            .expect("len <= 128")
            .trunc();
        if seen.insert(net) {
            out.push((net, rng.below(u64::from(GROUPS)) as u32));
        }
    }
    out
}

/// Half inside a random table prefix, half uniformly random.
fn v4_dests(rng: &mut Rng, table: &[(Ipv4Net, u32)]) -> Vec<Ipv4Addr> {
    (0..DESTS)
        .map(|i| {
            let random = rng.next() as u32;
            if i % 2 == 0 {
                let net = table[rng.below(table.len() as u64) as usize].0;
                Ipv4Addr::from(u32::from(net.network()) | (random & u32::from(net.hostmask())))
            } else {
                Ipv4Addr::from(random)
            }
        })
        .collect()
}

/// Half inside a random table prefix, half random under the RIR blocks.
fn v6_dests(rng: &mut Rng, table: &[(Ipv6Net, u32)]) -> Vec<Ipv6Addr> {
    (0..DESTS)
        .map(|i| {
            let random = (u128::from(rng.next()) << 64) | u128::from(rng.next());
            if i % 2 == 0 {
                let net = table[rng.below(table.len() as u64) as usize].0;
                Ipv6Addr::from(u128::from(net.network()) | (random & u128::from(net.hostmask())))
            } else {
                let block = V6_BLOCKS[rng.below(V6_BLOCKS.len() as u64) as usize];
                Ipv6Addr::from((block << 116) | (random >> 12))
            }
        })
        .collect()
}

struct Data {
    v4: Vec<(Ipv4Net, u32)>,
    v4_dests: Vec<Ipv4Addr>,
    v6_dests: Vec<Ipv6Addr>,
    writer: FibWriter,
    fib: Fib,
    pt4: PrefixMap<Ipv4Net, u32>,
    pt6: PrefixMap<Ipv6Net, u32>,
    load_ours: Duration,
    load_pt: Duration,
}

fn upserts<N: Into<IpNet> + Copy>(t: &[(N, u32)]) -> impl Iterator<Item = FibChange> + '_ {
    t.iter().map(|&(n, g)| FibChange::Upsert {
        prefix: n.into(),
        group: group(g),
    })
}

impl Data {
    fn build() -> Self {
        let mut rng = Rng(0x5eed_f1b0_c0ff_ee01);
        let v4 = v4_table(&mut rng);
        let v6 = v6_table(&mut rng);
        let v4_dests = v4_dests(&mut rng, &v4);
        let v6_dests = v6_dests(&mut rng, &v6);
        let (mut writer, fib) = Fib::new();
        let changes: Vec<FibChange> = upserts(&v4).collect();
        let t = Instant::now();
        writer.apply(changes);
        let load_ours = t.elapsed();
        writer.apply(upserts(&v6));
        let t = Instant::now();
        let mut pt4 = PrefixMap::new();
        for &(n, g) in &v4 {
            pt4.insert(n, g);
        }
        let load_pt = t.elapsed();
        let mut pt6 = PrefixMap::new();
        for &(n, g) in &v6 {
            pt6.insert(n, g);
        }
        Self {
            v4,
            v4_dests,
            v6_dests,
            writer,
            fib,
            pt4,
            pt6,
            load_ours,
            load_pt,
        }
    }
}

fn ours_v4(snap: &FibSnapshot, dests: &[Ipv4Addr]) -> usize {
    dests
        .iter()
        .map(|&a| snap.lookup_v4(a).map_or(0, NextHopGroup::len))
        .sum()
}

fn ours_v6(snap: &FibSnapshot, dests: &[Ipv6Addr]) -> usize {
    dests
        .iter()
        .map(|&a| snap.lookup_v6(a).map_or(0, NextHopGroup::len))
        .sum()
}

/// A packet burst's worth of lookups at a time.
const BURST: usize = 64;

fn ours_v4_batch(snap: &FibSnapshot, dests: &[Ipv4Addr]) -> usize {
    let mut out = [None; BURST];
    let mut sum = 0;
    for chunk in dests.chunks(BURST) {
        snap.lookup_v4_batch(chunk, &mut out);
        sum += out[..chunk.len()]
            .iter()
            .map(|g| g.map_or(0, NextHopGroup::len))
            .sum::<usize>();
    }
    sum
}

fn ours_v6_batch(snap: &FibSnapshot, dests: &[Ipv6Addr]) -> usize {
    let mut out = [None; BURST];
    let mut sum = 0;
    for chunk in dests.chunks(BURST) {
        snap.lookup_v6_batch(chunk, &mut out);
        sum += out[..chunk.len()]
            .iter()
            .map(|g| g.map_or(0, NextHopGroup::len))
            .sum::<usize>();
    }
    sum
}

fn pt_v4(pt: &PrefixMap<Ipv4Net, u32>, dests: &[Ipv4Addr]) -> usize {
    dests
        .iter()
        .map(|&a| {
            pt.get_lpm(&Ipv4Net::from(a))
                .map_or(0, |(_, &g)| g as usize)
        })
        .sum()
}

fn pt_v6(pt: &PrefixMap<Ipv6Net, u32>, dests: &[Ipv6Addr]) -> usize {
    dests
        .iter()
        .map(|&a| {
            pt.get_lpm(&Ipv6Net::from(a))
                .map_or(0, |(_, &g)| g as usize)
        })
        .sum()
}

fn criterion_benches(c: &mut Criterion, d: &Data) {
    let snap = d.fib.snapshot();
    let mut g = c.benchmark_group("fib_v4_lookup_1M");
    g.throughput(Throughput::Elements(d.v4_dests.len() as u64));
    g.bench_function("ours", |b| {
        b.iter(|| ours_v4(&snap, black_box(&d.v4_dests)))
    });
    g.bench_function("ours-batch", |b| {
        b.iter(|| ours_v4_batch(&snap, black_box(&d.v4_dests)))
    });
    g.bench_function("prefix-trie", |b| {
        b.iter(|| pt_v4(&d.pt4, black_box(&d.v4_dests)))
    });
    g.finish();
    let mut g = c.benchmark_group("fib_v6_lookup_200k");
    g.throughput(Throughput::Elements(d.v6_dests.len() as u64));
    g.bench_function("ours", |b| {
        b.iter(|| ours_v6(&snap, black_box(&d.v6_dests)))
    });
    g.bench_function("ours-batch", |b| {
        b.iter(|| ours_v6_batch(&snap, black_box(&d.v6_dests)))
    });
    g.bench_function("prefix-trie", |b| {
        b.iter(|| pt_v6(&d.pt6, black_box(&d.v6_dests)))
    });
    g.finish();
}

/// Best-of-3 lookups per second of `f` over `n` destinations, in millions.
fn rate(n: usize, mut f: impl FnMut() -> usize) -> f64 {
    let best = (0..3)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            t.elapsed()
        })
        .min()
        .unwrap_or(Duration::MAX);
    n as f64 / best.as_secs_f64() / 1e6
}

/// Applies 1M changes in one batch (withdraw 500k routes and re-announce
/// them with another group, interleaved) while a reader thread keeps doing
/// lookups; returns the apply time, the reader's rate and its worst batch.
fn burst(d: &mut Data) -> (Duration, f64, Duration) {
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (fib, stop) = (d.fib.clone(), Arc::clone(&stop));
        let dests: Vec<Ipv4Addr> = d.v4_dests[..4096].to_vec();
        std::thread::spawn(move || {
            let (mut n, mut worst, start) = (0usize, Duration::ZERO, Instant::now());
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                black_box(ours_v4(&fib.snapshot(), &dests));
                worst = worst.max(t.elapsed());
                n += dests.len();
            }
            (n as f64 / start.elapsed().as_secs_f64() / 1e6, worst)
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    let changes: Vec<FibChange> = d.v4[..V4_ROUTES / 2]
        .iter()
        .flat_map(|&(n, g)| {
            [
                FibChange::Remove { prefix: n.into() },
                FibChange::Upsert {
                    prefix: n.into(),
                    group: group(g + 1),
                },
            ]
        })
        .collect();
    let t = Instant::now();
    d.writer.apply(changes);
    let apply = t.elapsed();
    std::thread::sleep(Duration::from_millis(50));
    stop.store(true, Ordering::Relaxed);
    let (reader_rate, worst) = reader.join().unwrap_or((0.0, Duration::MAX));
    (apply, reader_rate, worst)
}

/// Mean time of one single-route insert + publish into the full table.
fn single_update(d: &mut Data) -> Duration {
    let n = 1000u32;
    let t = Instant::now();
    for i in 0..n {
        let net = Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 | (i << 8)), 24).expect("valid");
        d.writer.insert(net.into(), group(i));
    }
    t.elapsed() / n
}

fn summary(d: &mut Data) {
    let snap = d.fib.snapshot_arc();
    let ours4 = rate(d.v4_dests.len(), || ours_v4(&snap, &d.v4_dests));
    let ours4b = rate(d.v4_dests.len(), || ours_v4_batch(&snap, &d.v4_dests));
    assert_eq!(
        ours_v4_batch(&snap, &d.v4_dests),
        ours_v4(&snap, &d.v4_dests)
    );
    let pt4 = rate(d.v4_dests.len(), || pt_v4(&d.pt4, &d.v4_dests));
    let ours6 = rate(d.v6_dests.len(), || ours_v6(&snap, &d.v6_dests));
    let ours6b = rate(d.v6_dests.len(), || ours_v6_batch(&snap, &d.v6_dests));
    assert_eq!(
        ours_v6_batch(&snap, &d.v6_dests),
        ours_v6(&snap, &d.v6_dests)
    );
    let pt6 = rate(d.v6_dests.len(), || pt_v6(&d.pt6, &d.v6_dests));
    // Bytes per route of a v4-only FIB of the same 1M routes.
    let (mut w4, f4) = Fib::new();
    w4.apply(upserts(&d.v4));
    let bytes4 = f4.stats().memory_bytes as f64 / V4_ROUTES as f64;
    let pt_bytes4 = d.pt4.mem_size() as f64 / V4_ROUTES as f64;
    drop((w4, f4));
    let bytes6 = {
        let (mut w6, f6) = Fib::new();
        w6.apply(
            d.writer
                .routes()
                .filter(|r| matches!(r.0, IpNet::V6(_)))
                .map(|(p, g)| FibChange::Upsert {
                    prefix: p,
                    group: g.clone(),
                })
                .collect::<Vec<_>>(),
        );
        f6.stats().memory_bytes as f64 / V6_ROUTES as f64
    };
    drop(snap);
    let single = single_update(d);
    let (apply, reader_rate, worst) = burst(d);
    println!();
    for (fam, ours, batch, pt) in [("v4", ours4, ours4b, pt4), ("v6", ours6, ours6b, pt6)] {
        println!(
            "fib {fam} lookups/s: ours {batch:.1} M/s (batch of {BURST}; one at a time {ours:.1} M/s), prefix-trie {pt:.1} M/s, ratio {:.1}× (one at a time {:.1}×)",
            batch / pt,
            ours / pt
        );
    }
    println!("bytes per route at 1M v4: {bytes4:.1} (prefix-trie {pt_bytes4:.1})");
    println!("bytes per route at 200k v6: {bytes6:.1}");
    println!(
        "load 1M v4 routes: ours {} ms, prefix-trie {} ms",
        d.load_ours.as_millis(),
        d.load_pt.as_millis()
    );
    println!(
        "single route insert + publish on the full table: {} µs",
        single.as_micros()
    );
    println!(
        "apply 1M changes burst: {} ms, one publish; a reader alongside ran {reader_rate:.1} M lookups/s, worst 4096-lookup batch {} µs",
        apply.as_millis(),
        worst.as_micros()
    );
}

fn main() {
    let mut d = Data::build();
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    criterion_benches(&mut c, &d);
    c.final_summary();
    summary(&mut d);
}
