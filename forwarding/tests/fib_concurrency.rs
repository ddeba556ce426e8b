//! Concurrency: reader threads keep looking up while the writer applies a
//! burst of route changes (1M in release builds, 100k in debug builds) and
//! always see one consistent snapshot: every answer is the old or the new
//! group, never a mix within a snapshot, never garbage or a missing route.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use vcpe_forwarding::fib::{Fib, FibChange, NextHop, NextHopGroup};

const CHANGES: u32 = if cfg!(debug_assertions) {
    100_000
} else {
    1_000_000
};

fn v4_route(i: u32) -> IpNet {
    IpNet::V4(Ipv4Net::new(Ipv4Addr::from(0x0100_0000 + (i << 8)), 24).unwrap())
}

fn v6_route(i: u32) -> IpNet {
    let addr = (0x2001_0db8u128 << 96) | (u128::from(i) << 80);
    IpNet::V6(Ipv6Net::new(Ipv6Addr::from(addr), 48).unwrap())
}

fn all_routes(group: &NextHopGroup) -> impl Iterator<Item = FibChange> + '_ {
    (0..CHANGES).map(move |i| {
        let prefix = if i % 8 == 7 { v6_route(i) } else { v4_route(i) };
        FibChange::Upsert {
            prefix,
            group: group.clone(),
        }
    })
}

#[test]
fn fib_readers_progress_and_stay_consistent_during_burst() {
    let old = NextHopGroup::from(NextHop::interface(1));
    let new = NextHopGroup::new([NextHop::tunnel(2), NextHop::tunnel(3)]).unwrap();
    let (mut writer, fib) = Fib::new();
    writer.apply(all_routes(&old));

    let probes: Vec<IpAddr> = (0..CHANGES)
        .step_by(997)
        .map(
            |i| match if i % 8 == 7 { v6_route(i) } else { v4_route(i) } {
                IpNet::V4(n) => IpAddr::V4(Ipv4Addr::from(u32::from(n.network()) | 0x2a)),
                IpNet::V6(n) => IpAddr::V6(Ipv6Addr::from(u128::from(n.network()) | 0x2a)),
            },
        )
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let applying = Arc::new(AtomicBool::new(false));
    let during = Arc::new(AtomicU64::new(0));

    let reader = {
        let (fib, stop, applying, during) =
            (fib.clone(), stop.clone(), applying.clone(), during.clone());
        let (old, new) = (old.clone(), new.clone());
        std::thread::spawn(move || {
            let (mut saw_old, mut saw_new) = (false, false);
            while !stop.load(Ordering::Acquire) {
                let snap = fib.snapshot();
                let first = snap
                    .lookup(probes[0])
                    .expect("route present in every snapshot");
                assert!(*first == old || *first == new, "garbage group {first:?}");
                for &a in &probes {
                    assert_eq!(
                        snap.lookup(a),
                        Some(first),
                        "mixed answers within one snapshot at {a}"
                    );
                }
                if *first == old {
                    saw_old = true
                } else {
                    saw_new = true
                }
                if applying.load(Ordering::Acquire) {
                    during.fetch_add(1, Ordering::Relaxed);
                }
            }
            (saw_old, saw_new)
        })
    };

    std::thread::sleep(Duration::from_millis(20));
    applying.store(true, Ordering::Release);
    let report = writer.apply(all_routes(&new));
    applying.store(false, Ordering::Release);
    std::thread::sleep(Duration::from_millis(20));
    stop.store(true, Ordering::Release);
    let (saw_old, saw_new) = reader.join().expect("reader panicked");

    assert_eq!(report.upserted, CHANGES as usize);
    assert!(
        saw_old && saw_new,
        "reader saw old {saw_old}, new {saw_new}"
    );
    assert!(
        during.load(Ordering::Relaxed) > 0,
        "reader made no progress during the burst"
    );
    assert_eq!(fib.stats().groups, 1, "the old group was freed");
}

#[test]
fn fib_many_small_publishes_while_reading() {
    let (mut writer, fib) = Fib::new();
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (fib, stop) = (fib.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut last = 0;
            let mut loads = 0u64;
            while !stop.load(Ordering::Acquire) {
                let snap = fib.snapshot();
                assert!(snap.generation() >= last, "generations went backwards");
                last = snap.generation();
                // Route i exists iff generation > i: check the edge.
                let g = snap.generation() as u32;
                if g > 0 {
                    assert!(snap.lookup(v4_route(g - 1).network()).is_some());
                }
                assert!(snap.lookup(v4_route(g).network()).is_none());
                loads += 1;
            }
            loads
        })
    };
    for i in 0..2000 {
        writer.insert(v4_route(i), NextHop::interface(i % 7).into());
    }
    stop.store(true, Ordering::Release);
    assert!(reader.join().expect("reader panicked") > 0);
}
