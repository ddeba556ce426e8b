//! The immutable Poptrie lookup structure for one address family, one shard
//! at a time.
//!
//! A key space of `K::WIDTH` bits is cut into `2^K::SHARD_BITS` shards by its
//! top bits. Each [`Shard`] is a Poptrie (Asai & Ohara, SIGCOMM 2015): a
//! direct-pointing array indexed by the next `K::DIRECT_BITS` bits, whose
//! entries are either a leaf (flagged with [`LEAF`]) or the index of a 64-ary
//! node. A node consumes 6 key bits: its `vector` bitmap marks which of the
//! 64 slots continue into a child node, and its `leafvec` bitmap marks where a
//! new run of equal leaves starts (leaf compression); children are stored
//! contiguously and found by popcount. Leaves are next-hop-group ids
//! (0 = no route).
//!
//! Unlike the paper's layout (leaves in a separate array), a node carries its
//! leaves inline as 16-bit ids ([`Node`]): an IPv4 node is one 64-byte cache
//! line with room for 20 leaf runs, an IPv6 node half a line with 4, so a
//! lookup that ends in a node costs one cache miss for that node instead of
//! two (node, then leaf). On the 1M-route DFZ-shaped bench table 141 of 237k
//! IPv4 nodes have more runs than that (or ids of 2^16 - 1 and up); those
//! keep their leaves in the shard's leaf array, marked [`SPILLED`] inline.
//!
//! The hot functions are compiled twice: portable, and with POPCNT and
//! BMI1/2 enabled (module `x86`), chosen at run time through [`Cpu`]; the
//! baseline x86-64 target has no POPCNT instruction, and emulating it costs a
//! dozen instructions per trie level.
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
    /// This family's node layout (how many leaves it carries inline).
    type Node: Node;

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
    type Node = Node64;

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
    type Node = Node32;

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

/// Inline leaf value meaning "this leaf is in the shard's leaf array".
const SPILLED: u16 = u16::MAX;

/// A 64-ary Poptrie node that carries up to [`Node::INLINE`] leaves as
/// 16-bit group ids, so that a lookup ending in this node reads its leaf from
/// the cache line it already loaded for the bitmaps. A node with more leaf
/// runs than that, or with a group id of [`SPILLED`] or more, stores all its
/// leaves in the shard's leaf array at `base0` and marks the inline slots it
/// cannot use [`SPILLED`].
pub(crate) trait Node: Copy + Debug + Send + Sync + 'static {
    /// Leaves stored in the node itself.
    const INLINE: usize;
    /// A node with the given bitmaps, bases and (up to `INLINE`) leaves.
    fn new(vector: u64, leafvec: u64, base0: u32, base1: u32, leaves: &[u16]) -> Self;
    /// Bit `v` set: slot `v` continues into a child node.
    fn vector(&self) -> u64;
    /// Bit `v` set: slot `v` is a leaf that starts a new run of leaves.
    fn leafvec(&self) -> u64;
    /// Index in the shard's leaf array of this node's first leaf, if it
    /// spilled.
    fn base0(&self) -> u32;
    /// Index of this node's first child.
    fn base1(&self) -> u32;
    /// The inline leaves (unused tail slots are 0).
    fn inline(&self) -> &[u16];
}

