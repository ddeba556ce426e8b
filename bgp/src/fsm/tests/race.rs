//! A seeded scheduler for two [`Peer`]s that start at the same instant:
//! every TCP connection goes through the stages a real one does (the SYN
//! is queued in the other side's listener backlog; the initiator learns it
//! is connected; the acceptor's driver picks it up with [`Peer::accept`];
//! bytes flow in order per direction), and at every step the scheduler
//! picks one of the enabled steps at random, so connects, accepts and
//! OPEN/KEEPALIVE/NOTIFICATION deliveries interleave in every order a
//! loaded machine can produce. The fake clock moves by at most a few
//! milliseconds on the way.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::super::{ConnEvent, ConnId, Peer, PeerOutput, State};
use super::net::End;
use crate::model::{Message, Notification, error_code, subcode};

/// splitmix64: a small, seedable generator (no dependency for a test).
pub(super) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[derive(Debug)]
enum Wire {
    Msg(Message),
    Closed,
}

/// One TCP connection, from the SYN on.
#[derive(Debug)]
pub(super) struct Conn {
    pub initiator: End,
    /// The initiator's id for it.
    pub init_id: ConnId,
    /// The acceptor's id, once its driver accepted the connection.
    pub acc_id: Option<ConnId>,
    /// Whether the initiator was told [`ConnEvent::Connected`].
    init_told: bool,
    init_open: bool,
    acc_open: bool,
    to_init: VecDeque<Wire>,
    to_acc: VecDeque<Wire>,
}

impl Conn {
    fn id_of(&self, end: End) -> Option<ConnId> {
        if end == self.initiator {
            Some(self.init_id)
        } else {
            self.acc_id
        }
    }
}

/// A Cease / Connection Collision Resolution (6/7) sent.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cease7 {
    /// Who initiated the connection it closed.
    pub initiator: End,
    /// Whether the sender held an Established session on its other
    /// connection (which always wins, RFC 4271 §6.8).
    pub against_established: bool,
}

fn cease7() -> Notification {
    Notification::new(error_code::CEASE, subcode::cease::CONNECTION_COLLISION)
}

/// One step the scheduler may take.
#[derive(Debug, Clone, Copy)]
enum Step {
    Start(End),
    TellConnected(usize),
    Accept(usize),
    ToInitiator(usize),
    ToAcceptor(usize),
    Tick,
}

/// Two peers, their connections, a random schedule and a log.
pub(super) struct Race {
    pub start: Instant,
    pub now: Instant,
    pub x: Peer,
    pub y: Peer,
    pub conns: Vec<Conn>,
    pub log: Vec<(Duration, End, String)>,
    /// Every Cease / Connection Collision Resolution sent: on the
    /// connection initiated by whom, and whether the sender's other
    /// connection was Established then.
    pub ceases: Vec<Cease7>,
    started: [bool; 2],
    /// Drop every other NOTIFICATION on the wire, as a TCP reset does
    /// when the closing side had unread data (the peer sees a bare close).
    pub lose_notifications: bool,
    rng: Rng,
    /// How far the clock may move in [`Step::Tick`]s, in total.
    tick_budget: Duration,
}

fn other(end: End) -> End {
    match end {
        End::X => End::Y,
        End::Y => End::X,
    }
}

fn index(end: End) -> usize {
    match end {
        End::X => 0,
        End::Y => 1,
    }
}

impl Race {
    pub fn new(x: Peer, y: Peer, seed: u64, tick_budget: Duration) -> Race {
        let now = Instant::now();
        Race {
            start: now,
            now,
            x,
            y,
            conns: Vec::new(),
            log: Vec::new(),
            ceases: Vec::new(),
            started: [false; 2],
            lose_notifications: false,
            rng: Rng::new(seed),
            tick_budget,
        }
    }

    pub fn peer(&mut self, end: End) -> &mut Peer {
        match end {
            End::X => &mut self.x,
            End::Y => &mut self.y,
        }
    }

    fn note(&mut self, end: End, what: String) {
        self.log.push((self.now - self.start, end, what));
    }

    /// Takes random steps until none is left but waiting for a timer.
    /// Both peers are started on the way (in random order, with other
    /// steps in between).
    pub fn run(&mut self) {
        loop {
            self.drain(End::X);
            self.drain(End::Y);
            let steps = self.enabled();
            if steps.is_empty() {
                return;
            }
            let step = steps[self.rng.below(steps.len())];
            self.take(step);
        }
    }

    fn enabled(&self) -> Vec<Step> {
        let mut steps = Vec::new();
        for end in [End::X, End::Y] {
            if !self.started[index(end)] {
                steps.push(Step::Start(end));
            }
        }
        for (i, c) in self.conns.iter().enumerate() {
            if !c.init_told && c.init_open {
                steps.push(Step::TellConnected(i));
            }
            if c.acc_id.is_none() && self.started[index(other(c.initiator))] {
                steps.push(Step::Accept(i));
            }
            if c.init_told && c.init_open && !c.to_init.is_empty() {
                steps.push(Step::ToInitiator(i));
            }
            if c.acc_id.is_some() && c.acc_open && !c.to_acc.is_empty() {
                steps.push(Step::ToAcceptor(i));
            }
        }
        if !steps.is_empty() && self.now + Duration::from_millis(1) <= self.start + self.tick_budget
        {
            steps.push(Step::Tick);
        }
        steps
    }

