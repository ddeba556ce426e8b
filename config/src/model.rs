//! The typed, validated configuration model handed to the daemon.
//!
//! Every value here has passed validation: prefixes are networks, names are
//! unique, references resolve, key files were read. The model serializes to
//! JSON (for `vcpectl`) without any secret material.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use ipnet::IpNet;
use serde::Serialize;

use crate::community::{Community, LargeCommunity};
use crate::policy::PolicyRule;
use crate::prefix_filter::PrefixFilter;
use crate::secret::{KeyFile, PasswordFile, PublicKey};

/// A complete vcped configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    /// `[router]`: identity of this router.
    pub router: Router,
    /// `[control]`: the management socket used by `vcpectl`.
    pub control: Control,
    /// `[metrics]`: Prometheus endpoint; `None` when the section is absent.
    pub metrics: Option<Metrics>,
    /// `[kernel]`: synchronisation of routes into the kernel FIB.
    pub kernel: Kernel,
    /// `[forwarding]`: dataplane tunables.
    pub forwarding: Forwarding,
    /// `[[interface]]`: TUN devices the daemon creates and owns.
    pub interfaces: Vec<Interface>,
    /// `[[route]]`: static routes.
    pub routes: Vec<StaticRoute>,
    /// `[bgp]`: the BGP speaker; `None` when the section is absent.
    pub bgp: Option<Bgp>,
    /// `[[peer]]`: tunnel peers (other vCPEs).
    pub peers: Vec<Peer>,
}

/// `[router]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Router {
    /// BGP router identifier (a non-zero IPv4 address).
    pub id: Ipv4Addr,
    /// Local autonomous system number (1..=4294967295, not 23456).
    pub asn: u32,
}

/// `[control]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Control {
    /// Path of the Unix control socket.
    pub socket: PathBuf,
    /// Group allowed to use the socket (mode 0660); `None` means mode 0600.
    pub group: Option<String>,
}

/// `[metrics]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Metrics {
    /// Address the Prometheus `/metrics` HTTP endpoint listens on.
    pub listen: SocketAddr,
}

/// `[kernel]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Kernel {
    /// Install routes into the kernel routing table.
    pub route_sync: bool,
    /// Kernel routing table id (254 = main).
    pub table: u32,
    /// rtnetlink protocol number marking routes installed by vcped.
    pub protocol: u8,
    /// The TUN the kernel routes point at: `[kernel] interface`, or the
    /// first `[[interface]]`. `None` only when no interface is configured.
    pub interface: Option<String>,
}

/// `[forwarding]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Forwarding {
    /// Clamp TCP MSS on forwarded SYNs to the egress MTU.
    pub mss_clamp: bool,
    /// ICMP errors originated per second (0 = never originate ICMP errors).
    pub icmp_rate_limit: u32,
    /// Dataplane worker threads (0 = one per CPU core).
    pub workers: u16,
}

/// `[[interface]]`: a TUN device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Interface {
    /// Linux interface name.
    pub name: String,
    /// Addresses with prefix length, `ip addr` style (host bits allowed).
    pub addresses: Vec<IpNet>,
    /// Device MTU.
    pub mtu: u16,
}

/// `[[route]]`: a static route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaticRoute {
    /// Unique route name.
    pub name: String,
    /// Destination network (host bits zero).
    pub prefix: IpNet,
    /// Optional gateway.
    pub next_hop: Option<IpAddr>,
    /// Where matching packets are sent.
    pub target: RouteTarget,
    /// Whether BGP announces this route.
    pub advertise: bool,
    /// What BGP sends with it (only with `advertise`).
    pub attrs: RouteAttrs,
}

/// The BGP attributes of an advertised static route.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct RouteAttrs {
    /// MULTI_EXIT_DISC (lower is preferred by the receiver).
    pub med: Option<u32>,
    /// Communities.
    pub communities: Vec<Community>,
    /// Large communities.
    pub large_communities: Vec<LargeCommunity>,
    /// Extra copies of our AS towards eBGP neighbors.
    pub prepend: u8,
}

/// Where a static route sends traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteTarget {
    /// Out of the named `[[interface]]`.
    Interface(String),
    /// Into the tunnel to the named `[[peer]]`.
    Peer(String),
    /// Into the tunnels to several `[[peer]]`s (`peers = [...]`): one ECMP
    /// next-hop group, each flow hashed onto one of them. Never empty, no
    /// name twice.
    Peers(Vec<String>),
}

