//! The Prometheus endpoint (`[metrics] listen`): `GET /metrics` answers
//! with the same numbers as `vcpectl status`, `stats`, `bgp summary` and
//! `bfd`,
//! because it asks the daemon the same control requests
//! ([`collect`]) and renders their replies ([`render`]).
//!
//! ```text
//!  scraper ──GET /metrics──▶ serve.rs ──Request::{Status,Stats,BgpSummary}──▶ Handler (daemon state)
//!          ◀──text─────────  render.rs ◀──Reply::{Status,Stats,BgpSummary}──┘
//! ```

mod kernel;
pub mod process;
pub mod render;
pub mod serve;

pub use render::{Format, Scrape, render};
pub use serve::{bind, serve};
use vcpe_api::{Handler, Reply, Request};

/// Asks `handler` what one scrape shows: status, dataplane counters and,
/// when neighbors are configured, the BGP summary; the tunnels' states;
/// the process's resources and the time. `None` only if the
/// status request itself fails (which the daemon's handler never does).
pub fn collect(handler: &dyn Handler) -> Option<Scrape> {
    let Reply::Status(status) = handler.handle(Request::Status) else {
        return None;
    };
    let stats = match handler.handle(Request::Stats) {
        Reply::Stats(s) => Ok(*s),
        Reply::Error { message } => Err(message),
        other => Err(format!("unexpected reply to stats: {other:?}")),
    };
    let bgp = (status.bgp_neighbors > 0).then(|| match handler.handle(Request::BgpSummary) {
        Reply::BgpSummary { neighbors } => Ok(neighbors),
        Reply::Error { message } => Err(message),
        other => Err(format!("unexpected reply to bgp summary: {other:?}")),
    });
    let bfd = match handler.handle(Request::BfdSessions) {
        Reply::BfdSessions { sessions, .. } if sessions.is_empty() => None,
        Reply::BfdSessions { sessions, .. } => Some(Ok(sessions)),
        Reply::Error { message } => Some(Err(message)),
        other => Some(Err(format!("unexpected reply to bfd: {other:?}"))),
    };
    let tunnels = (status.peers > 0).then(|| match handler.handle(Request::TunnelList) {
        Reply::Tunnels { tunnels, .. } => Ok(tunnels),
        Reply::Error { message } => Err(message),
        other => Err(format!("unexpected reply to tunnel list: {other:?}")),
    });
    for (part, e) in [
        ("dataplane", stats.as_ref().err()),
        ("bgp", bgp.as_ref().and_then(|b| b.as_ref().err())),
        ("bfd", bfd.as_ref().and_then(|b| b.as_ref().err())),
        ("tunnels", tunnels.as_ref().and_then(|t| t.as_ref().err())),
    ] {
        if let Some(e) = e {
            tracing::debug!(part, error = %e, "metrics scrape: part of the daemon did not answer");
        }
    }
    Some(Scrape {
        status,
        stats,
        bgp,
        bfd,
        tunnels,
        process: process::Process::read(),
        now: process::now_unix(),
    })
}
