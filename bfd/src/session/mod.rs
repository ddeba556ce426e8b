//! One BFD session (RFC 5880 §6): the state machine of §6.2 and §6.8.6,
//! the timer rules of §6.8.2-6.8.4 and §6.8.7, Poll/Final sequences
//! (§6.5), all sans-IO.
//!
//! The [`Session`] API, in the groups of quinn-proto's `Connection`:
//!
//! | group     | methods                                                   |
//! |-----------|-----------------------------------------------------------|
//! | getters   | `state`, `local_discr`, `view`                            |
//! | inputs    | `handle_packet(now, &packet)`, `handle_timeout(now)`      |
//! | mutators  | `set_admin_down(now, bool)`, `reconfigure(now, config)`   |
//! | outputs   | `poll_transmit`, `poll_timeout`, `poll_event`             |
//!
//! Time is an input (`now`); jitter comes from the seeded [`Jitter`] the
//! session is given. Asynchronous mode only: Demand is never asked for
//! and Echo never offered. Authentication: none, or Keyed / Meticulous
//! Keyed SHA1 ([`AuthKey`], `auth.rs`).

mod auth;
mod cause;
mod timers;
mod view;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::jitter::Jitter;
use crate::wire::{ControlPacket, Diag, State};

pub use auth::AuthKey;
pub use cause::{DownCause, Event, Refused};
use timers::{micros, to_duration};
pub use view::SessionView;

/// "When bfd.SessionState is not Up, the system MUST set
/// bfd.DesiredMinTxInterval to a value of not less than one second (1,000,000
/// microseconds)" (§6.8.3).
pub const SLOW_TX: Duration = Duration::from_secs(1);

/// What the operator configured for a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// bfd.DesiredMinTxInterval once Up.
    pub desired_min_tx: Duration,
    /// bfd.RequiredMinRxInterval.
    pub required_min_rx: Duration,
    /// bfd.DetectMult (1..=255).
    pub detect_mult: u8,
    /// Keyed SHA1 authentication, or none.
    pub auth: Option<AuthKey>,
}

impl Default for SessionConfig {
    /// 300 ms × 3, the daemon's default.
    fn default() -> SessionConfig {
        SessionConfig {
            desired_min_tx: Duration::from_millis(300),
            required_min_rx: Duration::from_millis(300),
            detect_mult: 3,
            auth: None,
        }
    }
}

/// One BFD session.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    state: State,
    remote_state: State,
    local_diag: Diag,
    remote_diag: Diag,
    local_discr: u32,
    remote_discr: u32,
    /// bfd.RemoteMinRxInterval (µs); "MUST be initialized to 1".
    remote_min_rx: u32,
    /// The peer's Desired Min TX Interval (µs), for the detection time.
    remote_desired_tx: u32,
    remote_detect_mult: u8,
    /// bfd.DesiredMinTxInterval and bfd.RequiredMinRxInterval as sent.
    adv_tx: u32,
    adv_rx: u32,
    /// The values in effect for our own transmit rate and detection time:
    /// equal to the advertised ones except during a Poll Sequence, where
    /// the old ones apply until it ends (§6.8.3).
    used_tx: u32,
    used_rx: u32,
    polling: bool,
    /// Answer a Poll with a Final at once.
    final_due: bool,
    /// Send a packet at once (state change, Poll start).
    send_now: bool,
    next_tx: Option<Instant>,
    detect_at: Option<Instant>,
    jitter: Jitter,
    /// A periodic packet may go out this much before its time (the
    /// driver coalesces wake-ups); the jitter floor is raised to match.
    early: Duration,
    transmit: VecDeque<ControlPacket>,
    events: VecDeque<Event>,
    /// Keyed SHA1 signing and checking, when configured.
    auth: Option<auth::AuthState>,
    since: Instant,
    last_down: Option<(Instant, DownCause)>,
    packets_in: u64,
    packets_out: u64,
    up_transitions: u64,
}

