//! WireGuard roaming as WireGuard does it, with real vcpeds: a branch
//! behind a NAT router (nftables masquerade) connects to a hub that has
//! no `endpoint` for it, by a hostname the branch resolves from its
//! namespace's hosts file; the NAT then moves the branch to another source
//! port in the middle of a TCP transfer, and traffic continues.
//!
//! ```text
//!  host A ── vCPE A (hub) ══ 100.64.0.0/24 ══ R (masquerade) ── 192.168.7.0/24 ── vCPE B (branch) ── host B
//!  10.1.0.10  no endpoint    .1         .254     nft          .1              .2   endpoint = "hub.roam.test:51820"
//! ```
//!
//! Checked: the hub learns the branch's endpoint from its first
//! authenticated packet and follows it to the new port; the TCP transfer
//! across the change completes; pings pass after it; the branch's own
//! datagrams replayed (and tampered with) from another source are refused
//! and do not move the endpoint; `vcpectl tunnel show`
//! shows both public keys (as `wg pubkey` computes them), the endpoint as
//! configured, resolved and current, handshake time, keepalive and bytes;
//! `vcpectl key pubkey` agrees with `wg pubkey`.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, ensure};
use vcpe_api::view::TunnelInfo;
use vcpe_tests::{Lab, Netns, Vcped, require_root, wait_until};

/// `ip netns exec` bind-mounts `/etc/netns/NAME/hosts` over `/etc/hosts`:
/// a name that resolves inside one namespace only. Removed on drop.
struct NetnsHosts(PathBuf);

impl NetnsHosts {
    fn write(ns: &Netns, content: &str) -> Result<NetnsHosts> {
        let dir = PathBuf::from("/etc/netns").join(ns.name());
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::write(dir.join("hosts"), content)?;
        Ok(NetnsHosts(dir))
    }
}

impl Drop for NetnsHosts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn config(n: u8, key: &std::path::Path, peer_public: &str, endpoint: Option<&str>) -> String {
    let m = 3 - n;
    let endpoint = endpoint.map_or_else(String::new, |e| {
        format!("endpoint = \"{e}\"\nkeepalive = 1\n")
    });
    format!(
        "[router]\nid = \"10.255.0.{n}\"\nasn = 6500{n}\n\n[kernel]\nroute_sync = false\n\n\
         [[interface]]\nname = \"vcpe0\"\naddresses = [\"10.255.0.{n}/24\"]\nmtu = 1420\n\n\
         [[route]]\nname = \"local\"\nprefix = \"10.{n}.0.0/24\"\ninterface = \"vcpe0\"\n\n\
         [[route]]\nname = \"remote\"\nprefix = \"10.{m}.0.0/24\"\npeer = \"other\"\n\n\
         [[peer]]\nname = \"other\"\nencapsulation = \"wireguard\"\nbind = \"0.0.0.0:51820\"\n{endpoint}\
         private_key_file = \"{}\"\npublic_key = \"{peer_public}\"\n\
         allowed_prefixes = [\"10.{m}.0.0/24\", \"10.255.0.{m}/32\"]\nmtu = 1420\n",
        key.display()
    )
}

/// The masquerade rule: the branch's datagrams leave R from `port`.
fn masquerade(r: &Netns, port: u16) -> Result<()> {
    r.run_ok(["nft", "flush", "chain", "ip", "nat", "post"])?;
    r.run_ok([
        "nft",
        "add",
        "rule",
        "ip",
        "nat",
        "post",
        "oifname",
        "wan",
        "ip",
        "saddr",
        "192.168.7.0/24",
        "meta",
        "l4proto",
        "udp",
        "masquerade",
        "to",
        &format!(":{port}-{port}"),
    ])?;
    Ok(())
}

fn tunnel(v: &Vcped) -> Result<TunnelInfo> {
    v.tunnels()?
        .into_iter()
        .next()
        .context("no tunnel in tunnel list")
}

