//! The control API: a versioned request/response protocol spoken over a Unix
//! socket between `vcped` and its clients (`vcpectl`, the integration tests).
//!
//! Framing is one JSON object per line in each direction. Every request
//! carries the protocol version; the daemon refuses versions it does not
//! speak with an error that says which it does.

pub mod bgp;
pub mod client;
pub mod proto;
pub mod reload;
pub mod routes;
pub mod server;
pub mod view;

pub use client::Client;
pub use proto::{
    API_VERSION, BgpNeighbor, BgpRoute, KernelSyncStats, NeighborAction, PortCounters, Reply,
    Request, RouteSpec, Stats, Status, TunnelCounters,
};
