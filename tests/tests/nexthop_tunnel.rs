//! BGP next hops find their tunnel by the peer's inner address: routes
//! reflected by BIRD (`rr client`, next hop unchanged) with the
//! originating vCPE's tunnel address as next hop go straight into that
//! vCPE's tunnel, although the session to the reflector runs over
//! another tunnel, and with no per-peer static route anywhere.
//!
//! ```text
//!   vma 10.1.1.10 ─ a ════ GRE ════ c ─ vmc 10.3.1.10
//!                    ╲             ╱
//!                     ══ GRE ═ b ══        (full mesh over the underlay)
//!                              │
//!                         rr 10.2.1.10: BIRD, route reflector
//! ```
//!
//! a and c are iBGP clients of BIRD (AS 65000) over tunnel b (`peer =
//! "b"`, `local_address` = their own tunnel address, which is then the
//! next hop they announce: 10.255.0.N and, for IPv6, fd00:255::N). b runs
//! no BGP at all; it forwards the sessions. Before next hops were matched
//! against the peers' inner addresses, a sent every route of its session
//! into tunnel b (the session's tunnel), so a–c traffic went through b.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use vcpe_tests::{Lab, Netns, Vcped, require_root, wait_until};

/// vCPE `n` (1 = a, 2 = b, 3 = c): GRE tunnels to the other two; a and c
/// advertise their VPC and peer with the reflector through b.
fn config(n: u8) -> String {
    let mut c = format!(
        "[router]\nid = \"10.255.0.{n}\"\nasn = 65000\n\n[kernel]\nroute_sync = false\n\n\
         [[interface]]\nname = \"vcpe0\"\naddresses = [\"10.255.0.{n}/24\", \"fd00:255::{n}/64\"]\nmtu = 1400\n\n\
         [[route]]\nname = \"vpc\"\nprefix = \"10.{n}.1.0/24\"\ninterface = \"vcpe0\"\nadvertise = {adv}\n\n\
         [[route]]\nname = \"vpc-v6\"\nprefix = \"fd00:{n}:1::/64\"\ninterface = \"vcpe0\"\nadvertise = {adv}\n\n",
        adv = n != 2,
    );
    if n != 2 {
        c += &format!(
            "[bgp]\nlisten = \"0.0.0.0:179\"\n\n\
             [[bgp.neighbor]]\naddress = \"10.2.1.10\"\nremote_as = 65000\npeer = \"b\"\n\
             local_address = \"10.255.0.{n}\"\nhold_time = 9\n\n"
        );
    }
    for (m, name) in [(1u8, "a"), (2, "b"), (3, "c")] {
        if m == n {
            continue;
        }
        c += &format!(
            "[[peer]]\nname = \"{name}\"\nendpoint = \"100.64.0.{m}\"\nencapsulation = \"gre\"\n\
             gre_key = {key}\nallowed_prefixes = [\"10.255.0.{m}/32\", \"fd00:255::{m}/128\", \
             \"10.{m}.0.0/16\", \"fd00:{m}::/32\"]\nmtu = 1400\n\n",
            key = u32::from(n.min(m)) * 10 + u32::from(n.max(m)),
        );
    }
    c
}

/// BIRD as route reflector for a and c; their tunnel addresses resolve
/// through b (static routes), as BIRD needs for iBGP's recursive next
/// hops.
const BIRD: &str = "router id 10.2.1.10;\nlog stderr all;\n\
protocol device {}\nprotocol direct { ipv4; ipv6; }\n\
protocol static { ipv4; route 10.255.0.0/24 via 10.2.1.1; }\n\
protocol static { ipv6; route fd00:255::/64 via fd00:2:1::1; }\n\
template bgp rrc {\n  local 10.2.1.10 as 65000;\n  rr client;\n  hold time 9;\n\
  ipv4 { import all; export all; };\n  ipv6 { import all; export all; };\n}\n\
protocol bgp a from rrc { neighbor 10.255.0.1 as 65000; }\n\
protocol bgp c from rrc { neighbor 10.255.0.3 as 65000; }\n";

/// Fields drop in order: the daemons stop before the lab removes their
/// namespaces.
struct Topology {
    routers: Vec<(Netns, Vcped)>,
    bird: vcpe_tests::Daemon,
    vma: Netns,
    _vmc: Netns,
    _rr: Netns,
    _lab: Lab,
}

