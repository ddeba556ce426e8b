//! One vcped as the route reflector (hub) of 8 spokes (issue 16, "Tests"),
//! its BGP sessions over tunnels, and separately over the underlay:
//!
//! ```text
//!   s1 .. s8: wan0 100.64.0.i ── br0 ── hub 100.64.0.9
//!             vcpe0 10.255.0.i, fd00:255::i; vxnet on lo 10.i.1.1, fd00:i:1::1
//!             GRE full mesh between the spokes (28 tunnels): the data
//!   over tunnels:  each spoke also has a GRE tunnel to the hub, and its
//!                  session to the hub runs inside it, between TUN
//!                  addresses (10.255.0.i ↔ 10.255.0.9, `peer = "v9"`);
//!   over the underlay: the hub has no tunnel, the sessions run between
//!                  underlay addresses (100.64.0.i ↔ 100.64.0.9)
//! ```
//!
//! Design: the spokes tunnel to each other, not only to the hub. The hub
//! reflects next hops unchanged (RFC 4456), so a spoke's route reaches the
//! others with the spoke's own next hop (its TUN address over tunnels, its
//! underlay address over the underlay; IPv6: its TUN address), which they
//! map to their tunnel to it: spoke-to-spoke traffic never crosses the
//! hub, which carries only BGP (hub-and-spoke transit through a vcped is
//! tested elsewhere, with static routes).
//!
//! Checked: every spoke learns every other spoke's vxnets, v4 and v6,
//! from the hub with ORIGINATOR_ID = the originating spoke's router id and
//! CLUSTER_LIST = the hub's `cluster_id` (`vcpectl --json bgp neighbor HUB
//! adj-in`), in the FIB into that spoke's tunnel; nothing of its own comes
//! back; all 56 pairs ping v4 and v6, and over tunnels the hub's tunnels
//! carry next to nothing meanwhile (BGP keepalives).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use vcpe_tests::fleet::{
    Fleet, inner4, ping_all, reflected_paths, routes_into_tunnels, vcpe_config, wait_ok, wan,
};
use vcpe_tests::{Lab, Vcped, require_root, wait_until};

const AS: u32 = 65000;
const SPOKES: u8 = 8;
const HUB: u8 = 9;
/// The hub's cluster id (not its router id, to see which one it uses).
const CLUSTER: &str = "10.254.0.9";

/// Where the hub's BGP sessions run.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Over {
    Tunnels,
    Underlay,
}

fn others(i: u8) -> Vec<u8> {
    (1..=SPOKES).filter(|&j| j != i).collect()
}

/// The address of spoke or hub `i` on the hub's sessions.
fn session_addr(over: Over, i: u8) -> String {
    match over {
        Over::Tunnels => inner4(i).to_string(),
        Over::Underlay => wan(i).to_string(),
    }
}

fn spoke_config(over: Over, i: u8) -> String {
    let mut tunnels = others(i);
    let mut bgp = format!(
        "[bgp]\nlisten = \"0.0.0.0:179\"\n\n[[bgp.neighbor]]\naddress = \"{}\"\nremote_as = {AS}\n\
         hold_time = 9\n",
        session_addr(over, HUB)
    );
    if over == Over::Tunnels {
        tunnels.push(HUB);
        bgp += &format!("peer = \"v{HUB}\"\nlocal_address = \"{}\"\n", inner4(i));
    }
    vcpe_config(i, AS, true, &tunnels, &bgp)
}

fn hub_config(over: Over) -> String {
    let spokes: Vec<u8> = (1..=SPOKES).collect();
    let mut bgp = format!("[bgp]\nlisten = \"0.0.0.0:179\"\ncluster_id = \"{CLUSTER}\"\n\n");
    for &j in &spokes {
        bgp += &format!(
            "[[bgp.neighbor]]\naddress = \"{}\"\nremote_as = {AS}\nhold_time = 9\n\
             route_reflector_client = true\n",
            session_addr(over, j)
        );
        if over == Over::Tunnels {
            bgp += &format!("peer = \"v{j}\"\n");
        }
        bgp += "\n";
    }
    let tunnels: &[u8] = match over {
        Over::Tunnels => &spokes,
        Over::Underlay => &[],
    };
    vcpe_config(HUB, AS, false, tunnels, &bgp)
}

