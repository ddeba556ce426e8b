//! From the config file's `[bgp]` section to the speaker's neighbor
//! settings.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use vcpe_bgp::fsm::SessionConfig;
use vcpe_bgp::model::{AddPathMode, AddrFamily, Community, LargeCommunity};
use vcpe_bgp::rib::{
    Action, Match, Origination, PeerConfig, PrefixPolicy, PrefixRule, Rule, Rules, Set,
};
use vcpe_bgp::speaker::NeighborConfig;
use vcpe_config::{
    AddPaths, Config, Neighbor, NeighborMode, PolicyRule, PrefixFilter, RouteAttrs, RuleAction,
};

/// The speaker settings of `n` in `config`.
///
/// Our next hop towards the neighbor (always on eBGP; on iBGP for local
/// routes, and for routes from eBGP unless `next_hop_self = false`): its
/// `local_address` if set; else our addresses on the interface whose subnet
/// holds the neighbor, or over a routed underlay the kernel's source
/// address towards it (`link`, [`super::ifaddrs::towards`]); else the
/// router id for IPv4 and the first global IPv6 address of our TUN
/// interfaces.
pub fn neighbor_config(
    config: &Config,
    n: &Neighbor,
    index: usize,
    link: Option<(Option<Ipv4Addr>, Option<Ipv6Addr>)>,
) -> NeighborConfig {
    let local_as = config.router.asn;
    let mut s = SessionConfig::new(local_as, config.router.id, n.remote_as, n.address);
    s.passive = n.mode == NeighborMode::Passive;
    s.hold_time = n.hold_time;
    s.keepalive = Some(n.keepalive);
    s.families = vec![AddrFamily::IPV4_UNICAST, AddrFamily::IPV6_UNICAST];
    // Deterministic per neighbor, different between neighbors.
    s.jitter_seed = u64::from(u32::from(config.router.id)) << 16 | index as u64;
    s.connect_retry = Duration::from_secs(5);
    // ADD-PATH (RFC 7911) for both unicast families, in the direction the
    // file asks for.
    let mode = n.add_paths.map(|m| match m {
        AddPaths::Receive => AddPathMode::Receive,
        AddPaths::Send => AddPathMode::Send,
        AddPaths::Both => AddPathMode::Both,
    });
    s.add_path = mode
        .map(|m| vec![(AddrFamily::IPV4_UNICAST, m), (AddrFamily::IPV6_UNICAST, m)])
        .unwrap_or_default();
    let mut r = PeerConfig::new(n.remote_as, n.address);
    r.import = policy(n.import.as_deref());
    r.export = policy(n.export.as_deref());
    r.import_rules = rules(&n.import_rules);
    r.export_rules = rules(&n.export_rules);
    r.max_prefixes = n.max_prefixes;
    r.enforce_first_as = n.enforce_first_as;
    r.route_reflector_client = n.route_reflector_client;
    r.next_hop_self = n.next_hop_self.unwrap_or(true);
    r.add_path_count = n.add_paths_count;
    let (v4, v6) = local_addresses(config, n.local_address);
    let (link_v4, link_v6) = link.unwrap_or_default();
    r.local_addr_v4 = match n.local_address {
        Some(IpAddr::V4(a)) => Some(a),
        _ => link_v4.or(v4),
    };
    r.local_addr_v6 = match n.local_address {
        Some(IpAddr::V6(a)) => Some(a),
        _ => link_v6.or(v6),
    };
    NeighborConfig { session: s, rib: r }
}

/// A config filter list as a RIB policy: accept what matches an entry,
/// reject the rest; no list accepts everything.
fn policy(filters: Option<&[PrefixFilter]>) -> PrefixPolicy {
    match filters {
        None => PrefixPolicy::accept_all(),
        Some(list) => PrefixPolicy::new(
            list.iter()
                .map(|f| {
                    PrefixRule::range(
                        f.prefix(),
                        Some(f.min_len()),
                        Some(f.max_len()),
                        Action::Accept,
                    )
                })
                .collect(),
            Action::Reject,
        ),
    }
}

/// The config's rules as the speaker's.
fn rules(list: &[PolicyRule]) -> Rules {
    Rules(list.iter().map(rule).collect())
}

