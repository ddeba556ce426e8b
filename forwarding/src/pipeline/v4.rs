//! The IPv4 forwarding path: validate, martian check, route, TTL, MTU,
//! rewrite (TTL decrement with RFC 1624 update, MSS clamp).

use crate::counters::{DropReason, Event};
use crate::fib::Egress;
use crate::wire::{icmpv4, ipv4, proto, tcp};

use super::ctx::egress_port;
use super::{ForwardCtx, Ingress, Verdict, flow, icmp, martian};

const OPT_END: u8 = 0;
const OPT_NOP: u8 = 1;
const OPT_LSRR: u8 = 131;
const OPT_SSRR: u8 = 137;

/// Scans IPv4 options: `Err` if malformed, `Ok(true)` if a loose or strict
/// source route is present (dropped, as Linux does with the default
/// `accept_source_route=0`).
fn has_source_route(opts: &[u8]) -> Result<bool, ()> {
    let mut i = 0;
    while let Some(&kind) = opts.get(i) {
        match kind {
            OPT_END => return Ok(false),
            OPT_NOP => i += 1,
            _ => {
                let len = usize::from(*opts.get(i + 1).ok_or(())?);
                if len < 2 || i + len > opts.len() {
                    return Err(());
                }
                if kind == OPT_LSRR || kind == OPT_SSRR {
                    return Ok(true);
                }
                i += len;
            }
        }
    }
    Ok(false)
}

/// Length of the transport header of a GSO super-packet (TCP or UDP only).
fn gso_l4_header_len(protocol: u8, l4: &[u8]) -> Option<usize> {
    match protocol {
        proto::TCP => tcp::Packet::new_checked(l4).ok().map(|t| t.header_len()),
        proto::UDP if l4.len() >= 8 => Some(8),
        _ => None,
    }
}

pub(super) fn forward_v4(
    buf: &mut [u8],
    ingress: &Ingress,
    gso_size: Option<u16>,
    ctx: &ForwardCtx<'_>,
    reply: &mut [u8],
) -> Verdict {
    let Ok(ip) = ipv4::Packet::new_checked(&*buf) else {
        return Verdict::Drop(DropReason::BadHeader);
    };
    let hl = ip.header_len();
    let tl = usize::from(ip.total_len());
    let len = match gso_size {
        None if tl >= hl && tl <= buf.len() => tl,
        // A GSO super-packet's total length is 0 (over 64 KiB or as some
        // drivers leave it) or the whole buffer.
        Some(_) if tl == 0 || tl == buf.len() => buf.len(),
        _ => return Verdict::Drop(DropReason::BadHeader),
    };
    if !ip.verify_checksum() {
        return Verdict::Drop(DropReason::BadHeader);
    }
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    if martian::is_martian_src_v4(src) || martian::is_martian_dst_v4(dst) {
        return Verdict::Drop(DropReason::Martian);
    }
    if hl > ipv4::HEADER_LEN {
        match has_source_route(ip.options()) {
            Ok(false) => {}
            Ok(true) => return Verdict::Drop(DropReason::Filtered),
            Err(()) => return Verdict::Drop(DropReason::BadHeader),
        }
    }
    let protocol = ip.protocol();
    let ttl = ip.ttl();
    let dont_frag = ip.dont_frag();
    let unfragmented = ip.frag_offset() == 0 && !ip.more_frags();
    let Some(pkt) = buf.get_mut(..len) else {
        return Verdict::Drop(DropReason::BadHeader);
    };
    let l4 = pkt.get(hl..).unwrap_or(&[]);

    let Some(group) = ctx.fib.lookup_v4(dst) else {
        let kind = icmpv4::ErrorKind::NetUnreachable;
        return icmp::error_v4(pkt, ingress, ctx, reply, kind, DropReason::NoRoute);
    };
    let ports = if unfragmented {
        flow::ports(protocol, l4)
    } else {
        0
    };
    let hop = group.select(flow::hash(src.to_bits(), dst.to_bits(), protocol, ports));
    let (egress, gateway) = (hop.egress, hop.gateway);
    if egress == Egress::Blackhole {
        return Verdict::Drop(DropReason::Blackhole);
    }
    let Some(mtu) = ctx.mtus.get(egress) else {
        return Verdict::Drop(DropReason::NoEgress);
    };
    if ttl <= 1 {
        let kind = icmpv4::ErrorKind::TimeExceeded;
        return icmp::error_v4(pkt, ingress, ctx, reply, kind, DropReason::TtlExpired);
    }
    let size = match gso_size {
        None => len,
        Some(seg) => match gso_l4_header_len(protocol, l4) {
            Some(l4h) => hl + l4h + usize::from(seg),
            None => return Verdict::Drop(DropReason::BadHeader),
        },
    };
    if size > usize::from(mtu) {
        if !dont_frag {
            // Fragmentation is not implemented: drop and count.
            return Verdict::Drop(DropReason::TooBig);
        }
        let kind = icmpv4::ErrorKind::FragNeeded { mtu };
        return icmp::error_v4(pkt, ingress, ctx, reply, kind, DropReason::TooBig);
    }

    ipv4::Packet::new_unchecked(&mut *pkt).decrement_ttl();
    if gso_size.is_none() && ctx.config.mss_clamp && protocol == proto::TCP && unfragmented {
        clamp_mss(pkt.get_mut(hl..).unwrap_or(&mut []), mtu, 40, ctx);
    }
    if let Some(port) = egress_port(egress) {
        ctx.counters.tx(port, len);
    }
    Verdict::Forward { egress, gateway }
}

/// Clamps the MSS of a TCP SYN in `segment` to `mtu - overhead`.
pub(super) fn clamp_mss(segment: &mut [u8], mtu: u16, overhead: u16, ctx: &ForwardCtx<'_>) {
    let Some(limit) = mtu.checked_sub(overhead).filter(|&l| l > 0) else {
        return;
    };
    let Ok(mut t) = tcp::Packet::new_checked(segment) else {
        return;
    };
    if t.syn() && t.clamp_mss(limit).is_some() {
        ctx.counters.event(Event::MssClamped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_route_options() {
        assert_eq!(has_source_route(&[1, 1, 1, 0]), Ok(false));
        assert_eq!(has_source_route(&[1, 131, 7, 4, 0, 0, 0, 0]), Ok(true));
        assert_eq!(has_source_route(&[137, 3, 4, 0]), Ok(true));
        assert_eq!(has_source_route(&[68, 1]), Err(()));
        assert_eq!(has_source_route(&[68, 9, 0, 0]), Err(()));
        assert_eq!(has_source_route(&[148, 4, 0, 0]), Ok(false));
        assert_eq!(has_source_route(&[148]), Err(()));
    }
}
