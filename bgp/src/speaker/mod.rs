//! The speaker: every neighbor's session ([`crate::fsm::Peer`]), the codec
//! ([`crate::wire`]) and the RIBs ([`crate::rib::Rib`]) put together,
//! still sans-IO.
//!
//! Owns the glue between the three: framing the byte stream of each
//! connection, decoding with the session's negotiated context, handing
//! messages to the FSM, UPDATEs to the RIB (RFC 7606 issues included), and
//! turning the RIB's per-peer exports back into encoded UPDATEs. The caller
//! (the daemon's tokio driver) only moves bytes and time:
//!
//! ```text
//!   driver                       Speaker
//!   accept()/connect() ───────▶  accept / connected / connect_failed
//!   read(conn) bytes  ────────▶  received(now, key, &bytes)
//!   write(conn) done  ────────▶  written(now, key, n)
//!   sleep_until(poll_timeout) ▶  handle_timeout(now)
//!   poll_action() ◀────────────  Connect / Write / Close / Up / Down
//!   FIB ◀──────────────────────  take_fib_changes()
//! ```
//!
//! The [`Speaker`] API, in four groups (as quinn-proto's `Connection`):
//!
//! | group     | methods                                                          |
//! |-----------|------------------------------------------------------------------|
//! | getters   | `rib`, `summaries`, `neighbor_detail`, `neighbor_by_addr`, `fib_changes_bound` |
//! | inputs (`handle_*`: what happened) | `received`, `accept`, `connected`, `connect_failed`, `closed`, `written`, `send_stalled`, `send_progress`, `handle_timeout`, `bfd_down`, `bfd_up` |
//! | mutators  | `add_neighbor`, `remove_neighbor`, `originate`, `withdraw_local`, `disable`, `enable`, `refresh`, `set_maximum_paths` (a setting: no `now`) |
//! | outputs (`poll_*`: what to do) | `poll_action`, `poll_timeout`, `take_fib_changes`, `take_fib_changes_with` |
//!
//! Every input and mutator takes `now`; none does I/O. Outputs queue up
//! until polled: the driver loops feeding inputs, draining `poll_action`
//! and sleeping until `poll_timeout`.
//!
//! Fairness: `received` handles whatever complete messages the bytes
//! hold; the driver reads at most one socket buffer at a time, so a table
//! dump of a million routes arrives as thousands of small calls and timers
//! (keepalives of every session) run between them.
//!
//! Output flow control: the speaker counts, per connection, the bytes it
//! handed out in [`Action::Write`] that the driver has not reported
//! written yet ([`Speaker::written`]). Past [`OUT_HIGH`] the connection's
//! output is *behind*: route changes are no longer encoded towards it and
//! wait in the RIB instead, where the Adj-RIB-Out pending state is one
//! entry per changed prefix (a prefix that flaps a hundred times is still
//! one change); once the driver reports the queue down to [`OUT_LOW`],
//! the next poll encodes everything pending, coalesced. KEEPALIVEs,
//! NOTIFICATIONs and ROUTE-REFRESHes are never held back (they are small
//! and the session depends on them). A driver must report every write:
//! one that never calls `written` gets no route changes past the first
//! [`OUT_HIGH`] bytes.
//!
//! Batching: route changes are encoded towards the neighbors only when the
//! driver next calls [`Speaker::poll_action`], so a driver that hands in
//! several reads before polling gets one export pass for all of them (the
//! pass walks every changed prefix; fewer, larger passes are cheaper).

mod down;
mod neighbor;
mod view;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use ipnet::IpNet;

use crate::fsm::{ConnId, SessionConfig};
use crate::rib::{BestChange, LocalConfig, PeerConfig, PeerId, Rib};
use crate::wire::AttrIssue;

pub use down::DownCause;
pub use view::NeighborDetail;
pub use view::NeighborSummary;

use neighbor::Neighbor;

