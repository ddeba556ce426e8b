//! One test per value-level validation error: types, ranges, syntax,
//! unknown and missing keys. Positions are asserted exactly.

mod common;

use common::{BASE, check, errors, only, parse, with};

#[test]
fn base_config_is_valid_with_defaults() {
    let cfg = parse(BASE).expect("valid");
    assert_eq!(
        cfg.control.socket.to_str(),
        Some(vcpe_config::DEFAULT_SOCKET)
    );
    assert!(cfg.kernel.route_sync);
    assert_eq!((cfg.kernel.table, cfg.kernel.protocol), (254, 201));
    assert!(cfg.forwarding.mss_clamp);
    assert_eq!(cfg.forwarding.icmp_rate_limit, 100);
    assert_eq!(cfg.interfaces[0].mtu, 1500);
    assert!(cfg.metrics.is_none() && cfg.bgp.is_none());
}

#[test]
fn toml_syntax_error_is_one_diagnostic() {
    let d = only("[router]\nid = \"10.0.0.1\nasn = 1\n");
    assert_eq!(d.line, 2);
    assert!(d.path.is_empty());
    assert!(d.message.starts_with("invalid TOML"), "{}", d.message);
}

#[test]
fn missing_router_section() {
    let d = only("[[interface]]\nname = \"vcpe0\"\n");
    check(
        &d,
        1,
        1,
        "router",
        "missing required section [router]",
        "asn = 65001",
    );
}

#[test]
fn missing_required_key_points_at_header() {
    let d = only("# c\n[router]\nid = \"10.0.0.1\"\n");
    check(
        &d,
        2,
        1,
        "router.asn",
        "missing required key 'asn' in router",
        "asn = 65001",
    );
}

#[test]
fn as_zero_is_rejected() {
    let d = only("[router]\nid = \"10.0.0.1\"\nasn = 0\n");
    check(&d, 3, 7, "router.asn", "AS 0 is reserved", "1..=4294967295");
}

#[test]
fn as_trans_and_out_of_range_are_rejected() {
    let d = only("[router]\nid = \"10.0.0.1\"\nasn = 23456\n");
    check(&d, 3, 7, "router.asn", "AS_TRANS", "1..=4294967295");
    let d = only("[router]\nid = \"10.0.0.1\"\nasn = 4294967296\n");
    check(&d, 3, 7, "router.asn", "out of range", "1..=4294967295");
}

#[test]
fn router_id_must_be_nonzero_ipv4() {
    let d = only("[router]\nid = \"0.0.0.0\"\nasn = 1\n");
    check(&d, 2, 6, "router.id", "0.0.0.0 is not allowed", "non-zero");
    let d = only("[router]\nid = \"fd00::1\"\nasn = 1\n");
    check(
        &d,
        2,
        6,
        "router.id",
        "is not an IPv4 address",
        "10.255.0.1",
    );
}

#[test]
fn wrong_type_is_reported() {
    let d = only("[router]\nid = \"10.0.0.1\"\nasn = \"65001\"\n");
    check(
        &d,
        3,
        7,
        "router.asn",
        "expected an integer, found a string",
        "without quotes",
    );
}

#[test]
fn unknown_key_suggests_nearest() {
    let (src, l) =
        with("[[route]]\nname = \"r\"\nprefx = \"10.1.0.0/16\"\ninterface = \"vcpe0\"\n");
    let errs = errors(&src);
    let d = errs
        .iter()
        .find(|d| d.path == "route[0].prefx")
        .expect("unknown key reported");
    check(
        d,
        l + 2,
        1,
        "route[0].prefx",
        "unknown key 'prefx' in route[0]",
        "did you mean 'prefix'?",
    );
}

#[test]
fn unknown_key_without_close_match_lists_known_keys() {
    let (src, l) = with("[kernel]\ncolour = 1\n");
    check(
        &only(&src),
        l + 1,
        1,
        "kernel.colour",
        "unknown key 'colour'",
        "known keys here: route_sync, table, protocol",
    );
}

#[test]
fn unknown_top_level_section() {
    let (src, l) = with("[[routes]]\nname = \"r\"\n");
    check(
        &only(&src),
        l,
        3,
        "routes",
        "unknown key 'routes' at the top level",
        "did you mean 'route'?",
    );
}

#[test]
fn single_table_where_array_expected() {
    let (src, l) = with("[route]\nname = \"r\"\n");
    check(
        &only(&src),
        l,
        1,
        "route",
        "expected an array of tables",
        "[[route]]",
    );
}

#[test]
fn control_socket_must_be_absolute() {
    let (src, l) = with("[control]\nsocket = \"vcped.sock\"\n");
    check(
        &only(&src),
        l + 1,
        10,
        "control.socket",
        "not absolute",
        "/run/vcpe/vcped.sock",
    );
}

#[test]
fn metrics_listen_must_be_socket_address() {
    let (src, l) = with("[metrics]\nlisten = \"localhost\"\n");
    check(
        &only(&src),
        l + 1,
        10,
        "metrics.listen",
        "is not an address:port",
        "127.0.0.1:9472",
    );
}

