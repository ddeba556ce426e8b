//! The BFD Control packet (RFC 5880 §4.1), its optional authentication
//! section (§4.2-4.4), and the reception checks of §6.8.6 that need no
//! session state, as typed errors.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       My Discriminator                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      Your Discriminator                       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Desired Min TX Interval                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                   Required Min RX Interval                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 Required Min Echo RX Interval                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Auth Type   |   Auth Len    |    Authentication Data...     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! nom stays inside this module; the rest of the crate speaks
//! [`ControlPacket`] and [`PacketError`].

mod auth;
mod emit;
mod parse;

#[cfg(test)]
mod tests;

use std::fmt;

pub use auth::Auth;
pub use parse::parse;

/// The protocol version this implementation speaks (§4.1).
pub const VERSION: u8 = 1;

/// Length of a control packet without authentication section.
pub const MIN_LEN: usize = 24;

/// The largest authentication section: Auth Type and Auth Len are one
/// octet each, so the packet length field (one octet) bounds it.
pub const MAX_LEN: usize = 255;

/// A session state as carried in the Sta field (§4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// 0: held down by its operator.
    AdminDown,
    /// 1: down, or never came up.
    Down,
    /// 2: the remote system is heard, not yet known to hear us.
    Init,
    /// 3: both systems hear each other.
    Up,
}

impl State {
    /// The two-bit code.
    pub fn code(self) -> u8 {
        match self {
            State::AdminDown => 0,
            State::Down => 1,
            State::Init => 2,
            State::Up => 3,
        }
    }

    /// The state of a two-bit code (the upper bits are ignored).
    pub fn from_code(code: u8) -> State {
        match code & 3 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::AdminDown => "AdminDown",
            State::Down => "Down",
            State::Init => "Init",
            State::Up => "Up",
        })
    }
}

/// The diagnostic code (§4.1): why the sender's session last left Up. A
/// newtype so that codes this implementation does not know survive a
/// round trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Diag(pub u8);

impl Diag {
    /// 0.
    pub const NONE: Diag = Diag(0);
    /// 1: the detection time expired without a packet from the peer.
    pub const CONTROL_DETECTION_TIME_EXPIRED: Diag = Diag(1);
    /// 2.
    pub const ECHO_FUNCTION_FAILED: Diag = Diag(2);
    /// 3: the peer said its session is down.
    pub const NEIGHBOR_SIGNALED_SESSION_DOWN: Diag = Diag(3);
    /// 4.
    pub const FORWARDING_PLANE_RESET: Diag = Diag(4);
    /// 5.
    pub const PATH_DOWN: Diag = Diag(5);
    /// 6.
    pub const CONCATENATED_PATH_DOWN: Diag = Diag(6);
    /// 7: held down by the operator.
    pub const ADMINISTRATIVELY_DOWN: Diag = Diag(7);
    /// 8.
    pub const REVERSE_CONCATENATED_PATH_DOWN: Diag = Diag(8);

    /// The RFC's name of the code.
    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "No Diagnostic",
            1 => "Control Detection Time Expired",
            2 => "Echo Function Failed",
            3 => "Neighbor Signaled Session Down",
            4 => "Forwarding Plane Reset",
            5 => "Path Down",
            6 => "Concatenated Path Down",
            7 => "Administratively Down",
            8 => "Reverse Concatenated Path Down",
            _ => "unknown diagnostic",
        }
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// One BFD Control packet. Intervals are in microseconds, as on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlPacket {
    /// Why the sender's session last went down.
    pub diag: Diag,
    /// The sender's session state.
    pub state: State,
    /// P: the sender asks for a packet with F in return.
    pub poll: bool,
    /// F: the answer to a packet with P.
    pub final_: bool,
    /// C: the sender's BFD does not share fate with its control plane.
    pub control_plane_independent: bool,
    /// D: Demand mode (never set by us).
    pub demand: bool,
    /// M: reserved for multipoint; a packet with it set is invalid.
    pub multipoint: bool,
    /// Detect Mult: the sender's detection multiplier.
    pub detect_mult: u8,
    /// My Discriminator: the sender's nonzero id of the session.
    pub my_discr: u32,
    /// Your Discriminator: the receiver's id, or 0 if not yet known.
    pub your_discr: u32,
    /// Desired Min TX Interval (µs).
    pub desired_min_tx: u32,
    /// Required Min RX Interval (µs).
    pub required_min_rx: u32,
    /// Required Min Echo RX Interval (µs); 0 without Echo.
    pub required_min_echo_rx: u32,
    /// The authentication section, present iff A is set.
    pub auth: Option<Auth>,
}

/// Why a received packet was discarded before reaching a session (§6.8.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Fewer bytes than the 24 of a packet without authentication.
    #[error("{len} bytes is shorter than a BFD control packet (24)")]
    Truncated {
        /// Bytes received.
        len: usize,
    },
    /// "If the version number is not correct (1), the packet MUST be
    /// discarded."
    #[error("version {0}, not 1")]
    Version(u8),
    /// "If the Length field is less than the minimum correct value (24 if
    /// the A bit is clear, or 26 if the A bit is set), the packet MUST be
    /// discarded."
    #[error("length field {length} is below the minimum of {min}")]
    LengthTooSmall {
        /// The Length field.
        length: u8,
        /// 24, or 26 with the A bit.
        min: u8,
    },
    /// "If the Length field is greater than the payload of the
    /// encapsulating protocol, the packet MUST be discarded."
    #[error("length field {length} is more than the {payload} bytes received")]
    LengthBeyondPayload {
        /// The Length field.
        length: u8,
        /// Bytes received.
        payload: usize,
    },
    /// "If the Detect Mult field is zero, the packet MUST be discarded."
    #[error("detect multiplier is 0")]
    ZeroDetectMult,
    /// "If the Multipoint (M) bit is nonzero, the packet MUST be
    /// discarded."
    #[error("multipoint bit is set")]
    Multipoint,
    /// "If the My Discriminator field is zero, the packet MUST be
    /// discarded."
    #[error("my discriminator is 0")]
    ZeroMyDiscriminator,
    /// "If the Your Discriminator field is zero and the State field is not
    /// Down or AdminDown, the packet MUST be discarded."
    #[error("your discriminator is 0 in state {0}")]
    ZeroYourDiscriminator(State),
    /// Poll and Final both set ("A BFD Control packet MUST NOT have both
    /// the Poll (P) and Final (F) bits set").
    #[error("poll and final bits both set")]
    PollAndFinal,
    /// The authentication section's own length does not fit the packet or
    /// its type.
    #[error("authentication section: {0}")]
    Auth(&'static str),
}

impl PacketError {
    /// A short stable name, for counters and metrics labels.
    pub fn name(self) -> &'static str {
        match self {
            PacketError::Truncated { .. } => "truncated",
            PacketError::Version(_) => "version",
            PacketError::LengthTooSmall { .. } => "length_too_small",
            PacketError::LengthBeyondPayload { .. } => "length_beyond_payload",
            PacketError::ZeroDetectMult => "zero_detect_mult",
            PacketError::Multipoint => "multipoint",
            PacketError::ZeroMyDiscriminator => "zero_my_discriminator",
            PacketError::ZeroYourDiscriminator(_) => "zero_your_discriminator",
            PacketError::PollAndFinal => "poll_and_final",
            PacketError::Auth(_) => "auth_section",
        }
    }
}
