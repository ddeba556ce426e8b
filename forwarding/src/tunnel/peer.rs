//! One tunnel peer as the dataplane sees it: its encapsulation and underlay
//! socket, the inner sources it may send from (anti-spoofing), its ICMP
//! source addresses, and its counters.
//!
//! Sending ([`TunnelPeer::send`]) is called by any worker thread for
//! packets the FIB routes into the tunnel; receiving is the tunnel receive
//! thread's ([`super::rx`]), which hands decapsulated packets to
//! [`TunnelPeer::check_inner`] and then to the pipeline.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ipnet::IpNet;

use super::gre::{self, GreHeader};
use super::gre_socket::GreSocket;
use super::roaming::Roaming;
use super::vxlan;
use super::wireguard::{WgPeer, WgSend};
use crate::counters::DropReason;
use crate::pipeline::Ingress;

/// EtherType of an IPv4 payload.
const ETHERTYPE_V4: u16 = 0x0800;
/// EtherType of an IPv6 payload.
const ETHERTYPE_V6: u16 = 0x86DD;

/// How packets travel to the peer.
#[derive(Debug)]
pub enum Encap {
    /// Plain GRE (IP protocol 47), RFC 2784/2890.
    Gre {
        /// The GRE key both ends agree on, if any.
        key: Option<u32>,
        /// The raw underlay socket (shared by every GRE peer of that
        /// address family).
        socket: Arc<GreSocket>,
        /// The peer's underlay address.
        remote: IpAddr,
    },
    /// WireGuard over UDP.
    WireGuard {
        /// The Noise state; one lock per peer (encryption of one packet
        /// is ~1 µs; the lock is held only for that).
        peer: Mutex<WgPeer>,
        /// The UDP underlay socket (shared by every peer on that bind).
        socket: Arc<UdpSocket>,
        /// The peer's current underlay endpoint and session indices, read
        /// without the lock.
        roaming: Roaming,
        /// Our key pair and the peer's public key (swapped whole by a
        /// reload that rotates a key).
        keys: arc_swap::ArcSwap<WgKeys>,
    },
    /// VXLAN (RFC 7348) over UDP, as Linux's `vxlan` device speaks it.
    Vxlan(VxlanPeer),
}

/// The keys of a WireGuard peer, kept beside the Noise state: the receive
/// thread finds the peer of a handshake initiation from an unknown source
/// by its initiator's public key, and `vcpectl tunnel show` shows both
/// public keys.
#[derive(Clone)]
pub struct WgKeys {
    /// Our private key.
    pub private: [u8; 32],
    /// Our public key.
    pub public: [u8; 32],
    /// The peer's public key.
    pub peer_public: [u8; 32],
}

impl WgKeys {
    /// Keys from our private key and the peer's public key.
    pub fn new(private: [u8; 32], peer_public: [u8; 32]) -> WgKeys {
        WgKeys {
            private,
            public: super::wireguard::public_key(&private),
            peer_public,
        }
    }
}

impl std::fmt::Debug for WgKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WgKeys")
            .field("private", &"<redacted>")
            .field("public", &self.public)
            .field("peer_public", &self.peer_public)
            .finish()
    }
}

/// The VXLAN side of a peer: VNI, socket, and the Ethernet addresses of
/// the point-to-point segment.
#[derive(Debug)]
pub struct VxlanPeer {
    /// The VXLAN network identifier both ends use.
    pub vni: u32,
    /// The UDP underlay socket bound to the VXLAN port (shared by every
    /// VXLAN peer on that bind): ARP/ND answers and probes leave from it.
    pub socket: Arc<UdpSocket>,
    /// Sockets bound to distinct source ports; a flow's datagrams always
    /// leave from the one its inner flow hash picks, so that underlay
    /// ECMP and the receiver's RSS / `SO_REUSEPORT` spread flows (as the
    /// kernel's `vxlan` device picks a source port per flow). Empty: all
    /// from `socket`.
    pub tx_sockets: Arc<[UdpSocket]>,
    /// The peer's underlay endpoint (address and UDP port).
    pub remote: SocketAddr,
    /// Our MAC on this segment.
    pub mac: [u8; 6],
    /// The peer's MAC as learned from its frames ([`vxlan::mac_to_u64`]);
    /// 0 until then (frames go to the broadcast MAC).
    pub peer_mac: AtomicU64,
    /// When (ms since the peer's epoch) an ARP probe last went out.
    pub last_probe_ms: AtomicU64,
}

