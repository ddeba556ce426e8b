//! The Prometheus endpoint of a real `vcped`: `GET /metrics` from inside
//! its namespace, parsed with a Prometheus text parser, shows the same
//! numbers as `vcpectl --json stats` / `bgp summary` / `status`, with a BGP
//! session to a second vcped up and pings crossing the dataplane.
//!
//! ```text
//!  netns A             netns R: vcped-r (metrics on 127.0.0.1:9477)        netns B
//!  tun_a 10.0.1.2 <-fd- tun_a 10.0.1.1 | tun_b 10.0.2.1 -fd-> tun_b 10.0.2.2
//!                       eth0 10.99.0.1 ── BGP ── eth0 10.99.0.2  netns P: vcped-p
//! ```
//!
//! As in `forwarding.rs`, vcped-r creates both TUNs and the test moves them
//! into the hosts' namespaces. Needs root, `/dev/net/tun` and `ping`.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use prometheus_parse::{Sample, Value as PromValue};
use vcpe_api::{BgpNeighbor, Reply, Stats};
use vcpe_tests::names::ifname;
use vcpe_tests::netns::NETNS_RUN_DIR;
use vcpe_tests::{Lab, Netns, Vcped, has_tun, require_root, require_tool, wait_until};

/// Where vcped-r serves metrics, inside its namespace.
const METRICS: &str = "127.0.0.1:9477";
const R_UNDERLAY: &str = "10.99.0.1";
const P_UNDERLAY: &str = "10.99.0.2";
const PINGS: u64 = 5;

fn config_r(tun_a: &str, tun_b: &str) -> String {
    format!(
        r#"[router]
id = "{R_UNDERLAY}"
asn = 65001

[metrics]
listen = "{METRICS}"

[kernel]
route_sync = false

[forwarding]
workers = 1

[[interface]]
name = "{tun_a}"
addresses = ["10.0.1.1/24"]

[[interface]]
name = "{tun_b}"
addresses = ["10.0.2.1/24"]

[[route]]
name = "far-a"
prefix = "10.8.0.0/16"
interface = "{tun_a}"
advertise = true

[[route]]
name = "far-b"
prefix = "10.9.0.0/16"
interface = "{tun_b}"
advertise = true

[bgp]
listen = "{R_UNDERLAY}:179"

[[bgp.neighbor]]
address = "{P_UNDERLAY}"
remote_as = 65002
description = "vcped-p"
hold_time = 9
"#
    )
}

fn config_p(tun: &str) -> String {
    format!(
        r#"[router]
id = "{P_UNDERLAY}"
asn = 65002

[kernel]
route_sync = false

[forwarding]
workers = 1

[[interface]]
name = "{tun}"
addresses = ["10.50.0.1/24"]

[[route]]
name = "p-one"
prefix = "10.50.0.0/24"
interface = "{tun}"
advertise = true

[[route]]
name = "p-two"
prefix = "10.51.0.0/16"
interface = "{tun}"
advertise = true

[[route]]
name = "p-three"
prefix = "10.52.0.0/16"
interface = "{tun}"
advertise = true

[bgp]
listen = "{P_UNDERLAY}:179"

[[bgp.neighbor]]
address = "{R_UNDERLAY}"
remote_as = 65001
hold_time = 9
"#
    )
}

/// A raw HTTP/1.1 request from a thread of this process that joined `ns`'s
/// network namespace (`setns` changes only the calling thread): the same
/// path a Prometheus running next to vcped takes. Returns the status code,
/// the lower-cased head and the body.
fn http_in(ns: &Netns, method: &str, path: &str) -> Result<(u16, String, String)> {
    let handle = format!("{NETNS_RUN_DIR}/{}", ns.name());
    let (method, path) = (method.to_owned(), path.to_owned());
    let raw = std::thread::spawn(move || -> Result<String> {
        let f = File::open(&handle).with_context(|| format!("opening {handle}"))?;
        // SAFETY: `f` is an open namespace handle; CLONE_NEWNET moves only
        // this thread, which ends after the request.
        if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            bail!("setns {handle}: {}", std::io::Error::last_os_error());
        }
        let addr: SocketAddr = METRICS.parse()?;
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .with_context(|| format!("connecting to {METRICS} in the namespace"))?;
        s.set_read_timeout(Some(Duration::from_secs(15)))?;
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {METRICS}\r\nConnection: close\r\n\r\n"
        )?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    })
    .join()
    .map_err(|_| anyhow::anyhow!("HTTP thread panicked"))??;
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .with_context(|| format!("no end of HTTP head in {raw:?}"))?;
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("no status code in {head:?}"))?;
    Ok((code, head.to_lowercase(), body.to_owned()))
}

