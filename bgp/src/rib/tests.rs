//! Unit tests of the RIB internals: storage sizes and the per-prefix path
//! list. Behaviour is tested through the public API in `bgp/tests/rib_*.rs`.

use std::sync::Arc;

use ipnet::Ipv4Net;

use super::best_path::CandidateSource;
use super::loc_rib::{Path, Paths, TableEntry};
use crate::model::PathAttributes;

#[test]
fn storage_is_compact() {
    assert_eq!(std::mem::size_of::<Path>(), 16);
    assert_eq!(std::mem::size_of::<Paths>(), 16);
    // A table entry: paths (tombstone = None) and the journal stamp.
    assert_eq!(std::mem::size_of::<TableEntry>(), 24);
    // One IPv4 table slot: key and entry.
    assert_eq!(std::mem::size_of::<(Ipv4Net, TableEntry)>(), 32);
}

fn path(src: u32, med: u32) -> Path {
    Path {
        attrs: Arc::new(PathAttributes {
            med: Some(med),
            ..PathAttributes::default()
        }),
        src,
        stale: false,
        rule: 0,
    }
}

#[test]
fn reselect_puts_best_first() {
    let info = |s: u32| {
        (
            CandidateSource::Peer {
                ebgp: true,
                router_id: std::net::Ipv4Addr::new(1, 1, 1, s as u8),
                addr: std::net::IpAddr::from([10, 0, 0, s as u8]),
            },
            u64::from(s),
        )
    };
    let mut v = Paths::Many(Box::new(vec![path(3, 0), path(1, 0), path(2, 0)]));
    v.reselect(&info);
    assert_eq!(v.best().src, 1, "lowest router id wins");
    let mut v2 = Paths::Many(Box::new(vec![path(2, 5), path(1, 9)]));
    v2.reselect(&info);
    // Empty AS paths: same (internal) neighbor AS, so MED decides.
    assert_eq!(v2.best().src, 2);
}

#[test]
fn journal_and_tombstones_are_trimmed_once_everyone_took() {
    let (mut rib, p) = rib_with_peer_up();
    rib.take_exports(p);
    let n: ipnet::IpNet = "10.1.0.0/16".parse().expect("prefix");
    rib.originate(n, None);
    rib.withdraw_local(n);
    // A tombstone and a record wait for the FIB feed and the peer.
    assert_eq!(rib.table.map.len(), 1);
    assert_eq!(rib.table.len(), 0);
    rib.take_fib_changes();
    assert_eq!(rib.counts().journal, 1, "the peer has not taken yet");
    rib.take_exports(p);
    assert_eq!(rib.counts().journal, 0);
    assert_eq!(rib.table.map.len(), 0, "tombstone dropped");
    // A peer going down no longer holds the journal back.
    rib.originate(n, None);
    rib.take_fib_changes();
    assert_eq!(rib.counts().journal, 1);
    rib.peer_down(p);
    assert_eq!(rib.counts().journal, 0);
}

#[test]
fn records_only_a_lagging_consumer_needs_are_dropped_and_it_still_sees_every_change() {
    use super::BestChange;

    let (mut rib, p) = rib_with_peer_up();
    rib.take_exports(p);
    let net = |i: u32| ipnet::IpNet::V4(ipnet::Ipv4Net::new((i << 8).into(), 24).expect("net"));
    for i in 0..10 {
        rib.originate(net(i), None);
    }
    assert_eq!(rib.take_fib_changes().len(), 10);
    // The FIB feed lags while the peer takes every 100 changes: the
    // journal does not keep a record per prefix for the FIB.
    let mut max_journal = 0;
    for i in 10..20_000 {
        rib.originate(net(i), None);
        if i % 100 == 0 {
            rib.take_exports(p);
            max_journal = max_journal.max(rib.counts().journal);
        }
    }
    assert!(max_journal < 5000, "journal held {max_journal} records");
    // An early prefix the FIB holds goes away; its tombstone must stay
    // until the FIB took the removal, though its record is long gone.
    rib.withdraw_local(net(3));
    rib.take_exports(p);
    for i in 20_000..25_000 {
        rib.originate(net(i), None);
    }
    rib.take_exports(p);
    assert_eq!(rib.table.map.len(), rib.table.len() + 1, "tombstone kept");
    let changes = rib.take_fib_changes();
    let adds = changes
        .iter()
        .filter(|c| matches!(c, BestChange::Add { .. }))
        .count();
    assert_eq!(adds, 25_000 - 10);
    assert_eq!(
        changes
            .iter()
            .filter(|c| matches!(c, BestChange::Remove { .. }))
            .map(BestChange::prefix)
            .collect::<Vec<_>>(),
        vec![net(3)]
    );
    assert_eq!(rib.table.map.len(), rib.table.len(), "tombstone swept");
    assert!(rib.take_fib_changes().is_empty());
}

