//! The writer-side state of one address family: the authoritative route set
//! plus the current shards, and the incremental rebuild between them.
//!
//! Routes live in a `BTreeMap` keyed by (network, length), whose order is
//! exactly the order [`Shard::build`] needs. A change marks the shards its
//! prefix overlaps dirty (one shard, or `2^(SHARD_BITS - len)` for a prefix
//! shorter than the shard bits); [`Family::rebuild`] rebuilds only those, and
//! the next snapshot shares every other shard with the previous one.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use super::poptrie::{Key, Route, Shard};

/// One family's routes (network key, length) -> group id, and its shards.
#[derive(Debug)]
pub(crate) struct Family<K: Key> {
    routes: BTreeMap<(K, u8), u32>,
    shards: Vec<Arc<Shard<K>>>,
    dirty: Vec<bool>,
    dirty_count: usize,
    /// Shared all-one-leaf shards, by leaf, so empty shards cost nothing.
    uniform: HashMap<u32, Arc<Shard<K>>>,
    scratch: Vec<Route<K>>,
}

impl<K: Key> Family<K> {
    pub(crate) fn new() -> Self {
        let empty = Arc::new(Shard::<K>::uniform(0));
        let n = 1usize << K::SHARD_BITS;
        Self {
            routes: BTreeMap::new(),
            shards: vec![Arc::clone(&empty); n],
            dirty: vec![false; n],
            dirty_count: 0,
            uniform: HashMap::from([(0, empty)]),
            scratch: Vec::new(),
        }
    }

    /// Sets the route for `key/len` (key already truncated); returns the
    /// group id it replaced.
    pub(crate) fn upsert(&mut self, key: K, len: u8, id: u32) -> Option<u32> {
        let old = self.routes.insert((key, len), id);
        if old != Some(id) {
            self.mark_dirty(key, len);
        }
        old
    }

    /// Removes the route for `key/len`; returns its group id.
    pub(crate) fn remove(&mut self, key: K, len: u8) -> Option<u32> {
        let old = self.routes.remove(&(key, len));
        if old.is_some() {
            self.mark_dirty(key, len);
        }
        old
    }

    /// The group id of exactly `key/len`.
    pub(crate) fn exact(&self, key: K, len: u8) -> Option<u32> {
        self.routes.get(&(key, len)).copied()
    }

    /// All routes in (key, length) order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (K, u8, u32)> + '_ {
        self.routes.iter().map(|(&(k, l), &id)| (k, l, id))
    }

    pub(crate) fn len(&self) -> usize {
        self.routes.len()
    }

    fn mark_dirty(&mut self, key: K, len: u8) {
        if self.dirty_count == self.dirty.len() {
            return;
        }
        let first = key.bits(0, K::SHARD_BITS);
        let span = 1usize << K::SHARD_BITS.saturating_sub(u32::from(len));
        for d in &mut self.dirty[first..first + span] {
            if !*d {
                *d = true;
                self.dirty_count += 1;
            }
        }
    }

    /// Rebuilds every dirty shard from the route set; returns how many.
    pub(crate) fn rebuild(&mut self) -> usize {
        let rebuilt = self.dirty_count;
        if rebuilt == 0 {
            return 0;
        }
        let top = K::SHARD_BITS as u8;
        for s in 0..self.shards.len() {
            if !std::mem::take(&mut self.dirty[s]) {
                continue;
            }
            let (start, end) = (K::shard_start(s), K::shard_end(s));
            let inherited = (0..=top)
                .rev()
                .find_map(|len| self.routes.get(&(start.truncate(len), len)))
                .copied()
                .unwrap_or(0);
            self.scratch.clear();
            self.scratch.extend(
                self.routes
                    .range((start, top + 1)..=(end, u8::MAX))
                    .map(|(&(k, l), &id)| (k, l, id)),
            );
            self.shards[s] = if self.scratch.is_empty() {
                let uniform = self
                    .uniform
                    .entry(inherited)
                    .or_insert_with(|| Arc::new(Shard::<K>::uniform(inherited)));
                Arc::clone(uniform)
            } else {
                Arc::new(Shard::build(&self.scratch, inherited))
            };
        }
        self.dirty_count = 0;
        // Forget shared uniform shards no shard uses any more.
        self.uniform
            .retain(|&leaf, s| leaf == 0 || Arc::strong_count(s) > 1);
        rebuilt
    }

    /// The shards for a new snapshot (call after [`Family::rebuild`]).
    pub(crate) fn publish(&self) -> Box<[Arc<Shard<K>>]> {
        self.shards.iter().map(Arc::clone).collect()
    }
}

/// Heap bytes of a published shard array, counting shared shards once.
pub(crate) fn shards_bytes<K: Key>(shards: &[Arc<Shard<K>>]) -> usize {
    let mut seen = HashSet::new();
    let unique: usize = shards
        .iter()
        .filter(|s| seen.insert(Arc::as_ptr(s)))
        .map(|s| {
            s.heap_bytes() + std::mem::size_of::<Shard<K>>() + 2 * std::mem::size_of::<usize>()
        })
        .sum();
    unique + std::mem::size_of_val(shards)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(shards: &[Arc<Shard<u32>>], key: u32) -> u32 {
        shards[key.bits(0, u32::SHARD_BITS)].lookup(key)
    }

    #[test]
    fn short_prefix_dirties_many_shards_and_rebuilds() {
        let mut f = Family::<u32>::new();
        f.upsert(0, 0, 1);
        assert_eq!(f.rebuild(), 256);
        f.upsert(0x0a00_0000, 8, 2);
        f.upsert(0x0a01_0200, 24, 3);
        assert_eq!(f.rebuild(), 1);
        f.upsert(0xc000_0000, 4, 4);
        assert_eq!(f.rebuild(), 16);
        let shards = f.publish();
        assert_eq!(lookup(&shards, 0x0b00_0000), 1);
        assert_eq!(lookup(&shards, 0x0a00_0000), 2);
        assert_eq!(lookup(&shards, 0x0a01_0205), 3);
        assert_eq!(lookup(&shards, 0xcfff_ffff), 4);
        assert_eq!(f.remove(0, 0), Some(1));
        assert_eq!(f.remove(0, 0), None);
        f.rebuild();
        let shards = f.publish();
        assert_eq!(lookup(&shards, 0x0b00_0000), 0);
        assert_eq!(lookup(&shards, 0xcfff_ffff), 4);
        // Uniform shards are shared: 256 shards but only three distinct.
        let distinct: HashSet<_> = shards.iter().map(Arc::as_ptr).collect();
        assert_eq!(distinct.len(), 3);
        assert!(shards_bytes(&shards) < 16 * 1024);
    }
}
