//! Bulk data through the tunnel pipeline (batched receive, TCP/UDP
//! coalescing into super-packets, UDP GSO send) arrives intact, over each
//! encapsulation, and interoperates with real peers:
//!
//! ```text
//!  host A ──veth── vCPE A ══ underlay veth 100.64.0.0/24 ══ vCPE B ──veth── host B
//!  10.1.0.10        vcped (TUN vcpe0)                  vcped or kernel   10.2.0.10
//!  fd01::10                                           (vxlan, wireguard-go) fd02::10
//! ```
//!
//! - iperf3 over IPv4 and IPv6, both ways, with no TCP checksum error on the
//!   receiving host (`nstat TcpInCsumErrors`), over `wireguard`, `vxlan`
//!   and `gre`, on an IPv4 and on an IPv6 underlay;
//! - a file of known SHA-256 copied across each;
//! - vcped `vxlan` against the kernel's `vxlan` device (ping and iperf3 both
//!   ways; tshark dissects VXLAN with our VNI on the underlay);
//! - vcped `wireguard` against Debian's `wireguard-go` (iperf3 both ways).
//!
//! Every namespace is the test's own (a `Lab`), removed also on failure.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use vcpe_tests::{Lab, Netns, Vcped, require_root, wait_until};

/// The underlay between the two vCPEs.
#[derive(Clone, Copy, PartialEq, Debug)]
struct Underlay {
    a: &'static str,
    b: &'static str,
    prefix_len: u8,
}

const V4: Underlay = Underlay {
    a: "100.64.0.1",
    b: "100.64.0.2",
    prefix_len: 24,
};

const V6: Underlay = Underlay {
    a: "fd64::1",
    b: "fd64::2",
    prefix_len: 64,
};

impl Underlay {
    fn v6(self) -> bool {
        self.a.contains(':')
    }

    /// `addr:port` as an endpoint (brackets around IPv6).
    fn endpoint(self, addr: &str, port: u16) -> String {
        if self.v6() {
            format!("[{addr}]:{port}")
        } else {
            format!("{addr}:{port}")
        }
    }
}

/// The encapsulations vcped speaks.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Encap {
    WireGuard,
    Vxlan,
    Gre,
}

/// What runs on vCPE B.
#[derive(Clone, Copy, PartialEq, Debug)]
enum PeerB {
    Vcped,
    KernelVxlan,
    WireguardGo,
}

struct Pair {
    lab: Lab,
    host_a: Netns,
    host_b: Netns,
    vcpe_a: Netns,
    _vcpeds: Vec<Vcped>,
    _others: Vec<vcpe_tests::Daemon>,
    /// wireguard-go's interface name (its control socket is global).
    wg_go_if: Option<String>,
}

impl Drop for Pair {
    fn drop(&mut self) {
        if let Some(ifn) = &self.wg_go_if {
            let _ = std::fs::remove_file(format!("/var/run/wireguard/{ifn}.sock"));
        }
    }
}

/// Inner MTU of the tunnel per encapsulation (1500 underlay).
fn mtu(encap: Encap, u: Underlay) -> u16 {
    let v6 = if u.v6() { 20 } else { 0 };
    match encap {
        Encap::WireGuard => 1420,
        Encap::Vxlan => 1450 - v6,
        Encap::Gre => 1472 - v6,
    }
}

