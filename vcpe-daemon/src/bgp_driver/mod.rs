//! The BGP driver: a tokio task that owns the sans-IO
//! [`vcpe_bgp::speaker::Speaker`] and moves bytes and time for it.
//!
//! ```text
//!  control API ──Command──▶ ┌──────────────┐ ──FibBatch (bgp_feed)──▶ routing
//!  io tasks ────NetEvent──▶ │ speaker task │ ──bytes──▶ io writers
//!  timer (poll_timeout) ──▶ └──────────────┘ ──connect──▶ io::connect
//! ```
//!
//! The task never blocks on route processing for long: each `NetEvent::Data`
//! holds at most one socket read (64 KiB), the task yields to the runtime
//! after every event (so the writers it woke send their bytes) and fires
//! due timers before taking the next one, so keepalives of every session
//! go out between chunks of a big table dump (`tests/tests/bgp_load.rs`).
//! FIB installation runs on its own thread ([`crate::routing::bgp_feed`]). (Handing the
//! speaker several queued reads before each export pass was tried: no
//! measurable gain with the per-read export.)

mod config;
mod down;
mod ifaddrs;
mod io;
mod md5;
mod neighbors;

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

use anyhow::Context;
use ipnet::IpNet;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};
use vcpe_bgp::rib::{LocalConfig, RouteView};
use vcpe_bgp::speaker::{Action, ConnKey, NeighborSummary, Speaker};
use vcpe_config::{Config, RouteAttrs};

use crate::routing::bgp_feed::FibFeed;
use crate::routing::bgp_routes::FibBatch;
use io::{ConnTasks, Conns, Events, NetEvent, Written};

/// Requests from the control API to the speaker task.
#[derive(Debug)]
pub enum Command {
    /// Every neighbor's summary.
    Summary(oneshot::Sender<Vec<NeighborSummary>>),
    /// Every candidate path of `prefix`, or of every prefix if `None`.
    Routes(Option<IpNet>, oneshot::Sender<Vec<(IpNet, Vec<RouteView>)>>),
    /// Originate a prefix (a route added with `advertise`) with the
    /// route's BGP attributes.
    Originate(IpNet, Option<IpAddr>, RouteAttrs),
    /// Stop originating a prefix.
    Withdraw(IpNet),
    /// `bgp enable ADDR`.
    Enable(IpAddr, oneshot::Sender<bool>),
    /// `bgp disable ADDR`, with the RFC 9003 shutdown communication.
    Disable(IpAddr, Option<String>, oneshot::Sender<bool>),
    /// `bgp refresh ADDR` (send ROUTE-REFRESH).
    Refresh(IpAddr, oneshot::Sender<bool>),
    /// A read-only question for `vcpectl` (neighbor detail, Adj-RIBs, the
    /// RIB view), answered on the speaker task.
    Inspect(Inspect),
    /// Reload: start a neighbor of `config` (the new config; the neighbor
    /// is `config`'s `[[bgp.neighbor]]` with that address).
    AddNeighbor(
        std::sync::Arc<Config>,
        IpAddr,
        Option<crate::topology::TunnelId>,
    ),
    /// Reload: stop a neighbor (Cease / Peer De-configured) and forget it.
    RemoveNeighbor(IpAddr),
    /// Reload: apply the policy of `config`'s neighbor at this address to
    /// its running session, softly (no reset).
    /// (The tunnel: for the session restart a peer without route refresh
    /// needs.)
    SetPolicy(
        std::sync::Arc<Config>,
        IpAddr,
        Option<crate::topology::TunnelId>,
    ),
    /// The BFD session to this neighbor went down for a path failure: the
    /// session goes down (Cease / BFD Down) until [`Command::BfdUp`]
    /// (RFC 5882). The text is BFD's reason.
    BfdDown(IpAddr, String),
    /// The BFD session to this neighbor is Up.
    BfdUp(IpAddr),
    /// vcped stops: every session ends with a Cease / Administrative
    /// Shutdown NOTIFICATION (RFC 4486, RFC 9003 message), written before
    /// the answer; then the BGP task ends.
    Shutdown(oneshot::Sender<()>),
}

/// A read-only closure run against the speaker on its task; it sends its
/// answer through a channel it captured (see `control::view::inspect`).
pub struct Inspect(pub Box<Question>);

/// The closure of an [`Inspect`].
pub type Question = dyn FnOnce(&Speaker, Instant) + Send;

