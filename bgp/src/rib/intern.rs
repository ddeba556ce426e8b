//! Interned path attributes: every distinct [`PathAttributes`] value is
//! stored once, behind an `Arc`, however many routes carry it; and the
//! cache of per-peer-class outgoing transforms, so that the export
//! transform runs once per distinct attribute set, not once per prefix.
//!
//! Cleanup is by reference count: an entry that only the interner (and the
//! transform cache) still holds is garbage. Sweeps run when the table has
//! doubled since the last one, so they cost O(1) amortized per intern.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use std::hash::BuildHasher;

use hashbrown::HashTable;

use super::hash::{FastMap, FastState};
use super::rules::Set;
use crate::model::{AsPath, Community, PathAttributes};

/// Below this size the interner never sweeps.
const SWEEP_FLOOR: usize = 1024;

/// The attribute interner: a hash table of (hash, value) pairs, 16 bytes
/// a bucket. The hash is computed once per intern and stored, so growing
/// or sweeping the table never rehashes attributes; two values with the
/// same 64-bit hash (almost never) simply take two buckets.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    map: HashTable<(u64, Arc<PathAttributes>)>,
    state: FastState,
    /// The table size right after the last sweep.
    swept_len: usize,
}

impl Interner {
    /// The shared copy of `attrs`, cloning it on first sight.
    pub(crate) fn intern(&mut self, attrs: &PathAttributes) -> Arc<PathAttributes> {
        self.intern_with(attrs, || attrs.clone())
    }

    /// The shared copy of `attrs`, taking ownership (no clone on first sight).
    pub(crate) fn intern_owned(&mut self, attrs: PathAttributes) -> Arc<PathAttributes> {
        let hash = self.state.hash_one(&attrs);
        if let Some(a) = self.find(hash, &attrs) {
            return a;
        }
        self.insert(hash, Arc::new(attrs))
    }

    fn intern_with(
        &mut self,
        attrs: &PathAttributes,
        make: impl FnOnce() -> PathAttributes,
    ) -> Arc<PathAttributes> {
        let hash = self.state.hash_one(attrs);
        if let Some(a) = self.find(hash, attrs) {
            return a;
        }
        self.insert(hash, Arc::new(make()))
    }

    fn find(&self, hash: u64, attrs: &PathAttributes) -> Option<Arc<PathAttributes>> {
        self.map
            .find(hash, |(h, a)| *h == hash && **a == *attrs)
            .map(|(_, a)| a.clone())
    }

    fn insert(&mut self, hash: u64, a: Arc<PathAttributes>) -> Arc<PathAttributes> {
        self.map.insert_unique(hash, (hash, a.clone()), |(h, _)| *h);
        a
    }

    /// Number of distinct attribute sets held.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether a sweep is due (the table doubled since the last one).
    pub(crate) fn sweep_due(&self) -> bool {
        self.map.len() > SWEEP_FLOOR.max(2 * self.swept_len)
    }

    /// Drop every entry nobody else holds. The caller clears the transform
    /// cache first (it holds references too).
    pub(crate) fn sweep(&mut self) {
        self.map.retain(|(_, a)| Arc::strong_count(a) > 1);
        self.map.shrink_to_fit(|(h, _)| *h);
        self.swept_len = self.map.len();
    }
}

/// What the outgoing transform depends on, besides the attributes: one
/// value per kind of session, next-hop choice and (towards eBGP) peer AS.
/// Peers that share it share the cached transforms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct OutClass {
    /// Towards an eBGP peer: prepend our AS, strip LOCAL_PREF and MED,
    /// honour NO_EXPORT. (Paths holding the peer's own AS are skipped per
    /// peer, before the cache: see [`super::export::loops_at`]. The peer AS
    /// is not part of the class, so that eBGP peers of different ASes share
    /// the cached transforms: with 100 eBGP peers, a class per AS made
    /// 100 cache entries per attribute set.)
    pub(crate) ebgp: bool,
    /// The next hop to set (next-hop-self), or `None` to keep it.
    pub(crate) next_hop: Option<IpAddr>,
    /// For locally originated routes: their MED is ours and goes to eBGP
    /// too, their AS path holds only our prepends (sent to eBGP, not to
    /// iBGP).
    pub(crate) local: bool,
}

/// A registered [`OutClass`], small so that cache keys hash fast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ClassId(u32);

/// A cached transform: the incoming attributes (kept alive so that their
/// address, the key, is not reused) and the outgoing ones.
type Cached = (Arc<PathAttributes>, Option<Arc<PathAttributes>>);

