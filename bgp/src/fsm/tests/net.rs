//! Two [`Peer`]s X and Y joined by any number of in-memory TCP
//! connections, with a fake clock. A `Connect` from one side is accepted
//! by the other at once (both sides' connections are set up before any
//! message is delivered, so simultaneous connects really collide).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::super::{ConnEvent, ConnId, Peer, PeerOutput, State};
use crate::model::Message;

/// A side of the net.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    X,
    Y,
}

#[derive(Debug)]
enum Wire {
    Msg(Message),
    Closed,
}

/// One TCP connection.
#[derive(Debug)]
pub(super) struct Link {
    /// Who connected.
    pub initiator: End,
    pub x: ConnId,
    pub y: ConnId,
    x_open: bool,
    y_open: bool,
    to_x: VecDeque<Wire>,
    to_y: VecDeque<Wire>,
}

/// Two peers, their connections and a log.
#[derive(Debug)]
pub(super) struct Net {
    pub now: Instant,
    pub x: Peer,
    pub y: Peer,
    pub links: Vec<Link>,
    pub log: Vec<(Instant, End, PeerOutput)>,
    /// `Connect` outputs not yet acted on, kept to connect "at once".
    pending: Vec<(End, ConnId)>,
}

impl Net {
    pub fn new(x: Peer, y: Peer) -> Net {
        Net {
            now: Instant::now(),
            x,
            y,
            links: Vec::new(),
            log: Vec::new(),
            pending: Vec::new(),
        }
    }

    pub fn peer(&mut self, end: End) -> &mut Peer {
        match end {
            End::X => &mut self.x,
            End::Y => &mut self.y,
        }
    }

    /// Moves outputs, then connections, then messages, until nothing moves.
    pub fn settle(&mut self) {
        loop {
            let mut moved = self.drain(End::X) | self.drain(End::Y);
            if !moved {
                moved = self.open_pending();
            }
            if !moved {
                moved = self.deliver();
            }
            if !moved {
                return;
            }
        }
    }

    /// Runs (jumping to deadlines) until `done` holds.
    pub fn run_until(&mut self, done: impl Fn(&Net) -> bool, max: Duration) {
        let end = self.now + max;
        while !done(self) {
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
                    self.settle();
                }
                _ => panic!("not reached within {max:?}: {self:#?}"),
            }
        }
    }

    /// The link a side's connection id belongs to.
    pub fn link_of(&self, end: End, conn: ConnId) -> Option<&Link> {
        self.links.iter().find(|l| match end {
            End::X => l.x == conn,
            End::Y => l.y == conn,
        })
    }

    /// Messages `end` sent, with the link index.
    pub fn sent(&self, end: End) -> Vec<(usize, Message)> {
        self.log
            .iter()
            .filter(|(_, e, _)| *e == end)
            .filter_map(|(_, _, o)| match o {
                PeerOutput::Send(c, m) => Some((self.index_of(end, *c)?, m.clone())),
                _ => None,
            })
            .collect()
    }

    fn index_of(&self, end: End, conn: ConnId) -> Option<usize> {
        self.links.iter().position(|l| match end {
            End::X => l.x == conn,
            End::Y => l.y == conn,
        })
    }

    fn drain(&mut self, end: End) -> bool {
        let mut moved = false;
        while let Some(out) = self.peer(end).poll_output() {
            moved = true;
            self.log.push((self.now, end, out.clone()));
            match out {
                PeerOutput::Connect(c) => self.pending.push((end, c)),
                PeerOutput::Disconnect(c) => self.close(end, c),
                PeerOutput::Send(c, m) => self.send(end, c, m),
                PeerOutput::Established(..) | PeerOutput::Received(..) | PeerOutput::Down(_) => {}
            }
        }
        moved
    }

    /// Every pending connection attempt completes: the other side accepts
    /// each (all of them first), then each initiator hears it is connected.
    fn open_pending(&mut self) -> bool {
        let pending = std::mem::take(&mut self.pending);
        let now = self.now;
        for &(end, conn) in &pending {
            let (x, y) = match end {
                End::X => (conn, self.y.accept(now)),
                End::Y => (self.x.accept(now), conn),
            };
            self.links.push(Link {
                initiator: end,
                x,
                y,
                x_open: true,
                y_open: true,
                to_x: VecDeque::new(),
                to_y: VecDeque::new(),
            });
        }
        for &(end, conn) in &pending {
            self.peer(end).handle_input(now, conn, ConnEvent::Connected);
        }
        !pending.is_empty()
    }

    fn close(&mut self, end: End, conn: ConnId) {
        let Some(l) = self.links.iter_mut().find(|l| match end {
            End::X => l.x == conn,
            End::Y => l.y == conn,
        }) else {
            return;
        };
        let (mine, theirs, inbox, outbox) = match end {
            End::X => (&mut l.x_open, l.y_open, &mut l.to_x, &mut l.to_y),
            End::Y => (&mut l.y_open, l.x_open, &mut l.to_y, &mut l.to_x),
        };
        if *mine {
            *mine = false;
            inbox.clear();
            if theirs {
                outbox.push_back(Wire::Closed);
            }
        }
    }

    fn send(&mut self, end: End, conn: ConnId, m: Message) {
        if let Some(l) = self.links.iter_mut().find(|l| match end {
            End::X => l.x == conn,
            End::Y => l.y == conn,
        }) {
            let open = l.x_open && l.y_open;
            let outbox = match end {
                End::X => &mut l.to_y,
                End::Y => &mut l.to_x,
            };
            if open {
                outbox.push_back(Wire::Msg(m));
            }
        }
    }

    /// Delivers one message per direction per link.
    fn deliver(&mut self) -> bool {
        let now = self.now;
        let mut moved = false;
        for i in 0..self.links.len() {
            for end in [End::X, End::Y] {
                let l = &mut self.links[i];
                let (conn, open, inbox) = match end {
                    End::X => (l.x, l.x_open, &mut l.to_x),
                    End::Y => (l.y, l.y_open, &mut l.to_y),
                };
                let Some(w) = inbox.pop_front() else { continue };
                if !open {
                    continue;
                }
                if matches!(w, Wire::Closed) {
                    match end {
                        End::X => l.x_open = false,
                        End::Y => l.y_open = false,
                    }
                }
                moved = true;
                let event = match w {
                    Wire::Msg(m) => ConnEvent::Message(m),
                    Wire::Closed => ConnEvent::Closed,
                };
                self.peer(end).handle_input(now, conn, event);
            }
        }
        moved
    }

    /// Whether both peers are Established on the same link.
    pub fn established_on_one_link(&self) -> Option<&Link> {
        let x = self.x.established_conn()?;
        let y = self.y.established_conn()?;
        let l = self.link_of(End::X, x)?;
        (l.y == y && self.x.state() == State::Established && self.y.state() == State::Established)
            .then_some(l)
    }
}
