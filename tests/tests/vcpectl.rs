//! `vcpectl`'s inspection commands against real daemons: three vcpeds in
//! namespaces on one underlay bridge, A with a WireGuard tunnel to B and a
//! GRE tunnel to C, BGP over the tunnels (A–B, A–C). B and C both announce
//! 10.50.0.0/24, so A has a real best-path decision to explain; B also
//! announces 10.66.0.0/16, which A's import policy rejects.
//!
//! ```text
//!        a 100.64.0.1 (AS 65001, 10.1.1.0/24)
//!   wg ╱                 ╲ gre
//!  b 100.64.0.2           c 100.64.0.3
//!  AS 65002               AS 65003
//!  10.2.1.0/24            10.3.1.0/24
//!  10.50.0.0/24           10.50.0.0/24
//!  10.66.0.0/16
//! ```
//!
//! Every command is checked through `--json` (parsed, fields asserted), its
//! human output spot-checked, and its exit code: 0 ok, 1 refused, 2 usage,
//! 3 unreachable. `doctor` runs in a namespace of its own with one vcped.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::Value;
use vcpe_api::Reply;
use vcpe_api::view::{AdjDirection, TunnelInfo};
use vcpe_tests::{Lab, Netns, Vcped, cargo_bin, require_root, wait_until};

/// `vcpectl ARGS` against `socket`, run inside `ns` (or the test's own
/// namespace), whatever its exit code.
fn vcpectl(ns: Option<&Netns>, socket: &Path, args: &[&str]) -> Result<Output> {
    let bin = cargo_bin("vcpectl");
    let mut cmd = match ns {
        Some(ns) => ns.command(&bin),
        None => std::process::Command::new(&bin),
    };
    cmd.arg("--socket").arg(socket).args(args);
    vcpe_tests::process::run(&mut cmd, Duration::from_secs(20))
}

