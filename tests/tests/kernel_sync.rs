//! Kernel route sync: vcped installs the prefixes it carries into tunnels
//! (static routes towards a peer, BGP routes learned over a tunnel) as
//! kernel routes `dev vcpe0 proto 201` in its namespace, follows
//! `vcpectl route add/del`, leaves a foreign route for the same prefix
//! alone (and says so), removes its routes on SIGTERM, and at the next
//! start replaces what a killed run left behind.
//!
//! ```text
//!  ns a: kernel ── vcpe0 ── vcped a ══ GRE ══ vcped b ── vcpe0 (ns b)
//!        100.64.0.1 ─────── wan0 veth ─────── 100.64.0.2
//! ```
//!
//! vcped b advertises 10.2.1.0/24 and fd00:2:1::/64 over BGP (session
//! between the tunnel inner addresses); vcped a learns them into the
//! tunnel. Only vcped a syncs routes.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::Value;
use vcpe_tests::{Lab, Netns, Vcped, require_root, require_tun, wait_until};

const CONFIG_A: &str = r#"
[router]
id = "10.255.0.1"
asn = 65001

[kernel]
interface = "vcpe0"

[[interface]]
name = "vcpe0"
addresses = ["10.255.0.1/24", "fd00:255::1/64"]

[[route]]
name = "far"
prefix = "10.9.0.0/16"
peer = "b"

[[route]]
name = "far-v6"
prefix = "fd00:9::/32"
peer = "b"

[[route]]
name = "leftover"
prefix = "10.6.0.0/16"
peer = "b"

[[route]]
name = "taken"                 # the kernel has a foreign route for it
prefix = "10.8.0.0/16"
peer = "b"

[[route]]
name = "subnet"                # vcpe0's own subnet: the kernel has it
prefix = "10.255.0.0/24"
peer = "b"

[[route]]
name = "local"                 # out of vcpe0, back to the kernel: not synced
prefix = "10.1.1.0/24"
interface = "vcpe0"

[bgp]
listen = "0.0.0.0:179"

[[bgp.neighbor]]
address = "10.255.0.2"
remote_as = 65002
peer = "b"
hold_time = 9

[[peer]]
name = "b"
endpoint = "100.64.0.2"
encapsulation = "gre"
gre_key = 12
allowed_prefixes = ["10.255.0.2/32", "fd00:255::2/128", "10.2.0.0/16", "fd00:2::/32"]
"#;

const CONFIG_B: &str = r#"
[router]
id = "10.255.0.2"
asn = 65002

[kernel]
route_sync = false

[[interface]]
name = "vcpe0"
addresses = ["10.255.0.2/24", "fd00:255::2/64"]

[[route]]
name = "vxnet"
prefix = "10.2.1.0/24"
interface = "vcpe0"
advertise = true

[[route]]
name = "vxnet-v6"
prefix = "fd00:2:1::/64"
interface = "vcpe0"
advertise = true

[bgp]
listen = "0.0.0.0:179"

[[bgp.neighbor]]
address = "10.255.0.1"
remote_as = 65001
peer = "a"
hold_time = 9

[[peer]]
name = "a"
endpoint = "100.64.0.1"
encapsulation = "gre"
gre_key = 12
allowed_prefixes = ["10.255.0.1/32", "fd00:255::1/128", "10.0.0.0/8", "fd00::/16"]
"#;

/// What vcped a should have in the kernel with `CONFIG_A` and b's routes.
const EXPECTED: [&str; 5] = [
    "10.2.1.0/24",
    "10.6.0.0/16",
    "10.9.0.0/16",
    "fd00:2:1::/64",
    "fd00:9::/32",
];

/// Routes of protocol 201 in the main table: destination → device.
fn ours(ns: &Netns) -> Result<BTreeMap<String, String>> {
    let mut m = BTreeMap::new();
    for family in ["-4", "-6"] {
        let out = ns.ip(["-j", family, "route", "show", "proto", "201"])?;
        let v: Value = serde_json::from_str(if out.trim().is_empty() { "[]" } else { &out })
            .with_context(|| format!("ip -j route: {out}"))?;
        for r in v.as_array().into_iter().flatten() {
            m.insert(
                r["dst"].as_str().unwrap_or("?").to_owned(),
                r["dev"].as_str().unwrap_or("-").to_owned(),
            );
        }
    }
    Ok(m)
}

