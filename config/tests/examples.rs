//! The shipped example configurations: the good ones load, and the error
//! report for `examples/bad.toml` matches its snapshot.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Git does not keep file modes: give the example secrets mode 0600 first,
/// as CI must do before running `vcped check-config` on the examples.
fn chmod_example_keys() {
    let dir = Path::new("../examples/keys");
    for entry in fs::read_dir(dir).expect("examples/keys exists") {
        let path = entry.expect("readable dir entry").path();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod 600");
    }
}

#[test]
fn good_examples_load() {
    chmod_example_keys();
    for name in ["single-vpc", "vpc01", "vpc02", "vpc03", "primary-backup"] {
        let path = format!("../examples/{name}.toml");
        if let Err(e) = vcpe_config::load(Path::new(&path)) {
            panic!("{path} should be valid:\n{e}");
        }
    }
}

#[test]
fn many_to_many_topology_is_consistent() {
    chmod_example_keys();
    let cfgs: Vec<_> = (1..=3)
        .map(|n| {
            vcpe_config::load(Path::new(&format!("../examples/vpc0{n}.toml")))
                .expect("valid example")
        })
        .collect();
    for (i, cfg) in cfgs.iter().enumerate() {
        let bgp = cfg.bgp.as_ref().expect("bgp configured");
        assert_eq!(bgp.neighbors.len(), 2);
        assert_eq!(cfg.peers.len(), 2);
        for n in &bgp.neighbors {
            // Each neighbor is another vCPE whose router id and AS match.
            let other = cfgs
                .iter()
                .find(|c| c.router.asn == n.remote_as)
                .expect("neighbor AS exists");
            assert_eq!(std::net::IpAddr::V4(other.router.id), n.address);
            // Our exported prefixes pass the neighbor's import filter for us.
            let theirs = other
                .bgp
                .as_ref()
                .and_then(|b| b.neighbors.iter().find(|m| m.remote_as == cfg.router.asn))
                .expect("symmetric session");
            let import = theirs.import.as_ref().expect("import filter");
            for r in cfg.routes.iter().filter(|r| r.advertise) {
                assert!(
                    import.iter().any(|f| f.matches(&r.prefix)),
                    "vpc0{} route {} rejected",
                    i + 1,
                    r.name
                );
            }
        }
    }
    assert_eq!(
        cfgs[0]
            .routes
            .iter()
            .filter(|r| r.prefix.addr().is_ipv4())
            .count(),
        2,
        "VPC 01 serves two vxnets"
    );
}

#[test]
fn bad_example_reports_every_error() {
    chmod_example_keys();
    let err = vcpe_config::load(Path::new("../examples/bad.toml")).expect_err("bad.toml must fail");
    insta::assert_snapshot!("bad_toml", err.to_string());
}
