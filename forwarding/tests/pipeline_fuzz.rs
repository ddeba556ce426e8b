//! Property/fuzz tests: arbitrary bytes and arbitrary mutations of valid
//! packets through the whole pipeline never panic; a `Forward` verdict's
//! IPv4 packet always has a valid header checksum and a decremented TTL; a
//! `Reply` is always a well-formed router ICMP error.

mod pipeline_support;

use pipeline_support::*;
use proptest::prelude::*;
use vcpe_forwarding::pipeline::{TokenBucket, Verdict};

thread_local! {
    // One rig per test thread: building the FIB per case would dominate.
    // The limiter never runs dry, so every due ICMP error is built.
    static RIG: Rig = Rig::with_limiter(TokenBucket::new(u32::MAX, u32::MAX));
}
use vcpe_forwarding::wire::{icmpv4, icmpv6, ipv4, ipv6, proto};

fn check(rig: &Rig, mut pkt: Vec<u8>, gso: Option<u16>) -> Result<(), TestCaseError> {
    let before = pkt.clone();
    let (v, reply) = rig.run_gso(&mut pkt, gso);
    prop_assert_eq!(pkt.len(), before.len());
    match v {
        Verdict::Forward { .. } => match before[0] >> 4 {
            4 => {
                prop_assert!(v4_header_ok(&pkt), "forwarded v4 header checksum invalid");
                let (a, b) = (
                    ipv4::Packet::new_unchecked(&before[..]),
                    ipv4::Packet::new_unchecked(&pkt[..]),
                );
                prop_assert_eq!(a.ttl() - 1, b.ttl());
            }
            6 => {
                let (a, b) = (
                    ipv6::Packet::new_unchecked(&before[..]),
                    ipv6::Packet::new_unchecked(&pkt[..]),
                );
                prop_assert_eq!(a.hop_limit() - 1, b.hop_limit());
            }
            n => prop_assert!(false, "forwarded version {}", n),
        },
        Verdict::Reply { len, .. } => {
            prop_assert_eq!(len, reply.len());
            prop_assert_eq!(&pkt, &before, "a dropped packet is not modified");
            match before[0] >> 4 {
                4 => prop_assert!(icmpv4::parse_error(&reply).is_some()),
                _ => prop_assert!(icmpv6::parse_error(&reply).is_some()),
            }
        }
        Verdict::Drop(_) => prop_assert_eq!(&pkt, &before, "a dropped packet is not modified"),
    }
    Ok(())
}

/// Valid packets of every kind the pipeline treats differently.
fn seeds() -> Vec<(Vec<u8>, Option<u16>)> {
    let dsts = [
        LAN_V4,
        PEER_V4,
        NARROW_V4,
        BLACKHOLE_V4,
        UNROUTED_V4,
        NO_EGRESS_V4,
    ];
    let mut v: Vec<(Vec<u8>, Option<u16>)> = Vec::new();
    for (i, d) in dsts.into_iter().enumerate() {
        let ttl = if i % 2 == 0 { 1 } else { 64 };
        v.push((v4_udp(CLIENT_V4, d, ttl, 700), None));
        v.push((
            v4_tcp(CLIENT_V4, d, ttl, &tcp(0x02, Some(1460), i % 3 == 0, 0)),
            None,
        ));
        v.push((
            v4_packet(CLIENT_V4, d, ttl, proto::ICMP, true, &icmpv4(8, b"ping")),
            None,
        ));
    }
    v.push((
        v4_tcp(CLIENT_V4, PEER_V4, 64, &tcp(0x10, None, false, 4000)),
        Some(1000),
    ));
    for d in [lan_v6(), peer_v6(), unrouted_v6()] {
        v.push((v6_udp(client_v6(), d, 1, 1500), None));
        v.push((
            v6_tcp(client_v6(), d, 64, &tcp(0x12, Some(1440), true, 0)),
            None,
        ));
        let frag = [proto::TCP, 0, 0, 0, 0, 0, 0, 1];
        let mut l4 = frag.to_vec();
        l4.extend_from_slice(&tcp(0x02, Some(1440), false, 0));
        v.push((v6_packet(client_v6(), d, 2, proto::FRAGMENT, &l4), None));
    }
    v.push((
        v6_tcp(client_v6(), peer_v6(), 64, &tcp(0x10, None, false, 5000)),
        Some(1200),
    ));
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..1600),
        version in prop_oneof![Just(None), Just(Some(4u8)), Just(Some(6u8))],
        gso in proptest::option::of(any::<u16>()),
    ) {
        let mut bytes = bytes;
        if let (Some(v), Some(b)) = (version, bytes.first_mut()) {
            *b = (v << 4) | (*b & 0x0f);
        }
        RIG.with(|rig| check(rig, bytes, gso))?;
    }

    #[test]
    fn mutated_valid_packets_never_panic(
        seed in any::<prop::sample::Index>(),
        muts in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in proptest::option::of(any::<prop::sample::Index>()),
        fix_checksum in any::<bool>(),
        gso in proptest::option::of(0u16..3000),
        keep_gso in any::<bool>(),
    ) {
        let seeds = seeds();
        let (mut pkt, seed_gso) = seeds[seed.index(seeds.len())].clone();
        // Mutations are biased to the headers, where the decisions are.
        let hdr = pkt.len().min(80);
        for (i, b) in muts {
            let at = i.index(hdr);
            pkt[at] = b;
        }
        if let Some(c) = cut {
            pkt.truncate(c.index(pkt.len() + 1));
        }
        if fix_checksum && pkt.first().is_some_and(|b| b >> 4 == 4) {
            let mut p = ipv4::Packet::new_unchecked(&mut pkt[..]);
            if p.check_len().is_ok() {
                p.fill_checksum();
            }
        }
        let gso = if keep_gso { seed_gso } else { gso };
        if !pkt.is_empty() {
            RIG.with(|rig| check(rig, pkt, gso))?;
        } else {
            let (v, _) = RIG.with(|rig| rig.run_gso(&mut pkt, gso));
            prop_assert!(matches!(v, Verdict::Drop(_)));
        }
    }
}

#[test]
fn seeds_exercise_every_verdict() {
    let rig = Rig::new();
    let mut kinds = [0usize; 3];
    for (mut p, gso) in seeds() {
        match rig.run_gso(&mut p, gso).0 {
            Verdict::Forward { .. } => kinds[0] += 1,
            Verdict::Reply { .. } => kinds[1] += 1,
            Verdict::Drop(_) => kinds[2] += 1,
        }
    }
    assert!(kinds.iter().all(|&k| k > 0), "{kinds:?}");
}
