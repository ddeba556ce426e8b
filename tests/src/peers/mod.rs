//! Real BGP peers for interop tests: BIRD 2, GoBGP, FRR bgpd and OpenBGPD,
//! each started inside a test namespace from a [`PeerSpec`], and asked
//! through its own CLI what it learned ([`LearnedRoute`]).
//!
//! The configurations follow `../shared/interop/` (the fixture with which
//! the four daemons were verified to mesh on Debian 12) and its gotchas:
//! FRR runs bgpd alone (`-Z`, no zebra) as root (`-S`) with a private vty
//! socket; GoBGP needs `lo` up for its gRPC API; OpenBGPD needs explicit
//! `allow` rules (RFC 8212) and `fib-update no`.

mod bird;
mod frr;
mod gobgp;
mod openbgpd;

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

pub use bird::Bird;
pub use frr::Frr;
pub use gobgp::Gobgp;
pub use openbgpd::Openbgpd;

use crate::wait_until;

/// One neighbor of a peer daemon.
#[derive(Debug, Clone)]
pub struct NeighborSpec {
    /// The neighbor's address.
    pub addr: IpAddr,
    /// Its AS.
    pub asn: u32,
    /// TCP-MD5 password, if any.
    pub password: Option<String>,
    /// Only accept connections, never connect.
    pub passive: bool,
    /// BFD on the session (single hop): interval in ms and multiplier.
    /// BIRD: `protocol bfd` and `bfd on`; FRR: bfdd (with zebra) and
    /// `neighbor X bfd`.
    pub bfd: Option<(u32, u8)>,
    /// BFD Keyed SHA1 with this key (key id 1); BIRD only.
    pub bfd_sha1: Option<String>,
    /// The peer daemon is this neighbor's route reflector (RFC 4456; an
    /// iBGP neighbor): BIRD `rr client`, FRR `route-reflector-client`.
    pub route_reflector_client: bool,
    /// Send every path of a prefix with ADD-PATH (RFC 7911); FRR only:
    /// `neighbor X addpath-tx-all-paths`.
    pub add_path_tx_all: bool,
}

impl NeighborSpec {
    /// An active neighbor without password.
    pub fn new(addr: IpAddr, asn: u32) -> NeighborSpec {
        NeighborSpec {
            addr,
            asn,
            password: None,
            passive: false,
            bfd: None,
            bfd_sha1: None,
            route_reflector_client: false,
            add_path_tx_all: false,
        }
    }
}

/// What a peer daemon is: its identity, neighbors and originated prefixes.
#[derive(Debug, Clone)]
pub struct PeerSpec {
    /// Local AS.
    pub asn: u32,
    /// Router id (also the IPv4 address it listens on).
    pub router_id: Ipv4Addr,
    /// Hold time proposed (seconds).
    pub hold_time: u16,
    /// Neighbors.
    pub neighbors: Vec<NeighborSpec>,
    /// Prefixes (IPv4 and IPv6) it originates. For BIRD a prefix may be
    /// followed by route attribute statements in braces, e.g.
    /// `"10.1.0.0/24 { bgp_community.add((65535, 65281)); }"`.
    pub originate: Vec<String>,
    /// Next hop it uses for IPv6 routes it sends, when the session is over
    /// IPv4 (BIRD and FRR need one): an address of its own.
    pub v6_next_hop: Option<String>,
    /// Directory for configs, sockets and pid files.
    pub dir: PathBuf,
    /// Announce graceful restart (RFC 4724) with preserved forwarding
    /// state, so that its neighbors keep its routes while it restarts
    /// (BIRD only, for now).
    pub graceful_restart: bool,
}

impl PeerSpec {
    /// A peer of AS `asn` with one neighbor (`neighbor`, AS `neighbor_as`),
    /// hold time 9 s, originating `originate`; IPv4 only, no graceful
    /// restart.
    pub fn one_neighbor(
        asn: u32,
        router_id: Ipv4Addr,
        neighbor: IpAddr,
        neighbor_as: u32,
        originate: &[&str],
        dir: &std::path::Path,
    ) -> PeerSpec {
        PeerSpec {
            asn,
            router_id,
            hold_time: 9,
            neighbors: vec![NeighborSpec::new(neighbor, neighbor_as)],
            originate: originate.iter().map(|p| (*p).to_owned()).collect(),
            v6_next_hop: None,
            dir: dir.to_owned(),
            graceful_restart: false,
        }
    }
}

/// A route as a peer daemon shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LearnedRoute {
    /// The prefix ("192.0.2.0/24").
    pub prefix: String,
    /// AS path, left to right (AS_SEQUENCE members; sets flattened).
    pub as_path: Vec<u32>,
    /// The BGP next hop.
    pub next_hop: Option<IpAddr>,
    /// Whether the daemon marks it best/selected.
    pub best: bool,
}

/// What interop tests ask of every peer daemon.
pub trait BgpPeer {
    /// Short name ("bird", "gobgp", "frr", "openbgpd").
    fn kind(&self) -> &'static str;
    /// Every route in the daemon's RIB, IPv4 and IPv6.
    fn routes(&self) -> Result<Vec<LearnedRoute>>;
    /// Whether the session with `neighbor` is Established.
    fn established(&self, neighbor: IpAddr) -> Result<bool>;
    /// The daemon's own log so far (for failure messages).
    fn log(&self) -> String;
}

/// Waits until `peer` has a route for `prefix` (any path), returning it.
pub fn wait_for_route(peer: &dyn BgpPeer, prefix: &str, timeout: Duration) -> Result<LearnedRoute> {
    let mut found = None;
    wait_until(timeout, || {
        found = peer
            .routes()
            .ok()
            .and_then(|rs| rs.into_iter().find(|r| r.prefix == prefix));
        found.is_some()
    });
    found.ok_or_else(|| {
        anyhow::anyhow!(
            "{} did not learn {prefix} within {timeout:?}; it has: {:?}\n--- {} log ---\n{}",
            peer.kind(),
            peer.routes().unwrap_or_default(),
            peer.kind(),
            tail(&peer.log(), 40)
        )
    })
}

/// Waits until `peer` no longer has `prefix`.
pub fn wait_for_no_route(peer: &dyn BgpPeer, prefix: &str, timeout: Duration) -> Result<()> {
    let gone = wait_until(timeout, || {
        peer.routes()
            .is_ok_and(|rs| rs.iter().all(|r| r.prefix != prefix))
    });
    anyhow::ensure!(
        gone,
        "{} still has {prefix} after {timeout:?}: {:?}",
        peer.kind(),
        peer.routes().unwrap_or_default()
    );
    Ok(())
}

/// Waits until `peer` reports the session with `neighbor` Established.
pub fn wait_established(peer: &dyn BgpPeer, neighbor: IpAddr, timeout: Duration) -> Result<()> {
    let up = wait_until(timeout, || peer.established(neighbor).unwrap_or(false));
    anyhow::ensure!(
        up,
        "{}: session with {neighbor} not Established within {timeout:?}\n--- {} log ---\n{}",
        peer.kind(),
        peer.kind(),
        tail(&peer.log(), 40)
    );
    Ok(())
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Parses "65001 65002 {65003,65004}" (sets flattened) into AS numbers.
pub(crate) fn parse_as_path(text: &str) -> Vec<u32> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_paths_parse_with_sets_and_prefixes() {
        assert_eq!(parse_as_path("65001 65002"), vec![65001, 65002]);
        assert_eq!(
            parse_as_path("AS65001 {65003,65004}"),
            vec![65001, 65003, 65004]
        );
        assert!(parse_as_path("").is_empty());
    }
}
