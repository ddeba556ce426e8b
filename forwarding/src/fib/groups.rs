//! The writer-side interning table of next-hop groups.
//!
//! Every distinct [`NextHopGroup`] gets a small `u32` id (0 is reserved for
//! "no route"); the lookup structure stores only ids. Groups are refcounted by
//! the number of routes using them, and an id whose count drops to zero is
//! freed and reused. Readers never see this table: each snapshot carries an
//! immutable copy ([`GroupTable::publish`]), so reusing an id can never change
//! what an older snapshot resolves to.

use std::collections::HashMap;
use std::sync::Arc;

use super::nexthop::NextHopGroup;

/// Largest group id: ids share a `u32` with the trie's leaf flag bit.
pub(crate) const MAX_GROUP_ID: u32 = (1 << 31) - 1;

/// What readers see: group id -> group (`None` for free ids and id 0).
pub(crate) type PublishedGroups = Arc<[Option<Arc<NextHopGroup>>]>;

#[derive(Debug)]
struct Slot {
    group: Arc<NextHopGroup>,
    refs: u64,
}

/// Interned, refcounted next-hop groups.
#[derive(Debug)]
pub(crate) struct GroupTable {
    slots: Vec<Option<Slot>>,
    ids: HashMap<Arc<NextHopGroup>, u32>,
    free: Vec<u32>,
    changed: bool,
    published: PublishedGroups,
}

impl GroupTable {
    pub(crate) fn new() -> Self {
        Self {
            slots: vec![None],
            ids: HashMap::new(),
            free: Vec::new(),
            changed: false,
            published: Arc::from(vec![None]),
        }
    }

    /// Take one reference on `group`, interning it if new; returns its id.
    pub(crate) fn acquire(&mut self, group: NextHopGroup) -> u32 {
        if let Some(&id) = self.ids.get(&group) {
            if let Some(slot) = &mut self.slots[id as usize] {
                slot.refs += 1;
            }
            return id;
        }
        let group = Arc::new(group);
        let slot = Some(Slot {
            group: Arc::clone(&group),
            refs: 1,
        });
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = slot;
                id
            }
            None => {
                let id = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
                assert!(id <= MAX_GROUP_ID, "more than 2^31 next-hop groups");
                self.slots.push(slot);
                id
            }
        };
        self.ids.insert(group, id);
        self.changed = true;
        id
    }

    /// Drop one reference on `id`, freeing it when unused.
    pub(crate) fn release(&mut self, id: u32) {
        let Some(Some(slot)) = self.slots.get_mut(id as usize) else {
            return;
        };
        slot.refs -= 1;
        if slot.refs == 0 {
            if let Some(slot) = self.slots[id as usize].take() {
                self.ids.remove(&slot.group);
            }
            self.free.push(id);
            self.changed = true;
        }
    }

    /// The group with id `id`, if live.
    pub(crate) fn get(&self, id: u32) -> Option<&NextHopGroup> {
        self.slots.get(id as usize)?.as_ref().map(|s| &*s.group)
    }

    /// Number of live groups.
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// The reader-side copy, rebuilt only when groups came or went since the
    /// last call (cloning `Arc`s, not groups).
    pub(crate) fn publish(&mut self) -> PublishedGroups {
        if self.changed {
            let v: Vec<_> = self
                .slots
                .iter()
                .map(|s| s.as_ref().map(|s| Arc::clone(&s.group)))
                .collect();
            self.published = Arc::from(v);
            self.changed = false;
        }
        Arc::clone(&self.published)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fib::nexthop::NextHop;

    #[test]
    fn interning_refcounting_and_reuse() {
        let mut t = GroupTable::new();
        let a = NextHopGroup::single(NextHop::interface(1));
        let b = NextHopGroup::single(NextHop::tunnel(2));
        let ia = t.acquire(a.clone());
        assert_eq!(ia, 1);
        assert_eq!(t.acquire(a.clone()), ia);
        let ib = t.acquire(b.clone());
        assert_ne!(ia, ib);
        let published = t.publish();
        t.release(ia);
        assert_eq!(t.get(ia), Some(&a));
        t.release(ia);
        assert_eq!(t.get(ia), None);
        assert_eq!(t.len(), 1);
        let c = NextHopGroup::single(NextHop::blackhole());
        assert_eq!(t.acquire(c.clone()), ia, "freed id is reused");
        // The older published copy still resolves the old group.
        assert_eq!(published[ia as usize].as_deref(), Some(&a));
        assert_eq!(t.publish()[ia as usize].as_deref(), Some(&c));
    }
}
