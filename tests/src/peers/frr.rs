//! FRR bgpd as a peer: bgpd alone (`-Z`, no zebra, `-S` as root) with a
//! private vty socket directory; `vtysh` JSON output parsed. With BFD on a
//! neighbor, zebra and bfdd run too (bgpd registers its BFD peers with
//! bfdd through zebra), on a private zserv socket.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;

use super::{BgpPeer, LearnedRoute, PeerSpec, parse_as_path};
use crate::{Daemon, Netns};

/// Where Debian installs the FRR daemons.
const BGPD: &str = "/usr/lib/frr/bgpd";
const ZEBRA: &str = "/usr/lib/frr/zebra";
const BFDD: &str = "/usr/lib/frr/bfdd";

/// A running FRR bgpd.
#[derive(Debug)]
pub struct Frr {
    daemon: Daemon,
    /// zebra and bfdd, when a neighbor has BFD (stopped after bgpd).
    helpers: Vec<Daemon>,
    vty: PathBuf,
    ns: Netns,
}

impl Frr {
    /// Writes `bgpd.conf` for `spec` and starts bgpd in `ns`.
    pub fn start(ns: &Netns, spec: &PeerSpec) -> Result<Frr> {
        Frr::start_with_config(ns, spec, &config(spec))
    }

    /// The `bgpd.conf` [`Frr::start`] writes for `spec`: to add what
    /// [`PeerSpec`] does not describe (`bgp cluster-id`, ...) and start
    /// it with [`Frr::start_with_config`].
    pub fn config_for(spec: &PeerSpec) -> String {
        config(spec)
    }

    /// [`Frr::start`] with the configuration text `conf_text` instead of the
    /// one made from `spec` (whose directory, router id and BFD settings
    /// still place and start the daemons).
    pub fn start_with_config(ns: &Netns, spec: &PeerSpec, conf_text: &str) -> Result<Frr> {
        anyhow::ensure!(
            std::path::Path::new(BGPD).exists(),
            "{BGPD} is missing: apt-get install -y frr"
        );
        crate::require_tool("vtysh", "apt-get install -y frr");
        let vty = spec.dir.join(format!("frr-{}", spec.router_id));
        std::fs::create_dir_all(&vty)?;
        let conf = vty.join("bgpd.conf");
        std::fs::write(&conf, conf_text).context("writing bgpd.conf")?;
        let pid = vty.join("bgpd.pid");
        let zserv = vty.join("zserv.api");
        let mut helpers = Vec::new();
        let bfd = spec.neighbors.iter().find_map(|n| n.bfd);
        if let Some((interval, mult)) = bfd {
            helpers = start_zebra_bfdd(ns, &vty, &zserv, interval, mult)?;
        }
        let mut argv: Vec<std::ffi::OsString> = vec![BGPD.into(), "-S".into()];
        if bfd.is_some() {
            argv.extend(["-z".into(), zserv.clone().into_os_string()]);
        } else {
            argv.push("-Z".into());
        }
        argv.extend([
            "-f".into(),
            conf.clone().into_os_string(),
            "-i".into(),
            pid.into_os_string(),
            "--vty_socket".into(),
            vty.clone().into_os_string(),
            "-P".into(),
            "0".into(),
        ]);
        let daemon = ns.spawn("frr", argv)?;
        let f = Frr {
            daemon,
            helpers,
            vty,
            ns: ns.clone(),
        };
        let ok = crate::wait_until(Duration::from_secs(10), || {
            f.vtysh("show bgp summary").is_ok()
        });
        anyhow::ensure!(ok, "FRR bgpd did not come up:\n{}", f.daemon.log());
        Ok(f)
    }

    /// Runs one vtysh command.
    pub fn vtysh(&self, command: &str) -> Result<String> {
        let vty = self.vty.display().to_string();
        self.ns
            .run_ok(["vtysh", "--vty_socket", &vty, "-c", command])
    }

    /// The daemon (to stop, freeze or read its log).
    pub fn daemon(&mut self) -> &mut Daemon {
        &mut self.daemon
    }

