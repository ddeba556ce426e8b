//! The WireGuard handshake thread (`vcpe-wg-hs`, one per dataplane) and its
//! bounded queue: the receive threads hand every handshake message
//! (initiation, response, cookie reply) over by its type byte and length
//! alone and go on with the data; nothing of a handshake runs on them.
//!
//! A handshake flood (issue 19 item 5: 92 kpps of initiations with a valid
//! mac1, spoofed from a peer's own address, so on the same receive thread
//! as its data) so costs a receive thread one copy per datagram into the
//! queue, or nothing but a count when the queue is full
//! (`dropped_queue_full`). This thread, at a priority below the receive
//! threads' and ordinary processes' (nice 10), does per message what may
//! cost CPU, cheapest first:
//!
//! The queue and the counts are [`super::handshake_queue`]'s.
//!
//! 1. mac1 and the cookie logic ([`HandshakeGate`], one per private key
//!    of ours): under load (queue ≥ 1/8 full, sticky 1 s: [`LoadState`])
//!    a handshake without a valid mac2 gets a cookie reply and nothing
//!    else (`cookie_replies_sent`);
//! 2. the DH budget ([`DhBudget`]: per second, per source IP and overall
//!    for handshakes with a valid cookie, overall for those without; when
//!    the latter is spent the thread goes under load; `rate_limited`);
//! 3. the peer: by the initiator's static key (one X25519), or by the
//!    receiver index;
//! 4. the handshake under the peer's lock (`accepted`), the reply sent,
//!    the peer's queued packets released, its endpoint roamed.
//!
//! A flood is logged once when the queue first goes under load (with what
//! to do) and once when it has not been for [`LOG_EVERY`] (the state
//! itself may flap while a flood lasts).

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use crate::counters::{DropReason, WorkerCounters};
use crate::tunnel::handshake_gate::{
    DH_OPEN_TOTAL, DH_PER_IP, DH_TOTAL, DhBudget, GateVerdict, HandshakeGate, LoadChange, LoadState,
};
use crate::tunnel::peer::{Encap, TunnelPeer};
use crate::tunnel::roaming::proves_sender;
use crate::tunnel::wireguard::{
    WgMessage, WgRecv, initiator_public_key, message_type, receiver_index,
};

use super::handshake_queue::{HandshakeQueue, Item, QUEUE_CAPACITY, TAKE};
use super::peer_index::PeerIndex;
use super::tables::Tables;
use super::worker::Shared;

/// The handshake thread's nice value: below the workers and receive
/// threads (-10) and below ordinary processes (0), so that a flood it
/// answers with cookies takes what CPU is left, not the data's or the
/// applications' (its queue then overflows, which costs a receive thread
/// a count). An idle machine runs it at once all the same.
const HANDSHAKE_NICE: libc::c_int = 10;

/// Under-load transitions logged at most this often.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The handshake thread's state.
struct Hs<'a> {
    shared: &'a Shared,
    queue: &'a HandshakeQueue,
    counters: &'a WorkerCounters,
    gates: HashMap<[u8; 32], HandshakeGate>,
    /// DHs for handshakes that proved their address (mac2).
    proven: DhBudget,
    /// DHs for those that passed without (up to 100 per address).
    open: DhBudget,
    load: LoadState,
    /// Peer indexes by the receive thread's peer list they were built for
    /// (held, so that its address is not reused).
    indexes: Vec<(Arc<[u32]>, PeerIndex)>,
    out: Vec<u8>,
    cookies: Cookies,
    /// When a peer index was last rebuilt for a message no key matched.
    rebuilt: Instant,
    /// The flood being logged: when it started, cookie replies sent then.
    episode: Option<(Instant, u64)>,
    /// Since when it is no longer under load (while `episode`).
    calm_since: Option<Instant>,
}

