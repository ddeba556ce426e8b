//! What differs between two configs, in the terms a reload acts on:
//! static routes by name, BGP neighbors by address (those over tunnels
//! too), tunnel peers by name (added, removed, changed in place: allowed
//! prefixes, WireGuard keys and keepalive; or replaced: endpoint, bind,
//! encapsulation, MTU, BFD), interfaces by name (added, removed, or their
//! addresses and MTU changed in place), every setting with its old and new
//! value ([`crate::diff_fields`]), and the rest as "needs a restart" (what
//! a running vcped cannot change: the router's identity, its listening
//! sockets, the forwarding knobs).
//!
//! Pure data: the daemon's reload applies a [`ConfigDiff`], `vcpectl config
//! diff` prints one. Two equal configs give an empty diff, so a reload of an
//! unchanged file does nothing at all.

use serde::Serialize;

use crate::diff_fields::{FieldChange, field_changes};
use crate::model::{Config, Encapsulation, Interface, Neighbor, Peer, StaticRoute};

/// A changed item: before and after.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Changed<T> {
    /// As it runs.
    pub old: T,
    /// As the file has it.
    pub new: T,
}

/// The difference from a running config to a new one.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ConfigDiff {
    /// Routes only in the new config.
    pub routes_added: Vec<StaticRoute>,
    /// Routes only in the running config.
    pub routes_removed: Vec<StaticRoute>,
    /// Routes of the same name that differ.
    pub routes_changed: Vec<Changed<StaticRoute>>,
    /// Neighbors only in the new config.
    pub neighbors_added: Vec<Neighbor>,
    /// Neighbors only in the running config.
    pub neighbors_removed: Vec<Neighbor>,
    /// Neighbors of the same address that differ (their session restarts,
    /// unless only their policy changed: see [`policy_only`]).
    pub neighbors_changed: Vec<Changed<Neighbor>>,
    /// Tunnel peers of the same name whose change a reload applies in
    /// place (see [`peer_live`]): the other tunnels are not touched.
    pub peers_changed: Vec<Changed<Peer>>,
    /// Tunnel peers only in the new config.
    pub peers_added: Vec<Peer>,
    /// Tunnel peers only in the running config.
    pub peers_removed: Vec<Peer>,
    /// Tunnel peers of the same name changed in what the running tunnel
    /// cannot take (endpoint, bind, encapsulation, MTU, BFD): the tunnel
    /// is replaced (same id, new socket and session), the others are not
    /// touched.
    pub peers_replaced: Vec<Changed<Peer>>,
    /// Interfaces only in the new config.
    pub interfaces_added: Vec<Interface>,
    /// Interfaces only in the running config.
    pub interfaces_removed: Vec<Interface>,
    /// Interfaces of the same name whose addresses or MTU differ: the
    /// running TUN is changed in place.
    pub interfaces_changed: Vec<Changed<Interface>>,
    /// Changes that a reload cannot apply, e.g. `[[peer]] vpc02`,
    /// `[bgp] listen`: each needs a restart of vcped.
    pub restart_needed: Vec<String>,
    /// Every setting that differs, with its old and new value.
    pub fields: Vec<FieldChange>,
}

impl ConfigDiff {
    /// Nothing differs.
    pub fn is_empty(&self) -> bool {
        self.routes_added.is_empty()
            && self.routes_removed.is_empty()
            && self.routes_changed.is_empty()
            && self.neighbors_added.is_empty()
            && self.neighbors_removed.is_empty()
            && self.neighbors_changed.is_empty()
            && self.peers_changed.is_empty()
            && self.peers_added.is_empty()
            && self.peers_removed.is_empty()
            && self.peers_replaced.is_empty()
            && self.interfaces_added.is_empty()
            && self.interfaces_removed.is_empty()
            && self.interfaces_changed.is_empty()
            && self.restart_needed.is_empty()
    }
}

/// Whether a neighbor's change touches only its policy (`import`,
/// `export`, their rules, `max_prefixes`) and BFD: applied to the running
/// session without a reset.
pub fn policy_only(old: &Neighbor, new: &Neighbor) -> bool {
    let mut o = old.clone();
    o.import = new.import.clone();
    o.export = new.export.clone();
    o.import_rules = new.import_rules.clone();
    o.export_rules = new.export_rules.clone();
    o.max_prefixes = new.max_prefixes;
    o.bfd = new.bfd.clone();
    o == *new
}

