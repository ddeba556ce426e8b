//! BFD (RFC 5880/5881) between vcped and real implementations over a
//! veth pair: BIRD 2 (`protocol bfd`, `bfd on`) and FRR (bfdd with
//! `neighbor X bfd`). Sessions come Up on both sides; a peer frozen with
//! SIGSTOP, or its link taken down, is detected within multiplier ×
//! interval: vcped tears the BGP session down (Cease / BFD Down) and the
//! learned route leaves its FIB, measured from the fault; the session and
//! the route come back when the peer does.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use vcpe_tests::peers::{BgpPeer, Bird, Frr, PeerSpec, wait_established};
use vcpe_tests::{Lab, Netns, Vcped, names::ifname, require_root, wait_until};

const VCPE: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 10);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
const VCPE_AS: u32 = 65010;
const PEER_AS: u32 = 65001;
const LEARNED: &str = "10.201.0.0/24";
/// 300 ms × 3: detection in 900 ms.
const INTERVAL_MS: u32 = 300;
const MULT: u8 = 3;
/// multiplier × interval plus scheduling slack (the brief's bound).
const BOUND: Duration = Duration::from_millis(1500);

fn start_vcped(ns: &Netns, dir: &Path) -> Result<Vcped> {
    start_vcped_with(ns, dir, "")
}

/// vcped with `extra` appended to its neighbor block.
fn start_vcped_with(ns: &Netns, dir: &Path, extra: &str) -> Result<Vcped> {
    let socket = dir.join("vcped.sock");
    let tun = ifname();
    let text = format!(
        r#"[router]
id = "{VCPE}"
asn = {VCPE_AS}

[control]
socket = "{socket}"

[kernel]
route_sync = false

[[interface]]
name = "{tun}"
addresses = ["10.10.0.1/16"]

[[route]]
name = "vxnet-a"
prefix = "10.10.0.0/16"
interface = "{tun}"
advertise = true

[[route]]
name = "bgp-lan"
prefix = "10.99.0.0/24"
interface = "{tun}"

[bgp]
listen = "0.0.0.0:179"

[[bgp.neighbor]]
address = "{PEER}"
remote_as = {PEER_AS}
hold_time = 9
bfd = true
bfd_interval_ms = {INTERVAL_MS}
bfd_multiplier = {MULT}
{extra}
"#,
        socket = socket.display()
    );
    Vcped::start(ns, dir, "vcped", &text)
}

fn peer_spec(dir: &Path) -> PeerSpec {
    let mut spec =
        PeerSpec::one_neighbor(PEER_AS, PEER, IpAddr::V4(VCPE), VCPE_AS, &[LEARNED], dir);
    spec.neighbors[0].bfd = Some((INTERVAL_MS, MULT));
    spec
}

/// vcped's BFD session state ("Up", "Down", ...).
fn vcped_bfd_state(v: &Vcped) -> String {
    v.bfd_sessions()
        .ok()
        .and_then(|s| s.into_iter().next())
        .map(|s| s.state)
        .unwrap_or_default()
}

/// Whether vcped's FIB forwards `LEARNED` on BGP's route (and not on the
/// covering static "bgp-lan" or nothing).
fn fib_has_learned(v: &Vcped) -> bool {
    v.explain("10.201.0.1").is_ok_and(|e| e.prefix == LEARNED)
}

/// Up on both sides, BGP Established, the route in vcped's FIB.
fn wait_all_up(v: &Vcped, peer_bfd_up: &dyn Fn() -> bool, peer: &dyn BgpPeer) -> Result<()> {
    wait_established(peer, IpAddr::V4(VCPE), Duration::from_secs(40))?;
    let up = wait_until(Duration::from_secs(30), || {
        vcped_bfd_state(v) == "Up" && peer_bfd_up() && fib_has_learned(v)
    });
    if !up {
        bail!(
            "not all up after 30 s: vcped BFD {:?}, peer BFD up {}, FIB has {LEARNED}: {}\n{}",
            v.bfd_sessions()?,
            peer_bfd_up(),
            fib_has_learned(v),
            v.ctl(&["bgp", "summary"])?
        );
    }
    Ok(())
}

