//! One worker thread's loop: poll its queues, drain a batch from each
//! readable one through the pipeline, write the results; between batches,
//! apply the ports added or removed ([`super::control`]), woken by the
//! mailbox's eventfd in the poll set.

use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::counters::{Counters, DropReason, WorkerCounters};
use crate::fib::{Egress, Fib, FibSnapshot};
use crate::pipeline::{ForwardConfig, ForwardCtx, REPLY_BUF_LEN, TokenBucket, Verdict, forward};
use crate::tun::{GsoType, VnetHdr};

use super::control::{Mailbox, WorkerCommand};
use super::packet_io::{
    PortQueue, complete_syn_checksum, flush_egress, ip_len, transmit, transmit_tunnel,
};
use super::tables::Tables;
use crate::tun::gro::{CoalesceStats, Coalescer};
use crate::tunnel::batch::TxBatch;

/// Packets read from one queue before the worker looks at the others (and
/// at the stop flag, and takes a fresh FIB snapshot).
pub const BATCH: usize = 64;

/// How long an idle worker sleeps before it re-checks the stop flag.
const POLL_TIMEOUT_MS: i32 = 100;

/// The nice value of a worker thread. The kernel forwards in softirq
/// context, ahead of every process on the core; a worker at nice 0 shares
/// its core evenly with whatever else runs there (the control plane, other
/// tenants of the VM, iperf3 in `bench/forwarding.sh`) and lets the TUN
/// queue overflow while it waits for its turn. At -10 the scheduler gives
/// it about nine times the share of a nice-0 task, yet it still sleeps in
/// `poll(2)` when idle, so it cannot starve the core the way a real-time
/// policy would.
const WORKER_NICE: libc::c_int = -10;

/// Largest packet a TUN hands over: a 64 KiB GSO super-packet plus the
/// virtio-net header.
const BUF_LEN: usize = crate::tun::RECV_BUF_LEN;

/// State all workers read.
pub(super) struct Shared {
    pub fib: Fib,
    /// Tunnel peers and egress MTUs, replaced whole when they change.
    pub tables: arc_swap::ArcSwap<Tables>,
    pub config: ForwardConfig,
    pub limiter: TokenBucket,
    pub counters: Arc<Counters>,
    pub stop: Arc<AtomicBool>,
    pub epoch: Instant,
    /// WireGuard handshake messages from the receive threads to the
    /// handshake thread.
    pub handshakes: super::handshake_queue::HandshakeQueue,
}

impl Shared {
    /// What one batch of `forward` calls reads: this FIB snapshot, these
    /// tables, this thread's counter shard, the time now.
    pub(super) fn ctx<'a>(
        &'a self,
        fib: &'a FibSnapshot,
        tables: &'a Tables,
        counters: &'a WorkerCounters,
    ) -> ForwardCtx<'a> {
        ForwardCtx {
            fib,
            mtus: &tables.mtus,
            config: &self.config,
            icmp_limiter: &self.limiter,
            counters,
            now_ns: u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX),
        }
    }
}

