//! The sans-IO core of kernel route sync: which prefixes the kernel should
//! route into the TUN, what the kernel has from us, and the netlink actions
//! that close the gap. No sockets, no clock: the driver feeds changes in
//! ([`Desired::set`]), what the kernel had at start-up
//! ([`Desired::reconcile`]) and the outcome of each action
//! ([`Desired::record`]), and takes actions out ([`Desired::poll`]).
//!
//! Changes coalesce per prefix: only the last word about a prefix since the
//! previous [`Desired::poll`] counts, so a route added and removed before
//! the driver runs costs nothing. A prefix the kernel already routes some
//! other way (a foreign route: not our protocol) is left alone and
//! reported once; it and failed actions are tried again on
//! [`Desired::retry`].
//!
//! While running, the driver compares what it believes with a fresh dump
//! of our routes ([`Desired::resync`]): a route of ours that went missing
//! (deleted by hand, flushed with a link bounce) is counted and added
//! again, one of ours nobody wants is deleted.

use ipnet::IpNet;
use rustc_hash::{FxHashMap, FxHashSet};

/// One netlink request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Create our route for the prefix (exclusive: never replaces).
    Add(IpNet),
    /// Delete our route (our protocol only) for the prefix.
    Delete(IpNet),
}

impl Action {
    /// The prefix the action is about.
    pub fn prefix(self) -> IpNet {
        match self {
            Action::Add(p) | Action::Delete(p) => p,
        }
    }
}

/// What the kernel answered to an [`Action`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done.
    Done,
    /// Add: a route for the prefix exists already and is not ours.
    Foreign,
    /// Delete: no route of ours for the prefix was there.
    Absent,
    /// Anything else, with the kernel's reason.
    Failed(String),
}

/// Something the driver should tell the operator about, once per episode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The prefix has a foreign route; ours was not installed.
    Conflict(IpNet),
    /// An action on the prefix failed (tried again on retry).
    Failed(Action, String),
}

/// Route sync counters, for `vcpectl stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Our routes in the kernel now.
    pub installed: usize,
    /// Prefixes left to a foreign route now.
    pub foreign: usize,
    /// Prefixes whose last action failed (tried again on retry).
    pub failed: usize,
    /// Failed actions since start.
    pub errors_total: u64,
    /// Routes of ours found missing from the kernel since start (deleted
    /// by someone else, or flushed with the TUN's link).
    pub lost_total: u64,
    /// Of those, added again since start.
    pub resynced_total: u64,
}

/// What the kernel has for a prefix, as far as we know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kernel {
    /// Nothing of ours.
    Absent,
    /// Our route, pointing at the TUN.
    Installed,
    /// Ours (our protocol) from an earlier run, not wanted or pointing
    /// elsewhere: to be deleted.
    Stale,
    /// A route that is not ours took the prefix.
    Foreign,
    /// Our last action failed.
    Failed,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    want: bool,
    kernel: Kernel,
    /// Ours went missing from the kernel and is not back yet.
    lost: bool,
}

impl Entry {
    fn new() -> Entry {
        Entry {
            want: false,
            kernel: Kernel::Absent,
            lost: false,
        }
    }
}

/// The desired kernel routes and what the kernel has of them.
#[derive(Debug, Default)]
pub struct Desired {
    entries: FxHashMap<IpNet, Entry>,
    /// Prefixes changed since the last poll.
    dirty: FxHashSet<IpNet>,
    /// Prefixes tried again on retry (foreign or failed).
    troubled: FxHashSet<IpNet>,
    /// Never installed: the interfaces' own subnets (the kernel has
    /// connected routes for them).
    excluded: FxHashSet<IpNet>,
    counts: Counts,
}

impl Desired {
    /// Nothing desired yet; `excluded` prefixes are never installed.
    pub fn new(excluded: impl IntoIterator<Item = IpNet>) -> Desired {
        Desired {
            excluded: excluded.into_iter().map(|p| p.trunc()).collect(),
            ..Desired::default()
        }
    }

