//! The BFD driver: a tokio task that owns the sans-IO
//! [`vcpe_bfd::Sessions`] and moves datagrams and time for it, on a thread
//! of its own (`vcpe-bfd`, a single-threaded runtime), so that a BGP table
//! load never delays a 300 ms packet.
//!
//! ```text
//!  UDP 3784/4784 (v4, v6) ──rx tasks──(now, Received, bytes)──▶ ┌──────────┐
//!  control API ─────────────────────Command───────────────────▶ │ bfd task │
//!  timer (poll_timeout) ──────────────────────────────────────▶ └──────────┘
//!       per-session send socket (TTL 255, port 49152+) ◀── Transmit │
//!       BGP task ◀── BfdDown(addr) / BfdUp(addr) (RFC 5882) ────────┤
//!       vcpe-bfd-routes thread ──▶ Routing::set_tunnel_down ◀───────┘
//! ```
//!
//! RFC 5882 coupling: when a session that was Up goes Down for a path
//! failure (detection time expired, or the peer says Down), its clients
//! act at once (`clients.rs`): the BGP session to that neighbor is torn
//! down, or the static routes into that tunnel peer leave the FIB; when
//! BFD is Up again they come back. AdminDown, ours or the peer's, is not
//! a failure.

mod clients;
mod socket;
mod specs;

use std::collections::HashMap;
use std::net::{IpAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use bytes::Bytes;
use tokio::io::Interest;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};
use vcpe_bfd::{Drops, PathKind, Received, SessionId, SessionKey, SessionView, Sessions, State};
use vcpe_config::Config;

use crate::bgp_driver::BgpHandle;
use crate::routing::Routing;
use crate::topology::Topology;
use clients::Clients;

pub use specs::{Client, Spec, specs};

/// One session as `vcpectl bfd` shows it.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// Peer, local address, path kind.
    pub key: SessionKey,
    /// The session's snapshot.
    pub view: SessionView,
    /// State changes since it was added.
    pub state_changes: u64,
    /// Our UDP source port.
    pub source_port: Option<u16>,
    /// Packets that could not be sent (no route, link down, full buffer).
    pub send_errors: u64,
    /// Who acts on it ("bgp 10.0.0.2", "peer vpc02").
    pub clients: Vec<String>,
}

/// Every session and the drop counters, at one instant.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// When it was taken (for "seconds ago").
    pub now: Instant,
    /// Every session, by peer.
    pub sessions: Vec<SessionInfo>,
    /// Received packets dropped, by reason.
    pub drops: Drops,
}

/// Requests to the BFD task.
#[derive(Debug)]
pub enum Command {
    /// Every session's snapshot.
    Snapshot(oneshot::Sender<Snapshot>),
    /// Reload: run exactly these sessions (new ones start, missing ones
    /// stop, changed intervals go through a Poll Sequence).
    Sync(Vec<Spec>),
    /// vcped stops: every session says AdminDown (so that peers do not
    /// take it for a failure, RFC 5882 §3.2), then the task ends.
    Shutdown(oneshot::Sender<()>),
}

/// The control side's handle on the BFD task.
#[derive(Debug, Clone)]
pub struct BfdHandle {
    commands: mpsc::UnboundedSender<Command>,
}

impl BfdHandle {
    /// Sends a command; `false` if the task is gone.
    pub fn send(&self, c: Command) -> bool {
        self.commands.send(c).is_ok()
    }

    /// Sends AdminDown on every session and stops the task.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.send(Command::Shutdown(tx)) {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), rx).await;
        }
    }
}

/// Starts BFD for the config's neighbors and tunnel peers with `bfd =
/// true`, on a thread of its own; `None` without `[bgp]` or such a peer.
/// With no BFD session yet it binds no socket (a reload may add
/// sessions). Session changes go to `bgp` and to `routing`.
pub fn start(
    config: &Config,
    topology: &Topology,
    bgp: Option<BgpHandle>,
    routing: Arc<Mutex<Routing>>,
) -> anyhow::Result<Option<BfdHandle>> {
    let specs = specs(config, topology);
    if config.bgp.is_none() && specs.is_empty() {
        return Ok(None);
    }
    let clients = Clients::new(bgp, routing);
    let (started_tx, started) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("vcpe-bfd".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = started_tx.send(Err(anyhow::Error::new(e).context(
                        "cannot start the BFD runtime; check the process's thread and file limits",
                    )));
                    return;
                }
            };
            rt.block_on(async move {
                match Task::new(specs, clients) {
                    Ok((task, rx)) => {
                        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
                        let _ = started_tx.send(Ok(BfdHandle { commands: cmd_tx }));
                        task.run(rx, cmd_rx).await;
                    }
                    Err(e) => {
                        let _ = started_tx.send(Err(e));
                    }
                }
            });
        })
        .context("cannot start the BFD thread; check the process's thread limit")?;
    started
        .recv()
        .context("the BFD thread ended during start-up")?
        .map(Some)
}

