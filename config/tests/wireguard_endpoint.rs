//! WireGuard `endpoint`: optional (a responder learns it), an address, or
//! a hostname:port resolved at run time; other encapsulations still need
//! an address.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::{check, with};

const PRIVATE: &str = "SFjSRdNp3NNlvNYOczlsHd63oQ5e0akCyI1dOZ+TJWk=\n";
const PUBLIC: &str = "UTvkses05VGojfCa+qXEnOUD38+pWFyGRvceUhSErjo=";

/// Parses a config with one WireGuard peer whose endpoint line is
/// `endpoint` (may be empty); the endpoint line is line `l + 2`.
fn load(endpoint: &str) -> (Result<vcpe_config::Config, vcpe_config::Diagnostics>, usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("wg.key");
    fs::write(&key, PRIVATE).expect("write");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).expect("chmod");
    // The bind is of the endpoint's family (two families are refused).
    let bind = if endpoint.contains('[') {
        "[::]:51820"
    } else {
        "0.0.0.0:51820"
    };
    let (src, l) = with(&format!(
        "[[peer]]\nname = \"vpc02\"\n{endpoint}\nbind = \"{bind}\"\nprivate_key_file = \"{}\"\npublic_key = \"{PUBLIC}\"\nallowed_prefixes = [\"10.2.0.0/16\"]\n",
        key.display()
    ));
    let origin = dir.path().join("vcpe.toml");
    fs::write(&origin, &src).expect("write config");
    (vcpe_config::load(&origin), l)
}

#[test]
fn endpoint_may_be_absent() {
    let cfg = load("").0.expect("valid");
    let p = &cfg.peers[0];
    assert_eq!(p.fixed_endpoint(), None);
    assert_eq!(p.endpoint_host, None);
}

#[test]
fn no_endpoint_needs_a_bind_port() {
    let (src, l) = with(
        "[[peer]]\nname = \"p\"\nprivate_key_file = \"/nonexistent\"\npublic_key = \"UTvkses05VGojfCa+qXEnOUD38+pWFyGRvceUhSErjo=\"\nallowed_prefixes = []\n",
    );
    let errs = common::errors(&src);
    let e = errs
        .iter()
        .find(|e| e.message.contains("without endpoint"))
        .unwrap_or_else(|| panic!("{errs:#?}"));
    check(
        e,
        l,
        1,
        "peer[0].endpoint",
        "needs a bind with a fixed port",
        "bind = \"0.0.0.0:51820\"",
    );
}

#[test]
fn endpoint_address_is_fixed() {
    let cfg = load("endpoint = \"[2001:db8::2]:51820\"").0.expect("valid");
    let p = &cfg.peers[0];
    assert_eq!(
        p.fixed_endpoint(),
        Some("[2001:db8::2]:51820".parse().unwrap())
    );
    assert_eq!(p.endpoint_host, None);
}

#[test]
fn endpoint_hostname_is_kept_for_the_resolver() {
    let cfg = load("endpoint = \"Branch-7.Example.NET.:51821\"")
        .0
        .expect("valid");
    let p = &cfg.peers[0];
    assert_eq!(p.fixed_endpoint(), None);
    assert_eq!(p.endpoint.port(), 51821);
    assert_eq!(
        p.endpoint_host.as_deref(),
        Some("branch-7.example.net:51821")
    );
}

#[test]
fn bad_hostnames_are_refused_with_a_fix() {
    for (bad, what) in [
        ("branch.example.net", "has no port"),
        ("branch.example.net:http", "is not a UDP port"),
        (
            "branch.example.net:0",
            "neither an address:port nor a hostname:port",
        ),
        (
            "-bad-.example:51820",
            "neither an address:port nor a hostname:port",
        ),
        ("a..b:51820", "neither an address:port nor a hostname:port"),
        (
            "under_score.net:51820",
            "neither an address:port nor a hostname:port",
        ),
    ] {
        let (r, l) = load(&format!("endpoint = \"{bad}\""));
        let errs = r.expect_err(bad).errors;
        assert_eq!(errs.len(), 1, "{bad}: {errs:#?}");
        check(&errs[0], l + 2, 12, "peer[0].endpoint", what, "51820");
    }
}

#[test]
fn gre_and_vxlan_still_need_an_address() {
    let (src, l) = with(
        "[[peer]]\nname = \"p\"\nendpoint = \"branch.example.net\"\nencapsulation = \"gre\"\nallowed_prefixes = []\n",
    );
    check(
        &common::only(&src),
        l + 2,
        12,
        "peer[0].endpoint",
        "is not an underlay address:port",
        "only allowed for wireguard",
    );
    let (src, l) =
        with("[[peer]]\nname = \"p\"\nencapsulation = \"vxlan\"\nvni = 5\nallowed_prefixes = []\n");
    check(
        &common::only(&src),
        l,
        1,
        "peer[0].endpoint",
        "missing required key 'endpoint'",
        "",
    );
}
