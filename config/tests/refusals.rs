//! Mistakes that parse but cannot run (issue 17 item 2): each is refused
//! with file:line, the key path and a fix, like every other error.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::{BASE, check, only, parse, with};
use vcpe_config::HostChecks;

const GRE: &str = "[[peer]]\nname = \"vpc02\"\nendpoint = \"198.51.100.2\"\nencapsulation = \"gre\"\nallowed_prefixes = [\"10.2.0.0/16\"]\n";

#[test]
fn two_routes_for_one_prefix() {
    let r = |n: &str| {
        format!("[[route]]\nname = \"{n}\"\nprefix = \"10.1.0.0/16\"\ninterface = \"vcpe0\"\n")
    };
    let (src, l) = with(&format!("{}{}", r("a"), r("b")));
    check(
        &only(&src),
        l + 5,
        8,
        "route[1].prefix",
        "route 'b' has prefix 10.1.0.0/16 like route 'a' (line 9)",
        "remove one of them",
    );
}

#[test]
fn a_neighbor_at_our_own_address() {
    let (src, l) = with("[bgp]\n[[bgp.neighbor]]\naddress = \"10.255.0.1\"\nremote_as = 65002\n");
    check(
        &only(&src),
        l + 2,
        11,
        "bgp.neighbor[0].address",
        "interface vcpe0's address",
        "the other router",
    );
    // The router id, on no interface.
    let src = BASE.replace("id = \"10.255.0.1\"", "id = \"10.9.9.9\"")
        + "[bgp]\n[[bgp.neighbor]]\naddress = \"10.9.9.9\"\nremote_as = 65002\n";
    assert!(only(&src).message.contains("the router id"), "{src}");
}

#[test]
fn a_gre_endpoint_with_a_port() {
    let (src, l) = with(&GRE.replace("\"198.51.100.2\"", "\"198.51.100.2:47\""));
    check(
        &only(&src),
        l + 1,
        8,
        "peer[0].endpoint",
        "GRE endpoint 198.51.100.2:47 has a port",
        "endpoint = \"198.51.100.2\"",
    );
    assert!(parse(&with(GRE).0).is_ok());
}

#[test]
fn an_endpoint_and_a_bind_of_different_families() {
    let p = "[[peer]]\nname = \"vpc02\"\nendpoint = \"[2001:db8::2]:4789\"\nbind = \"0.0.0.0:4789\"\nencapsulation = \"vxlan\"\nvni = 10\nallowed_prefixes = [\"10.2.0.0/16\"]\n";
    let (src, l) = with(p);
    check(
        &only(&src),
        l + 1,
        8,
        "peer[0].bind",
        "different address families",
        "[::]:51820",
    );
}

const PRIVATE: &str = "SFjSRdNp3NNlvNYOczlsHd63oQ5e0akCyI1dOZ+TJWk=\n";
const PUBLIC: &str = "UTvkses05VGojfCa+qXEnOUD38+pWFyGRvceUhSErjo=";

#[test]
fn two_peers_with_one_public_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("wg.key");
    fs::write(&key, PRIVATE).expect("write");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).expect("chmod");
    let peer = |name: &str, ep: &str| {
        format!(
            "[[peer]]\nname = \"{name}\"\nendpoint = \"{ep}\"\nprivate_key_file = \"wg.key\"\npublic_key = \"{PUBLIC}\"\nallowed_prefixes = []\n"
        )
    };
    let (src, l) = with(&format!(
        "{}{}",
        peer("vpc02", "198.51.100.2:51820"),
        peer("vpc03", "198.51.100.3:51820")
    ));
    let origin = dir.path().join("vcpe.toml");
    fs::write(&origin, &src).expect("write config");
    let errs = vcpe_config::load(&origin).expect_err("refused").errors;
    assert_eq!(errs.len(), 1, "{errs:#?}");
    check(
        &errs[0],
        l + 7,
        8,
        "peer[1].public_key",
        "peer 'vpc03' has the public key of peer 'vpc02' (line 9)",
        "own key pair",
    );
}

fn on_host(src: &str, group_exists: fn(&str) -> Option<bool>) -> Vec<vcpe_config::Diagnostic> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("vcpe.toml");
    fs::write(&path, src).expect("write");
    match vcpe_config::load_on_host(&path, &HostChecks { group_exists }) {
        Ok(_) => Vec::new(),
        Err(d) => d.errors,
    }
}

#[test]
fn a_control_group_that_does_not_exist_and_no_interface_are_refused_on_the_host() {
    let (src, l) = with("[control]\ngroup = \"vcpe-nosuch\"\n");
    // Parsing alone cannot tell.
    assert!(parse(&src).is_ok());
    let errs = on_host(&src, |g| Some(g != "vcpe-nosuch"));
    assert_eq!(errs.len(), 1, "{errs:#?}");
    check(
        &errs[0],
        l + 1,
        9,
        "control.group",
        "group 'vcpe-nosuch' does not exist",
        "groupadd vcpe-nosuch",
    );
    assert!(on_host(&src, |_| Some(true)).is_empty());
    assert!(on_host(&src, |_| None).is_empty(), "unknown: not refused");
    let bare = "[router]\nid = \"10.255.0.1\"\nasn = 65001\n";
    let errs = on_host(bare, |_| Some(true));
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!((errs[0].line, errs[0].path.as_str()), (1, "interface"));
    assert!(errs[0].message.contains("no [[interface]]"));
}
