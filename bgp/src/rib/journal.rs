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
//!
//! A consumer that lags far behind (the FIB feed while the FIB thread
//! installs a table) reads by walking the table anyway, so the records
//! only it still needs are dropped ([`Journal::trim`]): during a table
//! load the journal holds what the peers have not taken yet, not a record
//! per prefix of the table (24 bytes a route at the peak).

use std::collections::VecDeque;

use ipnet::IpNet;

use super::loc_rib::{Paths, Table};

/// Records kept even when only consumers that walk the table need them
/// (a small journal costs little, and a walk of a small table is cheap).
const KEEP_RECORDS: usize = 4096;

/// The journal of best-path changes.
#[derive(Debug)]
pub(crate) struct Journal {
    /// Each change: the prefix and where its entry was in the table then
    /// (read in order, the records of a table load visit the entries in
    /// order, instead of one hash probe each).
    records: VecDeque<(IpNet, u32)>,
    /// Sequence number of `records[0]`.
    base: u64,
    /// The end of the journal at the latest take by any consumer.
    last_take: u64,
    /// Records before this were dropped while a lagging consumer had not
    /// taken them (it walks the table instead); their tombstones are
    /// swept once every consumer is past it. 0: none dropped.
    dropped_until: u64,
}

impl Default for Journal {
    fn default() -> Self {
        // Sequence numbers start at 1: stamp 0 means "never recorded".
        Journal {
            records: VecDeque::new(),
            base: 1,
            last_take: 1,
            dropped_until: 0,
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

    /// Append a record (the entry, at `slot` in its family's map, was
    /// stamped with `next_seq`).
    pub(crate) fn push(&mut self, prefix: IpNet, slot: u32) {
        self.records.push_back((prefix, slot));
    }

    /// A consumer takes everything up to now: its new cursor.
    pub(crate) fn take(&mut self) -> u64 {
        let end = self.next_seq();
        self.last_take = end;
        end
    }

    /// Changes recorded at or after `cursor` (an upper bound of the
    /// prefixes changed since).
    pub(crate) fn window_len(&self, cursor: u64) -> u64 {
        self.next_seq().saturating_sub(cursor)
    }

    /// Whether a consumer at `cursor` reads its changes by walking the
    /// table (`table_len` entries, tombstones included) rather than the
    /// records: its records are gone, or so many that a walk is cheaper.
    pub(crate) fn walks(&self, cursor: u64, table_len: usize) -> bool {
        cursor < self.base || self.window_len(cursor).saturating_mul(4) > table_len as u64
    }

    /// Drop the records before `min_cursor` (every consumer is past them),
    /// and with them the tombstones they were the last record of; then
    /// the records before `min_reading`, the lowest cursor of the
    /// consumers that read records (the others walk the table), keeping
    /// their tombstones until every consumer is past.
    pub(crate) fn trim(&mut self, min_cursor: u64, min_reading: u64, table: &mut Table) {
        self.trim_taken(min_cursor, table);
        let keep_from = min_reading.max(min_cursor).min(self.next_seq());
        if keep_from > self.base && self.records.len() > KEEP_RECORDS {
            self.records.drain(..(keep_from - self.base) as usize);
            self.base = keep_from;
            self.dropped_until = keep_from;
            self.shrink();
        }
        if self.dropped_until != 0 && min_cursor >= self.dropped_until {
            if table.map.len() > table.len() {
                table.drop_tombstones_before(min_cursor);
            }
            self.dropped_until = 0;
        }
    }

    /// The first part of [`Journal::trim`]: records every consumer took.
    fn trim_taken(&mut self, min_cursor: u64, table: &mut Table) {
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
            for (i, (prefix, _)) in self.records.drain(..n).enumerate() {
                table.drop_tombstone(&prefix, self.base + i as u64);
            }
        }
        self.base = end;
        self.shrink();
    }

    fn shrink(&mut self) {
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
    if journal.window_len(cursor) == 0 {
        return;
    }
    if journal.walks(cursor, table.map.len()) {
        // Walk the table: sequential, one visit per prefix.
        for (prefix, e) in table.map.iter() {
            if e.stamp >= cursor {
                f(prefix, e.paths.as_ref());
            }
        }
        return;
    }
    let skip = (cursor - journal.base) as usize;
    for (i, (prefix, slot)) in journal.records.iter().enumerate().skip(skip) {
        let seq = journal.base + i as u64;
        // Only the last record of a prefix counts (earlier ones are
        // duplicates). Recorded prefixes stay in the table (as tombstones
        // if removed) until trimmed.
        if let Some(e) = table.entry_at(prefix, *slot)
            && e.stamp == seq
        {
            f(*prefix, e.paths.as_ref());
        }
    }
}
