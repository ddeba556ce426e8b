//! One WireGuard peer as a sans-IO state machine: bytes in, bytes out, no
//! sockets, no threads, no tokio.
//!
//! The cryptography (Noise IK handshake, ChaCha20-Poly1305 transport, cookies,
//! replay window, the protocol timers) is Mullvad's `gotatun` crate, the
//! maintained fork of Cloudflare's boringtun, used through its `noise` module
//! only (`default-features = false, features = ["ring"]`: no device, no
//! sockets, and `ring` instead of `aws-lc-rs`, which needs cmake). We write no
//! cryptography here. This file owns the glue the dataplane needs around
//! `gotatun::noise::Tunn`: a queue for packets sent before the handshake
//! completes, trimming of the padding that senders append to the inner packet,
//! byte-slice in/out buffers, our own error type, and demultiplexing helpers.
//!
//! # Driving a peer
//!
//! - Outgoing IP packet: [`WgPeer::encapsulate`]. Without a session the packet
//!   is queued (at most [`MAX_QUEUED`]) and a handshake initiation may come
//!   out instead.
//! - Incoming datagram: [`WgPeer::decapsulate`]. After any result other than
//!   [`WgRecv::Error`], call [`WgPeer::flush_queued`] until it returns
//!   `false`: a session may have just become usable. (The responder may only
//!   send once it has received the initiator's first data packet or
//!   keepalive, so the flush is not always right after the handshake reply.)
//! - Every ~250 ms: [`WgPeer::tick`].
//!
//! # Time
//!
//! gotatun reads the clock itself (`CLOCK_BOOTTIME`), inside every call; it
//! cannot be injected (its `mock_instant` feature is a thread-local test
//! clock for its own tests, and feature unification would leak it into the
//! daemon). Tests of timers therefore wait for real time.
//!
//! # Sharing one UDP socket between peers
//!
//! The caller demultiplexes each received datagram, using [`message_type`]:
//! - [`WgMessage::HandshakeInit`] carries no index known to us: either look
//!   up the peer by the datagram's source endpoint, or decrypt the initiator's
//!   static key with [`initiator_public_key`] (one X25519 operation) and look
//!   the peer up by public key, as wireguard-go does.
//! - Responses, cookie replies and data carry [`receiver_index`], an index we
//!   chose. Session indices are allocated at random by gotatun from one table
//!   shared by every [`WgPeer`] in the process, so they are unique across
//!   peers; [`WgPeer::local_indices`] lists a peer's indices. Keep a map
//!   index → peer and refresh a peer's entries whenever it emitted a
//!   handshake (`WgSend::Queued` with a non-empty `out`, `WgRecv::Reply`,
//!   `WgTick::Datagram`); [`WgPeer::owns_index`] answers for one index.
//!
//! A decrypted packet is authenticated but not yet authorised: the caller
//! must check its source ([`WgRecv::Packet`] carries it) against the peer's
//! allowed IPs (cryptokey routing) before forwarding it.
//!
//! # Concurrency
//!
//! Every operation takes `&mut self` (gotatun's `Tunn` mutates timers and
//! counters even to encrypt), so one peer is owned by one worker at a time, or
//! sits behind a mutex. `WgPeer` is `Send`.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use bytes::BytesMut;
use gotatun::noise::errors::WireGuardError;
use gotatun::noise::handshake::parse_handshake_anon;
use gotatun::noise::index_table::IndexTable;
use gotatun::noise::rate_limiter::RateLimiter;
use gotatun::noise::{Tunn, TunnResult};
use gotatun::packet::{Packet, WgKind};
use gotatun::x25519::{PublicKey, StaticSecret};

use super::handshake_gate::Verified;

/// Bytes that WireGuard adds around an inner packet on an IPv4 underlay:
/// 20 (IPv4), 8 (UDP), 16 (data header: type, receiver index, counter) and
/// 16 (Poly1305 tag). Tunnel MTU = underlay MTU - `OVERHEAD_V4`. We do not
/// pad inner packets to a multiple of 16, so there is no padding to add.
pub const OVERHEAD_V4: usize = 60;
/// As [`OVERHEAD_V4`] on an IPv6 underlay: 40 (IPv6) + 8 (UDP) + 32.
pub const OVERHEAD_V6: usize = 80;
/// Packets queued per peer while a handshake is in progress; more are dropped.
pub const MAX_QUEUED: usize = 256;
/// Handshake messages accepted per source IP per second before the peer
/// answers with cookie replies (gotatun's device uses the same value).
const HANDSHAKE_RATE_LIMIT: u64 = 100;

