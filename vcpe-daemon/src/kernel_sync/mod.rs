//! Kernel route sync: the prefixes vcped carries into tunnels (BGP routes
//! its FIB sends into a tunnel, static routes towards a `[[peer]]`) become
//! routes of the VM's kernel pointing at the `[kernel] interface` TUN, so
//! that the kernel hands those packets to vcped. The routes carry our own
//! protocol number (`[kernel] protocol`) in `[kernel] table`.
//!
//! ```text
//!  FIB writers (BGP FIB thread,      KernelRoutes            sync task (tokio)
//!  vcpectl route add/del)    ──set──▶ Mutex<Desired> ──poll──▶ rtnetlink add/del
//!                                     + Notify       ◀record──
//! ```
//!
//! Writers only touch a mutex-protected map and wake the task: they never
//! wait for the kernel. The task drains whatever changed since its last
//! pass ([`desired`] coalesces per prefix), so a route added and removed in
//! between costs no netlink request.
//!
//! At start-up the task adopts the routes of our protocol in our table that
//! are still right, deletes the others (a crashed run's leftovers) and adds
//! what is missing. A prefix the kernel already routes otherwise (another
//! protocol: a route someone else made) is never replaced: one warning says
//! which route it is and what to do, and the add is tried again every
//! [`RETRY`]. On clean shutdown every route we installed is deleted. Routes
//! of other protocols are never touched.
//!
//! While running, the kernel can lose our routes behind our back: someone
//! deletes one by hand, or the TUN's link goes down (the kernel flushes
//! every route through it). The [`monitor`] listens to route and link
//! notifications; a deleted route of ours that we still want, or a link
//! change, schedules a resync: after [`DEBOUNCE`] of quiet (so a link
//! bounce of 100k routes is one batch), the task dumps our routes,
//! compares ([`Desired::resync`]) and adds again what went missing. While
//! the link is down nothing is added (it would fail); it is when the link
//! comes back. A full resync also runs every [`RESYNC`], a backstop for
//! whatever a notification did not say (IPv4 routes flushed with a link
//! are not notified one by one; a full socket buffer loses them).
//! `installed` in the stats is what the last dump or answer confirmed.

pub mod desired;
pub mod monitor;
pub mod netlink;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::StreamExt;
use ipnet::IpNet;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};
use vcpe_config::{Config, RouteTarget};

use desired::{Action, Desired, Event};
use netlink::Netlink;

/// How often prefixes left to a foreign route, and failed requests, are
/// tried again.
pub const RETRY: Duration = Duration::from_secs(10);

/// Netlink requests in flight at once.
const IN_FLIGHT: usize = 32;

/// Actions taken from [`Desired`] per batch (the task checks for shutdown
/// between batches).
const BATCH: usize = 4096;

/// How often the whole table is dumped and compared, notifications or
/// not.
pub const RESYNC: Duration = Duration::from_secs(60);

/// Quiet time after a notification before the resync: the rest of a
/// burst (a link flush) arrives meanwhile and is the same resync.
pub const DEBOUNCE: Duration = Duration::from_millis(200);

/// Failure warnings logged per pass; the rest are counted in one line.
const WARNINGS_PER_PASS: usize = 8;

/// How long a clean shutdown waits for our routes to be deleted.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// The writers' end: tell kernel sync what the FIB now routes into a
/// tunnel. Cheap to clone; never waits for the kernel.
#[derive(Debug, Clone)]
pub struct KernelRoutes {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    desired: Mutex<Desired>,
    wake: Notify,
    stopping: AtomicBool,
    /// A notification said the kernel lost something: resync.
    resync_due: AtomicBool,
    /// The TUN's link is up (as the last notification said).
    link_up: AtomicBool,
    /// Full resyncs done since start.
    resyncs_total: AtomicU64,
    /// The TUN and table, for the stats.
    interface: String,
    table: u32,
    protocol: u8,
}

