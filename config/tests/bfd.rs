//! `[[bgp.neighbor]] bfd`, `bfd_interval_ms`, `bfd_multiplier`,
//! `bfd_multihop`: defaults, ranges, and the tuning keys without `bfd`.

mod common;

use common::{check, only, parse, with};
use vcpe_config::NeighborBfd;

const NEIGHBOR: &str = "[[bgp.neighbor]]\naddress = \"10.255.0.2\"\nremote_as = 65002\n";

fn first_neighbor(extra: &str) -> vcpe_config::Neighbor {
    let (src, _) = with(&format!("{NEIGHBOR}{extra}"));
    let cfg = parse(&src).expect("valid");
    cfg.bgp.expect("bgp").neighbors.remove(0)
}

#[test]
fn bfd_is_off_by_default() {
    assert_eq!(first_neighbor("").bfd, None);
    assert_eq!(first_neighbor("bfd = false\n").bfd, None);
}

#[test]
fn bfd_defaults_to_300ms_times_3_single_hop() {
    assert_eq!(
        first_neighbor("bfd = true\n").bfd,
        Some(NeighborBfd {
            interval_ms: 300,
            multiplier: 3,
            multihop: false
        })
    );
}

#[test]
fn bfd_tuning_is_read() {
    let n = first_neighbor(
        "bfd = true\nbfd_interval_ms = 100\nbfd_multiplier = 5\nbfd_multihop = true\n",
    );
    assert_eq!(
        n.bfd,
        Some(NeighborBfd {
            interval_ms: 100,
            multiplier: 5,
            multihop: true
        })
    );
}

#[test]
fn bfd_interval_out_of_range_is_an_error_at_its_line() {
    let (src, l) = with(&format!("{NEIGHBOR}bfd = true\nbfd_interval_ms = 5\n"));
    check(
        &only(&src),
        l + 4,
        19,
        "bgp.neighbor[0].bfd_interval_ms",
        "5 is out of range 10..=60000",
        "use 10 to 60000 milliseconds, e.g. 300 (detection takes interval × multiplier)",
    );
}

#[test]
fn bfd_multiplier_zero_is_an_error() {
    let (src, l) = with(&format!("{NEIGHBOR}bfd = true\nbfd_multiplier = 0\n"));
    let d = only(&src);
    assert_eq!(d.line, l + 4);
    assert_eq!(d.path, "bgp.neighbor[0].bfd_multiplier");
}

#[test]
fn bfd_tuning_without_bfd_is_an_error() {
    let (src, l) = with(&format!("{NEIGHBOR}bfd_interval_ms = 100\n"));
    check(
        &only(&src),
        l + 3,
        19,
        "bgp.neighbor[0].bfd_interval_ms",
        "bfd_interval_ms has no effect without bfd = true",
        "add `bfd = true` to this neighbor, or remove the key",
    );
}
