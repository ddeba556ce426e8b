//! What the daemon answers: one [`Reply`] per request, and the types of the
//! status, counter and BGP summary replies. Optional fields are `null` when
//! unknown; new fields and new replies only ever get added, so clients
//! match replies with a fallback arm.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::changes::ConfigChanges;
use crate::request::RouteSpec;
use crate::view::{
    AdjDirection, AdjRibRoute, Explain, NeighborDetail, RibRoute, RouteDetail, TunnelInfo,
};

/// The daemon's answer to one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reply {
    /// Answer to [`Request::Status`](crate::Request::Status).
    Status(Status),
    /// Answer to [`Request::Stats`](crate::Request::Stats) (boxed: the biggest answer, it would
    /// make every `Reply` as big).
    Stats(Box<Stats>),
    /// Answer to [`Request::BgpSummary`](crate::Request::BgpSummary).
    BgpSummary {
        /// One entry per neighbor.
        neighbors: Vec<BgpNeighbor>,
    },
    /// Answer to [`Request::BgpRoutes`](crate::Request::BgpRoutes).
    BgpRoutes {
        /// Candidate paths, grouped by prefix.
        routes: Vec<BgpRoute>,
    },
    /// Answer to [`Request::Reload`](crate::Request::Reload) and [`Request::ConfigDiff`](crate::Request::ConfigDiff).
    ConfigChanges {
        /// The config file.
        file: String,
        /// Whether the changes were applied (reload) or only shown (diff).
        applied: bool,
        /// What differs between the running config and the file.
        changes: Box<ConfigChanges>,
    },
    /// Answer to [`Request::RouteList`](crate::Request::RouteList).
    Routes {
        /// Every static route, config order, then those added at run time.
        routes: Vec<RouteSpec>,
    },
    /// A command that changes something succeeded.
    Done {
        /// What was done.
        message: String,
    },
    /// The request failed; `message` says why and what to do.
    Error {
        /// Human-readable reason, including the next step to take.
        message: String,
    },
    /// Answer to [`Request::RouteShow`](crate::Request::RouteShow).
    Route(Box<RouteDetail>),
    /// Answer to [`Request::Rib`](crate::Request::Rib).
    Rib {
        /// The prefix an address lookup matched (`None` for a listing).
        #[serde(default)]
        matched: Option<String>,
        /// Rows grouped by prefix, the best of each first.
        routes: Vec<RibRoute>,
    },
    /// Answer to [`Request::Explain`](crate::Request::Explain).
    Explain(Box<Explain>),
    /// Answer to [`Request::BgpNeighborDetail`](crate::Request::BgpNeighborDetail).
    BgpNeighborDetail(Box<NeighborDetail>),
    /// Answer to [`Request::BgpAdjRib`](crate::Request::BgpAdjRib).
    BgpAdjRib {
        /// The neighbor.
        neighbor: String,
        /// Received or advertised.
        direction: AdjDirection,
        /// The routes, sorted by prefix.
        routes: Vec<AdjRibRoute>,
    },
    /// Answer to [`Request::TunnelList`](crate::Request::TunnelList).
    Tunnels {
        /// One per `[[peer]]`, config order.
        tunnels: Vec<TunnelInfo>,
        /// The WireGuard handshake thread, shared by every WireGuard
        /// tunnel (`None` without any).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        handshakes: Option<Box<HandshakeCounters>>,
    },
    /// Answer to [`Request::BfdSessions`](crate::Request::BfdSessions).
    BfdSessions {
        /// One per session, by peer address.
        sessions: Vec<crate::bfd::BfdSession>,
        /// Received packets that reached no session, by reason
        /// ("ttl_not_255", "no_session", "version", ...).
        drops: std::collections::BTreeMap<String, u64>,
    },
    /// Answer to [`Request::ConfigApply`](crate::Request::ConfigApply) and
    /// [`Request::ConfigRollback`](crate::Request::ConfigRollback).
    ConfigApplied(Box<crate::commit::Applied>),
    /// Answer to [`Request::ConfigHistory`](crate::Request::ConfigHistory).
    ConfigHistory {
        /// The config file.
        file: String,
        /// Where the versions are kept.
        directory: String,
        /// The versions kept, oldest first.
        entries: Vec<crate::commit::HistoryEntry>,
        /// An applied version waiting for `vcpectl config confirm`.
        pending: Option<crate::commit::PendingConfirm>,
    },
}

