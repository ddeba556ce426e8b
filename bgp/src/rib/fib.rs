//! The best-route feed towards the FIB: [`Rib::take_fib_changes`] returns
//! what changed since the previous call, coalesced per prefix.

use std::cmp::Ordering;
use std::sync::Arc;

use ipnet::IpNet;

use super::best_path::{Candidate, Reason, compare, select};
use super::journal::for_each_changed;
use super::loc_rib::Paths;
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
            ..
        } = self;
        let mut held = std::mem::take(fib_held);
        let unknown = std::mem::take(fib_held_full);
        let has_held = !held.is_empty();
        for_each_changed(table, journal, *fib_cursor, |prefix, paths| {
            let old = if has_held { held.remove(&prefix) } else { None };
            let now = paths.map(|ps| ps.best());
            let unchanged = match (&old, now) {
                (None, None) => !unknown,
                (Some((s, a)), Some(b)) => *s == b.src && Arc::ptr_eq(a, &b.attrs),
                _ => false,
            };
            if unchanged {
                return;
            }
            let route = paths.map(|ps| best_route_of(peers, ps));
            f(match (old, route) {
                (None, Some(route)) => BestChange::Add { prefix, route },
                (Some(_), Some(route)) => BestChange::Replace { prefix, route },
                (_, None) => BestChange::Remove { prefix },
            });
        });
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
    pub(crate) fn best_route(&self, paths: &Paths) -> BestRoute {
        best_route_of(&self.peers, paths)
    }

    /// Why the best path of an entry beat the runner-up.
    pub(crate) fn win_reason(&self, paths: &Paths) -> Reason {
        win_reason_of(&self.peers, paths)
    }
}

/// The best route of an entry, with why it beat the runner-up.
fn best_route_of(peers: &[Option<Peer>], paths: &Paths) -> BestRoute {
    let best = paths.best();
    BestRoute {
        next_hop: best.attrs.next_hop,
        source: source_of(peers, best.src),
        attrs: best.attrs.clone(),
        reason: win_reason_of(peers, paths),
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