/// How early a periodic packet may go so that one wake-up serves every
/// session due within it (at most 10% of a session's interval; the jitter
/// floor rises to match): with 100 sessions at 100 ms, about five times
/// fewer wake-ups (`bench/bfd.sh`).
const EARLY: std::time::Duration = std::time::Duration::from_millis(5);

/// A received datagram, stamped when it was read.
type Packet = (Instant, Received, Bytes);

/// Packets waiting for the task; beyond this, rx tasks drop (a flood must
/// not grow memory).
const RX_QUEUE: usize = 1024;

/// A session's I/O side.
#[derive(Debug)]
struct Link {
    socket: UdpSocket,
    state_changes: u64,
    send_errors: u64,
}

struct Task {
    sessions: Sessions,
    links: HashMap<SessionId, Link>,
    clients: Clients,
    next_port: u16,
    /// Receive sockets bound so far: (IPv6, path kind).
    bound: Vec<(bool, PathKind)>,
    /// Where the receive tasks send what they read.
    rx_tx: mpsc::Sender<Packet>,
}

impl Task {
    fn new(specs: Vec<Spec>, clients: Clients) -> anyhow::Result<(Task, mpsc::Receiver<Packet>)> {
        let (tx, rx) = mpsc::channel(RX_QUEUE);
        let seed = {
            use std::hash::BuildHasher;
            std::collections::hash_map::RandomState::new().hash_one(std::process::id())
        };
        let mut task = Task {
            sessions: Sessions::new(seed).with_early(EARLY),
            links: HashMap::new(),
            clients,
            next_port: 49152,
            bound: Vec::new(),
            rx_tx: tx,
        };
        task.sync(Instant::now(), specs)?;
        Ok((task, rx))
    }

    /// Binds the receive socket for the family of `peer` and `path`, once.
    fn bind(&mut self, peer: IpAddr, path: PathKind) -> anyhow::Result<()> {
        let v6 = peer.is_ipv6();
        if self.bound.contains(&(v6, path)) {
            return Ok(());
        }
        let port = match path {
            PathKind::SingleHop => socket::SINGLE_HOP_PORT,
            PathKind::MultiHop => socket::MULTI_HOP_PORT,
        };
        let s = socket::receiver(v6, port).with_context(|| {
            format!(
                "binding BFD UDP port {port} ({}); is another BFD daemon (bfdd, BIRD) running on \
                 this host?",
                if v6 { "IPv6" } else { "IPv4" }
            )
        })?;
        let s =
            tokio::net::UdpSocket::from_std(s).context("registering the BFD socket with tokio")?;
        tokio::spawn(receive(s, path, self.rx_tx.clone()));
        self.bound.push((v6, path));
        Ok(())
    }

