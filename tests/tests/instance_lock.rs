//! One vcped per TUN and per config (issue 19, item 3): a second vcped in
//! the same namespace, with its own control socket, on the same config or
//! only the same TUN, is refused with the running one's pid, and the first
//! keeps its kernel routes (the refused one never reached kernel sync, so
//! its exit deletes nothing). Also: stale `.vcped-*.tmp` files beside the
//! config are removed at start, everything else is kept (item 8).

use std::time::Duration;

use anyhow::{Result, ensure};
use vcpe_tests::{Lab, Netns, Vcped, cargo_bin, require_root, require_tun, wait_until};

const CONFIG: &str = r#"
[router]
id = "10.255.0.1"
asn = 65001

[kernel]
interface = "vcpe0"

[[interface]]
name = "vcpe0"
addresses = ["10.255.0.1/24"]

[[route]]
name = "far"
prefix = "10.9.0.0/16"
peer = "b"

[[peer]]
name = "b"
endpoint = "100.64.0.2"
encapsulation = "gre"
gre_key = 12
allowed_prefixes = ["10.9.0.0/16"]
"#;

/// Whether the kernel has our (proto 201) route for 10.9.0.0/16 on vcpe0.
fn has_route(ns: &Netns) -> bool {
    ns.ip(["route", "show", "proto", "201"])
        .is_ok_and(|o| o.contains("10.9.0.0/16 dev vcpe0"))
}

/// `vcped run --config CONFIG --socket SOCKET` in `ns`, to completion;
/// its exit status and everything it printed.
fn second(
    ns: &Netns,
    config: &std::path::Path,
    socket: &std::path::Path,
) -> Result<(bool, String)> {
    let vcped = cargo_bin("vcped");
    let out = ns.exec_timeout(
        [
            vcped.as_os_str(),
            "run".as_ref(),
            "--config".as_ref(),
            config.as_os_str(),
            "--socket".as_ref(),
            socket.as_os_str(),
        ],
        Duration::from_secs(20),
    )?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.success(), text))
}

#[test]
fn a_second_vcped_on_the_same_tun_or_config_is_refused_and_harms_nothing() -> Result<()> {
    require_root!();
    require_tun();
    let lab = Lab::new("inst")?;
    let ns = lab.netns("v")?;
    let dir = lab.dir();
    // Left by a crash during a write-back, and things that only look alike.
    let stale = dir.join(".vcped-Ab12Cd.tmp");
    std::fs::write(&stale, "half a config")?;
    let keep = [".vcped-Ab12Cd.tmp.orig", "vcped-Ab12Cd.tmp", "notes.tmp"];
    for k in keep {
        std::fs::write(dir.join(k), "keep")?;
    }

    let first = Vcped::start(&ns, dir, "first", CONFIG)?;
    ensure!(!stale.exists(), "the stale temp file survived the start");
    for k in keep {
        ensure!(dir.join(k).exists(), "{k} was removed");
    }
    ensure!(
        wait_until(Duration::from_secs(10), || has_route(&ns)),
        "no kernel route: {}",
        ns.ip(["route"])?
    );
    let pid = first.daemon.pid();

    // The same config, another socket.
    let sock2 = dir.join("second.sock");
    let (ok, text) = second(&ns, &first.config, &sock2)?;
    ensure!(!ok, "a second vcped on the same config started: {text}");
    ensure!(
        text.contains(&format!("another vcped (pid {pid})")),
        "{text}"
    );
    // Another config naming the same TUN.
    let other = dir.join("other.toml");
    std::fs::write(&other, CONFIG)?;
    let (ok, text) = second(&ns, &other, &sock2)?;
    ensure!(!ok, "a second vcped on the same TUN started: {text}");
    ensure!(
        text.contains(&format!("another vcped (pid {pid})")) && text.contains("vcpe0"),
        "{text}"
    );
    ensure!(!sock2.exists(), "the refused daemon left its socket");

    // The first is untouched: running, answering, its kernel route there.
    ensure!(first.daemon.is_running(), "{}", first.daemon.log());
    first.ctl(&["status"])?;
    ensure!(
        has_route(&ns),
        "the refused daemon took the first one's kernel route: {}",
        ns.ip(["route"])?
    );

    // Once the first is gone, the lock is free again.
    let mut first = first;
    first.daemon.stop();
    let third = Vcped::start(&ns, dir, "third", CONFIG)?;
    third.ctl(&["status"])?;
    Ok(())
}
