//! Config `[[peer]]` sections → the dataplane's tunnel peers and their
//! underlay sockets: one raw GRE socket per local address; per WireGuard
//! bind address (peers that name the same bind share it) and per VXLAN
//! bind, a group of UDP sockets in one `SO_REUSEPORT` group, one per
//! worker, each with its receive thread (the kernel spreads the peers over
//! them by their address and port); and the tunnel MTU. The routes into
//! tunnels are [`crate::routing`]'s.
//!
//! [`Underlay`] keeps the open sockets with the peers that use each and
//! their receive threads, so that peers come and go one by one (a
//! reload): a peer's socket is opened, or shared, when it is built
//! ([`Underlay::build`], which can fail and changes nothing running), its
//! receive thread starts when the first peer is attached
//! ([`Underlay::attach`]), and stops with the socket when the last one is
//! detached.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use vcpe_config::mtu::{gre_overhead, vxlan_overhead};
use vcpe_config::{Encapsulation, Peer};
use vcpe_forwarding::dataplane::{Dataplane, RxGroup, SocketId, TunnelSocket, UnderlaySocket};
use vcpe_forwarding::pipeline::Ingress;
use vcpe_forwarding::tunnel::gre_socket::{GreSocket, GreSocketOptions};
use vcpe_forwarding::tunnel::peer::{Encap, TunnelPeer, TunnelStats, VxlanPeer, WgKeys};
use vcpe_forwarding::tunnel::roaming::Roaming;
use vcpe_forwarding::tunnel::wireguard::{self, WgConfig, WgPeer};

use crate::topology::TunnelId;

/// Underlay MTU assumed when a peer sets no `mtu`.
pub use vcpe_config::mtu::UNDERLAY_MTU;

/// Which socket a peer uses: by kind and local address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SocketKey {
    /// The raw GRE socket on this local address.
    Gre(IpAddr),
    /// The WireGuard UDP sockets on this bind.
    WireGuard(SocketAddr),
    /// The VXLAN sockets on this bind.
    Vxlan(SocketAddr),
}

/// The sockets of one key.
#[derive(Debug)]
enum Sockets {
    Gre(Arc<GreSocket>),
    /// A WireGuard bind's `SO_REUSEPORT` group; the first also sends (all
    /// have the bind's port).
    WireGuard(Vec<Arc<UdpSocket>>),
    Vxlan(VxlanSockets),
}

impl Sockets {
    /// The sockets with a receive thread each, with the thread's place in
    /// the group and its label for `vcpectl stats`.
    fn receivers(&self, key: SocketKey) -> Vec<TunnelSocket> {
        let group = |kind: &str, rx: &[Arc<UdpSocket>]| -> Vec<TunnelSocket> {
            // The bound port, for a `:0` bind.
            let at = rx
                .first()
                .and_then(|s| s.local_addr().ok())
                .map_or_else(String::new, |a| a.to_string());
            rx.iter()
                .enumerate()
                .map(|(index, s)| TunnelSocket {
                    socket: UnderlaySocket::Udp(Arc::clone(s)),
                    peers: Vec::new(),
                    group: RxGroup {
                        index,
                        size: rx.len(),
                    },
                    label: format!("{kind} {at}"),
                })
                .collect()
        };
        match self {
            Sockets::Gre(s) => vec![TunnelSocket {
                socket: UnderlaySocket::Gre(Arc::clone(s)),
                peers: Vec::new(),
                group: RxGroup::ALONE,
                label: match key {
                    SocketKey::Gre(local) => format!("gre {local}"),
                    _ => "gre".to_owned(),
                },
            }],
            Sockets::WireGuard(rx) => group("wireguard", rx),
            Sockets::Vxlan(g) => group("vxlan", &g.rx),
        }
    }
}

/// One open key: its sockets, the peers attached, the receive threads.
#[derive(Debug)]
struct Entry {
    sockets: Sockets,
    peers: Vec<u32>,
    threads: Vec<SocketId>,
}

/// A peer built from its config: ready for the dataplane.
#[derive(Debug)]
pub struct Built {
    /// The peer.
    pub peer: Arc<TunnelPeer>,
    /// Its inner MTU.
    pub mtu: u16,
    /// Its socket.
    pub key: SocketKey,
}

/// The open underlay sockets, by key.
#[derive(Debug, Default)]
pub struct Underlay {
    entries: BTreeMap<SocketKey, Entry>,
    /// Where each attached tunnel is.
    attached: BTreeMap<TunnelId, SocketKey>,
}

