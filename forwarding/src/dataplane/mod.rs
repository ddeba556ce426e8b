//! The running dataplane: worker threads that move packets between TUN
//! queues through the [`pipeline`](crate::pipeline).
//!
//! Each worker is a plain OS thread pinned to a core. It owns queue *i* of
//! every TUN device (devices are multi-queue, one queue per worker), so a
//! worker reads, decides and writes without sharing anything mutable with
//! the others: the FIB is a lock-free snapshot, counters are its own shard,
//! the ICMP rate limiter is one atomic. The kernel spreads flows over the
//! queues by hash, so packets of one flow stay on one worker (no reordering).
//!
//! Workers sleep in `poll(2)` when idle and drain a bounded batch from each
//! readable queue when busy: no per-packet wake-up, no async runtime.
//!
//! Tunnels: a worker encapsulates and sends packets the FIB routes into a
//! tunnel itself (on the shared underlay socket); each underlay socket has
//! a receive thread ([`tunnel_rx`]; a WireGuard or VXLAN bind has a group
//! of `SO_REUSEPORT` sockets, one per worker, and so as many threads, see
//! `rx_group.rs`) that decapsulates, checks the inner
//! source against the peer's allowed prefixes and forwards (WireGuard
//! handshake messages go to the one handshake thread, [`handshake`], so
//! that a handshake flood never runs on the data path), writing into
//! the TUN devices through dups of the workers' queue fds (the kernel takes
//! concurrent writes; only the owning worker reads a queue): each flow
//! into the queue its hash picks, so that the TUN steers the flow's return
//! traffic to that queue's worker and flows spread over the workers.
//!
//! Ports, tunnels and underlay sockets change while the dataplane runs
//! ([`Dataplane::add_port`], [`Dataplane::set_tunnel`],
//! [`Dataplane::start_socket`] and their counterparts): the tunnel table
//! and MTUs are republished whole ([`tables`]), TUN queues and peer lists
//! reach the running threads as messages ([`control`]); nothing on the
//! other ports or tunnels pauses, and the hot path takes no lock.
//!
//! | file           | holds                                                 |
//! |----------------|-------------------------------------------------------|
//! | `mod.rs`       | [`Dataplane`]: start, stop, what changes while running |
//! | `control.rs`   | the change messages and the threads' mailboxes        |
//! | `tables.rs`    | tunnel peers and egress MTUs, swapped whole           |
//! | `worker.rs`    | a worker's loop                                        |
//! | `tunnel_rx.rs` | a tunnel receive thread's loop                         |
//! | `rx_group.rs`  | a receive thread's place in its bind's group; its counts |
//! | `handshake.rs` | the WireGuard handshake thread (`vcpe-wg-hs`)          |
//! | `handshake_queue.rs` | its bounded queue and counts                     |
//! | `packet_io.rs` | writing a packet to a TUN or a tunnel                  |

mod control;
mod handshake;
mod handshake_queue;
mod packet_io;
mod peer_index;
mod rx_group;
mod tables;
mod tunnel_rx;
mod worker;

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use control::{Postbox, RxCommand, WorkerCommand};
use tables::Tables;

use crate::counters::{Counters, Port};
use crate::fib::Fib;
use crate::pipeline::{EgressMtus, ForwardConfig, Ingress, TokenBucket};
use crate::tun::TunQueue;
use crate::tunnel::gre_socket::GreSocket;
use crate::tunnel::peer::TunnelPeer;

pub use handshake_queue::{HandshakeSnapshot, QUEUE_CAPACITY as HANDSHAKE_QUEUE_CAPACITY};
pub use rx_group::{RxGroup, RxThreadSnapshot, RxThreadStats};
pub use worker::BATCH;

/// `poll(2)` on `fds` for up to `timeout_ms`; whether any fd is ready.
/// (Spinning on a zero timeout first was tried: on 2 cores it costs the
/// forwarding threads' own CPU and lowered every bench figure.)
fn poll_fds(fds: &mut [libc::pollfd], timeout_ms: i32) -> bool {
    for p in fds.iter_mut() {
        p.revents = 0;
    }
    // SAFETY: `fds` is a valid, exclusively borrowed array of pollfd structs
    // of the given length for the duration of the call.
    unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) > 0 }
}