/// Whether a tunnel peer's change can be applied to the running tunnel:
/// its `allowed_prefixes`, `next_hops` and, for WireGuard, its keys (private, public,
/// preshared) and keepalive. Anything else (endpoint, bind, encapsulation,
/// MTU, BFD) replaces the tunnel.
pub fn peer_live(old: &Peer, new: &Peer) -> bool {
    let mut o = old.clone();
    o.allowed_prefixes = new.allowed_prefixes.clone();
    o.next_hops = new.next_hops.clone();
    if matches!(
        (&o.encapsulation, &new.encapsulation),
        (
            Encapsulation::WireGuard { .. },
            Encapsulation::WireGuard { .. }
        )
    ) {
        o.encapsulation = new.encapsulation.clone();
    }
    o == *new
}

/// Items of `old` and `new` matched by `key`: (removed, added, changed).
fn by_key<T: Clone + PartialEq, K: PartialEq>(
    old: &[T],
    new: &[T],
    key: impl Fn(&T) -> K,
) -> (Vec<T>, Vec<T>, Vec<Changed<T>>) {
    let removed = old
        .iter()
        .filter(|o| !new.iter().any(|n| key(n) == key(o)))
        .cloned()
        .collect();
    let mut added = Vec::new();
    let mut changed = Vec::new();
    for n in new {
        match old.iter().find(|o| key(o) == key(n)) {
            None => added.push(n.clone()),
            Some(o) if o != n => changed.push(Changed {
                old: o.clone(),
                new: n.clone(),
            }),
            Some(_) => {}
        }
    }
    (removed, added, changed)
}

