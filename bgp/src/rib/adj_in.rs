//! The receiving side: sessions coming up and going down, UPDATEs applied
//! to the Adj-RIB-In (import prefix list and rules, eBGP loop prevention
//! and first-AS check, max-prefix), and the graceful-restart helper
//! (RFC 4724: stale routes).

use std::borrow::Cow;
use std::sync::Arc;

use ipnet::IpNet;

use super::loc_rib::{Path, PrefixList, index_of, rule_byte, slot_of, src_of};
use super::peer::{OutState, Session};
use super::rules::Verdict;
use super::{ApplyOutcome, MaxPrefixExceeded, PeerId, PeerUp, Rib};
use crate::model::{AddrFamily, PathAttributes};

/// The family of a prefix (unicast).
pub(crate) fn family_of(p: &IpNet) -> AddrFamily {
    match p {
        IpNet::V4(_) => AddrFamily::IPV4_UNICAST,
        IpNet::V6(_) => AddrFamily::IPV6_UNICAST,
    }
}

impl Rib {
    /// The session with `id` is established: its Adj-RIB-Out is queued with
    /// every best route it may receive, then End-of-RIB for each negotiated
    /// family (all delivered by the next [`Rib::take_exports`]). Calling it
    /// on an established peer restarts the dump. Unknown peers are ignored.
    pub fn peer_up(&mut self, id: PeerId, up: PeerUp) {
        let Some(slot) = self.slot(id) else { return };
        let Rib {
            peers,
            cache,
            journal,
            ..
        } = self;
        let Some(p) = peers.get_mut(slot as usize).and_then(Option::as_mut) else {
            return;
        };
        let rid_changed = p.router_id != up.router_id;
        p.router_id = up.router_id;
        p.session = Some(Session::new(&up, &p.config, p.ebgp, cache));
        p.out = OutState {
            full: true,
            empty: true,
            eor: up.families.clone(),
            cursor: journal.next_seq(),
            ..OutState::default()
        };
        // Stale paths from before a graceful restart compete with the new
        // router id.
        let has_stale = p.stale > 0;
        self.count_add_path_senders();
        if rid_changed && has_stale {
            for prefix in self.table.prefixes_of(slot, |_, _| true) {
                self.reselect(prefix);
            }
        }
    }

    /// The session went down: every route learned from it is withdrawn
    /// (best paths recomputed) and its Adj-RIB-Out is dropped.
    pub fn peer_down(&mut self, id: PeerId) {
        if let Some(slot) = self.slot(id) {
            self.drop_session(slot, &[]);
        }
    }

    /// The session went down and the peer can restart gracefully (RFC 4724
    /// helper): routes of the `preserved` families (those the peer's GR
    /// capability marked as forwarding-preserved) are kept, marked stale,
    /// still used; the others are withdrawn. Stale routes go when the peer,
    /// re-established, sends End-of-RIB for the family
    /// ([`Rib::end_of_rib`]), or when the caller's restart/stale timer
    /// fires ([`Rib::purge_stale`]). New announcements replace them.
    pub fn peer_down_graceful(&mut self, id: PeerId, preserved: &[AddrFamily]) {
        if let Some(slot) = self.slot(id) {
            self.drop_session(slot, preserved);
        }
    }

    /// Take down the session of `slot`, keeping the `preserved` families'
    /// paths as stale.
    pub(crate) fn drop_session(&mut self, slot: u32, preserved: &[AddrFamily]) {
        let Some(p) = self.peer_mut(slot) else { return };
        p.session = None;
        p.out = OutState::default();
        p.filtered.clear();
        let mut remaining = 0u64;
        self.table.for_each_path_mut(slot, |n, path| {
            if preserved.contains(&family_of(n)) {
                path.stale = true;
                remaining += 1;
            }
        });
        let doomed = self
            .table
            .prefixes_of(slot, |n, _| !preserved.contains(&family_of(n)));
        self.withdraw_all(slot, doomed, false);
        if let Some(p) = self.peer_mut(slot) {
            p.accepted = 0;
            p.stale = remaining;
            if remaining == 0 {
                p.path_ids.clear();
            }
        }
        self.count_add_path_senders();
        // This peer no longer holds back the journal.
        self.trim_journal();
        self.maybe_sweep();
    }

