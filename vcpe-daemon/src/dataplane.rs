//! The forwarding plane the daemon runs: the TUN devices of the config,
//! its tunnel peers and their underlay sockets ([`crate::tunnels`]), and
//! the worker threads, which read the FIB's snapshots. What the FIB holds
//! is [`crate::routing`]'s.
//!
//! Interfaces and peers come and go while it runs (a reload): a TUN is
//! created and configured first ([`create_port`], which can fail and
//! changes nothing running), then handed to the workers
//! ([`Dataplane::add_interface`]); a peer is built first
//! ([`Dataplane::build_peer`]), then put in the tunnel table and behind
//! its socket ([`Dataplane::add_peer`]). Removals take them out again.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ipnet::IpNet;
use tracing::info;
use vcpe_config::{Config, Interface, Peer};
use vcpe_forwarding::counters::{Port, PortStats};
use vcpe_forwarding::dataplane::{Dataplane as Workers, DataplaneSpec, PortSpec};
use vcpe_forwarding::fib::Fib;
use vcpe_forwarding::pipeline::{EgressMtus, ForwardConfig, Ingress};
use vcpe_forwarding::tun::{Tun, TunConfig};
use vcpe_forwarding::tunnel::peer::TunnelPeer;

use crate::link::configure_link;
use crate::topology::{InterfaceId, Topology, TunnelId};
use crate::tunnels::{Built, Underlay};

/// The running forwarding plane: devices, tunnels, workers.
pub struct Dataplane {
    workers: Workers,
    /// Interface names, by id.
    interfaces: BTreeMap<InterfaceId, String>,
    /// Tunnel peers, by tunnel id (their state and counters, for `vcpectl`).
    tunnels: BTreeMap<TunnelId, Arc<TunnelPeer>>,
    /// The underlay sockets and who uses them.
    underlay: Underlay,
}

impl std::fmt::Debug for Dataplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataplane")
            .field("interfaces", &self.interfaces)
            .field("workers", &self.workers.workers())
            .finish_non_exhaustive()
    }
}

/// Number of worker threads for a `[forwarding] workers` value (0 = one
/// per core).
pub fn worker_count(configured: u16) -> usize {
    match configured {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => usize::from(n),
    }
}

/// What the forwarding plane counted, read at one instant (summed over the
/// workers). The control API turns it into its `stats` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Number of worker threads.
    pub workers: usize,
    /// Per TUN interface, by id (config order at start).
    pub interfaces: Vec<InterfaceSnapshot>,
    /// Per tunnel peer, by id (config order at start).
    pub tunnels: Vec<TunnelSnapshot>,
    /// Dropped packets by reason.
    pub drops: Vec<(&'static str, u64)>,
    /// Other dataplane events.
    pub events: Vec<(&'static str, u64)>,
    /// The tunnel receive threads, in the order they started.
    pub receive_threads: Vec<vcpe_forwarding::dataplane::RxThreadSnapshot>,
    /// The WireGuard handshake thread.
    pub handshakes: vcpe_forwarding::dataplane::HandshakeSnapshot,
}

/// The counters of one TUN interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceSnapshot {
    /// Interface name.
    pub name: String,
    /// Its packets and bytes.
    pub counters: PortStats,
}

/// The counters of one tunnel peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelSnapshot {
    /// Peer name.
    pub name: String,
    /// "wireguard" or "gre".
    pub encapsulation: &'static str,
    /// Underlay endpoint.
    pub endpoint: String,
    /// Inner packets sent into the tunnel.
    pub tx_packets: u64,
    /// Inner bytes sent.
    pub tx_bytes: u64,
    /// Inner packets received and accepted.
    pub rx_packets: u64,
    /// Inner bytes received and accepted.
    pub rx_bytes: u64,
    /// Received packets dropped: inner source not allowed for this peer.
    pub rx_spoofed: u64,
    /// Received datagrams that did not decapsulate.
    pub rx_errors: u64,
    /// Failed sends.
    pub tx_errors: u64,
    /// Time since the last accepted packet (`None`: never).
    pub last_rx: Option<Duration>,
}