/// The difference from `running` to `new`.
pub fn diff(running: &Config, new: &Config) -> ConfigDiff {
    let (routes_removed, routes_added, routes_changed) =
        by_key(&running.routes, &new.routes, |r| r.name.clone());
    let empty = Vec::new();
    let neighbors = |c: &Config| c.bgp.as_ref().map_or(&empty, |b| &b.neighbors).clone();
    let (neighbors_removed, neighbors_added, neighbors_changed) =
        by_key(&neighbors(running), &neighbors(new), |n| n.address);
    let mut restart_needed = Vec::new();
    // The BGP identity: sessions would have to start over as another
    // router, and the RIB with them.
    if running.router != new.router {
        restart_needed.push(format!(
            "[router] {} (the router's BGP identity)",
            crate::diff_fields::changed_keys(&running.router, &new.router).join(", ")
        ));
    }
    let mut section = |name: &str, same: bool| {
        if !same {
            restart_needed.push(format!("[{name}]"));
        }
    };
    section("control", running.control == new.control);
    section("metrics", running.metrics == new.metrics);
    section("forwarding", running.forwarding == new.forwarding);
    if running.kernel != new.kernel {
        let keys = crate::diff_fields::changed_keys(&running.kernel, &new.kernel);
        // Unset, it is the first interface: removing or reordering that
        // one moves the kernel routes.
        let note = if keys.iter().any(|k| k == "interface") {
            " (the TUN kernel routes point at: unset, the first [[interface]]; set [kernel] \
             interface to the one that stays)"
        } else {
            ""
        };
        restart_needed.push(format!("[kernel] {}{note}", keys.join(", ")));
    }
    match (&running.bgp, &new.bgp) {
        (Some(a), Some(b)) => {
            if a.listen != b.listen {
                restart_needed.push("[bgp] listen".to_owned());
            }
            if (a.maximum_paths, a.maximum_paths_ipv6) != (b.maximum_paths, b.maximum_paths_ipv6) {
                restart_needed.push("[bgp] maximum_paths".to_owned());
            }
            // Routes already reflected carry the old one.
            if a.cluster_id != b.cluster_id {
                restart_needed.push("[bgp] cluster_id".to_owned());
            }
            // Not applied by a reload; refused rather than ignored.
            if (a.shutdown, &a.shutdown_message) != (b.shutdown, &b.shutdown_message) {
                restart_needed.push(
                    "[bgp] shutdown / shutdown_message (to drain live: vcpectl bgp disable ADDR \
                     --persist [--message TEXT])"
                        .to_owned(),
                );
            }
        }
        (Some(_), None) => restart_needed.push("[bgp] removed".to_owned()),
        (None, Some(_)) => restart_needed.push("[bgp] added".to_owned()),
        (None, None) => {}
    }
    // Interfaces come and go live; a running TUN's addresses and MTU
    // change in place.
    let (interfaces_removed, interfaces_added, interfaces_changed) =
        by_key(&running.interfaces, &new.interfaces, |i| i.name.clone());
    let (peers_removed, peers_added, peers_all_changed) =
        by_key(&running.peers, &new.peers, |p| p.name.clone());
    let (peers_changed, peers_replaced): (Vec<_>, Vec<_>) = peers_all_changed
        .into_iter()
        .partition(|c| peer_live(&c.old, &c.new));
    ConfigDiff {
        routes_added,
        routes_removed,
        routes_changed,
        neighbors_added,
        neighbors_removed,
        neighbors_changed,
        peers_changed,
        peers_added,
        peers_removed,
        peers_replaced,
        interfaces_added,
        interfaces_removed,
        interfaces_changed,
        restart_needed,
        fields: field_changes(running, new),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const BASE: &str = r#"
[router]
id = "10.0.1.1"
asn = 65001
[[interface]]
name = "vcpe0"
addresses = ["10.0.1.1/24"]
[[route]]
name = "a"
prefix = "10.9.0.0/16"
interface = "vcpe0"
[[route]]
name = "b"
prefix = "10.8.0.0/16"
interface = "vcpe0"
[bgp]
listen = "10.0.1.1:179"
[[bgp.neighbor]]
address = "10.0.1.2"
remote_as = 65002
[[bgp.neighbor]]
address = "10.0.1.3"
remote_as = 65003
"#;

    fn parse(s: &str) -> Config {
        crate::parse(s, Path::new("t.toml")).expect("valid config")
    }

    #[test]
    fn equal_configs_give_an_empty_diff() {
        let d = diff(&parse(BASE), &parse(BASE));
        assert!(d.is_empty(), "{d:?}");
        // Layout and comments do not matter.
        let reformatted = BASE.replace("asn = 65001", "asn = 65001   # ours\n\n");
        assert!(diff(&parse(BASE), &parse(&reformatted)).is_empty());
    }

    #[test]
    fn routes_and_neighbors_are_matched_by_name_and_address() {
        let new = BASE
            .replace("name = \"a\"", "name = \"c\"")
            .replace("10.8.0.0/16\"", "10.8.0.0/16\"\nadvertise = true")
            .replace("remote_as = 65003", "remote_as = 65033")
            .replace(
                "address = \"10.0.1.2\"\nremote_as = 65002\n",
                "address = \"10.0.1.4\"\nremote_as = 65004\n",
            );
        let d = diff(&parse(BASE), &parse(&new));
        let names = |v: &[StaticRoute]| v.iter().map(|r| r.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&d.routes_removed), ["a"]);
        assert_eq!(names(&d.routes_added), ["c"]);
        assert_eq!(d.routes_changed.len(), 1);
        assert!(!d.routes_changed[0].old.advertise && d.routes_changed[0].new.advertise);
        let addrs = |v: &[Neighbor]| v.iter().map(|n| n.address.to_string()).collect::<Vec<_>>();
        assert_eq!(addrs(&d.neighbors_removed), ["10.0.1.2"]);
        assert_eq!(addrs(&d.neighbors_added), ["10.0.1.4"]);
        assert_eq!(d.neighbors_changed[0].new.remote_as, 65033);
        assert!(d.restart_needed.is_empty(), "{:?}", d.restart_needed);
    }

    #[test]
    fn other_sections_need_a_restart() {
        let new = BASE
            .replace("asn = 65001", "asn = 65009")
            .replace("listen = \"10.0.1.1:179\"", "listen = \"10.0.1.1:1179\"")
            .replace(
                "addresses = [\"10.0.1.1/24\"]",
                "addresses = [\"10.0.1.1/24\"]\nmtu = 1400",
            );
        let d = diff(&parse(BASE), &parse(&new));
        assert_eq!(
            d.restart_needed,
            ["[router] asn (the router's BGP identity)", "[bgp] listen"]
        );
        // An interface's MTU changes in place.
        assert_eq!(d.interfaces_changed.len(), 1);
        assert_eq!(d.interfaces_changed[0].new.mtu, 1400);
    }

    const PEERS: &str = r#"
[[peer]]
name = "p1"
endpoint = "100.64.0.2"
encapsulation = "gre"
allowed_prefixes = ["10.2.0.0/16"]
[[peer]]
name = "p2"
endpoint = "100.64.0.3"
encapsulation = "gre"
allowed_prefixes = ["10.3.0.0/16"]
"#;

    /// Peers and interfaces added, removed or replaced are live: no
    /// restart, each named in its own list.
    #[test]
    fn peers_and_interfaces_come_and_go_live() {
        let old = format!("{BASE}{PEERS}");
        let new = old
            .replace("name = \"p1\"", "name = \"p9\"")
            .replace("100.64.0.3", "100.64.0.33")
            .replace(
                "[[route]]\nname = \"a\"",
                "[[interface]]\nname = \"vcpe1\"\naddresses = [\"10.0.2.1/24\"]\n[[route]]\nname = \"a\"",
            );
        let d = diff(&parse(&old), &parse(&new));
        assert!(d.restart_needed.is_empty(), "{:?}", d.restart_needed);
        let names = |v: &[Peer]| v.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&d.peers_removed), ["p1"]);
        assert_eq!(names(&d.peers_added), ["p9"]);
        assert_eq!(d.peers_replaced.len(), 1);
        assert_eq!(
            d.peers_replaced[0].new.endpoint.ip().to_string(),
            "100.64.0.33"
        );
        assert!(d.peers_changed.is_empty());
        assert_eq!(d.interfaces_added.len(), 1);
        assert_eq!(d.interfaces_added[0].name, "vcpe1");
        assert!(d.interfaces_removed.is_empty());
        // The field list names the changed endpoint.
        assert!(
            d.fields
                .iter()
                .any(|f| f.path.contains("p2") && f.path.contains("endpoint")),
            "{:?}",
            d.fields
        );
        // And back: the interface is removed.
        let back = diff(&parse(&new), &parse(&old));
        assert_eq!(back.interfaces_removed.len(), 1);
        assert!(!back.is_empty());
    }

    /// Removing the first interface moves the kernel routes' TUN (the
    /// default `[kernel] interface`): refused, saying how to keep it.
    #[test]
    fn removing_the_kernel_routes_interface_is_refused_with_the_fix() {
        let two = BASE.replace(
            "[[route]]\nname = \"a\"",
            "[[interface]]\nname = \"vcpe1\"\naddresses = [\"10.0.2.1/24\"]\n[[route]]\nname = \"a\"",
        );
        let without_first = two
            .replace(
                "[[interface]]\nname = \"vcpe0\"\naddresses = [\"10.0.1.1/24\"]\n",
                "",
            )
            .replace("interface = \"vcpe0\"", "interface = \"vcpe1\"");
        let d = diff(&parse(&two), &parse(&without_first));
        assert_eq!(d.restart_needed.len(), 1, "{:?}", d.restart_needed);
        assert!(
            d.restart_needed[0].starts_with("[kernel] interface")
                && d.restart_needed[0].contains("set [kernel] interface"),
            "{:?}",
            d.restart_needed
        );
    }

    #[test]
    fn cluster_id_needs_a_restart() {
        let new = BASE.replace(
            "listen = \"10.0.1.1:179\"",
            "listen = \"10.0.1.1:179\"\ncluster_id = \"10.0.0.9\"",
        );
        let d = diff(&parse(BASE), &parse(&new));
        assert_eq!(d.restart_needed, ["[bgp] cluster_id"]);
    }

    #[test]
    fn maximum_paths_needs_a_restart() {
        let new = BASE.replace(
            "listen = \"10.0.1.1:179\"",
            "listen = \"10.0.1.1:179\"\nmaximum_paths = 2",
        );
        let d = diff(&parse(BASE), &parse(&new));
        assert_eq!(d.restart_needed, ["[bgp] maximum_paths"]);
    }

    /// A drain written by hand is not applied by a reload: it is refused
    /// with the way to drain live, not silently ignored.
    #[test]
    fn bgp_shutdown_is_refused_not_ignored() {
        let new = BASE.replace(
            "listen = \"10.0.1.1:179\"",
            "listen = \"10.0.1.1:179\"\nshutdown = true",
        );
        let d = diff(&parse(BASE), &parse(&new));
        assert_eq!(d.restart_needed.len(), 1, "{:?}", d.restart_needed);
        assert!(d.restart_needed[0].starts_with("[bgp] shutdown"));
        assert!(d.restart_needed[0].contains("vcpectl bgp disable"));
    }
}
