//! What a session reports: state changes, why it went down, why it
//! refused a packet.

use std::fmt;

use crate::wire::{Diag, State};

/// Why a session left Up (or Init).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DownCause {
    /// No valid packet within the detection time: the peer or the path
    /// died.
    DetectionTimeExpired,
    /// The peer's packets said Down: it stopped hearing us.
    NeighborSignaledDown,
    /// The peer's packets said AdminDown: its operator took it down. RFC
    /// 5882 §3.2: clients must not treat this as a path failure.
    NeighborAdminDown,
    /// Our operator took the session down.
    AdminDown,
}

impl DownCause {
    /// The diagnostic code we send for it.
    pub fn diag(self) -> Diag {
        match self {
            DownCause::DetectionTimeExpired => Diag::CONTROL_DETECTION_TIME_EXPIRED,
            DownCause::NeighborSignaledDown | DownCause::NeighborAdminDown => {
                Diag::NEIGHBOR_SIGNALED_SESSION_DOWN
            }
            DownCause::AdminDown => Diag::ADMINISTRATIVELY_DOWN,
        }
    }

    /// Whether a client (BGP, static routes) should act on it: everything
    /// but an administrative shutdown, ours or the peer's (RFC 5882 §3.2:
    /// "the receipt of AdminDown ... MUST NOT be treated as a forwarding
    /// failure").
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            DownCause::DetectionTimeExpired | DownCause::NeighborSignaledDown
        )
    }

    /// A short stable name, for JSON and metrics.
    pub fn name(self) -> &'static str {
        match self {
            DownCause::DetectionTimeExpired => "detection_time_expired",
            DownCause::NeighborSignaledDown => "neighbor_signaled_down",
            DownCause::NeighborAdminDown => "neighbor_admin_down",
            DownCause::AdminDown => "admin_down",
        }
    }
}

impl fmt::Display for DownCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DownCause::DetectionTimeExpired => "control detection time expired",
            DownCause::NeighborSignaledDown => "neighbor signaled session down",
            DownCause::NeighborAdminDown => "neighbor is administratively down",
            DownCause::AdminDown => "administratively down",
        })
    }
}

/// A state change of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// The state it left.
    pub from: State,
    /// The state it entered.
    pub to: State,
    /// Why, when it entered Down or AdminDown.
    pub cause: Option<DownCause>,
}

impl Event {
    /// An Up session went down for a reason a client acts on (RFC 5882).
    pub fn is_failure(&self) -> bool {
        self.from == State::Up && self.cause.is_some_and(DownCause::is_failure)
    }
}

/// Why a packet that reached its session was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// "If the Authentication Present (A) bit is set in the packet and no
    /// authentication is in use (bfd.AuthType = 0), the packet MUST be
    /// discarded."
    #[error("authenticated packet for a session without authentication")]
    AuthNotInUse,
    /// "If the Authentication Present (A) bit is clear in the packet and
    /// authentication is in use (bfd.AuthType != 0), the packet MUST be
    /// discarded."
    #[error("unauthenticated packet for a session with authentication")]
    AuthMissing,
    /// Another authentication type, or another key id.
    #[error("authentication type or key id does not match")]
    AuthMismatch,
    /// The sequence number is outside the window (a replay, or too far
    /// ahead).
    #[error("authentication sequence number out of window")]
    AuthSequence,
    /// The hash does not match: another key, or an altered packet.
    #[error("authentication digest does not match")]
    AuthDigest,
}

impl Refused {
    /// A short stable name, for counters.
    pub fn name(self) -> &'static str {
        match self {
            Refused::AuthNotInUse => "auth_not_in_use",
            Refused::AuthMissing => "auth_missing",
            Refused::AuthMismatch => "auth_mismatch",
            Refused::AuthSequence => "auth_sequence",
            Refused::AuthDigest => "auth_digest",
        }
    }
}
