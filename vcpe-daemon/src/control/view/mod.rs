//! The inspection requests of the control API — `stats`, `route show`,
//! `show route`, `explain`, `bgp neighbor`, `tunnel list` — answered from
//! the running daemon's state: the domain modules' snapshots mapped into
//! the reply types of `vcpe_api`. Read-only: nothing here changes a route,
//! a session or a counter.
//!
//! Locks are short: what the FIB holds is copied out under the routing
//! owner's mutex, which is released before the BGP speaker task is asked
//! (it runs the question as a closure on its own task, see `inspect.rs`).
//!
//! | file            | holds                                                  |
//! |-----------------|--------------------------------------------------------|
//! | `rib.rs`        | candidates per prefix, the one in the FIB marked best  |
//! | `explain.rs`    | a FIB lookup explained                                 |
//! | `route_show.rs` | one static route and its FIB state                     |
//! | `stats.rs`      | dataplane and kernel-sync counters                     |
//! | `neighbor.rs`   | one BGP neighbor, its Adj-RIB-In / Adj-RIB-Out          |
//! | `tunnels.rs`    | tunnel peers, state and counters                       |
//! | `inspect.rs`    | read-only questions to the speaker task                |
//! | `fib.rs`, `attrs.rs` | next hops and BGP attributes in words             |

pub(crate) mod attrs;
mod explain;
mod fib;
mod flow;
mod inspect;
mod neighbor;
mod rib;
mod route_show;
mod stats;
mod tunnels;

use std::sync::Mutex;

use vcpe_api::{Reply, Request};
use vcpe_config::{Config, Neighbor};

use crate::bfd_driver::BfdHandle;
use crate::bgp_driver::BgpHandle;
use crate::dataplane::Dataplane;
use crate::routing::Routing;
use crate::topology::Topology;

/// What the inspection requests read.
#[derive(Debug)]
pub struct View<'a> {
    /// The running config, as one snapshot for the whole request: its
    /// routes are every static route now, its neighbors those that run.
    pub config: &'a Config,
    /// Its interfaces and tunnel peers by name.
    pub topology: &'a Topology,
    /// The forwarding plane (`None` while it stops).
    pub dataplane: &'a Mutex<Option<Dataplane>>,
    /// The FIB and its route sources.
    pub routing: &'a Mutex<Routing>,
    /// BGP, if configured.
    pub bgp: Option<&'a BgpHandle>,
    /// BFD, if a neighbor has it.
    pub bfd: Option<&'a BfdHandle>,
}

impl View<'_> {
    /// Answers one inspection request.
    pub fn answer(&self, request: Request) -> Reply {
        match request {
            Request::Stats => stats::stats(self),
            Request::RouteShow { name } => route_show::show(self, &name),
            Request::Rib { prefix, address } => rib::show(self, prefix, address),
            Request::Explain { address, flow } => explain::explain(self, &address, flow.as_ref()),
            Request::BgpNeighborDetail { address } => neighbor::show(self, &address),
            Request::BgpAdjRib { address, direction } => {
                neighbor::adj_rib(self, &address, direction)
            }
            Request::TunnelList => tunnels::list(self),
            other => error(format!(
                "{other:?} is not an inspection request (a vcped bug; please report it)"
            )),
        }
    }

    /// The BGP neighbors that run.
    fn neighbors(&self) -> &[Neighbor] {
        self.config.bgp.as_ref().map_or(&[], |b| &b.neighbors)
    }

    /// Every configured candidate route now (see [`rib::config_routes`]).
    fn config_routes(&self) -> Vec<rib::ConfigRoute> {
        rib::config_routes(
            self.config,
            self.topology,
            &self.config.routes,
            self.neighbors(),
        )
    }

    /// Runs `f` on the routing owner under its lock.
    fn with_routing<T>(&self, f: impl FnOnce(&Routing) -> T) -> T {
        f(&self.routing.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Runs `f` on the forwarding plane under its lock.
    fn with_dataplane<T>(&self, f: impl FnOnce(&Dataplane) -> T) -> Result<T, String> {
        let guard = self.dataplane.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref() {
            Some(fwd) => Ok(f(fwd)),
            None => Err("the dataplane is stopping; try again after vcped restarted".to_owned()),
        }
    }
}

fn error(message: impl Into<String>) -> Reply {
    Reply::Error {
        message: message.into(),
    }
}
