//! The tunnel receive threads: one per underlay socket (a WireGuard or
//! VXLAN bind has a group of them, one per worker; see [`super::rx_group`]).
//! Each reads a batch
//! of datagrams with one system call (`recvmmsg`; on UDP sockets with UDP
//! GRO, so a sender's GSO burst arrives as one buffer), finds the peer
//! (GRE and VXLAN by underlay source; WireGuard as WireGuard does: by the
//! receiver index of the session, an initiation by its sender's static
//! public key; see [`crate::tunnel::roaming`]), drops datagrams of no
//! peer without a reply, decapsulates (a WireGuard peer is locked once per
//! run of datagrams from it, not per packet), drops inner packets whose source
//! the peer may not use, and runs the rest through the pipeline like
//! packets from a TUN: out of an interface, into another tunnel (transit),
//! or an ICMP error back into the tunnel they came from.
//!
//! Packets for an interface go through that interface's [`Coalescer`]:
//! consecutive TCP segments of a flow leave as one GSO super-packet in one
//! TUN write. Every coalescer is flushed at the end of each receive batch,
//! so no packet waits for more than the batch it came in.
//!
//! A WireGuard peer's endpoint follows the source of its latest
//! authenticated datagram (roaming), so a peer behind a NAT that changes
//! its port, or one we have no `endpoint` for, keeps working.
//!
//! WireGuard timers (handshake retries, rekeying, keepalives) are ticked
//! from the receive threads, every [`TICK`]: each peer by exactly one
//! thread of its bind's group ([`RxGroup::ticks`]). A receive thread does
//! not process handshake messages: it recognises them by type and length
//! and hands them to the handshake thread ([`super::handshake`]), so that
//! a handshake flood costs the data path a copy per datagram at most; a
//! peer roams on data on whichever thread received it (the peer's state is
//! behind its lock); every reply leaves from the bind's port (any socket
//! of the group: they share it).
//!
//! A receive thread runs as long as its socket is used: its peer list and
//! the TUN queues it writes into change while it runs, by messages in its
//! mailbox ([`super::control`]), whose eventfd it polls next to the socket.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::counters::{DropReason, Event, WorkerCounters};
use crate::fib::Egress;
use crate::pipeline::{ForwardCtx, REPLY_BUF_LEN, Verdict, forward};
use crate::tun::gro::{CoalesceStats, Coalescer};
use crate::tun::{TunQueue, VnetHdr};
use crate::tunnel::gre;
use crate::tunnel::gre_socket::{MAX_BATCH as GRE_BATCH, RecvMeta, RecvStatus};
use crate::tunnel::peer::WgKeys;
use crate::tunnel::peer::{Encap, TunnelPeer};
use crate::tunnel::roaming::{Roaming, proves_sender};
use crate::tunnel::udp_batch::{self, RecvBatch};
use crate::tunnel::vxlan::{self, Frame};
use crate::tunnel::wireguard::{WgMessage, WgRecv, WgTick, message_type, receiver_index};

use super::UnderlaySocket;
use super::control::{Mailbox, RxCommand};
use super::handshake_queue::Item;
use super::peer_index::PeerIndex;
use super::rx_group::{RxGroup, RxThreadStats};
use super::tables::Tables;
use super::worker::Shared;

/// How often WireGuard timers are ticked.
const TICK: Duration = Duration::from_millis(250);

/// Receive calls per wake-up before the thread looks at its timers, the
/// stop flag and a fresh FIB snapshot.
const ROUNDS: usize = 8;

/// Bytes per GRE receive buffer (one underlay datagram).
const GRE_BUF_LEN: usize = 65_536;

