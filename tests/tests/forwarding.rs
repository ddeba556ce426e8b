//! Forwarding through `vcped`: two hosts, each on one of the daemon's TUN
//! devices, reach each other through the daemon; what it cannot forward it
//! answers with ICMP errors sourced from the ingress interface's address, and
//! it counts all of it in `vcpectl --json stats`.
//!
//! ```text
//!  netns A                          netns R: vcped                        netns B
//!  tun_a 10.0.1.2/24  <-- fd --  tun_a 10.0.1.1/24  |  tun_b 10.0.2.1/24  -- fd -->  tun_b 10.0.2.2/24
//!        fd00:1::2/64                fd00:1::1/64  FIB  fd00:2::1/64                   fd00:2::2/64
//!        mtu 1500                                                                       mtu 1400
//! ```
//!
//! The daemon creates both TUN devices in R; each test then moves them into
//! the hosts' namespaces (the daemon keeps using its file descriptors), so
//! every packet between A and B crosses the userspace dataplane.
//!
//! Needs root, `/dev/net/tun`, `ping`, `tracepath` (iputils-tracepath) and
//! `iperf3`; `traceroute` is used when installed. Build the daemon first:
//! `cargo build -p vcpe-daemon -p vcpectl`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;
use vcpe_api::Reply;
use vcpe_tests::names::ifname;
use vcpe_tests::process::run_ok;
use vcpe_tests::skip::find_tool;
use vcpe_tests::{Daemon, Lab, Netns, cargo_bin, has_tun, require_root, require_tool, wait_until};

/// The daemon's address on host A's side (source of ICMP errors for A).
const R_A4: &str = "10.0.1.1";
const R_A6: &str = "fd00:1::1";
const A4: &str = "10.0.1.2";
const A6: &str = "fd00:1::2";
const B4: &str = "10.0.2.2";
const B6: &str = "fd00:2::2";
/// Destinations the daemon has no route for.
const NOWHERE4: &str = "10.99.0.1";
const NOWHERE6: &str = "fd00:99::1";
/// MTU of B's link: the egress MTU for traffic from A to B.
const MTU_B: u32 = 1400;

/// Drop counters of `vcpectl --json stats`.
const DROPS: [&str; 8] = [
    "bad_header",
    "martian",
    "ttl_expired",
    "no_route",
    "blackhole",
    "too_big",
    "filtered",
    "no_egress",
];

/// `true` (after printing a `SKIP` line) when `/dev/net/tun` is missing.
fn tun_missing(test: &str) -> bool {
    if has_tun() {
        return false;
    }
    eprintln!(
        "SKIP {test}: /dev/net/tun is missing (run `modprobe tun`; in a container pass --device /dev/net/tun)"
    );
    true
}

/// Host A and host B joined through `vcped` in R (see the module docs).
struct TwoHosts {
    // Field order is drop order: stop the daemon before the namespaces go.
    daemon: Daemon,
    a: Netns,
    b: Netns,
    tun_a: String,
    tun_b: String,
    socket: PathBuf,
    vcpectl: PathBuf,
    _lab: Lab,
}

impl TwoHosts {
    /// Builds the topology, runs `body` on it and returns its result; on any
    /// failure after the daemon started, its log is printed.
    fn run(tag: &str, body: impl FnOnce(&TwoHosts) -> Result<()>) -> Result<()> {
        let t = Self::start(tag)?;
        let result = body(&t);
        if result.is_err() {
            t.daemon.print_log();
        }
        result
    }

    fn start(tag: &str) -> Result<Self> {
        let vcped = cargo_bin("vcped");
        let vcpectl = cargo_bin("vcpectl");
        let lab = Lab::new(tag)?;
        let (r, a, b) = (lab.netns("r")?, lab.netns("a")?, lab.netns("b")?);
        let (tun_a, tun_b) = (ifname(), ifname());
        let socket = lab.dir().join("vcped.sock");
        let config = lab.dir().join("vcped.toml");
        std::fs::write(&config, config_text(&socket, &tun_a, &tun_b))
            .with_context(|| format!("cannot write {}", config.display()))?;
        let daemon = r.spawn(
            "vcped",
            [
                vcped.as_os_str(),
                OsStr::new("run"),
                OsStr::new("--config"),
                config.as_os_str(),
            ],
        )?;
        let t = Self {
            daemon,
            a,
            b,
            tun_a,
            tun_b,
            socket,
            vcpectl,
            _lab: lab,
        };
        if let Err(e) = t.connect(&r) {
            t.daemon.print_log();
            return Err(e);
        }
        Ok(t)
    }

