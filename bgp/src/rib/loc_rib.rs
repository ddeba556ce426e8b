//! The route table: for every prefix, every candidate path (the union of
//! the Adj-RIBs-In after import policy, plus the local route), the best one
//! first (so the Loc-RIB is the first path of each entry).
//!
//! Storage is compact: IPv4 and IPv6 prefixes in separate hash maps keyed
//! by `Ipv4Net` / `Ipv6Net`; a path is 16 bytes (interned attributes, a
//! source slot, a stale flag); the common single-path entry is inline (16
//! bytes, no allocation), several paths go to one boxed `Vec`; with the
//! journal stamp an entry is 24 bytes, 32 per IPv4 entry in the map's
//! dense entry array plus a 4-byte hash slot ([`DenseMap`]).

use std::hash::Hash;
use std::sync::Arc;

use ipnet::IpNet;

use super::best_path::{self, Candidate, CandidateSource};
use super::dense_map::{DenseEntry, DenseMap};
pub(crate) use super::prefix_map::PrefixMap;
use crate::model::PathAttributes;

/// The source slot of locally originated paths.
pub(crate) const LOCAL: u32 = u32::MAX;

/// The low bits of a path's [`Path::src`] that hold the peer slot. The
/// byte above holds the path's index among the paths that peer sent for
/// the prefix (ADD-PATH, RFC 7911; 0 without it), so that a path is keyed
/// by (slot, index) in the same 4 bytes: without ADD-PATH `src` is the
/// slot, as before, and `Path` stays 16 bytes.
pub(crate) const SLOT_BITS: u32 = 24;
const SLOT_MASK: u32 = (1 << SLOT_BITS) - 1;

/// The peer slot of a path source ([`LOCAL`] stays [`LOCAL`]).
pub(crate) fn slot_of(src: u32) -> u32 {
    if src == LOCAL { LOCAL } else { src & SLOT_MASK }
}

/// The path index of a path source (0 for [`LOCAL`] and without ADD-PATH).
pub(crate) fn index_of(src: u32) -> u8 {
    if src == LOCAL {
        0
    } else {
        (src >> SLOT_BITS) as u8
    }
}

/// The source of path `index` of peer `slot`.
pub(crate) fn src_of(slot: u32, index: u8) -> u32 {
    debug_assert!(slot < SLOT_MASK, "peer slots stay below 2^24 - 1");
    slot | (u32::from(index) << SLOT_BITS)
}

/// One candidate path.
#[derive(Debug, Clone)]
pub(crate) struct Path {
    /// Interned attributes.
    pub(crate) attrs: Arc<PathAttributes>,
    /// The peer slot it was learned from and its ADD-PATH index
    /// ([`src_of`]), or [`LOCAL`].
    pub(crate) src: u32,
    /// Kept from a session that went down gracefully (RFC 4724).
    pub(crate) stale: bool,
    /// The import rule that matched, 1-based (0: none; 255: the 255th or
    /// a later one). A byte in what was padding: `Path` stays 16 bytes.
    pub(crate) rule: u8,
}

impl Path {
    /// The import rule that matched (0-based), when known.
    pub(crate) fn import_rule(&self) -> Option<usize> {
        match self.rule {
            0 | u8::MAX => None,
            r => Some(usize::from(r) - 1),
        }
    }
}

/// The [`Path::rule`] byte of import rule `i` (0-based).
pub(crate) fn rule_byte(i: Option<usize>) -> u8 {
    i.map_or(0, |i| u8::try_from(i + 1).unwrap_or(u8::MAX))
}

/// The identity of a best path, for change detection: (source, attributes).
pub(crate) type BestKey = (u32, Arc<PathAttributes>);

/// Whether two best keys name the same path.
pub(crate) fn same_best(a: &Option<BestKey>, b: &Option<BestKey>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some((sa, aa)), Some((sb, ab))) => sa == sb && Arc::ptr_eq(aa, ab),
        _ => false,
    }
}

/// The paths of one prefix, best first. Never empty in the table.
#[derive(Debug, Clone)]
pub(crate) enum Paths {
    /// The common case: one path, inline.
    One(Path),
    /// Two or more paths (invariant: `len() >= 2`). Boxed so that the enum
    /// stays 16 bytes (a bare `Vec` would make every entry 24).
    #[allow(clippy::box_collection)]
    Many(Box<Vec<Path>>),
}

