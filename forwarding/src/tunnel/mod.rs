//! Tunnels to peer vCPEs: the encapsulations (WireGuard-compatible and
//! GRE) as sans-IO codecs and per-peer state, plus the underlay sockets.
//!
//! | file           | holds                                                  |
//! |----------------|--------------------------------------------------------|
//! | `gre.rs`       | GRE header codec (RFC 2784/2890)                       |
//! | `gre_socket.rs`| raw IP protocol 47 sockets (IPv4 and IPv6 underlay)    |
//! | `wireguard.rs` | one WireGuard peer (gotatun's Noise core), sans-IO     |
//! | `handshake_gate.rs` | cookies, under load, DH budget before a handshake |
//! | `vxlan.rs`     | VXLAN header, inner Ethernet, ARP/ND answers (RFC 7348)|
//! | `batch.rs`     | many packets into one tunnel: UDP GSO / sendmmsg      |
//! | `udp_batch.rs` | many datagrams from a socket: recvmmsg + UDP GRO      |
//! | `peer.rs`      | a peer as the dataplane sees it: encap, allowed sources|
//! | `roaming.rs`   | WireGuard endpoint that follows authenticated sources, |
//! |                | receiver indices that find a peer without its lock     |

pub mod batch;
pub mod gre;
pub mod gre_socket;
pub mod handshake_gate;
pub mod peer;
pub mod roaming;
pub mod udp_batch;
pub mod vxlan;
pub mod wireguard;