    /// Waits for the daemon and its TUN devices, then moves each TUN into its
    /// host and configures the host side.
    fn connect(&self, r: &Netns) -> Result<()> {
        let up = wait_until(Duration::from_secs(20), || {
            !self.daemon.is_running() || self.vcpectl(["status"]).is_ok()
        });
        ensure!(self.daemon.is_running(), "vcped exited during start-up");
        ensure!(
            up,
            "`vcpectl status` did not succeed within 20s of starting vcped"
        );

        // The daemon creates and configures the TUNs; check that it did before
        // taking them away (moving a link to another namespace drops its addresses).
        let expect = [
            (&self.tun_a, ["10.0.1.1/24", "fd00:1::1/64"], 1500),
            (&self.tun_b, ["10.0.2.1/24", "fd00:2::1/64"], MTU_B),
        ];
        for (tun, addrs, mtu) in &expect {
            let configured = || -> Result<bool> {
                let out = r.ip(["-o", "addr", "show", "dev", tun.as_str()])?;
                Ok(addrs.iter().all(|a| out.contains(&format!(" {a} "))))
            };
            let ok = wait_until(Duration::from_secs(10), || configured().unwrap_or(false));
            let links = r.ip(["addr"]).unwrap_or_else(|e| format!("{e:#}"));
            ensure!(
                ok,
                "vcped is up but TUN {tun} with addresses {addrs:?} is not in its namespace {}; `ip addr` there:\n{links}",
                r.name()
            );
            let link = r.ip(["-o", "link", "show", "dev", tun.as_str()])?;
            ensure!(
                link.contains(&format!(" mtu {mtu} ")),
                "TUN {tun} should have mtu {mtu}:\n{link}"
            );
            // No qdisc: the kernel's default on a multi-queue TUN costs
            // 24 MiB and most of a vcped's start-up (see link.rs).
            ensure!(
                link.contains(" qdisc noqueue "),
                "TUN {tun} should be queueless (qdisc noqueue):\n{link}"
            );
        }

        for (host, tun, v4, v6) in [
            (&self.a, &self.tun_a, "10.0.1.2/24", "fd00:1::2/64"),
            (&self.b, &self.tun_b, "10.0.2.2/24", "fd00:2::2/64"),
        ] {
            // Quiet hosts: no router solicitations, so every packet the daemon
            // sees comes from the test (the counter test counts exactly).
            for conf in ["default", "all"] {
                host.sysctl(&format!("net.ipv6.conf.{conf}.router_solicitations"), "0")?;
            }
            r.ip(["link", "set", tun.as_str(), "netns", host.name()])?;
            host.link_up(tun)?;
            host.addr(tun, v4)?;
            host.addr(tun, v6)?;
            host.route_dev("default", tun)?;
            host.ip(["-6", "route", "add", "default", "dev", tun.as_str()])?;
        }
        Ok(())
    }

    /// Runs `vcpectl --socket S ARGS...` (in the root namespace: the control
    /// socket is a file in the lab's dir) and returns stdout; an error with
    /// its output unless it exits 0 within 10 s.
    fn vcpectl<I, S>(&self, args: I) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = std::process::Command::new(&self.vcpectl);
        cmd.arg("--socket").arg(&self.socket).args(args);
        let out = run_ok(&mut cmd, Duration::from_secs(10))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn stats(&self) -> Result<Stats> {
        Stats::parse(&self.vcpectl(["--json", "stats"])?)
    }
}

