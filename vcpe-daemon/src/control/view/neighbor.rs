//! `vcpectl bgp neighbor ADDR [adj-in|adj-out]`: one neighbor in detail
//! (session, negotiated capabilities and timers, counters, last error and
//! NOTIFICATION, policies), or the routes it sent us (after import policy,
//! the rejected prefixes marked) or the ones we send it (as sent: our AS
//! prepended, our next hop).

use std::net::IpAddr;

use vcpe_api::Reply;
use vcpe_api::view::{AdjDirection, AdjRibRoute, Negotiated, NeighborCounters, NeighborDetail};
use vcpe_bgp::fsm::DownReason;
use vcpe_bgp::model::{AddPathMode, AddrFamily, Afi, Capability, Safi};
use vcpe_bgp::rib::RouteSource;
use vcpe_bgp::speaker::{DownCause, NeighborDetail as Detail};
use vcpe_config::NeighborMode;

use super::attrs::adj_route;
use super::inspect::inspect;
use super::{View, error};

const NO_BGP: &str = "BGP is not configured: add a [bgp] section with neighbors to the config \
                      and restart vcped";

fn not_a_neighbor(addr: IpAddr) -> Reply {
    error(format!(
        "{addr} is not a configured BGP neighbor; see `vcpectl bgp summary` for the neighbors"
    ))
}

/// "ipv4-unicast", "ipv6-unicast", or the numbers.
pub fn family(f: AddrFamily) -> String {
    match (f.afi, f.safi) {
        (Afi::IPV4, Safi::UNICAST) => "ipv4-unicast".to_owned(),
        (Afi::IPV6, Safi::UNICAST) => "ipv6-unicast".to_owned(),
        (a, s) => format!("afi {} safi {}", a.0, s.0),
    }
}

/// One capability in words.
pub fn capability(c: &Capability) -> String {
    match c {
        Capability::Multiprotocol(f) => format!("multiprotocol {}", family(*f)),
        Capability::RouteRefresh => "route-refresh".to_owned(),
        Capability::GracefulRestart(g) => {
            let fams: Vec<String> = g.families.iter().map(|(f, _)| family(*f)).collect();
            if fams.is_empty() {
                format!("graceful-restart (restart time {} s)", g.restart_time)
            } else {
                format!(
                    "graceful-restart (restart time {} s, preserves {})",
                    g.restart_time,
                    fams.join(" ")
                )
            }
        }
        Capability::FourOctetAs(a) => format!("4-octet-as (AS {a})"),
        Capability::AddPath(t) => {
            let tuples: Vec<String> = t
                .iter()
                .map(|(f, m)| {
                    let mode = match m {
                        AddPathMode::Receive => "receive",
                        AddPathMode::Send => "send",
                        AddPathMode::Both => "send and receive",
                    };
                    format!("{} {mode}", family(*f))
                })
                .collect();
            format!("add-path ({})", tuples.join(", "))
        }
        Capability::EnhancedRouteRefresh => "enhanced-route-refresh".to_owned(),
        Capability::Unknown { code, value } => {
            let name = match code {
                69 => "add-path",
                71 => "long-lived-graceful-restart",
                73 => "fqdn",
                128 => "route-refresh (Cisco, pre-standard)",
                _ => "unknown",
            };
            format!("{name} (code {code}, {} bytes; not used)", value.len())
        }
    }
}

/// The NOTIFICATION of a down reason: "received Cease / ... (6/2)".
pub fn notification(r: &DownReason) -> Option<String> {
    let (dir, n) = match r {
        DownReason::NotificationReceived(n) => ("received", n.clone()),
        other => ("sent", other.notification_sent()?),
    };
    Some(format!("{dir} {}", n.describe()))
}

