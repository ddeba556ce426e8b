//! The route table: for every prefix, every candidate path (the union of
//! the Adj-RIBs-In after import policy, plus the local route), the best one
//! first (so the Loc-RIB is the first path of each entry).
//!
//! Storage is compact: IPv4 and IPv6 prefixes in separate hash maps keyed
//! by `Ipv4Net` / `Ipv6Net`; a path is 16 bytes (interned attributes, a
//! source slot, a stale flag); the common single-path entry is inline (16
//! bytes, no allocation), several paths go to one boxed `Vec`.

use std::collections::hash_map::Entry;
use std::hash::Hash;
use std::sync::Arc;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::best_path::{self, Candidate, CandidateSource};
use super::hash::FastMap;
use crate::model::PathAttributes;

/// The source slot of locally originated paths.
pub(crate) const LOCAL: u32 = u32::MAX;

/// One candidate path.
#[derive(Debug, Clone)]
pub(crate) struct Path {
    /// Interned attributes.
    pub(crate) attrs: Arc<PathAttributes>,
    /// The peer slot it was learned from, or [`LOCAL`].
    pub(crate) src: u32,
    /// Kept from a session that went down gracefully (RFC 4724).
    pub(crate) stale: bool,
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
                if v.len() == 1 {
                    if let Some(last) = v.pop() {
                        *self = Paths::One(last);
                    }
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

/// What a table update did.
#[derive(Debug)]
pub(crate) struct Delta {
    /// The best path changed.
    pub(crate) best_changed: bool,
    /// When it changed: the previous best path (`None`: there was none).
    pub(crate) old: Option<BestKey>,
    /// When it changed: the new best path's source and attributes'
    /// address (`None`: no path left).
    pub(crate) now: Option<(u32, usize)>,
    /// The path of that source that was there before: `Some(its stale
    /// flag)`.
    pub(crate) previous: Option<bool>,
}

/// Set (`Some`) or remove (`None`) the path of `src` for `key`, reselect,
/// and report whether the best path changed. Reference counts are touched
/// only where ownership really moves (each atomic operation is a fence that
/// would serialize the cache misses of consecutive prefixes).
fn update<K: Hash + Eq>(
    map: &mut FastMap<K, Paths>,
    key: K,
    src: u32,
    new: Option<Path>,
    info: &dyn Fn(u32) -> (CandidateSource, u64),
) -> Delta {
    match map.entry(key) {
        Entry::Vacant(e) => {
            let now = new
                .as_ref()
                .map(|p| (p.src, Arc::as_ptr(&p.attrs) as usize));
            if let Some(p) = new {
                e.insert(Paths::One(p));
            }
            Delta {
                best_changed: now.is_some(),
                old: None,
                now,
                previous: None,
            }
        }
        Entry::Occupied(mut e) => {
            let paths = e.get_mut();
            let (old_src, old_ptr) = {
                let b = paths.best();
                (b.src, Arc::as_ptr(&b.attrs))
            };
            let previous = match new {
                Some(p) => paths.upsert(p),
                None => {
                    let (removed, empty) = paths.remove(src);
                    if empty {
                        e.remove();
                        let previous = removed.as_ref().map(|p| p.stale);
                        return Delta {
                            best_changed: true,
                            old: removed.map(|p| (p.src, p.attrs)),
                            now: None,
                            previous,
                        };
                    }
                    removed
                }
            };
            paths.reselect(info);
            let b = paths.best();
            let changed = b.src != old_src || Arc::as_ptr(&b.attrs) != old_ptr;
            let now = Some((b.src, Arc::as_ptr(&b.attrs) as usize));
            let stale = previous.as_ref().map(|p| p.stale);
            let old = if !changed {
                None
            } else {
                match previous {
                    // The replaced or removed path was the best: move it.
                    Some(p) if p.src == old_src && Arc::as_ptr(&p.attrs) == old_ptr => {
                        Some((p.src, p.attrs))
                    }
                    _ => paths.get(old_src).map(|p| (p.src, p.attrs.clone())),
                }
            };
            Delta {
                best_changed: changed,
                old,
                now,
                previous: stale,
            }
        }
    }
}

/// A map with separate IPv4 and IPv6 halves, addressed by `IpNet`.
#[derive(Debug)]
pub(crate) struct PrefixMap<V> {
    pub(crate) v4: FastMap<Ipv4Net, V>,
    pub(crate) v6: FastMap<Ipv6Net, V>,
}

impl<V> Default for PrefixMap<V> {
    fn default() -> Self {
        PrefixMap {
            v4: FastMap::default(),
            v6: FastMap::default(),
        }
    }
}

impl<V> PrefixMap<V> {
    /// The value for `p`.
    pub(crate) fn get(&self, p: &IpNet) -> Option<&V> {
        match p {
            IpNet::V4(n) => self.v4.get(n),
            IpNet::V6(n) => self.v6.get(n),
        }
    }

    /// Unless `p` already has a value, insert what `f` returns, if any.
    pub(crate) fn insert_with(&mut self, p: IpNet, f: impl FnOnce() -> Option<V>) {
        match p {
            IpNet::V4(n) => {
                if let Entry::Vacant(e) = self.v4.entry(n) {
                    if let Some(v) = f() {
                        e.insert(v);
                    }
                }
            }
            IpNet::V6(n) => {
                if let Entry::Vacant(e) = self.v6.entry(n) {
                    if let Some(v) = f() {
                        e.insert(v);
                    }
                }
            }
        }
    }

    /// Insert `f()` under `p` unless `p` already has a value.
    pub(crate) fn insert_if_absent(&mut self, p: IpNet, f: impl FnOnce() -> V) {
        self.insert_with(p, || Some(f()));
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Take everything out, leaving an empty map that holds no memory.
    pub(crate) fn take(&mut self) -> PrefixMap<V> {
        std::mem::take(self)
    }

    /// Every entry by value, IPv4 first. Iterating a map in its own order
    /// visits the table (same keys, same hasher) nearly sequentially.
    pub(crate) fn into_entries(self) -> impl Iterator<Item = (IpNet, V)> {
        self.v4
            .into_iter()
            .map(|(k, v)| (IpNet::V4(k), v))
            .chain(self.v6.into_iter().map(|(k, v)| (IpNet::V6(k), v)))
    }

    /// Every entry, IPv4 first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (IpNet, &V)> + '_ {
        self.v4
            .iter()
            .map(|(k, v)| (IpNet::V4(*k), v))
            .chain(self.v6.iter().map(|(k, v)| (IpNet::V6(*k), v)))
    }
}

/// The route table.
#[derive(Debug, Default)]
pub(crate) struct Table {
    pub(crate) map: PrefixMap<Paths>,
    /// Total number of paths (all prefixes).
    pub(crate) paths: usize,
}

impl Table {
    /// Set or remove the path of `src` for `prefix` (see [`update`]).
    pub(crate) fn update(
        &mut self,
        prefix: IpNet,
        src: u32,
        new: Option<Path>,
        info: &dyn Fn(u32) -> (CandidateSource, u64),
    ) -> Delta {
        let adding = new.is_some();
        let d = match prefix {
            IpNet::V4(n) => update(&mut self.map.v4, n, src, new, info),
            IpNet::V6(n) => update(&mut self.map.v6, n, src, new, info),
        };
        match (adding, d.previous.is_some()) {
            (true, false) => self.paths += 1,
            (false, true) => self.paths -= 1,
            _ => {}
        }
        d
    }

    /// The entry of `prefix`.
    pub(crate) fn get(&self, prefix: &IpNet) -> Option<&Paths> {
        self.map.get(prefix)
    }

    /// The best path's key for `prefix`.
    pub(crate) fn best_key(&self, prefix: &IpNet) -> Option<BestKey> {
        self.get(prefix).map(Paths::best_key)
    }

    /// Prefixes that have a path from `src` matching `pred`.
    pub(crate) fn prefixes_of(&self, src: u32, pred: impl Fn(&IpNet, &Path) -> bool) -> Vec<IpNet> {
        self.map
            .iter()
            .filter_map(|(n, ps)| ps.get(src).filter(|p| pred(&n, p)).map(|_| n))
            .collect()
    }

    /// Apply `f` to every path from `src`.
    pub(crate) fn for_each_path_mut(&mut self, src: u32, mut f: impl FnMut(&IpNet, &mut Path)) {
        for (n, ps) in self.map.v4.iter_mut() {
            let n = IpNet::V4(*n);
            for p in ps.paths_mut().iter_mut().filter(|p| p.src == src) {
                f(&n, p);
            }
        }
        for (n, ps) in self.map.v6.iter_mut() {
            let n = IpNet::V6(*n);
            for p in ps.paths_mut().iter_mut().filter(|p| p.src == src) {
                f(&n, p);
            }
        }
    }
}
