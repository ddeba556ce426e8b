//! [`Peer`]: one configured neighbor, holding up to two [`Session`]s while
//! a connection collision (RFC 4271 §6.8) is being resolved, addressed by
//! connection id. Sans-IO like [`Session`].
//!
//! The primary session owns the peer's life (start, stop, connect retry and
//! back-off, automatic restart). An incoming connection goes to the primary
//! if it is waiting in Active; if the primary already has a connection (or
//! an attempt in flight) the incoming one gets a secondary session. When an
//! OPEN arrives on one connection while the other is in OpenSent,
//! OpenConfirm or Established, the loser chosen by
//! [`collision_winner_by_as`] is closed with Cease / Connection Collision
//! Resolution (6/7); an Established session wins, except that a
//! peer with graceful restart on both sides that reconnects with the
//! Restart State bit set has restarted (RFC 4724): the old session is
//! closed instead (Down with [`DownReason::PeerRestarted`], routes kept as
//! stale) and the new one carries on; and a session Established for less
//! than the connect-retry time is resolved by identifier like one in
//! OpenConfirm (the peer may still see it in OpenConfirm, and would close
//! it: closing the other connection as well would leave none).
//!
//! A session told 6/7 by the peer, or whose connection the peer closed,
//! waits in Active (not Idle): the
//! connection the peer kept may still sit in our listener's backlog, and
//! Idle would refuse it. A secondary session that is the only
//! live one becomes the primary and inherits its back-off and counters.

use std::collections::VecDeque;
use std::fmt;
use std::time::Instant;

use crate::model::{Message, Notification, error_code, subcode};

use super::collision::{Collision, collision_winner_by_as};
use super::config::SessionConfig;
use super::counters::Counters;
use super::negotiated::Negotiated;
use super::reason::DownReason;
use super::session::{SendError, Session};
use super::{Down, Input, Output, State};

/// The Restart State (R) flag of the graceful restart capability.
const RESTART_STATE: u8 = 0x8;

/// A TCP connection, as named by the [`Peer`] (which allocates the ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

/// Who opened a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// We did ([`PeerOutput::Connect`]).
    Outgoing,
    /// The peer did ([`Peer::accept`]).
    Incoming,
}

/// An event on one connection (the per-connection subset of [`Input`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnEvent {
    /// The outgoing connection asked for with [`PeerOutput::Connect`] is up.
    Connected,
    /// The outgoing connection attempt failed.
    Failed,
    /// The connection was closed or reset.
    Closed,
    /// A decoded message.
    Message(Message),
    /// A message that did not decode, with the NOTIFICATION to send.
    DecodeError(Notification),
    /// Writes are blocked (see [`Input::SendStalled`]).
    SendStalled,
    /// Writes progress again (see [`Input::SendProgress`]).
    SendProgress,
}

/// What the peer wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerOutput {
    /// Open an outgoing TCP connection to the peer; report its events with
    /// this id.
    Connect(ConnId),
    /// Close this connection (or abandon the attempt) and forget the id.
    Disconnect(ConnId),
    /// Encode and write this message on this connection.
    Send(ConnId, Message),
    /// The session on this connection reached Established.
    Established(ConnId, Negotiated),
    /// An UPDATE or ROUTE-REFRESH received on the Established connection.
    Received(ConnId, Message),
    /// A session went down (see [`Output::Down`]). Connections closed by
    /// collision resolution, or by the peer, before Established while the
    /// other connection lives are not reported.
    Down(Down),
}

#[derive(Debug, Clone)]
struct Slot {
    session: Session,
    conn: Option<ConnId>,
    direction: Direction,
}

impl Slot {
    fn owns(&self, conn: ConnId) -> bool {
        self.conn == Some(conn)
    }
}

/// One neighbor: a primary [`Session`] and, during a collision, a
/// secondary one (see the module docs).
#[derive(Debug, Clone)]
pub struct Peer {
    config: SessionConfig,
    primary: Slot,
    secondary: Option<Slot>,
    next_conn: u64,
    outputs: VecDeque<PeerOutput>,
}

