//! Policy changes on a running session (a reload's new `import`,
//! `export`, rules or `max_prefixes`), applied softly: no session reset.
//! Exports are recomputed at once (what the peer no longer gets is
//! withdrawn, the rest re-sent); the Adj-RIB-In keeps only what the old
//! import policy accepted, so a changed import policy needs the peer to
//! send its routes again (the speaker sends ROUTE-REFRESH, RFC 2918).

use ipnet::IpNet;

use super::export::{Target, export_attrs, src_info};
use super::{PeerConfig, PeerId, Rib};

/// What a [`Rib::set_policy`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PolicyChange {
    /// `import` or `import_rules` differ: the peer's routes must be
    /// evaluated again (ROUTE-REFRESH).
    pub import: bool,
    /// `export` or `export_rules` differ (already recomputed).
    pub export: bool,
    /// `max_prefixes` differs (applies from the next UPDATE on).
    pub max_prefixes: bool,
}

impl PeerConfig {
    /// `self` with `other`'s policy (import, export, rules, max prefixes).
    pub fn with_policy_of(&self, other: &PeerConfig) -> PeerConfig {
        PeerConfig {
            import: other.import.clone(),
            export: other.export.clone(),
            import_rules: other.import_rules.clone(),
            export_rules: other.export_rules.clone(),
            max_prefixes: other.max_prefixes,
            ..self.clone()
        }
    }
}

impl Rib {
    /// Replaces peer `id`'s policy by `new`'s (its other settings stay).
    /// When the export policy changed on an established session, the next
    /// [`Rib::take_exports`] withdraws what the peer no longer gets and
    /// sends the rest again.
    pub fn set_policy(&mut self, id: PeerId, new: &PeerConfig) -> PolicyChange {
        let Some(slot) = self.slot(id) else {
            return PolicyChange::default();
        };
        let Some(old) = self.peer(slot).map(|p| p.config.clone()) else {
            return PolicyChange::default();
        };
        let change = PolicyChange {
            import: old.import != new.import || old.import_rules != new.import_rules,
            export: old.export != new.export || old.export_rules != new.export_rules,
            max_prefixes: old.max_prefixes != new.max_prefixes,
        };
        let before = if change.export {
            self.exported(slot)
        } else {
            Vec::new()
        };
        if let Some(p) = self.peer_mut(slot) {
            p.config = old.with_policy_of(new);
        }
        if change.export {
            // Cached rule results are keyed by rule index: stale now.
            self.cache.forget_rules_of(slot);
        }
        if change.export
            && let Some(p) = self.peer_mut(slot)
            && p.session.is_some()
        {
            p.out.full = true;
            p.out.withdraw_unless_exported.extend(before);
        }
        change
    }

    /// The prefixes peer `slot` gets from us under its policy now.
    fn exported(&mut self, slot: u32) -> Vec<IpNet> {
        let Rib {
            table,
            peers,
            cache,
            interner,
            local,
            ..
        } = self;
        let peers: &[Option<super::peer::Peer>] = peers;
        let Some(t) = peers
            .get(slot as usize)
            .and_then(Option::as_ref)
            .and_then(|p| Target::of(slot, p))
        else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (prefix, paths) in table.iter() {
            if t.session.classes(&prefix).is_none() {
                continue;
            }
            let b = paths.best();
            let se = src_info(peers, b.src);
            if export_attrs(
                cache,
                interner,
                local.asn,
                &t,
                &prefix,
                Some((b.src, &b.attrs)),
                se,
            )
            .is_some()
            {
                out.push(prefix);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::super::{Action, LocalConfig, PeerUp, PrefixPolicy, PrefixRule};
    use super::*;
    use crate::model::AddrFamily;

    fn net(s: &str) -> IpNet {
        s.parse().expect("prefix")
    }

    fn rib_with_peer() -> (Rib, PeerId, PeerConfig) {
        let mut rib = Rib::new(LocalConfig {
            asn: 65000,
            router_id: Ipv4Addr::new(10, 0, 0, 1),
        });
        let mut cfg = PeerConfig::new(64501, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
        cfg.local_addr_v4 = Some(Ipv4Addr::new(192, 0, 2, 254));
        let p = PeerId(1);
        rib.add_peer(p, cfg.clone());
        rib.peer_up(
            p,
            PeerUp {
                router_id: Ipv4Addr::new(10, 0, 0, 2),
                families: vec![AddrFamily::IPV4_UNICAST],
                four_octet_as: true,
                add_path_receive: Default::default(),
                add_path_send: Default::default(),
            },
        );
        (rib, p, cfg)
    }

    #[test]
    fn a_narrower_export_withdraws_only_what_the_peer_no_longer_gets() {
        let (mut rib, p, cfg) = rib_with_peer();
        rib.originate(net("10.1.0.0/16"), None);
        rib.originate(net("10.2.0.0/16"), None);
        let first = rib.take_exports(p);
        assert_eq!(first.announced_len(), 2);
        let mut narrower = cfg.clone();
        narrower.export = PrefixPolicy::new(
            vec![PrefixRule::exact(net("10.1.0.0/16"), Action::Accept)],
            Action::Reject,
        );
        let change = rib.set_policy(p, &narrower);
        assert!(change.export && !change.import && !change.max_prefixes);
        let e = rib.take_exports(p);
        assert_eq!(e.withdraw, [net("10.2.0.0/16")]);
        assert_eq!(e.announced_len(), 1, "the rest is sent again");
        assert!(
            e.end_of_rib.is_empty(),
            "no new End-of-RIB: not a new session"
        );
        // Back to accept-all: 10.2 comes again, nothing is withdrawn.
        rib.set_policy(p, &cfg);
        let e = rib.take_exports(p);
        assert!(e.withdraw.is_empty(), "{:?}", e.withdraw);
        assert_eq!(e.announced_len(), 2);
    }

    #[test]
    fn only_the_policy_is_taken_from_the_new_config() {
        let (mut rib, p, cfg) = rib_with_peer();
        let mut new = cfg.clone();
        new.max_prefixes = Some(5);
        new.asn = 64999;
        let change = rib.set_policy(p, &new);
        assert!(change.max_prefixes && !change.export && !change.import);
        let now = rib.peer_config(p).expect("known peer");
        assert_eq!(now.max_prefixes, Some(5));
        assert_eq!(now.asn, 64501, "the AS is no policy");
        assert_eq!(rib.set_policy(PeerId(9), &new), PolicyChange::default());
    }
}
