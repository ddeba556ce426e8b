//! The seed topology of "different-VPC vxnet communication (many-to-many)":
//! three VPCs, one vCPE each (a namespace running vcped), one namespace per
//! vxnet VM, VPC 01's vCPE serving two vxnets on two NICs, and an
//! "internet" namespace routing between the vCPEs' underlay addresses.
//! Each vcped advertises its vxnets by BGP over the tunnels (sessions
//! between the tunnel inner addresses 10.255.0.N) and learns the others';
//! every pair of VMs pings, over WireGuard, GRE and VXLAN.
//!
//! ```text
//!  vm11 10.1.1.10 ─┐                          ┌─ vm21 10.2.1.10
//!  vm12 10.1.2.10 ─┴ vpc01 ── inet ── vpc02 ──┘
//!                    100.64.1.2  │  100.64.2.2
//!                              vpc03 100.64.3.2 ── vm31 10.3.1.10
//! ```
//!
//! The VPC kernels route 10.0.0.0/8 into vcped's TUN `vcpe0` by hand
//! (kernel route sync is off here; `kernel_sync.rs` tests it); the vxnets
//! themselves are connected routes of the vCPE kernel.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use vcpe_tests::{Lab, Netns, Vcped, require_root, wait_until};

/// (VPC number, its vxnet numbers).
const VPCS: [(u8, &[u8]); 3] = [(1, &[1, 2]), (2, &[1]), (3, &[1])];

/// Which vCPEs have tunnels (and BGP sessions) to which.
#[derive(Clone, Copy, PartialEq)]
enum Mesh {
    /// Every pair.
    Full,
    /// Only hub ↔ spoke: spoke-to-spoke traffic transits the hub.
    Hub(u8),
}

impl Mesh {
    /// The VPCs `n` has tunnels to.
    fn links(self, n: u8) -> Vec<u8> {
        VPCS.iter()
            .map(|v| v.0)
            .filter(|&m| {
                m != n
                    && match self {
                        Mesh::Full => true,
                        Mesh::Hub(h) => n == h || m == h,
                    }
            })
            .collect()
    }
}

/// Which encapsulation the three vcpeds use between them.
#[derive(Clone, Copy, PartialEq)]
enum Encap {
    WireGuard,
    Gre,
    Vxlan,
}

/// A vxnet VM: its namespace and addresses.
struct Vm {
    name: String,
    ns: Netns,
    v4: String,
    v6: String,
}

struct Topology {
    mesh: Mesh,
    vcpes: BTreeMap<u8, (Netns, Vcped)>,
    vms: Vec<Vm>,
    /// The "internet" between the vCPEs.
    inet: Netns,
    lab: Lab,
}

fn underlay(n: u8) -> String {
    format!("100.64.{n}.2")
}

/// A WireGuard key pair for VPC 0n: the private key's file and the public key.
fn wg_keys(dir: &std::path::Path, n: u8) -> Result<(std::path::PathBuf, String)> {
    let (private, public) = vcpe_tests::wg::keypair()?;
    let path = vcpe_tests::wg::write_key(&dir.join(format!("vpc0{n}.key")), &private)?;
    Ok((path, public))
}

/// The tunnel MTU every peer gets: below the TUN's 1400, so that the
/// tunnel's own MTU check (not the kernel's) answers big DF packets.
const TUNNEL_MTU: u16 = 1300;

