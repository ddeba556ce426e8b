//! Failover between two vCPEs that serve the same VPC, with BFD: how long
//! traffic stops when the preferred one dies, freezes or loses its link.
//!
//! ```text
//!  vma 10.1.1.10 ── a ══ VXLAN ══ b1 ──┐
//!                    ╲                  ├─ bridge (vpcb) ── vmb 10.2.1.10
//!                     ══ VXLAN ══ b2 ──┘
//! ```
//!
//! b1 and b2 both advertise 10.2.1.0/24 to a (BGP through the tunnels, BFD
//! 300 ms × 3 on every session); a prefers b1 (lower router id). vmb
//! answers through b2, so only the forward path fails over. `ping -i 0.01`
//! runs from vma while b1 fails; the outage is the longest run of lost
//! echoes, and must stay under 1.5 s (detection 900 ms plus slack).

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use vcpe_tests::{Lab, Netns, Vcped, require_root, wait_until};

/// Router `n` (1 = a, 2 = b1, 3 = b2): its config, with tunnels and BGP
/// sessions to each of `peers`.
fn config(n: u8, peers: &[u8], bfd: bool) -> String {
    let mut c = format!(
        "[router]\nid = \"10.255.0.{n}\"\nasn = {asn}\n\n\
         [kernel]\nroute_sync = false\n\n\
         [[interface]]\nname = \"vcpe0\"\naddresses = [\"10.255.0.{n}/24\"]\nmtu = 1450\n\n\
         [[route]]\nname = \"vpc\"\nprefix = \"{prefix}\"\ninterface = \"vcpe0\"\nadvertise = true\n\n\
         [bgp]\nlisten = \"0.0.0.0:179\"\n\n",
        asn = 65000 + u32::from(n),
        prefix = if n == 1 { "10.1.1.0/24" } else { "10.2.1.0/24" },
    );
    for &p in peers {
        let vni = 10 * u32::from(n.min(p)) + u32::from(n.max(p));
        c += &format!(
            "[[bgp.neighbor]]\naddress = \"10.255.0.{p}\"\nremote_as = {asn}\npeer = \"t{p}\"\n\
             hold_time = 9\n{bfd}\n\n\
             [[peer]]\nname = \"t{p}\"\nendpoint = \"100.64.0.{p}:4789\"\nencapsulation = \"vxlan\"\n\
             vni = {vni}\nallowed_prefixes = [\"10.255.0.{p}/32\", \"10.0.0.0/8\"]\n\n",
            asn = 65000 + u32::from(p),
            bfd = if bfd {
                "bfd = true\nbfd_interval_ms = 300\nbfd_multiplier = 3"
            } else {
                ""
            },
        );
    }
    c
}

/// Fields drop in order: the daemons stop before the lab removes their
/// namespaces.
struct Topology {
    routers: Vec<(Netns, Vcped)>,
    vma: Netns,
    inet: Netns,
    _lab: Lab,
}

fn topology(tag: &str, bfd: bool) -> Result<Topology> {
    let lab = Lab::new(tag)?;
    let inet = lab.netns("inet")?;
    let wan = lab.bridge(&inet, "br0")?;
    let vpcb = lab.netns("vpcb")?;
    let lan = lab.bridge(&vpcb, "br0")?;
    let vma = lab.netns("vma")?;
    let vmb = lab.netns("vmb")?;
    let mut nss = Vec::new();
    for (n, name) in [(1u8, "a"), (2, "b1"), (3, "b2")] {
        let ns = lab.netns(name)?;
        wan.plug(&format!("w{n}"), &ns, "wan0")?;
        ns.addr("wan0", &format!("100.64.0.{n}/24"))?;
        ns.enable_forwarding()?;
        nss.push(ns);
    }
    lab.veth(&nss[0], "eth1", &vma, "eth0")?;
    nss[0].addr("eth1", "10.1.1.1/24")?;
    vma.addr("eth0", "10.1.1.10/24")?;
    vma.route("default", "10.1.1.1")?;
    for (i, n) in [(1usize, 1u8), (2, 2)] {
        lan.plug(&format!("p{n}"), &nss[i], "eth1")?;
        nss[i].addr("eth1", &format!("10.2.1.{n}/24"))?;
    }
    lan.plug("pvm", &vmb, "eth0")?;
    vmb.addr("eth0", "10.2.1.10/24")?;
    // Replies go back through b2, which stays up: only a -> b fails over.
    vmb.route("default", "10.2.1.2")?;

    let mut routers = Vec::new();
    for (i, ns) in nss.into_iter().enumerate() {
        let n = i as u8 + 1;
        let peers: &[u8] = if n == 1 { &[2, 3] } else { &[1] };
        let v = Vcped::start(&ns, lab.dir(), &format!("r{n}"), &config(n, peers, bfd))?;
        ns.route_dev("10.0.0.0/8", "vcpe0")?;
        routers.push((ns, v));
    }
    Ok(Topology {
        routers,
        vma,
        inet,
        _lab: lab,
    })
}

/// The tunnel a's FIB sends 10.2.1.10 into.
fn a_uses(t: &Topology) -> Option<String> {
    let e = t.routers[0].1.explain("10.2.1.10").ok()?;
    e.hops.first().and_then(|h| h.name.clone())
}