/// Unwritten bytes towards a connection past which its route output is
/// held back (see the module doc). What a connection has queued beyond
/// its socket buffer (the kernel's, up to a few MiB) only waits, and a
/// slow reader would otherwise get every encoded UPDATE of every change
/// queued in the daemon. 256 KiB is a few thousand changes, enough to keep
/// a socket that drains at any useful speed busy between two polls; a
/// table dump or a coalesced catch-up may exceed it once (one take is
/// bounded by the table).
pub const OUT_HIGH: u64 = 256 * 1024;

/// Unwritten bytes at or below which held-back output resumes: a quarter
/// of [`OUT_HIGH`], so that output resumes with one large coalesced batch
/// rather than with one small batch per write.
pub const OUT_LOW: u64 = OUT_HIGH / 4;

/// One connection of one neighbor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnKey {
    /// The neighbor.
    pub peer: PeerId,
    /// The connection, as its session names it.
    pub conn: ConnId,
}

/// A neighbor to run.
#[derive(Debug, Clone)]
pub struct NeighborConfig {
    /// Session parameters (AS numbers, timers, passive, families).
    pub session: SessionConfig,
    /// RIB parameters (policies, max prefixes, our addresses as next hop).
    pub rib: PeerConfig,
}

/// What the speaker wants the driver to do, or to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Open a TCP connection to `addr` port 179 and report it under `key`.
    Connect {
        /// Names the connection from now on.
        key: ConnKey,
        /// The neighbor's address.
        addr: IpAddr,
    },
    /// Write these bytes on the connection, in order.
    Write {
        /// The connection.
        key: ConnKey,
        /// One or more encoded messages.
        bytes: Bytes,
    },
    /// Close the connection (after writing what was queued before).
    Close {
        /// The connection.
        key: ConnKey,
    },
    /// A session reached Established (for the log).
    Up {
        /// The neighbor.
        peer: PeerId,
        /// Its address.
        addr: IpAddr,
        /// Its AS.
        asn: u32,
        /// Negotiated hold time.
        hold_time: u16,
    },
    /// A session went down (for the log): one clear line.
    Down {
        /// The neighbor.
        peer: PeerId,
        /// Its address.
        addr: IpAddr,
        /// Why (`Display` for the log line, [`DownCause::hint`] for what
        /// to check).
        reason: DownCause,
        /// Whether it had been Established.
        was_established: bool,
    },
}

/// The BGP speaker: all neighbors and the RIBs.
#[derive(Debug)]
pub struct Speaker {
    rib: Rib,
    neighbors: Vec<Neighbor>,
    actions: VecDeque<Action>,
    next_id: u32,
    /// Route changes wait to be encoded towards the neighbors (at the next
    /// `poll_action`); the time of the latest call that made them.
    exports_due: Option<Instant>,
}

impl Speaker {
    /// A speaker with no neighbors.
    pub fn new(local: LocalConfig) -> Speaker {
        Speaker {
            rib: Rib::new(local),
            neighbors: Vec::new(),
            actions: VecDeque::new(),
            next_id: 0,
            exports_due: None,
        }
    }

    /// Adds a neighbor and starts its session.
    pub fn add_neighbor(&mut self, now: Instant, config: NeighborConfig) -> PeerId {
        let id = PeerId(self.next_id);
        self.next_id += 1;
        self.rib.add_peer(id, config.rib.clone());
        let mut n = Neighbor::new(id, config);
        n.fsm.start(now);
        self.neighbors.push(n);
        self.drain(now, id);
        id
    }

    /// Stops and removes a neighbor (Cease / Peer De-configured); its
    /// routes are withdrawn.
    pub fn remove_neighbor(&mut self, now: Instant, id: PeerId) {
        let Some(i) = self.index(id) else { return };
        let n = crate::model::Notification::new(
            crate::model::error_code::CEASE,
            crate::model::subcode::cease::PEER_DECONFIGURED,
        );
        self.neighbors[i].fsm.stop(now, Some(n));
        self.drain(now, id);
        self.neighbors.remove(i);
        self.rib.remove_peer(id);
        self.flush_exports(now);
    }

