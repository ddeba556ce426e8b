//! Cross-reference checks over the whole configuration: unique names and
//! neighbor addresses, route targets that exist, next hops that some
//! interface or tunnel reaches, BGP neighbors tied to existing peers, the
//! kernel routes' interface, no LOCAL_PREF set towards eBGP, tunnel
//! peers' inner addresses (BGP next hops) owned by one peer each.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;

use crate::diagnostic::Span;
use crate::model::{Config, Interface, Peer, RouteTarget};
use crate::reader::{Ctx, bad, nearest};
use crate::sections::Locs;

/// Runs every cross-reference check, reporting to `ctx`.
pub(crate) fn cross_check(ctx: &mut Ctx<'_>, cfg: &Config, locs: &Locs) {
    let iface_names = cfg
        .interfaces
        .iter()
        .zip(&locs.interfaces)
        .filter_map(|(i, l)| Some((i.name.clone(), l.name.clone()?, l.path.clone())));
    duplicates(
        ctx,
        iface_names,
        "name",
        "interface name",
        "rename one of them",
    );
    let route_names = cfg
        .routes
        .iter()
        .zip(&locs.routes)
        .filter_map(|(r, l)| Some((r.name.clone(), l.name.clone()?, l.path.clone())));
    duplicates(ctx, route_names, "name", "route name", "rename one of them");
    let peer_names = cfg
        .peers
        .iter()
        .zip(&locs.peers)
        .filter_map(|(p, l)| Some((p.name.clone(), l.name.clone()?, l.path.clone())));
    duplicates(ctx, peer_names, "name", "peer name", "rename one of them");
    if let Some(bgp) = &cfg.bgp {
        let addrs = bgp
            .neighbors
            .iter()
            .zip(&locs.neighbors)
            .filter_map(|(n, l)| Some((n.address, l.address.clone()?, l.path.clone())));
        duplicates(
            ctx,
            addrs,
            "address",
            "neighbor address",
            "merge the two [[bgp.neighbor]] entries into one",
        );
    }
    routes(ctx, cfg, locs);
    neighbors(ctx, cfg, locs);
    inner_addresses(ctx, cfg, locs);
    kernel_interface(ctx, cfg, locs);
}

/// `[kernel] interface` names a configured `[[interface]]`.
fn kernel_interface(ctx: &mut Ctx<'_>, cfg: &Config, locs: &Locs) {
    let (Some(name), Some(span)) = (&cfg.kernel.interface, &locs.kernel_interface) else {
        return;
    };
    if cfg.interfaces.iter().any(|i| &i.name == name) {
        return;
    }
    let known: Vec<&str> = cfg.interfaces.iter().map(|i| i.name.as_str()).collect();
    ctx.error(
        span,
        "kernel.interface",
        bad(
            format!("kernel routes would point at unknown interface '{name}'"),
            unknown_help(name, &known, "interface"),
        ),
    );
}

/// Reports every repeated key at its second and later occurrences.
fn duplicates<K: Eq + Hash + std::fmt::Display>(
    ctx: &mut Ctx<'_>,
    items: impl Iterator<Item = (K, Span, String)>,
    field: &str,
    what: &str,
    fix: &str,
) {
    let mut seen: HashMap<K, (usize, String)> = HashMap::new();
    for (key, span, path) in items {
        if let Some((line, first)) = seen.get(&key) {
            ctx.error(
                &span,
                format!("{path}.{field}"),
                bad(
                    format!("duplicate {what} '{key}' (first used by {first} on line {line})"),
                    format!("each {what} must be unique; {fix}"),
                ),
            );
        } else {
            let line = ctx.line_of(&span);
            seen.insert(key, (line, path));
        }
    }
}

fn unknown_help(name: &str, known: &[&str], kind: &str) -> String {
    match nearest(name, known) {
        Some(k) => format!(
            "did you mean '{k}'? (defined {kind}s: {})",
            known.join(", ")
        ),
        None if known.is_empty() => {
            format!("no {kind} is defined; add a [[{kind}]] section named '{name}'")
        }
        None => format!("defined {kind}s: {}", known.join(", ")),
    }
}

fn subnets(iface: &Interface) -> String {
    let nets: Vec<String> = iface
        .addresses
        .iter()
        .map(|a| a.trunc().to_string())
        .collect();
    if nets.is_empty() {
        "none".into()
    } else {
        nets.join(", ")
    }
}

fn on_interface(iface: &Interface, ip: IpAddr) -> bool {
    iface.addresses.iter().any(|a| a.contains(&ip))
}

