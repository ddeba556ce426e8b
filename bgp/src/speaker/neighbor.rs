//! One neighbor inside the [`Speaker`](super::Speaker): its FSM, the byte
//! buffers of its connections, its codec context, and what each FSM
//! output means for the RIB and the driver.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Instant;

use bytes::BytesMut;

use super::{Action, ConnKey, DownCause, NeighborConfig, Speaker};
use crate::fsm::{ConnEvent, ConnId, DownReason, Peer, PeerOutput};
use crate::model::{Message, Notification, error_code, subcode};
use crate::rib::{PeerId, PeerUp};
use crate::wire::{self, AttrIssue, Ctx};

/// Per-connection state: what was read and not yet decoded, and the
/// output flow control (see [`super::OUT_HIGH`]).
#[derive(Debug, Default)]
pub(super) struct Conn {
    inbuf: BytesMut,
    /// A decode error or garbage ended this stream: ignore further bytes.
    dead: bool,
    /// Bytes handed out in [`Action::Write`]s and not yet reported
    /// written ([`Speaker::written`]).
    pub unwritten: u64,
    /// Output is behind: route changes are not encoded towards this
    /// connection until `unwritten` is back down to [`super::OUT_LOW`];
    /// they wait in the RIB, one pending change per prefix.
    pub behind: bool,
}

/// One neighbor.
#[derive(Debug)]
pub(super) struct Neighbor {
    pub id: PeerId,
    pub addr: IpAddr,
    pub asn: u32,
    pub fsm: Peer,
    pub conns: HashMap<ConnId, Conn>,
    /// The Established connection, once there is one.
    pub established: Option<ConnId>,
    /// Codec context of the Established session.
    pub ctx: Ctx,
    /// Outputs polled while encoding exports, acted on afterwards.
    pub deferred: VecDeque<PeerOutput>,
    /// Graceful restart: when the stale routes of this neighbor expire.
    pub stale_until: Option<Instant>,
    /// Stopped by the operator (`vcpectl bgp disable`) or by max-prefix.
    pub disabled: bool,
    /// Stopped because its BFD session went down: started again when BFD
    /// is Up (RFC 5882).
    pub bfd_held: bool,
    /// Last time the session went up or down.
    pub since: Option<Instant>,
    /// Why it last went down.
    pub last_down: Option<DownCause>,
    /// Attribute sets dropped by RFC 7606 (treat-as-withdraw or discard).
    pub issues_seen: u64,
    /// UPDATEs that could not be encoded (a bug if ever nonzero).
    pub encode_errors: u64,
    pub last_encode_error: Option<String>,
}

impl Neighbor {
    pub fn new(id: PeerId, config: NeighborConfig) -> Neighbor {
        Neighbor {
            id,
            addr: config.rib.addr,
            asn: config.rib.asn,
            fsm: Peer::new(config.session),
            conns: HashMap::new(),
            established: None,
            ctx: Ctx::default(),
            deferred: VecDeque::new(),
            stale_until: None,
            disabled: false,
            bfd_held: false,
            since: None,
            last_down: None,
            issues_seen: 0,
            encode_errors: 0,
            last_encode_error: None,
        }
    }

    pub fn open_conn(&mut self, conn: ConnId) {
        self.conns.entry(conn).or_default();
    }

    /// Bytes handed out towards the neighbor and not yet written, over
    /// all its connections.
    pub fn unwritten(&self) -> u64 {
        self.conns.values().map(|c| c.unwritten).sum()
    }

    /// Whether route changes towards the Established connection are held
    /// back (its output is behind).
    pub fn behind(&self) -> bool {
        self.established
            .and_then(|c| self.conns.get(&c))
            .is_some_and(|c| c.behind)
    }

    /// Appends bytes read from `conn`.
    pub fn buffer(&mut self, conn: ConnId, bytes: &[u8]) {
        if let Some(c) = self.conns.get_mut(&conn)
            && !c.dead
        {
            c.inbuf.extend_from_slice(bytes);
        }
    }

    /// The next complete message buffered on `conn`, decoded into the event
    /// for the FSM (a decode error becomes the NOTIFICATION to send), with
    /// the RFC 7606 issues decoding it found.
    pub fn next_message(&mut self, conn: ConnId) -> Option<(ConnEvent, Vec<AttrIssue>)> {
        let ctx = if self.established == Some(conn) {
            self.ctx
        } else {
            Ctx::default()
        };
        let c = self.conns.get_mut(&conn)?;
        if c.dead {
            return None;
        }
        let len = match wire::frame_len(&c.inbuf, &ctx) {
            Ok(Some(len)) if c.inbuf.len() >= len => len,
            Ok(_) => return None,
            Err(e) => {
                c.dead = true;
                c.inbuf.clear();
                return Some((ConnEvent::DecodeError(e.notification()), Vec::new()));
            }
        };
        let msg = c.inbuf.split_to(len);
        match wire::decode(&msg, &ctx) {
            Ok((m, issues)) => Some((ConnEvent::Message(m), issues)),
            Err(e) => {
                c.dead = true;
                c.inbuf.clear();
                Some((ConnEvent::DecodeError(e.notification()), Vec::new()))
            }
        }
    }
}

