//! The bounded queue between the tunnel receive threads and the WireGuard
//! handshake thread ([`super::handshake`]), and what the thread counts.
//!
//! A receive thread copies each handshake message (at most 148 bytes) with
//! its source and socket into an [`Item`] and pushes a receive batch's worth
//! under one lock; when the queue is full the rest is dropped and counted
//! (`dropped_queue_full`), which is all a flood costs a receive thread then.
//! The handshake thread takes up to [`TAKE`] at a time, sleeping on a
//! condvar while it is empty; a push wakes it at once (a `notify` only when
//! it sleeps, so a busy queue costs no system call).

use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Handshake messages waiting at most; more are dropped and counted.
pub const QUEUE_CAPACITY: usize = 4096;

/// The longest handshake message (an initiation).
const MAX_LEN: usize = 148;

/// Messages taken from the queue per lock.
pub(super) const TAKE: usize = 64;

/// One handshake message as a receive thread read it.
pub(super) struct Item {
    /// The bind's socket, to answer on.
    pub socket: Arc<UdpSocket>,
    /// The peers behind it (the receive thread's list).
    pub peers: Arc<[u32]>,
    pub from: SocketAddr,
    pub len: usize,
    pub buf: [u8; MAX_LEN],
}

impl Item {
    /// `d` (at most [`MAX_LEN`] bytes: every handshake message fits) from
    /// `from`.
    pub fn new(socket: &Arc<UdpSocket>, peers: &Arc<[u32]>, from: SocketAddr, d: &[u8]) -> Item {
        let len = d.len().min(MAX_LEN);
        let mut buf = [0u8; MAX_LEN];
        buf[..len].copy_from_slice(&d[..len]);
        Item {
            socket: Arc::clone(socket),
            peers: Arc::clone(peers),
            from,
            len,
            buf,
        }
    }

    pub(super) fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// What the handshake thread counted; read by the control plane.
#[derive(Debug, Default)]
pub struct HandshakeStats {
    /// Messages the receive threads queued.
    pub queued: AtomicU64,
    /// Dropped by a receive thread: the queue was full.
    pub dropped_queue_full: AtomicU64,
    /// Passed the gate but over the DH budget: dropped.
    pub rate_limited: AtomicU64,
    /// Cookie replies sent (under load, or over a source's rate).
    pub cookie_replies_sent: AtomicU64,
    /// Handshake messages a peer accepted (a response or session followed).
    pub accepted: AtomicU64,
    /// Refused: bad mac1, no such peer, or the handshake failed (replayed,
    /// wrong key).
    pub refused: AtomicU64,
    /// Whether the queue is under load now.
    pub under_load: AtomicBool,
    /// Since when, in ms since the dataplane started (valid while
    /// `under_load`).
    pub under_load_since_ms: AtomicU64,
    /// Times it went under load.
    pub under_load_events: AtomicU64,
    /// Messages waiting now.
    pub depth: AtomicUsize,
}

/// [`HandshakeStats`] read at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HandshakeSnapshot {
    /// See [`HandshakeStats::queued`].
    pub queued: u64,
    /// See [`HandshakeStats::dropped_queue_full`].
    pub dropped_queue_full: u64,
    /// See [`HandshakeStats::rate_limited`].
    pub rate_limited: u64,
    /// See [`HandshakeStats::cookie_replies_sent`].
    pub cookie_replies_sent: u64,
    /// See [`HandshakeStats::accepted`].
    pub accepted: u64,
    /// See [`HandshakeStats::refused`].
    pub refused: u64,
    /// Seconds it has been under load, `None` when it is not.
    pub under_load_secs: Option<u64>,
    /// See [`HandshakeStats::under_load_events`].
    pub under_load_events: u64,
    /// Messages waiting now.
    pub queue_depth: usize,
    /// [`QUEUE_CAPACITY`].
    pub queue_capacity: usize,
}

/// The queue between the receive threads and the handshake thread.
#[derive(Debug, Default)]
pub(super) struct HandshakeQueue {
    state: Mutex<QueueState>,
    wake: Condvar,
    pub stats: HandshakeStats,
}

#[derive(Default)]
struct QueueState {
    items: VecDeque<Item>,
    /// The handshake thread waits on the condvar (so a push must wake it).
    sleeping: bool,
}

