//! The daemon's top level: load the config, start the control socket, run
//! until a signal says stop.
//!
//! Dataplane, BGP and tunnel tasks are wired in here as they land.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};
use tracing::info;
use vcpe_config::Config;

use crate::control::server::{Handler, Server};
use crate::control::{Reply, Request, Status};

/// State the control API reads.
#[derive(Debug)]
struct State {
    started: Instant,
    config_path: PathBuf,
    config: Config,
}

impl Handler for State {
    fn handle(&self, request: Request) -> Reply {
        match request {
            Request::Status => Reply::Status(Status {
                version: env!("CARGO_PKG_VERSION").to_owned(),
                pid: std::process::id(),
                uptime_secs: self.started.elapsed().as_secs(),
                config_path: self.config_path.display().to_string(),
                router_id: self.config.router.id.to_string(),
                asn: self.config.router.asn,
                interfaces: self.config.interfaces.len(),
                static_routes: self.config.routes.len(),
                peers: self.config.peers.len(),
                bgp_neighbors: self.config.bgp.as_ref().map_or(0, |b| b.neighbors.len()),
            }),
        }
    }
}

/// Runs the daemon with the config at `path` until SIGTERM or SIGINT.
pub async fn run(path: &Path) -> anyhow::Result<()> {
    let config = vcpe_config::load(path).map_err(|d| {
        anyhow::anyhow!("{d}refusing to start with an invalid config; fix the errors above and check with `vcped check-config {}`", path.display())
    })?;
    let socket = config.control.socket.clone();
    let mode = if config.control.group.is_some() {
        0o660
    } else {
        0o600
    };
    let server = Server::bind(&socket, mode)?;
    let state = Arc::new(State {
        started: Instant::now(),
        config_path: path.to_owned(),
        config,
    });
    info!(
        config = %path.display(),
        control = %socket.display(),
        router_id = %state.config.router.id,
        asn = state.config.router.asn,
        "vcped started"
    );
    let serve = tokio::spawn(server.serve(Arc::clone(&state)));

    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    tokio::select! {
        _ = term.recv() => info!("SIGTERM received, shutting down"),
        _ = int.recv() => info!("SIGINT received, shutting down"),
    }
    serve.abort();
    // Dropping the aborted task drops the server, which removes the socket.
    let _ = serve.await;
    info!("vcped stopped");
    Ok(())
}
