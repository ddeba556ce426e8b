//! A tunnel receive thread's place among the receive threads of one bind,
//! and what it counts for the control plane.
//!
//! A WireGuard or VXLAN bind has one receive socket per worker, all in one
//! `SO_REUSEPORT` group: the kernel hands each datagram to one of them by a
//! hash of its 4-tuple, so different peers land on different threads and
//! one peer's datagrams stay on one thread (its packet order is kept).
//! Every thread of a group serves every peer of the bind (a roamed peer
//! may arrive anywhere), but each peer's WireGuard timers are ticked by
//! exactly one of them: [`RxGroup::ticks`].
//!
//! [`RxThreadStats`] is the per-thread count that shows the spread
//! (`vcpectl stats`, metrics): one `Relaxed` add per receive call, not per
//! datagram.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Where a receive thread sits in the group of receive sockets of its bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxGroup {
    /// This thread's place, `0..size`.
    pub index: usize,
    /// Threads in the group (1: a socket of its own, as GRE's).
    pub size: usize,
}

impl RxGroup {
    /// A thread alone on its socket.
    pub const ALONE: RxGroup = RxGroup { index: 0, size: 1 };

    /// Whether this thread ticks tunnel `id`'s WireGuard timers: of the
    /// threads of a group, exactly one ticks each peer (by id), so a
    /// keepalive or handshake retry is sent once, and the ticking work is
    /// spread like the receiving.
    pub fn ticks(self, id: u32) -> bool {
        id as usize % self.size.max(1) == self.index
    }
}

/// What one receive thread counted; written by that thread only.
#[derive(Debug, Default)]
pub struct RxThreadStats {
    /// Underlay datagrams read (a UDP GRO buffer counts as its segments).
    pub datagrams: AtomicU64,
    /// Receive calls that returned at least one datagram.
    pub batches: AtomicU64,
}

impl RxThreadStats {
    /// Counts one receive call that brought `datagrams`.
    pub(super) fn count(&self, datagrams: usize) {
        if datagrams > 0 {
            self.datagrams.fetch_add(datagrams as u64, Relaxed);
            self.batches.fetch_add(1, Relaxed);
        }
    }
}

/// One running receive thread, as [`super::Dataplane::receive_threads`]
/// reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RxThreadSnapshot {
    /// The OS thread name (`vcpe-tun-rx-N`).
    pub thread: String,
    /// What it reads: the label its socket was started with (for example
    /// `wireguard 0.0.0.0:51820`).
    pub socket: String,
    /// Its place in the socket's group.
    pub group: RxGroup,
    /// Underlay datagrams read since it started.
    pub datagrams: u64,
    /// Receive calls that brought datagrams.
    pub batches: u64,
}

impl RxThreadSnapshot {
    /// `stats` read now.
    pub(super) fn read(
        thread: String,
        socket: String,
        group: RxGroup,
        stats: &RxThreadStats,
    ) -> Self {
        RxThreadSnapshot {
            thread,
            socket,
            group,
            datagrams: stats.datagrams.load(Relaxed),
            batches: stats.batches.load(Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_peer_is_ticked_by_exactly_one_thread_of_its_group() {
        for size in 1..=5 {
            for id in 0..64u32 {
                let tickers = (0..size)
                    .filter(|&index| RxGroup { index, size }.ticks(id))
                    .count();
                assert_eq!(tickers, 1, "peer {id} in a group of {size}");
            }
        }
        assert!(RxGroup::ALONE.ticks(7));
    }

    #[test]
    fn ticking_is_spread_over_the_group() {
        let per_thread: Vec<usize> = (0..4)
            .map(|index| {
                (0..100u32)
                    .filter(|&id| RxGroup { index, size: 4 }.ticks(id))
                    .count()
            })
            .collect();
        assert_eq!(per_thread, vec![25; 4]);
    }

    #[test]
    fn a_receive_call_counts_its_datagrams_and_an_empty_one_nothing() {
        let s = RxThreadStats::default();
        s.count(0);
        s.count(3);
        s.count(64);
        let snap = RxThreadSnapshot::read("t".into(), "s".into(), RxGroup::ALONE, &s);
        assert_eq!((snap.datagrams, snap.batches), (67, 2));
    }
}