/// The samples of one scrape.
struct Metrics(Vec<Sample>);

impl Metrics {
    fn fetch(ns: &Netns) -> Result<Metrics> {
        let (code, head, body) = http_in(ns, "GET", "/metrics")?;
        ensure!(code == 200, "GET /metrics: {code}\n{head}\n{body}");
        ensure!(
            head.contains("content-type: text/plain; version=0.0.4"),
            "GET /metrics content type:\n{head}"
        );
        let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned())))
            .context("parsing /metrics")?;
        ensure!(!scrape.samples.is_empty(), "no samples in:\n{body}");
        Ok(Metrics(scrape.samples))
    }

    /// The value of `metric` whose labels include `labels`.
    fn get(&self, metric: &str, labels: &[(&str, &str)]) -> Result<u64> {
        let s = self
            .0
            .iter()
            .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .with_context(|| {
                let names: Vec<_> = self.0.iter().map(|s| s.metric.as_str()).collect();
                format!("no sample {metric}{labels:?}; metrics: {names:?}")
            })?;
        let v = match s.value {
            PromValue::Counter(v) | PromValue::Gauge(v) | PromValue::Untyped(v) => v,
            _ => bail!("{metric} is not a plain number"),
        };
        ensure!(v >= 0.0 && v.fract() == 0.0, "{metric}{labels:?} = {v}");
        Ok(v as u64)
    }

    fn label(&self, metric: &str, label: &str) -> Result<String> {
        self.0
            .iter()
            .find(|s| s.metric == metric)
            .and_then(|s| s.labels.get(label))
            .map(str::to_owned)
            .with_context(|| format!("no {metric} with label {label}"))
    }
}

/// A count `vcpectl` reported, as the metrics compare it.
fn u(v: usize) -> u64 {
    v as u64
}

/// A counter of `bgp summary`'s first neighbor, by field name.
fn first_neighbor(s: &[BgpNeighbor], field: &str) -> Result<u64> {
    let n = s.first().context("no neighbor in bgp summary")?;
    Ok(match field {
        "received" => n.received,
        "accepted" => n.accepted,
        "advertised" => n.advertised,
        "established_transitions" => n.established_transitions,
        "messages_in" => n.messages_in,
        "messages_out" => n.messages_out,
        _ => bail!("bgp summary has no counter {field}: {n:?}"),
    })
}

/// `before <= metric <= after`: counters read between two `vcpectl` calls.
fn between(what: &str, before: u64, metric: u64, after: u64) -> Result<()> {
    ensure!(
        before <= metric && metric <= after,
        "{what}: metric {metric} outside vcpectl's {before}..={after}"
    );
    Ok(())
}

fn established(v: &Vcped) -> bool {
    v.bgp_summary().is_ok_and(|s| {
        s.first()
            .is_some_and(|n| n.state == "Established" && n.received == 3)
    })
}