/// What one receive thread works with.
pub(super) struct RxThread {
    pub socket: UnderlaySocket,
    /// Tunnel ids of the peers behind the socket.
    pub peers: Vec<u32>,
    /// Its place in its bind's group: which peers it ticks.
    pub group: RxGroup,
    /// What it counts for `vcpectl stats`.
    pub stats: Arc<RxThreadStats>,
    /// Changes: peers, TUN queues, stop.
    pub mailbox: Mailbox<RxCommand>,
    /// Every queue of each TUN interface (dups of the workers' fds), by
    /// interface id. A flow is always written into the same queue, chosen
    /// by its hash: the kernel's TUN steers the flow's other direction to
    /// the queue it was last written on, so each flow's return traffic is
    /// read by one worker and flows spread over all workers.
    pub tun_queues: Vec<Vec<TunQueue>>,
    /// Whether each of them takes UDP super-packets (USO).
    pub uso: Vec<bool>,
}

/// What a decrypted WireGuard datagram left in the burst buffer.
#[derive(Debug, Clone, Copy)]
enum Decrypted {
    /// An inner packet at this range.
    Packet(usize, usize),
    /// A datagram to send back to the peer at this range.
    Reply(usize, usize),
    /// Refused.
    Error,
}

/// A receive thread's reusable state.
struct Rx {
    t: RxThread,
    /// The tunnel table of this batch.
    tables: Arc<Tables>,
    /// One coalescer per TUN interface, by interface id.
    gro: Vec<Coalescer>,
    gro_stats: CoalesceStats,
    /// Decrypted packets of one burst, back to back.
    plain: Vec<u8>,
    items: Vec<Decrypted>,
    scratch: Vec<u8>,
    reply: [u8; REPLY_BUF_LEN],
    /// The peer of the last datagram, by tunnel id (most bursts come from
    /// one peer).
    last: Option<(SocketAddr, usize)>,
    /// When the current receive batch was read.
    now: Instant,
    /// `t.peers` as handed along with handshake messages.
    peers_shared: Arc<[u32]>,
    /// Handshake messages of this batch, for the handshake thread.
    handshakes: Vec<Item>,
    /// The socket's peers by address, key and receiver index.
    index: PeerIndex,
}

/// The thread body; returns when `shared.stop` is set or it is told to
/// stop.
pub(super) fn run(t: RxThread, shared: &Shared, counters: &WorkerCounters) {
    // Half of every tunnelled flow's path: as urgent as the workers.
    super::worker::raise_priority();
    let mut udp = match &t.socket {
        UnderlaySocket::Udp(s) => {
            if !udp_batch::enable_gro(s) {
                tracing::debug!("UDP GRO refused by the kernel; datagrams arrive one by one");
            }
            Some(RecvBatch::new())
        }
        UnderlaySocket::Gre(_) => None,
    };
    let mut gre_bufs: Vec<Vec<u8>> = match &t.socket {
        UnderlaySocket::Gre(_) => (0..GRE_BATCH).map(|_| vec![0u8; GRE_BUF_LEN]).collect(),
        UnderlaySocket::Udp(_) => Vec::new(),
    };
    let mut gre_meta = vec![RecvMeta::default(); GRE_BATCH];
    let fd = match &t.socket {
        UnderlaySocket::Gre(s) => s.as_raw_fd(),
        UnderlaySocket::Udp(s) => s.as_raw_fd(),
    };
    let t_peers = t.peers.clone();
    let mut rx = Rx {
        gro: t
            .tun_queues
            .iter()
            .enumerate()
            .map(|(i, _)| coalescer(t.uso.get(i).copied().unwrap_or(false)))
            .collect(),
        t,
        tables: shared.tables.load_full(),
        gro_stats: CoalesceStats::default(),
        plain: Vec::with_capacity(1 << 17),
        items: Vec::with_capacity(udp_batch::SLOTS * 64),
        scratch: Vec::new(),
        reply: [0u8; REPLY_BUF_LEN],
        last: None,
        now: Instant::now(),
        peers_shared: Arc::from(t_peers),
        handshakes: Vec::new(),
        index: PeerIndex::default(),
    };
    let mut last_tick = Instant::now();
    let mut reported = false;
    while !shared.stop.load(Ordering::Relaxed) {
        if last_tick.elapsed() >= TICK {
            last_tick = Instant::now();
            rx.tables = shared.tables.load_full();
            tick(&rx.t.peers, rx.t.group, &rx.tables, &mut rx.scratch);
        }
        let (socket_ready, mail) = readable(fd, rx.t.mailbox.fd());
        if mail {
            let mut stop = false;
            while let Some(c) = rx.t.mailbox.next() {
                stop |= rx.apply(c);
            }
            if stop {
                break;
            }
        }
        if !socket_ready {
            continue;
        }
        rx.tables = shared.tables.load_full();
        let fib = shared.fib.snapshot();
        let tables = Arc::clone(&rx.tables);
        let ctx = shared.ctx(&fib, &tables, counters);
        for _ in 0..ROUNDS {
            rx.now = Instant::now();
            let r = match (&rx.t.socket, udp.as_mut()) {
                (UnderlaySocket::Udp(s), Some(batch)) => {
                    let s = Arc::clone(s);
                    batch.recv(&s).map(|n| {
                        let datagrams = rx.udp_batch(batch, &s, &ctx);
                        shared.handshakes.push(&mut rx.handshakes);
                        rx.t.stats.count(datagrams);
                        n == udp_batch::SLOTS
                    })
                }
                (UnderlaySocket::Gre(s), _) => {
                    let s = Arc::clone(s);
                    let mut bufs: Vec<&mut [u8]> =
                        gre_bufs.iter_mut().map(|b| b.as_mut_slice()).collect();
                    s.recv_batch(&mut bufs, &mut gre_meta).map(|n| {
                        rx.t.stats.count(n);
                        for (buf, meta) in bufs.iter_mut().zip(&gre_meta).take(n) {
                            rx.gre_datagram(buf, meta, &ctx);
                        }
                        n == GRE_BATCH
                    })
                }
                (UnderlaySocket::Udp(_), None) => Ok(false),
            };
            rx.flush(&ctx);
            match r {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    if !reported {
                        tracing::warn!(error = %e, "reading from the tunnel underlay socket failed (further errors are not logged)");
                        reported = true;
                    }
                    break;
                }
            }
        }
    }
}

