//! The single-owner control-plane side of the FIB: applies batches of route
//! changes to the authoritative route set, rebuilds the affected shards and
//! publishes one new snapshot per batch.
//!
//! Old snapshots are kept on a retired list until no reader holds them, so
//! the last reference to a big structure is always dropped here, on the
//! control task, never by a forwarding thread.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use arc_swap::ArcSwap;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::family::{Family, shards_bytes};
use super::groups::GroupTable;
use super::nexthop::NextHopGroup;
use super::poptrie::Cpu;
use super::snapshot::{Fib, FibSnapshot};

/// One route change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FibChange {
    /// Install or replace the route for `prefix` (host bits are ignored).
    Upsert {
        /// The destination prefix.
        prefix: IpNet,
        /// Where it goes.
        group: NextHopGroup,
    },
    /// Withdraw the route for exactly `prefix`, if present.
    Remove {
        /// The destination prefix.
        prefix: IpNet,
    },
}

/// What one [`FibWriter::apply`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Upserts applied (new routes plus replacements by another next-hop
    /// group).
    pub upserted: usize,
    /// Upserts that found the same group there already (a route whose
    /// best path moved to another source with the same next hops, e.g.
    /// from one route reflector to the other): nothing changed.
    pub unchanged: usize,
    /// Removals of routes that existed.
    pub removed: usize,
    /// Removals of routes that did not exist (ignored).
    pub missing: usize,
    /// Lookup shards rebuilt for this publish.
    pub shards_rebuilt: usize,
    /// Generation of the snapshot published.
    pub generation: u64,
}

/// The control-plane handle: owns the route set and publishes snapshots.
pub struct FibWriter {
    v4: Family<u32>,
    v6: Family<u128>,
    groups: GroupTable,
    current: Arc<ArcSwap<FibSnapshot>>,
    retired: Vec<Arc<FibSnapshot>>,
    generation: u64,
}

impl Fib {
    /// An empty FIB: the writer for the control task and a reader handle to
    /// clone into forwarding threads.
    pub fn new() -> (FibWriter, Fib) {
        let mut writer = FibWriter {
            v4: Family::new(),
            v6: Family::new(),
            groups: GroupTable::new(),
            current: Arc::new(ArcSwap::from_pointee(empty_snapshot())),
            retired: Vec::new(),
            generation: 0,
        };
        let first = writer.build_snapshot();
        writer.current.store(Arc::new(first));
        let fib = Fib {
            current: Arc::clone(&writer.current),
        };
        (writer, fib)
    }
}

fn empty_snapshot() -> FibSnapshot {
    FibSnapshot {
        v4: Box::new([]),
        v6: Box::new([]),
        cpu: Cpu::detect(),
        groups: Arc::from(vec![None]),
        v4_routes: 0,
        v6_routes: 0,
        group_count: 0,
        memory_bytes: 0,
        generation: 0,
    }
}

impl FibWriter {
    /// Applies `changes` in order and publishes the result as one snapshot.
    /// Readers keep using the previous snapshot until the swap and never wait.
    pub fn apply(&mut self, changes: impl IntoIterator<Item = FibChange>) -> ApplyReport {
        let mut report = ApplyReport::default();
        for change in changes {
            match change {
                FibChange::Upsert { prefix, group } => {
                    let id = self.groups.acquire(group);
                    let old = match prefix {
                        IpNet::V4(p) => self.v4.upsert(v4_key(p), p.prefix_len(), id),
                        IpNet::V6(p) => self.v6.upsert(v6_key(p), p.prefix_len(), id),
                    };
                    if let Some(old) = old {
                        self.groups.release(old);
                    }
                    if old == Some(id) {
                        report.unchanged += 1;
                    } else {
                        report.upserted += 1;
                    }
                }
                FibChange::Remove { prefix } => {
                    let old = match prefix {
                        IpNet::V4(p) => self.v4.remove(v4_key(p), p.prefix_len()),
                        IpNet::V6(p) => self.v6.remove(v6_key(p), p.prefix_len()),
                    };
                    match old {
                        Some(old) => {
                            self.groups.release(old);
                            report.removed += 1;
                        }
                        None => report.missing += 1,
                    }
                }
            }
        }
        report.shards_rebuilt = self.v4.rebuild() + self.v6.rebuild();
        self.generation += 1;
        let next = Arc::new(self.build_snapshot());
        let old = self.current.swap(next);
        // After the swap every reader still on `old` holds a counted
        // reference, so those with a count of 1 are held by us alone.
        self.retired.push(old);
        self.retired.retain(|s| Arc::strong_count(s) > 1);
        report.generation = self.generation;
        report
    }

