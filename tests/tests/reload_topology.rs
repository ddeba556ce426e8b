//! The topology changed by `vcpectl reload` alone (issue 17 item 1), with
//! real vcpeds over WireGuard in network namespaces:
//!
//! - a fourth VPC joins a running full mesh of three: its vcped starts,
//!   the three others get its `[[peer]]` and BGP neighbor by editing their
//!   files and reloading; a ping every 20 ms between two running VPCs
//!   loses nothing meanwhile, every pair of VPCs pings, and no other BGP
//!   session flapped (their uptime went on, their Established count is
//!   the same). Removing the peer again by reload stops its traffic while
//!   the others keep working.
//! - an interface added by reload carries traffic from a host behind it
//!   across a tunnel, takes a new address and MTU in place, and is gone
//!   (device and routes) after a reload that removes it; a reload whose
//!   new socket cannot be bound is refused with nothing changed (no new
//!   TUN, no new tunnel).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use vcpe_tests::{Lab, Netns, Vcped, require_root, wait_until};

/// Key file and public key of each VPC.
type Keys = BTreeMap<u8, (PathBuf, String)>;

/// VPC `n`'s config in a full mesh with `members` (tunnels and BGP
/// sessions to each); `extra` is appended (interfaces, routes).
fn config(n: u8, socket: &Path, keys: &Keys, members: &[u8], extra: &str) -> String {
    let mut c = format!(
        "[router]\nid = \"10.255.0.{n}\"\nasn = 6500{n}\n\n[control]\nsocket = \"{}\"\n\n\
         [kernel]\nroute_sync = false\n\n\
         [[interface]]\nname = \"vcpe0\"\naddresses = [\"10.255.0.{n}/24\"]\n\n\
         [[route]]\nname = \"vxnet\"\nprefix = \"10.{n}.0.0/16\"\ninterface = \"vcpe0\"\nadvertise = true\n\n\
         [bgp]\nlisten = \"0.0.0.0:179\"\n\n",
        socket.display()
    );
    c += extra;
    for &m in members.iter().filter(|&&m| m != n) {
        c += &format!(
            "\n[[bgp.neighbor]]\naddress = \"10.255.0.{m}\"\nremote_as = 6500{m}\npeer = \"vpc0{m}\"\nhold_time = 9\n"
        );
    }
    for &m in members.iter().filter(|&&m| m != n) {
        c += &format!(
            "\n[[peer]]\nname = \"vpc0{m}\"\nendpoint = \"100.64.{m}.2:51820\"\nbind = \"0.0.0.0:51820\"\n\
             encapsulation = \"wireguard\"\nprivate_key_file = \"{}\"\npublic_key = \"{}\"\n\
             allowed_prefixes = [\"10.255.0.{m}/32\", \"10.{m}.0.0/16\"]\nmtu = 1300\n",
            keys[&n].0.display(),
            keys[&m].1
        );
    }
    c
}

/// A session's (seconds up, times it reached Established); an error if
/// it is not Established.
fn session(v: &Vcped, addr: &str) -> Result<(u64, u64)> {
    let n = v
        .bgp_summary()?
        .into_iter()
        .find(|n| n.address == addr)
        .with_context(|| format!("no neighbor {addr}"))?;
    ensure!(n.state == "Established", "{addr}: {}", n.state);
    Ok((n.since_secs.unwrap_or(0), n.established_transitions))
}

fn pings(ns: &Netns, addr: &str) -> bool {
    ns.exec(["ping", "-c", "1", "-W", "1", addr])
        .is_ok_and(|o| o.status.success())
}

/// A running VPC: its namespace, vcped and control socket.
type Vpc = (Netns, Vcped, PathBuf);

/// The "inet" namespace every VPC's WAN hangs off.
fn internet(lab: &Lab) -> Result<Netns> {
    let inet = lab.netns("inet")?;
    inet.enable_forwarding()?;
    Ok(inet)
}

/// A key pair for each of `vpcs`.
fn keys(lab: &Lab, vpcs: &[u8]) -> Result<Keys> {
    let mut keys = Keys::new();
    for &n in vpcs {
        let (private, public) = vcpe_tests::wg::keypair()?;
        let path = vcpe_tests::wg::write_key(&lab.dir().join(format!("vpc0{n}.key")), &private)?;
        keys.insert(n, (path, public));
    }
    Ok(keys)
}

