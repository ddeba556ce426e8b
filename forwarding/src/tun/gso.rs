//! Software fallbacks for packets that leave through a path without
//! offloads (later: tunnels): completing a partial (`NEEDS_CSUM`) checksum,
//! and segmenting a TCPv4/TCPv6/UDP (USO) GSO super-packet into the packets
//! it stands for, as Linux's `tcp_gso_segment`/`__udp_gso_segment` would.
//!
//! Both work on untrusted bytes and never panic: anything malformed is a
//! [`GsoError`].
//!
//! Not supported: IPv6 routing headers (the pseudo-header would need the
//! final destination; Linux never hands those to a TUN as GSO).

use crate::wire::{be16, be32, checksum, ipv4, ipv6, proto, put16, put32, tcp};

use super::vnet::{GsoType, VnetHdr};

/// TCP flag bits the segmenter edits.
const TCP_FIN: u8 = 0x01;
const TCP_PSH: u8 = 0x08;
const TCP_CWR: u8 = 0x80;
/// Offsets within the UDP header.
const UDP_LENGTH: usize = 4;
const UDP_CHECKSUM: usize = 6;
const UDP_HEADER_LEN: usize = 8;
/// Offset of the checksum in the TCP header.
const TCP_CHECKSUM: usize = tcp::field::CHECKSUM.start;
/// Offset of the payload length in the IPv6 header.
const IPV6_LENGTH: usize = ipv6::field::LENGTH.start;

/// Why a packet could not be checksummed or segmented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GsoError {
    /// `csum_start`/`csum_offset` point outside the packet.
    #[error("checksum position {start}+{offset} outside the {len}-byte packet")]
    ChecksumOutOfBounds {
        /// `csum_start`.
        start: u16,
        /// `csum_offset`.
        offset: u16,
        /// Packet length.
        len: usize,
    },
    /// The IP header is truncated or inconsistent.
    #[error("truncated or malformed IP header")]
    BadIpHeader,
    /// The TCP or UDP header is truncated or inconsistent.
    #[error("truncated or malformed TCP/UDP header")]
    BadL4Header,
    /// The GSO type does not fit the packet's IP version or protocol.
    #[error("GSO type {0:?} does not match the packet's IP version or protocol")]
    Mismatch(GsoType),
    /// A GSO type this module cannot segment (e.g. UFO).
    #[error("unsupported GSO type {0}")]
    Unsupported(u8),
    /// A GSO packet with `gso_size` 0.
    #[error("GSO packet with gso_size 0")]
    ZeroGsoSize,
    /// An IP fragment cannot be a GSO super-packet.
    #[error("IP fragment marked as GSO")]
    Fragment,
    /// A segment would exceed the IP length fields.
    #[error("segment longer than the IP length field allows")]
    TooLong,
}

/// Completes a partial checksum: if `hdr` has `NEEDS_CSUM`, folds the sum of
/// `pkt[csum_start..]` into the field at `csum_start + csum_offset` (which
/// holds the pseudo-header sum) and stores the checksum. A zero result is
/// stored as 0xffff, as Linux does (required for UDP, equivalent for TCP).
///
/// Afterwards the packet is complete: send it with `NEEDS_CSUM` cleared.
/// For a GSO super-packet use [`split`], which checksums every segment.
pub fn finish_checksum(pkt: &mut [u8], hdr: &VnetHdr) -> Result<(), GsoError> {
    if !hdr.needs_csum() {
        return Ok(());
    }
    let start = usize::from(hdr.csum_start);
    let field = start + usize::from(hdr.csum_offset);
    if field + 2 > pkt.len() {
        return Err(GsoError::ChecksumOutOfBounds {
            start: hdr.csum_start,
            offset: hdr.csum_offset,
            len: pkt.len(),
        });
    }
    let c = match !checksum::sum(&pkt[start..]) {
        0 => 0xffff,
        c => c,
    };
    put16(pkt, field, c);
    Ok(())
}