impl KernelRoutes {
    fn new(desired: Desired, interface: String, table: u32, protocol: u8) -> KernelRoutes {
        KernelRoutes {
            shared: Arc::new(Shared {
                desired: Mutex::new(desired),
                wake: Notify::new(),
                stopping: AtomicBool::new(false),
                resync_due: AtomicBool::new(false),
                link_up: AtomicBool::new(true),
                resyncs_total: AtomicU64::new(0),
                interface,
                table,
                protocol,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Desired> {
        self.shared
            .desired
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// `prefix` is (`true`) or is no longer (`false`) routed into a tunnel.
    pub fn set(&self, prefix: IpNet, present: bool) {
        self.update([(prefix, present)]);
    }

    /// Many [`KernelRoutes::set`]s under one lock.
    pub fn update(&self, changes: impl IntoIterator<Item = (IpNet, bool)>) {
        let mut d = self.lock();
        let mut any = false;
        for (prefix, present) in changes {
            any |= d.set(prefix, present);
        }
        drop(d);
        if any {
            self.shared.wake.notify_one();
        }
    }

    /// The counters now (`vcpectl stats`).
    pub fn stats(&self) -> SyncStats {
        let (c, missing) = {
            let d = self.lock();
            (d.counts(), d.missing())
        };
        SyncStats {
            interface: self.shared.interface.clone(),
            table: self.shared.table,
            protocol: self.shared.protocol,
            installed: c.installed,
            foreign_conflicts: c.foreign,
            failed: c.failed,
            errors_total: c.errors_total,
            missing,
            lost_total: c.lost_total,
            resynced_total: c.resynced_total,
            resyncs_total: self.shared.resyncs_total.load(Ordering::Relaxed),
            link_up: self.shared.link_up.load(Ordering::Relaxed),
        }
    }

    /// What the monitor heard: schedule a resync when it matters.
    fn notice(&self, n: monitor::Notice) {
        let due = match n {
            // Already scheduled (the rest of a flush): no lock needed.
            monitor::Notice::RouteGone(_) if self.shared.resync_due.load(Ordering::Acquire) => {
                false
            }
            monitor::Notice::RouteGone(p) => self.lock().installed_and_wanted(&p),
            monitor::Notice::Link(up) => self.shared.link_up.swap(up, Ordering::AcqRel) != up,
            monitor::Notice::Overrun => true,
        };
        if due && !self.shared.resync_due.swap(true, Ordering::AcqRel) {
            debug!(notice = ?n, "kernel route sync: resync scheduled");
            self.shared.wake.notify_one();
        }
    }
}

/// Kernel route sync's counters at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncStats {
    /// The TUN the routes point at.
    pub interface: String,
    /// Kernel table id.
    pub table: u32,
    /// Route protocol number of our routes.
    pub protocol: u8,
    /// Our routes in the kernel now.
    pub installed: usize,
    /// Prefixes the kernel already routes by another protocol, left alone.
    pub foreign_conflicts: usize,
    /// Prefixes whose last netlink request failed.
    pub failed: usize,
    /// Failed netlink requests since start.
    pub errors_total: u64,
    /// Wanted prefixes not in the kernel now (other than foreign ones):
    /// being added, failed, or waiting for the link.
    pub missing: usize,
    /// Our routes found missing from the kernel since start (deleted by
    /// someone else, flushed with the link).
    pub lost_total: u64,
    /// Of those, added again since start.
    pub resynced_total: u64,
    /// Full dumps compared since start (notifications and the periodic
    /// one).
    pub resyncs_total: u64,
    /// The TUN's link is up.
    pub link_up: bool,
}

/// The running sync task.
#[derive(Debug)]
pub struct KernelSync {
    routes: KernelRoutes,
    task: JoinHandle<()>,
}

/// What the config alone says should be in the kernel: static routes
/// towards a tunnel peer, and the peers' BFD addresses. (BGP's arrive through the FIB feed.) The
/// interfaces' own subnets are never installed.
pub fn initial(config: &Config) -> Desired {
    let connected = config
        .interfaces
        .iter()
        .flat_map(|i| i.addresses.iter().map(|a| a.trunc()));
    let mut d = Desired::new(connected);
    for r in &config.routes {
        if let RouteTarget::Peer(_) | RouteTarget::Peers(_) = r.target {
            d.set(r.prefix, true);
        }
    }
    // A tunnel peer's BFD address: our BFD packets to it go into the TUN.
    for b in config.peers.iter().filter_map(|p| p.bfd.as_ref()) {
        d.set(IpNet::from(b.address), true);
    }
    d
}

/// Starts kernel route sync if `[kernel] route_sync` is on: returns the
/// writers' handle (give it to the FIB's owner) and the task. Must run
/// inside the tokio runtime, after the TUN exists.
pub fn start(config: &Config) -> anyhow::Result<Option<(KernelRoutes, KernelSync)>> {
    let k = &config.kernel;
    if !k.route_sync {
        info!("kernel route sync off ([kernel] route_sync = false)");
        return Ok(None);
    }
    let Some(interface) = k.interface.clone() else {
        warn!("kernel route sync has no TUN to point routes at (no [[interface]]); off");
        return Ok(None);
    };
    let oif = netlink::ifindex(&interface).ok_or_else(|| {
        anyhow::anyhow!(
            "kernel route sync: interface {interface} does not exist; it should have been \
             created by vcped (check the log above), or set [kernel] route_sync = false"
        )
    })?;
    let (nl, connection) = Netlink::connect(k.table, k.protocol, oif).map_err(|e| {
        anyhow::anyhow!(
            "kernel route sync: cannot open a netlink socket ({e}); vcped needs CAP_NET_ADMIN, \
             or set [kernel] route_sync = false"
        )
    })?;
    let routes = KernelRoutes::new(initial(config), interface, k.table, k.protocol);
    let heard = routes.clone();
    let monitor =
        monitor::listen(k.table, k.protocol, oif, move |n| heard.notice(n)).map_err(|e| {
            anyhow::anyhow!(
                "kernel route sync: cannot listen to route notifications ({e}); vcped needs \
                 CAP_NET_ADMIN, or set [kernel] route_sync = false"
            )
        })?;
    let r = routes.clone();
    let task = tokio::spawn(async move {
        let work = std::pin::pin!(run(nl, r));
        let monitor = async {
            monitor.await;
            warn!(
                "kernel route sync: the route notification socket closed; routes lost are \
                 found by the periodic resync only (every {}s)",
                RESYNC.as_secs()
            );
            std::future::pending::<()>().await
        };
        // The connections end when the work drops its handle.
        let connections = futures_util::future::join(Box::pin(connection), Box::pin(monitor));
        futures_util::future::select(work, Box::pin(connections)).await;
    });
    Ok(Some((routes.clone(), KernelSync { routes, task })))
}

impl KernelSync {
    /// Deletes every route we installed and ends the task (waits up to
    /// [`STOP_TIMEOUT`]).
    pub async fn stop(self) {
        self.routes.shared.stopping.store(true, Ordering::Release);
        self.routes.shared.wake.notify_one();
        let mut task = self.task;
        if tokio::time::timeout(STOP_TIMEOUT, &mut task).await.is_err() {
            task.abort();
            warn!(
                table = self.routes.shared.table,
                protocol = self.routes.shared.protocol,
                "kernel route sync did not finish deleting its routes in time; the rest \
                 disappear with the TUN, or are replaced at the next start"
            );
        }
    }
}

/// The task: reconcile, then one pass per wake-up or retry tick, then the
/// clean-shutdown deletes.
async fn run(nl: Netlink, routes: KernelRoutes) {
    let shared = Arc::clone(&routes.shared);
    let stopping = || shared.stopping.load(Ordering::Acquire);
    let mut retry = tokio::time::interval(RETRY);
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut periodic = tokio::time::interval_at(tokio::time::Instant::now() + RESYNC, RESYNC);
    periodic.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reconciled = false;
    while !stopping() {
        if !reconciled {
            reconciled = reconcile(&nl, &routes).await;
        } else if shared.resync_due.load(Ordering::Acquire) {
            // Let the rest of the burst arrive; it is this same resync.
            tokio::time::sleep(DEBOUNCE).await;
            shared.resync_due.store(false, Ordering::Release);
            resync(&nl, &routes).await;
        }
        if reconciled && shared.link_up.load(Ordering::Acquire) {
            pass(&nl, &routes, &stopping).await;
        }
        tokio::select! {
            () = shared.wake.notified() => {}
            _ = retry.tick() => {
                routes.lock().retry();
            }
            _ = periodic.tick() => {
                shared.resync_due.store(true, Ordering::Release);
            }
        }
    }
    let deletes = routes.lock().shutdown();
    let n = deletes.len();
    execute(&nl, &routes, deletes).await;
    let left = routes.lock().counts().installed;
    info!(
        deleted = n - left.min(n),
        left,
        table = nl.table,
        protocol = nl.protocol,
        "kernel route sync stopped: our kernel routes removed"
    );
}

/// Start-up: our routes from an earlier run are adopted or marked stale.
async fn reconcile(nl: &Netlink, routes: &KernelRoutes) -> bool {
    match nl.dump_ours().await {
        Ok(ours) => {
            let (found, right) = (ours.len(), ours.iter().filter(|o| o.1).count());
            routes.lock().reconcile(ours);
            info!(
                found,
                right,
                table = nl.table,
                protocol = nl.protocol,
                "kernel route sync: routes of an earlier run reconciled"
            );
            true
        }
        Err(e) => {
            warn!(error = %e, table = nl.table, protocol = nl.protocol,
                "kernel route sync cannot list the kernel's routes; nothing is installed until it can (retried every {}s)", RETRY.as_secs());
            false
        }
    }
}

/// Dumps our routes and compares them with what we believe: what went
/// missing is added again by the next pass.
async fn resync(nl: &Netlink, routes: &KernelRoutes) {
    match nl.dump_ours().await {
        Ok(ours) => {
            let found = ours.len();
            let lost = routes.lock().resync(ours);
            routes.shared.resyncs_total.fetch_add(1, Ordering::Relaxed);
            let link_up = routes.shared.link_up.load(Ordering::Acquire);
            if lost > 0 {
                warn!(
                    lost,
                    found,
                    link_up,
                    table = nl.table,
                    protocol = nl.protocol,
                    "kernel route sync: {lost} of our kernel routes went missing (deleted by \
                     someone else, or flushed with the link of the TUN); {}",
                    if link_up {
                        "adding them again"
                    } else {
                        "added again when the link is up"
                    }
                );
            } else {
                debug!(found, "kernel route sync: resync found nothing missing");
            }
        }
        Err(e) => {
            routes.shared.resync_due.store(true, Ordering::Release);
            warn!(error = %e, table = nl.table, protocol = nl.protocol,
                "kernel route sync cannot list the kernel's routes to resync; tried again at the next wake-up (at most {}s)", RETRY.as_secs());
        }
    }
}

/// Applies everything pending, batch by batch.
async fn pass(nl: &Netlink, routes: &KernelRoutes, stopping: &impl Fn() -> bool) {
    while !stopping() {
        let actions = routes.lock().poll(BATCH);
        if actions.is_empty() {
            break;
        }
        execute(nl, routes, actions).await;
    }
}

/// Runs `actions` (some in parallel), records the answers and logs what
/// the operator must hear about.
async fn execute(nl: &Netlink, routes: &KernelRoutes, actions: Vec<Action>) {
    let n = actions.len();
    let answers: Vec<_> = futures_util::stream::iter(actions)
        .map(|a| nl.apply(a))
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let events: Vec<Event> = {
        let mut d = routes.lock();
        answers
            .into_iter()
            .filter_map(|(a, o)| d.record(a, o))
            .collect()
    };
    debug!(actions = n, events = events.len(), "kernel route sync pass");
    let conflicts: Vec<IpNet> = events
        .iter()
        .filter_map(|e| match e {
            Event::Conflict(p) => Some(*p),
            Event::Failed(..) => None,
        })
        .collect();
    let described = if conflicts.is_empty() {
        Default::default()
    } else {
        nl.describe(&conflicts).await
    };
    let failed = events
        .iter()
        .filter(|e| matches!(e, Event::Failed(..)))
        .count();
    if failed > WARNINGS_PER_PASS {
        warn!(
            failed,
            table = nl.table,
            "kernel route sync: {failed} netlink requests failed in this pass; the first {WARNINGS_PER_PASS} follow, all are retried every {}s",
            RETRY.as_secs()
        );
    }
    let mut warned = 0;
    for e in events {
        if matches!(e, Event::Failed(..)) {
            warned += 1;
            if warned > WARNINGS_PER_PASS {
                continue;
            }
        }
        match e {
            Event::Conflict(p) => {
                let theirs = described
                    .get(&p)
                    .map_or("a route of another protocol", String::as_str);
                warn!(prefix = %p, table = nl.table, route = theirs,
                    "kernel route sync: {p} in table {} is already routed by someone else ({theirs}); vcped leaves it alone, so the kernel does not send {p} to vcped. To let vcped carry it, delete that route (ip route del {p} table {}); vcped retries every {}s. Otherwise stop vcped learning it (BGP import filter, or drop the static route)",
                    nl.table, nl.table, RETRY.as_secs());
            }
            Event::Failed(a, why) => {
                let (what, p) = match a {
                    Action::Add(p) => ("add", p),
                    Action::Delete(p) => ("delete", p),
                };
                warn!(prefix = %p, table = nl.table, error = %why,
                    "kernel route sync cannot {what} the route for {p} ({why}); retried every {}s", RETRY.as_secs());
            }
        }
    }
}

#[cfg(test)]
mod tests;
