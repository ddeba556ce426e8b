//! A hash map for millions of small entries: the entries live in one dense
//! `Vec`, the hash table holds only their `u32` positions.
//!
//! Why not `HashMap<Ipv4Net, TableEntry>`: hashbrown keeps its load factor
//! at or below 7/8 on power-of-two bucket counts, so a million entries take
//! 2^21 buckets of 32 bytes (64 MiB, 67 bytes per route), and growing from
//! 2^20 buckets holds the old and the new array at once (96 MiB at the peak).
//! Here the buckets are 4 bytes (8 MiB at 2^21) and the entries are packed
//! (32 MiB for a million IPv4 entries); a resize rehashes 4-byte slots,
//! and the entry `Vec` grows by `realloc`. The same layout as the
//! `indexmap` crate, minus its stored hashes and `usize` indices (16 bytes
//! per entry that we would pay a million times): a hash is recomputed
//! from the key when the table resizes, which for 5- or 17-byte prefixes is
//! one or three multiplications.
//!
//! Removal is `swap_remove`: the last entry moves into the hole and its
//! slot is repointed, so iteration order is arbitrary (as with any hash map).

use std::hash::{BuildHasher, Hash};

use hashbrown::HashTable;

use super::hash::FastState;

/// Maps up to this many entries of capacity never shrink.
const SHRINK_ABOVE: usize = 4096;

/// A map with entries in a dense `Vec` and `u32` indices in the table.
#[derive(Debug, Clone)]
pub(crate) struct DenseMap<K, V> {
    entries: Vec<(K, V)>,
    index: HashTable<u32>,
    state: FastState,
}

impl<K, V> Default for DenseMap<K, V> {
    fn default() -> Self {
        DenseMap {
            entries: Vec::new(),
            index: HashTable::new(),
            state: FastState::default(),
        }
    }
}

/// The result of [`DenseMap::entry`].
#[derive(Debug)]
pub(crate) enum DenseEntry<'a, K, V> {
    /// The key is present: its position and its value.
    Occupied(u32, &'a mut V),
    /// The key is absent.
    Vacant(VacantEntry<'a, K, V>),
}

/// An absent key, with its hash, ready to insert.
#[derive(Debug)]
pub(crate) struct VacantEntry<'a, K, V> {
    map: &'a mut DenseMap<K, V>,
    hash: u64,
    key: K,
}

impl<K: Hash + Eq, V> VacantEntry<'_, K, V> {
    /// The position the entry gets.
    pub(crate) fn index(&self) -> u32 {
        self.map.entries.len() as u32
    }

    /// Insert `value` under the key.
    pub(crate) fn insert(self, value: V) {
        let VacantEntry { map, hash, key } = self;
        map.push(hash, key, value);
    }
}

impl<K: Hash + Eq, V> DenseMap<K, V> {
    fn hash(&self, key: &K) -> u64 {
        self.state.hash_one(key)
    }

    fn find(&self, hash: u64, key: &K) -> Option<usize> {
        let entries = &self.entries;
        self.index
            .find(hash, |&i| entries[i as usize].0 == *key)
            .map(|&i| i as usize)
    }

    fn push(&mut self, hash: u64, key: K, value: V) {
        let i = u32::try_from(self.entries.len()).expect("fewer than 2^32 entries");
        self.entries.push((key, value));
        let DenseMap {
            entries,
            index,
            state,
        } = self;
        index.insert_unique(hash, i, |&j| state.hash_one(&entries[j as usize].0));
    }

