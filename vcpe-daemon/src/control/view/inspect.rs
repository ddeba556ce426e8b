//! Read-only questions to the BGP speaker task: a closure runs on the task
//! against the speaker ([`Command::Inspect`]) and its answer comes back
//! through a channel, so the control side never shares the speaker.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::Instant;

use ipnet::IpNet;
use vcpe_api::Reply;
use vcpe_bgp::rib::{PeerId, RouteSource, RouteView};
use vcpe_bgp::speaker::Speaker;

use crate::bgp_driver::{BgpHandle, Command, Inspect};

/// Runs `question` on the speaker task and waits for its answer (10 s at
/// most; the error says what went wrong and what to do).
pub fn inspect<T: Send + 'static>(
    bgp: &BgpHandle,
    question: impl FnOnce(&Speaker, Instant) -> T + Send + 'static,
) -> Result<T, String> {
    crate::control::bgp_requests::ask(bgp, |tx| {
        Command::Inspect(Inspect(Box::new(move |sp: &Speaker, now: Instant| {
            let _ = tx.send(question(sp, now));
        })))
    })
    .map_err(|r| match r {
        Reply::Error { message } => message,
        other => format!("unexpected answer from the BGP task: {other:?}"),
    })
}

/// Which prefixes [`paths`] returns.
#[derive(Debug, Clone, Copy)]
pub enum Select {
    /// Every prefix of the RIB.
    All,
    /// Exactly this prefix.
    Exact(IpNet),
    /// The longest BGP prefix covering the address, or `at_least` when
    /// that is longer (a configured route more specific than BGP's).
    Covering {
        /// The address.
        addr: IpAddr,
        /// The longest configured prefix covering it.
        at_least: Option<IpNet>,
    },
}

/// BGP's candidate paths for some prefixes, and the neighbors' addresses.
#[derive(Debug, Default)]
pub struct Paths {
    /// Neighbor address by id.
    pub neighbors: HashMap<PeerId, IpAddr>,
    /// Candidate paths by prefix, best first; only prefixes with paths.
    pub prefixes: BTreeMap<IpNet, Vec<RouteView>>,
}

impl Paths {
    /// "local" or the neighbor's address.
    pub fn source(&self, s: RouteSource) -> String {
        match s {
            RouteSource::Local => "local".to_owned(),
            RouteSource::Peer(id) => self
                .neighbors
                .get(&id)
                .map_or_else(|| format!("peer {}", id.0), IpAddr::to_string),
        }
    }

    /// The paths of `prefix` (empty if BGP has none).
    pub fn of(&self, prefix: IpNet) -> &[RouteView] {
        self.prefixes.get(&prefix).map_or(&[], Vec::as_slice)
    }
}

/// The candidate paths `select` asks for.
pub fn paths(bgp: &BgpHandle, select: Select) -> Result<Paths, String> {
    inspect(bgp, move |sp, now| {
        let rib = sp.rib();
        let neighbors = sp
            .summaries(now)
            .into_iter()
            .map(|s| (s.id, s.addr))
            .collect();
        let wanted: Vec<IpNet> = match select {
            Select::All => rib.prefixes(),
            Select::Exact(p) => vec![p],
            Select::Covering { addr, at_least } => {
                let bgp = rib.lookup(addr).map(|(p, _)| p);
                match (bgp, at_least) {
                    (Some(b), Some(c)) if c.prefix_len() > b.prefix_len() => vec![c],
                    (Some(b), _) => vec![b],
                    (None, Some(c)) => vec![c],
                    (None, None) => Vec::new(),
                }
            }
        };
        let prefixes = wanted
            .into_iter()
            .map(|p| (p, rib.routes(p)))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        Paths {
            neighbors,
            prefixes,
        }
    })
}
