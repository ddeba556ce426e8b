//! Builder for `[[route]]`: static routes (name, prefix, optional next hop,
//! target interface, tunnel peer or several tunnel peers for ECMP,
//! advertise flag and what BGP sends with it: MED, communities, prepends).

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use super::names::{ifname, network, object_name};
use super::policy_rule::{communities, large_communities, prepend};
use crate::diagnostic::Span;
use crate::model::{RouteAttrs, RouteTarget, StaticRoute};
use crate::reader::{Ctx, Table, bad, boolean, int_in, parsed};

/// Where a route's checked fields are, for cross-reference checks.
#[derive(Debug)]
pub(crate) struct RouteLoc {
    pub path: String,
    pub name: Option<Span>,
    /// Span of the `interface`, `peer` or `peers` value, when valid.
    pub target: Option<Span>,
    /// Span of each name in `peers` (empty for the single forms).
    pub members: Vec<Span>,
    pub next_hop: Option<Span>,
}

pub(crate) fn route(ctx: &mut Ctx<'_>, t: &Table<'_, '_>) -> (StaticRoute, RouteLoc) {
    t.check_keys(
        ctx,
        &[
            "name",
            "prefix",
            "next_hop",
            "interface",
            "peer",
            "peers",
            "advertise",
            "med",
            "communities",
            "large_communities",
            "prepend",
        ],
    );
    let name = t
        .field(ctx, "name", object_name)
        .required(ctx, t, "name", "\"vxnet-a\"");
    let prefix = t
        .field(ctx, "prefix", network)
        .required(ctx, t, "prefix", "\"10.1.1.0/24\"");
    let next_hop = t
        .field(ctx, "next_hop", |v| {
            parsed::<IpAddr>(v, "an IP address", "10.1.255.2")
        })
        .opt();
    let iface = t.field(ctx, "interface", ifname);
    let peer = t.field(ctx, "peer", object_name);
    let peers = peer_list(ctx, t);
    let given: Vec<&str> = ["interface", "peer", "peers"]
        .into_iter()
        .filter(|k| t.inner.contains_key(*k))
        .collect();
    let mut members = Vec::new();
    let target = match (iface.opt(), peer.opt(), peers) {
        _ if given.len() != 1 => None,
        (Some((i, s)), None, None) => Some((RouteTarget::Interface(i), s)),
        (None, Some((p, s)), None) => Some((RouteTarget::Peer(p), s)),
        (None, None, Some((list, s))) => {
            let (names, spans): (Vec<String>, Vec<Span>) = list.into_iter().unzip();
            members = spans;
            Some((RouteTarget::Peers(names), s))
        }
        _ => None,
    };
    if given.len() > 1 {
        let key = given[1];
        let span = t.inner.get(key).map_or(t.span.clone(), |v| v.span());
        ctx.error(
            &span,
            t.key_path(key),
            bad(
                format!("a route has one of 'interface', 'peer' or 'peers', but this one has '{}' and '{key}'", given[0]),
                "keep 'interface' for a directly attached network, 'peer' to send it into a tunnel, or 'peers' to spread it over several tunnels (ECMP)".to_string(),
            ),
        );
    } else if given.is_empty() {
        ctx.error(
            &t.span,
            t.key_path("interface"),
            bad(
                format!("{} says nothing about where the traffic goes", t.path),
                "add interface = \"vcpe0\" (a [[interface]] name), peer = \"vpc02\" (a [[peer]] name) or peers = [\"vpc02a\", \"vpc02b\"] (ECMP)".to_string(),
            ),
        );
    }
    let advertise = t.field(ctx, "advertise", boolean).or(false);
    let attrs = route_attrs(ctx, t, advertise);
    let loc = RouteLoc {
        path: t.path.clone(),
        name: name.as_ref().map(|(_, s)| s.clone()),
        target: target.as_ref().map(|(_, s)| s.clone()),
        members,
        next_hop: next_hop.as_ref().map(|(_, s)| s.clone()),
    };
    let placeholder = IpNet::from(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let route = StaticRoute {
        name: name.map(|(n, _)| n).unwrap_or_default(),
        prefix: prefix.map_or(placeholder, |(p, _)| p),
        next_hop: next_hop.map(|(n, _)| n),
        target: target.map_or(RouteTarget::Interface(String::new()), |(t, _)| t),
        advertise,
        attrs,
    };
    (route, loc)
}

/// `med`, `communities`, `large_communities`, `prepend`: what BGP sends
/// with the route, so only with `advertise = true`.
fn route_attrs(ctx: &mut Ctx<'_>, t: &Table<'_, '_>, advertise: bool) -> RouteAttrs {
    let med = t
        .field(ctx, "med", |v| {
            int_in::<u32>(v, 0, u32::MAX, "use a MED such as 10 (lower wins)")
        })
        .opt()
        .map(|(m, _)| m);
    let attrs = RouteAttrs {
        med,
        communities: communities(ctx, t, "communities"),
        large_communities: large_communities(ctx, t, "large_communities"),
        prepend: prepend(ctx, t).map_or(0, |(p, _)| p),
    };
    if !advertise {
        for key in ["med", "communities", "large_communities", "prepend"] {
            if let Some(v) = t.inner.get(key) {
                ctx.error(
                    &v.span(),
                    t.key_path(key),
                    bad(
                        format!("'{key}' on a route that BGP does not advertise"),
                        "add advertise = true, or remove the key".to_string(),
                    ),
                );
            }
        }
    }
    attrs
}

/// `peers = ["a", "b"]`: at least one name, no name twice. `None` when
/// absent or invalid (the problem is reported).
fn peer_list(ctx: &mut Ctx<'_>, t: &Table<'_, '_>) -> Option<(Vec<(String, Span)>, Span)> {
    let (list, span) = t.list(ctx, "peers", object_name).opt()?;
    if list.is_empty() {
        ctx.error(
            &span,
            t.key_path("peers"),
            bad(
                "'peers' is empty",
                "name one or more [[peer]]s, e.g. peers = [\"vpc02a\", \"vpc02b\"]".to_string(),
            ),
        );
        return None;
    }
    for (i, (name, s)) in list.iter().enumerate() {
        if list[..i].iter().any(|(n, _)| n == name) {
            ctx.error(
                s,
                format!("{}[{i}]", t.key_path("peers")),
                bad(
                    format!("peer '{name}' is listed twice"),
                    "list each peer once".to_string(),
                ),
            );
            return None;
        }
    }
    Some((list, span))
}