/// Cache of outgoing attributes per (incoming attributes' address, class).
/// Keyed by address so that a lookup does not touch the attributes.
#[derive(Debug)]
pub(crate) struct TransformCache {
    map: FastMap<(usize, ClassId), Cached>,
    /// Registered classes, by id (never cleared: a handful per peer).
    classes: Vec<OutClass>,
    class_ids: FastMap<OutClass, ClassId>,
    /// Export rule results: (outgoing attributes' address, peer slot,
    /// rule) to the changed attributes. Only peers with export rules
    /// that change attributes add entries.
    rules: FastMap<(usize, u32, u32), Cached>,
    /// Reflected attributes (RFC 4456): (outgoing attributes' address,
    /// the originator a route without ORIGINATOR_ID gets) to the result.
    /// Only a route reflector adds entries.
    reflected: FastMap<(usize, Ipv4Addr), Cached>,
    /// Our cluster id, prepended to CLUSTER_LIST on reflection.
    cluster_id: Ipv4Addr,
    /// The last hit: consecutive prefixes often share attributes. The
    /// address is valid because `map` holds the `Arc` it came from (and
    /// `clear` resets this).
    last: Option<(usize, ClassId, Option<Arc<PathAttributes>>)>,
}

impl TransformCache {
    /// A cache for a speaker whose cluster id is `cluster_id`.
    pub(crate) fn new(cluster_id: Ipv4Addr) -> TransformCache {
        TransformCache {
            map: FastMap::default(),
            classes: Vec::new(),
            class_ids: FastMap::default(),
            rules: FastMap::default(),
            reflected: FastMap::default(),
            cluster_id,
            last: None,
        }
    }

    /// Our cluster id (RFC 4456 §7).
    pub(crate) fn cluster_id(&self) -> Ipv4Addr {
        self.cluster_id
    }

    /// Change the cluster id (forgets the reflections made with the old).
    pub(crate) fn set_cluster_id(&mut self, id: Ipv4Addr) {
        if id != self.cluster_id {
            self.cluster_id = id;
            self.reflected = FastMap::default();
        }
    }

    /// `out` as reflected by us (see [`TransformCache::reflected`]),
    /// interned and cached.
    pub(crate) fn reflect(
        &mut self,
        interner: &mut Interner,
        out: &Arc<PathAttributes>,
        originator: Ipv4Addr,
    ) -> Arc<PathAttributes> {
        let key = (Arc::as_ptr(out) as usize, originator);
        if let Some((_, Some(r))) = self.reflected.get(&key) {
            return r.clone();
        }
        let r = interner.intern_owned(self.reflected(out, originator));
        self.reflected.insert(key, (out.clone(), Some(r.clone())));
        r
    }

    /// The cached [`TransformCache::reflect`] result, without computing it.
    pub(crate) fn peek_reflect(
        &self,
        out: &Arc<PathAttributes>,
        originator: Ipv4Addr,
    ) -> Option<Arc<PathAttributes>> {
        let key = (Arc::as_ptr(out) as usize, originator);
        self.reflected.get(&key).and_then(|(_, r)| r.clone())
    }

    /// RFC 4456 §8: the attributes of a route we reflect. "An RR SHOULD
    /// NOT create an ORIGINATOR_ID attribute if one already exists"; else
    /// it is the BGP identifier of the peer the route came from. "When an
    /// RR reflects a route, it MUST prepend the local CLUSTER_ID to the
    /// CLUSTER_LIST." Next hop, LOCAL_PREF and the rest stay as they are.
    pub(crate) fn reflected(&self, out: &PathAttributes, originator: Ipv4Addr) -> PathAttributes {
        let mut list = Vec::with_capacity(out.cluster_list().len() + 1);
        list.push(self.cluster_id);
        list.extend_from_slice(out.cluster_list());
        let mut r = out.clone();
        r.set_reflection(
            Some(out.originator_id().unwrap_or(originator)),
            list.into_boxed_slice(),
        );
        r
    }

    /// The id of `class`, registering it on first sight.
    pub(crate) fn class_id(&mut self, class: OutClass) -> ClassId {
        if let Some(id) = self.class_ids.get(&class) {
            return *id;
        }
        let id = ClassId(self.classes.len() as u32);
        self.classes.push(class);
        self.class_ids.insert(class, id);
        id
    }

    /// The class of a registered id.
    pub(crate) fn class(&self, id: ClassId) -> Option<OutClass> {
        self.classes.get(id.0 as usize).copied()
    }

    /// The outgoing attributes for `attrs` in `class` (local AS `asn`), or
    /// `None` when the route must not be sent in that class.
    pub(crate) fn get(
        &mut self,
        interner: &mut Interner,
        asn: u32,
        attrs: &Arc<PathAttributes>,
        class: ClassId,
    ) -> Option<Arc<PathAttributes>> {
        let addr = Arc::as_ptr(attrs) as usize;
        if let Some((a, c, out)) = &self.last
            && *a == addr
            && *c == class
        {
            return out.clone();
        }
        let out = match self.map.get(&(addr, class)) {
            Some((_, out)) => out.clone(),
            None => {
                let out = self
                    .class(class)
                    .and_then(|c| transform(attrs, asn, c))
                    .map(|o| interner.intern_owned(o));
                self.map.insert((addr, class), (attrs.clone(), out.clone()));
                out
            }
        };
        self.last = Some((addr, class, out.clone()));
        out
    }

