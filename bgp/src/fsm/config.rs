//! Per-peer session configuration: what we announce in our OPEN and how the
//! timers behave.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::model::{AddPathMode, AddrFamily};

/// Hold time proposed by default (RFC 4271 §10 suggests 90 s).
pub const DEFAULT_HOLD_TIME: u16 = 90;
/// ConnectRetry base time by default.
pub const DEFAULT_CONNECT_RETRY: Duration = Duration::from_secs(5);
/// Graceful restart time announced by default.
pub const DEFAULT_RESTART_TIME: u16 = 120;
/// The RFC 9687 lower bound of the default send hold time.
pub const MIN_DEFAULT_SEND_HOLD: Duration = Duration::from_secs(8 * 60);

/// The configuration of one BGP session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Our AS number (4-octet; announced with the RFC 6793 capability, and
    /// as AS_TRANS in the OPEN's 2-octet field when it does not fit).
    pub local_as: u32,
    /// Our BGP identifier.
    pub local_id: Ipv4Addr,
    /// The AS the peer must announce, else 2/2 Bad Peer AS.
    pub peer_as: u32,
    /// The peer's address (for the caller's bookkeeping and the jitter
    /// seed; the FSM never opens sockets).
    pub peer_addr: IpAddr,
    /// Never connect, only accept connections from the peer.
    pub passive: bool,
    /// The hold time we propose, in seconds: 0 (no keepalives, no hold
    /// timer) or at least 3. The session sanitizes 1 and 2 to 3.
    pub hold_time: u16,
    /// Keepalive interval in seconds; `None` = one third of the negotiated
    /// hold time. Never more than a third of the negotiated hold time;
    /// `Some(0)` sends no keepalives.
    pub keepalive: Option<u16>,
    /// ConnectRetry base time: the connect attempt timeout and the first
    /// wait after a failure. Each consecutive failure doubles the wait, up
    /// to [`crate::fsm::Backoff::CAP`] (or this base if larger), with ±25 %
    /// jitter; an Established session resets it.
    pub connect_retry: Duration,
    /// Address families announced with the multiprotocol capability (and
    /// accepted, intersected with the peer's). Empty: IPv4 unicast only,
    /// implicitly (RFC 4760 §8).
    pub families: Vec<AddrFamily>,
    /// Announce the route refresh capability (RFC 2918).
    pub route_refresh: bool,
    /// Announce the graceful restart capability (RFC 4724) with this
    /// restart time, as a helper only (no families, no preserved forwarding
    /// state): the peer may restart and we keep its routes as stale.
    pub graceful_restart: Option<u16>,
    /// ADD-PATH (RFC 7911) tuples to announce, per family; empty: the
    /// capability is not sent.
    pub add_path: Vec<(AddrFamily, AddPathMode)>,
    /// RFC 9687 send hold time; `None` = max(8 min, 2 × hold time).
    pub send_hold_time: Option<Duration>,
    /// Seed of the back-off jitter generator; [`SessionConfig::new`]
    /// derives it from the identifiers so that peers do not retry in step.
    pub jitter_seed: u64,
}

impl SessionConfig {
    /// A configuration with the defaults: active, hold time 90 s,
    /// keepalive hold/3, connect retry 5 s, IPv4 and IPv6 unicast, route
    /// refresh, graceful restart helper with restart time 120 s, send hold
    /// time max(8 min, 2 × hold).
    pub fn new(local_as: u32, local_id: Ipv4Addr, peer_as: u32, peer_addr: IpAddr) -> Self {
        SessionConfig {
            local_as,
            local_id,
            peer_as,
            peer_addr,
            passive: false,
            hold_time: DEFAULT_HOLD_TIME,
            keepalive: None,
            connect_retry: DEFAULT_CONNECT_RETRY,
            families: vec![AddrFamily::IPV4_UNICAST, AddrFamily::IPV6_UNICAST],
            route_refresh: true,
            graceful_restart: Some(DEFAULT_RESTART_TIME),
            add_path: Vec::new(),
            send_hold_time: None,
            jitter_seed: default_seed(local_id, peer_addr),
        }
    }

    /// Whether the peer is in our AS (iBGP).
    pub fn is_internal(&self) -> bool {
        self.local_as == self.peer_as
    }

    /// The families we announce, with the RFC 4760 §8 default applied.
    pub fn effective_families(&self) -> Vec<AddrFamily> {
        if self.families.is_empty() {
            vec![AddrFamily::IPV4_UNICAST]
        } else {
            self.families.clone()
        }
    }

    /// The send hold time for a session whose hold time is `hold` seconds.
    pub fn send_hold_for(&self, hold: u16) -> Duration {
        self.send_hold_time
            .unwrap_or_else(|| MIN_DEFAULT_SEND_HOLD.max(Duration::from_secs(2 * u64::from(hold))))
    }

    /// A copy with out-of-range values brought into range, so that the
    /// session never arms a zero-length timer: hold 1 or 2 becomes 3, the
    /// connect retry and send hold times are at least 1 ms.
    pub(crate) fn sanitized(mut self) -> Self {
        if matches!(self.hold_time, 1 | 2) {
            self.hold_time = 3;
        }
        self.connect_retry = self.connect_retry.max(Duration::from_millis(1));
        if let Some(t) = self.send_hold_time.as_mut() {
            *t = (*t).max(Duration::from_millis(1));
        }
        self
    }
}

/// A seed that differs between peers of one speaker and between speakers.
fn default_seed(local_id: Ipv4Addr, peer_addr: IpAddr) -> u64 {
    let peer = match peer_addr {
        IpAddr::V4(a) => u64::from(u32::from(a)),
        IpAddr::V6(a) => {
            let v = u128::from(a);
            (v as u64) ^ ((v >> 64) as u64)
        }
    };
    (u64::from(u32::from(local_id)) << 32) ^ peer ^ 0x5bd1_e995_9e37_79b9
}
