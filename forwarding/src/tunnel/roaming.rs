//! Where a WireGuard peer is, and how a datagram finds its peer, as in
//! WireGuard itself: the peer's current endpoint follows the source of
//! the latest *authenticated* datagram from it (a handshake message that
//! decrypted, or a data packet that passed its AEAD check; never a cookie
//! reply or anything that failed), and a datagram is matched to its peer
//! by the receiver index we chose for the session, not by its source
//! address, so a peer behind a NAT that moves it to another port is still
//! found.
//!
//! The receive threads read both without the peer's lock: the endpoint is
//! an [`ArcSwapOption`] (one atomic load to read, a pointer swap on the
//! rare change), the indices are published into a few atomics each time
//! the peer emits a handshake message.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use arc_swap::ArcSwapOption;

use super::wireguard::{WgMessage, WgRecv};

/// Receiver indices remembered per peer (the most recent ones): a peer
/// has a current, a previous and a next session, plus a handshake in
/// flight.
pub const INDEX_SLOTS: usize = 8;

/// Bit marking a used slot (an index is 32 bits; 0 is a valid index).
const USED: u64 = 1 << 32;

/// The moving parts of a WireGuard peer's underlay address.
#[derive(Debug)]
pub struct Roaming {
    /// Where datagrams to the peer go; `None` until known (a peer without
    /// `endpoint` that has not sent an authenticated datagram yet, or a
    /// hostname that did not resolve yet).
    endpoint: ArcSwapOption<SocketAddr>,
    /// Session indices we chose for this peer, as `USED | index`.
    indices: [AtomicU64; INDEX_SLOTS],
}

impl Roaming {
    /// A peer starting at `endpoint` (if known).
    pub fn new(endpoint: Option<SocketAddr>) -> Roaming {
        Roaming {
            endpoint: ArcSwapOption::new(endpoint.map(Arc::new)),
            indices: Default::default(),
        }
    }

    /// The current endpoint.
    pub fn endpoint(&self) -> Option<SocketAddr> {
        self.endpoint.load().as_deref().copied()
    }

    /// Sets the endpoint (config, resolver, reload).
    pub fn set_endpoint(&self, endpoint: Option<SocketAddr>) {
        self.endpoint.store(endpoint.map(Arc::new));
    }

    /// Follows an authenticated datagram from `from`; returns the previous
    /// endpoint when it moved (so the caller can log it once per move).
    pub fn roam(&self, from: SocketAddr) -> Option<Option<SocketAddr>> {
        let current = self.endpoint();
        if current == Some(from) {
            return None;
        }
        self.set_endpoint(Some(from));
        Some(current)
    }

    /// Publishes the peer's session indices (the last [`INDEX_SLOTS`] of
    /// `indices`; the rest of the slots are cleared).
    pub fn publish(&self, indices: &[u32]) {
        let recent = &indices[indices.len().saturating_sub(INDEX_SLOTS)..];
        for (i, slot) in self.indices.iter().enumerate() {
            let v = recent.get(i).map_or(0, |&x| USED | u64::from(x));
            if slot.load(Relaxed) != v {
                slot.store(v, Relaxed);
            }
        }
    }

    /// Whether `index` (a datagram's receiver index) is one of this peer's.
    pub fn owns(&self, index: u32) -> bool {
        let v = USED | u64::from(index);
        self.indices.iter().any(|s| s.load(Relaxed) == v)
    }
}

