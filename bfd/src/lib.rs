//! The vcpe BFD implementation (RFC 5880 asynchronous mode): control
//! packet codec, the per-session state machine and the demultiplexer of
//! sessions, all sans-IO.
//!
//! Owns the protocol: what a packet means, when a session changes state,
//! when to transmit and when the peer is declared dead. Does not own
//! sockets, the clock or randomness: the daemon passes received bytes
//! (with the addresses and TTL they came with) and `now` in, and takes
//! packets to send, timers and state changes out. RFC 5881 (single hop)
//! and RFC 5883 (multihop) differ only in the port and the TTL rule: the
//! driver picks the port, [`Sessions`] applies the TTL rule.
//!
//! Authentication: Keyed SHA1 and Meticulous Keyed SHA1 (§6.7.4); the
//! other types are parsed and carried, and refused by a session.
//! Not implemented: Demand mode (D is never set), the Echo function
//! (Required Min Echo RX Interval is always 0).
//!
//! | module      | owns                                                          |
//! |-------------|---------------------------------------------------------------|
//! | [`wire`]    | the control packet: parse from `&[u8]`, emit into `BytesMut` (nom inside), §6.8.6 validity checks |
//! | [`session`] | one session's state machine, timers as data (§6.8)             |
//! | [`sessions`] | sessions keyed by discriminator and address (§6.3), dropped packets counted by reason |
//! | [`jitter`]  | the seeded random source for transmit jitter (§6.8.7)          |

pub mod jitter;
pub mod session;
pub mod sessions;
pub mod wire;

pub use jitter::Jitter;
pub use session::{AuthKey, DownCause, Event, Refused, Session, SessionConfig, SessionView};
pub use sessions::{
    DropReason, Drops, PathKind, Received, SessionId, SessionKey, Sessions, Transmit,
};
pub use wire::{Auth, ControlPacket, Diag, PacketError, State};
