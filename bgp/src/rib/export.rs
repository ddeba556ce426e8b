//! Export: which best routes a peer may receive, with which outgoing
//! attributes, and the per-peer pending changes drained by
//! [`Rib::take_exports`].
//!
//! Rules, in order (a route failing one is not sent, and a peer that held
//! it gets a withdrawal):
//! - only families the peer negotiated;
//! - never back to the peer it was learned from;
//! - iBGP split horizon: learned from iBGP, not sent to iBGP, unless we
//!   reflect it (RFC 4456 §8): a route from a route-reflector client goes
//!   to every other iBGP peer, one from a non-client to clients only (a
//!   speaker without clients never reflects); not to the peer whose router
//!   id is its ORIGINATOR_ID (it would drop it);
//! - NO_ADVERTISE: sent to nobody; NO_EXPORT and NO_EXPORT_SUBCONFED: not
//!   to eBGP (no confederations);
//! - towards eBGP, not when the peer's AS is already in the path (it would
//!   drop it as a loop);
//! - the peer's export policy;
//! - there must be a next hop to send (see below);
//! - the peer's export rules ([`super::Rules`], matched on the route as in
//!   the Loc-RIB): a rejecting rule stops it, an accepting one changes the
//!   outgoing attributes (after the transform below, so a MED it sets
//!   goes to eBGP too, and a prepend adds to ours).
//!
//! Outgoing attributes: towards eBGP our AS is prepended, the next hop is
//! our session address of the prefix's family (a family without one is not
//! sent), LOCAL_PREF is stripped and a learned MED too (RFC 4271 §5.1.4:
//! not propagated to other ASes; a locally originated route's MED and an
//! export rule's are ours and go). Towards iBGP: LOCAL_PREF kept
//! (default 100 filled in), no prepend (a local route's prepends are for
//! eBGP), next hop unchanged unless `next_hop_self`; locally originated
//! routes always get our session address when it is known. A reflected
//! route keeps its next hop (whatever `next_hop_self` says) and
//! LOCAL_PREF, gets ORIGINATOR_ID (the
//! source peer's router id, unless it already has one) and our cluster id
//! prepended to CLUSTER_LIST; towards eBGP both are stripped. Transforms
//! are cached per (incoming attributes, class), see [`super::intern`];
//! reflections per (outgoing attributes, originator); export rule results
//! per (outgoing attributes, peer, rule).

use std::borrow::Cow;
use std::net::Ipv4Addr;
use std::sync::Arc;

use ipnet::IpNet;

use super::add_path_out::{PathExport, take_paths};
use super::adj_in::family_of;
use super::hash::FastMap;
use super::intern::{ClassId, Interner, TransformCache};
use super::journal::for_each_changed;
use super::loc_rib::{BestKey, LOCAL, Paths, PrefixMap, slot_of};
use super::peer::{OutState, Peer, Session};
use super::rules::{Set, Verdict};
use super::{PeerId, Rib};
use crate::model::{AddrFamily, PathAttributes};

/// ADD-PATH announcements sharing one attribute set: (prefix, Path
/// Identifier) each.
pub type PathGroup = (Arc<PathAttributes>, Vec<(IpNet, u32)>);

/// The pending Adj-RIB-Out changes for one peer. Encode the withdrawals
/// and announcements (each prefix appears at most once overall), then the
/// End-of-RIB markers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Export {
    /// Announcements grouped by identical outgoing attributes (already
    /// transformed for this peer); each group holds one family only.
    pub announce: Vec<(Arc<PathAttributes>, Vec<IpNet>)>,
    /// Withdrawn prefixes.
    pub withdraw: Vec<IpNet>,
    /// End-of-RIB markers (after the initial table dump).
    pub end_of_rib: Vec<AddrFamily>,
    /// In the families the peer gets several paths per prefix in (ADD-PATH
    /// send, RFC 7911): announcements as (prefix, Path Identifier),
    /// grouped by outgoing attributes, one family per group. `announce`
    /// and `withdraw` hold none of those families.
    pub announce_paths: Vec<PathGroup>,
    /// ADD-PATH send families: withdrawn (prefix, Path Identifier).
    pub withdraw_paths: Vec<(IpNet, u32)>,
}

impl Export {
    /// Whether there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.announce.is_empty()
            && self.withdraw.is_empty()
            && self.end_of_rib.is_empty()
            && self.announce_paths.is_empty()
            && self.withdraw_paths.is_empty()
    }

    /// Number of announced prefixes (paths, with ADD-PATH).
    pub fn announced_len(&self) -> usize {
        self.announce.iter().map(|(_, v)| v.len()).sum::<usize>()
            + self
                .announce_paths
                .iter()
                .map(|(_, v)| v.len())
                .sum::<usize>()
    }
}

