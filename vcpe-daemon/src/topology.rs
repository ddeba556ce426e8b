//! The config's interfaces and tunnel peers as the dataplane numbers them,
//! built once from the config: interfaces and peers change only with a
//! restart (a reload that changes them is refused), so their ids are
//! fixed for the daemon's life and looked up by name in this one place.
//!
//! An [`InterfaceId`] is the index of an `[[interface]]`, a [`TunnelId`]
//! the index of a `[[peer]]`, in config order: the numbers the forwarding
//! crate's [`NextHop`] and [`Port`] carry.

use std::collections::HashMap;
use std::net::IpAddr;

use vcpe_config::Config;
use vcpe_forwarding::counters::Port;
use vcpe_forwarding::fib::NextHop;

/// One `[[interface]]` (a TUN device).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InterfaceId(u32);

/// One `[[peer]]` (a tunnel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TunnelId(u32);

impl InterfaceId {
    /// The `i`-th interface of the config.
    pub fn from_index(i: usize) -> InterfaceId {
        InterfaceId(index(i))
    }

    /// Packets leave by this interface.
    pub fn hop(self) -> NextHop {
        NextHop::interface(self.0)
    }

    /// Its counters' port.
    pub fn port(self) -> Port {
        Port::Interface(self.0)
    }
}

impl TunnelId {
    /// The `i`-th peer of the config.
    pub fn from_index(i: usize) -> TunnelId {
        TunnelId(index(i))
    }

    /// Packets go into this tunnel.
    pub fn hop(self) -> NextHop {
        NextHop::tunnel(self.0)
    }

    /// Its index in the dataplane's tunnel table.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A config index as the dataplane's `u32` id. Validation bounds the
/// number of interfaces and peers far below `u32::MAX`.
fn index(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// The names of the config's interfaces and peers, and what refers to
/// them by name.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    interfaces: HashMap<String, InterfaceId>,
    tunnels: HashMap<String, TunnelId>,
    /// The tunnel each BGP neighbor runs over (`peer = NAME`), by the
    /// neighbor's config index.
    neighbor_tunnels: Vec<Option<TunnelId>>,
    /// Tunnels by their peer's underlay address.
    endpoints: Vec<(IpAddr, TunnelId)>,
}

impl Topology {
    /// Numbers `config`'s interfaces and peers.
    pub fn new(config: &Config) -> Topology {
        let tunnels: HashMap<String, TunnelId> = config
            .peers
            .iter()
            .enumerate()
            .map(|(i, p)| (p.name.clone(), TunnelId::from_index(i)))
            .collect();
        Topology {
            interfaces: config
                .interfaces
                .iter()
                .enumerate()
                .map(|(i, x)| (x.name.clone(), InterfaceId::from_index(i)))
                .collect(),
            neighbor_tunnels: config
                .bgp
                .iter()
                .flat_map(|b| &b.neighbors)
                .map(|n| tunnels.get(n.peer.as_deref()?).copied())
                .collect(),
            endpoints: config
                .peers
                .iter()
                .enumerate()
                // A learned or hostname endpoint is no fixed address to
                // map a BGP next hop to.
                .filter_map(|(i, p)| Some((p.fixed_endpoint()?.ip(), TunnelId::from_index(i))))
                .collect(),
            tunnels,
        }
    }

    /// The interface named `name`.
    pub fn interface(&self, name: &str) -> Option<InterfaceId> {
        self.interfaces.get(name).copied()
    }

    /// The tunnel to the peer named `name`.
    pub fn tunnel(&self, name: &str) -> Option<TunnelId> {
        self.tunnels.get(name).copied()
    }

    /// The tunnel each BGP neighbor of the start-up config runs over, by
    /// its config index.
    pub fn neighbor_tunnels(&self) -> &[Option<TunnelId>] {
        &self.neighbor_tunnels
    }

    /// Every tunnel with its peer's underlay address.
    pub fn endpoints(&self) -> &[(IpAddr, TunnelId)] {
        &self.endpoints
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use vcpe_forwarding::fib::Egress;

    #[test]
    fn names_map_to_the_ids_of_their_config_order() {
        let config = vcpe_config::parse(
            r#"
[router]
id = "10.0.0.1"
asn = 65001
[[interface]]
name = "a"
addresses = ["10.0.1.1/24"]
[[interface]]
name = "b"
addresses = ["10.0.2.1/24"]
[[peer]]
name = "p"
endpoint = "100.64.0.2"
encapsulation = "gre"
allowed_prefixes = ["10.9.0.0/16"]
"#,
            Path::new("t.toml"),
        )
        .expect("valid");
        let t = Topology::new(&config);
        assert_eq!(
            t.interface("b").map(|i| i.hop().egress),
            Some(Egress::Interface(1))
        );
        assert_eq!(
            t.tunnel("p").map(|i| i.hop().egress),
            Some(Egress::Tunnel(0))
        );
        assert_eq!(t.interface("p"), None);
        assert_eq!(
            t.endpoints(),
            [("100.64.0.2".parse().unwrap(), TunnelId(0))]
        );
    }
}
