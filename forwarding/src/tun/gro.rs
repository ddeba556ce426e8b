//! Receive-side coalescing (software GRO): consecutive in-order TCP
//! segments of one flow become one GSO super-packet, written to a TUN with
//! a virtio-net header (`GSO_TCPV4`/`GSO_TCPV6`, `NEEDS_CSUM`) in one
//! write instead of one write per 1.4 KB segment. Where the TUN takes USO
//! ([`Coalescer::with_udp`]), consecutive datagrams of one UDP flow become
//! one `GSO_UDP_L4` super-packet the same way. The dual of
//! [`super::gso::split`]: splitting what [`Coalescer`] built gives back the
//! segments it took, byte for byte.
//!
//! Sans-IO: [`Coalescer::push`] takes one IP packet (already forwarded: TTL
//! decremented, destined to one egress) and hands whatever must be written
//! now to a callback; [`Coalescer::flush`] hands over the rest. The tunnel
//! receive thread keeps one coalescer per egress TUN and flushes at the end
//! of every receive batch, so nothing waits longer than one batch.
//!
//! What joins a held super-packet follows Linux's `tcp_gro_receive` and
//! `inet_gro_receive` (and wireguard-go's `tcpPacketsCanCoalesce`), and is
//! at times stricter; anything else is written as it came:
//! - TCP over IPv4 without options and not a fragment, or over IPv6 with no
//!   extension header; a valid TCP checksum; a payload.
//! - The same addresses, ports, TTL/hop limit, TOS/traffic class (ECN
//!   included), flow label, DF bit, TCP header length and option bytes,
//!   ACK number and window as the held packet.
//! - Flags ACK, or ACK|PSH; no SYN, FIN, RST, URG, ECE or CWR. A PSH
//!   segment ends the super-packet (it is its last segment).
//! - The sequence number right after the held payload (no gap, no
//!   retransmission) and, on IPv4, the IP ID right after the last one.
//! - UDP: the same addresses, ports, TTL/hop limit, TOS/traffic class,
//!   flow label, DF bit and the next IP ID; a valid, non-zero checksum.
//! - No more payload than the first segment (the GSO size); a shorter one
//!   is the last. At most [`MAX_SEGMENTS`] segments and 65,535 bytes.
//!
//! A TCP packet that cannot be examined (IPv4 options, IPv6 extension
//! headers, a truncated header) first flushes every held flow, so that no
//! flow is ever reordered; other protocols are written at once.

use crate::wire::{be16, be32, checksum, proto, put16};

use super::vnet::{GsoType, VnetHdr};

/// Most segments in one super-packet (Linux's GRO limit is 64 as well).
pub const MAX_SEGMENTS: u16 = 64;
/// Largest super-packet (the IPv4 total length / IPv6 payload length field).
const MAX_LEN: usize = 65_535;
/// Flows held at once; the oldest is flushed to make room.
const MAX_FLOWS: usize = 16;

const TCP_PSH: u8 = 0x08;
const TCP_ACK: u8 = 0x10;
/// Offset of the TCP flags byte.
const TCP_FLAGS: usize = 13;
/// Offset of the TCP checksum.
const TCP_CHECKSUM: usize = 16;
/// Offset of the UDP checksum.
const UDP_CHECKSUM: usize = 6;

/// Protocol, addresses and ports of a flow (IPv4 addresses in the first 8
/// bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FlowKey {
    v6: bool,
    udp: bool,
    addrs: [u8; 32],
    ports: [u8; 4],
}

/// What [`parse`] reads of a TCP segment or UDP datagram.
#[derive(Debug, Clone, Copy)]
struct Segment {
    key: FlowKey,
    ip_hlen: usize,
    /// TCP header length, or 8 for UDP.
    tcp_hlen: usize,
    seq: u32,
    flags: u8,
    /// IPv4 identification (0 on IPv6).
    ident: u16,
}

impl Segment {
    fn payload_len(&self, pkt: &[u8]) -> usize {
        pkt.len() - self.ip_hlen - self.tcp_hlen
    }
}