/// `EXPECTED` (plus `extra`, minus `without`), all into vcpe0.
fn expected(extra: &[&str], without: &[&str]) -> BTreeMap<String, String> {
    EXPECTED
        .iter()
        .chain(extra)
        .filter(|p| !without.contains(p))
        .map(|p| ((*p).to_owned(), "vcpe0".to_owned()))
        .collect()
}

/// Waits until our kernel routes are exactly `want`.
fn wait_ours(ns: &Netns, d: &Vcped, want: &BTreeMap<String, String>, what: &str) -> Result<()> {
    let ok = wait_until(Duration::from_secs(40), || {
        ours(ns).is_ok_and(|m| &m == want)
    });
    if !ok {
        d.daemon.print_log();
    }
    ensure!(
        ok,
        "{what}: kernel routes proto 201 are {:?}, want {want:?}\nBGP:\n{}",
        ours(ns)?,
        d.ctl(&["show", "route"]).unwrap_or_default()
    );
    Ok(())
}

/// The routes the kernel has for exactly `prefix`: (protocol, device).
fn routes_for(ns: &Netns, prefix: &str) -> Result<Vec<(String, String)>> {
    let out = ns.ip(["-j", "route", "show", "exact", prefix])?;
    let v: Value = serde_json::from_str(if out.trim().is_empty() { "[]" } else { &out })?;
    Ok(v.as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["protocol"].as_str().unwrap_or("boot").to_owned(),
                r["dev"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect())
}

#[test]
fn routes_into_the_tunnel_are_kernel_routes_and_cleaned_up() -> Result<()> {
    require_root!();
    require_tun();
    let lab = Lab::new("ksync")?;
    let (a, b) = (lab.netns("a")?, lab.netns("b")?);
    lab.veth(&a, "wan0", &b, "wan0")?;
    a.addr("wan0", "100.64.0.1/24")?;
    b.addr("wan0", "100.64.0.2/24")?;
    // Someone else's route for a prefix vcped also wants.
    a.ip([
        "route",
        "add",
        "10.8.0.0/16",
        "dev",
        "lo",
        "proto",
        "static",
    ])?;
    let _vb = Vcped::start(&b, lab.dir(), "vcped-b", CONFIG_B)?;

    // ── run 1: static and BGP routes in; foreign left alone ──────────────
    let mut va = Vcped::start(&a, lab.dir(), "vcped-a", CONFIG_A)?;
    wait_ours(&a, &va, &expected(&[], &[]), "after start")?;
    ensure!(
        routes_for(&a, "10.8.0.0/16")? == [("static".to_owned(), "lo".to_owned())],
        "the foreign route was touched: {:?}",
        routes_for(&a, "10.8.0.0/16")?
    );
    let log = va.daemon.wait_for_log(
        "10.8.0.0/16 in table 254 is already routed by someone else (proto static dev lo",
        Duration::from_secs(10),
    )?;
    ensure!(
        log.matches("is already routed by someone else").count() == 1,
        "one warning, for 10.8.0.0/16 only (not vcpe0's own subnet):\n{log}"
    );
    let k = va.stats()?.kernel_sync.context("no kernel_sync in stats")?;
    ensure!(
        k.installed == 5 && k.foreign_conflicts == 1 && k.failed == 0,
        "stats: {k:?}"
    );
    ensure!(k.interface == "vcpe0" && k.protocol == 201, "stats: {k:?}");
    let human = va.ctl(&["stats"])?;
    ensure!(
        human.contains("kernel routes: 5 into vcpe0 (table 254, proto 201); 1 left"),
        "{human}"
    );

    // Live changes: a route into the tunnel appears, one out of vcpe0
    // does not, a deleted one goes.
    va.ctl(&["route", "add", "lan", "10.5.0.0/16", "dev", "vcpe0"])?;
    va.ctl(&["route", "add", "extra", "10.7.0.0/16", "peer", "b"])?;
    wait_ours(&a, &va, &expected(&["10.7.0.0/16"], &[]), "after route add")?;
    va.ctl(&["route", "del", "far"])?;
    wait_ours(
        &a,
        &va,
        &expected(&["10.7.0.0/16"], &["10.9.0.0/16"]),
        "after route del far",
    )?;

    // SIGTERM: ours gone, the foreign one still there.
    let status = va.daemon.stop();
    ensure!(
        status.is_some_and(|s| s.success()),
        "vcped a did not stop cleanly: {status:?}\n{}",
        va.daemon.log()
    );
    ensure!(ours(&a)?.is_empty(), "left after SIGTERM: {:?}", ours(&a)?);
    ensure!(
        va.daemon.log().contains("our kernel routes removed"),
        "{}",
        va.daemon.log()
    );
    ensure!(routes_for(&a, "10.8.0.0/16")?.len() == 1);

    // ── run 2: the foreign route goes away, vcped takes the prefix ───────
    let va = Vcped::start(&a, lab.dir(), "vcped-a2", CONFIG_A)?;
    wait_ours(&a, &va, &expected(&[], &[]), "second start")?;
    a.ip([
        "route",
        "del",
        "10.8.0.0/16",
        "dev",
        "lo",
        "proto",
        "static",
    ])?;
    wait_ours(
        &a,
        &va,
        &expected(&["10.8.0.0/16"], &[]),
        "after the foreign route went",
    )?;

    // ── a crash: kill -9, then leftovers of our protocol ─────────────────
    let pid = va.daemon.pid();
    // SAFETY: plain kill(2) of our own child.
    ensure!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) } == 0);
    let mut va = va;
    va.daemon.stop();
    ensure!(
        wait_until(Duration::from_secs(10), || a
            .ip(["link", "show", "vcpe0"])
            .is_err()),
        "vcpe0 outlived its vcped"
    );
    // Routes a crashed run left behind: one not wanted any more, one for
    // a wanted prefix pointing elsewhere, one IPv6.
    a.ip(["route", "add", "10.66.0.0/16", "dev", "lo", "proto", "201"])?;
    a.ip(["route", "add", "10.6.0.0/16", "dev", "lo", "proto", "201"])?;
    a.ip([
        "-6",
        "route",
        "add",
        "fd00:66::/32",
        "dev",
        "lo",
        "proto",
        "201",
    ])?;

    // ── run 3: reconciled ─────────────────────────────────────────────────
    let mut va = Vcped::start(&a, lab.dir(), "vcped-a3", CONFIG_A)?;
    wait_ours(&a, &va, &expected(&["10.8.0.0/16"], &[]), "after the crash")?;
    let log = va
        .daemon
        .wait_for_log("reconciled", Duration::from_secs(5))?;
    ensure!(
        log.lines()
            .any(|l| l.contains("reconciled") && l.contains("found=3") && l.contains("right=0")),
        "{log}"
    );
    ensure!(
        !log.contains("already routed by someone else"),
        "our own leftovers are no foreign routes:\n{log}"
    );
    va.daemon.stop();
    ensure!(ours(&a)?.is_empty(), "left after SIGTERM: {:?}", ours(&a)?);
    Ok(())
}

