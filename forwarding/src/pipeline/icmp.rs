//! ICMP errors the router originates: whether one may be sent (RFC 1812
//! §4.3.2.7, RFC 4443 §2.4(e)), the ingress source address, the rate limit,
//! and building it into the reply buffer.

use crate::counters::{DropReason, Event};
use crate::wire::{icmpv4, icmpv6, ipv4, ipv6, proto};

use super::{ForwardCtx, Ingress, Verdict};

/// Drops `pkt` for `reason` and, if allowed, answers with ICMPv4 `kind`.
/// `pkt` is the original datagram (trimmed to its total length, unmodified).
pub(super) fn error_v4(
    pkt: &[u8],
    ingress: &Ingress,
    ctx: &ForwardCtx<'_>,
    reply: &mut [u8],
    kind: icmpv4::ErrorKind,
    reason: DropReason,
) -> Verdict {
    let ip = ipv4::Packet::new_unchecked(pkt);
    // Never about a non-first fragment or an ICMP error (or an ICMP message
    // too short to tell).
    let suppress = ip.frag_offset() != 0
        || (ip.protocol() == proto::ICMP
            && ip.payload().first().is_none_or(|&t| icmpv4::is_error(t)));
    if suppress {
        ctx.counters.event(Event::IcmpSuppressed);
        return Verdict::Drop(reason);
    }
    let Some(src) = ingress.v4 else {
        ctx.counters.event(Event::IcmpNoSource);
        return Verdict::Drop(reason);
    };
    if !ctx.icmp_limiter.try_take(ctx.now_ns) {
        ctx.counters.event(Event::IcmpRateLimited);
        return Verdict::Drop(reason);
    }
    // Any value works for a datagram nobody reassembles in practice; mix the
    // clock with the offending datagram's id so ids vary.
    let ident = (ctx.now_ns ^ (ctx.now_ns >> 17) ^ u64::from(ip.ident())) as u16;
    match icmpv4::emit_error(reply, src, ip.src_addr(), ident, kind, pkt) {
        Some(len) => Verdict::Reply { len, reason },
        None => {
            ctx.counters.event(Event::IcmpSuppressed);
            Verdict::Drop(reason)
        }
    }
}

/// Drops `pkt` for `reason` and, if allowed, answers with ICMPv6 `kind`.
/// `pkt` is the original packet (trimmed to its length, unmodified).
pub(super) fn error_v6(
    pkt: &[u8],
    ingress: &Ingress,
    ctx: &ForwardCtx<'_>,
    reply: &mut [u8],
    kind: icmpv6::ErrorKind,
    reason: DropReason,
) -> Verdict {
    let ip = ipv6::Packet::new_unchecked(pkt);
    let ul = ip.upper_layer();
    let suppress = ul.non_first_fragment
        || match ul.protocol {
            proto::ICMPV6 => pkt
                .get(ul.offset)
                .is_none_or(|&t| icmpv6::suppresses_errors(t)),
            // The walk stopped on an extension header it could not read:
            // it might hide an ICMPv6 error, stay silent.
            proto::HOP_BY_HOP
            | proto::ROUTING
            | proto::DEST_OPTS
            | proto::FRAGMENT
            | proto::AUTH => true,
            _ => false,
        };
    if suppress {
        ctx.counters.event(Event::IcmpSuppressed);
        return Verdict::Drop(reason);
    }
    let Some(src) = ingress.v6 else {
        ctx.counters.event(Event::IcmpNoSource);
        return Verdict::Drop(reason);
    };
    if !ctx.icmp_limiter.try_take(ctx.now_ns) {
        ctx.counters.event(Event::IcmpRateLimited);
        return Verdict::Drop(reason);
    }
    match icmpv6::emit_error(reply, src, ip.src_addr(), kind, pkt) {
        Some(len) => Verdict::Reply { len, reason },
        None => {
            ctx.counters.event(Event::IcmpSuppressed);
            Verdict::Drop(reason)
        }
    }
}
