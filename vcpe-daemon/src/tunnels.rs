//! Config `[[peer]]` sections → the dataplane's tunnel peers and underlay
//! sockets: one raw GRE socket per local address family, one UDP socket per
//! WireGuard bind address (peers that name the same bind share it), and
//! the tunnel MTU. The routes into tunnels are [`crate::routing`]'s.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use vcpe_config::mtu::{gre_overhead, vxlan_overhead};
use vcpe_config::{Config, Encapsulation, Peer};
use vcpe_forwarding::counters::Port;
use vcpe_forwarding::dataplane::{TunnelSocket, UnderlaySocket};
use vcpe_forwarding::pipeline::Ingress;
use vcpe_forwarding::tunnel::gre_socket::{GreSocket, GreSocketOptions};
use vcpe_forwarding::tunnel::peer::{Encap, TunnelPeer, TunnelStats, VxlanPeer, WgKeys};
use vcpe_forwarding::tunnel::roaming::Roaming;
use vcpe_forwarding::tunnel::wireguard::{self, WgConfig, WgPeer};

/// Underlay MTU assumed when a peer sets no `mtu`.
pub use vcpe_config::mtu::UNDERLAY_MTU;

/// The tunnels of a config, ready for the dataplane.
#[derive(Debug)]
pub struct Tunnels {
    /// Peers by tunnel id (the config order).
    pub peers: Vec<Arc<TunnelPeer>>,
    /// Underlay sockets with their peers.
    pub sockets: Vec<TunnelSocket>,
    /// Inner MTU of each tunnel, by id.
    pub mtus: Vec<u16>,
}

