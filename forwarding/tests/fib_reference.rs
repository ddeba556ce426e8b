//! Property test: the FIB against a naive reference LPM (a scan over every
//! route, longest match wins) over random IPv4 and IPv6 tables with /0 and
//! host routes, inserts and deletes interleaved, checked after every batch.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::prelude::*;
use vcpe_forwarding::fib::{Fib, FibChange, FibWriter, NextHop, NextHopGroup};

fn group(i: u8) -> NextHopGroup {
    match i % 3 {
        0 => NextHop::interface(u32::from(i)).into(),
        1 => NextHop::tunnel(u32::from(i))
            .via(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)))
            .into(),
        _ => NextHopGroup::new([NextHop::tunnel(1), NextHop::interface(u32::from(i))]).unwrap(),
    }
}

/// The reference: exact routes; LPM by scanning them all.
#[derive(Default)]
struct Reference(HashMap<IpNet, NextHopGroup>);

impl Reference {
    fn lookup(&self, addr: IpAddr) -> Option<&NextHopGroup> {
        self.0
            .iter()
            .filter(|(p, _)| p.contains(&addr))
            .max_by_key(|(p, _)| p.prefix_len())
            .map(|(_, g)| g)
    }

    fn apply(&mut self, change: &FibChange) {
        match change {
            FibChange::Upsert { prefix, group } => {
                self.0.insert(prefix.trunc(), group.clone());
            }
            FibChange::Remove { prefix } => {
                self.0.remove(&prefix.trunc());
            }
        }
    }
}

/// Addresses clustered around a few bases so prefixes nest and overlap.
fn v4_addr() -> impl Strategy<Value = u32> {
    let base = prop_oneof![
        Just(0x0a00_0000u32),
        Just(0xc0a8_0100),
        Just(0xffff_ffff),
        Just(0),
        any::<u32>()
    ];
    (base, any::<u32>(), 0u32..=32).prop_map(|(b, noise, k)| b ^ noise.checked_shr(k).unwrap_or(0))
}

fn v6_addr() -> impl Strategy<Value = u128> {
    let base = prop_oneof![
        Just(0x2001_0db8u128 << 96),
        Just(0x2a00_1450_4001u128 << 80),
        Just(u128::MAX),
        Just(0),
        any::<u128>()
    ];
    (base, any::<u128>(), 0u32..=128)
        .prop_map(|(b, noise, k)| b ^ noise.checked_shr(k).unwrap_or(0))
}

fn v4_prefix() -> impl Strategy<Value = IpNet> {
    let len = prop_oneof![Just(0u8), Just(32), 0u8..=32, 8u8..=30];
    (v4_addr(), len).prop_map(|(a, l)| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a), l).unwrap()))
}

fn v6_prefix() -> impl Strategy<Value = IpNet> {
    let len = prop_oneof![Just(0u8), Just(128), 0u8..=128, 16u8..=64];
    (v6_addr(), len).prop_map(|(a, l)| IpNet::V6(Ipv6Net::new(Ipv6Addr::from(a), l).unwrap()))
}

fn change(prefix: impl Strategy<Value = IpNet>) -> impl Strategy<Value = FibChange> {
    (prefix, any::<u8>(), 0u8..4).prop_map(|(prefix, g, kind)| {
        if kind == 0 {
            FibChange::Remove { prefix }
        } else {
            FibChange::Upsert {
                prefix,
                group: group(g % 8),
            }
        }
    })
}

type Batches = Vec<Vec<FibChange>>;

fn batches(prefix: impl Strategy<Value = IpNet>) -> impl Strategy<Value = Batches> {
    prop::collection::vec(prop::collection::vec(change(prefix), 0..80), 1..6)
}

/// Probe addresses: random ones plus the first, second and last address of
/// every prefix that was ever touched (the edges LPM gets wrong).
fn probes(batches: &Batches, random: &[IpAddr]) -> Vec<IpAddr> {
    let mut out = random.to_vec();
    for c in batches.iter().flatten() {
        let p = match c {
            FibChange::Upsert { prefix, .. } | FibChange::Remove { prefix } => prefix.trunc(),
        };
        out.push(p.network());
        out.push(p.broadcast());
        match p.network() {
            IpAddr::V4(a) => out.push(IpAddr::V4(Ipv4Addr::from(u32::from(a).wrapping_add(1)))),
            IpAddr::V6(a) => out.push(IpAddr::V6(Ipv6Addr::from(u128::from(a).wrapping_add(1)))),
        }
    }
    out
}

fn check(batches: Batches, random: Vec<IpAddr>) -> Result<(), TestCaseError> {
    let (mut writer, fib): (FibWriter, Fib) = Fib::new();
    let mut reference = Reference::default();
    let probes = probes(&batches, &random);
    for batch in batches {
        for c in &batch {
            reference.apply(c);
        }
        writer.apply(batch);
        let snap = fib.snapshot();
        prop_assert_eq!(snap.route_count(), reference.0.len());
        for &addr in &probes {
            prop_assert_eq!(
                snap.lookup(addr),
                reference.lookup(addr),
                "address {}",
                addr
            );
        }
        let (v4, v6): (Vec<_>, Vec<_>) = probes.iter().partition(|a| a.is_ipv4());
        let v4: Vec<Ipv4Addr> = v4
            .iter()
            .filter_map(|a| {
                if let IpAddr::V4(a) = a {
                    Some(*a)
                } else {
                    None
                }
            })
            .collect();
        let v6: Vec<Ipv6Addr> = v6
            .iter()
            .filter_map(|a| {
                if let IpAddr::V6(a) = a {
                    Some(*a)
                } else {
                    None
                }
            })
            .collect();
        let mut out = vec![None; v4.len().max(v6.len())];
        snap.lookup_v4_batch(&v4, &mut out);
        for (a, got) in v4.iter().zip(&out) {
            prop_assert_eq!(*got, snap.lookup_v4(*a), "batch v4 {}", a);
        }
        snap.lookup_v6_batch(&v6, &mut out);
        for (a, got) in v6.iter().zip(&out) {
            prop_assert_eq!(*got, snap.lookup_v6(*a), "batch v6 {}", a);
        }
        let mut routes: Vec<(IpNet, NextHopGroup)> =
            writer.routes().map(|(p, g)| (p, g.clone())).collect();
        let mut expected: Vec<(IpNet, NextHopGroup)> =
            reference.0.iter().map(|(p, g)| (*p, g.clone())).collect();
        routes.sort_by_key(|r| r.0);
        expected.sort_by_key(|r| r.0);
        prop_assert_eq!(routes, expected);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn fib_v4_matches_reference(
        batches in batches(v4_prefix()),
        random in prop::collection::vec(v4_addr().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))), 64),
    ) {
        check(batches, random)?;
    }

    #[test]
    fn fib_v6_matches_reference(
        batches in batches(v6_prefix()),
        random in prop::collection::vec(v6_addr().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))), 64),
    ) {
        check(batches, random)?;
    }

    #[test]
    fn fib_mixed_families_match_reference(
        batches in batches(prop_oneof![v4_prefix(), v6_prefix()]),
        random in prop::collection::vec(prop_oneof![
            v4_addr().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
            v6_addr().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))),
        ], 64),
    ) {
        check(batches, random)?;
    }
}
