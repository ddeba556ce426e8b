//! What a client sends: the envelope with the protocol version, and the
//! commands.

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
        /// `--persist`: also write it into the config file (`enabled =
        /// false` on the neighbor), so it survives a restart.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        persist: bool,
        /// `--message`: the RFC 9003 shutdown communication for `disable`
        /// (default: the config's `shutdown_message`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// `vcpectl route show NAME`: one static route and its FIB state.
    RouteShow {
        /// The route's name.
        name: String,
    },
    /// `vcpectl show route [PREFIX|ADDRESS]`: connected, static and BGP
    /// routes, the one the FIB uses marked best.
    Rib {
        /// Only this exact prefix.
        #[serde(default)]
        prefix: Option<String>,
        /// Only the longest prefix covering this address.
        #[serde(default)]
        address: Option<String>,
    },
    /// `vcpectl explain ADDRESS`: the FIB entry that forwards it, and why.
    Explain {
        /// The destination address.
        address: String,
        /// A flow to the address: which ECMP member it takes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        flow: Option<FlowSpec>,
    },
    /// `vcpectl bgp neighbor ADDR`: one neighbor in detail.
    BgpNeighborDetail {
        /// Neighbor address.
        address: String,
    },
    /// `vcpectl bgp neighbor ADDR adj-in|adj-out`.
    BgpAdjRib {
        /// Neighbor address.
        address: String,
        /// Received or advertised routes.
        direction: AdjDirection,
    },
    /// `vcpectl tunnel list`.
    TunnelList,
    /// `vcpectl bfd`: every BFD session.
    BfdSessions,
    /// `vcpectl reload` (and SIGHUP): apply the config file's changes.
    Reload,
    /// `vcpectl config diff`: what a reload would change.
    ConfigDiff,
    /// `vcpectl config apply FILE [--confirm MINUTES]`: write `text` over
    /// the running config file (atomically) and reload it; with
    /// `confirm_secs`, revert unless [`Request::ConfigConfirm`] comes
    /// in time.
    ConfigApply {
        /// The new file's text.
        text: String,
        /// Where it came from (the client's file name), for the history.
        source: String,
        /// Revert after this many seconds unless confirmed.
        #[serde(default)]
        confirm_secs: Option<u32>,
    },
    /// `vcpectl config confirm`: keep the pending applied version.
    ConfigConfirm,
    /// `vcpectl config history`: the versions kept.
    ConfigHistory,
    /// `vcpectl config rollback N`: apply version N of the history again.
    ConfigRollback {
        /// The version number `config history` shows (not `version`: the
        /// envelope's protocol version has that name).
        to: u64,
        /// Revert after this many seconds unless confirmed.
        #[serde(default)]
        confirm_secs: Option<u32>,
    },
}

/// A flow as `vcpectl explain DST --from SRC --proto P --sport N --dport N`
/// gives it (the destination is the explained address).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowSpec {
    /// Source address.
    pub source: String,
    /// "tcp", "udp", "icmp", "icmpv6" or an IP protocol number.
    pub protocol: String,
    /// TCP/UDP source port.
    pub source_port: Option<u16>,
    /// TCP/UDP destination port.
    pub destination_port: Option<u16>,
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
    /// ... or into this `[[peer]]` tunnel ...
    pub peer: Option<String>,
    /// ... or into several `[[peer]]` tunnels, ECMP (`peers = [...]`; then
    /// `peer` is `None`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<String>,
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

/// Which Adj-RIB of a neighbor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AdjDirection {
    /// What it sent us, after import policy.
    AdjIn,
    /// What we send it.
    AdjOut,
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
    fn config_requests_round_trip_next_to_the_envelope_version() {
        for request in [
            Request::ConfigApply {
                text: "[router]\n".into(),
                source: "/tmp/new.toml".into(),
                confirm_secs: Some(300),
            },
            Request::ConfigConfirm,
            Request::ConfigHistory,
            Request::ConfigRollback {
                to: 3,
                confirm_secs: None,
            },
        ] {
            let env = Envelope {
                version: API_VERSION,
                request,
            };
            let text = serde_json::to_string(&env).unwrap();
            assert_eq!(
                serde_json::from_str::<Envelope>(&text).unwrap(),
                env,
                "{text}"
            );
        }
    }
}