const HANDSHAKE_INIT_LEN: usize = 148;
const HANDSHAKE_RESP_LEN: usize = 92;
const COOKIE_REPLY_LEN: usize = 64;
/// Data header (16) plus tag (16): a keepalive.
const DATA_MIN_LEN: usize = 32;

/// Session indices of all peers of this process, so that a receiver index
/// identifies one peer (the kernel keeps one such table per device).
static INDICES: LazyLock<IndexTable> = LazyLock::new(IndexTable::from_os_rng);

/// Static configuration of one peer.
#[derive(Clone)]
pub struct WgConfig {
    /// Our X25519 private key (any 32 bytes; clamped by X25519).
    pub private_key: [u8; 32],
    /// The peer's X25519 public key.
    pub peer_public_key: [u8; 32],
    /// Optional symmetric key mixed into the handshake.
    pub preshared_key: Option<[u8; 32]>,
    /// Send a keepalive after this many seconds without sending anything.
    pub persistent_keepalive: Option<u16>,
}

impl std::fmt::Debug for WgConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WgConfig")
            .field("private_key", &"<redacted>")
            .field("peer_public_key", &self.peer_public_key)
            .field("preshared_key", &self.preshared_key.map(|_| "<redacted>"))
            .field("persistent_keepalive", &self.persistent_keepalive)
            .finish()
    }
}

/// Why a datagram or packet was refused. Count and drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WgError {
    /// Not a WireGuard message: unknown type or wrong length.
    #[error("not a WireGuard message")]
    Malformed,
    /// A MAC or AEAD check failed: forged, corrupted, or the keys differ.
    #[error("authentication failed")]
    Unauthenticated,
    /// Replayed data counter or handshake timestamp.
    #[error("replayed message")]
    Replayed,
    /// No session for the receiver index, or a message unexpected now.
    #[error("no matching session")]
    NoSession,
    /// The session is too old or its counter is exhausted.
    #[error("session expired")]
    Expired,
    /// Decrypted, but the content is not a well-formed IPv4/IPv6 packet.
    #[error("inner packet is not IPv4/IPv6")]
    BadInnerPacket,
    /// `encapsulate` was given something that is not an IPv4/IPv6 packet.
    #[error("outgoing packet is not IPv4/IPv6")]
    BadOutgoingPacket,
    /// Any other gotatun error.
    #[error("wireguard error: {0}")]
    Other(&'static str),
}

/// Result of [`WgPeer::encapsulate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WgSend {
    /// `out` holds one UDP payload for the peer's endpoint.
    Datagram,
    /// No session: the packet was queued (or dropped when the queue is full).
    /// `out` holds a handshake initiation to send, or is empty when one is
    /// already in flight.
    Queued,
    /// The packet was refused; `out` is empty.
    Error(WgError),
}

/// Result of [`WgPeer::decapsulate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WgRecv {
    /// `out` holds a decrypted IP packet (padding removed) from `source`.
    Packet {
        /// Inner source address, to check against the peer's allowed IPs.
        source: IpAddr,
    },
    /// `out` holds a datagram to send back to the sender: handshake
    /// response, cookie reply, or the keepalive confirming a handshake.
    Reply,
    /// Accepted, nothing to send (a keepalive, a cookie reply).
    Done,
    /// Refused; `out` is empty. Count and drop.
    Error(WgError),
}

/// Result of [`WgPeer::tick`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WgTick {
    /// Nothing to send.
    Idle,
    /// `out` holds a datagram (handshake initiation or keepalive).
    Datagram,
    /// The peer gave up: handshake attempts ran out (90 s) or no session for
    /// 9 minutes. Sessions and queued packets were dropped. Reported once;
    /// the next outgoing packet (or, with persistent keepalive, the next
    /// tick) starts a new handshake.
    ConnectionExpired,
}