/// Summary of a running daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// `vcped` version.
    pub version: String,
    /// Process id.
    pub pid: u32,
    /// Seconds since start.
    pub uptime_secs: u64,
    /// Config file the daemon runs.
    pub config_path: String,
    /// BGP router id.
    pub router_id: String,
    /// Local AS number.
    pub asn: u32,
    /// Number of TUN interfaces configured.
    pub interfaces: usize,
    /// Number of static routes configured.
    pub static_routes: usize,
    /// Number of tunnel peers configured.
    pub peers: usize,
    /// Number of BGP neighbors configured.
    pub bgp_neighbors: usize,
}

/// Dataplane counters, summed over the workers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Number of dataplane worker threads.
    pub workers: usize,
    /// IPv4 routes in the FIB.
    pub fib_v4_routes: usize,
    /// IPv6 routes in the FIB.
    pub fib_v6_routes: usize,
    /// Per TUN interface, in config order.
    pub interfaces: Vec<PortCounters>,
    /// Dropped packets by reason (`no_route`, `ttl_expired`, ...).
    pub drops: BTreeMap<String, u64>,
    /// Other dataplane events (`icmp_sent`, `mss_clamped`, ...).
    pub events: BTreeMap<String, u64>,
    /// Per tunnel peer, in config order.
    #[serde(default)]
    pub tunnels: Vec<TunnelCounters>,
    /// FIB route changes applied since start (routes added, replaced or
    /// removed; the initial load included), from every source.
    #[serde(default)]
    pub fib_route_changes: u64,
    /// Kernel route sync (`[kernel] route_sync`); `None` when off.
    #[serde(default)]
    pub kernel_sync: Option<KernelSyncStats>,
    /// The tunnel receive threads and what each has read, in the order
    /// they started (a WireGuard or VXLAN bind has one per worker).
    #[serde(default)]
    pub receive_threads: Vec<ReceiveThreadCounters>,
    /// The WireGuard handshake thread: queue, cookies, under load.
    #[serde(default)]
    pub handshakes: HandshakeCounters,
}

/// The WireGuard handshake thread (`vcpe-wg-hs`): every handshake message
/// the receive threads read goes through its bounded queue, never
/// through the data path. Under load (a handshake flood: the queue at
/// least 1/8 full, for at least a second) every handshake must carry a
/// cookie, which it gets in a cookie reply.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HandshakeCounters {
    /// Whether the queue is under load now.
    pub under_load: bool,
    /// Seconds it has been under load, while it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub under_load_secs: Option<u64>,
    /// Times it went under load since start.
    pub under_load_events: u64,
    /// Handshake messages queued by the receive threads.
    pub queued: u64,
    /// Dropped by a receive thread: the queue was full.
    pub dropped_queue_full: u64,
    /// Dropped: over the handshakes per second allowed to reach the key
    /// exchange (per source address and in all).
    pub rate_limited: u64,
    /// Cookie replies sent (under load, or over 100 handshakes per second
    /// from one address).
    pub cookie_replies_sent: u64,
    /// Handshake messages a peer accepted.
    pub accepted: u64,
    /// Refused: bad mac1 (not for our key), no such peer, replayed or
    /// failed handshakes.
    pub refused: u64,
    /// Messages waiting now.
    pub queue_depth: usize,
    /// The queue's size.
    pub queue_capacity: usize,
}

/// One tunnel receive thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiveThreadCounters {
    /// Its OS thread name (`vcpe-tun-rx-N`, as `top -H` shows it).
    pub thread: String,
    /// What it reads: `wireguard BIND`, `vxlan BIND` or `gre ADDRESS`.
    pub socket: String,
    /// Its place in the socket's `SO_REUSEPORT` group (`0..group_size`).
    pub index: usize,
    /// Receive threads on that socket's bind.
    pub group_size: usize,
    /// Underlay datagrams it read since it started.
    pub datagrams: u64,
    /// Receive calls that brought datagrams.
    pub batches: u64,
}

/// Kernel route sync: our routes in the kernel, and those it could not
/// install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelSyncStats {
    /// The TUN the routes point at.
    pub interface: String,
    /// Kernel table id.
    pub table: u32,
    /// Route protocol number of our routes.
    pub protocol: u8,
    /// Our routes in the kernel now.
    pub installed: usize,
    /// Prefixes the kernel already routes by another protocol, left alone
    /// (each logged once; retried).
    pub foreign_conflicts: usize,
    /// Prefixes whose last netlink request failed (retried).
    pub failed: usize,
    /// Failed netlink requests since start.
    pub errors_total: u64,
    /// Wanted prefixes not in the kernel now (other than those left to a
    /// foreign route): being added, failed, or waiting for the TUN's link.
    #[serde(default)]
    pub missing: usize,
    /// Our routes found missing from the kernel since start (deleted by
    /// someone else, flushed with the TUN's link).
    #[serde(default)]
    pub lost_total: u64,
    /// Of those, installed again since start.
    #[serde(default)]
    pub resynced_total: u64,
    /// Full comparisons with the kernel's table since start (after a
    /// notification, and every 60 s).
    #[serde(default)]
    pub resyncs_total: u64,
    /// The TUN's link is up (routes are only installed while it is).
    #[serde(default = "up")]
    pub link_up: bool,
}