fn config(
    n: u8,
    mesh: Mesh,
    encap: Encap,
    keys: &BTreeMap<u8, (std::path::PathBuf, String)>,
    extra: &str,
) -> String {
    let mut c = format!(
        "[router]\nid = \"10.255.0.{n}\"\nasn = 6500{n}\n\n[kernel]\nroute_sync = false\n\n\
         [[interface]]\nname = \"vcpe0\"\naddresses = [\"10.255.0.{n}/24\", \"fd00:255::{n}/64\"]\nmtu = 1400\n\n"
    );
    let (_, vxnets) = VPCS.iter().find(|v| v.0 == n).copied().unwrap_or((n, &[]));
    for k in vxnets {
        c += &format!(
            "[[route]]\nname = \"vxnet-{n}{k}\"\nprefix = \"10.{n}.{k}.0/24\"\ninterface = \"vcpe0\"\nadvertise = true\n\n\
             [[route]]\nname = \"vxnet-{n}{k}-v6\"\nprefix = \"fd00:{n}:{k}::/64\"\ninterface = \"vcpe0\"\nadvertise = true\n\n"
        );
    }
    c += extra;
    c += "[bgp]\nlisten = \"0.0.0.0:179\"\n\n";
    for m in &mesh.links(n) {
        c += &format!(
            "[[bgp.neighbor]]\naddress = \"10.255.0.{m}\"\nremote_as = 6500{m}\npeer = \"vpc0{m}\"\nhold_time = 9\n\n"
        );
    }
    for m in &mesh.links(n) {
        // 10.50.0.0/24: the service both VPC 02 and VPC 03 may answer
        // from (the failover test).
        let allowed = match mesh {
            // A spoke's hub relays the other spokes' traffic.
            Mesh::Hub(h) if *m == h => "[\"10.0.0.0/8\", \"fd00::/16\"]".to_owned(),
            _ => format!(
                "[\"10.255.0.{m}/32\", \"10.{m}.0.0/16\", \"10.50.0.0/24\", \"fd00:255::{m}/128\", \"fd00:{m}::/32\"]"
            ),
        };
        c += &match encap {
            Encap::WireGuard => format!(
                "[[peer]]\nname = \"vpc0{m}\"\nendpoint = \"{}:51820\"\nbind = \"0.0.0.0:51820\"\n\
                 encapsulation = \"wireguard\"\nprivate_key_file = \"{}\"\npublic_key = \"{}\"\n\
                 allowed_prefixes = {allowed}\nmtu = {TUNNEL_MTU}\n\n",
                underlay(*m),
                keys[&n].0.display(),
                keys[m].1
            ),
            Encap::Gre => format!(
                "[[peer]]\nname = \"vpc0{m}\"\nendpoint = \"{}\"\nencapsulation = \"gre\"\n\
                 gre_key = {}\nallowed_prefixes = {allowed}\nmtu = {TUNNEL_MTU}\n\n",
                underlay(*m),
                u32::from(n.min(*m)) * 10 + u32::from(n.max(*m))
            ),
            // One VNI per pair; every peer listens on UDP 4789.
            Encap::Vxlan => format!(
                "[[peer]]\nname = \"vpc0{m}\"\nendpoint = \"{}:4789\"\nencapsulation = \"vxlan\"\n\
                 vni = {}\nallowed_prefixes = {allowed}\nmtu = {TUNNEL_MTU}\n\n",
                underlay(*m),
                u32::from(n.min(*m)) * 10 + u32::from(n.max(*m))
            ),
        };
    }
    c
}

impl Topology {
    /// Builds the topology; `extra(n)` is added to the config of VPC 0n.
    fn build(
        tag: &str,
        mesh: Mesh,
        encap: Encap,
        extra: &dyn Fn(u8) -> String,
    ) -> Result<Topology> {
        let lab = Lab::new(tag)?;
        let inet = lab.netns("inet")?;
        inet.enable_forwarding()?;
        let mut keys = BTreeMap::new();
        if encap == Encap::WireGuard {
            for (n, _) in VPCS {
                keys.insert(n, wg_keys(lab.dir(), n)?);
            }
        }
        let mut vcpes = BTreeMap::new();
        let mut vms = Vec::new();
        for (n, vxnets) in VPCS {
            let v = lab.netns(&format!("vpc0{n}"))?;
            v.enable_forwarding()?;
            for key in ["all", "default"] {
                v.sysctl(&format!("net.ipv4.conf.{key}.rp_filter"), "0")?;
            }
            lab.veth(&v, "wan0", &inet, &format!("w{n}"))?;
            v.addr("wan0", &format!("{}/24", underlay(n)))?;
            inet.addr(&format!("w{n}"), &format!("100.64.{n}.1/24"))?;
            v.route("default", &format!("100.64.{n}.1"))?;
            for k in vxnets {
                let vm = lab.netns(&format!("vm{n}{k}"))?;
                lab.veth(&v, &format!("eth{k}"), &vm, "eth0")?;
                v.addr(&format!("eth{k}"), &format!("10.{n}.{k}.1/24"))?;
                vm.addr("eth0", &format!("10.{n}.{k}.10/24"))?;
                vm.route("default", &format!("10.{n}.{k}.1"))?;
                v.addr(&format!("eth{k}"), &format!("fd00:{n}:{k}::1/64"))?;
                vm.addr("eth0", &format!("fd00:{n}:{k}::10/64"))?;
                vm.route("::/0", &format!("fd00:{n}:{k}::1"))?;
                vms.push(Vm {
                    name: format!("vm{n}{k}"),
                    ns: vm,
                    v4: format!("10.{n}.{k}.10"),
                    v6: format!("fd00:{n}:{k}::10"),
                });
            }
            let text = config(n, mesh, encap, &keys, &extra(n));
            let d = Vcped::start(&v, lab.dir(), &format!("vcped-vpc0{n}"), &text)?;
            v.route_dev("10.0.0.0/8", "vcpe0")?;
            v.route_dev("fd00::/16", "vcpe0")?;
            vcpes.insert(n, (v, d));
        }
        Ok(Topology {
            mesh,
            inet,
            vcpes,
            vms,
            lab,
        })
    }

