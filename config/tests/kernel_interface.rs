//! `[kernel] interface`: the TUN the kernel routes of route sync point at.
//! Defaults to the first `[[interface]]`; a name that is no configured
//! interface is reported at its value with the known names.

mod common;

use common::{check, only, parse, with};

#[test]
fn defaults_to_the_first_interface() {
    let (src, _) = with("[[interface]]\nname = \"vcpe1\"\naddresses = [\"10.9.0.1/24\"]\n");
    let cfg = parse(&src).expect("valid");
    assert_eq!(cfg.kernel.interface.as_deref(), Some("vcpe0"));
}

#[test]
fn names_a_configured_interface() {
    let (src, _) = with(
        "[kernel]\ninterface = \"vcpe1\"\n\n[[interface]]\nname = \"vcpe1\"\naddresses = [\"10.9.0.1/24\"]\n",
    );
    let cfg = parse(&src).expect("valid");
    assert_eq!(cfg.kernel.interface.as_deref(), Some("vcpe1"));
}

#[test]
fn an_unknown_interface_is_reported_at_its_value() {
    let (src, l) = with("[kernel]\ninterface = \"vcpe9\"\n");
    check(
        &only(&src),
        l + 1,
        13,
        "kernel.interface",
        "unknown interface 'vcpe9'",
        "did you mean 'vcpe0'?",
    );
}

#[test]
fn an_invalid_name_is_reported() {
    let (src, l) = with("[kernel]\ninterface = \"no spaces please\"\n");
    let d = only(&src);
    assert_eq!(
        (d.line, d.path.as_str()),
        (l + 1, "kernel.interface"),
        "{d}"
    );
}

#[test]
fn no_interface_means_none() {
    let cfg = parse("[router]\nid = \"10.255.0.1\"\nasn = 65001\n").expect("valid");
    assert_eq!(cfg.kernel.interface, None);
}
