//! The reply types of the inspection requests (`route show`, `show route`,
//! `explain`, `bgp neighbor`, `tunnel list`), as `vcpectl --json` prints
//! them. Optional fields are `null` when unknown, lists empty when there is
//! nothing; new fields only ever get added.

use serde::{Deserialize, Serialize};

pub use crate::request::AdjDirection;
use crate::request::RouteSpec;

/// One next hop of a FIB entry: where packets leave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hop {
    /// "interface", "tunnel" or "blackhole".
    pub kind: String,
    /// The interface or tunnel peer name (`None` for a blackhole).
    pub name: Option<String>,
    /// The gateway packets are handed to, if any.
    pub gateway: Option<String>,
    /// For a tunnel: "wireguard" or "gre".
    pub encapsulation: Option<String>,
    /// For a tunnel: the peer's underlay endpoint.
    pub endpoint: Option<String>,
    /// The MTU packets meet there (interface or tunnel MTU).
    pub mtu: Option<u16>,
}

/// What the FIB holds for exactly one prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FibEntry {
    /// The prefix.
    pub prefix: String,
    /// Its next hops (more than one: ECMP, chosen by flow hash).
    pub hops: Vec<Hop>,
}

/// `vcpectl route show NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteDetail {
    /// The route as configured or added.
    pub route: RouteSpec,
    /// "installed" (the FIB forwards the prefix by this route), "shadowed"
    /// (the FIB holds another route for the prefix) or "missing".
    pub fib_state: String,
    /// What the state means and, if it is not "installed", what to do.
    pub fib_note: String,
    /// What the FIB holds for the prefix now.
    pub fib: Option<FibEntry>,
    /// BGP originates the prefix now (`None`: BGP is not configured).
    pub bgp_originated: Option<bool>,
}

/// One route of `vcpectl show route`: a candidate for a prefix from one
/// source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RibRoute {
    /// The prefix.
    pub prefix: String,
    /// "connected", "static", "tunnel" (the host route to a BGP neighbor
    /// that runs over a tunnel peer) or "bgp".
    pub protocol: String,
    /// connected: the interface; static: the route's name; tunnel: the
    /// peer; bgp: the neighbor's address, or "local" for a prefix we
    /// originate.
    pub source: String,
    /// The FIB uses this route for the prefix (`*>`).
    pub best: bool,
    /// The prefix is in the FIB (for the best route: it forwards).
    pub in_fib: bool,
    /// Gateway (static) or BGP next hop.
    pub next_hop: Option<String>,
    /// Where it sends packets: "dev IFACE" or "peer PEER" (for BGP: where
    /// the FIB sends the prefix, when this route is the one it uses).
    pub egress: Option<String>,
    /// BGP: AS path, left to right.
    #[serde(default)]
    pub as_path: Vec<u32>,
    /// BGP: ORIGIN ("igp", "egp", "incomplete").
    pub origin: Option<String>,
    /// BGP: MULTI_EXIT_DISC.
    pub med: Option<u32>,
    /// BGP: LOCAL_PREF.
    pub local_pref: Option<u32>,
    /// BGP: communities, "ASN:VALUE" (well-known ones by name).
    #[serde(default)]
    pub communities: Vec<String>,
    /// BGP: large communities, "GLOBAL:LOCAL1:LOCAL2".
    #[serde(default)]
    pub large_communities: Vec<String>,
    /// BGP: this path is BGP's best for the prefix.
    #[serde(default)]
    pub bgp_best: bool,
    /// BGP: the import rule of the neighbor that matched this path, as the
    /// config names it (`"import_rule[0]"`); its attributes are after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Why this route is the one used, or why it is not.
    pub reason: String,
    /// For a route that lost: the source it lost to.
    pub beaten_by: Option<String>,
    /// BGP: kept over the neighbor's graceful restart.
    #[serde(default)]
    pub stale: bool,
    /// static: announced by BGP (`advertise`).
    #[serde(default)]
    pub advertised: bool,
    /// BGP: not the best path but equal to it (multipath), so the FIB
    /// spreads flows over both (`*=`).
    #[serde(default)]
    pub multipath: bool,
    /// BGP: the ADD-PATH Path Identifier (RFC 7911) the neighbor sent the
    /// path with, when not 0 (it sends several paths for the prefix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_id: Option<u32>,
}

/// `vcpectl explain ADDRESS`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explain {
    /// The destination asked about.
    pub address: String,
    /// The FIB entry that matches it (the longest prefix).
    pub prefix: String,
    /// Where the workers' FIB sends it now.
    pub hops: Vec<Hop>,
    /// The route behind the FIB entry.
    pub route: Option<RibRoute>,
    /// Why that route is the one used, in words.
    pub why: String,
    /// The other candidates for the same prefix, each with why it lost
    /// (or, marked `multipath`, why it shares the traffic).
    pub losers: Vec<RibRoute>,
    /// Less specific FIB entries that also cover the address (they lose
    /// to the longer match).
    pub less_specific: Vec<String>,
    /// Worth knowing: a more specific BGP route left out of the FIB, a
    /// tunnel that is down, ...
    pub notes: Vec<String>,
    /// With a flow asked about: the next hop it takes.
    #[serde(default)]
    pub flow: Option<FlowChoice>,
}

