//! A receive thread's hash index from what a datagram carries to the tunnel
//! peer it belongs to, so that finding the peer costs the same with a
//! thousand peers on a socket as with one:
//!
//! - GRE and VXLAN: the underlay source address.
//! - WireGuard data, responses and cookie replies: the receiver index (our
//!   session index). Indices change with every handshake, so this map is
//!   filled on demand: an entry found by a scan is kept, checked against
//!   the peer's own index list on every hit, and dropped when stale; the
//!   map is cleared when it grows past a few entries per peer.
//! - WireGuard handshake initiations: the initiator's static public key,
//!   computed once per distinct private key of ours (usually one).
//!
//! The address and key maps are built from the tunnel table and the
//! socket's peer list, and rebuilt when either changes (a reload; a key
//! rotated in place is caught by the check on every hit, and the caller
//! falls back to a scan and marks the index for a rebuild). Nothing is
//! inserted for a datagram of no peer, so unknown sources cannot grow it.

use std::net::IpAddr;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::tunnel::peer::{Encap, TunnelPeer};
use crate::tunnel::wireguard::initiator_public_key;

use super::tables::Tables;

/// Stale receiver-index entries tolerated per peer before the map is
/// cleared (each handshake gives a peer a new index).
const INDEX_ENTRIES_PER_PEER: usize = 4;

/// See the module docs.
#[derive(Debug, Default)]
pub(super) struct PeerIndex {
    /// The table the maps were built from (held, so that its address is
    /// not reused by a later table; `None`: rebuild).
    built_for: Option<Arc<Tables>>,
    /// GRE and VXLAN peers by canonical remote address.
    by_addr: FxHashMap<IpAddr, u32>,
    /// WireGuard peers by their public key.
    by_key: FxHashMap<[u8; 32], u32>,
    /// Our distinct private keys among the WireGuard peers.
    privates: Vec<[u8; 32]>,
    /// WireGuard peers by our session (receiver) index, filled on demand.
    by_index: FxHashMap<u32, u32>,
    /// Peers on the socket.
    peers: usize,
}

impl PeerIndex {
    /// Forget everything: the next [`PeerIndex::refresh`] rebuilds.
    pub fn invalidate(&mut self) {
        self.built_for = None;
    }

    /// Rebuilds the maps if `tables` is not the table they were built from
    /// (or [`PeerIndex::invalidate`] was called).
    pub fn refresh(&mut self, peers: &[u32], tables: &Arc<Tables>) {
        if self
            .built_for
            .as_ref()
            .is_some_and(|t| Arc::ptr_eq(t, tables))
        {
            return;
        }
        self.built_for = Some(Arc::clone(tables));
        self.by_addr.clear();
        self.by_key.clear();
        self.privates.clear();
        self.by_index.clear();
        self.peers = peers.len();
        for &id in peers {
            let Some(p) = tables.tunnel(id as usize) else {
                continue;
            };
            match &p.encap {
                // The first peer of an address or key wins, as a scan
                // in peer order would.
                Encap::Gre { remote, .. } => {
                    self.by_addr.entry(remote.to_canonical()).or_insert(id);
                }
                Encap::Vxlan(v) => {
                    self.by_addr
                        .entry(v.remote.ip().to_canonical())
                        .or_insert(id);
                }
                Encap::WireGuard { keys, .. } => {
                    let k = keys.load();
                    self.by_key.entry(k.peer_public).or_insert(id);
                    if !self.privates.contains(&k.private) {
                        self.privates.push(k.private);
                    }
                }
            }
        }
    }

    /// Our distinct private keys among the socket's WireGuard peers.
    pub fn privates(&self) -> &[[u8; 32]] {
        &self.privates
    }

    /// The GRE or VXLAN peer at underlay address `ip`.
    pub fn by_addr(&self, ip: IpAddr) -> Option<u32> {
        self.by_addr.get(&ip.to_canonical()).copied()
    }

    /// The WireGuard peer that owns receiver index `index`: from the map if
    /// the peer still owns it, else by `scan` (whose answer is kept).
    pub fn by_receiver_index(
        &mut self,
        index: u32,
        tables: &Tables,
        scan: impl FnOnce() -> Option<u32>,
    ) -> Option<u32> {
        if let Some(&id) = self.by_index.get(&index) {
            if owns(tables.tunnel(id as usize), index) {
                return Some(id);
            }
            self.by_index.remove(&index);
        }
        let id = scan()?;
        if self.by_index.len() >= INDEX_ENTRIES_PER_PEER * self.peers.max(1) + 64 {
            self.by_index.clear();
        }
        self.by_index.insert(index, id);
        Some(id)
    }

