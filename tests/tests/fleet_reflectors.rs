//! 16 vCPEs as iBGP clients of two route reflectors (issue 16, "Tests"):
//! two BIRDs (`rr client`), then two FRRs (`route-reflector-client`), by
//! one function.
//!
//! ```text
//!   v1 .. v16: wan0 100.64.0.i ── br0 ── rr1 100.64.0.251, rr2 100.64.0.252
//!              vcpe0 10.255.0.i, fd00:255::i; vxnet on lo 10.i.1.1, fd00:i:1::1
//!              GRE full mesh (120 tunnels): the data; AS 65000 everywhere
//! ```
//!
//! The reflectors carry only BGP, over the underlay: each vCPE has two
//! sessions (one per reflector) and announces its vxnets with its underlay
//! address as IPv4 next hop (which the others map to its tunnel by
//! endpoint) and its TUN address as IPv6 next hop (a tunnel peer's inner
//! address). No config has a per-peer static route: every pair pings v4
//! and v6 through its own tunnel.
//!
//! Clusters: the BIRDs are two clusters (each its router id, BIRD's
//! default), the FRRs one (`bgp cluster-id`): both ways a fleet may grow
//! (README, "Growing from a mesh to reflectors"), and the clients see the
//! difference in CLUSTER_LIST (one id per reflector, or the shared one).
//! With two clusters the reflectors also pass their clients' routes to each
//! other (and keep the direct path: shorter CLUSTER_LIST); with one they
//! drop what the other reflects (cluster loop).
//!
//! A client's own route reflected back: FRR sends it (its update groups
//! send a route to every member, the originator too, and leave the drop to
//! the client): each vCPE has its own vxnets from each FRR in adj-in,
//! filtered, and counts them (`reflected_loops_total`). BIRD never sends a
//! route to the neighbor whose router id is its ORIGINATOR_ID: nothing
//! comes back and the counter stays 0.
//!
//! Then one reflector is killed (SIGKILL) while pairs ping every 10 ms:
//! the clients' best paths move to the other reflector's, which have the
//! same next hops, so the FIB entries are replaced in place (one change per
//! prefix, never a removal) and no echo is lost beyond a small bound; all
//! pairs still ping.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use vcpe_tests::fleet::{
    Fleet, Ping, kill_hard, ping_all, ping_burst, reflected_paths, routes_into_tunnels,
    vcpe_config, wait_ok, wan,
};
use vcpe_tests::peers::{Bird, Frr, NeighborSpec, PeerSpec};
use vcpe_tests::{Daemon, Lab, Vcped, require_root, wait_until};

const AS: u32 = 65000;
const N: u8 = 16;
const RR: [u8; 2] = [251, 252];
/// The FRR reflectors' shared cluster id.
const FRR_CLUSTER: &str = "100.64.0.250";
/// Echoes of one burst across the kill, and how many may be lost.
const BURST: u32 = 300;
const MAX_LOST: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Bird,
    Frr,
}

enum Reflector {
    Bird(Bird),
    Frr(Frr),
}

impl Reflector {
    fn daemon(&mut self) -> &mut Daemon {
        match self {
            Reflector::Bird(b) => b.daemon(),
            Reflector::Frr(f) => f.daemon(),
        }
    }
}

/// BIRD reflector `k` (0 or 1): the vCPEs are its clients, the other
/// reflector a plain iBGP neighbor. iBGP is multihop to BIRD: next hops
/// resolve recursively, IPv4 by the underlay subnet, IPv6 (the vCPEs' TUN
/// addresses) by a device route.
fn bird_config(k: usize) -> String {
    let (me, other) = (wan(RR[k]), wan(RR[1 - k]));
    let mut c = format!(
        "router id {me};\nlog stderr all;\nprotocol device {{}}\nprotocol direct {{ ipv4; }}\n\
         protocol static {{ ipv6; route fd00:255::/64 via \"wan0\"; }}\n\
         template bgp rrpeer {{\n  local {me} as {AS};\n  hold time 9;\n  connect retry time 1;\n  \
         error wait time 1, 5;\n  ipv4 {{ import all; export where source = RTS_BGP; }};\n  \
         ipv6 {{ import all; export where source = RTS_BGP; }};\n}}\n\
         protocol bgp other_rr from rrpeer {{ neighbor {other} as {AS}; }}\n"
    );
    for i in 1..=N {
        c += &format!(
            "protocol bgp client{i} from rrpeer {{ neighbor {} as {AS}; rr client; }}\n",
            wan(i)
        );
    }
    c
}

/// FRR reflector `k`: the same neighbors, and the shared cluster id.
fn frr_spec(k: usize, dir: &std::path::Path) -> PeerSpec {
    let mut neighbors: Vec<NeighborSpec> = (1..=N)
        .map(|i| NeighborSpec {
            route_reflector_client: true,
            ..NeighborSpec::new(IpAddr::V4(wan(i)), AS)
        })
        .collect();
    neighbors.push(NeighborSpec::new(IpAddr::V4(wan(RR[1 - k])), AS));
    PeerSpec {
        asn: AS,
        router_id: wan(RR[k]),
        hold_time: 9,
        neighbors,
        originate: Vec::new(),
        v6_next_hop: None,
        dir: dir.to_owned(),
        graceful_restart: false,
    }
}

