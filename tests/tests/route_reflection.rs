//! Route reflection (RFC 4456) with real daemons, all on one LAN
//! 10.99.0.0/24, AS 65000 everywhere:
//!
//! - vcpeds as clients of BIRD reflectors: vCPEs A and B are clients of
//!   BIRD RR1 and RR2 (two clusters, non-clients of each other). RR2
//!   prefers what RR1 reflects over what it hears from a client directly
//!   (an import filter lowers LOCAL_PREF), so each vCPE's route reaches
//!   the other twice: through one cluster (RR1) and through two (RR2).
//!   B takes the shorter CLUSTER_LIST and `vcpectl explain` says so. A is
//!   configured in RR2's cluster (`cluster_id`), as a second reflector of
//!   that cluster would be: what RR2 reflects to it is a cluster loop,
//!   ignored and counted. (The ORIGINATOR_ID rule cannot be provoked
//!   here: BIRD, like FRR, never sends a route to the neighbor whose
//!   router id is its ORIGINATOR_ID; the RIB's unit tests cover it.)
//! - vcpeds as clients of an FRR reflector (`route-reflector-client`):
//!   each one's route reaches the other with ORIGINATOR_ID and
//!   CLUSTER_LIST as FRR sets them, the next hop unchanged; FRR's own
//!   route carries neither.
//! - vcped as the reflector: BIRD and FRR are its clients. Each one's
//!   route reaches the other with ORIGINATOR_ID (the originating client)
//!   and CLUSTER_LIST (the configured `cluster_id`) as `birdc show route
//!   all` and `vtysh show bgp ... json` show them, the next hop unchanged
//!   (the originating client's address); nothing goes back to its source.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;
use vcpe_tests::peers::{
    BgpPeer, Bird, Frr, NeighborSpec, PeerSpec, wait_established, wait_for_route,
};
use vcpe_tests::{Lab, Netns, Vcped, names::ifname, require_root, wait_until};

const AS: u32 = 65000;

fn lan(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 99, 0, i)
}

/// A vCPE of AS 65000 at 10.99.0.`i`: one TUN holding 10.`i`.0.0/16, its
/// 10.`i`.0.0/24 advertised, the LAN route for BGP next hops, and `bgp`
/// (the `[bgp]` table and neighbors).
fn vcpe_config(i: u8, bgp: &str) -> String {
    let tun = ifname();
    format!(
        r#"[router]
id = "{id}"
asn = {AS}

[kernel]
route_sync = false

[[interface]]
name = "{tun}"
addresses = ["10.{i}.0.1/16"]

[[route]]
name = "bgp-lan"
prefix = "10.99.0.0/24"
interface = "{tun}"

[[route]]
name = "vpc"
prefix = "10.{i}.0.0/24"
interface = "{tun}"
advertise = true

[bgp]
listen = "0.0.0.0:179"
{bgp}"#,
        id = lan(i),
    )
}

fn neighbor(i: u8, extra: &str) -> String {
    format!(
        "\n[[bgp.neighbor]]\naddress = \"{}\"\nremote_as = {AS}\nhold_time = 9\n{extra}",
        lan(i)
    )
}

/// A BIRD reflector at 10.99.0.`me` with `clients` and the non-client
/// reflector `other`. With `demote_clients`, what clients send directly
/// gets LOCAL_PREF 50, so a path reflected by `other` wins.
fn bird_reflector(me: u8, other: u8, clients: &[u8], demote_clients: bool) -> String {
    let mut c = format!(
        "log stderr all;\nrouter id {};\nprotocol device {{ }}\n",
        lan(me)
    );
    let session = |name: &str, peer: u8, rr_client: bool, import: &str| {
        format!(
            "protocol bgp {name} {{\n  local {} as {AS};\n  neighbor {} as {AS};\n  direct;\n  hold time 9;\n  \
             connect retry time 1;\n  error wait time 1, 5;\n{}  ipv4 {{ import {import}; export all; \
             gateway direct; }};\n}}\n",
            lan(me),
            lan(peer),
            if rr_client { "  rr client;\n" } else { "" },
        )
    };
    c.push_str(&session("other_reflector", other, false, "all"));
    let import = if demote_clients {
        "filter { bgp_local_pref = 50; accept; }"
    } else {
        "all"
    };
    for &n in clients {
        c.push_str(&session(&format!("client{n}"), n, true, import));
    }
    c
}

