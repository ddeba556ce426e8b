//! The per-packet forwarding pipeline: a pure, sans-IO function the worker
//! threads call for every IP packet read from a TUN device or a tunnel.
//!
//! [`forward`] validates the header, drops martians, looks the destination
//! up in the FIB, enforces the egress MTU, decrements TTL / hop limit with an
//! incremental checksum update, clamps the TCP MSS of SYNs, and counts
//! everything. When the router must answer with an ICMP error it builds it
//! into the caller's buffer and returns [`Verdict::Reply`]. It never reads a
//! clock, never allocates and never panics, whatever the bytes.
//!
//! Order of checks follows Linux (`ip_rcv` → `ip_route_input` → `ip_forward`):
//! header, martians, route (no route → unreachable), TTL (→ time exceeded),
//! MTU (→ fragmentation needed / packet too big), then the rewrite.
//! IPv4 packets without DF that exceed the MTU are dropped as `TooBig`
//! without ICMP: this pipeline does not fragment.

mod ctx;
pub mod flow;
mod icmp;
mod martian;
mod rate_limit;
mod v4;
mod v6;

use core::net::IpAddr;

pub use crate::counters::DropReason;
use crate::counters::Event;
use crate::fib::Egress;
pub use ctx::{EgressMtus, ForwardConfig, ForwardCtx, Ingress};
pub use martian::{is_martian_dst_v4, is_martian_dst_v6, is_martian_src_v4, is_martian_src_v6};
pub use rate_limit::TokenBucket;

/// Recommended size of the ICMP reply buffer: the largest error built (an
/// ICMPv6 error is at most 1280 bytes, an ICMPv4 one 576).
pub const REPLY_BUF_LEN: usize = 1280;

/// What to do with a packet after [`forward`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send the (modified in place) packet out of `egress`, to `gateway` if
    /// the route has one. Bytes past the IP total length, if the buffer had
    /// any, are not part of the packet.
    Forward {
        /// Where the packet leaves.
        egress: Egress,
        /// The next-hop gateway, if the route has one.
        gateway: Option<IpAddr>,
    },
    /// The packet was dropped for `reason`, and an ICMP error of `len` bytes
    /// was built at the start of the reply buffer: send it back out of the
    /// ingress port.
    Reply {
        /// Length of the ICMP error packet in the reply buffer.
        len: usize,
        /// Why the original packet was dropped.
        reason: DropReason,
    },
    /// The packet was dropped for this reason (already counted).
    Drop(DropReason),
}

/// Forwards one IP packet (IPv4 or IPv6, starting at the IP header).
///
/// * `pkt`: the packet, rewritten in place on `Forward`.
/// * `ingress`: the port it arrived on (rx counters, ICMP source address).
/// * `gso_size`: `Some(n)` if `pkt` is a GSO super-packet (TCP or UDP) whose
///   segments carry `n` payload bytes each: its total length may be 0 or the
///   buffer length (up to 64 KiB), the MTU check applies to one segment and
///   only the IP header is modified.
/// * `ctx`: FIB snapshot, MTUs, config, rate limiter, counters, time.
/// * `reply`: where an ICMP error is built ([`REPLY_BUF_LEN`] bytes is always
///   enough; a smaller buffer quotes less, or suppresses the error).
pub fn forward(
    pkt: &mut [u8],
    ingress: &Ingress,
    gso_size: Option<u16>,
    ctx: &ForwardCtx<'_>,
    reply: &mut [u8],
) -> Verdict {
    ctx.counters.rx(ingress.port, pkt.len());
    let verdict = match pkt.first().map(|b| b >> 4) {
        Some(4) => v4::forward_v4(pkt, ingress, gso_size, ctx, reply),
        Some(6) => v6::forward_v6(pkt, ingress, gso_size, ctx, reply),
        _ => Verdict::Drop(DropReason::BadHeader),
    };
    match verdict {
        Verdict::Forward { .. } => {
            if gso_size.is_some() {
                ctx.counters.event(Event::GsoForwarded);
            }
        }
        Verdict::Reply { len, reason } => {
            ctx.counters.drop_packet(reason);
            ctx.counters.event(Event::IcmpSent);
            ctx.counters.tx(ingress.port, len);
        }
        Verdict::Drop(reason) => ctx.counters.drop_packet(reason),
    }
    verdict
}
