//! A fleet of vCPEs on one underlay, laid out as `bench/fleet.sh` lays
//! it out, for the tests that need many (reflectors, hubs):
//!
//! ```text
//!   host h: wan0 100.64.0.h/24 ── br0 (namespace "sw"), MAC 02:00:00:00:00:h,
//!           a permanent neighbor entry for every other host (no ARP)
//!   vCPE i: a host; vcpe0 (TUN) 10.255.0.i/24 + fd00:255::i/64, router id
//!           10.255.0.i; its vxnet on lo: 10.i.1.1 and fd00:i:1::1,
//!           advertised as 10.i.1.0/24 and fd00:i:1::/64; a GRE tunnel "vJ"
//!           (key 1000·min + max) to each vCPE J it names, with J's inner
//!           addresses and vxnet in allowed_prefixes (so a BGP next hop at
//!           J's inner address or at its endpoint goes into that tunnel)
//! ```
//!
//! Reflectors and hubs are other hosts on the same bridge. [`Fleet::start`]
//! spawns every vcped before it waits for any (as the fleet starts in real
//! life: collisions included), [`ping_all`] pings many pairs at once and
//! [`ping_burst`] keeps one pair pinging across a failure. Static underlay
//! neighbors because the kernel's ARP table is shared by all namespaces
//! (1024 entries at most by default); permanent entries do not count.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{Lab, Netns, Vcped};

/// Host `h`'s underlay address.
pub fn wan(h: u8) -> Ipv4Addr {
    Ipv4Addr::new(100, 64, 0, h)
}

/// vCPE `i`'s inner (TUN) IPv4 address, also its router id.
pub fn inner4(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 255, 0, i)
}

/// vCPE `i`'s inner (TUN) IPv6 address.
pub fn inner6(i: u8) -> String {
    format!("fd00:255::{i}")
}

/// vCPE `i`'s vxnet prefixes: IPv4, IPv6.
pub fn vxnets(i: u8) -> [String; 2] {
    [format!("10.{i}.1.0/24"), format!("fd00:{i}:1::/64")]
}

/// vCPE `i`'s address in its vxnet (on its `lo`): IPv4, IPv6.
pub fn vxnet_hosts(i: u8) -> [String; 2] {
    [format!("10.{i}.1.1"), format!("fd00:{i}:1::1")]
}

/// vCPE `i`'s config (AS `asn`, `route_sync` off): the TUN, its vxnet
/// routes (advertised) when `vxnet`, a GRE `[[peer]]` "vJ" for each J in
/// `tunnels`, and `bgp` (the `[bgp]` table and its neighbors) last.
pub fn vcpe_config(i: u8, asn: u32, vxnet: bool, tunnels: &[u8], bgp: &str) -> String {
    let mut c = format!(
        "[router]\nid = \"{id}\"\nasn = {asn}\n\n[kernel]\nroute_sync = false\n\n\
         [[interface]]\nname = \"vcpe0\"\naddresses = [\"{id}/24\", \"{v6}/64\"]\n\n",
        id = inner4(i),
        v6 = inner6(i),
    );
    if vxnet {
        let [v4, v6] = vxnets(i);
        let _ = write!(
            c,
            "[[route]]\nname = \"vxnet\"\nprefix = \"{v4}\"\ninterface = \"vcpe0\"\nadvertise = true\n\n\
             [[route]]\nname = \"vxnet6\"\nprefix = \"{v6}\"\ninterface = \"vcpe0\"\nadvertise = true\n\n"
        );
    }
    for &j in tunnels {
        let [v4, v6] = vxnets(j);
        let _ = write!(
            c,
            "[[peer]]\nname = \"v{j}\"\nendpoint = \"{ep}\"\nencapsulation = \"gre\"\ngre_key = {key}\n\
             allowed_prefixes = [\"{in4}/32\", \"{in6}/128\", \"{v4}\", \"{v6}\"]\n\n",
            ep = wan(j),
            key = 1000 * u32::from(i.min(j)) + u32::from(i.max(j)),
            in4 = inner4(j),
            in6 = inner6(j),
        );
    }
    c.push_str(bgp);
    c
}

/// One host of the underlay.
#[derive(Debug)]
pub struct Host {
    /// Its number: the last byte of its underlay address.
    pub h: u8,
    /// Its namespace.
    pub ns: Netns,
}

/// The underlay and its hosts; [`Fleet::start`] adds the vcpeds.
#[derive(Debug)]
pub struct Fleet {
    /// The hosts, in the order given to [`Fleet::new`].
    pub hosts: Vec<Host>,
}