impl Paths {
    /// All paths, best first.
    pub(crate) fn as_slice(&self) -> &[Path] {
        match self {
            Paths::One(p) => std::slice::from_ref(p),
            Paths::Many(v) => v,
        }
    }

    /// The best path.
    pub(crate) fn best(&self) -> &Path {
        match self {
            Paths::One(p) => p,
            // Invariant: Many holds at least two paths.
            Paths::Many(v) => &v[0],
        }
    }

    fn best_key(&self) -> BestKey {
        let b = self.best();
        (b.src, b.attrs.clone())
    }

    /// The path from `src`, if any.
    pub(crate) fn get(&self, src: u32) -> Option<&Path> {
        self.as_slice().iter().find(|p| p.src == src)
    }

    /// The paths from peer `slot` (several with ADD-PATH).
    pub(crate) fn of_slot(&self, slot: u32) -> impl Iterator<Item = &Path> + '_ {
        self.as_slice()
            .iter()
            .filter(move |p| slot_of(p.src) == slot)
    }

    /// Mutable access to every path.
    pub(crate) fn paths_mut(&mut self) -> &mut [Path] {
        match self {
            Paths::One(p) => std::slice::from_mut(p),
            Paths::Many(v) => v,
        }
    }

    /// Insert or replace the path of `path.src`; returns the replaced one.
    fn upsert(&mut self, path: Path) -> Option<Path> {
        if let Some(slot) = self.paths_mut().iter_mut().find(|p| p.src == path.src) {
            return Some(std::mem::replace(slot, path));
        }
        match self {
            Paths::One(p) => {
                let first = p.clone();
                *self = Paths::Many(Box::new(vec![first, path]));
            }
            Paths::Many(v) => v.push(path),
        }
        None
    }

    /// Remove the path of `src`; returns it and whether nothing is left.
    fn remove(&mut self, src: u32) -> (Option<Path>, bool) {
        match self {
            Paths::One(p) if p.src == src => (Some(p.clone()), true),
            Paths::One(_) => (None, false),
            Paths::Many(v) => {
                let Some(i) = v.iter().position(|p| p.src == src) else {
                    return (None, false);
                };
                let removed = v.swap_remove(i);
                // The caller reselects: the best may have been removed.
                if v.len() == 1
                    && let Some(last) = v.pop()
                {
                    *self = Paths::One(last);
                }
                (Some(removed), false)
            }
        }
    }

    /// Move the best path to the front. `info` maps a source slot to what
    /// selection needs and a unique tie-break key.
    pub(crate) fn reselect(&mut self, info: &dyn Fn(u32) -> (CandidateSource, u64)) {
        let Paths::Many(v) = self else { return };
        let cand = |p| candidate(p, info);
        if let [a, b] = v.as_slice() {
            let pair = [cand(a), cand(b)];
            if best_path::select(&pair) == Some(1) {
                v.swap(0, 1);
            }
            return;
        }
        let cands: Vec<(Candidate<'_>, u64)> = v.iter().map(cand).collect();
        let best = best_path::select(&cands).unwrap_or(0);
        drop(cands);
        v.swap(0, best);
    }
}

/// A path as a selection candidate, with its tie-break key.
fn candidate<'p>(
    p: &'p Path,
    info: &dyn Fn(u32) -> (CandidateSource, u64),
) -> (Candidate<'p>, u64) {
    let (source, key) = info(p.src);
    (
        Candidate {
            attrs: &p.attrs,
            source,
        },
        key,
    )
}

/// One table entry: the paths, and the journal stamp (the sequence number
/// of the prefix's last journal record, [`super::journal`]). An entry
/// without paths is a tombstone, kept until every consumer has seen the
/// removal.
#[derive(Debug, Clone)]
pub(crate) struct TableEntry {
    /// The paths, best first; `None` for a tombstone.
    pub(crate) paths: Option<Paths>,
    /// Sequence number of the last journal record (0: none).
    pub(crate) stamp: u64,
}