    /// The peer sent End-of-RIB for `family`: its stale paths of that
    /// family (kept over a graceful restart) are removed.
    pub fn end_of_rib(&mut self, id: PeerId, family: AddrFamily) {
        if let Some(slot) = self.slot(id) {
            self.purge(slot, Some(family));
        }
    }

    /// The restart or stale timer fired: remove all of the peer's stale
    /// paths.
    pub fn purge_stale(&mut self, id: PeerId) {
        if let Some(slot) = self.slot(id) {
            self.purge(slot, None);
        }
    }

    /// Removes `slot`'s paths of each prefix (only the stale ones if
    /// `stale_only`); returns how many. A whole table at once, so the
    /// journal is trimmed as it goes: otherwise it would hold a record per
    /// prefix until the next take.
    fn withdraw_all(&mut self, slot: u32, prefixes: PrefixList, stale_only: bool) -> u64 {
        let mut removed = 0;
        for (i, prefix) in prefixes.into_iter().enumerate() {
            let srcs = self
                .table
                .sources_of(&prefix, slot, |p| !stale_only || p.stale);
            for src in srcs {
                self.set_path(prefix, src, None);
                self.release_index(prefix, src);
                removed += 1;
            }
            if i % 4096 == 4095 {
                self.trim_journal();
            }
        }
        removed
    }

    /// The path of `src` for `prefix` left the table: its Path Identifier
    /// is free again.
    fn release_index(&mut self, prefix: IpNet, src: u32) {
        if let Some(p) = self.peer_mut(slot_of(src))
            && !p.path_ids.is_empty()
        {
            p.path_ids.release(prefix, index_of(src));
        }
    }

    fn purge(&mut self, slot: u32, family: Option<AddrFamily>) {
        if self.peer(slot).is_none_or(|p| p.stale == 0) {
            return;
        }
        let doomed = self.table.prefixes_of(slot, |n, path| {
            path.stale && family.is_none_or(|f| f == family_of(n))
        });
        let removed = self.withdraw_all(slot, doomed, true);
        if let Some(p) = self.peer_mut(slot) {
            p.stale = p.stale.saturating_sub(removed);
        }
        self.maybe_sweep();
    }

    /// Apply one decoded UPDATE from peer `id`: `withdrawn` prefixes, then
    /// `announced` prefixes with `attrs` (ignored when `attrs` is `None`).
    /// Import policy applies to each announced prefix (the prefix list,
    /// then the import rules, which may reject it or change its
    /// attributes; the path remembers the rule that matched); from an eBGP peer,
    /// a path containing our AS is ignored (and counted), and a LOCAL_PREF
    /// is dropped (RFC 4271 §5.1.5), as are ORIGINATOR_ID and CLUSTER_LIST
    /// (RFC 7606 §7.9, §7.10: attribute discard). From an iBGP peer, a
    /// path whose ORIGINATOR_ID is our router id or whose CLUSTER_LIST
    /// holds our cluster id came back through a reflector: ignored and
    /// counted (RFC 4456 §8). A rejected prefix counts as a
    /// withdrawal of what the peer announced before.
    ///
    /// From an eBGP peer with [`super::PeerConfig::enforce_first_as`], an
    /// AS path whose leftmost AS is not the peer's (an empty path has none)
    /// makes the whole UPDATE treat-as-withdraw: every announced prefix is
    /// withdrawn as if listed in Withdrawn Routes (RFC 7606 §2), and counted
    /// in [`super::PeerCounts::first_as_total`].
    ///
    /// Errors when the peer now has more accepted prefixes than its
    /// `max_prefixes`; the update has been applied, the caller sends
    /// Cease/1 and calls [`Rib::peer_down`].
    pub fn apply(
        &mut self,
        id: PeerId,
        withdrawn: &[IpNet],
        announced: &[IpNet],
        attrs: Option<&PathAttributes>,
    ) -> Result<ApplyOutcome, MaxPrefixExceeded> {
        self.apply_paths(id, (withdrawn, &[]), (announced, &[]), attrs)
    }

