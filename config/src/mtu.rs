//! What a `[[peer]]`'s `mtu` means when it is not set: the underlay MTU
//! minus what the encapsulation adds. Shared by the daemon (it sets the
//! tunnel MTU) and `vcpectl doctor` (it checks the host's MTUs against it),
//! so both count the same bytes.

use std::net::IpAddr;

use crate::{Encapsulation, Peer};

/// Underlay MTU assumed when a peer sets no `mtu`.
pub const UNDERLAY_MTU: u16 = 1500;

/// WireGuard overhead over an IPv4 underlay: 20 (IPv4) + 8 (UDP) + 16
/// (data message header) + 16 (Poly1305 tag).
pub const WIREGUARD_OVERHEAD_V4: u16 = 60;

/// As [`WIREGUARD_OVERHEAD_V4`] on an IPv6 underlay: 40 (IPv6) + 8 (UDP) +
/// 32.
pub const WIREGUARD_OVERHEAD_V6: u16 = 80;

/// VXLAN overhead over an IPv4 underlay: 20 (IPv4) + 8 (UDP) + 8 (VXLAN
/// header) + 14 (the inner Ethernet header): the kernel's `vxlan` device
/// MTU of 1450 on a 1500 underlay.
pub const VXLAN_OVERHEAD_V4: u16 = 50;

/// As [`VXLAN_OVERHEAD_V4`] on an IPv6 underlay: 40 (IPv6) + 8 + 8 + 14.
pub const VXLAN_OVERHEAD_V6: u16 = 70;

/// VXLAN overhead towards `remote`.
pub fn vxlan_overhead(remote: IpAddr) -> u16 {
    if remote.is_ipv4() {
        VXLAN_OVERHEAD_V4
    } else {
        VXLAN_OVERHEAD_V6
    }
}

/// GRE overhead: the outer IP header (20 over IPv4, 40 over IPv6) and the
/// GRE header (4, 8 with a key).
pub fn gre_overhead(remote: IpAddr, key: bool) -> u16 {
    let ip = if remote.is_ipv4() { 20 } else { 40 };
    ip + 4 + if key { 4 } else { 0 }
}

/// Bytes a peer's encapsulation adds to each inner packet.
pub fn overhead(p: &Peer) -> Option<u16> {
    match &p.encapsulation {
        Encapsulation::Gre { key } => Some(gre_overhead(p.endpoint.ip(), key.is_some())),
        // The family of the UDP socket: the endpoint's, or the bind's when
        // the endpoint is a hostname or learned.
        Encapsulation::WireGuard { .. } => Some(
            if p.fixed_endpoint()
                .map_or_else(|| p.bind.is_none_or(|b| b.is_ipv4()), |e| e.is_ipv4())
            {
                WIREGUARD_OVERHEAD_V4
            } else {
                WIREGUARD_OVERHEAD_V6
            },
        ),
        Encapsulation::Vxlan { .. } => Some(vxlan_overhead(p.endpoint.ip())),
    }
}

/// The inner MTU of a peer's tunnel: its `mtu`, or [`UNDERLAY_MTU`] minus
/// the [`overhead`].
pub fn tunnel_mtu(p: &Peer) -> u16 {
    p.mtu
        .unwrap_or_else(|| UNDERLAY_MTU.saturating_sub(overhead(p).unwrap_or(0)))
}