/// What the export rules need about the target peer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    pub(crate) slot: u32,
    pub(crate) ebgp: bool,
    /// A route-reflector client (RFC 4456): gets routes reflected from
    /// every iBGP peer.
    pub(crate) client: bool,
    /// Its BGP identifier: a reflected route whose ORIGINATOR_ID it is
    /// would only be dropped there.
    pub(crate) router_id: Ipv4Addr,
    /// Its AS: a path holding it is not sent to an eBGP peer.
    pub(crate) peer_asn: u32,
    pub(crate) session: &'a Session,
    pub(crate) policy: &'a super::PrefixPolicy,
    pub(crate) rules: &'a super::Rules,
}

impl<'a> Target<'a> {
    /// The target view of an established peer.
    pub(crate) fn of(slot: u32, p: &'a Peer) -> Option<Target<'a>> {
        Some(Target {
            slot,
            ebgp: p.ebgp,
            client: p.config.route_reflector_client,
            router_id: p.router_id,
            peer_asn: p.config.asn,
            session: p.session.as_ref()?,
            policy: &p.config.export,
            rules: &p.config.export_rules,
        })
    }
}

/// What export needs about the peer a best path came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Src {
    /// The source is an eBGP peer.
    pub(crate) ebgp: bool,
    /// The source is a route-reflector client.
    pub(crate) client: bool,
    /// Its BGP identifier: the ORIGINATOR_ID of a reflected route that has
    /// none yet. Unspecified for a source that no longer exists.
    pub(crate) router_id: Ipv4Addr,
}

/// What export needs about the source slot (`None`: local route).
pub(crate) fn src_info(peers: &[Option<Peer>], src: u32) -> Option<Src> {
    if src == LOCAL {
        return None;
    }
    // A path's source peer exists while it has paths; treat a missing one
    // as iBGP-learned and not reflectable (the most restrictive).
    Some(
        match peers.get(slot_of(src) as usize).and_then(Option::as_ref) {
            Some(p) => Src {
                ebgp: p.ebgp,
                client: p.config.route_reflector_client,
                router_id: p.router_id,
            },
            None => Src {
                ebgp: false,
                client: false,
                router_id: Ipv4Addr::UNSPECIFIED,
            },
        },
    )
}

/// The export decision for one prefix, the part that does not look at the
/// attributes: the transform class and, for a route we reflect, the
/// ORIGINATOR_ID it gets when it has none; `None` when the peer must not
/// hold the route. The rest (communities, AS loop, next hop) is decided
/// with the cached transform ([`super::intern::transform`]).
pub(crate) fn decide(
    t: &Target<'_>,
    prefix: &IpNet,
    src: u32,
    src_info: Option<Src>,
) -> Option<(ClassId, Option<Ipv4Addr>)> {
    let classes = t.session.classes(prefix)?;
    if slot_of(src) == t.slot {
        return None;
    }
    let mut reflect = None;
    if let Some(s) = src_info
        && !s.ebgp
        && !t.ebgp
    {
        // RFC 4456 §8: "A route from a Client peer: Reflect to all the
        // Non-Client peers and also to the Client peers." "A route from a
        // Non-Client peer: Reflect to all the Clients." Otherwise the iBGP
        // split horizon holds (and a speaker with no client is no
        // reflector: this is the only extra test on its path).
        if !(s.client || t.client) || s.router_id.is_unspecified() {
            return None;
        }
        reflect = Some(s.router_id);
    }
    if !t.policy.is_accept_all() && !t.policy.permits(prefix) {
        return None;
    }
    let class = if src == LOCAL {
        classes.local
    } else if reflect.is_some() {
        classes.reflected
    } else {
        classes.learned
    };
    Some((class?, reflect))
}

/// The outgoing attributes for one prefix, interned (`None`: not sent).
pub(crate) fn export_attrs(
    cache: &mut TransformCache,
    interner: &mut Interner,
    asn: u32,
    t: &Target<'_>,
    prefix: &IpNet,
    best: Option<(u32, &Arc<PathAttributes>)>,
    src_info: Option<Src>,
) -> Option<Arc<PathAttributes>> {
    let (src, attrs) = best?;
    let (class, reflect) = decide(t, prefix, src, src_info)?;
    if loops_at(t, attrs) || (reflect.is_some() && reflects_to_originator(t, attrs)) {
        return None;
    }
    let mut out = cache.get(interner, asn, attrs, class)?;
    if let Some(originator) = reflect {
        out = cache.reflect(interner, &out, originator);
    }
    if t.rules.is_empty() {
        return Some(out);
    }
    match t.rules.evaluate(prefix, attrs) {
        Verdict::NoMatch => Some(out),
        Verdict::Reject(_) => None,
        Verdict::Accept(i) => match rule_changes(t, i) {
            None => Some(out),
            Some(set) => Some(cache.apply_rule(interner, asn, &out, (t.slot, i as u32), &set)),
        },
    }
}