#[test]
fn route_sync_off_installs_nothing() -> Result<()> {
    require_root!();
    require_tun();
    let lab = Lab::new("ksync-off")?;
    let a = lab.netns("a")?;
    let config = CONFIG_A.replace(
        "[kernel]\ninterface = \"vcpe0\"",
        "[kernel]\nroute_sync = false",
    );
    let va = Vcped::start(&a, lab.dir(), "vcped-a", &config)?;
    va.daemon
        .wait_for_log("kernel route sync off", Duration::from_secs(5))?;
    ensure!(ours(&a)?.is_empty(), "{:?}", ours(&a)?);
    ensure!(va.stats()?.kernel_sync.is_none());
    Ok(())
}

/// Static routes into peer b: `n` IPv4 /24s and `n / 4` IPv6 /64s, and
/// the prefixes as `ip route` prints them.
fn many_routes(n: usize) -> (String, Vec<String>) {
    let mut config = String::from(
        "[router]\nid = \"10.255.0.1\"\nasn = 65001\n\n[kernel]\ninterface = \"vcpe0\"\n\n\
         [[interface]]\nname = \"vcpe0\"\naddresses = [\"10.255.0.1/24\", \"fd00:255::1/64\"]\n\n\
         [[peer]]\nname = \"b\"\nendpoint = \"100.64.0.2\"\nencapsulation = \"gre\"\n\
         allowed_prefixes = [\"10.0.0.0/8\", \"fd00::/16\"]\n",
    );
    let mut prefixes = Vec::new();
    for i in 0..n {
        prefixes.push(format!("10.{}.{}.0/24", 100 + i / 256, i % 256));
    }
    for i in 0..n / 4 {
        let net = std::net::Ipv6Addr::new(0xfd00, 9, i as u16, 0, 0, 0, 0, 0);
        prefixes.push(format!("{net}/64"));
    }
    for (i, p) in prefixes.iter().enumerate() {
        config += &format!("\n[[route]]\nname = \"r{i}\"\nprefix = \"{p}\"\npeer = \"b\"\n");
    }
    (config, prefixes)
}

