//! The answer of `vcpectl reload` and `vcpectl config diff`: what differs
//! between the running config and the file, as the control API names it.

use serde::{Deserialize, Serialize};
use vcpe_config::diff::ConfigDiff;
pub use vcpe_config::diff_fields::FieldChange;
use vcpe_config::{Neighbor, RouteTarget, StaticRoute};

use crate::request::RouteSpec;

/// A neighbor as the changes name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighborRef {
    /// Its address.
    pub address: String,
    /// Its AS.
    pub remote_as: u32,
}

/// A route of the same name, before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteChange {
    /// As it runs.
    pub old: RouteSpec,
    /// As the file has it.
    pub new: RouteSpec,
}

/// What differs between the running config and the file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigChanges {
    /// Routes only in the file.
    pub routes_added: Vec<RouteSpec>,
    /// Routes only running.
    pub routes_removed: Vec<RouteSpec>,
    /// Routes that differ.
    pub routes_changed: Vec<RouteChange>,
    /// Neighbors only in the file.
    pub neighbors_added: Vec<NeighborRef>,
    /// Neighbors only running.
    pub neighbors_removed: Vec<NeighborRef>,
    /// Neighbors that differ (their session restarts).
    pub neighbors_changed: Vec<NeighborRef>,
    /// Tunnel peers changed in place (allowed prefixes, WireGuard keys,
    /// keepalive), by name.
    #[serde(default)]
    pub peers_changed: Vec<String>,
    /// Tunnel peers only in the file, by name.
    #[serde(default)]
    pub peers_added: Vec<String>,
    /// Tunnel peers only running, by name.
    #[serde(default)]
    pub peers_removed: Vec<String>,
    /// Tunnel peers replaced (endpoint, bind, encapsulation, MTU or BFD
    /// changed), by name.
    #[serde(default)]
    pub peers_replaced: Vec<String>,
    /// Interfaces only in the file, by name.
    #[serde(default)]
    pub interfaces_added: Vec<String>,
    /// Interfaces only running, by name.
    #[serde(default)]
    pub interfaces_removed: Vec<String>,
    /// Interfaces whose addresses or MTU changed in place, by name.
    #[serde(default)]
    pub interfaces_changed: Vec<String>,
    /// Changes only a restart can apply.
    pub restart_needed: Vec<String>,
    /// Every setting that differs, with its old and new value.
    #[serde(default)]
    pub fields: Vec<FieldChange>,
}

impl ConfigChanges {
    /// Nothing differs.
    pub fn is_empty(&self) -> bool {
        *self == ConfigChanges::default()
    }
}

impl From<&StaticRoute> for RouteSpec {
    fn from(r: &StaticRoute) -> RouteSpec {
        RouteSpec {
            name: r.name.clone(),
            prefix: r.prefix.to_string(),
            interface: match &r.target {
                RouteTarget::Interface(i) => Some(i.clone()),
                RouteTarget::Peer(_) | RouteTarget::Peers(_) => None,
            },
            peer: match &r.target {
                RouteTarget::Peer(p) => Some(p.clone()),
                RouteTarget::Interface(_) | RouteTarget::Peers(_) => None,
            },
            peers: match &r.target {
                RouteTarget::Peers(ps) => ps.clone(),
                RouteTarget::Interface(_) | RouteTarget::Peer(_) => Vec::new(),
            },
            next_hop: r.next_hop.map(|a| a.to_string()),
            advertise: r.advertise,
        }
    }
}

impl From<&Neighbor> for NeighborRef {
    fn from(n: &Neighbor) -> NeighborRef {
        NeighborRef {
            address: n.address.to_string(),
            remote_as: n.remote_as,
        }
    }
}

impl From<&ConfigDiff> for ConfigChanges {
    fn from(d: &ConfigDiff) -> ConfigChanges {
        let routes = |v: &[StaticRoute]| v.iter().map(RouteSpec::from).collect();
        let neighbors = |v: &[Neighbor]| v.iter().map(NeighborRef::from).collect();
        ConfigChanges {
            routes_added: routes(&d.routes_added),
            routes_removed: routes(&d.routes_removed),
            routes_changed: d
                .routes_changed
                .iter()
                .map(|c| RouteChange {
                    old: RouteSpec::from(&c.old),
                    new: RouteSpec::from(&c.new),
                })
                .collect(),
            neighbors_added: neighbors(&d.neighbors_added),
            neighbors_removed: neighbors(&d.neighbors_removed),
            neighbors_changed: d
                .neighbors_changed
                .iter()
                .map(|c| NeighborRef::from(&c.new))
                .collect(),
            peers_changed: d.peers_changed.iter().map(|c| c.new.name.clone()).collect(),
            peers_added: d.peers_added.iter().map(|p| p.name.clone()).collect(),
            peers_removed: d.peers_removed.iter().map(|p| p.name.clone()).collect(),
            peers_replaced: d
                .peers_replaced
                .iter()
                .map(|c| c.new.name.clone())
                .collect(),
            interfaces_added: d.interfaces_added.iter().map(|i| i.name.clone()).collect(),
            interfaces_removed: d
                .interfaces_removed
                .iter()
                .map(|i| i.name.clone())
                .collect(),
            interfaces_changed: d
                .interfaces_changed
                .iter()
                .map(|c| c.new.name.clone())
                .collect(),
            restart_needed: d.restart_needed.clone(),
            fields: d.fields.clone(),
        }
    }
}
