//! The BGP-4 session state machine (RFC 4271 §8), sans-IO.
//!
//! Owns one peer's session logic: the six states, the OPEN exchange and its
//! validation, the timers (ConnectRetry with back-off, IdleHold, Hold,
//! Keepalive and the RFC 9687 SendHold), NOTIFICATION generation, and
//! connection collision resolution (RFC 4271 §6.8) for a peer with two TCP
//! connections ([`Peer`]). It does **not** own sockets, bytes or the clock:
//!
//! - the caller frames and decodes messages with [`crate::wire`] and hands
//!   the FSM [`Message`] values ([`Input::Message`]); a message that does not
//!   decode becomes [`Input::DecodeError`] with the NOTIFICATION the codec
//!   chose;
//! - time is an argument: every entry point takes `now: Instant`, and the
//!   caller asks [`Session::poll_timeout`] when to call
//!   [`Session::handle_timeout`] next;
//! - what the FSM wants done comes out of [`Session::poll_output`]: open or
//!   close the TCP connection, send a message, and the events for the RIB
//!   ([`Output::Established`], [`Output::Received`], [`Output::Down`]).
//!
//! It does not interpret routes: UPDATE and ROUTE-REFRESH messages received
//! in Established are passed on untouched ([`Output::Received`]), End-of-RIB
//! included.
//!
//! # Driving a session
//!
//! ```text
//! loop {
//!     select! {
//!         bytes from socket => for each decoded message:
//!             session.handle_input(now, Input::Message(m)),
//!         sleep_until(session.poll_timeout()) => session.handle_timeout(now),
//!         ...
//!     }
//!     while let Some(out) = session.poll_output() { act on it }
//! }
//! ```
//!
//! Drain [`Session::poll_output`] after every call: outputs are queued in the
//! order they must be acted on (a NOTIFICATION's `Send` comes before the
//! `Disconnect` that follows it).
//!
//! # Send hold timer (RFC 9687)
//!
//! The driver owns the socket and its write buffer, so it reports write
//! progress: [`Input::SendStalled`] when a write could not complete (the
//! socket accepted nothing and bytes are waiting), [`Input::SendProgress`]
//! when the socket accepted bytes again. The FSM arms the SendHold timer on
//! the first stall and stops it on progress; if a stall lasts the send hold
//! time the session is torn down with [`DownReason::SendHoldTimerExpired`].
//! A driver with a write loop needs one flag: when a write returns "would
//! block" with data pending and the flag is clear, set it and report
//! `SendStalled`; when a later write accepts bytes and the flag is set,
//! clear it and report `SendProgress`. Reporting `SendStalled` again while
//! the timer runs does not push the deadline back; progress followed by a
//! new stall starts a fresh send hold time, as RFC 9687 asks.
//!
//! # Connection collisions and [`Peer`]
//!
//! A [`Session`] handles exactly one TCP connection at a time. When both
//! speakers connect at once there are two connections and, per RFC 4271,
//! two FSM instances until one is closed; [`Peer`] holds them, names
//! connections by [`ConnId`] and resolves the collision with
//! [`collision_winner_by_as`] (the rules are in [`Peer`]'s docs). Callers
//! that accept incoming connections should use [`Peer`]; a bare
//! [`Session`] suits tests and single-connection setups. Driving a peer:
//!
//! - [`Peer::start`]; on [`PeerOutput::Connect`]`(id)` open a socket and
//!   report [`ConnEvent::Connected`] or [`ConnEvent::Failed`] for `id`;
//! - an incoming socket from the peer's address: `let id = peer.accept(now)`
//!   (a [`PeerOutput::Disconnect`]`(id)` follows if it is refused);
//! - decoded messages, decode errors, EOF/reset and write progress on
//!   socket `id`: [`Peer::handle_input`]`(now, id, ConnEvent::…)`;
//! - [`PeerOutput::Send`]`(id, m)`: encode (4-octet AS per
//!   [`Negotiated::four_octet_as`]) and write on `id`;
//!   [`PeerOutput::Disconnect`]`(id)`: close `id` and forget it.

mod collision;
mod config;
mod counters;
mod negotiated;
mod open;
mod peer;
mod reason;
mod session;
mod timers;

#[cfg(test)]
mod tests;

use std::fmt;
use std::time::Duration;

