//! Locally originated routes: the daemon's static routes marked for
//! advertisement, and routes added at run time by the CLI. ORIGIN IGP,
//! LOCAL_PREF 100, the given next hop (for the FIB; peers get our session
//! address as next hop), and what the static route asks for
//! ([`Origination`]: MED, communities, prepends).
//!
//! A prepend is kept in the stored AS path (our AS `prepend` times), so
//! that `show route` shows it; towards eBGP our AS goes in front once more,
//! towards iBGP the path is sent empty (see [`super::intern::transform`]).

use ipnet::IpNet;
use std::net::IpAddr;

use super::loc_rib::{LOCAL, Path};
use super::rules::prepend;
use super::{DEFAULT_LOCAL_PREF, Rib};
use crate::model::{AsPath, Community, LargeCommunity, Origin, PathAttributes};

/// What a locally originated route carries besides its next hop. The
/// default (nothing) is what [`Rib::originate`] uses.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Origination {
    /// MULTI_EXIT_DISC, sent to every neighbor (eBGP too: it is ours).
    pub med: Option<u32>,
    /// COMMUNITIES.
    pub communities: Vec<Community>,
    /// LARGE_COMMUNITIES.
    pub large_communities: Vec<LargeCommunity>,
    /// Our AS this many extra times in front of the path towards eBGP.
    pub prepend: u8,
}

/// The attributes of a locally originated route.
pub(crate) fn local_attrs(asn: u32, next_hop: Option<IpAddr>, o: &Origination) -> PathAttributes {
    PathAttributes {
        origin: Origin::Igp,
        as_path: prepend(&AsPath::default(), asn, o.prepend),
        next_hop,
        local_pref: Some(DEFAULT_LOCAL_PREF),
        med: o.med,
        communities: o.communities.as_slice().into(),
        large_communities: o.large_communities.as_slice().into(),
        ..PathAttributes::default()
    }
}

impl Rib {
    /// Originate `prefix` (replacing an earlier local route for it). It is
    /// advertised to every established peer allowed to have it.
    pub fn originate(&mut self, prefix: IpNet, next_hop: Option<IpAddr>) {
        self.originate_with(prefix, next_hop, &Origination::default());
    }

    /// [`Rib::originate`] with a MED, communities or prepends.
    pub fn originate_with(&mut self, prefix: IpNet, next_hop: Option<IpAddr>, o: &Origination) {
        let prefix = prefix.trunc();
        let attrs = self
            .interner
            .intern_owned(local_attrs(self.local.asn, next_hop, o));
        let path = Path {
            attrs,
            src: LOCAL,
            stale: false,
            rule: 0,
        };
        let d = self.set_path(prefix, LOCAL, Some(path));
        if d.previous.is_none() {
            self.local_routes += 1;
        }
        self.maybe_sweep();
    }

    /// Stop originating `prefix`; returns whether it was originated.
    pub fn withdraw_local(&mut self, prefix: IpNet) -> bool {
        let d = self.set_path(prefix.trunc(), LOCAL, None);
        let had = d.previous.is_some();
        if had {
            self.local_routes -= 1;
        }
        self.maybe_sweep();
        had
    }
}
