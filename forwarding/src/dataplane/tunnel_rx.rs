//! The tunnel receive threads: one per underlay socket. Each reads
//! datagrams, finds the peer by its underlay source (packets from unknown
//! sources are dropped without a reply), decapsulates, drops inner packets
//! whose source the peer may not use, and runs the rest through the
//! pipeline like packets from a TUN: out of an interface (through the
//! thread's own queue of that TUN), into another tunnel (transit), or an
//! ICMP error back into the tunnel they came from.
//!
//! WireGuard timers (handshake retries, rekeying, keepalives) are ticked
//! from the same thread, every [`TICK`].

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::counters::{DropReason, Event, WorkerCounters};
use crate::fib::Egress;
use crate::pipeline::{ForwardCtx, REPLY_BUF_LEN, Verdict, forward};
use crate::tun::TunQueue;
use crate::tunnel::gre;
use crate::tunnel::peer::{Encap, TunnelPeer};
use crate::tunnel::wireguard::{WgRecv, WgTick};

use super::worker::Shared;
use super::{TunnelSocket, UnderlaySocket};

/// How often WireGuard timers are ticked.
const TICK: Duration = Duration::from_millis(250);

/// Largest underlay datagram read.
const BUF_LEN: usize = 65_536;

/// What one receive thread works with.
pub(super) struct RxThread {
    pub socket: TunnelSocket,
    /// Every tunnel peer, by tunnel id.
    pub tunnels: Arc<[Arc<TunnelPeer>]>,
    /// This thread's queue of each TUN interface, by interface id.
    pub tun_queues: Vec<TunQueue>,
}