fn up() -> bool {
    true
}

/// Counters of one tunnel peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelCounters {
    /// Peer name.
    pub name: String,
    /// "wireguard" or "gre".
    pub encapsulation: String,
    /// Underlay endpoint.
    pub endpoint: String,
    /// Inner packets sent into the tunnel.
    pub tx_packets: u64,
    /// Inner bytes sent.
    pub tx_bytes: u64,
    /// Inner packets received and accepted.
    pub rx_packets: u64,
    /// Inner bytes received and accepted.
    pub rx_bytes: u64,
    /// Received packets dropped: inner source not allowed for this peer.
    pub rx_spoofed: u64,
    /// Received datagrams that did not decapsulate.
    pub rx_errors: u64,
    /// Failed sends.
    pub tx_errors: u64,
    /// Seconds since the last accepted packet (`None`: never).
    pub last_rx_secs: Option<u64>,
}

/// Packet and byte counters of one port. A GSO super-packet counts as one
/// packet with all its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortCounters {
    /// Interface name.
    pub name: String,
    /// Packets read from the interface.
    pub rx_packets: u64,
    /// Bytes read from the interface.
    pub rx_bytes: u64,
    /// Packets written to the interface (forwarded and ICMP errors).
    pub tx_packets: u64,
    /// Bytes written to the interface.
    pub tx_bytes: u64,
}

/// One BGP neighbor, as `vcpectl bgp summary` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BgpNeighbor {
    /// Address.
    pub address: String,
    /// AS.
    pub asn: u32,
    /// FSM state.
    pub state: String,
    /// Seconds in the current up/down state.
    pub since_secs: Option<u64>,
    /// Prefixes received.
    pub received: u64,
    /// Prefixes accepted by import policy.
    pub accepted: u64,
    /// Prefixes advertised.
    pub advertised: u64,
    /// Messages received.
    pub messages_in: u64,
    /// Messages sent.
    pub messages_out: u64,
    /// Announced prefixes treated as withdrawn because the AS path did not
    /// start with the neighbor's AS (`enforce_first_as`), since start.
    #[serde(default)]
    pub first_as_total: u64,
    /// Prefixes never advertised because their attributes fit no UPDATE,
    /// since start.
    #[serde(default)]
    pub unencodable_total: u64,
    /// Announced prefixes ignored as our own route reflected back, or one
    /// that passed our cluster already (RFC 4456), since start.
    #[serde(default)]
    pub reflected_loops_total: u64,
    /// Why the session last went down.
    pub last_error: Option<String>,
    /// Times the session reached Established since start (flaps).
    #[serde(default)]
    pub established_transitions: u64,
    /// Bytes queued in vcped towards the neighbor, not yet taken by its
    /// socket (a slow reader's backlog; bounded, see `out_behind`).
    #[serde(default)]
    pub out_queued_bytes: u64,
    /// Route changes towards the neighbor are held back because it reads
    /// slowly: they wait coalesced (one per prefix) until its queue drains.
    #[serde(default)]
    pub out_behind: bool,
    /// The config's `description` of the neighbor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One candidate path of a prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BgpRoute {
    /// The prefix.
    pub prefix: String,
    /// Whether this path is the best.
    pub best: bool,
    /// "local" or the neighbor address.
    pub source: String,
    /// AS path, left to right.
    pub as_path: Vec<u32>,
    /// BGP next hop.
    pub next_hop: Option<String>,
    /// ORIGIN ("igp", "egp", "incomplete").
    pub origin: String,
    /// LOCAL_PREF, if present.
    pub local_pref: Option<u32>,
    /// MED, if present.
    pub med: Option<u32>,
    /// Why the best path won, or why this one lost.
    pub reason: String,
    /// Kept from a session that went down while its peer restarts
    /// (graceful restart, RFC 4724): still used until the peer is back and
    /// refreshed it, or its restart time runs out.
    #[serde(default)]
    pub stale: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_reply_is_tagged() {
        let r = Reply::Error {
            message: "nope".into(),
        };
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(text, r#"{"result":"error","message":"nope"}"#);
        assert_eq!(serde_json::from_str::<Reply>(&text).unwrap(), r);
    }
}