/// vcped's config on side `n` (1 = A, 2 = B). With `via`, the routes to
/// the other side name its inner addresses as next hops (a kernel VTEP is
/// resolved by ARP/ND for them).
fn config(n: u8, encap: Encap, u: Underlay, keys: Option<(&Path, &str)>, via: bool) -> String {
    let m = 3 - n;
    let remote = if n == 1 { u.b } else { u.a };
    let any = if u.v6() { "[::]" } else { "0.0.0.0" };
    // VXLAN on the IPv6 underlay carries inner IPv6 on a second VNI
    // between the same two VTEPs: two tunnels told apart by VNI.
    let second_vni = encap == Encap::Vxlan && u.v6();
    let peer6 = if second_vni { "other6" } else { "other" };
    let (gw4, gw6) = if via {
        (
            format!("next_hop = \"10.255.0.{m}\"\n"),
            format!("next_hop = \"fd00:255::{m}\"\n"),
        )
    } else {
        (String::new(), String::new())
    };
    let mut c = format!(
        "[router]\nid = \"10.255.0.{n}\"\nasn = 6500{n}\n\n[kernel]\nroute_sync = false\n\n\
         [[interface]]\nname = \"vcpe0\"\naddresses = [\"10.255.0.{n}/24\", \"fd00:255::{n}/64\"]\nmtu = {}\n\n\
         [[route]]\nname = \"local\"\nprefix = \"10.{n}.0.0/24\"\ninterface = \"vcpe0\"\n\n\
         [[route]]\nname = \"local-v6\"\nprefix = \"fd0{n}::/64\"\ninterface = \"vcpe0\"\n\n\
         [[route]]\nname = \"remote\"\nprefix = \"10.{m}.0.0/24\"\npeer = \"other\"\n{gw4}\n\
         [[route]]\nname = \"remote-v6\"\nprefix = \"fd0{m}::/64\"\npeer = \"{peer6}\"\n{gw6}\n\
         [[peer]]\nname = \"other\"\nallowed_prefixes = [\"10.{m}.0.0/24\", \"fd0{m}::/64\", \"10.255.0.{m}/32\", \"fd00:255::{m}/128\"]\nmtu = {}\n",
        mtu(encap, u),
        mtu(encap, u)
    );
    c += &match encap {
        Encap::WireGuard => {
            let (key, public) = keys.expect("keys for wireguard");
            format!(
                "encapsulation = \"wireguard\"\nendpoint = \"{}\"\nbind = \"{any}:51820\"\n\
                 private_key_file = \"{}\"\npublic_key = \"{public}\"\n",
                u.endpoint(remote, 51820),
                key.display()
            )
        }
        Encap::Vxlan => {
            format!(
                "encapsulation = \"vxlan\"\nendpoint = \"{}\"\nvni = 42\n",
                u.endpoint(remote, 4789)
            )
        }
        Encap::Gre => format!("encapsulation = \"gre\"\nendpoint = \"{remote}\"\ngre_key = 7\n"),
    };
    if second_vni {
        c += &format!(
            "\n[[peer]]\nname = \"other6\"\nencapsulation = \"vxlan\"\nendpoint = \"{}\"\nvni = 43\n\
             allowed_prefixes = [\"fd0{m}::/64\", \"fd00:255::{m}/128\"]\nmtu = {}\n",
            u.endpoint(remote, 4789),
            mtu(encap, u)
        );
    }
    c
}

