//! Best-path selection (RFC 4271 §9.1.2.2 plus the usual tie-breaks):
//! [`compare`] decides between two candidates and names the step that
//! decided ([`Reason`]); [`select`] picks the best of many.
//!
//! Steps, in order: higher LOCAL_PREF (missing = 100); locally originated
//! over learned; shorter AS path; lower ORIGIN (IGP < EGP < INCOMPLETE);
//! lower MED, only between paths from the same neighbor AS (missing = 0);
//! eBGP over iBGP; (IGP cost to the next hop: skipped, next-hop
//! reachability is not modeled); lower BGP identifier of the peer (its
//! ORIGINATOR_ID when the path carries one, RFC 4456 §9); shorter
//! CLUSTER_LIST (RFC 4456 §9, missing = 0); lower peer address.
//!
//! Because MED is compared only within a neighbor AS, [`compare`] is not
//! transitive over three or more paths. [`select`] therefore works like
//! "deterministic MED": it picks the best path of each neighbor AS first,
//! then the best of those winners, so the result does not depend on the
//! order in which paths arrived. When some path beats every other one
//! under [`compare`], that path is what [`select`] returns.
//!
//! Multipath ([`multipath_equal`]): a learned path is as good as the best
//! one for ECMP when the two tie through every step before the router-id,
//! cluster-list and peer-address tie-breaks and come from the same neighbor AS (FRR's
//! `maximum-paths` default; BIRD's `merge paths`).

use std::cmp::Ordering;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use crate::model::{Origin, PathAttributes};

/// LOCAL_PREF assumed when the attribute is absent.
pub const DEFAULT_LOCAL_PREF: u32 = 100;

/// Where a candidate path comes from, as far as selection cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CandidateSource {
    /// Originated by this router.
    Local,
    /// Learned from a peer.
    Peer {
        /// The session is eBGP (peer AS differs from ours).
        ebgp: bool,
        /// The peer's BGP identifier (from its OPEN).
        router_id: Ipv4Addr,
        /// The peer's address.
        addr: IpAddr,
    },
}

/// One path as seen by the decision process.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// The path's attributes (as stored, after import).
    pub attrs: &'a PathAttributes,
    /// Where it comes from.
    pub source: CandidateSource,
}

/// The step that decided between the best path and the runner-up (or
/// between two compared paths). Values are `(winner's, loser's)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// There was no other path.
    OnlyPath,
    /// Locally originated beats learned.
    LocalOrigin,
    /// Higher LOCAL_PREF.
    HigherLocalPref(u32, u32),
    /// Shorter AS path.
    ShorterAsPath(usize, usize),
    /// Lower ORIGIN.
    LowerOrigin(Origin, Origin),
    /// Lower MED (same neighbor AS).
    LowerMed(u32, u32),
    /// eBGP-learned beats iBGP-learned.
    EbgpOverIbgp,
    /// Lower BGP identifier of the peer.
    LowerRouterId(Ipv4Addr, Ipv4Addr),
    /// Lower BGP identifier, where at least one of the two paths was
    /// reflected and its ORIGINATOR_ID stood for the peer's (RFC 4456 §9).
    LowerOriginatorId(Ipv4Addr, Ipv4Addr),
    /// Shorter CLUSTER_LIST (RFC 4456 §9).
    ShorterClusterList(usize, usize),
    /// Lower peer address (also reported when every step ties).
    LowerPeerAddress(IpAddr, IpAddr),
}

fn origin_name(o: Origin) -> &'static str {
    match o {
        Origin::Igp => "IGP",
        Origin::Egp => "EGP",
        Origin::Incomplete => "INCOMPLETE",
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::OnlyPath => write!(f, "only path"),
            Reason::LocalOrigin => write!(f, "locally originated"),
            Reason::HigherLocalPref(w, l) => write!(f, "higher local-pref ({w} > {l})"),
            Reason::ShorterAsPath(w, l) => write!(f, "shorter AS path ({w} < {l})"),
            Reason::LowerOrigin(w, l) => write!(
                f,
                "lower origin ({} < {})",
                origin_name(*w),
                origin_name(*l)
            ),
            Reason::LowerMed(w, l) => write!(f, "lower MED ({w} < {l})"),
            Reason::EbgpOverIbgp => write!(f, "eBGP over iBGP"),
            Reason::LowerRouterId(w, l) => write!(f, "lower router id ({w} < {l})"),
            Reason::LowerOriginatorId(w, l) => {
                write!(f, "lower originator id ({w} < {l})")
            }
            Reason::ShorterClusterList(w, l) => {
                write!(f, "shorter cluster list ({w} < {l})")
            }
            Reason::LowerPeerAddress(w, l) => write!(f, "lower peer address ({w} < {l})"),
        }
    }
}

