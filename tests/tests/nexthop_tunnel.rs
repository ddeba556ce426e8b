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
//!
//! Second case, over a routed underlay: BIRD sits one router away from
//! the vCPEs (no shared subnet, no tunnel), a and c have router ids that
//! are no tunnel address. They announce the kernel's source address
//! towards BIRD (their underlay address, which the other maps to its
//! tunnel by endpoint) for IPv4, their tunnel address for IPv6; before,
//! the IPv4 next hop was the router id, which resolved nowhere.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use vcpe_tests::{Lab, Netns, Vcped, require_root, wait_until};

/// Where the reflector is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Rr {
    /// Behind b: a and c reach it over tunnel b.
    BehindB,
    /// One router away on the underlay.
    Underlay,
}

/// vCPE `n` (1 = a, 2 = b, 3 = c): GRE tunnels to the other two; a and c
/// advertise their VPC and peer with the reflector (through b, or over
/// the routed underlay with router id 192.0.2.N).
fn config(n: u8, rr: Rr) -> String {
    let id = match rr {
        Rr::BehindB => format!("10.255.0.{n}"),
        Rr::Underlay => format!("192.0.2.{n}"),
    };
    let mut c = format!(
        "[router]\nid = \"{id}\"\nasn = 65000\n\n[kernel]\nroute_sync = false\n\n\
         [[interface]]\nname = \"vcpe0\"\naddresses = [\"10.255.0.{n}/24\", \"fd00:255::{n}/64\"]\nmtu = 1400\n\n\
         [[route]]\nname = \"vpc\"\nprefix = \"10.{n}.1.0/24\"\ninterface = \"vcpe0\"\nadvertise = {adv}\n\n\
         [[route]]\nname = \"vpc-v6\"\nprefix = \"fd00:{n}:1::/64\"\ninterface = \"vcpe0\"\nadvertise = {adv}\n\n",
        adv = n != 2,
    );
    match rr {
        _ if n == 2 => {}
        Rr::BehindB => {
            c += &format!(
                "[bgp]\nlisten = \"0.0.0.0:179\"\n\n\
                 [[bgp.neighbor]]\naddress = \"10.2.1.10\"\nremote_as = 65000\npeer = \"b\"\n\
                 local_address = \"10.255.0.{n}\"\nhold_time = 9\n\n"
            );
        }
        Rr::Underlay => {
            c += "[bgp]\nlisten = \"0.0.0.0:179\"\n\n\
                  [[bgp.neighbor]]\naddress = \"100.65.0.10\"\nremote_as = 65000\nhold_time = 9\n\n";
        }
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

/// BIRD as route reflector for a and c; the next hops they announce
/// resolve through static routes, as BIRD needs for iBGP's recursive next
/// hops.
fn bird(rr: Rr) -> String {
    let (me, statics, peer) = match rr {
        Rr::BehindB => (
            "10.2.1.10",
            "route 10.255.0.0/24 via 10.2.1.1; }\nprotocol static { ipv6; route fd00:255::/64 via fd00:2:1::1;",
            "10.255.0",
        ),
        Rr::Underlay => (
            "100.65.0.10",
            "route 100.64.0.0/24 via 100.65.0.1; }\nprotocol static { ipv6; route fd00:255::/64 via \"eth0\";",
            "100.64.0",
        ),
    };
    format!(
        "router id {me};\nlog stderr all;\n\
         protocol device {{}}\nprotocol direct {{ ipv4; ipv6; }}\n\
         protocol static {{ ipv4; {statics} }}\n\
         template bgp rrc {{\n  local {me} as 65000;\n  rr client;\n  hold time 9;\n\
         ipv4 {{ import all; export where source = RTS_BGP; }};\n\
         ipv6 {{ import all; export where source = RTS_BGP; }};\n}}\n\
         protocol bgp a from rrc {{ neighbor {peer}.1 as 65000; }}\n\
         protocol bgp c from rrc {{ neighbor {peer}.3 as 65000; }}\n"
    )
}

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

/// `config` without its `[[peer]]` named `name`.
fn without_peer(config: &str, name: &str) -> String {
    let mut parts = config.split("[[peer]]\n");
    let mut out = parts.next().unwrap_or_default().to_owned();
    for p in parts {
        if !p.starts_with(&format!("name = \"{name}\"\n")) {
            out += "[[peer]]\n";
            out += p;
        }
    }
    out
}

/// The lab; with `a_without_c`, a starts without its peer c (a reload
/// adds it).
fn topology(tag: &str, rr_at: Rr, a_without_c: bool) -> Result<Topology> {
    let lab = Lab::new(tag)?;
    let inet = lab.netns("inet")?;
    let wan = lab.bridge(&inet, "br0")?;
    inet.addr("br0", "100.64.0.254/24")?;
    inet.enable_forwarding()?;
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
    let mut rr = hosts.pop().context("rr")?;
    let vma = hosts.pop().context("vma")?;
    if rr_at == Rr::Underlay {
        // The reflector moves behind the underlay's router.
        rr = lab.netns("rru")?;
        lab.veth(&inet, "r0", &rr, "eth0")?;
        inet.addr("r0", "100.65.0.1/24")?;
        rr.addr("eth0", "100.65.0.10/24")?;
        rr.route("default", "100.65.0.1")?;
    }
    let conf = lab.dir().join("bird-rr.conf");
    std::fs::write(&conf, bird(rr_at)).context("writing bird.conf")?;
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
        // The underlay route to the reflector exists before vcped starts:
        // vcped looks up its source address towards a neighbor then.
        ns.route("100.65.0.0/24", "100.64.0.254")?;
        let mut conf = config(n, rr_at);
        if n == 1 && a_without_c {
            conf = without_peer(&conf, "c");
        }
        let v = Vcped::start(&ns, lab.dir(), &format!("v{n}"), &conf)?;
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

/// a and c reach each other's VPCs, v4 and v6, through the a–c tunnel:
/// `explain` names it, its counters carry the echoes, tunnel b does not.
fn check(tag: &str, rr: Rr) -> Result<()> {
    let t = topology(tag, rr, false)?;
    pings_take_the_a_c_tunnel(&t, rr)
}

fn pings_take_the_a_c_tunnel(t: &Topology, rr: Rr) -> Result<()> {
    let a = &t.routers[0].1;
    let c = &t.routers[2].1;
    let (from, nh4) = match rr {
        Rr::BehindB => ("10.2.1.10", "10.255.0.3"),
        Rr::Underlay => ("100.65.0.10", "100.64.0.3"),
    };
    let want4 = Some(("c".to_owned(), nh4.to_owned()));
    let want6 = Some(("c".to_owned(), "fd00:255::3".to_owned()));
    let ready = wait_until(Duration::from_secs(40), || {
        a_sends(t, "10.3.1.10") == want4 && a_sends(t, "fd00:3:1::10") == want6
    });
    ensure!(
        ready,
        "a did not learn c's VPC through the reflector with c's tunnel as next hop:\n{}\n{}\n{}\n{}\n{}\nb:\n{}\nBIRD:\n{}",
        a.ctl(&["bgp", "summary"]).unwrap_or_default(),
        a.ctl(&["show", "route"]).unwrap_or_else(|e| e.to_string()),
        a.ctl(&["explain", "10.3.1.10"])
            .unwrap_or_else(|e| e.to_string()),
        a.ctl(&["explain", "fd00:3:1::10"])
            .unwrap_or_else(|e| e.to_string()),
        a.daemon.log(),
        t.routers[1].1.ctl(&["tunnel", "list"]).unwrap_or_default(),
        t.bird.log()
    );
    if rr == Rr::BehindB {
        let why = a.ctl(&["explain", "10.3.1.10"])?;
        ensure!(
            why.contains("next hop 10.255.0.3 is an inner address of tunnel peer c"),
            "explain does not say why the route takes tunnel c:\n{why}"
        );
    }
    // The route came from the reflector (over tunnel b, or the underlay).
    let rib = a.show_route(&["10.3.1.0/24"])?;
    let best = rib.best("10.3.1.0/24").context("no best route")?;
    ensure!(
        best.source == from && best.next_hop.as_deref() == Some(nh4),
        "a's route to 10.3.1.0/24 is not the reflector's with c's next hop {nh4}: {best:?}"
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
    let (b0, c0) = (tx(t, "b")?, tx(t, "c")?);
    ping(&t.vma, "10.3.1.10", 100)?;
    ping(&t.vma, "fd00:3:1::10", 100)?;
    let (b1, c1) = (tx(t, "b")?, tx(t, "c")?);
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

#[test]
fn reflected_routes_go_into_the_originator_s_tunnel_not_the_session_s() -> Result<()> {
    require_root!();
    check("nh-rr", Rr::BehindB)
}

#[test]
fn over_a_routed_underlay_the_announced_next_hops_find_their_tunnel() -> Result<()> {
    require_root!();
    check("nh-ul", Rr::Underlay)
}

/// a learns c's routes (next hop c's tunnel address) before it has a
/// tunnel to c: they resolve by the connected TUN subnet. The reload that
/// adds peer c moves them into its tunnel, with no new UPDATE.
#[test]
fn a_peer_added_by_reload_takes_the_routes_via_its_inner_address() -> Result<()> {
    require_root!();
    let t = topology("nh-reload", Rr::BehindB, true)?;
    let a = &t.routers[0].1;
    let by_subnet = wait_until(Duration::from_secs(40), || {
        a.explain("10.3.1.10").ok().and_then(|e| {
            let h = e.hops.first()?;
            Some((h.kind.clone(), h.name.clone()?))
        }) == Some(("interface".to_owned(), "vcpe0".to_owned()))
    });
    ensure!(
        by_subnet,
        "before the reload a should reach c's VPC by the TUN subnet:\n{}\n{}",
        a.ctl(&["bgp", "summary"]).unwrap_or_default(),
        a.ctl(&["explain", "10.3.1.10"])
            .unwrap_or_else(|e| e.to_string())
    );
    std::fs::write(&a.config, config(1, Rr::BehindB)).context("writing a's config")?;
    let out = a.ctl(&["reload"])?;
    ensure!(out.contains("peer"), "a's reload:\n{out}");
    pings_take_the_a_c_tunnel(&t, Rr::BehindB)
}
