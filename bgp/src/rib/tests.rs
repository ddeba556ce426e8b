//! Unit tests of the RIB internals: storage sizes and the per-prefix path
//! list. Behaviour is tested through the public API in `bgp/tests/rib_*.rs`.

use std::sync::Arc;

use ipnet::Ipv4Net;

use super::best_path::CandidateSource;
use super::loc_rib::{Path, Paths};
use crate::model::PathAttributes;

#[test]
fn storage_is_compact() {
    assert_eq!(std::mem::size_of::<Path>(), 16);
    assert_eq!(std::mem::size_of::<Paths>(), 16);
    // One IPv4 table slot: key and inline path.
    assert_eq!(std::mem::size_of::<(Ipv4Net, Paths)>(), 24);
}

fn path(src: u32, med: u32) -> Path {
    Path {
        attrs: Arc::new(PathAttributes {
            med: Some(med),
            ..PathAttributes::default()
        }),
        src,
        stale: false,
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