    /// `prefix` should (`present`) or should not be routed into the TUN.
    /// Returns whether there is something new to do.
    pub fn set(&mut self, prefix: IpNet, present: bool) -> bool {
        if self.excluded.contains(&prefix) {
            return false;
        }
        let e = self.entries.entry(prefix).or_insert_with(Entry::new);
        if e.want == present {
            return false;
        }
        e.want = present;
        self.dirty.insert(prefix)
    }

    /// The routes of our protocol found in our table at start-up, each
    /// with whether it is exactly what we would install (a plain route
    /// into the TUN). Those wanted and right are adopted; every other one
    /// is deleted (and added again, right, when wanted).
    pub fn reconcile(&mut self, ours: impl IntoIterator<Item = (IpNet, bool)>) {
        for (prefix, right) in ours {
            let excluded = self.excluded.contains(&prefix);
            let e = self.entries.entry(prefix).or_insert_with(Entry::new);
            let kernel = if right && e.want && !excluded {
                Kernel::Installed
            } else {
                Kernel::Stale
            };
            Self::transition(&mut self.counts, e, kernel);
            if e.lost && kernel == Kernel::Installed {
                e.lost = false;
                self.counts.resynced_total += 1;
            }
            self.dirty.insert(prefix);
        }
        // Wanted prefixes the kernel lacks are dirty since their `set`.
    }

    /// A fresh dump of our routes in our table (as for
    /// [`Desired::reconcile`]), taken while no action was in flight.
    /// Routes we installed that the dump lacks are lost: counted, and
    /// added again on the next poll; routes of ours in the dump that are
    /// not wanted or not right are deleted; right ones of wanted prefixes
    /// are adopted. Returns how many were found lost.
    pub fn resync(&mut self, ours: impl IntoIterator<Item = (IpNet, bool)>) -> usize {
        let ours: FxHashMap<IpNet, bool> = ours.into_iter().collect();
        let mut lost = 0;
        for (prefix, e) in &mut self.entries {
            match e.kernel {
                Kernel::Installed | Kernel::Stale if !ours.contains_key(prefix) => {
                    if e.kernel == Kernel::Installed {
                        lost += 1;
                        e.lost = true;
                    }
                    Self::transition(&mut self.counts, e, Kernel::Absent);
                    self.dirty.insert(*prefix);
                }
                _ => {}
            }
        }
        self.counts.lost_total += lost as u64;
        // What the dump has: known and right stays, the rest is handled
        // as at start-up (a failed add that did reach the kernel is
        // adopted).
        let news: Vec<(IpNet, bool)> = ours
            .into_iter()
            .filter(|(p, right)| {
                !(*right
                    && self
                        .entries
                        .get(p)
                        .is_some_and(|e| e.kernel == Kernel::Installed))
            })
            .collect();
        for (prefix, _) in &news {
            self.troubled.remove(prefix);
        }
        self.reconcile(news);
        lost
    }

    /// Whether we believe the kernel has our route for `prefix` and we
    /// want it there: a notification that it was deleted is news.
    pub fn installed_and_wanted(&self, prefix: &IpNet) -> bool {
        self.entries
            .get(prefix)
            .is_some_and(|e| e.want && e.kernel == Kernel::Installed)
    }

    /// Wanted prefixes that are not in the kernel now, other than those
    /// left to a foreign route.
    pub fn missing(&self) -> usize {
        self.entries
            .values()
            .filter(|e| e.want && !matches!(e.kernel, Kernel::Installed | Kernel::Foreign))
            .count()
    }

