//! Sending many packets into one tunnel with few syscalls: the segments of
//! a GSO super-packet (a 64 KiB TCP burst from the TUN) are encapsulated
//! one by one into one buffer, then sent together: WireGuard and VXLAN
//! datagrams with one `sendmsg` and UDP GSO (`UDP_SEGMENT`: the kernel cuts the buffer
//! into datagrams of the first one's size, the last may be shorter), GRE
//! packets with one `sendmmsg`. Without this, every 1.4 KB segment costs a
//! syscall of its own.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

use super::gre::{self, GreHeader};
use super::peer::{Encap, TunnelPeer};
use super::vxlan;
use super::wireguard::{WgPeer, WgSend};

/// Most datagrams per UDP GSO send (the kernel's limit is 64).
const MAX_SEGMENTS: usize = 64;
/// Most bytes per UDP GSO send (one UDP datagram's worth).
const MAX_BYTES: usize = 65_000;

/// Encapsulated packets waiting to be sent to one peer.
#[derive(Debug, Default)]
pub struct TxBatch {
    buf: Vec<u8>,
    /// End offset of each packet in `buf`.
    ends: Vec<usize>,
    tmp: Vec<u8>,
    /// VXLAN: which of the peer's source sockets the batch leaves from.
    sock: usize,
}

impl TxBatch {
    /// An empty batch.
    pub fn new() -> TxBatch {
        TxBatch::default()
    }

    /// Encapsulates `pkt` for `peer` and adds it; sends what is batched
    /// first if it would not fit in one send. Returns whether the packet
    /// was accepted (queued behind a WireGuard handshake counts). Takes a
    /// WireGuard peer's lock for this one packet: for the segments of a
    /// super-packet, lock once and use [`TxBatch::push_wg`].
    pub fn push(&mut self, peer: &TunnelPeer, pkt: &[u8]) -> bool {
        match &peer.encap {
            Encap::Gre { key, .. } => {
                if self.ends.len() == MAX_SEGMENTS {
                    self.flush(peer);
                }
                let protocol = match pkt.first().map(|b| b >> 4) {
                    Some(6) => gre::ETHERTYPE_IPV6,
                    _ => gre::ETHERTYPE_IPV4,
                };
                let h = GreHeader {
                    key: *key,
                    seq: None,
                    checksum: false,
                    protocol,
                };
                gre::encode(&h, pkt, &mut self.buf);
                self.ends.push(self.buf.len());
                true
            }
            Encap::WireGuard { peer: wg, .. } => {
                let mut wg = wg.lock().unwrap_or_else(|e| e.into_inner());
                self.push_wg(peer, &mut wg, pkt)
            }
            Encap::Vxlan(v) => {
                let size = vxlan::ENCAP_LEN + pkt.len();
                let sock = v.tx_index(pkt);
                if !self.fits(size) || (sock != self.sock && !self.ends.is_empty()) {
                    self.flush(peer);
                }
                self.sock = sock;
                v.encapsulate(pkt, &mut self.buf);
                self.ends.push(self.buf.len());
                true
            }
        }
    }

    /// As [`TxBatch::push`] for a WireGuard `peer` whose Noise state the
    /// caller has locked (`wg`), so that a burst pays for one lock.
    pub fn push_wg(&mut self, peer: &TunnelPeer, wg: &mut WgPeer, pkt: &[u8]) -> bool {
        let Encap::WireGuard {
            socket, roaming, ..
        } = &peer.encap
        else {
            return self.push(peer, pkt);
        };
        let Some(remote) = roaming.endpoint() else {
            // Not reachable yet (no endpoint): dropped, as WireGuard does.
            return false;
        };
        match wg.encapsulate(pkt, &mut self.tmp) {
            WgSend::Datagram => {
                if !self.fits(self.tmp.len()) {
                    self.flush(peer);
                }
                self.buf.extend_from_slice(&self.tmp);
                self.ends.push(self.buf.len());
                true
            }
            WgSend::Queued => {
                if !self.tmp.is_empty() {
                    roaming.publish(wg.local_indices());
                    let _ = socket.send_to(&self.tmp, remote);
                }
                true
            }
            WgSend::Error(_) => false,
        }
    }