/// Applies `fault`, measures until vcped's FIB loses the learned route,
/// checks the cause, then `heal`s and waits for everything to come back.
fn fault_and_recover(
    v: &Vcped,
    peer_bfd_up: &dyn Fn() -> bool,
    peer: &dyn BgpPeer,
    what: &str,
    fault: &dyn Fn() -> Result<()>,
    heal: &dyn Fn() -> Result<()>,
) -> Result<Duration> {
    wait_all_up(v, peer_bfd_up, peer)?;
    let t0 = Instant::now();
    fault()?;
    let mut gone = None;
    while t0.elapsed() < Duration::from_secs(10) {
        if !fib_has_learned(v) {
            gone = Some(t0.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let state_after = (v.bfd_sessions(), v.neighbor(&PEER.to_string()));
    heal()?;
    let took = gone.with_context(|| format!("{what}: the route never left vcped's FIB"))?;
    let (sessions, neighbor) = state_after;
    let s = sessions?.into_iter().next().context("no BFD session")?;
    let n = neighbor?;
    ensure!(
        s.last_down.as_ref().map(|d| d.reason.as_str()) == Some("detection_time_expired"),
        "{what}: BFD last down {:?}",
        s.last_down
    );
    ensure!(
        n.last_down_cause.as_deref() == Some("bfd_down"),
        "{what}: BGP last down cause {:?} ({:?})",
        n.last_down_cause,
        n.last_error
    );
    ensure!(
        n.last_notification
            .as_deref()
            .is_some_and(|t| t.contains("6/10"))
            || n.last_error.as_deref().is_some_and(|e| e.contains("6/10")),
        "{what}: no Cease / BFD Down: {:?} / {:?}",
        n.last_notification,
        n.last_error
    );
    ensure!(
        took < BOUND,
        "{what}: the route left the FIB {took:?} after the fault (bound {BOUND:?})"
    );
    // Back: BFD Up on both sides, BGP Established, the route relearned.
    wait_all_up(v, peer_bfd_up, peer)?;
    Ok(took)
}

fn sig(pid: u32, s: &str) -> Result<()> {
    let st = std::process::Command::new("kill")
        .args([s, &pid.to_string()])
        .status()?;
    ensure!(st.success(), "kill {s} {pid} failed");
    Ok(())
}

fn link(ns: &Netns, state: &str) -> Result<()> {
    ns.ip(["link", "set", "eth0", state])?;
    Ok(())
}

#[test]
fn bfd_with_bird_detects_a_frozen_peer_and_a_dead_link() -> Result<()> {
    require_root!();
    let lab = Lab::new("bfdbird")?;
    let vns = lab.netns("vcpe")?;
    let bns = lab.netns("bird")?;
    lab.veth(&vns, "eth0", &bns, "eth0")?;
    vns.addr("eth0", &format!("{VCPE}/24"))?;
    bns.addr("eth0", &format!("{PEER}/24"))?;
    let vcped = start_vcped(&vns, lab.dir())?;
    let mut bird = Bird::start(&bns, &peer_spec(lab.dir()))?;
    let pid = bird.daemon().pid();
    let r = (|| -> Result<()> {
        let bird_up = || {
            bird.birdc("show bfd sessions").is_ok_and(|s| {
                s.lines()
                    .any(|l| l.starts_with(&VCPE.to_string()) && l.contains(" Up "))
            })
        };
        wait_all_up(&vcped, &bird_up, &bird)?;
        // Both sides agree on 300 ms × 3.
        let s = vcped.bfd_sessions()?.remove(0);
        ensure!(
            (s.tx_interval_ms, s.rx_interval_ms, s.detection_time_ms) == (300, 300, 900),
            "{s:?}"
        );
        ensure!(s.remote_state == "Up" && s.path == "single-hop", "{s:?}");
        let bird_view = bird.birdc("show bfd sessions")?;
        ensure!(bird_view.contains("0.300"), "BIRD's interval: {bird_view}");

        let frozen = fault_and_recover(
            &vcped,
            &bird_up,
            &bird,
            "SIGSTOP",
            &|| sig(pid, "-STOP"),
            &|| sig(pid, "-CONT"),
        )?;
        let link_down = fault_and_recover(
            &vcped,
            &bird_up,
            &bird,
            "link down",
            &|| link(&bns, "down"),
            &|| link(&bns, "up"),
        )?;
        eprintln!("BIRD: route withdrawn {frozen:?} after SIGSTOP, {link_down:?} after link down");
        let s = vcped.bfd_sessions()?.remove(0);
        ensure!(s.up_transitions >= 3, "{s:?}");
        Ok(())
    })();
    if r.is_err() {
        let _ = sig(pid, "-CONT");
        vcped.daemon.print_log();
        eprintln!("{}", bird.log());
    }
    r
}

/// FRR's bfdd view of its session to vcped: (status, transmit, receive
/// interval) from `show bfd peers json`.
fn frr_bfd_peer(frr: &Frr) -> Option<(String, u64, u64)> {
    let text = frr.vtysh("show bfd peers json").ok()?;
    let v: serde_json::Value = serde_json::from_str(text.trim()).ok()?;
    let p = v
        .as_array()?
        .iter()
        .find(|p| p.get("peer").and_then(|x| x.as_str()) == Some(&VCPE.to_string()))?;
    Some((
        p.get("status")?.as_str()?.to_owned(),
        p.get("transmit-interval")?.as_u64()?,
        p.get("receive-interval")?.as_u64()?,
    ))
}

#[test]
fn bfd_with_frr_bfdd_detects_a_frozen_peer_and_a_dead_link() -> Result<()> {
    require_root!();
    let lab = Lab::new("bfdfrr")?;
    let vns = lab.netns("vcpe")?;
    let fns = lab.netns("frr")?;
    lab.veth(&vns, "eth0", &fns, "eth0")?;
    vns.addr("eth0", &format!("{VCPE}/24"))?;
    fns.addr("eth0", &format!("{PEER}/24"))?;
    fns.link_up("lo")?;
    let vcped = start_vcped(&vns, lab.dir())?;
    let frr = Frr::start(&fns, &peer_spec(lab.dir()))?;
    let pids = frr.pids();
    let signal_all = |s: &str| -> Result<()> {
        for p in &pids {
            sig(*p, s)?;
        }
        Ok(())
    };
    let r = (|| -> Result<()> {
        let frr_up = || frr_bfd_peer(&frr).is_some_and(|(s, _, _)| s == "up");
        wait_all_up(&vcped, &frr_up, &frr)?;
        let (_, tx, rx) = frr_bfd_peer(&frr).context("FRR lists no BFD peer")?;
        ensure!((tx, rx) == (300, 300), "FRR's intervals: {tx} / {rx}");
        let s = vcped.bfd_sessions()?.remove(0);
        ensure!(s.detection_time_ms == 900, "{s:?}");
        let frozen = fault_and_recover(
            &vcped,
            &frr_up,
            &frr,
            "SIGSTOP",
            &|| signal_all("-STOP"),
            &|| signal_all("-CONT"),
        )?;
        let link_down = fault_and_recover(
            &vcped,
            &frr_up,
            &frr,
            "link down",
            &|| link(&fns, "down"),
            &|| link(&fns, "up"),
        )?;
        eprintln!("FRR: route withdrawn {frozen:?} after SIGSTOP, {link_down:?} after link down");
        Ok(())
    })();
    if r.is_err() {
        let _ = signal_all("-CONT");
        vcped.daemon.print_log();
        eprintln!("{}\n{}", frr.log(), frr.helper_logs());
        eprintln!("{:?}", frr.vtysh("show bfd peers"));
    }
    r
}

/// vcped and BIRD with BFD Keyed SHA1: BIRD uses `bird_key`, vcped the
/// key in its file.
fn sha1_pair(tag: &str, bird_key: &str) -> Result<(Lab, Vcped, Bird)> {
    let lab = Lab::new(tag)?;
    let vns = lab.netns("vcpe")?;
    let bns = lab.netns("bird")?;
    lab.veth(&vns, "eth0", &bns, "eth0")?;
    vns.addr("eth0", &format!("{VCPE}/24"))?;
    bns.addr("eth0", &format!("{PEER}/24"))?;
    let key = lab.dir().join("bfd.key");
    std::fs::write(&key, "bfd-s3cret\n")?;
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    let vcped = start_vcped_with(
        &vns,
        lab.dir(),
        &format!("bfd_key_file = \"{}\"\nbfd_key_id = 1", key.display()),
    )?;
    let mut spec = peer_spec(lab.dir());
    spec.neighbors[0].bfd_sha1 = Some(bird_key.to_owned());
    let bird = Bird::start(&bns, &spec)?;
    Ok((lab, vcped, bird))
}

fn bird_bfd_up(bird: &Bird) -> bool {
    bird.birdc("show bfd sessions").is_ok_and(|s| {
        s.lines()
            .any(|l| l.starts_with(&VCPE.to_string()) && l.contains(" Up "))
    })
}

#[test]
fn bfd_keyed_sha1_with_bird() -> Result<()> {
    require_root!();
    let (_lab, vcped, bird) = sha1_pair("bfdsha", "bfd-s3cret")?;
    let r = (|| -> Result<()> {
        wait_all_up(&vcped, &|| bird_bfd_up(&bird), &bird)?;
        let reply = vcped.reply(&["bfd"])?;
        let vcpe_api::Reply::BfdSessions { drops, .. } = reply else {
            bail!("vcpectl bfd: {reply:?}");
        };
        ensure!(
            !drops.keys().any(|k| k.starts_with("auth")),
            "authentication drops with the right key: {drops:?}"
        );
        Ok(())
    })();
    if r.is_err() {
        vcped.daemon.print_log();
        eprintln!("{}", bird.log());
    }
    r
}

#[test]
fn bfd_keyed_sha1_with_a_wrong_key_stays_down() -> Result<()> {
    require_root!();
    let (_lab, vcped, bird) = sha1_pair("bfdshax", "not-the-key")?;
    let r = (|| -> Result<()> {
        // BGP comes up (BFD does not gate it), BFD does not.
        wait_established(&bird, IpAddr::V4(VCPE), Duration::from_secs(40))?;
        let dropped = wait_until(Duration::from_secs(10), || {
            matches!(vcped.reply(&["bfd"]),
                Ok(vcpe_api::Reply::BfdSessions { drops, .. })
                    if drops.get("auth_digest").is_some_and(|n| *n >= 2))
        });
        ensure!(dropped, "no auth_digest drops: {}", vcped.ctl(&["bfd"])?);
        ensure!(vcped_bfd_state(&vcped) != "Up" && !bird_bfd_up(&bird));
        Ok(())
    })();
    if r.is_err() {
        vcped.daemon.print_log();
        eprintln!("{}", bird.log());
    }
    r
}