    /// Whether [`Desired::poll`] has something to hand out.
    pub fn has_work(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// Up to `limit` actions for what changed since the last poll,
    /// deletions first. Each prefix appears at most once.
    pub fn poll(&mut self, limit: usize) -> Vec<Action> {
        let batch: Vec<IpNet> = self.dirty.iter().take(limit).copied().collect();
        let mut deletes = Vec::new();
        let mut adds = Vec::new();
        for prefix in batch {
            self.dirty.remove(&prefix);
            let Some(e) = self.entries.get_mut(&prefix) else {
                continue;
            };
            match (e.want, e.kernel) {
                (_, Kernel::Stale) | (false, Kernel::Installed) => {
                    deletes.push(Action::Delete(prefix))
                }
                (true, Kernel::Absent | Kernel::Foreign | Kernel::Failed) => {
                    adds.push(Action::Add(prefix))
                }
                (true, Kernel::Installed) => {}
                (false, Kernel::Absent | Kernel::Foreign | Kernel::Failed) => {
                    Self::transition(&mut self.counts, e, Kernel::Absent);
                    self.entries.remove(&prefix);
                    self.troubled.remove(&prefix);
                }
            }
        }
        deletes.extend(adds);
        deletes
    }

    /// Records the kernel's answer to `action`; says what the operator
    /// should hear about, if anything.
    pub fn record(&mut self, action: Action, outcome: Outcome) -> Option<Event> {
        let prefix = action.prefix();
        let e = self.entries.get_mut(&prefix)?;
        let before = e.kernel;
        let after = match (action, &outcome) {
            (Action::Add(_), Outcome::Done) => Kernel::Installed,
            (Action::Add(_), Outcome::Foreign) => Kernel::Foreign,
            (Action::Add(_), Outcome::Failed(_)) => Kernel::Failed,
            (Action::Delete(_), Outcome::Done | Outcome::Absent) => Kernel::Absent,
            // A failed delete leaves our route where it was; the other two
            // are not answers these actions get.
            (Action::Delete(_), _) | (Action::Add(_), Outcome::Absent) => before,
        };
        Self::transition(&mut self.counts, e, after);
        if e.lost && after == Kernel::Installed {
            e.lost = false;
            self.counts.resynced_total += 1;
        }
        let event = match outcome {
            Outcome::Foreign if before != Kernel::Foreign => Some(Event::Conflict(prefix)),
            Outcome::Failed(why) => {
                self.counts.errors_total += 1;
                self.troubled.insert(prefix);
                // Said once per episode for adds (retries fail quietly).
                return (before != Kernel::Failed || matches!(action, Action::Delete(_)))
                    .then_some(Event::Failed(action, why));
            }
            _ => None,
        };
        match (e.want, after) {
            (true, Kernel::Installed) => {
                self.troubled.remove(&prefix);
            }
            (false, Kernel::Absent) => {
                self.entries.remove(&prefix);
                self.troubled.remove(&prefix);
            }
            (_, Kernel::Foreign) => {
                self.troubled.insert(prefix);
            }
            // Changed meanwhile, or a stale route deleted that is wanted.
            _ => {
                self.dirty.insert(prefix);
            }
        }
        event
    }

    /// Marks foreign and failed prefixes for another try; returns whether
    /// there are any.
    pub fn retry(&mut self) -> bool {
        if self.troubled.is_empty() {
            return false;
        }
        self.dirty.extend(self.troubled.drain());
        true
    }

    /// Deletes for every route of ours in the kernel (clean shutdown).
    pub fn shutdown(&mut self) -> Vec<Action> {
        self.dirty.clear();
        self.entries
            .iter_mut()
            .filter(|(_, e)| matches!(e.kernel, Kernel::Installed | Kernel::Stale))
            .map(|(p, e)| {
                e.want = false;
                Action::Delete(*p)
            })
            .collect()
    }

    /// The counters now.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// Moves `e` to `to`, keeping the counters right.
    fn transition(counts: &mut Counts, e: &mut Entry, to: Kernel) {
        match e.kernel {
            Kernel::Installed => counts.installed -= 1,
            Kernel::Foreign => counts.foreign -= 1,
            Kernel::Failed => counts.failed -= 1,
            Kernel::Absent | Kernel::Stale => {}
        }
        match to {
            Kernel::Installed => counts.installed += 1,
            Kernel::Foreign => counts.foreign += 1,
            Kernel::Failed => counts.failed += 1,
            Kernel::Absent | Kernel::Stale => {}
        }
        e.kernel = to;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn add(s: &str) -> Action {
        Action::Add(net(s))
    }

    fn del(s: &str) -> Action {
        Action::Delete(net(s))
    }

    /// Polls everything and answers each action with `answer`.
    fn drive(d: &mut Desired, answer: impl Fn(Action) -> Outcome) -> Vec<Action> {
        let mut all = Vec::new();
        while d.has_work() {
            let actions = d.poll(1000);
            for a in &actions {
                d.record(*a, answer(*a));
            }
            all.extend(actions);
        }
        all
    }

    fn ok(_: Action) -> Outcome {
        Outcome::Done
    }

    #[test]
    fn a_wanted_prefix_is_added_once_and_deleted_when_withdrawn() {
        let mut d = Desired::new([]);
        assert!(d.set(net("10.9.0.0/16"), true));
        assert!(!d.set(net("10.9.0.0/16"), true), "no news");
        assert_eq!(drive(&mut d, ok), vec![add("10.9.0.0/16")]);
        assert_eq!(d.counts().installed, 1);
        assert!(!d.has_work());
        d.set(net("10.9.0.0/16"), false);
        assert_eq!(drive(&mut d, ok), vec![del("10.9.0.0/16")]);
        assert_eq!(d.counts(), Counts::default());
        assert!(d.entries.is_empty(), "nothing kept for a prefix gone");
    }

    #[test]
    fn added_then_removed_before_a_pass_costs_nothing() {
        let mut d = Desired::new([]);
        d.set(net("10.9.0.0/16"), true);
        d.set(net("10.9.0.0/16"), false);
        assert_eq!(d.poll(1000), vec![]);
        assert!(d.entries.is_empty());
        // Also for an installed one removed and added back.
        d.set(net("10.8.0.0/16"), true);
        drive(&mut d, ok);
        d.set(net("10.8.0.0/16"), false);
        d.set(net("10.8.0.0/16"), true);
        assert_eq!(d.poll(1000), vec![]);
        assert_eq!(d.counts().installed, 1);
    }

    #[test]
    fn a_change_while_the_action_is_in_flight_is_picked_up_next() {
        let mut d = Desired::new([]);
        d.set(net("10.9.0.0/16"), true);
        let actions = d.poll(1000);
        assert_eq!(actions, vec![add("10.9.0.0/16")]);
        // Withdrawn while the kernel works on the add.
        d.set(net("10.9.0.0/16"), false);
        d.record(actions[0], Outcome::Done);
        assert_eq!(drive(&mut d, ok), vec![del("10.9.0.0/16")]);
        assert_eq!(d.counts().installed, 0);
    }

    #[test]
    fn interface_subnets_are_never_installed() {
        let mut d = Desired::new([net("10.255.0.1/24")]);
        assert!(!d.set(net("10.255.0.0/24"), true));
        assert_eq!(d.poll(1000), vec![]);
        // Ours from an earlier run for such a prefix is stale.
        d.reconcile([(net("10.255.0.0/24"), true)]);
        assert_eq!(drive(&mut d, ok), vec![del("10.255.0.0/24")]);
    }

    #[test]
    fn reconcile_adopts_right_routes_deletes_stale_and_adds_missing() {
        let mut d = Desired::new([]);
        d.set(net("10.1.0.0/16"), true); // in the kernel, right
        d.set(net("10.2.0.0/16"), true); // in the kernel, pointing elsewhere
        d.set(net("10.3.0.0/16"), true); // missing
        d.reconcile([
            (net("10.1.0.0/16"), true),
            (net("10.2.0.0/16"), false),
            (net("10.66.0.0/16"), true), // not wanted any more
        ]);
        let mut first = d.poll(1000);
        first.sort_by_key(|a| (matches!(a, Action::Add(_)), a.prefix()));
        assert_eq!(
            first,
            vec![del("10.2.0.0/16"), del("10.66.0.0/16"), add("10.3.0.0/16")],
            "deletions first; the right one adopted as it is"
        );
        for a in first {
            d.record(a, Outcome::Done);
        }
        // The stale route of a wanted prefix is replaced by a right one.
        assert_eq!(drive(&mut d, ok), vec![add("10.2.0.0/16")]);
        assert_eq!(d.counts().installed, 3);
        let mut gone = d.shutdown();
        gone.sort_by_key(|a| a.prefix());
        assert_eq!(
            gone,
            vec![del("10.1.0.0/16"), del("10.2.0.0/16"), del("10.3.0.0/16")]
        );
    }

    #[test]
    fn a_foreign_route_is_reported_once_and_retried() {
        let mut d = Desired::new([]);
        d.set(net("10.8.0.0/16"), true);
        let a = d.poll(1000);
        assert_eq!(
            d.record(a[0], Outcome::Foreign),
            Some(Event::Conflict(net("10.8.0.0/16")))
        );
        assert_eq!((d.counts().foreign, d.counts().installed), (1, 0));
        assert!(!d.has_work(), "no retry before the retry tick");
        assert!(d.retry());
        let a = d.poll(1000);
        assert_eq!(a, vec![add("10.8.0.0/16")]);
        assert_eq!(d.record(a[0], Outcome::Foreign), None, "said once");
        // The foreign route went away: ours goes in.
        d.retry();
        assert_eq!(drive(&mut d, ok), vec![add("10.8.0.0/16")]);
        assert_eq!((d.counts().foreign, d.counts().installed), (0, 1));
        assert!(!d.retry());
        // Never deleted at shutdown while foreign.
        d.set(net("10.7.0.0/16"), true);
        let a = d.poll(1000);
        d.record(a[0], Outcome::Foreign);
        assert_eq!(d.shutdown(), vec![del("10.8.0.0/16")]);
    }

    #[test]
    fn a_withdrawn_foreign_prefix_is_forgotten() {
        let mut d = Desired::new([]);
        d.set(net("10.8.0.0/16"), true);
        let a = d.poll(1000);
        d.record(a[0], Outcome::Foreign);
        d.set(net("10.8.0.0/16"), false);
        assert_eq!(drive(&mut d, ok), vec![], "not ours: nothing to delete");
        assert_eq!(d.counts(), Counts::default());
        assert!(!d.retry());
    }

    #[test]
    fn failures_are_counted_said_once_and_retried() {
        let mut d = Desired::new([]);
        d.set(net("10.9.0.0/16"), true);
        let a = d.poll(1000);
        let e = d.record(a[0], Outcome::Failed("ENETDOWN".into()));
        assert_eq!(e, Some(Event::Failed(a[0], "ENETDOWN".into())));
        assert_eq!((d.counts().failed, d.counts().errors_total), (1, 1));
        assert!(!d.has_work(), "no busy loop on a failing request");
        d.retry();
        let a = d.poll(1000);
        assert_eq!(d.record(a[0], Outcome::Failed("ENETDOWN".into())), None);
        assert_eq!((d.counts().failed, d.counts().errors_total), (1, 2));
        d.retry();
        drive(&mut d, ok);
        assert_eq!(d.counts().failed, 0);
        assert_eq!(d.counts().installed, 1);
        // A failed delete keeps the route ours (deleted at shutdown).
        d.set(net("10.9.0.0/16"), false);
        let a = d.poll(1000);
        d.record(a[0], Outcome::Failed("EBUSY".into()));
        assert!(!d.has_work());
        assert_eq!(d.shutdown(), vec![del("10.9.0.0/16")]);
    }

    #[test]
    fn a_delete_of_a_route_already_gone_settles() {
        let mut d = Desired::new([]);
        d.set(net("10.9.0.0/16"), true);
        drive(&mut d, ok);
        d.set(net("10.9.0.0/16"), false);
        let a = d.poll(1000);
        d.record(a[0], Outcome::Absent);
        assert!(d.entries.is_empty());
        assert_eq!(d.counts().installed, 0);
    }

    #[test]
    fn a_route_gone_from_the_kernel_is_counted_and_added_again() {
        let mut d = Desired::new([]);
        for p in ["10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16"] {
            d.set(net(p), true);
        }
        drive(&mut d, ok);
        assert!(d.installed_and_wanted(&net("10.1.0.0/16")));
        // Someone deleted 10.1 and pointed 10.2 elsewhere (still our
        // protocol); 10.66 of ours appeared by hand.
        let lost = d.resync([
            (net("10.2.0.0/16"), false),
            (net("10.3.0.0/16"), true),
            (net("10.66.0.0/16"), true),
        ]);
        assert_eq!(lost, 1);
        assert_eq!(d.counts().installed, 1, "only what the dump confirms");
        assert_eq!(d.missing(), 2);
        assert_eq!(d.counts().lost_total, 1);
        let mut first = d.poll(1000);
        first.sort_by_key(|a| (matches!(a, Action::Add(_)), a.prefix()));
        assert_eq!(
            first,
            vec![del("10.2.0.0/16"), del("10.66.0.0/16"), add("10.1.0.0/16")]
        );
        for a in first {
            d.record(a, Outcome::Done);
        }
        assert_eq!(drive(&mut d, ok), vec![add("10.2.0.0/16")]);
        let c = d.counts();
        assert_eq!((c.installed, c.lost_total, c.resynced_total), (3, 1, 1));
        assert_eq!(d.missing(), 0);
        // A dump that agrees changes nothing.
        let all = ["10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16"].map(|p| (net(p), true));
        assert_eq!(d.resync(all), 0);
        assert!(d.poll(1000).is_empty());
    }

    #[test]
    fn a_flushed_table_is_one_batch_and_failures_while_down_retry() {
        let mut d = Desired::new([]);
        for i in 0..200u8 {
            d.set(net(&format!("10.{i}.0.0/16")), true);
        }
        drive(&mut d, ok);
        // Link down: the kernel flushed them all.
        assert_eq!(d.resync([]), 200);
        assert_eq!((d.counts().installed, d.missing()), (0, 200));
        // Re-adds fail while the link is down; retried, counted once lost.
        let a = d.poll(1000);
        assert_eq!(a.len(), 200);
        for x in &a {
            d.record(*x, Outcome::Failed("ENETDOWN".into()));
        }
        assert_eq!(d.resync([]), 0, "already known missing");
        drive(&mut d, ok);
        d.retry();
        drive(&mut d, ok);
        let c = d.counts();
        assert_eq!(
            (c.installed, c.failed, c.lost_total, c.resynced_total),
            (200, 0, 200, 200)
        );
        // An add that failed but reached the kernel is adopted by a dump.
        d.set(net("10.250.0.0/16"), true);
        let a = d.poll(1000);
        d.record(a[0], Outcome::Failed("timeout".into()));
        let all: Vec<_> = (0..200u8)
            .map(|i| (net(&format!("10.{i}.0.0/16")), true))
            .chain([(net("10.250.0.0/16"), true)])
            .collect();
        assert_eq!(d.resync(all), 0);
        assert!(d.poll(1000).is_empty());
        assert_eq!((d.counts().installed, d.counts().failed), (201, 0));
    }

    #[test]
    fn a_withdrawn_route_is_not_news_when_it_goes() {
        let mut d = Desired::new([]);
        d.set(net("10.9.0.0/16"), true);
        drive(&mut d, ok);
        d.set(net("10.9.0.0/16"), false);
        let a = d.poll(1000);
        // Our own delete's notification arrives before its answer.
        assert!(!d.installed_and_wanted(&net("10.9.0.0/16")));
        d.record(a[0], Outcome::Done);
        assert!(!d.installed_and_wanted(&net("10.9.0.0/16")));
    }

    #[test]
    fn polls_are_bounded_batches() {
        let mut d = Desired::new([]);
        for i in 0..10u8 {
            d.set(net(&format!("10.{i}.0.0/16")), true);
        }
        assert_eq!(d.poll(4).len(), 4);
        assert_eq!(d.poll(4).len(), 4);
        assert_eq!(d.poll(4).len(), 2);
        assert!(!d.has_work());
    }
}