impl Session {
    /// A session in state Down with local discriminator `local_discr`
    /// (nonzero, unique on this system); it starts sending at once.
    pub fn new(now: Instant, local_discr: u32, config: SessionConfig, jitter: Jitter) -> Session {
        Session::with_early(now, local_discr, config, jitter, Duration::ZERO)
    }

    /// [`Session::new`] whose periodic packets may go out up to `early`
    /// before their time (see [`Session::set_early`]).
    pub fn with_early(
        now: Instant,
        local_discr: u32,
        config: SessionConfig,
        mut jitter: Jitter,
        early: Duration,
    ) -> Session {
        let slow = micros(SLOW_TX.max(config.desired_min_tx));
        let rx = micros(config.required_min_rx);
        let auth = config
            .auth
            .clone()
            .map(|k| auth::AuthState::new(k, (jitter.next_u64() >> 32) as u32));
        let mut s = Session {
            auth,
            early,
            config,
            state: State::Down,
            remote_state: State::Down,
            local_diag: Diag::NONE,
            remote_diag: Diag::NONE,
            local_discr,
            remote_discr: 0,
            remote_min_rx: 1,
            remote_desired_tx: 0,
            remote_detect_mult: 0,
            adv_tx: slow,
            adv_rx: rx,
            used_tx: slow,
            used_rx: rx,
            polling: false,
            final_due: false,
            send_now: true,
            next_tx: None,
            detect_at: None,
            jitter,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            since: now,
            last_down: None,
            packets_in: 0,
            packets_out: 0,
            up_transitions: 0,
        };
        s.flush(now);
        s
    }

    /// bfd.SessionState.
    pub fn state(&self) -> State {
        self.state
    }

    /// bfd.LocalDiscr.
    pub fn local_discr(&self) -> u32 {
        self.local_discr
    }

    /// The configured parameters.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// A valid packet (§6.8.6 checks passed, demultiplexed to this
    /// session) arrived.
    pub fn handle_packet(&mut self, now: Instant, p: &ControlPacket) -> Result<(), Refused> {
        let detection_time = self.detection_time();
        match &mut self.auth {
            None if p.auth.is_some() => return Err(Refused::AuthNotInUse),
            None => {}
            Some(a) => a.verify(now, p, p.detect_mult, detection_time)?,
        }
        self.packets_in += 1;
        self.remote_discr = p.my_discr;
        self.remote_state = p.state;
        self.remote_diag = p.diag;
        self.remote_min_rx = p.required_min_rx;
        self.remote_desired_tx = p.desired_min_tx;
        self.remote_detect_mult = p.detect_mult;
        // "If a Poll Sequence is being transmitted by the local system and
        // the Final (F) bit in the received packet is set, the Poll
        // Sequence MUST be terminated."
        if self.polling && p.final_ {
            self.polling = false;
            self.used_tx = self.adv_tx;
            self.used_rx = self.adv_rx;
        }
        self.detect_at = Some(now + self.detection_time());
        if self.next_tx.is_none() && self.remote_min_rx != 0 {
            self.send_now = true;
        }
        // "If bfd.SessionState is AdminDown: Discard the packet" (after
        // the variables above were updated).
        if self.state != State::AdminDown {
            self.transition(now, p.state);
            if p.poll {
                // "If the Poll (P) bit is set, send a BFD Control packet to
                // the remote system with the Poll (P) bit clear, and the
                // Final (F) bit set."
                self.final_due = true;
            }
        }
        self.flush(now);
        Ok(())
    }

    /// The §6.8.6 state table for a received state.
    fn transition(&mut self, now: Instant, remote: State) {
        match (self.state, remote) {
            (State::Init | State::Up, State::AdminDown) => {
                self.go_down(now, DownCause::NeighborAdminDown);
            }
            (State::Down, State::Down) => self.set_state(now, State::Init, None),
            (State::Down, State::Init) | (State::Init, State::Init | State::Up) => self.go_up(now),
            (State::Up, State::Down) => self.go_down(now, DownCause::NeighborSignaledDown),
            _ => {}
        }
    }

