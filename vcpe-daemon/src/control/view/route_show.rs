//! `vcpectl route show NAME`: one static route as configured (or added),
//! whether the FIB forwards its prefix by it, and whether BGP announces
//! it.

use vcpe_api::Reply;
use vcpe_api::view::{FibEntry, RouteDetail};
use vcpe_bgp::rib::RouteSource;

use super::inspect::inspect;
use super::rib::{ConfigRoute, Protocol, config_routes};
use super::{View, error, fib};

/// `vcpectl route show NAME`.
pub fn show(view: &View<'_>, name: &str) -> Reply {
    let table = &view.config.routes;
    let Some(route) = table.iter().find(|r| r.name == name).cloned() else {
        let known: Vec<&str> = table.iter().map(|r| r.name.as_str()).collect();
        return error(format!(
            "no route named {name:?}; routes: {known:?} (`vcpectl route list`)"
        ));
    };
    let all = config_routes(view.config, view.topology, table, view.neighbors());
    let prefix = route.prefix;
    let entry = view.with_routing(|r| r.exact(prefix));
    let cands: Vec<&ConfigRoute> = all.iter().filter(|r| r.prefix == prefix).collect();
    let holds = |c: &ConfigRoute| entry.as_ref() == Some(&c.group);
    // The FIB entry belongs to the most preferred candidate it matches
    // (a connected route and a static one can send to the same place).
    let winner = cands.iter().find(|c| holds(c));
    let (state, note) = match (&entry, winner) {
        (Some(_), Some(w)) if w.protocol == Protocol::Static && w.source == route.name => (
            "installed",
            format!("the FIB forwards {prefix} by this route"),
        ),
        (Some(g), w) => {
            let by = w.map_or_else(
                || "a BGP route".to_owned(),
                |c| format!("{} {}", c.protocol, c.source),
            );
            let why = match w.map(|c| c.protocol) {
                Some(Protocol::Connected) => "connected routes win over static ones",
                _ => "it is the more preferred route for the prefix",
            };
            (
                "shadowed",
                format!(
                    "the FIB forwards {prefix} by {by} ({}), not by this route: {why}",
                    fib::group_egress(view.config, view.topology, g)
                ),
            )
        }
        (None, _) => (
            "missing",
            format!(
                "{prefix} is not in the FIB: packets to it are dropped; delete and add the route \
                 again, or restart vcped, and report this"
            ),
        ),
    };
    let bgp_originated = match view.bgp {
        Some(b) => match inspect(b, move |sp, _| {
            sp.rib()
                .routes(prefix)
                .iter()
                .any(|v| v.source == RouteSource::Local)
        }) {
            Ok(x) => Some(x),
            Err(m) => return error(m),
        },
        None => None,
    };
    Reply::Route(Box::new(RouteDetail {
        route: vcpe_api::RouteSpec::from(&route),
        fib_state: state.to_owned(),
        fib_note: note,
        fib: entry.map(|g| FibEntry {
            prefix: prefix.to_string(),
            hops: fib::hops(view.config, view.topology, &g),
        }),
        bgp_originated,
    }))
}