impl Fleet {
    /// Namespaces `name` with host number `h` (1..=254) on one bridge,
    /// each with its underlay address and a permanent neighbor entry for
    /// every other. Those in `vcpes` also get their vxnet on `lo`.
    pub fn new(lab: &Lab, hosts: &[(&str, u8)], vcpes: &[u8]) -> Result<Fleet> {
        let sw = lab.netns("sw")?;
        let br = lab.bridge(&sw, "br0")?;
        let mac = |h: u8| format!("02:00:00:00:00:{h:02x}");
        let mut out = Vec::new();
        for &(name, h) in hosts {
            let ns = lab.netns(name)?;
            br.plug(&format!("p{h}"), &ns, "wan0")?;
            let mut batch = format!(
                "link set wan0 address {}\naddr add {}/24 dev wan0\n",
                mac(h),
                wan(h)
            );
            for &(_, other) in hosts.iter().filter(|(_, o)| *o != h) {
                let _ = writeln!(
                    batch,
                    "neigh replace {} lladdr {} nud permanent dev wan0",
                    wan(other),
                    mac(other)
                );
            }
            if vcpes.contains(&h) {
                let [v4, v6] = vxnet_hosts(h);
                let _ = write!(
                    batch,
                    "addr add {v4}/32 dev lo\naddr add {v6}/128 dev lo nodad\n"
                );
            }
            let file = lab.dir().join(format!("underlay-{h}.ip"));
            std::fs::write(&file, batch).context("writing an ip batch file")?;
            ns.ip([std::ffi::OsStr::new("-batch"), file.as_os_str()])?;
            out.push(Host { h, ns });
        }
        Ok(Fleet { hosts: out })
    }

    /// Host `h`.
    pub fn host(&self, h: u8) -> Result<&Netns> {
        self.hosts
            .iter()
            .find(|x| x.h == h)
            .map(|x| &x.ns)
            .with_context(|| format!("no host {h} in the fleet"))
    }

    /// Starts a vcped on each host of `configs` (host, config) at once:
    /// every one is spawned before any is waited for. Then the kernel of
    /// each hands the other vxnets (10.0.0.0/8, fd00::/16) to its vcped.
    /// Named `v{h}`, in the order of `configs`.
    pub fn start(&self, lab: &Lab, configs: &[(u8, String)]) -> Result<Vec<Vcped>> {
        let mut vcpeds = Vec::new();
        for (h, config) in configs {
            vcpeds.push(Vcped::spawn(
                self.host(*h)?,
                lab.dir(),
                &format!("v{h}"),
                config,
            )?);
        }
        for ((h, _), v) in configs.iter().zip(&vcpeds) {
            v.wait_ready(&format!("v{h}"))?;
            let ns = self.host(*h)?;
            ns.route_dev("10.0.0.0/8", "vcpe0")?;
            ns.ip(["-6", "route", "add", "fd00::/16", "dev", "vcpe0"])?;
        }
        Ok(vcpeds)
    }

    /// Every ordered pair of distinct vCPEs of `vcpes`, vxnet to vxnet,
    /// IPv4 and IPv6.
    pub fn pings_between(&self, vcpes: &[u8]) -> Result<Vec<Ping>> {
        let mut out = Vec::new();
        for &a in vcpes {
            let ns = self.host(a)?;
            for &b in vcpes.iter().filter(|&&b| b != a) {
                out.extend(Ping::vxnet_pair(ns, a, b));
            }
        }
        Ok(out)
    }
}

/// One ping: from `from`, source address `src`, to `dst`.
#[derive(Debug, Clone)]
pub struct Ping {
    /// The namespace it runs in.
    pub from: Netns,
    /// Source address.
    pub src: String,
    /// Destination address.
    pub dst: String,
}

impl Ping {
    /// From vCPE `a`'s vxnet to vCPE `b`'s: the IPv4 and the IPv6 ping.
    pub fn vxnet_pair(from: &Netns, a: u8, b: u8) -> [Ping; 2] {
        let (src, dst) = (vxnet_hosts(a), vxnet_hosts(b));
        [0, 1].map(|k| Ping {
            from: from.clone(),
            src: src[k].clone(),
            dst: dst[k].clone(),
        })
    }

    fn once(&self) -> bool {
        self.from
            .exec_timeout(
                [
                    "ping", "-n", "-q", "-c", "1", "-W", "1", "-I", &self.src, &self.dst,
                ],
                Duration::from_secs(5),
            )
            .is_ok_and(|o| o.status.success())
    }
}

/// Pings every one of `pings` (one echo each) on 12 threads, again until
/// it answers or `timeout` runs out. Returns the time it took, or an
/// error naming those that never answered (`src -> dst` in their
/// namespace).
pub fn ping_all(pings: &[Ping], timeout: Duration) -> Result<Duration> {
    let start = Instant::now();
    let todo: Mutex<VecDeque<&Ping>> = Mutex::new(pings.iter().collect());
    let failed: Mutex<Vec<String>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..12 {
            s.spawn(|| {
                loop {
                    let next = todo.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                    let Some(p) = next else { break };
                    if p.once() {
                        continue;
                    }
                    if start.elapsed() >= timeout {
                        failed
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(format!("{} -> {} in {}", p.src, p.dst, p.from.name()));
                    } else {
                        std::thread::sleep(Duration::from_millis(100));
                        todo.lock().unwrap_or_else(|e| e.into_inner()).push_back(p);
                    }
                }
            });
        }
    });
    let failed = failed.into_inner().unwrap_or_else(|e| e.into_inner());
    if !failed.is_empty() {
        bail!(
            "{} of {} pings never answered in {timeout:?}: {failed:#?}",
            failed.len(),
            pings.len()
        );
    }
    Ok(start.elapsed())
}

