//! The state transitions of [`Session`]: what each event does in each
//! state (RFC 4271 §8.2.2), and the teardown every error path shares.

use std::time::{Duration, Instant};

use crate::model::{Message, Notification, Open, error_code, subcode};

use super::super::negotiated::Negotiated;
use super::super::open::{OPEN_SENT_HOLD_TIME, build_open, negotiate};
use super::super::reason::{DownReason, fsm_error};
use super::super::timers::Timer;
use super::super::{Down, Output, State};
use super::Session;

/// Whether `n` is Cease / Connection Collision Resolution (6/7).
fn is_collision_cease(n: &Notification) -> bool {
    n.code == error_code::CEASE && n.subcode == subcode::cease::CONNECTION_COLLISION
}

/// Where a teardown leaves a started session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum After {
    /// Idle, restarting after the IdleHold back-off.
    Idle,
    /// Active, connecting again after the ConnectRetry back-off.
    Active,
}

impl Session {
    pub(super) fn start(&mut self, now: Instant) {
        if self.started || self.state != State::Idle {
            return;
        }
        self.started = true;
        self.begin(now);
    }

    /// ManualStart / automatic restart: connect, or wait for the peer.
    fn begin(&mut self, now: Instant) {
        if self.config.passive {
            self.state = State::Active;
        } else {
            self.enter_connect(now);
        }
    }

    fn enter_connect(&mut self, now: Instant) {
        self.state = State::Connect;
        self.counters.connect_attempts += 1;
        self.outputs.push_back(Output::Connect);
        self.timers
            .start(Timer::ConnectRetry, now, self.config.connect_retry);
    }

    pub(super) fn stop(&mut self, now: Instant, notification: Option<Notification>) {
        if !self.started && self.state == State::Idle {
            return;
        }
        self.started = false;
        self.backoff.reset();
        if self.state.is_connected() {
            let n = notification.unwrap_or_else(|| {
                Notification::new(error_code::CEASE, subcode::cease::ADMIN_SHUTDOWN)
            });
            // Not started any more: the teardown leaves it Idle, unarmed.
            self.teardown(now, Some(n), DownReason::AdminStop, After::Idle);
        } else {
            if self.state == State::Connect {
                self.outputs.push_back(Output::Disconnect);
            }
            self.timers.stop_all();
            self.state = State::Idle;
            self.last_error = Some(DownReason::AdminStop);
        }
    }

    pub(super) fn connected(&mut self, now: Instant) {
        match self.state {
            State::Connect | State::Active => {
                self.timers.stop(Timer::ConnectRetry);
                let open = build_open(&self.config);
                self.push_send(Message::Open(open));
                self.state = State::OpenSent;
                let hold = Duration::from_secs(u64::from(OPEN_SENT_HOLD_TIME));
                self.timers.start(Timer::Hold, now, hold);
            }
            // Idle refuses connections.
            State::Idle => self.outputs.push_back(Output::Disconnect),
            // One connection per session: a second one is the Peer's.
            State::OpenSent | State::OpenConfirm | State::Established => {}
        }
    }

    pub(super) fn connection_lost(&mut self, now: Instant, reason: DownReason) {
        match self.state {
            State::Connect => {
                self.outputs.push_back(Output::Disconnect);
                self.last_error = Some(reason);
                self.state = State::Active;
                self.wait_to_reconnect(now);
            }
            State::Idle | State::Active => {}
            // The peer may have closed this connection to keep another one
            // (collision resolution whose NOTIFICATION a TCP reset ate):
            // wait in Active, which takes that one when it comes.
            State::OpenSent | State::OpenConfirm | State::Established => {
                self.teardown(now, None, reason, After::Active)
            }
        }
    }

    pub(super) fn message(&mut self, now: Instant, message: Message) {
        if !self.state.is_connected() {
            return;
        }
        self.counters.messages_in += 1;
        if let Message::Notification(n) = message {
            // Cease / Connection Collision Resolution: the peer keeps the
            // other connection between us, which may still be waiting in
            // our listener's backlog. Wait for it in Active (which takes
            // an incoming connection) instead of in Idle (which refuses
            // it): refused, both connections would be gone and both sides
            // would wait out a back-off (RFC 4271 §6.8 closes only one).
            let after = if is_collision_cease(&n) {
                After::Active
            } else {
                After::Idle
            };
            let reason = DownReason::NotificationReceived(n);
            self.teardown(now, None, reason, after);
            return;
        }
        match (self.state, message) {
            (State::OpenSent, Message::Open(open)) => self.open_received(now, open),
            (State::OpenConfirm, Message::Keepalive) => self.establish(now),
            (State::Established, Message::Keepalive) => self.restart_hold(now),
            (State::Established, Message::Update(update)) => {
                self.restart_hold(now);
                self.counters.updates_in += 1;
                self.outputs
                    .push_back(Output::Received(Message::Update(update)));
            }
            (State::Established, Message::RouteRefresh { family, subtype }) => {
                self.restart_hold(now);
                // RFC 2918 §4: ignore families not negotiated; RFC 7313:
                // BoRR/EoRR (1, 2) need enhanced route refresh, which we
                // do not announce, and other subtypes are ignored.
                let wanted = self.config.route_refresh
                    && subtype == 0
                    && self
                        .negotiated
                        .as_ref()
                        .is_some_and(|n| n.has_family(family));
                if wanted {
                    self.outputs
                        .push_back(Output::Received(Message::RouteRefresh { family, subtype }));
                }
            }
            (state, other) => {
                let reason = DownReason::UnexpectedMessage {
                    state,
                    message: other.name(),
                };
                self.teardown(now, Some(fsm_error(state)), reason, After::Idle);
            }
        }
    }

