//! vcped's BGP speaker against real implementations: BIRD 2, GoBGP, FRR
//! bgpd and OpenBGPD on one LAN with vcped (AS 65010), each an eBGP
//! neighbor. Checked through each daemon's own CLI and `vcpectl`:
//! sessions establish, vcped's advertised static routes arrive with AS path
//! `65010` and next hop 10.99.0.10, each peer's prefixes (IPv4 and IPv6)
//! arrive at vcped with the right AS path, a withdrawal at either end
//! removes the route at the other, and a peer killed and restarted comes
//! back with its routes.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;

use anyhow::{Result, bail, ensure};
use vcpe_tests::peers::{
    BgpPeer, Bird, Frr, Gobgp, NeighborSpec, Openbgpd, PeerSpec, wait_established,
    wait_for_no_route, wait_for_route,
};
use vcpe_tests::{Lab, Netns, Vcped, names::ifname, require_root, wait_until};

const VCPE: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 10);
const VCPE_AS: u32 = 65010;

/// (namespace, host byte, AS, IPv4 prefix, IPv6 prefix)
const PEERS: [(&str, u8, u32, &str, &str); 4] = [
    ("bird", 1, 65001, "10.201.0.0/24", "fd00:201::/48"),
    ("gobgp", 2, 65002, "10.202.0.0/24", "fd00:202::/48"),
    ("frr", 3, 65003, "10.203.0.0/24", "fd00:203::/48"),
    ("obgp", 4, 65004, "10.204.0.0/24", "fd00:204::/48"),
];

fn lan(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 99, 0, i)
}

/// One path as `vcpectl show route` lists it: prefix, best, AS path, source.
type PathRow = (String, bool, Vec<u32>, String);

/// vcped as the BGP tests run it: one TUN, two advertised routes (v4 and
/// v6), one static route that is not advertised, `neighbors` appended.
fn start_vcped(ns: &Netns, dir: &Path, neighbors: &str) -> Result<Vcped> {
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
addresses = ["10.10.0.1/16", "fd00:10::1/48"]

[[route]]
name = "vxnet-a"
prefix = "10.10.0.0/16"
interface = "{tun}"
advertise = true

[[route]]
name = "vxnet-a6"
prefix = "fd00:10::/48"
interface = "{tun}"
advertise = true

[[route]]
name = "bgp-lan"
prefix = "10.99.0.0/24"
interface = "{tun}"

[[route]]
name = "not-advertised"
prefix = "10.11.0.0/16"
interface = "{tun}"
advertise = false

[bgp]
listen = "0.0.0.0:179"
{neighbors}"#,
        socket = socket.display()
    );
    Vcped::start(ns, dir, "vcped", &text)
}

/// The BGP tests' questions to vcped.
trait BgpView {
    fn routes(&self) -> Result<Vec<PathRow>>;
    fn wait_route(&self, prefix: &str, as_path: &[u32], present: bool) -> Result<()>;
}

impl BgpView for Vcped {
    /// (prefix, best, as_path, source) of every path vcped holds.
    fn routes(&self) -> Result<Vec<PathRow>> {
        let v = self.show_route(&[])?;
        Ok(v.routes
            .into_iter()
            .map(|r| (r.prefix, r.best, r.as_path, r.source))
            .collect())
    }

    fn wait_route(&self, prefix: &str, as_path: &[u32], present: bool) -> Result<()> {
        let ok = wait_until(Duration::from_secs(30), || {
            self.routes().is_ok_and(|rs| {
                rs.iter().any(|r| r.0 == prefix && r.1 && r.2 == as_path) == present
            })
        });
        if !ok {
            bail!(
                "vcped: route {prefix} with AS path {as_path:?} {} after 30 s; it has {:?}\n{}",
                if present { "missing" } else { "still present" },
                self.routes().unwrap_or_default(),
                self.ctl(&["bgp", "summary"]).unwrap_or_default()
            );
        }
        Ok(())
    }
}

fn peer_spec(i: u8, asn: u32, v4: &str, v6: &str, dir: &Path) -> PeerSpec {
    PeerSpec {
        asn,
        router_id: lan(i),
        hold_time: 9,
        neighbors: vec![NeighborSpec::new(IpAddr::V4(VCPE), VCPE_AS)],
        originate: vec![v4.to_owned(), v6.to_owned()],
        v6_next_hop: Some(format!("fd00:99::{i}")),
        dir: dir.to_owned(),
        graceful_restart: false,
    }
}