/// Decide between `a` and `b`: `Ordering::Less` means `a` is better (sorts
/// first), `Greater` that `b` is; the [`Reason`] names the deciding step
/// with `(winner's, loser's)` values. `Equal` only when every step ties
/// (then the reason is [`Reason::LowerPeerAddress`] with equal values).
pub fn compare(a: &Candidate<'_>, b: &Candidate<'_>) -> (Ordering, Reason) {
    // Each step yields the ordering and a reason built from the values
    // arranged (winner, loser).
    fn pick<T: Copy>(ord: Ordering, a: T, b: T, mk: fn(T, T) -> Reason) -> (Ordering, Reason) {
        match ord {
            Ordering::Greater => (ord, mk(b, a)),
            _ => (ord, mk(a, b)),
        }
    }

    // a) LOCAL_PREF: higher first.
    let (lpa, lpb) = (local_pref(a.attrs), local_pref(b.attrs));
    if lpa != lpb {
        return pick(lpb.cmp(&lpa), lpa, lpb, Reason::HigherLocalPref);
    }
    // Locally originated over learned.
    let (la, lb) = (is_local(a), is_local(b));
    if la != lb {
        let ord = if la {
            Ordering::Less
        } else {
            Ordering::Greater
        };
        return (ord, Reason::LocalOrigin);
    }
    // b) AS path length: shorter first.
    let (pa, pb) = (a.attrs.as_path.path_len(), b.attrs.as_path.path_len());
    if pa != pb {
        return pick(pa.cmp(&pb), pa, pb, Reason::ShorterAsPath);
    }
    // c) ORIGIN: lower first.
    let (oa, ob) = (a.attrs.origin, b.attrs.origin);
    if oa != ob {
        return pick(oa.cmp(&ob), oa, ob, Reason::LowerOrigin);
    }
    // d) MED: lower first, only within the same neighbor AS.
    if same_neighbor_as(a.attrs, b.attrs) {
        let (ma, mb) = (a.attrs.med.unwrap_or(0), b.attrs.med.unwrap_or(0));
        if ma != mb {
            return pick(ma.cmp(&mb), ma, mb, Reason::LowerMed);
        }
    }
    // e) eBGP over iBGP.
    let (ea, eb) = (is_ebgp(a), is_ebgp(b));
    if ea != eb {
        let ord = if ea {
            Ordering::Less
        } else {
            Ordering::Greater
        };
        return (ord, Reason::EbgpOverIbgp);
    }
    // f) IGP cost: not modeled.
    match (a.source, b.source) {
        (
            CandidateSource::Peer {
                router_id: ra,
                addr: aa,
                ..
            },
            CandidateSource::Peer {
                router_id: rb,
                addr: ab,
                ..
            },
        ) => {
            // g) lowest BGP identifier; RFC 4456 §9: "If a route carries
            // the ORIGINATOR_ID attribute, then in Step f) [...] the
            // ORIGINATOR_ID SHOULD be treated as the BGP Identifier".
            let (oa, ob) = (a.attrs.originator_id(), b.attrs.originator_id());
            let (ia, ib) = (oa.unwrap_or(ra), ob.unwrap_or(rb));
            if ia != ib {
                let mk = if oa.is_some() || ob.is_some() {
                    Reason::LowerOriginatorId
                } else {
                    Reason::LowerRouterId
                };
                return pick(ia.cmp(&ib), ia, ib, mk);
            }
            // RFC 4456 §9, between the identifier and the peer address:
            // prefer the shorter CLUSTER_LIST (missing = length 0).
            let (ca, cb) = (a.attrs.cluster_list().len(), b.attrs.cluster_list().len());
            if ca != cb {
                return pick(ca.cmp(&cb), ca, cb, Reason::ShorterClusterList);
            }
            // h) lowest peer address.
            pick(aa.cmp(&ab), aa, ab, Reason::LowerPeerAddress)
        }
        // Two local paths (never two for one prefix in the RIB).
        _ => {
            let unspecified = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
            (
                Ordering::Equal,
                Reason::LowerPeerAddress(unspecified, unspecified),
            )
        }
    }
}