impl Pair {
    fn build(tag: &str, encap: Encap, b: PeerB, u: Underlay) -> Result<Pair> {
        let lab = Lab::new(tag)?;
        let vcpe_a = lab.netns("va")?;
        let vcpe_b = lab.netns("vb")?;
        let host_a = lab.netns("ha")?;
        let host_b = lab.netns("hb")?;
        lab.veth(&vcpe_a, "wan0", &vcpe_b, "wan0")?;
        for (ns, addr) in [(&vcpe_a, u.a), (&vcpe_b, u.b)] {
            let cidr = format!("{addr}/{}", u.prefix_len);
            // nodad: usable at once (no tentative IPv6 address).
            ns.ip(["addr", "add", &cidr, "dev", "wan0", "nodad"])?;
        }
        for (n, v, h) in [(1u8, &vcpe_a, &host_a), (2, &vcpe_b, &host_b)] {
            v.enable_forwarding()?;
            for key in ["all", "default"] {
                v.sysctl(&format!("net.ipv4.conf.{key}.rp_filter"), "0")?;
            }
            lab.veth(v, "eth1", h, "eth0")?;
            v.addr("eth1", &format!("10.{n}.0.1/24"))?;
            v.addr("eth1", &format!("fd0{n}::1/64"))?;
            h.addr("eth0", &format!("10.{n}.0.10/24"))?;
            h.addr("eth0", &format!("fd0{n}::10/64"))?;
            h.route("default", &format!("10.{n}.0.1"))?;
            h.route("::/0", &format!("fd0{n}::1"))?;
        }
        let keys = if encap == Encap::WireGuard {
            let mut k = Vec::new();
            for n in [1u8, 2] {
                let (private, public) = vcpe_tests::wg::keypair()?;
                let path =
                    vcpe_tests::wg::write_key(&lab.dir().join(format!("v{n}.key")), &private)?;
                k.push((path, public));
            }
            Some(k)
        } else {
            None
        };
        let key_of = |n: usize| {
            keys.as_ref()
                .map(|k| (k[n].0.as_path(), k[1 - n].1.as_str()))
        };
        let mut vcpeds = Vec::new();
        let via = b == PeerB::KernelVxlan;
        vcpeds.push(Vcped::start(
            &vcpe_a,
            lab.dir(),
            "vcped-a",
            &config(1, encap, u, key_of(0), via),
        )?);
        vcpe_a.route_dev("10.2.0.0/24", "vcpe0")?;
        vcpe_a.route_dev("fd02::/64", "vcpe0")?;
        let mut wg_go_if = None;
        let mut others = Vec::new();
        match b {
            PeerB::Vcped => {
                vcpeds.push(Vcped::start(
                    &vcpe_b,
                    lab.dir(),
                    "vcped-b",
                    &config(2, encap, u, key_of(1), false),
                )?);
                vcpe_b.route_dev("10.1.0.0/24", "vcpe0")?;
                vcpe_b.route_dev("fd01::/64", "vcpe0")?;
            }
            PeerB::KernelVxlan => {
                vcpe_b.ip([
                    "link", "add", "vx0", "type", "vxlan", "id", "42", "local", u.b, "remote", u.a,
                    "dstport", "4789", "dev", "wan0",
                ])?;
                vcpe_b.addr("vx0", "10.255.0.2/24")?;
                vcpe_b.addr("vx0", "fd00:255::2/64")?;
                vcpe_b.ip(["link", "set", "vx0", "mtu", "1450", "up"])?;
                // On a veth underlay the kernel would hand vcped's UDP
                // socket frames whose inner TCP/UDP checksum was left to a
                // NIC that is not there (CHECKSUM_PARTIAL never leaves the
                // host on real hardware). Make the kernel VTEP complete
                // its checksums itself, as a NIC would on the wire.
                vcpe_b.run_ok(["ethtool", "-K", "vx0", "tx", "off"])?;
                vcpe_b.route("10.1.0.0/24", "10.255.0.1")?;
                vcpe_b.route("fd01::/64", "fd00:255::1")?;
            }
            PeerB::WireguardGo => {
                let ifn = format!("vwd{}", std::process::id());
                let (key, _) = keys.as_ref().map(|k| k[1].clone()).context("keys")?;
                let public_a = keys.as_ref().map(|k| k[0].1.clone()).context("keys")?;
                let mut cmd = vcpe_b.command("/usr/bin/wireguard-go");
                cmd.arg(&ifn).env("WG_PROCESS_FOREGROUND", "1");
                let daemon = vcpe_b.spawn_command("wireguard-go", cmd)?;
                let up = wait_until(Duration::from_secs(10), || {
                    Path::new(&format!("/var/run/wireguard/{ifn}.sock")).exists()
                });
                ensure!(up, "wireguard-go did not create its control socket");
                others.push(daemon);
                vcpe_b.run_ok([
                    "wg",
                    "set",
                    &ifn,
                    "private-key",
                    &key.display().to_string(),
                    "listen-port",
                    "51820",
                    "peer",
                    &public_a,
                    "endpoint",
                    &u.endpoint(u.a, 51820),
                    "allowed-ips",
                    "10.1.0.0/24,fd01::/64,10.255.0.1/32,fd00:255::1/128",
                ])?;
                vcpe_b.addr(&ifn, "10.255.0.2/24")?;
                vcpe_b.addr(&ifn, "fd00:255::2/64")?;
                vcpe_b.ip(["link", "set", &ifn, "mtu", "1420", "up"])?;
                vcpe_b.route_dev("10.1.0.0/24", &ifn)?;
                vcpe_b.route_dev("fd01::/64", &ifn)?;
                wg_go_if = Some(ifn);
            }
        }
        Ok(Pair {
            lab,
            host_a,
            host_b,
            vcpe_a,
            _vcpeds: vcpeds,
            _others: others,
            wg_go_if,
        })
    }

