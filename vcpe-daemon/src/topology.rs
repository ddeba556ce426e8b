//! The config's interfaces and tunnel peers as the dataplane numbers them,
//! by name: a live map that a reload changes (interfaces and peers added
//! or removed), read by everything that turns a name into an id (routes
//! with `interface =`/`peer =`/`peers =`, neighbors over tunnels, BFD,
//! BGP next hops by endpoint and by inner address ([`PeerHops`]), the
//! control views).
//!
//! An [`InterfaceId`] or [`TunnelId`] is the number the forwarding
//! crate's [`NextHop`] and [`Port`] carry. At start the ids are the config
//! indexes; a reload gives an added interface or peer the next unused id,
//! and an id stays with its name until it is removed. A freed tunnel id
//! is not handed out again before [`TUNNEL_CAPACITY`] ids were (its stale
//! routes are long gone by then), and then only with its counters reset.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::RwLock;

use ipnet::IpNet;
use vcpe_config::{Config, Peer};
use vcpe_forwarding::counters::{PORT_CAPACITY, Port, TUNNEL_CAPACITY};
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

    /// The dataplane's number for it.
    pub fn raw(self) -> u32 {
        self.0
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

    /// The dataplane's number for it.
    pub fn raw(self) -> u32 {
        self.0
    }
}

/// A config index as the dataplane's `u32` id. Validation bounds the
/// number of interfaces and peers far below `u32::MAX`.
fn index(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// Hands out ids: the next never-used one while below `capacity`, then
/// the lowest freed one.
#[derive(Debug, Clone, Default)]
struct Ids {
    next: u32,
    capacity: u32,
    freed: BTreeSet<u32>,
}

impl Ids {
    fn new(used: usize, capacity: usize) -> Ids {
        Ids {
            next: index(used),
            capacity: index(capacity.max(used)),
            freed: BTreeSet::new(),
        }
    }

    /// A free id, and whether it was used before (its counters need a
    /// reset); `None`: all `capacity` ids are in use.
    fn take(&mut self) -> Option<(u32, bool)> {
        if self.next < self.capacity {
            self.next += 1;
            return Some((self.next - 1, false));
        }
        let id = self.freed.pop_first()?;
        Some((id, true))
    }

    fn free(&mut self, id: u32) {
        self.freed.insert(id);
    }
}

/// What a BGP next hop is matched against to find a tunnel peer
/// (`routing::bgp_routes::next_hops`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerHops {
    /// Its inner addresses ([`vcpe_config::inner_addresses`]).
    pub inner: Vec<IpAddr>,
    /// Its `allowed_prefixes`.
    pub allowed: Vec<IpNet>,
}

impl PeerHops {
    /// `peers`' ([`vcpe_config::inner_addresses`]), in their order.
    pub fn of_all(peers: &[Peer]) -> Vec<PeerHops> {
        vcpe_config::inner_addresses(peers)
            .into_iter()
            .zip(peers)
            .map(|(inner, p)| PeerHops {
                inner,
                allowed: p.allowed_prefixes.clone(),
            })
            .collect()
    }
}

/// The names and ids now.
#[derive(Debug, Clone, Default)]
struct Map {
    interfaces: HashMap<String, InterfaceId>,
    tunnels: HashMap<String, TunnelId>,
    /// Tunnels by their peer's fixed underlay address.
    endpoints: HashMap<TunnelId, IpAddr>,
    /// Tunnels' inner addresses and allowed prefixes.
    hops: HashMap<TunnelId, PeerHops>,
    interface_ids: Ids,
    tunnel_ids: Ids,
}

/// The running interfaces and peers by name; changed only by a reload
/// (which runs one at a time).
#[derive(Debug, Default)]
pub struct Topology {
    map: RwLock<Map>,
    /// The tunnel each BGP neighbor of the start-up config runs over
    /// (`peer = NAME`), by the neighbor's config index.
    neighbor_tunnels: Vec<Option<TunnelId>>,
}

/// Why an id could not be handed out.
#[derive(Debug)]
pub struct NoFreeId(&'static str, u32);

impl std::fmt::Display for NoFreeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no free {} id: the dataplane counts at most {} at a time; remove some or restart vcped",
            self.0, self.1
        )
    }
}

impl std::error::Error for NoFreeId {}