impl std::fmt::Debug for Inspect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Inspect(..)")
    }
}

/// The control side's handle on the BGP task.
#[derive(Debug, Clone)]
pub struct BgpHandle {
    commands: mpsc::UnboundedSender<Command>,
}

impl BgpHandle {
    /// Sends a command; `false` if the BGP task is gone.
    pub fn send(&self, c: Command) -> bool {
        self.commands.send(c).is_ok()
    }

    /// Ends every session with a Cease / Administrative Shutdown
    /// NOTIFICATION and stops the BGP task; returns once they are written
    /// (or after a few seconds).
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.send(Command::Shutdown(tx)) {
            let wait = SHUTDOWN_FLUSH + std::time::Duration::from_secs(3);
            if tokio::time::timeout(wait, rx).await.is_err() {
                warn!("the BGP task did not finish its shutdown in time; stopping anyway");
            }
        }
    }
}

/// Starts BGP for `config` (which must have a `[bgp]` section): binds the
/// listener, originates the static routes with `advertise = true`, starts
/// every neighbor. Every batch of best-route changes goes over `fib`, the
/// routing owner's input (applied on a thread of its own).
///
/// The speaker and its socket tasks run on a thread of their own (the
/// `vcpe-bgp` thread, a single-threaded runtime): BGP is one task, so it
/// gains nothing from the daemon's worker threads, and there it neither
/// waits behind other tasks nor they behind a table load. Its memory
/// stays in one malloc arena: with the task hopping between two workers,
/// a 100k-route table cost ~12 bytes a route more.
pub fn start(config: &Config, fib: FibFeed) -> anyhow::Result<BgpHandle> {
    let config = config.clone();
    let (started_tx, started) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("vcpe-bgp".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = started_tx.send(Err(anyhow::Error::new(e).context(
                        "cannot start the BGP runtime; check the process's thread and file limits",
                    )));
                    return;
                }
            };
            rt.block_on(async move {
                match start_here(&config, fib) {
                    Ok((handle, task)) => {
                        let _ = started_tx.send(Ok(handle));
                        let _ = task.await;
                    }
                    Err(e) => {
                        let _ = started_tx.send(Err(e));
                    }
                }
            });
        })
        .context("cannot start the BGP thread; check the process's thread limit")?;
    started
        .recv()
        .context("the BGP thread ended during start-up")?
}

/// [`start`] on the current runtime: the handle, and the speaker task.
fn start_here(
    config: &Config,
    fib: FibFeed,
) -> anyhow::Result<(BgpHandle, tokio::task::JoinHandle<()>)> {
    let bgp = config.bgp.as_ref().context("no [bgp] section")?;
    let keys: Vec<(IpAddr, Vec<u8>)> = bgp
        .neighbors
        .iter()
        .filter_map(|n| {
            n.password
                .as_ref()
                .map(|p| (n.address, p.secret().to_vec()))
        })
        .collect();
    let listener = io::listen(bgp.listen, &keys).with_context(|| {
        format!(
            "binding the BGP listener on {}; is another BGP daemon running? set [bgp] listen to \
             another address",
            bgp.listen
        )
    })?;
    let now = Instant::now();
    let mut speaker = Speaker::new(LocalConfig {
        asn: config.router.asn,
        router_id: config.router.id,
    });
    speaker.set_maximum_paths(bgp.maximum_paths, bgp.maximum_paths_ipv6);
    speaker.set_cluster_id(bgp.cluster_id);
    let mut local_addrs = Vec::new();
    let ifaces = ifaddrs::interface_addresses();
    for (i, n) in bgp.neighbors.iter().enumerate() {
        let link = ifaddrs::towards(&ifaces, n);
        let id = speaker.add_neighbor(now, config::neighbor_config(config, n, i, link));
        if bgp.starts_down(n) {
            // A persisted drain: down from the start, no session to end.
            speaker.disable(now, id, None);
            info!(neighbor = %n.address, "BGP neighbor starts disabled ([bgp] shutdown or enabled = false); `vcpectl bgp enable` starts it");
        }
        local_addrs.push((
            id,
            n.local_address,
            n.password.as_ref().map(|p| p.secret().to_vec()),
        ));
    }
    let mut originated = std::collections::BTreeSet::new();
    for r in config.routes.iter().filter(|r| r.advertise) {
        speaker.originate_with(now, r.prefix, r.next_hop, &config::origination(&r.attrs));
        originated.insert(r.prefix);
    }
    let (ev_tx, ev_rx) = mpsc::channel(io::EVENT_QUEUE);
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (written_tx, written_rx) = mpsc::unbounded_channel();
    info!(listen = %bgp.listen, neighbors = bgp.neighbors.len(), "BGP speaker started");
    let listener = std::sync::Arc::new(listener);
    tokio::spawn(io::accept_loop(
        std::sync::Arc::clone(&listener),
        ev_tx.clone(),
    ));
    let task = Task {
        listener,
        added: bgp.neighbors.len(),
        new_tunnels: Vec::new(),
        speaker,
        conns: Conns::new(),
        connecting: HashMap::new(),
        events_tx: ev_tx,
        written_tx,
        neighbors: local_addrs,
        originated,
        fib,
        attempts: down::Attempts::default(),
        stopping: None,
    };
    let task = tokio::spawn(task.run(ev_rx, cmd_rx, written_rx));
    Ok((BgpHandle { commands: cmd_tx }, task))
}