/// What `vcpectl tunnel list` shows for a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WgStatus {
    /// Time since the current session's handshake, if there is a session.
    pub last_handshake: Option<Duration>,
    /// Bytes received: decrypted payloads and handshake messages.
    pub rx_bytes: u64,
    /// Bytes sent: WireGuard datagrams (UDP payloads).
    pub tx_bytes: u64,
    /// Whether a session exists.
    pub established: bool,
    /// No session, but a handshake we started or answered is still in
    /// flight (its index is in use and the peer has not given up).
    pub handshaking: bool,
}

/// WireGuard message types, from the first byte and the length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WgMessage {
    /// Type 1, 148 bytes: starts a handshake; find the peer by endpoint or
    /// [`initiator_public_key`].
    HandshakeInit,
    /// Type 2, 92 bytes.
    HandshakeResp,
    /// Type 3, 64 bytes.
    CookieReply,
    /// Type 4, at least 32 bytes.
    Data,
}

/// One WireGuard peer: handshake, sessions, timers, and a queue of packets
/// waiting for a session.
pub struct WgPeer {
    /// Boxed: gotatun keeps 8 sessions with their replay windows inline
    /// (~19 KB), too big to move around or embed in an enum.
    tunn: Box<Tunn>,
    rate_limiter: Arc<RateLimiter>,
    queue: VecDeque<Packet>,
    /// Sender indices of the handshake messages we emitted that are still in
    /// use (pruned when a new one is added).
    indices: Vec<u32>,
    keepalive: bool,
    expired: bool,
}

impl std::fmt::Debug for WgPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WgPeer")
            .field("status", &self.status())
            .field("queued", &self.queue.len())
            .field("indices", &self.indices)
            .finish_non_exhaustive()
    }
}

impl WgPeer {
    /// A peer with no session yet; nothing is sent until the first packet or
    /// tick.
    pub fn new(config: WgConfig) -> WgPeer {
        let private = StaticSecret::from(config.private_key);
        let public = PublicKey::from(&private);
        let rate_limiter = Arc::new(RateLimiter::new(&public, HANDSHAKE_RATE_LIMIT));
        let tunn = Box::new(Tunn::new(
            private,
            PublicKey::from(config.peer_public_key),
            config.preshared_key,
            config.persistent_keepalive,
            INDICES.clone(),
            Arc::clone(&rate_limiter),
        ));
        WgPeer {
            tunn,
            rate_limiter,
            queue: VecDeque::new(),
            indices: Vec::new(),
            keepalive: config.persistent_keepalive.is_some_and(|s| s > 0),
            expired: false,
        }
    }

    /// Encrypts one IPv4/IPv6 packet for the peer. See [`WgSend`].
    pub fn encapsulate(&mut self, ip_packet: &[u8], out: &mut Vec<u8>) -> WgSend {
        out.clear();
        if ip_len(ip_packet).is_none_or(|(len, _)| len != ip_packet.len()) {
            return WgSend::Error(WgError::BadOutgoingPacket);
        }
        let packet = Packet::from_bytes(BytesMut::from(ip_packet));
        match self.tunn.encapsulate_with_session(packet) {
            Ok(data) => {
                out.extend_from_slice(data.into_bytes().as_ref());
                WgSend::Datagram
            }
            Err(packet) => {
                if self.queue.len() < MAX_QUEUED {
                    self.queue.push_back(packet);
                }
                if let Some(init) = self.tunn.format_handshake_initiation(false) {
                    self.emit(init.into(), out);
                }
                WgSend::Queued
            }
        }
    }

    /// Encrypts the oldest queued packet into `out` if a session is ready.
    /// Returns `false` (and leaves `out` empty) when there is nothing to send.
    pub fn flush_queued(&mut self, out: &mut Vec<u8>) -> bool {
        out.clear();
        self.flush_queued_append(out)
    }

    /// As [`WgPeer::flush_queued`], appending to `out`.
    pub fn flush_queued_append(&mut self, out: &mut Vec<u8>) -> bool {
        let Some(packet) = self.queue.pop_front() else {
            return false;
        };
        match self.tunn.encapsulate_with_session(packet) {
            Ok(data) => {
                out.extend_from_slice(data.into_bytes().as_ref());
                true
            }
            Err(packet) => {
                self.queue.push_front(packet);
                false
            }
        }
    }

