//! What a session shows of itself ([`SessionView`]), for `vcpectl bfd`
//! and metrics.

use std::time::{Duration, Instant};

use super::timers::to_duration;
use super::{DownCause, Session};
use crate::wire::{Diag, State};

/// A snapshot of a session, for `vcpectl bfd` and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    /// bfd.SessionState.
    pub state: State,
    /// bfd.RemoteSessionState.
    pub remote_state: State,
    /// bfd.LocalDiag.
    pub local_diag: Diag,
    /// The Diag of the last packet received.
    pub remote_diag: Diag,
    /// bfd.LocalDiscr.
    pub local_discr: u32,
    /// bfd.RemoteDiscr (0 until heard, and after a detection time of
    /// silence).
    pub remote_discr: u32,
    /// The transmit interval in use (before jitter).
    pub tx_interval: Duration,
    /// The interval the peer sends at, as far as we know (what the
    /// detection time is made of).
    pub rx_interval: Duration,
    /// Our detection multiplier.
    pub detect_mult: u8,
    /// The peer's detection multiplier (0 until heard).
    pub remote_detect_mult: u8,
    /// The detection time in use (zero until heard).
    pub detection_time: Duration,
    /// A Poll Sequence is in progress.
    pub polling: bool,
    /// When the state last changed.
    pub since: Instant,
    /// The last time the session left Up, and why.
    pub last_down: Option<(Instant, DownCause)>,
    /// Valid packets accepted.
    pub packets_in: u64,
    /// Packets sent.
    pub packets_out: u64,
    /// Times the session went Up.
    pub up_transitions: u64,
}

impl Session {
    /// A snapshot for display.
    pub fn view(&self) -> SessionView {
        SessionView {
            state: self.state,
            remote_state: self.remote_state,
            local_diag: self.local_diag,
            remote_diag: self.remote_diag,
            local_discr: self.local_discr,
            remote_discr: self.remote_discr,
            tx_interval: to_duration(self.tx_interval()),
            rx_interval: to_duration(self.used_rx.max(self.remote_desired_tx)),
            detect_mult: self.config.detect_mult,
            remote_detect_mult: self.remote_detect_mult,
            detection_time: self.detection_time(),
            polling: self.polling,
            since: self.since,
            last_down: self.last_down,
            packets_in: self.packets_in,
            packets_out: self.packets_out,
            up_transitions: self.up_transitions,
        }
    }
}
