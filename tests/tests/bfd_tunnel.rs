//! BFD through a tunnel, without BGP: two vcpeds joined by a GRE tunnel,
//! each `[[peer]]` with `bfd = true` and the other's TUN address as
//! `bfd_address` (RFC 5883 multihop, carried inside the tunnel). While
//! the session is down, the static route into the peer leaves the FIB;
//! the host route to the BFD address stays, so the session comes back
//! when the other vCPE does, and the static route with it.
//!
//! ```text
//!  vpc01: vcpe0 10.255.0.1 ── GRE over 100.64.0.1 ⇄ 100.64.0.2 ── vpc02: vcpe0 10.255.0.2
//!         route 10.2.0.0/16 → peer vpc02             route 10.1.0.0/16 → peer vpc01
//! ```

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use vcpe_tests::{Lab, Netns, Vcped, require_root, wait_until};

fn config(n: u8, m: u8) -> String {
    format!(
        r#"[router]
id = "10.255.0.{n}"
asn = 6500{n}

[kernel]
route_sync = false

[[interface]]
name = "vcpe0"
addresses = ["10.255.0.{n}/24"]
mtu = 1400

[[route]]
name = "to-vpc0{m}"
prefix = "10.{m}.0.0/16"
peer = "vpc0{m}"

[[peer]]
name = "vpc0{m}"
endpoint = "100.64.0.{m}"
encapsulation = "gre"
gre_key = 12
allowed_prefixes = ["10.255.0.{m}/32", "10.{m}.0.0/16"]
bfd = true
bfd_address = "10.255.0.{m}"
"#
    )
}

fn routed(v: &Vcped, m: u8) -> bool {
    v.explain(&format!("10.{m}.0.1"))
        .is_ok_and(|e| e.prefix == format!("10.{m}.0.0/16"))
}

fn bfd_up(v: &Vcped) -> bool {
    v.bfd_sessions()
        .is_ok_and(|s| s.first().is_some_and(|s| s.state == "Up"))
}

fn all_up(a: &Vcped, b: &Vcped) -> Result<()> {
    let ok = wait_until(Duration::from_secs(20), || {
        bfd_up(a) && bfd_up(b) && routed(a, 2) && routed(b, 1)
    });
    if !ok {
        bail!(
            "not up: a {}\n{}\nb {}",
            a.ctl(&["bfd"]).unwrap_or_default(),
            a.ctl(&["stats"]).unwrap_or_default(),
            b.ctl(&["bfd"]).unwrap_or_default()
        );
    }
    Ok(())
}

/// Applies `fault`, measures until a's static route into vpc02 leaves
/// its FIB, `heal`s, waits for it to come back.
fn fault(
    a: &Vcped,
    b: &Vcped,
    what: &str,
    fault: &dyn Fn() -> Result<()>,
    heal: &dyn Fn() -> Result<()>,
) -> Result<Duration> {
    all_up(a, b)?;
    let t0 = Instant::now();
    fault()?;
    let gone = wait_until(Duration::from_secs(5), || !routed(a, 2));
    let took = t0.elapsed();
    let session = a.bfd_sessions();
    heal()?;
    ensure!(
        gone,
        "{what}: the static route into vpc02 stayed in a's FIB"
    );
    ensure!(took < Duration::from_millis(1500), "{what}: took {took:?}");
    let s = session?.into_iter().next().context("no session")?;
    ensure!(
        s.clients == ["peer vpc02"] && s.path == "multihop",
        "{what}: {s:?}"
    );
    ensure!(
        s.last_down.as_ref().map(|d| d.reason.as_str()) == Some("detection_time_expired"),
        "{what}: {s:?}"
    );
    all_up(a, b)?;
    Ok(took)
}

fn sig(pid: u32, s: &str) -> Result<()> {
    let st = std::process::Command::new("kill")
        .args([s, &pid.to_string()])
        .status()?;
    ensure!(st.success(), "kill {s} {pid}");
    Ok(())
}

fn link(ns: &Netns, state: &str) -> Result<()> {
    ns.ip(["link", "set", "wan0", state])?;
    Ok(())
}

#[test]
fn bfd_through_a_gre_tunnel_withdraws_the_static_routes_of_a_dead_peer() -> Result<()> {
    require_root!();
    let lab = Lab::new("bfdtun")?;
    let na = lab.netns("vpc01")?;
    let nb = lab.netns("vpc02")?;
    lab.veth(&na, "wan0", &nb, "wan0")?;
    na.addr("wan0", "100.64.0.1/24")?;
    nb.addr("wan0", "100.64.0.2/24")?;
    for ns in [&na, &nb] {
        for key in ["all", "default"] {
            ns.sysctl(&format!("net.ipv4.conf.{key}.rp_filter"), "0")?;
        }
    }
    let a = Vcped::start(&na, lab.dir(), "vcped-vpc01", &config(1, 2))?;
    let b = Vcped::start(&nb, lab.dir(), "vcped-vpc02", &config(2, 1))?;
    let pid = b.daemon.pid();
    let r = (|| -> Result<()> {
        all_up(&a, &b)?;
        let frozen = fault(&a, &b, "SIGSTOP", &|| sig(pid, "-STOP"), &|| {
            sig(pid, "-CONT")
        })?;
        let cut = fault(&a, &b, "link down", &|| link(&nb, "down"), &|| {
            link(&nb, "up")
        })?;
        eprintln!(
            "tunnel: static route withdrawn {frozen:?} after SIGSTOP, {cut:?} after link down"
        );
        Ok(())
    })();
    if r.is_err() {
        let _ = sig(pid, "-CONT");
        a.daemon.print_log();
        b.daemon.print_log();
    }
    r
}
