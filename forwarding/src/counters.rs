//! Dataplane counters: per-port rx/tx packets and bytes, per-reason drops and
//! a few pipeline events, written lock-free by the workers and read by the
//! control plane (`vcpectl stats`, Prometheus).
//!
//! Each worker owns one cache-line-aligned [`WorkerCounters`] shard and bumps
//! it with `Relaxed` atomics (no contention, no false sharing); the reader
//! sums the shards in [`Counters::snapshot`]. Totals are eventually
//! consistent: a snapshot taken mid-packet may see the rx of a packet but not
//! yet its drop or tx.
//!
//! Ports and tunnels come and go while the dataplane runs, so every shard
//! has room for [`PORT_CAPACITY`] interfaces and [`TUNNEL_CAPACITY`]
//! tunnels from the start (more if the start-up config has more): a new
//! port or tunnel has counters at once, without reallocating what the
//! workers write. Tunnel receive threads come and go too: each takes a
//! shard from a pool ([`Counters::lease`]) and gives it back when it
//! stops; a returned shard keeps its counts (totals never go down) and is
//! handed to the next receive thread that starts. A tunnel id reused for
//! another peer starts from zero ([`Counters::reset_tunnel`]).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// Interface ids every shard has counters for (at least).
pub const PORT_CAPACITY: usize = 64;

/// Tunnel ids every shard has counters for (at least): tunnel ids are not
/// reused before this many were handed out.
pub const TUNNEL_CAPACITY: usize = 1024;

/// Why the pipeline dropped a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DropReason {
    /// Not a well-formed IPv4/IPv6 packet (version, IHL, length, checksum).
    BadHeader,
    /// Martian source or destination (loopback, multicast, unspecified, ...).
    Martian,
    /// TTL / hop limit would reach zero.
    TtlExpired,
    /// No FIB route for the destination.
    NoRoute,
    /// The route is a discard (blackhole) route.
    Blackhole,
    /// Bigger than the egress MTU (DF set, IPv6, or IPv4 needing fragmentation).
    TooBig,
    /// Administratively filtered (e.g. IPv4 source-route options).
    Filtered,
    /// The route's egress has no MTU entry: the FIB and interface tables disagree.
    NoEgress,
    /// Decapsulated from a tunnel peer, but its inner source is not in the
    /// prefixes that peer may send from (anti-spoofing).
    Spoofed,
    /// An underlay datagram that did not decapsulate (bad GRE header or
    /// key, failed WireGuard authentication).
    BadTunnel,
    /// An underlay datagram from an address that is no configured peer
    /// (dropped without a reply).
    UnknownPeer,
}

impl DropReason {
    /// Number of reasons.
    pub const COUNT: usize = 11;
    /// All reasons, in counter order.
    pub const ALL: [DropReason; Self::COUNT] = [
        DropReason::BadHeader,
        DropReason::Martian,
        DropReason::TtlExpired,
        DropReason::NoRoute,
        DropReason::Blackhole,
        DropReason::TooBig,
        DropReason::Filtered,
        DropReason::NoEgress,
        DropReason::Spoofed,
        DropReason::BadTunnel,
        DropReason::UnknownPeer,
    ];

    /// Stable snake_case name for stats output and metric labels.
    pub const fn name(self) -> &'static str {
        match self {
            DropReason::BadHeader => "bad_header",
            DropReason::Martian => "martian",
            DropReason::TtlExpired => "ttl_expired",
            DropReason::NoRoute => "no_route",
            DropReason::Blackhole => "blackhole",
            DropReason::TooBig => "too_big",
            DropReason::Filtered => "filtered",
            DropReason::NoEgress => "no_egress",
            DropReason::Spoofed => "spoofed_source",
            DropReason::BadTunnel => "bad_tunnel_packet",
            DropReason::UnknownPeer => "unknown_tunnel_peer",
        }
    }
}

/// Pipeline events that are not drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Event {
    /// An ICMP/ICMPv6 error was built (a `Reply` verdict).
    IcmpSent,
    /// An ICMP error was due but the token bucket was empty.
    IcmpRateLimited,
    /// An ICMP error was due but not allowed (about an ICMP error, a
    /// non-first fragment, or the reply buffer was too small).
    IcmpSuppressed,
    /// An ICMP error was due but the ingress has no address of that family.
    IcmpNoSource,
    /// A TCP SYN's MSS option was lowered.
    MssClamped,
    /// A GSO super-packet was forwarded.
    GsoForwarded,
    /// A port id outside the counter table (its rx/tx were not counted).
    UnknownPort,
    /// Writing a forwarded packet or ICMP error to its egress failed (the
    /// egress queue was full or the device went away).
    TxError,
    /// A GSO super-packet was split into segments because its egress has no
    /// segmentation offload.
    GsoSplit,
}