fn hub_reflects_for_eight_spokes(over: Over) -> Result<()> {
    let lab = Lab::new(match over {
        Over::Tunnels => "hubtun",
        Over::Underlay => "hubul",
    })?;
    let names: Vec<(String, u8)> = (1..=SPOKES)
        .map(|i| (format!("s{i}"), i))
        .chain([("hub".to_owned(), HUB)])
        .collect();
    let hosts: Vec<(&str, u8)> = names.iter().map(|(n, h)| (n.as_str(), *h)).collect();
    let spokes: Vec<u8> = (1..=SPOKES).collect();
    let t0 = Instant::now();
    let fleet = Fleet::new(&lab, &hosts, &spokes)?;
    let configs: Vec<(u8, String)> = spokes
        .iter()
        .map(|&i| (i, spoke_config(over, i)))
        .chain([(HUB, hub_config(over))])
        .collect();
    let vcpeds = fleet.start(&lab, &configs)?;
    let (spoke_vcpeds, hub) = vcpeds.split_at(usize::from(SPOKES));
    let hub = &hub[0];
    let per_spoke = 2 * u64::from(SPOKES - 1);
    let converged = |v: &Vcped| {
        v.bgp_summary().is_ok_and(|s| {
            s.len() == 1 && s[0].state == "Established" && s[0].accepted == per_spoke
        })
    };
    let up = wait_until(Duration::from_secs(60), || {
        spoke_vcpeds.iter().all(converged)
    });
    ensure!(
        up,
        "{over:?}: not every spoke has the hub's session and all routes after 60 s:\n{}\nhub:\n{}",
        spoke_vcpeds
            .iter()
            .filter(|v| !converged(v))
            .map(|v| v.ctl(&["bgp", "summary"]).unwrap_or_else(|e| e.to_string()))
            .collect::<Vec<_>>()
            .join("\n"),
        hub.ctl(&["bgp", "summary"]).unwrap_or_default()
    );
    eprintln!(
        "{over:?}: {SPOKES} spokes converged {:?} after the lab began",
        t0.elapsed()
    );

    let hub_addr = session_addr(over, HUB);
    let detail = hub.neighbor(&session_addr(over, 1))?;
    ensure!(detail.route_reflector_client, "hub: {detail:?}");
    let nh4 = |j: u8| match over {
        Over::Tunnels => inner4(j),
        Over::Underlay => wan(j),
    };
    wait_ok(Duration::from_secs(20), || {
        spoke_vcpeds.iter().zip(1..=SPOKES).try_for_each(|(v, i)| {
            reflected_paths(v, i, &hub_addr, &others(i), &[CLUSTER.to_owned()], false)?;
            routes_into_tunnels(v, &others(i), &hub_addr, nh4).with_context(|| format!("s{i}"))
        })
    })?;
    for (v, i) in spoke_vcpeds.iter().zip(1..=SPOKES) {
        let n = v.neighbor(&hub_addr)?;
        ensure!(
            n.counters.reflected_loops_total == 0,
            "s{i}: the hub sent it its own routes: {:?}",
            n.counters
        );
    }

    let pings = fleet.pings_between(&spokes)?;
    let hub_packets = || -> Result<u64> {
        Ok(hub
            .tunnels()?
            .iter()
            .map(|t| t.rx_packets + t.tx_packets)
            .sum())
    };
    let before = hub_packets()?;
    let took = ping_all(&pings, Duration::from_secs(30)).with_context(|| format!("{over:?}"))?;
    // Through the hub, each echo and its reply would cross it twice each
    // way (4 × 112 packets); its tunnels carry the BGP sessions only.
    let through_hub = hub_packets()? - before;
    ensure!(
        through_hub < 2 * pings.len() as u64,
        "{over:?}: the hub's tunnels carried {through_hub} packets during {} pings",
        pings.len()
    );
    eprintln!(
        "{over:?}: all {} pings answered in {took:?} ({through_hub} packets in the hub's \
         tunnels meanwhile); whole test {:?}",
        pings.len(),
        t0.elapsed()
    );
    Ok(())
}

#[test]
fn a_vcped_hub_reflects_for_eight_spokes_over_tunnels() -> Result<()> {
    require_root!();
    hub_reflects_for_eight_spokes(Over::Tunnels)
}

#[test]
fn a_vcped_hub_reflects_for_eight_spokes_over_the_underlay() -> Result<()> {
    require_root!();
    hub_reflects_for_eight_spokes(Over::Underlay)
}
