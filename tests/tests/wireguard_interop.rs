//! vcped's WireGuard tunnel against the Debian `wireguard-go` (configured
//! with `wg` from wireguard-tools): the handshake, ping and an iperf3 TCP
//! transfer across it, in both directions of the handshake.
//!
//! ```text
//!  ns vcpe: kernel ── vcpe0 (TUN) ── vcped ══ UDP 51820 ══ wireguard-go ── wgN 10.255.0.2
//!           10.255.0.1                100.64.0.1      100.64.0.2          (ns wg)
//! ```

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use vcpe_tests::{Lab, Vcped, require_root, require_tool, wait_until};

#[test]
fn vcped_tunnels_to_wireguard_go() -> Result<()> {
    require_root!();
    require_tool("wireguard-go", "apt-get install -y wireguard-go");
    require_tool("wg", "apt-get install -y wireguard-tools");
    require_tool("iperf3", "apt-get install -y iperf3");
    let lab = Lab::new("wggo")?;
    let v = lab.netns("vcpe")?;
    let w = lab.netns("wg")?;
    lab.veth(&v, "wan0", &w, "wan0")?;
    v.addr("wan0", "100.64.0.1/24")?;
    w.addr("wan0", "100.64.0.2/24")?;

    let (our_private, our_public) = vcpe_tests::wg::keypair()?;
    let (their_private, their_public) = vcpe_tests::wg::keypair()?;
    let key_file = vcpe_tests::wg::write_key(&lab.dir().join("vcped.key"), &our_private)?;
    let their_key_file = vcpe_tests::wg::write_key(&lab.dir().join("wg-go.key"), &their_private)?;

    // wireguard-go's control socket is /var/run/wireguard/<if>.sock, not
    // per namespace: the interface name is unique per test process.
    let ifname = format!("wgv{}", std::process::id() % 100_000);
    let mut cmd = w.command("wireguard-go");
    cmd.arg(&ifname).env("WG_PROCESS_FOREGROUND", "1");
    let _wg = w.spawn_command("wireguard-go", cmd)?;
    let up = wait_until(Duration::from_secs(10), || {
        w.exec(["ip", "link", "show", &ifname])
            .is_ok_and(|o| o.status.success())
    });
    ensure!(up, "wireguard-go did not create {ifname}");
    let sock = format!("/var/run/wireguard/{ifname}.sock");
    let _cleanup = scopeguard(move || {
        let _ = std::fs::remove_file(&sock);
    });
    w.run_ok([
        "wg",
        "set",
        &ifname,
        "private-key",
        &their_key_file.display().to_string(),
        "listen-port",
        "51820",
        "peer",
        &our_public,
        "allowed-ips",
        "10.255.0.1/32",
        "endpoint",
        "100.64.0.1:51820",
    ])?;
    w.addr(&ifname, "10.255.0.2/24")?;
    w.link_up(&ifname)?;

    let config = format!(
        r#"[router]
id = "10.255.0.1"
asn = 65001

[kernel]
route_sync = false

[[interface]]
name = "vcpe0"
addresses = ["10.255.0.1/24"]
mtu = 1420

[[route]]
name = "wg-go"
prefix = "10.255.0.2/32"
peer = "wggo"

[[peer]]
name = "wggo"
endpoint = "100.64.0.2:51820"
bind = "0.0.0.0:51820"
encapsulation = "wireguard"
private_key_file = "{}"
public_key = "{their_public}"
allowed_prefixes = ["10.255.0.2/32"]
"#,
        key_file.display()
    );
    let d = Vcped::start(&v, lab.dir(), "vcped", &config)?;
    let r = (|| -> Result<()> {
        // vcped starts the handshake (its first packet is queued behind it).
        let out = v.exec(["ping", "-c", "3", "-i", "0.3", "-W", "3", "10.255.0.2"])?;
        ensure!(
            out.status.success(),
            "ping vcped -> wireguard-go failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            d.ctl(&["stats"]).unwrap_or_default()
        );
        let hs = w.run_ok(["wg", "show", &ifname, "latest-handshakes"])?;
        ensure!(
            hs.split_whitespace().nth(1).is_some_and(|t| t != "0"),
            "wireguard-go shows no handshake: {hs}"
        );
        // The other way round: wireguard-go's host pings vcped's side.
        let out = w.exec(["ping", "-c", "3", "-i", "0.3", "-W", "3", "10.255.0.1"])?;
        ensure!(out.status.success(), "ping wireguard-go -> vcped failed");
        // Bulk TCP: iperf3 server behind wireguard-go, client behind vcped.
        let _server = w.spawn("iperf3", ["iperf3", "-s", "-B", "10.255.0.2"])?;
        let listening = wait_until(Duration::from_secs(10), || {
            w.run_ok(["ss", "-Hltn", "sport", "=", ":5201"])
                .is_ok_and(|o| !o.trim().is_empty())
        });
        ensure!(listening, "iperf3 server not listening");
        for reverse in [false, true] {
            let mut argv = vec!["iperf3", "-c", "10.255.0.2", "-t", "2", "--json"];
            argv.extend(["--connect-timeout", "5000"]);
            if reverse {
                argv.push("-R");
            }
            let out = v.exec_timeout(&argv, Duration::from_secs(30))?;
            let report: serde_json::Value =
                serde_json::from_slice(&out.stdout).with_context(|| {
                    format!(
                        "iperf3 printed no JSON: {}",
                        String::from_utf8_lossy(&out.stderr)
                    )
                })?;
            let bytes = report["end"]["sum_received"]["bytes"].as_u64().unwrap_or(0);
            ensure!(
                out.status.success() && report.get("error").is_none() && bytes > 1_000_000,
                "iperf3{} over vcped <-> wireguard-go: {bytes} bytes, {}",
                if reverse { " -R" } else { "" },
                report["error"]
            );
        }
        let stats = d.stats()?;
        let t = stats.tunnels.first().context("no tunnel in stats")?;
        ensure!(
            t.rx_packets > 0 && t.rx_errors == 0,
            "tunnel counters: {t:?}"
        );
        Ok(())
    })();
    if r.is_err() {
        d.daemon.print_log();
    }
    r
}

/// Runs `f` when dropped.
fn scopeguard(f: impl FnOnce()) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}