    /// Installs or replaces one route and publishes.
    pub fn insert(&mut self, prefix: IpNet, group: NextHopGroup) -> ApplyReport {
        self.apply([FibChange::Upsert { prefix, group }])
    }

    /// Withdraws one route and publishes; false if it was not present.
    pub fn remove(&mut self, prefix: IpNet) -> bool {
        self.apply([FibChange::Remove { prefix }]).removed == 1
    }

    /// The group of exactly `prefix` (not a longest-prefix match).
    pub fn exact(&self, prefix: IpNet) -> Option<&NextHopGroup> {
        let id = match prefix {
            IpNet::V4(p) => self.v4.exact(v4_key(p), p.prefix_len()),
            IpNet::V6(p) => self.v6.exact(v6_key(p), p.prefix_len()),
        }?;
        self.groups.get(id)
    }

    /// Every route, IPv4 first, each family in (network, length) order.
    pub fn routes(&self) -> impl Iterator<Item = (IpNet, &NextHopGroup)> + '_ {
        // Stored lengths come from valid `IpNet`s, so `new` cannot fail and
        // every stored id is live; `filter_map` only satisfies the types.
        let v4 = self.v4.iter().filter_map(|(k, l, id)| {
            Some((
                IpNet::V4(Ipv4Net::new(Ipv4Addr::from(k), l).ok()?),
                self.groups.get(id)?,
            ))
        });
        let v6 = self.v6.iter().filter_map(|(k, l, id)| {
            Some((
                IpNet::V6(Ipv6Net::new(Ipv6Addr::from(k), l).ok()?),
                self.groups.get(id)?,
            ))
        });
        v4.chain(v6)
    }

    /// Number of routes of both families.
    pub fn route_count(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// A reader handle onto this writer's FIB.
    pub fn reader(&self) -> Fib {
        Fib {
            current: Arc::clone(&self.current),
        }
    }

    fn build_snapshot(&mut self) -> FibSnapshot {
        let v4 = self.v4.publish();
        let v6 = self.v6.publish();
        let groups = self.groups.publish();
        let group_bytes: usize = groups
            .iter()
            .flatten()
            .map(|g| g.heap_bytes() + std::mem::size_of::<NextHopGroup>() + 16)
            .sum::<usize>()
            + std::mem::size_of_val::<[_]>(&groups);
        FibSnapshot {
            memory_bytes: shards_bytes(&v4) + shards_bytes(&v6) + group_bytes,
            v4,
            v6,
            cpu: Cpu::detect(),
            groups,
            v4_routes: self.v4.len(),
            v6_routes: self.v6.len(),
            group_count: self.groups.len(),
            generation: self.generation,
        }
    }
}

impl fmt::Debug for FibWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FibWriter")
            .field("v4_routes", &self.v4.len())
            .field("v6_routes", &self.v6.len())
            .field("groups", &self.groups.len())
            .field("generation", &self.generation)
            .field("retired", &self.retired.len())
            .finish()
    }
}

fn v4_key(p: Ipv4Net) -> u32 {
    u32::from(p.network())
}

fn v6_key(p: Ipv6Net) -> u128 {
    u128::from(p.network())
}