    /// Every FRR process of this peer (bgpd, and zebra and bfdd with BFD),
    /// to freeze them all.
    pub fn pids(&self) -> Vec<u32> {
        std::iter::once(&self.daemon)
            .chain(&self.helpers)
            .map(Daemon::pid)
            .collect()
    }

    /// The logs of the helpers (zebra, bfdd).
    pub fn helper_logs(&self) -> String {
        self.helpers
            .iter()
            .map(Daemon::log)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// zebra, then bfdd (both as the `frr` user) with a profile "vcpe" of `interval` ms × `mult`, on
/// the zserv socket `zserv` and the vty directory `vty`.
fn start_zebra_bfdd(
    ns: &Netns,
    vty: &std::path::Path,
    zserv: &std::path::Path,
    interval: u32,
    mult: u8,
) -> Result<Vec<Daemon>> {
    for d in [ZEBRA, BFDD] {
        anyhow::ensure!(
            std::path::Path::new(d).exists(),
            "{d} is missing: apt-get install -y frr"
        );
    }
    // zebra and bfdd drop privileges to the `frr` user (its vty group
    // check refuses root): it must reach and write the vty directory.
    use std::os::unix::fs::PermissionsExt;
    for dir in [vty, vty.parent().unwrap_or(vty)] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777))?;
    }
    let zconf = vty.join("zebra.conf");
    std::fs::write(&zconf, "hostname frr-zebra\nlog stdout informational\n!\n")?;
    let zebra = ns.spawn(
        "frr-zebra",
        [
            ZEBRA.as_ref(),
            "-f".as_ref(),
            zconf.as_os_str(),
            "-i".as_ref(),
            vty.join("zebra.pid").as_os_str(),
            "-z".as_ref(),
            zserv.as_os_str(),
            "--vty_socket".as_ref(),
            vty.as_os_str(),
            "-P".as_ref(),
            "0".as_ref(),
        ],
    )?;
    let up = crate::wait_until(Duration::from_secs(10), || zserv.exists());
    anyhow::ensure!(up, "FRR zebra did not come up:\n{}", zebra.log());
    let bconf = vty.join("bfdd.conf");
    std::fs::write(
        &bconf,
        format!(
            "hostname frr-bfdd\nlog stdout informational\nbfd\n profile vcpe\n  \
             detect-multiplier {mult}\n  receive-interval {interval}\n  transmit-interval \
             {interval}\n !\n!\n"
        ),
    )?;
    let bfdd = ns.spawn(
        "frr-bfdd",
        [
            BFDD.as_ref(),
            "-f".as_ref(),
            bconf.as_os_str(),
            "-i".as_ref(),
            vty.join("bfdd.pid").as_os_str(),
            "-z".as_ref(),
            zserv.as_os_str(),
            "--vty_socket".as_ref(),
            vty.as_os_str(),
            "--bfdctl".as_ref(),
            vty.join("bfdd.sock").as_os_str(),
            "-P".as_ref(),
            "0".as_ref(),
        ],
    )?;
    Ok(vec![zebra, bfdd])
}