macro_rules! node_type {
    ($(#[$doc:meta])* $name:ident, $size:literal, $inline:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        #[repr(C, align($size))]
        pub(crate) struct $name {
            vector: u64,
            leafvec: u64,
            base0: u32,
            base1: u32,
            leaves: [u16; $inline],
        }

        const _: () = assert!(std::mem::size_of::<$name>() == $size);

        impl Node for $name {
            const INLINE: usize = $inline;

            fn new(vector: u64, leafvec: u64, base0: u32, base1: u32, leaves: &[u16]) -> Self {
                let mut inline = [0; $inline];
                inline[..leaves.len()].copy_from_slice(leaves);
                Self {
                    vector,
                    leafvec,
                    base0,
                    base1,
                    leaves: inline,
                }
            }

            #[inline(always)]
            fn vector(&self) -> u64 {
                self.vector
            }

            #[inline(always)]
            fn leafvec(&self) -> u64 {
                self.leafvec
            }

            #[inline(always)]
            fn base0(&self) -> u32 {
                self.base0
            }

            #[inline(always)]
            fn base1(&self) -> u32 {
                self.base1
            }

            #[inline(always)]
            fn inline(&self) -> &[u16] {
                &self.leaves
            }
        }
    };
}

node_type!(
    /// IPv4 node: one 64-byte cache line with 20 inline leaves, enough for
    /// nearly every node under the direct-pointing level of a DFZ table.
    Node64,
    64,
    20
);

node_type!(
    /// IPv6 node: half a cache line with 4 inline leaves; IPv6 tables are
    /// mostly sparse chains of nodes with one child and a few leaf runs.
    Node32,
    32,
    4
);

fn empty_node<N: Node>() -> N {
    N::new(0, 0, 0, 0, &[])
}

/// One shard's Poptrie.
#[derive(Debug)]
pub(crate) struct Shard<K: Key> {
    direct: Box<[u32]>,
    nodes: Box<[K::Node]>,
    leaves: Box<[u32]>,
}

impl<K: Key> Shard<K> {
    /// A shard with no route longer than the shard bits: every key maps to
    /// `leaf`.
    pub(crate) fn uniform(leaf: u32) -> Self {
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
    pub(crate) fn build(routes: &[Route<K>], inherited: u32) -> Self {
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
        let mut b = Builder::<K::Node>::default();
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
            b.nodes.push(empty_node());
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

    /// The direct-pointing entry for `key`: a leaf flagged with [`LEAF`], or
    /// the index of the node to continue at bit `SHARD_BITS + DIRECT_BITS`.
    #[inline(always)]
    fn direct(&self, key: K) -> &u32 {
        &self.direct[key.bits(K::SHARD_BITS, K::DIRECT_BITS)]
    }

    /// The group id for `key` (0 = no route). `key` must belong to this shard.
    #[inline(always)]
    pub(crate) fn lookup(&self, key: K) -> u32 {
        let d = *self.direct(key);
        if d & LEAF != 0 {
            return d & !LEAF;
        }
        let mut node = &self.nodes[d as usize];
        let mut depth = K::SHARD_BITS + K::DIRECT_BITS;
        loop {
            let v = key.bits(depth, STRIDE);
            let vector = node.vector();
            let bit = 1u64 << v;
            if vector & bit == 0 {
                return self.leaf(node, v);
            }
            node = &self.nodes[node.base1() as usize + (vector & (bit - 1)).count_ones() as usize];
            depth += STRIDE;
        }
    }

    /// The leaf in slot `v` of `node` (a slot whose `vector` bit is clear).
    #[inline(always)]
    fn leaf(&self, node: &K::Node, v: usize) -> u32 {
        // Bits 0..=v of leafvec; slot v is a leaf so at least one is set.
        let run = (node.leafvec() << (63 - v)).count_ones() as usize - 1;
        match node.inline().get(run) {
            Some(&leaf) if leaf != SPILLED => u32::from(leaf),
            _ => self.leaves[node.base0() as usize + run],
        }
    }

    /// Resolves one lockstep round of a batch lane: `entry` is a node index,
    /// `depth` the bit it starts at. Returns the child node index, or the
    /// leaf flagged with [`LEAF`].
    #[inline(always)]
    fn step(&self, entry: u32, key: K, depth: u32) -> u32 {
        let node = &self.nodes[entry as usize];
        let v = key.bits(depth, STRIDE);
        let vector = node.vector();
        let bit = 1u64 << v;
        if vector & bit != 0 {
            node.base1() + (vector & (bit - 1)).count_ones()
        } else {
            self.leaf(node, v) | LEAF
        }
    }

    /// Hints the CPU to fetch node `entry` (if it is one) into the cache.
    #[inline(always)]
    fn prefetch_node(&self, entry: u32) {
        if let Some(node) = self.nodes.get(entry as usize) {
            prefetch(node);
        }
    }

    /// Heap bytes of this shard (excluding the `Arc` header).
    pub(crate) fn heap_bytes(&self) -> usize {
        std::mem::size_of_val::<[u32]>(&self.direct)
            + std::mem::size_of_val::<[K::Node]>(&self.nodes)
            + std::mem::size_of_val::<[u32]>(&self.leaves)
    }

    /// Number of internal nodes.
    #[cfg(test)]
    pub(crate) fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Number of leaves that did not fit inline.
    #[cfg(test)]
    pub(crate) fn overflow_leaves(&self) -> usize {
        self.leaves.len()
    }
}

/// Hints the CPU to bring the cache line holding `value` into L1.
#[inline(always)]
fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: SSE is part of the x86-64 baseline, and a prefetch never
        // faults or changes memory; `value` is a valid reference anyway.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(value).cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// Which lookup code the CPU can run, detected at run time: on x86-64 with
/// POPCNT and BMI1/2, popcounts are one instruction (the baseline x86-64
/// target has no POPCNT and emulates it with a dozen) and variable shifts
/// are single uops. Only [`Cpu::detect`] makes one, so holding a `Cpu` with
/// `fast` set proves the features are present.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cpu {
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    fast: bool,
}

impl Cpu {
    /// Detects the CPU's features.
    pub(crate) fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        let fast = std::arch::is_x86_feature_detected!("popcnt")
            && std::arch::is_x86_feature_detected!("bmi1")
            && std::arch::is_x86_feature_detected!("bmi2");
        #[cfg(not(target_arch = "x86_64"))]
        let fast = false;
        Self { fast }
    }
}

/// The group id for `key` in a family's `shards` (0 = no route).
#[inline(always)]
pub(crate) fn lookup<K: Key>(cpu: Cpu, shards: &[Arc<Shard<K>>], key: K) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if cpu.fast {
        // SAFETY: `cpu.fast` is only set by `Cpu::detect` after finding the
        // features `x86::lookup` is compiled for.
        return unsafe { x86::lookup(shards, key) };
    }
    let _ = cpu;
    lookup_portable(shards, key)
}

