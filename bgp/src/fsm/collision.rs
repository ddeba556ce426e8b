//! Connection collision resolution (RFC 4271 §6.8, RFC 6286 §2.3): which
//! of two TCP connections between the same two speakers survives.
//!
//! Both speakers decide alike without talking: the connection initiated by
//! the speaker with the higher BGP identifier survives. A caller holding two
//! connections (see [`super::Peer`]) checks, when an OPEN arrives on one of
//! them, whether the other is in OpenSent, OpenConfirm or Established; if
//! so it asks [`collision_winner_by_as`] and closes the loser with a
//! NOTIFICATION Cease / Connection Collision Resolution (6/7). A collision
//! with an Established session always closes the new connection.

use std::net::Ipv4Addr;

/// Which connection to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Collision {
    /// Keep the connection we initiated (outgoing); close the one the peer
    /// initiated.
    KeepLocal,
    /// Keep the connection the peer initiated (incoming); close ours.
    KeepRemote,
}

/// RFC 4271 §6.8: if our identifier is lower than the peer's, close the
/// connection we initiated (keep the peer's); otherwise close the one the
/// peer initiated. Identifiers compare as unsigned 32-bit integers. Equal
/// identifiers (possible on eBGP since RFC 6286) resolve to
/// [`Collision::KeepLocal`] on both sides, closing both connections: use
/// [`collision_winner_by_as`] when they may be equal.
pub fn collision_winner(local_id: Ipv4Addr, remote_id: Ipv4Addr) -> Collision {
    if u32::from(local_id) < u32::from(remote_id) {
        Collision::KeepRemote
    } else {
        Collision::KeepLocal
    }
}

/// [`collision_winner`] with the RFC 6286 §2.3 tie-break: with equal
/// identifiers, the connection initiated by the speaker with the larger AS
/// number survives. (Equal identifiers and equal AS numbers are rejected at
/// OPEN time with 2/3 Bad BGP Identifier, so they never collide.)
pub fn collision_winner_by_as(
    local_id: Ipv4Addr,
    local_as: u32,
    remote_id: Ipv4Addr,
    remote_as: u32,
) -> Collision {
    if local_id == remote_id {
        if local_as < remote_as {
            Collision::KeepRemote
        } else {
            Collision::KeepLocal
        }
    } else {
        collision_winner(local_id, remote_id)
    }
}