#[test]
fn kernel_table_and_protocol_ranges() {
    let (src, l) = with("[kernel]\ntable = 255\nprotocol = 2\n");
    let errs = errors(&src);
    check(&errs[0], l + 1, 9, "kernel.table", "local table", "254");
    check(
        &errs[1],
        l + 2,
        12,
        "kernel.protocol",
        "reserved by the kernel",
        "201",
    );
}

#[test]
fn forwarding_workers_range() {
    let (src, l) = with("[forwarding]\nworkers = -1\n");
    check(
        &only(&src),
        l + 1,
        11,
        "forwarding.workers",
        "out of range 0..=1024",
        "one per core",
    );
}

#[test]
fn interface_name_rules() {
    for bad in [
        "\"\"",
        "\"eth/0\"",
        "\"this-is-too-long0\"",
        "\"..\"",
        "\"a b\"",
    ] {
        let src = format!("[router]\nid = \"10.0.0.1\"\nasn = 1\n[[interface]]\nname = {bad}\n");
        let d = only(&src);
        check(&d, 5, 8, "interface[0].name", "", "1 to 15 characters");
    }
}

#[test]
fn interface_mtu_rules() {
    let (src, l) = with("mtu = 1200\n");
    check(
        &only(&src),
        l,
        7,
        "interface[0].mtu",
        "below the IPv6 minimum of 1280",
        "at least 1280",
    );
    let src = "[router]\nid = \"10.0.0.1\"\nasn = 1\n[[interface]]\nname = \"t\"\nmtu = 500\n";
    check(
        &only(src),
        6,
        7,
        "interface[0].mtu",
        "out of range 576..=65535",
        "1420",
    );
}

#[test]
fn interface_address_must_parse() {
    let src = "[router]\nid = \"10.0.0.1\"\nasn = 1\n[[interface]]\nname = \"t\"\naddresses = [\"10.0.0.1\", \"10.0.0.1/24\"]\n";
    check(
        &only(src),
        6,
        14,
        "interface[0].addresses[0]",
        "is not an address with prefix length",
        "10.255.0.1/24",
    );
}

#[test]
fn route_prefix_with_host_bits_suggests_network() {
    let (src, l) =
        with("[[route]]\nname = \"r\"\nprefix = \"10.1.1.5/24\"\ninterface = \"vcpe0\"\n");
    check(
        &only(&src),
        l + 2,
        10,
        "route[0].prefix",
        "10.1.1.5/24 has host bits set",
        "\"10.1.1.0/24\"",
    );
    let (src, l) =
        with("[[route]]\nname = \"r\"\nprefix = \"fd00:1::1/64\"\ninterface = \"vcpe0\"\n");
    check(
        &only(&src),
        l + 2,
        10,
        "route[0].prefix",
        "host bits set",
        "\"fd00:1::/64\"",
    );
}

#[test]
fn route_name_rules() {
    let (src, l) =
        with("[[route]]\nname = \"a b\"\nprefix = \"10.1.0.0/16\"\ninterface = \"vcpe0\"\n");
    check(
        &only(&src),
        l + 1,
        8,
        "route[0].name",
        "'a b' is not a valid name",
        "1 to 64 letters",
    );
}

#[test]
fn route_needs_exactly_one_target() {
    let (src, l) = with("[[route]]\nname = \"r\"\nprefix = \"10.1.0.0/16\"\n");
    check(
        &only(&src),
        l,
        1,
        "route[0].interface",
        "says nothing about where the traffic goes",
        "interface = \"vcpe0\"",
    );
    let (src, l) = with(
        "[[route]]\nname = \"r\"\nprefix = \"10.1.0.0/16\"\ninterface = \"vcpe0\"\npeer = \"p\"\n",
    );
    check(
        &only(&src),
        l + 4,
        8,
        "route[0].peer",
        "has 'interface' and 'peer'",
        "",
    );
}

#[test]
fn advertise_defaults_to_false() {
    let (src, _) =
        with("[[route]]\nname = \"r\"\nprefix = \"10.1.0.0/16\"\ninterface = \"vcpe0\"\n");
    let cfg = parse(&src).expect("valid");
    assert!(!cfg.routes[0].advertise);
}

#[test]
fn all_errors_are_collected() {
    let src = "[router]\nid = \"x\"\nasn = 0\n[kernel]\ntable = 0\n[[interface]]\nname = \"\"\n";
    let errs = errors(src);
    let paths: Vec<_> = errs.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "router.id",
            "router.asn",
            "kernel.table",
            "interface[0].name"
        ]
    );
}

#[test]
fn unreadable_file_is_one_diagnostic() {
    let err =
        vcpe_config::load(std::path::Path::new("no/such/file.toml")).expect_err("missing file");
    assert_eq!(err.len(), 1);
    assert!(
        err.to_string()
            .starts_with("no/such/file.toml:1:1: error: cannot read configuration file"),
        "{err}"
    );
    assert!(
        err.to_string().ends_with("1 error in no/such/file.toml"),
        "{err}"
    );
}