    /// [`Rib::apply`] with ADD-PATH Path Identifiers (RFC 7911): `withdrawn`
    /// and `announced` are each (prefixes, their identifiers), the
    /// identifiers one per prefix or none (as [`crate::wire::routes`] gives
    /// them). For a family the session receives with ADD-PATH
    /// ([`PeerUp::add_path_receive`]) each (prefix, identifier) is a path
    /// of its own: a withdrawal removes that path only, an announcement
    /// adds or replaces it, and every path competes in best path and
    /// multipath. Otherwise identifiers are ignored: one path per prefix.
    /// More than 256 paths of one prefix from one peer: the rest are
    /// ignored (counted as filtered).
    pub fn apply_paths(
        &mut self,
        id: PeerId,
        (withdrawn, withdrawn_ids): (&[IpNet], &[u32]),
        (announced, announced_ids): (&[IpNet], &[u32]),
        attrs: Option<&PathAttributes>,
    ) -> Result<ApplyOutcome, MaxPrefixExceeded> {
        let mut out = ApplyOutcome::default();
        let Some(slot) = self.slot(id) else {
            out.ignored = true;
            return Ok(out);
        };
        let Some(p) = self.peer(slot) else {
            out.ignored = true;
            return Ok(out);
        };
        if p.session.is_none() {
            out.ignored = true;
            return Ok(out);
        }
        let ebgp = p.ebgp;
        let accept_all = p.config.import.is_accept_all();
        let limit = p.config.max_prefixes;
        // RFC 4271 §6.3: "If the UPDATE message is received from an
        // external peer, the local system MAY check whether the leftmost
        // [...] AS in the AS_PATH attribute is equal to the autonomous
        // system number of the peer that sent the message." RFC 7606 §7.2
        // revises the NOTIFICATION it asked for into treat-as-withdraw.
        // `first_as` is the path after the AS4_PATH merge; a path that is
        // empty or starts with anything but an AS_SEQUENCE has no such AS
        // (an eBGP speaker prepends an AS_SEQUENCE, RFC 4271 §5.1.2).
        let first_as_mismatch = ebgp
            && p.config.enforce_first_as
            && !announced.is_empty()
            && attrs.is_some_and(|a| a.as_path.first_as() != Some(p.config.asn));

        for (i, w) in withdrawn.iter().enumerate() {
            let prefix = w.trunc();
            self.unfilter(slot, &prefix);
            let Some(src) = self.known_src(slot, prefix, withdrawn_ids.get(i)) else {
                continue;
            };
            if self.remove_learned(src, prefix, &mut out) {
                out.withdrawn += 1;
            }
        }

        // The last prefix that added to the accepted count: its family is
        // the one a max-prefix NOTIFICATION names.
        let mut last_new: Option<IpNet> = None;
        if first_as_mismatch {
            if let Some(p) = self.peer_mut(slot) {
                p.first_as_total += announced.len() as u64;
            }
            for (i, a) in announced.iter().enumerate() {
                let prefix = a.trunc();
                out.first_as += 1;
                self.unfilter(slot, &prefix);
                let Some(src) = self.known_src(slot, prefix, announced_ids.get(i)) else {
                    continue;
                };
                if self.remove_learned(src, prefix, &mut out) {
                    out.withdrawn += 1;
                }
            }
        } else if let (Some(attrs), false) = (attrs, announced.is_empty()) {
            let looped = ebgp && attrs.as_path.contains(self.local.asn);
            // RFC 4456 §8: "A router that recognizes the ORIGINATOR_ID
            // attribute SHOULD ignore a route received with its BGP
            // Identifier as the ORIGINATOR_ID." "If the local CLUSTER_ID is
            // found in the CLUSTER_LIST, the advertisement received SHOULD
            // be ignored."
            let reflected_loop = !ebgp
                && (attrs.originator_id() == Some(self.local.router_id)
                    || attrs.cluster_list().contains(&self.cache.cluster_id()));
            let looped = looped || reflected_loop;
            let no_rules = self
                .peer(slot)
                .is_none_or(|p| p.config.import_rules.is_empty());
            // What is stored when nothing changes it (LOCAL_PREF is not
            // taken from eBGP).
            let mut base: Option<Cow<'_, PathAttributes>> = (!looped).then(|| {
                if ebgp && (attrs.local_pref.is_some() || attrs.reflection.is_some()) {
                    let mut a = attrs.clone();
                    a.local_pref = None;
                    a.reflection = None;
                    Cow::Owned(a)
                } else {
                    Cow::Borrowed(attrs)
                }
            });
            // Its interned copy: at once without rules (every accepted
            // prefix shares it); with rules only once a prefix keeps it
            // unchanged, so that rules that change every route leave no
            // unused copy in the interner.
            let mut shared: Option<Arc<PathAttributes>> = None;
            if no_rules {
                shared = base.take().map(|b| match b {
                    Cow::Owned(a) => self.interner.intern_owned(a),
                    Cow::Borrowed(a) => self.interner.intern(a),
                });
            }
            // The changed attributes per import rule, for this UPDATE.
            let mut by_rule = Vec::new();
            for (i, a) in announced.iter().enumerate() {
                let prefix = a.trunc();
                let path_id = announced_ids.get(i);
                let permitted = accept_all
                    || self
                        .peer(slot)
                        .is_some_and(|p| p.config.import.permits(&prefix));
                let chosen = if looped || !permitted {
                    None
                } else if no_rules {
                    shared.clone().map(|s| (s, None))
                } else {
                    base.as_deref().and_then(|b| {
                        self.import_rules(slot, &prefix, b, &mut shared, &mut by_rule)
                    })
                };
                // The path's source; `None`: one path too many.
                let src = match chosen {
                    Some(_) => self.new_src(slot, prefix, path_id),
                    None => None,
                };
                match chosen.zip(src) {
                    Some(((attrs, rule), src)) => {
                        self.unfilter(slot, &prefix);
                        let path = Path {
                            attrs,
                            src,
                            stale: false,
                            rule: rule_byte(rule),
                        };
                        let d = self.set_path(prefix, src, Some(path));
                        if d.best_changed {
                            out.best_changed += 1;
                        }
                        if let Some(p) = self.peer_mut(slot) {
                            match d.previous {
                                None => p.accepted += 1,
                                Some(true) => {
                                    p.stale = p.stale.saturating_sub(1);
                                    p.accepted += 1;
                                }
                                Some(false) => {}
                            }
                        }
                        if d.previous != Some(false) {
                            last_new = Some(prefix);
                        }
                        out.accepted += 1;
                    }
                    None => {
                        if reflected_loop {
                            out.reflected_loops += 1;
                        } else if looped {
                            out.looped += 1;
                        } else {
                            out.filtered += 1;
                        }
                        if let Some(p) = self.peer_mut(slot) {
                            p.filtered.insert(prefix);
                            if reflected_loop {
                                p.reflected_loops_total += 1;
                            } else if looped {
                                p.looped_total += 1;
                            }
                        }
                        if let Some(src) = self.known_src(slot, prefix, path_id) {
                            self.remove_learned(src, prefix, &mut out);
                        }
                    }
                }
            }
        }
        self.maybe_sweep();

        let accepted = self.peer(slot).map_or(0, |p| p.accepted);
        match limit {
            Some(limit) if accepted > u64::from(limit) => Err(MaxPrefixExceeded {
                peer: id,
                limit,
                accepted,
                family: match last_new.or_else(|| announced.first().copied()) {
                    Some(IpNet::V6(_)) => AddrFamily::IPV6_UNICAST,
                    _ => AddrFamily::IPV4_UNICAST,
                },
            }),
            _ => Ok(out),
        }
    }

    /// The attributes `slot`'s import rules give `prefix` announced with
    /// `attrs`, and the rule that matched; `None` when a rule rejects it.
    /// `shared` is `attrs` interned, once needed; `memo` holds the changed
    /// attributes per rule; both for the rest of the UPDATE (same `attrs`).
    fn import_rules(
        &mut self,
        slot: u32,
        prefix: &IpNet,
        attrs: &PathAttributes,
        shared: &mut Option<Arc<PathAttributes>>,
        memo: &mut Vec<Option<Arc<PathAttributes>>>,
    ) -> Option<(Arc<PathAttributes>, Option<usize>)> {
        let Rib {
            peers,
            interner,
            local,
            ..
        } = self;
        let rules = &peers.get(slot as usize)?.as_ref()?.config.import_rules;
        let verdict = rules.evaluate(prefix, attrs);
        let set = match verdict {
            Verdict::Reject(_) => return None,
            Verdict::NoMatch => None,
            Verdict::Accept(i) => rules.changes(i),
        };
        let rule = verdict.rule();
        let Some((i, set)) = rule.zip(set) else {
            let unchanged = shared.get_or_insert_with(|| interner.intern(attrs));
            return Some((unchanged.clone(), rule));
        };
        if memo.len() <= i {
            memo.resize(i + 1, None);
        }
        let changed =
            memo[i].get_or_insert_with(|| interner.intern_owned(set.apply(attrs, local.asn)));
        Some((changed.clone(), rule))
    }

    /// Forget that `prefix` was filtered for `slot`.
    fn unfilter(&mut self, slot: u32, prefix: &IpNet) {
        if let Some(p) = self.peer_mut(slot)
            && !p.filtered.is_empty()
        {
            p.filtered.remove(prefix);
        }
    }

    /// Whether peer `slot` sends `prefix` with Path Identifiers.
    fn with_ids(&self, slot: u32, prefix: &IpNet) -> bool {
        self.peer(slot)
            .and_then(|p| p.session.as_ref())
            .is_some_and(|s| s.add_path_receive.contains(family_of(prefix)))
    }

    /// The source of peer `slot`'s path of `prefix` with identifier `id`
    /// (without ADD-PATH: the slot), if that path has one.
    fn known_src(&self, slot: u32, prefix: IpNet, id: Option<&u32>) -> Option<u32> {
        if !self.with_ids(slot, &prefix) {
            return Some(slot);
        }
        let id = id.copied().unwrap_or(0);
        let p = self.peer(slot)?;
        p.path_ids.index(prefix, id).map(|i| src_of(slot, i))
    }

    /// The source for peer `slot`'s path of `prefix` with identifier `id`,
    /// given an index if new; `None` when the peer has all 256 already.
    fn new_src(&mut self, slot: u32, prefix: IpNet, id: Option<&u32>) -> Option<u32> {
        if !self.with_ids(slot, &prefix) {
            return Some(slot);
        }
        let id = id.copied().unwrap_or(0);
        let p = self.peer_mut(slot)?;
        p.path_ids.assign(prefix, id).map(|i| src_of(slot, i))
    }

    /// Remove the path of `src` for `prefix`, keeping counters; whether
    /// there was one.
    fn remove_learned(&mut self, src: u32, prefix: IpNet, out: &mut ApplyOutcome) -> bool {
        let slot = slot_of(src);
        let d = self.set_path(prefix, src, None);
        self.release_index(prefix, src);
        if d.best_changed {
            out.best_changed += 1;
        }
        let Some(prev_stale) = d.previous else {
            return false;
        };
        if let Some(p) = self.peer_mut(slot) {
            if prev_stale {
                p.stale = p.stale.saturating_sub(1);
            } else {
                p.accepted = p.accepted.saturating_sub(1);
            }
        }
        true
    }
}
