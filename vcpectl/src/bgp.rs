//! `vcpectl bgp ...`: the summary, one neighbor in detail (as `birdc show
//! protocols all` / `vtysh show bgp neighbor` tell it), its Adj-RIB-In or
//! Adj-RIB-Out, and enable/disable/refresh.

use std::net::IpAddr;

use clap::{Subcommand, ValueEnum};
use vcpe_api::view::{AdjDirection, AdjRibRoute, NeighborDetail};
use vcpe_api::{BgpNeighbor, BgpRoute, NeighborAction, Request};

use crate::parse_address;
use crate::table::{Align, Table, duration, kv, list, or_dash};

#[derive(Debug, Subcommand)]
pub enum BgpCommand {
    /// One line per neighbor: AS, state, time in state, prefixes received /
    /// accepted / advertised, and why it last went down.
    Summary,
    /// One neighbor in detail (state, uptime, negotiated capabilities and
    /// hold time, counters, last error and NOTIFICATION), or the routes it
    /// sent us (`adj-in`, after import policy, rejected ones marked) or we
    /// send it (`adj-out`, as sent).
    Neighbor {
        /// Neighbor address.
        #[arg(value_parser = parse_address)]
        address: IpAddr,
        /// Its routes instead of its detail.
        routes: Option<Rib>,
    },
    /// Start a neighbor's session again after `disable` (or max-prefix).
    Enable {
        /// Neighbor address.
        #[arg(value_parser = parse_address)]
        address: IpAddr,
        /// Also remove `enabled = false` from the neighbor in the config
        /// file.
        #[arg(long)]
        persist: bool,
    },
    /// Stop a neighbor's session (Cease / Administrative Shutdown) until
    /// `enable`: a drain.
    Disable {
        /// Neighbor address.
        #[arg(value_parser = parse_address)]
        address: IpAddr,
        /// Also write `enabled = false` (and the message) on the neighbor
        /// in the config file, so the drain survives a restart.
        #[arg(long)]
        persist: bool,
        /// The shutdown communication the neighbor logs (RFC 9003, at most
        /// 255 bytes), e.g. "maintenance until 14:00 UTC"; default: the
        /// config's `shutdown_message`.
        #[arg(long, short)]
        message: Option<String>,
    },
    /// Ask a neighbor to send its routes again (ROUTE-REFRESH).
    Refresh {
        /// Neighbor address.
        #[arg(value_parser = parse_address)]
        address: IpAddr,
    },
}

/// Which routes of a neighbor.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Rib {
    /// Received from it, after import policy.
    AdjIn,
    /// Advertised to it.
    AdjOut,
}

/// The request of a `bgp` command.
pub fn request(c: BgpCommand) -> Request {
    let action = |address: IpAddr, action| Request::BgpNeighbor {
        address: address.to_string(),
        action,
        persist: false,
        message: None,
    };
    match c {
        BgpCommand::Summary => Request::BgpSummary,
        BgpCommand::Neighbor { address, routes } => match routes {
            None => Request::BgpNeighborDetail {
                address: address.to_string(),
            },
            Some(r) => Request::BgpAdjRib {
                address: address.to_string(),
                direction: match r {
                    Rib::AdjIn => AdjDirection::AdjIn,
                    Rib::AdjOut => AdjDirection::AdjOut,
                },
            },
        },
        BgpCommand::Enable { address, persist } => Request::BgpNeighbor {
            address: address.to_string(),
            action: NeighborAction::Enable,
            persist,
            message: None,
        },
        BgpCommand::Disable {
            address,
            persist,
            message,
        } => Request::BgpNeighbor {
            address: address.to_string(),
            action: NeighborAction::Disable,
            persist,
            message,
        },
        BgpCommand::Refresh { address } => action(address, NeighborAction::Refresh),
    }
}

/// `vcpectl bgp summary`.
pub fn summary(list: &[BgpNeighbor]) -> String {
    let mut t = Table::new(&[
        ("NEIGHBOR", Align::Left),
        ("AS", Align::Right),
        ("STATE", Align::Left),
        ("UP/DOWN", Align::Right),
        ("RECEIVED", Align::Right),
        ("ACCEPTED", Align::Right),
        ("ADVERTISED", Align::Right),
        ("LAST ERROR", Align::Left),
    ]);
    for n in list {
        t.row([
            n.address.clone(),
            n.asn.to_string(),
            n.state.clone(),
            n.since_secs.map_or_else(|| "never".to_owned(), duration),
            n.received.to_string(),
            n.accepted.to_string(),
            n.advertised.to_string(),
            n.last_error.clone().unwrap_or_default(),
        ]);
    }
    t.render()
}