/// The thread body; returns when `shared.stop` is set.
pub(super) fn run(shared: &Shared, queue: &HandshakeQueue, counters: &WorkerCounters) {
    // SAFETY: gettid has no preconditions; setpriority with PRIO_PROCESS
    // and a thread id changes only this thread's nice value (Linux).
    let rc = unsafe {
        libc::setpriority(
            libc::PRIO_PROCESS,
            libc::gettid() as libc::id_t,
            HANDSHAKE_NICE,
        )
    };
    if rc != 0 {
        tracing::debug!(nice = HANDSHAKE_NICE, error = %std::io::Error::last_os_error(),
            "could not lower the handshake thread's priority");
    }
    let now = Instant::now();
    let mut hs = Hs {
        shared,
        queue,
        counters,
        gates: HashMap::new(),
        proven: DhBudget::new(DH_PER_IP, DH_TOTAL, now),
        open: DhBudget::new(u32::MAX, DH_OPEN_TOTAL, now),
        load: LoadState::default(),
        indexes: Vec::new(),
        out: Vec::with_capacity(4096),
        cookies: Cookies::default(),
        rebuilt: now,
        episode: None,
        calm_since: None,
    };
    let mut batch = Vec::with_capacity(TAKE);
    while !shared.stop.load(Relaxed) {
        let depth = queue.take(&mut batch, Duration::from_millis(250));
        let now = Instant::now();
        let first = batch.first().map(|i| i.from);
        if let Some(change) = hs.load.observe(depth, QUEUE_CAPACITY, now) {
            hs.report(change, first, now);
        }
        hs.log_recovery(now);
        let tables = shared.tables.load_full();
        for item in batch.drain(..) {
            hs.handle(&item, &tables, now);
        }
        hs.cookies.flush();
    }
}

/// Cookie replies to one destination, sent together: one UDP GSO
/// `sendmsg` for up to [`TAKE`] of them (a flood from one address is
/// answered at a fraction of the syscalls, and of the receiver's work).
#[derive(Default)]
struct Cookies {
    to: Option<(Arc<UdpSocket>, SocketAddr)>,
    buf: Vec<u8>,
    ends: Vec<usize>,
}

impl Cookies {
    /// Adds `reply` for `to` from `socket`; sends what was batched first
    /// if that was for another destination.
    fn add(&mut self, socket: &Arc<UdpSocket>, to: SocketAddr, reply: &[u8]) {
        let same = self
            .to
            .as_ref()
            .is_some_and(|(s, t)| Arc::ptr_eq(s, socket) && *t == to);
        let uniform = self.ends.first().is_none_or(|&first| first == reply.len());
        if !same || !uniform || self.ends.len() >= TAKE {
            self.flush();
            self.to = Some((Arc::clone(socket), to));
        }
        self.buf.extend_from_slice(reply);
        self.ends.push(self.buf.len());
    }

    /// Sends what is batched.
    fn flush(&mut self) {
        if let Some((socket, to)) = self.to.take()
            && !self.ends.is_empty()
        {
            crate::tunnel::batch::send_udp(&socket, &self.buf, &self.ends, to);
        }
        self.buf.clear();
        self.ends.clear();
    }
}