#[test]
fn branch_behind_nat_roams_to_a_new_port_mid_transfer() -> Result<()> {
    require_root!();
    vcpe_tests::require_tool("nft", "apt-get install nftables");
    vcpe_tests::require_tool("conntrack", "apt-get install conntrack");
    vcpe_tests::require_tool("iperf3", "apt-get install iperf3");
    let lab = Lab::new("wgroam")?;
    let vcpe_a = lab.netns("va")?;
    let router = lab.netns("r")?;
    let vcpe_b = lab.netns("vb")?;
    let host_a = lab.netns("ha")?;
    let host_b = lab.netns("hb")?;
    lab.veth(&vcpe_a, "wan0", &router, "wan")?;
    lab.veth(&router, "lan", &vcpe_b, "wan0")?;
    vcpe_a.addr("wan0", "100.64.0.1/24")?;
    router.addr("wan", "100.64.0.254/24")?;
    router.addr("lan", "192.168.7.1/24")?;
    vcpe_b.addr("wan0", "192.168.7.2/24")?;
    vcpe_b.route("default", "192.168.7.1")?;
    router.enable_forwarding()?;
    router.run_ok(["nft", "add", "table", "ip", "nat"])?;
    router.run_ok([
        "nft",
        "add chain ip nat post { type nat hook postrouting priority 100 ; }",
    ])?;
    masquerade(&router, 20000)?;
    for (n, v, h) in [(1u8, &vcpe_a, &host_a), (2, &vcpe_b, &host_b)] {
        v.enable_forwarding()?;
        for key in ["all", "default"] {
            v.sysctl(&format!("net.ipv4.conf.{key}.rp_filter"), "0")?;
        }
        lab.veth(v, "eth1", h, "eth0")?;
        v.addr("eth1", &format!("10.{n}.0.1/24"))?;
        h.addr("eth0", &format!("10.{n}.0.10/24"))?;
        h.route("default", &format!("10.{n}.0.1"))?;
    }
    let _hosts = NetnsHosts::write(&vcpe_b, "127.0.0.1 localhost\n100.64.0.1 hub.roam.test\n")?;
    let (pa, pub_a) = vcpe_tests::wg::keypair()?;
    let (pb, pub_b) = vcpe_tests::wg::keypair()?;
    let ka = vcpe_tests::wg::write_key(&lab.dir().join("a.key"), &pa)?;
    let kb = vcpe_tests::wg::write_key(&lab.dir().join("b.key"), &pb)?;

    // The hub has no endpoint for the branch; the branch names the hub.
    let a = Vcped::start(&vcpe_a, lab.dir(), "vcped-a", &config(1, &ka, &pub_b, None))?;
    // Before the branch runs, the hub has nowhere to send, and says so.
    let waiting = tunnel(&a)?;
    assert_eq!(
        (waiting.state.as_str(), waiting.endpoint.as_str()),
        ("down", "none")
    );
    assert!(
        waiting.state_note.contains("no endpoint yet"),
        "{waiting:#?}"
    );
    vcpe_a.route_dev("10.2.0.0/24", "vcpe0")?;
    host_a.exec(["ping", "-c", "1", "-W", "1", "10.2.0.10"])?;
    let dropped = tunnel(&a)?;
    assert!(
        dropped.tx_errors > 0 && dropped.tx_packets == 0,
        "{dropped:#?}"
    );
    let b = Vcped::start(
        &vcpe_b,
        lab.dir(),
        "vcped-b",
        &config(2, &kb, &pub_a, Some("hub.roam.test:51820")),
    )?;
    vcpe_b.route_dev("10.1.0.0/24", "vcpe0")?;

    // `vcpectl key pubkey` agrees with `wg pubkey`.
    assert_eq!(
        a.ctl(&["key", "pubkey", &ka.display().to_string()])?.trim(),
        pub_a
    );

    let first = "100.64.0.254:20000";
    let learned = wait_until(Duration::from_secs(15), || {
        tunnel(&a).is_ok_and(|t| t.state == "up" && t.endpoint == first)
    });
    ensure!(
        learned,
        "the hub did not learn the branch's endpoint: {:#?}",
        tunnel(&a)
    );
    host_a.exec_ok(["ping", "-c", "3", "-W", "2", "10.2.0.10"])?;

    // The branch resolved the hub's name in its namespace.
    let tb = tunnel(&b)?;
    assert_eq!(
        tb.endpoint_configured.as_deref(),
        Some("hub.roam.test:51820")
    );
    assert_eq!(tb.endpoint_resolved.as_deref(), Some("100.64.0.1:51820"));
    assert_eq!(tb.endpoint, "100.64.0.1:51820");
    assert_eq!(tb.keepalive_secs, Some(1));
    assert_eq!(tb.resolve_error, None);

    // A TCP transfer from behind the NAT; in its middle the NAT moves the
    // branch to source port 30000 (new rule, conntrack flushed).
    let _server = host_a.spawn("iperf3-server", ["iperf3", "-s", "-1", "-B", "10.1.0.10"])?;
    let listening = wait_until(Duration::from_secs(10), || {
        host_a
            .run_ok(["ss", "-Hltn", "sport", "=", ":5201"])
            .is_ok_and(|o| !o.trim().is_empty())
    });
    ensure!(listening, "iperf3 server not listening");
    let transfer = std::thread::scope(|s| -> Result<String> {
        let client = s.spawn(|| {
            host_b.exec_timeout(
                ["iperf3", "-c", "10.1.0.10", "-t", "8", "-J"],
                Duration::from_secs(40),
            )
        });
        std::thread::sleep(Duration::from_secs(3));
        masquerade(&router, 30000)?;
        router.run_ok(["conntrack", "-F"])?;
        let out = client
            .join()
            .map_err(|_| anyhow::anyhow!("iperf3 thread panicked"))??;
        ensure!(
            out.status.success(),
            "iperf3 across the port change failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    })?;
    let report: serde_json::Value = serde_json::from_str(&transfer)?;
    let received = report["end"]["sum_received"]["bytes"].as_u64().unwrap_or(0);
    // Every second of the transfer carried data, also those after the change.
    let intervals = report["intervals"].as_array().context("iperf3 intervals")?;
    let late: u64 = intervals
        .iter()
        .skip(5)
        .map(|i| i["sum"]["bytes"].as_u64().unwrap_or(0))
        .sum();
    ensure!(
        received > 1_000_000 && late > 0,
        "too little went through: {received} bytes, {late} after the change"
    );

    // The hub followed the branch to its new source port.
    let second = "100.64.0.254:30000";
    let moved = wait_until(Duration::from_secs(5), || {
        tunnel(&a).is_ok_and(|t| t.endpoint == second)
    });
    ensure!(
        moved,
        "the hub did not follow the new port: {:#?}",
        tunnel(&a)
    );
    host_a.exec_ok(["ping", "-c", "5", "-W", "2", "10.2.0.10"])?;
    host_b.exec_ok(["ping", "-c", "5", "-W", "2", "10.1.0.10"])?;

    // A datagram of the branch's replayed from another source (R itself,
    // port 40000), and a tampered copy: found by their receiver index, but
    // refused, so the endpoint stays where the authenticated traffic is.
    let capture = lab.dir().join("branch.pcap");
    let mut dump = vcpe_a.spawn(
        "tcpdump",
        [
            "tcpdump",
            "-i",
            "wan0",
            "-c",
            "3",
            "-w",
            &capture.display().to_string(),
            "udp and src port 30000 and greater 100",
        ],
    )?;
    std::thread::sleep(Duration::from_secs(2));
    host_b.exec_ok(["ping", "-c", "5", "-i", "0.2", "-s", "200", "10.1.0.10"])?;
    let captured = wait_until(Duration::from_secs(10), || !dump.is_running());
    dump.stop();
    ensure!(captured, "tcpdump saw no data from the branch");
    let errors_before = tunnel(&a)?.rx_errors;
    let replay = format!(
        "import socket, struct\n\
         d = open('{}', 'rb').read()[24:]\n\
         pkts = []\n\
         while len(d) >= 16:\n\
         \x20   n = struct.unpack('<I', d[8:12])[0]\n\
         \x20   pkts.append(d[16:16 + n]); d = d[16 + n:]\n\
         wg = [p[42:] for p in pkts if len(p) > 74 and p[42] == 4]\n\
         assert wg, 'no WireGuard data captured'\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         s.bind(('100.64.0.254', 40000))\n\
         for p in wg:\n\
         \x20   s.sendto(p, ('100.64.0.1', 51820))\n\
         \x20   t = bytearray(p); t[-1] ^= 1\n\
         \x20   s.sendto(bytes(t), ('100.64.0.1', 51820))\n\
         print(len(wg))\n",
        capture.display()
    );
    let sent: u64 = router.run_ok(["python3", "-c", &replay])?.trim().parse()?;
    let refused = wait_until(Duration::from_secs(5), || {
        tunnel(&a).is_ok_and(|t| t.rx_errors >= errors_before + 2 * sent)
    });
    ensure!(
        refused,
        "replayed/tampered datagrams not refused: {:#?}",
        tunnel(&a)
    );
    assert_eq!(
        tunnel(&a)?.endpoint,
        second,
        "an unauthenticated source moved the endpoint"
    );
    host_a.exec_ok(["ping", "-c", "3", "-W", "2", "10.2.0.10"])?;

    // tunnel show on the hub: keys, endpoints, handshake time, bytes.
    let ta = tunnel(&a)?;
    assert_eq!(ta.state, "up");
    assert_eq!(ta.public_key.as_deref(), Some(pub_a.as_str()));
    assert_eq!(ta.peer_public_key.as_deref(), Some(pub_b.as_str()));
    assert_eq!(ta.endpoint_configured, None);
    assert_eq!(ta.endpoint_resolved, None);
    assert_eq!(ta.keepalive_secs, None);
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let hs = ta.last_handshake_unix.context("no handshake time")?;
    assert!(hs <= now && now - hs < 180, "handshake at {hs}, now {now}");
    assert!(ta.rx_bytes >= received, "rx {} < {received}", ta.rx_bytes);
    assert!(ta.tx_packets > 0);
    let text = a.ctl(&["tunnel", "show", "other"])?;
    for needle in [
        format!("public key (ours)     {pub_a}"),
        format!("peer public key       {pub_b}"),
        "endpoint configured   none (learned".to_owned(),
        format!("endpoint now          {second}"),
        "keepalive             off".to_owned(),
    ] {
        assert!(text.contains(&needle), "no '{needle}' in:\n{text}");
    }
    let list = b.ctl(&["tunnel", "list"])?;
    assert!(list.contains(&format!("public key: {pub_b}")), "{list}");
    assert!(
        list.contains("hub.roam.test:51820 resolves to 100.64.0.1:51820"),
        "{list}"
    );
    Ok(())
}