    /// The neighbor configured with this address.
    pub fn neighbor_by_addr(&self, addr: IpAddr) -> Option<PeerId> {
        self.neighbors.iter().find(|n| n.addr == addr).map(|n| n.id)
    }

    /// The driver accepted a TCP connection from neighbor `peer`. If the
    /// session does not want it, a `Close` for the key follows at once.
    pub fn accept(&mut self, now: Instant, peer: PeerId) -> Option<ConnKey> {
        let i = self.index(peer)?;
        let conn = self.neighbors[i].fsm.accept(now);
        self.neighbors[i].open_conn(conn);
        self.drain(now, peer);
        Some(ConnKey { peer, conn })
    }

    /// The outgoing connection asked for by [`Action::Connect`] is up.
    pub fn connected(&mut self, now: Instant, key: ConnKey) {
        self.conn_event(now, key, crate::fsm::ConnEvent::Connected);
    }

    /// The outgoing connection attempt failed.
    pub fn connect_failed(&mut self, now: Instant, key: ConnKey) {
        self.conn_event(now, key, crate::fsm::ConnEvent::Failed);
    }

    /// The connection was closed or reset by the other side.
    pub fn closed(&mut self, now: Instant, key: ConnKey) {
        self.conn_event(now, key, crate::fsm::ConnEvent::Closed);
    }

    /// `bytes` of what [`Action::Write`] handed out for connection `key`
    /// are written (taken by the socket). Held-back route changes towards
    /// it go out at the next [`Speaker::poll_action`] once its unwritten
    /// bytes are down to [`OUT_LOW`].
    pub fn written(&mut self, now: Instant, key: ConnKey, bytes: u64) {
        let Some(i) = self.index(key.peer) else {
            return;
        };
        let Some(c) = self.neighbors[i].conns.get_mut(&key.conn) else {
            return;
        };
        c.unwritten = c.unwritten.saturating_sub(bytes);
        if c.behind && c.unwritten <= OUT_LOW {
            c.behind = false;
            self.flush_exports(now);
        }
    }

    /// Writes to the connection are blocked (RFC 9687 send hold timer).
    pub fn send_stalled(&mut self, now: Instant, key: ConnKey) {
        self.conn_event(now, key, crate::fsm::ConnEvent::SendStalled);
    }

    /// Writes to the connection progress again.
    pub fn send_progress(&mut self, now: Instant, key: ConnKey) {
        self.conn_event(now, key, crate::fsm::ConnEvent::SendProgress);
    }

    /// Bytes read from the connection: every complete message in them is
    /// decoded and handled; a partial one waits for more.
    pub fn received(&mut self, now: Instant, key: ConnKey, bytes: &[u8]) {
        let Some(i) = self.index(key.peer) else {
            return;
        };
        let n = &mut self.neighbors[i];
        n.buffer(key.conn, bytes);
        loop {
            let Some(i) = self.index(key.peer) else {
                return;
            };
            let Some((event, issues)) = self.neighbors[i].next_message(key.conn) else {
                break;
            };
            self.neighbors[i].fsm.handle_input(now, key.conn, event);
            // The RFC 7606 issues go with the message: to the UPDATE the
            // FSM hands back for the RIB, if it does.
            self.drain_with(now, key.peer, issues);
        }
        self.flush_exports(now);
    }

    /// The BFD session to neighbor `id` went from Up to Down for a path
    /// failure (RFC 5882 §4.3: the BGP session goes down at once): Cease /
    /// BFD Down (RFC 9384) if connected, its routes withdrawn as for any
    /// session loss, and no new attempt until [`Speaker::bfd_up`].
    /// `detail` is BFD's reason, for the operator. `false` if there is no
    /// such neighbor.
    pub fn bfd_down(&mut self, now: Instant, id: PeerId, detail: &str) -> bool {
        let Some(i) = self.index(id) else {
            return false;
        };
        let note = crate::model::Notification::new(
            crate::model::error_code::CEASE,
            crate::model::subcode::cease::BFD_DOWN,
        );
        let n = &mut self.neighbors[i];
        n.bfd_held = true;
        n.last_down = Some(DownCause::BfdDown {
            detail: detail.to_owned(),
        });
        n.fsm.stop(now, Some(note));
        self.drain(now, id);
        self.flush_exports(now);
        true
    }

