//! The IPv6 forwarding path: validate, martian check, route, hop limit, MTU
//! (routers never fragment IPv6: Packet Too Big), rewrite (hop limit, MSS).

use crate::counters::DropReason;
use crate::fib::Egress;
use crate::wire::{icmpv6, ipv6, proto, tcp};

use super::ctx::egress_port;
use super::{ForwardCtx, Ingress, Verdict, flow, icmp, martian, v4::clamp_mss};

pub(super) fn forward_v6(
    buf: &mut [u8],
    ingress: &Ingress,
    gso_size: Option<u16>,
    ctx: &ForwardCtx<'_>,
    reply: &mut [u8],
) -> Verdict {
    let Ok(ip) = ipv6::Packet::new_checked(&*buf) else {
        return Verdict::Drop(DropReason::BadHeader);
    };
    let full = ipv6::HEADER_LEN + usize::from(ip.payload_len());
    let len = match gso_size {
        None if full <= buf.len() => full,
        Some(_) if ip.payload_len() == 0 || full == buf.len() => buf.len(),
        _ => return Verdict::Drop(DropReason::BadHeader),
    };
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    if martian::is_martian_src_v6(src) || martian::is_martian_dst_v6(dst) {
        return Verdict::Drop(DropReason::Martian);
    }
    let hop_limit = ip.hop_limit();
    let Some(pkt) = buf.get_mut(..len) else {
        return Verdict::Drop(DropReason::BadHeader);
    };
    let ul = ipv6::Packet::new_unchecked(&*pkt).upper_layer();

    let Some(group) = ctx.fib.lookup_v6(dst) else {
        let kind = icmpv6::ErrorKind::NoRoute;
        return icmp::error_v6(pkt, ingress, ctx, reply, kind, DropReason::NoRoute);
    };
    let l4 = pkt.get(ul.offset..).unwrap_or(&[]);
    let ports = if ul.fragmented {
        0
    } else {
        flow::ports(ul.protocol, l4)
    };
    let hash = flow::hash(
        flow::fold_v6(src.octets()),
        flow::fold_v6(dst.octets()),
        ul.protocol,
        ports,
    );
    let hop = group.select(hash);
    let (egress, gateway) = (hop.egress, hop.gateway);
    if egress == Egress::Blackhole {
        return Verdict::Drop(DropReason::Blackhole);
    }
    let Some(mtu) = ctx.mtus.get(egress) else {
        return Verdict::Drop(DropReason::NoEgress);
    };
    if hop_limit <= 1 {
        let kind = icmpv6::ErrorKind::TimeExceeded;
        return icmp::error_v6(pkt, ingress, ctx, reply, kind, DropReason::TtlExpired);
    }
    let size = match gso_size {
        None => len,
        Some(seg) => {
            let l4h = match ul.protocol {
                proto::TCP => tcp::Packet::new_checked(l4).ok().map(|t| t.header_len()),
                proto::UDP if l4.len() >= 8 => Some(8),
                _ => None,
            };
            match l4h {
                Some(h) => ul.offset + h + usize::from(seg),
                None => return Verdict::Drop(DropReason::BadHeader),
            }
        }
    };
    if size > usize::from(mtu) {
        let kind = icmpv6::ErrorKind::PacketTooBig {
            mtu: u32::from(mtu),
        };
        return icmp::error_v6(pkt, ingress, ctx, reply, kind, DropReason::TooBig);
    }

    ipv6::Packet::new_unchecked(&mut *pkt).set_hop_limit(hop_limit - 1);
    if gso_size.is_none() && ctx.config.mss_clamp && ul.protocol == proto::TCP && !ul.fragmented {
        clamp_mss(pkt.get_mut(ul.offset..).unwrap_or(&mut []), mtu, 60, ctx);
    }
    if let Some(port) = egress_port(egress) {
        ctx.counters.tx(port, len);
    }
    Verdict::Forward { egress, gateway }
}