impl Topology {
    /// Numbers `config`'s interfaces and peers (by config index).
    pub fn new(config: &Config) -> Topology {
        let tunnels: HashMap<String, TunnelId> = config
            .peers
            .iter()
            .enumerate()
            .map(|(i, p)| (p.name.clone(), TunnelId::from_index(i)))
            .collect();
        let neighbor_tunnels = config
            .bgp
            .iter()
            .flat_map(|b| &b.neighbors)
            .map(|n| tunnels.get(n.peer.as_deref()?).copied())
            .collect();
        let map = Map {
            interfaces: config
                .interfaces
                .iter()
                .enumerate()
                .map(|(i, x)| (x.name.clone(), InterfaceId::from_index(i)))
                .collect(),
            endpoints: config
                .peers
                .iter()
                .enumerate()
                // A learned or hostname endpoint is no fixed address to
                // map a BGP next hop to.
                .filter_map(|(i, p)| Some((TunnelId::from_index(i), p.fixed_endpoint()?.ip())))
                .collect(),
            hops: PeerHops::of_all(&config.peers)
                .into_iter()
                .enumerate()
                .map(|(i, h)| (TunnelId::from_index(i), h))
                .collect(),
            tunnels,
            interface_ids: Ids::new(config.interfaces.len(), PORT_CAPACITY),
            tunnel_ids: Ids::new(config.peers.len(), TUNNEL_CAPACITY),
        };
        Topology {
            map: RwLock::new(map),
            neighbor_tunnels,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Map> {
        self.map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Map> {
        self.map
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The interface named `name`.
    pub fn interface(&self, name: &str) -> Option<InterfaceId> {
        self.read().interfaces.get(name).copied()
    }

    /// The tunnel to the peer named `name`.
    pub fn tunnel(&self, name: &str) -> Option<TunnelId> {
        self.read().tunnels.get(name).copied()
    }

    /// The name of interface `id`, if it runs.
    pub fn interface_name(&self, id: u32) -> Option<String> {
        let m = self.read();
        m.interfaces
            .iter()
            .find(|(_, i)| i.0 == id)
            .map(|(n, _)| n.clone())
    }

    /// The name of the peer of tunnel `id`, if it runs.
    pub fn tunnel_name(&self, id: u32) -> Option<String> {
        let m = self.read();
        m.tunnels
            .iter()
            .find(|(_, t)| t.0 == id)
            .map(|(n, _)| n.clone())
    }

    /// The tunnel each BGP neighbor of the start-up config runs over, by
    /// its config index (neighbors added later carry theirs along).
    pub fn neighbor_tunnels(&self) -> &[Option<TunnelId>] {
        &self.neighbor_tunnels
    }

    /// Every tunnel with its peer's fixed underlay address.
    pub fn endpoints(&self) -> Vec<(IpAddr, TunnelId)> {
        let mut v: Vec<(IpAddr, TunnelId)> = self
            .read()
            .endpoints
            .iter()
            .map(|(t, a)| (*a, *t))
            .collect();
        v.sort();
        v
    }

    /// Every running tunnel with its peer's inner addresses and allowed
    /// prefixes, by id.
    pub fn peer_hops(&self) -> Vec<(TunnelId, PeerHops)> {
        let mut v: Vec<(TunnelId, PeerHops)> = self
            .read()
            .hops
            .iter()
            .map(|(t, h)| (*t, h.clone()))
            .collect();
        v.sort_by_key(|(t, _)| *t);
        v
    }

    /// The running peers' inner addresses and allowed prefixes are those
    /// of `peers` (a reload's new config; a peer not running is skipped).
    pub fn set_peer_hops(&self, peers: &[Peer]) {
        let mut m = self.write();
        let hops = peers
            .iter()
            .zip(PeerHops::of_all(peers))
            .filter_map(|(p, h)| Some((*m.tunnels.get(&p.name)?, h)))
            .collect();
        m.hops = hops;
    }

    /// A new peer `name` (fixed endpoint address `endpoint`, if any) gets
    /// a tunnel id; `true` with it if the id was used before (reset its
    /// counters). A name that exists keeps its id.
    pub fn add_tunnel(
        &self,
        name: &str,
        endpoint: Option<IpAddr>,
    ) -> Result<(TunnelId, bool), NoFreeId> {
        let mut m = self.write();
        if let Some(&id) = m.tunnels.get(name) {
            return Ok((id, false));
        }
        let capacity = m.tunnel_ids.capacity;
        let (id, reused) = m.tunnel_ids.take().ok_or(NoFreeId("tunnel", capacity))?;
        let id = TunnelId(id);
        m.tunnels.insert(name.to_owned(), id);
        if let Some(e) = endpoint {
            m.endpoints.insert(id, e);
        }
        Ok((id, reused))
    }

    /// The peer `name`'s fixed endpoint address changed (a changed peer
    /// keeps its id).
    pub fn set_endpoint(&self, name: &str, endpoint: Option<IpAddr>) {
        let mut m = self.write();
        let Some(&id) = m.tunnels.get(name) else {
            return;
        };
        match endpoint {
            Some(e) => m.endpoints.insert(id, e),
            None => m.endpoints.remove(&id),
        };
    }

    /// Peer `name` is gone; its id is freed.
    pub fn remove_tunnel(&self, name: &str) -> Option<TunnelId> {
        let mut m = self.write();
        let id = m.tunnels.remove(name)?;
        m.endpoints.remove(&id);
        m.hops.remove(&id);
        m.tunnel_ids.free(id.0);
        Some(id)
    }

    /// A new interface `name` gets an id (an existing name keeps its own).
    pub fn add_interface(&self, name: &str) -> Result<InterfaceId, NoFreeId> {
        let mut m = self.write();
        if let Some(&id) = m.interfaces.get(name) {
            return Ok(id);
        }
        let capacity = m.interface_ids.capacity;
        let (id, _) = m
            .interface_ids
            .take()
            .ok_or(NoFreeId("interface", capacity))?;
        let id = InterfaceId(id);
        m.interfaces.insert(name.to_owned(), id);
        Ok(id)
    }

    /// Interface `name` is gone; its id is freed.
    pub fn remove_interface(&self, name: &str) -> Option<InterfaceId> {
        let mut m = self.write();
        let id = m.interfaces.remove(name)?;
        m.interface_ids.free(id.0);
        Some(id)
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
        assert_eq!(
            t.peer_hops(),
            [(
                TunnelId(0),
                PeerHops {
                    inner: vec![],
                    allowed: vec!["10.9.0.0/16".parse().unwrap()]
                }
            )]
        );
        // Live: a new peer takes the next id, a removed one frees its own
        // (not handed out again before the capacity is used up).
        let (q, reused) = t.add_tunnel("q", None).expect("id");
        assert_eq!((q, reused), (TunnelId(1), false));
        assert_eq!(t.add_tunnel("q", None).expect("id").0, q);
        assert_eq!(t.remove_tunnel("p"), Some(TunnelId(0)));
        assert_eq!(t.tunnel("p"), None);
        assert!(t.endpoints().is_empty());
        assert!(t.peer_hops().is_empty());
        assert_eq!(t.add_tunnel("r", None).expect("id").0, TunnelId(2));
        assert_eq!(t.add_interface("c").expect("id"), InterfaceId(2));
        assert_eq!(t.remove_interface("a"), Some(InterfaceId(0)));
        assert_eq!(t.interface("c"), Some(InterfaceId(2)));
    }

    #[test]
    fn a_reload_sets_the_running_peers_inner_addresses() {
        let peers = |extra: &str| {
            vcpe_config::parse(
                &format!(
                    "[router]\nid = \"10.0.0.1\"\nasn = 65001\n[[peer]]\nname = \"p\"\n\
                     endpoint = \"100.64.0.2\"\nencapsulation = \"gre\"\n\
                     allowed_prefixes = [\"10.255.0.2/32\", \"10.9.0.0/16\"]\n{extra}"
                ),
                Path::new("t.toml"),
            )
            .expect("valid")
            .peers
        };
        let t = Topology::new(&vcpe_config::Config {
            peers: peers(""),
            ..vcpe_config::parse(
                "[router]\nid = \"10.0.0.1\"\nasn = 65001\n",
                Path::new("t.toml"),
            )
            .expect("valid")
        });
        assert_eq!(
            t.peer_hops()[0].1.inner,
            ["10.255.0.2".parse::<IpAddr>().unwrap()]
        );
        t.set_peer_hops(&peers("next_hops = [\"10.254.0.2\"]"));
        assert_eq!(
            t.peer_hops()[0].1.inner,
            ["10.254.0.2".parse::<IpAddr>().unwrap()]
        );
        // A peer of the file that does not run (yet) is left out.
        let mut more = peers("");
        more[0].name = "q".into();
        t.set_peer_hops(&more);
        assert!(t.peer_hops().is_empty());
    }

    #[test]
    fn freed_ids_are_reused_only_once_the_capacity_is_used_up() {
        let mut ids = Ids::new(1, 3);
        assert_eq!(ids.take(), Some((1, false)));
        ids.free(0);
        assert_eq!(ids.take(), Some((2, false)));
        assert_eq!(ids.take(), Some((0, true)));
        assert_eq!(ids.take(), None);
    }
}