/// A TUN's coalescer, with UDP super-packets if it takes them.
fn coalescer(uso: bool) -> Coalescer {
    if uso {
        Coalescer::with_udp()
    } else {
        Coalescer::new()
    }
}

impl Rx {
    /// Applies one change; `true`: stop the thread.
    fn apply(&mut self, c: RxCommand) -> bool {
        match c {
            RxCommand::AddPort { id, queues, uso } => {
                let id = id as usize;
                if self.t.tun_queues.len() <= id {
                    self.t.tun_queues.resize_with(id + 1, Vec::new);
                    self.t.uso.resize(id + 1, false);
                    self.gro.resize_with(id + 1, Coalescer::new);
                }
                self.t.tun_queues[id] = queues;
                self.t.uso[id] = uso;
                self.gro[id] = coalescer(uso);
            }
            RxCommand::RemovePort { id, done } => {
                if let Some(q) = self.t.tun_queues.get_mut(id as usize) {
                    q.clear();
                }
                done.signal();
            }
            RxCommand::SetPeers(peers) => {
                self.peers_shared = Arc::from(peers.as_slice());
                self.t.peers = peers;
                // The cached peer may no longer be this socket's.
                self.last = None;
                self.index.invalidate();
            }
            RxCommand::Stop => return true,
        }
        false
    }
}