#[inline(always)]
fn lookup_portable<K: Key>(shards: &[Arc<Shard<K>>], key: K) -> u32 {
    shards[key.bits(0, K::SHARD_BITS)].lookup(key)
}

/// Lanes of a batch lookup: enough independent lookups in flight to overlap
/// their cache misses.
pub(crate) const LANES: usize = 32;

/// Group ids for `keys` (at most [`LANES`]) into `out`; see
/// [`lookup_lanes_portable`].
#[inline(always)]
pub(crate) fn lookup_lanes<K: Key>(
    cpu: Cpu,
    shards: &[Arc<Shard<K>>],
    keys: &[K],
    out: &mut [u32],
) {
    #[cfg(target_arch = "x86_64")]
    if cpu.fast {
        // SAFETY: as in `lookup`.
        return unsafe { x86::lookup_lanes(shards, keys, out) };
    }
    let _ = cpu;
    lookup_lanes_portable(shards, keys, out);
}

/// Group ids for `keys` (at most [`LANES`]) into `out`, walking all lanes
/// one trie level at a time so each round issues independent loads, and
/// prefetching every lane's next line before any lane reads its own. Every
/// lane resolves its direct-pointing level first, so all unresolved lanes are
/// at the same depth in every round.
#[inline(always)]
fn lookup_lanes_portable<K: Key>(shards: &[Arc<Shard<K>>], keys: &[K], out: &mut [u32]) {
    let n = keys.len().min(out.len()).min(LANES);
    let mut shard: [&Shard<K>; LANES] = [&shards[0]; LANES];
    let mut entry = [LEAF; LANES];
    for i in 0..n {
        shard[i] = &shards[keys[i].bits(0, K::SHARD_BITS)];
        prefetch(shard[i].direct(keys[i]));
    }
    for i in 0..n {
        entry[i] = *shard[i].direct(keys[i]);
        shard[i].prefetch_node(entry[i]);
    }
    let mut depth = K::SHARD_BITS + K::DIRECT_BITS;
    loop {
        let mut pending = false;
        for i in 0..n {
            if entry[i] & LEAF == 0 {
                entry[i] = shard[i].step(entry[i], keys[i], depth);
                shard[i].prefetch_node(entry[i]);
                pending |= entry[i] & LEAF == 0;
            }
        }
        if !pending {
            break;
        }
        depth += STRIDE;
    }
    for i in 0..n {
        out[i] = entry[i] & !LEAF;
    }
}

/// The lookups compiled with POPCNT and BMI1/2 enabled: the same code as the
/// portable versions, inlined into functions with the target features on.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Arc, Key, Shard};

    /// # Safety
    /// The CPU must support POPCNT, BMI1 and BMI2.
    #[target_feature(enable = "popcnt,bmi1,bmi2")]
    pub(super) unsafe fn lookup<K: Key>(shards: &[Arc<Shard<K>>], key: K) -> u32 {
        super::lookup_portable(shards, key)
    }

    /// # Safety
    /// The CPU must support POPCNT, BMI1 and BMI2.
    #[target_feature(enable = "popcnt,bmi1,bmi2")]
    pub(super) unsafe fn lookup_lanes<K: Key>(
        shards: &[Arc<Shard<K>>],
        keys: &[K],
        out: &mut [u32],
    ) {
        super::lookup_lanes_portable(shards, keys, out);
    }
}