/// The worker thread body; returns when `shared.stop` is set. `ports`
/// holds this worker's queue of each port, by interface id.
pub(super) fn run(
    index: usize,
    cpu: Option<usize>,
    ports: Vec<Option<PortQueue>>,
    mailbox: Mailbox<WorkerCommand>,
    shared: &Shared,
) {
    if let Some(cpu) = cpu {
        pin_to_cpu(cpu);
    }
    raise_priority();
    let Some(counters) = shared.counters.worker(index) else {
        tracing::error!(
            worker = index,
            "no counter shard for this worker; worker not started"
        );
        return;
    };
    let mut buf = vec![0u8; BUF_LEN];
    let mut w = Ports {
        ports: Vec::new(),
        polled: Vec::new(),
        pollfds: vec![libc::pollfd {
            fd: mailbox.fd(),
            events: libc::POLLIN,
            revents: 0,
        }],
        bufs: Bufs::new(),
    };
    for (id, p) in ports.into_iter().enumerate() {
        if let Some(p) = p {
            w.add(id, p);
        }
    }
    let mut reported_error = false;
    tracing::debug!(
        worker = index,
        queues = w.polled.len(),
        ?cpu,
        "dataplane worker running"
    );
    while !shared.stop.load(Ordering::Relaxed) {
        if !wait(&mut w.pollfds) {
            continue;
        }
        if w.pollfds[0].revents != 0 {
            while let Some(c) = mailbox.next() {
                w.apply(c);
            }
            continue;
        }
        let fib = shared.fib.snapshot();
        let tables = shared.tables.load();
        let ctx = shared.ctx(&fib, &tables, counters);
        let Ports {
            ports,
            polled,
            pollfds,
            bufs,
        } = &mut w;
        for (k, pfd) in pollfds.iter().enumerate().skip(1) {
            if pfd.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) == 0 {
                continue;
            }
            let i = polled[k - 1];
            let Some(port) = ports.get(i).and_then(Option::as_ref) else {
                continue;
            };
            for _ in 0..BATCH {
                match port.queue.recv(&mut buf) {
                    Ok(n) => handle(ports, &tables, i, &mut buf[..n], &ctx, counters, bufs),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        if !reported_error {
                            tracing::warn!(worker = index, port = ?port.ingress.port, error = %e,
                                "reading from TUN queue failed; is the interface gone? (further errors are not logged)");
                            reported_error = true;
                        }
                        break;
                    }
                }
            }
            bufs.flush_tunnel(&tables);
            flush_egress(ports, &mut bufs.gro, counters);
        }
    }
    tracing::debug!(worker = index, "dataplane worker stopped");
}

/// A worker's ports: its queue of each, by interface id, and the poll set
/// (the mailbox's eventfd first, then one entry per queue).
struct Ports {
    ports: Vec<Option<PortQueue>>,
    /// The interface id of `pollfds[k + 1]`.
    polled: Vec<usize>,
    pollfds: Vec<libc::pollfd>,
    bufs: Bufs,
}

impl Ports {
    fn add(&mut self, id: usize, p: PortQueue) {
        self.remove(id);
        if self.ports.len() <= id {
            self.ports.resize_with(id + 1, || None);
        }
        if self.bufs.gro.len() <= id {
            self.bufs
                .gro
                .resize_with(id + 1, || (Coalescer::new(), CoalesceStats::default()));
        }
        self.bufs.gro[id].0 = if p.uso {
            Coalescer::with_udp()
        } else {
            Coalescer::new()
        };
        self.pollfds.push(libc::pollfd {
            fd: p.queue.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        });
        self.polled.push(id);
        self.ports[id] = Some(p);
    }

    fn remove(&mut self, id: usize) {
        if let Some(k) = self.polled.iter().position(|&p| p == id) {
            self.polled.remove(k);
            self.pollfds.remove(k + 1);
        }
        if let Some(slot) = self.ports.get_mut(id) {
            *slot = None;
        }
    }

    fn apply(&mut self, c: WorkerCommand) {
        match c {
            WorkerCommand::AddPort { id, queue } => self.add(id as usize, queue),
            WorkerCommand::RemovePort { id, done } => {
                self.remove(id as usize);
                done.signal();
            }
            WorkerCommand::SetIngress { id, ingress } => {
                if let Some(Some(p)) = self.ports.get_mut(id as usize) {
                    p.ingress = ingress;
                }
            }
        }
    }
}

/// Waits until a queue is readable or the poll interval passed; `true` if
/// any is readable.
fn wait(pollfds: &mut [libc::pollfd]) -> bool {
    super::poll_fds(pollfds, POLL_TIMEOUT_MS)
}

