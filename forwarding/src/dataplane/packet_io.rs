//! Writing one packet to a TUN queue: with the virtio-net header passed
//! through when the egress has offloads, or segmented / checksummed in
//! software when it has none; and into a tunnel, which has no offloads
//! (a GSO super-packet is split, a partial checksum completed, then each
//! packet is encapsulated).

use crate::counters::{Event, WorkerCounters};
use crate::tun::{GsoType, VnetHdr, gso};
use crate::tunnel::batch::TxBatch;
use crate::tunnel::peer::{Encap, TunnelPeer};

use crate::pipeline::Ingress;
use crate::tun::TunQueue;
use crate::tun::gro::{CoalesceStats, Coalescer};

/// A worker's queue of one TUN interface.
#[derive(Debug)]
pub(super) struct PortQueue {
    pub ingress: Ingress,
    pub queue: TunQueue,
    /// The queue carries a virtio-net header (offloads on).
    pub offload: bool,
    /// The device takes UDP super-packets (USO).
    pub uso: bool,
}

/// The length of the IP packet at the start of `pkt` according to its
/// header, clamped to the buffer; a GSO super-packet (or a header that says
/// 0) is the whole buffer. Only called on packets the pipeline accepted.
pub(super) fn ip_len(pkt: &[u8], gso: bool) -> usize {
    if gso {
        return pkt.len();
    }
    let declared = match pkt.first().map(|b| b >> 4) {
        Some(4) => pkt
            .get(2..4)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]]))),
        Some(6) => pkt
            .get(4..6)
            .map(|b| 40 + usize::from(u16::from_be_bytes([b[0], b[1]]))),
        _ => None,
    };
    match declared {
        Some(n) if n > 0 && n <= pkt.len() => n,
        _ => pkt.len(),
    }
}

/// Sends `pkt` (an IP packet, with the virtio-net header `hdr` it arrived
/// with, if any) out of `out`. Counts write failures as `tx_error`.
/// `scratch` is the worker's segment buffer, reused by software GSO.
///
/// With `gro` (the egress's coalescer), a packet that is not a GSO
/// super-packet is coalesced with the ones before it (its partial checksum
/// completed first), so that a burst of small packets of one flow costs
/// one write; a super-packet flushes what is held for that egress first,
/// so no flow is reordered. The caller flushes at the end of its batch.
pub(super) fn transmit(
    out: &PortQueue,
    hdr: Option<&VnetHdr>,
    pkt: &mut [u8],
    counters: &WorkerCounters,
    scratch: &mut Vec<u8>,
    gro: Option<&mut (Coalescer, CoalesceStats)>,
) {
    if out.offload
        && let Some((gro, stats)) = gro
    {
        let mut send = |h: Option<&VnetHdr>, b: &[u8]| {
            if out.queue.send(h, b).is_err() {
                counters.event(Event::TxError);
            }
        };
        match hdr {
            Some(h) if h.gso_type != GsoType::None => {
                gro.flush(stats, &mut send);
                send(Some(h), pkt);
            }
            Some(h) if h.needs_csum() => {
                if gso::finish_checksum(pkt, h).is_ok() {
                    gro.push(pkt, stats, &mut send);
                } else {
                    counters.event(Event::TxError);
                }
            }
            _ => gro.push(pkt, stats, &mut send),
        }
        return;
    }
    let ok = if out.offload {
        // The kernel on the egress side understands the header: a GSO
        // super-packet or a partial checksum passes through untouched.
        out.queue.send(hdr, pkt).is_ok()
    } else {
        match hdr {
            Some(h) if h.gso_type != GsoType::None => {
                counters.event(Event::GsoSplit);
                let mut ok = true;
                let split = gso::split(pkt, h, scratch, |seg: &[u8]| {
                    ok &= out.queue.send(None, seg).is_ok();
                });
                ok && split.is_ok()
            }
            Some(h) if h.needs_csum() => {
                gso::finish_checksum(pkt, h).is_ok() && out.queue.send(None, pkt).is_ok()
            }
            _ => out.queue.send(None, pkt).is_ok(),
        }
    };
    if !ok {
        counters.event(Event::TxError);
    }
}

/// Writes what the egress coalescers hold (end of a read batch).
pub(super) fn flush_egress(
    ports: &[Option<PortQueue>],
    gro: &mut [(Coalescer, CoalesceStats)],
    counters: &WorkerCounters,
) {
    for (out, (gro, stats)) in ports.iter().zip(gro.iter_mut()) {
        let Some(out) = out else { continue };
        if gro.is_empty() {
            continue;
        }
        gro.flush(stats, &mut |h, b| {
            if out.queue.send(h, b).is_err() {
                counters.event(Event::TxError);
            }
        });
    }
}

