//! The RIBs and best-path selection: Adj-RIBs-In (after import policy),
//! the Loc-RIB, per-peer Adj-RIBs-Out, interned attributes, prefix
//! policies, and the change feeds towards the FIB and towards each peer.
//!
//! Pure logic: no tokio, no clock, no I/O, no codec. The session layer
//! hands in decoded UPDATE contents ([`Rib::apply`]) and session events
//! ([`Rib::peer_up`], [`Rib::peer_down`], ...); the daemon takes best-route
//! changes for the FIB ([`Rib::take_fib_changes`]) and, per peer, the
//! pending announcements and withdrawals with outgoing attributes already
//! transformed for that peer ([`Rib::take_exports`]), which another layer
//! encodes.
//!
//! | file           | holds                                                     |
//! |----------------|-----------------------------------------------------------|
//! | `best_path.rs` | [`compare`], [`select`], [`Reason`]                       |
//! | `policy.rs`    | [`PrefixPolicy`] (ordered prefix-list rules)              |
//! | `rules.rs`     | [`Rules`]: per-neighbor route policy, first match wins    |
//! | `intern.rs`    | the attribute interner and the outgoing-transform cache   |
//! | `loc_rib.rs`   | the per-prefix table of candidate paths, best first       |
//! | `peer.rs`      | per-peer configuration and session state, counters        |
//! | `adj_in.rs`    | applying UPDATEs (first-AS check), sessions down, GR      |
//! | `path_ids.rs`  | a peer's ADD-PATH Path Identifiers and their path indexes |
//! | `add_path_out.rs` | ADD-PATH send: the paths each such peer holds     |
//! | `local.rs`     | locally originated routes                                 |
//! | `change.rs`    | one path change fanned out to the FIB feed and the peers  |
//! | `journal.rs`   | the change journal and the consumers' cursors             |
//! | `hash.rs`      | the fast seeded hasher of the tables                      |
//! | `dense_map.rs` | hash map with packed entries and `u32` slots (the tables)  |
//! | `prefix_map.rs`| maps keyed by prefix (IPv4 and IPv6 halves)              |
//! | `export.rs`    | export rules, per-peer pending changes, [`Export`]        |
//! | `fib.rs`       | [`BestChange`] feed                                       |
//! | `multipath.rs` | the equal paths next to the best one (ECMP)               |
//! | `view.rs`      | inspection for the CLI                                    |
//!
//! Not modeled: next-hop reachability, recursive next-hop resolution and
//! IGP cost (every next hop is taken as usable and handed to the FIB as
//! is), confederations, policy beyond
//! prefix lists and [`Rules`] (match prefix, communities, AS-path length;
//! set LOCAL_PREF, MED, communities, prepend).
//!
//! Route reflection (RFC 4456): a path from an iBGP peer whose
//! ORIGINATOR_ID is our router id or whose CLUSTER_LIST holds our cluster
//! id is ignored and counted ([`PeerCounts::reflected_loops_total`]);
//! best path breaks ties on ORIGINATOR_ID and CLUSTER_LIST length; with
//! [`PeerConfig::route_reflector_client`] peers the RIB reflects
//! (`export.rs`).
//!
//! ADD-PATH receive (RFC 7911): a peer may send several paths for one
//! prefix, told apart by Path Identifier ([`Rib::apply_paths`]); each is
//! a path of its own in the table, keyed by (peer slot, path index), and
//! takes part in best path and multipath like a path from another peer
//! (ties between one peer's paths go to the lower index). ADD-PATH send:
//! a peer that negotiated it gets up to [`PeerConfig::add_path_count`]
//! paths per prefix (`add_path_out.rs`, [`Export::announce_paths`]).
//!
//! Adj-RIB-In is kept after import policy only (as part of the table);
//! rejected prefixes are remembered only to count them. Adj-RIB-Out is
//! implicit: for a prefix unchanged since a peer's last take, what it holds
//! is by definition the export of the current best path; for changed ones
//! (see `journal.rs`) the value it held is stored when it held one.

mod add_path_out;
mod adj_in;
mod best_path;
mod change;
mod dense_map;
mod export;
mod fib;
mod hash;
mod intern;
mod journal;
mod loc_rib;
mod local;
mod multipath;
mod path_ids;
mod peer;
mod policy;
mod prefix_map;
mod rules;
mod soft;
mod view;

#[cfg(test)]
mod first_as_tests;
#[cfg(test)]
mod tests;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