    /// The WireGuard peer whose static key sent handshake initiation `d`:
    /// one X25519 operation per distinct private key of ours. `None`: no
    /// peer known by the maps (the caller may scan, in case a key changed
    /// in place).
    pub fn by_initiator(&self, d: &[u8], tables: &Tables) -> Option<u32> {
        for private in &self.privates {
            let Some(initiator) = initiator_public_key(private, d) else {
                continue;
            };
            let Some(&id) = self.by_key.get(&initiator) else {
                continue;
            };
            if let Some(Encap::WireGuard { keys, .. }) =
                tables.tunnel(id as usize).map(|p| &p.encap)
            {
                let k = keys.load();
                if k.peer_public == initiator && k.private == *private {
                    return Some(id);
                }
            }
        }
        None
    }
}

/// Whether `peer` is a WireGuard peer that owns receiver index `index`.
fn owns(peer: Option<&Arc<TunnelPeer>>, index: u32) -> bool {
    matches!(peer.map(|p| &p.encap), Some(Encap::WireGuard { roaming, .. }) if roaming.owns(index))
}

#[cfg(test)]
mod tests {
    use std::net::{SocketAddr, UdpSocket};
    use std::sync::Mutex;
    use std::time::Instant;

    use super::*;
    use crate::counters::Port;
    use crate::pipeline::Ingress;
    use crate::tunnel::peer::{TunnelStats, WgKeys};
    use crate::tunnel::roaming::Roaming;
    use crate::tunnel::wireguard::{WgConfig, WgPeer, WgSend, public_key};

    const OURS: [u8; 32] = [1; 32];

    /// The private key of remote peer `i`.
    fn remote_key(i: u32) -> [u8; 32] {
        let mut k = [0u8; 32];
        k[..4].copy_from_slice(&(i + 1000).to_be_bytes());
        k[31] = 0x40;
        k
    }

    fn wg_peer(id: u32, socket: &Arc<UdpSocket>) -> Arc<TunnelPeer> {
        let peer_public = public_key(&remote_key(id));
        Arc::new(TunnelPeer {
            name: format!("p{id}"),
            ingress: Ingress {
                port: Port::Tunnel(id),
                v4: None,
                v6: None,
            },
            allowed: arc_swap::ArcSwap::from_pointee(Vec::new()),
            encap: Encap::WireGuard {
                peer: Mutex::new(WgPeer::new(WgConfig {
                    private_key: OURS,
                    peer_public_key: peer_public,
                    preshared_key: None,
                    persistent_keepalive: None,
                })),
                socket: Arc::clone(socket),
                roaming: Roaming::new(None),
                keys: arc_swap::ArcSwap::from_pointee(WgKeys::new(OURS, peer_public)),
            },
            stats: TunnelStats::default(),
            epoch: Instant::now(),
        })
    }

    fn table(n: u32) -> (Arc<Tables>, Vec<u32>) {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").expect("loopback socket"));
        let mut t = Tables::default();
        for id in 0..n {
            t = t.with_tunnel(id as usize, Some(wg_peer(id, &socket)), 1420);
        }
        (Arc::new(t), (0..n).collect())
    }

    fn roaming(t: &Tables, id: u32) -> &Roaming {
        match &t.tunnel(id as usize).expect("peer").encap {
            Encap::WireGuard { roaming, .. } => roaming,
            _ => unreachable!("a WireGuard peer"),
        }
    }

