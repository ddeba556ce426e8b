//! The immutable Poptrie lookup structure for one address family, one shard
//! at a time.
//!
//! A key space of `K::WIDTH` bits is cut into `2^K::SHARD_BITS` shards by its
//! top bits. Each [`Shard`] is a Poptrie (Asai & Ohara, SIGCOMM 2015): a
//! direct-pointing array indexed by the next `K::DIRECT_BITS` bits, whose
//! entries are either a leaf (flagged with [`LEAF`]) or the index of a 64-ary
//! [`Node`]. A node consumes 6 key bits: its `vector` bitmap marks which of the
//! 64 slots continue into a child node, and its `leafvec` bitmap marks where a
//! new run of equal leaves starts (leaf compression); children and leaves are
//! stored contiguously and found by popcount. Leaves are next-hop-group ids
//! (0 = no route).
//!
//! Shards are built from a sorted slice of routes by [`Shard::build`] and never
//! mutated afterwards, so a snapshot can share every shard a change did not
//! touch with the previous snapshot.

use std::fmt::Debug;
use std::sync::Arc;

/// Flag bit of a direct-pointing entry that holds a leaf (a group id) rather
/// than a node index.
pub(crate) const LEAF: u32 = 1 << 31;

/// Bits consumed by one internal node.
const STRIDE: u32 = 6;

/// A left-aligned key (address) type: `u32` for IPv4, `u128` for IPv6.
pub(crate) trait Key: Copy + Ord + Debug + Send + Sync + 'static {
    /// Key width in bits.
    const WIDTH: u32;
    /// Top bits selecting the shard.
    const SHARD_BITS: u32;
    /// Bits after the shard bits resolved by a shard's direct-pointing array.
    const DIRECT_BITS: u32;

    /// Bits `[offset, offset + len)` counted from the most significant bit,
    /// zero-padded past the end of the key. Needs `offset < WIDTH` and
    /// `1 <= len <= 32`.
    fn bits(self, offset: u32, len: u32) -> usize;

    /// The key with only its first `len` bits kept.
    fn truncate(self, len: u8) -> Self;

    /// The first key of shard `shard`.
    fn shard_start(shard: usize) -> Self;

    /// The last key of shard `shard`.
    fn shard_end(shard: usize) -> Self;
}

impl Key for u32 {
    const WIDTH: u32 = 32;
    const SHARD_BITS: u32 = 8;
    const DIRECT_BITS: u32 = 10;

    #[inline(always)]
    fn bits(self, offset: u32, len: u32) -> usize {
        ((self << offset) >> (32 - len)) as usize
    }

    fn truncate(self, len: u8) -> Self {
        u32::MAX
            .checked_shl(Self::WIDTH - u32::from(len))
            .map_or(0, |mask| self & mask)
    }

    fn shard_start(shard: usize) -> Self {
        (shard as u32) << (32 - Self::SHARD_BITS)
    }

    fn shard_end(shard: usize) -> Self {
        Self::shard_start(shard) | (u32::MAX >> Self::SHARD_BITS)
    }
}

impl Key for u128 {
    const WIDTH: u32 = 128;
    const SHARD_BITS: u32 = 12;
    const DIRECT_BITS: u32 = 12;

    #[inline(always)]
    fn bits(self, offset: u32, len: u32) -> usize {
        ((self << offset) >> (128 - len)) as usize
    }

    fn truncate(self, len: u8) -> Self {
        u128::MAX
            .checked_shl(Self::WIDTH - u32::from(len))
            .map_or(0, |mask| self & mask)
    }

    fn shard_start(shard: usize) -> Self {
        (shard as u128) << (128 - Self::SHARD_BITS)
    }

    fn shard_end(shard: usize) -> Self {
        Self::shard_start(shard) | (u128::MAX >> Self::SHARD_BITS)
    }
}

/// One route as the builder sees it: (network key, prefix length, group id).
pub(crate) type Route<K> = (K, u8, u32);

/// A 64-ary Poptrie node (24 bytes).
#[derive(Debug, Clone, Copy, Default)]
#[repr(C)]
pub(crate) struct Node {
    /// Bit `v` set: slot `v` continues into a child node.
    vector: u64,
    /// Bit `v` set: slot `v` is a leaf that starts a new run of leaves.
    leafvec: u64,
    /// Index of this node's first leaf.
    base0: u32,
    /// Index of this node's first child.
    base1: u32,
}

/// One shard's Poptrie.
#[derive(Debug)]
pub(crate) struct Shard {
    direct: Box<[u32]>,
    nodes: Box<[Node]>,
    leaves: Box<[u32]>,
}

impl Shard {
    /// A shard with no route longer than the shard bits: every key maps to
    /// `leaf`.
    pub(crate) fn uniform<K: Key>(leaf: u32) -> Self {
        Self {
            direct: vec![leaf | LEAF; 1 << K::DIRECT_BITS].into_boxed_slice(),
            nodes: Box::new([]),
            leaves: Box::new([]),
        }
    }

