//! ADD-PATH send (RFC 7911): towards a peer that negotiated it for a
//! family, each prefix goes out as up to [`super::PeerConfig::add_path_count`]
//! paths: the best, then the next best ones the peer may receive under
//! the usual export rules (split horizon, RFC 4456 reflection, policy;
//! [`super::export::export_attrs`] per path). Each path's Path Identifier
//! is its source plus one (the peer slot and its ADD-PATH index,
//! [`super::loc_rib::src_of`]; 0 for a local route), so it stays the same
//! for as long as that path exists.
//!
//! The journal records best-path changes only, so the RIB keeps for such
//! a peer what it holds (`OutState::sent_paths`) and which prefixes had
//! any path change since its last take (`OutState::paths_dirty`, noted
//! only while such a peer is established); a take compares and sends only
//! the paths that changed, withdrawing by Path Identifier.

use std::sync::Arc;

use ipnet::IpNet;

use super::adj_in::family_of;
use super::best_path::{Candidate, select};
use super::export::{PathGroup, Target, export_attrs, src_info};
use super::hash::{FastMap, FastSet};
use super::intern::{Interner, TransformCache};
use super::loc_rib::{Path, Paths, PrefixMap, Table};
use super::peer::Peer;
use super::{Rib, candidate_info};
use crate::model::PathAttributes;

/// What one peer holds per prefix: (Path Identifier, attributes as sent).
pub(crate) type SentPaths = Vec<(u32, Arc<PathAttributes>)>;

/// The ADD-PATH part of one take: announcements grouped by attributes
/// (one family per group), and withdrawals, each with its identifier.
#[derive(Debug, Default)]
pub(crate) struct PathExport {
    pub(crate) announce: Vec<PathGroup>,
    pub(crate) withdraw: Vec<(IpNet, u32)>,
    index: FastMap<(usize, bool), usize>,
}

impl PathExport {
    fn add(&mut self, attrs: &Arc<PathAttributes>, prefix: IpNet, id: u32) {
        let key = (Arc::as_ptr(attrs) as usize, matches!(prefix, IpNet::V4(_)));
        let next = self.announce.len();
        let i = *self.index.entry(key).or_insert(next);
        if i == next {
            self.announce.push((attrs.clone(), Vec::new()));
        }
        self.announce[i].1.push((prefix, id));
    }
}

/// The Path Identifier of the path of source `src` (stable while the path
/// exists; unique among a prefix's paths).
pub(crate) fn path_id_of(src: u32) -> u32 {
    src.wrapping_add(1)
}

impl Rib {
    /// A path of `prefix` changed: peers we send several paths to look at
    /// the prefix again at their next take.
    pub(crate) fn note_path_change(&mut self, prefix: IpNet) {
        if self.add_path_senders == 0 {
            return;
        }
        let family = family_of(&prefix);
        for p in self.peers.iter_mut().flatten() {
            if p.session
                .as_ref()
                .is_some_and(|s| s.add_path_send.contains(family))
            {
                p.out.paths_dirty.insert(prefix);
            }
        }
    }

    /// Recount the established peers with ADD-PATH send.
    pub(crate) fn count_add_path_senders(&mut self) {
        self.add_path_senders = self
            .peers
            .iter()
            .flatten()
            .filter(|p| {
                p.session
                    .as_ref()
                    .is_some_and(|s| !s.add_path_send.is_empty())
            })
            .count();
    }
}

/// The paths of `prefix` peer `t` gets, best first, at most `limit`.
pub(crate) fn wanted(
    cx: (&mut TransformCache, &mut Interner, u32),
    peers: &[Option<Peer>],
    t: &Target<'_>,
    prefix: &IpNet,
    paths: Option<&Paths>,
    limit: usize,
) -> SentPaths {
    let (cache, interner, asn) = cx;
    let mut out = SentPaths::new();
    let Some(paths) = paths else { return out };
    let all = paths.as_slice();
    let mut take = |p: &Path, out: &mut SentPaths| {
        let best = Some((p.src, &p.attrs));
        if let Some(a) = export_attrs(
            cache,
            interner,
            asn,
            t,
            prefix,
            best,
            src_info(peers, p.src),
        ) {
            out.push((path_id_of(p.src), a));
        }
    };
    take(&all[0], &mut out);
    if all.len() == 1 || out.len() >= limit {
        return out;
    }
    // The next best ones, by repeated selection among the rest (the
    // decision process, with its tie-breaks, not a sort: MED comparison
    // is not a total order).
    let mut rest: Vec<&Path> = all[1..].iter().collect();
    let mut cands: Vec<(Candidate<'_>, u64)> = rest
        .iter()
        .map(|p| {
            let (source, key) = candidate_info(peers, p.src);
            (
                Candidate {
                    attrs: &p.attrs,
                    source,
                },
                key,
            )
        })
        .collect();
    while out.len() < limit && !cands.is_empty() {
        let i = select(&cands).unwrap_or(0);
        cands.swap_remove(i);
        let p = rest.swap_remove(i);
        take(p, &mut out);
    }
    out
}

/// The ADD-PATH families' part of a take for peer `t`: with `full`, every
/// prefix of those families (announced again) and what it held that is
/// gone; else the `dirty` prefixes, sending only the paths that changed.
#[allow(clippy::too_many_arguments)]
pub(crate) fn take_paths(
    cx: (&mut TransformCache, &mut Interner, u32),
    peers: &[Option<Peer>],
    table: &Table,
    t: &Target<'_>,
    limit: usize,
    sent: &mut PrefixMap<SentPaths>,
    dirty: FastSet<IpNet>,
    full: bool,
) -> PathExport {
    let (cache, interner, asn) = cx;
    let families = t.session.add_path_send;
    let prefixes: Vec<IpNet> = if full {
        let mut all: FastSet<IpNet> = table
            .iter()
            .map(|(n, _)| n)
            .filter(|n| families.contains(family_of(n)))
            .collect();
        all.extend(sent.iter().map(|(n, _)| n));
        all.into_iter().collect()
    } else {
        dirty
            .into_iter()
            .filter(|n| families.contains(family_of(n)))
            .collect()
    };
    let mut e = PathExport::default();
    for prefix in prefixes {
        let now = wanted(
            (&mut *cache, &mut *interner, asn),
            peers,
            t,
            &prefix,
            table.get(&prefix),
            limit,
        );
        let old = sent.remove(&prefix).unwrap_or_default();
        for (id, a) in &now {
            let held = old.iter().any(|(oid, oa)| oid == id && Arc::ptr_eq(oa, a));
            if full || !held {
                e.add(a, prefix, *id);
            }
        }
        for (oid, _) in &old {
            if !now.iter().any(|(id, _)| id == oid) {
                e.withdraw.push((prefix, *oid));
            }
        }
        if !now.is_empty() {
            sent.insert(prefix, now);
        }
    }
    e
}
