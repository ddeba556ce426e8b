//! Inspection for the CLI: candidate paths with the decision explained,
//! best routes, longest-prefix lookup, per-peer Adj-RIBs and counters.
//! Read-only, and allowed to be slower than the hot paths.

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::best_path::{Candidate, Reason, beaten_by, compare};
use super::export::{Target, decide, loops_at, reflects_to_originator, rule_changes, src_info};
use super::intern::transform;
use super::loc_rib::{LOCAL, index_of, slot_of};
use super::rules::Verdict;
use super::{BestRoute, PeerCounts, PeerId, Rib, RouteSource, candidate_info};
use crate::model::PathAttributes;

/// One candidate path of a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteView {
    /// The prefix.
    pub prefix: IpNet,
    /// Where the path comes from.
    pub source: RouteSource,
    /// Its attributes (as stored after import).
    pub attrs: Arc<PathAttributes>,
    /// Kept over a graceful restart of its peer.
    pub stale: bool,
    /// It is the best path.
    pub best: bool,
    /// For the best path: why it beat the runner-up. Otherwise: why it lost
    /// to `beaten_by`.
    pub reason: Reason,
    /// For a non-best path: the path that eliminated it (the best of its
    /// neighbor AS, or the overall best).
    pub beaten_by: Option<RouteSource>,
    /// The import rule of its peer that matched it (0-based), if one did.
    pub import_rule: Option<usize>,
    /// Its ADD-PATH Path Identifier as the peer sent it (RFC 7911); 0
    /// without ADD-PATH.
    pub path_id: u32,
}

/// One route of a peer's Adj-RIB-In or Adj-RIB-Out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdjRoute {
    /// The prefix.
    pub prefix: IpNet,
    /// Attributes: as accepted (Adj-RIB-In), or as sent (Adj-RIB-Out).
    pub attrs: Arc<PathAttributes>,
    /// Kept over a graceful restart (Adj-RIB-In only).
    pub stale: bool,
    /// The rule (0-based) that matched the route, if one did: an import
    /// rule (Adj-RIB-In) or an export rule (Adj-RIB-Out).
    pub rule: Option<usize>,
    /// Its ADD-PATH Path Identifier (RFC 7911): as the peer sent it
    /// (Adj-RIB-In) or as we send it (Adj-RIB-Out); 0 without ADD-PATH.
    pub path_id: u32,
}

/// Totals over the whole RIB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RibCounts {
    /// Prefixes with a best route (the Loc-RIB size).
    pub prefixes: u64,
    /// IPv4 prefixes among them.
    pub prefixes_v4: u64,
    /// IPv6 prefixes among them.
    pub prefixes_v6: u64,
    /// Candidate paths, all prefixes.
    pub paths: u64,
    /// Locally originated routes.
    pub local_routes: u64,
    /// Configured peers.
    pub peers: u64,
    /// Established peers.
    pub established: u64,
    /// Distinct interned attribute sets (incoming and outgoing).
    pub attr_sets: u64,
    /// Cached outgoing transforms.
    pub transforms: u64,
    /// Change-journal records not yet taken by every consumer.
    pub journal: u64,
}

