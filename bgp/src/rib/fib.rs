//! The best-route feed towards the FIB: [`Rib::take_fib_changes`] returns
//! what changed since the previous call, coalesced per prefix.

use std::cmp::Ordering;
use std::sync::Arc;

use ipnet::IpNet;

use super::best_path::{Candidate, Reason, compare, select};
use super::journal::for_each_changed;
use super::loc_rib::Paths;
use super::multipath::{max_paths_for, members};
use super::peer::Peer;
use super::{BestRoute, Rib, candidate_info, source_of};

/// One change of a prefix's best route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BestChange {
    /// The prefix had no route and now has one.
    Add {
        /// The prefix.
        prefix: IpNet,
        /// Its best route.
        route: BestRoute,
    },
    /// The prefix's best route is a different one (other source or other
    /// attributes).
    Replace {
        /// The prefix.
        prefix: IpNet,
        /// The new best route.
        route: BestRoute,
    },
    /// The prefix has no route (any more; see [`Rib::take_fib_changes`]).
    Remove {
        /// The prefix.
        prefix: IpNet,
    },
}

impl BestChange {
    /// The prefix concerned.
    pub fn prefix(&self) -> IpNet {
        match self {
            BestChange::Add { prefix, .. }
            | BestChange::Replace { prefix, .. }
            | BestChange::Remove { prefix } => *prefix,
        }
    }
}

impl Rib {
    /// The best-route changes since the last call, one per prefix at most:
    /// a prefix whose best route went away and came back unchanged (same
    /// source, same attributes) yields nothing. When more than
    /// `FIB_HELD_MAX` (65536) prefixes changed since the last call (a
    /// session with a full table went), what the consumer held is not
    /// known for all of them: a prefix without a route then yields
    /// [`BestChange::Remove`] even if it was added and removed since (a
    /// consumer removes what it does not hold as a no-op), and one with a
    /// route may yield `Add` where `Replace` or nothing was due.
    pub fn take_fib_changes(&mut self) -> Vec<BestChange> {
        let mut changes = Vec::new();
        self.take_fib_changes_with(|c| changes.push(c));
        changes
    }

    /// [`Rib::take_fib_changes`], handing each change to `f` instead of
    /// collecting them: a consumer that keeps less than a [`BestChange`]
    /// per prefix (the FIB keeps a prefix and a next hop) needs no buffer
    /// of full changes for a million-route batch.
    pub fn take_fib_changes_with(&mut self, mut f: impl FnMut(BestChange)) {
        let Rib {
            table,
            journal,
            fib_cursor,
            fib_held,
            fib_held_full,
            peers,
            max_paths,
            fib_multipath_dirty,
            ..
        } = self;
        let mut held = std::mem::take(fib_held);
        let unknown = std::mem::take(fib_held_full);
        let has_held = !held.is_empty();
        let max = *max_paths;
        let multipath = max != [1, 1];
        let mut dirty = std::mem::take(fib_multipath_dirty);
        let has_dirty = !dirty.is_empty();
        for_each_changed(table, journal, *fib_cursor, |prefix, paths| {
            if has_dirty {
                dirty.remove(&prefix);
            }
            let old = if has_held { held.remove(&prefix) } else { None };
            let now = paths.map(|ps| ps.best());
            let unchanged = match (&old, now) {
                (None, None) => !unknown,
                (Some((s, a)), Some(b)) => *s == b.src && Arc::ptr_eq(a, &b.attrs),
                _ => false,
            };
            // The same best path may come back with other equal paths.
            if unchanged && !(multipath && now.is_some()) {
                return;
            }
            let route = paths.map(|ps| best_route_of(peers, ps, max_paths_for(max, &prefix)));
            f(match (old, route) {
                (None, Some(route)) => BestChange::Add { prefix, route },
                (Some(_), Some(route)) => BestChange::Replace { prefix, route },
                (_, None) => BestChange::Remove { prefix },
            });
        });
        // Equal paths changed under an unchanged best path.
        for prefix in dirty {
            if let Some(ps) = table.get(&prefix) {
                let route = best_route_of(peers, ps, max_paths_for(max, &prefix));
                f(BestChange::Replace { prefix, route });
            }
        }
        *fib_cursor = journal.take();
        self.trim_journal();
    }

    /// At least as many changes as the next [`Rib::take_fib_changes`]
    /// returns: every prefix changed since (at most once each).
    pub fn fib_changes_bound(&self) -> usize {
        let window = self.journal.window_len(self.fib_cursor);
        usize::try_from(window)
            .unwrap_or(usize::MAX)
            .min(self.table.map.len())
    }

    /// The best route of an entry, with why it beat the runner-up.
    pub(crate) fn best_route(&self, paths: &Paths, prefix: &IpNet) -> BestRoute {
        best_route_of(&self.peers, paths, max_paths_for(self.max_paths, prefix))
    }

    /// Why the best path of an entry beat the runner-up.
    pub(crate) fn win_reason(&self, paths: &Paths) -> Reason {
        win_reason_of(&self.peers, paths)
    }
}

/// The best route of an entry, with why it beat the runner-up and, when
/// `max_paths` > 1, the equal paths beside it.
fn best_route_of(peers: &[Option<Peer>], paths: &Paths, max_paths: u16) -> BestRoute {
    let best = paths.best();
    BestRoute {
        next_hop: best.attrs.next_hop,
        source: source_of(peers, best.src),
        attrs: best.attrs.clone(),
        reason: win_reason_of(peers, paths),
        multipath: members(peers, paths, max_paths),
    }
}

/// Why the best path of an entry beat the runner-up.
fn win_reason_of(peers: &[Option<Peer>], paths: &Paths) -> Reason {
    let all = paths.as_slice();
    if all.len() < 2 {
        return Reason::OnlyPath;
    }
    let cands: Vec<(Candidate<'_>, u64)> = all
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
    let rest = &cands[1..];
    let runner = select(rest).map_or(0, |i| i + 1);
    let (ord, reason) = compare(&cands[0].0, &cands[runner].0);
    debug_assert_ne!(ord, Ordering::Greater, "best path lost to the runner-up");
    reason
}