pub use best_path::{
    Candidate, CandidateSource, DEFAULT_LOCAL_PREF, Reason, compare, local_pref, multipath_equal,
    same_neighbor_as, select,
};
pub use export::{Export, PathGroup};
pub use fib::BestChange;
pub use local::Origination;
pub use multipath::{MAX_PATHS_LIMIT, MultipathMember};
pub use peer::PeerCounts;
pub use policy::{Action, PrefixPolicy, PrefixRule};
pub use rules::{Match, Rule, Rules, Set, Verdict};
pub use soft::PolicyChange;
pub use view::{AdjRoute, RibCounts, RouteView};

use crate::model::{AddPathFamilies, AddrFamily, PathAttributes};
use hash::{FastMap, FastSet};
use intern::{Interner, TransformCache};
use journal::Journal;
use loc_rib::{BestKey, LOCAL, PrefixMap, Table, index_of, slot_of};
use peer::Peer;

/// A peer's handle, chosen by the caller (e.g. an index into its config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(pub u32);

/// This speaker's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalConfig {
    /// Our AS.
    pub asn: u32,
    /// Our BGP identifier.
    pub router_id: Ipv4Addr,
}

/// One configured neighbor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerConfig {
    /// The peer's AS; equal to ours means iBGP.
    pub asn: u32,
    /// The peer's address.
    pub addr: IpAddr,
    /// Prefixes accepted from the peer.
    pub import: PrefixPolicy,
    /// Prefixes sent to the peer.
    pub export: PrefixPolicy,
    /// Route policy on what the peer sends (after `import`): first match
    /// wins; a route no rule matches is accepted unchanged.
    pub import_rules: Rules,
    /// Route policy on what we send the peer (after `export` and the
    /// well-known communities; changes apply to the outgoing attributes).
    pub export_rules: Rules,
    /// Most accepted prefixes before the session must go down (Cease/1).
    pub max_prefixes: Option<u32>,
    /// Set the next hop to our address when sending learned routes
    /// (always done on eBGP and for locally originated routes).
    pub next_hop_self: bool,
    /// Our IPv4 address on the session: the next hop we send for IPv4.
    pub local_addr_v4: Option<Ipv4Addr>,
    /// Our IPv6 address on the session: the next hop we send for IPv6.
    pub local_addr_v6: Option<Ipv6Addr>,
    /// From an eBGP peer, treat an UPDATE whose AS_PATH does not start with
    /// the peer's AS (an empty path included) as withdrawn (RFC 4271 §6.3,
    /// RFC 7606 §7.2). Turn off for IXP route servers, which do not prepend
    /// their AS (RFC 7947). Ignored on iBGP.
    pub enforce_first_as: bool,
    /// The peer is a route-reflector client (RFC 4456; iBGP only): routes
    /// from it are reflected to every other iBGP peer, routes from other
    /// iBGP peers are reflected to it.
    pub route_reflector_client: bool,
    /// Where ADD-PATH send is negotiated ([`PeerUp::add_path_send`]): at
    /// most this many paths per prefix go to the peer, the best first,
    /// then the next best ones it may receive (0 counts as 1;
    /// `u16::MAX`: all).
    pub add_path_count: u16,
}

impl PeerConfig {
    /// A peer with accept-all policies, no limit, no local addresses, the
    /// first AS not enforced (the daemon sets `enforce_first_as` from the
    /// config file, where it defaults to on).
    pub fn new(asn: u32, addr: IpAddr) -> PeerConfig {
        PeerConfig {
            asn,
            addr,
            import: PrefixPolicy::default(),
            export: PrefixPolicy::default(),
            import_rules: Rules::default(),
            export_rules: Rules::default(),
            max_prefixes: None,
            next_hop_self: false,
            local_addr_v4: None,
            local_addr_v6: None,
            enforce_first_as: false,
            route_reflector_client: false,
            add_path_count: 2,
        }
    }
}

/// What the session learned from the peer's OPEN when it got established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerUp {
    /// The peer's BGP identifier.
    pub router_id: Ipv4Addr,
    /// The address families negotiated (both sides announced them).
    pub families: Vec<AddrFamily>,
    /// Whether both sides support 4-octet AS numbers (for the encoder; the
    /// RIB always works with 32-bit AS numbers).
    pub four_octet_as: bool,
    /// The families whose prefixes the peer sends with ADD-PATH Path
    /// Identifiers (RFC 7911; we announced receive, it announced send):
    /// there it may send several paths per prefix ([`Rib::apply_paths`]).
    pub add_path_receive: AddPathFamilies,
    /// The families we send with Path Identifiers (we announced send, it
    /// announced receive): there the peer gets up to
    /// [`PeerConfig::add_path_count`] paths per prefix.
    pub add_path_send: AddPathFamilies,
}

