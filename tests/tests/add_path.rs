//! ADD-PATH (RFC 7911) with real daemons, receive side: a vcped with
//! `add_paths = "receive"` and `maximum_paths = 2` on one LAN
//! (10.99.0.0/24, AS 65000) with a BIRD reflector that has two paths for
//! one prefix (two static protocols, next hops 10.99.0.21 and .22, as two
//! clients would give it) and `add paths tx` towards vcped. Both paths
//! arrive from the one neighbor, told apart by Path Identifier: both are
//! in `vcpectl show route` (JSON, with their path ids) and in the
//! neighbor's Adj-RIB-In, and the FIB spreads the prefix over both next
//! hops (the second path is a multipath member). One path withdrawn by
//! BIRD leaves the other. Without `add_paths` the same BIRD sends one
//! path; `add_paths` set by reload restarts the session and both come.
//! The other way, vcped sends two paths to BIRD (`add paths rx`) and to
//! FRR; and FRR (`addpath-tx-all-paths`) sends two to vcped.

use std::net::Ipv4Addr;
use std::time::Duration;

use anyhow::{Result, bail, ensure};
use vcpe_tests::peers::Bird;
use vcpe_tests::{Lab, Netns, Vcped, names::ifname, require_root, wait_until};

const AS: u32 = 65000;
const PREFIX: &str = "10.50.0.0/24";
const RR: u8 = 1;
const ME: u8 = 11;
const HOP1: u8 = 21;
const HOP2: u8 = 22;

fn lan(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 99, 0, i)
}

/// vcped at 10.99.0.`ME` with one iBGP neighbor (BIRD) and `extra` on it.
fn vcpe_config(extra: &str) -> String {
    let tun = ifname();
    format!(
        r#"[router]
id = "{id}"
asn = {AS}

[kernel]
route_sync = false

[[interface]]
name = "{tun}"
addresses = ["10.{ME}.0.1/16"]

[[route]]
name = "bgp-lan"
prefix = "10.99.0.0/24"
interface = "{tun}"

[bgp]
listen = "0.0.0.0:179"
maximum_paths = 2

[[bgp.neighbor]]
address = "{rr}"
remote_as = {AS}
hold_time = 9
{extra}
"#,
        id = lan(ME),
        rr = lan(RR),
    )
}

/// BIRD at 10.99.0.`RR`: 10.50.0.0/24 from two static protocols (next
/// hops .21 and .22 on the LAN), sent to vcped with `add paths tx`.
fn bird_config() -> String {
    let static_route = |name: &str, hop: u8| {
        format!(
            "protocol static {name} {{ ipv4; route {PREFIX} via {}; }}\n",
            lan(hop)
        )
    };
    format!(
        "log stderr all;\nrouter id {rr};\nprotocol device {{ }}\n\
         protocol direct {{ ipv4; interface \"eth0\"; }}\n{s1}{s2}\
         protocol bgp vcped {{\n  local {rr} as {AS};\n  neighbor {me} as {AS};\n  direct;\n  \
         hold time 9;\n  connect retry time 1;\n  error wait time 1, 5;\n  \
         ipv4 {{ import all; export where source = RTS_STATIC; add paths tx; next hop keep; }};\n}}\n",
        rr = lan(RR),
        me = lan(ME),
        s1 = static_route("up1", HOP1),
        s2 = static_route("up2", HOP2),
    )
}

/// Waits until `check` holds on what `get` returns, else fails with what
/// was last seen.
fn wait_for<T: std::fmt::Debug>(
    what: &str,
    mut get: impl FnMut() -> Result<T>,
    check: impl Fn(&T) -> bool,
) -> Result<T> {
    let mut last = None;
    let ok = wait_until(Duration::from_secs(30), || {
        last = get().ok();
        last.as_ref().is_some_and(&check)
    });
    match last {
        Some(v) if ok => Ok(v),
        other => bail!("{what}: not so after 30 s; last seen {other:?}"),
    }
}

fn lan_namespaces(lab: &Lab) -> Result<(Netns, Netns)> {
    let sw = lab.netns("sw")?;
    let br = lab.bridge(&sw, "br0")?;
    let mut out = Vec::new();
    for (name, i) in [("rr", RR), ("me", ME)] {
        let n = lab.netns(name)?;
        br.plug(&format!("p-{name}"), &n, "eth0")?;
        n.addr("eth0", &format!("{}/24", lan(i)))?;
        out.push(n);
    }
    let me = out.pop().expect("two namespaces");
    let rr = out.pop().expect("two namespaces");
    Ok((rr, me))
}

