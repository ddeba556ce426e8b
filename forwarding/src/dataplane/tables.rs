//! What the workers and receive threads read per batch besides the FIB:
//! the tunnel peers by id and the egress MTUs. Published whole behind an
//! [`arc_swap::ArcSwap`] (like the FIB's snapshots) and replaced by the
//! control plane when a tunnel or port comes or goes: a thread loads it
//! once per batch, without a lock.
//!
//! A removed tunnel leaves an empty slot and an MTU of 0, so a FIB entry
//! that still points at it drops its packets as `no_egress` (counted)
//! until routing removes it; tunnel ids stay put for a peer's life.

use std::sync::Arc;

use crate::pipeline::EgressMtus;
use crate::tunnel::peer::TunnelPeer;

/// Tunnel peers and egress MTUs at one instant.
#[derive(Debug, Clone, Default)]
pub(super) struct Tables {
    /// By interface and tunnel id; 0 = no such egress.
    pub mtus: EgressMtus,
    /// By tunnel id; `None` = removed (or never used).
    pub tunnels: Vec<Option<Arc<TunnelPeer>>>,
}

impl Tables {
    /// The peer of tunnel `id`, if it runs.
    #[inline]
    pub fn tunnel(&self, id: usize) -> Option<&Arc<TunnelPeer>> {
        self.tunnels.get(id).and_then(Option::as_ref)
    }

    /// A copy with tunnel `id` set to `peer` (or emptied) at `mtu`.
    pub fn with_tunnel(&self, id: usize, peer: Option<Arc<TunnelPeer>>, mtu: u16) -> Tables {
        let mut t = self.clone();
        if t.tunnels.len() <= id {
            t.tunnels.resize(id + 1, None);
        }
        if t.mtus.tunnels.len() <= id {
            t.mtus.tunnels.resize(id + 1, 0);
        }
        t.tunnels[id] = peer;
        t.mtus.tunnels[id] = mtu;
        t
    }

    /// A copy with interface `id`'s MTU set (0: removed).
    pub fn with_interface_mtu(&self, id: usize, mtu: u16) -> Tables {
        let mut t = self.clone();
        if t.mtus.interfaces.len() <= id {
            t.mtus.interfaces.resize(id + 1, 0);
        }
        t.mtus.interfaces[id] = mtu;
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fib::Egress;

    #[test]
    fn a_removed_tunnel_has_no_mtu_and_no_peer() {
        let t = Tables::default()
            .with_interface_mtu(2, 1500)
            .with_tunnel(3, None, 1400);
        assert_eq!(t.mtus.get(Egress::Interface(2)), Some(1500));
        assert_eq!(t.mtus.get(Egress::Interface(0)), None);
        assert_eq!(t.mtus.get(Egress::Tunnel(3)), Some(1400));
        let t = t.with_tunnel(3, None, 0);
        assert_eq!(t.mtus.get(Egress::Tunnel(3)), None);
        assert!(t.tunnel(3).is_none() && t.tunnel(99).is_none());
    }
}