/// One TUN interface as the dataplane sees it.
#[derive(Debug)]
pub struct PortSpec {
    /// The port id (its `Egress::Interface` id) and the router's own
    /// addresses on it (sources of ICMP errors sent out of it).
    pub ingress: Ingress,
    /// One queue per worker, in worker order.
    pub queues: Vec<TunQueue>,
    /// Whether the queues carry a virtio-net header (offloads on).
    pub offload: bool,
    /// Whether the device takes UDP super-packets (`TUN_F_USO4/6`): the
    /// tunnel receive threads then coalesce UDP datagrams too.
    pub uso: bool,
}

/// An underlay socket and the tunnel peers that use it.
#[derive(Debug)]
pub struct TunnelSocket {
    /// The socket.
    pub socket: UnderlaySocket,
    /// Ids (`Egress::Tunnel`) of the peers behind it.
    pub peers: Vec<u32>,
    /// Its place in the `SO_REUSEPORT` group of its bind
    /// ([`RxGroup::ALONE`] for a socket of its own).
    pub group: RxGroup,
    /// What it is, for `vcpectl stats` (e.g. `wireguard 0.0.0.0:51820`).
    pub label: String,
}

/// The kinds of underlay socket.
#[derive(Debug, Clone)]
pub enum UnderlaySocket {
    /// Raw IP protocol 47, for GRE peers.
    Gre(Arc<GreSocket>),
    /// UDP, for WireGuard peers.
    Udp(Arc<std::net::UdpSocket>),
}

/// Everything the dataplane needs to start.
#[derive(Debug)]
pub struct DataplaneSpec {
    /// TUN interfaces, each with its id in `ingress.port`
    /// (`Port::Interface(id)`); more come with [`Dataplane::add_port`].
    pub ports: Vec<PortSpec>,
    /// Egress MTUs by interface and tunnel id.
    pub mtus: EgressMtus,
    /// Pipeline knobs.
    pub config: ForwardConfig,
    /// ICMP errors originated per second (0 = none).
    pub icmp_rate_per_sec: u32,
    /// Number of worker threads; every port must have this many queues.
    pub workers: usize,
    /// Pin worker *i* to CPU *i* mod the number of CPUs.
    pub pin: bool,
    /// Tunnel peers, by tunnel id (more with [`Dataplane::set_tunnel`]).
    pub tunnels: Vec<Arc<TunnelPeer>>,
    /// Their underlay sockets (non-blocking), one receive thread each
    /// (more with [`Dataplane::start_socket`]).
    pub tunnel_sockets: Vec<TunnelSocket>,
}

/// A running dataplane; stops its workers on [`Dataplane::stop`] or drop.
pub struct Dataplane {
    workers: Vec<(Postbox<WorkerCommand>, JoinHandle<()>)>,
    /// The WireGuard handshake thread.
    handshake: Option<JoinHandle<()>>,
    rx: BTreeMap<SocketId, RxHandle>,
    next_socket: u64,
    /// Each port's queues (dups of the workers' ones, by worker) and USO,
    /// by interface id: what a receive thread that starts later writes
    /// into.
    ports: BTreeMap<u32, (Vec<TunQueue>, bool)>,
    shared: Arc<worker::Shared>,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for Dataplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataplane")
            .field("workers", &self.workers.len())
            .field("sockets", &self.rx.keys().collect::<Vec<_>>())
            .field("ports", &self.ports.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A running underlay socket's receive thread.
#[derive(Debug)]
struct RxHandle {
    post: Postbox<RxCommand>,
    thread: JoinHandle<()>,
    name: String,
    label: String,
    group: RxGroup,
    stats: Arc<RxThreadStats>,
}

/// A receive thread started by [`Dataplane::start_socket`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SocketId(u64);

/// Why the dataplane could not start, or could not take a change.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A port has a different number of queues than there are workers.
    #[error(
        "interface {port} has {queues} queues but the dataplane runs {workers} workers; create each TUN with one queue per worker"
    )]
    QueueCount {
        /// The interface id.
        port: usize,
        /// Its queue count.
        queues: usize,
        /// The worker count.
        workers: usize,
    },
    /// Spawning a worker thread failed.
    #[error("cannot start dataplane worker thread: {0}")]
    Spawn(#[source] io::Error),
    /// An id beyond what the counters were sized for.
    #[error(
        "{what} id {id} is beyond the dataplane's capacity ({capacity}); restart vcped to apply this change"
    )]
    Capacity {
        /// "interface" or "tunnel".
        what: &'static str,
        /// The id.
        id: usize,
        /// Ids counted.
        capacity: usize,
    },
    /// The port is no interface port.
    #[error("port {0:?} is not an interface")]
    NotAnInterface(Port),
}

