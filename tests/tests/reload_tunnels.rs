//! Tunnel peers changed by `vcpectl reload` alone (issue 17 item 1), with
//! three real vcpeds over WireGuard in network namespaces: VPC 02's key
//! pair is rotated (its private key file on its side, its public key on
//! the two others) by a reload on each end; traffic flows again over the
//! new keys, and the tunnel between VPC 01 and VPC 03 and its BGP session
//! are not touched. A peer's allowed prefixes change in place. A BGP
//! session is added over a running tunnel. A change only a restart can
//! apply (the router's AS) is refused, naming the field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use vcpe_tests::{Lab, Netns, Vcped, require_root, wait_until};

const VPCS: [u8; 3] = [1, 2, 3];

fn config(n: u8, socket: &Path, keys: &BTreeMap<u8, (PathBuf, String)>) -> String {
    config_with(n, socket, keys, true)
}

/// `mesh`: BGP sessions between every pair; else only with VPC 02 (the
/// tunnels are a full mesh either way). Each VPC announces 10.N.0.0/16.
fn config_with(n: u8, socket: &Path, keys: &BTreeMap<u8, (PathBuf, String)>, mesh: bool) -> String {
    let mut c = format!(
        "[router]\nid = \"10.255.0.{n}\"\nasn = 6500{n}\n\n[control]\nsocket = \"{}\"\n\n\
         [kernel]\nroute_sync = false\n\n\
         [[interface]]\nname = \"vcpe0\"\naddresses = [\"10.255.0.{n}/24\"]\n\n\
         [[route]]\nname = \"vxnet\"\nprefix = \"10.{n}.0.0/16\"\ninterface = \"vcpe0\"\nadvertise = true\n\n\
         [bgp]\nlisten = \"0.0.0.0:179\"\n\n",
        socket.display()
    );
    for m in VPCS
        .iter()
        .filter(|&&m| m != n && (mesh || n == 2 || m == 2))
    {
        c += &format!(
            "[[bgp.neighbor]]\naddress = \"10.255.0.{m}\"\nremote_as = 6500{m}\npeer = \"vpc0{m}\"\nhold_time = 9\n\n"
        );
    }
    for m in VPCS.iter().filter(|&&m| m != n) {
        c += &format!(
            "[[peer]]\nname = \"vpc0{m}\"\nendpoint = \"100.64.{m}.2:51820\"\nbind = \"0.0.0.0:51820\"\n\
             encapsulation = \"wireguard\"\nprivate_key_file = \"{}\"\npublic_key = \"{}\"\n\
             allowed_prefixes = [\"10.255.0.{m}/32\", \"10.{m}.0.0/16\"]\nmtu = 1300\n\n",
            keys[&n].0.display(),
            keys[m].1
        );
    }
    c
}

fn session_up(v: &Vcped, addr: &str) -> Result<u64> {
    let n = v
        .bgp_summary()?
        .into_iter()
        .find(|n| n.address == addr)
        .with_context(|| format!("no neighbor {addr}"))?;
    ensure!(n.state == "Established", "{addr}: {}", n.state);
    Ok(n.since_secs.unwrap_or(0))
}

fn pings(ns: &Netns, addr: &str) -> bool {
    ns.exec(["ping", "-c", "1", "-W", "1", addr])
        .is_ok_and(|o| o.status.success())
}

/// Three vcpeds over WireGuard, each in its namespace behind "inet".
type Vcpes = BTreeMap<u8, (Netns, Vcped, PathBuf)>;

fn three_vcpes(lab: &Lab, keys: &mut BTreeMap<u8, (PathBuf, String)>, mesh: bool) -> Result<Vcpes> {
    let inet = lab.netns("inet")?;
    inet.enable_forwarding()?;
    for n in VPCS {
        let (private, public) = vcpe_tests::wg::keypair()?;
        let path = vcpe_tests::wg::write_key(&lab.dir().join(format!("vpc0{n}.key")), &private)?;
        keys.insert(n, (path, public));
    }
    let mut vcpes: Vcpes = BTreeMap::new();
    for n in VPCS {
        let ns = lab.netns(&format!("vpc0{n}"))?;
        lab.veth(&ns, "wan0", &inet, &format!("w{n}"))?;
        ns.addr("wan0", &format!("100.64.{n}.2/24"))?;
        inet.addr(&format!("w{n}"), &format!("100.64.{n}.1/24"))?;
        ns.route("default", &format!("100.64.{n}.1"))?;
        let socket = lab.dir().join(format!("vcped{n}.sock"));
        let v = Vcped::start(
            &ns,
            lab.dir(),
            &format!("vcped-vpc0{n}"),
            &config_with(n, &socket, keys, mesh),
        )?;
        vcpes.insert(n, (ns, v, socket));
    }
    Ok(vcpes)
}