/// Runs one packet (`frame`: virtio-net header if the port has offloads,
/// then the IP packet) through the pipeline and writes the outcome.
fn handle(
    ports: &[Option<PortQueue>],
    tables: &Tables,
    ingress: usize,
    frame: &mut [u8],
    ctx: &ForwardCtx<'_>,
    counters: &WorkerCounters,
    bufs: &mut Bufs,
) {
    let Bufs {
        reply,
        seg: scratch,
        batch,
        batch_peer,
        gro,
    } = bufs;
    let Some(port) = ports.get(ingress).and_then(Option::as_ref) else {
        return;
    };
    let (mut hdr, pkt) = if port.offload {
        if frame.len() < VnetHdr::LEN {
            counters.drop_packet(DropReason::BadHeader);
            return;
        }
        let (h, p) = frame.split_at_mut(VnetHdr::LEN);
        match VnetHdr::parse(h) {
            Some(h) => (Some(h), p),
            None => {
                counters.drop_packet(DropReason::BadHeader);
                return;
            }
        }
    } else {
        (None, frame)
    };
    if let Some(h) = hdr.as_mut() {
        complete_syn_checksum(pkt, h);
    }
    let gso = hdr
        .as_ref()
        .filter(|h| h.gso_type != GsoType::None)
        .map(|h| h.gso_size);
    match forward(pkt, &port.ingress, gso, ctx, reply) {
        Verdict::Forward {
            egress: Egress::Interface(e),
            ..
        } => {
            let Some(out) = ports.get(e as usize).and_then(Option::as_ref) else {
                counters.drop_packet(DropReason::NoEgress);
                return;
            };
            let len = ip_len(pkt, gso.is_some());
            let gro = gro.get_mut(e as usize);
            transmit(out, hdr.as_ref(), &mut pkt[..len], counters, scratch, gro);
        }
        Verdict::Forward {
            egress: Egress::Tunnel(t),
            gateway,
        } => {
            let Some(peer) = tables.tunnel(t as usize) else {
                counters.drop_packet(DropReason::NoEgress);
                return;
            };
            peer.resolve(gateway, pkt);
            let len = ip_len(pkt, gso.is_some());
            // Datagrams for one peer at a time wait in the batch.
            if let Some(prev) = batch_peer.replace(t as usize)
                && prev != t as usize
                && let Some(prev) = tables.tunnel(prev)
            {
                batch.flush(prev);
            }
            transmit_tunnel(
                peer,
                hdr.as_ref(),
                &mut pkt[..len],
                counters,
                scratch,
                batch,
            );
        }
        Verdict::Forward { .. } => counters.drop_packet(DropReason::NoEgress),
        Verdict::Reply { len, .. } => {
            transmit(port, None, &mut reply[..len], counters, scratch, None);
        }
        Verdict::Drop(_) => {}
    }
}

/// Sets the calling thread's nice value to [`WORKER_NICE`]; without
/// `CAP_SYS_NICE` the worker runs at the default priority.
pub(super) fn raise_priority() {
    // SAFETY: gettid has no preconditions; setpriority with PRIO_PROCESS and
    // a thread id changes only that thread's nice value (Linux semantics).
    let rc = unsafe {
        let tid = libc::gettid() as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, WORKER_NICE)
    };
    if rc != 0 {
        tracing::debug!(nice = WORKER_NICE, error = %io::Error::last_os_error(),
            "could not raise the worker's priority");
    }
}

/// A worker's reusable buffers.
pub(super) struct Bufs {
    /// Where ICMP errors are built.
    pub reply: [u8; REPLY_BUF_LEN],
    /// Software GSO segments.
    pub seg: Vec<u8>,
    /// Datagrams on their way into one tunnel, sent when the worker turns
    /// to another tunnel or finishes a read batch.
    pub batch: TxBatch,
    /// The tunnel id the batch is for.
    pub batch_peer: Option<usize>,
    /// Per egress TUN: small packets coalesced into one write, flushed at
    /// the end of each read batch.
    pub gro: Vec<(Coalescer, CoalesceStats)>,
}

impl Bufs {
    pub(super) fn new() -> Bufs {
        Bufs {
            reply: [0u8; REPLY_BUF_LEN],
            seg: Vec::with_capacity(crate::tun::RECV_BUF_LEN),
            batch: TxBatch::new(),
            batch_peer: None,
            gro: Vec::new(),
        }
    }

    /// Sends what waits in the tunnel batch.
    pub(super) fn flush_tunnel(&mut self, tables: &Tables) {
        if let Some(p) = self.batch_peer.take().and_then(|p| tables.tunnel(p)) {
            self.batch.flush(p);
        }
    }
}

/// Pins the calling thread to `cpu`; failure only costs cache locality.
fn pin_to_cpu(cpu: usize) {
    // SAFETY: cpu_set_t is plain data; CPU_ZERO/CPU_SET write inside it and
    // sched_setaffinity(0, ..) only reads it for the calling thread.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set)
    };
    if rc != 0 {
        tracing::debug!(cpu, error = %io::Error::last_os_error(), "could not pin worker");
    }
}
