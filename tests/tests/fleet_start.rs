//! Six vCPEs started at once (issue 16, item 5): a full mesh of GRE
//! tunnels on one underlay bridge with an eBGP session per tunnel, every
//! vcped spawned before any is waited for, so both ends of each session
//! connect at the same moment and RFC 4271 §6.8 collision resolution runs
//! on most pairs. Every session must be Established well before the
//! connect-retry wait (5 s, jittered down to 3.75 s) a pair that lost both
//! connections would have to sit out. Six rounds: the whole fleet is
//! stopped and started again, for more collisions. Harmless collisions
//! (and the "peer closed the TCP connection" a lost pair used to show)
//! must not be logged at WARN.
//!
//! ```text
//!   v1 .. v6: wan0 100.64.0.i/24 ── br0 (sw) ; vcpe0 10.255.0.i ; AS 65000+i
//! ```
//!
//! `bench/fleet.sh` is the big brother (16-64 vCPEs, routes and pings).

use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use vcpe_tests::{Lab, Netns, Vcped, require_root, wait_until};

const N: u8 = 6;
const ROUNDS: usize = 6;
/// Every session up within this of the last vcped answering: below the
/// shortest connect retry (3.75 s) a collision loss would cost.
const BOUND: Duration = Duration::from_millis(3500);

fn config(i: u8) -> String {
    let mut c = format!(
        "[router]\nid = \"10.255.0.{i}\"\nasn = {}\n\n[kernel]\nroute_sync = false\n\n\
         [[interface]]\nname = \"vcpe0\"\naddresses = [\"10.255.0.{i}/24\"]\nmtu = 1400\n\n\
         [[route]]\nname = \"vxnet\"\nprefix = \"10.{i}.1.0/24\"\ninterface = \"vcpe0\"\n\
         advertise = true\n\n[bgp]\nlisten = \"0.0.0.0:179\"\n\n",
        65000 + u32::from(i)
    );
    for j in (1..=N).filter(|&j| j != i) {
        c += &format!(
            "[[bgp.neighbor]]\naddress = \"10.255.0.{j}\"\nremote_as = {}\npeer = \"v{j}\"\n\n\
             [[peer]]\nname = \"v{j}\"\nendpoint = \"100.64.0.{j}\"\nencapsulation = \"gre\"\n\
             gre_key = {}\nallowed_prefixes = [\"10.255.0.{j}/32\", \"10.{j}.1.0/24\"]\n\
             mtu = 1300\n\n",
            65000 + u32::from(j),
            1000 * u32::from(i.min(j)) + u32::from(i.max(j)),
        );
    }
    c
}

fn all_established(vcpeds: &[Vcped]) -> bool {
    vcpeds.iter().all(|v| {
        v.bgp_summary().is_ok_and(|s| {
            s.len() == usize::from(N) - 1 && s.iter().all(|n| n.state == "Established")
        })
    })
}

#[test]
fn six_vcpes_started_at_once_have_every_session_up_without_a_connect_retry() -> Result<()> {
    require_root!();
    let lab = Lab::new("fleetstart")?;
    let sw = lab.netns("sw")?;
    let br = lab.bridge(&sw, "br0")?;
    let mut nss: Vec<Netns> = Vec::new();
    for i in 1..=N {
        let ns = lab.netns(&format!("v{i}"))?;
        br.plug(&format!("p{i}"), &ns, "wan0")?;
        ns.addr("wan0", &format!("100.64.0.{i}/24"))?;
        nss.push(ns);
    }
    for round in 1..=ROUNDS {
        let mut vcpeds = Vec::new();
        for (ns, i) in nss.iter().zip(1..=N) {
            vcpeds.push(Vcped::spawn(
                ns,
                lab.dir(),
                &format!("v{i}-r{round}"),
                &config(i),
            )?);
        }
        for (v, i) in vcpeds.iter().zip(1..=N) {
            v.wait_ready(&format!("v{i}"))?;
        }
        let ready = Instant::now();
        let up = wait_until(Duration::from_secs(30), || all_established(&vcpeds));
        let took = ready.elapsed();
        let summaries: Vec<String> = vcpeds
            .iter()
            .map(|v| v.ctl(&["bgp", "summary"]).unwrap_or_else(|e| e.to_string()))
            .collect();
        ensure!(
            up,
            "round {round}: not every session up in 30 s:\n{summaries:#?}"
        );
        ensure!(
            took <= BOUND,
            "round {round}: every session up only {took:?} after the last vcped answered \
             (a collision cost a connect retry?):\n{summaries:#?}"
        );
        // Before any is stopped (a stopping neighbor is worth a warning).
        for (v, i) in vcpeds.iter().zip(1..=N) {
            let log = v.daemon.log();
            let warns: Vec<&str> = log
                .lines()
                .filter(|l| l.contains("WARN"))
                .filter(|l| l.contains("ollision") || l.contains("closed the TCP connection"))
                .collect();
            ensure!(
                warns.is_empty(),
                "round {round}: v{i} logged collision trouble at WARN:\n{}",
                warns.join("\n")
            );
        }
        for v in &mut vcpeds {
            v.daemon.stop();
        }
        eprintln!("round {round}: every session up {took:?} after the last vcped answered");
    }
    Ok(())
}