pub use collision::{Collision, collision_winner, collision_winner_by_as};
pub use config::SessionConfig;
pub use counters::Counters;
pub use negotiated::Negotiated;
pub use open::{OpenError, build_open, negotiate};
pub use peer::{ConnEvent, ConnId, Direction, Peer, PeerOutput};
pub use reason::DownReason;
pub use session::{SendError, Session};
pub use timers::{Backoff, Timer};

use crate::model::{AddrFamily, Message, Notification};

/// The RFC 4271 §8.2.2 session states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// Not started, stopped, or waiting out the IdleHold time before an
    /// automatic restart. Refuses connections.
    Idle,
    /// An outgoing TCP connection is being opened.
    Connect,
    /// Waiting for a connection: an incoming one, or (active peers) the
    /// ConnectRetry timer before the next attempt.
    Active,
    /// OPEN sent, waiting for the peer's OPEN.
    OpenSent,
    /// OPEN received and accepted, KEEPALIVE sent, waiting for the peer's
    /// KEEPALIVE.
    OpenConfirm,
    /// The session is up: UPDATEs flow.
    Established,
}

impl State {
    /// Whether a TCP connection is up (OpenSent, OpenConfirm, Established).
    pub fn is_connected(self) -> bool {
        matches!(
            self,
            State::OpenSent | State::OpenConfirm | State::Established
        )
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Idle => "Idle",
            State::Connect => "Connect",
            State::Active => "Active",
            State::OpenSent => "OpenSent",
            State::OpenConfirm => "OpenConfirm",
            State::Established => "Established",
        })
    }
}

/// What happened, from the caller to the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// ManualStart / AutomaticStart: active peers connect, passive peers
    /// wait for the peer. Ignored unless Idle and stopped.
    Start,
    /// ManualStop: send `notification` (default Cease / Administrative
    /// Shutdown, 6/2; use [`Notification::cease_with_message`] for an
    /// RFC 8203 message) if a connection is up, close it, go Idle and stay
    /// there until the next [`Input::Start`].
    Stop {
        /// The NOTIFICATION to send instead of a plain Cease/2.
        notification: Option<Notification>,
    },
    /// The TCP connection is up: the outgoing one we asked for with
    /// [`Output::Connect`], or an incoming one the caller accepted for this
    /// session. A session holds one connection; a second one while
    /// connected is ignored (that is [`Peer`]'s job).
    Connected,
    /// The outgoing connection attempt failed (refused, unreachable, timed
    /// out at the TCP layer).
    ConnectionFailed,
    /// The connection was closed or reset by the peer or the network.
    ConnectionClosed,
    /// A message decoded from the connection.
    Message(Message),
    /// The codec could not decode a message: send this NOTIFICATION and
    /// close. RFC 7606 "treat-as-withdraw" errors are the codec's and RIB's
    /// business and never arrive here.
    DecodeError(Notification),
    /// A write to the socket could not complete: bytes are waiting and the
    /// socket accepts none. Arms the SendHold timer if it is not running.
    SendStalled,
    /// The socket accepted bytes again. Stops the SendHold timer.
    SendProgress,
}

/// What the session wants done, from the session to the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Open an outgoing TCP connection to the peer (active peers only),
    /// then report [`Input::Connected`] or [`Input::ConnectionFailed`].
    Connect,
    /// Close the TCP connection (or abandon the connection attempt) and
    /// forget it. Emitted on every teardown, also after
    /// [`Input::ConnectionClosed`]: treat it as idempotent.
    Disconnect,
    /// Encode and write this message.
    Send(Message),
    /// The session reached Established with these parameters.
    Established(Negotiated),
    /// An UPDATE or ROUTE-REFRESH received in Established, for the RIB.
    Received(Message),
    /// The session left OpenSent, OpenConfirm or Established. Emitted once
    /// per such transition.
    Down(Down),
}

/// A session going down: why, and what the RIB should do with the routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Down {
    /// Why.
    pub reason: DownReason,
    /// Whether the session was Established (if not, there are no routes to
    /// withdraw and this is only worth a log line).
    pub was_established: bool,
    /// Graceful restart helper mode (RFC 4724 §4.2): when set, keep the
    /// peer's routes of [`Down::stale_families`] as stale for this long
    /// instead of withdrawing them; the RIB drops what the peer has not
    /// re-announced by End-of-RIB or when the time runs out. `None`:
    /// withdraw everything now.
    pub stale_for: Option<Duration>,
    /// The families the peer listed in its graceful restart capability;
    /// routes of other families are withdrawn now. Empty when `stale_for`
    /// is `None`.
    pub stale_families: Vec<AddrFamily>,
}
