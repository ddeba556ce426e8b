//! FIB next hops in the config's names: interface and tunnel ids back to
//! `[[interface]]` / `[[peer]]` names (through the live [`Topology`]: ids
//! are not config indexes once a reload added or removed some), with
//! their MTU and endpoint.

use vcpe_config::{Config, Encapsulation};

use crate::topology::Topology;
use vcpe_forwarding::fib::{Egress, NextHop, NextHopGroup};

use vcpe_api::view::Hop;

/// One next hop, named.
pub fn hop(config: &Config, topology: &Topology, h: &NextHop) -> Hop {
    let gateway = h.gateway.map(|g| g.to_string());
    match h.egress {
        Egress::Interface(i) => {
            let iface = topology
                .interface_name(i)
                .and_then(|n| config.interfaces.iter().find(|x| x.name == n));
            Hop {
                kind: "interface".into(),
                name: Some(iface.map_or_else(|| format!("#{i}"), |x| x.name.clone())),
                gateway,
                encapsulation: None,
                endpoint: None,
                mtu: iface.map(|x| x.mtu),
            }
        }
        Egress::Tunnel(t) => {
            let peer = topology
                .tunnel_name(t)
                .and_then(|n| config.peers.iter().find(|p| p.name == n));
            Hop {
                kind: "tunnel".into(),
                name: Some(peer.map_or_else(|| format!("#{t}"), |p| p.name.clone())),
                gateway,
                encapsulation: peer.map(|p| encapsulation(&p.encapsulation).to_owned()),
                endpoint: peer.map(|p| match p.encapsulation {
                    Encapsulation::Gre { .. } => p.endpoint.ip().to_string(),
                    _ => p.endpoint.to_string(),
                }),
                mtu: peer.map(crate::tunnels::tunnel_mtu),
            }
        }
        Egress::Blackhole => Hop {
            kind: "blackhole".into(),
            name: None,
            gateway,
            encapsulation: None,
            endpoint: None,
            mtu: None,
        },
    }
}

/// Every next hop of a group, named.
pub fn hops(config: &Config, topology: &Topology, g: &NextHopGroup) -> Vec<Hop> {
    g.hops().iter().map(|h| hop(config, topology, h)).collect()
}

/// "dev vcpe0", "peer vpc02" or "blackhole".
pub fn egress(h: &Hop) -> String {
    match (h.kind.as_str(), &h.name) {
        ("interface", Some(n)) => format!("dev {n}"),
        ("tunnel", Some(n)) => format!("peer {n}"),
        _ => "blackhole".to_owned(),
    }
}

/// The egress words of a group ("peer a, peer b" for ECMP).
pub fn group_egress(config: &Config, topology: &Topology, g: &NextHopGroup) -> String {
    hops(config, topology, g)
        .iter()
        .map(egress)
        .collect::<Vec<_>>()
        .join(", ")
}

/// "wireguard", "gre" or "vxlan".
pub fn encapsulation(e: &Encapsulation) -> &'static str {
    match e {
        Encapsulation::WireGuard { .. } => "wireguard",
        Encapsulation::Gre { .. } => "gre",
        Encapsulation::Vxlan { .. } => "vxlan",
    }
}