/// Where a route comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RouteSource {
    /// Originated here ([`Rib::originate`]).
    Local,
    /// Learned from a peer.
    Peer(PeerId),
}

/// A best route, as handed to the FIB and the CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BestRoute {
    /// Where to forward (`None`: a local route without a gateway).
    pub next_hop: Option<IpAddr>,
    /// Where the route comes from.
    pub source: RouteSource,
    /// Its attributes (interned).
    pub attrs: Arc<PathAttributes>,
    /// Why it beat the runner-up.
    pub reason: Reason,
    /// The other learned paths equal to it for ECMP (at most maximum paths
    /// minus one, see [`Rib::set_maximum_paths`]); empty (no allocation)
    /// with the default of one path. A boxed slice: 16 bytes where a `Vec`
    /// would take 24 in every change of a million-route load.
    pub multipath: Box<[MultipathMember]>,
}

/// What one [`Rib::apply`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApplyOutcome {
    /// The peer is unknown or not established: nothing was applied.
    pub ignored: bool,
    /// Announced prefixes accepted into the Adj-RIB-In.
    pub accepted: u32,
    /// Announced prefixes rejected by import policy (treated as withdrawn).
    pub filtered: u32,
    /// Announced prefixes ignored because our AS is in the AS path (eBGP
    /// loop prevention; treated as withdrawn).
    pub looped: u32,
    /// Announced prefixes treated as withdrawn because the AS path does not
    /// start with the eBGP peer's AS ([`PeerConfig::enforce_first_as`]);
    /// those that removed a path also count in `withdrawn`.
    pub first_as: u32,
    /// Announced prefixes ignored because the route came back to us from a
    /// reflector: its ORIGINATOR_ID is our router id or its CLUSTER_LIST
    /// holds our cluster id (RFC 4456 §8; treated as withdrawn).
    pub reflected_loops: u32,
    /// Withdrawn prefixes that removed a path.
    pub withdrawn: u32,
    /// Prefixes whose best path changed.
    pub best_changed: u32,
}

/// The peer went over its configured prefix limit. The UPDATE was applied;
/// the caller sends Cease/1 (Maximum Number of Prefixes Reached) and calls
/// [`Rib::peer_down`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("peer {peer:?} sent {accepted} prefixes, more than its limit of {limit}")]
pub struct MaxPrefixExceeded {
    /// The peer.
    pub peer: PeerId,
    /// The configured limit.
    pub limit: u32,
    /// Accepted prefixes now held.
    pub accepted: u64,
    /// The family whose prefixes took the count over the limit (the
    /// NOTIFICATION names it, RFC 4486 §4).
    pub family: AddrFamily,
}

/// At most this many prefixes keep the route the FIB feed held
/// (`Rib::fib_held`): a session going down with a full table would keep a
/// copy per prefix (~30 bytes each) until the FIB thread takes. Beyond it
/// a change is reported without what was held (see
/// [`Rib::take_fib_changes`]).
pub(crate) const FIB_HELD_MAX: usize = 65_536;

/// The RIBs of one speaker. See the module doc.
#[derive(Debug)]
pub struct Rib {
    local: LocalConfig,
    table: Table,
    interner: Interner,
    cache: TransformCache,
    /// Peers by slot (a slot is the source id stored in each path).
    peers: Vec<Option<Peer>>,
    slots: FastMap<PeerId, u32>,
    /// The change journal (pending changes of every consumer).
    journal: Journal,
    /// The FIB feed's journal cursor.
    fib_cursor: u64,
    /// For prefixes changed since the last `take_fib_changes` that had a
    /// best route then: that route.
    fib_held: PrefixMap<BestKey>,
    /// Changes whose held value `fib_held` had no room for since the FIB
    /// feed's last take ([`FIB_HELD_MAX`]).
    fib_held_full: bool,
    local_routes: usize,
    /// Most paths per prefix handed to the FIB: IPv4, IPv6 (1: no ECMP).
    max_paths: [u16; 2],
    /// With multipath on: prefixes whose equal paths may have changed while
    /// the best did not (so the journal did not record them) since the FIB
    /// feed's last take.
    fib_multipath_dirty: FastSet<ipnet::IpNet>,
    /// Established peers we send several paths to (ADD-PATH send): while
    /// there are any, every path change is noted for them
    /// (`add_path_out.rs`).
    add_path_senders: usize,
}

impl Rib {
    /// An empty RIB.
    pub fn new(local: LocalConfig) -> Rib {
        Rib {
            local,
            table: Table::default(),
            interner: Interner::default(),
            cache: TransformCache::new(local.router_id),
            peers: Vec::new(),
            slots: FastMap::default(),
            journal: Journal::default(),
            fib_cursor: 1,
            fib_held: PrefixMap::default(),
            fib_held_full: false,
            local_routes: 0,
            max_paths: [1, 1],
            fib_multipath_dirty: FastSet::default(),
            add_path_senders: 0,
        }
    }

