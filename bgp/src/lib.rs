//! The vcpe BGP-4 speaker: wire codec, sans-IO session FSM, RIBs and best
//! path selection.
//!
//! Owns the protocol. Does not own sockets' lifetime policy or the FIB: the
//! daemon feeds bytes and time in and takes best-route changes out. Nothing
//! in this crate imports tokio or reads a clock: time is an input.
//!
//! | module    | owns                                                           |
//! |-----------|----------------------------------------------------------------|
//! | [`model`] | message, capability and attribute values (no bytes)            |
//! | [`wire`]  | decoding from `&[u8]` and encoding into `BytesMut` (nom inside) |
//! | [`fsm`]   | the RFC 4271 session state machine, timers as data             |
//! | [`rib`]   | Adj-RIB-In/Out, Loc-RIB, interned attributes, best path, policy |
//! | [`speaker`] | the three glued per neighbor: bytes in, UPDATEs, connects, closes and best-route changes out |

pub mod fsm;
pub mod model;
pub mod rib;
pub mod speaker;
pub mod wire;