impl Underlay {
    /// Builds tunnel `id`'s peer from `p`, opening its socket unless one
    /// of its key is open already. Nothing running changes: until
    /// [`Underlay::attach`], a socket opened here has no thread and
    /// [`Underlay::discard_unused`] closes it. `own` are the router's
    /// inner addresses (ICMP error sources); `workers` the dataplane's
    /// thread count (a VXLAN bind gets that many receive sockets).
    pub fn build(
        &mut self,
        p: &Peer,
        id: TunnelId,
        own: (Option<Ipv4Addr>, Option<Ipv6Addr>),
        workers: usize,
    ) -> anyhow::Result<Built> {
        let key = key_of(p);
        let entry = match self.entries.entry(key) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(v) => {
                let sockets = open(key, workers).with_context(|| match key {
                SocketKey::Gre(local) => format!(
                    "peer {}: opening a raw GRE socket on {local} (needs root or CAP_NET_RAW)",
                    p.name
                ),
                SocketKey::WireGuard(bind) => format!(
                    "peer {}: binding the WireGuard UDP sockets on {bind} (is that address on this machine and the port free?)",
                    p.name
                ),
                SocketKey::Vxlan(bind) => format!(
                    "peer {}: binding the VXLAN UDP sockets on {bind} (is another VXLAN endpoint, such as a kernel vxlan device, using that port?)",
                    p.name
                ),
            })?;
                v.insert(Entry {
                    sockets,
                    peers: Vec::new(),
                    threads: Vec::new(),
                })
            }
        };
        let (encap, overhead) = encap(p, &entry.sockets)?;
        let mtu = p.mtu.unwrap_or(UNDERLAY_MTU.saturating_sub(overhead));
        let peer = Arc::new(TunnelPeer {
            name: p.name.clone(),
            ingress: Ingress {
                port: vcpe_forwarding::counters::Port::Tunnel(id.raw()),
                v4: own.0,
                v6: own.1,
            },
            allowed: arc_swap::ArcSwap::from_pointee(p.allowed_prefixes.clone()),
            encap,
            stats: TunnelStats::default(),
            epoch: Instant::now(),
        });
        Ok(Built { peer, mtu, key })
    }

    /// Closes the sockets [`Underlay::build`] opened for peers that were
    /// then not attached (a reload that failed half-way).
    pub fn discard_unused(&mut self) {
        self.entries.retain(|_, e| !e.peers.is_empty());
    }

    /// Puts tunnel `id` behind the socket of `key` (opened by
    /// [`Underlay::build`]): its receive thread starts if it is the first
    /// peer there, else learns the new peer list. A tunnel that was
    /// behind another socket leaves that one afterwards (closed if it was
    /// its last peer); behind the same one, nothing changes (the receive
    /// thread finds the replaced peer in the tunnel table).
    pub fn attach(
        &mut self,
        dp: &mut Dataplane,
        id: TunnelId,
        key: SocketKey,
    ) -> anyhow::Result<()> {
        let old = self.attached.get(&id).copied();
        if old == Some(key) {
            return Ok(());
        }
        let Some(e) = self.entries.get_mut(&key) else {
            anyhow::bail!("no open socket for {key:?}");
        };
        e.peers.push(id.raw());
        if e.threads.is_empty() {
            for socket in e.sockets.receivers(key) {
                match dp.start_socket(TunnelSocket {
                    peers: e.peers.clone(),
                    ..socket
                }) {
                    Ok(t) => e.threads.push(t),
                    Err(err) => {
                        e.peers.retain(|&p| p != id.raw());
                        for t in std::mem::take(&mut e.threads) {
                            dp.stop_socket(t);
                        }
                        return Err(err.into());
                    }
                }
            }
        } else {
            for &t in &e.threads {
                dp.set_socket_peers(t, e.peers.clone());
            }
        }
        self.attached.insert(id, key);
        if let Some(old) = old {
            self.leave(dp, id, old);
        }
        Ok(())
    }

    /// Takes tunnel `id` from its socket; the last peer of a socket stops
    /// its receive threads and closes it.
    pub fn detach(&mut self, dp: &mut Dataplane, id: TunnelId) {
        if let Some(key) = self.attached.remove(&id) {
            self.leave(dp, id, key);
        }
    }

    /// Tunnel `id` leaves the socket of `key`.
    fn leave(&mut self, dp: &mut Dataplane, id: TunnelId, key: SocketKey) {
        let Some(e) = self.entries.get_mut(&key) else {
            return;
        };
        e.peers.retain(|&p| p != id.raw());
        if e.peers.is_empty() {
            for t in std::mem::take(&mut e.threads) {
                dp.stop_socket(t);
            }
            self.entries.remove(&key);
        } else {
            for &t in &e.threads {
                dp.set_socket_peers(t, e.peers.clone());
            }
        }
    }

    /// Number of open keys (sockets or VXLAN groups).
    pub fn open_sockets(&self) -> usize {
        self.entries.len()
    }
}