/// Whether `other` may share the traffic of `best` (ECMP): both learned,
/// from the same neighbor AS, and [`compare`] decides between them only at
/// the router-id (or originator-id), cluster-list or peer-address
/// tie-break.
pub fn multipath_equal(best: &Candidate<'_>, other: &Candidate<'_>) -> bool {
    if is_local(best) || is_local(other) || !same_neighbor_as(best.attrs, other.attrs) {
        return false;
    }
    matches!(
        compare(best, other).1,
        Reason::LowerRouterId(..)
            | Reason::LowerOriginatorId(..)
            | Reason::ShorterClusterList(..)
            | Reason::LowerPeerAddress(..)
    )
}

/// The LOCAL_PREF used for selection (missing = [`DEFAULT_LOCAL_PREF`]).
pub fn local_pref(a: &PathAttributes) -> u32 {
    a.local_pref.unwrap_or(DEFAULT_LOCAL_PREF)
}

/// Whether MED may be compared between the two paths: same neighbor AS
/// (the first AS of the path; both empty counts as the same, internal).
pub fn same_neighbor_as(a: &PathAttributes, b: &PathAttributes) -> bool {
    a.as_path.first_as() == b.as_path.first_as()
}

fn is_local(c: &Candidate<'_>) -> bool {
    matches!(c.source, CandidateSource::Local)
}

fn is_ebgp(c: &Candidate<'_>) -> bool {
    matches!(c.source, CandidateSource::Peer { ebgp: true, .. })
}

/// Whether candidate `i` beats `j`; ties (every step equal) go to the one
/// with the lower `order` key, so the result is independent of input order.
fn beats(cands: &[(Candidate<'_>, u64)], i: usize, j: usize) -> bool {
    match compare(&cands[i].0, &cands[j].0).0 {
        Ordering::Less => true,
        Ordering::Greater => false,
        Ordering::Equal => cands[i].1 < cands[j].1,
    }
}

/// The index of the best candidate (deterministic MED, see the module doc);
/// `None` when `cands` is empty. The `u64` of each candidate is a unique
/// tie-break key, used only when [`compare`] says `Equal`.
pub fn select(cands: &[(Candidate<'_>, u64)]) -> Option<usize> {
    match cands.len() {
        0 => None,
        1 => Some(0),
        // With two paths, compare decides directly (it skips MED across
        // neighbor ASes by itself).
        2 => Some(if beats(cands, 1, 0) { 1 } else { 0 }),
        _ => {
            // Best per neighbor AS first: within one AS the steps form a
            // lexicographic order, so the fold is order independent.
            let mut winners: Vec<usize> = Vec::new();
            for i in 0..cands.len() {
                let slot = winners
                    .iter_mut()
                    .find(|w| same_neighbor_as(cands[**w].0.attrs, cands[i].0.attrs));
                match slot {
                    Some(w) => {
                        if beats(cands, i, *w) {
                            *w = i;
                        }
                    }
                    None => winners.push(i),
                }
            }
            // Between neighbor ASes MED is skipped: again lexicographic.
            let mut best = winners.first().copied()?;
            for &w in winners.iter().skip(1) {
                if beats(cands, w, best) {
                    best = w;
                }
            }
            Some(best)
        }
    }
}

/// The path a non-best candidate `i` lost to: the winner of its neighbor AS
/// if that is not `i` itself, else `best`. With [`select`]'s two stages
/// this names the comparison that really eliminated `i`.
pub fn beaten_by(cands: &[(Candidate<'_>, u64)], best: usize, i: usize) -> usize {
    let mut group_winner = i;
    for j in 0..cands.len() {
        if same_neighbor_as(cands[j].0.attrs, cands[i].0.attrs) && beats(cands, j, group_winner) {
            group_winner = j;
        }
    }
    if group_winner == i {
        best
    } else {
        group_winner
    }
}
