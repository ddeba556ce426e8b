//! Which BFD sessions the config asks for, and who acts on each: one per
//! `[[bgp.neighbor]]` with `bfd = true` (its BGP session), one per
//! `[[peer]]` with `bfd = true` (its static routes; always RFC 5883
//! multihop, to `bfd_address` inside the tunnel).

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use vcpe_bfd::{AuthKey, PathKind, SessionConfig, SessionKey};
use vcpe_config::Config;

use crate::topology::{Topology, TunnelId};

/// What acts on a session's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Client {
    /// The BGP session to this neighbor (RFC 5882).
    Neighbor(IpAddr),
    /// The static routes into this tunnel peer.
    Tunnel {
        /// The `[[peer]]` name.
        name: String,
        /// Its tunnel.
        id: TunnelId,
    },
}

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Client::Neighbor(a) => write!(f, "bgp {a}"),
            Client::Tunnel { name, .. } => write!(f, "peer {name}"),
        }
    }
}

/// One session to run, for one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// Peer, local address, path kind.
    pub key: SessionKey,
    /// Intervals and multiplier.
    pub config: SessionConfig,
    /// Who acts on it.
    pub client: Client,
}

fn session_config(
    interval_ms: u32,
    multiplier: u8,
    auth: Option<&vcpe_config::BfdAuth>,
) -> SessionConfig {
    let interval = Duration::from_millis(u64::from(interval_ms));
    SessionConfig {
        desired_min_tx: interval,
        required_min_rx: interval,
        detect_mult: multiplier,
        auth: auth.map(|a| AuthKey {
            key_id: a.key_id,
            secret: a.key.secret().to_vec(),
            meticulous: a.meticulous,
        }),
    }
}

/// The sessions `config` asks for (`topology` names its tunnels).
pub fn specs(config: &Config, topology: &Topology) -> Vec<Spec> {
    let neighbors = config
        .bgp
        .iter()
        .flat_map(|b| &b.neighbors)
        .filter_map(|n| {
            let b = n.bfd.as_ref()?;
            Some(Spec {
                key: SessionKey {
                    peer: n.address,
                    local: n.local_address,
                    path: if b.multihop {
                        PathKind::MultiHop
                    } else {
                        PathKind::SingleHop
                    },
                },
                config: session_config(b.interval_ms, b.multiplier, b.auth.as_ref()),
                client: Client::Neighbor(n.address),
            })
        });
    let peers = config.peers.iter().filter_map(|p| {
        let b = p.bfd.as_ref()?;
        Some(Spec {
            key: SessionKey {
                peer: b.address,
                local: b.local_address,
                path: PathKind::MultiHop,
            },
            config: session_config(b.interval_ms, b.multiplier, b.auth.as_ref()),
            client: Client::Tunnel {
                name: p.name.clone(),
                id: topology.tunnel(&p.name)?,
            },
        })
    });
    neighbors.chain(peers).collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn neighbors_and_tunnel_peers_with_bfd_get_sessions() {
        let text = r#"
[router]
id = "10.0.1.1"
asn = 65001
[[interface]]
name = "tuna"
addresses = ["10.255.0.1/24"]
[[peer]]
name = "vpc02"
endpoint = "198.51.100.2"
encapsulation = "gre"
allowed_prefixes = ["10.255.0.2/32"]
bfd = true
bfd_address = "10.255.0.2"
bfd_interval_ms = 100
[bgp]
[[bgp.neighbor]]
address = "10.1.1.10"
remote_as = 65100
bfd = true
[[bgp.neighbor]]
address = "10.1.1.11"
remote_as = 65100
"#;
        let config = vcpe_config::parse(text, Path::new("t.toml")).expect("valid");
        let s = specs(&config, &Topology::new(&config));
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].client.to_string(), "bgp 10.1.1.10");
        assert_eq!(s[0].key.path, PathKind::SingleHop);
        assert_eq!(s[0].config.desired_min_tx, Duration::from_millis(300));
        assert_eq!(s[1].client.to_string(), "peer vpc02");
        assert_eq!(s[1].key.path, PathKind::MultiHop);
        assert_eq!(s[1].config.detect_mult, 3);
        assert_eq!(s[1].config.required_min_rx, Duration::from_millis(100));
    }
}