/// What a table update did.
#[derive(Debug)]
pub(crate) struct Delta {
    /// The best path changed.
    pub(crate) best_changed: bool,
    /// When it changed: the previous best path (`None`: there was none).
    pub(crate) old: Option<BestKey>,
    /// The path of that source that was there before: `Some(its stale
    /// flag)`.
    pub(crate) previous: Option<bool>,
    /// The entry's stamp before the update.
    pub(crate) stamp_before: u64,
    /// The change must be appended to the journal (the entry's stamp was
    /// set to `next_seq`).
    pub(crate) journal: bool,
    /// Live prefixes added (+1) or removed (-1).
    pub(crate) live: i8,
    /// The entry's position in its family's map (for the journal record).
    pub(crate) slot: u32,
}

impl Delta {
    fn unchanged(previous: Option<bool>, stamp: u64) -> Delta {
        Delta {
            best_changed: false,
            old: None,
            previous,
            stamp_before: stamp,
            journal: false,
            live: 0,
            slot: 0,
        }
    }
}

/// Set (`Some`) or remove (`None`) the path of `src` for `key`, reselect,
/// and report whether the best path changed. On a change the entry is
/// stamped with `next_seq` when the journal must record it (its stamp is
/// older than `last_take`). Reference counts are touched only where
/// ownership moves (atomics are fences that serialize cache misses).
fn update<K: Hash + Eq>(
    map: &mut DenseMap<K, TableEntry>,
    key: K,
    src: u32,
    new: Option<Path>,
    info: &dyn Fn(u32) -> (CandidateSource, u64),
    (last_take, next_seq): (u64, u64),
) -> Delta {
    let entry = map.entry(key);
    let slot = match &entry {
        DenseEntry::Occupied(i, _) => *i,
        DenseEntry::Vacant(e) => e.index(),
    };
    let mut delta = update_entry(entry, src, new, info, (last_take, next_seq));
    delta.slot = slot;
    delta
}

/// [`update`] on the entry found.
fn update_entry<K: Hash + Eq>(
    entry: DenseEntry<'_, K, TableEntry>,
    src: u32,
    new: Option<Path>,
    info: &dyn Fn(u32) -> (CandidateSource, u64),
    (last_take, next_seq): (u64, u64),
) -> Delta {
    let stamped = |stamp: u64| {
        if stamp < last_take {
            (next_seq, true)
        } else {
            (stamp, false)
        }
    };
    match entry {
        DenseEntry::Vacant(e) => {
            let Some(p) = new else {
                return Delta::unchanged(None, 0);
            };
            let (stamp, journal) = stamped(0);
            e.insert(TableEntry {
                paths: Some(Paths::One(p)),
                stamp,
            });
            Delta {
                best_changed: true,
                old: None,
                previous: None,
                stamp_before: 0,
                journal,
                live: 1,
                slot: 0,
            }
        }
        DenseEntry::Occupied(_, entry) => {
            let stamp_before = entry.stamp;
            let Some(paths) = entry.paths.as_mut() else {
                // A tombstone: revived by an announcement.
                let Some(p) = new else {
                    return Delta::unchanged(None, stamp_before);
                };
                entry.paths = Some(Paths::One(p));
                let (stamp, journal) = stamped(stamp_before);
                entry.stamp = stamp;
                return Delta {
                    best_changed: true,
                    old: None,
                    previous: None,
                    stamp_before,
                    journal,
                    live: 1,
                    slot: 0,
                };
            };
            let (old_src, old_ptr) = {
                let b = paths.best();
                (b.src, Arc::as_ptr(&b.attrs))
            };
            let previous = match new {
                Some(p) => paths.upsert(p),
                None => {
                    let (removed, empty) = paths.remove(src);
                    if removed.is_none() {
                        return Delta::unchanged(None, stamp_before);
                    }
                    if empty {
                        entry.paths = None;
                        let (stamp, journal) = stamped(stamp_before);
                        entry.stamp = stamp;
                        let previous = removed.as_ref().map(|p| p.stale);
                        return Delta {
                            best_changed: true,
                            old: removed.map(|p| (p.src, p.attrs)),
                            previous,
                            stamp_before,
                            journal,
                            live: -1,
                            slot: 0,
                        };
                    }
                    removed
                }
            };
            paths.reselect(info);
            let b = paths.best();
            let changed = b.src != old_src || Arc::as_ptr(&b.attrs) != old_ptr;
            let stale = previous.as_ref().map(|p| p.stale);
            if !changed {
                return Delta::unchanged(stale, stamp_before);
            }
            let old = match previous {
                // The replaced or removed path was the best: move it.
                Some(p) if p.src == old_src && Arc::as_ptr(&p.attrs) == old_ptr => {
                    Some((p.src, p.attrs))
                }
                _ => paths.get(old_src).map(|p| (p.src, p.attrs.clone())),
            };
            let (stamp, journal) = stamped(stamp_before);
            entry.stamp = stamp;
            Delta {
                best_changed: true,
                old,
                previous: stale,
                stamp_before,
                journal,
                live: 0,
                slot: 0,
            }
        }
    }
}

