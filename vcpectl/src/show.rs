//! `vcpectl show route [PREFIX|ADDRESS] [detail]`: the RIB as `birdc show
//! route [for X] [all]` shows it — every source's candidates, `*>` on the
//! one the FIB uses, then (with `detail`) every attribute and the reason.

use clap::Subcommand;
use ipnet::IpNet;
use vcpe_api::Request;
use vcpe_api::view::RibRoute;

use crate::Style;
use crate::table::{Align, Table, kv, list, or_dash};

#[derive(Debug, Subcommand)]
pub enum ShowCommand {
    /// The RIB: connected, static and BGP routes; `*>` marks the one the
    /// FIB uses, with why it won (or lost). `show route 10.2.0.0/16` is
    /// that prefix, `show route 10.2.1.7` the longest prefix covering the
    /// address; `detail` adds every BGP attribute.
    Route {
        /// `[PREFIX | ADDRESS] [detail]`.
        #[arg(num_args = 0..=2, value_name = "PREFIX|ADDRESS|detail")]
        args: Vec<String>,
    },
}

/// Splits `show route`'s words into (prefix, address, detail).
pub fn words(args: &[String]) -> Result<(Option<String>, Option<String>, bool), String> {
    let mut detail = false;
    let mut target: Option<&String> = None;
    for a in args {
        if a == "detail" || a == "all" {
            if detail {
                return Err("`detail` is given twice".into());
            }
            detail = true;
        } else if let Some(t) = target {
            return Err(format!(
                "one prefix or address at a time (got {t} and {a}); usage: vcpectl show route \
                 [PREFIX|ADDRESS] [detail]"
            ));
        } else {
            target = Some(a);
        }
    }
    let Some(t) = target else {
        return Ok((None, None, detail));
    };
    if t.contains('/') {
        let n: IpNet = t.parse().map_err(|_| {
            format!("{t} is not a prefix; write it as address/length, e.g. 10.2.0.0/16")
        })?;
        if n.trunc() != n {
            return Err(format!(
                "{n} has host bits set; did you mean the prefix {} or the address {}?",
                n.trunc(),
                n.addr()
            ));
        }
        Ok((Some(n.to_string()), None, detail))
    } else {
        let a = crate::parse_address(t).map_err(|m| format!("{t}: {m}"))?;
        Ok((None, Some(a.to_string()), detail))
    }
}

/// The request of a `show` command and how to print its reply; `Err` is
/// a usage error.
pub fn request(c: ShowCommand) -> Result<(Request, Style), String> {
    match c {
        ShowCommand::Route { args } => {
            let (prefix, address, detail) = words(&args)?;
            Ok((Request::Rib { prefix, address }, Style { detail }))
        }
    }
}

/// `*>` the route the FIB uses, `*=` an equal path it also spreads flows
/// over (BGP multipath), ` *` a candidate.
fn marker(r: &RibRoute) -> &'static str {
    match (r.best, r.multipath) {
        (true, _) => "*>",
        (false, true) => "*=",
        _ => " *",
    }
}

fn from(r: &RibRoute) -> String {
    match r.path_id {
        // ADD-PATH: one of several paths the neighbor sent.
        Some(id) => format!("{} {} path {id}", r.protocol, r.source),
        None => format!("{} {}", r.protocol, r.source),
    }
}

