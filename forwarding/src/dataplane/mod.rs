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
//! a receive thread ([`tunnel_rx`]) that decapsulates, checks the inner
//! source against the peer's allowed prefixes and forwards, writing into
//! the TUN devices through dups of the workers' queue fds (the kernel takes
//! concurrent writes; only the owning worker reads a queue): each flow
//! into the queue its hash picks, so that the TUN steers the flow's return
//! traffic to that queue's worker and flows spread over the workers.

mod packet_io;
mod tunnel_rx;
mod worker;

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crate::counters::Counters;
use crate::fib::Fib;
use crate::pipeline::{EgressMtus, ForwardConfig, Ingress, TokenBucket};
use crate::tun::TunQueue;
use crate::tunnel::gre_socket::GreSocket;
use crate::tunnel::peer::TunnelPeer;

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
    /// TUN interfaces, indexed by interface id (`ports[i].ingress.port` is
    /// `Port::Interface(i)`).
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
    /// Tunnel peers, by tunnel id.
    pub tunnels: Vec<Arc<TunnelPeer>>,
    /// Their underlay sockets (non-blocking), one receive thread each.
    pub tunnel_sockets: Vec<TunnelSocket>,
}

/// A running dataplane; stops its workers on [`Dataplane::stop`] or drop.
#[derive(Debug)]
pub struct Dataplane {
    threads: Vec<JoinHandle<()>>,
    workers: usize,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
}

/// Why the dataplane could not start.
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
}

impl Dataplane {
    /// Starts `spec.workers` threads forwarding with routes from `fib`.
    pub fn start(spec: DataplaneSpec, fib: Fib) -> Result<Dataplane, StartError> {
        let workers = spec.workers.max(1);
        for (i, p) in spec.ports.iter().enumerate() {
            if p.queues.len() != workers {
                return Err(StartError::QueueCount {
                    port: i,
                    queues: p.queues.len(),
                    workers,
                });
            }
        }
        // One counter shard per worker, then one per tunnel receive thread
        // (a shard has exactly one writer).
        let rx_threads = spec.tunnel_sockets.len();
        let counters = Arc::new(Counters::new(
            workers + rx_threads,
            spec.ports.len(),
            spec.mtus.tunnels.len().max(spec.tunnels.len()),
        ));
        let tunnels: Arc<[Arc<TunnelPeer>]> = spec.tunnels.into();
        // The receive threads write into every queue of every TUN (dups of
        // the workers' fds), a flow always into the same one.
        let mut rx_queues: Vec<Vec<TunQueue>> = Vec::new();
        let mut rx_uso = Vec::new();
        for p in &spec.ports {
            let dups: Result<Vec<TunQueue>, _> = p.queues.iter().map(TunQueue::try_clone).collect();
            rx_queues.push(dups.map_err(StartError::Spawn)?);
            rx_uso.push(p.uso && p.offload);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(worker::Shared {
            fib,
            mtus: spec.mtus,
            config: spec.config,
            limiter: TokenBucket::new(spec.icmp_rate_per_sec, spec.icmp_rate_per_sec.clamp(1, 100)),
            counters: Arc::clone(&counters),
            stop: Arc::clone(&stop),
            epoch: std::time::Instant::now(),
            tunnels: Arc::clone(&tunnels),
        });
        // Deal queue i of every port to worker i.
        let mut per_worker: Vec<Vec<packet_io::PortQueue>> =
            (0..workers).map(|_| Vec::new()).collect();
        for p in spec.ports {
            for (w, q) in p.queues.into_iter().enumerate() {
                per_worker[w].push(packet_io::PortQueue {
                    ingress: p.ingress,
                    queue: q,
                    offload: p.offload,
                    uso: p.uso,
                });
            }
        }
        // Everything that can fail before a thread runs is done first.
        let mut rx_threads = Vec::with_capacity(spec.tunnel_sockets.len());
        for socket in spec.tunnel_sockets {
            let queues: Result<Vec<Vec<TunQueue>>, _> = rx_queues
                .iter()
                .map(|qs| qs.iter().map(TunQueue::try_clone).collect())
                .collect();
            rx_threads.push(tunnel_rx::RxThread {
                socket,
                tunnels: Arc::clone(&tunnels),
                tun_queues: queues.map_err(StartError::Spawn)?,
                uso: rx_uso.clone(),
            });
        }
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut threads = Vec::with_capacity(workers + rx_threads.len());
        let mut spawn =
            |name: String, body: Box<dyn FnOnce() + Send>| match std::thread::Builder::new()
                .name(name)
                .spawn(body)
            {
                Ok(t) => {
                    threads.push(t);
                    Ok(())
                }
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    for t in threads.drain(..) {
                        let _ = t.join();
                    }
                    Err(StartError::Spawn(e))
                }
            };
        for (index, ports) in per_worker.into_iter().enumerate() {
            let shared = Arc::clone(&shared);
            let cpu = spec.pin.then_some(index % cpus);
            spawn(
                format!("vcpe-fwd-{index}"),
                Box::new(move || worker::run(index, cpu, ports, &shared)),
            )?;
        }
        for (k, rx) in rx_threads.into_iter().enumerate() {
            let shared = Arc::clone(&shared);
            let shard = workers + k;
            spawn(
                format!("vcpe-tun-rx-{k}"),
                Box::new(move || {
                    if let Some(c) = shared.counters.worker(shard) {
                        tunnel_rx::run(rx, &shared, c);
                    }
                }),
            )?;
        }
        Ok(Dataplane {
            threads,
            workers,
            stop,
            counters,
        })
    }

    /// The counters the workers write; snapshot them from any thread.
    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Stops the workers and waits for them (at most one poll interval).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Dataplane {
    fn drop(&mut self) {
        self.shutdown();
    }
}