    /// A handshake initiation that remote peer `i` sends us.
    fn initiation_from(i: u32) -> Vec<u8> {
        let mut remote = WgPeer::new(WgConfig {
            private_key: remote_key(i),
            peer_public_key: public_key(&OURS),
            preshared_key: None,
            persistent_keepalive: None,
        });
        let mut init = Vec::new();
        let packet = [
            0x45u8, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        assert_eq!(remote.encapsulate(&packet, &mut init), WgSend::Queued);
        init
    }

    #[test]
    fn receiver_indices_find_their_peer_and_stale_ones_are_dropped() {
        let (t, peers) = table(200);
        for id in &peers {
            roaming(&t, *id).publish(&[id * 10 + 1]);
        }
        let mut index = PeerIndex::default();
        index.refresh(&peers, &t);
        let scan = |i: u32| {
            let t = Arc::clone(&t);
            let peers = peers.clone();
            move || peers.iter().copied().find(|&id| roaming(&t, id).owns(i))
        };
        for id in (0..200).rev() {
            assert_eq!(
                index.by_receiver_index(id * 10 + 1, &t, scan(id * 10 + 1)),
                Some(id)
            );
        }
        // Now from the map: a scan that would fail is not called.
        for id in 0..200 {
            assert_eq!(index.by_receiver_index(id * 10 + 1, &t, || None), Some(id));
        }
        // A new handshake: the old index is no longer peer 7's.
        roaming(&t, 7).publish(&[99_999]);
        assert_eq!(index.by_receiver_index(71, &t, scan(71)), None);
        assert_eq!(index.by_receiver_index(99_999, &t, scan(99_999)), Some(7));
        assert_eq!(index.by_receiver_index(12_345, &t, scan(12_345)), None);
        assert!(index.by_index.len() <= INDEX_ENTRIES_PER_PEER * 200 + 64);
    }

    #[test]
    fn an_initiation_finds_its_sender_by_static_key() {
        let (t, peers) = table(50);
        let mut index = PeerIndex::default();
        index.refresh(&peers, &t);
        for id in [0, 17, 49] {
            assert_eq!(index.by_initiator(&initiation_from(id), &t), Some(id));
        }
        // From a key no peer has: none.
        assert_eq!(index.by_initiator(&initiation_from(50), &t), None);
        // A key rotated in place is not in the map until a rebuild.
        if let Encap::WireGuard { keys, .. } = &t.tunnel(3).expect("peer").encap {
            keys.store(Arc::new(WgKeys::new(OURS, public_key(&remote_key(77)))));
        }
        assert_eq!(index.by_initiator(&initiation_from(3), &t), None);
        index.invalidate();
        index.refresh(&peers, &t);
        assert_eq!(index.by_initiator(&initiation_from(77), &t), Some(3));
    }

    #[test]
    fn gre_peers_by_address_first_one_wins_and_rebuilt_for_a_new_table() {
        let socket = match crate::tunnel::gre_socket::GreSocket::bind_with(
            "127.0.0.1".parse().expect("addr"),
            crate::tunnel::gre_socket::GreSocketOptions::default(),
        ) {
            Ok(s) => Arc::new(s),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                eprintln!("skipping: a raw GRE socket needs root or CAP_NET_RAW");
                return;
            }
            Err(e) => panic!("raw GRE socket: {e}"),
        };
        let gre = |id: u32, remote: &str| {
            Some(Arc::new(TunnelPeer {
                name: format!("g{id}"),
                ingress: Ingress {
                    port: Port::Tunnel(id),
                    v4: None,
                    v6: None,
                },
                allowed: arc_swap::ArcSwap::from_pointee(Vec::new()),
                encap: Encap::Gre {
                    key: None,
                    socket: Arc::clone(&socket),
                    remote: remote.parse().expect("addr"),
                },
                stats: TunnelStats::default(),
                epoch: Instant::now(),
            }))
        };
        let t = Arc::new(
            Tables::default()
                .with_tunnel(0, gre(0, "100.64.0.2"), 1476)
                .with_tunnel(1, gre(1, "100.64.0.3"), 1476)
                .with_tunnel(2, gre(2, "100.64.0.2"), 1476),
        );
        let mut index = PeerIndex::default();
        index.refresh(&[0, 1, 2], &t);
        let at = |a: &str| a.parse::<SocketAddr>().expect("addr").ip();
        assert_eq!(index.by_addr(at("100.64.0.3:0")), Some(1));
        assert_eq!(index.by_addr(at("100.64.0.2:0")), Some(0));
        assert_eq!(index.by_addr(at("[::ffff:100.64.0.3]:0")), Some(1));
        assert_eq!(index.by_addr(at("100.64.0.9:0")), None);
        let t2 = Arc::new(t.with_tunnel(1, None, 0));
        index.refresh(&[0, 1, 2], &t2);
        assert_eq!(index.by_addr(at("100.64.0.3:0")), None);
    }
}
