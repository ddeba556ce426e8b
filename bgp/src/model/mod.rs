//! The BGP message model: plain Rust values for every message, capability
//! and path attribute the speaker understands, shared by the codec
//! ([`crate::wire`]), the session FSM ([`crate::fsm`]) and the RIBs
//! ([`crate::rib`]).
//!
//! Owns the *meaning* of messages, not their bytes: encoding and decoding
//! live in [`crate::wire`] (which keeps nom to itself). Values keep what a
//! byte-exact re-encode needs (attribute flags, parameter layout, unknown
//! capabilities and attributes as raw bytes), so that a message decoded from
//! a peer encodes back to the same bytes where the encoding is canonical.
//!
//! AS numbers are always 32-bit here; whether they go on the wire as 2 or 4
//! octets is a property of the session ([`crate::wire::Ctx`]).

mod add_path;
#[cfg(test)]
mod as_path_tests;
mod attrs;
mod notification;
mod open;
mod update;

pub use add_path::{AddPath, AddPathFamilies, AddPathMode};
pub use attrs::{
    AS_TRANS, AsPath, AsSegment, AttrFlags, AttrType, AttrValue, Attribute, Community,
    LargeCommunity, MpReach, MpUnreach, Origin, PathAttributes, RawAttribute, Reflection, Segment,
    SegmentKind, Segments,
};
pub use notification::{Notification, error_code, subcode};
pub use open::{AddrFamily, Afi, Capability, GracefulRestart, Open, ParamLayout, Safi};
pub use update::Update;

/// The BGP message types (RFC 4271 §4.1, RFC 2918).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Type 1.
    Open(Open),
    /// Type 2.
    Update(Update),
    /// Type 3.
    Notification(Notification),
    /// Type 4.
    Keepalive,
    /// Type 5 (RFC 2918; RFC 7313 subtypes in `subtype`).
    RouteRefresh {
        /// The address family to refresh.
        family: AddrFamily,
        /// RFC 7313 message subtype (0 = normal request, 1 = BoRR, 2 = EoRR).
        subtype: u8,
    },
}

impl Message {
    /// The message type code on the wire.
    pub fn type_code(&self) -> u8 {
        match self {
            Message::Open(_) => 1,
            Message::Update(_) => 2,
            Message::Notification(_) => 3,
            Message::Keepalive => 4,
            Message::RouteRefresh { .. } => 5,
        }
    }

    /// A short name for logs ("OPEN", "UPDATE", ...).
    pub fn name(&self) -> &'static str {
        match self {
            Message::Open(_) => "OPEN",
            Message::Update(_) => "UPDATE",
            Message::Notification(_) => "NOTIFICATION",
            Message::Keepalive => "KEEPALIVE",
            Message::RouteRefresh { .. } => "ROUTE-REFRESH",
        }
    }
}
