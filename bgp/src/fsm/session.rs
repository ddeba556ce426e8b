//! [`Session`]: one BGP session over one TCP connection at a time, the
//! RFC 4271 §8.2.2 state machine proper.
//!
//! Deviations from the letter of §8.2.2, all deliberate:
//! - automatic restart is always on: after an error the session waits out
//!   the IdleHold time (the back-off) in Idle and starts again; passive
//!   sessions go straight back to Active, since the peer's retries pace
//!   them;
//! - a connect attempt that times out waits out the back-off in Active
//!   instead of reconnecting at once;
//! - a connection closed by the peer, or closed with Cease / Connection
//!   Collision Resolution, leaves the session waiting out the back-off in
//!   Active (which takes an incoming connection), not Idle: the peer may
//!   have kept another connection between us, still in our listener's
//!   backlog;
//! - messages arriving in Idle, Connect or Active (there is no connection
//!   for them to arrive on) are ignored rather than treated as FSM errors;
//! - DelayOpen, DampPeerOscillations and the optional collision detection
//!   in Established are not implemented ([`super::Peer`] does collisions).

use std::collections::VecDeque;
use std::fmt;
use std::time::Instant;

use crate::model::{AddrFamily, Message, Notification};

use super::config::SessionConfig;
use super::counters::Counters;
use super::negotiated::Negotiated;
use super::reason::DownReason;
use super::timers::{Backoff, Timer, Timers};
use super::{Input, Output, State};

use transitions::After;

mod transitions;

/// Why [`Session::send`] refused a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Only an Established session sends UPDATE or ROUTE-REFRESH.
    NotEstablished(State),
    /// The peer did not announce route refresh (or we did not).
    RouteRefreshNotNegotiated,
    /// The family was not negotiated.
    FamilyNotNegotiated(AddrFamily),
    /// Only UPDATE and ROUTE-REFRESH are sent on request; the FSM sends
    /// OPEN and KEEPALIVE itself, and NOTIFICATION through
    /// [`Input::Stop`].
    NotAllowed(&'static str),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::NotEstablished(s) => write!(f, "the session is {s}, not Established"),
            SendError::RouteRefreshNotNegotiated => {
                f.write_str("route refresh was not negotiated with the peer")
            }
            SendError::FamilyNotNegotiated(fam) => write!(
                f,
                "address family {}/{} was not negotiated with the peer",
                fam.afi.0, fam.safi.0
            ),
            SendError::NotAllowed(m) => write!(f, "{m} messages are sent by the FSM itself"),
        }
    }
}

impl std::error::Error for SendError {}

/// One BGP session (see the [module docs](super) for how to drive it).
#[derive(Debug, Clone)]
pub struct Session {
    config: SessionConfig,
    state: State,
    /// Started and not stopped: errors restart the session automatically.
    started: bool,
    timers: Timers,
    backoff: Backoff,
    outputs: VecDeque<Output>,
    negotiated: Option<Negotiated>,
    last_error: Option<DownReason>,
    counters: Counters,
}

impl Session {
    /// A stopped session in Idle. Out-of-range configuration values are
    /// brought into range (see [`SessionConfig::hold_time`]).
    pub fn new(config: SessionConfig) -> Session {
        let config = config.sanitized();
        Session {
            backoff: Backoff::new(config.connect_retry, config.jitter_seed),
            config,
            state: State::Idle,
            started: false,
            timers: Timers::default(),
            outputs: VecDeque::new(),
            negotiated: None,
            last_error: None,
            counters: Counters::default(),
        }
    }

    /// A started, passive-for-now session waiting in Active for the
    /// incoming connection its [`super::Peer`] is about to hand it.
    pub(crate) fn new_incoming(config: SessionConfig) -> Session {
        let mut s = Session::new(config);
        s.started = true;
        s.state = State::Active;
        s
    }

    /// The configuration (sanitized).
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether the session is started (restarts automatically after errors).
    pub fn is_started(&self) -> bool {
        self.started
    }