type NeighborIo = (vcpe_bgp::rib::PeerId, Option<IpAddr>, Option<Vec<u8>>);

struct Task {
    /// The listener, for the MD5 keys of neighbors added by a reload.
    listener: std::sync::Arc<tokio::net::TcpListener>,
    /// Neighbors started so far (a new neighbor's jitter seed).
    added: usize,
    /// Neighbors a reload added, with their tunnels, for the next FIB
    /// batch.
    new_tunnels: Vec<(vcpe_bgp::rib::PeerId, Option<crate::topology::TunnelId>)>,
    speaker: Speaker,
    conns: Conns,
    /// Outgoing connects in flight: aborted when the speaker gives the
    /// attempt up (the session came up on the peer's connection), so a
    /// SYN retransmitted later does not open a stale connection the peer
    /// would take for a new one.
    connecting: HashMap<ConnKey, tokio::task::JoinHandle<()>>,
    events_tx: Events,
    /// Given to every connection's writer: it reports completed writes
    /// (the speaker's output flow control).
    written_tx: Written,
    neighbors: Vec<NeighborIo>,
    originated: std::collections::BTreeSet<IpNet>,
    fib: FibFeed,
    /// Which failed session attempts were logged (see [`down`]).
    attempts: down::Attempts,
    /// Shutting down: sessions going down are expected, and the writers
    /// of closed connections are kept to wait for.
    stopping: Option<Vec<tokio::task::JoinHandle<()>>>,
}

/// How long a shutdown waits for the NOTIFICATIONs to be written.
const SHUTDOWN_FLUSH: std::time::Duration = std::time::Duration::from_secs(2);