/// `vcpectl show route`.
pub fn rib(matched: Option<&str>, routes: &[RibRoute], detail: bool) -> String {
    if routes.is_empty() {
        return "no routes\n".to_owned();
    }
    let mut out = match matched {
        Some(p) => format!("longest match: {p}\n"),
        None => String::new(),
    };
    if detail {
        let mut last: Option<&str> = None;
        for r in routes {
            if last != Some(r.prefix.as_str()) {
                if last.is_some() {
                    out.push('\n');
                }
                out += &format!("{}\n", r.prefix);
                last = Some(&r.prefix);
            }
            out += &format!(
                "  {} {}{}\n",
                marker(r),
                from(r),
                match (&r.egress, r.best || r.multipath, r.in_fib) {
                    (Some(e), true, true) => format!(" (in the FIB, {e})"),
                    (_, true, false) => " (NOT in the FIB)".to_owned(),
                    _ => String::new(),
                }
            );
            let mut pairs = vec![("next hop", or_dash(r.next_hop.as_deref()))];
            if r.protocol == "bgp" {
                pairs.extend([
                    ("as path", list(&r.as_path)),
                    ("origin", or_dash(r.origin.as_deref())),
                    ("med", or_dash(r.med)),
                    ("local-pref", or_dash(r.local_pref)),
                    ("communities", list(&r.communities)),
                    ("large comm.", list(&r.large_communities)),
                    ("bgp best", if r.bgp_best { "yes" } else { "no" }.to_owned()),
                ]);
                if let Some(rule) = &r.rule {
                    pairs.push(("policy", format!("{rule} of the neighbor matched")));
                }
                if r.stale {
                    pairs.push(("stale", "yes: kept while the neighbor restarts".into()));
                }
            } else {
                pairs.push(("egress", or_dash(r.egress.as_deref())));
                if r.protocol == "static" {
                    pairs.push((
                        "advertise",
                        if r.advertised { "yes" } else { "no" }.to_owned(),
                    ));
                }
            }
            let why = if r.best || r.multipath { "why" } else { "lost" };
            pairs.push((why, r.reason.clone()));
            out += &kv(6, &pairs);
        }
        return out;
    }
    let mut t = Table::new(&[
        ("", Align::Left),
        ("PREFIX", Align::Left),
        ("FROM", Align::Left),
        ("NEXT HOP", Align::Left),
        ("EGRESS", Align::Left),
        ("AS PATH", Align::Left),
        ("WHY", Align::Left),
    ]);
    let mut last: Option<&str> = None;
    for r in routes {
        let prefix = if last == Some(r.prefix.as_str()) {
            String::new()
        } else {
            r.prefix.clone()
        };
        last = Some(&r.prefix);
        let mut why = r.reason.clone();
        if r.stale {
            why += " (stale: neighbor restarting)";
        }
        t.row([
            marker(r).to_owned(),
            prefix,
            from(r),
            or_dash(r.next_hop.as_deref()),
            or_dash(r.egress.as_deref()),
            if r.protocol == "bgp" {
                format!(
                    "[{}]",
                    r.as_path
                        .iter()
                        .map(u32::to_string)
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            } else {
                String::new()
            },
            why,
        ]);
    }
    out += &t.render();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn show_route_words() {
        assert_eq!(words(&s(&[])).unwrap(), (None, None, false));
        assert_eq!(
            words(&s(&["10.2.0.0/16", "detail"])).unwrap(),
            (Some("10.2.0.0/16".into()), None, true)
        );
        assert_eq!(
            words(&s(&["detail", "10.2.1.7"])).unwrap(),
            (None, Some("10.2.1.7".into()), true)
        );
        assert!(
            words(&s(&["10.2.1.7/16"]))
                .unwrap_err()
                .contains("did you mean the prefix 10.2.0.0/16")
        );
        assert!(
            words(&s(&["10.2.1.7", "10.2.1.8"]))
                .unwrap_err()
                .contains("one prefix or address")
        );
        assert!(
            words(&s(&["vpc02"]))
                .unwrap_err()
                .contains("not an IP address")
        );
    }

    fn row(prefix: &str, protocol: &str, source: &str, best: bool) -> RibRoute {
        RibRoute {
            prefix: prefix.into(),
            protocol: protocol.into(),
            source: source.into(),
            best,
            in_fib: true,
            next_hop: None,
            egress: Some("dev vcpe0".into()),
            as_path: if protocol == "bgp" {
                vec![65002]
            } else {
                vec![]
            },
            origin: None,
            med: None,
            local_pref: None,
            communities: vec![],
            large_communities: vec![],
            bgp_best: false,
            rule: None,
            reason: "why".into(),
            beaten_by: None,
            stale: false,
            advertised: false,
            multipath: false,
            path_id: None,
        }
    }

    #[test]
    fn the_table_marks_the_best_and_prints_each_prefix_once() {
        let text = rib(
            None,
            &[
                row("10.1.0.0/24", "connected", "vcpe0", true),
                row("10.1.0.0/24", "static", "lan", false),
                row("10.2.0.0/16", "bgp", "10.255.0.2", true),
            ],
            false,
        );
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[1].starts_with("*>  10.1.0.0/24  connected vcpe0"),
            "{text}"
        );
        assert!(
            lines[2].starts_with(" *               static lan"),
            "{text}"
        );
        assert!(
            lines[3].contains("bgp 10.255.0.2") && lines[3].contains("[65002]"),
            "{text}"
        );
        let detail = rib(
            Some("10.2.0.0/16"),
            &[row("10.2.0.0/16", "bgp", "10.255.0.2", true)],
            true,
        );
        assert!(detail.starts_with("longest match: 10.2.0.0/16\n10.2.0.0/16\n  *> bgp 10.255.0.2 (in the FIB, dev vcpe0)\n"), "{detail}");
        assert!(detail.contains("      as path      65002\n"), "{detail}");
    }

    #[test]
    fn multipath_members_are_marked() {
        let mut m = row("10.2.0.0/16", "bgp", "10.255.0.3", false);
        m.multipath = true;
        let rows = [row("10.2.0.0/16", "bgp", "10.255.0.2", true), m];
        let out = rib(None, &rows, false);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[1].starts_with("*>"), "{out}");
        assert!(lines[2].starts_with("*="), "{out}");
        let detail = rib(None, &rows, true);
        assert!(
            detail.contains("*= bgp 10.255.0.3 (in the FIB, dev vcpe0)"),
            "{detail}"
        );
    }
}
