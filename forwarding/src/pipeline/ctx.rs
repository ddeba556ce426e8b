//! What `forward` needs besides the packet: the ingress port and its
//! addresses, the per-egress MTU table, the configuration knobs and the
//! bundle of shared state ([`ForwardCtx`]).

use core::net::{Ipv4Addr, Ipv6Addr};

use crate::counters::{Port, WorkerCounters};
use crate::fib::{Egress, FibSnapshot};

use super::TokenBucket;

/// The port a packet arrived on and its addresses (the source of any ICMP
/// error sent back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ingress {
    /// Port id, for the rx counters and for where a `Reply` goes.
    pub port: Port,
    /// The port's IPv4 address, if any (ICMPv4 errors need one).
    pub v4: Option<Ipv4Addr>,
    /// The port's IPv6 address, if any (ICMPv6 errors need one).
    pub v6: Option<Ipv6Addr>,
}

/// Pipeline configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardConfig {
    /// Clamp the MSS option of TCP SYNs to the egress MTU (default on).
    pub mss_clamp: bool,
}

impl Default for ForwardConfig {
    fn default() -> Self {
        ForwardConfig { mss_clamp: true }
    }
}

/// MTU (largest IP packet, bytes) per egress, indexed by interface id and by
/// tunnel id. A tunnel's entry is its inner MTU (path MTU minus the
/// encapsulation overhead).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressMtus {
    /// Indexed by `Egress::Interface` id; 0 means "no such interface".
    pub interfaces: Vec<u16>,
    /// Indexed by `Egress::Tunnel` id; 0 means "no such tunnel".
    pub tunnels: Vec<u16>,
}

impl EgressMtus {
    /// The MTU of `egress`; `None` for a blackhole or an unknown id.
    #[inline]
    pub fn get(&self, egress: Egress) -> Option<u16> {
        let m = match egress {
            Egress::Interface(i) => self.interfaces.get(i as usize),
            Egress::Tunnel(i) => self.tunnels.get(i as usize),
            Egress::Blackhole => None,
        };
        m.copied().filter(|&m| m != 0)
    }
}

/// Everything shared that one `forward` call reads, borrowed for a batch of
/// packets: build it once per batch (it is a handful of references).
#[derive(Debug, Clone, Copy)]
pub struct ForwardCtx<'a> {
    /// The FIB snapshot to look routes up in.
    pub fib: &'a FibSnapshot,
    /// Egress MTUs.
    pub mtus: &'a EgressMtus,
    /// Knobs.
    pub config: &'a ForwardConfig,
    /// The router-wide ICMP error rate limiter.
    pub icmp_limiter: &'a TokenBucket,
    /// This worker's counter shard.
    pub counters: &'a WorkerCounters,
    /// Monotonic time in nanoseconds (for the rate limiter); the caller reads
    /// the clock, the pipeline never does.
    pub now_ns: u64,
}

/// Converts a FIB egress to a counter port (`None` for a blackhole).
#[inline]
pub(crate) fn egress_port(egress: Egress) -> Option<Port> {
    match egress {
        Egress::Interface(i) => Some(Port::Interface(i)),
        Egress::Tunnel(i) => Some(Port::Tunnel(i)),
        Egress::Blackhole => None,
    }
}