    /// The value for `key`.
    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        let i = self.find(self.hash(key), key)?;
        Some(&self.entries[i].1)
    }

    /// The value for `key` if it is at position `i` (where an entry was
    /// put: positions change only by removals), else looked up.
    pub(crate) fn get_at(&self, i: u32, key: &K) -> Option<&V> {
        match self.entries.get(i as usize) {
            Some((k, v)) if k == key => Some(v),
            _ => self.get(key),
        }
    }

    /// The value for `key`, mutable, with its position.
    pub(crate) fn get_mut_indexed(&mut self, key: &K) -> Option<(u32, &mut V)> {
        let i = self.find(self.hash(key), key)?;
        Some((i as u32, &mut self.entries[i].1))
    }

    /// The value for `key`, mutable.
    pub(crate) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let i = self.find(self.hash(key), key)?;
        Some(&mut self.entries[i].1)
    }

    /// The entry for `key`: one hash computation for lookup and insert.
    pub(crate) fn entry(&mut self, key: K) -> DenseEntry<'_, K, V> {
        let hash = self.hash(&key);
        match self.find(hash, &key) {
            Some(i) => DenseEntry::Occupied(i as u32, &mut self.entries[i].1),
            None => DenseEntry::Vacant(VacantEntry {
                map: self,
                hash,
                key,
            }),
        }
    }

    /// Insert, returning the previous value.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.entry(key) {
            DenseEntry::Occupied(_, v) => Some(std::mem::replace(v, value)),
            DenseEntry::Vacant(e) => {
                e.insert(value);
                None
            }
        }
    }

    /// Remove, returning the value.
    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        let hash = self.hash(key);
        let entries = &self.entries;
        let slot = self
            .index
            .find_entry(hash, |&i| entries[i as usize].0 == *key)
            .ok()?;
        let (i, _) = slot.remove();
        let i = i as usize;
        let (_, value) = self.entries.swap_remove(i);
        if i < self.entries.len() {
            // The former last entry moved to `i`: repoint its slot.
            let last = self.entries.len() as u32;
            let moved = self.hash(&self.entries[i].0);
            if let Some(s) = self.index.find_mut(moved, |&j| j == last) {
                *s = i as u32;
            }
        }
        self.maybe_shrink();
        Some(value)
    }

    /// Gives memory back once at most a quarter of it is used (a peer
    /// with a full table went away): both arrays shrink to twice what is
    /// left, so that alternating inserts and removals do not resize back
    /// and forth.
    fn maybe_shrink(&mut self) {
        let cap = self.entries.capacity();
        if cap <= SHRINK_ABOVE || self.entries.len() > cap / 4 {
            return;
        }
        let keep = self.entries.len() * 2;
        self.entries.shrink_to(keep);
        let DenseMap {
            entries,
            index,
            state,
        } = self;
        index.shrink_to(keep, |&j| state.hash_one(&entries[j as usize].0));
    }

    /// Keep the entries for which `keep` returns true.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        let before = self.entries.len();
        self.entries.retain_mut(|(k, v)| keep(k, v));
        if self.entries.len() == before {
            return;
        }
        // Positions shifted: rebuild the index (retain is O(n) anyway).
        self.index.clear();
        let DenseMap {
            entries,
            index,
            state,
        } = self;
        for (i, (k, _)) in entries.iter().enumerate() {
            index.insert_unique(state.hash_one(k), i as u32, |&j| {
                state.hash_one(&entries[j as usize].0)
            });
        }
        self.maybe_shrink();
    }
}

impl<K, V> DenseMap<K, V> {
    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every entry, in storage order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> + '_ {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// Every entry, values mutable.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> + '_ {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u16, u32),
        Remove(u16),
        RetainEven,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0u16..300, any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            3 => (0u16..300).prop_map(Op::Remove),
            1 => Just(Op::RetainEven),
        ]
    }

    proptest! {
        /// Any sequence of operations leaves the same contents as std's map.
        #[test]
        fn behaves_like_hashmap(ops in proptest::collection::vec(op(), 0..400)) {
            let mut ours = DenseMap::<u16, u32>::default();
            let mut std = HashMap::<u16, u32>::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => prop_assert_eq!(ours.insert(k, v), std.insert(k, v)),
                    Op::Remove(k) => prop_assert_eq!(ours.remove(&k), std.remove(&k)),
                    Op::RetainEven => {
                        ours.retain(|_, v| *v % 2 == 0);
                        std.retain(|_, v| *v % 2 == 0);
                    }
                }
                prop_assert_eq!(ours.len(), std.len());
            }
            for (k, v) in &std {
                prop_assert_eq!(ours.get(k), Some(v));
            }
            let mut got: Vec<_> = ours.iter().map(|(k, v)| (*k, *v)).collect();
            let mut want: Vec<_> = std.into_iter().collect();
            got.sort_unstable();
            want.sort_unstable();
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn entry_inserts_once_and_get_mut_updates() {
        let mut m = DenseMap::<u32, u32>::default();
        match m.entry(7) {
            DenseEntry::Vacant(e) => e.insert(1),
            DenseEntry::Occupied(..) => panic!("empty map has no entry"),
        }
        match m.entry(7) {
            DenseEntry::Occupied(i, v) => {
                assert_eq!(i, 0);
                *v += 1
            }
            DenseEntry::Vacant(_) => panic!("inserted above"),
        }
        *m.get_mut(&7).expect("present") += 1;
        assert_eq!(m.get(&7), Some(&3));
        assert_eq!(m.get_at(0, &7), Some(&3));
        assert_eq!(
            m.get_at(5, &7),
            Some(&3),
            "a wrong position falls back to the lookup"
        );
        assert_eq!(m.get_at(0, &8), None);
        assert_eq!(m.len(), 1);
        assert!(m.get_mut(&8).is_none());
    }

    #[test]
    fn a_map_emptied_to_a_quarter_gives_memory_back_and_keeps_the_rest() {
        let mut m = DenseMap::<u32, u32>::default();
        for k in 0..20_000 {
            m.insert(k, k * 2);
        }
        let full = m.entries.capacity();
        for k in 0..18_000 {
            assert_eq!(m.remove(&k), Some(k * 2));
        }
        assert!(
            m.entries.capacity() < full / 2,
            "{} of {full}",
            m.entries.capacity()
        );
        for k in 18_000..20_000 {
            assert_eq!(m.get(&k), Some(&(k * 2)));
        }
        m.retain(|k, _| k % 2 == 0);
        assert_eq!(m.len(), 1000);
        assert!(
            (18_000..20_000)
                .step_by(2)
                .all(|k| m.get(&k) == Some(&(k * 2)))
        );
        assert!(m.get(&18_001).is_none());
    }
}