fn start_peer(name: &str, ns: &Netns, spec: &PeerSpec) -> Result<Box<dyn BgpPeer>> {
    Ok(match name {
        "bird" => Box::new(Bird::start(ns, spec)?),
        "gobgp" => Box::new(Gobgp::start(ns, spec)?),
        "frr" => Box::new(Frr::start(ns, spec)?),
        _ => Box::new(Openbgpd::start(ns, spec)?),
    })
}

#[test]
fn vcped_peers_with_bird_gobgp_frr_and_openbgpd() -> Result<()> {
    require_root!();
    let lab = Lab::new("bgpiop")?;
    let sw = lab.netns("sw")?;
    let br = lab.bridge(&sw, "br0")?;
    let vns = lab.netns("vcpe")?;
    br.plug("p-vcpe", &vns, "eth0")?;
    vns.addr("eth0", &format!("{VCPE}/24"))?;
    vns.addr("eth0", "fd00:99::10/64")?;
    let mut neighbors = String::new();
    let mut peer_ns = Vec::new();
    for (name, i, asn, _, _) in PEERS {
        let ns = lab.netns(name)?;
        br.plug(&format!("p-{name}"), &ns, "eth0")?;
        ns.addr("eth0", &format!("{}/24", lan(i)))?;
        ns.addr("eth0", &format!("fd00:99::{i}/64"))?;
        neighbors.push_str(&format!(
            "[[bgp.neighbor]]\naddress = \"{}\"\nremote_as = {asn}\nhold_time = 9\n\n",
            lan(i)
        ));
        peer_ns.push(ns);
    }
    let vcped = start_vcped(&vns, lab.dir(), &neighbors)?;
    let result = (|| -> Result<()> {
        let mut peers = Vec::new();
        for ((name, i, asn, v4, v6), ns) in PEERS.iter().zip(&peer_ns) {
            peers.push(start_peer(
                name,
                ns,
                &peer_spec(*i, *asn, v4, v6, lab.dir()),
            )?);
        }
        for p in &peers {
            wait_established(p.as_ref(), IpAddr::V4(VCPE), Duration::from_secs(40))?;
        }
        // Every peer learns vcped's advertised routes, and only those.
        for p in &peers {
            let r = wait_for_route(p.as_ref(), "10.10.0.0/16", Duration::from_secs(20))?;
            ensure!(
                r.as_path == vec![VCPE_AS] && r.next_hop == Some(IpAddr::V4(VCPE)),
                "{} learned 10.10.0.0/16 with {r:?}; expected AS path [{VCPE_AS}] via {VCPE}",
                p.kind()
            );
            ensure!(
                !p.routes()?.iter().any(|r| r.prefix == "10.11.0.0/16"),
                "{} learned 10.11.0.0/16, which has advertise = false",
                p.kind()
            );
        }
        // The IPv6 route reaches the peers that show IPv6 routes learned
        // over an IPv4 session (BIRD and GoBGP here).
        for p in peers
            .iter()
            .filter(|p| matches!(p.kind(), "bird" | "gobgp"))
        {
            let r = wait_for_route(p.as_ref(), "fd00:10::/48", Duration::from_secs(20))?;
            ensure!(r.as_path == vec![VCPE_AS], "{}: {r:?}", p.kind());
        }
        // vcped learns every peer's IPv4 and IPv6 prefixes.
        for (_, _, asn, v4, v6) in PEERS {
            vcped.wait_route(v4, &[asn], true)?;
            if asn != 65004 {
                vcped.wait_route(v6, &[asn], true)?;
            }
        }
        // And passes each on to the others (transit): BIRD sees FRR's
        // prefix through vcped with AS path 65010 65003, among others.
        let r = wait_for_route(peers[0].as_ref(), "10.203.0.0/24", Duration::from_secs(20))?;
        ensure!(r.as_path == vec![VCPE_AS, 65003], "bird: {r:?}");

        for n in vcped.bgp_summary()? {
            ensure!(n.state == "Established", "{n:?}");
            ensure!(n.accepted >= 1, "{n:?}");
        }

        // Withdraw at a peer: GoBGP deletes its prefix, vcped drops it.
        peer_ns[1].run_ok([
            "gobgp",
            "-u",
            "127.0.0.1",
            "-p",
            "50051",
            "global",
            "rib",
            "del",
            "10.202.0.0/24",
            "-a",
            "ipv4",
        ])?;
        vcped.wait_route("10.202.0.0/24", &[65002], false)?;
        wait_for_no_route(peers[0].as_ref(), "10.202.0.0/24", Duration::from_secs(20))?;

        // A peer killed and restarted: the session returns, routes relearned.
        drop(peers.remove(2));
        vcped.wait_route("10.203.0.0/24", &[65003], false)?;
        let (_, i, asn, v4, v6) = PEERS[2];
        let frr = start_peer("frr", &peer_ns[2], &peer_spec(i, asn, v4, v6, lab.dir()))?;
        wait_established(frr.as_ref(), IpAddr::V4(VCPE), Duration::from_secs(40))?;
        vcped.wait_route("10.203.0.0/24", &[65003], true)?;
        wait_for_route(frr.as_ref(), "10.10.0.0/16", Duration::from_secs(20))?;
        Ok(())
    })();
    if result.is_err() {
        vcped.daemon.print_log();
    }
    result
}