    /// Waits until every vcped has both BGP sessions Established and every
    /// remote vxnet in its routes.
    fn converge(&self) -> Result<()> {
        for (n, (_, d)) in &self.vcpes {
            let ok = wait_until(Duration::from_secs(60), || {
                d.bgp_summary().is_ok_and(|ns| {
                    ns.len() == self.mesh.links(*n).len()
                        && ns.iter().all(|x| x.state == "Established")
                })
            });
            if !ok {
                bail!(
                    "vcped of VPC 0{n}: BGP sessions over the tunnels not Established after 60 s:\n{}\n{}",
                    d.ctl(&["bgp", "summary"]).unwrap_or_default(),
                    d.ctl(&["stats"]).unwrap_or_default()
                );
            }
        }
        for (n, (_, d)) in &self.vcpes {
            let want: Vec<String> = VPCS
                .iter()
                .filter(|v| v.0 != *n)
                .flat_map(|(m, ks)| ks.iter().map(move |k| format!("10.{m}.{k}.0/24")))
                .collect();
            let ok = wait_until(Duration::from_secs(30), || {
                d.show_route(&[])
                    .is_ok_and(|v| want.iter().all(|p| v.best(p).is_some()))
            });
            ensure!(
                ok,
                "vcped of VPC 0{n} did not learn {want:?}:\n{}",
                d.ctl(&["show", "route"]).unwrap_or_default()
            );
        }
        Ok(())
    }

    fn all_pairs_ping(&self) -> Result<()> {
        let mut failed = Vec::new();
        for from in &self.vms {
            for to in self.vms.iter().filter(|v| v.name != from.name) {
                for addr in [&to.v4, &to.v6] {
                    let out = from
                        .ns
                        .exec(["ping", "-c", "3", "-i", "0.2", "-W", "2", addr])?;
                    if !out.status.success() {
                        failed.push(format!("{} -> {} ({addr})", from.name, to.name));
                    }
                }
            }
        }
        if !failed.is_empty() {
            let mut detail = String::new();
            for (n, (_, d)) in &self.vcpes {
                detail += &format!(
                    "--- vcped VPC 0{n}\n{}\n",
                    d.ctl(&["stats"]).unwrap_or_default()
                );
            }
            bail!("pings failed: {failed:?}\n{detail}");
        }
        Ok(())
    }

    fn print_logs(&self) {
        for (_, d) in self.vcpes.values() {
            d.daemon.print_log();
        }
    }
}