impl VxlanPeer {
    /// A peer with an unknown MAC; ours is derived from `seed` (use
    /// something both ends see differently, such as the remote endpoint).
    pub fn new(
        vni: u32,
        socket: Arc<UdpSocket>,
        tx_sockets: Arc<[UdpSocket]>,
        remote: SocketAddr,
        seed: &[u8],
    ) -> VxlanPeer {
        VxlanPeer {
            vni,
            socket,
            tx_sockets,
            remote,
            mac: vxlan::mac_from(seed),
            peer_mac: AtomicU64::new(0),
            last_probe_ms: AtomicU64::new(0),
        }
    }

    /// The destination MAC of frames to the peer.
    pub fn dst_mac(&self) -> [u8; 6] {
        match self.peer_mac.load(Relaxed) {
            0 => vxlan::BROADCAST,
            m => vxlan::mac_from_u64(m),
        }
    }

    /// The index of the socket a packet's flow leaves from (see
    /// `tx_sockets`); 0 when there is no pool.
    pub fn tx_index(&self, pkt: &[u8]) -> usize {
        match self.tx_sockets.len() {
            0 | 1 => 0,
            n => crate::pipeline::flow::of_packet(pkt) as usize % n,
        }
    }

    /// The socket a packet with [`VxlanPeer::tx_index`] `i` leaves from.
    pub fn tx_socket(&self, i: usize) -> &UdpSocket {
        self.tx_sockets.get(i).unwrap_or(&self.socket)
    }

    /// Remembers the peer's MAC from a frame it sent.
    pub fn learn(&self, mac: [u8; 6]) {
        let m = vxlan::mac_to_u64(mac);
        if mac[0] & 1 == 0 && self.peer_mac.load(Relaxed) != m {
            self.peer_mac.store(m, Relaxed);
        }
    }

    /// Writes the VXLAN and Ethernet headers for `pkt`, then `pkt`.
    pub fn encapsulate(&self, pkt: &[u8], out: &mut Vec<u8>) {
        let version = pkt.first().map_or(4, |b| b >> 4);
        vxlan::encode_headers(self.vni, self.dst_mac(), self.mac, version, out);
        out.extend_from_slice(pkt);
    }
}

/// Counters of one tunnel peer, shared by every thread that sends to or
/// receives from it (atomic adds: several writers).
#[derive(Debug, Default)]
pub struct TunnelStats {
    /// Inner packets sent.
    pub tx_packets: AtomicU64,
    /// Inner bytes sent.
    pub tx_bytes: AtomicU64,
    /// Inner packets received and accepted.
    pub rx_packets: AtomicU64,
    /// Inner bytes received and accepted.
    pub rx_bytes: AtomicU64,
    /// Received packets whose inner source the peer may not use.
    pub rx_spoofed: AtomicU64,
    /// Received datagrams that did not decapsulate (bad header, failed
    /// authentication, wrong key).
    pub rx_errors: AtomicU64,
    /// Sends that failed (socket errors, no session yet).
    pub tx_errors: AtomicU64,
    /// Milliseconds since the tunnel's epoch of the last accepted packet
    /// (0: never).
    pub last_rx_ms: AtomicU64,
}

/// One tunnel peer.
#[derive(Debug)]
pub struct TunnelPeer {
    /// The config name.
    pub name: String,
    /// Ingress of packets decapsulated from it: `Port::Tunnel(id)` and the
    /// router's inner addresses (sources of ICMP errors sent back in).
    pub ingress: Ingress,
    /// Inner source prefixes it may send from (replaced whole by a
    /// reload; the workers read a snapshot per packet, lock-free).
    pub allowed: arc_swap::ArcSwap<Vec<IpNet>>,
    /// Encapsulation and socket.
    pub encap: Encap,
    /// Its counters.
    pub stats: TunnelStats,
    /// Epoch of `stats.last_rx_ms`.
    pub epoch: Instant,
}

impl TunnelPeer {
    /// Whether the decapsulated packet may enter the pipeline: an IPv4 or
    /// IPv6 header whose source address lies in one of the peer's allowed
    /// prefixes (cryptokey-routing style: a peer only injects traffic from
    /// prefixes it may use). See [`check_inner`].
    pub fn check_inner(&self, pkt: &[u8]) -> Result<(), DropReason> {
        check_inner(&self.allowed.load(), pkt)
    }