impl Hs<'_> {
    /// Publishes a change of the under-load state; logs the start of a
    /// flood (once per flood: the state may flap while it lasts).
    fn report(&mut self, change: LoadChange, source: Option<SocketAddr>, now: Instant) {
        let s = &self.queue.stats;
        match change {
            LoadChange::Loaded => {
                let since = now.saturating_duration_since(self.shared.epoch).as_millis();
                s.under_load_since_ms.store(since as u64, Relaxed);
                s.under_load.store(true, Relaxed);
                s.under_load_events.fetch_add(1, Relaxed);
                self.calm_since = None;
                if self.episode.is_none() {
                    self.episode = Some((now, s.cookie_replies_sent.load(Relaxed)));
                    tracing::warn!(
                        from = %source.map_or_else(|| "?".to_owned(), |s| s.to_string()),
                        queue_capacity = QUEUE_CAPACITY,
                        "WireGuard handshake flood: the handshake queue is under load; every handshake now needs a cookie (mac2) and the data path is not affected. Check where the handshakes come from (`vcpectl stats`: handshakes; tcpdump on the underlay): a peer that keeps restarting, or a spoofing flood; filter it upstream if it lasts"
                    );
                }
            }
            LoadChange::Recovered(_) => {
                s.under_load.store(false, Relaxed);
                self.calm_since = Some(now);
            }
        }
    }

    /// Logs the end of a flood once it has been calm for [`LOG_EVERY`].
    fn log_recovery(&mut self, now: Instant) {
        let (Some((start, cookies)), Some(calm)) = (self.episode, self.calm_since) else {
            return;
        };
        if now.saturating_duration_since(calm) < LOG_EVERY {
            return;
        }
        let sent = self.queue.stats.cookie_replies_sent.load(Relaxed);
        tracing::info!(
            lasted_secs = calm.saturating_duration_since(start).as_secs(),
            cookie_replies = sent - cookies,
            "WireGuard handshake flood over: the handshake queue has not been under load for 10 s; cookies are required again only above 100 handshakes per second from one address"
        );
        self.episode = None;
        self.calm_since = None;
    }

    /// One handshake message.
    fn handle(&mut self, item: &Item, tables: &Arc<Tables>, now: Instant) {
        let (queue, counters) = (self.queue, self.counters);
        let d = item.bytes();
        let Some(kind) = message_type(d) else {
            refuse(queue, counters, DropReason::BadTunnel);
            return;
        };
        let under_load = self.load.since().is_some();
        let slot = self.index_slot(&item.peers);
        // Cheapest first: mac1 and cookies, for each private key of ours
        // on this bind (usually one).
        let mut verified = None;
        let mut proven = false;
        for attempt in 0..2 {
            let (peers, index) = &mut self.indexes[slot];
            if attempt == 1 {
                // Our key may have been rotated in place (a reload swaps
                // a peer's keys without a new table): rebuild, at most
                // once a second (a flood of junk is no reason to).
                if now.saturating_duration_since(self.rebuilt) < Duration::from_secs(1) {
                    break;
                }
                self.rebuilt = now;
                index.invalidate();
            }
            index.refresh(peers, tables);
            for private in index.privates() {
                let gate = self
                    .gates
                    .entry(*private)
                    .or_insert_with(|| HandshakeGate::new(private, now));
                match gate.check(item.from, d, under_load) {
                    GateVerdict::Invalid => continue,
                    GateVerdict::Cookie(reply) => {
                        self.cookies.add(&item.socket, item.from, &reply);
                        queue.stats.cookie_replies_sent.fetch_add(1, Relaxed);
                        return;
                    }
                    GateVerdict::Pass {
                        verified: v,
                        proven: p,
                    } => {
                        verified = Some(v);
                        proven = p;
                        break;
                    }
                }
            }
            if verified.is_some() {
                break;
            }
        }
        let Some(verified) = verified else {
            // mac1 is for none of our keys: a stranger's, as a datagram
            // of no peer.
            refuse(queue, counters, DropReason::UnknownPeer);
            return;
        };
        if kind != WgMessage::CookieReply {
            let budget = if proven {
                &mut self.proven
            } else {
                &mut self.open
            };
            if !budget.take(item.from.ip(), now) {
                queue.stats.rate_limited.fetch_add(1, Relaxed);
                if !proven && let Some(change) = self.load.force(now) {
                    self.report(change, Some(item.from), now);
                }
                return;
            }
        }
        let (peers, index) = &mut self.indexes[slot];
        let id = match kind {
            WgMessage::HandshakeInit => index.by_initiator(d, tables).or_else(|| {
                // A key changed in place since the index was built: scan
                // (one X25519 per distinct private key; the DH budget
                // above bounds how often), and rebuild the index.
                let id = scan_initiator(peers, tables, d)?;
                index.invalidate();
                Some(id)
            }),
            _ => receiver_index(d).and_then(|i| {
                index.by_receiver_index(i, tables, || {
                    peers.iter().copied().find(|&id| {
                        matches!(tables.tunnel(id as usize).map(|p| &p.encap),
                            Some(Encap::WireGuard { roaming, .. }) if roaming.owns(i))
                    })
                })
            }),
        };
        let Some(peer) = id.and_then(|id| tables.tunnel(id as usize)) else {
            refuse(queue, counters, DropReason::UnknownPeer);
            return;
        };
        let peer = Arc::clone(peer);
        self.handshake(&peer, item, kind, verified);
    }

    /// The handshake under the peer's lock; replies sent after it.
    fn handshake(
        &mut self,
        peer: &TunnelPeer,
        item: &Item,
        kind: WgMessage,
        verified: crate::tunnel::handshake_gate::Verified,
    ) {
        let Encap::WireGuard {
            peer: wg,
            socket,
            roaming,
            ..
        } = &peer.encap
        else {
            return;
        };
        self.out.clear();
        let mut flushed = Vec::new();
        let r = {
            let mut wg = wg.lock().unwrap_or_else(|e| e.into_inner());
            let r = wg.handshake(verified, &mut self.out);
            roaming.publish(wg.local_indices());
            if !matches!(r, WgRecv::Error(_)) {
                let mut buf = Vec::new();
                while wg.flush_queued_append(&mut buf) {
                    flushed.push(std::mem::take(&mut buf));
                }
            }
            r
        };
        match r {
            WgRecv::Error(_) => {
                peer.stats.rx_errors.fetch_add(1, Relaxed);
                refuse(self.queue, self.counters, DropReason::BadTunnel);
                return;
            }
            WgRecv::Reply => {
                let _ = socket.send_to(&self.out, item.from);
            }
            WgRecv::Packet { .. } | WgRecv::Done => {}
        }
        self.queue.stats.accepted.fetch_add(1, Relaxed);
        if proves_sender(Some(kind), &r, &self.out)
            && let Some(previous) = roaming.roam(item.from)
        {
            roamed(&peer.name, previous, item.from);
        }
        let to = roaming.endpoint().unwrap_or(item.from);
        for d in &flushed {
            let _ = socket.send_to(d, to);
        }
    }

    /// The slot of the peer index for `peers` (a receive thread's list;
    /// a few per bind), created if new.
    fn index_slot(&mut self, peers: &Arc<[u32]>) -> usize {
        if let Some(i) = self.indexes.iter().position(|(p, _)| Arc::ptr_eq(p, peers)) {
            return i;
        }
        // Lists replaced by a reload are forgotten wholesale.
        if self.indexes.len() >= 64 {
            self.indexes.clear();
        }
        self.indexes.push((Arc::clone(peers), PeerIndex::default()));
        self.indexes.len() - 1
    }
}