    /// The negotiated parameters, from OpenConfirm until the session goes
    /// down.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_ref()
    }

    /// Why the session last went down or failed to come up.
    pub fn last_error(&self) -> Option<&DownReason> {
        self.last_error.as_ref()
    }

    /// Message and transition counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The connect retry back-off state.
    pub fn backoff(&self) -> &Backoff {
        &self.backoff
    }

    /// The deadline of `timer`, if armed.
    pub fn timer(&self, timer: Timer) -> Option<Instant> {
        self.timers.get(timer)
    }

    /// The earliest armed deadline: call [`Session::handle_timeout`] then.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_timeout()
    }

    /// The next thing to do. Drain after every call into the session.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Feeds one event.
    pub fn handle_input(&mut self, now: Instant, input: Input) {
        match input {
            Input::Start => self.start(now),
            Input::Stop { notification } => self.stop(now, notification),
            Input::Connected => self.connected(now),
            Input::ConnectionFailed => self.connection_lost(now, DownReason::ConnectionFailed),
            Input::ConnectionClosed => self.connection_lost(now, DownReason::ConnectionClosed),
            Input::Message(m) => self.message(now, m),
            Input::DecodeError(n) => {
                if self.state.is_connected() {
                    self.counters.messages_in += 1;
                    let reason = DownReason::NotificationSent(n.clone());
                    self.teardown(now, Some(n), reason, After::Idle);
                }
            }
            Input::SendStalled => {
                if self.state.is_connected() && !self.timers.is_armed(Timer::SendHold) {
                    let t = self.send_hold_time();
                    self.timers.start(Timer::SendHold, now, t);
                }
            }
            Input::SendProgress => self.timers.stop(Timer::SendHold),
        }
    }

    /// Fires every timer whose deadline is `<= now`, earliest first.
    /// Afterwards [`Session::poll_timeout`] is `None` or later than `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        // Terminates: each round disarms one expired timer, and every timer
        // armed meanwhile is at least 1 ms after `now` (sanitized config).
        while let Some(timer) = self.timers.take_expired(now) {
            self.fire(now, timer);
        }
    }

    /// Sends an UPDATE or ROUTE-REFRESH on the Established session. An
    /// UPDATE restarts the keepalive timer (RFC 4271 §8.2.2).
    pub fn send(&mut self, now: Instant, message: Message) -> Result<(), SendError> {
        let Some(neg) = self
            .negotiated
            .as_ref()
            .filter(|_| self.state == State::Established)
        else {
            return Err(SendError::NotEstablished(self.state));
        };
        match &message {
            Message::Update(_) => self.counters.updates_out += 1,
            Message::RouteRefresh { family, .. } => {
                if !neg.route_refresh {
                    return Err(SendError::RouteRefreshNotNegotiated);
                }
                if !neg.has_family(*family) {
                    return Err(SendError::FamilyNotNegotiated(*family));
                }
            }
            other => return Err(SendError::NotAllowed(other.name())),
        }
        self.push_send(message);
        self.restart_keepalive(now);
        Ok(())
    }

    /// Closes the session for good (until the next [`Input::Start`]) on
    /// behalf of the [`super::Peer`]: sends `notification` if connected,
    /// reports `reason` if it was past Connect/Active.
    pub(crate) fn abandon(
        &mut self,
        now: Instant,
        notification: Option<Notification>,
        reason: DownReason,
    ) {
        self.started = false;
        if self.state.is_connected() {
            self.teardown(now, notification, reason, After::Idle);
        } else {
            if self.state == State::Connect {
                self.outputs.push_back(Output::Disconnect);
            }
            self.timers.stop_all();
            self.state = State::Idle;
        }
    }

    /// Takes over `other`'s back-off and counters (the surviving session of
    /// a collision carries the peer's history on).
    pub(crate) fn inherit(&mut self, other: &Session) {
        self.backoff = other.backoff.clone();
        if self.state == State::Established {
            self.backoff.reset();
        }
        let mut counters = other.counters.clone();
        counters.absorb(&self.counters);
        self.counters = counters;
        if self.last_error.is_none() {
            self.last_error = other.last_error.clone();
        }
    }
}