    /// Builds the shard from `routes`: every route of the shard longer than
    /// `K::SHARD_BITS`, sorted by (key, length) as a `BTreeMap` yields them;
    /// `inherited` is the group of the longest shorter route covering the
    /// whole shard (0 if none).
    pub(crate) fn build<K: Key>(routes: &[Route<K>], inherited: u32) -> Self {
        let top = K::SHARD_BITS + K::DIRECT_BITS;
        let mut direct = vec![inherited | LEAF; 1 << K::DIRECT_BITS];
        // Sorted order puts a covering route before the routes nested in it,
        // so painting in order leaves the longest match in each slot.
        for &(key, len, id) in routes {
            let len = u32::from(len);
            if len <= top {
                let start = key.bits(K::SHARD_BITS, K::DIRECT_BITS);
                let count = 1usize << (top - len);
                direct[start..start + count].fill(id | LEAF);
            }
        }
        let mut b = Builder::default();
        let mut i = 0;
        while i < routes.len() {
            let (key, len, _) = routes[i];
            if u32::from(len) <= top {
                i += 1;
                continue;
            }
            let slot = key.bits(K::SHARD_BITS, K::DIRECT_BITS);
            let end = i + routes[i..]
                .partition_point(|r| r.0.bits(K::SHARD_BITS, K::DIRECT_BITS) <= slot);
            let root = b.nodes.len();
            b.nodes.push(Node::default());
            b.build_node(root, &routes[i..end], top, direct[slot] & !LEAF);
            direct[slot] = node_ref(root);
            i = end;
        }
        Self {
            direct: direct.into_boxed_slice(),
            nodes: b.nodes.into_boxed_slice(),
            leaves: b.leaves.into_boxed_slice(),
        }
    }

    /// The group id for `key` (0 = no route). `key` must belong to this shard.
    #[inline(always)]
    pub(crate) fn lookup<K: Key>(&self, key: K) -> u32 {
        let d = self.direct[key.bits(K::SHARD_BITS, K::DIRECT_BITS)];
        if d & LEAF != 0 {
            return d & !LEAF;
        }
        let mut node = &self.nodes[d as usize];
        let mut depth = K::SHARD_BITS + K::DIRECT_BITS;
        let mut v = key.bits(depth, STRIDE);
        loop {
            let bit = 1u64 << v;
            if node.vector & bit == 0 {
                break;
            }
            let child = node.base1 as usize + (node.vector & (bit - 1)).count_ones() as usize;
            node = &self.nodes[child];
            depth += STRIDE;
            v = key.bits(depth, STRIDE);
        }
        // Bits 0..=v of leafvec; slot v is a leaf so at least one is set.
        let run = (node.leafvec << (63 - v)).count_ones() as usize;
        self.leaves[node.base0 as usize + run - 1]
    }

    /// Resolves one lockstep round of a batch lane: `entry` is a node index,
    /// `depth` the bit it starts at. Returns the child node index, or the
    /// leaf flagged with [`LEAF`].
    #[inline(always)]
    fn step<K: Key>(&self, entry: u32, key: K, depth: u32) -> u32 {
        let node = &self.nodes[entry as usize];
        let v = key.bits(depth, STRIDE);
        let bit = 1u64 << v;
        if node.vector & bit != 0 {
            node.base1 + (node.vector & (bit - 1)).count_ones()
        } else {
            let run = (node.leafvec << (63 - v)).count_ones() as usize;
            self.leaves[node.base0 as usize + run - 1] | LEAF
        }
    }

    /// Heap bytes of this shard (excluding the `Arc` header).
    pub(crate) fn heap_bytes(&self) -> usize {
        std::mem::size_of_val::<[u32]>(&self.direct)
            + std::mem::size_of_val::<[Node]>(&self.nodes)
            + std::mem::size_of_val::<[u32]>(&self.leaves)
    }

    /// Number of internal nodes.
    #[cfg(test)]
    pub(crate) fn node_count(&self) -> usize {
        self.nodes.len()
    }
}

/// Lanes of a batch lookup: enough independent lookups in flight to overlap
/// their cache misses.
pub(crate) const LANES: usize = 16;

/// Group ids for `keys` (at most [`LANES`]) into `out`, walking all lanes
/// one trie level at a time so each round issues independent loads. Every
/// lane resolves its direct-pointing level first, so all unresolved lanes are
/// at the same depth in every round.
#[inline(always)]
pub(crate) fn lookup_lanes<K: Key>(shards: &[Arc<Shard>], keys: &[K], out: &mut [u32]) {
    let n = keys.len().min(out.len()).min(LANES);
    let mut shard: [&Shard; LANES] = [&shards[0]; LANES];
    let mut entry = [LEAF; LANES];
    for i in 0..n {
        shard[i] = &shards[keys[i].bits(0, K::SHARD_BITS)];
        entry[i] = shard[i].direct[keys[i].bits(K::SHARD_BITS, K::DIRECT_BITS)];
    }
    let mut depth = K::SHARD_BITS + K::DIRECT_BITS;
    while entry[..n].iter().any(|e| e & LEAF == 0) {
        for i in 0..n {
            if entry[i] & LEAF == 0 {
                entry[i] = shard[i].step(entry[i], keys[i], depth);
            }
        }
        depth += STRIDE;
    }
    for i in 0..n {
        out[i] = entry[i] & !LEAF;
    }
}