fn start_reflector(kind: Kind, fleet: &Fleet, lab: &Lab, k: usize) -> Result<Reflector> {
    let ns = fleet.host(RR[k])?;
    Ok(match kind {
        Kind::Bird => Reflector::Bird(Bird::start_with_config(
            ns,
            lab.dir(),
            &format!("rr{}", k + 1),
            &bird_config(k),
        )?),
        Kind::Frr => {
            let spec = frr_spec(k, lab.dir());
            let id_line = format!(" bgp router-id {}\n", spec.router_id);
            let conf = Frr::config_for(&spec);
            ensure!(conf.contains(&id_line), "FRR config without {id_line:?}");
            let conf = conf.replace(
                &id_line,
                &format!("{id_line} bgp cluster-id {FRR_CLUSTER}\n"),
            );
            Reflector::Frr(Frr::start_with_config(ns, &spec, &conf)?)
        }
    })
}

/// A vCPE's `[bgp]`: the two reflectors, plain iBGP neighbors.
fn client_bgp() -> String {
    let mut c = "[bgp]\nlisten = \"0.0.0.0:179\"\n\n".to_owned();
    for rr in RR {
        c += &format!(
            "[[bgp.neighbor]]\naddress = \"{}\"\nremote_as = {AS}\nhold_time = 9\n\n",
            wan(rr)
        );
    }
    c
}

fn others(i: u8) -> Vec<u8> {
    (1..=N).filter(|&j| j != i).collect()
}

/// Both sessions Established, `2 × (N − 1)` prefixes accepted from each.
fn converged(v: &Vcped) -> bool {
    let per_rr = 2 * u64::from(N - 1);
    v.bgp_summary().is_ok_and(|s| {
        s.len() == 2
            && s.iter()
                .all(|n| n.state == "Established" && n.accepted == per_rr)
    })
}

/// Waits (`secs`) until `check` passes on every vCPE; else the first
/// error still seen.
fn on_all(vcpeds: &[Vcped], secs: u64, check: impl Fn(&Vcped, u8) -> Result<()>) -> Result<()> {
    wait_ok(Duration::from_secs(secs), || {
        vcpeds.iter().zip(1..=N).try_for_each(|(v, i)| check(v, i))
    })
}

