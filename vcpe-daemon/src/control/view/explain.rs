//! `vcpectl explain ADDRESS`: the FIB entry the workers use for a
//! destination (a lookup in the live FIB snapshot), where it sends it, the
//! route behind the entry and why it won, the candidates that lost, the
//! less specific entries that also cover the address, and anything that
//! would surprise (a more specific BGP route left out of the FIB, a
//! tunnel without a session); with a flow, which ECMP member it takes
//! (`flow.rs`).

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnet::IpNet;
use vcpe_api::view::{Explain, RibRoute};
use vcpe_api::{FlowSpec, Reply};

use super::inspect::{Select, inspect, paths};
use super::rib::table;
use super::{View, error, fib, tunnels};

/// `vcpectl explain ADDRESS [--from SRC --proto P --sport N --dport N]`.
pub fn explain(view: &View<'_>, address: &str, flow: Option<&FlowSpec>) -> Reply {
    let Ok(addr) = address.parse::<IpAddr>() else {
        return error(format!(
            "{address:?} is not an IP address; write e.g. 10.2.1.7 or fd00:2:1::7 (for a prefix, \
             use `vcpectl show route PREFIX`)"
        ));
    };
    let tunnel_states = match view.with_dataplane(|f| tunnels::states(&f.tunnel_peers())) {
        Ok(x) => x,
        Err(m) => return error(m),
    };
    let (group, covering) = view.with_routing(|r| (r.lookup(addr), r.covering(addr)));
    let Some(group) = group else {
        return error(format!(
            "{addr} is not routed: no FIB entry covers it (and there is no default route), so \
             vcped drops packets to it and answers ICMP unreachable. Add a route \
             (`vcpectl route add NAME PREFIX dev IFACE|peer PEER`), or if BGP should provide \
             one, check `vcpectl bgp summary` and `vcpectl show route {addr}`"
        ));
    };
    let mut notes = Vec::new();
    let prefix = match covering.first() {
        Some((p, g)) => {
            if *g != group {
                notes.push(
                    "the FIB changed while this was looked up; run the command again".to_owned(),
                );
            }
            *p
        }
        None => IpNet::from(addr),
    };
    let routes = view.config_routes();
    let (paths, bgp_lookup) = match view.bgp {
        Some(b) => {
            let p = match paths(b, Select::Exact(prefix)) {
                Ok(p) => p,
                Err(m) => return error(m),
            };
            // The RIB's own longest match, to spot a more specific route
            // that did not make it into the FIB.
            let l = inspect(b, move |sp, _| {
                sp.rib().lookup(addr).map(|(n, best)| (n, best.next_hop))
            });
            (p, l.ok().flatten())
        }
        None => (Default::default(), None),
    };
    let rows = table(
        view.config,
        view.topology,
        &BTreeSet::from([prefix]),
        &routes,
        &paths,
        &[Some(group.clone())],
    );
    let mut rows = rows.into_iter();
    let (route, losers) = match rows.next() {
        Some(r) if r.best => (Some(r), rows.collect()),
        Some(r) => (None, std::iter::once(r).chain(rows).collect()),
        None => (None, Vec::new()),
    };
    let why = match &route {
        Some(r) => {
            let mut w = r.reason.clone();
            let equal = losers.iter().filter(|l: &&RibRoute| l.multipath).count();
            let lost = losers.len() - equal;
            if equal > 0 {
                w += &format!(
                    "; {equal} equal path{} share{} the traffic (multipath, below)",
                    if equal == 1 { "" } else { "s" },
                    if equal == 1 { "s" } else { "" }
                );
            }
            if lost > 0 {
                w += &format!(
                    "; {lost} other candidate{} for {prefix} lost (below)",
                    if lost == 1 { "" } else { "s" }
                );
            }
            w
        }
        None => format!(
            "the FIB holds {prefix} but no configured or BGP route explains it (a change may be in \
             flight); run the command again"
        ),
    };
    if let Some((n, nh)) = bgp_lookup
        && n.prefix_len() > prefix.prefix_len()
    {
        notes.push(format!(
            "BGP has the more specific {n} (next hop {}), but it is not in the FIB: no route \
             reaches its next hop; see `vcpectl show route {n}`",
            nh.map_or_else(|| "none".to_owned(), |a| a.to_string())
        ));
    }
    let hops = fib::hops(view.config, view.topology, &group);
    if let Some(r) = route.as_ref().filter(|r| r.protocol == "bgp")
        && let Some(nh) = r.next_hop.as_deref().and_then(|a| a.parse::<IpAddr>().ok())
        && let Some((id, _)) = view
            .topology
            .peer_hops()
            .into_iter()
            .find(|(_, h)| h.inner.contains(&nh))
        && let Some(name) = view.topology.tunnel_name(id.raw())
    {
        notes.push(format!(
            "next hop {nh} is an inner address of tunnel peer {name} (its next_hops, or a host \
             route in its allowed_prefixes): the route goes into that tunnel, whichever neighbor \
             sent it"
        ));
    }
    for h in &hops {
        if h.kind == "tunnel"
            && let Some(name) = &h.name
            && let Some((_, state)) = tunnel_states.iter().find(|(n, _)| n == name)
            && state != "up"
            && state != "stateless"
        {
            notes.push(format!(
                "tunnel {name} is {state}: packets wait for a WireGuard session (and are dropped \
                 when the queue is full); see `vcpectl tunnel list`"
            ));
        }
        if h.kind == "blackhole" {
            notes.push(format!(
                "{prefix} is a discard route: packets to {addr} are dropped"
            ));
        }
    }
    if group.len() > 1 && flow.is_none() {
        notes.push(format!(
            "{} equal-cost next hops: each flow takes one, chosen by a hash of its addresses, \
             protocol and (TCP/UDP) ports; add --from SRC --proto P --sport N --dport N to see \
             which one a flow takes",
            group.len()
        ));
    }
    let flow = match flow.map(|f| super::flow::choice(f, addr, &group, &hops)) {
        None => None,
        Some(Ok(c)) => Some(c),
        Some(Err(m)) => return error(m),
    };
    Reply::Explain(Box::new(Explain {
        address: addr.to_string(),
        prefix: prefix.to_string(),
        hops,
        route,
        why,
        losers,
        less_specific: covering
            .iter()
            .skip(1)
            .map(|(p, _)| p.to_string())
            .collect(),
        notes,
        flow,
    }))
}