impl Peer {
    /// A stopped peer.
    pub fn new(config: SessionConfig) -> Peer {
        Peer {
            primary: Slot {
                session: Session::new(config.clone()),
                conn: None,
                direction: Direction::Outgoing,
            },
            config,
            secondary: None,
            next_conn: 1,
            outputs: VecDeque::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        self.primary.session.config()
    }

    /// The most advanced state of its sessions.
    pub fn state(&self) -> State {
        self.sessions()
            .map(Session::state)
            .max()
            .unwrap_or(State::Idle)
    }

    /// The negotiated parameters of the session past OpenSent, if any (at
    /// most one session is: collision resolution sees to it).
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.sessions().find_map(Session::negotiated)
    }

    /// Why the primary session last went down or failed to come up.
    pub fn last_error(&self) -> Option<&DownReason> {
        self.primary.session.last_error()
    }

    /// The primary session's counters (a promoted secondary inherits them).
    pub fn counters(&self) -> &Counters {
        self.primary.session.counters()
    }

    /// The connections, their direction and their session's state.
    pub fn connections(&self) -> Vec<(ConnId, Direction, State)> {
        self.slots()
            .filter_map(|s| s.conn.map(|c| (c, s.direction, s.session.state())))
            .collect()
    }

    /// The connection of the Established session, if any.
    pub fn established_conn(&self) -> Option<ConnId> {
        self.slots()
            .find(|s| s.session.state() == State::Established)
            .and_then(|s| s.conn)
    }

    /// ManualStart.
    pub fn start(&mut self, now: Instant) {
        self.primary.session.handle_input(now, Input::Start);
        self.flush(now);
    }

    /// ManualStop: both sessions send `notification` (default Cease/2) if
    /// connected and close.
    pub fn stop(&mut self, now: Instant, notification: Option<Notification>) {
        if let Some(s) = self.secondary.as_mut() {
            let n = notification.clone();
            s.session.handle_input(now, Input::Stop { notification: n });
        }
        self.primary
            .session
            .handle_input(now, Input::Stop { notification });
        self.flush(now);
    }

    /// The caller accepted an incoming TCP connection from this peer: the
    /// returned id names it from now on. If the peer refuses it (stopped,
    /// or Idle, or already two connections) a [`PeerOutput::Disconnect`]
    /// for the id follows at once.
    pub fn accept(&mut self, now: Instant) -> ConnId {
        let conn = self.alloc();
        let primary = self.primary.session.state();
        if !self.primary.session.is_started() || primary == State::Idle {
            self.outputs.push_back(PeerOutput::Disconnect(conn));
        } else if primary == State::Active {
            self.primary.conn = Some(conn);
            self.primary.direction = Direction::Incoming;
            self.primary.session.handle_input(now, Input::Connected);
        } else if self.secondary.is_none() {
            let mut session = Session::new_incoming(self.config.clone());
            session.handle_input(now, Input::Connected);
            self.secondary = Some(Slot {
                session,
                conn: Some(conn),
                direction: Direction::Incoming,
            });
        } else {
            self.outputs.push_back(PeerOutput::Disconnect(conn));
        }
        self.flush(now);
        conn
    }

    /// An event on connection `conn`. Events on ids the peer no longer
    /// knows are answered with a Disconnect (or ignored if they say the
    /// connection is gone).
    pub fn handle_input(&mut self, now: Instant, conn: ConnId, event: ConnEvent) {
        let in_secondary = self.secondary.as_ref().is_some_and(|s| s.owns(conn));
        if !in_secondary && !self.primary.owns(conn) {
            if !matches!(
                event,
                ConnEvent::Closed | ConnEvent::Failed | ConnEvent::SendProgress
            ) {
                self.outputs.push_back(PeerOutput::Disconnect(conn));
            }
            return;
        }
        let input = match event {
            ConnEvent::Connected => Input::Connected,
            ConnEvent::Failed => Input::ConnectionFailed,
            ConnEvent::Closed => Input::ConnectionClosed,
            ConnEvent::Message(Message::Open(open)) => {
                if !self.resolve_collision(now, in_secondary, &open) {
                    self.flush(now);
                    return;
                }
                Input::Message(Message::Open(open))
            }
            ConnEvent::Message(m) => Input::Message(m),
            ConnEvent::DecodeError(n) => Input::DecodeError(n),
            ConnEvent::SendStalled => Input::SendStalled,
            ConnEvent::SendProgress => Input::SendProgress,
        };
        match self.secondary.as_mut().filter(|_| in_secondary) {
            Some(s) => s.session.handle_input(now, input),
            None => self.primary.session.handle_input(now, input),
        }
        self.flush(now);
    }

