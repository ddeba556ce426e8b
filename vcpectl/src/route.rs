//! `vcpectl route add|del|list|show`: static routes, live.

use clap::Subcommand;
use vcpe_api::view::RouteDetail;
use vcpe_api::{Request, RouteSpec};

use crate::table::{Align, Table, kv, or_dash};

const USAGE: &str = "usage: vcpectl route add NAME PREFIX [via NEXT_HOP] (dev IFACE | peer PEER \
                     [peer PEER ...]) [--advertise | --no-advertise]";

#[derive(Debug, Subcommand)]
pub enum RouteCommand {
    /// Add a static route: `route add NAME PREFIX [via NEXT_HOP]
    /// (dev IFACE | peer PEER [peer PEER ...]) [--advertise | --no-advertise]`;
    /// several `peer`s make one ECMP route over their tunnels.
    Add {
        /// Unique route name.
        name: String,
        /// Destination prefix, e.g. 10.1.3.0/24.
        prefix: String,
        /// `via ADDR`, then `dev IFACE` or `peer PEER` (repeatable).
        words: Vec<String>,
        /// Announce the prefix by BGP.
        #[arg(long, conflicts_with = "no_advertise")]
        advertise: bool,
        /// Do not announce it (the default).
        #[arg(long)]
        no_advertise: bool,
    },
    /// Delete a static route by name.
    Del {
        /// The route's name.
        name: String,
    },
    /// List the static routes.
    List,
    /// One static route: where it goes, whether the FIB forwards its
    /// prefix by it, whether BGP announces it.
    Show {
        /// The route's name.
        name: String,
    },
}

/// The request of a `route` command; `Err` is a usage error.
pub fn request(c: RouteCommand) -> Result<Request, String> {
    Ok(match c {
        RouteCommand::Add {
            name,
            prefix,
            words,
            advertise,
            no_advertise: _,
        } => Request::RouteAdd(spec(name, prefix, &words, advertise)?),
        RouteCommand::Del { name } => Request::RouteDel { name },
        RouteCommand::List => Request::RouteList,
        RouteCommand::Show { name } => Request::RouteShow { name },
    })
}

/// Parses `route add`'s words after the prefix (`via`, `dev`, `peer`).
pub fn spec(
    name: String,
    prefix: String,
    words: &[String],
    advertise: bool,
) -> Result<RouteSpec, String> {
    let mut spec = RouteSpec {
        name,
        prefix,
        interface: None,
        peer: None,
        peers: Vec::new(),
        next_hop: None,
        advertise,
    };
    let mut words = words.iter();
    while let Some(w) = words.next() {
        let mut value = |what: &str| {
            words
                .next()
                .cloned()
                .ok_or_else(|| format!("`{w}` needs {what} after it; {USAGE}"))
        };
        if w == "peer" {
            let p = value("a tunnel peer name")?;
            if spec.peers.contains(&p) {
                return Err(format!("peer {p} is given twice; {USAGE}"));
            }
            spec.peers.push(p);
            continue;
        }
        let slot = match w.as_str() {
            "via" => &mut spec.next_hop,
            "dev" => &mut spec.interface,
            "advertise" => return Err(format!("write `--advertise`, not `advertise`; {USAGE}")),
            other => return Err(format!("unexpected `{other}`; {USAGE}")),
        };
        if slot.is_some() {
            return Err(format!("`{w}` is given twice; {USAGE}"));
        }
        *slot = Some(value(match w.as_str() {
            "via" => "an address",
            "dev" => "an interface name",
            _ => "a tunnel peer name",
        })?);
    }
    if spec.peers.len() == 1 {
        spec.peer = spec.peers.pop();
    }
    if spec.interface.is_some() == (spec.peer.is_some() || !spec.peers.is_empty()) {
        return Err(format!(
            "say where the route goes: `dev IFACE` or `peer PEER` (repeated for ECMP), exactly one of the two; {USAGE}"
        ));
    }
    Ok(spec)
}

fn to(r: &RouteSpec) -> String {
    match (&r.interface, &r.peer) {
        (Some(i), _) => format!("dev {i}"),
        (_, Some(p)) => format!("peer {p}"),
        _ if !r.peers.is_empty() => format!("peers {}", r.peers.join(",")),
        _ => "-".into(),
    }
}

/// `vcpectl route list`.
pub fn list(routes: &[RouteSpec]) -> String {
    let mut t = Table::new(&[
        ("NAME", Align::Left),
        ("PREFIX", Align::Left),
        ("TO", Align::Left),
        ("VIA", Align::Left),
        ("ADVERTISE", Align::Left),
    ]);
    for r in routes {
        t.row([
            r.name.clone(),
            r.prefix.clone(),
            to(r),
            or_dash(r.next_hop.as_deref()),
            if r.advertise { "yes" } else { "no" }.to_owned(),
        ]);
    }
    t.render()
}

/// `vcpectl route show NAME`.
pub fn detail(d: &RouteDetail) -> String {
    let r = &d.route;
    let fib = match &d.fib {
        Some(e) => {
            let hops: Vec<String> = e.hops.iter().map(crate::explain::hop).collect();
            format!("{}: {}\n-> {}", d.fib_state, d.fib_note, hops.join("\n-> "))
        }
        None => format!("{}: {}", d.fib_state, d.fib_note),
    };
    let bgp = match d.bgp_originated {
        None => "BGP is not configured".to_owned(),
        Some(true) => "BGP originates the prefix now".to_owned(),
        Some(false) => "BGP does not announce it".to_owned(),
    };
    let mut out = format!("route {}\n", r.name);
    out += &kv(
        2,
        &[
            ("prefix", r.prefix.clone()),
            ("to", to(r)),
            ("via", or_dash(r.next_hop.as_deref())),
            (
                "advertise",
                format!("{} ({bgp})", if r.advertise { "yes" } else { "no" }),
            ),
            ("FIB", fib),
        ],
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn route_words_parse_like_ip_route() {
        let s = spec(
            "a".into(),
            "10.9.0.0/16".into(),
            &words("via 10.0.1.7 dev vcpe0"),
            true,
        )
        .unwrap();
        assert_eq!(s.next_hop.as_deref(), Some("10.0.1.7"));
        assert_eq!(s.interface.as_deref(), Some("vcpe0"));
        assert!(s.advertise);
    }

    #[test]
    fn bad_route_words_say_what_would_be_right() {
        let err = |w: &str| spec("a".into(), "10.9.0.0/16".into(), &words(w), false).unwrap_err();
        assert!(err("dev").contains("`dev` needs an interface name"));
        assert!(err("dev a peer b").contains("exactly one"));
        assert!(err("peer a peer a").contains("given twice"));
        let ecmp = spec(
            "e".into(),
            "10.2.0.0/16".into(),
            &words("peer b1 peer b2"),
            false,
        )
        .unwrap();
        assert_eq!(
            (ecmp.peer, ecmp.peers),
            (None, vec!["b1".to_owned(), "b2".to_owned()])
        );
        let one = spec("o".into(), "10.2.0.0/16".into(), &words("peer b1"), false).unwrap();
        assert_eq!((one.peer.as_deref(), one.peers.len()), (Some("b1"), 0));
        assert!(err("via 10.0.0.1").contains("`dev IFACE` or `peer PEER`"));
        assert!(err("dev a dev b").contains("given twice"));
        assert!(err("dev a advertise").contains("write `--advertise`"));
        assert!(err("gw 1.2.3.4").contains("unexpected `gw`; usage: vcpectl route add"));
    }
}
