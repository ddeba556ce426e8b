//! Multipath (ECMP): the learned paths that are as good as the best one
//! ([`multipath_equal`]), handed to the FIB with it as
//! [`BestRoute::multipath`](super::BestRoute), up to the maximum number of
//! paths per address family ([`Rib::set_maximum_paths`], default 1: off).
//!
//! The best path is still the one advertised to peers; only the FIB feed
//! sees the others. Because the change journal records only changes of the
//! best path, a change of a non-best path of a prefix is noted for the FIB
//! feed apart (`Rib::fib_multipath_dirty`), and only while multipath is on:
//! with one path the feed does exactly what it did before.

use std::net::IpAddr;

use ipnet::IpNet;

use super::best_path::{Candidate, compare, multipath_equal};
use super::loc_rib::{Path, Paths};
use super::peer::Peer;
use super::{Rib, RouteSource, candidate_info, source_of};

/// The largest `maximum_paths` accepted (more is clamped to it).
pub const MAX_PATHS_LIMIT: u16 = 64;

/// One more path of an ECMP route, besides the best one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MultipathMember {
    /// Its next hop.
    pub next_hop: Option<IpAddr>,
    /// The neighbor it was learned from.
    pub source: RouteSource,
}

impl Rib {
    /// Hand the FIB up to `v4` (IPv4) and `v6` (IPv6) equal paths per
    /// prefix (1, the default, turns multipath off; 0 counts as 1, more
    /// than [`MAX_PATHS_LIMIT`] as that). Every prefix with several paths is
    /// handed to the FIB again at the next take when a value changes.
    pub fn set_maximum_paths(&mut self, v4: u16, v6: u16) {
        let clamp = |n: u16| n.clamp(1, MAX_PATHS_LIMIT);
        let new = [clamp(v4), clamp(v6)];
        if new == self.max_paths {
            return;
        }
        self.max_paths = new;
        let many: Vec<IpNet> = self
            .table
            .iter()
            .filter(|(_, ps)| ps.as_slice().len() > 1)
            .map(|(n, _)| n)
            .collect();
        self.fib_multipath_dirty.extend(many);
    }

    /// The maximum paths for IPv4 and IPv6 ([`Rib::set_maximum_paths`]).
    pub fn maximum_paths(&self) -> (u16, u16) {
        (self.max_paths[0], self.max_paths[1])
    }

    /// After a path change of `prefix` that left its best path as it was:
    /// with multipath on for its family, the equal paths may differ now.
    pub(crate) fn note_multipath_change(&mut self, prefix: IpNet) {
        if max_paths_for(self.max_paths, &prefix) > 1 {
            self.fib_multipath_dirty.insert(prefix);
        }
    }
}

/// The maximum paths of `prefix`'s family.
pub(crate) fn max_paths_for(max: [u16; 2], prefix: &IpNet) -> u16 {
    match prefix {
        IpNet::V4(_) => max[0],
        IpNet::V6(_) => max[1],
    }
}

/// The paths of `paths` equal to its best one, at most `max - 1` of them,
/// the ones that would win the tie-breaks first (so the choice does not
/// depend on the order paths arrived in). Empty, without allocating, when
/// `max` is 1 or there is one path.
pub(crate) fn members(peers: &[Option<Peer>], paths: &Paths, max: u16) -> Box<[MultipathMember]> {
    let all = paths.as_slice();
    if max <= 1 || all.len() < 2 {
        return Box::default();
    }
    fn cand<'p>(peers: &[Option<Peer>], p: &'p Path) -> Candidate<'p> {
        let (source, _) = candidate_info(peers, p.src);
        Candidate {
            attrs: &p.attrs,
            source,
        }
    }
    let best = cand(peers, &all[0]);
    let mut equal: Vec<(Candidate<'_>, &Path)> = all[1..]
        .iter()
        .map(|p| (cand(peers, p), p))
        .filter(|(c, _)| multipath_equal(&best, c))
        .collect();
    equal.sort_by(|a, b| compare(&a.0, &b.0).0);
    // With ADD-PATH one neighbor may send equal paths with the same next
    // hop: one member per (next hop, neighbor), none repeating the best.
    let first = (all[0].attrs.next_hop, source_of(peers, all[0].src));
    let mut seen = vec![first];
    equal
        .into_iter()
        .map(|(_, p)| (p.attrs.next_hop, source_of(peers, p.src)))
        .filter(|m| {
            let new = !seen.contains(m);
            if new {
                seen.push(*m);
            }
            new
        })
        .take(usize::from(max) - 1)
        .map(|(next_hop, source)| MultipathMember { next_hop, source })
        .collect()
}
