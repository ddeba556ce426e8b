//! Two [`Session`]s back to back over one in-memory "TCP connection", with
//! a fake clock that jumps to the next deadline (quinn-proto's `Pair`
//! style). A is expected to connect and B to listen; a `Connect` while the
//! link is up is ignored (a second connection is [`super::net`]'s job).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::super::{Input, Output, Session, State};
use crate::model::Message;

/// A side of the pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    A,
    B,
}

/// What travels on the link towards one side.
#[derive(Debug)]
enum Wire {
    Msg(Message),
    Closed,
}

/// Two sessions, a link, a clock and a log of every output.
#[derive(Debug)]
pub(super) struct Pair {
    pub start: Instant,
    pub now: Instant,
    pub a: Session,
    pub b: Session,
    link_up: bool,
    to_a: VecDeque<Wire>,
    to_b: VecDeque<Wire>,
    /// Drop what B sends (B went silent, as seen from A).
    pub mute_b: bool,
    /// Every output, when and from whom.
    pub log: Vec<(Instant, Side, Output)>,
}

impl Pair {
    pub fn new(a: Session, b: Session) -> Pair {
        let start = Instant::now();
        Pair {
            start,
            now: start,
            a,
            b,
            link_up: false,
            to_a: VecDeque::new(),
            to_b: VecDeque::new(),
            mute_b: false,
            log: Vec::new(),
        }
    }

    /// Starts both sessions and runs until both are Established (panics
    /// after an hour of fake time).
    pub fn establish(a: Session, b: Session) -> Pair {
        let mut p = Pair::new(a, b);
        p.input(Side::B, Input::Start);
        p.input(Side::A, Input::Start);
        p.run_until(|p| p.both(State::Established), Duration::from_secs(3600));
        p
    }

    pub fn session(&mut self, side: Side) -> &mut Session {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    pub fn both(&self, state: State) -> bool {
        self.a.state() == state && self.b.state() == state
    }

    /// Feeds `input` to one side, then settles.
    pub fn input(&mut self, side: Side, input: Input) {
        let now = self.now;
        self.session(side).handle_input(now, input);
        self.settle();
    }

    /// Moves outputs and messages until nothing moves.
    pub fn settle(&mut self) {
        loop {
            let mut moved = self.drain(Side::A) | self.drain(Side::B);
            if !moved {
                moved = self.deliver(Side::A) | self.deliver(Side::B);
            }
            if !moved {
                return;
            }
        }
    }

    /// The next deadline of either side.
    pub fn next_deadline(&self) -> Option<Instant> {
        [self.a.poll_timeout(), self.b.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Jumps to the next deadline if it is no later than `limit`, fires
    /// the timers, settles. Returns whether time moved.
    pub fn advance(&mut self, limit: Instant) -> bool {
        match self.next_deadline() {
            Some(t) if t <= limit => {
                self.now = self.now.max(t);
                let now = self.now;
                self.a.handle_timeout(now);
                self.b.handle_timeout(now);
                self.settle();
                true
            }
            _ => false,
        }
    }

    /// Runs `d` of fake time, ending exactly at now + d.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.advance(end) {}
        self.now = end;
    }

    /// Runs until `done` holds (panics if `max` of fake time goes by first).
    pub fn run_until(&mut self, done: impl Fn(&Pair) -> bool, max: Duration) {
        let end = self.now + max;
        while !done(self) {
            assert!(self.advance(end), "not reached within {max:?}: {self:#?}");
        }
    }

    /// Outputs of `side` since the log entry `from`.
    pub fn outputs(&self, side: Side, from: usize) -> Vec<(Instant, Output)> {
        self.log[from..]
            .iter()
            .filter(|(_, s, _)| *s == side)
            .map(|(t, _, o)| (*t, o.clone()))
            .collect()
    }

    /// Messages `side` sent (all time), with when.
    pub fn sent(&self, side: Side) -> Vec<(Instant, Message)> {
        self.outputs(side, 0)
            .into_iter()
            .filter_map(|(t, o)| match o {
                Output::Send(m) => Some((t, m)),
                _ => None,
            })
            .collect()
    }

    /// KEEPALIVEs `side` sent at or after `since`.
    pub fn keepalives_sent(&self, side: Side, since: Instant) -> usize {
        self.sent(side)
            .iter()
            .filter(|(t, m)| *t >= since && *m == Message::Keepalive)
            .count()
    }

    fn drain(&mut self, side: Side) -> bool {
        let mut moved = false;
        while let Some(out) = self.session(side).poll_output() {
            moved = true;
            self.log.push((self.now, side, out.clone()));
            match out {
                Output::Connect => self.connect(side),
                Output::Disconnect => self.disconnect(side),
                Output::Send(m) => self.send(side, m),
                Output::Established(_) | Output::Received(_) | Output::Down(_) => {}
            }
        }
        moved
    }

    fn connect(&mut self, side: Side) {
        if self.link_up {
            return;
        }
        let other = other(side);
        let now = self.now;
        let listening = matches!(self.session(other).state(), State::Active | State::Connect);
        if listening {
            self.link_up = true;
            self.session(side).handle_input(now, Input::Connected);
            self.session(other).handle_input(now, Input::Connected);
        } else {
            self.session(side)
                .handle_input(now, Input::ConnectionFailed);
        }
    }

    fn disconnect(&mut self, side: Side) {
        if !self.link_up {
            return;
        }
        self.link_up = false;
        self.inbox(side).clear();
        self.inbox(other(side)).push_back(Wire::Closed);
    }

    fn send(&mut self, side: Side, m: Message) {
        let muted = side == Side::B && self.mute_b;
        if self.link_up && !muted {
            self.inbox(other(side)).push_back(Wire::Msg(m));
        }
    }

    fn deliver(&mut self, side: Side) -> bool {
        let Some(w) = self.inbox(side).pop_front() else {
            return false;
        };
        let now = self.now;
        let input = match w {
            Wire::Msg(m) => Input::Message(m),
            Wire::Closed => Input::ConnectionClosed,
        };
        self.session(side).handle_input(now, input);
        true
    }

    fn inbox(&mut self, side: Side) -> &mut VecDeque<Wire> {
        match side {
            Side::A => &mut self.to_a,
            Side::B => &mut self.to_b,
        }
    }
}

pub(super) fn other(side: Side) -> Side {
    match side {
        Side::A => Side::B,
        Side::B => Side::A,
    }
}