    async fn run(
        mut self,
        mut packets: mpsc::Receiver<Packet>,
        mut commands: mpsc::UnboundedReceiver<Command>,
    ) {
        loop {
            let now = Instant::now();
            if self.sessions.poll_timeout().is_some_and(|t| t <= now) {
                self.sessions.handle_timeout(now);
            }
            self.flush();
            let deadline = self.sessions.poll_timeout();
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                p = packets.recv() => match p {
                    Some((at, rx, bytes)) => {
                        if let Err(e) = self.sessions.handle_packet(at, rx, &bytes) {
                            debug!(from = %rx.from, reason = %e, "BFD packet dropped");
                        }
                    }
                    None => return,
                },
                c = commands.recv() => match c {
                    Some(Command::Snapshot(reply)) => {
                        let _ = reply.send(self.snapshot());
                    }
                    Some(Command::Sync(specs)) => {
                        if let Err(e) = self.sync(Instant::now(), specs) {
                            warn!(error = format!("{e:#}"), "BFD reload incomplete; the sessions that need this socket stay down");
                        }
                    }
                    Some(Command::Shutdown(done)) => {
                        let ids: Vec<SessionId> = self.links.keys().copied().collect();
                        self.admin_down_all(Instant::now(), &ids);
                        let _ = done.send(());
                        return;
                    }
                    None => return,
                },
                () = sleep => {}
            }
        }
    }

    /// Runs exactly `specs`; fails if a receive socket cannot be bound
    /// (the other sessions run).
    fn sync(&mut self, now: Instant, specs: Vec<Spec>) -> anyhow::Result<()> {
        let mut failed = None;
        let keep: Vec<SessionKey> = specs.iter().map(|s| s.key).collect();
        let gone: Vec<(SessionId, SessionKey)> = self
            .sessions
            .views()
            .filter(|(_, k, _)| !keep.contains(k))
            .map(|(id, k, _)| (id, k))
            .collect();
        for (id, key) in gone {
            // The peer hears AdminDown, not silence (RFC 5880 §6.8.16):
            // its client must not take the removal for a failure.
            self.admin_down_all(now, &[id]);
            self.sessions.remove(id);
            self.links.remove(&id);
            info!(peer = %key.peer, "BFD session removed");
        }
        // A client no longer watched (a BGP session, a tunnel's routes
        // held down by a removed session) must not stay down.
        self.clients.set(&specs);
        for s in specs {
            if let Err(e) = self.bind(s.key.peer, s.key.path) {
                failed.get_or_insert(e);
                continue;
            }
            let existed = self.sessions.find(&s.key);
            let id = self.sessions.add(now, s.key, s.config.clone());
            if existed.is_some() {
                continue;
            }
            match socket::sender(s.key.peer, s.key.local, self.next_port) {
                Ok(sock) => {
                    let port = sock
                        .local_addr()
                        .map(|a| a.port())
                        .unwrap_or(self.next_port);
                    self.next_port = port.checked_add(1).unwrap_or(49152);
                    self.links.insert(
                        id,
                        Link {
                            socket: sock,
                            state_changes: 0,
                            send_errors: 0,
                        },
                    );
                    info!(peer = %s.key.peer, path = %s.key.path, source_port = port,
                        interval = ?s.config.desired_min_tx, multiplier = s.config.detect_mult,
                        "BFD session started");
                }
                Err(e) => {
                    warn!(peer = %s.key.peer, error = %e,
                        "cannot open the BFD send socket; check local_address is one of this \
                         host's addresses; the session stays down");
                }
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// Sends what the sessions queued and acts on their state changes.
    fn flush(&mut self) {
        self.flush_transmits();
        while let Some((id, key, ev)) = self.sessions.poll_event() {
            if let Some(l) = self.links.get_mut(&id) {
                l.state_changes += 1;
            }
            let peer = key.peer;
            match ev.to {
                State::Up => {
                    info!(%peer, "BFD session up");
                    self.clients.up(&key);
                }
                _ if ev.is_failure() => {
                    let cause = ev.cause.map(|c| c.to_string()).unwrap_or_default();
                    self.clients.down(&key, &cause);
                }
                to => {
                    let cause = ev.cause.map(|c| c.to_string()).unwrap_or_default();
                    debug!(%peer, from = %ev.from, %to, %cause, "BFD session state");
                }
            }
        }
    }

    /// Puts `ids` in AdminDown and sends that at once, three times (it is
    /// the last word: the session stops sending after it).
    fn admin_down_all(&mut self, now: Instant, ids: &[SessionId]) {
        for id in ids {
            self.sessions.set_admin_down(now, *id, true);
        }
        self.flush_transmits_n(3);
        while self.sessions.poll_event().is_some() {}
    }

    fn flush_transmits(&mut self) {
        self.flush_transmits_n(1);
    }

    /// Sends every queued packet `copies` times.
    fn flush_transmits_n(&mut self, copies: usize) {
        while let Some(t) = self.sessions.poll_transmit() {
            let Some(l) = self.links.get_mut(&t.id) else {
                continue;
            };
            let port = match t.key.path {
                PathKind::SingleHop => socket::SINGLE_HOP_PORT,
                PathKind::MultiHop => socket::MULTI_HOP_PORT,
            };
            for _ in 0..copies {
                if let Err(e) = l.socket.send_to(&t.bytes, (t.key.peer, port)) {
                    l.send_errors += 1;
                    debug!(peer = %t.key.peer, error = %e, "BFD packet not sent");
                }
            }
        }
    }

    fn snapshot(&self) -> Snapshot {
        let sessions = self
            .sessions
            .views()
            .map(|(id, key, view)| {
                let l = self.links.get(&id);
                SessionInfo {
                    key,
                    view,
                    state_changes: l.map_or(0, |l| l.state_changes),
                    source_port: l.and_then(|l| l.socket.local_addr().ok()).map(|a| a.port()),
                    send_errors: l.map_or(0, |l| l.send_errors),
                    clients: self.clients.names(&key),
                }
            })
            .collect();
        Snapshot {
            now: Instant::now(),
            sessions,
            drops: self.sessions.drops().clone(),
        }
    }
}

/// Reads one receive socket until the task goes away.
async fn receive(sock: tokio::net::UdpSocket, path: PathKind, tx: mpsc::Sender<Packet>) {
    let mut buf = [0u8; 512];
    loop {
        let read = sock
            .async_io(Interest::READABLE, || socket::recv(&sock, &mut buf))
            .await;
        match read {
            Ok(d) => {
                let rx = Received {
                    from: d.from,
                    to: d.to,
                    ttl: d.ttl,
                    path,
                };
                let bytes = Bytes::copy_from_slice(&buf[..d.len]);
                match tx.try_send((Instant::now(), rx, bytes)) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        debug!(from = %d.from, "BFD receive queue full; packet dropped")
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return,
                }
            }
            Err(e) => {
                debug!(error = %e, "BFD receive error");
                // Not a busy loop on a socket that keeps failing.
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}