    /// Processes one datagram received from `src` (the peer's endpoint, used
    /// for cookies under load). See [`WgRecv`].
    pub fn decapsulate(&mut self, src: SocketAddr, datagram: &[u8], out: &mut Vec<u8>) -> WgRecv {
        out.clear();
        self.decapsulate_append(src, datagram, out)
    }

    /// As [`WgPeer::decapsulate`], but appends to `out` (what it produced
    /// is `out[len before..]`): decrypting a burst into one buffer.
    pub fn decapsulate_append(
        &mut self,
        src: SocketAddr,
        datagram: &[u8],
        out: &mut Vec<u8>,
    ) -> WgRecv {
        let packet = Packet::from_bytes(BytesMut::from(datagram));
        // Checks type, length and mac1, and answers with a cookie under load.
        let kind = match self.rate_limiter.verify_packet(src, packet) {
            Ok(kind) => kind,
            Err(TunnResult::WriteToNetwork(reply)) => {
                out.extend_from_slice(Packet::from(reply).as_ref());
                return WgRecv::Reply;
            }
            Err(TunnResult::Err(e)) => return WgRecv::Error(e.into()),
            Err(_) => return WgRecv::Error(WgError::Malformed),
        };
        self.handle(kind, out)
    }

    /// Processes a handshake message that passed a
    /// [`HandshakeGate`](super::handshake_gate::HandshakeGate) (mac1 and
    /// cookie checked there; this peer's own rate limiter is not asked
    /// again). Appends to `out` as [`WgPeer::decapsulate_append`].
    pub fn handshake(&mut self, verified: Verified, out: &mut Vec<u8>) -> WgRecv {
        self.handle(verified.0, out)
    }

    /// The Noise state machine on a checked message.
    fn handle(&mut self, kind: WgKind, out: &mut Vec<u8>) -> WgRecv {
        match self.tunn.handle_incoming_packet(kind) {
            TunnResult::Done => WgRecv::Done,
            TunnResult::Err(e) => WgRecv::Error(e.into()),
            TunnResult::WriteToNetwork(reply) => {
                self.expired = false;
                self.emit(reply, out);
                WgRecv::Reply
            }
            TunnResult::WriteToTunnel(inner) => {
                self.expired = false;
                let bytes = inner.as_ref();
                if bytes.is_empty() {
                    return WgRecv::Done;
                }
                match ip_len(bytes) {
                    Some((len, source)) if len <= bytes.len() => {
                        out.extend_from_slice(&bytes[..len]);
                        WgRecv::Packet { source }
                    }
                    _ => WgRecv::Error(WgError::BadInnerPacket),
                }
            }
        }
    }

    /// Runs the protocol timers: handshake retransmission and rekey,
    /// keepalives, session expiry. Call every ~250 ms. See [`WgTick`].
    pub fn tick(&mut self, out: &mut Vec<u8>) -> WgTick {
        out.clear();
        match self.tunn.update_timers() {
            Ok(Some(packet)) => {
                self.expired = false;
                self.emit(packet, out);
                WgTick::Datagram
            }
            Ok(None) => WgTick::Idle,
            Err(_) if self.expired => WgTick::Idle,
            Err(_) => {
                self.expired = true;
                self.queue.clear();
                if self.keepalive {
                    // gotatun stays silent once expired until a packet is
                    // sent; the kernel keeps trying with persistent
                    // keepalive, so start over.
                    self.tunn.reset();
                    self.expired = false;
                }
                WgTick::ConnectionExpired
            }
        }
    }

    /// Counters and handshake age.
    pub fn status(&self) -> WgStatus {
        let (last_handshake, tx, rx, _loss, _rtt) = self.tunn.stats();
        WgStatus {
            last_handshake,
            rx_bytes: rx as u64,
            tx_bytes: tx as u64,
            established: last_handshake.is_some(),
            handshaking: last_handshake.is_none()
                && !self.expired
                && self.indices.iter().any(|&i| INDICES.in_use(i)),
        }
    }

    /// Our session indices that may appear as [`receiver_index`] of
    /// datagrams for this peer (may include a few no longer in use).
    pub fn local_indices(&self) -> &[u32] {
        &self.indices
    }

    /// Whether `index` (a [`receiver_index`]) belongs to this peer.
    pub fn owns_index(&self, index: u32) -> bool {
        self.indices.contains(&index) && INDICES.in_use(index)
    }

