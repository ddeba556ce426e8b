//! Per-peer state: configuration, the established session (negotiated
//! families and the outgoing transform classes they imply), the pending
//! Adj-RIB-Out changes, and counters.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use ipnet::IpNet;

use super::hash::FastSet;
use super::intern::{ClassId, OutClass, TransformCache};
use super::loc_rib::PrefixMap;
use super::path_ids::PathIds;
use super::{PeerConfig, PeerId, PeerUp};
use crate::model::{AddPathFamilies, AddrFamily, PathAttributes};

/// How routes of one family go out to a peer; `None` where a family cannot
/// be sent (no local address to use as next hop towards an eBGP peer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Classes {
    /// For routes learned from other peers.
    pub(crate) learned: Option<ClassId>,
    /// For locally originated routes (next hop always ours when known).
    pub(crate) local: Option<ClassId>,
    /// For iBGP routes we reflect to this (iBGP) peer: next hop kept
    /// whatever `next_hop_self` says (RFC 4456 §8 leaves it alone).
    pub(crate) reflected: Option<ClassId>,
}

/// The classes before registration.
struct ClassSpec {
    learned: Option<OutClass>,
    local: Option<OutClass>,
    reflected: Option<OutClass>,
}

impl ClassSpec {
    fn register(self, cache: &mut TransformCache) -> Classes {
        Classes {
            learned: self.learned.map(|c| cache.class_id(c)),
            local: self.local.map(|c| cache.class_id(c)),
            reflected: self.reflected.map(|c| cache.class_id(c)),
        }
    }

    fn new(ebgp: bool, next_hop_self: bool, local_addr: Option<IpAddr>) -> ClassSpec {
        if ebgp {
            let c = |local| {
                local_addr.map(|a| OutClass {
                    ebgp: true,
                    next_hop: Some(a),
                    local,
                })
            };
            ClassSpec {
                learned: c(false),
                local: c(true),
                reflected: None,
            }
        } else {
            ClassSpec {
                learned: Some(OutClass {
                    ebgp: false,
                    next_hop: if next_hop_self { local_addr } else { None },
                    local: false,
                }),
                local: Some(OutClass {
                    ebgp: false,
                    next_hop: local_addr,
                    local: true,
                }),
                reflected: Some(OutClass {
                    ebgp: false,
                    next_hop: None,
                    local: false,
                }),
            }
        }
    }
}

/// An established session.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// IPv4 unicast export classes, if negotiated.
    pub(crate) v4: Option<Classes>,
    /// IPv6 unicast export classes, if negotiated.
    pub(crate) v6: Option<Classes>,
    /// Families the peer sends Path Identifiers for (ADD-PATH receive).
    pub(crate) add_path_receive: AddPathFamilies,
    /// Families we send several paths per prefix in (ADD-PATH send).
    pub(crate) add_path_send: AddPathFamilies,
}

impl Session {
    pub(crate) fn new(
        up: &PeerUp,
        config: &PeerConfig,
        ebgp: bool,
        cache: &mut TransformCache,
    ) -> Session {
        let has = |f: AddrFamily| up.families.contains(&f);
        let nhs = config.next_hop_self;
        Session {
            v4: has(AddrFamily::IPV4_UNICAST)
                .then(|| ClassSpec::new(ebgp, nhs, config.local_addr_v4.map(IpAddr::V4)))
                .map(|c| c.register(cache)),
            v6: has(AddrFamily::IPV6_UNICAST)
                .then(|| ClassSpec::new(ebgp, nhs, config.local_addr_v6.map(IpAddr::V6)))
                .map(|c| c.register(cache)),
            add_path_receive: up.add_path_receive,
            add_path_send: up.add_path_send,
        }
    }

    /// The classes for `prefix`'s family, if negotiated.
    pub(crate) fn classes(&self, prefix: &IpNet) -> Option<&Classes> {
        match prefix {
            IpNet::V4(_) => self.v4.as_ref(),
            IpNet::V6(_) => self.v6.as_ref(),
        }
    }
}

/// Pending Adj-RIB-Out changes of one peer.
#[derive(Debug, Default)]
pub(crate) struct OutState {
    /// For prefixes changed since the last `take_exports` (journal records
    /// at or after `cursor`) that the peer held then: what it held.
    pub(crate) held: PrefixMap<Arc<PathAttributes>>,
    /// The peer's journal cursor.
    pub(crate) cursor: u64,
    /// The next `take_exports` walks the whole table (initial dump or
    /// route refresh).
    pub(crate) full: bool,
    /// The peer holds nothing from us yet (fresh session): changes need no
    /// recording, the full walk sends what exists.
    pub(crate) empty: bool,
    /// End-of-RIB markers to send after the initial dump.
    pub(crate) eor: Vec<AddrFamily>,
    /// Prefixes the peer holds from us (as of the last `take_exports`).
    pub(crate) advertised: u64,
    /// After an export policy change: what the peer got under the old
    /// policy; the next full walk withdraws those it no longer gets.
    pub(crate) withdraw_unless_exported: Vec<IpNet>,
    /// ADD-PATH send families: the paths the peer holds from us per
    /// prefix, (Path Identifier, outgoing attributes), best first (an
    /// explicit Adj-RIB-Out: the journal records best-path changes only).
    pub(crate) sent_paths: PrefixMap<Vec<(u32, Arc<PathAttributes>)>>,
    /// ADD-PATH send families: prefixes with any path change since the
    /// last take.
    pub(crate) paths_dirty: FastSet<IpNet>,
}