fn sixteen_clients_of_two_reflectors(kind: Kind) -> Result<()> {
    let lab = Lab::new(match kind {
        Kind::Bird => "rrbird16",
        Kind::Frr => "rrfrr16",
    })?;
    let names: Vec<(String, u8)> = (1..=N)
        .map(|i| (format!("v{i}"), i))
        .chain([("rr1".to_owned(), RR[0]), ("rr2".to_owned(), RR[1])])
        .collect();
    let hosts: Vec<(&str, u8)> = names.iter().map(|(n, h)| (n.as_str(), *h)).collect();
    let vcpes: Vec<u8> = (1..=N).collect();
    let t0 = Instant::now();
    let fleet = Fleet::new(&lab, &hosts, &vcpes)?;
    let mut rrs = [
        start_reflector(kind, &fleet, &lab, 0)?,
        start_reflector(kind, &fleet, &lab, 1)?,
    ];
    let configs: Vec<(u8, String)> = vcpes
        .iter()
        .map(|&i| (i, vcpe_config(i, AS, true, &others(i), &client_bgp())))
        .collect();
    let started = Instant::now();
    let vcpeds = fleet.start(&lab, &configs)?;
    let up = wait_until(Duration::from_secs(60), || vcpeds.iter().all(converged));
    ensure!(
        up,
        "{kind:?}: not every vCPE has both sessions and all routes after 60 s:\n{}",
        vcpeds
            .iter()
            .filter(|v| !converged(v))
            .map(|v| v.ctl(&["bgp", "summary"]).unwrap_or_else(|e| e.to_string()))
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprintln!(
        "{kind:?}: lab ready in {:?}, {N} vCPEs converged {:?} after they were spawned",
        started - t0,
        started.elapsed()
    );

    // Every vxnet through its own tunnel, by RR1's path (the lower peer
    // address breaks the tie: same ORIGINATOR_ID, same CLUSTER_LIST
    // length); no static route but the vCPE's own vxnets.
    let (rr1, rr2) = (wan(RR[0]).to_string(), wan(RR[1]).to_string());
    on_all(&vcpeds, 20, |v, i| {
        routes_into_tunnels(v, &others(i), &rr1, wan).with_context(|| format!("v{i}"))
    })?;
    for (v, i) in vcpeds.iter().zip(1..=N) {
        let statics = v.route_list()?;
        ensure!(
            statics.len() == 2,
            "v{i}: static routes beyond its vxnets: {statics:?}"
        );
    }
    // What each reflector reflected, and the client's own routes.
    let clusters = |k: usize| match kind {
        Kind::Bird => vec![wan(RR[k]).to_string()],
        Kind::Frr => vec![FRR_CLUSTER.to_owned()],
    };
    let own_back = kind == Kind::Frr;
    on_all(&vcpeds, 20, |v, i| {
        for (k, rr) in [&rr1, &rr2].into_iter().enumerate() {
            reflected_paths(v, i, rr, &others(i), &clusters(k), own_back)?;
        }
        Ok(())
    })?;
    for (v, i) in vcpeds.iter().zip(1..=N) {
        for rr in [&rr1, &rr2] {
            let loops = v.neighbor(rr)?.counters.reflected_loops_total;
            if own_back {
                ensure!(
                    loops >= 2,
                    "v{i}: its two vxnets came back from {rr}, counted {loops}"
                );
            } else {
                ensure!(loops == 0, "v{i}: {loops} reflected loops from {rr}");
            }
        }
    }

    let pings = fleet.pings_between(&vcpes)?;
    let took = ping_all(&pings, Duration::from_secs(30))?;
    eprintln!("{kind:?}: all {} pings answered in {took:?}", pings.len());

    // Kill RR1 while pairs ping.
    let before: Vec<_> = vcpeds.iter().map(Vcped::stats).collect::<Result<_>>()?;
    let rr2_ups: Vec<u64> = vcpeds
        .iter()
        .map(|v| Ok(v.neighbor(&rr2)?.counters.established_transitions))
        .collect::<Result<_>>()?;
    let bursts: Vec<Ping> = [(1, N), (N, 1), (5, 12)]
        .into_iter()
        .flat_map(|(a, b)| Ping::vxnet_pair(fleet.host(a).expect("vCPE host"), a, b))
        .collect();
    let pid = rrs[0].daemon().pid();
    let results = std::thread::scope(|s| {
        let runs: Vec<_> = bursts
            .iter()
            .map(|p| s.spawn(move || ping_burst(p, BURST, Duration::from_millis(10))))
            .collect();
        std::thread::sleep(Duration::from_secs(1));
        let killed = kill_hard(pid);
        let results: Vec<_> = runs
            .into_iter()
            .map(|r| {
                r.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("panicked")))
            })
            .collect();
        killed.map(|()| results)
    })?;
    rrs[0].daemon().stop();
    for (p, r) in bursts.iter().zip(results) {
        let (sent, got) = r?;
        eprintln!(
            "{kind:?}: across the kill {} -> {}: {got}/{sent} echoes",
            p.src, p.dst
        );
        ensure!(
            sent == BURST && sent - got <= MAX_LOST,
            "{} -> {}: {got} of {sent} echoes answered across the kill of RR1",
            p.src,
            p.dst
        );
    }
    // Every route now RR2's, the same next hops, the same tunnels.
    on_all(&vcpeds, 20, |v, i| {
        let s = v.bgp_summary()?;
        ensure!(
            s.iter()
                .any(|n| n.address == rr1 && n.state != "Established"),
            "v{i}: RR1's session still up: {s:?}"
        );
        routes_into_tunnels(v, &others(i), &rr2, wan).with_context(|| format!("v{i}"))
    })?;
    // The FIB did not change at all: RR2's paths have the same next hops,
    // so the new best paths give the same FIB entries (not even an
    // identical replace is counted; a removal and a new install would be
    // two changes per prefix), and as many routes as before.
    let learned = 2 * u64::from(N - 1);
    let mut fib_changes = Vec::new();
    for (((v, i), b), ups) in vcpeds.iter().zip(1..=N).zip(&before).zip(rr2_ups) {
        let a = v.stats()?;
        let changes = a.fib_route_changes - b.fib_route_changes;
        fib_changes.push(changes);
        ensure!(
            changes == 0
                && (a.fib_v4_routes, a.fib_v6_routes) == (b.fib_v4_routes, b.fib_v6_routes),
            "v{i}: {changes} FIB changes for {learned} prefixes whose best path moved; FIB routes \
             {}/{} before, {}/{} after",
            b.fib_v4_routes,
            b.fib_v6_routes,
            a.fib_v4_routes,
            a.fib_v6_routes
        );
        let n = v.neighbor(&rr2)?;
        ensure!(
            n.counters.established_transitions == ups,
            "v{i}: the session to RR2 flapped: {:?}",
            n.counters
        );
    }
    eprintln!("{kind:?}: FIB changes per vCPE across the kill: {fib_changes:?}");
    let took = ping_all(&pings, Duration::from_secs(30)).context("after the kill")?;
    eprintln!(
        "{kind:?}: after the kill all {} pings answered in {took:?}; whole test {:?}",
        pings.len(),
        t0.elapsed()
    );
    Ok(())
}

#[test]
fn sixteen_vcpes_as_clients_of_two_bird_reflectors() -> Result<()> {
    require_root!();
    sixteen_clients_of_two_reflectors(Kind::Bird)
}

#[test]
fn sixteen_vcpes_as_clients_of_two_frr_reflectors() -> Result<()> {
    require_root!();
    sixteen_clients_of_two_reflectors(Kind::Frr)
}