/// Whether `t` is an eBGP peer whose AS is in the route's AS path: it
/// would drop the route as a loop (RFC 4271 §9.1.2), so it is not sent.
/// Checked per peer, outside the transform cache, so that eBGP peers of
/// different ASes share one cached transform per attribute set.
pub(crate) fn loops_at(t: &Target<'_>, attrs: &PathAttributes) -> bool {
    t.ebgp && attrs.as_path.contains(t.peer_asn)
}

/// Whether a route we would reflect to `t` already has `t`'s router id as
/// ORIGINATOR_ID: `t` would ignore it (RFC 4456 §8), so it is not sent, as
/// BIRD and FRR do too.
pub(crate) fn reflects_to_originator(t: &Target<'_>, attrs: &PathAttributes) -> bool {
    attrs.originator_id() == Some(t.router_id)
}

/// The changes export rule `i` makes towards `t` (LOCAL_PREF never goes
/// to eBGP), `None` when it makes none.
pub(crate) fn rule_changes<'a>(t: &Target<'a>, i: usize) -> Option<Cow<'a, Set>> {
    let set = t.rules.changes(i)?;
    if !t.ebgp || set.local_pref.is_none() {
        return Some(Cow::Borrowed(set));
    }
    let mut set = set.clone();
    set.local_pref = None;
    (!set.is_empty()).then_some(Cow::Owned(set))
}

/// The best path of `prefix` changed from `old`; the entry's stamp was
/// `stamp_before`. Every peer for which this is the first change of the
/// prefix since its last take, and that held a route for it, gets that
/// route kept.
pub(crate) fn record_old(
    peers: &mut [Option<Peer>],
    cache: &mut TransformCache,
    interner: &mut Interner,
    asn: u32,
    prefix: IpNet,
    old: &Option<BestKey>,
    stamp_before: u64,
) {
    // No best route before: nobody held anything.
    let Some((old_src, old_attrs)) = old else {
        return;
    };
    let old_src_info = src_info(peers, *old_src);
    for (slot, p) in peers.iter_mut().enumerate() {
        let Some(Peer {
            ebgp,
            config,
            router_id,
            session: Some(session),
            out,
            ..
        }) = p
        else {
            continue;
        };
        if !out.recording() || stamp_before >= out.cursor {
            continue;
        }
        let t = Target {
            slot: slot as u32,
            ebgp: *ebgp,
            client: config.route_reflector_client,
            router_id: *router_id,
            peer_asn: config.asn,
            session,
            policy: &config.export,
            rules: &config.export_rules,
        };
        let best = Some((*old_src, old_attrs));
        if let Some(held) = export_attrs(cache, interner, asn, &t, &prefix, best, old_src_info) {
            out.held.insert(prefix, held);
        }
    }
}

/// Groups announcements by outgoing attributes (interned: same address,
/// same value) and family.
#[derive(Debug, Default)]
struct Grouper {
    index: FastMap<(usize, bool), usize>,
    last: Option<((usize, bool), usize)>,
    announce: Vec<(Arc<PathAttributes>, Vec<IpNet>)>,
}

impl Grouper {
    fn add(&mut self, attrs: Arc<PathAttributes>, prefix: IpNet) {
        let key = (Arc::as_ptr(&attrs) as usize, matches!(prefix, IpNet::V4(_)));
        let i = match self.last {
            Some((k, i)) if k == key => i,
            _ => {
                let next = self.announce.len();
                let i = *self.index.entry(key).or_insert(next);
                if i == next {
                    self.announce.push((attrs, Vec::new()));
                }
                self.last = Some((key, i));
                i
            }
        };
        self.announce[i].1.push(prefix);
    }
}

