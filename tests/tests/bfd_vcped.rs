//! BFD between two vcpeds: over IPv6 single hop (RFC 5881, hop limit
//! 255) and over IPv4 multihop (RFC 5883, port 4784). A frozen vcped is
//! detected by the other within multiplier × interval and its route
//! leaves the FIB; a vcped that stops cleanly says AdminDown, which the
//! other does not take for a failure (RFC 5882 §3.2): its BGP session ends
//! with the Cease NOTIFICATION of the shutdown, not with BFD Down.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use vcpe_tests::{Lab, Netns, Vcped, names::ifname, require_root, wait_until};

/// One side: router id, AS, address on the link, the prefix it
/// advertises (and an address inside it).
struct Side {
    id: &'static str,
    asn: u32,
    addr: &'static str,
    prefix: &'static str,
    inside: &'static str,
}

const A4: Side = Side {
    id: "10.0.0.1",
    asn: 65001,
    addr: "10.98.0.1",
    prefix: "10.1.0.0/16",
    inside: "10.1.0.1",
};
const B4: Side = Side {
    id: "10.0.0.2",
    asn: 65002,
    addr: "10.98.0.2",
    prefix: "10.2.0.0/16",
    inside: "10.2.0.1",
};
const A6: Side = Side {
    addr: "fd00:98::1",
    prefix: "fd00:1::/48",
    inside: "fd00:1::1",
    ..A4
};
const B6: Side = Side {
    addr: "fd00:98::2",
    prefix: "fd00:2::/48",
    inside: "fd00:2::1",
    ..B4
};

fn start(
    ns: &Netns,
    dir: &Path,
    me: &Side,
    peer: &Side,
    lan: &str,
    multihop: bool,
) -> Result<Vcped> {
    let dir = dir.join(me.id);
    std::fs::create_dir_all(&dir)?;
    let socket = dir.join("vcped.sock");
    let tun = ifname();
    let listen = if me.addr.contains(':') {
        "[::]:179"
    } else {
        "0.0.0.0:179"
    };
    let text = format!(
        r#"[router]
id = "{id}"
asn = {asn}

[control]
socket = "{socket}"

[kernel]
route_sync = false

[[interface]]
name = "{tun}"
addresses = []

[[route]]
name = "vxnet"
prefix = "{prefix}"
interface = "{tun}"
advertise = true

[[route]]
name = "lan"
prefix = "{lan}"
interface = "{tun}"

[bgp]
listen = "{listen}"

[[bgp.neighbor]]
address = "{peer_addr}"
remote_as = {peer_as}
hold_time = 9
bfd = true
bfd_multihop = {multihop}
bfd_interval_ms = 300
"#,
        id = me.id,
        asn = me.asn,
        socket = socket.display(),
        prefix = me.prefix,
        peer_addr = peer.addr,
        peer_as = peer.asn,
    );
    Vcped::start(ns, &dir, "vcped", &text)
}

fn learned(v: &Vcped, peer: &Side) -> bool {
    v.explain(peer.inside)
        .is_ok_and(|e| e.prefix == peer.prefix)
}

fn bfd_up(v: &Vcped) -> bool {
    v.bfd_sessions()
        .is_ok_and(|s| s.first().is_some_and(|s| s.state == "Up"))
}

fn both_up(a: &Vcped, b: &Vcped, sa: &Side, sb: &Side) -> Result<()> {
    let ok = wait_until(Duration::from_secs(40), || {
        bfd_up(a) && bfd_up(b) && learned(a, sb) && learned(b, sa)
    });
    if !ok {
        bail!(
            "not up after 40 s: a {:?} / {}\nb {:?} / {}",
            a.bfd_sessions(),
            a.ctl(&["bgp", "summary"]).unwrap_or_default(),
            b.bfd_sessions(),
            b.ctl(&["bgp", "summary"]).unwrap_or_default()
        );
    }
    Ok(())
}

fn sig(pid: u32, s: &str) -> Result<()> {
    let st = std::process::Command::new("kill")
        .args([s, &pid.to_string()])
        .status()?;
    ensure!(st.success(), "kill {s} {pid}");
    Ok(())
}

