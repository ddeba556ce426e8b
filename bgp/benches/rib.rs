//! RIB throughput and memory: 1M IPv4 /24 prefixes from one eBGP peer,
//! re-advertised to a second eBGP peer. Two profiles:
//! - `shared`: UPDATEs of 1000 prefixes sharing one attribute set (1000
//!   distinct sets in all), the BIRD comparison case;
//! - `distinct`: UPDATEs of 4 prefixes, each UPDATE with its own AS path
//!   (250 000 distinct sets).
//!
//! Timed with criterion: `ingest` (every `apply` plus `take_fib_changes`)
//! and `export` (`take_exports` for the second peer, then for the source
//! peer, which gets nothing back but, like every established peer in the
//! daemon, takes its queue so the change journal can be trimmed). Memory is measured
//! once per profile with a counting global allocator and printed: live
//! heap bytes per route after ingest and after export (change queues
//! drained), and the peak during the run, excluding the input UPDATEs.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ipnet::{IpNet, Ipv4Net};
use vcpe_bgp::model::{AddrFamily, AsPath, Origin, PathAttributes};
use vcpe_bgp::rib::{LocalConfig, PeerConfig, PeerId, PeerUp, Rib};

/// Counts live and peak heap bytes.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grow(n: usize) {
    let now = LIVE.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call forwards to `System` with the caller's arguments; the
// counters are plain atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        // SAFETY: forwarded contract.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size >= layout.size() {
            grow(new_size - layout.size());
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        // SAFETY: forwarded contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const ROUTES: u32 = 1_000_000;
const LOCAL_AS: u32 = 65000;
const SRC: PeerId = PeerId(1);
const DST: PeerId = PeerId(2);

/// Decoded UPDATEs: announced prefixes and their attributes.
type Updates = Vec<(Vec<IpNet>, PathAttributes)>;

fn prefix(i: u32) -> IpNet {
    // 1.0.0.0/24, 1.0.1.0/24, ...: a million distinct /24s.
    let addr = Ipv4Addr::from((1u32 << 24) + (i << 8));
    IpNet::V4(Ipv4Net::new(addr, 24).expect("valid length"))
}

fn attrs(path: Vec<u32>) -> PathAttributes {
    PathAttributes {
        origin: Origin::Igp,
        as_path: AsPath::sequence(path),
        next_hop: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
        ..PathAttributes::default()
    }
}

fn updates(per_update: u32) -> Updates {
    (0..ROUTES / per_update)
        .map(|u| {
            let ps = (0..per_update)
                .map(|k| prefix(u * per_update + k))
                .collect();
            // A distinct AS path per UPDATE.
            (ps, attrs(vec![64501, 64600 + u / 1000, 1000 + u % 1000]))
        })
        .collect()
}

fn peer(asn: u32, n: u8) -> PeerConfig {
    let mut c = PeerConfig::new(asn, IpAddr::V4(Ipv4Addr::new(192, 0, 2, n)));
    c.local_addr_v4 = Some(Ipv4Addr::new(192, 0, 2, 254));
    c
}

/// A RIB with both peers established and their (empty) dumps taken.
fn fresh() -> Rib {
    let mut rib = Rib::new(LocalConfig {
        asn: LOCAL_AS,
        router_id: Ipv4Addr::new(10, 0, 0, 254),
    });
    for (id, asn, n) in [(SRC, 64501, 1), (DST, 64502, 2)] {
        rib.add_peer(id, peer(asn, n));
        rib.peer_up(
            id,
            PeerUp {
                router_id: Ipv4Addr::new(10, 0, 0, n),
                families: vec![AddrFamily::IPV4_UNICAST],
                four_octet_as: true,
                add_path_receive: Default::default(),
                add_path_send: Default::default(),
            },
        );
        rib.take_exports(id);
    }
    rib
}

fn ingest(rib: &mut Rib, ups: &Updates) -> usize {
    for (ps, a) in ups {
        rib.apply(SRC, &[], ps, Some(a)).expect("no limit");
    }
    rib.take_fib_changes().len()
}

/// One measured run: time and heap per route.
fn report(name: &str, ups: &Updates) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let t0 = Instant::now();
    let mut rib = fresh();
    let fib = ingest(&mut rib, ups);
    let t1 = Instant::now();
    let after_ingest = LIVE.load(Ordering::Relaxed) - base;
    let export = rib.take_exports(DST);
    let back = rib.take_exports(SRC);
    let t2 = Instant::now();
    assert!(back.is_empty(), "nothing goes back to the source");
    let groups = export.announce.len();
    let sent = export.announced_len();
    let peak = PEAK.load(Ordering::Relaxed) - base;
    drop(export);
    let after_export = LIVE.load(Ordering::Relaxed) - base;
    let per = |b: usize| b as f64 / f64::from(ROUTES);
    let c = rib.counts();
    println!(
        "rib/{name}: ingest {:.3} s, export {:.3} s ({fib} FIB changes, {sent} prefixes in {groups} groups, {} attribute sets)",
        (t1 - t0).as_secs_f64(),
        (t2 - t1).as_secs_f64(),
        c.attr_sets,
    );
    println!(
        "rib/{name}: heap {:.1} B/route after ingest, {:.1} B/route after export, peak {:.1} B/route",
        per(after_ingest),
        per(after_export),
        per(peak),
    );
    black_box(rib);
}

fn bench(c: &mut Criterion) {
    for (name, per_update) in [("shared", 1000), ("distinct", 4)] {
        let ups = updates(per_update);
        report(name, &ups);
        let mut g = c.benchmark_group(format!("rib/{name}"));
        g.sample_size(10);
        g.bench_function("ingest", |b| {
            b.iter_batched(
                fresh,
                |mut rib| {
                    black_box(ingest(&mut rib, &ups));
                    rib
                },
                BatchSize::PerIteration,
            )
        });
        g.bench_function("export", |b| {
            b.iter_batched(
                || {
                    let mut rib = fresh();
                    ingest(&mut rib, &ups);
                    rib
                },
                |mut rib| {
                    let e = rib.take_exports(DST);
                    let back = rib.take_exports(SRC);
                    (rib, e, back)
                },
                BatchSize::PerIteration,
            )
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