impl Event {
    /// Number of events.
    pub const COUNT: usize = 9;
    /// All events, in counter order.
    pub const ALL: [Event; Self::COUNT] = [
        Event::IcmpSent,
        Event::IcmpRateLimited,
        Event::IcmpSuppressed,
        Event::IcmpNoSource,
        Event::MssClamped,
        Event::GsoForwarded,
        Event::UnknownPort,
        Event::TxError,
        Event::GsoSplit,
    ];

    /// Stable snake_case name for stats output and metric labels.
    pub const fn name(self) -> &'static str {
        match self {
            Event::IcmpSent => "icmp_sent",
            Event::IcmpRateLimited => "icmp_rate_limited",
            Event::IcmpSuppressed => "icmp_suppressed",
            Event::IcmpNoSource => "icmp_no_source",
            Event::MssClamped => "mss_clamped",
            Event::GsoForwarded => "gso_forwarded",
            Event::UnknownPort => "unknown_port",
            Event::TxError => "tx_error",
            Event::GsoSplit => "gso_split",
        }
    }
}

/// A port a packet enters or leaves by (counters are kept per port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Port {
    /// A TUN interface by its dense id.
    Interface(u32),
    /// The tunnel to a peer vCPE by its dense id.
    Tunnel(u32),
}

/// Adds `n` to a counter only its own worker writes: a plain load + store
/// (no locked read-modify-write, ~4x cheaper on x86). Readers still see
/// whole values; a shard wrongly shared by two writers would lose counts,
/// never corrupt memory.
#[inline(always)]
fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
}

/// rx/tx counters of one port in one worker, one cache line.
#[derive(Debug, Default)]
#[repr(align(64))]
struct PortCounters {
    rx_packets: AtomicU64,
    rx_bytes: AtomicU64,
    tx_packets: AtomicU64,
    tx_bytes: AtomicU64,
}

/// One worker's counter shard. Exactly one thread (its worker) may write
/// it; any thread may read it.
#[derive(Debug)]
#[repr(align(64))]
pub struct WorkerCounters {
    drops: [AtomicU64; DropReason::COUNT],
    events: [AtomicU64; Event::COUNT],
    interfaces: Box<[PortCounters]>,
    tunnels: Box<[PortCounters]>,
}

impl WorkerCounters {
    fn new(interfaces: usize, tunnels: usize) -> Self {
        WorkerCounters {
            drops: Default::default(),
            events: Default::default(),
            interfaces: (0..interfaces).map(|_| PortCounters::default()).collect(),
            tunnels: (0..tunnels).map(|_| PortCounters::default()).collect(),
        }
    }

    fn port(&self, port: Port) -> Option<&PortCounters> {
        let r = match port {
            Port::Interface(i) => self.interfaces.get(i as usize),
            Port::Tunnel(i) => self.tunnels.get(i as usize),
        };
        if r.is_none() {
            self.event(Event::UnknownPort);
        }
        r
    }

    /// Counts a dropped packet.
    #[inline]
    pub fn drop_packet(&self, reason: DropReason) {
        bump(&self.drops[reason as usize], 1);
    }

    /// Counts an event.
    #[inline]
    pub fn event(&self, event: Event) {
        bump(&self.events[event as usize], 1);
    }

    /// Counts a received packet of `bytes` on `port`.
    #[inline]
    pub fn rx(&self, port: Port, bytes: usize) {
        if let Some(p) = self.port(port) {
            bump(&p.rx_packets, 1);
            bump(&p.rx_bytes, bytes as u64);
        }
    }

    /// Counts a transmitted packet of `bytes` on `port`.
    #[inline]
    pub fn tx(&self, port: Port, bytes: usize) {
        if let Some(p) = self.port(port) {
            bump(&p.tx_packets, 1);
            bump(&p.tx_bytes, bytes as u64);
        }
    }
}

/// All workers' counters; share it (`Arc`) between the workers and the
/// control plane.
#[derive(Debug)]
pub struct Counters {
    workers: Box<[WorkerCounters]>,
    /// Shards of the tunnel receive threads, with whether one is leased.
    pool: Mutex<Vec<(Arc<WorkerCounters>, bool)>>,
    interfaces: usize,
    tunnels: usize,
}

