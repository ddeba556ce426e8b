//! Control protocol message types (serialized as JSON lines).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Version of the control protocol spoken by this build.
pub const API_VERSION: u32 = 1;

/// A request envelope: the version plus the command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Protocol version the client speaks.
    pub version: u32,
    /// The command itself.
    #[serde(flatten)]
    pub request: Request,
}

/// Commands a client can send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Request {
    /// Daemon identity, uptime and a summary of what it runs.
    Status,
    /// Dataplane counters: per interface, drops by reason, events.
    Stats,
    /// `vcpectl bgp summary`: every neighbor.
    BgpSummary,
    /// `vcpectl show route [PREFIX]`: BGP candidate paths with best markers.
    BgpRoutes {
        /// Only this prefix (or all).
        prefix: Option<String>,
    },
    /// `vcpectl route add`: a static route, live (not yet written to the
    /// config file).
    RouteAdd(RouteSpec),
    /// `vcpectl route del NAME`.
    RouteDel {
        /// The route's name.
        name: String,
    },
    /// `vcpectl route list`.
    RouteList,
    /// `vcpectl bgp enable|disable|refresh ADDR`.
    BgpNeighbor {
        /// Neighbor address.
        address: String,
        /// What to do.
        action: NeighborAction,
    },
}

/// A static route as `vcpectl route` names it (the config's `[[route]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteSpec {
    /// Unique name.
    pub name: String,
    /// Destination prefix.
    pub prefix: String,
    /// Out of this `[[interface]]` ...
    pub interface: Option<String>,
    /// ... or into this `[[peer]]` tunnel.
    pub peer: Option<String>,
    /// Gateway.
    pub next_hop: Option<String>,
    /// Announce it by BGP.
    pub advertise: bool,
}

/// What `vcpectl bgp ... ADDR` does to a neighbor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NeighborAction {
    /// Start the session again.
    Enable,
    /// Stop it (Cease / Administrative Shutdown) until enabled.
    Disable,
    /// Ask the neighbor to resend its routes (ROUTE-REFRESH).
    Refresh,
}

/// The daemon's answer to one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Reply {
    /// Answer to [`Request::Status`].
    Status(Status),
    /// Answer to [`Request::Stats`].
    Stats(Stats),
    /// Answer to [`Request::BgpSummary`].
    BgpSummary {
        /// One entry per neighbor.
        neighbors: Vec<BgpNeighbor>,
    },
    /// Answer to [`Request::BgpRoutes`].
    BgpRoutes {
        /// Candidate paths, grouped by prefix.
        routes: Vec<BgpRoute>,
    },
    /// Answer to [`Request::RouteList`].
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
    /// Why the session last went down.
    pub last_error: Option<String>,
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
    fn envelope_round_trips_as_one_json_object() {
        let env = Envelope {
            version: API_VERSION,
            request: Request::Status,
        };
        let text = serde_json::to_string(&env).unwrap();
        assert_eq!(text, r#"{"version":1,"command":"status"}"#);
        assert_eq!(serde_json::from_str::<Envelope>(&text).unwrap(), env);
    }

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