fn config(spec: &PeerSpec) -> String {
    let mut c = String::new();
    c.push_str("frr defaults traditional\nhostname frr-vcpe\nlog stdout informational\n");
    if let Some(nh) = &spec.v6_next_hop {
        let _ = writeln!(
            c,
            "route-map NH6 permit 10\n set ipv6 next-hop global {nh}\nexit"
        );
    }
    let _ = writeln!(
        c,
        "router bgp {}\n bgp router-id {}",
        spec.asn, spec.router_id
    );
    c.push_str(" no bgp ebgp-requires-policy\n no bgp network import-check\n");
    c.push_str(" no bgp default ipv4-unicast\n");
    for n in &spec.neighbors {
        let _ = writeln!(c, " neighbor {} remote-as {}", n.addr, n.asn);
        let _ = writeln!(
            c,
            " neighbor {} timers {} {}",
            n.addr,
            spec.hold_time / 3,
            spec.hold_time
        );
        let _ = writeln!(c, " neighbor {} timers connect 1", n.addr);
        if n.passive {
            let _ = writeln!(c, " neighbor {} passive", n.addr);
        }
        if let Some(pw) = &n.password {
            let _ = writeln!(c, " neighbor {} password {pw}", n.addr);
        }
        if n.bfd.is_some() {
            let _ = writeln!(c, " neighbor {} bfd", n.addr);
            let _ = writeln!(c, " neighbor {} bfd profile vcpe", n.addr);
        }
    }
    for (af, v6) in [("ipv4", false), ("ipv6", true)] {
        let _ = writeln!(c, " address-family {af} unicast");
        for p in spec.originate.iter().filter(|p| p.contains(':') == v6) {
            let _ = writeln!(c, "  network {p}");
        }
        for n in &spec.neighbors {
            let _ = writeln!(c, "  neighbor {} activate", n.addr);
            if n.route_reflector_client {
                let _ = writeln!(c, "  neighbor {} route-reflector-client", n.addr);
            }
            if n.add_path_tx_all {
                let _ = writeln!(c, "  neighbor {} addpath-tx-all-paths", n.addr);
            }
            if v6 && spec.v6_next_hop.is_some() {
                let _ = writeln!(c, "  neighbor {} route-map NH6 out", n.addr);
            }
        }
        c.push_str(" exit-address-family\n");
    }
    c.push_str("!\nline vty\n!\n");
    c
}

/// Parses `show bgp ipv4|ipv6 unicast json`: `routes` maps a prefix to its
/// paths, each with `bestpath`, `path` (AS path text) and `nexthops`.
fn parse_rib(text: &str) -> Result<Vec<LearnedRoute>> {
    let v: Value = serde_json::from_str(text.trim()).context("FRR show bgp JSON")?;
    let mut out = Vec::new();
    let Some(routes) = v.get("routes").and_then(Value::as_object) else {
        return Ok(out);
    };
    for (prefix, paths) in routes {
        for p in paths.as_array().into_iter().flatten() {
            let as_path = p
                .get("path")
                .or_else(|| p.get("aspath").and_then(|a| a.get("string")))
                .and_then(Value::as_str)
                .map(parse_as_path)
                .unwrap_or_default();
            let next_hop = p
                .get("nexthops")
                .and_then(Value::as_array)
                .and_then(|n| n.first())
                .and_then(|n| n.get("ip"))
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok());
            out.push(LearnedRoute {
                prefix: prefix.clone(),
                as_path,
                next_hop,
                best: p.get("bestpath").and_then(Value::as_bool).unwrap_or(false),
            });
        }
    }
    Ok(out)
}

impl BgpPeer for Frr {
    fn kind(&self) -> &'static str {
        "frr"
    }

    fn routes(&self) -> Result<Vec<LearnedRoute>> {
        let mut all = parse_rib(&self.vtysh("show bgp ipv4 unicast json")?)?;
        all.extend(parse_rib(&self.vtysh("show bgp ipv6 unicast json")?)?);
        Ok(all)
    }

    fn established(&self, neighbor: IpAddr) -> Result<bool> {
        let out = self.vtysh(&format!("show bgp neighbors {neighbor} json"))?;
        let v: Value = serde_json::from_str(out.trim()).context("FRR neighbor JSON")?;
        Ok(v.get(neighbor.to_string())
            .and_then(|n| n.get("bgpState"))
            .and_then(Value::as_str)
            == Some("Established"))
    }

    fn log(&self) -> String {
        self.daemon.log()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_bgp_json_is_parsed() {
        let text = r#"{"vrfId":0,"routes":{"10.20.0.0/16":[{"valid":true,"bestpath":true,
            "path":"65009 65010","nexthops":[{"ip":"10.99.0.9","afi":"ipv4","used":true}]}]}}"#;
        let r = parse_rib(text).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].as_path, vec![65009, 65010]);
        assert_eq!(r[0].next_hop, Some("10.99.0.9".parse().unwrap()));
        assert!(r[0].best);
        assert!(parse_rib(r#"{"vrfId":0}"#).unwrap().is_empty());
    }
}
