//! Locally originated routes: the daemon's static routes marked for
//! advertisement, and routes added at run time by the CLI. ORIGIN IGP,
//! empty AS path, LOCAL_PREF 100, the given next hop (for the FIB; peers
//! get our session address as next hop).

use ipnet::IpNet;
use std::net::IpAddr;

use super::loc_rib::{LOCAL, Path};
use super::{DEFAULT_LOCAL_PREF, Rib};
use crate::model::{AsPath, Origin, PathAttributes};

/// The attributes of a locally originated route.
pub(crate) fn local_attrs(next_hop: Option<IpAddr>) -> PathAttributes {
    PathAttributes {
        origin: Origin::Igp,
        as_path: AsPath::default(),
        next_hop,
        local_pref: Some(DEFAULT_LOCAL_PREF),
        ..PathAttributes::default()
    }
}

impl Rib {
    /// Originate `prefix` (replacing an earlier local route for it). It is
    /// advertised to every established peer allowed to have it.
    pub fn originate(&mut self, prefix: IpNet, next_hop: Option<IpAddr>) {
        let prefix = prefix.trunc();
        let attrs = self.interner.intern_owned(local_attrs(next_hop));
        let path = Path {
            attrs,
            src: LOCAL,
            stale: false,
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
