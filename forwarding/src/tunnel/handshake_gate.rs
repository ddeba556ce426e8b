//! What a WireGuard handshake message must pass before it may cost a
//! Diffie-Hellman: sans-IO, no sockets, no threads; the clock is passed in.
//!
//! - [`HandshakeGate`]: per private key of ours, gotatun's cookie logic
//!   (`RateLimiter`: mac1 check, cookie replies, mac2 check). Normally a
//!   source IP gets 100 handshakes a second before it must prove its
//!   address with a cookie (mac2), as gotatun's own device does; while the
//!   dataplane is *under load* every handshake must carry a valid mac2, as
//!   wireguard-go and the kernel do. A cookie reply is cheap (a hash and
//!   an XChaCha20-Poly1305 of 16 bytes): no DH, no peer lookup.
//! - [`LoadState`]: "under load" = the handshake queue at least 1/8 full,
//!   sticky for [`UNDER_LOAD_HOLD`] after it was last seen so.
//! - [`DhBudget`]: what passed the gate is still capped per second before
//!   it reaches the DH. A handshake that proved its address (valid mac2)
//!   has a budget of its own, per source IP and overall (a flood with
//!   valid cookies, from addresses the flooder owns), so that handshakes
//!   that passed without a cookie (up to 100 per address) cannot spend it;
//!   when those exhaust theirs, the caller goes under load, and cookies
//!   are required from everyone.
//!
//! We write no cryptography here: the MACs and cookies are gotatun's.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use gotatun::noise::TunnResult;
use gotatun::noise::rate_limiter::RateLimiter;
use gotatun::packet::{Packet, WgKind};
use gotatun::x25519::{PublicKey, StaticSecret};

/// Handshakes per source IP per second before a cookie is required, when
/// not under load (gotatun's device uses the same value).
const PER_IP_BEFORE_COOKIE: u64 = 100;

/// How long "under load" lasts after the queue was last seen 1/8 full
/// (wireguard-go: 1 s).
pub const UNDER_LOAD_HOLD: Duration = Duration::from_secs(1);

/// Handshakes per source IP per second that reach the DH (the kernel
/// allows 20 per second per source under load).
pub const DH_PER_IP: u32 = 20;

/// Handshakes with a valid cookie per second that reach the DH in all
/// (each costs a few X25519 operations, ~50 µs each on a slow core).
pub const DH_TOTAL: u32 = 2000;

/// Handshakes without a cookie per second that reach the DH in all (each
/// address gets 100 before it needs one); beyond, everyone needs one.
pub const DH_OPEN_TOTAL: u32 = 1000;

/// A handshake message that passed the gate: hand it to
/// [`crate::tunnel::wireguard::WgPeer::handshake`].
#[derive(Debug)]
pub struct Verified(pub(crate) WgKind);

/// What [`HandshakeGate::check`] decided.
#[derive(Debug)]
pub enum GateVerdict {
    /// Go on: find the peer, then [`crate::tunnel::wireguard::WgPeer::handshake`].
    Pass {
        /// The message.
        verified: Verified,
        /// Its mac2 was checked: the sender proved its address.
        proven: bool,
    },
    /// Send this cookie reply back to the source; nothing else.
    Cookie(Vec<u8>),
    /// Not for this key (mac1 wrong) or malformed: drop.
    Invalid,
}

/// gotatun's cookie logic for one private key of ours (see the module
/// docs).
pub struct HandshakeGate {
    /// 100 per source IP per second, then a cookie.
    normal: RateLimiter,
    /// Limit 0: a cookie always (under load).
    strict: RateLimiter,
    last_reset: Instant,
    /// Handshakes per source IP since `last_reset`, as `normal` counts
    /// them (it does not tell whether it checked mac2).
    seen: HashMap<IpAddr, u64>,
}

impl std::fmt::Debug for HandshakeGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandshakeGate").finish_non_exhaustive()
    }
}

impl HandshakeGate {
    /// The gate of our key `private` (one X25519 base multiplication).
    pub fn new(private: &[u8; 32], now: Instant) -> HandshakeGate {
        let public = PublicKey::from(&StaticSecret::from(*private));
        HandshakeGate {
            normal: RateLimiter::new(&public, PER_IP_BEFORE_COOKIE),
            strict: RateLimiter::new(&public, 0),
            last_reset: now,
            seen: HashMap::new(),
        }
    }