/// A plain BIRD iBGP speaker at 10.99.0.`me` with one neighbor, and a
/// static route for `prefix`.
fn bird_client(me: u8, neighbor_at: u8, prefix: &str) -> String {
    format!(
        "log stderr all;\nrouter id {me_ip};\nprotocol device {{ }}\n\
         protocol static s4 {{ ipv4; route {prefix} blackhole; }}\n\
         protocol bgp n_10_99_0_{neighbor_at} {{\n  local {me_ip} as {AS};\n  neighbor {n} as {AS};\n  direct;\n  hold time 9;\n  \
         connect retry time 1;\n  error wait time 1, 5;\n  ipv4 {{ import all; \
         export where source ~ [ RTS_STATIC ]; gateway direct; }};\n}}\n",
        me_ip = lan(me),
        n = lan(neighbor_at),
    )
}

/// One path as BIRD's `show route PREFIX all` shows it.
#[derive(Debug, Default)]
struct BirdPath {
    next_hop: String,
    local_pref: String,
    originator_id: String,
    cluster_list: String,
    static_route: bool,
}

fn bird_paths(bird: &Bird, prefix: &str) -> Result<Vec<BirdPath>> {
    let text = bird.birdc(&format!("show route {prefix} all"))?;
    let mut out: Vec<BirdPath> = Vec::new();
    for line in text.lines() {
        if line.contains(" unicast [") || line.contains(" blackhole [") {
            out.push(BirdPath {
                static_route: line.contains(" blackhole ["),
                ..BirdPath::default()
            });
            continue;
        }
        let Some(p) = out.last_mut() else { continue };
        let t = line.trim();
        let value = |v: &str| v.trim().to_owned();
        if let Some(v) = t.strip_prefix("BGP.next_hop:") {
            p.next_hop = value(v);
        } else if let Some(v) = t.strip_prefix("BGP.local_pref:") {
            p.local_pref = value(v);
        } else if let Some(v) = t.strip_prefix("BGP.originator_id:") {
            p.originator_id = value(v);
        } else if let Some(v) = t.strip_prefix("BGP.cluster_list:") {
            p.cluster_list = value(v);
        }
    }
    Ok(out)
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

/// Namespaces `names` on one bridge, each with its LAN address.
fn lan_namespaces(lab: &Lab, names: &[(&str, u8)]) -> Result<Vec<Netns>> {
    let sw = lab.netns("sw")?;
    let br = lab.bridge(&sw, "br0")?;
    let mut out = Vec::new();
    for &(name, i) in names {
        let n = lab.netns(name)?;
        br.plug(&format!("p-{name}"), &n, "eth0")?;
        n.addr("eth0", &format!("{}/24", lan(i)))?;
        out.push(n);
    }
    Ok(out)
}

const RR1: u8 = 1;
const RR2: u8 = 2;
const A: u8 = 11;
const B: u8 = 12;

#[test]
fn vcpeds_as_clients_of_bird_reflectors_prefer_fewer_clusters_and_drop_cluster_loops() -> Result<()>
{
    require_root!();
    let lab = Lab::new("rrcli")?;
    let ns = lan_namespaces(&lab, &[("rr1", RR1), ("rr2", RR2), ("a", A), ("b", B)])?;
    let dir = lab.dir();
    let clients = format!("{}{}", neighbor(RR1, ""), neighbor(RR2, ""));
    // A is in RR2's cluster (as a second reflector of that cluster would
    // be): what RR2 reflects carries A's cluster id.
    let a_bgp = format!("cluster_id = \"{}\"\n{clients}", lan(RR2));
    let a = Vcped::start(&ns[2], dir, "vcpe-a", &vcpe_config(A, &a_bgp))?;
    let b = Vcped::start(&ns[3], dir, "vcpe-b", &vcpe_config(B, &clients))?;
    let rr1 = Bird::start_with_config(
        &ns[0],
        dir,
        "rr1",
        &bird_reflector(RR1, RR2, &[A, B], false),
    )?;
    let rr2 =
        Bird::start_with_config(&ns[1], dir, "rr2", &bird_reflector(RR2, RR1, &[A, B], true))?;
    for (rr, name) in [(&rr1, "rr1"), (&rr2, "rr2")] {
        let up = wait_until(Duration::from_secs(40), || {
            rr.birdc("show protocols")
                .is_ok_and(|s| s.matches("Established").count() == 3)
        });
        ensure!(
            up,
            "{name}: not all 3 sessions Established:\n{}",
            rr.birdc("show protocols").unwrap_or_default()
        );
    }
    let (rr1_ip, rr2_ip) = (lan(RR1).to_string(), lan(RR2).to_string());
    let a_prefix = format!("10.{A}.0.0/24");
    let b_prefix = format!("10.{B}.0.0/24");

    // B: A's route twice, through RR1 (one cluster) and RR2 (two); the
    // shorter CLUSTER_LIST wins, and the next hop is still A's. (Until
    // RR1's path reaches RR2, RR2 reflects A's own, through one cluster
    // too: then the peer address decides. Wait for the settled state.)
    let rib = wait_for(
        &format!("B: two BGP paths for {a_prefix}, RR1's best by the shorter cluster list"),
        || b.show_route(&[&a_prefix]),
        |r| {
            r.rows(&a_prefix).len() == 2
                && r.best(&a_prefix).is_some_and(|b| {
                    b.source == rr1_ip && b.reason.contains("shorter cluster list (1 < 2)")
                })
        },
    )?;
    let best = rib.best(&a_prefix).context("best")?;
    ensure!(
        best.next_hop.as_deref() == Some(lan(A).to_string().as_str()),
        "B: reflected next hop {:?}, expected the originator's {}",
        best.next_hop,
        lan(A)
    );
    let explain = b.explain(&format!("10.{A}.0.9"))?;
    let why = explain
        .route
        .as_ref()
        .map(|r| r.reason.clone())
        .unwrap_or_default();
    ensure!(
        why.contains("shorter cluster list"),
        "B: explain names {why:?} (why: {})",
        explain.why
    );
    // What RR1 reflected to RR2 and RR2 to B: A's router id as
    // ORIGINATOR_ID, RR2's then RR1's cluster ids.
    let adj = b.adj_rib(&rr2_ip, "adj-in")?;
    let via_rr2 = adj.rows(&a_prefix);
    ensure!(
        via_rr2.len() == 1
            && !via_rr2[0].filtered
            && via_rr2[0].originator_id.as_deref() == Some(lan(A).to_string().as_str())
            && via_rr2[0].cluster_list == [rr2_ip.clone(), rr1_ip.clone()],
        "B: adj-in from RR2 for {a_prefix}: {via_rr2:?}"
    );
    // BIRD never sends B its own route back (it checks ORIGINATOR_ID
    // against the neighbor's router id), so B has no loop to count.
    ensure!(b.neighbor(&rr2_ip)?.counters.reflected_loops_total == 0);

    // A: B's route from RR2 carries A's cluster id: ignored and counted;
    // the one through RR1 is the only BGP path.
    let n = wait_for(
        &format!("A: {b_prefix} from RR2 counted as a reflected loop"),
        || a.neighbor(&rr2_ip),
        |n| n.counters.reflected_loops_total >= 1,
    )
    .with_context(|| {
        format!(
            "RR2 has:\n{}",
            rr2.birdc(&format!("show route {b_prefix} all"))
                .unwrap_or_default()
        )
    })?;
    ensure!(
        n.counters.filtered >= 1,
        "A: the loop is also filtered: {:?}",
        n.counters
    );
    let adj = a.adj_rib(&rr2_ip, "adj-in")?;
    ensure!(
        !adj.rows(&b_prefix).is_empty() && adj.rows(&b_prefix).iter().all(|r| r.filtered),
        "A: {b_prefix} from RR2 must be there and not accepted: {:?}",
        adj.rows(&b_prefix)
    );
    let rib = wait_for(
        &format!("A: {b_prefix} through RR1 only"),
        || a.show_route(&[&b_prefix]),
        |r| r.rows(&b_prefix).len() == 1 && r.best(&b_prefix).is_some_and(|b| b.source == rr1_ip),
    )?;
    let best = rib.best(&b_prefix).context("best")?;
    ensure!(
        best.next_hop.as_deref() == Some(lan(B).to_string().as_str()),
        "A: next hop {:?}",
        best.next_hop
    );
    // (From RR1 A may count loops too: while RR1 has not heard B
    // directly yet, its best for B's route is what RR2 reflected, which it
    // passes on with RR2's cluster id in the list.)
    // And the human output says it.
    let text = a.ctl(&["bgp", "neighbor", &rr2_ip])?;
    ensure!(text.contains("reflected loop"), "{text}");
    Ok(())
}

#[test]
fn vcpeds_as_clients_of_an_frr_reflector() -> Result<()> {
    require_root!();
    let lab = Lab::new("rrfrr")?;
    let ns = lan_namespaces(&lab, &[("frr", C_FRR), ("a", A), ("b", B)])?;
    let dir = lab.dir();
    let a = Vcped::start(&ns[1], dir, "vcpe-a", &vcpe_config(A, &neighbor(C_FRR, "")))?;
    let b = Vcped::start(&ns[2], dir, "vcpe-b", &vcpe_config(B, &neighbor(C_FRR, "")))?;
    let mut spec = frr_spec(dir);
    spec.neighbors = [A, B]
        .into_iter()
        .map(|i| NeighborSpec {
            route_reflector_client: true,
            ..NeighborSpec::new(IpAddr::V4(lan(i)), AS)
        })
        .collect();
    let frr = Frr::start(&ns[0], &spec)?;
    for i in [A, B] {
        wait_established(&frr, IpAddr::V4(lan(i)), Duration::from_secs(40))?;
    }
    let frr_ip = lan(C_FRR).to_string();
    for (me, name, other) in [(&a, "A", B), (&b, "B", A)] {
        let theirs = format!("10.{other}.0.0/24");
        let rib = wait_for(
            &format!("{name}: {theirs} reflected by FRR"),
            || me.show_route(&[&theirs]),
            |r| r.best(&theirs).is_some_and(|b| b.source == frr_ip),
        )?;
        let best = rib.best(&theirs).context("best")?;
        ensure!(
            best.next_hop.as_deref() == Some(lan(other).to_string().as_str()),
            "{name}: next hop {:?}, expected the originator's {}",
            best.next_hop,
            lan(other)
        );
        let adj = me.adj_rib(&frr_ip, "adj-in")?;
        let row = adj.rows(&theirs);
        ensure!(
            row.len() == 1
                && row[0].originator_id.as_deref() == Some(lan(other).to_string().as_str())
                && row[0].cluster_list == [frr_ip.clone()],
            "{name}: adj-in from FRR for {theirs}: {row:?}"
        );
        // FRR's own route: not reflected, so neither attribute.
        let own = wait_for(
            &format!("{name}: FRR's {FRR_PREFIX}"),
            || me.adj_rib(&frr_ip, "adj-in"),
            |adj| adj.rows(FRR_PREFIX).len() == 1,
        )?;
        let r = own.rows(FRR_PREFIX)[0];
        ensure!(
            r.originator_id.is_none() && r.cluster_list.is_empty(),
            "{name}: FRR's own route: {r:?}"
        );
    }
    Ok(())
}

const C_BIRD: u8 = 1;
const C_FRR: u8 = 3;
const HUB: u8 = 10;
const CLUSTER: &str = "10.99.0.100";
const BIRD_PREFIX: &str = "10.21.0.0/24";
const FRR_PREFIX: &str = "10.23.0.0/24";

fn frr_spec(dir: &Path) -> PeerSpec {
    PeerSpec {
        asn: AS,
        router_id: lan(C_FRR),
        hold_time: 9,
        neighbors: vec![NeighborSpec::new(IpAddr::V4(lan(HUB)), AS)],
        originate: vec![FRR_PREFIX.to_owned()],
        v6_next_hop: None,
        dir: dir.to_owned(),
        graceful_restart: false,
    }
}

#[test]
fn vcped_reflects_between_bird_and_frr_clients() -> Result<()> {
    require_root!();
    let lab = Lab::new("rrhub")?;
    let ns = lan_namespaces(&lab, &[("bird", C_BIRD), ("frr", C_FRR), ("hub", HUB)])?;
    let dir = lab.dir();
    let bgp = format!(
        "cluster_id = \"{CLUSTER}\"\n{}{}",
        neighbor(C_BIRD, "route_reflector_client = true\n"),
        neighbor(C_FRR, "route_reflector_client = true\n"),
    );
    let hub = Vcped::start(&ns[2], dir, "vcpe-hub", &vcpe_config(HUB, &bgp))?;
    let bird =
        Bird::start_with_config(&ns[0], dir, "bird", &bird_client(C_BIRD, HUB, BIRD_PREFIX))?;
    let frr = Frr::start(&ns[1], &frr_spec(dir))?;
    for p in [&bird as &dyn BgpPeer, &frr] {
        wait_established(p, IpAddr::V4(lan(HUB)), Duration::from_secs(40))?;
    }
    let detail = hub.neighbor(&lan(C_BIRD).to_string())?;
    ensure!(detail.route_reflector_client, "{detail:?}");

    // FRR's route at BIRD: reflected by the hub, next hop FRR's.
    let paths = wait_for(
        &format!("BIRD: {FRR_PREFIX} reflected by the hub"),
        || bird_paths(&bird, FRR_PREFIX),
        |ps| ps.len() == 1 && !ps[0].originator_id.is_empty(),
    )?;
    let p = &paths[0];
    ensure!(
        p.originator_id == lan(C_FRR).to_string() && p.cluster_list == CLUSTER,
        "BIRD sees ORIGINATOR_ID {:?} and CLUSTER_LIST {:?}",
        p.originator_id,
        p.cluster_list
    );
    ensure!(
        p.next_hop == lan(C_FRR).to_string() && p.local_pref == "100",
        "next hop and LOCAL_PREF unchanged by reflection: {p:?}"
    );

    // BIRD's route at FRR, likewise.
    wait_for_route(&frr, BIRD_PREFIX, Duration::from_secs(30))?;
    let text = frr.vtysh(&format!("show bgp ipv4 unicast {BIRD_PREFIX} json"))?;
    let v: Value = serde_json::from_str(text.trim()).context("FRR json")?;
    let path = &v["paths"][0];
    let originator = path["originatorId"].as_str().unwrap_or("");
    let clusters: Vec<&str> = path["clusterList"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    ensure!(
        originator == lan(C_BIRD).to_string() && clusters == [CLUSTER],
        "FRR sees originator {originator:?}, cluster list {clusters:?}: {path}"
    );
    let nh = path["nexthops"][0]["ip"].as_str().unwrap_or("");
    ensure!(nh == lan(C_BIRD).to_string(), "FRR next hop {nh}: {path}");

    // Nothing back to its source: BIRD has only its static route for its
    // prefix, and the hub advertised its own prefix to both.
    let own = bird_paths(&bird, BIRD_PREFIX)?;
    ensure!(own.len() == 1 && own[0].static_route, "{own:?}");
    let out = hub.adj_rib(&lan(C_BIRD).to_string(), "adj-out")?;
    ensure!(
        out.rows(BIRD_PREFIX).is_empty() && out.rows(FRR_PREFIX).len() == 1,
        "hub adj-out to BIRD: {:?}",
        out.routes
    );
    let hub_prefix = format!("10.{HUB}.0.0/24");
    wait_for(
        &format!("BIRD: the hub's own {hub_prefix}, not reflected"),
        || bird_paths(&bird, &hub_prefix),
        |ps| ps.len() == 1 && ps[0].originator_id.is_empty(),
    )?;
    Ok(())
}