/// A list of prefixes, IPv4 and IPv6 apart ([`Table::prefixes_of`]).
#[derive(Debug, Default)]
pub(crate) struct PrefixList {
    v4: Vec<ipnet::Ipv4Net>,
    v6: Vec<ipnet::Ipv6Net>,
}

impl IntoIterator for PrefixList {
    type Item = IpNet;
    type IntoIter = std::iter::Chain<
        std::iter::Map<std::vec::IntoIter<ipnet::Ipv4Net>, fn(ipnet::Ipv4Net) -> IpNet>,
        std::iter::Map<std::vec::IntoIter<ipnet::Ipv6Net>, fn(ipnet::Ipv6Net) -> IpNet>,
    >;

    fn into_iter(self) -> Self::IntoIter {
        let v4: fn(ipnet::Ipv4Net) -> IpNet = IpNet::V4;
        let v6: fn(ipnet::Ipv6Net) -> IpNet = IpNet::V6;
        self.v4
            .into_iter()
            .map(v4)
            .chain(self.v6.into_iter().map(v6))
    }
}

/// The route table.
#[derive(Debug, Default)]
pub(crate) struct Table {
    /// Entries, tombstones included.
    pub(crate) map: PrefixMap<TableEntry>,
    /// Total number of paths (all prefixes).
    pub(crate) paths: usize,
    /// Live (non-tombstone) IPv4 entries.
    pub(crate) live_v4: usize,
    /// Live (non-tombstone) IPv6 entries.
    pub(crate) live_v6: usize,
}

impl Table {
    /// Set or remove the path of `src` for `prefix` (see [`update`]);
    /// `journal` is (last take, next sequence number).
    pub(crate) fn update(
        &mut self,
        prefix: IpNet,
        src: u32,
        new: Option<Path>,
        info: &dyn Fn(u32) -> (CandidateSource, u64),
        journal: (u64, u64),
    ) -> Delta {
        let adding = new.is_some();
        let d = match prefix {
            IpNet::V4(n) => update(&mut self.map.v4, n, src, new, info, journal),
            IpNet::V6(n) => update(&mut self.map.v6, n, src, new, info, journal),
        };
        match (adding, d.previous.is_some()) {
            (true, false) => self.paths += 1,
            (false, true) => self.paths -= 1,
            _ => {}
        }
        let live = match prefix {
            IpNet::V4(_) => &mut self.live_v4,
            IpNet::V6(_) => &mut self.live_v6,
        };
        match d.live {
            1 => *live += 1,
            -1 => *live -= 1,
            _ => {}
        }
        d
    }

    /// The paths of `prefix` (`None` also for a tombstone).
    pub(crate) fn get(&self, prefix: &IpNet) -> Option<&Paths> {
        self.map.get(prefix).and_then(|e| e.paths.as_ref())
    }

    /// Remove a tombstone whose last journal record is `seq` (or older).
    pub(crate) fn drop_tombstone(&mut self, prefix: &IpNet, seq: u64) {
        let dead = |e: &TableEntry| e.paths.is_none() && e.stamp <= seq;
        match prefix {
            IpNet::V4(n) => {
                if self.map.v4.get(n).is_some_and(dead) {
                    self.map.v4.remove(n);
                }
            }
            IpNet::V6(n) => {
                if self.map.v6.get(n).is_some_and(dead) {
                    self.map.v6.remove(n);
                }
            }
        }
    }

