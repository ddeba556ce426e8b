//! Route policy between real routers: two vCPEs of one VPC (A primary, B
//! backup, both AS 65010) advertise the same prefixes to BIRD (AS 65001),
//! FRR (AS 65003) and a third vCPE C (AS 65020), all on one LAN.
//!
//! - 10.50.0.0/24, primary/backup by MED: A's static route has `med = 10`,
//!   B's export rule sets MED 100. BIRD, FRR and C all pick A, and fall
//!   back to B when A dies.
//! - 10.51.0.0/24, primary/backup by prepend: B's export rule prepends
//!   its AS twice; BIRD and FRR pick A and show B's longer path. C has an
//!   import rule that sets LOCAL_PREF 200 on what B sends for it, so C
//!   picks B: an import rule changes vcped's best path.
//! - Communities and large communities set by vcped (A's static route
//!   and A's export rule towards BIRD) are what BIRD shows; FRR shows the
//!   static route's.
//! - NO_EXPORT from a peer: BIRD originates 10.60.0.0/24 with NO_EXPORT
//!   and 10.61.0.0/24 without; A and B re-advertise 10.61 to FRR and C
//!   (eBGP), never 10.60.
//!
//! Checked through `birdc show route all`, `vtysh -c 'show bgp ipv4
//! unicast PREFIX json'` and C's `vcpectl show route`; B's adj-out names
//! the export rule that matched, C's adj-in and show route the import rule.
//!
//! And a reload: a static route's MED and an export rule's community
//! changed in the file reach BIRD after `vcpectl reload`.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;
use vcpe_tests::peers::{
    BgpPeer, Bird, Frr, NeighborSpec, PeerSpec, wait_established, wait_for_route,
};
use vcpe_tests::{Lab, Netns, Vcped, names::ifname, require_root, wait_until};

const VPC_AS: u32 = 65010;
const C_AS: u32 = 65020;
const BIRD_AS: u32 = 65001;
const FRR_AS: u32 = 65003;

const MED_PREFIX: &str = "10.50.0.0/24";
const PREPEND_PREFIX: &str = "10.51.0.0/24";
const NO_EXPORT_PREFIX: &str = "10.60.0.0/24";
const PLAIN_PREFIX: &str = "10.61.0.0/24";

fn lan(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 99, 0, i)
}

const BIRD: u8 = 1;
const FRR: u8 = 3;
const A: u8 = 11;
const B: u8 = 12;
const C: u8 = 13;

/// A vCPE's config: one TUN holding its VPC's networks, the LAN route for
/// BGP next hops, `routes` and `[bgp]` with `neighbors` appended.
fn vcpe_config(i: u8, asn: u32, routes: &str, neighbors: &str) -> String {
    vcpe_config_on(&ifname(), i, asn, routes, neighbors)
}

/// [`vcpe_config`] with the TUN named `tun`.
fn vcpe_config_on(tun: &str, i: u8, asn: u32, routes: &str, neighbors: &str) -> String {
    format!(
        r#"[router]
id = "{id}"
asn = {asn}

[kernel]
route_sync = false

[[interface]]
name = "{tun}"
addresses = ["10.{i}.0.1/16"]

[[route]]
name = "bgp-lan"
prefix = "10.99.0.0/24"
interface = "{tun}"

{routes}
[bgp]
listen = "0.0.0.0:179"

{neighbors}"#,
        id = lan(i),
        routes = routes.replace("TUN", tun),
    )
}

fn neighbor(i: u8, asn: u32, rules: &str) -> String {
    format!(
        "[[bgp.neighbor]]\naddress = \"{}\"\nremote_as = {asn}\nhold_time = 9\n{rules}\n",
        lan(i)
    )
}

/// A: the primary. MED 10 and communities on its static route, one more
/// community towards BIRD by an export rule.
fn config_a() -> String {
    let routes = r#"[[route]]
name = "vpc-app"
prefix = "10.50.0.0/24"
interface = "TUN"
advertise = true
med = 10
communities = ["65010:100"]
large_communities = ["65010:1:2"]

[[route]]
name = "vpc-db"
prefix = "10.51.0.0/24"
interface = "TUN"
advertise = true
"#;
    let to_bird = r#"[[bgp.neighbor.export_rule]]
match_prefix = ["10.50.0.0/24"]
add_community = ["65010:200"]
"#;
    let neighbors = [
        neighbor(BIRD, BIRD_AS, to_bird),
        neighbor(FRR, FRR_AS, ""),
        neighbor(C, C_AS, ""),
    ]
    .concat();
    vcpe_config(A, VPC_AS, routes, &neighbors)
}