/// The detail reply from the speaker's detail and the config's neighbor.
fn detail(view: &View<'_>, d: Detail) -> NeighborDetail {
    let s = &d.summary;
    let neighbors = view.neighbors();
    let conf = neighbors.iter().find(|n| n.address == s.addr);
    let c = &d.counters;
    let counts = d.counts.unwrap_or_default();
    let rules = |f: &Option<Vec<vcpe_config::PrefixFilter>>| {
        f.as_ref()
            .map(|v| v.iter().map(ToString::to_string).collect())
    };
    NeighborDetail {
        address: s.addr.to_string(),
        asn: s.asn,
        local_as: d.session.local_as,
        kind: if d.session.is_internal() {
            "iBGP"
        } else {
            "eBGP"
        }
        .to_owned(),
        route_reflector_client: conf.is_some_and(|n| n.route_reflector_client),
        description: conf.and_then(|n| n.description.clone()),
        state: s.state.clone(),
        established: s.state == "Established",
        since_secs: s.since_secs,
        disabled: s.disabled,
        mode: match conf.map(|n| n.mode) {
            Some(NeighborMode::Passive) => "passive",
            _ if d.session.passive => "passive",
            _ => "active",
        }
        .to_owned(),
        tunnel_peer: conf.and_then(|n| n.peer.clone()),
        local_address: conf.and_then(|n| n.local_address.map(|a| a.to_string())),
        hold_time: d.session.hold_time,
        keepalive: d.session.keepalive,
        negotiated: d.negotiated.as_ref().map(|n| Negotiated {
            hold_time: n.hold_time,
            keepalive: n.keepalive,
            router_id: n.peer_id.to_string(),
            four_octet_as: n.four_octet_as,
            families: n.families.iter().copied().map(family).collect(),
            route_refresh: n.route_refresh,
            graceful_restart: n.graceful_restart,
            peer_restart_time: n.peer_graceful_restart.as_ref().map(|g| g.restart_time),
        }),
        capabilities_sent: vcpe_bgp::fsm::build_open(&d.session)
            .capabilities
            .iter()
            .map(capability)
            .collect(),
        capabilities_received: d
            .negotiated
            .as_ref()
            .map(|n| n.peer_open.capabilities.iter().map(capability).collect())
            .unwrap_or_default(),
        import: conf.and_then(|n| rules(&n.import)),
        export: conf.and_then(|n| rules(&n.export)),
        max_prefixes: conf.and_then(|n| n.max_prefixes),
        import_rules: conf.map_or(0, |n| n.import_rules.len() as u32),
        export_rules: conf.map_or(0, |n| n.export_rules.len() as u32),
        counters: NeighborCounters {
            messages_in: c.messages_in,
            messages_out: c.messages_out,
            updates_in: c.updates_in,
            updates_out: c.updates_out,
            connect_attempts: c.connect_attempts,
            established_transitions: c.established_transitions,
            received: counts.received,
            accepted: counts.accepted,
            filtered: counts.filtered,
            stale: counts.stale,
            advertised: counts.advertised,
            pending_out: counts.pending_out,
            out_queued_bytes: s.out_queued_bytes,
            out_behind: s.out_behind,
            looped_total: counts.looped_total,
            first_as_total: counts.first_as_total,
            unencodable_total: counts.unencodable_total,
            reflected_loops_total: counts.reflected_loops_total,
            malformed_updates: s.malformed_updates,
        },
        last_error: s.last_error.clone(),
        last_notification: d.last_down.as_ref().and_then(notification),
        stale_for_secs: d.stale_for_secs,
        last_down_cause: d.last_cause.as_ref().map(|c| {
            match c {
                DownCause::Session(_) => "session",
                DownCause::MaxPrefixes { .. } => "max_prefixes",
                DownCause::BfdDown { .. } => "bfd_down",
            }
            .to_owned()
        }),
        bfd: conf
            .filter(|n| n.bfd.is_some())
            .and_then(|n| crate::control::bfd_requests::session_to(view.bfd, n.address)),
    }
}

fn parse(address: &str) -> Result<IpAddr, String> {
    address.parse().map_err(|_| {
        format!(
            "{address:?} is not an IP address; give the neighbor's address as `vcpectl bgp \
             summary` lists it"
        )
    })
}

/// `vcpectl bgp neighbor ADDR`.
pub fn show(view: &View<'_>, address: &str) -> Reply {
    let Some(bgp) = view.bgp else {
        return error(NO_BGP);
    };
    let addr = match parse(address) {
        Ok(a) => a,
        Err(m) => return error(m),
    };
    match inspect(bgp, move |sp, now| sp.neighbor_detail(addr, now)) {
        Ok(Some(d)) => Reply::BgpNeighborDetail(Box::new(detail(view, d))),
        Ok(None) => not_a_neighbor(addr),
        Err(m) => error(m),
    }
}