/// Which member of an ECMP group a flow takes (`vcpectl explain DST --from
/// SRC ...`), by the dataplane's own flow hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowChoice {
    /// The flow in words: "udp 10.1.0.5:4000 -> 10.2.0.7:5000".
    pub flow: String,
    /// Its 32-bit flow hash.
    pub hash: u32,
    /// Index into [`Explain::hops`] of the member it takes.
    pub member: usize,
    /// That member.
    pub hop: Hop,
}

/// What the two OPENs agreed on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Negotiated {
    /// Hold time, seconds (0: no hold timer).
    pub hold_time: u16,
    /// Keepalive interval, seconds.
    pub keepalive: u16,
    /// The peer's BGP identifier.
    pub router_id: String,
    /// 4-octet AS numbers on the wire (RFC 6793).
    pub four_octet_as: bool,
    /// Address families both sides announced ("ipv4-unicast", ...).
    pub families: Vec<String>,
    /// Both sides announced route refresh (RFC 2918).
    pub route_refresh: bool,
    /// Graceful restart in effect (RFC 4724): we help the peer restart.
    pub graceful_restart: bool,
    /// The peer's announced restart time, seconds.
    pub peer_restart_time: Option<u16>,
}

/// Counters of one neighbor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighborCounters {
    /// Messages received.
    pub messages_in: u64,
    /// Messages sent.
    pub messages_out: u64,
    /// UPDATEs received.
    pub updates_in: u64,
    /// UPDATEs sent.
    pub updates_out: u64,
    /// Outgoing TCP connection attempts.
    pub connect_attempts: u64,
    /// Times the session reached Established.
    pub established_transitions: u64,
    /// Prefixes it announces now, before import policy.
    pub received: u64,
    /// Prefixes accepted by import policy.
    pub accepted: u64,
    /// Prefixes rejected by import policy or AS-loop detection.
    pub filtered: u64,
    /// Stale paths kept from a previous session (graceful restart).
    pub stale: u64,
    /// Prefixes it holds from us.
    pub advertised: u64,
    /// Changes queued towards it (prefixes, at most one per prefix of
    /// the table).
    pub pending_out: u64,
    /// Bytes queued in vcped towards it, not yet taken by its socket.
    #[serde(default)]
    pub out_queued_bytes: u64,
    /// Its output is behind (it reads slowly): route changes wait in the
    /// RIB, coalesced per prefix (`pending_out`), until the queue drains.
    #[serde(default)]
    pub out_behind: bool,
    /// Prefixes ignored for an AS loop, since start.
    pub looped_total: u64,
    /// Prefixes withdrawn by `enforce_first_as`, since start.
    pub first_as_total: u64,
    /// Prefixes never sent: their attributes fit no UPDATE, since start.
    pub unencodable_total: u64,
    /// Prefixes ignored as reflected back to us (RFC 4456: ORIGINATOR_ID
    /// ours, or our cluster id in CLUSTER_LIST), since start.
    #[serde(default)]
    pub reflected_loops_total: u64,
    /// UPDATEs with RFC 7606 issues (treat-as-withdraw or discard).
    pub malformed_updates: u64,
}

/// `vcpectl bgp neighbor ADDR`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighborDetail {
    /// Address.
    pub address: String,
    /// Its AS.
    pub asn: u32,
    /// Our AS on the session.
    pub local_as: u32,
    /// eBGP or iBGP.
    pub kind: String,
    /// We are its route reflector (`route_reflector_client = true`).
    #[serde(default)]
    pub route_reflector_client: bool,
    /// The config's `description`.
    pub description: Option<String>,
    /// FSM state.
    pub state: String,
    /// Established now.
    pub established: bool,
    /// Seconds up (Established) or down since the last change.
    pub since_secs: Option<u64>,
    /// Stopped by `vcpectl bgp disable` or max-prefix.
    pub disabled: bool,
    /// "active" (connects and accepts) or "passive" (accepts only).
    pub mode: String,
    /// The tunnel peer the session runs over.
    pub tunnel_peer: Option<String>,
    /// Source address of the TCP session, if set.
    pub local_address: Option<String>,
    /// Hold time we propose, seconds.
    pub hold_time: u16,
    /// Keepalive we use, seconds (`None`: a third of the hold time).
    pub keepalive: Option<u16>,
    /// What the OPENs agreed on (past OpenSent).
    pub negotiated: Option<Negotiated>,
    /// Capabilities in our OPEN.
    pub capabilities_sent: Vec<String>,
    /// Capabilities in the peer's OPEN (while negotiated).
    pub capabilities_received: Vec<String>,
    /// Import prefix rules (`None`: accept all).
    pub import: Option<Vec<String>>,
    /// Export prefix rules (`None`: export all).
    pub export: Option<Vec<String>>,
    /// Max accepted prefixes before Cease.
    pub max_prefixes: Option<u32>,
    /// Number of `import_rule` entries (route policy on what it sends).
    #[serde(default)]
    pub import_rules: u32,
    /// Number of `export_rule` entries (route policy on what we send).
    #[serde(default)]
    pub export_rules: u32,
    /// Counters.
    pub counters: NeighborCounters,
    /// Why it last went down, and what to do.
    pub last_error: Option<String>,
    /// The last NOTIFICATION sent or received, "received 6/2 Cease /
    /// Administrative Shutdown".
    pub last_notification: Option<String>,
    /// Graceful restart: seconds until its stale routes are dropped.
    pub stale_for_secs: Option<u64>,
    /// Why it last went down, as a stable name: "session" (the session's
    /// own reason: hold timer, NOTIFICATION, ...), "max_prefixes", or
    /// "bfd_down" (its BFD session went down, RFC 5882).
    #[serde(default)]
    pub last_down_cause: Option<String>,
    /// Its BFD session (`bfd = true`).
    #[serde(default)]
    pub bfd: Option<crate::BfdSession>,
}

