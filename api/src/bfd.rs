//! `vcpectl bfd`: the BFD sessions (RFC 5880) as the daemon runs them.

use serde::{Deserialize, Serialize};

/// One BFD session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BfdSession {
    /// The peer's address.
    pub peer: String,
    /// Our address, when configured.
    pub local: Option<String>,
    /// "single-hop" (RFC 5881, UDP 3784) or "multihop" (RFC 5883, 4784).
    pub path: String,
    /// Our UDP source port.
    pub source_port: Option<u16>,
    /// Our state: "AdminDown", "Down", "Init", "Up".
    pub state: String,
    /// The state the peer last sent.
    pub remote_state: String,
    /// Seconds in the current state.
    pub since_secs: u64,
    /// Our discriminator.
    pub local_discriminator: u32,
    /// The peer's (0 until heard).
    pub remote_discriminator: u32,
    /// The negotiated transmit interval, ms (before jitter).
    pub tx_interval_ms: u64,
    /// The interval the peer transmits at, ms.
    pub rx_interval_ms: u64,
    /// Our detection multiplier.
    pub multiplier: u8,
    /// The peer's detection multiplier (0 until heard).
    pub remote_multiplier: u8,
    /// Down after this long without a packet, ms (0 until heard).
    pub detection_time_ms: u64,
    /// Our diagnostic ("No Diagnostic (0)", "Control Detection Time
    /// Expired (1)", ...).
    pub local_diag: String,
    /// The peer's diagnostic.
    pub remote_diag: String,
    /// The last time the session left Up.
    pub last_down: Option<BfdDown>,
    /// Valid packets received.
    pub packets_in: u64,
    /// Packets sent.
    pub packets_out: u64,
    /// Packets that could not be sent (no route, link down).
    pub send_errors: u64,
    /// State changes since the session was added.
    pub state_changes: u64,
    /// Times it went Up.
    pub up_transitions: u64,
    /// Who acts on it: "bgp ADDRESS" (the BGP session goes down with it),
    /// "peer NAME" (the static routes into that tunnel leave the FIB).
    #[serde(default)]
    pub clients: Vec<String>,
}

/// Why and when a session left Up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BfdDown {
    /// Stable name: "detection_time_expired", "neighbor_signaled_down",
    /// "neighbor_admin_down", "admin_down".
    pub reason: String,
    /// In words.
    pub message: String,
    /// Seconds ago.
    pub secs_ago: u64,
}