/// A tunnel peer's counters now.
fn tunnel_snapshot(t: &TunnelPeer) -> TunnelSnapshot {
    use std::sync::atomic::Ordering::Relaxed;
    use vcpe_forwarding::tunnel::peer::Encap;
    let s = &t.stats;
    let (encapsulation, endpoint) = match &t.encap {
        Encap::Gre { remote, .. } => ("gre", remote.to_string()),
        Encap::WireGuard { roaming, .. } => (
            "wireguard",
            roaming
                .endpoint()
                .map_or_else(|| "none".to_owned(), |r| r.to_string()),
        ),
        Encap::Vxlan(v) => ("vxlan", v.remote.to_string()),
    };
    let last = s.last_rx_ms.load(Relaxed);
    let now = u64::try_from(t.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
    TunnelSnapshot {
        name: t.name.clone(),
        encapsulation,
        endpoint,
        tx_packets: s.tx_packets.load(Relaxed),
        tx_bytes: s.tx_bytes.load(Relaxed),
        rx_packets: s.rx_packets.load(Relaxed),
        rx_bytes: s.rx_bytes.load(Relaxed),
        rx_spoofed: s.rx_spoofed.load(Relaxed),
        rx_errors: s.rx_errors.load(Relaxed),
        tx_errors: s.tx_errors.load(Relaxed),
        last_rx: (last > 0).then(|| Duration::from_millis(now.saturating_sub(last))),
    }
}

/// Lets the kernel accept packets from the TUN whose source is one of its
/// own addresses: vcped sends its ICMP errors (Time Exceeded, Frag Needed
/// for a tunnel's MTU, ...) from the TUN's address, which is also the
/// kernel's, and without `accept_local` the kernel drops them as martians
/// and `ping`/`tracepath` on the hosts never see them.
fn accept_local(tun: &str) {
    let path = format!("/proc/sys/net/ipv4/conf/{tun}/accept_local");
    if let Err(e) = std::fs::write(&path, "1") {
        tracing::warn!(interface = tun, error = %e,
            "cannot set accept_local; ICMP errors from vcped will not reach local hosts (set sysctl net.ipv4.conf.{tun}.accept_local=1)");
    }
}

/// The router's own addresses on an interface, used as ICMP error sources:
/// the first IPv4 address and the first global (non link-local) IPv6 one.
fn own_addresses(addrs: &[IpNet]) -> (Option<Ipv4Addr>, Option<Ipv6Addr>) {
    let v4 = addrs.iter().find_map(|a| match a.addr() {
        IpAddr::V4(v) => Some(v),
        IpAddr::V6(_) => None,
    });
    let v6 = addrs.iter().find_map(|a| match a.addr() {
        IpAddr::V6(v) if !v.is_unicast_link_local() => Some(v),
        _ => None,
    });
    (v4, v6)
}

/// A TUN interface for `iface`, created and configured (MTU, addresses,
/// `accept_local`) as interface `id`, with `workers` queues: ready for
/// [`Dataplane::add_interface`]. Dropping it removes the device.
pub async fn create_port(
    iface: &Interface,
    id: InterfaceId,
    workers: usize,
) -> anyhow::Result<PortSpec> {
    let tun = Tun::create(&TunConfig {
        name: iface.name.clone(),
        queues: workers,
        offload: true,
    })
    .with_context(|| format!("creating TUN interface {}", iface.name))?;
    configure_link(tun.ifindex(), iface.mtu, &iface.addresses)
        .await
        .with_context(|| format!("configuring interface {}", iface.name))?;
    accept_local(&iface.name);
    let (v4, v6) = own_addresses(&iface.addresses);
    info!(
        interface = %iface.name,
        ifindex = tun.ifindex(),
        mtu = iface.mtu,
        queues = workers,
        offloads = ?tun.offloads(),
        "TUN interface up"
    );
    let offload = tun.offloads().csum;
    let uso = tun.offloads().uso4 && tun.offloads().uso6;
    Ok(PortSpec {
        ingress: Ingress {
            port: id.port(),
            v4,
            v6,
        },
        queues: tun.into_queues(),
        offload,
        uso,
    })
}

/// The router's first inner addresses over all interfaces of `config`:
/// the source of ICMP errors sent back into a tunnel.
pub fn tunnel_icmp_sources(config: &Config) -> (Option<Ipv4Addr>, Option<Ipv6Addr>) {
    config
        .interfaces
        .iter()
        .map(|i| own_addresses(&i.addresses))
        .fold((None, None), |acc, (v4, v6)| (acc.0.or(v4), acc.1.or(v6)))
}

impl Dataplane {
    /// Creates the TUN devices and tunnel peers of `config` (numbered by
    /// `topology`) and starts the workers on `fib` (loaded with the
    /// config's routes already, see [`crate::routing::Routing::new`]).
    pub async fn start(
        config: &Config,
        fib: Fib,
        topology: &Topology,
    ) -> anyhow::Result<Dataplane> {
        let workers = worker_count(config.forwarding.workers);
        let mut ports = Vec::with_capacity(config.interfaces.len());
        let mut mtus = EgressMtus::default();
        let mut interfaces = BTreeMap::new();
        for iface in &config.interfaces {
            let id = topology
                .interface(&iface.name)
                .with_context(|| format!("interface {} has no id", iface.name))?;
            ports.push(create_port(iface, id, workers).await?);
            let i = id.raw() as usize;
            if mtus.interfaces.len() <= i {
                mtus.interfaces.resize(i + 1, 0);
            }
            mtus.interfaces[i] = iface.mtu;
            interfaces.insert(id, iface.name.clone());
        }
        // Counters for every tunnel id of the config, at least (the
        // peers themselves are added below, as a reload adds them).
        mtus.tunnels = vec![0; config.peers.len()];
        let workers_spawned = Workers::start(
            DataplaneSpec {
                ports,
                mtus,
                config: ForwardConfig {
                    mss_clamp: config.forwarding.mss_clamp,
                },
                icmp_rate_per_sec: config.forwarding.icmp_rate_limit,
                workers,
                pin: true,
                tunnels: Vec::new(),
                tunnel_sockets: Vec::new(),
            },
            fib,
        )?;
        let mut dp = Dataplane {
            workers: workers_spawned,
            interfaces,
            tunnels: BTreeMap::new(),
            underlay: Underlay::default(),
        };
        let own = tunnel_icmp_sources(config);
        for p in &config.peers {
            let id = topology
                .tunnel(&p.name)
                .with_context(|| format!("peer {} has no id", p.name))?;
            let built = dp.build_peer(p, id, own)?;
            dp.add_peer(id, built)?;
        }
        info!(workers, "dataplane started");
        Ok(dp)
    }

    /// Builds tunnel `id`'s peer from `p` (its socket opened or shared):
    /// nothing running changes yet. `own`: [`tunnel_icmp_sources`].
    pub fn build_peer(
        &mut self,
        p: &Peer,
        id: TunnelId,
        own: (Option<Ipv4Addr>, Option<Ipv6Addr>),
    ) -> anyhow::Result<Built> {
        let workers = self.workers.workers();
        self.underlay.build(p, id, own, workers)
    }

    /// Closes sockets built for peers that were not added (a reload that
    /// failed before it changed anything).
    pub fn discard_unused(&mut self) {
        self.underlay.discard_unused();
    }

    /// Runs `built` as tunnel `id`: a new tunnel, or a changed peer that
    /// replaces the one running under that id (its socket changes if its
    /// key did). The other tunnels are not touched.
    pub fn add_peer(&mut self, id: TunnelId, built: Built) -> anyhow::Result<()> {
        self.workers
            .set_tunnel(id.raw(), Arc::clone(&built.peer), built.mtu)?;
        if let Err(e) = self.underlay.attach(&mut self.workers, id, built.key) {
            self.workers.remove_tunnel(id.raw());
            return Err(e);
        }
        info!(peer = %built.peer.name, tunnel = id.raw(), mtu = built.mtu,
            allowed = ?built.peer.allowed.load(), "tunnel peer configured");
        self.tunnels.insert(id, built.peer);
        Ok(())
    }

    /// Stops tunnel `id`: out of the table (stale routes into it drop as
    /// `no_egress`), off its socket (closed with its last peer).
    pub fn remove_peer(&mut self, id: TunnelId) {
        self.workers.remove_tunnel(id.raw());
        self.underlay.detach(&mut self.workers, id);
        if let Some(p) = self.tunnels.remove(&id) {
            info!(peer = %p.name, tunnel = id.raw(), "tunnel peer removed");
        }
    }

    /// Zeroes tunnel `id`'s counters (an id used before, for a new peer).
    pub fn reset_tunnel_counters(&self, id: TunnelId) {
        self.workers.reset_tunnel_counters(id.raw());
    }

    /// Hands a TUN made by [`create_port`] to the workers as interface
    /// `name` with MTU `mtu`.
    pub fn add_interface(&mut self, name: &str, port: PortSpec, mtu: u16) -> anyhow::Result<()> {
        let Port::Interface(i) = port.ingress.port else {
            anyhow::bail!("interface {name}: not an interface port");
        };
        self.workers.add_port(port, mtu)?;
        self.interfaces
            .insert(InterfaceId::from_index(i as usize), name.to_owned());
        Ok(())
    }

    /// Interface `id`'s MTU and addresses (ICMP error sources) changed by a
    /// reload (its TUN was reconfigured already).
    pub fn change_interface(&self, id: InterfaceId, iface: &Interface) -> anyhow::Result<()> {
        let (v4, v6) = own_addresses(&iface.addresses);
        self.workers.set_port(
            Ingress {
                port: id.port(),
                v4,
                v6,
            },
            iface.mtu,
        )?;
        Ok(())
    }

    /// Takes interface `id` from the workers; its TUN device goes with
    /// the last queue.
    pub fn remove_interface(&mut self, id: InterfaceId) {
        self.workers.remove_port(id.raw());
        if let Some(name) = self.interfaces.remove(&id) {
            info!(interface = %name, "TUN interface removed");
        }
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.workers.workers()
    }

    /// The counters now (`vcpectl stats`).
    pub fn stats(&self) -> StatsSnapshot {
        let snap = self.workers.counters().snapshot();
        StatsSnapshot {
            workers: self.workers.workers(),
            interfaces: self
                .interfaces
                .iter()
                .map(|(id, name)| InterfaceSnapshot {
                    name: name.clone(),
                    counters: snap.port(id.port()),
                })
                .collect(),
            tunnels: self.tunnels.values().map(|t| tunnel_snapshot(t)).collect(),
            drops: snap.named_drops().collect(),
            events: snap.named_events().collect(),
            receive_threads: self.workers.receive_threads(),
            handshakes: self.workers.handshakes(),
        }
    }

    /// The WireGuard handshake thread's counts and load.
    pub fn handshakes(&self) -> vcpe_forwarding::dataplane::HandshakeSnapshot {
        self.workers.handshakes()
    }

    /// The tunnel peers, by tunnel id.
    pub fn tunnel_peers(&self) -> Vec<Arc<TunnelPeer>> {
        self.tunnels.values().cloned().collect()
    }

    /// A reload changed tunnel `id`'s peer from `old` to `new` in what a
    /// running tunnel can take ([`vcpe_config::diff::peer_live`]): its
    /// allowed prefixes are replaced (the workers see them from their next
    /// packet on) and, when its WireGuard keys or keepalive changed, its
    /// session starts over with the new ones (a new handshake at the next
    /// packet or keepalive). The other tunnels are not touched. `false`:
    /// no such tunnel.
    pub fn update_peer(
        &self,
        id: TunnelId,
        old: &vcpe_config::Peer,
        new: &vcpe_config::Peer,
    ) -> bool {
        use vcpe_config::Encapsulation;
        use vcpe_forwarding::tunnel::peer::Encap;
        use vcpe_forwarding::tunnel::wireguard::{WgConfig, WgPeer};
        let Some(t) = self.tunnels.get(&id) else {
            return false;
        };
        if old.allowed_prefixes != new.allowed_prefixes {
            t.allowed.store(Arc::new(new.allowed_prefixes.clone()));
            info!(peer = %t.name, allowed = ?new.allowed_prefixes, "tunnel peer's allowed prefixes changed by reload");
        }
        if let (
            Encap::WireGuard { peer, keys, .. },
            Encapsulation::WireGuard {
                private_key,
                public_key,
                preshared_key,
                keepalive,
            },
        ) = (&t.encap, &new.encapsulation)
            && old.encapsulation != new.encapsulation
        {
            let wg = WgPeer::new(WgConfig {
                private_key: *private_key.key(),
                peer_public_key: public_key.0,
                preshared_key: preshared_key.as_ref().map(|k| *k.key()),
                persistent_keepalive: *keepalive,
            });
            *peer
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = wg;
            // The receive thread finds a handshake's peer by these keys.
            keys.store(Arc::new(vcpe_forwarding::tunnel::peer::WgKeys::new(
                *private_key.key(),
                public_key.0,
            )));
            info!(peer = %t.name, keepalive = ?keepalive, "tunnel peer's WireGuard keys or keepalive changed by reload; a new handshake follows");
        }
        true
    }

    /// Stops the workers. The TUN devices disappear with their last fd.
    pub fn stop(self) {
        self.workers.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icmp_sources_skip_link_local() {
        let addrs: Vec<IpNet> = vec![
            "fe80::1/64".parse().unwrap(),
            "fd00::1/64".parse().unwrap(),
            "10.0.0.1/24".parse().unwrap(),
        ];
        assert_eq!(
            own_addresses(&addrs),
            (
                Some("10.0.0.1".parse().unwrap()),
                Some("fd00::1".parse().unwrap())
            )
        );
    }

    #[test]
    fn zero_workers_means_one_per_core() {
        assert!(worker_count(0) >= 1);
        assert_eq!(worker_count(3), 3);
    }
}