/// The daemon config for the two-host topology.
fn config_text(socket: &Path, tun_a: &str, tun_b: &str) -> String {
    format!(
        r#"[router]
id = "10.0.1.1"
asn = 65001

[control]
socket = "{socket}"

[kernel]
route_sync = false

[forwarding]
icmp_rate_limit = 10000
workers = 2

[[interface]]
name = "{tun_a}"
addresses = ["10.0.1.1/24", "fd00:1::1/64"]
mtu = 1500

[[interface]]
name = "{tun_b}"
addresses = ["10.0.2.1/24", "fd00:2::1/64"]
mtu = {MTU_B}
"#,
        socket = socket.display()
    )
}

/// `vcpectl --json stats`, with lookups that fail with a readable error.
#[derive(Debug, Clone)]
struct Stats(vcpe_api::Stats);

impl Stats {
    fn parse(text: &str) -> Result<Self> {
        let reply: Reply = serde_json::from_str(text)
            .with_context(|| format!("`vcpectl --json stats` printed invalid JSON:\n{text}"))?;
        match reply {
            Reply::Stats(s) => Ok(Self(*s)),
            other => bail!("`vcpectl --json stats` answered {other:?}"),
        }
    }

    fn counter(&self, section: &str, name: &str) -> Result<u64> {
        let map = match section {
            "drops" => &self.0.drops,
            "events" => &self.0.events,
            _ => bail!("stats have no section {section}"),
        };
        map.get(name)
            .copied()
            .with_context(|| format!("stats have no counter {section}.{name}: {:?}", self.0))
    }

    fn drop_count(&self, name: &str) -> Result<u64> {
        self.counter("drops", name)
    }

    fn event(&self, name: &str) -> Result<u64> {
        self.counter("events", name)
    }

    fn iface(&self, iface: &str, field: &str) -> Result<u64> {
        let entry = self
            .0
            .interfaces
            .iter()
            .find(|i| i.name == iface)
            .with_context(|| format!("no interface {iface:?} in stats: {:?}", self.0))?;
        Ok(match field {
            "rx_packets" => entry.rx_packets,
            "rx_bytes" => entry.rx_bytes,
            "tx_packets" => entry.tx_packets,
            "tx_bytes" => entry.tx_bytes,
            _ => bail!("interface {iface:?} has no counter {field}: {entry:?}"),
        })
    }
}