    /// Our identity.
    pub fn local_config(&self) -> &LocalConfig {
        &self.local
    }

    /// Our cluster id (RFC 4456 §7): prepended to the CLUSTER_LIST of the
    /// routes we reflect, and a route whose CLUSTER_LIST holds it is a
    /// loop. Our router id unless [`Rib::set_cluster_id`] said otherwise.
    pub fn cluster_id(&self) -> Ipv4Addr {
        self.cache.cluster_id()
    }

    /// Set the cluster id (`None`: our router id). Takes effect for routes
    /// received and exported from now on; set it before sessions come up.
    pub fn set_cluster_id(&mut self, id: Option<Ipv4Addr>) {
        self.cache
            .set_cluster_id(id.unwrap_or(self.local.router_id));
    }

    /// Register a peer (not established yet). An existing peer of that id
    /// is removed first (its routes withdrawn).
    pub fn add_peer(&mut self, id: PeerId, config: PeerConfig) {
        self.remove_peer(id);
        let ebgp = config.asn != self.local.asn;
        let peer = Peer::new(id, config, ebgp);
        // Slots are not reused: a change pending for the FIB or a peer may
        // still name the old slot's source.
        self.peers.push(Some(peer));
        let slot = self.peers.len() - 1;
        // Slots stay far below u32::MAX (LOCAL): one per peer ever added.
        self.slots.insert(id, slot as u32);
    }

    /// Forget a peer: its routes are withdrawn (as by [`Rib::peer_down`]).
    pub fn remove_peer(&mut self, id: PeerId) {
        if let Some(slot) = self.slot(id) {
            self.drop_session(slot, &[]);
            self.peers[slot as usize] = None;
            self.slots.remove(&id);
        }
    }

    /// Configured peers, in id order.
    pub fn peer_ids(&self) -> Vec<PeerId> {
        let mut ids: Vec<PeerId> = self.slots.keys().copied().collect();
        ids.sort();
        ids
    }

    fn slot(&self, id: PeerId) -> Option<u32> {
        self.slots.get(&id).copied()
    }

    fn peer(&self, slot: u32) -> Option<&Peer> {
        self.peers.get(slot as usize).and_then(Option::as_ref)
    }

    fn peer_mut(&mut self, slot: u32) -> Option<&mut Peer> {
        self.peers.get_mut(slot as usize).and_then(Option::as_mut)
    }

    /// The public source of a slot.
    fn source_of(&self, src: u32) -> RouteSource {
        source_of(&self.peers, src)
    }

    /// Drop the journal records every consumer has taken, and those only
    /// consumers that walk the table need.
    fn trim_journal(&mut self) {
        let cursors = self
            .peers
            .iter()
            .flatten()
            .filter(|p| p.session.is_some() && p.out.recording())
            .map(|p| p.out.cursor)
            .chain([self.fib_cursor]);
        let (mut min, mut min_reading) = (u64::MAX, u64::MAX);
        let table_len = self.table.map.len();
        for c in cursors {
            min = min.min(c);
            if !self.journal.walks(c, table_len) {
                min_reading = min_reading.min(c);
            }
        }
        self.journal.trim(min, min_reading, &mut self.table);
    }

    /// Sweep unused interned attributes when the interner has doubled.
    fn maybe_sweep(&mut self) {
        if self.interner.sweep_due() {
            self.cache.clear();
            self.interner.sweep();
        }
    }
}

/// The public source of a slot.
fn source_of(peers: &[Option<Peer>], src: u32) -> RouteSource {
    match peers.get(slot_of(src) as usize).and_then(Option::as_ref) {
        Some(p) if src != LOCAL => RouteSource::Peer(p.id),
        _ => RouteSource::Local,
    }
}

/// What best-path selection needs about a source slot, and its tie-break
/// key (the peer id, then the path's ADD-PATH index among that peer's
/// paths of the prefix; local routes never tie).
fn candidate_info(peers: &[Option<Peer>], src: u32) -> (CandidateSource, u64) {
    match peers.get(slot_of(src) as usize).and_then(Option::as_ref) {
        Some(p) => (
            CandidateSource::Peer {
                ebgp: p.ebgp,
                router_id: p.router_id,
                addr: p.config.addr,
            },
            (u64::from(p.id.0) << 8) | u64::from(index_of(src)),
        ),
        None => (CandidateSource::Local, u64::MAX),
    }
}
