//! The one place every control [`Request`] is dispatched: the socket
//! server, the metrics endpoint and SIGHUP all go through
//! [`Api::handle`].

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use vcpe_api::{Handler, Reply, Request, Status};

use super::commit::Commits;
use super::reload::Reload;
use super::routes::Routes;
use super::view::View;
use crate::bfd_driver::BfdHandle;
use crate::bgp_driver::BgpHandle;
use crate::dataplane::Dataplane;
use crate::routing::Routing;
use crate::running_config::RunningConfig;
use crate::topology::Topology;

/// The running daemon, as the control API sees it.
#[derive(Debug)]
pub struct Api {
    /// When the daemon started.
    pub started: Instant,
    /// The config file.
    pub config_path: PathBuf,
    /// The config that runs now.
    pub running: RunningConfig,
    /// Its interfaces and tunnel peers by name (fixed until a restart).
    pub topology: Arc<Topology>,
    /// The forwarding plane: devices, tunnels, workers (`None` once it
    /// stops). Workers never take the mutex.
    pub dataplane: Mutex<Option<Dataplane>>,
    /// The FIB writer and every route source; the BGP FIB thread and
    /// control requests take turns. Workers never take the mutex.
    pub routing: Arc<Mutex<Routing>>,
    /// The BGP speaker task, if `[bgp]` is configured.
    pub bgp: Option<BgpHandle>,
    /// The BFD task, if a neighbor has `bfd = true`.
    pub bfd: Option<BfdHandle>,
    /// Config history and the pending commit-confirm
    /// (`vcpectl config apply|confirm|history|rollback`).
    pub commits: Commits,
}

impl Api {
    fn routes(&self) -> Routes<'_> {
        Routes {
            running: &self.running,
            path: &self.config_path,
            routing: &self.routing,
            bgp: self.bgp.as_ref(),
        }
    }

    fn reload(&self) -> Reload<'_> {
        Reload {
            routes: self.routes(),
            bfd: self.bfd.as_ref(),
            topology: &self.topology,
            dataplane: &self.dataplane,
        }
    }

    fn status(&self) -> Status {
        let config = self.running.load();
        Status {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            pid: std::process::id(),
            uptime_secs: self.started.elapsed().as_secs(),
            config_path: self.config_path.display().to_string(),
            router_id: config.router.id.to_string(),
            asn: config.router.asn,
            interfaces: config.interfaces.len(),
            static_routes: config.routes.len(),
            peers: config.peers.len(),
            bgp_neighbors: config.bgp.as_ref().map_or(0, |b| b.neighbors.len()),
        }
    }
}

impl Handler for Api {
    fn handle(&self, request: Request) -> Reply {
        self.handle_from(request, None)
    }

    fn handle_from(&self, request: Request, uid: Option<u32>) -> Reply {
        match request {
            Request::ConfigApply {
                text,
                source,
                confirm_secs,
            } => self.commit(&text, &source, format!("apply {source}"), confirm_secs, uid),
            Request::ConfigConfirm => self.confirm(uid),
            Request::ConfigHistory => self.history(),
            Request::ConfigRollback { to, confirm_secs } => self.rollback(to, confirm_secs, uid),
            Request::Status => Reply::Status(self.status()),
            Request::Reload => self.reload().apply(),
            Request::ConfigDiff => self.reload().show(),
            Request::RouteAdd(spec) => self.routes().add(spec),
            Request::RouteDel { name } => self.routes().del(&name),
            Request::RouteList => self.routes().list(),
            Request::BgpSummary => {
                super::bgp_requests::summary(self.bgp.as_ref(), &self.running.load())
            }
            Request::BgpRoutes { prefix } => super::bgp_requests::routes(self.bgp.as_ref(), prefix),
            Request::BgpNeighbor {
                address,
                action,
                persist,
                message,
            } => super::drain::neighbor(
                self.bgp.as_ref(),
                &self.running,
                &self.config_path,
                super::drain::NeighborRequest {
                    address,
                    action,
                    persist,
                    message,
                },
            ),
            Request::BfdSessions => super::bfd_requests::sessions(self.bfd.as_ref()),
            request @ (Request::Stats
            | Request::RouteShow { .. }
            | Request::Rib { .. }
            | Request::Explain { .. }
            | Request::BgpNeighborDetail { .. }
            | Request::BgpAdjRib { .. }
            | Request::TunnelList) => View {
                config: &self.running.load(),
                topology: &self.topology,
                dataplane: &self.dataplane,
                routing: &self.routing,
                bgp: self.bgp.as_ref(),
                bfd: self.bfd.as_ref(),
            }
            .answer(request),
        }
    }
}