    /// Fires expired timers of both sessions.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.primary.session.handle_timeout(now);
        if let Some(s) = self.secondary.as_mut() {
            s.session.handle_timeout(now);
        }
        self.flush(now);
    }

    /// The earliest deadline of both sessions.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.sessions().filter_map(Session::poll_timeout).min()
    }

    /// The next thing to do. Drain after every call.
    pub fn poll_output(&mut self) -> Option<PeerOutput> {
        self.outputs.pop_front()
    }

    /// Sends an UPDATE or ROUTE-REFRESH on the Established session (see
    /// [`Session::send`]).
    pub fn send(&mut self, now: Instant, message: Message) -> Result<ConnId, SendError> {
        let state = self.state();
        let slot = match self.secondary.as_mut() {
            Some(s) if s.session.state() == State::Established => s,
            _ => &mut self.primary,
        };
        let conn = slot.conn.ok_or(SendError::NotEstablished(state))?;
        slot.session.send(now, message)?;
        self.flush(now);
        Ok(conn)
    }

    fn sessions(&self) -> impl Iterator<Item = &Session> {
        self.slots().map(|s| &s.session)
    }

    fn slots(&self) -> impl Iterator<Item = &Slot> {
        std::iter::once(&self.primary).chain(self.secondary.as_ref())
    }

    fn alloc(&mut self) -> ConnId {
        let id = ConnId(self.next_conn);
        self.next_conn = self.next_conn.wrapping_add(1);
        id
    }

    /// An OPEN arrived on one connection (`in_secondary` says which):
    /// RFC 4271 §6.8 against the other one. Closes the loser; returns
    /// whether the OPEN is still to be delivered.
    fn resolve_collision(
        &mut self,
        now: Instant,
        in_secondary: bool,
        open: &crate::model::Open,
    ) -> bool {
        let Some(secondary) = self.secondary.as_mut() else {
            return true;
        };
        let (this, other) = if in_secondary {
            (secondary, &mut self.primary)
        } else {
            (&mut self.primary, secondary)
        };
        let other_state = other.session.state();
        if this.session.state() != State::OpenSent || !other_state.is_connected() {
            return true;
        }
        let cease7 = || Notification::new(error_code::CEASE, subcode::cease::CONNECTION_COLLISION);
        let keep = match collision_winner_by_as(
            self.config.local_id,
            self.config.local_as,
            open.bgp_id,
            open.asn(),
        ) {
            Collision::KeepLocal => Direction::Outgoing,
            Collision::KeepRemote => Direction::Incoming,
        };
        // A session that came up moments ago may be OpenConfirm on the
        // peer's side (our KEEPALIVE in flight): the peer then resolves
        // by identifier and closes it. Resolve a young session by
        // identifier too (RFC 4271 §6.8 allows collision detection in
        // Established by configuration), so both sides close the same
        // connection; an older one always wins.
        let young = other
            .session
            .counters()
            .last_up
            .is_some_and(|up| now.saturating_duration_since(up) < self.config.connect_retry);
        let by_identifier = this.direction == keep && other.direction != keep;
        if other_state == State::Established {
            // RFC 4724: a restarted speaker sets the Restart State bit. Without
            // it this is an ordinary (late) collision: both sides close the
            // new connection, unless the session is young (above).
            let restarted = other
                .session
                .negotiated()
                .is_some_and(|n| n.graceful_restart)
                && open
                    .graceful_restart()
                    .is_some_and(|g| g.flags & RESTART_STATE != 0);
            if restarted {
                other.session.abandon(now, None, DownReason::PeerRestarted);
                return true;
            }
            if young && by_identifier {
                other
                    .session
                    .abandon(now, Some(cease7()), DownReason::CollisionResolution);
                return true;
            }
            this.session
                .abandon(now, Some(cease7()), DownReason::CollisionResolution);
            return false;
        }
        // Two connections in the same direction (the peer connected twice):
        // keep the older one.
        if by_identifier {
            other
                .session
                .abandon(now, Some(cease7()), DownReason::CollisionResolution);
            true
        } else {
            this.session
                .abandon(now, Some(cease7()), DownReason::CollisionResolution);
            false
        }
    }

    /// Translates both sessions' outputs, then drops a dead secondary, or
    /// promotes it when it is the only live connection (or Established
    /// while the primary is still connecting).
    fn flush(&mut self, now: Instant) {
        let secondary_alive = self.secondary.as_ref().is_some_and(is_alive);
        let primary_alive = is_alive(&self.primary);
        let out = &mut self.outputs;
        drain(&mut self.primary, secondary_alive, &mut self.next_conn, out);
        if let Some(s) = self.secondary.as_mut() {
            drain(s, primary_alive, &mut self.next_conn, out);
        }
        let Some(sec_state) = self.secondary.as_ref().map(|s| s.session.state()) else {
            return;
        };
        let prim_state = self.primary.session.state();
        if !sec_state.is_connected() {
            self.secondary = None;
            return;
        }
        let promote = matches!(prim_state, State::Idle | State::Active)
            || (prim_state == State::Connect && sec_state == State::Established);
        if let Some(mut old) = self.secondary.take_if(|_| promote) {
            std::mem::swap(&mut self.primary, &mut old);
            old.session
                .abandon(now, None, DownReason::CollisionResolution);
            drain(&mut old, true, &mut self.next_conn, &mut self.outputs);
            self.primary.session.inherit(&old.session);
        }
    }
}