/// The socket key of a peer.
pub fn key_of(p: &Peer) -> SocketKey {
    match &p.encapsulation {
        Encapsulation::Gre { .. } => SocketKey::Gre(
            p.bind
                .map_or_else(|| unspecified(p.endpoint.ip()), |b| b.ip()),
        ),
        Encapsulation::WireGuard { .. } => SocketKey::WireGuard(
            p.bind
                .unwrap_or_else(|| SocketAddr::new(unspecified(p.endpoint.ip()), 0)),
        ),
        // A kernel VTEP sends to the port it was told (4789 by default):
        // listen on the endpoint's port unless told.
        Encapsulation::Vxlan { .. } => {
            SocketKey::Vxlan(p.bind.unwrap_or_else(|| {
                SocketAddr::new(unspecified(p.endpoint.ip()), p.endpoint.port())
            }))
        }
    }
}

/// Opens the sockets of `key`.
fn open(key: SocketKey, workers: usize) -> std::io::Result<Sockets> {
    Ok(match key {
        SocketKey::Gre(local) => Sockets::Gre(Arc::new(GreSocket::bind_with(
            local,
            GreSocketOptions {
                nonblocking: true,
                ..GreSocketOptions::default()
            },
        )?)),
        SocketKey::WireGuard(bind) => Sockets::WireGuard(reuseport_group(bind, workers)?),
        SocketKey::Vxlan(bind) => Sockets::Vxlan(VxlanSockets::open(bind, workers)?),
    })
}

/// A peer's encapsulation on `sockets` (of its key) and its overhead.
fn encap(p: &Peer, sockets: &Sockets) -> anyhow::Result<(Encap, u16)> {
    Ok(match (&p.encapsulation, sockets) {
        (Encapsulation::Gre { key }, Sockets::Gre(socket)) => (
            Encap::Gre {
                key: *key,
                socket: Arc::clone(socket),
                remote: p.endpoint.ip(),
            },
            gre_overhead(p.endpoint.ip(), key.is_some()),
        ),
        (
            Encapsulation::WireGuard {
                private_key,
                public_key,
                preshared_key,
                keepalive,
            },
            Sockets::WireGuard(group),
        ) => {
            let Some(socket) = group.first() else {
                anyhow::bail!("peer {}: its WireGuard bind has no socket", p.name);
            };
            let wg = WgPeer::new(WgConfig {
                private_key: *private_key.key(),
                peer_public_key: public_key.0,
                preshared_key: preshared_key.as_ref().map(|k| *k.key()),
                persistent_keepalive: *keepalive,
            });
            // The socket's family: the endpoint's, or the bind's for a
            // hostname or learned endpoint (as the config counts it).
            let overhead = match vcpe_config::mtu::overhead(p) {
                Some(o) => usize::from(o),
                None => wireguard::OVERHEAD_V6,
            };
            (
                Encap::WireGuard {
                    peer: Mutex::new(wg),
                    socket: Arc::clone(socket),
                    // A hostname is set by `crate::resolve`; no endpoint:
                    // learned from the peer's first authenticated packet.
                    roaming: Roaming::new(p.fixed_endpoint()),
                    keys: arc_swap::ArcSwap::from_pointee(WgKeys::new(
                        *private_key.key(),
                        public_key.0,
                    )),
                },
                overhead as u16,
            )
        }
        (Encapsulation::Vxlan { vni }, Sockets::Vxlan(group)) => {
            // Our MAC on the segment, seeded by what this end alone sees
            // as the peer (the other end seeds with our address).
            let seed = format!("{}/{vni}", p.endpoint.ip());
            (
                Encap::Vxlan(VxlanPeer::new(
                    *vni,
                    Arc::clone(&group.rx[0]),
                    Arc::clone(&group.tx),
                    p.endpoint,
                    seed.as_bytes(),
                )),
                vxlan_overhead(p.endpoint.ip()),
            )
        }
        // `key_of` gives each encapsulation its own kind of key.
        _ => anyhow::bail!("peer {}: its socket is of another kind", p.name),
    })
}

fn unspecified(like: IpAddr) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