impl Rx {
    /// The WireGuard peer of a datagram by its receiver index (data; the
    /// handshake thread finds the peers of handshake messages).
    fn find_wireguard(&mut self, from: SocketAddr, d: &[u8]) -> Option<Arc<TunnelPeer>> {
        self.index.refresh(&self.t.peers, &self.tables);
        let peers = &self.t.peers;
        let tables = &self.tables;
        let wg = |id: u32| -> Option<(&Arc<TunnelPeer>, &Roaming, &arc_swap::ArcSwap<WgKeys>)> {
            let p = tables.tunnel(id as usize)?;
            match &p.encap {
                Encap::WireGuard { roaming, keys, .. } => Some((p, roaming, keys)),
                _ => None,
            }
        };
        let id = match message_type(d)? {
            // The handshake thread's (see `udp_batch`).
            WgMessage::HandshakeInit => return None,
            _ => {
                let index = receiver_index(d)?;
                let cached = self.last.map(|(_, id)| id as u32);
                match cached.filter(|&id| wg(id).is_some_and(|(_, r, _)| r.owns(index))) {
                    Some(id) => id,
                    None => self.index.by_receiver_index(index, tables, || {
                        peers
                            .iter()
                            .copied()
                            .find(|&id| wg(id).is_some_and(|(_, r, _)| r.owns(index)))
                    })?,
                }
            }
        } as usize;
        self.last = Some((from, id));
        self.tables.tunnel(id).cloned()
    }

    /// The peer an underlay datagram from `from` belongs to: GRE and VXLAN
    /// peers by address (WireGuard peers: [`Rx::find_wireguard`]).
    fn find_peer(&mut self, from: SocketAddr) -> Option<Arc<TunnelPeer>> {
        if let Some((addr, id)) = self.last
            && addr == from
        {
            return self.tables.tunnel(id).cloned();
        }
        self.index.refresh(&self.t.peers, &self.tables);
        let id = self.index.by_addr(from.ip())? as usize;
        self.last = Some((from, id));
        self.tables.tunnel(id).cloned()
    }

    /// Handles everything one `recvmmsg` on a UDP socket brought; how many
    /// datagrams that was (a GRO buffer counts as its segments).
    fn udp_batch(
        &mut self,
        batch: &mut RecvBatch,
        socket: &Arc<std::net::UdpSocket>,
        ctx: &ForwardCtx<'_>,
    ) -> usize {
        let mut datagrams = 0;
        let wireguard = self.t.peers.first().is_some_and(|&id| {
            self.tables
                .tunnel(id as usize)
                .is_some_and(|p| matches!(p.encap, Encap::WireGuard { .. }))
        });
        for (from, segment, buf) in batch.buffers() {
            datagrams += buf.len().div_ceil(segment).max(1);
            // WireGuard handshake messages (by type and length only: one
            // byte per datagram) go to the handshake thread; a GRO run is
            // split only when it holds any.
            if wireguard && buf.chunks(segment).any(|d| d.first() != Some(&4)) {
                self.wireguard_mixed(from, segment, buf, socket, ctx);
                continue;
            }
            let peer = if wireguard {
                let first = &buf[..segment.min(buf.len())];
                self.find_wireguard(from, first)
            } else {
                self.find_peer(from)
            };
            let Some(peer) = peer else {
                ctx.counters.drop_packet(DropReason::UnknownPeer);
                continue;
            };
            match &peer.encap {
                Encap::WireGuard { .. } => self.wireguard(&peer, from, segment, buf, ctx),
                Encap::Vxlan(_) => {
                    for d in buf.chunks_mut(segment) {
                        self.vxlan(&peer, d, ctx);
                    }
                }
                Encap::Gre { .. } => ctx.counters.drop_packet(DropReason::BadTunnel),
            }
        }
        datagrams
    }

    /// A GRO buffer with WireGuard handshake messages (or junk): those to
    /// the handshake thread's queue (a response or cookie reply only if
    /// its receiver index is one of ours), data datagram by datagram.
    fn wireguard_mixed(
        &mut self,
        from: SocketAddr,
        segment: usize,
        buf: &mut [u8],
        socket: &Arc<std::net::UdpSocket>,
        ctx: &ForwardCtx<'_>,
    ) {
        for d in buf.chunks_mut(segment) {
            match message_type(d) {
                Some(WgMessage::Data) => match self.find_wireguard(from, d) {
                    Some(peer) => {
                        let len = d.len();
                        self.wireguard(&peer, from, len, d, ctx);
                    }
                    None => ctx.counters.drop_packet(DropReason::UnknownPeer),
                },
                Some(WgMessage::HandshakeInit) => {
                    self.handshakes
                        .push(Item::new(socket, &self.peers_shared, from, d))
                }
                // Addressed to a session index of ours: found without
                // crypto, so replies to nothing we sent (cookie replies
                // of a flood spoofed from our address) stop here.
                Some(WgMessage::HandshakeResp | WgMessage::CookieReply) => {
                    if self.find_wireguard(from, d).is_some() {
                        self.handshakes
                            .push(Item::new(socket, &self.peers_shared, from, d));
                    } else {
                        ctx.counters.drop_packet(DropReason::UnknownPeer);
                    }
                }
                None => ctx.counters.drop_packet(DropReason::UnknownPeer),
            }
        }
    }