#[test]
fn metrics_match_vcpectl_with_bgp_up_and_traffic() -> Result<()> {
    require_root!();
    require_tool("ping", "apt-get install -y iputils-ping");
    if !has_tun() {
        eprintln!("SKIP metrics_match_vcpectl_with_bgp_up_and_traffic: /dev/net/tun is missing");
        return Ok(());
    }
    let lab = Lab::new("metrics")?;
    let (r, p, a, b) = (
        lab.netns("r")?,
        lab.netns("p")?,
        lab.netns("a")?,
        lab.netns("b")?,
    );
    lab.veth(&r, "eth0", &p, "eth0")?;
    r.addr("eth0", &format!("{R_UNDERLAY}/24"))?;
    p.addr("eth0", &format!("{P_UNDERLAY}/24"))?;
    let (tun_a, tun_b, tun_p) = (ifname(), ifname(), ifname());
    let vr = Vcped::start(&r, lab.dir(), "vcped-r", &config_r(&tun_a, &tun_b))?;
    let mut vp = Vcped::start(&p, lab.dir(), "vcped-p", &config_p(&tun_p))?;
    let result = check(&r, &a, &b, &tun_a, &tun_b, &vr, &mut vp);
    if result.is_err() {
        vr.daemon.print_log();
        vp.daemon.print_log();
    }
    result
}

