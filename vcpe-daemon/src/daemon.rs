//! The daemon's top level: load the config, start the control socket, run
//! until a signal says stop.
//!
//! Dataplane, BGP and tunnel tasks are wired in here as they land.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};
use tracing::info;
use vcpe_api::{Handler, Reply, Request, Status};
use vcpe_config::Config;

use crate::bgp::BgpHandle;
use crate::control::server::Server;
use crate::dataplane::Dataplane;
use crate::routing::Routing;
use crate::routing::bgp_feed::FibFeed;

/// State the control API reads.
#[derive(Debug)]
struct State {
    started: Instant,
    config_path: PathBuf,
    config: Config,
    /// The forwarding plane: devices, tunnels, workers (`None` once it
    /// stops). Workers never take the mutex.
    dataplane: Mutex<Option<Dataplane>>,
    /// The FIB writer and every route source; the BGP FIB thread and
    /// control requests take turns. Workers never take the mutex.
    routing: Arc<Mutex<Routing>>,
    /// The BGP speaker task, if `[bgp]` is configured.
    bgp: Option<BgpHandle>,
    /// Every static route now: the config's, then those added live.
    routes: Mutex<Vec<vcpe_config::StaticRoute>>,
    /// The BGP neighbors that run now (a reload changes them).
    neighbors: Mutex<Vec<vcpe_config::Neighbor>>,
}

impl State {
    fn routes(&self) -> crate::control::routes::Routes<'_> {
        crate::control::routes::Routes {
            config: &self.config,
            path: &self.config_path,
            table: &self.routes,
            routing: &self.routing,
            bgp: self.bgp.as_ref(),
        }
    }
}

impl State {
    fn reload(&self) -> crate::control::reload::Reload<'_> {
        crate::control::reload::Reload {
            routes: self.routes(),
            neighbors: &self.neighbors,
        }
    }
}

impl Handler for State {
    fn handle(&self, request: Request) -> Reply {
        match request {
            Request::Reload => self.reload().apply(),
            Request::ConfigDiff => self.reload().show(),
            Request::Status => Reply::Status(Status {
                version: env!("CARGO_PKG_VERSION").to_owned(),
                pid: std::process::id(),
                uptime_secs: self.started.elapsed().as_secs(),
                config_path: self.config_path.display().to_string(),
                router_id: self.config.router.id.to_string(),
                asn: self.config.router.asn,
                interfaces: self.config.interfaces.len(),
                static_routes: self.routes.lock().unwrap_or_else(|e| e.into_inner()).len(),
                peers: self.config.peers.len(),
                bgp_neighbors: self
                    .neighbors
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .len(),
            }),
            Request::BgpSummary => crate::control::bgp::summary(self.bgp.as_ref()),
            Request::BgpRoutes { prefix } => crate::control::bgp::routes(self.bgp.as_ref(), prefix),
            Request::RouteAdd(spec) => self.routes().add(spec),
            Request::RouteDel { name } => self.routes().del(&name),
            Request::RouteList => self.routes().list(),
            Request::BgpNeighbor { address, action } => {
                crate::control::bgp::neighbor(self.bgp.as_ref(), address, action)
            }
            request @ (Request::Stats
            | Request::RouteShow { .. }
            | Request::Rib { .. }
            | Request::Explain { .. }
            | Request::BgpNeighborDetail { .. }
            | Request::BgpAdjRib { .. }
            | Request::TunnelList) => crate::control::view::View {
                config: &self.config,
                routes: &self.routes,
                neighbors: &self.neighbors,
                dataplane: &self.dataplane,
                routing: &self.routing,
                bgp: self.bgp.as_ref(),
            }
            .answer(request),
        }
    }
}

/// Runs the daemon with the config at `path` until SIGTERM or SIGINT;
/// `socket` overrides the config's `[control] socket`.
pub async fn run(path: &Path, socket: Option<&Path>) -> anyhow::Result<()> {
    let config = vcpe_config::load(path).map_err(|d| {
        anyhow::anyhow!("{d}\nrefusing to start with an invalid config; fix the errors above and check with `vcped check-config {}`", path.display())
    })?;
    let socket = socket.map_or_else(|| config.control.socket.clone(), Path::to_owned);
    let mode = if config.control.group.is_some() {
        0o660
    } else {
        0o600
    };
    let server = Server::bind(&socket, mode)?;
    if let Some(g) = &config.control.group {
        server.set_group(g)?;
    }
    // Bound before the dataplane starts, so a taken address fails fast.
    let metrics = config
        .metrics
        .as_ref()
        .map(|m| crate::metrics::bind(m.listen))
        .transpose()?;
    // The config's routes are in the FIB before a worker reads it.
    let (fib, fib_reader) = vcpe_forwarding::fib::Fib::new();
    let mut routing = Routing::new(&config, fib);
    let dataplane = Dataplane::start(&config, fib_reader).await?;
    // Kernel route sync after the dataplane: its routes point at the TUN.
    let kernel = crate::kernel_sync::start(&config)?.map(|(routes, sync)| {
        routing.sync_kernel(routes);
        sync
    });
    let routing = Arc::new(Mutex::new(routing));
    let bgp = match &config.bgp {
        Some(_) => Some(crate::bgp::start(
            &config,
            FibFeed::start(Arc::clone(&routing)),
        )?),
        None => None,
    };
    let state = Arc::new(State {
        started: Instant::now(),
        config_path: path.to_owned(),
        routes: Mutex::new(config.routes.clone()),
        neighbors: Mutex::new(
            config
                .bgp
                .as_ref()
                .map_or_else(Vec::new, |b| b.neighbors.clone()),
        ),
        config,
        dataplane: Mutex::new(Some(dataplane)),
        routing,
        bgp,
    });
    info!(
        config = %path.display(),
        control = %socket.display(),
        router_id = %state.config.router.id,
        asn = state.config.router.asn,
        "vcped started"
    );
    let serve = tokio::spawn(server.serve(Arc::clone(&state)));
    let metrics = metrics.map(|l| {
        if let Ok(a) = l.local_addr() {
            info!(listen = %a, "metrics endpoint up: GET http://{a}/metrics");
        }
        tokio::spawn(crate::metrics::serve(l, Arc::clone(&state)))
    });

    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    let mut hup = signal(SignalKind::hangup()).context("installing SIGHUP handler")?;
    loop {
        tokio::select! {
            _ = term.recv() => { info!("SIGTERM received, shutting down"); break }
            _ = int.recv() => { info!("SIGINT received, shutting down"); break }
            _ = hup.recv() => {
                info!("SIGHUP received, reloading the config");
                // Off the runtime's worker: a reload reads the file and
                // takes the forwarding mutex.
                let st = Arc::clone(&state);
                match tokio::task::spawn_blocking(move || st.reload().apply()).await {
                    Ok(Reply::Error { message }) => tracing::error!("reload refused: {message}"),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "reload failed"),
                }
            }
        }
    }
    // Peers hear a Cease NOTIFICATION rather than a closed connection.
    if let Some(b) = &state.bgp {
        b.shutdown().await;
    }
    serve.abort();
    if let Some(m) = metrics {
        m.abort();
    }
    // Dropping the aborted task drops the server, which removes the socket.
    let _ = serve.await;
    // Our kernel routes go before the TUN they point at.
    if let Some(k) = kernel {
        k.stop().await;
    }
    let dataplane = state
        .dataplane
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    if let Some(d) = dataplane {
        d.stop();
    }
    info!("vcped stopped");
    Ok(())
}