    fn take(&mut self, step: Step) {
        let now = self.now;
        match step {
            Step::Start(end) => {
                self.started[index(end)] = true;
                self.note(end, "start".into());
                self.peer(end).start(now);
            }
            Step::TellConnected(i) => {
                let c = &mut self.conns[i];
                c.init_told = true;
                let (end, id) = (c.initiator, c.init_id);
                self.note(end, format!("{id} connected"));
                self.peer(end).handle_input(now, id, ConnEvent::Connected);
            }
            Step::Accept(i) => {
                let end = other(self.conns[i].initiator);
                let id = self.peer(end).accept(now);
                self.conns[i].acc_id = Some(id);
                self.note(end, format!("accepted {id}"));
            }
            Step::ToInitiator(i) | Step::ToAcceptor(i) => {
                let c = &mut self.conns[i];
                let to_init = matches!(step, Step::ToInitiator(_));
                let (queue, end, open) = if to_init {
                    (&mut c.to_init, c.initiator, &mut c.init_open)
                } else {
                    (&mut c.to_acc, other(c.initiator), &mut c.acc_open)
                };
                let Some(wire) = queue.pop_front() else {
                    return;
                };
                if matches!(wire, Wire::Closed) {
                    *open = false;
                }
                let Some(id) = c.id_of(end) else { return };
                let event = match wire {
                    Wire::Msg(m) => ConnEvent::Message(m),
                    Wire::Closed => ConnEvent::Closed,
                };
                self.note(end, format!("{id} <- {event:?}"));
                self.peer(end).handle_input(now, id, event);
            }
            Step::Tick => {
                self.now += Duration::from_micros(1 + self.rng.below(1000) as u64);
                let now = self.now;
                self.x.handle_timeout(now);
                self.y.handle_timeout(now);
            }
        }
    }

    fn drain(&mut self, end: End) {
        while let Some(out) = self.peer(end).poll_output() {
            match &out {
                PeerOutput::Connect(id) => self.conns.push(Conn {
                    initiator: end,
                    init_id: *id,
                    acc_id: None,
                    init_told: false,
                    init_open: true,
                    acc_open: true,
                    to_init: VecDeque::new(),
                    to_acc: VecDeque::new(),
                }),
                PeerOutput::Disconnect(id) => self.close(end, *id),
                PeerOutput::Send(id, m) => {
                    if *m == Message::Notification(cease7()) {
                        self.record_cease(end, *id);
                    }
                    let lost = self.lose_notifications
                        && matches!(m, Message::Notification(_))
                        && self.rng.below(2) == 0;
                    if !lost {
                        self.send(end, *id, m.clone());
                    }
                }
                _ => {}
            }
            let line = format!("{out:?}");
            self.note(end, line.chars().take(160).collect());
        }
    }

    fn record_cease(&mut self, end: End, id: ConnId) {
        let against_established = self
            .peer(end)
            .connections()
            .iter()
            .any(|&(c, _, s)| c != id && s == State::Established);
        if let Some(c) = self.conns.iter().find(|c| c.id_of(end) == Some(id)) {
            self.ceases.push(Cease7 {
                initiator: c.initiator,
                against_established,
            });
        }
    }

    fn conn_mut(&mut self, end: End, id: ConnId) -> Option<&mut Conn> {
        self.conns.iter_mut().find(|c| c.id_of(end) == Some(id))
    }

    fn close(&mut self, end: End, id: ConnId) {
        let Some(c) = self.conn_mut(end, id) else {
            return;
        };
        let mine_init = c.initiator == end;
        let (mine, theirs, inbox, outbox) = if mine_init {
            (&mut c.init_open, c.acc_open, &mut c.to_init, &mut c.to_acc)
        } else {
            (&mut c.acc_open, c.init_open, &mut c.to_acc, &mut c.to_init)
        };
        if *mine {
            *mine = false;
            inbox.clear();
            if theirs {
                outbox.push_back(Wire::Closed);
            }
        }
    }

    fn send(&mut self, end: End, id: ConnId, m: Message) {
        let Some(c) = self.conn_mut(end, id) else {
            return;
        };
        if !(c.init_open && c.acc_open) {
            return;
        }
        if c.initiator == end {
            c.to_acc.push_back(Wire::Msg(m));
        } else {
            c.to_init.push_back(Wire::Msg(m));
        }
    }

    /// The connection both peers are Established on, if they are.
    pub fn established(&self) -> Option<&Conn> {
        let x = self.x.established_conn()?;
        let y = self.y.established_conn()?;
        let c = self.conns.iter().find(|c| c.id_of(End::X) == Some(x))?;
        (c.id_of(End::Y) == Some(y)
            && self.x.state() == State::Established
            && self.y.state() == State::Established)
            .then_some(c)
    }

    /// Runs the clock (jumping to deadlines, random steps in between) for
    /// `d` more.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        self.tick_budget = Duration::ZERO;
        loop {
            self.run();
            let next = [self.x.poll_timeout(), self.y.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    let now = self.now;
                    self.x.handle_timeout(now);
                    self.y.handle_timeout(now);
                }
                _ => return,
            }
        }
    }

    /// The log, one line per entry, for failure messages.
    pub fn transcript(&self) -> String {
        self.log
            .iter()
            .map(|(t, e, s)| format!("{:>8.3}ms {e:?} {s}\n", t.as_secs_f64() * 1e3))
            .collect()
    }
}