#[test]
fn a_key_rotated_by_reload_on_both_ends() -> Result<()> {
    require_root!();
    let lab = Lab::new("keyrot")?;
    let mut keys = BTreeMap::new();
    let vcpes = three_vcpes(&lab, &mut keys, true)?;
    let up = |n: u8| -> bool {
        let v = &vcpes[&n].1;
        VPCS.iter()
            .filter(|&&m| m != n)
            .all(|m| session_up(v, &format!("10.255.0.{m}")).is_ok())
    };
    ensure!(
        wait_until(Duration::from_secs(60), || VPCS.iter().all(|&n| up(n))),
        "sessions over the tunnels not up:\n{}",
        vcpes[&1].1.ctl(&["bgp", "summary"])?
    );
    ensure!(pings(&vcpes[&1].0, "10.255.0.2") && pings(&vcpes[&3].0, "10.255.0.2"));
    std::thread::sleep(Duration::from_secs(2));
    let up13 = session_up(&vcpes[&1].1, "10.255.0.3")?;

    // VPC 02's new key pair, in a new file.
    let (private, public) = vcpe_tests::wg::keypair()?;
    let new_path = vcpe_tests::wg::write_key(&lab.dir().join("vpc02-new.key"), &private)?;
    keys.insert(2, (new_path, public));
    for n in [2, 1, 3] {
        let (_, v, socket) = &vcpes[&n];
        std::fs::write(&v.config, config(n, socket, &keys))?;
        let diff = v.ctl(&["config", "diff"])?;
        let want = if n == 2 {
            "~ peer vpc01"
        } else {
            "~ peer vpc02"
        };
        ensure!(diff.contains(want), "VPC 0{n}'s config diff:\n{diff}");
        let out = v.ctl(&["reload"])?;
        ensure!(
            out.contains("changed in place"),
            "VPC 0{n}'s reload:\n{out}"
        );
        if n == 2 {
            // VPC 02 runs its new key, VPC 01 still the old public key:
            // the tunnel is cut (the old session went with the old key).
            ensure!(
                !pings(&vcpes[&1].0, "10.255.0.2") && !pings(&vcpes[&1].0, "10.255.0.2"),
                "VPC 01 still reaches VPC 02 over the old key: the reload did not take the new one"
            );
        }
    }
    for from in [1, 3] {
        ensure!(
            wait_until(Duration::from_secs(15), || pings(
                &vcpes[&from].0,
                "10.255.0.2"
            )),
            "VPC 0{from} cannot reach VPC 02 over the new keys:\n{}",
            vcpes[&from].1.ctl(&["tunnel", "list"])?
        );
    }
    // The tunnel 01 <-> 03 and its session were not touched.
    let after = session_up(&vcpes[&1].1, "10.255.0.3")?;
    ensure!(
        up13 >= 2 && after >= up13,
        "the BGP session 01-03 was reset by a reload about VPC 02: up {up13} s -> {after} s"
    );
    ensure!(pings(&vcpes[&1].0, "10.255.0.3"));

    // Allowed prefixes change in place: without 10.3.0.0/16, VPC 01 drops
    // what VPC 03 sends from 10.3.0.1 as spoofed; back, it passes again.
    let ns3 = &vcpes[&3].0;
    ns3.addr("lo", "10.3.0.1/32")?;
    vcpes[&1].0.route_dev("10.3.0.0/16", "vcpe0")?;
    let from3 = || {
        ns3.exec(["ping", "-c", "1", "-W", "1", "-I", "10.3.0.1", "10.255.0.1"])
            .is_ok_and(|o| o.status.success())
    };
    ensure!(
        wait_until(Duration::from_secs(10), from3),
        "10.3.0.1 cannot reach VPC 01 before the change"
    );
    let (_, v, socket) = &vcpes[&1];
    let spoofed = |v: &Vcped| -> Result<u64> {
        Ok(v.tunnels()?
            .into_iter()
            .find(|t| t.name == "vpc03")
            .context("no tunnel vpc03")?
            .rx_spoofed)
    };
    let before = spoofed(v)?;
    let narrowed = config(1, socket, &keys).replace(
        "[\"10.255.0.3/32\", \"10.3.0.0/16\"]",
        "[\"10.255.0.3/32\"]",
    );
    std::fs::write(&v.config, &narrowed)?;
    let out = v.ctl(&["reload"])?;
    ensure!(out.contains("~ peer vpc03"), "{out}");
    ensure!(!from3(), "10.3.0.1 passes a narrowed allowed_prefixes");
    ensure!(spoofed(v)? > before, "no spoofed packet counted");
    ensure!(
        pings(&vcpes[&1].0, "10.255.0.3"),
        "the rest of the tunnel stopped"
    );
    std::fs::write(&v.config, config(1, socket, &keys))?;
    v.ctl(&["reload"])?;
    ensure!(
        wait_until(Duration::from_secs(5), from3),
        "10.3.0.1 cannot reach VPC 01 after allowed_prefixes were restored"
    );

    // The router's identity is no live setting: refused, naming it.
    let text = config(1, socket, &keys).replace("asn = 65001", "asn = 65009");
    std::fs::write(&v.config, text)?;
    let out = std::process::Command::new(vcpe_tests::cargo_bin("vcpectl"))
        .arg("--socket")
        .arg(&v.socket)
        .arg("reload")
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.code() == Some(1) && err.contains("[router] asn"),
        "exit {:?}: {err}",
        out.status.code()
    );
    Ok(())
}