/// A super-packet being built.
#[derive(Debug)]
struct Flow {
    key: FlowKey,
    /// The first segment's headers followed by every payload so far.
    buf: Vec<u8>,
    ip_hlen: usize,
    tcp_hlen: usize,
    /// Payload bytes per segment (the first segment's).
    gso_size: usize,
    segments: u16,
    next_seq: u32,
    next_ident: u16,
    /// Nothing more may join (PSH or a short segment was the last).
    closed: bool,
}

/// Coalesces TCP segments bound for one TUN; see the module doc.
#[derive(Debug, Default)]
pub struct Coalescer {
    /// UDP datagrams are coalesced too (the TUN takes `GSO_UDP_L4`).
    udp: bool,
    flows: Vec<Flow>,
    /// Buffers of flushed flows, reused.
    spare: Vec<Vec<u8>>,
}

/// How many packets went out, and as how many writes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CoalesceStats {
    /// Writes handed to the callback.
    pub writes: u64,
    /// Segments coalesced into a super-packet (not counting the first).
    pub merged: u64,
}

impl Coalescer {
    /// An empty coalescer.
    pub fn new() -> Coalescer {
        Coalescer::default()
    }

    /// An empty coalescer that coalesces UDP datagrams as well as TCP
    /// segments: only for a TUN that negotiated USO (`TUN_F_USO4/6`).
    pub fn with_udp() -> Coalescer {
        Coalescer {
            udp: true,
            ..Coalescer::default()
        }
    }

    /// Whether no flow is held.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// Takes one IP packet (exactly its IP length). What must be written now
    /// goes to `out` (with the vnet header to write in front, `None` for a
    /// packet as it came); a segment that may be joined by the next ones is
    /// held until they come or [`Coalescer::flush`].
    pub fn push<F: FnMut(Option<&VnetHdr>, &[u8])>(
        &mut self,
        pkt: &[u8],
        stats: &mut CoalesceStats,
        out: &mut F,
    ) {
        let seg = match parse(pkt) {
            Parsed::Tcp(seg) if !seg.key.udp || self.udp => seg,
            Parsed::Tcp(_) => {
                stats.writes += 1;
                out(None, pkt);
                return;
            }
            Parsed::OtherTcp => {
                // Cannot tell which flow it belongs to: keep every flow in
                // order by writing what is held first.
                self.flush(stats, out);
                stats.writes += 1;
                out(None, pkt);
                return;
            }
            Parsed::NotTcp => {
                stats.writes += 1;
                out(None, pkt);
                return;
            }
        };
        let candidate = seg.payload_len(pkt) > 0
            && if seg.key.udp {
                be16(pkt, seg.ip_hlen + UDP_CHECKSUM) != 0
            } else {
                matches!(seg.flags, TCP_ACK | 0x18)
            }
            && checksum_valid(pkt, &seg);
        if let Some(i) = self.flows.iter().position(|f| f.key == seg.key) {
            if candidate && can_join(&self.flows[i], pkt, &seg) {
                let f = &mut self.flows[i];
                let payload = &pkt[seg.ip_hlen + seg.tcp_hlen..];
                f.buf.extend_from_slice(payload);
                f.segments += 1;
                f.next_seq = seg.seq.wrapping_add(payload.len() as u32);
                f.next_ident = seg.ident.wrapping_add(1);
                if !seg.key.udp && seg.flags & TCP_PSH != 0 {
                    f.buf[f.ip_hlen + TCP_FLAGS] |= TCP_PSH;
                    f.closed = true;
                }
                if payload.len() < f.gso_size
                    || f.segments >= MAX_SEGMENTS
                    || f.buf.len() + f.gso_size > MAX_LEN
                {
                    f.closed = true;
                }
                stats.merged += 1;
                return;
            }
            let f = self.flows.remove(i);
            self.emit(f, stats, out);
        }
        if !candidate {
            stats.writes += 1;
            out(None, pkt);
            return;
        }
        if self.flows.len() == MAX_FLOWS {
            let f = self.flows.remove(0);
            self.emit(f, stats, out);
        }
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(pkt);
        let payload_len = seg.payload_len(pkt);
        self.flows.push(Flow {
            key: seg.key,
            buf,
            ip_hlen: seg.ip_hlen,
            tcp_hlen: seg.tcp_hlen,
            gso_size: payload_len,
            segments: 1,
            next_seq: seg.seq.wrapping_add(payload_len as u32),
            next_ident: seg.ident.wrapping_add(1),
            closed: !seg.key.udp && seg.flags & TCP_PSH != 0,
        });
    }