/// Runs `vcpectl ARGS` and checks its exit code; returns stdout.
fn expect(d: &Vcped, args: &[&str], code: i32) -> Result<String> {
    let out = vcpectl(None, &d.socket, args)?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    ensure!(
        out.status.code() == Some(code),
        "vcpectl {args:?}: exit {:?}, wanted {code}\nstdout: {stdout}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(stdout)
}

/// Runs `vcpectl ARGS`, wants exit `code`, returns stderr.
fn refused(d: &Vcped, args: &[&str], code: i32) -> Result<String> {
    let out = vcpectl(None, &d.socket, args)?;
    ensure!(
        out.status.code() == Some(code),
        "vcpectl {args:?}: exit {:?}, wanted {code}: {}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stderr).into_owned())
}

fn keys(dir: &Path, name: &str) -> Result<(String, String)> {
    let (private, public) = vcpe_tests::wg::keypair()?;
    let path = vcpe_tests::wg::write_key(&dir.join(format!("{name}.key")), &private)?;
    Ok((path.display().to_string(), public))
}

struct Lab3 {
    a: Vcped,
    b: Vcped,
    c: Vcped,
    _lab: Lab,
}

fn build() -> Result<Lab3> {
    let lab = Lab::new("ctl")?;
    let net = lab.netns("net")?;
    let br = lab.bridge(&net, "br0")?;
    let (ns_a, ns_b, ns_c) = (lab.netns("a")?, lab.netns("b")?, lab.netns("c")?);
    for (i, ns) in [&ns_a, &ns_b, &ns_c].into_iter().enumerate() {
        br.plug(&format!("p{i}"), ns, "eth0")?;
        ns.addr("eth0", &format!("100.64.0.{}/24", i + 1))?;
        ns.enable_forwarding()?;
    }
    let (ka, kb) = (keys(lab.dir(), "a")?, keys(lab.dir(), "b")?);
    // A vCPE that is never started: A's tunnel to it keeps handshaking.
    let kd = keys(lab.dir(), "d")?;
    let head = |n: u8| {
        format!(
            "[router]\nid = \"10.255.0.{n}\"\nasn = 6500{n}\n\n[kernel]\nroute_sync = false\n\n\
             [[interface]]\nname = \"vcpe0\"\naddresses = [\"10.255.0.{n}/24\"]\nmtu = 1400\n\n"
        )
    };
    let route = |name: &str, prefix: &str, advertise: bool| {
        format!(
            "[[route]]\nname = \"{name}\"\nprefix = \"{prefix}\"\ninterface = \"vcpe0\"\nadvertise = {advertise}\n\n"
        )
    };
    let neighbor = |n: u8, peer: &str, extra: &str| {
        format!(
            "[[bgp.neighbor]]\naddress = \"10.255.0.{n}\"\nremote_as = 6500{n}\npeer = \"{peer}\"\nhold_time = 9\n{extra}\n"
        )
    };
    let wg = |name: &str,
              n: u8,
              own: &(String, String),
              theirs: &(String, String),
              allowed: &str| {
        format!(
            "[[peer]]\nname = \"{name}\"\nendpoint = \"100.64.0.{n}:51820\"\nbind = \"0.0.0.0:51820\"\n\
             encapsulation = \"wireguard\"\nprivate_key_file = \"{}\"\npublic_key = \"{}\"\n\
             keepalive = 5\nallowed_prefixes = {allowed}\nmtu = 1300\n\n",
            own.0, theirs.1
        )
    };
    let gre = |name: &str, n: u8, allowed: &str| {
        format!(
            "[[peer]]\nname = \"{name}\"\nendpoint = \"100.64.0.{n}\"\nencapsulation = \"gre\"\n\
             gre_key = 13\nallowed_prefixes = {allowed}\n\n"
        )
    };
    let bgp = "[bgp]\nlisten = \"0.0.0.0:179\"\n\n";
    let a = head(1)
        + &route("vxnet-a1", "10.1.1.0/24", true)
        + &route("vxnet-a2", "10.1.2.0/24", false)
        // Same prefix as the TUN's connected subnet: shadowed.
        + &route("lan", "10.255.0.0/24", false)
        + bgp
        + &neighbor(2, "b", "import = [\"10.2.0.0/16 le 24\", \"10.50.0.0/24\"]\n")
        + &neighbor(3, "c", "")
        + &wg(
            "b",
            2,
            &ka,
            &kb,
            "[\"10.255.0.2/32\", \"10.2.0.0/16\", \"10.50.0.0/24\", \"10.66.0.0/16\"]",
        )
        + &gre("c", 3, "[\"10.255.0.3/32\", \"10.3.0.0/16\", \"10.50.0.0/24\"]")
        + &wg("d", 9, &ka, &kd, "[\"10.4.0.0/16\"]");
    let b = head(2)
        + &route("vxnet-b1", "10.2.1.0/24", true)
        + &route("anycast", "10.50.0.0/24", true)
        + &route("rejected", "10.66.0.0/16", true)
        + bgp
        + &neighbor(1, "a", "")
        + &wg(
            "a",
            1,
            &kb,
            &ka,
            "[\"10.255.0.1/32\", \"10.1.0.0/16\", \"10.3.0.0/16\"]",
        );
    let c = head(3)
        + &route("vxnet-c1", "10.3.1.0/24", true)
        + &route("anycast", "10.50.0.0/24", true)
        + bgp
        + &neighbor(1, "a", "")
        + &gre(
            "a",
            1,
            "[\"10.255.0.1/32\", \"10.1.0.0/16\", \"10.2.0.0/16\"]",
        );
    let a = Vcped::start(&ns_a, lab.dir(), "vcped-a", &a)?;
    let b = Vcped::start(&ns_b, lab.dir(), "vcped-b", &b)?;
    let c = Vcped::start(&ns_c, lab.dir(), "vcped-c", &c)?;
    Ok(Lab3 { a, b, c, _lab: lab })
}

/// Waits until A has both sessions up and the routes of B and C.
fn converge(l: &Lab3) -> Result<()> {
    let ok = wait_until(Duration::from_secs(40), || {
        l.a.show_route(&[]).is_ok_and(|v| {
            v.best("10.2.1.0/24").is_some()
                && v.best("10.3.1.0/24").is_some()
                && v.rows("10.50.0.0/24").len() == 2
        }) && l
            .b
            .show_route(&[])
            .is_ok_and(|v| v.best("10.1.1.0/24").is_some())
    });
    ensure!(
        ok,
        "no convergence in 40 s:\n{}\n{}",
        l.a.ctl(&["bgp", "summary"]).unwrap_or_default(),
        l.a.ctl(&["show", "route"]).unwrap_or_default()
    );
    Ok(())
}

#[test]
fn inspection_commands_tell_routes_neighbors_tunnels_and_why() -> Result<()> {
    require_root!();
    let l = build()?;
    let r = (|| -> Result<()> {
        converge(&l)?;
        show_route(&l)?;
        explain(&l)?;
        neighbor(&l)?;
        tunnels(&l)?;
        routes(&l)?;
        bad_input(&l)?;
        Ok(())
    })();
    if r.is_err() {
        for d in [&l.a, &l.b, &l.c] {
            d.daemon.print_log();
        }
    }
    r
}

fn show_route(l: &Lab3) -> Result<()> {
    let v = l.a.show_route(&[])?;
    // Connected beats the static route of the same prefix.
    let lan = v.rows("10.255.0.0/24");
    ensure!(lan.len() == 2, "{lan:?}");
    ensure!(lan[0].best && lan[0].protocol == "connected" && lan[0].source == "vcpe0");
    ensure!(!lan[1].best && lan[1].protocol == "static" && lan[1].source == "lan");
    ensure!(
        lan[1].reason.contains("connected routes win"),
        "{:?}",
        lan[1]
    );
    // The host route to neighbor B goes into tunnel b.
    let host = v.best("10.255.0.2/32").context("host route to B")?;
    ensure!(
        host.protocol == "tunnel" && host.source == "b" && host.egress.as_deref() == Some("peer b")
    );
    // Our advertised vxnet: the static route forwards, BGP's local path is ours.
    let a1 = v.rows("10.1.1.0/24");
    ensure!(a1[0].protocol == "static" && a1[0].best && a1[0].advertised);
    ensure!(
        a1.iter()
            .any(|r| r.protocol == "bgp" && r.source == "local" && !r.best),
        "{a1:?}"
    );
    // Learned: into the tunnel of the neighbor it came from.
    let b1 = v.best("10.2.1.0/24").context("10.2.1.0/24")?;
    ensure!(
        b1.protocol == "bgp" && b1.source == "10.255.0.2" && b1.egress.as_deref() == Some("peer b")
    );
    ensure!(b1.as_path == [65002] && b1.origin.as_deref() == Some("igp"));
    ensure!(b1.in_fib && b1.bgp_best);
    // Two candidates for the anycast prefix: the lower router id wins.
    let any = v.rows("10.50.0.0/24");
    ensure!(any.len() == 2, "{any:?}");
    ensure!(any[0].best && any[0].source == "10.255.0.2", "{any:?}");
    ensure!(!any[1].best && any[1].source == "10.255.0.3");
    ensure!(
        any[1]
            .reason
            .contains("lower router id (10.255.0.2 < 10.255.0.3)"),
        "{:?}",
        any[1]
    );
    ensure!(any[1].beaten_by.as_deref() == Some("bgp 10.255.0.2"));
    // Rejected by import policy: not in the RIB.
    ensure!(v.rows("10.66.0.0/16").is_empty());
    // An address: the longest prefix covering it.
    let v = l.a.show_route(&["10.255.0.2"])?;
    ensure!(v.matched.as_deref() == Some("10.255.0.2/32"), "{v:?}");
    let v = l.a.show_route(&["10.2.1.77"])?;
    ensure!(v.matched.as_deref() == Some("10.2.1.0/24") && v.routes.len() == 1);
    // An exact prefix nobody has: empty, not an error.
    let v = l.a.show_route(&["10.9.0.0/16"])?;
    ensure!(v.routes.is_empty(), "{v:?}");
    // Human: `*>` on the best, the loser's reason, detail blocks.
    let text = l.a.ctl(&["show", "route"])?;
    ensure!(
        text.lines().any(|x| x.starts_with("*>")
            && x.contains("10.50.0.0/24")
            && x.contains("bgp 10.255.0.2")),
        "{text}"
    );
    ensure!(
        text.lines().any(|x| x.starts_with(" *")
            && x.contains("bgp 10.255.0.3")
            && x.contains("lower router id")),
        "{text}"
    );
    let text = l.a.ctl(&["show", "route", "10.50.0.0/24", "detail"])?;
    ensure!(
        text.starts_with("10.50.0.0/24\n  *> bgp 10.255.0.2 (in the FIB, peer b)\n"),
        "{text}"
    );
    ensure!(
        text.contains("as path      65002\n") && text.contains("as path      65003\n"),
        "{text}"
    );
    ensure!(
        text.contains("lost         lost to 10.255.0.2 in BGP: lower router id"),
        "{text}"
    );
    Ok(())
}

fn explain(l: &Lab3) -> Result<()> {
    // A reply other than `explain` fails inside `Vcped::explain`.
    let e = l.a.explain("10.50.0.9")?;
    ensure!(e.prefix == "10.50.0.0/24", "{e:?}");
    let hop = e.hops.first().context("no hop")?;
    ensure!(
        hop.kind == "tunnel"
            && hop.name.as_deref() == Some("b")
            && hop.encapsulation.as_deref() == Some("wireguard")
    );
    ensure!(
        hop.endpoint.as_deref() == Some("100.64.0.2:51820")
            && hop.mtu == Some(1300)
            && hop.gateway.as_deref() == Some("10.255.0.2")
    );
    let route = e.route.as_ref().context("no route")?;
    ensure!(route.protocol == "bgp" && route.source == "10.255.0.2");
    ensure!(e.why.contains("best BGP path: lower router id"), "{e:?}");
    ensure!(
        e.losers.len() == 1 && e.losers[0].source == "10.255.0.3",
        "{e:?}"
    );
    // The GRE side, and a less specific entry that also covers.
    let e = l.a.explain("10.255.0.3")?;
    ensure!(
        e.prefix == "10.255.0.3/32" && e.route.as_ref().is_some_and(|r| r.protocol == "tunnel"),
        "{e:?}"
    );
    let hop = e.hops.first().context("no hop")?;
    ensure!(hop.encapsulation.as_deref() == Some("gre") && hop.mtu == Some(1472));
    ensure!(e.less_specific == ["10.255.0.0/24"], "{e:?}");
    // The static route that the connected one beats shows as the loser.
    let e = l.a.explain("10.255.0.77")?;
    ensure!(
        e.route.as_ref().is_some_and(|r| r.protocol == "connected"),
        "{e:?}"
    );
    ensure!(e.losers.first().is_some_and(|r| r.source == "lan"), "{e:?}");
    let text = l.a.ctl(&["explain", "10.50.0.9"])?;
    ensure!(
        text.starts_with(
            "10.50.0.9 matches 10.50.0.0/24 -> peer b (wireguard to 100.64.0.2:51820, MTU 1300) via 10.255.0.2\n"
        ),
        "{text}"
    );
    ensure!(
        text.contains("  lost   bgp 10.255.0.3 [65003] igp"),
        "{text}"
    );
    // Not routed: said so, exit 1.
    let err = refused(&l.a, &["explain", "192.0.2.1"], 1)?;
    ensure!(err.contains("192.0.2.1 is not routed"), "{err}");
    let out = expect(&l.a, &["--json", "explain", "192.0.2.1"], 1)?;
    let v: Reply = serde_json::from_str(&out)?;
    ensure!(matches!(v, Reply::Error { .. }), "{v:?}");
    Ok(())
}

fn neighbor(l: &Lab3) -> Result<()> {
    let n = l.a.neighbor("10.255.0.2")?;
    ensure!(n.state == "Established" && n.established, "{n:?}");
    ensure!(n.asn == 65002 && n.local_as == 65001 && n.kind == "eBGP");
    ensure!(n.tunnel_peer.as_deref() == Some("b") && n.mode == "active");
    let neg = n.negotiated.as_ref().context("nothing negotiated")?;
    ensure!(neg.hold_time == 9 && neg.router_id == "10.255.0.2");
    ensure!(neg.four_octet_as);
    ensure!(neg.families.iter().any(|x| x == "ipv4-unicast"), "{n:?}");
    let caps = &n.capabilities_received;
    ensure!(caps.iter().any(|c| c == "route-refresh"), "{caps:?}");
    ensure!(
        caps.iter().any(|c| c == "4-octet-as (AS 65002)"),
        "{caps:?}"
    );
    ensure!(
        n.counters.accepted == 2 && n.counters.filtered >= 1,
        "{n:?}"
    );
    ensure!(n.counters.updates_in >= 1);
    ensure!(
        n.import.as_deref()
            == Some(&["10.2.0.0/16 le 24".to_owned(), "10.50.0.0/24".to_owned()][..]),
        "{n:?}"
    );
    let text = l.a.ctl(&["bgp", "neighbor", "10.255.0.2"])?;
    ensure!(
        text.starts_with("BGP neighbor 10.255.0.2, AS 65002 (eBGP), local AS 65001\n"),
        "{text}"
    );
    ensure!(text.contains("Established, up for"), "{text}");
    // Adj-RIB-In: after policy, the rejected prefix marked.
    let v = l.a.adj_rib("10.255.0.2", "adj-in")?;
    ensure!(
        v.direction == AdjDirection::AdjIn && v.neighbor == "10.255.0.2",
        "{v:?}"
    );
    let b1 = v.rows("10.2.1.0/24");
    ensure!(b1.len() == 1 && b1[0].best && b1[0].as_path == [65002]);
    let rejected = v.rows("10.66.0.0/16");
    ensure!(rejected.len() == 1 && rejected[0].filtered, "{v:?}");
    // Adj-RIB-Out: as sent, our AS first, our next hop; what we do not
    // advertise is not there.
    let v = l.a.adj_rib("10.255.0.2", "adj-out")?;
    ensure!(v.direction == AdjDirection::AdjOut, "{v:?}");
    let a1 = v.rows("10.1.1.0/24");
    ensure!(a1.len() == 1 && a1[0].as_path == [65001], "{v:?}");
    ensure!(a1[0].next_hop.as_deref() == Some("10.255.0.1"), "{v:?}");
    ensure!(
        v.rows("10.1.2.0/24").is_empty(),
        "advertise = false went out: {v:?}"
    );
    let c1 = v.rows("10.3.1.0/24");
    ensure!(c1.len() == 1 && c1[0].as_path == [65001, 65003], "{v:?}");
    let text = l.a.ctl(&["bgp", "neighbor", "10.255.0.2", "adj-in"])?;
    ensure!(
        text.lines().any(|x| x.contains("10.66.0.0/16")
            && x.ends_with("filtered: rejected by import policy, AS loop or reflected loop (attributes not kept)")),
        "{text}"
    );
    // Not a neighbor, not an address.
    let err = refused(&l.a, &["bgp", "neighbor", "10.9.9.9"], 1)?;
    ensure!(err.contains("not a configured BGP neighbor"), "{err}");
    let err = refused(&l.a, &["bgp", "neighbor", "b"], 2)?;
    ensure!(err.contains("not an IP address"), "{err}");
    refused(&l.a, &["bgp", "neighbor", "10.255.0.2", "adj-sideways"], 2)?;
    Ok(())
}

fn tunnels(l: &Lab3) -> Result<()> {
    let t = l.a.tunnels()?;
    ensure!(t.len() == 3, "{t:?}");
    ensure!(
        t[0].name == "b" && t[0].encapsulation == "wireguard" && t[0].state == "up",
        "{t:?}"
    );
    ensure!(t[0].endpoint == "100.64.0.2:51820" && t[0].mtu == 1300);
    ensure!(t[0].last_handshake_secs.is_some_and(|s| s < 180), "{t:?}");
    ensure!(t[0].rx_packets > 0 && t[0].tx_bytes > 0);
    ensure!(t[1].name == "c" && t[1].encapsulation == "gre" && t[1].state == "stateless");
    ensure!(
        t[1].endpoint == "100.64.0.3" && t[1].mtu == 1472 && t[1].last_handshake_secs.is_none()
    );
    ensure!(t[1].rx_packets > 0, "BGP over GRE received nothing: {t:?}");
    let text = l.a.ctl(&["tunnel", "list"])?;
    let first = text.lines().nth(1).unwrap_or_default();
    ensure!(
        first.starts_with("b ") && first.contains("wireguard") && first.contains(" up "),
        "{text}"
    );
    ensure!(text.contains("c: stateless: GRE has no session"), "{text}");
    // Nobody answers at d's endpoint. Down until its first persistent
    // keepalive (5 s) starts a handshake, then handshaking for good.
    let d = &t[2];
    ensure!(d.name == "d" && d.last_handshake_secs.is_none(), "{t:?}");
    ensure!(d.state == "down" || d.state == "handshaking", "{t:?}");
    let state_of_d = || -> Option<TunnelInfo> { l.a.tunnels().ok()?.get(2).cloned() };
    ensure!(
        wait_until(Duration::from_secs(15), || state_of_d()
            .is_some_and(|d| d.state == "handshaking")),
        "d never started a handshake: {:?}",
        state_of_d()
    );
    let d = state_of_d().context("d")?;
    ensure!(
        d.rx_packets == 0 && d.last_handshake_secs.is_none(),
        "{d:?}"
    );
    let text = l.a.ctl(&["tunnel", "list"])?;
    ensure!(
        text.contains("d: handshaking: handshake sent, no answer yet"),
        "{text}"
    );
    Ok(())
}

fn routes(l: &Lab3) -> Result<()> {
    // route show: installed, shadowed, and whether BGP announces it.
    let r = l.a.route_show("vxnet-a1")?;
    ensure!(
        r.fib_state == "installed" && r.bgp_originated == Some(true),
        "{r:?}"
    );
    ensure!(
        r.fib
            .as_ref()
            .and_then(|f| f.hops.first())
            .is_some_and(|h| h.name.as_deref() == Some("vcpe0")),
        "{r:?}"
    );
    let r = l.a.route_show("lan")?;
    ensure!(r.fib_state == "shadowed", "{r:?}");
    ensure!(r.fib_note.contains("connected vcpe0"), "{r:?}");
    let text = l.a.ctl(&["route", "show", "vxnet-a2"])?;
    ensure!(
        text.starts_with("route vxnet-a2\n  prefix     10.1.2.0/24\n"),
        "{text}"
    );
    ensure!(
        text.contains("advertise  no (BGP does not announce it)"),
        "{text}"
    );
    let err = refused(&l.a, &["route", "show", "nope"], 1)?;
    ensure!(err.contains("no route named \"nope\""), "{err}");
    // --no-advertise (the default) and --advertise.
    expect(
        &l.a,
        &[
            "route",
            "add",
            "quiet",
            "10.1.8.0/24",
            "dev",
            "vcpe0",
            "--no-advertise",
        ],
        0,
    )?;
    expect(
        &l.a,
        &[
            "route",
            "add",
            "loud",
            "10.1.9.0/24",
            "dev",
            "vcpe0",
            "--advertise",
        ],
        0,
    )?;
    let r = l.a.route_show("quiet")?;
    ensure!(!r.route.advertise && r.fib_state == "installed", "{r:?}");
    ensure!(r.bgp_originated == Some(false), "{r:?}");
    let r = l.a.route_show("loud")?;
    ensure!(r.route.advertise && r.bgp_originated == Some(true), "{r:?}");
    let learned = wait_until(Duration::from_secs(20), || {
        l.b.show_route(&["10.1.9.0/24"])
            .is_ok_and(|v| v.best("10.1.9.0/24").is_some())
            && l.b
                .show_route(&["10.1.8.0/24"])
                .is_ok_and(|v| v.rows("10.1.8.0/24").is_empty())
    });
    ensure!(learned, "B: {}", l.b.ctl(&["show", "route"])?);
    expect(&l.a, &["route", "del", "quiet"], 0)?;
    expect(&l.a, &["route", "del", "loud"], 0)?;
    Ok(())
}

fn bad_input(l: &Lab3) -> Result<()> {
    let before = l.a.route_list()?;
    let err = refused(
        &l.a,
        &[
            "route",
            "add",
            "x",
            "10.7.0.0/16",
            "dev",
            "vcpe0",
            "--advertise",
            "--no-advertise",
        ],
        2,
    )?;
    ensure!(err.contains("cannot be used with"), "{err}");
    let err = refused(
        &l.a,
        &["route", "add", "x", "10.7.0.0/16", "via", "10.255.0.9"],
        2,
    )?;
    ensure!(err.contains("`dev IFACE` or `peer PEER`"), "{err}");
    let err = refused(
        &l.a,
        &["route", "add", "x", "10.7.0.1/16", "dev", "vcpe0"],
        1,
    )?;
    ensure!(err.contains("did you mean 10.7.0.0/16"), "{err}");
    let err = refused(&l.a, &["show", "route", "10.2.1.7/24"], 2)?;
    ensure!(
        err.contains("did you mean the prefix 10.2.1.0/24 or the address 10.2.1.7"),
        "{err}"
    );
    let err = refused(&l.a, &["explain", "10.2.1.0/24"], 2)?;
    ensure!(err.contains("give one address"), "{err}");
    ensure!(l.a.route_list()? == before, "bad input changed the routes");
    // No daemon: exit 3, saying how to point at one.
    let out = vcpectl(
        None,
        Path::new("/nonexistent/vcped.sock"),
        &["show", "route"],
    )?;
    ensure!(out.status.code() == Some(3), "{out:?}");
    ensure!(String::from_utf8_lossy(&out.stderr).contains("--socket"));
    Ok(())
}

#[test]
fn completions_for_bash_zsh_and_fish() -> Result<()> {
    let sock = Path::new("/nonexistent");
    for (shell, marker) in [
        ("bash", "_vcpectl()"),
        ("zsh", "#compdef vcpectl"),
        ("fish", "complete -c vcpectl"),
    ] {
        let out = vcpectl(None, sock, &["completions", shell])?;
        let text = String::from_utf8_lossy(&out.stdout);
        ensure!(out.status.success(), "{shell}: {out:?}");
        ensure!(
            text.contains(marker) && text.contains("explain") && text.contains("doctor"),
            "{shell}: {text}"
        );
    }
    let out = vcpectl(None, sock, &["completions", "tcsh"])?;
    ensure!(out.status.code() == Some(2));
    Ok(())
}

/// `key generate` writes a key that wireguard-tools reads as ours (its
/// `wg pubkey` is the public key printed), owner-only, and never replaces
/// an existing file.
#[test]
fn key_generate_agrees_with_wg_pubkey_and_never_overwrites() -> Result<()> {
    use std::io::Write;
    let dir = tempfile::tempdir()?;
    let sock = Path::new("/nonexistent");
    let file = dir.path().join("new.key");
    let path = file.display().to_string();
    let out = vcpectl(None, sock, &["key", "generate", &path])?;
    ensure!(out.status.success(), "{out:?}");
    let printed = String::from_utf8(out.stdout)?.trim().to_owned();
    let private = std::fs::read_to_string(&file)?;
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file)?.permissions());
    ensure!(mode & 0o777 == 0o600, "mode {mode:o}");
    let mut wg = std::process::Command::new("wg")
        .arg("pubkey")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("wg pubkey (apt-get install wireguard-tools)")?;
    wg.stdin
        .take()
        .context("stdin")?
        .write_all(private.as_bytes())?;
    let wg = wg.wait_with_output()?;
    ensure!(wg.status.success(), "wg pubkey refused our key: {wg:?}");
    ensure!(String::from_utf8(wg.stdout)?.trim() == printed);
    let pubkey = vcpectl(None, sock, &["key", "pubkey", &path])?;
    ensure!(String::from_utf8(pubkey.stdout)?.trim() == printed);
    let again = vcpectl(None, sock, &["key", "generate", &path])?;
    ensure!(again.status.code() == Some(1), "{again:?}");
    ensure!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
    ensure!(
        std::fs::read_to_string(&file)? == private,
        "the key was replaced"
    );
    Ok(())
}

