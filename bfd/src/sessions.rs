//! All sessions of the system, and the demultiplexing of received packets
//! to them (RFC 5880 §6.3): by Your Discriminator when the peer knows it,
//! else by the addresses the packet came with. Packets that reach no
//! session are counted by reason.
//!
//! Also applies the RFC 5881 §5 rule that single-hop packets arrive with
//! TTL (hop limit) 255, from the TTL the driver read with the packet.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::jitter::Jitter;
use crate::session::{Event, Refused, Session, SessionConfig, SessionView};
use crate::wire::{self, PacketError};

/// A session's id: its local discriminator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u32);

/// Single hop (RFC 5881, port 3784, TTL 255) or multihop (RFC 5883, port
/// 4784).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathKind {
    /// RFC 5881.
    SingleHop,
    /// RFC 5883.
    MultiHop,
}

impl fmt::Display for PathKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathKind::SingleHop => "single-hop",
            PathKind::MultiHop => "multihop",
        })
    }
}

/// What a session is to: the peer, our address if fixed, the path kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionKey {
    /// The peer's address.
    pub peer: IpAddr,
    /// Our address, when configured (else any of ours).
    pub local: Option<IpAddr>,
    /// Single hop or multihop.
    pub path: PathKind,
}

/// How a packet arrived, as the driver read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Source address.
    pub from: IpAddr,
    /// Destination address, when the socket reported it.
    pub to: Option<IpAddr>,
    /// TTL or hop limit, when the socket reported it.
    pub ttl: Option<u8>,
    /// The port it came to.
    pub path: PathKind,
}

/// A packet to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The session.
    pub id: SessionId,
    /// Where to.
    pub key: SessionKey,
    /// The encoded packet.
    pub bytes: Bytes,
}

/// Why a received packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DropReason {
    /// It is not a valid control packet (§6.8.6).
    #[error("malformed: {0}")]
    Malformed(#[from] PacketError),
    /// A single-hop packet whose TTL is not 255 (RFC 5881 §5): it crossed
    /// a router, or was spoofed.
    #[error("single-hop packet with TTL {0}, not 255")]
    Ttl(u8),
    /// "If the Your Discriminator field is nonzero, it MUST be used to
    /// select the session ... If no session is found, the packet MUST be
    /// discarded."
    #[error("no session has discriminator {0}")]
    UnknownDiscriminator(u32),
    /// The discriminator names a session to another address.
    #[error("discriminator of a session to another peer")]
    WrongPeer,
    /// Your Discriminator is 0 and no session is configured to the source
    /// address.
    #[error("no session to this address")]
    NoSession,
    /// The session refused it.
    #[error("{0}")]
    Refused(#[from] Refused),
}

impl DropReason {
    /// A short stable name, for counters and metrics labels.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::Malformed(e) => e.name(),
            DropReason::Ttl(_) => "ttl_not_255",
            DropReason::UnknownDiscriminator(_) => "unknown_discriminator",
            DropReason::WrongPeer => "wrong_peer",
            DropReason::NoSession => "no_session",
            DropReason::Refused(r) => r.name(),
        }
    }
}

/// Dropped packets by [`DropReason::name`].
pub type Drops = BTreeMap<&'static str, u64>;

#[derive(Debug)]
struct Entry {
    key: SessionKey,
    session: Session,
}

/// Every session, keyed by local discriminator.
#[derive(Debug)]
pub struct Sessions {
    sessions: BTreeMap<u32, Entry>,
    /// How early a periodic packet may go (see [`Sessions::with_early`]).
    early: Duration,
    rng: Jitter,
    drops: Drops,
    events: VecDeque<(SessionId, SessionKey, Event)>,
}

impl Sessions {
    /// No sessions; `seed` seeds discriminators and jitter.
    pub fn new(seed: u64) -> Sessions {
        Sessions {
            early: Duration::ZERO,
            sessions: BTreeMap::new(),
            rng: Jitter::new(seed),
            drops: Drops::new(),
            events: VecDeque::new(),
        }
    }

    /// Lets every session send its periodic packets up to `early` before
    /// their time (at most 10% of each one's interval; its jitter floor
    /// rises to match, keeping §6.8.7's bounds): a wake-up of the driver
    /// then serves every session due within `early`, instead of one each.
    pub fn with_early(mut self, early: Duration) -> Sessions {
        self.early = early;
        self
    }

    /// Starts a session; if one with the same key exists, returns it and
    /// applies `config` to it.
    pub fn add(&mut self, now: Instant, key: SessionKey, config: SessionConfig) -> SessionId {
        if let Some(id) = self.find(&key) {
            self.reconfigure(now, id, config);
            return id;
        }
        let discr = loop {
            let d = (self.rng.next_u64() >> 32) as u32;
            if d != 0 && !self.sessions.contains_key(&d) {
                break d;
            }
        };
        let jitter = Jitter::new(self.rng.next_u64());
        let session = Session::with_early(now, discr, config, jitter, self.early);
        self.sessions.insert(discr, Entry { key, session });
        SessionId(discr)
    }