fn check(
    r: &Netns,
    a: &Netns,
    b: &Netns,
    tun_a: &str,
    tun_b: &str,
    vr: &Vcped,
    vp: &mut Vcped,
) -> Result<()> {
    // Hosts A and B on vcped-r's TUNs, quiet (no router solicitations).
    for (host, tun, addr) in [(a, tun_a, "10.0.1.2/24"), (b, tun_b, "10.0.2.2/24")] {
        for conf in ["default", "all"] {
            host.sysctl(&format!("net.ipv6.conf.{conf}.router_solicitations"), "0")?;
        }
        let moved = wait_until(Duration::from_secs(10), || {
            r.ip(["link", "set", tun, "netns", host.name()]).is_ok()
        });
        ensure!(moved, "TUN {tun} did not appear in {}", r.name());
        host.link_up(tun)?;
        host.addr(tun, addr)?;
        host.route_dev("default", tun)?;
    }
    ensure!(
        wait_until(Duration::from_secs(40), || established(vr)),
        "BGP between vcped-r and vcped-p did not come up with 3 prefixes:\n{}",
        vr.ctl(&["bgp", "summary"]).unwrap_or_default()
    );
    let count = PINGS.to_string();
    let out = a.run_ok(["ping", "-c", &count, "-i", "0.2", "-W", "2", "10.0.2.2"])?;
    ensure!(
        out.contains(&format!("{PINGS} packets transmitted, {PINGS} received")),
        "pings from A to B through vcped-r were not all answered:\n{out}"
    );

    // vcpectl before and after the scrape: counters that move are between.
    let status = |v: &Vcped| match v.reply(&["status"])? {
        Reply::Status(s) => Ok(s),
        other => bail!("vcpectl status: {other:?}"),
    };
    let status0 = status(vr)?;
    let stats0 = vr.stats()?;
    let bgp0 = vr.bgp_summary()?;
    let m = Metrics::fetch(r)?;
    let stats1 = vr.stats()?;
    let bgp1 = vr.bgp_summary()?;
    let status1 = status(vr)?;

    ensure!(m.label("vcpe_build_info", "version")? == status0.version);
    ensure!(m.label("vcpe_router_info", "router_id")? == R_UNDERLAY);
    // Events are timestamps: the start time agrees with the uptime.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let start = m.get("process_start_time_seconds", &[])?;
    let from_uptime = now - status1.uptime_secs;
    ensure!(
        start.abs_diff(from_uptime) <= 3,
        "process_start_time_seconds {start}, now - uptime {from_uptime}"
    );
    ensure!(m.get("process_open_fds", &[])? > 3);
    ensure!(m.get("process_resident_memory_bytes", &[])? > 1 << 20);
    ensure!(m.label("vcpe_bgp_neighbor_info", "remote_as")? == "65002");
    ensure!(m.label("vcpe_bgp_neighbor_info", "description")? == "vcped-p");
    let since = bgp1
        .first()
        .and_then(|n| n.since_secs)
        .context("no since_secs")?;
    let changed = m.get(
        "vcpe_bgp_session_last_change_timestamp_seconds",
        &[("neighbor", P_UNDERLAY)],
    )?;
    ensure!(
        changed.abs_diff(now - since) <= 3,
        "last change {changed}, now - since {}",
        now - since
    );
    ensure!(
        m.get(
            "vcpe_scrape_collector_success",
            &[("collector", "dataplane")]
        )? == 1
    );
    ensure!(m.get("vcpe_scrape_collector_success", &[("collector", "bgp")])? == 1);

    // Interfaces: A's pings come in on tun_a and go out on tun_b.
    let ifaces = |s: &Stats, name: &str, field: &str| -> Result<u64> {
        let i = s
            .interfaces
            .iter()
            .find(|i| i.name == name)
            .with_context(|| format!("no interface {name} in {s:?}"))?;
        Ok(match field {
            "rx_packets" => i.rx_packets,
            "rx_bytes" => i.rx_bytes,
            "tx_packets" => i.tx_packets,
            "tx_bytes" => i.tx_bytes,
            _ => bail!("interface {name} has no counter {field}: {i:?}"),
        })
    };
    for tun in [tun_a, tun_b] {
        for (field, metric) in [
            ("rx_packets", "vcpe_interface_receive_packets_total"),
            ("rx_bytes", "vcpe_interface_receive_bytes_total"),
            ("tx_packets", "vcpe_interface_transmit_packets_total"),
            ("tx_bytes", "vcpe_interface_transmit_bytes_total"),
        ] {
            let v = m.get(metric, &[("interface", tun)])?;
            between(
                &format!("{metric}{{interface={tun}}}"),
                ifaces(&stats0, tun, field)?,
                v,
                ifaces(&stats1, tun, field)?,
            )?;
            ensure!(
                v >= PINGS,
                "{metric}{{interface={tun}}} = {v} < {PINGS} pings"
            );
        }
    }
    let drops = &stats1.drops;
    ensure!(!drops.is_empty(), "no drop reasons in {stats1:?}");
    for (reason, after) in drops {
        let before = stats0
            .drops
            .get(reason)
            .copied()
            .with_context(|| format!("no drop reason {reason} in {stats0:?}"))?;
        between(
            &format!("drops {reason}"),
            before,
            m.get("vcpe_dropped_packets_total", &[("reason", reason)])?,
            *after,
        )?;
    }
    for (family, before, after) in [
        ("ipv4", stats0.fib_v4_routes, stats1.fib_v4_routes),
        ("ipv6", stats0.fib_v6_routes, stats1.fib_v6_routes),
    ] {
        between(
            &format!("FIB {family}"),
            u(before.min(after)),
            m.get("vcpe_fib_routes", &[("family", family)])?,
            u(before.max(after)),
        )?;
    }
    let changes = m.get("vcpe_fib_route_changes_total", &[])?;
    between(
        "FIB route changes",
        stats0.fib_route_changes,
        changes,
        stats1.fib_route_changes,
    )?;
    // The initial load (connected + static) at least.
    ensure!(changes >= 4, "vcpe_fib_route_changes_total = {changes}");

    // BGP: the session to vcped-p, its 3 prefixes, our 2.
    let nb = [("neighbor", P_UNDERLAY)];
    ensure!(m.get("vcpe_bgp_session_established", &nb)? == 1);
    ensure!(
        m.get(
            "vcpe_bgp_session_state",
            &[("neighbor", P_UNDERLAY), ("state", "Established")]
        )? == 1
    );
    ensure!(
        m.get(
            "vcpe_bgp_session_state",
            &[("neighbor", P_UNDERLAY), ("state", "Idle")]
        )? == 0
    );
    for (field, metric) in [
        ("received", "vcpe_bgp_received_prefixes"),
        ("accepted", "vcpe_bgp_accepted_prefixes"),
        ("advertised", "vcpe_bgp_advertised_prefixes"),
        (
            "established_transitions",
            "vcpe_bgp_established_transitions_total",
        ),
    ] {
        let v = m.get(metric, &nb)?;
        let (before, after) = (first_neighbor(&bgp0, field)?, first_neighbor(&bgp1, field)?);
        ensure!(
            before == v && v == after,
            "{metric}: metric {v}, vcpectl {before} then {after}"
        );
    }
    ensure!(m.get("vcpe_bgp_received_prefixes", &nb)? == 3);
    ensure!(m.get("vcpe_bgp_advertised_prefixes", &nb)? == 2);
    ensure!(m.get("vcpe_bgp_established_transitions_total", &nb)? == 1);
    for (field, metric) in [
        ("messages_in", "vcpe_bgp_received_messages_total"),
        ("messages_out", "vcpe_bgp_sent_messages_total"),
    ] {
        between(
            metric,
            first_neighbor(&bgp0, field)?,
            m.get(metric, &nb)?,
            first_neighbor(&bgp1, field)?,
        )?;
    }
    // The peer's side agrees it receives our two routes.
    let p_sum = vp.bgp_summary()?;
    ensure!(
        first_neighbor(&p_sum, "received")? == 2,
        "vcped-p: {p_sum:?}"
    );

    // GET / links to /metrics; anything else but GET /metrics is refused.
    let (code, _, body) = http_in(r, "GET", "/")?;
    ensure!(
        code == 200 && body.contains("href=\"/metrics\""),
        "GET /: {code} {body}"
    );
    let (code, _, body) = http_in(r, "GET", "/nope")?;
    ensure!(
        code == 404 && body.contains("/metrics"),
        "GET /nope: {code} {body}"
    );
    let (code, head, _) = http_in(r, "POST", "/metrics")?;
    ensure!(
        code == 405 && head.contains("allow: get"),
        "POST /metrics: {code}\n{head}"
    );

    // The neighbor goes away: the metrics follow, and vcped-r logs it as
    // one line with the neighbor, the reason and what to check.
    vp.daemon.stop();
    let down = || -> Result<bool> {
        Ok(Metrics::fetch(r)?.get("vcpe_bgp_session_established", &nb)? == 0)
    };
    ensure!(
        wait_until(Duration::from_secs(20), || down().unwrap_or(false)),
        "vcpe_bgp_session_established stayed 1 after vcped-p stopped"
    );
    let m = Metrics::fetch(r)?;
    ensure!(
        m.get(
            "vcpe_bgp_session_state",
            &[("neighbor", P_UNDERLAY), ("state", "Established")]
        )? == 0
    );
    ensure!(m.get("vcpe_bgp_established_transitions_total", &nb)? == 1);
    let log = vr.daemon.log();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("BGP session down"))
        .collect();
    ensure!(
        lines.len() == 1
            && lines[0].contains("WARN")
            && lines[0].contains(&format!("neighbor={P_UNDERLAY}"))
            && lines[0].contains("reason=")
            && lines[0].contains("check="),
        "expected one WARN line `BGP session down` with neighbor, reason and check:\n{log}"
    );
    Ok(())
}