    /// Checks a handshake initiation or response from `src`: mac1, then
    /// under load (or over the per-IP rate) mac2. Cookie replies and data
    /// carry no mac1 and are passed as they are.
    pub fn check(&mut self, src: SocketAddr, datagram: &[u8], under_load: bool) -> GateVerdict {
        // gotatun's per-IP counts are per second; it resets them itself
        // only from its own timers.
        if self.last_reset.elapsed() >= Duration::from_secs(1) {
            self.normal.try_reset_count();
            self.strict.try_reset_count();
            self.seen.clear();
            self.last_reset = Instant::now();
        }
        let handshake = matches!(datagram.first(), Some(1 | 2));
        let (limiter, proven) = if under_load {
            (&self.strict, handshake)
        } else {
            let mut proven = false;
            if handshake {
                let n = self.seen.entry(src.ip()).or_insert(0);
                *n += 1;
                proven = *n > PER_IP_BEFORE_COOKIE;
            }
            (&self.normal, proven)
        };
        let packet = Packet::from_bytes(BytesMut::from(datagram));
        match limiter.verify_packet(src, packet) {
            Ok(kind) => GateVerdict::Pass {
                verified: Verified(kind),
                proven,
            },
            Err(TunnResult::WriteToNetwork(reply)) => {
                GateVerdict::Cookie(Packet::from(reply).as_ref().to_vec())
            }
            Err(_) => GateVerdict::Invalid,
        }
    }
}

/// Whether the handshake queue is under load (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadState {
    /// When the queue was last seen at least 1/8 full.
    last_loaded: Option<Instant>,
    /// Since when it is under load, if it is.
    since: Option<Instant>,
}

/// A change of [`LoadState`], to log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadChange {
    /// It just went under load.
    Loaded,
    /// It just recovered, after this long under load.
    Recovered(Duration),
}

impl LoadState {
    /// Updates the state with the queue's depth `depth` of `capacity` at
    /// `now`; what changed.
    pub fn observe(&mut self, depth: usize, capacity: usize, now: Instant) -> Option<LoadChange> {
        if depth >= capacity.div_ceil(8).max(1) {
            self.last_loaded = Some(now);
            if self.since.is_none() {
                self.since = Some(now);
                return Some(LoadChange::Loaded);
            }
            return None;
        }
        match (self.since, self.last_loaded) {
            (Some(since), Some(last)) if now.saturating_duration_since(last) >= UNDER_LOAD_HOLD => {
                self.since = None;
                Some(LoadChange::Recovered(now.saturating_duration_since(since)))
            }
            _ => None,
        }
    }

    /// Goes under load at `now` whatever the queue's depth (the DH budget
    /// of handshakes without a cookie is spent); what changed.
    pub fn force(&mut self, now: Instant) -> Option<LoadChange> {
        self.last_loaded = Some(now);
        if self.since.is_none() {
            self.since = Some(now);
            return Some(LoadChange::Loaded);
        }
        None
    }

    /// Since when it is under load, if it is.
    pub fn since(&self) -> Option<Instant> {
        self.since
    }
}

/// Handshakes allowed to reach the DH: [`DH_PER_IP`] per source IP and
/// [`DH_TOTAL`] in all, per second.
#[derive(Debug)]
pub struct DhBudget {
    per_ip: HashMap<IpAddr, u32>,
    total: u32,
    window: Instant,
    per_ip_limit: u32,
    total_limit: u32,
}

impl DhBudget {
    /// A budget of `per_ip` and `total` per second, from `now`.
    pub fn new(per_ip: u32, total: u32, now: Instant) -> DhBudget {
        DhBudget {
            per_ip: HashMap::new(),
            total: 0,
            window: now,
            per_ip_limit: per_ip,
            total_limit: total,
        }
    }