impl Task {
    async fn run(
        mut self,
        mut events: mpsc::Receiver<NetEvent>,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut written: mpsc::UnboundedReceiver<(ConnKey, u64)>,
    ) {
        self.act();
        let fib_ready = self.fib.ready();
        loop {
            // Due timers before the next event, whichever branch select!
            // would pick (at random among the ready ones) and whether or
            // not tokio's timer wheel has fired the sleep yet.
            let now = Instant::now();
            if self.speaker.poll_timeout().is_some_and(|d| d <= now) {
                self.speaker.handle_timeout(now);
                self.act();
            }
            let deadline = self.speaker.poll_timeout();
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                ev = events.recv() => match ev {
                    Some(ev) => self.net(ev),
                    None => return,
                },
                cmd = commands.recv() => match cmd {
                    Some(Command::Shutdown(done)) => {
                        self.shutdown().await;
                        let _ = done.send(());
                        return;
                    }
                    Some(c) => self.command(c),
                    None => {
                        debug!("BGP command channel closed; speaker task ends");
                        return;
                    }
                },
                Some((key, n)) = written.recv() => {
                    // Every report waiting, then one export pass.
                    let now = Instant::now();
                    self.speaker.written(now, key, n);
                    while let Ok((key, n)) = written.try_recv() {
                        self.speaker.written(now, key, n);
                    }
                }
                () = sleep => self.speaker.handle_timeout(Instant::now()),
                // The FIB thread is idle again: hand it what waited.
                () = fib_ready.notified() => {}
            }
            self.act();
            // Give the worker back after every event. Without this a full
            // event queue (EVENT_QUEUE reads, seconds of UPDATEs in a debug
            // build) is handled in one poll of this task: the writer tasks
            // it wakes (a KEEPALIVE just queued) wait in this worker's LIFO
            // slot, which other workers do not steal from (tokio#4941), so
            // the KEEPALIVEs went out together after the whole queue.
            tokio::task::yield_now().await;
        }
    }

    /// Ends every session with a Cease NOTIFICATION and waits (at most
    /// [`SHUTDOWN_FLUSH`]) until they are written.
    async fn shutdown(&mut self) {
        self.stopping = Some(Vec::new());
        let now = Instant::now();
        for s in self.speaker.summaries(now) {
            self.speaker
                .disable(now, s.id, Some("vcped is shutting down"));
        }
        self.act();
        let mut written = self.stopping.take().unwrap_or_default();
        // Connections not established yet close as they are.
        written.extend(self.conns.drain().filter_map(|(_, c)| c.close()));
        let deadline = tokio::time::Instant::now() + SHUTDOWN_FLUSH;
        for w in written {
            if tokio::time::timeout_at(deadline, w).await.is_err() {
                debug!("a BGP connection did not take its NOTIFICATION in time");
                break;
            }
        }
        info!("BGP sessions closed (Cease, administrative shutdown)");
    }

    fn net(&mut self, ev: NetEvent) {
        let now = Instant::now();
        match ev {
            NetEvent::Accepted(stream, from) => {
                let ip = match from.ip() {
                    IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
                    v4 => v4,
                };
                let Some(peer) = self.speaker.neighbor_by_addr(ip) else {
                    debug!(%from, "BGP connection from an address that is not a configured neighbor; closed");
                    return;
                };
                if let Some(key) = self.speaker.accept(now, peer) {
                    debug!(%from, ?key, "BGP connection accepted");
                    let tasks = ConnTasks::start(
                        key,
                        stream,
                        self.events_tx.clone(),
                        self.written_tx.clone(),
                    );
                    self.conns.insert(key, tasks);
                }
            }
            NetEvent::Connected(key, stream) => {
                if self.connecting.remove(&key).is_none() {
                    // The attempt was given up (its connect retry timer
                    // expired) while this event waited in the queue: the
                    // speaker closes it, and the neighbor, which may have
                    // accepted it already, sees a bare close.
                    debug!(
                        ?key,
                        "BGP connection up after its attempt was given up; closed"
                    );
                }
                let tasks =
                    ConnTasks::start(key, stream, self.events_tx.clone(), self.written_tx.clone());
                self.conns.insert(key, tasks);
                self.speaker.connected(now, key);
            }
            NetEvent::ConnectFailed(key, e) => {
                self.connecting.remove(&key);
                debug!(peer = ?key.peer, error = %e, "BGP connect failed");
                self.speaker.connect_failed(now, key);
            }
            NetEvent::Data(key, bytes) => self.speaker.received(now, key, &bytes),
            NetEvent::Closed(key) => {
                self.conns.remove(&key);
                self.speaker.closed(now, key);
            }
            NetEvent::Stalled(key) => self.speaker.send_stalled(now, key),
            NetEvent::Progress(key) => self.speaker.send_progress(now, key),
        }
    }

    fn command(&mut self, c: Command) {
        let now = Instant::now();
        match c {
            Command::Summary(reply) => {
                let _ = reply.send(self.speaker.summaries(now));
            }
            Command::Routes(prefix, reply) => {
                let rib = self.speaker.rib();
                let rows = match prefix {
                    Some(p) => vec![(p, rib.routes(p))],
                    None => {
                        // Every prefix some peer sent or we originate.
                        let mut all = std::collections::BTreeSet::new();
                        for s in self.speaker.summaries(now) {
                            all.extend(rib.adj_in(s.id).into_iter().map(|r| r.prefix));
                        }
                        all.extend(self.originated.iter().copied());
                        all.into_iter().map(|p| (p, rib.routes(p))).collect()
                    }
                };
                let _ = reply.send(rows);
            }
            Command::Originate(p, nh, attrs) => {
                self.originated.insert(p);
                let o = config::origination(&attrs);
                self.speaker.originate_with(now, p, nh, &o);
            }
            Command::Withdraw(p) => {
                self.originated.remove(&p);
                self.speaker.withdraw_local(now, p);
            }
            Command::Enable(addr, reply) => {
                let ok = self
                    .speaker
                    .neighbor_by_addr(addr)
                    .is_some_and(|id| self.speaker.enable(now, id));
                let _ = reply.send(ok);
            }
            Command::Disable(addr, message, reply) => {
                let ok = self
                    .speaker
                    .neighbor_by_addr(addr)
                    .is_some_and(|id| self.speaker.disable(now, id, message.as_deref()));
                let _ = reply.send(ok);
            }
            Command::Refresh(addr, reply) => {
                let ok = self
                    .speaker
                    .neighbor_by_addr(addr)
                    .is_some_and(|id| self.speaker.refresh(now, id));
                let _ = reply.send(ok);
            }
            Command::Inspect(Inspect(question)) => question(&self.speaker, now),
            Command::AddNeighbor(config, addr, tunnel) => {
                self.add_neighbor(now, &config, addr, tunnel)
            }
            Command::RemoveNeighbor(addr) => self.remove_neighbor(now, addr),
            Command::SetPolicy(config, addr, tunnel) => self.set_policy(now, &config, addr, tunnel),
            Command::BfdDown(addr, detail) => {
                if let Some(id) = self.speaker.neighbor_by_addr(addr) {
                    self.speaker.bfd_down(now, id, &detail);
                }
            }
            Command::BfdUp(addr) => {
                if let Some(id) = self.speaker.neighbor_by_addr(addr) {
                    self.speaker.bfd_up(now, id);
                }
            }
            // Handled by the run loop, which must wait for the writes.
            Command::Shutdown(done) => {
                let _ = done.send(());
            }
        }
    }

    /// Carries out everything the speaker asked for, then hands the FIB
    /// thread the changes since its last batch if it is idle (else they
    /// wait in the RIB until it says it is ready).
    fn act(&mut self) {
        while let Some(a) = self.speaker.poll_action() {
            match a {
                Action::Connect { key, addr } => {
                    let (local, md5) = self
                        .neighbors
                        .iter()
                        .find(|n| n.0 == key.peer)
                        .map(|n| (n.1, n.2.clone()))
                        .unwrap_or_default();
                    let task = io::connect(key, addr, local, md5, self.events_tx.clone());
                    self.connecting.insert(key, task);
                }
                Action::Write { key, bytes } => match self.conns.get(&key) {
                    Some(c) => c.write(bytes),
                    None => debug!(?key, "write for a connection that is gone"),
                },
                Action::Close { key } => {
                    if let Some(task) = self.connecting.remove(&key) {
                        debug!(?key, "BGP connect attempt given up");
                        task.abort();
                    } else if self.conns.contains_key(&key) {
                        debug!(?key, "BGP connection closed by us");
                    }
                    let closed = self.conns.remove(&key);
                    if let (Some(c), Some(w)) = (closed, self.stopping.as_mut()) {
                        w.extend(c.close());
                    }
                }
                Action::Up {
                    addr,
                    asn,
                    hold_time,
                    ..
                } => {
                    self.attempts.up(addr);
                    info!(neighbor = %addr, asn, hold_time, "BGP session established");
                }
                Action::Down { addr, .. } if self.stopping.is_some() => {
                    debug!(neighbor = %addr, "BGP session closed for the shutdown");
                }
                // The peer resolved a connection collision (RFC 4271 §6.8)
                // against a session that had just come up: the other
                // connection carries on, nothing is wrong.
                Action::Down {
                    addr,
                    reason,
                    was_established: true,
                    ..
                } if reason.is_collision() => {
                    info!(neighbor = %addr, %reason, "BGP session replaced by the other connection (collision resolution)");
                }
                Action::Down {
                    addr,
                    reason,
                    was_established: true,
                    ..
                } => {
                    let check = reason.hint(addr);
                    warn!(neighbor = %addr, %reason, %check, "BGP session down");
                    self.attempts.down(addr, reason);
                }
                Action::Down { addr, reason, .. } if self.attempts.failed(addr, &reason) => {
                    let check = reason.hint(addr);
                    warn!(neighbor = %addr, %reason, %check, "BGP session cannot be established; retrying");
                }
                Action::Down { addr, reason, .. } => {
                    debug!(neighbor = %addr, %reason, "BGP session attempt failed")
                }
            }
        }
        // A stopping daemon installs nothing more.
        if self.stopping.is_none() && self.fib.idle() {
            let mut batch = FibBatch::with_capacity(self.speaker.fib_changes_bound());
            // Before the routes of a neighbor a reload added: its tunnel.
            batch.set_tunnels(std::mem::take(&mut self.new_tunnels));
            self.speaker.take_fib_changes_with(|c| batch.push_change(c));
            if !batch.is_empty() {
                self.fib.send(batch);
            }
        }
    }
}