/// Acts on one output of neighbor `i`'s FSM. `issues` are the RFC 7606
/// issues of the message the FSM was just given: a received UPDATE takes
/// them.
pub(super) fn act(
    sp: &mut Speaker,
    i: usize,
    now: Instant,
    out: PeerOutput,
    issues: &mut Vec<AttrIssue>,
) {
    let n = &mut sp.neighbors[i];
    let id = n.id;
    match out {
        PeerOutput::Connect(conn) => {
            n.open_conn(conn);
            sp.actions.push_back(Action::Connect {
                key: ConnKey { peer: id, conn },
                addr: n.addr,
            });
        }
        PeerOutput::Disconnect(conn) => {
            n.conns.remove(&conn);
            if n.established == Some(conn) {
                n.established = None;
            }
            sp.actions.push_back(Action::Close {
                key: ConnKey { peer: id, conn },
            });
        }
        PeerOutput::Send(conn, m) => {
            let ctx = if n.established == Some(conn) {
                n.ctx
            } else {
                Ctx::default()
            };
            let mut out = BytesMut::new();
            match m.encode(&ctx, &mut out) {
                Ok(()) => {
                    if let Some(c) = n.conns.get_mut(&conn) {
                        c.unwritten += out.len() as u64;
                    }
                    sp.actions.push_back(Action::Write {
                        key: ConnKey { peer: id, conn },
                        bytes: out.freeze(),
                    })
                }
                Err(e) => {
                    n.encode_errors += 1;
                    n.last_encode_error = Some(e.to_string());
                }
            }
        }
        PeerOutput::Established(conn, neg) => {
            n.established = Some(conn);
            n.ctx = Ctx {
                four_octet_as: neg.four_octet_as,
                add_path: neg.add_path,
                ..Ctx::default()
            };
            n.since = Some(now);
            sp.actions.push_back(Action::Up {
                peer: id,
                addr: n.addr,
                asn: neg.peer_as,
                hold_time: neg.hold_time,
            });
            sp.rib.peer_up(
                id,
                PeerUp {
                    router_id: neg.peer_id,
                    families: neg.families.clone(),
                    four_octet_as: neg.four_octet_as,
                    add_path_receive: neg.add_path.receive,
                    add_path_send: neg.add_path.send,
                },
            );
        }
        PeerOutput::Received(_, Message::Update(u)) => {
            let issues = std::mem::take(issues);
            if !issues.is_empty() {
                n.issues_seen += 1;
            }
            for r in wire::routes(&u, &issues) {
                if let Some(f) = r.end_of_rib {
                    sp.rib.end_of_rib(id, f);
                    continue;
                }
                if let Err(e) = sp.rib.apply_paths(
                    id,
                    (&r.withdrawn, &r.withdrawn_path_ids),
                    (&r.announced, &r.announced_path_ids),
                    r.attrs.as_ref(),
                ) {
                    // Cease / Maximum Number of Prefixes Reached; RFC 4486
                    // §4 (Figure 1): Data = AFI (2 octets), SAFI (1), the
                    // upper bound (4), of the family that went over it.
                    let mut data = Vec::with_capacity(7);
                    data.extend_from_slice(&e.family.afi.0.to_be_bytes());
                    data.push(e.family.safi.0);
                    data.extend_from_slice(&e.limit.to_be_bytes());
                    let note = Notification::with_data(
                        error_code::CEASE,
                        subcode::cease::MAX_PREFIXES,
                        data,
                    );
                    let n = &mut sp.neighbors[i];
                    n.disabled = true;
                    n.last_down = Some(DownCause::MaxPrefixes {
                        exceeded: e,
                        neighbor: n.addr,
                    });
                    n.fsm.stop(now, Some(note));
                    break;
                }
            }
        }
        PeerOutput::Received(_, Message::RouteRefresh { .. }) => sp.rib.refresh(id),
        PeerOutput::Received(_, _) => {}
        PeerOutput::Down(down) => {
            // A connection that never got established (a collision loser, a
            // failed attempt) going down leaves an Established session on
            // the other connection alone: clearing `established` here
            // stopped every later UPDATE towards that neighbor.
            if down.was_established {
                n.established = None;
            }
            if down.was_established || n.established.is_none() {
                n.since = Some(now);
            }
            // The stop that follows a max-prefix or BFD teardown is
            // reported as the teardown: it says which limit and what to do.
            let reason = match &n.last_down {
                Some(c @ (DownCause::MaxPrefixes { .. } | DownCause::BfdDown { .. }))
                    if down.reason == DownReason::AdminStop =>
                {
                    c.clone()
                }
                _ => DownCause::Session(down.reason.clone()),
            };
            if !(n.disabled || n.bfd_held) || n.last_down.is_none() {
                n.last_down = Some(DownCause::Session(down.reason.clone()));
            }
            sp.actions.push_back(Action::Down {
                peer: id,
                addr: n.addr,
                reason,
                was_established: down.was_established,
            });
            if down.was_established {
                match down.stale_for {
                    Some(t) => {
                        n.stale_until = Some(now + t);
                        sp.rib.peer_down_graceful(id, &down.stale_families);
                    }
                    None => sp.rib.peer_down(id),
                }
            }
        }
    }
}