impl Dataplane {
    /// Starts `spec.workers` threads forwarding with routes from `fib`.
    /// The sockets of `spec.tunnel_sockets` get the [`SocketId`]s 0, 1, ...
    /// in order.
    pub fn start(spec: DataplaneSpec, fib: Fib) -> Result<Dataplane, StartError> {
        let workers = spec.workers.max(1);
        let mut port_ids = Vec::with_capacity(spec.ports.len());
        for (i, p) in spec.ports.iter().enumerate() {
            if p.queues.len() != workers {
                return Err(StartError::QueueCount {
                    port: i,
                    queues: p.queues.len(),
                    workers,
                });
            }
            port_ids.push(port_id(p)?);
        }
        // One counter shard per worker; the receive threads lease theirs.
        let counters = Arc::new(Counters::new(
            workers,
            spec.ports.len(),
            spec.mtus.tunnels.len().max(spec.tunnels.len()),
        ));
        let stop = Arc::new(AtomicBool::new(false));
        let mut tables = Tables {
            mtus: spec.mtus,
            tunnels: spec.tunnels.into_iter().map(Some).collect(),
        };
        if tables.mtus.tunnels.len() < tables.tunnels.len() {
            tables.mtus.tunnels.resize(tables.tunnels.len(), 0);
        }
        let shared = Arc::new(worker::Shared {
            fib,
            tables: arc_swap::ArcSwap::from_pointee(tables),
            config: spec.config,
            limiter: TokenBucket::new(spec.icmp_rate_per_sec, spec.icmp_rate_per_sec.clamp(1, 100)),
            counters: Arc::clone(&counters),
            stop: Arc::clone(&stop),
            epoch: std::time::Instant::now(),
            handshakes: handshake_queue::HandshakeQueue::default(),
        });
        // Deal queue i of every port to worker i, by interface id; keep
        // dups for the receive threads.
        let mut per_worker: Vec<Vec<Option<packet_io::PortQueue>>> =
            (0..workers).map(|_| Vec::new()).collect();
        let mut ports = BTreeMap::new();
        for (p, id) in spec.ports.into_iter().zip(port_ids) {
            let dups: Result<Vec<TunQueue>, _> = p.queues.iter().map(TunQueue::try_clone).collect();
            ports.insert(id, (dups.map_err(StartError::Spawn)?, p.uso && p.offload));
            for (w, q) in p.queues.into_iter().enumerate() {
                let slots = &mut per_worker[w];
                if slots.len() <= id as usize {
                    slots.resize_with(id as usize + 1, || None);
                }
                slots[id as usize] = Some(packet_io::PortQueue {
                    ingress: p.ingress,
                    queue: q,
                    offload: p.offload,
                    uso: p.uso,
                });
            }
        }
        let mut dp = Dataplane {
            workers: Vec::with_capacity(workers),
            handshake: None,
            rx: BTreeMap::new(),
            next_socket: 0,
            ports,
            shared,
            stop,
            counters,
        };
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        for (index, ports) in per_worker.into_iter().enumerate() {
            let shared = Arc::clone(&dp.shared);
            let cpu = spec.pin.then_some(index % cpus);
            let (post, mail) = control::mailbox().map_err(StartError::Spawn)?;
            let t = std::thread::Builder::new()
                .name(format!("vcpe-fwd-{index}"))
                .spawn(move || worker::run(index, cpu, ports, mail, &shared))
                .map_err(StartError::Spawn)?;
            dp.workers.push((post, t));
        }
        let shared = Arc::clone(&dp.shared);
        let lease = dp.counters.lease();
        dp.handshake = Some(
            std::thread::Builder::new()
                .name("vcpe-wg-hs".to_owned())
                .spawn(move || handshake::run(&shared, &shared.handshakes, &lease))
                .map_err(StartError::Spawn)?,
        );
        for socket in spec.tunnel_sockets {
            dp.start_socket(socket)?;
        }
        Ok(dp)
    }

