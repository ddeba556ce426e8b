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
}

/// The daemon's answer to one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Reply {
    /// Answer to [`Request::Status`].
    Status(Status),
    /// Answer to [`Request::Stats`].
    Stats(Stats),
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