/// `vcpectl bgp neighbor ADDR adj-in|adj-out`.
pub fn adj_rib(view: &View<'_>, address: &str, direction: AdjDirection) -> Reply {
    let Some(bgp) = view.bgp else {
        return error(NO_BGP);
    };
    let addr = match parse(address) {
        Ok(a) => a,
        Err(m) => return error(m),
    };
    let routes = inspect(bgp, move |sp, _| {
        let id = sp.neighbor_by_addr(addr)?;
        let rib = sp.rib();
        let mut v: Vec<(ipnet::IpNet, AdjRibRoute)> = match direction {
            AdjDirection::AdjIn => {
                let mut v: Vec<_> = rib
                    .adj_in(id)
                    .into_iter()
                    .map(|r| {
                        let mut a = adj_route(r.prefix.to_string(), &r.attrs);
                        a.stale = r.stale;
                        a.rule = r.rule.map(|i| format!("import_rule[{i}]"));
                        a.path_id = (r.path_id != 0).then_some(r.path_id);
                        // With ADD-PATH the neighbor has several paths of
                        // the prefix: the best is the one of its attributes.
                        a.best = rib.best(r.prefix).is_some_and(|b| {
                            b.source == RouteSource::Peer(id)
                                && std::sync::Arc::ptr_eq(&b.attrs, &r.attrs)
                        });
                        (r.prefix, a)
                    })
                    .collect();
                v.extend(rib.filtered_in(id).into_iter().map(|p| {
                    (
                        p,
                        AdjRibRoute {
                            prefix: p.to_string(),
                            next_hop: None,
                            as_path: Vec::new(),
                            origin: None,
                            med: None,
                            local_pref: None,
                            communities: Vec::new(),
                            large_communities: Vec::new(),
                            originator_id: None,
                            cluster_list: Vec::new(),
                            stale: false,
                            filtered: true,
                            best: false,
                            rule: None,
                            path_id: None,
                        },
                    )
                }));
                v
            }
            AdjDirection::AdjOut => rib
                .adj_out(id)
                .into_iter()
                .map(|r| {
                    let mut a = adj_route(r.prefix.to_string(), &r.attrs);
                    a.rule = r.rule.map(|i| format!("export_rule[{i}]"));
                    a.path_id = (r.path_id != 0).then_some(r.path_id);
                    (r.prefix, a)
                })
                .collect(),
        };
        v.sort_by_key(|(p, _)| *p);
        Some(v.into_iter().map(|(_, r)| r).collect::<Vec<_>>())
    });
    match routes {
        Ok(Some(routes)) => Reply::BgpAdjRib {
            neighbor: addr.to_string(),
            direction,
            routes,
        },
        Ok(None) => not_a_neighbor(addr),
        Err(m) => error(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vcpe_bgp::model::{GracefulRestart, Notification};

    #[test]
    fn capabilities_and_notifications_in_words() {
        assert_eq!(
            capability(&Capability::Multiprotocol(AddrFamily::IPV6_UNICAST)),
            "multiprotocol ipv6-unicast"
        );
        assert_eq!(
            capability(&Capability::GracefulRestart(GracefulRestart {
                flags: 0,
                restart_time: 120,
                families: vec![(AddrFamily::IPV4_UNICAST, 0x80)],
            })),
            "graceful-restart (restart time 120 s, preserves ipv4-unicast)"
        );
        assert!(
            capability(&Capability::Unknown {
                code: 69,
                value: vec![0; 4]
            })
            .starts_with("add-path")
        );
        assert_eq!(
            capability(&Capability::AddPath(vec![
                (AddrFamily::IPV4_UNICAST, AddPathMode::Both),
                (AddrFamily::IPV6_UNICAST, AddPathMode::Receive),
            ])),
            "add-path (ipv4-unicast send and receive, ipv6-unicast receive)"
        );
        let r = DownReason::NotificationReceived(Notification::new(6, 2));
        assert_eq!(
            notification(&r).as_deref(),
            Some("received Cease / Administrative Shutdown (6/2)")
        );
        assert_eq!(notification(&DownReason::ConnectionClosed), None);
    }
}