    /// Fires due timers: the periodic transmission, the detection time.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.detect_at.is_some_and(|t| t <= now) {
            self.detect_at = None;
            // "If a period of a Detection Time passes without the receipt
            // of a valid, authenticated BFD packet from the remote system,
            // this variable [bfd.RemoteDiscr] MUST be set to zero."
            self.remote_discr = 0;
            self.remote_state = State::Down;
            if matches!(self.state, State::Init | State::Up) {
                self.go_down(now, DownCause::DetectionTimeExpired);
            }
        }
        if self
            .next_tx
            .is_some_and(|t| t <= now + self.early_allowance())
        {
            self.send_now = true;
        }
        self.flush(now);
    }

    /// When to call [`Session::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.next_tx, self.detect_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next packet to send.
    pub fn poll_transmit(&mut self) -> Option<ControlPacket> {
        self.transmit.pop_front()
    }

    /// The next state change.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Holds the session in AdminDown (§6.8.16), or lets it come up again.
    pub fn set_admin_down(&mut self, now: Instant, down: bool) {
        match (down, self.state) {
            (true, State::AdminDown) | (false, State::Down | State::Init | State::Up) => {}
            (true, from) => {
                self.local_diag = Diag::ADMINISTRATIVELY_DOWN;
                self.set_state(now, State::AdminDown, Some(DownCause::AdminDown));
                self.slow_down();
                self.detect_at = None;
                if from == State::Up {
                    self.last_down = Some((now, DownCause::AdminDown));
                }
                self.send_now = true;
            }
            (false, State::AdminDown) => {
                self.set_state(now, State::Down, None);
                self.send_now = true;
            }
        }
        self.flush(now);
    }

    /// New intervals or multiplier: applied through a Poll Sequence while
    /// Up (§6.8.3), at once otherwise.
    pub fn reconfigure(&mut self, now: Instant, config: SessionConfig) {
        if config.auth != self.config.auth {
            let seq = (self.jitter.next_u64() >> 32) as u32;
            self.auth = config.auth.clone().map(|k| auth::AuthState::new(k, seq));
        }
        let desired_min_tx = config.desired_min_tx;
        let required_min_rx = config.required_min_rx;
        self.config = config;
        if self.state == State::Up {
            self.start_poll(micros(desired_min_tx), micros(required_min_rx));
        } else {
            self.adv_rx = micros(required_min_rx);
            self.used_rx = self.adv_rx;
            self.slow_down();
        }
        self.send_now = true;
        self.flush(now);
    }

    /// Lets periodic packets go out up to `early` before their time (at
    /// most 10% of the interval), so that a driver serving many sessions
    /// wakes once for several of them; the jitter floor rises to match,
    /// so the interval between packets stays within §6.8.7's bounds.
    pub fn set_early(&mut self, early: Duration) {
        self.early = early;
    }

    /// How early the next periodic packet may go (what `set_early` allows,
    /// capped at 10% of the interval, as the jitter floor is).
    fn early_allowance(&self) -> Duration {
        self.early.min(to_duration(self.tx_interval()) / 10)
    }

    /// max(bfd.DesiredMinTxInterval in use, bfd.RemoteMinRxInterval), µs.
    fn tx_interval(&self) -> u32 {
        self.used_tx.max(self.remote_min_rx)
    }

    /// "the Detection Time ... is equal to the value of Detect Mult
    /// received from the remote system, multiplied by the agreed transmit
    /// interval of the remote system (the greater of
    /// bfd.RequiredMinRxInterval and the last received Desired Min TX
    /// Interval)" (§6.8.4).
    fn detection_time(&self) -> Duration {
        let interval = u64::from(self.used_rx.max(self.remote_desired_tx));
        Duration::from_micros(u64::from(self.remote_detect_mult) * interval)
    }

    fn go_up(&mut self, now: Instant) {
        self.set_state(now, State::Up, None);
        self.up_transitions += 1;
        // Leaving the one-second rate is a change of
        // bfd.DesiredMinTxInterval: a Poll Sequence.
        self.start_poll(
            micros(self.config.desired_min_tx),
            micros(self.config.required_min_rx),
        );
    }

    fn go_down(&mut self, now: Instant, cause: DownCause) {
        let from = self.state;
        self.local_diag = cause.diag();
        self.set_state(now, State::Down, Some(cause));
        if from == State::Up {
            self.last_down = Some((now, cause));
        }
        self.slow_down();
    }

    /// Back to at least one second between packets; no Poll is needed
    /// outside Up.
    fn slow_down(&mut self) {
        self.polling = false;
        self.adv_tx = micros(SLOW_TX.max(self.config.desired_min_tx));
        self.used_tx = self.adv_tx;
        self.used_rx = self.adv_rx;
    }

    /// §6.8.3: "If either bfd.DesiredMinTxInterval is changed or
    /// bfd.RequiredMinRxInterval is changed, a Poll Sequence MUST be
    /// initiated". The old values stay in use until the Final: "the
    /// actual transmission interval used MUST NOT change until the Poll
    /// Sequence described above has terminated", and likewise the old
    /// RequiredMinRxInterval for the detection time.
    ///
    /// The other directions take effect at once: a faster transmit rate,
    /// because the peer's detection time follows our advertised Desired
    /// Min TX as soon as it reads it; a longer Required Min RX, because
    /// the peer may slow down as soon as it reads it.
    fn start_poll(&mut self, tx: u32, rx: u32) {
        if tx == self.adv_tx && rx == self.adv_rx && !self.polling {
            return;
        }
        self.adv_tx = tx;
        self.adv_rx = rx;
        self.used_tx = self.used_tx.min(tx);
        self.used_rx = self.used_rx.max(rx);
        self.polling = true;
        self.send_now = true;
    }

    fn set_state(&mut self, now: Instant, to: State, cause: Option<DownCause>) {
        let from = self.state;
        if from == to {
            return;
        }
        self.state = to;
        self.since = now;
        self.send_now = true;
        self.events.push_back(Event { from, to, cause });
    }

    /// Queues what is due now: a Final, then a periodic or triggered
    /// packet (which restarts the periodic timer).
    fn flush(&mut self, now: Instant) {
        // A shorter interval (the end of a Poll Sequence, a faster peer)
        // applies to the packet already scheduled too.
        if let Some(t) = self.next_tx
            && t > now + to_duration(self.tx_interval())
        {
            self.send_now = true;
        }
        if self.final_due {
            self.final_due = false;
            let mut p = self.packet();
            p.poll = false;
            p.final_ = true;
            self.queue(p);
        }
        if self.send_now {
            self.send_now = false;
            // "The periodic transmission of BFD Control packets MUST NOT
            // occur if bfd.RemoteMinRxInterval is zero" (§6.8.7).
            if self.remote_min_rx != 0 {
                let p = self.packet();
                self.queue(p);
                let interval = to_duration(self.tx_interval());
                let gap = self
                    .jitter
                    .apply_early(interval, self.config.detect_mult, self.early);
                self.next_tx = Some(now + gap);
            } else {
                self.next_tx = None;
            }
        }
    }

    fn queue(&mut self, mut p: ControlPacket) {
        if let Some(a) = &mut self.auth {
            a.sign(&mut p);
        }
        self.packets_out += 1;
        self.transmit.push_back(p);
    }

    /// A packet from the current state (§6.8.7 field by field).
    fn packet(&self) -> ControlPacket {
        ControlPacket {
            diag: self.local_diag,
            state: self.state,
            poll: self.polling,
            final_: false,
            control_plane_independent: false,
            demand: false,
            multipoint: false,
            detect_mult: self.config.detect_mult,
            my_discr: self.local_discr,
            your_discr: self.remote_discr,
            desired_min_tx: self.adv_tx,
            required_min_rx: self.adv_rx,
            required_min_echo_rx: 0,
            auth: None,
        }
    }
}