fn seed_topology(tag: &str, encap: Encap) -> Result<()> {
    let t = Topology::build(tag, Mesh::Full, encap, &|_| String::new())?;
    let r = (|| -> Result<()> {
        t.converge()?;
        t.all_pairs_ping()?;
        // MTU: a DF packet that fits the TUN (1400) but not the tunnel
        // (1300) gets Fragmentation Needed with the tunnel MTU, from vcped.
        let vm11 = &t.vms.iter().find(|v| v.name == "vm11").context("vm11")?.ns;
        let out = vm11.exec([
            "ping",
            "-c",
            "1",
            "-W",
            "2",
            "-M",
            "do",
            "-s",
            "1350",
            "10.2.1.10",
        ])?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        ensure!(
            text.contains(&format!("mtu = {TUNNEL_MTU}")),
            "expected Frag Needed with mtu = {TUNNEL_MTU}:\n{text}"
        );
        let out = vm11.exec([
            "ping",
            "-c",
            "1",
            "-W",
            "2",
            "-M",
            "do",
            "-s",
            "1200",
            "10.2.1.10",
        ])?;
        ensure!(
            out.status.success(),
            "a 1228-byte DF ping did not pass the 1300-byte tunnel"
        );
        // Bulk TCP across the tunnel: the VPC kernel hands vcped 64 KiB
        // super-packets (TSO on the TUN), split and sent in batches.
        let vm21 = &t.vms.iter().find(|v| v.name == "vm21").context("vm21")?.ns;
        let _server = vm21.spawn("iperf3", ["iperf3", "-s"])?;
        let listening = wait_until(Duration::from_secs(10), || {
            vm21.run_ok(["ss", "-Hltn", "sport", "=", ":5201"])
                .is_ok_and(|out| !out.trim().is_empty())
        });
        ensure!(listening, "iperf3 server in vm21 is not listening");
        let out = vm11.exec_timeout(
            [
                "iperf3",
                "-c",
                "10.2.1.10",
                "-t",
                "2",
                "--json",
                "--connect-timeout",
                "5000",
            ],
            Duration::from_secs(30),
        )?;
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).with_context(|| {
            format!(
                "iperf3 printed no JSON: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
        let bytes = report["end"]["sum_received"]["bytes"].as_u64().unwrap_or(0);
        ensure!(
            out.status.success() && bytes > 1_000_000,
            "iperf3 over the tunnel: {bytes} bytes, {}",
            report["error"]
        );
        eprintln!(
            "iperf3 vm11 -> vm21 over the tunnel: {:.0} Mbit/s (debug build)",
            report["end"]["sum_received"]["bits_per_second"]
                .as_f64()
                .unwrap_or(0.0)
                / 1e6
        );
        if encap == Encap::Gre {
            gre_on_the_wire(&t)?;
        }
        route_added_at_run_time(&t)?;
        // A stranger on the internet sends a datagram of the tunnel's kind
        // to VPC 01's vCPE: dropped without a reply, and counted.
        let (_, d1) = &t.vcpes[&1];
        let before = d1.drops("unknown_tunnel_peer")?;
        let send = match encap {
            // A well-formed GRE header carrying a minimal IPv4 header.
            Encap::Gre => {
                "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_RAW, 47); \
                           s.sendto(bytes([0,0,8,0, 0x45,0,0,20, 0,0,0,0, 64,1,0,0, 10,2,1,10, 10,1,1,10]), ('100.64.1.2', 0))"
            }
            Encap::WireGuard => {
                "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); \
                                 s.sendto(bytes([1,0,0,0]) + bytes(144), ('100.64.1.2', 51820))"
            }
            // A VXLAN frame with VNI 12 (VPC 01's pair with VPC 02).
            Encap::Vxlan => {
                "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); \
                              s.sendto(bytes([8,0,0,0, 0,0,12,0]) + bytes(34), ('100.64.1.2', 4789))"
            }
        };
        t.inet.run_ok(["python3", "-c", send])?;
        let counted = wait_until(Duration::from_secs(5), || {
            d1.drops("unknown_tunnel_peer").is_ok_and(|n| n > before)
        });
        ensure!(
            counted,
            "a datagram from an unknown underlay address was not counted"
        );
        // Anti-spoofing: vm21 sends from an address VPC 02 may not use;
        // vcped of VPC 02 forwards it into the tunnel, vcped of VPC 01
        // drops it and counts it.
        let vm21 = &t.vms.iter().find(|v| v.name == "vm21").context("vm21")?.ns;
        vm21.addr("eth0", "10.9.9.9/32")?;
        let (_, d1) = &t.vcpes[&1];
        let before = d1.drops("spoofed_source")?;
        let out = vm21.exec([
            "ping",
            "-c",
            "2",
            "-i",
            "0.2",
            "-W",
            "1",
            "-I",
            "10.9.9.9",
            "10.1.1.10",
        ])?;
        ensure!(!out.status.success(), "a spoofed ping got an answer");
        let after = d1.drops("spoofed_source")?;
        ensure!(
            after >= before + 2,
            "spoofed_source drops at VPC 01 went from {before} to {after}, expected +2"
        );
        Ok(())
    })();
    if r.is_err() {
        t.print_logs();
    }
    r
}

#[test]
fn seed_topology_over_wireguard() -> Result<()> {
    require_root!();
    seed_topology("tunwg", Encap::WireGuard)
}

#[test]
fn seed_topology_over_gre() -> Result<()> {
    require_root!();
    seed_topology("tungre", Encap::Gre)
}

#[test]
fn seed_topology_over_vxlan() -> Result<()> {
    require_root!();
    seed_topology("tunvx", Encap::Vxlan)
}

/// VPC 02 and VPC 03 both advertise 10.50.0.0/24 (the same service in two
/// VPCs); VPC 01 prefers VPC 02 (lower router id). VPC 02's vcped dies
/// without a word: VPC 01's hold timer (9 s) expires, the route via
/// VPC 02 is withdrawn, and traffic from vm11 fails over to VPC 03.
#[test]
fn a_dead_vcpe_s_routes_fail_over_to_another_advertiser() -> Result<()> {
    require_root!();
    let anycast = |n: u8| {
        if n == 1 {
            String::new()
        } else {
            "[[route]]\nname = \"service\"\nprefix = \"10.50.0.0/24\"\ninterface = \"vcpe0\"\nadvertise = true\n\n".to_owned()
        }
    };
    let t = Topology::build("tunfail", Mesh::Full, Encap::WireGuard, &anycast)?;
    let r = (|| -> Result<()> {
        t.converge()?;
        for n in [2, 3] {
            t.vcpes[&n].0.addr("lo", "10.50.0.10/32")?;
        }
        let (_, d1) = &t.vcpes[&1];
        let best_from = |d: &Vcped| -> Result<Option<String>> {
            let v = d.show_route(&["10.50.0.0/24"])?;
            Ok(v.routes.into_iter().find(|r| r.best).map(|r| r.source))
        };
        let two = wait_until(Duration::from_secs(20), || {
            best_from(d1).is_ok_and(|s| s.as_deref() == Some("10.255.0.2"))
        });
        ensure!(
            two,
            "VPC 01 does not prefer VPC 02 for 10.50.0.0/24: {}",
            d1.ctl(&["show", "route"])?
        );
        let vm11 = &t.vms.iter().find(|v| v.name == "vm11").context("vm11")?.ns;
        let ping = || {
            vm11.exec(["ping", "-c", "1", "-W", "1", "10.50.0.10"])
                .is_ok_and(|o| o.status.success())
        };
        ensure!(ping(), "10.50.0.10 not reachable via VPC 02");
        // VPC 02's vcped dies (SIGKILL: no NOTIFICATION, no withdraw).
        let pid2 = t.vcpes[&2].1.daemon.pid();
        std::process::Command::new("kill")
            .args(["-KILL", &pid2.to_string()])
            .status()?;
        let t0 = std::time::Instant::now();
        let three = wait_until(Duration::from_secs(30), || {
            best_from(d1).is_ok_and(|s| s.as_deref() == Some("10.255.0.3"))
        });
        ensure!(
            three,
            "no failover to VPC 03 after 30 s: {}",
            d1.ctl(&["show", "route"])?
        );
        let took = t0.elapsed();
        let back = wait_until(Duration::from_secs(10), ping);
        ensure!(back, "10.50.0.10 unreachable after the failover to VPC 03");
        ensure!(
            took <= Duration::from_secs(20),
            "failover took {took:?} (hold time 9 s)"
        );
        Ok(())
    })();
    if r.is_err() {
        t.print_logs();
    }
    r
}

/// Hub and spoke: VPC 02 and VPC 03 have a tunnel only to VPC 01, which
/// re-advertises what each spoke announced to the other (AS path 65001
/// 6500N) and forwards packets decapsulated from one tunnel into the other.
#[test]
fn spokes_talk_through_the_hub() -> Result<()> {
    require_root!();
    let t = Topology::build("tunhub", Mesh::Hub(1), Encap::Gre, &|_| String::new())?;
    let r = (|| -> Result<()> {
        t.converge()?;
        let (_, d3) = &t.vcpes[&3];
        let v = d3.show_route(&["10.2.1.0/24"])?;
        let path: Vec<u32> = v
            .routes
            .first()
            .map(|r| r.as_path.clone())
            .unwrap_or_default();
        ensure!(
            path == [65001, 65002],
            "VPC 03 learned 10.2.1.0/24 with AS path {path:?}"
        );
        t.all_pairs_ping()?;
        // The hub's tunnel counters saw the transit traffic both ways.
        let (_, d1) = &t.vcpes[&1];
        let stats = d1.stats()?;
        for tun in &stats.tunnels {
            ensure!(
                tun.rx_packets > 0 && tun.tx_packets > 0,
                "hub tunnel without traffic: {tun:?}"
            );
        }
        Ok(())
    })();
    if r.is_err() {
        t.print_logs();
    }
    r
}

/// What vcped puts on the underlay is GRE as an independent decoder sees
/// it: tcpdump captures VPC 01's uplink to VPC 02 during a ping and tshark
/// dissects protocol type IPv4 and the key of that pair (12).
fn gre_on_the_wire(t: &Topology) -> Result<()> {
    let (v1, _) = &t.vcpes[&1];
    let pcap = t.lab.dir().join("gre.pcap");
    let pcap_s = pcap.display().to_string();
    let dump = v1.spawn(
        "tcpdump",
        [
            "tcpdump",
            "-i",
            "wan0",
            "-U",
            "-c",
            "4",
            "-w",
            &pcap_s,
            "ip",
            "proto",
            "47",
            "and",
            "host",
            "100.64.2.2",
        ],
    )?;
    std::thread::sleep(Duration::from_millis(500));
    let vm11 = &t.vms.iter().find(|v| v.name == "vm11").context("vm11")?.ns;
    vm11.exec(["ping", "-c", "3", "-i", "0.2", "-W", "2", "10.2.1.10"])?;
    let done = wait_until(Duration::from_secs(10), || !dump.is_running());
    ensure!(
        done,
        "tcpdump did not capture 4 GRE packets:\n{}",
        dump.log()
    );
    let out = std::process::Command::new("tshark")
        .args([
            "-r",
            &pcap_s,
            "-T",
            "fields",
            "-e",
            "gre.proto",
            "-e",
            "gre.key",
            "-e",
            "ip.dst",
        ])
        .output()
        .context("running tshark (apt-get install tshark)")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    ensure!(
        lines.len() >= 4,
        "tshark decoded {} packets:\n{text}{}",
        lines.len(),
        String::from_utf8_lossy(&out.stderr)
    );
    for l in &lines {
        let f: Vec<&str> = l.split('\t').collect();
        let proto_ok = f
            .first()
            .is_some_and(|p| p.trim_start_matches("0x").trim_start_matches('0') == "800");
        let key_ok = f.get(1).is_some_and(|k| {
            u32::from_str_radix(
                k.trim_start_matches("0x"),
                if k.starts_with("0x") { 16 } else { 10 },
            ) == Ok(12)
        });
        ensure!(
            proto_ok && key_ok,
            "tshark sees GRE proto/key {l:?}, expected 0x0800 and key 12"
        );
    }
    Ok(())
}

/// `vcpectl route add ... --advertise` in VPC 02 makes a new prefix
/// reachable from VPC 01 with no restart; `route del` makes it unreachable
/// again; a bad request changes nothing and says why.
fn route_added_at_run_time(t: &Topology) -> Result<()> {
    let (v2, d2) = &t.vcpes[&2];
    let (_, d1) = &t.vcpes[&1];
    v2.addr("lo", "10.2.9.1/32")?;
    let vm11 = &t.vms.iter().find(|v| v.name == "vm11").context("vm11")?.ns;
    let ping = || {
        vm11.exec(["ping", "-c", "1", "-W", "1", "10.2.9.1"])
            .is_ok_and(|o| o.status.success())
    };
    ensure!(!ping(), "10.2.9.1 answers before its route exists");
    ensure!(
        d2.ctl(&["route", "add", "extra", "10.2.9.1/24", "dev", "vcpe0"])
            .is_err(),
        "a prefix with host bits was accepted"
    );
    d2.ctl(&[
        "route",
        "add",
        "extra",
        "10.2.9.0/24",
        "dev",
        "vcpe0",
        "--advertise",
    ])?;
    ensure!(
        wait_until(Duration::from_secs(20), ping),
        "10.2.9.1 not reachable from vm11 after `route add --advertise` in VPC 02:\n{}\n{}\nVPC 02:\n{}\n{}",
        d1.ctl(&["show", "route", "10.2.9.0/24"])?,
        d1.ctl(&["bgp", "summary"])?,
        d2.ctl(&["show", "route", "10.2.9.0/24"])?,
        d2.ctl(&["bgp", "summary"])?
    );
    let listed = d2.route_list()?;
    ensure!(
        listed.iter().any(|r| r.name == "extra"),
        "route list: {listed:?}"
    );
    d2.ctl(&["route", "del", "extra"])?;
    let gone = wait_until(Duration::from_secs(20), || {
        d1.show_route(&["10.2.9.0/24"])
            .is_ok_and(|v| v.routes.is_empty())
    });
    ensure!(
        gone,
        "VPC 01 still has 10.2.9.0/24 after `route del` in VPC 02"
    );
    ensure!(!ping(), "10.2.9.1 still answers after `route del`");
    Ok(())
}