    /// Whether a datagram of `size` bytes can join the batch's UDP GSO
    /// send: every datagram but the last has the first's size.
    fn fits(&self, size: usize) -> bool {
        self.ends.first().is_none_or(|&f| {
            size <= f
                && self.last_len() == f
                && self.buf.len() + size <= MAX_BYTES
                && self.ends.len() < MAX_SEGMENTS
        })
    }

    /// Length of the last packet in the batch (0 if empty).
    fn last_len(&self) -> usize {
        match self.ends.as_slice() {
            [] => 0,
            [only] => *only,
            [.., a, b] => b - a,
        }
    }

    /// Sends everything batched; returns how many packets went out.
    pub fn flush(&mut self, peer: &TunnelPeer) -> usize {
        let n = self.ends.len();
        if n == 0 {
            return 0;
        }
        let sent = match &peer.encap {
            Encap::Gre { socket, remote, .. } => {
                let mut start = 0;
                let packets: Vec<(&[u8], IpAddr)> = self
                    .ends
                    .iter()
                    .map(|&end| {
                        let p = (&self.buf[start..end], *remote);
                        start = end;
                        p
                    })
                    .collect();
                socket.send_batch(&packets).unwrap_or(0)
            }
            Encap::WireGuard {
                socket, roaming, ..
            } => match roaming.endpoint() {
                Some(remote) => send_udp(socket, &self.buf, &self.ends, remote),
                None => 0,
            },
            Encap::Vxlan(v) => send_udp(v.tx_socket(self.sock), &self.buf, &self.ends, v.remote),
        };
        self.buf.clear();
        self.ends.clear();
        if sent < n {
            peer.stats
                .tx_errors
                .fetch_add((n - sent) as u64, std::sync::atomic::Ordering::Relaxed);
        }
        sent
    }
}

/// Sends the datagrams in `buf` (ending at `ends`) to `to`: one UDP GSO
/// `sendmsg`, or one by one where the kernel has no UDP GSO. Returns how
/// many went out.
pub(crate) fn send_udp(socket: &UdpSocket, buf: &[u8], ends: &[usize], to: SocketAddr) -> usize {
    let n = ends.len();
    let seg = ends[0];
    if n == 1 {
        usize::from(socket.send_to(buf, to).is_ok())
    } else if send_gso(socket, buf, seg, to).is_ok() {
        n
    } else {
        // No UDP GSO (old kernel): one by one.
        let mut start = 0;
        let mut ok = 0;
        for &end in ends {
            ok += usize::from(socket.send_to(&buf[start..end], to).is_ok());
            start = end;
        }
        ok
    }
}

/// `sendmsg` of `buf` to `to` with a `UDP_SEGMENT` control message: the
/// kernel sends it as datagrams of `seg` bytes (the last may be shorter).
fn send_gso(socket: &UdpSocket, buf: &[u8], seg: usize, to: SocketAddr) -> io::Result<()> {
    let seg = u16::try_from(seg).map_err(|_| io::Error::other("segment too large"))?;
    let (mut storage, len) = sockaddr(to);
    let mut iov = libc::iovec {
        iov_base: buf.as_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // One cmsg holding a u16, with room for alignment.
    let mut control = [0u64; 4];
    // SAFETY: msghdr is plain data; every pointer set below points into
    // locals that outlive the sendmsg call, with the lengths given.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_name = (&mut storage as *mut libc::sockaddr_storage).cast();
        msg.msg_namelen = len;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(size_of::<u16>() as u32) as _;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null() {
            return Err(io::Error::other("no room for the UDP_SEGMENT cmsg"));
        }
        (*cmsg).cmsg_level = libc::SOL_UDP;
        (*cmsg).cmsg_type = libc::UDP_SEGMENT;
        (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<u16>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<u16>(), seg);
        let n = libc::sendmsg(socket.as_raw_fd(), &msg, 0);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// `to` as a sockaddr for sendmsg.
fn sockaddr(to: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data, zero is a valid value, and
    // it is large and aligned enough for sockaddr_in and sockaddr_in6.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match to {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_in fits in sockaddr_storage.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_in6 fits in sockaddr_storage.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}
