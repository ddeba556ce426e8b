//! ECMP between vCPEs: VPC A's vCPE has GRE tunnels to two vCPEs of VPC B
//! (B1, B2) that both reach the same service prefix, and spreads flows over
//! both — learned by BGP with `maximum_paths = 2`, or from a static route
//! with `peers = ["b1", "b2"]`.
//!
//! ```text
//!  ha 10.1.1.10 ── a ── inet ──┬── b1  10.50.0.10, 10.60.0.10 on lo
//!                  100.64.1.2  │   100.64.2.2
//!                              └── b2  the same addresses
//!                                  100.64.3.2
//! ```
//!
//! 64 UDP flows (one source port each) go from `ha` to the service; the
//! responder in each of B1 and B2 answers with its own name, so every
//! flow's path is seen per round. Checked: each tunnel of A carries 25-75%
//! of the packets (`vcpectl tunnel list` counters), no flow changes path
//! while both are up, `show route` / `explain` list both members and
//! `explain --from ...` names the member a flow really takes; B1 killed →
//! every flow reaches the service via B2 within 1.5 s (BFD 300 ms × 3 on the
//! sessions; the hold timer alone would take 3 s);
//! B1 back → exactly the flows that were on B1 before move back.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use vcpe_tests::{Daemon, Lab, Netns, Vcped, require_root, require_tool, wait_until};

/// Flows per measurement: distinct UDP source ports from `ha`.
const FLOWS: u16 = 64;
/// First source port.
const BASE_PORT: u16 = 40_000;
/// The responders' port.
const PORT: u16 = 7000;
/// The service prefix B1 and B2 advertise by BGP.
const BGP_SERVICE: &str = "10.50.0.10";
/// The service prefix A routes to both by a static route.
const STATIC_SERVICE: &str = "10.60.0.10";

/// Sends one datagram per flow per round and prints, per flow, the name of
/// the responder that answered each round (null: no answer in 1 s).
const CLIENT: &str = r#"
import json, select, socket, sys, time
dst, port, base, n, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
socks = []
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", base + i))
    s.setblocking(False)
    socks.append(s)
index = {s.fileno(): i for i, s in enumerate(socks)}
out = [[None] * rounds for _ in range(n)]
for r in range(rounds):
    for i, s in enumerate(socks):
        s.sendto(f"{i} {r}".encode(), (dst, port))
    deadline = time.time() + 1.0
    pending = set(range(n))
    while pending and time.time() < deadline:
        ready, _, _ = select.select([socks[i] for i in pending], [], [], max(0.0, deadline - time.time()))
        for s in ready:
            i = index[s.fileno()]
            try:
                data, _ = s.recvfrom(200)
            except BlockingIOError:
                continue
            name, fi, fr = data.decode().split()
            if int(fi) == i and int(fr) == r:
                out[i][r] = name
                pending.discard(i)
    time.sleep(0.05)
print(json.dumps(out))
"#;

/// Answers every datagram with its own name (argv[1]) and the payload.
const RESPONDER: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[2])))
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(200)
    s.sendto(sys.argv[1].encode() + b" " + data, peer)
"#;

fn underlay(n: u8) -> String {
    format!("100.64.{n}.2")
}

/// GRE to `name` (VPC `n`), allowed to send from `allowed`.
fn gre_peer(name: &str, me: u8, n: u8, allowed: &str) -> String {
    format!(
        "[[peer]]\nname = \"{name}\"\nendpoint = \"{}\"\nencapsulation = \"gre\"\n\
         gre_key = {}\nallowed_prefixes = {allowed}\nmtu = 1300\n\n",
        underlay(n),
        u32::from(me.min(n)) * 10 + u32::from(me.max(n))
    )
}

