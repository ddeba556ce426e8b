//! `vcpectl reload` and `vcpectl config diff`: what differs between the
//! running config and the file, applied or only shown.

use clap::Subcommand;
use vcpe_api::ConfigChanges;
use vcpe_api::RouteSpec;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// What `vcpectl reload` would change: running config vs the file.
    Diff,
}

fn route(r: &RouteSpec) -> String {
    let mut s = format!("{} {}", r.name, r.prefix);
    if let Some(nh) = &r.next_hop {
        s += &format!(" via {nh}");
    }
    if let Some(i) = &r.interface {
        s += &format!(" dev {i}");
    }
    if let Some(p) = &r.peer {
        s += &format!(" peer {p}");
    }
    if r.advertise {
        s += " advertise";
    }
    s
}

/// The human form: one `+`/`-`/`~`/`!` line per change, diff style.
pub fn changes(file: &str, applied: bool, c: &ConfigChanges) -> String {
    if c.is_empty() {
        return if applied {
            format!("{file} matches what runs: nothing reloaded, nothing sent to BGP peers\n")
        } else {
            format!("{file} matches what runs\n")
        };
    }
    let mut out = String::new();
    for r in &c.routes_added {
        out += &format!("+ route {}\n", route(r));
    }
    for r in &c.routes_removed {
        out += &format!("- route {}\n", route(r));
    }
    for r in &c.routes_changed {
        out += &format!("~ route {}\n    was {}\n", route(&r.new), route(&r.old));
    }
    for n in &c.neighbors_added {
        out += &format!("+ bgp neighbor {} AS {}\n", n.address, n.remote_as);
    }
    for n in &c.neighbors_removed {
        out += &format!("- bgp neighbor {} AS {}\n", n.address, n.remote_as);
    }
    for n in &c.neighbors_changed {
        out += &format!("~ bgp neighbor {} AS {}\n", n.address, n.remote_as);
    }
    for p in &c.peers_changed {
        out += &format!("~ peer {p} (changed in place; the other tunnels are not touched)\n");
    }
    if !c.fields.is_empty() {
        out += "changed settings (running -> file):\n";
        for f in &c.fields {
            let v = |x: &Option<String>| x.clone().unwrap_or_else(|| "(not set)".to_owned());
            out += &format!("    {}: {} -> {}\n", f.path, v(&f.old), v(&f.new));
        }
    }
    for r in &c.restart_needed {
        out += &format!("! {r} (needs a restart of vcped)\n");
    }
    out += &if applied {
        format!("reloaded from {file}\n")
    } else {
        format!("running config vs {file}; `vcpectl reload` applies it\n")
    };
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use vcpe_api::NeighborRef;

    #[test]
    fn changes_read_like_a_diff() {
        let r = RouteSpec {
            name: "b".into(),
            prefix: "10.8.0.0/16".into(),
            interface: Some("vcpe0".into()),
            peer: None,
            peers: Vec::new(),
            next_hop: None,
            advertise: true,
        };
        let c = ConfigChanges {
            routes_added: vec![r],
            neighbors_removed: vec![NeighborRef {
                address: "10.0.1.2".into(),
                remote_as: 65002,
            }],
            ..ConfigChanges::default()
        };
        let text = changes("/etc/vcpe/vcped.toml", false, &c);
        assert!(
            text.contains("+ route b 10.8.0.0/16 dev vcpe0 advertise\n"),
            "{text}"
        );
        assert!(
            text.contains("- bgp neighbor 10.0.1.2 AS 65002\n"),
            "{text}"
        );
        assert!(text.ends_with("`vcpectl reload` applies it\n"), "{text}");
        let c = ConfigChanges {
            fields: vec![vcpe_api::FieldChange {
                path: "bgp neighbor 10.0.1.2 max_prefixes".into(),
                old: None,
                new: Some("10".into()),
            }],
            ..ConfigChanges::default()
        };
        let text = changes("f.toml", false, &c);
        assert!(
            text.contains("    bgp neighbor 10.0.1.2 max_prefixes: (not set) -> 10\n"),
            "{text}"
        );
        let same = changes("f.toml", true, &ConfigChanges::default());
        assert!(same.contains("nothing sent to BGP peers"), "{same}");
    }
}