impl RouteTarget {
    /// The `[[peer]]` names this route sends into (none for an interface).
    pub fn peers(&self) -> &[String] {
        match self {
            RouteTarget::Interface(_) => &[],
            RouteTarget::Peer(p) => std::slice::from_ref(p),
            RouteTarget::Peers(ps) => ps,
        }
    }
}

/// `[bgp]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bgp {
    /// Address and port the speaker accepts sessions on.
    pub listen: SocketAddr,
    /// Configured neighbors.
    pub neighbors: Vec<Neighbor>,
    /// `maximum_paths`: most equal IPv4 paths per prefix installed as one
    /// ECMP group (1, the default: the best path only).
    pub maximum_paths: u16,
    /// `maximum_paths_ipv6`: the same for IPv6 (defaults to
    /// `maximum_paths`).
    pub maximum_paths_ipv6: u16,
    /// `shutdown = true`: every neighbor stays administratively down (a
    /// drain that survives restarts). Default false.
    pub shutdown: bool,
    /// `shutdown_message`: the RFC 9003 shutdown communication sent with
    /// the Cease / Administrative Shutdown of `vcpectl bgp disable` (a
    /// neighbor's own `shutdown_message` wins).
    pub shutdown_message: Option<String>,
    /// `cluster_id`: our route-reflection cluster id (RFC 4456 §7), put in
    /// the CLUSTER_LIST of the routes we reflect; routes carrying it are
    /// loops. `None`: the router id. Reflectors of one cluster share it.
    pub cluster_id: Option<Ipv4Addr>,
}

impl Bgp {
    /// Whether `n` starts administratively down (`[bgp] shutdown = true`
    /// or its `enabled = false`).
    pub fn starts_down(&self, n: &Neighbor) -> bool {
        self.shutdown || !n.enabled
    }

    /// The shutdown communication for disabling `n`: its own, else
    /// `[bgp] shutdown_message`.
    pub fn shutdown_message_for<'a>(&'a self, n: &'a Neighbor) -> Option<&'a str> {
        n.shutdown_message
            .as_deref()
            .or(self.shutdown_message.as_deref())
    }
}

/// `[[bgp.neighbor]]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Neighbor {
    /// Neighbor address.
    pub address: IpAddr,
    /// Neighbor AS.
    pub remote_as: u32,
    /// Free-form description.
    pub description: Option<String>,
    /// `enabled = false`: the session stays administratively down until
    /// `vcpectl bgp enable` (written by `vcpectl bgp disable --persist`).
    /// Default true.
    pub enabled: bool,
    /// The RFC 9003 shutdown communication sent when it is disabled.
    pub shutdown_message: Option<String>,
    /// Whether we connect out or only accept.
    pub mode: NeighborMode,
    /// Proposed hold time in seconds (0, or 3..=65535).
    pub hold_time: u16,
    /// Keepalive interval in seconds (defaults to hold_time / 3; 0 iff hold_time is 0).
    pub keepalive: u16,
    /// TCP-MD5 (RFC 2385) secret read from a file.
    pub password: Option<PasswordFile>,
    /// Import filter; `None` accepts everything.
    pub import: Option<Vec<PrefixFilter>>,
    /// Export filter; `None` exports every advertised or learned route.
    pub export: Option<Vec<PrefixFilter>>,
    /// Tear the session down (Cease) when more prefixes are received.
    pub max_prefixes: Option<u32>,
    /// On eBGP, treat an UPDATE whose AS_PATH does not start with
    /// `remote_as` as withdrawn (RFC 4271 §6.3, RFC 7606 §7.2). Default
    /// true; set false for IXP route servers, which do not prepend their
    /// AS. No effect on iBGP.
    pub enforce_first_as: bool,
    /// `route_reflector_client = true`: we are this iBGP neighbor's route
    /// reflector (RFC 4456 §8): its routes go to every other iBGP
    /// neighbor, other iBGP neighbors' routes go to it. Default false;
    /// refused on eBGP neighbors.
    pub route_reflector_client: bool,
    /// Tunnel peer the session runs over.
    pub peer: Option<String>,
    /// Local source address for the TCP session (and the next hop we
    /// announce in its family). Over a tunnel it is one of our interface
    /// addresses; over the underlay any address of the host.
    pub local_address: Option<IpAddr>,
    /// `next_hop_self`: towards iBGP, routes learned from eBGP go with our
    /// address as next hop (`true`, the default) or with theirs
    /// (`false`). Locally originated routes always carry ours, eBGP
    /// always gets ours, and reflected routes keep theirs (RFC 4456).
    pub next_hop_self: Option<bool>,
    /// `add_paths = "receive" | "send" | "both"`: ADD-PATH (RFC 7911) for
    /// IPv4 and IPv6 unicast, announced in the OPEN. Receive: where the
    /// neighbor can send, every path it sends for a prefix is kept (best
    /// path, multipath). Send: where it can receive, it gets up to
    /// `add_paths_count` paths per prefix. `None` (the default): off, one
    /// path per prefix. A change by reload restarts this neighbor's
    /// session.
    pub add_paths: Option<AddPaths>,
    /// `add_paths_count`: most paths per prefix sent to the neighbor
    /// with ADD-PATH send, 1..=64, or "all" (`u16::MAX`). Default 2 (an
    /// ECMP or primary/backup pair); only with `add_paths` "send" or
    /// "both".
    pub add_paths_count: u16,
    /// Route policy on received routes (after `import`), first match wins.
    pub import_rules: Vec<PolicyRule>,
    /// Route policy on sent routes (after `export`), first match wins.
    pub export_rules: Vec<PolicyRule>,
    /// BFD for this neighbor (`bfd = true`): when its session goes down,
    /// so does the BGP session (RFC 5882).
    pub bfd: Option<NeighborBfd>,
}