#[test]
fn vcped_receives_two_paths_from_bird_and_spreads_over_both() -> Result<()> {
    require_root!();
    let lab = Lab::new("addpath")?;
    let (rr_ns, me_ns) = lan_namespaces(&lab)?;
    let dir = lab.dir();
    let me = Vcped::start(
        &me_ns,
        dir,
        "vcpe",
        &vcpe_config("add_paths = \"receive\"\n"),
    )?;
    let bird = Bird::start_with_config(&rr_ns, dir, "bird", &bird_config())?;
    let rr_ip = lan(RR).to_string();
    let hops = [lan(HOP1).to_string(), lan(HOP2).to_string()];

    let rib = wait_for(
        &format!("two BGP paths for {PREFIX} from {rr_ip}, one a multipath member"),
        || me.show_route(&[PREFIX]),
        |r| {
            let rows = r.rows(PREFIX);
            rows.len() == 2 && rows.iter().any(|r| r.multipath) && rows.iter().any(|r| r.best)
        },
    )
    .map_err(|e| {
        e.context(format!(
            "BIRD has:\n{}",
            bird.birdc(&format!("show route {PREFIX} all"))
                .unwrap_or_default()
        ))
    })?;
    let rows = rib.rows(PREFIX);
    ensure!(
        rows.iter()
            .all(|r| r.protocol == "bgp" && r.source == rr_ip),
        "both from BIRD: {rows:?}"
    );
    let mut next_hops: Vec<String> = rows.iter().filter_map(|r| r.next_hop.clone()).collect();
    next_hops.sort();
    ensure!(
        next_hops == hops,
        "next hops {next_hops:?}, expected {hops:?}"
    );
    let mut ids: Vec<u32> = rows.iter().filter_map(|r| r.path_id).collect();
    ids.sort_unstable();
    ids.dedup();
    ensure!(ids.len() == 2, "two distinct path ids: {rows:?}");
    // Both in the FIB: the best forwards, the other is its ECMP member.
    ensure!(
        rows.iter().all(|r| r.in_fib && (r.best || r.multipath)),
        "both paths in the FIB group: {rows:?}"
    );

    // The Adj-RIB-In of the neighbor holds both, with their ids.
    let adj = me.adj_rib(&rr_ip, "adj-in")?;
    let mut adj_ids: Vec<u32> = adj.rows(PREFIX).iter().filter_map(|r| r.path_id).collect();
    adj_ids.sort_unstable();
    ensure!(
        adj_ids == ids,
        "adj-in path ids {adj_ids:?}, show route {ids:?}"
    );
    let text = me.ctl(&["show", "route", PREFIX])?;
    ensure!(text.contains(&format!("path {}", ids[0])), "{text}");

    // BIRD drops one path: vcped keeps the other, out of ECMP.
    bird.birdc("disable up2")?;
    let rib = wait_for(
        &format!("one path for {PREFIX}, via {}", hops[0]),
        || me.show_route(&[PREFIX]),
        |r| r.rows(PREFIX).len() == 1,
    )?;
    let left = rib.best(PREFIX).and_then(|r| r.next_hop.clone());
    ensure!(left.as_deref() == Some(hops[0].as_str()), "left {left:?}");
    Ok(())
}

#[test]
fn without_add_paths_bird_sends_one_path_and_a_reload_turns_it_on() -> Result<()> {
    require_root!();
    let lab = Lab::new("noaddpath")?;
    let (rr_ns, me_ns) = lan_namespaces(&lab)?;
    let dir = lab.dir();
    let me = Vcped::start(&me_ns, dir, "vcpe", &vcpe_config(""))?;
    let bird = Bird::start_with_config(&rr_ns, dir, "bird", &bird_config())?;
    let rib = wait_for(
        &format!("one BGP path for {PREFIX}"),
        || me.show_route(&[PREFIX]),
        |r| r.rows(PREFIX).len() == 1,
    )?;
    ensure!(
        rib.rows(PREFIX).iter().all(|r| r.path_id.is_none()),
        "{rib:?}"
    );
    // Still one after BIRD had time to send more (it would with ADD-PATH).
    std::thread::sleep(Duration::from_secs(1));
    let rib = me.show_route(&[PREFIX])?;
    ensure!(
        rib.rows(PREFIX).len() == 1,
        "BIRD has:\n{}\nvcped: {rib:?}",
        bird.birdc(&format!("show route {PREFIX} all"))?
    );
    // Turned on by reload: the reload names the setting, the session
    // restarts with the capability, and both paths arrive.
    let conf = std::fs::read_to_string(&me.config)?;
    let conf = conf.replace(
        "hold_time = 9\n",
        "hold_time = 9\nadd_paths = \"receive\"\n",
    );
    std::fs::write(&me.config, conf)?;
    let out = me.ctl(&["reload"])?;
    ensure!(
        out.contains(&format!("bgp neighbor {} add_paths", lan(RR))),
        "reload output: {out}"
    );
    wait_for(
        &format!("after the reload, two paths for {PREFIX}"),
        || me.show_route(&[PREFIX]),
        |r| r.rows(PREFIX).len() == 2 && r.rows(PREFIX).iter().all(|r| r.path_id.is_some()),
    )?;
    Ok(())
}