fn topology(tag: &str) -> Result<Topology> {
    let lab = Lab::new(tag)?;
    let inet = lab.netns("inet")?;
    let wan = lab.bridge(&inet, "br0")?;
    let mut nss = Vec::new();
    for (n, name) in [(1u8, "a"), (2, "b"), (3, "c")] {
        let ns = lab.netns(name)?;
        wan.plug(&format!("w{n}"), &ns, "wan0")?;
        ns.addr("wan0", &format!("100.64.0.{n}/24"))?;
        ns.enable_forwarding()?;
        nss.push(ns);
    }
    // The hosts behind each vCPE: a VM behind a and c, BIRD behind b.
    let mut hosts = Vec::new();
    for (i, (n, name)) in [(1u8, "vma"), (2, "rr"), (3, "vmc")]
        .into_iter()
        .enumerate()
    {
        let h = lab.netns(name)?;
        lab.veth(&nss[i], "eth1", &h, "eth0")?;
        nss[i].addr("eth1", &format!("10.{n}.1.1/24"))?;
        nss[i].addr("eth1", &format!("fd00:{n}:1::1/64"))?;
        h.addr("eth0", &format!("10.{n}.1.10/24"))?;
        h.addr("eth0", &format!("fd00:{n}:1::10/64"))?;
        h.route("default", &format!("10.{n}.1.1"))?;
        h.route("::/0", &format!("fd00:{n}:1::1"))?;
        hosts.push(h);
    }
    let vmc = hosts.pop().context("vmc")?;
    let rr = hosts.pop().context("rr")?;
    let vma = hosts.pop().context("vma")?;
    let conf = lab.dir().join("bird-rr.conf");
    std::fs::write(&conf, BIRD).context("writing bird.conf")?;
    let ctl = lab.dir().join("bird-rr.ctl");
    vcpe_tests::require_tool("bird", "apt-get install -y bird2");
    let bird = rr.spawn(
        "bird",
        [
            "bird".as_ref(),
            "-f".as_ref(),
            "-c".as_ref(),
            conf.as_os_str(),
            "-s".as_ref(),
            ctl.as_os_str(),
        ],
    )?;
    let mut routers = Vec::new();
    for (i, ns) in nss.into_iter().enumerate() {
        let n = i as u8 + 1;
        let v = Vcped::start(&ns, lab.dir(), &format!("v{n}"), &config(n))?;
        // The kernel hands the other VPCs (and the reflector) to vcped.
        ns.route_dev("10.0.0.0/8", "vcpe0")?;
        ns.ip(["-6", "route", "add", "fd00::/16", "dev", "vcpe0"])?;
        routers.push((ns, v));
    }
    Ok(Topology {
        routers,
        bird,
        vma,
        _vmc: vmc,
        _rr: rr,
        _lab: lab,
    })
}

/// The tunnel and gateway a's FIB sends `addr` into.
fn a_sends(t: &Topology, addr: &str) -> Option<(String, String)> {
    let e = t.routers[0].1.explain(addr).ok()?;
    let h = e.hops.first()?;
    Some((h.name.clone()?, h.gateway.clone()?))
}

/// a's tunnel `name`: inner packets sent.
fn tx(t: &Topology, name: &str) -> Result<u64> {
    let tunnels = t.routers[0].1.tunnels()?;
    let p = tunnels
        .iter()
        .find(|p| p.name == name)
        .with_context(|| format!("a has no tunnel {name}"))?;
    Ok(p.tx_packets)
}

fn ping(from: &Netns, addr: &str, count: u32) -> Result<()> {
    let c = count.to_string();
    let out = from.exec(["ping", "-n", "-q", "-c", &c, "-i", "0.02", "-W", "2", addr])?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(
        text.contains(&format!("{count} packets transmitted, {count} received")),
        "ping {addr} lost echoes:\n{text}"
    );
    Ok(())
}

#[test]
fn reflected_routes_go_into_the_originator_s_tunnel_not_the_session_s() -> Result<()> {
    require_root!();
    let t = topology("nh-rr")?;
    let a = &t.routers[0].1;
    let c = &t.routers[2].1;
    let want4 = Some(("c".to_owned(), "10.255.0.3".to_owned()));
    let want6 = Some(("c".to_owned(), "fd00:255::3".to_owned()));
    let ready = wait_until(Duration::from_secs(40), || {
        a_sends(&t, "10.3.1.10") == want4 && a_sends(&t, "fd00:3:1::10") == want6
    });
    ensure!(
        ready,
        "a did not learn c's VPC through the reflector with c's tunnel as next hop:\n{}\n{}\n{}\n{}\nb:\n{}\nBIRD:\n{}",
        a.ctl(&["bgp", "summary"]).unwrap_or_default(),
        a.ctl(&["explain", "10.3.1.10"]).unwrap_or_default(),
        a.ctl(&["explain", "fd00:3:1::10"]).unwrap_or_default(),
        a.daemon.log(),
        t.routers[1].1.ctl(&["tunnel", "list"]).unwrap_or_default(),
        t.bird.log()
    );
    // The route came from the reflector, over tunnel b.
    let rib = a.show_route(&["10.3.1.0/24"])?;
    let best = rib.best("10.3.1.0/24").context("no best route")?;
    ensure!(
        best.source == "10.2.1.10" && best.next_hop.as_deref() == Some("10.255.0.3"),
        "a's route to 10.3.1.0/24 is not the reflector's with c's next hop: {best:?}"
    );
    ensure!(
        wait_until(Duration::from_secs(20), || {
            c.explain("10.1.1.10")
                .ok()
                .and_then(|e| e.hops.first()?.name.clone())
                == Some("a".to_owned())
        }),
        "c does not send a's VPC into tunnel a:\n{}",
        c.ctl(&["explain", "10.1.1.10"]).unwrap_or_default()
    );
    let (b0, c0) = (tx(&t, "b")?, tx(&t, "c")?);
    ping(&t.vma, "10.3.1.10", 100)?;
    ping(&t.vma, "fd00:3:1::10", 100)?;
    let (b1, c1) = (tx(&t, "b")?, tx(&t, "c")?);
    ensure!(
        c1 - c0 >= 200,
        "a sent only {} packets into tunnel c for 200 echoes",
        c1 - c0
    );
    // Tunnel b carries only the BGP session meanwhile (keepalives, acks).
    ensure!(
        b1 - b0 < 50,
        "a sent {} packets into tunnel b while pinging c: the echoes took the reflector's tunnel",
        b1 - b0
    );
    Ok(())
}