    /// Remove every tombstone whose last journal record is before `seq`.
    pub(crate) fn drop_tombstones_before(&mut self, seq: u64) {
        let keep = |e: &mut TableEntry| e.paths.is_some() || e.stamp >= seq;
        self.map.v4.retain(|_, e| keep(e));
        self.map.v6.retain(|_, e| keep(e));
    }

    /// Number of live prefixes.
    pub(crate) fn len(&self) -> usize {
        self.live_v4 + self.live_v6
    }

    /// Every live entry, IPv4 first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (IpNet, &Paths)> + '_ {
        self.map
            .iter()
            .filter_map(|(n, e)| e.paths.as_ref().map(|ps| (n, ps)))
    }

    /// The best path's key for `prefix`.
    pub(crate) fn best_key(&self, prefix: &IpNet) -> Option<BestKey> {
        self.get(prefix).map(Paths::best_key)
    }

    /// Recompute the best path of `prefix`.
    pub(crate) fn reselect(
        &mut self,
        prefix: &IpNet,
        info: &dyn Fn(u32) -> (CandidateSource, u64),
    ) {
        let e = match prefix {
            IpNet::V4(n) => self.map.v4.get_mut(n),
            IpNet::V6(n) => self.map.v6.get_mut(n),
        };
        if let Some(ps) = e.and_then(|e| e.paths.as_mut()) {
            ps.reselect(info);
        }
    }

    /// Stamp `prefix` for the journal as [`update`] does: the stamp
    /// before, and whether it must be appended (with the entry's slot).
    pub(crate) fn stamp(
        &mut self,
        prefix: &IpNet,
        (last_take, next_seq): (u64, u64),
    ) -> (u64, Option<u32>) {
        let e = match prefix {
            IpNet::V4(n) => self.map.v4.get_mut_indexed(n),
            IpNet::V6(n) => self.map.v6.get_mut_indexed(n),
        };
        let Some((slot, e)) = e else { return (0, None) };
        let before = e.stamp;
        if before < last_take {
            e.stamp = next_seq;
            (before, Some(slot))
        } else {
            (before, None)
        }
    }

    /// The raw entry of `prefix` (tombstones included), tried at `slot`
    /// first (where the journal saw it).
    pub(crate) fn entry_at(&self, prefix: &IpNet, slot: u32) -> Option<&TableEntry> {
        self.map.get_at(prefix, slot)
    }

    /// Prefixes that have a path from peer `slot` matching `pred`: a
    /// whole table when a session goes, so kept compact (5 bytes an IPv4
    /// prefix, not 18).
    pub(crate) fn prefixes_of(
        &self,
        slot: u32,
        pred: impl Fn(&IpNet, &Path) -> bool,
    ) -> PrefixList {
        let mut list = PrefixList::default();
        for (n, ps) in self.iter() {
            if ps.of_slot(slot).any(|p| pred(&n, p)) {
                match n {
                    IpNet::V4(n) => list.v4.push(n),
                    IpNet::V6(n) => list.v6.push(n),
                }
            }
        }
        list
    }

    /// The sources of the paths of `prefix` from peer `slot` that match
    /// `pred`.
    pub(crate) fn sources_of(
        &self,
        prefix: &IpNet,
        slot: u32,
        pred: impl Fn(&Path) -> bool,
    ) -> Vec<u32> {
        self.get(prefix).map_or_else(Vec::new, |ps| {
            ps.of_slot(slot)
                .filter(|p| pred(p))
                .map(|p| p.src)
                .collect()
        })
    }

    /// Apply `f` to every path from peer `slot`.
    pub(crate) fn for_each_path_mut(&mut self, slot: u32, mut f: impl FnMut(&IpNet, &mut Path)) {
        let v4 = self.map.v4.iter_mut().map(|(n, e)| (IpNet::V4(*n), e));
        let v6 = self.map.v6.iter_mut().map(|(n, e)| (IpNet::V6(*n), e));
        for (n, e) in v4.chain(v6) {
            let Some(ps) = e.paths.as_mut() else { continue };
            for p in ps.paths_mut().iter_mut().filter(|p| slot_of(p.src) == slot) {
                f(&n, p);
            }
        }
    }
}