#[test]
fn a_neighbor_over_a_running_tunnel_is_added_by_reload() -> Result<()> {
    require_root!();
    let lab = Lab::new("nbrtun")?;
    let mut keys = BTreeMap::new();
    // Sessions only with VPC 02: 01 and 03 learn each other's routes
    // through 02.
    let vcpes = three_vcpes(&lab, &mut keys, false)?;
    let v1 = &vcpes[&1].1;
    let v3 = &vcpes[&3].1;
    ensure!(
        wait_until(Duration::from_secs(60), || {
            session_up(v1, "10.255.0.2").is_ok() && session_up(v3, "10.255.0.2").is_ok()
        }),
        "sessions with VPC 02 not up:\n{}",
        v1.ctl(&["bgp", "summary"])?
    );
    ensure!(
        wait_until(Duration::from_secs(20), || {
            v1.explain("10.3.0.1")
                .is_ok_and(|e| format!("{e:?}").contains("vpc02"))
        }),
        "VPC 01 does not reach 10.3.0.0/16 through VPC 02 first:\n{}",
        v1.ctl(&["explain", "10.3.0.1"])?
    );
    ensure!(
        !format!("{:?}", v1.explain("10.3.0.1")?).contains("vpc03"),
        "10.3.0.0/16 goes to VPC 03 before any session with it"
    );
    std::thread::sleep(Duration::from_secs(2));
    let (up12, up32) = (session_up(v1, "10.255.0.2")?, session_up(v3, "10.255.0.2")?);

    // 01 and 03 get a session with each other over their tunnel.
    for n in [1, 3] {
        let (_, v, socket) = &vcpes[&n];
        std::fs::write(&v.config, config_with(n, socket, &keys, true))?;
        let out = v.ctl(&["reload"])?;
        let other = 4 - n;
        ensure!(
            out.contains(&format!("+ bgp neighbor 10.255.0.{other}")),
            "VPC 0{n}'s reload:\n{out}"
        );
    }
    ensure!(
        wait_until(Duration::from_secs(30), || {
            session_up(v1, "10.255.0.3").is_ok() && session_up(v3, "10.255.0.1").is_ok()
        }),
        "the new session 01-03 over the running tunnel is not up:\n{}",
        v1.ctl(&["bgp", "summary"])?
    );
    // VPC 03's route: learned from 03 directly, into the tunnel to 03.
    ensure!(
        wait_until(Duration::from_secs(20), || {
            v1.explain("10.3.0.1")
                .is_ok_and(|e| format!("{e:?}").contains("vpc03"))
        }),
        "VPC 01 does not send 10.3.0.0/16 into the tunnel to VPC 03:\n{}",
        v1.ctl(&["explain", "10.3.0.1"])?
    );
    ensure!(pings(&vcpes[&1].0, "10.255.0.3"));
    // The sessions with VPC 02 were not touched.
    let (a, b) = (session_up(v1, "10.255.0.2")?, session_up(v3, "10.255.0.2")?);
    ensure!(
        up12 >= 2 && up32 >= 2 && a >= up12 && b >= up32,
        "a session with VPC 02 flapped: 01-02 {up12} s -> {a} s, 03-02 {up32} s -> {b} s"
    );
    Ok(())
}
