//! The immutable, published state of the FIB that forwarding threads read,
//! and the cloneable reader handle [`Fib`] that hands snapshots out.
//!
//! A [`FibSnapshot`] is never modified after publication; the writer builds a
//! new one (sharing unchanged shards) and swaps it in with `arc-swap`, so a
//! lookup is a few plain loads with no lock, atomic read-modify-write or wait.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Deref;
use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};

use super::groups::PublishedGroups;
use super::nexthop::NextHopGroup;
use super::poptrie::{Cpu, LANES, Shard, lookup, lookup_lanes};

/// One published, immutable version of the FIB.
pub struct FibSnapshot {
    pub(crate) v4: Box<[Arc<Shard<u32>>]>,
    pub(crate) v6: Box<[Arc<Shard<u128>>]>,
    /// Which lookup code to run, detected once per snapshot.
    pub(crate) cpu: Cpu,
    pub(crate) groups: PublishedGroups,
    pub(crate) v4_routes: usize,
    pub(crate) v6_routes: usize,
    pub(crate) group_count: usize,
    pub(crate) memory_bytes: usize,
    pub(crate) generation: u64,
}

impl FibSnapshot {
    /// Longest-prefix match for an IPv4 destination.
    #[inline]
    pub fn lookup_v4(&self, addr: Ipv4Addr) -> Option<&NextHopGroup> {
        let key = u32::from(addr);
        let id = lookup(self.cpu, &self.v4, key);
        self.group(id)
    }

    /// Longest-prefix match for an IPv6 destination.
    #[inline]
    pub fn lookup_v6(&self, addr: Ipv6Addr) -> Option<&NextHopGroup> {
        let key = u128::from(addr);
        let id = lookup(self.cpu, &self.v6, key);
        self.group(id)
    }

    /// Longest-prefix match for either family.
    #[inline]
    pub fn lookup(&self, addr: IpAddr) -> Option<&NextHopGroup> {
        match addr {
            IpAddr::V4(a) => self.lookup_v4(a),
            IpAddr::V6(a) => self.lookup_v6(a),
        }
    }

    /// Longest-prefix match for a batch of IPv4 destinations: `out[i]` gets
    /// the group for `addrs[i]`. Several lookups proceed in lockstep so their
    /// memory accesses overlap; prefer this over [`Self::lookup_v4`] for
    /// packet batches. Panics if `out` is shorter than `addrs`.
    pub fn lookup_v4_batch<'a>(&'a self, addrs: &[Ipv4Addr], out: &mut [Option<&'a NextHopGroup>]) {
        assert!(out.len() >= addrs.len(), "output shorter than input");
        let mut keys = [0u32; LANES];
        let mut ids = [0u32; LANES];
        for (addrs, out) in addrs.chunks(LANES).zip(out.chunks_mut(LANES)) {
            for (k, a) in keys.iter_mut().zip(addrs) {
                *k = u32::from(*a);
            }
            lookup_lanes(self.cpu, &self.v4, &keys[..addrs.len()], &mut ids);
            for (o, &id) in out.iter_mut().zip(&ids[..addrs.len()]) {
                *o = self.group(id);
            }
        }
    }

    /// IPv6 counterpart of [`Self::lookup_v4_batch`].
    pub fn lookup_v6_batch<'a>(&'a self, addrs: &[Ipv6Addr], out: &mut [Option<&'a NextHopGroup>]) {
        assert!(out.len() >= addrs.len(), "output shorter than input");
        let mut keys = [0u128; LANES];
        let mut ids = [0u32; LANES];
        for (addrs, out) in addrs.chunks(LANES).zip(out.chunks_mut(LANES)) {
            for (k, a) in keys.iter_mut().zip(addrs) {
                *k = u128::from(*a);
            }
            lookup_lanes(self.cpu, &self.v6, &keys[..addrs.len()], &mut ids);
            for (o, &id) in out.iter_mut().zip(&ids[..addrs.len()]) {
                *o = self.group(id);
            }
        }
    }

    #[inline(always)]
    fn group(&self, id: u32) -> Option<&NextHopGroup> {
        // Id 0 ("no route") and freed ids are `None` in the table.
        self.groups.get(id as usize)?.as_deref()
    }

    /// Routes of both families.
    pub fn route_count(&self) -> usize {
        self.v4_routes + self.v6_routes
    }

    /// IPv4 routes.
    pub fn v4_route_count(&self) -> usize {
        self.v4_routes
    }

    /// IPv6 routes.
    pub fn v6_route_count(&self) -> usize {
        self.v6_routes
    }

    /// Bytes of memory this snapshot's lookup structures and next-hop groups
    /// occupy (shards shared with other snapshots counted in full).
    pub fn memory_bytes(&self) -> usize {
        self.memory_bytes
    }

    /// Publication counter: 0 for the empty FIB, +1 per publish.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Counts and memory, as a [`FibStats`].
    pub fn stats(&self) -> FibStats {
        FibStats {
            v4_routes: self.v4_routes,
            v6_routes: self.v6_routes,
            groups: self.group_count,
            memory_bytes: self.memory_bytes,
            generation: self.generation,
        }
    }
}

impl fmt::Debug for FibSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FibSnapshot")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Route counts and memory of one snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FibStats {
    /// IPv4 routes.
    pub v4_routes: usize,
    /// IPv6 routes.
    pub v6_routes: usize,
    /// Distinct next-hop groups in use.
    pub groups: usize,
    /// See [`FibSnapshot::memory_bytes`].
    pub memory_bytes: usize,
    /// See [`FibSnapshot::generation`].
    pub generation: u64,
}

/// The reader handle: clone one per forwarding thread. Loading a snapshot
/// never blocks, whatever the writer is doing.
#[derive(Clone)]
pub struct Fib {
    pub(crate) current: Arc<ArcSwap<FibSnapshot>>,
}

impl Fib {
    /// The current snapshot, as a cheap guard. Take one per batch of packets
    /// and do all the batch's lookups against it; don't hold it for long
    /// (a thread can hold only a few guards cheaply; use
    /// [`Fib::snapshot_arc`] for long-lived references).
    #[inline]
    pub fn snapshot(&self) -> SnapshotGuard {
        SnapshotGuard(self.current.load())
    }

    /// The current snapshot as an owned `Arc`, for holding across awaits or
    /// long operations (one atomic increment more than [`Fib::snapshot`]).
    pub fn snapshot_arc(&self) -> Arc<FibSnapshot> {
        self.current.load_full()
    }

    /// Counts and memory of the current snapshot.
    pub fn stats(&self) -> FibStats {
        self.current.load().stats()
    }
}

impl fmt::Debug for Fib {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fib").field("stats", &self.stats()).finish()
    }
}

/// A loaded snapshot; dereferences to [`FibSnapshot`].
pub struct SnapshotGuard(Guard<Arc<FibSnapshot>>);

impl Deref for SnapshotGuard {
    type Target = FibSnapshot;

    #[inline]
    fn deref(&self) -> &FibSnapshot {
        &self.0
    }
}

impl fmt::Debug for SnapshotGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