    fn open_received(&mut self, now: Instant, open: Open) {
        match negotiate(&self.config, &open) {
            Err(e) => {
                let n = e.notification();
                self.teardown(now, Some(n), DownReason::OpenRejected(e), After::Idle);
            }
            Ok(neg) => {
                self.push_send(Message::Keepalive);
                self.state = State::OpenConfirm;
                self.negotiated = Some(neg);
                self.restart_hold(now);
                self.restart_keepalive(now);
            }
        }
    }

    fn establish(&mut self, now: Instant) {
        let Some(neg) = self.negotiated.clone() else {
            // Unreachable: OpenConfirm is only entered with `negotiated`
            // set. Fail safe rather than panic.
            let reason = DownReason::UnexpectedMessage {
                state: self.state,
                message: "KEEPALIVE",
            };
            self.teardown(now, Some(fsm_error(self.state)), reason, After::Idle);
            return;
        };
        self.state = State::Established;
        self.backoff.reset();
        self.counters.established_transitions += 1;
        self.counters.last_up = Some(now);
        self.restart_hold(now);
        self.outputs.push_back(Output::Established(neg));
    }

    pub(super) fn fire(&mut self, now: Instant, timer: Timer) {
        match (timer, self.state) {
            (Timer::ConnectRetry, State::Connect) => {
                self.outputs.push_back(Output::Disconnect);
                self.last_error = Some(DownReason::ConnectTimeout {
                    after: self.config.connect_retry,
                });
                self.state = State::Active;
                self.wait_to_reconnect(now);
            }
            (Timer::ConnectRetry, State::Active) if !self.config.passive => self.enter_connect(now),
            (Timer::IdleHold, State::Idle) if self.started => self.begin(now),
            (Timer::Hold, state) if state.is_connected() => {
                let hold_time = match (state, &self.negotiated) {
                    (State::OpenSent, _) | (_, None) => OPEN_SENT_HOLD_TIME,
                    (_, Some(n)) => n.hold_time,
                };
                let n = Notification::new(error_code::HOLD_TIMER_EXPIRED, 0);
                let reason = DownReason::HoldTimerExpired { hold_time, state };
                self.teardown(now, Some(n), reason, After::Idle);
            }
            (Timer::Keepalive, State::OpenConfirm | State::Established) => {
                self.push_send(Message::Keepalive);
                self.restart_keepalive(now);
            }
            (Timer::SendHold, state) if state.is_connected() => {
                let n = Notification::new(error_code::SEND_HOLD_TIMER_EXPIRED, 0);
                let reason = DownReason::SendHoldTimerExpired {
                    send_hold: self.send_hold_time(),
                };
                self.teardown(now, Some(n), reason, After::Idle);
            }
            // A timer that does not belong to the state: already disarmed.
            _ => {}
        }
    }

    /// Leaves the connection: NOTIFICATION (if any), Disconnect, Down (if it
    /// was past Active), then Idle or Active per `after` (started sessions)
    /// with the back-off armed, or Idle (stopped ones).
    pub(super) fn teardown(
        &mut self,
        now: Instant,
        notification: Option<Notification>,
        reason: DownReason,
        after: After,
    ) {
        let was = self.state;
        if let Some(n) = notification {
            self.push_send(Message::Notification(n));
        }
        if was.is_connected() || was == State::Connect {
            self.outputs.push_back(Output::Disconnect);
        }
        self.timers.stop_all();
        let negotiated = self.negotiated.take();
        if was.is_connected() {
            let was_established = was == State::Established;
            let stale = negotiated
                .as_ref()
                .filter(|_| was_established && reason.is_graceful_restart_candidate())
                .and_then(Negotiated::stale_routes);
            let (stale_for, stale_families) = match stale {
                Some((t, f)) => (Some(t), f),
                None => (None, Vec::new()),
            };
            if was_established {
                self.counters.last_down = Some(now);
            }
            self.outputs.push_back(Output::Down(Down {
                reason: reason.clone(),
                was_established,
                stale_for,
                stale_families,
            }));
        }
        self.last_error = Some(reason);
        self.state = State::Idle;
        if !self.started {
            return;
        }
        match (self.config.passive, after) {
            (true, _) => self.state = State::Active,
            (false, After::Active) => {
                self.state = State::Active;
                self.wait_to_reconnect(now);
            }
            (false, After::Idle) => {
                let wait = self.backoff.next_delay();
                self.timers.start(Timer::IdleHold, now, wait);
            }
        }
    }

    /// Active, active peer: the back-off until the next connect attempt.
    fn wait_to_reconnect(&mut self, now: Instant) {
        if !self.config.passive {
            let wait = self.backoff.next_delay();
            self.timers.start(Timer::ConnectRetry, now, wait);
        }
    }

    fn restart_hold(&mut self, now: Instant) {
        match self.negotiated.as_ref().and_then(Negotiated::hold) {
            Some(hold) => self.timers.start(Timer::Hold, now, hold),
            None => self.timers.stop(Timer::Hold),
        }
    }

    pub(super) fn restart_keepalive(&mut self, now: Instant) {
        match self
            .negotiated
            .as_ref()
            .and_then(Negotiated::keepalive_interval)
        {
            Some(k) => self.timers.start(Timer::Keepalive, now, k),
            None => self.timers.stop(Timer::Keepalive),
        }
    }

    pub(super) fn send_hold_time(&self) -> Duration {
        let hold = self
            .negotiated
            .as_ref()
            .map_or(self.config.hold_time, |n| n.hold_time);
        self.config.send_hold_for(hold)
    }

    pub(super) fn push_send(&mut self, message: Message) {
        self.counters.messages_out += 1;
        self.outputs.push_back(Output::Send(message));
    }
}
