//! The change journal: every prefix whose best path changed, in order,
//! with a sequence number. Each consumer (the FIB feed, each peer) keeps a
//! cursor: its pending changes are the records after it. A table entry's
//! stamp is the number of its last record, so "changed since consumer c
//! last took" is `stamp >= cursor(c)`, read from the entry already in
//! hand: recording a change costs no extra hash-table access, and a
//! prefix is appended again only when some consumer has taken since its
//! last record.
//!
//! What a consumer held before is stored only when it held something (the
//! FIB's old best route, a peer's old export); a new prefix costs nothing
//! but its record. Large windows are read by walking the table (entries
//! with a recent stamp) rather than the records: sequential, and each
//! prefix once.

use std::collections::VecDeque;

use ipnet::IpNet;

use super::loc_rib::{Paths, Table};

/// The journal of best-path changes.
#[derive(Debug)]
pub(crate) struct Journal {
    records: VecDeque<IpNet>,
    /// Sequence number of `records[0]`.
    base: u64,
    /// The end of the journal at the latest take by any consumer.
    last_take: u64,
}

impl Default for Journal {
    fn default() -> Self {
        // Sequence numbers start at 1: stamp 0 means "never recorded".
        Journal {
            records: VecDeque::new(),
            base: 1,
            last_take: 1,
        }
    }
}

impl Journal {
    /// The sequence number the next record gets.
    pub(crate) fn next_seq(&self) -> u64 {
        self.base + self.records.len() as u64
    }

    /// What the table needs to stamp an entry: (last take, next sequence).
    pub(crate) fn hint(&self) -> (u64, u64) {
        (self.last_take, self.next_seq())
    }

    /// Append a record (the entry was stamped with `next_seq`).
    pub(crate) fn push(&mut self, prefix: IpNet) {
        self.records.push_back(prefix);
    }

    /// A consumer takes everything up to now: its new cursor.
    pub(crate) fn take(&mut self) -> u64 {
        let end = self.next_seq();
        self.last_take = end;
        end
    }

    /// Records at or after `cursor`.
    pub(crate) fn window_len(&self, cursor: u64) -> u64 {
        self.next_seq().saturating_sub(cursor.max(self.base))
    }

    /// Drop the records before `min_cursor` (every consumer is past them),
    /// and with them the tombstones they were the last record of.
    pub(crate) fn trim(&mut self, min_cursor: u64, table: &mut Table) {
        let end = min_cursor.min(self.next_seq());
        if end <= self.base {
            return;
        }
        let n = (end - self.base) as usize;
        let tombstones = table.map.len() - table.len();
        if tombstones == 0 {
            self.records.drain(..n);
        } else if n.saturating_mul(4) > table.map.len() {
            // Many records: one sequential sweep of the table.
            self.records.drain(..n);
            table.drop_tombstones_before(end);
        } else {
            for (i, prefix) in self.records.drain(..n).enumerate() {
                table.drop_tombstone(&prefix, self.base + i as u64);
            }
        }
        self.base = end;
        if self.records.is_empty() && self.records.capacity() > 1024 {
            self.records = VecDeque::new();
        }
    }

    /// Number of records held.
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }
}

/// Call `f` once for every prefix changed at or after `cursor`, with its
/// current paths (`None`: no route any more).
pub(crate) fn for_each_changed(
    table: &Table,
    journal: &Journal,
    cursor: u64,
    mut f: impl FnMut(IpNet, Option<&Paths>),
) {
    let window = journal.window_len(cursor);
    if window == 0 {
        return;
    }
    if window.saturating_mul(4) > table.map.len() as u64 {
        // Walk the table: sequential, one visit per prefix.
        for (prefix, e) in table.map.iter() {
            if e.stamp >= cursor {
                f(prefix, e.paths.as_ref());
            }
        }
        return;
    }
    let start = cursor.max(journal.base);
    let skip = (start - journal.base) as usize;
    for (i, prefix) in journal.records.iter().enumerate().skip(skip) {
        let seq = journal.base + i as u64;
        // Only the last record of a prefix counts (earlier ones are
        // duplicates). Recorded prefixes stay in the table (as tombstones
        // if removed) until trimmed.
        if let Some(e) = table.entry(prefix)
            && e.stamp == seq
        {
            f(*prefix, e.paths.as_ref());
        }
    }
}