    /// Copies an outgoing message into `out`, remembering handshake indices.
    fn emit(&mut self, message: WgKind, out: &mut Vec<u8>) {
        let sender = match &message {
            WgKind::HandshakeInit(p) => Some(p.sender_idx.get()),
            WgKind::HandshakeResp(p) => Some(p.sender_idx.get()),
            WgKind::CookieReply(_) | WgKind::Data(_) => None,
        };
        if let Some(index) = sender {
            self.indices.retain(|&i| INDICES.in_use(i));
            self.indices.push(index);
        }
        out.extend_from_slice(Packet::from(message).as_ref());
    }
}

/// The public key of a private key (X25519 base point multiplication).
pub fn public_key(private: &[u8; 32]) -> [u8; 32] {
    PublicKey::from(&StaticSecret::from(*private)).to_bytes()
}

/// The WireGuard message type of a datagram, checked against its length.
pub fn message_type(datagram: &[u8]) -> Option<WgMessage> {
    match (datagram.first()?, datagram.len()) {
        (1, HANDSHAKE_INIT_LEN) => Some(WgMessage::HandshakeInit),
        (2, HANDSHAKE_RESP_LEN) => Some(WgMessage::HandshakeResp),
        (3, COOKIE_REPLY_LEN) => Some(WgMessage::CookieReply),
        (4, DATA_MIN_LEN..) => Some(WgMessage::Data),
        _ => None,
    }
}