/// BIRD's side of [`vcped_and_bird`]: AS 65001 at 10.99.0.1, originating
/// 10.201.0.0/24 and fd00:201::/48.
fn bird_spec(lab: &Lab, password: Option<&str>) -> PeerSpec {
    let mut spec = peer_spec(1, 65001, "10.201.0.0/24", "fd00:201::/48", lab.dir());
    spec.neighbors[0].password = password.map(str::to_owned);
    spec.v6_next_hop = None;
    spec
}

/// One vcped and one BIRD (started from `spec`) on a veth pair; `extra`
/// goes into vcped's neighbor block.
fn vcped_and_bird(lab: &Lab, extra: &str, spec: &PeerSpec) -> Result<(Vcped, Bird, Netns)> {
    let vns = lab.netns("vcpe")?;
    let bns = lab.netns("bird")?;
    lab.veth(&vns, "eth0", &bns, "eth0")?;
    vns.addr("eth0", &format!("{VCPE}/24"))?;
    bns.addr("eth0", &format!("{}/24", lan(1)))?;
    let neighbors = format!(
        "[[bgp.neighbor]]\naddress = \"{}\"\nremote_as = 65001\nhold_time = 9\n{extra}\n",
        lan(1)
    );
    let vcped = start_vcped(&vns, lab.dir(), &neighbors)?;
    let bird = Bird::start(&bns, spec)?;
    Ok((vcped, bird, bns))
}

#[test]
fn tcp_md5_session_with_bird() -> Result<()> {
    require_root!();
    let lab = Lab::new("bgpmd5")?;
    let key = lab.dir().join("bird.md5");
    std::fs::write(&key, "s3cret-md5\n")?;
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    let extra = format!("password_file = \"{}\"", key.display());
    let (vcped, bird, _bns) = vcped_and_bird(&lab, &extra, &bird_spec(&lab, Some("s3cret-md5")))?;
    let r = (|| -> Result<()> {
        wait_established(&bird, IpAddr::V4(VCPE), Duration::from_secs(40))?;
        vcped.wait_route("10.201.0.0/24", &[65001], true)?;
        wait_for_route(&bird, "10.10.0.0/16", Duration::from_secs(20))?;
        // The segments really carry RFC 2385 signatures: the kernel drops
        // unsigned ones, so a wrong key on one side keeps the session down;
        // here the keys match and BIRD says so in its protocol details.
        let details = bird.birdc("show protocols all")?;
        ensure!(details.contains("Established"), "{details}");
        Ok(())
    })();
    if r.is_err() {
        vcped.daemon.print_log();
    }
    r
}

#[test]
fn tcp_md5_mismatch_keeps_the_session_down() -> Result<()> {
    require_root!();
    let lab = Lab::new("bgpmd5x")?;
    let key = lab.dir().join("bird.md5");
    std::fs::write(&key, "right-key\n")?;
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    let extra = format!("password_file = \"{}\"", key.display());
    let (vcped, bird, _bns) = vcped_and_bird(&lab, &extra, &bird_spec(&lab, Some("wrong-key")))?;
    std::thread::sleep(Duration::from_secs(6));
    ensure!(
        !bird.established(IpAddr::V4(VCPE))?,
        "BIRD established a session with a mismatched TCP-MD5 key"
    );
    let s = vcped.bgp_summary()?;
    ensure!(
        s.first().map(|n| n.state.as_str()) != Some("Established"),
        "{s:?}"
    );
    Ok(())
}