/// A direct-pointing entry that refers to node `index`.
fn node_ref(index: usize) -> u32 {
    let index = u32::try_from(index).unwrap_or(u32::MAX);
    assert!(index < LEAF, "a shard outgrew 2^31 nodes");
    index
}

#[derive(Default)]
struct Builder {
    nodes: Vec<Node>,
    leaves: Vec<u32>,
}

impl Builder {
    /// Fills node `idx` at bit `depth` from `routes` (all inside the node's
    /// range, sorted; routes of length <= `depth` are already folded into
    /// `inherited`).
    fn build_node<K: Key>(&mut self, idx: usize, routes: &[Route<K>], depth: u32, inherited: u32) {
        let mut slots = [inherited; 64];
        let mut vector = 0u64;
        for &(key, len, id) in routes {
            let len = u32::from(len);
            if len <= depth {
                continue;
            }
            let start = key.bits(depth, STRIDE);
            if len <= depth + STRIDE {
                let count = 1usize << (depth + STRIDE - len);
                slots[start..start + count].fill(id);
            } else {
                vector |= 1 << start;
            }
        }
        let base0 = u32::try_from(self.leaves.len()).unwrap_or(u32::MAX);
        let mut leafvec = 0u64;
        let mut prev = None;
        for (v, &leaf) in slots.iter().enumerate() {
            if vector & (1 << v) == 0 && prev != Some(leaf) {
                leafvec |= 1 << v;
                self.leaves.push(leaf);
                prev = Some(leaf);
            }
        }
        let base1 = self.nodes.len();
        self.nodes
            .resize(base1 + vector.count_ones() as usize, Node::default());
        self.nodes[idx] = Node {
            vector,
            leafvec,
            base0,
            base1: node_ref(base1),
        };
        // Children in slot order, each with the contiguous run of routes
        // under its slot (keys are sorted, so slot numbers never decrease).
        let mut child = base1;
        let mut i = 0;
        while i < routes.len() {
            let (key, len, _) = routes[i];
            if u32::from(len) <= depth + STRIDE {
                i += 1;
                continue;
            }
            let slot = key.bits(depth, STRIDE);
            let end = i + routes[i..].partition_point(|r| r.0.bits(depth, STRIDE) <= slot);
            self.build_node(child, &routes[i..end], depth + STRIDE, slots[slot]);
            child += 1;
            i = end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive<K: Key>(routes: &[Route<K>], inherited: u32, key: K) -> u32 {
        routes
            .iter()
            .filter(|r| key.truncate(r.1) == r.0)
            .max_by_key(|r| r.1)
            .map_or(inherited, |r| r.2)
    }

    #[test]
    fn truncate_edges() {
        assert_eq!(0xdead_beef_u32.truncate(0), 0);
        assert_eq!(0xdead_beef_u32.truncate(32), 0xdead_beef);
        assert_eq!(0xdead_beef_u32.truncate(8), 0xde00_0000);
        assert_eq!(u128::MAX.truncate(0), 0);
        assert_eq!(u128::MAX.truncate(128), u128::MAX);
        assert_eq!(u128::MAX.truncate(1), 1 << 127);
    }

    #[test]
    fn v4_shard_matches_naive() {
        let mut routes: Vec<Route<u32>> = vec![
            (0x0a00_0000, 9, 2),
            (0x0a01_0000, 16, 3),
            (0x0a01_0200, 24, 4),
            (0x0a01_0280, 25, 5),
            (0x0a01_0281, 32, 6),
            (0x0a01_02fc, 30, 7),
            (0x0aff_ff00, 24, 8),
        ];
        routes.sort();
        let shard = Shard::build(&routes, 1);
        assert!(shard.node_count() >= 3);
        let probes = [
            0x0a00_0001,
            0x0a01_0001,
            0x0a01_0201,
            0x0a01_0280,
            0x0a01_0281,
            0x0a01_0282,
            0x0a01_02fd,
            0x0a01_02ff,
            0x0a01_0300,
            0x0a80_0000,
            0x0aff_ff12,
            0x0aff_fe12,
        ];
        for key in probes {
            assert_eq!(shard.lookup(key), naive(&routes, 1, key), "{key:#x}");
        }
    }

    #[test]
    fn v6_host_route_at_last_level() {
        let base: u128 = 0x2001_0db8 << 96;
        let mut routes: Vec<Route<u128>> =
            vec![(base, 32, 2), (base | 0xff, 128, 3), (base | 0xfe, 127, 4)];
        routes.sort();
        let shard = Shard::build(&routes, 0);
        for key in [base, base | 0xff, base | 0xfe, base | 0xfc, base | 0x1_0000] {
            assert_eq!(shard.lookup(key), naive(&routes, 0, key), "{key:#x}");
        }
        assert_eq!(Shard::uniform::<u128>(9).lookup(base), 9);
    }
}
