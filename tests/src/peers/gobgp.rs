//! GoBGP as a peer: `gobgpd` with a TOML config, the `gobgp` CLI over its
//! gRPC API on loopback, routes parsed from `global rib -j`.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;

use super::{BgpPeer, LearnedRoute, PeerSpec};
use crate::{Daemon, Netns};

/// A running gobgpd.
#[derive(Debug)]
pub struct Gobgp {
    daemon: Daemon,
    ns: Netns,
}

impl Gobgp {
    /// Writes the config for `spec`, starts gobgpd in `ns` and adds the
    /// originated prefixes with the CLI.
    pub fn start(ns: &Netns, spec: &PeerSpec) -> Result<Gobgp> {
        crate::require_tool("gobgpd", "apt-get install -y gobgpd");
        ns.link_up("lo")?;
        let conf = spec.dir.join(format!("gobgpd-{}.toml", spec.router_id));
        std::fs::write(&conf, config(spec)).context("writing gobgpd.toml")?;
        let daemon = ns.spawn(
            "gobgpd",
            [
                "gobgpd".as_ref(),
                "-f".as_ref(),
                conf.as_os_str(),
                "--api-hosts=127.0.0.1:50051".as_ref(),
                "--pprof-disable".as_ref(),
            ],
        )?;
        let g = Gobgp {
            daemon,
            ns: ns.clone(),
        };
        let ok = crate::wait_until(Duration::from_secs(10), || g.cli(&["global"]).is_ok());
        anyhow::ensure!(ok, "gobgpd did not come up:\n{}", g.daemon.log());
        for p in &spec.originate {
            g.originate(p)?;
        }
        Ok(g)
    }

    /// Runs `gobgp ARGS...` against this daemon.
    pub fn cli(&self, args: &[&str]) -> Result<String> {
        let mut argv = vec!["gobgp", "-u", "127.0.0.1", "-p", "50051"];
        argv.extend_from_slice(args);
        self.ns.run_ok(argv)
    }

    /// Adds `prefix` to the global RIB (announced to every neighbor).
    pub fn originate(&self, prefix: &str) -> Result<()> {
        let afi = if prefix.contains(':') { "ipv6" } else { "ipv4" };
        self.cli(&["global", "rib", "add", prefix, "-a", afi])?;
        Ok(())
    }

    /// Removes `prefix` from the global RIB (withdrawn from every neighbor).
    pub fn withdraw(&self, prefix: &str) -> Result<()> {
        let afi = if prefix.contains(':') { "ipv6" } else { "ipv4" };
        self.cli(&["global", "rib", "del", prefix, "-a", afi])?;
        Ok(())
    }

    /// The daemon (to stop, freeze or read its log).
    pub fn daemon(&mut self) -> &mut Daemon {
        &mut self.daemon
    }
}

fn config(spec: &PeerSpec) -> String {
    let mut c = String::new();
    let _ = writeln!(
        c,
        "[global.config]\n  as = {}\n  router-id = \"{}\"\n  local-address-list = [\"{}\"]",
        spec.asn, spec.router_id, spec.router_id
    );
    for n in &spec.neighbors {
        let _ = writeln!(
            c,
            "[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{}\"\n    peer-as = {}",
            n.addr, n.asn
        );
        if let Some(pw) = &n.password {
            let _ = writeln!(c, "    auth-password = \"{pw}\"");
        }
        let _ = writeln!(
            c,
            "  [neighbors.timers.config]\n    hold-time = {}\n    connect-retry = 1",
            spec.hold_time
        );
        if n.passive {
            c.push_str("  [neighbors.transport.config]\n    passive-mode = true\n");
        }
        for afi in ["ipv4-unicast", "ipv6-unicast"] {
            let _ = writeln!(
                c,
                "  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"{afi}\""
            );
        }
    }
    c
}

/// Parses `gobgp global rib -a AFI -j`: prefix → list of paths, each with
/// `best` and `attrs` (type 2 AS_PATH, 3 NEXT_HOP, 14 MP_REACH_NLRI).
fn parse_rib(text: &str) -> Result<Vec<LearnedRoute>> {
    let v: Value = serde_json::from_str(text.trim()).context("gobgp rib JSON")?;
    let mut out = Vec::new();
    let Some(map) = v.as_object() else {
        return Ok(out);
    };
    for (prefix, paths) in map {
        for p in paths.as_array().into_iter().flatten() {
            let mut r = LearnedRoute {
                prefix: prefix.clone(),
                as_path: Vec::new(),
                next_hop: None,
                best: p.get("best").and_then(Value::as_bool).unwrap_or(false),
            };
            for a in p
                .get("attrs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                match a.get("type").and_then(Value::as_u64) {
                    Some(2) => {
                        for seg in a
                            .get("as_paths")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                        {
                            for asn in seg
                                .get("asns")
                                .and_then(Value::as_array)
                                .into_iter()
                                .flatten()
                            {
                                if let Some(n) = asn.as_u64().and_then(|n| u32::try_from(n).ok()) {
                                    r.as_path.push(n);
                                }
                            }
                        }
                    }
                    Some(3) | Some(14) => {
                        if let Some(nh) = a.get("nexthop").and_then(Value::as_str) {
                            r.next_hop = nh.parse().ok();
                        }
                    }
                    _ => {}
                }
            }
            out.push(r);
        }
    }
    Ok(out)
}

impl BgpPeer for Gobgp {
    fn kind(&self) -> &'static str {
        "gobgp"
    }

    fn routes(&self) -> Result<Vec<LearnedRoute>> {
        let mut all = parse_rib(&self.cli(&["global", "rib", "-a", "ipv4", "-j"])?)?;
        all.extend(parse_rib(
            &self.cli(&["global", "rib", "-a", "ipv6", "-j"])?,
        )?);
        Ok(all)
    }

    fn established(&self, neighbor: IpAddr) -> Result<bool> {
        let out = self.cli(&["neighbor"])?;
        let addr = neighbor.to_string();
        Ok(out
            .lines()
            .any(|l| l.split_whitespace().next() == Some(addr.as_str()) && l.contains("Establ")))
    }

    fn log(&self) -> String {
        self.daemon.log()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rib_json_is_parsed() {
        let text = r#"{"10.20.0.0/16":[{"nlri":{"prefix":"10.20.0.0/16"},"age":1,"best":true,
          "attrs":[{"type":1,"value":0},{"type":2,"as_paths":[{"segment_type":2,"num":2,"asns":[65009,65010]}]},
          {"type":3,"nexthop":"10.99.0.9"}]}],
          "fd00:20::/48":[{"best":false,"attrs":[{"type":14,"nexthop":"fd00:99::9","afi":2,"safi":1}]}]}"#;
        let mut r = parse_rib(text).unwrap();
        r.sort_by(|a, b| a.prefix.cmp(&b.prefix));
        assert_eq!(r[0].as_path, vec![65009, 65010]);
        assert_eq!(r[0].next_hop, Some("10.99.0.9".parse().unwrap()));
        assert!(r[0].best);
        assert_eq!(r[1].next_hop, Some("fd00:99::9".parse().unwrap()));
        assert!(parse_rib("{}").unwrap().is_empty());
    }
}