/// The old BGP-only path list (a daemon answering `bgp_routes`).
pub fn paths(routes: &[BgpRoute]) -> String {
    let mut t = Table::new(&[
        ("", Align::Left),
        ("PREFIX", Align::Left),
        ("NEXT HOP", Align::Left),
        ("FROM", Align::Left),
        ("ORIGIN", Align::Left),
        ("PATH / REASON", Align::Left),
    ]);
    for r in routes {
        t.row([
            if r.best { "*>" } else { " *" }.to_owned(),
            r.prefix.clone(),
            or_dash(r.next_hop.as_deref()),
            r.source.clone(),
            r.origin.clone(),
            format!("[{}] {}", list(&r.as_path), r.reason),
        ]);
    }
    t.render()
}

/// `vcpectl bgp neighbor ADDR`.
pub fn neighbor(d: &NeighborDetail) -> String {
    let mut out = format!(
        "BGP neighbor {}, AS {} ({}{}), local AS {}\n",
        d.address,
        d.asn,
        d.kind,
        if d.route_reflector_client {
            ", route-reflector client"
        } else {
            ""
        },
        d.local_as
    );
    let mut pairs = Vec::new();
    if let Some(desc) = &d.description {
        pairs.push(("description", desc.clone()));
    }
    let since = d.since_secs.map(duration);
    pairs.push((
        "state",
        match (d.established, since) {
            (true, Some(s)) => format!("{}, up for {s}", d.state),
            (false, Some(s)) => format!("{}, down for {s}", d.state),
            (_, None) => format!("{}, never established", d.state),
        } + if d.disabled {
            " (disabled: `vcpectl bgp enable` starts it)"
        } else {
            ""
        },
    ));
    let mut mode = d.mode.clone();
    if let Some(p) = &d.tunnel_peer {
        mode += &format!(", over tunnel {p}");
    }
    if let Some(a) = &d.local_address {
        mode += &format!(", from {a}");
    }
    pairs.push(("mode", mode));
    let keepalive = d
        .keepalive
        .map_or_else(|| "hold/3".to_owned(), |k| format!("{k} s"));
    match &d.negotiated {
        Some(n) => {
            pairs.push(("router id", n.router_id.clone()));
            pairs.push((
                "hold time",
                format!(
                    "{} s negotiated, keepalive {} s (we propose {} s, keepalive {keepalive})",
                    n.hold_time, n.keepalive, d.hold_time
                ),
            ));
            pairs.push(("families", list(&n.families)));
            let mut opts = vec![
                if n.four_octet_as {
                    "4-octet AS"
                } else {
                    "2-octet AS"
                }
                .to_owned(),
            ];
            if n.route_refresh {
                opts.push("route refresh".into());
            }
            opts.push(if n.graceful_restart {
                format!(
                    "graceful restart (we help; peer restart time {} s)",
                    or_dash(n.peer_restart_time)
                )
            } else {
                "no graceful restart".into()
            });
            pairs.push(("negotiated", opts.join(", ")));
        }
        None => pairs.push((
            "hold time",
            format!("we propose {} s, keepalive {keepalive}", d.hold_time),
        )),
    }
    pairs.push(("caps sent", d.capabilities_sent.join("\n")));
    if !d.capabilities_received.is_empty() {
        pairs.push(("caps received", d.capabilities_received.join("\n")));
    }
    let rules = |r: &Option<Vec<String>>, all: &str| match r {
        None => all.to_owned(),
        Some(v) if v.is_empty() => "nothing (empty list)".to_owned(),
        Some(v) => v.join(", "),
    };
    pairs.push((
        "policy",
        format!(
            "import {}; export {}; {} import rule{}, {} export rule{}; max prefixes {}",
            rules(&d.import, "all"),
            rules(&d.export, "all"),
            d.import_rules,
            if d.import_rules == 1 { "" } else { "s" },
            d.export_rules,
            if d.export_rules == 1 { "" } else { "s" },
            d.max_prefixes
                .map_or_else(|| "none".to_owned(), |m| m.to_string())
        ),
    ));
    let c = &d.counters;
    pairs.push((
        "prefixes",
        format!(
            "received {}, accepted {}, filtered {}, stale {}, advertised {} ({} changes queued)",
            c.received, c.accepted, c.filtered, c.stale, c.advertised, c.pending_out
        ),
    ));
    pairs.push((
        "output",
        if c.out_behind {
            format!(
                "behind: {} bytes queued, {} changes pending, coalesced (the neighbor reads slowly)",
                c.out_queued_bytes, c.pending_out
            )
        } else {
            format!("{} bytes queued", c.out_queued_bytes)
        },
    ));
    pairs.push((
        "messages",
        format!(
            "in {} ({} UPDATEs), out {} ({} UPDATEs)",
            c.messages_in, c.updates_in, c.messages_out, c.updates_out
        ),
    ));
    pairs.push((
        "sessions",
        format!(
            "established {} time(s), {} connect attempt(s)",
            c.established_transitions, c.connect_attempts
        ),
    ));
    if c.looped_total
        + c.first_as_total
        + c.unencodable_total
        + c.malformed_updates
        + c.reflected_loops_total
        > 0
    {
        pairs.push((
            "dropped",
            format!(
                "{} AS loop, {} reflected loop, {} first AS not theirs, {} unencodable, {} malformed UPDATEs",
                c.looped_total,
                c.reflected_loops_total,
                c.first_as_total,
                c.unencodable_total,
                c.malformed_updates
            ),
        ));
    }
    if let Some(b) = &d.bfd {
        pairs.push((
            "BFD",
            format!(
                "{} (remote {}), {}ms x {}, detection {}ms{}",
                b.state,
                b.remote_state,
                b.tx_interval_ms,
                b.multiplier,
                b.detection_time_ms,
                b.last_down
                    .as_ref()
                    .map_or_else(String::new, |l| format!(", last down: {}", l.message))
            ),
        ));
    }
    pairs.push(("last error", or_dash(d.last_error.as_deref())));
    if let Some(c) = &d.last_down_cause {
        pairs.push(("last down cause", c.clone()));
    }
    pairs.push(("last NOTIFICATION", or_dash(d.last_notification.as_deref())));
    if let Some(s) = d.stale_for_secs {
        pairs.push(("stale routes", format!("dropped in {}", duration(s))));
    }
    out += &kv(2, &pairs);
    out
}