/// Whether a datagram of type `kind` that [`super::wireguard::WgPeer`]
/// answered with `result` (and `reply`, what it wrote for a
/// [`WgRecv::Reply`]) proves that the peer sent it: its source may become
/// the peer's endpoint. True for a handshake initiation answered with a
/// handshake response (not with a cookie reply: that only says the MAC
/// with our public key was right, which anyone can compute), a handshake
/// response that was accepted, and a data packet that decrypted.
pub fn proves_sender(kind: Option<WgMessage>, result: &WgRecv, reply: &[u8]) -> bool {
    match (kind, result) {
        (_, WgRecv::Error(_)) | (None, _) => false,
        (Some(WgMessage::CookieReply), _) => false,
        (Some(WgMessage::HandshakeInit), WgRecv::Reply) => {
            super::wireguard::message_type(reply) == Some(WgMessage::HandshakeResp)
        }
        (Some(WgMessage::HandshakeInit), _) => false,
        (Some(WgMessage::HandshakeResp), WgRecv::Reply | WgRecv::Done) => reply.first() != Some(&3),
        (Some(WgMessage::HandshakeResp), WgRecv::Packet { .. }) => false,
        (Some(WgMessage::Data), WgRecv::Packet { .. } | WgRecv::Done) => true,
        (Some(WgMessage::Data), WgRecv::Reply) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tunnel::wireguard::{WgConfig, WgPeer, WgSend, message_type, public_key};

    const A: SocketAddr = SocketAddr::new(
        std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)),
        40000,
    );

    fn pair() -> (WgPeer, WgPeer) {
        let config = |own: [u8; 32], peer: [u8; 32]| WgConfig {
            private_key: own,
            peer_public_key: public_key(&peer),
            preshared_key: None,
            persistent_keepalive: None,
        };
        (
            WgPeer::new(config([1; 32], [2; 32])),
            WgPeer::new(config([2; 32], [1; 32])),
        )
    }

    fn ipv4() -> Vec<u8> {
        let mut p = vec![
            0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 17, 0, 0, 192, 168, 0, 1, 192, 168, 0, 2,
        ];
        p.extend_from_slice(&[0x30, 0x39, 0x00, 0x35, 0, 8, 0, 0]);
        p
    }

    #[test]
    fn endpoint_follows_roam_and_reports_moves_once() {
        let r = Roaming::new(None);
        assert_eq!(r.endpoint(), None);
        assert_eq!(r.roam(A), Some(None));
        assert_eq!(r.roam(A), None);
        let b: SocketAddr = "10.0.0.1:40001".parse().unwrap();
        assert_eq!(r.roam(b), Some(Some(A)));
        assert_eq!(r.endpoint(), Some(b));
        r.set_endpoint(None);
        assert_eq!(r.endpoint(), None);
    }

    #[test]
    fn indices_are_published_and_replaced() {
        let r = Roaming::new(Some(A));
        assert!(!r.owns(0));
        r.publish(&[0, 7]);
        assert!(r.owns(0) && r.owns(7) && !r.owns(8));
        let many: Vec<u32> = (100..120).collect();
        r.publish(&many);
        assert!(!r.owns(7) && !r.owns(100) && r.owns(119) && r.owns(112));
        assert!(!r.owns(111));
    }

    /// Walks a real handshake and data exchange: only what decrypted
    /// proves the sender; forged or replayed datagrams do not.
    #[test]
    fn only_authenticated_datagrams_prove_the_sender() {
        let (mut a, mut b) = pair();
        let (mut init, mut resp, mut ka, mut out) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        assert_eq!(a.encapsulate(&ipv4(), &mut init), WgSend::Queued);

        // A forged initiation (one byte flipped) proves nothing.
        let mut forged = init.clone();
        forged[40] ^= 1;
        let r = b.decapsulate(A, &forged, &mut out);
        assert!(!proves_sender(message_type(&forged), &r, &out));

        let r = b.decapsulate(A, &init, &mut resp);
        assert!(proves_sender(message_type(&init), &r, &resp), "{r:?}");
        // Replaying it does not (the timestamp is not newer).
        let r = b.decapsulate(A, &init, &mut out);
        assert!(!proves_sender(message_type(&init), &r, &out), "{r:?}");

        let r = a.decapsulate(A, &resp, &mut ka);
        assert!(proves_sender(message_type(&resp), &r, &ka), "{r:?}");
        // b becomes usable with the initiator's first data (the queued
        // packet).
        assert!(a.flush_queued(&mut out));
        let data = out.clone();
        let r = b.decapsulate(A, &data, &mut out);
        assert!(proves_sender(message_type(&data), &r, &out), "{r:?}");
        // A tampered data packet does not.
        assert_eq!(a.encapsulate(&ipv4(), &mut out), WgSend::Datagram);
        let mut bad = out.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let r = b.decapsulate(A, &bad, &mut Vec::new());
        assert!(!proves_sender(message_type(&bad), &r, &[]), "{r:?}");
        // Garbage never does.
        assert!(!proves_sender(None, &WgRecv::Done, &[]));
        assert!(!proves_sender(
            Some(WgMessage::CookieReply),
            &WgRecv::Done,
            &[]
        ));
    }
}
