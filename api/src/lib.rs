//! The control API of `vcped`: a versioned request/reply protocol spoken as
//! JSON lines over a Unix socket, and a blocking client for it.
//!
//! This crate is the contract between the daemon and its clients
//! (`vcpectl`, the integration tests, scripts reading `vcpectl --json`): it
//! owns the wire types and their JSON form, nothing else. It has no async
//! runtime and knows nothing of the daemon's state: the daemon maps its own
//! snapshots (FIB, counters, BGP) into these types at its edge.
//!
//! Framing is one JSON object per line in each direction. Every request
//! carries the protocol version ([`API_VERSION`]); the daemon refuses
//! versions it does not speak with an error that says which it does.
//! Replies only ever gain fields and variants: [`Reply`] is
//! `#[non_exhaustive]`, so a client keeps a fallback arm for replies of a
//! newer daemon.
//!
//! | file         | holds                                                      |
//! |--------------|------------------------------------------------------------|
//! | `request.rs` | the envelope, [`Request`], [`RouteSpec`], [`FlowSpec`], [`NeighborAction`] |
//! | `request_line.rs` | [`parse_request_line`], the daemon's parser of one request line |
//! | `reply.rs`   | [`Reply`], status, counters, BGP summary and paths         |
//! | `view.rs`    | the inspection replies (`show route`, `explain`, ...)      |
//! | `bfd.rs`     | [`BfdSession`], what `vcpectl bfd` shows                   |
//! | `changes.rs` | [`ConfigChanges`] of `reload` and `config diff`            |
//! | `commit.rs`  | [`Applied`], [`HistoryEntry`] of `config apply`/`history` |
//! | `client.rs`  | [`Client`], blocking, std only                             |
//! | `handler.rs` | [`Handler`], what answers requests (the daemon)            |

mod bfd;
mod changes;
mod client;
mod commit;
mod handler;
mod reply;
mod request;
mod request_line;
pub mod view;

pub use bfd::{BfdDown, BfdSession};
pub use changes::{ConfigChanges, FieldChange, NeighborRef, RouteChange};
pub use client::{Client, ClientError};
pub use commit::{Applied, HistoryEntry, PendingConfirm};
pub use handler::Handler;
pub use reply::{
    BgpNeighbor, BgpRoute, HandshakeCounters, KernelSyncStats, PortCounters, ReceiveThreadCounters,
    Reply, Stats, Status, TunnelCounters,
};
pub use request::{API_VERSION, Envelope, FlowSpec, NeighborAction, Request, RouteSpec};
pub use request_line::parse_request_line;