/// B: the backup, by MED for one prefix and by prepend for the other, the
/// same export rules towards every neighbor.
fn config_b() -> String {
    let routes = r#"[[route]]
name = "vpc-app"
prefix = "10.50.0.0/24"
interface = "TUN"
advertise = true

[[route]]
name = "vpc-db"
prefix = "10.51.0.0/24"
interface = "TUN"
advertise = true
"#;
    let backup = r#"[[bgp.neighbor.export_rule]]
match_prefix = ["10.50.0.0/24"]
set_med = 100

[[bgp.neighbor.export_rule]]
match_prefix = ["10.51.0.0/24"]
prepend = 2
"#;
    let neighbors = [
        neighbor(BIRD, BIRD_AS, backup),
        neighbor(FRR, FRR_AS, backup),
        neighbor(C, C_AS, backup),
    ]
    .concat();
    vcpe_config(B, VPC_AS, routes, &neighbors)
}

/// C: another VPC's vCPE, preferring B for 10.51.0.0/24 by LOCAL_PREF.
fn config_c() -> String {
    let prefer_b = r#"[[bgp.neighbor.import_rule]]
match_prefix = ["10.51.0.0/24"]
set_local_pref = 200
"#;
    let neighbors = [neighbor(A, VPC_AS, ""), neighbor(B, VPC_AS, prefer_b)].concat();
    vcpe_config(C, C_AS, "", &neighbors)
}

fn peer_spec(i: u8, asn: u32, originate: &[&str], dir: &Path) -> PeerSpec {
    PeerSpec {
        asn,
        router_id: lan(i),
        hold_time: 9,
        neighbors: vec![
            NeighborSpec::new(IpAddr::V4(lan(A)), VPC_AS),
            NeighborSpec::new(IpAddr::V4(lan(B)), VPC_AS),
        ],
        originate: originate.iter().map(|p| (*p).to_owned()).collect(),
        v6_next_hop: None,
        dir: dir.to_owned(),
        graceful_restart: false,
    }
}

/// One path as BIRD shows it in `show route all`.
#[derive(Debug, Default)]
struct BirdPath {
    best: bool,
    next_hop: String,
    as_path: String,
    med: Option<u32>,
    /// "(65010,100) (65010,200)", spaces inside parentheses removed.
    communities: String,
    large_communities: String,
}

fn bird_paths(bird: &Bird, prefix: &str) -> Result<Vec<BirdPath>> {
    let text = bird.birdc(&format!("show route {prefix} all"))?;
    let mut out: Vec<BirdPath> = Vec::new();
    for line in text.lines() {
        if line.contains(" unicast [") {
            out.push(BirdPath {
                best: line.contains("] * "),
                ..BirdPath::default()
            });
            continue;
        }
        let Some(p) = out.last_mut() else { continue };
        let t = line.trim();
        let compact = |s: &str| s.trim().replace(", ", ",");
        if let Some(v) = t.strip_prefix("BGP.next_hop:") {
            p.next_hop = v.trim().to_owned();
        } else if let Some(v) = t.strip_prefix("BGP.as_path:") {
            p.as_path = v.trim().to_owned();
        } else if let Some(v) = t.strip_prefix("BGP.med:") {
            p.med = v.trim().parse().ok();
        } else if let Some(v) = t.strip_prefix("BGP.community:") {
            p.communities = compact(v);
        } else if let Some(v) = t.strip_prefix("BGP.large_community:") {
            p.large_communities = compact(v);
        }
    }
    Ok(out)
}

/// One path as FRR shows it in `show bgp ipv4 unicast PREFIX json`.
#[derive(Debug)]
struct FrrPath {
    best: bool,
    next_hop: String,
    as_path: String,
    med: Option<u64>,
    communities: String,
    large_communities: String,
}