fn run(tag: &str, sa: &Side, sb: &Side, lan: &str, multihop: bool) -> Result<()> {
    let lab = Lab::new(tag)?;
    let na = lab.netns("a")?;
    let nb = lab.netns("b")?;
    lab.veth(&na, "eth0", &nb, "eth0")?;
    let plen = if lan.contains(':') { 64 } else { 24 };
    na.addr("eth0", &format!("{}/{plen}", sa.addr))?;
    nb.addr("eth0", &format!("{}/{plen}", sb.addr))?;
    let a = start(&na, lab.dir(), sa, sb, lan, multihop)?;
    let mut b = start(&nb, lab.dir(), sb, sa, lan, multihop)?;
    let r = (|| -> Result<()> {
        both_up(&a, &b, sa, sb)?;
        let s = a.bfd_sessions()?.remove(0);
        let path = if multihop { "multihop" } else { "single-hop" };
        ensure!(s.path == path && s.detection_time_ms == 900, "{s:?}");

        // b freezes: a notices within the detection time.
        let pid = b.daemon.pid();
        let t0 = Instant::now();
        sig(pid, "-STOP")?;
        let gone = wait_until(Duration::from_secs(5), || !learned(&a, sb));
        let took = t0.elapsed();
        // Read before b thaws: once it does, the session comes back at once.
        let n = a.neighbor(sb.addr);
        sig(pid, "-CONT")?;
        ensure!(gone, "a kept b's route with b frozen");
        ensure!(took < Duration::from_millis(1500), "took {took:?}");
        let n = n?;
        ensure!(n.last_down_cause.as_deref() == Some("bfd_down"), "{n:?}");
        both_up(&a, &b, sa, sb)?;

        // b stops cleanly: AdminDown, no failure.
        b.daemon.stop();
        let down = wait_until(Duration::from_secs(10), || !learned(&a, sb));
        ensure!(down, "b's route stayed after b stopped");
        let s = a.bfd_sessions()?.remove(0);
        ensure!(
            s.last_down.as_ref().map(|d| d.reason.as_str()) == Some("neighbor_admin_down"),
            "{s:?}"
        );
        let n = a.neighbor(sb.addr)?;
        ensure!(
            n.last_down_cause.as_deref() == Some("session"),
            "a clean stop is no BFD failure: {n:?}"
        );
        let err = n.last_error.unwrap_or_default();
        ensure!(err.contains("Cease"), "{err}");
        Ok(())
    })();
    if r.is_err() {
        a.daemon.print_log();
        b.daemon.print_log();
    }
    r.context(format!("{tag}: {} <-> {}", sa.addr, sb.addr))
}

#[test]
fn bfd_between_two_vcpeds_over_ipv6_single_hop() -> Result<()> {
    require_root!();
    run("bfd6", &A6, &B6, "fd00:98::/64", false)
}

#[test]
fn bfd_between_two_vcpeds_over_ipv4_multihop() -> Result<()> {
    require_root!();
    run("bfdmh", &A4, &B4, "10.98.0.0/24", true)
}

#[test]
fn a_reload_retunes_bfd_without_resetting_the_bgp_session() -> Result<()> {
    require_root!();
    let lab = Lab::new("bfdrl")?;
    let na = lab.netns("a")?;
    let nb = lab.netns("b")?;
    lab.veth(&na, "eth0", &nb, "eth0")?;
    na.addr("eth0", &format!("{}/24", A4.addr))?;
    nb.addr("eth0", &format!("{}/24", B4.addr))?;
    let lan = "10.98.0.0/24";
    let a = start(&na, lab.dir(), &A4, &B4, lan, false)?;
    let b = start(&nb, lab.dir(), &B4, &A4, lan, false)?;
    let r = (|| -> Result<()> {
        both_up(&a, &b, &A4, &B4)?;
        let flaps = a.neighbor(B4.addr)?.counters.established_transitions;
        let text = std::fs::read_to_string(&a.config)?;
        std::fs::write(
            &a.config,
            text.replace(
                "bfd_interval_ms = 300",
                "bfd_interval_ms = 500\nbfd_multiplier = 4",
            ),
        )?;
        a.ctl(&["reload"])?;
        // The Poll Sequence runs: a sends every 500 ms, b detects a after
        // 4 × 500 ms; b's 300 ms stays what a expects from b.
        let tuned = wait_until(Duration::from_secs(10), || {
            let sa = a.bfd_sessions().ok().and_then(|s| s.into_iter().next());
            let sb = b.bfd_sessions().ok().and_then(|s| s.into_iter().next());
            matches!((sa, sb), (Some(sa), Some(sb))
                if sa.state == "Up" && sa.tx_interval_ms == 500 && sa.multiplier == 4
                    && sb.detection_time_ms == 2000 && sb.state == "Up")
        });
        ensure!(
            tuned,
            "not retuned: a {:?}\nb {:?}",
            a.bfd_sessions()?,
            b.bfd_sessions()?
        );
        let n = a.neighbor(B4.addr)?;
        ensure!(
            n.established && n.counters.established_transitions == flaps,
            "the BGP session was reset by a BFD-only change: {n:?}"
        );
        ensure!(
            n.bfd.is_some_and(|s| s.tx_interval_ms == 500),
            "bgp neighbor shows the new BFD"
        );
        // Removing BFD ends the session; BGP stays up.
        let text = std::fs::read_to_string(&a.config)?;
        std::fs::write(
            &a.config,
            text.replace("bfd = true", "bfd = false")
                .replace("bfd_multihop = false\n", "")
                .replace("bfd_interval_ms = 500\nbfd_multiplier = 4\n", ""),
        )?;
        a.ctl(&["reload"])?;
        let gone = wait_until(Duration::from_secs(5), || {
            a.bfd_sessions().is_ok_and(|s| s.is_empty())
        });
        ensure!(gone, "{:?}", a.bfd_sessions()?);
        std::thread::sleep(Duration::from_secs(2));
        ensure!(
            learned(&a, &B4) && learned(&b, &A4),
            "routes lost after BFD was removed: b {}",
            b.ctl(&["bfd"])?
        );
        Ok(())
    })();
    if r.is_err() {
        a.daemon.print_log();
        b.daemon.print_log();
    }
    r
}