impl Rib {
    /// Every candidate path for `prefix`, best first, each with the
    /// decision explained.
    pub fn routes(&self, prefix: IpNet) -> Vec<RouteView> {
        let prefix = prefix.trunc();
        let Some(paths) = self.table.get(&prefix) else {
            return Vec::new();
        };
        let all = paths.as_slice();
        let cands: Vec<(Candidate<'_>, u64)> = all
            .iter()
            .map(|p| {
                let (source, key) = candidate_info(&self.peers, p.src);
                (
                    Candidate {
                        attrs: &p.attrs,
                        source,
                    },
                    key,
                )
            })
            .collect();
        let win = self.win_reason(paths);
        all.iter()
            .enumerate()
            .map(|(i, p)| {
                let (reason, beaten) = if i == 0 {
                    (win, None)
                } else {
                    let by = beaten_by(&cands, 0, i);
                    let reason = compare(&cands[by].0, &cands[i].0).1;
                    (reason, Some(self.source_of(all[by].src)))
                };
                RouteView {
                    prefix,
                    source: self.source_of(p.src),
                    attrs: p.attrs.clone(),
                    stale: p.stale,
                    best: i == 0,
                    reason,
                    beaten_by: beaten,
                    import_rule: p.import_rule(),
                    path_id: self.path_id(prefix, p.src),
                }
            })
            .collect()
    }

    /// The Path Identifier of the path of `src` for `prefix` (0: none).
    fn path_id(&self, prefix: IpNet, src: u32) -> u32 {
        match self.peer(slot_of(src)) {
            Some(p) if src != LOCAL => p.path_ids.id_of(prefix, index_of(src)),
            _ => 0,
        }
    }

    /// The best route for exactly `prefix`.
    pub fn best(&self, prefix: IpNet) -> Option<BestRoute> {
        self.table
            .get(&prefix.trunc())
            .map(|ps| self.best_route(ps, &prefix.trunc()))
    }

    /// Longest-prefix match of `addr` among the best routes (one hash probe
    /// per prefix length).
    pub fn lookup(&self, addr: IpAddr) -> Option<(IpNet, BestRoute)> {
        let hit = match addr {
            IpAddr::V4(a) => (0..=32u8).rev().find_map(|len| {
                let n = Ipv4Net::new(a, len).ok()?.trunc();
                let n = IpNet::V4(n);
                self.table.get(&n).map(|ps| (n, ps))
            }),
            IpAddr::V6(a) => (0..=128u8).rev().find_map(|len| {
                let n = Ipv6Net::new(a, len).ok()?.trunc();
                let n = IpNet::V6(n);
                self.table.get(&n).map(|ps| (n, ps))
            }),
        };
        hit.map(|(n, ps)| (n, self.best_route(ps, &n)))
    }

    /// The routes accepted from peer `id` (after import policy), including
    /// stale ones; sorted by prefix.
    pub fn adj_in(&self, id: PeerId) -> Vec<AdjRoute> {
        let Some(slot) = self.slot(id) else {
            return Vec::new();
        };
        let mut v: Vec<AdjRoute> = self
            .table
            .iter()
            .flat_map(|(prefix, ps)| {
                ps.of_slot(slot).map(move |p| AdjRoute {
                    prefix,
                    attrs: p.attrs.clone(),
                    stale: p.stale,
                    rule: p.import_rule(),
                    path_id: self.path_id(prefix, p.src),
                })
            })
            .collect();
        v.sort_by_key(|r| (r.prefix, r.path_id));
        v
    }

    /// What peer `id` holds from us, as of the last
    /// [`Rib::take_exports`] (attributes as sent); sorted by prefix.
    pub fn adj_out(&self, id: PeerId) -> Vec<AdjRoute> {
        let Some(slot) = self.slot(id) else {
            return Vec::new();
        };
        let Some(peer) = self.peer(slot) else {
            return Vec::new();
        };
        let Some(t) = Target::of(slot, peer) else {
            return Vec::new();
        };
        if peer.out.empty {
            return Vec::new();
        }
        let out = &peer.out;
        let mut v = Vec::new();
        // ADD-PATH send families: what it holds is kept explicitly.
        let by_paths = t.session.add_path_send;
        for (prefix, sent) in out.sent_paths.iter() {
            for (id, attrs) in sent {
                v.push(AdjRoute {
                    prefix,
                    attrs: attrs.clone(),
                    stale: false,
                    rule: None,
                    path_id: *id,
                });
            }
        }
        for (prefix, e) in self.table.map.iter() {
            if by_paths.contains(super::adj_in::family_of(&prefix)) {
                continue;
            }
            let held = if e.stamp >= out.cursor {
                // Changed since the last take: what it held then, if any.
                out.held.get(&prefix).cloned().map(|a| (a, None))
            } else {
                e.paths.as_ref().and_then(|ps| {
                    let b = ps.best();
                    self.export_view(&t, &prefix, b.src, &b.attrs)
                })
            };
            if let Some((attrs, rule)) = held {
                v.push(AdjRoute {
                    prefix,
                    attrs,
                    stale: false,
                    rule,
                    path_id: 0,
                });
            }
        }
        v.sort_by_key(|r| (r.prefix, r.path_id));
        v
    }

    /// What `t` gets for `prefix` whose best path is (`src`, `attrs`), and
    /// the export rule that matched: [`super::export::export_attrs`]
    /// without touching the caches.
    fn export_view(
        &self,
        t: &Target<'_>,
        prefix: &IpNet,
        src: u32,
        attrs: &Arc<PathAttributes>,
    ) -> Option<(Arc<PathAttributes>, Option<usize>)> {
        let se = src_info(&self.peers, src);
        let (class, reflect) = decide(t, prefix, src, se)?;
        if loops_at(t, attrs) || (reflect.is_some() && reflects_to_originator(t, attrs)) {
            return None;
        }
        let mut out = self.cache.peek(attrs, class).unwrap_or_else(|| {
            let c = self.cache.class(class)?;
            transform(attrs, self.local.asn, c).map(Arc::new)
        })?;
        if let Some(originator) = reflect {
            out = self
                .cache
                .peek_reflect(&out, originator)
                .unwrap_or_else(|| Arc::new(self.cache.reflected(&out, originator)));
        }
        match t.rules.evaluate(prefix, attrs) {
            Verdict::NoMatch => Some((out, None)),
            Verdict::Reject(_) => None,
            Verdict::Accept(i) => {
                let changed = match rule_changes(t, i) {
                    None => out,
                    Some(set) => self
                        .cache
                        .peek_rule(&out, (t.slot, i as u32))
                        .unwrap_or_else(|| Arc::new(set.apply(&out, self.local.asn))),
                };
                Some((changed, Some(i)))
            }
        }
    }

    /// Counters of peer `id`.
    pub fn peer_counts(&self, id: PeerId) -> Option<PeerCounts> {
        let p = self.slot(id).and_then(|s| self.peer(s))?;
        let pending = if p.session.is_some() && p.out.recording() {
            // Each prefix counts once however often it changed, and every
            // changed prefix is in the table (removed ones as tombstones).
            self.journal
                .window_len(p.out.cursor)
                .min(self.table.map.len() as u64)
        } else {
            0
        };
        Some(p.counts(pending))
    }

    /// Totals.
    pub fn counts(&self) -> RibCounts {
        let peers = self.peers.iter().flatten();
        RibCounts {
            prefixes: self.table.len() as u64,
            prefixes_v4: self.table.live_v4 as u64,
            prefixes_v6: self.table.live_v6 as u64,
            paths: self.table.paths as u64,
            local_routes: self.local_routes as u64,
            peers: peers.clone().count() as u64,
            established: peers.filter(|p| p.session.is_some()).count() as u64,
            attr_sets: self.interner.len() as u64,
            transforms: self.cache.len() as u64,
            journal: self.journal.len() as u64,
        }
    }
}

/// More inspection for `vcpectl show route`, `explain` and `bgp neighbor`.
impl Rib {
    /// Every prefix with at least one candidate path, sorted.
    pub fn prefixes(&self) -> Vec<IpNet> {
        let mut v: Vec<IpNet> = self.table.iter().map(|(p, _)| p).collect();
        v.sort();
        v
    }

    /// The prefixes peer `id` announces now that import policy or AS-loop
    /// detection rejected (only the prefixes are kept, not their
    /// attributes), sorted.
    pub fn filtered_in(&self, id: PeerId) -> Vec<IpNet> {
        let Some(p) = self.slot(id).and_then(|s| self.peer(s)) else {
            return Vec::new();
        };
        let mut v: Vec<IpNet> = p.filtered.iter().copied().collect();
        v.sort();
        v
    }

    /// The configuration peer `id` was added with.
    pub fn peer_config(&self, id: PeerId) -> Option<&super::PeerConfig> {
        self.slot(id).and_then(|s| self.peer(s)).map(|p| &p.config)
    }
}
