//! A map keyed by prefix, with separate IPv4 and IPv6 halves (compact
//! keys: `Ipv4Net` is 5 bytes), addressed by `IpNet`; each half is a
//! [`DenseMap`] (entries packed, 4-byte hash slots).

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::dense_map::DenseMap;

/// A map with separate IPv4 and IPv6 halves, addressed by `IpNet`.
#[derive(Debug)]
pub(crate) struct PrefixMap<V> {
    pub(crate) v4: DenseMap<Ipv4Net, V>,
    pub(crate) v6: DenseMap<Ipv6Net, V>,
}

impl<V> Default for PrefixMap<V> {
    fn default() -> Self {
        PrefixMap {
            v4: DenseMap::default(),
            v6: DenseMap::default(),
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

    /// The value for `p`, tried at position `i` first (see
    /// [`DenseMap::get_at`]).
    pub(crate) fn get_at(&self, p: &IpNet, i: u32) -> Option<&V> {
        match p {
            IpNet::V4(n) => self.v4.get_at(i, n),
            IpNet::V6(n) => self.v6.get_at(i, n),
        }
    }

    /// Insert, returning the previous value.
    pub(crate) fn insert(&mut self, p: IpNet, v: V) -> Option<V> {
        match p {
            IpNet::V4(n) => self.v4.insert(n, v),
            IpNet::V6(n) => self.v6.insert(n, v),
        }
    }

    /// Remove, returning the value.
    pub(crate) fn remove(&mut self, p: &IpNet) -> Option<V> {
        match p {
            IpNet::V4(n) => self.v4.remove(n),
            IpNet::V6(n) => self.v6.remove(n),
        }
    }

    /// Whether there are no entries.
    pub(crate) fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Every entry, IPv4 first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (IpNet, &V)> + '_ {
        self.v4
            .iter()
            .map(|(k, v)| (IpNet::V4(*k), v))
            .chain(self.v6.iter().map(|(k, v)| (IpNet::V6(*k), v)))
    }
}