    /// The cached result, without computing it (`None`: not cached).
    pub(crate) fn peek(
        &self,
        attrs: &Arc<PathAttributes>,
        class: ClassId,
    ) -> Option<Option<Arc<PathAttributes>>> {
        let addr = Arc::as_ptr(attrs) as usize;
        self.map.get(&(addr, class)).map(|(_, out)| out.clone())
    }

    /// `out` (outgoing attributes for peer `slot`) changed by that peer's
    /// export rule `rule`, whose changes are `set`; cached.
    pub(crate) fn apply_rule(
        &mut self,
        interner: &mut Interner,
        asn: u32,
        out: &Arc<PathAttributes>,
        key: (u32, u32),
        set: &Set,
    ) -> Arc<PathAttributes> {
        let addr = Arc::as_ptr(out) as usize;
        if let Some((_, Some(changed))) = self.rules.get(&(addr, key.0, key.1)) {
            return changed.clone();
        }
        let changed = interner.intern_owned(set.apply(out, asn));
        self.rules
            .insert((addr, key.0, key.1), (out.clone(), Some(changed.clone())));
        changed
    }

    /// The cached [`TransformCache::apply_rule`] result, without computing
    /// it.
    pub(crate) fn peek_rule(
        &self,
        out: &Arc<PathAttributes>,
        key: (u32, u32),
    ) -> Option<Arc<PathAttributes>> {
        let addr = Arc::as_ptr(out) as usize;
        self.rules
            .get(&(addr, key.0, key.1))
            .and_then(|(_, c)| c.clone())
    }

    /// Forget peer `slot`'s export rule results (its rules changed, or the
    /// slot goes to another peer): keys hold the rule's index, not the rule.
    pub(crate) fn forget_rules_of(&mut self, slot: u32) {
        self.rules.retain(|&(_, s, _), _| s != slot);
    }

    /// Forget everything (before an interner sweep).
    pub(crate) fn clear(&mut self) {
        self.map = FastMap::default();
        self.rules = FastMap::default();
        self.reflected = FastMap::default();
        self.last = None;
    }

    /// Number of cached transforms.
    pub(crate) fn len(&self) -> usize {
        self.map.len() + self.rules.len() + self.reflected.len()
    }
}

/// NO_EXPORT_SUBCONFED (RFC 1997), not among the model's constants.
const NO_EXPORT_SUBCONFED: Community = Community(0xFFFF_FF03);

/// The outgoing transform, and the export rules that depend on the
/// attributes only (see [`super::export`]); `None`: not sent in `class`.
pub(crate) fn transform(
    attrs: &PathAttributes,
    asn: u32,
    class: OutClass,
) -> Option<PathAttributes> {
    let comms = &attrs.communities;
    if comms.contains(&Community::NO_ADVERTISE) {
        return None;
    }
    if class.ebgp && (comms.contains(&Community::NO_EXPORT) || comms.contains(&NO_EXPORT_SUBCONFED))
    {
        return None;
    }
    let next_hop = class.next_hop.or(attrs.next_hop);
    next_hop?;
    Some(PathAttributes {
        origin: attrs.origin,
        as_path: match (class.ebgp, class.local) {
            (true, _) => attrs.as_path.prepend(asn),
            // A local route's path holds only prepends meant for eBGP.
            (false, true) => AsPath::default(),
            (false, false) => attrs.as_path.clone(),
        },
        next_hop,
        // Our own link-local address is not known here.
        link_local_next_hop: if class.next_hop.is_some() {
            None
        } else {
            attrs.link_local_next_hop
        },
        // RFC 4271 §5.1.4: a MED received from a neighboring AS must not go
        // to other neighboring ASes. Simplest safe rule: never send a
        // learned MED to eBGP; our own (a static route's, or an export
        // rule's, applied after this) goes.
        med: if class.ebgp && !class.local {
            None
        } else {
            attrs.med
        },
        local_pref: if class.ebgp {
            None
        } else {
            Some(super::best_path::local_pref(attrs))
        },
        atomic_aggregate: attrs.atomic_aggregate,
        aggregator: attrs.aggregator,
        communities: attrs.communities.clone(),
        large_communities: attrs.large_communities.clone(),
        // RFC 4456: both stay inside the AS.
        reflection: if class.ebgp {
            None
        } else {
            attrs.reflection.clone()
        },
        unknown: attrs.unknown.clone(),
    })
}
