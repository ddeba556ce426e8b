//! BIRD 2 as a peer: `bird -f` in the namespace, `birdc` on a private
//! control socket, routes parsed from `show route all`.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};

use super::{BgpPeer, LearnedRoute, PeerSpec, parse_as_path};
use crate::{Daemon, Netns};

/// A running BIRD.
#[derive(Debug)]
pub struct Bird {
    daemon: Daemon,
    ctl: PathBuf,
    ns: Netns,
}

impl Bird {
    /// Writes `bird.conf` for `spec` and starts BIRD in `ns`.
    pub fn start(ns: &Netns, spec: &PeerSpec) -> Result<Bird> {
        let name = format!("bird-{}", spec.router_id);
        Bird::start_with_config(ns, &spec.dir, &name, &config(spec))
    }

    /// Starts BIRD in `ns` with the configuration text `conf`, written to
    /// `dir/NAME.conf` (its control socket `dir/NAME.ctl`): for setups
    /// [`PeerSpec`] does not describe (route reflection, filters).
    pub fn start_with_config(
        ns: &Netns,
        dir: &std::path::Path,
        name: &str,
        conf: &str,
    ) -> Result<Bird> {
        crate::require_tool("bird", "apt-get install -y bird2");
        let conf_path = dir.join(format!("{name}.conf"));
        std::fs::write(&conf_path, conf).context("writing bird.conf")?;
        let ctl = dir.join(format!("{name}.ctl"));
        let daemon = ns.spawn(
            "bird",
            [
                "bird".as_ref(),
                "-f".as_ref(),
                "-c".as_ref(),
                conf_path.as_os_str(),
                "-s".as_ref(),
                ctl.as_os_str(),
            ],
        )?;
        let bird = Bird {
            daemon,
            ctl,
            ns: ns.clone(),
        };
        let ok = crate::wait_until(Duration::from_secs(10), || {
            bird.birdc("show status")
                .is_ok_and(|s| s.contains("Daemon is up"))
        });
        anyhow::ensure!(ok, "BIRD did not come up:\n{}", bird.daemon.log());
        Ok(bird)
    }

    /// Runs one `birdc` command and returns its output.
    pub fn birdc(&self, command: &str) -> Result<String> {
        let mut argv = vec![
            "birdc".to_owned(),
            "-s".to_owned(),
            self.ctl.display().to_string(),
        ];
        argv.extend(command.split_whitespace().map(str::to_owned));
        self.ns.run_ok(argv)
    }

    /// The daemon (to stop, freeze or read its log).
    pub fn daemon(&mut self) -> &mut Daemon {
        &mut self.daemon
    }
}

/// The protocol name BIRD uses for the neighbor at `addr` (as the
/// generated configurations name it; [`Bird::established`] asks for it).
fn proto_name(addr: IpAddr) -> String {
    let mut s = String::from("n_");
    for c in addr.to_string().chars() {
        s.push(if c.is_ascii_alphanumeric() { c } else { '_' });
    }
    s
}

fn config(spec: &PeerSpec) -> String {
    let mut c = String::new();
    let _ = writeln!(c, "log stderr all;\nrouter id {};", spec.router_id);
    c.push_str("protocol device { }\n");
    // An entry is a prefix, optionally followed by BIRD route attribute
    // statements in braces ("10.1.0.0/24 { bgp_community.add((1,2)); }").
    let prefix_of = |p: &String| p.split_whitespace().next().unwrap_or("").to_owned();
    let (v4, v6): (Vec<&String>, Vec<&String>) = spec
        .originate
        .iter()
        .partition(|p| !prefix_of(p).contains(':'));
    c.push_str("protocol static s4 {\n  ipv4;\n");
    for p in v4 {
        let (prefix, attrs) = p.split_once(' ').unwrap_or((p, ""));
        let _ = writeln!(c, "  route {prefix} blackhole {attrs};");
    }
    c.push_str("}\nprotocol static s6 {\n  ipv6;\n");
    for p in v6 {
        let (prefix, attrs) = p.split_once(' ').unwrap_or((p, ""));
        let _ = writeln!(c, "  route {prefix} blackhole {attrs};");
    }
    c.push_str("}\n");
    if let Some(n) = spec.neighbors.iter().find(|n| n.bfd.is_some()) {
        let (interval, mult) = n.bfd.unwrap_or_default();
        let auth = n.bfd_sha1.as_ref().map_or(String::new(), |k| {
            format!(" authentication keyed sha1; password \"{k}\" {{ id 1; }};")
        });
        let _ = writeln!(
            c,
            "protocol bfd {{\n  interface \"*\" {{ interval {interval} ms; multiplier {mult};{auth} }};\n}}"
        );
    }
    for n in &spec.neighbors {
        let _ = writeln!(c, "protocol bgp {} {{", proto_name(n.addr));
        let _ = writeln!(c, "  local {} as {};", spec.router_id, spec.asn);
        let _ = writeln!(c, "  neighbor {} as {};", n.addr, n.asn);
        let _ = writeln!(c, "  hold time {};", spec.hold_time);
        c.push_str("  connect retry time 1;\n  error wait time 1, 5;\n");
        if n.passive {
            c.push_str("  passive on;\n");
        }
        if n.route_reflector_client {
            c.push_str("  rr client;\n");
        }
        if n.bfd.is_some() {
            c.push_str("  bfd on;\n");
        }
        if spec.graceful_restart {
            c.push_str("  graceful restart on;\n  graceful restart time 60;\n");
        }
        if let Some(pw) = &n.password {
            let _ = writeln!(c, "  password \"{pw}\";");
        }
        c.push_str("  ipv4 { import all; export where source ~ [ RTS_STATIC, RTS_BGP ]; };\n");
        c.push_str("  ipv6 { import all; export where source ~ [ RTS_STATIC, RTS_BGP ];");
        if let Some(nh) = &spec.v6_next_hop {
            let _ = write!(c, " next hop address {nh};");
        }
        c.push_str(" };\n}\n");
    }
    c
}

