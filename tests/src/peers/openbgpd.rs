//! OpenBGPD as a peer: `bgpd -d` with its own control socket, `bgpctl -j`
//! JSON output parsed. Needs the chroot directory `/run/openbgpd`.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;

use super::{BgpPeer, LearnedRoute, PeerSpec, parse_as_path};
use crate::{Daemon, Netns};

/// A running OpenBGPD.
#[derive(Debug)]
pub struct Openbgpd {
    daemon: Daemon,
    sock: PathBuf,
    ns: Netns,
}

impl Openbgpd {
    /// Writes `bgpd.conf` for `spec` and starts OpenBGPD in `ns`.
    pub fn start(ns: &Netns, spec: &PeerSpec) -> Result<Openbgpd> {
        crate::require_tool("bgpctl", "apt-get install -y openbgpd");
        std::fs::create_dir_all("/run/openbgpd").context("creating /run/openbgpd")?;
        let sock = spec.dir.join(format!("obgp-{}.sock", spec.router_id));
        let conf = spec.dir.join(format!("obgp-{}.conf", spec.router_id));
        std::fs::write(&conf, config(spec, &sock)).context("writing bgpd.conf")?;
        let daemon = ns.spawn(
            "openbgpd",
            [
                "bgpd".as_ref(),
                "-d".as_ref(),
                "-f".as_ref(),
                conf.as_os_str(),
            ],
        )?;
        let o = Openbgpd {
            daemon,
            sock,
            ns: ns.clone(),
        };
        let ok = crate::wait_until(Duration::from_secs(10), || o.bgpctl(&["show"]).is_ok());
        anyhow::ensure!(ok, "OpenBGPD did not come up:\n{}", o.daemon.log());
        Ok(o)
    }

    /// Runs `bgpctl -s SOCK ARGS...`.
    pub fn bgpctl(&self, args: &[&str]) -> Result<String> {
        let sock = self.sock.display().to_string();
        let mut argv = vec!["bgpctl", "-s", &sock];
        argv.extend_from_slice(args);
        self.ns.run_ok(argv)
    }

    /// The daemon (to stop, freeze or read its log).
    pub fn daemon(&mut self) -> &mut Daemon {
        &mut self.daemon
    }
}

fn config(spec: &PeerSpec, sock: &std::path::Path) -> String {
    let mut c = String::new();
    let _ = writeln!(c, "AS {}\nrouter-id {}", spec.asn, spec.router_id);
    let _ = writeln!(
        c,
        "listen on {}\nsocket \"{}\"\nfib-update no",
        spec.router_id,
        sock.display()
    );
    let _ = writeln!(c, "holdtime {}", spec.hold_time);
    for p in &spec.originate {
        match (&spec.v6_next_hop, p.contains(':')) {
            (Some(nh), true) => {
                let _ = writeln!(c, "network {p} set nexthop {nh}");
            }
            _ => {
                let _ = writeln!(c, "network {p}");
            }
        }
    }
    for n in &spec.neighbors {
        let _ = writeln!(c, "neighbor {} {{\n  remote-as {}", n.addr, n.asn);
        c.push_str("  announce IPv4 unicast\n  announce IPv6 unicast\n");
        if n.passive {
            c.push_str("  passive\n");
        }
        if let Some(pw) = &n.password {
            let _ = writeln!(c, "  tcp md5sig password {pw}");
        }
        c.push_str("}\n");
    }
    c.push_str("allow from any\nallow to any\n");
    c
}

/// Parses `bgpctl -j show rib`: `rib` is a list of paths with `prefix`,
/// `aspath`, `exit_nexthop` (the BGP next hop) and `best`.
fn parse_rib(text: &str) -> Result<Vec<LearnedRoute>> {
    let v: Value = serde_json::from_str(text.trim()).context("bgpctl rib JSON")?;
    let mut out = Vec::new();
    for r in v.get("rib").and_then(Value::as_array).into_iter().flatten() {
        let Some(prefix) = r.get("prefix").and_then(Value::as_str) else {
            continue;
        };
        out.push(LearnedRoute {
            prefix: prefix.to_owned(),
            as_path: r
                .get("aspath")
                .and_then(Value::as_str)
                .map(parse_as_path)
                .unwrap_or_default(),
            next_hop: r
                .get("exit_nexthop")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok()),
            best: r.get("best").and_then(Value::as_bool).unwrap_or(false),
        });
    }
    Ok(out)
}

impl BgpPeer for Openbgpd {
    fn kind(&self) -> &'static str {
        "openbgpd"
    }

    fn routes(&self) -> Result<Vec<LearnedRoute>> {
        parse_rib(&self.bgpctl(&["-j", "show", "rib"])?)
    }

    fn established(&self, neighbor: IpAddr) -> Result<bool> {
        let out = self.bgpctl(&["-j", "show", "neighbor", &neighbor.to_string()])?;
        let v: Value = serde_json::from_str(out.trim()).context("bgpctl neighbor JSON")?;
        Ok(v.get("neighbors")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|n| n.get("state").and_then(Value::as_str) == Some("Established")))
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
        let text = r#"{"rib":[{"prefix":"10.20.0.0/16","aspath":"65009 65010",
            "exit_nexthop":"10.99.0.9","true_nexthop":"10.99.0.9","best":true}]}"#;
        let r = parse_rib(text).unwrap();
        assert_eq!(r[0].as_path, vec![65009, 65010]);
        assert_eq!(r[0].next_hop, Some("10.99.0.9".parse().unwrap()));
        assert!(r[0].best);
    }
}
