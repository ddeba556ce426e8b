//! One path change: update the table, and when the best path of the prefix
//! changed, record it in the journal and keep, for each consumer (FIB
//! feed, peers) seeing its first change of the prefix since its last take,
//! what it held then, so changes coalesce.

use ipnet::IpNet;

use super::export::record_old;
use super::loc_rib::{Delta, Path, same_best};
use super::multipath::max_paths_for;
use super::{Rib, candidate_info};

impl Rib {
    /// Set (`Some`) or remove (`None`) the path of source slot `src` for
    /// `prefix`, and fan out a best-path change.
    pub(crate) fn set_path(&mut self, prefix: IpNet, src: u32, new: Option<Path>) -> Delta {
        let multipath = max_paths_for(self.max_paths, &prefix) > 1;
        let Rib {
            table,
            peers,
            cache,
            interner,
            local,
            journal,
            fib_cursor,
            fib_held,
            fib_held_full,
            ..
        } = self;
        let info = |s: u32| candidate_info(peers, s);
        let mut delta = table.update(prefix, src, new, &info, journal.hint());
        if delta.best_changed {
            let before = delta.stamp_before;
            record_old(
                peers, cache, interner, local.asn, prefix, &delta.old, before,
            );
            if let (Some(old), true) = (delta.old.take(), before < *fib_cursor) {
                hold_for_fib(fib_held, fib_held_full, prefix, old);
            }
            if delta.journal {
                journal.push(prefix, delta.slot);
            }
        } else if multipath {
            self.fib_multipath_dirty.insert(prefix);
        }
        self.note_path_change(prefix);
        delta
    }

    /// Recompute the best path of `prefix` (after a change in what the
    /// decision depends on outside the path itself, e.g. a router id).
    pub(crate) fn reselect(&mut self, prefix: IpNet) {
        let Some(old) = self.table.best_key(&prefix) else {
            return;
        };
        self.note_path_change(prefix);
        let Rib {
            table,
            peers,
            cache,
            interner,
            local,
            journal,
            fib_cursor,
            fib_held,
            fib_held_full,
            ..
        } = self;
        let info = |s: u32| candidate_info(peers, s);
        table.reselect(&prefix, &info);
        let now = table.best_key(&prefix);
        let old = Some(old);
        if same_best(&old, &now) {
            self.note_multipath_change(prefix);
            return;
        }
        let (before, slot) = table.stamp(&prefix, journal.hint());
        record_old(peers, cache, interner, local.asn, prefix, &old, before);
        if let (Some(old), true) = (old, before < *fib_cursor) {
            hold_for_fib(fib_held, fib_held_full, prefix, old);
        }
        if let Some(slot) = slot {
            journal.push(prefix, slot);
        }
    }
}

/// Keeps what the FIB feed held for `prefix`, while there is room.
fn hold_for_fib(
    held: &mut super::loc_rib::PrefixMap<super::loc_rib::BestKey>,
    full: &mut bool,
    prefix: IpNet,
    old: super::loc_rib::BestKey,
) {
    if held.len() < super::FIB_HELD_MAX {
        held.insert(prefix, old);
    } else {
        *full = true;
    }
}