/// A's config: its vxnet, both tunnels, BGP to both with multipath, and
/// (with `static_ecmp`) the static route over both.
fn config_a(static_ecmp: bool) -> String {
    let mut c = String::from(
        "[router]\nid = \"10.255.0.1\"\nasn = 65001\n\n[kernel]\nroute_sync = false\n\n\
         [[interface]]\nname = \"vcpe0\"\naddresses = [\"10.255.0.1/24\"]\nmtu = 1400\n\n\
         [[route]]\nname = \"vxnet\"\nprefix = \"10.1.1.0/24\"\ninterface = \"vcpe0\"\nadvertise = true\n\n",
    );
    if static_ecmp {
        c += "[[route]]\nname = \"svc\"\nprefix = \"10.60.0.0/24\"\npeers = [\"b1\", \"b2\"]\n\n";
    }
    c += "[bgp]\nlisten = \"0.0.0.0:179\"\nmaximum_paths = 2\n\n";
    for (name, n) in [("b1", 2), ("b2", 3)] {
        c += &format!(
            "[[bgp.neighbor]]\naddress = \"10.255.0.{n}\"\nremote_as = 65002\npeer = \"{name}\"\n\
             hold_time = 3\nbfd = true\n\n"
        );
    }
    for (name, n) in [("b1", 2), ("b2", 3)] {
        let allowed = format!("[\"10.255.0.{n}/32\", \"10.50.0.0/24\", \"10.60.0.0/24\"]");
        c += &gre_peer(name, 1, n, &allowed);
    }
    c
}

/// B1's or B2's config (VPC `n`): the service prefixes into its own
/// kernel, the BGP one advertised, a tunnel and a session to A.
fn config_b(n: u8) -> String {
    let mut c = format!(
        "[router]\nid = \"10.255.0.{n}\"\nasn = 65002\n\n[kernel]\nroute_sync = false\n\n\
         [[interface]]\nname = \"vcpe0\"\naddresses = [\"10.255.0.{n}/24\"]\nmtu = 1400\n\n\
         [[route]]\nname = \"service\"\nprefix = \"10.50.0.0/24\"\ninterface = \"vcpe0\"\nadvertise = true\n\n\
         [[route]]\nname = \"static-service\"\nprefix = \"10.60.0.0/24\"\ninterface = \"vcpe0\"\n\n\
         [bgp]\nlisten = \"0.0.0.0:179\"\n\n\
         [[bgp.neighbor]]\naddress = \"10.255.0.1\"\nremote_as = 65001\npeer = \"a\"\nhold_time = 3\n\
         bfd = true\n\n"
    );
    c += &gre_peer("a", n, 1, "[\"10.255.0.1/32\", \"10.1.0.0/16\"]");
    c
}

struct Topology {
    a: (Netns, Vcped),
    b: BTreeMap<&'static str, (Netns, Vcped, Daemon)>,
    ha: Netns,
    lab: Lab,
}

impl Topology {
    fn build(tag: &str, static_ecmp: bool) -> Result<Topology> {
        let lab = Lab::new(tag)?;
        let inet = lab.netns("inet")?;
        inet.enable_forwarding()?;
        let vcpe = |n: u8, name: &str| -> Result<Netns> {
            let v = lab.netns(name)?;
            v.enable_forwarding()?;
            for key in ["all", "default"] {
                v.sysctl(&format!("net.ipv4.conf.{key}.rp_filter"), "0")?;
            }
            lab.veth(&v, "wan0", &inet, &format!("w{n}"))?;
            v.addr("wan0", &format!("{}/24", underlay(n)))?;
            inet.addr(&format!("w{n}"), &format!("100.64.{n}.1/24"))?;
            v.route("default", &format!("100.64.{n}.1"))?;
            Ok(v)
        };
        let a = vcpe(1, "a")?;
        let ha = lab.netns("ha")?;
        lab.veth(&a, "eth1", &ha, "eth0")?;
        a.addr("eth1", "10.1.1.1/24")?;
        ha.addr("eth0", "10.1.1.10/24")?;
        ha.route("default", "10.1.1.1")?;
        let da = Vcped::start(&a, lab.dir(), "vcped-a", &config_a(static_ecmp))?;
        a.route_dev("10.0.0.0/8", "vcpe0")?;
        let mut b = BTreeMap::new();
        for (name, n) in [("b1", 2u8), ("b2", 3u8)] {
            let ns = vcpe(n, name)?;
            ns.addr("lo", &format!("{BGP_SERVICE}/32"))?;
            ns.addr("lo", &format!("{STATIC_SERVICE}/32"))?;
            let d = Vcped::start(&ns, lab.dir(), &format!("vcped-{name}"), &config_b(n))?;
            ns.route_dev("10.0.0.0/8", "vcpe0")?;
            let responder = ns.spawn(
                &format!("responder-{name}"),
                ["python3", "-c", RESPONDER, name, &PORT.to_string()],
            )?;
            responder.wait_for_log("ready", Duration::from_secs(10))?;
            b.insert(name, (ns, d, responder));
        }
        Ok(Topology {
            a: (a, da),
            b,
            ha,
            lab,
        })
    }

