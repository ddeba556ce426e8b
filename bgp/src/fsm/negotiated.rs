//! What the two OPENs agreed on: the session parameters the rest of the
//! speaker (codec context, RIB, keepalive timer) runs with.

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::model::{AddPath, AddrFamily, GracefulRestart, Open};

/// The parameters of an established (or confirming) session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Hold time in seconds: the smaller of the two proposals; 0 means no
    /// hold timer and no keepalives.
    pub hold_time: u16,
    /// Keepalive interval in seconds (0: none are sent).
    pub keepalive: u16,
    /// The peer's (4-octet) AS.
    pub peer_as: u32,
    /// The peer's BGP identifier.
    pub peer_id: Ipv4Addr,
    /// Both sides sent the 4-octet AS capability: AS numbers go on the
    /// wire as 4 octets (RFC 6793).
    pub four_octet_as: bool,
    /// Address families both sides announced, in our configured order.
    pub families: Vec<AddrFamily>,
    /// Both sides announced route refresh (RFC 2918): we may send and
    /// must honour ROUTE-REFRESH.
    pub route_refresh: bool,
    /// The peer's graceful restart capability, if it sent one (whether or
    /// not we announced ours).
    pub peer_graceful_restart: Option<GracefulRestart>,
    /// Whether graceful restart is in effect: both sides announced it, so
    /// we act as the peer's helper when the session drops.
    pub graceful_restart: bool,
    /// ADD-PATH (RFC 7911 §5) per negotiated family and direction.
    pub add_path: AddPath,
    /// The peer's OPEN as received.
    pub peer_open: Open,
}

impl Negotiated {
    /// The hold time as a duration (`None` when 0: no hold timer).
    pub fn hold(&self) -> Option<Duration> {
        (self.hold_time != 0).then(|| Duration::from_secs(u64::from(self.hold_time)))
    }

    /// The keepalive interval as a duration (`None` when 0: none sent).
    pub fn keepalive_interval(&self) -> Option<Duration> {
        (self.keepalive != 0).then(|| Duration::from_secs(u64::from(self.keepalive)))
    }

    /// Whether `family` was negotiated.
    pub fn has_family(&self, family: AddrFamily) -> bool {
        self.families.contains(&family)
    }

    /// RFC 4724 helper: how long to keep the peer's routes as stale when
    /// the connection drops, and for which families. `None` when graceful
    /// restart is not in effect, the peer's restart time is 0 or it listed
    /// no family (a helper-only peer preserves no forwarding state).
    pub fn stale_routes(&self) -> Option<(Duration, Vec<AddrFamily>)> {
        if !self.graceful_restart {
            return None;
        }
        let gr = self.peer_graceful_restart.as_ref()?;
        if gr.restart_time == 0 {
            return None;
        }
        let families: Vec<AddrFamily> = gr.families.iter().map(|(f, _)| *f).collect();
        if families.is_empty() {
            return None;
        }
        Some((Duration::from_secs(u64::from(gr.restart_time)), families))
    }
}