/// `vcpectl bgp neighbor ADDR adj-in|adj-out`.
pub fn adj_rib(neighbor: &str, direction: AdjDirection, routes: &[AdjRibRoute]) -> String {
    let what = match direction {
        AdjDirection::AdjIn => "received from",
        AdjDirection::AdjOut => "advertised to",
    };
    let mut out = format!("{} routes {what} {neighbor}\n", routes.len());
    if routes.is_empty() {
        return out;
    }
    let mut t = Table::new(&[
        ("", Align::Left),
        ("PREFIX", Align::Left),
        ("NEXT HOP", Align::Left),
        ("AS PATH", Align::Left),
        ("ORIGIN", Align::Left),
        ("MED", Align::Right),
        ("LOCAL-PREF", Align::Right),
        ("COMMUNITIES", Align::Left),
        ("NOTE", Align::Left),
    ]);
    for r in routes {
        let mut comm: Vec<String> = r.communities.clone();
        comm.extend(r.large_communities.iter().cloned());
        let mut note = if r.filtered {
            "filtered: rejected by import policy, AS loop or reflected loop (attributes not kept)"
                .to_owned()
        } else if r.stale {
            "stale: kept while the neighbor restarts".to_owned()
        } else if let Some(rule) = &r.rule {
            format!("{rule} matched")
        } else {
            String::new()
        };
        if let Some(o) = &r.originator_id {
            let sep = if note.is_empty() { "" } else { "; " };
            note = format!(
                "{note}{sep}reflected: originator {o}, cluster list [{}]",
                r.cluster_list.join(" ")
            );
        }
        let path = if r.filtered {
            "-".to_owned()
        } else {
            format!(
                "[{}]",
                r.as_path
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        };
        t.row([
            if r.best { "*>" } else { "" }.to_owned(),
            match r.path_id {
                Some(id) => format!("{} path {id}", r.prefix),
                None => r.prefix.clone(),
            },
            or_dash(r.next_hop.as_deref()),
            path,
            or_dash(r.origin.as_deref()),
            or_dash(r.med),
            or_dash(r.local_pref),
            list(&comm),
            note,
        ]);
    }
    out += &t.render();
    if direction == AdjDirection::AdjIn {
        out += "*> = BGP's best path for the prefix\n";
    }
    out
}
