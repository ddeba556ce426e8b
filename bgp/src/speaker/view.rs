//! What the speaker shows of a neighbor (`vcpectl bgp summary`).

use std::net::IpAddr;
use std::time::Instant;

use super::neighbor::Neighbor;
use crate::rib::{PeerId, Rib};

/// One line of `vcpectl bgp summary`, plus the detail of `bgp neighbor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighborSummary {
    /// The neighbor's id in the speaker.
    pub id: PeerId,
    /// Its address.
    pub addr: IpAddr,
    /// Its AS.
    pub asn: u32,
    /// Session state ("Established", "Active", ...).
    pub state: String,
    /// Seconds since the state last changed between up and down.
    pub since_secs: Option<u64>,
    /// Negotiated hold time, when Established.
    pub hold_time: Option<u16>,
    /// Prefixes received (Adj-RIB-In).
    pub received: u64,
    /// Prefixes accepted by import policy.
    pub accepted: u64,
    /// Prefixes advertised to it (Adj-RIB-Out).
    pub advertised: u64,
    /// Messages received and sent.
    pub messages_in: u64,
    /// Messages sent.
    pub messages_out: u64,
    /// Times the session reached Established.
    pub established_transitions: u64,
    /// UPDATEs that had RFC 7606 issues (treat-as-withdraw or discard).
    pub malformed_updates: u64,
    /// Announced prefixes treated as withdrawn because the AS path did not
    /// start with the neighbor's AS (RFC 7606 §7.2), since it was added.
    pub first_as_total: u64,
    /// Prefixes never advertised to it because their attributes fit no
    /// UPDATE, since it was added.
    pub unencodable_total: u64,
    /// Announced prefixes ignored as reflected back to us (RFC 4456:
    /// ORIGINATOR_ID ours, or our cluster id in CLUSTER_LIST), since it
    /// was added.
    pub reflected_loops_total: u64,
    /// Bytes handed to the driver for writing towards it and not yet
    /// written (queued in the daemon, beyond the socket's buffer).
    pub out_queued_bytes: u64,
    /// Its output is behind ([`super::OUT_HIGH`]): route changes wait in
    /// the RIB, coalesced per prefix, until the queue drains.
    pub out_behind: bool,
    /// Administratively down (`vcpectl bgp disable`, or max-prefix).
    pub disabled: bool,
    /// Why it last went down, and what to do.
    pub last_error: Option<String>,
}

pub(super) fn summary(n: &Neighbor, rib: &Rib, now: Instant) -> NeighborSummary {
    let counts = rib.peer_counts(n.id);
    let c = n.fsm.counters();
    NeighborSummary {
        id: n.id,
        addr: n.addr,
        asn: n.asn,
        state: match (n.disabled, n.fsm.state()) {
            (true, crate::fsm::State::Idle) => "Idle (admin)".to_owned(),
            (true, s) => format!("Idle (admin)/{s}"),
            (false, crate::fsm::State::Idle) if n.bfd_held => "Idle (BFD down)".to_owned(),
            (false, s) => s.to_string(),
        },
        since_secs: n.since.map(|t| now.saturating_duration_since(t).as_secs()),
        hold_time: n.fsm.negotiated().map(|x| x.hold_time),
        received: counts.as_ref().map_or(0, |c| c.received),
        accepted: counts.as_ref().map_or(0, |c| c.accepted),
        advertised: counts.as_ref().map_or(0, |c| c.advertised),
        messages_in: c.messages_in,
        messages_out: c.messages_out,
        established_transitions: c.established_transitions,
        malformed_updates: n.issues_seen,
        first_as_total: counts.as_ref().map_or(0, |c| c.first_as_total),
        unencodable_total: counts.as_ref().map_or(0, |c| c.unencodable_total),
        reflected_loops_total: counts.as_ref().map_or(0, |c| c.reflected_loops_total),
        out_queued_bytes: n.unwritten(),
        out_behind: n.behind(),
        disabled: n.disabled,
        last_error: n.last_down.as_ref().map(ToString::to_string),
    }
}

/// Everything `vcpectl bgp neighbor ADDR` shows of one neighbor.
#[derive(Debug, Clone)]
pub struct NeighborDetail {
    /// The summary line.
    pub summary: NeighborSummary,
    /// Its session configuration (what we propose in our OPEN).
    pub session: crate::fsm::SessionConfig,
    /// Its RIB configuration (policies, limits, our next hops).
    pub rib: Option<crate::rib::PeerConfig>,
    /// What the OPENs agreed on, while past OpenSent.
    pub negotiated: Option<crate::fsm::Negotiated>,
    /// Message and transition counters.
    pub counters: crate::fsm::Counters,
    /// Why the session last went down, as a value (NOTIFICATION included).
    pub last_down: Option<crate::fsm::DownReason>,
    /// Route counts of its Adj-RIBs.
    pub counts: Option<crate::rib::PeerCounts>,
    /// Graceful restart: seconds until its stale routes are dropped.
    pub stale_for_secs: Option<u64>,
    /// Why it last went down, typed (the session's reason, or a teardown
    /// the speaker decided on: max-prefix, BFD down).
    pub last_cause: Option<super::DownCause>,
    /// Held down because its BFD session is down.
    pub bfd_held: bool,
}

impl super::Speaker {
    /// The detail of the neighbor at `addr`, if it is configured.
    pub fn neighbor_detail(&self, addr: IpAddr, now: Instant) -> Option<NeighborDetail> {
        let n = self.neighbors.iter().find(|n| n.addr == addr)?;
        Some(NeighborDetail {
            summary: summary(n, &self.rib, now),
            session: n.fsm.config().clone(),
            rib: self.rib.peer_config(n.id).cloned(),
            negotiated: n.fsm.negotiated().cloned(),
            counters: n.fsm.counters().clone(),
            last_down: n.fsm.last_error().cloned(),
            counts: self.rib.peer_counts(n.id),
            stale_for_secs: n
                .stale_until
                .map(|t| t.saturating_duration_since(now).as_secs()),
            last_cause: n.last_down.clone(),
            bfd_held: n.bfd_held,
        })
    }
}