    /// Encapsulates one IP packet and sends it to the peer. `buf` is the
    /// caller's scratch buffer (reused, no allocation once warm).
    pub fn send(&self, pkt: &[u8], buf: &mut Vec<u8>) -> io::Result<()> {
        let r = match &self.encap {
            Encap::Gre {
                key,
                socket,
                remote,
            } => {
                let protocol = match pkt.first().map(|b| b >> 4) {
                    Some(6) => ETHERTYPE_V6,
                    _ => ETHERTYPE_V4,
                };
                let h = GreHeader {
                    key: *key,
                    seq: None,
                    checksum: false,
                    protocol,
                };
                buf.clear();
                gre::encode(&h, pkt, buf);
                socket.send_to(buf, *remote).map(|_| ())
            }
            Encap::WireGuard {
                peer,
                socket,
                roaming,
                ..
            } => {
                buf.clear();
                // A peer that never told us where it is (no `endpoint`)
                // cannot be reached: drop, as WireGuard does.
                let Some(remote) = roaming.endpoint() else {
                    self.stats.tx_errors.fetch_add(1, Relaxed);
                    return Err(no_endpoint());
                };
                let outcome = {
                    let mut wg = peer.lock().unwrap_or_else(|e| e.into_inner());
                    let outcome = wg.encapsulate(pkt, buf);
                    if outcome == WgSend::Queued && !buf.is_empty() {
                        roaming.publish(wg.local_indices());
                    }
                    outcome
                };
                match outcome {
                    WgSend::Datagram => socket.send_to(buf, remote).map(|_| ()),
                    WgSend::Queued => {
                        // No session yet: what gotatun produced is the
                        // handshake initiation (if one is due).
                        if !buf.is_empty() {
                            socket.send_to(buf, remote)?;
                        }
                        Ok(())
                    }
                    WgSend::Error(e) => Err(io::Error::other(format!("{e:?}"))),
                }
            }
            Encap::Vxlan(v) => {
                buf.clear();
                // MAC resolution is the caller's, which knows the route's
                // gateway (`TunnelPeer::resolve`).
                v.encapsulate(pkt, buf);
                v.tx_socket(v.tx_index(pkt))
                    .send_to(buf, v.remote)
                    .map(|_| ())
            }
        };
        match &r {
            Ok(()) => {
                self.stats.tx_packets.fetch_add(1, Relaxed);
                self.stats.tx_bytes.fetch_add(pkt.len() as u64, Relaxed);
            }
            Err(_) => {
                self.stats.tx_errors.fetch_add(1, Relaxed);
            }
        }
        r
    }

    /// While a VXLAN peer's MAC is unknown, asks for it at most once a
    /// second: an ARP request (IPv4) or a neighbour solicitation (IPv6) for
    /// the route's `gateway`, else for the packet's destination. A kernel
    /// VTEP answers for its own addresses (give routes through it its
    /// inner address as `next_hop`); any frame it sends teaches us its MAC
    /// as well. Nothing for other encapsulations.
    pub fn resolve(&self, gateway: Option<IpAddr>, pkt: &[u8]) {
        let Encap::Vxlan(v) = &self.encap else {
            return;
        };
        if v.peer_mac.load(Relaxed) != 0 {
            return;
        }
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        let last = v.last_probe_ms.load(Relaxed);
        if last != 0 && now.saturating_sub(last) < 1000 {
            return;
        }
        let Some(target) = gateway.or_else(|| inner_destination(pkt)) else {
            return;
        };
        v.last_probe_ms.store(now.max(1), Relaxed);
        let probe = match target {
            IpAddr::V4(t) => {
                let sender = self.ingress.v4.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED);
                vxlan::arp_request(v.vni, v.mac, sender, t)
            }
            IpAddr::V6(t) => match self.ingress.v6 {
                Some(src) => vxlan::neighbour_solicitation(v.vni, v.mac, src, t),
                None => return,
            },
        };
        let _ = v.socket.send_to(&probe, v.remote);
    }

    /// Counts inner packets sent outside [`TunnelPeer::send`] (batches).
    pub fn count_tx(&self, packets: usize, bytes: usize) {
        self.stats.tx_packets.fetch_add(packets as u64, Relaxed);
        self.stats.tx_bytes.fetch_add(bytes as u64, Relaxed);
    }

    /// Counts an accepted inner packet.
    pub fn count_rx(&self, bytes: usize) {
        self.count_rx_at(bytes, Instant::now());
    }

    /// Counts an accepted inner packet received at `now` (a receive
    /// thread reads the clock once per batch, not per packet).
    pub fn count_rx_at(&self, bytes: usize, now: Instant) {
        self.stats.rx_packets.fetch_add(1, Relaxed);
        self.stats.rx_bytes.fetch_add(bytes as u64, Relaxed);
        let ms = u64::try_from(now.saturating_duration_since(self.epoch).as_millis())
            .unwrap_or(u64::MAX);
        if self.stats.last_rx_ms.load(Relaxed) != ms.max(1) {
            self.stats.last_rx_ms.store(ms.max(1), Relaxed);
        }
    }
}