/// The index we chose that a response, cookie reply or data message is
/// addressed to; `None` for initiations and non-WireGuard datagrams.
pub fn receiver_index(datagram: &[u8]) -> Option<u32> {
    let offset = match message_type(datagram)? {
        WgMessage::HandshakeInit => return None,
        WgMessage::HandshakeResp => 8,
        WgMessage::CookieReply | WgMessage::Data => 4,
    };
    let bytes = datagram.get(offset..offset + 4)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

/// The static public key of the sender of a handshake initiation addressed to
/// `private_key`, or `None` if it is not one. Costs one X25519 operation and
/// does not check mac1 or rate limits ([`WgPeer::decapsulate`] does), so
/// callers exposed to floods should limit per source endpoint first.
pub fn initiator_public_key(private_key: &[u8; 32], datagram: &[u8]) -> Option<[u8; 32]> {
    if message_type(datagram)? != WgMessage::HandshakeInit {
        return None;
    }
    let WgKind::HandshakeInit(init) = Packet::from_bytes(BytesMut::from(datagram))
        .try_into_wg()
        .ok()?
    else {
        return None;
    };
    let private = StaticSecret::from(*private_key);
    let public = PublicKey::from(&private);
    parse_handshake_anon(&private, &public, &init)
        .ok()
        .map(|half| half.peer_static_public)
}

/// Length announced by an IPv4/IPv6 header and the source address, if the
/// header is well formed (the buffer may be longer: padding).
fn ip_len(packet: &[u8]) -> Option<(usize, IpAddr)> {
    match packet.first()? >> 4 {
        4 => {
            let header: &[u8; 20] = packet.get(..20)?.try_into().ok()?;
            let ihl = usize::from(header[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([header[2], header[3]]));
            let src = Ipv4Addr::new(header[12], header[13], header[14], header[15]);
            (ihl >= 20 && total >= ihl).then_some((total, src.into()))
        }
        6 => {
            let header: &[u8; 40] = packet.get(..40)?.try_into().ok()?;
            let payload = usize::from(u16::from_be_bytes([header[4], header[5]]));
            let src: [u8; 16] = header[8..24].try_into().ok()?;
            Some((40 + payload, Ipv6Addr::from(src).into()))
        }
        _ => None,
    }
}

impl From<WireGuardError> for WgError {
    fn from(e: WireGuardError) -> WgError {
        use WireGuardError as E;
        match e {
            E::IncorrectPacketLength | E::WrongPacketType | E::InvalidPacket => WgError::Malformed,
            E::InvalidMac | E::InvalidAeadTag | E::WrongKey => WgError::Unauthenticated,
            E::DuplicateCounter
            | E::InvalidCounter
            | E::WrongTai64nTimestamp
            | E::InvalidTai64nTimestamp => WgError::Replayed,
            E::WrongIndex | E::NoCurrentSession | E::UnexpectedPacket => WgError::NoSession,
            E::ConnectionExpired => WgError::Expired,
            E::DestinationBufferTooSmall => WgError::Other("destination buffer too small"),
            E::LockFailed => WgError::Other("lock failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 51820);
    const B_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 51820);

    fn pair(keepalive: Option<u16>) -> (WgPeer, WgPeer) {
        let (a, b) = ([0x11; 32], [0x22; 32]);
        let config = |own: [u8; 32], peer: [u8; 32], keepalive| WgConfig {
            private_key: own,
            peer_public_key: public_key(&peer),
            preshared_key: Some([0x33; 32]),
            persistent_keepalive: keepalive,
        };
        (
            WgPeer::new(config(a, b, keepalive)),
            WgPeer::new(config(b, a, None)),
        )
    }

    /// IPv4/UDP packet 192.168.0.1 -> 192.168.0.2 with `len` payload bytes
    /// (checksums left zero: the tunnel does not look at them).
    fn ipv4(len: usize, fill: u8) -> Vec<u8> {
        let total = 28 + len;
        let mut p = vec![
            0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 192, 168, 0, 1, 192, 168, 0, 2,
        ];
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p.extend_from_slice(&[0x30, 0x39, 0x00, 0x35]);
        p.extend_from_slice(&((8 + len) as u16).to_be_bytes());
        p.extend_from_slice(&[0, 0]);
        p.resize(total, fill);
        p
    }

    /// Delivers `datagram` to `to`, answers replies back and forth until both
    /// sides are quiet, and returns the inner packets each side received.
    fn exchange(
        from: &mut WgPeer,
        to: &mut WgPeer,
        datagram: Vec<u8>,
    ) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let mut received = (Vec::new(), Vec::new());
        let mut in_flight = vec![(true, datagram)];
        let mut out = Vec::new();
        while let Some((to_b, d)) = in_flight.pop() {
            let (peer, src) = if to_b {
                (&mut *to, A_ADDR)
            } else {
                (&mut *from, B_ADDR)
            };
            match peer.decapsulate(src, &d, &mut out) {
                WgRecv::Packet { .. } => {
                    let inbox = if to_b {
                        &mut received.1
                    } else {
                        &mut received.0
                    };
                    inbox.push(out.clone());
                }
                WgRecv::Reply => in_flight.push((!to_b, out.clone())),
                WgRecv::Done => {}
                WgRecv::Error(e) => panic!("unexpected {e:?}"),
            }
            while peer.flush_queued(&mut out) {
                in_flight.push((!to_b, out.clone()));
            }
        }
        received
    }

    #[test]
    fn handshake_then_packets_both_ways() {
        let (mut a, mut b) = pair(None);
        let mut out = Vec::new();
        let first = ipv4(100, 0xaa);
        assert_eq!(a.encapsulate(&first, &mut out), WgSend::Queued);
        assert_eq!(message_type(&out), Some(WgMessage::HandshakeInit));
        assert!(!a.status().established);

        // init -> response -> keepalive, then a's queued packet is flushed.
        let (at_a, at_b) = exchange(&mut a, &mut b, out.clone());
        assert!(at_a.is_empty());
        assert_eq!(at_b, vec![first]);
        assert!(a.status().established && b.status().established);

        for (len, fill) in [(0, 1), (1, 2), (1400, 3)] {
            let p = ipv4(len, fill);
            assert_eq!(a.encapsulate(&p, &mut out), WgSend::Datagram);
            assert_eq!(out.len(), p.len() + 32);
            assert!(!a.owns_index(receiver_index(&out).unwrap()));
            assert!(b.owns_index(receiver_index(&out).unwrap()));
            assert_eq!(exchange(&mut a, &mut b, out.clone()).1, vec![p.clone()]);

            assert_eq!(b.encapsulate(&p, &mut out), WgSend::Datagram);
            assert!(a.owns_index(receiver_index(&out).unwrap()));
            assert_eq!(exchange(&mut b, &mut a, out.clone()).1, vec![p]);
        }
        assert!(a.status().tx_bytes > 0 && b.status().rx_bytes > 0);
    }

    #[test]
    fn initiator_is_identified_by_public_key() {
        let (mut a, _b) = pair(None);
        let mut out = Vec::new();
        a.encapsulate(&ipv4(1, 0), &mut out);
        assert_eq!(
            initiator_public_key(&[0x22; 32], &out),
            Some(public_key(&[0x11; 32]))
        );
        assert_eq!(initiator_public_key(&[0x44; 32], &out), None);
        assert_eq!(receiver_index(&out), None);
    }

    #[test]
    fn tampered_datagram_is_refused() {
        let (mut a, mut b) = pair(None);
        let mut out = Vec::new();
        a.encapsulate(&ipv4(10, 0), &mut out);
        exchange(&mut a, &mut b, out.clone());

        assert_eq!(a.encapsulate(&ipv4(10, 7), &mut out), WgSend::Datagram);
        for i in [0, 4, 8, 16, out.len() - 1] {
            let mut bad = out.clone();
            bad[i] ^= 0x01;
            let mut inner = vec![0xee];
            let r = b.decapsulate(A_ADDR, &bad, &mut inner);
            assert!(matches!(r, WgRecv::Error(_)), "byte {i}: {r:?}");
            assert!(inner.is_empty());
        }
        // The genuine datagram still passes; replaying it does not.
        assert!(matches!(
            b.decapsulate(A_ADDR, &out, &mut Vec::new()),
            WgRecv::Packet { .. }
        ));
        assert_eq!(
            b.decapsulate(A_ADDR, &out, &mut Vec::new()),
            WgRecv::Error(WgError::Replayed)
        );
    }

    #[test]
    fn wrong_peer_key_never_establishes() {
        let (mut a, _) = pair(None);
        let mut c = WgPeer::new(WgConfig {
            private_key: [0x22; 32],
            peer_public_key: public_key(&[0x55; 32]),
            preshared_key: Some([0x33; 32]),
            persistent_keepalive: None,
        });
        let mut out = Vec::new();
        a.encapsulate(&ipv4(10, 0), &mut out);
        let r = c.decapsulate(A_ADDR, &out, &mut out.clone());
        assert!(matches!(r, WgRecv::Error(_)), "{r:?}");
        assert!(!a.status().established && !c.status().established);
    }

    #[test]
    fn persistent_keepalive_is_sent() {
        let (mut a, mut b) = pair(Some(1));
        let mut out = Vec::new();
        // Due at once: no session, so a handshake initiation.
        assert_eq!(a.tick(&mut out), WgTick::Datagram);
        assert_eq!(message_type(&out), Some(WgMessage::HandshakeInit));
        exchange(&mut a, &mut b, out.clone());
        assert_eq!(a.tick(&mut out), WgTick::Idle);

        // gotatun reads the real clock: wait past the 1 s interval.
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(a.tick(&mut out), WgTick::Datagram);
        assert_eq!(out.len(), DATA_MIN_LEN);
        assert_eq!(b.decapsulate(A_ADDR, &out, &mut Vec::new()), WgRecv::Done);
    }

    #[test]
    fn helpers_refuse_garbage() {
        assert_eq!(message_type(&[]), None);
        assert_eq!(message_type(&[4; 31]), None);
        assert_eq!(
            receiver_index(&[4, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            None
        );
        let mut data = vec![0; 32];
        data[0] = 4;
        data[4] = 7;
        assert_eq!(receiver_index(&data), Some(7));
        let (mut a, _) = pair(None);
        let mut out = Vec::new();
        assert_eq!(
            a.encapsulate(&[0x45, 0, 0], &mut out),
            WgSend::Error(WgError::BadOutgoingPacket)
        );
    }

    #[test]
    fn peer_is_send() {
        fn send<T: Send>() {}
        send::<WgPeer>();
    }

    proptest::proptest! {
        #[test]
        fn decapsulate_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300), kind in 0u8..6) {
            let (mut a, mut b) = pair(None);
            let mut out = Vec::new();
            a.encapsulate(&ipv4(10, 0), &mut out);
            exchange(&mut a, &mut b, out.clone());
            // Arbitrary bytes, and arbitrary bytes behind a valid type byte.
            let mut d = bytes.clone();
            if let Some(first) = d.first_mut() {
                *first = kind;
            }
            for datagram in [&bytes, &d] {
                let _ = b.decapsulate(A_ADDR, datagram, &mut out);
                let _ = receiver_index(datagram);
                let _ = initiator_public_key(&[1; 32], datagram);
            }
        }
    }
}