fn wait_ready(t: &Topology) -> Result<()> {
    let a = &t.routers[0].1;
    let ready = wait_until(Duration::from_secs(40), || {
        let est = a
            .bgp_summary()
            .map(|s| s.iter().filter(|n| n.state == "Established").count())
            .unwrap_or(0);
        est == 2 && a_uses(t).as_deref() == Some("t2")
    });
    ensure!(
        ready,
        "a did not get both sessions up and 10.2.1.0/24 via b1 (t2):\n{}\n{}",
        a.ctl(&["bgp", "summary"]).unwrap_or_default(),
        a.daemon.log()
    );
    Ok(())
}

/// Pings vmb from vma every 10 ms for `secs`, calling `fault` after 2 s;
/// returns (longest time between two answers in ms, echoes answered, sent).
/// Time comes from ping's own receive timestamps (`-D`), not from counting
/// lost echoes: under load ping sends less often than asked.
fn outage(
    t: &Topology,
    secs: u32,
    fault: impl FnOnce() -> Result<()>,
) -> Result<(u64, usize, u32)> {
    let child = t
        .vma
        .command("ping")
        .args([
            "-n",
            "-D",
            "-i",
            "0.01",
            "-W",
            "1",
            "-w",
            &secs.to_string(),
            "10.2.1.10",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting ping in vma")?;
    std::thread::sleep(Duration::from_secs(2));
    let fault_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs_f64();
    fault()?;
    let out = child.wait_with_output().context("waiting for ping")?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "[1765100000.123456] 64 bytes from 10.2.1.10: icmp_seq=7 ttl=61 time=0.3 ms"
    let mut answers: Vec<(u32, f64)> = text
        .lines()
        .filter_map(|l| {
            let at = l.strip_prefix('[')?.split(']').next()?.parse().ok()?;
            let seq = l
                .split("icmp_seq=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()?;
            Some((seq, at))
        })
        .collect();
    answers.sort_by_key(|a| a.0);
    answers.dedup_by_key(|a| a.0);
    ensure!(
        answers.len() > 100,
        "ping got almost no answers ({}):\n{text}",
        answers.len()
    );
    let last = answers.last().map_or(0.0, |a| a.1);
    ensure!(
        last > fault_at + 2.0,
        "traffic to 10.2.1.10 did not come back within 2 s of the fault:\n{text}"
    );
    let longest = answers
        .windows(2)
        .map(|w| w[1].1 - w[0].1)
        .fold(0.0, f64::max);
    let sent = text
        .lines()
        .find_map(|l| l.split(" packets transmitted").next()?.trim().parse().ok())
        .unwrap_or(0);
    Ok(((longest * 1000.0) as u64, answers.len(), sent))
}

fn check(tag: &str, fault: &str) -> Result<()> {
    let t = topology(tag, true)?;
    wait_ready(&t)?;
    let b1 = &t.routers[1].1;
    let pid = b1.daemon.pid().to_string();
    let (ms, got, sent) = outage(&t, 6, || {
        match fault {
            "kill" => {
                t.routers[1].0.exec_ok(["kill", "-KILL", &pid])?;
            }
            "stop" => {
                t.routers[1].0.exec_ok(["kill", "-STOP", &pid])?;
            }
            _ => {
                t.inet.ip(["link", "set", "w2", "down"])?;
            }
        }
        Ok(())
    })?;
    eprintln!("{fault}: outage {ms} ms ({got} of {sent} echoes answered)");
    let a = &t.routers[0].1;
    ensure!(
        a_uses(&t).as_deref() == Some("t3"),
        "after b1 failed ({fault}), a does not send 10.2.1.0/24 into b2's tunnel:\n{}",
        a.ctl(&["explain", "10.2.1.10"]).unwrap_or_default()
    );
    ensure!(
        ms < 1500,
        "b1 {fault}: traffic stopped for {ms} ms (BFD 300 ms x 3 should detect it in 900 ms)\n{}",
        a.daemon.log()
    );
    // b1 back: BFD Up again, the session re-established, b1 preferred again.
    match fault {
        "stop" => drop(t.routers[1].0.exec_ok(["kill", "-CONT", &pid])?),
        "link" => drop(t.inet.ip(["link", "set", "w2", "up"])?),
        _ => return Ok(()),
    }
    ensure!(
        wait_until(Duration::from_secs(30), || a_uses(&t).as_deref()
            == Some("t2")),
        "b1 came back ({fault}) but a still does not use it:\n{}",
        a.ctl(&["bgp", "summary"]).unwrap_or_default()
    );
    Ok(())
}

#[test]
fn bfd_failover_when_a_vcpe_is_killed() -> Result<()> {
    require_root!();
    check("fo-kill", "kill")
}

#[test]
fn bfd_failover_when_a_vcpe_is_frozen() -> Result<()> {
    require_root!();
    check("fo-stop", "stop")
}

#[test]
fn bfd_failover_when_a_vcpe_loses_its_link() -> Result<()> {
    require_root!();
    check("fo-link", "link")
}