fn in_peer(peer: &Peer, ip: IpAddr) -> bool {
    peer.allowed_prefixes.iter().any(|a| a.contains(&ip))
}

fn routes(ctx: &mut Ctx<'_>, cfg: &Config, locs: &Locs) {
    let iface_names: Vec<&str> = cfg.interfaces.iter().map(|i| i.name.as_str()).collect();
    let peer_names: Vec<&str> = cfg.peers.iter().map(|p| p.name.as_str()).collect();
    for (r, l) in cfg.routes.iter().zip(&locs.routes) {
        let Some(target_span) = &l.target else {
            continue;
        };
        match &r.target {
            RouteTarget::Interface(name) => {
                let Some(iface) = cfg.interfaces.iter().find(|i| &i.name == name) else {
                    ctx.error(
                        target_span,
                        format!("{}.interface", l.path),
                        bad(
                            format!("route '{}' uses unknown interface '{name}'", r.name),
                            unknown_help(name, &iface_names, "interface"),
                        ),
                    );
                    continue;
                };
                if let (Some(nh), Some(span)) = (r.next_hop, &l.next_hop)
                    && !on_interface(iface, nh)
                {
                    ctx.error(
                        span,
                        format!("{}.next_hop", l.path),
                        bad(
                            format!("next hop {nh} is not reachable through interface '{name}'"),
                            format!("use a gateway inside {name}'s subnets ({})", subnets(iface)),
                        ),
                    );
                }
            }
            RouteTarget::Peer(_) | RouteTarget::Peers(_) => {
                let spans: Vec<&Span> = if l.members.is_empty() {
                    vec![target_span]
                } else {
                    l.members.iter().collect()
                };
                let key = if l.members.is_empty() {
                    "peer"
                } else {
                    "peers"
                };
                for (i, (name, span)) in r.target.peers().iter().zip(spans).enumerate() {
                    let path = if l.members.is_empty() {
                        format!("{}.peer", l.path)
                    } else {
                        format!("{}.{key}[{i}]", l.path)
                    };
                    let Some(peer) = cfg.peers.iter().find(|p| &p.name == name) else {
                        ctx.error(
                            span,
                            path,
                            bad(
                                format!("route '{}' uses unknown peer '{name}'", r.name),
                                unknown_help(name, &peer_names, "peer"),
                            ),
                        );
                        continue;
                    };
                    if let (Some(nh), Some(span)) = (r.next_hop, &l.next_hop)
                        && !in_peer(peer, nh)
                        && !cfg.interfaces.iter().any(|i| on_interface(i, nh))
                    {
                        ctx.error(
                            span,
                            format!("{}.next_hop", l.path),
                            bad(
                                format!("next hop {nh} is not reachable: it is in neither peer '{name}''s allowed_prefixes nor any interface subnet"),
                                "use the peer's tunnel address (inside an interface subnet or its allowed_prefixes), or remove next_hop".to_string(),
                            ),
                        );
                    }
                }
            }
        }
    }
}