/// The error of a send to a WireGuard peer whose endpoint is not known yet.
pub fn no_endpoint() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "the WireGuard peer has no endpoint yet (none configured, not resolved, or it has not connected)",
    )
}

/// The destination address of an IPv4 or IPv6 packet, if the header is there.
fn inner_destination(pkt: &[u8]) -> Option<IpAddr> {
    match pkt.first().map(|b| b >> 4) {
        Some(4) => {
            let b: [u8; 4] = pkt.get(16..20)?.try_into().ok()?;
            Some(IpAddr::from(b))
        }
        Some(6) => {
            let b: [u8; 16] = pkt.get(24..40)?.try_into().ok()?;
            Some(IpAddr::from(b))
        }
        _ => None,
    }
}

/// The verdict on a decapsulated packet from a peer allowed `allowed`:
/// [`DropReason::BadHeader`] when it is empty or no IPv4/IPv6 header
/// (wrong version, shorter than the fixed header), so junk is never
/// blamed on the peer as spoofing; [`DropReason::Spoofed`] when its
/// source is outside every allowed prefix. A linear scan: peers have a
/// handful of prefixes.
pub fn check_inner(allowed: &[IpNet], pkt: &[u8]) -> Result<(), DropReason> {
    let src = inner_source(pkt).ok_or(DropReason::BadHeader)?;
    if allowed.iter().any(|p| p.contains(&src)) {
        Ok(())
    } else {
        Err(DropReason::Spoofed)
    }
}

/// The source address of an IPv4 or IPv6 packet, if the fixed header
/// (20 bytes for IPv4, 40 for IPv6) is all there.
fn inner_source(pkt: &[u8]) -> Option<IpAddr> {
    match pkt.first().map(|b| b >> 4) {
        Some(4) if pkt.len() >= 20 => {
            let b: [u8; 4] = pkt.get(12..16)?.try_into().ok()?;
            Some(IpAddr::from(b))
        }
        Some(6) if pkt.len() >= 40 => {
            let b: [u8; 16] = pkt.get(8..24)?.try_into().ok()?;
            Some(IpAddr::from(b))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{check_inner, inner_source};
    use crate::counters::DropReason;
    use crate::tunnel::gre::{self, GreHeader};
    use ipnet::IpNet;

    #[test]
    fn inner_source_reads_both_families_and_refuses_short_packets() {
        let mut v4 = [0u8; 20];
        v4[0] = 0x45;
        v4[12..16].copy_from_slice(&[10, 1, 2, 3]);
        assert_eq!(inner_source(&v4), Some("10.1.2.3".parse().unwrap()));
        let mut v6 = [0u8; 40];
        v6[0] = 0x60;
        v6[8] = 0xfd;
        assert_eq!(inner_source(&v6), Some("fd00::".parse().unwrap()));
        assert_eq!(inner_source(&v4[..15]), None);
        assert_eq!(inner_source(&[]), None);
        assert_eq!(inner_source(&[0x10; 40]), None);
    }

    /// A GRE datagram decapsulated as the receive thread does, then judged.
    fn judge_gre(inner: &[u8]) -> Result<(), DropReason> {
        let h = GreHeader {
            key: Some(7),
            seq: None,
            checksum: false,
            protocol: 0x0800,
        };
        let mut datagram = Vec::new();
        gre::encode(&h, inner, &mut datagram);
        let (_, payload) = gre::decode(&datagram).expect("a valid GRE header");
        let allowed: Vec<IpNet> = vec!["10.1.0.0/16".parse().expect("prefix")];
        check_inner(&allowed, payload)
    }

    #[test]
    fn gre_with_empty_or_junk_inner_is_a_bad_header_not_spoofing() {
        assert_eq!(judge_gre(&[]), Err(DropReason::BadHeader));
        assert_eq!(
            judge_gre(&[0xde, 0xad, 0xbe, 0xef]),
            Err(DropReason::BadHeader)
        );
        assert_eq!(judge_gre(&[0x00; 60]), Err(DropReason::BadHeader));
        // An IPv4 version nibble but less than a header.
        let mut short = [0u8; 16];
        short[0] = 0x45;
        short[12..16].copy_from_slice(&[10, 1, 2, 3]);
        assert_eq!(judge_gre(&short), Err(DropReason::BadHeader));
        let mut v4 = [0u8; 20];
        v4[0] = 0x45;
        v4[12..16].copy_from_slice(&[10, 1, 2, 3]);
        assert_eq!(judge_gre(&v4), Ok(()));
        v4[12..16].copy_from_slice(&[10, 9, 2, 3]);
        assert_eq!(judge_gre(&v4), Err(DropReason::Spoofed));
    }
}