const FRR: u8 = 3;

/// FRR at 10.99.0.`FRR` as vcped's route reflector (vcped its client),
/// learning both paths from BIRD (ADD-PATH too: FRR announces receive)
/// and passing them on with `addpath-tx-all-paths`.
#[test]
fn vcped_receives_two_paths_from_frr_addpath_tx_all_paths() -> Result<()> {
    use std::net::IpAddr;
    use vcpe_tests::peers::{Frr, NeighborSpec, PeerSpec, wait_established};
    require_root!();
    let lab = Lab::new("addpathfrr")?;
    let sw = lab.netns("sw")?;
    let br = lab.bridge(&sw, "br0")?;
    let mut ns = Vec::new();
    for (name, i) in [("rr", RR), ("frr", FRR), ("me", ME)] {
        let n = lab.netns(name)?;
        br.plug(&format!("p-{name}"), &n, "eth0")?;
        n.addr("eth0", &format!("{}/24", lan(i)))?;
        ns.push(n);
    }
    let dir = lab.dir();
    let frr_ip = lan(FRR).to_string();
    // vcped peers with FRR; BIRD (as in the BIRD test) sends to FRR.
    let vcpe = vcpe_config("add_paths = \"receive\"\n").replace(&lan(RR).to_string(), &frr_ip);
    let me = Vcped::start(&ns[2], dir, "vcpe", &vcpe)?;
    let bird_conf = bird_config().replace(
        &format!("neighbor {} as", lan(ME)),
        &format!("neighbor {frr_ip} as"),
    );
    let _bird = Bird::start_with_config(&ns[0], dir, "bird", &bird_conf)?;
    let spec = PeerSpec {
        asn: AS,
        router_id: lan(FRR),
        hold_time: 9,
        neighbors: vec![
            NeighborSpec::new(IpAddr::V4(lan(RR)), AS),
            NeighborSpec {
                route_reflector_client: true,
                add_path_tx_all: true,
                ..NeighborSpec::new(IpAddr::V4(lan(ME)), AS)
            },
        ],
        originate: Vec::new(),
        v6_next_hop: None,
        dir: dir.to_owned(),
        graceful_restart: false,
    };
    let frr = Frr::start(&ns[1], &spec)?;
    wait_established(&frr, IpAddr::V4(lan(ME)), Duration::from_secs(40))?;
    let rib = wait_for(
        &format!("two BGP paths for {PREFIX} from FRR"),
        || me.show_route(&[PREFIX]),
        |r| r.rows(PREFIX).len() == 2 && r.rows(PREFIX).iter().any(|r| r.multipath),
    )
    .map_err(|e| {
        e.context(format!(
            "FRR has:\n{}",
            frr.vtysh(&format!("show bgp ipv4 unicast {PREFIX}"))
                .unwrap_or_default()
        ))
    })?;
    let rows = rib.rows(PREFIX);
    let mut next_hops: Vec<String> = rows.iter().filter_map(|r| r.next_hop.clone()).collect();
    next_hops.sort();
    ensure!(
        next_hops == [lan(HOP1).to_string(), lan(HOP2).to_string()],
        "next hops {next_hops:?}"
    );
    ensure!(
        rows.iter()
            .all(|r| r.source == frr_ip && r.path_id.is_some() && r.in_fib),
        "{rows:?}"
    );
    Ok(())
}

const RX: u8 = 2;