impl OutState {
    /// Whether changes must be tracked (held values, journal cursor).
    pub(crate) fn recording(&self) -> bool {
        !self.empty
    }
}

/// One peer.
#[derive(Debug)]
pub(crate) struct Peer {
    pub(crate) id: PeerId,
    pub(crate) config: PeerConfig,
    pub(crate) ebgp: bool,
    /// The last BGP identifier seen (kept while stale routes live on).
    pub(crate) router_id: Ipv4Addr,
    /// `Some` while established.
    pub(crate) session: Option<Session>,
    pub(crate) out: OutState,
    /// Accepted (non-stale) paths in the table.
    pub(crate) accepted: u64,
    /// Stale paths in the table (graceful restart).
    pub(crate) stale: u64,
    /// Announced prefixes currently rejected (import policy or AS loop).
    pub(crate) filtered: FastSet<IpNet>,
    /// Prefixes ignored for an AS loop, since the peer was added.
    pub(crate) looped_total: u64,
    /// Announced prefixes treated as withdrawn for a first AS that is not
    /// the peer's, since the peer was added.
    pub(crate) first_as_total: u64,
    /// Prefixes whose outgoing attributes could not be encoded into an
    /// UPDATE (so never sent), since the peer was added.
    pub(crate) unencodable_total: u64,
    /// Prefixes ignored as reflected back to us (RFC 4456), since the
    /// peer was added.
    pub(crate) reflected_loops_total: u64,
    /// The ADD-PATH Path Identifiers of its paths in the table (empty
    /// without ADD-PATH).
    pub(crate) path_ids: PathIds,
}

impl Peer {
    pub(crate) fn new(id: PeerId, config: PeerConfig, ebgp: bool) -> Peer {
        Peer {
            id,
            config,
            ebgp,
            router_id: Ipv4Addr::UNSPECIFIED,
            session: None,
            out: OutState::default(),
            accepted: 0,
            stale: 0,
            filtered: FastSet::default(),
            looped_total: 0,
            first_as_total: 0,
            unencodable_total: 0,
            reflected_loops_total: 0,
            path_ids: PathIds::default(),
        }
    }

    /// The counters for the CLI.
    pub(crate) fn counts(&self, pending_out: u64) -> PeerCounts {
        let filtered = self.filtered.len() as u64;
        PeerCounts {
            established: self.session.is_some(),
            received: self.accepted + filtered,
            accepted: self.accepted,
            filtered,
            stale: self.stale,
            advertised: self.out.advertised
                + self
                    .out
                    .sent_paths
                    .iter()
                    .map(|(_, v)| v.len() as u64)
                    .sum::<u64>(),
            pending_out,
            looped_total: self.looped_total,
            first_as_total: self.first_as_total,
            unencodable_total: self.unencodable_total,
            reflected_loops_total: self.reflected_loops_total,
        }
    }
}

/// Per-peer route counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PeerCounts {
    /// The session is established.
    pub established: bool,
    /// Prefixes the peer currently announces to us (before import policy):
    /// `accepted + filtered`.
    pub received: u64,
    /// Prefixes accepted into the Adj-RIB-In (what max-prefix counts).
    pub accepted: u64,
    /// Announced prefixes rejected by import policy or AS loop detection.
    pub filtered: u64,
    /// Stale paths kept from a previous session (graceful restart).
    pub stale: u64,
    /// Prefixes the peer holds from us, as of the last
    /// [`super::Rib::take_exports`].
    pub advertised: u64,
    /// Changes queued towards the peer: journal records since its last
    /// take, at most the table's prefixes (withdrawn ones included) however
    /// often they changed; an upper bound (a prefix changed in several
    /// rounds may count more than once while fewer than that).
    pub pending_out: u64,
    /// Announced prefixes ignored for an AS loop, since the peer was added.
    pub looped_total: u64,
    /// Announced prefixes treated as withdrawn because the AS path did not
    /// start with the peer's AS (eBGP, [`super::PeerConfig::enforce_first_as`]),
    /// since the peer was added.
    pub first_as_total: u64,
    /// Prefixes the export could not encode into an UPDATE for this peer
    /// (attributes too large for one message, an AS_SET above 255 ASes),
    /// so never advertised, since the peer was added
    /// ([`super::Rib::count_unencodable`]).
    pub unencodable_total: u64,
    /// Announced prefixes ignored because a reflector sent our own route
    /// back (ORIGINATOR_ID = our router id) or it passed our cluster
    /// already (our cluster id in CLUSTER_LIST), RFC 4456 §8; since the
    /// peer was added. They also count in `filtered`.
    pub reflected_loops_total: u64,
}