/// A neighbor's `add_paths`: which ADD-PATH direction we announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AddPaths {
    /// We take several paths per prefix from the neighbor.
    Receive,
    /// We send several paths per prefix to the neighbor.
    Send,
    /// Both.
    Both,
}

impl AddPaths {
    /// Whether we send several paths.
    pub fn sends(self) -> bool {
        matches!(self, AddPaths::Send | AddPaths::Both)
    }
}

/// The default `add_paths_count`.
pub const DEFAULT_ADD_PATHS_COUNT: u16 = 2;
/// The largest numeric `add_paths_count` ("all" is more).
pub const MAX_ADD_PATHS_COUNT: u16 = 64;

/// A neighbor's BFD session (`bfd`, `bfd_interval_ms`, `bfd_multiplier`,
/// `bfd_multihop`, `bfd_key_file`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NeighborBfd {
    /// Desired transmit and required receive interval in milliseconds
    /// (default 300).
    pub interval_ms: u32,
    /// Detection multiplier (default 3): down after this many intervals
    /// without a packet.
    pub multiplier: u8,
    /// RFC 5883 multihop (UDP 4784, any TTL) rather than RFC 5881 single
    /// hop (UDP 3784, TTL 255). Default false.
    pub multihop: bool,
    /// Keyed SHA1 authentication (RFC 5880 §6.7.4), or none.
    pub auth: Option<BfdAuth>,
}

/// BFD Keyed SHA1 authentication (`bfd_key_file`, `bfd_key_id`,
/// `bfd_meticulous`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BfdAuth {
    /// The shared key (1 to 20 bytes) and the file it came from.
    pub key: PasswordFile,
    /// Auth Key ID (default 1).
    pub key_id: u8,
    /// Meticulous Keyed SHA1 (sequence number up with every packet).
    pub meticulous: bool,
}

impl NeighborBfd {
    /// Default interval: 300 ms.
    pub const DEFAULT_INTERVAL_MS: u32 = 300;
    /// Default multiplier: 3.
    pub const DEFAULT_MULTIPLIER: u8 = 3;
}

/// How a BGP session is established.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NeighborMode {
    /// Connect to the neighbor and accept its connections.
    Active,
    /// Only accept connections from the neighbor.
    Passive,
}

/// `[[peer]]`: a tunnel to another vCPE.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Peer {
    /// Unique peer name.
    pub name: String,
    /// Remote underlay address and UDP port. The unspecified address
    /// (`0.0.0.0`, with the port when one was written) when there is no
    /// fixed address: a WireGuard peer without `endpoint` (it learns the
    /// endpoint from the peer's first authenticated packet) or with a
    /// hostname (`endpoint_host`, resolved at run time). See
    /// [`Peer::fixed_endpoint`].
    pub endpoint: SocketAddr,
    /// WireGuard: the endpoint as written when it names a host
    /// (`"branch.example.net:51820"`); vcped resolves it with the system
    /// resolver and again periodically.
    pub endpoint_host: Option<String>,
    /// Local underlay bind address.
    pub bind: Option<SocketAddr>,
    /// Tunnel encapsulation and its parameters.
    pub encapsulation: Encapsulation,
    /// Networks this peer may send from and that may be routed to it.
    pub allowed_prefixes: Vec<IpNet>,
    /// `next_hops`: the peer's inner (tunnel) addresses as written; `None`
    /// when absent (then the host routes of `allowed_prefixes` are). See
    /// [`Peer::inner_addresses`].
    pub next_hops: Option<Vec<IpAddr>>,
    /// Tunnel MTU.
    pub mtu: Option<u16>,
    /// BFD through the tunnel (`bfd = true`): while its session is down,
    /// the static routes into this peer leave the FIB.
    pub bfd: Option<PeerBfd>,
}

