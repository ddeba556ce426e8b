//! Mistakes that parse but cannot run, found before `vcped run` meets
//! them (so `vcped check-config` refuses what `run` would refuse): two routes for one prefix, a neighbor at one of our
//! own addresses, two tunnel peers with one public key, a GRE endpoint
//! with a port, an endpoint and a `bind` of different address families;
//! and, for the config a daemon is to run ([`HostChecks`]), no interface
//! at all and a `[control] group` that does not exist.

use std::collections::HashMap;

use crate::model::{Config, Encapsulation};
use crate::reader::{Ctx, bad};
use crate::sections::Locs;

/// What only the machine that runs vcped can answer.
#[derive(Debug, Clone, Copy)]
pub struct HostChecks {
    /// Whether a system group of this name exists (`None`: cannot tell).
    pub group_exists: fn(&str) -> Option<bool>,
}

/// Runs every check that needs no host, reporting to `ctx`.
pub(crate) fn check(ctx: &mut Ctx<'_>, cfg: &Config, locs: &Locs) {
    route_prefixes(ctx, cfg, locs);
    own_neighbors(ctx, cfg, locs);
    peers(ctx, cfg, locs);
}

/// Against the host: `[control] group` names an existing group.
/// Also here, not in every parse: a config without interfaces (the
/// library's own examples and tests have some).
pub(crate) fn check_host(ctx: &mut Ctx<'_>, cfg: &Config, locs: &Locs, host: &HostChecks) {
    if cfg.interfaces.is_empty() {
        ctx.error(
            &(0..0),
            "interface",
            bad(
                "no [[interface]]: vcped has no TUN device to route for",
                "add one, e.g. [[interface]] name = \"vcpe0\" addresses = [\"10.0.1.1/24\"]"
                    .to_string(),
            ),
        );
    }
    if let (Some(g), Some(span)) = (&cfg.control.group, &locs.control_group)
        && (host.group_exists)(g) == Some(false)
    {
        ctx.error(
            span,
            "control.group",
            bad(
                format!("group '{g}' does not exist on this machine, so vcped cannot give it the control socket"),
                format!("create it (groupadd {g}) or remove the setting (then only root can use vcpectl)"),
            ),
        );
    }
}

/// One route per prefix (`vcpectl route add` refuses a second one too).
fn route_prefixes(ctx: &mut Ctx<'_>, cfg: &Config, locs: &Locs) {
    let mut seen: HashMap<ipnet::IpNet, (&str, usize)> = HashMap::new();
    for (r, l) in cfg.routes.iter().zip(&locs.routes) {
        let Some(span) = l.name.clone() else { continue };
        match seen.get(&r.prefix) {
            // Same name: reported as a duplicate name already.
            Some((first, _)) if *first == r.name => {}
            Some((first, line)) => ctx.error(
                &span,
                format!("{}.prefix", l.path),
                bad(
                    format!(
                        "route '{}' has prefix {} like route '{first}' (line {line}): only one route per prefix can be in the FIB",
                        r.name, r.prefix
                    ),
                    "remove one of them, or list both next hops in one route with peers = [...]".to_string(),
                ),
            ),
            None => {
                let line = ctx.line_of(&span);
                seen.insert(r.prefix, (&r.name, line));
            }
        }
    }
}

/// A neighbor is never one of our own addresses.
fn own_neighbors(ctx: &mut Ctx<'_>, cfg: &Config, locs: &Locs) {
    let Some(bgp) = &cfg.bgp else { return };
    for (n, l) in bgp.neighbors.iter().zip(&locs.neighbors) {
        let Some(span) = &l.address else { continue };
        let on = cfg
            .interfaces
            .iter()
            .find(|i| i.addresses.iter().any(|a| a.addr() == n.address));
        let what = match on {
            Some(i) => format!("interface {}'s address", i.name),
            None if n.address == std::net::IpAddr::V4(cfg.router.id) => "the router id".to_owned(),
            None => continue,
        };
        ctx.error(
            span,
            format!("{}.address", l.path),
            bad(
                format!(
                    "neighbor address {} is our own ({what}): the session would be with ourselves",
                    n.address
                ),
                "use the address of the other router".to_string(),
            ),
        );
    }
}

/// Tunnel peers: one public key each, GRE endpoints without a port,
/// `bind` of the endpoint's family.
fn peers(ctx: &mut Ctx<'_>, cfg: &Config, locs: &Locs) {
    let mut keys: HashMap<[u8; 32], (&str, usize)> = HashMap::new();
    for (p, l) in cfg.peers.iter().zip(&locs.peers) {
        let Some(span) = l.name.clone() else { continue };
        match &p.encapsulation {
            Encapsulation::WireGuard { public_key, .. } => match keys.get(&public_key.0) {
                Some((first, line)) => ctx.error(
                    &span,
                    format!("{}.public_key", l.path),
                    bad(
                        format!("peer '{}' has the public key of peer '{first}' (line {line}): a handshake could not tell them apart", p.name),
                        "each peer has its own key pair; check which key belongs to which vCPE".to_string(),
                    ),
                ),
                None => {
                    let line = ctx.line_of(&span);
                    keys.insert(public_key.0, (&p.name, line));
                }
            },
            Encapsulation::Gre { .. } if p.endpoint.port() != crate::sections::GRE_NO_PORT => {
                ctx.error(
                    &span,
                    format!("{}.endpoint", l.path),
                    bad(
                        format!("peer '{}': GRE endpoint {} has a port, but GRE runs directly over IP (protocol 47) and has none", p.name, p.endpoint),
                        format!("write the address alone: endpoint = \"{}\"", p.endpoint.ip()),
                    ),
                );
            }
            _ => {}
        }
        if let Some(b) = p.bind
            && b.is_ipv4() != p.endpoint.is_ipv4()
        {
            ctx.error(
                &span,
                format!("{}.bind", l.path),
                bad(
                    format!("peer '{}': bind {b} and endpoint {} are of different address families, so no packet could be sent", p.name, p.endpoint),
                    "bind an address of the endpoint's family (e.g. \"[::]:51820\" for an IPv6 endpoint)".to_string(),
                ),
            );
        }
    }
}