#[test]
fn a_frozen_peer_is_dropped_by_the_hold_timer_and_comes_back() -> Result<()> {
    require_root!();
    let lab = Lab::new("bgpstop")?;
    let (vcped, mut bird, _bns) = vcped_and_bird(&lab, "", &bird_spec(&lab, None))?;
    let r = (|| -> Result<()> {
        wait_established(&bird, IpAddr::V4(VCPE), Duration::from_secs(40))?;
        vcped.wait_route("10.201.0.0/24", &[65001], true)?;
        // The learned route is in the FIB: its next hop (BIRD, 10.99.0.1)
        // resolves through the static route "bgp-lan".
        let fib_routes = || -> Result<usize> { Ok(vcped.stats()?.fib_v4_routes) };
        let with_bgp = fib_routes()?;
        let pid = bird.daemon().pid();
        let kill = |sig: &str| {
            std::process::Command::new("kill")
                .args([sig, &pid.to_string()])
                .status()
        };
        kill("-STOP")?;
        // Hold time 9 s: the session must drop and the route go within
        // about that (vcped's wait allows 30 s).
        let t0 = std::time::Instant::now();
        let res = vcped.wait_route("10.201.0.0/24", &[65001], false);
        let took = t0.elapsed();
        kill("-CONT")?;
        res?;
        let without = fib_routes()?;
        ensure!(
            without + 1 == with_bgp,
            "FIB had {with_bgp} IPv4 routes with BIRD's route, {without} after it was withdrawn"
        );
        ensure!(
            took <= Duration::from_secs(15),
            "hold timer took {took:?} (hold time 9 s)"
        );
        let s = vcped.bgp_summary()?;
        let err = s
            .first()
            .and_then(|n| n.last_error.clone())
            .unwrap_or_default();
        ensure!(err.contains("hold timer"), "last_error: {err:?}");
        // Thawed, BIRD reconnects and the route is relearned.
        vcped.wait_route("10.201.0.0/24", &[65001], true)?;
        Ok(())
    })();
    if r.is_err() {
        vcped.daemon.print_log();
    }
    r
}

#[test]
fn graceful_restart_keeps_a_restarting_peer_s_routes_in_the_fib() -> Result<()> {
    require_root!();
    let lab = Lab::new("bgpgr")?;
    let mut spec = bird_spec(&lab, None);
    spec.graceful_restart = true;
    let (vcped, mut bird, bns) = vcped_and_bird(&lab, "", &spec)?;
    let r = (|| -> Result<()> {
        wait_established(&bird, IpAddr::V4(VCPE), Duration::from_secs(40))?;
        vcped.wait_route("10.201.0.0/24", &[65001], true)?;
        let fib_routes = || -> Result<usize> { Ok(vcped.stats()?.fib_v4_routes) };
        let stale = || -> Result<Option<bool>> {
            let v = vcped.show_route(&["10.201.0.0/24"])?;
            Ok(v.routes.iter().find(|r| r.best).map(|r| r.stale))
        };
        let with_bird = fib_routes()?;
        ensure!(stale()? == Some(false), "fresh route marked stale");
        // BIRD dies without a NOTIFICATION (its restart time is 60 s): the
        // kernel closes the TCP connection; vcped, as RFC 4724 helper,
        // keeps the route as stale and keeps forwarding on it.
        std::process::Command::new("kill")
            .args(["-KILL", &bird.daemon().pid().to_string()])
            .status()?;
        let down = wait_until(Duration::from_secs(20), || {
            vcped
                .bgp_summary()
                .is_ok_and(|s| s.first().map(|n| n.state.as_str()) != Some("Established"))
        });
        ensure!(down, "vcped did not notice BIRD's connection closing");
        std::thread::sleep(Duration::from_secs(2));
        ensure!(
            stale()? == Some(true),
            "the restarting peer's route is gone or not stale: {:?}",
            vcped.routes()?
        );
        ensure!(fib_routes()? == with_bird, "the stale route left the FIB");
        // BIRD comes back, re-sends its table and End-of-RIB: the route is
        // fresh again.
        drop(bird);
        let bird = Bird::start(&bns, &spec)?;
        wait_established(&bird, IpAddr::V4(VCPE), Duration::from_secs(40))?;
        let fresh = wait_until(Duration::from_secs(20), || {
            stale().is_ok_and(|s| s == Some(false))
        });
        ensure!(
            fresh,
            "route still stale after BIRD's End-of-RIB: {:?}",
            vcped.routes()?
        );
        ensure!(fib_routes()? == with_bird, "FIB changed across the restart");
        Ok(())
    })();
    if r.is_err() {
        vcped.daemon.print_log();
    }
    r
}
