//! Control requests about BGP, answered by asking the speaker task and
//! waiting for its reply.

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
use tokio::sync::oneshot;
use vcpe_api::{BgpNeighbor, BgpRoute, NeighborAction, Reply};
use vcpe_bgp::model::Origin;
use vcpe_bgp::rib::{RouteSource, RouteView};

use crate::bgp_driver::{BgpHandle, Command};

const NO_BGP: &str = "BGP is not configured: add a [bgp] section with neighbors to the config \
                      and restart (or reload) vcped";

/// Waits for the speaker's answer. Control handlers run on a blocking
/// thread of the runtime (`spawn_blocking`); `block_in_place` also lets
/// this block when called from a worker.
pub(crate) fn ask<T>(
    bgp: &BgpHandle,
    make: impl FnOnce(oneshot::Sender<T>) -> Command,
) -> Result<T, Reply> {
    let (tx, rx) = oneshot::channel();
    if !bgp.send(make(tx)) {
        return Err(error(
            "the BGP task has stopped; see the vcped log, then restart vcped",
        ));
    }
    tokio::task::block_in_place(|| {
        let rt = tokio::runtime::Handle::current();
        rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), rx).await })
    })
    .map_err(|_| error("the BGP task did not answer within 10 s; it may be overloaded, try again"))?
    .map_err(|_| error("the BGP task dropped the request; see the vcped log"))
}

fn error(message: &str) -> Reply {
    Reply::Error {
        message: message.to_owned(),
    }
}

/// `vcpectl bgp summary`; each neighbor's description from `config`.
pub fn summary(bgp: Option<&BgpHandle>, config: &vcpe_config::Config) -> Reply {
    let Some(bgp) = bgp else { return error(NO_BGP) };
    match ask(bgp, Command::Summary) {
        Ok(list) => Reply::BgpSummary {
            neighbors: list
                .into_iter()
                .map(|s| BgpNeighbor {
                    address: s.addr.to_string(),
                    asn: s.asn,
                    state: s.state,
                    since_secs: s.since_secs,
                    received: s.received,
                    accepted: s.accepted,
                    advertised: s.advertised,
                    messages_in: s.messages_in,
                    messages_out: s.messages_out,
                    first_as_total: s.first_as_total,
                    unencodable_total: s.unencodable_total,
                    reflected_loops_total: s.reflected_loops_total,
                    last_error: s.last_error,
                    established_transitions: s.established_transitions,
                    out_queued_bytes: s.out_queued_bytes,
                    out_behind: s.out_behind,
                    description: config
                        .bgp
                        .as_ref()
                        .and_then(|b| b.neighbors.iter().find(|n| n.address == s.addr))
                        .and_then(|n| n.description.clone()),
                })
                .collect(),
        },
        Err(r) => r,
    }
}

/// `vcpectl show route [PREFIX]`.
pub fn routes(bgp: Option<&BgpHandle>, prefix: Option<String>) -> Reply {
    let Some(bgp) = bgp else { return error(NO_BGP) };
    let prefix = match prefix.map(|p| p.parse::<IpNet>()) {
        None => None,
        Some(Ok(p)) => Some(p.trunc()),
        Some(Err(_)) => {
            return error("not a prefix; write it as address/length, e.g. 10.2.0.0/16");
        }
    };
    let neighbors = match ask(bgp, Command::Summary) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let source = |s: RouteSource| match s {
        RouteSource::Local => "local".to_owned(),
        RouteSource::Peer(id) => neighbors
            .iter()
            .find(|n| n.id == id)
            .map_or_else(|| format!("peer {}", id.0), |n| n.addr.to_string()),
    };
    match ask(bgp, |tx| Command::Routes(prefix, tx)) {
        Ok(rows) => Reply::BgpRoutes {
            routes: rows
                .into_iter()
                .flat_map(|(_, paths)| paths)
                .map(|v: RouteView| BgpRoute {
                    prefix: v.prefix.to_string(),
                    best: v.best,
                    source: source(v.source),
                    as_path: super::view::attrs::as_path(&v.attrs),
                    next_hop: v.attrs.next_hop.map(|a| a.to_string()),
                    origin: match v.attrs.origin {
                        Origin::Igp => "igp",
                        Origin::Egp => "egp",
                        Origin::Incomplete => "incomplete",
                    }
                    .to_owned(),
                    local_pref: v.attrs.local_pref,
                    med: v.attrs.med,
                    reason: v.reason.to_string(),
                    stale: v.stale,
                })
                .collect(),
        },
        Err(r) => r,
    }
}

/// `vcpectl bgp enable|disable|refresh ADDR`; `message` is the RFC 9003
/// shutdown communication of a disable.
pub fn neighbor(
    bgp: Option<&BgpHandle>,
    addr: IpAddr,
    action: NeighborAction,
    message: Option<String>,
) -> Reply {
    let Some(bgp) = bgp else { return error(NO_BGP) };
    let r = match action {
        NeighborAction::Enable => ask(bgp, |tx| Command::Enable(addr, tx)),
        NeighborAction::Disable => ask(bgp, |tx| Command::Disable(addr, message, tx)),
        NeighborAction::Refresh => ask(bgp, |tx| Command::Refresh(addr, tx)),
    };
    match r {
        Ok(true) => Reply::Done {
            message: format!("{action:?} {addr}: done").to_lowercase(),
        },
        Ok(false) => error(&match action {
            NeighborAction::Refresh => format!(
                "cannot refresh {addr}: no such neighbor, the session is not Established, or the \
                 neighbor did not announce route refresh; check `vcpectl bgp summary`"
            ),
            _ => format!("{addr} is not a configured BGP neighbor; see `vcpectl bgp summary`"),
        }),
        Err(r) => r,
    }
}