/// Translates a session's outputs into the peer's, naming connections.
fn drain(
    slot: &mut Slot,
    other_alive: bool,
    next_conn: &mut u64,
    outputs: &mut VecDeque<PeerOutput>,
) {
    while let Some(out) = slot.session.poll_output() {
        let conn = slot.conn;
        let translated = match out {
            Output::Connect => {
                // A fresh attempt: the session disconnected any old one
                // first.
                let id = ConnId(*next_conn);
                *next_conn = next_conn.wrapping_add(1);
                slot.conn = Some(id);
                slot.direction = Direction::Outgoing;
                Some(PeerOutput::Connect(id))
            }
            Output::Disconnect => slot.conn.take().map(PeerOutput::Disconnect),
            Output::Send(m) => conn.map(|c| PeerOutput::Send(c, m)),
            Output::Established(n) => conn.map(|c| PeerOutput::Established(c, n)),
            Output::Received(m) => conn.map(|c| PeerOutput::Received(c, m)),
            Output::Down(d) => {
                // A second connection that lost the collision, or that the
                // peer closed (a stale attempt), while the other one carries
                // the session: no session went down.
                let hide = !d.was_established
                    && other_alive
                    && (is_collision(&d.reason) || d.reason == DownReason::ConnectionClosed);
                (!hide).then_some(PeerOutput::Down(d))
            }
        };
        outputs.extend(translated);
    }
}

/// Whether a slot holds a connection or an attempt in flight.
fn is_alive(slot: &Slot) -> bool {
    let s = slot.session.state();
    s.is_connected() || s == State::Connect
}

/// Whether a reason is collision resolution (ours or the peer's 6/7).
fn is_collision(reason: &DownReason) -> bool {
    match reason {
        DownReason::CollisionResolution => true,
        DownReason::NotificationReceived(n) => {
            n.code == error_code::CEASE && n.subcode == subcode::cease::CONNECTION_COLLISION
        }
        _ => false,
    }
}