/// A shard leased by one tunnel receive thread; back to the pool on drop.
#[derive(Debug)]
pub struct ShardLease {
    counters: Arc<Counters>,
    slot: usize,
    shard: Arc<WorkerCounters>,
}

impl std::ops::Deref for ShardLease {
    type Target = WorkerCounters;
    fn deref(&self) -> &WorkerCounters {
        &self.shard
    }
}

impl Drop for ShardLease {
    fn drop(&mut self) {
        let mut pool = self
            .counters
            .pool
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(s) = pool.get_mut(self.slot) {
            s.1 = false;
        }
    }
}

impl Counters {
    /// Counters for `workers` workers, interface ids `0..interfaces` and
    /// tunnel ids `0..tunnels`, at least [`PORT_CAPACITY`] and
    /// [`TUNNEL_CAPACITY`] (ids beyond are counted as
    /// [`Event::UnknownPort`]).
    pub fn new(workers: usize, interfaces: usize, tunnels: usize) -> Self {
        Self::exact(
            workers,
            interfaces.max(PORT_CAPACITY),
            tunnels.max(TUNNEL_CAPACITY),
        )
    }

    /// As [`Counters::new`] without the minimum capacities.
    pub fn exact(workers: usize, interfaces: usize, tunnels: usize) -> Self {
        Counters {
            workers: (0..workers.max(1))
                .map(|_| WorkerCounters::new(interfaces, tunnels))
                .collect(),
            pool: Mutex::new(Vec::new()),
            interfaces,
            tunnels,
        }
    }

    /// Interface ids counted (`0..interface_capacity()`).
    pub fn interface_capacity(&self) -> usize {
        self.interfaces
    }

    /// Tunnel ids counted (`0..tunnel_capacity()`).
    pub fn tunnel_capacity(&self) -> usize {
        self.tunnels
    }

    /// A shard for a tunnel receive thread: a returned one if any (its
    /// counts stay in the totals), else a new one.
    pub fn lease(self: &Arc<Self>) -> ShardLease {
        let mut pool = self
            .pool
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let slot = match pool.iter().position(|(_, used)| !used) {
            Some(i) => i,
            None => {
                pool.push((
                    Arc::new(WorkerCounters::new(self.interfaces, self.tunnels)),
                    false,
                ));
                pool.len() - 1
            }
        };
        pool[slot].1 = true;
        ShardLease {
            counters: Arc::clone(self),
            slot,
            shard: Arc::clone(&pool[slot].0),
        }
    }

    /// Zeroes the counters of tunnel id `id` (about to be reused for
    /// another peer; nothing sends into it meanwhile).
    pub fn reset_tunnel(&self, id: u32) {
        let pool = self
            .pool
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let shards = self.workers.iter().chain(pool.iter().map(|(s, _)| &**s));
        for w in shards {
            if let Some(p) = w.tunnels.get(id as usize) {
                for c in [&p.rx_packets, &p.rx_bytes, &p.tx_packets, &p.tx_bytes] {
                    c.store(0, Relaxed);
                }
            }
        }
    }

    /// The shard of worker `index`; `None` if out of range.
    pub fn worker(&self, index: usize) -> Option<&WorkerCounters> {
        self.workers.get(index)
    }

    /// Number of worker shards.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Sums all shards into plain numbers.
    pub fn snapshot(&self) -> CountersSnapshot {
        let mut s = CountersSnapshot {
            interfaces: vec![PortStats::default(); self.interfaces],
            tunnels: vec![PortStats::default(); self.tunnels],
            drops: [0; DropReason::COUNT],
            events: [0; Event::COUNT],
        };
        let pool = self
            .pool
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for w in self.workers.iter().chain(pool.iter().map(|(s, _)| &**s)) {
            for (acc, c) in s.drops.iter_mut().zip(w.drops.iter()) {
                *acc += c.load(Relaxed);
            }
            for (acc, c) in s.events.iter_mut().zip(w.events.iter()) {
                *acc += c.load(Relaxed);
            }
            for (acc, c) in s.interfaces.iter_mut().zip(w.interfaces.iter()) {
                acc.add(c);
            }
            for (acc, c) in s.tunnels.iter_mut().zip(w.tunnels.iter()) {
                acc.add(c);
            }
        }
        s
    }
}

/// rx/tx totals of one port.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes received (IP packet bytes).
    pub rx_bytes: u64,
    /// Packets transmitted (forwarded out, or ICMP errors sent back out).
    pub tx_packets: u64,
    /// Bytes transmitted.
    pub tx_bytes: u64,
}