    /// Writes every held flow, oldest first.
    pub fn flush<F: FnMut(Option<&VnetHdr>, &[u8])>(
        &mut self,
        stats: &mut CoalesceStats,
        out: &mut F,
    ) {
        let flows = std::mem::take(&mut self.flows);
        for f in flows {
            self.emit(f, stats, out);
        }
    }

    /// Writes one flow: as it came if it has one segment, else as a
    /// super-packet with lengths, IPv4 header checksum and the partial TCP
    /// checksum (pseudo-header sum) fixed up.
    fn emit<F: FnMut(Option<&VnetHdr>, &[u8])>(
        &mut self,
        mut f: Flow,
        stats: &mut CoalesceStats,
        out: &mut F,
    ) {
        stats.writes += 1;
        if f.segments == 1 {
            out(None, &f.buf);
        } else {
            let hdr = finish(&mut f);
            out(Some(&hdr), &f.buf);
        }
        self.spare.push(f.buf);
    }
}

/// Fixes the headers of a super-packet of two or more segments and returns
/// its vnet header.
fn finish(f: &mut Flow) -> VnetHdr {
    let len = f.buf.len();
    let l4_len = len - f.ip_hlen;
    if f.key.v6 {
        put16(&mut f.buf, 4, l4_len as u16);
    } else {
        put16(&mut f.buf, 2, len as u16);
        put16(&mut f.buf, 10, 0);
        let c = checksum::checksum(&f.buf[..f.ip_hlen]);
        put16(&mut f.buf, 10, c);
    }
    let (gso_type, csum_offset) = match (f.key.udp, f.key.v6) {
        (true, _) => {
            put16(&mut f.buf, f.ip_hlen + 4, l4_len as u16);
            (GsoType::UdpL4, UDP_CHECKSUM)
        }
        (false, false) => (GsoType::TcpV4, TCP_CHECKSUM),
        (false, true) => (GsoType::TcpV6, TCP_CHECKSUM),
    };
    let pseudo = pseudo_sum(&f.key, l4_len);
    put16(&mut f.buf, f.ip_hlen + csum_offset, pseudo);
    VnetHdr {
        flags: VnetHdr::NEEDS_CSUM,
        gso_type,
        ecn: false,
        hdr_len: (f.ip_hlen + f.tcp_hlen) as u16,
        gso_size: f.gso_size as u16,
        csum_start: f.ip_hlen as u16,
        csum_offset: csum_offset as u16,
    }
}

/// Whether `seg` (a candidate) continues the held flow `f` exactly.
fn can_join(f: &Flow, pkt: &[u8], seg: &Segment) -> bool {
    let held = &f.buf;
    let payload = seg.payload_len(pkt);
    if f.closed
        || (!f.key.udp && seg.seq != f.next_seq)
        || payload > f.gso_size
        || held.len() + payload > MAX_LEN
        || seg.tcp_hlen != f.tcp_hlen
    {
        return false;
    }
    let ip_same = if f.key.v6 {
        // Version, traffic class, flow label; hop limit.
        pkt[..4] == held[..4] && pkt[7] == held[7]
    } else {
        // TOS; DF (fragments were refused by `parse`); TTL; the next ID.
        pkt[1] == held[1]
            && pkt[6] & 0x40 == held[6] & 0x40
            && pkt[8] == held[8]
            && seg.ident == f.next_ident
    };
    if f.key.udp {
        return ip_same;
    }
    let t = seg.ip_hlen;
    let h = f.ip_hlen;
    // ACK number, data offset, window; then the options byte for byte.
    ip_same
        && pkt[t + 8..t + 13] == held[h + 8..h + 13]
        && pkt[t + 14..t + 16] == held[h + 14..h + 16]
        && pkt[t + 20..t + seg.tcp_hlen] == held[h + 20..h + f.tcp_hlen]
}

/// Whether the TCP/UDP checksum of `pkt` verifies.
fn checksum_valid(pkt: &[u8], seg: &Segment) -> bool {
    let l4 = &pkt[seg.ip_hlen..];
    checksum::combine(pseudo_sum(&seg.key, l4.len()), checksum::sum(l4)) == 0xffff
}