    /// The BFD session to neighbor `id` is Up (again): a session held down
    /// by [`Speaker::bfd_down`] starts (unless the operator disabled it).
    pub fn bfd_up(&mut self, now: Instant, id: PeerId) -> bool {
        let Some(i) = self.index(id) else {
            return false;
        };
        let n = &mut self.neighbors[i];
        if !n.bfd_held {
            return true;
        }
        n.bfd_held = false;
        if !n.disabled {
            n.fsm.start(now);
            self.drain(now, id);
        }
        true
    }

    /// Fires due timers (keepalives, hold, connect retry, stale routes).
    pub fn handle_timeout(&mut self, now: Instant) {
        let ids: Vec<PeerId> = self.neighbors.iter().map(|n| n.id).collect();
        for id in ids {
            let Some(i) = self.index(id) else { continue };
            self.neighbors[i].fsm.handle_timeout(now);
            if self.neighbors[i].stale_until.is_some_and(|t| t <= now) {
                self.neighbors[i].stale_until = None;
                self.rib.purge_stale(id);
            }
            self.drain(now, id);
        }
        self.flush_exports(now);
    }

    /// When to call [`Speaker::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.neighbors
            .iter()
            .flat_map(|n| [n.fsm.poll_timeout(), n.stale_until])
            .flatten()
            .min()
    }

    /// The next action for the driver.
    pub fn poll_action(&mut self) -> Option<Action> {
        if let Some(now) = self.exports_due.take() {
            self.encode_exports(now);
        }
        self.actions.pop_front()
    }

    /// Originates `prefix` (a static route with `advertise = true`, or one
    /// added at run time) to every neighbor.
    pub fn originate(&mut self, now: Instant, prefix: IpNet, next_hop: Option<IpAddr>) {
        self.rib.originate(prefix, next_hop);
        self.flush_exports(now);
    }

    /// [`Speaker::originate`] with a MED, communities or prepends (a
    /// static route's `med`, `communities`, `prepend`).
    pub fn originate_with(
        &mut self,
        now: Instant,
        prefix: IpNet,
        next_hop: Option<IpAddr>,
        o: &crate::rib::Origination,
    ) {
        self.rib.originate_with(prefix, next_hop, o);
        self.flush_exports(now);
    }

    /// Withdraws a locally originated prefix; `false` if there was none.
    pub fn withdraw_local(&mut self, now: Instant, prefix: IpNet) -> bool {
        let had = self.rib.withdraw_local(prefix);
        self.flush_exports(now);
        had
    }

    /// Best-route changes since the last call, for the FIB.
    pub fn take_fib_changes(&mut self) -> Vec<BestChange> {
        self.rib.take_fib_changes()
    }

    /// [`Speaker::take_fib_changes`], one change at a time.
    pub fn take_fib_changes_with(&mut self, f: impl FnMut(BestChange)) {
        self.rib.take_fib_changes_with(f)
    }

    /// At least as many changes as the next [`Speaker::take_fib_changes`]
    /// returns (to size a buffer for them).
    pub fn fib_changes_bound(&self) -> usize {
        self.rib.fib_changes_bound()
    }

    /// The RIBs, for inspection (`vcpectl show route`, `explain`).
    pub fn rib(&self) -> &Rib {
        &self.rib
    }

    /// Stops a neighbor's session (Cease / Administrative Shutdown) and
    /// keeps it down until [`Speaker::enable`].
    pub fn disable(&mut self, now: Instant, id: PeerId, message: Option<&str>) -> bool {
        let Some(i) = self.index(id) else {
            return false;
        };
        let n = message.map(|m| {
            crate::model::Notification::cease_with_message(
                crate::model::subcode::cease::ADMIN_SHUTDOWN,
                m,
            )
        });
        self.neighbors[i].fsm.stop(now, n);
        self.neighbors[i].disabled = true;
        self.drain(now, id);
        self.flush_exports(now);
        true
    }

    /// Hands the FIB up to `v4` / `v6` equal paths per prefix (ECMP; 1,
    /// the default, is off). See [`Rib::set_maximum_paths`].
    pub fn set_maximum_paths(&mut self, v4: u16, v6: u16) {
        self.rib.set_maximum_paths(v4, v6);
    }

    /// Sets our route-reflection cluster id (`None`: the router id). See
    /// [`Rib::set_cluster_id`].
    pub fn set_cluster_id(&mut self, id: Option<std::net::Ipv4Addr>) {
        self.rib.set_cluster_id(id);
    }

    /// Starts a neighbor's session again.
    pub fn enable(&mut self, now: Instant, id: PeerId) -> bool {
        let Some(i) = self.index(id) else {
            return false;
        };
        self.neighbors[i].disabled = false;
        if self.neighbors[i].bfd_held {
            // Starts when BFD is Up again.
            return true;
        }
        self.neighbors[i].fsm.start(now);
        self.drain(now, id);
        true
    }

    /// Asks the neighbor to send its routes again (ROUTE-REFRESH, RFC 2918)
    /// for every negotiated family; `false` if the session is not
    /// Established or the neighbor did not announce route refresh.
    pub fn refresh(&mut self, now: Instant, id: PeerId) -> bool {
        let Some(i) = self.index(id) else {
            return false;
        };
        let Some(neg) = self.neighbors[i].fsm.negotiated().cloned() else {
            return false;
        };
        if !neg.route_refresh {
            return false;
        }
        for family in neg.families {
            let m = crate::model::Message::RouteRefresh { family, subtype: 0 };
            if self.neighbors[i].fsm.send(now, m).is_err() {
                return false;
            }
        }
        self.drain(now, id);
        true
    }

    /// Applies a changed policy (`import`, `export`, rules, max prefixes
    /// of `rib`; its other settings are ignored) without a session reset:
    /// exports are recomputed at once, and a changed import policy asks
    /// the peer for its routes again (ROUTE-REFRESH). `Err` when the
    /// import policy changed on an established session whose peer cannot
    /// refresh: the new policy is in place, but only a session restart
    /// re-evaluates what the peer sent.
    pub fn set_policy(
        &mut self,
        now: Instant,
        id: PeerId,
        rib: &crate::rib::PeerConfig,
    ) -> Result<crate::rib::PolicyChange, crate::rib::PolicyChange> {
        let change = self.rib.set_policy(id, rib);
        if change.export {
            self.flush_exports(now);
        }
        let established = self
            .index(id)
            .is_some_and(|i| self.neighbors[i].established.is_some());
        if change.import && established && !self.refresh(now, id) {
            return Err(change);
        }
        Ok(change)
    }

    fn index(&self, id: PeerId) -> Option<usize> {
        self.neighbors.iter().position(|n| n.id == id)
    }

    fn conn_event(&mut self, now: Instant, key: ConnKey, event: crate::fsm::ConnEvent) {
        let Some(i) = self.index(key.peer) else {
            return;
        };
        self.neighbors[i].fsm.handle_input(now, key.conn, event);
        self.drain(now, key.peer);
        self.flush_exports(now);
    }

    /// Acts on everything neighbor `id`'s FSM queued.
    fn drain(&mut self, now: Instant, id: PeerId) {
        self.drain_with(now, id, Vec::new());
    }

    /// [`Speaker::drain`] after the FSM took a decoded message: `issues`
    /// are that message's RFC 7606 issues, for the UPDATE among the
    /// outputs.
    fn drain_with(&mut self, now: Instant, id: PeerId, mut issues: Vec<AttrIssue>) {
        while let Some(i) = self.index(id) {
            let Some(out) = self.neighbors[i].fsm.poll_output() else {
                break;
            };
            neighbor::act(self, i, now, out, &mut issues);
        }
    }

    /// Notes that the neighbors' Adj-RIBs-Out may have changed: they are
    /// encoded at the next [`Speaker::poll_action`].
    fn flush_exports(&mut self, now: Instant) {
        self.exports_due = Some(now);
    }

    /// Encodes every neighbor's pending Adj-RIB-Out changes, except
    /// towards a connection whose output is behind (see [`OUT_HIGH`]):
    /// its changes stay pending in the RIB.
    fn encode_exports(&mut self, now: Instant) {
        for i in 0..self.neighbors.len() {
            let n = &mut self.neighbors[i];
            let Some(c) = n.established.and_then(|c| n.conns.get_mut(&c)) else {
                continue;
            };
            if c.unwritten >= OUT_HIGH {
                c.behind = true;
            }
            if c.behind {
                continue;
            }
            let id = self.neighbors[i].id;
            let export = self.rib.take_exports(id);
            if export.is_empty() {
                continue;
            }
            let n = &mut self.neighbors[i];
            let ctx = n.ctx;
            let mut updates = Vec::new();
            if !export.withdraw.is_empty() {
                crate::wire::build_withdrawals(&export.withdraw, &ctx, &mut updates);
            }
            // ADD-PATH send families: each prefix with its Path Identifier.
            if !export.withdraw_paths.is_empty() {
                crate::wire::build_path_withdrawals(&export.withdraw_paths, &ctx, &mut updates);
            }
            // Routes whose attributes fit no UPDATE are not sent; counted
            // so that `vcpectl bgp summary` shows them.
            let mut unencodable = 0;
            for (attrs, prefixes) in &export.announce {
                unencodable +=
                    crate::wire::build_updates_counted(attrs, prefixes, &ctx, &mut updates);
            }
            for (attrs, paths) in &export.announce_paths {
                unencodable +=
                    crate::wire::build_path_updates_counted(attrs, paths, &ctx, &mut updates);
            }
            if unencodable > 0 {
                self.rib.count_unencodable(id, unencodable as u64);
            }
            for family in &export.end_of_rib {
                updates.push(crate::wire::end_of_rib(*family));
            }
            let mut out = BytesMut::new();
            let Some(conn) = n.established else { continue };
            for u in updates {
                // Through the FSM, so that it counts the message and its
                // keepalive timer restarts (RFC 4271 §4.4).
                if n.fsm.send(now, crate::model::Message::Update(u)).is_err() {
                    break;
                }
                while let Some(o) = n.fsm.poll_output() {
                    match o {
                        crate::fsm::PeerOutput::Send(c, m) if c == conn => {
                            if let Err(e) = m.encode(&ctx, &mut out) {
                                n.encode_errors += 1;
                                n.last_encode_error = Some(e.to_string());
                            }
                        }
                        other => n.deferred.push_back(other),
                    }
                }
            }
            if !out.is_empty() {
                if let Some(c) = n.conns.get_mut(&conn) {
                    c.unwritten += out.len() as u64;
                }
                self.actions.push_back(Action::Write {
                    key: ConnKey { peer: id, conn },
                    bytes: out.freeze(),
                });
            }
            self.drain_deferred(now, i);
        }
    }

    fn drain_deferred(&mut self, now: Instant, i: usize) {
        while let Some(out) = self
            .neighbors
            .get_mut(i)
            .and_then(|n| n.deferred.pop_front())
        {
            neighbor::act(self, i, now, out, &mut Vec::new());
        }
    }

    /// Summaries of every neighbor, for `vcpectl bgp summary`.
    pub fn summaries(&self, now: Instant) -> Vec<NeighborSummary> {
        self.neighbors
            .iter()
            .map(|n| view::summary(n, &self.rib, now))
            .collect()
    }
}