/// Splits the super-packet `pkt` described by `hdr` into complete packets of
/// at most `hdr.gso_size` payload bytes each and calls `out` with each one,
/// in order. Returns the number of packets.
///
/// Every segment gets its own IP length, IPv4 identification (+1 per
/// segment) and header checksum, TCP sequence number (+`gso_size` per
/// segment), TCP flags (FIN and PSH on the last segment only, CWR on the
/// first only) or UDP length, and a full TCP/UDP checksum with
/// pseudo-header. A non-GSO packet yields itself, its checksum completed if
/// `NEEDS_CSUM` is set.
///
/// `scratch` is reused for each segment (no allocation once it has grown to
/// one segment); `out` must copy what it keeps.
pub fn split<F: FnMut(&[u8])>(
    pkt: &[u8],
    hdr: &VnetHdr,
    scratch: &mut Vec<u8>,
    mut out: F,
) -> Result<usize, GsoError> {
    match hdr.gso_type {
        GsoType::None => {
            if hdr.needs_csum() {
                scratch.clear();
                scratch.extend_from_slice(pkt);
                finish_checksum(scratch, hdr)?;
                out(scratch);
            } else {
                out(pkt);
            }
            Ok(1)
        }
        GsoType::TcpV4 | GsoType::TcpV6 | GsoType::UdpL4 => {
            let layout = Layout::parse(pkt, hdr.gso_type)?;
            segment(pkt, &layout, hdr.gso_size, scratch, &mut out)
        }
        GsoType::Unknown(code) => Err(GsoError::Unsupported(code)),
    }
}

/// Where the headers of a super-packet are, as parsed from the packet
/// itself (`hdr_len` and `csum_start` are not trusted).
#[derive(Debug)]
struct Layout {
    /// IPv6 (else IPv4).
    v6: bool,
    /// TCP (else UDP).
    tcp: bool,
    /// Start of the TCP/UDP header.
    l4_off: usize,
    /// End of the L3+L4 headers: where the payload starts.
    headers_end: usize,
    /// End of the IP packet within the buffer.
    end: usize,
}

impl Layout {
    fn parse(pkt: &[u8], gso: GsoType) -> Result<Layout, GsoError> {
        let (v6, protocol, l4_off, end) = match pkt.first().map(|b| b >> 4) {
            Some(4) => {
                let ip = ipv4::Packet::new_checked(pkt).map_err(|_| GsoError::BadIpHeader)?;
                if ip.more_frags() || ip.frag_offset() != 0 {
                    return Err(GsoError::Fragment);
                }
                let r = ip.payload_range();
                (false, ip.protocol(), r.start, r.end)
            }
            Some(6) => {
                let ip = ipv6::Packet::new_checked(pkt).map_err(|_| GsoError::BadIpHeader)?;
                let ul = ip.upper_layer();
                if ul.fragmented {
                    return Err(GsoError::Fragment);
                }
                (true, ul.protocol, ul.offset, ip.payload_range().end)
            }
            _ => return Err(GsoError::BadIpHeader),
        };
        let tcp = match (gso, v6, protocol) {
            (GsoType::TcpV4, false, proto::TCP) | (GsoType::TcpV6, true, proto::TCP) => true,
            (GsoType::UdpL4, _, proto::UDP) => false,
            _ => return Err(GsoError::Mismatch(gso)),
        };
        let l4 = pkt.get(l4_off..end).ok_or(GsoError::BadL4Header)?;
        let l4_len = if tcp {
            tcp::Packet::new_checked(l4)
                .map_err(|_| GsoError::BadL4Header)?
                .header_len()
        } else if l4.len() >= UDP_HEADER_LEN {
            UDP_HEADER_LEN
        } else {
            return Err(GsoError::BadL4Header);
        };
        Ok(Layout {
            v6,
            tcp,
            l4_off,
            headers_end: l4_off + l4_len,
            end,
        })
    }
}