    /// Decrypts the datagrams of one GRO buffer under one lock of the
    /// peer, then sends what must go back and forwards the packets.
    fn wireguard(
        &mut self,
        peer: &TunnelPeer,
        from: SocketAddr,
        segment: usize,
        buf: &mut [u8],
        ctx: &ForwardCtx<'_>,
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
        self.plain.clear();
        self.items.clear();
        let mut authenticated = false;
        let mut flushed = 0;
        {
            let mut wg = wg.lock().unwrap_or_else(|e| e.into_inner());
            let mut handshake = false;
            for d in buf.chunks(segment) {
                let start = self.plain.len();
                let r = wg.decapsulate_append(from, d, &mut self.plain);
                let kind = message_type(d);
                authenticated |= proves_sender(kind, &r, &self.plain[start..]);
                handshake |= kind != Some(WgMessage::Data);
                let item = match r {
                    WgRecv::Packet { .. } => Decrypted::Packet(start, self.plain.len()),
                    WgRecv::Reply => Decrypted::Reply(start, self.plain.len()),
                    WgRecv::Done => continue,
                    WgRecv::Error(_) => Decrypted::Error,
                };
                self.items.push(item);
            }
            if handshake {
                roaming.publish(wg.local_indices());
            }
            // A datagram may have completed a session (a responder's
            // becomes usable with the initiator's first data or
            // keepalive): release the packets that waited for it.
            loop {
                let start = self.plain.len();
                if !wg.flush_queued_append(&mut self.plain) {
                    break;
                }
                flushed += 1;
                self.items.push(Decrypted::Reply(start, self.plain.len()));
            }
        }
        // Roaming: the endpoint follows the latest authenticated source.
        if authenticated && let Some(previous) = roaming.roam(from) {
            super::handshake::roamed(&peer.name, previous, from);
        }
        // Replies (handshake responses, cookies) go back where the datagram
        // came from; queued packets to the peer's endpoint.
        let to = if flushed > 0 {
            roaming.endpoint().unwrap_or(from)
        } else {
            from
        };
        let items = std::mem::take(&mut self.items);
        let mut plain = std::mem::take(&mut self.plain);
        for item in &items {
            match *item {
                Decrypted::Packet(a, b) => self.inner(peer, &mut plain[a..b], ctx),
                Decrypted::Reply(a, b) => {
                    let _ = socket.send_to(&plain[a..b], to);
                }
                Decrypted::Error => {
                    peer.stats.rx_errors.fetch_add(1, Ordering::Relaxed);
                    ctx.counters.drop_packet(DropReason::BadTunnel);
                }
            }
        }
        self.items = items;
        self.plain = plain;
    }