/// The pseudo-header sum of a flow's packet with `l4_len` bytes of L4.
fn pseudo_sum(key: &FlowKey, l4_len: usize) -> u16 {
    let protocol = if key.udp { proto::UDP } else { proto::TCP };
    if key.v6 {
        let mut b = [0u8; 40];
        b[..32].copy_from_slice(&key.addrs);
        b[32..36].copy_from_slice(&(l4_len as u32).to_be_bytes());
        b[39] = protocol;
        checksum::sum(&b)
    } else {
        let mut b = [0u8; 12];
        b[..8].copy_from_slice(&key.addrs[..8]);
        b[9] = protocol;
        b[10..12].copy_from_slice(&(l4_len as u16).to_be_bytes());
        checksum::sum(&b)
    }
}

/// What kind of packet [`Coalescer::push`] got.
enum Parsed {
    /// A TCP segment or UDP datagram whose flow can be told.
    Tcp(Segment),
    /// TCP or UDP that cannot be examined (options, extension headers,
    /// fragments, truncated).
    OtherTcp,
    /// Anything else.
    NotTcp,
}

/// Reads the IP and TCP headers of `pkt`; never panics.
fn parse(pkt: &[u8]) -> Parsed {
    let mut key = FlowKey {
        v6: false,
        udp: false,
        addrs: [0; 32],
        ports: [0; 4],
    };
    let (ip_hlen, ident) = match pkt.first().map(|b| b >> 4) {
        Some(4) => {
            if pkt.len() < 20 || !matches!(pkt[9], proto::TCP | proto::UDP) {
                return Parsed::NotTcp;
            }
            key.udp = pkt[9] == proto::UDP;
            let flags_frag = be16(pkt, 6);
            if pkt[0] & 0x0f != 5
                || usize::from(be16(pkt, 2)) != pkt.len()
                || flags_frag & 0x3fff != 0
            {
                return Parsed::OtherTcp;
            }
            key.addrs[..8].copy_from_slice(&pkt[12..20]);
            (20, be16(pkt, 4))
        }
        Some(6) => {
            if pkt.len() < 40 {
                return Parsed::NotTcp;
            }
            key.udp = pkt[6] == proto::UDP;
            if !matches!(pkt[6], proto::TCP | proto::UDP) {
                // Extension headers may hide a TCP segment behind them.
                return if matches!(
                    pkt[6],
                    proto::HOP_BY_HOP
                        | proto::ROUTING
                        | proto::FRAGMENT
                        | proto::AUTH
                        | proto::DEST_OPTS
                ) {
                    Parsed::OtherTcp
                } else {
                    Parsed::NotTcp
                };
            }
            if usize::from(be16(pkt, 4)) + 40 != pkt.len() {
                return Parsed::OtherTcp;
            }
            key.v6 = true;
            key.addrs.copy_from_slice(&pkt[8..40]);
            (40, 0)
        }
        _ => return Parsed::NotTcp,
    };
    if key.udp {
        let Some(udp) = pkt.get(ip_hlen..ip_hlen + 8) else {
            return Parsed::OtherTcp;
        };
        if usize::from(be16(udp, 4)) != pkt.len() - ip_hlen {
            return Parsed::OtherTcp;
        }
        key.ports.copy_from_slice(&udp[..4]);
        return Parsed::Tcp(Segment {
            key,
            ip_hlen,
            tcp_hlen: 8,
            seq: 0,
            flags: 0,
            ident,
        });
    }
    let Some(tcp) = pkt.get(ip_hlen..ip_hlen + 20) else {
        return Parsed::OtherTcp;
    };
    let tcp_hlen = usize::from(tcp[12] >> 4) * 4;
    if tcp_hlen < 20 || ip_hlen + tcp_hlen > pkt.len() {
        return Parsed::OtherTcp;
    }
    key.ports.copy_from_slice(&tcp[..4]);
    Parsed::Tcp(Segment {
        key,
        ip_hlen,
        tcp_hlen,
        seq: be32(tcp, 4),
        flags: tcp[TCP_FLAGS],
        ident,
    })
}

#[cfg(test)]
mod tests;