#[test]
fn a_session_going_with_a_big_table_keeps_little_for_the_fib_and_removes_it_all() {
    use super::{BestChange, FIB_HELD_MAX};
    use crate::model::{AsPath, PathAttributes};
    use std::net::{IpAddr, Ipv4Addr};
    use std::sync::Arc;

    let (mut rib, p) = rib_with_peer_up();
    let attrs = Arc::new(PathAttributes {
        as_path: AsPath::sequence(vec![64501]),
        next_hop: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
        ..PathAttributes::default()
    });
    let n = FIB_HELD_MAX + 10_000;
    let nets: Vec<ipnet::IpNet> = (0..n as u32)
        .map(|i| ipnet::IpNet::V4(ipnet::Ipv4Net::new((i << 8).into(), 24).expect("net")))
        .collect();
    for chunk in nets.chunks(1000) {
        rib.apply(p, &[], chunk, Some(&attrs)).expect("accepted");
    }
    assert_eq!(rib.take_fib_changes().len(), n);
    rib.peer_down(p);
    assert!(rib.fib_held.len() <= FIB_HELD_MAX, "{}", rib.fib_held.len());
    assert!(rib.counts().journal < 10_000, "journal trimmed");
    let changes = rib.take_fib_changes();
    assert_eq!(changes.len(), n);
    assert!(
        changes
            .iter()
            .all(|c| matches!(c, BestChange::Remove { .. }))
    );
    assert!(rib.take_fib_changes().is_empty());
    assert_eq!(rib.table.map.len(), 0, "tombstones gone");
}

/// A RIB with one eBGP peer (AS 64501, slot `PeerId(1)`) up for IPv4
/// unicast, our session address known.
fn rib_with_peer_up() -> (super::Rib, super::PeerId) {
    use super::{LocalConfig, PeerConfig, PeerId, PeerUp, Rib};
    use crate::model::AddrFamily;
    use std::net::{IpAddr, Ipv4Addr};

    let mut rib = Rib::new(LocalConfig {
        asn: 65000,
        router_id: Ipv4Addr::new(10, 0, 0, 1),
    });
    let mut cfg = PeerConfig::new(64501, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
    cfg.local_addr_v4 = Some(Ipv4Addr::new(192, 0, 2, 254));
    let p = PeerId(1);
    rib.add_peer(p, cfg);
    rib.peer_up(
        p,
        PeerUp {
            router_id: Ipv4Addr::new(10, 0, 0, 2),
            families: vec![AddrFamily::IPV4_UNICAST],
            four_octet_as: true,
            add_path_receive: Default::default(),
            add_path_send: Default::default(),
        },
    );
    (rib, p)
}

#[test]
fn the_import_rule_of_a_path_fits_in_a_byte() {
    use super::loc_rib::rule_byte;
    let mut p = path(1, 0);
    for (rule, shown) in [(None, None), (Some(0), Some(0)), (Some(253), Some(253))] {
        p.rule = rule_byte(rule);
        assert_eq!(p.import_rule(), shown);
    }
    // Beyond what a byte counts: known to be some rule, not which.
    p.rule = rule_byte(Some(254));
    assert_eq!(p.import_rule(), None);
    p.rule = rule_byte(Some(100_000));
    assert_eq!(p.import_rule(), None);
}