impl Rib {
    /// Take the pending Adj-RIB-Out changes for peer `id` (empty when the
    /// peer is unknown or not established). After the first call following
    /// [`Rib::peer_up`] the peer has the full table and End-of-RIB.
    pub fn take_exports(&mut self, id: PeerId) -> Export {
        let Some(slot) = self.slot(id) else {
            return Export::default();
        };
        let Rib {
            table,
            peers,
            cache,
            interner,
            local,
            journal,
            ..
        } = self;
        let asn = local.asn;
        let Some(peer) = peers.get_mut(slot as usize).and_then(Option::as_mut) else {
            return Export::default();
        };
        if peer.session.is_none() {
            return Export::default();
        }
        let out = std::mem::take(&mut peer.out);
        let peers: &[Option<Peer>] = peers;
        let Some(t) = peers
            .get(slot as usize)
            .and_then(Option::as_ref)
            .and_then(|p| Target::of(slot, p))
        else {
            return Export::default();
        };
        let mut g = Grouper::default();
        let mut withdraw = Vec::new();
        let mut advertised = out.advertised;
        let mut held = out.held;
        // ADD-PATH send families go their own way (add_path_out.rs).
        let by_paths = t.session.add_path_send;
        let plain = |prefix: &IpNet| !by_paths.contains(family_of(prefix));
        let mut sent_paths = out.sent_paths;
        let paths_export = if by_paths.is_empty() {
            PathExport::default()
        } else {
            let limit = peers
                .get(slot as usize)
                .and_then(Option::as_ref)
                .map_or(1, |p| usize::from(p.config.add_path_count.max(1)));
            take_paths(
                (&mut *cache, &mut *interner, asn),
                peers,
                table,
                &t,
                limit,
                &mut sent_paths,
                out.paths_dirty,
                out.full,
            )
        };
        let current = |cache: &mut TransformCache,
                       interner: &mut Interner,
                       prefix: &IpNet,
                       paths: Option<&Paths>| {
            let b = paths?.best();
            let se = src_info(peers, b.src);
            export_attrs(
                cache,
                interner,
                asn,
                &t,
                prefix,
                Some((b.src, &b.attrs)),
                se,
            )
        };
        if out.full {
            advertised = 0;
            for (prefix, paths) in table.iter() {
                if t.session.classes(&prefix).is_none() || !plain(&prefix) {
                    continue;
                }
                if let Some(a) = current(cache, interner, &prefix, Some(paths)) {
                    g.add(a, prefix);
                    advertised += 1;
                }
            }
            for prefix in out.withdraw_unless_exported.iter().filter(|p| plain(p)) {
                let paths = table.get(prefix);
                if current(cache, interner, prefix, paths).is_none() {
                    withdraw.push(*prefix);
                    held.remove(prefix);
                }
            }
            if !out.empty && !held.is_empty() {
                // What the peer held and may no longer have.
                for_each_changed(table, journal, out.cursor, |prefix, paths| {
                    if held.remove(&prefix).is_some()
                        && plain(&prefix)
                        && current(cache, interner, &prefix, paths).is_none()
                    {
                        withdraw.push(prefix);
                    }
                });
            }
        } else {
            let has_held = !held.is_empty();
            for_each_changed(table, journal, out.cursor, |prefix, paths| {
                if t.session.classes(&prefix).is_none() || !plain(&prefix) {
                    return;
                }
                let old = if has_held { held.remove(&prefix) } else { None };
                let new = current(cache, interner, &prefix, paths);
                match (old, new) {
                    (Some(o), Some(n)) if Arc::ptr_eq(&o, &n) => {}
                    (old, Some(n)) => {
                        if old.is_none() {
                            advertised += 1;
                        }
                        g.add(n, prefix);
                    }
                    (Some(_), None) => {
                        advertised = advertised.saturating_sub(1);
                        withdraw.push(prefix);
                    }
                    (None, None) => {}
                }
            });
        }
        let export = Export {
            announce: g.announce,
            withdraw,
            end_of_rib: out.eor,
            announce_paths: paths_export.announce,
            withdraw_paths: paths_export.withdraw,
        };
        let cursor = self.journal.take();
        if let Some(p) = self.peer_mut(slot) {
            p.out = OutState {
                held: PrefixMap::default(),
                cursor,
                full: false,
                empty: false,
                eor: Vec::new(),
                advertised,
                withdraw_unless_exported: Vec::new(),
                sent_paths,
                paths_dirty: Default::default(),
            };
        }
        self.trim_journal();
        self.maybe_sweep();
        export
    }

    /// Re-send the full Adj-RIB-Out to peer `id` at the next
    /// [`Rib::take_exports`] (the peer sent a ROUTE-REFRESH).
    pub fn refresh(&mut self, id: PeerId) {
        if let Some(p) = self.slot(id).and_then(|s| self.peer_mut(s))
            && p.session.is_some()
        {
            p.out.full = true;
        }
    }

    /// The encoder could not put `prefixes` announcements of the last
    /// [`Rib::take_exports`] for peer `id` into any UPDATE (their
    /// attributes do not fit one message): they are counted in
    /// [`super::PeerCounts::unencodable_total`]. The RIB still takes the
    /// peer as holding them (`advertised` includes them), so a later change
    /// is exported as usual.
    pub fn count_unencodable(&mut self, id: PeerId, prefixes: u64) {
        if let Some(p) = self.slot(id).and_then(|s| self.peer_mut(s)) {
            p.unencodable_total += prefixes;
        }
    }
}