/// The sockets of one VXLAN bind address.
#[derive(Debug)]
struct VxlanSockets {
    /// Receive sockets in one `SO_REUSEPORT` group: the kernel spreads
    /// flows (by the sender's source port) over them and their threads.
    rx: Vec<Arc<UdpSocket>>,
    /// Send sockets on distinct ephemeral ports (the per-flow source port).
    tx: Arc<[UdpSocket]>,
}

impl VxlanSockets {
    fn open(bind: SocketAddr, workers: usize) -> std::io::Result<VxlanSockets> {
        let workers = workers.max(1);
        let rx = reuseport_group(bind, workers)?;
        let local = SocketAddr::new(bind.ip(), 0);
        let tx: Result<Vec<UdpSocket>, _> = (0..workers * 4).map(|_| udp_socket(local)).collect();
        Ok(VxlanSockets { rx, tx: tx?.into() })
    }
}

/// `n` (at least one) UDP sockets on `bind`, as [`udp_socket`], in one
/// `SO_REUSEPORT` group: the kernel hands each datagram to one of them by
/// a hash of its addresses and ports, so one sender stays on one socket.
/// A plain bind comes first and is closed again: a port in use (by
/// another program, or another vcped's group, which the group would
/// otherwise join silently and share its datagrams with) fails here as it
/// would without the group, and a `:0` bind gets its port from it.
fn reuseport_group(bind: SocketAddr, n: usize) -> std::io::Result<Vec<Arc<UdpSocket>>> {
    let bind = UdpSocket::bind(bind)?.local_addr()?;
    (0..n.max(1))
        .map(|_| reuseport_udp_socket(bind).map(Arc::new))
        .collect()
}

/// As [`udp_socket`], in an `SO_REUSEPORT` group on `bind`.
fn reuseport_udp_socket(bind: SocketAddr) -> std::io::Result<UdpSocket> {
    let domain = socket2::Domain::for_address(bind);
    let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    s.set_reuse_port(true)?;
    if bind.is_ipv6() {
        s.set_only_v6(false)?;
    }
    s.bind(&bind.into())?;
    let s: UdpSocket = s.into();
    tune_udp_socket(s)
}

/// A non-blocking UDP socket on `bind` with big buffers (a burst of
/// datagrams must not overflow the default 200 KiB).
fn udp_socket(bind: SocketAddr) -> std::io::Result<UdpSocket> {
    tune_udp_socket(UdpSocket::bind(bind)?)
}

/// Non-blocking, with 4 MiB buffers where allowed.
fn tune_udp_socket(s: UdpSocket) -> std::io::Result<UdpSocket> {
    s.set_nonblocking(true)?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&s);
    let size: libc::c_int = 4 << 20;
    for opt in [libc::SO_RCVBUFFORCE, libc::SO_SNDBUFFORCE] {
        // SAFETY: a valid socket fd and a c_int option value of the right
        // size; failure (no CAP_NET_ADMIN) leaves the default buffers.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
    Ok(s)
}

/// Bytes a peer's encapsulation adds to each inner packet, as
/// [`Underlay::build`] counts them. The arithmetic lives in [`vcpe_config::mtu`], which
/// `vcpectl doctor` shares.
pub fn overhead(p: &Peer) -> Option<u16> {
    vcpe_config::mtu::overhead(p)
}

/// The inner MTU of a peer's tunnel, as [`Underlay::build`] sets it: its `mtu`, or
/// [`UNDERLAY_MTU`] minus the overhead.
pub fn tunnel_mtu(p: &Peer) -> u16 {
    vcpe_config::mtu::tunnel_mtu(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vcpe_forwarding::tunnel::vxlan;

    #[test]
    fn the_config_counts_the_vxlan_overhead_the_dataplane_adds() {
        assert_eq!(
            usize::from(vcpe_config::mtu::VXLAN_OVERHEAD_V4),
            vxlan::OVERHEAD_V4
        );
        assert_eq!(
            usize::from(vcpe_config::mtu::VXLAN_OVERHEAD_V6),
            vxlan::OVERHEAD_V6
        );
    }

    #[test]
    fn the_config_counts_the_wireguard_overhead_the_dataplane_adds() {
        assert_eq!(
            usize::from(vcpe_config::mtu::WIREGUARD_OVERHEAD_V4),
            wireguard::OVERHEAD_V4
        );
        assert_eq!(
            usize::from(vcpe_config::mtu::WIREGUARD_OVERHEAD_V6),
            wireguard::OVERHEAD_V6
        );
    }
}