/// Parses `birdc show route all`: a route starts at a line with a prefix
/// in the first column, or (an alternative path) an indented line with
/// `unicast [`; its attributes follow on tab-indented lines.
fn parse_routes(text: &str) -> Vec<LearnedRoute> {
    let mut out: Vec<LearnedRoute> = Vec::new();
    let mut prefix = String::new();
    for line in text.lines() {
        let starts_route = line.contains(" unicast [") || line.contains(" blackhole [");
        if starts_route {
            let first = line.split_whitespace().next().unwrap_or("");
            if !line.starts_with(char::is_whitespace) && first.contains('/') {
                prefix = first.to_owned();
            }
            out.push(LearnedRoute {
                prefix: prefix.clone(),
                as_path: Vec::new(),
                next_hop: None,
                best: line.contains("] * ") || line.contains("] *\t"),
            });
            continue;
        }
        let Some(route) = out.last_mut() else {
            continue;
        };
        let t = line.trim();
        if let Some(p) = t.strip_prefix("BGP.as_path:") {
            route.as_path = parse_as_path(p);
        } else if let Some(nh) = t.strip_prefix("BGP.next_hop:") {
            route.next_hop = nh.split_whitespace().next().and_then(|a| a.parse().ok());
        }
    }
    out
}

impl BgpPeer for Bird {
    fn kind(&self) -> &'static str {
        "bird"
    }

    fn routes(&self) -> Result<Vec<LearnedRoute>> {
        Ok(parse_routes(&self.birdc("show route all")?))
    }

    fn established(&self, neighbor: IpAddr) -> Result<bool> {
        let out = self.birdc(&format!("show protocols {}", proto_name(neighbor)))?;
        Ok(out.contains("Established"))
    }

    fn log(&self) -> String {
        self.daemon.log()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_route_all_is_parsed() {
        let text = "BIRD 2.0.12 ready.\n\
Table master4:\n\
10.20.0.0/16         unicast [n_10_99_0_9 20:10:11.123] * (100) [AS65009i]\n\
\tvia 10.99.0.9 on eth0\n\
\tType: BGP univ\n\
\tBGP.origin: IGP\n\
\tBGP.as_path: 65009 65010\n\
\tBGP.next_hop: 10.99.0.9\n\
\x20                    unicast [n_10_99_0_3 20:10:12.000] (100) [AS65003i]\n\
\tBGP.as_path: 65003\n\
\tBGP.next_hop: 10.99.0.3\n\
192.0.2.0/24         blackhole [s4 20:10:10.000] * (200)\n\
\tType: static univ\n\
Table master6:\n\
fd00:20::/48         unicast [n_10_99_0_9 20:10:11.123] * (100) [AS65009i]\n\
\tBGP.as_path: 65009\n\
\tBGP.next_hop: fd00:99::9 fe80::1\n";
        let r = parse_routes(text);
        assert_eq!(r.len(), 4, "{r:?}");
        assert_eq!(r[0].prefix, "10.20.0.0/16");
        assert_eq!(r[0].as_path, vec![65009, 65010]);
        assert!(r[0].best);
        assert_eq!(r[1].prefix, "10.20.0.0/16");
        assert!(!r[1].best);
        assert_eq!(r[1].next_hop, Some("10.99.0.3".parse().unwrap()));
        assert_eq!(r[2].prefix, "192.0.2.0/24");
        assert_eq!(r[3].next_hop, Some("fd00:99::9".parse().unwrap()));
    }
}