/// Output of a command that may fail (ping exits 1 when it got errors
/// instead of replies): stdout followed by stderr.
fn output<I, S>(ns: &Netns, argv: I) -> Result<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = ns.exec(argv)?;
    Ok(format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// Whether one line of `text` contains all of `needles`.
fn has_line(text: &str, needles: &[&str]) -> bool {
    text.lines().any(|l| needles.iter().all(|n| l.contains(n)))
}

/// `ping ARGS... DEST` from `from`, expecting an ICMP error: one line holding
/// `From {source}` and `message` (one of `messages`). Returns the output.
fn expect_icmp_error(
    from: &Netns,
    args: &[&str],
    dest: &str,
    source: &str,
    messages: &[&str],
) -> Result<String> {
    let mut argv = vec!["ping"];
    argv.extend_from_slice(args);
    argv.push(dest);
    let out = output(from, &argv)?;
    let src = format!("From {source} ");
    ensure!(
        messages.iter().any(|m| has_line(&out, &[&src, m])),
        "`{}` in {}: expected a line with {src:?} and one of {messages:?}, got:\n{out}",
        argv.join(" "),
        from.name()
    );
    Ok(out)
}

/// `ping -c COUNT -i 0.2 -W 2 DEST` from `from`; every echo must be answered by `dest`.
fn ping_ok(from: &Netns, dest: &str, count: u32) -> Result<()> {
    let count = count.to_string();
    let argv = ["ping", "-c", &count, "-i", "0.2", "-W", "2", dest];
    let out = from.run_ok(argv)?;
    ensure!(
        out.contains(&format!("from {dest}: icmp_seq="))
            && out.contains(&format!("{count} packets transmitted, {count} received")),
        "`{}` in {}: not every echo was answered by {dest}:\n{out}",
        argv.join(" "),
        from.name()
    );
    Ok(())
}

/// Number of packets a ping run reports it transmitted.
fn transmitted(ping_output: &str) -> Result<u64> {
    ping_output
        .lines()
        .find_map(|l| {
            l.split_once(" packets transmitted")
                .map(|(n, _)| n.trim().parse().ok())
        })
        .flatten()
        .with_context(|| format!("no \"N packets transmitted\" in ping output:\n{ping_output}"))
}

#[test]
fn hosts_ping_each_other_through_vcped_v4_and_v6() -> Result<()> {
    require_root!();
    if tun_missing("hosts_ping_each_other_through_vcped_v4_and_v6") {
        return Ok(());
    }
    TwoHosts::run("fwd-ping", |t| {
        ping_ok(&t.a, B4, 3)?;
        ping_ok(&t.b, A4, 3)?;
        ping_ok(&t.a, B6, 3)?;
        ping_ok(&t.b, A6, 3)?;
        Ok(())
    })
}

#[test]
fn ttl_one_gets_time_exceeded_from_the_ingress_address() -> Result<()> {
    require_root!();
    if tun_missing("ttl_one_gets_time_exceeded_from_the_ingress_address") {
        return Ok(());
    }
    TwoHosts::run("fwd-ttl", |t| {
        expect_icmp_error(
            &t.a,
            &["-c1", "-W2", "-t", "1"],
            B4,
            R_A4,
            &["Time to live exceeded"],
        )?;
        expect_icmp_error(
            &t.a,
            &["-6", "-c1", "-W2", "-t", "1"],
            B6,
            R_A6,
            &["Time exceeded: Hop limit"],
        )?;
        // TTL 2 is enough to get through: the daemon is one hop.
        ping_ok(&t.a, B4, 1)?;

        if find_tool("traceroute").is_none() {
            eprintln!(
                "NOTE: traceroute is not installed (apt-get install -y traceroute); checked with ping only"
            );
            return Ok(());
        }
        for (family, dest, hop1) in [("-4", B4, R_A4), ("-6", B6, R_A6)] {
            let argv = [
                "traceroute",
                family,
                "-n",
                "-N",
                "1",
                "-q",
                "1",
                "-w",
                "2",
                "-m",
                "4",
                dest,
            ];
            let out = t.a.run_ok(argv)?;
            let hops: Vec<Vec<&str>> = out
                .lines()
                .skip(1)
                .map(|l| l.split_whitespace().collect())
                .collect();
            ensure!(
                hops.len() == 2
                    && hops[0].get(..2) == Some(&["1", hop1][..])
                    && hops[1].get(..2) == Some(&["2", dest][..]),
                "`{}`: expected hop 1 {hop1} and hop 2 {dest}, got:\n{out}",
                argv.join(" ")
            );
        }
        Ok(())
    })
}

#[test]
fn no_route_gets_destination_unreachable() -> Result<()> {
    require_root!();
    if tun_missing("no_route_gets_destination_unreachable") {
        return Ok(());
    }
    TwoHosts::run("fwd-noroute", |t| {
        t.a.route_dev("10.99.0.0/16", &t.tun_a)?;
        t.a.ip([
            "-6",
            "route",
            "add",
            "fd00:99::/32",
            "dev",
            t.tun_a.as_str(),
        ])?;
        expect_icmp_error(
            &t.a,
            &["-c1", "-W2"],
            NOWHERE4,
            R_A4,
            &[
                "Destination Net Unreachable",
                "Destination Host Unreachable",
            ],
        )?;
        expect_icmp_error(
            &t.a,
            &["-6", "-c1", "-W2"],
            NOWHERE6,
            R_A6,
            &[
                "Destination unreachable: No route",
                "Destination unreachable: Address unreachable",
            ],
        )?;
        // Routed destinations still work right after.
        ping_ok(&t.a, B4, 1)?;
        ping_ok(&t.a, B6, 1)?;
        Ok(())
    })
}

#[test]
fn too_big_gets_frag_needed_or_packet_too_big_with_the_egress_mtu() -> Result<()> {
    require_root!();
    if tun_missing("too_big_gets_frag_needed_or_packet_too_big_with_the_egress_mtu") {
        return Ok(());
    }
    require_tool("tracepath", "apt-get install -y iputils-tracepath");
    TwoHosts::run("fwd-mtu", |t| {
        // 1472 + 8 + 20 = 1500 bytes with DF: fits A's link, not B's (1400).
        expect_icmp_error(
            &t.a,
            &["-c1", "-W2", "-M", "do", "-s", "1472"],
            B4,
            R_A4,
            &["Frag needed and DF set (mtu = 1400)"],
        )?;
        // 1452 + 8 + 40 = 1500 bytes; IPv6 routers never fragment.
        expect_icmp_error(
            &t.a,
            &["-6", "-c1", "-W2", "-M", "do", "-s", "1452"],
            B6,
            R_A6,
            &["Packet too big: mtu=1400"],
        )?;
        // Exactly the egress MTU passes (1372 + 28 = 1400, 1352 + 48 = 1400).
        t.a.run_ok(["ping", "-c1", "-W2", "-M", "do", "-s", "1372", B4])?;
        t.a.run_ok(["ping", "-6", "-c1", "-W2", "-M", "do", "-s", "1352", B6])?;

        let out = t.a.run_ok(["tracepath", "-n", "-m", "5", B4])?;
        ensure!(
            out.contains(&format!("pmtu {MTU_B}")) && out.contains("reached"),
            "`tracepath -n -m 5 {B4}`: expected to reach {B4} with pmtu {MTU_B}, got:\n{out}"
        );
        let resume = out.lines().find(|l| l.contains("Resume:")).unwrap_or("");
        ensure!(
            resume.contains(&format!("pmtu {MTU_B} ")),
            "tracepath summary should say pmtu {MTU_B}:\n{out}"
        );
        Ok(())
    })
}

#[test]
fn counters_match_the_traffic_sent() -> Result<()> {
    require_root!();
    if tun_missing("counters_match_the_traffic_sent") {
        return Ok(());
    }
    TwoHosts::run("fwd-counters", |t| {
        const N: u64 = 10;
        let before = t.stats()?;
        ping_ok(&t.a, B4, 10)?;

        // Probes the daemon must drop, each answered by one ICMP error.
        // The too-big probes set DF (`-M do`); A learns the path MTU from the
        // first error, so each of those is sent as its own one-packet ping
        // after flushing A's route cache: every probe really leaves A at 1500
        // bytes. (iputils 20221126 has no `-M probe`.)
        let probes: [(&str, u64, &[&str], &str); 8] = [
            ("ttl_expired", 3, &["-t", "1"], B4),
            ("ttl_expired", 2, &["-6", "-t", "1"], B6),
            ("no_route", 2, &[], NOWHERE4),
            ("no_route", 2, &["-6"], NOWHERE6),
            ("too_big", 1, &["-M", "do", "-s", "1472"], B4),
            ("too_big", 1, &["-M", "do", "-s", "1472"], B4),
            ("too_big", 1, &["-6", "-M", "do", "-s", "1452"], B6),
            ("too_big", 1, &["-6", "-M", "do", "-s", "1452"], B6),
        ];
        let mut expected = std::collections::BTreeMap::new();
        let mut sent = 0;
        for (counter, count, args, dest) in probes {
            if counter == "too_big" {
                let family = if args.contains(&"-6") { "-6" } else { "-4" };
                t.a.run_ok(["ip", family, "route", "flush", "cache"])?;
            }
            let count_arg = count.to_string();
            let mut argv = vec!["ping", "-c", &count_arg, "-i", "0.2", "-W", "1"];
            argv.extend_from_slice(args);
            argv.push(dest);
            let out = output(&t.a, &argv)?;
            let n = transmitted(&out)?;
            ensure!(
                n == count,
                "`{}` sent {n} packets, not {count}:\n{out}",
                argv.join(" ")
            );
            *expected.entry(counter).or_insert(0) += n;
            sent += n;
        }

        // Counters are summed from the workers when read; allow them a moment.
        let settled = wait_until(Duration::from_secs(3), || {
            t.stats().is_ok_and(|s| {
                s.event("icmp_sent")
                    .is_ok_and(|v| v >= before.event("icmp_sent").unwrap_or(0) + sent)
            })
        });
        let after = t.stats()?;
        let delta = |f: &dyn Fn(&Stats) -> Result<u64>| -> Result<u64> {
            Ok(f(&after)?.saturating_sub(f(&before)?))
        };
        let mut problems = Vec::new();
        for name in DROPS {
            let got = delta(&|s| s.drop_count(name))?;
            let want = expected.get(name).copied().unwrap_or(0);
            if got != want {
                problems.push(format!(
                    "drops.{name} rose by {got}, expected exactly {want}"
                ));
            }
        }
        for (name, want) in [("icmp_sent", sent), ("icmp_rate_limited", 0)] {
            let got = delta(&|s| s.event(name))?;
            if got != want {
                problems.push(format!(
                    "events.{name} rose by {got}, expected exactly {want}"
                ));
            }
        }
        // Every packet A sent reached the daemon on tun_a; the N echoes and
        // their replies crossed both ways.
        let min_packets = [
            (&t.tun_a, "rx_packets", N + sent),
            (&t.tun_b, "tx_packets", N),
            (&t.tun_b, "rx_packets", N),
            (&t.tun_a, "tx_packets", N),
        ];
        for (tun, field, min) in min_packets {
            let got = delta(&|s| s.iface(tun, field))?;
            if got < min {
                problems.push(format!(
                    "{tun}.{field} rose by {got}, expected at least {min}"
                ));
            }
        }
        // A v4 echo of ping's default 56 data bytes is 84 bytes on the wire.
        for (tun, field) in [
            (&t.tun_a, "rx_bytes"),
            (&t.tun_b, "tx_bytes"),
            (&t.tun_b, "rx_bytes"),
            (&t.tun_a, "tx_bytes"),
        ] {
            let got = delta(&|s| s.iface(tun, field))?;
            if got < N * 84 {
                problems.push(format!(
                    "{tun}.{field} rose by {got}, expected at least {}",
                    N * 84
                ));
            }
        }
        if !problems.is_empty() {
            bail!(
                "counters do not match the traffic (settled: {settled}):\n  {}\nbefore: {}\nafter:  {}",
                problems.join("\n  "),
                serde_json::to_string(&before.0).unwrap_or_default(),
                serde_json::to_string(&after.0).unwrap_or_default()
            );
        }
        Ok(())
    })
}

#[test]
fn iperf3_tcp_both_directions_v4_and_v6() -> Result<()> {
    require_root!();
    if tun_missing("iperf3_tcp_both_directions_v4_and_v6") {
        return Ok(());
    }
    require_tool("iperf3", "apt-get install -y iperf3");
    TwoHosts::run("fwd-iperf", |t| {
        let _server = t.b.spawn("iperf3", ["iperf3", "-s"])?;
        let listening = wait_until(Duration::from_secs(10), || {
            t.b.run_ok(["ss", "-Hltn", "sport", "=", ":5201"])
                .is_ok_and(|out| !out.trim().is_empty())
        });
        ensure!(
            listening,
            "iperf3 server in {} is not listening on 5201",
            t.b.name()
        );
        for (dest, reverse) in [(B4, false), (B4, true), (B6, false)] {
            let mut argv = vec![
                "iperf3",
                "-c",
                dest,
                "-t",
                "3",
                "--json",
                "--connect-timeout",
                "5000",
            ];
            if reverse {
                argv.push("-R");
            }
            let out = t.a.exec_timeout(&argv, Duration::from_secs(40))?;
            let text = String::from_utf8_lossy(&out.stdout);
            let report: Value = serde_json::from_str(&text).with_context(|| {
                format!(
                    "`{}` printed no JSON report ({}):\n{text}{}",
                    argv.join(" "),
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                )
            })?;
            ensure!(
                out.status.success() && report.get("error").is_none(),
                "`{}` failed ({}): {}",
                argv.join(" "),
                out.status,
                report.get("error").unwrap_or(&Value::Null)
            );
            let received = &report["end"]["sum_received"];
            let bytes = received["bytes"].as_u64().unwrap_or(0);
            ensure!(
                bytes > 0,
                "`{}` received no bytes: {received}",
                argv.join(" ")
            );
            eprintln!(
                "iperf3 -c {dest}{}: {bytes} bytes, {:.1} Mbit/s",
                if reverse { " -R" } else { "" },
                received["bits_per_second"].as_f64().unwrap_or(0.0) / 1e6
            );
        }
        Ok(())
    })
}