/// `ping -c COUNT -i INTERVAL`: (sent, received).
pub fn ping_burst(p: &Ping, count: u32, interval: Duration) -> Result<(u32, u32)> {
    let (c, i) = (count.to_string(), format!("{}", interval.as_secs_f64()));
    let limit = interval * count + Duration::from_secs(10);
    let out = p.from.exec_timeout(
        [
            "ping", "-n", "-q", "-c", &c, "-i", &i, "-W", "1", "-I", &p.src, &p.dst,
        ],
        limit,
    )?;
    let text = String::from_utf8_lossy(&out.stdout);
    let count_of = |word: &str| -> Option<u32> {
        let line = text.lines().find(|l| l.contains("packets transmitted"))?;
        line.split(',')
            .find(|f| f.contains(word))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    match (count_of("transmitted"), count_of("received")) {
        (Some(sent), Some(got)) => Ok((sent, got)),
        _ => bail!("ping {} -> {}: no summary:\n{text}", p.src, p.dst),
    }
}

/// Sends SIGKILL to process `pid` (a crash, not a clean stop).
pub fn kill_hard(pid: u32) -> Result<()> {
    let pid = libc::pid_t::try_from(pid).context("pid out of range")?;
    // SAFETY: kill(2) takes no pointers; a stale pid at worst fails.
    let rc = unsafe { libc::kill(pid, libc::SIGKILL) };
    if rc != 0 {
        bail!("kill -9 {pid}: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

/// Checks vCPE `v`'s `vcpectl show route`: for each vCPE J of `others`,
/// both vxnets are in the FIB by a BGP route from neighbor `source` with
/// next hop `nh4(J)` (IPv4) or J's inner IPv6 address, into tunnel "vJ".
/// The error names the first row that is not so.
pub fn routes_into_tunnels(
    v: &Vcped,
    others: &[u8],
    source: &str,
    nh4: impl Fn(u8) -> Ipv4Addr,
) -> Result<()> {
    let rib = v.show_route(&[])?;
    for &j in others {
        let [p4, p6] = vxnets(j);
        for (prefix, nh) in [(p4, nh4(j).to_string()), (p6, inner6(j))] {
            let best = rib.best(&prefix);
            let ok = best.is_some_and(|r| {
                r.protocol == "bgp"
                    && r.in_fib
                    && r.source == source
                    && r.next_hop.as_deref() == Some(nh.as_str())
                    && r.egress.as_deref() == Some(format!("peer v{j}").as_str())
            });
            if !ok {
                bail!(
                    "{prefix}: want a BGP route from {source}, next hop {nh}, into peer v{j}, in the FIB; \
                     have {:?}",
                    rib.rows(&prefix)
                );
            }
        }
    }
    Ok(())
}

/// Checks what vCPE `v` (number `i`) received from neighbor `from`: each
/// vCPE J of `others` has one path per vxnet, accepted, with ORIGINATOR_ID
/// J's router id and CLUSTER_LIST `clusters`; its own vxnets came back
/// `own_back` times each (a reflector that sends a client its own routes),
/// and were ignored: filtered, not accepted. Returns the error naming the
/// first route that is not so.
pub fn reflected_paths(
    v: &Vcped,
    i: u8,
    from: &str,
    others: &[u8],
    clusters: &[String],
    own_back: bool,
) -> Result<()> {
    let adj = v.adj_rib(from, "adj-in")?;
    for &j in others {
        for prefix in vxnets(j) {
            let rows = adj.rows(&prefix);
            let want = inner4(j).to_string();
            let ok = rows.len() == 1
                && !rows[0].filtered
                && rows[0].originator_id.as_deref() == Some(want.as_str())
                && rows[0].cluster_list == clusters;
            if !ok {
                bail!(
                    "v{i}: from {from}, {prefix}: want one accepted path with ORIGINATOR_ID {want} \
                     and CLUSTER_LIST {clusters:?}; have {rows:?}"
                );
            }
        }
    }
    for prefix in vxnets(i) {
        let rows = adj.rows(&prefix);
        let ok = if own_back {
            rows.len() == 1 && rows[0].filtered
        } else {
            rows.is_empty()
        };
        if !ok {
            bail!(
                "v{i}: from {from}, its own {prefix}: want {}; have {rows:?}",
                if own_back {
                    "it back, filtered"
                } else {
                    "nothing"
                }
            );
        }
    }
    Ok(())
}

/// Waits until `check` passes (`timeout` at most); else its last error.
pub fn wait_ok(timeout: Duration, mut check: impl FnMut() -> Result<()>) -> Result<()> {
    let mut last = Ok(());
    crate::wait_until(timeout, || {
        last = check();
        last.is_ok()
    });
    last
}