/// Opens the underlay sockets and builds every peer of `config`.
/// `own` are the router's inner addresses (ICMP error sources); `workers`
/// the dataplane's thread count: a VXLAN port gets that many receive
/// sockets (`SO_REUSEPORT`, one receive thread each) and four source
/// sockets per worker for per-flow source ports.
pub fn build(
    config: &Config,
    own: (Option<Ipv4Addr>, Option<Ipv6Addr>),
    workers: usize,
) -> anyhow::Result<Tunnels> {
    let mut vxlan_sockets: BTreeMap<SocketAddr, VxlanSockets> = BTreeMap::new();
    let mut gre_sockets: BTreeMap<IpAddr, (Arc<GreSocket>, Vec<u32>)> = BTreeMap::new();
    let mut udp_sockets: BTreeMap<SocketAddr, (Arc<UdpSocket>, Vec<u32>)> = BTreeMap::new();
    let mut peers = Vec::new();
    let mut mtus = Vec::new();
    let epoch = Instant::now();
    for (i, p) in config.peers.iter().enumerate() {
        let id = i as u32;
        let (encap, overhead) = match &p.encapsulation {
            Encapsulation::Gre { key } => {
                let local = p
                    .bind
                    .map_or_else(|| unspecified(p.endpoint.ip()), |b| b.ip());
                let socket = match gre_sockets.get_mut(&local) {
                    Some((s, ids)) => {
                        ids.push(id);
                        Arc::clone(s)
                    }
                    None => {
                        let s = Arc::new(
                            GreSocket::bind_with(
                                local,
                                GreSocketOptions {
                                    nonblocking: true,
                                    ..GreSocketOptions::default()
                                },
                            )
                            .with_context(|| {
                                format!(
                                    "peer {}: opening a raw GRE socket on {local} (needs root or CAP_NET_RAW)",
                                    p.name
                                )
                            })?,
                        );
                        gre_sockets.insert(local, (Arc::clone(&s), vec![id]));
                        s
                    }
                };
                (
                    Encap::Gre {
                        key: *key,
                        socket,
                        remote: p.endpoint.ip(),
                    },
                    gre_overhead(p.endpoint.ip(), key.is_some()),
                )
            }
            Encapsulation::WireGuard {
                private_key,
                public_key,
                preshared_key,
                keepalive,
            } => {
                let bind = p
                    .bind
                    .unwrap_or_else(|| SocketAddr::new(unspecified(p.endpoint.ip()), 0));
                let socket = match udp_sockets.get_mut(&bind) {
                    Some((s, ids)) => {
                        ids.push(id);
                        Arc::clone(s)
                    }
                    None => {
                        let s = udp_socket(bind).with_context(|| {
                            format!(
                                "peer {}: binding the WireGuard UDP socket on {bind}",
                                p.name
                            )
                        })?;
                        let s = Arc::new(s);
                        udp_sockets.insert(bind, (Arc::clone(&s), vec![id]));
                        s
                    }
                };
                let wg = WgPeer::new(WgConfig {
                    private_key: *private_key.key(),
                    peer_public_key: public_key.0,
                    preshared_key: preshared_key.as_ref().map(|k| *k.key()),
                    persistent_keepalive: *keepalive,
                });
                // The socket's family: the endpoint's, or the bind's for
                // a hostname or learned endpoint (as the config counts it).
                let overhead = match vcpe_config::mtu::overhead(p) {
                    Some(o) => usize::from(o),
                    None => wireguard::OVERHEAD_V6,
                };
                (
                    Encap::WireGuard {
                        peer: Mutex::new(wg),
                        socket,
                        // A hostname is set by `crate::resolve`; no
                        // endpoint: learned from the peer's first
                        // authenticated packet.
                        roaming: Roaming::new(p.fixed_endpoint()),
                        keys: arc_swap::ArcSwap::from_pointee(WgKeys::new(
                            *private_key.key(),
                            public_key.0,
                        )),
                    },
                    overhead as u16,
                )
            }
            Encapsulation::Vxlan { vni } => {
                // A kernel VTEP sends to the port it was told (4789 by
                // default): listen on the endpoint's port unless told.
                let bind = p.bind.unwrap_or_else(|| {
                    SocketAddr::new(unspecified(p.endpoint.ip()), p.endpoint.port())
                });
                let group = match vxlan_sockets.get_mut(&bind) {
                    Some(g) => {
                        g.ids.push(id);
                        g
                    }
                    None => {
                        let g = VxlanSockets::open(bind, workers).with_context(|| {
                            format!(
                                "peer {}: binding the VXLAN UDP sockets on {bind} (is another VXLAN endpoint, such as a kernel vxlan device, using that port?)",
                                p.name
                            )
                        })?;
                        vxlan_sockets
                            .entry(bind)
                            .or_insert(VxlanSockets { ids: vec![id], ..g })
                    }
                };
                let socket = Arc::clone(&group.rx[0]);
                let tx = Arc::clone(&group.tx);
                // Our MAC on the segment, seeded by what this end alone
                // sees as the peer (the other end seeds with our address).
                let seed = format!("{}/{vni}", p.endpoint.ip());
                (
                    Encap::Vxlan(VxlanPeer::new(
                        *vni,
                        socket,
                        tx,
                        p.endpoint,
                        seed.as_bytes(),
                    )),
                    vxlan_overhead(p.endpoint.ip()),
                )
            }
        };
        let mtu = p.mtu.unwrap_or(UNDERLAY_MTU.saturating_sub(overhead));
        mtus.push(mtu);
        peers.push(Arc::new(TunnelPeer {
            name: p.name.clone(),
            ingress: Ingress {
                port: Port::Tunnel(id),
                v4: own.0,
                v6: own.1,
            },
            allowed: arc_swap::ArcSwap::from_pointee(p.allowed_prefixes.clone()),
            encap,
            stats: TunnelStats::default(),
            epoch,
        }));
    }
    let mut sockets = Vec::new();
    for (_, (s, ids)) in gre_sockets {
        sockets.push(TunnelSocket {
            socket: UnderlaySocket::Gre(s),
            peers: ids,
        });
    }
    for (_, (s, ids)) in udp_sockets {
        sockets.push(TunnelSocket {
            socket: UnderlaySocket::Udp(s),
            peers: ids,
        });
    }
    for (_, g) in vxlan_sockets {
        for s in g.rx {
            sockets.push(TunnelSocket {
                socket: UnderlaySocket::Udp(s),
                peers: g.ids.clone(),
            });
        }
    }
    Ok(Tunnels {
        peers,
        sockets,
        mtus,
    })
}

fn unspecified(like: IpAddr) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

/// The sockets of one VXLAN bind address.
struct VxlanSockets {
    /// Receive sockets in one `SO_REUSEPORT` group: the kernel spreads
    /// flows (by the sender's source port) over them and their threads.
    rx: Vec<Arc<UdpSocket>>,
    /// Send sockets on distinct ephemeral ports (the per-flow source port).
    tx: Arc<[UdpSocket]>,
    /// Tunnel ids of the peers on this bind.
    ids: Vec<u32>,
}

impl VxlanSockets {
    fn open(bind: SocketAddr, workers: usize) -> std::io::Result<VxlanSockets> {
        let workers = workers.max(1);
        let mut rx = Vec::with_capacity(workers);
        for _ in 0..workers {
            rx.push(Arc::new(reuseport_udp_socket(bind)?));
        }
        let local = SocketAddr::new(bind.ip(), 0);
        let tx: Result<Vec<UdpSocket>, _> = (0..workers * 4).map(|_| udp_socket(local)).collect();
        Ok(VxlanSockets {
            rx,
            tx: tx?.into(),
            ids: Vec::new(),
        })
    }
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

/// Bytes a peer's encapsulation adds to each inner packet, as [`build`]
/// counts them. The arithmetic lives in [`vcpe_config::mtu`], which
/// `vcpectl doctor` shares.
pub fn overhead(p: &Peer) -> Option<u16> {
    vcpe_config::mtu::overhead(p)
}

/// The inner MTU of a peer's tunnel, as [`build`] sets it: its `mtu`, or
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