/// vcped sends: it takes the two paths from BIRD (as above) and reflects
/// both, with ADD-PATH send, to a second BIRD (`add paths rx`), its
/// route-reflector client: `birdc show route all` there lists both, each
/// with its own next hop. One path gone at the source is withdrawn by
/// its Path Identifier: the other stays.
#[test]
fn vcped_sends_two_paths_to_bird() -> Result<()> {
    require_root!();
    let lab = Lab::new("addpathtx")?;
    let sw = lab.netns("sw")?;
    let br = lab.bridge(&sw, "br0")?;
    let mut ns = Vec::new();
    for (name, i) in [("rr", RR), ("rx", RX), ("me", ME)] {
        let n = lab.netns(name)?;
        br.plug(&format!("p-{name}"), &n, "eth0")?;
        n.addr("eth0", &format!("{}/24", lan(i)))?;
        ns.push(n);
    }
    let dir = lab.dir();
    let conf = format!(
        "{}\n[[bgp.neighbor]]\naddress = \"{}\"\nremote_as = {AS}\nhold_time = 9\n\
         route_reflector_client = true\nadd_paths = \"send\"\n",
        vcpe_config("add_paths = \"receive\"\n"),
        lan(RX)
    );
    let _me = Vcped::start(&ns[2], dir, "vcpe", &conf)?;
    let src = Bird::start_with_config(&ns[0], dir, "bird-src", &bird_config())?;
    let rx_conf = format!(
        "log stderr all;\nrouter id {rx};\nprotocol device {{ }}\n\
         protocol bgp vcped {{\n  local {rx} as {AS};\n  neighbor {me} as {AS};\n  direct;\n  \
         hold time 9;\n  connect retry time 1;\n  error wait time 1, 5;\n  \
         ipv4 {{ import all; export none; add paths rx; gateway direct; }};\n}}\n",
        rx = lan(RX),
        me = lan(ME),
    );
    let rx = Bird::start_with_config(&ns[1], dir, "bird-rx", &rx_conf)?;
    let hops = [lan(HOP1).to_string(), lan(HOP2).to_string()];
    let show = || rx.birdc(&format!("show route {PREFIX} all"));
    let next_hops = |text: &String| -> Vec<String> {
        let mut v: Vec<String> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("BGP.next_hop:"))
            .map(|v| v.trim().to_owned())
            .collect();
        v.sort();
        v
    };
    let text = wait_for(
        &format!("the receiving BIRD: two paths for {PREFIX} from vcped"),
        show,
        |t| next_hops(t) == hops,
    )
    .map_err(|e| {
        e.context(format!(
            "source BIRD has:\n{}",
            src.birdc(&format!("show route {PREFIX} all"))
                .unwrap_or_default()
        ))
    })?;
    ensure!(
        text.matches("BGP.originator_id:").count() == 2,
        "reflected, with ORIGINATOR_ID:\n{text}"
    );
    src.birdc("disable up2")?;
    wait_for(
        &format!("the receiving BIRD: only the path via {}", hops[0]),
        show,
        |t| next_hops(t) == hops[..1],
    )?;
    Ok(())
}

/// vcped sends two paths to FRR (which announces ADD-PATH receive by
/// default), its route-reflector client: `show bgp ipv4 unicast PREFIX`
/// there lists both.
#[test]
fn vcped_sends_two_paths_to_frr() -> Result<()> {
    use std::net::IpAddr;
    use vcpe_tests::peers::{Frr, NeighborSpec, PeerSpec, wait_established};
    require_root!();
    let lab = Lab::new("addpathtxfrr")?;
    let sw = lab.netns("sw")?;
    let br = lab.bridge(&sw, "br0")?;
    let mut ns = Vec::new();
    for (name, i) in [("rr", RR), ("frr", FRR), ("me", ME)] {
        let n = lab.netns(name)?;
        br.plug(&format!("p-{name}"), &n, "eth0")?;
        n.addr("eth0", &format!("{}/24", lan(i)))?;
        ns.push(n);
    }
    let dir = lab.dir();
    let conf = format!(
        "{}\n[[bgp.neighbor]]\naddress = \"{}\"\nremote_as = {AS}\nhold_time = 9\n\
         route_reflector_client = true\nadd_paths = \"send\"\n",
        vcpe_config("add_paths = \"receive\"\n"),
        lan(FRR)
    );
    let _me = Vcped::start(&ns[2], dir, "vcpe", &conf)?;
    let _src = Bird::start_with_config(&ns[0], dir, "bird-src", &bird_config())?;
    let spec = PeerSpec {
        asn: AS,
        router_id: lan(FRR),
        hold_time: 9,
        neighbors: vec![NeighborSpec::new(IpAddr::V4(lan(ME)), AS)],
        originate: Vec::new(),
        v6_next_hop: None,
        dir: dir.to_owned(),
        graceful_restart: false,
    };
    let frr = Frr::start(&ns[1], &spec)?;
    wait_established(&frr, IpAddr::V4(lan(ME)), Duration::from_secs(40))?;
    let next_hops = |v: &serde_json::Value| -> Vec<String> {
        let mut hops: Vec<String> = v
            .get("paths")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| {
                p.pointer("/nexthops/0/ip")
                    .and_then(serde_json::Value::as_str)
            })
            .map(str::to_owned)
            .collect();
        hops.sort();
        hops
    };
    let hops = [lan(HOP1).to_string(), lan(HOP2).to_string()];
    wait_for(
        &format!("FRR: two paths for {PREFIX} from vcped"),
        || {
            let text = frr.vtysh(&format!("show bgp ipv4 unicast {PREFIX} json"))?;
            Ok(serde_json::from_str::<serde_json::Value>(text.trim())?)
        },
        |v| next_hops(v) == hops,
    )?;
    Ok(())
}
