//! A peer's ADD-PATH Path Identifiers (RFC 7911) and the path indexes the
//! table keys its paths by.
//!
//! A path in the table is keyed by its source: the peer slot and a one-byte
//! index among that peer's paths of the prefix ([`super::loc_rib::src_of`]).
//! The 32-bit Path Identifier is the peer's to choose, and a speaker such
//! as FRR allocates them from one pool for its whole table, so they are
//! mapped per (prefix, identifier) here rather than per identifier: the
//! lowest index that peer does not use for the prefix. Only a peer that
//! sends Path Identifiers has entries; without ADD-PATH every path has
//! index 0 and nothing is stored.

use ipnet::IpNet;

use super::hash::FastMap;

/// The map of one peer.
#[derive(Debug, Default)]
pub(crate) struct PathIds {
    by_id: FastMap<(IpNet, u32), u8>,
    by_index: FastMap<(IpNet, u8), u32>,
}

impl PathIds {
    /// The index of `prefix`'s path with identifier `id`, if it has one.
    pub(crate) fn index(&self, prefix: IpNet, id: u32) -> Option<u8> {
        self.by_id.get(&(prefix, id)).copied()
    }

    /// The index of `prefix`'s path `id`, given one if new: the lowest
    /// index not in use for the prefix. `None` when all 256 are (at most
    /// 256 paths per prefix from one peer; the caller ignores the rest).
    pub(crate) fn assign(&mut self, prefix: IpNet, id: u32) -> Option<u8> {
        if let Some(i) = self.index(prefix, id) {
            return Some(i);
        }
        let free = (0..=u8::MAX).find(|i| !self.by_index.contains_key(&(prefix, *i)))?;
        self.by_id.insert((prefix, id), free);
        self.by_index.insert((prefix, free), id);
        Some(free)
    }

    /// The identifier of `prefix`'s path `index` (0 when it has none: a
    /// path without ADD-PATH).
    pub(crate) fn id_of(&self, prefix: IpNet, index: u8) -> u32 {
        if self.by_index.is_empty() {
            return 0;
        }
        self.by_index.get(&(prefix, index)).copied().unwrap_or(0)
    }

    /// Forget `prefix`'s path `index` (it left the table).
    pub(crate) fn release(&mut self, prefix: IpNet, index: u8) {
        if self.by_index.is_empty() {
            return;
        }
        if let Some(id) = self.by_index.remove(&(prefix, index)) {
            self.by_id.remove(&(prefix, id));
        }
    }

    /// Forget everything (the peer's paths are all gone).
    pub(crate) fn clear(&mut self) {
        self.by_id = FastMap::default();
        self.by_index = FastMap::default();
    }

    /// Whether no identifier is mapped.
    pub(crate) fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().expect("prefix")
    }

    #[test]
    fn identifiers_get_the_lowest_free_index_per_prefix() {
        let mut m = PathIds::default();
        let (a, b) = (net("10.0.0.0/24"), net("10.0.1.0/24"));
        assert_eq!(m.assign(a, 700), Some(0));
        assert_eq!(m.assign(a, 3), Some(1));
        assert_eq!(m.assign(a, 700), Some(0), "known identifier, same index");
        assert_eq!(m.assign(b, 3), Some(0), "indexes are per prefix");
        assert_eq!(m.id_of(a, 1), 3);
        m.release(a, 0);
        assert_eq!(m.index(a, 700), None);
        assert_eq!(m.assign(a, 9), Some(0), "a released index is reused");
        assert_eq!(m.id_of(a, 0), 9);
        m.clear();
        assert!(m.is_empty());
        assert_eq!(m.id_of(b, 0), 0);
    }

    #[test]
    fn at_most_256_paths_per_prefix() {
        let mut m = PathIds::default();
        let a = net("2001:db8::/48");
        for id in 0..256 {
            assert!(m.assign(a, id * 7).is_some());
        }
        assert_eq!(m.assign(a, 1), None);
        assert_eq!(m.assign(net("2001:db8:1::/48"), 1), Some(0));
    }
}
