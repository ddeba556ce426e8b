//! The daemon's top level: load the config, start the parts in order (the
//! control socket, routing with the config's routes, the dataplane, kernel
//! sync, BGP, metrics), run until a signal says stop, stop them in reverse.
//! The wiring root: the only module that knows every other one.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};
use tracing::info;
use vcpe_api::{Handler, Reply, Request};

use crate::control::dispatch::Api;
use crate::control::server::Server;
use crate::dataplane::Dataplane;
use crate::routing::Routing;
use crate::routing::bgp_feed::FibFeed;
use crate::running_config::RunningConfig;
use crate::topology::Topology;

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
    let topology = Arc::new(Topology::new(&config));
    let mut routing = Routing::new(&config, Arc::clone(&topology), fib);
    let dataplane = Dataplane::start(&config, fib_reader).await?;
    // Kernel route sync after the dataplane: its routes point at the TUN.
    let kernel = crate::kernel_sync::start(&config)?.map(|(routes, sync)| {
        routing.sync_kernel(routes);
        sync
    });
    let routing = Arc::new(Mutex::new(routing));
    let bgp = match &config.bgp {
        Some(_) => Some(crate::bgp_driver::start(
            &config,
            FibFeed::start(Arc::clone(&routing)),
        )?),
        None => None,
    };
    let bfd = crate::bfd_driver::start(&config, &topology, bgp.clone(), Arc::clone(&routing))?;
    info!(
        config = %path.display(),
        control = %socket.display(),
        router_id = %config.router.id,
        asn = config.router.asn,
        "vcped started"
    );
    let api = Arc::new(Api {
        started: Instant::now(),
        config_path: path.to_owned(),
        running: RunningConfig::new(config),
        topology,
        dataplane: Mutex::new(Some(dataplane)),
        routing,
        bgp,
        bfd,
    });
    let serve = tokio::spawn(server.serve(Arc::clone(&api)));
    // WireGuard endpoints given as hostnames.
    let resolver = tokio::spawn(crate::resolve::run(Arc::clone(&api)));
    let metrics = metrics.map(|l| {
        if let Ok(a) = l.local_addr() {
            info!(listen = %a, "metrics endpoint up: GET http://{a}/metrics");
        }
        tokio::spawn(crate::metrics::serve(l, Arc::clone(&api)))
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
                let st = Arc::clone(&api);
                match tokio::task::spawn_blocking(move || st.handle(Request::Reload)).await {
                    Ok(Reply::Error { message }) => tracing::error!("reload refused: {message}"),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "reload failed"),
                }
            }
        }
    }
    // BFD peers hear AdminDown, which is no failure (RFC 5882 §3.2)...
    if let Some(b) = &api.bfd {
        b.shutdown().await;
    }
    // ... and BGP peers a Cease NOTIFICATION rather than a closed
    // connection.
    if let Some(b) = &api.bgp {
        b.shutdown().await;
    }
    serve.abort();
    resolver.abort();
    if let Some(m) = metrics {
        m.abort();
    }
    // Dropping the aborted task drops the server, which removes the socket.
    let _ = serve.await;
    // Our kernel routes go before the TUN they point at.
    if let Some(k) = kernel {
        k.stop().await;
    }
    let dataplane = api
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