    /// Starts the receive thread of an underlay socket (its peers must be
    /// in the tunnel table, [`Dataplane::set_tunnel`], to be found).
    pub fn start_socket(&mut self, socket: TunnelSocket) -> Result<SocketId, StartError> {
        let mut tun_queues: Vec<Vec<TunQueue>> = Vec::new();
        let mut uso = Vec::new();
        for (&id, (qs, u)) in &self.ports {
            let id = id as usize;
            if tun_queues.len() <= id {
                tun_queues.resize_with(id + 1, Vec::new);
                uso.resize(id + 1, false);
            }
            let dups: Result<Vec<TunQueue>, _> = qs.iter().map(TunQueue::try_clone).collect();
            tun_queues[id] = dups.map_err(StartError::Spawn)?;
            uso[id] = *u;
        }
        let (post, mailbox) = control::mailbox().map_err(StartError::Spawn)?;
        let id = SocketId(self.next_socket);
        self.next_socket += 1;
        let stats = Arc::new(RxThreadStats::default());
        let rx = tunnel_rx::RxThread {
            socket: socket.socket,
            peers: socket.peers,
            group: socket.group,
            stats: Arc::clone(&stats),
            mailbox,
            tun_queues,
            uso,
        };
        let shared = Arc::clone(&self.shared);
        let lease = self.counters.lease();
        let name = format!("vcpe-tun-rx-{}", id.0);
        let thread = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || tunnel_rx::run(rx, &shared, &lease))
            .map_err(StartError::Spawn)?;
        self.rx.insert(
            id,
            RxHandle {
                post,
                thread,
                name,
                label: socket.label,
                group: socket.group,
                stats,
            },
        );
        Ok(id)
    }

    /// The tunnel ids behind socket `id` are now `peers` (its receive
    /// thread finds datagrams' peers among them from its next batch on).
    pub fn set_socket_peers(&self, id: SocketId, peers: Vec<u32>) {
        if let Some(h) = self.rx.get(&id) {
            h.post.send(RxCommand::SetPeers(peers));
        }
    }

    /// Stops the receive thread of socket `id` and waits for it; the
    /// socket closes when its last user (a peer's `Encap`) goes.
    pub fn stop_socket(&mut self, id: SocketId) {
        if let Some(h) = self.rx.remove(&id) {
            h.post.send(RxCommand::Stop);
            let _ = h.thread.join();
        }
    }

    /// Sets tunnel `id` to `peer` with inner MTU `mtu` (a new tunnel, or a
    /// changed peer replacing the old one under the same id). The workers
    /// send with it from their next batch on.
    pub fn set_tunnel(&self, id: u32, peer: Arc<TunnelPeer>, mtu: u16) -> Result<(), StartError> {
        let capacity = self.counters.tunnel_capacity();
        if id as usize >= capacity {
            return Err(StartError::Capacity {
                what: "tunnel",
                id: id as usize,
                capacity,
            });
        }
        self.publish(|t| t.with_tunnel(id as usize, Some(peer), mtu));
        Ok(())
    }

    /// Empties tunnel `id`'s slot: what the FIB still sends into it is
    /// dropped as `no_egress` until its routes are gone.
    pub fn remove_tunnel(&self, id: u32) {
        self.publish(|t| t.with_tunnel(id as usize, None, 0));
    }

    /// The peer of tunnel `id`, if it runs.
    pub fn tunnel(&self, id: u32) -> Option<Arc<TunnelPeer>> {
        self.shared.tables.load().tunnel(id as usize).cloned()
    }

    /// Zeroes tunnel `id`'s counters before the id is used for another
    /// peer.
    pub fn reset_tunnel_counters(&self, id: u32) {
        self.counters.reset_tunnel(id);
    }

    /// Hands a new TUN port to the running workers (queue *i* to worker
    /// *i*) and the receive threads, then publishes its MTU `mtu`. Its id
    /// is `spec.ingress.port`'s.
    pub fn add_port(&mut self, spec: PortSpec, mtu: u16) -> Result<(), StartError> {
        let id = port_id(&spec)?;
        let capacity = self.counters.interface_capacity();
        if id as usize >= capacity {
            return Err(StartError::Capacity {
                what: "interface",
                id: id as usize,
                capacity,
            });
        }
        if spec.queues.len() != self.workers.len() {
            return Err(StartError::QueueCount {
                port: id as usize,
                queues: spec.queues.len(),
                workers: self.workers.len(),
            });
        }
        let uso = spec.uso && spec.offload;
        let dups: Result<Vec<TunQueue>, _> = spec.queues.iter().map(TunQueue::try_clone).collect();
        let dups = dups.map_err(StartError::Spawn)?;
        // Every fd first: a failure leaves the running threads untouched.
        let mut for_rx = Vec::with_capacity(self.rx.len());
        for _ in &self.rx {
            let d: Result<Vec<TunQueue>, _> = dups.iter().map(TunQueue::try_clone).collect();
            for_rx.push(d.map_err(StartError::Spawn)?);
        }
        for ((post, _), q) in self.workers.iter().zip(spec.queues) {
            post.send(WorkerCommand::AddPort {
                id,
                queue: packet_io::PortQueue {
                    ingress: spec.ingress,
                    queue: q,
                    offload: spec.offload,
                    uso: spec.uso,
                },
            });
        }
        for (h, queues) in self.rx.values().zip(for_rx) {
            h.post.send(RxCommand::AddPort { id, queues, uso });
        }
        self.ports.insert(id, (dups, uso));
        self.publish(|t| t.with_interface_mtu(id as usize, mtu));
        Ok(())
    }

    /// Port `id` now has MTU `mtu` and the addresses of `ingress` (a
    /// reload changed the interface in place): the MTU from the next
    /// batch on, the addresses from each worker's next loop.
    pub fn set_port(&self, ingress: Ingress, mtu: u16) -> Result<(), StartError> {
        let Port::Interface(id) = ingress.port else {
            return Err(StartError::NotAnInterface(ingress.port));
        };
        self.publish(|t| t.with_interface_mtu(id as usize, mtu));
        for (post, _) in &self.workers {
            post.send(WorkerCommand::SetIngress { id, ingress });
        }
        Ok(())
    }

    /// Takes port `id` from every thread (its MTU first, so that the
    /// pipeline drops what still routes to it as `no_egress`) and waits
    /// until they dropped its queues: once the caller drops its own
    /// handles, the TUN device is gone.
    pub fn remove_port(&mut self, id: u32) {
        self.publish(|t| t.with_interface_mtu(id as usize, 0));
        let workers: Vec<&Postbox<WorkerCommand>> = self.workers.iter().map(|(p, _)| p).collect();
        control::remove_and_wait(&workers, |done| WorkerCommand::RemovePort { id, done });
        let rx: Vec<&Postbox<RxCommand>> = self.rx.values().map(|h| &h.post).collect();
        control::remove_and_wait(&rx, |done| RxCommand::RemovePort { id, done });
        self.ports.remove(&id);
    }

    /// Replaces the tables with `f(current)`. Only the control plane
    /// writes them, under the daemon's lock on the dataplane.
    fn publish(&self, f: impl FnOnce(&Tables) -> Tables) {
        let next = f(&self.shared.tables.load());
        self.shared.tables.store(Arc::new(next));
    }

    /// The counters the workers write; snapshot them from any thread.
    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Number of running tunnel receive threads.
    pub fn sockets(&self) -> usize {
        self.rx.len()
    }

    /// The running tunnel receive threads and what each has read, in the
    /// order they started.
    pub fn receive_threads(&self) -> Vec<RxThreadSnapshot> {
        self.rx
            .values()
            .map(|h| RxThreadSnapshot::read(h.name.clone(), h.label.clone(), h.group, &h.stats))
            .collect()
    }

    /// What the WireGuard handshake thread counted, and whether it is
    /// under load (a handshake flood).
    pub fn handshakes(&self) -> HandshakeSnapshot {
        self.shared.handshakes.snapshot(self.shared.epoch)
    }

    /// Stops the workers and waits for them (at most one poll interval).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for (_, t) in self.workers.drain(..) {
            let _ = t.join();
        }
        for (_, h) in std::mem::take(&mut self.rx) {
            let _ = h.thread.join();
        }
        if let Some(t) = self.handshake.take() {
            let _ = t.join();
        }
    }
}

/// The interface id of a port spec.
fn port_id(p: &PortSpec) -> Result<u32, StartError> {
    match p.ingress.port {
        Port::Interface(i) => Ok(i),
        other => Err(StartError::NotAnInterface(other)),
    }
}

impl Drop for Dataplane {
    fn drop(&mut self) {
        self.shutdown();
    }
}