fn frr_paths(frr: &Frr, prefix: &str) -> Result<Vec<FrrPath>> {
    let text = frr.vtysh(&format!("show bgp ipv4 unicast {prefix} json"))?;
    let v: Value = serde_json::from_str(text.trim()).context("FRR show bgp PREFIX json")?;
    let mut out = Vec::new();
    for p in v["paths"].as_array().into_iter().flatten() {
        out.push(FrrPath {
            best: p["bestpath"]["overall"].as_bool().unwrap_or(false),
            next_hop: p["nexthops"][0]["ip"].as_str().unwrap_or("").to_owned(),
            as_path: p["aspath"]["string"].as_str().unwrap_or("").to_owned(),
            med: p["metric"].as_u64().or_else(|| p["med"].as_u64()),
            communities: p["community"]["string"].as_str().unwrap_or("").to_owned(),
            large_communities: p["largeCommunity"]["string"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
        });
    }
    Ok(out)
}

/// Waits until `check` holds, else fails with what was last seen.
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

fn start(ns: &Netns, dir: &Path, name: &str, config: &str) -> Result<Vcped> {
    Vcped::start(ns, dir, name, config)
}

#[test]
fn primary_backup_communities_and_no_export_with_bird_frr_and_a_third_vcpe() -> Result<()> {
    require_root!();
    let lab = Lab::new("bgppol")?;
    let sw = lab.netns("sw")?;
    let br = lab.bridge(&sw, "br0")?;
    let mut ns = Vec::new();
    for (name, i) in [("bird", BIRD), ("frr", FRR), ("a", A), ("b", B), ("c", C)] {
        let n = lab.netns(name)?;
        br.plug(&format!("p-{name}"), &n, "eth0")?;
        n.addr("eth0", &format!("{}/24", lan(i)))?;
        ns.push(n);
    }
    let dir = lab.dir();
    let a = start(&ns[2], dir, "vcpe-a", &config_a())?;
    let b = start(&ns[3], dir, "vcpe-b", &config_b())?;
    let c = start(&ns[4], dir, "vcpe-c", &config_c())?;
    let no_export = format!("{NO_EXPORT_PREFIX} {{ bgp_community.add((65535, 65281)); }}");
    let bird = Bird::start(
        &ns[0],
        &peer_spec(BIRD, BIRD_AS, &[&no_export, PLAIN_PREFIX], dir),
    )?;
    let frr = Frr::start(&ns[1], &peer_spec(FRR, FRR_AS, &[], dir))?;
    let vcpeds = [("A", &a), ("B", &b), ("C", &c)];
    let result = (|| -> Result<()> {
        for p in [&bird as &dyn BgpPeer, &frr] {
            for i in [A, B] {
                wait_established(p, IpAddr::V4(lan(i)), Duration::from_secs(40))?;
            }
        }
        let (a_nh, b_nh) = (lan(A).to_string(), lan(B).to_string());

        // By MED: BIRD has both paths and picks A's (MED 10 < 100).
        let paths = wait_for(
            "BIRD: two paths for 10.50.0.0/24, A's best",
            || bird_paths(&bird, MED_PREFIX),
            |ps| ps.len() == 2 && ps.iter().any(|p| p.best && p.next_hop == a_nh),
        )?;
        let pa = paths.iter().find(|p| p.next_hop == a_nh).context("A")?;
        let pb = paths.iter().find(|p| p.next_hop == b_nh).context("B")?;
        ensure!(pa.med == Some(10) && pb.med == Some(100), "{paths:?}");
        // Communities set by vcped: the static route's, the export rule's.
        ensure!(
            pa.communities == "(65010,100) (65010,200)",
            "BIRD sees communities {:?}",
            pa.communities
        );
        ensure!(
            pa.large_communities == "(65010,1,2)",
            "BIRD sees large communities {:?}",
            pa.large_communities
        );
        ensure!(
            pb.communities.is_empty(),
            "B sets no community: {:?}",
            pb.communities
        );
        // FRR likewise.
        let paths = wait_for(
            "FRR: two paths for 10.50.0.0/24, A's best",
            || frr_paths(&frr, MED_PREFIX),
            |ps| ps.len() == 2 && ps.iter().any(|p| p.best && p.next_hop == a_nh),
        )?;
        ensure!(
            paths
                .iter()
                .any(|p| p.next_hop == b_nh && p.med == Some(100) && !p.best),
            "{paths:?}"
        );
        // FRR sees A's static route communities (not the export rule's:
        // that one is towards BIRD only).
        ensure!(
            paths.iter().any(|p| p.next_hop == a_nh
                && p.med == Some(10)
                && p.communities == "65010:100"
                && p.large_communities == "65010:1:2"),
            "{paths:?}"
        );

        // By prepend: B's path is 65010 65010 65010, A's wins.
        let paths = wait_for(
            "BIRD: two paths for 10.51.0.0/24, A's best",
            || bird_paths(&bird, PREPEND_PREFIX),
            |ps| ps.len() == 2 && ps.iter().any(|p| p.best && p.next_hop == a_nh),
        )?;
        ensure!(
            paths
                .iter()
                .any(|p| p.next_hop == b_nh && p.as_path == "65010 65010 65010"),
            "{paths:?}"
        );
        let paths = wait_for(
            "FRR: two paths for 10.51.0.0/24, A's best",
            || frr_paths(&frr, PREPEND_PREFIX),
            |ps| ps.len() == 2 && ps.iter().any(|p| p.best && p.next_hop == a_nh),
        )?;
        ensure!(
            paths
                .iter()
                .any(|p| p.next_hop == b_nh && p.as_path == "65010 65010 65010"),
            "{paths:?}"
        );

        // The third vCPE: A for 10.50 by MED, B for 10.51 by its import
        // rule's LOCAL_PREF (despite the longer path).
        let rib = wait_for(
            "C: best paths by MED and by LOCAL_PREF",
            || c.show_route(&[]),
            |r| {
                let best = |p: &str| r.rows(p).into_iter().find(|x| x.bgp_best).cloned();
                best(MED_PREFIX).is_some_and(|x| x.next_hop.as_deref() == Some(&a_nh))
                    && best(PREPEND_PREFIX).is_some_and(|x| x.next_hop.as_deref() == Some(&b_nh))
                    && r.rows(MED_PREFIX).len() == 2
                    && r.rows(PREPEND_PREFIX).len() == 2
            },
        )?;
        let med_best = rib.rows(MED_PREFIX).into_iter().find(|x| x.bgp_best);
        let med_best = med_best.context("C has a best path for 10.50")?;
        ensure!(
            med_best.reason.contains("MED") && med_best.med == Some(10),
            "{med_best:?}"
        );
        let lp_best = rib.rows(PREPEND_PREFIX).into_iter().find(|x| x.bgp_best);
        let lp_best = lp_best.context("C has a best path for 10.51")?;
        ensure!(
            lp_best.local_pref == Some(200)
                && lp_best.as_path == vec![VPC_AS, VPC_AS, VPC_AS]
                && lp_best.reason.contains("local-pref")
                && lp_best.rule.as_deref() == Some("import_rule[0]"),
            "{lp_best:?}"
        );
        let d = c.neighbor(&b_nh)?;
        ensure!((d.import_rules, d.export_rules) == (1, 0), "{d:?}");
        ensure!(
            c.ctl(&["bgp", "neighbor", &b_nh])?
                .contains("1 import rule, 0 export rules"),
            "vcpectl bgp neighbor does not count the rules"
        );
        // C's adj-in from B shows the attributes after its import rule.
        let adj = c.adj_rib(&b_nh, "adj-in")?;
        let r = adj.rows(PREPEND_PREFIX);
        ensure!(
            r.len() == 1
                && r[0].local_pref == Some(200)
                && r[0].rule.as_deref() == Some("import_rule[0]"),
            "{adj:?}"
        );
        // B's adj-out shows what it sent after its export rules, and which.
        let adj = b.adj_rib(&lan(BIRD).to_string(), "adj-out")?;
        let r = adj.rows(MED_PREFIX);
        ensure!(
            r.len() == 1 && r[0].med == Some(100) && r[0].rule.as_deref() == Some("export_rule[0]"),
            "{adj:?}"
        );
        let r = adj.rows(PREPEND_PREFIX);
        ensure!(
            r.len() == 1 && r[0].as_path == vec![VPC_AS, VPC_AS, VPC_AS],
            "{adj:?}"
        );

        // NO_EXPORT from BIRD: A and B keep it, never pass it to eBGP
        // (FRR, C); the plain prefix next to it does go.
        wait_for_route(&frr, PLAIN_PREFIX, Duration::from_secs(20))?;
        wait_for(
            "C learns 10.61.0.0/24 through A and B",
            || c.show_route(&[]),
            |r| r.rows(PLAIN_PREFIX).len() == 2,
        )?;
        for (name, v) in [("A", &a), ("B", &b)] {
            let rib = v.show_route(&[])?;
            let rows = rib.rows(NO_EXPORT_PREFIX);
            ensure!(
                rows.iter()
                    .any(|x| x.communities.iter().any(|c| c == "no-export")),
                "{name} holds 10.60.0.0/24 with NO_EXPORT: {rows:?}"
            );
            for to in [FRR, C] {
                let adj = v.adj_rib(&lan(to).to_string(), "adj-out")?;
                ensure!(
                    adj.rows(NO_EXPORT_PREFIX).is_empty() && !adj.rows(PLAIN_PREFIX).is_empty(),
                    "{name} to {}: {adj:?}",
                    lan(to)
                );
            }
        }
        ensure!(
            !frr.routes()?.iter().any(|r| r.prefix == NO_EXPORT_PREFIX),
            "FRR learned 10.60.0.0/24 despite NO_EXPORT"
        );
        ensure!(
            c.show_route(&[])?.rows(NO_EXPORT_PREFIX).is_empty(),
            "C learned 10.60.0.0/24 despite NO_EXPORT"
        );
        Ok(())
    })();
    if result.is_err() {
        for (name, v) in vcpeds {
            eprintln!("--- vcped {name} ---");
            v.daemon.print_log();
        }
        eprintln!("--- BIRD ---\n{}", bird.log());
        eprintln!("--- FRR ---\n{}", frr.log());
    }
    result?;
    // The primary dies: BIRD, FRR and C move 10.50 to the backup.
    failover_to_backup(a, &bird, &frr, &c)
}

/// A stops: its sessions close, its paths go, and BIRD, FRR and C use B's for 10.50.
fn failover_to_backup(a: Vcped, bird: &Bird, frr: &Frr, c: &Vcped) -> Result<()> {
    drop(a);
    let b_nh = lan(B).to_string();
    wait_for(
        "BIRD: B's path is the only one for 10.50.0.0/24",
        || bird_paths(bird, MED_PREFIX),
        |ps| ps.len() == 1 && ps[0].best && ps[0].next_hop == b_nh,
    )?;
    wait_for(
        "FRR: B's path is the only one for 10.50.0.0/24",
        || frr_paths(frr, MED_PREFIX),
        |ps| ps.len() == 1 && ps[0].best && ps[0].next_hop == b_nh,
    )?;
    wait_for(
        "C: B's path is best for 10.50.0.0/24",
        || c.show_route(&[]),
        |r| {
            r.rows(MED_PREFIX)
                .iter()
                .any(|x| x.bgp_best && x.next_hop.as_deref() == Some(&b_nh) && x.med == Some(100))
        },
    )?;
    Ok(())
}

/// One vCPE (AS 65010) and BIRD on a veth: `med` / `communities` of a
/// static route and `export_rule` are read again by `vcpectl reload`.
fn reload_config(tun: &str, med: u32, community: &str) -> String {
    let routes = format!(
        r#"[[route]]
name = "vpc-app"
prefix = "10.50.0.0/24"
interface = "TUN"
advertise = true
med = {med}
"#
    );
    let rule = format!(
        "[[bgp.neighbor.export_rule]]\nmatch_prefix = [\"10.50.0.0/24\"]\nadd_community = [\"{community}\"]\n"
    );
    vcpe_config_on(tun, A, VPC_AS, &routes, &neighbor(BIRD, BIRD_AS, &rule))
}

#[test]
fn reload_changes_what_a_route_carries_and_the_export_rules() -> Result<()> {
    require_root!();
    let lab = Lab::new("bgppolrl")?;
    let vns = lab.netns("a")?;
    let bns = lab.netns("bird")?;
    lab.veth(&vns, "eth0", &bns, "eth0")?;
    vns.addr("eth0", &format!("{}/24", lan(A)))?;
    bns.addr("eth0", &format!("{}/24", lan(BIRD)))?;
    let tun = ifname();
    let a = start(
        &vns,
        lab.dir(),
        "vcpe-a",
        &reload_config(&tun, 10, "65010:1"),
    )?;
    let mut spec = peer_spec(BIRD, BIRD_AS, &[], lab.dir());
    spec.neighbors.truncate(1);
    let bird = Bird::start(&bns, &spec)?;
    let result = (|| -> Result<()> {
        wait_established(&bird, IpAddr::V4(lan(A)), Duration::from_secs(40))?;
        wait_for(
            "BIRD: MED 10 and community 65010:1",
            || bird_paths(&bird, MED_PREFIX),
            |ps| ps.len() == 1 && ps[0].med == Some(10) && ps[0].communities == "(65010,1)",
        )?;
        std::fs::write(&a.config, reload_config(&tun, 20, "65010:2"))?;
        let out = a.ctl(&["reload"])?;
        ensure!(
            out.contains("vpc-app"),
            "reload did not name the route: {out}"
        );
        wait_for(
            "BIRD: MED 20 and community 65010:2 after the reload",
            || bird_paths(&bird, MED_PREFIX),
            |ps| ps.len() == 1 && ps[0].med == Some(20) && ps[0].communities == "(65010,2)",
        )?;
        Ok(())
    })();
    if result.is_err() {
        a.daemon.print_log();
        eprintln!("--- BIRD ---\n{}", bird.log());
    }
    result
}
