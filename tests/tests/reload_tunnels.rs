//! Tunnel peers changed by `vcpectl reload` alone (issue 17 item 1), with
//! three real vcpeds over WireGuard in network namespaces: VPC 02's key
//! pair is rotated (its private key file on its side, its public key on
//! the two others) by a reload on each end; traffic flows again over the
//! new keys, and the tunnel between VPC 01 and VPC 03 and its BGP session
//! are not touched. A change a running tunnel cannot take (its endpoint)
//! is refused, naming the field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use vcpe_tests::{Lab, Netns, Vcped, require_root, wait_until};

const VPCS: [u8; 3] = [1, 2, 3];

fn config(n: u8, socket: &Path, keys: &BTreeMap<u8, (PathBuf, String)>) -> String {
    let mut c = format!(
        "[router]\nid = \"10.255.0.{n}\"\nasn = 6500{n}\n\n[control]\nsocket = \"{}\"\n\n\
         [kernel]\nroute_sync = false\n\n\
         [[interface]]\nname = \"vcpe0\"\naddresses = [\"10.255.0.{n}/24\"]\n\n\
         [bgp]\nlisten = \"0.0.0.0:179\"\n\n",
        socket.display()
    );
    for m in VPCS.iter().filter(|&&m| m != n) {
        c += &format!(
            "[[bgp.neighbor]]\naddress = \"10.255.0.{m}\"\nremote_as = 6500{m}\npeer = \"vpc0{m}\"\nhold_time = 9\n\n"
        );
    }
    for m in VPCS.iter().filter(|&&m| m != n) {
        c += &format!(
            "[[peer]]\nname = \"vpc0{m}\"\nendpoint = \"100.64.{m}.2:51820\"\nbind = \"0.0.0.0:51820\"\n\
             encapsulation = \"wireguard\"\nprivate_key_file = \"{}\"\npublic_key = \"{}\"\n\
             allowed_prefixes = [\"10.255.0.{m}/32\"]\nmtu = 1300\n\n",
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

#[test]
fn a_key_rotated_by_reload_on_both_ends() -> Result<()> {
    require_root!();
    let lab = Lab::new("keyrot")?;
    let inet = lab.netns("inet")?;
    inet.enable_forwarding()?;
    let mut keys = BTreeMap::new();
    for n in VPCS {
        let (private, public) = vcpe_tests::wg::keypair()?;
        let path = vcpe_tests::wg::write_key(&lab.dir().join(format!("vpc0{n}.key")), &private)?;
        keys.insert(n, (path, public));
    }
    let mut vcpes: BTreeMap<u8, (Netns, Vcped, PathBuf)> = BTreeMap::new();
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
            &config(n, &socket, &keys),
        )?;
        vcpes.insert(n, (ns, v, socket));
    }
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

    // The endpoint is no live setting (yet): refused, naming it.
    let (_, v, socket) = &vcpes[&1];
    let text = config(1, socket, &keys).replace("100.64.3.2:51820", "100.64.3.9:51820");
    std::fs::write(&v.config, text)?;
    let out = std::process::Command::new(vcpe_tests::cargo_bin("vcpectl"))
        .arg("--socket")
        .arg(&v.socket)
        .arg("reload")
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.code() == Some(1) && err.contains("[[peer]] vpc03 changed (endpoint)"),
        "exit {:?}: {err}",
        out.status.code()
    );
    Ok(())
}