/// The peer among `peers` whose static key sent initiation `d`, by
/// decrypting it with each of our private keys.
fn scan_initiator(peers: &[u32], tables: &Tables, d: &[u8]) -> Option<u32> {
    let mut cache: Option<([u8; 32], Option<[u8; 32]>)> = None;
    peers.iter().copied().find(|&id| {
        let Some(Encap::WireGuard { keys, .. }) = tables.tunnel(id as usize).map(|p| &p.encap)
        else {
            return false;
        };
        let keys = keys.load();
        let initiator = match &cache {
            Some((private, k)) if *private == keys.private => *k,
            _ => {
                let k = initiator_public_key(&keys.private, d);
                cache = Some((keys.private, k));
                k
            }
        };
        initiator == Some(keys.peer_public)
    })
}

/// Counts a refused handshake message.
fn refuse(queue: &HandshakeQueue, counters: &WorkerCounters, reason: DropReason) {
    queue.stats.refused.fetch_add(1, Relaxed);
    counters.drop_packet(reason);
}

/// Logs that a WireGuard peer's endpoint moved (`previous`: where it was).
pub(super) fn roamed(peer: &str, previous: Option<SocketAddr>, to: SocketAddr) {
    match previous {
        Some(old) => {
            tracing::info!(peer = %peer, from = %old, to = %to, "WireGuard peer roamed: its endpoint follows the latest authenticated packet");
        }
        None => {
            tracing::info!(peer = %peer, endpoint = %to, "WireGuard peer connected: endpoint learned from its first authenticated packet");
        }
    }
}