    fn ping_both_ways(&self) -> Result<()> {
        for (from, to) in [
            (&self.host_a, "10.2.0.10"),
            (&self.host_a, "fd02::10"),
            (&self.host_b, "10.1.0.10"),
            (&self.host_b, "fd01::10"),
        ] {
            // The first packets may wait for a handshake or a MAC.
            let ok = wait_until(Duration::from_secs(20), || {
                from.exec(["ping", "-c", "1", "-W", "1", to])
                    .is_ok_and(|o| o.status.success())
            });
            ensure!(ok, "{} cannot ping {to} through the tunnel", from.name());
        }
        Ok(())
    }

    fn print_logs(&self) {
        for d in &self._vcpeds {
            d.daemon.print_log();
            eprintln!("{}", d.ctl(&["stats"]).unwrap_or_default());
        }
    }
}

/// `TcpInCsumErrors` of a namespace.
fn csum_errors(ns: &Netns) -> Result<u64> {
    let out = ns.run_ok(["nstat", "-az", "TcpInCsumErrors"])?;
    out.lines()
        .find(|l| l.starts_with("TcpInCsumErrors"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no TcpInCsumErrors in nstat output: {out}"))
}

/// iperf3 for 2 s from `client` to `server_addr` (served by `server`),
/// reversed if `reverse`; returns the bits per second received and checks
/// that the receiving host counted no TCP checksum error.
fn iperf(server: &Netns, client: &Netns, server_addr: &str, reverse: bool) -> Result<f64> {
    let receiver = if reverse { client } else { server };
    let before = csum_errors(receiver)?;
    let _srv = server.spawn("iperf3", ["iperf3", "-s", "-1"])?;
    let listening = wait_until(Duration::from_secs(10), || {
        server
            .run_ok(["ss", "-Hltn", "sport", "=", ":5201"])
            .is_ok_and(|o| !o.trim().is_empty())
    });
    ensure!(listening, "iperf3 server not listening");
    let mut args = vec![
        "iperf3",
        "-c",
        server_addr,
        "-t",
        "2",
        "--json",
        "--connect-timeout",
        "5000",
    ];
    if reverse {
        args.push("-R");
    }
    let out = client.exec_timeout(args, Duration::from_secs(30))?;
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "iperf3 printed no JSON: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    let bps = report["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap_or(0.0);
    ensure!(
        out.status.success() && report["error"].is_null() && bps > 1e6,
        "iperf3 to {server_addr} (reverse {reverse}): {bps} bit/s, error {}",
        report["error"]
    );
    let after = csum_errors(receiver)?;
    ensure!(
        after == before,
        "{} counted {} TCP checksum errors during iperf3 to {server_addr}",
        receiver.name(),
        after - before
    );
    Ok(bps)
}

/// Copies a 16 MiB file of random bytes from host A to `to` (host B's
/// address) over TCP and compares SHA-256 on both ends.
fn copy_file(p: &Pair, to: &str) -> Result<()> {
    let dir = p.lab.dir();
    let src = dir.join("random.bin");
    let dst = dir.join(format!("received-{}.bin", to.replace(':', "_")));
    p.host_a.run_ok([
        "python3",
        "-c",
        &format!(
            "import os; open('{}', 'wb').write(os.urandom(16 << 20))",
            src.display()
        ),
    ])?;
    let family = if to.contains(':') {
        "AF_INET6"
    } else {
        "AF_INET"
    };
    let server = format!(
        "import socket\ns = socket.socket(socket.{family})\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind(('{to}', 7777))\ns.listen(1)\nc, _ = s.accept()\nf = open('{}', 'wb')\n\
         while True:\n    b = c.recv(1 << 16)\n    if not b: break\n    f.write(b)\nf.close()\n",
        dst.display()
    );
    let mut receiver = p.host_b.spawn("receiver", ["python3", "-c", &server])?;
    let listening = wait_until(Duration::from_secs(10), || {
        p.host_b
            .run_ok(["ss", "-Hltn", "sport", "=", ":7777"])
            .is_ok_and(|o| !o.trim().is_empty())
    });
    ensure!(listening, "file receiver not listening");
    let sender = format!(
        "import socket\ns = socket.create_connection(('{to}', 7777), timeout=20)\ns.sendall(open('{}', 'rb').read())\ns.close()\n",
        src.display()
    );
    p.host_a.exec_ok(["python3", "-c", &sender])?;
    let done = wait_until(Duration::from_secs(20), || !receiver.is_running());
    receiver.stop();
    ensure!(done, "the receiver did not finish");
    let sha = |path: &Path| -> Result<String> {
        let out = std::process::Command::new("sha256sum").arg(path).output()?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned())
    };
    let (a, b) = (sha(&src)?, sha(&dst)?);
    ensure!(
        !a.is_empty() && a == b,
        "SHA-256 differs after the copy to {to}: sent {a}, received {b}"
    );
    Ok(())
}

fn bulk(tag: &str, encap: Encap, u: Underlay) -> Result<()> {
    let p = Pair::build(tag, encap, PeerB::Vcped, u)?;
    let r = (|| -> Result<()> {
        p.ping_both_ways()?;
        // `vcpectl tunnel list` names the encapsulation and, once traffic
        // flowed, a state that says the tunnel works.
        let list = p._vcpeds[0].ctl(&["tunnel", "list"])?;
        let (name, state) = match encap {
            Encap::WireGuard => ("wireguard", "up"),
            Encap::Vxlan => ("vxlan", "stateless"),
            Encap::Gre => ("gre", "stateless"),
        };
        ensure!(
            list.contains(name) && list.contains(state),
            "vcpectl tunnel list lacks {name} / {state}:\n{list}"
        );
        for (addr, back) in [("10.2.0.10", "10.1.0.10"), ("fd02::10", "fd01::10")] {
            let fwd = iperf(&p.host_b, &p.host_a, addr, false)?;
            let rev = iperf(&p.host_a, &p.host_b, back, false)?;
            eprintln!(
                "{encap:?} {addr}: A->B {:.0} Mbit/s, B->A {:.0} Mbit/s (debug build)",
                fwd / 1e6,
                rev / 1e6
            );
            copy_file(&p, addr)?;
        }
        Ok(())
    })();
    if r.is_err() {
        p.print_logs();
    }
    r
}

#[test]
fn bulk_tcp_is_intact_over_wireguard() -> Result<()> {
    require_root!();
    bulk("tdwg", Encap::WireGuard, V4)
}

#[test]
fn bulk_tcp_is_intact_over_vxlan() -> Result<()> {
    require_root!();
    bulk("tdvx", Encap::Vxlan, V4)
}

#[test]
fn bulk_tcp_is_intact_over_gre() -> Result<()> {
    require_root!();
    bulk("tdgre", Encap::Gre, V4)
}

#[test]
fn bulk_tcp_is_intact_over_wireguard_on_an_ipv6_underlay() -> Result<()> {
    require_root!();
    bulk("tdwg6", Encap::WireGuard, V6)
}

#[test]
fn bulk_tcp_is_intact_over_vxlan_on_an_ipv6_underlay() -> Result<()> {
    require_root!();
    bulk("tdvx6", Encap::Vxlan, V6)
}

#[test]
fn bulk_tcp_is_intact_over_gre_on_an_ipv6_underlay() -> Result<()> {
    require_root!();
    bulk("tdgre6", Encap::Gre, V6)
}

#[test]
fn vxlan_interoperates_with_the_kernel_vxlan_device() -> Result<()> {
    require_root!();
    let tshark = vcpe_tests::skip::find_tool("tshark");
    let p = Pair::build("tdkvx", Encap::Vxlan, PeerB::KernelVxlan, V4)?;
    let r = (|| -> Result<()> {
        // tshark on the underlay while the pings run.
        let capture = p.lab.dir().join("vxlan.pcap");
        let mut shark = match &tshark {
            Some(t) => {
                let mut cmd = p.vcpe_a.command(t);
                cmd.args([
                    "-i",
                    "wan0",
                    "-c",
                    "6",
                    "-a",
                    "duration:20",
                    "-f",
                    "udp",
                    "-w",
                ])
                .arg(&capture);
                Some(p.vcpe_a.spawn_command("tshark", cmd)?)
            }
            None => None,
        };
        if shark.is_some() {
            // tshark needs a moment before it captures.
            std::thread::sleep(Duration::from_secs(2));
        }
        p.ping_both_ways()?;
        for _ in 0..3 {
            p.host_a.exec(["ping", "-c", "1", "-W", "1", "10.2.0.10"])?;
        }
        if let Some(s) = shark.as_mut() {
            let done = wait_until(Duration::from_secs(20), || !s.is_running());
            s.stop();
            ensure!(done, "tshark captured fewer than 6 packets in 20 s");
            let t = tshark.as_ref().context("tshark")?;
            let out = std::process::Command::new(t)
                .arg("-r")
                .arg(&capture)
                .args(["-T", "fields", "-e", "vxlan.vni", "-e", "ip.src"])
                .output()?;
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let vnis: Vec<&str> = text.lines().filter_map(|l| l.split('\t').next()).collect();
            ensure!(
                vnis.len() >= 6 && vnis.iter().all(|v| *v == "42"),
                "tshark did not dissect VXLAN with VNI 42 on every packet:\n{text}"
            );
            let from_us = text.lines().filter(|l| l.ends_with(V4.a)).count();
            let from_kernel = text.lines().filter(|l| l.ends_with(V4.b)).count();
            ensure!(
                from_us > 0 && from_kernel > 0,
                "expected VXLAN from both ends:\n{text}"
            );
        } else {
            eprintln!(
                "tshark not installed: VXLAN dissection not checked (apt-get install tshark)"
            );
        }
        for (addr, back) in [("10.2.0.10", "10.1.0.10"), ("fd02::10", "fd01::10")] {
            iperf(&p.host_b, &p.host_a, addr, false)?;
            iperf(&p.host_a, &p.host_b, back, false)?;
        }
        Ok(())
    })();
    if r.is_err() {
        p.print_logs();
        eprintln!("{}", p.vcpe_a.ip(["-s", "link"]).unwrap_or_default());
    }
    r
}

#[test]
fn wireguard_interoperates_with_wireguard_go_at_speed() -> Result<()> {
    require_root!();
    if !Path::new("/usr/bin/wireguard-go").exists() {
        bail!("/usr/bin/wireguard-go is missing: apt-get install -y wireguard-go wireguard-tools");
    }
    let p = Pair::build("tdwgo", Encap::WireGuard, PeerB::WireguardGo, V4)?;
    let r = (|| -> Result<()> {
        p.ping_both_ways()?;
        let fwd = iperf(&p.host_b, &p.host_a, "10.2.0.10", false)?;
        let rev = iperf(&p.host_b, &p.host_a, "10.2.0.10", true)?;
        let v6 = iperf(&p.host_a, &p.host_b, "fd01::10", false)?;
        eprintln!(
            "vcped <-> wireguard-go: A->B {:.0}, B->A {:.0}, v6 B->A {:.0} Mbit/s (debug build)",
            fwd / 1e6,
            rev / 1e6,
            v6 / 1e6
        );
        Ok(())
    })();
    if r.is_err() {
        p.print_logs();
    }
    r
}