#[test]
fn a_metrics_address_in_use_stops_vcped_with_the_option_to_change() -> Result<()> {
    require_root!();
    if !has_tun() {
        eprintln!(
            "SKIP a_metrics_address_in_use_stops_vcped_with_the_option_to_change: /dev/net/tun is missing"
        );
        return Ok(());
    }
    let lab = Lab::new("metrics-busy")?;
    let ns = lab.netns("r")?;
    let config = |tun: &str| {
        format!(
            "[router]\nid = \"10.0.0.1\"\nasn = 65001\n\n[metrics]\nlisten = \"{METRICS}\"\n\n\
             [kernel]\nroute_sync = false\n\n[forwarding]\nworkers = 1\n\n\
             [[interface]]\nname = \"{tun}\"\naddresses = [\"10.0.1.1/24\"]\n"
        )
    };
    let first = Vcped::start(&ns, lab.dir(), "vcped-1", &config(&ifname()))?;
    let err = match Vcped::start(&ns, lab.dir(), "vcped-2", &config(&ifname())) {
        Ok(_) => {
            first.daemon.print_log();
            bail!("a second vcped started on the metrics address {METRICS} of the first")
        }
        Err(e) => format!("{e:#}"),
    };
    ensure!(
        err.contains(&format!("cannot listen for metrics on {METRICS}"))
            && err.contains("set [metrics] listen"),
        "vcped's error does not say which option to change:\n{err}"
    );
    // The first one still serves.
    ensure!(Metrics::fetch(&ns)?.get("vcpe_dataplane_workers", &[])? == 1);
    Ok(())
}