fn rule(r: &PolicyRule) -> Rule {
    Rule {
        when: Match {
            prefixes: r.match_prefix.as_deref().map(|l| policy(Some(l))),
            communities: communities(&r.match_community),
            large_communities: large(&r.match_large_community),
            as_path_len: match (r.match_as_path_min, r.match_as_path_max) {
                (None, None) => None,
                (lo, hi) => Some((lo.unwrap_or(0), hi.unwrap_or(u32::MAX))),
            },
        },
        action: match r.action {
            RuleAction::Accept => Action::Accept,
            RuleAction::Reject => Action::Reject,
        },
        set: Set {
            local_pref: r.set_local_pref,
            med: r.set_med,
            add_communities: communities(&r.add_community),
            remove_communities: communities(&r.remove_community),
            add_large_communities: large(&r.add_large_community),
            remove_large_communities: large(&r.remove_large_community),
            prepend: r.prepend,
        },
    }
}

fn communities(v: &[vcpe_config::Community]) -> Vec<Community> {
    v.iter().map(|c| Community(c.0)).collect()
}

fn large(v: &[vcpe_config::LargeCommunity]) -> Vec<LargeCommunity> {
    v.iter().map(|c| LargeCommunity(c.0, c.1, c.2)).collect()
}

/// What a static route's BGP attributes become when it is originated.
pub fn origination(a: &RouteAttrs) -> Origination {
    Origination {
        med: a.med,
        communities: communities(&a.communities),
        large_communities: large(&a.large_communities),
        prepend: a.prepend,
    }
}

fn local_addresses(config: &Config, local: Option<IpAddr>) -> (Option<Ipv4Addr>, Option<Ipv6Addr>) {
    let v4 = match local {
        Some(IpAddr::V4(a)) => a,
        _ => config.router.id,
    };
    let v6 = match local {
        Some(IpAddr::V6(a)) => Some(a),
        _ => config
            .interfaces
            .iter()
            .flat_map(|i| i.addresses.iter())
            .find_map(|a| match a.addr() {
                IpAddr::V6(v) if !v.is_unicast_link_local() => Some(v),
                _ => None,
            }),
    };
    (Some(v4), v6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn neighbor(extra: &str) -> NeighborConfig {
        let config = vcpe_config::parse(
            &format!(
                "[router]\nid = \"10.255.0.1\"\nasn = 65000\n[[interface]]\nname = \"vcpe0\"\n\
                 addresses = [\"10.255.0.1/24\", \"fd00:255::1/64\"]\n[bgp]\n[[bgp.neighbor]]\n\
                 address = \"100.65.0.10\"\nremote_as = 65000\n{extra}"
            ),
            Path::new("t.toml"),
        )
        .expect("valid");
        let n = &config.bgp.as_ref().expect("bgp").neighbors[0];
        neighbor_config(
            &config,
            n,
            0,
            Some((Some("100.64.0.1".parse().unwrap()), None)),
        )
    }

    #[test]
    fn add_paths_receive_announces_add_path_receive_for_both_unicast_families() {
        assert!(neighbor("").session.add_path.is_empty(), "off by default");
        assert_eq!(
            neighbor("add_paths = \"receive\"\n").session.add_path,
            vec![
                (AddrFamily::IPV4_UNICAST, AddPathMode::Receive),
                (AddrFamily::IPV6_UNICAST, AddPathMode::Receive),
            ]
        );
        let both = neighbor("add_paths = \"both\"\nadd_paths_count = \"all\"\n");
        assert_eq!(
            both.session.add_path[1],
            (AddrFamily::IPV6_UNICAST, AddPathMode::Both)
        );
        assert_eq!(both.rib.add_path_count, u16::MAX);
        assert_eq!(neighbor("add_paths = \"send\"\n").rib.add_path_count, 2);
    }

    #[test]
    fn next_hop_self_is_on_unless_the_neighbor_turns_it_off() {
        assert!(neighbor("").rib.next_hop_self);
        assert!(!neighbor("next_hop_self = false\n").rib.next_hop_self);
    }

    #[test]
    fn the_announced_next_hop_is_the_local_address_else_ours_towards_the_neighbor() {
        // Towards it (on its link or, over a routed underlay, the kernel's
        // source address); IPv6 falls back to the TUN's global address.
        let r = neighbor("").rib;
        assert_eq!(r.local_addr_v4, Some("100.64.0.1".parse().unwrap()));
        assert_eq!(r.local_addr_v6, Some("fd00:255::1".parse().unwrap()));
        let r = neighbor("local_address = \"100.64.9.1\"\n").rib;
        assert_eq!(r.local_addr_v4, Some("100.64.9.1".parse().unwrap()));
    }
}