    /// One VXLAN datagram: learn the peer's MAC, answer ARP/ND, forward IP.
    fn vxlan(&mut self, peer: &TunnelPeer, d: &mut [u8], ctx: &ForwardCtx<'_>) {
        let Encap::Vxlan(v) = &peer.encap else {
            return;
        };
        let decoded = match vxlan::decode(d, v.vni) {
            // Another VNI from the same VTEP: another peer, if we have it.
            Err(vxlan::VxlanError::WrongVni(vni)) => match self.vxlan_peer(v.remote, vni) {
                Some(other) => return self.vxlan(&other, d, ctx),
                None => Err(vxlan::VxlanError::WrongVni(vni)),
            },
            r => r,
        };
        match decoded {
            Ok(frame) => {
                v.learn(frame.src_mac);
                match frame.frame {
                    Frame::Ip { start } => self.inner(peer, &mut d[start..], ctx),
                    Frame::Control => {
                        if let Some(reply) = vxlan::answer(d, v.vni, v.mac) {
                            let _ = v.socket.send_to(&reply, v.remote);
                        }
                    }
                }
            }
            Err(_) => {
                peer.stats.rx_errors.fetch_add(1, Ordering::Relaxed);
                ctx.counters.drop_packet(DropReason::BadTunnel);
            }
        }
    }

    /// The VXLAN peer of this socket at `remote`'s address with `vni`.
    fn vxlan_peer(&self, remote: SocketAddr, vni: u32) -> Option<Arc<TunnelPeer>> {
        self.t.peers.iter().find_map(|&id| {
            let p = self.tables.tunnel(id as usize)?;
            match &p.encap {
                Encap::Vxlan(v) if v.vni == vni && same_ip(v.remote.ip(), remote.ip()) => {
                    Some(Arc::clone(p))
                }
                _ => None,
            }
        })
    }

    /// One datagram from the raw GRE socket.
    fn gre_datagram(&mut self, buf: &mut [u8], meta: &RecvMeta, ctx: &ForwardCtx<'_>) {
        if meta.status != RecvStatus::Ok || meta.offset > meta.end || meta.end > buf.len() {
            ctx.counters.drop_packet(DropReason::BadTunnel);
            return;
        }
        let Some(peer) = self.find_peer(SocketAddr::new(meta.src, 0)) else {
            ctx.counters.drop_packet(DropReason::UnknownPeer);
            return;
        };
        let datagram = &mut buf[meta.offset..meta.end];
        let Encap::Gre { key, .. } = &peer.encap else {
            ctx.counters.drop_packet(DropReason::BadTunnel);
            return;
        };
        match gre::decode(datagram) {
            Ok((h, payload)) if h.key == *key => {
                let (start, len) = (datagram.len() - payload.len(), payload.len());
                self.inner(&peer, &mut datagram[start..start + len], ctx);
            }
            _ => {
                peer.stats.rx_errors.fetch_add(1, Ordering::Relaxed);
                ctx.counters.drop_packet(DropReason::BadTunnel);
            }
        }
    }

    /// An inner packet from `peer`: source check, then the pipeline; what
    /// leaves through an interface goes through its coalescer.
    fn inner(&mut self, peer: &TunnelPeer, pkt: &mut [u8], ctx: &ForwardCtx<'_>) {
        if let Err(reason) = peer.check_inner(pkt) {
            // Junk is a decapsulation error, not the peer spoofing.
            let counter = if reason == DropReason::Spoofed {
                &peer.stats.rx_spoofed
            } else {
                &peer.stats.rx_errors
            };
            counter.fetch_add(1, Ordering::Relaxed);
            ctx.counters.drop_packet(reason);
            return;
        }
        peer.count_rx_at(pkt.len(), self.now);
        match forward(pkt, &peer.ingress, None, ctx, &mut self.reply) {
            Verdict::Forward {
                egress: Egress::Interface(e),
                ..
            } => {
                let len = super::packet_io::ip_len(pkt, false);
                let e = e as usize;
                let (Some(qs), Some(gro)) = (self.t.tun_queues.get(e), self.gro.get_mut(e)) else {
                    ctx.counters.drop_packet(DropReason::NoEgress);
                    return;
                };
                // The pipeline counted the tx already.
                if qs.first().is_some_and(TunQueue::vnet_hdr) {
                    gro.push(&pkt[..len], &mut self.gro_stats, &mut |h, b| {
                        send_flow(qs, h, b, ctx);
                    });
                } else {
                    send_flow(qs, None, &pkt[..len], ctx);
                }
            }
            Verdict::Forward {
                egress: Egress::Tunnel(e),
                gateway,
            } => {
                let len = super::packet_io::ip_len(pkt, false);
                match self.tables.tunnel(e as usize) {
                    Some(next) => {
                        next.resolve(gateway, pkt);
                        if next.send(&pkt[..len], &mut self.scratch).is_err() {
                            ctx.counters.event(Event::TxError);
                        }
                    }
                    None => ctx.counters.drop_packet(DropReason::NoEgress),
                }
            }
            Verdict::Forward { .. } => ctx.counters.drop_packet(DropReason::NoEgress),
            Verdict::Reply { len, .. } => {
                let _ = peer.send(&self.reply[..len], &mut self.scratch);
            }
            Verdict::Drop(_) => {}
        }
    }

