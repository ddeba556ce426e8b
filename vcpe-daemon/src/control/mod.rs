//! The control API's daemon side: the Unix socket server and the answers
//! to each request. The protocol itself (requests, replies, the client) is
//! the `vcpe-api` crate.

pub mod bgp;
pub mod reload;
pub mod routes;
pub mod server;
pub mod view;
