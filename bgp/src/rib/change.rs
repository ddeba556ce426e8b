//! One path change: update the table, and when the best path of the prefix
//! changed, note it for the FIB feed and for every peer's pending exports
//! (recording what each held before, so changes coalesce).

use std::sync::Arc;

use ipnet::IpNet;

use super::export::record_old;
use super::loc_rib::{Delta, Path};
use super::{Rib, candidate_info};

impl Rib {
    /// Set (`Some`) or remove (`None`) the path of source slot `src` for
    /// `prefix`, and fan out a best-path change.
    pub(crate) fn set_path(&mut self, prefix: IpNet, src: u32, new: Option<Path>) -> Delta {
        let Rib {
            table,
            peers,
            cache,
            interner,
            local,
            fib_dirty,
            ..
        } = self;
        let info = |s: u32| candidate_info(peers, s);
        let mut delta = table.update(prefix, src, new, &info);
        if delta.best_changed {
            // The new best's attributes are fetched from the table only if
            // a transform is not cached yet.
            let fetch = || table.get(&prefix).map(|ps| ps.best().attrs.clone());
            let now = delta.now;
            record_old(
                peers, cache, interner, local.asn, prefix, &delta.old, now, &fetch,
            );
            let old = delta.old.take();
            fib_dirty.insert_if_absent(prefix, || old);
        }
        delta
    }

    /// Recompute the best path of `prefix` (after a change in what the
    /// decision depends on outside the path itself, e.g. a router id).
    pub(crate) fn reselect(&mut self, prefix: IpNet) {
        let Some(old) = self.table.best_key(&prefix) else {
            return;
        };
        let Rib {
            table,
            peers,
            cache,
            interner,
            local,
            fib_dirty,
            ..
        } = self;
        let info = |s: u32| candidate_info(peers, s);
        let changed = match prefix {
            IpNet::V4(n) => table.map.v4.get_mut(&n).map(|ps| ps.reselect(&info)),
            IpNet::V6(n) => table.map.v6.get_mut(&n).map(|ps| ps.reselect(&info)),
        };
        if changed.is_none() {
            return;
        }
        let now = table.best_key(&prefix);
        let old = Some(old);
        if !super::loc_rib::same_best(&old, &now) {
            let new = now.as_ref().map(|(s, a)| (*s, Arc::as_ptr(a) as usize));
            let fetch = || now.as_ref().map(|(_, a)| a.clone());
            record_old(peers, cache, interner, local.asn, prefix, &old, new, &fetch);
            fib_dirty.insert_if_absent(prefix, || old);
        }
    }
}