/// A TCP SYN with a partial checksum (the kernel left it for the device
/// to finish) gets its checksum completed in software before the pipeline
/// sees it: MSS clamping rewrites the option and updates the checksum
/// incrementally (RFC 1624), which is only right on a complete checksum;
/// on a partial one the update would be counted twice when the checksum
/// is finished later. SYNs are rare, so the cost is nil.
pub(super) fn complete_syn_checksum(pkt: &mut [u8], hdr: &mut VnetHdr) {
    if !hdr.needs_csum() || hdr.gso_type != GsoType::None {
        return;
    }
    let l4 = usize::from(hdr.csum_start);
    let is_syn = l4 >= 20
        && pkt.get(l4 + 13).is_some_and(|f| f & 0x02 != 0)
        && match pkt.first().map(|b| b >> 4) {
            Some(4) => pkt.get(9) == Some(&6),
            Some(6) => pkt.get(6) == Some(&6),
            _ => false,
        };
    if is_syn && gso::finish_checksum(pkt, hdr).is_ok() {
        hdr.flags &= !VnetHdr::NEEDS_CSUM;
    }
}

/// Adds `pkt` (with the virtio-net header it arrived with, if any) to
/// `batch`, the worker's datagrams for `peer`: a GSO super-packet is split
/// and its segments encapsulated (a WireGuard peer locked once for all of
/// them), a partial checksum completed. The caller flushes the batch when
/// it turns to another peer and at the end of its read batch, so that a
/// burst of small packets into one tunnel costs one `sendmsg` (UDP GSO) or
/// `sendmmsg` (GRE) too. `scratch` holds GSO segments.
pub(super) fn transmit_tunnel(
    peer: &TunnelPeer,
    hdr: Option<&VnetHdr>,
    pkt: &mut [u8],
    counters: &WorkerCounters,
    scratch: &mut Vec<u8>,
    batch: &mut TxBatch,
) {
    match hdr {
        Some(h) if h.gso_type != GsoType::None => {
            counters.event(Event::GsoSplit);
            let (mut n, mut bytes) = (0usize, 0usize);
            let mut wg = match &peer.encap {
                Encap::WireGuard { peer: wg, .. } => {
                    Some(wg.lock().unwrap_or_else(|e| e.into_inner()))
                }
                _ => None,
            };
            let split = gso::split(pkt, h, scratch, |seg: &[u8]| {
                let ok = match wg.as_deref_mut() {
                    Some(wg) => batch.push_wg(peer, wg, seg),
                    None => batch.push(peer, seg),
                };
                if ok {
                    n += 1;
                    bytes += seg.len();
                } else {
                    counters.event(Event::TxError);
                }
            });
            peer.count_tx(n, bytes);
            if split.is_err() {
                counters.event(Event::TxError);
            }
        }
        Some(h) if h.needs_csum() => {
            if gso::finish_checksum(pkt, h).is_ok() {
                push_one(peer, pkt, counters, batch);
            } else {
                counters.event(Event::TxError);
            }
        }
        _ => push_one(peer, pkt, counters, batch),
    }
}

/// One complete packet into the batch for `peer`.
fn push_one(peer: &TunnelPeer, pkt: &[u8], counters: &WorkerCounters, batch: &mut TxBatch) {
    // The pipeline counted the packet's tx on the tunnel port already.
    if batch.push(peer, pkt) {
        peer.count_tx(1, pkt.len());
    } else {
        peer.stats
            .tx_errors
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        counters.event(Event::TxError);
    }
}

#[cfg(test)]
mod tests {
    use super::ip_len;

    #[test]
    fn ip_len_trims_to_the_declared_length() {
        let mut v4 = [0u8; 60];
        v4[0] = 0x45;
        v4[3] = 28;
        assert_eq!(ip_len(&v4, false), 28);
        assert_eq!(ip_len(&v4, true), 60);
        let mut v6 = [0u8; 100];
        v6[0] = 0x60;
        v6[5] = 8;
        assert_eq!(ip_len(&v6, false), 48);
    }

    #[test]
    fn ip_len_never_exceeds_the_buffer() {
        let mut v4 = [0u8; 20];
        v4[0] = 0x45;
        v4[2] = 0xff;
        assert_eq!(ip_len(&v4, false), 20);
        assert_eq!(ip_len(&[], false), 0);
        assert_eq!(ip_len(&[0x60, 0, 0], false), 3);
    }
}