/// Waits until the kernel has exactly `want` of ours (into vcpe0), within
/// `within`; then until `vcpectl stats` agrees with the kernel.
fn wait_all(
    ns: &Netns,
    d: &Vcped,
    want: &BTreeMap<String, String>,
    within: Duration,
    what: &str,
) -> Result<()> {
    let ok = wait_until(within, || ours(ns).is_ok_and(|m| &m == want));
    if !ok {
        d.daemon.print_log();
    }
    let have = ours(ns)?;
    ensure!(
        ok,
        "{what}: {} of {} routes proto 201 in the kernel after {within:?}; missing e.g. {:?}",
        have.len(),
        want.len(),
        want.keys()
            .filter(|k| !have.contains_key(*k))
            .take(5)
            .collect::<Vec<_>>()
    );
    let agree = wait_until(Duration::from_secs(5), || {
        d.stats()
            .ok()
            .and_then(|s| s.kernel_sync)
            .is_some_and(|k| k.installed == want.len() && k.missing == 0)
    });
    ensure!(
        agree,
        "{what}: vcpectl stats disagree with the kernel ({} routes): {:?}",
        want.len(),
        d.stats()?.kernel_sync
    );
    Ok(())
}

#[test]
fn routes_lost_in_the_kernel_are_installed_again() -> Result<()> {
    require_root!();
    require_tun();
    let lab = Lab::new("ksync-lost")?;
    let a = lab.netns("a")?;
    let (config, prefixes) = many_routes(1000);
    let want: BTreeMap<String, String> = prefixes
        .iter()
        .map(|p| (p.clone(), "vcpe0".to_owned()))
        .collect();
    let va = Vcped::start(&a, lab.dir(), "vcped-a", &config)?;
    wait_all(&a, &va, &want, Duration::from_secs(30), "after start")?;

    // One deleted by hand (IPv4 and IPv6): back within a bound, counted.
    a.ip(["route", "del", "10.100.7.0/24", "proto", "201"])?;
    a.ip(["-6", "route", "del", "fd00:9:7::/64", "proto", "201"])?;
    ensure!(
        ours(&a)?.len() == want.len() - 2,
        "the deletes did not happen"
    );
    wait_all(
        &a,
        &va,
        &want,
        Duration::from_secs(5),
        "after a delete by hand",
    )?;
    let k = va.stats()?.kernel_sync.context("no kernel_sync")?;
    ensure!(
        k.lost_total == 2 && k.resynced_total == 2,
        "two lost, two installed again: {k:?}"
    );

    // The link goes down: the kernel flushes every route through it, and
    // the stats say so.
    a.ip(["link", "set", "vcpe0", "down"])?;
    let down = wait_until(Duration::from_secs(5), || {
        va.stats()
            .ok()
            .and_then(|s| s.kernel_sync)
            .is_some_and(|k| !k.link_up && k.missing == want.len())
    });
    let k = va.stats()?.kernel_sync.context("no kernel_sync")?;
    ensure!(down, "link down: stats {k:?}");
    ensure!(
        k.installed == ours(&a)?.len(),
        "stats say {} installed, the kernel has {}",
        k.installed,
        ours(&a)?.len()
    );
    a.ip(["link", "set", "vcpe0", "up"])?;
    wait_all(
        &a,
        &va,
        &want,
        Duration::from_secs(10),
        "after link down, up",
    )?;

    // The issue's exact bounce: down and up at once (no pause between).
    let before = va.stats()?.kernel_sync.context("no kernel_sync")?;
    a.ip(["link", "set", "vcpe0", "down"])?;
    a.ip(["link", "set", "vcpe0", "up"])?;
    wait_all(
        &a,
        &va,
        &want,
        Duration::from_secs(10),
        "after a quick bounce",
    )?;
    let k = va.stats()?.kernel_sync.context("no kernel_sync")?;
    ensure!(
        k.resynced_total >= before.resynced_total + want.len() as u64 && k.link_up,
        "all counted as installed again: before {before:?}, now {k:?}"
    );
    let human = va.ctl(&["stats"])?;
    ensure!(human.contains("kernel routes missing: 0 now;"), "{human}");
    Ok(())
}
