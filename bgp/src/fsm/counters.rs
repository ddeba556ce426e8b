//! Message and transition counters of a session, for `vcpectl` and
//! metrics.

use std::time::Instant;

/// Message and transition counters of a session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Messages received while connected.
    pub messages_in: u64,
    /// Messages queued for sending.
    pub messages_out: u64,
    /// UPDATE messages received in Established.
    pub updates_in: u64,
    /// UPDATE messages sent.
    pub updates_out: u64,
    /// Outgoing connection attempts ([`super::Output::Connect`]).
    pub connect_attempts: u64,
    /// Transitions into Established.
    pub established_transitions: u64,
    /// When the session last reached Established.
    pub last_up: Option<Instant>,
    /// When the session last left Established.
    pub last_down: Option<Instant>,
}

impl Counters {
    /// Adds `other`'s counts to these (instants: the later one wins).
    pub fn absorb(&mut self, other: &Counters) {
        self.messages_in += other.messages_in;
        self.messages_out += other.messages_out;
        self.updates_in += other.updates_in;
        self.updates_out += other.updates_out;
        self.connect_attempts += other.connect_attempts;
        self.established_transitions += other.established_transitions;
        self.last_up = self.last_up.max(other.last_up);
        self.last_down = self.last_down.max(other.last_down);
    }
}