    /// Both sessions of A Established, and each B has A's vxnet.
    fn converge(&self) -> Result<()> {
        let d = &self.a.1;
        let ok = wait_until(Duration::from_secs(60), || {
            d.bgp_summary()
                .is_ok_and(|ns| ns.len() == 2 && ns.iter().all(|x| x.state == "Established"))
        });
        ensure!(
            ok,
            "A's BGP sessions not Established after 60 s:\n{}",
            d.ctl(&["bgp", "summary"]).unwrap_or_default()
        );
        for (name, (_, db, _)) in &self.b {
            self.wait_learned(db, name)?;
        }
        Ok(())
    }

    /// `d` (B1 or B2) forwards A's vxnet by BGP.
    fn wait_learned(&self, d: &Vcped, name: &str) -> Result<()> {
        let ok = wait_until(Duration::from_secs(30), || {
            d.show_route(&[])
                .is_ok_and(|v| v.best("10.1.1.0/24").is_some())
        });
        ensure!(
            ok,
            "{name} did not learn 10.1.1.0/24:\n{}",
            d.ctl(&["show", "route"]).unwrap_or_default()
        );
        Ok(())
    }

    /// Waits until A's FIB sends 10.50.0.0/24 to `members` (tunnel names).
    fn wait_members(&self, members: &[&str]) -> Result<()> {
        let d = &self.a.1;
        let ok = wait_until(Duration::from_secs(30), || {
            d.explain(BGP_SERVICE).is_ok_and(|e| {
                let mut names: Vec<String> = e.hops.iter().filter_map(|h| h.name.clone()).collect();
                names.sort();
                names == members
            })
        });
        ensure!(
            ok,
            "A does not send {BGP_SERVICE} to {members:?}:\n{}",
            d.ctl(&["explain", BGP_SERVICE]).unwrap_or_default()
        );
        Ok(())
    }

    /// `rounds` rounds of the 64 flows to `dst`: per flow, who answered
    /// each round.
    fn flows(&self, dst: &str, rounds: u8) -> Result<Vec<Vec<Option<String>>>> {
        let out = self.ha.run_ok([
            "python3",
            "-c",
            CLIENT,
            dst,
            &PORT.to_string(),
            &BASE_PORT.to_string(),
            &FLOWS.to_string(),
            &rounds.to_string(),
        ])?;
        serde_json::from_str(out.trim()).with_context(|| format!("client output: {out}"))
    }

    /// Packets A sent into each tunnel so far.
    fn tx(&self) -> Result<BTreeMap<String, u64>> {
        Ok(self
            .a
            .1
            .tunnels()?
            .into_iter()
            .map(|t| (t.name, t.tx_packets))
            .collect())
    }

    fn print_logs(&self) {
        self.a.1.daemon.print_log();
        for (_, d, r) in self.b.values() {
            d.daemon.print_log();
            r.print_log();
        }
        let _ = &self.lab;
    }
}

