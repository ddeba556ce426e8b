//! The best-route feed towards the FIB: [`Rib::take_fib_changes`] returns
//! what changed since the previous call, coalesced per prefix.

use std::cmp::Ordering;
use std::sync::Arc;

use ipnet::IpNet;

use super::best_path::{Candidate, Reason, compare, select};
use super::loc_rib::Paths;
use super::{BestRoute, Rib, candidate_info};

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
    /// The prefix has no route any more.
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
    /// source, same attributes) yields nothing.
    pub fn take_fib_changes(&mut self) -> Vec<BestChange> {
        let dirty = self.fib_dirty.take();
        let mut changes = Vec::with_capacity(dirty.len());
        for (prefix, old) in dirty.into_entries() {
            let entry = self.table.get(&prefix);
            let now = entry.map(|ps| ps.best());
            let unchanged = match (&old, now) {
                (None, None) => true,
                (Some((s, a)), Some(b)) => *s == b.src && Arc::ptr_eq(a, &b.attrs),
                _ => false,
            };
            if unchanged {
                continue;
            }
            let route = entry.map(|ps| self.best_route(ps));
            changes.push(match (old, route) {
                (None, Some(route)) => BestChange::Add { prefix, route },
                (Some(_), Some(route)) => BestChange::Replace { prefix, route },
                (_, None) => BestChange::Remove { prefix },
            });
        }
        changes
    }

    /// The best route of an entry, with why it beat the runner-up.
    pub(crate) fn best_route(&self, paths: &Paths) -> BestRoute {
        let best = paths.best();
        BestRoute {
            next_hop: best.attrs.next_hop,
            source: self.source_of(best.src),
            attrs: best.attrs.clone(),
            reason: self.win_reason(paths),
        }
    }

    /// Why the best path of an entry beat the runner-up.
    pub(crate) fn win_reason(&self, paths: &Paths) -> Reason {
        let all = paths.as_slice();
        if all.len() < 2 {
            return Reason::OnlyPath;
        }
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
        let rest = &cands[1..];
        let runner = select(rest).map_or(0, |i| i + 1);
        let (ord, reason) = compare(&cands[0].0, &cands[runner].0);
        debug_assert_ne!(ord, Ordering::Greater, "best path lost to the runner-up");
        reason
    }
}