    /// Stops and forgets a session (nothing more is sent for it).
    pub fn remove(&mut self, id: SessionId) -> bool {
        self.events.retain(|(i, _, _)| *i != id);
        self.sessions.remove(&id.0).is_some()
    }

    /// The session with this key.
    pub fn find(&self, key: &SessionKey) -> Option<SessionId> {
        self.sessions
            .iter()
            .find(|(_, e)| e.key == *key)
            .map(|(d, _)| SessionId(*d))
    }

    /// New intervals for a session (a Poll Sequence while Up).
    pub fn reconfigure(&mut self, now: Instant, id: SessionId, config: SessionConfig) {
        if let Some(e) = self.sessions.get_mut(&id.0)
            && *e.session.config() != config
        {
            e.session.reconfigure(now, config);
            Self::collect(&mut self.events, id, e);
        }
    }

    /// Holds a session in AdminDown, or releases it.
    pub fn set_admin_down(&mut self, now: Instant, id: SessionId, down: bool) -> bool {
        let Some(e) = self.sessions.get_mut(&id.0) else {
            return false;
        };
        e.session.set_admin_down(now, down);
        Self::collect(&mut self.events, id, e);
        true
    }

    /// A received UDP payload; `Ok` names the session it went to.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        rx: Received,
        bytes: &[u8],
    ) -> Result<SessionId, DropReason> {
        let r = self.dispatch(now, rx, bytes);
        if let Err(e) = r {
            *self.drops.entry(e.name()).or_default() += 1;
        }
        r
    }

    fn dispatch(
        &mut self,
        now: Instant,
        rx: Received,
        bytes: &[u8],
    ) -> Result<SessionId, DropReason> {
        let p = wire::parse(bytes)?;
        if rx.path == PathKind::SingleHop
            && let Some(ttl) = rx.ttl
            && ttl != 255
        {
            return Err(DropReason::Ttl(ttl));
        }
        let discr = if p.your_discr != 0 {
            let e = self
                .sessions
                .get(&p.your_discr)
                .ok_or(DropReason::UnknownDiscriminator(p.your_discr))?;
            if e.key.peer != rx.from || e.key.path != rx.path {
                return Err(DropReason::WrongPeer);
            }
            p.your_discr
        } else {
            let (d, _) = self
                .sessions
                .iter()
                .find(|(_, e)| {
                    e.key.peer == rx.from
                        && e.key.path == rx.path
                        && (e.key.local.is_none() || rx.to.is_none() || e.key.local == rx.to)
                })
                .ok_or(DropReason::NoSession)?;
            *d
        };
        let id = SessionId(discr);
        let e = self
            .sessions
            .get_mut(&discr)
            .ok_or(DropReason::UnknownDiscriminator(discr))?;
        e.session.handle_packet(now, &p)?;
        Self::collect(&mut self.events, id, e);
        Ok(id)
    }

    /// Fires every due timer.
    pub fn handle_timeout(&mut self, now: Instant) {
        let early = self.early;
        for (d, e) in self.sessions.iter_mut() {
            if e.session.poll_timeout().is_some_and(|t| t <= now + early) {
                e.session.handle_timeout(now);
                Self::collect(&mut self.events, SessionId(*d), e);
            }
        }
    }

    /// When to call [`Sessions::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.sessions
            .values()
            .filter_map(|e| e.session.poll_timeout())
            .min()
    }

    /// The next packet to send, encoded.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        for (d, e) in self.sessions.iter_mut() {
            if let Some(p) = e.session.poll_transmit() {
                let mut out = BytesMut::with_capacity(p.len());
                p.emit(&mut out);
                return Some(Transmit {
                    id: SessionId(*d),
                    key: e.key,
                    bytes: out.freeze(),
                });
            }
        }
        None
    }

    /// The next state change of any session.
    pub fn poll_event(&mut self) -> Option<(SessionId, SessionKey, Event)> {
        self.events.pop_front()
    }

    /// Every session with its key and a snapshot.
    pub fn views(&self) -> impl Iterator<Item = (SessionId, SessionKey, SessionView)> + '_ {
        self.sessions
            .iter()
            .map(|(d, e)| (SessionId(*d), e.key, e.session.view()))
    }

    /// One session's snapshot.
    pub fn view(&self, id: SessionId) -> Option<SessionView> {
        self.sessions.get(&id.0).map(|e| e.session.view())
    }

    /// Dropped packets by reason, since start.
    pub fn drops(&self) -> &Drops {
        &self.drops
    }

    fn collect(
        events: &mut VecDeque<(SessionId, SessionKey, Event)>,
        id: SessionId,
        e: &mut Entry,
    ) {
        while let Some(ev) = e.session.poll_event() {
            events.push_back((id, e.key, ev));
        }
    }
}
