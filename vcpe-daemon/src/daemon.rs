//! The daemon's top level: load the config, start the parts in order (the
//! control socket, routing with the config's routes, the dataplane, kernel
//! sync, BGP, metrics), run until a signal says stop, stop them in reverse.
//! The wiring root: the only module that knows every other one.
//!
//! Under systemd (`Type=notify`) it says `READY=1` once the TUNs, the
//! control socket, the metrics and BGP listeners are up, keeps `STATUS=`
//! current, and pings the watchdog only after a status round trip through
//! the control handler and the BGP task succeeded ([`crate::systemd`]).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};
use tracing::info;
use vcpe_api::{Handler, Reply, Request};

use crate::control::commit::{Commits, recover};
use crate::control::dispatch::Api;
use crate::control::history::{DEFAULT_KEEP, History};
use crate::control::server::Server;
use crate::dataplane::Dataplane;
use crate::routing::Routing;
use crate::routing::bgp_feed::FibFeed;
use crate::running_config::RunningConfig;
use crate::topology::Topology;

/// The config at `path` as `vcped run` takes it: every check of
/// [`vcpe_config::load`] and those against this machine (a `[control]
/// group` that exists, at least one interface). `vcped check-config` and
/// reloads load through here too, so they refuse what `run` refuses.
pub fn load_config(path: &Path) -> Result<vcpe_config::Config, vcpe_config::Diagnostics> {
    vcpe_config::load_on_host(
        path,
        &vcpe_config::HostChecks {
            group_exists: |g| nix::unistd::Group::from_name(g).ok().map(|o| o.is_some()),
        },
    )
}

/// Runs the daemon with the config at `path` until SIGTERM or SIGINT;
/// `socket` overrides the config's `[control] socket`. The config history
/// is in its default place ([`History::default_dir`]).
pub async fn run(path: &Path, socket: Option<&Path>) -> anyhow::Result<()> {
    run_with(
        path,
        socket,
        History::new(History::default_dir(path), DEFAULT_KEEP),
    )
    .await
}

/// [`run`] with the config history in `history`.
pub async fn run_with(path: &Path, socket: Option<&Path>, history: History) -> anyhow::Result<()> {
    // One daemon per config and per TUN: locked before anything is
    // touched, held until we return (after our kernel routes are gone).
    let lock_dir = crate::instance_lock::dir();
    let mut locks = crate::instance_lock::Locks::default();
    locks.config(&lock_dir, path)?;
    // An unconfirmed commit left by a crash or restart goes first: the
    // file is put back before it is loaded.
    recover(path, &history).with_context(|| {
        format!(
            "recovering the config history in {} (vcped --state-dir chooses the directory)",
            history.dir().display()
        )
    })?;
    let config = load_config(path).map_err(|d| {
        anyhow::anyhow!("{d}\nrefusing to start with an invalid config; fix the errors above and check with `vcped check-config {}`", path.display())
    })?;
    for i in &config.interfaces {
        locks.tun(&lock_dir, &i.name)?;
    }
    crate::stale_temps::remove(path);
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
    let dataplane = Dataplane::start(&config, fib_reader, &topology).await?;
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
        commits: Commits::new(history),
    });
    let serve = tokio::spawn(server.serve(Arc::clone(&api)));
    let confirm_timer = tokio::spawn(crate::control::commit::watch(Arc::clone(&api)));
    // WireGuard endpoints given as hostnames.
    let resolver = tokio::spawn(crate::resolve::run(Arc::clone(&api)));
    let metrics = metrics.map(|l| {
        if let Ok(a) = l.local_addr() {
            info!(listen = %a, "metrics endpoint up: GET http://{a}/metrics");
        }
        tokio::spawn(crate::metrics::serve(l, Arc::clone(&api)))
    });
    let notifier = crate::systemd::Notifier::from_env().map(Arc::new);
    let health = match &notifier {
        Some(n) => {
            // Every listener is bound and the server task runs: connecting
            // clients are answered from here on.
            let st = Arc::clone(&api);
            let first = tokio::task::spawn_blocking(move || health(st.as_ref()))
                .await
                .ok()
                .flatten()
                .unwrap_or_else(|| "started".to_owned());
            n.send(&crate::systemd::ready(&first));
            Some(tokio::spawn(keep_systemd_informed(
                Arc::clone(n),
                Arc::clone(&api),
            )))
        }
        None => None,
    };

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
    if let Some(n) = &notifier {
        n.send(crate::systemd::STOPPING);
    }
    if let Some(h) = health {
        h.abort();
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
    confirm_timer.abort();
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
    drop(locks);
    Ok(())
}

/// How often `STATUS=` is refreshed when systemd set no watchdog.
const STATUS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// Refreshes `STATUS=` and, when `WatchdogSec=` is set, pings the
/// watchdog: each tick asks the control handler for the status and the BGP
/// task for its summary (the loops that could stall), and pings only when
/// both answered. A stuck BGP task or control handler thus stops the pings
/// and systemd restarts vcped.
async fn keep_systemd_informed(notifier: Arc<crate::systemd::Notifier>, api: Arc<Api>) {
    let watchdog = crate::systemd::watchdog_interval();
    let mut tick = tokio::time::interval(watchdog.unwrap_or(STATUS_INTERVAL));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let st = Arc::clone(&api);
        match tokio::task::spawn_blocking(move || health(st.as_ref())).await {
            Ok(Some(line)) if watchdog.is_some() => {
                notifier.send(&crate::systemd::watchdog(&line));
            }
            Ok(Some(line)) => notifier.send(&crate::systemd::status(&line)),
            Ok(None) | Err(_) => {
                tracing::warn!(
                    "health check failed: the control handler or the BGP task did not answer; no watchdog ping"
                );
            }
        }
    }
}

/// "1 tunnel", "2 tunnels".
fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// The one-line summary for `STATUS=` ("2 interfaces, 2 tunnels, 3 static routes, BGP 2/2
/// established"), or `None` when a part of the daemon did not answer.
fn health(api: &Api) -> Option<String> {
    let Reply::Status(status) = api.handle(Request::Status) else {
        return None;
    };
    let mut line = format!(
        "{}, {}, {}",
        count(status.interfaces, "interface"),
        count(status.peers, "tunnel"),
        count(status.static_routes, "static route")
    );
    if status.bgp_neighbors > 0 {
        let Reply::BgpSummary { neighbors } = api.handle(Request::BgpSummary) else {
            return None;
        };
        let up = neighbors
            .iter()
            .filter(|n| n.state == "Established")
            .count();
        line.push_str(&format!(", BGP {up}/{} established", neighbors.len()));
    }
    Some(line)
}