/// VPC `n`'s namespace behind "inet" and its vcped running `members`.
fn start_vpc(
    lab: &Lab,
    inet: &Netns,
    n: u8,
    keys: &Keys,
    members: &[u8],
    extra: &str,
) -> Result<Vpc> {
    let ns = lab.netns(&format!("vpc0{n}"))?;
    lab.veth(&ns, "wan0", inet, &format!("w{n}"))?;
    ns.addr("wan0", &format!("100.64.{n}.2/24"))?;
    inet.addr(&format!("w{n}"), &format!("100.64.{n}.1/24"))?;
    ns.route("default", &format!("100.64.{n}.1"))?;
    let socket = lab.dir().join(format!("vcped{n}.sock"));
    let v = Vcped::start(
        &ns,
        lab.dir(),
        &format!("vcped-vpc0{n}"),
        &config(n, &socket, keys, members, extra),
    )?;
    Ok((ns, v, socket))
}

/// Waits until every VPC of `vpcs` has its sessions with the others of
/// `members` Established.
fn wait_mesh(vpcs: &BTreeMap<u8, Vpc>, members: &[u8]) -> Result<()> {
    let up = || {
        members.iter().all(|&n| {
            members
                .iter()
                .filter(|&&m| m != n)
                .all(|m| session(&vpcs[&n].1, &format!("10.255.0.{m}")).is_ok())
        })
    };
    ensure!(
        wait_until(Duration::from_secs(60), up),
        "sessions of {members:?} not all up:\n{}",
        members
            .iter()
            .map(|n| vpcs[n].1.ctl(&["bgp", "summary"]).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    );
    Ok(())
}

/// Every VPC of `members` pings every other's address.
fn all_pairs_ping(vpcs: &BTreeMap<u8, Vpc>, members: &[u8]) -> Result<()> {
    for &a in members {
        for &b in members.iter().filter(|&&b| b != a) {
            ensure!(
                wait_until(Duration::from_secs(15), || pings(
                    &vpcs[&a].0,
                    &format!("10.255.0.{b}")
                )),
                "VPC 0{a} cannot reach VPC 0{b}:\n{}",
                vpcs[&a].1.ctl(&["tunnel", "list"])?
            );
        }
    }
    Ok(())
}

/// The (uptime, Established count) of every session among `members`.
fn uptimes(vpcs: &BTreeMap<u8, Vpc>, members: &[u8]) -> Result<BTreeMap<(u8, u8), (u64, u64)>> {
    let mut out = BTreeMap::new();
    for &a in members {
        for &b in members.iter().filter(|&&b| b != a) {
            out.insert((a, b), session(&vpcs[&a].1, &format!("10.255.0.{b}"))?);
        }
    }
    Ok(out)
}

/// None of the sessions in `before` was reset: each is still up, for
/// longer, and reached Established no more often.
fn no_flap(vpcs: &BTreeMap<u8, Vpc>, before: &BTreeMap<(u8, u8), (u64, u64)>) -> Result<()> {
    for (&(a, b), &(up, count)) in before {
        let (now, count_now) = session(&vpcs[&a].1, &format!("10.255.0.{b}"))
            .with_context(|| format!("session 0{a}-0{b} after the reload"))?;
        ensure!(
            now >= up && count_now == count,
            "session 0{a}-0{b} flapped: up {up} s -> {now} s, Established {count} -> {count_now} times"
        );
    }
    Ok(())
}

#[test]
fn a_fourth_vpc_joins_the_running_mesh_by_reload_only() -> Result<()> {
    require_root!();
    let lab = Lab::new("fourvpc")?;
    let inet = internet(&lab)?;
    let keys = keys(&lab, &[1, 2, 3, 4])?;
    let three = [1, 2, 3];
    let four = [1, 2, 3, 4];
    let mut vpcs = BTreeMap::new();
    for n in three {
        vpcs.insert(n, start_vpc(&lab, &inet, n, &keys, &three, "")?);
    }
    wait_mesh(&vpcs, &three)?;
    all_pairs_ping(&vpcs, &three)?;
    std::thread::sleep(Duration::from_secs(2));
    let before = uptimes(&vpcs, &three)?;

    // VPC 04 starts with the whole mesh in its file; the others learn of
    // it by reload only. Meanwhile VPC 01 pings VPC 02 every 20 ms: the
    // running tunnels lose nothing.
    vpcs.insert(4, start_vpc(&lab, &inet, 4, &keys, &four, "")?);
    let steady = vpcs[&1]
        .0
        .command("ping")
        .args(["-i", "0.02", "-c", "150", "-W", "1", "10.255.0.2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    std::thread::sleep(Duration::from_millis(300));
    for n in three {
        let (_, v, socket) = &vpcs[&n];
        std::fs::write(&v.config, config(n, socket, &keys, &four, ""))?;
        let diff = v.ctl(&["config", "diff"])?;
        ensure!(
            diff.contains("+ peer vpc04") && !diff.contains("needs a restart"),
            "VPC 0{n}'s config diff:\n{diff}"
        );
        let out = v.ctl(&["reload"])?;
        ensure!(
            out.contains("+ peer vpc04") && out.contains("+ bgp neighbor 10.255.0.4"),
            "VPC 0{n}'s reload:\n{out}"
        );
    }
    let out = steady.wait_with_output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success() && text.contains(" 0% packet loss"),
        "VPC 01 -> 02 lost packets while the others reloaded:\n{text}"
    );
    wait_mesh(&vpcs, &four)?;
    all_pairs_ping(&vpcs, &four)?;
    no_flap(&vpcs, &before)?;
    // VPC 04's tunnel is listed with its counters.
    let t = vpcs[&1]
        .1
        .tunnels()?
        .into_iter()
        .find(|t| t.name == "vpc04")
        .context("VPC 01 lists no tunnel vpc04")?;
    ensure!(
        t.tx_packets > 0 && t.rx_packets > 0,
        "vpc04 counters: {t:?}"
    );

    // VPC 01's tunnel to VPC 03 replaced (MTU): the others untouched.
    let before = uptimes(&vpcs, &four)?;
    let (_, v1, socket1) = &vpcs[&1];
    let mtu = |m: u8| {
        config(1, socket1, &keys, &four, "").replace(
            "allowed_prefixes = [\"10.255.0.3/32\", \"10.3.0.0/16\"]\nmtu = 1300",
            &format!("allowed_prefixes = [\"10.255.0.3/32\", \"10.3.0.0/16\"]\nmtu = {m}00"),
        )
    };
    std::fs::write(&v1.config, mtu(12))?;
    let out = v1.ctl(&["reload"])?;
    ensure!(
        out.contains("~ peer vpc03 (tunnel replaced"),
        "VPC 01's reload:\n{out}"
    );
    ensure!(
        wait_until(Duration::from_secs(10), || pings(&vpcs[&1].0, "10.255.0.3")),
        "VPC 01 cannot reach VPC 03 over the replaced tunnel"
    );
    let mut others = before.clone();
    others.retain(|&(a, b), _| ![(1, 3), (3, 1)].contains(&(a, b)));
    no_flap(&vpcs, &others)?;
    all_pairs_ping(&vpcs, &four)?;

    // VPC 01 drops VPC 04 again: no traffic between them, the rest runs.
    let before = uptimes(&vpcs, &three)?;
    let (_, v1, socket1) = &vpcs[&1];
    std::fs::write(&v1.config, config(1, socket1, &keys, &three, ""))?;
    let out = v1.ctl(&["reload"])?;
    ensure!(
        out.contains("- peer vpc04") && out.contains("- bgp neighbor 10.255.0.4"),
        "VPC 01's reload:\n{out}"
    );
    ensure!(
        !v1.tunnels()?.iter().any(|t| t.name == "vpc04"),
        "vpc04 still listed"
    );
    ensure!(
        !pings(&vpcs[&1].0, "10.255.0.4") && !pings(&vpcs[&1].0, "10.255.0.4"),
        "VPC 01 still reaches VPC 04 after the peer was removed"
    );
    all_pairs_ping(&vpcs, &three)?;
    for n in [2, 3] {
        ensure!(pings(&vpcs[&n].0, "10.255.0.4"), "VPC 0{n} lost VPC 04");
    }
    no_flap(&vpcs, &before)?;

    // And back: vpc04 gets a new tunnel id (no longer its config index);
    // every view still names it right.
    std::fs::write(&v1.config, config(1, socket1, &keys, &four, ""))?;
    let out = v1.ctl(&["reload"])?;
    ensure!(out.contains("+ peer vpc04"), "VPC 01's reload:\n{out}");
    ensure!(
        wait_until(Duration::from_secs(30), || session(v1, "10.255.0.4")
            .is_ok()),
        "the session 01-04 is not back:\n{}",
        v1.ctl(&["bgp", "summary"])?
    );
    all_pairs_ping(&vpcs, &four)?;
    let explain = v1.ctl(&["explain", "10.255.0.4"])?;
    ensure!(explain.contains("vpc04"), "explain 10.255.0.4:\n{explain}");
    let list = v1.ctl(&["tunnel", "list"])?;
    ensure!(
        list.lines()
            .any(|l| l.contains("vpc04") && l.contains("100.64.4.2")),
        "tunnel list:\n{list}"
    );
    let stats = v1.stats()?;
    ensure!(
        stats.tunnels.iter().any(|t| t.name == "vpc04"),
        "stats: {:?}",
        stats.tunnels
    );
    Ok(())
}

#[test]
fn an_interface_is_added_and_removed_by_reload() -> Result<()> {
    require_root!();
    let lab = Lab::new("ifreload")?;
    let inet = internet(&lab)?;
    let keys = keys(&lab, &[1, 2])?;
    let pair = [1, 2];
    let mut vpcs = BTreeMap::new();
    for n in pair {
        vpcs.insert(n, start_vpc(&lab, &inet, n, &keys, &pair, "")?);
    }
    wait_mesh(&vpcs, &pair)?;
    all_pairs_ping(&vpcs, &pair)?;
    let before = uptimes(&vpcs, &pair)?;

    // All or nothing: a file with a new interface and a new peer whose
    // bind address is not ours is refused, and neither appears.
    let (_, v1, socket1) = &vpcs[&1];
    let (_, ghost_public) = vcpe_tests::wg::keypair()?;
    let ghost = format!(
        "[[interface]]\nname = \"lan9\"\naddresses = [\"10.1.99.1/24\"]\n\n\
         [[peer]]\nname = \"ghost\"\nendpoint = \"100.64.9.2:51820\"\nbind = \"192.0.2.77:51999\"\n\
         encapsulation = \"wireguard\"\nprivate_key_file = \"{}\"\npublic_key = \"{ghost_public}\"\n\
         allowed_prefixes = [\"10.9.0.0/16\"]\n\n",
        keys[&1].0.display()
    );
    std::fs::write(&v1.config, config(1, socket1, &keys, &pair, &ghost))?;
    let out = std::process::Command::new(vcpe_tests::cargo_bin("vcpectl"))
        .arg("--socket")
        .arg(&v1.socket)
        .arg("reload")
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.code() == Some(1)
            && err.contains("ghost")
            && err.contains("nothing was reloaded"),
        "exit {:?}: {err}",
        out.status.code()
    );
    ensure!(
        vpcs[&1].0.ip(["link", "show", "lan9"]).is_err(),
        "the refused reload left the TUN lan9 behind"
    );
    ensure!(
        !v1.tunnels()?.iter().any(|t| t.name == "ghost"),
        "the refused reload left the peer ghost running"
    );
    let (_, pending) = v1.config_diff()?;
    ensure!(
        pending.interfaces_added == ["lan9"] && pending.peers_added == ["ghost"],
        "the refused changes should still be pending: {pending:?}"
    );
    all_pairs_ping(&vpcs, &pair)?;

    // A host behind VPC 01, in its own namespace: its packets enter vcped
    // by the new TUN "lan1" (policy route) and come back out of it.
    let ns1 = &vpcs[&1].0;
    let host = lab.netns("host1")?;
    lab.veth(&host, "eth0", ns1, "hv")?;
    host.addr("eth0", "10.1.9.2/24")?;
    host.route("default", "10.1.9.1")?;
    ns1.addr("hv", "10.1.9.1/24")?;
    ns1.enable_forwarding()?;
    // Replies come back by lan1, the host's requests left by vcpe0's
    // reverse path: no reverse-path filter.
    ns1.sysctl("net.ipv4.conf.all.rp_filter", "0")?;
    ns1.sysctl("net.ipv4.conf.default.rp_filter", "0")?;
    // VPC 02's kernel sends the replies to vcped (no kernel route sync).
    vpcs[&2].0.route_dev("10.1.9.0/24", "vcpe0")?;
    let lan = "[[interface]]\nname = \"lan1\"\naddresses = [\"10.1.0.1/24\"]\n\n\
               [[route]]\nname = \"hosts\"\nprefix = \"10.1.9.0/24\"\ninterface = \"lan1\"\nadvertise = true\n\n";
    std::fs::write(&v1.config, config(1, socket1, &keys, &pair, lan))?;
    let out = v1.ctl(&["reload"])?;
    ensure!(out.contains("+ interface lan1"), "reload:\n{out}");
    ns1.link_up("lan1").context("the new TUN lan1 is missing")?;
    ns1.sysctl("net.ipv4.conf.lan1.rp_filter", "0")?;
    ns1.ip(["rule", "add", "iif", "hv", "table", "100"])?;
    ns1.ip(["route", "add", "default", "dev", "lan1", "table", "100"])?;
    // Without lan1, the host's packets are dropped (not routed by vcpe0).
    ns1.ip([
        "route",
        "add",
        "blackhole",
        "default",
        "table",
        "100",
        "metric",
        "100",
    ])?;
    ensure!(
        wait_until(Duration::from_secs(20), || pings(&host, "10.255.0.2")),
        "the host behind lan1 cannot reach VPC 02:\n{}\n{}",
        v1.ctl(&["stats"])?,
        vpcs[&2].1.ctl(&["explain", "10.1.9.2"])?
    );
    let lan1 = v1
        .stats()?
        .interfaces
        .into_iter()
        .find(|i| i.name == "lan1")
        .context("no lan1 in stats")?;
    ensure!(
        lan1.rx_packets > 0 && lan1.tx_packets > 0,
        "lan1 counters: {lan1:?}"
    );

    // Changed in place: a second address and a smaller MTU on the running
    // TUN; the host keeps talking through it.
    let changed = lan.replace(
        "addresses = [\"10.1.0.1/24\"]",
        "addresses = [\"10.1.0.1/24\", \"10.1.5.1/24\"]\nmtu = 1400",
    );
    std::fs::write(&v1.config, config(1, socket1, &keys, &pair, &changed))?;
    let out = v1.ctl(&["reload"])?;
    ensure!(out.contains("~ interface lan1"), "reload:\n{out}");
    let link = ns1.ip(["-o", "addr", "show", "dev", "lan1"])?;
    ensure!(
        link.contains("10.1.5.1/24"),
        "lan1 lacks its new address:\n{link}"
    );
    let link = ns1.ip(["link", "show", "dev", "lan1"])?;
    ensure!(
        link.contains("mtu 1400"),
        "lan1 has not its new MTU:\n{link}"
    );
    let explain = v1.ctl(&["explain", "10.1.5.9"])?;
    ensure!(
        explain.contains("lan1"),
        "no connected route for the new address:\n{explain}"
    );
    ensure!(
        wait_until(Duration::from_secs(5), || pings(&host, "10.255.0.2")),
        "the host lost VPC 02 after lan1 changed"
    );
    // And back: the address goes, from the TUN and from the FIB.
    std::fs::write(&v1.config, config(1, socket1, &keys, &pair, lan))?;
    v1.ctl(&["reload"])?;
    let link = ns1.ip(["-o", "addr", "show", "dev", "lan1"])?;
    ensure!(
        !link.contains("10.1.5.1"),
        "lan1 kept the removed address:\n{link}"
    );
    let explain = v1.ctl(&["explain", "10.1.5.9"])?;
    ensure!(
        !explain.contains("lan1"),
        "the removed address's connected route stayed:\n{explain}"
    );
    ensure!(pings(&host, "10.255.0.2"), "the host lost VPC 02");

    // Removed: the device is gone, the host is cut off, vcpe0 still runs.
    std::fs::write(&v1.config, config(1, socket1, &keys, &pair, ""))?;
    let out = v1.ctl(&["reload"])?;
    ensure!(out.contains("- interface lan1"), "reload:\n{out}");
    ensure!(
        wait_until(Duration::from_secs(5), || ns1
            .ip(["link", "show", "lan1"])
            .is_err()),
        "the TUN lan1 is still there after the reload removed it"
    );
    ensure!(!pings(&host, "10.255.0.2"), "the host still reaches VPC 02");
    all_pairs_ping(&vpcs, &pair)?;
    no_flap(&vpcs, &before)?;

    // The one peer of VPC 01 (alone on its socket) replaced by an MTU
    // change: the tunnel runs on with the new MTU.
    std::fs::write(
        &v1.config,
        config(1, socket1, &keys, &pair, "").replace("mtu = 1300", "mtu = 1280"),
    )?;
    let out = v1.ctl(&["reload"])?;
    ensure!(
        out.contains("~ peer vpc02 (tunnel replaced") && out.contains("mtu: 1300 -> 1280"),
        "reload:\n{out}"
    );
    all_pairs_ping(&vpcs, &pair)?;
    let explain = v1.ctl(&["explain", "10.255.0.2"])?;
    ensure!(explain.contains("MTU 1280"), "explain:\n{explain}");
    Ok(())
}
