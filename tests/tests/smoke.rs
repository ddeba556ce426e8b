//! Smoke tests: namespaces joined by veth pairs and bridges really pass traffic,
//! and disappear when the lab drops.

use anyhow::{Result, ensure};
use vcpe_tests::{Lab, Netns, list_netns, require_root};

/// Pings `to` from `from` once and checks the reply came from `to`.
fn ping(from: &Netns, to: &str) -> Result<()> {
    let out = from.run_ok(["ping", "-c", "1", "-W", "2", to])?;
    ensure!(
        out.contains(&format!("from {to}:")),
        "ping from {} to {to} succeeded but no reply from {to}:\n{out}",
        from.name()
    );
    Ok(())
}

#[test]
fn two_namespaces_ping_each_other_over_a_veth_pair() -> Result<()> {
    require_root!();
    let names = {
        let lab = Lab::new("smoke")?;
        let a = lab.netns("a")?;
        let b = lab.netns("b")?;
        let veth = lab.veth(&a, "eth0", &b, "eth0")?;
        veth.a.addr("10.0.0.1/24")?;
        veth.b.addr("10.0.0.2/24")?;
        a.addr("eth0", "fd00::1/64")?;
        b.addr("eth0", "fd00::2/64")?;

        ping(&a, "10.0.0.2")?;
        ping(&b, "10.0.0.1")?;
        ping(&a, "fd00::2")?;
        ping(&b, "fd00::1")?;

        let names = lab.netns_names();
        let listed = list_netns()?;
        for n in &names {
            ensure!(
                listed.contains(n),
                "{n} missing from `ip netns list`: {listed:?}"
            );
        }
        names
    };
    let listed = list_netns()?;
    for n in &names {
        ensure!(
            !listed.contains(n),
            "{n} still exists after the lab dropped"
        );
    }
    Ok(())
}

#[test]
fn namespaces_are_deleted_even_while_handles_live() -> Result<()> {
    require_root!();
    let lab = Lab::new("handles")?;
    let a = lab.netns("a")?;
    ensure!(a.exists());
    drop(lab);
    ensure!(!a.exists(), "{} survived its lab", a.name());
    ensure!(!list_netns()?.contains(&a.name().to_owned()));
    ensure!(
        a.exec(["true"]).is_err(),
        "exec in a deleted namespace must fail"
    );
    Ok(())
}

#[test]
fn three_hosts_on_a_bridge() -> Result<()> {
    require_root!();
    let lab = Lab::new("bridge")?;
    let sw = lab.netns("sw")?;
    let br = lab.bridge(&sw, "br0")?;
    let mut hosts = Vec::new();
    for i in 1..=3 {
        let h = lab.netns(&format!("h{i}"))?;
        br.plug(&format!("p{i}"), &h, "eth0")?;
        h.addr("eth0", &format!("10.1.0.{i}/24"))?;
        h.addr("eth0", &format!("fd00:1::{i}/64"))?;
        hosts.push(h);
    }
    ping(&hosts[0], "10.1.0.2")?;
    ping(&hosts[0], "10.1.0.3")?;
    ping(&hosts[2], "fd00:1::2")?;
    Ok(())
}

#[test]
fn routed_through_a_forwarding_namespace() -> Result<()> {
    require_root!();
    let lab = Lab::new("routed")?;
    let (a, r, b) = (lab.netns("a")?, lab.netns("r")?, lab.netns("b")?);
    lab.veth(&a, "eth0", &r, "left")?;
    lab.veth(&r, "right", &b, "eth0")?;
    r.enable_forwarding()?;
    ensure!(r.sysctl_get("net.ipv4.ip_forward")? == "1");
    ensure!(
        a.sysctl_get("net.ipv4.ip_forward")? == "0",
        "sysctl leaked out of its namespace"
    );
    for (ns, dev, v4, v6) in [
        (&a, "eth0", "10.2.1.1/24", "fd00:21::1/64"),
        (&r, "left", "10.2.1.254/24", "fd00:21::fe/64"),
        (&r, "right", "10.2.2.254/24", "fd00:22::fe/64"),
        (&b, "eth0", "10.2.2.1/24", "fd00:22::1/64"),
    ] {
        ns.addr(dev, v4)?;
        ns.addr(dev, v6)?;
    }
    a.route("default", "10.2.1.254")?;
    a.route("default", "fd00:21::fe")?;
    b.route("10.2.1.0/24", "10.2.2.254")?;
    b.route("fd00:21::/64", "fd00:22::fe")?;
    ping(&a, "10.2.2.1")?;
    ping(&a, "fd00:22::1")?;
    Ok(())
}

#[test]
fn failed_commands_explain_themselves() -> Result<()> {
    require_root!();
    let lab = Lab::new("cmderr")?;
    let a = lab.netns("a")?;
    let out = a.exec(["sh", "-c", "exit 3"])?;
    ensure!(out.status.code() == Some(3));
    let err = a
        .run_ok(["sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 7"])
        .expect_err("exit 7 must be an error")
        .to_string();
    for needle in [
        "ip netns exec",
        a.name(),
        "exit status: 7",
        "to-stdout",
        "to-stderr",
    ] {
        ensure!(err.contains(needle), "error lacks {needle:?}:\n{err}");
    }
    let err = a
        .ip(["link", "set", "nosuchdev", "up"])
        .unwrap_err()
        .to_string();
    ensure!(err.contains("nosuchdev"), "{err}");
    Ok(())
}