impl std::fmt::Debug for QueueState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueState")
            .field("items", &self.items.len())
            .field("sleeping", &self.sleeping)
            .finish()
    }
}

impl HandshakeQueue {
    /// Queues `items` (emptied), dropping and counting what does not fit;
    /// wakes the handshake thread at once if it sleeps.
    pub fn push(&self, items: &mut Vec<Item>) {
        if items.is_empty() {
            return;
        }
        let offered = items.len() as u64;
        let (wake, dropped) = {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let room = QUEUE_CAPACITY.saturating_sub(s.items.len());
            let dropped = items.len().saturating_sub(room);
            items.truncate(room);
            s.items.extend(items.drain(..));
            self.stats.depth.store(s.items.len(), Relaxed);
            (s.sleeping, dropped as u64)
        };
        items.clear();
        self.stats.queued.fetch_add(offered - dropped, Relaxed);
        if dropped > 0 {
            self.stats.dropped_queue_full.fetch_add(dropped, Relaxed);
        }
        if wake {
            self.wake.notify_one();
        }
    }

    /// Up to [`TAKE`] messages into `out`, waiting up to `timeout` for
    /// the first; the depth before taking.
    pub(super) fn take(&self, out: &mut Vec<Item>, timeout: Duration) -> usize {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.items.is_empty() {
            s.sleeping = true;
            s = self
                .wake
                .wait_timeout(s, timeout)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            s.sleeping = false;
        }
        let depth = s.items.len();
        let n = depth.min(TAKE);
        out.extend(s.items.drain(..n));
        self.stats.depth.store(s.items.len(), Relaxed);
        depth
    }

    /// The counts now; `epoch` is when the dataplane started.
    pub fn snapshot(&self, epoch: Instant) -> HandshakeSnapshot {
        let s = &self.stats;
        let under_load_secs = s.under_load.load(Relaxed).then(|| {
            let since = epoch + Duration::from_millis(s.under_load_since_ms.load(Relaxed));
            since.elapsed().as_secs()
        });
        HandshakeSnapshot {
            queued: s.queued.load(Relaxed),
            dropped_queue_full: s.dropped_queue_full.load(Relaxed),
            rate_limited: s.rate_limited.load(Relaxed),
            cookie_replies_sent: s.cookie_replies_sent.load(Relaxed),
            accepted: s.accepted.load(Relaxed),
            refused: s.refused.load(Relaxed),
            under_load_secs,
            under_load_events: s.under_load_events.load(Relaxed),
            queue_depth: s.depth.load(Relaxed),
            queue_capacity: QUEUE_CAPACITY,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(socket: &Arc<UdpSocket>, peers: &Arc<[u32]>) -> Item {
        Item::new(socket, peers, "10.0.0.1:1".parse().unwrap(), &[1; 148])
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
        let peers: Arc<[u32]> = Arc::from(vec![0u32]);
        let q = HandshakeQueue::default();
        let mut items: Vec<Item> = (0..QUEUE_CAPACITY + 10)
            .map(|_| item(&socket, &peers))
            .collect();
        q.push(&mut items);
        assert!(items.is_empty());
        let s = q.snapshot(Instant::now());
        assert_eq!(s.queued, QUEUE_CAPACITY as u64);
        assert_eq!(s.dropped_queue_full, 10);
        assert_eq!(s.queue_depth, QUEUE_CAPACITY);
        let mut out = Vec::new();
        assert_eq!(q.take(&mut out, Duration::ZERO), QUEUE_CAPACITY);
        assert_eq!(out.len(), TAKE);
        assert_eq!(out[0].bytes(), &[1; 148]);
    }

    #[test]
    fn a_push_wakes_the_sleeping_thread_at_once() {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
        let peers: Arc<[u32]> = Arc::from(vec![0u32]);
        let q = Arc::new(HandshakeQueue::default());
        let q2 = Arc::clone(&q);
        let t = std::thread::spawn(move || {
            let mut out = Vec::new();
            let started = Instant::now();
            q2.take(&mut out, Duration::from_secs(30));
            (out.len(), started.elapsed())
        });
        std::thread::sleep(Duration::from_millis(50));
        q.push(&mut vec![item(&socket, &peers)]);
        let (n, waited) = t.join().unwrap();
        assert_eq!(n, 1);
        assert!(waited < Duration::from_secs(30), "woken by the push");
    }
}