impl Peer {
    /// The endpoint when the config gives an address (not a hostname, not
    /// absent).
    pub fn fixed_endpoint(&self) -> Option<SocketAddr> {
        (!self.endpoint.ip().is_unspecified()).then_some(self.endpoint)
    }

    /// The peer's inner (tunnel) addresses as its own section gives them:
    /// `next_hops` when written (`[]`: none), else every host route (/32,
    /// /128) of `allowed_prefixes`. What the router uses is
    /// [`inner_addresses`], which leaves out the ambiguous host routes.
    pub fn inner_addresses(&self) -> Vec<IpAddr> {
        match &self.next_hops {
            Some(l) => l.clone(),
            None => self
                .allowed_prefixes
                .iter()
                .filter(|n| n.prefix_len() == n.max_prefix_len())
                .map(IpNet::addr)
                .collect(),
        }
    }
}

/// Every peer's inner (tunnel) addresses, in `peers` order: a BGP next
/// hop equal to one of them goes into that peer's tunnel, whichever
/// neighbor the route came from. `next_hops` as written; without it, the
/// host routes of `allowed_prefixes` that no other peer also names (in
/// its `allowed_prefixes` or `next_hops`): two tunnels to one vCPE, e.g.
/// over an IPv4 and an IPv6 underlay, may both allow its address, which
/// then is neither's next hop (routes via it resolve as before).
/// Validation refuses an address of one peer's `next_hops` in any other
/// peer's inner addresses.
pub fn inner_addresses(peers: &[Peer]) -> Vec<Vec<IpAddr>> {
    let mut peers_of: std::collections::HashMap<IpAddr, usize> = std::collections::HashMap::new();
    let own: Vec<Vec<IpAddr>> = peers
        .iter()
        .map(|p| {
            let mut v = p.inner_addresses();
            v.sort_unstable();
            v.dedup();
            v
        })
        .collect();
    for v in &own {
        for a in v {
            *peers_of.entry(*a).or_default() += 1;
        }
    }
    peers
        .iter()
        .zip(own)
        .map(|(p, v)| match p.next_hops {
            Some(_) => p.inner_addresses(),
            None => v
                .into_iter()
                .filter(|a| peers_of.get(a) == Some(&1))
                .collect(),
        })
        .collect()
}

/// A tunnel peer's BFD session: RFC 5883 multihop to an address of the
/// other vCPE inside the tunnel (`bfd_address`, `bfd_local_address`,
/// `bfd_interval_ms`, `bfd_multiplier`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeerBfd {
    /// The other vCPE's address inside the tunnel (within
    /// `allowed_prefixes`).
    pub address: IpAddr,
    /// Our source address, when fixed.
    pub local_address: Option<IpAddr>,
    /// Interval in milliseconds (default 300).
    pub interval_ms: u32,
    /// Detection multiplier (default 3).
    pub multiplier: u8,
    /// Keyed SHA1 authentication, or none.
    pub auth: Option<BfdAuth>,
}

/// Tunnel encapsulation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Encapsulation {
    /// WireGuard-compatible (Noise IK, ChaCha20-Poly1305) over UDP.
    #[serde(rename = "wireguard")]
    WireGuard {
        /// Our private key.
        private_key: KeyFile,
        /// The peer's public key.
        public_key: PublicKey,
        /// Optional pre-shared symmetric key.
        preshared_key: Option<KeyFile>,
        /// Persistent keepalive interval in seconds.
        keepalive: Option<u16>,
    },
    /// Plain GRE (RFC 2784/2890) directly over IP (protocol 47), no
    /// encryption; the endpoint's port is not used.
    Gre {
        /// Optional GRE key.
        key: Option<u32>,
    },
    /// Plain VXLAN-compatible UDP, no encryption.
    Vxlan {
        /// VXLAN network identifier (1..=16777215).
        vni: u32,
    },
}