/// Each flow's one responder over every round; fails if a flow changed
/// path or got no answer at all (single lost datagrams are tolerated).
fn paths(rounds: &[Vec<Option<String>>]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (i, r) in rounds.iter().enumerate() {
        let mut distinct: Vec<&String> = r.iter().flatten().collect();
        distinct.sort();
        distinct.dedup();
        match distinct.as_slice() {
            [one] => out.push((*one).clone()),
            [] => bail!(
                "flow {i} (source port {}) got no answer: {r:?}",
                BASE_PORT + i as u16
            ),
            _ => bail!(
                "flow {i} (source port {}) changed path: {r:?}",
                BASE_PORT + i as u16
            ),
        }
    }
    Ok(out)
}

/// The two tunnels' shares of the packets sent between `before` and
/// `after`, each within 25-75%.
fn check_spread(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> Result<()> {
    let d = |t: &str| after.get(t).copied().unwrap_or(0) - before.get(t).copied().unwrap_or(0);
    let (b1, b2) = (d("b1"), d("b2"));
    let total = (b1 + b2) as f64;
    eprintln!("packets into tunnel b1: {b1}, b2: {b2}");
    ensure!(total > 0.0, "no packets into either tunnel");
    for (name, n) in [("b1", b1), ("b2", b2)] {
        let share = n as f64 / total;
        ensure!(
            (0.25..=0.75).contains(&share),
            "tunnel {name} carried {n} of {total} packets ({:.0}%), outside 25-75%",
            share * 100.0
        );
    }
    Ok(())
}

/// The flows' spread over the two B's (each between 25% and 75%).
fn check_flow_split(on: &[String]) -> Result<()> {
    let b1 = on.iter().filter(|n| *n == "b1").count();
    eprintln!("flows via b1: {b1}, via b2: {}", on.len() - b1);
    ensure!(
        (16..=48).contains(&b1),
        "{b1} of {FLOWS} flows via b1, {} via b2: not between 25% and 75%",
        on.len() - b1
    );
    Ok(())
}

/// `explain DST --from ha --proto udp` names, for a few flows, the member
/// the flow really took.
fn check_explain(d: &Vcped, dst: &str, on: &[String]) -> Result<()> {
    for i in [0u16, 1, 2, 3, 17, 42, 63] {
        let sport = (BASE_PORT + i).to_string();
        let reply = d.reply(&[
            "explain",
            dst,
            "--from",
            "10.1.1.10",
            "--proto",
            "udp",
            "--sport",
            &sport,
            "--dport",
            &PORT.to_string(),
        ])?;
        let vcpe_api::Reply::Explain(e) = reply else {
            bail!("explain {dst}: {reply:?}");
        };
        ensure!(e.hops.len() == 2, "explain {dst} lists {:?}", e.hops);
        let flow = e.flow.context("explain --from ... gave no flow")?;
        ensure!(
            flow.hop.name.as_deref() == Some(on[usize::from(i)].as_str()),
            "explain says the flow from port {sport} takes {:?}, it took {}",
            flow.hop.name,
            on[usize::from(i)]
        );
    }
    // In words: both members, one line each, the flow's marked.
    let text = d.ctl(&[
        "explain",
        dst,
        "--from",
        "10.1.1.10",
        "--proto",
        "udp",
        "--sport",
        &BASE_PORT.to_string(),
        "--dport",
        &PORT.to_string(),
    ])?;
    let taken = format!("=> peer {}", on[0]);
    ensure!(
        text.contains("2 equal-cost next hops")
            && text
                .lines()
                .filter(|l| l.trim_start().starts_with("- peer"))
                .count()
                == 1
            && text.lines().any(|l| l.trim_start().starts_with(&taken)),
        "vcpectl explain {dst} --from ...:\n{text}"
    );
    Ok(())
}

/// BGP multipath: both paths installed, flows spread and stable, one B
/// dies and everything goes to the other, it returns and only its flows
/// move back.
#[test]
fn bgp_multipath_spreads_flows_and_fails_over() -> Result<()> {
    require_root!();
    require_tool("python3", "apt-get install -y python3");
    let mut t = Topology::build("ecmpbgp", false)?;
    let r = (|| -> Result<()> {
        t.converge()?;
        t.wait_members(&["b1", "b2"])?;
        let d = &t.a.1;
        // show route: the best path and the equal one, both in the FIB.
        let rib = d.show_route(&["10.50.0.0/24"])?;
        let rows = rib.rows("10.50.0.0/24");
        ensure!(
            rows.iter().filter(|r| r.best).count() == 1
                && rows.iter().filter(|r| r.multipath).count() == 1,
            "show route 10.50.0.0/24: {rows:?}"
        );
        let text = d.ctl(&["show", "route", "10.50.0.0/24"])?;
        ensure!(
            text.lines().any(|l| l.starts_with("*>")) && text.lines().any(|l| l.starts_with("*=")),
            "vcpectl show route 10.50.0.0/24:\n{text}"
        );
        let before = t.tx()?;
        let on = paths(&t.flows(BGP_SERVICE, 10)?)?;
        let after = t.tx()?;
        check_spread(&before, &after)?;
        check_flow_split(&on)?;
        check_explain(d, BGP_SERVICE, &on)?;

        // B1 dies without a word; BFD (300 ms x 3, multihop through the
        // tunnel) takes its path out well before the hold timer (3 s).
        let b1 = t.b.remove("b1").context("b1")?;
        let (b1_ns, b1_vcped, b1_responder) = b1;
        let killed = std::time::Instant::now();
        std::process::Command::new("kill")
            .args(["-KILL", &b1_vcped.daemon.pid().to_string()])
            .status()?;
        t.wait_members(&["b2"])?;
        let took = killed.elapsed();
        eprintln!("b1 killed: out of a's ECMP group after {took:?}");
        ensure!(
            took < Duration::from_millis(1500),
            "b1's member left a's ECMP group {took:?} after b1 was killed; BFD 300 ms x 3 \
             should take it out in about 900 ms"
        );
        let during = paths(&t.flows(BGP_SERVICE, 3)?)?;
        ensure!(
            during.iter().all(|n| n == "b2"),
            "with b1 gone, flows still answered by {during:?}"
        );

        // B1 returns: only the flows that hash to it move back.
        drop(b1_vcped);
        let again = Vcped::start(&b1_ns, t.lab.dir(), "vcped-b1-again", &config_b(2))?;
        b1_ns.route_dev("10.0.0.0/8", "vcpe0")?;
        t.wait_learned(&again, "b1")?;
        t.b.insert("b1", (b1_ns, again, b1_responder));
        t.wait_members(&["b1", "b2"])?;
        let back = paths(&t.flows(BGP_SERVICE, 5)?)?;
        for (i, (was, now)) in on.iter().zip(&back).enumerate() {
            ensure!(
                was == now,
                "flow {i} was on {was} before b1 died, is on {now} after it returned \
                 (only b1's flows may move, and back to b1)"
            );
        }
        Ok(())
    })();
    if r.is_err() {
        t.print_logs();
    }
    r
}

/// A static route with `peers = ["b1", "b2"]`: one group of both tunnels,
/// flows spread and stable, `route show` and `explain` list both.
#[test]
fn static_route_over_two_peers_spreads_flows() -> Result<()> {
    require_root!();
    require_tool("python3", "apt-get install -y python3");
    let t = Topology::build("ecmpstatic", true)?;
    let r = (|| -> Result<()> {
        t.converge()?;
        let d = &t.a.1;
        let route = d.route_show("svc")?;
        ensure!(
            route.route.peers == ["b1", "b2"] && route.fib_state == "installed",
            "route show svc: {route:?}"
        );
        let before = t.tx()?;
        let on = paths(&t.flows(STATIC_SERVICE, 10)?)?;
        let after = t.tx()?;
        check_spread(&before, &after)?;
        check_flow_split(&on)?;
        check_explain(d, STATIC_SERVICE, &on)?;
        Ok(())
    })();
    if r.is_err() {
        t.print_logs();
    }
    r
}