/// The thread body; returns when `shared.stop` is set.
pub(super) fn run(t: RxThread, shared: &Shared, counters: &WorkerCounters) {
    let mut buf = vec![0u8; BUF_LEN];
    let mut out = Vec::with_capacity(BUF_LEN);
    let mut reply = [0u8; REPLY_BUF_LEN];
    let mut last_tick = Instant::now();
    let fd = match &t.socket.socket {
        UnderlaySocket::Gre(s) => s.as_raw_fd(),
        UnderlaySocket::Udp(s) => s.as_raw_fd(),
    };
    let mut reported = false;
    while !shared.stop.load(Ordering::Relaxed) {
        if last_tick.elapsed() >= TICK {
            last_tick = Instant::now();
            tick(&t, &mut out);
        }
        if !readable(fd) {
            continue;
        }
        let fib = shared.fib.snapshot();
        let ctx = shared.ctx(&fib, counters);
        for _ in 0..super::BATCH {
            let r = match &t.socket.socket {
                UnderlaySocket::Gre(s) => s
                    .recv_from(&mut buf)
                    .map(|(start, end, from)| (start, end, SocketAddr::new(from, 0))),
                UnderlaySocket::Udp(s) => s.recv_from(&mut buf).map(|(n, from)| (0, n, from)),
            };
            match r {
                Ok((start, end, from)) => {
                    let Some(peer) = find_peer(&t, from) else {
                        counters.drop_packet(DropReason::UnknownPeer);
                        continue;
                    };
                    receive(&t, peer, &mut buf[start..end], &mut out, &ctx, &mut reply);
                }
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

/// The peer an underlay datagram from `from` belongs to: GRE peers by
/// address, WireGuard peers by address and port.
fn find_peer(t: &RxThread, from: SocketAddr) -> Option<&Arc<TunnelPeer>> {
    t.socket.peers.iter().find_map(|&id| {
        let p = t.tunnels.get(id as usize)?;
        let m = match &p.encap {
            Encap::Gre { remote, .. } => *remote == from.ip(),
            Encap::WireGuard { remote, .. } => same_endpoint(*remote, from),
        };
        m.then_some(p)
    })
}

/// Endpoint equality that treats a v4-mapped IPv6 source as IPv4.
fn same_endpoint(a: SocketAddr, b: SocketAddr) -> bool {
    let canon = |s: SocketAddr| match s.ip() {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(s, |v4| SocketAddr::new(IpAddr::V4(v4), s.port())),
        IpAddr::V4(_) => s,
    };
    canon(a) == canon(b)
}

/// Decapsulates one datagram from `peer` and forwards what it carried.
fn receive(
    t: &RxThread,
    peer: &TunnelPeer,
    datagram: &mut [u8],
    out: &mut Vec<u8>,
    ctx: &ForwardCtx<'_>,
    reply: &mut [u8; REPLY_BUF_LEN],
) {
    match &peer.encap {
        Encap::Gre { key, .. } => match gre::decode(datagram) {
            Ok((h, payload)) if h.key == *key => {
                let (start, len) = (datagram.len() - payload.len(), payload.len());
                inner(t, peer, &mut datagram[start..start + len], ctx, reply);
            }
            _ => {
                peer.stats.rx_errors.fetch_add(1, Ordering::Relaxed);
                ctx.counters.drop_packet(DropReason::BadTunnel);
            }
        },
        Encap::WireGuard {
            peer: wg,
            socket,
            remote,
        } => {
            out.clear();
            let r = wg
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .decapsulate(*remote, datagram, out);
            match r {
                WgRecv::Packet { .. } => inner(t, peer, out, ctx, reply),
                WgRecv::Reply => {
                    let _ = socket.send_to(out, *remote);
                }
                WgRecv::Done => {}
                WgRecv::Error(_) => {
                    peer.stats.rx_errors.fetch_add(1, Ordering::Relaxed);
                    ctx.counters.drop_packet(DropReason::BadTunnel);
                    return;
                }
            }
            // Whatever the datagram was, it may have completed a session
            // (a responder's becomes usable with the initiator's first
            // data or keepalive): release the packets that waited for it.
            loop {
                out.clear();
                let more = wg
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .flush_queued(out);
                if !more {
                    break;
                }
                let _ = socket.send_to(out, *remote);
            }
        }
    }
}

/// An inner packet from `peer`: source check, then the pipeline.
fn inner(
    t: &RxThread,
    peer: &TunnelPeer,
    pkt: &mut [u8],
    ctx: &ForwardCtx<'_>,
    reply: &mut [u8; REPLY_BUF_LEN],
) {
    if !peer.accepts_source(pkt) {
        peer.stats.rx_spoofed.fetch_add(1, Ordering::Relaxed);
        ctx.counters.drop_packet(DropReason::Spoofed);
        return;
    }
    peer.count_rx(pkt.len());
    let mut scratch = Vec::new();
    match forward(pkt, &peer.ingress, None, ctx, reply) {
        Verdict::Forward {
            egress: Egress::Interface(e),
            ..
        } => {
            let len = super::packet_io::ip_len(pkt, false);
            match t.tun_queues.get(e as usize) {
                Some(q) => {
                    // The pipeline counted the tx already.
                    if q.send(None, &pkt[..len]).is_err() {
                        ctx.counters.event(Event::TxError);
                    }
                }
                None => ctx.counters.drop_packet(DropReason::NoEgress),
            }
        }
        Verdict::Forward {
            egress: Egress::Tunnel(e),
            ..
        } => {
            let len = super::packet_io::ip_len(pkt, false);
            match t.tunnels.get(e as usize) {
                Some(next) => {
                    if next.send(&pkt[..len], &mut scratch).is_err() {
                        ctx.counters.event(Event::TxError);
                    }
                }
                None => ctx.counters.drop_packet(DropReason::NoEgress),
            }
        }
        Verdict::Forward { .. } => ctx.counters.drop_packet(DropReason::NoEgress),
        Verdict::Reply { len, .. } => {
            let _ = peer.send(&reply[..len], &mut scratch);
        }
        Verdict::Drop(_) => {}
    }
}

/// Ticks the WireGuard timers of this socket's peers.
fn tick(t: &RxThread, out: &mut Vec<u8>) {
    for &id in &t.socket.peers {
        let Some(p) = t.tunnels.get(id as usize) else {
            continue;
        };
        if let Encap::WireGuard {
            peer,
            socket,
            remote,
        } = &p.encap
        {
            out.clear();
            let r = peer.lock().unwrap_or_else(|e| e.into_inner()).tick(out);
            match r {
                WgTick::Datagram => {
                    let _ = socket.send_to(out, *remote);
                }
                WgTick::Idle => {}
                WgTick::ConnectionExpired => {
                    // Once per expiry (with persistent keepalive, again
                    // every ~90 s of unanswered handshakes).
                    tracing::warn!(
                        peer = %p.name,
                        endpoint = %remote,
                        reason = "no WireGuard session: handshakes unanswered for 90 s, or no key exchange (no traffic) for 9 min",
                        check = "that the peer vCPE runs, that UDP reaches its endpoint both ways, and that the keys match on both sides (public_key, private_key_file, preshared_key_file); `vcpectl stats` shows the tunnel's last rx; a new handshake starts with the next packet",
                        "tunnel down"
                    );
                }
            }
        }
    }
}

/// Waits up to 100 ms for `fd` to be readable.
fn readable(fd: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, exclusively borrowed for the call.
    let n = unsafe { libc::poll(&mut p, 1, 100) };
    n > 0
}