/// A direct-pointing entry that refers to node `index`.
fn node_ref(index: usize) -> u32 {
    let index = u32::try_from(index).unwrap_or(u32::MAX);
    assert!(index < LEAF, "a shard outgrew 2^31 nodes");
    index
}

struct Builder<N> {
    nodes: Vec<N>,
    leaves: Vec<u32>,
}

impl<N> Default for Builder<N> {
    fn default() -> Self {
        Self {
            nodes: Vec::new(),
            leaves: Vec::new(),
        }
    }
}

impl<N: Node> Builder<N> {
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
        let mut leaves = [0u32; 64];
        let mut count = 0;
        let mut leafvec = 0u64;
        let mut prev = None;
        for (v, &leaf) in slots.iter().enumerate() {
            if vector & (1 << v) == 0 && prev != Some(leaf) {
                leafvec |= 1 << v;
                leaves[count] = leaf;
                count += 1;
                prev = Some(leaf);
            }
        }
        let leaves = &leaves[..count];
        let spill = count > N::INLINE || leaves.iter().any(|&l| l >= u32::from(SPILLED));
        let mut inline = [0u16; 64];
        for (narrow, &leaf) in inline.iter_mut().zip(leaves) {
            *narrow = u16::try_from(leaf).unwrap_or(SPILLED);
        }
        let inline = &inline[..count.min(N::INLINE)];
        let base0 = u32::try_from(self.leaves.len()).unwrap_or(u32::MAX);
        if spill {
            self.leaves.extend_from_slice(leaves);
        }
        let base1 = self.nodes.len();
        self.nodes
            .resize(base1 + vector.count_ones() as usize, empty_node());
        self.nodes[idx] = N::new(vector, leafvec, base0, node_ref(base1), inline);
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
    fn spilled_leaves_match_naive() {
        // 0a00:0000/18: 64 /24s alternating between two groups, far more leaf
        // runs than fit inline. 0a01:0000/18: few runs but group ids that do
        // not fit 16 bits (and the SPILLED marker value itself).
        let mut routes: Vec<Route<u32>> = (0..64u32)
            .map(|k| (0x0a00_0000 | (k << 8), 24, 2 + k % 2))
            .collect();
        routes.push((0x0a01_0000, 24, u32::from(SPILLED)));
        routes.push((0x0a01_0100, 24, 0x1_0000));
        routes.push((0x0a01_0200, 26, 0x7fff_ffff));
        routes.push((0x0a01_0300, 24, 9));
        routes.sort();
        let shard = Shard::<u32>::build(&routes, 1);
        assert!(
            shard.overflow_leaves() >= 64 + 3,
            "{}",
            shard.overflow_leaves()
        );
        for key in (0x0a00_0000..0x0a02_0000u32).step_by(0x40) {
            assert_eq!(shard.lookup(key), naive(&routes, 1, key), "{key:#x}");
        }
    }

    #[test]
    fn lanes_match_single_lookups_on_both_code_paths() {
        let mut routes: Vec<Route<u32>> = Vec::new();
        let mut x = 0x9e37_79b9_u32;
        for i in 0..2000u32 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let len = [19, 22, 24, 24, 24, 27, 32][i as usize % 7];
            routes.push(((x & 0x00ff_ffff).truncate(len), len, i % 70_000 + 1));
        }
        routes.sort();
        routes.dedup_by_key(|r| (r.0, r.1));
        let shards = vec![Arc::new(Shard::<u32>::build(&routes, 0))];
        let keys: Vec<u32> = routes
            .iter()
            .map(|r| r.0 | 0x55)
            .chain((0..500u32).map(|k| k.wrapping_mul(0x0001_3579) & 0x00ff_ffff))
            .collect();
        for cpu in [Cpu { fast: false }, Cpu::detect()] {
            for chunk in keys.chunks(LANES - 3) {
                let mut out = [u32::MAX; LANES];
                lookup_lanes(cpu, &shards, chunk, &mut out);
                for (&key, &id) in chunk.iter().zip(&out) {
                    assert_eq!(id, lookup(cpu, &shards, key), "{key:#x}");
                    assert_eq!(id, naive(&routes, 0, key), "{key:#x}");
                }
            }
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
        assert_eq!(Shard::<u128>::uniform(9).lookup(base), 9);
    }
}