/// `doctor` inside a vCPE namespace: a healthy host passes, each breakage
/// is named with its fix, a failing check makes the exit code 1.
#[test]
fn doctor_checks_the_host_and_says_what_to_fix() -> Result<()> {
    require_root!();
    let lab = Lab::new("ctldoc")?;
    let (ns, net) = (lab.netns("v")?, lab.netns("n")?);
    lab.veth(&ns, "eth0", &net, "eth0")?;
    ns.addr("eth0", "100.64.0.1/24")?;
    net.addr("eth0", "100.64.0.2/24")?;
    ns.route("default", "100.64.0.2")?;
    ns.enable_forwarding()?;
    for k in ["all", "default", "eth0"] {
        ns.sysctl(&format!("net.ipv4.conf.{k}.rp_filter"), "2")?;
    }
    let config = "[router]\nid = \"10.255.0.1\"\nasn = 65001\n\n[kernel]\nroute_sync = false\n\n\
                  [[interface]]\nname = \"vcpe0\"\naddresses = [\"10.255.0.1/24\"]\nmtu = 1400\n\n\
                  [[peer]]\nname = \"far\"\nendpoint = \"100.64.0.9\"\nencapsulation = \"gre\"\n\
                  allowed_prefixes = [\"10.9.0.0/16\"]\nmtu = 1400\n";
    let d = Vcped::start(&ns, lab.dir(), "vcped", config)?;
    let conf = d.config.display().to_string();
    let doctor = |json: bool| -> Result<(Option<i32>, String)> {
        let mut args = vec!["doctor", "--config", &conf];
        if json {
            args.insert(0, "--json");
        }
        let out = vcpectl(Some(&ns), &d.socket, &args)?;
        Ok((
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        ))
    };
    let check = |v: &Value, name: &str| -> Result<Value> {
        v["checks"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["name"] == name).cloned())
            .with_context(|| format!("no check {name:?}: {v}"))
    };
    let r = (|| -> Result<()> {
        let (code, out) = doctor(true)?;
        let v: Value = serde_json::from_str(&out).context("doctor --json")?;
        ensure!(code == Some(0), "a healthy host failed: {out}");
        for name in [
            "config",
            "ip_forward",
            "rp_filter vcpe0",
            "rp_filter eth0",
            "interface vcpe0",
            "control socket",
            "mtu tunnel far",
        ] {
            let c = check(&v, name)?;
            ensure!(c["status"] == "ok", "{name}: {c}");
        }
        ensure!(check(&v, "ipv6_forwarding")?["status"] == "ok");
        ensure!(check(&v, "policy routing")?["status"] == "ok");
        ensure!(v["fail"] == 0 && v["ok"].as_u64() >= Some(8), "{v}");
        ensure!(check(&v, "clock")?["status"] != "fail");
        // Forwarding off and strict rp_filter: named, with the fix, exit 1.
        ns.sysctl("net.ipv4.ip_forward", "0")?;
        ns.sysctl("net.ipv4.conf.eth0.rp_filter", "1")?;
        ns.sysctl("net.ipv4.conf.all.rp_filter", "1")?;
        // A secondary NIC without its own table.
        lab.veth(&ns, "eth1", &net, "eth1")?;
        ns.addr("eth1", "10.0.2.5/24")?;
        ns.sysctl("net.ipv4.conf.eth1.rp_filter", "2")?;
        let (code, out) = doctor(true)?;
        let v: Value = serde_json::from_str(&out)?;
        ensure!(code == Some(1), "{out}");
        let fwd = check(&v, "ip_forward")?;
        ensure!(
            fwd["status"] == "fail"
                && fwd["fix"]
                    .as_str()
                    .is_some_and(|f| f.starts_with("sysctl -w net.ipv4.ip_forward=1")),
            "{fwd}"
        );
        let rp = check(&v, "rp_filter eth0")?;
        ensure!(
            rp["status"] == "fail"
                && rp["fix"]
                    .as_str()
                    .is_some_and(|f| f.starts_with("sysctl -w net.ipv4.conf.eth0.rp_filter=2")),
            "{rp}"
        );
        ensure!(
            check(&v, "rp_filter eth1")?["status"] == "ok",
            "all=1, eth1=2: loose"
        );
        let pr = check(&v, "policy routing eth1")?;
        ensure!(pr["status"] == "warn", "{pr}");
        ensure!(
            pr["fix"]
                .as_str()
                .is_some_and(|f| f.contains("ip rule add from 10.0.2.5 table")),
            "{pr}"
        );
        let (code, text) = doctor(false)?;
        ensure!(code == Some(1));
        ensure!(
            text.lines().any(|l| l.starts_with("FAIL  ip_forward")),
            "{text}"
        );
        ensure!(
            text.contains("fix: sysctl -w net.ipv4.ip_forward=1"),
            "{text}"
        );
        ensure!(
            text.lines().last().is_some_and(|l| l.ends_with(" fail")),
            "{text}"
        );
        // A config that does not load: the first check fails.
        let missing = lab.dir().join("missing.toml");
        let out = vcpectl(
            Some(&ns),
            &d.socket,
            &[
                "--json",
                "doctor",
                "--config",
                &missing.display().to_string(),
            ],
        )?;
        let v: Value = serde_json::from_slice(&out.stdout)?;
        ensure!(
            out.status.code() == Some(1) && check(&v, "config")?["status"] == "fail",
            "{v}"
        );
        Ok(())
    })();
    if r.is_err() {
        d.daemon.print_log();
    }
    r
}