    /// Takes one DH for `ip` at `now`; `false`: over budget, drop.
    pub fn take(&mut self, ip: IpAddr, now: Instant) -> bool {
        if now.saturating_duration_since(self.window) >= Duration::from_secs(1) {
            self.per_ip.clear();
            self.total = 0;
            self.window = now;
        }
        if self.total >= self.total_limit {
            return false;
        }
        let n = self.per_ip.entry(ip.to_canonical()).or_insert(0);
        if *n >= self.per_ip_limit {
            return false;
        }
        *n += 1;
        self.total += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tunnel::wireguard::WgMessage;
    use crate::tunnel::wireguard::{WgConfig, WgPeer, WgRecv, WgTick, message_type, public_key};

    const SRC: SocketAddr =
        SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)), 51820);
    const VICTIM: [u8; 32] = [0x22; 32];
    /// An IPv4 header alone (20 bytes): what makes a peer start a handshake.
    const PACKET: [u8; 20] = [
        0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];

    /// A fresh initiation to [`VICTIM`] from a new key.
    fn initiation(seed: u8) -> Vec<u8> {
        let mut a = WgPeer::new(WgConfig {
            private_key: [seed; 32],
            peer_public_key: public_key(&VICTIM),
            preshared_key: None,
            persistent_keepalive: None,
        });
        let mut out = Vec::new();
        a.encapsulate(&PACKET, &mut out);
        assert_eq!(message_type(&out), Some(WgMessage::HandshakeInit));
        out
    }

    #[test]
    fn under_load_every_initiation_gets_a_cookie_and_others_pass() {
        let now = Instant::now();
        let mut gate = HandshakeGate::new(&VICTIM, now);
        let init = initiation(1);
        assert!(matches!(
            gate.check(SRC, &init, false),
            GateVerdict::Pass { proven: false, .. }
        ));
        match gate.check(SRC, &init, true) {
            GateVerdict::Cookie(c) => assert_eq!(message_type(&c), Some(WgMessage::CookieReply)),
            v => panic!("{v:?}"),
        }
        // Another key's gate: mac1 is wrong.
        let mut other = HandshakeGate::new(&[0x44; 32], now);
        assert!(matches!(
            other.check(SRC, &init, false),
            GateVerdict::Invalid
        ));
        assert!(matches!(
            other.check(SRC, &init, true),
            GateVerdict::Invalid
        ));
    }

    #[test]
    fn over_the_per_ip_rate_a_cookie_is_required() {
        let mut gate = HandshakeGate::new(&VICTIM, Instant::now());
        let init = initiation(3);
        let cookies = (0..150)
            .filter(|_| matches!(gate.check(SRC, &init, false), GateVerdict::Cookie(_)))
            .count();
        assert_eq!(cookies, 50);
        // Over the rate, a valid cookie passes, and counts as proven.
        let mut a = WgPeer::new(WgConfig {
            private_key: [6; 32],
            peer_public_key: public_key(&VICTIM),
            preshared_key: None,
            persistent_keepalive: None,
        });
        let mut init = Vec::new();
        a.encapsulate(&PACKET, &mut init);
        let GateVerdict::Cookie(cookie) = gate.check(SRC, &init, false) else {
            panic!("no cookie");
        };
        assert_eq!(a.decapsulate(SRC, &cookie, &mut Vec::new()), WgRecv::Done);
        let mut retry = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(8);
        while Instant::now() < deadline && a.tick(&mut retry) != WgTick::Datagram {
            std::thread::sleep(Duration::from_millis(100));
        }
        // (The per-second counts were reset meanwhile: go over again.)
        for _ in 0..100 {
            gate.check(SRC, &initiation(7), false);
        }
        assert!(matches!(
            gate.check(SRC, &retry, false),
            GateVerdict::Pass { proven: true, .. }
        ));
    }

    #[test]
    fn the_cookie_lets_the_initiator_through_under_load() {
        let now = Instant::now();
        let mut gate = HandshakeGate::new(&VICTIM, now);
        let mut a = WgPeer::new(WgConfig {
            private_key: [5; 32],
            peer_public_key: public_key(&VICTIM),
            preshared_key: None,
            persistent_keepalive: None,
        });
        let mut init = Vec::new();
        a.encapsulate(&PACKET, &mut init);
        let GateVerdict::Cookie(cookie) = gate.check(SRC, &init, true) else {
            panic!("no cookie");
        };
        // The initiator takes the cookie; its next initiation carries mac2.
        assert_eq!(a.decapsulate(SRC, &cookie, &mut Vec::new()), WgRecv::Done);
        // gotatun retries after 5 s (plus jitter) and reads the real clock.
        let mut retry = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(8);
        while Instant::now() < deadline && a.tick(&mut retry) != WgTick::Datagram {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(message_type(&retry), Some(WgMessage::HandshakeInit));
        assert!(matches!(
            gate.check(SRC, &retry, true),
            GateVerdict::Pass { proven: true, .. }
        ));
    }

    #[test]
    fn load_is_one_eighth_full_and_sticky_for_a_second() {
        let t0 = Instant::now();
        let mut s = LoadState::default();
        assert_eq!(s.observe(100, 4096, t0), None);
        assert_eq!(s.observe(512, 4096, t0), Some(LoadChange::Loaded));
        assert!(s.since().is_some());
        assert_eq!(s.observe(0, 4096, t0 + Duration::from_millis(900)), None);
        assert_eq!(
            s.observe(0, 4096, t0 + Duration::from_millis(1000)),
            Some(LoadChange::Recovered(Duration::from_millis(1000)))
        );
        assert!(s.since().is_none());
        assert_eq!(s.observe(0, 4096, t0 + Duration::from_secs(5)), None);
        let t1 = t0 + Duration::from_secs(6);
        assert_eq!(s.force(t1), Some(LoadChange::Loaded));
        assert_eq!(s.force(t1), None);
        assert_eq!(s.observe(0, 4096, t1 + Duration::from_millis(500)), None);
        assert!(s.since().is_some());
    }

    #[test]
    fn dh_budget_caps_per_ip_and_in_all() {
        let t0 = Instant::now();
        let mut b = DhBudget::new(2, 3, t0);
        let (x, y, z) = (
            IpAddr::from([10, 0, 0, 1]),
            IpAddr::from([10, 0, 0, 2]),
            IpAddr::from([10, 0, 0, 3]),
        );
        assert!(b.take(x, t0) && b.take(x, t0));
        assert!(!b.take(x, t0));
        assert!(b.take(y, t0));
        assert!(!b.take(z, t0), "total of 3 spent");
        let t1 = t0 + Duration::from_secs(1);
        assert!(b.take(x, t1) && b.take(z, t1));
    }
}