impl PortStats {
    fn add(&mut self, c: &PortCounters) {
        self.rx_packets += c.rx_packets.load(Relaxed);
        self.rx_bytes += c.rx_bytes.load(Relaxed);
        self.tx_packets += c.tx_packets.load(Relaxed);
        self.tx_bytes += c.tx_bytes.load(Relaxed);
    }
}

/// Plain-number totals over all workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountersSnapshot {
    /// Per interface id.
    pub interfaces: Vec<PortStats>,
    /// Per tunnel id.
    pub tunnels: Vec<PortStats>,
    /// Per drop reason, indexed by `DropReason as usize`.
    pub drops: [u64; DropReason::COUNT],
    /// Per event, indexed by `Event as usize`.
    pub events: [u64; Event::COUNT],
}

impl CountersSnapshot {
    /// Drops for one reason.
    pub fn drops(&self, reason: DropReason) -> u64 {
        self.drops[reason as usize]
    }

    /// Count of one event.
    pub fn events(&self, event: Event) -> u64 {
        self.events[event as usize]
    }

    /// Total drops over all reasons.
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }

    /// `(name, count)` for every drop reason, in a stable order.
    pub fn named_drops(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        DropReason::ALL.iter().map(|r| (r.name(), self.drops(*r)))
    }

    /// `(name, count)` for every event, in a stable order.
    pub fn named_events(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        Event::ALL.iter().map(|e| (e.name(), self.events(*e)))
    }

    /// Stats of one port (zeros if out of range).
    pub fn port(&self, port: Port) -> PortStats {
        let r = match port {
            Port::Interface(i) => self.interfaces.get(i as usize),
            Port::Tunnel(i) => self.tunnels.get(i as usize),
        };
        r.copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_sum_up() {
        let c = Counters::exact(2, 2, 1);
        let (w0, w1) = (c.worker(0).expect("w0"), c.worker(1).expect("w1"));
        w0.rx(Port::Interface(1), 100);
        w1.rx(Port::Interface(1), 50);
        w1.tx(Port::Tunnel(0), 50);
        w0.drop_packet(DropReason::NoRoute);
        w1.drop_packet(DropReason::NoRoute);
        w1.event(Event::IcmpSent);
        w0.rx(Port::Tunnel(9), 1);
        let s = c.snapshot();
        assert_eq!(s.port(Port::Interface(1)).rx_packets, 2);
        assert_eq!(s.port(Port::Interface(1)).rx_bytes, 150);
        assert_eq!(s.port(Port::Tunnel(0)).tx_bytes, 50);
        assert_eq!(s.drops(DropReason::NoRoute), 2);
        assert_eq!(s.total_drops(), 2);
        assert_eq!(s.events(Event::UnknownPort), 1);
        assert!(s.named_drops().any(|(n, v)| n == "no_route" && v == 2));
        assert_eq!(s.named_events().count(), Event::COUNT);
        assert!(c.worker(2).is_none());
        assert_eq!(std::mem::align_of::<WorkerCounters>(), 64);
    }

    #[test]
    fn leased_shards_count_into_the_totals_and_are_reused() {
        let c = Arc::new(Counters::new(1, 1, 1));
        assert!(c.tunnel_capacity() >= TUNNEL_CAPACITY);
        let a = c.lease();
        a.tx(Port::Tunnel(7), 10);
        a.drop_packet(DropReason::UnknownPeer);
        drop(a);
        let b = c.lease();
        b.tx(Port::Tunnel(7), 5);
        let s = c.snapshot();
        assert_eq!(
            s.port(Port::Tunnel(7)).tx_bytes,
            15,
            "a returned shard keeps its counts"
        );
        assert_eq!(s.drops(DropReason::UnknownPeer), 1);
        assert_eq!(
            c.pool.lock().expect("pool").len(),
            1,
            "the returned shard is reused"
        );
        let d = c.lease();
        assert_eq!(c.pool.lock().expect("pool").len(), 2);
        c.worker(0).expect("w0").rx(Port::Tunnel(7), 1);
        c.reset_tunnel(7);
        assert_eq!(c.snapshot().port(Port::Tunnel(7)), PortStats::default());
        drop((b, d));
    }

    #[test]
    fn names_are_unique_and_indexed() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
        for (i, e) in Event::ALL.iter().enumerate() {
            assert_eq!(*e as usize, i);
        }
        let mut names: Vec<_> = DropReason::ALL.iter().map(|r| r.name()).collect();
        names.dedup();
        assert_eq!(names.len(), DropReason::COUNT);
    }
}