    /// Writes whatever the coalescers hold (end of a receive batch).
    fn flush(&mut self, ctx: &ForwardCtx<'_>) {
        for (gro, qs) in self.gro.iter_mut().zip(&self.t.tun_queues) {
            if gro.is_empty() {
                continue;
            }
            gro.flush(&mut self.gro_stats, &mut |h, b| send_flow(qs, h, b, ctx));
        }
    }
}

/// Writes `pkt` (one flow's packet or super-packet) into the queue of
/// `queues` its flow hash picks.
fn send_flow(queues: &[TunQueue], hdr: Option<&VnetHdr>, pkt: &[u8], ctx: &ForwardCtx<'_>) {
    let n = queues.len().max(1);
    let Some(q) = queues.get(crate::pipeline::flow::of_packet(pkt) as usize % n) else {
        ctx.counters.drop_packet(DropReason::NoEgress);
        return;
    };
    if q.send(hdr, pkt).is_err() {
        ctx.counters.event(Event::TxError);
    }
}

/// Address equality that treats a v4-mapped IPv6 address as IPv4.
fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    a.to_canonical() == b.to_canonical()
}

/// Ticks the WireGuard timers of this socket's peers that are this
/// thread's to tick (`group`).
fn tick(peers: &[u32], group: RxGroup, tables: &Tables, out: &mut Vec<u8>) {
    for &id in peers.iter().filter(|&&id| group.ticks(id)) {
        let Some(p) = tables.tunnel(id as usize) else {
            continue;
        };
        if let Encap::WireGuard {
            peer,
            socket,
            roaming,
            ..
        } = &p.encap
        {
            out.clear();
            let r = {
                let mut wg = peer.lock().unwrap_or_else(|e| e.into_inner());
                let r = wg.tick(out);
                if r == WgTick::Datagram {
                    roaming.publish(wg.local_indices());
                }
                r
            };
            let remote = roaming.endpoint();
            match r {
                WgTick::Datagram => {
                    // Without an endpoint (a responder-only peer that has
                    // not connected yet) there is nowhere to send it.
                    if let Some(remote) = remote {
                        let _ = socket.send_to(out, remote);
                    }
                }
                WgTick::Idle => {}
                WgTick::ConnectionExpired => {
                    // Once per expiry (with persistent keepalive, again
                    // every ~90 s of unanswered handshakes).
                    tracing::warn!(
                        peer = %p.name,
                        endpoint = %remote.map_or_else(|| "none yet".to_owned(), |r| r.to_string()),
                        reason = "no WireGuard session: handshakes unanswered for 90 s, or no key exchange (no traffic) for 9 min",
                        check = "that the peer vCPE runs, that UDP reaches its endpoint both ways, and that the keys match on both sides (public_key, private_key_file, preshared_key_file); `vcpectl stats` shows the tunnel's last rx; a new handshake starts with the next packet",
                        "tunnel down"
                    );
                }
            }
        }
    }
}

/// Waits up to 100 ms for `fd` or the mailbox `mail` to be readable;
/// which of them are.
fn readable(fd: i32, mail: i32) -> (bool, bool) {
    let mut p = [fd, mail].map(|fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    });
    if !super::poll_fds(&mut p, 100) {
        return (false, false);
    }
    (p[0].revents != 0, p[1].revents != 0)
}
