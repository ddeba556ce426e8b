//! `[[bgp.neighbor]] add_paths`: ADD-PATH (RFC 7911), off unless asked
//! for; "receive" only, "send" and "both" refused at file:line (vcped does
//! not send several paths per prefix yet); a change shows in the diff.

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
fn sending_several_paths_is_refused_with_what_to_use() {
    for mode in ["send", "both"] {
        let (src, l) = with(&format!("{NEIGHBOR}add_paths = \"{mode}\"\n"));
        check(
            &only(&src),
            l + 3,
            13,
            "bgp.neighbor[0].add_paths",
            "cannot send several paths per prefix yet",
            "use add_paths = \"receive\"",
        );
    }
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
