//! `[[bgp.neighbor]] add_paths` and `add_paths_count`: ADD-PATH (RFC
//! 7911), off unless asked for; "receive", "send", "both"; the count
//! 1..=64 or "all", only where we send, errors at file:line; a change
//! shows in the diff.

mod common;

use common::{check, only, parse, with};
use vcpe_config::AddPaths;

const NEIGHBOR: &str = "[[bgp.neighbor]]\naddress = \"10.255.0.2\"\nremote_as = 65002\n";

fn first_neighbor(extra: &str) -> vcpe_config::Neighbor {
    let (src, _) = with(&format!("{NEIGHBOR}{extra}"));
    let cfg = parse(&src).expect("valid");
    cfg.bgp.expect("bgp").neighbors.remove(0)
}

#[test]
fn add_paths_is_off_by_default_and_receive_turns_it_on() {
    assert_eq!(first_neighbor("").add_paths, None);
    assert_eq!(
        first_neighbor("add_paths = \"receive\"\n").add_paths,
        Some(AddPaths::Receive)
    );
}

#[test]
fn send_and_both_take_a_path_count_of_2_by_default() {
    let n = first_neighbor("add_paths = \"send\"\n");
    assert_eq!((n.add_paths, n.add_paths_count), (Some(AddPaths::Send), 2));
    let n = first_neighbor("add_paths = \"both\"\nadd_paths_count = 4\n");
    assert_eq!((n.add_paths, n.add_paths_count), (Some(AddPaths::Both), 4));
    let n = first_neighbor("add_paths = \"send\"\nadd_paths_count = \"all\"\n");
    assert_eq!(n.add_paths_count, u16::MAX);
}

#[test]
fn add_paths_count_is_checked_at_its_line() {
    let (src, l) = with(&format!(
        "{NEIGHBOR}add_paths = \"send\"\nadd_paths_count = 65\n"
    ));
    check(
        &only(&src),
        l + 4,
        19,
        "bgp.neighbor[0].add_paths_count",
        "",
        "1 to 64",
    );
    let (src, l) = with(&format!(
        "{NEIGHBOR}add_paths = \"send\"\nadd_paths_count = \"many\"\n"
    ));
    check(
        &only(&src),
        l + 4,
        19,
        "bgp.neighbor[0].add_paths_count",
        "neither a number nor \"all\"",
        "\"all\"",
    );
    // Without sending it would do nothing.
    let (src, l) = with(&format!(
        "{NEIGHBOR}add_paths = \"receive\"\nadd_paths_count = 3\n"
    ));
    check(
        &only(&src),
        l + 4,
        19,
        "bgp.neighbor[0].add_paths_count",
        "add_paths_count without add_paths = \"send\"",
        "set add_paths = \"send\"",
    );
}

#[test]
fn an_unknown_add_paths_value_says_the_known_one() {
    let (src, l) = with(&format!("{NEIGHBOR}add_paths = \"all\"\n"));
    check(
        &only(&src),
        l + 3,
        13,
        "bgp.neighbor[0].add_paths",
        "unknown add_paths 'all'",
        "\"receive\"",
    );
    let (src, l) = with(&format!("{NEIGHBOR}add_paths = true\n"));
    check(
        &only(&src),
        l + 3,
        13,
        "bgp.neighbor[0].add_paths",
        "expected a string",
        "",
    );
}

#[test]
fn a_changed_add_paths_is_named_in_the_diff() {
    let (a, _) = with(NEIGHBOR);
    let (b, _) = with(&format!("{NEIGHBOR}add_paths = \"receive\"\n"));
    let changes = vcpe_config::diff_fields::field_changes(
        &parse(&a).expect("valid"),
        &parse(&b).expect("valid"),
    );
    let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(paths, ["bgp neighbor 10.255.0.2 add_paths"]);
    assert_eq!(changes[0].new.as_deref(), Some("\"receive\""));
}