fn neighbors(ctx: &mut Ctx<'_>, cfg: &Config, locs: &Locs) {
    let Some(bgp) = &cfg.bgp else { return };
    let peer_names: Vec<&str> = cfg.peers.iter().map(|p| p.name.as_str()).collect();
    for (n, l) in bgp.neighbors.iter().zip(&locs.neighbors) {
        if let (true, Some(span)) = (n.remote_as != cfg.router.asn, &l.route_reflector_client) {
            ctx.error(
                span,
                format!("{}.route_reflector_client", l.path),
                bad(
                    format!("route_reflector_client on eBGP neighbor {} (AS {}, ours is {}): route reflection is between iBGP neighbors of one AS (RFC 4456)", n.address, n.remote_as, cfg.router.asn),
                    format!("remove route_reflector_client, or set remote_as = {} if the neighbor is in our AS", cfg.router.asn),
                ),
            );
        }
        if n.remote_as != cfg.router.asn {
            for (span, path) in &l.export_local_pref {
                ctx.error(
                    span,
                    path.clone(),
                    bad(
                        format!("set_local_pref in an export rule towards eBGP neighbor {} (AS {}): LOCAL_PREF is never sent to another AS", n.address, n.remote_as),
                        "use set_med or prepend to rank our routes at the neighbor, or set_local_pref in an import rule".to_string(),
                    ),
                );
            }
        }
        if let (Some(name), Some(span)) = (&n.peer, &l.peer) {
            match cfg.peers.iter().find(|p| &p.name == name) {
                None => ctx.error(span, format!("{}.peer", l.path), bad(format!("neighbor {} refers to unknown peer '{name}'", n.address), unknown_help(name, &peer_names, "peer"))),
                Some(peer) if l.address.is_some() && !in_peer(peer, n.address) => ctx.error(
                    span,
                    format!("{}.peer", l.path),
                    bad(
                        format!("neighbor address {} is outside peer '{name}''s allowed_prefixes, so the tunnel would drop the session", n.address),
                        format!("add \"{}/{}\" to the allowed_prefixes of peer '{name}'", n.address, if n.address.is_ipv4() { 32 } else { 128 }),
                    ),
                ),
                Some(_) => {}
            }
        }
        if let (Some(false), Some(span)) = (n.next_hop_self, &l.next_hop_self)
            && n.remote_as != cfg.router.asn
        {
            ctx.error(
                span,
                format!("{}.next_hop_self", l.path),
                bad(
                    format!("next_hop_self = false towards eBGP neighbor {} (AS {}): an eBGP neighbor always gets our address as next hop", n.address, n.remote_as),
                    "remove next_hop_self (it only applies to iBGP neighbors)".to_string(),
                ),
            );
        }
        // Over the underlay (no `peer`), the session's source may be any
        // address of the host: the config does not list those.
        if let (Some(local), Some(span), Some(_)) = (n.local_address, &l.local_address, &n.peer) {
            let ours = cfg
                .interfaces
                .iter()
                .any(|i| i.addresses.iter().any(|a| a.addr() == local));
            if local.is_ipv4() != n.address.is_ipv4() {
                ctx.error(span, format!("{}.local_address", l.path), bad(format!("local address {local} and neighbor address {} are of different address families", n.address), "use a local address of the same family".to_string()));
            } else if !ours {
                ctx.error(
                    span,
                    format!("{}.local_address", l.path),
                    bad(
                        format!("local address {local} is not configured on any [[interface]], and the session runs over tunnel peer '{}'", n.peer.as_deref().unwrap_or_default()),
                        "use one of the interface addresses, or remove local_address (an underlay address only works for a neighbor without `peer`)".to_string(),
                    ),
                );
            }
        }
        if let (Some(local), Some(span), None) = (n.local_address, &l.local_address, &n.peer)
            && local.is_ipv4() != n.address.is_ipv4()
        {
            ctx.error(span, format!("{}.local_address", l.path), bad(format!("local address {local} and neighbor address {} are of different address families", n.address), "use a local address of the same family".to_string()));
        }
    }
}

/// An address in a peer's `next_hops` belongs to that peer alone: a BGP
/// next hop equal to it must name one tunnel (the same host route in two
/// peers' `allowed_prefixes` is fine: it is no one's next hop, see
/// [`crate::model::inner_addresses`]).
/// No inner address is one of our own interface addresses.
fn inner_addresses(ctx: &mut Ctx<'_>, cfg: &Config, locs: &Locs) {
    // Address -> the first peer that names it, its line, and whether in
    // next_hops.
    let mut seen: HashMap<IpAddr, (&str, usize, bool)> = HashMap::new();
    for (p, l) in cfg.peers.iter().zip(&locs.peers) {
        for (addr, span, path) in &l.inner {
            let explicit = p.next_hops.is_some();
            if cfg
                .interfaces
                .iter()
                .any(|i| i.addresses.iter().any(|a| a.addr() == *addr))
            {
                ctx.error(
                    span,
                    path.clone(),
                    bad(
                        format!("{addr} is one of our own interface addresses, not peer '{}''s", p.name),
                        if explicit {
                            "list the other vCPE's tunnel address in next_hops".to_string()
                        } else {
                            format!("remove it from allowed_prefixes, or set next_hops = [...] on peer '{}' to the other vCPE's tunnel addresses", p.name)
                        },
                    ),
                );
                continue;
            }
            match seen.get(addr) {
                // Host routes of two peers' allowed_prefixes: no one's.
                Some((other, _, false)) if *other != p.name && !explicit => {}
                Some((other, line, _)) if *other != p.name => ctx.error(
                    span,
                    path.clone(),
                    bad(
                        format!("{addr} is an inner address (BGP next hop) of peer '{}' and of peer '{other}' (line {line}): a next hop must name one tunnel", p.name),
                        "keep it on one peer (in next_hops, or as the only peer with that host route in allowed_prefixes)".to_string(),
                    ),
                ),
                Some(_) => {}
                None => {
                    let line = ctx.line_of(span);
                    seen.insert(*addr, (&p.name, line, explicit));
                }
            }
        }
    }
}
