//! The control API's daemon side: the Unix socket server, the one
//! dispatcher of every request ([`dispatch::Api`]) and the answers. The
//! protocol itself (requests, replies, the client) is the `vcpe-api`
//! crate; this layer maps the daemon's own snapshots into it.

pub mod bfd_requests;
pub mod bgp_requests;
pub mod commit;
pub mod dispatch;
pub mod drain;
pub mod history;
pub mod reload;
pub mod routes;
pub mod server;
pub mod topology_change;
pub mod view;