/// One route of a neighbor's Adj-RIB-In or Adj-RIB-Out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdjRibRoute {
    /// The prefix.
    pub prefix: String,
    /// Next hop (adj-out: as sent).
    pub next_hop: Option<String>,
    /// AS path (adj-out: as sent, our AS prepended on eBGP).
    pub as_path: Vec<u32>,
    /// ORIGIN.
    pub origin: Option<String>,
    /// MED.
    pub med: Option<u32>,
    /// LOCAL_PREF.
    pub local_pref: Option<u32>,
    /// Communities.
    pub communities: Vec<String>,
    /// Large communities.
    pub large_communities: Vec<String>,
    /// ORIGINATOR_ID (RFC 4456), set by the first route reflector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub originator_id: Option<String>,
    /// CLUSTER_LIST (RFC 4456), the last reflector's cluster id first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_list: Vec<String>,
    /// adj-in: kept over a graceful restart.
    pub stale: bool,
    /// adj-in: rejected by import policy or AS-loop detection (only the
    /// prefix is known: its attributes are not kept).
    pub filtered: bool,
    /// adj-in: this path is BGP's best for the prefix.
    pub best: bool,
    /// The rule that matched the route, as the config names it
    /// (`"import_rule[0]"` for adj-in, `"export_rule[0]"` for adj-out);
    /// `None` when no rule matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The ADD-PATH Path Identifier (RFC 7911) of the path, when not 0:
    /// as the neighbor sent it (adj-in), as we send it (adj-out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_id: Option<u32>,
}

/// One tunnel of `vcpectl tunnel list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelInfo {
    /// Peer name.
    pub name: String,
    /// "wireguard" or "gre".
    pub encapsulation: String,
    /// Underlay endpoint packets go to now ("none" while a WireGuard peer
    /// without a configured endpoint has not connected).
    pub endpoint: String,
    /// Local underlay address, if bound.
    pub bind: Option<String>,
    /// WireGuard: "up", "handshaking" or "down"; GRE: "stateless".
    pub state: String,
    /// What the state means.
    pub state_note: String,
    /// WireGuard: seconds since the current session's handshake.
    pub last_handshake_secs: Option<u64>,
    /// Seconds since the last packet accepted from the peer.
    pub last_rx_secs: Option<u64>,
    /// Inner packets received and accepted.
    pub rx_packets: u64,
    /// Inner bytes received and accepted.
    pub rx_bytes: u64,
    /// Inner packets sent.
    pub tx_packets: u64,
    /// Inner bytes sent.
    pub tx_bytes: u64,
    /// Dropped: inner source outside `allowed_prefixes`.
    pub rx_spoofed: u64,
    /// Datagrams that did not decapsulate.
    pub rx_errors: u64,
    /// Failed sends.
    pub tx_errors: u64,
    /// Tunnel MTU (inner).
    pub mtu: u16,
    /// Inner source prefixes the peer may send from.
    pub allowed_prefixes: Vec<String>,
    /// WireGuard: our public key (base64, as `wg show` prints it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// WireGuard: the peer's public key (base64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_public_key: Option<String>,
    /// The endpoint as configured: an address, a `host:port`, or `None`
    /// (WireGuard: learned from the peer's first authenticated packet).
    /// `endpoint` is where packets go now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_configured: Option<String>,
    /// A hostname endpoint: the address it resolved to last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_resolved: Option<String>,
    /// A hostname endpoint: why its latest resolution failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolve_error: Option<String>,
    /// WireGuard: the latest handshake as Unix time (seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handshake_unix: Option<u64>,
    /// WireGuard: persistent keepalive interval in seconds (`None`: off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalive_secs: Option<u16>,
}