/// The segmentation loop proper.
fn segment<F: FnMut(&[u8])>(
    pkt: &[u8],
    at: &Layout,
    gso_size: u16,
    scratch: &mut Vec<u8>,
    out: &mut F,
) -> Result<usize, GsoError> {
    if gso_size == 0 {
        return Err(GsoError::ZeroGsoSize);
    }
    let mss = usize::from(gso_size);
    let (headers, payload) = match (pkt.get(..at.headers_end), pkt.get(at.headers_end..at.end)) {
        (Some(h), Some(p)) => (h, p),
        _ => return Err(GsoError::BadL4Header),
    };
    // The largest segment must fit the IP length field; checked once.
    let max_seg = headers.len() + payload.len().min(mss);
    let ip_len_limit = if at.v6 {
        ipv6::HEADER_LEN + usize::from(u16::MAX)
    } else {
        usize::from(u16::MAX)
    };
    if max_seg > ip_len_limit {
        return Err(GsoError::TooLong);
    }

    let count = payload.len().div_ceil(mss).max(1);
    let ident = be16(pkt, ipv4::field::IDENT.start);
    let seq = be32(pkt, at.l4_off + tcp::field::SEQ.start);
    for i in 0..count {
        let chunk = payload.get(i * mss..).unwrap_or(&[]);
        let chunk = chunk.get(..mss).unwrap_or(chunk);
        scratch.clear();
        scratch.extend_from_slice(headers);
        scratch.extend_from_slice(chunk);
        let seg = scratch.as_mut_slice();
        // Wraps like Linux's per-segment `id++` (count <= 65536).
        fix_ip_header(seg, at.v6, ident.wrapping_add(i as u16));
        if at.tcp {
            let off = (i as u32).wrapping_mul(u32::from(gso_size));
            fix_tcp_header(
                seg,
                at.l4_off,
                seq.wrapping_add(off),
                i == 0,
                i + 1 == count,
            );
        } else {
            // Fits: the segment fits the IP length field (checked above).
            let l4_len = (seg.len() - at.l4_off) as u16;
            put16(seg, at.l4_off + UDP_LENGTH, l4_len);
        }
        fill_l4_checksum(seg, at);
        out(seg);
    }
    Ok(count)
}

/// Sets the IP length field for this segment; for IPv4 also the
/// identification and the header checksum. `seg` fits the length field.
fn fix_ip_header(seg: &mut [u8], v6: bool, ident: u16) {
    let len = seg.len();
    if v6 {
        put16(seg, IPV6_LENGTH, (len - ipv6::HEADER_LEN) as u16);
    } else {
        let mut ip = ipv4::Packet::new_unchecked(seg);
        ip.set_total_len(len as u16);
        ip.set_ident(ident);
        ip.fill_checksum();
    }
}

/// Sets the sequence number and keeps FIN/PSH for the last segment and CWR
/// for the first only (RFC 3168 §6.1.2; Linux `tcp_gso_segment`).
fn fix_tcp_header(seg: &mut [u8], l4_off: usize, seq: u32, first: bool, last: bool) {
    put32(seg, l4_off + tcp::field::SEQ.start, seq);
    if let Some(flags) = seg.get_mut(l4_off + tcp::field::FLAGS) {
        if !last {
            *flags &= !(TCP_FIN | TCP_PSH);
        }
        if !first {
            *flags &= !TCP_CWR;
        }
    }
}

/// Computes the full TCP/UDP checksum of the segment with its pseudo-header.
fn fill_l4_checksum(seg: &mut [u8], at: &Layout) {
    let l4_len = seg.len() - at.l4_off;
    let (protocol, field) = if at.tcp {
        (proto::TCP, at.l4_off + TCP_CHECKSUM)
    } else {
        (proto::UDP, at.l4_off + UDP_CHECKSUM)
    };
    put16(seg, field, 0);
    // The length casts are lossless: the segment fits the IP length field.
    let pseudo = if at.v6 {
        let ip = ipv6::Packet::new_unchecked(&*seg);
        checksum::pseudo_header_v6(ip.src_addr(), ip.dst_addr(), protocol, l4_len as u32)
    } else {
        let ip = ipv4::Packet::new_unchecked(&*seg);
        checksum::pseudo_header_v4(ip.src_addr(), ip.dst_addr(), protocol, l4_len as u16)
    };
    let l4 = seg.get(at.l4_off..).unwrap_or(&[]);
    let c = !checksum::combine(pseudo, checksum::sum(l4));
    // UDP sends a computed 0 as 0xffff (0 means "no checksum").
    let c = if c == 0 && !at.tcp { 0xffff } else { c };
    put16(seg, field, c);
}

#[cfg(test)]
mod tests;
